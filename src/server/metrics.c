/* metrics.c -- what the server counts, as the Prometheus text exposition format (0.0.4), and the
 * -metrics listener's router: GET /metrics, GET /healthz, 404 for anything else.
 *
 * The counters are plain uint64_t fields (srv_metrics in server.h, store_stats in the store),
 * bumped on the loop's thread where the event happens: no lock, no atomic, no syscall on the
 * fan-out path. What can be counted when scraped is counted then: connections by role (one walk of
 * the connection list), descriptors (a stat of /proc/self/fd), their limit (getrlimit). A scrape
 * runs on the loop's thread too, so it reads a consistent set. */
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/conn.h"
#include "server/fanout.h"
#include "server/http_conn.h"
#include "server/route.h"
#include "server/ws_conn.h"

#define METRICS_TEXT "text/plain; version=0.0.4; charset=utf-8"

/* The connection roles of httpfstream_connections. */
enum { ROLE_HTTP, ROLE_FOLLOWER, ROLE_APPENDER, ROLE_METRICS, ROLE_N };
static const char *const role_names[ROLE_N] = {"http", "follower", "appender", "metrics"};

/* A growing text buffer; err is set once an allocation failed. */
typedef struct mbuf {
    char *p;
    size_t len, cap;
    int err;
} mbuf;

static void __attribute__((format(printf, 2, 3))) put(mbuf *b, const char *fmt, ...)
{
    va_list ap;

    for (int i = 0; i < 2 && !b->err; i++) {
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->err = 1;
        } else if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        } else {
            size_t cap = (b->cap + (size_t)n) * 2;
            char *q = realloc(b->p, cap);
            if (!q)
                b->err = 1;
            else
                b->p = q, b->cap = cap;
        }
    }
}

/* One metric without labels: its HELP, TYPE and value. */
static void metric(mbuf *b, const char *name, const char *type, const char *help, uint64_t v)
{
    put(b, "# HELP httpfstream_%s %s\n# TYPE httpfstream_%s %s\nhttpfstream_%s %llu\n", name, help,
        name, type, name, (unsigned long long)v);
}

static int conn_role(const conn *c)
{
    if (c->metrics)
        return ROLE_METRICS;
    if (c->ops == &conn_follow_ops)
        return ROLE_FOLLOWER;
    if (c->ops == &conn_append_ops || (c->ops == &conn_http_ops && c->http && c->http->appending))
        return ROLE_APPENDER;
    return ROLE_HTTP;
}

/* Open descriptors of the process, or -1 where that cannot be read. Since Linux 6.2 the size of
 * /proc/self/fd is their number, counted from the descriptor bitmap (about a microsecond with
 * 10,000 open); before, the directory is read (a few milliseconds with 10,000: 0.4 us an entry),
 * less the descriptor reading it. */
static long fds_open(void)
{
    struct stat st;
    DIR *d;
    long n = 0;

    if (stat("/proc/self/fd", &st) == 0 && st.st_size > 0)
        return (long)st.st_size;
    if (!(d = opendir("/proc/self/fd")))
        return -1;
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n - 1;
}

/* 1 for a follower more than the in-memory tail behind its resource's readable bytes: what it
 * gets is read from the file, it reads slower than the resource grows (or started far back). */
static int lagging(const hfs_server *s, const conn *c)
{
    const follower *f = &c->u.f;

    if (!f->sr)
        return 0;
    uint64_t size = store_size(f->sr->res);
    return size > f->offset && size - f->offset > s->opt.tail_max;
}

static void put_connections(mbuf *b, const hfs_server *s)
{
    uint64_t roles[ROLE_N] = {0}, lag = 0;

    for (const conn *c = s->conns; c; c = c->next) {
        if (c->closing)
            continue;
        int role = conn_role(c);
        roles[role]++;
        lag += role == ROLE_FOLLOWER && lagging(s, c);
    }
    put(b, "# HELP httpfstream_connections Open client connections by role: http (a request or "
           "keep-alive), follower, appender (WebSocket, PUT or POST), metrics (this listener).\n"
           "# TYPE httpfstream_connections gauge\n");
    for (int i = 0; i < ROLE_N; i++)
        put(b, "httpfstream_connections{role=\"%s\"} %llu\n", role_names[i],
            (unsigned long long)roles[i]);
    metric(b, "followers", "gauge", "Followers streaming a resource or waiting for it.",
           roles[ROLE_FOLLOWER]);
    metric(b, "followers_lagging", "gauge",
           "Followers more than -tail bytes behind their resource (served from the file).", lag);
    metric(b, "appenders", "gauge", "Sessions appending to a resource.", roles[ROLE_APPENDER]);
}

static void put_requests(mbuf *b, const hfs_server *s)
{
    static const char *const cls[6] = {"other", "1xx", "2xx", "3xx", "4xx", "5xx"};

    put(b, "# HELP httpfstream_requests_total Responses sent on the resource listeners, by status "
           "class (101 for WebSocket sessions, 503 for connections over the limit).\n"
           "# TYPE httpfstream_requests_total counter\n");
    for (int i = 1; i < 6; i++)
        put(b, "httpfstream_requests_total{code=\"%s\"} %llu\n", cls[i],
            (unsigned long long)s->m.status[i]);
    if (s->m.status[0])
        put(b, "httpfstream_requests_total{code=\"other\"} %llu\n",
            (unsigned long long)s->m.status[0]);
}

static void put_descriptors(mbuf *b)
{
    struct rlimit rl;
    long open = fds_open();

    if (open >= 0)
        metric(b, "open_fds", "gauge", "Open file descriptors of the process.", (uint64_t)open);
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        metric(b, "max_fds", "gauge", "The process's limit on open file descriptors.",
               (uint64_t)rl.rlim_cur);
}

int hfs_server_metrics(hfs_server *s, char **out, size_t *len)
{
    mbuf b = {.cap = 4096};
    store_stats st;

    *out = NULL;
    *len = 0;
    if (!(b.p = malloc(b.cap)))
        return HFS_ERR_NOMEM;
    store_get_stats(s->st, &st);
    put_connections(&b, s);
    metric(&b, "resources_live", "gauge", "Resources with an appender or followers.",
           s->m.live_resources);
    metric(&b, "appended_bytes_total", "counter", "Bytes accepted from appenders.", st.appended);
    metric(&b, "follower_sent_bytes_total", "counter",
           "Resource bytes sent to followers (payload, without framing).", s->m.follower_bytes);
    put_requests(&b, s);
    metric(&b, "followers_dropped_total", "counter",
           "Followers cut off because a write to them failed.", s->m.followers_dropped);
    metric(&b, "dead_peers_total", "counter",
           "Sessions dropped because the peer stopped acknowledging (-dead-peer).",
           s->m.dead_peers);
    metric(&b, "connections_refused_total", "counter",
           "Connections answered 503 over the connection limit.", s->refused);
    metric(&b, "accept_errors_total", "counter",
           "Connections the kernel had but could not be accepted (out of descriptors).",
           s->accept_errors);
    put_descriptors(&b);
    metric(&b, "write_errors_total", "counter", "Writes to storage that failed.", st.write_errors);
    metric(&b, "sync_errors_total", "counter", "fdatasync calls that failed.", st.sync_errors);
    metric(&b, "up", "gauge", "1 while serving, 0 while shutting down or storage is unavailable.",
           hfs_server_healthy(s));
    metric(&b, "store_connected", "gauge",
           "1 while the store's backing storage is available (-store=nats://: NATS connected).",
           (uint64_t)store_healthy(s->st));
    if (b.err) {
        free(b.p);
        return HFS_ERR_NOMEM;
    }
    *out = b.p;
    *len = b.len;
    return HFS_OK;
}

int hfs_server_healthy(hfs_server *s)
{
    struct stat st;

    if (s->draining || s->closing)
        return 0;
    /* Storage: the backend's (NATS connected), and the root is still a directory the server can
     * write and search. */
    return store_healthy(s->st) && stat(s->root, &st) == 0 && S_ISDIR(st.st_mode) &&
           access(s->root, W_OK | X_OK) == 0;
}

static void answer(conn *c, int status, const char *ctype, const char *body, size_t len)
{
    if (c->srv->draining)
        c->http->close_after = 1; /* the scrape ends with its answer: the server is going */
    http_respond_raw(c, status, c->srv->draining ? "Connection: close\r\n" : NULL, ctype, body,
                     len);
}

void metrics_request(conn *c, const http_request *req, uint8_t *rest, size_t rest_len)
{
    hfs_server *s = c->srv;
    size_t n = req->target_len;
    const char *q = memchr(req->target, '?', n);
    char *text;
    size_t len;

    (void)rest, (void)rest_len;
    if (q)
        n = (size_t)(q - req->target);
    if (req->method != HTTP_GET && req->method != HTTP_HEAD) {
        c->http->close_after = req->has_body;
        http_respond_raw(c, 405, "Allow: GET, HEAD\r\n", TEXT_PLAIN, "405 method not allowed\n",
                         23);
    } else if (n == 8 && memcmp(req->target, "/metrics", 8) == 0) {
        if (hfs_server_metrics(s, &text, &len) != HFS_OK) {
            answer(c, 503, TEXT_PLAIN, "503 out of memory\n", 18);
            return;
        }
        answer(c, 200, METRICS_TEXT, text, len);
        free(text);
    } else if (n == 8 && memcmp(req->target, "/healthz", 8) == 0) {
        const char *why = s->draining || s->closing ? "shutting down\n" : "storage unavailable\n";
        if (hfs_server_healthy(s))
            answer(c, 200, TEXT_PLAIN, "ok\n", 3);
        else
            answer(c, 503, TEXT_PLAIN, why, strlen(why));
    } else {
        answer(c, 404, TEXT_PLAIN, "404 not found\n", 14);
    }
}
