
/*
 * Unit tests for the streaming ZIP writer (src/ngx_export_zip.c).
 *
 * Every archive is checked twice: by an independent byte-level parser
 * below (offsets written out from APPNOTE, not taken from the writer's
 * format header) and by external readers: unzip -t, Python's zipfile and
 * bsdtar (libarchive).  Run from the repository root.
 *
 * Most archive tests run twice: as written, and "(thread)" with the
 * writer's thread on (exz_thread()), where the archive must be the same
 * byte for byte.  The test_thread_* tests check what is particular to
 * the thread: errors that surface later, and stopping it at any point.
 *
 * EXPORT_TEST_FULL=1 also runs the slow tests: 70,000 entries, a deflated
 * entry > 4 GiB and a stored entry > 4 GiB (about 9 GB of disk I/O in
 * $TMPDIR, files removed afterwards).  EXZ_TEST_KEEP=1 keeps the temporary
 * directory for inspection.
 */


#define _POSIX_C_SOURCE  200809L

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>
#include <cmocka.h>

#include "ngx_export_zip.h"


#define TZ_MAX32        0xffffffffULL
#define TZ_GIB          (1024ULL * 1024 * 1024)

/* tz_check() flags */
#define TZ_NO_DATA      0x01    /* skip the in-process data comparison */
#define TZ_NO_UNZIP     0x02
#define TZ_NO_BSDTAR    0x04
#define TZ_NO_EXTRACT   0x08    /* skip bsdtar -xOf (data through libarchive) */

/* the threads exz_thread() starts: with libdeflate, its deflate threads
   too (not at level 0) */
#if (EXZ_LIBDEFLATE)
#define TZ_THREADS      (1 + EXZ_DEFLATE_THREADS)
#else
#define TZ_THREADS      1
#endif
#define TZ_PY_STREAM    0x10    /* zipfile: stream-read only, no testzip() */
#define TZ_TIMING       0x20    /* print how long each reader took */


/* an expected entry */

typedef struct {
    const char            *name;
    size_t                 name_len;
    const unsigned char   *data;        /* NULL: size/crc given instead */
    uint64_t               size;
    uint32_t               crc;
    time_t                 mtime;
} tz_spec_t;


/* an entry as parsed back from the archive */

typedef struct {
    const unsigned char   *name;
    size_t                 name_len;
    unsigned               made_by;
    unsigned               version;
    unsigned               flags;
    unsigned               method;
    unsigned               dos_time;
    unsigned               dos_date;
    uint32_t               crc;
    uint32_t               utime;
    uint64_t               csize;
    uint64_t               usize;
    uint64_t               offset;
    int                    cd_zip64;        /* central ZIP64 field present */
    int                    lfh_zip64;       /* local ZIP64 field present */
    const unsigned char   *data;
} tz_entry_t;


typedef struct {
    unsigned char         *map;
    size_t                 size;
    tz_entry_t            *e;
    uint64_t               n;
    int                    zip64_end;
    unsigned               eocd_entries;
    uint32_t               eocd_cd_size;
    uint32_t               eocd_cd_offset;
    uint64_t               cd_offset;
    uint64_t               cd_size;
} tz_zip_t;


static char  tz_dir[512];
static char  tz_py[600];
static int   tz_threaded;       /* tz_create() starts the writer's thread */
static unsigned  tz_thread_flags;   /* and gives it these besides BATCH */


static const char  tz_py_source[] =
    "import sys, zipfile, zlib\n"
    "\n"
    "def check(zpath, mpath, mode):\n"
    "    exp = []\n"
    "    with open(mpath) as f:\n"
    "        for line in f:\n"
    "            h, size, crc = line.split()\n"
    "            exp.append((bytes.fromhex(h).decode('utf-8'), int(size),\n"
    "                        int(crc)))\n"
    "    with zipfile.ZipFile(zpath) as z:\n"
    "        infos = z.infolist()\n"
    "        if len(infos) != len(exp):\n"
    "            return 'entries: %d, expected %d' % (len(infos), len(exp))\n"
    "        if mode == 'full':\n"
    "            bad = z.testzip()\n"
    "            if bad is not None:\n"
    "                return 'testzip() failed at %r' % bad\n"
    "        for info, (name, size, crc) in zip(infos, exp):\n"
    "            if info.filename != name:\n"
    "                return 'name %r, expected %r' % (info.filename, name)\n"
    "            if not info.flag_bits & 0x800:\n"
    "                return '%r: no UTF-8 flag' % name\n"
    "            if info.file_size != size or info.CRC != crc:\n"
    "                return '%r: size %d crc %08x, expected %d %08x' % (\n"
    "                    name, info.file_size, info.CRC, size, crc)\n"
    "            c, n = 0, 0\n"
    "            with z.open(info) as f:\n"
    "                while True:\n"
    "                    b = f.read(1 << 20)\n"
    "                    if not b:\n"
    "                        break\n"
    "                    c = zlib.crc32(b, c)\n"
    "                    n += len(b)\n"
    "            if n != size or c != crc:\n"
    "                return '%r: read %d bytes crc %08x, expected %d %08x' \\\n"
    "                    % (name, n, c, size, crc)\n"
    "    return None\n"
    "\n"
    "err = check(sys.argv[1], sys.argv[2], sys.argv[3])\n"
    "if err:\n"
    "    sys.exit('zipfile: ' + err)\n";


/* helpers */

static unsigned
rd16(const unsigned char *p)
{
    return (unsigned) p[0] | ((unsigned) p[1] << 8);
}


static uint32_t
rd32(const unsigned char *p)
{
    return (uint32_t) p[0] | ((uint32_t) p[1] << 8)
           | ((uint32_t) p[2] << 16) | ((uint32_t) p[3] << 24);
}


static uint64_t
rd64(const unsigned char *p)
{
    return (uint64_t) rd32(p) | ((uint64_t) rd32(p + 4) << 32);
}


static double
tz_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return ts.tv_sec + ts.tv_nsec / 1e9;
}


static uint64_t
tz_rand(uint64_t *s)
{
    /* xorshift64*: reproducible chunk sizes and data */
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;

    return *s * 2685821657736338717ULL;
}


static void
tz_path(char *buf, size_t size, const char *name)
{
    int  n;

    n = snprintf(buf, size, "%s/%s", tz_dir, name);
    assert_true(n > 0 && (size_t) n < size);
}


static uint32_t
tz_crc(const unsigned char *p, size_t n)
{
    return (uint32_t) crc32(crc32(0L, Z_NULL, 0), p, (uInt) n);
}


static tz_spec_t
tz_mem(const char *name, const void *data, size_t len, time_t mtime)
{
    tz_spec_t  s;

    s.name = name;
    s.name_len = strlen(name);
    s.data = data;
    s.size = len;
    s.crc = tz_crc(data, len);
    s.mtime = mtime;

    return s;
}


static unsigned char *
tz_random_data(size_t len, uint64_t seed)
{
    size_t          i;
    uint64_t        v;
    unsigned char  *p;

    p = malloc(len ? len : 1);
    assert_non_null(p);

    v = 0;

    for (i = 0; i < len; i++) {
        if ((i & 7) == 0) {
            v = tz_rand(&seed);
        }

        p[i] = (unsigned char) (v >> ((i & 7) * 8));
    }

    return p;
}


static unsigned char *
tz_text_data(size_t len, uint64_t seed)
{
    size_t          i;
    int             n;
    uint64_t        r;
    unsigned char  *p;
    char            line[128];

    p = malloc(len + sizeof(line));
    assert_non_null(p);

    for (i = 0; i < len; i += (size_t) n) {
        r = tz_rand(&seed) % 10000;
        n = snprintf(line, sizeof(line),
                     "{\"id\":%llu,\"run\":\"r-%04llu\",\"ok\":true},\n",
                     (unsigned long long) i, (unsigned long long) r);
        memcpy(p + i, line, (size_t) n);
    }

    return p;
}


/* exz_create(), and exz_thread() in the "(thread)" runs */

static exz_t *
tz_create(int fd, int level)
{
    exz_t  *z;

    z = exz_create(fd, level);
    assert_non_null(z);

    if (tz_threaded) {
        assert_int_equal(exz_thread(z, EXZ_THREAD_BATCH|tz_thread_flags),
                         0);
    }

    return z;
}


/*
 * Threads of this process: the writer's thread shows here.  Sanitizers
 * may run threads of their own, so tests compare with tz_tasks0, the
 * count before each test.  tid, if not NULL, gets the highest id of a
 * thread not in tz_tids0.
 */

#define TZ_TIDS_MAX  64

static int  tz_tasks0;
static int  tz_tids0[TZ_TIDS_MAX];


static int
tz_task_list(int *tids, int *tid)
{
    int             n, t, i, known;
    DIR            *dir;
    struct dirent  *de;

    dir = opendir("/proc/self/task");
    assert_non_null(dir);

    n = 0;

    if (tid) {
        *tid = 0;
    }

    while ((de = readdir(dir)) != NULL) {
        if (de->d_name[0] == '.') {
            continue;
        }

        t = atoi(de->d_name);

        if (tids && n < TZ_TIDS_MAX) {
            tids[n] = t;
        }

        n++;

        if (tid) {
            known = 0;

            for (i = 0; i < tz_tasks0 && i < TZ_TIDS_MAX; i++) {
                known |= (tz_tids0[i] == t);
            }

            if (!known && t > *tid) {
                *tid = t;
            }
        }
    }

    closedir(dir);

    return n;
}


/* threads beyond those there were before the test */

static int
tz_tasks(void)
{
    return tz_task_list(NULL, NULL) - tz_tasks0;
}


static int
tz_tasks_before(void **state)
{
    (void) state;

    tz_tasks0 = tz_task_list(tz_tids0, NULL);

    return 0;
}


/* runs a shell command, shows its output only if it fails */

static int
tz_run(const char *fmt, ...)
{
    int      rc, n;
    FILE    *f;
    va_list  args;
    char     cmd[4096], log[600], line[512];

    tz_path(log, sizeof(log), "tool.log");

    va_start(args, fmt);
    n = vsnprintf(cmd + 2, sizeof(cmd) - 2, fmt, args);
    va_end(args);
    assert_true(n > 0 && (size_t) n < sizeof(cmd) - sizeof(log) - 16);

    /* a group, so that the command's own redirections still apply */
    memcpy(cmd, "{ ", 2);
    snprintf(cmd + 2 + n, sizeof(cmd) - 2 - (size_t) n, "; } >'%s' 2>&1",
             log);

    rc = system(cmd);
    rc = (rc != -1 && WIFEXITED(rc)) ? WEXITSTATUS(rc) : -1;

    if (rc != 0) {
        print_error("command failed (%d): %s\n", rc, cmd);

        f = fopen(log, "r");
        if (f != NULL) {
            for (n = 0; n < 40 && fgets(line, sizeof(line), f); n++) {
                print_error("    %s", line);
            }

            fclose(f);
        }
    }

    return rc;
}


/* writing */

static void
tz_write_chunked(exz_t *z, const unsigned char *p, size_t len, uint64_t *rs)
{
    size_t  n;

    while (len) {
        /* 1 byte .. 1 MiB, biased to small and odd sizes */
        switch (tz_rand(rs) % 4) {
        case 0:
            n = 1 + tz_rand(rs) % 16;
            break;
        case 1:
            n = 1 + tz_rand(rs) % 4096;
            break;
        case 2:
            n = 1 + tz_rand(rs) % (300 * 1024);
            break;
        default:
            n = 1 + tz_rand(rs) % (1024 * 1024);
            break;
        }

        if (n > len) {
            n = len;
        }

        assert_int_equal(exz_write(z, p, n), EXZ_OK);

        p += n;
        len -= n;
    }
}


static uint64_t
tz_build(const char *path, int level, int force, const tz_spec_t *s,
    size_t n, uint64_t seed)
{
    int          fd;
    size_t       i;
    exz_t       *z;
    uint64_t     last;
    struct stat  st;

    fd = open(path, O_WRONLY|O_CREAT|O_TRUNC, 0644);
    assert_true(fd != -1);

    z = tz_create(fd, level);

    if (force) {
        assert_int_equal(exz_force_zip64(z), EXZ_OK);
    }

    last = 0;

    for (i = 0; i < n; i++) {
        assert_int_equal(exz_begin(z, s[i].name, s[i].name_len, s[i].mtime),
                         EXZ_OK);
        tz_write_chunked(z, s[i].data, (size_t) s[i].size, &seed);
        assert_int_equal(exz_end(z), EXZ_OK);

        assert_true(exz_offset(z) > last);
        last = exz_offset(z);
        assert_int_equal(exz_entries(z), i + 1);
    }

    assert_int_equal(exz_finish(z), EXZ_OK);
    assert_string_equal(exz_strerror(z), "");
    assert_int_equal(exz_errno(z), 0);

    last = exz_offset(z);
    exz_destroy(z);

    assert_int_equal(fstat(fd, &st), 0);
    assert_int_equal(close(fd), 0);

    /* progress counter ends at the archive size */
    assert_int_equal((uint64_t) st.st_size, last);

    return last;
}


/* independent parsing */

static void
tz_extra(const unsigned char *x, size_t len, unsigned tag,
    const unsigned char **data, size_t *dlen)
{
    size_t    n;
    unsigned  t;

    *data = NULL;
    *dlen = 0;

    while (len) {
        assert_true(len >= 4);
        t = rd16(x);
        n = rd16(x + 2);
        assert_true(n <= len - 4);

        if (t == tag) {
            /* each field at most once */
            assert_null(*data);
            *data = x + 4;
            *dlen = n;
        }

        x += 4 + n;
        len -= 4 + n;
    }
}


static unsigned
tz_expected_flags(int level, unsigned method)
{
    if (method == 0) {
        return 0x0800;
    }

    switch (level) {
    case 1:
        return 0x0806;
    case 2:
        return 0x0804;
    case 8:
    case 9:
        return 0x0802;
    default:
        return 0x0800;
    }
}


static void
tz_parse(const char *path, tz_zip_t *zip, int level, int force)
{
    int                   fd, any64, need_end64;
    size_t                ulen;
    uint64_t              i, eocd, z64, next, cd_end;
    tz_entry_t           *e;
    struct stat           st;
    const unsigned char  *p, *m, *x, *u, *l;

    memset(zip, 0, sizeof(tz_zip_t));

    fd = open(path, O_RDONLY);
    assert_true(fd != -1);
    assert_int_equal(fstat(fd, &st), 0);
    assert_true(st.st_size >= 22);

    zip->size = (size_t) st.st_size;
    zip->map = mmap(NULL, zip->size, PROT_READ, MAP_PRIVATE, fd, 0);
    assert_true(zip->map != MAP_FAILED);
    close(fd);

    m = zip->map;

    /* end of central directory: last 22 bytes, no comment */

    eocd = zip->size - 22;
    p = m + eocd;
    assert_int_equal(rd32(p), 0x06054b50);
    assert_int_equal(rd16(p + 4), 0);               /* this disk */
    assert_int_equal(rd16(p + 6), 0);               /* cd disk */
    assert_int_equal(rd16(p + 8), rd16(p + 10));    /* entries */
    assert_int_equal(rd16(p + 20), 0);              /* comment length */

    zip->eocd_entries = rd16(p + 10);
    zip->eocd_cd_size = rd32(p + 12);
    zip->eocd_cd_offset = rd32(p + 16);

    zip->zip64_end = (eocd >= 20 + 56 && rd32(m + eocd - 20) == 0x07064b50);

    if (zip->zip64_end) {
        p = m + eocd - 20;                          /* locator */
        assert_int_equal(rd32(p + 4), 0);
        assert_int_equal(rd32(p + 16), 1);
        z64 = rd64(p + 8);
        assert_int_equal(z64, eocd - 20 - 56);

        p = m + z64;                                /* zip64 EOCD */
        assert_int_equal(rd32(p), 0x06064b50);
        assert_int_equal(rd64(p + 4), 44);
        assert_int_equal(rd16(p + 12) >> 8, 3);
        assert_int_equal(rd16(p + 14), 45);
        assert_int_equal(rd32(p + 16), 0);
        assert_int_equal(rd32(p + 20), 0);
        assert_int_equal(rd64(p + 24), rd64(p + 32));

        zip->n = rd64(p + 32);
        zip->cd_size = rd64(p + 40);
        zip->cd_offset = rd64(p + 48);
        cd_end = z64;

        /* classic fields: the value or the 0xffff... marker */
        assert_true(zip->eocd_entries == 0xffff
                    || zip->eocd_entries == zip->n);
        assert_true(zip->eocd_cd_size == 0xffffffff
                    || zip->eocd_cd_size == zip->cd_size);
        assert_true(zip->eocd_cd_offset == 0xffffffff
                    || zip->eocd_cd_offset == zip->cd_offset);

        if (force) {
            assert_int_equal(zip->eocd_entries, 0xffff);
            assert_int_equal(zip->eocd_cd_size, 0xffffffff);
            assert_int_equal(zip->eocd_cd_offset, 0xffffffff);
        }

    } else {
        zip->n = zip->eocd_entries;
        zip->cd_size = zip->eocd_cd_size;
        zip->cd_offset = zip->eocd_cd_offset;
        cd_end = eocd;
    }

    assert_int_equal(zip->cd_offset + zip->cd_size, cd_end);

    zip->e = calloc(zip->n ? zip->n : 1, sizeof(tz_entry_t));
    assert_non_null(zip->e);

    /* central directory */

    any64 = 0;
    p = m + zip->cd_offset;

    for (i = 0; i < zip->n; i++) {
        e = &zip->e[i];

        assert_true((uint64_t) (p - m) + 46 <= cd_end);
        assert_int_equal(rd32(p), 0x02014b50);

        e->made_by = rd16(p + 4);
        e->version = rd16(p + 6);
        e->flags = rd16(p + 8);
        e->method = rd16(p + 10);
        e->dos_time = rd16(p + 12);
        e->dos_date = rd16(p + 14);
        e->crc = rd32(p + 16);
        e->csize = rd32(p + 20);
        e->usize = rd32(p + 24);
        e->name_len = rd16(p + 28);
        e->offset = rd32(p + 42);
        e->name = p + 46;

        assert_int_equal(e->made_by >> 8, 3);              /* Unix */
        assert_true((e->made_by & 0xff) >= 45);
        assert_int_equal(e->flags, tz_expected_flags(level, e->method));
        assert_int_equal(rd16(p + 32), 0);                 /* comment */
        assert_int_equal(rd16(p + 34), 0);                 /* disk */
        assert_int_equal(rd16(p + 36), 0);                 /* internal */
        assert_int_equal(rd32(p + 38), 0100644UL << 16);   /* -rw-r--r-- */
        assert_true(e->method == 0 || e->method == 8);

        x = p + 46 + e->name_len;
        assert_true((uint64_t) (x - m) + rd16(p + 30) <= cd_end);

        /* ZIP64 field: exactly the values whose field is 0xffffffff */

        tz_extra(x, rd16(p + 30), 0x0001, &u, &ulen);
        e->cd_zip64 = (u != NULL);

        if (u) {
            any64 = 1;

            if (e->usize == TZ_MAX32) {
                assert_true(ulen >= 8);
                e->usize = rd64(u);
                u += 8;
                ulen -= 8;
            }

            if (e->csize == TZ_MAX32) {
                assert_true(ulen >= 8);
                e->csize = rd64(u);
                u += 8;
                ulen -= 8;
            }

            if (e->offset == TZ_MAX32) {
                assert_true(ulen >= 8);
                e->offset = rd64(u);
                ulen -= 8;
            }

            assert_int_equal(ulen, 0);
        }

        /* with ZIP64 a value is in the field iff it must be */
        assert_int_equal(rd32(p + 24) == TZ_MAX32,
                         force || e->usize >= TZ_MAX32);
        assert_int_equal(rd32(p + 20) == TZ_MAX32,
                         force || e->csize >= TZ_MAX32);
        assert_int_equal(rd32(p + 42) == TZ_MAX32,
                         force || e->offset >= TZ_MAX32);

        assert_int_equal(e->version, e->cd_zip64 ? 45 : 20);

        tz_extra(x, rd16(p + 30), 0x5455, &u, &ulen);
        assert_non_null(u);
        assert_int_equal(ulen, 5);
        assert_int_equal(u[0], 1);
        e->utime = rd32(u + 1);

        if (e->method == 0) {
            assert_int_equal(e->csize, e->usize);
        }

        p = x + rd16(p + 30);
    }

    assert_int_equal((uint64_t) (p - m), cd_end);

    need_end64 = force || any64 || zip->n >= 0xffff
                 || zip->cd_offset >= TZ_MAX32 || zip->cd_size >= TZ_MAX32;
    assert_int_equal(zip->zip64_end, need_end64);

    /* local headers, contiguous from offset 0 up to the central directory */

    next = 0;

    for (i = 0; i < zip->n; i++) {
        e = &zip->e[i];

        assert_int_equal(e->offset, next);
        assert_true(e->offset + 30 <= zip->cd_offset);

        l = m + e->offset;
        assert_int_equal(rd32(l), 0x04034b50);
        assert_int_equal(rd16(l + 4), e->version);
        assert_int_equal(rd16(l + 6), e->flags);
        assert_int_equal(rd16(l + 8), e->method);
        assert_int_equal(rd16(l + 10), e->dos_time);
        assert_int_equal(rd16(l + 12), e->dos_date);
        assert_int_equal(rd32(l + 14), e->crc);
        assert_int_equal(rd16(l + 26), e->name_len);
        assert_memory_equal(l + 30, e->name, e->name_len);

        /* reserved slot (growth hint or ZIP64 sizes), then timestamp */
        assert_int_equal(rd16(l + 28), 29);
        x = l + 30 + e->name_len;

        if (rd16(x) == 0x0001) {
            e->lfh_zip64 = 1;
            assert_int_equal(rd16(x + 2), 16);
            assert_int_equal(rd32(l + 18), 0xffffffff);
            assert_int_equal(rd32(l + 22), 0xffffffff);
            assert_int_equal(rd64(x + 4), e->usize);
            assert_int_equal(rd64(x + 12), e->csize);
            assert_true(force || e->usize >= TZ_MAX32
                        || e->csize >= TZ_MAX32);

        } else {
            assert_int_equal(rd16(x), 0xa220);
            assert_int_equal(rd16(x + 2), 16);
            assert_int_equal(rd16(x + 4), 0xa028);
            assert_int_equal(rd32(l + 18), e->csize);
            assert_int_equal(rd32(l + 22), e->usize);
            assert_false(force || e->usize >= TZ_MAX32
                         || e->csize >= TZ_MAX32);
        }

        x += 20;
        assert_int_equal(rd16(x), 0x5455);
        assert_int_equal(rd16(x + 2), 5);
        assert_int_equal(x[4], 1);
        assert_int_equal(rd32(x + 5), e->utime);

        e->data = x + 9;
        next = (uint64_t) (e->data - m) + e->csize;
        assert_true(next <= zip->cd_offset);
    }

    assert_int_equal(next, zip->cd_offset);
}


static void
tz_unmap(tz_zip_t *zip)
{
    munmap(zip->map, zip->size);
    free(zip->e);
}


static void
tz_dos_expect(time_t t, unsigned *dtime, unsigned *ddate, uint32_t *ut)
{
    long long  v;
    struct tm  tm;

    /* a plain restatement of the rules, for specs without literals */

    v = (long long) t;

    if (v < 315532800LL) {
        v = 315532800LL;
    }

    *ut = (v > (long long) TZ_MAX32) ? (uint32_t) TZ_MAX32 : (uint32_t) v;

    if (v > 4354819198LL) {
        v = 4354819198LL;
    }

    t = (time_t) v;
    assert_non_null(gmtime_r(&t, &tm));

    *dtime = (unsigned) ((tm.tm_hour << 11) | (tm.tm_min << 5)
                         | (tm.tm_sec / 2));
    *ddate = (unsigned) (((tm.tm_year - 80) << 9) | ((tm.tm_mon + 1) << 5)
                         | tm.tm_mday);
}


static void
tz_compare(const tz_zip_t *zip, const tz_spec_t *s, size_t n, int level,
    int data)
{
    int                 rc;
    size_t              i;
    uint32_t            ut;
    unsigned            dt, dd;
    z_stream            zs;
    unsigned char      *out;
    const tz_entry_t   *e;

    assert_int_equal(zip->n, n);

    for (i = 0; i < n; i++) {
        e = &zip->e[i];

        assert_int_equal(e->name_len, s[i].name_len);
        assert_memory_equal(e->name, s[i].name, s[i].name_len);
        assert_int_equal(e->usize, s[i].size);
        assert_int_equal(e->crc, s[i].crc);
        assert_int_equal(e->method,
                         (level == 0 || s[i].size == 0) ? 0 : 8);

        tz_dos_expect(s[i].mtime, &dt, &dd, &ut);
        assert_int_equal(e->dos_time, dt);
        assert_int_equal(e->dos_date, dd);
        assert_int_equal(e->utime, ut);

        if (!data || s[i].data == NULL) {
            continue;
        }

        if (e->method == 0) {
            assert_memory_equal(e->data, s[i].data, (size_t) s[i].size);
            continue;
        }

        out = malloc((size_t) s[i].size + 1);
        assert_non_null(out);

        memset(&zs, 0, sizeof(z_stream));
        assert_int_equal(inflateInit2(&zs, -15), Z_OK);

        zs.next_in = (unsigned char *) e->data;
        zs.avail_in = (uInt) e->csize;
        zs.next_out = out;
        zs.avail_out = (uInt) s[i].size + 1;

        rc = inflate(&zs, Z_FINISH);
        assert_int_equal(rc, Z_STREAM_END);
        assert_int_equal(zs.total_out, s[i].size);
        assert_int_equal(zs.total_in, e->csize);    /* exactly the stream */
        assert_int_equal(inflateEnd(&zs), Z_OK);

        assert_memory_equal(out, s[i].data, (size_t) s[i].size);
        free(out);
    }
}


/* external readers */

static void
tz_manifest(const char *path, const tz_spec_t *s, size_t n)
{
    size_t  i, k;
    FILE   *f;

    f = fopen(path, "w");
    assert_non_null(f);

    for (i = 0; i < n; i++) {
        for (k = 0; k < s[i].name_len; k++) {
            fprintf(f, "%02x", (unsigned char) s[i].name[k]);
        }

        fprintf(f, " %llu %lu\n", (unsigned long long) s[i].size,
                (unsigned long) s[i].crc);
    }

    assert_int_equal(fclose(f), 0);
}


static void
tz_check_list(const char *path, const tz_spec_t *s, size_t n)
{
    size_t          i, len;
    FILE           *f;
    unsigned char  *buf, *p;
    struct stat     st;

    f = fopen(path, "r");
    assert_non_null(f);
    assert_int_equal(fstat(fileno(f), &st), 0);

    len = (size_t) st.st_size;
    buf = malloc(len + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, len, f), len);
    fclose(f);

    p = buf;

    for (i = 0; i < n; i++) {
        assert_true((size_t) (p - buf) + s[i].name_len + 1 <= len);
        assert_memory_equal(p, s[i].name, s[i].name_len);
        assert_int_equal(p[s[i].name_len], '\n');
        p += s[i].name_len + 1;
    }

    assert_int_equal((size_t) (p - buf), len);
    free(buf);
}


static void
tz_tools(const char *zpath, const tz_spec_t *s, size_t n, int flags)
{
    double  t;
    char    manifest[600], list[600];

    tz_path(manifest, sizeof(manifest), "manifest.txt");
    tz_path(list, sizeof(list), "list.txt");
    tz_manifest(manifest, s, n);

    if (!(flags & TZ_NO_UNZIP)) {
        t = tz_now();
        assert_int_equal(tz_run("unzip -t -qq '%s'", zpath), 0);

        if (flags & TZ_TIMING) {
            print_message("    unzip -t:        %7.1f s\n", tz_now() - t);
        }
    }

    t = tz_now();
    assert_int_equal(tz_run("python3 '%s' '%s' '%s' %s", tz_py, zpath,
                            manifest,
                            (flags & TZ_PY_STREAM) ? "stream" : "full"),
                     0);

    if (flags & TZ_TIMING) {
        print_message("    python zipfile:  %7.1f s\n", tz_now() - t);
    }

    if (flags & TZ_NO_BSDTAR) {
        return;
    }

    t = tz_now();
    assert_int_equal(tz_run("LC_ALL=C.UTF-8 bsdtar -tf '%s' >'%s'",
                            zpath, list), 0);
    tz_check_list(list, s, n);

    if (flags & TZ_TIMING) {
        print_message("    bsdtar -tf:      %7.1f s\n", tz_now() - t);
    }

    if (flags & TZ_NO_EXTRACT) {
        return;
    }

    /* data and CRC through libarchive too */

    t = tz_now();
    assert_int_equal(tz_run("bsdtar -xOf '%s' >/dev/null", zpath), 0);

    if (flags & TZ_TIMING) {
        print_message("    bsdtar -xOf:     %7.1f s\n", tz_now() - t);
    }
}


static void
tz_check(const char *zpath, const tz_spec_t *s, size_t n, int level,
    int force, int flags)
{
    tz_zip_t  zip;

    tz_parse(zpath, &zip, level, force);
    tz_compare(&zip, s, n, level, !(flags & TZ_NO_DATA));
    tz_unmap(&zip);

    tz_tools(zpath, s, n, flags);
}


/* group setup */

static void *
tz_nothing(void *data)
{
    return data;
}


static int
tz_setup(void **state)
{
    FILE        *f;
    pthread_t    t;
    const char  *tmp;

    (void) state;

    /* ThreadSanitizer starts a thread of its own at the first one: now */

    if (pthread_create(&t, NULL, tz_nothing, NULL) != 0
        || pthread_join(t, NULL) != 0)
    {
        return -1;
    }

    tmp = getenv("TMPDIR");
    if (tmp == NULL || *tmp == '\0' || strlen(tmp) > 400
        || strchr(tmp, '\'') != NULL)
    {
        tmp = "/tmp";
    }

    snprintf(tz_dir, sizeof(tz_dir), "%s/exz-test-XXXXXX", tmp);

    if (mkdtemp(tz_dir) == NULL) {
        return -1;
    }

    snprintf(tz_py, sizeof(tz_py), "%s/check_zip.py", tz_dir);

    f = fopen(tz_py, "w");
    if (f == NULL) {
        return -1;
    }

    fputs(tz_py_source, f);

    return fclose(f) == 0 ? 0 : -1;
}


static int
tz_teardown(void **state)
{
    char        cmd[600];
    const char  *keep;

    (void) state;

    keep = getenv("EXZ_TEST_KEEP");

    if (keep != NULL && strcmp(keep, "1") == 0) {
        print_message("kept %s\n", tz_dir);
        return 0;
    }

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tz_dir);

    return system(cmd) == 0 ? 0 : -1;
}


/* tests */

static void
test_empty_archive(void **state)
{
    unsigned char        *b;
    tz_zip_t              zip;
    char                  path[600];
    static const unsigned char  eocd[22] = {
        0x50, 0x4b, 0x05, 0x06, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0
    };

    (void) state;

    tz_path(path, sizeof(path), "empty.zip");
    assert_int_equal(tz_build(path, 6, 0, NULL, 0, 1), 22);

    tz_parse(path, &zip, 6, 0);
    b = zip.map;
    assert_memory_equal(b, eocd, sizeof(eocd));
    assert_false(zip.zip64_end);
    tz_unmap(&zip);

    /* unzip -t calls an empty archive a warning (exit 1) */
    tz_tools(path, NULL, 0, TZ_NO_UNZIP);
}


static void
test_single_deflate(void **state)
{
    tz_zip_t              zip;
    tz_spec_t             s;
    char                  path[600];
    const unsigned char  *l;
    static const char     text[] =
        "id,name,status\n1,alpha,ok\n2,beta,ok\n3,gamma,failed\n"
        "1,alpha,ok\n2,beta,ok\n3,gamma,failed\n";

    (void) state;

    s = tz_mem("runid/report.csv", text, sizeof(text) - 1, 1700000001);

    tz_path(path, sizeof(path), "single.zip");
    tz_build(path, 6, 0, &s, 1, 2);

    tz_parse(path, &zip, 6, 0);
    tz_compare(&zip, &s, 1, 6, 1);

    /* the exact bytes of the local header */
    l = zip.map;
    assert_int_equal(rd32(l), 0x04034b50);
    assert_int_equal(rd16(l + 4), 20);
    assert_int_equal(rd16(l + 6), 0x0800);
    assert_int_equal(rd16(l + 8), 8);
    assert_int_equal(rd16(l + 10), (22 << 11) | (13 << 5) | 10);
    assert_int_equal(rd16(l + 12), (43 << 9) | (11 << 5) | 14);
    assert_int_equal(rd32(l + 14), s.crc);
    assert_true(rd32(l + 18) < sizeof(text) - 1);      /* compressed */
    assert_int_equal(rd32(l + 22), sizeof(text) - 1);
    assert_int_equal(rd16(l + 26), 16);
    assert_memory_equal(l + 30, "runid/report.csv", 16);
    assert_int_equal(rd32(l + 30 + 16 + 20 + 5), 1700000001);

    assert_int_equal(zip.e[0].version, 20);
    assert_false(zip.zip64_end);
    assert_int_equal(zip.size, 30 + 16 + 29 + zip.e[0].csize
                               + 46 + 16 + 9 + 22);
    tz_unmap(&zip);

    tz_tools(path, &s, 1, 0);

    /* the exact mtime reaches readers through the 0x5455 field */
    assert_int_equal(tz_run("TZ=UTC unzip -Z -T '%s' | "
                            "grep -q '^-rw-r--r-- .* unx .* "
                            "20231114\\.221321 runid/report\\.csv$'",
                            path), 0);
}


static void
test_stored(void **state)
{
    tz_zip_t        zip;
    tz_spec_t       s[3];
    unsigned char  *data;
    char            path[600];

    (void) state;

    data = tz_random_data(100000, 3);

    s[0] = tz_mem("a.bin", data, 100000, 1600000000);
    s[1] = tz_mem("empty.txt", "", 0, 1600000000);
    s[2] = tz_mem("b.txt", "hello\n", 6, 1600000000);

    tz_path(path, sizeof(path), "stored.zip");
    tz_build(path, 0, 0, s, 3, 3);

    tz_parse(path, &zip, 0, 0);
    tz_compare(&zip, s, 3, 0, 1);

    /* the raw bytes follow the header */
    assert_int_equal(zip.e[0].method, 0);
    assert_int_equal(zip.e[0].csize, 100000);
    assert_memory_equal(zip.map + 30 + 5 + 29, data, 100000);
    assert_memory_equal(zip.e[2].data, "hello\n", 6);
    tz_unmap(&zip);

    tz_check(path, s, 3, 0, 0, 0);
    free(data);
}


static void
test_levels(void **state)
{
    int             level;
    size_t          i;
    uint64_t        size[10];
    tz_zip_t        zip;
    tz_spec_t       s[4];
    unsigned char  *text, *bin;
    char            path[600], name[32];

    (void) state;

    text = tz_text_data(700000, 4);
    bin = tz_random_data(300000, 5);

    s[0] = tz_mem("data/rows.json", text, 700000, 1650000000);
    s[1] = tz_mem("data/blob.bin", bin, 300000, 1650000002);
    s[2] = tz_mem("data/none", "", 0, 1650000004);
    s[3] = tz_mem("data/one", "x", 1, 1650000006);

    for (level = 0; level <= 9; level++) {
        snprintf(name, sizeof(name), "level%d.zip", level);
        tz_path(path, sizeof(path), name);
        size[level] = tz_build(path, level, 0, s, 4, (uint64_t) level + 10);

        /* external readers for a few levels: they are slow to start */
        if (level == 0 || level == 1 || level == 6 || level == 9) {
            tz_check(path, s, 4, level, 0, 0);

        } else {
            tz_parse(path, &zip, level, 0);
            tz_compare(&zip, s, 4, level, 1);
            tz_unmap(&zip);
        }
    }

    for (i = 0; i < 10; i++) {
        print_message("    level %zu (%s level %d): %llu bytes\n", i,
                      exz_backend(), exz_backend_level((int) i),
                      (unsigned long long) size[i]);
    }

    /* compression actually happens and responds to the level */
    assert_true(size[1] < size[0] * 3 / 5);

    if (exz_backend_level(9) == 9) {
        assert_true(size[9] < size[1]);

    } else {
        /*
         * ISA-L: 1, 2 to 5 and 6 to 9 are its levels 1, 2 and 3.  On
         * reports 3 is the smallest (docs/benchmarks.md); on this short
         * and regular text it is within 1% of 1.
         */
        assert_int_equal(exz_backend_level(1), 1);
        assert_int_equal(exz_backend_level(5), 2);
        assert_int_equal(exz_backend_level(6), 3);
        assert_int_equal(exz_backend_level(-1), 3);
        assert_int_equal(size[3], size[5]);
        assert_int_equal(size[6], size[9]);
        assert_true(size[9] < size[1] * 101 / 100);
    }

    /* -1 is zlib's default, level 6 */
    tz_path(path, sizeof(path), "level-default.zip");
    assert_int_equal(tz_build(path, -1, 0, s, 4, 16), size[6]);

    free(text);
    free(bin);
}


static void
test_chunking(void **state)
{
    int             pass;
    tz_spec_t       s[6];
    unsigned char  *text, *bin;
    char            path[600];

    (void) state;

    /* entries larger than the 256 KiB buffer, fed in odd pieces */

    text = tz_text_data(3 * 1024 * 1024 + 17, 6);
    bin = tz_random_data(1024 * 1024 + 3, 7);

    s[0] = tz_mem("x/big.json", text, 3 * 1024 * 1024 + 17, 1700000000);
    s[1] = tz_mem("x/rand.bin", bin, 1024 * 1024 + 3, 1700000000);
    s[2] = tz_mem("x/empty", "", 0, 1700000000);
    s[3] = tz_mem("x/exact", bin, EXZ_BUFFER_SIZE, 1700000000);
    s[4] = tz_mem("x/small", text, 1000, 1700000000);
    s[5] = tz_mem("x/buf+1", text, EXZ_BUFFER_SIZE + 1, 1700000000);

    for (pass = 0; pass < 4; pass++) {
        tz_path(path, sizeof(path), "chunks.zip");
        tz_build(path, (pass & 1) ? 6 : 0, 0, s, 6, (uint64_t) pass + 100);
        tz_check(path, s, 6, (pass & 1) ? 6 : 0, 0, 0);
    }

    free(text);
    free(bin);
}


static void
test_one_byte_writes(void **state)
{
    int             fd;
    size_t          i;
    exz_t          *z;
    tz_zip_t        zip;
    tz_spec_t       s;
    unsigned char  *text;
    char            path[600];

    (void) state;

    text = tz_text_data(20000, 8);
    s = tz_mem("bytes.txt", text, 20000, 1700000000);

    tz_path(path, sizeof(path), "bytes.zip");
    fd = open(path, O_WRONLY|O_CREAT|O_TRUNC, 0644);
    assert_true(fd != -1);

    z = tz_create(fd, 9);
    assert_int_equal(exz_begin(z, "bytes.txt", 9, 1700000000), EXZ_OK);

    for (i = 0; i < 20000; i++) {
        assert_int_equal(exz_write(z, text + i, 1), EXZ_OK);
        assert_int_equal(exz_write(z, text, 0), EXZ_OK);
    }

    assert_int_equal(exz_end(z), EXZ_OK);
    assert_int_equal(exz_finish(z), EXZ_OK);
    exz_destroy(z);
    close(fd);

    tz_parse(path, &zip, 9, 0);
    tz_compare(&zip, &s, 1, 9, 1);
    tz_unmap(&zip);
    tz_tools(path, &s, 1, 0);

    free(text);
}


static void
test_times(void **state)
{
    size_t     i;
    tz_zip_t   zip;
    tz_spec_t  s[8];
    char       path[600];
    static const struct {
        long long  mtime;
        unsigned   dos_time;
        unsigned   dos_date;
        uint32_t   utime;
    } t[8] = {
        /* 2023-11-14 22:13:21 UTC: DOS has 2-second steps, UT is exact */
        { 1700000001LL, (22 << 11) | (13 << 5) | 10,
          (43 << 9) | (11 << 5) | 14, 1700000001 },
        /* before 1980: clamped to 1980-01-01 00:00:00 */
        { 0, 0, (1 << 5) | 1, 315532800 },
        { -86400, 0, (1 << 5) | 1, 315532800 },
        { 315532801LL, 0, (1 << 5) | 1, 315532801 },
        /* 2038-01-19 03:14:08, past the signed 32-bit range */
        { 2147483648LL, (3 << 11) | (14 << 5) | 4,
          (58 << 9) | (1 << 5) | 19, 0x80000000UL },
        /* 2106-02-07 06:28:15, the last 32-bit UT value */
        { 4294967295LL, (6 << 11) | (28 << 5) | 7,
          (126 << 9) | (2 << 5) | 7, 0xffffffffUL },
        /* 2107-12-31 23:59:59: DOS clamps to 23:59:58, UT saturates */
        { 4354819199LL, (23 << 11) | (59 << 5) | 29,
          (127 << 9) | (12 << 5) | 31, 0xffffffffUL },
        /* far future */
        { 1LL << 40, (23 << 11) | (59 << 5) | 29,
          (127 << 9) | (12 << 5) | 31, 0xffffffffUL },
    };
    static const char  *names[8] = {
        "t0", "t1", "t2", "t3", "t4", "t5", "t6", "t7"
    };

    (void) state;

    for (i = 0; i < 8; i++) {
        s[i] = tz_mem(names[i], "t", 1, (time_t) t[i].mtime);
    }

    tz_path(path, sizeof(path), "times.zip");
    tz_build(path, 6, 0, s, 8, 20);

    tz_parse(path, &zip, 6, 0);

    for (i = 0; i < 8; i++) {
        assert_int_equal(zip.e[i].dos_time, t[i].dos_time);
        assert_int_equal(zip.e[i].dos_date, t[i].dos_date);
        assert_int_equal(zip.e[i].utime, t[i].utime);
    }

    tz_compare(&zip, s, 8, 6, 1);
    tz_unmap(&zip);

    tz_tools(path, s, 8, 0);

    assert_int_equal(tz_run("TZ=UTC unzip -Z -T '%s' | "
                            "grep -q ' 20231114\\.221321 t0$'", path), 0);
    assert_int_equal(tz_run("TZ=UTC unzip -Z -T '%s' | "
                            "grep -q ' 19800101\\.000000 t1$'", path), 0);
}


static void
test_check_name(void **state)
{
    size_t   i;
    char    *longname;
    static const struct {
        const char  *name;
        size_t       len;
        const char  *reason;
    } bad[] = {
        { "", 0, "empty name" },
        { "/abs", 4, "absolute path" },
        { "/", 1, "absolute path" },
        { "a\\b", 3, "backslash" },
        { "\\\\host\\x", 8, "backslash" },
        { "a\0b", 3, "NUL byte" },
        { "ab\0", 3, "NUL byte" },
        { "..", 2, "\"..\" path component" },
        { "../x", 4, "\"..\" path component" },
        { "a/../b", 6, "\"..\" path component" },
        { "a/..", 4, "\"..\" path component" },
        { "C:foo", 5, "drive letter" },
        { "c:", 2, "drive letter" },
        { "z:/x", 4, "drive letter" },
        { "\xff", 1, "invalid UTF-8" },
        { "a\xc0\xaf" "b", 4, "invalid UTF-8" },          /* overlong */
        { "\xe0\x80\xaf", 3, "invalid UTF-8" },           /* overlong */
        { "\xed\xa0\x80", 3, "invalid UTF-8" },           /* surrogate */
        { "\xe2\x82", 2, "invalid UTF-8" },               /* truncated */
        { "\xe2\x82x", 3, "invalid UTF-8" },
        { "\xf4\x90\x80\x80", 4, "invalid UTF-8" },       /* > U+10FFFF */
        { "\xf8\x88\x80\x80\x80", 5, "invalid UTF-8" },
        { "\x80", 1, "invalid UTF-8" },
        { "a//b", 4, "empty path component" },
        { "./a", 3, "\".\" path component" },
        { "a/./b", 5, "\".\" path component" },
        { "a/.", 3, "\".\" path component" },
        { "a/", 2, "trailing slash (directories are not written)" },
        { "a\nb", 3, "control character" },
        { "a\x7f", 2, "control character" },
    };
    static const char  *good[] = {
        "a", "runid/report.csv", "a..b", "..a", "a/..b/c", "...",
        ".hidden", "x/.config", "Gr\303\274\303\237e/\xd1\x84.txt",
        "\xe6\x97\xa5\xe6\x9c\xac.txt", "\xf0\x9f\x98\x80.txt",
        "report 12:00.csv", "1:2", "a b/c-d_e.f~",
        "\xef\xbf\xbd", "\xf4\x8f\xbf\xbf",
    };

    (void) state;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (exz_check_name(bad[i].name, bad[i].len) == NULL) {
            fail_msg("bad name #%zu accepted", i);
        }

        assert_string_equal(exz_check_name(bad[i].name, bad[i].len),
                            bad[i].reason);
    }

    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        if (exz_check_name(good[i], strlen(good[i])) != NULL) {
            fail_msg("good name \"%s\" rejected: %s", good[i],
                     exz_check_name(good[i], strlen(good[i])));
        }
    }

    assert_string_equal(exz_check_name(NULL, 0), "empty name");

    longname = malloc(65536);
    assert_non_null(longname);
    memset(longname, 'n', 65536);
    assert_null(exz_check_name(longname, 65535));
    assert_string_equal(exz_check_name(longname, 65536),
                        "longer than 65535 bytes");
    free(longname);
}


static void
test_bad_name_rejected(void **state)
{
    int          fd;
    size_t       i;
    exz_t       *z;
    char         path[600];
    static const struct {
        const char  *name;
        size_t       len;
        const char  *msg;
    } t[] = {
        { "../x", 4, "bad entry name \"../x\": \"..\" path component" },
        { "/etc/passwd", 11,
          "bad entry name \"/etc/passwd\": absolute path" },
        { "a\\b", 3, "bad entry name \"a\\\\b\": backslash" },
        { "a\0b", 3, "bad entry name \"a\\x00b\": NUL byte" },
        { "\xff\xfe", 2, "bad entry name \"\\xff\\xfe\": invalid UTF-8" },
        { "C:x", 3, "bad entry name \"C:x\": drive letter" },
        { "", 0, "bad entry name \"\": empty name" },
        { "Gr\303\274\303\237e/\"q\"/..", 14,
          "bad entry name \"Gr\303\274\303\237e/\\\"q\\\"/..\": "
          "\"..\" path component" },
    };

    (void) state;

    tz_path(path, sizeof(path), "badname.zip");

    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        fd = open(path, O_WRONLY|O_CREAT|O_TRUNC, 0644);
        assert_true(fd != -1);

        z = tz_create(fd, 6);

        assert_int_equal(exz_begin(z, "ok.txt", 6, 0), EXZ_OK);
        assert_int_equal(exz_end(z), EXZ_OK);

        assert_int_equal(exz_begin(z, t[i].name, t[i].len, 0), EXZ_ERROR);
        assert_string_equal(exz_strerror(z), t[i].msg);
        assert_int_equal(exz_errno(z), 0);

        /* errors are sticky and keep the first message */
        assert_int_equal(exz_begin(z, "good", 4, 0), EXZ_ERROR);
        assert_int_equal(exz_write(z, "x", 1), EXZ_ERROR);
        assert_int_equal(exz_end(z), EXZ_ERROR);
        assert_int_equal(exz_finish(z), EXZ_ERROR);
        assert_string_equal(exz_strerror(z), t[i].msg);
        assert_int_equal(exz_entries(z), 1);

        exz_destroy(z);
        close(fd);
    }
}


static void
test_long_name_in_message(void **state)
{
    int     fd;
    exz_t  *z;
    char    path[600], name[300];

    (void) state;

    /* long names are shortened in messages */
    memset(name, 'x', sizeof(name));
    memcpy(name + sizeof(name) - 3, "/..", 3);

    tz_path(path, sizeof(path), "badname.zip");
    fd = open(path, O_WRONLY|O_CREAT|O_TRUNC, 0644);
    assert_true(fd != -1);

    z = tz_create(fd, 6);
    assert_int_equal(exz_begin(z, name, sizeof(name), 0), EXZ_ERROR);
    assert_true(strncmp(exz_strerror(z), "bad entry name \"xxxxxxxx", 24)
                == 0);
    assert_non_null(strstr(exz_strerror(z),
                           "xxx...\": \"..\" path component"));
    assert_true(strlen(exz_strerror(z)) < 200);

    exz_destroy(z);
    close(fd);
}


static void
test_utf8_names(void **state)
{
    size_t     i;
    tz_spec_t  s[5];
    char       path[600];
    static const char  *names[5] = {
        "run-\xe6\x97\xa5\xe6\x9c\xac/\xe5\xa0\xb1\xe5\x91\x8a.csv",
        "Gr\303\274\303\237e/\xd1\x84\xd0\xb0\xd0\xb9\xd0\xbb.txt",
        "emoji-\xf0\x9f\x98\x80.json",
        "plain/ascii name.txt",
        "deep/a/b/c/d/e/f/g.txt",
    };

    (void) state;

    for (i = 0; i < 5; i++) {
        s[i] = tz_mem(names[i], names[i], strlen(names[i]), 1700000000);
    }

    tz_path(path, sizeof(path), "utf8.zip");
    tz_build(path, 6, 0, s, 5, 30);

    /* python checks the decoded names, bsdtar lists them byte-exact */
    tz_check(path, s, 5, 6, 0, 0);
}


static void
test_max_name(void **state)
{
    size_t     i;
    char      *name;
    tz_spec_t  s[2];
    char       path[600];

    (void) state;

    /* a 65535-byte name made of 255-byte components */

    name = malloc(EXZ_NAME_MAX);
    assert_non_null(name);

    for (i = 0; i < EXZ_NAME_MAX; i++) {
        name[i] = (i % 256 == 255) ? '/' : (char) ('a' + i % 26);
    }

    s[0] = tz_mem("short.txt", "short\n", 6, 1700000000);
    s[1].name = name;
    s[1].name_len = EXZ_NAME_MAX;
    s[1].data = (const unsigned char *) "long\n";
    s[1].size = 5;
    s[1].crc = tz_crc(s[1].data, 5);
    s[1].mtime = 1700000000;

    tz_path(path, sizeof(path), "maxname.zip");
    tz_build(path, 6, 0, s, 2, 31);

    /* Info-ZIP and libarchive cap path lengths; zipfile does not */
    tz_check(path, s, 2, 6, 0, TZ_NO_UNZIP | TZ_NO_BSDTAR);

    free(name);
}


static void
test_force_zip64(void **state)
{
    int             level;
    tz_zip_t        zip;
    tz_spec_t       s[3];
    unsigned char  *text;
    char            path[600];
    const unsigned char  *l, *c;

    (void) state;

    text = tz_text_data(600000, 9);

    s[0] = tz_mem("z64/a.json", text, 600000, 1700000000);
    s[1] = tz_mem("z64/empty", "", 0, 1700000000);
    s[2] = tz_mem("z64/b.txt", "bee\n", 4, 1700000000);

    for (level = 0; level <= 6; level += 6) {
        tz_path(path, sizeof(path), "force64.zip");
        tz_build(path, level, 1, s, 3, 40);

        tz_parse(path, &zip, level, 1);
        tz_compare(&zip, s, 3, level, 1);

        assert_true(zip.zip64_end);
        assert_int_equal(zip.eocd_entries, 0xffff);

        /* first local header: ZIP64 sizes in the reserved slot */
        l = zip.map;
        assert_int_equal(rd16(l + 4), 45);
        assert_int_equal(rd32(l + 18), 0xffffffff);
        assert_int_equal(rd32(l + 22), 0xffffffff);
        assert_int_equal(rd16(l + 30 + 10), 0x0001);
        assert_int_equal(rd64(l + 30 + 10 + 4), 600000);
        assert_int_equal(rd64(l + 30 + 10 + 12), zip.e[0].csize);

        /* first central header: usize, csize, offset in the field */
        c = zip.map + zip.cd_offset;
        assert_int_equal(rd16(c + 30), 4 + 24 + 9);
        assert_int_equal(rd16(c + 46 + 10), 0x0001);
        assert_int_equal(rd16(c + 46 + 10 + 2), 24);
        assert_int_equal(rd64(c + 46 + 10 + 4), 600000);
        assert_int_equal(rd64(c + 46 + 10 + 20), 0);

        assert_true(zip.e[0].lfh_zip64 && zip.e[1].lfh_zip64
                    && zip.e[2].lfh_zip64);
        tz_unmap(&zip);

        tz_tools(path, s, 3, 0);
    }

    free(text);
}


static void
tz_count_archive(size_t n, int expect64)
{
    size_t      i;
    tz_zip_t    zip;
    tz_spec_t  *s;
    char       *names, path[600];

    s = calloc(n, sizeof(tz_spec_t));
    names = malloc(n * 8);
    assert_true(s != NULL && names != NULL);

    for (i = 0; i < n; i++) {
        snprintf(names + i * 8, 8, "e%05u", (unsigned) (i % 100000));
        s[i].name = names + i * 8;
        s[i].name_len = 6;
        s[i].data = (const unsigned char *) "";
        s[i].size = 0;
        s[i].crc = 0;
        s[i].mtime = 1700000000;
    }

    tz_path(path, sizeof(path), "count.zip");
    tz_build(path, 6, 0, s, n, 50);

    tz_parse(path, &zip, 6, 0);
    tz_compare(&zip, s, n, 6, 1);
    assert_int_equal(zip.zip64_end, expect64);
    assert_int_equal(zip.eocd_entries, expect64 ? 0xffff : n);
    tz_unmap(&zip);

    if (expect64) {
        tz_tools(path, s, n, TZ_NO_EXTRACT);
    }

    free(names);
    free(s);
}


static void
test_entry_count_limit(void **state)
{
    (void) state;

    /* 0xffff is the ZIP64 marker, so 65535 entries already need ZIP64 */
    tz_count_archive(65534, 0);
    tz_count_archive(65535, 1);
}


static void
test_error_dev_full(void **state)
{
    int             fd;
    exz_t          *z;
    unsigned char  *bin;

    (void) state;

    fd = open("/dev/full", O_WRONLY);
    if (fd == -1) {
        skip();
    }

    bin = tz_random_data(2 * EXZ_BUFFER_SIZE, 11);

    /* the buffer overflows inside exz_write(), stored and deflated */

    z = exz_create(fd, 0);
    assert_non_null(z);
    assert_int_equal(exz_begin(z, "a", 1, 0), EXZ_OK);
    assert_int_equal(exz_write(z, bin, 2 * EXZ_BUFFER_SIZE), EXZ_ERROR);
    assert_string_equal(exz_strerror(z),
                        "write() failed: No space left on device");
    assert_int_equal(exz_errno(z), ENOSPC);
    assert_int_equal(exz_write(z, "x", 1), EXZ_ERROR);
    assert_int_equal(exz_end(z), EXZ_ERROR);
    assert_int_equal(exz_finish(z), EXZ_ERROR);
    assert_int_equal(exz_errno(z), ENOSPC);
    exz_destroy(z);

    z = exz_create(fd, 6);
    assert_non_null(z);
    assert_int_equal(exz_begin(z, "a", 1, 0), EXZ_OK);
    assert_int_equal(exz_write(z, bin, 2 * EXZ_BUFFER_SIZE), EXZ_ERROR);
    assert_non_null(strstr(exz_strerror(z), "No space left on device"));
    exz_destroy(z);

    /* small archives are written by exz_finish() */

    z = exz_create(fd, 6);
    assert_non_null(z);
    assert_int_equal(exz_begin(z, "a", 1, 0), EXZ_OK);
    assert_int_equal(exz_write(z, "abc", 3), EXZ_OK);
    assert_int_equal(exz_end(z), EXZ_OK);
    assert_int_equal(exz_finish(z), EXZ_ERROR);
    assert_string_equal(exz_strerror(z),
                        "write() failed: No space left on device");
    assert_int_equal(exz_errno(z), ENOSPC);
    assert_int_equal(exz_finish(z), EXZ_ERROR);
    exz_destroy(z);

    close(fd);
    free(bin);
}


static void
test_error_read_only(void **state)
{
    int     fd;
    exz_t  *z;
    char    path[600];

    (void) state;

    tz_path(path, sizeof(path), "ro.zip");
    fd = open(path, O_WRONLY|O_CREAT|O_TRUNC, 0644);
    assert_true(fd != -1);
    close(fd);

    fd = open(path, O_RDONLY);
    assert_true(fd != -1);

    z = exz_create(fd, 6);
    assert_non_null(z);
    assert_int_equal(exz_begin(z, "a", 1, 0), EXZ_OK);
    assert_int_equal(exz_end(z), EXZ_OK);
    assert_int_equal(exz_finish(z), EXZ_ERROR);
    assert_string_equal(exz_strerror(z), "write() failed: Bad file descriptor");
    assert_int_equal(exz_errno(z), EBADF);
    exz_destroy(z);

    close(fd);
}


static void
test_error_pwrite(void **state)
{
    int             fd, ro;
    exz_t          *z;
    unsigned char  *bin;
    char            path[600];

    (void) state;

    /* the header is on disk when the entry ends: pwrite() must fail */

    tz_path(path, sizeof(path), "pwrite.zip");
    fd = open(path, O_WRONLY|O_CREAT|O_TRUNC, 0644);
    assert_true(fd != -1);
    ro = open(path, O_RDONLY);
    assert_true(ro != -1);

    bin = tz_random_data(EXZ_BUFFER_SIZE * 2, 12);

    z = exz_create(fd, 0);
    assert_non_null(z);
    assert_int_equal(exz_begin(z, "a", 1, 0), EXZ_OK);
    assert_int_equal(exz_write(z, bin, EXZ_BUFFER_SIZE * 2), EXZ_OK);
    assert_true(dup2(ro, fd) == fd);
    assert_int_equal(exz_end(z), EXZ_ERROR);
    assert_string_equal(exz_strerror(z),
                        "pwrite() failed: Bad file descriptor");
    assert_int_equal(exz_errno(z), EBADF);
    exz_destroy(z);

    close(fd);
    close(ro);
    free(bin);
}


static void
test_error_pipe(void **state)
{
    int     p[2];
    exz_t  *z;

    (void) state;

    assert_int_equal(pipe(p), 0);

    z = exz_create(p[1], 6);
    assert_non_null(z);
    assert_int_equal(exz_begin(z, "a", 1, 0), EXZ_ERROR);
    assert_string_equal(exz_strerror(z), "lseek() failed: Illegal seek");
    assert_int_equal(exz_errno(z), ESPIPE);
    assert_int_equal(exz_finish(z), EXZ_ERROR);
    exz_destroy(z);

    close(p[0]);
    close(p[1]);
}


static void
test_error_setup(void **state)
{
    int     fd;
    exz_t  *z;
    char    path[600];

    (void) state;

    tz_path(path, sizeof(path), "append.zip");
    fd = open(path, O_WRONLY|O_CREAT|O_TRUNC|O_APPEND, 0644);
    assert_true(fd != -1);

    z = exz_create(fd, 6);
    assert_non_null(z);
    assert_int_equal(exz_begin(z, "a", 1, 0), EXZ_ERROR);
    assert_string_equal(exz_strerror(z),
                        "output file descriptor has O_APPEND set");
    assert_int_equal(exz_errno(z), 0);
    exz_destroy(z);
    close(fd);

    fd = open(path, O_WRONLY|O_CREAT|O_TRUNC, 0644);
    assert_true(fd != -1);

    z = exz_create(fd, 10);
    assert_non_null(z);
    assert_int_equal(exz_finish(z), EXZ_ERROR);
    assert_string_equal(exz_strerror(z), "bad compression level 10");
    exz_destroy(z);

    z = exz_create(fd, -2);
    assert_non_null(z);
    assert_int_equal(exz_begin(z, "a", 1, 0), EXZ_ERROR);
    exz_destroy(z);

    close(fd);

    z = exz_create(-1, 6);
    assert_non_null(z);
    assert_int_equal(exz_begin(z, "a", 1, 0), EXZ_ERROR);
    assert_int_equal(exz_errno(z), EBADF);
    exz_destroy(z);
}


static exz_t *
tz_open(int *fd)
{
    exz_t  *z;
    char    path[600];

    tz_path(path, sizeof(path), "misuse.zip");
    *fd = open(path, O_WRONLY|O_CREAT|O_TRUNC, 0644);
    assert_true(*fd != -1);

    z = tz_create(*fd, 6);
    assert_string_equal(exz_strerror(z), "");

    return z;
}


static void
tz_close(exz_t *z, int fd, const char *msg)
{
    assert_string_equal(exz_strerror(z), msg);
    assert_int_equal(exz_errno(z), 0);
    exz_destroy(z);
    close(fd);
}


static void
test_api_misuse(void **state)
{
    int     fd;
    exz_t  *z;

    (void) state;

    z = tz_open(&fd);
    assert_int_equal(exz_write(z, "x", 1), EXZ_ERROR);
    tz_close(z, fd, "exz_write() called outside of an entry");

    z = tz_open(&fd);
    assert_int_equal(exz_end(z), EXZ_ERROR);
    tz_close(z, fd, "exz_end() called outside of an entry");

    z = tz_open(&fd);
    assert_int_equal(exz_begin(z, "a", 1, 0), EXZ_OK);
    assert_int_equal(exz_begin(z, "b", 1, 0), EXZ_ERROR);
    tz_close(z, fd, "exz_begin() called before exz_end()");

    z = tz_open(&fd);
    assert_int_equal(exz_begin(z, "a", 1, 0), EXZ_OK);
    assert_int_equal(exz_finish(z), EXZ_ERROR);
    tz_close(z, fd, "exz_finish() called before exz_end()");

    z = tz_open(&fd);
    assert_int_equal(exz_begin(z, "a", 1, 0), EXZ_OK);
    assert_int_equal(exz_write(z, NULL, 1), EXZ_ERROR);
    tz_close(z, fd, "exz_write() called with NULL buffer");

    z = tz_open(&fd);
    assert_int_equal(exz_finish(z), EXZ_OK);
    assert_int_equal(exz_offset(z), 22);
    assert_int_equal(exz_begin(z, "a", 1, 0), EXZ_ERROR);
    tz_close(z, fd, "exz_begin() called after exz_finish()");

    z = tz_open(&fd);
    assert_int_equal(exz_finish(z), EXZ_OK);
    assert_int_equal(exz_finish(z), EXZ_ERROR);
    tz_close(z, fd, "exz_finish() called after exz_finish()");

    z = tz_open(&fd);
    assert_int_equal(exz_begin(z, "a", 1, 0), EXZ_OK);
    assert_int_equal(exz_force_zip64(z), EXZ_ERROR);
    tz_close(z, fd, "exz_force_zip64() called after exz_begin()");

    /* NULL is tolerated where a failed exz_create() might leave it */
    assert_int_equal(exz_begin(NULL, "a", 1, 0), EXZ_ERROR);
    assert_int_equal(exz_write(NULL, "a", 1), EXZ_ERROR);
    assert_int_equal(exz_end(NULL), EXZ_ERROR);
    assert_int_equal(exz_finish(NULL), EXZ_ERROR);
    assert_int_equal(exz_offset(NULL), 0);
    assert_int_equal(exz_entries(NULL), 0);
    assert_int_equal(exz_errno(NULL), 0);
    assert_non_null(exz_strerror(NULL));
    exz_destroy(NULL);
}


/* exz_reset(): the next archive is the one a new writer would make */

static void
test_reset(void **state)
{
    int             fd, level, force;
    size_t          i, j, n;
    exz_t          *z, *w;
    uint64_t        seed;
    tz_spec_t       s[3];
    unsigned char  *text, *bin, *big;
    char            path[2][600];
    static const int  levels[] = { 6, 6, 0, 9, 1, 6, 6 };

    (void) state;

    text = tz_text_data(600000, 90);
    bin = tz_random_data(300000, 91);

    s[0] = tz_mem("reset/rows.json", text, 600000, 1700000000);
    s[1] = tz_mem("reset/blob.bin", bin, 300000, 1700000002);
    s[2] = tz_mem("reset/tiny", "x", 1, 1700000004);

    tz_path(path[0], sizeof(path[0]), "reset-new.zip");
    tz_path(path[1], sizeof(path[1]), "reset-reused.zip");

    z = NULL;

    for (i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
        level = levels[i];
        force = (i == 4);
        n = 3 - (i & 1);

        tz_build(path[0], level, force, s, n, 100 + i);

        fd = open(path[1], O_WRONLY|O_CREAT|O_TRUNC, 0644);
        assert_true(fd != -1);

        if (z == NULL) {
            z = exz_create(fd, level);
            assert_non_null(z);

        } else {
            assert_int_equal(exz_reset(z, fd, level), EXZ_OK);
            assert_int_equal(exz_offset(z), 0);
            assert_int_equal(exz_entries(z), 0);
        }

        /* a thread for one archive, none for the next */
        if (i == 3 || i == 5) {
            assert_int_equal(exz_thread(z, 0), 0);
        }

        if (force) {
            assert_int_equal(exz_force_zip64(z), EXZ_OK);
        }

        seed = 200 + i;

        for (j = 0; j < n; j++) {
            assert_int_equal(exz_begin(z, s[j].name, s[j].name_len,
                                       s[j].mtime), EXZ_OK);
            tz_write_chunked(z, s[j].data, (size_t) s[j].size, &seed);
            assert_int_equal(exz_end(z), EXZ_OK);
        }

        assert_int_equal(exz_finish(z), EXZ_OK);
        assert_int_equal(close(fd), 0);

        assert_int_equal(tz_run("cmp '%s' '%s'", path[0], path[1]), 0);

        if (i == 3 || i == 6) {
            tz_check(path[1], s, n, level, force, 0);
        }
    }

    /* refused: an unfinished writer, a bad level, no writer */

    fd = open(path[1], O_WRONLY|O_CREAT|O_TRUNC, 0644);
    assert_true(fd != -1);

    assert_int_equal(exz_reset(z, fd, 10), EXZ_ERROR);
    assert_int_equal(exz_reset(z, fd, 6), EXZ_OK);
    assert_int_equal(exz_begin(z, "a", 1, 0), EXZ_OK);
    assert_int_equal(exz_reset(z, fd, 6), EXZ_ERROR);
    assert_int_equal(exz_end(z), EXZ_OK);
    assert_int_equal(exz_reset(z, fd, 6), EXZ_ERROR);
    assert_int_equal(exz_reset(NULL, fd, 6), EXZ_ERROR);
    exz_destroy(z);
    assert_int_equal(close(fd), 0);

    /* refused: a writer that failed */

    fd = open("/dev/full", O_WRONLY);

    if (fd != -1) {
        big = tz_random_data(EXZ_BUFFER_SIZE * 2, 92);

        w = exz_create(fd, 0);
        assert_non_null(w);
        assert_int_equal(exz_begin(w, "a", 1, 0), EXZ_OK);
        assert_int_equal(exz_write(w, big, EXZ_BUFFER_SIZE * 2), EXZ_ERROR);
        assert_int_equal(exz_reset(w, fd, 0), EXZ_ERROR);
        assert_int_equal(exz_errno(w), ENOSPC);
        exz_destroy(w);

        (void) close(fd);
        free(big);
    }

    free(text);
    free(bin);
}


static void
test_fd_not_at_zero(void **state)
{
    int        fd;
    exz_t     *z;
    tz_spec_t  s;
    char       path[600];

    (void) state;

    /* an archive appended to existing bytes: offsets stay archive-relative */

    tz_path(path, sizeof(path), "prefixed.zip");
    fd = open(path, O_WRONLY|O_CREAT|O_TRUNC, 0644);
    assert_true(fd != -1);
    assert_int_equal(write(fd, "#!prefix\n", 9), 9);

    s = tz_mem("p.txt", "prefixed\n", 9, 1700000000);

    z = tz_create(fd, 6);
    assert_int_equal(exz_begin(z, s.name, s.name_len, s.mtime), EXZ_OK);
    assert_int_equal(exz_write(z, s.data, 9), EXZ_OK);
    assert_int_equal(exz_end(z), EXZ_OK);
    assert_int_equal(exz_finish(z), EXZ_OK);
    exz_destroy(z);
    close(fd);

    /* Python handles prepended data; unzip warns and exits 1 */
    tz_tools(path, &s, 1, TZ_NO_UNZIP);
}


/* the writer's thread */

static int
tz_thread_on(void **state)
{
    tz_threaded = 1;

    return tz_tasks_before(state);
}


/* after a test, no thread of a writer is left */

static int
tz_thread_off(void **state)
{
    (void) state;

    tz_threaded = 0;

    return (tz_tasks() == 0) ? 0 : -1;
}


static void
test_thread_same_bytes(void **state)
{
    int             level, t;
    tz_spec_t       s[5];
    unsigned char  *text, *bin;
    char            path[2][600];

    (void) state;

    /* with and without the thread, fed in other pieces: the same file */

    text = tz_text_data(2 * 1024 * 1024 + 5, 60);
    bin = tz_random_data(700000, 61);

    s[0] = tz_mem("same/report.json", text, 2 * 1024 * 1024 + 5, 1700000000);
    s[1] = tz_mem("same/empty", "", 0, 1700000002);
    s[2] = tz_mem("same/blob.bin", bin, 700000, 1700000004);
    s[3] = tz_mem("same/small.csv", text, 1000, 1700000006);
    s[4] = tz_mem("same/buf+1", text, EXZ_BUFFER_SIZE + 1, 1700000008);

    tz_path(path[0], sizeof(path[0]), "same-caller.zip");
    tz_path(path[1], sizeof(path[1]), "same-thread.zip");

    for (level = 0; level <= 9; level += 3) {
        for (t = 0; t < 2; t++) {
            tz_threaded = t;
            tz_build(path[t], level, 0, s, 5, (uint64_t) (70 + level + t));
        }

        tz_threaded = 0;

        assert_int_equal(tz_run("cmp '%s' '%s'", path[0], path[1]), 0);
    }

    tz_check(path[1], s, 5, 9, 0, 0);

    free(text);
    free(bin);
}


/*
 * EXZ_THREAD_ALONE: the writer's thread deflates alone, no deflate
 * threads beside it (libdeflate builds), and the archive is the same.
 */

static void
test_thread_alone(void **state)
{
    int             fd, level, t;
    exz_t          *z;
    tz_spec_t       s[3];
    unsigned char  *text, *bin;
    char            path[2][600];

    (void) state;

    text = tz_text_data(3 * 1024 * 1024 + 7, 63);
    bin = tz_random_data(600000, 64);

    s[0] = tz_mem("alone/report.json", text, 3 * 1024 * 1024 + 7,
                  1700000000);
    s[1] = tz_mem("alone/blob.bin", bin, 600000, 1700000002);
    s[2] = tz_mem("alone/small.csv", text, 999, 1700000004);

    tz_path(path[0], sizeof(path[0]), "alone-helpers.zip");
    tz_path(path[1], sizeof(path[1]), "alone.zip");

    for (level = 1; level <= 9; level += 4) {
        tz_threaded = 1;

        for (t = 0; t < 2; t++) {
            tz_thread_flags = t ? EXZ_THREAD_ALONE : 0;
            tz_build(path[t], level, 0, s, 3, (uint64_t) (80 + level + t));
        }

        tz_thread_flags = 0;
        tz_threaded = 0;

        assert_int_equal(tz_run("cmp '%s' '%s'", path[0], path[1]), 0);
    }

    tz_check(path[1], s, 3, 9, 0, 0);

    /* one thread, the writer's, whatever the backend */

    fd = open(path[1], O_WRONLY|O_CREAT|O_TRUNC, 0644);
    assert_true(fd != -1);
    z = exz_create(fd, 6);
    assert_non_null(z);
    assert_int_equal(exz_thread(z, EXZ_THREAD_ALONE), 0);
    assert_int_equal(exz_begin(z, "a", 1, 0), EXZ_OK);
    assert_int_equal(exz_write(z, bin, 600000), EXZ_OK);
    assert_int_equal(tz_tasks(), 1);
    assert_int_equal(exz_end(z), EXZ_OK);
    assert_int_equal(exz_finish(z), EXZ_OK);
    exz_destroy(z);
    assert_int_equal(tz_tasks(), 0);
    close(fd);

    free(text);
    free(bin);
}


static void
test_thread_dev_full(void **state)
{
    int             fd, level, rc;
    size_t          i;
    exz_t          *z;
    unsigned char  *bin;

    (void) state;

    fd = open("/dev/full", O_WRONLY);
    if (fd == -1) {
        skip();
    }

    bin = tz_random_data(1024 * 1024, 62);

    /*
     * ENOSPC in the thread: exz_write() returns EXZ_ERROR once it needs
     * a slot after the failure, at most 1 MiB of slots later.
     */

    for (level = 0; level <= 6; level += 6) {
        z = exz_create(fd, level);
        assert_non_null(z);
        assert_int_equal(exz_thread(z, 0), 0);
        assert_int_equal(exz_begin(z, "a", 1, 0), EXZ_OK);

        rc = EXZ_OK;

        for (i = 0; i < 64 && rc == EXZ_OK; i++) {
            rc = exz_write(z, bin, 1024 * 1024);
        }

        assert_int_equal(rc, EXZ_ERROR);
        assert_true(i <= 6);
        assert_string_equal(exz_strerror(z),
                            "write() failed: No space left on device");
        assert_int_equal(exz_errno(z), ENOSPC);
        assert_int_equal(exz_write(z, "x", 1), EXZ_ERROR);
        assert_int_equal(exz_end(z), EXZ_ERROR);
        assert_int_equal(exz_finish(z), EXZ_ERROR);
        assert_int_equal(exz_errno(z), ENOSPC);

        /* the failed thread still waits, for exz_destroy() */
        assert_int_equal(tz_tasks(), level ? TZ_THREADS : 1);
        exz_destroy(z);
        assert_int_equal(tz_tasks(), 0);
    }

    /* the failure is returned by the very next call */

    z = exz_create(fd, 0);
    assert_non_null(z);
    assert_int_equal(exz_thread(z, 0), 0);
    assert_int_equal(exz_begin(z, "a", 1, 0), EXZ_OK);

    /* fills the first slot exactly: queued, nothing waits for the thread */
    assert_int_equal(exz_write(z, bin, EXZ_BUFFER_SIZE - 1), EXZ_OK);

    /* the thread has tried to write the header by now */
    (void) exz_offset(z);

    assert_string_equal(exz_strerror(z),
                        "write() failed: No space left on device");
    assert_int_equal(exz_write(z, "x", 1), EXZ_ERROR);
    assert_int_equal(exz_errno(z), ENOSPC);
    exz_destroy(z);

    /* small archives are written by exz_finish(): it reports it */

    z = exz_create(fd, 6);
    assert_non_null(z);
    assert_int_equal(exz_thread(z, 0), 0);
    assert_int_equal(exz_begin(z, "a", 1, 0), EXZ_OK);
    assert_int_equal(exz_write(z, "abc", 3), EXZ_OK);
    assert_int_equal(exz_end(z), EXZ_OK);
    assert_int_equal(exz_finish(z), EXZ_ERROR);
    assert_string_equal(exz_strerror(z),
                        "write() failed: No space left on device");
    assert_int_equal(exz_errno(z), ENOSPC);
    assert_int_equal(exz_finish(z), EXZ_ERROR);

    /* exz_finish() ended the thread, failed or not */
    assert_int_equal(tz_tasks(), 0);
    exz_destroy(z);

    close(fd);
    free(bin);
}


static void
test_thread_write_errors(void **state)
{
    int             fd, ro;
    exz_t          *z;
    unsigned char  *bin;
    char            path[600];

    (void) state;

    /* a descriptor not open for writing: EBADF from exz_finish() */

    tz_path(path, sizeof(path), "ro.zip");
    fd = open(path, O_WRONLY|O_CREAT|O_TRUNC, 0644);
    assert_true(fd != -1);
    close(fd);

    fd = open(path, O_RDONLY);
    assert_true(fd != -1);

    z = exz_create(fd, 6);
    assert_non_null(z);
    assert_int_equal(exz_thread(z, 0), 0);
    assert_int_equal(exz_begin(z, "a", 1, 0), EXZ_OK);
    assert_int_equal(exz_end(z), EXZ_OK);
    assert_int_equal(exz_finish(z), EXZ_ERROR);
    assert_string_equal(exz_strerror(z),
                        "write() failed: Bad file descriptor");
    assert_int_equal(exz_errno(z), EBADF);
    exz_destroy(z);
    close(fd);

    /* the header is on disk when the thread ends the entry: pwrite() */

    tz_path(path, sizeof(path), "pwrite.zip");
    fd = open(path, O_WRONLY|O_CREAT|O_TRUNC, 0644);
    assert_true(fd != -1);
    ro = open(path, O_RDONLY);
    assert_true(ro != -1);

    bin = tz_random_data(EXZ_BUFFER_SIZE * 2, 12);

    z = exz_create(fd, 0);
    assert_non_null(z);
    assert_int_equal(exz_thread(z, 0), 0);
    assert_int_equal(exz_begin(z, "a", 1, 0), EXZ_OK);
    assert_int_equal(exz_write(z, bin, EXZ_BUFFER_SIZE * 2), EXZ_OK);

    /* everything written so far is on disk: then fd becomes read-only */
    assert_true(exz_offset(z) > EXZ_BUFFER_SIZE);
    assert_true(dup2(ro, fd) == fd);

    assert_int_equal(exz_end(z), EXZ_OK);
    assert_int_equal(exz_finish(z), EXZ_ERROR);
    assert_string_equal(exz_strerror(z),
                        "pwrite() failed: Bad file descriptor");
    assert_int_equal(exz_errno(z), EBADF);
    exz_destroy(z);

    close(fd);
    close(ro);
    free(bin);
}


static void
test_thread_destroy(void **state)
{
    int             fd, step;
    size_t          i;
    double          t, worst;
    exz_t          *z;
    unsigned char  *text;
    char            path[600];

    (void) state;

    /* exz_destroy() stops the thread wherever the caller is */

    text = tz_text_data(8 * 1024 * 1024, 63);
    tz_path(path, sizeof(path), "destroy.zip");

    assert_int_equal(tz_tasks(), 0);

    worst = 0;

    for (step = 0; step < 6; step++) {
        fd = open(path, O_WRONLY|O_CREAT|O_TRUNC, 0644);
        assert_true(fd != -1);

        z = exz_create(fd, 9);
        assert_non_null(z);
        assert_int_equal(exz_thread(z, EXZ_THREAD_BATCH), 0);
        assert_int_equal(tz_tasks(), TZ_THREADS);

        if (step >= 1) {
            /* the name waits in the caller's slot */
            assert_int_equal(exz_begin(z, "big.json", 8, 0), EXZ_OK);
        }

        if (step >= 2) {
            assert_int_equal(exz_write(z, text, 1000), EXZ_OK);
        }

        if (step >= 3) {
            /* 32 MiB at level 9: the thread is busy, every slot full */
            for (i = 0; i < 4; i++) {
                assert_int_equal(exz_write(z, text, 8 * 1024 * 1024),
                                 EXZ_OK);
            }
        }

        if (step >= 4) {
            /* the end of the entry is queued, the next one started */
            assert_int_equal(exz_end(z), EXZ_OK);
            assert_int_equal(exz_begin(z, "next", 4, 0), EXZ_OK);
            assert_int_equal(exz_write(z, text, 4 * 1024 * 1024), EXZ_OK);
        }

        if (step == 5) {
            /* a whole archive: exz_finish() ends the thread itself */
            assert_int_equal(exz_end(z), EXZ_OK);
            assert_int_equal(exz_finish(z), EXZ_OK);
            assert_int_equal(tz_tasks(), 0);
        }

        t = tz_now();
        exz_destroy(z);
        t = tz_now() - t;

        assert_int_equal(tz_tasks(), 0);
        assert_int_equal(close(fd), 0);

        if (t > worst) {
            worst = t;
        }
    }

    /* one 256 KiB chunk at level 9 at most, even under sanitizers */
    print_message("    slowest exz_destroy(): %.3f s\n", worst);
    assert_true(worst < 0.5);

    free(text);
}


#define TZ_SCHED_BATCH  3               /* Linux's value of SCHED_BATCH */


/* the scheduling policy of the writer's thread, from its stat file */

static int
tz_thread_policy(void)
{
    int    i, tid, policy;
    FILE  *f;
    char  *p;
    char   path[300], line[1024];

    (void) tz_task_list(NULL, &tid);
    assert_true(tid > 0);

    snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);

    f = fopen(path, "r");
    assert_non_null(f);
    assert_non_null(fgets(line, sizeof(line), f));
    fclose(f);

    /* field 41 is the policy; the fields after ")" start with field 3 */

    p = strrchr(line, ')');
    assert_non_null(p);
    p++;

    for (i = 3; i < 41; i++) {
        p = strchr(p + 1, ' ');
        assert_non_null(p);
    }

    policy = atoi(p + 1);

    return policy;
}


static void
test_thread_batch(void **state)
{
    int      fd, batch;
    exz_t   *z;
    char     path[600];

    (void) state;

#if !defined(__linux__)
    skip();
#endif

    tz_path(path, sizeof(path), "batch.zip");

    for (batch = 0; batch <= 1; batch++) {
        fd = open(path, O_WRONLY|O_CREAT|O_TRUNC, 0644);
        assert_true(fd != -1);

        z = exz_create(fd, 6);
        assert_non_null(z);
        assert_int_equal(exz_thread(z, batch ? EXZ_THREAD_BATCH : 0), 0);
        assert_int_equal(exz_begin(z, "a", 1, 0), EXZ_OK);
        assert_int_equal(exz_write(z, "abc", 3), EXZ_OK);

        /* the thread has started working: its policy is set */
        assert_int_equal(exz_offset(z), 30 + 1 + 29);

        assert_int_equal(tz_thread_policy(), batch ? TZ_SCHED_BATCH : 0);

        assert_int_equal(exz_end(z), EXZ_OK);
        assert_int_equal(exz_finish(z), EXZ_OK);
        exz_destroy(z);
        close(fd);
    }
}


static void
test_thread_misuse(void **state)
{
    int     fd, p[2];
    exz_t  *z;

    (void) state;

    assert_int_equal(exz_thread(NULL, 0), EINVAL);

    /* twice */
    z = tz_open(&fd);
    assert_int_equal(exz_thread(z, 0), 0);
    assert_int_equal(exz_thread(z, 0), EINVAL);
    assert_int_equal(tz_tasks(), TZ_THREADS);
    tz_close(z, fd, "");
    assert_int_equal(tz_tasks(), 0);

    /* after exz_begin(): refused, the writer goes on without it */
    z = tz_open(&fd);
    assert_int_equal(exz_begin(z, "a", 1, 0), EXZ_OK);
    assert_int_equal(exz_thread(z, 0), EINVAL);
    assert_int_equal(tz_tasks(), 0);
    assert_int_equal(exz_end(z), EXZ_OK);
    assert_int_equal(exz_finish(z), EXZ_OK);
    tz_close(z, fd, "");

    /* after exz_finish() */
    z = tz_open(&fd);
    assert_int_equal(exz_finish(z), EXZ_OK);
    assert_int_equal(exz_thread(z, 0), EINVAL);
    tz_close(z, fd, "");

    /* a writer that failed already keeps its error, and no thread */
    assert_int_equal(pipe(p), 0);
    z = exz_create(p[1], 6);
    assert_non_null(z);
    assert_int_equal(exz_thread(z, 0), 0);
    assert_int_equal(tz_tasks(), 0);
    assert_int_equal(exz_begin(z, "a", 1, 0), EXZ_ERROR);
    assert_string_equal(exz_strerror(z), "lseek() failed: Illegal seek");
    exz_destroy(z);
    close(p[0]);
    close(p[1]);
}


/* slow tests */

static int
tz_full(void)
{
    const char  *v;

    v = getenv("EXPORT_TEST_FULL");

    return v != NULL && strcmp(v, "1") == 0;
}


static void
test_full_many_entries(void **state)
{
    int             fd;
    size_t          i, n, len;
    double          t;
    exz_t          *z;
    tz_zip_t        zip;
    tz_spec_t      *s;
    char           *names, *data, path[600];

    (void) state;

    if (!tz_full()) {
        skip();
    }

    n = 70000;
    s = calloc(n, sizeof(tz_spec_t));
    names = malloc(n * 32);
    data = malloc(n * 64);
    assert_true(s != NULL && names != NULL && data != NULL);

    for (i = 0; i < n; i++) {
        snprintf(names + i * 32, 32, "run-70000/part-%05u.csv",
                 (unsigned) (i % 100000));
        len = (size_t) snprintf(data + i * 64, 64,
                                "id,value\n%zu,%zu\n%zu,%zu\n", i, i * 7,
                                i + 1, i * 13);
        s[i].name = names + i * 32;
        s[i].name_len = strlen(s[i].name);
        s[i].data = (unsigned char *) data + i * 64;
        s[i].size = len;
        s[i].crc = tz_crc(s[i].data, len);
        s[i].mtime = 1700000000 + (time_t) i;
    }

    tz_path(path, sizeof(path), "many.zip");
    fd = open(path, O_WRONLY|O_CREAT|O_TRUNC, 0644);
    assert_true(fd != -1);

    t = tz_now();

    z = tz_create(fd, 6);

    for (i = 0; i < n; i++) {
        assert_int_equal(exz_begin(z, s[i].name, s[i].name_len, s[i].mtime),
                         EXZ_OK);
        assert_int_equal(exz_write(z, s[i].data, (size_t) s[i].size),
                         EXZ_OK);
        assert_int_equal(exz_end(z), EXZ_OK);
    }

    assert_int_equal(exz_finish(z), EXZ_OK);
    exz_destroy(z);
    assert_int_equal(close(fd), 0);

    print_message("    70,000 entries written in %.2f s\n", tz_now() - t);

    t = tz_now();
    tz_parse(path, &zip, 6, 0);
    tz_compare(&zip, s, n, 6, 1);
    assert_true(zip.zip64_end);
    assert_int_equal(zip.eocd_entries, 0xffff);
    assert_int_equal(zip.n, 70000);
    print_message("    parsed and inflated in-process in %.2f s "
                  "(%zu bytes)\n", tz_now() - t, zip.size);
    tz_unmap(&zip);

    tz_tools(path, s, n, TZ_TIMING);

    unlink(path);
    free(s);
    free(names);
    free(data);
}


static void
tz_big(int level, const char *file)
{
    int             fd;
    size_t          i, n, period, chunk;
    double          t;
    exz_t          *z;
    uint64_t        size, done;
    uint32_t        crc;
    tz_zip_t        zip;
    tz_spec_t       s[3];
    struct stat     st;
    unsigned char  *pat, *src;
    char            path[600];

    /* > 4 GiB of JSON-like text with a period under deflate's window */

    size = 4 * TZ_GIB + 12345;
    chunk = 1024 * 1024;

    src = tz_text_data(4096, 77);

    for (period = 4000; src[period - 1] != '\n'; period--) { /* void */ }

    pat = malloc(period + chunk);
    assert_non_null(pat);

    for (i = 0; i < period + chunk; i++) {
        pat[i] = src[i % period];
    }

    free(src);

    s[0] = tz_mem("big/first.txt", "first\n", 6, 1700000000);
    s[1].name = "big/pattern.json";
    s[1].name_len = strlen(s[1].name);
    s[1].data = NULL;
    s[1].size = size;
    s[1].mtime = 1700000000;
    s[2] = tz_mem("big/after.txt", "after the big one\n", 18, 1700000000);

    tz_path(path, sizeof(path), file);
    fd = open(path, O_WRONLY|O_CREAT|O_TRUNC, 0644);
    assert_true(fd != -1);

    t = tz_now();

    z = tz_create(fd, level);

    assert_int_equal(exz_begin(z, s[0].name, s[0].name_len, s[0].mtime),
                     EXZ_OK);
    assert_int_equal(exz_write(z, s[0].data, 6), EXZ_OK);
    assert_int_equal(exz_end(z), EXZ_OK);

    assert_int_equal(exz_begin(z, s[1].name, s[1].name_len, s[1].mtime),
                     EXZ_OK);

    crc = (uint32_t) crc32(0L, Z_NULL, 0);

    for (done = 0; done < size; done += n) {
        n = (size - done < chunk) ? (size_t) (size - done) : chunk;
        i = (size_t) (done % period);
        crc = (uint32_t) crc32(crc, pat + i, (uInt) n);
        assert_int_equal(exz_write(z, pat + i, n), EXZ_OK);
    }

    s[1].crc = crc;

    assert_int_equal(exz_end(z), EXZ_OK);

    assert_int_equal(exz_begin(z, s[2].name, s[2].name_len, s[2].mtime),
                     EXZ_OK);
    assert_int_equal(exz_write(z, s[2].data, 18), EXZ_OK);
    assert_int_equal(exz_end(z), EXZ_OK);

    assert_int_equal(exz_finish(z), EXZ_OK);
    exz_destroy(z);
    assert_int_equal(fstat(fd, &st), 0);
    assert_int_equal(close(fd), 0);

    print_message("    level %d: %llu bytes in, %llu bytes archive, "
                  "written in %.1f s\n", level, (unsigned long long) size,
                  (unsigned long long) st.st_size, tz_now() - t);

    tz_parse(path, &zip, level, 0);
    tz_compare(&zip, s, 3, level, 1);
    assert_true(zip.zip64_end);
    assert_true(zip.e[1].lfh_zip64);
    assert_true(zip.e[1].cd_zip64);
    assert_false(zip.e[0].cd_zip64);

    if (level == 0) {
        /* past 4 GiB: the next entry's offset and the directory too */
        assert_true(zip.e[2].cd_zip64);
        assert_true(zip.e[2].offset > TZ_MAX32);
        assert_int_equal(zip.eocd_cd_offset, 0xffffffff);
    } else {
        assert_false(zip.e[2].cd_zip64);
    }

    tz_unmap(&zip);

    tz_tools(path, s, 3, TZ_PY_STREAM | TZ_TIMING);

    unlink(path);
    free(pat);
}


static void
test_full_4g_deflate(void **state)
{
    (void) state;

    if (!tz_full()) {
        skip();
    }

    tz_big(1, "big-deflate.zip");
}


static void
test_full_4g_stored(void **state)
{
    (void) state;

    if (!tz_full()) {
        skip();
    }

    tz_big(0, "big-stored.zip");
}


/* a test once more with the writer's thread */
#define tz_thread_test(f)                                                     \
    { #f " (thread)", f, tz_thread_on, tz_thread_off, NULL }


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_empty_archive),
        cmocka_unit_test(test_single_deflate),
        cmocka_unit_test(test_stored),
        cmocka_unit_test(test_levels),
        cmocka_unit_test(test_chunking),
        cmocka_unit_test(test_one_byte_writes),
        cmocka_unit_test(test_times),
        cmocka_unit_test(test_check_name),
        cmocka_unit_test(test_bad_name_rejected),
        cmocka_unit_test(test_long_name_in_message),
        cmocka_unit_test(test_utf8_names),
        cmocka_unit_test(test_max_name),
        cmocka_unit_test(test_force_zip64),
        cmocka_unit_test(test_entry_count_limit),
        cmocka_unit_test(test_error_dev_full),
        cmocka_unit_test(test_error_read_only),
        cmocka_unit_test(test_error_pwrite),
        cmocka_unit_test(test_error_pipe),
        cmocka_unit_test(test_error_setup),
        cmocka_unit_test(test_api_misuse),
        cmocka_unit_test(test_fd_not_at_zero),
        cmocka_unit_test(test_reset),
        tz_thread_test(test_empty_archive),
        tz_thread_test(test_single_deflate),
        tz_thread_test(test_stored),
        tz_thread_test(test_levels),
        tz_thread_test(test_chunking),
        tz_thread_test(test_one_byte_writes),
        tz_thread_test(test_times),
        tz_thread_test(test_bad_name_rejected),
        tz_thread_test(test_long_name_in_message),
        tz_thread_test(test_utf8_names),
        tz_thread_test(test_max_name),
        tz_thread_test(test_force_zip64),
        tz_thread_test(test_entry_count_limit),
        tz_thread_test(test_api_misuse),
        tz_thread_test(test_fd_not_at_zero),
        cmocka_unit_test_setup_teardown(test_thread_same_bytes,
                                        tz_tasks_before, tz_thread_off),
        cmocka_unit_test_setup_teardown(test_thread_alone,
                                        tz_tasks_before, tz_thread_off),
        cmocka_unit_test_setup(test_thread_dev_full, tz_tasks_before),
        cmocka_unit_test(test_thread_write_errors),
        cmocka_unit_test_setup(test_thread_destroy, tz_tasks_before),
        cmocka_unit_test_setup(test_thread_batch, tz_tasks_before),
        cmocka_unit_test_setup(test_thread_misuse, tz_tasks_before),
        cmocka_unit_test(test_full_many_entries),
        tz_thread_test(test_full_many_entries),
        cmocka_unit_test(test_full_4g_deflate),
        tz_thread_test(test_full_4g_deflate),
        cmocka_unit_test(test_full_4g_stored),
    };

    return cmocka_run_group_tests(tests, tz_setup, tz_teardown);
}
