
/*
 * Unit tests of the JSON to CSV converter (src/ngx_export_csv.c).
 *
 * Build and run by hand:
 *
 *   mkdir -p t/unit/bin
 *   cc -O1 -g -Wall -Wextra -Werror -Isrc t/unit/test_csv.c \
 *       src/ngx_export_csv.c -lyajl -lcmocka -o t/unit/bin/test_csv
 *   t/unit/bin/test_csv
 *
 * With sanitizers:
 *
 *   clang-14 -O1 -g -fsanitize=address,undefined -Wall -Wextra -Werror \
 *       -Isrc t/unit/test_csv.c src/ngx_export_csv.c -lyajl -lcmocka \
 *       -o t/unit/bin/test_csv_asan
 *
 * Needs libyajl-dev and libcmocka-dev.  Every conversion done through
 * check() is also repeated with the input fed 1 byte at a time and in
 * random chunk sizes, and must give the same output and result.
 */


#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ngx_export_csv.h"


typedef struct {
    char          *buf;
    size_t         len;
    size_t         cap;
    unsigned       calls;
    unsigned       fail_at;     /* fail the n-th write, 0: never */
} sink_t;


typedef struct {
    int            rc;
    exc_result_t   res;
    sink_t         out;
} run_t;


static int
sink_write(void *data, const unsigned char *buf, size_t len)
{
    sink_t  *s = data;
    char    *p;

    s->calls++;

    if (s->fail_at && s->calls >= s->fail_at) {
        return -1;
    }

    if (s->len + len + 1 > s->cap) {
        s->cap = (s->len + len + 1) * 2;
        p = realloc(s->buf, s->cap);
        assert_non_null(p);
        s->buf = p;
    }

    memcpy(s->buf + s->len, buf, len);
    s->len += len;
    s->buf[s->len] = '\0';

    return 0;
}


static uint64_t  rnd_state;


static size_t
rnd(size_t n)
{
    rnd_state = rnd_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (size_t) ((rnd_state >> 33) % n);
}


/* chunk sizes: seed 0 gives 1 byte chunks, others random ones */

static size_t
next_chunk(unsigned seed, size_t left)
{
    size_t  k;

    if (seed == 0) {
        k = 1;

    } else if (seed % 3 == 0) {
        k = 1 + rnd(7);

    } else {
        k = 1 + rnd(64);
    }

    return k < left ? k : left;
}


static int
feed(exc_conv_t *c, int scan, const char *in, size_t len, unsigned seed)
{
    int     rc;
    size_t  off, k;

    rc = EXC_OK;

    for (off = 0; off < len; off += k) {
        k = next_chunk(seed, len - off);

        /* an empty chunk now and then must change nothing */
        if (seed && rnd(8) == 0) {
            rc = scan ? exc_scan(c, (const unsigned char *) in + off, 0)
                      : exc_emit(c, (const unsigned char *) in + off, 0);
            if (rc != EXC_OK) {
                return rc;
            }
        }

        rc = scan ? exc_scan(c, (const unsigned char *) in + off, k)
                  : exc_emit(c, (const unsigned char *) in + off, k);
        if (rc != EXC_OK) {
            return rc;
        }
    }

    return rc;
}


static void
run_chunked(const exc_options_t *opt, int ndjson, const char *in,
    size_t len, unsigned seed, run_t *r)
{
    exc_conv_t  *c;

    memset(r, 0, sizeof(run_t));
    rnd_state = seed;

    c = exc_create(opt, ndjson);
    assert_non_null(c);

    r->rc = feed(c, 1, in, len, seed);

    if (r->rc == EXC_OK) {
        r->rc = exc_scan_end(c);
    }

    if (r->rc == EXC_OK) {
        r->rc = exc_emit_begin(c, sink_write, &r->out);
    }

    if (r->rc == EXC_OK) {
        /* pass 2 gets other chunk boundaries than pass 1 */
        r->rc = feed(c, 0, in, len, seed ? seed + 7 : 0);
    }

    if (r->rc == EXC_OK) {
        r->rc = exc_emit_end(c);
    }

    r->res = *exc_result(c);
    exc_destroy(c);
}


static void
run_once(const exc_options_t *opt, int ndjson, const char *in, size_t len,
    run_t *r)
{
    memset(r, 0, sizeof(run_t));
    r->rc = exc_convert_buffer(opt, ndjson, (const unsigned char *) in, len,
                               sink_write, &r->out, &r->res);
}


static void
print_escaped(const char *tag, const char *p, size_t len)
{
    size_t  i;

    fprintf(stderr, "%s (%zu): \"", tag, len);

    for (i = 0; i < len; i++) {
        if (p[i] == '\r') {
            fprintf(stderr, "\\r");

        } else if (p[i] == '\n') {
            fprintf(stderr, "\\n");

        } else if ((unsigned char) p[i] < 0x20 || p[i] == '"'
                   || (unsigned char) p[i] >= 0x7f)
        {
            fprintf(stderr, "\\x%02x", (unsigned char) p[i]);

        } else {
            fputc(p[i], stderr);
        }
    }

    fprintf(stderr, "\"\n");
}


static void
assert_output(const run_t *r, const char *out, size_t out_len)
{
    const char  *got;

    got = r->out.buf ? r->out.buf : "";

    if (r->out.len != out_len || memcmp(got, out, out_len) != 0) {
        print_escaped("expected", out, out_len);
        print_escaped("got     ", got, r->out.len);
        fail_msg("output differs (rc %d, reason \"%s\")", r->rc,
                 r->res.reason);
    }
}


static void
assert_same(const run_t *a, const run_t *b, unsigned seed)
{
    if (a->rc != b->rc || a->res.rows != b->res.rows
        || a->res.columns != b->res.columns
        || a->res.offset != b->res.offset
        || strcmp(a->res.reason, b->res.reason) != 0)
    {
        fail_msg("chunked run (seed %u) differs: rc %d/%d rows %llu/%llu "
                 "columns %zu/%zu offset %llu/%llu reason \"%s\"/\"%s\"",
                 seed, a->rc, b->rc, (unsigned long long) a->res.rows,
                 (unsigned long long) b->res.rows, a->res.columns,
                 b->res.columns, (unsigned long long) a->res.offset,
                 (unsigned long long) b->res.offset, a->res.reason,
                 b->res.reason);
    }

    /* the CSV only matters for good reports */
    if (a->rc == EXC_OK) {
        assert_output(b, a->out.buf ? a->out.buf : "", a->out.len);
    }
}


/* one-shot conversion, then the same with every chunking */

static exc_result_t
check_len(const exc_options_t *opt, int ndjson, const char *in, size_t len,
    int rc, const char *out, size_t out_len)
{
    run_t         once, chunked;
    unsigned      seed;
    exc_result_t  res;

    run_once(opt, ndjson, in, len, &once);

    if (once.rc != rc) {
        print_escaped("input", in, len);
        fail_msg("rc %d, expected %d (reason \"%s\", offset %llu)", once.rc,
                 rc, once.res.reason, (unsigned long long) once.res.offset);
    }

    if (out) {
        assert_output(&once, out, out_len);
    }

    for (seed = 0; seed < 12; seed++) {
        run_chunked(opt, ndjson, in, len, seed, &chunked);
        assert_same(&once, &chunked, seed);
        free(chunked.out.buf);
    }

    res = once.res;
    free(once.out.buf);

    return res;
}


static exc_result_t
check(const exc_options_t *opt, int ndjson, const char *in, int rc,
    const char *out)
{
    return check_len(opt, ndjson, in, strlen(in), rc, out,
                     out ? strlen(out) : 0);
}


static exc_result_t
check_bad(const exc_options_t *opt, int ndjson, const char *in,
    const char *reason)
{
    exc_result_t  res;

    res = check(opt, ndjson, in, EXC_BAD, NULL);

    if (strstr(res.reason, reason) == NULL) {
        fail_msg("reason \"%s\" lacks \"%s\"", res.reason, reason);
    }

    return res;
}


static exc_options_t
defaults(void)
{
    exc_options_t  opt;

    exc_options_init(&opt);

    return opt;
}


static void
test_options_defaults(void **state)
{
    exc_options_t  opt;

    (void) state;

    memset(&opt, 0xff, sizeof(opt));
    exc_options_init(&opt);

    assert_int_equal(opt.max_columns, 2048);
    assert_int_equal(opt.max_depth, 64);
    assert_true(opt.max_report_size == (uint64_t) 4 << 30);
    assert_int_equal(opt.max_cell, 256 << 10);
    assert_int_equal(opt.max_row, 2 << 20);
    assert_int_equal(opt.formula_guard, 1);
    assert_int_equal(opt.bom, 0);
}


static void
test_top_level_array(void **state)
{
    exc_result_t  res;

    (void) state;

    res = check(NULL, 0, "[{\"a\":1,\"b\":\"x\"},{\"b\":\"y\",\"c\":true}]",
                EXC_OK, "a,b,c\r\n1,x,\r\n,y,true\r\n");

    assert_int_equal(res.rows, 2);
    assert_int_equal(res.columns, 3);

    check(NULL, 0, " \n[ {\"a\" : 1 } , { \"a\" : 2 } ]\n ", EXC_OK,
          "a\r\n1\r\n2\r\n");
}


static void
test_object_with_row_array(void **state)
{
    exc_result_t  res;

    (void) state;

    /* members other than the first array are ignored, even arrays */
    res = check(NULL, 0,
                "{\"meta\":{\"v\":1},\"n\":5,"
                "\"rows\":[{\"a\":1},{\"a\":2,\"b\":null}],"
                "\"more\":[{\"z\":1}],\"tail\":{\"q\":2},\"s\":\"x\"}",
                EXC_OK, "a,b\r\n1,\r\n2,\r\n");

    assert_int_equal(res.rows, 2);
    assert_int_equal(res.columns, 2);

    check(NULL, 0, "{\"rows\":[1,\"x\",[true]]}", EXC_OK,
          "value\r\n1\r\nx\r\n[true]\r\n");
}


static void
test_object_without_array(void **state)
{
    exc_result_t  res;

    (void) state;

    res = check(NULL, 0,
                "{\"id\":7,\"host\":{\"name\":\"a\",\"ip\":\"1.2.3.4\"},"
                "\"ok\":false}",
                EXC_OK, "id,host.name,host.ip,ok\r\n7,a,1.2.3.4,false\r\n");

    assert_int_equal(res.rows, 1);
    assert_int_equal(res.columns, 4);

    /* only direct members count as the row array */
    check(NULL, 0, "{\"a\":{\"b\":[1,2]},\"c\":1}", EXC_OK,
          "a.b,c\r\n\"[1,2]\",1\r\n");
}


static void
test_ndjson(void **state)
{
    exc_result_t  res;

    (void) state;

    res = check(NULL, 1, "{\"a\":1}\n{\"b\":2}\n", EXC_OK,
                "a,b\r\n1,\r\n,2\r\n");

    assert_int_equal(res.rows, 2);
    assert_int_equal(res.columns, 2);

    /* CRLF, blank and white space lines */
    res = check(NULL, 1, "{\"a\":1}\r\n\r\n   \r\n\t\n{\"a\":2}\r\n\n",
                EXC_OK, "a\r\n1\r\n2\r\n");

    assert_int_equal(res.rows, 2);

    /* no final newline, a number last */
    check(NULL, 1, "{\"a\":1}\n{\"a\":2}", EXC_OK, "a\r\n1\r\n2\r\n");
    check(NULL, 1, "1\n2", EXC_OK, "value\r\n1\r\n2\r\n");
    check(NULL, 1, "\n\n[1,2]\r\n\"s\"\r\n{\"value\":true}", EXC_OK,
          "value\r\n\"[1,2]\"\r\ns\r\ntrue\r\n");

    /* an empty NDJSON report is fine, without any output */
    res = check(NULL, 1, "", EXC_OK, "");
    assert_int_equal(res.rows, 0);
    check(NULL, 1, " \r\n\n", EXC_OK, "");
}


static void
test_ndjson_bad_lines(void **state)
{
    exc_result_t  res;

    (void) state;

    check_bad(NULL, 1, "1 2\n", "more than one value on a line");
    check_bad(NULL, 1, "{\"a\":1}\n{\"a\":1}{\"b\":2}\n",
              "on line 2: more than one value");

    res = check_bad(NULL, 1, "{\"a\":1}\n{\"a\":\n1}\n",
                    "on line 2: value not complete at the end of the line");
    assert_int_equal(res.offset, 13);

    check_bad(NULL, 1, "[1,\n2]\n", "not complete");
    check_bad(NULL, 1, "{\"a\":1", "invalid JSON on line 1:");
}


static void
test_scalars_value_column(void **state)
{
    exc_result_t  res;

    (void) state;

    res = check(NULL, 0, "42", EXC_OK, "value\r\n42\r\n");
    assert_int_equal(res.rows, 1);
    assert_int_equal(res.columns, 1);

    check(NULL, 0, " \"hi\" ", EXC_OK, "value\r\nhi\r\n");
    check(NULL, 0, "true", EXC_OK, "value\r\ntrue\r\n");
    check(NULL, 0, "null", EXC_OK, "value\r\n\"\"\r\n");

    check(NULL, 0, "[1,\"x\",{\"a\":2},null]", EXC_OK,
          "value,a\r\n1,\r\nx,\r\n,2\r\n,\r\n");
}


static void
test_row_element_array(void **state)
{
    (void) state;

    check(NULL, 0, "[[1,\"a\",{\"b\":null}],{\"value\":3},[]]", EXC_OK,
          "value\r\n\"[1,\"\"a\"\",{\"\"b\"\":null}]\"\r\n3\r\n[]\r\n");
}


static void
test_nested_keys(void **state)
{
    (void) state;

    check(NULL, 0,
          "[{\"host\":{\"name\":\"a\",\"os\":{\"id\":\"x\"}},\"k\":1}]",
          EXC_OK, "host.name,host.os.id,k\r\na,x,1\r\n");

    /* an empty key still takes its place in the path */
    check(NULL, 0, "[{\"\":{\"b\":1},\"c\":{\"\":2}}]", EXC_OK,
          ".b,c.\r\n1,2\r\n");
}


static void
test_union_header_order(void **state)
{
    (void) state;

    check(NULL, 0,
          "[{\"b\":1,\"a\":2},{\"c\":3,\"a\":4},{\"d\":5,\"b\":6}]",
          EXC_OK, "b,a,c,d\r\n1,2,,\r\n,4,3,\r\n6,,,5\r\n");

    check(NULL, 1, "{\"z\":1}\n{\"y\":{\"x\":2},\"z\":3}\n{\"w\":4}\n",
          EXC_OK, "z,y.x,w\r\n1,,\r\n3,2,\r\n,,4\r\n");
}


static void
test_missing_cells(void **state)
{
    (void) state;

    check(NULL, 0, "[{\"a\":1,\"b\":2,\"c\":3},{},{\"b\":9}]", EXC_OK,
          "a,b,c\r\n1,2,3\r\n,,\r\n,9,\r\n");

    /* a single column: an empty cell is "" so the line is not blank */
    check(NULL, 0, "[{\"a\":1},{},{\"a\":null},{\"a\":\"\"}]", EXC_OK,
          "a\r\n1\r\n\"\"\r\n\"\"\r\n\"\"\r\n");
}


static void
test_arrays_compact_json(void **state)
{
    (void) state;

    check(NULL, 0,
          "[{\"t\":[1, 2.50, \"x,y\", true, null, {\"k\": [ ]},"
          " \"\\u00e9\\n\", -0, 1e400], \"u\": [ ]}]",
          EXC_OK,
          "t,u\r\n"
          "\"[1,2.50,\"\"x,y\"\",true,null,{\"\"k\"\":[]},\"\"\xc3\xa9\\n\"\","
          "-0,1e400]\",[]\r\n");

    check(NULL, 0, "[{\"a\":[[[\"deep\"]],{\"b\":{\"c\":[1]}}]}]", EXC_OK,
          "a\r\n\"[[[\"\"deep\"\"]],{\"\"b\"\":{\"\"c\"\":[1]}}]\"\r\n");
}


static void
test_numbers_verbatim(void **state)
{
    (void) state;

    check(NULL, 0,
          "[{\"a\":1.50,\"b\":1e400,\"c\":-0,"
          "\"d\":123456789012345678901234567890,\"e\":1E+2,\"f\":-5e-3,"
          "\"g\":0.1000000000000000055511151231257827}]",
          EXC_OK,
          "a,b,c,d,e,f,g\r\n"
          "1.50,1e400,-0,123456789012345678901234567890,1E+2,-5e-3,"
          "0.1000000000000000055511151231257827\r\n");
}


static void
test_null_empty(void **state)
{
    (void) state;

    check(NULL, 0, "[{\"a\":null,\"b\":1},{\"a\":\"\",\"b\":null}]", EXC_OK,
          "a,b\r\n,1\r\n,\r\n");
}


static void
test_booleans(void **state)
{
    (void) state;

    check(NULL, 0, "[{\"t\":true,\"f\":false}]", EXC_OK,
          "t,f\r\ntrue,false\r\n");
}


static void
test_quoting(void **state)
{
    (void) state;

    check(NULL, 0,
          "[{\"c\":\"a,b\",\"q\":\"say \\\"hi\\\"\",\"cr\":\"x\\ry\","
          "\"lf\":\"x\\ny\",\"ls\":\" lead\",\"ts\":\"trail \","
          "\"mid\":\"a b\",\"crlf\":\"1\\r\\n2\",\"only\":\"\\\"\"}]",
          EXC_OK,
          "c,q,cr,lf,ls,ts,mid,crlf,only\r\n"
          "\"a,b\",\"say \"\"hi\"\"\",\"x\ry\",\"x\ny\",\" lead\","
          "\"trail \",a b,\"1\r\n2\",\"\"\"\"\r\n");

    /* the header is quoted by the same rule */
    check(NULL, 0, "[{\"a,b\":1,\"x\\\"y\":2,\" sp\":3,\"n\\nl\":4}]", EXC_OK,
          "\"a,b\",\"x\"\"y\",\" sp\",\"n\nl\"\r\n1,2,3,4\r\n");
}


static void
test_utf8_intact(void **state)
{
    (void) state;

    check(NULL, 0,
          "[{\"\xe5\x90\x8d\xe5\x89\x8d\":\"\xe6\x97\xa5\xe6\x9c\xac\","
          "\"e\":\"\\u00e9\\ud83d\\ude00\","
          "\"emoji\":\"\xf0\x9f\x98\x80, ok\"}]",
          EXC_OK,
          "\xe5\x90\x8d\xe5\x89\x8d,e,emoji\r\n"
          "\xe6\x97\xa5\xe6\x9c\xac,\xc3\xa9\xf0\x9f\x98\x80,"
          "\"\xf0\x9f\x98\x80, ok\"\r\n");
}


static const char  *guard_in =
    "[{\"a\":\"=1+1\",\"b\":\"+x\",\"c\":\"-x\",\"d\":\"@x\",\"e\":\"\\tx\","
    "\"f\":\"\\rx\",\"g\":-5,\"h\":\"-5\",\"i\":\"x=1\",\"=k\":1,"
    "\"j\":\"=a,b\",\"l\":\"=say \\\"x\\\"\",\"m\":\"-\",\"n\":[-1]}]";


static void
test_formula_guard_on(void **state)
{
    (void) state;

    /* a JSON number is exempt: -5 stays -5, the string "-5" does not */
    check(NULL, 0, guard_in, EXC_OK,
          "a,b,c,d,e,f,g,h,i,'=k,j,l,m,n\r\n"
          "'=1+1,'+x,'-x,'@x,'\tx,\"'\rx\",-5,'-5,x=1,1,\"'=a,b\","
          "\"'=say \"\"x\"\"\",'-,[-1]\r\n");

    check(NULL, 1, "-7\n\"-7\"\n", EXC_OK, "value\r\n-7\r\n'-7\r\n");
}


static void
test_formula_guard_off(void **state)
{
    exc_options_t  opt;

    (void) state;

    opt = defaults();
    opt.formula_guard = 0;

    check(&opt, 0, guard_in, EXC_OK,
          "a,b,c,d,e,f,g,h,i,=k,j,l,m,n\r\n"
          "=1+1,+x,-x,@x,\tx,\"\rx\",-5,-5,x=1,1,\"=a,b\","
          "\"=say \"\"x\"\"\",-,[-1]\r\n");
}


static void
test_bom(void **state)
{
    exc_options_t  opt;

    (void) state;

    opt = defaults();

    check(&opt, 0, "[{\"a\":1}]", EXC_OK, "a\r\n1\r\n");

    opt.bom = 1;

    check(&opt, 0, "[{\"a\":1}]", EXC_OK, "\xef\xbb\xbf" "a\r\n1\r\n");
    check(&opt, 0, "[]", EXC_OK, "\xef\xbb\xbf");
    check(&opt, 1, "", EXC_OK, "\xef\xbb\xbf");
}


static void
test_input_bom_skipped(void **state)
{
    exc_result_t  res;

    (void) state;

    check(NULL, 0, "\xef\xbb\xbf[{\"a\":1}]", EXC_OK, "a\r\n1\r\n");
    check(NULL, 1, "\xef\xbb\xbf{\"a\":1}\n", EXC_OK, "a\r\n1\r\n");
    check(NULL, 0, "\xef\xbb\xbf" "5", EXC_OK, "value\r\n5\r\n");
    check_bad(NULL, 0, "\xef\xbb\xbf", "empty report");

    /* offsets still count the BOM */
    res = check_bad(NULL, 0, "\xef\xbb\xbf[1,,2]", "invalid JSON");
    assert_int_equal(res.offset, 7);

    /* a BOM is only skipped at the start, a partial one is bad */
    res = check_bad(NULL, 0, "\xef\xbb[1]", "invalid UTF-8");
    assert_int_equal(res.offset, 2);
    check_bad(NULL, 0, "\xef", "invalid JSON");
    check_bad(NULL, 0, "[1]\xef\xbb\xbf", "invalid JSON");
}


static void
test_empty_object_cell(void **state)
{
    exc_result_t  res;

    (void) state;

    /* an empty nested object is "{}" under its key */
    check(NULL, 0, "[{\"a\":{},\"b\":{\"c\":{ }}},{\"a\":1}]", EXC_OK,
          "a,b.c\r\n{},{}\r\n1,\r\n");

    /* an empty row has empty cells */
    res = check(NULL, 0, "[{},{\"a\":1,\"b\":2}]", EXC_OK,
                "a,b\r\n,\r\n1,2\r\n");
    assert_int_equal(res.rows, 2);
}


static void
test_duplicate_key(void **state)
{
    (void) state;

    /* the later value wins */
    check(NULL, 0, "[{\"a\":1,\"b\":2,\"a\":3}]", EXC_OK, "a,b\r\n3,2\r\n");
    check(NULL, 0, "[{\"a\":{\"x\":1},\"a\":{\"x\":2,\"y\":3}}]", EXC_OK,
          "a.x,a.y\r\n2,3\r\n");
    check(NULL, 0, "[{\"a.b\":1,\"a\":{\"b\":2}}]", EXC_OK, "a.b\r\n2\r\n");
}


static void
test_zero_rows(void **state)
{
    exc_result_t  res;

    (void) state;

    res = check(NULL, 0, "[]", EXC_OK, "");
    assert_int_equal(res.rows, 0);
    assert_int_equal(res.columns, 0);

    check(NULL, 0, "{\"a\":1,\"rows\":[]}", EXC_OK, "");
    check(NULL, 0, "{}", EXC_OK, "");

    res = check(NULL, 0, "[{},{}]", EXC_OK, "");
    assert_int_equal(res.rows, 0);
}


static void
test_invalid_json(void **state)
{
    exc_result_t  res;

    (void) state;

    res = check_bad(NULL, 0, "[{\"a\":1},{\"a\":2,}]", "invalid JSON: ");
    assert_int_equal(res.offset, 17);

    res = check_bad(NULL, 0, "{\"a\":tru}", "invalid JSON: lexical error");
    assert_int_equal(res.offset, 8);

    res = check_bad(NULL, 0, "[1 2]", "invalid JSON: parse error");
    assert_int_equal(res.offset, 4);

    res = check_bad(NULL, 0, "[1,2", "invalid JSON: parse error: premature");
    assert_int_equal(res.offset, 4);

    check_bad(NULL, 0, "[1] x", "trailing garbage");
    check_bad(NULL, 0, "[1][2]", "trailing garbage");
    check_bad(NULL, 0, "{\"a\":1,}", "invalid JSON");
    check_bad(NULL, 0, "[\"a\x01\"]", "invalid JSON");
    check_bad(NULL, 0, "// c\n[1]", "invalid JSON");

    /* NDJSON: the offset is the one in the whole file */
    res = check_bad(NULL, 1, "{\"a\":1}\n{\"a\":}\n", "on line 2");
    assert_int_equal(res.offset, 14);
}


static void
test_invalid_utf8(void **state)
{
    exc_result_t  res;

    (void) state;

    res = check_bad(NULL, 0, "[{\"a\":\"x\xff\"}]", "invalid JSON");
    assert_non_null(strstr(res.reason, "UTF-8"));

    check_bad(NULL, 0, "[{\"a\":\"\xc3(\"}]", "invalid JSON");
    check_bad(NULL, 0, "[{\"a\":\"\x80\"}]", "invalid JSON");
    check_bad(NULL, 0, "[{\"\xe2\x82\":1}]", "invalid JSON");
    check_bad(NULL, 0, "[\"\xf0\x9f\x98", "invalid JSON");
    check_bad(NULL, 0, "[\xc3\xa9]", "invalid JSON");
    check_bad(NULL, 1, "\"ok\"\n\"\xfe\"\n", "line 2");
}


/* what yajl lets through: the strict check gives the form and offset */

static void
test_strict_utf8(void **state)
{
    exc_result_t  res;

    (void) state;

    /* overlong forms */
    res = check_bad(NULL, 0, "[{\"a\":\"\xc0\xaf\"}]", "overlong form");
    assert_int_equal(res.offset, 7);
    res = check_bad(NULL, 0, "[{\"a\":\"\xe0\x80\xaf\"}]", "overlong form");
    assert_int_equal(res.offset, 8);
    res = check_bad(NULL, 0, "[{\"a\":\"\xf0\x80\x80\xaf\"}]",
                    "overlong form");
    assert_int_equal(res.offset, 8);

    /* surrogates */
    res = check_bad(NULL, 0, "[{\"a\":\"\xed\xa0\x80\"}]", "surrogate");
    assert_int_equal(res.offset, 8);
    res = check_bad(NULL, 0, "[{\"\xed\xbf\xbf\":1}]", "surrogate");
    assert_int_equal(res.offset, 4);

    /* past U+10FFFF */
    res = check_bad(NULL, 0, "[{\"a\":\"\xf4\x90\x80\x80\"}]",
                    "past U+10FFFF");
    assert_int_equal(res.offset, 8);
    res = check_bad(NULL, 0, "[{\"a\":\"\xf5\x80\x80\x80\"}]",
                    "past U+10FFFF");
    assert_int_equal(res.offset, 7);
    res = check_bad(NULL, 0, "[{\"a\":\"\xff\"}]", "past U+10FFFF");
    assert_int_equal(res.offset, 7);

    /* NDJSON names the line */
    res = check_bad(NULL, 1, "{\"a\":1}\n{\"a\":\"\xed\xa0\x80\"}\n",
                    "line 2");
    assert_int_equal(res.offset, 15);

    /* a lone low surrogate from a \u escape */
    check_bad(NULL, 0, "[{\"a\":\"\\udc00\"}]", "\\u escape");
    check_bad(NULL, 0, "[{\"\\udfff\":1}]", "\\u escape");

    /* the limits of the ranges are valid */
    check(NULL, 0, "[{\"a\":\"\xed\x9f\xbf\xf4\x8f\xbf\xbf\xee\x80\x80\"}]",
          EXC_OK, "a\r\n\xed\x9f\xbf\xf4\x8f\xbf\xbf\xee\x80\x80\r\n");
    check(NULL, 0, "[{\"a\":\"\\ud83d\\ude00\"}]", EXC_OK,
          "a\r\n\xf0\x9f\x98\x80\r\n");
}


static void
test_empty_report(void **state)
{
    (void) state;

    check_bad(NULL, 0, "", "empty report");
    check_bad(NULL, 0, "  \r\n\t ", "empty report");
}


static void
test_limit_columns(void **state)
{
    exc_options_t  opt;
    exc_result_t   res;

    (void) state;

    opt = defaults();
    opt.max_columns = 3;

    check(&opt, 0, "[{\"a\":1,\"b\":2,\"c\":3},{\"a\":4}]", EXC_OK,
          "a,b,c\r\n1,2,3\r\n4,,\r\n");

    res = check_bad(&opt, 0, "[{\"a\":1,\"b\":2,\"c\":3},{\"d\":4}]",
                    "too many columns (limit 3)");
    assert_int_equal(res.offset, 27);
}


static void
test_limit_depth(void **state)
{
    int            i;
    char           buf[300];
    exc_options_t  opt;

    (void) state;

    opt = defaults();
    opt.max_depth = 2;

    check(&opt, 0, "[{\"a\":1}]", EXC_OK, "a\r\n1\r\n");
    check_bad(&opt, 0, "[{\"a\":{\"b\":1}}]", "nesting too deep (limit 2)");
    check_bad(&opt, 0, "{\"x\":{\"y\":{}},\"rows\":[]}", "nesting too deep");

    /* the default is 64 */
    for (i = 0; i < 64; i++) {
        buf[i] = '[';
        buf[64 + i] = ']';
    }

    buf[128] = '\0';
    check(NULL, 0, buf, EXC_OK, NULL);

    for (i = 0; i < 65; i++) {
        buf[i] = '[';
        buf[65 + i] = ']';
    }

    buf[130] = '\0';
    check_bad(NULL, 0, buf, "nesting too deep (limit 64)");

    /* capped where yajl_gen stops */
    opt.max_depth = 1000;
    check_bad(&opt, 0,
              "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
              "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
              "[[[[[[[[[[", "nesting too deep (limit 127)");
}


static void
test_limit_report_size(void **state)
{
    exc_options_t  opt;
    exc_result_t   res;

    (void) state;

    opt = defaults();
    opt.max_report_size = 10;

    check(&opt, 0, "[1,2,3,45]", EXC_OK, "value\r\n1\r\n2\r\n3\r\n45\r\n");

    res = check_bad(&opt, 0, "[1,2,3,4,5,6]",
                    "report too large (limit 10 bytes)");
    assert_int_equal(res.offset, 10);

    /* a syntax error before the limit comes first */
    check_bad(&opt, 0, "[1,,2,3,4,5,6]", "invalid JSON");
    check_bad(&opt, 1, "1\n2\n3\n4\n5\n6\n", "report too large");

    opt.max_report_size = 0;
    check(&opt, 0, "[1,2,3,4,5,6]", EXC_OK, NULL);
}


static void
test_limit_cell(void **state)
{
    exc_options_t  opt;

    (void) state;

    opt = defaults();
    opt.max_cell = 4;

    check(&opt, 0, "[{\"a\":\"abcd\",\"b\":1234,\"c\":[12]}]", EXC_OK,
          "a,b,c\r\nabcd,1234,[12]\r\n");

    check_bad(&opt, 0, "[{\"a\":\"abcde\"}]", "cell too large (limit 4 bytes)");
    check_bad(&opt, 0, "[{\"a\":12345}]", "cell too large (limit 4 bytes)");
    check_bad(&opt, 0, "[{\"a\":[1,2]}]", "cell too large (limit 4 bytes)");
    check_bad(&opt, 0, "[[1,[2,3,4]]]", "cell too large");
    check_bad(&opt, 1, "\"12345\"\n", "cell too large");

    /* the size is counted before the guard and the quoting */
    check(&opt, 0, "[{\"a\":\"=,\\\"\\\"\"}]", EXC_OK,
          "a\r\n\"'=,\"\"\"\"\"\r\n");
}


static void
test_limit_row(void **state)
{
    exc_options_t  opt;

    (void) state;

    opt = defaults();
    opt.max_row = 6;

    check(&opt, 0, "[{\"a\":\"abc\",\"b\":\"abc\"}]", EXC_OK,
          "a,b\r\nabc,abc\r\n");
    check_bad(&opt, 0, "[{\"a\":\"abc\",\"b\":\"abcd\"}]",
              "row too large (limit 6 bytes)");
    check_bad(&opt, 0, "[{\"a\":\"abc\",\"b\":[1,2]}]", "row too large");

    /* an overwritten duplicate still counts */
    check_bad(&opt, 0, "[{\"a\":\"abcd\",\"a\":\"abc\"}]", "row too large");

    /* the header is held to max_row too */
    opt.max_row = 4;
    check(&opt, 0, "[{\"ab\":1},{\"cd\":2}]", EXC_OK,
          "ab,cd\r\n1,\r\n,2\r\n");
    check_bad(&opt, 0, "[{\"ab\":1},{\"cd\":2},{\"ef\":3}]",
              "header too large (limit 4 bytes, max_row)");
}


static void
test_limit_column_name(void **state)
{
    exc_options_t  opt;

    (void) state;

    opt = defaults();
    opt.max_cell = 4;

    check(&opt, 0, "[{\"abcd\":1,\"ab\":{\"c\":2}}]", EXC_OK,
          "abcd,ab.c\r\n1,2\r\n");
    check_bad(&opt, 0, "[{\"abcde\":1}]", "column name too long (limit 4");
    check_bad(&opt, 0, "[{\"ab\":{\"cd\":1}}]", "column name too long");
}


static void
test_limit_token(void **state)
{
    char           buf[200];
    exc_options_t  opt;
    exc_result_t   res;

    (void) state;

    opt = defaults();
    opt.max_cell = 2;           /* strings over 6 * 2 + 16 = 28 bytes */

    /* in an ignored member, a long string is fine below the guard ... */
    check(&opt, 0, "{\"x\":\"0123456789012345678901234\",\"r\":[{\"a\":1}]}",
          EXC_OK, "a\r\n1\r\n");

    /* ... but not above it */
    snprintf(buf, sizeof(buf), "{\"x\":\"%s\",\"r\":[{\"a\":1}]}",
             "0123456789012345678901234567890123456789");
    res = check_bad(&opt, 0, buf, "string or number too long (over 28");
    assert_int_equal(res.offset, 33);

    /* an escaped quote does not end the string */
    snprintf(buf, sizeof(buf), "{\"x\":\"a\\\"%s\",\"r\":[]}",
             "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
    res = check_bad(&opt, 0, buf, "string or number too long");
    assert_int_equal(res.offset, 33);

    res = check_bad(&opt, 0,
                    "{\"x\":12345678901234567890123456789012345,\"r\":[]}",
                    "string or number too long");
    assert_int_equal(res.offset, 33);
    check_bad(&opt, 0,
              "{\"x\":\"\\u0041\\u0041\\u0041\\u0041\\u0041\\u0041\",\"r\":[]}",
              "string or number too long");
}


static void
test_limits_in_ignored_members(void **state)
{
    exc_options_t  opt;
    exc_result_t   res;

    (void) state;

    opt = defaults();
    opt.max_cell = 2;
    opt.max_columns = 1;

    check(&opt, 0,
          "{\"meta\":\"long value\",\"a\":1,\"b\":{\"c\":[1,2,3]},"
          "\"rows\":[{\"x\":1}],\"after\":{\"many\":1,\"more\":2}}",
          EXC_OK, "x\r\n1\r\n");

    /* without a row array the object is the row and the limit holds */
    res = check_bad(&opt, 0, "{\"m\":\"long value\",\"a\":1}",
                    "cell too large (limit 2 bytes)");
    assert_int_equal(res.offset, 17);
    check_bad(&opt, 0, "{\"meta\":1}", "column name too long (limit 2");

    check_bad(&opt, 0, "{\"a\":1,\"b\":2}", "too many columns (limit 1)");
}


/* no expectation: whatever one-shot gives, every chunking must give */

static void
check_same(const exc_options_t *opt, int ndjson, const char *in, size_t len)
{
    run_t     once, chunked;
    unsigned  seed;

    run_once(opt, ndjson, in, len, &once);

    for (seed = 0; seed < 12; seed++) {
        run_chunked(opt, ndjson, in, len, seed, &chunked);
        assert_same(&once, &chunked, seed);
        free(chunked.out.buf);
    }

    free(once.out.buf);
}


static void
test_chunking_invariance(void **state)
{
    size_t         i, n;
    char          *big;
    exc_options_t  opt;

    static const char  *inputs[] = {
        "[{\"a\":1,\"b\":\"x\\u00e9\\\"y\"},{\"c\":[1,2.5e10,{\"d\":null}]}]",
        "{\"m\":\"\xe2\x82\xac\",\"rows\":[{\"k\":\"\\ud83d\\ude00\"}]}",
        "{\"a\":123456,\"b\":{\"c\":true}}",
        "\xef\xbb\xbf[-1.5e-3, \"=x\", {}]",
        "[1,2,3,{\"x\":\"tr\\\\\\\"ue\"}] ",
        "[{\"a\":1},{\"a\":2,}]",
        "[{\"a\":\"\xf0\x9f\x98\x80\xf0\x9f\x98\"}]",
        "[{\"a\":\"abcdefghijklmnopqrstuvwxyzabcdefghijkl\"}]",
        "{\"x\":\"01234567890123456789012345678901234\",\"r\":[]}",
        "{\"x\":\"0123456789012345678901234567890123456789012345678\"}",
        "{\"x\":123456789012345678901234567890123456789012345678}",
        "[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]",
        "{\"a\":1,\"b\":2,\"c\":3,\"d\":4,\"e\":5,\"r\":[{\"a\":1}]}",
        "{\"a\":1,\"b\":2,\"c\":3,\"d\":4,\"e\":5}",
        "12345",
        "-",
        "[1.]",
        "tru",
        "\xef\xbb",
        "[\"a\\u12\"]",
        "[\"\\ud800\"]",
        "",
        " ",
    };

    static const char  *nd_inputs[] = {
        "{\"a\":1}\r\n\r\n{\"b\":[1,\r\n",
        "{\"a\":1}\r\n \r\n{\"b\":\"x\"}\r\n7\r\n\"s\"",
        "{\"a\":1}\n{\"a\":\"\xc3\"}\n",
        "1\n2\n3 4\n",
        "123456789\n",
        "\xef\xbb\xbf\n\n",
        "{\"a\":\"0123456789012345678901234567890123456789012345678\"}\n",
        "[]\n{}\n\"\"\nnull\n",
    };

    (void) state;

    opt = defaults();
    opt.max_cell = 5;
    opt.max_columns = 4;
    opt.max_row = 12;
    opt.max_depth = 10;

    for (i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
        check_same(NULL, 0, inputs[i], strlen(inputs[i]));
        check_same(&opt, 0, inputs[i], strlen(inputs[i]));
        check_same(NULL, 1, inputs[i], strlen(inputs[i]));
    }

    for (i = 0; i < sizeof(nd_inputs) / sizeof(nd_inputs[0]); i++) {
        check_same(NULL, 1, nd_inputs[i], strlen(nd_inputs[i]));
        check_same(&opt, 1, nd_inputs[i], strlen(nd_inputs[i]));
    }

    /* more than one output buffer, with the guard and quoting at work */
    big = malloc(200000);
    assert_non_null(big);

    n = (size_t) snprintf(big, 200000, "[");

    for (i = 0; n < 190000; i++) {
        n += (size_t) snprintf(big + n, 200000 - n,
                               "%s{\"id\":%zu,\"s\":\"=v,%zu\\\"\","
                               "\"n\":{\"k%zu\":[%zu,\"\\u00e9\"]}}",
                               i ? "," : "", i, i, i % 5, i);
    }

    n += (size_t) snprintf(big + n, 200000 - n, "]");

    check_same(NULL, 0, big, n);
    free(big);
}


static void
test_write_failure(void **state)
{
    int          rc;
    char        *big;
    size_t       i, n;
    sink_t       sink;
    exc_conv_t  *c;

    static const char  in[] = "[{\"a\":1}]";

    (void) state;

    /* the first (and only) write fails */
    memset(&sink, 0, sizeof(sink));
    sink.fail_at = 1;

    rc = exc_convert_buffer(NULL, 0, (const unsigned char *) in,
                            sizeof(in) - 1, sink_write, &sink, NULL);
    assert_int_equal(rc, EXC_ERROR);

    c = exc_create(NULL, 0);
    assert_non_null(c);
    assert_int_equal(exc_scan(c, (const unsigned char *) in, 9), EXC_OK);
    assert_int_equal(exc_scan_end(c), EXC_OK);
    assert_int_equal(exc_emit_begin(c, sink_write, &sink), EXC_OK);
    assert_int_equal(exc_emit(c, (const unsigned char *) in, 9), EXC_OK);
    assert_int_equal(exc_emit_end(c), EXC_ERROR);
    assert_string_equal(exc_result(c)->reason, "write failed");

    /* and it sticks */
    assert_int_equal(exc_emit_end(c), EXC_ERROR);
    assert_int_equal(exc_emit(c, (const unsigned char *) in, 9), EXC_ERROR);
    exc_destroy(c);

    /* a later write fails in the middle of pass 2 */
    big = malloc(400000);
    assert_non_null(big);
    n = (size_t) snprintf(big, 400000, "[");

    for (i = 0; n < 390000; i++) {
        n += (size_t) snprintf(big + n, 400000 - n, "%s{\"a\":%zu}",
                               i ? "," : "", i);
    }

    n += (size_t) snprintf(big + n, 400000 - n, "]");

    memset(&sink, 0, sizeof(sink));
    sink.fail_at = 2;

    c = exc_create(NULL, 0);
    assert_non_null(c);
    assert_int_equal(exc_scan(c, (const unsigned char *) big, n), EXC_OK);
    assert_int_equal(exc_scan_end(c), EXC_OK);
    assert_int_equal(exc_emit_begin(c, sink_write, &sink), EXC_OK);
    assert_int_equal(exc_emit(c, (const unsigned char *) big, n), EXC_ERROR);
    assert_int_equal(exc_emit_end(c), EXC_ERROR);
    assert_int_equal(sink.calls, 2);
    exc_destroy(c);

    free(sink.buf);
    free(big);
}


static void
test_output_buffered(void **state)
{
    char    *big;
    size_t   i, n;
    run_t    r;

    (void) state;

    big = malloc(400000);
    assert_non_null(big);
    n = (size_t) snprintf(big, 400000, "[");

    for (i = 0; n < 390000; i++) {
        n += (size_t) snprintf(big + n, 400000 - n, "%s{\"a\":%zu}",
                               i ? "," : "", i);
    }

    n += (size_t) snprintf(big + n, 400000 - n, "]");

    run_once(NULL, 0, big, n, &r);
    assert_int_equal(r.rc, EXC_OK);
    assert_int_equal(r.res.rows, i);

    /* about 64 KiB a write, not one write per cell or row */
    assert_true(r.out.calls <= r.out.len / 65536 + 1);
    assert_true(r.out.calls >= 2);
    assert_memory_equal(r.out.buf, "a\r\n0\r\n1\r\n", 9);

    free(r.out.buf);
    free(big);
}


static void
test_errors_stick(void **state)
{
    sink_t       sink;
    exc_conv_t  *c;

    static const char  bad[] = "[1,,2]";
    static const char  good[] = "[1]";

    (void) state;

    memset(&sink, 0, sizeof(sink));

    c = exc_create(NULL, 0);
    assert_non_null(c);
    assert_int_equal(exc_scan(c, (const unsigned char *) bad, 6), EXC_BAD);
    assert_int_equal(exc_scan(c, (const unsigned char *) good, 3), EXC_BAD);
    assert_int_equal(exc_scan_end(c), EXC_BAD);
    assert_int_equal(exc_emit_begin(c, sink_write, &sink), EXC_BAD);
    assert_int_equal(exc_emit(c, (const unsigned char *) good, 3), EXC_BAD);
    assert_int_equal(exc_emit_end(c), EXC_BAD);
    assert_int_equal(exc_result(c)->offset, 4);
    assert_int_equal(sink.calls, 0);
    exc_destroy(c);

    /* calls out of order are fatal */
    c = exc_create(NULL, 0);
    assert_non_null(c);
    assert_int_equal(exc_emit_begin(c, sink_write, &sink), EXC_ERROR);
    assert_int_equal(exc_scan(c, (const unsigned char *) good, 3),
                     EXC_ERROR);
    exc_destroy(c);

    c = exc_create(NULL, 0);
    assert_non_null(c);
    assert_int_equal(exc_scan(c, (const unsigned char *) good, 3), EXC_OK);
    assert_int_equal(exc_emit(c, (const unsigned char *) good, 3),
                     EXC_ERROR);
    exc_destroy(c);

    exc_destroy(NULL);
}


static void
test_changed_between_passes(void **state)
{
    sink_t       sink;
    exc_conv_t  *c;

    static const char  a[] = "[{\"a\":1}]";
    static const char  b[] = "[{\"b\":1}]";
    static const char  o[] = "{\"x\":1}";
    static const char  r[] = "{\"x\":[]}";

    (void) state;

    memset(&sink, 0, sizeof(sink));

    c = exc_create(NULL, 0);
    assert_non_null(c);
    assert_int_equal(exc_scan(c, (const unsigned char *) a, 9), EXC_OK);
    assert_int_equal(exc_scan_end(c), EXC_OK);
    assert_int_equal(exc_emit_begin(c, sink_write, &sink), EXC_OK);
    assert_int_equal(exc_emit(c, (const unsigned char *) b, 9), EXC_BAD);
    assert_non_null(strstr(exc_result(c)->reason, "changed"));
    exc_destroy(c);

    c = exc_create(NULL, 0);
    assert_non_null(c);
    assert_int_equal(exc_scan(c, (const unsigned char *) o, 7), EXC_OK);
    assert_int_equal(exc_scan_end(c), EXC_OK);
    assert_int_equal(exc_emit_begin(c, sink_write, &sink), EXC_OK);
    assert_int_equal(exc_emit(c, (const unsigned char *) r, 8), EXC_BAD);
    exc_destroy(c);

    free(sink.buf);
}


/* limits over 64 bytes: the guard then scans 64 byte blocks at once */

static void
test_limit_token_blocks(void **state)
{
    char           buf[400];
    exc_options_t  opt;
    exc_result_t   res;

    (void) state;

    opt = defaults();
    opt.max_cell = 10;          /* over 6 * 10 + 16 = 76 bytes */

    /* 1 + 74 + 1 bytes: fine, and the member is ignored */
    /* (padded so that the blocks are full) */
    snprintf(buf, sizeof(buf), "{\"x\":\"%.74s\",\"r\":[{\"a\":1}]}%80s",
             "0123456789012345678901234567890123456789012345678901234567890"
             "12345678901234567890", "");
    check(&opt, 0, buf, EXC_OK, "a\r\n1\r\n");

    /* 1 + 75 + 1 bytes: the closing quote is one too many */
    snprintf(buf, sizeof(buf), "{\"x\":\"%.75s\",\"r\":[{\"a\":1}]}%80s",
             "0123456789012345678901234567890123456789012345678901234567890"
             "12345678901234567890", "");
    res = check_bad(&opt, 0, buf, "string or number too long (over 76");
    assert_int_equal(res.offset, 81);

    snprintf(buf, sizeof(buf), "{\"x\":%.90s,\"r\":[]}%80s",
             "1234567890123456789012345678901234567890123456789012345678901"
             "234567890123456789012345678901234567890", "");
    res = check_bad(&opt, 0, buf, "string or number too long");
    assert_int_equal(res.offset, 81);

    /* an escaped quote does not end the string */
    snprintf(buf, sizeof(buf), "[\"\\\"%.100s\"]%80s",
             "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
             "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "");
    res = check_bad(&opt, 0, buf, "string or number too long");
    assert_int_equal(res.offset, 77);

    /* a raw control byte ends a string for the guard: yajl fails there */
    snprintf(buf, sizeof(buf), "[\"ab\x01%100s\"]%80s", "", "");
    res = check_bad(&opt, 0, buf, "invalid JSON");
    assert_int_equal(res.offset, 4);

    /* white space and punctuation do not count */
    snprintf(buf, sizeof(buf), "[%150s{\"a\" :\t[[[[%150s]]]]}\n,\"x\"]",
             "", "");
    check(&opt, 0, buf, EXC_OK, "a,value\r\n[[[[]]]],\r\n,x\r\n");
}


/*
 * Random token soup: whatever the result, one-shot feeding (64 byte
 * blocks in the guard) and every chunking (the byte loop) must agree.
 */

static void
test_random_differential(void **state)
{
    int            i, j, n;
    char           buf[700];
    size_t         len, k;
    const char    *t;
    uint64_t       seed;
    exc_options_t  opt;

    static const char  *tok[] = {
        "{", "}", "[", "]", ":", ",", " ", "\n", "\r\n", "\"", "\\", "\\\"",
        "\"a\"", "\"key\":", "\"\\u00e9\\n\"", "\"\xc3\xa9\"", "0", "-1.5e3",
        "123456789", "true", "null", "\"0123456789012345678901234567\"",
        "{\"k\":\"v\"}", "[1,2]", "\t", "\x01", "\xff", "\"=x\"",
        "                                ", "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"",
    };

    (void) state;

    opt = defaults();
    opt.max_cell = 10;
    opt.max_columns = 8;
    opt.max_row = 100;

    seed = 12345;

    for (i = 0; i < 300; i++) {
        len = 0;
        n = 10 + (int) (seed % 60);

        for (j = 0; j < n; j++) {
            seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
            t = tok[(seed >> 33) % (sizeof(tok) / sizeof(tok[0]))];
            k = strlen(t);

            if (len + k >= sizeof(buf)) {
                break;
            }

            memcpy(buf + len, t, k);
            len += k;
        }

        check_same(&opt, (int) (seed >> 40) & 1, buf, len);
        check_same(NULL, (int) (seed >> 41) & 1, buf, len);
    }
}


/* inputs found by t/fuzz/fuzz_csv.c */

static void
test_fuzz_regressions(void **state)
{
    exc_result_t  res;

    /*
     * yajl "restores" the offset of some parse errors by the length of
     * the bad token, which clamps to the chunk start when the token came
     * in two chunks: the offset depended on the chunking.
     */
    static const char  crash1[] =
        "{\"id\":7,\"host\":{\"name\":\"a\",\",ip\":5\".1.3.4\"},\x00"
        "[[{\"a\":\"=1+1\",\"g\":\"ok\":f-5,,={"
        "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"
        "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"
        "\":\"-\"alse,}]\"e\":{}a";

    (void) state;

    res = check_len(NULL, 0, crash1, sizeof(crash1) - 1, EXC_BAD, NULL, 0);
    assert_int_equal(res.offset, 36);

    res = check_bad(NULL, 0, "{\"a\":5\".1.3.4\"}",
                    "after key and value, inside map");
    assert_int_equal(res.offset, 8);

    res = check_bad(NULL, 0, "[1 \"abc\"]", "after array element");
    assert_int_equal(res.offset, 8);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_options_defaults),
        cmocka_unit_test(test_top_level_array),
        cmocka_unit_test(test_object_with_row_array),
        cmocka_unit_test(test_object_without_array),
        cmocka_unit_test(test_ndjson),
        cmocka_unit_test(test_ndjson_bad_lines),
        cmocka_unit_test(test_scalars_value_column),
        cmocka_unit_test(test_row_element_array),
        cmocka_unit_test(test_nested_keys),
        cmocka_unit_test(test_union_header_order),
        cmocka_unit_test(test_missing_cells),
        cmocka_unit_test(test_arrays_compact_json),
        cmocka_unit_test(test_numbers_verbatim),
        cmocka_unit_test(test_null_empty),
        cmocka_unit_test(test_booleans),
        cmocka_unit_test(test_quoting),
        cmocka_unit_test(test_utf8_intact),
        cmocka_unit_test(test_formula_guard_on),
        cmocka_unit_test(test_formula_guard_off),
        cmocka_unit_test(test_bom),
        cmocka_unit_test(test_input_bom_skipped),
        cmocka_unit_test(test_empty_object_cell),
        cmocka_unit_test(test_duplicate_key),
        cmocka_unit_test(test_zero_rows),
        cmocka_unit_test(test_invalid_json),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_strict_utf8),
        cmocka_unit_test(test_empty_report),
        cmocka_unit_test(test_limit_columns),
        cmocka_unit_test(test_limit_depth),
        cmocka_unit_test(test_limit_report_size),
        cmocka_unit_test(test_limit_cell),
        cmocka_unit_test(test_limit_row),
        cmocka_unit_test(test_limit_column_name),
        cmocka_unit_test(test_limit_token),
        cmocka_unit_test(test_limits_in_ignored_members),
        cmocka_unit_test(test_chunking_invariance),
        cmocka_unit_test(test_write_failure),
        cmocka_unit_test(test_output_buffered),
        cmocka_unit_test(test_errors_stick),
        cmocka_unit_test(test_changed_between_passes),
        cmocka_unit_test(test_limit_token_blocks),
        cmocka_unit_test(test_random_differential),
        cmocka_unit_test(test_fuzz_regressions),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
