
/*
 * zipcat: write files into a ZIP archive with the export ZIP writer.
 *
 *   zipcat [-l level] out.zip file...
 *
 * Each file becomes an entry named by its basename, with its mtime; data
 * is streamed in 64 KiB reads.  Exit code 0 on success, 1 on any error
 * (message on stderr, a partially written regular file is removed).
 */


#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)                      \
    && !defined(_XOPEN_SOURCE)
#define _POSIX_C_SOURCE  200809L
#endif

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ngx_export_zip.h"


#define ZIPCAT_READ_SIZE  (64 * 1024)


static int zipcat_add(exz_t *z, const char *path, unsigned char *buf);


static void
zipcat_usage(void)
{
    fprintf(stderr, "usage: zipcat [-l level] out.zip file...\n");
}


int
main(int argc, char **argv)
{
    int             c, fd, level, i, rc, cleanup;
    long            l;
    char           *end;
    exz_t          *z;
    struct stat     st;
    const char     *out;
    unsigned char  *buf;

    level = 6;

    while ((c = getopt(argc, argv, "l:")) != -1) {
        switch (c) {

        case 'l':
            errno = 0;
            l = strtol(optarg, &end, 10);

            if (errno || *end != '\0' || end == optarg || l < 0 || l > 9) {
                fprintf(stderr, "zipcat: bad level \"%s\"\n", optarg);
                return 1;
            }

            level = (int) l;
            break;

        default:
            zipcat_usage();
            return 1;
        }
    }

    if (argc - optind < 2) {
        zipcat_usage();
        return 1;
    }

    out = argv[optind];

    buf = malloc(ZIPCAT_READ_SIZE);
    if (buf == NULL) {
        fprintf(stderr, "zipcat: out of memory\n");
        return 1;
    }

    fd = open(out, O_WRONLY|O_CREAT|O_TRUNC, 0644);
    if (fd == -1) {
        fprintf(stderr, "zipcat: open(\"%s\") failed: %s\n", out,
                strerror(errno));
        free(buf);
        return 1;
    }

    /* only a partial archive file is removed on error, never a device */

    cleanup = (fstat(fd, &st) == 0 && S_ISREG(st.st_mode));

    z = exz_create(fd, level);
    if (z == NULL) {
        fprintf(stderr, "zipcat: out of memory\n");
        rc = 1;
        goto done;
    }

    rc = 0;

    for (i = optind + 1; i < argc; i++) {
        if (zipcat_add(z, argv[i], buf) != 0) {
            rc = 1;
            goto done;
        }
    }

    if (exz_finish(z) != EXZ_OK) {
        fprintf(stderr, "zipcat: %s: %s\n", out, exz_strerror(z));
        rc = 1;
    }

done:

    exz_destroy(z);
    free(buf);

    if (close(fd) == -1 && rc == 0) {
        fprintf(stderr, "zipcat: close(\"%s\") failed: %s\n", out,
                strerror(errno));
        rc = 1;
    }

    if (rc != 0 && cleanup) {
        (void) unlink(out);
    }

    return rc;
}


static int
zipcat_add(exz_t *z, const char *path, unsigned char *buf)
{
    int          fd, rc;
    ssize_t      n;
    struct stat  st;
    const char  *name;

    fd = open(path, O_RDONLY);
    if (fd == -1) {
        fprintf(stderr, "zipcat: open(\"%s\") failed: %s\n", path,
                strerror(errno));
        return 1;
    }

    rc = 1;

    if (fstat(fd, &st) == -1) {
        fprintf(stderr, "zipcat: fstat(\"%s\") failed: %s\n", path,
                strerror(errno));
        goto done;
    }

    if (!S_ISREG(st.st_mode)) {
        fprintf(stderr, "zipcat: \"%s\" is not a regular file\n", path);
        goto done;
    }

    name = strrchr(path, '/');
    name = name ? name + 1 : path;

    if (exz_begin(z, name, strlen(name), st.st_mtime) != EXZ_OK) {
        fprintf(stderr, "zipcat: %s: %s\n", path, exz_strerror(z));
        goto done;
    }

    for ( ;; ) {
        n = read(fd, buf, ZIPCAT_READ_SIZE);

        if (n == -1) {
            if (errno == EINTR) {
                continue;
            }

            fprintf(stderr, "zipcat: read(\"%s\") failed: %s\n", path,
                    strerror(errno));
            goto done;
        }

        if (n == 0) {
            break;
        }

        if (exz_write(z, buf, (size_t) n) != EXZ_OK) {
            fprintf(stderr, "zipcat: %s: %s\n", path, exz_strerror(z));
            goto done;
        }
    }

    if (exz_end(z) != EXZ_OK) {
        fprintf(stderr, "zipcat: %s: %s\n", path, exz_strerror(z));
        goto done;
    }

    rc = 0;

done:

    (void) close(fd);

    return rc;
}
