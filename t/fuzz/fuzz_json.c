
/*
 * libFuzzer harness of the fixed-shape writer of ExportTaskRest
 * (src/ngx_export_json.c), differential: the input makes a task
 * (exj_ref_build(): every status and one past them, progress, times and
 * their edges, strings of raw bytes, of control bytes, of '"', '\\', '/'
 * and multi-byte UTF-8, warnings up to 40, warningsOmitted), and the
 * writer's body must be the bytes yajl's generator prints for the same
 * fields (exj_ref_task(), the module's former code).
 *
 * Checked besides: the body stays within exj_task_bound(); when it is
 * valid UTF-8 (every string given was), yajl's parser reads it back as
 * an object with the status and runId given.
 */


#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_tree.h>

#include "ngx_export_json.h"
#include "ngx_export_utf8.h"
#include "../unit/exj_ref.h"


static exj_ref_input_t  in;


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char                 *text, err[128];
    size_t                len, bound, n;
    yajl_val              doc, v;
    const char           *why, *s;
    unsigned char        *want, *end;

    static const char  *k_run[] = { "runId", NULL };
    static const char  *k_status[] = { "status", NULL };

    exj_ref_build(&in, data, size);

    want = exj_ref_task(&in.t, &len);
    if (want == NULL) {
        abort();
    }

    bound = exj_task_bound(&in.t);

    /* exactly the bound, so that ASan sees a byte written past it */
    text = malloc(bound + 1);
    if (text == NULL) {
        abort();
    }

    end = exj_task_write((unsigned char *) text, &in.t);
    n = end - (unsigned char *) text;

    if (n > bound || n != len || memcmp(text, want, len) != 0) {
        fprintf(stderr, "yajl:   %.*s\nwriter: %.*s\n", (int) len, want,
                (int) n, text);
        abort();
    }

    free(want);

    if (exu_check((unsigned char *) text, n, &why) == n) {
        text[n] = '\0';

        doc = yajl_tree_parse(text, err, sizeof(err));
        if (doc == NULL || !YAJL_IS_OBJECT(doc)) {
            fprintf(stderr, "%s\n%s\n", err, text);
            abort();
        }

        v = yajl_tree_get(doc, k_status, yajl_t_string);
        s = v ? YAJL_GET_STRING(v) : NULL;

        if (s == NULL || strcmp(s, exj_status_name(in.t.status)) != 0) {
            abort();
        }

        v = yajl_tree_get(doc, k_run, yajl_t_string);
        s = v ? YAJL_GET_STRING(v) : NULL;

        /* a C string: \u0000 ends it */
        if (s == NULL
            || (memchr(in.t.run.data, 0, in.t.run.len) == NULL
                && (strlen(s) != in.t.run.len
                    || memcmp(s, in.t.run.data, in.t.run.len) != 0)))
        {
            abort();
        }

        yajl_tree_free(doc);
    }

    free(text);

    return 0;
}
