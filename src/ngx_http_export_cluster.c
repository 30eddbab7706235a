
/*
 * Several nodes, one service.  The zone is this node's copy of what the
 * store shared by all nodes says (ngx_http_export_claim.c):
 *
 * - a request for a run or task that the zone does not know, or knows
 *   from before another node changed the store, waits while a pool
 *   thread looks at the store; the answer goes into the zone, an absent
 *   run too, for NGX_HTTP_EXPORT_UNKNOWN_TTL, and the request runs again;
 * - a POST that would start a new export claims the run in the store
 *   first, and joins the task that another POST claimed before it;
 * - a DELETE removes the run's claim, so that its builder, wherever it
 *   is, stops at its next look;
 * - worker 0, once a second, writes the heartbeat of this node's builds
 *   that wait for a slot (a running build writes its own), looks again
 *   at the builds of other nodes that the zone follows, takes over those
 *   whose heartbeat did not change for export_lease, and reads the
 *   store's change token.
 */


#include "ngx_http_export_cluster.h"

#include <dirent.h>


#define NGX_HTTP_EXPORT_COP_LOOKUP      0
#define NGX_HTTP_EXPORT_COP_LOOKUP_ID   1
#define NGX_HTTP_EXPORT_COP_START       2
#define NGX_HTTP_EXPORT_COP_DELETE      3

#define NGX_HTTP_EXPORT_WATCH_MAX       256


/* a request's look at the store */
typedef struct {
    ngx_http_request_t         *request;
    ngx_http_export_zone_t     *zone;
    ngx_uint_t                  op;
    ngx_str_t                   run;
    u_char                      id[16];
    ngx_http_export_cstore_t   *stores;
    ngx_uint_t                  nstores;
    ngx_uint_t                  store;        /* where it was found */
    ngx_http_export_claim_t     claim;        /* of a START */
    ngx_http_export_record_t    rec;
    ngx_http_export_looked_t    looked;
} ngx_http_export_cop_t;


/* a build that worker 0 follows */
typedef struct {
    ngx_str_t                   run;
    u_char                      id[16];
    ngx_uint_t                  own;          /* this node's, waiting */
    ngx_uint_t                  attempt;
    ngx_uint_t                  progress;
    ngx_uint_t                  state;
    uint64_t                    beat;
    ngx_uint_t                  beat_found;
    ngx_msec_t                  beat_ms;
    ngx_uint_t                  store;
    ngx_int_t                   rc;
    ngx_uint_t                  taken;
    ngx_http_export_record_t    rec;
} ngx_http_export_watch_t;


typedef struct {
    ngx_pool_t                 *pool;
    ngx_http_export_zone_t     *zone;
    ngx_http_export_cstore_t   *stores;
    ngx_uint_t                  nstores;
    ngx_array_t                 watches;
    u_char                      token[16];
    ngx_uint_t                  token_read;
} ngx_http_export_upkeep_t;


/* a claim to take back from the store, from the event loop */
typedef struct {
    ngx_pool_t                 *pool;
    ngx_http_export_cstore_t    cs;
    ngx_str_t                   run;
    u_char                      id[16];
} ngx_http_export_forget_t;


/* what a former copy of a task carries over to the new one */
typedef struct {
    ngx_uint_t                  found;
    ngx_uint_t                  progress;
    ngx_uint_t                  attempts;
    ngx_uint_t                  state;
    ngx_uint_t                  foreign;
    ngx_uint_t                  beat_found;
    uint64_t                    beat;
    ngx_msec_t                  beat_ms;
} ngx_http_export_was_t;


/* a failure to record in the store, from the event loop */
typedef struct {
    ngx_pool_t                 *pool;
    ngx_http_export_cstore_t    cs;
    ngx_http_export_meta_t      meta;
    ngx_uint_t                  attempt;
} ngx_http_export_fail_t;


static ngx_http_export_cstore_t *ngx_http_export_cstores(
    ngx_http_export_zone_t *zone, ngx_pool_t *pool);
static ngx_int_t ngx_http_export_cop_post(ngx_http_request_t *r,
    ngx_http_export_cop_t *cop);
static ngx_http_export_cop_t *ngx_http_export_cop(ngx_http_request_t *r,
    ngx_http_export_zone_t *zone, ngx_uint_t op);
static void ngx_http_export_cop_thread(void *data, ngx_log_t *log);
static void ngx_http_export_cop_done(ngx_event_t *ev);
static void ngx_http_export_resume(ngx_http_request_t *r);
static void ngx_http_export_rec_log(ngx_http_export_record_t *rec,
    ngx_str_t *what, ngx_log_t *log);
static ngx_http_export_task_t *ngx_http_export_task_of(
    ngx_http_export_zone_t *zone, ngx_str_t *store,
    ngx_http_export_record_t *rec, ngx_pool_t *pool, ngx_log_t *log);
static void ngx_http_export_task_fill(ngx_http_export_zone_t *zone,
    ngx_http_export_task_t *task, ngx_http_export_record_t *rec,
    ngx_http_export_was_t *was);
static ngx_http_export_task_t *ngx_http_export_task_unknown(
    ngx_http_export_zone_t *zone, ngx_str_t *run, u_char *id);
static ngx_int_t ngx_http_export_watch(ngx_http_export_upkeep_t *up,
    ngx_http_export_zone_t *zone, ngx_http_export_task_t *task);
static void ngx_http_export_upkeep_thread(void *data, ngx_log_t *log);
static void ngx_http_export_upkeep_done(ngx_event_t *ev);
static void ngx_http_export_forget_thread(void *data, ngx_log_t *log);
static void ngx_http_export_forget_done(ngx_event_t *ev);
static void ngx_http_export_fail_thread(void *data, ngx_log_t *log);
static void ngx_http_export_fail_done(ngx_event_t *ev);
static ngx_int_t ngx_http_export_fail_write(ngx_http_export_cstore_t *cs,
    ngx_http_export_record_t *rec, const char *msg, ngx_log_t *log);


void
ngx_http_export_cstore(ngx_http_export_cstore_t *cs,
    ngx_http_export_zone_t *zone, ngx_str_t *store)
{
    cs->store = store->data;
    cs->store_len = store->len;
    cs->node = zone->node;
    cs->lease = zone->lease;
    cs->log = ngx_cycle->log;
}


/* every store of the zone, for lookups: most zones have one */

static ngx_http_export_cstore_t *
ngx_http_export_cstores(ngx_http_export_zone_t *zone, ngx_pool_t *pool)
{
    ngx_str_t                 *store;
    ngx_uint_t                 i;
    ngx_http_export_cstore_t  *cs;

    cs = ngx_palloc(pool, zone->stores->nelts
                          * sizeof(ngx_http_export_cstore_t));
    if (cs == NULL) {
        return NULL;
    }

    store = zone->stores->elts;

    for (i = 0; i < zone->stores->nelts; i++) {
        ngx_http_export_cstore(&cs[i], zone, &store[i]);
    }

    return cs;
}


/*
 * Whether the zone cannot answer for a task (NULL: a run or id it does
 * not hold) from what it holds, under its lock: a run remembered absent
 * for more than NGX_HTTP_EXPORT_UNKNOWN_TTL, or any copy from before
 * another node changed the store.  A status of another node's build may
 * be a second old (worker 0 looks again every second); a request for
 * an archive ("archive") looks at the store for it first.  This node's
 * own builds are never looked up: the zone knows best.
 */

ngx_uint_t
ngx_http_export_stale(ngx_http_export_zone_t *zone,
    ngx_http_export_task_t *task, ngx_uint_t archive)
{
    if (zone->thread_pool == NULL || zone->stores == NULL) {
        return 0;
    }

    if (task == NULL) {
        return 1;
    }

    if (task->unknown) {
        return task->expires <= ngx_time()
               || task->epoch != zone->sh->epoch;
    }

    if (!task->foreign && !ngx_http_export_finished(task->state)) {
        return 0;
    }

    if (archive && !ngx_http_export_finished(task->state)) {
        return 1;
    }

    return task->epoch != zone->sh->epoch;
}


/*
 * A look at the store for a run (or, with run NULL, a task id), that the
 * request waits for: NGX_DONE, and its handler runs again after it;
 * NGX_BUSY when the store pool's queue is full.
 */

ngx_int_t
ngx_http_export_look(ngx_http_request_t *r, ngx_http_export_zone_t *zone,
    ngx_str_t *run, u_char *id)
{
    ngx_http_export_cop_t  *cop;

    cop = ngx_http_export_cop(r, zone, run ? NGX_HTTP_EXPORT_COP_LOOKUP
                                           : NGX_HTTP_EXPORT_COP_LOOKUP_ID);
    if (cop == NULL) {
        return NGX_ERROR;
    }

    if (run) {
        cop->run = *run;

    } else {
        ngx_memcpy(cop->id, id, 16);
    }

    return ngx_http_export_cop_post(r, cop);
}


/*
 * ngx_http_export_stale() and ngx_http_export_look() for handlers that
 * look at the zone afterwards: NGX_OK when the zone can answer, NGX_DONE
 * when the request waits, NGX_BUSY, NGX_ERROR.
 */

ngx_int_t
ngx_http_export_resolve(ngx_http_request_t *r, ngx_http_export_zone_t *zone,
    ngx_str_t *run, u_char *id, ngx_uint_t archive)
{
    ngx_uint_t               look;
    ngx_http_export_ctx_t   *ctx;
    ngx_http_export_task_t  *task;

    ctx = ngx_http_export_get_ctx(r);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    if (ctx->resolved) {
        return NGX_OK;
    }

    ngx_shmtx_lock(&zone->shpool->mutex);

    task = run ? ngx_http_export_task_find(zone, run)
               : ngx_http_export_task_find_id(zone, id);

    look = ngx_http_export_stale(zone, task, archive);

    ngx_shmtx_unlock(&zone->shpool->mutex);

    if (!look) {
        return NGX_OK;
    }

    return ngx_http_export_look(r, zone, run, id);
}


/* the answer of a handler whose ngx_http_export_resolve() was not NGX_OK */

ngx_int_t
ngx_http_export_resolve_answer(ngx_http_request_t *r, ngx_int_t rc)
{
    switch (rc) {

    case NGX_DONE:
        return NGX_DONE;

    case NGX_BUSY:
        return ngx_http_export_store_busy(r);

    default:
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
}


/*
 * A POST claims its run for the new task "cl" in the store; the request
 * waits and runs again, and ngx_http_export_looked() then says whether
 * the claim is the task's (looked->created) or another task's, now in
 * the zone (the one to join), or why it failed (looked->rc).
 */

ngx_int_t
ngx_http_export_claim_request(ngx_http_request_t *r,
    ngx_http_export_zone_t *zone, ngx_str_t *store,
    ngx_http_export_claim_t *cl)
{
    ngx_http_export_cop_t  *cop;

    cop = ngx_http_export_cop(r, zone, NGX_HTTP_EXPORT_COP_START);
    if (cop == NULL) {
        return NGX_ERROR;
    }

    ngx_http_export_cstore(&cop->stores[0], zone, store);
    cop->nstores = 1;
    cop->claim = *cl;
    cop->run = cl->run;
    ngx_memcpy(cop->id, cl->id, 16);

    return ngx_http_export_cop_post(r, cop);
}


/* a DELETE removes the run's export from the store, wherever it is built */

ngx_int_t
ngx_http_export_delete_request(ngx_http_request_t *r,
    ngx_http_export_zone_t *zone, ngx_str_t *run)
{
    ngx_http_export_cop_t  *cop;

    cop = ngx_http_export_cop(r, zone, NGX_HTTP_EXPORT_COP_DELETE);
    if (cop == NULL) {
        return NGX_ERROR;
    }

    cop->run = *run;

    return ngx_http_export_cop_post(r, cop);
}


/*
 * Whether the request's look at the store failed (the store could not be
 * read): a task the zone does not hold then gets 503, not 404.
 */

ngx_uint_t
ngx_http_export_store_down(ngx_http_request_t *r)
{
    ngx_http_export_looked_t  *looked;

    looked = ngx_http_export_looked(r);

    return looked != NULL && looked->rc == NGX_ERROR;
}


/* what the request's look at the store found, once it ran again */

ngx_http_export_looked_t *
ngx_http_export_looked(ngx_http_request_t *r)
{
    ngx_http_export_ctx_t  *ctx;
    ngx_http_export_cop_t  *cop;

    ctx = ngx_http_get_module_ctx(r, ngx_http_export_module);

    if (ctx == NULL || ctx->cop == NULL || ctx->cop_pending) {
        return NULL;
    }

    cop = ctx->cop;

    return &cop->looked;
}


static ngx_http_export_cop_t *
ngx_http_export_cop(ngx_http_request_t *r, ngx_http_export_zone_t *zone,
    ngx_uint_t op)
{
    ngx_thread_task_t      *tt;
    ngx_http_export_cop_t  *cop;

    if (zone->thread_pool == NULL || zone->stores == NULL) {
        return NULL;
    }

    tt = ngx_thread_task_alloc(r->pool, sizeof(ngx_http_export_cop_t));
    if (tt == NULL) {
        return NULL;
    }

    cop = tt->ctx;
    cop->request = r;
    cop->zone = zone;
    cop->op = op;

    if (op == NGX_HTTP_EXPORT_COP_START) {
        cop->stores = ngx_palloc(r->pool, sizeof(ngx_http_export_cstore_t));

    } else {
        cop->stores = ngx_http_export_cstores(zone, r->pool);
        cop->nstores = zone->stores->nelts;
    }

    if (cop->stores == NULL) {
        return NULL;
    }

    tt->handler = ngx_http_export_cop_thread;
    tt->event.handler = ngx_http_export_cop_done;
    tt->event.data = tt;
    tt->event.log = r->connection->log;

    return cop;
}


static ngx_int_t
ngx_http_export_cop_post(ngx_http_request_t *r, ngx_http_export_cop_t *cop)
{
    ngx_thread_task_t      *tt;
    ngx_http_export_ctx_t  *ctx;

    ctx = ngx_http_export_get_ctx(r);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    tt = (ngx_thread_task_t *) ((u_char *) cop - sizeof(ngx_thread_task_t));

    if (ngx_thread_task_post(cop->zone->thread_pool, tt) != NGX_OK) {
        return NGX_BUSY;
    }

    ctx->cop = cop;
    ctx->cop_pending = 1;

    r->main->blocked++;
    r->aio = 1;
    r->main->count++;
    r->write_event_handler = ngx_http_export_resume;

    return NGX_DONE;
}


static void
ngx_http_export_cop_thread(void *data, ngx_log_t *log)
{
    ngx_http_export_cop_t *cop = data;

    ngx_int_t                  rc;
    ngx_uint_t                 i;
    ngx_http_export_record_t  *rec;

    rec = &cop->rec;
    rc = NGX_ERROR;

    for (i = 0; i < cop->nstores; i++) {
        cop->stores[i].log = log;
    }

    switch (cop->op) {

    case NGX_HTTP_EXPORT_COP_LOOKUP:
    case NGX_HTTP_EXPORT_COP_LOOKUP_ID:

        for (i = 0; i < cop->nstores; i++) {
            ngx_http_export_record_free(rec);

            rc = (cop->op == NGX_HTTP_EXPORT_COP_LOOKUP)
                 ? ngx_http_export_claim_lookup(&cop->stores[i], &cop->run,
                                                rec)
                 : ngx_http_export_claim_lookup_id(&cop->stores[i], cop->id,
                                                   rec);

            if (rc != NGX_OK || rec->found != NGX_HTTP_EXPORT_REC_NONE) {
                break;
            }
        }

        cop->store = (i < cop->nstores) ? i : 0;
        break;

    case NGX_HTTP_EXPORT_COP_START:
        rc = ngx_http_export_claim_start(&cop->stores[0], &cop->claim, rec);
        break;

    default: /* NGX_HTTP_EXPORT_COP_DELETE */

        for (i = 0; i < cop->nstores; i++) {
            ngx_http_export_record_free(rec);

            rc = ngx_http_export_claim_delete(&cop->stores[i], &cop->run,
                                              NULL, rec);
            if (rc != NGX_DECLINED) {
                break;
            }
        }

        cop->store = (i < cop->nstores) ? i : 0;
        break;
    }

    cop->looked.rc = rc;
    cop->looked.err = (rc == NGX_ERROR) ? ngx_errno : 0;
    cop->looked.found = rec->found;

    if (rec->found == NGX_HTTP_EXPORT_REC_UNFINISHED
        || rec->found == NGX_HTTP_EXPORT_REC_FINISHED)
    {
        ngx_memcpy(cop->looked.id, rec->claim.id, 16);
    }

    if (cop->op != NGX_HTTP_EXPORT_COP_START || rc != NGX_OK) {
        ngx_http_export_rec_log(rec, &cop->run, log);
    }
}


/* a file of the store that is not what it should be, or cannot be read */

static void
ngx_http_export_rec_log(ngx_http_export_record_t *rec, ngx_str_t *what,
    ngx_log_t *log)
{
    if (rec->found == NGX_HTTP_EXPORT_REC_BAD) {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "export: run %V: \"%s\" in the export store cannot "
                      "be read as what it should be; it is left alone",
                      what, rec->file);

    } else if (rec->found == NGX_HTTP_EXPORT_REC_ERROR) {
        ngx_log_error(NGX_LOG_ERR, log, rec->err,
                      "export: run %V: reading \"%s\" in the export store "
                      "failed", what, rec->file);
    }
}


static void
ngx_http_export_cop_done(ngx_event_t *ev)
{
    ngx_thread_task_t *tt = ev->data;

    ngx_str_t                 *store, name;
    ngx_connection_t          *c;
    ngx_http_request_t        *r;
    ngx_http_export_cop_t     *cop;
    ngx_http_export_ctx_t     *ctx;
    ngx_http_export_zone_t    *zone;
    ngx_http_export_task_t    *task;
    ngx_http_export_record_t  *rec;

    cop = tt->ctx;
    r = cop->request;
    c = r->connection;
    zone = cop->zone;
    rec = &cop->rec;

    ngx_http_set_log_request(c->log, r);

    r->main->blocked--;
    r->aio = 0;

    ctx = ngx_http_get_module_ctx(r, ngx_http_export_module);
    ctx->cop_pending = 0;

    ngx_shmtx_lock(&zone->shpool->mutex);

    switch (cop->op) {

    case NGX_HTTP_EXPORT_COP_LOOKUP:
    case NGX_HTTP_EXPORT_COP_LOOKUP_ID:
        zone->sh->stats.lookups++;

        if (cop->looked.rc == NGX_OK) {
            store = zone->stores->elts;

            (void) ngx_http_export_apply(zone, &store[cop->store],
                       cop->op == NGX_HTTP_EXPORT_COP_LOOKUP ? &cop->run
                                                             : NULL,
                       cop->op == NGX_HTTP_EXPORT_COP_LOOKUP ? NULL
                                                             : cop->id,
                       rec, r->pool, c->log);
        }

        break;

    case NGX_HTTP_EXPORT_COP_START:

        if (cop->looked.rc == NGX_OK) {
            cop->looked.created = 1;

        } else if (cop->looked.rc == NGX_DECLINED) {
            /* another POST claimed the run first: its task is joined */
            name.data = cop->stores[0].store;
            name.len = cop->stores[0].store_len;

            (void) ngx_http_export_apply(zone, &name, &cop->run, NULL, rec,
                                         r->pool, c->log);
        }

        break;

    default: /* NGX_HTTP_EXPORT_COP_DELETE */

        if (cop->looked.rc == NGX_OK || cop->looked.rc == NGX_DECLINED) {
            task = ngx_http_export_task_find(zone, &cop->run);

            if (task) {
                if (!task->unknown && !ngx_http_export_finished(task->state)
                    && !task->foreign)
                {
                    zone->sh->stats.cancelled++;
                }

                ngx_http_export_task_remove(zone, task);
            }
        }

        break;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    ngx_http_export_record_free(rec);

    if (r->done) {
        c->write->handler(c->write);
        return;
    }

    r->write_event_handler(r);
    ngx_http_run_posted_requests(c);
}


static void
ngx_http_export_resume(ngx_http_request_t *r)
{
    ngx_http_export_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_export_module);

    if (ctx == NULL || ctx->cop_pending) {
        return;
    }

    r->write_event_handler = ngx_http_request_empty_handler;
    ctx->resolved = 1;

    ngx_http_finalize_request(r, r->content_handler(r));
}


/*
 * What the store says of a run (or of a task, run NULL) into the zone,
 * under its lock: the task the zone holds for it now, NULL when the
 * store has none (the zone then remembers that for a moment).  A task
 * this node builds stays as it is: its job follows the claim itself.
 */

ngx_http_export_task_t *
ngx_http_export_apply(ngx_http_export_zone_t *zone, ngx_str_t *store,
    ngx_str_t *run, u_char *id, ngx_http_export_record_t *rec,
    ngx_pool_t *pool, ngx_log_t *log)
{
    ngx_uint_t               found;
    ngx_http_export_was_t    was;
    ngx_http_export_task_t  *old, *task;

    old = run ? ngx_http_export_task_find(zone, run)
              : ngx_http_export_task_find_id(zone, id);

    found = rec->found;

    if ((found == NGX_HTTP_EXPORT_REC_UNFINISHED
         || found == NGX_HTTP_EXPORT_REC_FINISHED)
        && id && ngx_memcmp(rec->claim.id, id, 16) != 0)
    {
        found = NGX_HTTP_EXPORT_REC_NONE;
    }

    if (found == NGX_HTTP_EXPORT_REC_ERROR) {
        return (old && !old->unknown) ? old : NULL;
    }

    if (old && !old->unknown && !old->foreign
        && !ngx_http_export_finished(old->state))
    {
        /* this node builds it */
        old->epoch = zone->sh->epoch;
        return old;
    }

    if (found == NGX_HTTP_EXPORT_REC_NONE
        || found == NGX_HTTP_EXPORT_REC_BAD)
    {
        if (old && old->unknown) {
            old->expires = ngx_time() + NGX_HTTP_EXPORT_UNKNOWN_TTL;
            old->epoch = zone->sh->epoch;
            return NULL;
        }

        if (old) {
            ngx_http_export_task_remove(zone, old);
        }

        (void) ngx_http_export_task_unknown(zone, run, id);

        return NULL;
    }

    if (old && !old->unknown && ngx_memcmp(old->id, rec->claim.id, 16) == 0
        && !old->foreign)
    {
        /* this node's own finished task: the store agrees */
        old->epoch = zone->sh->epoch;
        return old;
    }

    /*
     * The old copy goes first: making the new one may evict tasks, and
     * the old copy among them.  What of it carries over is kept aside.
     */

    ngx_memzero(&was, sizeof(ngx_http_export_was_t));

    if (old && !old->unknown && ngx_memcmp(old->id, rec->claim.id, 16) == 0)
    {
        was.found = 1;
        was.progress = old->progress;
        was.attempts = old->attempts;
        was.state = old->state;
        was.foreign = old->foreign;
        was.beat_found = old->beat_found;
        was.beat = old->beat;
        was.beat_ms = old->beat_ms;
    }

    if (old) {
        ngx_http_export_task_remove(zone, old);
    }

    task = ngx_http_export_task_of(zone, store, rec, pool, log);
    if (task == NULL) {
        return NULL;
    }

    ngx_http_export_task_fill(zone, task, rec, &was);

    return task;
}


/* a task of the zone for a record of the store, with its spec */

static ngx_http_export_task_t *
ngx_http_export_task_of(ngx_http_export_zone_t *zone, ngx_str_t *store,
    ngx_http_export_record_t *rec, ngx_pool_t *pool, ngx_log_t *log)
{
    u_char                  *p;
    size_t                   len;
    ngx_str_t                run, path;
    ngx_uint_t               i, count;
    exp_claim_t             *c;
    ngx_http_export_spec_t   spec;
    ngx_http_export_task_t  *task;

    c = &rec->claim;

    run.data = (u_char *) c->run;
    run.len = c->run_len;

    path.len = store->len + sizeof("/export--.zip") - 1 + run.len
               + NGX_HTTP_EXPORT_UUID_LEN;
    path.data = ngx_pnalloc(pool, path.len + 1);
    if (path.data == NULL) {
        return NULL;
    }

    p = ngx_sprintf(path.data, "%V/export-%V-", store, &run);
    p = ngx_http_export_uuid_text(p, c->id);
    ngx_memcpy(p, ".zip", sizeof(".zip"));

    ngx_memzero(&spec, sizeof(ngx_http_export_spec_t));

    /* the lists, "a\0b\0" as a spec holds them */

    len = 0;

    for (i = 0; i < c->nsources; i++) {
        len += ngx_strlen(exp_claim_item(c->sources, i)) + 1;
    }

    spec.source.data = ngx_pnalloc(pool, len);
    spec.source.len = len;

    len = 0;

    for (i = 0; i < c->nsources; i++) {
        len += ngx_strlen(exp_claim_item(c->folders, i)) + 1;
    }

    spec.folders.data = ngx_pnalloc(pool, len);
    spec.folders.len = len;

    if (spec.source.data == NULL || spec.folders.data == NULL) {
        return NULL;
    }

    p = spec.source.data;

    for (i = 0; i < c->nsources; i++) {
        p = ngx_cpymem(p, exp_claim_item(c->sources, i),
                       ngx_strlen(exp_claim_item(c->sources, i)) + 1);
    }

    p = spec.folders.data;

    for (i = 0; i < c->nsources; i++) {
        p = ngx_cpymem(p, exp_claim_item(c->folders, i),
                       ngx_strlen(exp_claim_item(c->folders, i)) + 1);
    }

    spec.nsources = c->nsources;

    if (c->op) {
        spec.op.data = (u_char *) c->op;
        spec.op.len = ngx_strlen(c->op);
    }

    spec.store = *store;
    spec.thread_pool.data = (u_char *) c->thread_pool;
    spec.thread_pool.len = ngx_strlen(c->thread_pool);
    spec.level = c->level;
    spec.ttl = c->ttl;
    spec.max_report_size = c->max_report_size;
    spec.max_columns = c->max_columns;
    spec.formula_guard = c->formula_guard;
    spec.csv_bom = c->csv_bom;
    spec.symlinks = c->symlinks;
    spec.symlinks_from.data = (u_char *) c->symlinks_from;
    spec.symlinks_from.len = ngx_strlen(c->symlinks_from);

    for ( ;; ) {
        task = ngx_http_export_task_create(zone, &run, c->keyed, c->id,
                                           &path, &spec);
        if (task) {
            return task;
        }

        /* the zone is full: the oldest finished task makes room */

        count = zone->sh->count;
        ngx_http_export_expire(zone, 1, NULL);

        if (zone->sh->count == count) {
            ngx_log_error(NGX_LOG_WARN, log, 0,
                          "export: zone \"%V\" has no room for task of run "
                          "%V that the store holds",
                          &zone->shm_zone->shm.name, &run);
            return NULL;
        }
    }
}


/* the fields of a task from its record, and from its former copy */

static void
ngx_http_export_task_fill(ngx_http_export_zone_t *zone,
    ngx_http_export_task_t *task, ngx_http_export_record_t *rec,
    ngx_http_export_was_t *was)
{
    size_t                      len;
    ngx_uint_t                  progress;
    exp_claim_t                *c;
    exp_meta_t                 *m;

    static u_char  stopped[] = "the export stopped without an error";

    c = &rec->claim;

    task->foreign = 1;
    task->epoch = zone->sh->epoch;
    task->style = c->style;
    task->indexed = c->indexed;
    task->attempts = c->attempt;
    task->claimed = c->attempt;
    task->created = c->created;
    task->node_len = c->node_len;
    ngx_memcpy(task->node, c->node, c->node_len);

    if (c->serial >= 0) {
        task->serial = c->serial;
    }

    task->created_ms = (c->created_ms >= 0) ? (uint64_t) c->created_ms
                                            : (uint64_t) c->created * 1000;
    task->updated_ms = ngx_http_export_now_ms();

    if (rec->found == NGX_HTTP_EXPORT_REC_UNFINISHED) {
        progress = rec->beat_doc ? (ngx_uint_t) rec->beat.progress : 0;

        if (progress > NGX_HTTP_EXPORT_PROGRESS_MAX - 100) {
            progress = NGX_HTTP_EXPORT_PROGRESS_MAX - 100;
        }

        task->state = NGX_HTTP_EXPORT_NOT_STARTED;

        if (rec->beat_doc) {
            if (ngx_strcmp(rec->beat.state, "IN_PROGRESS") == 0) {
                task->state = NGX_HTTP_EXPORT_IN_PROGRESS;

            } else if (ngx_strcmp(rec->beat.state, "QUEUED") == 0) {
                task->state = NGX_HTTP_EXPORT_QUEUED;
            }

        } else if (rec->meta_doc
                   && ngx_strcmp(rec->meta.state, "IN_PROGRESS") == 0)
        {
            task->state = NGX_HTTP_EXPORT_IN_PROGRESS;
        }

        task->beat_found = (rec->beat_doc != NULL);
        task->beat = rec->beat_doc ? (uint64_t) rec->beat.beat : 0;
        task->beat_ms = ngx_current_msec;

        if (was->found) {
            /* progress never goes down, and a takeover starts from 0 */
            if (was->progress > progress) {
                progress = was->progress;
            }

            if (was->attempts == task->attempts
                && was->beat_found == task->beat_found
                && was->beat == task->beat)
            {
                task->beat_ms = was->beat_ms;
            }

            if (was->state > task->state && !was->foreign) {
                task->state = was->state;
            }
        }

        task->progress = progress;

        ngx_http_export_task_follow(zone, task);

        return;
    }

    /* finished */

    m = &rec->meta;

    task->finished = m->finished;
    task->expires = m->finished + m->ttl;
    task->size = (off_t) m->size;
    task->nreports = m->reports >= 0
                     ? (uint32_t) ngx_min(m->reports, NGX_MAX_UINT32_VALUE)
                     : 0;
    task->finished_ms = m->finished_ms >= 0 ? (uint64_t) m->finished_ms
                                            : (uint64_t) m->finished * 1000;
    task->updated_ms = task->finished_ms;
    task->nwarnings = (ngx_uint_t) m->nwarnings;

    ngx_http_export_task_warnings(zone, task, m);

    if (ngx_strcmp(m->state, "COMPLETED") == 0) {
        task->state = NGX_HTTP_EXPORT_COMPLETED;
        task->progress = NGX_HTTP_EXPORT_PROGRESS_MAX;
        return;
    }

    task->state = NGX_HTTP_EXPORT_FAILED;
    task->progress = was->found ? was->progress : 0;

    if (m->has_ref) {
        ngx_memcpy(task->ref, m->ref, 16);

    } else {
        ngx_http_export_uuid(task->ref);
    }

    len = m->error ? ngx_strlen(m->error) : sizeof(stopped) - 1;

    task->error = ngx_slab_alloc_locked(zone->shpool, len);
    if (task->error) {
        ngx_memcpy(task->error, m->error ? (u_char *) m->error : stopped,
                   len);
        task->error_len = len;
    }
}


/* the zone remembers for a moment that the store has no such run */

static ngx_http_export_task_t *
ngx_http_export_task_unknown(ngx_http_export_zone_t *zone, ngx_str_t *run,
    u_char *id)
{
    u_char                   rid[16];
    ngx_str_t                none, name;
    ngx_http_export_spec_t   spec;
    ngx_http_export_task_t  *task;

    ngx_str_set(&none, "");
    ngx_memzero(&spec, sizeof(ngx_http_export_spec_t));
    spec.source = none;
    spec.folders = none;
    spec.op = none;
    spec.store = none;
    spec.thread_pool = none;
    spec.symlinks_from = none;

    if (run) {
        name = *run;
        ngx_http_export_uuid(rid);

    } else {
        ngx_str_set(&name, "-");
        ngx_memcpy(rid, id, 16);
    }

    task = ngx_http_export_task_create(zone, &name, run != NULL,
                                       rid, &none, &spec);
    if (task == NULL) {
        /* no room: the next request looks at the store again */
        return NULL;
    }

    task->unknown = 1;
    task->foreign = 1;
    task->state = NGX_HTTP_EXPORT_FAILED;
    task->finished = ngx_time();
    task->expires = task->finished + NGX_HTTP_EXPORT_UNKNOWN_TTL;
    task->epoch = zone->sh->epoch;

    return task;
}


/*
 * Whether a claim's sources are where this node's configuration puts
 * runs (the fixed part of each export_source of the zone), so that a
 * claim written into the store by someone else cannot make this node
 * read files anywhere.
 */

ngx_uint_t
ngx_http_export_source_allowed(ngx_http_export_zone_t *zone, exp_claim_t *c)
{
    size_t       len;
    ngx_str_t   *root;
    ngx_uint_t   i, k;
    const char  *s;

    if (zone->roots == NULL) {
        return 0;
    }

    root = zone->roots->elts;

    for (i = 0; i < c->nsources; i++) {
        s = exp_claim_item(c->sources, i);
        len = ngx_strlen(s);

        for (k = 0; k < zone->roots->nelts; k++) {
            if (len >= root[k].len
                && ngx_strncmp(s, root[k].data, root[k].len) == 0)
            {
                break;
            }
        }

        if (k == zone->roots->nelts) {
            return 0;
        }
    }

    return 1;
}


/* the claim of a new task, from the task's fields */

void
ngx_http_export_claim_of(ngx_http_export_claim_t *cl,
    ngx_http_export_zone_t *zone, ngx_http_export_task_t *task)
{
    ngx_http_export_spec_t  *spec;

    spec = &task->spec;

    cl->run.data = task->run;
    cl->run.len = task->run_len;
    ngx_memcpy(cl->id, task->id, 16);
    cl->node = zone->node;
    cl->attempt = task->claimed ? task->claimed : 1;
    cl->style = task->style;
    cl->keyed = task->keyed;
    cl->indexed = task->indexed;
    cl->serial = task->serial;
    cl->created = task->created;
    cl->created_ms = task->created_ms;
    cl->op = spec->op;
    cl->sources = spec->source;
    cl->folders = spec->folders;
    cl->nsources = spec->nsources;
    cl->thread_pool = spec->thread_pool;
    cl->level = spec->level;
    cl->ttl = spec->ttl;
    cl->max_report_size = spec->max_report_size;
    cl->max_columns = spec->max_columns;
    cl->formula_guard = spec->formula_guard;
    cl->csv_bom = spec->csv_bom;
    cl->symlinks = spec->symlinks;
    cl->symlinks_from = spec->symlinks_from;
}


/*
 * Worker 0, once a second: the heartbeat of this node's builds that wait
 * for a slot, a look at the builds of other nodes that the zone follows
 * (a takeover of those whose heartbeat stopped for the lease), and the
 * store's change token.  One at a time.
 */

void
ngx_http_export_upkeep(ngx_http_export_zone_t *zone, ngx_log_t *log)
{
    ngx_pool_t                *pool;
    ngx_queue_t               *q;
    ngx_thread_task_t         *tt;
    ngx_http_export_task_t    *task;
    ngx_http_export_upkeep_t  *up;

    if (ngx_worker != 0 || zone->upkeeping || zone->thread_pool == NULL
        || zone->stores == NULL
        || (ngx_msec_int_t) (ngx_current_msec - zone->upkeep_next) < 0)
    {
        return;
    }

    pool = ngx_create_pool(4096, log);
    if (pool == NULL) {
        return;
    }

    tt = ngx_thread_task_alloc(pool, sizeof(ngx_http_export_upkeep_t));
    if (tt == NULL) {
        goto failed;
    }

    up = tt->ctx;
    up->pool = pool;
    up->zone = zone;
    up->stores = ngx_http_export_cstores(zone, pool);
    up->nstores = zone->stores->nelts;

    if (up->stores == NULL
        || ngx_array_init(&up->watches, pool, 8,
                          sizeof(ngx_http_export_watch_t))
           != NGX_OK)
    {
        goto failed;
    }

    ngx_shmtx_lock(&zone->shpool->mutex);

    /*
     * This node's waiting exports first, the oldest first, then the
     * unfinished exports of other nodes that the zone follows.
     */

    for (q = ngx_queue_head(&zone->sh->waiting);
         q != ngx_queue_sentinel(&zone->sh->waiting);
         q = ngx_queue_next(q))
    {
        task = ngx_queue_data(q, ngx_http_export_task_t, waiting);

        if (ngx_http_export_watch(up, zone, task) != NGX_OK) {
            break;
        }
    }

    for (q = ngx_queue_head(&zone->sh->jobs);
         q != ngx_queue_sentinel(&zone->sh->jobs);
         q = ngx_queue_next(q))
    {
        task = ngx_queue_data(q, ngx_http_export_task_t, waiting);

        if (task->state == NGX_HTTP_EXPORT_QUEUED
            && ngx_http_export_watch(up, zone, task) != NGX_OK)
        {
            break;
        }
    }

    for (q = ngx_queue_head(&zone->sh->follow);
         q != ngx_queue_sentinel(&zone->sh->follow);
         q = ngx_queue_next(q))
    {
        task = ngx_queue_data(q, ngx_http_export_task_t, waiting);

        if (ngx_http_export_watch(up, zone, task) != NGX_OK) {
            break;
        }
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    tt->handler = ngx_http_export_upkeep_thread;
    tt->event.handler = ngx_http_export_upkeep_done;
    tt->event.data = up;
    tt->event.log = ngx_cycle->log;

    if (ngx_thread_task_post(zone->thread_pool, tt) != NGX_OK) {
        goto failed;
    }

    zone->upkeeping = 1;
    zone->upkeep_next = ngx_current_msec + NGX_HTTP_EXPORT_BEAT_EVERY;

    return;

failed:

    ngx_destroy_pool(pool);
}


/* a task for worker 0's look, under the zone's lock; NGX_DECLINED: full */

static ngx_int_t
ngx_http_export_watch(ngx_http_export_upkeep_t *up,
    ngx_http_export_zone_t *zone, ngx_http_export_task_t *task)
{
    ngx_str_t                *store;
    ngx_uint_t                k;
    ngx_http_export_watch_t  *w;

    if (up->watches.nelts == NGX_HTTP_EXPORT_WATCH_MAX) {
        return NGX_DECLINED;
    }

    w = ngx_array_push(&up->watches);
    if (w == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(w, sizeof(ngx_http_export_watch_t));

    w->run.data = ngx_pnalloc(up->pool, task->run_len);
    if (w->run.data == NULL) {
        up->watches.nelts--;
        return NGX_ERROR;
    }

    ngx_memcpy(w->run.data, task->run, task->run_len);
    w->run.len = task->run_len;
    ngx_memcpy(w->id, task->id, 16);

    w->own = !task->foreign;
    w->attempt = w->own ? task->claimed : task->attempts;
    w->progress = task->progress;
    w->state = task->state;
    w->beat = w->own ? ++task->beat : task->beat;
    w->beat_found = task->beat_found;
    w->beat_ms = task->beat_ms;

    store = zone->stores->elts;

    for (k = 0; k < zone->stores->nelts; k++) {
        if (store[k].len == task->spec.store.len
            && ngx_strncmp(store[k].data, task->spec.store.data,
                           store[k].len) == 0)
        {
            w->store = k;
        }
    }

    return NGX_OK;
}


static void
ngx_http_export_upkeep_thread(void *data, ngx_log_t *log)
{
    ngx_http_export_upkeep_t *up = data;

    u_char                     token[16];
    ngx_int_t                  rc;
    ngx_uint_t                 i, k;
    ngx_msec_t                 now;
    struct timespec            ts;
    ngx_http_export_watch_t   *w;
    ngx_http_export_record_t  *rec;
    ngx_http_export_cstore_t  *cs;

    static const char  msg[] = "the export was taken over by another node "
                               "on every attempt: each builder stopped";

    for (i = 0; i < up->nstores; i++) {
        up->stores[i].log = log;

        if (ngx_http_export_claim_token(&up->stores[i], token) == NGX_OK) {
            for (k = 0; k < 16; k++) {
                up->token[k] ^= token[k];
            }

            up->token_read = 1;
        }
    }

    w = up->watches.elts;

    for (i = 0; i < up->watches.nelts; i++) {
        cs = &up->stores[w[i].store];
        rec = &w[i].rec;

        if (w[i].own) {
            w[i].rc = ngx_http_export_claim_check(cs, &w[i].run, w[i].id,
                                                  w[i].attempt,
                                                  w[i].progress, w[i].state,
                                                  w[i].beat);
            continue;
        }

        rc = ngx_http_export_claim_lookup(cs, &w[i].run, rec);
        w[i].rc = rc;

        if (rc != NGX_OK || rec->found != NGX_HTTP_EXPORT_REC_UNFINISHED
            || ngx_memcmp(rec->claim.id, w[i].id, 16) != 0
            || (ngx_uint_t) rec->claim.attempt != w[i].attempt
            || (rec->beat_doc != NULL) != (w[i].beat_found != 0)
            || (rec->beat_doc && (uint64_t) rec->beat.beat != w[i].beat))
        {
            ngx_http_export_rec_log(rec, &w[i].run, log);
            continue;
        }

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        now = (ngx_msec_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;

        if (now - w[i].beat_ms < cs->lease) {
            continue;
        }

        /* its heartbeat stopped for the lease: this node takes it over */

        if (!ngx_http_export_source_allowed(up->zone, &rec->claim)) {
            ngx_log_error(NGX_LOG_WARN, log, 0,
                          "export: run %V: the claim in the export store "
                          "names a source outside this node's "
                          "export_source; it is not taken over",
                          &w[i].run);
            continue;
        }

        ngx_http_export_record_free(rec);

        rc = ngx_http_export_claim_takeover(cs, &w[i].run, w[i].id,
                                            w[i].attempt, w[i].beat,
                                            w[i].beat_found, rec);
        w[i].rc = (rc == NGX_DECLINED) ? NGX_OK : rc;

        if (rc != NGX_OK) {
            continue;
        }

        w[i].taken = 1;

        if (rec->claim.attempt <= NGX_HTTP_EXPORT_ATTEMPTS) {
            continue;
        }

        /* no attempt is left: the export is FAILED, for every node */

        if (ngx_http_export_fail_write(cs, rec, msg, log) == NGX_OK) {
            ngx_http_export_record_free(rec);
            w[i].rc = ngx_http_export_claim_lookup(cs, &w[i].run, rec);
            w[i].taken = 2;
        }
    }
}


static void
ngx_http_export_upkeep_done(ngx_event_t *ev)
{
    ngx_http_export_upkeep_t *up = ev->data;

    ngx_str_t                *store;
    ngx_log_t                *log;
    ngx_uint_t                i;
    ngx_http_export_zone_t   *zone;
    ngx_http_export_task_t   *task;
    ngx_http_export_watch_t  *w;

    zone = up->zone;
    zone->upkeeping = 0;
    store = zone->stores->elts;

    ngx_shmtx_lock(&zone->shpool->mutex);

    if (up->token_read
        && ngx_memcmp(zone->sh->token, up->token, 16) != 0)
    {
        /* another node deleted or replaced an export: look again */
        ngx_memcpy(zone->sh->token, up->token, 16);
        zone->sh->epoch++;
    }

    w = up->watches.elts;

    for (i = 0; i < up->watches.nelts; i++) {
        task = ngx_http_export_task_find_id(zone, w[i].id);

        if (task == NULL || task->unknown) {
            continue;
        }

        if (w[i].own) {
            if (task->foreign || task->running
                || ngx_http_export_finished(task->state))
            {
                continue;
            }

            if (w[i].rc == NGX_DECLINED) {
                ngx_log_error(NGX_LOG_INFO, ev->log, 0,
                              "export: run %V: the export was deleted "
                              "on another node before it started here",
                              &w[i].run);
                zone->sh->stats.cancelled++;
                ngx_http_export_task_remove(zone, task);

            } else if (w[i].rc == NGX_ABORT) {
                ngx_log_error(NGX_LOG_WARN, ev->log, 0,
                              "export: run %V: another node took over the "
                              "export before it started here",
                              &w[i].run);
                zone->sh->stats.lost++;

                if (task->state == NGX_HTTP_EXPORT_NOT_STARTED) {
                    ngx_queue_remove(&task->waiting);
                }

                task->foreign = 1;
                task->epoch = zone->sh->epoch - 1;
                ngx_http_export_task_follow(zone, task);
            }

            continue;
        }

        if (w[i].rc != NGX_OK || !task->foreign) {
            continue;
        }

        task = ngx_http_export_apply(zone, &store[w[i].store], NULL, w[i].id,
                                     &w[i].rec, up->pool, ev->log);

        if (task == NULL || w[i].taken != 1
            || ngx_http_export_finished(task->state))
        {
            if (task && w[i].taken == 2) {
                zone->sh->stats.failed++;
            }

            continue;
        }

        /* taken over: this node builds it, from the start */

        ngx_http_export_task_unfollow(zone, task);
        task->foreign = 0;
        task->node_len = zone->node.len;
        ngx_memcpy(task->node, zone->node.data, zone->node.len);
        task->claimed = (ngx_uint_t) w[i].rec.claim.attempt;
        task->attempts = task->claimed - 1;
        task->state = NGX_HTTP_EXPORT_NOT_STARTED;
        ngx_queue_insert_tail(&zone->sh->waiting, &task->waiting);

        zone->sh->stats.takeovers++;
        zone->sh->version++;

        ngx_log_error(NGX_LOG_WARN, ev->log, 0,
                      "export: run %V: the heartbeat of its builder stopped "
                      "for the lease; node \"%V\" takes the export over "
                      "(attempt %ui of %d)",
                      &w[i].run, &zone->node, task->claimed,
                      NGX_HTTP_EXPORT_ATTEMPTS);
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    for (i = 0; i < up->watches.nelts; i++) {
        ngx_http_export_record_free(&w[i].rec);
    }

    /* the event is in the pool too */
    log = ev->log;

    ngx_destroy_pool(up->pool);

    ngx_http_export_dispatch(zone, log);
}


/*
 * A new task that could not be started after its run was claimed: its
 * claim leaves the store again, if it is still the task's.
 */

void
ngx_http_export_store_forget(ngx_http_export_zone_t *zone, ngx_str_t *store,
    ngx_str_t *run, u_char *id)
{
    ngx_pool_t                *pool;
    ngx_thread_task_t         *tt;
    ngx_http_export_forget_t  *f;

    pool = ngx_create_pool(1024, ngx_cycle->log);
    if (pool == NULL) {
        return;
    }

    tt = ngx_thread_task_alloc(pool, sizeof(ngx_http_export_forget_t));
    if (tt == NULL) {
        goto failed;
    }

    f = tt->ctx;
    f->pool = pool;
    ngx_http_export_cstore(&f->cs, zone, store);
    ngx_memcpy(f->id, id, 16);

    f->run.data = ngx_pstrdup(pool, run);
    f->run.len = run->len;
    f->cs.store = ngx_pstrdup(pool, store);

    if (f->run.data == NULL || f->cs.store == NULL) {
        goto failed;
    }

    tt->handler = ngx_http_export_forget_thread;
    tt->event.handler = ngx_http_export_forget_done;
    tt->event.data = f;
    tt->event.log = ngx_cycle->log;

    if (ngx_thread_task_post(zone->thread_pool, tt) == NGX_OK) {
        return;
    }

failed:

    ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                  "export: run %V: its claim stays in the store; another "
                  "node or a later POST takes the export up", run);

    ngx_destroy_pool(pool);
}


static void
ngx_http_export_forget_thread(void *data, ngx_log_t *log)
{
    ngx_http_export_forget_t *f = data;

    ngx_http_export_record_t  rec;

    f->cs.log = log;

    (void) ngx_http_export_claim_delete(&f->cs, &f->run, f->id, &rec);

    ngx_http_export_record_free(&rec);
}


static void
ngx_http_export_forget_done(ngx_event_t *ev)
{
    ngx_http_export_forget_t *f = ev->data;

    ngx_destroy_pool(f->pool);
}


/*
 * A FAILED export of this node (its worker died on every attempt, or
 * its thread pool is gone) into the store, so that other nodes and a
 * restart see it FAILED too.  Called under the zone's lock.
 */

void
ngx_http_export_store_failed(ngx_http_export_zone_t *zone,
    ngx_http_export_task_t *task)
{
    u_char                  *p;
    ngx_pool_t              *pool;
    ngx_thread_task_t       *tt;
    ngx_http_export_fail_t  *f;

    if (zone->thread_pool == NULL) {
        return;
    }

    pool = ngx_create_pool(1024, ngx_cycle->log);
    if (pool == NULL) {
        return;
    }

    tt = ngx_thread_task_alloc(pool, sizeof(ngx_http_export_fail_t));
    if (tt == NULL) {
        goto failed;
    }

    f = tt->ctx;
    f->pool = pool;
    f->attempt = task->claimed;

    p = ngx_pnalloc(pool, task->spec.store.len + task->path_len
                          + task->run_len + task->error_len + 3);
    if (p == NULL) {
        goto failed;
    }

    f->cs.store = p;
    f->cs.store_len = task->spec.store.len;
    p = ngx_cpymem(p, task->spec.store.data, task->spec.store.len) + 1;
    f->cs.node = zone->node;
    f->cs.lease = zone->lease;
    f->cs.log = ngx_cycle->log;

    f->meta.path = p;
    f->meta.path_len = task->path_len;
    p = ngx_cpymem(p, task->path, task->path_len);
    *p++ = '\0';

    f->meta.run.data = p;
    f->meta.run.len = task->run_len;
    p = ngx_cpymem(p, task->run, task->run_len);

    f->meta.error.data = p;
    f->meta.error.len = task->error_len;
    p = ngx_cpymem(p, task->error, task->error_len);

    f->meta.id = ngx_pnalloc(pool, 32);
    if (f->meta.id == NULL) {
        goto failed;
    }

    ngx_memcpy(f->meta.id, task->id, 16);
    f->meta.ref = f->meta.id + 16;
    ngx_memcpy(f->meta.ref, task->ref, 16);

    f->meta.style = task->style;
    f->meta.keyed = task->keyed;
    f->meta.cancelled = 0;
    f->meta.serial = task->serial;
    f->meta.nreports = task->nreports;
    f->meta.created_ms = task->created_ms;
    f->meta.finished_ms = task->finished_ms;
    ngx_str_null(&f->meta.op);
    f->meta.state = NGX_HTTP_EXPORT_FAILED;
    f->meta.created = task->created;
    f->meta.finished = task->finished;
    f->meta.ttl = task->spec.ttl;
    f->meta.size = 0;
    f->meta.nwarnings = 0;
    f->meta.nkept = 0;
    f->meta.warnings = NULL;
    f->meta.node = zone->node;

    tt->handler = ngx_http_export_fail_thread;
    tt->event.handler = ngx_http_export_fail_done;
    tt->event.data = f;
    tt->event.log = ngx_cycle->log;

    if (ngx_thread_task_post(zone->thread_pool, tt) == NGX_OK) {
        return;
    }

failed:

    ngx_destroy_pool(pool);
}


static void
ngx_http_export_fail_thread(void *data, ngx_log_t *log)
{
    ngx_http_export_fail_t *f = data;

    f->cs.log = log;

    if (ngx_http_export_meta_write(&f->meta, log) == NGX_OK) {
        (void) ngx_http_export_claim_done(&f->cs, &f->meta.run, f->meta.id,
                                          f->attempt);
    }
}


static void
ngx_http_export_fail_done(ngx_event_t *ev)
{
    ngx_http_export_fail_t *f = ev->data;

    ngx_destroy_pool(f->pool);
}


/* FAILED metadata for the task of a claim that has no attempt left */

static ngx_int_t
ngx_http_export_fail_write(ngx_http_export_cstore_t *cs,
    ngx_http_export_record_t *rec, const char *msg, ngx_log_t *log)
{
    u_char                   path[NGX_MAX_PATH], ref[16], *p;
    u_char                   text[NGX_HTTP_EXPORT_UUID_LEN];
    exp_claim_t             *c;
    ngx_http_export_meta_t   m;

    c = &rec->claim;

    p = ngx_snprintf(path, NGX_MAX_PATH - 1, "%*s/export-%*s-",
                     cs->store_len, cs->store, c->run_len, c->run);
    p = ngx_http_export_uuid_text(p, c->id);
    p = ngx_cpymem(p, ".zip", 4);
    *p = '\0';

    ngx_http_export_uuid(ref);

    ngx_memzero(&m, sizeof(ngx_http_export_meta_t));
    m.path = path;
    m.path_len = p - path;
    m.run.data = (u_char *) c->run;
    m.run.len = c->run_len;
    m.id = c->id;
    m.style = c->style;
    m.keyed = c->keyed;
    m.serial = c->serial >= 0 ? (uint64_t) c->serial : 0;
    m.created_ms = c->created_ms >= 0 ? (uint64_t) c->created_ms : 0;
    m.finished_ms = ngx_http_export_now_ms();
    m.ref = ref;
    m.state = NGX_HTTP_EXPORT_FAILED;
    m.created = c->created;
    m.finished = time(NULL);
    m.ttl = c->ttl;
    m.error.data = (u_char *) msg;
    m.error.len = ngx_strlen(msg);
    m.node = cs->node;

    if (c->op) {
        m.op.data = (u_char *) c->op;
        m.op.len = ngx_strlen(c->op);
    }

    if (ngx_http_export_meta_write(&m, log) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_http_export_uuid_text(text, ref);

    ngx_log_error(NGX_LOG_ERR, log, 0,
                  "export: run %*s failed: %s (referenceToken: %*s)",
                  c->run_len, c->run, msg,
                  (size_t) NGX_HTTP_EXPORT_UUID_LEN, text);

    return NGX_OK;
}


/*
 * At start, in the master, before the metadata is read back: a claim of
 * this node whose export is unfinished is a build that the stop
 * interrupted.  It waits NOT_STARTED for a slot, and its next attempt
 * starts it from the beginning; with no attempt left it is FAILED.
 */

void
ngx_http_export_recover_claim(ngx_http_export_zone_t *zone,
    ngx_str_t *store, const char *name, ngx_log_t *log)
{
    size_t                     len;
    ngx_str_t                  run;
    ngx_pool_t                *pool;
    ngx_http_export_was_t      was;
    ngx_http_export_task_t    *task;
    ngx_http_export_cstore_t   cs;
    ngx_http_export_record_t   rec;

    static const char  msg[] = "nginx was stopped during every attempt to "
                               "generate the export";

    len = ngx_strlen(name);

    run.data = (u_char *) name + sizeof("export-") - 1;
    run.len = len - (sizeof("export-") - 1) - (sizeof(".claim") - 1);

    if (len <= sizeof("export-.claim") - 1
        || !exp_name_check(run.data, run.len, EXP_RUN_MAX, 0))
    {
        return;
    }

    ngx_http_export_cstore(&cs, zone, store);
    cs.log = log;

    if (ngx_http_export_claim_lookup(&cs, &run, &rec) != NGX_OK
        || rec.found != NGX_HTTP_EXPORT_REC_UNFINISHED
        || rec.claim.node_len != zone->node.len
        || ngx_memcmp(rec.claim.node, zone->node.data, zone->node.len) != 0)
    {
        ngx_http_export_rec_log(&rec, &run, log);
        ngx_http_export_record_free(&rec);
        return;
    }

    if (rec.claim.attempt >= NGX_HTTP_EXPORT_ATTEMPTS) {
        (void) ngx_http_export_fail_write(&cs, &rec, msg, log);
        ngx_http_export_record_free(&rec);
        return;
    }

    if (!ngx_http_export_source_allowed(zone, &rec.claim)) {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "export: run %V: the claim in the export store names "
                      "a source outside this node's export_source; it is "
                      "not started again", &run);
        ngx_http_export_record_free(&rec);
        return;
    }

    pool = ngx_create_pool(1024, log);
    if (pool == NULL) {
        ngx_http_export_record_free(&rec);
        return;
    }

    /* a claim read twice (two stores that are one directory) counts once */

    task = ngx_http_export_task_find_id(zone, rec.claim.id)
           ? NULL : ngx_http_export_task_of(zone, store, &rec, pool, log);

    if (task) {
        ngx_memzero(&was, sizeof(ngx_http_export_was_t));
        ngx_http_export_task_fill(zone, task, &rec, &was);

        ngx_http_export_task_unfollow(zone, task);
        task->foreign = 0;
        task->claimed = (ngx_uint_t) rec.claim.attempt;
        task->attempts = task->claimed;
        task->state = NGX_HTTP_EXPORT_NOT_STARTED;
        ngx_queue_insert_tail(&zone->sh->waiting, &task->waiting);

        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "export: run %V: the export that the stop "
                      "interrupted after attempt %ui is started again",
                      &run, task->claimed);
    }

    ngx_destroy_pool(pool);
    ngx_http_export_record_free(&rec);
}
