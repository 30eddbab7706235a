
/*
 * Opening a run directory and its reports without following links out
 * of it (export_disable_symlinks).  Plain system calls: the generation
 * thread uses them.
 */


#ifndef _NGX_HTTP_EXPORT_RUNDIR_H_INCLUDED_
#define _NGX_HTTP_EXPORT_RUNDIR_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/* export_disable_symlinks, as nginx's disable_symlinks */
#define NGX_HTTP_EXPORT_SYMLINKS_OFF       0
#define NGX_HTTP_EXPORT_SYMLINKS_ON        1
#define NGX_HTTP_EXPORT_SYMLINKS_NOTOWNER  2


size_t ngx_http_export_rundir_from(u_char *dir, u_char *from);
int ngx_http_export_rundir_open(u_char *dir, size_t from, ngx_uint_t mode);
ngx_int_t ngx_http_export_rundir_stat(int dfd, const char *name,
    ngx_uint_t mode, struct stat *st, const char **why);
int ngx_http_export_rundir_report(int dfd, const char *name,
    ngx_uint_t mode, const char **why);


#endif /* _NGX_HTTP_EXPORT_RUNDIR_H_INCLUDED_ */
