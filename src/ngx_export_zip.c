
/*
 * Streaming ZIP writer on zlib or ISA-L.  C99 + POSIX, no nginx
 * dependency, so it runs in thread-pool jobs, unit tests and fuzzers
 * alike.
 *
 * The deflate backend is chosen at build time: EXZ_ISAL=1 uses Intel's
 * ISA-L (igzip, -lisal), several times faster than zlib but with 4
 * levels only (see exz_isal_level()); EXZ_LIBDEFLATE=1 uses libdeflate
 * (-ldeflate), whose level 6 is as small as zlib's and faster; otherwise
 * zlib (-lz).  Only exz_zinit(), exz_zreset(), exz_zend(), exz_deflate()
 * and exz_crc32() differ, at the end of this file.
 *
 * Layout of an entry: local header with zeroed CRC/sizes and a reserved
 * 20-byte extra slot, then the data.  When the entry ends its header is
 * rewritten in place (in the output buffer if it is still there, else with
 * pwrite()); if the entry needed ZIP64 the slot becomes the ZIP64 field.
 * No data descriptors are written.  See ngx_export_zip_format.h.
 *
 * The work is split in two sides.  The API functions check their
 * arguments and the call order (the caller's side); exz_begin_entry(),
 * exz_write_data(), exz_end_entry() and exz_finish_archive() lay out the
 * file, run CRC and deflate and write (the writing side).  Without
 * exz_thread() the API functions call the writing side directly.  With
 * it they copy the entry data into a few fixed chunk buffers ("slots")
 * and queue them; the thread takes them in order, runs the writing side
 * on them and gives them back.  The writing side's state (buf, entries,
 * zs, ...) then belongs to the thread until exz_finish() or
 * exz_destroy() has joined it; only the first error is shared, under
 * the mutex.
 */


#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE                 /* SCHED_BATCH */
#endif

#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)                      \
    && !defined(_XOPEN_SOURCE)
#define _POSIX_C_SOURCE  200809L
#endif

#ifndef EXZ_ISAL
#define EXZ_ISAL  0
#endif

#ifndef EXZ_LIBDEFLATE
#define EXZ_LIBDEFLATE  0
#endif

#if (EXZ_ISAL && EXZ_LIBDEFLATE)
#error "EXZ_ISAL and EXZ_LIBDEFLATE: one deflate backend only"
#endif

#define ZLIB_CONST

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#if (EXZ_ISAL)
#include <isa-l/crc.h>
#include <isa-l/igzip_lib.h>
#elif (EXZ_LIBDEFLATE)
#include <libdeflate.h>
#else
#include <zlib.h>
#endif

#include "ngx_export_zip.h"
#include "ngx_export_zip_format.h"


#define EXZ_ERRSTR_SIZE     384
#define EXZ_NAME_SHOW       64      /* name bytes quoted in messages */
#define EXZ_CHUNK           (256 * 1024)    /* crc32+deflate granularity */
#define EXZ_IO_MAX          (1024 * 1024 * 1024)

/* exz_deflate() */
#define EXZ_Z_NO_FLUSH      0
#define EXZ_Z_FINISH        1

/* libdeflate: what joining a piece adds, see exz_ld_piece() */
#define EXZ_SYNC_SIZE       8

#define EXZ_DOS_MIN_TIME    315532800LL     /* 1980-01-01 00:00:00 UTC */
#define EXZ_DOS_MAX_TIME    4354819198LL    /* 2107-12-31 23:59:58 UTC */

/* with a thread: 4 slots of one chunk, 1 MiB in all */
#define EXZ_SLOTS           4
#define EXZ_SLOT_SIZE       EXZ_CHUNK

/* exz_reset() keeps the lists of entries and names up to these sizes */
#define EXZ_KEEP_ENTRIES    4096
#define EXZ_KEEP_NAMES      (256 * 1024)


typedef struct {
    uint64_t        offset;         /* of the local header */
    uint64_t        csize;
    uint64_t        usize;
    size_t          name;           /* offset in exz_t.names */
    uint32_t        crc;
    uint32_t        utime;          /* Unix mtime for the 0x5455 field */
    uint16_t        dos_time;
    uint16_t        dos_date;
    uint16_t        name_len;
    uint16_t        method;
} exz_entry_t;


/* a chunk buffer on its way to the thread: what the writing side does */

typedef struct exz_slot_s  exz_slot_t;

struct exz_slot_s {
    exz_slot_t     *next;
    unsigned char  *data;           /* EXZ_SLOT_SIZE bytes */
    size_t          len;            /* used, the name included */
    size_t          name_len;       /* begin: data starts with the name */
    time_t          mtime;
    unsigned        begin:1;        /* starts an entry */
    unsigned        end:1;          /* ends it after the data */
    unsigned        finish:1;       /* writes the central directory */
};


typedef struct {
    pthread_t        tid;
    pthread_mutex_t  mutex;
    pthread_cond_t   work;          /* to the thread: queued, or stop */
    pthread_cond_t   done;          /* to the caller: a slot came back */
    exz_slot_t      *free;
    exz_slot_t      *head;          /* queued, oldest first */
    exz_slot_t      *tail;
    unsigned         busy:1;        /* the thread is on a slot */
    unsigned         stop:1;
    unsigned         flags;

    exz_slot_t      *cur;           /* the caller's, being filled */

    exz_slot_t       slots[EXZ_SLOTS];
} exz_worker_t;


#if (EXZ_LIBDEFLATE)

/* libdeflate: deflate threads beside the writer's, see exz_pool_start() */

#define EXZ_HELPERS         EXZ_DEFLATE_THREADS
#define EXZ_PIECES          5

#define EXZ_PIECE_FREE      0
#define EXZ_PIECE_QUEUED    1
#define EXZ_PIECE_BUSY      2
#define EXZ_PIECE_DONE      3       /* from here on: the helper is done */
#define EXZ_PIECE_FAILED    4

typedef struct exz_piece_s  exz_piece_t;
typedef struct exz_pool_s   exz_pool_t;

struct exz_piece_s {
    exz_piece_t    *next;           /* free list, or queue to deflate */
    unsigned char  *data;           /* EXZ_CHUNK bytes of the entry */
    size_t          len;
    unsigned char  *cbuf;           /* exz_pool_t.cap bytes */
    size_t          clen;
    int             last;
    int             state;
};

typedef struct {
    pthread_t       tid;
    exz_pool_t     *pool;
    struct libdeflate_compressor  *ld;
    uint16_t       *ltab;
    uint16_t       *dtab;
} exz_helper_t;

struct exz_pool_s {
    pthread_mutex_t  mutex;
    pthread_cond_t   work;          /* to the helpers: queued, or stop */
    pthread_cond_t   done;          /* to the writer: a piece is done */
    exz_piece_t     *free;
    exz_piece_t     *qhead;         /* to deflate, oldest first */
    exz_piece_t     *qtail;
    exz_piece_t     *order[EXZ_PIECES];  /* handed over, a ring */
    size_t           ofirst;
    size_t           ocount;
    size_t           cap;
    unsigned         stop:1;
    unsigned         flags;         /* exz_thread()'s */
    size_t           nhelpers;
    exz_helper_t     helpers[EXZ_HELPERS];
    exz_piece_t      pieces[EXZ_PIECES];
};

#endif


struct exz_s {
    int             fd;
    int             level;

    /*
     * The groups of bit fields are apart on purpose: with a thread, the
     * caller's side writes the first group while the thread writes the
     * second, and bit fields next to each other share a memory location.
     */

    /* the caller's side */
    unsigned        in_entry:1;
    unsigned        begun:1;        /* an entry was started */
    unsigned        finished:1;

    /* the first error; with a thread, under its mutex */
    int             failed;
    int             err;

    /* the writing side */
    unsigned        force_zip64:1;  /* set before any entry */
    unsigned        zip64:1;        /* some entry needed ZIP64 */
    unsigned        zinit:1;        /* deflateInit2() done */
    unsigned        zused:1;        /* deflate state needs a reset */
    unsigned        zactive:1;      /* current entry fed deflate */

    exz_worker_t   *worker;         /* exz_thread() */

    off_t           base;           /* file offset of the archive start */
    uint64_t        written;        /* archive bytes already written */

    unsigned char  *buf;
    size_t          len;
    size_t          cap;

    exz_entry_t    *entries;
    size_t          nentries;       /* finished entries */
    size_t          nalloc;

    char           *names;
    size_t          names_len;
    size_t          names_alloc;

#if (EXZ_ISAL)
    struct isal_zstream  zs;
    unsigned char  *level_buf;      /* ISA-L's hash tables, per level */
    unsigned char  *stage;          /* EXZ_CHUNK bytes, see exz_deflate() */
    size_t          stage_len;
#elif (EXZ_LIBDEFLATE)
    struct libdeflate_compressor  *ld;
    unsigned char  *stage;          /* EXZ_CHUNK bytes, see exz_deflate() */
    size_t          stage_len;
    unsigned char  *cbuf;           /* a deflated piece */
    size_t          cbuf_cap;
    uint16_t       *ltab;           /* exz_walk()'s decoding tables */
    uint16_t       *dtab;
    exz_pool_t     *pool;           /* the writer thread's helpers */
    exz_piece_t    *piece;          /* ... and the piece it fills */
#else
    z_stream        zs;
#endif

    char            errstr[EXZ_ERRSTR_SIZE];
};


static int exz_fail(exz_t *z, int err, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static int exz_usable(exz_t *z, const char *func);
static void exz_check_fd(exz_t *z);
static int exz_begin_entry(exz_t *z, const char *name, size_t name_len,
    time_t mtime);
static int exz_write_data(exz_t *z, const unsigned char *p, size_t len);
static int exz_end_entry(exz_t *z);
static int exz_finish_archive(exz_t *z);
static exz_worker_t *exz_worker_alloc(void);
static void exz_worker_free(exz_worker_t *w);
static void *exz_thread_main(void *data);
static int exz_run(exz_t *z, exz_slot_t *s);
static exz_slot_t *exz_slot(exz_t *z);
static void exz_queue(exz_t *z);
static void exz_drain(exz_t *z);
static void exz_sync(exz_t *z);
static void exz_stop(exz_t *z);
static int exz_failed(exz_t *z);
static uint64_t exz_produced(const exz_t *z);
static size_t exz_utf8_seq(const unsigned char *p, size_t n);
static void exz_quote(char *dst, size_t size, const unsigned char *p,
    size_t n);
static int exz_grow(exz_t *z, size_t name_len);
static void exz_dos_time(time_t mtime, exz_entry_t *e);
static int exz_lfh_zip64(const exz_t *z, const exz_entry_t *e);
static int exz_cd_zip64(const exz_t *z, const exz_entry_t *e, int *u,
    int *c, int *o);
static uint16_t exz_flags(const exz_t *z, const exz_entry_t *e);
static void exz_lfh_fixed(const exz_t *z, const exz_entry_t *e,
    unsigned char *p);
static void exz_lfh_slot(const exz_t *z, const exz_entry_t *e,
    unsigned char *p);
static size_t exz_cdh(const exz_t *z, const exz_entry_t *e,
    unsigned char *p);
static int exz_reserve(exz_t *z, size_t n);
static int exz_flush(exz_t *z);
static int exz_write_all(exz_t *z, const unsigned char *p, size_t n);
static int exz_pwrite_all(exz_t *z, const unsigned char *p, size_t n,
    uint64_t off);
static int exz_patch(exz_t *z, const unsigned char *p, size_t n,
    uint64_t off);
static int exz_zinit(exz_t *z, int level);
static int exz_zreset(exz_t *z);
static void exz_zend(exz_t *z);
static int exz_deflate(exz_t *z, const unsigned char *p, size_t n,
    int flush);
#if (EXZ_LIBDEFLATE)
static void exz_pool_start(exz_t *z, unsigned flags);
static void exz_pool_stop(exz_t *z);
static int exz_pool_deflate(exz_t *z, const unsigned char *p, size_t n,
    int flush);
#endif
static uint32_t exz_crc32(uint32_t crc, const unsigned char *p, size_t n);


static void
exz_put16(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char) (v & 0xff);
    p[1] = (unsigned char) ((v >> 8) & 0xff);
}


static void
exz_put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char) (v & 0xff);
    p[1] = (unsigned char) ((v >> 8) & 0xff);
    p[2] = (unsigned char) ((v >> 16) & 0xff);
    p[3] = (unsigned char) ((v >> 24) & 0xff);
}


static void
exz_put64(unsigned char *p, uint64_t v)
{
    exz_put32(p, (uint32_t) (v & 0xffffffff));
    exz_put32(p + 4, (uint32_t) (v >> 32));
}


/* a 32-bit header field: the value, or 0xffffffff if it lives in ZIP64 */

static uint32_t
exz_field32(uint64_t v, int zip64)
{
    return zip64 ? (uint32_t) EXZ_MAX32 : (uint32_t) v;
}


exz_t *
exz_create(int fd, int level)
{
    int     rc;
    exz_t  *z;

    z = calloc(1, sizeof(exz_t));
    if (z == NULL) {
        return NULL;
    }

    z->fd = fd;
    z->level = (level == -1) ? 6 : level;   /* zlib's default */
    z->cap = EXZ_BUFFER_SIZE;

    z->buf = malloc(z->cap);
    if (z->buf == NULL) {
        free(z);
        return NULL;
    }

    if (z->level < 0 || z->level > 9) {
        (void) exz_fail(z, 0, "bad compression level %d", level);
        return z;
    }

    if (z->level > 0) {
        rc = exz_zinit(z, z->level);

        if (rc == ENOMEM) {
            free(z->buf);
            free(z);
            return NULL;
        }

        if (rc != 0) {
            return z;
        }
    }

    exz_check_fd(z);

    return z;
}


int
exz_reset(exz_t *z, int fd, int level)
{
    if (z == NULL || !z->finished || z->failed || z->worker != NULL) {
        return EXZ_ERROR;
    }

    level = (level == -1) ? 6 : level;

    if (level < 0 || level > 9) {
        return EXZ_ERROR;
    }

#if (EXZ_LIBDEFLATE)
    /* a kept writer does not keep 1.3 MiB of deflate state: on first use */
    if (z->zinit) {
        exz_zend(z);
    }
#endif

    if (z->zinit && level != z->level) {
        exz_zend(z);
    }

    if (level > 0 && !z->zinit) {
        if (exz_zinit(z, level) != 0) {
            return EXZ_ERROR;
        }

        z->zused = 0;
    }

    /* zused stays: the first deflated entry resets the stream */

    z->fd = fd;
    z->level = level;

    z->in_entry = 0;
    z->begun = 0;
    z->finished = 0;
    z->err = 0;
    z->errstr[0] = '\0';
    z->force_zip64 = 0;
    z->zip64 = 0;
    z->zactive = 0;

    z->written = 0;
    z->len = 0;
    z->nentries = 0;
    z->names_len = 0;

    /* the lists of a huge archive are not kept for the next ones */

    if (z->nalloc > EXZ_KEEP_ENTRIES) {
        free(z->entries);
        z->entries = NULL;
        z->nalloc = 0;
    }

    if (z->names_alloc > EXZ_KEEP_NAMES) {
        free(z->names);
        z->names = NULL;
        z->names_alloc = 0;
    }

    exz_check_fd(z);

    return EXZ_OK;
}


/* where the archive starts in fd, and whether fd can take it */

static void
exz_check_fd(exz_t *z)
{
    int  flags;

    /* headers are fixed up with pwrite(), so the fd must be seekable */

    z->base = lseek(z->fd, 0, SEEK_CUR);
    if (z->base == (off_t) -1) {
        (void) exz_fail(z, errno, "lseek() failed");
        return;
    }

    /* with O_APPEND Linux pwrite() appends instead of patching */

    flags = fcntl(z->fd, F_GETFL);
    if (flags == -1) {
        (void) exz_fail(z, errno, "fcntl() failed");
        return;
    }

    if (flags & O_APPEND) {
        (void) exz_fail(z, 0, "output file descriptor has O_APPEND set");
    }
}


int
exz_thread(exz_t *z, unsigned flags)
{
    int            err;
    sigset_t       all, old;
    exz_worker_t  *w;

    if (z == NULL || z->worker != NULL || z->begun || z->finished) {
        return EINVAL;
    }

    if (z->failed) {
        /* its calls fail anyway, with the first error */
        return 0;
    }

    w = exz_worker_alloc();
    if (w == NULL) {
        return ENOMEM;
    }

    w->flags = flags;

    err = pthread_mutex_init(&w->mutex, NULL);
    if (err) {
        goto failed;
    }

    err = pthread_cond_init(&w->work, NULL);
    if (err) {
        goto failed_mutex;
    }

    err = pthread_cond_init(&w->done, NULL);
    if (err) {
        goto failed_work;
    }

    /* signals are for the caller's threads: the new one blocks them all */

    (void) sigfillset(&all);
    (void) pthread_sigmask(SIG_SETMASK, &all, &old);

#if (EXZ_LIBDEFLATE)
    /* before the thread: it looks at z->pool from its first slot on */
    if (!(flags & EXZ_THREAD_ALONE)) {
        exz_pool_start(z, flags);
    }
#endif

    z->worker = w;
    err = pthread_create(&w->tid, NULL, exz_thread_main, z);

    (void) pthread_sigmask(SIG_SETMASK, &old, NULL);

    if (err == 0) {
        return 0;
    }

    z->worker = NULL;

#if (EXZ_LIBDEFLATE)
    if (z->pool) {
        exz_pool_stop(z);
    }
#endif

    (void) pthread_cond_destroy(&w->done);

failed_work:

    (void) pthread_cond_destroy(&w->work);

failed_mutex:

    (void) pthread_mutex_destroy(&w->mutex);

failed:

    exz_worker_free(w);

    return err;
}


int
exz_force_zip64(exz_t *z)
{
    if (exz_usable(z, "exz_force_zip64()") != EXZ_OK) {
        return EXZ_ERROR;
    }

    if (z->begun) {
        return exz_fail(z, 0, "exz_force_zip64() called after exz_begin()");
    }

    /* a thread reads them only once a slot is queued: no race */
    z->force_zip64 = 1;
    z->zip64 = 1;

    return EXZ_OK;
}


int
exz_begin(exz_t *z, const char *name, size_t name_len, time_t mtime)
{
    const char  *reason;
    exz_slot_t  *s;
    char         quoted[EXZ_NAME_SHOW * 4 + 8];

    if (exz_usable(z, "exz_begin()") != EXZ_OK) {
        return EXZ_ERROR;
    }

    if (z->in_entry) {
        return exz_fail(z, 0, "exz_begin() called before exz_end()");
    }

    reason = exz_check_name(name, name_len);
    if (reason != NULL) {
        exz_quote(quoted, sizeof(quoted), (const unsigned char *) name,
                  name ? name_len : 0);
        return exz_fail(z, 0, "bad entry name \"%s\": %s", quoted, reason);
    }

    if (z->worker == NULL) {
        if (exz_begin_entry(z, name, name_len, mtime) != EXZ_OK) {
            return EXZ_ERROR;
        }

    } else {
        /* the name heads the entry's first slot, the data follows */

        s = exz_slot(z);
        if (s == NULL) {
            return EXZ_ERROR;
        }

        memcpy(s->data, name, name_len);
        s->len = name_len;
        s->name_len = name_len;
        s->mtime = mtime;
        s->begin = 1;
    }

    z->in_entry = 1;
    z->begun = 1;

    return EXZ_OK;
}


int
exz_write(exz_t *z, const void *buf, size_t len)
{
    size_t                n;
    exz_slot_t           *s;
    const unsigned char  *p;

    if (exz_usable(z, "exz_write()") != EXZ_OK) {
        return EXZ_ERROR;
    }

    if (!z->in_entry) {
        return exz_fail(z, 0, "exz_write() called outside of an entry");
    }

    if (len == 0) {
        return EXZ_OK;
    }

    if (buf == NULL) {
        return exz_fail(z, 0, "exz_write() called with NULL buffer");
    }

    if (z->worker == NULL) {
        return exz_write_data(z, buf, len);
    }

    p = buf;

    while (len) {
        s = exz_slot(z);
        if (s == NULL) {
            return EXZ_ERROR;
        }

        n = EXZ_SLOT_SIZE - s->len;

        if (n > len) {
            n = len;
        }

        memcpy(s->data + s->len, p, n);
        s->len += n;
        p += n;
        len -= n;

        if (s->len == EXZ_SLOT_SIZE) {
            exz_queue(z);
        }
    }

    return EXZ_OK;
}


int
exz_end(exz_t *z)
{
    exz_slot_t  *s;

    if (exz_usable(z, "exz_end()") != EXZ_OK) {
        return EXZ_ERROR;
    }

    if (!z->in_entry) {
        return exz_fail(z, 0, "exz_end() called outside of an entry");
    }

    if (z->worker == NULL) {
        if (exz_end_entry(z) != EXZ_OK) {
            return EXZ_ERROR;
        }

    } else {
        s = exz_slot(z);
        if (s == NULL) {
            return EXZ_ERROR;
        }

        s->end = 1;
        exz_queue(z);
    }

    z->in_entry = 0;

    return EXZ_OK;
}


int
exz_finish(exz_t *z)
{
    exz_slot_t  *s;

    if (exz_usable(z, "exz_finish()") != EXZ_OK) {
        return EXZ_ERROR;
    }

    if (z->in_entry) {
        return exz_fail(z, 0, "exz_finish() called before exz_end()");
    }

    if (z->worker == NULL) {
        if (exz_finish_archive(z) != EXZ_OK) {
            return EXZ_ERROR;
        }

    } else {
        s = exz_slot(z);
        if (s == NULL) {
            return EXZ_ERROR;
        }

        s->finish = 1;
        exz_queue(z);
        exz_drain(z);

        /* the archive is written: from here on one thread again */
        exz_stop(z);

        if (z->failed) {
            return EXZ_ERROR;
        }
    }

    z->finished = 1;

    return EXZ_OK;
}


/*
 * exz_offset() and exz_entries() wait for the thread to catch up, so
 * that they mean what they mean without it.  The object is never const
 * underneath: the const of the prototypes promises no visible change.
 */

uint64_t
exz_offset(const exz_t *z)
{
    if (z == NULL) {
        return 0;
    }

    if (z->worker) {
        exz_sync((exz_t *) z);
    }

    return exz_produced(z);
}


uint64_t
exz_entries(const exz_t *z)
{
    if (z == NULL) {
        return 0;
    }

    if (z->worker) {
        exz_sync((exz_t *) z);
    }

    return z->nentries;
}


const char *
exz_strerror(const exz_t *z)
{
    if (z == NULL) {
        return "no ZIP writer (out of memory?)";
    }

    /* once failed is seen, errstr no longer changes */
    return exz_failed((exz_t *) z) ? z->errstr : "";
}


int
exz_errno(const exz_t *z)
{
    return (z && exz_failed((exz_t *) z)) ? z->err : 0;
}


void
exz_destroy(exz_t *z)
{
    if (z == NULL) {
        return;
    }

    if (z->worker) {
        /* what is still queued is dropped, mid-entry or not */
        exz_stop(z);
    }

    if (z->zinit) {
        exz_zend(z);
    }

    free(z->entries);
    free(z->names);
    free(z->buf);
    free(z);
}


/* the writing side: what the API calls do, here or in the thread */

static int
exz_begin_entry(exz_t *z, const char *name, size_t name_len, time_t mtime)
{
    size_t          hlen;
    exz_entry_t    *e;
    unsigned char  *p;

    if (exz_grow(z, name_len) != EXZ_OK) {
        return EXZ_ERROR;
    }

    e = &z->entries[z->nentries];
    memset(e, 0, sizeof(exz_entry_t));

    e->offset = exz_produced(z);
    e->name = z->names_len;
    e->name_len = (uint16_t) name_len;
    e->method = z->level ? EXZ_METHOD_DEFLATE : EXZ_METHOD_STORE;
    exz_dos_time(mtime, e);

    memcpy(z->names + z->names_len, name, name_len);
    z->names_len += name_len;

    /*
     * The whole header goes into the buffer at once, so it is either
     * entirely buffered or entirely on disk when exz_end() patches it.
     */

    hlen = EXZ_LFH_SIZE + name_len + EXZ_LFH_EXTRA_SIZE;

    if (exz_reserve(z, hlen) != EXZ_OK) {
        z->names_len -= name_len;
        return EXZ_ERROR;
    }

    p = z->buf + z->len;

    exz_lfh_fixed(z, e, p);
    memcpy(p + EXZ_LFH_NAME, name, name_len);
    p += EXZ_LFH_NAME + name_len;

    exz_lfh_slot(z, e, p);
    p += EXZ_RESERVED_SIZE;

    exz_put16(p + EXZ_EXTRA_TAG, EXZ_UT_TAG);
    exz_put16(p + EXZ_EXTRA_LEN, EXZ_UT_LFH_SIZE - EXZ_EXTRA_HDR_SIZE);
    p[EXZ_UT_FLAGS] = EXZ_UT_FLAG_MTIME;
    exz_put32(p + EXZ_UT_MTIME, e->utime);

    z->len += hlen;
    z->zactive = 0;

    return EXZ_OK;
}


static int
exz_write_data(exz_t *z, const unsigned char *p, size_t len)
{
    size_t        n;
    exz_entry_t  *e;

    e = &z->entries[z->nentries];

    if (e->method == EXZ_METHOD_STORE) {
        e->crc = exz_crc32(e->crc, p, len);
        e->usize += len;
        e->csize += len;

        if (len <= z->cap - z->len) {
            memcpy(z->buf + z->len, p, len);
            z->len += len;
            return EXZ_OK;
        }

        /* large chunks bypass the buffer: one copy less */

        if (exz_flush(z) != EXZ_OK) {
            return EXZ_ERROR;
        }

        if (len >= z->cap) {
            return exz_write_all(z, p, len);
        }

        memcpy(z->buf, p, len);
        z->len = len;

        return EXZ_OK;
    }

    if (!z->zactive) {
        if (z->zused && exz_zreset(z) != EXZ_OK) {
            return EXZ_ERROR;
        }

        z->zused = 1;
        z->zactive = 1;
    }

    /* crc32 and deflate the same cache-sized piece back to back */

    while (len) {
        n = (len < EXZ_CHUNK) ? len : EXZ_CHUNK;

        e->crc = exz_crc32(e->crc, p, n);
        e->usize += n;

        if (exz_deflate(z, p, n, EXZ_Z_NO_FLUSH) != EXZ_OK) {
            return EXZ_ERROR;
        }

        p += n;
        len -= n;
    }

    return EXZ_OK;
}


static int
exz_end_entry(exz_t *z)
{
    int             zip64;
    exz_entry_t    *e;
    unsigned char   hdr[EXZ_LFH_SIZE], slot[EXZ_RESERVED_SIZE];

    e = &z->entries[z->nentries];

    if (e->method == EXZ_METHOD_DEFLATE) {
        if (e->usize == 0) {
            /* nothing to compress: an empty stored entry is simpler */
            e->method = EXZ_METHOD_STORE;

        } else if (exz_deflate(z, NULL, 0, EXZ_Z_FINISH) != EXZ_OK) {
            return EXZ_ERROR;
        }
    }

    if (exz_cd_zip64(z, e, NULL, NULL, NULL)) {
        z->zip64 = 1;
    }

    exz_lfh_fixed(z, e, hdr);

    if (exz_patch(z, hdr, EXZ_LFH_SIZE, e->offset) != EXZ_OK) {
        return EXZ_ERROR;
    }

    zip64 = exz_lfh_zip64(z, e);

    if (zip64) {
        exz_lfh_slot(z, e, slot);

        if (exz_patch(z, slot, EXZ_RESERVED_SIZE,
                      e->offset + EXZ_LFH_NAME + e->name_len)
            != EXZ_OK)
        {
            return EXZ_ERROR;
        }
    }

    z->nentries++;

    return EXZ_OK;
}


static int
exz_finish_archive(exz_t *z)
{
    int             zip64;
    size_t          i, n;
    uint64_t        cd_offset, cd_size, z64_offset;
    unsigned char  *p;

    cd_offset = exz_produced(z);

    for (i = 0; i < z->nentries; i++) {
        n = EXZ_CDH_SIZE + z->entries[i].name_len + EXZ_ZIP64_CDH_MAX_SIZE
            + EXZ_UT_CDH_SIZE;

        if (exz_reserve(z, n) != EXZ_OK) {
            return EXZ_ERROR;
        }

        z->len += exz_cdh(z, &z->entries[i], z->buf + z->len);
    }

    z64_offset = exz_produced(z);
    cd_size = z64_offset - cd_offset;

    /* a ZIP64 entry makes it a ZIP64 archive, as Info-ZIP does */

    zip64 = z->zip64
            || z->nentries >= EXZ_MAX16
            || cd_offset >= EXZ_MAX32
            || cd_size >= EXZ_MAX32;

    if (exz_reserve(z, EXZ_Z64EOCD_SIZE + EXZ_Z64LOC_SIZE + EXZ_EOCD_SIZE)
        != EXZ_OK)
    {
        return EXZ_ERROR;
    }

    p = z->buf + z->len;

    if (zip64) {
        memset(p, 0, EXZ_Z64EOCD_SIZE + EXZ_Z64LOC_SIZE);

        exz_put32(p + EXZ_Z64EOCD_SIGNATURE, EXZ_Z64EOCD_SIG);
        exz_put64(p + EXZ_Z64EOCD_RECORD_SIZE, EXZ_Z64EOCD_SIZE - 12);
        exz_put16(p + EXZ_Z64EOCD_VERSION_MADE_BY, EXZ_MADE_BY);
        exz_put16(p + EXZ_Z64EOCD_VERSION_NEEDED, EXZ_VERSION_ZIP64);
        exz_put64(p + EXZ_Z64EOCD_DISK_ENTRIES, z->nentries);
        exz_put64(p + EXZ_Z64EOCD_ENTRIES, z->nentries);
        exz_put64(p + EXZ_Z64EOCD_CD_SIZE, cd_size);
        exz_put64(p + EXZ_Z64EOCD_CD_OFFSET, cd_offset);
        p += EXZ_Z64EOCD_SIZE;

        exz_put32(p + EXZ_Z64LOC_SIGNATURE, EXZ_Z64LOC_SIG);
        exz_put64(p + EXZ_Z64LOC_OFFSET, z64_offset);
        exz_put32(p + EXZ_Z64LOC_DISKS, 1);
        p += EXZ_Z64LOC_SIZE;
    }

    /*
     * Values that fit stay in the classic record even with ZIP64, so
     * readers agree whichever record they trust; forced ZIP64 uses the
     * 0xffff/0xffffffff markers throughout.
     */

    memset(p, 0, EXZ_EOCD_SIZE);
    exz_put32(p + EXZ_EOCD_SIGNATURE, EXZ_EOCD_SIG);

    n = (z->force_zip64 || z->nentries >= EXZ_MAX16) ? EXZ_MAX16
                                                      : z->nentries;
    exz_put16(p + EXZ_EOCD_DISK_ENTRIES, (uint32_t) n);
    exz_put16(p + EXZ_EOCD_ENTRIES, (uint32_t) n);
    exz_put32(p + EXZ_EOCD_CD_SIZE,
              exz_field32(cd_size, z->force_zip64 || cd_size >= EXZ_MAX32));
    exz_put32(p + EXZ_EOCD_CD_OFFSET,
              exz_field32(cd_offset,
                          z->force_zip64 || cd_offset >= EXZ_MAX32));
    p += EXZ_EOCD_SIZE;

    z->len = (size_t) (p - z->buf);

    if (exz_flush(z) != EXZ_OK) {
        return EXZ_ERROR;
    }

    return EXZ_OK;
}


/* the thread */

static exz_worker_t *
exz_worker_alloc(void)
{
    size_t         i;
    exz_worker_t  *w;

    w = calloc(1, sizeof(exz_worker_t));
    if (w == NULL) {
        return NULL;
    }

    for (i = 0; i < EXZ_SLOTS; i++) {
        w->slots[i].data = malloc(EXZ_SLOT_SIZE);

        if (w->slots[i].data == NULL) {
            exz_worker_free(w);
            return NULL;
        }

        w->slots[i].next = w->free;
        w->free = &w->slots[i];
    }

    return w;
}


static void
exz_worker_free(exz_worker_t *w)
{
    size_t  i;

    for (i = 0; i < EXZ_SLOTS; i++) {
        free(w->slots[i].data);
    }

    free(w);
}


static void *
exz_thread_main(void *data)
{
    exz_t *z = data;

    int            failed;
    exz_slot_t    *s;
    exz_worker_t  *w;
#ifdef SCHED_BATCH
    struct sched_param  sp;
#endif

    w = z->worker;
    failed = 0;

#ifdef SCHED_BATCH
    if (w->flags & EXZ_THREAD_BATCH) {
        /* best effort: the archive is the same without it */
        memset(&sp, 0, sizeof(struct sched_param));
        (void) pthread_setschedparam(pthread_self(), SCHED_BATCH, &sp);
    }
#endif

    pthread_mutex_lock(&w->mutex);

    for ( ;; ) {
        while (w->head == NULL && !w->stop) {
            pthread_cond_wait(&w->work, &w->mutex);
        }

        if (w->stop) {
            break;
        }

        s = w->head;
        w->head = s->next;

        if (w->head == NULL) {
            w->tail = NULL;
        }

        w->busy = 1;

        /*
         * Once the writing side has failed, its state is not to be used
         * again: the rest is given back untouched.  After an error of
         * the caller's side, what was queued before it is still done, as
         * it would have been without the thread.
         */

        if (!failed) {
            pthread_mutex_unlock(&w->mutex);
            failed = (exz_run(z, s) != EXZ_OK);
            pthread_mutex_lock(&w->mutex);
        }

        s->next = w->free;
        w->free = s;
        w->busy = 0;

        pthread_cond_signal(&w->done);
    }

    pthread_mutex_unlock(&w->mutex);

    return NULL;
}


/* one slot's work, in the thread */

static int
exz_run(exz_t *z, exz_slot_t *s)
{
    size_t                n;
    const unsigned char  *p;

    p = s->data;
    n = s->len;

    if (s->begin) {
        if (exz_begin_entry(z, (const char *) p, s->name_len, s->mtime)
            != EXZ_OK)
        {
            return EXZ_ERROR;
        }

        p += s->name_len;
        n -= s->name_len;
    }

    if (n && exz_write_data(z, p, n) != EXZ_OK) {
        return EXZ_ERROR;
    }

    if (s->end && exz_end_entry(z) != EXZ_OK) {
        return EXZ_ERROR;
    }

    if (s->finish && exz_finish_archive(z) != EXZ_OK) {
        return EXZ_ERROR;
    }

    return EXZ_OK;
}


/* the caller's slot; a free one if it has none, NULL once failed */

static exz_slot_t *
exz_slot(exz_t *z)
{
    exz_slot_t    *s;
    exz_worker_t  *w;

    w = z->worker;

    if (w->cur) {
        return w->cur;
    }

    pthread_mutex_lock(&w->mutex);

    while (w->free == NULL && !z->failed) {
        pthread_cond_wait(&w->done, &w->mutex);
    }

    s = z->failed ? NULL : w->free;

    if (s) {
        w->free = s->next;
    }

    pthread_mutex_unlock(&w->mutex);

    if (s) {
        s->next = NULL;
        s->len = 0;
        s->name_len = 0;
        s->begin = 0;
        s->end = 0;
        s->finish = 0;
    }

    w->cur = s;

    return s;
}


/* hands the caller's slot to the thread */

static void
exz_queue(exz_t *z)
{
    exz_slot_t    *s;
    exz_worker_t  *w;

    w = z->worker;
    s = w->cur;
    w->cur = NULL;

    pthread_mutex_lock(&w->mutex);

    if (w->tail) {
        w->tail->next = s;

    } else {
        w->head = s;
    }

    w->tail = s;

    pthread_cond_signal(&w->work);
    pthread_mutex_unlock(&w->mutex);
}


/* waits until the thread has done every queued slot */

static void
exz_drain(exz_t *z)
{
    exz_worker_t  *w;

    w = z->worker;

    pthread_mutex_lock(&w->mutex);

    while (w->head || w->busy) {
        pthread_cond_wait(&w->done, &w->mutex);
    }

    pthread_mutex_unlock(&w->mutex);
}


/* everything handed over so far, a half-filled slot included, is done */

static void
exz_sync(exz_t *z)
{
    if (z->worker->cur) {
        exz_queue(z);
    }

    exz_drain(z);
}


/* the thread leaves after its current slot; the queued ones are dropped */

static void
exz_stop(exz_t *z)
{
    exz_worker_t  *w;

    w = z->worker;

    pthread_mutex_lock(&w->mutex);
    w->stop = 1;
    pthread_cond_signal(&w->work);
    pthread_mutex_unlock(&w->mutex);

    (void) pthread_join(w->tid, NULL);

    z->worker = NULL;

#if (EXZ_LIBDEFLATE)
    /* the writer's thread is gone: nothing waits for its helpers */
    if (z->pool) {
        exz_pool_stop(z);
    }
#endif

    (void) pthread_cond_destroy(&w->done);
    (void) pthread_cond_destroy(&w->work);
    (void) pthread_mutex_destroy(&w->mutex);

    exz_worker_free(w);
}


static int
exz_failed(exz_t *z)
{
    int  failed;

    if (z->worker == NULL) {
        return z->failed;
    }

    pthread_mutex_lock(&z->worker->mutex);
    failed = z->failed;
    pthread_mutex_unlock(&z->worker->mutex);

    return failed;
}


/* archive bytes the writing side has produced, buffered ones included */

static uint64_t
exz_produced(const exz_t *z)
{
    return z->written + z->len;
}


const char *
exz_check_name(const char *name, size_t name_len)
{
    size_t                n, comp;
    const unsigned char  *p, *end, *start;

    if (name == NULL || name_len == 0) {
        return "empty name";
    }

    if (name_len > EXZ_NAME_MAX) {
        return "longer than 65535 bytes";
    }

    p = (const unsigned char *) name;
    end = p + name_len;

    if (p[0] == '/') {
        return "absolute path";
    }

    if (name_len >= 2 && p[1] == ':'
        && ((p[0] >= 'A' && p[0] <= 'Z') || (p[0] >= 'a' && p[0] <= 'z')))
    {
        return "drive letter";
    }

    start = p;

    while (p < end) {

        if (*p == '/') {
            comp = (size_t) (p - start);

            if (comp == 0) {
                return "empty path component";
            }

            if (comp == 1 && start[0] == '.') {
                return "\".\" path component";
            }

            if (comp == 2 && start[0] == '.' && start[1] == '.') {
                return "\"..\" path component";
            }

            start = ++p;
            continue;
        }

        if (*p == '\0') {
            return "NUL byte";
        }

        if (*p == '\\') {
            return "backslash";
        }

        if (*p < 0x20 || *p == 0x7f) {
            return "control character";
        }

        n = exz_utf8_seq(p, (size_t) (end - p));
        if (n == 0) {
            return "invalid UTF-8";
        }

        p += n;
    }

    comp = (size_t) (p - start);

    if (comp == 0) {
        return "trailing slash (directories are not written)";
    }

    if (comp == 1 && start[0] == '.') {
        return "\".\" path component";
    }

    if (comp == 2 && start[0] == '.' && start[1] == '.') {
        return "\"..\" path component";
    }

    return NULL;
}


/* length of the well-formed UTF-8 sequence at p (RFC 3629), 0 if none */

static size_t
exz_utf8_seq(const unsigned char *p, size_t n)
{
    size_t         len, i;
    unsigned char  c, lo, hi;

    c = p[0];

    if (c < 0x80) {
        return 1;
    }

    lo = 0x80;
    hi = 0xbf;

    if (c < 0xc2) {
        return 0;       /* continuation byte or overlong 2-byte form */

    } else if (c < 0xe0) {
        len = 2;

    } else if (c < 0xf0) {
        len = 3;

        if (c == 0xe0) {
            lo = 0xa0;  /* overlong */

        } else if (c == 0xed) {
            hi = 0x9f;  /* UTF-16 surrogates */
        }

    } else if (c < 0xf5) {
        len = 4;

        if (c == 0xf0) {
            lo = 0x90;  /* overlong */

        } else if (c == 0xf4) {
            hi = 0x8f;  /* above U+10FFFF */
        }

    } else {
        return 0;
    }

    if (n < len || p[1] < lo || p[1] > hi) {
        return 0;
    }

    for (i = 2; i < len; i++) {
        if (p[i] < 0x80 || p[i] > 0xbf) {
            return 0;
        }
    }

    return len;
}


/* a log-safe, possibly shortened copy of a name for error messages */

static void
exz_quote(char *dst, size_t size, const unsigned char *p, size_t n)
{
    size_t  i, k, shown;

    i = 0;
    shown = (n > EXZ_NAME_SHOW) ? EXZ_NAME_SHOW : n;

    while (shown && size - i > 8) {

        if (*p == '"' || *p == '\\') {
            dst[i++] = '\\';
            dst[i++] = (char) *p++;
            shown--;
            continue;
        }

        k = (*p >= 0x20 && *p != 0x7f) ? exz_utf8_seq(p, shown) : 0;

        if (k == 0) {
            i += (size_t) snprintf(dst + i, size - i, "\\x%02x", *p++);
            shown--;
            continue;
        }

        memcpy(dst + i, p, k);
        i += k;
        p += k;
        shown -= k;
    }

    if (n > EXZ_NAME_SHOW && size - i > 4) {
        memcpy(dst + i, "...", 3);
        i += 3;
    }

    dst[i] = '\0';
}


static int
exz_fail(exz_t *z, int err, const char *fmt, ...)
{
    size_t   n;
    va_list  args;
    char     ebuf[128];

    /* either side may fail first: with a thread, under its mutex */

    if (z->worker) {
        pthread_mutex_lock(&z->worker->mutex);
    }

    /* the first error is the interesting one: keep it */

    if (z->failed) {
        goto done;
    }

    z->err = err;

    va_start(args, fmt);
    vsnprintf(z->errstr, sizeof(z->errstr), fmt, args);
    va_end(args);

    if (err == 0) {
        goto failed;
    }

    n = strlen(z->errstr);

    /* strerror() is not thread-safe; cope with both strerror_r() flavours */

#if defined(__GLIBC__) && defined(_GNU_SOURCE)
    snprintf(z->errstr + n, sizeof(z->errstr) - n, ": %s",
             strerror_r(err, ebuf, sizeof(ebuf)));
#else
    if (strerror_r(err, ebuf, sizeof(ebuf)) != 0) {
        snprintf(ebuf, sizeof(ebuf), "error %d", err);
    }

    snprintf(z->errstr + n, sizeof(z->errstr) - n, ": %s", ebuf);
#endif

failed:

    z->failed = 1;

done:

    if (z->worker) {
        pthread_mutex_unlock(&z->worker->mutex);
    }

    return EXZ_ERROR;
}


static int
exz_usable(exz_t *z, const char *func)
{
    if (z == NULL) {
        return EXZ_ERROR;
    }

    if (exz_failed(z)) {
        return EXZ_ERROR;
    }

    if (z->finished) {
        return exz_fail(z, 0, "%s called after exz_finish()", func);
    }

    return EXZ_OK;
}


/* room for one more entry (kept at entries[nentries]) and its name */

static int
exz_grow(exz_t *z, size_t name_len)
{
    size_t        n;
    char         *names;
    exz_entry_t  *entries;

    if (z->nentries == z->nalloc) {
        n = z->nalloc ? z->nalloc * 2 : 64;

        if (n > SIZE_MAX / sizeof(exz_entry_t)) {
            return exz_fail(z, ENOMEM, "too many entries");
        }

        entries = realloc(z->entries, n * sizeof(exz_entry_t));
        if (entries == NULL) {
            return exz_fail(z, ENOMEM, "realloc() failed");
        }

        z->entries = entries;
        z->nalloc = n;
    }

    if (name_len > z->names_alloc - z->names_len) {
        n = z->names_alloc ? z->names_alloc : 4096;

        while (n - z->names_len < name_len) {
            if (n > SIZE_MAX / 2) {
                return exz_fail(z, ENOMEM, "entry names too long");
            }

            n *= 2;
        }

        names = realloc(z->names, n);
        if (names == NULL) {
            return exz_fail(z, ENOMEM, "realloc() failed");
        }

        z->names = names;
        z->names_alloc = n;
    }

    return EXZ_OK;
}


static void
exz_dos_time(time_t mtime, exz_entry_t *e)
{
    long long  t;
    time_t     tt;
    struct tm  tm;

    t = (long long) mtime;

    if (t < EXZ_DOS_MIN_TIME) {
        t = EXZ_DOS_MIN_TIME;
    }

    /* 0x5455 holds 32 bits; past 2106 it keeps the last representable */
    e->utime = (t > (long long) EXZ_MAX32) ? (uint32_t) EXZ_MAX32
                                           : (uint32_t) t;

    if (t > EXZ_DOS_MAX_TIME) {
        t = EXZ_DOS_MAX_TIME;
    }

    tt = (time_t) t;

    if (tt != t || gmtime_r(&tt, &tm) == NULL) {
        /* a 32-bit time_t cannot hold it: the latest it can */
        tt = (time_t) 0x7fffffff;
        (void) gmtime_r(&tt, &tm);
    }

    e->dos_time = (uint16_t) ((tm.tm_hour << 11) | (tm.tm_min << 5)
                              | (tm.tm_sec / 2));
    e->dos_date = (uint16_t) (((tm.tm_year + 1900 - 1980) << 9)
                              | ((tm.tm_mon + 1) << 5) | tm.tm_mday);
}


/* the local header needs ZIP64 sizes (both are then stored in it) */

static int
exz_lfh_zip64(const exz_t *z, const exz_entry_t *e)
{
    return z->force_zip64 || e->usize >= EXZ_MAX32 || e->csize >= EXZ_MAX32;
}


/* which central directory fields go to the ZIP64 extra field */

static int
exz_cd_zip64(const exz_t *z, const exz_entry_t *e, int *u, int *c, int *o)
{
    int  uu, cc, oo;

    uu = z->force_zip64 || e->usize >= EXZ_MAX32;
    cc = z->force_zip64 || e->csize >= EXZ_MAX32;
    oo = z->force_zip64 || e->offset >= EXZ_MAX32;

    if (u) {
        *u = uu;
        *c = cc;
        *o = oo;
    }

    return uu || cc || oo;
}


static uint16_t
exz_flags(const exz_t *z, const exz_entry_t *e)
{
    uint16_t  flags;

    flags = EXZ_FLAG_UTF8;

    if (e->method == EXZ_METHOD_DEFLATE) {
        if (z->level == 1) {
            flags |= EXZ_FLAG_DEFLATE_SUPERFAST;

        } else if (z->level == 2) {
            flags |= EXZ_FLAG_DEFLATE_FAST;

        } else if (z->level >= 8) {
            flags |= EXZ_FLAG_DEFLATE_MAX;
        }
    }

    return flags;
}


static void
exz_lfh_fixed(const exz_t *z, const exz_entry_t *e, unsigned char *p)
{
    int  zip64;

    zip64 = exz_lfh_zip64(z, e);

    exz_put32(p + EXZ_LFH_SIGNATURE, EXZ_LFH_SIG);
    exz_put16(p + EXZ_LFH_VERSION_NEEDED,
              exz_cd_zip64(z, e, NULL, NULL, NULL) ? EXZ_VERSION_ZIP64
                                                   : EXZ_VERSION_DEFAULT);
    exz_put16(p + EXZ_LFH_FLAGS, exz_flags(z, e));
    exz_put16(p + EXZ_LFH_METHOD, e->method);
    exz_put16(p + EXZ_LFH_DOS_TIME, e->dos_time);
    exz_put16(p + EXZ_LFH_DOS_DATE, e->dos_date);
    exz_put32(p + EXZ_LFH_CRC32, e->crc);
    exz_put32(p + EXZ_LFH_CSIZE, exz_field32(e->csize, zip64));
    exz_put32(p + EXZ_LFH_USIZE, exz_field32(e->usize, zip64));
    exz_put16(p + EXZ_LFH_NAME_LEN, e->name_len);
    exz_put16(p + EXZ_LFH_EXTRA_LEN, EXZ_LFH_EXTRA_SIZE);
}


/* the reserved slot: ZIP64 sizes if needed, else a growth hint */

static void
exz_lfh_slot(const exz_t *z, const exz_entry_t *e, unsigned char *p)
{
    memset(p, 0, EXZ_RESERVED_SIZE);

    if (exz_lfh_zip64(z, e)) {
        exz_put16(p + EXZ_EXTRA_TAG, EXZ_ZIP64_TAG);
        exz_put16(p + EXZ_EXTRA_LEN, 16);
        exz_put64(p + 4, e->usize);
        exz_put64(p + 12, e->csize);
        return;
    }

    exz_put16(p + EXZ_EXTRA_TAG, EXZ_HINT_TAG);
    exz_put16(p + EXZ_EXTRA_LEN, EXZ_RESERVED_SIZE - EXZ_EXTRA_HDR_SIZE);
    exz_put16(p + EXZ_HINT_SIGNATURE, EXZ_HINT_SIG);
}


static size_t
exz_cdh(const exz_t *z, const exz_entry_t *e, unsigned char *p)
{
    int             u, c, o, zip64;
    unsigned char  *x;

    zip64 = exz_cd_zip64(z, e, &u, &c, &o);

    exz_put32(p + EXZ_CDH_SIGNATURE, EXZ_CDH_SIG);
    exz_put16(p + EXZ_CDH_VERSION_MADE_BY, EXZ_MADE_BY);
    exz_put16(p + EXZ_CDH_VERSION_NEEDED,
              zip64 ? EXZ_VERSION_ZIP64 : EXZ_VERSION_DEFAULT);
    exz_put16(p + EXZ_CDH_FLAGS, exz_flags(z, e));
    exz_put16(p + EXZ_CDH_METHOD, e->method);
    exz_put16(p + EXZ_CDH_DOS_TIME, e->dos_time);
    exz_put16(p + EXZ_CDH_DOS_DATE, e->dos_date);
    exz_put32(p + EXZ_CDH_CRC32, e->crc);
    exz_put32(p + EXZ_CDH_CSIZE, exz_field32(e->csize, c));
    exz_put32(p + EXZ_CDH_USIZE, exz_field32(e->usize, u));
    exz_put16(p + EXZ_CDH_NAME_LEN, e->name_len);
    exz_put16(p + EXZ_CDH_COMMENT_LEN, 0);
    exz_put16(p + EXZ_CDH_DISK_START, 0);
    exz_put16(p + EXZ_CDH_INTERNAL_ATTR, 0);
    exz_put32(p + EXZ_CDH_EXTERNAL_ATTR, EXZ_EXTERNAL_ATTR);
    exz_put32(p + EXZ_CDH_LFH_OFFSET, exz_field32(e->offset, o));

    memcpy(p + EXZ_CDH_NAME, z->names + e->name, e->name_len);

    x = p + EXZ_CDH_NAME + e->name_len;

    if (zip64) {
        x += EXZ_EXTRA_HDR_SIZE;

        if (u) {
            exz_put64(x, e->usize);
            x += 8;
        }

        if (c) {
            exz_put64(x, e->csize);
            x += 8;
        }

        if (o) {
            exz_put64(x, e->offset);
            x += 8;
        }

        exz_put16(p + EXZ_CDH_NAME + e->name_len + EXZ_EXTRA_TAG,
                  EXZ_ZIP64_TAG);
        exz_put16(p + EXZ_CDH_NAME + e->name_len + EXZ_EXTRA_LEN,
                  (uint32_t) (x - (p + EXZ_CDH_NAME + e->name_len)
                              - EXZ_EXTRA_HDR_SIZE));
    }

    exz_put16(x + EXZ_EXTRA_TAG, EXZ_UT_TAG);
    exz_put16(x + EXZ_EXTRA_LEN, EXZ_UT_CDH_SIZE - EXZ_EXTRA_HDR_SIZE);
    x[EXZ_UT_FLAGS] = EXZ_UT_FLAG_MTIME;
    exz_put32(x + EXZ_UT_MTIME, e->utime);
    x += EXZ_UT_CDH_SIZE;

    exz_put16(p + EXZ_CDH_EXTRA_LEN,
              (uint32_t) (x - (p + EXZ_CDH_NAME + e->name_len)));

    return (size_t) (x - p);
}


/* makes n contiguous bytes available at buf + len */

static int
exz_reserve(exz_t *z, size_t n)
{
    if (n <= z->cap - z->len) {
        return EXZ_OK;
    }

    return exz_flush(z);
}


static int
exz_flush(exz_t *z)
{
    if (z->len == 0) {
        return EXZ_OK;
    }

    if (exz_write_all(z, z->buf, z->len) != EXZ_OK) {
        return EXZ_ERROR;
    }

    z->len = 0;

    return EXZ_OK;
}


static int
exz_write_all(exz_t *z, const unsigned char *p, size_t n)
{
    ssize_t  r;

    while (n) {
        r = write(z->fd, p, (n > EXZ_IO_MAX) ? EXZ_IO_MAX : n);

        if (r == -1) {
            if (errno == EINTR) {
                continue;
            }

            return exz_fail(z, errno, "write() failed");
        }

        if (r == 0) {
            return exz_fail(z, EIO, "write() wrote nothing");
        }

        p += r;
        n -= (size_t) r;
        z->written += (uint64_t) r;
    }

    return EXZ_OK;
}


static int
exz_pwrite_all(exz_t *z, const unsigned char *p, size_t n, uint64_t off)
{
    ssize_t  r;

    while (n) {
        r = pwrite(z->fd, p, n, z->base + (off_t) off);

        if (r == -1) {
            if (errno == EINTR) {
                continue;
            }

            return exz_fail(z, errno, "pwrite() failed");
        }

        if (r == 0) {
            return exz_fail(z, EIO, "pwrite() wrote nothing");
        }

        p += r;
        n -= (size_t) r;
        off += (uint64_t) r;
    }

    return EXZ_OK;
}


/* rewrites already produced archive bytes, buffered or not */

static int
exz_patch(exz_t *z, const unsigned char *p, size_t n, uint64_t off)
{
    if (off >= z->written) {
        memcpy(z->buf + (off - z->written), p, n);
        return EXZ_OK;
    }

    return exz_pwrite_all(z, p, n, off);
}


/* the deflate backend */

#if (EXZ_ISAL)

/*
 * ISA-L has levels 0 to 3.  Measured on the benchmark's reports
 * (docs/benchmarks.md), its level 0 is no faster than 1 on this kind of
 * machine but writes a fifth more, and 1 and 2 run at the same speed:
 * so 1 is 1, 2 to 5 are 2 and 6 to 9 are 3, its slowest and smallest.
 */

static int
exz_isal_level(int level)
{
    if (level <= 1) {
        return 1;
    }

    return (level <= 5) ? 2 : 3;
}


const char *
exz_backend(void)
{
    return "ISA-L";
}


int
exz_backend_level(int level)
{
    level = (level == -1) ? 6 : level;

    return (level <= 0) ? 0 : exz_isal_level(level);
}


/* returns 0, ENOMEM, or EINVAL (then with the error set) */

static int
exz_zinit(exz_t *z, int level)
{
    int     il;
    size_t  size;

    il = exz_isal_level(level);

    size = (il == 1) ? ISAL_DEF_LVL1_DEFAULT
         : (il == 2) ? ISAL_DEF_LVL2_DEFAULT
                     : ISAL_DEF_LVL3_DEFAULT;

    z->level_buf = malloc(size);
    z->stage = malloc(EXZ_CHUNK);

    if (z->level_buf == NULL || z->stage == NULL) {
        free(z->level_buf);
        free(z->stage);
        z->level_buf = NULL;
        z->stage = NULL;
        return ENOMEM;
    }

    isal_deflate_init(&z->zs);

    z->zs.level = (uint32_t) il;
    z->zs.level_buf = z->level_buf;
    z->zs.level_buf_size = (uint32_t) size;
    z->zs.gzip_flag = IGZIP_DEFLATE;    /* raw: ZIP has its own framing */
    z->zs.flush = NO_FLUSH;
    z->zs.end_of_stream = 0;
    z->stage_len = 0;

    z->zinit = 1;

    return 0;
}


static int
exz_zreset(exz_t *z)
{
    /* keeps the level, its buffer, the flush type and end_of_stream */
    isal_deflate_reset(&z->zs);
    z->zs.end_of_stream = 0;
    z->stage_len = 0;

    return EXZ_OK;
}


static void
exz_zend(exz_t *z)
{
    free(z->level_buf);
    free(z->stage);
    z->level_buf = NULL;
    z->stage = NULL;
    z->zinit = 0;
}


/* one isal_deflate() run over n <= EXZ_CHUNK bytes, to the stream end */

static int
exz_isal_run(exz_t *z, const unsigned char *p, size_t n, int last)
{
    int           rc;
    size_t        avail;
    exz_entry_t  *e;

    e = &z->entries[z->nentries];

    /* ISA-L never writes through next_in */
    z->zs.next_in = (uint8_t *) (uintptr_t) p;
    z->zs.avail_in = (uint32_t) n;
    z->zs.end_of_stream = (uint16_t) last;

    for ( ;; ) {
        if (z->len == z->cap && exz_flush(z) != EXZ_OK) {
            return EXZ_ERROR;
        }

        avail = z->cap - z->len;
        z->zs.next_out = z->buf + z->len;
        z->zs.avail_out = (uint32_t) avail;

        rc = isal_deflate(&z->zs);

        avail -= z->zs.avail_out;
        z->len += avail;
        e->csize += avail;

        if (rc != COMP_OK) {
            return exz_fail(z, 0, "isal_deflate() failed (%d)", rc);
        }

        if (last) {
            if (z->zs.internal_state.state == ZSTATE_END) {
                return EXZ_OK;
            }

            continue;
        }

        if (z->zs.avail_in == 0) {
            return EXZ_OK;
        }
    }
}


/*
 * ISA-L's output depends on how the input is cut into calls, zlib's does
 * not.  So that an archive is the same byte for byte however the caller
 * writes (and with or without the thread), ISA-L always gets EXZ_CHUNK
 * bytes a call, at the same offsets of the entry: what does not fill a
 * chunk waits in the stage buffer, whole chunks go through uncopied.
 */

static int
exz_deflate(exz_t *z, const unsigned char *p, size_t n, int flush)
{
    size_t  k;

    while (n) {
        if (z->stage_len == 0 && n >= EXZ_CHUNK) {
            if (exz_isal_run(z, p, EXZ_CHUNK, 0) != EXZ_OK) {
                return EXZ_ERROR;
            }

            p += EXZ_CHUNK;
            n -= EXZ_CHUNK;
            continue;
        }

        k = EXZ_CHUNK - z->stage_len;
        if (k > n) {
            k = n;
        }

        memcpy(z->stage + z->stage_len, p, k);
        z->stage_len += k;
        p += k;
        n -= k;

        if (z->stage_len == EXZ_CHUNK) {
            z->stage_len = 0;

            if (exz_isal_run(z, z->stage, EXZ_CHUNK, 0) != EXZ_OK) {
                return EXZ_ERROR;
            }
        }
    }

    if (flush == EXZ_Z_FINISH) {
        k = z->stage_len;
        z->stage_len = 0;

        return exz_isal_run(z, z->stage, k, 1);
    }

    return EXZ_OK;
}


static uint32_t
exz_crc32(uint32_t crc, const unsigned char *p, size_t n)
{
    return crc32_gzip_refl(crc, p, (uint64_t) n);
}

#elif (EXZ_LIBDEFLATE)

/*
 * libdeflate compresses a whole buffer at a time, each into a complete
 * deflate stream whose last block has BFINAL set, and its level 6
 * writes what zlib's level 6 writes in two thirds of the time.  An entry
 * is one deflate stream, so the writer deflates it in EXZ_CHUNK pieces
 * at fixed offsets of the entry (the stage buffer, as with ISA-L: the
 * archive does not depend on how the caller writes) and joins them:
 * every piece but the last is walked to find its final block, whose
 * BFINAL bit is cleared, and gets an empty stored block after it, which
 * brings the stream to a byte boundary for the next piece (the bytes
 * zlib's Z_SYNC_FLUSH writes).  A piece is deflated only once the next
 * byte of the entry arrives, or the entry ends: by then it is known to
 * be the last or not.  Pieces start without the previous 32 KiB as
 * history: the benchmark's archive is 2% larger for it than with zlib.
 */

const char *
exz_backend(void)
{
    /* "deflate 1.x" would read as an embedded zlib to lintian */
    return "libdeflate v" LIBDEFLATE_VERSION_STRING;
}


int
exz_backend_level(int level)
{
    return (level == -1) ? 6 : level;
}


/* appends n bytes to the archive through the output buffer */

static int
exz_put(exz_t *z, const unsigned char *p, size_t n)
{
    size_t  k;

    while (n) {
        if (z->len == z->cap && exz_flush(z) != EXZ_OK) {
            return EXZ_ERROR;
        }

        k = z->cap - z->len;
        if (k > n) {
            k = n;
        }

        memcpy(z->buf + z->len, p, k);
        z->len += k;
        p += k;
        n -= k;
    }

    return EXZ_OK;
}


/*
 * The compressor, stage and tables of this thread are allocated on
 * first use: with exz_thread() the deflate threads have their own.
 */

static int
exz_zinit(exz_t *z, int level)
{
    (void) level;

    z->cbuf_cap = libdeflate_deflate_compress_bound(NULL, EXZ_CHUNK)
                  + EXZ_SYNC_SIZE;
    z->stage_len = 0;
    z->zinit = 1;

    return 0;
}


static int
exz_ld_alloc(exz_t *z)
{
    z->ld = libdeflate_alloc_compressor(z->level);
    z->stage = malloc(EXZ_CHUNK);
    z->cbuf = malloc(z->cbuf_cap);
    z->ltab = malloc(sizeof(uint16_t) << 15);
    z->dtab = malloc(sizeof(uint16_t) << 15);

    if (z->ld == NULL || z->stage == NULL || z->cbuf == NULL
        || z->ltab == NULL || z->dtab == NULL)
    {
        return exz_fail(z, ENOMEM, "cannot allocate the deflate state");
    }

    return EXZ_OK;
}


static int
exz_zreset(exz_t *z)
{
    z->stage_len = 0;

    return EXZ_OK;
}


static void
exz_zend(exz_t *z)
{
    if (z->ld) {
        libdeflate_free_compressor(z->ld);
    }

    free(z->stage);
    free(z->cbuf);
    free(z->ltab);
    free(z->dtab);
    z->ld = NULL;
    z->stage = NULL;
    z->cbuf = NULL;
    z->ltab = NULL;
    z->dtab = NULL;
    z->zinit = 0;
}


/* n bits (n <= 32) at bit offset "bit" of p[0..len), zeroes past len */

static uint32_t
exz_bits(const unsigned char *p, size_t len, uint64_t bit, unsigned n)
{
    size_t    i, k;
    uint64_t  w;

    k = (size_t) (bit >> 3);
    w = 0;

    for (i = 0; i < 5 && k + i < len; i++) {
        w |= (uint64_t) p[k + i] << (8 * i);
    }

    return (uint32_t) ((w >> (bit & 7)) & (((uint64_t) 1 << n) - 1));
}


/*
 * A canonical Huffman code as a table indexed by the next "bits" input
 * bits: symbol << 4 | code length; 0 where no code fits (an incomplete
 * code).  Returns -1 for lengths that oversubscribe the code.
 */

static int
exz_huff(uint16_t *tab, unsigned *bits, const unsigned char *lens,
    unsigned n)
{
    unsigned  i, len, max, code, rev, j, step;
    unsigned  count[16], next[16];

    memset(count, 0, sizeof(count));

    for (i = 0; i < n; i++) {
        count[lens[i]]++;
    }

    count[0] = 0;
    max = 0;
    code = 0;

    for (len = 1; len <= 15; len++) {
        code = (code + count[len - 1]) << 1;
        next[len] = code;

        if (count[len]) {
            max = len;
        }

        if (next[len] + count[len] > (1U << len)) {
            return -1;
        }
    }

    if (max == 0) {
        max = 1;
    }

    *bits = max;
    memset(tab, 0, sizeof(uint16_t) << max);

    for (i = 0; i < n; i++) {
        len = lens[i];

        if (len == 0) {
            continue;
        }

        code = next[len]++;

        /* codes are sent from their top bit: reverse them */
        rev = 0;

        for (j = 0; j < len; j++) {
            rev = (rev << 1) | ((code >> j) & 1);
        }

        step = 1U << len;

        for (j = rev; j < (1U << max); j += step) {
            tab[j] = (uint16_t) (i << 4 | len);
        }
    }

    return 0;
}


static const uint8_t  exz_len_extra[29] = {
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2,
    3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0
};

static const uint8_t  exz_dist_extra[30] = {
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6,
    7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13
};

static const uint8_t  exz_clen_order[19] = {
    16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15
};


/*
 * Tops up the bit buffer bb (cnt bits) from q to at least 56 bits,
 * zeroes past end: 8 bytes at once where they are there (little-endian
 * machines), else a byte at a time.
 */

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__

#define exz_fill(q, end, bb, cnt)                                            \
    if ((end) - (q) >= 8) {                                                   \
        uint64_t  w_;                                                         \
        memcpy(&w_, (q), 8);                                                  \
        (bb) |= w_ << (cnt);                                                  \
        (q) += (63 - (cnt)) >> 3;                                             \
        (cnt) |= 56;                                                          \
    } else {                                                                  \
        while ((cnt) <= 56) {                                                 \
            (bb) |= (uint64_t) (((q) < (end)) ? *(q) : 0) << (cnt);           \
            (q)++;                                                            \
            (cnt) += 8;                                                       \
        }                                                                     \
    }

#else

#define exz_fill(q, end, bb, cnt)                                            \
    while ((cnt) <= 56) {                                                     \
        (bb) |= (uint64_t) (((q) < (end)) ? *(q) : 0) << (cnt);               \
        (q)++;                                                                \
        (cnt) += 8;                                                           \
    }

#endif


/*
 * Walks the blocks of one complete deflate stream p[0..len) (what
 * libdeflate wrote) without inflating it: *last is the bit offset of the
 * final block's header, *end the bit offset just past the stream.
 * Returns -1 if the stream is not well formed: a bug, never input.
 */

static int
exz_walk(uint16_t *ltab, uint16_t *dtab, const unsigned char *p, size_t len,
    uint64_t *last, uint64_t *end)
{
    unsigned              i, n, bfinal, btype, hlit, hdist, hclen, sym;
    unsigned              lbits, dbits, cbits, rep, v, cnt;
    uint16_t              e;
    uint64_t              bit, limit, bb;
    const unsigned char  *q, *qend;
    unsigned char         lens[320];

    bit = 0;
    limit = (uint64_t) len * 8;
    qend = p + len;

    do {
        if (bit + 3 > limit) {
            return -1;
        }

        *last = bit;
        bfinal = exz_bits(p, len, bit, 1);
        btype = exz_bits(p, len, bit + 1, 2);
        bit += 3;

        if (btype == 0) {
            /* stored: LEN, NLEN from the next byte boundary, LEN bytes */
            bit = (bit + 7) & ~(uint64_t) 7;

            if (bit + 32 > limit) {
                return -1;
            }

            n = exz_bits(p, len, bit, 16);

            if ((n ^ exz_bits(p, len, bit + 16, 16)) != 0xffff) {
                return -1;
            }

            bit += 32 + (uint64_t) n * 8;
            continue;
        }

        if (btype == 1) {
            for (i = 0; i < 288; i++) {
                lens[i] = (i < 144) ? 8 : (i < 256) ? 9 : (i < 280) ? 7 : 8;
            }

            for (i = 0; i < 30; i++) {
                lens[288 + i] = 5;
            }

            hlit = 288;
            hdist = 30;

        } else if (btype == 2) {
            hlit = exz_bits(p, len, bit, 5) + 257;
            hdist = exz_bits(p, len, bit + 5, 5) + 1;
            hclen = exz_bits(p, len, bit + 10, 4) + 4;
            bit += 14;

            memset(lens, 0, 19);

            for (i = 0; i < hclen; i++) {
                lens[exz_clen_order[i]] =
                    (unsigned char) exz_bits(p, len, bit, 3);
                bit += 3;
            }

            if (exz_huff(ltab, &cbits, lens, 19) != 0) {
                return -1;
            }

            /* the code lengths of both codes, in one run */

            for (i = 0; i < hlit + hdist; /* void */) {
                if (bit > limit) {
                    return -1;
                }

                e = ltab[exz_bits(p, len, bit, cbits)];

                if (e == 0) {
                    return -1;
                }

                bit += e & 15;
                sym = e >> 4;

                if (sym < 16) {
                    lens[i++] = (unsigned char) sym;
                    continue;
                }

                if (sym == 16) {
                    if (i == 0) {
                        return -1;
                    }

                    v = lens[i - 1];
                    rep = 3 + exz_bits(p, len, bit, 2);
                    bit += 2;

                } else if (sym == 17) {
                    v = 0;
                    rep = 3 + exz_bits(p, len, bit, 3);
                    bit += 3;

                } else {
                    v = 0;
                    rep = 11 + exz_bits(p, len, bit, 7);
                    bit += 7;
                }

                if (i + rep > hlit + hdist) {
                    return -1;
                }

                while (rep--) {
                    lens[i++] = (unsigned char) v;
                }
            }

        } else {
            return -1;
        }

        if (exz_huff(ltab, &lbits, lens, hlit) != 0
            || exz_huff(dtab, &dbits, lens + hlit, hdist) != 0)
        {
            return -1;
        }

        /*
         * The symbols up to the end of block: only their sizes matter.
         * A 64-bit buffer holds the next bits; it is filled to at least
         * 56 bits a symbol, enough for a length with its extra bits and
         * a distance with its own (15 + 5 + 15 + 13).
         */

        q = p + (bit >> 3);
        bb = 0;
        cnt = 0;
        exz_fill(q, qend, bb, cnt);
        bb >>= bit & 7;
        cnt -= (unsigned) (bit & 7);

        for ( ;; ) {
            /* past the end only zeroes come: a bug, not a loop */
            if (q > qend + 8) {
                return -1;
            }

            exz_fill(q, qend, bb, cnt);

            e = ltab[bb & ((1U << lbits) - 1)];

            if (e == 0) {
                return -1;
            }

            bb >>= e & 15;
            cnt -= e & 15;
            sym = e >> 4;

            if (sym < 256) {
                continue;
            }

            if (sym == 256) {
                break;
            }

            if (sym > 285) {
                return -1;
            }

            n = exz_len_extra[sym - 257];
            bb >>= n;
            cnt -= n;

            e = dtab[bb & ((1U << dbits) - 1)];

            if (e == 0 || (e >> 4) > 29) {
                return -1;
            }

            n = (e & 15) + exz_dist_extra[e >> 4];
            bb >>= n;
            cnt -= n;
        }

        bit = (uint64_t) (q - p) * 8 - cnt;

    } while (!bfinal);

    if (bit > limit) {
        return -1;
    }

    *end = bit;

    return 0;
}


/*
 * Deflates in[0..len) into out (cap bytes: the compress bound plus
 * EXZ_SYNC_SIZE) as one piece of an entry; *n is its size.  Returns -1
 * on a failure, which is a bug (out is large enough).
 */

static int
exz_ld_compress(struct libdeflate_compressor *ld, uint16_t *ltab,
    uint16_t *dtab, const unsigned char *in, size_t len, unsigned char *out,
    size_t cap, int last, size_t *n)
{
    size_t    k, i;
    uint64_t  hdr, end;

    k = libdeflate_deflate_compress(ld, in, len, out, cap - EXZ_SYNC_SIZE);

    if (k == 0) {
        return -1;
    }

    if (!last) {
        if (exz_walk(ltab, dtab, out, k, &hdr, &end) != 0) {
            return -1;
        }

        /* not the final block after all; then an empty stored block */

        out[hdr >> 3] &= (unsigned char) ~(1U << (hdr & 7));

        if (end & 7) {
            out[end >> 3] &= (unsigned char) ((1U << (end & 7)) - 1);
        }

        /* its 3 header bits (all 0), then the next byte boundary */
        k = (size_t) ((end + 3 + 7) >> 3);

        for (i = (size_t) ((end + 7) >> 3); i < k; i++) {
            out[i] = 0;
        }

        out[k++] = 0x00;
        out[k++] = 0x00;
        out[k++] = 0xff;
        out[k++] = 0xff;
    }

    *n = k;

    return 0;
}


/* the stage into the entry, in this thread; "last": the entry's last */

static int
exz_ld_piece(exz_t *z, int last)
{
    size_t        n;
    exz_entry_t  *e;

    if (exz_ld_compress(z->ld, z->ltab, z->dtab, z->stage, z->stage_len,
                        z->cbuf, z->cbuf_cap, last, &n)
        != 0)
    {
        return exz_fail(z, 0, "libdeflate failed on a %zu-byte piece",
                        z->stage_len);
    }

    z->stage_len = 0;

    e = &z->entries[z->nentries];
    e->csize += n;

    return exz_put(z, z->cbuf, n);
}


static int
exz_deflate(exz_t *z, const unsigned char *p, size_t n, int flush)
{
    size_t  k;

    if (z->pool) {
        return exz_pool_deflate(z, p, n, flush);
    }

    if (z->ld == NULL && exz_ld_alloc(z) != EXZ_OK) {
        return EXZ_ERROR;
    }

    while (n) {
        /* a full stage is not the last piece: more data came */
        if (z->stage_len == EXZ_CHUNK && exz_ld_piece(z, 0) != EXZ_OK) {
            return EXZ_ERROR;
        }

        k = EXZ_CHUNK - z->stage_len;
        if (k > n) {
            k = n;
        }

        memcpy(z->stage + z->stage_len, p, k);
        z->stage_len += k;
        p += k;
        n -= k;
    }

    if (flush == EXZ_Z_FINISH) {
        return exz_ld_piece(z, 1);
    }

    return EXZ_OK;
}


static uint32_t
exz_crc32(uint32_t crc, const unsigned char *p, size_t n)
{
    return libdeflate_crc32(crc, p, n);
}


/*
 * With exz_thread(), the writer's thread hands the pieces to
 * EXZ_HELPERS deflate threads of their own and writes what they return
 * in order: libdeflate's pieces need no history, so they deflate side by
 * side (pigz's way, without its priming).  At most EXZ_PIECES pieces are
 * in flight; the writer's thread fills one, waits when none is free, and
 * writes every piece of an entry before the entry ends.  Each helper has
 * its own compressor and walking tables.
 */

static void *
exz_helper_main(void *data)
{
    exz_helper_t *h = data;

    int           rc;
    exz_pool_t   *pl;
    exz_piece_t  *pc;
#ifdef SCHED_BATCH
    struct sched_param  sp;
#endif

    pl = h->pool;

#ifdef SCHED_BATCH
    if (pl->flags & EXZ_THREAD_BATCH) {
        /* as the writer's thread: best effort */
        memset(&sp, 0, sizeof(struct sched_param));
        (void) pthread_setschedparam(pthread_self(), SCHED_BATCH, &sp);
    }
#endif

    pthread_mutex_lock(&pl->mutex);

    for ( ;; ) {
        while (pl->qhead == NULL && !pl->stop) {
            pthread_cond_wait(&pl->work, &pl->mutex);
        }

        if (pl->stop) {
            break;
        }

        pc = pl->qhead;
        pl->qhead = pc->next;

        if (pl->qhead == NULL) {
            pl->qtail = NULL;
        }

        pc->state = EXZ_PIECE_BUSY;

        pthread_mutex_unlock(&pl->mutex);

        rc = exz_ld_compress(h->ld, h->ltab, h->dtab, pc->data, pc->len,
                             pc->cbuf, pl->cap, pc->last, &pc->clen);

        pthread_mutex_lock(&pl->mutex);

        pc->state = rc ? EXZ_PIECE_FAILED : EXZ_PIECE_DONE;
        pthread_cond_signal(&pl->done);
    }

    pthread_mutex_unlock(&pl->mutex);

    return NULL;
}


static void
exz_pool_free(exz_pool_t *pl)
{
    size_t  i;

    for (i = 0; i < EXZ_HELPERS; i++) {
        if (pl->helpers[i].ld) {
            libdeflate_free_compressor(pl->helpers[i].ld);
        }

        free(pl->helpers[i].ltab);
        free(pl->helpers[i].dtab);
    }

    for (i = 0; i < EXZ_PIECES; i++) {
        free(pl->pieces[i].data);
        free(pl->pieces[i].cbuf);
    }

    free(pl);
}


/* called with all signals blocked; without a pool the thread deflates */

static void
exz_pool_start(exz_t *z, unsigned flags)
{
    size_t        i;
    exz_pool_t   *pl;
    exz_helper_t *h;

    if (!z->zinit) {
        return;
    }

    pl = calloc(1, sizeof(exz_pool_t));
    if (pl == NULL) {
        return;
    }

    pl->cap = z->cbuf_cap;
    pl->flags = flags;

    for (i = 0; i < EXZ_PIECES; i++) {
        pl->pieces[i].data = malloc(EXZ_CHUNK);
        pl->pieces[i].cbuf = malloc(pl->cap);

        if (pl->pieces[i].data == NULL || pl->pieces[i].cbuf == NULL) {
            goto failed;
        }

        pl->pieces[i].next = pl->free;
        pl->free = &pl->pieces[i];
    }

    for (i = 0; i < EXZ_HELPERS; i++) {
        h = &pl->helpers[i];
        h->pool = pl;
        h->ld = libdeflate_alloc_compressor(z->level);
        h->ltab = malloc(sizeof(uint16_t) << 15);
        h->dtab = malloc(sizeof(uint16_t) << 15);

        if (h->ld == NULL || h->ltab == NULL || h->dtab == NULL) {
            goto failed;
        }
    }

    if (pthread_mutex_init(&pl->mutex, NULL) != 0) {
        goto failed;
    }

    if (pthread_cond_init(&pl->work, NULL) != 0) {
        goto failed_mutex;
    }

    if (pthread_cond_init(&pl->done, NULL) != 0) {
        goto failed_work;
    }

    for (i = 0; i < EXZ_HELPERS; i++) {
        if (pthread_create(&pl->helpers[i].tid, NULL, exz_helper_main,
                           &pl->helpers[i])
            != 0)
        {
            break;
        }

        pl->nhelpers++;
    }

    if (pl->nhelpers) {
        z->pool = pl;
        return;
    }

    (void) pthread_cond_destroy(&pl->done);

failed_work:

    (void) pthread_cond_destroy(&pl->work);

failed_mutex:

    (void) pthread_mutex_destroy(&pl->mutex);

failed:

    exz_pool_free(pl);
}


/* the helpers leave after their current piece; the rest is dropped */

static void
exz_pool_stop(exz_t *z)
{
    size_t       i;
    exz_pool_t  *pl;

    pl = z->pool;

    pthread_mutex_lock(&pl->mutex);
    pl->stop = 1;
    pthread_cond_broadcast(&pl->work);
    pthread_mutex_unlock(&pl->mutex);

    for (i = 0; i < pl->nhelpers; i++) {
        (void) pthread_join(pl->helpers[i].tid, NULL);
    }

    (void) pthread_cond_destroy(&pl->done);
    (void) pthread_cond_destroy(&pl->work);
    (void) pthread_mutex_destroy(&pl->mutex);

    exz_pool_free(pl);

    z->pool = NULL;
    z->piece = NULL;
}


/*
 * Writes the pieces that are done, oldest first, up to the first that is
 * not; with "all", waits for every piece handed over.
 */

static int
exz_pool_write(exz_t *z, int all)
{
    int           rc;
    exz_pool_t   *pl;
    exz_piece_t  *pc;
    exz_entry_t  *e;

    pl = z->pool;
    e = &z->entries[z->nentries];

    for ( ;; ) {
        pthread_mutex_lock(&pl->mutex);

        if (pl->ocount == 0) {
            pthread_mutex_unlock(&pl->mutex);
            return EXZ_OK;
        }

        pc = pl->order[pl->ofirst];

        while (all && pc->state < EXZ_PIECE_DONE) {
            pthread_cond_wait(&pl->done, &pl->mutex);
        }

        if (pc->state < EXZ_PIECE_DONE) {
            pthread_mutex_unlock(&pl->mutex);
            return EXZ_OK;
        }

        pl->ofirst = (pl->ofirst + 1) % EXZ_PIECES;
        pl->ocount--;

        pthread_mutex_unlock(&pl->mutex);

        /* a done piece is the writer's alone until it is freed */

        if (pc->state == EXZ_PIECE_FAILED) {
            rc = exz_fail(z, 0, "libdeflate failed on a %zu-byte piece",
                          pc->len);

        } else {
            e->csize += pc->clen;
            rc = exz_put(z, pc->cbuf, pc->clen);
        }

        pthread_mutex_lock(&pl->mutex);
        pc->state = EXZ_PIECE_FREE;
        pc->next = pl->free;
        pl->free = pc;
        pthread_mutex_unlock(&pl->mutex);

        if (rc != EXZ_OK) {
            return EXZ_ERROR;
        }
    }
}


/* a free piece for the writer to fill; writes done ones meanwhile */

static exz_piece_t *
exz_pool_piece(exz_t *z)
{
    exz_pool_t   *pl;
    exz_piece_t  *pc;

    pl = z->pool;

    for ( ;; ) {
        if (exz_pool_write(z, 0) != EXZ_OK) {
            return NULL;
        }

        pthread_mutex_lock(&pl->mutex);

        pc = pl->free;

        if (pc) {
            pl->free = pc->next;
            pthread_mutex_unlock(&pl->mutex);

            pc->next = NULL;
            pc->len = 0;

            return pc;
        }

        /* all are handed over: the oldest is the one to wait for */

        while (pl->order[pl->ofirst]->state < EXZ_PIECE_DONE) {
            pthread_cond_wait(&pl->done, &pl->mutex);
        }

        pthread_mutex_unlock(&pl->mutex);
    }
}


static void
exz_pool_submit(exz_t *z, int last)
{
    exz_pool_t   *pl;
    exz_piece_t  *pc;

    pl = z->pool;
    pc = z->piece;
    z->piece = NULL;

    pthread_mutex_lock(&pl->mutex);

    pc->last = last;
    pc->state = EXZ_PIECE_QUEUED;
    pc->next = NULL;

    if (pl->qtail) {
        pl->qtail->next = pc;

    } else {
        pl->qhead = pc;
    }

    pl->qtail = pc;

    pl->order[(pl->ofirst + pl->ocount) % EXZ_PIECES] = pc;
    pl->ocount++;

    pthread_cond_signal(&pl->work);
    pthread_mutex_unlock(&pl->mutex);
}


static int
exz_pool_deflate(exz_t *z, const unsigned char *p, size_t n, int flush)
{
    size_t        k;
    exz_piece_t  *pc;

    while (n) {
        /* a full piece is not the last one: more data came */
        if (z->piece && z->piece->len == EXZ_CHUNK) {
            exz_pool_submit(z, 0);
        }

        if (z->piece == NULL) {
            z->piece = exz_pool_piece(z);

            if (z->piece == NULL) {
                return EXZ_ERROR;
            }
        }

        pc = z->piece;

        k = EXZ_CHUNK - pc->len;
        if (k > n) {
            k = n;
        }

        memcpy(pc->data + pc->len, p, k);
        pc->len += k;
        p += k;
        n -= k;
    }

    if (flush != EXZ_Z_FINISH) {
        return EXZ_OK;
    }

    /* an entry with data always ends with a piece not yet handed over */

    if (z->piece == NULL) {
        return exz_fail(z, 0, "deflate: entry end without data");
    }

    exz_pool_submit(z, 1);

    return exz_pool_write(z, 1);
}

#else /* zlib */

const char *
exz_backend(void)
{
    return "zlib " ZLIB_VERSION;
}


int
exz_backend_level(int level)
{
    return (level == -1) ? 6 : level;
}


/* returns 0, ENOMEM, or EINVAL (then with the error set) */

static int
exz_zinit(exz_t *z, int level)
{
    int  rc;

    memset(&z->zs, 0, sizeof(z_stream));

    /* raw deflate: ZIP has its own framing and CRC */
    rc = deflateInit2(&z->zs, level, Z_DEFLATED, -15, 8,
                      Z_DEFAULT_STRATEGY);

    if (rc == Z_MEM_ERROR) {
        return ENOMEM;
    }

    if (rc != Z_OK) {
        (void) exz_fail(z, 0, "deflateInit2() failed (%d)", rc);
        return EINVAL;
    }

    z->zinit = 1;

    return 0;
}


static int
exz_zreset(exz_t *z)
{
    if (deflateReset(&z->zs) != Z_OK) {
        return exz_fail(z, 0, "deflateReset() failed");
    }

    return EXZ_OK;
}


static void
exz_zend(exz_t *z)
{
    (void) deflateEnd(&z->zs);
    z->zinit = 0;
}


static int
exz_deflate(exz_t *z, const unsigned char *p, size_t n, int flush)
{
    int           rc, zflush;
    size_t        avail;
    exz_entry_t  *e;

    e = &z->entries[z->nentries];
    zflush = (flush == EXZ_Z_FINISH) ? Z_FINISH : Z_NO_FLUSH;

    z->zs.next_in = p;
    z->zs.avail_in = (uInt) n;

    for ( ;; ) {
        if (z->len == z->cap && exz_flush(z) != EXZ_OK) {
            return EXZ_ERROR;
        }

        avail = z->cap - z->len;
        z->zs.next_out = z->buf + z->len;
        z->zs.avail_out = (uInt) avail;

        rc = deflate(&z->zs, zflush);

        avail -= z->zs.avail_out;
        z->len += avail;
        e->csize += avail;

        if (zflush == Z_FINISH) {
            if (rc == Z_STREAM_END) {
                return EXZ_OK;
            }

            if (rc == Z_OK || (rc == Z_BUF_ERROR && avail)) {
                continue;
            }

        } else if (rc == Z_OK) {
            if (z->zs.avail_in == 0) {
                return EXZ_OK;
            }

            continue;
        }

        return exz_fail(z, 0, "deflate() failed (%d%s%s)", rc,
                        z->zs.msg ? ": " : "",
                        z->zs.msg ? z->zs.msg : "");
    }
}


/* crc32() takes uInt lengths; crc32_z() needs zlib 1.2.9 */

static uint32_t
exz_crc32(uint32_t crc, const unsigned char *p, size_t n)
{
    uLong   c;
    size_t  k;

    c = crc;

    while (n) {
        k = (n > EXZ_IO_MAX) ? EXZ_IO_MAX : n;
        c = crc32(c, p, (uInt) k);
        p += k;
        n -= k;
    }

    return (uint32_t) c;
}

#endif
