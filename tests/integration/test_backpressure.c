/* test_backpressure.c -- a peer that does not read what it asked for cannot make the server hold
 * unbounded memory, and a peer that does read gets all of it: pipelined 404s and ?view pages sent
 * without reading the answers (the client's sends block, the server's RSS stays bounded, then every
 * response arrives complete and in order and the connection still works), a PING flood whose PONGs
 * are not read, from a follower and from an appender (the same, then every PONG echoes its PING and
 * the session still appends / follows), a large directory listing asked for by a client that then
 * half-closes (alone and pipelined: every response complete, then the close), and a slow but
 * steady reader of a large listing with a short -idle-timeout (every byte arrives; once nothing is
 * queued the idle connection is still closed). */
#include "../harness.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- the server's memory --------------------------------------------------------------------- */

/* Growth the server may show while a flood is held back: its queued output and the input it read
 * ahead are a few hundred KiB; this leaves room for allocator slack and sanitizer builds. */
#define RSS_GROWTH_MAX_KB (150L * 1024)
#define STALL_MS          1000 /* sends that make no progress this long: the server stopped reading */

/* ---- sending without reading ----------------------------------------------------------------- */

typedef struct flood flood;
struct flood {
    /* settings */
    int fd;
    pid_t pid;               /* the server, for its RSS */
    size_t cap;              /* stop after this many bytes */
    int budget_ms;           /* or after this long */
    void (*next)(flood *fl); /* puts the next bytes to send in blk (may keep them as they are) */
    void *ctx;
    /* state */
    tbuf blk;
    size_t off; /* bytes of blk already sent */
    /* results */
    size_t sent;
    int stalled; /* no progress for STALL_MS */
    int err;     /* errno of a failed send, 0 */
    int64_t ms;
    long rss0_kb, growth_kb;
};

static long rss_growth(flood *fl, long hwm0, long max_rss)
{
    long rss = t_proc_status_kb(fl->pid, "VmRSS"), hwm = t_proc_status_kb(fl->pid, "VmHWM");
    if (rss > max_rss)
        max_rss = rss;
    long peak = hwm > hwm0 && hwm > max_rss ? hwm : max_rss;
    return peak - fl->rss0_kb;
}

/* Sends fl->next's bytes without blocking and without reading, until the sends stall for STALL_MS,
 * cap bytes went out, budget_ms passed, the socket failed, or the server grew by twice the bound
 * (no need to go on). Then measures the server's growth (its peak RSS against the RSS before). */
static void flood_run(flood *fl)
{
    long hwm0 = t_proc_status_kb(fl->pid, "VmHWM"), max_rss = 0;
    int64_t start = t_now_ms(), last = start, next_sample = start + 100;

    /* a small send buffer: what the flood leaves in flight is mostly the server's, and reading it
     * all back stays quick */
    int sndbuf = 65536;
    setsockopt(fl->fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
    fl->rss0_kb = t_proc_status_kb(fl->pid, "VmRSS");
    fl->off = fl->blk.len;
    for (;;) {
        if (fl->off == fl->blk.len) {
            fl->next(fl);
            fl->off = 0;
        }
        ssize_t n =
            send(fl->fd, fl->blk.p + fl->off, fl->blk.len - fl->off, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) {
            fl->off += (size_t)n;
            fl->sent += (size_t)n;
            last = t_now_ms();
        } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            fl->err = errno;
            break;
        } else {
            struct pollfd p = {.fd = fl->fd, .events = POLLOUT};
            poll(&p, 1, 50);
        }
        int64_t now = t_now_ms();
        if (now - last >= STALL_MS) {
            fl->stalled = 1;
            break;
        }
        if (fl->sent >= fl->cap || now - start >= fl->budget_ms)
            break;
        if (now >= next_sample) {
            long rss = t_proc_status_kb(fl->pid, "VmRSS");
            if (rss > max_rss)
                max_rss = rss;
            if (rss - fl->rss0_kb > 2 * RSS_GROWTH_MAX_KB)
                break;
            next_sample = now + 100;
        }
    }
    fl->ms = t_now_ms() - start;
    t_sleep_ms(200); /* what the server read last is handled */
    fl->growth_kb = rss_growth(fl, hwm0, max_rss);
    fprintf(stderr, "  # flood: %zu bytes sent in %lld ms, %s; server RSS %ld KiB, grew %ld KiB\n",
            fl->sent, (long long)fl->ms,
            fl->stalled ? "then the sends blocked" : "the sends never blocked", fl->rss0_kb,
            fl->growth_kb);
}

/* 1 when the flood was held back: the sends blocked, and the server stayed within the bound. */
static int flood_held(const flood *fl)
{
    return fl->err == 0 && fl->stalled && fl->growth_kb < RSS_GROWTH_MAX_KB;
}

/* The same request over and over. */
static void next_same(flood *fl)
{
    const char *req = fl->ctx;
    if (fl->blk.len)
        return;
    for (int i = 0; i < 2048; i++)
        tbuf_adds(&fl->blk, req);
}

/* ---- reading pipelined HTTP responses (with Content-Length) ---------------------------------- */

typedef struct rstream {
    int fd;
    tbuf in;
    size_t pos;         /* start of the next response in `in` */
    const uint8_t *out; /* bytes still to send, sent while reading (the server may read them only
                           once we read) */
    size_t out_len;
    int eof; /* EOF or reset */
    /* the last complete response */
    int status;
    const char *head; /* NUL-terminated copy */
    const uint8_t *body;
    size_t body_len;
    /* an incomplete one at EOF */
    long long want, got;
    char headbuf[4096];
} rstream;

/* Sends what it can of out without blocking. */
static void rs_push(rstream *rs)
{
    while (rs->out_len) {
        ssize_t n = send(rs->fd, rs->out, rs->out_len, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n <= 0)
            return;
        rs->out += n;
        rs->out_len -= (size_t)n;
    }
}

/* Waits up to timeout_ms for input (sending out meanwhile) and reads at most max bytes. Returns 1
 * when bytes arrived, 0 on timeout, -1 at EOF or reset. */
static int rs_fill(rstream *rs, size_t max, int timeout_ms)
{
    int64_t deadline = t_now_ms() + timeout_ms;
    uint8_t chunk[262144];

    if (rs->eof)
        return -1;
    if (max > sizeof(chunk))
        max = sizeof(chunk);
    for (;;) {
        rs_push(rs);
        int64_t left = deadline - t_now_ms();
        struct pollfd p = {.fd = rs->fd, .events = POLLIN | (rs->out_len ? POLLOUT : 0)};
        int r = poll(&p, 1, left < 0 ? 0 : left > 100 && rs->out_len ? 100 : (int)left);
        if (r > 0 && (p.revents & ~POLLOUT)) {
            ssize_t n = recv(rs->fd, chunk, max, MSG_DONTWAIT);
            if (n > 0) {
                if (rs->pos > ((size_t)8 << 20)) {
                    memmove(rs->in.p, rs->in.p + rs->pos, rs->in.len - rs->pos);
                    rs->in.len -= rs->pos;
                    rs->pos = 0;
                }
                tbuf_add(&rs->in, chunk, (size_t)n);
                return 1;
            }
            if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
                rs->eof = 1;
                return -1;
            }
        }
        if (left <= 0)
            return 0;
    }
}

/* Content-Length in a head, or -1. */
static long long head_content_length(const char *head)
{
    for (const char *p = strchr(head, '\n'); p; p = strchr(p + 1, '\n'))
        if (strncasecmp(p + 1, "Content-Length:", 15) == 0)
            return atoll(p + 16);
    return -1;
}

/* The next complete response: 1, or 0 when none completed within timeout_ms of quiet, -1 at EOF
 * (want and got tell how much of an incomplete one arrived), -2 when a head has no
 * Content-Length. */
static int rs_next(rstream *rs, int timeout_ms)
{
    rs->want = rs->got = -1;
    for (;;) {
        const uint8_t *h = rs->in.p + rs->pos;
        size_t avail = rs->in.len - rs->pos;
        const uint8_t *e = avail ? memmem(h, avail, "\r\n\r\n", 4) : NULL;
        if (e) {
            size_t head_len = (size_t)(e - h) + 4;
            size_t keep = head_len < sizeof(rs->headbuf) ? head_len : sizeof(rs->headbuf) - 1;
            memcpy(rs->headbuf, h, keep);
            rs->headbuf[keep] = '\0';
            long long cl = head_content_length(rs->headbuf);
            if (cl < 0)
                return -2;
            if (avail >= head_len + (size_t)cl) {
                rs->status = strncmp(rs->headbuf, "HTTP/1.1 ", 9) == 0 ? atoi(rs->headbuf + 9) : -1;
                rs->head = rs->headbuf;
                rs->body = h + head_len;
                rs->body_len = (size_t)cl;
                rs->pos += head_len + (size_t)cl;
                return 1;
            }
            rs->want = cl;
            rs->got = (long long)(avail - head_len);
        }
        int r = rs_fill(rs, SIZE_MAX, timeout_ms);
        if (r <= 0)
            return r;
    }
}

/* What a failed rs_next met. */
static const char *rs_why(int r)
{
    return r == 0 ? "timeout" : r == -2 ? "no Content-Length" : "cut off";
}

/* 1 when the server closes the connection within timeout_ms without sending another byte. */
static int rs_silent_eof(rstream *rs, int timeout_ms)
{
    if (rs->in.len > rs->pos)
        return 0;
    int64_t deadline = t_now_ms() + timeout_ms;
    while (!rs->eof && t_now_ms() < deadline) {
        int r = rs_fill(rs, SIZE_MAX, (int)(deadline - t_now_ms()));
        if (r > 0)
            return 0;
    }
    return rs->eof;
}

static void rs_free(rstream *rs)
{
    tbuf_free(&rs->in);
}

/* ---- pipelined requests never read ----------------------------------------------------------- */

/* Floods one keep-alive connection with req (a GET of want_path), never reading; then checks that
 * the server held the flood back, and that every request sent is answered in order with want_status
 * and the body want_path has on a connection of its own, followed by the answer to a last request
 * for an existing file, and that the connection goes on. */
static void check_pipeline_flood(const char *req, size_t cap, int want_status,
                                 const char *want_path)
{
    const char *flags[] = {"-q", NULL};
    tsrv *s = tsrv_start(flags);
    thttp_resp ref;
    CHECK(s);
    CHECK(t_file_write(tsrv_path(s, "probe.txt"), "probe\n", 6) == 0);
    CHECK(thttp_get(s->port, want_path, NULL, &ref) == 0);
    CHECKF(ref.status == want_status, "%s alone: status %d", want_path, ref.status);

    int fd = t_connect(s->port);
    CHECK(fd >= 0);
    flood fl = {.fd = fd,
                .pid = s->pid,
                .cap = cap,
                .budget_ms = 4000,
                .next = next_same,
                .ctx = (void *)req};
    flood_run(&fl);
    int held = flood_held(&fl);
    if (!held) {
        t_close_rst(fd); /* the server may hold gigabytes for it: do not read them */
        tbuf_free(&fl.blk);
        thttp_free(&ref);
    }
    CHECKF(fl.err == 0, "the connection failed during the flood: %s", strerror(fl.err));
    CHECKF(held,
           "pipelined \"%.*s\" never read: %zu bytes (%zu requests) sent in %lld ms, the sends %s; "
           "the server's RSS grew by %ld MiB (bound %ld MiB)",
           (int)strcspn(req, "\r"), req, fl.sent, fl.sent / strlen(req), (long long)fl.ms,
           fl.stalled ? "blocked" : "never blocked", fl.growth_kb / 1024, RSS_GROWTH_MAX_KB / 1024);

    /* read back: the rest of the last block (which ends on a request boundary), then a probe */
    tbuf tail = {0};
    tbuf_add(&tail, fl.blk.p + fl.off, fl.blk.len - fl.off);
    size_t nreq = (fl.sent + tail.len) / strlen(req);
    tbuf_adds(&tail, "GET /probe.txt HTTP/1.1\r\nHost: h\r\n\r\n");
    rstream rs = {.fd = fd, .out = tail.p, .out_len = tail.len};
    int64_t start = t_now_ms();
    for (size_t i = 0; i < nreq; i++) {
        int r = rs_next(&rs, 10000);
        CHECKF(r == 1, "response %zu of %zu: %s (%lld of %lld body bytes)", i, nreq, rs_why(r),
               rs.got, rs.want);
        CHECKF(rs.status == want_status, "response %zu: status %d, want %d", i, rs.status,
               want_status);
        CHECKF(rs.body_len == ref.body.len && memcmp(rs.body, ref.body.p, ref.body.len) == 0,
               "response %zu: a %zu-byte body, want the %zu bytes of %s", i, rs.body_len,
               ref.body.len, want_path);
        if (i < 500)
            CHECKF(!strcasestr(rs.head, "Connection: close"), "response %zu: %s", i, rs.head);
    }
    CHECKF(rs_next(&rs, 10000) == 1, "no answer to the request after the flood");
    CHECKF(rs.status == 200 && rs.body_len == 6 && memcmp(rs.body, "probe\n", 6) == 0,
           "after %zu responses: status %d, %zu bytes", nreq, rs.status, rs.body_len);
    fprintf(stderr, "  # %zu responses read back in %lld ms\n", nreq,
            (long long)(t_now_ms() - start));

    /* and the connection goes on */
    CHECK(t_send_str(fd, "GET /probe.txt HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n") == 0);
    CHECK(rs_next(&rs, T_TIMEOUT) == 1);
    CHECK_INT(rs.status, 200);
    CHECK(rs_silent_eof(&rs, T_TIMEOUT));
    close(fd);
    rs_free(&rs);
    tbuf_free(&tail);
    tbuf_free(&fl.blk);
    thttp_free(&ref);
    tsrv_stop(s);
}

static void test_pipelined_404_flood(void)
{
    check_pipeline_flood("GET /missing HTTP/1.1\r\nHost: h\r\n\r\n", (size_t)100 << 20, 404,
                         "/missing");
}

/* Each answer is the ~50 KB viewer page, for a resource that does not exist. */
static void test_pipelined_view_flood(void)
{
    check_pipeline_flood("GET /x.log?view HTTP/1.1\r\nHost: h\r\n\r\n", (size_t)40 << 20, 200,
                         "/x.log?view");
}

/* ---- PINGs whose PONGs are never read -------------------------------------------------------- */

#define PINGS_PER_BLOCK 512

/* The payload of PING number seq: 125 bytes that tell it apart. */
static void ping_payload(size_t seq, uint8_t out[WS_CONTROL_MAX])
{
    int n = snprintf((char *)out, WS_CONTROL_MAX, "ping %012zu ", seq);
    for (int i = n; i < WS_CONTROL_MAX; i++)
        out[i] = (uint8_t)('a' + (seq + (size_t)i) % 26);
}

/* A masked client frame. */
static void add_frame(tbuf *b, unsigned opcode, const void *p, size_t len)
{
    uint8_t h[WS_HEADER_MAX], key[4];
    t_rand_fill(key, sizeof(key));
    tbuf_add(b, h, ws_frame_header(h, opcode, 1, len, key));
    tbuf_add(b, p, len);
    ws_mask(b->p + b->len - len, len, key, 0);
}

/* The next PINGS_PER_BLOCK numbered PINGs; ctx counts them. */
static void next_pings(flood *fl)
{
    size_t *seq = fl->ctx;
    uint8_t payload[WS_CONTROL_MAX];

    fl->blk.len = 0;
    for (int i = 0; i < PINGS_PER_BLOCK; i++) {
        ping_payload((*seq)++, payload);
        add_frame(&fl->blk, WS_OP_PING, payload, sizeof(payload));
    }
}

/* Floods w with PINGs, never reading; checks the server held the flood back. Returns the number
 * of PINGs made (those of the last block not yet sent are in *tail), or 0 after a failure. */
static size_t ping_flood(tsrv *s, tws *w, tbuf *tail)
{
    size_t seq = 0;
    flood fl = {.fd = w->fd,
                .pid = s->pid,
                .cap = (size_t)2 << 30,
                .budget_ms = 4000,
                .next = next_pings,
                .ctx = &seq};
    flood_run(&fl);
    tbuf_add(tail, fl.blk.p + fl.off, fl.blk.len - fl.off);
    tbuf_free(&fl.blk);
    if (!flood_held(&fl)) {
        t_close_rst(w->fd); /* the server may hold gigabytes for it: do not read them */
        w->fd = -1;
    }
    EXPECTF(fl.err == 0, "the connection failed during the flood: %s", strerror(fl.err));
    EXPECTF(flood_held(&fl),
            "PINGs never answered: %zu bytes (%zu PINGs) sent in %lld ms, the sends %s; the "
            "server's RSS grew by %ld MiB (bound %ld MiB)",
            fl.sent, fl.sent / (WS_CONTROL_MAX + 6), (long long)fl.ms,
            fl.stalled ? "blocked" : "never blocked", fl.growth_kb / 1024,
            RSS_GROWTH_MAX_KB / 1024);
    return flood_held(&fl) ? seq : 0;
}

/* Sends tail while reading: npings PONGs must arrive in order, each echoing its PING, and want_data
 * bytes of data (into data). Server PINGs are skipped. Returns 0, or -1 with why in err. */
static int ws_read_back(tws *w, const tbuf *tail, size_t npings, tbuf *data, size_t want_data,
                        char *err, size_t errcap)
{
    const uint8_t *out = tail->p;
    size_t out_len = tail->len, pongs = 0;
    uint8_t want[WS_CONTROL_MAX];
    int64_t deadline = t_now_ms() + 30000;
    tws_frame f;

    while (pongs < npings || data->len < want_data) {
        while (out_len) {
            ssize_t n = send(w->fd, out, out_len, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (n <= 0)
                break;
            out += n;
            out_len -= (size_t)n;
        }
        if (t_now_ms() > deadline) {
            snprintf(err, errcap, "timeout: %zu of %zu PONGs, %zu of %zu data bytes", pongs, npings,
                     data->len, want_data);
            return -1;
        }
        int t = tws_read(w, &f, out_len ? 0 : 10000);
        switch (t) {
        case TWS_TIMEOUT:
            if (out_len) {
                struct pollfd p = {.fd = w->fd, .events = POLLIN | POLLOUT};
                poll(&p, 1, 100);
                continue;
            }
            snprintf(err, errcap, "nothing for 10 s after %zu of %zu PONGs, %zu of %zu data bytes",
                     pongs, npings, data->len, want_data);
            return -1;
        case WS_EV_PONG:
            ping_payload(pongs, want);
            if (f.len != sizeof(want) || memcmp(f.data, want, sizeof(want)) != 0) {
                snprintf(err, errcap, "PONG %zu: %zu bytes \"%.20s\", want the PING's \"%.20s\"",
                         pongs, f.len, f.len ? (const char *)f.data : "", (const char *)want);
                return -1;
            }
            pongs++;
            break;
        case WS_EV_PING:
            break;
        case WS_EV_DATA:
            tbuf_add(data, f.data, f.len);
            break;
        case WS_EV_CLOSE:
            snprintf(err, errcap, "after %zu of %zu PONGs: CLOSE %u", pongs, npings, f.close_code);
            return -1;
        case TWS_EOF:
            snprintf(err, errcap, "after %zu of %zu PONGs: the connection ended", pongs, npings);
            return -1;
        default:
            snprintf(err, errcap, "after %zu of %zu PONGs: a bad frame: %s", pongs, npings,
                     f.reason ? f.reason : "?");
            return -1;
        }
    }
    if (out_len) {
        snprintf(err, errcap, "%zu bytes could not be sent after every PONG arrived", out_len);
        return -1;
    }
    return 0;
}

/* Ends an appender with CLOSE 1000: the echo, then the TCP close. 0 or -1. */
static int close_session(tws *w)
{
    tws_frame f;
    if (tws_send_close(w, 1000) < 0)
        return -1;
    if (tws_read_type(w, WS_EV_CLOSE, &f, T_TIMEOUT) != WS_EV_CLOSE || f.close_code != 1000)
        return -1;
    return t_wait_eof(w->fd, T_TIMEOUT) ? 0 : -1;
}

static void test_ping_flood_appender(void)
{
    const char *flags[] = {"-q", NULL};
    tsrv *s = tsrv_start(flags);
    tbuf tail = {0}, data = {0};
    thttp_resp r;
    char err[256];
    CHECK(s);
    tws *w = tws_append(s->port, "/a.log");
    CHECK(w);
    CHECK(tws_send_text(w, "before;") == 0);
    CHECK(t_file_wait_eq(tsrv_path(s, "a.log"), "before;", 7, 5000));

    size_t npings = ping_flood(s, w, &tail);
    if (!npings) {
        tws_free(w);
        tbuf_free(&tail);
        return; /* (counted by ping_flood; the server is stopped by the harness) */
    }
    /* then an append, which the server reads once it answered the PINGs before it */
    add_frame(&tail, WS_OP_TEXT, "after;", 6);
    CHECKF(ws_read_back(w, &tail, npings, &data, 0, err, sizeof(err)) == 0, "appender: %s", err);
    CHECKF(data.len == 0, "the appender got %zu data bytes", data.len);
    CHECKF(t_file_wait_eq(tsrv_path(s, "a.log"), "before;after;", 13, 5000),
           "the append after the PINGs did not reach the file");
    CHECKF(close_session(w) == 0, "no CLOSE 1000 echo after the PINGs");
    CHECK(thttp_get(s->port, "/a.log", NULL, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK_MEM(r.body.p, r.body.len, "before;after;", 13);
    thttp_free(&r);
    tws_free(w);
    tbuf_free(&tail);
    tbuf_free(&data);
    tsrv_stop(s);
}

static void test_ping_flood_follower(void)
{
    const char *flags[] = {"-q", NULL};
    tsrv *s = tsrv_start(flags);
    tbuf tail = {0}, data = {0};
    char err[256];
    CHECK(s);
    tws *app = tws_append(s->port, "/f.log");
    CHECK(app);
    CHECK(tws_send_text(app, "hello;") == 0);
    CHECK(t_file_wait_eq(tsrv_path(s, "f.log"), "hello;", 6, 5000));
    tws *fol = tws_follow(s->port, "/f.log");
    CHECK(fol);
    tws_collect c = {0};
    CHECKF(tws_collect_until(fol, &c, 6, T_TIMEOUT) == 0, "%s", c.err);
    CHECK_MEM(c.data.p, c.data.len, "hello;", 6);

    size_t npings = ping_flood(s, fol, &tail);
    if (!npings) {
        tws_free(fol);
        tws_free(app);
        tws_collect_free(&c);
        tbuf_free(&tail);
        return; /* (counted by ping_flood; the server is stopped by the harness) */
    }
    /* the stream goes on meanwhile: the follower gets it with its PONGs */
    CHECK(tws_send_text(app, "world;") == 0);
    CHECK(t_file_wait_eq(tsrv_path(s, "f.log"), "hello;world;", 12, 5000));
    CHECKF(ws_read_back(fol, &tail, npings, &data, 6, err, sizeof(err)) == 0, "follower: %s", err);
    CHECK_MEM(data.p, data.len, "world;", 6);

    /* the appender leaves: the follower's stream ends normally */
    CHECKF(close_session(app) == 0, "the appender's CLOSE was not echoed");
    tws_collect end = {0};
    CHECKF(tws_collect_until(fol, &end, SIZE_MAX, T_TIMEOUT) == 0, "%s", end.err);
    CHECK_INT(end.close_code, 1000);
    CHECK_INT(end.bytes, 0);
    tws_collect_free(&c);
    tws_collect_free(&end);
    tws_free(app);
    tws_free(fol);
    tbuf_free(&tail);
    tbuf_free(&data);
    tsrv_stop(s);
}

/* ---- large responses to a half-closed or slow client ----------------------------------------- */

#define LIST_FILES    4000
#define LIST_NAME_LEN 240

/* Empty files with long names full of '&' in the root: the HTML table listing (Accept: text/html)
 * escapes each '&' as "&amp;" in the link and in the text, about 10 MB; the original <pre> listing
 * (no Accept) about 6 MB. Few files keep creating and listing them quick. */
static int make_big_dir(const tsrv *s)
{
    char name[LIST_NAME_LEN + 1];
    int dfd = open(s->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (dfd < 0)
        return -1;
    memset(name, '&', LIST_NAME_LEN);
    name[LIST_NAME_LEN] = '\0';
    for (int i = 0; i < LIST_FILES; i++) {
        char num[16];
        int k = snprintf(num, sizeof(num), "%06d-", i);
        memcpy(name, num, (size_t)k);
        int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) {
            close(dfd);
            return -1;
        }
        close(fd);
    }
    close(dfd);
    return 0;
}

/* The listing of / (Accept header accept, may be NULL), read normally. */
static int get_listing(const tsrv *s, const char *accept, tbuf *out)
{
    thttp_resp r;
    const char *extra = accept ? t_fmt("Accept: %s\r\n", accept) : NULL;
    if (thttp_get(s->port, "/", extra, &r) < 0 || r.status != 200) {
        thttp_free(&r);
        return -1;
    }
    out->len = 0;
    tbuf_add(out, r.body.p, r.body.len);
    thttp_free(&r);
    return 0;
}

/* Sends req, shuts down writing (as `nc -N` does), lets the answer start and reads it half a second
 * later: every response in want[] (n of them) must arrive whole, then the close. */
static void check_half_closed(const tsrv *s, const char *req, const tbuf *want, int n)
{
    int fd = t_connect(s->port);
    rstream rs = {.fd = -1};
    CHECK(fd >= 0);
    rs.fd = fd;
    CHECK(t_send_str(fd, req) == 0);
    CHECK(shutdown(fd, SHUT_WR) == 0);
    /* like a pipe into a slower consumer: the answer starts, then waits in the socket buffers
     * while the server sees the half-close (a client that reads at once may race it and win) */
    struct pollfd p = {.fd = fd, .events = POLLIN};
    CHECKF(poll(&p, 1, 10000) == 1, "no answer in 10 s");
    t_sleep_ms(500);
    for (int i = 0; i < n; i++) {
        int r = rs_next(&rs, 10000);
        if (r != 1) {
            close(fd);
            rs_free(&rs);
        }
        CHECKF(r == 1, "response %d of %d after the half-close: %s (%lld of %lld body bytes)",
               i + 1, n, rs_why(r), rs.got, rs.want);
        CHECKF(rs.status == 200, "response %d: status %d", i + 1, rs.status);
        CHECKF(rs.body_len == want[i].len && memcmp(rs.body, want[i].p, want[i].len) == 0,
               "response %d: %zu bytes, not the %zu of the listing read normally", i + 1,
               rs.body_len, want[i].len);
    }
    CHECKF(rs_silent_eof(&rs, T_TIMEOUT), "no close after the answers to a half-closed client");
    close(fd);
    rs_free(&rs);
}

static void test_half_close_gets_whole_listing(void)
{
    const char *flags[] = {"-q", NULL};
    tsrv *s = tsrv_start(flags);
    tbuf want[2] = {{0}, {0}};
    CHECK(s);
    CHECK(make_big_dir(s) == 0);
    CHECK(get_listing(s, "text/html", &want[0]) == 0);
    CHECK(get_listing(s, NULL, &want[1]) == 0);
    CHECKF(want[0].len > ((size_t)6 << 20) && want[1].len > ((size_t)2 << 20),
           "listings of only %zu and %zu bytes", want[0].len, want[1].len);
    fprintf(stderr, "  # listings: %zu bytes as a table, %zu as <pre>\n", want[0].len, want[1].len);

    check_half_closed(s, "GET / HTTP/1.1\r\nHost: h\r\nAccept: text/html\r\n\r\n", want, 1);
    /* two pipelined requests, then the half-close: both answered whole */
    check_half_closed(s,
                      "GET / HTTP/1.1\r\nHost: h\r\nAccept: text/html\r\n\r\n"
                      "GET / HTTP/1.1\r\nHost: h\r\n\r\n",
                      want, 2);
    tbuf_free(&want[0]);
    tbuf_free(&want[1]);
    tsrv_stop(s);
}

/* A reader slower than -idle-timeout needs to drain the response is not idle: it gets every byte.
 * Once the response is out and nothing is queued, the keep-alive connection is idle and is closed.
 */
static void test_slow_reader_not_idle(void)
{
    const char *flags[] = {"-q", "-idle-timeout=2s", NULL};
    tsrv *s = tsrv_start(flags);
    tbuf want = {0};
    CHECK(s);
    CHECK(make_big_dir(s) == 0);
    CHECK(get_listing(s, "text/html", &want) == 0);
    CHECKF(want.len > ((size_t)6 << 20), "a listing of only %zu bytes", want.len);

    int fd = t_connect_rcvbuf(s->port, 16384);
    CHECK(fd >= 0);
    rstream rs = {.fd = fd};
    CHECK(t_send_str(fd, "GET / HTTP/1.1\r\nHost: h\r\nAccept: text/html\r\n\r\n") == 0);
    /* about 600 KB/s for 4.5 s: more than twice the idle timeout */
    int64_t start = t_now_ms();
    while (t_now_ms() - start < 4500 && rs_fill(&rs, 8192, 5000) >= 0)
        t_sleep_ms(12);
    size_t slow = rs.in.len;
    int r = rs_next(&rs, 10000);
    if (r != 1) {
        close(fd);
        rs_free(&rs);
        tbuf_free(&want);
    }
    CHECKF(r == 1,
           "a reader of about 600 KB/s with -idle-timeout=2s: %s after %lld of %lld body bytes "
           "(%zu bytes read in the first %lld ms)",
           rs_why(r), rs.got, rs.want, slow, (long long)(t_now_ms() - start));
    CHECK_INT(rs.status, 200);
    CHECKF(rs.body_len == want.len && memcmp(rs.body, want.p, want.len) == 0,
           "%zu bytes, not the %zu of the listing read normally", rs.body_len, want.len);
    CHECKF(slow < want.len / 2, "the slow phase read %zu of %zu bytes: the test is too fast", slow,
           want.len);

    /* nothing is queued any more: now the connection is idle, and is closed without a word */
    CHECKF(rs_silent_eof(&rs, 10000), "the idle keep-alive connection stayed open");
    close(fd);
    rs_free(&rs);
    tbuf_free(&want);
    tsrv_stop(s);
}

int main(void)
{
    RUN(test_pipelined_404_flood);
    RUN(test_pipelined_view_flood);
    RUN(test_ping_flood_appender);
    RUN(test_ping_flood_follower);
    RUN(test_half_close_gets_whole_listing);
    RUN(test_slow_reader_not_idle);
    return test_report();
}
