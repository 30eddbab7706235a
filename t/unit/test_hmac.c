
/*
 * Unit tests of the download links' HMAC-SHA256 (src/ngx_export_hmac.c):
 * RFC 4231's test vectors, and OpenSSL's one-shot HMAC() for keys of
 * every length around the block size and messages of random bytes.
 */


#include "ngx_export_hmac.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>


#define U  (const unsigned char *)


static void
hex(unsigned char *out, const char *text)
{
    char    two[3];
    size_t  i;

    two[2] = '\0';

    for (i = 0; text[2 * i]; i++) {
        two[0] = text[2 * i];
        two[1] = text[2 * i + 1];
        out[i] = (unsigned char) strtoul(two, NULL, 16);
    }
}


/* RFC 4231, test cases 1, 2, 6 (a key longer than a block) and 7 */

static void
test_rfc4231(void **state)
{
    size_t          i;
    exh_key_t       k;
    unsigned char   key[131], mac[EXH_MAC_LEN], want[EXH_MAC_LEN];

    static const struct {
        size_t       key_len;
        int          key_byte;
        const char  *key;
        const char  *msg;
        const char  *mac;
    } v[] = {
        { 20, 0x0b, NULL, "Hi There",
          "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7" },
        { 4, 0, "Jefe", "what do ya want for nothing?",
          "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843" },
        { 131, 0xaa, NULL,
          "Test Using Larger Than Block-Size Key - Hash Key First",
          "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54" },
        { 131, 0xaa, NULL,
          "This is a test using a larger than block-size key and a larger "
          "than block-size data. The key needs to be hashed before being "
          "used by the HMAC algorithm.",
          "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2" }
    };

    (void) state;

    for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        if (v[i].key) {
            memcpy(key, v[i].key, v[i].key_len);

        } else {
            memset(key, v[i].key_byte, v[i].key_len);
        }

        assert_int_equal(exh_key_init(&k, key, v[i].key_len), 0);
        assert_int_equal(exh_mac(&k, U v[i].msg, strlen(v[i].msg), mac), 0);
        hex(want, v[i].mac);
        assert_memory_equal(mac, want, EXH_MAC_LEN);
        exh_key_free(&k);
    }
}


/* keys of 0 to 200 bytes, messages of 0 to 300: the same as HMAC() */

static void
test_against_openssl(void **state)
{
    size_t          klen, mlen, i;
    uint64_t        x;
    exh_key_t       k;
    unsigned int    n;
    unsigned char   key[200], msg[300], mac[EXH_MAC_LEN], want[EXH_MAC_LEN];

    (void) state;

    x = 0x9e3779b97f4a7c15ULL;

    for (klen = 0; klen <= sizeof(key); klen++) {
        for (i = 0; i < sizeof(key); i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            key[i] = (unsigned char) x;
        }

        assert_int_equal(exh_key_init(&k, key, klen), 0);

        for (mlen = 0; mlen <= sizeof(msg); mlen += 1 + mlen / 8) {
            for (i = 0; i < mlen; i++) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                msg[i] = (unsigned char) x;
            }

            assert_int_equal(exh_mac(&k, msg, mlen, mac), 0);
            assert_non_null(HMAC(EVP_sha256(), key, (int) klen, msg, mlen,
                                 want, &n));
            assert_int_equal(n, EXH_MAC_LEN);
            assert_memory_equal(mac, want, EXH_MAC_LEN);
        }

        exh_key_free(&k);
    }
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc4231),
        cmocka_unit_test(test_against_openssl),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
