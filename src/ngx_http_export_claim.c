
/*
 * The store shared by nodes.  Beside each archive and its metadata
 * (export-<run>-<task>.zip and .json), a run has
 *
 *   export-<run>.claim   its current task: who builds it, at which
 *                        attempt, and how (sources, level, ...), so
 *                        that another node can take the build over;
 *                        it stays while the task is kept, finished or
 *                        not, and is how any node finds the run's task;
 *   export-<run>.beat    the builder's heartbeat: a counter and the
 *                        progress, rewritten about once a second;
 *   export-<run>.lock    held for the few system calls that change the
 *                        claim: made with O_EXCL, which NFS (v3 and
 *                        later) makes atomic, as it does rename();
 *   export-<task>.task   the run of a task found by its id (ArcGIS and
 *                        Uniware jobs).
 *
 * A claim changes only under its run's lock, after a fresh read: a new
 * task replaces a finished one, a takeover raises the attempt, a delete
 * removes it.  The heartbeat is written without the lock, by the one
 * builder the claim names; a builder that finds the claim changed stops.
 * export.changes holds a random token that a node rewrites when it
 * deletes or replaces a finished export, so that other nodes look again
 * at what they know of the store.
 *
 * Plain system calls: these run in thread pools, and in the master at
 * start.  Every file is written under a temporary name and renamed.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include <yajl/yajl_gen.h>

#include "ngx_http_export_module.h"
#include "ngx_http_export_claim.h"
#include "ngx_http_export_tmpfile.h"


#define NGX_HTTP_EXPORT_CLAIM_MAX   (64 * 1024)
#define NGX_HTTP_EXPORT_BEAT_MAX    1024


const char  *ngx_http_export_style_words[] = {
    "vmware", "arcgis", "uniware", "webadmit", NULL
};


static u_char *ngx_http_export_cpath(ngx_http_export_cstore_t *cs,
    u_char *buf, ngx_str_t *run, const char *ext);
static u_char *ngx_http_export_tpath(ngx_http_export_cstore_t *cs,
    u_char *buf, ngx_str_t *run, u_char *id, const char *ext);
static ngx_int_t ngx_http_export_cread(u_char *path, u_char *buf,
    size_t max, size_t *len);
static ngx_int_t ngx_http_export_cwrite(ngx_http_export_cstore_t *cs,
    u_char *path, u_char *id, const unsigned char *data, size_t len,
    ngx_uint_t sync);
static void ngx_http_export_cunlink(ngx_http_export_cstore_t *cs,
    u_char *path);
static ngx_int_t ngx_http_export_lock(ngx_http_export_cstore_t *cs,
    ngx_str_t *run, u_char *path);
static void ngx_http_export_unlock(ngx_http_export_cstore_t *cs,
    u_char *path);
static ngx_int_t ngx_http_export_claim_read(ngx_http_export_cstore_t *cs,
    ngx_str_t *run, ngx_http_export_record_t *rec);
static ngx_int_t ngx_http_export_claim_write(ngx_http_export_cstore_t *cs,
    ngx_http_export_claim_t *cl);
static ngx_int_t ngx_http_export_claim_rewrite(ngx_http_export_cstore_t *cs,
    ngx_str_t *run, ngx_http_export_record_t *rec, ngx_uint_t attempt);
static void ngx_http_export_gen_tree(yajl_gen g, yajl_val v,
    ngx_str_t *node, ngx_uint_t attempt);
static void ngx_http_export_remove_task(ngx_http_export_cstore_t *cs,
    ngx_str_t *run, u_char *id, ngx_uint_t indexed);
static ngx_uint_t ngx_http_export_same_node(ngx_http_export_cstore_t *cs,
    exp_claim_t *c);
static ngx_msec_t ngx_http_export_cmsec(void);


void
ngx_http_export_record_free(ngx_http_export_record_t *rec)
{
    if (rec->claim_doc) {
        yajl_tree_free(rec->claim_doc);
        rec->claim_doc = NULL;
    }

    if (rec->meta_doc) {
        yajl_tree_free(rec->meta_doc);
        rec->meta_doc = NULL;
    }

    if (rec->beat_doc) {
        yajl_tree_free(rec->beat_doc);
        rec->beat_doc = NULL;
    }
}


/* <store>/export-<run><ext> */

static u_char *
ngx_http_export_cpath(ngx_http_export_cstore_t *cs, u_char *buf,
    ngx_str_t *run, const char *ext)
{
    (void) ngx_snprintf(buf, NGX_MAX_PATH, "%*s/export-%V%s%Z",
                        cs->store_len, cs->store, run, ext);

    return buf;
}


/* <store>/export-<run>-<task><ext>, or export-<task><ext> without a run */

static u_char *
ngx_http_export_tpath(ngx_http_export_cstore_t *cs, u_char *buf,
    ngx_str_t *run, u_char *id, const char *ext)
{
    u_char  text[NGX_HTTP_EXPORT_UUID_LEN];

    ngx_http_export_uuid_text(text, id);

    if (run == NULL) {
        (void) ngx_snprintf(buf, NGX_MAX_PATH, "%*s/export-%*s%s%Z",
                            cs->store_len, cs->store,
                            (size_t) NGX_HTTP_EXPORT_UUID_LEN, text, ext);
        return buf;
    }

    (void) ngx_snprintf(buf, NGX_MAX_PATH, "%*s/export-%V-%*s%s%Z",
                        cs->store_len, cs->store, run,
                        (size_t) NGX_HTTP_EXPORT_UUID_LEN, text, ext);

    return buf;
}


/*
 * A small file of the store, whole: NGX_OK, NGX_DECLINED when there is
 * none, NGX_ABORT when it is not a regular file or larger than max,
 * NGX_ERROR with errno.  The buffer gets a NUL after the bytes.
 */

static ngx_int_t
ngx_http_export_cread(u_char *path, u_char *buf, size_t max, size_t *len)
{
    int          fd;
    ssize_t      n;
    ngx_err_t    err;
    struct stat  st;

    fd = open((char *) path, O_RDONLY|O_NOFOLLOW|O_NONBLOCK|O_CLOEXEC);

    if (fd == -1) {
        err = ngx_errno;
        return (err == NGX_ENOENT || err == NGX_ENOTDIR) ? NGX_DECLINED
               : (err == NGX_ELOOP ? NGX_ABORT : NGX_ERROR);
    }

    if (fstat(fd, &st) == -1) {
        err = ngx_errno;
        (void) close(fd);
        ngx_set_errno(err);
        return NGX_ERROR;
    }

    if (!S_ISREG(st.st_mode) || (size_t) st.st_size > max) {
        (void) close(fd);
        return NGX_ABORT;
    }

    n = read(fd, buf, max);
    err = ngx_errno;

    (void) close(fd);

    if (n == -1) {
        ngx_set_errno(err);
        return NGX_ERROR;
    }

    if ((size_t) n == max && (size_t) st.st_size != max) {
        return NGX_ABORT;
    }

    buf[n] = '\0';
    *len = n;

    return NGX_OK;
}


/*
 * Writes a file of the store whole: a temporary file, locked as every
 * temporary file of the store is (ngx_http_export_tmpfile.c), renamed
 * over the name.  Its name carries the task's id, the process and a
 * count, so that two writers never share one.
 */

static ngx_int_t
ngx_http_export_cwrite(ngx_http_export_cstore_t *cs, u_char *path,
    u_char *id, const unsigned char *data, size_t len, ngx_uint_t sync)
{
    int                 fd;
    u_char              tmp[NGX_MAX_PATH];
    u_char              text[NGX_HTTP_EXPORT_UUID_LEN];
    ssize_t             n;
    ngx_err_t           err;
    ngx_atomic_uint_t   count;

    static ngx_atomic_t  ngx_http_export_ccount;

    count = ngx_atomic_fetch_add(&ngx_http_export_ccount, 1);

    ngx_http_export_uuid_text(text, id);

    (void) ngx_snprintf(tmp, NGX_MAX_PATH, "%*s/.export-%*s.%P.%uA.part%Z",
                        cs->store_len, cs->store,
                        (size_t) NGX_HTTP_EXPORT_UUID_LEN, text,
                        ngx_pid, count);

    fd = ngx_http_export_tmp_create(tmp);
    if (fd == -1) {
        return NGX_ERROR;
    }

    n = write(fd, data, len);

    if (n != (ssize_t) len) {
        err = (n == -1) ? ngx_errno : NGX_ENOSPC;
        goto failed;
    }

    if (sync && fsync(fd) == -1) {
        err = ngx_errno;
        goto failed;
    }

    if (rename((char *) tmp, (char *) path) == -1) {
        err = ngx_errno;
        goto failed;
    }

    if (close(fd) == -1) {
        return NGX_ERROR;
    }

    return NGX_OK;

failed:

    (void) unlink((char *) tmp);
    (void) close(fd);
    ngx_set_errno(err);

    return NGX_ERROR;
}


static void
ngx_http_export_cunlink(ngx_http_export_cstore_t *cs, u_char *path)
{
    if (unlink((char *) path) == -1 && ngx_errno != NGX_ENOENT) {
        ngx_log_error(NGX_LOG_CRIT, cs->log, ngx_errno,
                      "export: unlink() \"%s\" failed", path);
    }
}


/*
 * The run's lock, for the few calls that change its claim.  A lock that
 * stays the very same file for the lease is left by a node that died
 * holding it: it is removed.  The lease is judged on this node's own
 * clock from when it first saw the file, so clocks of other nodes do not
 * matter.  NGX_BUSY when the lock stays taken by live nodes for two
 * leases.
 */

static ngx_int_t
ngx_http_export_lock(ngx_http_export_cstore_t *cs, ngx_str_t *run,
    u_char *path)
{
    int          fd;
    u_char       line[NGX_INT64_LEN * 2 + EXP_NODE_MAX + 4], *p;
    ngx_msec_t   start, seen, now;
    struct stat  st, last;

    ngx_http_export_cpath(cs, path, run, ".lock");

    start = ngx_http_export_cmsec();
    seen = start;
    ngx_memzero(&last, sizeof(struct stat));

    for ( ;; ) {
        fd = open((char *) path, O_WRONLY|O_CREAT|O_EXCL|O_CLOEXEC, 0644);

        if (fd != -1) {
            /* who holds it, for an operator who finds it */
            p = ngx_snprintf(line, sizeof(line), "%V %P\n", &cs->node,
                             ngx_pid);
            if (write(fd, line, p - line) == -1) {
                /* the line is only a hint: the lock is the file itself */
            }

            (void) close(fd);
            return NGX_OK;
        }

        if (ngx_errno != NGX_EEXIST) {
            ngx_log_error(NGX_LOG_ERR, cs->log, ngx_errno,
                          "export: open() \"%s\" failed", path);
            return NGX_ERROR;
        }

        now = ngx_http_export_cmsec();

        if (stat((char *) path, &st) == 0) {
            if (st.st_ino != last.st_ino || st.st_dev != last.st_dev
                || st.st_mtim.tv_sec != last.st_mtim.tv_sec
                || st.st_mtim.tv_nsec != last.st_mtim.tv_nsec)
            {
                last = st;
                seen = now;

            } else if (now - seen >= cs->lease) {
                ngx_log_error(NGX_LOG_WARN, cs->log, 0,
                              "export: run %V: lock \"%s\" was held for "
                              "the lease without change; removed",
                              run, path);
                (void) unlink((char *) path);
                ngx_memzero(&last, sizeof(struct stat));
                continue;
            }
        }

        if (now - start >= 2 * cs->lease) {
            ngx_log_error(NGX_LOG_ERR, cs->log, 0,
                          "export: run %V: lock \"%s\" stayed taken",
                          run, path);
            return NGX_BUSY;
        }

        ngx_msleep(5 + ngx_random() % 10);
    }
}


static void
ngx_http_export_unlock(ngx_http_export_cstore_t *cs, u_char *path)
{
    ngx_http_export_cunlink(cs, path);
}


/* the claim alone: rec->found NONE, UNFINISHED (for now), BAD or ERROR */

static ngx_int_t
ngx_http_export_claim_read(ngx_http_export_cstore_t *cs, ngx_str_t *run,
    ngx_http_export_record_t *rec)
{
    u_char     *buf;
    size_t      len;
    ngx_int_t   rc;

    ngx_http_export_cpath(cs, rec->file, run, ".claim");

    buf = ngx_alloc(NGX_HTTP_EXPORT_CLAIM_MAX + 1, cs->log);
    if (buf == NULL) {
        rec->found = NGX_HTTP_EXPORT_REC_ERROR;
        rec->err = NGX_ENOMEM;
        return NGX_ERROR;
    }

    rc = ngx_http_export_cread(rec->file, buf, NGX_HTTP_EXPORT_CLAIM_MAX,
                               &len);

    switch (rc) {

    case NGX_DECLINED:
        rec->found = NGX_HTTP_EXPORT_REC_NONE;
        ngx_free(buf);
        return NGX_OK;

    case NGX_ERROR:
        rec->found = NGX_HTTP_EXPORT_REC_ERROR;
        rec->err = ngx_errno;
        ngx_free(buf);
        return NGX_ERROR;

    case NGX_ABORT:
        rec->found = NGX_HTTP_EXPORT_REC_BAD;
        ngx_free(buf);
        return NGX_OK;
    }

    rec->claim_doc = exp_claim_parse((char *) buf,
                                     ngx_http_export_style_words,
                                     &rec->claim);
    ngx_free(buf);

    if (rec->claim_doc == NULL
        || rec->claim.run_len != run->len
        || ngx_memcmp(rec->claim.run, run->data, run->len) != 0)
    {
        rec->found = NGX_HTTP_EXPORT_REC_BAD;
        return NGX_OK;
    }

    rec->found = NGX_HTTP_EXPORT_REC_UNFINISHED;

    return NGX_OK;
}


/*
 * What the store says of a run: its claim, then the metadata of the
 * task it names (finished or not), then, while unfinished, the builder's
 * heartbeat.  The metadata and heartbeat of another task or attempt are
 * not the claim's and do not count.
 */

ngx_int_t
ngx_http_export_claim_lookup(ngx_http_export_cstore_t *cs, ngx_str_t *run,
    ngx_http_export_record_t *rec)
{
    u_char      path[NGX_MAX_PATH], *buf;
    size_t      len;
    ngx_int_t   rc;
    ngx_uint_t  finished;

    ngx_memzero(rec, sizeof(ngx_http_export_record_t));

    rc = ngx_http_export_claim_read(cs, run, rec);

    if (rc != NGX_OK || rec->found != NGX_HTTP_EXPORT_REC_UNFINISHED) {
        return rc;
    }

    buf = ngx_alloc(NGX_HTTP_EXPORT_META_MAX + 1, cs->log);
    if (buf == NULL) {
        rec->found = NGX_HTTP_EXPORT_REC_ERROR;
        rec->err = NGX_ENOMEM;
        return NGX_ERROR;
    }

    ngx_http_export_tpath(cs, path, run, rec->claim.id, ".json");

    rc = ngx_http_export_cread(path, buf, NGX_HTTP_EXPORT_META_MAX, &len);

    if (rc == NGX_ERROR) {
        rec->found = NGX_HTTP_EXPORT_REC_ERROR;
        rec->err = ngx_errno;
        ngx_memcpy(rec->file, path, ngx_strlen(path) + 1);
        ngx_free(buf);
        return NGX_ERROR;
    }

    finished = 0;

    if (rc == NGX_OK) {
        rec->meta_doc = exp_meta_parse((char *) buf,
                                       ngx_http_export_style_words,
                                       &rec->meta);

        if (rec->meta_doc
            && ngx_memcmp(rec->meta.id, rec->claim.id, 16) == 0
            && (ngx_strcmp(rec->meta.state, "COMPLETED") == 0
                || ngx_strcmp(rec->meta.state, "FAILED") == 0))
        {
            finished = 1;
        }

        if (rec->meta_doc == NULL) {
            /* the claim stands: its build is looked after as unfinished */
            ngx_log_error(NGX_LOG_WARN, cs->log, 0,
                          "export: run %V: metadata \"%s\" in the export "
                          "store cannot be read; the export counts as "
                          "unfinished", run, path);
        }
    }

    if (finished) {
        rec->found = NGX_HTTP_EXPORT_REC_FINISHED;
        ngx_free(buf);
        return NGX_OK;
    }

    ngx_http_export_cpath(cs, path, run, ".beat");

    if (ngx_http_export_cread(path, buf, NGX_HTTP_EXPORT_BEAT_MAX, &len)
        == NGX_OK)
    {
        rec->beat_doc = exp_beat_parse((char *) buf, &rec->beat);

        if (rec->beat_doc
            && (ngx_memcmp(rec->beat.id, rec->claim.id, 16) != 0
                || rec->beat.attempt != rec->claim.attempt))
        {
            /* of an attempt before the claim's: not its heartbeat */
            yajl_tree_free(rec->beat_doc);
            rec->beat_doc = NULL;
        }
    }

    ngx_free(buf);

    return NGX_OK;
}


/* a task by its id: export-<task>.task names its run */

ngx_int_t
ngx_http_export_claim_lookup_id(ngx_http_export_cstore_t *cs, u_char *id,
    ngx_http_export_record_t *rec)
{
    u_char      path[NGX_MAX_PATH], buf[EXP_RUN_MAX + 2];
    size_t      len;
    ngx_int_t   rc;
    ngx_str_t   run;

    ngx_memzero(rec, sizeof(ngx_http_export_record_t));

    ngx_http_export_tpath(cs, path, NULL, id, ".task");

    rc = ngx_http_export_cread(path, buf, EXP_RUN_MAX + 1, &len);

    if (rc == NGX_DECLINED) {
        rec->found = NGX_HTTP_EXPORT_REC_NONE;
        return NGX_OK;
    }

    if (rc == NGX_ERROR) {
        rec->found = NGX_HTTP_EXPORT_REC_ERROR;
        rec->err = ngx_errno;
        ngx_memcpy(rec->file, path, ngx_strlen(path) + 1);
        return NGX_ERROR;
    }

    if (rc == NGX_ABORT || !exp_name_check(buf, len, EXP_RUN_MAX, 0)) {
        rec->found = NGX_HTTP_EXPORT_REC_BAD;
        ngx_memcpy(rec->file, path, ngx_strlen(path) + 1);
        return NGX_OK;
    }

    run.data = buf;
    run.len = len;

    rc = ngx_http_export_claim_lookup(cs, &run, rec);

    if (rc == NGX_OK
        && (rec->found == NGX_HTTP_EXPORT_REC_UNFINISHED
            || rec->found == NGX_HTTP_EXPORT_REC_FINISHED)
        && ngx_memcmp(rec->claim.id, id, 16) != 0)
    {
        /* the run has another task now: this one is gone */
        ngx_http_export_record_free(rec);
        rec->found = NGX_HTTP_EXPORT_REC_NONE;
    }

    return rc;
}


/*
 * Claims a run for a new task, or finds the unfinished task that another
 * POST, here or on another node, claimed first: NGX_OK when "mine" is
 * now the run's claim (rec then says what it replaced: NONE, BAD or
 * FINISHED, whose files are gone), NGX_DECLINED with rec the unfinished
 * task to join, NGX_BUSY, or NGX_ERROR when the store cannot be read or
 * written (errno).
 */

ngx_int_t
ngx_http_export_claim_start(ngx_http_export_cstore_t *cs,
    ngx_http_export_claim_t *mine, ngx_http_export_record_t *rec)
{
    u_char      lock[NGX_MAX_PATH];
    ngx_err_t   err;
    ngx_int_t   rc;

    ngx_memzero(rec, sizeof(ngx_http_export_record_t));

    rc = ngx_http_export_lock(cs, &mine->run, lock);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_export_claim_lookup(cs, &mine->run, rec);

    if (rc != NGX_OK) {
        err = ngx_errno;
        ngx_http_export_unlock(cs, lock);
        ngx_set_errno(err);
        return NGX_ERROR;
    }

    if (rec->found == NGX_HTTP_EXPORT_REC_UNFINISHED) {
        ngx_http_export_unlock(cs, lock);
        return NGX_DECLINED;
    }

    if (ngx_http_export_claim_write(cs, mine) != NGX_OK) {
        err = ngx_errno;
        ngx_http_export_unlock(cs, lock);
        ngx_set_errno(err);
        return NGX_ERROR;
    }

    ngx_http_export_unlock(cs, lock);

    if (rec->found == NGX_HTTP_EXPORT_REC_BAD) {
        ngx_log_error(NGX_LOG_WARN, cs->log, 0,
                      "export: run %V: \"%s\" could not be read as a "
                      "claim; a new export replaced it",
                      &mine->run, rec->file);
    }

    if (rec->found == NGX_HTTP_EXPORT_REC_FINISHED
        && ngx_memcmp(rec->claim.id, mine->id, 16) != 0)
    {
        /* the finished export it replaces: other nodes look again */
        ngx_http_export_remove_task(cs, &mine->run, rec->claim.id,
                                    rec->claim.indexed);
        (void) ngx_http_export_claim_bump(cs);
    }

    return NGX_OK;
}


/*
 * The builder's look at its claim, about once a second, and its
 * heartbeat: NGX_OK (and the heartbeat written), NGX_DECLINED when the
 * claim is gone or names another task (the export was deleted), NGX_ABORT
 * when another node or a later attempt holds it (taken over), NGX_ERROR
 * when the store cannot be read: the build goes on.
 */

ngx_int_t
ngx_http_export_claim_check(ngx_http_export_cstore_t *cs, ngx_str_t *run,
    u_char *id, ngx_uint_t attempt, ngx_uint_t progress, ngx_uint_t state,
    uint64_t beat)
{
    u_char                    path[NGX_MAX_PATH], text[NGX_HTTP_EXPORT_UUID_LEN];
    size_t                    len;
    ngx_int_t                 rc;
    yajl_gen                  g;
    const char               *name;
    const unsigned char      *json;
    ngx_http_export_record_t  rec;

    ngx_memzero(&rec, sizeof(ngx_http_export_record_t));

    if (ngx_http_export_claim_read(cs, run, &rec) != NGX_OK) {
        return NGX_ERROR;
    }

    if (rec.found != NGX_HTTP_EXPORT_REC_UNFINISHED
        || ngx_memcmp(rec.claim.id, id, 16) != 0)
    {
        rc = (rec.found == NGX_HTTP_EXPORT_REC_BAD) ? NGX_ABORT
                                                    : NGX_DECLINED;
        ngx_http_export_record_free(&rec);
        return rc;
    }

    if (!ngx_http_export_same_node(cs, &rec.claim)
        || (ngx_uint_t) rec.claim.attempt != attempt)
    {
        ngx_http_export_record_free(&rec);
        return NGX_ABORT;
    }

    ngx_http_export_record_free(&rec);

    g = yajl_gen_alloc(NULL);
    if (g == NULL) {
        return NGX_ERROR;
    }

    name = ngx_http_export_state_name(state);
    ngx_http_export_uuid_text(text, id);

    yajl_gen_map_open(g);
    ngx_http_export_gen_key(g, "taskId");
    yajl_gen_string(g, text, NGX_HTTP_EXPORT_UUID_LEN);
    ngx_http_export_gen_key(g, "attempt");
    yajl_gen_integer(g, attempt);
    ngx_http_export_gen_key(g, "node");
    yajl_gen_string(g, cs->node.data, cs->node.len);
    ngx_http_export_gen_key(g, "beat");
    yajl_gen_integer(g, (long long) beat);
    ngx_http_export_gen_key(g, "progress");
    yajl_gen_integer(g, progress);
    ngx_http_export_gen_key(g, "status");
    yajl_gen_string(g, (const unsigned char *) name, ngx_strlen(name));
    yajl_gen_map_close(g);

    rc = NGX_ERROR;

    if (yajl_gen_get_buf(g, &json, &len) == yajl_gen_status_ok) {
        ngx_http_export_cpath(cs, path, run, ".beat");
        rc = ngx_http_export_cwrite(cs, path, id, json, len, 0);
    }

    yajl_gen_free(g);

    return rc;
}


/*
 * A build started again on this node (its worker died, or nginx was
 * restarted): the claim's attempt is raised to this one, if the claim is
 * still this node's.  As ngx_http_export_claim_check().
 */

ngx_int_t
ngx_http_export_claim_attempt(ngx_http_export_cstore_t *cs, ngx_str_t *run,
    u_char *id, ngx_uint_t attempt)
{
    u_char                    lock[NGX_MAX_PATH];
    ngx_int_t                 rc;
    ngx_http_export_record_t  rec;

    rc = ngx_http_export_lock(cs, run, lock);
    if (rc != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_memzero(&rec, sizeof(ngx_http_export_record_t));

    if (ngx_http_export_claim_read(cs, run, &rec) != NGX_OK) {
        rc = NGX_ERROR;

    } else if (rec.found != NGX_HTTP_EXPORT_REC_UNFINISHED
               || ngx_memcmp(rec.claim.id, id, 16) != 0)
    {
        rc = NGX_DECLINED;

    } else if (!ngx_http_export_same_node(cs, &rec.claim)
               || (ngx_uint_t) rec.claim.attempt > attempt)
    {
        rc = NGX_ABORT;

    } else if ((ngx_uint_t) rec.claim.attempt == attempt) {
        rc = NGX_OK;

    } else {
        rc = ngx_http_export_claim_rewrite(cs, run, &rec, attempt);
    }

    ngx_http_export_unlock(cs, lock);
    ngx_http_export_record_free(&rec);

    return rc;
}


/*
 * Takes over the build of a run whose builder stopped: the caller saw
 * the claim's attempt and heartbeat unchanged for the lease.  Under the
 * lock, and only if they are still what the caller saw, this node
 * becomes the builder at the next attempt: NGX_OK, rec the claim now.
 * Of several nodes that saw the same stale claim, one gets NGX_OK; the
 * others find it changed: NGX_DECLINED, rec what the store says now.
 */

ngx_int_t
ngx_http_export_claim_takeover(ngx_http_export_cstore_t *cs, ngx_str_t *run,
    u_char *id, ngx_uint_t attempt, uint64_t beat, ngx_uint_t beat_found,
    ngx_http_export_record_t *rec)
{
    u_char      lock[NGX_MAX_PATH];
    ngx_int_t   rc;

    ngx_memzero(rec, sizeof(ngx_http_export_record_t));

    rc = ngx_http_export_lock(cs, run, lock);
    if (rc != NGX_OK) {
        return NGX_ERROR;
    }

    rc = ngx_http_export_claim_lookup(cs, run, rec);

    if (rc == NGX_OK) {
        if (rec->found != NGX_HTTP_EXPORT_REC_UNFINISHED
            || ngx_memcmp(rec->claim.id, id, 16) != 0
            || (ngx_uint_t) rec->claim.attempt != attempt
            || (rec->beat_doc != NULL) != (beat_found != 0)
            || (rec->beat_doc && (uint64_t) rec->beat.beat != beat)
            || rec->claim.attempt >= EXP_ATTEMPTS_MAX)
        {
            rc = NGX_DECLINED;

        } else {
            rc = ngx_http_export_claim_rewrite(cs, run, rec, attempt + 1);
        }
    }

    ngx_http_export_unlock(cs, lock);

    if (rc == NGX_OK) {
        /* what the claim says now */
        ngx_http_export_record_free(rec);
        rc = ngx_http_export_claim_lookup(cs, run, rec);

        if (rc == NGX_OK
            && (rec->found != NGX_HTTP_EXPORT_REC_UNFINISHED
                || !ngx_http_export_same_node(cs, &rec->claim)))
        {
            rc = NGX_DECLINED;
        }
    }

    return rc;
}


/*
 * Removes a run's export, finished or not (its builder stops at its
 * next look at the claim): NGX_OK and rec what was removed, NGX_DECLINED
 * when the run has no export (or, with an id, not that one).
 */

ngx_int_t
ngx_http_export_claim_delete(ngx_http_export_cstore_t *cs, ngx_str_t *run,
    u_char *id, ngx_http_export_record_t *rec)
{
    u_char      lock[NGX_MAX_PATH], path[NGX_MAX_PATH];
    ngx_int_t   rc;

    ngx_memzero(rec, sizeof(ngx_http_export_record_t));

    rc = ngx_http_export_lock(cs, run, lock);
    if (rc != NGX_OK) {
        return NGX_ERROR;
    }

    rc = ngx_http_export_claim_lookup(cs, run, rec);

    if (rc == NGX_OK) {
        if (rec->found == NGX_HTTP_EXPORT_REC_NONE
            || (rec->found != NGX_HTTP_EXPORT_REC_BAD && id
                && ngx_memcmp(rec->claim.id, id, 16) != 0))
        {
            rc = NGX_DECLINED;

        } else {
            ngx_http_export_cunlink(cs, ngx_http_export_cpath(cs, path, run,
                                                              ".claim"));
            ngx_http_export_cunlink(cs, ngx_http_export_cpath(cs, path, run,
                                                              ".beat"));
        }
    }

    ngx_http_export_unlock(cs, lock);

    if (rc == NGX_OK && rec->found != NGX_HTTP_EXPORT_REC_BAD) {
        ngx_http_export_remove_task(cs, run, rec->claim.id,
                                    rec->claim.indexed);
    }

    if (rc == NGX_OK) {
        (void) ngx_http_export_claim_bump(cs);
    }

    return rc;
}


/*
 * Removes a finished export whose time is over.  Any node may, and two
 * at once remove it once: the claim goes under the lock, and only while
 * it names this task; the task's own files go whatever the claim says.
 */

ngx_int_t
ngx_http_export_claim_expire(ngx_http_export_cstore_t *cs, ngx_str_t *run,
    u_char *id)
{
    u_char                    lock[NGX_MAX_PATH], path[NGX_MAX_PATH];
    ngx_uint_t                indexed;
    ngx_http_export_record_t  rec;

    if (ngx_http_export_lock(cs, run, lock) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_memzero(&rec, sizeof(ngx_http_export_record_t));

    indexed = 1;

    if (ngx_http_export_claim_read(cs, run, &rec) == NGX_OK
        && rec.found == NGX_HTTP_EXPORT_REC_UNFINISHED
        && ngx_memcmp(rec.claim.id, id, 16) == 0)
    {
        indexed = rec.claim.indexed;
        ngx_http_export_cunlink(cs, ngx_http_export_cpath(cs, path, run,
                                                          ".claim"));
        ngx_http_export_cunlink(cs, ngx_http_export_cpath(cs, path, run,
                                                          ".beat"));
    }

    ngx_http_export_unlock(cs, lock);
    ngx_http_export_record_free(&rec);

    ngx_http_export_remove_task(cs, run, id, indexed);

    return NGX_OK;
}


/*
 * The build ended and its metadata is written: its heartbeat goes.
 * NGX_DECLINED when the claim no longer names the task (the export was
 * deleted meanwhile): the caller removes what it wrote.
 */

ngx_int_t
ngx_http_export_claim_done(ngx_http_export_cstore_t *cs, ngx_str_t *run,
    u_char *id, ngx_uint_t attempt)
{
    u_char                    path[NGX_MAX_PATH];
    ngx_int_t                 rc;
    ngx_http_export_record_t  rec;

    ngx_memzero(&rec, sizeof(ngx_http_export_record_t));

    if (ngx_http_export_claim_read(cs, run, &rec) != NGX_OK) {
        return NGX_ERROR;
    }

    rc = NGX_OK;

    if (rec.found != NGX_HTTP_EXPORT_REC_UNFINISHED
        || ngx_memcmp(rec.claim.id, id, 16) != 0)
    {
        rc = NGX_DECLINED;

    } else if (ngx_http_export_same_node(cs, &rec.claim)
               && (ngx_uint_t) rec.claim.attempt == attempt)
    {
        ngx_http_export_cunlink(cs, ngx_http_export_cpath(cs, path, run,
                                                          ".beat"));
    }

    ngx_http_export_record_free(&rec);

    return rc;
}


/* other nodes: look again at what you know */

ngx_int_t
ngx_http_export_claim_bump(ngx_http_export_cstore_t *cs)
{
    u_char  path[NGX_MAX_PATH], token[16];
    u_char  text[NGX_HTTP_EXPORT_UUID_LEN];

    ngx_http_export_uuid(token);
    ngx_http_export_uuid_text(text, token);

    (void) ngx_snprintf(path, NGX_MAX_PATH, "%*s/export.changes%Z",
                        cs->store_len, cs->store);

    if (ngx_http_export_cwrite(cs, path, token, text,
                               NGX_HTTP_EXPORT_UUID_LEN, 0)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, cs->log, ngx_errno,
                      "export: writing \"%s\" failed", path);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* the store's change token: 16 bytes, zero when there is none */

ngx_int_t
ngx_http_export_claim_token(ngx_http_export_cstore_t *cs, u_char *token)
{
    u_char      path[NGX_MAX_PATH], buf[NGX_HTTP_EXPORT_UUID_LEN + 2];
    size_t      len;
    ngx_int_t   rc;

    (void) ngx_snprintf(path, NGX_MAX_PATH, "%*s/export.changes%Z",
                        cs->store_len, cs->store);

    ngx_memzero(token, 16);

    rc = ngx_http_export_cread(path, buf, NGX_HTTP_EXPORT_UUID_LEN + 1,
                               &len);

    if (rc == NGX_OK
        && ngx_http_export_uuid_parse(token, buf, len) != NGX_OK)
    {
        /* not a token, but it changed all the same: make one of it */
        ngx_memzero(token, 16);
        ngx_memcpy(token, buf, ngx_min(len, 16));
    }

    return (rc == NGX_ERROR) ? NGX_ERROR : NGX_OK;
}


/* a new claim from the task's fields, in the JSON that exp_claim_parse() reads */

static ngx_int_t
ngx_http_export_claim_write(ngx_http_export_cstore_t *cs,
    ngx_http_export_claim_t *cl)
{
    u_char               *p, *last;
    u_char                path[NGX_MAX_PATH];
    u_char                text[NGX_HTTP_EXPORT_UUID_LEN];
    size_t                len;
    ngx_int_t             rc;
    yajl_gen              g;
    ngx_uint_t            i, k;
    ngx_str_t            *list;
    const unsigned char  *json;
    const char           *style;

    g = yajl_gen_alloc(NULL);
    if (g == NULL) {
        ngx_set_errno(NGX_ENOMEM);
        return NGX_ERROR;
    }

    ngx_http_export_uuid_text(text, cl->id);
    style = ngx_http_export_style_words[cl->style];

    yajl_gen_map_open(g);
    ngx_http_export_gen_key(g, "runId");
    yajl_gen_string(g, cl->run.data, cl->run.len);
    ngx_http_export_gen_key(g, "taskId");
    yajl_gen_string(g, text, NGX_HTTP_EXPORT_UUID_LEN);
    ngx_http_export_gen_key(g, "node");
    yajl_gen_string(g, cl->node.data, cl->node.len);
    ngx_http_export_gen_key(g, "attempt");
    yajl_gen_integer(g, cl->attempt);
    ngx_http_export_gen_key(g, "style");
    yajl_gen_string(g, (const unsigned char *) style, ngx_strlen(style));
    ngx_http_export_gen_key(g, "keyed");
    yajl_gen_bool(g, cl->keyed ? 1 : 0);
    ngx_http_export_gen_key(g, "indexed");
    yajl_gen_bool(g, cl->indexed ? 1 : 0);
    ngx_http_export_gen_key(g, "serial");
    yajl_gen_integer(g, (long long) cl->serial);
    ngx_http_export_gen_key(g, "created");
    yajl_gen_integer(g, (long long) cl->created);
    ngx_http_export_gen_key(g, "createdMs");
    yajl_gen_integer(g, (long long) cl->created_ms);

    if (cl->op.len) {
        ngx_http_export_gen_key(g, "operationURI");
        yajl_gen_string(g, cl->op.data, cl->op.len);
    }

    /* "a\0b\0" lists as arrays of strings */

    for (k = 0; k < 2; k++) {
        list = (k == 0) ? &cl->sources : &cl->folders;

        if (k == 0) {
            ngx_http_export_gen_key(g, "sources");
        } else {
            ngx_http_export_gen_key(g, "folders");
        }

        yajl_gen_array_open(g);

        p = list->data;
        last = list->data + list->len;

        for (i = 0; i < cl->nsources && p < last; i++) {
            len = ngx_strlen(p);
            yajl_gen_string(g, p, len);
            p += len + 1;
        }

        yajl_gen_array_close(g);
    }

    ngx_http_export_gen_key(g, "threadPool");
    yajl_gen_string(g, cl->thread_pool.data, cl->thread_pool.len);
    ngx_http_export_gen_key(g, "level");
    yajl_gen_integer(g, cl->level);
    ngx_http_export_gen_key(g, "ttl");
    yajl_gen_integer(g, (long long) cl->ttl);
    ngx_http_export_gen_key(g, "maxReportSize");
    yajl_gen_integer(g, (long long) cl->max_report_size);
    ngx_http_export_gen_key(g, "maxColumns");
    yajl_gen_integer(g, cl->max_columns);
    ngx_http_export_gen_key(g, "formulaGuard");
    yajl_gen_bool(g, cl->formula_guard ? 1 : 0);
    ngx_http_export_gen_key(g, "csvBom");
    yajl_gen_bool(g, cl->csv_bom ? 1 : 0);
    ngx_http_export_gen_key(g, "symlinks");
    yajl_gen_integer(g, cl->symlinks);
    ngx_http_export_gen_key(g, "symlinksFrom");
    yajl_gen_string(g, cl->symlinks_from.data, cl->symlinks_from.len);
    yajl_gen_map_close(g);

    rc = NGX_ERROR;
    ngx_set_errno(NGX_ENOMEM);

    if (yajl_gen_get_buf(g, &json, &len) == yajl_gen_status_ok) {
        ngx_http_export_cpath(cs, path, &cl->run, ".claim");
        rc = ngx_http_export_cwrite(cs, path, cl->id, json, len, 1);
    }

    yajl_gen_free(g);

    if (rc != NGX_OK || !cl->indexed) {
        return rc;
    }

    ngx_http_export_tpath(cs, path, NULL, cl->id, ".task");

    return ngx_http_export_cwrite(cs, path, cl->id, cl->run.data,
                                  cl->run.len, 0);
}


/* the claim as read, with this node and another attempt; under the lock */

static ngx_int_t
ngx_http_export_claim_rewrite(ngx_http_export_cstore_t *cs, ngx_str_t *run,
    ngx_http_export_record_t *rec, ngx_uint_t attempt)
{
    u_char               path[NGX_MAX_PATH];
    size_t               len;
    ngx_int_t            rc;
    yajl_gen             g;
    const unsigned char *json;

    g = yajl_gen_alloc(NULL);
    if (g == NULL) {
        return NGX_ERROR;
    }

    ngx_http_export_gen_tree(g, rec->claim_doc, &cs->node, attempt);

    rc = NGX_ERROR;

    if (yajl_gen_get_buf(g, &json, &len) == yajl_gen_status_ok) {
        ngx_http_export_cpath(cs, path, run, ".claim");
        rc = ngx_http_export_cwrite(cs, path, rec->claim.id, json, len, 1);
    }

    yajl_gen_free(g);

    return rc;
}


/* a parsed document written again, "node" and "attempt" of the top changed */

static void
ngx_http_export_gen_tree(yajl_gen g, yajl_val v, ngx_str_t *node,
    ngx_uint_t attempt)
{
    size_t       i;
    const char  *key;

    if (YAJL_IS_OBJECT(v)) {
        yajl_gen_map_open(g);

        for (i = 0; i < YAJL_GET_OBJECT(v)->len; i++) {
            key = YAJL_GET_OBJECT(v)->keys[i];
            yajl_gen_string(g, (const unsigned char *) key, ngx_strlen(key));

            if (node && ngx_strcmp(key, "node") == 0) {
                yajl_gen_string(g, node->data, node->len);

            } else if (node && ngx_strcmp(key, "attempt") == 0) {
                yajl_gen_integer(g, attempt);

            } else {
                ngx_http_export_gen_tree(g, YAJL_GET_OBJECT(v)->values[i],
                                         NULL, 0);
            }
        }

        yajl_gen_map_close(g);
        return;
    }

    if (YAJL_IS_ARRAY(v)) {
        yajl_gen_array_open(g);

        for (i = 0; i < YAJL_GET_ARRAY(v)->len; i++) {
            ngx_http_export_gen_tree(g, YAJL_GET_ARRAY(v)->values[i],
                                     NULL, 0);
        }

        yajl_gen_array_close(g);
        return;
    }

    if (YAJL_IS_STRING(v)) {
        key = v->u.string;
        yajl_gen_string(g, (const unsigned char *) key, ngx_strlen(key));

    } else if (YAJL_IS_INTEGER(v)) {
        yajl_gen_integer(g, YAJL_GET_INTEGER(v));

    } else if (YAJL_IS_NUMBER(v)) {
        yajl_gen_number(g, YAJL_GET_NUMBER(v),
                        ngx_strlen(YAJL_GET_NUMBER(v)));

    } else if (YAJL_IS_TRUE(v) || YAJL_IS_FALSE(v)) {
        yajl_gen_bool(g, YAJL_IS_TRUE(v));

    } else {
        yajl_gen_null(g);
    }
}


/* a task's archive, metadata and id file */

static void
ngx_http_export_remove_task(ngx_http_export_cstore_t *cs, ngx_str_t *run,
    u_char *id, ngx_uint_t indexed)
{
    u_char  path[NGX_MAX_PATH];

    ngx_http_export_cunlink(cs, ngx_http_export_tpath(cs, path, run, id,
                                                      ".zip"));
    ngx_http_export_cunlink(cs, ngx_http_export_tpath(cs, path, run, id,
                                                      ".json"));

    if (indexed) {
        ngx_http_export_cunlink(cs, ngx_http_export_tpath(cs, path, NULL, id,
                                                          ".task"));
    }
}


static ngx_uint_t
ngx_http_export_same_node(ngx_http_export_cstore_t *cs, exp_claim_t *c)
{
    return c->node_len == cs->node.len
           && ngx_memcmp(c->node, cs->node.data, c->node_len) == 0;
}


/* a monotonic clock in threads: nginx's cached time is the event loop's */

static ngx_msec_t
ngx_http_export_cmsec(void)
{
    struct timespec  ts;

    (void) clock_gettime(CLOCK_MONOTONIC, &ts);

    return (ngx_msec_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
