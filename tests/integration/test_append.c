/* test_append.c -- APPEND against the real server over raw WebSocket frames: one appender per
 * resource (403), files and directories created with the right modes, O_APPEND, every kind of
 * message appended byte for byte, control frames, every protocol error (1002) and the message
 * limit (1009) keeping earlier bytes, and the slot released after every way a session can end. */
#include "../harness.h"

#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define CONFLICT_BODY "addWriter: path already has an active writer\n"

/* Ends a session with CLOSE code and checks the echo and the TCP close. 0 or -1. */
static int close_session(tws *w, unsigned code)
{
    tws_frame f;
    if (tws_send_close(w, code) < 0)
        return -1;
    if (tws_read_type(w, WS_EV_CLOSE, &f, T_TIMEOUT) != WS_EV_CLOSE || f.close_code != code) {
        fprintf(stderr, "  note: want CLOSE %u, got type %d code %u\n", code, f.type, f.close_code);
        return -1;
    }
    return t_wait_eof(w->fd, T_TIMEOUT) ? 0 : -1;
}

static unsigned mode_of(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (unsigned)(st.st_mode & 07777) : 0xffff;
}

static void test_creates_dirs_and_file_modes(void)
{
    tsrv *s = tsrv_start(NULL);
    CHECK(s);
    tws *w = tws_append(s->port, "/a/b/c/f.log");
    CHECK(w);
    CHECK(t_exists(tsrv_path(s, "a/b/c/f.log"))); /* created by the upgrade, before any data */
    CHECK(tws_send_text(w, "x") == 0);
    CHECK(close_session(w, 1000) == 0);
    tws_free(w);
    const char *dirs[] = {"a", "a/b", "a/b/c"};
    for (int i = 0; i < 3; i++)
        CHECKF(mode_of(tsrv_path(s, dirs[i])) == 0755, "%s: mode %o", dirs[i],
               mode_of(tsrv_path(s, dirs[i])));
    CHECKF(mode_of(tsrv_path(s, "a/b/c/f.log")) == 0600, "file mode %o",
           mode_of(tsrv_path(s, "a/b/c/f.log")));
    CHECK(t_file_wait_eq(tsrv_path(s, "a/b/c/f.log"), "x", 1, 2000));
    tsrv_stop(s);
}

static void test_never_truncates(void)
{
    tsrv *s = tsrv_start(NULL);
    CHECK(s);
    CHECK(t_file_write(tsrv_path(s, "pre.txt"), "hello", 5) == 0);
    chmod(tsrv_path(s, "pre.txt"), 0644);

    tws *w = tws_append(s->port, "/pre.txt");
    CHECK(w);
    CHECK(t_file_wait_eq(tsrv_path(s, "pre.txt"), "hello", 5, 0)); /* opening kept it */
    CHECK(tws_send_text(w, " world") == 0);
    CHECK(close_session(w, 1000) == 0);
    tws_free(w);
    CHECK(t_file_wait_eq(tsrv_path(s, "pre.txt"), "hello world", 11, 2000));

    /* a second session adds to the end again, and an empty session changes nothing */
    w = tws_append_retry(s->port, "/pre.txt", 2000);
    CHECK(w);
    CHECK(close_session(w, 1000) == 0);
    tws_free(w);
    w = tws_append_retry(s->port, "/pre.txt", 2000);
    CHECK(w);
    CHECK(tws_send_text(w, "!") == 0);
    CHECK(close_session(w, 1000) == 0);
    tws_free(w);
    CHECK(t_file_wait_eq(tsrv_path(s, "pre.txt"), "hello world!", 12, 2000));
    tsrv_stop(s);
}

static void test_second_appender_403(void)
{
    tsrv *s = tsrv_start(NULL);
    thttp_resp r;
    CHECK(s);
    tws *w = tws_append(s->port, "/dir/one.txt");
    CHECK(w);
    CHECK(tws_send_text(w, "first") == 0);
    CHECK(t_file_wait_eq(tsrv_path(s, "dir/one.txt"), "first", 5, 2000));
    int entries = t_tree_count(s->root);

    const char *how[][2] = {{"/dir/one.txt", "X-Verb: APPEND\r\n"},
                            {"/dir/one.txt?verb=APPEND", NULL}};
    for (int i = 0; i < 2; i++) {
        tws *second = tws_connect(s->port, how[i][0], how[i][1], &r);
        CHECKF(!second && r.status == 403, "second appender: %d", r.status);
        CHECK_STR(thttp_header(&r, "Content-Type"), "text/plain; charset=utf-8");
        CHECK_MEM(r.body.p, r.body.len, CONFLICT_BODY, strlen(CONFLICT_BODY));
        thttp_free(&r);
    }
    CHECK_INT(t_tree_count(s->root), entries);

    /* the first appender is unaffected */
    CHECK(tws_send_text(w, "+more") == 0);
    CHECK(close_session(w, 1000) == 0);
    tws_free(w);
    CHECK(t_file_wait_eq(tsrv_path(s, "dir/one.txt"), "first+more", 10, 2000));
    tsrv_stop(s);
}

static void test_messages_byte_exact(void)
{
    tsrv *s = tsrv_start(NULL);
    tbuf want = {0};
    uint8_t bin[256], big[200000];
    tws_frame f;
    CHECK(s);
    for (int i = 0; i < 256; i++)
        bin[i] = (uint8_t)i;
    t_rand_fill(big, sizeof(big));

    tws *w = tws_append(s->port, "/m.bin");
    CHECK(w);
    tws *fol = tws_follow(s->port, "/m.bin");
    CHECK(fol);
    tws_collect c = {.opcode = WS_OP_TEXT};

    /* plain TEXT (the server never checks its UTF-8) and BINARY */
    CHECK(tws_send(w, WS_OP_TEXT, 1, "text;", 5) == 0);
    tbuf_add(&want, "text;", 5);
    CHECK(tws_send(w, WS_OP_TEXT, 1, "\xff\xfe", 2) == 0);
    tbuf_add(&want, "\xff\xfe", 2);
    CHECK(tws_send(w, WS_OP_BINARY, 1, bin, sizeof(bin)) == 0);
    tbuf_add(&want, bin, sizeof(bin));
    /* 16-bit and 64-bit lengths */
    CHECK(tws_send(w, WS_OP_BINARY, 1, big, 300) == 0);
    tbuf_add(&want, big, 300);
    CHECK(tws_send(w, WS_OP_TEXT, 1, big, sizeof(big)) == 0);
    tbuf_add(&want, big, sizeof(big));

    /* fragmented TEXT with a PING between fragments: answered at once, with its payload */
    CHECK(tws_send(w, WS_OP_TEXT, 0, "frag", 4) == 0);
    CHECK(tws_send(w, WS_OP_PING, 1, "mid", 3) == 0);
    CHECK_INT(tws_read_type(w, WS_EV_PONG, &f, T_TIMEOUT), WS_EV_PONG);
    CHECK_MEM(f.data, f.len, "mid", 3);
    CHECK(tws_send(w, WS_OP_CONT, 0, "ment", 4) == 0);
    CHECK(tws_send(w, WS_OP_PONG, 1, "unsolicited", 11) == 0); /* ignored */
    CHECK(tws_send(w, WS_OP_CONT, 0, "", 0) == 0);
    CHECK(tws_send(w, WS_OP_CONT, 1, "ed;", 3) == 0);
    tbuf_add(&want, "fragmented;", 11);

    /* fragmented BINARY */
    CHECK(tws_send(w, WS_OP_BINARY, 0, bin, 100) == 0);
    CHECK(tws_send(w, WS_OP_PING, 1, "", 0) == 0);
    CHECK(tws_send(w, WS_OP_CONT, 1, bin + 100, 156) == 0);
    tbuf_add(&want, bin, 256);
    CHECK_INT(tws_read_type(w, WS_EV_PONG, &f, T_TIMEOUT), WS_EV_PONG);
    CHECK_INT(f.len, 0);

    /* empty messages append nothing */
    CHECK(tws_send(w, WS_OP_TEXT, 1, "", 0) == 0);
    CHECK(tws_send(w, WS_OP_BINARY, 1, "", 0) == 0);
    CHECK(tws_send(w, WS_OP_TEXT, 0, "", 0) == 0);
    CHECK(tws_send(w, WS_OP_CONT, 1, "", 0) == 0);
    CHECK(tws_send(w, WS_OP_TEXT, 1, "end", 3) == 0);
    tbuf_add(&want, "end", 3);

    CHECK(close_session(w, 1000) == 0);
    tws_free(w);
    CHECK(t_file_wait_eq(tsrv_path(s, "m.bin"), want.p, want.len, 5000));

    /* a follower there all along saw the same bytes, then CLOSE 1000 */
    CHECKF(tws_collect_until(fol, &c, SIZE_MAX, 10000) == 0, "%s", c.err);
    CHECK_INT(c.close_code, 1000);
    CHECK_MEM(c.data.p, c.data.len, want.p, want.len);
    tws_collect_free(&c);
    tws_free(fol);
    tbuf_free(&want);
    tsrv_stop(s);
}

static void test_ping_pong(void)
{
    tsrv *s = tsrv_start(NULL);
    uint8_t p125[125];
    tws_frame f;
    CHECK(s);
    t_rand_fill(p125, sizeof(p125));
    tws *w = tws_append(s->port, "/pp.txt");
    CHECK(w);
    const struct {
        const void *p;
        size_t n;
    } pings[] = {{"abc", 3}, {"", 0}, {p125, 125}};
    for (int i = 0; i < 3; i++) {
        CHECK(tws_send(w, WS_OP_PING, 1, pings[i].p, pings[i].n) == 0);
        CHECK_INT(tws_read_type(w, WS_EV_PONG, &f, T_TIMEOUT), WS_EV_PONG);
        CHECK_MEM(f.data, f.len, pings[i].p, pings[i].n);
    }
    /* a PING in the same segment as data, and split across two sends */
    uint8_t raw[64];
    size_t n = ws_frame_header(raw, WS_OP_PING, 1, 2, (const uint8_t *)"\0\0\0\0");
    memcpy(raw + n, "hi", 2);
    CHECK(t_send_all(w->fd, raw, 3) == 0);
    t_sleep_ms(20);
    CHECK(t_send_all(w->fd, raw + 3, n + 2 - 3) == 0);
    CHECK_INT(tws_read_type(w, WS_EV_PONG, &f, T_TIMEOUT), WS_EV_PONG);
    CHECK_MEM(f.data, f.len, "hi", 2);
    CHECK(close_session(w, 1000) == 0);
    tws_free(w);
    CHECK_INT(t_tree_count(s->root), 1);
    CHECK(t_file_wait_eq(tsrv_path(s, "pp.txt"), "", 0, 0));
    tsrv_stop(s);
}

static void test_close_echo_and_release(void)
{
    tsrv *s = tsrv_start(NULL);
    CHECK(s);
    const unsigned codes[] = {1000, 1001, 4321, 3000};
    for (int i = 0; i < 4; i++) {
        tws *w = tws_append_retry(s->port, "/c.txt", 2000);
        CHECKF(w, "session %d: the slot was not released", i);
        CHECK(tws_send_text(w, t_fmt("%d", i)) == 0);
        CHECKF(close_session(w, codes[i]) == 0, "CLOSE %u", codes[i]);
        tws_free(w);
    }
    CHECK(t_file_wait_eq(tsrv_path(s, "c.txt"), "0123", 4, 2000));
    tsrv_stop(s);
}

/* The echoed CLOSE acknowledges every byte: when the appender reads it, the file already holds all
 * it sent, even when the server was still writing a large backlog behind (a GET at once gets it
 * all). */
static void test_close_echo_means_written(void)
{
    tsrv *s = tsrv_start(NULL);
    CHECK(s);
    const size_t msg = 64 * 1024, total = (size_t)16 << 20;
    uint8_t *buf = malloc(msg);
    CHECK(buf);
    t_rand_fill(buf, msg);
    for (int round = 0; round < 3; round++) {
        char path[32];
        snprintf(path, sizeof(path), "/big%d.bin", round);
        tws *w = tws_append(s->port, path);
        CHECK(w);
        for (size_t sent = 0; sent < total; sent += msg)
            CHECK(tws_send(w, WS_OP_BINARY, 1, buf, msg) == 0);
        CHECK(close_session(w, 1000) == 0);
        tws_free(w);
        struct stat st;
        CHECK(stat(tsrv_path(s, path + 1), &st) == 0);
        CHECKF((size_t)st.st_size == total, "round %d: %lld of %zu bytes in the file at the echo",
               round, (long long)st.st_size, total);
        thttp_resp r;
        char req[128];
        int n = snprintf(req, sizeof(req),
                         "HEAD %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path);
        CHECK(thttp_raw(s->port, req, (size_t)n, &r, 1) == 0);
        CHECK_INT(r.status, 200);
        CHECK_STR(thttp_header(&r, "Content-Length"), t_fmt("%zu", total));
        thttp_free(&r);
    }
    free(buf);
    tsrv_stop(s);
}

/* The appender leaves without a CLOSE (how = 0: FIN, 1: RST, 2: half-close): the follower gets
 * every byte, then CLOSE 1000, then the TCP close; a new appender is accepted. */
static void test_tcp_eof_ends_session(void)
{
    tsrv *s = tsrv_start(NULL);
    CHECK(s);
    tbuf want = {0};
    for (int how = 0; how < 3; how++) {
        tws *w = tws_append_retry(s->port, "/eof.txt", 2000);
        CHECKF(w, "how %d: the slot was not released", how);
        const char *msg = t_fmt("part%d;", how);
        CHECK(tws_send_text(w, msg) == 0);
        tbuf_adds(&want, msg);
        CHECK(t_file_wait_eq(tsrv_path(s, "eof.txt"), want.p, want.len, 2000));
        tws *fol = tws_follow(s->port, "/eof.txt");
        CHECK(fol);
        tws_collect c = {0};
        CHECKF(tws_collect_until(fol, &c, want.len, 5000) == 0, "%s", c.err);
        CHECK(tws_send_text(w, "tail;") == 0);
        tbuf_adds(&want, "tail;");
        if (how == 0) {
            close(w->fd);
        } else if (how == 1) {
            CHECK(t_file_wait_eq(tsrv_path(s, "eof.txt"), want.p, want.len, 2000));
            t_close_rst(w->fd);
        } else {
            shutdown(w->fd, SHUT_WR);
        }
        if (how < 2)
            w->fd = -1;
        CHECKF(tws_collect_until(fol, &c, SIZE_MAX, 5000) == 0, "how %d: %s", how, c.err);
        CHECK_INT(c.close_code, 1000);
        CHECK_MEM(c.data.p, c.data.len, want.p, want.len);
        tws_collect_free(&c);
        tws_free(fol);
        if (how == 2) /* the server closes its side too */
            CHECK(t_wait_eof(w->fd, T_TIMEOUT));
        tws_free(w);
    }
    tws *w = tws_append_retry(s->port, "/eof.txt", 2000);
    CHECK(w);
    tws_free(w);
    CHECK(t_file_wait_eq(tsrv_path(s, "eof.txt"), want.p, want.len, 2000));
    tbuf_free(&want);
    tsrv_stop(s);
}

/* A broken frame: what to send, and whether the bytes of an unfinished message may be kept. */
typedef struct bad_frame {
    const char *what;
    uint8_t b0;
    int masked;
    size_t len;
    const char *prefix; /* sent first as an unfinished fragment (opcode prefix_op), or NULL */
    unsigned prefix_op;
} bad_frame;

static void test_protocol_errors_1002(void)
{
    tsrv *s = tsrv_start(NULL);
    uint8_t payload[200];
    CHECK(s);
    memset(payload, 'z', sizeof(payload));

    const bad_frame cases[] = {
        {"unmasked text frame", 0x81, 0, 3, NULL, 0},
        {"unmasked binary frame", 0x82, 0, 3, NULL, 0},
        {"reserved data opcode 0x3", 0x83, 1, 3, NULL, 0},
        {"reserved data opcode 0x7", 0x87, 1, 0, NULL, 0},
        {"reserved control opcode 0xB", 0x8B, 1, 3, NULL, 0},
        {"reserved control opcode 0xF", 0x8F, 1, 0, NULL, 0},
        {"RSV1", 0xC1, 1, 3, NULL, 0},
        {"RSV2", 0xA1, 1, 3, NULL, 0},
        {"RSV3", 0x91, 1, 3, NULL, 0},
        {"RSV1 on a PING", 0xC9, 1, 1, NULL, 0},
        {"PING with 126 bytes", 0x89, 1, 126, NULL, 0},
        {"PONG with 200 bytes", 0x8A, 1, 200, NULL, 0},
        {"CLOSE with 126 bytes", 0x88, 1, 126, NULL, 0},
        {"fragmented PING", 0x09, 1, 1, NULL, 0},
        {"fragmented CLOSE", 0x08, 1, 2, NULL, 0},
        {"continuation without a start", 0x80, 1, 3, NULL, 0},
        {"unfinished continuation without a start", 0x00, 1, 3, NULL, 0},
        {"TEXT inside a fragmented TEXT", 0x81, 1, 3, "ab", WS_OP_TEXT},
        {"BINARY inside a fragmented TEXT", 0x82, 1, 3, "ab", WS_OP_TEXT},
        {"TEXT start inside a fragmented BINARY", 0x01, 1, 3, "ab", WS_OP_BINARY},
        {"unmasked continuation", 0x80, 0, 3, "ab", WS_OP_TEXT},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        const bad_frame *b = &cases[i];
        const char *path = t_fmt("/pe%02zu.txt", i);
        const char *file = tsrv_path(s, path);
        tws_frame f;

        tws *w = tws_append(s->port, path);
        CHECKF(w, "%s: no appender", b->what);
        CHECK(tws_send_text(w, "good") == 0);
        CHECK(t_file_wait_eq(file, "good", 4, 2000));
        tws *fol = tws_follow(s->port, path);
        CHECK(fol);
        if (b->prefix)
            CHECK(tws_send(w, b->prefix_op, 0, b->prefix, strlen(b->prefix)) == 0);
        CHECK(tws_send_raw(w, b->b0, b->masked, payload, b->len) == 0);

        int t = tws_read_type(w, WS_EV_CLOSE, &f, T_TIMEOUT);
        CHECKF(t == WS_EV_CLOSE && f.close_code == 1002, "%s: got type %d close %u", b->what, t,
               f.close_code);
        CHECKF(t_wait_eof(w->fd, T_TIMEOUT), "%s: the server kept the connection", b->what);
        tws_free(w);

        tws_collect c = {0};
        CHECKF(tws_collect_until(fol, &c, SIZE_MAX, 5000) == 0, "%s: follower: %s", b->what, c.err);
        CHECK_INT(c.close_code, 1000);
        tws_free(fol);
        /* the earlier message stays; an unfinished fragment may have been written or not */
        int kept = t_file_wait_eq(file, "good", 4, 0) ||
                   (b->prefix && t_file_wait_eq(file, "goodab", 6, 0));
        CHECKF(kept, "%s: the file lost the bytes accepted before the error", b->what);
        CHECK_MEM(c.data.p, c.data.len, "goodab", c.data.len > 4 ? 6 : 4);
        tws_collect_free(&c);

        /* the slot is free again */
        w = tws_append_retry(s->port, path, 2000);
        CHECKF(w, "%s: the slot was not released", b->what);
        CHECK(close_session(w, 1000) == 0);
        tws_free(w);
    }
    tsrv_stop(s);
}

static void test_message_limit_1009(void)
{
    const char *flags[] = {"-max-message=1000", NULL};
    tsrv *s = tsrv_start(flags);
    uint8_t data[1500];
    tws_frame f;
    CHECK(s);
    t_rand_fill(data, sizeof(data));

    /* exactly the limit is fine; one byte over is not */
    tws *w = tws_append(s->port, "/big.bin");
    CHECK(w);
    CHECK(tws_send(w, WS_OP_BINARY, 1, data, 1000) == 0);
    CHECK(t_file_wait_eq(tsrv_path(s, "big.bin"), data, 1000, 2000));
    CHECK(tws_send(w, WS_OP_BINARY, 1, data, 1001) == 0);
    int t = tws_read_type(w, WS_EV_CLOSE, &f, T_TIMEOUT);
    CHECKF(t == WS_EV_CLOSE && f.close_code == 1009, "got type %d close %u", t, f.close_code);
    CHECK(t_wait_eof(w->fd, T_TIMEOUT));
    tws_free(w);
    CHECK(t_file_wait_eq(tsrv_path(s, "big.bin"), data, 1000, 0));

    /* a fragmented message over the limit, after a complete one */
    w = tws_append_retry(s->port, "/big.bin", 2000);
    CHECK(w);
    CHECK(tws_send(w, WS_OP_TEXT, 1, "ok", 2) == 0);
    CHECK(tws_send(w, WS_OP_BINARY, 0, data, 600) == 0);
    CHECK(tws_send(w, WS_OP_CONT, 1, data + 600, 600) == 0);
    t = tws_read_type(w, WS_EV_CLOSE, &f, T_TIMEOUT);
    CHECKF(t == WS_EV_CLOSE && f.close_code == 1009, "fragmented: got type %d close %u", t,
           f.close_code);
    tws_free(w);
    tbuf want = {0};
    tbuf_add(&want, data, 1000);
    tbuf_add(&want, "ok", 2);
    int kept = t_file_wait_eq(tsrv_path(s, "big.bin"), want.p, want.len, 1000);
    tbuf_add(&want, data, 600);
    kept = kept || t_file_wait_eq(tsrv_path(s, "big.bin"), want.p, want.len, 0);
    tbuf_free(&want);
    CHECKF(kept, "the bytes accepted before the 1009 were lost");

    /* the slot is released */
    w = tws_append_retry(s->port, "/big.bin", 2000);
    CHECK(w);
    CHECK(close_session(w, 1000) == 0);
    tws_free(w);
    tsrv_stop(s);
}

/* Sessions that end every way, one after the other on one path: each time a new appender gets in
 * and the file holds every byte accepted. */
static void test_slot_released_after_every_exit(void)
{
    const char *flags[] = {"-max-message=64k", NULL};
    tsrv *s = tsrv_start(flags);
    tbuf want = {0};
    uint8_t big[70000];
    CHECK(s);
    memset(big, 'B', sizeof(big));
    for (int how = 0; how < 6; how++) {
        tws *w = tws_append_retry(s->port, "/slot.txt", 3000);
        CHECKF(w, "after exit %d the slot was not released", how - 1);
        const char *msg = t_fmt("<%d>", how);
        CHECK(tws_send_text(w, msg) == 0);
        tbuf_adds(&want, msg);
        CHECK(t_file_wait_eq(tsrv_path(s, "slot.txt"), want.p, want.len, 2000));
        switch (how) {
        case 0:
            CHECK(close_session(w, 1000) == 0);
            break;
        case 1:
            close(w->fd);
            w->fd = -1;
            break;
        case 2:
            t_close_rst(w->fd);
            w->fd = -1;
            break;
        case 3:
            CHECK(tws_send_raw(w, 0x83, 1, "x", 1) == 0); /* 1002 */
            break;
        case 4:
            CHECK(tws_send(w, WS_OP_TEXT, 1, big, sizeof(big)) == 0); /* 1009 */
            break;
        case 5: /* a half-sent frame, then gone */
            CHECK(t_send_all(w->fd, "\x81\xfe\x01", 3) == 0);
            t_close_rst(w->fd);
            w->fd = -1;
            break;
        }
        tws_free(w);
    }
    tws *w = tws_append_retry(s->port, "/slot.txt", 3000);
    CHECK(w);
    CHECK(close_session(w, 1000) == 0);
    tws_free(w);
    CHECK(t_file_wait_eq(tsrv_path(s, "slot.txt"), want.p, want.len, 0));
    tbuf_free(&want);
    tsrv_stop(s);
}

/* An appender that stays connected but sends nothing (and never answers PINGs: its kernel still
 * acknowledges them) is not cut off, however short the keepalive settings. */
static void test_idle_appender_is_kept(void)
{
    const char *flags[] = {"-ping=100ms", "-dead-peer=300ms", NULL};
    tsrv *s = tsrv_start(flags);
    CHECK(s);
    tws *w = tws_append(s->port, "/idle.txt");
    CHECK(w);
    CHECK(tws_send_text(w, "a") == 0);
    CHECK(t_file_wait_eq(tsrv_path(s, "idle.txt"), "a", 1, 2000));
    t_sleep_ms(2000); /* 20 ping intervals, 6 dead-peer periods */
    int sent = tws_send_text(w, "b") == 0, closed = sent && close_session(w, 1000) == 0;
    tws_free(w);
    CHECKF(sent && closed, "the server dropped an idle appender that was still connected");
    CHECK(t_file_wait_eq(tsrv_path(s, "idle.txt"), "ab", 2, 2000));
    tsrv_stop(s);
}

int main(void)
{
    RUN(test_creates_dirs_and_file_modes);
    RUN(test_never_truncates);
    RUN(test_second_appender_403);
    RUN(test_messages_byte_exact);
    RUN(test_ping_pong);
    RUN(test_close_echo_and_release);
    RUN(test_close_echo_means_written);
    RUN(test_tcp_eof_ends_session);
    RUN(test_protocol_errors_1002);
    RUN(test_message_limit_1009);
    RUN(test_slot_released_after_every_exit);
    RUN(test_idle_appender_is_kept);
    return test_report();
}
