/* test_follow.c -- FOLLOW of a live resource against the real server, over raw WebSocket frames:
 * the 101, existing then appended bytes exactly once, CLOSE 1000 then the TCP close when the
 * appender leaves (by CLOSE or by dropping TCP), frame rules (TEXT, unfragmented, <= 8 KiB or
 * -frame-max, never ending inside a UTF-8 character), BINARY by query and by subprotocol,
 * keepalive PINGs, and what followers may send (PING, CLOSE, data that is ignored). */
#include "../harness.h"

#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

/* Valid UTF-8 text mixing 1- to 4-byte characters. */
static void utf8_text(tbuf *b, size_t n)
{
    static const char *const pieces[] = {"a",
                                         "b",
                                         " ",
                                         "\n",
                                         "\xc3\xa9",
                                         "\xd0\xaf",
                                         "\xe2\x82\xac",
                                         "\xe4\xb8\xad",
                                         "\xf0\x9f\x98\x80",
                                         "\xf4\x8f\xbf\xbf",
                                         "\xdf\xbf",
                                         "\xef\xbf\xbd"};
    while (b->len < n) {
        const char *p = pieces[t_rand() % (sizeof(pieces) / sizeof(*pieces))];
        if (b->len + strlen(p) > n)
            p = "z";
        tbuf_adds(b, p);
    }
}

static void test_live_follow(void)
{
    tsrv *s = tsrv_start(NULL);
    tbuf want = {0};
    thttp_resp r;
    CHECK(s);

    /* end 0: the appender sends CLOSE; end 1: it drops TCP */
    for (int end = 0; end < 2; end++) {
        const char *path = end ? "/live1.txt" : "/live0.txt";
        want.len = 0;
        tws *w = tws_append(s->port, path);
        CHECK(w);
        CHECK(tws_append_msg(s, w, path + 1, &want, "hello ", 6) == 0);
        tws *f = tws_connect(s->port, path, NULL, &r);
        CHECKF(f, "follower got %d, want 101", r.status);
        CHECKF(!thttp_header(&r, "Sec-WebSocket-Protocol"), "unasked subprotocol %s",
               thttp_header(&r, "Sec-WebSocket-Protocol"));
        thttp_free(&r);
        tws_collect c = {.utf8 = 1};
        CHECKF(tws_collect_until(f, &c, 6, T_TIMEOUT) == 0, "%s", c.err);
        CHECK(tws_append_msg(s, w, path + 1, &want, "world", 5) == 0);
        CHECK(tws_append_msg(s, w, path + 1, &want, "!", 1) == 0);
        CHECKF(tws_collect_until(f, &c, 12, T_TIMEOUT) == 0, "%s", c.err);
        if (end == 0) {
            CHECK(tws_end_append(w) == 0);
        } else {
            t_close_rst(w->fd);
            w->fd = -1;
        }
        tws_free(w);
        CHECKF(tws_collect_until(f, &c, SIZE_MAX, T_TIMEOUT) == 0, "%s", c.err);
        CHECK_INT(c.close_code, 1000);
        CHECK(c.eof);
        CHECK_MEM(c.data.p, c.data.len, "hello world!", 12);
        tws_collect_free(&c);
        tws_free(f);

        /* afterwards, a follower gets the whole file as a 200 */
        f = tws_connect(s->port, path, NULL, &r);
        CHECK(!f);
        CHECK_INT(r.status, 200);
        CHECK_MEM(r.body.p, r.body.len, "hello world!", 12);
        thttp_free(&r);
    }
    tbuf_free(&want);
    tsrv_stop(s);
}

/* Several followers at once, joining at different points, all see the same stream. */
static void test_followers_join_at_different_points(void)
{
    tsrv *s = tsrv_start(NULL);
    tbuf want = {0};
    tws *f[4];
    tws_collect c[4];
    CHECK(s);
    memset(c, 0, sizeof(c));
    tws *w = tws_append(s->port, "/j.txt");
    CHECK(w);
    for (int i = 0; i < 4; i++) {
        f[i] = tws_follow(s->port, "/j.txt");
        CHECK(f[i]);
        c[i].utf8 = 1;
        CHECK(tws_append_msg(s, w, "j.txt", &want, t_fmt("[msg %d]", i), 7) == 0);
    }
    /* let every follower catch up before the end (so the last data and the CLOSE are apart) */
    for (int i = 0; i < 4; i++)
        CHECKF(tws_collect_until(f[i], &c[i], want.len, T_TIMEOUT) == 0, "%d: %s", i, c[i].err);
    CHECK(tws_end_append(w) == 0);
    tws_free(w);
    for (int i = 0; i < 4; i++) {
        CHECKF(tws_collect_until(f[i], &c[i], SIZE_MAX, T_TIMEOUT) == 0, "%d: %s", i, c[i].err);
        CHECK_INT(c[i].close_code, 1000);
        CHECK_MEM(c[i].data.p, c[i].data.len, want.p, want.len);
        tws_collect_free(&c[i]);
        tws_free(f[i]);
    }
    tbuf_free(&want);
    tsrv_stop(s);
}

/* The last bytes and the appender's CLOSE arrive together: followers still get CLOSE 1000. */
static void test_close_right_after_data(void)
{
    tsrv *s = tsrv_start(NULL);
    CHECK(s);
    for (int round = 0; round < 3; round++) {
        const char *path = t_fmt("/quick%d.txt", round);
        tws *w = tws_append(s->port, path);
        CHECK(w);
        tws *f = tws_follow(s->port, path);
        CHECK(f);
        /* data and CLOSE in one TCP segment */
        uint8_t seg[64], key[4] = {1, 2, 3, 4};
        size_t n = ws_frame_header(seg, WS_OP_TEXT, 1, 4, key);
        memcpy(seg + n, "last", 4);
        ws_mask(seg + n, 4, key, 0);
        n += 4;
        size_t h = ws_frame_header(seg + n, WS_OP_CLOSE, 1, 2, key);
        memcpy(seg + n + h, "\x03\xe8", 2);
        ws_mask(seg + n + h, 2, key, 0);
        n += h + 2;
        CHECK(t_send_all(w->fd, seg, n) == 0);
        tws_frame fr;
        CHECK_INT(tws_read_type(w, WS_EV_CLOSE, &fr, T_TIMEOUT), WS_EV_CLOSE);
        tws_free(w);
        tws_collect c = {0};
        CHECKF(tws_collect_until(f, &c, SIZE_MAX, T_TIMEOUT) == 0, "round %d: %s", round, c.err);
        CHECK_INT(c.close_code, 1000);
        CHECK_MEM(c.data.p, c.data.len, "last", 4);
        tws_collect_free(&c);
        tws_free(f);
    }
    tsrv_stop(s);
}

/* Existing bytes (more than one frame's worth) come first, in frames within the cap that never
 * split a character; then the appended ones. */
static void check_frames(const char *const *flags, size_t frame_max)
{
    tsrv *s = tsrv_start(flags);
    tbuf old = {0}, more = {0}, want = {0};
    CHECK(s);
    utf8_text(&old, 100000);
    utf8_text(&more, 50000);
    CHECK(t_file_write(tsrv_path(s, "fr.txt"), old.p, old.len) == 0);
    tbuf_add(&want, old.p, old.len);

    tws *w = tws_append(s->port, "/fr.txt");
    CHECK(w);
    tws *f = tws_follow(s->port, "/fr.txt");
    CHECK(f);
    tws_collect c = {.utf8 = 1, .frame_max = frame_max};
    CHECKF(tws_collect_until(f, &c, old.len, 10000) == 0, "%s", c.err);
    CHECK(c.frames >= old.len / frame_max);
    CHECK(tws_append_msg(s, w, "fr.txt", &want, more.p, more.len) == 0);
    CHECK(tws_append_msg(s, w, "fr.txt", &want, "\xf0\x9f\x98\x80", 4) == 0);
    CHECKF(tws_collect_until(f, &c, want.len, 10000) == 0, "%s", c.err);
    CHECK(tws_end_append(w) == 0);
    tws_free(w);
    CHECKF(tws_collect_until(f, &c, SIZE_MAX, T_TIMEOUT) == 0, "%s", c.err);
    CHECK_INT(c.close_code, 1000);
    CHECK_MEM(c.data.p, c.data.len, want.p, want.len);
    tws_collect_free(&c);
    tws_free(f);
    tbuf_free(&old);
    tbuf_free(&more);
    tbuf_free(&want);
    tsrv_stop(s);
}

static void test_frames_default_8k(void)
{
    check_frames(NULL, 8192);
}

static void test_frames_frame_max(void)
{
    const char *flags[] = {"-frame-max=100", NULL};
    check_frames(flags, 100);
}

/* Lets the server send whatever it would send now; returns 0 unless the collector saw a
 * violation. */
static int settle(tws *f, tws_collect *c, int ms)
{
    int64_t deadline = t_now_ms() + ms;
    while (t_now_ms() < deadline)
        if (tws_collect_step(f, c, (int)(deadline - t_now_ms())) < 0)
            return -1;
    return 0;
}

/* Multi-byte characters split across appender messages at every byte position (every way of
 * cutting 2-, 3- and 4-byte characters): no TEXT frame ends inside a character, and the held back
 * bytes follow once the character is complete. */
static void test_utf8_split_everywhere(void)
{
    const char *flags[] = {"-ping=0", NULL};
    tsrv *s = tsrv_start(flags);
    tbuf want = {0};
    CHECK(s);
    const char *chars[] = {"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xf4\x8f\xbf\xbf",
                           "\xed\x9f\xbf"};
    tws *w = tws_append(s->port, "/u.txt");
    CHECK(w);
    CHECK(tws_append_msg(s, w, "u.txt", &want, "<", 1) == 0);
    tws *f = tws_follow(s->port, "/u.txt");
    CHECK(f);
    tws_collect c = {.utf8 = 1};
    CHECKF(tws_collect_until(f, &c, 1, T_TIMEOUT) == 0, "%s", c.err);

    for (size_t ci = 0; ci < sizeof(chars) / sizeof(*chars); ci++) {
        size_t k = strlen(chars[ci]);
        /* cuts: a bit mask over the k-1 positions inside the character */
        for (unsigned cuts = 1; cuts < (1u << (k - 1)); cuts++) {
            size_t start = 0;
            tbuf piece = {0};
            tbuf_adds(&piece, "x");
            for (size_t pos = 1; pos <= k; pos++) {
                if (pos < k && !(cuts & (1u << (pos - 1))))
                    continue;
                tbuf_add(&piece, chars[ci] + start, pos - start);
                start = pos;
                if (pos == k)
                    tbuf_adds(&piece, "y");
                size_t complete = want.len;
                CHECK(tws_append_msg(s, w, "u.txt", &want, piece.p, piece.len) == 0);
                piece.len = 0;
                /* the follower gets everything but the unfinished character, and nothing of it */
                size_t held = pos < k ? pos : 0;
                CHECKF(tws_collect_until(f, &c, want.len - held, T_TIMEOUT) == 0,
                       "char %zu cuts %u pos %zu: %s", ci, cuts, pos, c.err);
                CHECKF(settle(f, &c, pos < k ? 30 : 0) == 0, "char %zu cuts %u pos %zu: %s", ci,
                       cuts, pos, c.err);
                CHECKF(c.bytes == want.len - held || (held == 0 && c.bytes == want.len),
                       "char %zu cuts %u pos %zu: follower has %zu of %zu bytes (%zu complete)", ci,
                       cuts, pos, c.bytes, want.len, complete);
            }
            tbuf_free(&piece);
        }
    }
    CHECKF(tws_collect_until(f, &c, want.len, T_TIMEOUT) == 0, "%s", c.err);
    CHECK(tws_end_append(w) == 0);
    tws_free(w);
    CHECKF(tws_collect_until(f, &c, SIZE_MAX, T_TIMEOUT) == 0, "%s", c.err);
    CHECK_INT(c.close_code, 1000);
    CHECK_MEM(c.data.p, c.data.len, want.p, want.len);
    tws_collect_free(&c);
    tws_free(f);
    tbuf_free(&want);
    tsrv_stop(s);
}

/* Bytes that are not UTF-8 still all arrive in TEXT frames, and a character left unfinished at the
 * end of the stream is delivered before the CLOSE. */
static void test_text_frames_carry_any_bytes(void)
{
    tsrv *s = tsrv_start(NULL);
    tbuf want = {0};
    CHECK(s);
    tws *w = tws_append(s->port, "/any.txt");
    CHECK(w);
    tws *f = tws_follow(s->port, "/any.txt");
    CHECK(f);
    tws_collect c = {0};
    CHECK(tws_append_msg(s, w, "any.txt", &want,
                         "a\xff\xfe"
                         "b\xc0\x80",
                         6) == 0);
    CHECKF(tws_collect_until(f, &c, want.len, T_TIMEOUT) == 0, "%s", c.err);
    CHECK(tws_append_msg(s, w, "any.txt", &want, "z\xe2\x82", 3) == 0); /* unfinished */
    CHECKF(tws_collect_until(f, &c, want.len - 2, T_TIMEOUT) == 0, "%s", c.err);
    CHECK(settle(f, &c, 30) == 0);
    CHECK(tws_end_append(w) == 0);
    tws_free(w);
    CHECKF(tws_collect_until(f, &c, SIZE_MAX, T_TIMEOUT) == 0, "%s", c.err);
    CHECK_INT(c.close_code, 1000);
    CHECK_MEM(c.data.p, c.data.len, want.p, want.len);
    tws_collect_free(&c);
    tws_free(f);
    tbuf_free(&want);
    tsrv_stop(s);
}

static void test_binary_frames(void)
{
    tsrv *s = tsrv_start(NULL);
    tbuf want = {0};
    uint8_t bin[20000];
    thttp_resp r;
    CHECK(s);
    t_rand_fill(bin, sizeof(bin));
    tws *w = tws_append(s->port, "/b.bin");
    CHECK(w);
    CHECK(tws_append_msg(s, w, "b.bin", &want, bin, 5000) == 0);

    tws *fq = tws_connect(s->port, "/b.bin?frames=binary", NULL, &r);
    CHECKF(fq, "?frames=binary: %d", r.status);
    thttp_free(&r);
    tws *fp = tws_connect(s->port, "/b.bin", "Sec-WebSocket-Protocol: binary\r\n", &r);
    CHECKF(fp, "subprotocol binary: %d", r.status);
    CHECK_STR(thttp_header(&r, "Sec-WebSocket-Protocol"), "binary");
    thttp_free(&r);
    tws *ft = tws_follow(s->port, "/b.bin");
    CHECK(ft);

    CHECK(tws_append_msg(s, w, "b.bin", &want, bin + 5000, sizeof(bin) - 5000) == 0);
    tws_collect cq = {.opcode = WS_OP_BINARY}, cp = {.opcode = WS_OP_BINARY},
                ct = {.opcode = WS_OP_TEXT};
    CHECKF(tws_collect_until(fq, &cq, want.len, T_TIMEOUT) == 0, "query: %s", cq.err);
    CHECKF(tws_collect_until(fp, &cp, want.len, T_TIMEOUT) == 0, "protocol: %s", cp.err);
    /* random bytes may end like an unfinished character: TEXT may hold back up to 3 bytes */
    CHECKF(tws_collect_until(ft, &ct, want.len - 3, T_TIMEOUT) == 0, "text: %s", ct.err);
    CHECK(tws_end_append(w) == 0);
    tws_free(w);
    tws *fs[3] = {fq, fp, ft};
    tws_collect *cs[3] = {&cq, &cp, &ct};
    for (int i = 0; i < 3; i++) {
        CHECKF(tws_collect_until(fs[i], cs[i], SIZE_MAX, T_TIMEOUT) == 0, "%d: %s", i, cs[i]->err);
        CHECK_INT(cs[i]->close_code, 1000);
        CHECK_MEM(cs[i]->data.p, cs[i]->data.len, want.p, want.len);
        tws_collect_free(cs[i]);
        tws_free(fs[i]);
    }
    tbuf_free(&want);
    tsrv_stop(s);
}

static void test_keepalive_pings(void)
{
    const char *flags[] = {"-ping=200ms", NULL};
    tsrv *s = tsrv_start(flags);
    tbuf want = {0};
    CHECK(s);
    tws *w = tws_append(s->port, "/idle.txt");
    CHECK(w);
    CHECK(tws_append_msg(s, w, "idle.txt", &want, "x", 1) == 0);
    tws *f = tws_follow(s->port, "/idle.txt");
    CHECK(f);
    tws_collect c = {.answer_pings = 1};
    int64_t deadline = t_now_ms() + 5000;
    while (c.pings < 3 && t_now_ms() < deadline)
        CHECKF(tws_collect_step(f, &c, 100) >= 0, "%s", c.err);
    CHECKF(c.pings >= 3, "%zu PINGs in 5 s with -ping=200ms", c.pings);
    CHECK_INT(c.bytes, 1);
    /* the stream still works afterwards */
    CHECK(tws_append_msg(s, w, "idle.txt", &want, "y", 1) == 0);
    CHECKF(tws_collect_until(f, &c, 2, T_TIMEOUT) == 0, "%s", c.err);
    CHECK(tws_end_append(w) == 0);
    tws_free(w);
    CHECKF(tws_collect_until(f, &c, SIZE_MAX, T_TIMEOUT) == 0, "%s", c.err);
    CHECK_MEM(c.data.p, c.data.len, "xy", 2);
    tws_collect_free(&c);
    tws_free(f);
    tbuf_free(&want);
    tsrv_stop(s);
}

static void test_no_pings_when_disabled(void)
{
    const char *flags[] = {"-ping=0", NULL};
    tsrv *s = tsrv_start(flags);
    CHECK(s);
    tws *w = tws_append(s->port, "/quiet.txt");
    CHECK(w);
    tws *f = tws_follow(s->port, "/quiet.txt");
    CHECK(f);
    tws_collect c = {0};
    CHECK(settle(f, &c, 800) == 0);
    CHECKF(c.pings == 0, "%zu PINGs with -ping=0", c.pings);
    tws_free(w);
    CHECKF(tws_collect_until(f, &c, SIZE_MAX, T_TIMEOUT) == 0, "%s", c.err);
    tws_collect_free(&c);
    tws_free(f);
    tsrv_stop(s);
}

static void test_what_followers_send(void)
{
    tsrv *s = tsrv_start(NULL);
    tbuf want = {0};
    tws_frame fr;
    CHECK(s);
    tws *w = tws_append(s->port, "/fs.txt");
    CHECK(w);
    CHECK(tws_append_msg(s, w, "fs.txt", &want, "one;", 4) == 0);
    tws *f = tws_follow(s->port, "/fs.txt");
    CHECK(f);
    tws *other = tws_follow(s->port, "/fs.txt");
    CHECK(other);
    tws_collect c = {0}, co = {0};
    CHECKF(tws_collect_until(f, &c, 4, T_TIMEOUT) == 0, "%s", c.err);

    /* PING -> PONG with the payload */
    CHECK(tws_send(f, WS_OP_PING, 1, "are you there", 13) == 0);
    CHECK_INT(tws_read_type(f, WS_EV_PONG, &fr, T_TIMEOUT), WS_EV_PONG);
    CHECK_MEM(fr.data, fr.len, "are you there", 13);
    /* data frames are read and dropped: nothing reaches the file or anyone */
    CHECK(tws_send(f, WS_OP_TEXT, 1, "junk", 4) == 0);
    CHECK(tws_send(f, WS_OP_BINARY, 1, "\x01\x02", 2) == 0);
    CHECK(tws_send(f, WS_OP_TEXT, 0, "frag", 4) == 0);
    CHECK(tws_send(f, WS_OP_CONT, 1, "ment", 4) == 0);
    CHECK(tws_send(f, WS_OP_PONG, 1, "p", 1) == 0);
    CHECK(tws_send(f, WS_OP_PING, 1, "", 0) == 0);
    CHECK_INT(tws_read_type(f, WS_EV_PONG, &fr, T_TIMEOUT), WS_EV_PONG);
    CHECK(tws_append_msg(s, w, "fs.txt", &want, "two;", 4) == 0);
    CHECKF(tws_collect_until(f, &c, 8, T_TIMEOUT) == 0, "%s", c.err);
    CHECK_MEM(c.data.p, c.data.len, "one;two;", 8);

    /* CLOSE -> CLOSE, then the server closes the connection */
    CHECK(tws_send_close(f, 1000) == 0);
    CHECK_INT(tws_read_type(f, WS_EV_CLOSE, &fr, T_TIMEOUT), WS_EV_CLOSE);
    CHECK_INT(fr.close_code, 1000);
    CHECK(t_wait_eof(f->fd, T_TIMEOUT));
    tws_free(f);

    /* the appender and the other follower carry on */
    CHECK(tws_append_msg(s, w, "fs.txt", &want, "three;", 6) == 0);
    CHECKF(tws_collect_until(other, &co, want.len, T_TIMEOUT) == 0, "%s", co.err);
    CHECK(tws_end_append(w) == 0);
    tws_free(w);
    CHECKF(tws_collect_until(other, &co, SIZE_MAX, T_TIMEOUT) == 0, "%s", co.err);
    CHECK_MEM(co.data.p, co.data.len, want.p, want.len);
    CHECK(t_file_wait_eq(tsrv_path(s, "fs.txt"), "one;two;three;", 14, 0));
    tws_collect_free(&c);
    tws_collect_free(&co);
    tws_free(other);
    tbuf_free(&want);
    tsrv_stop(s);
}

/* A plain GET while an appender is active: 200 with the bytes so far. */
static void test_plain_get_snapshot(void)
{
    tsrv *s = tsrv_start(NULL);
    tbuf want = {0};
    thttp_resp r;
    CHECK(s);
    tws *w = tws_append(s->port, "/snap.txt");
    CHECK(w);
    CHECK(thttp_get(s->port, "/snap.txt", NULL, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK_INT(r.body.len, 0);
    thttp_free(&r);
    for (int i = 0; i < 3; i++) {
        CHECK(tws_append_msg(s, w, "snap.txt", &want, t_fmt("part%d\n", i), 6) == 0);
        CHECK(thttp_get(s->port, "/snap.txt", NULL, &r) == 0);
        CHECK_INT(r.status, 200);
        CHECK_STR(thttp_header(&r, "Content-Length"), t_fmt("%zu", want.len));
        CHECK_MEM(r.body.p, r.body.len, want.p, want.len);
        thttp_free(&r);
    }
    CHECK(thttp_req(s->port, "HEAD", "/snap.txt", NULL, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK_INT(r.body.len, 0);
    thttp_free(&r);
    CHECK(tws_end_append(w) == 0);
    tws_free(w);
    tbuf_free(&want);
    tsrv_stop(s);
}

/* A WebSocket follow pipelined behind a plain GET (the upgrade is parsed from input held while the
 * first response was written): the follower still reads, so it gets the bytes, its PING is
 * answered, and its half-close ends the connection. */
static void test_upgrade_after_pipelined_get(void)
{
    tsrv *s = tsrv_start(NULL);
    tbuf want = {0};
    thttp_resp r;
    CHECK(s);
    tws *w = tws_append(s->port, "/pipe.txt");
    CHECK(w);
    CHECK(tws_append_msg(s, w, "pipe.txt", &want, "before\n", 7) == 0);
    int fd = t_connect(s->port);
    CHECK(fd >= 0);
    CHECK(t_send_str(fd, "GET /pipe.txt HTTP/1.1\r\nHost: x\r\n\r\n"
                         "GET /pipe.txt?frames=binary HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                         "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                         "Sec-WebSocket-Version: 13\r\n\r\n") == 0);
    CHECK(thttp_read(fd, &r, 0, T_TIMEOUT) == 0);
    CHECK_INT(r.status, 200);
    CHECK_MEM(r.body.p, r.body.len, "before\n", 7);
    thttp_free(&r);
    CHECK(thttp_read(fd, &r, 0, T_TIMEOUT) == 0);
    CHECK_INT(r.status, 101);
    /* a PING (zero mask) gets its PONG after the follower's first frame */
    static const uint8_t ping[] = {0x89, 0x84, 0, 0, 0, 0, 'p', 'i', 'n', 'g'};
    CHECK(send(fd, ping, sizeof(ping), MSG_NOSIGNAL) == (ssize_t)sizeof(ping));
    static const uint8_t pong[] = {0x8a, 0x04, 'p', 'i', 'n', 'g'};
    static const uint8_t data[] = {0x82, 0x07, 'b', 'e', 'f', 'o', 'r', 'e', '\n'};
    tbuf got = {0};
    tbuf_add(&got, r.body.p, r.body.len);
    thttp_free(&r);
    int64_t deadline = t_now_ms() + T_TIMEOUT;
    while (!memmem(got.p, got.len, pong, sizeof(pong)) && t_now_ms() < deadline) {
        char buf[4096];
        ssize_t n = t_recv(fd, buf, sizeof(buf), 200);
        if (n > 0)
            tbuf_add(&got, buf, (size_t)n);
        else if (n == 0 || n == -1)
            break;
    }
    CHECKF(got.len >= sizeof(data) && memcmp(got.p, data, sizeof(data)) == 0,
           "the follower did not get the bytes first (%zu bytes)", got.len);
    CHECKF(memmem(got.p, got.len, pong, sizeof(pong)), "no PONG (%zu bytes read)", got.len);
    tbuf_free(&got);
    shutdown(fd, SHUT_WR);
    CHECKF(t_wait_eof(fd, T_TIMEOUT), "the server did not end the follower after its half-close");
    close(fd);
    CHECK(tws_end_append(w) == 0);
    tws_free(w);
    tbuf_free(&want);
    tsrv_stop(s);
}

/* A follower that never answers the server's CLOSE (as the seed's client) still gets the TCP
 * connection closed, within a bounded time. */
static void test_close_without_reply(void)
{
    tsrv *s = tsrv_start(NULL);
    tbuf want = {0};
    CHECK(s);
    tws *w = tws_append(s->port, "/nr.txt");
    CHECK(w);
    CHECK(tws_append_msg(s, w, "nr.txt", &want, "bye", 3) == 0);
    tws *f = tws_follow(s->port, "/nr.txt");
    CHECK(f);
    tws_collect c = {.no_close_reply = 1};
    CHECKF(tws_collect_until(f, &c, 3, T_TIMEOUT) == 0, "%s", c.err);
    CHECK(tws_end_append(w) == 0);
    tws_free(w);
    CHECKF(tws_collect_until(f, &c, SIZE_MAX, 10000) == 0, "%s", c.err);
    CHECK_INT(c.close_code, 1000);
    tws_collect_free(&c);
    tws_free(f);
    tbuf_free(&want);
    tsrv_stop(s);
}

int main(void)
{
    RUN(test_live_follow);
    RUN(test_followers_join_at_different_points);
    RUN(test_close_right_after_data);
    RUN(test_frames_default_8k);
    RUN(test_frames_frame_max);
    RUN(test_utf8_split_everywhere);
    RUN(test_text_frames_carry_any_bytes);
    RUN(test_binary_frames);
    RUN(test_keepalive_pings);
    RUN(test_no_pings_when_disabled);
    RUN(test_what_followers_send);
    RUN(test_plain_get_snapshot);
    RUN(test_upgrade_after_pipelined_get);
    RUN(test_close_without_reply);
    return test_report();
}
