
/*
 * Metadata beside each archive, so that a restart loses no finished
 * export: export-<run>-<task>.json next to export-<run>-<task>.zip,
 * written atomically (a temporary file renamed into place) by the job,
 * and read back when a new zone is made at start.  Temporary files of a
 * process that was stopped are removed then, and exports it left
 * unfinished are reported FAILED.
 */


#include "ngx_http_export_module.h"
#include "ngx_http_export_cluster.h"
#include "ngx_http_export_tmpfile.h"

#include <dirent.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>


#define NGX_HTTP_EXPORT_ORPHANS  16


typedef struct {
    ngx_http_export_zone_t     *zone;
    ngx_uint_t                  removed;
    ngx_uint_t                  left;
    ngx_uint_t                  expired;

    /* builds whose heartbeat stopped and that no request asked about */
    ngx_uint_t                  norphans;
    ngx_uint_t                  orphan_store[NGX_HTTP_EXPORT_ORPHANS];
    ngx_http_export_record_t    orphans[NGX_HTTP_EXPORT_ORPHANS];
} ngx_http_export_sweep_t;


static void ngx_http_export_sweep_thread(void *data, ngx_log_t *log);
static void ngx_http_export_sweep_done(ngx_event_t *ev);
static ngx_uint_t ngx_http_export_sweep_owned(void *data, const char *name);
static ngx_uint_t ngx_http_export_store_expire(ngx_http_export_zone_t *zone,
    ngx_str_t *store, time_t now, ngx_log_t *log);
static void ngx_http_export_sweep_orphans(ngx_http_export_sweep_t *sw,
    ngx_uint_t i, time_t now, ngx_log_t *log);
static ngx_int_t ngx_http_export_meta_load(ngx_http_export_zone_t *zone,
    ngx_str_t *store, int dfd, const char *name, time_t now, ngx_log_t *log);
static ngx_int_t ngx_http_export_meta_unlink(int dfd, const char *name,
    ngx_log_t *log);
static ngx_uint_t ngx_http_export_meta_name(const char *name, size_t len);


#define ngx_http_export_styles  ngx_http_export_style_words


/* export-<run>-<task>.json or .zip, <run> 1 to 64 characters */

static ngx_uint_t
ngx_http_export_meta_name(const char *name, size_t len)
{
    size_t  ext, min;

    if (ngx_strncmp(name, "export-", 7) != 0) {
        return 0;
    }

    if (len > 5 && ngx_strcmp(name + len - 5, ".json") == 0) {
        ext = 5;

    } else if (len > 4 && ngx_strcmp(name + len - 4, ".zip") == 0) {
        ext = 4;

    } else {
        return 0;
    }

    min = sizeof("export-x-") - 1 + NGX_HTTP_EXPORT_UUID_LEN + ext;

    return len >= min && len <= min - 1 + NGX_HTTP_EXPORT_RUN_MAX
           && name[len - ext - NGX_HTTP_EXPORT_UUID_LEN - 1] == '-';
}


/* the metadata file of an archive: ".zip" becomes ".json" */

void
ngx_http_export_meta_path(u_char *dst, u_char *zip, size_t len)
{
    ngx_memcpy(dst, zip, len - 4);
    ngx_memcpy(dst + len - 4, ".json", sizeof(".json"));
}


/*
 * Writes the metadata of a task; runs in a generation thread, so it uses
 * malloc() through yajl and plain system calls.
 */

ngx_int_t
ngx_http_export_meta_write(ngx_http_export_meta_t *m, ngx_log_t *log)
{
    int                   fd;
    u_char                path[NGX_MAX_PATH], tmp[NGX_MAX_PATH];
    u_char                text[NGX_HTTP_EXPORT_UUID_LEN];
    u_char               *slash;
    size_t                len;
    ssize_t               n;
    yajl_gen              g;
    ngx_uint_t            i;
    const unsigned char  *json;

    if (m->path_len + 2 > NGX_MAX_PATH) {
        return NGX_ERROR;
    }

    ngx_http_export_meta_path(path, m->path, m->path_len);

    /* .export-<task>.meta in the same directory, so rename() is atomic */

    slash = (u_char *) ngx_strlchr(path, path + m->path_len, '/');
    while (slash && ngx_strlchr(slash + 1, path + m->path_len, '/')) {
        slash = (u_char *) ngx_strlchr(slash + 1, path + m->path_len, '/');
    }

    if (slash == NULL) {
        return NGX_ERROR;
    }

    ngx_http_export_uuid_text(text, m->id);
    ngx_sprintf(tmp, "%*s/.export-%*s.meta%Z", (size_t) (slash - path), path,
                (size_t) NGX_HTTP_EXPORT_UUID_LEN, text);

    g = yajl_gen_alloc(NULL);
    if (g == NULL) {
        return NGX_ERROR;
    }

    yajl_gen_map_open(g);

    ngx_http_export_gen_key(g, "runId");
    yajl_gen_string(g, m->run.data, m->run.len);

    ngx_http_export_gen_key(g, "taskId");
    ngx_http_export_uuid_text(text, m->id);
    yajl_gen_string(g, text, NGX_HTTP_EXPORT_UUID_LEN);

    ngx_http_export_gen_key(g, "status");
    len = ngx_strlen(ngx_http_export_state_name(m->state));
    yajl_gen_string(g, (u_char *) ngx_http_export_state_name(m->state), len);

    ngx_http_export_gen_key(g, "created");
    yajl_gen_integer(g, m->created);
    ngx_http_export_gen_key(g, "finished");
    yajl_gen_integer(g, m->finished);
    ngx_http_export_gen_key(g, "ttl");
    yajl_gen_integer(g, m->ttl);
    ngx_http_export_gen_key(g, "size");
    yajl_gen_integer(g, m->size);

    ngx_http_export_gen_key(g, "style");
    yajl_gen_string(g, (u_char *) ngx_http_export_styles[m->style],
                    ngx_strlen(ngx_http_export_styles[m->style]));

    ngx_http_export_gen_key(g, "keyed");
    yajl_gen_bool(g, m->keyed ? 1 : 0);

    if (m->node.len) {
        ngx_http_export_gen_key(g, "node");
        yajl_gen_string(g, m->node.data, m->node.len);
    }

    ngx_http_export_gen_key(g, "serial");
    yajl_gen_integer(g, (long long) m->serial);

    ngx_http_export_gen_key(g, "reports");
    yajl_gen_integer(g, m->nreports);

    ngx_http_export_gen_key(g, "createdMs");
    yajl_gen_integer(g, (long long) m->created_ms);

    ngx_http_export_gen_key(g, "finishedMs");
    yajl_gen_integer(g, (long long) m->finished_ms);

    if (m->op.len) {
        ngx_http_export_gen_key(g, "operationURI");
        yajl_gen_string(g, m->op.data, m->op.len);
    }

    if (m->state == NGX_HTTP_EXPORT_FAILED) {
        ngx_http_export_gen_key(g, "error");
        yajl_gen_string(g, m->error.data, m->error.len);
        ngx_http_export_gen_key(g, "referenceToken");
        ngx_http_export_uuid_text(text, m->ref);
        yajl_gen_string(g, text, NGX_HTTP_EXPORT_UUID_LEN);
    }

    ngx_http_export_gen_key(g, "warningsTotal");
    yajl_gen_integer(g, m->nwarnings);

    ngx_http_export_gen_key(g, "warnings");
    yajl_gen_array_open(g);

    for (i = 0; i < m->nkept; i++) {
        yajl_gen_map_open(g);
        ngx_http_export_gen_key(g, "report");
        yajl_gen_string(g, m->warnings[i].report,
                        ngx_strlen(m->warnings[i].report));
        ngx_http_export_gen_key(g, "message");
        yajl_gen_string(g, m->warnings[i].reason,
                        ngx_strlen(m->warnings[i].reason));
        ngx_http_export_gen_key(g, "offset");
        yajl_gen_integer(g, (long long) m->warnings[i].offset);
        yajl_gen_map_close(g);
    }

    yajl_gen_array_close(g);
    yajl_gen_map_close(g);

    if (yajl_gen_get_buf(g, &json, &len) != yajl_gen_status_ok) {
        yajl_gen_free(g);
        return NGX_ERROR;
    }

    /* locked until renamed, as an archive is (ngx_http_export_tmpfile.c) */

    fd = ngx_http_export_tmp_create(tmp);
    if (fd == -1) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      "export: open() \"%s\" failed", tmp);
        yajl_gen_free(g);
        return NGX_ERROR;
    }

    n = write(fd, json, len);

    yajl_gen_free(g);

    if (n != (ssize_t) len || fsync(fd) == -1) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      "export: writing \"%s\" failed", tmp);
        (void) close(fd);
        (void) unlink((char *) tmp);
        return NGX_ERROR;
    }

    if (rename((char *) tmp, (char *) path) == -1) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      "export: moving \"%s\" to \"%s\" failed", tmp, path);
        (void) close(fd);
        (void) unlink((char *) tmp);
        return NGX_ERROR;
    }

    if (close(fd) == -1) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      "export: writing \"%s\" failed", path);
        (void) unlink((char *) path);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * At start, with a new zone: reads back what the stores hold.  Runs in
 * the master process before any worker exists.
 */

void
ngx_http_export_meta_recover(ngx_http_export_zone_t *zone, ngx_log_t *log)
{
    int              dfd;
    DIR             *dir;
    size_t           len;
    time_t           now;
    ngx_str_t       *store;
    ngx_uint_t       i, found, removed;
    struct stat      st;
    struct dirent   *de;
    u_char           json[NGX_MAX_PATH];

    if (zone->stores == NULL) {
        return;
    }

    now = ngx_time();
    store = zone->stores->elts;

    for (i = 0; i < zone->stores->nelts; i++) {

        dir = opendir((char *) store[i].data);
        if (dir == NULL) {
            ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                          "export: opendir() \"%V\" failed", &store[i]);
            continue;
        }

        dfd = dirfd(dir);
        found = 0;
        removed = 0;

        /* first the builds of this node that the stop interrupted */

        while ((de = readdir(dir)) != NULL) {
            len = ngx_strlen(de->d_name);

            if (len > 6 && ngx_strncmp(de->d_name, "export-", 7) == 0
                && ngx_strcmp(de->d_name + len - 6, ".claim") == 0)
            {
                ngx_http_export_recover_claim(zone, &store[i], de->d_name,
                                              log);
            }
        }

        rewinddir(dir);

        while ((de = readdir(dir)) != NULL) {
            len = ngx_strlen(de->d_name);

            /*
             * A temporary file whose writer is gone.  A writer holds a
             * lock on its file, so one that another nginx on the same
             * store is writing (a binary upgrade, another node) is left
             * alone; the workers' sweep takes it once that one is gone.
             */

            if (ngx_strncmp(de->d_name, ".export-", 8) == 0) {
                removed += (ngx_http_export_tmp_stale(dfd, de->d_name, now,
                                                      NULL, NULL, log)
                            == NGX_OK);
                continue;
            }

            if (!ngx_http_export_meta_name(de->d_name, len)) {
                continue;
            }

            if (ngx_strcmp(de->d_name + len - 5, ".json") == 0) {
                found += (ngx_http_export_meta_load(zone, &store[i], dfd,
                                                    de->d_name, now, log)
                          == NGX_OK);
                continue;
            }

            /* an archive without its metadata cannot be served again */

            if (len + 2 > sizeof(json)) {
                continue;
            }

            ngx_http_export_meta_path(json, (u_char *) de->d_name, len);

            if (fstatat(dfd, (char *) json, &st, 0) == -1
                && ngx_errno == NGX_ENOENT)
            {
                removed += (ngx_http_export_meta_unlink(dfd, de->d_name, log)
                            == NGX_OK);
            }
        }

        (void) closedir(dir);

        if (found || removed) {
            ngx_log_error(NGX_LOG_NOTICE, log, 0,
                          "export: store \"%V\": %ui exports found again, "
                          "%ui leftover files removed",
                          &store[i], found, removed);
        }
    }
}


/*
 * The start removes the temporary files that no writer holds then; a
 * file that a process still held (an nginx that was stopping while this
 * one started, a binary upgrade, another node) is left to this sweep:
 * worker 0, in the thread pool, every NGX_HTTP_EXPORT_SWEEP_SLOW ms, or
 * every NGX_HTTP_EXPORT_SWEEP_FAST ms while the last sweep left a file
 * that another process holds.  A readdir() of each store each time.
 */

#define NGX_HTTP_EXPORT_SWEEP_SLOW  60000
#define NGX_HTTP_EXPORT_SWEEP_FAST  5000

void
ngx_http_export_meta_sweep(ngx_http_export_zone_t *zone, ngx_log_t *log)
{
    ngx_http_export_sweep_t  *sw;

    if (ngx_worker != 0 || zone->stores == NULL || zone->thread_pool == NULL
        || zone->sweeping
        || (ngx_msec_int_t) (ngx_current_msec - zone->sweep_next) < 0)
    {
        return;
    }

    if (zone->sweep == NULL) {
        zone->sweep = ngx_thread_task_alloc(ngx_cycle->pool,
                                            sizeof(ngx_http_export_sweep_t));
        if (zone->sweep == NULL) {
            return;
        }

        sw = zone->sweep->ctx;
        sw->zone = zone;

        zone->sweep->handler = ngx_http_export_sweep_thread;
        zone->sweep->event.handler = ngx_http_export_sweep_done;
        zone->sweep->event.data = sw;
        zone->sweep->event.log = ngx_cycle->log;
    }

    if (ngx_thread_task_post(zone->thread_pool, zone->sweep) != NGX_OK) {
        zone->sweep_next = ngx_current_msec + NGX_HTTP_EXPORT_SWEEP_FAST;
        return;
    }

    zone->sweeping = 1;
}


static void
ngx_http_export_sweep_thread(void *data, ngx_log_t *log)
{
    ngx_http_export_sweep_t *sw = data;

    time_t      now;
    ngx_str_t  *store;
    ngx_uint_t  i;

    sw->removed = 0;
    sw->left = 0;
    sw->expired = 0;
    sw->norphans = 0;

    now = time(NULL);
    store = sw->zone->stores->elts;

    for (i = 0; i < sw->zone->stores->nelts; i++) {
        sw->removed += ngx_http_export_tmp_sweep(store[i].data, now,
                                                 ngx_http_export_sweep_owned,
                                                 sw->zone, &sw->left, log);
        sw->expired += ngx_http_export_store_expire(sw->zone, &store[i], now,
                                                    log);
        ngx_http_export_sweep_orphans(sw, i, now, log);
    }
}


/*
 * Builds of other nodes that nobody asked about and whose heartbeat has
 * not been rewritten for the lease (by the file's time: a hint only):
 * they are looked up, and the zone follows them from then on, so that
 * their takeover, judged on this node's own clock, does not wait for a
 * request.
 */

static void
ngx_http_export_sweep_orphans(ngx_http_export_sweep_t *sw, ngx_uint_t i,
    time_t now, ngx_log_t *log)
{
    DIR                       *dir;
    size_t                     len;
    ngx_str_t                  run, *store;
    ngx_uint_t                 known;
    struct stat                st;
    struct dirent             *de;
    ngx_http_export_zone_t    *zone;
    ngx_http_export_cstore_t   cs;
    ngx_http_export_record_t  *rec;

    zone = sw->zone;
    store = zone->stores->elts;

    dir = opendir((char *) store[i].data);
    if (dir == NULL) {
        return;
    }

    ngx_http_export_cstore(&cs, zone, &store[i]);
    cs.log = log;

    while ((de = readdir(dir)) != NULL
           && sw->norphans < NGX_HTTP_EXPORT_ORPHANS)
    {
        len = ngx_strlen(de->d_name);

        if (len <= sizeof("export-.beat") - 1
            || ngx_strncmp(de->d_name, "export-", 7) != 0
            || ngx_strcmp(de->d_name + len - 5, ".beat") != 0
            || fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW)
               == -1
            || (ngx_msec_t) (now - st.st_mtime) * 1000 < zone->lease)
        {
            continue;
        }

        run.data = (u_char *) de->d_name + 7;
        run.len = len - 7 - 5;

        if (!exp_name_check(run.data, run.len, EXP_RUN_MAX, 0)) {
            continue;
        }

        ngx_shmtx_lock(&zone->shpool->mutex);
        known = (ngx_http_export_task_find(zone, &run) != NULL);
        ngx_shmtx_unlock(&zone->shpool->mutex);

        if (known) {
            continue;
        }

        rec = &sw->orphans[sw->norphans];

        if (ngx_http_export_claim_lookup(&cs, &run, rec) == NGX_OK
            && rec->found == NGX_HTTP_EXPORT_REC_UNFINISHED
            && (rec->claim.node_len != zone->node.len
                || ngx_memcmp(rec->claim.node, zone->node.data,
                              zone->node.len) != 0))
        {
            ngx_shmtx_lock(&zone->shpool->mutex);
            known = (ngx_http_export_task_find_id(zone, rec->claim.id)
                     != NULL);
            ngx_shmtx_unlock(&zone->shpool->mutex);

            if (!known) {
                sw->orphan_store[sw->norphans++] = i;
                continue;
            }
        }

        ngx_http_export_record_free(rec);
    }

    (void) closedir(dir);
}


/*
 * Exports whose time is over, found in the store itself: those that no
 * node's zone holds (their node stopped, or let them go to make room)
 * are removed too.  A metadata file is read only when it is older than
 * the zone's shortest export_ttl.
 */

static ngx_uint_t
ngx_http_export_store_expire(ngx_http_export_zone_t *zone, ngx_str_t *store,
    time_t now, ngx_log_t *log)
{
    int                        fd;
    DIR                       *dir;
    char                      *buf;
    size_t                     len;
    ssize_t                    n;
    yajl_val                   root;
    ngx_str_t                  run;
    exp_meta_t                 m;
    ngx_uint_t                 expired;
    struct stat                st;
    struct dirent             *de;
    ngx_http_export_cstore_t   cs;

    dir = opendir((char *) store->data);
    if (dir == NULL) {
        return 0;
    }

    buf = ngx_alloc(NGX_HTTP_EXPORT_META_MAX + 1, log);
    if (buf == NULL) {
        (void) closedir(dir);
        return 0;
    }

    ngx_http_export_cstore(&cs, zone, store);
    cs.log = log;
    expired = 0;

    while ((de = readdir(dir)) != NULL) {
        len = ngx_strlen(de->d_name);

        if (!ngx_http_export_meta_name(de->d_name, len)
            || ngx_strcmp(de->d_name + len - 5, ".json") != 0
            || fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW)
               == -1
            || !S_ISREG(st.st_mode)
            || st.st_mtime + zone->min_ttl > now)
        {
            continue;
        }

        fd = openat(dirfd(dir), de->d_name, O_RDONLY|O_NOFOLLOW|O_CLOEXEC);
        if (fd == -1) {
            continue;
        }

        n = read(fd, buf, NGX_HTTP_EXPORT_META_MAX);
        (void) close(fd);

        if (n <= 0) {
            continue;
        }

        buf[n] = '\0';

        root = exp_meta_parse(buf, ngx_http_export_styles, &m);
        if (root == NULL) {
            continue;
        }

        if ((ngx_strcmp(m.state, "COMPLETED") == 0
             || ngx_strcmp(m.state, "FAILED") == 0)
            && m.finished + m.ttl <= now)
        {
            run.data = (u_char *) m.run;
            run.len = m.run_len;

            if (ngx_http_export_claim_expire(&cs, &run, m.id) == NGX_OK) {
                expired++;
            }
        }

        yajl_tree_free(root);
    }

    ngx_free(buf);
    (void) closedir(dir);

    return expired;
}


static void
ngx_http_export_sweep_done(ngx_event_t *ev)
{
    ngx_http_export_sweep_t *sw = ev->data;

    ngx_str_t               *store, run;
    ngx_uint_t               i;
    ngx_pool_t              *pool;
    ngx_http_export_zone_t  *zone;

    zone = sw->zone;
    zone->sweeping = 0;

    /* the zone follows the builds that nobody asked about */

    pool = sw->norphans ? ngx_create_pool(1024, ev->log) : NULL;
    store = zone->stores->elts;

    for (i = 0; i < sw->norphans; i++) {
        if (pool) {
            run.data = (u_char *) sw->orphans[i].claim.run;
            run.len = sw->orphans[i].claim.run_len;

            ngx_shmtx_lock(&zone->shpool->mutex);
            (void) ngx_http_export_apply(zone, &store[sw->orphan_store[i]],
                                         sw->orphans[i].claim.keyed
                                         ? &run : NULL,
                                         sw->orphans[i].claim.id,
                                         &sw->orphans[i], pool, ev->log);
            ngx_shmtx_unlock(&zone->shpool->mutex);
        }

        ngx_http_export_record_free(&sw->orphans[i]);
    }

    if (pool) {
        ngx_log_error(NGX_LOG_INFO, ev->log, 0,
                      "export: zone \"%V\": %ui exports of other nodes "
                      "whose heartbeat stopped are followed",
                      &zone->shm_zone->shm.name, sw->norphans);
        ngx_destroy_pool(pool);
    }

    sw->norphans = 0;
    zone->sweep_next = ngx_current_msec
                       + (sw->left ? NGX_HTTP_EXPORT_SWEEP_FAST
                                   : NGX_HTTP_EXPORT_SWEEP_SLOW);

    if (sw->removed) {
        ngx_log_error(NGX_LOG_NOTICE, ev->log, 0,
                      "export: zone \"%V\": %ui temporary files that no "
                      "export writes any more removed from the store",
                      &zone->shm_zone->shm.name, sw->removed);
    }

    if (sw->expired) {
        ngx_log_error(NGX_LOG_INFO, ev->log, 0,
                      "export: zone \"%V\": %ui exports whose time is over "
                      "removed from the store",
                      &zone->shm_zone->shm.name, sw->expired);
    }
}


/* .export-<task>.tmp or .meta of a task that a job of this node holds */

static ngx_uint_t
ngx_http_export_sweep_owned(void *data, const char *name)
{
    ngx_http_export_zone_t *zone = data;

    u_char                   id[16];
    ngx_uint_t               running;
    ngx_http_export_task_t  *task;

    if (ngx_strlen(name) < 8 + NGX_HTTP_EXPORT_UUID_LEN
        || ngx_http_export_uuid_parse(id, (u_char *) name + 8,
                                      NGX_HTTP_EXPORT_UUID_LEN)
           != NGX_OK)
    {
        return 0;
    }

    ngx_shmtx_lock(&zone->shpool->mutex);

    task = ngx_http_export_task_lookup_id(zone, id);
    running = (task != NULL && task->running);

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return running;
}


static ngx_int_t
ngx_http_export_meta_unlink(int dfd, const char *name, ngx_log_t *log)
{
    if (unlinkat(dfd, name, 0) == -1 && ngx_errno != NGX_ENOENT) {
        ngx_log_error(NGX_LOG_CRIT, log, ngx_errno,
                      "export: unlink() \"%s\" failed", name);
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_export_meta_load(ngx_http_export_zone_t *zone, ngx_str_t *store,
    int dfd, const char *name, time_t now, ngx_log_t *log)
{
    int                          fd;
    u_char                       buf[NGX_HTTP_EXPORT_META_MAX + 1];
    u_char                       zip[NGX_MAX_PATH];
    u_char                       text[NGX_HTTP_EXPORT_UUID_LEN];
    u_char                      *p;
    size_t                       len;
    ssize_t                      n;
    time_t                       finished;
    yajl_val                     root;
    ngx_str_t                    path, state, error, run;
    exp_meta_t                   m;
    struct stat                  st;
    ngx_http_export_spec_t       spec;
    ngx_http_export_task_t      *task, *old;

    u_char                       rbuf[EXP_RUN_MAX], id[16];
    size_t                       rlen;
    ngx_http_export_cstore_t     cs;

    static u_char  stopped[] = "nginx was stopped while the export was "
                               "being generated; start the export again";

    fd = openat(dfd, name, O_RDONLY|O_CLOEXEC);
    if (fd == -1) {
        return NGX_ERROR;
    }

    n = read(fd, buf, NGX_HTTP_EXPORT_META_MAX);
    (void) close(fd);

    if (n <= 0) {
        goto bad;
    }

    buf[n] = '\0';

    /* no runId or taskId that could be one: not ours to judge */

    root = exp_meta_parse((char *) buf, ngx_http_export_styles, &m);
    if (root == NULL) {
        goto bad;
    }

    run.data = (u_char *) m.run;
    run.len = m.run_len;

    /* for the removal of an expired export, after the document is freed */
    rlen = m.run_len;
    ngx_memcpy(rbuf, m.run, rlen);
    ngx_memcpy(id, m.id, 16);

    state.data = (u_char *) m.state;
    state.len = ngx_strlen(state.data);

    finished = m.finished;

    /* the archive's name is the metadata's, with .zip */

    len = ngx_strlen(name);
    p = ngx_sprintf(zip, "%V/%*s.zip%Z", store, len - 5, name);
    path.data = zip;
    path.len = p - zip - 1;

    if (state.len == sizeof("COMPLETED") - 1
        && ngx_strncmp(state.data, "COMPLETED", state.len) == 0)
    {
        if (finished + m.ttl <= now
            || fstatat(dfd, (char *) zip + store->len + 1, &st, 0) == -1)
        {
            yajl_tree_free(root);
            goto expired;
        }

    } else if (state.len == sizeof("FAILED") - 1
               && ngx_strncmp(state.data, "FAILED", state.len) == 0)
    {
        if (finished + m.ttl <= now) {
            yajl_tree_free(root);
            goto expired;
        }

    } else {
        /*
         * Unfinished: a build of this node that starts again (its claim
         * was read first), or of another node that is still at it, or of
         * a process that left no claim (an older version): FAILED since
         * it began.
         */

        ngx_sprintf(buf, "export-%V.claim%Z", &run);

        if (ngx_http_export_task_find_id(zone, m.id) != NULL
            || fstatat(dfd, (char *) buf, &st, 0) == 0)
        {
            yajl_tree_free(root);
            return NGX_DECLINED;
        }

        finished = m.has_created ? m.created : now;

        if (finished + m.ttl <= now) {
            yajl_tree_free(root);
            goto expired;
        }
    }

    /*
     * An export that another node finished is not taken into this zone
     * at start: a request for it finds it in the store.  Those of this
     * node, and those written before nodes were named, are.
     */

    if (m.node && (ngx_strlen(m.node) != zone->node.len
                   || ngx_strncmp(m.node, zone->node.data, zone->node.len)
                      != 0))
    {
        yajl_tree_free(root);
        return NGX_DECLINED;
    }

    /* one task per run: the newest metadata wins */

    old = m.keyed ? ngx_http_export_task_find(zone, &run) : NULL;

    if (old && m.has_created && old->created >= m.created) {
        yajl_tree_free(root);
        goto expired;
    }

    ngx_memzero(&spec, sizeof(ngx_http_export_spec_t));
    spec.store = *store;
    spec.ttl = m.ttl;

    if (m.op) {
        spec.op.data = (u_char *) m.op;
        spec.op.len = ngx_strlen(spec.op.data);
    }

    task = ngx_http_export_task_create(zone, &run, m.keyed, m.id, &path,
                                       &spec);
    if (task == NULL) {
        yajl_tree_free(root);
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "export: zone \"%V\" is too small to take back "
                      "\"%s\"", &zone->shm_zone->shm.name, name);
        return NGX_ERROR;
    }

    if (old) {
        /* an older export of the run, replaced before the stop */
        (void) unlink((char *) old->path);
        ngx_http_export_meta_path(buf, old->path, old->path_len);
        (void) unlink((char *) buf);
        ngx_http_export_task_remove(zone, old);
    }

    task->created = m.has_created ? m.created : now;
    task->finished = finished;
    task->expires = finished + m.ttl;
    task->style = m.style;

    /* its number in the zone stays, and new ones come after it */
    if (m.serial >= 0) {
        task->serial = m.serial;
    }

    if (task->serial > zone->sh->serial) {
        zone->sh->serial = task->serial;
    }

    task->nreports = m.reports >= 0
                     ? (uint32_t) ngx_min(m.reports, NGX_MAX_UINT32_VALUE)
                     : 0;
    task->created_ms = m.created_ms >= 0 ? (uint64_t) m.created_ms
                                         : (uint64_t) task->created * 1000;
    task->finished_ms = m.finished_ms >= 0 ? (uint64_t) m.finished_ms
                                           : (uint64_t) finished * 1000;
    task->updated_ms = task->finished_ms;

    task->size = (off_t) m.size;
    task->nwarnings = (ngx_uint_t) m.nwarnings;

    ngx_http_export_task_warnings(zone, task, &m);

    if (state.len == sizeof("COMPLETED") - 1
        && ngx_strncmp(state.data, "COMPLETED", state.len) == 0)
    {
        task->state = NGX_HTTP_EXPORT_COMPLETED;
        task->progress = NGX_HTTP_EXPORT_PROGRESS_MAX;
        yajl_tree_free(root);
        return NGX_OK;
    }

    task->state = NGX_HTTP_EXPORT_FAILED;

    error.data = (u_char *) m.error;

    if (error.data && m.has_ref) {
        error.len = ngx_strlen(error.data);
        ngx_memcpy(task->ref, m.ref, sizeof(m.ref));

    } else {
        error.data = stopped;
        error.len = sizeof(stopped) - 1;
        ngx_http_export_uuid(task->ref);
        ngx_http_export_uuid_text(text, m.id);

        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "export: task %*s of run %V was unfinished when "
                      "nginx stopped: it is FAILED",
                      (size_t) NGX_HTTP_EXPORT_UUID_LEN, text, &run);
    }

    task->error = ngx_slab_alloc_locked(zone->shpool, error.len);
    if (task->error) {
        ngx_memcpy(task->error, error.data, error.len);
        task->error_len = error.len;
    }

    yajl_tree_free(root);

    return NGX_OK;

expired:

    /* its claim and id file go with it, if the claim still names it */

    run.data = rbuf;
    run.len = rlen;

    ngx_http_export_cstore(&cs, zone, store);
    cs.log = log;

    (void) ngx_http_export_claim_expire(&cs, &run, id);

    return NGX_DECLINED;

bad:

    ngx_log_error(NGX_LOG_WARN, log, 0,
                  "export: metadata \"%V/%s\" cannot be read; it is "
                  "left alone", store, name);

    return NGX_ERROR;
}
