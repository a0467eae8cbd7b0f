/* test_metrics.c -- the -metrics listener of the server command: /metrics counts known traffic
 * exactly (appended bytes, bytes sent to followers, followers, appenders, live resources, responses
 * by status class), the listener serves nothing else (404; resources are not reachable through it,
 * and /metrics is not reachable through the resource listener), scrapes are not counted, and
 * /healthz answers 200 while serving, 503 while a graceful shutdown waits for a follower and while
 * the root cannot be written. */
#include "../harness.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const metrics_flags[] = {"-metrics=127.0.0.1:0", "-ping=0", NULL};

/* The metrics port, from the "metrics on HOST:PORT" log line; 0 when it is not there yet. */
static int metrics_port(tsrv *s)
{
    tbuf b = {0};
    int port = 0;

    for (int i = 0; i < 200 && !port; i++) {
        if (t_file_read(s->log, &b) == 0) {
            tbuf_add(&b, "", 1);
            const char *p = strstr((const char *)b.p, "metrics on ");
            const char *nl = p ? strchr(p, '\n') : NULL;
            if (p && nl) {
                const char *colon = nl;
                while (colon > p && *colon != ':')
                    colon--;
                port = atoi(colon + 1);
            }
        }
        if (!port)
            t_sleep_ms(10);
    }
    tbuf_free(&b);
    return port;
}

/* The value of the sample whose line starts with name followed by a space (name may hold
 * labels: `x{role="follower"}`); -1 when absent. */
static long long sample(const thttp_resp *r, const char *name)
{
    size_t n = strlen(name);
    const char *p = (const char *)r->body.p, *end = p + r->body.len;

    while (p && p < end) {
        if ((size_t)(end - p) > n + 1 && memcmp(p, name, n) == 0 && p[n] == ' ')
            return strtoll(p + n + 1, NULL, 10);
        p = memchr(p, '\n', (size_t)(end - p));
        if (p)
            p++;
    }
    return -1;
}

/* Scrapes /metrics into r; returns its status. */
static int scrape(int port, thttp_resp *r)
{
    thttp_get(port, "/metrics", NULL, r);
    return r->status;
}

/* Polls /metrics until sample name has value want (the server counts as events happen, the test
 * sees them a little later). Returns 1, or 0 after timeout_ms with the last value in *got. */
static int wait_sample(int port, const char *name, long long want, long long *got)
{
    for (int i = 0; i < 300; i++) {
        thttp_resp r;
        scrape(port, &r);
        *got = sample(&r, name);
        thttp_free(&r);
        if (*got == want)
            return 1;
        t_sleep_ms(10);
    }
    return 0;
}

static void test_known_traffic(void)
{
    tsrv *s = tsrv_start(metrics_flags);
    CHECK(s);
    int mp = metrics_port(s);
    CHECK(mp > 0);
    thttp_resp r;
    long long got;

    /* Nothing yet: every counter at 0, the scrape itself not counted. */
    CHECK_INT(scrape(mp, &r), 200);
    CHECK(thttp_contains(&r, "text/plain; version=0.0.4"));
    CHECK_INT(sample(&r, "httpfstream_appended_bytes_total"), 0);
    CHECK_INT(sample(&r, "httpfstream_requests_total{code=\"2xx\"}"), 0);
    CHECK_INT(sample(&r, "httpfstream_up"), 1);
    CHECK(sample(&r, "httpfstream_open_fds") > 0);
    CHECK(sample(&r, "httpfstream_max_fds") > 0);
    thttp_free(&r);

    /* Two followers on a.log, an appender that sends 3 messages of 1000 bytes. */
    tws *f1 = tws_follow(s->port, "/a.log?wait");
    tws *f2 = tws_follow(s->port, "/a.log?wait");
    CHECK(f1 && f2);
    tws *a = tws_append(s->port, "/a.log");
    CHECK(a);
    CHECKF(wait_sample(mp, "httpfstream_followers", 2, &got), "followers %lld", got);
    CHECKF(wait_sample(mp, "httpfstream_appenders", 1, &got), "appenders %lld", got);
    CHECKF(wait_sample(mp, "httpfstream_resources_live", 1, &got), "live %lld", got);
    char msg[1000];
    memset(msg, 'x', sizeof(msg));
    tbuf want = {0};
    for (int i = 0; i < 3; i++)
        CHECK(tws_append_msg(s, a, "a.log", &want, msg, sizeof(msg)) == 0);
    tws_collect c1 = {.utf8 = 1}, c2 = {.utf8 = 1};
    CHECK(tws_collect_until(f1, &c1, 3000, T_TIMEOUT) == 0);
    CHECK(tws_collect_until(f2, &c2, 3000, T_TIMEOUT) == 0);
    CHECKF(wait_sample(mp, "httpfstream_appended_bytes_total", 3000, &got), "appended %lld", got);
    CHECKF(wait_sample(mp, "httpfstream_follower_sent_bytes_total", 6000, &got), "sent %lld", got);
    CHECK_INT(scrape(mp, &r), 200);
    CHECK_INT(sample(&r, "httpfstream_connections{role=\"follower\"}"), 2);
    CHECK_INT(sample(&r, "httpfstream_connections{role=\"appender\"}"), 1);
    CHECK_INT(sample(&r, "httpfstream_connections{role=\"metrics\"}"), 1);
    CHECK_INT(sample(&r, "httpfstream_requests_total{code=\"1xx\"}"), 3); /* three handshakes */
    thttp_free(&r);

    /* Three 404s and a PUT (201), then a GET of what it wrote (200). */
    for (int i = 0; i < 3; i++) {
        CHECK_INT(thttp_get(s->port, t_fmt("/missing-%d", i), NULL, &r), 0);
        CHECK_INT(r.status, 404);
        thttp_free(&r);
    }
    int fd = t_connect(s->port);
    CHECK(fd >= 0);
    t_send_str(fd, "PUT /b.log HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nConnection: close\r\n"
                   "\r\nhello");
    CHECK_INT(thttp_read(fd, &r, 0, T_TIMEOUT), 0);
    close(fd);
    CHECK_INT(r.status, 201);
    thttp_free(&r);
    CHECK_INT(thttp_get(s->port, "/b.log", NULL, &r), 0);
    CHECK_INT(r.status, 200);
    thttp_free(&r);
    CHECKF(wait_sample(mp, "httpfstream_requests_total{code=\"4xx\"}", 3, &got), "4xx %lld", got);
    CHECKF(wait_sample(mp, "httpfstream_requests_total{code=\"2xx\"}", 2, &got), "2xx %lld", got);
    CHECKF(wait_sample(mp, "httpfstream_appended_bytes_total", 3005, &got), "appended %lld", got);

    /* The appender leaves: the followers get the end; nothing is live any more. */
    CHECK(tws_end_append(a) == 0);
    CHECK(tws_collect_until(f1, &c1, SIZE_MAX, T_TIMEOUT) == 0);
    CHECK(tws_collect_until(f2, &c2, SIZE_MAX, T_TIMEOUT) == 0);
    CHECKF(wait_sample(mp, "httpfstream_followers", 0, &got), "followers %lld", got);
    CHECKF(wait_sample(mp, "httpfstream_resources_live", 0, &got), "live %lld", got);
    CHECK_INT(scrape(mp, &r), 200);
    CHECK_INT(sample(&r, "httpfstream_follower_sent_bytes_total"), 6000);
    CHECK_INT(sample(&r, "httpfstream_followers_dropped_total"), 0);
    CHECK_INT(sample(&r, "httpfstream_followers_lagging"), 0);
    CHECK_INT(sample(&r, "httpfstream_dead_peers_total"), 0);
    CHECK_INT(sample(&r, "httpfstream_write_errors_total"), 0);
    CHECK_INT(sample(&r, "httpfstream_sync_errors_total"), 0);
    CHECK_INT(sample(&r, "httpfstream_requests_total{code=\"5xx\"}"), 0);
    thttp_free(&r);
    tws_collect_free(&c1);
    tws_collect_free(&c2);
    tws_free(f1);
    tws_free(f2);
    tws_free(a);
    tbuf_free(&want);
    tsrv_stop(s);
}

static void test_listeners_apart(void)
{
    tsrv *s = tsrv_start(metrics_flags);
    CHECK(s);
    int mp = metrics_port(s);
    CHECK(mp > 0);
    thttp_resp r;

    CHECK(t_file_write(tsrv_path(s, "metrics"), "a resource\n", 11) == 0);
    CHECK(t_file_write(tsrv_path(s, "c.log"), "c\n", 2) == 0);
    /* The resource listener serves the resource named metrics, never the server's metrics. */
    CHECK_INT(thttp_get(s->port, "/metrics", NULL, &r), 0);
    CHECK_INT(r.status, 200);
    CHECK_MEM(r.body.p, r.body.len, "a resource\n", 11);
    thttp_free(&r);
    CHECK_INT(thttp_get(s->port, "/healthz", NULL, &r), 0);
    CHECK_INT(r.status, 404);
    thttp_free(&r);
    /* The metrics listener serves no resource, and takes no other method. */
    CHECK_INT(thttp_get(mp, "/c.log", NULL, &r), 0);
    CHECK_INT(r.status, 404);
    thttp_free(&r);
    CHECK_INT(thttp_req(mp, "PUT", "/metrics", "Content-Length: 0\r\n", &r), 0);
    CHECK_INT(r.status, 405);
    thttp_free(&r);
    CHECK_INT(thttp_get(mp, "/healthz", NULL, &r), 0);
    CHECK_INT(r.status, 200);
    CHECK_MEM(r.body.p, r.body.len, "ok\n", 3);
    thttp_free(&r);
    CHECK_INT(thttp_get(mp, "/metrics?x=1", NULL, &r), 0);
    CHECK_INT(r.status, 200);
    /* Only the two requests on the resource listener were counted. */
    CHECK_INT(sample(&r, "httpfstream_requests_total{code=\"2xx\"}"), 1);
    CHECK_INT(sample(&r, "httpfstream_requests_total{code=\"4xx\"}"), 1);
    thttp_free(&r);
    tsrv_stop(s);
}

static void test_healthz_shutdown(void)
{
    const char *const flags[] = {"-metrics=127.0.0.1:0", "-ping=0", "-shutdown-timeout=3s", NULL};
    tsrv *s = tsrv_start(flags);
    CHECK(s);
    int mp = metrics_port(s);
    CHECK(mp > 0);
    thttp_resp r;

    CHECK_INT(thttp_get(mp, "/healthz", NULL, &r), 0);
    CHECK_INT(r.status, 200);
    thttp_free(&r);
    /* A follower that never reads, behind by far more than the socket buffers hold, keeps the
     * graceful shutdown waiting until -shutdown-timeout. */
    size_t big = 8u << 20;
    char *blob = malloc(big);
    CHECK(blob);
    memset(blob, 'y', big);
    int wrote = t_file_write(tsrv_path(s, "big.log"), blob, big);
    free(blob);
    CHECK(wrote == 0);
    tws *a = tws_append(s->port, "/big.log"); /* keeps the stream open: the follower stays */
    CHECK(a);
    tws *f = tws_connect_rcvbuf(s->port, "/big.log", NULL, NULL, 4096);
    CHECK(f);
    t_sleep_ms(200);
    /* It is far more than -tail (1 MiB) behind: lagging. */
    CHECK_INT(thttp_get(mp, "/metrics", NULL, &r), 0);
    CHECK_INT(sample(&r, "httpfstream_followers"), 1);
    CHECK_INT(sample(&r, "httpfstream_followers_lagging"), 1);
    thttp_free(&r);
    int64_t t0 = t_now_ms();
    tsrv_term(s);
    /* While it waits: /healthz says 503, /metrics says up 0, on a connection made after the
     * signal. */
    int seen = 0;
    for (int i = 0; i < 100 && !seen; i++) {
        if (thttp_get(mp, "/healthz", NULL, &r) == 0 && r.status == 503)
            seen = thttp_contains(&r, "shutting down");
        thttp_free(&r);
        if (!seen)
            t_sleep_ms(10);
    }
    CHECK(seen);
    CHECK_INT(thttp_get(mp, "/metrics", NULL, &r), 0);
    CHECK_INT(r.status, 200);
    CHECK_INT(sample(&r, "httpfstream_up"), 0);
    thttp_free(&r);
    /* The resource listener is closed; the scrapes did not hold the shutdown up beyond its
     * timeout. */
    CHECK(t_connect(s->port) < 0);
    CHECK(tsrv_wait_exit(s, 10000) >= 0);
    CHECKF(t_now_ms() - t0 < 6000, "exit after %lld ms", (long long)(t_now_ms() - t0));
    CHECK(t_connect(mp) < 0);
    tws_free(f);
    tws_free(a);
    tsrv_stop(s);
}

static void test_healthz_storage(void)
{
    tsrv *s = tsrv_start(metrics_flags);
    CHECK(s);
    int mp = metrics_port(s);
    CHECK(mp > 0);
    thttp_resp r;

    /* The root cannot be written: storage unavailable (root bypasses permissions: skip). */
    if (geteuid() == 0) {
        CHECK(rename(s->root, t_fmt("%s/moved", s->dir)) == 0);
    } else {
        CHECK(chmod(s->root, 0500) == 0);
    }
    CHECK_INT(thttp_get(mp, "/healthz", NULL, &r), 0);
    CHECK_INT(r.status, 503);
    CHECK(thttp_contains(&r, "storage unavailable"));
    thttp_free(&r);
    if (geteuid() == 0) {
        CHECK(rename(t_fmt("%s/moved", s->dir), s->root) == 0);
    } else {
        CHECK(chmod(s->root, 0755) == 0);
    }
    CHECK_INT(thttp_get(mp, "/healthz", NULL, &r), 0);
    CHECK_INT(r.status, 200);
    thttp_free(&r);
    tsrv_stop(s);
}

/* A write that fails (RLIMIT_FSIZE: EFBIG) is counted once; the descriptor limit is the one the
 * process has. */
static void test_write_error_and_fd_limit(void)
{
    tsrv *s = tsrv_start_rlimits(metrics_flags, 1000, 256);
    CHECK(s);
    int mp = metrics_port(s);
    CHECK(mp > 0);
    thttp_resp r;
    long long got;

    CHECK_INT(scrape(mp, &r), 200);
    CHECK_INT(sample(&r, "httpfstream_max_fds"), 256);
    CHECK_INT(sample(&r, "httpfstream_write_errors_total"), 0);
    thttp_free(&r);
    tws *a = tws_append(s->port, "/full.log");
    CHECK(a);
    char msg[4000];
    memset(msg, 'z', sizeof(msg));
    CHECK(tws_send(a, WS_OP_TEXT, 1, msg, sizeof(msg)) == 0);
    CHECKF(wait_sample(mp, "httpfstream_write_errors_total", 1, &got), "write errors %lld", got);
    char why[128];
    CHECK(tws_read_close(a, why, sizeof(why), T_TIMEOUT) != 0); /* the session ends */
    CHECKF(wait_sample(mp, "httpfstream_appenders", 0, &got), "appenders %lld", got);
    CHECK_INT(scrape(mp, &r), 200);
    CHECK_INT(sample(&r, "httpfstream_write_errors_total"), 1);
    CHECK_INT(sample(&r, "httpfstream_sync_errors_total"), 0);
    CHECK_INT(sample(&r, "httpfstream_up"), 1);
    thttp_free(&r);
    tws_free(a);
    tsrv_stop(s);
}

int main(void)
{
    RUN(test_known_traffic);
    RUN(test_listeners_apart);
    RUN(test_healthz_shutdown);
    RUN(test_healthz_storage);
    RUN(test_write_error_and_fd_limit);
    return test_report();
}
