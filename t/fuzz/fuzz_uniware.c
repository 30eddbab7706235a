
/*
 * libFuzzer harness of Uniware's status body: exp_uniware_code() on the
 * body as the module reads it (NUL-terminated, so cut at a NUL byte),
 * then exp_job_parse() on the jobCode, as ngx_http_export_task_by_job()
 * takes it.
 *
 * Checked: EXP_UW_OK comes with a document that is an object whose
 * "jobCode" is the non-empty string returned; EXP_UW_NOT_OBJECT exactly
 * when yajl finds no object; a job id accepted is a UUID or "j" and one.
 */


#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_export_parse.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int            rc;
    char          *body, err[128];
    size_t         len;
    yajl_val       doc, v;
    const char    *code;
    unsigned char  id[16], id2[16];

    static const char  *k_job[] = { "jobCode", NULL };

    body = malloc(size + 1);
    if (body == NULL) {
        abort();
    }

    memcpy(body, data, size);
    body[size] = '\0';

    rc = exp_uniware_code(body, &doc, &code);

    switch (rc) {

    case EXP_UW_OK:
        if (doc == NULL || !YAJL_IS_OBJECT(doc) || code == NULL
            || code[0] == '\0')
        {
            abort();
        }

        v = yajl_tree_get(doc, k_job, yajl_t_string);

        if (v == NULL || YAJL_GET_STRING(v) != code) {
            abort();
        }

        len = strlen(code);

        if (exp_job_parse(id, (const unsigned char *) code, len) == 0) {
            if (len == EXP_UUID_LEN + 1) {
                if (code[0] != 'j'
                    || exp_uuid_parse(id2, (const unsigned char *) code + 1,
                                      EXP_UUID_LEN) != 0)
                {
                    abort();
                }

            } else if (len != EXP_UUID_LEN
                       || exp_uuid_parse(id2, (const unsigned char *) code,
                                         len) != 0)
            {
                abort();
            }

            if (memcmp(id, id2, 16) != 0) {
                abort();
            }
        }

        yajl_tree_free(doc);
        break;

    case EXP_UW_NOT_OBJECT:
    case EXP_UW_NO_CODE:
        if (doc != NULL || code != NULL) {
            abort();
        }

        v = yajl_tree_parse(body, err, sizeof(err));

        if ((rc == EXP_UW_NOT_OBJECT) != (v == NULL || !YAJL_IS_OBJECT(v))) {
            abort();
        }

        if (v) {
            yajl_tree_free(v);
        }

        break;

    default:
        abort();
    }

    free(body);

    return 0;
}
