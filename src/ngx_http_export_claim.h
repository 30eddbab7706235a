
/*
 * The store shared by nodes: the files that say which task of a run is
 * current, who builds it and how far it got (ngx_http_export_claim.c).
 * Every call does file I/O: threads only (and the master at start).
 */


#ifndef _NGX_HTTP_EXPORT_CLAIM_H_INCLUDED_
#define _NGX_HTTP_EXPORT_CLAIM_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_export_parse.h"


/* what a lookup of a run found in the store */
#define NGX_HTTP_EXPORT_REC_NONE        0   /* no export of the run */
#define NGX_HTTP_EXPORT_REC_UNFINISHED  1   /* claimed, being built */
#define NGX_HTTP_EXPORT_REC_FINISHED    2   /* metadata says how it ended */
#define NGX_HTTP_EXPORT_REC_BAD         3   /* a file that is not one */
#define NGX_HTTP_EXPORT_REC_ERROR       4   /* the store cannot be read */


/* a store as this node sees it */
typedef struct {
    u_char                     *store;        /* NUL-terminated */
    size_t                      store_len;
    ngx_str_t                   node;
    ngx_msec_t                  lease;
    ngx_log_t                  *log;
} ngx_http_export_cstore_t;


/* a claim to write: what a task is and who builds it */
typedef struct {
    ngx_str_t                   run;
    u_char                      id[16];
    ngx_str_t                   node;
    ngx_uint_t                  attempt;
    ngx_uint_t                  style;
    ngx_uint_t                  keyed;
    ngx_uint_t                  indexed;      /* export-<id>.task too */
    uint64_t                    serial;
    time_t                      created;
    uint64_t                    created_ms;
    ngx_str_t                   op;
    ngx_str_t                   sources;      /* "a\0b\0" */
    ngx_str_t                   folders;
    ngx_uint_t                  nsources;
    ngx_str_t                   thread_pool;
    ngx_int_t                   level;
    time_t                      ttl;
    size_t                      max_report_size;
    ngx_uint_t                  max_columns;
    ngx_uint_t                  formula_guard;
    ngx_uint_t                  csv_bom;
    ngx_uint_t                  symlinks;
    ngx_str_t                   symlinks_from;
} ngx_http_export_claim_t;


/* what the store says of a run; free with ngx_http_export_record_free() */
typedef struct {
    ngx_uint_t                  found;        /* NGX_HTTP_EXPORT_REC_* */
    ngx_err_t                   err;
    u_char                      file[NGX_MAX_PATH];  /* a bad one */

    yajl_val                    claim_doc;
    exp_claim_t                 claim;
    yajl_val                    meta_doc;
    exp_meta_t                  meta;
    yajl_val                    beat_doc;
    exp_beat_t                  beat;
} ngx_http_export_record_t;


extern const char  *ngx_http_export_style_words[];


void ngx_http_export_record_free(ngx_http_export_record_t *rec);

ngx_int_t ngx_http_export_claim_lookup(ngx_http_export_cstore_t *cs,
    ngx_str_t *run, ngx_http_export_record_t *rec);
ngx_int_t ngx_http_export_claim_lookup_id(ngx_http_export_cstore_t *cs,
    u_char *id, ngx_http_export_record_t *rec);
ngx_int_t ngx_http_export_claim_start(ngx_http_export_cstore_t *cs,
    ngx_http_export_claim_t *mine, ngx_http_export_record_t *rec);
ngx_int_t ngx_http_export_claim_check(ngx_http_export_cstore_t *cs,
    ngx_str_t *run, u_char *id, ngx_uint_t attempt, ngx_uint_t progress,
    ngx_uint_t state, uint64_t beat);
ngx_int_t ngx_http_export_claim_attempt(ngx_http_export_cstore_t *cs,
    ngx_str_t *run, u_char *id, ngx_uint_t attempt);
ngx_int_t ngx_http_export_claim_takeover(ngx_http_export_cstore_t *cs,
    ngx_str_t *run, u_char *id, ngx_uint_t attempt, uint64_t beat,
    ngx_uint_t beat_found, ngx_http_export_record_t *rec);
ngx_int_t ngx_http_export_claim_delete(ngx_http_export_cstore_t *cs,
    ngx_str_t *run, u_char *id, ngx_http_export_record_t *rec);
ngx_int_t ngx_http_export_claim_expire(ngx_http_export_cstore_t *cs,
    ngx_str_t *run, u_char *id);
ngx_int_t ngx_http_export_claim_done(ngx_http_export_cstore_t *cs,
    ngx_str_t *run, u_char *id, ngx_uint_t attempt);
ngx_int_t ngx_http_export_claim_bump(ngx_http_export_cstore_t *cs);
ngx_int_t ngx_http_export_claim_token(ngx_http_export_cstore_t *cs,
    u_char *token);


#endif /* _NGX_HTTP_EXPORT_CLAIM_H_INCLUDED_ */
