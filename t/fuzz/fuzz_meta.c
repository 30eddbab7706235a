
/*
 * libFuzzer harness of the metadata reader: exp_meta_parse() on a file's
 * text as ngx_http_export_meta_load() reads it (at most 256 KiB, cut at
 * a NUL byte), then every warning through exp_meta_warning().
 *
 * Checked: an accepted file has a runId of 1 to 64 of [A-Za-z0-9_-] and
 * a taskId that is a UUID (its bytes given back), a style within the
 * list, the defaults where members are absent, and warnings that can
 * all be read; a refused one is refused by yajl or for its runId or
 * taskId.
 */


#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_export_parse.h"


static const char  *fz_styles[] = {
    "vmware", "arcgis", "uniware", "webadmit", NULL
};


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char                *text;
    size_t               i;
    yajl_val             root, v;
    exp_meta_t           m;
    unsigned char        c, id[16];
    exp_meta_warning_t   w;

    static const char  *k_id[] = { "taskId", NULL };

    if (size > 256 * 1024) {
        size = 256 * 1024;
    }

    text = malloc(size + 1);
    if (text == NULL) {
        abort();
    }

    memcpy(text, data, size);
    text[size] = '\0';

    root = exp_meta_parse(text, fz_styles, &m);

    if (root == NULL) {
        free(text);
        return 0;
    }

    if (m.run == NULL || m.run_len == 0 || m.run_len > EXP_RUN_MAX
        || strlen((const char *) m.run) != m.run_len)
    {
        abort();
    }

    for (i = 0; i < m.run_len; i++) {
        c = m.run[i];

        if (!((c | 0x20) >= 'a' && (c | 0x20) <= 'z')
            && !(c >= '0' && c <= '9') && c != '-' && c != '_')
        {
            abort();
        }
    }

    v = yajl_tree_get(root, k_id, yajl_t_string);

    if (v == NULL
        || exp_uuid_parse(id, (unsigned char *) YAJL_GET_STRING(v),
                          strlen(YAJL_GET_STRING(v))) != 0
        || memcmp(id, m.id, 16) != 0)
    {
        abort();
    }

    if (m.style < 0 || m.style > 3 || m.state == NULL
        || (m.keyed != 0 && m.keyed != 1)
        || (!m.has_created && m.created != 0)
        || m.serial < -1 || m.reports < -1 || m.created_ms < -1
        || m.finished_ms < -1)
    {
        abort();
    }

    if (m.nkept && (m.warnings == NULL || !YAJL_IS_ARRAY(m.warnings)
                    || YAJL_GET_ARRAY(m.warnings)->len != m.nkept))
    {
        abort();
    }

    for (i = 0; i < m.nkept; i++) {
        exp_meta_warning(&m, i, &w);

        /* the module copies these with ngx_cpystrn(): NUL-terminated */
        if ((w.report && strlen(w.report) > size)
            || (w.message && strlen(w.message) > size))
        {
            abort();
        }
    }

    if (m.error && strlen(m.error) > size) {
        abort();
    }

    yajl_tree_free(root);
    free(text);

    return 0;
}
