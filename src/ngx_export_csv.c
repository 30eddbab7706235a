
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
 *  - yajl only ever gets the input cut between two tokens (the cut token
 *    waits in a buffer of ours, see exc_feed_data()), so more than
 *    6 * max_cell + 16 bytes of JSON text without a break between tokens
 *    is rejected as soon as it gets that long, wherever it is in the
 *    report: a string or number that long would be over max_cell however
 *    many escapes it has.
 *  - UTF-8 is checked strictly (RFC 3629, src/ngx_export_utf8.c) on the
 *    raw input before yajl sees it: overlong forms, surrogates and code
 *    points over U+10FFFF make the report invalid JSON, at the offset of
 *    the first byte that cannot be part of valid UTF-8 (yajl only checks
 *    the form of the sequences).  A string whose \u escapes decode to a
 *    lone low surrogate is invalid too, at the offset just past it (a
 *    lone high one becomes "?", as yajl does it).
 *  - A UTF-8 byte order mark at the start of the input is skipped.
 *  - NDJSON: every line holds at most one JSON value, which must end on
 *    that line; lines with only JSON white space are skipped.  An empty
 *    NDJSON report is valid (no rows), an empty JSON report is not.
 *  - Offsets: JSON syntax errors give yajl's position (mostly just past
 *    the bad byte or token); limits hit while parsing give the offset just
 *    past the token that hit them; the token limit and the report size
 *    give the first byte over the limit; a value cut short by the end of
 *    the input gives the input size.
 *  - max_depth is capped at EXC_MAX_DEPTH (127), where yajl_gen stops.
 */


#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <yajl/yajl_parse.h>
#include <yajl/yajl_gen.h>

#include "ngx_export_csv.h"
#include "ngx_export_utf8.h"


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

/* byte classes outside strings, for the token guard; 0: in a token */
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

    exu_state_t     utf8;

    /* token guard */
    unsigned        g_str:1;
    unsigned        g_esc:1;
    size_t          g_run;
    size_t          tok_limit;
    uint64_t        in_pos;     /* offset of the next byte to the guard */

    /* a token cut by the end of a chunk, see exc_feed_data() */
    unsigned char  *carry;
    size_t          carry_len;
    size_t          carry_cap;

    uint64_t        values;     /* top-level values (NDJSON: lines) */
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
    size_t          pred;       /* the column likely to come next */

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


/*
 * Outside strings every byte up to the space separates tokens: yajl takes
 * \v and \f as white space and fails on the other control bytes anyway.
 */
static const unsigned char  exc_class[256] = {
    [0x00] = EXC_C_SPACE, [0x01] = EXC_C_SPACE, [0x02] = EXC_C_SPACE,
    [0x03] = EXC_C_SPACE, [0x04] = EXC_C_SPACE, [0x05] = EXC_C_SPACE,
    [0x06] = EXC_C_SPACE, [0x07] = EXC_C_SPACE, [0x08] = EXC_C_SPACE,
    [0x09] = EXC_C_SPACE, [0x0a] = EXC_C_SPACE, [0x0b] = EXC_C_SPACE,
    [0x0c] = EXC_C_SPACE, [0x0d] = EXC_C_SPACE, [0x0e] = EXC_C_SPACE,
    [0x0f] = EXC_C_SPACE, [0x10] = EXC_C_SPACE, [0x11] = EXC_C_SPACE,
    [0x12] = EXC_C_SPACE, [0x13] = EXC_C_SPACE, [0x14] = EXC_C_SPACE,
    [0x15] = EXC_C_SPACE, [0x16] = EXC_C_SPACE, [0x17] = EXC_C_SPACE,
    [0x18] = EXC_C_SPACE, [0x19] = EXC_C_SPACE, [0x1a] = EXC_C_SPACE,
    [0x1b] = EXC_C_SPACE, [0x1c] = EXC_C_SPACE, [0x1d] = EXC_C_SPACE,
    [0x1e] = EXC_C_SPACE, [0x1f] = EXC_C_SPACE, [' '] = EXC_C_SPACE,
    ['{'] = EXC_C_PUNCT, ['}'] = EXC_C_PUNCT, ['['] = EXC_C_PUNCT,
    [']'] = EXC_C_PUNCT, [':'] = EXC_C_PUNCT, [','] = EXC_C_PUNCT,
    ['"'] = EXC_C_QUOTE
};


/* a raw control character is invalid in a string: yajl stops there */
static const unsigned char  exc_str_stop[256] = {
    [0x00] = 1, [0x01] = 1, [0x02] = 1, [0x03] = 1, [0x04] = 1, [0x05] = 1,
    [0x06] = 1, [0x07] = 1, [0x08] = 1, [0x09] = 1, [0x0a] = 1, [0x0b] = 1,
    [0x0c] = 1, [0x0d] = 1, [0x0e] = 1, [0x0f] = 1, [0x10] = 1, [0x11] = 1,
    [0x12] = 1, [0x13] = 1, [0x14] = 1, [0x15] = 1, [0x16] = 1, [0x17] = 1,
    [0x18] = 1, [0x19] = 1, [0x1a] = 1, [0x1b] = 1, [0x1c] = 1, [0x1d] = 1,
    [0x1e] = 1, [0x1f] = 1, ['"'] = 1, ['\\'] = 1
};


static const unsigned char  exc_csv_special[256] = {
    [','] = 1, ['"'] = 1, ['\r'] = 1, ['\n'] = 1
};


static const unsigned char  exc_formula[256] = {
    ['='] = 1, ['+'] = 1, ['-'] = 1, ['@'] = 1, ['\t'] = 1, ['\r'] = 1
};


/*
 * Scanning 8 bytes at a time: the lowest byte flagged by these masks is
 * always a true match (borrows only run upwards from a match).
 */

#if defined(__GNUC__) && defined(__BYTE_ORDER__)                            \
    && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define EXC_SWAR  1
#else
#define EXC_SWAR  0
#endif

#define EXC_ONES   0x0101010101010101ULL
#define EXC_HIGHS  0x8080808080808080ULL

#define exc_swar_eq(w, ch)                                                    \
    ((((w) ^ (EXC_ONES * (ch))) - EXC_ONES) & ~((w) ^ (EXC_ONES * (ch)))    \
     & EXC_HIGHS)

/* bytes below n, n <= 128 */
#define exc_swar_lt(w, n)  (((w) - EXC_ONES * (n)) & ~(w) & EXC_HIGHS)


/* the first byte that may end a string: '"', '\\' or a control char */

static const unsigned char *
exc_str_end(const unsigned char *p, const unsigned char *end)
{
#if (EXC_SWAR)
    uint64_t  w, m;

    while (end - p >= 8) {
        memcpy(&w, p, 8);

        m = exc_swar_eq(w, '"') | exc_swar_eq(w, '\\') | exc_swar_lt(w, 0x20);

        if (m) {
            return p + (__builtin_ctzll(m) >> 3);
        }

        p += 8;
    }
#endif

    while (p < end && !exc_str_stop[*p]) {
        p++;
    }

    return p;
}


/* whether a field needs quotes for one of ',', '"', CR, LF */

static int
exc_csv_needs_quotes(const unsigned char *p, size_t len)
{
    const unsigned char  *end;
#if (EXC_SWAR)
    uint64_t              w, m;
#endif

    end = p + len;

#if (EXC_SWAR)
    while (end - p >= 8) {
        memcpy(&w, p, 8);

        /* CR and LF are below 0x0e; other control bytes are checked */
        m = exc_swar_eq(w, ',') | exc_swar_eq(w, '"') | exc_swar_lt(w, 0x0e);

        while (m) {
            if (exc_csv_special[p[__builtin_ctzll(m) >> 3]]) {
                return 1;
            }

            m &= m - 1;
        }

        p += 8;
    }
#endif

    while (p < end) {
        if (exc_csv_special[*p++]) {
            return 1;
        }
    }

    return 0;
}


void
exc_options_init(exc_options_t *opt)
{
    memset(opt, 0, sizeof(exc_options_t));

    opt->max_columns = 2048;
    opt->max_depth = 64;
    opt->max_report_size = (uint64_t) 4 << 30;
    opt->max_cell = 256 << 10;     /* see "Memory" in the header */
    opt->max_row = 2 << 20;
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


/*
 * Grows an array to at least need elements, doubling.  Returns the array
 * (moved or not), or NULL with the old one left as it was.
 */

static void *
exc_grow(void *buf, size_t *cap, size_t need, size_t size, size_t min)
{
    size_t  n;
    void   *p;

    if (buf && need <= *cap) {
        return buf;
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
        return NULL;
    }

    p = realloc(buf, n * size);
    if (p == NULL) {
        return NULL;
    }

    *cap = n;

    return p;
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
    void          *p;
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

    p = exc_grow(c->cols, &c->cols_cap, c->ncols + 1, sizeof(exc_column_t),
                 64);
    if (p == NULL) {
        exc_oom(c);
        return EXC_NONE;
    }

    c->cols = p;

    p = exc_grow(c->names, &c->names_cap, c->names_len + len + 1, 1, 4096);
    if (p == NULL) {
        exc_oom(c);
        return EXC_NONE;
    }

    c->names = p;

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
    void        *row;
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

    /* rows mostly repeat the key order: try the column after the last */
    k = c->pred;

    if (k >= c->ncols || c->cols[k].len != nlen
        || memcmp(c->names + c->cols[k].off, name, nlen) != 0)
    {
        k = exc_column(c, name, nlen);
        if (k == EXC_NONE) {
            return c->rc == EXC_OK;
        }
    }

    c->pred = k + 1;

    if (c->pass == 2) {
        if (c->row_used + len > c->row_cap) {
            row = exc_grow(c->row, &c->row_cap, c->row_used + len, 1, 4096);
            if (row == NULL) {
                return exc_oom(c);
            }

            c->row = row;
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
    void    *p;
    size_t   base;

    if (c->dead) {
        return 1;
    }

    f->empty = 0;
    base = root ? 0 : f->plen + 1;

    if (len > c->opt.max_cell || base + len > c->opt.max_cell) {
        return exc_row_fail(c, "column name too long (limit %zu bytes)",
                            c->opt.max_cell);
    }

    if (base + len + 1 > c->path_cap) {
        p = exc_grow(c->path, &c->path_cap, base + len + 1, 1, 256);
        if (p == NULL) {
            return exc_oom(c);
        }

        c->path = p;
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
        c->values++;

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


/*
 * A string as yajl decoded it.  Its raw bytes passed the strict check, so
 * only a \u escape can have made it invalid: yajl writes a lone low
 * surrogate as ED B0..BF xx.  Looking for ED is all it takes.
 */

static int
exc_decoded(exc_conv_t *c, const unsigned char *s, size_t len)
{
    const unsigned char  *p, *end;

    end = s + len;

    for (p = s; (p = memchr(p, 0xed, end - p)) != NULL; p++) {
        if (p + 1 < end && p[1] >= 0xa0) {
            return exc_stop(c, "invalid JSON: \\u escape decodes to "
                            "invalid UTF-8 (surrogate)");
        }
    }

    return 1;
}


static int
exc_cb_string(void *ctx, const unsigned char *s, size_t len)
{
    if (!exc_decoded(ctx, s, len)) {
        return 0;
    }

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

    if (!exc_decoded(c, s, len)) {
        return 0;
    }

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

    quote = (p[0] == ' ' && !guard) || p[len - 1] == ' '
            || exc_csv_needs_quotes(p, len);

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
 * over the input.  It finds the cut points, between two tokens, where the
 * input can be cut for yajl (see exc_feed_data()), and it stops the input
 * where more than tok_limit bytes come without a cut point: after white
 * space, punctuation, a string's closing quote, or (in invalid JSON) a
 * raw control byte in a string.  White space and punctuation do not count
 * toward the limit, a closing quote does.
 *
 * This scans bytes from p to end, or to the first cut point if "first" is
 * set, and returns where it stopped; *cut is the last cut point seen,
 * *over is set if the limit was hit at the returned position.
 */

static const unsigned char *
exc_guard_bytes(exc_conv_t *c, const unsigned char *p,
    const unsigned char *end, int first, const unsigned char **cut,
    int *over)
{
    size_t                run, lim;
    unsigned              cls;
    const unsigned char  *start;

    run = c->g_run;
    lim = c->tok_limit;

    if (!c->g_str) {
        goto outside;
    }

    if (c->g_esc) {
        if (p == end) {
            goto done;
        }

        c->g_esc = 0;

        if (*p < 0x20) {
            goto broken;
        }

        if (++run > lim) {
            goto over;
        }

        p++;
    }

string:

    for ( ;; ) {
        start = p;
        p = exc_str_end(p, end);

        if ((size_t) (p - start) > lim - run) {
            p = start + (lim - run);
            goto over;
        }

        run += (size_t) (p - start);

        if (p == end) {
            c->g_str = 1;
            goto done;
        }

        if (*p < 0x20) {
            goto broken;
        }

        if (++run > lim) {
            goto over;
        }

        if (*p++ == '"') {
            c->g_str = 0;
            run = 0;
            *cut = p;

            if (first) {
                goto done;
            }

            goto outside;
        }

        /* a backslash: the next byte is escaped */

        if (p == end) {
            c->g_str = 1;
            c->g_esc = 1;
            goto done;
        }

        if (*p < 0x20) {
            goto broken;
        }

        if (++run > lim) {
            goto over;
        }

        p++;
    }

broken:

    /* a raw control byte in a string: yajl fails there, let it see it */

    p++;
    c->g_str = 0;
    run = 0;
    *cut = p;

    if (first) {
        goto done;
    }

outside:

    while (p < end) {
        cls = exc_class[*p];

        if (cls == EXC_C_SPACE || cls == EXC_C_PUNCT) {
            run = 0;
            *cut = ++p;

            if (first) {
                break;
            }

            continue;
        }

        if (++run > lim) {
            goto over;
        }

        p++;

        if (cls == EXC_C_QUOTE) {
            goto string;
        }
    }

    c->g_str = 0;

done:

    c->g_run = run;

    return p;

over:

    *over = 1;

    return p;
}


#if defined(__SSE2__)

/*
 * The same for 64 bytes at once, with bit masks (one bit a byte): the
 * bytes inside strings are a prefix XOR of the quotes.  Blocks with
 * backslashes, or with control bytes in strings, are left to the byte
 * loop (returns 0).  Needs tok_limit >= 64, so that only the first token
 * of a block can hit it.
 */

static int
exc_guard_block(exc_conv_t *c, const unsigned char *p,
    const unsigned char **cut, int *over, size_t *at)
{
    int       i;
    size_t    f, run;
    uint64_t  q, b, ctl, sep, in, k;
    __m128i   v, x, m;

    q = 0;
    b = 0;
    ctl = 0;
    sep = 0;

    for (i = 0; i < 4; i++) {
        v = _mm_loadu_si128((const __m128i *) (const void *) (p + 16 * i));
        x = _mm_or_si128(v, _mm_set1_epi8(0x20));

        /* bytes below 0x20: min(v, 0x1f) == v */
        m = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1f)), v);
        ctl |= (uint64_t) (unsigned) _mm_movemask_epi8(m) << (16 * i);

        /* white space and punctuation; "x" folds "[" to "{", "]" to "}" */
        m = _mm_or_si128(m, _mm_cmpeq_epi8(v, _mm_set1_epi8(' ')));
        m = _mm_or_si128(m, _mm_cmpeq_epi8(v, _mm_set1_epi8(',')));
        m = _mm_or_si128(m, _mm_cmpeq_epi8(v, _mm_set1_epi8(':')));
        m = _mm_or_si128(m, _mm_cmpeq_epi8(x, _mm_set1_epi8('{')));
        m = _mm_or_si128(m, _mm_cmpeq_epi8(x, _mm_set1_epi8('}')));
        sep |= (uint64_t) (unsigned) _mm_movemask_epi8(m) << (16 * i);

        m = _mm_cmpeq_epi8(v, _mm_set1_epi8('"'));
        q |= (uint64_t) (unsigned) _mm_movemask_epi8(m) << (16 * i);

        m = _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'));
        b |= (uint64_t) (unsigned) _mm_movemask_epi8(m) << (16 * i);
    }

    if (b) {
        return 0;
    }

    /* set from an opening quote to the byte before its closing quote */
    in = q ^ (q << 1);
    in ^= in << 2;
    in ^= in << 4;
    in ^= in << 8;
    in ^= in << 16;
    in ^= in << 32;

    if (c->g_str) {
        in = ~in;
    }

    if (ctl & in) {
        return 0;
    }

    /* cut after: separators outside strings and closing quotes */
    k = (sep | q) & ~in;
    run = c->g_run;

    if (k == 0) {
        if (run + 64 > c->tok_limit) {
            *over = 1;
            *at = c->tok_limit - run;
            return 1;
        }

        c->g_run = run + 64;
        c->g_str = (unsigned) (in >> 63);

        return 1;
    }

    /* bytes up to the first cut count, and the cut byte if a quote */
    f = (size_t) __builtin_ctzll(k);

    if (run + f + ((q >> f) & 1) > c->tok_limit) {
        *over = 1;
        *at = c->tok_limit - run;
        return 1;
    }

    f = 63 - (size_t) __builtin_clzll(k);

    *cut = p + f + 1;
    c->g_run = 63 - f;
    c->g_str = (unsigned) (in >> 63);

    return 1;
}

#endif


/*
 * Returns the bytes scanned: all of buf, or up to its first cut point if
 * "first" is set, or up to where the limit was hit (*over).  *cut is the
 * last cut point in them, EXC_NONE if none.
 */

static size_t
exc_guard(exc_conv_t *c, const unsigned char *buf, size_t len, int first,
    size_t *cut, int *over)
{
    const unsigned char  *p, *end, *q, *lst;
#if defined(__SSE2__)
    size_t                at;
#endif

    p = buf;
    end = buf + len;
    lst = NULL;
    *over = 0;
#if defined(__SSE2__)
    at = 0;
#endif

    while (p < end) {
        q = end;

#if defined(__SSE2__)
        if (!first && c->tok_limit >= 64) {

            while (end - p >= 64 && !c->g_esc) {
                if (!exc_guard_block(c, p, &lst, over, &at)) {
                    break;
                }

                if (*over) {
                    p += at;
                    goto done;
                }

                p += 64;
            }

            if (end - p >= 64) {
                /* one block for the byte loop */
                q = p + 64;
            }
        }
#endif

        p = exc_guard_bytes(c, p, q, first, &lst, over);

        if (*over || (first && lst)) {
            break;
        }
    }

#if defined(__SSE2__)
done:
#endif

    *cut = lst ? (size_t) (lst - buf) : EXC_NONE;

    return (size_t) (p - buf);
}


/* feeds yajl with bytes that end between two tokens */

static int
exc_feed_tokens(exc_conv_t *c, const unsigned char *buf, size_t len)
{
    size_t                seg;
    const unsigned char  *nl;

    if (!c->ndjson) {
        return exc_parse(c, buf, len);
    }

    while (len) {
        nl = memchr(buf, '\n', len);
        seg = nl ? (size_t) (nl - buf) + 1 : len;

        if (exc_parse(c, buf, seg) != EXC_OK) {
            return c->rc;
        }

        if (nl && exc_line_end(c) != EXC_OK) {
            return c->rc;
        }

        buf += seg;
        len -= seg;
    }

    return EXC_OK;
}


static int
exc_carry(exc_conv_t *c, const unsigned char *buf, size_t len)
{
    void  *p;

    if (len == 0) {
        return EXC_OK;
    }

    p = exc_grow(c->carry, &c->carry_cap, c->carry_len + len, 1, 256);
    if (p == NULL) {
        exc_oom(c);
        return c->rc;
    }

    c->carry = p;

    memcpy(c->carry + c->carry_len, buf, len);
    c->carry_len += len;

    return EXC_OK;
}


/*
 * yajl gets the input cut only between tokens; the token cut by the end
 * of a chunk waits in the carry buffer (at most tok_limit bytes, all
 * since the last cut point) until it is complete.  Left to itself, yajl
 * would buffer it too, but it then rescans the whole token on every chunk
 * and, for some errors, reports an offset that depends on where the chunk
 * began.
 */

static int exc_feed_valid(exc_conv_t *c, const unsigned char *buf,
    size_t len);


/* strict UTF-8 on the raw bytes; what comes before a bad byte goes on */

static int
exc_feed_data(exc_conv_t *c, const unsigned char *buf, size_t len)
{
    size_t       n;
    uint64_t     at;
    const char  *why;

    at = c->in_pos;
    n = exu_feed(&c->utf8, buf, len, &why);

    if (n && exc_feed_valid(c, buf, n) != EXC_OK) {
        return c->rc;
    }

    if (n < len && c->ndjson) {
        exc_fail(c, EXC_BAD, at + n, "invalid JSON on line %llu: invalid "
                 "UTF-8 (%s) at byte %llu", (unsigned long long) c->line,
                 why, (unsigned long long) (at + n));

    } else if (n < len) {
        exc_fail(c, EXC_BAD, at + n, "invalid JSON: invalid UTF-8 (%s) "
                 "at byte %llu", why, (unsigned long long) (at + n));
    }

    return c->rc;
}


static int
exc_feed_valid(exc_conv_t *c, const unsigned char *buf, size_t len)
{
    int       over;
    size_t    n, cut;
    uint64_t  at;

    at = c->in_pos;
    c->in_pos += len;

    if (c->carry_len) {
        n = exc_guard(c, buf, len, 1, &cut, &over);

        if (over) {
            goto over;
        }

        if (cut == EXC_NONE) {
            return exc_carry(c, buf, n);
        }

        if (exc_carry(c, buf, cut) != EXC_OK
            || exc_feed_tokens(c, c->carry, c->carry_len) != EXC_OK)
        {
            return c->rc;
        }

        c->carry_len = 0;
        buf += cut;
        len -= cut;
        at += cut;
    }

    n = exc_guard(c, buf, len, 0, &cut, &over);

    if (cut != EXC_NONE) {
        if (exc_feed_tokens(c, buf, cut) != EXC_OK) {
            return c->rc;
        }

        buf += cut;
        n -= cut;
        at += cut;
    }

    if (!over) {
        return exc_carry(c, buf, n);
    }

over:

    exc_fail(c, EXC_BAD, at + n, "string or number too long (over %zu "
             "bytes of JSON text, max_cell %zu bytes)", c->tok_limit,
             c->opt.max_cell);

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
            c->in_pos = 3;

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

    /* yajl never holds a partial token: see exc_feed_data() */
    if (c->values == 0 && c->carry_len == 0) {
        if (!c->ndjson) {
            exc_fail(c, EXC_BAD, 0, "empty report");
        }

        return c->rc;
    }

    /* the last token, cut by the end of the input */
    if (c->carry_len) {
        if (exc_feed_tokens(c, c->carry, c->carry_len) != EXC_OK) {
            return c->rc;
        }

        c->carry_len = 0;
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
    c->g_run = 0;
    c->in_pos = 0;
    c->utf8.need = 0;
    c->carry_len = 0;
    c->values = 0;
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

    free(c->carry);
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
        exc_fail(c, EXC_ERROR, 0, "exc_emit_begin() out of order or "
                 "without a write callback");
        return c->rc;
    }

    c->write = write;
    c->data = data;

    c->out = malloc(EXC_OUT_SIZE);
    c->slots = calloc(c->ncols ? c->ncols : 1, sizeof(exc_slot_t));

    c->row = exc_grow(c->row, &c->row_cap, 1, 1, 4096);

    if (c->out == NULL || c->slots == NULL || c->row == NULL
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
