
/*
 * Unit tests of the parsers of outside bytes (src/ngx_export_parse.c),
 * the ones t/fuzz/ fuzzes; the cases are the edges the module's earlier
 * code, nginx's ngx_atotm() and ngx_decode_base64url() drew.
 */


#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ngx_export_parse.h"


#define U  (const unsigned char *)

static const char  *uuid = "0f0e1d2c-3b4a-5968-7a8b-9cadbecfd0e1";


static void
test_uuid(void **state)
{
    unsigned char  bin[16], text[EXP_UUID_LEN];

    (void) state;

    assert_int_equal(exp_uuid_parse(bin, U uuid, 36), 0);
    assert_int_equal(bin[0], 0x0f);
    assert_int_equal(bin[15], 0xe1);
    exp_uuid_text(text, bin);
    assert_memory_equal(text, uuid, 36);

    assert_int_equal(exp_uuid_parse(bin,
                         U "0F0E1D2C-3B4A-5968-7A8B-9CADBECFD0E1", 36), 0);
    exp_uuid_text(text, bin);
    assert_memory_equal(text, uuid, 36);

    assert_int_equal(exp_uuid_parse(bin, U uuid, 35), -1);
    assert_int_equal(exp_uuid_parse(bin,
                         U "0f0e1d2c3b4a-5968-7a8b-9cadbecfd0e1-", 36), -1);
    assert_int_equal(exp_uuid_parse(bin,
                         U "0f0e1d2c-3b4a-5968-7a8b-9cadbecfd0eg", 36), -1);
    assert_int_equal(exp_uuid_parse(bin,
                         U "{f0e1d2c-3b4a-5968-7a8b-9cadbecfd0e1", 36), -1);
}


static void
test_run(void **state)
{
    unsigned char  canon[EXP_UUID_LEN];

    (void) state;

    assert_int_equal(exp_run_check(U "0F0E1D2C-3B4A-5968-7A8B-9CADBECFD0E1",
                                   36, EXP_RUN_UUID, canon), EXP_RUN_CANON);
    assert_memory_equal(canon, uuid, 36);
    assert_int_equal(exp_run_check(U "run1", 4, EXP_RUN_UUID, canon),
                     EXP_RUN_BAD);
    /* 36 bytes that are no UUID: a non-hex digit, a dash out of place */
    assert_int_equal(exp_run_check(U "0f0e1d2c-3b4a-5968-7a8b-9cadbecfd0eg",
                                   36, EXP_RUN_UUID, canon), EXP_RUN_BAD);
    assert_int_equal(exp_run_check(U "0f0e1d2c3-b4a-5968-7a8b-9cadbecfd0e1",
                                   36, EXP_RUN_UUID, canon), EXP_RUN_BAD);
    assert_int_equal(exp_run_check(U "0f0e1d2c-3b4a-5968-7a8b-9cadbecfd0eG",
                                   36, EXP_RUN_NAME, canon), EXP_RUN_ASIS);

    assert_int_equal(exp_run_check(U "Run_1-a", 7, EXP_RUN_NAME, canon),
                     EXP_RUN_ASIS);
    assert_int_equal(exp_run_check(U "run 1", 5, EXP_RUN_NAME, canon),
                     EXP_RUN_BAD);
    assert_int_equal(exp_run_check(U "", 0, EXP_RUN_NAME, canon),
                     EXP_RUN_BAD);
    assert_int_equal(exp_run_check(U "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                                     "aaaaaaaaaaaaaaaaaaaaaaaa", 64,
                                   EXP_RUN_NAME, canon), EXP_RUN_ASIS);
    assert_int_equal(exp_run_check(U "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                                     "aaaaaaaaaaaaaaaaaaaaaaaaa", 65,
                                   EXP_RUN_NAME, canon), EXP_RUN_BAD);

    /* WebAdMIT: a number, exact in JavaScript; a UUID is not one */
    assert_int_equal(exp_run_check(U "123456789012345", 15, EXP_RUN_NUMBER,
                                   canon), EXP_RUN_ASIS);
    assert_int_equal(exp_run_check(U "1234567890123456", 16, EXP_RUN_NUMBER,
                                   canon), EXP_RUN_BAD);
    assert_int_equal(exp_run_check(U "012", 3, EXP_RUN_NUMBER, canon),
                     EXP_RUN_BAD);
    assert_int_equal(exp_run_check(U uuid, 36, EXP_RUN_NUMBER, canon),
                     EXP_RUN_BAD);
}


static void
test_job_serial(void **state)
{
    unsigned char  bin[16];

    (void) state;

    assert_int_equal(exp_job_parse(bin,
                         U "j0f0e1d2c-3b4a-5968-7a8b-9cadbecfd0e1", 37), 0);
    assert_int_equal(bin[0], 0x0f);
    assert_int_equal(exp_job_parse(bin, U uuid, 36), 0);
    assert_int_equal(exp_job_parse(bin,
                         U "k0f0e1d2c-3b4a-5968-7a8b-9cadbecfd0e1", 37), -1);
    assert_int_equal(exp_job_parse(bin, U "j", 1), -1);

    assert_int_equal(exp_serial_parse(U "1", 1), 1);
    assert_int_equal(exp_serial_parse(U "999999999999999", 15),
                     999999999999999LL);
    assert_int_equal(exp_serial_parse(U "1000000000000000", 16), -1);
    assert_int_equal(exp_serial_parse(U "0", 1), -1);
    assert_int_equal(exp_serial_parse(U "", 0), -1);
    assert_int_equal(exp_serial_parse(U "12a", 3), -1);
    assert_int_equal(exp_serial_parse(U "+1", 2), -1);
}


static void
list_is(const char *list, const char **want)
{
    size_t                pos, len;
    const unsigned char  *item;

    pos = 0;

    while (*want) {
        assert_int_equal(exp_list_next(U list, strlen(list), &pos, &item,
                                       &len), 1);
        assert_int_equal(len, strlen(*want));
        assert_memory_equal(item, *want, len);
        want++;
    }

    assert_int_equal(exp_list_next(U list, strlen(list), &pos, &item, &len),
                     0);
}


static void
test_list(void **state)
{
    const char  *none[] = { NULL };
    const char  *abc[] = { "a", "b c", "d", NULL };
    const char  *one[] = { "x", NULL };

    (void) state;

    list_is("", none);
    list_is(",", none);
    list_is(" , ,  ", none);
    list_is(" a,b c ,,d,", abc);
    list_is("x", one);
    list_is(",,x", one);
}


static void
form_is(const char *form, const char *name, const char *want)
{
    size_t                len;
    const unsigned char  *v;

    if (want == NULL) {
        assert_int_equal(exp_form_find(U form, strlen(form), name, &v, &len),
                         0);
        return;
    }

    assert_int_equal(exp_form_find(U form, strlen(form), name, &v, &len), 1);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(v, want, len);
}


static void
test_form(void **state)
{
    (void) state;

    form_is("f=json&token=a%2Bb&runIds=r1,r2", "f", "json");
    form_is("f=json&token=a%2Bb&runIds=r1,r2", "token", "a%2Bb");
    form_is("f=json&token=a%2Bb&runIds=r1,r2", "runIds", "r1,r2");
    form_is("ff=1&f", "f", NULL);
    form_is("f=&f=json", "f", "");
    form_is("x=1&&f=a=b", "f", "a=b");
    form_is("", "f", NULL);
    form_is("=x", "", "x");
}


static void
hidden_is(const char *line, const char *name, const char *want,
    size_t nhidden)
{
    size_t          n, m, hidden;
    unsigned char   out[256];

    n = exp_hide_arg(NULL, U line, strlen(line), name, &hidden);
    assert_true(n < sizeof(out));
    m = exp_hide_arg(out, U line, strlen(line), name, &hidden);
    assert_int_equal(m, n);
    assert_int_equal(hidden, nhidden);
    assert_int_equal(m, strlen(want));
    assert_memory_equal(out, want, m);
}


static void
test_hide(void **state)
{
    (void) state;

    hidden_is("GET /f?task=1&expires=2&signature=abc HTTP/1.1", "signature",
              "GET /f?task=1&expires=2&signature=- HTTP/1.1", 1);
    hidden_is("GET /f?signature=abc&signature=de&x=1 HTTP/1.1", "signature",
              "GET /f?signature=-&signature=-&x=1 HTTP/1.1", 2);
    hidden_is("GET /f?signature=&x HTTP/1.0", "signature",
              "GET /f?signature=-&x HTTP/1.0", 1);
    hidden_is("GET /f?xsignature=1&signaturex=2 HTTP/1.1", "signature",
              "GET /f?xsignature=1&signaturex=2 HTTP/1.1", 0);
    hidden_is("GET /f?a=1 HTTP/1.1?signature=2", "signature",
              "GET /f?a=1 HTTP/1.1?signature=2", 0);
    hidden_is("GET /f?token=abc", "token", "GET /f?token=-", 1);
    hidden_is("GET /f HTTP/1.1", "token", "GET /f HTTP/1.1", 0);
    hidden_is("GET /f?token HTTP/1.1", "token", "GET /f?token HTTP/1.1", 0);
}


static void
test_link(void **state)
{
    time_t         exp;
    unsigned char  id[16], mac[EXP_SIG_LEN];
    size_t         i;

    /* base64url of the bytes 00 01 .. 1f, unpadded */
    static const char  sig[] = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";

    (void) state;

    assert_int_equal(exp_link_parse(U uuid, 36, U "1796000000", 10, U sig,
                                    43, id, &exp, mac), 0);
    assert_int_equal(exp, 1796000000);
    assert_int_equal(id[1], 0x0e);

    for (i = 0; i < EXP_SIG_LEN; i++) {
        assert_int_equal(mac[i], i);
    }

    /* the two low bits of the last character are not looked at */
    assert_int_equal(exp_link_parse(U uuid, 36, U "1", 1,
                         U "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh-",
                         43, id, &exp, mac), 0);
    assert_int_equal(mac[31], 0x1f);

    /* time_t's largest value, and one past it */
    assert_int_equal(exp_link_parse(U uuid, 36, U "9223372036854775807", 19,
                                    U sig, 43, id, &exp, mac), 0);
    assert_true(exp == INT64_MAX);
    assert_int_equal(exp_link_parse(U uuid, 36, U "9223372036854775808", 19,
                                    U sig, 43, id, &exp, mac), -1);
    assert_int_equal(exp_link_parse(U uuid, 36, U "", 0, U sig, 43, id, &exp,
                                    mac), -1);
    assert_int_equal(exp_link_parse(U uuid, 36, U "-1", 2, U sig, 43, id,
                                    &exp, mac), -1);

    /* the standard alphabet, padding, a wrong length */
    assert_int_equal(exp_link_parse(U uuid, 36, U "1", 1,
                         U "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh+",
                         43, id, &exp, mac), -1);
    assert_int_equal(exp_link_parse(U uuid, 36, U "1", 1,
                         U "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh=",
                         43, id, &exp, mac), -1);
    assert_int_equal(exp_link_parse(U uuid, 36, U "1", 1, U sig, 42, id,
                                    &exp, mac), -1);
    assert_int_equal(exp_link_parse(U uuid, 35, U "1", 1, U sig, 43, id,
                                    &exp, mac), -1);
}


static void
test_uniware(void **state)
{
    yajl_val     doc;
    const char  *code;

    (void) state;

    assert_int_equal(exp_uniware_code("{\"jobCode\": \"j1\"}", &doc, &code),
                     EXP_UW_OK);
    assert_string_equal(code, "j1");
    yajl_tree_free(doc);

    assert_int_equal(exp_uniware_code("[1]", &doc, &code), EXP_UW_NOT_OBJECT);
    assert_int_equal(exp_uniware_code("{", &doc, &code), EXP_UW_NOT_OBJECT);
    assert_int_equal(exp_uniware_code("", &doc, &code), EXP_UW_NOT_OBJECT);
    assert_int_equal(exp_uniware_code("{\"jobCode\": 1}", &doc, &code),
                     EXP_UW_NO_CODE);
    assert_int_equal(exp_uniware_code("{\"jobCode\": \"\"}", &doc, &code),
                     EXP_UW_NO_CODE);
    assert_null(doc);
}


static void
test_meta(void **state)
{
    yajl_val             root;
    exp_meta_t           m;
    exp_meta_warning_t   w;

    static const char  *styles[] = { "vmware", "arcgis", "uniware",
                                     "webadmit", NULL };

    (void) state;

    root = exp_meta_parse("{\"runId\": \"r-1\", \"taskId\": "
                          "\"0F0E1D2C-3B4A-5968-7A8B-9CADBECFD0E1\", "
                          "\"status\": \"FAILED\", \"style\": \"webadmit\", "
                          "\"keyed\": false, \"serial\": 7, \"created\": 5, "
                          "\"size\": -3, \"error\": \"e\", "
                          "\"referenceToken\": \"bad\", \"warnings\": "
                          "[{\"report\": \"a\", \"offset\": 9}, 1]}",
                          styles, &m);
    assert_non_null(root);
    assert_int_equal(m.run_len, 3);
    assert_memory_equal(m.run, "r-1", 3);
    assert_int_equal(m.id[0], 0x0f);
    assert_string_equal(m.state, "FAILED");
    assert_int_equal(m.style, 3);
    assert_int_equal(m.keyed, 0);
    assert_int_equal(m.serial, 7);
    assert_int_equal(m.reports, -1);
    assert_int_equal(m.has_created, 1);
    assert_int_equal(m.created, 5);
    assert_int_equal(m.ttl, 3600);
    assert_int_equal(m.size, -3);
    assert_string_equal(m.error, "e");
    assert_int_equal(m.has_ref, 0);
    assert_int_equal(m.nkept, 2);
    exp_meta_warning(&m, 0, &w);
    assert_string_equal(w.report, "a");
    assert_null(w.message);
    assert_int_equal(w.offset, 9);
    exp_meta_warning(&m, 1, &w);
    assert_null(w.report);
    assert_int_equal(w.offset, 0);
    yajl_tree_free(root);

    /* the defaults */
    root = exp_meta_parse("{\"runId\": \"r\", \"taskId\": "
                          "\"0f0e1d2c-3b4a-5968-7a8b-9cadbecfd0e1\", "
                          "\"serial\": -1, \"ttl\": 1.5}", styles, &m);
    assert_non_null(root);
    assert_int_equal(m.style, 0);
    assert_int_equal(m.keyed, 1);
    assert_string_equal(m.state, "");
    assert_int_equal(m.ttl, 3600);
    assert_int_equal(m.serial, -1);
    assert_int_equal(m.has_created, 0);
    assert_null(m.op);
    assert_int_equal(m.nkept, 0);
    yajl_tree_free(root);

    assert_null(exp_meta_parse("{\"runId\": \"r 1\", \"taskId\": "
                               "\"0f0e1d2c-3b4a-5968-7a8b-9cadbecfd0e1\"}",
                               styles, &m));
    assert_null(exp_meta_parse("{\"runId\": \"r\", \"taskId\": \"x\"}",
                               styles, &m));
    assert_null(exp_meta_parse("{\"taskId\": "
                               "\"0f0e1d2c-3b4a-5968-7a8b-9cadbecfd0e1\"}",
                               styles, &m));
    assert_null(exp_meta_parse("not json", styles, &m));
}


/* a claim with every member, for the tests below to spoil one at a time */

#define CLAIM_HEAD                                                            \
    "{\"runId\": \"r-1\", \"taskId\": "                                       \
    "\"0f0e1d2c-3b4a-5968-7a8b-9cadbecfd0e1\", \"node\": \"node-a.x_1\", "    \
    "\"style\": \"arcgis\", \"keyed\": false, \"indexed\": true, "            \
    "\"serial\": 4, \"created\": 100, \"createdMs\": 100123, "                \
    "\"operationURI\": \"/op\", \"threadPool\": \"exports\", "                \
    "\"level\": 6, \"ttl\": 60, \"maxReportSize\": 1024, "                    \
    "\"maxColumns\": 10, \"formulaGuard\": true, \"csvBom\": false, "         \
    "\"symlinks\": 2, \"symlinksFrom\": \"/data\""

static void
test_claim(void **state)
{
    size_t        i;
    yajl_val      root;
    exp_claim_t   c;

    static const char  *styles[] = { "vmware", "arcgis", "uniware",
                                     "webadmit", NULL };

    /* one member changed: each must be refused */
    static const char  *bad[] = {
        "{\"attempt\": 0, \"sources\": [\"/a\"], \"folders\": [\"\"]}",
        "{\"attempt\": 1001, \"sources\": [\"/a\"], \"folders\": [\"\"]}",
        "{\"attempt\": 1, \"sources\": [], \"folders\": []}",
        "{\"attempt\": 1, \"sources\": [\"a\"], \"folders\": [\"\"]}",
        "{\"attempt\": 1, \"sources\": [\"/\"], \"folders\": [\"\"]}",
        "{\"attempt\": 1, \"sources\": [\"/a/../b\"], \"folders\": [\"\"]}",
        "{\"attempt\": 1, \"sources\": [\"/a/..\"], \"folders\": [\"\"]}",
        "{\"attempt\": 1, \"sources\": [\"/a\"], \"folders\": []}",
        "{\"attempt\": 1, \"sources\": [\"/a\"], \"folders\": [\"x\"]}",
        "{\"attempt\": 1, \"sources\": [\"/a\"], \"folders\": [\"x/y/\"]}",
        "{\"attempt\": 1, \"sources\": [\"/a\"], \"folders\": [1]}",
        "{\"attempt\": \"1\", \"sources\": [\"/a\"], \"folders\": [\"\"]}",
    };

    char  text[2048];

    (void) state;

    snprintf(text, sizeof(text), "%s, \"attempt\": 2, \"sources\": "
             "[\"/data/r-1\", \"/data/r-2\"], \"folders\": [\"r-1/\", "
             "\"r-2/\"]}", CLAIM_HEAD);

    root = exp_claim_parse(text, styles, &c);
    assert_non_null(root);
    assert_int_equal(c.run_len, 3);
    assert_memory_equal(c.run, "r-1", 3);
    assert_int_equal(c.id[0], 0x0f);
    assert_string_equal(c.node, "node-a.x_1");
    assert_int_equal(c.node_len, 10);
    assert_int_equal(c.attempt, 2);
    assert_int_equal(c.style, 1);
    assert_int_equal(c.keyed, 0);
    assert_int_equal(c.indexed, 1);
    assert_int_equal(c.serial, 4);
    assert_int_equal(c.created, 100);
    assert_int_equal(c.created_ms, 100123);
    assert_string_equal(c.op, "/op");
    assert_int_equal(c.nsources, 2);
    assert_string_equal(exp_claim_item(c.sources, 1), "/data/r-2");
    assert_string_equal(exp_claim_item(c.folders, 0), "r-1/");
    assert_string_equal(c.thread_pool, "exports");
    assert_int_equal(c.level, 6);
    assert_int_equal(c.ttl, 60);
    assert_int_equal(c.max_report_size, 1024);
    assert_int_equal(c.max_columns, 10);
    assert_int_equal(c.formula_guard, 1);
    assert_int_equal(c.csv_bom, 0);
    assert_int_equal(c.symlinks, 2);
    assert_string_equal(c.symlinks_from, "/data");
    yajl_tree_free(root);

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(text, sizeof(text), "%s, %s", CLAIM_HEAD, bad[i] + 1);
        assert_null(exp_claim_parse(text, styles, &c));
    }

    /* a node name with a space, an unknown style, not an object */
    assert_null(exp_claim_parse("{\"runId\": \"r\", \"taskId\": "
                                "\"0f0e1d2c-3b4a-5968-7a8b-9cadbecfd0e1\", "
                                "\"node\": \"a b\"}", styles, &c));
    assert_null(exp_claim_parse("[1]", styles, &c));
    assert_null(exp_claim_parse("{", styles, &c));
}


static void
test_beat(void **state)
{
    yajl_val    root;
    exp_beat_t  b;

    (void) state;

    root = exp_beat_parse("{\"taskId\": "
                          "\"0f0e1d2c-3b4a-5968-7a8b-9cadbecfd0e1\", "
                          "\"attempt\": 3, \"node\": \"n1\", \"beat\": 9, "
                          "\"progress\": 9900, \"status\": \"QUEUED\"}", &b);
    assert_non_null(root);
    assert_int_equal(b.attempt, 3);
    assert_string_equal(b.node, "n1");
    assert_int_equal(b.beat, 9);
    assert_int_equal(b.progress, 9900);
    assert_string_equal(b.state, "QUEUED");
    yajl_tree_free(root);

    assert_null(exp_beat_parse("{\"taskId\": "
                               "\"0f0e1d2c-3b4a-5968-7a8b-9cadbecfd0e1\", "
                               "\"attempt\": 3, \"node\": \"n1\", "
                               "\"beat\": 9, \"progress\": 10001}", &b));
    assert_null(exp_beat_parse("{\"taskId\": \"x\", \"attempt\": 3, "
                               "\"node\": \"n1\", \"beat\": 9, "
                               "\"progress\": 1}", &b));
    assert_null(exp_beat_parse("{\"taskId\": "
                               "\"0f0e1d2c-3b4a-5968-7a8b-9cadbecfd0e1\", "
                               "\"attempt\": 3, \"node\": \"n/1\", "
                               "\"beat\": 9, \"progress\": 1}", &b));
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uuid),
        cmocka_unit_test(test_run),
        cmocka_unit_test(test_job_serial),
        cmocka_unit_test(test_list),
        cmocka_unit_test(test_form),
        cmocka_unit_test(test_hide),
        cmocka_unit_test(test_link),
        cmocka_unit_test(test_uniware),
        cmocka_unit_test(test_meta),
        cmocka_unit_test(test_claim),
        cmocka_unit_test(test_beat),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
