
/*
 * ngx_http_export_module: directives, configuration, variables and the
 * per-worker housekeeping timer.
 */


#include "ngx_http_export_module.h"
#include "ngx_http_export_cluster.h"
#include "ngx_http_export_rundir.h"
#include "ngx_export_zip.h"



typedef struct {
    ngx_array_t                 zones;        /* ngx_http_export_zone_t * */
    ngx_array_t                 stores;       /* ngx_str_t */
    ngx_uint_t                  check_user;   /* "user" came after http */
    ngx_str_t                   node;         /* export_node */
    ngx_msec_t                  lease;        /* export_lease */
    ngx_str_t                   store_pool;   /* export_store_thread_pool */
    ngx_flag_t                  parallel;     /* export_parallel_deflate */
} ngx_http_export_main_conf_t;


static ngx_int_t ngx_http_export_check_user(ngx_log_t *log,
    ngx_http_export_main_conf_t *emcf, ngx_core_conf_t *ccf);


static void *ngx_http_export_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_export_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_export_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static void ngx_http_export_body_limit(ngx_http_export_loc_conf_t *conf);
static ngx_int_t ngx_http_export_add_variables(ngx_conf_t *cf);
static ngx_int_t ngx_http_export_check_stores(ngx_conf_t *cf);
static ngx_int_t ngx_http_export_cluster_conf(ngx_conf_t *cf);
static ngx_int_t ngx_http_export_init_module(ngx_cycle_t *cycle);
static ngx_int_t ngx_http_export_init_process(ngx_cycle_t *cycle);
static void ngx_http_export_exit_process(ngx_cycle_t *cycle);

static char *ngx_http_export_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_export_node(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_export_roots(ngx_conf_t *cf,
    ngx_http_export_zone_t *zone, ngx_http_complex_value_t *source);

static char *ngx_http_export_handler_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_export_store(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_export_status(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_export_link_secret(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_export_level(ngx_conf_t *cf, void *post, void *data);
static char *ngx_http_export_lease(ngx_conf_t *cf, void *post, void *data);
static char *ngx_http_export_disable_symlinks(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);

static ngx_int_t ngx_http_export_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static void ngx_http_export_housekeeping(ngx_event_t *ev);


static ngx_conf_post_handler_pt  ngx_http_export_level_p =
    ngx_http_export_level;
static ngx_conf_post_handler_pt  ngx_http_export_lease_p =
    ngx_http_export_lease;


/* in the order of ngx_http_export_style_e */
static ngx_str_t  ngx_http_export_style_names[] = {
    ngx_string("vmware"),
    ngx_string("arcgis"),
    ngx_string("uniware"),
    ngx_string("webadmit"),
    ngx_null_string
};


static ngx_command_t  ngx_http_export_commands[] = {

    { ngx_string("export_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE12,
      ngx_http_export_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("export_node"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_export_node,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("export_lease"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_export_main_conf_t, lease),
      &ngx_http_export_lease_p },

    { ngx_string("export_parallel_deflate"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_export_main_conf_t, parallel),
      NULL },

    { ngx_string("export_store_thread_pool"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_export_main_conf_t, store_pool),
      NULL },

    { ngx_string("export_quota_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_2MORE,
      ngx_http_export_quota_zone,
      0,
      0,
      NULL },

    { ngx_string("export_quota"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_export_quota,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("export_api"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_export_handler_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      NGX_HTTP_EXPORT_API,
      NULL },

    { ngx_string("export_download"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_export_handler_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      NGX_HTTP_EXPORT_DOWNLOAD,
      NULL },

    { ngx_string("export_data"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_export_handler_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      NGX_HTTP_EXPORT_DATA,
      NULL },

    { ngx_string("export_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_export_status,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("export_run_id"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_set_complex_value_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_export_loc_conf_t, run_id),
      NULL },

    { ngx_string("export_task_id"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_set_complex_value_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_export_loc_conf_t, task_id),
      NULL },

    { ngx_string("export_job_uri"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_set_complex_value_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_export_loc_conf_t, job_uri),
      NULL },

    { ngx_string("export_download_uri"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_set_complex_value_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_export_loc_conf_t, link_uri),
      NULL },

    { ngx_string("export_source"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_set_complex_value_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_export_loc_conf_t, source),
      NULL },

    { ngx_string("export_store"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_export_store,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("export_thread_pool"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_export_loc_conf_t, thread_pool_name),
      NULL },

    { ngx_string("export_ttl"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_export_loc_conf_t, ttl),
      NULL },

    { ngx_string("export_link_secret"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_export_link_secret,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("export_link_ttl"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_export_loc_conf_t, link_ttl),
      NULL },

    { ngx_string("export_wait_max"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_export_loc_conf_t, wait_max),
      NULL },

    { ngx_string("export_compression_level"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_export_loc_conf_t, level),
      &ngx_http_export_level_p },

    { ngx_string("export_csv_formula_guard"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_export_loc_conf_t, formula_guard),
      NULL },

    { ngx_string("export_csv_bom"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_export_loc_conf_t, csv_bom),
      NULL },

    { ngx_string("export_max_report_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_export_loc_conf_t, max_report_size),
      NULL },

    { ngx_string("export_max_body_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_export_loc_conf_t, max_body_size),
      NULL },

    { ngx_string("export_max_columns"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_export_loc_conf_t, max_columns),
      NULL },

    { ngx_string("export_disable_symlinks"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_export_disable_symlinks,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_export_module_ctx = {
    ngx_http_export_add_variables,         /* preconfiguration */
    ngx_http_export_check_stores,          /* postconfiguration */

    ngx_http_export_create_main_conf,      /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_export_create_loc_conf,       /* create location configuration */
    ngx_http_export_merge_loc_conf         /* merge location configuration */
};


ngx_module_t  ngx_http_export_module = {
    NGX_MODULE_V1,
    &ngx_http_export_module_ctx,           /* module context */
    ngx_http_export_commands,              /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    ngx_http_export_init_module,           /* init module */
    ngx_http_export_init_process,          /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_export_exit_process,          /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


enum {
    NGX_HTTP_EXPORT_VAR_TASK_ID = 0,
    NGX_HTTP_EXPORT_VAR_RUN_ID,
    NGX_HTTP_EXPORT_VAR_STATUS,
    NGX_HTTP_EXPORT_VAR_REFERENCE,
    NGX_HTTP_EXPORT_VAR_JOB_ID,
    NGX_HTTP_EXPORT_VAR_TOKEN
};


static ngx_http_variable_t  ngx_http_export_vars[] = {

    { ngx_string("export_task_id"), NULL, ngx_http_export_variable,
      NGX_HTTP_EXPORT_VAR_TASK_ID, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("export_run_id"), NULL, ngx_http_export_variable,
      NGX_HTTP_EXPORT_VAR_RUN_ID, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("export_status"), NULL, ngx_http_export_variable,
      NGX_HTTP_EXPORT_VAR_STATUS, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("export_reference_token"), NULL, ngx_http_export_variable,
      NGX_HTTP_EXPORT_VAR_REFERENCE, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("export_job_id"), NULL, ngx_http_export_variable,
      NGX_HTTP_EXPORT_VAR_JOB_ID, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("export_token"), NULL, ngx_http_export_variable,
      NGX_HTTP_EXPORT_VAR_TOKEN, NGX_HTTP_VAR_NOCACHEABLE|NGX_HTTP_VAR_NOHASH,
      0 },

      ngx_http_null_variable
};


static void *
ngx_http_export_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_export_main_conf_t  *emcf;

    emcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_export_main_conf_t));
    if (emcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&emcf->zones, cf->pool, 2,
                       sizeof(ngx_http_export_zone_t *))
        != NGX_OK)
    {
        return NULL;
    }

    if (ngx_array_init(&emcf->stores, cf->pool, 2, sizeof(ngx_str_t))
        != NGX_OK)
    {
        return NULL;
    }

    emcf->lease = NGX_CONF_UNSET_MSEC;
    emcf->parallel = NGX_CONF_UNSET;

    return emcf;
}


static void *
ngx_http_export_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_export_loc_conf_t  *elcf;

    elcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_export_loc_conf_t));
    if (elcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     elcf->handler = NGX_HTTP_EXPORT_NONE;
     *     elcf->shm_zone = NULL;
     *     elcf->store = { 0, NULL };
     *     elcf->thread_pool_name = { 0, NULL };
     *     elcf->link_key = { 0, NULL };
     */

    elcf->run_id = NGX_CONF_UNSET_PTR;
    elcf->task_id = NGX_CONF_UNSET_PTR;
    elcf->job_uri = NGX_CONF_UNSET_PTR;
    elcf->link_uri = NGX_CONF_UNSET_PTR;
    elcf->source = NGX_CONF_UNSET_PTR;
    elcf->ttl = NGX_CONF_UNSET;
    elcf->link_ttl = NGX_CONF_UNSET;
    elcf->wait_max = NGX_CONF_UNSET;
    elcf->level = NGX_CONF_UNSET;
    elcf->formula_guard = NGX_CONF_UNSET;
    elcf->csv_bom = NGX_CONF_UNSET;
    elcf->max_report_size = NGX_CONF_UNSET_SIZE;
    elcf->max_columns = NGX_CONF_UNSET_UINT;
    elcf->max_body_size = NGX_CONF_UNSET_SIZE;
    elcf->quotas = NGX_CONF_UNSET_PTR;
    elcf->disable_symlinks = NGX_CONF_UNSET_UINT;
    elcf->disable_symlinks_from = NGX_CONF_UNSET_PTR;

    return elcf;
}


static char *
ngx_http_export_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_export_loc_conf_t *prev = parent;
    ngx_http_export_loc_conf_t *conf = child;

    ngx_str_t               *s;
    ngx_uint_t               i;
    ngx_http_export_zone_t  *zone;

    ngx_conf_merge_ptr_value(conf->run_id, prev->run_id, NULL);
    ngx_conf_merge_ptr_value(conf->task_id, prev->task_id, NULL);
    ngx_conf_merge_ptr_value(conf->job_uri, prev->job_uri, NULL);
    ngx_conf_merge_ptr_value(conf->link_uri, prev->link_uri, NULL);
    ngx_conf_merge_ptr_value(conf->source, prev->source, NULL);
    ngx_conf_merge_str_value(conf->store, prev->store, "");
    ngx_conf_merge_str_value(conf->thread_pool_name, prev->thread_pool_name,
                             "default");
    ngx_conf_merge_sec_value(conf->ttl, prev->ttl, 3600);
    ngx_conf_merge_sec_value(conf->link_ttl, prev->link_ttl, 30);
    ngx_conf_merge_sec_value(conf->wait_max, prev->wait_max, 60);
    ngx_conf_merge_value(conf->level, prev->level, 6);
    ngx_conf_merge_value(conf->formula_guard, prev->formula_guard, 1);
    ngx_conf_merge_value(conf->csv_bom, prev->csv_bom, 0);
    ngx_conf_merge_size_value(conf->max_report_size, prev->max_report_size,
                              (size_t) 1024 * 1024 * 1024);
    ngx_conf_merge_uint_value(conf->max_columns, prev->max_columns, 2048);
    ngx_conf_merge_size_value(conf->max_body_size, prev->max_body_size,
                              64 * 1024);
    ngx_conf_merge_ptr_value(conf->quotas, prev->quotas, NULL);

    if (conf->disable_symlinks == NGX_CONF_UNSET_UINT) {
        conf->disable_symlinks = (prev->disable_symlinks
                                  == NGX_CONF_UNSET_UINT)
                                 ? NGX_HTTP_EXPORT_SYMLINKS_ON
                                 : prev->disable_symlinks;
        conf->disable_symlinks_from = prev->disable_symlinks_from;
    }

    if (conf->disable_symlinks_from == NGX_CONF_UNSET_PTR) {
        conf->disable_symlinks_from = NULL;
    }

    if (conf->quotas
        && ngx_http_export_quota_check(cf, conf->quotas) != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (conf->link_key.data == NULL) {
        conf->link_key = prev->link_key;
        conf->link_secret = prev->link_secret;
    }

    if (conf->ttl <= 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"export_ttl\" must be more than 0");
        return NGX_CONF_ERROR;
    }

    if (conf->link_ttl <= 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"export_link_ttl\" must be more than 0");
        return NGX_CONF_ERROR;
    }

    if (conf->max_columns == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"export_max_columns\" must be more than 0");
        return NGX_CONF_ERROR;
    }

    if (conf->max_body_size == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"export_max_body_size\" must be more than 0");
        return NGX_CONF_ERROR;
    }

    if (conf->handler == NGX_HTTP_EXPORT_NONE
        || conf->handler == NGX_HTTP_EXPORT_STATUS)
    {
        return NGX_CONF_OK;
    }

    if (conf->handler == NGX_HTTP_EXPORT_API
        && conf->style != NGX_HTTP_EXPORT_VMWARE)
    {
        ngx_http_export_body_limit(conf);
    }

    if (conf->shm_zone->data == NULL
        || conf->shm_zone->init != ngx_http_export_init_zone)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown export zone \"%V\": no \"export_zone\" "
                           "defines it",
                           &conf->shm_zone->shm.name);
        return NGX_CONF_ERROR;
    }

    zone = conf->shm_zone->data;

    /* links are signed and checked with the key of their zone */

    if (conf->link_key.data) {
        if (zone->link_key.data == NULL) {
            zone->link_key = conf->link_key;

        } else if (zone->link_key.len != conf->link_key.len
                   || ngx_memcmp(zone->link_key.data, conf->link_key.data,
                                 conf->link_key.len)
                      != 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "export zone \"%V\" is used with two "
                               "different \"export_link_secret\" keys",
                               &conf->shm_zone->shm.name);
            return NGX_CONF_ERROR;
        }
    }

    if (conf->handler == NGX_HTTP_EXPORT_DOWNLOAD
        || conf->style == NGX_HTTP_EXPORT_UNIWARE
        || (conf->style == NGX_HTTP_EXPORT_ARCGIS && conf->task_id))
    {
        /* these only follow tasks: by link, jobCode or job id */
        return NGX_CONF_OK;
    }

    if (conf->run_id == NULL && conf->style != NGX_HTTP_EXPORT_ARCGIS) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"export_run_id\" is not set for this location");
        return NGX_CONF_ERROR;
    }

    if (conf->handler == NGX_HTTP_EXPORT_DATA
        || (conf->style == NGX_HTTP_EXPORT_WEBADMIT && conf->task_id))
    {
        return NGX_CONF_OK;
    }

    if (conf->style == NGX_HTTP_EXPORT_ARCGIS && conf->job_uri == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"export_job_uri\" is not set for this "
                           "location: \"export_api ... style=arcgis\" "
                           "answers a submitted export with its jobsUrl");
        return NGX_CONF_ERROR;
    }

    if (conf->source == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"export_source\" is not set for this location");
        return NGX_CONF_ERROR;
    }

    if (conf->store.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"export_store\" is not set for this location");
        return NGX_CONF_ERROR;
    }

    /* at start, the zone takes back what its stores hold */

    if (zone->stores == NULL) {
        zone->stores = ngx_array_create(cf->pool, 1, sizeof(ngx_str_t));
        if (zone->stores == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    s = zone->stores->elts;

    for (i = 0; i < zone->stores->nelts; i++) {
        if (s[i].len == conf->store.len
            && ngx_strncmp(s[i].data, conf->store.data, s[i].len) == 0)
        {
            break;
        }
    }

    if (i == zone->stores->nelts) {
        s = ngx_array_push(zone->stores);
        if (s == NULL) {
            return NGX_CONF_ERROR;
        }

        *s = conf->store;
    }

    if (ngx_http_export_roots(cf, zone, conf->source) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (zone->min_ttl == 0 || conf->ttl < zone->min_ttl) {
        zone->min_ttl = conf->ttl;
    }

    conf->thread_pool = ngx_thread_pool_add(cf, &conf->thread_pool_name);
    if (conf->thread_pool == NULL) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * A style reads every request body itself, within export_max_body_size
 * (or a smaller client_max_body_size), so that a body over the limit,
 * with a Content-Length or chunked, gets the style's own 413.  nginx's
 * check, which answers its HTML page before the handler runs, is turned
 * off in the location: it would refuse only what the module refuses.
 */

static void
ngx_http_export_body_limit(ngx_http_export_loc_conf_t *conf)
{
    off_t  max;

    max = conf->core->client_max_body_size;

    conf->body_limit = conf->max_body_size;

    if (max > 0 && (size_t) max < conf->body_limit) {
        conf->body_limit = (size_t) max;
    }

    conf->core->client_max_body_size = 0;
}


static ngx_int_t
ngx_http_export_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_export_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_export_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t              *value;
    const char             *name;
    ngx_http_export_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_export_module);

    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    switch (data) {

    case NGX_HTTP_EXPORT_VAR_TASK_ID:
        if (!ctx->has_id) {
            v->not_found = 1;
            return NGX_OK;
        }

        v->data = ctx->id;
        v->len = NGX_HTTP_EXPORT_UUID_LEN;
        break;

    case NGX_HTTP_EXPORT_VAR_RUN_ID:
        if (ctx->run.len == 0) {
            v->not_found = 1;
            return NGX_OK;
        }

        v->data = ctx->run.data;
        v->len = ctx->run.len;
        break;

    case NGX_HTTP_EXPORT_VAR_JOB_ID:
    case NGX_HTTP_EXPORT_VAR_TOKEN:
        value = (data == NGX_HTTP_EXPORT_VAR_JOB_ID) ? &ctx->job
                                                     : &ctx->token;

        if (value->len == 0) {
            v->not_found = 1;
            return NGX_OK;
        }

        v->data = value->data;
        v->len = value->len;
        break;

    case NGX_HTTP_EXPORT_VAR_STATUS:
        if (!ctx->has_state) {
            v->not_found = 1;
            return NGX_OK;
        }

        name = ngx_http_export_state_name(ctx->state);
        v->data = (u_char *) name;
        v->len = ngx_strlen(name);
        break;

    default: /* NGX_HTTP_EXPORT_VAR_REFERENCE */
        if (!ctx->has_ref) {
            v->not_found = 1;
            return NGX_OK;
        }

        v->data = ctx->ref;
        v->len = NGX_HTTP_EXPORT_UUID_LEN;
        break;
    }

    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


/*
 * nginx makes a new, empty zone when a reload changes a zone's size; the
 * tasks, and the slots tasks hold in quota zones, would be lost.
 */

ngx_uint_t
ngx_http_export_zone_resized(ngx_conf_t *cf, ngx_str_t *name, size_t size,
    ngx_shm_zone_init_pt init)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_shm_zone_t   *shm_zone;

    if (cf->cycle->old_cycle == NULL
        || cf->cycle->old_cycle->shared_memory.part.elts == NULL)
    {
        return 0;
    }

    part = &cf->cycle->old_cycle->shared_memory.part;
    shm_zone = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return 0;
            }

            part = part->next;
            shm_zone = part->elts;
            i = 0;
        }

        if (shm_zone[i].tag == &ngx_http_export_module
            && shm_zone[i].shm.name.len == name->len
            && ngx_strncmp(shm_zone[i].shm.name.data, name->data, name->len)
               == 0
            && shm_zone[i].init == init)
        {
            return shm_zone[i].shm.size != size;
        }
    }
}


/* export_node NAME: how this node is named in the store and the logs */

static char *
ngx_http_export_node(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_export_main_conf_t *emcf = conf;

    ngx_str_t  *value;

    if (emcf->node.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (!exp_name_check(value[1].data, value[1].len, EXP_NODE_MAX, 1)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid node name \"%V\": 1 to %d letters, "
                           "digits, \".\", \"-\" or \"_\"",
                           &value[1], EXP_NODE_MAX);
        return NGX_CONF_ERROR;
    }

    emcf->node = value[1];

    return NGX_CONF_OK;
}


/*
 * Where a location's runs are: the fixed start of its export_source,
 * before any variable.  A node takes over only builds whose sources
 * start so (ngx_http_export_source_allowed()).
 */

static ngx_int_t
ngx_http_export_roots(ngx_conf_t *cf, ngx_http_export_zone_t *zone,
    ngx_http_complex_value_t *source)
{
    u_char      *dollar;
    ngx_str_t   *root, prefix;
    ngx_uint_t   i;

    prefix = source->value;

    dollar = ngx_strlchr(prefix.data, prefix.data + prefix.len, '$');
    if (dollar) {
        prefix.len = dollar - prefix.data;
    }

    if (zone->roots == NULL) {
        zone->roots = ngx_array_create(cf->pool, 1, sizeof(ngx_str_t));
        if (zone->roots == NULL) {
            return NGX_ERROR;
        }
    }

    root = zone->roots->elts;

    for (i = 0; i < zone->roots->nelts; i++) {
        if (root[i].len == prefix.len
            && ngx_strncmp(root[i].data, prefix.data, prefix.len) == 0)
        {
            return NGX_OK;
        }
    }

    root = ngx_array_push(zone->roots);
    if (root == NULL) {
        return NGX_ERROR;
    }

    *root = prefix;

    return NGX_OK;
}


static char *
ngx_http_export_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_export_main_conf_t *emcf = conf;

    u_char                   *p;
    ssize_t                   size;
    ngx_int_t                 n;
    ngx_str_t                *value, name, s;
    ngx_shm_zone_t           *shm_zone;
    ngx_http_export_zone_t   *zone, **zp;

    value = cf->args->elts;

    p = (u_char *) ngx_strchr(value[1].data, ':');

    if (p == NULL || p == value[1].data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone \"%V\": the form is name:size",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    name.data = value[1].data;
    name.len = p - value[1].data;

    s.data = p + 1;
    s.len = value[1].data + value[1].len - s.data;

    size = ngx_parse_size(&s);

    if (size == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone size \"%V\" in \"%V\"",
                           &s, &value[1]);
        return NGX_CONF_ERROR;
    }

    if (size < (ssize_t) (8 * ngx_pagesize)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is too small: %z bytes, "
                           "the least is %uz",
                           &name, size, 8 * ngx_pagesize);
        return NGX_CONF_ERROR;
    }

    zone = ngx_pcalloc(cf->pool, sizeof(ngx_http_export_zone_t));
    if (zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_export_zone_resized(cf, &name, size,
                                     ngx_http_export_init_zone))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "export zone \"%V\" cannot change its size on "
                           "reload; keep its size, or stop and start nginx "
                           "to resize it", &name);
        return NGX_CONF_ERROR;
    }

    shm_zone = ngx_shared_memory_add(cf, &name, size,
                                     &ngx_http_export_module);
    if (shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate export zone \"%V\"", &name);
        return NGX_CONF_ERROR;
    }

    zone->shm_zone = shm_zone;
    zone->log = &cf->cycle->new_log;

    if (cf->args->nelts == 3) {
        if (ngx_strncmp(value[2].data, "max_running=", 12) != 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\"", &value[2]);
            return NGX_CONF_ERROR;
        }

        n = ngx_atoi(value[2].data + 12, value[2].len - 12);

        if (n <= 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid max_running \"%V\": a number of "
                               "exports greater than 0 is expected",
                               &value[2]);
            return NGX_CONF_ERROR;
        }

        zone->max_running = n;
    }

    shm_zone->init = ngx_http_export_init_zone;
    shm_zone->data = zone;

    zp = ngx_array_push(&emcf->zones);
    if (zp == NULL) {
        return NGX_CONF_ERROR;
    }

    *zp = zone;

    return NGX_CONF_OK;
}


static char *
ngx_http_export_handler_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_export_loc_conf_t *elcf = conf;

    ngx_str_t                 *value, name;
    ngx_uint_t                 i;
    ngx_http_core_loc_conf_t  *clcf;

    if (elcf->handler != NGX_HTTP_EXPORT_NONE) {
        return "is duplicate, or another export handler is already set "
               "in this location";
    }

    value = cf->args->elts;

    if (ngx_strncmp(value[1].data, "zone=", 5) != 0 || value[1].len == 5) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\": the form is zone=NAME",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    name.data = value[1].data + 5;
    name.len = value[1].len - 5;

    elcf->shm_zone = ngx_shared_memory_add(cf, &name, 0,
                                           &ngx_http_export_module);
    if (elcf->shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    elcf->handler = cmd->offset;

    if (cf->args->nelts == 3) {
        if (cmd->offset != NGX_HTTP_EXPORT_API
            || ngx_strncmp(value[2].data, "style=", 6) != 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\"", &value[2]);
            return NGX_CONF_ERROR;
        }

        for (i = 0; ngx_http_export_style_names[i].len; i++) {
            if (value[2].len - 6 == ngx_http_export_style_names[i].len
                && ngx_strncmp(value[2].data + 6,
                               ngx_http_export_style_names[i].data,
                               value[2].len - 6)
                   == 0)
            {
                break;
            }
        }

        if (ngx_http_export_style_names[i].len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid style \"%V\": it is one of "
                               "vmware, arcgis, uniware, webadmit",
                               &value[2]);
            return NGX_CONF_ERROR;
        }

        elcf->style = i;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    switch (elcf->handler) {

    case NGX_HTTP_EXPORT_API:
        clcf->handler = (elcf->style == NGX_HTTP_EXPORT_VMWARE)
                        ? ngx_http_export_api_handler
                        : ngx_http_export_style_handler;
        elcf->core = clcf;
        break;

    case NGX_HTTP_EXPORT_DOWNLOAD:
        clcf->handler = ngx_http_export_download_handler;
        break;

    default: /* NGX_HTTP_EXPORT_DATA */
        clcf->handler = ngx_http_export_data_handler;
        break;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_export_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_export_loc_conf_t *elcf = conf;

    ngx_http_core_loc_conf_t  *clcf;

    if (elcf->handler != NGX_HTTP_EXPORT_NONE) {
        return "is duplicate, or another export handler is already set "
               "in this location";
    }

    elcf->handler = NGX_HTTP_EXPORT_STATUS;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_export_status_handler;

    return NGX_CONF_OK;
}


static char *
ngx_http_export_store(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_export_loc_conf_t *elcf = conf;

    ngx_str_t                    *value, *store;
    ngx_file_info_t               fi;
    ngx_http_export_main_conf_t  *emcf;

    if (elcf->store.data) {
        return "is duplicate";
    }

    value = cf->args->elts;
    elcf->store = value[1];

    while (elcf->store.len > 1
           && elcf->store.data[elcf->store.len - 1] == '/')
    {
        elcf->store.len--;
    }

    if (ngx_conf_full_name(cf->cycle, &elcf->store, 0) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    /* the full name is null-terminated */

    if (ngx_file_info(elcf->store.data, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "export_store \"%V\" cannot be used: "
                           ngx_file_info_n " failed", &elcf->store);
        return NGX_CONF_ERROR;
    }

    if (!ngx_is_dir(&fi)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "export_store \"%V\" is not a directory",
                           &elcf->store);
        return NGX_CONF_ERROR;
    }

    /* whether the workers may write here is known once "user" is */

    emcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_export_module);

    store = ngx_array_push(&emcf->stores);
    if (store == NULL) {
        return NGX_CONF_ERROR;
    }

    *store = elcf->store;

    return NGX_CONF_OK;
}


static char *
ngx_http_export_link_secret(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_export_loc_conf_t *elcf = conf;

    ssize_t           n;
    ngx_str_t        *value, name;
    ngx_file_t        file;
    ngx_file_info_t   fi;

    if (elcf->link_key.data) {
        return "is duplicate";
    }

    value = cf->args->elts;
    name = value[1];

    if (ngx_conf_full_name(cf->cycle, &name, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&file, sizeof(ngx_file_t));
    file.name = name;
    file.log = cf->log;

    file.fd = ngx_open_file(name.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (file.fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "export_link_secret \"%V\": "
                           ngx_open_file_n " failed", &name);
        return NGX_CONF_ERROR;
    }

    if (ngx_fd_info(file.fd, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "export_link_secret \"%V\": "
                           ngx_fd_info_n " failed", &name);
        goto failed;
    }

    /* a key file is small; anything large is a wrong path */

    if (ngx_file_size(&fi) < 16 || ngx_file_size(&fi) > 4096) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "export_link_secret \"%V\" must hold between "
                           "16 and 4096 bytes, it holds %O",
                           &name, ngx_file_size(&fi));
        goto failed;
    }

    elcf->link_key.len = ngx_file_size(&fi);
    elcf->link_key.data = ngx_pnalloc(cf->pool, elcf->link_key.len);
    if (elcf->link_key.data == NULL) {
        goto failed;
    }

    n = ngx_read_file(&file, elcf->link_key.data, elcf->link_key.len, 0);
    if (n != (ssize_t) elcf->link_key.len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "export_link_secret \"%V\": read failed", &name);
        goto failed;
    }

    elcf->link_secret = name;

    ngx_close_file(file.fd);

    return NGX_CONF_OK;

failed:

    ngx_close_file(file.fd);

    return NGX_CONF_ERROR;
}


/* a lease of a few heartbeats at least */

static char *
ngx_http_export_lease(ngx_conf_t *cf, void *post, void *data)
{
    ngx_msec_t  *lease = data;

    if (*lease < 3000) {
        return "must be at least 3s: a heartbeat comes every second";
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_export_level(ngx_conf_t *cf, void *post, void *data)
{
    ngx_int_t *np = data;

    if (*np < 0 || *np > 9) {
        return "must be between 0 (store) and 9 (best compression)";
    }

    return NGX_CONF_OK;
}


/*
 * export_disable_symlinks off | on | if_not_owner [from=part], parsed
 * as nginx parses disable_symlinks; "part" may hold variables.
 */

static char *
ngx_http_export_disable_symlinks(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_export_loc_conf_t *elcf = conf;

    ngx_str_t                         *value, from;
    ngx_http_compile_complex_value_t   ccv;

    if (elcf->disable_symlinks != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        elcf->disable_symlinks = NGX_HTTP_EXPORT_SYMLINKS_OFF;

    } else if (ngx_strcmp(value[1].data, "on") == 0) {
        elcf->disable_symlinks = NGX_HTTP_EXPORT_SYMLINKS_ON;

    } else if (ngx_strcmp(value[1].data, "if_not_owner") == 0) {
        elcf->disable_symlinks = NGX_HTTP_EXPORT_SYMLINKS_NOTOWNER;

    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"export_disable_symlinks"
                           "\": it must be \"off\", \"on\" or "
                           "\"if_not_owner\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    elcf->disable_symlinks_from = NULL;

    if (cf->args->nelts == 2) {
        return NGX_CONF_OK;
    }

    if (ngx_strncmp(value[2].data, "from=", 5) != 0
        || value[2].len == 5)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\" in "
                           "\"export_disable_symlinks\": it must be "
                           "\"from=part\"", &value[2]);
        return NGX_CONF_ERROR;
    }

    if (elcf->disable_symlinks == NGX_HTTP_EXPORT_SYMLINKS_OFF) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"from=\" cannot be used with \"off\" in "
                           "\"export_disable_symlinks\"");
        return NGX_CONF_ERROR;
    }

    from.len = value[2].len - 5;
    from.data = value[2].data + 5;

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

    ccv.cf = cf;
    ccv.value = &from;
    ccv.complex_value = ngx_palloc(cf->pool,
                                   sizeof(ngx_http_complex_value_t));
    if (ccv.complex_value == NULL) {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    elcf->disable_symlinks_from = ccv.complex_value;

    return NGX_CONF_OK;
}


/*
 * The store must be writable by the worker processes.  With a root
 * master they run as the "user" directive says, so the check uses that
 * user's permissions, not the master's.  It runs while the configuration
 * is read, so that a reload with a bad store is refused and the old
 * configuration goes on; when "user" comes after the http block it can
 * only run once the whole configuration is read (init_module).
 */

/*
 * Every zone of this node knows the node's name (export_node, else the
 * host name) and the lease (export_lease, 10s by default).
 */

static ngx_int_t
ngx_http_export_cluster_conf(ngx_conf_t *cf)
{
    ngx_uint_t                    i;
    ngx_http_export_zone_t      **zones;
    ngx_http_export_main_conf_t  *emcf;

    emcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_export_module);

    if (emcf->lease == NGX_CONF_UNSET_MSEC) {
        emcf->lease = 10000;
    }

    /*
     * Off: the deflate threads of a libdeflate build would make an
     * export keep 4 threads busy, and on a machine with few cores the
     * event loops lose their latency to them (figure 4 of
     * t/bench/http.sh: status p99 3.0 times idle with them, 1.5 without).
     */

    if (emcf->parallel == NGX_CONF_UNSET) {
        emcf->parallel = 0;
    }

    if (emcf->node.data == NULL) {
        emcf->node = cf->cycle->hostname;

        if (emcf->node.len > EXP_NODE_MAX) {
            emcf->node.len = EXP_NODE_MAX;
        }

        if (!exp_name_check(emcf->node.data, emcf->node.len, EXP_NODE_MAX,
                            1))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "the host name \"%V\" cannot name this "
                               "node in the export store: set "
                               "\"export_node\"", &cf->cycle->hostname);
            return NGX_ERROR;
        }
    }

    /*
     * Looks at the store (lookups, claims, heartbeats, removals) take
     * a pool of their own, so that they never wait in the queue behind
     * the long generations: nginx's "default" pool unless set.
     */

    if (emcf->store_pool.data == NULL) {
        ngx_str_set(&emcf->store_pool, "default");
    }

    zones = emcf->zones.elts;

    for (i = 0; i < emcf->zones.nelts; i++) {
        zones[i]->node = emcf->node;
        zones[i]->lease = emcf->lease;
        zones[i]->parallel = emcf->parallel;

        if (zones[i]->stores == NULL) {
            continue;
        }

        zones[i]->thread_pool = ngx_thread_pool_add(cf, &emcf->store_pool);
        if (zones[i]->thread_pool == NULL) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_export_check_stores(ngx_conf_t *cf)
{
    ngx_str_t                    *store;
    ngx_uint_t                    i;
    ngx_core_conf_t              *ccf;
    ngx_http_export_main_conf_t  *emcf;

    if (ngx_http_export_webadmit_init(cf) != NGX_OK
        || ngx_http_export_body_init(cf) != NGX_OK
        || ngx_http_export_cluster_conf(cf) != NGX_OK)
    {
        return NGX_ERROR;
    }

    emcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_export_module);

    store = emcf->stores.elts;

    for (i = 0; i < emcf->stores.nelts; i++) {
        if (access((char *) store[i].data, W_OK|X_OK) != 0) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, ngx_errno,
                          "export_store \"%V\" is not writable",
                          &store[i]);
            return NGX_ERROR;
        }
    }

    ccf = (ngx_core_conf_t *) ngx_get_conf(cf->cycle->conf_ctx,
                                           ngx_core_module);

    if (geteuid() != 0) {
        return NGX_OK;
    }

    if (ccf->user == (ngx_uid_t) NGX_CONF_UNSET_UINT) {
        emcf->check_user = 1;
        return NGX_OK;
    }

    return ngx_http_export_check_user(cf->log, emcf, ccf);
}


static ngx_int_t
ngx_http_export_check_user(ngx_log_t *log,
    ngx_http_export_main_conf_t *emcf, ngx_core_conf_t *ccf)
{
    ngx_str_t        *store;
    ngx_uint_t        i, ok;
    ngx_file_info_t   fi;

    if (ccf->user == 0 || ccf->user == (ngx_uid_t) NGX_CONF_UNSET_UINT) {
        return NGX_OK;
    }

    store = emcf->stores.elts;

    for (i = 0; i < emcf->stores.nelts; i++) {

        if (ngx_file_info(store[i].data, &fi) == NGX_FILE_ERROR) {
            ngx_log_error(NGX_LOG_EMERG, log, ngx_errno,
                          "export_store \"%V\": " ngx_file_info_n
                          " failed", &store[i]);
            return NGX_ERROR;
        }

        if (fi.st_uid == ccf->user) {
            ok = (fi.st_mode & (S_IWUSR|S_IXUSR)) == (S_IWUSR|S_IXUSR);

        } else if (fi.st_gid == ccf->group) {
            ok = (fi.st_mode & (S_IWGRP|S_IXGRP)) == (S_IWGRP|S_IXGRP);

        } else {
            ok = (fi.st_mode & (S_IWOTH|S_IXOTH)) == (S_IWOTH|S_IXOTH);
        }

        if (!ok) {
            ngx_log_error(NGX_LOG_EMERG, log, 0,
                          "export_store \"%V\" is not writable by the "
                          "worker user \"%s\"", &store[i], ccf->username);
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_export_init_module(ngx_cycle_t *cycle)
{
    ngx_core_conf_t              *ccf;
    ngx_http_export_main_conf_t  *emcf;

    emcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_export_module);

    /* once a start (and once an "nginx -t"), not again on each reload */

    if (cycle->old_cycle == NULL || cycle->old_cycle->conf_ctx == NULL) {
        /* the deflate backend is a build choice (config): say which */
        ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                      "export module " NGX_HTTP_EXPORT_VERSION
                      " loaded (deflate: %s)", exz_backend());
    }

    if (emcf == NULL || !emcf->check_user) {
        return NGX_OK;
    }

    ccf = (ngx_core_conf_t *) ngx_get_conf(cycle->conf_ctx, ngx_core_module);

    if (ngx_http_export_check_user(cycle->log, emcf, ccf) == NGX_OK) {
        return NGX_OK;
    }

    /*
     * A failure here makes nginx exit: right for a start or "nginx -t",
     * but a reload must not stop the master.  Then the exports fail,
     * each with an error that says why.
     */

    if (cycle->old_cycle && cycle->old_cycle->conf_ctx) {
        return NGX_OK;
    }

    return NGX_ERROR;
}


/*
 * What a worker keeps for speed is freed as it exits.  The thread pool
 * module comes first in the module list: its threads have ended.
 */

static void
ngx_http_export_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_export_job_exit();
    ngx_http_export_link_exit();
}


static ngx_int_t
ngx_http_export_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                    i;
    ngx_event_t                  *ev;
    ngx_connection_t             *c;
    ngx_http_export_zone_t      **zones;
    ngx_http_export_main_conf_t  *emcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    emcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_export_module);
    if (emcf == NULL) {
        return NGX_OK;
    }

    zones = emcf->zones.elts;

    for (i = 0; i < emcf->zones.nelts; i++) {
        ev = ngx_pcalloc(cycle->pool, sizeof(ngx_event_t));
        c = ngx_pcalloc(cycle->pool, sizeof(ngx_connection_t));
        if (ev == NULL || c == NULL) {
            return NGX_ERROR;
        }

        /* timers log ev->data as a connection: give them one, nginx-style */
        c->fd = (ngx_socket_t) -1;
        c->data = zones[i];

        ev->handler = ngx_http_export_housekeeping;
        ev->data = c;
        ev->log = cycle->log;
        ev->cancelable = 1;

        zones[i]->log = cycle->log;

        ngx_add_timer(ev, 1000 + ngx_random() % 1000);
    }

    return NGX_OK;
}


/* expires finished tasks even when no request comes */

static void
ngx_http_export_housekeeping(ngx_event_t *ev)
{
    ngx_pool_t              *pool;
    ngx_array_t              paths;
    ngx_connection_t        *c;
    ngx_http_export_zone_t  *zone;

    c = ev->data;
    zone = c->data;

    pool = ngx_create_pool(1024, ev->log);

    if (pool
        && ngx_array_init(&paths, pool, 4, sizeof(ngx_str_t)) == NGX_OK)
    {
        ngx_shmtx_lock(&zone->shpool->mutex);
        ngx_http_export_expire(zone, 0, &paths);
        ngx_shmtx_unlock(&zone->shpool->mutex);

        if (paths.nelts) {
            (void) ngx_http_export_unlink_files(zone, zone->thread_pool,
                                                &paths, ev->log);
        }
    }

    if (pool) {
        ngx_destroy_pool(pool);
    }

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    ngx_http_export_reap(zone, ev->log);
    ngx_http_export_dispatch(zone, ev->log);
    ngx_http_export_upkeep(zone, ev->log);
    ngx_http_export_meta_sweep(zone, ev->log);

    ngx_add_timer(ev, 1000);
}
