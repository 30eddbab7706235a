
/*
 * HMAC-SHA256 as RFC 2104 defines it: H((K ^ opad) || H((K ^ ipad) || m)),
 * K the key, or its hash when it is longer than a block, padded with
 * zeros to the block.  The two keyed states are computed once per key;
 * a message then costs copies of them and three compressions.
 */


/* first: it asks OpenSSL's headers not to warn of SHA256_Init() */
#include "ngx_export_hmac.h"

#include <string.h>

#include <openssl/crypto.h>


int
exh_key_init(exh_key_t *k, const unsigned char *key, size_t len)
{
    int             ok;
    size_t          i;
    unsigned char   block[SHA256_CBLOCK], pad[SHA256_CBLOCK];

    memset(block, 0, sizeof(block));

    if (len > SHA256_CBLOCK) {
        if (SHA256(key, len, block) == NULL) {
            return -1;
        }

    } else if (len) {
        memcpy(block, key, len);
    }

    for (i = 0; i < SHA256_CBLOCK; i++) {
        pad[i] = block[i] ^ 0x36;
    }

    ok = SHA256_Init(&k->inner) && SHA256_Update(&k->inner, pad, sizeof(pad));

    for (i = 0; i < SHA256_CBLOCK; i++) {
        pad[i] = block[i] ^ 0x5c;
    }

    ok = ok && SHA256_Init(&k->outer)
         && SHA256_Update(&k->outer, pad, sizeof(pad));

    OPENSSL_cleanse(block, sizeof(block));
    OPENSSL_cleanse(pad, sizeof(pad));

    if (!ok) {
        exh_key_free(k);
        return -1;
    }

    return 0;
}


int
exh_mac(const exh_key_t *k, const unsigned char *msg, size_t len,
    unsigned char *mac)
{
    int             ok;
    SHA256_CTX      c;
    unsigned char   inner[SHA256_DIGEST_LENGTH];

    c = k->inner;
    ok = SHA256_Update(&c, msg, len) && SHA256_Final(inner, &c);

    c = k->outer;
    ok = ok && SHA256_Update(&c, inner, sizeof(inner))
         && SHA256_Final(mac, &c);

    OPENSSL_cleanse(&c, sizeof(c));

    return ok ? 0 : -1;
}


void
exh_key_free(exh_key_t *k)
{
    OPENSSL_cleanse(k, sizeof(exh_key_t));
}
