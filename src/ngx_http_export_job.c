
/*
 * The generation job.  It runs in an nginx thread pool: it reads the
 * run's reports, writes each one's original bytes and its CSV into a
 * zip under a temporary name, adds manifest.json, and renames the file
 * into the store.  It records its outcome in the shared task itself, so
 * the outcome survives even when the worker exits before the completion
 * handler runs (see ngx_thread_pool.c: at exit, completion events of
 * finished tasks are never handled).
 */


#include "ngx_http_export_module.h"

#include <dirent.h>
#include <pthread.h>
#include <yajl/yajl_gen.h>

#include "ngx_export_csv.h"
#include "ngx_export_utf8.h"
#include "ngx_export_zip.h"
#include "ngx_http_export_cluster.h"
#include "ngx_http_export_rundir.h"
#include "ngx_http_export_tmpfile.h"


#define NGX_HTTP_EXPORT_CHUNK         (256 * 1024)
#define NGX_HTTP_EXPORT_REPORTS_MAX   10000

#define NGX_HTTP_EXPORT_JOB_POOL      4096
#define NGX_HTTP_EXPORT_POOLS_KEPT    16

/* below this many bytes of reports the zip writer needs no thread */
#define NGX_HTTP_EXPORT_THREAD_MIN    (1024 * 1024)

/* why a build stopped before its end */
#define NGX_HTTP_EXPORT_STOP_CANCEL   1       /* DELETE on this node */
#define NGX_HTTP_EXPORT_STOP_GONE     2       /* deleted on another one */
#define NGX_HTTP_EXPORT_STOP_LOST     3       /* another node took it */
#define NGX_HTTP_EXPORT_STOP_EXIT     4       /* nginx is stopping */

/* a report's name: its folder "run/" and a file name */
#define NGX_HTTP_EXPORT_NAME_LEN      (NGX_HTTP_EXPORT_RUN_MAX + 1 + NAME_MAX)


typedef struct {
    char                       *name;         /* malloc()ed, with folder */
    size_t                      name_len;
    char                       *file;         /* in its directory */
    ngx_uint_t                  source;       /* job->sources[source] */
    off_t                       size;
    time_t                      mtime;
    ngx_uint_t                  ndjson;
    ngx_uint_t                  csv;          /* the CSV is in the zip */
    uint64_t                    rows;
    size_t                      columns;
} ngx_http_export_report_t;


typedef struct {
    ngx_pool_t                 *pool;
    ngx_http_export_zone_t     *zone;
    ngx_http_export_task_t     *task;
    ngx_log_t                  *log;

    u_char                    **sources;      /* null-terminated */
    u_char                    **folders;      /* "" or "run/" */
    ngx_uint_t                  nsources;
    DIR                       **dirs;         /* opened once, by the list */
    ngx_uint_t                  symlinks;     /* export_disable_symlinks */
    u_char                     *symlinks_from;
    u_char                     *tmp;
    u_char                     *path;
    u_char                      run[NGX_HTTP_EXPORT_RUN_MAX + 1];
    u_char                      id[NGX_HTTP_EXPORT_UUID_LEN + 1];

    ngx_int_t                   level;
    time_t                      ttl;
    exc_options_t               csv;

    /* filled by the thread */
    ngx_http_export_report_t   *reports;
    ngx_uint_t                  nreports;
    ngx_http_export_warning_t  *warnings;     /* malloc()ed */
    ngx_uint_t                  nwarnings;    /* all of them */
    u_char                     *buf;
    exz_t                      *zip;
    off_t                       total;
    off_t                       done;
    off_t                       size;
    ngx_uint_t                  cancelled;
    ngx_uint_t                  stop;         /* NGX_HTTP_EXPORT_STOP_* */
    u_char                      error[NGX_HTTP_EXPORT_ERROR_LEN];
    size_t                      error_len;
    ngx_err_t                   err;
    ngx_msec_t                  start;        /* of the generation */

    /* its claim in the store (ngx_http_export_claim.c) */
    ngx_http_export_cstore_t    cs;
    ngx_str_t                   name;         /* the run, for the claim */
    u_char                      bid[16];
    ngx_uint_t                  attempt;
    ngx_uint_t                  claimed;
    uint64_t                    beat;
    ngx_msec_t                  beat_at;
} ngx_http_export_job_t;


/*
 * A worker keeps the read buffers and zip writers (with their deflate
 * state; about 800 KiB a pair) of its last jobs for the next ones, in a
 * stash that its pool threads share.  Making them anew for every archive
 * cost a tiny export more than the export itself: page faults, zeroing,
 * and glibc giving the memory back.  Not thread-specific data: the
 * destructor of a key would run as a thread ends, which can be after the
 * module is unloaded.
 */
#define NGX_HTTP_EXPORT_KEPT          8


static void ngx_http_export_job_thread(void *data, ngx_log_t *log);
static ngx_msec_t ngx_http_export_job_msec(void);
static void ngx_http_export_job_done(ngx_event_t *ev);
static ngx_int_t ngx_http_export_generate(ngx_http_export_job_t *job);
static ngx_int_t ngx_http_export_list(ngx_http_export_job_t *job);
static ngx_int_t ngx_http_export_add_report(ngx_http_export_job_t *job,
    ngx_http_export_report_t *rep);
static ngx_int_t ngx_http_export_add_manifest(ngx_http_export_job_t *job);
static ssize_t ngx_http_export_read(ngx_http_export_job_t *job, int fd,
    ngx_http_export_report_t *rep, ngx_uint_t passes);
static ngx_int_t ngx_http_export_check(ngx_http_export_job_t *job);
static ngx_uint_t ngx_http_export_stopping(ngx_http_export_job_t *job);
static void ngx_http_export_job_leftovers(ngx_http_export_job_t *job);
static void ngx_http_export_progress(ngx_http_export_job_t *job, off_t n);
static void ngx_http_export_warn(ngx_http_export_job_t *job,
    const char *report, const char *reason, uint64_t offset);
static void ngx_http_export_warn_entry(ngx_http_export_job_t *job,
    ngx_uint_t source, const char *name, const char *reason);
static ngx_int_t ngx_http_export_fail(ngx_http_export_job_t *job,
    ngx_err_t err, const char *fmt, ...);
static void ngx_http_export_finish(ngx_http_export_job_t *job,
    ngx_int_t rc);
static void ngx_http_export_let_go(ngx_http_export_job_t *job);
static void ngx_http_export_job_free(ngx_http_export_job_t *job);
static ngx_int_t ngx_http_export_job_meta(ngx_http_export_job_t *job,
    ngx_uint_t state, u_char *ref);
static int ngx_http_export_zip_write(void *data, const unsigned char *buf,
    size_t len);
static int ngx_http_export_report_cmp(const void *a, const void *b);
static ngx_int_t ngx_http_export_job_list(ngx_pool_t *pool, ngx_str_t *s,
    u_char **items, ngx_uint_t n);
static ngx_int_t ngx_http_export_list_dir(ngx_http_export_job_t *job,
    ngx_uint_t source, size_t *alloc);
static ngx_pool_t *ngx_http_export_job_pool(void);
static void ngx_http_export_job_pool_free(ngx_pool_t *pool);
static void ngx_http_export_kept(exz_t **zip, u_char **buf);
static void ngx_http_export_keep(exz_t *zip, u_char *buf);


static pthread_mutex_t  ngx_http_export_kept_mutex =
    PTHREAD_MUTEX_INITIALIZER;
static exz_t           *ngx_http_export_kept_zips[NGX_HTTP_EXPORT_KEPT];
static u_char          *ngx_http_export_kept_bufs[NGX_HTTP_EXPORT_KEPT];
static ngx_uint_t       ngx_http_export_nzips;
static ngx_uint_t       ngx_http_export_nbufs;
static ngx_uint_t       ngx_http_export_kept_closed;

static ngx_pool_t     *ngx_http_export_pools[NGX_HTTP_EXPORT_POOLS_KEPT];
static ngx_uint_t      ngx_http_export_npools;


/*
 * Hands a task to its thread pool.  Everything the job needs is in the
 * task itself, so any worker can start any task.  The caller has made
 * the task QUEUED and counted it in sh->running.
 */

ngx_int_t
ngx_http_export_job_start(ngx_http_export_zone_t *zone,
    ngx_http_export_task_t *task, ngx_log_t *log)
{
    u_char                 *p;
    ngx_pool_t             *pool;
    ngx_thread_pool_t      *tp;
    ngx_thread_task_t      *tt;
    ngx_http_export_job_t  *job;
    ngx_http_export_spec_t *spec;

    spec = &task->spec;

    tp = ngx_thread_pool_get((ngx_cycle_t *) ngx_cycle, &spec->thread_pool);
    if (tp == NULL) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "export: thread pool \"%V\" is not configured",
                      &spec->thread_pool);
        return NGX_DECLINED;
    }

    /* the job outlives the request: it has a pool of its own */

    pool = ngx_http_export_job_pool();
    if (pool == NULL) {
        return NGX_ERROR;
    }

    tt = ngx_thread_task_alloc(pool, sizeof(ngx_http_export_job_t));
    if (tt == NULL) {
        goto failed;
    }

    job = tt->ctx;
    job->pool = pool;
    job->zone = zone;
    job->task = task;
    job->log = ngx_cycle->log;
    job->level = spec->level;
    job->ttl = spec->ttl;

    exc_options_init(&job->csv);
    job->csv.formula_guard = spec->formula_guard ? 1 : 0;
    job->csv.bom = spec->csv_bom ? 1 : 0;
    job->csv.max_report_size = spec->max_report_size;
    job->csv.max_columns = spec->max_columns;

    ngx_memcpy(job->run, task->run, task->run_len);
    job->run[task->run_len] = '\0';
    ngx_http_export_uuid_text(job->id, task->id);

    job->nsources = spec->nsources;
    job->sources = ngx_pnalloc(pool, 2 * spec->nsources * sizeof(u_char *));
    job->path = ngx_pnalloc(pool, task->path_len + 1);
    job->dirs = ngx_pcalloc(pool, spec->nsources * sizeof(DIR *));
    job->symlinks = spec->symlinks;
    job->symlinks_from = ngx_pnalloc(pool, spec->symlinks_from.len + 1);
    job->tmp = ngx_pnalloc(pool, spec->store.len + sizeof("/.export-..tmp")
                                 + NGX_HTTP_EXPORT_UUID_LEN + NGX_INT_T_LEN);

    if (job->sources == NULL || job->path == NULL || job->tmp == NULL
        || job->dirs == NULL || job->symlinks_from == NULL)
    {
        goto failed;
    }

    ngx_cpystrn(job->symlinks_from, spec->symlinks_from.data,
                spec->symlinks_from.len + 1);

    /* the lists in the task: items that end in '\0', copied */

    job->folders = job->sources + spec->nsources;

    if (ngx_http_export_job_list(pool, &spec->source, job->sources,
                                 job->nsources) != NGX_OK
        || ngx_http_export_job_list(pool, &spec->folders, job->folders,
                                    job->nsources) != NGX_OK)
    {
        goto failed;
    }

    ngx_cpystrn(job->path, task->path, task->path_len + 1);

    /*
     * One name per attempt: a node that takes the build over never
     * shares a file with a builder that was only slow.
     */

    p = ngx_cpymem(job->tmp, spec->store.data, spec->store.len);
    p = ngx_cpymem(p, "/.export-", sizeof("/.export-") - 1);
    p = ngx_cpymem(p, job->id, NGX_HTTP_EXPORT_UUID_LEN);
    p = ngx_sprintf(p, ".%ui", task->attempts);
    ngx_memcpy(p, ".tmp", sizeof(".tmp"));

    ngx_http_export_cstore(&job->cs, zone, &spec->store);
    job->name.data = job->run;
    job->name.len = task->run_len;
    ngx_memcpy(job->bid, task->id, 16);
    job->attempt = task->attempts;
    job->claimed = task->claimed;

    tt->handler = ngx_http_export_job_thread;
    tt->event.handler = ngx_http_export_job_done;
    tt->event.data = job;
    tt->event.log = ngx_cycle->log;

    if (ngx_thread_task_post(tp, tt) != NGX_OK) {
        goto failed;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, log, 0,
                   "export: task %s of run %s queued", job->id, job->run);

    return NGX_OK;

failed:

    ngx_http_export_job_pool_free(pool);

    return NGX_ERROR;
}


/*
 * A worker keeps the pools of its last finished jobs for the next ones:
 * a job's pool (the job fits in its first block) then costs no malloc()
 * and no page fault when exports come in quick succession.
 */

static ngx_pool_t *
ngx_http_export_job_pool(void)
{
    if (ngx_http_export_npools) {
        return ngx_http_export_pools[--ngx_http_export_npools];
    }

    return ngx_create_pool(NGX_HTTP_EXPORT_JOB_POOL, ngx_cycle->log);
}


static void
ngx_http_export_job_pool_free(ngx_pool_t *pool)
{
    if (pool->cleanup == NULL
        && ngx_http_export_npools < NGX_HTTP_EXPORT_POOLS_KEPT)
    {
        ngx_reset_pool(pool);
        ngx_http_export_pools[ngx_http_export_npools++] = pool;
        return;
    }

    ngx_destroy_pool(pool);
}


/* "a\0b\0" into pointers to copies of "a" and "b" */

static ngx_int_t
ngx_http_export_job_list(ngx_pool_t *pool, ngx_str_t *s, u_char **items,
    ngx_uint_t n)
{
    u_char      *p, *last, *copy;
    ngx_uint_t   i;

    copy = ngx_pnalloc(pool, s->len);
    if (copy == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(copy, s->data, s->len);

    p = copy;
    last = copy + s->len;

    for (i = 0; i < n; i++) {
        items[i] = p;

        p = ngx_strlchr(p, last, '\0');
        if (p == NULL) {
            return NGX_ERROR;
        }

        p++;
    }

    return NGX_OK;
}


/*
 * A worker that died (SIGKILL, a crash) never finishes its jobs.  Every
 * worker looks for jobs whose worker is gone: the task starts again from
 * the beginning, up to NGX_HTTP_EXPORT_ATTEMPTS times, then is FAILED
 * with an error that says why.
 */

void
ngx_http_export_reap(ngx_http_export_zone_t *zone, ngx_log_t *log)
{
    u_char                   run[NGX_HTTP_EXPORT_RUN_MAX];
    u_char                   id[NGX_HTTP_EXPORT_UUID_LEN];
    u_char                   ref[NGX_HTTP_EXPORT_UUID_LEN];
    size_t                   run_len;
    time_t                   now;
    ngx_pid_t                pid, pids[8];
    ngx_uint_t               attempts, failed, dead, gone[8], i, n;
    ngx_queue_t             *q, *next;
    ngx_http_export_task_t  *task;

    static u_char  msg[] = "the nginx worker generating the export died "
                           "on every attempt";

    /* one kill(pid, 0) per worker in a pass, not one per job */
    n = 0;

    ngx_shmtx_lock(&zone->shpool->mutex);

    for (q = ngx_queue_head(&zone->sh->jobs);
         q != ngx_queue_sentinel(&zone->sh->jobs);
         q = next)
    {
        next = ngx_queue_next(q);
        task = ngx_queue_data(q, ngx_http_export_task_t, waiting);

        if (task->pid == ngx_pid) {
            continue;
        }

        for (i = 0; i < n; i++) {
            if (pids[i] == task->pid) {
                break;
            }
        }

        if (i < n) {
            dead = gone[i];

        } else {
            dead = (kill(task->pid, 0) == -1 && ngx_errno == NGX_ESRCH);

            if (n < sizeof(pids) / sizeof(pids[0])) {
                pids[n] = task->pid;
                gone[n] = dead;
                n++;
            }
        }

        if (!dead) {
            continue;
        }

        pid = task->pid;
        attempts = task->attempts;
        run_len = task->run_len;
        ngx_memcpy(run, task->run, run_len);
        ngx_http_export_uuid_text(id, task->id);

        ngx_http_export_task_stop(zone, task);

        if (task->detached) {
            ngx_http_export_task_remove(zone, task);
            continue;
        }

        failed = (attempts >= NGX_HTTP_EXPORT_ATTEMPTS);

        if (!failed) {
            task->state = NGX_HTTP_EXPORT_NOT_STARTED;
            ngx_queue_insert_head(&zone->sh->waiting, &task->waiting);

        } else {
            now = ngx_time();

            ngx_http_export_uuid(task->ref);
            ngx_http_export_uuid_text(ref, task->ref);

            task->error = ngx_slab_alloc_locked(zone->shpool,
                                                sizeof(msg) - 1);
            if (task->error) {
                ngx_memcpy(task->error, msg, sizeof(msg) - 1);
                task->error_len = sizeof(msg) - 1;
            }

            task->state = NGX_HTTP_EXPORT_FAILED;
            task->finished = now;
            task->finished_ms = ngx_http_export_now_ms();
            task->updated_ms = task->finished_ms;
            task->expires = now + task->spec.ttl;
            zone->sh->stats.failed++;

            ngx_http_export_quota_release(task->quota);

            /* other nodes and a restart see it FAILED too */
            ngx_http_export_store_failed(zone, task);
        }

        ngx_shmtx_unlock(&zone->shpool->mutex);

        if (failed) {
            ngx_log_error(NGX_LOG_ERR, log, 0,
                          "export: task %*s of run %*s failed: worker %P "
                          "died during attempt %ui of %d "
                          "(referenceToken: %*s)",
                          (size_t) NGX_HTTP_EXPORT_UUID_LEN, id,
                          run_len, run,
                          pid, attempts, NGX_HTTP_EXPORT_ATTEMPTS,
                          (size_t) NGX_HTTP_EXPORT_UUID_LEN, ref);

        } else {
            ngx_log_error(NGX_LOG_WARN, log, 0,
                          "export: task %*s of run %*s: worker %P died "
                          "during attempt %ui of %d; it starts again",
                          (size_t) NGX_HTTP_EXPORT_UUID_LEN, id,
                          run_len, run,
                          pid, attempts, NGX_HTTP_EXPORT_ATTEMPTS);
        }

        /* the queue may have changed while unlocked: look again */

        ngx_shmtx_lock(&zone->shpool->mutex);
        next = ngx_queue_head(&zone->sh->jobs);
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


/*
 * Starts the oldest tasks that wait NOT_STARTED while the zone's bound
 * on running exports allows.  Any worker does it: the one whose job just
 * ended, and every worker from its housekeeping timer.
 */

void
ngx_http_export_dispatch(ngx_http_export_zone_t *zone, ngx_log_t *log)
{
    static u_char  nopool[] = "the thread pool of the export is no longer "
                              "configured";

    ngx_int_t                rc;
    ngx_queue_t             *q;
    ngx_http_export_task_t  *task;

    for ( ;; ) {
        ngx_shmtx_lock(&zone->shpool->mutex);

        if (ngx_queue_empty(&zone->sh->waiting)
            || (zone->sh->max_running
                && zone->sh->running >= zone->sh->max_running))
        {
            ngx_shmtx_unlock(&zone->shpool->mutex);
            return;
        }

        q = ngx_queue_head(&zone->sh->waiting);
        task = ngx_queue_data(q, ngx_http_export_task_t, waiting);

        ngx_queue_remove(q);
        ngx_http_export_task_run(zone, task);

        ngx_shmtx_unlock(&zone->shpool->mutex);

        rc = ngx_http_export_job_start(zone, task, log);

        if (rc == NGX_OK) {
            continue;
        }

        ngx_shmtx_lock(&zone->shpool->mutex);

        ngx_http_export_task_stop(zone, task);
        task->attempts--;

        if (task->detached) {
            ngx_http_export_task_remove(zone, task);

        } else if (rc == NGX_DECLINED) {
            /* no such thread pool in this configuration */
            task->state = NGX_HTTP_EXPORT_FAILED;
            task->finished = ngx_time();
            task->expires = task->finished + task->spec.ttl;
            zone->sh->stats.failed++;
            ngx_http_export_uuid(task->ref);

            task->error = ngx_slab_alloc_locked(zone->shpool,
                                                sizeof(nopool) - 1);
            if (task->error) {
                ngx_memcpy(task->error, nopool, sizeof(nopool) - 1);
                task->error_len = sizeof(nopool) - 1;
            }

            ngx_http_export_quota_release(task->quota);
            ngx_http_export_store_failed(zone, task);

        } else {
            /* the pool's queue is full: wait for the next look */
            task->state = NGX_HTTP_EXPORT_NOT_STARTED;
            ngx_queue_insert_head(&zone->sh->waiting, &task->waiting);
        }

        ngx_shmtx_unlock(&zone->shpool->mutex);

        return;
    }
}


static void
ngx_http_export_job_thread(void *data, ngx_log_t *log)
{
    ngx_http_export_job_t *job = data;

    ngx_int_t                rc;
    ngx_uint_t               attempt;
    ngx_http_export_task_t  *task;

    task = job->task;

    ngx_shmtx_lock(&job->zone->shpool->mutex);

    if (!task->cancel) {
        task->state = NGX_HTTP_EXPORT_IN_PROGRESS;
        task->updated_ms = ngx_http_export_now_ms();
        job->zone->sh->version++;
    }

    attempt = task->attempts;

    ngx_shmtx_unlock(&job->zone->shpool->mutex);

    job->start = ngx_http_export_job_msec();
    job->beat_at = job->start;
    job->cs.log = log;

    ngx_log_error(NGX_LOG_INFO, job->log, 0,
                  "export: task %s of run %s: attempt %ui started",
                  job->id, job->run, attempt);

    /* started again here (a worker died, a restart): the claim says so */

    if (job->attempt != job->claimed) {
        switch (ngx_http_export_claim_attempt(&job->cs, &job->name, job->bid,
                                              job->attempt))
        {
        case NGX_OK:
            job->claimed = job->attempt;
            task->claimed = job->attempt;
            break;

        case NGX_DECLINED:
            job->stop = NGX_HTTP_EXPORT_STOP_GONE;
            break;

        case NGX_ABORT:
            job->stop = NGX_HTTP_EXPORT_STOP_LOST;
            break;

        default:
            (void) ngx_http_export_fail(job, ngx_errno,
                                        "the export store cannot be "
                                        "written");
            ngx_http_export_finish(job, NGX_ERROR);
            ngx_http_export_job_free(job);
            return;
        }

        if (job->stop) {
            ngx_http_export_finish(job, NGX_DECLINED);
            ngx_http_export_job_free(job);
            return;
        }
    }

    ngx_http_export_job_leftovers(job);

    /* if nginx stops now, a restart reports the export FAILED */
    (void) ngx_http_export_job_meta(job, NGX_HTTP_EXPORT_IN_PROGRESS, NULL);

    rc = ngx_http_export_stopping(job) ? NGX_DECLINED
                                        : ngx_http_export_generate(job);

    ngx_http_export_finish(job, rc);

    ngx_http_export_job_free(job);
}


static void
ngx_http_export_job_done(ngx_event_t *ev)
{
    ngx_http_export_job_t *job = ev->data;

    ngx_http_export_zone_t  *zone;

    zone = job->zone;

    ngx_http_export_job_pool_free(job->pool);

    /* a slot is free: start what waits */
    ngx_http_export_dispatch(zone, ngx_cycle->log);
}


static ngx_int_t
ngx_http_export_generate(ngx_http_export_job_t *job)
{
    int         fd;
    ngx_int_t   rc;
    ngx_err_t   err;
    ngx_uint_t  i;

    if (ngx_http_export_list(job) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_http_export_kept(&job->zip, &job->buf);

    if (job->buf == NULL) {
        job->buf = ngx_alloc(NGX_HTTP_EXPORT_CHUNK, job->log);
        if (job->buf == NULL) {
            return ngx_http_export_fail(job, 0, "out of memory");
        }
    }

    /*
     * Locked until it is renamed into place, so that a sweep of the store
     * (at start, or by a worker) leaves it alone; a file left by an
     * attempt whose worker died is replaced.
     */
    fd = ngx_http_export_tmp_create(job->tmp);
    if (fd == -1) {
        return ngx_http_export_fail(job, ngx_errno,
                                    "cannot create the archive in the "
                                    "export store");
    }

    if (job->zip) {
        if (exz_reset(job->zip, fd, (int) job->level) != EXZ_OK) {
            exz_destroy(job->zip);
            job->zip = NULL;
        }
    }

    if (job->zip == NULL) {
        job->zip = exz_create(fd, (int) job->level);
        if (job->zip == NULL) {
            rc = ngx_http_export_fail(job, 0, "out of memory");
            goto failed;
        }
    }

    /*
     * CRC, deflate and writes run in a thread of the zip writer, beside
     * the reading and the conversion in this one: an export uses up to
     * two cores; with export_parallel_deflate, the deflate threads of a
     * libdeflate build too.  SCHED_BATCH: they never preempt the event
     * loop.  A small export is done before such a thread would have
     * started.
     */

    /* job->total counts a report's bytes 3 times: copy, 2 CSV passes */

    if (job->total >= 3 * NGX_HTTP_EXPORT_THREAD_MIN) {
        err = exz_thread(job->zip, EXZ_THREAD_BATCH
                                   | (job->zone->parallel
                                      ? 0 : EXZ_THREAD_ALONE));
        if (err) {
            ngx_log_error(NGX_LOG_WARN, job->log, err,
                          "export: task %s: no compression thread, "
                          "compressing in the generation thread", job->id);
        }
    }

    for (i = 0; i < job->nreports; i++) {
        rc = ngx_http_export_add_report(job, &job->reports[i]);
        if (rc != NGX_OK) {
            goto failed;
        }
    }

    rc = ngx_http_export_add_manifest(job);
    if (rc != NGX_OK) {
        goto failed;
    }

    if (exz_finish(job->zip) != EXZ_OK) {
        rc = ngx_http_export_fail(job, 0,
                                  "writing the archive failed: %s",
                                  exz_strerror(job->zip));
        goto failed;
    }

    job->size = (off_t) exz_offset(job->zip);

    /* the archive is whole on disk before anyone can see it */

    if (fsync(fd) == -1) {
        rc = ngx_http_export_fail(job, ngx_errno,
                                  "writing the archive failed");
        goto failed;
    }

    rc = ngx_http_export_check(job);
    if (rc != NGX_OK) {
        goto failed;
    }

    /* renamed before it is closed: its lock covers all its temporary life */

    if (ngx_rename_file(job->tmp, job->path) == NGX_FILE_ERROR) {
        rc = ngx_http_export_fail(job, ngx_errno,
                                  "moving the archive into the export "
                                  "store failed");
        goto failed;
    }

    if (close(fd) == -1) {
        fd = -1;
        rc = ngx_http_export_fail(job, ngx_errno,
                                  "writing the archive failed");
        (void) ngx_delete_file(job->path);
        goto failed;
    }

    return NGX_OK;

failed:

    /* the writer's thread may still write to fd: it ends first */
    exz_destroy(job->zip);
    job->zip = NULL;

    if (fd != -1) {
        (void) close(fd);
    }

    if (ngx_delete_file(job->tmp) == NGX_FILE_ERROR
        && ngx_errno != NGX_ENOENT)
    {
        ngx_log_error(NGX_LOG_CRIT, job->log, ngx_errno,
                      "export: task %s: " ngx_delete_file_n " \"%s\" failed",
                      job->id, job->tmp);
    }

    return rc;
}


/*
 * The reports of every run: *.json and *.ndjson regular files, sorted
 * by their names in the archive ("run/" first when the export has
 * folders).
 */

static ngx_int_t
ngx_http_export_list(ngx_http_export_job_t *job)
{
    size_t      alloc;
    ngx_uint_t  i;

    alloc = 0;

    for (i = 0; i < job->nsources; i++) {
        if (ngx_http_export_list_dir(job, i, &alloc) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    if (job->nreports) {
        qsort(job->reports, job->nreports, sizeof(ngx_http_export_report_t),
              ngx_http_export_report_cmp);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_export_list_dir(ngx_http_export_job_t *job, ngx_uint_t source,
    size_t *alloc)
{
    int                        fd;
    DIR                       *dir;
    size_t                     len, flen;
    ngx_err_t                  err;
    struct stat                st;
    const char                *why;
    struct dirent             *de;
    ngx_uint_t                 ndjson;
    ngx_http_export_report_t  *rep, *reports;

    /* the run directory is opened once; its reports relative to it */

    fd = ngx_http_export_rundir_open(job->sources[source],
                                     ngx_http_export_rundir_from(
                                         job->sources[source],
                                         job->symlinks_from),
                                     job->symlinks);

    dir = (fd == -1) ? NULL : fdopendir(fd);

    if (dir == NULL) {
        err = ngx_errno;

        if (fd != -1) {
            (void) close(fd);
        }

        return ngx_http_export_fail(job, err,
                                    "cannot open the directory of run "
                                    "\"%s\"%s", job->folders[source][0]
                                                ? job->folders[source]
                                                : job->run,
                                    err == NGX_ELOOP
                                    ? " (a symbolic link in its path, see "
                                      "export_disable_symlinks)"
                                    : "");
    }

    job->dirs[source] = dir;

    flen = ngx_strlen(job->folders[source]);

    for ( ;; ) {
        ngx_set_errno(0);

        de = readdir(dir);

        if (de == NULL) {
            err = ngx_errno;

            if (err) {
                return ngx_http_export_fail(job, err,
                                            "cannot read the run's "
                                            "directory");
            }

            break;
        }

        len = ngx_strlen(de->d_name);

        if (de->d_name[0] == '.') {
            continue;
        }

        if (len > 5
            && ngx_strcmp(de->d_name + len - 5, ".json") == 0)
        {
            ndjson = 0;

        } else if (len > 7
                   && ngx_strcmp(de->d_name + len - 7, ".ndjson") == 0)
        {
            ndjson = 1;

        } else {
            continue;
        }

        /* links, FIFOs, sockets, devices: a warning, never a read */

        if (ngx_http_export_rundir_stat(dirfd(dir), de->d_name,
                                        job->symlinks, &st, &why)
            != NGX_OK)
        {
            if (why) {
                ngx_http_export_warn_entry(job, source, de->d_name, why);
            }

            continue;
        }

        if (job->nreports == NGX_HTTP_EXPORT_REPORTS_MAX) {
            return ngx_http_export_fail(job, 0,
                                        "the export has more than %d reports",
                                        NGX_HTTP_EXPORT_REPORTS_MAX);
        }

        if (job->nreports == *alloc) {
            *alloc = *alloc ? 2 * *alloc : 16;

            reports = realloc(job->reports,
                              *alloc * sizeof(ngx_http_export_report_t));
            if (reports == NULL) {
                return ngx_http_export_fail(job, 0, "out of memory");
            }

            job->reports = reports;
        }

        rep = &job->reports[job->nreports];
        ngx_memzero(rep, sizeof(ngx_http_export_report_t));

        rep->name = malloc(flen + len + 1);
        if (rep->name == NULL) {
            return ngx_http_export_fail(job, 0, "out of memory");
        }

        ngx_memcpy(rep->name, job->folders[source], flen);
        ngx_memcpy(rep->name + flen, de->d_name, len + 1);

        /* not in the manifest's reports either: it could not be written */

        if (exz_check_name(rep->name, flen + len) != NULL) {
            ngx_http_export_warn(job, rep->name, "the file name cannot be "
                                 "stored in a zip archive; the report is "
                                 "left out", 0);
            free(rep->name);
            continue;
        }

        /* the archive's own entry; in a folder "run/" it is another name */

        if (ngx_strcmp(rep->name, "manifest.json") == 0) {
            ngx_http_export_warn(job, rep->name, "the name is the "
                                 "archive's own manifest.json; the report "
                                 "is left out", 0);
            free(rep->name);
            continue;
        }

        rep->name_len = flen + len;
        rep->file = rep->name + flen;
        rep->source = source;
        rep->size = st.st_size;
        rep->mtime = st.st_mtime;
        rep->ndjson = ndjson;

        job->nreports++;

        /* the original, then two passes for the CSV */
        job->total += 3 * st.st_size;
    }

    return NGX_OK;
}


static int
ngx_http_export_report_cmp(const void *a, const void *b)
{
    const ngx_http_export_report_t  *ra = a, *rb = b;

    return strcmp(ra->name, rb->name);
}


/*
 * Reads the next chunk of a report.  Progress counts 3 times the size of
 * each report (see ngx_http_export_list()): the chunk counts once for
 * each of the 3 passes it serves (the copy, pass 1 and pass 2).
 */

static ssize_t
ngx_http_export_read(ngx_http_export_job_t *job, int fd,
    ngx_http_export_report_t *rep, ngx_uint_t passes)
{
    ssize_t  n;

    if (ngx_http_export_stopping(job)) {
        return NGX_DECLINED;
    }

    do {
        n = read(fd, job->buf, NGX_HTTP_EXPORT_CHUNK);
    } while (n == -1 && ngx_errno == NGX_EINTR);

    if (n == -1) {
        return ngx_http_export_fail(job, ngx_errno,
                                    "reading report \"%s\" failed",
                                    rep->name);
    }

    ngx_http_export_progress(job, (off_t) passes * n);

    return n;
}


/*
 * The CSV of STEM.json or STEM.ndjson is STEM.csv, unless another report
 * could take that name; then it is the report's whole name and .csv.
 * Another could when STEM.ndjson has STEM.json beside it, or when STEM
 * is itself a report's name (x.ndjson.json beside x.ndjson, whose CSV
 * may be x.ndjson.csv).  Whole names are unique, and a STEM.csv kept is
 * no other report's: no two entries share a name.
 */

static size_t
ngx_http_export_csv_name(ngx_http_export_job_t *job,
    ngx_http_export_report_t *rep, char *name)
{
    size_t                    n;
    ngx_http_export_report_t  key;

    n = rep->name_len - (rep->ndjson ? 7 : 5);
    ngx_memcpy(name, rep->name, n);
    name[n] = '\0';

    key.name = name;

    if (bsearch(&key, job->reports, job->nreports,
                sizeof(ngx_http_export_report_t),
                ngx_http_export_report_cmp))
    {
        goto whole;
    }

    if (rep->ndjson) {
        ngx_memcpy(name + n, ".json", 6);

        if (bsearch(&key, job->reports, job->nreports,
                    sizeof(ngx_http_export_report_t),
                    ngx_http_export_report_cmp))
        {
            goto whole;
        }
    }

    ngx_memcpy(name + n, ".csv", 5);

    return n + 4;

whole:

    ngx_memcpy(name, rep->name, rep->name_len);
    ngx_memcpy(name + rep->name_len, ".csv", 5);

    return rep->name_len + 4;
}


static ngx_int_t
ngx_http_export_add_report(ngx_http_export_job_t *job,
    ngx_http_export_report_t *rep)
{
    int                  fd, rc;
    char                *csv_name;
    ssize_t              n, held;
    const char          *why;
    ngx_int_t            ret;
    ngx_uint_t           chunks;
    exc_conv_t          *conv;
    const exc_result_t  *res;

    conv = NULL;
    csv_name = NULL;

    /* a name readdir() gave, in the directory the list opened */

    fd = ngx_http_export_rundir_report(dirfd(job->dirs[rep->source]),
                                       rep->file, job->symlinks, &why);

    if (fd == -1) {
        if (why) {
            /* it became a link or a FIFO since it was listed */
            ngx_http_export_warn(job, rep->name, why, 0);
            ngx_http_export_progress(job, 3 * rep->size);
            return NGX_OK;
        }

        return ngx_http_export_fail(job, ngx_errno,
                                    "cannot open report \"%s\"", rep->name);
    }

    /*
     * The original bytes, and pass 1 on the same chunks: is it JSON, and
     * which columns does it have.  The zip writer's thread deflates each
     * chunk while pass 1 parses it.  A report that is not JSON is still
     * copied whole.
     */

    conv = exc_create(&job->csv, (int) rep->ndjson);
    if (conv == NULL) {
        ret = ngx_http_export_fail(job, 0, "out of memory");
        goto done;
    }

    if (exz_begin(job->zip, rep->name, rep->name_len, rep->mtime) != EXZ_OK) {
        ret = NGX_ERROR;
        goto zip_failed;
    }

    rc = EXC_OK;
    chunks = 0;
    held = 0;

    for ( ;; ) {
        n = ngx_http_export_read(job, fd, rep, 2);

        if (n < 0) {
            ret = n;
            goto done;
        }

        if (n == 0) {
            if (rc == EXC_OK) {
                rc = exc_scan_end(conv);
            }

            break;
        }

        chunks++;
        held = n;

        if (exz_write(job->zip, job->buf, n) != EXZ_OK) {
            ret = NGX_ERROR;
            goto zip_failed;
        }

        if (rc == EXC_OK) {
            rc = exc_scan(conv, job->buf, n);

            if (rc == EXC_ERROR) {
                break;
            }
        }
    }

    if (rc == EXC_ERROR) {
        ret = ngx_http_export_fail(job, 0, "out of memory converting "
                                   "report \"%s\"", rep->name);
        goto done;
    }

    if (exz_end(job->zip) != EXZ_OK) {
        ret = NGX_ERROR;
        goto zip_failed;
    }

    if (rc == EXC_BAD) {
        /* the original is in the archive; its CSV is left out */
        res = exc_result(conv);
        ngx_http_export_warn(job, rep->name, res->reason, res->offset);
        ngx_http_export_progress(job, rep->size);
        ret = NGX_OK;
        goto done;
    }

    /* pass 2: the CSV, converted here, deflated in the writer's thread */

    csv_name = malloc(rep->name_len + sizeof(".csv"));
    if (csv_name == NULL) {
        ret = ngx_http_export_fail(job, 0, "out of memory");
        goto done;
    }

    n = ngx_http_export_csv_name(job, rep, csv_name);

    if (exz_begin(job->zip, csv_name, n, rep->mtime) != EXZ_OK) {
        ret = NGX_ERROR;
        goto zip_failed;
    }

    rc = exc_emit_begin(conv, ngx_http_export_zip_write, job->zip);

    /*
     * A report that one read took whole (most of them: a chunk is 256 KiB)
     * is still in the buffer as pass 1 saw it: pass 2 needs no reading.
     */

    if (chunks <= 1) {
        if (rc == EXC_OK && held) {
            ngx_http_export_progress(job, held);
            rc = exc_emit(conv, job->buf, held);
        }

        if (rc == EXC_OK) {
            rc = exc_emit_end(conv);
        }

    } else if (lseek(fd, 0, SEEK_SET) == -1) {
        ret = ngx_http_export_fail(job, ngx_errno,
                                   "reading report \"%s\" failed", rep->name);
        goto done;
    }

    while (rc == EXC_OK && chunks > 1) {
        n = ngx_http_export_read(job, fd, rep, 1);

        if (n < 0) {
            ret = n;
            goto done;
        }

        if (n == 0) {
            rc = exc_emit_end(conv);
            break;
        }

        rc = exc_emit(conv, job->buf, n);
    }

    if (rc == EXC_ERROR) {
        ret = NGX_ERROR;
        goto zip_failed;
    }

    if (rc == EXC_BAD) {
        /* it passed pass 1: the file changed under us */
        res = exc_result(conv);
        ngx_http_export_warn(job, rep->name,
                             "the report changed while it was exported; "
                             "its CSV is incomplete", res->offset);
    }

    if (exz_end(job->zip) != EXZ_OK) {
        ret = NGX_ERROR;
        goto zip_failed;
    }

    res = exc_result(conv);
    rep->csv = 1;
    rep->rows = res->rows;
    rep->columns = res->columns;

    ret = NGX_OK;
    goto done;

zip_failed:

    ret = ngx_http_export_fail(job, 0,
                               "writing the archive failed: %s",
                               exz_strerror(job->zip));

done:

    if (conv) {
        exc_destroy(conv);
    }

    free(csv_name);
    (void) close(fd);

    return ret;
}


static int
ngx_http_export_zip_write(void *data, const unsigned char *buf, size_t len)
{
    return (exz_write(data, buf, len) == EXZ_OK) ? 0 : -1;
}


static ngx_int_t
ngx_http_export_add_manifest(ngx_http_export_job_t *job)
{
    u_char                     tbuf[sizeof("2026-11-22T16:00:00Z")], *p;
    time_t                     now;
    size_t                     len;
    yajl_gen                   g;
    ngx_int_t                  rc;
    ngx_uint_t                 i;
    const unsigned char       *json;
    ngx_http_export_report_t  *rep;

    g = yajl_gen_alloc(NULL);
    if (g == NULL) {
        return ngx_http_export_fail(job, 0, "out of memory");
    }

    yajl_gen_config(g, yajl_gen_beautify, 1);

    now = time(NULL);

    yajl_gen_map_open(g);

    if (job->folders[0][0] == '\0') {
        ngx_http_export_gen_key(g, "runId");
        yajl_gen_string(g, job->run, ngx_strlen(job->run));

    } else {
        /* an export of several runs, each in a folder "run/" */
        ngx_http_export_gen_key(g, "jobId");
        yajl_gen_string(g, job->run, ngx_strlen(job->run));
        ngx_http_export_gen_key(g, "runIds");
        yajl_gen_array_open(g);
        for (i = 0; i < job->nsources; i++) {
            yajl_gen_string(g, job->folders[i],
                            ngx_strlen(job->folders[i]) - 1);
        }
        yajl_gen_array_close(g);
    }

    ngx_http_export_gen_key(g, "taskId");
    yajl_gen_string(g, job->id, NGX_HTTP_EXPORT_UUID_LEN);
    ngx_http_export_gen_key(g, "generatedAt");
    p = ngx_http_export_rfc3339(tbuf, now);
    yajl_gen_string(g, tbuf, p - tbuf);

    ngx_http_export_gen_key(g, "reports");
    yajl_gen_array_open(g);

    for (i = 0; i < job->nreports; i++) {
        rep = &job->reports[i];

        yajl_gen_map_open(g);
        ngx_http_export_gen_key(g, "name");
        yajl_gen_string(g, (u_char *) rep->name, rep->name_len);
        ngx_http_export_gen_key(g, "format");
        if (rep->ndjson) {
            ngx_http_export_gen_key(g, "ndjson");
        } else {
            ngx_http_export_gen_key(g, "json");
        }
        ngx_http_export_gen_key(g, "size");
        yajl_gen_integer(g, rep->size);
        ngx_http_export_gen_key(g, "csv");
        if (rep->csv) {
            len = ngx_http_export_csv_name(job, rep, (char *) job->buf);
            yajl_gen_string(g, job->buf, len);
        } else {
            yajl_gen_null(g);
        }
        ngx_http_export_gen_key(g, "rows");
        yajl_gen_integer(g, rep->rows);
        ngx_http_export_gen_key(g, "columns");
        yajl_gen_integer(g, rep->columns);
        yajl_gen_map_close(g);
    }

    yajl_gen_array_close(g);

    ngx_http_export_gen_key(g, "warnings");
    yajl_gen_array_open(g);

    for (i = 0; i < job->nwarnings && i < NGX_HTTP_EXPORT_WARNINGS_MAX; i++) {
        yajl_gen_map_open(g);
        ngx_http_export_gen_key(g, "report");
        yajl_gen_string(g, job->warnings[i].report,
                        ngx_strlen(job->warnings[i].report));
        ngx_http_export_gen_key(g, "message");
        yajl_gen_string(g, job->warnings[i].reason,
                        ngx_strlen(job->warnings[i].reason));
        ngx_http_export_gen_key(g, "offset");
        yajl_gen_integer(g, job->warnings[i].offset);
        yajl_gen_map_close(g);
    }

    yajl_gen_array_close(g);

    if (job->nwarnings > NGX_HTTP_EXPORT_WARNINGS_MAX) {
        ngx_http_export_gen_key(g, "warningsOmitted");
        yajl_gen_integer(g, job->nwarnings - NGX_HTTP_EXPORT_WARNINGS_MAX);
    }

    yajl_gen_map_close(g);

    rc = NGX_OK;

    if (yajl_gen_get_buf(g, &json, &len) != yajl_gen_status_ok) {
        rc = ngx_http_export_fail(job, 0, "building manifest.json failed");

    } else if (exz_begin(job->zip, "manifest.json", 13, now) != EXZ_OK
               || exz_write(job->zip, json, len) != EXZ_OK
               || exz_end(job->zip) != EXZ_OK)
    {
        rc = ngx_http_export_fail(job, 0,
                                  "writing the archive failed: %s",
                                  exz_strerror(job->zip));
    }

    yajl_gen_free(g);

    return rc;
}


/* the last look before the archive becomes visible */

static ngx_int_t
ngx_http_export_check(ngx_http_export_job_t *job)
{
    return ngx_http_export_stopping(job) ? NGX_DECLINED : NGX_OK;
}


/*
 * The archives that earlier attempts of the task left, when their
 * writer is gone (a worker that died, a node that stopped): each
 * attempt writes a name of its own.
 */

static void
ngx_http_export_job_leftovers(ngx_http_export_job_t *job)
{
    u_char      *p, path[NGX_MAX_PATH];
    size_t       len;
    ngx_uint_t   k;

    len = ngx_strlen(job->tmp);
    p = job->tmp + len - sizeof(".tmp") + 1;

    while (p > job->tmp && *(p - 1) != '.') {
        p--;
    }

    if (p == job->tmp || (size_t) (p - job->tmp) + NGX_INT_T_LEN + 5
                         > NGX_MAX_PATH)
    {
        return;
    }

    for (k = 1; k < job->attempt; k++) {
        ngx_memcpy(path, job->tmp, p - job->tmp);
        ngx_sprintf(path + (p - job->tmp), "%ui.tmp%Z", k);

        (void) ngx_http_export_tmp_stale(AT_FDCWD, (char *) path, 0, NULL,
                                         NULL, job->log);
    }
}


/*
 * The check point of a build, at every chunk: a DELETE here, nginx's
 * exit, and, about once a second, a look at the claim in the store (a
 * DELETE on another node, a takeover), which also writes the heartbeat.
 */

static ngx_uint_t
ngx_http_export_stopping(ngx_http_export_job_t *job)
{
    ngx_int_t   rc;
    ngx_msec_t  now;

    if (job->stop) {
        return 1;
    }

    if (job->task->cancel) {
        job->stop = NGX_HTTP_EXPORT_STOP_CANCEL;
        job->cancelled = 1;
        return 1;
    }

    if (ngx_terminate) {
        job->stop = NGX_HTTP_EXPORT_STOP_EXIT;
        return 1;
    }

    now = ngx_http_export_job_msec();

    if (now - job->beat_at < NGX_HTTP_EXPORT_BEAT_EVERY) {
        return 0;
    }

    job->beat_at = now;

    rc = ngx_http_export_claim_check(&job->cs, &job->name, job->bid,
                                     job->attempt, job->task->progress,
                                     NGX_HTTP_EXPORT_IN_PROGRESS,
                                     ++job->beat);

    if (rc == NGX_DECLINED) {
        job->stop = NGX_HTTP_EXPORT_STOP_GONE;
        return 1;
    }

    if (rc == NGX_ABORT) {
        job->stop = NGX_HTTP_EXPORT_STOP_LOST;
        return 1;
    }

    /* a store that cannot be read now: the build goes on */

    return 0;
}


static void
ngx_http_export_progress(ngx_http_export_job_t *job, off_t n)
{
    ngx_uint_t  p;

    job->done += n;

    if (job->total == 0) {
        return;
    }

    /* 100% is only for COMPLETED; progress never goes down */

    p = (ngx_uint_t) ((double) job->done * 9900 / job->total);

    if (p > 9900) {
        p = 9900;
    }

    if (p > job->task->progress) {
        job->task->progress = p;
    }
}


/*
 * report is the name as the run directory gives it, any bytes: error.log
 * gets it by the log rule, the task (and every JSON document made from
 * it) by the name rule, cut to fit.
 */

static void
ngx_http_export_warn(ngx_http_export_job_t *job, const char *report,
    const char *reason, uint64_t offset)
{
    size_t                      len, n;
    u_char                      esc[4 * NGX_HTTP_EXPORT_NAME_LEN];
    ngx_http_export_warning_t  *w;

    len = ngx_min(ngx_strlen(report), NGX_HTTP_EXPORT_NAME_LEN);

    n = exu_escape_log(esc, (u_char *) report, len);

    ngx_log_error(NGX_LOG_WARN, job->log, 0,
                  "export: task %s of run %s: report \"%*s\" at byte %uL: %s",
                  job->id, job->run, n, esc, offset, reason);

    if (job->nwarnings < NGX_HTTP_EXPORT_WARNINGS_MAX) {
        if (job->warnings == NULL) {
            job->warnings = ngx_alloc(NGX_HTTP_EXPORT_WARNINGS_MAX
                                      * sizeof(ngx_http_export_warning_t),
                                      job->log);
            if (job->warnings == NULL) {
                job->nwarnings++;
                return;
            }
        }

        w = &job->warnings[job->nwarnings];
        w->offset = offset;

        n = exu_escape_name(esc, (u_char *) report, len);
        n = exu_cut(esc, n, sizeof(w->report) - 1, 1);
        ngx_memcpy(w->report, esc, n);
        w->report[n] = '\0';

        ngx_cpystrn(w->reason, (u_char *) reason, sizeof(w->reason));
    }

    job->nwarnings++;
}


/* a warning for a run's entry that is not in the list of reports */

static void
ngx_http_export_warn_entry(ngx_http_export_job_t *job, ngx_uint_t source,
    const char *name, const char *reason)
{
    char  report[NGX_HTTP_EXPORT_NAME_LEN + 1];

    (void) ngx_snprintf((u_char *) report, sizeof(report) - 1, "%s%s%Z",
                        job->folders[source], name);
    report[sizeof(report) - 1] = '\0';

    ngx_http_export_warn(job, report, reason, 0);
}


/* records why the export failed: the client sees the text, the log more */

static ngx_int_t
ngx_http_export_fail(ngx_http_export_job_t *job, ngx_err_t err,
    const char *fmt, ...)
{
    u_char      *p, *last;
    va_list      args;
    const char  *why;

    if (job->error_len) {
        return NGX_ERROR;
    }

    last = job->error + sizeof(job->error);

    va_start(args, fmt);
    p = ngx_vslprintf(job->error, last, fmt, args);
    va_end(args);

    if (err) {
        p = ngx_slprintf(p, last, ": %s", strerror(err));
    }

    /* what fits: a report's name cut at the end is not cut in a character */

    job->error_len = exu_check(job->error, p - job->error, &why);
    job->err = err;

    return NGX_ERROR;
}


/*
 * A build that stops without an end of its own: another node took it
 * over (the zone keeps the task as that node's, and looks at the store
 * for it), or nginx is stopping (the claim stays in the store, and a
 * restart, or another node, builds the export).
 */

static void
ngx_http_export_let_go(ngx_http_export_job_t *job)
{
    ngx_http_export_zone_t  *zone;
    ngx_http_export_task_t  *task;

    zone = job->zone;
    task = job->task;

    ngx_shmtx_lock(&zone->shpool->mutex);

    ngx_http_export_task_stop(zone, task);

    if (task->detached) {
        ngx_http_export_task_remove(zone, task);

    } else if (job->stop == NGX_HTTP_EXPORT_STOP_LOST) {
        ngx_http_export_quota_release(task->quota);
        zone->sh->stats.lost++;
        task->foreign = 1;
        task->epoch = zone->sh->epoch - 1;
        ngx_http_export_task_follow(zone, task);

    } else {
        task->state = NGX_HTTP_EXPORT_NOT_STARTED;
        ngx_queue_insert_head(&zone->sh->waiting, &task->waiting);
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    if (job->stop == NGX_HTTP_EXPORT_STOP_LOST) {
        ngx_log_error(NGX_LOG_WARN, job->log, 0,
                      "export: task %s of run %s: another node took the "
                      "build over; attempt %ui stops here",
                      job->id, job->run, job->attempt);

    } else {
        ngx_log_error(NGX_LOG_NOTICE, job->log, 0,
                      "export: task %s of run %s: nginx is stopping; "
                      "attempt %ui stops, and the export is finished "
                      "after the restart or by another node",
                      job->id, job->run, job->attempt);
    }
}


/* writes the outcome into the shared task */

static void
ngx_http_export_finish(ngx_http_export_job_t *job, ngx_int_t rc)
{
    size_t                   n;
    time_t                   now;
    u_char                   ref[NGX_HTTP_EXPORT_UUID_LEN], bref[16];
    u_char                   meta[NGX_MAX_PATH];
    ngx_uint_t               state, drop;
    ngx_slab_pool_t         *shpool;
    ngx_http_export_task_t  *task;

    task = job->task;
    shpool = job->zone->shpool;
    now = time(NULL);

    if (rc == NGX_OK || rc == NGX_ERROR) {
        if (rc == NGX_ERROR) {
            ngx_http_export_uuid(bref);
        }

        if (ngx_http_export_job_meta(job, rc == NGX_OK
                                          ? NGX_HTTP_EXPORT_COMPLETED
                                          : NGX_HTTP_EXPORT_FAILED,
                                     bref)
            != NGX_OK)
        {
            ngx_log_error(NGX_LOG_WARN, job->log, 0,
                          "export: task %s of run %s: its metadata could "
                          "not be written; a restart will not find it",
                          job->id, job->run);
        }

        /* deleted on another node while it ended: nothing of it stays */

        if (ngx_http_export_claim_done(&job->cs, &job->name, job->bid,
                                       job->attempt)
            == NGX_DECLINED)
        {
            job->stop = NGX_HTTP_EXPORT_STOP_GONE;

            if (rc == NGX_OK && ngx_delete_file(job->path) == NGX_FILE_ERROR
                && ngx_errno != NGX_ENOENT)
            {
                ngx_log_error(NGX_LOG_CRIT, job->log, ngx_errno,
                              "export: task %s: " ngx_delete_file_n
                              " \"%s\" failed", job->id, job->path);
            }

            rc = NGX_DECLINED;
        }
    }

    if (rc == NGX_DECLINED
        && (job->stop == NGX_HTTP_EXPORT_STOP_LOST
            || job->stop == NGX_HTTP_EXPORT_STOP_EXIT))
    {
        ngx_http_export_let_go(job);
        return;
    }

    if (rc == NGX_ERROR) {
        ngx_http_export_uuid_text(ref, bref);

        ngx_log_error(NGX_LOG_ERR, job->log, job->err,
                      "export: task %s of run %s failed: %*s "
                      "(source \"%s\", archive \"%s\", "
                      "referenceToken: %*s)",
                      job->id, job->run, job->error_len, job->error,
                      job->sources[0], job->tmp,
                      (size_t) NGX_HTTP_EXPORT_UUID_LEN, ref);
    }

    ngx_shmtx_lock(&shpool->mutex);

    ngx_http_export_task_stop(job->zone, task);

    ngx_http_export_quota_release(task->quota);

    if (task->detached || rc == NGX_DECLINED) {
        /* deleted while it ran: nothing of it stays */

        drop = (rc == NGX_OK);

        if (job->stop == NGX_HTTP_EXPORT_STOP_GONE && !task->detached) {
            job->zone->sh->stats.cancelled++;
            ngx_http_export_task_remove(job->zone, task);

        } else if (task->detached) {
            ngx_http_export_task_remove(job->zone, task);

        } else {
            task->state = NGX_HTTP_EXPORT_FAILED;
            task->cancelled = 1;
            task->finished = now;
            task->finished_ms = ngx_http_export_now_ms();
            task->updated_ms = task->finished_ms;
            task->expires = now + job->ttl;
        }

        ngx_shmtx_unlock(&shpool->mutex);

        if (drop && ngx_delete_file(job->path) == NGX_FILE_ERROR) {
            ngx_log_error(NGX_LOG_CRIT, job->log, ngx_errno,
                          "export: task %s: " ngx_delete_file_n
                          " \"%s\" failed", job->id, job->path);
        }

        ngx_http_export_meta_path(meta, job->path, ngx_strlen(job->path));

        if (ngx_delete_file(meta) == NGX_FILE_ERROR
            && ngx_errno != NGX_ENOENT)
        {
            ngx_log_error(NGX_LOG_CRIT, job->log, ngx_errno,
                          "export: task %s: " ngx_delete_file_n
                          " \"%s\" failed", job->id, meta);
        }

        ngx_log_error(NGX_LOG_INFO, job->log, 0,
                      "export: task %s of run %s cancelled",
                      job->id, job->run);
        return;
    }

    task->finished = now;
    task->finished_ms = ngx_http_export_now_ms();
    task->updated_ms = task->finished_ms;
    task->expires = now + job->ttl;
    task->nwarnings = job->nwarnings;
    task->nreports = job->nreports;

    n = ngx_min(job->nwarnings, NGX_HTTP_EXPORT_WARNINGS_MAX);

    if (n && job->warnings) {
        task->warnings = ngx_slab_alloc_locked(shpool,
                                   n * sizeof(ngx_http_export_warning_t));
        if (task->warnings) {
            ngx_memcpy(task->warnings, job->warnings,
                       n * sizeof(ngx_http_export_warning_t));
            task->nkept = n;
        }
    }

    ngx_http_export_count_generation(&job->zone->sh->stats,
                                     ngx_http_export_job_msec() - job->start);

    if (rc == NGX_OK) {
        job->zone->sh->stats.completed++;
        job->zone->sh->stats.bytes += job->size;
        task->size = job->size;
        task->progress = NGX_HTTP_EXPORT_PROGRESS_MAX;
        task->state = NGX_HTTP_EXPORT_COMPLETED;

    } else {
        ngx_memcpy(task->ref, bref, 16);

        task->error = ngx_slab_alloc_locked(shpool, job->error_len);
        if (task->error) {
            ngx_memcpy(task->error, job->error, job->error_len);
            task->error_len = job->error_len;
        }

        task->state = NGX_HTTP_EXPORT_FAILED;
        job->zone->sh->stats.failed++;
    }

    state = task->state;

    ngx_shmtx_unlock(&shpool->mutex);

    ngx_log_error(NGX_LOG_INFO, job->log, 0,
                  "export: task %s of run %s %s: %O bytes, %ui reports, "
                  "%ui warnings",
                  job->id, job->run, ngx_http_export_state_name(state),
                  job->size, job->nreports, job->nwarnings);
}


/* the time in a thread: nginx's cached time is the event loop's */

static ngx_msec_t
ngx_http_export_job_msec(void)
{
    struct timespec  ts;

    (void) clock_gettime(CLOCK_MONOTONIC, &ts);

    return (ngx_msec_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


/* the metadata beside the archive, written in the thread */

static ngx_int_t
ngx_http_export_job_meta(ngx_http_export_job_t *job, ngx_uint_t state,
    u_char *ref)
{
    ngx_http_export_meta_t   m;
    ngx_http_export_task_t  *task;

    task = job->task;

    m.path = job->path;
    m.path_len = ngx_strlen(job->path);
    m.run.data = task->run;
    m.run.len = task->run_len;
    m.id = task->id;
    m.style = task->style;
    m.keyed = task->keyed;
    m.cancelled = 0;
    m.serial = task->serial;
    m.nreports = job->nreports;
    m.created_ms = task->created_ms;
    m.finished_ms = ngx_http_export_now_ms();
    m.op = task->spec.op;
    m.ref = ref;
    m.state = state;
    m.created = task->created;
    m.finished = time(NULL);
    m.ttl = job->ttl;
    m.size = job->size;
    m.error.data = job->error;
    m.error.len = job->error_len;
    m.nwarnings = job->nwarnings;
    m.nkept = ngx_min(job->nwarnings, NGX_HTTP_EXPORT_WARNINGS_MAX);
    m.warnings = job->warnings;
    m.node = job->cs.node;

    if (m.warnings == NULL) {
        m.nkept = 0;
    }

    return ngx_http_export_meta_write(&m, job->log);
}


static void
ngx_http_export_job_free(ngx_http_export_job_t *job)
{
    ngx_uint_t  i;

    /* a writer is left here only when its archive was finished */

    ngx_http_export_keep(job->zip, job->buf);

    job->zip = NULL;
    job->buf = NULL;

    for (i = 0; i < job->nsources; i++) {
        if (job->dirs[i]) {
            (void) closedir(job->dirs[i]);
            job->dirs[i] = NULL;
        }
    }

    for (i = 0; i < job->nreports; i++) {
        free(job->reports[i].name);
    }

    free(job->reports);
    job->reports = NULL;

    if (job->warnings) {
        ngx_free(job->warnings);
        job->warnings = NULL;
    }
}


/* a read buffer and a writer from the stash; NULL where it has none */

static void
ngx_http_export_kept(exz_t **zip, u_char **buf)
{
    *zip = NULL;
    *buf = NULL;

    (void) pthread_mutex_lock(&ngx_http_export_kept_mutex);

    if (ngx_http_export_nzips) {
        *zip = ngx_http_export_kept_zips[--ngx_http_export_nzips];
    }

    if (ngx_http_export_nbufs) {
        *buf = ngx_http_export_kept_bufs[--ngx_http_export_nbufs];
    }

    (void) pthread_mutex_unlock(&ngx_http_export_kept_mutex);
}


/* into the stash, or freed when it is full or closed; NULLs are fine */

static void
ngx_http_export_keep(exz_t *zip, u_char *buf)
{
    (void) pthread_mutex_lock(&ngx_http_export_kept_mutex);

    if (zip && !ngx_http_export_kept_closed
        && ngx_http_export_nzips < NGX_HTTP_EXPORT_KEPT)
    {
        ngx_http_export_kept_zips[ngx_http_export_nzips++] = zip;
        zip = NULL;
    }

    if (buf && !ngx_http_export_kept_closed
        && ngx_http_export_nbufs < NGX_HTTP_EXPORT_KEPT)
    {
        ngx_http_export_kept_bufs[ngx_http_export_nbufs++] = buf;
        buf = NULL;
    }

    (void) pthread_mutex_unlock(&ngx_http_export_kept_mutex);

    exz_destroy(zip);
    ngx_free(buf);
}


/*
 * At the worker's exit, after its thread pools have ended: frees the
 * stash, and a job that would still end gives back nothing.
 */

void
ngx_http_export_job_exit(void)
{
    (void) pthread_mutex_lock(&ngx_http_export_kept_mutex);

    ngx_http_export_kept_closed = 1;

    while (ngx_http_export_nzips) {
        exz_destroy(ngx_http_export_kept_zips[--ngx_http_export_nzips]);
    }

    while (ngx_http_export_nbufs) {
        ngx_free(ngx_http_export_kept_bufs[--ngx_http_export_nbufs]);
    }

    (void) pthread_mutex_unlock(&ngx_http_export_kept_mutex);

    while (ngx_http_export_npools) {
        ngx_destroy_pool(ngx_http_export_pools[--ngx_http_export_npools]);
    }
}
