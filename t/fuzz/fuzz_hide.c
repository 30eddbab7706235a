
/*
 * libFuzzer harness of exp_hide_arg(), which keeps a link's signature and
 * an ArcGIS token out of the logs by rewriting the request line.
 *
 * The first byte picks the argument's name, the rest is the request line.
 * Differential: the result must be byte for byte what the module's
 * earlier in-place rewriting (kept here as the reference, one allocation
 * per value hidden) gave; the measuring pass must give the written size;
 * and the result must hold no byte of a hidden value.
 */


#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_export_parse.h"


static const char  *fz_names[] = { "signature", "token", "t", "" };


static const unsigned char *
fz_lchr(const unsigned char *p, const unsigned char *last, unsigned char c)
{
    while (p < last) {
        if (*p == c) {
            return p;
        }

        p++;
    }

    return NULL;
}


/* the module's rewriting before exp_hide_arg(), on malloc() */

static unsigned char *
fz_reference(const unsigned char *in, size_t in_len, const char *name,
    size_t *out_len)
{
    size_t                nlen, len;
    unsigned char        *data, *line, *last;
    const unsigned char  *q, *end, *p;

    nlen = strlen(name);

    data = malloc(in_len + 1);
    if (data == NULL) {
        abort();
    }

    memcpy(data, in, in_len);
    len = in_len;

    q = fz_lchr(data, data + len, '?');
    if (q == NULL) {
        *out_len = len;
        return data;
    }

    for (end = q; end < data + len && *end != ' '; end++) {
        /* void */
    }

    while (q && q < end) {
        q++;

        if ((size_t) (end - q) > nlen && strncmp((char *) q, name, nlen) == 0
            && q[nlen] == '=')
        {
            q += nlen + 1;

            for (p = q; p < end && *p != '&'; p++) {
                /* void */
            }

            line = malloc(len - (p - q) + 1);
            if (line == NULL) {
                abort();
            }

            memcpy(line, data, q - data);
            last = line + (q - data);
            *last++ = '-';
            memcpy(last, p, data + len - p);
            last += data + len - p;

            end = line + (end - data) - (p - q) + 1;
            q = line + (q - data);

            len = last - line;
            free(data);
            data = line;
        }

        q = fz_lchr(q, end, '&');
    }

    *out_len = len;
    return data;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t          n, m, ref_len, hidden, hidden2;
    unsigned char  *out, *ref;
    const char     *name;

    if (size < 1) {
        return 0;
    }

    name = fz_names[data[0] % 4];
    data++;
    size--;

    n = exp_hide_arg(NULL, data, size, name, &hidden);

    out = malloc(n + 1);
    if (out == NULL) {
        abort();
    }

    m = exp_hide_arg(out, data, size, name, &hidden2);

    if (m != n || hidden != hidden2 || n > 2 * size + 1) {
        fprintf(stderr, "measured %zu, wrote %zu\n", n, m);
        abort();
    }

    ref = fz_reference(data, size, name, &ref_len);

    if (ref_len != m || memcmp(ref, out, m) != 0) {
        fprintf(stderr, "differs from the reference: %zu / %zu bytes\n", m,
                ref_len);
        abort();
    }

    if (hidden == 0 && (m != size || memcmp(out, data, size) != 0)) {
        abort();
    }

    free(ref);
    free(out);

    return 0;
}
