/*
 * The file work that any export must do, and nothing else: the floor
 * under figure 3's jobs.  For each of N exports, in DIR:
 *
 *   - list the run (opendir, readdir, fstatat, closedir) and read its one
 *     report (open, read, read to EOF, close);
 *   - write an archive of about 1 KiB (open, write, fsync, close);
 *   - write its metadata atomically (open, write, fsync, close, rename),
 *     which a restart needs to find the export again.
 *
 * No JSON, no CSV, no deflate, no shared memory, one thread, and one file
 * renamed where the module renames three (its IN_PROGRESS record, the
 * archive, the final record).  It prints the CPU time (user + system)
 * per export in microseconds.
 *
 *   floor DIR N
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>


static void
die(const char *what)
{
    fprintf(stderr, "floor: %s: %s\n", what, strerror(errno));
    exit(1);
}


static void
put(const char *path, const char *buf, size_t len)
{
    int  fd;

    fd = open(path, O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC, 0644);
    if (fd == -1) {
        die(path);
    }

    if (write(fd, buf, len) != (ssize_t) len || fsync(fd) == -1) {
        die(path);
    }

    if (close(fd) == -1) {
        die(path);
    }
}


static double
cpu_us(void)
{
    struct rusage  ru;

    getrusage(RUSAGE_SELF, &ru);

    return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6
           + ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
}


int
main(int argc, char **argv)
{
    int             fd;
    long            i, n;
    char            run[4096], path[4096], tmp[4096], report[4096];
    char            buf[4096], zip[1100], meta[400];
    double          t0;
    ssize_t         r;
    struct stat     st;
    DIR            *dir;
    struct dirent  *de;

    if (argc != 3 || (n = atol(argv[2])) <= 0) {
        fprintf(stderr, "usage: floor DIR N\n");
        return 2;
    }

    snprintf(run, sizeof(run), "%s/run", argv[1]);
    snprintf(report, sizeof(report), "%s/r.json", run);

    if (mkdir(argv[1], 0755) == -1 && errno != EEXIST) {
        die(argv[1]);
    }

    if (mkdir(run, 0755) == -1 && errno != EEXIST) {
        die(run);
    }

    put(report, "[{\"check\":\"ntp-sync\",\"status\":\"PASSED\"}]\n", 42);
    memset(zip, 'z', sizeof(zip));
    memset(meta, 'm', sizeof(meta));

    t0 = cpu_us();

    for (i = 0; i < n; i++) {
        dir = opendir(run);
        if (dir == NULL) {
            die(run);
        }

        while ((de = readdir(dir)) != NULL) {
            if (de->d_name[0] != '.'
                && fstatat(dirfd(dir), de->d_name, &st, 0) == -1)
            {
                die(de->d_name);
            }
        }

        closedir(dir);

        fd = open(report, O_RDONLY|O_CLOEXEC);
        if (fd == -1) {
            die(report);
        }

        do {
            r = read(fd, buf, sizeof(buf));
        } while (r > 0);

        close(fd);

        snprintf(path, sizeof(path), "%s/export-%ld.zip", argv[1], i);
        put(path, zip, sizeof(zip));

        snprintf(tmp, sizeof(tmp), "%s/.export-%ld.meta", argv[1], i);
        snprintf(path, sizeof(path), "%s/export-%ld.json", argv[1], i);
        put(tmp, meta, sizeof(meta));

        if (rename(tmp, path) == -1) {
            die(path);
        }
    }

    printf("%.1f\n", (cpu_us() - t0) / n);

    return 0;
}
