
/*
 * HMAC-SHA256 (RFC 2104) with the key's two padded blocks hashed once:
 * a download link is signed on every status answer, and OpenSSL 3's
 * EVP_MAC re-initialisation copies its digest context through the
 * provider (an allocation, a free and a cleanse) for each of them.
 * Free of nginx; t/unit/test_hmac.c compares it with OpenSSL's HMAC().
 */


#ifndef _NGX_EXPORT_HMAC_H_INCLUDED_
#define _NGX_EXPORT_HMAC_H_INCLUDED_


#include <stddef.h>

/* SHA256_Init() and the rest are deprecated, not gone: nginx does so too */
#ifndef OPENSSL_SUPPRESS_DEPRECATED
#define OPENSSL_SUPPRESS_DEPRECATED
#endif
#include <openssl/sha.h>


#define EXH_MAC_LEN  SHA256_DIGEST_LENGTH


/* the states after the key's inner and outer blocks */
typedef struct {
    SHA256_CTX      inner;
    SHA256_CTX      outer;
} exh_key_t;


/* 0, or -1 if the hash failed */
int exh_key_init(exh_key_t *k, const unsigned char *key, size_t len);

/* EXH_MAC_LEN bytes of HMAC-SHA256(key, msg) into mac; 0 or -1 */
int exh_mac(const exh_key_t *k, const unsigned char *msg, size_t len,
    unsigned char *mac);

/* forgets the key's states */
void exh_key_free(exh_key_t *k);


#endif /* _NGX_EXPORT_HMAC_H_INCLUDED_ */
