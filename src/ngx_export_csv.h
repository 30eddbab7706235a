
/*
 * Streaming JSON to CSV conversion of pre-check reports.
 *
 * Plain C99 + libc + yajl 2, no nginx dependency, so that it can be unit
 * tested and fuzzed on its own.  A report is converted in two passes over
 * the same bytes: exc_scan() learns the columns and where the rows are,
 * exc_emit() writes the header and the rows.  Memory stays bounded by the
 * limits below whatever the size of the report.
 *
 * Contract (see also the comments in ngx_export_csv.c):
 *
 *   rows     a top-level array: one row per element; a top-level object:
 *            the rows of its first member whose value is an array (all
 *            other members are ignored), or, with no such member, the
 *            object itself is one row; NDJSON: one row per non-blank line.
 *            A scalar row (or top-level scalar) is one cell in the column
 *            "value"; an array row is one "value" cell holding compact JSON.
 *
 *   columns  nested keys joined with "." ("host.name"), union of all keys
 *            in order of first appearance.
 *
 *   cells    null and "" are empty, true/false as is, numbers exactly as
 *            in the source, strings decoded UTF-8, arrays as compact JSON,
 *            an empty nested object as "{}".
 *
 *   CSV      RFC 4180, CRLF after every record, see exc_options_t for the
 *            formula guard and the BOM.
 */


#ifndef _NGX_EXPORT_CSV_H_INCLUDED_
#define _NGX_EXPORT_CSV_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


#define EXC_OK        0
/*
 * the report is not convertible: the result has the reason and the byte
 * offset; the caller keeps the original, drops the CSV, records a warning
 */
#define EXC_BAD       1
/* fatal: out of memory, the write callback failed, or API misuse */
#define EXC_ERROR    -1

/* max_depth is capped here: yajl_gen cannot nest deeper */
#define EXC_MAX_DEPTH  127


/* returns 0 on success, -1 on error */
typedef int (*exc_write_pt)(void *data, const unsigned char *buf, size_t len);


/*
 * Memory: a converter holds at most about 2 * max_row (the row buffer of
 * pass 2, the column names) + 8 * max_cell (a token cut by a chunk end,
 * up to 6 * max_cell + 16 bytes of JSON text; the JSON text of an array
 * cell; yajl's decoded string; the key path) + 32 bytes a column, plus
 * fixed buffers (64 KiB of output, yajl's state).  The defaults bound
 * that at about 7 MiB, for "memory per export stays bounded (a few MiB)":
 * with t/bench/archive.sh, a report that takes every buffer to these
 * limits grows the whole generator (converter, zip writer and the 1 MiB
 * of its thread's buffers, zlib, read buffer) by 9 MiB, a realistic
 * report of any size by 2.5 MiB; the former defaults (1 MiB, 16 MiB)
 * let the same worst case take 52 MiB (without the thread's buffers).
 * See docs/benchmarks.md.
 */

typedef struct {
    size_t    max_columns;      /* default 2048 */
    size_t    max_depth;        /* default 64, capped at EXC_MAX_DEPTH */
    uint64_t  max_report_size;  /* default 4 GiB; 0 = no limit */
    size_t    max_cell;         /* default 256 KiB, bytes of one cell */
    size_t    max_row;          /* default 2 MiB, bytes of one row, and
                                   of the header's column names */
    unsigned  formula_guard:1;  /* default on */
    unsigned  bom:1;            /* default off: UTF-8 BOM before header */
} exc_options_t;


typedef struct {
    uint64_t  rows;             /* rows written (pass 2) or counted (1) */
    size_t    columns;
    uint64_t  offset;           /* byte offset of the problem (EXC_BAD) */
    char      reason[256];      /* human text of the problem */
} exc_result_t;


typedef struct exc_conv_s  exc_conv_t;


void exc_options_init(exc_options_t *opt);

/* opt may be NULL for the defaults; returns NULL on out of memory */
exc_conv_t *exc_create(const exc_options_t *opt, int ndjson);

/* pass 1: learn the columns and the row source */
int exc_scan(exc_conv_t *c, const unsigned char *buf, size_t len);
int exc_scan_end(exc_conv_t *c);

/* pass 2: writes the BOM and the header, then the rows */
int exc_emit_begin(exc_conv_t *c, exc_write_pt write, void *data);
int exc_emit(exc_conv_t *c, const unsigned char *buf, size_t len);
int exc_emit_end(exc_conv_t *c);

const exc_result_t *exc_result(const exc_conv_t *c);
void exc_destroy(exc_conv_t *c);

/* both passes over an in-memory buffer; res may be NULL */
int exc_convert_buffer(const exc_options_t *opt, int ndjson,
    const unsigned char *buf, size_t len, exc_write_pt write, void *data,
    exc_result_t *res);


#endif /* _NGX_EXPORT_CSV_H_INCLUDED_ */
