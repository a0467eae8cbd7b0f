/* test_frames.c -- what a WebSocket follower gets depending on what it asks for, over raw frames:
 * - a reader built like the original's Go client (each message read with one Read of a 4,096-byte
 *   buffer, as under a bufio.Reader, the rest of the message dropped) gets every byte when it sends
 *   X-Verb: FOLLOW, as that client does: its frames hold at most 4 KiB, or -frame-max if lower;
 *   other followers keep -frame-max (8 KiB by default);
 * - a follower that asks for a frame type (?frames=binary|text, or the subprotocol binary or text,
 *   echoed) gets 101 even when the resource has no writer: the whole file (from ?offset), then
 *   CLOSE 1000; one that asks for none still gets the original's 200 with the file; a missing
 *   resource is 404, or waits with ?wait. */
#include "../harness.h"

#include <stdlib.h>
#include <string.h>

#define GO_READ_BUF 4096 /* bufio.Reader's default size */

/* n bytes of numbered ASCII lines, different for each seed. */
static void lines(tbuf *b, size_t n, unsigned seed)
{
    char line[64];
    for (unsigned i = 0; b->len < n; i++) {
        int k =
            snprintf(line, sizeof(line), "%u.%05u the quick brown fox jumps over it\n", seed, i);
        size_t take = (size_t)k < n - b->len ? (size_t)k : n - b->len;
        tbuf_add(b, line, take);
    }
}

/* A follower's messages read the way a client reads them: with buf > 0, each message through one
 * read of buf bytes, the rest of it dropped (the original's client under a bufio.Reader); with 0,
 * whole. Reads until CLOSE and the TCP end, echoing the CLOSE. */
typedef struct msg_reader {
    size_t buf;
    tbuf data;        /* the bytes the reader kept */
    size_t received;  /* payload bytes that arrived */
    size_t frames;    /* data frames */
    size_t max_frame; /* the largest payload */
    size_t short_reads;
    unsigned opcode; /* of every data frame (0: none yet; -1u: mixed) */
    unsigned close_code;
    char err[160];
} msg_reader;

static int read_stream(tws *f, msg_reader *m, int timeout_ms)
{
    int64_t deadline = t_now_ms() + timeout_ms;
    tws_frame fr;

    for (;;) {
        int64_t left = deadline - t_now_ms();
        if (left <= 0) {
            snprintf(m->err, sizeof(m->err), "timeout after %zu bytes", m->received);
            return -1;
        }
        switch (tws_read(f, &fr, (int)left)) {
        case TWS_TIMEOUT:
            continue;
        case TWS_EOF:
            if (!m->close_code)
                snprintf(m->err, sizeof(m->err), "TCP closed without CLOSE after %zu bytes",
                         m->received);
            return m->close_code ? 0 : -1;
        case TWS_ERROR:
            snprintf(m->err, sizeof(m->err), "bad frame: %s", fr.reason);
            return -1;
        case WS_EV_CLOSE:
            m->close_code = fr.close_code;
            tws_send_close(f, fr.close_code == WS_CLOSE_NO_STATUS ? 0 : fr.close_code);
            continue;
        case WS_EV_DATA:
            if (!fr.fin) {
                snprintf(m->err, sizeof(m->err), "a fragmented message");
                return -1;
            }
            m->opcode = !m->opcode || m->opcode == fr.opcode ? fr.opcode : -1u;
            m->frames++;
            m->received += fr.len;
            if (fr.len > m->max_frame)
                m->max_frame = fr.len;
            size_t keep = m->buf && fr.len > m->buf ? m->buf : fr.len;
            m->short_reads += keep < fr.len;
            tbuf_add(&m->data, fr.data, keep);
            continue;
        default:
            continue; /* PING, PONG */
        }
    }
}

/* The Go client's handshake: its verb as a header. */
static tws *go_follow(tsrv *s, const char *path)
{
    thttp_resp r;
    tws *f = tws_connect(s->port, path, "X-Verb: FOLLOW\r\n", &r);
    if (!f)
        fprintf(stderr, "X-Verb: FOLLOW %s: HTTP %d\n", path, r.status);
    thttp_free(&r);
    return f;
}

/* A live resource written in 16 KiB appends, some before the followers join (they get a backlog)
 * and some after: a reader like the Go client with X-Verb: FOLLOW keeps every byte; the same
 * reader without the header (frames of up to 8 KiB) does not, which is why the cap exists. */
static void test_go_reader_gets_every_byte(void)
{
    tsrv *s = tsrv_start(NULL);
    tbuf want = {0}, chunk = {0};
    CHECK(s);
    tws *w = tws_append(s->port, "/go.log");
    CHECK(w);
    lines(&chunk, 16384, 1);
    CHECK(tws_append_msg(s, w, "go.log", &want, chunk.p, chunk.len) == 0);
    CHECK(tws_append_msg(s, w, "go.log", &want, chunk.p, 9000) == 0);
    tws *go = go_follow(s, "/go.log");
    CHECK(go);
    tws *plain = tws_follow(s->port, "/go.log");
    CHECK(plain);
    for (unsigned i = 2; i < 4; i++) {
        chunk.len = 0;
        lines(&chunk, 16384, i);
        CHECK(tws_append_msg(s, w, "go.log", &want, chunk.p, chunk.len) == 0);
    }
    CHECK(tws_append_msg(s, w, "go.log", &want, "end\n", 4) == 0);
    CHECK(tws_end_append(w) == 0);
    tws_free(w);

    msg_reader g = {.buf = GO_READ_BUF}, p = {.buf = GO_READ_BUF};
    CHECKF(read_stream(go, &g, 10000) == 0, "X-Verb: FOLLOW: %s", g.err);
    CHECK_INT(g.close_code, 1000);
    CHECK_INT(g.opcode, WS_OP_TEXT);
    CHECKF(g.max_frame <= 4096, "X-Verb: FOLLOW got a frame of %zu bytes", g.max_frame);
    CHECKF(g.short_reads == 0, "%zu messages did not fit a 4,096-byte read", g.short_reads);
    CHECK_MEM(g.data.p, g.data.len, want.p, want.len);

    CHECKF(read_stream(plain, &p, 10000) == 0, "no verb: %s", p.err);
    CHECK_INT(p.close_code, 1000);
    CHECK_INT(p.received, want.len);
    CHECKF(p.max_frame > 4096 && p.max_frame <= 8192, "no verb: largest frame %zu", p.max_frame);
    CHECKF(p.data.len < want.len, "a 4,096-byte reader without the verb kept %zu of %zu bytes",
           p.data.len, want.len);
    printf("# a Go-like reader kept %zu of %zu bytes with X-Verb: FOLLOW, %zu without\n",
           g.data.len, want.len, p.data.len);
    tws_free(go);
    tws_free(plain);
    tbuf_free(&g.data);
    tbuf_free(&p.data);
    tbuf_free(&want);
    tbuf_free(&chunk);
    tsrv_stop(s);
}

/* The 4 KiB cap of X-Verb: FOLLOW followers goes under a lower -frame-max and stays under a higher
 * one, while other followers get -frame-max; a finished resource asked for with ?frames=text by
 * such a follower comes in frames of 4 KiB too. */
static void check_caps(const char *flag, size_t go_max, size_t plain_max)
{
    const char *flags[] = {flag, NULL};
    tsrv *s = tsrv_start(flags);
    tbuf want = {0};
    CHECK(s);
    lines(&want, 200000, 7);
    CHECK(t_file_write(tsrv_path(s, "big.log"), want.p, want.len) == 0);
    tws *w = tws_append(s->port, "/big.log");
    CHECK(w);
    tws *go = go_follow(s, "/big.log");
    CHECK(go);
    tws *plain = tws_follow(s->port, "/big.log");
    CHECK(plain);
    CHECK(tws_end_append(w) == 0);
    tws_free(w);
    tws *go_done = go_follow(s, "/big.log?frames=text");
    CHECK(go_done);

    msg_reader g = {0}, p = {0}, d = {0};
    CHECKF(read_stream(go, &g, 10000) == 0, "%s X-Verb: FOLLOW: %s", flag, g.err);
    CHECKF(read_stream(plain, &p, 10000) == 0, "%s no verb: %s", flag, p.err);
    CHECKF(read_stream(go_done, &d, 10000) == 0, "%s finished, ?frames=text: %s", flag, d.err);
    CHECK_MEM(g.data.p, g.data.len, want.p, want.len);
    CHECK_MEM(p.data.p, p.data.len, want.p, want.len);
    CHECK_MEM(d.data.p, d.data.len, want.p, want.len);
    CHECKF(g.max_frame == go_max, "%s: X-Verb: FOLLOW largest frame %zu, want %zu", flag,
           g.max_frame, go_max);
    CHECKF(d.max_frame == go_max, "%s: finished ?frames=text largest frame %zu, want %zu", flag,
           d.max_frame, go_max);
    CHECKF(p.max_frame == plain_max, "%s: no verb largest frame %zu, want %zu", flag, p.max_frame,
           plain_max);
    tws_free(go);
    tws_free(plain);
    tws_free(go_done);
    tbuf_free(&g.data);
    tbuf_free(&p.data);
    tbuf_free(&d.data);
    tbuf_free(&want);
    tsrv_stop(s);
}

static void test_go_cap_and_frame_max(void)
{
    check_caps("-frame-max=8192", 4096, 8192);
    check_caps("-frame-max=2k", 2048, 2048);
    check_caps("-frame-max=64k", 4096, 65536);
}

/* Handshakes that ask for a frame type, to a resource with no writer: 101, the whole file, CLOSE
 * 1000, the TCP end. */
static void test_frame_type_asked_gets_101(void)
{
    static const struct {
        const char *query, *headers;
        unsigned opcode;
        const char *protocol; /* echoed, or NULL */
    } cases[] = {
        {"?frames=binary", NULL, WS_OP_BINARY, NULL},
        {"?frames=text", NULL, WS_OP_TEXT, NULL},
        {"", "Sec-WebSocket-Protocol: binary\r\n", WS_OP_BINARY, "binary"},
        {"", "Sec-WebSocket-Protocol: text\r\n", WS_OP_TEXT, "text"},
        {"", "Sec-WebSocket-Protocol: chat, text\r\n", WS_OP_TEXT, "text"},
        {"", "Sec-WebSocket-Protocol: text, binary\r\n", WS_OP_BINARY, "binary"},
        {"?frames=binary", "Sec-WebSocket-Protocol: text\r\n", WS_OP_TEXT, "text"},
        {"?frames=text&wait", NULL, WS_OP_TEXT, NULL},
    };
    tsrv *s = tsrv_start(NULL);
    tbuf want = {0};
    CHECK(s);
    lines(&want, 30000, 3);
    CHECK(t_file_write(tsrv_path(s, "done.log"), want.p, want.len) == 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        thttp_resp r;
        tws *f = tws_connect(s->port, t_fmt("/done.log%s", cases[i].query), cases[i].headers, &r);
        CHECKF(f, "%s %s: HTTP %d", cases[i].query, cases[i].headers ? cases[i].headers : "",
               r.status);
        const char *proto = thttp_header(&r, "Sec-WebSocket-Protocol");
        CHECKF(cases[i].protocol ? proto && !strcmp(proto, cases[i].protocol) : !proto,
               "case %zu: Sec-WebSocket-Protocol %s", i, proto ? proto : "(none)");
        CHECK_STR(thttp_header(&r, "X-Follow-Offset"), "0");
        thttp_free(&r);
        msg_reader m = {0};
        CHECKF(read_stream(f, &m, 10000) == 0, "case %zu: %s", i, m.err);
        CHECK_INT(m.close_code, 1000);
        CHECKF(m.opcode == cases[i].opcode, "case %zu: opcode %u", i, m.opcode);
        CHECKF(m.max_frame <= 8192, "case %zu: a frame of %zu bytes", i, m.max_frame);
        CHECK_MEM(m.data.p, m.data.len, want.p, want.len);
        tbuf_free(&m.data);
        tws_free(f);
    }
    tbuf_free(&want);
    tsrv_stop(s);
}

/* The original's answers stay for handshakes that ask for no frame type (or an unknown one): 200
 * with the file; a missing resource is 404 whatever is asked. */
static void test_no_frame_type_gets_200(void)
{
    static const char *const asks[] = {"", "?frames=bogus", "?frames=BINARY"};
    tsrv *s = tsrv_start(NULL);
    CHECK(s);
    CHECK(t_file_write(tsrv_path(s, "done.txt"), "all of it\n", 10) == 0);
    for (size_t i = 0; i < sizeof(asks) / sizeof(*asks); i++) {
        for (int verb = 0; verb < 2; verb++) {
            thttp_resp r;
            tws *f = tws_connect(s->port, t_fmt("/done.txt%s", asks[i]),
                                 verb ? "X-Verb: FOLLOW\r\n" : NULL, &r);
            CHECKF(!f, "%s: 101", asks[i]);
            CHECKF(r.status == 200, "%s: HTTP %d", asks[i], r.status);
            CHECK_MEM(r.body.p, r.body.len, "all of it\n", 10);
            thttp_free(&r);
        }
    }
    static const char *const missing[] = {"", "?frames=binary", "?frames=text",
                                          "?frames=binary&offset=0"};
    for (size_t i = 0; i < sizeof(missing) / sizeof(*missing); i++) {
        thttp_resp r;
        tws *f = tws_connect(s->port, t_fmt("/never.txt%s", missing[i]), NULL, &r);
        CHECKF(!f && r.status == 404, "/never.txt%s: HTTP %d", missing[i], r.status);
        thttp_free(&r);
    }
    tws *f = tws_connect(s->port, "/never.txt", "Sec-WebSocket-Protocol: text\r\n", NULL);
    CHECK(!f);
    CHECK(!t_exists(tsrv_path(s, "never.txt")));
    tsrv_stop(s);
}

/* With a frame type asked for: ?offset on a finished resource, an empty one, and ?wait for one that
 * does not exist yet. */
static void test_frame_type_offsets_empty_wait(void)
{
    tsrv *s = tsrv_start(NULL);
    tbuf want = {0};
    thttp_resp r;
    CHECK(s);
    CHECK(t_file_write(tsrv_path(s, "o.txt"), "0123456789", 10) == 0);
    CHECK(t_file_write(tsrv_path(s, "empty.txt"), "", 0) == 0);
    static const struct {
        const char *path, *offset, *bytes;
    } cases[] = {
        {"/o.txt?frames=binary&offset=4", "4", "456789"},
        {"/o.txt?frames=text&offset=-3", "7", "789"},
        {"/o.txt?frames=text&offset=now", "10", ""},
        {"/o.txt?frames=text&offset=10", "10", ""},
        {"/empty.txt?frames=binary", "0", ""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        tws *f = tws_connect(s->port, cases[i].path, NULL, &r);
        CHECKF(f, "%s: HTTP %d", cases[i].path, r.status);
        CHECK_STR(thttp_header(&r, "X-Follow-Offset"), cases[i].offset);
        thttp_free(&r);
        msg_reader m = {0};
        CHECKF(read_stream(f, &m, 5000) == 0, "%s: %s", cases[i].path, m.err);
        CHECK_INT(m.close_code, 1000);
        CHECK_INT(m.data.len, strlen(cases[i].bytes));
        if (m.data.len) /* (an empty tbuf has no buffer) */
            CHECK_MEM(m.data.p, m.data.len, cases[i].bytes, m.data.len);
        tbuf_free(&m.data);
        tws_free(f);
    }
    tws *past = tws_connect(s->port, "/o.txt?frames=text&offset=11", NULL, &r);
    CHECKF(!past && r.status == 416, "offset past the end: HTTP %d", r.status);
    thttp_free(&r);

    tws *f = tws_connect(s->port, "/later.txt?frames=binary&wait", NULL, &r);
    CHECKF(f, "?wait: HTTP %d", r.status);
    thttp_free(&r);
    tws *w = tws_append(s->port, "/later.txt");
    CHECK(w);
    CHECK(tws_append_msg(s, w, "later.txt", &want, "first\n", 6) == 0);
    CHECK(tws_end_append(w) == 0);
    tws_free(w);
    msg_reader m = {0};
    CHECKF(read_stream(f, &m, 5000) == 0, "?wait: %s", m.err);
    CHECK_INT(m.close_code, 1000);
    CHECK_INT(m.opcode, WS_OP_BINARY);
    CHECK_MEM(m.data.p, m.data.len, want.p, want.len);
    tbuf_free(&m.data);
    tws_free(f);
    tbuf_free(&want);
    tsrv_stop(s);
}

/* An appender that offers a subprotocol gets the one chosen echoed, text as well as binary (a
 * browser fails a handshake that echoes none it offered), and its bytes are appended. */
static void test_appender_subprotocol_echoed(void)
{
    tsrv *s = tsrv_start(NULL);
    CHECK(s);
    const char *protos[] = {"text", "binary"};
    for (int i = 0; i < 2; i++) {
        thttp_resp r;
        const char *path = t_fmt("/sub-%s.log", protos[i]);
        tws *w =
            tws_connect(s->port, path,
                        t_fmt("X-Verb: APPEND\r\nSec-WebSocket-Protocol: %s\r\n", protos[i]), &r);
        CHECKF(w, "%s: status %d", protos[i], r.status);
        const char *v = thttp_header(&r, "Sec-WebSocket-Protocol");
        CHECKF(v && !strcmp(v, protos[i]), "%s: echoed %s", protos[i], v ? v : "(none)");
        thttp_free(&r);
        CHECK_INT(tws_send_text(w, "x\n"), 0);
        CHECK_INT(tws_send_close(w, 1000), 0);
        char why[128];
        CHECK_INT(tws_read_close(w, why, sizeof(why), T_TIMEOUT), 1000);
        tws_free(w);
        CHECK(t_file_wait_eq(tsrv_path(s, path + 1), "x\n", 2, T_TIMEOUT));
    }
    tsrv_stop(s);
}

int main(void)
{
    RUN(test_go_reader_gets_every_byte);
    RUN(test_go_cap_and_frame_max);
    RUN(test_frame_type_asked_gets_101);
    RUN(test_no_frame_type_gets_200);
    RUN(test_frame_type_offsets_empty_wait);
    RUN(test_appender_subprotocol_echoed);
    return test_report();
}
