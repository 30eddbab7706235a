
/*
 * libFuzzer harness of the claim and heartbeat readers of the store
 * shared by nodes: exp_claim_parse() and exp_beat_parse() on a file's
 * text as ngx_http_export_claim.c reads it (at most 64 KiB, cut at a NUL
 * byte).
 *
 * Checked: an accepted claim has a run of 1 to 64 of [A-Za-z0-9_-], a
 * taskId that is a UUID (its bytes given back), a node of 1 to 64 of
 * [A-Za-z0-9._-], an attempt within 1 .. EXP_ATTEMPTS_MAX, 1 to 100
 * sources that are absolute paths without a ".." component and as many
 * folders ("" or "name/"), a level within 0 .. 9 and symlinks within
 * 0 .. 2; an accepted heartbeat has a UUID, a node, an attempt and a
 * progress within range.  Every string can be read to its end.
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


static void
fz_name(const char *p, size_t len, size_t max, int dots)
{
    size_t         i;
    unsigned char  c;

    if (p == NULL || len == 0 || len > max || strnlen(p, len) != len) {
        abort();
    }

    for (i = 0; i < len; i++) {
        c = (unsigned char) p[i];

        if (!((c | 0x20) >= 'a' && (c | 0x20) <= 'z')
            && !(c >= '0' && c <= '9') && c != '-' && c != '_'
            && !(dots && c == '.'))
        {
            abort();
        }
    }
}


static void
fz_claim(const char *text, size_t size)
{
    size_t        i, len;
    yajl_val      root, v;
    exp_claim_t   c;
    const char   *s;
    unsigned char id[16];

    static const char  *k_id[] = { "taskId", NULL };

    root = exp_claim_parse(text, fz_styles, &c);

    if (root == NULL) {
        return;
    }

    fz_name((const char *) c.run, c.run_len, EXP_RUN_MAX, 0);
    fz_name(c.node, c.node_len, EXP_NODE_MAX, 1);

    if (strlen((const char *) c.run) != c.run_len
        || strlen(c.node) != c.node_len)
    {
        abort();
    }

    v = yajl_tree_get(root, k_id, yajl_t_string);

    if (v == NULL
        || exp_uuid_parse(id, (unsigned char *) YAJL_GET_STRING(v),
                          strlen(YAJL_GET_STRING(v))) != 0
        || memcmp(id, c.id, 16) != 0)
    {
        abort();
    }

    if (c.attempt < 1 || c.attempt > EXP_ATTEMPTS_MAX
        || c.style < 0 || c.style > 3
        || c.nsources < 1 || c.nsources > EXP_SOURCES_MAX
        || c.level < 0 || c.level > 9 || c.ttl < 0
        || c.symlinks < 0 || c.symlinks > 2
        || c.thread_pool == NULL || c.thread_pool[0] == '\0'
        || c.symlinks_from == NULL || strlen(c.symlinks_from) > size)
    {
        abort();
    }

    for (i = 0; i < c.nsources; i++) {
        s = exp_claim_item(c.sources, i);
        len = s ? strlen(s) : 0;

        if (len < 2 || s[0] != '/' || strstr(s, "/../") != NULL
            || (len >= 3 && strcmp(s + len - 3, "/..") == 0))
        {
            abort();
        }

        s = exp_claim_item(c.folders, i);

        if (s == NULL) {
            abort();
        }

        len = strlen(s);

        if (len) {
            if (s[len - 1] != '/') {
                abort();
            }

            fz_name(s, len - 1, EXP_RUN_MAX, 0);
        }
    }

    if (c.op && strlen(c.op) > size) {
        abort();
    }

    yajl_tree_free(root);
}


static void
fz_beat(const char *text)
{
    yajl_val    root;
    exp_beat_t  b;

    root = exp_beat_parse(text, &b);

    if (root == NULL) {
        return;
    }

    fz_name(b.node, strlen(b.node), EXP_NODE_MAX, 1);

    if (b.attempt < 1 || b.attempt > EXP_ATTEMPTS_MAX || b.beat < 0
        || b.progress < 0 || b.progress > 10000 || b.state == NULL)
    {
        abort();
    }

    yajl_tree_free(root);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char  *text;

    if (size > 64 * 1024) {
        size = 64 * 1024;
    }

    text = malloc(size + 1);
    if (text == NULL) {
        abort();
    }

    memcpy(text, data, size);
    text[size] = '\0';

    fz_claim(text, size);
    fz_beat(text);

    free(text);

    return 0;
}
