
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
