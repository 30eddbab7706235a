
/*
 * The task table: a slab pool in shared memory, two hash tables (by run
 * and by task id) and a queue that keeps tasks oldest first.  Every
 * call here expects the caller to hold the slab mutex, except
 * ngx_http_export_init_zone() and ngx_http_export_unlink_files().
 */


#include "ngx_http_export_module.h"
#include "ngx_http_export_cluster.h"

#include <openssl/rand.h>


typedef struct {
    ngx_array_t                 paths;        /* ngx_str_t, 3 a task */
    ngx_pool_t                 *pool;
    ngx_http_export_zone_t     *zone;
} ngx_http_export_unlink_t;


static uint64_t ngx_http_export_run_hash(u_char *seed, u_char *p,
    size_t len);
static ngx_http_export_task_t **ngx_http_export_id_bucket(
    ngx_http_export_shctx_t *sh, u_char *id);
static void ngx_http_export_slot_add(ngx_http_export_zone_t *zone,
    ngx_http_export_task_t *task);
static void ngx_http_export_slot_remove(ngx_http_export_zone_t *zone,
    ngx_http_export_task_t *task);
static void ngx_http_export_task_free(ngx_http_export_zone_t *zone,
    ngx_http_export_task_t *task);
static void ngx_http_export_unlink_thread(void *data, ngx_log_t *log);
static void ngx_http_export_unlink_done(ngx_event_t *ev);


#if (NGX_PTR_SIZE == 8)
/* what a status GET reads is in a task's first 3 cache lines (the header) */
typedef char ngx_http_export_task_lines_t[
    offsetof(ngx_http_export_task_t, error) == 192 ? 1 : -1];
#endif

/*
 * A slot names its task in 512-byte units from the zone's start (a
 * mapping, page-aligned): the slab gives a block of more than 256 bytes
 * 512 bytes or more, aligned to its size.
 */
typedef char ngx_http_export_task_units_t[
    sizeof(ngx_http_export_task_t) > 256 ? 1 : -1];


#if (__GNUC__ || __clang__)
#define ngx_http_export_prefetch(p)  __builtin_prefetch(p)
#else
#define ngx_http_export_prefetch(p)
#endif


#define NGX_HTTP_EXPORT_ROTL(x, b)  (((x) << (b)) | ((x) >> (64 - (b))))

#define NGX_HTTP_EXPORT_SIPROUND                                              \
    v0 += v1; v1 = NGX_HTTP_EXPORT_ROTL(v1, 13); v1 ^= v0;                    \
    v0 = NGX_HTTP_EXPORT_ROTL(v0, 32);                                        \
    v2 += v3; v3 = NGX_HTTP_EXPORT_ROTL(v3, 16); v3 ^= v2;                    \
    v0 += v3; v3 = NGX_HTTP_EXPORT_ROTL(v3, 21); v3 ^= v0;                    \
    v2 += v1; v1 = NGX_HTTP_EXPORT_ROTL(v1, 17); v1 ^= v2;                    \
    v2 = NGX_HTTP_EXPORT_ROTL(v2, 32)


/* 8 bytes, little-endian whatever the platform */

static ngx_inline uint64_t
ngx_http_export_le64(u_char *p)
{
    return (uint64_t) p[0] | (uint64_t) p[1] << 8 | (uint64_t) p[2] << 16
           | (uint64_t) p[3] << 24 | (uint64_t) p[4] << 32
           | (uint64_t) p[5] << 40 | (uint64_t) p[6] << 48
           | (uint64_t) p[7] << 56;
}


/*
 * A run's hash: SipHash-1-3 keyed with the zone's random seed.  Runs
 * come from clients; with a plain hash they could pick runs that all
 * fall into one chain.  Ids need no such hash: the zone makes them, at
 * random.
 */

static uint64_t
ngx_http_export_run_hash(u_char *seed, u_char *p, size_t len)
{
    size_t    i, left;
    uint64_t  k0, k1, v0, v1, v2, v3, m;

    k0 = ngx_http_export_le64(seed);
    k1 = ngx_http_export_le64(seed + 8);

    v0 = k0 ^ 0x736f6d6570736575ULL;
    v1 = k1 ^ 0x646f72616e646f6dULL;
    v2 = k0 ^ 0x6c7967656e657261ULL;
    v3 = k1 ^ 0x7465646279746573ULL;

    for (i = 0; i + 8 <= len; i += 8) {
        m = ngx_http_export_le64(p + i);
        v3 ^= m;
        NGX_HTTP_EXPORT_SIPROUND;
        v0 ^= m;
    }

    m = (uint64_t) len << 56;

    for (left = 0; i + left < len; left++) {
        m |= (uint64_t) p[i + left] << (8 * left);
    }

    v3 ^= m;
    NGX_HTTP_EXPORT_SIPROUND;
    v0 ^= m;

    v2 ^= 0xff;
    NGX_HTTP_EXPORT_SIPROUND;
    NGX_HTTP_EXPORT_SIPROUND;
    NGX_HTTP_EXPORT_SIPROUND;

    return v0 ^ v1 ^ v2 ^ v3;
}


/* an id's bucket: its first bytes, random already */

static ngx_inline ngx_http_export_task_t **
ngx_http_export_id_bucket(ngx_http_export_shctx_t *sh, u_char *id)
{
    return &sh->ids[ngx_http_export_le64(id) & sh->mask];
}


/* a slot's task, and a task's place for a slot: 512-byte units */

static ngx_inline ngx_http_export_task_t *
ngx_http_export_slot_task(ngx_http_export_zone_t *zone, uint32_t at)
{
    return (ngx_http_export_task_t *) ((u_char *) zone->shpool
                                       + ((size_t) at << 9));
}


static ngx_inline uint32_t
ngx_http_export_slot_at(ngx_http_export_zone_t *zone,
    ngx_http_export_task_t *task)
{
    return (uint32_t) (((u_char *) task - (u_char *) zone->shpool) >> 9);
}


ngx_int_t
ngx_http_export_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_export_zone_t  *ozone = data;

    size_t                   len, n, m;
    ngx_http_export_zone_t  *zone;

    zone = shm_zone->data;

    if (ozone) {
        /* a reload: keep the old zone and every task in it */
        zone->sh = ozone->sh;
        zone->shpool = ozone->shpool;
        zone->sh->max_running = zone->max_running;
        return NGX_OK;
    }

    zone->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        zone->sh = zone->shpool->data;
        return NGX_OK;
    }

    zone->sh = ngx_slab_alloc(zone->shpool, sizeof(ngx_http_export_shctx_t));
    if (zone->sh == NULL) {
        return NGX_ERROR;
    }

    zone->shpool->data = zone->sh;

    /*
     * A bucket of ids per KiB of zone, a power of two: at most 2 tasks
     * each.  Twice as many slots of runs or more: a task takes 1 KiB at
     * least, so the table is never more than half full.  A slot names
     * its task in 512-byte units: 32 bits for 2 TiB.
     */

    if ((uint64_t) shm_zone->shm.size >> 41) {
        ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                      "export zone \"%V\" is too large",
                      &shm_zone->shm.name);
        return NGX_ERROR;
    }

    n = 16;

    while (n * 2 <= shm_zone->shm.size / 1024) {
        n *= 2;
    }

    m = (shm_zone->shm.size / 1024 > n) ? 4 * n : 2 * n;

    zone->sh->ids = ngx_slab_calloc(zone->shpool,
                                    n * sizeof(ngx_http_export_task_t *));
    zone->sh->runs = ngx_slab_calloc(zone->shpool,
                                     m * sizeof(ngx_http_export_slot_t));

    if (zone->sh->ids == NULL || zone->sh->runs == NULL) {
        ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                      "export zone \"%V\" is too small",
                      &shm_zone->shm.name);
        return NGX_ERROR;
    }

    zone->sh->mask = n - 1;
    zone->sh->runs_mask = m - 1;

    ngx_queue_init(&zone->sh->queue);
    ngx_queue_init(&zone->sh->waiting);
    ngx_queue_init(&zone->sh->jobs);
    ngx_queue_init(&zone->sh->follow);

    zone->sh->version = 0;
    zone->sh->count = 0;
    zone->sh->running = 0;
    zone->sh->max_running = zone->max_running;

    /*
     * Links are signed with this key where no export_link_secret is set:
     * random, shared by all workers, and gone with the zone at restart.
     */

    if (RAND_bytes(zone->sh->key, sizeof(zone->sh->key)) != 1
        || RAND_bytes(zone->sh->seed, sizeof(zone->sh->seed)) != 1)
    {
        ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                      "export zone \"%V\": RAND_bytes() failed",
                      &shm_zone->shm.name);
        return NGX_ERROR;
    }

    len = sizeof(" in export zone \"\"") + shm_zone->shm.name.len;

    zone->shpool->log_ctx = ngx_slab_alloc(zone->shpool, len);
    if (zone->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(zone->shpool->log_ctx, " in export zone \"%V\"%Z",
                &shm_zone->shm.name);

    /* a full zone is expected and handled: no "no memory" alerts */
    zone->shpool->log_nomem = 0;

    /*
     * A start, not a reload: take back the exports the stores hold.  Not
     * for "nginx -t", which may run beside a live server.
     */

    if (!ngx_test_config) {
        ngx_http_export_meta_recover(zone, shm_zone->shm.log);
    }

    return NGX_OK;
}


/*
 * The run's task, even one whose time is over and not yet removed.  Only
 * a task whose slot has the hash's tag is read, and as soon as its place
 * is known its other two lines are asked for, so that they come from
 * memory with the first instead of after it.
 */

ngx_http_export_task_t *
ngx_http_export_task_find(ngx_http_export_zone_t *zone, ngx_str_t *run)
{
    uint32_t                 tag;
    uint64_t                 hash;
    ngx_uint_t               i, mask;
    ngx_http_export_slot_t  *slot;
    ngx_http_export_task_t  *task;

    hash = ngx_http_export_run_hash(zone->sh->seed, run->data, run->len);
    tag = (uint32_t) hash;
    mask = zone->sh->runs_mask;

    for (i = tag & mask; /* void */; i = (i + 1) & mask) {
        slot = &zone->sh->runs[i];

        if (slot->at == 0) {
            return NULL;
        }

        if (slot->tag != tag) {
            continue;
        }

        task = ngx_http_export_slot_task(zone, slot->at);

        ngx_http_export_prefetch((u_char *) task + 64);
        ngx_http_export_prefetch((u_char *) task + 128);

        if (task->hash == hash && task->run_len == run->len
            && ngx_memcmp(task->run, run->data, run->len) == 0)
        {
            return task;
        }
    }
}


/* the run's task as clients see it: an expired task is gone */

ngx_http_export_task_t *
ngx_http_export_task_lookup(ngx_http_export_zone_t *zone, ngx_str_t *run)
{
    ngx_http_export_task_t  *task;

    task = ngx_http_export_task_find(zone, run);

    if (task && (task->unknown || ngx_http_export_expired(task, ngx_time())))
    {
        return NULL;
    }

    return task;
}


/* the task of an id, even an expired one or a run the store lacks */

ngx_http_export_task_t *
ngx_http_export_task_find_id(ngx_http_export_zone_t *zone, u_char *id)
{
    ngx_http_export_task_t  *task;

    for (task = *ngx_http_export_id_bucket(zone->sh, id);
         task;
         task = task->id_next)
    {
        if (ngx_memcmp(task->id, id, 16) == 0) {
            return task;
        }
    }

    return NULL;
}


ngx_http_export_task_t *
ngx_http_export_task_lookup_id(ngx_http_export_zone_t *zone, u_char *id)
{
    ngx_http_export_task_t  *task;

    task = ngx_http_export_task_find_id(zone, id);

    if (task && (task->unknown || ngx_http_export_expired(task, ngx_time())))
    {
        return NULL;
    }

    return task;
}


/*
 * Makes a new task named "run", found by that name too when "keyed"; NULL
 * when the zone has no room, and the caller may then evict the oldest
 * finished task and try again.
 */

ngx_http_export_task_t *
ngx_http_export_task_create(ngx_http_export_zone_t *zone, ngx_str_t *run,
    ngx_uint_t keyed, u_char *id, ngx_str_t *path,
    ngx_http_export_spec_t *spec)
{
    u_char                   *p;
    size_t                    size;
    ngx_http_export_task_t   *task, **bucket;

    if (run->len > NGX_HTTP_EXPORT_RUN_MAX) {
        return NULL;
    }

    size = sizeof(ngx_http_export_task_t) + path->len + 1
           + spec->source.len + spec->folders.len + spec->op.len + 1
           + spec->store.len + 1 + spec->thread_pool.len + 1
           + spec->symlinks_from.len + 1;

    task = ngx_slab_calloc_locked(zone->shpool, size);

    if (task == NULL) {
        return NULL;
    }

    ngx_memcpy(task->run, run->data, run->len);
    task->run_len = run->len;
    ngx_memcpy(task->id, id, 16);

    task->hash = ngx_http_export_run_hash(zone->sh->seed, task->run,
                                          task->run_len);
    task->keyed = keyed;

    task->state = NGX_HTTP_EXPORT_NOT_STARTED;
    task->created = ngx_time();
    task->created_ms = ngx_http_export_now_ms();
    task->updated_ms = task->created_ms;
    task->serial = ++zone->sh->serial;

    /* the strings, null-terminated, after the task */

    p = (u_char *) task + sizeof(ngx_http_export_task_t);

    task->path = p;
    task->path_len = path->len;
    p = ngx_cpymem(p, path->data, path->len);
    *p++ = '\0';

    task->spec = *spec;

    /* sources and folders: each item ends in '\0' already */

    task->spec.source.data = p;
    p = ngx_cpymem(p, spec->source.data, spec->source.len);

    task->spec.folders.data = p;
    p = ngx_cpymem(p, spec->folders.data, spec->folders.len);

    task->spec.op.data = p;
    p = ngx_cpymem(p, spec->op.data, spec->op.len);
    *p++ = '\0';

    task->spec.store.data = p;
    p = ngx_cpymem(p, spec->store.data, spec->store.len);
    *p++ = '\0';

    task->spec.thread_pool.data = p;
    p = ngx_cpymem(p, spec->thread_pool.data, spec->thread_pool.len);
    *p++ = '\0';

    task->spec.symlinks_from.data = p;
    p = ngx_cpymem(p, spec->symlinks_from.data, spec->symlinks_from.len);
    *p = '\0';

    if (keyed) {
        ngx_http_export_slot_add(zone, task);
    }

    bucket = ngx_http_export_id_bucket(zone->sh, task->id);
    task->id_next = *bucket;
    *bucket = task;

    ngx_queue_insert_tail(&zone->sh->queue, &task->queue);

    zone->sh->count++;
    zone->sh->version++;

    return task;
}


static void
ngx_http_export_slot_add(ngx_http_export_zone_t *zone,
    ngx_http_export_task_t *task)
{
    uint32_t                 tag;
    ngx_uint_t               i, mask;
    ngx_http_export_slot_t  *runs;

    runs = zone->sh->runs;
    mask = zone->sh->runs_mask;
    tag = (uint32_t) task->hash;

    for (i = tag & mask; runs[i].at; i = (i + 1) & mask) {
        /* void */
    }

    runs[i].tag = tag;
    runs[i].at = ngx_http_export_slot_at(zone, task);
}


/*
 * Empties the task's slot, and moves back each slot after it that its
 * probe reached only across the emptied one: no slot is left that a
 * lookup cannot reach, and no tombstones.
 */

static void
ngx_http_export_slot_remove(ngx_http_export_zone_t *zone,
    ngx_http_export_task_t *task)
{
    uint32_t                 at;
    ngx_uint_t               i, j, home, mask;
    ngx_http_export_slot_t  *runs;

    runs = zone->sh->runs;
    mask = zone->sh->runs_mask;
    at = ngx_http_export_slot_at(zone, task);

    for (i = (uint32_t) task->hash & mask; runs[i].at != at;
         i = (i + 1) & mask)
    {
        if (runs[i].at == 0) {
            /* not in the table */
            return;
        }
    }

    for (j = (i + 1) & mask; runs[j].at; j = (j + 1) & mask) {
        home = runs[j].tag & mask;

        /* moved back unless its home is in (i, j], cyclically */

        if (((j - home) & mask) >= ((j - i) & mask)) {
            runs[i] = runs[j];
            i = j;
        }
    }

    runs[i].tag = 0;
    runs[i].at = 0;
}


/*
 * Takes the task out of the table.  A task a job still holds is only
 * detached; the job frees it when it ends.
 */

void
ngx_http_export_task_remove(ngx_http_export_zone_t *zone,
    ngx_http_export_task_t *task)
{
    ngx_http_export_task_t  **p;

    if (!task->detached) {
        if (task->keyed) {
            ngx_http_export_slot_remove(zone, task);
        }

        for (p = ngx_http_export_id_bucket(zone->sh, task->id);
             *p != task;
             p = &(*p)->id_next)
        {
            /* void */
        }

        *p = task->id_next;

        ngx_queue_remove(&task->queue);
        zone->sh->count--;
        zone->sh->version++;
    }

    /* a cancelled export gives its quota slots back at once */
    ngx_http_export_quota_release(task->quota);

    ngx_http_export_task_unfollow(zone, task);

    /* only this node's waiting tasks are in the queue of those waiting */

    if (task->state == NGX_HTTP_EXPORT_NOT_STARTED && !task->running
        && !task->foreign && !task->unknown)
    {
        ngx_queue_remove(&task->waiting);
    }

    if (task->running) {
        task->detached = 1;
        task->cancel = 1;
        return;
    }

    ngx_http_export_task_free(zone, task);
}


static void
ngx_http_export_task_free(ngx_http_export_zone_t *zone,
    ngx_http_export_task_t *task)
{
    if (task->warnings) {
        ngx_slab_free_locked(zone->shpool, task->warnings);
    }

    if (task->error) {
        ngx_slab_free_locked(zone->shpool, task->error);
    }

    ngx_slab_free_locked(zone->shpool, task);
}


void
ngx_http_export_task_snapshot(ngx_http_export_task_t *task,
    ngx_http_export_snapshot_t *snap, ngx_pool_t *pool, ngx_uint_t what)
{
    size_t  n;

    ngx_memcpy(snap->run, task->run, task->run_len);
    snap->run_len = task->run_len;
    ngx_memcpy(snap->id, task->id, 16);

    if (task->state == NGX_HTTP_EXPORT_FAILED) {
        ngx_memcpy(snap->ref, task->ref, 16);

    } else {
        ngx_memzero(snap->ref, 16);
    }

    snap->state = task->state;
    snap->progress = task->progress;
    snap->style = task->style;
    snap->cancelled = task->cancelled;
    snap->serial = task->serial;
    snap->nreports = task->nreports;
    snap->created = task->created;
    snap->finished = task->finished;
    snap->created_ms = task->created_ms;
    snap->updated_ms = task->updated_ms;
    snap->finished_ms = task->finished_ms;
    ngx_str_null(&snap->op);
    snap->size = task->size;
    snap->nwarnings = task->nwarnings;
    snap->nkept = 0;
    snap->warnings = NULL;
    ngx_str_null(&snap->error);
    ngx_str_null(&snap->path);

    if (task->nkept) {
        n = task->nkept * sizeof(ngx_http_export_warning_t);
        snap->warnings = ngx_pnalloc(pool, n);

        if (snap->warnings) {
            ngx_memcpy(snap->warnings, task->warnings, n);
            snap->nkept = task->nkept;
        }
    }

    if (task->error_len) {
        snap->error.data = ngx_pnalloc(pool, task->error_len);

        if (snap->error.data) {
            ngx_memcpy(snap->error.data, task->error, task->error_len);
            snap->error.len = task->error_len;
        }
    }

    if ((what & NGX_HTTP_EXPORT_SNAP_OP) && task->spec.op.len) {
        snap->op.data = ngx_pnalloc(pool, task->spec.op.len);

        if (snap->op.data) {
            ngx_memcpy(snap->op.data, task->spec.op.data, task->spec.op.len);
            snap->op.len = task->spec.op.len;
        }
    }

    if (!(what & NGX_HTTP_EXPORT_SNAP_PATH)) {
        return;
    }

    snap->path.data = ngx_pnalloc(pool, task->path_len + 1);

    if (snap->path.data) {
        ngx_memcpy(snap->path.data, task->path, task->path_len + 1);
        snap->path.len = task->path_len;
    }
}


/*
 * Removes finished tasks whose time is over, oldest first, among the
 * first 256 tasks of the queue (locations of one zone may have
 * different TTLs, and the store's sweep expires what this walk does
 * not reach); with "evict" set, removes the oldest finished task from
 * the zone whatever its time, to make room (the store keeps it).
 * Unfinished tasks are never removed.  What to remove from the store is
 * added to "paths" (ngx_http_export_task_path()).  The walk is bounded
 * so that the lock is held for a short time only.
 */

void
ngx_http_export_expire(ngx_http_export_zone_t *zone, ngx_uint_t evict,
    ngx_array_t *paths)
{
    time_t                   now;
    ngx_uint_t               n, steps;
    ngx_queue_t             *q, *next;
    ngx_http_export_task_t  *task;

    now = ngx_time();
    n = 0;
    steps = 0;

    for (q = ngx_queue_head(&zone->sh->queue);
         q != ngx_queue_sentinel(&zone->sh->queue) && n < 64 && steps < 256;
         q = next, steps++)
    {
        next = ngx_queue_next(q);
        task = ngx_queue_data(q, ngx_http_export_task_t, queue);

        if (task->running || !ngx_http_export_finished(task->state)) {
            continue;
        }

        if (!evict && task->expires > now) {
            /* tasks of the zone may have different TTLs: look further */
            continue;
        }

        if (paths && !evict) {
            ngx_http_export_task_path(task, paths);
        }

        ngx_http_export_task_remove(zone, task);
        n++;

        if (evict) {
            return;
        }
    }
}


/* the warnings that metadata in the store keeps, into the task */

void
ngx_http_export_task_warnings(ngx_http_export_zone_t *zone,
    ngx_http_export_task_t *task, exp_meta_t *m)
{
    size_t                      n;
    ngx_uint_t                  i;
    exp_meta_warning_t          mw;
    ngx_http_export_warning_t  *warn;

    if (m->nkept == 0) {
        return;
    }

    n = ngx_min(m->nkept, NGX_HTTP_EXPORT_WARNINGS_MAX);

    task->warnings = ngx_slab_calloc_locked(zone->shpool,
                                     n * sizeof(ngx_http_export_warning_t));

    for (i = 0; task->warnings && i < n; i++) {
        exp_meta_warning(m, i, &mw);
        warn = &task->warnings[i];

        if (mw.report) {
            ngx_cpystrn(warn->report, (u_char *) mw.report,
                        sizeof(warn->report));
        }

        if (mw.message) {
            ngx_cpystrn(warn->reason, (u_char *) mw.message,
                        sizeof(warn->reason));
        }

        warn->offset = mw.offset;
        task->nkept = i + 1;
    }
}


/*
 * Another node's unfinished build that worker 0 looks at each second:
 * a queue of its own, so that the look never walks the whole zone.
 */

void
ngx_http_export_task_follow(ngx_http_export_zone_t *zone,
    ngx_http_export_task_t *task)
{
    if (!task->followed) {
        ngx_queue_insert_tail(&zone->sh->follow, &task->waiting);
        task->followed = 1;
    }
}


void
ngx_http_export_task_unfollow(ngx_http_export_zone_t *zone,
    ngx_http_export_task_t *task)
{
    if (task->followed) {
        ngx_queue_remove(&task->waiting);
        task->followed = 0;
    }
}


/* a job takes the task: it counts against max_running until it ends */

void
ngx_http_export_task_run(ngx_http_export_zone_t *zone,
    ngx_http_export_task_t *task)
{
    task->state = NGX_HTTP_EXPORT_QUEUED;
    task->running = 1;
    task->pid = ngx_pid;
    task->attempts++;

    ngx_queue_insert_tail(&zone->sh->jobs, &task->waiting);

    zone->sh->running++;
    zone->sh->version++;
}


/* the job let go of the task */

void
ngx_http_export_task_stop(ngx_http_export_zone_t *zone,
    ngx_http_export_task_t *task)
{
    task->running = 0;
    ngx_queue_remove(&task->waiting);

    zone->sh->running--;
    zone->sh->version++;
}


/*
 * Adds a finished task whose time is over to those to remove from the
 * store (ngx_http_export_claim_expire()): its store, run and id.
 */

void
ngx_http_export_task_path(ngx_http_export_task_t *task, ngx_array_t *paths)
{
    u_char     *p;
    ngx_str_t  *gone;

    if (!ngx_http_export_finished(task->state) || task->running
        || task->unknown)
    {
        return;
    }

    gone = ngx_array_push_n(paths, 3);
    if (gone == NULL) {
        return;
    }

    p = ngx_pnalloc(paths->pool, task->spec.store.len + task->run_len + 16);
    if (p == NULL) {
        paths->nelts -= 3;
        return;
    }

    gone[0].data = p;
    gone[0].len = task->spec.store.len;
    p = ngx_cpymem(p, task->spec.store.data, task->spec.store.len);

    gone[1].data = p;
    gone[1].len = task->run_len;
    p = ngx_cpymem(p, task->run, task->run_len);

    gone[2].data = p;
    gone[2].len = 16;
    ngx_memcpy(p, task->id, 16);
}


/*
 * Removes from the store, in the thread pool, the exports whose time is
 * over ("paths": store, run and id of each, ngx_http_export_task_path()):
 * ngx_http_export_claim_expire(), so that two nodes that expire the same
 * export at once do it once.  Unlinking a large archive never holds up
 * the event loop; when the pool's queue is full, what is left is removed
 * by a later start or by another node.
 */

ngx_int_t
ngx_http_export_unlink_files(ngx_http_export_zone_t *zone,
    ngx_thread_pool_t *tp, ngx_array_t *paths, ngx_log_t *log)
{
    ngx_str_t                 *src, *dst;
    ngx_uint_t                 i;
    ngx_pool_t                *pool;
    ngx_thread_task_t         *task;
    ngx_http_export_unlink_t  *u;

    if (tp == NULL || paths->nelts == 0) {
        return NGX_OK;
    }

    src = paths->elts;

    /* the removal outlives the request whose log it was given */
    pool = ngx_create_pool(1024, ngx_cycle->log);
    if (pool == NULL) {
        return NGX_ERROR;
    }

    task = ngx_thread_task_alloc(pool, sizeof(ngx_http_export_unlink_t));
    if (task == NULL) {
        goto failed;
    }

    u = task->ctx;
    u->pool = pool;
    u->zone = zone;

    if (ngx_array_init(&u->paths, pool, paths->nelts, sizeof(ngx_str_t))
        != NGX_OK)
    {
        goto failed;
    }

    for (i = 0; i < paths->nelts; i++) {
        dst = ngx_array_push(&u->paths);
        dst->len = src[i].len;
        dst->data = ngx_pnalloc(pool, src[i].len + 1);
        if (dst->data == NULL) {
            goto failed;
        }

        ngx_memcpy(dst->data, src[i].data, src[i].len);
        dst->data[src[i].len] = '\0';
    }

    task->handler = ngx_http_export_unlink_thread;
    task->event.handler = ngx_http_export_unlink_done;
    task->event.data = u;
    task->event.log = ngx_cycle->log;

    if (ngx_thread_task_post(tp, task) == NGX_OK) {
        return NGX_OK;
    }

    ngx_log_error(NGX_LOG_WARN, log, 0,
                  "export: the thread pool's queue is full: exports whose "
                  "time is over stay in the store for now");

failed:

    ngx_destroy_pool(pool);

    return NGX_ERROR;
}


static void
ngx_http_export_unlink_thread(void *data, ngx_log_t *log)
{
    ngx_http_export_unlink_t *u = data;

    ngx_str_t                 *gone;
    ngx_uint_t                 i;
    ngx_http_export_cstore_t   cs;

    gone = u->paths.elts;

    for (i = 0; i + 2 < u->paths.nelts; i += 3) {
        ngx_http_export_cstore(&cs, u->zone, &gone[i]);
        cs.log = log;

        (void) ngx_http_export_claim_expire(&cs, &gone[i + 1],
                                            gone[i + 2].data);
    }
}


static void
ngx_http_export_unlink_done(ngx_event_t *ev)
{
    ngx_http_export_unlink_t *u = ev->data;

    ngx_destroy_pool(u->pool);
}
