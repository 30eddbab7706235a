
/*
 * The ArcGIS style: POST .../healthCheck/reports/export with runIds, f
 * and token in a form body starts one job for several runs (a folder per
 * run in the archive); GET .../jobs/<jobid> (a location with
 * export_task_id) answers the job document; f=json, pjson or a small
 * html page; refusals in ArcGIS's {"error": {...}} shape.
 */


#include "ngx_http_export_module.h"

#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>


#define NGX_HTTP_EXPORT_F_HTML        0
#define NGX_HTTP_EXPORT_F_JSON        1
#define NGX_HTTP_EXPORT_F_PJSON       2


/* ArcGIS job statuses, by state (ngx_http_export_word()) */
static const char  *ngx_http_export_arcgis_words[] = {
    "SUBMITTED", "SUBMITTED", "EXECUTING", "COMPLETED", "FAILED", "CANCELLED"
};


typedef struct {
    ngx_uint_t                  status;
    const char                 *message;
    ngx_str_t                  *details;
    ngx_uint_t                  ndetails;
} ngx_http_export_refusal_t;


static ngx_int_t ngx_http_export_arcgis_submit(ngx_http_request_t *r);
static ngx_int_t ngx_http_export_arcgis_runs(ngx_http_request_t *r,
    ngx_http_export_loc_conf_t *elcf, ngx_str_t *list,
    ngx_http_export_start_t *st, ngx_http_export_refusal_t *no);
static ngx_int_t ngx_http_export_arcgis_format(ngx_http_request_t *r,
    ngx_str_t *form, ngx_uint_t *f);
static ngx_int_t ngx_http_export_arcgis_job(ngx_http_request_t *r);
static ngx_int_t ngx_http_export_arcgis_error(ngx_http_request_t *r,
    ngx_uint_t f, ngx_uint_t status, const char *message, ngx_str_t *details,
    ngx_uint_t ndetails);
static ngx_int_t ngx_http_export_arcgis_send(ngx_http_request_t *r,
    ngx_uint_t f, ngx_uint_t status, const char *title, yajl_gen g);
static ngx_int_t ngx_http_export_send_html_gen(ngx_http_request_t *r,
    ngx_uint_t status, const char *title, yajl_gen g);
static u_char *ngx_http_export_html_text(u_char *p, u_char *s, size_t len);
static size_t ngx_http_export_html_len(u_char *s, size_t len);
static size_t ngx_http_export_html_value(u_char *p, yajl_val v);
static ngx_int_t ngx_http_export_send_html(ngx_http_request_t *r,
    ngx_uint_t status, const char *title, yajl_val doc);
static ngx_int_t ngx_http_export_form(ngx_http_request_t *r, ngx_str_t *form,
    const char *name, ngx_str_t *value);
static ngx_int_t ngx_http_export_query_token(ngx_http_request_t *r);


/*
 * ArcGIS: POST .../healthCheck/reports/export with runIds, f and token
 * in a form body starts a job; GET .../jobs/<jobid> (a location with
 * export_task_id) answers the job.
 */

ngx_int_t
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

    return ngx_http_export_arcgis_submit(r);
}


/* a body over the location's limit (ngx_http_export_style_handler()) */

ngx_int_t
ngx_http_export_arcgis_too_large(ngx_http_request_t *r)
{
    ngx_uint_t  f;

    (void) ngx_http_export_arcgis_format(r, NULL, &f);

    return ngx_http_export_arcgis_error(r, f,
               NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
               "The request body is too large for the export operation.",
               NULL, 0);
}


/* with the form body read */

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

    if (ngx_http_export_read_body(r, &body) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
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
    ngx_http_export_gen_key(g, "jobsUrl");
    yajl_gen_string(g, uri.data, uri.len);
    ngx_http_export_gen_key(g, "jobid");
    yajl_gen_string(g, ctx->job.data, ctx->job.len);
    ngx_http_export_gen_key(g, "status");
    ngx_http_export_gen_key(g, "SUBMITTED");
    yajl_gen_map_close(g);

    return ngx_http_export_arcgis_send(r, f, NGX_HTTP_OK,
                                       "Export submitted", g);
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
    u_char       *s, *d;
    size_t        slen, dlen, pos;
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

    pos = 0;

    while (exp_list_next(list->data, list->len, &pos,
                         (const u_char **) &item.data, &item.len))
    {
        /* every item counts, well formed or not: "bad" has this room */

        if (n + nbad == NGX_HTTP_EXPORT_RUNS_MAX) {
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
        && ngx_http_export_style_link(r, &snap, &url) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    g = yajl_gen_alloc(NULL);
    if (g == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    yajl_gen_config(g, yajl_gen_beautify, f != NGX_HTTP_EXPORT_F_JSON);

    yajl_gen_map_open(g);

    ngx_http_export_gen_key(g, "result");
    yajl_gen_map_open(g);
    if (url.len) {
        ngx_http_export_gen_key(g, "URL");
        yajl_gen_string(g, url.data, url.len);
    }
    yajl_gen_map_close(g);

    ngx_http_export_gen_key(g, "updatedtime");
    yajl_gen_integer(g, (long long) snap.updated_ms);

    ngx_http_export_gen_key(g, "jobid");
    yajl_gen_string(g, ctx->job.data, ctx->job.len);

    ngx_http_export_gen_key(g, "resource");
    yajl_gen_map_open(g);
    ngx_http_export_gen_key(g, "name");
    ngx_http_export_gen_key(g, "healthCheck");
    yajl_gen_map_close(g);

    ngx_http_export_gen_key(g, "name");
    ngx_http_export_gen_key(g, "exportDiagnosticReports");

    ngx_http_export_gen_key(g, "endtime");
    yajl_gen_integer(g, ngx_http_export_finished(snap.state)
                        ? (long long) snap.finished_ms : -1);

    ngx_http_export_gen_key(g, "starttime");
    yajl_gen_integer(g, (long long) snap.created_ms);

    ngx_http_export_gen_key(g, "operationURI");
    yajl_gen_string(g, snap.op.data, snap.op.len);

    ngx_http_export_gen_key(g, "status");
    ngx_http_export_gen_cstr(g, ngx_http_export_word(&snap,
                                               ngx_http_export_arcgis_words));

    /* what went wrong or was left out, as ArcGIS job messages */

    ngx_http_export_gen_key(g, "messages");
    yajl_gen_array_open(g);

    if (snap.state == NGX_HTTP_EXPORT_FAILED) {
        yajl_gen_map_open(g);
        ngx_http_export_gen_key(g, "type");
        ngx_http_export_gen_key(g, "error");
        ngx_http_export_gen_key(g, "description");
        yajl_gen_string(g, snap.error.data, snap.error.len);
        yajl_gen_map_close(g);
    }

    for (i = 0; i < snap.nkept; i++) {
        yajl_gen_map_open(g);
        ngx_http_export_gen_key(g, "type");
        ngx_http_export_gen_key(g, "warning");
        ngx_http_export_gen_key(g, "description");
        p = snap.warnings[i].reason;
        yajl_gen_string(g, p, ngx_strlen(p));
        ngx_http_export_gen_key(g, "report");
        p = snap.warnings[i].report;
        yajl_gen_string(g, p, ngx_strlen(p));
        yajl_gen_map_close(g);
    }

    yajl_gen_array_close(g);

    yajl_gen_map_close(g);

    return ngx_http_export_arcgis_send(r, f, NGX_HTTP_OK, "Job", g);
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
    ngx_http_export_gen_key(g, "error");
    yajl_gen_map_open(g);
    ngx_http_export_gen_key(g, "code");
    yajl_gen_integer(g, status);
    ngx_http_export_gen_key(g, "message");
    ngx_http_export_gen_cstr(g, message);
    ngx_http_export_gen_key(g, "details");
    yajl_gen_array_open(g);
    for (i = 0; i < ndetails; i++) {
        yajl_gen_string(g, details[i].data, details[i].len);
    }
    yajl_gen_array_close(g);
    yajl_gen_map_close(g);
    yajl_gen_map_close(g);

    return ngx_http_export_arcgis_send(r, f, status, "Error", g);
}


/* the document in the format f asks for */

static ngx_int_t
ngx_http_export_arcgis_send(ngx_http_request_t *r, ngx_uint_t f,
    ngx_uint_t status, const char *title, yajl_gen g)
{
    if (f == NGX_HTTP_EXPORT_F_HTML) {
        return ngx_http_export_send_html_gen(r, status, title, g);
    }

    return ngx_http_export_send_yajl(r, g, status);
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

    return ngx_http_export_send_buf(r, b, status, "text/html; charset=utf-8",
                                    sizeof("text/html") - 1);
}


/*
 * A field of an application/x-www-form-urlencoded body, decoded ("+" a
 * space, %XX a byte); empty when it is not there.
 */

static ngx_int_t
ngx_http_export_form(ngx_http_request_t *r, ngx_str_t *form,
    const char *name, ngx_str_t *value)
{
    u_char        *dst, *src, *end;
    size_t         len;
    const u_char  *raw;

    ngx_str_null(value);

    if (!exp_form_find(form->data, form->len, name, &raw, &len)) {
        return NGX_OK;
    }

    dst = ngx_pnalloc(r->pool, len + 1);
    if (dst == NULL) {
        return NGX_ERROR;
    }

    value->data = dst;

    for (end = (u_char *) raw + len, src = (u_char *) raw; src < end; src++) {
        *dst++ = (*src == '+') ? ' ' : *src;
    }

    src = value->data;
    end = dst;
    dst = value->data;

    ngx_unescape_uri(&dst, &src, end - src, 0);

    value->len = dst - value->data;

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
