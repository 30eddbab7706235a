
/*
 * Small helpers shared by the units: UUIDs (libuuid) and the request
 * context.
 */


#include "ngx_http_export_module.h"

#include <uuid/uuid.h>


void
ngx_http_export_uuid(u_char *bin)
{
    uuid_generate_random(bin);
}


u_char *
ngx_http_export_uuid_text(u_char *p, u_char *bin)
{
    char  text[NGX_HTTP_EXPORT_UUID_LEN + 1];

    uuid_unparse_lower(bin, text);

    return ngx_cpymem(p, text, NGX_HTTP_EXPORT_UUID_LEN);
}


/*
 * Accepts only the canonical 8-4-4-4-12 form, in either case; libuuid's
 * own parser is laxer than the API promises.
 */

ngx_int_t
ngx_http_export_uuid_parse(u_char *bin, u_char *text, size_t len)
{
    u_char      c, hi;
    ngx_uint_t  i, n, half;

    if (len != NGX_HTTP_EXPORT_UUID_LEN) {
        return NGX_ERROR;
    }

    n = 0;
    half = 0;
    hi = 0;

    for (i = 0; i < len; i++) {
        c = text[i];

        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-') {
                return NGX_ERROR;
            }

            continue;
        }

        if (c >= '0' && c <= '9') {
            c -= '0';

        } else {
            c |= 0x20;

            if (c >= 'a' && c <= 'f') {
                c = c - 'a' + 10;

            } else {
                return NGX_ERROR;
            }
        }

        if (half == 0) {
            hi = c;
            half = 1;

        } else {
            bin[n++] = (u_char) (hi << 4 | c);
            half = 0;
        }
    }

    return NGX_OK;
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
 * a UUID (made canonical, lower case), a decimal number of up to 15 digits, exact
 * in JavaScript too (WebAdMIT), or
 * up to 64 letters, digits, "-" and "_" (ArcGIS; also what a download
 * link may name).  NGX_DECLINED when it is not one; "value" is what was
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
    u_char      bin[16], c;
    ngx_uint_t  i;

    if (value->len == NGX_HTTP_EXPORT_UUID_LEN
        && style != NGX_HTTP_EXPORT_WEBADMIT
        && ngx_http_export_uuid_parse(bin, value->data, value->len) == NGX_OK)
    {
        run->data = ngx_pnalloc(pool, NGX_HTTP_EXPORT_UUID_LEN);
        if (run->data == NULL) {
            return NGX_ERROR;
        }

        run->len = ngx_http_export_uuid_text(run->data, bin) - run->data;

        return NGX_OK;
    }

    if (style == NGX_HTTP_EXPORT_VMWARE
        || value->len == 0 || value->len > NGX_HTTP_EXPORT_RUN_MAX)
    {
        return NGX_DECLINED;
    }

    for (i = 0; i < value->len; i++) {
        c = value->data[i];

        if (style == NGX_HTTP_EXPORT_WEBADMIT) {
            if (c < '0' || c > '9' || (i == 0 && c == '0') || i == 15) {
                return NGX_DECLINED;
            }

            continue;
        }

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '-' || c == '_'))
        {
            return NGX_DECLINED;
        }
    }

    *run = *value;

    return NGX_OK;
}
