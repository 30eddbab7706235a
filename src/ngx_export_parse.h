
/*
 * The parsers of what requests and metadata files bring in, free of
 * nginx so that they can be fuzzed alone (t/fuzz/): UUIDs, run ids, job
 * and file ids, comma lists, form fields, the request line's hidden
 * arguments, a download link's arguments and the metadata document.
 * The module calls these and keeps its pools, logs and zones to itself.
 */


#ifndef _NGX_EXPORT_PARSE_H_INCLUDED_
#define _NGX_EXPORT_PARSE_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <yajl/yajl_tree.h>


#define EXP_UUID_LEN      36          /* 8-4-4-4-12 */
#define EXP_RUN_MAX       64          /* a run id, as text */
#define EXP_SIG_LEN       32          /* HMAC-SHA256 */
#define EXP_SIG_TEXT_LEN  43          /* its base64url, unpadded */


/* what a run id may be, by style */
typedef enum {
    EXP_RUN_UUID = 0,       /* VMware: a UUID only */
    EXP_RUN_NAME,           /* ArcGIS, Uniware: a UUID or 1-64 [A-Za-z0-9_-] */
    EXP_RUN_NUMBER          /* WebAdMIT: 1-15 digits, no leading zero */
} exp_run_kind_e;

#define EXP_RUN_BAD      0          /* not a run id */
#define EXP_RUN_ASIS     1          /* the value as it is */
#define EXP_RUN_CANON    2          /* a UUID, canonical text in "canon" */


/* 0, or -1 when text is not the 8-4-4-4-12 form (either case) */
int exp_uuid_parse(unsigned char *bin, const unsigned char *text,
    size_t len);

/* the lower case text form; returns its end */
unsigned char *exp_uuid_text(unsigned char *p, const unsigned char *bin);

/*
 * A run id of the kind: EXP_RUN_CANON with EXP_UUID_LEN bytes in canon,
 * EXP_RUN_ASIS, or EXP_RUN_BAD.
 */
int exp_run_check(const unsigned char *v, size_t len, exp_run_kind_e kind,
    unsigned char *canon);

/* a job id: a UUID, or "j" and a UUID (ArcGIS); 0 or -1 */
int exp_job_parse(unsigned char *bin, const unsigned char *p, size_t len);

/*
 * Uniware's status body {"jobCode": "..."}: EXP_UW_OK with the document
 * (for yajl_tree_free() once code is no longer used) and its jobCode,
 * a non-empty string; EXP_UW_NOT_OBJECT when the NUL-terminated body is
 * not a JSON object; EXP_UW_NO_CODE when it has no such jobCode.
 */
#define EXP_UW_OK          0
#define EXP_UW_NOT_OBJECT  1
#define EXP_UW_NO_CODE     2

int exp_uniware_code(const char *body, yajl_val *doc, const char **code);

/* a WebAdMIT file id: 1-15 digits, no leading zero; -1 if it is not */
int64_t exp_serial_parse(const unsigned char *p, size_t len);

/*
 * The next item of a comma-separated list, spaces around it trimmed and
 * empty items skipped: 1 and the item, or 0 at the end.  *pos starts at
 * 0 and is kept between calls.
 */
int exp_list_next(const unsigned char *list, size_t len, size_t *pos,
    const unsigned char **item, size_t *item_len);

/*
 * The raw (still escaped) value of the first "name=" field of a form body
 * or query; 1 if there is one, else 0.
 */
int exp_form_find(const unsigned char *form, size_t len, const char *name,
    const unsigned char **value, size_t *value_len);

/*
 * A request line with the value of each "name=" argument of its query
 * replaced by "-": returns the size of the result (dst NULL only
 * measures) and in *hidden how many values were replaced.
 */
size_t exp_hide_arg(unsigned char *dst, const unsigned char *line,
    size_t len, const char *name, size_t *hidden);

/*
 * A download link's arguments: the task's UUID, "expires" (decimal unix
 * time) and the base64url signature of EXP_SIG_LEN bytes.  0, or -1 when
 * any is malformed.
 */
int exp_link_parse(const unsigned char *task, size_t task_len,
    const unsigned char *expires, size_t expires_len,
    const unsigned char *sig, size_t sig_len,
    unsigned char *id, time_t *exp, unsigned char *mac);

/* a warning kept in the metadata */
typedef struct {
    const char       *report;       /* NULL when absent */
    const char       *message;      /* NULL when absent */
    uint64_t          offset;
} exp_meta_warning_t;

/*
 * What a metadata file says, pointing into the parsed document; an
 * integer that is absent (or not an integer) takes the default noted.
 */
typedef struct {
    const unsigned char  *run;           /* 1-64 [A-Za-z0-9_-] */
    size_t                run_len;
    unsigned char         id[16];
    int                   style;         /* index in styles, or 0 */
    int                   keyed;         /* absent: 1 */
    const char           *state;         /* absent: "" */
    time_t                ttl;           /* absent: 3600 */
    time_t                finished;      /* absent: 0 */
    int                   has_created;
    time_t                created;
    const char           *op;            /* operationURI, NULL if absent */
    int64_t               serial;        /* absent or negative: -1 */
    int64_t               reports;       /* absent or negative: -1 */
    int64_t               created_ms;    /* absent or negative: -1 */
    int64_t               finished_ms;   /* absent or negative: -1 */
    int64_t               size;          /* absent: 0 */
    int64_t               nwarnings;     /* absent: 0 */
    size_t                nkept;         /* entries in "warnings" */
    yajl_val              warnings;
    const char           *error;         /* NULL if absent */
    int                   has_ref;
    unsigned char         ref[16];
    const char           *node;          /* NULL if absent */
} exp_meta_t;

/*
 * Parses the NUL-terminated metadata text; returns the document (for
 * yajl_tree_free() once m is no longer used) or NULL when it cannot be
 * read or lacks a valid runId and taskId.  styles ends with NULL.
 */
yajl_val exp_meta_parse(const char *text, const char *const *styles,
    exp_meta_t *m);

/* warning i < m->nkept */
void exp_meta_warning(exp_meta_t *m, size_t i, exp_meta_warning_t *w);

/* what a node may be named, and a claim's limits */
#define EXP_NODE_MAX      64          /* [A-Za-z0-9._-] */
#define EXP_SOURCES_MAX   100         /* runs in one export */
#define EXP_ATTEMPTS_MAX  1000

/* 1 when p is 1 to max bytes of [A-Za-z0-9_-], and "." too if dots */
int exp_name_check(const unsigned char *p, size_t len, size_t max,
    int dots);

/*
 * A run's claim in a store shared by nodes: who builds which task of the
 * run, at which attempt, and what the task is, so that another node can
 * take the build over.  Strings point into the parsed document; sources
 * and folders are arrays of nsources strings (exp_claim_item()).
 */
typedef struct {
    const unsigned char  *run;
    size_t                run_len;
    unsigned char         id[16];
    const char           *node;
    size_t                node_len;
    int64_t               attempt;       /* 1 .. EXP_ATTEMPTS_MAX */
    int                   style;         /* index in styles, or 0 */
    int                   keyed;
    int                   indexed;       /* found by its task id too */
    int64_t               serial;        /* absent or negative: -1 */
    int64_t               created;       /* unix time */
    int64_t               created_ms;    /* absent or negative: -1 */
    const char           *op;            /* NULL if absent */
    yajl_val              sources;       /* absolute paths */
    yajl_val              folders;       /* "" or "name/" */
    size_t                nsources;
    const char           *thread_pool;
    int64_t               level;         /* 0 .. 9 */
    int64_t               ttl;           /* >= 0 */
    int64_t               max_report_size;
    int64_t               max_columns;
    int                   formula_guard;
    int                   csv_bom;
    int64_t               symlinks;      /* 0 .. 2 */
    const char           *symlinks_from; /* "" if absent */
} exp_claim_t;

/*
 * Parses the NUL-terminated claim text; returns the document (for
 * yajl_tree_free()) or NULL when any member is missing or out of range.
 */
yajl_val exp_claim_parse(const char *text, const char *const *styles,
    exp_claim_t *c);

/* item i < nsources of c->sources or c->folders */
const char *exp_claim_item(yajl_val list, size_t i);

/* the owner's heartbeat of a run's build */
typedef struct {
    unsigned char         id[16];
    int64_t               attempt;
    const char           *node;
    int64_t               beat;          /* grows with every write */
    int64_t               progress;      /* 0 .. 10000 */
    const char           *state;         /* "" if absent */
} exp_beat_t;

/* as exp_claim_parse(), for a heartbeat file */
yajl_val exp_beat_parse(const char *text, exp_beat_t *b);


#endif /* _NGX_EXPORT_PARSE_H_INCLUDED_ */
