
/*
 * The fixed-shape writer of ExportTaskRest, the body every status poll
 * gets: the same bytes yajl's generator printed for the same fields
 * (t/unit/test_json.c and t/fuzz/fuzz_json.c compare the two), without a
 * generator call and a print callback per token.  Free of nginx.
 */


#ifndef _NGX_EXPORT_JSON_H_INCLUDED_
#define _NGX_EXPORT_JSON_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <time.h>


#define EXJ_NOT_STARTED     0
#define EXJ_QUEUED          1
#define EXJ_IN_PROGRESS     2
#define EXJ_COMPLETED       3
#define EXJ_FAILED          4

#define EXJ_TIME_LEN        20          /* 2026-11-22T16:00:00Z */
#define EXJ_TIME_MAX        253402300799LL  /* 9999-12-31T23:59:59Z */

/* what a FAILED task says when the zone had no room for its message */
#define EXJ_NO_CAUSE                                                          \
    "the export failed; error.log has the cause"
#define EXJ_REMEDY                                                            \
    "Check that the run's reports are readable and the export store has "   \
    "room, then start the export again; report the referenceToken if it "   \
    "fails again."


typedef struct {
    const unsigned char    *data;
    size_t                  len;
} exj_str_t;


typedef struct {
    exj_str_t               report;
    exj_str_t               message;
    uint64_t                offset;
} exj_warning_t;


/*
 * The fields of one answer.  The status decides the shape: endTimestamp
 * is null until COMPLETED or FAILED; url, expires and size are written
 * for COMPLETED only; message and ref for FAILED only (an empty message
 * writes EXJ_NO_CAUSE).  Times are 0 to EXJ_TIME_MAX (others are taken
 * as the nearest of the two); strings are any bytes, escaped as yajl
 * escapes them.
 */
typedef struct {
    unsigned                status;       /* EXJ_NOT_STARTED..EXJ_FAILED */
    unsigned                progress;     /* hundredths of a percent */
    time_t                  start;
    time_t                  end;
    exj_str_t               id;
    exj_str_t               run;
    exj_str_t               url;
    time_t                  expires;
    uint64_t                size;
    exj_str_t               message;
    exj_str_t               ref;
    const exj_warning_t    *warnings;
    size_t                  nwarnings;
    uint64_t                omitted;      /* warnings not kept; 0: none */
} exj_task_t;


/* "NOT_STARTED" .. "FAILED"; "FAILED" past the last status */
const char *exj_status_name(unsigned status);

/* a size that the body of t, without a new line, never exceeds */
size_t exj_task_bound(const exj_task_t *t);

/* writes the body of t at p (exj_task_bound() bytes); returns its end */
unsigned char *exj_task_write(unsigned char *p, const exj_task_t *t);

/* a JSON string's contents as yajl escapes them; 6 bytes a byte at most */
unsigned char *exj_escape(unsigned char *p, const unsigned char *s,
    size_t len);

/* decimal digits of n */
unsigned char *exj_uint(unsigned char *p, uint64_t n);

/* RFC 3339 UTC, EXJ_TIME_LEN bytes, of t clamped to 0..EXJ_TIME_MAX */
unsigned char *exj_rfc3339(unsigned char *p, time_t t);


#endif /* _NGX_EXPORT_JSON_H_INCLUDED_ */
