/*
 * The file work that the contract asks of one small export, and nothing
 * else: the floor under figure 3.  For each of N exports of a new run,
 * in DIR (the store) and DIR/run (the run, one tiny report):
 *
 *   claim   the run's lock (open O_EXCL, a line saying who holds it,
 *           close), a fresh read of its claim (there is none), the claim
 *           written and fsync()ed under a temporary name and renamed, the
 *           id file export-<task>.task likewise without fsync, the lock
 *           removed: one build per run in the whole cluster, on NFS too;
 *   build   the run listed (open, getdents, fstatat, close) and its report
 *           read (openat, read to EOF, close); an archive of about 1 KiB
 *           and its metadata, each written, fsync()ed and renamed into
 *           place (a restart loses no finished export, and nothing half
 *           written is ever seen);
 *   done    the claim read again (open, fstat, read, close) to see that it
 *           still names the task, and the heartbeat removed (there is
 *           none for an export this short).
 *
 * Every file is written under a temporary name created with O_EXCL and
 * locked with flock() before it is written: the store's rule that lets a
 * sweep, on any node, remove what a dead writer left and nothing else.
 *
 * Left out, because they are the module's choices and not the contract's:
 * the metadata written a first time as IN_PROGRESS (the claim says the
 * same since the store is shared), and the fstat(), stat() and fchmod()
 * with which the module makes a temporary file visible to a sweep only
 * once it is locked.  No JSON, no CSV, no deflate, no shared memory, no
 * threads.  It prints the CPU time (user + system) per export in
 * microseconds.  With P, P processes do N exports each at once in the
 * same store, as nginx's workers do, and the CPU of all of them counts.
 *
 *   floor DIR N [P]
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>


static int  pid;


static void
die(const char *what)
{
    fprintf(stderr, "floor: %s: %s\n", what, strerror(errno));
    exit(1);
}


/* a file of the store: temporary name, lock, write, fsync, rename */

static void
put(const char *dir, const char *path, const char *buf, size_t len,
    int sync)
{
    int          fd;
    char         tmp[4096];
    static long  count;

    snprintf(tmp, sizeof(tmp), "%s/.export-%d.%ld.part", dir, pid,
             count++);

    fd = open(tmp, O_RDWR|O_CREAT|O_EXCL|O_CLOEXEC, 0644);
    if (fd == -1) {
        die(tmp);
    }

    if (flock(fd, LOCK_EX|LOCK_NB) == -1) {
        die(tmp);
    }

    if (write(fd, buf, len) != (ssize_t) len || (sync && fsync(fd) == -1)) {
        die(tmp);
    }

    if (rename(tmp, path) == -1) {
        die(path);
    }

    if (close(fd) == -1) {
        die(path);
    }
}


static ssize_t
get(const char *path, char *buf, size_t size)
{
    int          fd;
    ssize_t      n;
    struct stat  st;

    fd = open(path, O_RDONLY|O_NOFOLLOW|O_NONBLOCK|O_CLOEXEC);
    if (fd == -1) {
        if (errno == ENOENT) {
            return -1;
        }

        die(path);
    }

    if (fstat(fd, &st) == -1) {
        die(path);
    }

    n = read(fd, buf, size);
    close(fd);

    return n;
}


static double
cpu_us(void)
{
    struct rusage  ru;

    getrusage(RUSAGE_SELF, &ru);

    return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6
           + ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
}


/* N exports of new runs: claim, build, done */

static void
exports(const char *store, const char *run, long n)
{
    int             fd, dfd, rfd;
    long            i;
    char            path[4096], lock[4096], claim[4096];
    char            buf[4096], zip[740], meta[340], cl[460], line[64];
    ssize_t         r;
    struct stat     st;
    DIR            *dir;
    struct dirent  *de;

    /* the sizes of the module's files for a tiny export (strace) */
    memset(zip, 'z', sizeof(zip));
    memset(meta, 'm', sizeof(meta));
    memset(cl, 'c', sizeof(cl));

    for (i = 0; i < n; i++) {

        /* claim */

        snprintf(lock, sizeof(lock), "%s/export-%d-%08lx.lock", store, pid,
                 i);
        snprintf(claim, sizeof(claim), "%s/export-%d-%08lx.claim", store,
                 pid, i);

        fd = open(lock, O_WRONLY|O_CREAT|O_EXCL|O_CLOEXEC, 0644);
        if (fd == -1) {
            die(lock);
        }

        r = snprintf(line, sizeof(line), "node %d\n", pid);
        if (write(fd, line, r) != r) {
            die(lock);
        }
        close(fd);

        if (get(claim, buf, sizeof(buf)) != -1) {
            fprintf(stderr, "floor: %s exists\n", claim);
            exit(1);
        }

        put(store, claim, cl, sizeof(cl), 1);

        snprintf(path, sizeof(path), "%s/export-%d-%08lx.task", store, pid, i);
        put(store, path, "run", 3, 0);

        if (unlink(lock) == -1) {
            die(lock);
        }

        /* build */

        dfd = open(run, O_RDONLY|O_DIRECTORY|O_CLOEXEC);
        dir = (dfd == -1) ? NULL : fdopendir(dfd);
        if (dir == NULL) {
            die(run);
        }

        while ((de = readdir(dir)) != NULL) {
            if (de->d_name[0] == '.') {
                continue;
            }

            if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1) {
                die(de->d_name);
            }

            rfd = openat(dfd, de->d_name, O_RDONLY|O_CLOEXEC|O_NONBLOCK);
            if (rfd == -1) {
                die(de->d_name);
            }

            do {
                r = read(rfd, buf, sizeof(buf));
            } while (r > 0);

            close(rfd);
        }

        closedir(dir);

        snprintf(path, sizeof(path), "%s/export-%d-%08lx-task.zip", store,
                 pid, i);
        put(store, path, zip, sizeof(zip), 1);

        snprintf(path, sizeof(path), "%s/export-%d-%08lx-task.json", store,
                 pid, i);
        put(store, path, meta, sizeof(meta), 1);

        /* done */

        if (get(claim, buf, sizeof(buf)) <= 0) {
            die(claim);
        }

        snprintf(path, sizeof(path), "%s/export-%d-%08lx.beat", store, pid,
                 i);
        if (unlink(path) == -1 && errno != ENOENT) {
            die(path);
        }
    }
}


int
main(int argc, char **argv)
{
    int             fd, status;
    long            n, p, k;
    char            run[4096], path[4200];
    double          t0;
    struct rusage   ru;

    if (argc < 3 || argc > 4 || (n = atol(argv[2])) <= 0
        || (p = (argc == 4) ? atol(argv[3]) : 1) <= 0)
    {
        fprintf(stderr, "usage: floor DIR N [P]\n");
        return 2;
    }

    pid = getpid();
    snprintf(run, sizeof(run), "%s/run", argv[1]);

    if (mkdir(argv[1], 0755) == -1 && errno != EEXIST) {
        die(argv[1]);
    }

    if (mkdir(run, 0755) == -1 && errno != EEXIST) {
        die(run);
    }

    snprintf(path, sizeof(path), "%s/r.json", run);
    fd = open(path, O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC, 0644);
    if (fd == -1 || write(fd, "[{\"check\":\"ntp-sync\",\"status\":"
                              "\"PASSED\"}]\n", 42) != 42)
    {
        die(path);
    }
    close(fd);

    if (p == 1) {
        t0 = cpu_us();
        exports(argv[1], run, n);
        printf("%.1f\n", (cpu_us() - t0) / n);
        return 0;
    }

    for (k = 0; k < p; k++) {
        switch (fork()) {
        case -1:
            die("fork");
            break;
        case 0:
            pid = getpid();
            exports(argv[1], run, n);
            _exit(0);
        default:
            break;
        }
    }

    for (k = 0; k < p; k++) {
        if (wait(&status) == -1 || !WIFEXITED(status)
            || WEXITSTATUS(status) != 0)
        {
            fprintf(stderr, "floor: a process failed\n");
            return 1;
        }
    }

    getrusage(RUSAGE_CHILDREN, &ru);

    printf("%.1f\n", ((ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6
                      + ru.ru_utime.tv_usec + ru.ru_stime.tv_usec)
                     / (n * p));

    return 0;
}
