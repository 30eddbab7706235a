
/*
 * The run export API: POST starts an export, GET and HEAD report it
 * (optionally holding the request until it finishes: ?wait=N), DELETE
 * cancels or removes it.
 */


#include "ngx_http_export_module.h"
#include "ngx_http_export_cluster.h"


#define NGX_HTTP_EXPORT_WAIT_TICK     100     /* ms between looks */


static ngx_int_t ngx_http_export_api(ngx_http_request_t *r);
static ngx_int_t ngx_http_export_post(ngx_http_request_t *r,
    ngx_http_export_loc_conf_t *elcf, ngx_http_export_ctx_t *ctx);
static ngx_int_t ngx_http_export_get(ngx_http_request_t *r,
    ngx_http_export_loc_conf_t *elcf, ngx_http_export_ctx_t *ctx);
static ngx_int_t ngx_http_export_started(ngx_http_request_t *r,
    ngx_http_export_loc_conf_t *elcf, ngx_http_export_start_t *st,
    ngx_http_export_spec_t *spec, ngx_str_t *path,
    ngx_http_export_looked_t *looked);
static ngx_int_t ngx_http_export_delete(ngx_http_request_t *r,
    ngx_http_export_loc_conf_t *elcf, ngx_http_export_ctx_t *ctx);
static ngx_int_t ngx_http_export_answer(ngx_http_request_t *r,
    ngx_http_export_ctx_t *ctx, ngx_uint_t status);
static ngx_int_t ngx_http_export_accepted(ngx_http_request_t *r,
    ngx_http_export_ctx_t *ctx, ngx_http_export_snapshot_t *snap);
static ngx_int_t ngx_http_export_not_found(ngx_http_request_t *r);
static ngx_int_t ngx_http_export_quota_exceeded(ngx_http_request_t *r,
    ngx_http_export_loc_conf_t *elcf, ngx_http_export_quota_t *limit,
    ngx_uint_t reason, time_t retry_after);
static void ngx_http_export_remove_paths(ngx_http_export_zone_t *zone,
    ngx_array_t *paths, ngx_log_t *log);

static ngx_int_t ngx_http_export_park(ngx_http_request_t *r,
    ngx_http_export_ctx_t *ctx, ngx_http_export_zone_t *zone, time_t wait,
    ngx_atomic_uint_t version);
static void ngx_http_export_wait_tick(ngx_event_t *ev);
static void ngx_http_export_wait_timeout(ngx_event_t *ev);
static void ngx_http_export_wake(ngx_http_export_ctx_t *ctx);
static void ngx_http_export_wait_cleanup(void *data);


/* a zone of parked requests, and its version at the last look */
typedef struct {
    ngx_http_export_zone_t     *zone;
    ngx_atomic_uint_t           version;
} ngx_http_export_wait_zone_t;


/* parked ?wait=N requests of this worker, and the one timer that looks */
static ngx_queue_t       ngx_http_export_waiters;
static ngx_event_t       ngx_http_export_wait_ev;
static ngx_connection_t  ngx_http_export_wait_dummy;  /* timers log ev->data */
static ngx_array_t      *ngx_http_export_wait_zones;


/*
 * Any failure deep in a handler that ends in a bare 500 is answered with
 * the API's Error object here, once, so every 500 has a referenceToken.
 */

ngx_int_t
ngx_http_export_internal_error(ngx_http_request_t *r, ngx_int_t rc)
{
    if (rc != NGX_HTTP_INTERNAL_SERVER_ERROR || r->header_sent) {
        return rc;
    }

    return ngx_http_export_internal(r, "an internal error stopped the "
                                       "request; error.log has the cause");
}


ngx_int_t
ngx_http_export_api_handler(ngx_http_request_t *r)
{
    return ngx_http_export_internal_error(r, ngx_http_export_api(r));
}


static ngx_int_t
ngx_http_export_api(ngx_http_request_t *r)
{
    ngx_int_t                   rc;
    ngx_str_t                   value, msg, allow;
    ngx_http_export_ctx_t      *ctx;
    ngx_http_export_loc_conf_t *elcf;

    if (!(r->method
          & (NGX_HTTP_GET|NGX_HTTP_HEAD|NGX_HTTP_POST|NGX_HTTP_DELETE)))
    {
        ngx_str_set(&allow, "GET, HEAD, POST, DELETE");

        if (ngx_http_export_add_header(r, "Allow", &allow) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        ngx_str_set(&msg, "the method is not allowed on an export");

        return ngx_http_export_send_error(r, NGX_HTTP_NOT_ALLOWED,
                   "EXPORT_METHOD_NOT_ALLOWED", &msg,
                   "Use POST to start an export, GET or HEAD to follow "
                   "it, DELETE to cancel or remove it.", NULL, 0, 0);
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    elcf = ngx_http_get_module_loc_conf(r, ngx_http_export_module);

    ctx = ngx_http_export_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->shm_zone = elcf->shm_zone;

    rc = ngx_http_export_run_id(r, elcf->run_id, NGX_HTTP_EXPORT_VMWARE,
                                &ctx->run, &value);

    if (rc == NGX_DECLINED) {
        ngx_str_set(&msg, "the run id is not a UUID");

        return ngx_http_export_send_error(r, NGX_HTTP_BAD_REQUEST,
                   "EXPORT_RUN_ID_INVALID", &msg,
                   "Give the run id in its canonical form, 8-4-4-4-12 "
                   "hexadecimal digits.", &value, 1, 0);
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    switch (r->method) {

    case NGX_HTTP_POST:
        return ngx_http_export_post(r, elcf, ctx);

    case NGX_HTTP_DELETE:
        return ngx_http_export_delete(r, elcf, ctx);

    default: /* GET, HEAD */
        return ngx_http_export_get(r, elcf, ctx);
    }
}


static ngx_int_t
ngx_http_export_post(ngx_http_request_t *r, ngx_http_export_loc_conf_t *elcf,
    ngx_http_export_ctx_t *ctx)
{
    ngx_int_t                 rc;
    ngx_str_t                 msg;
    ngx_http_export_start_t   st;

    rc = ngx_http_export_start_run(r, elcf, NGX_HTTP_EXPORT_VMWARE, &st);

    if (rc == NGX_DECLINED) {
        ngx_str_set(&msg, "no pre-check run with this id");

        return ngx_http_export_send_error(r, NGX_HTTP_NOT_FOUND,
                   "EXPORT_RUN_NOT_FOUND", &msg,
                   "Check the run id; only runs whose results are on this "
                   "server can be exported.", &ctx->run, 1, 0);
    }

    if (rc != NGX_OK) {
        return rc;
    }

    switch (st.status) {

    case NGX_HTTP_TOO_MANY_REQUESTS:
        return ngx_http_export_quota_exceeded(r, elcf, st.limit, st.reason,
                                              st.retry_after);

    case NGX_HTTP_SERVICE_UNAVAILABLE:
        msg.data = (u_char *) st.message;
        msg.len = ngx_strlen(st.message);

        return ngx_http_export_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                   st.code ? st.code : "EXPORT_CAPACITY", &msg,
                   st.remediation, NULL, 0, st.retry_after);
    }

    return ngx_http_export_accepted(r, ctx, &st.snap);
}


/*
 * Starts an export of the request's one run, found by it afterwards;
 * NGX_DECLINED when the run has no directory.
 */

ngx_int_t
ngx_http_export_start_run(ngx_http_request_t *r,
    ngx_http_export_loc_conf_t *elcf, ngx_uint_t style,
    ngx_http_export_start_t *st)
{
    ngx_int_t               rc;
    ngx_http_export_ctx_t  *ctx;

    ctx = ngx_http_export_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memzero(st, sizeof(ngx_http_export_start_t));

    rc = ngx_http_export_source(r, elcf, &ctx->run, &st->source);
    if (rc != NGX_OK) {
        return rc;
    }

    st->nsources = 1;
    ngx_str_set(&st->folders, "\0");
    st->run = ctx->run;
    st->keyed = 1;
    st->style = style;

    return ngx_http_export_start(r, elcf, st);
}


/*
 * A directory of a run: export_source evaluated with $export_run_id set
 * to the run, and one stat() of it, as the static module does for every
 * file it serves (not again when the request runs a second time after
 * its claim); reading the reports happens in the thread pool.  The
 * result ends in '\0'.  NGX_DECLINED: no such directory.
 */

ngx_int_t
ngx_http_export_source(ngx_http_request_t *r,
    ngx_http_export_loc_conf_t *elcf, ngx_str_t *run, ngx_str_t *source)
{
    ngx_str_t               value, saved;
    ngx_file_info_t         fi;
    ngx_http_export_ctx_t  *ctx;

    ctx = ngx_http_export_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    saved = ctx->run;
    ctx->run = *run;

    if (ngx_http_complex_value(r, elcf->source, &value) != NGX_OK) {
        ctx->run = saved;
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->run = saved;

    source->len = value.len + 1;
    source->data = ngx_pnalloc(r->pool, value.len + 1);
    if (source->data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_cpystrn(source->data, value.data, value.len + 1);

    /* a POST back from its claim in the store looked at it already */

    if (ctx->claiming) {
        return NGX_OK;
    }

    if (ngx_file_info(source->data, &fi) == NGX_FILE_ERROR) {
        if (ngx_errno == NGX_ENOENT || ngx_errno == NGX_ENOTDIR) {
            return NGX_DECLINED;
        }

        ngx_log_error(NGX_LOG_ERR, r->connection->log, ngx_errno,
                      "export: run %V: " ngx_file_info_n " \"%s\" failed",
                      run, source->data);

        return ngx_http_export_internal(r, "the run's directory cannot be "
                                           "examined");
    }

    if (!ngx_is_dir(&fi)) {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* why a POST gets 503: its errorCode, message and remediation */
#define NGX_HTTP_EXPORT_ZONE_FULL     0
#define NGX_HTTP_EXPORT_POOL_FULL     1
#define NGX_HTTP_EXPORT_STORE_BUSY    2
#define NGX_HTTP_EXPORT_STORE_DOWN    3

static const char  *ngx_http_export_refusals[][3] = {
    { "EXPORT_CAPACITY", "the export zone is full of unfinished exports",
      "Retry after the time in Retry-After; if this lasts, the operator "
      "should make export_zone larger." },
    { "EXPORT_CAPACITY", "the export thread pool's queue is full",
      "Retry after the time in Retry-After; if this lasts, the operator "
      "should raise the thread pool's max_queue." },
    { "EXPORT_CAPACITY", "the export store's thread pool queue is full",
      "Retry after the time in Retry-After; if this lasts, the operator "
      "should raise the max_queue of the pool that "
      "export_store_thread_pool names." },
    { "EXPORT_STORE_UNAVAILABLE", "the export store cannot be written",
      "Retry after the time in Retry-After; if this lasts, the operator "
      "should check the export store (space, permissions, the shared "
      "file system)." }
};


static ngx_int_t
ngx_http_export_refuse(ngx_http_export_zone_t *zone,
    ngx_http_export_start_t *st, ngx_uint_t why)
{
    (void) ngx_atomic_fetch_add(&zone->sh->stats.rejected_503, 1);

    st->status = NGX_HTTP_SERVICE_UNAVAILABLE;
    st->retry_after = 5;
    st->code = ngx_http_export_refusals[why][0];
    st->message = ngx_http_export_refusals[why][1];
    st->remediation = ngx_http_export_refusals[why][2];

    return NGX_OK;
}


/*
 * Starts an export, the same way for every style.  A keyed task whose
 * run already has an unfinished export in the zone gets that one back,
 * uncharged.  Otherwise the quota is charged under the zone's lock and
 * the run is claimed in the store, in the thread pool, while the request
 * waits (ngx_http_export_claim_request()): when another POST, here or on
 * another node, claimed it first, its task is joined and the charge
 * given back; else the new task replaces a finished export of the run
 * and is started, or waits for a slot.  NGX_OK with st->snap the task,
 * or with st->status 429 or 503 and what the answer needs; NGX_DONE
 * while the request waits (the caller returns it, and the whole handler
 * runs again after the claim); anything else is the request's end.
 */

ngx_int_t
ngx_http_export_start(ngx_http_request_t *r,
    ngx_http_export_loc_conf_t *elcf, ngx_http_export_start_t *st)
{
    u_char                     *p;
    ngx_int_t                   rc;
    ngx_str_t                   path;
    ngx_array_t                 paths;
    ngx_http_export_spec_t      spec;
    ngx_http_export_ctx_t      *ctx;
    ngx_http_export_zone_t     *zone;
    ngx_http_export_task_t     *task;
    ngx_http_export_claim_t     cl;
    ngx_http_export_looked_t   *looked;

    zone = elcf->shm_zone->data;

    ctx = ngx_http_export_get_ctx(r);
    if (ctx == NULL || st->nsources == 0) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    looked = ctx->claiming ? ngx_http_export_looked(r) : NULL;

    if (looked == NULL) {
        ngx_http_export_uuid(ctx->new_id);
    }

    if (st->run.len == 0) {
        /* an export of several runs is named after its job */
        st->run.data = ngx_pnalloc(r->pool, 1 + NGX_HTTP_EXPORT_UUID_LEN);
        if (st->run.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        st->run.data[0] = 'j';
        st->run.len = ngx_http_export_uuid_text(st->run.data + 1,
                                                ctx->new_id)
                      - st->run.data;
    }

    path.len = elcf->store.len + sizeof("/export--.zip") - 1
               + st->run.len + NGX_HTTP_EXPORT_UUID_LEN;
    path.data = ngx_pnalloc(r->pool, path.len + 1);
    if (path.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(path.data, elcf->store.data, elcf->store.len);
    p = ngx_cpymem(p, "/export-", sizeof("/export-") - 1);
    p = ngx_cpymem(p, st->run.data, st->run.len);
    *p++ = '-';
    p = ngx_http_export_uuid_text(p, ctx->new_id);
    p = ngx_cpymem(p, ".zip", sizeof(".zip"));

    if (ngx_array_init(&paths, r->pool, 3, sizeof(ngx_str_t)) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    spec.source = st->source;
    spec.folders = st->folders;
    spec.nsources = st->nsources;
    spec.op = st->op;
    spec.store = elcf->store;
    spec.thread_pool = elcf->thread_pool_name;
    spec.level = elcf->level;
    spec.ttl = elcf->ttl;
    spec.max_report_size = elcf->max_report_size;
    spec.max_columns = elcf->max_columns;
    spec.formula_guard = elcf->formula_guard;
    spec.csv_bom = elcf->csv_bom;
    spec.symlinks = elcf->disable_symlinks;
    spec.symlinks_from.len = 0;
    spec.symlinks_from.data = (u_char *) "";

    if (elcf->disable_symlinks_from
        && ngx_http_complex_value(r, elcf->disable_symlinks_from,
                                  &spec.symlinks_from)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (looked) {
        ctx->claiming = 0;
        return ngx_http_export_started(r, elcf, st, &spec, &path, looked);
    }

    ngx_shmtx_lock(&zone->shpool->mutex);

    ngx_http_export_expire(zone, 0, &paths);

    task = st->keyed ? ngx_http_export_task_find(zone, &st->run) : NULL;

    if (task && !task->unknown && !ngx_http_export_finished(task->state)
        && (!task->foreign || task->epoch == zone->sh->epoch))
    {
        /* the same export again: answer the task that is under way */
        ngx_http_export_task_snapshot(task, &st->snap, r->pool, 0);
        ngx_shmtx_unlock(&zone->shpool->mutex);
        ngx_http_export_remove_paths(zone, &paths, r->connection->log);

        st->existing = 1;
        goto done;
    }

    rc = ngx_http_export_quota_charge(r, elcf, ctx->refs, &st->retry_after,
                                      &st->limit, &st->reason);

    /* its number, in the claim too, so that every node tells the same */
    ctx->serial = ++zone->sh->serial;

    ngx_shmtx_unlock(&zone->shpool->mutex);

    ngx_http_export_remove_paths(zone, &paths, r->connection->log);

    if (rc != NGX_OK) {
        if (rc == NGX_BUSY) {
            (void) ngx_atomic_fetch_add(&zone->sh->stats.rejected_429, 1);
            st->status = NGX_HTTP_TOO_MANY_REQUESTS;
            return NGX_OK;
        }

        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the claim in the store, before anything of the task exists */

    ngx_memzero(&cl, sizeof(ngx_http_export_claim_t));

    cl.run = st->run;
    ngx_memcpy(cl.id, ctx->new_id, 16);
    cl.node = zone->node;
    cl.attempt = 1;
    cl.style = st->style;
    cl.keyed = st->keyed;
    cl.indexed = 1;
    cl.serial = ctx->serial;
    cl.created = ngx_time();
    cl.created_ms = ngx_http_export_now_ms();
    cl.op = spec.op;
    cl.sources = spec.source;
    cl.folders = spec.folders;
    cl.nsources = spec.nsources;
    cl.thread_pool = spec.thread_pool;
    cl.level = spec.level;
    cl.ttl = spec.ttl;
    cl.max_report_size = spec.max_report_size;
    cl.max_columns = spec.max_columns;
    cl.formula_guard = spec.formula_guard;
    cl.csv_bom = spec.csv_bom;
    cl.symlinks = spec.symlinks;
    cl.symlinks_from = spec.symlinks_from;

    rc = ngx_http_export_claim_request(r, zone, &elcf->store, &cl);

    if (rc == NGX_DONE) {
        ctx->claiming = 1;
        return NGX_DONE;
    }

    ngx_http_export_quota_refund(ctx->refs, 1);

    if (rc != NGX_BUSY) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "export: the queue of export_store_thread_pool is full");

    return ngx_http_export_refuse(zone, st, NGX_HTTP_EXPORT_STORE_BUSY);

done:

    ngx_http_export_uuid_text(ctx->id, st->snap.id);
    ctx->has_id = 1;
    ctx->state = st->snap.state;
    ctx->has_state = 1;

    return NGX_OK;
}


/* after the claim: the new task, or the one that claimed the run first */

static ngx_int_t
ngx_http_export_started(ngx_http_request_t *r,
    ngx_http_export_loc_conf_t *elcf, ngx_http_export_start_t *st,
    ngx_http_export_spec_t *spec, ngx_str_t *path,
    ngx_http_export_looked_t *looked)
{
    ngx_uint_t               count, start;
    ngx_http_export_ctx_t   *ctx;
    ngx_http_export_zone_t  *zone;
    ngx_http_export_task_t  *task, *old;

    zone = elcf->shm_zone->data;
    ctx = ngx_http_export_get_ctx(r);

    if (!looked->created) {
        ngx_http_export_quota_refund(ctx->refs, 1);

        if (looked->rc == NGX_DECLINED) {
            /* joined: ngx_http_export_apply() put its task in the zone */

            ngx_shmtx_lock(&zone->shpool->mutex);

            task = ngx_http_export_task_lookup(zone, &st->run);

            if (task) {
                ngx_http_export_task_snapshot(task, &st->snap, r->pool, 0);
            }

            ngx_shmtx_unlock(&zone->shpool->mutex);

            if (task) {
                st->existing = 1;
                goto done;
            }

            return ngx_http_export_refuse(zone, st,
                                          NGX_HTTP_EXPORT_ZONE_FULL);
        }

        ngx_log_error(NGX_LOG_ERR, r->connection->log, looked->err,
                      "export: run %V: the export store \"%V\" cannot be "
                      "written", &st->run, &elcf->store);

        return ngx_http_export_refuse(zone, st, NGX_HTTP_EXPORT_STORE_DOWN);
    }

    ngx_shmtx_lock(&zone->shpool->mutex);

    /* what the zone held for the run is replaced, in the store already */

    old = st->keyed ? ngx_http_export_task_find(zone, &st->run) : NULL;

    if (old) {
        ngx_http_export_task_remove(zone, old);
    }

    for ( ;; ) {
        task = ngx_http_export_task_create(zone, &st->run, st->keyed,
                                           ctx->new_id, path, spec);
        if (task) {
            break;
        }

        /* the zone is full: the oldest finished task makes room */

        count = zone->sh->count;
        ngx_http_export_expire(zone, 1, NULL);

        if (zone->sh->count == count) {
            break;
        }
    }

    start = 0;

    if (task) {
        task->style = st->style;
        task->serial = ctx->serial;
        task->claimed = 1;
        task->indexed = 1;
        task->node_len = zone->node.len;
        ngx_memcpy(task->node, zone->node.data, zone->node.len);
        task->epoch = zone->sh->epoch;
        zone->sh->stats.created++;
        ngx_http_export_quota_keep(task->quota, ctx->refs);

        /* first come, first started: a new task does not pass waiting ones */

        if (ngx_queue_empty(&zone->sh->waiting)
            && (zone->sh->max_running == 0
                || zone->sh->running < zone->sh->max_running))
        {
            ngx_http_export_task_run(zone, task);
            start = 1;

        } else {
            /* it waits NOT_STARTED; any worker starts it when a slot frees */
            ngx_queue_insert_tail(&zone->sh->waiting, &task->waiting);
        }

        ngx_http_export_task_snapshot(task, &st->snap, r->pool, 0);

    } else {
        ngx_http_export_quota_refund(ctx->refs, 1);
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    if (task == NULL) {
        /* the claim leaves the store again */
        ngx_http_export_store_forget(zone, &elcf->store, &st->run,
                                     ctx->new_id);

        return ngx_http_export_refuse(zone, st, NGX_HTTP_EXPORT_ZONE_FULL);
    }

    if (start
        && ngx_http_export_job_start(zone, task, r->connection->log)
           != NGX_OK)
    {
        /*
         * The new task is not kept, its quota is given back and its claim
         * leaves the store; a finished export it replaced is gone.
         */

        ngx_shmtx_lock(&zone->shpool->mutex);
        ngx_http_export_task_stop(zone, task);
        ngx_http_export_task_remove(zone, task);
        ngx_shmtx_unlock(&zone->shpool->mutex);

        /* the task gave its slots back as it was removed */
        ngx_http_export_quota_refund(ctx->refs, 0);

        ngx_http_export_store_forget(zone, &elcf->store, &st->run,
                                     ctx->new_id);

        return ngx_http_export_refuse(zone, st, NGX_HTTP_EXPORT_POOL_FULL);
    }

done:

    ngx_http_export_uuid_text(ctx->id, st->snap.id);
    ctx->has_id = 1;
    ctx->state = st->snap.state;
    ctx->has_state = 1;

    return NGX_OK;
}


static ngx_int_t
ngx_http_export_get(ngx_http_request_t *r, ngx_http_export_loc_conf_t *elcf,
    ngx_http_export_ctx_t *ctx)
{
    time_t                       wait;
    ngx_atomic_uint_t            version;
    ngx_str_t                    value, msg;
    ngx_http_export_zone_t      *zone;
    ngx_http_export_task_t      *task;
    ngx_http_export_snapshot_t   snap;

    zone = elcf->shm_zone->data;
    wait = 0;

    if (ngx_http_arg(r, (u_char *) "wait", 4, &value) == NGX_OK) {
        wait = ngx_atotm(value.data, value.len);

        if (wait == NGX_ERROR) {
            ngx_str_set(&msg, "the wait parameter is not a number of "
                              "seconds");

            return ngx_http_export_send_error(r, NGX_HTTP_BAD_REQUEST,
                       "EXPORT_WAIT_INVALID", &msg,
                       "Give wait as whole seconds, for example ?wait=30.",
                       &value, 1, 0);
        }

        if (wait > elcf->wait_max) {
            wait = elcf->wait_max;
        }
    }

    /*
     * One look at the task serves the store decision, the wait decision
     * and the answer.  A task the zone does not know may be in the
     * store: the request then waits for a look there, and runs again.
     */

    ngx_shmtx_lock(&zone->shpool->mutex);

    task = ngx_http_export_task_find(zone, &ctx->run);

    if (!ctx->resolved && ngx_http_export_stale(zone, task, 0)) {
        ngx_shmtx_unlock(&zone->shpool->mutex);

        return ngx_http_export_resolve_answer(r,
                   ngx_http_export_look(r, zone, &ctx->run, NULL));
    }

    if (task && (task->unknown || ngx_http_export_expired(task, ngx_time())))
    {
        task = NULL;
    }

    if (task) {
        ngx_http_export_task_snapshot(task, &snap, r->pool, 0);
    }

    /* the state seen here: a change after it wakes the request */
    version = zone->sh->version;

    ngx_shmtx_unlock(&zone->shpool->mutex);

    if (task == NULL) {
        if (ngx_http_export_store_down(r)) {
            return ngx_http_export_store_unavailable(r, "read");
        }

        return ngx_http_export_not_found(r);
    }

    if (wait > 0 && !ngx_http_export_finished(snap.state)) {
        return ngx_http_export_park(r, ctx, zone, wait, version);
    }

    return ngx_http_export_send_task(r, &snap, NGX_HTTP_OK);
}


static ngx_int_t
ngx_http_export_delete(ngx_http_request_t *r,
    ngx_http_export_loc_conf_t *elcf, ngx_http_export_ctx_t *ctx)
{
    ngx_http_export_zone_t    *zone;
    ngx_http_export_looked_t  *looked;

    zone = elcf->shm_zone->data;

    /*
     * The run's claim goes from the store first, wherever its export is
     * built: its builder stops at its next look, and every node finds
     * the run gone.  The request waits for it in the thread pool.
     */

    looked = ngx_http_export_looked(r);

    if (looked == NULL) {
        return ngx_http_export_resolve_answer(r,
                   ngx_http_export_delete_request(r, zone, &ctx->run));
    }

    if (looked->rc == NGX_DECLINED) {
        return ngx_http_export_not_found(r);
    }

    if (looked->rc != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, looked->err,
                      "export: run %V: the export store of zone \"%V\" "
                      "cannot be written", &ctx->run,
                      &zone->shm_zone->shm.name);

        return ngx_http_export_store_unavailable(r, "written");
    }

    if (looked->found == NGX_HTTP_EXPORT_REC_UNFINISHED
        || looked->found == NGX_HTTP_EXPORT_REC_FINISHED)
    {
        ngx_http_export_uuid_text(ctx->id, looked->id);
        ctx->has_id = 1;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "export: task %*s of run %V deleted",
                  (size_t) (ctx->has_id ? NGX_HTTP_EXPORT_UUID_LEN : 1),
                  ctx->has_id ? ctx->id : (u_char *) "-", &ctx->run);

    r->headers_out.status = NGX_HTTP_NO_CONTENT;
    r->headers_out.content_length_n = 0;
    r->header_only = 1;

    return ngx_http_send_header(r);
}


/* answers the run's current task, or 404 when there is none */

static ngx_int_t
ngx_http_export_answer(ngx_http_request_t *r, ngx_http_export_ctx_t *ctx,
    ngx_uint_t status)
{
    ngx_http_export_zone_t      *zone;
    ngx_http_export_task_t      *task;
    ngx_http_export_snapshot_t   snap;

    zone = ctx->shm_zone->data;

    ngx_shmtx_lock(&zone->shpool->mutex);

    task = ngx_http_export_task_lookup(zone, &ctx->run);

    if (task) {
        ngx_http_export_task_snapshot(task, &snap, r->pool, 0);
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    if (task == NULL) {
        return ngx_http_export_not_found(r);
    }

    return ngx_http_export_send_task(r, &snap, status);
}


/* 202 to a POST, with where to follow the export */

static ngx_int_t
ngx_http_export_accepted(ngx_http_request_t *r, ngx_http_export_ctx_t *ctx,
    ngx_http_export_snapshot_t *snap)
{
    ngx_str_t                    value;
    ngx_http_export_loc_conf_t  *elcf;

    elcf = ngx_http_get_module_loc_conf(r, ngx_http_export_module);

    if (ngx_http_export_quota_headers(r, elcf) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /*
     * The status URL is this one without the query.  It is a plain
     * header, not headers_out.location, so nginx keeps it relative:
     * behind a proxy, nginx's idea of the host is often not the
     * client's.
     */

    value.len = r->uri.len;
    value.data = r->uri.data;

    if (ngx_http_export_add_header(r, "Location", &value) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_str_set(&value, "1");

    if (ngx_http_export_add_header(r, "Retry-After", &value) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_export_send_task(r, snap, NGX_HTTP_ACCEPTED);
}


static ngx_int_t
ngx_http_export_quota_exceeded(ngx_http_request_t *r,
    ngx_http_export_loc_conf_t *elcf, ngx_http_export_quota_t *limit,
    ngx_uint_t reason, time_t retry_after)
{
    u_char     *p;
    ngx_str_t   msg, args[3];

    args[0] = limit->shm_zone->shm.name;

    p = ngx_pnalloc(r->pool, 2 * NGX_INT_T_LEN + 256);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    switch (reason) {

    case NGX_HTTP_EXPORT_QUOTA_ACTIVE:
        ngx_str_set(&args[1], "active");
        args[2].data = p;
        p = ngx_sprintf(p, "%ui", limit->active);
        args[2].len = p - args[2].data;

        msg.data = p;
        p = ngx_sprintf(p, "too many exports under way for this client: "
                        "at most %ui at once", limit->active);
        msg.len = p - msg.data;
        break;

    case NGX_HTTP_EXPORT_QUOTA_RATE:
        ngx_str_set(&args[1], "rate");
        args[2].data = p;
        p = ngx_sprintf(p, "%ui/%c", limit->rate,
                        limit->period == 1000 ? 's'
                        : limit->period == 60000 ? 'm' : 'h');
        args[2].len = p - args[2].data;

        msg.data = p;
        p = ngx_sprintf(p, "too many new exports for this client: at most "
                        "%ui per %s", limit->rate,
                        limit->period == 1000 ? "second"
                        : limit->period == 60000 ? "minute" : "hour");
        msg.len = p - msg.data;
        break;

    default: /* NGX_HTTP_EXPORT_QUOTA_FULL */
        ngx_str_set(&args[1], "zone");
        ngx_str_set(&args[2], "full");
        ngx_str_set(&msg, "the quota zone has no room for another client");
        break;
    }

    if (ngx_http_export_quota_headers(r, elcf) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_export_send_error(r, 429, "EXPORT_QUOTA_EXCEEDED", &msg,
               "Wait for the time in Retry-After, or for one of your "
               "exports to finish, then start the export again.",
               args, 3, retry_after);
}


static ngx_int_t
ngx_http_export_not_found(ngx_http_request_t *r)
{
    ngx_str_t               msg;
    ngx_http_export_ctx_t  *ctx;

    ctx = ngx_http_export_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_str_set(&msg, "Export Task Not Found");

    return ngx_http_export_send_error(r, NGX_HTTP_NOT_FOUND,
               "EXPORT_TASK_NOT_FOUND", &msg,
               "Start an export of the run with POST first.",
               &ctx->run, 1, 0);
}


ngx_int_t
ngx_http_export_internal(ngx_http_request_t *r, const char *cause)
{
    ngx_str_t  msg;

    msg.data = (u_char *) cause;
    msg.len = ngx_strlen(cause);

    return ngx_http_export_send_error(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
               "EXPORT_INTERNAL", &msg,
               "Retry later; if it fails again, give the referenceToken "
               "to the operator.", NULL, 0, 0);
}


/* 503: the store pool's queue is full */

ngx_int_t
ngx_http_export_store_busy(ngx_http_request_t *r)
{
    ngx_str_t  msg;

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "export: the queue of export_store_thread_pool is full");

    ngx_str_set(&msg, "the export store's thread pool queue is full");

    return ngx_http_export_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
               "EXPORT_CAPACITY", &msg,
               "Retry after the time in Retry-After; if this lasts, the "
               "operator should raise the max_queue of the pool that "
               "export_store_thread_pool names.", NULL, 0, 5);
}


/* 503: the store cannot be read or written ("how") */

ngx_int_t
ngx_http_export_store_unavailable(ngx_http_request_t *r, const char *how)
{
    ngx_str_t  msg;

    msg.data = ngx_pnalloc(r->pool, sizeof("the export store cannot be ")
                                    + ngx_strlen(how));
    if (msg.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    msg.len = ngx_sprintf(msg.data, "the export store cannot be %s", how)
              - msg.data;

    return ngx_http_export_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
               "EXPORT_STORE_UNAVAILABLE", &msg,
               "Retry after the time in Retry-After; if this lasts, "
               "the operator should check the export store.",
               NULL, 0, 5);
}


ngx_int_t
ngx_http_export_add_header(ngx_http_request_t *r, const char *name,
    ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) name;
    h->key.len = ngx_strlen(name);
    h->value = *value;

    return NGX_OK;
}


static void
ngx_http_export_remove_paths(ngx_http_export_zone_t *zone,
    ngx_array_t *paths, ngx_log_t *log)
{
    if (paths->nelts) {
        (void) ngx_http_export_unlink_files(zone, zone->thread_pool, paths,
                                            log);
    }
}


/*
 * ?wait=N: the request is parked without a timer of its own per look;
 * one timer per worker compares each parked request's zone version and
 * wakes those whose task changed.  The deadline is a timer per request.
 */

static ngx_int_t
ngx_http_export_park(ngx_http_request_t *r, ngx_http_export_ctx_t *ctx,
    ngx_http_export_zone_t *zone, time_t wait, ngx_atomic_uint_t version)
{
    ngx_uint_t                    i;
    ngx_pool_cleanup_t           *cln;
    ngx_http_export_wait_zone_t  *wz;

    /*
     * The zone's version is remembered at its first parked request: a
     * change since then is a change the next look must see.
     */

    if (ngx_http_export_wait_zones == NULL) {
        ngx_http_export_wait_zones = ngx_array_create(ngx_cycle->pool, 4,
                                         sizeof(ngx_http_export_wait_zone_t));
        if (ngx_http_export_wait_zones == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    wz = ngx_http_export_wait_zones->elts;

    for (i = 0; i < ngx_http_export_wait_zones->nelts; i++) {
        if (wz[i].zone == zone) {
            break;
        }
    }

    if (i == ngx_http_export_wait_zones->nelts) {
        wz = ngx_array_push(ngx_http_export_wait_zones);
        if (wz == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        wz->zone = zone;
        wz->version = version;

    } else {
        wz = &wz[i];
    }

    if (wz->version != version) {
        /* the task may have changed since it was seen: look at once */
        wz->version = version;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_http_export_wait_cleanup;
    cln->data = ctx;

    if (ngx_http_export_waiters.next == NULL) {
        ngx_queue_init(&ngx_http_export_waiters);
    }

    ctx->wait_version = version;
    ctx->waiting = 1;

    ngx_queue_insert_tail(&ngx_http_export_waiters, &ctx->wait_queue);

    ctx->wait_timer.handler = ngx_http_export_wait_timeout;
    ctx->wait_timer.data = r->connection;
    ctx->wait_timer.log = r->connection->log;

    ngx_add_timer(&ctx->wait_timer, (ngx_msec_t) wait * 1000);

    if (!ngx_http_export_wait_ev.timer_set) {
        ngx_http_export_wait_dummy.fd = (ngx_socket_t) -1;
        ngx_http_export_wait_ev.data = &ngx_http_export_wait_dummy;
        ngx_http_export_wait_ev.handler = ngx_http_export_wait_tick;
        ngx_http_export_wait_ev.log = ngx_cycle->log;
        ngx_http_export_wait_ev.cancelable = 1;

        ngx_add_timer(&ngx_http_export_wait_ev, NGX_HTTP_EXPORT_WAIT_TICK);
    }

    r->read_event_handler = ngx_http_test_reading;
    r->write_event_handler = ngx_http_request_empty_handler;
    r->main->count++;

    return NGX_DONE;
}


/*
 * A look costs a few words while no zone changed: the parked requests
 * are walked only when the version of a zone moved since the last look
 * (their own deadline timers fire regardless).
 */

static void
ngx_http_export_wait_tick(ngx_event_t *ev)
{
    ngx_uint_t                    i, state, gone, changed;
    ngx_queue_t                  *q, *next;
    ngx_atomic_uint_t             version;
    ngx_http_export_ctx_t        *ctx;
    ngx_http_export_zone_t       *zone;
    ngx_http_export_task_t       *task;
    ngx_http_export_wait_zone_t  *wz;

    changed = ngx_exiting;

    wz = ngx_http_export_wait_zones->elts;

    for (i = 0; i < ngx_http_export_wait_zones->nelts; i++) {
        version = wz[i].zone->sh->version;

        if (wz[i].version != version) {
            wz[i].version = version;
            changed = 1;
        }
    }

    if (!changed) {
        goto next;
    }

    for (q = ngx_queue_head(&ngx_http_export_waiters);
         q != ngx_queue_sentinel(&ngx_http_export_waiters);
         q = next)
    {
        next = ngx_queue_next(q);
        ctx = ngx_queue_data(q, ngx_http_export_ctx_t, wait_queue);
        zone = ctx->shm_zone->data;

        /* a worker that is shutting down answers at once */

        if (!ngx_exiting && zone->sh->version == ctx->wait_version) {
            continue;
        }

        ctx->wait_version = zone->sh->version;

        ngx_shmtx_lock(&zone->shpool->mutex);
        task = ngx_http_export_task_lookup(zone, &ctx->run);
        gone = (task == NULL);
        state = task ? task->state : 0;
        ngx_shmtx_unlock(&zone->shpool->mutex);

        if (ngx_exiting || gone || ngx_http_export_finished(state)) {
            ngx_http_export_wake(ctx);
        }
    }

next:

    if (!ngx_queue_empty(&ngx_http_export_waiters)) {
        ngx_add_timer(ev, NGX_HTTP_EXPORT_WAIT_TICK);
    }
}


static void
ngx_http_export_wait_timeout(ngx_event_t *ev)
{
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    c = ev->data;
    r = c->data;

    ngx_http_export_wake(ngx_http_get_module_ctx(r, ngx_http_export_module));
}


static void
ngx_http_export_wake(ngx_http_export_ctx_t *ctx)
{
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = ctx->request;
    c = r->connection;

    ctx->waiting = 0;
    ngx_queue_remove(&ctx->wait_queue);

    if (ctx->wait_timer.timer_set) {
        ngx_del_timer(&ctx->wait_timer);
    }

    ngx_http_finalize_request(r, ngx_http_export_answer(r, ctx, NGX_HTTP_OK));
    ngx_http_run_posted_requests(c);
}


static void
ngx_http_export_wait_cleanup(void *data)
{
    ngx_http_export_ctx_t  *ctx = data;

    if (!ctx->waiting) {
        return;
    }

    ctx->waiting = 0;
    ngx_queue_remove(&ctx->wait_queue);

    if (ctx->wait_timer.timer_set) {
        ngx_del_timer(&ctx->wait_timer);
    }
}
