/* server.c -- the public server API: options, the store, reload, the housekeeping tick, the flush
 * of followers after appends, logging, and shutdown (listening and accepting in listen.c). */
#include "server/server.h"
#include "store/nats/nats_store.h"

#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "auth/auth.h"
#include "ds/ds.h"
#include "http/path.h"
#include "server/batch.h"
#include "server/conn.h"
#include "server/http_conn.h"
#include "server/route.h"

void hfs_server_options_init(hfs_server_options *o)
{
    memset(o, 0, sizeof(*o));
    o->log_level = HFS_LOG_INFO;
    o->frame_max = 8192;
    o->message_max = 64ull << 20;
    o->ping_interval_ms = 3000;
    o->dead_peer_ms = 60000;
    o->tail_max = 1u << 20;
    o->header_timeout_ms = 30000;
    o->idle_timeout_ms = 120000;
    o->ds_prefix = "/v1/stream/";
    o->long_poll_ms = 20000;
}

/* The default connection cap: the open-files limit less a reserve for files and listeners, so
 * that accept() never runs out of descriptors in normal operation. */
static unsigned default_max_conns(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY ||
        rl.rlim_cur > 1u << 30)
        return 1u << 20;
    return rl.rlim_cur > 256 ? (unsigned)rl.rlim_cur - 128 : (unsigned)rl.rlim_cur / 2;
}

void srv_log(hfs_server *s, int level, const char *fmt, ...)
{
    char line[1024];
    va_list ap;

    if (!s->opt.log || level > s->opt.log_level)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    s->opt.log(s->opt.log_data, level, line);
}

uint64_t srv_now(const hfs_server *s)
{
    return uv_now(s->loop);
}

static void idle_cb(uv_idle_t *h)
{
    (void)h; /* exists only so that the loop does not block while followers have work */
}

/* After each round of I/O: send what appends made available. */
/* The store's log lines, through the server's log. */
static void store_log_line(void *data, int level, const char *line)
{
    srv_log(data, level, "%s", line);
}

static void check_cb(uv_check_t *h)
{
    hfs_server *s = h->data;

    if (s->wake_pending)
        follow_wake_created(s);
    follow_flush_dirty(s);
    if (s->dirty && !s->idle_active) {
        uv_idle_start(&s->idle, idle_cb);
        s->idle_active = 1;
    } else if (!s->dirty && s->idle_active) {
        uv_idle_stop(&s->idle);
        s->idle_active = 0;
    }
}

static void tick_cb(uv_timer_t *t)
{
    hfs_server *s = t->data;
    uint64_t now = srv_now(s);

    for (conn *c = s->conns, *next; c; c = next) {
        next = c->next;
        conn_on_tick(c, now);
    }
}

/* Normalises a prefix: "" or "/" -> "", else clean with no trailing slash. Returns NULL on OOM. */
static char *normalize_prefix(const char *p)
{
    size_t n = p ? strlen(p) : 0;
    char *out = malloc(n + 3);

    if (!out)
        return NULL;
    size_t len = path_clean(p ? p : "", n, out);
    if (len > 0 && out[len - 1] == '/')
        out[--len] = '\0';
    return out;
}

static int validate_options(const hfs_server_options *o)
{
    if (!o->root || !*o->root)
        return -1;
    /* A TEXT frame holds whole characters: it must fit the longest UTF-8 one (4 bytes). */
    if (o->frame_max < 4 || o->frame_max > (64u << 20))
        return -1;
    if (o->sync < HFS_SYNC_NONE || o->sync > HFS_SYNC_INTERVAL ||
        (o->sync == HFS_SYNC_INTERVAL && o->sync_interval_ms == 0))
        return -1;
    if ((o->target_max && o->target_max < 64) || (o->header_max && o->header_max < 256))
        return -1;
    /* The Durable Streams prefix: a path below the root (at the root it would hide every
     * resource from the native API). */
    const char *dp = o->ds_prefix;
    if (dp && *dp && strcmp(dp, "off") != 0 && (dp[0] != '/' || strspn(dp, "/") == strlen(dp)))
        return -1;
    return 0;
}

/* Reads the access rules and the key into *out (NULL when neither file is set). 0, or -1 with the
 * reason logged. */
static int load_auth(hfs_server *s, auth_rules **out)
{
    char err[512];

    *out = NULL;
    if (!s->auth_file && !s->key_file)
        return 0;
    if (auth_load(s->auth_file, s->key_file, out, err, sizeof(err)) < 0) {
        srv_log(s, HFS_LOG_ERROR, "access control: %s", err);
        return -1;
    }
    return 0;
}

/* Copies the access-control options; 0, or -1 out of memory. */
static int copy_auth_options(hfs_server *s, const hfs_server_options *o)
{
    s->auth_file = o->auth_file ? strdup(o->auth_file) : NULL;
    s->key_file = o->sign_key_file ? strdup(o->sign_key_file) : NULL;
    s->opt.auth_file = s->auth_file;
    s->opt.sign_key_file = s->key_file;
    return (o->auth_file && !s->auth_file) || (o->sign_key_file && !s->key_file) ? -1 : 0;
}

/* Copies the TLS file names; 0, or -1 out of memory. */
static int copy_tls_options(hfs_server *s, const hfs_server_options *o)
{
    s->tls_cert = o->tls_cert_file ? strdup(o->tls_cert_file) : NULL;
    s->tls_key = o->tls_key_file ? strdup(o->tls_key_file) : NULL;
    s->opt.tls_cert_file = s->tls_cert;
    s->opt.tls_key_file = s->tls_key;
    return (o->tls_cert_file && !s->tls_cert) || (o->tls_key_file && !s->tls_key) ? -1 : 0;
}

/* Reads the certificate and key into *out (NULL when not configured). 0, or -1 logged. */
static int load_tls(hfs_server *s, tls_ctx **out)
{
    char err[512];

    *out = NULL;
    if (!s->tls_cert)
        return 0;
    if (!(*out = tls_ctx_load(s->tls_cert, s->tls_key, err, sizeof(err)))) {
        srv_log(s, HFS_LOG_ERROR, "TLS: %s", err);
        return -1;
    }
    return 0;
}

static void free_fields(hfs_server *s)
{
    tls_ctx_free(s->tls);
    free(s->tls_cert), free(s->tls_key), free(s->tls_gather);
    auth_free(s->auth);
    free(s->auth_file), free(s->key_file);
    free(s->root), free(s->prefix), free(s->readbuf), free(s->scratch);
}

static int reload_auth(hfs_server *s);

/* The certificate and key again: new connections get them, open ones keep theirs. */
static int reload_tls(hfs_server *s)
{
    tls_ctx *ctx;

    if (load_tls(s, &ctx) < 0) {
        srv_log(s, HFS_LOG_ERROR, "reload failed: the TLS certificate in force stays");
        return HFS_ERR_INVALID;
    }
    tls_ctx_free(s->tls); /* sessions hold a reference of their own */
    s->tls = ctx;
    srv_log(s, HFS_LOG_INFO, "reload: TLS certificate read from %s and %s", s->tls_cert,
            s->tls_key);
    return HFS_OK;
}

int hfs_server_reload(hfs_server *s)
{
    int r = s->tls_cert ? reload_tls(s) : HFS_OK;
    int a = reload_auth(s);

    return r != HFS_OK ? r : a;
}

static int reload_auth(hfs_server *s)
{
    auth_rules *a;

    if (!s->auth_file && !s->key_file) {
        if (!s->tls_cert)
            srv_log(s, HFS_LOG_INFO, "reload: no -auth or -sign-key file: nothing to reload");
        return HFS_OK;
    }
    if (load_auth(s, &a) < 0) {
        srv_log(s, HFS_LOG_ERROR, "reload failed: the access rules in force stay");
        return HFS_ERR_INVALID;
    }
    auth_free(s->auth); /* one loop thread: no request is being decided now */
    s->auth = a;
    srv_log(s, HFS_LOG_INFO, "reload: access rules read from %s%s%s",
            s->auth_file ? s->auth_file : "", s->auth_file && s->key_file ? " and " : "",
            s->key_file ? s->key_file : "");
    return HFS_OK;
}

void srv_init_handle(hfs_server *s, uv_handle_t *h)
{
    h->data = s;
    s->handles++;
}

/* Files under root, or the NATS JetStream store (root: this server's local copy). */
static int open_store(hfs_server *s, const hfs_server_options *o, const store_options *so)
{
    if (!o->store_url || !*o->store_url)
        return store_file_new(s->root, so, &s->st);
    store_nats_options no = {.urls = o->store_url,
                             .root = s->root,
                             .replicas = o->store_replicas,
                             .lease_ms = o->lease_ms,
                             .creds = o->store_creds,
                             .cacert = o->store_cacert};
    return store_nats_new(&no, so, &s->st);
}

int hfs_server_new(struct uv_loop_s *loop, const hfs_server_options *o, hfs_server **out)
{
    hfs_server *s;
    store_options so;

    if (!loop || !o || validate_options(o) < 0 || !o->tls_cert_file != !o->tls_key_file)
        return HFS_ERR_INVALID;
    if (!(s = calloc(1, sizeof(*s))))
        return HFS_ERR_NOMEM;
    s->loop = loop;
    s->opt = *o;
    s->root = strdup(o->root);
    s->prefix = normalize_prefix(o->prefix);
    s->readbuf = malloc(SRV_READ_BUF);
    s->scratch = malloc(SRV_BATCH_MAX);
    if (!s->root || !s->prefix || !s->readbuf || !s->scratch || copy_auth_options(s, o) < 0 ||
        copy_tls_options(s, o) < 0)
        goto nomem;
    s->opt.root = s->root;
    s->opt.prefix = s->prefix;
    if (load_auth(s, &s->auth) < 0 || load_tls(s, &s->tls) < 0) {
        free_fields(s);
        free(s);
        return HFS_ERR_INVALID;
    }
    if (s->tls) {
        int k = tls_kernel_available();
        srv_log(s, HFS_LOG_INFO, "TLS: encryption in user space (OpenSSL); kernel TLS %s",
                k > 0   ? "is offered by this kernel but not used"
                : k < 0 ? "unknown"
                        : "not offered by this kernel (no tls module)");
    }
    if (!s->opt.max_conns)
        s->opt.max_conns = default_max_conns();
    if (!s->opt.header_timeout_ms)
        s->opt.header_timeout_ms = 30000;
    if (!s->opt.idle_timeout_ms)
        s->opt.idle_timeout_ms = 120000;
    if (!s->opt.long_poll_ms)
        s->opt.long_poll_ms = 20000;
    memset(&so, 0, sizeof(so));
    so.loop = loop;
    so.tail_max = o->tail_max;
    so.size_max = o->size_max;
    so.sync = o->sync == HFS_SYNC_CLOSE      ? STORE_SYNC_CLOSE
              : o->sync == HFS_SYNC_INTERVAL ? STORE_SYNC_INTERVAL
                                             : STORE_SYNC_NONE;
    so.sync_interval_ms = o->sync_interval_ms;
    so.log = store_log_line;
    so.log_data = s;
    s->on_request = route_request;
    int r = batch_init(s) < 0 ? STORE_ENOMEM : open_store(s, o, &so);
    if (r != STORE_OK) {
        srv_log(s, HFS_LOG_ERROR, "cannot open %s%s: %s",
                o->store_url && *o->store_url ? "the store on root " : "root ", s->root,
                r == STORE_EBUSY ? "in use by another server" : strerror(errno));
        batch_free_all(s);
        free_fields(s);
        free(s);
        return r == STORE_ENOMEM ? HFS_ERR_NOMEM : HFS_ERR_IO;
    }
    s->handles++; /* the store: it tells when it has closed */
    store_on_created(s->st, follow_created_elsewhere, s);
    uv_check_init(loop, &s->check);
    uv_idle_init(loop, &s->idle);
    uv_timer_init(loop, &s->tick);
    srv_init_handle(s, (uv_handle_t *)&s->check);
    srv_init_handle(s, (uv_handle_t *)&s->idle);
    srv_init_handle(s, (uv_handle_t *)&s->tick);
    uv_check_start(&s->check, check_cb);
    uv_timer_start(&s->tick, tick_cb, SRV_TICK_MS, SRV_TICK_MS);
    if (ds_init(s) < 0) {
        srv_log(s, HFS_LOG_ERROR, "out of memory");
        hfs_server_close(s, NULL, NULL);
        return HFS_ERR_NOMEM;
    }
    *out = s;
    return HFS_OK;
nomem:
    free_fields(s);
    free(s);
    return HFS_ERR_NOMEM;
}

static void srv_finalize(hfs_server *s)
{
    hfs_server_close_cb cb = s->close_cb;
    void *data = s->close_data;

    batch_free_all(s);
    ds_free(s);
    free(s->listeners);
    free(s->mlisteners);
    free_fields(s);
    if (cb)
        cb(s, data); /* s only identifies the server here: it is freed right after */
    free(s);
}

void srv_handle_released(hfs_server *s)
{
    if (--s->handles == 0 && s->closing)
        srv_finalize(s);
}

/* The server's own handles (timer, check, idle, listeners) end here. */
void srv_on_handle_closed(uv_handle_t *h)
{
    hfs_server *s = h->data;

    if (h->type == UV_TCP)
        free(h); /* a listener */
    srv_handle_released(s);
}

static void store_closed(void *arg)
{
    srv_handle_released(arg);
}

static void drain_timer_closed(uv_handle_t *h)
{
    hfs_server *s = h->data;

    free(h);
    srv_handle_released(s);
}

static void stop_drain_timer(hfs_server *s)
{
    if (s->drain_timer) {
        uv_close((uv_handle_t *)s->drain_timer, drain_timer_closed);
        s->drain_timer = NULL;
    }
}

/* Stops accepting: on the resource listeners, and with metrics on the -metrics ones too (a
 * graceful shutdown keeps those until the close, for /healthz to say 503). */
static void close_listeners(hfs_server *s, int metrics)
{
    for (size_t i = 0; i < s->nlisteners; i++)
        uv_close((uv_handle_t *)&s->listeners[i]->tcp, srv_on_handle_closed);
    s->nlisteners = 0;
    for (size_t i = 0; metrics && i < s->nmlisteners; i++)
        uv_close((uv_handle_t *)&s->mlisteners[i]->tcp, srv_on_handle_closed);
    if (metrics)
        s->nmlisteners = 0;
}

void srv_conn_gone(hfs_server *s)
{
    if (s->draining && !s->closing && s->nconns == s->nmconns) /* scrapes do not hold it up */
        hfs_server_close(s, s->close_cb, s->close_data);
}

static void drain_timeout(uv_timer_t *t)
{
    hfs_server *s = t->data;

    srv_log(s, HFS_LOG_WARN, "shutdown: %zu connections still open after the timeout, closing them",
            s->nconns);
    hfs_server_close(s, s->close_cb, s->close_data);
}

/* Winds one connection down for a graceful shutdown. */
static void drain_conn(conn *c)
{
    if (c->closing || c->lingering)
        return;
    if (c->ops->on_drain)
        c->ops->on_drain(c);
    else
        conn_close(c);
}

void hfs_server_shutdown(hfs_server *s, unsigned timeout_ms, hfs_server_close_cb cb, void *data)
{
    if (!s || s->closing || s->draining)
        return;
    s->draining = 1;
    s->close_cb = cb;
    s->close_data = data;
    close_listeners(s, 0);
    if (timeout_ms && (s->drain_timer = malloc(sizeof(*s->drain_timer)))) {
        uv_timer_init(s->loop, s->drain_timer);
        s->drain_timer->data = s;
        s->handles++;
        uv_timer_start(s->drain_timer, drain_timeout, timeout_ms, 0);
    }
    for (conn *c = s->conns, *next; c; c = next) {
        next = c->next;
        drain_conn(c);
    }
    srv_conn_gone(s); /* no connections at all: close right away */
}

void hfs_server_close(hfs_server *s, hfs_server_close_cb cb, void *data)
{
    if (!s || s->closing)
        return;
    s->closing = 1;
    s->close_cb = cb;
    s->close_data = data;
    stop_drain_timer(s);
    close_listeners(s, 1);
    for (conn *c = s->conns, *next; c; c = next) {
        next = c->next;
        if (c->ops->on_goodbye)
            c->ops->on_goodbye(c);
        conn_close(c);
    }
    uv_close((uv_handle_t *)&s->tick, srv_on_handle_closed);
    uv_close((uv_handle_t *)&s->idle, srv_on_handle_closed);
    uv_close((uv_handle_t *)&s->check, srv_on_handle_closed);
    ds_close(s);
    store_close(s->st, store_closed, s);
}
