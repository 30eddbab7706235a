
/*
 * libFuzzer harness of exp_link_parse(), a download link's task, expires
 * and signature arguments.
 *
 * The input is  task "\n" expires "\n" signature.  When the three are
 * accepted: the task's text form is the task but for case, expires is
 * the decimal value of its digits and fits time_t, and the signature
 * encoded again (base64url, no padding) is the signature given, the last
 * character's two unused bits aside.  Round trip too: 32 bytes taken
 * from the input, encoded as the module signs them, parse back to
 * themselves.
 */


#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_export_parse.h"


static const char  fz_b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";


static void
fz_encode(char *dst, const unsigned char *src)
{
    size_t    i, o;
    uint32_t  v;

    o = 0;

    for (i = 0; i + 3 <= EXP_SIG_LEN; i += 3) {
        v = (uint32_t) src[i] << 16 | src[i + 1] << 8 | src[i + 2];
        dst[o++] = fz_b64[v >> 18];
        dst[o++] = fz_b64[(v >> 12) & 63];
        dst[o++] = fz_b64[(v >> 6) & 63];
        dst[o++] = fz_b64[v & 63];
    }

    v = (uint32_t) src[i] << 16 | src[i + 1] << 8;
    dst[o++] = fz_b64[v >> 18];
    dst[o++] = fz_b64[(v >> 12) & 63];
    dst[o++] = fz_b64[(v >> 6) & 63];
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char                  enc[EXP_SIG_TEXT_LEN];
    size_t                i, tlen, elen, slen;
    time_t                exp;
    uint64_t              t;
    unsigned char         id[16], mac[EXP_SIG_LEN], mac2[EXP_SIG_LEN];
    unsigned char         text[EXP_UUID_LEN];
    const unsigned char  *task, *expires, *sig, *nl;

    static const unsigned char  good_task[] =
        "0f0e1d2c-3b4a-5968-7a8b-9cadbecfd0e1";

    task = data;
    nl = memchr(data, '\n', size);
    tlen = nl ? (size_t) (nl - data) : size;

    expires = nl ? nl + 1 : data + size;
    nl = memchr(expires, '\n', data + size - expires);
    elen = nl ? (size_t) (nl - expires) : (size_t) (data + size - expires);

    sig = nl ? nl + 1 : data + size;
    slen = data + size - sig;

    if (exp_link_parse(task, tlen, expires, elen, sig, slen, id, &exp, mac)
        == 0)
    {
        exp_uuid_text(text, id);

        for (i = 0; i < EXP_UUID_LEN; i++) {
            if (text[i] != ((task[i] >= 'A' && task[i] <= 'Z')
                            ? task[i] + 32 : task[i]))
            {
                abort();
            }
        }

        t = 0;

        for (i = 0; i < elen; i++) {
            if (expires[i] < '0' || expires[i] > '9'
                || t > (UINT64_MAX - 9) / 10)
            {
                abort();
            }

            t = t * 10 + (expires[i] - '0');
        }

        if (elen == 0 || exp < 0 || (uint64_t) exp != t) {
            abort();
        }

        if (slen != EXP_SIG_TEXT_LEN) {
            abort();
        }

        fz_encode(enc, mac);

        if (memcmp(enc, sig, EXP_SIG_TEXT_LEN - 1) != 0
            || (strchr(fz_b64, enc[42]) - fz_b64) >> 2
               != (strchr(fz_b64, sig[42]) - fz_b64) >> 2)
        {
            fprintf(stderr, "the signature does not encode back\n");
            abort();
        }
    }

    /* the module's own links parse back */

    memset(mac, 0, sizeof(mac));
    memcpy(mac, data, size < EXP_SIG_LEN ? size : EXP_SIG_LEN);
    fz_encode(enc, mac);

    if (exp_link_parse(good_task, EXP_UUID_LEN, (const unsigned char *) "17",
                       2, (unsigned char *) enc, EXP_SIG_TEXT_LEN, id, &exp,
                       mac2)
        != 0
        || exp != 17 || memcmp(mac, mac2, EXP_SIG_LEN) != 0)
    {
        fprintf(stderr, "a signed link does not parse back\n");
        abort();
    }

    return 0;
}
