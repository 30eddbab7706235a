
/*
 * Streaming ZIP writer (zlib or ISA-L, no nginx dependency).
 *
 * Usage: exz_create(), then for every entry exz_begin(), any number of
 * exz_write() calls and exz_end(); then exz_finish() and exz_destroy(),
 * or exz_reset() and the next archive.
 * The writer holds no entry data in memory: it deflates through one
 * fixed output buffer and writes it with write(2), then fixes up the local
 * header with pwrite(2), so the fd must be seekable (a regular file).
 *
 * Errors are sticky: after the first failure every call returns EXZ_ERROR
 * and exz_strerror()/exz_errno() keep describing that first failure.
 * An exz_t must not be used by two threads at once; distinct exz_t objects
 * are independent.
 *
 * By default all the work is done in the calling thread.  exz_thread()
 * moves CRC, deflate and the file writes into a thread of the writer's
 * own; see there.
 */


#ifndef _NGX_EXPORT_ZIP_H_INCLUDED_
#define _NGX_EXPORT_ZIP_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <time.h>


#define EXZ_OK     0
#define EXZ_ERROR -1

#define EXZ_NAME_MAX       65535    /* bytes, a 16-bit header field */
#define EXZ_BUFFER_SIZE    (256 * 1024)

/* libdeflate builds: the deflate threads exz_thread() adds, see there */
#define EXZ_DEFLATE_THREADS  2

/* exz_thread() flags */
#define EXZ_THREAD_BATCH   0x01     /* SCHED_BATCH where there is one */
#define EXZ_THREAD_ALONE   0x02     /* no deflate threads (libdeflate) */


typedef struct exz_s  exz_t;


/*
 * fd: a regular file opened O_WRONLY|O_CREAT|O_TRUNC (not O_APPEND); the
 * archive starts at the current file offset, normally 0.  level: 0..9,
 * 0 stores entries uncompressed, -1 means zlib's default (6); see
 * exz_backend_level() for what each level is with ISA-L.
 * Returns NULL only on allocation failure; a bad fd or level is reported
 * by the first call that uses the object.
 */
exz_t *exz_create(int fd, int level);

/*
 * Starts a thread that does CRC, deflate and the writes to fd, so that
 * the caller can prepare the next data meanwhile (on another core).
 * Only before the first exz_begin().  exz_write() then copies the data
 * into one of 4 chunk buffers of 256 KiB (1 MiB in all) and returns as
 * soon as it is queued; it waits only while all 4 are full.  The archive
 * is byte for byte the one the calling thread would write.
 *
 * Errors keep their texts and errno values, but one that happens in the
 * thread (a write() failure, ENOSPC, ...) is returned by the first call
 * after it: a later exz_write(), exz_begin() or exz_end(), or at the
 * latest exz_finish(), which waits for the thread and ends it.
 * exz_offset() and exz_entries() wait for the thread to catch up.
 * exz_destroy() stops it at any point, mid-entry too, within the time it
 * takes to deflate one 256 KiB chunk; queued data is dropped.  The fd
 * must stay open until exz_finish() or exz_destroy() has returned.
 *
 * Built on libdeflate (EXZ_LIBDEFLATE=1), it also starts
 * EXZ_DEFLATE_THREADS deflate threads: the entries are deflated in
 * pieces of 256 KiB side by side, up to 5 pieces (2.5 MiB and a
 * compressor per deflate thread) at a time, joined in order by the
 * writer's thread; if they cannot be started, or with
 * EXZ_THREAD_ALONE, the writer's thread deflates alone.  The archive is
 * the same either way.
 *
 * The threads block all signals.  EXZ_THREAD_BATCH puts it in the
 * SCHED_BATCH policy (Linux; ignored elsewhere or if refused): the same
 * share of CPU as the nice value gives it, but it never preempts other
 * threads when it wakes up, so that an event loop on the same core keeps
 * its latency.
 *
 * Returns 0 if the thread runs; else an errno value (EINVAL: z is NULL,
 * the call comes too late or twice; EAGAIN, ENOMEM: no thread) and the
 * writer goes on in the calling thread.  A writer that has already
 * failed is left as it is and 0 is returned.
 */
int exz_thread(exz_t *z, unsigned flags);

/*
 * Makes every entry and the end records use ZIP64 even when not needed;
 * for tests and for consumers that insist on it.  Only before the first
 * exz_begin().
 */
int exz_force_zip64(exz_t *z);

/*
 * Starts an entry.  name: UTF-8, relative, '/' separated, see
 * exz_check_name(); mtime: modification time, stored as DOS time (UTC,
 * clamped to 1980..2107) and as an exact Unix time extra field.
 */
int exz_begin(exz_t *z, const char *name, size_t name_len, time_t mtime);

/* entry data, any chunk size, any number of calls */
int exz_write(exz_t *z, const void *buf, size_t len);

/* finishes the entry: flushes the compressor, fixes up its local header */
int exz_end(exz_t *z);

/* writes the central directory and end records; fsync is the caller's job */
int exz_finish(exz_t *z);

/*
 * archive bytes produced so far, including those still buffered; with a
 * thread, it waits for the thread to have written what it was given
 */
uint64_t exz_offset(const exz_t *z);

/* entries completed with exz_end(); with a thread, it waits likewise */
uint64_t exz_entries(const exz_t *z);

/* text of the first error, "" if none (never NULL, also for z == NULL) */
const char *exz_strerror(const exz_t *z);

/* errno of the first error if it was a system call failure, else 0 */
int exz_errno(const exz_t *z);

/*
 * Makes a writer whose exz_finish() succeeded ready for a new archive on
 * fd at level, as exz_create(fd, level) would, but keeping its buffers
 * and its deflate state (reset, not allocated again) for a caller that
 * writes many small archives.  A thread started for the last archive
 * ended in exz_finish(); exz_thread() may start one for the next.
 * Returns EXZ_ERROR, z unchanged, when z did not finish or failed, when
 * level is out of range or zlib has no memory: destroy it and create a
 * new one.  A bad fd is reported by the first call that uses z, as with
 * exz_create().
 */
int exz_reset(exz_t *z, int fd, int level);

/* stops the thread if any, frees everything; does not close fd; NULL ok */
void exz_destroy(exz_t *z);

/*
 * The deflate backend this writer was built with: "zlib 1.2.13" (zlib's
 * version), "ISA-L" (built with EXZ_ISAL=1) or "libdeflate v1.14" (built
 * with EXZ_LIBDEFLATE=1), for logs and benchmarks.
 */
const char *exz_backend(void);

/*
 * The backend's own level that a level of exz_create() gives: zlib's
 * is the same; ISA-L's levels are 0 to 3 (1 for 1, 2 for 2 to 5, 3 for
 * 6 to 9).  0 stores with either.
 */
int exz_backend_level(int level);

/*
 * Entry name check used by exz_begin(): returns NULL if the name is
 * acceptable, else a static reason ("\"..\" path component", ...).
 * Rejected: empty, longer than EXZ_NAME_MAX, leading '/', drive letter,
 * '\\', NUL and other control characters, invalid UTF-8, empty, "." and
 * ".." components, trailing '/' (directories are not written).
 */
const char *exz_check_name(const char *name, size_t name_len);


#endif /* _NGX_EXPORT_ZIP_H_INCLUDED_ */
