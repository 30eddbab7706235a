
/*
 * libFuzzer harness of the ArcGIS request parsers: the form body (or
 * query) fields f, token and runIds found by exp_form_find(), and the
 * runIds list split by exp_list_next() and checked by exp_run_check().
 *
 * Differential: each field and each list item must be what the module's
 * earlier loops (kept here as the reference) found; every item is
 * non-empty, has no space at either end, lies inside the list, and the
 * items in order are the list's non-empty comma-separated pieces.
 */


#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_export_parse.h"


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


/* the module's form field loop before exp_form_find() */

static int
fz_form_ref(const unsigned char *form, size_t flen, const char *name,
    const unsigned char **value, size_t *vlen)
{
    size_t                len;
    const unsigned char  *p, *last, *end, *eq;

    len = strlen(name);
    p = form;
    last = form + flen;

    while (p < last) {
        end = fz_lchr(p, last, '&');
        if (end == NULL) {
            end = last;
        }

        eq = fz_lchr(p, end, '=');

        if (eq && (size_t) (eq - p) == len
            && strncmp((const char *) p, name, len) == 0)
        {
            *value = eq + 1;
            *vlen = end - eq - 1;
            return 1;
        }

        p = end + 1;
    }

    return 0;
}


/* the module's runIds loop before exp_list_next(): item i, or 0 */

static int
fz_list_ref(const unsigned char *list, size_t len, size_t want,
    const unsigned char **item, size_t *ilen)
{
    size_t                n, k;
    const unsigned char  *p, *last, *comma, *d;

    p = list;
    last = list + len;
    k = 0;

    while (p <= last) {
        comma = fz_lchr(p, last, ',');
        if (comma == NULL) {
            comma = last;
        }

        d = p;
        n = comma - p;
        p = comma + 1;

        while (n && d[0] == ' ') {
            d++;
            n--;
        }

        while (n && d[n - 1] == ' ') {
            n--;
        }

        if (n == 0) {
            continue;
        }

        if (k++ == want) {
            *item = d;
            *ilen = n;
            return 1;
        }
    }

    return 0;
}


static void
fz_list(const unsigned char *list, size_t len)
{
    int                   rc, ref;
    size_t                pos, ilen, rlen, k;
    unsigned char         canon[EXP_UUID_LEN];
    const unsigned char  *item, *ritem;

    pos = 0;

    for (k = 0; ; k++) {
        rc = exp_list_next(list, len, &pos, &item, &ilen);
        ref = fz_list_ref(list, len, k, &ritem, &rlen);

        if (rc != ref) {
            fprintf(stderr, "item %zu: %d, reference %d\n", k, rc, ref);
            abort();
        }

        if (!rc) {
            break;
        }

        if (item != ritem || ilen != rlen || ilen == 0
            || item < list || item + ilen > list + len
            || item[0] == ' ' || item[ilen - 1] == ' '
            || memchr(item, ',', ilen) != NULL)
        {
            abort();
        }

        (void) exp_run_check(item, ilen, EXP_RUN_NAME, canon);
    }

    if (k > len) {
        abort();
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                   rc, ref;
    size_t                i, vlen, rlen;
    const unsigned char  *v, *rv;

    static const char  *names[] = { "f", "token", "runIds", "" };

    for (i = 0; i < 4; i++) {
        rc = exp_form_find(data, size, names[i], &v, &vlen);
        ref = fz_form_ref(data, size, names[i], &rv, &rlen);

        if (rc != ref || (rc && (v != rv || vlen != rlen))) {
            fprintf(stderr, "field \"%s\" differs\n", names[i]);
            abort();
        }

        if (rc && (v < data || v + vlen > data + size
                   || memchr(v, '&', vlen) != NULL))
        {
            abort();
        }

        if (rc && i == 2) {
            fz_list(v, vlen);
        }
    }

    /* the whole input as a list too */
    fz_list(data, size);

    return 0;
}
