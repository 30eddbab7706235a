
/*
 * ExportTaskRest as ngx_http_export_send_task() printed it with yajl
 * before the fixed-shape writer: the same generator settings (none), the
 * same calls in the same order, times through gmtime_r() and numbers as
 * the module's text.  Only the source of the values differs: an
 * exj_task_t instead of a task snapshot.
 */


#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_gen.h>

#include "exj_ref.h"


#define key(g, s)   yajl_gen_string(g, (const unsigned char *) s,           \
                                    sizeof(s) - 1)
#define cstr(g, s)  yajl_gen_string(g, (const unsigned char *) s, strlen(s))


static int
ref_time(yajl_gen g, time_t t)
{
    char       buf[64];
    struct tm  tm;

    if (t < 0) {
        t = 0;

    } else if ((long long) t > EXJ_TIME_MAX) {
        t = (time_t) EXJ_TIME_MAX;
    }

    if (gmtime_r(&t, &tm) == NULL) {
        return -1;
    }

    snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02dZ",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec);

    return yajl_gen_string(g, (const unsigned char *) buf, strlen(buf));
}


static int
ref_uint(yajl_gen g, uint64_t n)
{
    char  buf[32];
    int   len;

    len = snprintf(buf, sizeof(buf), "%" PRIu64, n);

    return yajl_gen_number(g, buf, len);
}


unsigned char *
exj_ref_task(const exj_task_t *t, size_t *len)
{
    int                   rc;
    char                  num[64];
    size_t                i, n;
    unsigned              status;
    yajl_gen              g;
    unsigned char        *out;
    const unsigned char  *buf;

    g = yajl_gen_alloc(NULL);
    if (g == NULL) {
        return NULL;
    }

    status = t->status;
    rc = 0;

    rc |= yajl_gen_map_open(g);

    rc |= key(g, "status");
    rc |= cstr(g, exj_status_name(status));

    if (status > EXJ_FAILED) {
        status = EXJ_FAILED;
    }

    /* the module's number text, "%ui.%02ui" less one trailing 0 */

    rc |= key(g, "progress");
    n = snprintf(num, sizeof(num), "%u.%02u", t->progress / 100,
                 t->progress % 100);
    if (num[n - 1] == '0') {
        n--;
    }
    rc |= yajl_gen_number(g, num, n);

    rc |= key(g, "startTimestamp");
    rc |= ref_time(g, t->start);

    rc |= key(g, "endTimestamp");
    if (status == EXJ_COMPLETED || status == EXJ_FAILED) {
        rc |= ref_time(g, t->end);

    } else {
        rc |= yajl_gen_null(g);
    }

    rc |= key(g, "id");
    rc |= yajl_gen_string(g, t->id.data, t->id.len);

    rc |= key(g, "runId");
    rc |= yajl_gen_string(g, t->run.data, t->run.len);

    if (status == EXJ_COMPLETED) {
        rc |= key(g, "downloadUrl");
        rc |= yajl_gen_string(g, t->url.data, t->url.len);

        rc |= key(g, "downloadUrlExpiresAt");
        rc |= ref_time(g, t->expires);

        rc |= key(g, "size");
        rc |= ref_uint(g, t->size);
    }

    if (status == EXJ_FAILED) {
        rc |= key(g, "error");
        rc |= yajl_gen_map_open(g);

        rc |= key(g, "message");
        if (t->message.len) {
            rc |= yajl_gen_string(g, t->message.data, t->message.len);

        } else {
            rc |= cstr(g, EXJ_NO_CAUSE);
        }

        rc |= key(g, "remediationMessage");
        rc |= cstr(g, EXJ_REMEDY);

        rc |= key(g, "referenceToken");
        rc |= yajl_gen_string(g, t->ref.data, t->ref.len);

        rc |= yajl_gen_map_close(g);
    }

    rc |= key(g, "warnings");
    rc |= yajl_gen_array_open(g);

    for (i = 0; i < t->nwarnings; i++) {
        rc |= yajl_gen_map_open(g);

        rc |= key(g, "report");
        rc |= yajl_gen_string(g, t->warnings[i].report.data,
                              t->warnings[i].report.len);

        rc |= key(g, "message");
        rc |= yajl_gen_string(g, t->warnings[i].message.data,
                              t->warnings[i].message.len);

        rc |= key(g, "offset");
        rc |= ref_uint(g, t->warnings[i].offset);

        rc |= yajl_gen_map_close(g);
    }

    rc |= yajl_gen_array_close(g);

    if (t->omitted) {
        rc |= key(g, "warningsOmitted");
        rc |= yajl_gen_integer(g, (long long) t->omitted);
    }

    rc |= yajl_gen_map_close(g);

    out = NULL;

    if (rc == yajl_gen_status_ok
        && yajl_gen_get_buf(g, &buf, len) == yajl_gen_status_ok)
    {
        out = malloc(*len ? *len : 1);
        if (out) {
            memcpy(out, buf, *len);
        }
    }

    yajl_gen_free(g);

    return out;
}


/* the bytes of a fuzz input, read in order; zeros once they run out */

typedef struct {
    const unsigned char  *p;
    const unsigned char  *end;
} ref_bytes_t;


static unsigned
ref_byte(ref_bytes_t *b)
{
    return (b->p < b->end) ? *b->p++ : 0;
}


static uint64_t
ref_u64(ref_bytes_t *b, unsigned n)
{
    unsigned  i;
    uint64_t  v;

    v = 0;

    for (i = 0; i < n; i++) {
        v = (v << 8) | ref_byte(b);
    }

    return v;
}


static time_t
ref_time_of(ref_bytes_t *b)
{
    unsigned  mode;
    uint64_t  v;

    mode = ref_byte(b);
    v = ref_u64(b, 5);

    switch (mode % 8) {
    case 0:
        return 0;
    case 1:
        return (time_t) EXJ_TIME_MAX;
    case 2:
        /* out of range: the writer and the reference both clamp */
        return (mode & 0x80) ? -(time_t) (v % 100000 + 1)
                             : (time_t) (EXJ_TIME_MAX + 1 + v % 100000);
    case 3:
        /* one 400-year era from 2000-01-01: every kind of leap year */
        return (time_t) (v % (146097ULL * 86400)) + (time_t) 946684800;
    default:
        return (time_t) (v % ((uint64_t) EXJ_TIME_MAX + 1));
    }
}


/* the pieces a string is made of in "pieces" mode */

static const char  *ref_pieces[] = {
    "\"", "\\", "/", "\x7f", "\xc3\xa9", "\xe2\x82\xac",
    "\xf0\x9d\x84\x9e", "\xef\xbb\xbf", "\xed\xa0\x80", "\xc0\xaf",
    "\xff", "\x80", "\xe2\x82", "a", "Z", "0", "-", " ", "%", "u00",
    "\\u0041", "\xe2\x80\xa8", "\xc2\x85", "}", "]", ",", ":"
};

#define REF_NPIECES  (sizeof(ref_pieces) / sizeof(ref_pieces[0]))


static void
ref_string(exj_ref_input_t *in, ref_bytes_t *b, exj_str_t *s)
{
    size_t          n, len, room, i, k;
    unsigned        mode, c;
    unsigned char  *p;

    mode = ref_byte(b);
    len = ref_byte(b);

    if (mode & 0x80) {
        len = len * 4 + (mode & 3);     /* longer ones, up to 1 KiB */
    }

    p = in->arena + in->used;
    room = EXJ_REF_ARENA - in->used;
    n = 0;

    switch (mode % 4) {

    case 0:     /* raw bytes of the input */
        for (i = 0; i < len && n < room; i++) {
            p[n++] = (unsigned char) ref_byte(b);
        }

        break;

    case 1:     /* every control byte, and the byte after them */
        for (i = 0; i < len && n < room; i++) {
            p[n++] = (unsigned char) (ref_byte(b) % 0x21);
        }

        break;

    case 2:     /* pieces that need care */
        for (i = 0; i < len; i++) {
            c = ref_byte(b);

            if (c < 0x20) {
                if (n == room) {
                    break;
                }

                p[n++] = (unsigned char) c;
                continue;
            }

            k = strlen(ref_pieces[c % REF_NPIECES]);

            if (n + k > room) {
                break;
            }

            memcpy(p + n, ref_pieces[c % REF_NPIECES], k);
            n += k;
        }

        break;

    default:    /* an id as the module has them: 36 bytes of hex */
        for (i = 0; i < 36 && n < room; i++) {
            c = ref_byte(b);
            p[n++] = (i == 8 || i == 13 || i == 18 || i == 23)
                     ? '-' : "0123456789abcdef"[c & 0xf];
        }

        break;
    }

    s->data = p;
    s->len = n;
    in->used += n;
}


void
exj_ref_build(exj_ref_input_t *in, const unsigned char *data, size_t size)
{
    size_t        i;
    unsigned      mode;
    ref_bytes_t   b;
    exj_task_t   *t;

    b.p = data;
    b.end = data + size;
    in->used = 0;

    t = &in->t;
    memset(t, 0, sizeof(exj_task_t));

    mode = ref_byte(&b);

    /* one status past FAILED now and then: both take it as FAILED */
    t->status = mode % 6;

    t->progress = (mode & 0x40) ? (unsigned) ref_u64(&b, 4)
                                : (unsigned) (ref_u64(&b, 2) % 10001);

    t->start = ref_time_of(&b);
    t->end = ref_time_of(&b);
    t->expires = ref_time_of(&b);
    t->size = ref_u64(&b, 1 + ref_byte(&b) % 8);

    ref_string(in, &b, &t->id);
    ref_string(in, &b, &t->run);
    ref_string(in, &b, &t->url);
    ref_string(in, &b, &t->message);
    ref_string(in, &b, &t->ref);

    t->nwarnings = ref_byte(&b) % (EXJ_REF_WARNINGS + 1);

    for (i = 0; i < t->nwarnings; i++) {
        ref_string(in, &b, &in->w[i].report);
        ref_string(in, &b, &in->w[i].message);
        in->w[i].offset = ref_u64(&b, 1 + ref_byte(&b) % 8);
    }

    t->warnings = in->w;

    /* yajl_gen_integer() takes a long long */
    t->omitted = (mode & 0x80) ? ref_u64(&b, 1 + ref_byte(&b) % 8)
                                 % ((uint64_t) INT64_MAX + 1)
                               : 0;
}
