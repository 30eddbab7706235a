
/*
 * Response bodies: ExportTaskRest, written by the fixed-shape writer of
 * ngx_export_json.c (byte for byte what yajl printed, as its unit test
 * and fuzz harness prove), and the Error object, built with yajl's
 * generator.
 */


#include "ngx_http_export_module.h"
#include "ngx_export_json.h"

#include <yajl/yajl_gen.h>


#define NGX_HTTP_EXPORT_BODY_SIZE   1024
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


/* the task states are the writer's statuses, NOT_STARTED (0) to FAILED */

const char *
ngx_http_export_state_name(ngx_uint_t state)
{
    return exj_status_name(state > NGX_HTTP_EXPORT_FAILED
                           ? NGX_HTTP_EXPORT_FAILED : (unsigned) state);
}


/*
 * ExportTaskRest, the answer to every poll: the snapshot's fields handed
 * to the fixed-shape writer, whose text is what the module's yajl calls
 * printed before (the calls live on as the reference in t/unit/exj_ref.c).
 */

ngx_int_t
ngx_http_export_send_task(ngx_http_request_t *r,
    ngx_http_export_snapshot_t *snap, ngx_uint_t status)
{
    time_t                      expires;
    ngx_buf_t                  *b;
    ngx_str_t                   url;
    ngx_int_t                   rc;
    ngx_uint_t                  i;
    exj_task_t                  t;
    exj_warning_t              *ew;
    ngx_http_export_ctx_t      *ctx;
    ngx_http_export_warning_t  *w;

    ctx = ngx_http_export_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_export_uuid_text(ctx->id, snap->id);
    ctx->has_id = 1;
    ctx->state = snap->state;
    ctx->has_state = 1;

    if (snap->state == NGX_HTTP_EXPORT_FAILED) {
        ngx_http_export_uuid_text(ctx->ref, snap->ref);
        ctx->has_ref = 1;
    }

    ngx_str_null(&url);
    expires = 0;

    if (snap->state == NGX_HTTP_EXPORT_COMPLETED) {
        rc = ngx_http_export_link_sign(r, snap, ctx->id, &url, &expires);
        if (rc != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    ngx_memzero(&t, sizeof(exj_task_t));

    t.status = snap->state > NGX_HTTP_EXPORT_FAILED
               ? NGX_HTTP_EXPORT_FAILED : (unsigned) snap->state;
    t.progress = (unsigned) snap->progress;
    t.start = snap->created;
    t.end = snap->finished;
    t.id.data = ctx->id;
    t.id.len = NGX_HTTP_EXPORT_UUID_LEN;
    t.run.data = snap->run;
    t.run.len = snap->run_len;
    t.url.data = url.data;
    t.url.len = url.len;
    t.expires = expires;
    t.size = (uint64_t) snap->size;
    t.message.data = snap->error.data;
    t.message.len = snap->error.len;

    if (snap->state == NGX_HTTP_EXPORT_FAILED) {
        t.ref.data = ctx->ref;
        t.ref.len = NGX_HTTP_EXPORT_UUID_LEN;
    }

    if (snap->nkept) {
        ew = ngx_palloc(r->pool, snap->nkept * sizeof(exj_warning_t));
        if (ew == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        w = snap->warnings;

        for (i = 0; i < snap->nkept; i++) {
            ew[i].report.data = w[i].report;
            ew[i].report.len = ngx_strnlen(w[i].report,
                                           NGX_HTTP_EXPORT_WARN_REPORT);
            ew[i].message.data = w[i].reason;
            ew[i].message.len = ngx_strnlen(w[i].reason,
                                            NGX_HTTP_EXPORT_WARN_REASON);
            ew[i].offset = w[i].offset;
        }

        t.warnings = ew;
        t.nwarnings = snap->nkept;
    }

    if (snap->nwarnings > snap->nkept) {
        t.omitted = snap->nwarnings - snap->nkept;
    }

    /* the body and its new line */

    b = ngx_create_temp_buf(r->pool, exj_task_bound(&t) + 1);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last = exj_task_write(b->last, &t);
    *b->last++ = LF;

    return ngx_http_export_send_buf(r, b, status, "application/json",
                                    sizeof("application/json") - 1);
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
    ngx_int_t   rc;
    ngx_buf_t  *b;

    ngx_http_export_gen_print(body, "\n", 1);

    yajl_gen_free(g);

    if (body->failed) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b = body->buf;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    r->headers_out.status = status;
    r->headers_out.content_length_n = body->size;
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

    return ngx_http_output_filter(r, body->out);
}


/*
 * The answers of the other API styles: a generator of their own, whose
 * text is copied into one buffer and freed (ArcGIS's html page reads the
 * same text back).
 */

ngx_int_t
ngx_http_export_send_yajl(ngx_http_request_t *r, void *gen,
    ngx_uint_t status)
{
    yajl_gen  g = gen;

    size_t                len;
    ngx_buf_t            *b;
    const unsigned char  *json;

    if (yajl_gen_get_buf(g, &json, &len) != yajl_gen_status_ok) {
        yajl_gen_free(g);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* a pretty-printed text ends in a new line already */

    b = ngx_create_temp_buf(r->pool, len + 1);
    if (b == NULL) {
        yajl_gen_free(g);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last = ngx_cpymem(b->last, json, len);

    if (len == 0 || json[len - 1] != LF) {
        *b->last++ = LF;
    }

    yajl_gen_free(g);

    return ngx_http_export_send_buf(r, b, status, "application/json",
                                    sizeof("application/json") - 1);
}


/*
 * Sends one buffer as the whole answer: "type" is the Content-Type,
 * "type_len" the length of its media type without parameters.
 */

ngx_int_t
ngx_http_export_send_buf(ngx_http_request_t *r, ngx_buf_t *b,
    ngx_uint_t status, const char *type, size_t type_len)
{
    ngx_int_t    rc;
    ngx_chain_t  out;

    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    r->headers_out.status = status;
    r->headers_out.content_length_n = b->last - b->pos;
    r->headers_out.content_type.data = (u_char *) type;
    r->headers_out.content_type.len = ngx_strlen(type);
    r->headers_out.content_type_len = type_len;
    r->headers_out.content_type_lowcase = NULL;

    if (r->method == NGX_HTTP_HEAD) {
        r->header_only = 1;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}
