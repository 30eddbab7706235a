
/*
 * libFuzzer harness of the ZIP writer (src/ngx_export_zip.c), whose
 * names and data come from outside (run directories, reports).
 *
 * The input is a level byte (level = byte % 10, bit 7: force ZIP64) and
 * entries, each a name length byte, the name, a 2-byte data length and
 * the data (cut where the input ends).  Names exz_check_name() refuses
 * are left out (the module never passes them: exz_begin() would fail).
 *
 * Differential: the archive written in the calling thread and the one
 * written through exz_thread() must be byte for byte the same, as the
 * header promises.  Readable: walking the archive's local headers (ZIP64
 * extra fields too) gives back every entry's name and, inflated with
 * zlib, its data with the CRC-32 stored; the central directory follows.
 */


#define _GNU_SOURCE

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>

#include "ngx_export_zip.h"


#define FZ_ENTRIES_MAX  64


typedef struct {
    const uint8_t  *name;
    size_t          name_len;
    const uint8_t  *data;
    size_t          len;
} fz_entry_t;


static uint32_t
fz_le(const uint8_t *p, int n)
{
    uint32_t  v;

    v = 0;

    while (n--) {
        v = v << 8 | p[n];
    }

    return v;
}


static uint64_t
fz_le64(const uint8_t *p)
{
    return (uint64_t) fz_le(p + 4, 4) << 32 | fz_le(p, 4);
}


/* the archive in a memory file; returns its bytes (malloc) and size */

static uint8_t *
fz_write(int level, int zip64, int thread, fz_entry_t *e, size_t n,
    size_t *size)
{
    int       fd;
    off_t     end;
    size_t    i, k, off;
    exz_t    *z;
    uint8_t  *buf;

    fd = memfd_create("fuzz_zip", 0);
    if (fd == -1) {
        abort();
    }

    z = exz_create(fd, level);
    if (z == NULL) {
        abort();
    }

    if (zip64 && exz_force_zip64(z) != EXZ_OK) {
        abort();
    }

    if (thread && exz_thread(z, 0) != 0) {
        abort();
    }

    for (i = 0; i < n; i++) {
        if (exz_begin(z, (const char *) e[i].name, e[i].name_len, 1796000000)
            != EXZ_OK)
        {
            fprintf(stderr, "exz_begin: %s\n", exz_strerror(z));
            abort();
        }

        /* in pieces of 1, 7 and the rest */
        for (off = 0, k = 1; off < e[i].len; off += k, k = k * 7) {
            if (k > e[i].len - off) {
                k = e[i].len - off;
            }

            if (exz_write(z, e[i].data + off, k) != EXZ_OK) {
                abort();
            }
        }

        if (exz_end(z) != EXZ_OK) {
            abort();
        }
    }

    if (exz_finish(z) != EXZ_OK || exz_entries(z) != n) {
        fprintf(stderr, "exz_finish: %s\n", exz_strerror(z));
        abort();
    }

    exz_destroy(z);

    end = lseek(fd, 0, SEEK_END);
    if (end <= 0) {
        abort();
    }

    buf = malloc(end);
    if (buf == NULL || pread(fd, buf, end, 0) != end) {
        abort();
    }

    close(fd);

    *size = end;

    return buf;
}


static void
fz_read(const uint8_t *a, size_t size, fz_entry_t *e, size_t n)
{
    int        rc;
    size_t     i, pos, nlen, xlen, x;
    uint8_t   *out;
    uint32_t   crc;
    uint64_t   csize, usize;
    unsigned   method;
    z_stream   zs;

    pos = 0;

    for (i = 0; i < n; i++) {
        if (size - pos < 30 || fz_le(a + pos, 4) != 0x04034b50) {
            abort();
        }

        method = fz_le(a + pos + 8, 2);
        crc = fz_le(a + pos + 14, 4);
        csize = fz_le(a + pos + 18, 4);
        usize = fz_le(a + pos + 22, 4);
        nlen = fz_le(a + pos + 26, 2);
        xlen = fz_le(a + pos + 28, 2);

        if (size - pos - 30 < nlen + xlen || nlen != e[i].name_len
            || memcmp(a + pos + 30, e[i].name, nlen) != 0)
        {
            abort();
        }

        /* ZIP64: the sizes in extra field 1 */
        for (x = pos + 30 + nlen; x + 4 <= pos + 30 + nlen + xlen;
             x += 4 + fz_le(a + x + 2, 2))
        {
            if (fz_le(a + x, 2) == 1 && fz_le(a + x + 2, 2) >= 16
                && csize == 0xffffffff && usize == 0xffffffff)
            {
                usize = fz_le64(a + x + 4);
                csize = fz_le64(a + x + 12);
            }
        }

        pos += 30 + nlen + xlen;

        if (usize != e[i].len || csize > size - pos
            || crc != (uint32_t) crc32(0, e[i].data, e[i].len))
        {
            abort();
        }

        if (method == 0) {
            if (csize != usize || memcmp(a + pos, e[i].data, usize) != 0) {
                abort();
            }

        } else if (method == 8) {
            out = malloc(usize + 1);
            if (out == NULL) {
                abort();
            }

            memset(&zs, 0, sizeof(zs));

            if (inflateInit2(&zs, -MAX_WBITS) != Z_OK) {
                abort();
            }

            zs.next_in = (Bytef *) a + pos;
            zs.avail_in = csize;
            zs.next_out = out;
            zs.avail_out = usize + 1;

            rc = inflate(&zs, Z_FINISH);

            if (rc != Z_STREAM_END || zs.total_out != usize
                || zs.avail_in != 0
                || memcmp(out, e[i].data, usize) != 0)
            {
                abort();
            }

            inflateEnd(&zs);
            free(out);

        } else {
            abort();
        }

        pos += csize;
    }

    if (size - pos < 4 || (n && fz_le(a + pos, 4) != 0x02014b50)) {
        abort();
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int          level, zip64;
    size_t       n, pos, nlen, len, s1, s2;
    uint8_t     *a1, *a2;
    fz_entry_t   e[FZ_ENTRIES_MAX];

    if (size < 1) {
        return 0;
    }

    level = data[0] % 10;
    zip64 = data[0] >> 7;

    n = 0;
    pos = 1;

    while (pos < size && n < FZ_ENTRIES_MAX) {
        nlen = data[pos++];

        if (nlen > size - pos) {
            nlen = size - pos;
        }

        e[n].name = data + pos;
        e[n].name_len = nlen;
        pos += nlen;

        len = 0;

        if (size - pos >= 2) {
            len = fz_le(data + pos, 2);
            pos += 2;
        }

        if (len > size - pos) {
            len = size - pos;
        }

        e[n].data = data + pos;
        e[n].len = len;
        pos += len;

        if (exz_check_name((const char *) e[n].name, nlen) == NULL) {
            n++;
        }
    }

    a1 = fz_write(level, zip64, 0, e, n, &s1);
    a2 = fz_write(level, zip64, 1, e, n, &s2);

    if (s1 != s2 || memcmp(a1, a2, s1) != 0) {
        fprintf(stderr, "the threaded archive differs: %zu / %zu bytes\n",
                s1, s2);
        abort();
    }

    fz_read(a1, s1, e, n);

    free(a1);
    free(a2);

    return 0;
}
