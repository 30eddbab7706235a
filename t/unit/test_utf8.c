
/*
 * Unit tests of the strict UTF-8 helpers (src/ngx_export_utf8.c).
 */


#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ngx_export_utf8.h"


/* the offset exu_check() gives, and the reason it names */

static void
bad(const char *s, size_t off, const char *why)
{
    size_t       n;
    const char  *w;

    w = NULL;
    n = exu_check((const unsigned char *) s, strlen(s), &w);
    assert_int_equal(n, off);
    assert_non_null(w);
    assert_string_equal(w, why);
}


static void
good(const char *s)
{
    const char  *w;

    assert_int_equal(exu_check((const unsigned char *) s, strlen(s), &w),
                     strlen(s));
}


static void
test_valid(void **state)
{
    (void) state;

    good("");
    good("plain ascii");
    good("\xc2\x80");                   /* U+0080 */
    good("\xdf\xbf");                   /* U+07FF */
    good("\xe0\xa0\x80");               /* U+0800 */
    good("\xed\x9f\xbf");               /* U+D7FF */
    good("\xee\x80\x80");               /* U+E000 */
    good("\xef\xbf\xbf");               /* U+FFFF */
    good("\xf0\x90\x80\x80");           /* U+10000 */
    good("\xf4\x8f\xbf\xbf");           /* U+10FFFF */
    good("caf\xc3\xa9 \xf0\x9f\x98\x80");
}


static void
test_overlong(void **state)
{
    (void) state;

    bad("a\xc0\xaf", 1, "overlong form");
    bad("a\xc1\xbf", 1, "overlong form");
    bad("a\xe0\x80\xaf", 2, "overlong form");
    bad("a\xe0\x9f\xbf", 2, "overlong form");
    bad("a\xf0\x80\x80\xaf", 2, "overlong form");
    bad("a\xf0\x8f\xbf\xbf", 2, "overlong form");
}


static void
test_surrogate(void **state)
{
    (void) state;

    bad("\xed\xa0\x80", 1, "surrogate");
    bad("\xed\xbf\xbf", 1, "surrogate");
    bad("x\xed\xb0\x80", 2, "surrogate");
}


static void
test_past_max(void **state)
{
    (void) state;

    bad("\xf4\x90\x80\x80", 1, "code point past U+10FFFF");
    bad("\xf5\x80\x80\x80", 0, "code point past U+10FFFF");
    bad("\xf7\xbf\xbf\xbf", 0, "code point past U+10FFFF");
    bad("\xfe", 0, "code point past U+10FFFF");
    bad("\xff\xfe", 0, "code point past U+10FFFF");
}


static void
test_truncated(void **state)
{
    (void) state;

    bad("\x80", 0, "stray continuation byte");
    bad("a\xc3(", 2, "truncated sequence");
    bad("ab\xe2\x82", 2, "truncated sequence");
    bad("\xf0\x9f\x98", 0, "truncated sequence");
}


static void
test_feed_pieces(void **state)
{
    size_t         i, n;
    const char    *w;
    exu_state_t    st = { 0, 0x80, 0xbf };
    const char     s[] = "\xf0\x9f\x98\x80\xe0\xa0\x80";
    const char     t[] = "\xe0\x9f\x80";

    (void) state;

    for (i = 0; i < sizeof(s) - 1; i++) {
        assert_int_equal(exu_feed(&st, (const unsigned char *) s + i, 1, &w),
                         1);
    }

    assert_false(exu_pending(&st));

    assert_int_equal(exu_feed(&st, (const unsigned char *) t, 1, &w), 1);
    assert_true(exu_pending(&st));
    n = exu_feed(&st, (const unsigned char *) t + 1, 2, &w);
    assert_int_equal(n, 0);
    assert_string_equal(w, "overlong form");
}


static void
name(const char *in, size_t len, const char *want)
{
    size_t          n;
    unsigned char   buf[256];

    n = exu_escape_name(NULL, (const unsigned char *) in, len);
    assert_int_equal(n, strlen(want));
    assert_int_equal(exu_escape_name(buf, (const unsigned char *) in, len),
                     n);
    assert_memory_equal(buf, want, n);

    /* the result is valid UTF-8 */
    assert_int_equal(exu_check(buf, n, &in), n);
}


static void
test_escape_name(void **state)
{
    (void) state;

    name("a.json", 6, "a.json");
    name("caf\xc3\xa9.json", 10, "caf\xc3\xa9.json");
    name("\xff\xfe.json", 7, "%FF%FE.json");
    name("%FF%FE.json", 11, "%25FF%25FE.json");
    name("a\nb", 3, "a%0Ab");
    name("a\0b", 3, "a%00b");
    name("\x7f", 1, "%7F");
    name("\xed\xa0\x80", 3, "%ED%A0%80");
    name("\xc0\xaf", 2, "%C0%AF");
    name("\xe2\x82", 2, "%E2%82");
    name("\xe2\x82\xac", 3, "\xe2\x82\xac");
    name("x\xf0\x9f\x98", 4, "x%F0%9F%98");
}


static void
logged(const char *in, const char *want)
{
    size_t          n, len;
    unsigned char   buf[256];

    len = strlen(in);
    n = exu_escape_log(NULL, (const unsigned char *) in, len);
    assert_int_equal(n, strlen(want));
    assert_int_equal(exu_escape_log(buf, (const unsigned char *) in, len), n);
    assert_memory_equal(buf, want, n);
}


static void
test_escape_log(void **state)
{
    (void) state;

    logged("run-1", "run-1");
    logged("a\nb", "a\\x0Ab");
    logged("x\r\n2026/01/01 [emerg] forged",
           "x\\x0D\\x0A2026/01/01 [emerg] forged");
    logged("\x1b[31m", "\\x1B[31m");
    logged("\\x0A", "\\x5Cx0A");
    logged("q\"", "q\\x22");
    logged("\xff\xfe", "\\xFF\\xFE");
    logged("caf\xc3\xa9", "caf\xc3\xa9");
}


/* the prefix exu_cut() keeps */

static void
cut(const char *s, size_t max, int name, const char *want)
{
    assert_int_equal(exu_cut((const unsigned char *) s, strlen(s), max, name),
                     strlen(want));
    assert_memory_equal(s, want, strlen(want));
}


static void
test_cut(void **state)
{
    (void) state;

    cut("abc", 5, 0, "abc");
    cut("abc", 3, 1, "abc");
    cut("abcdef", 4, 0, "abcd");

    /* never inside a character: 2, 3 and 4 bytes */
    cut("a\xc3\xa9", 2, 0, "a");
    cut("a\xc3\xa9" "b", 3, 0, "a\xc3\xa9");
    cut("\xe6\x9d\xb1\xe4\xba\xac", 4, 0, "\xe6\x9d\xb1");
    cut("\xe6\x9d\xb1\xe4\xba\xac", 5, 0, "\xe6\x9d\xb1");
    cut("\xf0\x9f\x98\x80", 3, 0, "");

    /* never inside a %XX of the name rule */
    cut("ab%FF%FE", 3, 1, "ab");
    cut("ab%FF%FE", 4, 1, "ab");
    cut("ab%FF%FE", 5, 1, "ab%FF");
    cut("ab%FF%FE", 6, 1, "ab%FF");

    /* as text, '%' is a character like another */
    cut("ab%FF%FE", 4, 0, "ab%F");
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_overlong),
        cmocka_unit_test(test_surrogate),
        cmocka_unit_test(test_past_max),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_feed_pieces),
        cmocka_unit_test(test_escape_name),
        cmocka_unit_test(test_escape_log),
        cmocka_unit_test(test_cut),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
