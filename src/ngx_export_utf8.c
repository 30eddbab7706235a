
/*
 * Strict UTF-8, see ngx_export_utf8.h.  The table of RFC 3629 section 4:
 *
 *   00..7F
 *   C2..DF 80..BF
 *   E0     A0..BF 80..BF
 *   E1..EC 80..BF 80..BF
 *   ED     80..9F 80..BF
 *   EE..EF 80..BF 80..BF
 *   F0     90..BF 80..BF 80..BF
 *   F1..F3 80..BF 80..BF 80..BF
 *   F4     80..8F 80..BF 80..BF
 */


#include <stdint.h>
#include <string.h>

#include "ngx_export_utf8.h"


static const char  exu_hex[] = "0123456789ABCDEF";


size_t
exu_feed(exu_state_t *st, const unsigned char *p, size_t len,
    const char **why)
{
    size_t         i;
    uint64_t       w;
    unsigned char  b;

    for (i = 0; i < len; i++) {
        b = p[i];

        if (st->need) {
            if (b < st->lo || b > st->hi) {
                if (b >= 0x80 && b <= 0xbf) {
                    *why = (st->lo == 0xa0 || st->lo == 0x90)
                           ? "overlong form"
                           : (st->hi == 0x9f ? "surrogate"
                                             : "code point past U+10FFFF");
                } else {
                    *why = "truncated sequence";
                }

                st->need = 0;
                return i;
            }

            st->need--;
            st->lo = 0x80;
            st->hi = 0xbf;
            continue;
        }

        if (b < 0x80) {
            /* reports are mostly ASCII: skip it 8 bytes at a time */
            while (len - i > 8) {
                memcpy(&w, p + i + 1, 8);

                if (w & 0x8080808080808080ULL) {
                    break;
                }

                i += 8;
            }

            continue;
        }

        st->lo = 0x80;
        st->hi = 0xbf;

        if (b < 0xc2) {
            *why = (b < 0xc0) ? "stray continuation byte" : "overlong form";
            return i;
        }

        if (b < 0xe0) {
            st->need = 1;

        } else if (b < 0xf0) {
            st->need = 2;

            if (b == 0xe0) {
                st->lo = 0xa0;

            } else if (b == 0xed) {
                st->hi = 0x9f;
            }

        } else if (b < 0xf5) {
            st->need = 3;

            if (b == 0xf0) {
                st->lo = 0x90;

            } else if (b == 0xf4) {
                st->hi = 0x8f;
            }

        } else {
            *why = "code point past U+10FFFF";
            return i;
        }
    }

    return len;
}


size_t
exu_check(const unsigned char *p, size_t len, const char **why)
{
    size_t        n;
    exu_state_t   st = { 0, 0x80, 0xbf };

    n = exu_feed(&st, p, len, why);

    if (n == len && st.need) {
        *why = "truncated sequence";

        /* the lead byte of the cut sequence */
        while (n && (p[n - 1] & 0xc0) == 0x80) {
            n--;
        }

        return n ? n - 1 : 0;
    }

    return n;
}


/* the length of the valid UTF-8 sequence at p, 0 if there is none */

static size_t
exu_seq(const unsigned char *p, size_t len)
{
    size_t        n, i;
    const char   *why;
    exu_state_t   st = { 0, 0x80, 0xbf };

    if (p[0] < 0x80) {
        return 1;
    }

    n = (p[0] >= 0xf0) ? 4 : (p[0] >= 0xe0) ? 3 : 2;

    if (n > len) {
        return 0;
    }

    i = exu_feed(&st, p, n, &why);

    return (i == n && st.need == 0) ? n : 0;
}


/*
 * Copies src, writing each byte that is not part of valid UTF-8, each
 * control byte and each byte in "also" as the prefix and two hex digits.
 */

static size_t
exu_escape(unsigned char *dst, const unsigned char *src, size_t len,
    const char *prefix, const char *also)
{
    size_t  i, n, k, out, plen;

    plen = strlen(prefix);
    out = 0;

    for (i = 0; i < len; i += n) {
        n = exu_seq(src + i, len - i);

        if (n == 0 || src[i] < 0x20 || src[i] == 0x7f
            || strchr(also, src[i]) != NULL)
        {
            if (dst) {
                for (k = 0; k < plen; k++) {
                    dst[out + k] = prefix[k];
                }

                dst[out + plen] = exu_hex[src[i] >> 4];
                dst[out + plen + 1] = exu_hex[src[i] & 0xf];
            }

            out += plen + 2;
            n = 1;
            continue;
        }

        if (dst) {
            memcpy(dst + out, src + i, n);
        }

        out += n;
    }

    return out;
}


size_t
exu_escape_name(unsigned char *dst, const unsigned char *src, size_t len)
{
    return exu_escape(dst, src, len, "%", "%");
}


size_t
exu_escape_log(unsigned char *dst, const unsigned char *src, size_t len)
{
    return exu_escape(dst, src, len, "\\x", "\\\"");
}


size_t
exu_cut(const unsigned char *p, size_t len, size_t max, int name)
{
    size_t  n;

    if (len <= max) {
        return len;
    }

    /* p[max] is the first byte left out: not a continuation byte */

    for (n = max; n && (p[n] & 0xc0) == 0x80; n--) {
        /* void */
    }

    if (name) {
        if (n >= 1 && p[n - 1] == '%') {
            n -= 1;

        } else if (n >= 2 && p[n - 2] == '%') {
            n -= 2;
        }
    }

    return n;
}
