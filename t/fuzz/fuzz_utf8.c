
/*
 * libFuzzer harness of the UTF-8 helpers (src/ngx_export_utf8.c).
 *
 * Checked on every input:
 *
 *   - exu_check() agrees with a second, independent decoder (code points
 *     decoded and range checked the long way) on the offset of the first
 *     invalid byte;
 *   - exu_feed() fed the input in pieces (sizes drawn from the input)
 *     stops at the same offset as exu_check(), or is left pending exactly
 *     when the input ends inside a sequence;
 *   - for both escapes, the measuring pass (dst NULL) gives the size the
 *     writing pass writes, the result is valid UTF-8 with no control byte,
 *     and it decodes back to the input (so two inputs never meet);
 *     the name rule leaves no '%' unescaped, the log rule no '"' or '\'.
 */


#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_export_utf8.h"


/* the offset of the first invalid byte, by decoding code points */

static size_t
fz_ref_check(const unsigned char *p, size_t len)
{
    size_t    i, n, k;
    uint32_t  cp, min;

    for (i = 0; i < len; i += n) {
        if (p[i] < 0x80) {
            n = 1;
            continue;
        }

        if ((p[i] & 0xe0) == 0xc0) {
            n = 2; cp = p[i] & 0x1f; min = 0x80;

        } else if ((p[i] & 0xf0) == 0xe0) {
            n = 3; cp = p[i] & 0x0f; min = 0x800;

        } else if ((p[i] & 0xf8) == 0xf0) {
            n = 4; cp = p[i] & 0x07; min = 0x10000;

        } else {
            return i;                       /* 80..BF, F8..FF */
        }

        for (k = 1; k < n; k++) {
            if (i + k >= len) {
                return i;                   /* cut short: the lead byte */
            }

            if ((p[i + k] & 0xc0) != 0x80) {
                return i;
            }

            cp = cp << 6 | (p[i + k] & 0x3f);
        }

        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
            return i;
        }
    }

    return len;
}


static int
fz_hex(unsigned char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }

    return -1;                              /* lower case is never written */
}


/* decodes an escape result back; aborts on anything not produced */

static void
fz_unescape_check(const unsigned char *e, size_t elen,
    const unsigned char *src, size_t len, const char *prefix)
{
    size_t  i, o, plen;
    int     hi, lo;

    plen = strlen(prefix);
    o = 0;

    for (i = 0; i < elen; ) {
        if (elen - i >= plen && memcmp(e + i, prefix, plen) == 0) {
            if (elen - i < plen + 2) {
                abort();
            }

            hi = fz_hex(e[i + plen]);
            lo = fz_hex(e[i + plen + 1]);

            if (hi < 0 || lo < 0 || o >= len
                || src[o] != (unsigned char) (hi << 4 | lo))
            {
                abort();
            }

            i += plen + 2;
            o++;
            continue;
        }

        if (e[i] < 0x20 || e[i] == 0x7f || o >= len || src[o] != e[i]) {
            abort();
        }

        if (prefix[0] == '%' && e[i] == '%') {
            abort();
        }

        if (prefix[0] == '\\' && (e[i] == '"' || e[i] == '\\')) {
            abort();
        }

        i++;
        o++;
    }

    if (o != len) {
        abort();
    }
}


/*
 * exu_cut() of an escape result: at most max bytes, at most 3 fewer,
 * valid UTF-8, and for the name rule not ending inside a %XX
 */

static void
fz_cut(const unsigned char *buf, size_t len, size_t max, int name)
{
    size_t       k;
    const char  *why;

    k = exu_cut(buf, len, max, name);

    if (k > max || k > len || k + 3 < (max < len ? max : len)
        || exu_check(buf, k, &why) != k)
    {
        fprintf(stderr, "exu_cut %zu of %zu to %zu\n", k, len, max);
        abort();
    }

    if (name && ((k >= 1 && buf[k - 1] == '%')
                 || (k >= 2 && buf[k - 2] == '%')))
    {
        abort();
    }
}


static void
fz_escape(const unsigned char *p, size_t len, int name)
{
    size_t          n, m;
    unsigned char  *buf;
    const char     *why;

    n = name ? exu_escape_name(NULL, p, len) : exu_escape_log(NULL, p, len);

    buf = malloc(n + 1);
    if (buf == NULL) {
        abort();
    }

    m = name ? exu_escape_name(buf, p, len) : exu_escape_log(buf, p, len);

    if (m != n || n < len || n > 4 * len) {
        fprintf(stderr, "escape size %zu, measured %zu\n", m, n);
        abort();
    }

    if (exu_check(buf, m, &why) != m) {
        abort();
    }

    fz_unescape_check(buf, m, p, len, name ? "%" : "\\x");

    fz_cut(buf, m, m, name);
    fz_cut(buf, m, m / 2, name);
    fz_cut(buf, m, m ? m - 1 : 0, name);
    fz_cut(buf, m, len % (m + 1), name);
    fz_cut(buf, m, m ? m - len % m : 0, name);

    free(buf);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t        n, ref, off, k, got;
    uint32_t      seed;
    exu_state_t   st = { 0, 0x80, 0xbf };
    const char   *why;

    why = NULL;
    n = exu_check(data, size, &why);
    ref = fz_ref_check(data, size);

    if (n > size || (n < size && (why == NULL || why[0] == '\0'))) {
        abort();
    }

    /*
     * valid or not, the two agree; where: exu_check() names the byte that
     * makes a sequence bad, the reference its lead byte, at most 3 before
     */

    if ((n == size) != (ref == size) || (n < size && (n < ref ? ref - n
                                                              : n - ref) > 3))
    {
        fprintf(stderr, "exu_check %zu, reference %zu of %zu\n", n, ref,
                size);
        abort();
    }

    /* in pieces: the same stop */

    seed = 2166136261u;
    for (k = 0; k < size; k++) {
        seed = (seed ^ data[k]) * 16777619u;
    }

    got = size;

    for (off = 0; off < size; off += k) {
        seed = seed * 1103515245 + 12345;
        k = 1 + (seed >> 16) % 7;

        if (k > size - off) {
            k = size - off;
        }

        n = exu_feed(&st, data + off, k, &why);

        if (n > k) {
            abort();
        }

        if (n < k) {
            got = off + n;
            break;
        }
    }

    n = exu_check(data, size, &why);

    if (got < size) {
        if (got != n) {
            fprintf(stderr, "exu_feed stops at %zu, exu_check %zu\n", got,
                    n);
            abort();
        }

    } else if ((n == size) == exu_pending(&st)) {
        abort();
    }

    fz_escape(data, size, 1);
    fz_escape(data, size, 0);

    return 0;
}
