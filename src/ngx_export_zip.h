
/*
 * Streaming ZIP writer (zlib, no nginx dependency).
 *
 * Usage: exz_create(), then for every entry exz_begin(), any number of
 * exz_write() calls and exz_end(); then exz_finish() and exz_destroy().
 * The writer holds no entry data in memory: it deflates through one
 * fixed output buffer and writes it with write(2), then fixes up the local
 * header with pwrite(2), so the fd must be seekable (a regular file).
 *
 * Errors are sticky: after the first failure every call returns EXZ_ERROR
 * and exz_strerror()/exz_errno() keep describing that first failure.
 * An exz_t must not be used by two threads at once; distinct exz_t objects
 * are independent.
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


typedef struct exz_s  exz_t;


/*
 * fd: a regular file opened O_WRONLY|O_CREAT|O_TRUNC (not O_APPEND); the
 * archive starts at the current file offset, normally 0.  level: 0..9,
 * 0 stores entries uncompressed, -1 means zlib's default (6).
 * Returns NULL only on allocation failure; a bad fd or level is reported
 * by the first call that uses the object.
 */
exz_t *exz_create(int fd, int level);

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

/* archive bytes produced so far, including those still buffered */
uint64_t exz_offset(const exz_t *z);

/* entries completed with exz_end() */
uint64_t exz_entries(const exz_t *z);

/* text of the first error, "" if none (never NULL, also for z == NULL) */
const char *exz_strerror(const exz_t *z);

/* errno of the first error if it was a system call failure, else 0 */
int exz_errno(const exz_t *z);

/* frees everything; does not close fd; NULL is allowed */
void exz_destroy(exz_t *z);

/*
 * Entry name check used by exz_begin(): returns NULL if the name is
 * acceptable, else a static reason ("\"..\" path component", ...).
 * Rejected: empty, longer than EXZ_NAME_MAX, leading '/', drive letter,
 * '\\', NUL and other control characters, invalid UTF-8, empty, "." and
 * ".." components, trailing '/' (directories are not written).
 */
const char *exz_check_name(const char *name, size_t name_len);


#endif /* _NGX_EXPORT_ZIP_H_INCLUDED_ */
