
/*
 * Several nodes, one service (ngx_http_export_cluster.c): the zone is
 * this node's copy of what the shared store says.  A request whose task
 * the zone does not know waits for a look at the store in the thread
 * pool; a POST claims its run there; worker 0 follows the builds of
 * other nodes and takes over those whose heartbeat stopped.
 */


#ifndef _NGX_HTTP_EXPORT_CLUSTER_H_INCLUDED_
#define _NGX_HTTP_EXPORT_CLUSTER_H_INCLUDED_


#include "ngx_http_export_module.h"
#include "ngx_http_export_claim.h"


#define NGX_HTTP_EXPORT_UNKNOWN_TTL     1     /* s: an absent run, cached */
#define NGX_HTTP_EXPORT_BEAT_EVERY      1000  /* ms between heartbeats */


/* what a request's look at the store did */
typedef struct {
    ngx_int_t                   rc;           /* of the claim call */
    ngx_err_t                   err;
    u_char                      id[16];       /* a new task's */
    ngx_uint_t                  created;      /* the claim is this task's */
    ngx_uint_t                  found;        /* NGX_HTTP_EXPORT_REC_* */
} ngx_http_export_looked_t;


void ngx_http_export_cstore(ngx_http_export_cstore_t *cs,
    ngx_http_export_zone_t *zone, ngx_str_t *store);
ngx_uint_t ngx_http_export_stale(ngx_http_export_zone_t *zone,
    ngx_http_export_task_t *task, ngx_uint_t archive);
ngx_int_t ngx_http_export_look(ngx_http_request_t *r,
    ngx_http_export_zone_t *zone, ngx_str_t *run, u_char *id);
ngx_int_t ngx_http_export_resolve(ngx_http_request_t *r,
    ngx_http_export_zone_t *zone, ngx_str_t *run, u_char *id,
    ngx_uint_t archive);
ngx_int_t ngx_http_export_claim_request(ngx_http_request_t *r,
    ngx_http_export_zone_t *zone, ngx_str_t *store,
    ngx_http_export_claim_t *cl);
ngx_int_t ngx_http_export_delete_request(ngx_http_request_t *r,
    ngx_http_export_zone_t *zone, ngx_str_t *run);
ngx_int_t ngx_http_export_resolve_answer(ngx_http_request_t *r,
    ngx_int_t rc);
ngx_http_export_looked_t *ngx_http_export_looked(ngx_http_request_t *r);
ngx_uint_t ngx_http_export_store_down(ngx_http_request_t *r);
ngx_http_export_task_t *ngx_http_export_apply(ngx_http_export_zone_t *zone,
    ngx_str_t *store, ngx_str_t *run, u_char *id,
    ngx_http_export_record_t *rec, ngx_pool_t *pool, ngx_log_t *log);
void ngx_http_export_upkeep(ngx_http_export_zone_t *zone, ngx_log_t *log);
void ngx_http_export_store_forget(ngx_http_export_zone_t *zone,
    ngx_str_t *store, ngx_str_t *run, u_char *id);
void ngx_http_export_store_failed(ngx_http_export_zone_t *zone,
    ngx_http_export_task_t *task);
ngx_uint_t ngx_http_export_source_allowed(ngx_http_export_zone_t *zone,
    exp_claim_t *c);
void ngx_http_export_recover_claim(ngx_http_export_zone_t *zone,
    ngx_str_t *store, const char *name, ngx_log_t *log);
void ngx_http_export_claim_of(ngx_http_export_claim_t *cl,
    ngx_http_export_zone_t *zone, ngx_http_export_task_t *task);


#endif /* _NGX_HTTP_EXPORT_CLUSTER_H_INCLUDED_ */
