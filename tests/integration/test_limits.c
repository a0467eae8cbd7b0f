/* test_limits.c -- every limit has a clear outcome, a default and a flag: request-target (414) and
 * header size or line count (431) at their exact boundaries, a request head dribbled past
 * -header-timeout (408, then the close), a connection that never sends (closed silently), an idle
 * keep-alive connection (closed after -idle-timeout, kept before it), the appender message limit
 * (1009 from the frame header alone), -max-conns (503 + Connection: close for the extra
 * connection, the others unaffected, a new one served once one closes) and -max-size (1009 with
 * "resource size limit reached", the file keeps exactly the bytes before the crossing message,
 * existing file bytes count, the slot is released). */
#include "../harness.h"

#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- helpers --------------------------------------------------------------------------------- */

/* A keep-alive request with a request-target of exactly target_len bytes ("/x?q=aaa...") and extra
 * header lines (each ending "\r\n", may be NULL). Keep-alive, so that a close after an error is the
 * server's decision. */
static void build_request(tbuf *q, size_t target_len, const char *extra)
{
    tbuf_adds(q, "GET /x?q=");
    for (size_t i = 5; i < target_len; i++)
        tbuf_add(q, "a", 1);
    tbuf_adds(q, " HTTP/1.1\r\nHost: h\r\n");
    if (extra)
        tbuf_adds(q, extra);
    tbuf_adds(q, "\r\n");
}

/* Sends req on a new connection and reads the response; after an error other than 404, *closed
 * tells whether the server then closed the connection (within T_TIMEOUT) and announced it with
 * Connection: close. Returns the status, or 0 when no response came. */
static int exchange(int port, const tbuf *req, int *closed)
{
    thttp_resp r;
    int fd = t_connect(port), status;

    *closed = 0;
    if (fd < 0)
        return 0;
    t_send_all(fd, req->p, req->len); /* the server may answer before reading everything */
    status = thttp_read(fd, &r, 0, T_TIMEOUT) == 0 ? r.status : 0;
    if (status >= 400 && status != 404) {
        const char *conn = thttp_header(&r, "Connection");
        *closed = t_wait_eof(fd, T_TIMEOUT) && conn && strcmp(conn, "close") == 0;
    }
    thttp_free(&r);
    close(fd);
    return status;
}

/* Status for a request whose target has target_len bytes. */
static int target_status(int port, size_t target_len, int *closed)
{
    tbuf q = {0};
    build_request(&q, target_len, NULL);
    int st = exchange(port, &q, closed);
    tbuf_free(&q);
    return st;
}

/* Status for a request with one X-Pad header whose value has pad bytes. */
static int header_pad_status(int port, size_t pad, int *closed)
{
    tbuf h = {0}, q = {0};
    tbuf_adds(&h, "X-Pad: ");
    for (size_t i = 0; i < pad; i++)
        tbuf_add(&h, "b", 1);
    tbuf_adds(&h, "\r\n");
    build_request(&q, 6, (const char *)h.p);
    int st = exchange(port, &q, closed);
    tbuf_free(&h);
    tbuf_free(&q);
    return st;
}

/* Status for a request with `lines` header lines in all (Host included). */
static int header_lines_status(int port, int lines, int *closed)
{
    tbuf h = {0}, q = {0};
    for (int i = 0; i < lines - 1; i++)
        tbuf_adds(&h, t_fmt("X-H%d: v\r\n", i));
    build_request(&q, 6, (const char *)h.p);
    int st = exchange(port, &q, closed);
    tbuf_free(&h);
    tbuf_free(&q);
    return st;
}

/* In build_request: "Host" "h" are 5 bytes of name and value, the line "Host: h\r\n" 9 bytes. A
 * header "X-Pad: V" adds 5 + |V| bytes of name and value, 9 + |V| bytes of line. */
#define FIXED_NAMES_VALUES 5
#define FIXED_LINES        9

/* The 414 and 431 boundaries for a server with url_max / header_max. Whatever way header bytes
 * are counted (names and values, or whole lines), a header section whose lines fit the limit is
 * served and one whose names and values alone exceed it is refused. */
static void check_size_limits(tsrv *s, size_t url_max, size_t header_max)
{
    int closed, st;

    st = target_status(s->port, url_max, &closed);
    CHECKF(st == 404, "target of exactly %zu bytes: status %d, want 404", url_max, st);
    st = target_status(s->port, url_max + 1, &closed);
    CHECKF(st == 414, "target of %zu bytes: status %d, want 414", url_max + 1, st);
    CHECKF(closed, "the connection stayed open after the 414 (or no Connection: close)");
    st = target_status(s->port, url_max * 4, &closed);
    CHECKF(st == 414 && closed, "target of %zu bytes: status %d, closed %d", url_max * 4, st,
           closed);

    size_t fit = header_max - FIXED_LINES - 9; /* lines total exactly header_max */
    st = header_pad_status(s->port, fit, &closed);
    CHECKF(st == 404, "header lines of exactly %zu bytes: status %d, want 404", header_max, st);
    size_t over = header_max + 1 - FIXED_NAMES_VALUES - 5; /* names + values: header_max + 1 */
    st = header_pad_status(s->port, over, &closed);
    CHECKF(st == 431, "header names and values of %zu bytes: status %d, want 431", header_max + 1,
           st);
    CHECKF(closed, "the connection stayed open after the 431 (or no Connection: close)");
    st = header_pad_status(s->port, header_max * 4, &closed);
    CHECKF(st == 431 && closed, "a %zu-byte header: status %d, closed %d", header_max * 4, st,
           closed);
}

/* Ends a session with CLOSE 1000 and checks the echo. 0 or -1. */
static int close_session(tws *w)
{
    tws_frame f;
    if (tws_send_close(w, 1000) < 0)
        return -1;
    if (tws_read_type(w, WS_EV_CLOSE, &f, T_TIMEOUT) != WS_EV_CLOSE || f.close_code != 1000)
        return -1;
    return t_wait_eof(w->fd, T_TIMEOUT) ? 0 : -1;
}

/* Sends a keep-alive GET for path on fd and reads the response. Returns the status or 0. */
static int keepalive_get(int fd, const char *path, tbuf *body)
{
    thttp_resp r;
    if (t_send_str(fd, t_fmt("GET %s HTTP/1.1\r\nHost: h\r\n\r\n", path)) < 0)
        return 0;
    int st = thttp_read(fd, &r, 0, T_TIMEOUT) == 0 ? r.status : 0;
    if (body) {
        body->len = 0;
        tbuf_add(body, r.body.p, r.body.len);
    }
    thttp_free(&r);
    return st;
}

/* Waits for the server to close fd. Returns the ms it took, -1 when bytes arrived first, -2 when it
 * stayed open for timeout_ms. */
static int ms_until_silent_close(int fd, int timeout_ms)
{
    int64_t start = t_now_ms();
    char buf[256];
    ssize_t n = t_recv(fd, buf, sizeof(buf), timeout_ms);
    if (n > 0) {
        fprintf(stderr, "  note: got %zd bytes: %.*s\n", n, (int)n, buf);
        return -1;
    }
    if (n == -2)
        return -2;
    return (int)(t_now_ms() - start);
}

/* ---- 414 / 431 ------------------------------------------------------------------------------- */

static void test_url_and_header_limits_default(void)
{
    tsrv *s = tsrv_start(NULL);
    CHECK(s);
    check_size_limits(s, 8192, 16384);
    tsrv_stop(s);
}

static void test_url_and_header_limits_flags(void)
{
    const char *flags[] = {"-max-url=100", "-max-header=1000", NULL};
    tsrv *s = tsrv_start(flags);
    CHECK(s);
    check_size_limits(s, 100, 1000);
    tsrv_stop(s);
}

static void test_header_line_count_431(void)
{
    tsrv *s = tsrv_start(NULL);
    int closed, st;
    CHECK(s);
    st = header_lines_status(s->port, 100, &closed);
    CHECKF(st == 404, "100 header lines: status %d, want 404", st);
    st = header_lines_status(s->port, 101, &closed);
    CHECKF(st == 431, "101 header lines: status %d, want 431", st);
    CHECKF(closed, "the connection stayed open after the 431 (or no Connection: close)");
    /* a refused request costs nothing later: the next one is served */
    st = target_status(s->port, 10, &closed);
    CHECK_INT(st, 404);
    tsrv_stop(s);
}

/* Invalid values for the flags are usage errors (exit 2), not silently ignored. */
static void test_limit_flag_values(void)
{
    const char *bad[] = {"-max-url=10",     "-max-header=100", "-header-timeout=0",
                         "-idle-timeout=0", "-max-conns=-1",   "-max-size=lots",
                         "-max-conns=x",    "-max-message=1q", "-shutdown-timeout=soon"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        const char *flags[] = {bad[i], NULL};
        int st = tsrv_run_status(flags, 5000);
        EXPECTF(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 2, "%s: status 0x%x, want exit 2",
                bad[i], st);
    }
}

/* ---- deadlines ------------------------------------------------------------------------------- */

/* A head that keeps arriving a byte at a time is cut off at -header-timeout from its first byte
 * with a 408, then the connection is closed. */
static void test_dribbled_head_408(void)
{
    const char *flags[] = {"-header-timeout=300ms", "-idle-timeout=10s", NULL};
    tsrv *s = tsrv_start(flags);
    thttp_resp r;
    CHECK(s);
    int fd = t_connect(s->port);
    CHECK(fd >= 0);
    int64_t start = t_now_ms();
    CHECK(t_send_str(fd, "GET /x HTTP/1.1\r\nHost: h\r\nX-Slow: ") == 0);
    int sent = 0, answered = 0;
    while (t_now_ms() - start < 5000) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 50) > 0) {
            answered = 1;
            break;
        }
        if (t_send_all(fd, "a", 1) < 0)
            break;
        sent++;
    }
    int64_t took = t_now_ms() - start;
    CHECKF(answered, "no answer after %lld ms of dribbling (%d bytes)", (long long)took, sent);
    CHECK(thttp_read(fd, &r, 0, T_TIMEOUT) == 0);
    CHECKF(r.status == 408, "status %d, want 408", r.status);
    CHECK_STR(thttp_header(&r, "Connection"), "close");
    thttp_free(&r);
    CHECKF(t_wait_eof(fd, T_TIMEOUT), "the connection stayed open after the 408");
    close(fd);
    CHECKF(took >= 200 && took <= 3000,
           "the 408 came %lld ms after the first byte (timeout 300 ms)", (long long)took);
    CHECKF(sent >= 3, "only %d bytes were dribbled before the 408", sent);

    /* a head sent in one go well within the timeout is served */
    int closed;
    CHECK_INT(target_status(s->port, 10, &closed), 404);
    tsrv_stop(s);
}

/* A connection that never sends a byte is closed at -header-timeout without a response. */
static void test_silent_connection_closed(void)
{
    const char *flags[] = {"-header-timeout=300ms", "-idle-timeout=10s", NULL};
    tsrv *s = tsrv_start(flags);
    CHECK(s);
    int fd = t_connect(s->port);
    CHECK(fd >= 0);
    int64_t start = t_now_ms();
    int ms = ms_until_silent_close(fd, 5000);
    int64_t took = t_now_ms() - start;
    close(fd);
    CHECKF(ms != -1, "the server sent bytes to a connection that sent none");
    CHECKF(ms != -2, "a connection that sent nothing was still open after 5 s");
    CHECKF(took >= 200 && took <= 3000, "closed after %lld ms (timeout 300 ms)", (long long)took);
    tsrv_stop(s);
}

/* A keep-alive connection is kept between requests shorter than -idle-timeout apart, and closed
 * silently once idle for longer. */
static void test_idle_keepalive_closed(void)
{
    const char *flags[] = {"-idle-timeout=300ms", "-header-timeout=10s", NULL};
    tsrv *s = tsrv_start(flags);
    tbuf body = {0};
    CHECK(s);
    CHECK(t_file_write(tsrv_path(s, "k.txt"), "keep", 4) == 0);
    int fd = t_connect(s->port);
    CHECK(fd >= 0);
    for (int i = 0; i < 3; i++) {
        CHECKF(keepalive_get(fd, "/k.txt", &body) == 200, "request %d on the connection", i);
        CHECK_MEM(body.p, body.len, "keep", 4);
        t_sleep_ms(100);
    }
    CHECKF(keepalive_get(fd, "/k.txt", NULL) == 200, "last request");
    int64_t start = t_now_ms();
    int ms = ms_until_silent_close(fd, 5000);
    int64_t took = t_now_ms() - start;
    close(fd);
    tbuf_free(&body);
    CHECKF(ms != -1, "the server sent bytes to an idle connection");
    CHECKF(ms != -2, "an idle keep-alive connection was still open after 5 s");
    CHECKF(took >= 200 && took <= 3000, "closed after %lld ms idle (timeout 300 ms)",
           (long long)took);
    tsrv_stop(s);
}

/* ---- appender message limit ------------------------------------------------------------------ */

/* Sends only the header of a masked frame announcing len payload bytes. */
static int send_frame_header(tws *w, unsigned opcode, uint64_t len)
{
    uint8_t h[WS_HEADER_MAX];
    size_t n = ws_frame_header(h, opcode, 1, len, (const uint8_t *)"\1\2\3\4");
    return t_send_all(w->fd, h, n);
}

/* The 1009 is decided from the frame header: no payload needs to arrive. Default 64 MiB. */
static void test_message_limit_from_header(void)
{
    const char *flags[] = {"-max-message=1k", NULL};
    tsrv *def = tsrv_start(NULL), *small = tsrv_start(flags);
    char reason[128];
    uint8_t data[1024];
    CHECK(def && small);
    t_rand_fill(data, sizeof(data));

    struct {
        tsrv *s;
        uint64_t over;
    } cases[] = {{def, (64ull << 20) + 1}, {small, 1025}};
    for (int i = 0; i < 2; i++) {
        tsrv *s = cases[i].s;
        tws *w = tws_append(s->port, "/m.bin");
        CHECK(w);
        CHECK(tws_send(w, WS_OP_BINARY, 1, data, sizeof(data)) == 0); /* 1 KiB: within both */
        CHECK(t_file_wait_eq(tsrv_path(s, "m.bin"), data, sizeof(data), 2000));
        CHECK(send_frame_header(w, WS_OP_BINARY, cases[i].over) == 0);
        unsigned code = tws_read_close(w, reason, sizeof(reason), T_TIMEOUT);
        CHECKF(code == 1009, "a frame announcing %llu bytes: close %u, want 1009",
               (unsigned long long)cases[i].over, code);
        CHECK(t_wait_eof(w->fd, T_TIMEOUT));
        tws_free(w);
        CHECK(t_file_wait_eq(tsrv_path(s, "m.bin"), data, sizeof(data), 0));
        w = tws_append_retry(s->port, "/m.bin", 2000);
        CHECKF(w, "the slot was not released after the 1009");
        CHECK(close_session(w) == 0);
        tws_free(w);
    }
    tsrv_stop(def);
    tsrv_stop(small);
}

/* ---- -max-conns ------------------------------------------------------------------------------ */

static void test_max_conns_503(void)
{
    const char *flags[] = {"-max-conns=4", NULL};
    tsrv *s = tsrv_start(flags);
    thttp_resp r;
    tbuf body = {0};
    CHECK(s);
    CHECK(t_file_write(tsrv_path(s, "f.txt"), "hello", 5) == 0);

    /* four connections: an appender, a follower and two keep-alive HTTP connections */
    tws *app = tws_append(s->port, "/live.txt");
    CHECK(app);
    CHECK(tws_send_text(app, "one;") == 0);
    CHECK(t_file_wait_eq(tsrv_path(s, "live.txt"), "one;", 4, 2000));
    tws *fol = tws_follow(s->port, "/live.txt");
    CHECK(fol);
    tws_collect c = {0};
    CHECKF(tws_collect_until(fol, &c, 4, T_TIMEOUT) == 0, "%s", c.err);
    int ka1 = t_connect(s->port), ka2 = t_connect(s->port);
    CHECK(ka1 >= 0 && ka2 >= 0);
    CHECK_INT(keepalive_get(ka1, "/f.txt", NULL), 200);
    CHECK_INT(keepalive_get(ka2, "/f.txt", NULL), 200);

    /* the fifth and sixth: 503, Connection: close, then closed */
    for (int i = 0; i < 2; i++) {
        int fd = t_connect(s->port);
        CHECK(fd >= 0);
        CHECK(t_send_str(fd, "GET /f.txt HTTP/1.1\r\nHost: h\r\n\r\n") == 0);
        CHECKF(thttp_read(fd, &r, 0, T_TIMEOUT) == 0, "extra connection %d: no response", i);
        CHECKF(r.status == 503, "extra connection %d: status %d, want 503", i, r.status);
        CHECK_STR(thttp_header(&r, "Connection"), "close");
        thttp_free(&r);
        CHECKF(t_wait_eof(fd, T_TIMEOUT), "a refused connection stayed open");
        close(fd);
    }
    /* a WebSocket handshake over the limit is refused the same way */
    tws *extra = tws_connect(s->port, "/live.txt", NULL, &r);
    CHECKF(!extra && r.status == 503, "extra follower: status %d", r.status);
    thttp_free(&r);

    /* the four are unaffected */
    CHECK_INT(keepalive_get(ka1, "/f.txt", &body), 200);
    CHECK_MEM(body.p, body.len, "hello", 5);
    CHECK_INT(keepalive_get(ka2, "/f.txt", &body), 200);
    CHECK(tws_send_text(app, "two;") == 0);
    CHECKF(tws_collect_until(fol, &c, 8, T_TIMEOUT) == 0, "%s", c.err);
    CHECK_MEM(c.data.p, c.data.len, "one;two;", 8);

    /* one leaves: a new connection is served again */
    close(ka2);
    int64_t deadline = t_now_ms() + 3000;
    int st = 0;
    while (t_now_ms() < deadline) {
        CHECK(thttp_get(s->port, "/f.txt", NULL, &r) == 0);
        st = r.status;
        thttp_free(&r);
        if (st != 503)
            break;
        t_sleep_ms(20);
    }
    CHECKF(st == 200, "after a connection closed, a new one got %d", st);

    CHECK(close_session(app) == 0);
    CHECKF(tws_collect_until(fol, &c, SIZE_MAX, T_TIMEOUT) == 0, "%s", c.err);
    CHECK_INT(c.close_code, 1000);
    CHECK_MEM(c.data.p, c.data.len, "one;two;", 8);
    CHECK(tsrv_log_has(s, "refusing connections"));
    close(ka1);
    tws_collect_free(&c);
    tws_free(app);
    tws_free(fol);
    tbuf_free(&body);
    tsrv_stop(s);
}

/* ---- -max-size ------------------------------------------------------------------------------- */

static void test_max_size_1009(void)
{
    const char *flags[] = {"-max-size=1000", NULL};
    tsrv *s = tsrv_start(flags);
    uint8_t data[1200];
    char reason[128];
    thttp_resp r;
    CHECK(s);
    t_rand_fill(data, sizeof(data));
    const char *file = tsrv_path(s, "cap.bin");

    tws *w = tws_append(s->port, "/cap.bin");
    CHECK(w);
    tws *fol = tws_follow(s->port, "/cap.bin");
    CHECK(fol);
    CHECK(tws_send(w, WS_OP_BINARY, 1, data, 600) == 0);
    CHECK(t_file_wait_eq(file, data, 600, 2000));
    CHECK(tws_send(w, WS_OP_TEXT, 1, data + 600, 300) == 0);
    CHECK(t_file_wait_eq(file, data, 900, 2000));
    /* 900 + 200 crosses 1000: the session ends, and not one byte of the message is written */
    CHECK(tws_send(w, WS_OP_BINARY, 1, data + 900, 200) == 0);
    unsigned code = tws_read_close(w, reason, sizeof(reason), T_TIMEOUT);
    CHECKF(code == 1009, "crossing the size limit: close %u, want 1009", code);
    CHECKF(strstr(reason, "resource size limit reached"), "close reason \"%s\"", reason);
    CHECK(t_wait_eof(w->fd, T_TIMEOUT));
    tws_free(w);
    CHECK(t_file_wait_eq(file, data, 900, 0));
    t_sleep_ms(100);
    CHECKF(t_file_wait_eq(file, data, 900, 0), "the file changed after the 1009");

    /* the follower gets exactly the 900 bytes, then the end of the stream */
    tws_collect c = {.opcode = WS_OP_TEXT};
    CHECKF(tws_collect_until(fol, &c, SIZE_MAX, T_TIMEOUT) == 0, "%s", c.err);
    CHECK_INT(c.close_code, 1000);
    CHECK_MEM(c.data.p, c.data.len, data, 900);
    tws_collect_free(&c);
    tws_free(fol);
    CHECK(thttp_get(s->port, "/cap.bin", NULL, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK_MEM(r.body.p, r.body.len, data, 900);
    thttp_free(&r);

    /* the slot is released; filling up to exactly the limit is allowed, one byte more is not */
    w = tws_append_retry(s->port, "/cap.bin", 2000);
    CHECKF(w, "the slot was not released after the 1009");
    CHECK(tws_send(w, WS_OP_BINARY, 1, data + 900, 100) == 0);
    CHECK(t_file_wait_eq(file, data, 1000, 2000));
    CHECK(tws_send(w, WS_OP_BINARY, 1, data + 1000, 1) == 0);
    code = tws_read_close(w, reason, sizeof(reason), T_TIMEOUT);
    CHECKF(code == 1009, "one byte past the limit: close %u, want 1009", code);
    tws_free(w);
    CHECK(t_file_wait_eq(file, data, 1000, 0));

    /* a file that already holds bytes: they count */
    CHECK(t_file_write(tsrv_path(s, "pre.bin"), data, 990) == 0);
    w = tws_append(s->port, "/pre.bin");
    CHECK(w);
    CHECK(tws_send(w, WS_OP_BINARY, 1, data + 990, 10) == 0);
    CHECK(t_file_wait_eq(tsrv_path(s, "pre.bin"), data, 1000, 2000));
    CHECK(tws_send(w, WS_OP_BINARY, 1, data, 5) == 0);
    code = tws_read_close(w, reason, sizeof(reason), T_TIMEOUT);
    CHECKF(code == 1009, "an existing file at the limit: close %u, want 1009", code);
    tws_free(w);
    CHECK(t_file_wait_eq(tsrv_path(s, "pre.bin"), data, 1000, 0));

    /* other resources are unaffected */
    w = tws_append(s->port, "/other.txt");
    CHECK(w);
    CHECK(tws_send_text(w, "fine") == 0);
    CHECK(close_session(w) == 0);
    tws_free(w);
    CHECK(t_file_wait_eq(tsrv_path(s, "other.txt"), "fine", 4, 2000));
    tsrv_stop(s);
}

int main(void)
{
    RUN(test_url_and_header_limits_default);
    RUN(test_url_and_header_limits_flags);
    RUN(test_header_line_count_431);
    RUN(test_limit_flag_values);
    RUN(test_dribbled_head_408);
    RUN(test_silent_connection_closed);
    RUN(test_idle_keepalive_closed);
    RUN(test_message_limit_from_header);
    RUN(test_max_conns_503);
    RUN(test_max_size_1009);
    return test_report();
}
