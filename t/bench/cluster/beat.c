/*
 * The store's file work of the cluster feature, alone: what the module
 * does per heartbeat, per look of a follower, per first lookup and per
 * claim of a POST, with the same system calls in the same order and the
 * same parsers (src/ngx_export_parse.c, yajl), and nothing of nginx.
 * t/bench/cluster.sh runs it on copies of real store files (a claim, the
 * metadata and the heartbeat of a running export) to give the time of
 * each operation on a file system.
 *
 *   beat OP DIR N
 *
 * DIR holds "c.claim", "c.json" (metadata) and "c.beat" (heartbeat) of
 * one run, and "export.changes".  OP, each repeated N times:
 *
 *   beat    ngx_http_export_claim_check(), the builder's heartbeat:
 *           read the claim whole (open O_NOFOLLOW|O_NONBLOCK, fstat,
 *           read, close) into a 64 KiB buffer, exp_claim_parse(), compare
 *           task, node and attempt, free; the heartbeat's JSON with
 *           yajl_gen; written as ngx_http_export_cwrite() does without
 *           fsync: ngx_http_export_tmp_create() (open O_CREAT|O_EXCL mode
 *           0, flock LOCK_EX|LOCK_NB, fstat, stat, fchmod 0644), write,
 *           rename over c.beat, close.
 *   follow  one followed export of another node in worker 0's upkeep,
 *           ngx_http_export_claim_lookup() of an unfinished build: the
 *           claim (read, parse), a 256 KiB buffer, the metadata (read,
 *           parse: IN_PROGRESS, so not finished), the heartbeat (read,
 *           parse).
 *   token   the upkeep's read of export.changes (open, fstat, read,
 *           close), once a second per node.
 *   lookup  the first lookup of a finished export:
 *           ngx_http_export_claim_lookup() that finds it COMPLETED:
 *           claim and metadata read and parsed, no heartbeat.
 *   claim   ngx_http_export_claim_start() of a POST of a new run:
 *           ngx_http_export_lock() (open O_CREAT|O_EXCL, write, close),
 *           the lookup (the claim is absent: one failed open), the claim
 *           written with fsync (its JSON taken from c.claim), the lock
 *           unlinked.  Each iteration claims another run; the claims are
 *           removed after the timing.
 *
 * Prints: OP N wall_us_per_op cpu_us_per_op p50_us p99_us
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <yajl/yajl_gen.h>

#include "ngx_export_parse.h"


#define CLAIM_MAX  (64 * 1024)
#define META_MAX   (256 * 1024)
#define BEAT_MAX   1024


static const char  *styles[] = {
    "vmware", "arcgis", "uniware", "webadmit", NULL
};

static char  dir[2048];
static long  count;


static void
die(const char *what)
{
    fprintf(stderr, "beat: %s: %s\n", what, strerror(errno));
    exit(1);
}


static double
now_us(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}


static double
cpu_us(void)
{
    struct rusage  ru;

    getrusage(RUSAGE_SELF, &ru);

    return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6
           + ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
}


/* ngx_http_export_cread() */
static int
cread(const char *path, char *buf, size_t max, size_t *len)
{
    int          fd;
    ssize_t      n;
    struct stat  st;

    fd = open(path, O_RDONLY|O_NOFOLLOW|O_NONBLOCK|O_CLOEXEC);
    if (fd == -1) {
        return (errno == ENOENT) ? 1 : -1;
    }

    if (fstat(fd, &st) == -1) {
        close(fd);
        return -1;
    }

    if (!S_ISREG(st.st_mode) || (size_t) st.st_size > max) {
        close(fd);
        return -1;
    }

    n = read(fd, buf, max);
    close(fd);

    if (n == -1) {
        return -1;
    }

    buf[n] = '\0';
    *len = n;

    return 0;
}


/* ngx_http_export_tmp_create() */
static int
tmp_create(const char *path)
{
    int          fd;
    struct stat  a, b;

    fd = open(path, O_RDWR|O_CREAT|O_EXCL|O_CLOEXEC, 0);
    if (fd == -1) {
        die(path);
    }

    if (flock(fd, LOCK_EX|LOCK_NB) == -1) {
        die("flock");
    }

    if (fstat(fd, &a) == -1 || stat(path, &b) == -1
        || a.st_ino != b.st_ino || a.st_dev != b.st_dev)
    {
        die("stat");
    }

    if (fchmod(fd, 0644) == -1) {
        die("fchmod");
    }

    return fd;
}


/* ngx_http_export_cwrite() */
static void
cwrite(const char *path, const void *data, size_t len, int sync)
{
    int   fd;
    char  tmp[4096];

    snprintf(tmp, sizeof(tmp),
             "%s/.export-00000000-0000-4000-8000-000000000001.%d.%ld.part",
             dir, (int) getpid(), count++);

    fd = tmp_create(tmp);

    if (write(fd, data, len) != (ssize_t) len) {
        die("write");
    }

    if (sync && fsync(fd) == -1) {
        die("fsync");
    }

    if (rename(tmp, path) == -1) {
        die("rename");
    }

    if (close(fd) == -1) {
        die("close");
    }
}


static void
op_beat(long i)
{
    char                 path[4096], *buf;
    size_t               len;
    yajl_val             doc;
    yajl_gen             g;
    exp_claim_t          c;
    const unsigned char *json;

    /* ngx_http_export_claim_read() */
    snprintf(path, sizeof(path), "%s/c.claim", dir);

    buf = malloc(CLAIM_MAX + 1);
    if (buf == NULL || cread(path, buf, CLAIM_MAX, &len) != 0) {
        die(path);
    }

    doc = exp_claim_parse(buf, styles, &c);
    free(buf);

    if (doc == NULL || c.attempt < 1 || c.node_len == 0) {
        errno = EINVAL;
        die("the claim does not parse");
    }

    yajl_tree_free(doc);

    g = yajl_gen_alloc(NULL);
    yajl_gen_map_open(g);
    yajl_gen_string(g, (const unsigned char *) "taskId", 6);
    yajl_gen_string(g, (const unsigned char *)
                    "00000000-0000-4000-8000-000000000001", 36);
    yajl_gen_string(g, (const unsigned char *) "attempt", 7);
    yajl_gen_integer(g, 1);
    yajl_gen_string(g, (const unsigned char *) "node", 4);
    yajl_gen_string(g, (const unsigned char *) "a", 1);
    yajl_gen_string(g, (const unsigned char *) "beat", 4);
    yajl_gen_integer(g, i);
    yajl_gen_string(g, (const unsigned char *) "progress", 8);
    yajl_gen_integer(g, 4242);
    yajl_gen_string(g, (const unsigned char *) "status", 6);
    yajl_gen_string(g, (const unsigned char *) "IN_PROGRESS", 11);
    yajl_gen_map_close(g);

    if (yajl_gen_get_buf(g, &json, &len) != yajl_gen_status_ok) {
        die("yajl_gen");
    }

    snprintf(path, sizeof(path), "%s/c.beat", dir);
    cwrite(path, json, len, 0);

    yajl_gen_free(g);
}


/* ngx_http_export_claim_lookup(): claim, metadata, and beat if unfinished */
static void
op_lookup(int follow)
{
    char         path[4096], *cbuf, *buf;
    size_t       len;
    yajl_val     cdoc, mdoc, bdoc;
    exp_claim_t  c;
    exp_meta_t   m;
    exp_beat_t   b;

    snprintf(path, sizeof(path), "%s/c.claim", dir);

    cbuf = malloc(CLAIM_MAX + 1);
    if (cbuf == NULL || cread(path, cbuf, CLAIM_MAX, &len) != 0) {
        die(path);
    }

    cdoc = exp_claim_parse(cbuf, styles, &c);
    free(cbuf);

    if (cdoc == NULL) {
        errno = EINVAL;
        die("the claim does not parse");
    }

    buf = malloc(META_MAX + 1);
    if (buf == NULL) {
        die("malloc");
    }

    snprintf(path, sizeof(path), "%s/%s", dir, follow ? "c.json" : "f.json");

    if (cread(path, buf, META_MAX, &len) != 0) {
        die(path);
    }

    mdoc = exp_meta_parse(buf, styles, &m);
    if (mdoc == NULL) {
        errno = EINVAL;
        die("the metadata does not parse");
    }

    if (follow) {
        snprintf(path, sizeof(path), "%s/c.beat", dir);

        if (cread(path, buf, BEAT_MAX, &len) != 0) {
            die(path);
        }

        bdoc = exp_beat_parse(buf, &b);
        if (bdoc == NULL) {
            errno = EINVAL;
            die("the heartbeat does not parse");
        }

        yajl_tree_free(bdoc);
    }

    free(buf);
    yajl_tree_free(mdoc);
    yajl_tree_free(cdoc);
}


static void
op_token(void)
{
    char    path[4096], buf[40];
    size_t  len;

    snprintf(path, sizeof(path), "%s/export.changes", dir);

    if (cread(path, buf, 37, &len) != 0) {
        die(path);
    }
}


static char   *claim_text;
static size_t  claim_len;


static void
op_claim(long i)
{
    int     fd;
    char    lock[4096], path[4096], *buf;
    size_t  len;

    /* ngx_http_export_lock() */
    snprintf(lock, sizeof(lock), "%s/export-run%ld.lock", dir, i);

    fd = open(lock, O_WRONLY|O_CREAT|O_EXCL|O_CLOEXEC, 0644);
    if (fd == -1) {
        die(lock);
    }

    if (write(fd, "a 4242\n", 7) != 7) {
        die("write");
    }

    close(fd);

    /* ngx_http_export_claim_lookup(): no claim yet */
    snprintf(path, sizeof(path), "%s/export-run%ld.claim", dir, i);

    buf = malloc(CLAIM_MAX + 1);
    if (buf == NULL || cread(path, buf, CLAIM_MAX, &len) != 1) {
        die("a claim is there already");
    }

    free(buf);

    /* ngx_http_export_claim_write(): yajl_gen'd in the module; the text */
    cwrite(path, claim_text, claim_len, 1);

    /* ngx_http_export_unlock() */
    if (unlink(lock) == -1) {
        die(lock);
    }
}


static int
cmp(const void *a, const void *b)
{
    double  x = *(const double *) a, y = *(const double *) b;

    return (x > y) - (x < y);
}


int
main(int argc, char **argv)
{
    long     i, n;
    char     path[4096];
    size_t   len;
    double   t0, c0, t, *lat;
    const char  *op;

    if (argc != 4 || (n = atol(argv[3])) <= 0) {
        fprintf(stderr, "usage: beat beat|follow|token|lookup|claim DIR N\n");
        return 2;
    }

    op = argv[1];
    snprintf(dir, sizeof(dir), "%s", argv[2]);

    lat = malloc(n * sizeof(double));
    if (lat == NULL) {
        die("malloc");
    }

    if (strcmp(op, "claim") == 0) {
        claim_text = malloc(CLAIM_MAX + 1);
        snprintf(path, sizeof(path), "%s/c.claim", dir);

        if (claim_text == NULL
            || cread(path, claim_text, CLAIM_MAX, &claim_len) != 0)
        {
            die(path);
        }
    }

    c0 = cpu_us();
    t0 = now_us();

    for (i = 0; i < n; i++) {
        t = now_us();

        if (strcmp(op, "beat") == 0) {
            op_beat(i);

        } else if (strcmp(op, "follow") == 0) {
            op_lookup(1);

        } else if (strcmp(op, "lookup") == 0) {
            op_lookup(0);

        } else if (strcmp(op, "token") == 0) {
            op_token();

        } else if (strcmp(op, "claim") == 0) {
            op_claim(i);

        } else {
            fprintf(stderr, "beat: unknown op %s\n", op);
            return 2;
        }

        lat[i] = now_us() - t;
    }

    t = now_us() - t0;
    c0 = cpu_us() - c0;

    if (strcmp(op, "claim") == 0) {
        for (i = 0; i < n; i++) {
            snprintf(path, sizeof(path), "%s/export-run%ld.claim", dir, i);
            (void) unlink(path);
        }
    }

    qsort(lat, n, sizeof(double), cmp);

    len = 0;
    (void) len;

    printf("%s %ld %.1f %.1f %.1f %.1f\n", op, n, t / n, c0 / n,
           lat[n / 2], lat[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1]);

    return 0;
}
