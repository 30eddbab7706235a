
/*
 * Streaming JSON to CSV conversion of pre-check reports, see the header.
 *
 * Edge cases decided here (the product contract leaves them open):
 *
 *  - An empty nested object gives the cell "{}" under its own key; an
 *    empty row object gives a row of empty cells.
 *  - A duplicate key within one object: the later value wins.  This is
 *    done per column, so {"a":{"x":1},"a":{"y":2}} fills both a.x and a.y,
 *    and keys containing "." may meet nested keys ({"a.b":1} and
 *    {"a":{"b":1}} are both column "a.b").  An overwritten value still
 *    counts toward max_row, which keeps the row buffer bounded.
 *  - The cell size is the size of the value before the formula guard and
 *    the CSV quoting; the row size is the sum of its cell sizes.  A column
 *    name longer than max_cell is an error, and the header as a whole (the
 *    sum of the column names) is held to max_row.
 *  - If no column is known (say "[]" or "[{}]"), nothing but the BOM is
 *    written and the row count is 0.
 *  - With a single column, an empty cell is written as "" so that the
 *    record is not a blank line, which many CSV readers skip.
 *  - Members of a top-level object that are ignored because a later member
 *    holds the row array are not held to the column, cell and row limits;
 *    they still count for nesting depth and for the token limit below.
 *  - yajl buffers a whole token when it spans two chunks, so a string or
 *    number longer than 6 * max_cell + 16 bytes of JSON text (its decoded
 *    value would be over max_cell whatever its escapes) is rejected as
 *    soon as it gets that long, wherever it is in the report.
 *  - A UTF-8 byte order mark at the start of the input is skipped.
 *  - NDJSON: every line holds at most one JSON value, which must end on
 *    that line; lines with only JSON white space are skipped.  An empty
 *    NDJSON report is valid (no rows), an empty JSON report is not.
 *  - Offsets: JSON syntax errors give yajl's position; limits hit while
 *    parsing give the offset just past the token that hit them; a value
 *    cut short by the end of input gives the input size.
 */


#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_parse.h>
#include <yajl/yajl_gen.h>

#include "ngx_export_csv.h"


#if defined(__GNUC__)
#define EXC_PRINTF(f, a)  __attribute__((format(printf, f, a)))
#else
#define EXC_PRINTF(f, a)
#endif


#define EXC_OUT_SIZE        65536
#define EXC_TAB_MIN         64
#define EXC_NONE            ((size_t) -1)

/* what an open container is */
#define EXC_F_TOP_ARRAY     0   /* top-level array: elements are rows */
#define EXC_F_TOP_OBJECT    1   /* top-level object, see top_mode */
#define EXC_F_ROWS          2   /* the row array member of the top object */
#define EXC_F_ROW           3   /* a row object */
#define EXC_F_MAP           4   /* an object nested in a row */
#define EXC_F_GEN           5   /* an array cell being written as JSON */
#define EXC_F_SKIP          6   /* an ignored value */

/* what the members of the top-level object are */
#define EXC_TOP_ROW         0   /* cells of the object row */
#define EXC_TOP_SEEK        1   /* ignored until the row array */
#define EXC_TOP_AFTER       2   /* ignored, the row array is done */

/* parser events */
#define EXC_EV_NULL         0
#define EXC_EV_TRUE         1
#define EXC_EV_FALSE        2
#define EXC_EV_NUMBER       3
#define EXC_EV_STRING       4
#define EXC_EV_KEY          5
#define EXC_EV_MAP          6   /* events from here on open containers */
#define EXC_EV_ARRAY        7
#define EXC_EV_END_MAP      8
#define EXC_EV_END_ARRAY    9

#define EXC_PHASE_SCAN      0
#define EXC_PHASE_SCANNED   1
#define EXC_PHASE_EMIT      2
#define EXC_PHASE_DONE      3

/* byte classes outside strings, for the token guard */
#define EXC_C_BARE          0
#define EXC_C_SPACE         1
#define EXC_C_PUNCT         2
#define EXC_C_QUOTE         3


typedef struct {
    unsigned char   type;
    unsigned char   empty;      /* map: no key yet */
    unsigned char   root;       /* gen: the array that is the cell */
    unsigned char   value;      /* gen root: the cell is in "value" */
    unsigned char   row_end;    /* gen root: the cell is the whole row */
    size_t          plen;       /* path of this container's own key */
} exc_frame_t;


typedef struct {
    size_t          off;        /* in names */
    size_t          len;
    uint64_t        hash;
} exc_column_t;


typedef struct {
    uint64_t        row;        /* row_id when set; stale otherwise */
    size_t          off;        /* in the row buffer */
    size_t          len;
    unsigned        number;
} exc_slot_t;


struct exc_conv_s {
    exc_options_t   opt;
    exc_result_t    res;
    int             rc;

    unsigned        ndjson:1;
    unsigned        pass:2;
    unsigned        phase:2;

    yajl_handle     yajl;
    yajl_gen        gen;

    /* input position */
    uint64_t        total;      /* bytes fed, for max_report_size */
    uint64_t        pos;        /* offset of the next byte to parse */
    uint64_t        base;       /* offset of the buffer in yajl_parse() */
    uint64_t        base_end;
    unsigned        bom_held;   /* leading bytes that match a BOM */
    unsigned        bom_done:1;

    /* token guard */
    unsigned        g_str:1;
    unsigned        g_esc:1;
    unsigned        g_nonws:1;
    size_t          g_run;
    size_t          tok_limit;

    uint64_t        line;       /* NDJSON, 1-based */
    unsigned        line_values;

    /* structure */
    size_t          depth;
    exc_frame_t     fr[EXC_MAX_DEPTH + 1];
    unsigned        top_mode;
    unsigned        has_rows:1; /* pass 1 found a row array member */
    unsigned        prov:1;     /* the top object may still be a row */
    unsigned        dead:1;     /* ... but it failed a limit */
    unsigned        pending:1;
    uint64_t        pending_off;
    char            pending_reason[sizeof(((exc_result_t *) 0)->reason)];

    /* key path of the current member */
    unsigned char  *path;
    size_t          path_len;
    size_t          path_cap;

    /* column table */
    exc_column_t   *cols;
    size_t          ncols;
    size_t          cols_cap;
    unsigned char  *names;
    size_t          names_len;
    size_t          names_cap;
    size_t         *tab;        /* column index + 1, open addressing */
    size_t          tab_mask;

    /* current row */
    uint64_t        row_id;
    size_t          row_used;
    unsigned char  *row;
    size_t          row_cap;
    exc_slot_t     *slots;

    /* output */
    exc_write_pt    write;
    void           *data;
    unsigned char  *out;
    size_t          out_len;
};


static int exc_cb_null(void *ctx);
static int exc_cb_boolean(void *ctx, int b);
static int exc_cb_number(void *ctx, const char *s, size_t len);
static int exc_cb_string(void *ctx, const unsigned char *s, size_t len);
static int exc_cb_start_map(void *ctx);
static int exc_cb_map_key(void *ctx, const unsigned char *s, size_t len);
static int exc_cb_end_map(void *ctx);
static int exc_cb_start_array(void *ctx);
static int exc_cb_end_array(void *ctx);


static const yajl_callbacks  exc_callbacks = {
    exc_cb_null,
    exc_cb_boolean,
    NULL,                       /* numbers go to exc_cb_number as text */
    NULL,
    exc_cb_number,
    exc_cb_string,
    exc_cb_start_map,
    exc_cb_map_key,
    exc_cb_end_map,
    exc_cb_start_array,
    exc_cb_end_array
};


static const unsigned char  exc_bom[3] = { 0xef, 0xbb, 0xbf };


/* yajl treats \v and \f as white space too */
static const unsigned char  exc_class[256] = {
    [' '] = EXC_C_SPACE, ['\t'] = EXC_C_SPACE, ['\n'] = EXC_C_SPACE,
    ['\r'] = EXC_C_SPACE, ['\v'] = EXC_C_SPACE, ['\f'] = EXC_C_SPACE,
    ['{'] = EXC_C_PUNCT, ['}'] = EXC_C_PUNCT, ['['] = EXC_C_PUNCT,
    [']'] = EXC_C_PUNCT, [':'] = EXC_C_PUNCT, [','] = EXC_C_PUNCT,
    ['"'] = EXC_C_QUOTE
};


static const unsigned char  exc_str_stop[256] = {
    ['"'] = 1, ['\\'] = 1
};


static const unsigned char  exc_csv_special[256] = {
    [','] = 1, ['"'] = 1, ['\r'] = 1, ['\n'] = 1
};


static const unsigned char  exc_formula[256] = {
    ['='] = 1, ['+'] = 1, ['-'] = 1, ['@'] = 1, ['\t'] = 1, ['\r'] = 1
};


void
exc_options_init(exc_options_t *opt)
{
    memset(opt, 0, sizeof(exc_options_t));

    opt->max_columns = 2048;
    opt->max_depth = 64;
    opt->max_report_size = (uint64_t) 4 << 30;
    opt->max_cell = 1 << 20;
    opt->max_row = 16 << 20;
    opt->formula_guard = 1;
    opt->bom = 0;
}


static void EXC_PRINTF(4, 5)
exc_fail(exc_conv_t *c, int rc, uint64_t offset, const char *fmt, ...)
{
    va_list  args;

    if (c->rc != EXC_OK) {
        return;
    }

    c->rc = rc;
    c->res.offset = offset;

    va_start(args, fmt);
    vsnprintf(c->res.reason, sizeof(c->res.reason), fmt, args);
    va_end(args);
}


/* the input offset just past the token yajl is handing to a callback */

static uint64_t
exc_now(exc_conv_t *c)
{
    uint64_t  off;

    off = c->base + yajl_get_bytes_consumed(c->yajl);

    /* yajl_complete_parse() parses a private " " */
    return off > c->base_end ? c->base_end : off;
}


/* fails from a callback: returns 0 to cancel the parse */

static int EXC_PRINTF(2, 3)
exc_stop(exc_conv_t *c, const char *fmt, ...)
{
    va_list  args;

    if (c->rc == EXC_OK) {
        c->rc = EXC_BAD;
        c->res.offset = exc_now(c);

        va_start(args, fmt);
        vsnprintf(c->res.reason, sizeof(c->res.reason), fmt, args);
        va_end(args);
    }

    return 0;
}


static int
exc_oom(exc_conv_t *c)
{
    exc_fail(c, EXC_ERROR, 0, "out of memory");
    return 0;
}


/*
 * A limit hit while building a row.  Members of a top-level object may
 * yet turn out to be ignored (a later member holds the row array), so
 * there the first problem is only remembered and the row is given up;
 * it is reported if the object ends without a row array.  Returns 1 to
 * go on parsing, 0 to cancel.
 */

static int EXC_PRINTF(2, 3)
exc_row_fail(exc_conv_t *c, const char *fmt, ...)
{
    va_list  args;
    char    *reason;

    if (!c->prov) {
        if (c->rc != EXC_OK) {
            return 0;
        }

        c->rc = EXC_BAD;
        c->res.offset = exc_now(c);
        reason = c->res.reason;

    } else if (!c->pending) {
        c->pending = 1;
        c->pending_off = exc_now(c);
        reason = c->pending_reason;

    } else {
        reason = NULL;
    }

    if (reason) {
        va_start(args, fmt);
        vsnprintf(reason, sizeof(c->res.reason), fmt, args);
        va_end(args);
    }

    if (!c->prov) {
        return 0;
    }

    c->dead = 1;
    c->top_mode = EXC_TOP_SEEK;

    return 1;
}


/* grows a buffer to at least need bytes, doubling */

static int
exc_reserve(void **buf, size_t *cap, size_t need, size_t size, size_t min)
{
    size_t  n;
    void   *p;

    if (need <= *cap) {
        return 0;
    }

    n = *cap ? *cap : min;

    while (n < need) {
        if (n > ((size_t) -1 / size) / 2) {
            n = need;
            break;
        }

        n *= 2;
    }

    if (n > (size_t) -1 / size) {
        return -1;
    }

    p = realloc(*buf, n * size);
    if (p == NULL) {
        return -1;
    }

    *buf = p;
    *cap = n;

    return 0;
}


static uint64_t
exc_hash(const unsigned char *p, size_t len)
{
    uint64_t  h, w;

    h = 0x9e3779b97f4a7c15ULL ^ (len * 0xff51afd7ed558ccdULL);

    while (len >= 8) {
        memcpy(&w, p, 8);
        h = (h ^ w) * 0x100000001b3ULL;
        h ^= h >> 29;
        p += 8;
        len -= 8;
    }

    w = 0;

    if (len) {
        memcpy(&w, p, len);
    }
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 32;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 29;

    return h;
}


static int
exc_tab_grow(exc_conv_t *c)
{
    size_t   i, j, n, *tab;

    n = (c->tab_mask + 1) * 2;

    tab = calloc(n, sizeof(size_t));
    if (tab == NULL) {
        return -1;
    }

    for (i = 0; i < c->ncols; i++) {
        j = c->cols[i].hash & (n - 1);

        while (tab[j]) {
            j = (j + 1) & (n - 1);
        }

        tab[j] = i + 1;
    }

    free(c->tab);
    c->tab = tab;
    c->tab_mask = n - 1;

    return 0;
}


/*
 * Finds the column of a name, adding it in pass 1.  Returns EXC_NONE on
 * failure, which is then recorded (hard or deferred, see exc_row_fail()).
 */

static size_t
exc_column(exc_conv_t *c, const unsigned char *name, size_t len)
{
    size_t         i, k;
    uint64_t       h;
    exc_column_t  *col;

    h = exc_hash(name, len);
    i = h & c->tab_mask;

    while (c->tab[i]) {
        k = c->tab[i] - 1;
        col = &c->cols[k];

        if (col->hash == h && col->len == len
            && memcmp(c->names + col->off, name, len) == 0)
        {
            return k;
        }

        i = (i + 1) & c->tab_mask;
    }

    if (c->pass != 1) {
        exc_stop(c, "report changed between passes (new column)");
        return EXC_NONE;
    }

    if (c->ncols >= c->opt.max_columns) {
        exc_row_fail(c, "too many columns (limit %zu)", c->opt.max_columns);
        return EXC_NONE;
    }

    if (len > c->opt.max_row - c->names_len) {
        exc_row_fail(c, "header too large (limit %zu bytes, max_row)",
                     c->opt.max_row);
        return EXC_NONE;
    }

    if (exc_reserve((void **) &c->cols, &c->cols_cap, c->ncols + 1,
                    sizeof(exc_column_t), 64)
        != 0
        || exc_reserve((void **) &c->names, &c->names_cap,
                       c->names_len + len + 1, 1, 4096)
           != 0)
    {
        exc_oom(c);
        return EXC_NONE;
    }

    k = c->ncols++;
    col = &c->cols[k];
    col->off = c->names_len;
    col->len = len;
    col->hash = h;

    if (len) {
        memcpy(c->names + c->names_len, name, len);
    }

    c->names_len += len;
    c->tab[i] = k + 1;
    c->res.columns = c->ncols;

    /* keep the table at most half full */
    if (c->ncols * 2 > c->tab_mask + 1 && exc_tab_grow(c) != 0) {
        exc_oom(c);
        return EXC_NONE;
    }

    return k;
}


/* stores one cell of the current row; returns 0 to cancel the parse */

static int
exc_cell(exc_conv_t *c, const unsigned char *name, size_t nlen,
    const unsigned char *p, size_t len, unsigned number)
{
    size_t       k;
    exc_slot_t  *slot;

    if (c->dead) {
        return 1;
    }

    if (len > c->opt.max_cell) {
        return exc_row_fail(c, "cell too large (limit %zu bytes)",
                            c->opt.max_cell);
    }

    if (len > c->opt.max_row - c->row_used) {
        return exc_row_fail(c, "row too large (limit %zu bytes)",
                            c->opt.max_row);
    }

    k = exc_column(c, name, nlen);
    if (k == EXC_NONE) {
        return c->rc == EXC_OK;
    }

    if (c->pass == 2) {
        if (exc_reserve((void **) &c->row, &c->row_cap, c->row_used + len,
                        1, 4096)
            != 0)
        {
            return exc_oom(c);
        }

        if (len) {
            memcpy(c->row + c->row_used, p, len);
        }

        slot = &c->slots[k];
        slot->row = c->row_id;
        slot->off = c->row_used;
        slot->len = len;
        slot->number = number;
    }

    c->row_used += len;

    return 1;
}


static int
exc_scalar_cell(exc_conv_t *c, const unsigned char *name, size_t nlen,
    int ev, const unsigned char *s, size_t len)
{
    switch (ev) {

    case EXC_EV_NULL:
        return exc_cell(c, name, nlen, (const unsigned char *) "", 0, 0);

    case EXC_EV_TRUE:
        return exc_cell(c, name, nlen, (const unsigned char *) "true", 4, 0);

    case EXC_EV_FALSE:
        return exc_cell(c, name, nlen, (const unsigned char *) "false", 5,
                        0);

    case EXC_EV_NUMBER:
        return exc_cell(c, name, nlen, s, len, 1);

    default: /* EXC_EV_STRING */
        return exc_cell(c, name, nlen, s, len, 0);
    }
}


/* sets the key path of the next member of a row or nested object */

static int
exc_key(exc_conv_t *c, exc_frame_t *f, int root, const unsigned char *key,
    size_t len)
{
    size_t  base;

    if (c->dead) {
        return 1;
    }

    f->empty = 0;
    base = root ? 0 : f->plen + 1;

    if (len > c->opt.max_cell || base + len > c->opt.max_cell) {
        return exc_row_fail(c, "column name too long (limit %zu bytes)",
                            c->opt.max_cell);
    }

    if (exc_reserve((void **) &c->path, &c->path_cap, base + len + 1, 1,
                    256)
        != 0)
    {
        return exc_oom(c);
    }

    if (!root) {
        c->path[f->plen] = '.';
    }

    if (len) {
        memcpy(c->path + base, key, len);
    }

    c->path_len = base + len;

    return 1;
}


/* feeds one event to the JSON generator of an array cell */

static int
exc_gen(exc_conv_t *c, int ev, const unsigned char *s, size_t len)
{
    size_t                blen;
    yajl_gen_status       st;
    const unsigned char  *buf;

    if (c->dead) {
        return 1;
    }

    switch (ev) {

    case EXC_EV_NULL:
        st = yajl_gen_null(c->gen);
        break;

    case EXC_EV_TRUE:
    case EXC_EV_FALSE:
        st = yajl_gen_bool(c->gen, ev == EXC_EV_TRUE);
        break;

    case EXC_EV_NUMBER:
        st = yajl_gen_number(c->gen, (const char *) s, len);
        break;

    case EXC_EV_MAP:
        st = yajl_gen_map_open(c->gen);
        break;

    case EXC_EV_ARRAY:
        st = yajl_gen_array_open(c->gen);
        break;

    case EXC_EV_END_MAP:
        st = yajl_gen_map_close(c->gen);
        break;

    case EXC_EV_END_ARRAY:
        st = yajl_gen_array_close(c->gen);
        break;

    default: /* EXC_EV_STRING, EXC_EV_KEY */
        st = yajl_gen_string(c->gen, s, len);
        break;
    }

    if (st != yajl_gen_status_ok) {
        /* cannot happen with the depth cap; means a bug */
        exc_fail(c, EXC_ERROR, exc_now(c), "JSON generator error %d",
                 (int) st);
        return 0;
    }

    yajl_gen_get_buf(c->gen, &buf, &blen);

    /* check as it grows, so the generator buffer stays bounded */

    if (blen > c->opt.max_cell) {
        return exc_row_fail(c, "cell too large (limit %zu bytes)",
                            c->opt.max_cell);
    }

    if (blen > c->opt.max_row - c->row_used) {
        return exc_row_fail(c, "row too large (limit %zu bytes)",
                            c->opt.max_row);
    }

    return 1;
}


static exc_frame_t *
exc_push(exc_conv_t *c, unsigned type)
{
    exc_frame_t  *f;

    f = &c->fr[++c->depth];

    f->type = (unsigned char) type;
    f->empty = 1;
    f->root = 0;
    f->value = 0;
    f->row_end = 0;
    f->plen = c->path_len;

    return f;
}


/* an array cell: its JSON text is built until the array closes */

static int
exc_gen_start(exc_conv_t *c, int value)
{
    exc_frame_t  *f;

    f = exc_push(c, EXC_F_GEN);
    f->root = 1;
    f->value = (unsigned char) value;
    f->row_end = (unsigned char) value;

    yajl_gen_reset(c->gen, NULL);
    yajl_gen_clear(c->gen);

    return exc_gen(c, EXC_EV_ARRAY, NULL, 0);
}


static void
exc_row_begin(exc_conv_t *c)
{
    c->row_id++;
    c->row_used = 0;
}


static int exc_out_row(exc_conv_t *c);


static int
exc_row_end(exc_conv_t *c)
{
    if (c->pass == 1) {
        c->res.rows++;
        return 1;
    }

    /* no column, no record: see the notes at the top */
    if (c->ncols == 0) {
        return 1;
    }

    if (exc_out_row(c) != EXC_OK) {
        return 0;
    }

    c->res.rows++;

    return 1;
}


/* a row: an element of the row array, an NDJSON line, a top scalar */

static int
exc_element(exc_conv_t *c, int ev, const unsigned char *s, size_t len)
{
    exc_row_begin(c);

    switch (ev) {

    case EXC_EV_MAP:
        exc_push(c, EXC_F_ROW);
        return 1;

    case EXC_EV_ARRAY:
        return exc_gen_start(c, 1);

    default:
        if (!exc_scalar_cell(c, (const unsigned char *) "value", 5, ev, s,
                             len))
        {
            return 0;
        }

        return exc_row_end(c);
    }
}


/* a member value inside a row, named by the current key path */

static int
exc_member(exc_conv_t *c, int ev, const unsigned char *s, size_t len)
{
    switch (ev) {

    case EXC_EV_MAP:
        exc_push(c, EXC_F_MAP);
        return 1;

    case EXC_EV_ARRAY:
        return exc_gen_start(c, 0);

    default:
        return exc_scalar_cell(c, c->path, c->path_len, ev, s, len);
    }
}


static int
exc_top_object(exc_conv_t *c)
{
    exc_push(c, EXC_F_TOP_OBJECT);

    if (c->pass == 2 && c->has_rows) {
        c->top_mode = EXC_TOP_SEEK;
        return 1;
    }

    /* in pass 1 the object is a row until a member holds an array */
    c->top_mode = EXC_TOP_ROW;
    c->prov = (c->pass == 1);
    exc_row_begin(c);

    return 1;
}


/* the first array member of the top-level object: it holds the rows */

static int
exc_rows(exc_conv_t *c)
{
    if (c->pass == 1) {
        /* forget the columns of the members before it */
        c->ncols = 0;
        c->names_len = 0;
        c->res.columns = 0;
        memset(c->tab, 0, (c->tab_mask + 1) * sizeof(size_t));

        c->has_rows = 1;
        c->prov = 0;
        c->dead = 0;
        c->pending = 0;

    } else if (!c->has_rows) {
        return exc_stop(c, "report changed between passes (row array)");
    }

    exc_push(c, EXC_F_ROWS);
    c->top_mode = EXC_TOP_AFTER;

    return 1;
}


static int
exc_top_end(exc_conv_t *c)
{
    if (c->pending) {
        exc_fail(c, EXC_BAD, c->pending_off, "%s", c->pending_reason);
        return 0;
    }

    if (c->top_mode != EXC_TOP_ROW) {
        return 1;
    }

    c->prov = 0;

    return exc_row_end(c);
}


/* a value starts: a scalar or an opening container */

static int
exc_value(exc_conv_t *c, int ev, const unsigned char *s, size_t len)
{
    exc_frame_t  *f;

    if (ev >= EXC_EV_MAP && c->depth >= c->opt.max_depth) {
        return exc_stop(c, "nesting too deep (limit %zu)",
                        c->opt.max_depth);
    }

    if (c->depth == 0) {

        if (c->ndjson) {
            if (++c->line_values > 1) {
                return exc_stop(c, "invalid JSON on line %llu: more than "
                                "one value on a line",
                                (unsigned long long) c->line);
            }

            return exc_element(c, ev, s, len);
        }

        if (ev == EXC_EV_ARRAY) {
            exc_push(c, EXC_F_TOP_ARRAY);
            return 1;
        }

        if (ev == EXC_EV_MAP) {
            return exc_top_object(c);
        }

        return exc_element(c, ev, s, len);
    }

    f = &c->fr[c->depth];

    switch (f->type) {

    case EXC_F_TOP_ARRAY:
    case EXC_F_ROWS:
        return exc_element(c, ev, s, len);

    case EXC_F_ROW:
    case EXC_F_MAP:
        return exc_member(c, ev, s, len);

    case EXC_F_GEN:
        if (ev >= EXC_EV_MAP) {
            exc_push(c, EXC_F_GEN);
        }

        return exc_gen(c, ev, s, len);

    case EXC_F_TOP_OBJECT:
        if (ev == EXC_EV_ARRAY && c->top_mode != EXC_TOP_AFTER) {
            return exc_rows(c);
        }

        if (c->top_mode == EXC_TOP_ROW) {
            return exc_member(c, ev, s, len);
        }

        break;

    default: /* EXC_F_SKIP */
        break;
    }

    if (ev >= EXC_EV_MAP) {
        exc_push(c, EXC_F_SKIP);
    }

    return 1;
}


static int
exc_cb_null(void *ctx)
{
    return exc_value(ctx, EXC_EV_NULL, NULL, 0);
}


static int
exc_cb_boolean(void *ctx, int b)
{
    return exc_value(ctx, b ? EXC_EV_TRUE : EXC_EV_FALSE, NULL, 0);
}


static int
exc_cb_number(void *ctx, const char *s, size_t len)
{
    return exc_value(ctx, EXC_EV_NUMBER, (const unsigned char *) s, len);
}


static int
exc_cb_string(void *ctx, const unsigned char *s, size_t len)
{
    return exc_value(ctx, EXC_EV_STRING, s, len);
}


static int
exc_cb_start_map(void *ctx)
{
    return exc_value(ctx, EXC_EV_MAP, NULL, 0);
}


static int
exc_cb_start_array(void *ctx)
{
    return exc_value(ctx, EXC_EV_ARRAY, NULL, 0);
}


static int
exc_cb_map_key(void *ctx, const unsigned char *s, size_t len)
{
    exc_conv_t   *c = ctx;
    exc_frame_t  *f;

    f = &c->fr[c->depth];

    switch (f->type) {

    case EXC_F_GEN:
        return exc_gen(c, EXC_EV_KEY, s, len);

    case EXC_F_ROW:
        return exc_key(c, f, 1, s, len);

    case EXC_F_MAP:
        return exc_key(c, f, 0, s, len);

    case EXC_F_TOP_OBJECT:
        if (c->top_mode == EXC_TOP_ROW) {
            return exc_key(c, f, 1, s, len);
        }

        return 1;

    default:
        return 1;
    }
}


static int
exc_cb_end_map(void *ctx)
{
    exc_conv_t   *c = ctx;
    exc_frame_t  *f;

    f = &c->fr[c->depth--];

    switch (f->type) {

    case EXC_F_GEN:
        return exc_gen(c, EXC_EV_END_MAP, NULL, 0);

    case EXC_F_MAP:
        /* an empty nested object is a "{}" cell under its key */
        if (f->empty) {
            return exc_cell(c, c->path, f->plen,
                            (const unsigned char *) "{}", 2, 0);
        }

        return 1;

    case EXC_F_ROW:
        return exc_row_end(c);

    case EXC_F_TOP_OBJECT:
        return exc_top_end(c);

    default:
        return 1;
    }
}


static int
exc_cb_end_array(void *ctx)
{
    size_t                blen;
    exc_conv_t           *c = ctx;
    exc_frame_t          *f;
    const unsigned char  *buf;

    f = &c->fr[c->depth--];

    if (f->type != EXC_F_GEN) {
        /* the row array is over: further members are ignored */
        return 1;
    }

    if (!exc_gen(c, EXC_EV_END_ARRAY, NULL, 0)) {
        return 0;
    }

    if (!f->root || c->dead) {
        return 1;
    }

    yajl_gen_get_buf(c->gen, &buf, &blen);

    if (f->value) {
        if (!exc_cell(c, (const unsigned char *) "value", 5, buf, blen, 0)) {
            return 0;
        }

    } else if (!exc_cell(c, c->path, f->plen, buf, blen, 0)) {
        return 0;
    }

    return f->row_end ? exc_row_end(c) : 1;
}


/* output */

static int
exc_flush(exc_conv_t *c)
{
    if (c->out_len == 0) {
        return EXC_OK;
    }

    if (c->write(c->data, c->out, c->out_len) != 0) {
        exc_fail(c, EXC_ERROR, c->pos, "write failed");
        return EXC_ERROR;
    }

    c->out_len = 0;

    return EXC_OK;
}


static int
exc_out(exc_conv_t *c, const unsigned char *p, size_t n)
{
    size_t  k;

    if (n <= EXC_OUT_SIZE - c->out_len) {
        memcpy(c->out + c->out_len, p, n);
        c->out_len += n;
        return EXC_OK;
    }

    while (n) {
        if (c->out_len == EXC_OUT_SIZE && exc_flush(c) != EXC_OK) {
            return EXC_ERROR;
        }

        k = EXC_OUT_SIZE - c->out_len;
        if (k > n) {
            k = n;
        }

        memcpy(c->out + c->out_len, p, k);
        c->out_len += k;
        p += k;
        n -= k;
    }

    return EXC_OK;
}


static int
exc_out_byte(exc_conv_t *c, unsigned char ch)
{
    if (c->out_len == EXC_OUT_SIZE && exc_flush(c) != EXC_OK) {
        return EXC_ERROR;
    }

    c->out[c->out_len++] = ch;

    return EXC_OK;
}


/* writes one field: formula guard first, then RFC 4180 quoting */

static int
exc_out_cell(exc_conv_t *c, const unsigned char *p, size_t len,
    unsigned number)
{
    size_t                i;
    unsigned              guard, quote;
    const unsigned char  *q, *end;

    if (len == 0) {
        if (c->ncols == 1) {
            return exc_out(c, (const unsigned char *) "\"\"", 2);
        }

        return EXC_OK;
    }

    /* numbers keep their sign: -5 is data, not a formula */
    guard = c->opt.formula_guard && !number && exc_formula[p[0]];

    quote = (p[0] == ' ' && !guard) || p[len - 1] == ' ';

    for (i = 0; !quote && i < len; i++) {
        quote = exc_csv_special[p[i]];
    }

    if (!quote && !guard) {
        return exc_out(c, p, len);
    }

    if (quote && exc_out_byte(c, '"') != EXC_OK) {
        return EXC_ERROR;
    }

    if (guard && exc_out_byte(c, '\'') != EXC_OK) {
        return EXC_ERROR;
    }

    if (!quote) {
        return exc_out(c, p, len);
    }

    end = p + len;

    while (p < end) {
        q = memchr(p, '"', (size_t) (end - p));
        if (q == NULL) {
            q = end;

        } else {
            q++;
        }

        if (exc_out(c, p, (size_t) (q - p)) != EXC_OK) {
            return EXC_ERROR;
        }

        /* a quote inside a quoted field is doubled */
        if (q[-1] == '"' && exc_out_byte(c, '"') != EXC_OK) {
            return EXC_ERROR;
        }

        p = q;
    }

    return exc_out_byte(c, '"');
}


static int
exc_out_row(exc_conv_t *c)
{
    size_t       i;
    exc_slot_t  *s;

    for (i = 0; i < c->ncols; i++) {
        if (i && exc_out_byte(c, ',') != EXC_OK) {
            return EXC_ERROR;
        }

        s = &c->slots[i];

        if (s->row != c->row_id) {
            if (exc_out_cell(c, NULL, 0, 0) != EXC_OK) {
                return EXC_ERROR;
            }

            continue;
        }

        if (exc_out_cell(c, c->row + s->off, s->len, s->number) != EXC_OK) {
            return EXC_ERROR;
        }
    }

    return exc_out(c, (const unsigned char *) "\r\n", 2);
}


static int
exc_out_header(exc_conv_t *c)
{
    size_t         i;
    exc_column_t  *col;

    for (i = 0; i < c->ncols; i++) {
        if (i && exc_out_byte(c, ',') != EXC_OK) {
            return EXC_ERROR;
        }

        col = &c->cols[i];

        if (exc_out_cell(c, c->names + col->off, col->len, 0) != EXC_OK) {
            return EXC_ERROR;
        }
    }

    return exc_out(c, (const unsigned char *) "\r\n", 2);
}


/* input */

static void
exc_yajl_error(exc_conv_t *c, uint64_t offset)
{
    size_t          n;
    unsigned char  *err;

    err = yajl_get_error(c->yajl, 0, NULL, 0);
    if (err == NULL) {
        exc_fail(c, EXC_BAD, offset, "invalid JSON");
        return;
    }

    n = strlen((char *) err);
    while (n && (err[n - 1] == '\n' || err[n - 1] == ' ')) {
        n--;
    }

    if (c->ndjson) {
        exc_fail(c, EXC_BAD, offset, "invalid JSON on line %llu: %.*s",
                 (unsigned long long) c->line, (int) n, (char *) err);

    } else {
        exc_fail(c, EXC_BAD, offset, "invalid JSON: %.*s", (int) n,
                 (char *) err);
    }

    yajl_free_error(c->yajl, err);
}


static int
exc_parse(exc_conv_t *c, const unsigned char *buf, size_t len)
{
    yajl_status  st;

    c->base = c->pos;
    c->base_end = c->pos + len;

    st = yajl_parse(c->yajl, buf, len);

    if (st == yajl_status_ok) {
        c->pos += len;
        return EXC_OK;
    }

    if (st == yajl_status_error) {
        exc_yajl_error(c, c->base + yajl_get_bytes_consumed(c->yajl));
    }

    /* yajl_status_client_canceled: the callback has set rc */
    return c->rc;
}


/* NDJSON: a line is over, its value must be complete */

static int
exc_line_end(exc_conv_t *c)
{
    if (c->depth) {
        exc_fail(c, EXC_BAD, c->pos - 1, "invalid JSON on line %llu: value "
                 "not complete at the end of the line",
                 (unsigned long long) c->line);
        return c->rc;
    }

    c->line++;
    c->line_values = 0;

    return EXC_OK;
}


/*
 * The token guard follows strings and bare tokens (numbers, literals)
 * over the input to stop any token longer than tok_limit before yajl
 * buffers it.  Returns how many bytes are fine.
 */

static size_t
exc_guard(exc_conv_t *c, const unsigned char *buf, size_t len)
{
    size_t                run, lim;
    const unsigned char  *p, *end, *start;

    p = buf;
    end = buf + len;
    run = c->g_run;
    lim = c->tok_limit;

    while (p < end) {

        if (c->g_str) {

            if (c->g_esc) {
                if (++run > lim) {
                    goto over;
                }

                c->g_esc = 0;
                p++;
                continue;
            }

            start = p;

            while (p < end && !exc_str_stop[*p]) {
                p++;
            }

            if ((size_t) (p - start) > lim - run) {
                p = start + (lim - run);
                goto over;
            }

            run += (size_t) (p - start);

            if (p == end) {
                break;
            }

            if (++run > lim) {
                goto over;
            }

            if (*p == '\\') {
                c->g_esc = 1;

            } else {
                c->g_str = 0;
                run = 0;
            }

            p++;
            continue;
        }

        switch (exc_class[*p]) {

        case EXC_C_BARE:
            c->g_nonws = 1;

            if (++run > lim) {
                goto over;
            }

            break;

        case EXC_C_SPACE:
            run = 0;
            break;

        case EXC_C_PUNCT:
            c->g_nonws = 1;
            run = 0;
            break;

        default: /* EXC_C_QUOTE */
            c->g_nonws = 1;
            c->g_str = 1;
            run = 1;
            break;
        }

        p++;
    }

    c->g_run = run;

    return len;

over:

    c->g_run = run;

    return (size_t) (p - buf);
}


static int
exc_feed_data(exc_conv_t *c, const unsigned char *buf, size_t len)
{
    size_t                n, seg;
    const unsigned char  *nl;

    n = exc_guard(c, buf, len);

    if (!c->ndjson) {
        if (n && exc_parse(c, buf, n) != EXC_OK) {
            return c->rc;
        }

    } else {
        while (n) {
            nl = memchr(buf, '\n', n);
            seg = nl ? (size_t) (nl - buf) + 1 : n;

            if (exc_parse(c, buf, seg) != EXC_OK) {
                return c->rc;
            }

            if (nl && exc_line_end(c) != EXC_OK) {
                return c->rc;
            }

            buf += seg;
            len -= seg;
            n -= seg;
        }
    }

    if (n < len) {
        exc_fail(c, EXC_BAD, c->pos, "string or number too long (over %zu "
                 "bytes of JSON text, max_cell %zu bytes)", c->tok_limit,
                 c->opt.max_cell);
    }

    return c->rc;
}


static int
exc_feed_bom(exc_conv_t *c, const unsigned char *buf, size_t len)
{
    unsigned  held;

    if (!c->bom_done) {

        while (len && c->bom_held < 3 && buf[0] == exc_bom[c->bom_held]) {
            c->bom_held++;
            buf++;
            len--;
        }

        if (c->bom_held == 3) {
            c->bom_done = 1;
            c->pos = 3;

        } else if (len == 0) {
            /* may still be a BOM */
            return EXC_OK;

        } else {
            c->bom_done = 1;
            held = c->bom_held;

            if (held && exc_feed_data(c, exc_bom, held) != EXC_OK) {
                return c->rc;
            }
        }
    }

    if (len == 0) {
        return EXC_OK;
    }

    return exc_feed_data(c, buf, len);
}


static int
exc_feed(exc_conv_t *c, const unsigned char *buf, size_t len)
{
    int       over;
    uint64_t  max;

    if (c->rc != EXC_OK) {
        return c->rc;
    }

    over = 0;
    max = c->opt.max_report_size;

    if (max && len > max - c->total) {
        len = (size_t) (max - c->total);
        over = 1;
    }

    c->total += len;

    if (len && exc_feed_bom(c, buf, len) != EXC_OK) {
        return c->rc;
    }

    if (over) {
        exc_fail(c, EXC_BAD, max, "report too large (limit %llu bytes)",
                 (unsigned long long) max);
    }

    return c->rc;
}


static int
exc_finish(exc_conv_t *c)
{
    yajl_status  st;

    if (c->rc != EXC_OK) {
        return c->rc;
    }

    if (!c->bom_done) {
        c->bom_done = 1;

        if (c->bom_held
            && exc_feed_data(c, exc_bom, c->bom_held) != EXC_OK)
        {
            return c->rc;
        }
    }

    if (!c->g_nonws) {
        if (!c->ndjson) {
            exc_fail(c, EXC_BAD, 0, "empty report");
        }

        return c->rc;
    }

    c->base = c->pos;
    c->base_end = c->pos;

    st = yajl_complete_parse(c->yajl);

    if (st == yajl_status_error) {
        exc_yajl_error(c, c->pos);
    }

    return c->rc;
}


static int
exc_parser_open(exc_conv_t *c)
{
    if (c->yajl) {
        yajl_free(c->yajl);
    }

    c->yajl = yajl_alloc(&exc_callbacks, NULL, c);
    if (c->yajl == NULL) {
        return -1;
    }

    /* one value per line is checked in exc_value() and exc_line_end() */
    if (c->ndjson) {
        yajl_config(c->yajl, yajl_allow_multiple_values, 1);
    }

    c->total = 0;
    c->pos = 0;
    c->base = 0;
    c->base_end = 0;
    c->bom_held = 0;
    c->bom_done = 0;
    c->g_str = 0;
    c->g_esc = 0;
    c->g_nonws = 0;
    c->g_run = 0;
    c->line = 1;
    c->line_values = 0;
    c->depth = 0;
    c->top_mode = EXC_TOP_ROW;
    c->prov = 0;
    c->dead = 0;
    c->pending = 0;
    c->path_len = 0;
    c->row_used = 0;

    return 0;
}


exc_conv_t *
exc_create(const exc_options_t *opt, int ndjson)
{
    exc_conv_t  *c;

    c = calloc(1, sizeof(exc_conv_t));
    if (c == NULL) {
        return NULL;
    }

    if (opt) {
        c->opt = *opt;

    } else {
        exc_options_init(&c->opt);
    }

    if (c->opt.max_depth > EXC_MAX_DEPTH) {
        c->opt.max_depth = EXC_MAX_DEPTH;
    }

    /* a decoded value of max_cell bytes takes at most 6 bytes a byte */
    if (c->opt.max_cell > ((size_t) -1 - 16) / 6) {
        c->tok_limit = (size_t) -1;

    } else {
        c->tok_limit = c->opt.max_cell * 6 + 16;
    }

    c->ndjson = ndjson ? 1 : 0;
    c->pass = 1;
    c->phase = EXC_PHASE_SCAN;

    c->tab = calloc(EXC_TAB_MIN, sizeof(size_t));
    c->tab_mask = EXC_TAB_MIN - 1;
    c->gen = yajl_gen_alloc(NULL);

    if (c->tab == NULL || c->gen == NULL || exc_parser_open(c) != 0) {
        exc_destroy(c);
        return NULL;
    }

    return c;
}


void
exc_destroy(exc_conv_t *c)
{
    if (c == NULL) {
        return;
    }

    if (c->yajl) {
        yajl_free(c->yajl);
    }

    if (c->gen) {
        yajl_gen_free(c->gen);
    }

    free(c->path);
    free(c->cols);
    free(c->names);
    free(c->tab);
    free(c->row);
    free(c->slots);
    free(c->out);
    free(c);
}


const exc_result_t *
exc_result(const exc_conv_t *c)
{
    return &c->res;
}


int
exc_scan(exc_conv_t *c, const unsigned char *buf, size_t len)
{
    if (c->rc == EXC_OK && c->phase != EXC_PHASE_SCAN) {
        exc_fail(c, EXC_ERROR, 0, "exc_scan() called after exc_scan_end()");
    }

    return exc_feed(c, buf, len);
}


int
exc_scan_end(exc_conv_t *c)
{
    if (c->rc == EXC_OK && c->phase != EXC_PHASE_SCAN) {
        exc_fail(c, EXC_ERROR, 0, "exc_scan_end() called twice");
    }

    if (exc_finish(c) != EXC_OK) {
        return c->rc;
    }

    c->phase = EXC_PHASE_SCANNED;
    c->res.columns = c->ncols;

    if (c->ncols == 0) {
        c->res.rows = 0;
    }

    return EXC_OK;
}


int
exc_emit_begin(exc_conv_t *c, exc_write_pt write, void *data)
{
    if (c->rc != EXC_OK) {
        return c->rc;
    }

    if (c->phase != EXC_PHASE_SCANNED || write == NULL) {
        exc_fail(c, EXC_ERROR, 0, "exc_emit_begin() out of order");
        return c->rc;
    }

    c->write = write;
    c->data = data;

    c->out = malloc(EXC_OUT_SIZE);
    c->slots = calloc(c->ncols ? c->ncols : 1, sizeof(exc_slot_t));

    if (c->out == NULL || c->slots == NULL
        || exc_reserve((void **) &c->row, &c->row_cap, 1, 1, 4096) != 0
        || exc_parser_open(c) != 0)
    {
        exc_oom(c);
        return c->rc;
    }

    c->pass = 2;
    c->phase = EXC_PHASE_EMIT;
    c->res.rows = 0;
    c->row_id = 0;

    if (c->opt.bom && exc_out(c, exc_bom, 3) != EXC_OK) {
        return c->rc;
    }

    if (c->ncols && exc_out_header(c) != EXC_OK) {
        return c->rc;
    }

    return EXC_OK;
}


int
exc_emit(exc_conv_t *c, const unsigned char *buf, size_t len)
{
    if (c->rc == EXC_OK && c->phase != EXC_PHASE_EMIT) {
        exc_fail(c, EXC_ERROR, 0, "exc_emit() out of order");
    }

    return exc_feed(c, buf, len);
}


int
exc_emit_end(exc_conv_t *c)
{
    if (c->rc == EXC_OK && c->phase != EXC_PHASE_EMIT) {
        exc_fail(c, EXC_ERROR, 0, "exc_emit_end() out of order");
    }

    if (exc_finish(c) != EXC_OK) {
        return c->rc;
    }

    if (exc_flush(c) != EXC_OK) {
        return c->rc;
    }

    c->phase = EXC_PHASE_DONE;

    return EXC_OK;
}


int
exc_convert_buffer(const exc_options_t *opt, int ndjson,
    const unsigned char *buf, size_t len, exc_write_pt write, void *data,
    exc_result_t *res)
{
    int          rc;
    exc_conv_t  *c;

    c = exc_create(opt, ndjson);

    if (c == NULL) {
        if (res) {
            memset(res, 0, sizeof(exc_result_t));
            snprintf(res->reason, sizeof(res->reason), "out of memory");
        }

        return EXC_ERROR;
    }

    rc = exc_scan(c, buf, len);

    if (rc == EXC_OK) {
        rc = exc_scan_end(c);
    }

    if (rc == EXC_OK) {
        rc = exc_emit_begin(c, write, data);
    }

    if (rc == EXC_OK) {
        rc = exc_emit(c, buf, len);
    }

    if (rc == EXC_OK) {
        rc = exc_emit_end(c);
    }

    if (res) {
        *res = c->res;
    }

    exc_destroy(c);

    return rc;
}
