
/*
 * ngx_http_export_module: asynchronous export API for nginx.
 *
 * The types every unit of the module shares: configuration, the task
 * record kept in shared memory, the request context and the calls that
 * cross from one unit to another.
 */


#ifndef _NGX_HTTP_EXPORT_MODULE_H_INCLUDED_
#define _NGX_HTTP_EXPORT_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_export_parse.h"

#if !(NGX_THREADS)
#error ngx_http_export_module needs nginx built --with-threads
#endif


#define NGX_HTTP_EXPORT_UUID_LEN        36    /* 8-4-4-4-12 text form */
#define NGX_HTTP_EXPORT_RUN_MAX         64    /* a run id, as text */
#define NGX_HTTP_EXPORT_RUNS_MAX        100   /* runs in one export */

#define NGX_HTTP_EXPORT_PROGRESS_MAX    10000 /* hundredths of a percent */

#define NGX_HTTP_EXPORT_WARNINGS_MAX    32    /* kept per task */
#define NGX_HTTP_EXPORT_WARN_REPORT     128
#define NGX_HTTP_EXPORT_WARN_REASON     192
#define NGX_HTTP_EXPORT_ERROR_LEN       256
#define NGX_HTTP_EXPORT_QUOTAS_MAX      4     /* export_quota per location */
#define NGX_HTTP_EXPORT_ATTEMPTS        3     /* starts before FAILED */

#define NGX_HTTP_EXPORT_QUOTA_ACTIVE    1
#define NGX_HTTP_EXPORT_QUOTA_RATE      2
#define NGX_HTTP_EXPORT_QUOTA_FULL      3


/* task states, in the order a task goes through them */
typedef enum {
    NGX_HTTP_EXPORT_NOT_STARTED = 0,
    NGX_HTTP_EXPORT_QUEUED,
    NGX_HTTP_EXPORT_IN_PROGRESS,
    NGX_HTTP_EXPORT_COMPLETED,
    NGX_HTTP_EXPORT_FAILED
} ngx_http_export_state_e;

#define ngx_http_export_finished(state)                                       \
    ((state) == NGX_HTTP_EXPORT_COMPLETED                                     \
     || (state) == NGX_HTTP_EXPORT_FAILED)

#define ngx_http_export_expired(task, now)                                    \
    (ngx_http_export_finished((task)->state) && !(task)->running             \
     && (task)->expires <= (now))


/* the API dialect of a location: whose clients it answers */
typedef enum {
    NGX_HTTP_EXPORT_VMWARE = 0,   /* check-sets/{runId}/exports */
    NGX_HTTP_EXPORT_ARCGIS,       /* healthCheck/reports/export, jobs */
    NGX_HTTP_EXPORT_UNIWARE,      /* export/job/status */
    NGX_HTTP_EXPORT_WEBADMIT      /* exports/:id/export_files */
} ngx_http_export_style_e;


/* which content handler a location runs */
typedef enum {
    NGX_HTTP_EXPORT_NONE = 0,
    NGX_HTTP_EXPORT_API,          /* export_api: POST / GET / DELETE */
    NGX_HTTP_EXPORT_DOWNLOAD,     /* export_download: signed links */
    NGX_HTTP_EXPORT_DATA,         /* export_data: .../exports/data */
    NGX_HTTP_EXPORT_STATUS        /* export_status */
} ngx_http_export_handler_e;


/* one "export_quota" of a location */
typedef struct {
    ngx_shm_zone_t             *shm_zone;
    ngx_uint_t                  active;       /* 0: no limit */
    ngx_uint_t                  rate;         /* per period, 0: no limit */
    ngx_msec_t                  period;
} ngx_http_export_quota_t;


/* an active slot a task holds in a quota zone, until it ends */
typedef struct {
    ngx_slab_pool_t            *shpool;
    void                       *node;
    ngx_uint_t                  slot;         /* an active slot taken */
    ngx_uint_t                  token;        /* a rate token taken */
} ngx_http_export_quota_ref_t;


typedef struct {
    uint64_t                    offset;
    u_char                      report[NGX_HTTP_EXPORT_WARN_REPORT];
    u_char                      reason[NGX_HTTP_EXPORT_WARN_REASON];
} ngx_http_export_warning_t;


/* what a job needs; in a task, the strings point into shared memory */
typedef struct {
    ngx_str_t                   source;       /* the runs' directories */
    ngx_str_t                   folders;      /* their folders in the zip */
    ngx_uint_t                  nsources;     /* both hold so many, each
                                                 ending in '\0' */
    ngx_str_t                   op;           /* the URI that started it */
    ngx_str_t                   store;
    ngx_str_t                   thread_pool;  /* its name */
    ngx_int_t                   level;
    time_t                      ttl;
    size_t                      max_report_size;
    ngx_uint_t                  max_columns;
    ngx_uint_t                  formula_guard;
    ngx_uint_t                  csv_bom;
    ngx_uint_t                  symlinks;     /* export_disable_symlinks */
    ngx_str_t                   symlinks_from;    /* "" or its from= */
} ngx_http_export_spec_t;


/*
 * One export task in the shared zone.  It is found by its own id (chain
 * "id_next" of the zone's id table) and, when it exports one run on its
 * own ("keyed"), by its run (the zone's table of runs; "hash" is the
 * run's keyed hash); "queue" keeps tasks oldest first for expiry.
 * "run" names the task in file names and links: the run id, or for an
 * export of several runs its job id.
 * Fields are read and written under the zone's slab mutex, except
 * "progress" and "cancel", single words the generation thread and the
 * handlers touch without it.
 *
 * The layout is for two things.  What a status GET reads comes first,
 * in the block's first 3 cache lines (the slab aligns a block to its
 * size): the keyed hash, the flags it decides on and the
 * first 40 bytes of the run (a UUID run is compared within line 0),
 * then the fields it answers with; with 100,000 tasks, more than the
 * caches hold, a GET of a cold task takes these 3 lines from memory and
 * no more.  And the record is small (680 bytes on 64-bit systems), so
 * that with the strings that follow it a task takes a 1 KiB block of the
 * slab, not 2 KiB: small integers and flags are bytes.
 */
typedef struct ngx_http_export_task_s  ngx_http_export_task_t;

struct ngx_http_export_task_s {
    /* line 0: the key, what decides a GET */
    ngx_http_export_task_t     *id_next;
    uint64_t                    hash;
    uint8_t                     run_len;      /* up to RUN_MAX */
    uint8_t                     state;
    uint8_t                     running;      /* a job holds the task */
    uint8_t                     unknown;      /* see below */
    uint8_t                     foreign;
    uint8_t                     cancelled;
    uint8_t                     style;        /* that started it */
    uint8_t                     nkept;        /* entries in "warnings" */
    u_char                      run[NGX_HTTP_EXPORT_RUN_MAX];

    /* line 1 (with the run's last 24 bytes) */
    u_char                      id[16];
    time_t                      expires;
    volatile uint32_t           progress;     /* 0 .. PROGRESS_MAX */
    uint32_t                    epoch;        /* the zone's at its look */
    uint32_t                    nreports;
    uint16_t                    error_len;

    /* line 2 */
    time_t                      created;
    time_t                      finished;
    off_t                       size;
    uint64_t                    serial;       /* its number in the zone */
    uint64_t                    created_ms;   /* epoch milliseconds */
    uint64_t                    updated_ms;
    uint64_t                    finished_ms;
    uint64_t                    nwarnings;    /* all the job found */

    /* read only for a FAILED task or one with warnings */

    u_char                     *error;        /* message of FAILED */
    ngx_http_export_warning_t  *warnings;
    u_char                      ref[16];      /* referenceToken of FAILED */

    /* for the jobs, the downloads and the zone's upkeep */

    ngx_atomic_t                cancel;
    ngx_queue_t                 queue;
    ngx_pid_t                   pid;          /* the worker of the job */
    uint32_t                    attempts;     /* jobs started */
    uint8_t                     detached;     /* deleted while running */
    uint8_t                     keyed;        /* in the table of runs */

    u_char                     *path;         /* the archive in the store */
    size_t                      path_len;

    ngx_http_export_quota_ref_t quota[NGX_HTTP_EXPORT_QUOTAS_MAX];

    /*
     * The store shared by nodes (ngx_http_export_cluster.c): a task is
     * "foreign" when it is what the store said of a task that this node
     * does not build, and "unknown" when the store had no export of the
     * run (a short-lived entry, so that lookups of absent runs do not
     * reach the store each time); "epoch" is the zone's when the store
     * was read for it (the zone's counter, kept to 32 bits: it moves at
     * most once a second).  These three are read by every status GET,
     * so they are in its lines, above.
     */
    uint32_t                    claimed;      /* attempt the claim names */
    uint8_t                     followed;     /* in sh->follow */
    uint8_t                     indexed;      /* export-<id>.task exists */
    uint8_t                     beat_found;
    uint8_t                     node_len;     /* the builder */
    uint64_t                    beat;         /* heartbeat seen or sent */
    ngx_msec_t                  beat_ms;      /* when it last changed */
    u_char                      node[EXP_NODE_MAX];

    /*
     * How to generate it, so that any worker can start a task that
     * waits NOT_STARTED: strings follow the task in the same block.
     */
    ngx_queue_t                 waiting;      /* sh->waiting, sh->jobs or
                                                 sh->follow */
    ngx_http_export_spec_t      spec;
};


#define NGX_HTTP_EXPORT_BUCKETS         9     /* generation time histogram */


/* counters for export_status, the same from every worker */
typedef struct {
    ngx_atomic_t                created;
    ngx_atomic_t                completed;
    ngx_atomic_t                failed;
    ngx_atomic_t                cancelled;
    ngx_atomic_t                bytes;        /* archives completed */
    ngx_atomic_t                rejected_429;
    ngx_atomic_t                rejected_503;
    ngx_atomic_t                seconds_ms;   /* sum of generation times */
    ngx_atomic_t                lookups;      /* reads of the store */
    ngx_atomic_t                takeovers;    /* builds taken over */
    ngx_atomic_t                lost;         /* builds another took */
    ngx_atomic_t                buckets[NGX_HTTP_EXPORT_BUCKETS];
} ngx_http_export_stats_t;


/*
 * A slot of the zone's table of runs: the low 32 bits of the run's keyed
 * hash (its home slot is "tag & runs_mask") and where the task is, in
 * units of 512 bytes from the start of the zone (0: an empty slot; a
 * task's slab block is 1 KiB or more, and aligned to its size).
 */
typedef struct {
    uint32_t                    tag;
    uint32_t                    at;
} ngx_http_export_slot_t;


/*
 * The zone.  Tasks are found by run through an open-addressed table
 * ("runs", linear probing, removals shift the slots after them back) of
 * at least 2 slots per KiB of zone, so it is at most half full whatever
 * the tasks (each takes a 1 KiB block at least): a lookup reads one line
 * of 8 slots, and touches only the task whose tag matches, where a chain
 * read every task before it.  By id through chains ("ids", "mask + 1"
 * buckets, one per KiB).  Runs are hashed with a key of the zone
 * ("seed"), so that nobody can choose runs that share slots.
 */
typedef struct {
    ngx_http_export_slot_t     *runs;         /* by run, keyed tasks */
    ngx_uint_t                  runs_mask;
    ngx_http_export_task_t    **ids;          /* by id, every task */
    ngx_uint_t                  mask;
    u_char                      seed[16];
    ngx_queue_t                 queue;
    ngx_queue_t                 waiting;      /* NOT_STARTED, oldest first */
    ngx_queue_t                 jobs;         /* tasks a job holds */
    ngx_queue_t                 follow;       /* other nodes' unfinished
                                                 builds that worker 0
                                                 follows */

    ngx_atomic_t                version;      /* bumped on state changes */
    uint64_t                    serial;       /* the last task's */
    ngx_uint_t                  count;
    ngx_uint_t                  running;      /* tasks a job holds */
    ngx_uint_t                  max_running;  /* 0: no bound */

    u_char                      key[32];      /* link key if none is set */

    uint32_t                    epoch;        /* another node changed */
    u_char                      token[16];    /* export.changes, as read */

    ngx_http_export_stats_t     stats;
} ngx_http_export_shctx_t;


typedef struct {
    ngx_http_export_shctx_t    *sh;
    ngx_slab_pool_t            *shpool;
    ngx_shm_zone_t             *shm_zone;
    ngx_thread_pool_t          *thread_pool;  /* for the store: lookups,
                                                 claims, removals */
    ngx_str_t                   link_key;     /* export_link_secret */
    ngx_uint_t                  max_running;
    ngx_array_t                *stores;       /* ngx_str_t, for recovery */
    ngx_log_t                  *log;

    ngx_str_t                   node;         /* export_node */
    ngx_msec_t                  lease;        /* export_lease */
    ngx_flag_t                  parallel;     /* export_parallel_deflate */
    ngx_array_t                *roots;        /* ngx_str_t: where sources
                                                 may be, for a takeover */
    time_t                      min_ttl;      /* the shortest export_ttl */

    /* worker 0's look at the store for what this node follows */
    ngx_msec_t                  upkeep_next;
    ngx_uint_t                  upkeeping;

    /* worker 0's sweeps of the stores' temporary files */
    ngx_thread_task_t          *sweep;
    ngx_msec_t                  sweep_next;
    ngx_uint_t                  sweeping;
} ngx_http_export_zone_t;


typedef struct {
    ngx_uint_t                  handler;      /* ngx_http_export_handler_e */
    ngx_uint_t                  style;        /* ngx_http_export_style_e */
    ngx_shm_zone_t             *shm_zone;

    ngx_http_complex_value_t   *run_id;
    ngx_http_complex_value_t   *task_id;      /* export_task_id */
    ngx_http_complex_value_t   *job_uri;      /* export_job_uri */
    ngx_http_complex_value_t   *link_uri;     /* export_download_uri */
    ngx_http_complex_value_t   *source;
    ngx_str_t                   store;
    ngx_str_t                   thread_pool_name;
    ngx_thread_pool_t          *thread_pool;

    time_t                      ttl;
    time_t                      link_ttl;
    time_t                      wait_max;
    ngx_str_t                   link_key;     /* bytes of the secret file */
    ngx_str_t                   link_secret;  /* its path, for messages */

    ngx_int_t                   level;
    ngx_flag_t                  formula_guard;
    ngx_flag_t                  csv_bom;
    size_t                      max_report_size;
    ngx_uint_t                  max_columns;
    ngx_uint_t                  disable_symlinks;
    ngx_http_complex_value_t   *disable_symlinks_from;

    size_t                      max_body_size; /* export_max_body_size */
    size_t                      body_limit;   /* that, or a smaller
                                                 client_max_body_size */
    ngx_http_core_loc_conf_t   *core;         /* the location's, for it */

    ngx_array_t                *quotas;       /* ngx_http_export_quota_t */
} ngx_http_export_loc_conf_t;


/* per request */
typedef struct {
    ngx_http_request_t         *request;
    ngx_shm_zone_t             *shm_zone;
    ngx_str_t                   run;          /* canonical text */
    ngx_str_t                   job;          /* the style's task id */
    ngx_str_t                   token;        /* ArcGIS "token" */
    u_char                      id[NGX_HTTP_EXPORT_UUID_LEN];
    u_char                      ref[NGX_HTTP_EXPORT_UUID_LEN];
    ngx_uint_t                  state;        /* as last answered */
    unsigned                    has_id:1;
    unsigned                    has_ref:1;
    unsigned                    has_state:1;

    /* a style's request body, read within body_limit */
    ngx_str_t                   body;
    size_t                      body_size;    /* allocated, without '\0' */
    size_t                      body_limit;
    unsigned                    body_read:1;
    unsigned                    body_done:1;
    unsigned                    body_too_large:1;

    /* a look at the store that the request waits for */
    void                       *cop;
    unsigned                    cop_pending:1;
    unsigned                    resolved:1;
    unsigned                    claiming:1;

    /* a POST's new task, while its run is claimed */
    u_char                      new_id[16];
    uint64_t                    serial;
    ngx_http_export_quota_ref_t refs[NGX_HTTP_EXPORT_QUOTAS_MAX];

    /* a parked ?wait=N request */
    ngx_queue_t                 wait_queue;
    ngx_event_t                 wait_timer;
    ngx_atomic_uint_t           wait_version;
    unsigned                    waiting:1;
} ngx_http_export_ctx_t;


/*
 * What a snapshot copies besides the task's own fields: the strings that
 * only some answers need, so that a status GET reads no more of a cold
 * task than it answers with.
 */
#define NGX_HTTP_EXPORT_SNAP_PATH       0x01  /* the archive's path */
#define NGX_HTTP_EXPORT_SNAP_OP         0x02  /* the URI that started it */


/* a copy of a task, taken under the lock, for answering */
typedef struct {
    u_char                      run[NGX_HTTP_EXPORT_RUN_MAX];
    size_t                      run_len;
    u_char                      id[16];
    u_char                      ref[16];
    ngx_uint_t                  state;
    ngx_uint_t                  progress;
    ngx_uint_t                  style;
    ngx_uint_t                  cancelled;
    uint64_t                    serial;
    ngx_uint_t                  nreports;
    time_t                      created;
    time_t                      finished;
    uint64_t                    created_ms;
    uint64_t                    updated_ms;
    uint64_t                    finished_ms;
    off_t                       size;
    ngx_uint_t                  nwarnings;
    ngx_uint_t                  nkept;
    ngx_http_export_warning_t  *warnings;     /* copied into r->pool */
    ngx_str_t                   error;
    ngx_str_t                   path;
    ngx_str_t                   op;
} ngx_http_export_snapshot_t;


extern ngx_module_t  ngx_http_export_module;


/* ngx_http_export_module.c */
ngx_uint_t ngx_http_export_zone_resized(ngx_conf_t *cf, ngx_str_t *name,
    size_t size, ngx_shm_zone_init_pt init);

/* ngx_http_export_store.c: the task table in shared memory */
ngx_int_t ngx_http_export_init_zone(ngx_shm_zone_t *shm_zone, void *data);
ngx_http_export_task_t *ngx_http_export_task_find(
    ngx_http_export_zone_t *zone, ngx_str_t *run);
ngx_http_export_task_t *ngx_http_export_task_lookup(
    ngx_http_export_zone_t *zone, ngx_str_t *run);
ngx_http_export_task_t *ngx_http_export_task_lookup_id(
    ngx_http_export_zone_t *zone, u_char *id);
ngx_http_export_task_t *ngx_http_export_task_find_id(
    ngx_http_export_zone_t *zone, u_char *id);
ngx_http_export_task_t *ngx_http_export_task_create(
    ngx_http_export_zone_t *zone, ngx_str_t *run, ngx_uint_t keyed,
    u_char *id, ngx_str_t *path, ngx_http_export_spec_t *spec);
void ngx_http_export_task_remove(ngx_http_export_zone_t *zone,
    ngx_http_export_task_t *task);
void ngx_http_export_task_path(ngx_http_export_task_t *task,
    ngx_array_t *paths);
void ngx_http_export_task_warnings(ngx_http_export_zone_t *zone,
    ngx_http_export_task_t *task, exp_meta_t *m);
void ngx_http_export_task_follow(ngx_http_export_zone_t *zone,
    ngx_http_export_task_t *task);
void ngx_http_export_task_unfollow(ngx_http_export_zone_t *zone,
    ngx_http_export_task_t *task);
void ngx_http_export_task_snapshot(ngx_http_export_task_t *task,
    ngx_http_export_snapshot_t *snap, ngx_pool_t *pool, ngx_uint_t what);
void ngx_http_export_expire(ngx_http_export_zone_t *zone, ngx_uint_t all,
    ngx_array_t *unlink);
void ngx_http_export_touch(ngx_http_export_zone_t *zone);
ngx_int_t ngx_http_export_unlink_files(ngx_http_export_zone_t *zone,
    ngx_thread_pool_t *tp, ngx_array_t *paths, ngx_log_t *log);

/* ngx_http_export_meta.c: metadata beside archives, recovery at start */
typedef struct {
    u_char                     *path;         /* the archive */
    size_t                      path_len;
    ngx_str_t                   run;
    u_char                     *id;
    ngx_uint_t                  style;
    ngx_uint_t                  keyed;
    ngx_uint_t                  cancelled;
    uint64_t                    serial;
    ngx_uint_t                  nreports;
    uint64_t                    created_ms;
    uint64_t                    finished_ms;
    ngx_str_t                   op;
    u_char                     *ref;
    ngx_uint_t                  state;
    time_t                      created;
    time_t                      finished;
    time_t                      ttl;
    off_t                       size;
    ngx_str_t                   error;
    ngx_uint_t                  nwarnings;
    ngx_uint_t                  nkept;
    ngx_http_export_warning_t  *warnings;
    ngx_str_t                   node;         /* that wrote it */
} ngx_http_export_meta_t;

void ngx_http_export_meta_path(u_char *dst, u_char *zip, size_t len);
ngx_int_t ngx_http_export_meta_write(ngx_http_export_meta_t *m,
    ngx_log_t *log);
void ngx_http_export_meta_recover(ngx_http_export_zone_t *zone,
    ngx_log_t *log);
void ngx_http_export_meta_sweep(ngx_http_export_zone_t *zone,
    ngx_log_t *log);

/* ngx_http_export_quota.c: per-client quota */
char *ngx_http_export_quota_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_export_quota(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_export_quota_check(ngx_conf_t *cf, ngx_array_t *quotas);
ngx_int_t ngx_http_export_quota_charge(ngx_http_request_t *r,
    ngx_http_export_loc_conf_t *elcf, ngx_http_export_quota_ref_t *refs,
    time_t *retry_after, ngx_http_export_quota_t **limit,
    ngx_uint_t *reason);
void ngx_http_export_quota_release(ngx_http_export_quota_ref_t *refs);
void ngx_http_export_quota_refund(ngx_http_export_quota_ref_t *refs,
    ngx_uint_t slots);
void ngx_http_export_quota_keep(ngx_http_export_quota_ref_t *dst,
    ngx_http_export_quota_ref_t *refs);
ngx_int_t ngx_http_export_quota_headers(ngx_http_request_t *r,
    ngx_http_export_loc_conf_t *elcf);

/* ngx_http_export_job.c: generation in a thread pool */
void ngx_http_export_job_exit(void);
void ngx_http_export_link_exit(void);
ngx_int_t ngx_http_export_job_start(ngx_http_export_zone_t *zone,
    ngx_http_export_task_t *task, ngx_log_t *log);
void ngx_http_export_dispatch(ngx_http_export_zone_t *zone, ngx_log_t *log);
void ngx_http_export_task_run(ngx_http_export_zone_t *zone,
    ngx_http_export_task_t *task);
void ngx_http_export_task_stop(ngx_http_export_zone_t *zone,
    ngx_http_export_task_t *task);
void ngx_http_export_reap(ngx_http_export_zone_t *zone, ngx_log_t *log);

/* ngx_http_export_json.c: response bodies */
ngx_int_t ngx_http_export_send_task(ngx_http_request_t *r,
    ngx_http_export_snapshot_t *snap, ngx_uint_t status);
ngx_int_t ngx_http_export_send_error(ngx_http_request_t *r,
    ngx_uint_t status, const char *code, ngx_str_t *message,
    const char *remediation, ngx_str_t *args, ngx_uint_t nargs,
    time_t retry_after);
ngx_int_t ngx_http_export_send_yajl(ngx_http_request_t *r, void *g,
    ngx_uint_t status);
ngx_int_t ngx_http_export_send_buf(ngx_http_request_t *r, ngx_buf_t *b,
    ngx_uint_t status, const char *type, size_t type_len);
const char *ngx_http_export_state_name(ngx_uint_t state);

/* ngx_http_export_link.c: signed download links */
ngx_int_t ngx_http_export_link_sign(ngx_http_request_t *r,
    ngx_http_export_snapshot_t *snap, u_char *id_text, ngx_str_t *url,
    time_t *expires);
ngx_int_t ngx_http_export_download_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_export_data_handler(ngx_http_request_t *r);
void ngx_http_export_hide_arg(ngx_http_request_t *r, const char *name);

/* ngx_http_export_styles.c: what the other APIs share */
ngx_int_t ngx_http_export_style_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_export_body_init(ngx_conf_t *cf);
ngx_int_t ngx_http_export_read_body(ngx_http_request_t *r, ngx_str_t *body);
ngx_int_t ngx_http_export_task_by_job(ngx_http_request_t *r, ngx_str_t *job,
    ngx_http_export_snapshot_t *snap);
ngx_int_t ngx_http_export_job_uri(ngx_http_request_t *r,
    ngx_http_export_loc_conf_t *elcf, ngx_http_export_snapshot_t *snap,
    ngx_str_t *uri);
ngx_int_t ngx_http_export_style_link(ngx_http_request_t *r,
    ngx_http_export_snapshot_t *snap, ngx_str_t *url);
ngx_int_t ngx_http_export_method(ngx_http_request_t *r, ngx_uint_t methods,
    const char *allow);
ngx_int_t ngx_http_export_retry_after(ngx_http_request_t *r,
    time_t retry_after);
const char *ngx_http_export_word(ngx_http_export_snapshot_t *snap,
    const char **words);

/* ngx_http_export_arcgis.c, _uniware.c, _webadmit.c: the three APIs */
ngx_int_t ngx_http_export_arcgis(ngx_http_request_t *r);
ngx_int_t ngx_http_export_arcgis_too_large(ngx_http_request_t *r);
ngx_int_t ngx_http_export_uniware(ngx_http_request_t *r);
ngx_int_t ngx_http_export_uniware_too_large(ngx_http_request_t *r);
ngx_int_t ngx_http_export_webadmit(ngx_http_request_t *r);
ngx_int_t ngx_http_export_webadmit_too_large(ngx_http_request_t *r);
ngx_int_t ngx_http_export_webadmit_init(ngx_conf_t *cf);

/* what ngx_http_export_start() needs and answers */
typedef struct {
    ngx_str_t                   run;          /* empty: named after the job */
    ngx_uint_t                  keyed;
    ngx_uint_t                  style;
    ngx_str_t                   source;       /* as in the spec */
    ngx_str_t                   folders;
    ngx_uint_t                  nsources;
    ngx_str_t                   op;

    ngx_uint_t                  status;       /* 0, 429 or 503 */
    ngx_uint_t                  existing;     /* an unfinished one */
    time_t                      retry_after;
    ngx_http_export_quota_t    *limit;        /* of a 429 */
    ngx_uint_t                  reason;
    const char                 *code;         /* of a 503, or NULL */
    const char                 *message;      /* of a 503 */
    const char                 *remediation;
    ngx_http_export_snapshot_t  snap;
} ngx_http_export_start_t;


/* the largest metadata file the store may hold, read whole */
#define NGX_HTTP_EXPORT_META_MAX   (256 * 1024)


/* yajl: a key from a literal, a string from a C string */
#define ngx_http_export_gen_key(g, s)                                         \
    yajl_gen_string(g, (const unsigned char *) s, sizeof(s) - 1)

#define ngx_http_export_gen_cstr(g, s)                                        \
    yajl_gen_string(g, (const unsigned char *) s, ngx_strlen(s))


/* ngx_http_export_handler.c: the API */
ngx_int_t ngx_http_export_start(ngx_http_request_t *r,
    ngx_http_export_loc_conf_t *elcf, ngx_http_export_start_t *st);
ngx_int_t ngx_http_export_start_run(ngx_http_request_t *r,
    ngx_http_export_loc_conf_t *elcf, ngx_uint_t style,
    ngx_http_export_start_t *st);
ngx_int_t ngx_http_export_source(ngx_http_request_t *r,
    ngx_http_export_loc_conf_t *elcf, ngx_str_t *run, ngx_str_t *source);
ngx_int_t ngx_http_export_add_header(ngx_http_request_t *r,
    const char *name, ngx_str_t *value);
ngx_int_t ngx_http_export_api_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_export_internal(ngx_http_request_t *r, const char *cause);
ngx_int_t ngx_http_export_store_busy(ngx_http_request_t *r);
ngx_int_t ngx_http_export_store_unavailable(ngx_http_request_t *r,
    const char *how);
ngx_int_t ngx_http_export_internal_error(ngx_http_request_t *r,
    ngx_int_t rc);
ngx_int_t ngx_http_export_serve_file(ngx_http_request_t *r,
    ngx_http_export_snapshot_t *snap);

/* ngx_http_export_status.c: export_status */
extern ngx_msec_t  ngx_http_export_buckets[NGX_HTTP_EXPORT_BUCKETS];
ngx_int_t ngx_http_export_status_handler(ngx_http_request_t *r);
void ngx_http_export_count_generation(ngx_http_export_stats_t *st,
    ngx_msec_t ms);
ngx_uint_t ngx_http_export_quota_entries(ngx_shm_zone_t *shm_zone);
ngx_uint_t ngx_http_export_is_quota_zone(ngx_shm_zone_t *shm_zone);

/* ngx_http_export_util.c */
void ngx_http_export_uuid(u_char *bin);
u_char *ngx_http_export_uuid_text(u_char *p, u_char *bin);
u_char *ngx_http_export_uint(u_char *p, uint64_t n);
u_char *ngx_http_export_rfc3339(u_char *p, time_t t);
ngx_int_t ngx_http_export_uuid_parse(u_char *bin, u_char *text, size_t len);
ngx_http_export_ctx_t *ngx_http_export_get_ctx(ngx_http_request_t *r);
uint64_t ngx_http_export_now_ms(void);
ngx_int_t ngx_http_export_run_id(ngx_http_request_t *r,
    ngx_http_complex_value_t *cv, ngx_uint_t style, ngx_str_t *run,
    ngx_str_t *value);
ngx_int_t ngx_http_export_run_check(ngx_pool_t *pool, ngx_str_t *value,
    ngx_uint_t style, ngx_str_t *run);


#endif /* _NGX_HTTP_EXPORT_MODULE_H_INCLUDED_ */
