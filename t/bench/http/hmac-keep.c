/*
 * hmac-keep: a what-if for t/bench/http.sh (BENCH_HMAC_KEEP=1), loaded
 * into nginx with LD_PRELOAD.  It replaces OpenSSL's one-shot HMAC(),
 * which the module calls to sign every download link, by one that keeps
 * a keyed EVP_MAC context per thread and only re-initialises it for the
 * next message: what the module would do if it kept the context itself.
 * The result is the same HMAC; only the cost changes.
 */

#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>


static __thread EVP_MAC_CTX    *ctx;
static __thread const EVP_MD   *kept_md;
static __thread int             kept_len = -1;
static __thread unsigned char   kept_key[4096];


unsigned char *
HMAC(const EVP_MD *md, const void *key, int key_len,
    const unsigned char *data, size_t data_len, unsigned char *out,
    unsigned int *out_len)
{
    size_t       len;
    EVP_MAC     *mac;
    OSSL_PARAM   params[2];

    if (out == NULL || key_len < 0 || key_len > (int) sizeof(kept_key)) {
        return NULL;
    }

    if (ctx == NULL) {
        mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
        if (mac == NULL) {
            return NULL;
        }

        ctx = EVP_MAC_CTX_new(mac);
        EVP_MAC_free(mac);

        if (ctx == NULL) {
            return NULL;
        }
    }

    if (md != kept_md || key_len != kept_len
        || memcmp(key, kept_key, key_len) != 0)
    {
        params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                        (char *) EVP_MD_get0_name(md), 0);
        params[1] = OSSL_PARAM_construct_end();

        kept_len = -1;

        if (!EVP_MAC_init(ctx, key, key_len, params)) {
            return NULL;
        }

        memcpy(kept_key, key, key_len);
        kept_len = key_len;
        kept_md = md;

    } else if (!EVP_MAC_init(ctx, NULL, 0, NULL)) {
        return NULL;
    }

    if (!EVP_MAC_update(ctx, data, data_len)
        || !EVP_MAC_final(ctx, out, &len, EVP_MAX_MD_SIZE))
    {
        return NULL;
    }

    if (out_len) {
        *out_len = (unsigned int) len;
    }

    return out;
}
