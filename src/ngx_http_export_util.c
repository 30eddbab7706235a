
/*
 * Small helpers shared by the units: UUIDs and the request context.
 */


#include "ngx_http_export_module.h"
#include "ngx_export_json.h"

#include <pthread.h>
#include <sys/random.h>
#include <uuid/uuid.h>


#define NGX_HTTP_EXPORT_RANDOM_BATCH  4096


static ngx_int_t ngx_http_export_random(u_char *buf, size_t len);


/*
 * Random bytes for version 4 UUIDs come from a per-process batch that
 * one getrandom() fills for 256 UUIDs.  The event loop takes almost all
 * of them; the generation threads (a FAILED task's referenceToken) and
 * the master (recovery at start) take a few, hence the mutex.  A batch
 * left by the process that forked this one is never used: ngx_pid tells.
 */

static pthread_mutex_t  ngx_http_export_random_mutex =
    PTHREAD_MUTEX_INITIALIZER;
static u_char           ngx_http_export_random_buf[
                            NGX_HTTP_EXPORT_RANDOM_BATCH];
static size_t           ngx_http_export_random_pos =
                            NGX_HTTP_EXPORT_RANDOM_BATCH;
static ngx_pid_t        ngx_http_export_random_pid;


static ngx_int_t
ngx_http_export_random(u_char *buf, size_t len)
{
    size_t     pos;
    ssize_t    n;
    ngx_int_t  rc;

    rc = NGX_OK;

    (void) pthread_mutex_lock(&ngx_http_export_random_mutex);

    pos = ngx_http_export_random_pos;

    if (ngx_http_export_random_pid != ngx_pid
        || pos + len > NGX_HTTP_EXPORT_RANDOM_BATCH)
    {
        for (pos = 0; pos < NGX_HTTP_EXPORT_RANDOM_BATCH; pos += n) {
            n = getrandom(ngx_http_export_random_buf + pos,
                          NGX_HTTP_EXPORT_RANDOM_BATCH - pos, 0);

            if (n <= 0) {
                if (n == -1 && ngx_errno == NGX_EINTR) {
                    n = 0;
                    continue;
                }

                break;
            }
        }

        if (pos < NGX_HTTP_EXPORT_RANDOM_BATCH) {
            ngx_http_export_random_pos = NGX_HTTP_EXPORT_RANDOM_BATCH;
            rc = NGX_ERROR;
            goto done;
        }

        ngx_http_export_random_pid = ngx_pid;
        pos = 0;
    }

    ngx_memcpy(buf, ngx_http_export_random_buf + pos, len);
    ngx_http_export_random_pos = pos + len;

done:

    (void) pthread_mutex_unlock(&ngx_http_export_random_mutex);

    return rc;
}


void
ngx_http_export_uuid(u_char *bin)
{
    if (ngx_http_export_random(bin, 16) != NGX_OK) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, ngx_errno,
                      "export: getrandom() failed; this UUID comes from "
                      "libuuid instead");

        uuid_generate_random(bin);
        return;
    }

    /* RFC 4122: version 4 (random), variant 10xx */

    bin[6] = (u_char) ((bin[6] & 0x0f) | 0x40);
    bin[8] = (u_char) ((bin[8] & 0x3f) | 0x80);
}


/*
 * Decimal text and RFC 3339 times without ngx_sprintf(): a status GET
 * prints a few numbers and three times, and the format parser cost more
 * than the digits.  The status body's writer has them (ngx_export_json.c,
 * tested against gmtime_r()); the other units use the same.
 */

u_char *
ngx_http_export_uint(u_char *p, uint64_t n)
{
    return exj_uint(p, n);
}


/* 2026-11-22T16:00:00Z */

u_char *
ngx_http_export_rfc3339(u_char *p, time_t t)
{
    return exj_rfc3339(p, t);
}


u_char *
ngx_http_export_uuid_text(u_char *p, u_char *bin)
{
    return exp_uuid_text(p, bin);
}


/* the canonical 8-4-4-4-12 form only (exp_uuid_parse()) */

ngx_int_t
ngx_http_export_uuid_parse(u_char *bin, u_char *text, size_t len)
{
    return exp_uuid_parse(bin, text, len) == 0 ? NGX_OK : NGX_ERROR;
}


ngx_http_export_ctx_t *
ngx_http_export_get_ctx(ngx_http_request_t *r)
{
    ngx_http_export_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_export_module);

    if (ctx) {
        return ctx;
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_export_ctx_t));
    if (ctx == NULL) {
        return NULL;
    }

    ctx->request = r;

    ngx_http_set_ctx(r, ctx, ngx_http_export_module);

    return ctx;
}


/* the wall clock in milliseconds, in any thread */

uint64_t
ngx_http_export_now_ms(void)
{
    struct timeval  tv;

    ngx_gettimeofday(&tv);

    return (uint64_t) tv.tv_sec * 1000 + tv.tv_usec / 1000;
}


/*
 * A run id from the location's export_run_id, checked for the style:
 * a UUID (made canonical, lower case), a decimal number of up to 15
 * digits, exact in JavaScript too (WebAdMIT), or up to 64 letters,
 * digits, "-" and "_" (ArcGIS; also what a download link may name).  NGX_DECLINED when it is not one; "value" is what was
 * given, for the error.
 */

ngx_int_t
ngx_http_export_run_id(ngx_http_request_t *r, ngx_http_complex_value_t *cv,
    ngx_uint_t style, ngx_str_t *run, ngx_str_t *value)
{
    if (ngx_http_complex_value(r, cv, value) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_export_run_check(r->pool, value, style, run);
}


ngx_int_t
ngx_http_export_run_check(ngx_pool_t *pool, ngx_str_t *value,
    ngx_uint_t style, ngx_str_t *run)
{
    u_char          canon[NGX_HTTP_EXPORT_UUID_LEN];
    exp_run_kind_e  kind;

    kind = (style == NGX_HTTP_EXPORT_VMWARE) ? EXP_RUN_UUID
           : (style == NGX_HTTP_EXPORT_WEBADMIT) ? EXP_RUN_NUMBER
           : EXP_RUN_NAME;

    switch (exp_run_check(value->data, value->len, kind, canon)) {

    case EXP_RUN_CANON:
        if (ngx_memcmp(canon, value->data, NGX_HTTP_EXPORT_UUID_LEN) == 0) {
            /* in lower case already */
            break;
        }

        run->data = ngx_pnalloc(pool, NGX_HTTP_EXPORT_UUID_LEN);
        if (run->data == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(run->data, canon, NGX_HTTP_EXPORT_UUID_LEN);
        run->len = NGX_HTTP_EXPORT_UUID_LEN;

        return NGX_OK;

    case EXP_RUN_ASIS:
        break;

    default:
        return NGX_DECLINED;
    }

    *run = *value;

    return NGX_OK;
}
