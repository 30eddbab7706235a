
/*
 * Temporary files in the store.  A writer makes its file new (O_EXCL),
 * takes flock(LOCK_EX) on it, checks that the name still leads to the
 * file it locked, and only then writes; it renames the file into place
 * before it closes it, so the lock covers the file's whole life under
 * its temporary name.  A sweep may then remove any temporary file whose
 * lock it gets: its writer is gone (a lock dies with its process, on
 * NFS too, where Linux emulates flock() with fcntl() locks held by the
 * server).  The one file it must leave is one made a moment ago, whose
 * writer may not have locked it yet: a writer makes its file with no
 * permission bits and gives it 0644 once it holds the lock, and a file
 * without permission bits is left until it is NGX_HTTP_EXPORT_TMP_GRACE
 * seconds old.  Plain system calls: the sweep and the writers run in
 * thread pools (and the first sweep in the master at start).
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include <dirent.h>
#include <sys/file.h>

#include "ngx_http_export_tmpfile.h"


#define NGX_HTTP_EXPORT_TMP_TRIES   100     /* 10 ms each */


static ngx_uint_t ngx_http_export_tmp_same(struct stat *a, struct stat *b);
static ngx_uint_t ngx_http_export_tmp_new(struct stat *st, time_t now);


/*
 * A new temporary file, empty and locked: the fd, or -1 with errno set
 * (EWOULDBLOCK: a live writer holds a file of this name).
 */

int
ngx_http_export_tmp_create(u_char *path)
{
    int          fd;
    ngx_err_t    err;
    ngx_uint_t   tries, n;
    struct stat  a, b;

    for (tries = 0; tries < 8; tries++) {

        /* mode 0: "not locked yet" to a sweep; the fd may write anyway */
        fd = open((char *) path, O_RDWR|O_CREAT|O_EXCL|O_CLOEXEC, 0);

        if (fd == -1) {
            if (ngx_errno != NGX_EEXIST) {
                return -1;
            }

            /*
             * Left by an earlier attempt of the same task, whose worker
             * died: removed unless its lock is held.  No grace here: only
             * this task writes under this name.
             */

            switch (ngx_http_export_tmp_stale(AT_FDCWD, (char *) path,
                                              0, NULL, NULL, NULL))
            {
            case NGX_BUSY:
                ngx_set_errno(NGX_EAGAIN);
                return -1;

            case NGX_ERROR:
                return -1;

            default:
                continue;
            }
        }

        /* a sweep that found the new empty file may hold it a moment */

        for (n = 0; flock(fd, LOCK_EX|LOCK_NB) == -1; n++) {
            err = ngx_errno;

            if (err == ENOLCK || err == NGX_EOPNOTSUPP) {
                /* no locks on this file system: a sweep finds it busy */
                break;
            }

            if ((err != NGX_EAGAIN && err != NGX_EINTR)
                || n == NGX_HTTP_EXPORT_TMP_TRIES)
            {
                (void) close(fd);
                ngx_set_errno(err);
                return -1;
            }

            ngx_msleep(10);
        }

        /* the sweep may have removed the name before the lock was ours */

        if (fstat(fd, &a) == 0 && stat((char *) path, &b) == 0
            && ngx_http_export_tmp_same(&a, &b))
        {
            if (fchmod(fd, 0644) == 0) {
                return fd;
            }

            err = ngx_errno;
            (void) close(fd);
            (void) unlink((char *) path);
            ngx_set_errno(err);
            return -1;
        }

        (void) close(fd);
    }

    ngx_set_errno(NGX_EAGAIN);

    return -1;
}


/*
 * Removes one temporary file if no live writer holds it: NGX_OK when
 * removed, NGX_BUSY when a writer of another process holds it (or may:
 * a file without permission bits within its grace time), NGX_DECLINED
 * when it is gone,
 * is not a regular file, or a build of this node writes it (left
 * alone), NGX_ERROR.  With "now" 0 there is no grace time.
 */

ngx_int_t
ngx_http_export_tmp_stale(int dfd, const char *name, time_t now,
    ngx_http_export_tmp_owned_pt owned, void *data, ngx_log_t *log)
{
    int          fd;
    ngx_int_t    rc;
    struct stat  st, fst;

    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == -1) {
        return NGX_DECLINED;
    }

    if (!S_ISREG(st.st_mode)) {
        return NGX_DECLINED;
    }

    if (now && ngx_http_export_tmp_new(&st, now)) {
        return NGX_BUSY;
    }

    /*
     * A build of this node is known from the zone, not from its lock:
     * where flock() is emulated with fcntl() (NFS), a lock of this
     * process would not stop us, and our close() would drop it.
     */

    if (owned && owned(data, name)) {
        return NGX_DECLINED;
    }

    /* O_RDWR: an exclusive lock over NFS needs a file open for writing */

    fd = openat(dfd, name, O_RDWR|O_NOFOLLOW|O_NONBLOCK|O_CLOEXEC);

    if (fd == -1 && ngx_errno == NGX_EACCES) {
        fd = openat(dfd, name, O_RDONLY|O_NOFOLLOW|O_NONBLOCK|O_CLOEXEC);
    }

    if (fd == -1) {
        if (ngx_errno == NGX_EACCES && (st.st_mode & 07777) == 0) {
            /* made long ago by a writer that died before it locked it */
            return (unlinkat(dfd, name, 0) == 0) ? NGX_OK : NGX_DECLINED;
        }

        return (ngx_errno == NGX_ENOENT) ? NGX_DECLINED : NGX_ERROR;
    }

    if (flock(fd, LOCK_EX|LOCK_NB) == -1) {
        (void) close(fd);
        return NGX_BUSY;
    }

    /* ours now; the name must still lead to this very file */

    if (fstat(fd, &fst) == -1
        || fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == -1
        || !ngx_http_export_tmp_same(&fst, &st))
    {
        (void) close(fd);
        return NGX_DECLINED;
    }

    if (now && ngx_http_export_tmp_new(&fst, now)) {
        (void) close(fd);
        return NGX_BUSY;
    }

    rc = NGX_OK;

    if (unlinkat(dfd, name, 0) == -1) {
        rc = (ngx_errno == NGX_ENOENT) ? NGX_DECLINED : NGX_ERROR;

        if (rc == NGX_ERROR && log) {
            ngx_log_error(NGX_LOG_CRIT, log, ngx_errno,
                          "export: unlink() \"%s\" failed", name);
        }
    }

    /* the lock goes with the file, after it is gone */
    (void) close(fd);

    return rc;
}


/*
 * Every temporary file of a store that no live writer holds: how many
 * were removed; "left" counts those that a writer of another process
 * holds or may hold, for a later sweep.
 */

ngx_uint_t
ngx_http_export_tmp_sweep(u_char *store, time_t now,
    ngx_http_export_tmp_owned_pt owned, void *data, ngx_uint_t *left,
    ngx_log_t *log)
{
    DIR            *dir;
    ngx_int_t       rc;
    ngx_uint_t      removed;
    struct dirent  *de;

    dir = opendir((char *) store);
    if (dir == NULL) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      "export: opendir() \"%s\" failed", store);
        return 0;
    }

    removed = 0;

    while ((de = readdir(dir)) != NULL) {
        if (ngx_strncmp(de->d_name, ".export-", 8) != 0) {
            continue;
        }

        rc = ngx_http_export_tmp_stale(dirfd(dir), de->d_name, now,
                                       owned, data, log);

        if (rc == NGX_OK) {
            removed++;

        } else if (rc == NGX_BUSY && left) {
            (*left)++;
        }
    }

    (void) closedir(dir);

    return removed;
}


static ngx_uint_t
ngx_http_export_tmp_same(struct stat *a, struct stat *b)
{
    return a->st_ino == b->st_ino && a->st_dev == b->st_dev;
}


/* made a moment ago and maybe not locked yet by its writer */

static ngx_uint_t
ngx_http_export_tmp_new(struct stat *st, time_t now)
{
    return (st->st_mode & 07777) == 0
           && now - st->st_mtime < NGX_HTTP_EXPORT_TMP_GRACE;
}
