
/*
 * exportgen: the export generation job without nginx, for the archive
 * benchmark.
 *
 *   exportgen [-T] [-l level] [-m max_report_size] [-c max_columns]
 *             [-C max_cell] [-R max_row] RUN OUT.zip
 *   exportgen -D        prints the converter's default max_cell and max_row
 *   exportgen -V        prints the zip writer's deflate backend
 *
 * It does what ngx_http_export_job.c does, with the same calls in the
 * same order: the *.json and *.ndjson regular files of RUN, sorted by
 * name; a zip writer with its thread (exz_thread(), EXZ_THREAD_BATCH);
 * for each report one read of the file in 256 KiB chunks, each chunk
 * written into the zip (the original bytes) and then given to converter
 * pass 1 (exc_scan), and a second read for pass 2 (exc_emit into
 * NAME.csv); then manifest.json, exz_finish(), fsync(), close() and the
 * rename of the temporary file into place.  The converter options are
 * those the job uses with the module's default directives (formula guard
 * on, no BOM, max_report_size 1024m, max_columns 2048, the rest from
 * exc_options_init()); -m, -c, -C and -R change them.  Left out: progress
 * and cancel checks (a flag test per chunk) and the shared-memory task.
 *
 * -T: the zip writer without its thread (CRC, deflate and writes in the
 * calling thread, as the job did before it had the thread), for
 * comparison.
 *
 * Built like the zip writer with -DEXZ_LIBDEFLATE=1 -ldeflate,
 * -DEXZ_ISAL=1 -lisal, or -lz for zlib (t/bench/archive.sh builds it on
 * the module's backend and on zlib).
 *
 * On stderr, one line "key=value ...": the wall time of each phase in
 * seconds (copy: the original with pass 1; emit: pass 2), the resident
 * set size at start (idle_rss_kb, before any export work) and the
 * high-water mark at the end (peak_rss_kb), from /proc/self/status.
 */


#define _GNU_SOURCE

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <yajl/yajl_gen.h>

#include "ngx_export_csv.h"
#include "ngx_export_zip.h"


#define CHUNK  (256 * 1024)


typedef struct {
    char      *name;
    size_t     name_len;
    off_t      size;
    time_t     mtime;
    int        ndjson;
    int        csv;
    uint64_t   rows;
    size_t     columns;
} report_t;


static report_t       *reports;
static size_t          nreports;
static unsigned char  *buf;
static exz_t          *zip;
static int             dirfd_run;
static exc_options_t   copt;
static double          t_copy, t_emit;
static int             no_thread;   /* -T */


static double
now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}


static long
status_kb(const char *field)
{
    FILE    *f;
    long     v;
    char     line[256];
    size_t   n;

    f = fopen("/proc/self/status", "r");
    if (f == NULL) {
        return -1;
    }

    v = -1;
    n = strlen(field);

    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, field, n) == 0 && line[n] == ':') {
            v = strtol(line + n + 1, NULL, 10);
            break;
        }
    }

    fclose(f);

    return v;
}


static void
die(const char *fmt, const char *arg)
{
    fprintf(stderr, "exportgen: ");
    fprintf(stderr, fmt, arg);

    if (errno) {
        fprintf(stderr, ": %s", strerror(errno));
    }

    fprintf(stderr, "\n");
    exit(1);
}


static void
die_zip(void)
{
    errno = exz_errno(zip);
    die("writing the archive failed: %s", exz_strerror(zip));
}


static int
cmp(const void *a, const void *b)
{
    return strcmp(((const report_t *) a)->name, ((const report_t *) b)->name);
}


static void
list(const char *run)
{
    DIR            *dir;
    size_t          len, cap;
    struct stat     st;
    struct dirent  *de;
    report_t       *r;
    int             ndjson;

    dir = opendir(run);
    if (dir == NULL) {
        die("cannot open \"%s\"", run);
    }

    cap = 0;

    while ((de = readdir(dir)) != NULL) {
        len = strlen(de->d_name);

        if (de->d_name[0] == '.') {
            continue;
        }

        if (len > 5 && strcmp(de->d_name + len - 5, ".json") == 0) {
            ndjson = 0;

        } else if (len > 7 && strcmp(de->d_name + len - 7, ".ndjson") == 0) {
            ndjson = 1;

        } else {
            continue;
        }

        if (fstatat(dirfd(dir), de->d_name, &st, 0) == -1
            || !S_ISREG(st.st_mode))
        {
            continue;
        }

        if (nreports == cap) {
            cap = cap ? 2 * cap : 16;
            reports = realloc(reports, cap * sizeof(report_t));
            if (reports == NULL) {
                die("%s", "out of memory");
            }
        }

        r = &reports[nreports++];
        memset(r, 0, sizeof(report_t));
        r->name = strdup(de->d_name);
        r->name_len = len;
        r->size = st.st_size;
        r->mtime = st.st_mtime;
        r->ndjson = ndjson;
    }

    closedir(dir);

    if (nreports) {
        qsort(reports, nreports, sizeof(report_t), cmp);
    }
}


static ssize_t
rd(int fd, const report_t *r, unsigned char *b)
{
    ssize_t  n;

    do {
        n = read(fd, b, CHUNK);
    } while (n == -1 && errno == EINTR);

    if (n == -1) {
        die("reading report \"%s\" failed", r->name);
    }

    return n;
}


static size_t
csv_name(const report_t *r, char *name)
{
    size_t    n;
    report_t  key;

    n = r->name_len - (r->ndjson ? 7 : 5);
    memcpy(name, r->name, n);

    if (r->ndjson) {
        memcpy(name + n, ".json", 6);
        key.name = name;

        if (bsearch(&key, reports, nreports, sizeof(report_t), cmp)) {
            n = r->name_len;
            memcpy(name, r->name, n);
        }
    }

    memcpy(name + n, ".csv", 5);

    return n + 4;
}


static int
zip_write(void *data, const unsigned char *p, size_t len)
{
    return (exz_write(data, p, len) == EXZ_OK) ? 0 : -1;
}


static void
add_report(report_t *r)
{
    int                  fd, rc;
    char                *name;
    ssize_t              n;
    double               t;
    exc_conv_t          *conv;
    const exc_result_t  *res;

    if (exz_check_name(r->name, r->name_len) != NULL) {
        fprintf(stderr, "exportgen: warning: %s: name left out\n", r->name);
        return;
    }

    fd = openat(dirfd_run, r->name, O_RDONLY|O_CLOEXEC);
    if (fd == -1) {
        die("cannot open report \"%s\"", r->name);
    }

    /* the original bytes, and pass 1 on the same chunks */

    t = now();

    conv = exc_create(&copt, r->ndjson);
    if (conv == NULL) {
        errno = 0;
        die("%s", "out of memory");
    }

    if (exz_begin(zip, r->name, r->name_len, r->mtime) != EXZ_OK) {
        die_zip();
    }

    rc = EXC_OK;

    for ( ;; ) {
        n = rd(fd, r, buf);

        if (n == 0) {
            if (rc == EXC_OK) {
                rc = exc_scan_end(conv);
            }

            break;
        }

        if (exz_write(zip, buf, n) != EXZ_OK) {
            die_zip();
        }

        if (rc == EXC_OK) {
            rc = exc_scan(conv, buf, n);

            if (rc == EXC_ERROR) {
                break;
            }
        }
    }

    if (rc == EXC_ERROR) {
        errno = 0;
        die("out of memory converting report \"%s\"", r->name);
    }

    if (exz_end(zip) != EXZ_OK) {
        die_zip();
    }

    t_copy += now() - t;

    if (rc == EXC_BAD) {
        res = exc_result(conv);
        fprintf(stderr, "exportgen: warning: %s at byte %llu: %s\n", r->name,
                (unsigned long long) res->offset, res->reason);
        exc_destroy(conv);
        close(fd);
        return;
    }

    /* pass 2 */

    t = now();

    name = malloc(r->name_len + sizeof(".csv"));
    if (name == NULL) {
        errno = 0;
        die("%s", "out of memory");
    }

    n = csv_name(r, name);

    if (exz_begin(zip, name, n, r->mtime) != EXZ_OK) {
        die_zip();
    }

    if (lseek(fd, 0, SEEK_SET) == -1) {
        die("reading report \"%s\" failed", r->name);
    }

    rc = exc_emit_begin(conv, zip_write, zip);

    while (rc == EXC_OK) {
        n = rd(fd, r, buf);

        if (n == 0) {
            rc = exc_emit_end(conv);
            break;
        }

        rc = exc_emit(conv, buf, n);
    }

    if (rc == EXC_ERROR) {
        die_zip();
    }

    if (rc == EXC_BAD) {
        res = exc_result(conv);
        fprintf(stderr, "exportgen: warning: %s changed while exported "
                "(byte %llu)\n", r->name, (unsigned long long) res->offset);
    }

    if (exz_end(zip) != EXZ_OK) {
        die_zip();
    }

    res = exc_result(conv);
    r->csv = 1;
    r->rows = res->rows;
    r->columns = res->columns;

    t_emit += now() - t;

    exc_destroy(conv);
    free(name);
    close(fd);
}


#define gen_key(g, s)  yajl_gen_string(g, (const unsigned char *) s,        \
                                       sizeof(s) - 1)


static void
add_manifest(void)
{
    char                  tbuf[32];
    size_t                i, len;
    time_t                t;
    struct tm             tm;
    yajl_gen              g;
    report_t             *r;
    const unsigned char  *json;

    g = yajl_gen_alloc(NULL);
    if (g == NULL) {
        errno = 0;
        die("%s", "out of memory");
    }

    yajl_gen_config(g, yajl_gen_beautify, 1);

    t = time(NULL);
    gmtime_r(&t, &tm);
    strftime(tbuf, sizeof(tbuf), "%Y-%m-%dT%H:%M:%SZ", &tm);

    yajl_gen_map_open(g);
    gen_key(g, "runId");
    gen_key(g, "00000000-0000-4000-8000-000000000000");
    gen_key(g, "taskId");
    gen_key(g, "00000000-0000-4000-8000-000000000001");
    gen_key(g, "generatedAt");
    yajl_gen_string(g, (const unsigned char *) tbuf, strlen(tbuf));

    gen_key(g, "reports");
    yajl_gen_array_open(g);

    for (i = 0; i < nreports; i++) {
        r = &reports[i];

        yajl_gen_map_open(g);
        gen_key(g, "name");
        yajl_gen_string(g, (const unsigned char *) r->name, r->name_len);
        gen_key(g, "format");
        if (r->ndjson) {
            gen_key(g, "ndjson");
        } else {
            gen_key(g, "json");
        }
        gen_key(g, "size");
        yajl_gen_integer(g, r->size);
        gen_key(g, "csv");
        if (r->csv) {
            len = csv_name(r, (char *) buf);
            yajl_gen_string(g, buf, len);
        } else {
            yajl_gen_null(g);
        }
        gen_key(g, "rows");
        yajl_gen_integer(g, r->rows);
        gen_key(g, "columns");
        yajl_gen_integer(g, r->columns);
        yajl_gen_map_close(g);
    }

    yajl_gen_array_close(g);
    gen_key(g, "warnings");
    yajl_gen_array_open(g);
    yajl_gen_array_close(g);
    yajl_gen_map_close(g);

    if (yajl_gen_get_buf(g, &json, &len) != yajl_gen_status_ok) {
        errno = 0;
        die("%s", "building manifest.json failed");
    }

    if (exz_begin(zip, "manifest.json", 13, t) != EXZ_OK
        || exz_write(zip, json, len) != EXZ_OK
        || exz_end(zip) != EXZ_OK)
    {
        die_zip();
    }

    yajl_gen_free(g);
}


int
main(int argc, char **argv)
{
    int          c, fd, level;
    char        *tmp;
    size_t       i;
    long         idle, peak;
    double       t0, t1, t2, t3;
    const char  *run, *path;

    idle = status_kb("VmRSS");

    level = 6;
    exc_options_init(&copt);
    copt.formula_guard = 1;
    copt.bom = 0;
    copt.max_report_size = (uint64_t) 1024 << 20;
    copt.max_columns = 2048;

    while ((c = getopt(argc, argv, "l:m:c:C:R:DTV")) != -1) {
        switch (c) {
        case 'T':
            no_thread = 1;
            break;
        case 'D':
            printf("%zu %zu\n", copt.max_cell, copt.max_row);
            return 0;
        case 'V':
            printf("%s\n", exz_backend());
            return 0;
        case 'l':
            level = atoi(optarg);
            break;
        case 'm':
            copt.max_report_size = strtoull(optarg, NULL, 10);
            break;
        case 'c':
            copt.max_columns = strtoul(optarg, NULL, 10);
            break;
        case 'C':
            copt.max_cell = strtoul(optarg, NULL, 10);
            break;
        case 'R':
            copt.max_row = strtoul(optarg, NULL, 10);
            break;
        default:
            goto usage;
        }
    }

    if (argc - optind != 2) {
        goto usage;
    }

    run = argv[optind];
    path = argv[optind + 1];

    t0 = now();

    list(run);

    dirfd_run = open(run, O_RDONLY|O_DIRECTORY);
    if (dirfd_run == -1) {
        die("cannot open \"%s\"", run);
    }

    buf = malloc(CHUNK);
    tmp = malloc(strlen(path) + sizeof(".tmp"));
    if (buf == NULL || tmp == NULL) {
        errno = 0;
        die("%s", "out of memory");
    }

    sprintf(tmp, "%s.tmp", path);

    fd = open(tmp, O_WRONLY|O_CREAT|O_EXCL|O_CLOEXEC, 0644);
    if (fd == -1) {
        die("cannot create \"%s\"", tmp);
    }

    zip = exz_create(fd, level);
    if (zip == NULL) {
        errno = 0;
        die("%s", "out of memory");
    }

    if (!no_thread) {
        errno = exz_thread(zip, EXZ_THREAD_BATCH);
        if (errno) {
            die("%s", "exz_thread() failed");
        }
    }

    for (i = 0; i < nreports; i++) {
        add_report(&reports[i]);
    }

    add_manifest();

    t1 = now();

    if (exz_finish(zip) != EXZ_OK) {
        die_zip();
    }

    t2 = now();

    if (fsync(fd) == -1 || close(fd) == -1) {
        die("writing \"%s\" failed", tmp);
    }

    if (rename(tmp, path) == -1) {
        die("cannot rename \"%s\"", tmp);
    }

    t3 = now();

    peak = status_kb("VmHWM");

    fprintf(stderr, "reports=%zu copy_s=%.3f emit_s=%.3f finish_s=%.3f "
            "fsync_s=%.3f total_s=%.3f idle_rss_kb=%ld peak_rss_kb=%ld "
            "zip_bytes=%llu\n", nreports, t_copy, t_emit, t2 - t1, t3 - t2,
            t3 - t0, idle, peak, (unsigned long long) exz_offset(zip));

    exz_destroy(zip);

    for (i = 0; i < nreports; i++) {
        free(reports[i].name);
    }

    free(reports);
    free(buf);
    free(tmp);

    return 0;

usage:

    fprintf(stderr, "usage: exportgen [-T] [-l level] [-m max_report_size] "
            "[-c max_columns] [-C max_cell] [-R max_row] RUN OUT.zip\n"
            "       exportgen -D\n"
            "       exportgen -V\n");

    return 2;
}
