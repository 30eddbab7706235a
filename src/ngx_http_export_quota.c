
/*
 * Per-client export quota: "export_quota_zone KEY zone=NAME:SIZE" keeps
 * one entry per client key in shared memory, like limit_req_zone; each
 * "export_quota zone=NAME active=N rate=N/p" checks it when a new export
 * is about to be created.
 *
 * active: unfinished exports of the client; the task keeps a reference
 * to the entry and gives its slot back when it finishes, fails or is
 * cancelled, in whichever worker or thread that happens.
 *
 * rate: a token bucket holding at most N tokens, refilled at N per
 * period; each new export takes one.  So a client may start N exports at
 * once and then one every period/N.  Retry-After is the time until the
 * next token, rounded up: a retry then succeeds if nothing else changed.
 */


#include "ngx_http_export_module.h"


#define NGX_HTTP_EXPORT_QUOTA_KEY_MAX   255


typedef struct {
    u_char                      color;
    u_char                      len;
    u_short                     pad;
    ngx_queue_t                 queue;        /* least recently used */
    ngx_uint_t                  active;
    ngx_msec_int_t              tokens;       /* thousandths of a token */
    ngx_msec_t                  last;         /* of the refill, ms */
    u_char                      key[1];
} ngx_http_export_quota_node_t;


typedef struct {
    ngx_rbtree_t                rbtree;
    ngx_rbtree_node_t           sentinel;
    ngx_queue_t                 queue;
    ngx_uint_t                  full_logged;
} ngx_http_export_quota_sh_t;


typedef struct {
    ngx_http_export_quota_sh_t *sh;
    ngx_slab_pool_t            *shpool;
    ngx_http_complex_value_t    key;
    ngx_shm_zone_t             *shm_zone;
    ngx_uint_t                  fail_open;
} ngx_http_export_quota_zone_t;


static ngx_int_t ngx_http_export_quota_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static void ngx_http_export_quota_rbtree_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static ngx_http_export_quota_node_t *ngx_http_export_quota_get(
    ngx_http_export_quota_zone_t *qz, ngx_str_t *key, uint32_t hash,
    ngx_log_t *log);
static void ngx_http_export_quota_refill(ngx_http_export_quota_t *q,
    ngx_http_export_quota_node_t *qn, ngx_msec_t now);
static void ngx_http_export_quota_expire(ngx_http_export_quota_zone_t *qz,
    ngx_msec_t now, ngx_uint_t n);
static ngx_uint_t ngx_http_export_quota_idle(
    ngx_http_export_quota_zone_t *qz, ngx_http_export_quota_node_t *qn,
    ngx_msec_t now);


/* export_quota_zone KEY zone=NAME:SIZE [full=open|closed] */

char *
ngx_http_export_quota_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    u_char                            *p;
    ssize_t                            size;
    ngx_str_t                         *value, name, s;
    ngx_uint_t                         i;
    ngx_shm_zone_t                    *shm_zone;
    ngx_http_export_quota_zone_t      *qz;
    ngx_http_compile_complex_value_t   ccv;

    value = cf->args->elts;

    qz = ngx_pcalloc(cf->pool, sizeof(ngx_http_export_quota_zone_t));
    if (qz == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

    ccv.cf = cf;
    ccv.value = &value[1];
    ccv.complex_value = &qz->key;

    if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    size = 0;
    name.len = 0;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "zone=", 5) == 0) {

            name.data = value[i].data + 5;

            p = (u_char *) ngx_strchr(name.data, ':');

            if (p == NULL || p == name.data) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid zone \"%V\": the form is "
                                   "zone=NAME:SIZE", &value[i]);
                return NGX_CONF_ERROR;
            }

            name.len = p - name.data;

            s.data = p + 1;
            s.len = value[i].data + value[i].len - s.data;

            size = ngx_parse_size(&s);

            if (size == NGX_ERROR) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid zone size \"%V\" in \"%V\"",
                                   &s, &value[i]);
                return NGX_CONF_ERROR;
            }

            if (size < (ssize_t) (8 * ngx_pagesize)) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "quota zone \"%V\" is too small: %z "
                                   "bytes, the least is %uz",
                                   &name, size, 8 * ngx_pagesize);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strcmp(value[i].data, "full=open") == 0) {
            qz->fail_open = 1;
            continue;
        }

        if (ngx_strcmp(value[i].data, "full=closed") == 0) {
            qz->fail_open = 0;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    if (name.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" must have \"zone\" parameter",
                           &cmd->name);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_export_zone_resized(cf, &name, size,
                                     ngx_http_export_quota_init_zone))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "quota zone \"%V\" cannot change its size on "
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
                           "duplicate zone \"%V\"", &name);
        return NGX_CONF_ERROR;
    }

    qz->shm_zone = shm_zone;

    shm_zone->init = ngx_http_export_quota_init_zone;
    shm_zone->data = qz;

    return NGX_CONF_OK;
}


/* export_quota zone=NAME [active=N] [rate=N[r]/s|m|h] */

char *
ngx_http_export_quota(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_export_loc_conf_t *elcf = conf;

    u_char                   *p;
    ngx_int_t                 n;
    ngx_str_t                *value, s, name;
    ngx_uint_t                i;
    ngx_shm_zone_t           *shm_zone;
    ngx_http_export_quota_t  *q;

    value = cf->args->elts;

    if (elcf->quotas == NGX_CONF_UNSET_PTR) {
        elcf->quotas = ngx_array_create(cf->pool, 2,
                                        sizeof(ngx_http_export_quota_t));
        if (elcf->quotas == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    if (elcf->quotas->nelts == NGX_HTTP_EXPORT_QUOTAS_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "at most %d \"export_quota\" directives apply "
                           "to one location", NGX_HTTP_EXPORT_QUOTAS_MAX);
        return NGX_CONF_ERROR;
    }

    q = ngx_array_push(elcf->quotas);
    if (q == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(q, sizeof(ngx_http_export_quota_t));

    shm_zone = NULL;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "zone=", 5) == 0) {

            name.data = value[i].data + 5;
            name.len = value[i].len - 5;

            shm_zone = ngx_shared_memory_add(cf, &name, 0,
                                             &ngx_http_export_module);
            if (shm_zone == NULL) {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "active=", 7) == 0) {

            n = ngx_atoi(value[i].data + 7, value[i].len - 7);
            if (n <= 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid active \"%V\": a number of "
                                   "exports greater than 0 is expected",
                                   &value[i]);
                return NGX_CONF_ERROR;
            }

            q->active = n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "rate=", 5) == 0) {

            s.data = value[i].data + 5;
            s.len = value[i].len - 5;

            p = s.data + s.len - 2;

            if (s.len > 2 && p[0] == '/' && (p[1] == 's' || p[1] == 'm'
                                              || p[1] == 'h'))
            {
                q->period = (p[1] == 's') ? 1000
                            : (p[1] == 'm') ? 60000 : 3600000;
                s.len -= 2;

                /* "5r/m", the limit_req spelling, means "5/m" */
                if (s.len > 1 && s.data[s.len - 1] == 'r') {
                    s.len--;
                }

                n = ngx_atoi(s.data, s.len);

            } else {
                n = NGX_ERROR;
            }

            if (n <= 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid rate \"%V\": the form is "
                                   "rate=N/s, rate=N/m or rate=N/h "
                                   "(N may be written Nr)",
                                   &value[i]);
                return NGX_CONF_ERROR;
            }

            q->rate = n;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    if (shm_zone == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" must have \"zone\" parameter",
                           &cmd->name);
        return NGX_CONF_ERROR;
    }

    if (q->active == 0 && q->rate == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" must have \"active\" or \"rate\" "
                           "parameter, or both", &cmd->name);
        return NGX_CONF_ERROR;
    }

    q->shm_zone = shm_zone;

    return NGX_CONF_OK;
}


/* called at merge time, when every zone has been declared */

char *
ngx_http_export_quota_check(ngx_conf_t *cf, ngx_array_t *quotas)
{
    ngx_uint_t                i;
    ngx_http_export_quota_t  *q;

    q = quotas->elts;

    for (i = 0; i < quotas->nelts; i++) {
        if (q[i].shm_zone->data == NULL
            || q[i].shm_zone->init != ngx_http_export_quota_init_zone)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "unknown quota zone \"%V\": no "
                               "\"export_quota_zone\" defines it",
                               &q[i].shm_zone->shm.name);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_export_quota_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_export_quota_zone_t  *oqz = data;

    size_t                         len;
    ngx_http_export_quota_zone_t  *qz;

    qz = shm_zone->data;

    if (oqz) {
        qz->sh = oqz->sh;
        qz->shpool = oqz->shpool;
        return NGX_OK;
    }

    qz->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        qz->sh = qz->shpool->data;
        return NGX_OK;
    }

    qz->sh = ngx_slab_alloc(qz->shpool, sizeof(ngx_http_export_quota_sh_t));
    if (qz->sh == NULL) {
        return NGX_ERROR;
    }

    qz->shpool->data = qz->sh;

    ngx_rbtree_init(&qz->sh->rbtree, &qz->sh->sentinel,
                    ngx_http_export_quota_rbtree_insert);
    ngx_queue_init(&qz->sh->queue);
    qz->sh->full_logged = 0;

    len = sizeof(" in export quota zone \"\"") + shm_zone->shm.name.len;

    qz->shpool->log_ctx = ngx_slab_alloc(qz->shpool, len);
    if (qz->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(qz->shpool->log_ctx, " in export quota zone \"%V\"%Z",
                &shm_zone->shm.name);

    qz->shpool->log_nomem = 0;

    return NGX_OK;
}


static void
ngx_http_export_quota_rbtree_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t             **p;
    ngx_http_export_quota_node_t   *qn, *qnt;

    for ( ;; ) {

        if (node->key < temp->key) {
            p = &temp->left;

        } else if (node->key > temp->key) {
            p = &temp->right;

        } else {
            qn = (ngx_http_export_quota_node_t *) &node->color;
            qnt = (ngx_http_export_quota_node_t *) &temp->color;

            p = (ngx_memn2cmp(qn->key, qnt->key, qn->len, qnt->len) < 0)
                ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}


static ngx_http_export_quota_node_t *
ngx_http_export_quota_lookup(ngx_http_export_quota_zone_t *qz,
    ngx_str_t *key, uint32_t hash)
{
    ngx_int_t                      rc;
    ngx_rbtree_node_t             *node, *sentinel;
    ngx_http_export_quota_node_t  *qn;

    node = qz->sh->rbtree.root;
    sentinel = qz->sh->rbtree.sentinel;

    while (node != sentinel) {

        if (hash < node->key) {
            node = node->left;
            continue;
        }

        if (hash > node->key) {
            node = node->right;
            continue;
        }

        qn = (ngx_http_export_quota_node_t *) &node->color;

        rc = ngx_memn2cmp(key->data, qn->key, key->len, (size_t) qn->len);

        if (rc == 0) {
            return qn;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


/*
 * Finds or makes the client's entry; when the zone is full, idle
 * entries give way, least recently used first.
 */

static ngx_http_export_quota_node_t *
ngx_http_export_quota_get(ngx_http_export_quota_zone_t *qz, ngx_str_t *key,
    uint32_t hash, ngx_log_t *log)
{
    size_t                         size;
    ngx_msec_t                     now;
    ngx_rbtree_node_t             *node;
    ngx_http_export_quota_node_t  *qn;

    now = ngx_current_msec;

    qn = ngx_http_export_quota_lookup(qz, key, hash);

    if (qn) {
        ngx_queue_remove(&qn->queue);
        ngx_queue_insert_head(&qz->sh->queue, &qn->queue);
        return qn;
    }

    ngx_http_export_quota_expire(qz, now, 2);

    size = offsetof(ngx_rbtree_node_t, color)
           + offsetof(ngx_http_export_quota_node_t, key) + key->len;

    node = ngx_slab_alloc_locked(qz->shpool, size);

    if (node == NULL) {
        ngx_http_export_quota_expire(qz, now, 64);

        node = ngx_slab_alloc_locked(qz->shpool, size);
        if (node == NULL) {
            return NULL;
        }
    }

    node->key = hash;

    qn = (ngx_http_export_quota_node_t *) &node->color;

    qn->len = (u_char) key->len;
    qn->active = 0;
    qn->tokens = -1;            /* a full bucket, set at the first check */
    qn->last = now;
    ngx_memcpy(qn->key, key->data, key->len);

    ngx_rbtree_insert(&qz->sh->rbtree, node);
    ngx_queue_insert_head(&qz->sh->queue, &qn->queue);

    return qn;
}


/* an entry with no export running and a full bucket says nothing */

static ngx_uint_t
ngx_http_export_quota_idle(ngx_http_export_quota_zone_t *qz,
    ngx_http_export_quota_node_t *qn, ngx_msec_t now)
{
    /*
     * The bucket of every quota that uses this zone refills within an
     * hour (the longest period); an hour without a new export means
     * every bucket is full again.
     */

    return qn->active == 0
           && (qn->tokens == -1 || (ngx_msec_int_t) (now - qn->last)
                                   >= 3600000);
}


static void
ngx_http_export_quota_expire(ngx_http_export_quota_zone_t *qz,
    ngx_msec_t now, ngx_uint_t n)
{
    ngx_uint_t                     steps;
    ngx_queue_t                   *q, *prev;
    ngx_rbtree_node_t             *node;
    ngx_http_export_quota_node_t  *qn;

    /* bounded, so that the lock is held for a short time */

    for (q = ngx_queue_last(&qz->sh->queue), steps = 0;
         q != ngx_queue_sentinel(&qz->sh->queue) && n && steps < 4 * n + 16;
         q = prev, steps++)
    {
        prev = ngx_queue_prev(q);
        qn = ngx_queue_data(q, ngx_http_export_quota_node_t, queue);

        if (!ngx_http_export_quota_idle(qz, qn, now)) {
            continue;
        }

        ngx_queue_remove(q);

        node = (ngx_rbtree_node_t *)
                   ((u_char *) qn - offsetof(ngx_rbtree_node_t, color));

        ngx_rbtree_delete(&qz->sh->rbtree, node);
        ngx_slab_free_locked(qz->shpool, node);

        n--;
    }
}


static void
ngx_http_export_quota_refill(ngx_http_export_quota_t *q,
    ngx_http_export_quota_node_t *qn, ngx_msec_t now)
{
    ngx_msec_int_t  full, elapsed, add;

    full = (ngx_msec_int_t) q->rate * 1000;

    if (qn->tokens < 0) {
        qn->tokens = full;
        qn->last = now;
        return;
    }

    elapsed = (ngx_msec_int_t) (now - qn->last);

    if (elapsed <= 0) {
        return;
    }

    /* rate tokens per period: rate * 1000 thousandths per period ms */

    add = (ngx_msec_int_t) ((uint64_t) elapsed * q->rate * 1000 / q->period);

    /*
     * Time too short to add a thousandth of a token is not spent: with
     * frequent tries the bucket would otherwise never refill.
     */

    if (add == 0) {
        return;
    }

    qn->tokens = ngx_min(full, qn->tokens + add);
    qn->last = now;
}


/*
 * Charges one new export to every quota of the location.  On NGX_OK the
 * active slots taken are in "refs", for the task to give back when it
 * ends; on NGX_BUSY nothing is charged, *retry_after says when to try
 * again and *limit and *reason name the quota that said no.  Called with
 * the export zone locked; takes each quota zone's lock in turn.
 */

ngx_int_t
ngx_http_export_quota_charge(ngx_http_request_t *r,
    ngx_http_export_loc_conf_t *elcf, ngx_http_export_quota_ref_t *refs,
    time_t *retry_after, ngx_http_export_quota_t **limit,
    ngx_uint_t *reason)
{
    uint32_t                       hash;
    ngx_str_t                      key;
    ngx_uint_t                     i, n, denied;
    ngx_msec_t                     now;
    ngx_msec_int_t                 wait;
    ngx_http_export_quota_t       *q;
    ngx_http_export_quota_zone_t  *qz;
    ngx_http_export_quota_node_t  *qn;

    /* what was taken, to give it back if a later quota says no */
    ngx_http_export_quota_node_t  *taken[NGX_HTTP_EXPORT_QUOTAS_MAX];
    ngx_uint_t                     slot[NGX_HTTP_EXPORT_QUOTAS_MAX];
    ngx_uint_t                     token[NGX_HTTP_EXPORT_QUOTAS_MAX];

    ngx_memzero(refs, NGX_HTTP_EXPORT_QUOTAS_MAX
                      * sizeof(ngx_http_export_quota_ref_t));

    if (elcf->quotas == NULL) {
        return NGX_OK;
    }

    q = elcf->quotas->elts;
    now = ngx_current_msec;
    denied = 0;

    for (i = 0; i < elcf->quotas->nelts; i++) {
        taken[i] = NULL;
        slot[i] = 0;
        token[i] = 0;

        qz = q[i].shm_zone->data;

        if (ngx_http_complex_value(r, &qz->key, &key) != NGX_OK) {
            denied = 2;
            break;
        }

        /* an empty key is not limited */

        if (key.len == 0) {
            continue;
        }

        if (key.len > NGX_HTTP_EXPORT_QUOTA_KEY_MAX) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "export: a key of quota zone \"%V\" has %uz "
                          "bytes, more than %d: it is not limited",
                          &q[i].shm_zone->shm.name, key.len,
                          NGX_HTTP_EXPORT_QUOTA_KEY_MAX);
            continue;
        }

        hash = ngx_crc32_short(key.data, key.len);

        ngx_shmtx_lock(&qz->shpool->mutex);

        qn = ngx_http_export_quota_get(qz, &key, hash, r->connection->log);

        if (qn == NULL) {
            if (!qz->sh->full_logged) {
                qz->sh->full_logged = 1;
                ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                              "export: quota zone \"%V\" is full of "
                              "clients with exports under way; new "
                              "clients are %s",
                              &q[i].shm_zone->shm.name,
                              qz->fail_open ? "not limited" : "refused");
            }

            ngx_shmtx_unlock(&qz->shpool->mutex);

            if (qz->fail_open) {
                continue;
            }

            *limit = &q[i];
            *reason = NGX_HTTP_EXPORT_QUOTA_FULL;
            *retry_after = 5;
            denied = 1;
            break;
        }

        if (q[i].active && qn->active >= q[i].active) {
            ngx_shmtx_unlock(&qz->shpool->mutex);

            /* a slot comes back when an export ends: look again soon */

            *limit = &q[i];
            *reason = NGX_HTTP_EXPORT_QUOTA_ACTIVE;
            *retry_after = 1;
            denied = 1;
            break;
        }

        if (q[i].rate) {
            ngx_http_export_quota_refill(&q[i], qn, now);

            if (qn->tokens < 1000) {
                wait = (ngx_msec_int_t) ((uint64_t) (1000 - qn->tokens)
                                         * q[i].period
                                         / ((uint64_t) q[i].rate * 1000));

                ngx_shmtx_unlock(&qz->shpool->mutex);

                *limit = &q[i];
                *reason = NGX_HTTP_EXPORT_QUOTA_RATE;
                *retry_after = (wait + 999) / 1000;

                if (*retry_after == 0) {
                    *retry_after = 1;
                }

                denied = 1;
                break;
            }

            qn->tokens -= 1000;
            token[i] = 1;
        }

        if (q[i].active) {
            qn->active++;
            slot[i] = 1;
        }

        taken[i] = qn;

        ngx_shmtx_unlock(&qz->shpool->mutex);
    }

    if (denied) {
        for (n = 0; n < i; n++) {
            if (taken[n] == NULL) {
                continue;
            }

            qz = q[n].shm_zone->data;

            ngx_shmtx_lock(&qz->shpool->mutex);

            taken[n]->active -= slot[n];
            taken[n]->tokens += token[n] * 1000;

            ngx_shmtx_unlock(&qz->shpool->mutex);
        }

        return (denied == 2) ? NGX_ERROR : NGX_BUSY;
    }

    for (i = 0, n = 0; i < elcf->quotas->nelts; i++) {
        if (taken[i]) {
            qz = q[i].shm_zone->data;
            refs[n].shpool = qz->shpool;
            refs[n].node = taken[i];
            refs[n].slot = slot[i];
            refs[n].token = token[i];
            n++;
        }
    }

    return NGX_OK;
}


/*
 * Gives back what a charge took when the export it was for could not be
 * created after all (503): its tokens, and its slots unless the task
 * already gave them back.
 */

void
ngx_http_export_quota_refund(ngx_http_export_quota_ref_t *refs,
    ngx_uint_t slots)
{
    ngx_uint_t                     i;
    ngx_http_export_quota_node_t  *qn;

    for (i = 0; i < NGX_HTTP_EXPORT_QUOTAS_MAX; i++) {
        if (refs[i].shpool == NULL) {
            continue;
        }

        qn = refs[i].node;

        ngx_shmtx_lock(&refs[i].shpool->mutex);

        if (slots) {
            qn->active -= ngx_min(qn->active, refs[i].slot);
        }

        if (refs[i].token && qn->tokens >= 0) {
            qn->tokens += 1000;
        }

        ngx_shmtx_unlock(&refs[i].shpool->mutex);

        refs[i].shpool = NULL;
    }
}


/*
 * What a task keeps: its active slots only.  An entry without a slot of
 * the task may be removed when idle, so no pointer to it is kept.
 */

void
ngx_http_export_quota_keep(ngx_http_export_quota_ref_t *dst,
    ngx_http_export_quota_ref_t *refs)
{
    ngx_uint_t  i, n;

    for (i = 0, n = 0; i < NGX_HTTP_EXPORT_QUOTAS_MAX; i++) {
        if (refs[i].shpool && refs[i].slot) {
            dst[n] = refs[i];
            dst[n].token = 0;
            n++;
        }
    }
}


/*
 * Whether a quota zone is still mapped in this worker: a reload that
 * drops a quota zone unmaps it in the new workers, while tasks started
 * before the reload still name it.
 */

static ngx_uint_t
ngx_http_export_quota_live(ngx_slab_pool_t *shpool)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_shm_zone_t   *shm_zone;

    part = &((ngx_cycle_t *) ngx_cycle)->shared_memory.part;
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

        if (shm_zone[i].shm.addr == (u_char *) shpool
            && shm_zone[i].init == ngx_http_export_quota_init_zone)
        {
            return 1;
        }
    }
}


/* gives active slots back; safe from any worker or thread */

void
ngx_http_export_quota_release(ngx_http_export_quota_ref_t *refs)
{
    ngx_uint_t                     i;
    ngx_http_export_quota_node_t  *qn;

    for (i = 0; i < NGX_HTTP_EXPORT_QUOTAS_MAX; i++) {
        if (refs[i].shpool == NULL) {
            continue;
        }

        if (!ngx_http_export_quota_live(refs[i].shpool)) {
            refs[i].shpool = NULL;
            refs[i].node = NULL;
            continue;
        }

        qn = refs[i].node;

        ngx_shmtx_lock(&refs[i].shpool->mutex);

        if (qn->active && refs[i].slot) {
            qn->active--;
        }

        ngx_shmtx_unlock(&refs[i].shpool->mutex);

        refs[i].shpool = NULL;
        refs[i].node = NULL;
    }
}


/*
 * RateLimit-Policy and RateLimit (draft-ietf-httpapi-ratelimit-headers):
 * one policy item per quota of the location, for this client.
 */

ngx_int_t
ngx_http_export_quota_headers(ngx_http_request_t *r,
    ngx_http_export_loc_conf_t *elcf)
{
    u_char                        *pp, *rp, *policy, *state;
    size_t                         len;
    ngx_str_t                      key;
    ngx_uint_t                     i, remaining;
    ngx_msec_t                     now;
    ngx_msec_int_t                 reset;
    ngx_table_elt_t               *h;
    ngx_http_export_quota_t       *q;
    ngx_http_export_quota_zone_t  *qz;
    ngx_http_export_quota_node_t  *qn;

    if (elcf->quotas == NULL || elcf->quotas->nelts == 0) {
        return NGX_OK;
    }

    q = elcf->quotas->elts;

    len = 0;
    for (i = 0; i < elcf->quotas->nelts; i++) {
        len += 2 * (q[i].shm_zone->shm.name.len + sizeof("\"-active\";q=;w=, ")
                    + 2 * NGX_INT_T_LEN);
    }

    policy = ngx_pnalloc(r->pool, len);
    state = ngx_pnalloc(r->pool, len);
    if (policy == NULL || state == NULL) {
        return NGX_ERROR;
    }

    pp = policy;
    rp = state;
    now = ngx_current_msec;

    for (i = 0; i < elcf->quotas->nelts; i++) {
        qz = q[i].shm_zone->data;

        if (ngx_http_complex_value(r, &qz->key, &key) != NGX_OK) {
            return NGX_ERROR;
        }

        if (key.len == 0 || key.len > NGX_HTTP_EXPORT_QUOTA_KEY_MAX) {
            continue;
        }

        ngx_shmtx_lock(&qz->shpool->mutex);

        qn = ngx_http_export_quota_lookup(qz, &key,
                                          ngx_crc32_short(key.data, key.len));

        if (q[i].active) {
            remaining = qn ? q[i].active - ngx_min(qn->active, q[i].active)
                           : q[i].active;

            pp = ngx_sprintf(pp, "%s\"%V-active\";q=%ui",
                             pp == policy ? "" : ", ",
                             &q[i].shm_zone->shm.name, q[i].active);
            rp = ngx_sprintf(rp, "%s\"%V-active\";r=%ui",
                             rp == state ? "" : ", ",
                             &q[i].shm_zone->shm.name, remaining);
        }

        if (q[i].rate) {
            if (qn && qn->tokens >= 0) {
                ngx_http_export_quota_refill(&q[i], qn, now);
                remaining = qn->tokens / 1000;
                reset = (ngx_msec_int_t) ((uint64_t)
                            ((ngx_msec_int_t) q[i].rate * 1000 - qn->tokens)
                            * q[i].period / ((uint64_t) q[i].rate * 1000));

            } else {
                remaining = q[i].rate;
                reset = 0;
            }

            pp = ngx_sprintf(pp, "%s\"%V\";q=%ui;w=%M",
                             pp == policy ? "" : ", ",
                             &q[i].shm_zone->shm.name, q[i].rate,
                             q[i].period / 1000);
            rp = ngx_sprintf(rp, "%s\"%V\";r=%ui;t=%M",
                             rp == state ? "" : ", ",
                             &q[i].shm_zone->shm.name, remaining,
                             (ngx_msec_t) (reset + 999) / 1000);
        }

        ngx_shmtx_unlock(&qz->shpool->mutex);
    }

    if (pp == policy) {
        return NGX_OK;
    }

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "RateLimit-Policy");
    h->value.data = policy;
    h->value.len = pp - policy;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "RateLimit");
    h->value.data = state;
    h->value.len = rp - state;

    return NGX_OK;
}


ngx_uint_t
ngx_http_export_is_quota_zone(ngx_shm_zone_t *shm_zone)
{
    return shm_zone->init == ngx_http_export_quota_init_zone;
}


/* clients the quota zone tracks, for export_status */

ngx_uint_t
ngx_http_export_quota_entries(ngx_shm_zone_t *shm_zone)
{
    ngx_uint_t                     n;
    ngx_queue_t                   *q;
    ngx_http_export_quota_zone_t  *qz;

    qz = shm_zone->data;
    n = 0;

    ngx_shmtx_lock(&qz->shpool->mutex);

    for (q = ngx_queue_head(&qz->sh->queue);
         q != ngx_queue_sentinel(&qz->sh->queue);
         q = ngx_queue_next(q))
    {
        n++;
    }

    ngx_shmtx_unlock(&qz->shpool->mutex);

    return n;
}
