
/*
 * Temporary files in the store (.export-<task>.tmp archives being
 * built, .export-<task>.meta metadata being written): made under an
 * exclusive lock that their writer holds until they are renamed into
 * place, and removed by a sweep only when nobody holds that lock.
 */


#ifndef _NGX_HTTP_EXPORT_TMPFILE_H_INCLUDED_
#define _NGX_HTTP_EXPORT_TMPFILE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/* a file still without permission bits this young may not be locked yet */
#define NGX_HTTP_EXPORT_TMP_GRACE   60


/* "owned": whether a build of this node holds the file, or NULL */
typedef ngx_uint_t (*ngx_http_export_tmp_owned_pt)(void *data,
    const char *name);


int ngx_http_export_tmp_create(u_char *path);
ngx_int_t ngx_http_export_tmp_stale(int dfd, const char *name, time_t now,
    ngx_http_export_tmp_owned_pt owned, void *data, ngx_log_t *log);
ngx_uint_t ngx_http_export_tmp_sweep(u_char *store, time_t now,
    ngx_http_export_tmp_owned_pt owned, void *data, ngx_uint_t *left,
    ngx_log_t *log);


#endif /* _NGX_HTTP_EXPORT_TMPFILE_H_INCLUDED_ */
