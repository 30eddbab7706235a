
/*
 * libFuzzer harness of the JSON to CSV converter.
 *
 *   clang-14 -g -O1 -fsanitize=fuzzer,address,undefined -Isrc \
 *       t/fuzz/fuzz_csv.c src/ngx_export_csv.c -lyajl -o /tmp/fuzz_csv
 *   mkdir -p /tmp/fuzz_csv_corpus
 *   /tmp/fuzz_csv -max_total_time=180 /tmp/fuzz_csv_corpus t/fuzz/corpus_csv
 *
 * The first byte picks the flags, the rest is the report:
 *
 *   bit 0   NDJSON
 *   bit 1   formula guard
 *   bit 2   BOM
 *   bit 3   default limits instead of small ones
 *   bit 4   a report size limit of half the input
 *   bit 5   max_cell 12, so that the token guard's limit is just over 64
 *
 * Each input is converted in one shot and with chunked feeding (chunk
 * sizes drawn from the input itself); both must give the same result and
 * output, pass 2 must not fail once pass 1 passed, and a good output must
 * be well-formed CSV with one header and one record per row, all with the
 * same number of fields.
 */


#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_export_csv.h"


typedef struct {
    unsigned char  *buf;
    size_t          len;
    size_t          cap;
} fz_sink_t;


static int
fz_write(void *data, const unsigned char *buf, size_t len)
{
    fz_sink_t      *s = data;
    unsigned char  *p;

    if (s->len + len > s->cap) {
        s->cap = (s->len + len) * 2;
        p = realloc(s->buf, s->cap);
        if (p == NULL) {
            abort();
        }

        s->buf = p;
    }

    memcpy(s->buf + s->len, buf, len);
    s->len += len;

    return 0;
}


static int
fz_feed(exc_conv_t *c, int scan, const uint8_t *in, size_t len,
    uint32_t seed)
{
    int     rc;
    size_t  off, k;

    for (off = 0; off < len; off += k) {
        seed = seed * 1103515245 + 12345;
        k = 1 + (seed >> 16) % ((seed & 0x100) ? 3 : 97);

        if (k > len - off) {
            k = len - off;
        }

        rc = scan ? exc_scan(c, in + off, k) : exc_emit(c, in + off, k);
        if (rc != EXC_OK) {
            return rc;
        }
    }

    return EXC_OK;
}


static int
fz_chunked(const exc_options_t *opt, int ndjson, const uint8_t *in,
    size_t len, fz_sink_t *out, exc_result_t *res)
{
    int          rc;
    uint32_t     seed;
    size_t       i;
    exc_conv_t  *c;

    seed = 2166136261u;

    for (i = 0; i < len; i++) {
        seed = (seed ^ in[i]) * 16777619u;
    }

    c = exc_create(opt, ndjson);
    if (c == NULL) {
        abort();
    }

    rc = fz_feed(c, 1, in, len, seed);

    if (rc == EXC_OK) {
        rc = exc_scan_end(c);
    }

    if (rc == EXC_OK) {
        rc = exc_emit_begin(c, fz_write, out);

        if (rc == EXC_OK) {
            rc = fz_feed(c, 0, in, len, seed ^ 0x5bd1e995);
        }

        if (rc == EXC_OK) {
            rc = exc_emit_end(c);
        }

        /* the same bytes: pass 2 cannot find what pass 1 did not */
        if (rc != EXC_OK) {
            fprintf(stderr, "pass 2 failed: %s\n", exc_result(c)->reason);
            abort();
        }
    }

    *res = *exc_result(c);
    exc_destroy(c);

    return rc;
}


/* checks RFC 4180 structure: every record has the same field count */

static void
fz_check_csv(const unsigned char *p, size_t len, int bom,
    const exc_result_t *res)
{
    size_t    i, fields, records;
    unsigned  quoted;

    i = 0;

    if (bom) {
        if (len < 3 || memcmp(p, "\xef\xbb\xbf", 3) != 0) {
            abort();
        }

        i = 3;
    }

    if (res->columns == 0) {
        if (i != len || res->rows != 0) {
            abort();
        }

        return;
    }

    records = 0;
    fields = 1;

    while (i < len) {

        if (p[i] == '"') {
            quoted = 1;
            i++;

            for ( ;; ) {
                if (i >= len) {
                    abort();
                }

                if (p[i] == '"') {
                    if (i + 1 < len && p[i + 1] == '"') {
                        i += 2;
                        continue;
                    }

                    i++;
                    break;
                }

                i++;
            }

        } else {
            quoted = 0;

            while (i < len && p[i] != ',' && p[i] != '\r') {
                if (p[i] == '"' || p[i] == '\n') {
                    abort();
                }

                i++;
            }
        }

        (void) quoted;

        if (i >= len) {
            abort();            /* the last record lacks its CRLF */
        }

        if (p[i] == ',') {
            fields++;
            i++;
            continue;
        }

        if (p[i] != '\r' || i + 1 >= len || p[i + 1] != '\n') {
            abort();
        }

        if (fields != res->columns) {
            abort();
        }

        records++;
        fields = 1;
        i += 2;
    }

    if (records != res->rows + 1) {
        abort();
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int            rc1, rc2, ndjson;
    unsigned       flags;
    fz_sink_t      out1, out2;
    exc_options_t  opt;
    exc_result_t   res1, res2;

    if (size < 1) {
        return 0;
    }

    flags = data[0];
    data++;
    size--;

    ndjson = flags & 1;

    exc_options_init(&opt);
    opt.formula_guard = (flags >> 1) & 1;
    opt.bom = (flags >> 2) & 1;

    if (!(flags & 8)) {
        opt.max_columns = 16;
        opt.max_depth = 12;
        opt.max_cell = 48;
        opt.max_row = 200;
    }

    if (flags & 16) {
        opt.max_report_size = size / 2;
    }

    if (flags & 32) {
        opt.max_cell = 12;
    }

    memset(&out1, 0, sizeof(out1));
    memset(&out2, 0, sizeof(out2));

    rc1 = exc_convert_buffer(&opt, ndjson, data, size, fz_write, &out1,
                             &res1);
    rc2 = fz_chunked(&opt, ndjson, data, size, &out2, &res2);

    if (rc1 == EXC_ERROR) {
        abort();                /* no allocation fails here */
    }

    if (rc1 != rc2 || res1.rows != res2.rows
        || res1.columns != res2.columns || res1.offset != res2.offset
        || strcmp(res1.reason, res2.reason) != 0)
    {
        fprintf(stderr, "results differ: rc %d/%d offset %llu/%llu "
                "\"%s\"/\"%s\"\n", rc1, rc2,
                (unsigned long long) res1.offset,
                (unsigned long long) res2.offset, res1.reason, res2.reason);
        abort();
    }

    if (rc1 == EXC_BAD) {
        if (res1.reason[0] == '\0' || res1.offset > size) {
            abort();
        }

    } else {
        if (out1.len != out2.len
            || (out1.len && memcmp(out1.buf, out2.buf, out1.len) != 0))
        {
            fprintf(stderr, "outputs differ\n");
            abort();
        }

        fz_check_csv(out1.buf, out1.len, opt.bom, &res1);
    }

    free(out1.buf);
    free(out2.buf);

    return 0;
}
