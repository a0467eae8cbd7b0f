/* test_shutdown.c -- the graceful stop of the server command: on SIGTERM (or SIGINT) it stops
 * accepting, the appender gets CLOSE 1001 (a message still on its way is kept whole, in part or not
 * at all: the file stays a prefix of what was sent), every follower (up to date or megabytes
 * behind) gets every byte in the file then CLOSE 1001, a response in progress finishes, idle
 * keep-alive connections are closed, and the process exits 0 as soon as all is closed; a follower
 * that never reads holds it up only until -shutdown-timeout; a second signal ends it at once. */
#include "../harness.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- helpers --------------------------------------------------------------------------------- */

/* Reads the server's CLOSE and returns its code (0 when none came in time). */
static unsigned read_close(tws *w, int timeout_ms)
{
    tws_frame f;
    if (tws_read_type(w, WS_EV_CLOSE, &f, timeout_ms) != WS_EV_CLOSE)
        return 0;
    return f.close_code;
}

/* A follower read in its own thread as fast as the data comes. */
typedef struct reader {
    tws *w;
    tws_collect c;
    size_t bytes; /* atomic copy of c.bytes */
    pthread_t thread;
} reader;

static void *reader_main(void *arg)
{
    reader *j = arg;
    while (tws_collect_step(j->w, &j->c, 30000) >= 0)
        __atomic_store_n(&j->bytes, j->c.bytes, __ATOMIC_RELEASE);
    __atomic_store_n(&j->bytes, j->c.bytes, __ATOMIC_RELEASE);
    return NULL;
}

static int wait_bytes(reader *j, size_t n, int timeout_ms)
{
    int64_t deadline = t_now_ms() + timeout_ms;
    while (__atomic_load_n(&j->bytes, __ATOMIC_ACQUIRE) < n) {
        if (t_now_ms() >= deadline)
            return 0;
        t_sleep_ms(2);
    }
    return 1;
}

/* Waits until the file has n bytes (by size), then compares. */
static int file_wait_content(const char *path, const uint8_t *p, size_t n, int timeout_ms)
{
    int64_t deadline = t_now_ms() + timeout_ms;
    struct stat st;
    for (;;) {
        if (stat(path, &st) == 0 && (size_t)st.st_size >= n)
            return t_file_wait_eq(path, p, n, 0);
        if (t_now_ms() >= deadline)
            return 0;
        t_sleep_ms(5);
    }
}

/* 1 when a new connection is not served: refused, or closed without a byte of response. */
static int not_served(int port)
{
    int fd = t_connect(port);
    if (fd < 0)
        return 1;
    thttp_resp r;
    t_send_str(fd, "GET /probe HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    int got = thttp_read(fd, &r, 0, 3000) == 0 ? r.status : 0;
    thttp_free(&r);
    close(fd);
    if (got)
        fprintf(stderr, "  note: a connection made during the drain got a %d\n", got);
    return got == 0;
}

/* An appender with data and a follower on a small receive buffer that never reads: the drain
 * cannot finish on its own. */
static int stuck_follower(tsrv *s, tws **app, tws **stuck, uint8_t *data, size_t len)
{
    *app = tws_append(s->port, "/stuck.bin");
    if (!*app)
        return -1;
    if (tws_send(*app, WS_OP_BINARY, 1, data, 1) < 0 ||
        !t_file_wait_eq(tsrv_path(s, "stuck.bin"), data, 1, 2000))
        return -1;
    *stuck = tws_connect_rcvbuf(s->port, "/stuck.bin?frames=binary", NULL, NULL, 4096);
    if (!*stuck)
        return -1;
    for (size_t off = 1; off < len; off += 65536)
        if (tws_send(*app, WS_OP_BINARY, 1, data + off, len - off < 65536 ? len - off : 65536) < 0)
            return -1;
    return file_wait_content(tsrv_path(s, "stuck.bin"), data, len, 5000) ? 0 : -1;
}

/* 1 while the process runs; an exit is reaped here (not counted as dying by itself). */
static int still_running(tsrv *s)
{
    return s->pid > 0 && tsrv_wait_exit(s, 0) == -1;
}

/* ---- tests ----------------------------------------------------------------------------------- */

static void test_sigterm_drains_everyone(void)
{
    const size_t total = 8u << 20, tail = 4096, big = 2u << 20;
    const char *flags[] = {"-shutdown-timeout=10s", NULL};
    tsrv *s = tsrv_start(flags);
    uint8_t *data = malloc(total + tail), *bigdata = malloc(big);
    thttp_resp r;
    tbuf file = {0};
    CHECK(s && data && bigdata);
    t_rand_fill(data, total + tail);
    t_rand_fill(bigdata, big);
    CHECK(t_file_write(tsrv_path(s, "big.bin"), bigdata, big) == 0);

    tws *app = tws_append(s->port, "/d.bin");
    CHECK(app);
    CHECK(tws_send(app, WS_OP_BINARY, 1, data, 1) == 0);
    CHECK(t_file_wait_eq(tsrv_path(s, "d.bin"), data, 1, 2000));
    /* on the heap: if a check fails, the test returns while the thread still runs */
    reader *up = calloc(1, sizeof(*up));
    CHECK(up);
    up->c.opcode = WS_OP_BINARY;
    up->c.answer_pings = 1;
    up->w = tws_follow(s->port, "/d.bin?frames=binary");
    CHECK(up->w);
    tws *lag = tws_connect_rcvbuf(s->port, "/d.bin?frames=binary", NULL, NULL, 4096);
    CHECK(lag);
    CHECK(pthread_create(&up->thread, NULL, reader_main, up) == 0);
    for (size_t off = 1; off < total; off += 65536)
        CHECK(tws_send(app, WS_OP_BINARY, 1, data + off,
                       total - off < 65536 ? total - off : 65536) == 0);
    CHECK(file_wait_content(tsrv_path(s, "d.bin"), data, total, 10000));
    CHECKF(wait_bytes(up, total, 10000), "the up-to-date follower has %zu of %zu bytes",
           __atomic_load_n(&up->bytes, __ATOMIC_ACQUIRE), total);

    /* a static response in progress, and an idle keep-alive connection */
    int get = t_connect_rcvbuf(s->port, 4096);
    CHECK(get >= 0);
    CHECK(t_send_str(get, "GET /big.bin HTTP/1.1\r\nHost: h\r\n\r\n") == 0);
    struct pollfd pg = {.fd = get, .events = POLLIN};
    CHECKF(poll(&pg, 1, T_TIMEOUT) == 1, "no response to a GET of a 2 MiB file");
    int ka = t_connect(s->port);
    CHECK(ka >= 0);
    CHECK(t_send_str(ka, "GET /big.bin HTTP/1.1\r\nHost: h\r\n\r\n") == 0);
    CHECK(thttp_read(ka, &r, 0, T_TIMEOUT) == 0 && r.status == 200);
    thttp_free(&r);

    /* a last message still on its way: it is in the file whole, in part or not at all */
    CHECK(tws_send(app, WS_OP_BINARY, 1, data + total, tail) == 0);
    int64_t t0 = t_now_ms();
    tsrv_term(s);

    /* the appender is told at once */
    unsigned code = read_close(app, T_TIMEOUT);
    CHECKF(code == 1001, "the appender got close %u, want 1001", code);
    CHECK(t_wait_eof(app->fd, T_TIMEOUT));
    tws_free(app);
    app = NULL;
    /* the session is over: the file is final */
    CHECK(t_file_read(tsrv_path(s, "d.bin"), &file) == 0);
    CHECKF(file.len >= total && file.len <= total + tail && memcmp(file.p, data, file.len) == 0,
           "the file has %zu bytes (want %zu..%zu, a prefix of what was sent)", file.len, total,
           total + tail);
    CHECKF(t_wait_eof(ka, 3000), "an idle keep-alive connection stayed open during the drain");
    close(ka);
    ka = -1;
    t_sleep_ms(200);
    CHECKF(not_served(s->port), "a new connection was served during the drain");

    /* the laggard (8 MiB behind) reads slowly and still gets every byte in the file, then 1001 */
    tws_collect c = {.opcode = WS_OP_BINARY, .expect = data, .expect_len = total + tail};
    size_t next_pause = 0;
    int64_t deadline = t_now_ms() + 20000;
    while (t_now_ms() < deadline && tws_collect_step(lag, &c, 5000) >= 0) {
        if (c.bytes >= next_pause) {
            t_sleep_ms(10);
            next_pause += 256 * 1024;
        }
    }
    CHECKF(!c.err[0], "laggard: %s", c.err);
    CHECKF(c.bytes == file.len, "the laggard got %zu of %zu bytes", c.bytes, file.len);
    CHECKF(c.closed && c.close_code == 1001, "the laggard: CLOSE %s, code %u",
           c.closed ? "seen" : "not seen", c.close_code);
    int64_t drained = t_now_ms();

    /* the up-to-date follower: every byte, then 1001 */
    pthread_join(up->thread, NULL);
    reader u = *up;
    free(up);
    CHECKF(u.c.bytes == file.len && memcmp(u.c.data.p, file.p, file.len) == 0,
           "the up-to-date follower got %zu of %zu bytes (or different ones)", u.c.bytes, file.len);
    CHECKF(u.c.closed && u.c.close_code == 1001, "the up-to-date follower: close %u",
           u.c.close_code);

    /* the response in progress finished */
    CHECK(thttp_read(get, &r, 0, T_TIMEOUT) == 0);
    CHECK_INT(r.status, 200);
    CHECK_MEM(r.body.p, r.body.len, bigdata, big);
    thttp_free(&r);
    close(get);

    tws_free(u.w);
    tws_free(lag);
    u.w = lag = NULL;
    int st = tsrv_wait_exit(s, 8000);
    int64_t exited = t_now_ms();
    CHECKF(st != -1, "the server had not exited 8 s after everything drained and closed");
    CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit status 0x%x, want exit 0", st);
    printf("# %zu of the last %zu bytes kept; drained in %lld ms, exited %lld ms after SIGTERM\n",
           file.len - total, tail, (long long)(drained - t0), (long long)(exited - t0));
    CHECK(t_file_wait_eq(tsrv_path(s, "d.bin"), file.p, file.len, 0));
    CHECKF(exited - t0 < 9000, "exit %lld ms after SIGTERM: it waited for -shutdown-timeout",
           (long long)(exited - t0));
    tws_collect_free(&c);
    tws_collect_free(&u.c);
    tbuf_free(&file);
    free(data);
    free(bigdata);
    tsrv_stop(s);
}

/* A follower that never reads: SIGINT, and the server exits 0 at about -shutdown-timeout. */
static void test_shutdown_timeout(void)
{
    const size_t total = 4u << 20;
    const char *flags[] = {"-shutdown-timeout=1s", NULL};
    tsrv *s = tsrv_start(flags);
    uint8_t *data = malloc(total);
    tws *app = NULL, *stuck = NULL;
    CHECK(s && data);
    t_rand_fill(data, total);
    CHECK(stuck_follower(s, &app, &stuck, data, total) == 0);

    int64_t t0 = t_now_ms();
    CHECK(kill(s->pid, SIGINT) == 0);
    s->termed = 1;
    CHECKF(read_close(app, T_TIMEOUT) == 1001, "the appender did not get CLOSE 1001");
    tws_free(app); /* only the follower is left to hold the server up */
    app = NULL;
    t_sleep_ms(200);
    CHECKF(still_running(s),
           "the server exited at once, without waiting for the follower to drain");
    CHECKF(not_served(s->port), "a new connection was served during the drain");
    int st = tsrv_wait_exit(s, 10000);
    int64_t took = t_now_ms() - t0;
    CHECKF(st != -1, "still running 10 s after SIGINT with -shutdown-timeout=1s");
    CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit status 0x%x, want exit 0", st);
    CHECKF(took >= 700 && took <= 4000, "exited %lld ms after SIGINT (-shutdown-timeout=1s)",
           (long long)took);
    CHECK(tsrv_log_has(s, "interrupt"));
    tws_free(app);
    tws_free(stuck);
    free(data);
    tsrv_stop(s);
}

/* A second signal during the drain ends the process at once. */
static void test_second_signal_exits_now(void)
{
    const size_t total = 4u << 20;
    const char *flags[] = {"-shutdown-timeout=30s", NULL};
    tsrv *s = tsrv_start(flags);
    uint8_t *data = malloc(total);
    tws *app = NULL, *stuck = NULL;
    CHECK(s && data);
    t_rand_fill(data, total);
    CHECK(stuck_follower(s, &app, &stuck, data, total) == 0);

    tsrv_term(s);
    CHECKF(read_close(app, T_TIMEOUT) == 1001, "the appender did not get CLOSE 1001");
    tws_free(app); /* only the follower is left to hold the server up */
    app = NULL;
    t_sleep_ms(300);
    CHECKF(still_running(s),
           "the server exited at once, without waiting for the follower to drain");
    int64_t t0 = t_now_ms();
    CHECK(kill(s->pid, SIGTERM) == 0);
    int st = tsrv_wait_exit(s, 5000);
    int64_t took = t_now_ms() - t0;
    CHECKF(st != -1, "still running 5 s after a second SIGTERM");
    CHECKF(took < 2000, "exited %lld ms after the second signal", (long long)took);
    CHECKF(!WIFSIGNALED(st) || WTERMSIG(st) == SIGTERM, "killed by signal %d", WTERMSIG(st));
    printf("# second signal: exit status 0x%x after %lld ms\n", st, (long long)took);
    tws_free(app);
    tws_free(stuck);
    free(data);
    tsrv_stop(s);
}

int main(void)
{
    RUN(test_sigterm_drains_everyone);
    RUN(test_shutdown_timeout);
    RUN(test_second_signal_exits_now);
    return test_report();
}
