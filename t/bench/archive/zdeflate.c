
/*
 * zdeflate: the zlib baseline of the archive benchmark.
 *
 *   zdeflate [-l level] OUT FILE...
 *
 * Deflates each FILE on its own (raw deflate, window 15, memLevel 8, the
 * default strategy: the zip writer's settings) into OUT, one file after
 * the other, reading 256 KiB at a time and writing through a 256 KiB
 * output buffer, as the export does.  Nothing else: no CRC, no headers,
 * no fsync.  Prints the bytes in and out on stderr.
 */


#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>


#define CHUNK  (256 * 1024)


static unsigned char  in[CHUNK], out[CHUNK];
static unsigned long long  total_in, total_out;


static void
put(int fd, const unsigned char *p, size_t n)
{
    ssize_t  r;

    while (n) {
        r = write(fd, p, n);

        if (r == -1) {
            if (errno == EINTR) {
                continue;
            }

            perror("zdeflate: write");
            exit(1);
        }

        p += r;
        n -= (size_t) r;
        total_out += (unsigned long long) r;
    }
}


static void
squeeze(z_stream *zs, int ofd, int flush)
{
    int  rc;

    do {
        zs->next_out = out;
        zs->avail_out = CHUNK;

        rc = deflate(zs, flush);

        if (rc == Z_STREAM_ERROR) {
            fprintf(stderr, "zdeflate: deflate() failed\n");
            exit(1);
        }

        put(ofd, out, CHUNK - zs->avail_out);

    } while (zs->avail_out == 0 || (flush == Z_FINISH && rc != Z_STREAM_END));
}


int
main(int argc, char **argv)
{
    int       i, fd, ofd, level;
    ssize_t   n;
    z_stream  zs;

    level = 6;
    i = 1;

    if (argc > 2 && strcmp(argv[1], "-l") == 0) {
        level = atoi(argv[2]);
        i = 3;
    }

    if (argc - i < 2) {
        fprintf(stderr, "usage: zdeflate [-l level] OUT FILE...\n");
        return 2;
    }

    ofd = open(argv[i], O_WRONLY|O_CREAT|O_TRUNC, 0644);
    if (ofd == -1) {
        perror(argv[i]);
        return 1;
    }

    memset(&zs, 0, sizeof(zs));

    if (deflateInit2(&zs, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY)
        != Z_OK)
    {
        fprintf(stderr, "zdeflate: deflateInit2() failed\n");
        return 1;
    }

    for (i++; i < argc; i++) {
        fd = open(argv[i], O_RDONLY);
        if (fd == -1) {
            perror(argv[i]);
            return 1;
        }

        deflateReset(&zs);

        for ( ;; ) {
            n = read(fd, in, CHUNK);

            if (n == -1) {
                if (errno == EINTR) {
                    continue;
                }

                perror(argv[i]);
                return 1;
            }

            if (n == 0) {
                break;
            }

            total_in += (unsigned long long) n;
            zs.next_in = in;
            zs.avail_in = (uInt) n;
            squeeze(&zs, ofd, Z_NO_FLUSH);
        }

        squeeze(&zs, ofd, Z_FINISH);
        close(fd);
    }

    deflateEnd(&zs);

    if (close(ofd) == -1) {
        perror("zdeflate: close");
        return 1;
    }

    fprintf(stderr, "in=%llu out=%llu\n", total_in, total_out);

    return 0;
}
