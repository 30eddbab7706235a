
/*
 * The reference of the fixed-shape writer (src/ngx_export_json.c): the
 * module's former yajl code of ExportTaskRest, field for field, for the
 * unit test and the fuzz harness to compare with.
 */


#ifndef _EXJ_REF_H_INCLUDED_
#define _EXJ_REF_H_INCLUDED_


#include "ngx_export_json.h"


/*
 * The body yajl's generator prints for t, without the new line, in a
 * malloc()ed buffer (*len bytes); NULL if yajl refused a call.
 */
unsigned char *exj_ref_task(const exj_task_t *t, size_t *len);


#define EXJ_REF_WARNINGS  40            /* more than a task keeps (32) */
#define EXJ_REF_ARENA     65536

/* a task made from bytes, with the room its strings point into */
typedef struct {
    exj_task_t      t;
    exj_warning_t   w[EXJ_REF_WARNINGS];
    size_t          used;
    unsigned char   arena[EXJ_REF_ARENA];
} exj_ref_input_t;

/*
 * Fills in->t from any bytes (the fuzzer's, or a test's random ones):
 * every status and one past them, progress, times (the edges of the
 * range too), ids, run, link, message and warnings made of raw bytes or
 * of pieces that need care: every control byte, '"', '\\', '/', 7F,
 * multi-byte UTF-8 and bytes that are not UTF-8.
 */
void exj_ref_build(exj_ref_input_t *in, const unsigned char *data,
    size_t size);


#endif /* _EXJ_REF_H_INCLUDED_ */
