
/*
 * A run directory is written by another program: it is input, not
 * trusted.  By default (export_disable_symlinks on) the job opens the
 * run directory once, following links in its path as in any path of the
 * configuration, and then opens each report relative to it without
 * following a link: openat2(2) with RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS
 * where the kernel has it, openat(2) with O_NOFOLLOW where it has not.
 * FIFOs, sockets and devices are opened with O_NONBLOCK, so that none of
 * them holds the job, and left out after fstat().  "from=" works as in
 * nginx's disable_symlinks: links are allowed in the part of the path up
 * to it, and looked for in what follows.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include <sys/syscall.h>

#if (NGX_LINUX) && defined(SYS_openat2)
#include <linux/openat2.h>
#define NGX_HTTP_EXPORT_OPENAT2  1
#endif

#include "ngx_http_export_rundir.h"


static int ngx_http_export_openat2(int dfd, const char *path, int flags);
static int ngx_http_export_rundir_openat(int dfd, const char *name,
    int flags, ngx_uint_t mode);
static int ngx_http_export_rundir_walk(int fd, u_char *path,
    ngx_uint_t mode);
static const char *ngx_http_export_rundir_type(mode_t mode);


static const char  ngx_http_export_link_on[] =
    "symbolic link: not followed (export_disable_symlinks); "
    "the report is left out";

static const char  ngx_http_export_link_owner[] =
    "symbolic link to a file of another owner: not followed "
    "(export_disable_symlinks if_not_owner); the report is left out";

static const char  ngx_http_export_link_broken[] =
    "symbolic link that leads nowhere; the report is left out";


/*
 * Where the check of the run directory's path starts: nothing of it
 * without "from=" (the configured paths are the operator's, links in
 * them work), the end of "from" where it is a prefix of the path on a
 * '/' boundary, else the whole path, as nginx does.
 */

size_t
ngx_http_export_rundir_from(u_char *dir, u_char *from)
{
    size_t  len, flen;

    len = ngx_strlen(dir);

    while (len > 1 && dir[len - 1] == '/') {
        len--;
    }

    if (from == NULL || from[0] == '\0') {
        return len;
    }

    flen = ngx_strlen(from);

    while (flen > 1 && from[flen - 1] == '/') {
        flen--;
    }

    if (flen == 1 && from[0] == '/') {
        return 0;
    }

    if (flen <= len && ngx_strncmp(dir, from, flen) == 0
        && (flen == len || dir[flen] == '/'))
    {
        return flen;
    }

    /* a part that goes past the run directory covers all of its path */

    if (flen > len && ngx_strncmp(dir, from, len) == 0 && from[len] == '/') {
        return len;
    }

    return 0;
}


/* the run directory, links refused after "from" bytes of its path */

int
ngx_http_export_rundir_open(u_char *dir, size_t from, ngx_uint_t mode)
{
    int        fd, dfd;
    u_char     base[NGX_MAX_PATH], *rest;
    size_t     len;
    ngx_err_t  err;

    len = ngx_strlen(dir);

    if (mode == NGX_HTTP_EXPORT_SYMLINKS_OFF || from >= len) {
        return open((char *) dir, O_RDONLY|O_DIRECTORY|O_CLOEXEC);
    }

    if (from == 0) {
        base[0] = (dir[0] == '/') ? '/' : '.';
        base[1] = '\0';

    } else if (from < sizeof(base)) {
        ngx_memcpy(base, dir, from);
        base[from] = '\0';

    } else {
        ngx_set_errno(NGX_ENAMETOOLONG);
        return -1;
    }

    fd = open((char *) base, O_RDONLY|O_DIRECTORY|O_CLOEXEC);
    if (fd == -1) {
        return -1;
    }

    for (rest = dir + from; *rest == '/'; rest++) { /* void */ }

    if (*rest == '\0') {
        return fd;
    }

    if (mode == NGX_HTTP_EXPORT_SYMLINKS_ON) {
        dfd = ngx_http_export_openat2(fd, (char *) rest,
                                      O_RDONLY|O_DIRECTORY|O_CLOEXEC);

        if (dfd != -1 || ngx_errno != NGX_ENOSYS) {
            err = ngx_errno;
            (void) close(fd);
            ngx_set_errno(err);
            return dfd;
        }
    }

    return ngx_http_export_rundir_walk(fd, rest, mode);
}


/*
 * A report found by readdir(): NGX_OK with "st" a regular file's,
 * NGX_DECLINED with "why" the warning for an entry that is left out
 * (NULL: gone meanwhile or not to be examined, left out silently as
 * before), never a read of the file itself.
 */

ngx_int_t
ngx_http_export_rundir_stat(int dfd, const char *name, ngx_uint_t mode,
    struct stat *st, const char **why)
{
    struct stat  link;

    *why = NULL;

    if (fstatat(dfd, name, st, AT_SYMLINK_NOFOLLOW) == -1) {
        return NGX_DECLINED;
    }

    if (S_ISLNK(st->st_mode)) {

        if (mode == NGX_HTTP_EXPORT_SYMLINKS_ON) {
            *why = ngx_http_export_link_on;
            return NGX_DECLINED;
        }

        link = *st;

        if (fstatat(dfd, name, st, 0) == -1) {
            *why = ngx_http_export_link_broken;
            return NGX_DECLINED;
        }

        if (mode == NGX_HTTP_EXPORT_SYMLINKS_NOTOWNER
            && link.st_uid != st->st_uid)
        {
            *why = ngx_http_export_link_owner;
            return NGX_DECLINED;
        }
    }

    *why = ngx_http_export_rundir_type(st->st_mode);

    return (*why == NULL) ? NGX_OK : NGX_DECLINED;
}


/*
 * Opens a report for reading: the file may have become a link or a FIFO
 * since it was listed.  -1 with "why" set: left out with that warning;
 * -1 without: an error in errno.
 */

int
ngx_http_export_rundir_report(int dfd, const char *name, ngx_uint_t mode,
    const char **why)
{
    int          fd, flags;
    ngx_err_t    err;
    struct stat  st;

    *why = NULL;
    flags = O_RDONLY|O_CLOEXEC|O_NOCTTY|O_NONBLOCK;

    if (mode == NGX_HTTP_EXPORT_SYMLINKS_ON) {
        fd = ngx_http_export_openat2(dfd, name, flags);

        if (fd == -1 && ngx_errno == NGX_ENOSYS) {
            fd = openat(dfd, name, flags|O_NOFOLLOW);
        }

    } else {
        fd = ngx_http_export_rundir_openat(dfd, name, flags, mode);
    }

    if (fd == -1) {
        if (ngx_errno == NGX_ELOOP && mode != NGX_HTTP_EXPORT_SYMLINKS_OFF) {
            *why = (mode == NGX_HTTP_EXPORT_SYMLINKS_ON)
                   ? ngx_http_export_link_on : ngx_http_export_link_owner;
        }

        return -1;
    }

    if (fstat(fd, &st) == -1) {
        err = ngx_errno;
        (void) close(fd);
        ngx_set_errno(err);
        return -1;
    }

    *why = ngx_http_export_rundir_type(st.st_mode);

    if (*why) {
        (void) close(fd);
        return -1;
    }

    return fd;
}


/* openat2(2) beneath "dfd" without links; ENOSYS where the kernel lacks it */

static int
ngx_http_export_openat2(int dfd, const char *path, int flags)
{
#if (NGX_HTTP_EXPORT_OPENAT2)

    int              fd;
    struct open_how  how;

    /* a kernel without it says so once; threads may race to learn it */
    static ngx_uint_t  missing;

    if (!missing) {
        ngx_memzero(&how, sizeof(struct open_how));
        how.flags = flags;
        how.resolve = RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS;

        do {
            fd = (int) syscall(SYS_openat2, dfd, path, &how,
                               sizeof(struct open_how));
        } while (fd == -1 && ngx_errno == NGX_EINTR);

        if (fd != -1 || ngx_errno != NGX_ENOSYS) {
            return fd;
        }

        missing = 1;
    }

#endif

    ngx_set_errno(NGX_ENOSYS);

    return -1;
}


/*
 * One name in "dfd": a link is refused (ELOOP), or with if_not_owner
 * followed when the link and its target have the same owner, as
 * nginx's ngx_openat_file_owner() does.
 */

static int
ngx_http_export_rundir_openat(int dfd, const char *name, int flags,
    ngx_uint_t mode)
{
    int          fd;
    ngx_err_t    err;
    struct stat  link, target;

    if (mode == NGX_HTTP_EXPORT_SYMLINKS_OFF) {
        return openat(dfd, name, flags);
    }

    fd = openat(dfd, name, flags|O_NOFOLLOW);

    if (fd != -1 || ngx_errno != NGX_ELOOP
        || mode != NGX_HTTP_EXPORT_SYMLINKS_NOTOWNER)
    {
        return fd;
    }

    if (fstatat(dfd, name, &link, AT_SYMLINK_NOFOLLOW) == -1) {
        return -1;
    }

    fd = openat(dfd, name, flags);
    if (fd == -1) {
        return -1;
    }

    if (fstat(fd, &target) == -1) {
        err = ngx_errno;
        (void) close(fd);
        ngx_set_errno(err);
        return -1;
    }

    if (link.st_uid != target.st_uid) {
        (void) close(fd);
        ngx_set_errno(NGX_ELOOP);
        return -1;
    }

    return fd;
}


/* the path below "fd" one name at a time; "fd" is closed */

static int
ngx_http_export_rundir_walk(int fd, u_char *path, ngx_uint_t mode)
{
    int        next;
    u_char     name[NGX_MAX_PATH], *p, *end;
    size_t     n;
    ngx_err_t  err;

    p = path;

    for ( ;; ) {
        while (*p == '/') {
            p++;
        }

        if (*p == '\0') {
            return fd;
        }

        for (end = p; *end && *end != '/'; end++) { /* void */ }

        n = end - p;

        if (n >= sizeof(name)) {
            (void) close(fd);
            ngx_set_errno(NGX_ENAMETOOLONG);
            return -1;
        }

        ngx_memcpy(name, p, n);
        name[n] = '\0';
        p = end;

        next = ngx_http_export_rundir_openat(fd, (char *) name,
                                             O_RDONLY|O_DIRECTORY|O_CLOEXEC,
                                             mode);
        err = ngx_errno;
        (void) close(fd);

        if (next == -1) {
            ngx_set_errno(err);
            return -1;
        }

        fd = next;
    }
}


/* NULL for a regular file, else why it is left out */

static const char *
ngx_http_export_rundir_type(mode_t mode)
{
    if (S_ISREG(mode)) {
        return NULL;
    }

    if (S_ISFIFO(mode)) {
        return "not a regular file: fifo; the report is left out";
    }

    if (S_ISSOCK(mode)) {
        return "not a regular file: socket; the report is left out";
    }

    if (S_ISDIR(mode)) {
        return "not a regular file: directory; the report is left out";
    }

    if (S_ISCHR(mode)) {
        return "not a regular file: character device; "
               "the report is left out";
    }

    if (S_ISBLK(mode)) {
        return "not a regular file: block device; the report is left out";
    }

    return "not a regular file; the report is left out";
}
