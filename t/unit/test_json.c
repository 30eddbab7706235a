
/*
 * Unit tests of the fixed-shape writer of ExportTaskRest
 * (src/ngx_export_json.c): its bytes are yajl's for the same fields
 * (t/unit/exj_ref.c, the module's former yajl code), for every status,
 * every optional member, every byte in every string, and tasks made at
 * random; what it writes parses back with yajl to the same values.
 */


#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <yajl/yajl_tree.h>

#include "ngx_export_json.h"
#include "ngx_export_utf8.h"
#include "exj_ref.h"


#define U  (const unsigned char *)
#define S(s)  { U s, sizeof(s) - 1 }

static const char  *uuid = "0f0e1d2c-3b4a-5968-7a8b-9cadbecfd0e1";
static size_t       parsed;
static const char  *ref = "a1b2c3d4-0000-4000-8000-00000000abcd";


/* the writer's body and yajl's for t must be the same bytes */

static void
same_as_yajl(const exj_task_t *t)
{
    size_t          len, bound;
    unsigned char  *want, *buf, *end;

    want = exj_ref_task(t, &len);
    assert_non_null(want);

    bound = exj_task_bound(t);
    buf = malloc(bound + 1);
    assert_non_null(buf);
    buf[bound] = 0xa5;

    end = exj_task_write(buf, t);

    assert_true((size_t) (end - buf) <= bound);
    assert_int_equal(buf[bound], 0xa5);

    if ((size_t) (end - buf) != len || memcmp(buf, want, len) != 0) {
        fprintf(stderr, "yajl:   %.*s\nwriter: %.*s\n", (int) len, want,
                (int) (end - buf), buf);
        fail();
    }

    free(buf);
    free(want);
}


static void
task_init(exj_task_t *t, unsigned status)
{
    memset(t, 0, sizeof(exj_task_t));

    t->status = status;
    t->progress = 10000;
    t->start = 1795363200;              /* 2026-11-22T16:00:00Z */
    t->end = 1795363202;
    t->id.data = U uuid;
    t->id.len = 36;
    t->run.data = U uuid;
    t->run.len = 36;
    t->url.data = U "/v1/system/check-sets/0f0e1d2c-3b4a-5968-7a8b-"
                    "9cadbecfd0e1/exports/file?expires=1795363232&"
                    "task=x&signature=abc_-";
    t->url.len = strlen((const char *) t->url.data);
    t->expires = 1795363232;
    t->size = 123456;
    t->ref.data = U ref;
    t->ref.len = 36;
}


/* the text the module sends, pinned once, as docs/api.md shows it */

static void
test_completed_text(void **state)
{
    size_t          len;
    exj_task_t      t;
    unsigned char   buf[2048], *end;

    static const char  want[] =
        "{\"status\":\"COMPLETED\",\"progress\":100.0,"
        "\"startTimestamp\":\"2026-11-22T16:00:00Z\","
        "\"endTimestamp\":\"2026-11-22T16:00:02Z\","
        "\"id\":\"0f0e1d2c-3b4a-5968-7a8b-9cadbecfd0e1\","
        "\"runId\":\"0f0e1d2c-3b4a-5968-7a8b-9cadbecfd0e1\","
        "\"downloadUrl\":\"/v1/system/check-sets/0f0e1d2c-3b4a-5968-7a8b-"
        "9cadbecfd0e1/exports/file?expires=1795363232&task=x&"
        "signature=abc_-\","
        "\"downloadUrlExpiresAt\":\"2026-11-22T16:00:32Z\","
        "\"size\":123456,\"warnings\":[]}";

    (void) state;

    task_init(&t, EXJ_COMPLETED);

    assert_true(exj_task_bound(&t) <= sizeof(buf));
    end = exj_task_write(buf, &t);
    len = end - buf;

    assert_int_equal(len, sizeof(want) - 1);
    assert_memory_equal(buf, want, len);

    same_as_yajl(&t);
}


/* every status, with and without each optional member */

static void
test_shapes(void **state)
{
    unsigned       s, i;
    exj_task_t     t;
    exj_warning_t  w[32];

    static const unsigned  progress[] = {
        0, 1, 9, 10, 99, 100, 101, 110, 1230, 1234, 5000, 9999, 10000,
        123456789, 4294967295u
    };

    (void) state;

    for (i = 0; i < 32; i++) {
        w[i].report.data = U "reports/r\xc3\xa9sum\xc3\xa9.json";
        w[i].report.len = strlen((const char *) w[i].report.data);
        w[i].message.data = U "invalid JSON: \"x\" at line 1";
        w[i].message.len = strlen((const char *) w[i].message.data);
        w[i].offset = (uint64_t) i * 1000003 + (i == 31 ? UINT64_MAX / 2 : 0);
    }

    w[0].offset = UINT64_MAX;

    for (s = EXJ_NOT_STARTED; s <= EXJ_FAILED + 1; s++) {
        for (i = 0; i < sizeof(progress) / sizeof(progress[0]); i++) {
            task_init(&t, s);
            t.progress = progress[i];
            same_as_yajl(&t);
        }

        task_init(&t, s);
        t.size = 0;
        same_as_yajl(&t);
        t.size = UINT64_MAX;
        same_as_yajl(&t);

        /* the FAILED message, given and not */
        t.message.data = U "disk full: \"/var/lib/exports\"\n";
        t.message.len = strlen((const char *) t.message.data);
        same_as_yajl(&t);
        t.message.len = 0;
        same_as_yajl(&t);

        /* warnings: one, all 32 kept, some left out */
        t.warnings = w;
        t.nwarnings = 1;
        same_as_yajl(&t);
        t.nwarnings = 32;
        same_as_yajl(&t);
        t.omitted = 1;
        same_as_yajl(&t);
        t.omitted = INT64_MAX;
        same_as_yajl(&t);
        t.nwarnings = 0;
        same_as_yajl(&t);

        /* empty strings everywhere */
        memset(&t, 0, sizeof(exj_task_t));
        t.status = s;
        same_as_yajl(&t);
    }
}


/* every byte value in every string the body carries */

static void
test_every_byte(void **state)
{
    unsigned        c;
    exj_task_t      t;
    exj_warning_t   w;
    unsigned char   all[256], one[3];

    (void) state;

    for (c = 0; c < 256; c++) {
        all[c] = (unsigned char) c;
    }

    for (c = 0; c < 256; c++) {
        one[0] = 'a';
        one[1] = (unsigned char) c;
        one[2] = 'z';

        task_init(&t, c % 2 ? EXJ_FAILED : EXJ_COMPLETED);
        t.id.data = one;
        t.id.len = 3;
        t.run.data = one;
        t.run.len = 3;
        t.url.data = one + 1;
        t.url.len = 1;
        t.message.data = one;
        t.message.len = 3;
        t.ref.data = one + 1;
        t.ref.len = 2;
        w.report.data = one;
        w.report.len = 3;
        w.message.data = one + 1;
        w.message.len = 1;
        w.offset = c;
        t.warnings = &w;
        t.nwarnings = 1;

        same_as_yajl(&t);
    }

    task_init(&t, EXJ_FAILED);
    t.run.data = all;
    t.run.len = 256;
    t.message.data = all;
    t.message.len = 256;
    same_as_yajl(&t);

    task_init(&t, EXJ_COMPLETED);
    t.url.data = all;
    t.url.len = 256;
    t.id.data = all + 200;
    t.id.len = 56;
    same_as_yajl(&t);
}


/* the worst case of the bound: every byte of every string a \u00XX */

static void
test_bound(void **state)
{
    size_t          i, bound;
    exj_task_t      t;
    exj_warning_t   w[32];
    unsigned char   ctl[300], *buf, *end;

    (void) state;

    memset(ctl, 0x01, sizeof(ctl));

    for (i = 0; i < 32; i++) {
        w[i].report.data = ctl;
        w[i].report.len = 127;
        w[i].message.data = ctl;
        w[i].message.len = 191;
        w[i].offset = UINT64_MAX;
    }

    for (i = EXJ_NOT_STARTED; i <= EXJ_FAILED; i++) {
        memset(&t, 0, sizeof(exj_task_t));
        t.status = i;
        t.progress = 4294967295u;
        t.start = t.end = t.expires = (time_t) EXJ_TIME_MAX;
        t.id.data = t.run.data = t.url.data = t.message.data = t.ref.data
            = ctl;
        t.id.len = t.run.len = t.ref.len = 36;
        t.url.len = 300;
        t.message.len = 255;
        t.size = UINT64_MAX;
        t.warnings = w;
        t.nwarnings = 32;
        t.omitted = INT64_MAX;

        bound = exj_task_bound(&t);
        buf = malloc(bound);
        assert_non_null(buf);
        end = exj_task_write(buf, &t);
        assert_true((size_t) (end - buf) <= bound);
        free(buf);

        same_as_yajl(&t);
    }
}


/* times against gmtime_r(): the edges of months, leap years, the range */

static void
test_rfc3339(void **state)
{
    int             y;
    char            want[64];
    time_t          t, edges[] = {
        0, 59, 60, 86399, 86400, 68169600, 68256000,    /* 1972-02-29 */
        951782400, 951868800,                           /* 2000-02-29 */
        4107456000, 4107542400,                         /* 2100-02-28 */
        13574563200, 13574649600,                       /* 2400-02-29 */
        1795190400, 2147483647, 2147483648,
        253402300799, 253402300800, -1
    };
    unsigned        i;
    uint64_t        x;
    struct tm       tm;
    unsigned char   buf[EXJ_TIME_LEN], *end;

    (void) state;

    x = 88172645463325252ULL;

    for (i = 0; i < sizeof(edges) / sizeof(edges[0]) + 200000; i++) {
        if (i < sizeof(edges) / sizeof(edges[0])) {
            t = edges[i];

        } else {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            t = (time_t) (x % ((uint64_t) EXJ_TIME_MAX + 1));
        }

        end = exj_rfc3339(buf, t);
        assert_int_equal(end - buf, EXJ_TIME_LEN);

        if (t < 0) {
            t = 0;

        } else if ((long long) t > EXJ_TIME_MAX) {
            t = (time_t) EXJ_TIME_MAX;
        }

        assert_non_null(gmtime_r(&t, &tm));
        y = tm.tm_year + 1900;
        snprintf(want, sizeof(want), "%04d-%02d-%02dT%02d:%02d:%02dZ",
                 y, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                 tm.tm_sec);

        assert_memory_equal(buf, want, EXJ_TIME_LEN);
    }
}


/* yajl parses what the writer wrote back to the strings it was given */

static void
parses_back(const exj_task_t *t)
{
    char            err[256], *text, *s;
    size_t          bound;
    yajl_val        doc, v;
    unsigned char  *end;
    const char     *why;

    static const char  *k_run[] = { "runId", NULL };
    static const char  *k_status[] = { "status", NULL };

    bound = exj_task_bound(t);
    text = malloc(bound + 1);
    assert_non_null(text);

    end = exj_task_write((unsigned char *) text, t);
    *end = '\0';

    /*
     * yajl's parser takes valid UTF-8 only; the escapes are ASCII, so
     * the text is valid when every string given was
     */

    if (exu_check((unsigned char *) text, end - (unsigned char *) text, &why)
        != (size_t) (end - (unsigned char *) text))
    {
        free(text);
        return;
    }

    doc = yajl_tree_parse(text, err, sizeof(err));

    if (doc == NULL) {
        fprintf(stderr, "%s\n%s\n", err, text);
    }

    assert_non_null(doc);
    parsed++;

    v = yajl_tree_get(doc, k_run, yajl_t_string);
    assert_non_null(v);
    s = YAJL_GET_STRING(v);
    assert_non_null(s);

    /* a C string: \u0000 ends it */
    if (memchr(t->run.data, 0, t->run.len) == NULL) {
        assert_int_equal(strlen(s), t->run.len);
        assert_memory_equal(s, t->run.data, t->run.len);
    }

    v = yajl_tree_get(doc, k_status, yajl_t_string);
    assert_non_null(v);
    s = YAJL_GET_STRING(v);
    assert_non_null(s);
    assert_string_equal(s, exj_status_name(t->status));

    yajl_tree_free(doc);
    free(text);
}


/* tasks made at random, as the fuzz harness makes them from its input */

static void
test_random(void **state)
{
    size_t            i, j, n;
    uint64_t          x;
    unsigned char     bytes[4096];
    exj_ref_input_t  *in;

    (void) state;

    in = malloc(sizeof(exj_ref_input_t));
    assert_non_null(in);

    x = 0x9e3779b97f4a7c15ULL;

    for (i = 0; i < 20000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        n = x % sizeof(bytes);

        for (j = 0; j < n; j++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            bytes[j] = (unsigned char) (x >> 24);
        }

        exj_ref_build(in, bytes, n);

        same_as_yajl(&in->t);
        parses_back(&in->t);
    }

    /* enough of them valid UTF-8 for the parse to prove something */
    fprintf(stderr, "parsed back: %zu of 20000\n", parsed);
    assert_true(parsed > 1000);

    free(in);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_completed_text),
        cmocka_unit_test(test_shapes),
        cmocka_unit_test(test_every_byte),
        cmocka_unit_test(test_bound),
        cmocka_unit_test(test_rfc3339),
        cmocka_unit_test(test_random),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
