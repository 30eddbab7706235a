
/*
 * The WebAdMIT style: POST .../exports/:export_id/export_files starts an
 * export file (or answers the one under way); GET .../exports/
 * :export_id/export_files/:export_file_id (a location with
 * export_task_id) answers it with its status word and a download_url
 * valid for under 30 s; 404 {"message":"Not Found"}; 401 with an empty
 * body.
 */


#include "ngx_http_export_module.h"
#include "ngx_http_export_cluster.h"

#include <yajl/yajl_gen.h>


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;


static ngx_int_t ngx_http_export_webadmit_start(ngx_http_request_t *r,
    ngx_http_export_loc_conf_t *elcf, ngx_http_export_ctx_t *ctx);
static ngx_int_t ngx_http_export_webadmit_file(ngx_http_request_t *r,
    ngx_http_export_loc_conf_t *elcf, ngx_http_export_ctx_t *ctx);
static const char *ngx_http_export_webadmit_word(
    ngx_http_export_snapshot_t *snap);
static void ngx_http_export_webadmit_gen(ngx_http_request_t *r, yajl_gen g,
    ngx_http_export_snapshot_t *snap, ngx_str_t *href, ngx_uint_t link);
static ngx_int_t ngx_http_export_webadmit_message(ngx_http_request_t *r,
    ngx_uint_t status, const char *message, time_t retry_after);
static ngx_int_t ngx_http_export_header_filter(ngx_http_request_t *r);


/*
 * WebAdMIT: POST .../exports/:export_id/export_files starts a file (or
 * answers the one under way); GET .../exports/:export_id/export_files/
 * :export_file_id (a location with export_task_id) answers it.
 */

ngx_int_t
ngx_http_export_webadmit(ngx_http_request_t *r)
{
    ngx_int_t                    rc;
    ngx_str_t                    value;
    ngx_http_export_ctx_t       *ctx;
    ngx_http_export_loc_conf_t  *elcf;

    elcf = ngx_http_get_module_loc_conf(r, ngx_http_export_module);

    ctx = ngx_http_export_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->shm_zone = elcf->shm_zone;

    if (elcf->task_id) {
        rc = ngx_http_export_method(r, NGX_HTTP_GET|NGX_HTTP_HEAD,
                                    "GET, HEAD");

    } else {
        rc = ngx_http_export_method(r, NGX_HTTP_POST, "POST");
    }

    if (rc == NGX_HTTP_NOT_ALLOWED) {
        return ngx_http_export_webadmit_message(r, rc,
                                                "Method Not Allowed", 0);
    }

    if (rc != NGX_DECLINED) {
        return rc;
    }

    rc = ngx_http_export_run_id(r, elcf->run_id, NGX_HTTP_EXPORT_WEBADMIT,
                                &ctx->run, &value);

    if (rc == NGX_DECLINED) {
        return ngx_http_export_webadmit_message(r, NGX_HTTP_NOT_FOUND,
                                                "Not Found", 0);
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (elcf->task_id) {
        return ngx_http_export_webadmit_file(r, elcf, ctx);
    }

    return ngx_http_export_webadmit_start(r, elcf, ctx);
}


static ngx_int_t
ngx_http_export_webadmit_start(ngx_http_request_t *r,
    ngx_http_export_loc_conf_t *elcf, ngx_http_export_ctx_t *ctx)
{
    ngx_int_t                 rc;
    ngx_str_t                 href;
    yajl_gen                  g;
    ngx_http_export_start_t   st;

    /* the file's parameters come from the export's own settings */

    rc = ngx_http_export_start_run(r, elcf, NGX_HTTP_EXPORT_WEBADMIT, &st);

    if (rc == NGX_DECLINED) {
        return ngx_http_export_webadmit_message(r, NGX_HTTP_NOT_FOUND,
                                                "Not Found", 0);
    }

    if (rc != NGX_OK) {
        return rc;
    }

    if (st.status) {
        if (st.status == NGX_HTTP_TOO_MANY_REQUESTS
            && ngx_http_export_quota_headers(r, elcf) != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_export_webadmit_message(r, st.status,
                   st.status == NGX_HTTP_TOO_MANY_REQUESTS
                   ? "Too Many Requests" : "Service Unavailable",
                   st.retry_after);
    }

    if (ngx_http_export_quota_headers(r, elcf) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_export_job_uri(r, elcf, &st.snap, &href) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_export_add_header(r, "Location", &href) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    g = yajl_gen_alloc(NULL);
    if (g == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    yajl_gen_map_open(g);
    ngx_http_export_gen_key(g, "href");
    yajl_gen_string(g, r->uri.data, r->uri.len);
    ngx_http_export_gen_key(g, "export_files");
    yajl_gen_array_open(g);
    ngx_http_export_webadmit_gen(r, g, &st.snap, &href, 0);
    yajl_gen_array_close(g);
    yajl_gen_map_close(g);

    /* a file under way is answered as it is: nothing was created */

    return ngx_http_export_send_yajl(r, g, st.existing ? NGX_HTTP_OK
                                                       : NGX_HTTP_CREATED);
}


static ngx_int_t
ngx_http_export_webadmit_file(ngx_http_request_t *r,
    ngx_http_export_loc_conf_t *elcf, ngx_http_export_ctx_t *ctx)
{
    ngx_int_t                    rc, serial;
    ngx_str_t                    value, href;
    yajl_gen                     g;
    ngx_http_export_zone_t      *zone;
    ngx_http_export_task_t      *task;
    ngx_http_export_snapshot_t   snap;

    if (ngx_http_complex_value(r, elcf->task_id, &value) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    serial = exp_serial_parse(value.data, value.len);

    if (serial < 0) {
        return ngx_http_export_webadmit_message(r, NGX_HTTP_NOT_FOUND,
                                                "Not Found", 0);
    }

    zone = elcf->shm_zone->data;

    rc = ngx_http_export_resolve(r, zone, &ctx->run, NULL, 0);
    if (rc != NGX_OK) {
        return ngx_http_export_resolve_answer(r, rc);
    }

    ngx_shmtx_lock(&zone->shpool->mutex);

    task = ngx_http_export_task_lookup(zone, &ctx->run);

    if (task && task->serial == (uint64_t) serial) {
        ngx_http_export_task_snapshot(task, &snap, r->pool, 0);

    } else {
        task = NULL;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    if (task == NULL) {
        return ngx_http_export_webadmit_message(r, NGX_HTTP_NOT_FOUND,
                                                "Not Found", 0);
    }

    ngx_http_export_uuid_text(ctx->id, snap.id);
    ctx->has_id = 1;
    ctx->state = snap.state;
    ctx->has_state = 1;

    if (ngx_http_export_job_uri(r, elcf, &snap, &href) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    g = yajl_gen_alloc(NULL);
    if (g == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    yajl_gen_map_open(g);
    ngx_http_export_gen_key(g, "export_files");
    ngx_http_export_webadmit_gen(r, g, &snap, &href, 1);
    yajl_gen_map_close(g);

    return ngx_http_export_send_yajl(r, g, NGX_HTTP_OK);
}


static const char *
ngx_http_export_webadmit_word(ngx_http_export_snapshot_t *snap)
{
    switch (snap->state) {

    case NGX_HTTP_EXPORT_NOT_STARTED:
        return "initializing";

    case NGX_HTTP_EXPORT_QUEUED:
        return "queued";

    case NGX_HTTP_EXPORT_IN_PROGRESS:
        return "in_progress";

    case NGX_HTTP_EXPORT_COMPLETED:
        if (snap->nreports == 0) {
            return "empty_list";
        }

        return snap->nwarnings ? "success_with_errors" : "available";

    default:
        return "failed";
    }
}


/* one export file; with "link", its download_url once it has a file */

static void
ngx_http_export_webadmit_gen(ngx_http_request_t *r, yajl_gen g,
    ngx_http_export_snapshot_t *snap, ngx_str_t *href, ngx_uint_t link)
{
    u_char       num[NGX_INT64_LEN];
    ngx_str_t    url;
    const char  *word;

    word = ngx_http_export_webadmit_word(snap);

    yajl_gen_map_open(g);

    ngx_http_export_gen_key(g, "id");
    yajl_gen_integer(g, (long long) snap->serial);

    ngx_http_export_gen_key(g, "href");
    yajl_gen_string(g, href->data, href->len);

    /* the export's id is a number, as it was given */
    ngx_http_export_gen_key(g, "export_id");
    ngx_memcpy(num, snap->run, ngx_min(snap->run_len, NGX_INT64_LEN));
    yajl_gen_number(g, (const char *) num,
                    ngx_min(snap->run_len, NGX_INT64_LEN));

    ngx_http_export_gen_key(g, "status");
    ngx_http_export_gen_cstr(g, word);

    if (link && snap->state == NGX_HTTP_EXPORT_COMPLETED
        && snap->nreports != 0)
    {
        if (ngx_http_export_style_link(r, snap, &url) == NGX_OK) {
            ngx_http_export_gen_key(g, "download_url");
            yajl_gen_string(g, url.data, url.len);
        }
    }

    yajl_gen_map_close(g);
}


/* a body over the location's limit (ngx_http_export_style_handler()) */

ngx_int_t
ngx_http_export_webadmit_too_large(ngx_http_request_t *r)
{
    return ngx_http_export_webadmit_message(r,
                                            NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                            "Payload Too Large", 0);
}


/* WebAdMIT's error body: {"message": "Not Found"} */

static ngx_int_t
ngx_http_export_webadmit_message(ngx_http_request_t *r, ngx_uint_t status,
    const char *message, time_t retry_after)
{
    yajl_gen  g;

    if (ngx_http_export_retry_after(r, retry_after) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    g = yajl_gen_alloc(NULL);
    if (g == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    yajl_gen_map_open(g);
    ngx_http_export_gen_key(g, "message");
    ngx_http_export_gen_cstr(g, message);
    yajl_gen_map_close(g);

    return ngx_http_export_send_yajl(r, g, status);
}


/*
 * WebAdMIT answers 401 with an empty body: whatever the operator's
 * authentication (auth_basic, auth_request) refuses in a style=webadmit
 * location goes out without nginx's error page.
 */

static ngx_int_t
ngx_http_export_header_filter(ngx_http_request_t *r)
{
    ngx_http_export_loc_conf_t  *elcf;

    if (r->headers_out.status == NGX_HTTP_UNAUTHORIZED && r == r->main) {
        elcf = ngx_http_get_module_loc_conf(r, ngx_http_export_module);

        if (elcf->handler == NGX_HTTP_EXPORT_API
            && elcf->style == NGX_HTTP_EXPORT_WEBADMIT)
        {
            r->headers_out.content_length_n = 0;
            r->headers_out.content_type.len = 0;
            r->headers_out.content_type.data = NULL;
            r->headers_out.content_type_len = 0;
            r->headers_out.content_type_lowcase = NULL;
            r->header_only = 1;
        }
    }

    return ngx_http_next_header_filter(r);
}


ngx_int_t
ngx_http_export_webadmit_init(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_export_header_filter;

    return NGX_OK;
}
