/* test_resume.c -- the client library's follow options against the real server and a scripted one:
 * where a follow starts (hfs_client_options.from / from_n: START, OFFSET, END, NOW, LINES) and what
 * hfs_reader_offset says along the way; .wait for a resource not written yet (WebSocket and PUT
 * appenders); .resume after the server is SIGKILLed mid-stream and restarted on the same port
 * (finished, live again, and down for a while), with no byte duplicated or missing (compared with
 * the file); no resume with resume=0 or past the budget; a server shutdown (CLOSE 1001) ends a
 * follow with that error, and is resumed like a dropped connection; and, against a scripted server,
 * the exact resume request (?offset=N), no resume without X-Follow-Offset, and a wrong offset
 * refused. */
#include "../harness.h"
#include "httpfstream.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define ALL SIZE_MAX

/* Reads r until it has delivered want bytes in all (ALL: to its end) into out. Returns the last
 * hfs_reader_read result: 0 at the end, > 0 when want was reached, < 0 on error. */
static ssize_t read_into(hfs_reader *r, tbuf *out, size_t want)
{
    uint8_t buf[16384];
    for (;;) {
        size_t room = sizeof(buf);
        if (want != ALL && want - out->len < room)
            room = want - out->len;
        if (want != ALL && room == 0)
            return 1;
        ssize_t n = hfs_reader_read(r, buf, room);
        if (n <= 0)
            return n;
        tbuf_add(out, buf, (size_t)n);
    }
}

/* Sends one message and waits until the file holds want + it. */
static int ws_add(tsrv *s, tws *w, const char *file, tbuf *want, const void *p, size_t n)
{
    if (tws_send(w, WS_OP_BINARY, 1, p, n) < 0)
        return -1;
    tbuf_add(want, p, n);
    return t_file_wait_eq(tsrv_path(s, file), want->p, want->len, 10000) ? 0 : -1;
}

static int ws_end(tws *w)
{
    tws_frame f;
    if (tws_send_close(w, 1000) < 0)
        return -1;
    return tws_read_type(w, WS_EV_CLOSE, &f, T_TIMEOUT) == WS_EV_CLOSE ? 0 : -1;
}

/* Text lines with a counter: any duplicated or missing piece shows. */
static void lines_text(tbuf *b, size_t n, unsigned tag)
{
    unsigned i = 0;
    while (b->len < n)
        tbuf_adds(b, t_fmt("%u:%08u the quick brown fox \xe2\x82\xac jumps\n", tag, i++));
}

/* Appends text of about n bytes to the live resource in messages of up to 32 KiB; waits until the
 * file holds it (megabytes: up to a minute, for sanitizer builds on a busy machine). */
static int ws_add_lines(tsrv *s, tws *w, const char *file, tbuf *want, size_t n, unsigned tag)
{
    tbuf t = {0};
    lines_text(&t, n, tag);
    for (size_t at = 0; at < t.len; at += 32768) {
        size_t k = t.len - at < 32768 ? t.len - at : 32768;
        if (tws_send(w, WS_OP_BINARY, 1, t.p + at, k) < 0) {
            tbuf_free(&t);
            return -1;
        }
    }
    tbuf_add(want, t.p, t.len);
    tbuf_free(&t);
    return t_file_wait_eq(tsrv_path(s, file), want->p, want->len, 60000) ? 0 : -1;
}

/* Waits until the server's log mentions needle (it logs a request once answered). */
static int log_wait(tsrv *s, const char *needle, int timeout_ms)
{
    char n[256];
    snprintf(n, sizeof(n), "%s", needle);
    for (int64_t end = t_now_ms() + timeout_ms; t_now_ms() < end; t_sleep_ms(10))
        if (tsrv_log_has(s, n))
            return 1;
    return tsrv_log_has(s, n);
}

/* Where two buffers first differ. */
static size_t first_diff(const tbuf *a, const tbuf *b)
{
    size_t k = 0;
    while (k < a->len && k < b->len && a->p[k] == b->p[k])
        k++;
    return k;
}

static void opts_init(hfs_client_options *o, int from, uint64_t n)
{
    hfs_client_options_init(o);
    o->from = from;
    o->from_n = n;
}

/* ---- where a follow starts
 * -----------------------------------------------------------------------
 */

static void test_from_options(void)
{
    tsrv *s = tsrv_start(NULL);
    const char text[] = "a\nbb\nccc\ndddd\n";
    const size_t len = sizeof(text) - 1;
    tbuf got = {0};
    hfs_error e;
    CHECK(s);
    char url[128];
    snprintf(url, sizeof(url), "%s", tsrv_url(s, "/f.txt"));
    CHECK(t_file_write(tsrv_path(s, "f.txt"), text, len) == 0);

    static const struct {
        int from;
        uint64_t n;
        size_t at;
    } cases[] = {{HFS_FROM_START, 0, 0},    {HFS_FROM_OFFSET, 0, 0}, {HFS_FROM_OFFSET, 5, 5},
                 {HFS_FROM_OFFSET, 14, 14}, {HFS_FROM_END, 5, 9},    {HFS_FROM_END, 99, 0},
                 {HFS_FROM_END, 0, 14},     {HFS_FROM_NOW, 0, 14},   {HFS_FROM_LINES, 1, 9},
                 {HFS_FROM_LINES, 2, 5},    {HFS_FROM_LINES, 0, 14}, {HFS_FROM_LINES, 40, 0}};
    /* live = 0: a finished resource (the 200 path); 1: a live one (WebSocket), which then grows */
    for (int live = 0; live < 2; live++) {
        for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
            for (int binary = 0; binary < 2; binary++) {
                hfs_client_options o;
                hfs_reader *r = NULL;
                tws *w = NULL;
                tbuf want = {0};
                char name[32], path[40], curl[160];
                snprintf(name, sizeof(name), "f%d-%zu-%d.txt", live, i, binary);
                snprintf(path, sizeof(path), "/%s", name);
                snprintf(curl, sizeof(curl), "%s", tsrv_url(s, path));
                CHECK(t_file_write(tsrv_path(s, name), text, len) == 0);
                tbuf_add(&want, text, len);
                if (live) {
                    w = tws_append(s->port, path);
                    CHECK(w);
                }
                opts_init(&o, cases[i].from, cases[i].n);
                o.binary = binary;
                CHECKF(hfs_follow(curl, &o, &r, &e) == HFS_OK, "case %zu live %d: %s", i, live,
                       e.message);
                CHECKF(hfs_reader_offset(r) == cases[i].at,
                       "case %zu live %d: offset %llu, want %zu", i, live,
                       (unsigned long long)hfs_reader_offset(r), cases[i].at);
                got.len = 0;
                if (live) {
                    CHECK(read_into(r, &got, len - cases[i].at) > 0);
                    CHECK_INT(hfs_reader_offset(r), len);
                    CHECK(ws_add(s, w, name, &want, "eeeee\n", 6) == 0);
                    CHECK(ws_end(w) == 0);
                    tws_free(w);
                }
                CHECKF(read_into(r, &got, ALL) == 0, "case %zu live %d: %s", i, live,
                       hfs_reader_error(r)->message);
                CHECKF(got.len == want.len - cases[i].at &&
                           !memcmp(got.p, want.p + cases[i].at, got.len),
                       "case %zu live %d binary %d: got [%.*s]", i, live, binary, (int)got.len,
                       (const char *)got.p);
                CHECK_INT(hfs_reader_offset(r), want.len);
                CHECK_INT(hfs_reader_bytes(r), want.len - cases[i].at);
                hfs_reader_close(r);
                tbuf_free(&want);
            }
        }
    }

    /* past the end: the server's 416 */
    hfs_client_options o;
    hfs_reader *r = NULL;
    opts_init(&o, HFS_FROM_OFFSET, len + 1);
    CHECK_INT(hfs_follow(url, &o, &r, &e), HFS_ERR_HTTP);
    CHECK_INT(e.http_status, 416);
    CHECK(!r);
    tbuf_free(&got);
    tsrv_stop(s);
}

/* ---- waiting
 * -------------------------------------------------------------------------------------
 */

static void test_wait(void)
{
    tsrv *s = tsrv_start(NULL);
    hfs_client_options o;
    hfs_reader *r = NULL, *r2 = NULL;
    hfs_error e;
    tbuf got = {0}, got2 = {0}, want = {0};
    thttp_resp resp;
    CHECK(s);
    char url[128], url2[128];
    snprintf(url, sizeof(url), "%s", tsrv_url(s, "/w/ws.log"));
    snprintf(url2, sizeof(url2), "%s", tsrv_url(s, "/w/put.log"));

    hfs_client_options_init(&o);
    CHECK_INT(hfs_follow(url, &o, &r, &e), HFS_ERR_NOT_FOUND);
    o.wait = 1;
    int64_t t0 = t_now_ms();
    CHECKF(hfs_follow(url, &o, &r, &e) == HFS_OK, "%s", e.message);
    CHECKF(t_now_ms() - t0 < 3000, "hfs_follow with wait took %lld ms (it should return at once)",
           (long long)(t_now_ms() - t0));
    CHECK_INT(hfs_reader_offset(r), 0);
    o.binary = 1;
    o.from = HFS_FROM_LINES; /* a start means nothing before the first byte */
    o.from_n = 3;
    CHECKF(hfs_follow(url2, &o, &r2, &e) == HFS_OK, "%s", e.message);

    /* a WebSocket appender creates the first resource */
    tws *w = tws_append(s->port, "/w/ws.log");
    CHECK(w);
    CHECK(ws_add(s, w, "w/ws.log", &want, "first\n", 6) == 0);
    CHECK(read_into(r, &got, 6) > 0);
    CHECK_MEM(got.p, got.len, "first\n", 6);
    CHECK(ws_add(s, w, "w/ws.log", &want, "second\n", 7) == 0);
    CHECK(ws_end(w) == 0);
    tws_free(w);
    CHECKF(read_into(r, &got, ALL) == 0, "%s", hfs_reader_error(r)->message);
    CHECK_MEM(got.p, got.len, want.p, want.len);
    CHECK_INT(hfs_reader_offset(r), want.len);
    hfs_reader_close(r);

    /* a PUT creates the second one */
    int fd = t_connect(s->port);
    CHECK(fd >= 0);
    CHECK(t_send_str(fd, "PUT /w/put.log HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                         "4\r\none\n\r\n") == 0);
    CHECK(read_into(r2, &got2, 4) > 0);
    CHECK_MEM(got2.p, got2.len, "one\n", 4);
    CHECK(t_send_str(fd, "4\r\ntwo\n\r\n0\r\n\r\n") == 0);
    CHECK(thttp_read(fd, &resp, 0, T_TIMEOUT) == 0);
    CHECK_INT(resp.status, 201);
    thttp_free(&resp);
    close(fd);
    CHECKF(read_into(r2, &got2, ALL) == 0, "%s", hfs_reader_error(r2)->message);
    CHECK_MEM(got2.p, got2.len, "one\ntwo\n", 8);
    CHECK_INT(hfs_reader_offset(r2), 8);
    hfs_reader_close(r2);

    /* wait on a resource that exists: an ordinary follow */
    o.from = HFS_FROM_START;
    CHECK(hfs_follow(url2, &o, &r2, &e) == HFS_OK);
    got2.len = 0;
    CHECK(read_into(r2, &got2, ALL) == 0);
    CHECK_MEM(got2.p, got2.len, "one\ntwo\n", 8);
    hfs_reader_close(r2);
    tbuf_free(&got);
    tbuf_free(&got2);
    tbuf_free(&want);
    tsrv_stop(s);
}

/* ---- resuming after the server died ------------------------------------------------------------
 */

/* The server is killed while a reader is in the middle of a large live stream, and restarted at
 * once. mode 0: nobody appends after the restart, the reader resumes into the finished resource;
 * mode 1: an appender comes back (and appends) before the reader notices, so the reader resumes
 * into a live stream again and gets the rest, the new bytes, and the end. */
static void resume_after_kill(int mode, int binary)
{
    tsrv *s = tsrv_start(NULL);
    tbuf want = {0}, got = {0};
    hfs_client_options o;
    hfs_reader *r = NULL;
    hfs_error e;
    CHECK(s);
    char url[128];
    snprintf(url, sizeof(url), "%s", tsrv_url(s, "/r.log"));
    tws *w = tws_append(s->port, "/r.log");
    CHECK(w);
    CHECK(ws_add_lines(s, w, "r.log", &want, 8 << 20, 1) == 0);

    hfs_client_options_init(&o);
    o.resume = 8;
    o.binary = binary;
    CHECKF(hfs_follow(url, &o, &r, &e) == HFS_OK, "%s", e.message);
    CHECK_INT(hfs_reader_offset(r), 0);
    CHECK(read_into(r, &got, 100000) > 0);
    CHECK_INT(hfs_reader_offset(r), 100000);

    tsrv_kill9(s);
    tws_free(w); /* its connection died with the server */
    CHECK(tsrv_restart(s) == 0);
    if (mode == 1) {
        w = tws_append(s->port, "/r.log");
        CHECK(w);
        CHECK(ws_add_lines(s, w, "r.log", &want, 200000, 2) == 0);
    }
    /* the reader drains what it had, meets the dead connection, and resumes from the next byte */
    CHECK(read_into(r, &got, want.len) > 0);
    CHECKF(got.len == want.len && !memcmp(got.p, want.p, want.len),
           "mode %d: %zu bytes, want %zu (first difference at %zu)", mode, got.len, want.len,
           first_diff(&got, &want));
    CHECK_INT(hfs_reader_offset(r), want.len);
    if (mode == 1) {
        /* live again: more arrives, then the end */
        CHECK(ws_add(s, w, "r.log", &want, "after resume\n", 13) == 0);
        CHECK(ws_end(w) == 0);
        tws_free(w);
    }
    CHECKF(read_into(r, &got, ALL) == 0, "mode %d: %s", mode, hfs_reader_error(r)->message);
    CHECK_MEM(got.p, got.len, want.p, want.len);
    tbuf file = {0};
    CHECK(t_file_read(tsrv_path(s, "r.log"), &file) == 0);
    CHECK_MEM(got.p, got.len, file.p, file.len);
    CHECK_INT(hfs_reader_offset(r), file.len);
    CHECK_INT(hfs_reader_bytes(r), file.len);
    CHECK_INT(hfs_reader_error(r)->code, HFS_OK);
    /* it came back with the offset of the next byte (the restarted server logged the request) */
    CHECK(log_wait(s, binary ? "/r.log?frames=binary&offset=" : "/r.log?offset=", 5000));
    hfs_reader_close(r);
    tbuf_free(&file);
    tbuf_free(&want);
    tbuf_free(&got);
    tsrv_stop(s);
}

static void test_resume_into_finished_resource(void)
{
    resume_after_kill(0, 0);
}

static void test_resume_into_live_resource(void)
{
    resume_after_kill(1, 1);
}

/* A reader in another thread, blocked waiting for bytes when the server is killed; the server
 * stays down long enough for several reconnects to fail, then comes back. */
typedef struct reader_job {
    hfs_reader *r;
    tbuf got;
    atomic_size_t have;
    ssize_t last;
} reader_job;

static void *reader_main(void *arg)
{
    reader_job *j = arg;
    uint8_t buf[8192];
    for (;;) {
        ssize_t n = hfs_reader_read(j->r, buf, sizeof(buf));
        j->last = n;
        if (n <= 0)
            break;
        tbuf_add(&j->got, buf, (size_t)n);
        atomic_store(&j->have, j->got.len);
    }
    return NULL;
}

static void test_resume_while_server_down(void)
{
    tsrv *s = tsrv_start(NULL);
    tbuf want = {0};
    hfs_client_options o;
    hfs_error e;
    reader_job j;
    pthread_t th;
    CHECK(s);
    memset(&j, 0, sizeof(j));
    char url[128];
    snprintf(url, sizeof(url), "%s", tsrv_url(s, "/d.log"));
    tws *w = tws_append(s->port, "/d.log");
    CHECK(w);
    CHECK(ws_add_lines(s, w, "d.log", &want, 50000, 3) == 0);
    hfs_client_options_init(&o);
    o.resume = 10;
    CHECKF(hfs_follow(url, &o, &j.r, &e) == HFS_OK, "%s", e.message);
    CHECK(pthread_create(&th, NULL, reader_main, &j) == 0);
    int64_t deadline = t_now_ms() + 10000;
    while (atomic_load(&j.have) < want.len && t_now_ms() < deadline)
        t_sleep_ms(5);
    size_t have = atomic_load(&j.have);
    if (have < want.len) {
        tsrv_kill9(s); /* unblocks the reader for good (its retries fail) */
        pthread_join(th, NULL);
        CHECKF(0, "reader had %zu of %zu bytes after 10 s", have, want.len);
    }
    tsrv_kill9(s);
    tws_free(w);
    t_sleep_ms(700); /* the reader's first reconnects (after 100, 200, 400 ms) find nobody */
    CHECK(tsrv_restart(s) == 0);
    pthread_join(th, NULL);
    CHECKF(j.last == 0, "the reader ended with %zd: %s", j.last, hfs_reader_error(j.r)->message);
    CHECK_MEM(j.got.p, j.got.len, want.p, want.len);
    CHECK_INT(hfs_reader_offset(j.r), want.len);
    CHECKF(log_wait(s, t_fmt("/d.log?offset=%zu\"", want.len), 5000), "no resume request logged");
    hfs_reader_close(j.r);
    tbuf_free(&j.got);
    tbuf_free(&want);
    tsrv_stop(s);
}

/* A follow that waits for a resource not written yet, with resume: the connection drops while it
 * waits (the server restarts); it must go on waiting, then stream the resource once it appears. */
typedef struct late_appender {
    int port;
    int delay_ms;
    int ok;
} late_appender;

static void *late_appender_main(void *arg)
{
    late_appender *la = arg;
    t_sleep_ms(la->delay_ms);
    tws *w = tws_append(la->port, "/later.log");
    tws_frame f;
    la->ok = w && tws_send_text(w, "late\n") == 0 && tws_send_close(w, 1000) == 0 &&
             tws_read_type(w, WS_EV_CLOSE, &f, T_TIMEOUT) == WS_EV_CLOSE;
    tws_free(w);
    return NULL;
}

static void test_resume_while_waiting(void)
{
    tsrv *s = tsrv_start(NULL);
    hfs_client_options o;
    hfs_reader *r = NULL;
    hfs_error e;
    tbuf got = {0};
    pthread_t th;
    CHECK(s);
    char url[128];
    snprintf(url, sizeof(url), "%s", tsrv_url(s, "/later.log"));
    hfs_client_options_init(&o);
    o.wait = 1;
    o.resume = 5;
    CHECKF(hfs_follow(url, &o, &r, &e) == HFS_OK, "%s", e.message);
    tsrv_kill9(s);
    CHECK(tsrv_restart(s) == 0);
    /* the reader's reconnects come at about 100 and 300 ms; the resource appears after 1 s */
    late_appender la = {.port = s->port, .delay_ms = 1000};
    CHECK(pthread_create(&th, NULL, late_appender_main, &la) == 0);
    ssize_t rc = read_into(r, &got, ALL);
    pthread_join(th, NULL);
    char why[sizeof(e.message)];
    snprintf(why, sizeof(why), "%s", hfs_reader_error(r)->message);
    hfs_reader_close(r);
    int same = rc == 0 && got.len == 5 && !memcmp(got.p, "late\n", 5);
    size_t n = got.len;
    tbuf_free(&got);
    CHECK(la.ok);
    CHECKF(same,
           "a waiting follow that resumed: %zd, %zu bytes (%s) -- it should wait again (?wait) "
           "instead of asking for a resource that does not exist yet",
           rc, n, why);
    tsrv_stop(s);
}

/* resume = 0: a dropped connection is an error, even once the server is back. */
static void test_no_resume_when_disabled(void)
{
    tsrv *s = tsrv_start(NULL);
    tbuf want = {0}, got = {0};
    hfs_client_options o;
    hfs_reader *r = NULL;
    hfs_error e;
    CHECK(s);
    char url[128];
    snprintf(url, sizeof(url), "%s", tsrv_url(s, "/n.log"));
    tws *w = tws_append(s->port, "/n.log");
    CHECK(w);
    CHECK(ws_add_lines(s, w, "n.log", &want, 3 << 20, 4) == 0);
    hfs_client_options_init(&o);
    CHECKF(hfs_follow(url, &o, &r, &e) == HFS_OK, "%s", e.message);
    CHECK(read_into(r, &got, 1000) > 0);
    tsrv_kill9(s);
    tws_free(w);
    CHECK(tsrv_restart(s) == 0);
    ssize_t rc = read_into(r, &got, ALL);
    CHECKF(rc == HFS_ERR_NETWORK, "read after the server died: %zd (%s)", rc,
           hfs_reader_error(r)->message);
    CHECK_INT(hfs_reader_error(r)->code, HFS_ERR_NETWORK);
    CHECK(got.len <= want.len);
    CHECK_MEM(got.p, got.len, want.p, got.len); /* what came is right (maybe not all) */
    CHECK_INT(hfs_reader_offset(r), got.len);
    uint8_t b[16];
    CHECK_INT(hfs_reader_read(r, b, sizeof(b)), HFS_ERR_NETWORK); /* and stays so */
    hfs_reader_close(r);
    tbuf_free(&want);
    tbuf_free(&got);
    tsrv_stop(s);
}

/* The budget: a server that never comes back ends the follow with the network error. */
static void test_resume_gives_up(void)
{
    tsrv *s = tsrv_start(NULL);
    tbuf want = {0}, got = {0};
    hfs_client_options o;
    hfs_reader *r = NULL;
    hfs_error e;
    CHECK(s);
    char url[128];
    snprintf(url, sizeof(url), "%s", tsrv_url(s, "/g.log"));
    tws *w = tws_append(s->port, "/g.log");
    CHECK(w);
    CHECK(ws_add_lines(s, w, "g.log", &want, 1000, 5) == 0);
    hfs_client_options_init(&o);
    o.resume = 3;
    CHECK(hfs_follow(url, &o, &r, &e) == HFS_OK);
    CHECK(read_into(r, &got, want.len) > 0);
    tsrv_kill9(s);
    tws_free(w);
    int64_t t0 = t_now_ms();
    ssize_t rc = read_into(r, &got, ALL);
    CHECKF(rc == HFS_ERR_NETWORK, "%zd (%s)", rc, hfs_reader_error(r)->message);
    CHECKF(t_now_ms() - t0 < 20000, "gave up after %lld ms", (long long)(t_now_ms() - t0));
    CHECK_MEM(got.p, got.len, want.p, want.len);
    hfs_reader_close(r);
    CHECK(tsrv_restart(s) == 0);
    tbuf_free(&want);
    tbuf_free(&got);
    tsrv_stop(s);
}

/* SIGTERM while two readers follow a live resource: both get every byte in the file, then CLOSE
 * 1001. Without resume that is the end: HFS_ERR_CLOSED with close code 1001, not the clean end the
 * appender leaving gives. With resume it is like a dropped connection: the reader (blocked in a
 * read) reconnects once the server is back on the same port and goes on from the next byte (the
 * file grew on disk meanwhile), to the end. */
static void test_resume_after_shutdown(void)
{
    tsrv *s = tsrv_start(NULL);
    tbuf want = {0}, got = {0};
    hfs_client_options o;
    hfs_reader *r0 = NULL;
    hfs_error e;
    reader_job j;
    pthread_t th;
    tws_frame f;
    CHECK(s);
    memset(&j, 0, sizeof(j));
    char url[128];
    snprintf(url, sizeof(url), "%s", tsrv_url(s, "/t.log"));
    tws *w = tws_append(s->port, "/t.log");
    CHECK(w);
    CHECK(ws_add_lines(s, w, "t.log", &want, 200000, 6) == 0);
    hfs_client_options_init(&o);
    CHECKF(hfs_follow(url, &o, &r0, &e) == HFS_OK, "%s", e.message);
    o.resume = 10;
    CHECKF(hfs_follow(url, &o, &j.r, &e) == HFS_OK, "%s", e.message);
    CHECK(read_into(r0, &got, 1000) > 0); /* following */
    CHECK(pthread_create(&th, NULL, reader_main, &j) == 0);

    tsrv_term(s);
    ssize_t rc = read_into(r0, &got, ALL);
    CHECKF(rc == HFS_ERR_CLOSED, "the reader without resume ended with %zd: %s", rc,
           hfs_reader_error(r0)->message);
    CHECK_INT(hfs_reader_error(r0)->close_code, 1001);
    CHECK_MEM(got.p, got.len, want.p, want.len);
    hfs_reader_close(r0);
    CHECK_INT(tws_read_type(w, WS_EV_CLOSE, &f, T_TIMEOUT), WS_EV_CLOSE);
    CHECK_INT(f.close_code, 1001);
    tws_free(w);
    int st = tsrv_wait_exit(s, 15000);
    CHECKF(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "server status %d after SIGTERM", st);

    const char *more = "written while the server was down\n";
    tbuf_adds(&want, more);
    CHECK(t_file_write(tsrv_path(s, "t.log"), want.p, want.len) == 0);
    t_sleep_ms(300); /* the reader's first reconnects find nobody */
    CHECK(tsrv_restart(s) == 0);
    pthread_join(th, NULL);
    CHECKF(j.last == 0, "the reader with resume ended with %zd: %s", j.last,
           hfs_reader_error(j.r)->message);
    CHECK_MEM(j.got.p, j.got.len, want.p, want.len);
    CHECK_INT(hfs_reader_offset(j.r), want.len);
    CHECKF(log_wait(s, t_fmt("/t.log?offset=%zu\"", want.len - strlen(more)), 5000),
           "no resume request logged");
    hfs_reader_close(j.r);
    tbuf_free(&j.got);
    tbuf_free(&got);
    tbuf_free(&want);
    tsrv_stop(s);
}

/* ---- against a scripted server
 * -------------------------------------------------------------------
 */

#define SCRIPT_MAX 4

typedef struct script {
    int lfd, port;
    const char *answers[SCRIPT_MAX]; /* what the n-th connection gets (then it is closed) */
    char requests[SCRIPT_MAX][512];  /* the request line each connection sent */
    atomic_int conns;
} script;

static void *script_main(void *arg)
{
    script *sc = arg;
    for (int i = 0; i < SCRIPT_MAX; i++) {
        int fd = accept(sc->lfd, NULL, NULL);
        if (fd < 0)
            return NULL;
        atomic_fetch_add(&sc->conns, 1);
        tbuf in = {0};
        char buf[4096];
        while (!t_contains(in.p, in.len, "\r\n\r\n")) {
            ssize_t n = t_recv(fd, buf, sizeof(buf), 5000);
            if (n <= 0)
                break;
            tbuf_add(&in, buf, (size_t)n);
        }
        const char *eol = in.len ? memchr(in.p, '\r', in.len) : NULL;
        snprintf(sc->requests[i], sizeof(sc->requests[i]), "%.*s",
                 eol ? (int)(eol - (const char *)in.p) : 0, (const char *)in.p);
        tbuf_free(&in);
        if (sc->answers[i])
            t_send_str(fd, sc->answers[i]);
        t_sleep_ms(20);
        close(fd);
    }
    return NULL;
}

static int script_start(script *sc, pthread_t *th)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t al = sizeof(a);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sc->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (sc->lfd < 0 || bind(sc->lfd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
        listen(sc->lfd, 8) < 0 || getsockname(sc->lfd, (struct sockaddr *)&a, &al) < 0)
        return -1;
    sc->port = ntohs(a.sin_port);
    return pthread_create(th, NULL, script_main, sc);
}

static void script_stop(script *sc, pthread_t th)
{
    shutdown(sc->lfd, SHUT_RDWR);
    close(sc->lfd);
    pthread_join(th, NULL);
}

/* A body cut short: resumes with ?offset= the next byte when the server gave X-Follow-Offset, and
 * accepts only an answer that starts exactly there. */
static void test_scripted_resume(void)
{
    hfs_client_options o;
    hfs_reader *r = NULL;
    hfs_error e;
    tbuf got = {0};
    pthread_t th;

    /* 1: X-Follow-Offset given: the second request asks for offset 10 and gets the rest */
    script sc = {.answers = {"HTTP/1.1 200 OK\r\nContent-Length: 20\r\nX-Follow-Offset: 0\r\n\r\n"
                             "0123456789",
                             "HTTP/1.1 200 OK\r\nContent-Length: 10\r\nX-Follow-Offset: 10\r\n\r\n"
                             "abcdefghij"}};
    CHECK(script_start(&sc, &th) == 0);
    hfs_client_options_init(&o);
    o.resume = 3;
    CHECK(hfs_follow(t_fmt("http://127.0.0.1:%d/s.log", sc.port), &o, &r, &e) == HFS_OK);
    ssize_t rc = read_into(r, &got, ALL);
    CHECKF(rc == 0, "%zd: %s", rc, hfs_reader_error(r)->message);
    CHECK_MEM(got.p, got.len, "0123456789abcdefghij", 20);
    CHECK_INT(hfs_reader_offset(r), 20);
    hfs_reader_close(r);
    script_stop(&sc, th);
    CHECK_INT(atomic_load(&sc.conns), 2);
    CHECKF(strstr(sc.requests[0], "GET /s.log ") && !strstr(sc.requests[0], "offset"),
           "first request: %s", sc.requests[0]);
    CHECKF(strstr(sc.requests[1], "offset=10") != NULL, "resume request: %s", sc.requests[1]);

    /* 2: no X-Follow-Offset: the server did not say where its bytes are, so no resume */
    script sc2 = {.answers = {"HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n0123456789",
                              "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabcdefghij"}};
    CHECK(script_start(&sc2, &th) == 0);
    got.len = 0;
    CHECK(hfs_follow(t_fmt("http://127.0.0.1:%d/s.log", sc2.port), &o, &r, &e) == HFS_OK);
    rc = read_into(r, &got, ALL);
    CHECKF(rc == HFS_ERR_NETWORK, "%zd: %s", rc, hfs_reader_error(r)->message);
    CHECK_MEM(got.p, got.len, "0123456789", 10);
    CHECK_INT(hfs_reader_offset(r), 10); /* a plain follow from the start: offsets are known */
    hfs_reader_close(r);
    t_sleep_ms(300); /* a wrong reconnect would have happened by now */
    script_stop(&sc2, th);
    CHECK_INT(atomic_load(&sc2.conns), 1);

    /* 3: a server that says nothing and a start that is not 0: the client drops the bytes before
     * it (the body is the resource from byte 0), but still never resumes such a server */
    script sc3 = {.answers = {"HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n0123456789",
                              "HTTP/1.1 200 OK\r\nContent-Length: 15\r\n\r\n56789abcdefghij"}};
    CHECK(script_start(&sc3, &th) == 0);
    got.len = 0;
    opts_init(&o, HFS_FROM_OFFSET, 5);
    o.resume = 3;
    CHECK(hfs_follow(t_fmt("http://127.0.0.1:%d/s.log", sc3.port), &o, &r, &e) == HFS_OK);
    CHECK_INT(hfs_reader_offset(r), 5);
    rc = read_into(r, &got, ALL);
    CHECKF(rc == HFS_ERR_NETWORK, "%zd: %s", rc, hfs_reader_error(r)->message);
    CHECK_MEM(got.p, got.len, "56789", 5);
    CHECK_INT(hfs_reader_offset(r), 10);
    CHECKF(strstr(hfs_reader_error(r)->message, "not resumed: the server does not report offsets"),
           "%s", hfs_reader_error(r)->message);
    hfs_reader_close(r);
    t_sleep_ms(300); /* a wrong reconnect would have happened by now */
    script_stop(&sc3, th);
    CHECK_INT(atomic_load(&sc3.conns), 1);
    CHECKF(strstr(sc3.requests[0], "offset=5") != NULL, "request: %s", sc3.requests[0]);

    /* 4: the resumed answer starts elsewhere: refused, never a byte twice */
    script sc4 = {.answers = {"HTTP/1.1 200 OK\r\nContent-Length: 20\r\nX-Follow-Offset: 0\r\n\r\n"
                              "0123456789",
                              "HTTP/1.1 200 OK\r\nContent-Length: 20\r\nX-Follow-Offset: 0\r\n\r\n"
                              "0123456789abcdefghij"}};
    CHECK(script_start(&sc4, &th) == 0);
    got.len = 0;
    hfs_client_options_init(&o);
    o.resume = 1;
    CHECK(hfs_follow(t_fmt("http://127.0.0.1:%d/s.log", sc4.port), &o, &r, &e) == HFS_OK);
    rc = read_into(r, &got, ALL);
    CHECKF(rc < 0, "a resume answered at the wrong offset was accepted: %zd, [%.*s]", rc,
           (int)got.len, (const char *)got.p);
    CHECK_MEM(got.p, got.len, "0123456789", 10);
    hfs_reader_close(r);
    script_stop(&sc4, th);
    tbuf_free(&got);
}

int main(void)
{
    RUN(test_from_options);
    RUN(test_wait);
    RUN(test_resume_into_finished_resource);
    RUN(test_resume_into_live_resource);
    RUN(test_resume_while_server_down);
    RUN(test_resume_while_waiting);
    RUN(test_no_resume_when_disabled);
    RUN(test_resume_gives_up);
    RUN(test_resume_after_shutdown);
    RUN(test_scripted_resume);
    return test_report();
}
