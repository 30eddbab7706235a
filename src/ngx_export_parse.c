
/*
 * The parsers of outside bytes, free of nginx (see ngx_export_parse.h);
 * fuzzed in t/fuzz/, unit tested in t/unit/test_parse.c.
 */


#include <string.h>

#include "ngx_export_parse.h"


static int exp_hex(unsigned char c);
static int exp_uuid_lower(unsigned char *canon, const unsigned char *text);
static int exp_b64url(unsigned char c);
static const char *exp_json_string(yajl_val root, const char *key);
static int exp_meta_integer(yajl_val root, const char *key,
    long long *value);


static int
exp_hex(unsigned char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    c |= 0x20;

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    return -1;
}


/*
 * Accepts only the canonical 8-4-4-4-12 form, in either case; libuuid's
 * own parser is laxer than the API promises.
 */

int
exp_uuid_parse(unsigned char *bin, const unsigned char *text, size_t len)
{
    int     hi, lo;
    size_t  i, n;

    if (len != EXP_UUID_LEN) {
        return -1;
    }

    n = 0;

    for (i = 0; i < len; ) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (text[i] != '-') {
                return -1;
            }

            i++;
            continue;
        }

        hi = exp_hex(text[i]);
        lo = exp_hex(text[i + 1]);

        if (hi < 0 || lo < 0) {
            return -1;
        }

        bin[n++] = (unsigned char) (hi << 4 | lo);
        i += 2;
    }

    return 0;
}


/*
 * A status GET writes three of these (the run, the task in its link and
 * in its body): each byte's two digits come from a table, the dashes
 * where they go.
 */

unsigned char *
exp_uuid_text(unsigned char *p, const unsigned char *bin)
{
    size_t  i;

    static const unsigned char  dash[16] = {
        0, 0, 0, 1, 0, 1, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0
    };
    static const char           pairs[] =
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
        "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
        "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"
        "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
        "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
        "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
        "c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf"
        "e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff";

    for (i = 0; i < 16; i++) {
        memcpy(p, &pairs[2 * bin[i]], 2);
        p += 2;

        if (dash[i]) {
            *p++ = '-';
        }
    }

    return p;
}


/*
 * The canonical text of a UUID given in either case, what
 * exp_uuid_text(exp_uuid_parse()) gives, in one pass: every status GET
 * of the VMware style makes its run id canonical.  A hex digit's lower
 * case is the byte with bit 0x20 set (digits have it already).
 */

static int
exp_uuid_lower(unsigned char *canon, const unsigned char *text)
{
    size_t  i;

    for (i = 0; i < EXP_UUID_LEN; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (text[i] != '-') {
                return -1;
            }

        } else if (exp_hex(text[i]) < 0) {
            return -1;
        }

        canon[i] = text[i] | 0x20;
    }

    return 0;
}


/*
 * A UUID (made canonical, lower case) unless the kind is a number; a
 * decimal number of up to 15 digits, exact in JavaScript too (WebAdMIT);
 * or up to 64 letters, digits, "-" and "_" (ArcGIS, Uniware; also what
 * a download link may name).
 */

int
exp_run_check(const unsigned char *v, size_t len, exp_run_kind_e kind,
    unsigned char *canon)
{
    size_t         i;
    unsigned char  c;

    if (len == EXP_UUID_LEN && kind != EXP_RUN_NUMBER
        && exp_uuid_lower(canon, v) == 0)
    {
        return EXP_RUN_CANON;
    }

    if (kind == EXP_RUN_UUID || len == 0 || len > EXP_RUN_MAX) {
        return EXP_RUN_BAD;
    }

    for (i = 0; i < len; i++) {
        c = v[i];

        if (kind == EXP_RUN_NUMBER) {
            if (c < '0' || c > '9' || (i == 0 && c == '0') || i == 15) {
                return EXP_RUN_BAD;
            }

            continue;
        }

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '-' || c == '_'))
        {
            return EXP_RUN_BAD;
        }
    }

    return EXP_RUN_ASIS;
}


int
exp_job_parse(unsigned char *bin, const unsigned char *p, size_t len)
{
    if (len == EXP_UUID_LEN + 1 && p[0] == 'j') {
        p++;
        len--;
    }

    return exp_uuid_parse(bin, p, len);
}


int
exp_uniware_code(const char *body, yajl_val *doc, const char **code)
{
    char      err[128];
    yajl_val  root;

    *doc = NULL;
    *code = NULL;

    root = yajl_tree_parse(body, err, sizeof(err));

    if (root == NULL || !YAJL_IS_OBJECT(root)) {
        if (root) {
            yajl_tree_free(root);
        }

        return EXP_UW_NOT_OBJECT;
    }

    *code = exp_json_string(root, "jobCode");

    if (*code == NULL || (*code)[0] == '\0') {
        yajl_tree_free(root);
        *code = NULL;
        return EXP_UW_NO_CODE;
    }

    *doc = root;

    return EXP_UW_OK;
}


int64_t
exp_serial_parse(const unsigned char *p, size_t len)
{
    size_t   i;
    int64_t  n;

    if (len == 0 || len > 15 || p[0] == '0') {
        return -1;
    }

    n = 0;

    for (i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return -1;
        }

        n = n * 10 + (p[i] - '0');
    }

    return n;
}


int
exp_list_next(const unsigned char *list, size_t len, size_t *pos,
    const unsigned char **item, size_t *item_len)
{
    size_t                i, end;
    const unsigned char  *s;

    for (i = *pos; i < len; i = end + 1) {
        s = memchr(list + i, ',', len - i);
        end = s ? (size_t) (s - list) : len;

        *pos = end + 1;

        while (i < end && list[i] == ' ') {
            i++;
        }

        while (end > i && list[end - 1] == ' ') {
            end--;
        }

        if (end > i) {
            *item = list + i;
            *item_len = end - i;
            return 1;
        }

        end = *pos - 1;
    }

    *pos = len;

    return 0;
}


int
exp_form_find(const unsigned char *form, size_t len, const char *name,
    const unsigned char **value, size_t *value_len)
{
    size_t                nlen;
    const unsigned char  *p, *last, *end, *eq;

    nlen = strlen(name);
    p = form;
    last = form + len;

    while (p < last) {
        end = memchr(p, '&', last - p);
        if (end == NULL) {
            end = last;
        }

        eq = memchr(p, '=', end - p);

        if (eq && (size_t) (eq - p) == nlen && memcmp(p, name, nlen) == 0) {
            *value = eq + 1;
            *value_len = end - eq - 1;
            return 1;
        }

        p = end + 1;
    }

    return 0;
}


/*
 * The query is from the first "?" to the space before the protocol;
 * a value runs to the next "&" or the query's end.
 */

size_t
exp_hide_arg(unsigned char *dst, const unsigned char *line, size_t len,
    const char *name, size_t *hidden)
{
    size_t                nlen, out, i, end, v;
    const unsigned char  *q, *s;

    *hidden = 0;

    q = memchr(line, '?', len);
    if (q == NULL) {
        if (dst) {
            memcpy(dst, line, len);
        }

        return len;
    }

    nlen = strlen(name);

    s = memchr(q, ' ', line + len - q);
    end = s ? (size_t) (s - line) : len;

    /* up to and with the "?" */
    i = q - line + 1;
    out = i;

    if (dst) {
        memcpy(dst, line, i);
    }

    for ( ;; ) {
        /* i is the start of an argument */

        if (end - i > nlen && memcmp(line + i, name, nlen) == 0
            && line[i + nlen] == '=')
        {
            if (dst) {
                memcpy(dst + out, line + i, nlen + 1);
                dst[out + nlen + 1] = '-';
            }

            out += nlen + 2;
            (*hidden)++;

            for (v = i + nlen + 1; v < end && line[v] != '&'; v++) {
                /* void */
            }

            i = v;
        }

        /* the rest of the argument, kept */

        for (v = i; v < end && line[v] != '&'; v++) {
            /* void */
        }

        if (dst) {
            memcpy(dst + out, line + i, v - i);
        }

        out += v - i;
        i = v;

        if (i >= end) {
            break;
        }

        /* the "&" */
        if (dst) {
            dst[out] = '&';
        }

        out++;
        i++;
    }

    if (dst) {
        memcpy(dst + out, line + i, len - i);
    }

    return out + len - i;
}


static int
exp_b64url(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }

    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }

    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }

    if (c == '-') {
        return 62;
    }

    if (c == '_') {
        return 63;
    }

    return -1;
}


/*
 * As nginx's ngx_atotm() and ngx_decode_base64url() take them: expires
 * digits only, without overflow; the signature 43 characters of the URL
 * alphabet, the low bits of the last one not looked at.
 */

int
exp_link_parse(const unsigned char *task, size_t task_len,
    const unsigned char *expires, size_t expires_len,
    const unsigned char *sig, size_t sig_len,
    unsigned char *id, time_t *exp, unsigned char *mac)
{
    int       d;
    size_t    i, n;
    uint32_t  acc;
    uint64_t  t;

    if (exp_uuid_parse(id, task, task_len) != 0
        || sig_len != EXP_SIG_TEXT_LEN || expires_len == 0)
    {
        return -1;
    }

    t = 0;

    for (i = 0; i < expires_len; i++) {
        if (expires[i] < '0' || expires[i] > '9') {
            return -1;
        }

        d = expires[i] - '0';

        /* ngx_atotm()'s cutoff: NGX_MAX_TIME_T_VALUE, time_t's largest */
        if (t > ((uint64_t) INT64_MAX - d) / 10) {
            return -1;
        }

        t = t * 10 + d;
    }

    acc = 0;
    n = 0;

    for (i = 0; i < sig_len; i++) {
        d = exp_b64url(sig[i]);
        if (d < 0) {
            return -1;
        }

        acc = acc << 6 | (uint32_t) d;

        if (i % 4 == 3) {
            mac[n++] = (unsigned char) (acc >> 16);
            mac[n++] = (unsigned char) (acc >> 8);
            mac[n++] = (unsigned char) acc;
            acc = 0;
        }
    }

    /* 43 = 10 * 4 + 3: the last three characters hold two bytes */
    mac[n++] = (unsigned char) (acc >> 10);
    mac[n++] = (unsigned char) (acc >> 2);

    *exp = (time_t) t;

    return 0;
}


static const char *
exp_json_string(yajl_val root, const char *key)
{
    const char  *path[2];

    path[0] = key;
    path[1] = NULL;

    return YAJL_GET_STRING(yajl_tree_get(root, path, yajl_t_string));
}


/* 1 and the value when the member is an integer */

static int
exp_meta_integer(yajl_val root, const char *key, long long *value)
{
    yajl_val     v;
    const char  *path[2];

    path[0] = key;
    path[1] = NULL;

    v = yajl_tree_get(root, path, yajl_t_number);

    if (v == NULL || !YAJL_IS_INTEGER(v)) {
        return 0;
    }

    *value = YAJL_GET_INTEGER(v);

    return 1;
}


static int64_t
exp_meta_count(yajl_val root, const char *key)
{
    long long  n;

    return (exp_meta_integer(root, key, &n) && n >= 0) ? (int64_t) n : -1;
}


yajl_val
exp_meta_parse(const char *text, const char *const *styles, exp_meta_t *m)
{
    char          err[128];
    size_t        i;
    yajl_val      root, v;
    long long     n;
    const char   *p, *path[2];
    unsigned char c;

    memset(m, 0, sizeof(exp_meta_t));

    root = yajl_tree_parse(text, err, sizeof(err));
    if (root == NULL) {
        return NULL;
    }

    p = exp_json_string(root, "runId");

    m->run = (const unsigned char *) p;
    m->run_len = p ? strlen(p) : 0;

    for (i = 0; i < m->run_len; i++) {
        c = m->run[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '-' || c == '_'))
        {
            break;
        }
    }

    p = exp_json_string(root, "taskId");

    if (m->run_len == 0 || m->run_len > EXP_RUN_MAX || i < m->run_len
        || p == NULL
        || exp_uuid_parse(m->id, (const unsigned char *) p, strlen(p)) != 0)
    {
        yajl_tree_free(root);
        return NULL;
    }

    /* written by an older version: a VMware export, found by its run */

    p = exp_json_string(root, "style");

    for (i = 0; p && styles[i]; i++) {
        if (strcmp(p, styles[i]) == 0) {
            m->style = (int) i;
        }
    }

    path[0] = "keyed";
    path[1] = NULL;
    v = yajl_tree_get(root, path, yajl_t_any);
    m->keyed = (v == NULL || YAJL_IS_TRUE(v));

    m->state = exp_json_string(root, "status");
    if (m->state == NULL) {
        m->state = "";
    }

    m->ttl = exp_meta_integer(root, "ttl", &n) ? (time_t) n : 3600;
    m->finished = exp_meta_integer(root, "finished", &n) ? (time_t) n : 0;

    m->has_created = exp_meta_integer(root, "created", &n);
    m->created = m->has_created ? (time_t) n : 0;

    m->op = exp_json_string(root, "operationURI");

    m->serial = exp_meta_count(root, "serial");
    m->reports = exp_meta_count(root, "reports");
    m->created_ms = exp_meta_count(root, "createdMs");
    m->finished_ms = exp_meta_count(root, "finishedMs");

    m->size = exp_meta_integer(root, "size", &n) ? (int64_t) n : 0;
    m->nwarnings = exp_meta_integer(root, "warningsTotal", &n)
                   ? (int64_t) n : 0;

    path[0] = "warnings";
    v = yajl_tree_get(root, path, yajl_t_array);

    if (v) {
        m->warnings = v;
        m->nkept = YAJL_GET_ARRAY(v)->len;
    }

    m->error = exp_json_string(root, "error");
    m->node = exp_json_string(root, "node");

    p = exp_json_string(root, "referenceToken");

    m->has_ref = (p != NULL
                  && exp_uuid_parse(m->ref, (const unsigned char *) p,
                                    strlen(p)) == 0);

    return root;
}


void
exp_meta_warning(exp_meta_t *m, size_t i, exp_meta_warning_t *w)
{
    yajl_val     v;
    long long    n;

    v = YAJL_GET_ARRAY(m->warnings)->values[i];

    w->report = exp_json_string(v, "report");
    w->message = exp_json_string(v, "message");
    w->offset = exp_meta_integer(v, "offset", &n) ? (uint64_t) n : 0;
}


int
exp_name_check(const unsigned char *p, size_t len, size_t max, int dots)
{
    size_t         i;
    unsigned char  c;

    if (p == NULL || len == 0 || len > max) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        c = p[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '-' || c == '_'
              || (dots && c == '.')))
        {
            return 0;
        }
    }

    return 1;
}


/* 1 and the value when the member is true or false */

static int
exp_json_bool(yajl_val root, const char *key, int *value)
{
    yajl_val     v;
    const char  *path[2];

    path[0] = key;
    path[1] = NULL;

    v = yajl_tree_get(root, path, yajl_t_any);

    if (v == NULL || !(YAJL_IS_TRUE(v) || YAJL_IS_FALSE(v))) {
        return 0;
    }

    *value = YAJL_IS_TRUE(v) ? 1 : 0;

    return 1;
}


/* an integer member within [min, max] */

static int
exp_json_range(yajl_val root, const char *key, int64_t min, int64_t max,
    int64_t *value)
{
    long long  n;

    if (!exp_meta_integer(root, key, &n) || n < min || n > max) {
        return 0;
    }

    *value = (int64_t) n;

    return 1;
}


/* an array of n strings, each a "/" path when absolute, or "" / "x/" */

static int
exp_claim_list(yajl_val list, size_t n, int absolute)
{
    size_t       i, len;
    const char  *s;

    if (list == NULL || YAJL_GET_ARRAY(list)->len != n) {
        return 0;
    }

    for (i = 0; i < n; i++) {
        s = YAJL_GET_STRING(YAJL_GET_ARRAY(list)->values[i]);

        if (s == NULL) {
            return 0;
        }

        len = strlen(s);

        if (absolute) {
            if (len < 2 || s[0] != '/' || strstr(s, "/../") != NULL
                || (len >= 3 && strcmp(s + len - 3, "/..") == 0))
            {
                return 0;
            }

        } else if (len && (s[len - 1] != '/'
                           || !exp_name_check((const unsigned char *) s,
                                              len - 1, EXP_RUN_MAX, 0)))
        {
            return 0;
        }
    }

    return 1;
}


yajl_val
exp_claim_parse(const char *text, const char *const *styles,
    exp_claim_t *c)
{
    char          err[128];
    size_t        i;
    yajl_val      root;
    const char   *p, *path[2];

    memset(c, 0, sizeof(exp_claim_t));

    root = yajl_tree_parse(text, err, sizeof(err));
    if (root == NULL) {
        return NULL;
    }

    if (!YAJL_IS_OBJECT(root)) {
        goto bad;
    }

    p = exp_json_string(root, "runId");
    c->run = (const unsigned char *) p;
    c->run_len = p ? strlen(p) : 0;

    if (!exp_name_check(c->run, c->run_len, EXP_RUN_MAX, 0)) {
        goto bad;
    }

    p = exp_json_string(root, "taskId");

    if (p == NULL
        || exp_uuid_parse(c->id, (const unsigned char *) p, strlen(p)) != 0)
    {
        goto bad;
    }

    c->node = exp_json_string(root, "node");
    c->node_len = c->node ? strlen(c->node) : 0;

    if (!exp_name_check((const unsigned char *) c->node, c->node_len,
                        EXP_NODE_MAX, 1))
    {
        goto bad;
    }

    p = exp_json_string(root, "style");

    for (i = 0; p && styles[i]; i++) {
        if (strcmp(p, styles[i]) == 0) {
            c->style = (int) i;
            break;
        }
    }

    if (p == NULL || styles[i] == NULL) {
        goto bad;
    }

    c->serial = exp_meta_count(root, "serial");
    c->created_ms = exp_meta_count(root, "createdMs");
    c->op = exp_json_string(root, "operationURI");

    path[0] = "sources";
    path[1] = NULL;
    c->sources = yajl_tree_get(root, path, yajl_t_array);

    path[0] = "folders";
    c->folders = yajl_tree_get(root, path, yajl_t_array);

    c->nsources = c->sources ? YAJL_GET_ARRAY(c->sources)->len : 0;

    c->thread_pool = exp_json_string(root, "threadPool");
    c->symlinks_from = exp_json_string(root, "symlinksFrom");

    if (c->symlinks_from == NULL) {
        c->symlinks_from = "";
    }

    if (!exp_json_range(root, "attempt", 1, EXP_ATTEMPTS_MAX, &c->attempt)
        || !exp_json_bool(root, "keyed", &c->keyed)
        || !exp_json_bool(root, "indexed", &c->indexed)
        || !exp_json_range(root, "created", 0, INT64_MAX, &c->created)
        || c->nsources == 0 || c->nsources > EXP_SOURCES_MAX
        || !exp_claim_list(c->sources, c->nsources, 1)
        || !exp_claim_list(c->folders, c->nsources, 0)
        || c->thread_pool == NULL || c->thread_pool[0] == '\0'
        || !exp_json_range(root, "level", 0, 9, &c->level)
        || !exp_json_range(root, "ttl", 0, INT64_MAX, &c->ttl)
        || !exp_json_range(root, "maxReportSize", 0, INT64_MAX,
                           &c->max_report_size)
        || !exp_json_range(root, "maxColumns", 0, INT64_MAX,
                           &c->max_columns)
        || !exp_json_bool(root, "formulaGuard", &c->formula_guard)
        || !exp_json_bool(root, "csvBom", &c->csv_bom)
        || !exp_json_range(root, "symlinks", 0, 2, &c->symlinks))
    {
        goto bad;
    }

    return root;

bad:

    yajl_tree_free(root);

    return NULL;
}


const char *
exp_claim_item(yajl_val list, size_t i)
{
    return YAJL_GET_STRING(YAJL_GET_ARRAY(list)->values[i]);
}


yajl_val
exp_beat_parse(const char *text, exp_beat_t *b)
{
    char         err[128];
    yajl_val     root;
    const char  *p;

    memset(b, 0, sizeof(exp_beat_t));

    root = yajl_tree_parse(text, err, sizeof(err));
    if (root == NULL) {
        return NULL;
    }

    p = exp_json_string(root, "taskId");
    b->node = exp_json_string(root, "node");
    b->state = exp_json_string(root, "status");

    if (b->state == NULL) {
        b->state = "";
    }

    if (!YAJL_IS_OBJECT(root)
        || p == NULL
        || exp_uuid_parse(b->id, (const unsigned char *) p, strlen(p)) != 0
        || b->node == NULL
        || !exp_name_check((const unsigned char *) b->node,
                           strlen(b->node), EXP_NODE_MAX, 1)
        || !exp_json_range(root, "attempt", 1, EXP_ATTEMPTS_MAX,
                           &b->attempt)
        || !exp_json_range(root, "beat", 0, INT64_MAX, &b->beat)
        || !exp_json_range(root, "progress", 0, 10000, &b->progress))
    {
        yajl_tree_free(root);
        return NULL;
    }

    return root;
}
