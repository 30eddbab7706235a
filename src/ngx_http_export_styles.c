
/*
 * The other source systems' APIs on the same engine ("export_api
 * style=..."): what the three styles share.  Each style only reads
 * requests and writes answers in its own dialect (ngx_http_export_arcgis.c,
 * ngx_http_export_uniware.c, ngx_http_export_webadmit.c); starting, the
 * task table, the quota, the archive and the links are the VMware API's.
 */


#include "ngx_http_export_module.h"
#include "ngx_http_export_cluster.h"


#define NGX_HTTP_EXPORT_BODY_FIRST    4096    /* a chunked body's start */


static void ngx_http_export_body_read(ngx_http_request_t *r);
static ngx_int_t ngx_http_export_style_answer(ngx_http_request_t *r);
static ngx_int_t ngx_http_export_too_large(ngx_http_request_t *r);
static ngx_int_t ngx_http_export_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_int_t ngx_http_export_body_add(ngx_http_request_t *r,
    ngx_http_export_ctx_t *ctx, u_char *data, size_t len);


static ngx_http_request_body_filter_pt  ngx_http_export_next_body_filter;


/*
 * The request body is read first, whatever the method, within the
 * location's limit; a body over it is answered 413 in the style, as soon
 * as it is known: at once with a Content-Length, when the limit is
 * passed with a chunked body.
 */

ngx_int_t
ngx_http_export_style_handler(ngx_http_request_t *r)
{
    ngx_int_t                    rc;
    ngx_http_export_ctx_t       *ctx;
    ngx_http_export_loc_conf_t  *elcf;

    elcf = ngx_http_get_module_loc_conf(r, ngx_http_export_module);

    ctx = ngx_http_export_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->shm_zone = elcf->shm_zone;

    if (r != r->main) {
        return ngx_http_export_style_answer(r);
    }

    if (r->headers_in.content_length_n > (off_t) elcf->body_limit) {
        return ngx_http_export_too_large(r);
    }

    ctx->body_limit = elcf->body_limit;
    ctx->body_read = 1;

    rc = ngx_http_read_client_request_body(r, ngx_http_export_body_read);

    if (rc == NGX_HTTP_REQUEST_ENTITY_TOO_LARGE) {
        return ngx_http_export_too_large(r);
    }

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


static void
ngx_http_export_body_read(ngx_http_request_t *r)
{
    ngx_int_t               rc;
    ngx_http_export_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_export_module);

    rc = (ctx && ctx->body_too_large) ? ngx_http_export_too_large(r)
                                      : ngx_http_export_style_answer(r);

    ngx_http_finalize_request(r, rc);
}


static ngx_int_t
ngx_http_export_style_answer(ngx_http_request_t *r)
{
    ngx_http_export_loc_conf_t  *elcf;

    elcf = ngx_http_get_module_loc_conf(r, ngx_http_export_module);

    switch (elcf->style) {

    case NGX_HTTP_EXPORT_ARCGIS:
        return ngx_http_export_internal_error(r, ngx_http_export_arcgis(r));

    case NGX_HTTP_EXPORT_UNIWARE:
        return ngx_http_export_internal_error(r,
                                              ngx_http_export_uniware(r));

    default: /* NGX_HTTP_EXPORT_WEBADMIT */
        return ngx_http_export_internal_error(r,
                                              ngx_http_export_webadmit(r));
    }
}


/*
 * 413 in the style.  The rest of the body is not read: the connection
 * is closed after the answer, nginx's lingering close draining what the
 * client still sends, as for nginx's own 413.
 */

static ngx_int_t
ngx_http_export_too_large(ngx_http_request_t *r)
{
    ngx_http_export_loc_conf_t  *elcf;

    elcf = ngx_http_get_module_loc_conf(r, ngx_http_export_module);

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "export: request body larger than %uz bytes refused "
                  "(export_max_body_size)", elcf->body_limit);

    r->keepalive = 0;
    r->lingering_close = 1;
    r->expect_tested = 1;       /* no "100 Continue" for it */

#if (NGX_HTTP_V2)
    if (r->stream) {
        r->stream->skip_data = 1;
    }
#endif

    switch (elcf->style) {

    case NGX_HTTP_EXPORT_ARCGIS:
        return ngx_http_export_internal_error(r,
                   ngx_http_export_arcgis_too_large(r));

    case NGX_HTTP_EXPORT_UNIWARE:
        return ngx_http_export_internal_error(r,
                   ngx_http_export_uniware_too_large(r));

    default: /* NGX_HTTP_EXPORT_WEBADMIT */
        return ngx_http_export_internal_error(r,
                   ngx_http_export_webadmit_too_large(r));
    }
}


ngx_int_t
ngx_http_export_body_init(ngx_conf_t *cf)
{
    ngx_http_export_next_body_filter = ngx_http_top_request_body_filter;
    ngx_http_top_request_body_filter = ngx_http_export_body_filter;

    return NGX_OK;
}


/*
 * A style's body is copied into one buffer of the request as it comes,
 * so that nothing of it (an ArcGIS token) goes to a temporary file; the
 * next filters only see its end.  Past the limit the body is cut short:
 * nothing more is read, and the handler answers 413.
 */

static ngx_int_t
ngx_http_export_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    size_t                  len;
    ngx_buf_t              *b;
    ngx_chain_t            *cl, out;
    ngx_http_export_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_export_module);

    if (ctx == NULL || !ctx->body_read) {
        return ngx_http_export_next_body_filter(r, in);
    }

    b = NULL;

    for (cl = in; cl; cl = cl->next) {
        len = cl->buf->last - cl->buf->pos;

        if (len && !ctx->body_too_large && !ctx->body_done) {
            if (len > ctx->body_limit - ctx->body.len) {
                ctx->body_too_large = 1;

            } else if (ngx_http_export_body_add(r, ctx, cl->buf->pos, len)
                       != NGX_OK)
            {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }
        }

        cl->buf->pos = cl->buf->last;

        if (cl->buf->last_buf) {
            b = cl->buf;
        }
    }

    if (ctx->body_done) {
        return ngx_http_export_next_body_filter(r, NULL);
    }

    if (ctx->body_too_large) {
        r->request_body->rest = 0;

        if (b == NULL) {
            b = ngx_calloc_buf(r->pool);
            if (b == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            b->last_buf = 1;
        }
    }

    if (b == NULL) {
        return ngx_http_export_next_body_filter(r, NULL);
    }

    ctx->body_done = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_export_next_body_filter(r, &out);
}


static ngx_int_t
ngx_http_export_body_add(ngx_http_request_t *r, ngx_http_export_ctx_t *ctx,
    u_char *data, size_t len)
{
    u_char  *p;
    size_t   size;

    if (ctx->body.len + len > ctx->body_size) {

        if (!r->headers_in.chunked && r->headers_in.content_length_n > 0) {
            size = (size_t) r->headers_in.content_length_n;

        } else {
            size = ngx_max(2 * ctx->body_size, NGX_HTTP_EXPORT_BODY_FIRST);
        }

        size = ngx_max(size, ctx->body.len + len);
        size = ngx_min(size, ctx->body_limit);

        p = ngx_pnalloc(r->pool, size + 1);
        if (p == NULL) {
            return NGX_ERROR;
        }

        if (ctx->body.len) {
            ngx_memcpy(p, ctx->body.data, ctx->body.len);
            ngx_pfree(r->pool, ctx->body.data);
        }

        ctx->body.data = p;
        ctx->body_size = size;
    }

    p = ngx_cpymem(ctx->body.data + ctx->body.len, data, len);
    *p = '\0';
    ctx->body.len += len;

    return NGX_OK;
}


/* the body read, '\0'-terminated */

ngx_int_t
ngx_http_export_read_body(ngx_http_request_t *r, ngx_str_t *body)
{
    ngx_http_export_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_export_module);

    if (ctx == NULL || ctx->body.len == 0) {
        body->len = 0;
        body->data = (u_char *) "";
        return NGX_OK;
    }

    *body = ctx->body;

    return NGX_OK;
}


/*
 * A task by the id a style shows: its UUID, or "j" and its UUID (an
 * ArcGIS job id).  Sets $export_job_id.
 */

ngx_int_t
ngx_http_export_task_by_job(ngx_http_request_t *r, ngx_str_t *job,
    ngx_http_export_snapshot_t *snap)
{
    u_char                  id[16];
    ngx_int_t               rc;
    ngx_http_export_ctx_t  *ctx;
    ngx_http_export_zone_t *zone;
    ngx_http_export_task_t *task;

    ctx = ngx_http_export_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (exp_job_parse(id, job->data, job->len) != 0) {
        return NGX_DECLINED;
    }

    zone = ctx->shm_zone->data;

    /* a task the zone does not know may be in the store */

    rc = ngx_http_export_resolve(r, zone, NULL, id, 0);
    if (rc != NGX_OK) {
        return ngx_http_export_resolve_answer(r, rc);
    }

    ngx_shmtx_lock(&zone->shpool->mutex);

    task = ngx_http_export_task_lookup_id(zone, id);

    if (task) {
        ngx_http_export_task_snapshot(task, snap, r->pool,
                                      NGX_HTTP_EXPORT_SNAP_OP);
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    if (task == NULL) {
        return NGX_DECLINED;
    }

    ngx_http_export_uuid_text(ctx->id, snap->id);
    ctx->has_id = 1;
    ctx->state = snap->state;
    ctx->has_state = 1;

    ctx->run.data = ngx_pnalloc(r->pool, snap->run_len);
    if (ctx->run.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->run.len = snap->run_len;
    ngx_memcpy(ctx->run.data, snap->run, snap->run_len);

    ctx->job.data = ngx_pnalloc(r->pool, 1 + NGX_HTTP_EXPORT_UUID_LEN);
    if (ctx->job.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->job.data[0] = 'j';
    ctx->job.len = 1 + NGX_HTTP_EXPORT_UUID_LEN;
    ngx_memcpy(ctx->job.data + 1, ctx->id, NGX_HTTP_EXPORT_UUID_LEN);

    return NGX_OK;
}


/*
 * The URL of a task's own resource: export_job_uri with $export_job_id
 * the style's id of the task; WebAdMIT's default is its documented path.
 */

ngx_int_t
ngx_http_export_job_uri(ngx_http_request_t *r,
    ngx_http_export_loc_conf_t *elcf, ngx_http_export_snapshot_t *snap,
    ngx_str_t *uri)
{
    u_char                 *p;
    ngx_http_export_ctx_t  *ctx;

    ctx = ngx_http_export_get_ctx(r);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    if (elcf->style == NGX_HTTP_EXPORT_WEBADMIT) {
        ctx->job.data = ngx_pnalloc(r->pool, NGX_INT64_LEN);
        if (ctx->job.data == NULL) {
            return NGX_ERROR;
        }

        ctx->job.len = ngx_sprintf(ctx->job.data, "%uL", snap->serial)
                       - ctx->job.data;

    } else if (ctx->job.len == 0) {
        ctx->job.data = ngx_pnalloc(r->pool, 1 + NGX_HTTP_EXPORT_UUID_LEN);
        if (ctx->job.data == NULL) {
            return NGX_ERROR;
        }

        ctx->job.data[0] = 'j';
        ctx->job.len = ngx_http_export_uuid_text(ctx->job.data + 1, snap->id)
                       - ctx->job.data;
    }

    if (elcf->job_uri) {
        return ngx_http_complex_value(r, elcf->job_uri, uri);
    }

    /* /api/v1/exports/<export_id>/export_files/<id> */

    uri->data = ngx_pnalloc(r->pool, sizeof("/api/v1/exports//export_files/")
                                     + snap->run_len + ctx->job.len);
    if (uri->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(uri->data, "/api/v1/exports/",
                   sizeof("/api/v1/exports/") - 1);
    p = ngx_cpymem(p, snap->run, snap->run_len);
    p = ngx_cpymem(p, "/export_files/", sizeof("/export_files/") - 1);
    p = ngx_cpymem(p, ctx->job.data, ctx->job.len);

    uri->len = p - uri->data;

    return NGX_OK;
}


/* a new signed link to the task's archive */

ngx_int_t
ngx_http_export_style_link(ngx_http_request_t *r,
    ngx_http_export_snapshot_t *snap, ngx_str_t *url)
{
    u_char  id_text[NGX_HTTP_EXPORT_UUID_LEN];
    time_t  expires;

    ngx_http_export_uuid_text(id_text, snap->id);

    if (ngx_http_export_link_sign(r, snap, id_text, url, &expires)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * NGX_DECLINED when the method is one of "methods"; else 405 for the
 * caller to answer in its style, with Allow set.  The body has been
 * read already (ngx_http_export_style_handler()).
 */

ngx_int_t
ngx_http_export_method(ngx_http_request_t *r, ngx_uint_t methods,
    const char *allow)
{
    ngx_str_t  value;

    if (r->method & methods) {
        return NGX_DECLINED;
    }

    value.data = (u_char *) allow;
    value.len = ngx_strlen(allow);

    if (ngx_http_export_add_header(r, "Allow", &value) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_HTTP_NOT_ALLOWED;
}


ngx_int_t
ngx_http_export_retry_after(ngx_http_request_t *r, time_t retry_after)
{
    ngx_str_t  value;

    if (retry_after <= 0) {
        return NGX_OK;
    }

    value.data = ngx_pnalloc(r->pool, NGX_TIME_T_LEN);
    if (value.data == NULL) {
        return NGX_ERROR;
    }

    value.len = ngx_sprintf(value.data, "%T", retry_after) - value.data;

    return ngx_http_export_add_header(r, "Retry-After", &value);
}


/*
 * A task's status in a style's words: one per state, NOT_STARTED to
 * FAILED, and a sixth for a cancelled export.
 */

const char *
ngx_http_export_word(ngx_http_export_snapshot_t *snap, const char **words)
{
    if (snap->state == NGX_HTTP_EXPORT_FAILED && snap->cancelled) {
        return words[NGX_HTTP_EXPORT_FAILED + 1];
    }

    return words[ngx_min(snap->state, NGX_HTTP_EXPORT_FAILED)];
}
