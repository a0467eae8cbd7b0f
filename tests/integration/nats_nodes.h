/* nats_nodes.h -- what the multi-node tests (test_nats_*.c) share: a three-server NATS JetStream
 * cluster driven through tests/nats/cluster.sh, httpfstream nodes started on it with -store, and
 * small HTTP helpers with long timeouts (a request may wait out a JetStream leader election).
 *
 * The tests skip (exit 0, saying why) when nats-server is not installed or when the server binary
 * has no -store flag; HFS_NATS_REQUIRED=1 turns both into failures. */
#ifndef HFS_TEST_NATS_NODES_H
#define HFS_TEST_NATS_NODES_H

#include "../harness.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct ncl {
    char dir[256];   /* the cluster's folder (configurations, logs, JetStream data) */
    char urls[1024]; /* nats://127.0.0.1:P1,nats://...:P2,nats://...:P3 */
    int up;
} ncl;

static ncl ncl_main;

/* tests/nats/cluster.sh, found from the working directory (tests/run.sh runs from the top) or
 * from HFS_BUILD. */
static inline const char *ncl_script(void)
{
    static char path[512];
    if (path[0])
        return path;
    const char *b = getenv("HFS_BUILD");
    if (b && *b) {
        snprintf(path, sizeof(path), "%s/../tests/nats/cluster.sh", b);
        if (access(path, R_OK) == 0)
            return path;
    }
    snprintf(path, sizeof(path), "tests/nats/cluster.sh");
    return path;
}

/* Runs cluster.sh with args; its first output line goes to out. Returns its exit status. */
static inline int ncl_sh(const ncl *c, const char *args, char *out, size_t cap)
{
    char cmd[1400];
    snprintf(cmd, sizeof(cmd), "sh '%s' %s", ncl_script(), args);
    (void)c;
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    char line[1100] = "";
    if (!fgets(line, sizeof(line), p))
        line[0] = 0;
    char drain[256];
    while (fgets(drain, sizeof(drain), p))
        ;
    int st = pclose(p);
    line[strcspn(line, "\r\n")] = 0;
    if (out && cap)
        snprintf(out, cap, "%s", line);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static inline void ncl_stop(ncl *c)
{
    if (!c->up)
        return;
    ncl_sh(c, t_fmt("stop '%s'", c->dir), NULL, 0);
    c->up = 0;
    if (!getenv("HFS_KEEP"))
        t_rm_rf(c->dir);
    else
        fprintf(stderr, "# cluster kept in %s\n", c->dir);
}

static inline void ncl_atexit(void)
{
    ncl_stop(&ncl_main);
}

/* Starts the cluster (ncl_main). 0, or -1 after counting a failure. */
static inline int ncl_start(ncl *c)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(c->dir, sizeof(c->dir), "%s/hfs-nats.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(c->dir)) {
        test_fail(__FILE__, __LINE__, "mkdtemp failed");
        return -1;
    }
    int64_t t0 = t_now_ms();
    int rc = ncl_sh(c, t_fmt("start '%s'", c->dir), c->urls, sizeof(c->urls));
    if (rc != 0 || strncmp(c->urls, "nats://", 7) != 0) {
        test_fail(__FILE__, __LINE__, "cluster.sh start: exit %d, output [%s]", rc, c->urls);
        return -1;
    }
    c->up = 1;
    atexit(ncl_atexit);
    fprintf(stderr, "# nats cluster up in %lld ms: %s\n", (long long)(t_now_ms() - t0), c->urls);
    return 0;
}

/* SIGKILL / restart server i (1..3). */
static inline int ncl_kill(ncl *c, int i)
{
    return ncl_sh(c, t_fmt("kill '%s' %d", c->dir, i), NULL, 0);
}
static inline int ncl_restart(ncl *c, int i)
{
    return ncl_sh(c, t_fmt("restart '%s' %d", c->dir, i), NULL, 0);
}
/* Stops every server (SIGTERM) but keeps the folder, for ncl_restart_all. */
static inline int ncl_down(ncl *c)
{
    return ncl_sh(c, t_fmt("stop '%s'", c->dir), NULL, 0);
}
static inline int ncl_restart_all(ncl *c)
{
    int rc = 0;
    for (int i = 1; i <= 3; i++)
        rc |= ncl_restart(c, i);
    return rc;
}
/* The index (1..3) of the server leading stream, polled up to timeout_ms; 0 when none. */
static inline int ncl_leader(ncl *c, const char *stream, int timeout_ms)
{
    int64_t end = t_now_ms() + timeout_ms;
    do {
        char out[64];
        if (ncl_sh(c, t_fmt("leader '%s' %s", c->dir, stream), out, sizeof(out)) == 0 &&
            out[0] >= '1' && out[0] <= '3')
            return out[0] - '0';
        t_sleep_ms(100);
    } while (t_now_ms() < end);
    return 0;
}

/* 1 when the tests can run; else prints why and returns 0 (or fails under HFS_NATS_REQUIRED). */
static inline int ncl_available(void)
{
    const char *req = getenv("HFS_NATS_REQUIRED");
    int required = req && *req && strcmp(req, "0") != 0;
    if (system("command -v nats-server >/dev/null 2>&1") != 0) {
        if (required)
            test_fail(__FILE__, __LINE__, "nats-server is not installed (scripts/deps.sh test)");
        else
            printf("# skip: nats-server is not installed (scripts/deps.sh test)\n");
        return 0;
    }
    const char *bin = getenv("HFS_BIN");
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "'%s/httpfstream-server' -h 2>&1 | grep -q -- '-store'",
             bin && *bin ? bin : "build/bin");
    if (system(cmd) != 0) {
        if (required)
            test_fail(__FILE__, __LINE__, "httpfstream-server has no -store flag");
        else
            printf("# skip: this httpfstream-server has no -store flag (the NATS backend)\n");
        return 0;
    }
    return 1;
}

/* A node on the cluster: -store=URLS, -lease=lease (NULL: default), plus up to 6 more flags. */
static inline tsrv *node_start(const ncl *c, const char *lease, const char *const *more)
{
    const char *flags[TSRV_MAX_FLAGS + 1];
    int n = 0;
    char store[1100], lf[64];
    snprintf(store, sizeof(store), "-store=%s", c->urls);
    flags[n++] = store;
    if (lease) {
        snprintf(lf, sizeof(lf), "-lease=%s", lease);
        flags[n++] = lf;
    }
    for (int i = 0; more && more[i] && n < TSRV_MAX_FLAGS; i++)
        flags[n++] = more[i];
    flags[n] = NULL;
    return tsrv_start(flags);
}

/* ---- HTTP with long timeouts ------------------------------------------------------------------
 */

/* Sends method path with headers and n body bytes (Content-Length) on a new connection and reads
 * the answer for up to timeout_ms. Returns the status (0: no answer). r may be NULL. */
static inline int nreq(int port, const char *method, const char *path, const char *headers,
                       const void *body, size_t n, int timeout_ms, thttp_resp *r)
{
    thttp_resp local;
    thttp_resp *rr = r ? r : &local;
    memset(rr, 0, sizeof(*rr));
    int fd = t_connect(port);
    if (fd < 0)
        return 0;
    char head[4096];
    int hl = snprintf(head, sizeof(head), "%s %s HTTP/1.1\r\nHost: h\r\nConnection: close\r\n%s%s",
                      method, path, headers ? headers : "",
                      body || strcmp(method, "PUT") == 0 || strcmp(method, "POST") == 0
                          ? t_fmt("Content-Length: %zu\r\n\r\n", n)
                          : "\r\n");
    int status = 0;
    if (t_send_all(fd, head, (size_t)hl) == 0 && (n == 0 || t_send_all(fd, body, n) == 0) &&
        thttp_read(fd, rr, strcmp(method, "HEAD") == 0, timeout_ms) == 0)
        status = rr->status;
    close(fd);
    if (!r)
        thttp_free(&local);
    return status;
}

/* X-Resource-Size (or Content-Length for a HEAD) of a response; -1 when absent. */
static inline long long nsize(const thttp_resp *r)
{
    const char *v = thttp_header(r, "X-Resource-Size");
    if (!v)
        v = thttp_header(r, "Content-Length");
    return v ? atoll(v) : -1;
}

/* The size of path on a node (HEAD), -1 when it cannot be had. */
static inline long long nhead_size(int port, const char *path)
{
    thttp_resp r;
    long long size = -1;
    if (nreq(port, "HEAD", path, NULL, NULL, 0, 10000, &r) == 200)
        size = nsize(&r);
    else if (r.status == 404)
        size = 0;
    thttp_free(&r);
    return size;
}

/* Polls until a node's local copy of rel (its -root) holds exactly p[0..n). */
static inline int node_file_eq(const tsrv *s, const char *rel, const void *p, size_t n,
                               int timeout_ms)
{
    return t_file_wait_eq(tsrv_path(s, rel), p, n, timeout_ms);
}

/* GET path on a node until its body is exactly p[0..n) (replication is asynchronous). */
static inline int node_get_eq(int port, const char *path, const char *headers, const void *p,
                              size_t n, int timeout_ms)
{
    int64_t end = t_now_ms() + timeout_ms;
    do {
        thttp_resp r;
        int st = nreq(port, "GET", path, headers, NULL, 0, 10000, &r);
        int ok = st == 200 && r.body.len == n && memcmp(r.body.p, p, n) == 0;
        thttp_free(&r);
        if (ok)
            return 1;
        t_sleep_ms(20);
    } while (t_now_ms() < end);
    return 0;
}

/* Sends one chunk of a chunked request body. 0, or -1. */
static inline int send_chunk(int fd, const void *p, size_t n)
{
    char h[32];
    int k = snprintf(h, sizeof(h), "%zx\r\n", n);
    return t_send_all(fd, h, (size_t)k) || t_send_all(fd, p, n) || t_send_all(fd, "\r\n", 2) ? -1
                                                                                             : 0;
}

/* A ?follow of path on a node, retried while the node answers 404 (it has not applied the
 * resource's creation yet). NULL after timeout_ms. */
static inline ths *follow_when_there(int port, const char *path, int timeout_ms)
{
    int64_t end = t_now_ms() + timeout_ms;
    do {
        ths *h = ths_get(port, path, NULL);
        if (h && h->r.status == 200)
            return h;
        ths_free(h);
        t_sleep_ms(20);
    } while (t_now_ms() < end);
    return NULL;
}

/* Printable pseudo-random bytes (lines of text), so that TEXT frames and SSE carry them as is. */
static inline void text_fill(uint8_t *p, size_t n, unsigned salt)
{
    static const char al[] = "abcdefghijklmnopqrstuvwxyz0123456789 -_";
    for (size_t i = 0; i < n; i++)
        p[i] = (i % 61 == 60) ? '\n' : (uint8_t)al[(t_rand() + salt) % (sizeof(al) - 1)];
}

#endif
