
/*
 * The Uniware style: POST .../export/job/status with {"jobCode": "..."}
 * answers {successful, message, errors, warnings, status, filePath},
 * filePath a signed link once the job is SUCCESSFUL.  A request it
 * cannot serve is answered successful: false with an honest HTTP status.
 */


#include "ngx_http_export_module.h"

#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>


/* Uniware codes, in errors[].code and warnings[].code */
#define NGX_HTTP_EXPORT_UW_BODY       40001   /* not a JSON object */
#define NGX_HTTP_EXPORT_UW_JOB_CODE   40002   /* jobCode missing or bad */
#define NGX_HTTP_EXPORT_UW_NOT_FOUND  40401   /* no such job */
#define NGX_HTTP_EXPORT_UW_METHOD     40501
#define NGX_HTTP_EXPORT_UW_FAILED     50001   /* the job failed */
#define NGX_HTTP_EXPORT_UW_WARNING    20001   /* a report's CSV left out */


/* Uniware job statuses, by state (ngx_http_export_word()) */
static const char  *ngx_http_export_uniware_words[] = {
    "QUEUED", "QUEUED", "RUNNING", "SUCCESSFUL", "FAILED", "CANCELLED"
};


static ngx_int_t ngx_http_export_uniware_status(ngx_http_request_t *r);
static ngx_int_t ngx_http_export_uniware_error(ngx_http_request_t *r,
    ngx_uint_t status, ngx_uint_t code, const char *field,
    const char *message);


/*
 * Uniware: POST .../export/job/status {"jobCode": "..."}: the job's
 * status and, once it is SUCCESSFUL, its file's link in filePath.
 */

ngx_int_t
ngx_http_export_uniware(ngx_http_request_t *r)
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

    if (r->method != NGX_HTTP_POST) {
        rc = ngx_http_export_method(r, NGX_HTTP_POST, "POST");

        if (rc == NGX_HTTP_NOT_ALLOWED) {
            return ngx_http_export_uniware_error(r, rc,
                       NGX_HTTP_EXPORT_UW_METHOD, "",
                       "the job status is asked for with POST");
        }

        return rc;
    }

    return ngx_http_export_uniware_status(r);
}


/* a body over the location's limit (ngx_http_export_style_handler()) */

ngx_int_t
ngx_http_export_uniware_too_large(ngx_http_request_t *r)
{
    return ngx_http_export_uniware_error(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                         NGX_HTTP_EXPORT_UW_BODY, "",
                                         "the request body is too large");
}


/* with the JSON body read */

static ngx_int_t
ngx_http_export_uniware_status(ngx_http_request_t *r)
{
    u_char                      *p, msg[64];
    u_char                       desc[NGX_HTTP_EXPORT_WARN_REPORT
                                      + sizeof("report \"\", byte ")
                                      + NGX_INT64_LEN];
    const char                  *code;
    yajl_gen                     g;
    yajl_val                     doc;
    ngx_int_t                    rc;
    ngx_str_t                    body, job, url;
    ngx_uint_t                   i;
    ngx_http_export_snapshot_t   snap;

    if (ngx_http_export_read_body(r, &body) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = exp_uniware_code((char *) body.data, &doc, &code);

    if (rc == EXP_UW_NOT_OBJECT) {
        return ngx_http_export_uniware_error(r, NGX_HTTP_BAD_REQUEST,
                   NGX_HTTP_EXPORT_UW_BODY, "",
                   "the request body is not a JSON object");
    }

    if (rc != EXP_UW_OK) {
        return ngx_http_export_uniware_error(r, NGX_HTTP_BAD_REQUEST,
                   NGX_HTTP_EXPORT_UW_JOB_CODE, "jobCode",
                   "jobCode is required and must be a string");
    }

    job.len = ngx_strlen(code);
    job.data = ngx_pnalloc(r->pool, job.len);
    if (job.data == NULL) {
        yajl_tree_free(doc);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(job.data, code, job.len);

    yajl_tree_free(doc);

    rc = ngx_http_export_task_by_job(r, &job, &snap);

    if (rc == NGX_DECLINED) {
        return ngx_http_export_uniware_error(r, NGX_HTTP_NOT_FOUND,
                   NGX_HTTP_EXPORT_UW_NOT_FOUND, "jobCode",
                   "no export job with this jobCode");
    }

    if (rc != NGX_OK) {
        return rc;
    }

    ngx_str_null(&url);

    if (snap.state == NGX_HTTP_EXPORT_COMPLETED
        && ngx_http_export_style_link(r, &snap, &url) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    g = yajl_gen_alloc(NULL);
    if (g == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    yajl_gen_map_open(g);

    ngx_http_export_gen_key(g, "successful");
    yajl_gen_bool(g, 1);

    ngx_http_export_gen_key(g, "message");

    switch (snap.state) {

    case NGX_HTTP_EXPORT_COMPLETED:
        ngx_http_export_gen_key(g, "the export file is ready");
        break;

    case NGX_HTTP_EXPORT_FAILED:
        yajl_gen_string(g, snap.error.data, snap.error.len);
        break;

    default:
        p = ngx_sprintf(msg, "the export is under way: %ui.%02ui%%",
                        snap.progress / 100, snap.progress % 100);
        yajl_gen_string(g, msg, p - msg);
        break;
    }

    /* the request succeeded; a failed job says so in its status */

    ngx_http_export_gen_key(g, "errors");
    yajl_gen_array_open(g);

    if (snap.state == NGX_HTTP_EXPORT_FAILED) {
        yajl_gen_map_open(g);
        ngx_http_export_gen_key(g, "code");
        yajl_gen_integer(g, NGX_HTTP_EXPORT_UW_FAILED);
        ngx_http_export_gen_key(g, "fieldName");
        ngx_http_export_gen_key(g, "");
        ngx_http_export_gen_key(g, "description");
        yajl_gen_string(g, snap.error.data, snap.error.len);
        ngx_http_export_gen_key(g, "message");
        yajl_gen_string(g, snap.error.data, snap.error.len);
        ngx_http_export_gen_key(g, "errorParams");
        yajl_gen_map_open(g);
        yajl_gen_map_close(g);
        yajl_gen_map_close(g);
    }

    yajl_gen_array_close(g);

    ngx_http_export_gen_key(g, "warnings");
    yajl_gen_array_open(g);

    for (i = 0; i < snap.nkept; i++) {
        yajl_gen_map_open(g);
        ngx_http_export_gen_key(g, "code");
        yajl_gen_integer(g, NGX_HTTP_EXPORT_UW_WARNING);
        ngx_http_export_gen_key(g, "message");
        p = snap.warnings[i].reason;
        yajl_gen_string(g, p, ngx_strlen(p));
        ngx_http_export_gen_key(g, "description");
        p = ngx_sprintf(desc, "report \"%s\", byte %uL",
                        snap.warnings[i].report, snap.warnings[i].offset);
        yajl_gen_string(g, desc, p - desc);
        yajl_gen_map_close(g);
    }

    yajl_gen_array_close(g);

    ngx_http_export_gen_key(g, "status");
    ngx_http_export_gen_cstr(g, ngx_http_export_word(&snap,
                                               ngx_http_export_uniware_words));

    ngx_http_export_gen_key(g, "filePath");
    if (url.len) {
        yajl_gen_string(g, url.data, url.len);

    } else {
        yajl_gen_null(g);
    }

    yajl_gen_map_close(g);

    return ngx_http_export_send_yajl(r, g, NGX_HTTP_OK);
}


/* Uniware's answer to a request it cannot serve: successful false */

static ngx_int_t
ngx_http_export_uniware_error(ngx_http_request_t *r, ngx_uint_t status,
    ngx_uint_t code, const char *field, const char *message)
{
    yajl_gen  g;

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "export: Uniware request refused: %d %s", status, message);

    g = yajl_gen_alloc(NULL);
    if (g == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    yajl_gen_map_open(g);
    ngx_http_export_gen_key(g, "successful");
    yajl_gen_bool(g, 0);
    ngx_http_export_gen_key(g, "message");
    ngx_http_export_gen_cstr(g, message);
    ngx_http_export_gen_key(g, "errors");
    yajl_gen_array_open(g);
    yajl_gen_map_open(g);
    ngx_http_export_gen_key(g, "code");
    yajl_gen_integer(g, code);
    ngx_http_export_gen_key(g, "fieldName");
    ngx_http_export_gen_cstr(g, field);
    ngx_http_export_gen_key(g, "description");
    ngx_http_export_gen_cstr(g, message);
    ngx_http_export_gen_key(g, "message");
    ngx_http_export_gen_cstr(g, message);
    ngx_http_export_gen_key(g, "errorParams");
    yajl_gen_map_open(g);
    yajl_gen_map_close(g);
    yajl_gen_map_close(g);
    yajl_gen_array_close(g);
    ngx_http_export_gen_key(g, "warnings");
    yajl_gen_array_open(g);
    yajl_gen_array_close(g);
    ngx_http_export_gen_key(g, "status");
    yajl_gen_null(g);
    ngx_http_export_gen_key(g, "filePath");
    yajl_gen_null(g);
    yajl_gen_map_close(g);

    return ngx_http_export_send_yajl(r, g, status);
}
