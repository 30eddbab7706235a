
/*
 * The other source systems' APIs on the same engine ("export_api
 * style=..."): an ArcGIS job (several runs in one archive, a job
 * resource), a Uniware job status (jobCode in a JSON body) and a
 * WebAdMIT export file (integer ids, its status words).  Each only reads
 * requests and writes answers in its own dialect; starting, the task
 * table, the quota, the archive and the links are the VMware API's.
 */


#include "ngx_http_export_module.h"

#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>


#define NGX_HTTP_EXPORT_BODY_MAX      65536   /* a form or a JSON body */

#define NGX_HTTP_EXPORT_F_HTML        0
#define NGX_HTTP_EXPORT_F_JSON        1
#define NGX_HTTP_EXPORT_F_PJSON       2

/* Uniware error codes, in its errors[].code */
#define NGX_HTTP_EXPORT_UW_BODY       40001   /* not a JSON object */
#define NGX_HTTP_EXPORT_UW_JOB_CODE   40002   /* jobCode missing or bad */
#define NGX_HTTP_EXPORT_UW_NOT_FOUND  40401   /* no such job */
#define NGX_HTTP_EXPORT_UW_METHOD     40501
#define NGX_HTTP_EXPORT_UW_FAILED     50001   /* the job failed */
#define NGX_HTTP_EXPORT_UW_WARNING    20001   /* a report's CSV left out */


#define ngx_http_export_key(g, s)                                             \
    yajl_gen_string(g, (const unsigned char *) s, sizeof(s) - 1)

#define ngx_http_export_cstr(g, s)                                            \
    yajl_gen_string(g, (const unsigned char *) s, ngx_strlen(s))


static ngx_int_t ngx_http_export_arcgis(ngx_http_request_t *r);
static void ngx_http_export_arcgis_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_export_arcgis_submit(ngx_http_request_t *r);
typedef struct {
    ngx_uint_t                  status;
    const char                 *message;
    ngx_str_t                  *details;
    ngx_uint_t                  ndetails;
} ngx_http_export_refusal_t;


static ngx_int_t ngx_http_export_arcgis_runs(ngx_http_request_t *r,
    ngx_http_export_loc_conf_t *elcf, ngx_str_t *list,
    ngx_http_export_start_t *st, ngx_http_export_refusal_t *no);
static ngx_int_t ngx_http_export_arcgis_job(ngx_http_request_t *r);
static ngx_int_t ngx_http_export_arcgis_error(ngx_http_request_t *r,
    ngx_uint_t f, ngx_uint_t status, const char *message,
    ngx_str_t *details, ngx_uint_t ndetails);
static ngx_int_t ngx_http_export_arcgis_format(ngx_http_request_t *r,
    ngx_str_t *form, ngx_uint_t *f);
static ngx_int_t ngx_http_export_send_html_gen(ngx_http_request_t *r,
    ngx_uint_t status, const char *title, yajl_gen g);
static ngx_int_t ngx_http_export_send_html(ngx_http_request_t *r,
    ngx_uint_t status, const char *title, yajl_val doc);

static ngx_int_t ngx_http_export_uniware(ngx_http_request_t *r);
static void ngx_http_export_uniware_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_export_uniware_status(ngx_http_request_t *r);
static ngx_int_t ngx_http_export_uniware_error(ngx_http_request_t *r,
    ngx_uint_t status, ngx_uint_t code, const char *field,
    const char *message);

static ngx_int_t ngx_http_export_webadmit(ngx_http_request_t *r);
static ngx_int_t ngx_http_export_webadmit_start(ngx_http_request_t *r,
    ngx_http_export_loc_conf_t *elcf, ngx_http_export_ctx_t *ctx);
static ngx_int_t ngx_http_export_webadmit_file(ngx_http_request_t *r,
    ngx_http_export_loc_conf_t *elcf, ngx_http_export_ctx_t *ctx);
static ngx_int_t ngx_http_export_webadmit_message(ngx_http_request_t *r,
    ngx_uint_t status, const char *message, time_t retry_after);
static void ngx_http_export_webadmit_gen(ngx_http_request_t *r,
    yajl_gen g, ngx_http_export_snapshot_t *snap, ngx_str_t *href,
    ngx_uint_t link);

static ngx_int_t ngx_http_export_read_body(ngx_http_request_t *r,
    ngx_str_t *body);
static ngx_int_t ngx_http_export_form(ngx_http_request_t *r,
    ngx_str_t *form, const char *name, ngx_str_t *value);
static ngx_int_t ngx_http_export_query_token(ngx_http_request_t *r);
static ngx_int_t ngx_http_export_task_by_job(ngx_http_request_t *r,
    ngx_str_t *job, ngx_http_export_snapshot_t *snap);
static ngx_int_t ngx_http_export_job_uri(ngx_http_request_t *r,
    ngx_http_export_loc_conf_t *elcf, ngx_http_export_snapshot_t *snap,
    ngx_str_t *uri);
static ngx_int_t ngx_http_export_link(ngx_http_request_t *r,
    ngx_http_export_snapshot_t *snap, ngx_str_t *url);
static ngx_int_t ngx_http_export_method(ngx_http_request_t *r,
    ngx_uint_t methods, const char *allow);
static ngx_int_t ngx_http_export_send_json(ngx_http_request_t *r,
    yajl_gen g, ngx_uint_t status);
static ngx_int_t ngx_http_export_retry_after(ngx_http_request_t *r,
    time_t retry_after);


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;


ngx_int_t
ngx_http_export_style_handler(ngx_http_request_t *r)
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
 * ArcGIS: POST .../healthCheck/reports/export with runIds, f and token
 * in a form body starts a job; GET .../jobs/<jobid> (a location with
 * export_task_id) answers the job.
 */

static ngx_int_t
ngx_http_export_arcgis(ngx_http_request_t *r)
{
    ngx_int_t                    rc;
    ngx_uint_t                   f;
    ngx_http_export_ctx_t       *ctx;
    ngx_http_export_loc_conf_t  *elcf;

    elcf = ngx_http_get_module_loc_conf(r, ngx_http_export_module);

    ctx = ngx_http_export_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->shm_zone = elcf->shm_zone;

    /* a token in the query stays out of the logs, like a signature */
    ngx_http_export_hide_arg(r, "token");

    if (elcf->task_id) {
        rc = ngx_http_export_method(r, NGX_HTTP_GET|NGX_HTTP_HEAD,
                                    "GET, HEAD");
        if (rc != NGX_DECLINED) {
            if (rc == NGX_HTTP_NOT_ALLOWED) {
                (void) ngx_http_export_arcgis_format(r, NULL, &f);
                return ngx_http_export_arcgis_error(r, f, rc,
                           "The method is not supported on a job; use GET.",
                           NULL, 0);
            }

            return rc;
        }

        return ngx_http_export_arcgis_job(r);
    }

    if (r->method != NGX_HTTP_POST) {
        rc = ngx_http_export_method(r, NGX_HTTP_POST, "POST");

        if (rc == NGX_HTTP_NOT_ALLOWED) {
            (void) ngx_http_export_arcgis_format(r, NULL, &f);
            return ngx_http_export_arcgis_error(r, f, rc,
                       "The export operation is only available with POST.",
                       NULL, 0);
        }

        return rc;
    }

    rc = ngx_http_read_client_request_body(r, ngx_http_export_arcgis_body);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


static void
ngx_http_export_arcgis_body(ngx_http_request_t *r)
{
    ngx_http_finalize_request(r, ngx_http_export_internal_error(r,
                                     ngx_http_export_arcgis_submit(r)));
}


static ngx_int_t
ngx_http_export_arcgis_submit(ngx_http_request_t *r)
{
    ngx_int_t                    rc;
    ngx_str_t                    body, runs, uri;
    ngx_uint_t                   f;
    yajl_gen                     g;
    ngx_http_export_ctx_t       *ctx;
    ngx_http_export_start_t      st;
    ngx_http_export_refusal_t    no;
    ngx_http_export_loc_conf_t  *elcf;

    elcf = ngx_http_get_module_loc_conf(r, ngx_http_export_module);

    ctx = ngx_http_export_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_export_read_body(r, &body);

    if (rc == NGX_DECLINED) {
        (void) ngx_http_export_arcgis_format(r, NULL, &f);
        return ngx_http_export_arcgis_error(r, f,
                   NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                   "The request body is too large for the export "
                   "operation.", NULL, 0);
    }

    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_http_export_arcgis_format(r, &body, &f) != NGX_OK) {
        return ngx_http_export_arcgis_error(r, NGX_HTTP_EXPORT_F_JSON,
                   NGX_HTTP_BAD_REQUEST,
                   "Invalid format: f must be html, json or pjson.",
                   NULL, 0);
    }

    /* the token is kept for $export_token (a quota key), never logged */

    if (ngx_http_export_form(r, &body, "token", &ctx->token) != NGX_OK
        || ngx_http_export_query_token(r) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_export_form(r, &body, "runIds", &runs) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (runs.len == 0) {
        return ngx_http_export_arcgis_error(r, f, NGX_HTTP_BAD_REQUEST,
                   "runIds is required: a comma-separated list of health "
                   "check report ids.", NULL, 0);
    }

    ngx_memzero(&st, sizeof(ngx_http_export_start_t));
    ngx_memzero(&no, sizeof(ngx_http_export_refusal_t));

    rc = ngx_http_export_arcgis_runs(r, elcf, &runs, &st, &no);

    if (rc == NGX_DECLINED) {
        return ngx_http_export_arcgis_error(r, f, no.status, no.message,
                                            no.details, no.ndetails);
    }

    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_export_start(r, elcf, &st);
    if (rc != NGX_OK) {
        return rc;
    }

    if (st.status) {
        if (ngx_http_export_retry_after(r, st.retry_after) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (st.status == NGX_HTTP_TOO_MANY_REQUESTS
            && ngx_http_export_quota_headers(r, elcf) != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_export_arcgis_error(r, f, st.status,
                   st.status == NGX_HTTP_TOO_MANY_REQUESTS
                   ? "Too many export requests: wait for the time in "
                     "Retry-After, or for a running export to finish."
                   : st.message, NULL, 0);
    }

    if (ngx_http_export_quota_headers(r, elcf) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_export_job_uri(r, elcf, &st.snap, &uri) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    g = yajl_gen_alloc(NULL);
    if (g == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    yajl_gen_config(g, yajl_gen_beautify, f != NGX_HTTP_EXPORT_F_JSON);

    yajl_gen_map_open(g);
    ngx_http_export_key(g, "jobsUrl");
    yajl_gen_string(g, uri.data, uri.len);
    ngx_http_export_key(g, "jobid");
    yajl_gen_string(g, ctx->job.data, ctx->job.len);
    ngx_http_export_key(g, "status");
    ngx_http_export_key(g, "SUBMITTED");
    yajl_gen_map_close(g);

    if (f == NGX_HTTP_EXPORT_F_HTML) {
        return ngx_http_export_send_html_gen(r, NGX_HTTP_OK,
                                             "Export submitted", g);
    }

    return ngx_http_export_send_json(r, g, NGX_HTTP_OK);
}


/*
 * runIds: each run's directory, in a folder of its own.  A run that is
 * malformed, named twice or not on this server is refused (NGX_DECLINED,
 * "no" says why and names the runs).
 */

static ngx_int_t
ngx_http_export_arcgis_runs(ngx_http_request_t *r,
    ngx_http_export_loc_conf_t *elcf, ngx_str_t *list,
    ngx_http_export_start_t *st, ngx_http_export_refusal_t *no)
{
    u_char       *p, *last, *comma, *s, *d;
    size_t        slen, dlen;
    ngx_int_t     rc;
    ngx_str_t     item, run, dir, *runs, *dirs, *bad;
    ngx_uint_t    n, i, j, nbad;
    const char   *why;

    runs = ngx_palloc(r->pool, 2 * NGX_HTTP_EXPORT_RUNS_MAX
                               * sizeof(ngx_str_t));
    bad = ngx_palloc(r->pool, NGX_HTTP_EXPORT_RUNS_MAX * sizeof(ngx_str_t));
    if (runs == NULL || bad == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    dirs = runs + NGX_HTTP_EXPORT_RUNS_MAX;

    n = 0;
    nbad = 0;
    why = NULL;
    slen = 0;
    dlen = 0;

    p = list->data;
    last = p + list->len;

    while (p <= last) {
        comma = ngx_strlchr(p, last, ',');
        if (comma == NULL) {
            comma = last;
        }

        item.data = p;
        item.len = comma - p;
        p = comma + 1;

        while (item.len && item.data[0] == ' ') {
            item.data++;
            item.len--;
        }

        while (item.len && item.data[item.len - 1] == ' ') {
            item.len--;
        }

        if (item.len == 0) {
            continue;
        }

        if (n == NGX_HTTP_EXPORT_RUNS_MAX) {
            no->status = NGX_HTTP_BAD_REQUEST;
            no->message = "runIds lists more reports than one export may "
                          "hold (100).";
            no->ndetails = 0;
            return NGX_DECLINED;
        }

        rc = ngx_http_export_run_check(r->pool, &item,
                                       NGX_HTTP_EXPORT_ARCGIS, &run);
        if (rc == NGX_ERROR) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (rc != NGX_OK) {
            why = "Invalid runIds: an id has 1 to 64 letters, digits, "
                  "\"-\" or \"_\".";
            bad[nbad++] = item;
            continue;
        }

        for (j = 0; j < n; j++) {
            if (runs[j].len == run.len
                && ngx_strncmp(runs[j].data, run.data, run.len) == 0)
            {
                break;
            }
        }

        if (j < n) {
            if (why == NULL) {
                why = "Invalid runIds: an id is listed more than once.";
                bad[nbad++] = item;
            }

            continue;
        }

        runs[n++] = run;
    }

    no->status = NGX_HTTP_BAD_REQUEST;
    no->details = bad;

    if (why) {
        no->message = why;
        no->ndetails = nbad;
        return NGX_DECLINED;
    }

    if (n == 0) {
        no->message = "runIds is required: a comma-separated list of "
                      "health check report ids.";
        no->ndetails = 0;
        return NGX_DECLINED;
    }

    for (i = 0; i < n; i++) {
        rc = ngx_http_export_source(r, elcf, &runs[i], &dir);

        if (rc == NGX_DECLINED) {
            bad[nbad++] = runs[i];
            continue;
        }

        if (rc != NGX_OK) {
            return rc;
        }

        dirs[i] = dir;
        slen += dir.len;
        dlen += runs[i].len + 2;
    }

    if (nbad) {
        no->status = NGX_HTTP_NOT_FOUND;
        no->message = "Unable to find the health check reports with these "
                      "runIds.";
        no->ndetails = nbad;
        return NGX_DECLINED;
    }

    s = ngx_pnalloc(r->pool, slen + dlen);
    if (s == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    st->source.data = s;
    st->folders.data = s + slen;
    d = st->folders.data;

    for (i = 0; i < n; i++) {
        s = ngx_cpymem(s, dirs[i].data, dirs[i].len);   /* with its '\0' */

        d = ngx_cpymem(d, runs[i].data, runs[i].len);
        *d++ = '/';
        *d++ = '\0';
    }

    st->source.len = slen;
    st->folders.len = dlen;
    st->nsources = n;
    st->op = r->uri;
    st->style = NGX_HTTP_EXPORT_ARCGIS;

    return NGX_OK;
}


/* f: from the form body or the query; html when it is not given */

static ngx_int_t
ngx_http_export_arcgis_format(ngx_http_request_t *r, ngx_str_t *form,
    ngx_uint_t *f)
{
    ngx_str_t  value;

    *f = NGX_HTTP_EXPORT_F_HTML;

    ngx_str_null(&value);

    if (form && ngx_http_export_form(r, form, "f", &value) != NGX_OK) {
        return NGX_ERROR;
    }

    if (value.len == 0
        && ngx_http_arg(r, (u_char *) "f", 1, &value) != NGX_OK)
    {
        return NGX_OK;
    }

    if (value.len == 0
        || (value.len == 4 && ngx_strncmp(value.data, "html", 4) == 0))
    {
        return NGX_OK;
    }

    if (value.len == 4 && ngx_strncmp(value.data, "json", 4) == 0) {
        *f = NGX_HTTP_EXPORT_F_JSON;
        return NGX_OK;
    }

    if (value.len == 5 && ngx_strncmp(value.data, "pjson", 5) == 0) {
        *f = NGX_HTTP_EXPORT_F_PJSON;
        return NGX_OK;
    }

    *f = NGX_HTTP_EXPORT_F_JSON;

    return NGX_DECLINED;
}


static const char *
ngx_http_export_arcgis_status(ngx_http_export_snapshot_t *snap)
{
    switch (snap->state) {

    case NGX_HTTP_EXPORT_NOT_STARTED:
    case NGX_HTTP_EXPORT_QUEUED:
        return "SUBMITTED";

    case NGX_HTTP_EXPORT_IN_PROGRESS:
        return "EXECUTING";

    case NGX_HTTP_EXPORT_COMPLETED:
        return "COMPLETED";

    default:
        return snap->cancelled ? "CANCELLED" : "FAILED";
    }
}


/* GET .../jobs/<jobid>: the job, with the result's URL once done */

static ngx_int_t
ngx_http_export_arcgis_job(ngx_http_request_t *r)
{
    u_char                      *p;
    ngx_int_t                    rc;
    ngx_str_t                    job, url, *details;
    ngx_uint_t                   f, i;
    yajl_gen                     g;
    ngx_http_export_ctx_t       *ctx;
    ngx_http_export_loc_conf_t  *elcf;
    ngx_http_export_snapshot_t   snap;

    elcf = ngx_http_get_module_loc_conf(r, ngx_http_export_module);

    ctx = ngx_http_export_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_export_query_token(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_export_arcgis_format(r, NULL, &f) != NGX_OK) {
        return ngx_http_export_arcgis_error(r, NGX_HTTP_EXPORT_F_JSON,
                   NGX_HTTP_BAD_REQUEST,
                   "Invalid format: f must be html, json or pjson.",
                   NULL, 0);
    }

    if (ngx_http_complex_value(r, elcf->task_id, &job) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_export_task_by_job(r, &job, &snap);

    if (rc == NGX_DECLINED) {
        details = ngx_palloc(r->pool, sizeof(ngx_str_t));
        if (details == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        *details = job;

        return ngx_http_export_arcgis_error(r, f, NGX_HTTP_NOT_FOUND,
                   "Job not found: it does not exist or has expired.",
                   details, 1);
    }

    if (rc != NGX_OK) {
        return rc;
    }

    ngx_str_null(&url);

    if (snap.state == NGX_HTTP_EXPORT_COMPLETED
        && ngx_http_export_link(r, &snap, &url) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    g = yajl_gen_alloc(NULL);
    if (g == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    yajl_gen_config(g, yajl_gen_beautify, f != NGX_HTTP_EXPORT_F_JSON);

    yajl_gen_map_open(g);

    ngx_http_export_key(g, "result");
    yajl_gen_map_open(g);
    if (url.len) {
        ngx_http_export_key(g, "URL");
        yajl_gen_string(g, url.data, url.len);
    }
    yajl_gen_map_close(g);

    ngx_http_export_key(g, "updatedtime");
    yajl_gen_integer(g, (long long) snap.updated_ms);

    ngx_http_export_key(g, "jobid");
    yajl_gen_string(g, ctx->job.data, ctx->job.len);

    ngx_http_export_key(g, "resource");
    yajl_gen_map_open(g);
    ngx_http_export_key(g, "name");
    ngx_http_export_key(g, "healthCheck");
    yajl_gen_map_close(g);

    ngx_http_export_key(g, "name");
    ngx_http_export_key(g, "exportDiagnosticReports");

    ngx_http_export_key(g, "endtime");
    yajl_gen_integer(g, ngx_http_export_finished(snap.state)
                        ? (long long) snap.finished_ms : -1);

    ngx_http_export_key(g, "starttime");
    yajl_gen_integer(g, (long long) snap.created_ms);

    ngx_http_export_key(g, "operationURI");
    yajl_gen_string(g, snap.op.data, snap.op.len);

    ngx_http_export_key(g, "status");
    ngx_http_export_cstr(g, ngx_http_export_arcgis_status(&snap));

    /* what went wrong or was left out, as ArcGIS job messages */

    ngx_http_export_key(g, "messages");
    yajl_gen_array_open(g);

    if (snap.state == NGX_HTTP_EXPORT_FAILED) {
        yajl_gen_map_open(g);
        ngx_http_export_key(g, "type");
        ngx_http_export_key(g, "error");
        ngx_http_export_key(g, "description");
        yajl_gen_string(g, snap.error.data, snap.error.len);
        yajl_gen_map_close(g);
    }

    for (i = 0; i < snap.nkept; i++) {
        yajl_gen_map_open(g);
        ngx_http_export_key(g, "type");
        ngx_http_export_key(g, "warning");
        ngx_http_export_key(g, "description");
        p = snap.warnings[i].reason;
        yajl_gen_string(g, p, ngx_strlen(p));
        ngx_http_export_key(g, "report");
        p = snap.warnings[i].report;
        yajl_gen_string(g, p, ngx_strlen(p));
        yajl_gen_map_close(g);
    }

    yajl_gen_array_close(g);

    yajl_gen_map_close(g);

    if (f == NGX_HTTP_EXPORT_F_HTML) {
        return ngx_http_export_send_html_gen(r, NGX_HTTP_OK, "Job", g);
    }

    return ngx_http_export_send_json(r, g, NGX_HTTP_OK);
}


/* ArcGIS's error: {"error": {"code", "message", "details"}} */

static ngx_int_t
ngx_http_export_arcgis_error(ngx_http_request_t *r, ngx_uint_t f,
    ngx_uint_t status, const char *message, ngx_str_t *details,
    ngx_uint_t ndetails)
{
    yajl_gen    g;
    ngx_uint_t  i;

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "export: ArcGIS request refused: %d %s", status, message);

    g = yajl_gen_alloc(NULL);
    if (g == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    yajl_gen_config(g, yajl_gen_beautify, f != NGX_HTTP_EXPORT_F_JSON);

    yajl_gen_map_open(g);
    ngx_http_export_key(g, "error");
    yajl_gen_map_open(g);
    ngx_http_export_key(g, "code");
    yajl_gen_integer(g, status);
    ngx_http_export_key(g, "message");
    ngx_http_export_cstr(g, message);
    ngx_http_export_key(g, "details");
    yajl_gen_array_open(g);
    for (i = 0; i < ndetails; i++) {
        yajl_gen_string(g, details[i].data, details[i].len);
    }
    yajl_gen_array_close(g);
    yajl_gen_map_close(g);
    yajl_gen_map_close(g);

    if (f == NGX_HTTP_EXPORT_F_HTML) {
        return ngx_http_export_send_html_gen(r, status, "Error", g);
    }

    return ngx_http_export_send_json(r, g, status);
}


/*
 * f=html: a minimal readable page of the same document, each member a
 * row, a URL a link; everything escaped.
 */

static ngx_int_t
ngx_http_export_send_html_gen(ngx_http_request_t *r, ngx_uint_t status,
    const char *title, yajl_gen g)
{
    char                  err[128];
    size_t                len;
    yajl_val              doc;
    ngx_int_t             rc;
    const unsigned char  *json;
    u_char               *text;

    if (yajl_gen_get_buf(g, &json, &len) != yajl_gen_status_ok) {
        yajl_gen_free(g);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    text = ngx_pnalloc(r->pool, len + 1);
    if (text == NULL) {
        yajl_gen_free(g);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(text, json, len);
    text[len] = '\0';

    yajl_gen_free(g);

    doc = yajl_tree_parse((char *) text, err, sizeof(err));
    if (doc == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_export_send_html(r, status, title, doc);

    yajl_tree_free(doc);

    return rc;
}


static u_char *
ngx_http_export_html_text(u_char *p, u_char *s, size_t len)
{
    return (u_char *) ngx_escape_html(p, s, len);
}


static size_t
ngx_http_export_html_len(u_char *s, size_t len)
{
    return len + ngx_escape_html(NULL, s, len);
}


/* one value as HTML: objects as nested tables */

static size_t
ngx_http_export_html_value(u_char *p, yajl_val v)
{
    u_char      *start, *s, num[NGX_INT64_LEN + 2];
    size_t       len, n;
    ngx_uint_t   i, link;

    start = p;
    len = 0;

#define ngx_http_export_html_out(src, l)                                      \
    if (p) { p = ngx_cpymem(p, src, l); } len += l

    if (YAJL_IS_OBJECT(v)) {
        ngx_http_export_html_out("<table>", 7);

        for (i = 0; i < YAJL_GET_OBJECT(v)->len; i++) {
            s = (u_char *) YAJL_GET_OBJECT(v)->keys[i];
            n = ngx_strlen(s);

            ngx_http_export_html_out("<tr><th>", 8);

            if (p) {
                p = ngx_http_export_html_text(p, s, n);
            }

            len += ngx_http_export_html_len(s, n);

            ngx_http_export_html_out("</th><td>", 9);

            n = ngx_http_export_html_value(p,
                                           YAJL_GET_OBJECT(v)->values[i]);
            if (p) {
                p += n;
            }

            len += n;

            ngx_http_export_html_out("</td></tr>", 10);
        }

        ngx_http_export_html_out("</table>", 8);

    } else if (YAJL_IS_ARRAY(v)) {
        ngx_http_export_html_out("<ul>", 4);

        for (i = 0; i < YAJL_GET_ARRAY(v)->len; i++) {
            ngx_http_export_html_out("<li>", 4);

            n = ngx_http_export_html_value(p, YAJL_GET_ARRAY(v)->values[i]);
            if (p) {
                p += n;
            }

            len += n;

            ngx_http_export_html_out("</li>", 5);
        }

        ngx_http_export_html_out("</ul>", 5);

    } else if (YAJL_IS_STRING(v)) {
        s = (u_char *) YAJL_GET_STRING(v);
        n = ngx_strlen(s);

        link = (n && (s[0] == '/' || ngx_strncmp(s, "http://", 7) == 0
                      || ngx_strncmp(s, "https://", 8) == 0));

        if (link) {
            ngx_http_export_html_out("<a href=\"", 9);

            if (p) {
                p = ngx_http_export_html_text(p, s, n);
            }

            len += ngx_http_export_html_len(s, n);

            ngx_http_export_html_out("\">", 2);
        }

        if (p) {
            p = ngx_http_export_html_text(p, s, n);
        }

        len += ngx_http_export_html_len(s, n);

        if (link) {
            ngx_http_export_html_out("</a>", 4);
        }

    } else if (YAJL_IS_NUMBER(v)) {
        s = (u_char *) YAJL_GET_NUMBER(v);
        n = ngx_min(ngx_strlen(s), sizeof(num));
        ngx_memcpy(num, s, n);
        ngx_http_export_html_out(num, n);

    } else if (YAJL_IS_TRUE(v)) {
        ngx_http_export_html_out("true", 4);

    } else if (YAJL_IS_FALSE(v)) {
        ngx_http_export_html_out("false", 5);
    }

#undef ngx_http_export_html_out

    return p ? (size_t) (p - start) : len;
}


static ngx_int_t
ngx_http_export_send_html(ngx_http_request_t *r, ngx_uint_t status,
    const char *title, yajl_val doc)
{
    size_t        len;
    ngx_buf_t    *b;
    ngx_int_t     rc;
    ngx_chain_t   out;

    static u_char  head[] = "<!DOCTYPE html>" CRLF
                            "<html><head><meta charset=\"utf-8\"><title>";
    static u_char  mid[] = "</title></head>" CRLF "<body><h1>";
    static u_char  body[] = "</h1>" CRLF;
    static u_char  tail[] = CRLF "</body></html>" CRLF;

    len = sizeof(head) - 1 + 2 * ngx_strlen(title) + sizeof(mid) - 1
          + sizeof(body) - 1 + ngx_http_export_html_value(NULL, doc)
          + sizeof(tail) - 1;

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last = ngx_cpymem(b->last, head, sizeof(head) - 1);
    b->last = ngx_cpymem(b->last, title, ngx_strlen(title));
    b->last = ngx_cpymem(b->last, mid, sizeof(mid) - 1);
    b->last = ngx_cpymem(b->last, title, ngx_strlen(title));
    b->last = ngx_cpymem(b->last, body, sizeof(body) - 1);
    b->last += ngx_http_export_html_value(b->last, doc);
    b->last = ngx_cpymem(b->last, tail, sizeof(tail) - 1);

    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    r->headers_out.status = status;
    r->headers_out.content_length_n = b->last - b->pos;
    ngx_str_set(&r->headers_out.content_type, "text/html; charset=utf-8");
    r->headers_out.content_type_len = sizeof("text/html") - 1;
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


/*
 * Uniware: POST .../export/job/status {"jobCode": "..."}: the job's
 * status and, once it is SUCCESSFUL, its file's link in filePath.
 */

static ngx_int_t
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

    rc = ngx_http_read_client_request_body(r, ngx_http_export_uniware_body);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


static void
ngx_http_export_uniware_body(ngx_http_request_t *r)
{
    ngx_http_finalize_request(r, ngx_http_export_internal_error(r,
                                     ngx_http_export_uniware_status(r)));
}


static const char *
ngx_http_export_uniware_word(ngx_http_export_snapshot_t *snap)
{
    switch (snap->state) {

    case NGX_HTTP_EXPORT_NOT_STARTED:
    case NGX_HTTP_EXPORT_QUEUED:
        return "QUEUED";

    case NGX_HTTP_EXPORT_IN_PROGRESS:
        return "RUNNING";

    case NGX_HTTP_EXPORT_COMPLETED:
        return "SUCCESSFUL";

    default:
        return snap->cancelled ? "CANCELLED" : "FAILED";
    }
}


static ngx_int_t
ngx_http_export_uniware_status(ngx_http_request_t *r)
{
    u_char                      *p, msg[64];
    u_char                       desc[NGX_HTTP_EXPORT_WARN_REPORT
                                      + sizeof("report \"\", byte ")
                                      + NGX_INT64_LEN];
    char                         err[128], *code;
    yajl_gen                     g;
    yajl_val                     doc, v;
    ngx_int_t                    rc;
    ngx_str_t                    body, job, url;
    ngx_uint_t                   i;
    ngx_http_export_snapshot_t   snap;

    static const char  *k_job[] = { "jobCode", NULL };

    rc = ngx_http_export_read_body(r, &body);

    if (rc == NGX_DECLINED) {
        return ngx_http_export_uniware_error(r,
                   NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                   NGX_HTTP_EXPORT_UW_BODY, "",
                   "the request body is too large");
    }

    if (rc != NGX_OK) {
        return rc;
    }

    doc = yajl_tree_parse((char *) body.data, err, sizeof(err));

    if (doc == NULL || !YAJL_IS_OBJECT(doc)) {
        if (doc) {
            yajl_tree_free(doc);
        }

        return ngx_http_export_uniware_error(r, NGX_HTTP_BAD_REQUEST,
                   NGX_HTTP_EXPORT_UW_BODY, "",
                   "the request body is not a JSON object");
    }

    v = yajl_tree_get(doc, k_job, yajl_t_string);
    code = YAJL_GET_STRING(v);

    if (code == NULL || code[0] == '\0') {
        yajl_tree_free(doc);

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
        && ngx_http_export_link(r, &snap, &url) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    g = yajl_gen_alloc(NULL);
    if (g == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    yajl_gen_map_open(g);

    ngx_http_export_key(g, "successful");
    yajl_gen_bool(g, 1);

    ngx_http_export_key(g, "message");

    switch (snap.state) {

    case NGX_HTTP_EXPORT_COMPLETED:
        ngx_http_export_key(g, "the export file is ready");
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

    ngx_http_export_key(g, "errors");
    yajl_gen_array_open(g);

    if (snap.state == NGX_HTTP_EXPORT_FAILED) {
        yajl_gen_map_open(g);
        ngx_http_export_key(g, "code");
        yajl_gen_integer(g, NGX_HTTP_EXPORT_UW_FAILED);
        ngx_http_export_key(g, "fieldName");
        ngx_http_export_key(g, "");
        ngx_http_export_key(g, "description");
        yajl_gen_string(g, snap.error.data, snap.error.len);
        ngx_http_export_key(g, "message");
        yajl_gen_string(g, snap.error.data, snap.error.len);
        ngx_http_export_key(g, "errorParams");
        yajl_gen_map_open(g);
        yajl_gen_map_close(g);
        yajl_gen_map_close(g);
    }

    yajl_gen_array_close(g);

    ngx_http_export_key(g, "warnings");
    yajl_gen_array_open(g);

    for (i = 0; i < snap.nkept; i++) {
        yajl_gen_map_open(g);
        ngx_http_export_key(g, "code");
        yajl_gen_integer(g, NGX_HTTP_EXPORT_UW_WARNING);
        ngx_http_export_key(g, "message");
        p = snap.warnings[i].reason;
        yajl_gen_string(g, p, ngx_strlen(p));
        ngx_http_export_key(g, "description");
        p = ngx_sprintf(desc, "report \"%s\", byte %uL",
                        snap.warnings[i].report, snap.warnings[i].offset);
        yajl_gen_string(g, desc, p - desc);
        yajl_gen_map_close(g);
    }

    yajl_gen_array_close(g);

    ngx_http_export_key(g, "status");
    ngx_http_export_cstr(g, ngx_http_export_uniware_word(&snap));

    ngx_http_export_key(g, "filePath");
    if (url.len) {
        yajl_gen_string(g, url.data, url.len);

    } else {
        yajl_gen_null(g);
    }

    yajl_gen_map_close(g);

    return ngx_http_export_send_json(r, g, NGX_HTTP_OK);
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
    ngx_http_export_key(g, "successful");
    yajl_gen_bool(g, 0);
    ngx_http_export_key(g, "message");
    ngx_http_export_cstr(g, message);
    ngx_http_export_key(g, "errors");
    yajl_gen_array_open(g);
    yajl_gen_map_open(g);
    ngx_http_export_key(g, "code");
    yajl_gen_integer(g, code);
    ngx_http_export_key(g, "fieldName");
    ngx_http_export_cstr(g, field);
    ngx_http_export_key(g, "description");
    ngx_http_export_cstr(g, message);
    ngx_http_export_key(g, "message");
    ngx_http_export_cstr(g, message);
    ngx_http_export_key(g, "errorParams");
    yajl_gen_map_open(g);
    yajl_gen_map_close(g);
    yajl_gen_map_close(g);
    yajl_gen_array_close(g);
    ngx_http_export_key(g, "warnings");
    yajl_gen_array_open(g);
    yajl_gen_array_close(g);
    ngx_http_export_key(g, "status");
    yajl_gen_null(g);
    ngx_http_export_key(g, "filePath");
    yajl_gen_null(g);
    yajl_gen_map_close(g);

    return ngx_http_export_send_json(r, g, status);
}


/*
 * WebAdMIT: POST .../exports/:export_id/export_files starts a file (or
 * answers the one under way); GET .../exports/:export_id/export_files/
 * :export_file_id (a location with export_task_id) answers it.
 */

static ngx_int_t
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

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    ngx_memzero(&st, sizeof(ngx_http_export_start_t));

    rc = ngx_http_export_source(r, elcf, &ctx->run, &st.source);

    if (rc == NGX_DECLINED) {
        return ngx_http_export_webadmit_message(r, NGX_HTTP_NOT_FOUND,
                                                "Not Found", 0);
    }

    if (rc != NGX_OK) {
        return rc;
    }

    st.nsources = 1;
    ngx_str_set(&st.folders, "\0");
    st.run = ctx->run;
    st.keyed = 1;
    st.style = NGX_HTTP_EXPORT_WEBADMIT;

    rc = ngx_http_export_start(r, elcf, &st);
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
    ngx_http_export_key(g, "href");
    yajl_gen_string(g, r->uri.data, r->uri.len);
    ngx_http_export_key(g, "export_files");
    yajl_gen_array_open(g);
    ngx_http_export_webadmit_gen(r, g, &st.snap, &href, 0);
    yajl_gen_array_close(g);
    yajl_gen_map_close(g);

    /* a file under way is answered as it is: nothing was created */

    return ngx_http_export_send_json(r, g, st.existing ? NGX_HTTP_OK
                                                       : NGX_HTTP_CREATED);
}


static ngx_int_t
ngx_http_export_webadmit_file(ngx_http_request_t *r,
    ngx_http_export_loc_conf_t *elcf, ngx_http_export_ctx_t *ctx)
{
    ngx_int_t                    serial;
    ngx_str_t                    value, href;
    yajl_gen                     g;
    ngx_http_export_zone_t      *zone;
    ngx_http_export_task_t      *task;
    ngx_http_export_snapshot_t   snap;

    if (ngx_http_complex_value(r, elcf->task_id, &value) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    serial = (value.len && value.len <= 18 && value.data[0] != '0')
             ? ngx_atoi(value.data, value.len) : NGX_ERROR;

    if (serial == NGX_ERROR) {
        return ngx_http_export_webadmit_message(r, NGX_HTTP_NOT_FOUND,
                                                "Not Found", 0);
    }

    zone = elcf->shm_zone->data;

    ngx_shmtx_lock(&zone->shpool->mutex);

    task = ngx_http_export_task_lookup(zone, &ctx->run);

    if (task && task->serial == (uint64_t) serial) {
        ngx_http_export_task_snapshot(task, &snap, r->pool);

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
    ngx_http_export_key(g, "export_files");
    ngx_http_export_webadmit_gen(r, g, &snap, &href, 1);
    yajl_gen_map_close(g);

    return ngx_http_export_send_json(r, g, NGX_HTTP_OK);
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

    ngx_http_export_key(g, "id");
    yajl_gen_integer(g, (long long) snap->serial);

    ngx_http_export_key(g, "href");
    yajl_gen_string(g, href->data, href->len);

    /* the export's id is a number, as it was given */
    ngx_http_export_key(g, "export_id");
    ngx_memcpy(num, snap->run, ngx_min(snap->run_len, NGX_INT64_LEN));
    yajl_gen_number(g, (const char *) num,
                    ngx_min(snap->run_len, NGX_INT64_LEN));

    ngx_http_export_key(g, "status");
    ngx_http_export_cstr(g, word);

    if (link && snap->state == NGX_HTTP_EXPORT_COMPLETED
        && snap->nreports != 0)
    {
        if (ngx_http_export_link(r, snap, &url) == NGX_OK) {
            ngx_http_export_key(g, "download_url");
            yajl_gen_string(g, url.data, url.len);
        }
    }

    yajl_gen_map_close(g);
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
    ngx_http_export_key(g, "message");
    ngx_http_export_cstr(g, message);
    yajl_gen_map_close(g);

    return ngx_http_export_send_json(r, g, status);
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
ngx_http_export_styles_init(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_export_header_filter;

    return NGX_OK;
}


/* a small body, in memory; NGX_DECLINED when it is too large */

static ngx_int_t
ngx_http_export_read_body(ngx_http_request_t *r, ngx_str_t *body)
{
    u_char       *p;
    size_t        len;
    ngx_chain_t  *cl;

    body->len = 0;
    body->data = (u_char *) "";

    if (r->request_body == NULL) {
        return NGX_OK;
    }

    if (r->request_body->temp_file) {
        return NGX_DECLINED;
    }

    len = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        if (cl->buf->in_file) {
            return NGX_DECLINED;
        }

        len += cl->buf->last - cl->buf->pos;
    }

    if (len > NGX_HTTP_EXPORT_BODY_MAX) {
        return NGX_DECLINED;
    }

    p = ngx_pnalloc(r->pool, len + 1);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    body->data = p;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        p = ngx_cpymem(p, cl->buf->pos, cl->buf->last - cl->buf->pos);
    }

    *p = '\0';
    body->len = len;

    return NGX_OK;
}


/*
 * A field of an application/x-www-form-urlencoded body, decoded ("+" a
 * space, %XX a byte); empty when it is not there.
 */

static ngx_int_t
ngx_http_export_form(ngx_http_request_t *r, ngx_str_t *form,
    const char *name, ngx_str_t *value)
{
    u_char  *p, *last, *end, *eq, *dst, *src;
    size_t   len;

    ngx_str_null(value);

    len = ngx_strlen(name);
    p = form->data;
    last = form->data + form->len;

    while (p < last) {
        end = ngx_strlchr(p, last, '&');
        if (end == NULL) {
            end = last;
        }

        eq = ngx_strlchr(p, end, '=');

        if (eq && (size_t) (eq - p) == len
            && ngx_strncmp(p, name, len) == 0)
        {
            dst = ngx_pnalloc(r->pool, end - eq);
            if (dst == NULL) {
                return NGX_ERROR;
            }

            value->data = dst;

            for (src = eq + 1; src < end; src++) {
                *dst++ = (*src == '+') ? ' ' : *src;
            }

            src = value->data;
            end = dst;
            dst = value->data;

            ngx_unescape_uri(&dst, &src, end - src, 0);

            value->len = dst - value->data;

            return NGX_OK;
        }

        p = end + 1;
    }

    return NGX_OK;
}


/* a token in the query, when the body has none: decoded, for $export_token */

static ngx_int_t
ngx_http_export_query_token(ngx_http_request_t *r)
{
    ngx_str_t               query;
    ngx_http_export_ctx_t  *ctx;

    ctx = ngx_http_export_get_ctx(r);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    if (ctx->token.len || r->args.len == 0) {
        return NGX_OK;
    }

    /* the query has the form of a form body */
    query = r->args;

    return ngx_http_export_form(r, &query, "token", &ctx->token);
}


/*
 * A task by the id a style shows: its UUID, or "j" and its UUID (an
 * ArcGIS job id).  Sets $export_job_id.
 */

static ngx_int_t
ngx_http_export_task_by_job(ngx_http_request_t *r, ngx_str_t *job,
    ngx_http_export_snapshot_t *snap)
{
    u_char                  id[16], *p;
    size_t                  len;
    ngx_http_export_ctx_t  *ctx;
    ngx_http_export_zone_t *zone;
    ngx_http_export_task_t *task;

    ctx = ngx_http_export_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = job->data;
    len = job->len;

    if (len == NGX_HTTP_EXPORT_UUID_LEN + 1 && p[0] == 'j') {
        p++;
        len--;
    }

    if (ngx_http_export_uuid_parse(id, p, len) != NGX_OK) {
        return NGX_DECLINED;
    }

    zone = ctx->shm_zone->data;

    ngx_shmtx_lock(&zone->shpool->mutex);

    task = ngx_http_export_task_lookup_id(zone, id);

    if (task) {
        ngx_http_export_task_snapshot(task, snap, r->pool);
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

static ngx_int_t
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

static ngx_int_t
ngx_http_export_link(ngx_http_request_t *r,
    ngx_http_export_snapshot_t *snap, ngx_str_t *url)
{
    time_t  expires;

    if (ngx_http_export_link_sign(r, snap, url, &expires) != NGX_OK) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * NGX_DECLINED when the method is one of "methods" (a body, unless it
 * is a POST, the caller's to read, is discarded); else 405 for the
 * caller to answer in its style, with Allow set, or the request's end.
 */

static ngx_int_t
ngx_http_export_method(ngx_http_request_t *r, ngx_uint_t methods,
    const char *allow)
{
    ngx_int_t  rc;
    ngx_str_t  value;

    if ((r->method & methods) && r->method == NGX_HTTP_POST) {
        return NGX_DECLINED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

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


static ngx_int_t
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


static ngx_int_t
ngx_http_export_send_json(ngx_http_request_t *r, yajl_gen g,
    ngx_uint_t status)
{
    return ngx_http_export_send_gen(r, (void *) g, status);
}
