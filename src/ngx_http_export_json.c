
/*
 * Response bodies: ExportTaskRest and the Error object of the API, built
 * with yajl's generator.
 */


#include "ngx_http_export_module.h"

#include <yajl/yajl_gen.h>


#define ngx_http_export_gen_key(g, s)                                         \
    yajl_gen_string(g, (const unsigned char *) s, sizeof(s) - 1)

#define ngx_http_export_gen_cstr(g, s)                                        \
    yajl_gen_string(g, (const unsigned char *) s, ngx_strlen(s))


#define NGX_HTTP_EXPORT_BODY_SIZE   1024
#define NGX_HTTP_EXPORT_RFC3339_LEN  (sizeof("1970-01-01T00:00:00Z") - 1)
#define NGX_HTTP_EXPORT_YAJL_HEADER  ngx_align(sizeof(size_t), NGX_ALIGNMENT)


/* a body being generated: yajl prints into buffers of the request pool */
typedef struct {
    ngx_pool_t                 *pool;
    ngx_chain_t                *out;
    ngx_chain_t               **last;
    ngx_buf_t                  *buf;
    off_t                       size;
    ngx_uint_t                  failed;
} ngx_http_export_body_t;


static yajl_gen ngx_http_export_gen_alloc(ngx_http_request_t *r,
    ngx_http_export_body_t *body);
static void *ngx_http_export_yajl_malloc(void *ctx, size_t size);
static void *ngx_http_export_yajl_realloc(void *ctx, void *ptr,
    size_t size);
static void ngx_http_export_yajl_free(void *ctx, void *ptr);
static void ngx_http_export_gen_print(void *ctx, const char *str,
    size_t len);
static ngx_int_t ngx_http_export_send_gen(ngx_http_request_t *r,
    yajl_gen g, ngx_http_export_body_t *body, ngx_uint_t status);
static size_t ngx_http_export_json_len(u_char *src, size_t len);
static u_char *ngx_http_export_json_str(u_char *p, u_char *src, size_t len);
static ngx_int_t ngx_http_export_send_json(ngx_http_request_t *r,
    ngx_chain_t *out, off_t size, ngx_uint_t status);


static const char  *ngx_http_export_states[] = {
    "NOT_STARTED",
    "QUEUED",
    "IN_PROGRESS",
    "COMPLETED",
    "FAILED"
};


const char *
ngx_http_export_state_name(ngx_uint_t state)
{
    if (state > NGX_HTTP_EXPORT_FAILED) {
        return "FAILED";
    }

    return ngx_http_export_states[state];
}


/* 2026-11-22T16:00:00Z; ngx_gmtime() keeps the year within 4 digits */

u_char *
ngx_http_export_rfc3339(u_char *p, time_t t)
{
    ngx_tm_t  tm;

    ngx_gmtime(t, &tm);

    *p++ = (u_char) ('0' + tm.ngx_tm_year / 1000);
    *p++ = (u_char) ('0' + tm.ngx_tm_year / 100 % 10);
    *p++ = (u_char) ('0' + tm.ngx_tm_year / 10 % 10);
    *p++ = (u_char) ('0' + tm.ngx_tm_year % 10);
    *p++ = '-';
    *p++ = (u_char) ('0' + tm.ngx_tm_mon / 10);
    *p++ = (u_char) ('0' + tm.ngx_tm_mon % 10);
    *p++ = '-';
    *p++ = (u_char) ('0' + tm.ngx_tm_mday / 10);
    *p++ = (u_char) ('0' + tm.ngx_tm_mday % 10);
    *p++ = 'T';
    *p++ = (u_char) ('0' + tm.ngx_tm_hour / 10);
    *p++ = (u_char) ('0' + tm.ngx_tm_hour % 10);
    *p++ = ':';
    *p++ = (u_char) ('0' + tm.ngx_tm_min / 10);
    *p++ = (u_char) ('0' + tm.ngx_tm_min % 10);
    *p++ = ':';
    *p++ = (u_char) ('0' + tm.ngx_tm_sec / 10);
    *p++ = (u_char) ('0' + tm.ngx_tm_sec % 10);
    *p++ = 'Z';

    return p;
}


/* a JSON string: its length once escaped, with the quotes; and the text */

static size_t
ngx_http_export_json_len(u_char *src, size_t len)
{
    return len + 2 + ngx_escape_json(NULL, src, len);
}


static u_char *
ngx_http_export_json_str(u_char *p, u_char *src, size_t len)
{
    *p++ = '"';
    p = (u_char *) ngx_escape_json(p, src, len);
    *p++ = '"';

    return p;
}


/*
 * ExportTaskRest.  Its fields are known ahead, so the text is written
 * straight into one buffer sized beforehand (numbers at their longest):
 * the status GET is the request clients repeat most.  Strings that come
 * from outside (the link, report names, messages) are escaped as yajl
 * would.
 */

ngx_int_t
ngx_http_export_send_task(ngx_http_request_t *r,
    ngx_http_export_snapshot_t *snap, ngx_uint_t status)
{
    u_char                     *p;
    size_t                      len;
    time_t                      expires;
    ngx_buf_t                  *b;
    ngx_str_t                   url, error, name, reason;
    ngx_uint_t                  i, completed, failed;
    ngx_chain_t                 out;
    const char                 *state;
    ngx_http_export_ctx_t      *ctx;
    ngx_http_export_warning_t  *w;

    static ngx_str_t  remediation = ngx_string(
        "Check that the run's reports are readable and the export store "
        "has room, then start the export again; report the referenceToken "
        "if it fails again.");

    static ngx_str_t  no_error = ngx_string(
        "the export failed; error.log has the cause");

    ctx = ngx_http_export_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    completed = (snap->state == NGX_HTTP_EXPORT_COMPLETED);
    failed = (snap->state == NGX_HTTP_EXPORT_FAILED);

    ngx_http_export_uuid_text(ctx->id, snap->id);
    ctx->has_id = 1;
    ctx->state = snap->state;
    ctx->has_state = 1;

    if (failed) {
        ngx_http_export_uuid_text(ctx->ref, snap->ref);
        ctx->has_ref = 1;
    }

    ngx_str_null(&url);
    expires = 0;

    if (completed) {
        if (ngx_http_export_link_sign(r, snap, &url, &expires) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    /* the zone may have had no room for the text; error.log has it */
    error = snap->error.len ? snap->error : no_error;

    state = ngx_http_export_state_name(snap->state);

    len = sizeof("{\"status\":\"\",\"progress\":.,\"startTimestamp\":\"\","
                 "\"endTimestamp\":,\"id\":\"\",\"runId\":\"\","
                 "\"warnings\":[]}\n") - 1
          + ngx_strlen(state) + NGX_INT_T_LEN + 2
          + 2 * (NGX_HTTP_EXPORT_RFC3339_LEN + 2)
          + 2 * NGX_HTTP_EXPORT_UUID_LEN;

    if (completed) {
        len += sizeof(",\"downloadUrl\":,\"downloadUrlExpiresAt\":\"\","
                      "\"size\":") - 1
               + ngx_http_export_json_len(url.data, url.len)
               + NGX_HTTP_EXPORT_RFC3339_LEN + NGX_OFF_T_LEN;
    }

    if (failed) {
        len += sizeof(",\"error\":{\"message\":,\"remediationMessage\":,"
                      "\"referenceToken\":\"\"}") - 1
               + ngx_http_export_json_len(error.data, error.len)
               + ngx_http_export_json_len(remediation.data,
                                          remediation.len)
               + NGX_HTTP_EXPORT_UUID_LEN;
    }

    w = snap->warnings;

    for (i = 0; i < snap->nkept; i++) {
        len += sizeof(",{\"report\":,\"message\":,\"offset\":}") - 1
               + ngx_http_export_json_len(w[i].report,
                     ngx_strnlen(w[i].report, NGX_HTTP_EXPORT_WARN_REPORT))
               + ngx_http_export_json_len(w[i].reason,
                     ngx_strnlen(w[i].reason, NGX_HTTP_EXPORT_WARN_REASON))
               + NGX_INT64_LEN;
    }

    if (snap->nwarnings > snap->nkept) {
        len += sizeof(",\"warningsOmitted\":") - 1 + NGX_INT_T_LEN;
    }

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = b->last;

    p = ngx_cpymem(p, "{\"status\":\"", sizeof("{\"status\":\"") - 1);
    p = ngx_cpymem(p, state, ngx_strlen(state));

    /* 12.5 and 100.0, not 12.50 or 100 */

    p = ngx_sprintf(p, "\",\"progress\":%ui.%02ui",
                    snap->progress / 100, snap->progress % 100);
    if (p[-1] == '0') {
        p--;
    }

    p = ngx_cpymem(p, ",\"startTimestamp\":\"",
                   sizeof(",\"startTimestamp\":\"") - 1);
    p = ngx_http_export_rfc3339(p, snap->created);

    if (ngx_http_export_finished(snap->state)) {
        p = ngx_cpymem(p, "\",\"endTimestamp\":\"",
                       sizeof("\",\"endTimestamp\":\"") - 1);
        p = ngx_http_export_rfc3339(p, snap->finished);
        *p++ = '"';

    } else {
        p = ngx_cpymem(p, "\",\"endTimestamp\":null",
                       sizeof("\",\"endTimestamp\":null") - 1);
    }

    p = ngx_cpymem(p, ",\"id\":\"", sizeof(",\"id\":\"") - 1);
    p = ngx_cpymem(p, ctx->id, NGX_HTTP_EXPORT_UUID_LEN);

    p = ngx_cpymem(p, "\",\"runId\":\"", sizeof("\",\"runId\":\"") - 1);
    p = ngx_http_export_uuid_text(p, snap->run);
    *p++ = '"';

    if (completed) {
        p = ngx_cpymem(p, ",\"downloadUrl\":", sizeof(",\"downloadUrl\":") - 1);
        p = ngx_http_export_json_str(p, url.data, url.len);

        p = ngx_cpymem(p, ",\"downloadUrlExpiresAt\":\"",
                       sizeof(",\"downloadUrlExpiresAt\":\"") - 1);
        p = ngx_http_export_rfc3339(p, expires);

        p = ngx_sprintf(p, "\",\"size\":%O", snap->size);
    }

    if (failed) {
        p = ngx_cpymem(p, ",\"error\":{\"message\":",
                       sizeof(",\"error\":{\"message\":") - 1);
        p = ngx_http_export_json_str(p, error.data, error.len);

        p = ngx_cpymem(p, ",\"remediationMessage\":",
                       sizeof(",\"remediationMessage\":") - 1);
        p = ngx_http_export_json_str(p, remediation.data, remediation.len);

        p = ngx_cpymem(p, ",\"referenceToken\":\"",
                       sizeof(",\"referenceToken\":\"") - 1);
        p = ngx_cpymem(p, ctx->ref, NGX_HTTP_EXPORT_UUID_LEN);
        p = ngx_cpymem(p, "\"}", 2);
    }

    p = ngx_cpymem(p, ",\"warnings\":[", sizeof(",\"warnings\":[") - 1);

    for (i = 0; i < snap->nkept; i++) {
        name.data = w[i].report;
        name.len = ngx_strnlen(w[i].report, NGX_HTTP_EXPORT_WARN_REPORT);
        reason.data = w[i].reason;
        reason.len = ngx_strnlen(w[i].reason, NGX_HTTP_EXPORT_WARN_REASON);

        if (i) {
            *p++ = ',';
        }

        p = ngx_cpymem(p, "{\"report\":", sizeof("{\"report\":") - 1);
        p = ngx_http_export_json_str(p, name.data, name.len);
        p = ngx_cpymem(p, ",\"message\":", sizeof(",\"message\":") - 1);
        p = ngx_http_export_json_str(p, reason.data, reason.len);
        p = ngx_sprintf(p, ",\"offset\":%uL}", w[i].offset);
    }

    *p++ = ']';

    if (snap->nwarnings > snap->nkept) {
        p = ngx_sprintf(p, ",\"warningsOmitted\":%ui",
                        snap->nwarnings - snap->nkept);
    }

    *p++ = '}';
    *p++ = LF;

    b->last = p;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_export_send_json(r, &out, b->last - b->pos, status);
}


static const char *
ngx_http_export_error_type(ngx_uint_t status)
{
    switch (status) {
    case NGX_HTTP_BAD_REQUEST:
        return "VALIDATION";
    case NGX_HTTP_FORBIDDEN:
        return "ACCESS_DENIED";
    case NGX_HTTP_NOT_FOUND:
        return "NOT_FOUND";
    case NGX_HTTP_NOT_ALLOWED:
        return "METHOD_NOT_ALLOWED";
    case 429:
        return "RATE_LIMIT";
    case NGX_HTTP_SERVICE_UNAVAILABLE:
        return "CAPACITY";
    default:
        return "INTERNAL";
    }
}


/*
 * Sends the API's Error object.  A new referenceToken ties the answer to
 * the line this writes to error.log.
 */

ngx_int_t
ngx_http_export_send_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *code, ngx_str_t *message, const char *remediation,
    ngx_str_t *args, ngx_uint_t nargs, time_t retry_after)
{
    u_char                  ref[16];
    yajl_gen                g;
    ngx_uint_t              i, level;
    ngx_table_elt_t        *h;
    ngx_http_export_ctx_t  *ctx;
    ngx_http_export_body_t  body;

    ctx = ngx_http_export_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_export_uuid(ref);
    ngx_http_export_uuid_text(ctx->ref, ref);
    ctx->has_ref = 1;

    level = (status >= NGX_HTTP_INTERNAL_SERVER_ERROR) ? NGX_LOG_ERR
                                                       : NGX_LOG_INFO;

    ngx_log_error(level, r->connection->log, 0,
                  "export: %s: %V (referenceToken: %*s)",
                  code, message, (size_t) NGX_HTTP_EXPORT_UUID_LEN, ctx->ref);

    if (retry_after > 0) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Retry-After");
        h->value.data = ngx_pnalloc(r->pool, NGX_TIME_T_LEN);
        if (h->value.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->value.len = ngx_sprintf(h->value.data, "%T", retry_after)
                       - h->value.data;
    }

    g = ngx_http_export_gen_alloc(r, &body);
    if (g == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    yajl_gen_map_open(g);

    ngx_http_export_gen_key(g, "errorCode");
    ngx_http_export_gen_cstr(g, code);

    ngx_http_export_gen_key(g, "errorType");
    ngx_http_export_gen_cstr(g, ngx_http_export_error_type(status));

    ngx_http_export_gen_key(g, "arguments");
    yajl_gen_array_open(g);
    for (i = 0; i < nargs; i++) {
        yajl_gen_string(g, args[i].data, args[i].len);
    }
    yajl_gen_array_close(g);

    ngx_http_export_gen_key(g, "context");
    yajl_gen_map_open(g);
    ngx_http_export_gen_key(g, "context");
    ngx_http_export_gen_key(g, "export");
    if (ctx->run.len) {
        ngx_http_export_gen_key(g, "runId");
        yajl_gen_string(g, ctx->run.data, ctx->run.len);
    }
    yajl_gen_map_close(g);

    ngx_http_export_gen_key(g, "message");
    yajl_gen_string(g, message->data, message->len);

    ngx_http_export_gen_key(g, "remediationMessage");
    ngx_http_export_gen_cstr(g, remediation);

    ngx_http_export_gen_key(g, "referenceToken");
    yajl_gen_string(g, ctx->ref, NGX_HTTP_EXPORT_UUID_LEN);

    yajl_gen_map_close(g);

    return ngx_http_export_send_gen(r, g, &body, status);
}


/*
 * yajl allocates from the request pool and prints straight into the
 * body's buffers: no malloc() per answer and no copy of the text.
 */

static yajl_gen
ngx_http_export_gen_alloc(ngx_http_request_t *r, ngx_http_export_body_t *body)
{
    yajl_gen          g;
    yajl_alloc_funcs  funcs;

    body->pool = r->pool;
    body->out = NULL;
    body->last = &body->out;
    body->buf = NULL;
    body->size = 0;
    body->failed = 0;

    funcs.malloc = ngx_http_export_yajl_malloc;
    funcs.realloc = ngx_http_export_yajl_realloc;
    funcs.free = ngx_http_export_yajl_free;
    funcs.ctx = r->pool;

    g = yajl_gen_alloc(&funcs);
    if (g == NULL) {
        return NULL;
    }

    if (!yajl_gen_config(g, yajl_gen_print_callback,
                         ngx_http_export_gen_print, body))
    {
        yajl_gen_free(g);
        return NULL;
    }

    return g;
}


/* each block keeps its size before it, for realloc */

static void *
ngx_http_export_yajl_malloc(void *ctx, size_t size)
{
    u_char  *p;

    p = ngx_palloc(ctx, NGX_HTTP_EXPORT_YAJL_HEADER + size);
    if (p == NULL) {
        return NULL;
    }

    *(size_t *) p = size;

    return p + NGX_HTTP_EXPORT_YAJL_HEADER;
}


static void *
ngx_http_export_yajl_realloc(void *ctx, void *ptr, size_t size)
{
    u_char  *p;
    size_t   old;

    if (ptr == NULL) {
        return ngx_http_export_yajl_malloc(ctx, size);
    }

    old = *(size_t *) ((u_char *) ptr - NGX_HTTP_EXPORT_YAJL_HEADER);

    if (size <= old) {
        return ptr;
    }

    p = ngx_http_export_yajl_malloc(ctx, size);
    if (p == NULL) {
        return NULL;
    }

    ngx_memcpy(p, ptr, old);

    return p;
}


static void
ngx_http_export_yajl_free(void *ctx, void *ptr)
{
    /* the request pool frees it all */
}


static void
ngx_http_export_gen_print(void *ctx, const char *str, size_t len)
{
    ngx_http_export_body_t *body = ctx;

    size_t        n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    if (body->failed) {
        return;
    }

    body->size += len;

    for ( ;; ) {
        b = body->buf;

        if (b) {
            n = ngx_min((size_t) (b->end - b->last), len);
            b->last = ngx_cpymem(b->last, str, n);
            str += n;
            len -= n;
        }

        if (len == 0) {
            return;
        }

        b = ngx_create_temp_buf(body->pool,
                                ngx_max(len, NGX_HTTP_EXPORT_BODY_SIZE));
        if (b == NULL) {
            body->failed = 1;
            return;
        }

        cl = ngx_alloc_chain_link(body->pool);
        if (cl == NULL) {
            body->failed = 1;
            return;
        }

        cl->buf = b;
        cl->next = NULL;

        *body->last = cl;
        body->last = &cl->next;
        body->buf = b;
    }
}


static ngx_int_t
ngx_http_export_send_gen(ngx_http_request_t *r, yajl_gen g,
    ngx_http_export_body_t *body, ngx_uint_t status)
{
    ngx_buf_t  *b;

    ngx_http_export_gen_print(body, "\n", 1);

    yajl_gen_free(g);

    if (body->failed) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b = body->buf;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    return ngx_http_export_send_json(r, body->out, body->size, status);
}


static ngx_int_t
ngx_http_export_send_json(ngx_http_request_t *r, ngx_chain_t *out,
    off_t size, ngx_uint_t status)
{
    ngx_int_t  rc;

    r->headers_out.status = status;
    r->headers_out.content_length_n = size;
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    if (r->method == NGX_HTTP_HEAD) {
        r->header_only = 1;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    return ngx_http_output_filter(r, out);
}
