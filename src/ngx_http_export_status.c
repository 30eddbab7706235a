
/*
 * export_status: the state of every export zone and quota zone, as JSON
 * (the default) or in the Prometheus text format (?format=prometheus, or
 * an Accept header that asks for text/plain).  The counters live in the
 * zones, so every worker gives the same answer.
 */


#include "ngx_http_export_module.h"

#include <yajl/yajl_gen.h>


/* upper bounds of the generation time histogram, ms; the last is +Inf */
ngx_msec_t  ngx_http_export_buckets[NGX_HTTP_EXPORT_BUCKETS] = {
    100, 500, 1000, 5000, 10000, 30000, 60000, 300000, (ngx_msec_t) -1
};


typedef struct {
    ngx_str_t                   name;
    ngx_str_t                   node;
    ngx_uint_t                  tasks[NGX_HTTP_EXPORT_FAILED + 1];
    ngx_http_export_stats_t     stats;
    size_t                      size;
    size_t                      free;
} ngx_http_export_zone_report_t;


typedef struct {
    ngx_str_t                   name;
    ngx_uint_t                  entries;
    size_t                      size;
    size_t                      free;
} ngx_http_export_quota_report_t;


static ngx_int_t ngx_http_export_status_collect(ngx_http_request_t *r,
    ngx_array_t *zones, ngx_array_t *quotas);
static ngx_int_t ngx_http_export_status_json(ngx_http_request_t *r,
    ngx_array_t *zones, ngx_array_t *quotas, ngx_chain_t *out);
static ngx_int_t ngx_http_export_status_prometheus(ngx_http_request_t *r,
    ngx_array_t *zones, ngx_array_t *quotas, ngx_chain_t *out);


void
ngx_http_export_count_generation(ngx_http_export_stats_t *st, ngx_msec_t ms)
{
    ngx_uint_t  i;

    (void) ngx_atomic_fetch_add(&st->seconds_ms, ms);

    /* cumulative buckets, as Prometheus counts them */

    for (i = 0; i < NGX_HTTP_EXPORT_BUCKETS; i++) {
        if (ms <= ngx_http_export_buckets[i]) {
            (void) ngx_atomic_fetch_add(&st->buckets[i], 1);
        }
    }
}


ngx_int_t
ngx_http_export_status_handler(ngx_http_request_t *r)
{
    ngx_int_t     rc;
    ngx_str_t     format;
    ngx_uint_t    prometheus;
    ngx_array_t   zones, quotas;
    ngx_chain_t   out;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    prometheus = 0;

    if (ngx_http_arg(r, (u_char *) "format", 6, &format) == NGX_OK) {
        prometheus = (format.len == 10
                      && ngx_strncmp(format.data, "prometheus", 10) == 0);

    } else if (r->headers_in.accept
               && ngx_strlcasestrn(r->headers_in.accept->value.data,
                                   r->headers_in.accept->value.data
                                   + r->headers_in.accept->value.len,
                                   (u_char *) "text/plain", 10 - 1)
                  != NULL)
    {
        prometheus = 1;
    }

    if (ngx_array_init(&zones, r->pool, 2,
                       sizeof(ngx_http_export_zone_report_t))
        != NGX_OK
        || ngx_array_init(&quotas, r->pool, 2,
                          sizeof(ngx_http_export_quota_report_t))
           != NGX_OK
        || ngx_http_export_status_collect(r, &zones, &quotas) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    out.next = NULL;

    rc = prometheus
         ? ngx_http_export_status_prometheus(r, &zones, &quotas, &out)
         : ngx_http_export_status_json(r, &zones, &quotas, &out);

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = out.buf->last - out.buf->pos;

    if (r->method == NGX_HTTP_HEAD) {
        r->header_only = 1;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    return ngx_http_output_filter(r, &out);
}


/*
 * Takes a copy of every zone's figures.  Tasks by state are counted by a
 * walk of the zone under its lock: a status request is rare next to the
 * state changes it would otherwise cost.
 */

static ngx_int_t
ngx_http_export_status_collect(ngx_http_request_t *r, ngx_array_t *zones,
    ngx_array_t *quotas)
{
    ngx_uint_t                       i;
    ngx_queue_t                     *q;
    ngx_list_part_t                 *part;
    ngx_shm_zone_t                  *shm_zone;
    ngx_slab_pool_t                 *shpool;
    ngx_http_export_zone_t          *zone;
    ngx_http_export_task_t          *task;
    ngx_http_export_zone_report_t   *zr;
    ngx_http_export_quota_report_t  *qr;

    part = &((ngx_cycle_t *) ngx_cycle)->shared_memory.part;
    shm_zone = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            shm_zone = part->elts;
            i = 0;
        }

        if (shm_zone[i].tag != &ngx_http_export_module) {
            continue;
        }

        shpool = (ngx_slab_pool_t *) shm_zone[i].shm.addr;

        if (ngx_http_export_is_quota_zone(&shm_zone[i])) {
            qr = ngx_array_push(quotas);
            if (qr == NULL) {
                return NGX_ERROR;
            }

            qr->name = shm_zone[i].shm.name;
            qr->entries = ngx_http_export_quota_entries(&shm_zone[i]);
            qr->size = shm_zone[i].shm.size;
            qr->free = shpool->pfree * ngx_pagesize;
            continue;
        }

        zone = shm_zone[i].data;

        zr = ngx_array_push(zones);
        if (zr == NULL) {
            return NGX_ERROR;
        }

        ngx_memzero(zr, sizeof(ngx_http_export_zone_report_t));

        zr->name = shm_zone[i].shm.name;
        zr->node = zone->node;
        zr->size = shm_zone[i].shm.size;

        ngx_shmtx_lock(&zone->shpool->mutex);

        zr->free = zone->shpool->pfree * ngx_pagesize;
        ngx_memcpy(&zr->stats, (void *) &zone->sh->stats,
                   sizeof(ngx_http_export_stats_t));

        for (q = ngx_queue_head(&zone->sh->queue);
             q != ngx_queue_sentinel(&zone->sh->queue);
             q = ngx_queue_next(q))
        {
            task = ngx_queue_data(q, ngx_http_export_task_t, queue);

            /* what the zone remembers of runs the store lacks is no task */

            if (task->state <= NGX_HTTP_EXPORT_FAILED && !task->unknown) {
                zr->tasks[task->state]++;
            }
        }

        ngx_shmtx_unlock(&zone->shpool->mutex);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_export_status_json(ngx_http_request_t *r, ngx_array_t *zones,
    ngx_array_t *quotas, ngx_chain_t *out)
{
    u_char                          *p, le[NGX_ATOMIC_T_LEN + 8];
    size_t                           len;
    yajl_gen                         g;
    ngx_buf_t                       *b;
    ngx_uint_t                       i, s;
    const char                      *name;
    const unsigned char             *json;
    ngx_http_export_zone_report_t   *zr;
    ngx_http_export_quota_report_t  *qr;

    g = yajl_gen_alloc(NULL);
    if (g == NULL) {
        return NGX_ERROR;
    }

    yajl_gen_map_open(g);

    ngx_http_export_gen_key(g, "version");
    ngx_http_export_gen_key(g, NGX_HTTP_EXPORT_VERSION);

    ngx_http_export_gen_key(g, "zones");
    yajl_gen_map_open(g);

    zr = zones->elts;

    for (i = 0; i < zones->nelts; i++) {
        yajl_gen_string(g, zr[i].name.data, zr[i].name.len);
        yajl_gen_map_open(g);

        ngx_http_export_gen_key(g, "node");
        yajl_gen_string(g, zr[i].node.data, zr[i].node.len);

        ngx_http_export_gen_key(g, "tasks");
        yajl_gen_map_open(g);
        for (s = 0; s <= NGX_HTTP_EXPORT_FAILED; s++) {
            name = ngx_http_export_state_name(s);
            yajl_gen_string(g, (u_char *) name, ngx_strlen(name));
            yajl_gen_integer(g, zr[i].tasks[s]);
        }
        yajl_gen_map_close(g);

        ngx_http_export_gen_key(g, "created");
        yajl_gen_integer(g, zr[i].stats.created);
        ngx_http_export_gen_key(g, "completed");
        yajl_gen_integer(g, zr[i].stats.completed);
        ngx_http_export_gen_key(g, "failed");
        yajl_gen_integer(g, zr[i].stats.failed);
        ngx_http_export_gen_key(g, "cancelled");
        yajl_gen_integer(g, zr[i].stats.cancelled);
        ngx_http_export_gen_key(g, "bytesWritten");
        yajl_gen_integer(g, zr[i].stats.bytes);

        ngx_http_export_gen_key(g, "store");
        yajl_gen_map_open(g);
        ngx_http_export_gen_key(g, "lookups");
        yajl_gen_integer(g, zr[i].stats.lookups);
        ngx_http_export_gen_key(g, "takeovers");
        yajl_gen_integer(g, zr[i].stats.takeovers);
        ngx_http_export_gen_key(g, "lostClaims");
        yajl_gen_integer(g, zr[i].stats.lost);
        yajl_gen_map_close(g);

        ngx_http_export_gen_key(g, "rejected");
        yajl_gen_map_open(g);
        ngx_http_export_gen_key(g, "429");
        yajl_gen_integer(g, zr[i].stats.rejected_429);
        ngx_http_export_gen_key(g, "503");
        yajl_gen_integer(g, zr[i].stats.rejected_503);
        yajl_gen_map_close(g);

        ngx_http_export_gen_key(g, "generationSeconds");
        yajl_gen_map_open(g);
        ngx_http_export_gen_key(g, "count");
        yajl_gen_integer(g, zr[i].stats.buckets[NGX_HTTP_EXPORT_BUCKETS - 1]);
        ngx_http_export_gen_key(g, "sum");
        p = ngx_sprintf(le, "%uA.%03uA", zr[i].stats.seconds_ms / 1000,
                        zr[i].stats.seconds_ms % 1000);
        yajl_gen_number(g, (const char *) le, p - le);
        ngx_http_export_gen_key(g, "buckets");
        yajl_gen_map_open(g);
        for (s = 0; s < NGX_HTTP_EXPORT_BUCKETS; s++) {
            if (s == NGX_HTTP_EXPORT_BUCKETS - 1) {
                p = ngx_cpymem(le, "+Inf", 4);

            } else {
                p = ngx_sprintf(le, "%M.%01M",
                                ngx_http_export_buckets[s] / 1000,
                                ngx_http_export_buckets[s] % 1000 / 100);
            }

            yajl_gen_string(g, le, p - le);
            yajl_gen_integer(g, zr[i].stats.buckets[s]);
        }
        yajl_gen_map_close(g);
        yajl_gen_map_close(g);

        ngx_http_export_gen_key(g, "memory");
        yajl_gen_map_open(g);
        ngx_http_export_gen_key(g, "size");
        yajl_gen_integer(g, zr[i].size);
        ngx_http_export_gen_key(g, "free");
        yajl_gen_integer(g, zr[i].free);
        yajl_gen_map_close(g);

        yajl_gen_map_close(g);
    }

    yajl_gen_map_close(g);

    ngx_http_export_gen_key(g, "quotaZones");
    yajl_gen_map_open(g);

    qr = quotas->elts;

    for (i = 0; i < quotas->nelts; i++) {
        yajl_gen_string(g, qr[i].name.data, qr[i].name.len);
        yajl_gen_map_open(g);
        ngx_http_export_gen_key(g, "entries");
        yajl_gen_integer(g, qr[i].entries);
        ngx_http_export_gen_key(g, "memory");
        yajl_gen_map_open(g);
        ngx_http_export_gen_key(g, "size");
        yajl_gen_integer(g, qr[i].size);
        ngx_http_export_gen_key(g, "free");
        yajl_gen_integer(g, qr[i].free);
        yajl_gen_map_close(g);
        yajl_gen_map_close(g);
    }

    yajl_gen_map_close(g);
    yajl_gen_map_close(g);

    if (yajl_gen_get_buf(g, &json, &len) != yajl_gen_status_ok) {
        yajl_gen_free(g);
        return NGX_ERROR;
    }

    b = ngx_create_temp_buf(r->pool, len + 1);
    if (b == NULL) {
        yajl_gen_free(g);
        return NGX_ERROR;
    }

    b->last = ngx_cpymem(b->last, json, len);
    *b->last++ = LF;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    yajl_gen_free(g);

    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;

    out->buf = b;

    return NGX_OK;
}


static ngx_int_t
ngx_http_export_status_prometheus(ngx_http_request_t *r, ngx_array_t *zones,
    ngx_array_t *quotas, ngx_chain_t *out)
{
    u_char                          *p;
    size_t                           len;
    ngx_buf_t                       *b;
    ngx_uint_t                       i, s;
    ngx_http_export_zone_report_t   *zr;
    ngx_http_export_quota_report_t  *qr;

    zr = zones->elts;
    qr = quotas->elts;

    /* generous: every line fits in 256 bytes plus the zone's name */

    len = 4096;

    for (i = 0; i < zones->nelts; i++) {
        len += 40 * (256 + zr[i].name.len);
    }

    for (i = 0; i < quotas->nelts; i++) {
        len += 4 * (256 + qr[i].name.len);
    }

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NGX_ERROR;
    }

    p = b->last;

    p = ngx_sprintf(p,
            "# HELP nginx_export_info The export module's version.\n"
            "# TYPE nginx_export_info gauge\n"
            "nginx_export_info{version=\"" NGX_HTTP_EXPORT_VERSION "\"} 1\n");

    p = ngx_sprintf(p,
            "# HELP nginx_export_node The node that each zone belongs to "
            "(export_node).\n"
            "# TYPE nginx_export_node gauge\n");

    for (i = 0; i < zones->nelts; i++) {
        p = ngx_sprintf(p, "nginx_export_node{zone=\"%V\",node=\"%V\"} 1\n",
                        &zr[i].name, &zr[i].node);
    }

    p = ngx_sprintf(p,
            "# HELP nginx_export_tasks Export tasks in the zone, by state.\n"
            "# TYPE nginx_export_tasks gauge\n");

    for (i = 0; i < zones->nelts; i++) {
        for (s = 0; s <= NGX_HTTP_EXPORT_FAILED; s++) {
            p = ngx_sprintf(p, "nginx_export_tasks{zone=\"%V\",state=\"%s\"}"
                            " %ui\n", &zr[i].name,
                            ngx_http_export_state_name(s), zr[i].tasks[s]);
        }
    }

#define ngx_http_export_counter(metric, help, field)                          \
    p = ngx_sprintf(p, "# HELP nginx_export_" metric " " help "\n"            \
                       "# TYPE nginx_export_" metric " counter\n");           \
    for (i = 0; i < zones->nelts; i++) {                                      \
        p = ngx_sprintf(p, "nginx_export_" metric "{zone=\"%V\"} %uA\n",      \
                        &zr[i].name, zr[i].stats.field);                      \
    }

    ngx_http_export_counter("created_total", "Exports created.", created)
    ngx_http_export_counter("completed_total", "Exports completed.",
                            completed)
    ngx_http_export_counter("failed_total", "Exports failed.", failed)
    ngx_http_export_counter("cancelled_total",
                            "Exports deleted before they finished.",
                            cancelled)
    ngx_http_export_counter("bytes_written_total",
                            "Bytes of completed archives.", bytes)
    ngx_http_export_counter("store_lookups_total",
                            "Looks at the shared store for a task the zone "
                            "did not know.", lookups)
    ngx_http_export_counter("takeovers_total",
                            "Builds this node took over from a node that "
                            "stopped.", takeovers)
    ngx_http_export_counter("lost_claims_total",
                            "Builds of this node that another node took "
                            "over.", lost)

#undef ngx_http_export_counter

    p = ngx_sprintf(p,
            "# HELP nginx_export_rejected_total Exports refused, by status.\n"
            "# TYPE nginx_export_rejected_total counter\n");

    for (i = 0; i < zones->nelts; i++) {
        p = ngx_sprintf(p, "nginx_export_rejected_total{zone=\"%V\","
                        "status=\"429\"} %uA\n"
                        "nginx_export_rejected_total{zone=\"%V\","
                        "status=\"503\"} %uA\n",
                        &zr[i].name, zr[i].stats.rejected_429,
                        &zr[i].name, zr[i].stats.rejected_503);
    }

    p = ngx_sprintf(p,
            "# HELP nginx_export_generation_seconds Time to generate an "
            "archive.\n"
            "# TYPE nginx_export_generation_seconds histogram\n");

    for (i = 0; i < zones->nelts; i++) {
        for (s = 0; s < NGX_HTTP_EXPORT_BUCKETS - 1; s++) {
            p = ngx_sprintf(p, "nginx_export_generation_seconds_bucket"
                            "{zone=\"%V\",le=\"%M.%01M\"} %uA\n",
                            &zr[i].name,
                            ngx_http_export_buckets[s] / 1000,
                            ngx_http_export_buckets[s] % 1000 / 100,
                            zr[i].stats.buckets[s]);
        }

        p = ngx_sprintf(p, "nginx_export_generation_seconds_bucket"
                        "{zone=\"%V\",le=\"+Inf\"} %uA\n"
                        "nginx_export_generation_seconds_sum{zone=\"%V\"} "
                        "%uA.%03uA\n"
                        "nginx_export_generation_seconds_count{zone=\"%V\"} "
                        "%uA\n",
                        &zr[i].name,
                        zr[i].stats.buckets[NGX_HTTP_EXPORT_BUCKETS - 1],
                        &zr[i].name, zr[i].stats.seconds_ms / 1000,
                        zr[i].stats.seconds_ms % 1000,
                        &zr[i].name,
                        zr[i].stats.buckets[NGX_HTTP_EXPORT_BUCKETS - 1]);
    }

    p = ngx_sprintf(p,
            "# HELP nginx_export_zone_bytes Size of the shared zone.\n"
            "# TYPE nginx_export_zone_bytes gauge\n");

    for (i = 0; i < zones->nelts; i++) {
        p = ngx_sprintf(p, "nginx_export_zone_bytes{zone=\"%V\"} %uz\n",
                        &zr[i].name, zr[i].size);
    }

    for (i = 0; i < quotas->nelts; i++) {
        p = ngx_sprintf(p, "nginx_export_zone_bytes{zone=\"%V\"} %uz\n",
                        &qr[i].name, qr[i].size);
    }

    p = ngx_sprintf(p,
            "# HELP nginx_export_zone_free_bytes Free pages of the shared "
            "zone, in bytes.\n"
            "# TYPE nginx_export_zone_free_bytes gauge\n");

    for (i = 0; i < zones->nelts; i++) {
        p = ngx_sprintf(p, "nginx_export_zone_free_bytes{zone=\"%V\"} %uz\n",
                        &zr[i].name, zr[i].free);
    }

    for (i = 0; i < quotas->nelts; i++) {
        p = ngx_sprintf(p, "nginx_export_zone_free_bytes{zone=\"%V\"} %uz\n",
                        &qr[i].name, qr[i].free);
    }

    p = ngx_sprintf(p,
            "# HELP nginx_export_quota_entries Clients the quota zone "
            "tracks.\n"
            "# TYPE nginx_export_quota_entries gauge\n");

    for (i = 0; i < quotas->nelts; i++) {
        p = ngx_sprintf(p, "nginx_export_quota_entries{zone=\"%V\"} %ui\n",
                        &qr[i].name, qr[i].entries);
    }

    b->last = p;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    ngx_str_set(&r->headers_out.content_type,
                "text/plain; version=0.0.4; charset=utf-8");
    r->headers_out.content_type_len = r->headers_out.content_type.len;

    out->buf = b;

    return NGX_OK;
}
