
/*
 * Download links: signing, checking, and serving the archive the way
 * nginx serves a static file (open_file_cache, sendfile, ranges, ETag).
 *
 * A link is  <status uri>/file?task=<id>&expires=<unix time>&signature=<s>
 * where s is base64url(HMAC-SHA256(key, "v1\n" run "\n" task "\n" expires)).
 */


#include "ngx_http_export_module.h"
#include "ngx_http_export_cluster.h"
#include "ngx_export_hmac.h"


#define NGX_HTTP_EXPORT_SIG_LEN        32
#define NGX_HTTP_EXPORT_MACS           8
#define NGX_HTTP_EXPORT_WEBADMIT_TTL   29    /* "expiring in under 30 s" */


/* a keyed HMAC-SHA256 state, kept by the worker for one link key */
typedef struct {
    u_char                     *key;          /* a copy, ngx_alloc()ed */
    size_t                      key_len;
    exh_key_t                   mac;
} ngx_http_export_mac_t;


static ngx_http_export_mac_t  ngx_http_export_macs[NGX_HTTP_EXPORT_MACS];
static ngx_uint_t             ngx_http_export_next_mac;


static ngx_int_t ngx_http_export_link_mac(ngx_http_export_zone_t *zone,
    u_char *run, size_t run_len, u_char *id_text, time_t expires,
    u_char *mac);
static ngx_int_t ngx_http_export_hmac(ngx_http_export_zone_t *zone,
    u_char *msg, size_t len, u_char *mac);
static ngx_http_export_mac_t *ngx_http_export_hmac_key(u_char *key,
    size_t key_len);
static ngx_int_t ngx_http_export_file_error(ngx_http_request_t *r,
    ngx_uint_t status, const char *code, const char *message,
    const char *remediation);
static ngx_int_t ngx_http_export_file_method(ngx_http_request_t *r);
static ngx_int_t ngx_http_export_download(ngx_http_request_t *r);
static ngx_int_t ngx_http_export_data(ngx_http_request_t *r);


static ngx_int_t
ngx_http_export_link_mac(ngx_http_export_zone_t *zone, u_char *run,
    size_t run_len, u_char *id_text, time_t expires, u_char *mac)
{
    u_char        msg[sizeof("v1\n\n\n") + NGX_HTTP_EXPORT_RUN_MAX
                      + NGX_HTTP_EXPORT_UUID_LEN + NGX_TIME_T_LEN];
    u_char       *p;

    p = ngx_cpymem(msg, "v1\n", 3);
    p = ngx_cpymem(p, run, ngx_min(run_len, NGX_HTTP_EXPORT_RUN_MAX));
    *p++ = '\n';
    p = ngx_cpymem(p, id_text, NGX_HTTP_EXPORT_UUID_LEN);
    *p++ = '\n';
    p = ngx_http_export_uint(p, (uint64_t) expires);

    return ngx_http_export_hmac(zone, msg, p - msg, mac);
}


/*
 * HMAC-SHA256 of a message with the zone's link key.  OpenSSL's one-shot
 * HMAC() looks the algorithms up by name and sets up a new context for
 * every call, and even a kept EVP_MAC context copies its digest through
 * the provider (malloc, free, cleanse) on every re-initialisation; a
 * worker instead keeps, per key, the two states after the key's padded
 * blocks (ngx_export_hmac.c), and a message costs three compressions.
 */

static ngx_int_t
ngx_http_export_hmac(ngx_http_export_zone_t *zone, u_char *msg, size_t len,
    u_char *mac)
{
    u_char                 *key;
    size_t                  key_len;
    ngx_http_export_mac_t  *m;

    if (zone->link_key.len) {
        key = zone->link_key.data;
        key_len = zone->link_key.len;

    } else {
        key = zone->sh->key;
        key_len = sizeof(zone->sh->key);
    }

    m = ngx_http_export_hmac_key(key, key_len);
    if (m == NULL) {
        return NGX_ERROR;
    }

    if (exh_mac(&m->mac, msg, len, mac) != 0) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "export: HMAC-SHA256 with the export_link_secret key "
                      "failed");
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * The worker's context for a key.  A worker sees one key per zone; a
 * reload in single-process mode may bring others, so a few are kept, the
 * oldest given up first.
 */

static ngx_http_export_mac_t *
ngx_http_export_hmac_key(u_char *key, size_t key_len)
{
    u_char                 *copy;
    exh_key_t               mac;
    ngx_uint_t              i;
    ngx_http_export_mac_t  *m;

    for (i = 0; i < NGX_HTTP_EXPORT_MACS; i++) {
        m = &ngx_http_export_macs[i];

        if (m->key && m->key_len == key_len
            && ngx_memcmp(m->key, key, key_len) == 0)
        {
            return m;
        }
    }

    copy = ngx_alloc(key_len ? key_len : 1, ngx_cycle->log);
    if (copy == NULL) {
        return NULL;
    }

    ngx_memcpy(copy, key, key_len);

    if (exh_key_init(&mac, copy, key_len) != 0) {
        goto failed;
    }

    m = &ngx_http_export_macs[ngx_http_export_next_mac];
    ngx_http_export_next_mac = (ngx_http_export_next_mac + 1)
                               % NGX_HTTP_EXPORT_MACS;

    if (m->key) {
        exh_key_free(&m->mac);
        ngx_free(m->key);
    }

    m->key = copy;
    m->key_len = key_len;
    m->mac = mac;

    exh_key_free(&mac);

    return m;

failed:

    ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                  "export: cannot set up HMAC-SHA256 with the "
                  "export_link_secret key");

    ngx_free(copy);

    return NULL;
}


ngx_int_t
ngx_http_export_link_sign(ngx_http_request_t *r,
    ngx_http_export_snapshot_t *snap, u_char *id_text, ngx_str_t *url,
    time_t *expires)
{
    u_char                      mac[NGX_HTTP_EXPORT_SIG_LEN], *p;
    size_t                      len;
    uintptr_t                   escape;
    time_t                      ttl;
    ngx_str_t                   src, dst, base;
    const char                 *sep;
    ngx_http_export_zone_t     *zone;
    ngx_http_export_loc_conf_t *elcf;

    elcf = ngx_http_get_module_loc_conf(r, ngx_http_export_module);
    zone = elcf->shm_zone->data;

    ttl = elcf->link_ttl;

    if (elcf->style == NGX_HTTP_EXPORT_WEBADMIT
        && ttl > NGX_HTTP_EXPORT_WEBADMIT_TTL)
    {
        /* WebAdMIT clients are told a link lasts under 30 seconds */
        ttl = NGX_HTTP_EXPORT_WEBADMIT_TTL;
    }

    *expires = ngx_time() + ttl;

    if (ngx_http_export_link_mac(zone, snap->run, snap->run_len, id_text,
                                 *expires, mac)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "export: signing a download link failed");
        return NGX_ERROR;
    }

    if (elcf->link_uri) {
        /* export_download_uri: the operator's, as it is */

        if (ngx_http_complex_value(r, elcf->link_uri, &base) != NGX_OK) {
            return NGX_ERROR;
        }

        escape = 0;
        sep = ngx_strlchr(base.data, base.data + base.len, '?') ? "&" : "?";

    } else {
        /* this URI and "/file" */
        base = r->uri;
        escape = 2 * ngx_escape_uri(NULL, r->uri.data, r->uri.len,
                                    NGX_ESCAPE_URI);
        sep = "/file?";
    }

    len = base.len + escape + sizeof("/file?task=&expires=&signature=")
          + NGX_HTTP_EXPORT_UUID_LEN + NGX_TIME_T_LEN
          + ngx_base64_encoded_length(NGX_HTTP_EXPORT_SIG_LEN);

    url->data = ngx_pnalloc(r->pool, len);
    if (url->data == NULL) {
        return NGX_ERROR;
    }

    p = url->data;

    if (escape) {
        p = (u_char *) ngx_escape_uri(p, base.data, base.len,
                                      NGX_ESCAPE_URI);

    } else {
        p = ngx_cpymem(p, base.data, base.len);
    }

    p = ngx_cpymem(p, sep, ngx_strlen(sep));
    p = ngx_cpymem(p, "task=", sizeof("task=") - 1);
    p = ngx_cpymem(p, id_text, NGX_HTTP_EXPORT_UUID_LEN);
    p = ngx_cpymem(p, "&expires=", sizeof("&expires=") - 1);
    p = ngx_http_export_uint(p, (uint64_t) *expires);
    p = ngx_cpymem(p, "&signature=", sizeof("&signature=") - 1);

    src.data = mac;
    src.len = NGX_HTTP_EXPORT_SIG_LEN;
    dst.data = p;

    ngx_encode_base64url(&dst, &src);

    url->len = p + dst.len - url->data;

    return NGX_OK;
}


static ngx_int_t
ngx_http_export_file_method(ngx_http_request_t *r)
{
    ngx_int_t         rc;
    ngx_str_t         msg;
    ngx_table_elt_t  *h;

    if (r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD)) {
        rc = ngx_http_discard_request_body(r);
        return (rc == NGX_OK) ? NGX_DECLINED : rc;
    }

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Allow");
    ngx_str_set(&h->value, "GET, HEAD");

    ngx_str_set(&msg, "method not allowed on an export file");

    return ngx_http_export_send_error(r, NGX_HTTP_NOT_ALLOWED,
                                      "EXPORT_METHOD_NOT_ALLOWED", &msg,
                                      "Use GET or HEAD.", NULL, 0, 0);
}


static ngx_int_t
ngx_http_export_file_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *code, const char *message, const char *remediation)
{
    ngx_str_t  msg;

    msg.data = (u_char *) message;
    msg.len = ngx_strlen(message);

    return ngx_http_export_send_error(r, status, code, &msg, remediation,
                                      NULL, 0, 0);
}


ngx_int_t
ngx_http_export_download_handler(ngx_http_request_t *r)
{
    return ngx_http_export_internal_error(r, ngx_http_export_download(r));
}


ngx_int_t
ngx_http_export_data_handler(ngx_http_request_t *r)
{
    return ngx_http_export_internal_error(r, ngx_http_export_data(r));
}


/*
 * A link's signature (or an ArcGIS token) must never reach a log: the
 * request line, which error.log lines and $request in access logs show,
 * keeps the query without its value.
 */

void
ngx_http_export_hide_arg(ngx_http_request_t *r, const char *name)
{
    u_char  *line;
    size_t   len, hidden;

    len = exp_hide_arg(NULL, r->request_line.data, r->request_line.len,
                       name, &hidden);
    if (hidden == 0) {
        return;
    }

    line = ngx_pnalloc(r->pool, len);
    if (line == NULL) {
        return;
    }

    r->request_line.len = exp_hide_arg(line, r->request_line.data,
                                       r->request_line.len, name, &hidden);
    r->request_line.data = line;
}


static ngx_int_t
ngx_http_export_download(ngx_http_request_t *r)
{
    u_char                      mac[NGX_HTTP_EXPORT_SIG_LEN];
    u_char                      sig[NGX_HTTP_EXPORT_SIG_LEN + 4];
    u_char                      id[16];
    time_t                      expires;
    ngx_int_t                   rc;
    ngx_str_t                   task_arg, exp_arg, sig_arg, value;
    ngx_str_t                   run;
    ngx_uint_t                  found;
    ngx_http_export_ctx_t      *ctx;
    ngx_http_export_zone_t     *zone;
    ngx_http_export_task_t     *task;
    ngx_http_export_loc_conf_t *elcf;
    ngx_http_export_snapshot_t  snap;

    ngx_http_export_hide_arg(r, "signature");

    rc = ngx_http_export_file_method(r);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    elcf = ngx_http_get_module_loc_conf(r, ngx_http_export_module);
    zone = elcf->shm_zone->data;

    ctx = ngx_http_export_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_arg(r, (u_char *) "task", 4, &task_arg) != NGX_OK
        || ngx_http_arg(r, (u_char *) "expires", 7, &exp_arg) != NGX_OK
        || ngx_http_arg(r, (u_char *) "signature", 9, &sig_arg) != NGX_OK
        || exp_link_parse(task_arg.data, task_arg.len, exp_arg.data,
                          exp_arg.len, sig_arg.data, sig_arg.len, id,
                          &expires, sig)
           != 0)
    {
        return ngx_http_export_file_error(r, NGX_HTTP_FORBIDDEN,
                   "EXPORT_LINK_INVALID",
                   "the download link is incomplete or malformed",
                   "Get a new link from the export's status.");
    }

    /* the run: the location's export_run_id, else the task's own */

    found = 0;

    ngx_str_null(&run);

    if (elcf->run_id) {
        rc = ngx_http_export_run_id(r, elcf->run_id, NGX_HTTP_EXPORT_ARCGIS,
                                    &run, &value);

        if (rc == NGX_ERROR) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (rc != NGX_OK) {
            return ngx_http_export_file_error(r, NGX_HTTP_FORBIDDEN,
                       "EXPORT_LINK_INVALID",
                       "the download link does not name a valid run",
                       "Get a new link from the export's status.");
        }

        found = 1;
    }

    /* a task the zone does not know may be in the store */

    rc = ngx_http_export_resolve(r, zone, NULL, id, 1);
    if (rc != NGX_OK) {
        return ngx_http_export_resolve_answer(r, rc);
    }

    ngx_shmtx_lock(&zone->shpool->mutex);

    task = ngx_http_export_task_lookup_id(zone, id);

    if (task) {
        ngx_http_export_task_snapshot(task, &snap, r->pool,
                                      NGX_HTTP_EXPORT_SNAP_PATH);

        if (!found) {
            run.data = snap.run;
            run.len = snap.run_len;
            found = 1;
        }
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    if (!found) {
        if (ngx_http_export_store_down(r)) {
            return ngx_http_export_store_unavailable(r, "read");
        }

        return ngx_http_export_file_error(r, NGX_HTTP_NOT_FOUND,
                   "EXPORT_TASK_NOT_FOUND",
                   "the export this link points to no longer exists",
                   "Start a new export of the run.");
    }

    ctx->run = run;

    ngx_http_export_uuid_text(ctx->id, id);
    ctx->has_id = 1;

    if (ngx_http_export_link_mac(zone, run.data, run.len, ctx->id, expires,
                                 mac)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (CRYPTO_memcmp(mac, sig, NGX_HTTP_EXPORT_SIG_LEN) != 0) {
        return ngx_http_export_file_error(r, NGX_HTTP_FORBIDDEN,
                   "EXPORT_LINK_INVALID",
                   "the download link's signature does not match",
                   "Get a new link from the export's status.");
    }

    if (expires < ngx_time()) {
        return ngx_http_export_file_error(r, NGX_HTTP_FORBIDDEN,
                   "EXPORT_LINK_EXPIRED",
                   "the download link has expired",
                   "Links are short-lived: get a new one from the "
                   "export's status and use it at once.");
    }

    if (task == NULL && ngx_http_export_store_down(r)) {
        return ngx_http_export_store_unavailable(r, "read");
    }

    if (task == NULL || snap.state != NGX_HTTP_EXPORT_COMPLETED
        || snap.run_len != run.len
        || ngx_memcmp(snap.run, run.data, run.len) != 0)
    {
        return ngx_http_export_file_error(r, NGX_HTTP_NOT_FOUND,
                   "EXPORT_TASK_NOT_FOUND",
                   "the export this link points to no longer exists",
                   "Start a new export of the run.");
    }

    return ngx_http_export_serve_file(r, &snap);
}


/* GET .../{runId}/exports/data: the archive under the usual access rules */

static ngx_int_t
ngx_http_export_data(ngx_http_request_t *r)
{
    ngx_int_t                   rc;
    ngx_str_t                   value;
    ngx_http_export_ctx_t      *ctx;
    ngx_http_export_zone_t     *zone;
    ngx_http_export_task_t     *task;
    ngx_http_export_loc_conf_t *elcf;
    ngx_http_export_snapshot_t  snap;

    rc = ngx_http_export_file_method(r);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    elcf = ngx_http_get_module_loc_conf(r, ngx_http_export_module);
    zone = elcf->shm_zone->data;

    ctx = ngx_http_export_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_export_run_id(r, elcf->run_id, NGX_HTTP_EXPORT_VMWARE,
                                &ctx->run, &value);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc != NGX_OK) {
        return ngx_http_export_file_error(r, NGX_HTTP_BAD_REQUEST,
                   "EXPORT_RUN_ID_INVALID",
                   "the run id is not a UUID",
                   "Give the run id in its canonical form, "
                   "8-4-4-4-12 hexadecimal digits.");
    }

    rc = ngx_http_export_resolve(r, zone, &ctx->run, NULL, 1);
    if (rc != NGX_OK) {
        return ngx_http_export_resolve_answer(r, rc);
    }

    ngx_shmtx_lock(&zone->shpool->mutex);

    task = ngx_http_export_task_lookup(zone, &ctx->run);

    if (task) {
        ngx_http_export_task_snapshot(task, &snap, r->pool,
                                      NGX_HTTP_EXPORT_SNAP_PATH);
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    if (task == NULL && ngx_http_export_store_down(r)) {
        return ngx_http_export_store_unavailable(r, "read");
    }

    if (task == NULL || snap.state != NGX_HTTP_EXPORT_COMPLETED) {
        return ngx_http_export_file_error(r, NGX_HTTP_NOT_FOUND,
                   "EXPORT_TASK_NOT_FOUND",
                   "the run has no completed export",
                   "Start an export of the run and wait until its "
                   "status is COMPLETED.");
    }

    ngx_http_export_uuid_text(ctx->id, snap.id);
    ctx->has_id = 1;

    return ngx_http_export_serve_file(r, &snap);
}


ngx_int_t
ngx_http_export_serve_file(ngx_http_request_t *r,
    ngx_http_export_snapshot_t *snap)
{
    u_char                    *p;
    ngx_buf_t                 *b;
    ngx_int_t                  rc;
    ngx_uint_t                 level;
    ngx_chain_t                out;
    ngx_table_elt_t           *h;
    ngx_open_file_info_t       of;
    ngx_http_core_loc_conf_t  *clcf;

    if (snap->path.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    ngx_memzero(&of, sizeof(ngx_open_file_info_t));

    of.read_ahead = clcf->read_ahead;
    of.directio = clcf->directio;
    of.valid = clcf->open_file_cache_valid;
    of.min_uses = clcf->open_file_cache_min_uses;
    of.errors = clcf->open_file_cache_errors;
    of.events = clcf->open_file_cache_events;

    if (ngx_open_cached_file(clcf->open_file_cache, &snap->path, &of,
                             r->pool)
        != NGX_OK)
    {
        level = (of.err == NGX_ENOENT) ? NGX_LOG_WARN : NGX_LOG_CRIT;

        ngx_log_error(level, r->connection->log, of.err,
                      "export: %s \"%V\" failed", of.failed, &snap->path);

        if (of.err != NGX_ENOENT) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_export_file_error(r, NGX_HTTP_NOT_FOUND,
                   "EXPORT_TASK_NOT_FOUND",
                   "the export's archive is gone from the store",
                   "Start a new export of the run.");
    }

    r->root_tested = !r->error_page;
    r->allow_ranges = 1;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = of.size;
    r->headers_out.last_modified_time = of.mtime;

    if (ngx_http_set_etag(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_str_set(&r->headers_out.content_type, "application/zip");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Content-Disposition");

    h->value.data = ngx_pnalloc(r->pool,
                                sizeof("attachment; filename=\"export-.zip\"")
                                + snap->run_len);
    if (h->value.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(h->value.data, "attachment; filename=\"export-",
                   sizeof("attachment; filename=\"export-") - 1);
    p = ngx_cpymem(p, snap->run, snap->run_len);
    p = ngx_cpymem(p, ".zip\"", sizeof(".zip\"") - 1);
    h->value.len = p - h->value.data;

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->file = ngx_pcalloc(r->pool, sizeof(ngx_file_t));
    if (b->file == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (r->method == NGX_HTTP_HEAD) {
        r->header_only = 1;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b->file_pos = 0;
    b->file_last = of.size;

    b->in_file = b->file_last ? 1 : 0;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;
    b->sync = (b->last_buf || b->in_file) ? 0 : 1;

    b->file->fd = of.fd;
    b->file->name = snap->path;
    b->file->log = r->connection->log;
    b->file->directio = of.is_directio;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/* at the worker's exit: the kept HMAC states */

void
ngx_http_export_link_exit(void)
{
    ngx_uint_t              i;
    ngx_http_export_mac_t  *m;

    for (i = 0; i < NGX_HTTP_EXPORT_MACS; i++) {
        m = &ngx_http_export_macs[i];

        if (m->key) {
            exh_key_free(&m->mac);
            ngx_free(m->key);
            m->key = NULL;
        }
    }
}
