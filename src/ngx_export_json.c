
/*
 * ExportTaskRest written straight into one buffer.  yajl's generator
 * (without beautify, escape_solidus or validate_utf8, as the module
 * configured it) printed no spaces, the members in the order of the
 * calls, strings escaped by yajl_string_encode() and numbers as the text
 * it was given; this writes the same text from the same fields.  yajl
 * stays the reference: t/unit/test_json.c and t/fuzz/fuzz_json.c print
 * each body with both and compare the bytes.
 */


#include <string.h>

#include "ngx_export_json.h"


#define exj_cpy(p, s)  (memcpy(p, s, sizeof(s) - 1), (p) + sizeof(s) - 1)

#define EXJ_UINT_LEN    20              /* 2^64 - 1 */
#define EXJ_PROGRESS_LEN  (EXJ_UINT_LEN + 3)


/* the parts of the body around its values, in the order written */
#define EXJ_A           "{\"status\":\""
#define EXJ_B           "\",\"progress\":"
#define EXJ_C           ",\"startTimestamp\":\""
#define EXJ_D           "\",\"endTimestamp\":\""
#define EXJ_D_NULL      "\",\"endTimestamp\":null"
#define EXJ_E           "\",\"id\":\""
#define EXJ_E_NULL      ",\"id\":\""
#define EXJ_F           "\",\"runId\":\""
#define EXJ_G           "\",\"downloadUrl\":\""
#define EXJ_H           "\",\"downloadUrlExpiresAt\":\""
#define EXJ_I           "\",\"size\":"
#define EXJ_J           ",\"error\":{\"message\":\""
#define EXJ_K           "\",\"remediationMessage\":\"" EXJ_REMEDY
#define EXJ_L           "\",\"referenceToken\":\""
#define EXJ_M           "\"}"
#define EXJ_N           ",\"warnings\":["
#define EXJ_W_A         ",{\"report\":\""
#define EXJ_W_B         "\",\"message\":\""
#define EXJ_W_C         "\",\"offset\":"
#define EXJ_W_D         "}"
#define EXJ_O           "],\"warningsOmitted\":"
#define EXJ_P           "}"

#define exj_len(s)      (sizeof(s) - 1)


static unsigned char *exj_two(unsigned char *p, unsigned n);


static const char  *exj_status_names[] = {
    "NOT_STARTED",
    "QUEUED",
    "IN_PROGRESS",
    "COMPLETED",
    "FAILED"
};


/*
 * What yajl_string_encode() writes for a byte: 0 for the byte itself,
 * else the letter after the backslash, 'u' for \u00XX (upper case hex).
 * No '/' (escape_solidus is off), nothing from 0x7f up: yajl does not
 * look at UTF-8 when it prints.
 */

static const unsigned char  exj_esc[256] = {
    'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u',
    'b', 't', 'n', 'u', 'f', 'r', 'u', 'u',
    'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u',
    'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u',
    0, 0, '"', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, '\\', 0, 0, 0
};


const char *
exj_status_name(unsigned status)
{
    return exj_status_names[status > EXJ_FAILED ? EXJ_FAILED : status];
}


/*
 * Eight bytes at a time while none of them needs an escape (a byte below
 * 0x20, '"' or '\\'; the tests are exact for a whole word), one at a
 * time through the table otherwise: the link and the ids of a status
 * answer are some 200 bytes that need none.
 */

#define EXJ_ONES   0x0101010101010101ULL
#define EXJ_HIGH   0x8080808080808080ULL

#define exj_zero_byte(x)  (((x) - EXJ_ONES) & ~(x) & EXJ_HIGH)
#define exj_clean(x)                                                          \
    (!((((x) - 0x20 * EXJ_ONES) & ~(x) & EXJ_HIGH)                            \
       | exj_zero_byte((x) ^ ('"' * EXJ_ONES))                                \
       | exj_zero_byte((x) ^ ('\\' * EXJ_ONES))))


unsigned char *
exj_escape(unsigned char *p, const unsigned char *s, size_t len)
{
    size_t          i, n;
    uint64_t        x;
    unsigned char   c, e;

    static const char  hex[] = "0123456789ABCDEF";

    for (i = 0; i < len; i += n) {
        n = 1;

        if (len - i >= 8) {
            memcpy(&x, s + i, 8);

            if (exj_clean(x)) {
                memcpy(p, s + i, 8);
                p += 8;
                n = 8;
                continue;
            }
        }

        c = s[i];
        e = exj_esc[c];

        if (e == 0) {
            *p++ = c;
            continue;
        }

        *p++ = '\\';
        *p++ = e;

        if (e == 'u') {
            *p++ = '0';
            *p++ = '0';
            *p++ = hex[c >> 4];
            *p++ = hex[c & 0xf];
        }
    }

    return p;
}


unsigned char *
exj_uint(unsigned char *p, uint64_t n)
{
    size_t          len;
    unsigned char   buf[EXJ_UINT_LEN], *q;

    q = buf + sizeof(buf);

    do {
        *--q = (unsigned char) ('0' + n % 10);
        n /= 10;
    } while (n);

    len = buf + sizeof(buf) - q;
    memcpy(p, q, len);

    return p + len;
}


/* two digits, zero-padded, n < 100: the fields of a time */

static unsigned char *
exj_two(unsigned char *p, unsigned n)
{
    static const char  pairs[] =
        "00010203040506070809101112131415161718192021222324252627282930313233"
        "34353637383940414243444546474849505152535455565758596061626364656667"
        "6869707172737475767778798081828384858687888990919293949596979899";

    memcpy(p, pairs + 2 * n, 2);

    return p + 2;
}


/*
 * The civil date of a day count since 1970 (Howard Hinnant's
 * days_from_civil inverted), for t >= 0: no gmtime_r() and no time zone
 * lock in a status GET.
 */

unsigned char *
exj_rfc3339(unsigned char *p, time_t t)
{
    unsigned   sec, day, era, doe, yoe, doy, mp, d, m, y;
    uint64_t   days;

    if (t < 0) {
        t = 0;

    } else if ((long long) t > EXJ_TIME_MAX) {
        t = (time_t) EXJ_TIME_MAX;
    }

    days = (uint64_t) t / 86400;
    sec = (unsigned) ((uint64_t) t % 86400);

    /* days since 0000-03-01, in 400-year eras of 146097 days */
    day = (unsigned) (days + 719468);
    era = day / 146097;
    doe = day - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    d = doy - (153 * mp + 2) / 5 + 1;
    m = mp < 10 ? mp + 3 : mp - 9;
    y = yoe + era * 400 + (m <= 2);

    p = exj_two(p, y / 100);
    p = exj_two(p, y % 100);
    *p++ = '-';
    p = exj_two(p, m);
    *p++ = '-';
    p = exj_two(p, d);
    *p++ = 'T';
    p = exj_two(p, sec / 3600);
    *p++ = ':';
    p = exj_two(p, sec / 60 % 60);
    *p++ = ':';
    p = exj_two(p, sec % 60);
    *p++ = 'Z';

    return p;
}


/*
 * The bound counts every part that the status may write, each string at
 * 6 bytes a byte (\u00XX), each number at its widest.
 */

size_t
exj_task_bound(const exj_task_t *t)
{
    size_t                i, len;
    const exj_warning_t  *w;

    len = exj_len(EXJ_A) + exj_len("NOT_STARTED") + exj_len(EXJ_B)
          + EXJ_PROGRESS_LEN + exj_len(EXJ_C) + EXJ_TIME_LEN
          + exj_len(EXJ_D) + EXJ_TIME_LEN + exj_len(EXJ_E)
          + 6 * t->id.len + exj_len(EXJ_F) + 6 * t->run.len
          + exj_len(EXJ_G) + 6 * t->url.len + exj_len(EXJ_H) + EXJ_TIME_LEN
          + exj_len(EXJ_I) + EXJ_UINT_LEN
          + exj_len(EXJ_J) + exj_len(EXJ_NO_CAUSE) + 6 * t->message.len
          + exj_len(EXJ_K) + exj_len(EXJ_L) + 6 * t->ref.len + exj_len(EXJ_M)
          + exj_len(EXJ_N) + exj_len(EXJ_O) + EXJ_UINT_LEN + exj_len(EXJ_P);

    w = t->warnings;

    for (i = 0; i < t->nwarnings; i++) {
        len += exj_len(EXJ_W_A) + 6 * w[i].report.len + exj_len(EXJ_W_B)
               + 6 * w[i].message.len + exj_len(EXJ_W_C) + EXJ_UINT_LEN
               + exj_len(EXJ_W_D);
    }

    return len;
}


/*
 * The members in the order the module's yajl calls made them: status,
 * progress, startTimestamp, endTimestamp, id, runId, [downloadUrl,
 * downloadUrlExpiresAt, size], [error], warnings, [warningsOmitted].
 */

unsigned char *
exj_task_write(unsigned char *p, const exj_task_t *t)
{
    size_t                i;
    unsigned              status;
    const char           *name;
    const exj_warning_t  *w;

    status = t->status > EXJ_FAILED ? EXJ_FAILED : t->status;
    name = exj_status_names[status];

    p = exj_cpy(p, EXJ_A);
    i = strlen(name);
    memcpy(p, name, i);
    p += i;

    /* the module's number text: 12.34, 12.3 for 12.30, 100.0 for 100.00 */

    p = exj_cpy(p, EXJ_B);
    p = exj_uint(p, t->progress / 100);
    *p++ = '.';
    *p++ = (unsigned char) ('0' + t->progress % 100 / 10);
    *p++ = (unsigned char) ('0' + t->progress % 10);

    if (p[-1] == '0') {
        p--;
    }

    p = exj_cpy(p, EXJ_C);
    p = exj_rfc3339(p, t->start);

    if (status == EXJ_COMPLETED || status == EXJ_FAILED) {
        p = exj_cpy(p, EXJ_D);
        p = exj_rfc3339(p, t->end);
        p = exj_cpy(p, EXJ_E);

    } else {
        p = exj_cpy(p, EXJ_D_NULL);
        p = exj_cpy(p, EXJ_E_NULL);
    }

    p = exj_escape(p, t->id.data, t->id.len);
    p = exj_cpy(p, EXJ_F);
    p = exj_escape(p, t->run.data, t->run.len);

    if (status == EXJ_COMPLETED) {
        p = exj_cpy(p, EXJ_G);
        p = exj_escape(p, t->url.data, t->url.len);
        p = exj_cpy(p, EXJ_H);
        p = exj_rfc3339(p, t->expires);
        p = exj_cpy(p, EXJ_I);
        p = exj_uint(p, t->size);

    } else {
        *p++ = '"';
    }

    if (status == EXJ_FAILED) {
        p = exj_cpy(p, EXJ_J);

        if (t->message.len) {
            p = exj_escape(p, t->message.data, t->message.len);

        } else {
            p = exj_cpy(p, EXJ_NO_CAUSE);
        }

        p = exj_cpy(p, EXJ_K);
        p = exj_cpy(p, EXJ_L);
        p = exj_escape(p, t->ref.data, t->ref.len);
        p = exj_cpy(p, EXJ_M);
    }

    p = exj_cpy(p, EXJ_N);

    w = t->warnings;

    for (i = 0; i < t->nwarnings; i++) {
        /* the first without its comma */
        if (i == 0) {
            p = exj_cpy(p, "{\"report\":\"");

        } else {
            p = exj_cpy(p, EXJ_W_A);
        }

        p = exj_escape(p, w[i].report.data, w[i].report.len);
        p = exj_cpy(p, EXJ_W_B);
        p = exj_escape(p, w[i].message.data, w[i].message.len);
        p = exj_cpy(p, EXJ_W_C);
        p = exj_uint(p, w[i].offset);
        p = exj_cpy(p, EXJ_W_D);
    }

    if (t->omitted) {
        p = exj_cpy(p, EXJ_O);
        p = exj_uint(p, t->omitted);

    } else {
        *p++ = ']';
    }

    p = exj_cpy(p, EXJ_P);

    return p;
}
