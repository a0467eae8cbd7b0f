/* test_http_follow.c -- the plain-HTTP extensions against the real server, over raw sockets:
 * ?follow streams (chunked on HTTP/1.1, close-delimited on 1.0, their headers, live delivery and
 * the end), Server-Sent Events (exact framing, multi-line data, base64 for other bytes, ids,
 * Last-Event-ID resumes exactly, 204 at the end, heartbeats, shutdown), ?offset and ?lines on every
 * transport (X-Follow-Offset, 416, 400, tail -n edge cases), ?wait with WebSocket and PUT
 * appenders, PUT/POST appends (201/200, sizes, expected offsets with 409/416, 100-continue, 400,
 * 405, 413, write errors, a body cut short), the single-appender rule across WebSocket and PUT,
 * followers of every kind receiving a PUT body live, directory listings (JSON with times, the page
 * for browsers with its policy, the original <pre>) with escaping, and which requests get the
 * viewer page. */
#include "../harness.h"

#include <stdlib.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TEXT_PLAIN "text/plain; charset=utf-8"
#define SSE_TYPE   "text/event-stream; charset=utf-8"
#define BUSY_BODY  "addWriter: path already has an active writer\n"
#define BROWSER_ACCEPT                                                                             \
    "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;"     \
    "q=0.8\r\n"
#define SSE_ACCEPT "Accept: text/event-stream\r\n"

/* ---- Server-Sent Events ------------------------------------------------------------------------
 */

typedef struct sse_event {
    char type[32]; /* "message" when there was no event: line */
    int has_id;
    uint64_t id;
    tbuf data; /* data: lines joined with '\n' */
    int ndata;
} sse_event;

typedef struct sse_parser {
    sse_event *ev;
    size_t n, cap;
    size_t comments; /* ":" lines */
    size_t at;       /* body bytes consumed */
    sse_event cur;
    int cur_used;
    char err[200];
} sse_parser;

static void sse_free(sse_parser *p)
{
    for (size_t i = 0; i < p->n; i++)
        tbuf_free(&p->ev[i].data);
    free(p->ev);
    tbuf_free(&p->cur.data);
    memset(p, 0, sizeof(*p));
}

/* Parses the complete lines of body not parsed yet, strictly as this server writes them: "\n"
 * line ends only, "field: value" fields, ":" comments, a blank line ending each event. */
static void sse_feed(sse_parser *p, const tbuf *body)
{
    while (!p->err[0] && p->at < body->len) {
        const char *line = (const char *)body->p + p->at;
        const char *nl = memchr(line, '\n', body->len - p->at);
        if (!nl)
            return;
        size_t n = (size_t)(nl - line);
        p->at += n + 1;
        if (memchr(line, '\r', n)) {
            snprintf(p->err, sizeof(p->err), "CR inside an event line");
            return;
        }
        if (n == 0) {
            if (!p->cur_used)
                continue;
            if (p->n == p->cap) {
                p->cap = p->cap ? p->cap * 2 : 64;
                p->ev = realloc(p->ev, p->cap * sizeof(*p->ev));
            }
            if (!p->cur.type[0])
                strcpy(p->cur.type, "message");
            p->ev[p->n++] = p->cur;
            memset(&p->cur, 0, sizeof(p->cur));
            p->cur_used = 0;
            continue;
        }
        if (line[0] == ':') {
            p->comments++;
            continue;
        }
        const char *colon = memchr(line, ':', n);
        if (!colon || (size_t)(colon - line) + 1 >= n || colon[1] != ' ') {
            snprintf(p->err, sizeof(p->err), "not a \"field: value\" line: \"%.*s\"",
                     (int)(n > 60 ? 60 : n), line);
            return;
        }
        size_t fl = (size_t)(colon - line);
        const char *v = colon + 2;
        size_t vl = n - fl - 2;
        p->cur_used = 1;
        if (fl == 4 && !memcmp(line, "data", 4)) {
            if (p->cur.ndata++)
                tbuf_add(&p->cur.data, "\n", 1);
            tbuf_add(&p->cur.data, v, vl);
        } else if (fl == 2 && !memcmp(line, "id", 2)) {
            char num[32];
            snprintf(num, sizeof(num), "%.*s", (int)(vl < 31 ? vl : 31), v);
            char *end;
            p->cur.id = strtoull(num, &end, 10);
            p->cur.has_id = 1;
            if (!vl || *end)
                snprintf(p->err, sizeof(p->err), "bad id \"%s\"", num);
        } else if (fl == 5 && !memcmp(line, "event", 5)) {
            snprintf(p->cur.type, sizeof(p->cur.type), "%.*s", (int)(vl < 31 ? vl : 31), v);
        } else {
            snprintf(p->err, sizeof(p->err), "unknown field \"%.*s\"", (int)fl, line);
        }
    }
}

static int b64val(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* RFC 4648 base64 (with padding) into out. Returns 0, or -1 when malformed. */
static int b64_decode(const uint8_t *s, size_t n, tbuf *out)
{
    if (n % 4)
        return -1;
    for (size_t i = 0; i < n; i += 4) {
        int v[4], pad = 0;
        for (int k = 0; k < 4; k++) {
            if (s[i + k] == '=' && i + 4 == n && k >= 2) {
                v[k] = 0;
                pad++;
            } else if (pad || (v[k] = b64val(s[i + k])) < 0) {
                return -1;
            }
        }
        uint8_t b[3] = {(uint8_t)(v[0] << 2 | v[1] >> 4), (uint8_t)(v[1] << 4 | v[2] >> 2),
                        (uint8_t)(v[2] << 6 | v[3])};
        tbuf_add(out, b, (size_t)(3 - pad));
    }
    return 0;
}

/* Rebuilds the stream's bytes from the events, checking every rule of the format: each id is the
 * offset after the event's bytes (counting from start), text events are UTF-8 without CR or NUL,
 * base64 events decode, nothing follows the end event. Sets *end_id (UINT64_MAX: no end event).
 * Returns 0, or -1 with why in err. */
static int sse_bytes(const sse_parser *p, uint64_t start, tbuf *out, uint64_t *end_id, char *err,
                     size_t errlen)
{
    uint64_t off = start;

    *end_id = UINT64_MAX;
    for (size_t i = 0; i < p->n; i++) {
        const sse_event *e = &p->ev[i];
        size_t before = out->len;
        if (*end_id != UINT64_MAX) {
            snprintf(err, errlen, "event %zu (%s) after the end event", i, e->type);
            return -1;
        }
        if (!e->has_id) {
            snprintf(err, errlen, "event %zu (%s) has no id", i, e->type);
            return -1;
        }
        if (!strcmp(e->type, "end")) {
            if (e->ndata != 1 || e->data.len != 3 || memcmp(e->data.p, "end", 3) != 0) {
                snprintf(err, errlen, "end event data \"%.*s\"", (int)e->data.len,
                         (const char *)e->data.p);
                return -1;
            }
            *end_id = e->id;
            if (e->id != off) {
                snprintf(err, errlen, "end event id %llu, want %llu", (unsigned long long)e->id,
                         (unsigned long long)off);
                return -1;
            }
            continue;
        }
        if (!strcmp(e->type, "message")) {
            if (!e->data.len || memchr(e->data.p, '\r', e->data.len) ||
                memchr(e->data.p, '\0', e->data.len) || !ws_utf8_valid(e->data.p, e->data.len)) {
                snprintf(err, errlen, "text event %zu is empty, not UTF-8, or has CR/NUL", i);
                return -1;
            }
            tbuf_add(out, e->data.p, e->data.len);
        } else if (!strcmp(e->type, "base64")) {
            if (e->ndata != 1 || b64_decode(e->data.p, e->data.len, out) < 0 ||
                out->len == before) {
                snprintf(err, errlen, "base64 event %zu: bad data \"%.*s\"", i,
                         (int)(e->data.len > 60 ? 60 : e->data.len), (const char *)e->data.p);
                return -1;
            }
        } else {
            snprintf(err, errlen, "event %zu has unknown type \"%s\"", i, e->type);
            return -1;
        }
        off += out->len - before;
        if (e->id != off) {
            snprintf(err, errlen, "event %zu: id %llu, want %llu (the offset after its bytes)", i,
                     (unsigned long long)e->id, (unsigned long long)off);
            return -1;
        }
    }
    return 0;
}

/* ---- appending ---------------------------------------------------------------------------------
 */

/* Sends one BINARY message and waits until the file holds want + msg. */
static int ws_add(tsrv *s, tws *w, const char *file, tbuf *want, const void *p, size_t n)
{
    if (tws_send(w, WS_OP_BINARY, 1, p, n) < 0)
        return -1;
    tbuf_add(want, p, n);
    return t_file_wait_eq(tsrv_path(s, file), want->p, want->len, 5000) ? 0 : -1;
}

/* Ends a WebSocket appender with CLOSE 1000 and waits for the echo. */
static int ws_end(tws *w)
{
    tws_frame f;
    if (tws_send_close(w, 1000) < 0)
        return -1;
    return tws_read_type(w, WS_EV_CLOSE, &f, T_TIMEOUT) == WS_EV_CLOSE ? 0 : -1;
}

/* Opens a PUT/POST with a chunked body on a new connection; returns the socket or -1. */
static int put_open(int port, const char *method, const char *path, const char *headers)
{
    int fd = t_connect(port);
    if (fd < 0)
        return -1;
    if (t_send_str(fd, t_fmt("%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nTransfer-Encoding: "
                             "chunked\r\n%s\r\n",
                             method, path, port, headers ? headers : "")) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int put_chunk(int fd, const void *p, size_t n)
{
    tbuf b = {0};
    tbuf_adds(&b, t_fmt("%zx\r\n", n));
    tbuf_add(&b, p, n);
    tbuf_adds(&b, "\r\n");
    int rc = t_send_all(fd, b.p, b.len);
    tbuf_free(&b);
    return rc;
}

/* Sends the terminal chunk and reads the answer. */
static int put_finish(int fd, thttp_resp *r)
{
    t_send_str(fd, "0\r\n\r\n");
    return thttp_read(fd, r, 0, T_TIMEOUT);
}

/* A PUT/POST with a sized body on its own connection (Connection: close). */
static int put_sized(int port, const char *method, const char *path, const char *headers,
                     const void *body, size_t n, thttp_resp *r)
{
    tbuf q = {0};
    tbuf_adds(&q, t_fmt("%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n"
                        "Content-Length: %zu\r\n%s\r\n",
                        method, path, port, n, headers ? headers : ""));
    tbuf_add(&q, body, n);
    int rc = thttp_raw(port, q.p, q.len, r, 0);
    tbuf_free(&q);
    return rc;
}

/* The file's current contents (empty when missing). */
static tbuf file_of(tsrv *s, const char *name)
{
    tbuf b = {0};
    tbuf_add(&b, "", 0);
    if (t_file_read(tsrv_path(s, name), &b) < 0)
        b.len = 0;
    return b;
}

/* ---- ?follow -----------------------------------------------------------------------------------
 */

/* The head every HTTP stream carries. Returns NULL when it is right, else what is wrong. */
static const char *stream_head_problem(ths *h, const char *ctype, long long offset, int chunked)
{
    if (h->r.status != 200)
        return t_fmt("status %d, want 200", h->r.status);
    const char *v;
    if (!(v = ths_header(h, "Content-Type")) || strcmp(v, ctype) != 0)
        return t_fmt("Content-Type [%s], want [%s]", v ? v : "", ctype);
    if (!(v = ths_header(h, "Cache-Control")) || strcmp(v, "no-store") != 0)
        return t_fmt("Cache-Control [%s]", v ? v : "");
    if (!(v = ths_header(h, "X-Accel-Buffering")) || strcmp(v, "no") != 0)
        return t_fmt("X-Accel-Buffering [%s]", v ? v : "");
    if (!(v = ths_header(h, "X-Follow-Offset")) || strtoll(v, NULL, 10) != offset)
        return t_fmt("X-Follow-Offset [%s], want %lld", v ? v : "", offset);
    if (!(v = ths_header(h, "Connection")) || strcasecmp(v, "close") != 0)
        return t_fmt("Connection [%s], want close", v ? v : "");
    if (ths_header(h, "Content-Length"))
        return "a stream with a Content-Length";
    if (chunked != h->chunked)
        return t_fmt("Transfer-Encoding [%s], want %s", ths_header(h, "Transfer-Encoding"),
                     chunked ? "chunked" : "none");
    return NULL;
}

/* A live resource followed with ?follow: existing bytes, then each append as it happens (each read
 * before the next is written), then the terminal chunk and the close when the appender leaves. */
static void test_follow_live_chunked(void)
{
    tsrv *s = tsrv_start(NULL);
    tbuf want = {0};
    CHECK(s);
    const char *queries[] = {"?follow", "?follow=", "?follow=1", "?x=1&follow&y=2"};
    for (int q = 0; q < 4; q++) {
        char name[32], path[64];
        snprintf(name, sizeof(name), "live%d.log", q);
        snprintf(path, sizeof(path), "/%s%s", name, queries[q]);
        want.len = 0;
        tws *w = tws_append(s->port, t_fmt("/%s", name));
        CHECK(w);
        CHECK(ws_add(s, w, name, &want, "first line\n", 11) == 0);
        ths *h = ths_get(s->port, path, NULL);
        CHECK(h);
        const char *bad = stream_head_problem(h, TEXT_PLAIN, 0, 1);
        CHECKF(!bad, "%s: %s\n%s", path, bad, h->r.head);
        CHECKF(ths_until(h, 11, T_TIMEOUT), "%s: %s (%zu bytes)", path, h->err, h->body.len);
        for (int i = 0; i < 5; i++) {
            const char *line = t_fmt("line %d of %s\n", i, name);
            CHECK(ws_add(s, w, name, &want, line, strlen(line)) == 0);
            /* it arrives while the appender is still there */
            CHECKF(ths_until(h, want.len, T_TIMEOUT), "%s line %d: %s (%zu of %zu bytes)", path, i,
                   h->err, h->body.len, want.len);
            CHECK_MEM(h->body.p, h->body.len, want.p, want.len);
        }
        CHECK(!h->done);
        CHECK(ths_quiet(h, 100)); /* nothing more until something is appended */
        if (q % 2 == 0) {
            CHECK(ws_end(w) == 0);
        } else {
            t_close_rst(w->fd); /* an appender that vanishes ends the stream too */
            w->fd = -1;
        }
        tws_free(w);
        CHECKF(ths_end(h, T_TIMEOUT), "%s: %s (done %d eof %d)", path, h->err, h->done, h->eof);
        CHECK_MEM(h->body.p, h->body.len, want.p, want.len);
        CHECK(h->chunks >= 6);
        ths_free(h);
    }
    tbuf_free(&want);
    tsrv_stop(s);
}

/* No appender: the bytes so far, then the end at once; empty files; HTTP/1.0; HEAD; types. */
static void test_follow_not_live(void)
{
    tsrv *s = tsrv_start(NULL);
    uint8_t bin[700];
    CHECK(s);
    CHECK(t_file_write(tsrv_path(s, "done.txt"), "all of it\n", 10) == 0);
    CHECK(t_file_write(tsrv_path(s, "empty.log"), "", 0) == 0);
    for (size_t i = 0; i < sizeof(bin); i++)
        bin[i] = (uint8_t)(i * 7);
    CHECK(t_file_write(tsrv_path(s, "blob"), bin, sizeof(bin)) == 0);
    CHECK(t_file_write(tsrv_path(s, "notes"), "plain words\n", 12) == 0);

    ths *h = ths_get(s->port, "/done.txt?follow", NULL);
    CHECK(h);
    const char *bad = stream_head_problem(h, TEXT_PLAIN, 0, 1);
    CHECKF(!bad, "%s\n%s", bad, h->r.head);
    CHECKF(ths_end(h, T_TIMEOUT), "%s", h->err);
    CHECK_MEM(h->body.p, h->body.len, "all of it\n", 10);
    ths_free(h);

    h = ths_get(s->port, "/empty.log?follow", NULL);
    CHECK(h);
    bad = stream_head_problem(h, TEXT_PLAIN, 0, 1);
    CHECKF(!bad, "%s\n%s", bad, h->r.head);
    CHECKF(ths_end(h, T_TIMEOUT), "%s", h->err);
    CHECK_INT(h->body.len, 0);
    CHECK_INT(h->chunks, 0);
    ths_free(h);

    /* a name without a known extension: the type is sniffed, as for static responses */
    h = ths_get(s->port, "/blob?follow", NULL);
    CHECK(h);
    bad = stream_head_problem(h, "application/octet-stream", 0, 1);
    CHECKF(!bad, "%s\n%s", bad, h->r.head);
    CHECKF(ths_end(h, T_TIMEOUT), "%s", h->err);
    CHECK_MEM(h->body.p, h->body.len, bin, sizeof(bin));
    ths_free(h);
    h = ths_get(s->port, "/notes?follow", NULL);
    CHECK(h);
    bad = stream_head_problem(h, TEXT_PLAIN, 0, 1);
    CHECKF(!bad, "%s\n%s", bad, h->r.head);
    ths_free(h);

    /* HTTP/1.0: no chunked coding, the body ends with the connection */
    h = ths_request(s->port, "GET", "/done.txt?follow", NULL, 0);
    CHECK(h);
    bad = stream_head_problem(h, TEXT_PLAIN, 0, 0);
    CHECKF(!bad, "%s\n%s", bad, h->r.head);
    CHECKF(ths_end(h, T_TIMEOUT), "%s", h->err);
    CHECK_MEM(h->body.p, h->body.len, "all of it\n", 10);
    ths_free(h);

    /* HEAD is never a stream: the static head, no body, at once */
    thttp_resp r;
    CHECK(thttp_req(s->port, "HEAD", "/done.txt?follow", NULL, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK_STR(thttp_header(&r, "Content-Length"), "10");
    CHECK(!thttp_header(&r, "Transfer-Encoding"));
    CHECK_INT(r.body.len, 0);
    thttp_free(&r);

    /* a missing resource is still 404 */
    CHECK(thttp_get(s->port, "/missing.txt?follow", NULL, &r) == 0);
    CHECK_INT(r.status, 404);
    thttp_free(&r);
    CHECK(thttp_get(s->port, "/missing.txt?follow=sse", NULL, &r) == 0);
    CHECK_INT(r.status, 404);
    thttp_free(&r);
    CHECK(!t_exists(tsrv_path(s, "missing.txt")));
    tsrv_stop(s);
}

/* HTTP/1.0 and HEAD against a live resource. */
static void test_follow_live_http10_and_head(void)
{
    tsrv *s = tsrv_start(NULL);
    tbuf want = {0};
    thttp_resp r;
    CHECK(s);
    tws *w = tws_append(s->port, "/l.txt");
    CHECK(w);
    CHECK(ws_add(s, w, "l.txt", &want, "abc\n", 4) == 0);
    ths *h = ths_request(s->port, "GET", "/l.txt?follow", NULL, 0);
    CHECK(h);
    const char *bad = stream_head_problem(h, TEXT_PLAIN, 0, 0);
    CHECKF(!bad, "%s\n%s", bad, h->r.head);
    CHECK(ths_until(h, 4, T_TIMEOUT));
    CHECK(ws_add(s, w, "l.txt", &want, "def\n", 4) == 0);
    CHECK(ths_until(h, 8, T_TIMEOUT));

    /* SSE over HTTP/1.0: events until the connection ends */
    ths *hs = ths_request(s->port, "GET", "/l.txt?follow=sse", NULL, 0);
    CHECK(hs);
    bad = stream_head_problem(hs, SSE_TYPE, 0, 0);
    CHECKF(!bad, "%s\n%s", bad, hs->r.head);
    const char *ev1 = "id: 8\ndata: abc\ndata: def\ndata: \n\n";
    CHECKF(ths_until(hs, strlen(ev1), T_TIMEOUT), "%s", hs->err);
    CHECK_MEM(hs->body.p, hs->body.len, ev1, strlen(ev1));

    /* HEAD while live: the snapshot's head, no body */
    CHECK(thttp_req(s->port, "HEAD", "/l.txt?follow", NULL, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK_STR(thttp_header(&r, "Content-Length"), "8");
    CHECK_INT(r.body.len, 0);
    thttp_free(&r);
    CHECK(thttp_req(s->port, "HEAD", "/l.txt?follow=sse", SSE_ACCEPT, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK_INT(r.body.len, 0);
    thttp_free(&r);

    CHECK(ws_end(w) == 0);
    tws_free(w);
    CHECKF(ths_end(h, T_TIMEOUT), "%s", h->err);
    CHECK_MEM(h->body.p, h->body.len, want.p, want.len);
    CHECKF(ths_end(hs, T_TIMEOUT), "%s", hs->err);
    const char *sse10 = "id: 8\ndata: abc\ndata: def\ndata: \n\nevent: end\nid: 8\ndata: end\n\n";
    CHECKF(hs->body.len == strlen(sse10) && !memcmp(hs->body.p, sse10, hs->body.len), "[%.*s]",
           (int)hs->body.len, (const char *)hs->body.p);
    ths_free(hs);
    ths_free(h);
    tbuf_free(&want);
    tsrv_stop(s);
}

/* HTTP and SSE followers that stop reading (tiny receive buffers) or vanish never hold the appender
 * up; afterwards the slow ones still get every byte. */
static void test_slow_http_followers(void)
{
    tsrv *s = tsrv_start(NULL);
    tbuf want = {0};
    CHECK(s);
    tws *w = tws_append(s->port, "/big.log");
    CHECK(w);
    CHECK(ws_add(s, w, "big.log", &want, "start\n", 6) == 0);
    ths *slow = ths_request_rcvbuf(s->port, "GET", "/big.log?follow", NULL, 1, 4096);
    ths *slow_sse = ths_request_rcvbuf(s->port, "GET", "/big.log?follow=sse", NULL, 1, 4096);
    ths *quitter = ths_get(s->port, "/big.log?follow", NULL);
    CHECK(slow && slow_sse && quitter);
    CHECK_INT(slow->r.status, 200);
    CHECK_INT(slow_sse->r.status, 200);
    tbuf msg = {0};
    for (int i = 0; msg.len < 32768; i++)
        tbuf_adds(&msg, t_fmt("%06d some log text \xe2\x82\xac and more\n", i));
    int64_t t0 = t_now_ms();
    for (int i = 0; i < 256; i++) { /* 8 MiB */
        CHECK(tws_send(w, WS_OP_BINARY, 1, msg.p, msg.len) == 0);
        tbuf_add(&want, msg.p, msg.len);
        if (i == 64) {
            t_close_rst(quitter->fd);
            quitter->fd = -1;
        }
    }
    CHECKF(t_file_wait_eq(tsrv_path(s, "big.log"), want.p, want.len, 30000),
           "the appender was held up by followers that do not read");
    int64_t took = t_now_ms() - t0;
    CHECK(ws_end(w) == 0);
    tws_free(w);
    CHECKF(ths_end(slow, 30000), "%s (%zu of %zu bytes)", slow->err, slow->body.len, want.len);
    CHECK_MEM(slow->body.p, slow->body.len, want.p, want.len);
    CHECKF(ths_end(slow_sse, 30000), "%s", slow_sse->err);
    sse_parser p = {0};
    tbuf got = {0};
    char err[200];
    uint64_t end_id;
    sse_feed(&p, &slow_sse->body);
    CHECKF(!p.err[0] && sse_bytes(&p, 0, &got, &end_id, err, sizeof(err)) == 0, "%s%s", p.err, err);
    CHECK_MEM(got.p, got.len, want.p, want.len);
    fprintf(stderr, "  note: 8 MiB appended in %lld ms past followers that did not read\n",
            (long long)took);
    sse_free(&p);
    tbuf_free(&got);
    tbuf_free(&msg);
    ths_free(slow);
    ths_free(slow_sse);
    ths_free(quitter);
    tbuf_free(&want);
    tsrv_stop(s);
}

/* ---- Server-Sent Events ------------------------------------------------------------------------
 */

/* The exact bytes of each event: one per append (each read before the next append). */
static void test_sse_exact_framing(void)
{
    tsrv *s = tsrv_start(NULL);
    tbuf want = {0};
    CHECK(s);
    static const struct {
        const char *data;
        size_t len;
        const char *event; /* with %llu for the id */
    } steps[] = {
        {"a\n", 2, "id: %llu\ndata: a\ndata: \n\n"},
        {"x\ny", 3, "id: %llu\ndata: x\ndata: y\n\n"},
        {"\n\nz", 3, "id: %llu\ndata: \ndata: \ndata: z\n\n"},
        {"  two spaces: ok", 16, "id: %llu\ndata:   two spaces: ok\n\n"},
        {"\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\n", 15,
         "id: %llu\ndata: \xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\ndata: \n\n"},
        {"\x00\xff\r", 3, "event: base64\nid: %llu\ndata: AP8N\n\n"},
        {"crlf\r\n", 6, "event: base64\nid: %llu\ndata: Y3JsZg0K\n\n"},
        {"nul\0x", 5, "event: base64\nid: %llu\ndata: bnVsAHg=\n\n"},
        {"\xc3\x28", 2, "event: base64\nid: %llu\ndata: wyg=\n\n"},
        {"\xed\xa0\x80", 3, "event: base64\nid: %llu\ndata: 7aCA\n\n"}, /* a surrogate */
        {":not a comment", 14, "id: %llu\ndata: :not a comment\n\n"},
    };
    const char *ways[] = {"/e%d.txt?follow=sse", "/e%d.txt"};
    for (int way = 0; way < 2; way++) {
        char name[32], apath[40];
        snprintf(name, sizeof(name), "e%d.txt", way);
        snprintf(apath, sizeof(apath), "/%s", name);
        want.len = 0;
        tws *w = tws_append(s->port, apath);
        CHECK(w);
        ths *h = ths_get(s->port, t_fmt(ways[way], way), way ? SSE_ACCEPT : NULL);
        CHECK(h);
        const char *bad = stream_head_problem(h, SSE_TYPE, 0, 1);
        CHECKF(!bad, "%s\n%s", bad, h->r.head);
        tbuf expect = {0};
        for (size_t i = 0; i < sizeof(steps) / sizeof(*steps); i++) {
            CHECK(ws_add(s, w, name, &want, steps[i].data, steps[i].len) == 0);
            tbuf_adds(&expect, t_fmt(steps[i].event, (unsigned long long)want.len));
            CHECKF(ths_until(h, expect.len, T_TIMEOUT), "step %zu: %s: [%.*s]", i, h->err,
                   (int)h->body.len, (const char *)h->body.p);
            CHECKF(h->body.len == expect.len && !memcmp(h->body.p, expect.p, expect.len),
                   "step %zu: got [%.*s], want [%.*s]", i, (int)h->body.len,
                   (const char *)h->body.p, (int)expect.len, (const char *)expect.p);
        }
        CHECK(ws_end(w) == 0);
        tws_free(w);
        tbuf_adds(&expect,
                  t_fmt("event: end\nid: %llu\ndata: end\n\n", (unsigned long long)want.len));
        CHECKF(ths_end(h, T_TIMEOUT), "%s", h->err);
        CHECKF(h->body.len == expect.len && !memcmp(h->body.p, expect.p, expect.len),
               "end: got [%.*s]", (int)h->body.len, (const char *)h->body.p);
        tbuf_free(&expect);
        ths_free(h);
    }
    tbuf_free(&want);
    tsrv_stop(s);
}

/* Appends a random piece: text lines, binary, CR, NUL, long runs, characters of every width. */
static void random_piece(tbuf *b)
{
    static const char *const bits[] = {"a",
                                       "line\n",
                                       "\n",
                                       "\r\n",
                                       "\r",
                                       "\0",
                                       "\xff",
                                       "\x80",
                                       "\xc3\xa9",
                                       "\xe2\x82\xac",
                                       "\xf0\x9f\x98\x80",
                                       " ",
                                       ":",
                                       "data: ",
                                       "id: 9\n",
                                       "\n\n\n",
                                       "\x1b[31m"};
    size_t n = t_rand_range(1, 40);
    if (t_rand() % 8 == 0) { /* a long run, longer than one event may carry */
        size_t big = t_rand_range(16 * 1024, 40 * 1024);
        for (size_t i = 0; i < big; i++)
            tbuf_add(b, i % 61 == 60 ? "\n" : "x", 1);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        size_t k = t_rand() % (sizeof(bits) / sizeof(*bits));
        tbuf_add(b, bits[k], k == 5 ? 1 : strlen(bits[k]));
    }
}

/* Random streams: the events always rebuild the resource exactly, ids are offsets, text events
 * never split a character; a follower joining late with Last-Event-ID gets exactly the rest. */
static void test_sse_rebuilds_any_bytes(void)
{
    tsrv *s = tsrv_start(NULL);
    tbuf want = {0}, piece = {0}, got = {0};
    char err[200];
    uint64_t end_id;
    CHECK(s);
    tws *w = tws_append(s->port, "/r.bin");
    CHECK(w);
    ths *h = ths_get(s->port, "/r.bin", SSE_ACCEPT);
    CHECK(h);
    CHECK_INT(h->r.status, 200);
    ths *late = NULL;
    uint64_t late_at = 0;
    for (int i = 0; i < 60; i++) {
        piece.len = 0;
        random_piece(&piece);
        /* sometimes split a multi-byte character between two appends */
        size_t cut = piece.len > 1 && t_rand() % 3 == 0 ? t_rand_range(1, piece.len - 1) : 0;
        if (cut) {
            CHECK(ws_add(s, w, "r.bin", &want, piece.p, cut) == 0);
            CHECK(ws_add(s, w, "r.bin", &want, piece.p + cut, piece.len - cut) == 0);
        } else {
            CHECK(ws_add(s, w, "r.bin", &want, piece.p, piece.len) == 0);
        }
        if (i == 30) {
            /* the id of some event seen so far: resume there */
            sse_parser p = {0};
            CHECK(ths_until(h, 1, T_TIMEOUT));
            t_sleep_ms(20);
            ths_pump(h, 0);
            sse_feed(&p, &h->body);
            CHECKF(!p.err[0] && p.n > 0, "%s", p.err);
            late_at = p.ev[t_rand() % p.n].id;
            sse_free(&p);
            late = ths_get(s->port, "/r.bin?follow=sse",
                           t_fmt("Last-Event-ID: %llu\r\n", (unsigned long long)late_at));
            CHECK(late);
            const char *bad = stream_head_problem(late, SSE_TYPE, (long long)late_at, 1);
            CHECKF(!bad, "%s\n%s", bad, late->r.head);
        }
    }
    CHECK(ws_end(w) == 0);
    tws_free(w);
    CHECKF(ths_end(h, 10000), "%s", h->err);
    sse_parser p = {0};
    sse_feed(&p, &h->body);
    CHECKF(!p.err[0], "%s", p.err);
    CHECKF(p.at == h->body.len, "%zu of %zu bytes parsed", p.at, h->body.len);
    CHECKF(sse_bytes(&p, 0, &got, &end_id, err, sizeof(err)) == 0, "%s", err);
    CHECK_INT(end_id, want.len);
    CHECK_MEM(got.p, got.len, want.p, want.len);
    sse_free(&p);

    CHECK(late);
    CHECKF(ths_end(late, 10000), "%s", late->err);
    sse_feed(&p, &late->body);
    CHECKF(!p.err[0], "%s", p.err);
    got.len = 0;
    CHECKF(sse_bytes(&p, late_at, &got, &end_id, err, sizeof(err)) == 0, "%s", err);
    CHECK_INT(end_id, want.len);
    CHECK_MEM(got.p, got.len, want.p + late_at, want.len - late_at);
    sse_free(&p);
    ths_free(late);
    ths_free(h);
    tbuf_free(&want);
    tbuf_free(&piece);
    tbuf_free(&got);
    tsrv_stop(s);
}

/* Last-Event-ID on a finished resource: exactly the rest; the final size gets 204; errors. */
static void test_sse_last_event_id(void)
{
    tsrv *s = tsrv_start(NULL);
    const char text[] = "one\ntwo\n\xe2\x82\xac\nbin\x01\xfe\n";
    size_t len = sizeof(text) - 1;
    tbuf got = {0};
    char err[200];
    uint64_t end_id;
    thttp_resp r;
    CHECK(s);
    CHECK(t_file_write(tsrv_path(s, "f.txt"), text, len) == 0);

    for (size_t k = 0; k < len; k++) {
        ths *h = ths_get(s->port, "/f.txt", t_fmt(SSE_ACCEPT "Last-Event-ID: %zu\r\n", k));
        CHECK(h);
        const char *bad = stream_head_problem(h, SSE_TYPE, (long long)k, 1);
        CHECKF(!bad, "Last-Event-ID %zu: %s\n%s", k, bad, h->r.head);
        CHECKF(ths_end(h, T_TIMEOUT), "%s", h->err);
        sse_parser p = {0};
        sse_feed(&p, &h->body);
        got.len = 0;
        CHECKF(!p.err[0] && sse_bytes(&p, k, &got, &end_id, err, sizeof(err)) == 0,
               "Last-Event-ID %zu: %s%s", k, p.err, err);
        CHECK_INT(end_id, len);
        CHECK_MEM(got.p, got.len, text + k, len - k);
        sse_free(&p);
        ths_free(h);
    }

    /* the client has everything and nobody appends: 204, so that EventSource stops */
    CHECK(thttp_get(s->port, "/f.txt?follow=sse", t_fmt("Last-Event-ID: %zu\r\n", len), &r) == 0);
    CHECK_INT(r.status, 204);
    CHECK_INT(r.body.len, 0);
    CHECK(!thttp_header(&r, "Content-Length") || !strcmp(thttp_header(&r, "Content-Length"), "0"));
    thttp_free(&r);
    CHECK(thttp_get(s->port, "/f.txt", t_fmt(SSE_ACCEPT "Last-Event-ID: %zu\r\n", len), &r) == 0);
    CHECK_INT(r.status, 204);
    thttp_free(&r);

    /* past the end: 416; malformed: 400 */
    CHECK(thttp_get(s->port, "/f.txt?follow=sse", t_fmt("Last-Event-ID: %zu\r\n", len + 1), &r) ==
          0);
    CHECK_INT(r.status, 416);
    CHECK_STR(thttp_header(&r, "Content-Range"), t_fmt("bytes */%zu", len));
    thttp_free(&r);
    const char *badids[] = {"abc", "-1", "now", "1x", "0x10"};
    for (size_t i = 0; i < sizeof(badids) / sizeof(*badids); i++) {
        CHECK(thttp_get(s->port, "/f.txt?follow=sse", t_fmt("Last-Event-ID: %s\r\n", badids[i]),
                        &r) == 0);
        EXPECTF(r.status == 400, "Last-Event-ID: %s -> %d", badids[i], r.status);
        thttp_free(&r);
    }

    /* a reconnect carries the URL it started with: Last-Event-ID wins over ?offset and ?lines */
    const char *starts[] = {"offset=now", "offset=-2", "offset=0", "lines=1"};
    for (int i = 0; i < 4; i++) {
        ths *h = ths_get(s->port, t_fmt("/f.txt?follow=sse&%s", starts[i]), "Last-Event-ID: 4\r\n");
        CHECK(h);
        CHECKF(h->r.status == 200 && ths_header(h, "X-Follow-Offset") &&
                   !strcmp(ths_header(h, "X-Follow-Offset"), "4"),
               "?%s with Last-Event-ID: 4: %d, X-Follow-Offset %s", starts[i], h->r.status,
               ths_header(h, "X-Follow-Offset"));
        CHECK(ths_end(h, T_TIMEOUT));
        sse_parser p = {0};
        sse_feed(&p, &h->body);
        got.len = 0;
        CHECKF(!p.err[0] && sse_bytes(&p, 4, &got, &end_id, err, sizeof(err)) == 0, "%s%s", p.err,
               err);
        CHECK_MEM(got.p, got.len, text + 4, len - 4);
        sse_free(&p);
        ths_free(h);
    }

    /* Last-Event-ID belongs to SSE: a plain ?follow ignores it */
    ths *h = ths_get(s->port, "/f.txt?follow", "Last-Event-ID: 4\r\n");
    CHECK(h);
    CHECK_STR(ths_header(h, "X-Follow-Offset"), "0");
    CHECK(ths_end(h, T_TIMEOUT));
    CHECK_MEM(h->body.p, h->body.len, text, len);
    ths_free(h);

    /* at the end of a live resource: not 204 but a stream that waits for the next bytes */
    tbuf want = {0};
    tws *w = tws_append(s->port, "/f.txt");
    CHECK(w);
    tbuf_add(&want, text, len);
    h = ths_get(s->port, "/f.txt?follow=sse", t_fmt("Last-Event-ID: %zu\r\n", len));
    CHECK(h);
    const char *bad = stream_head_problem(h, SSE_TYPE, (long long)len, 1);
    CHECKF(!bad, "%s\n%s", bad, h->r.head);
    CHECK(ths_quiet(h, 100));
    CHECK(ws_add(s, w, "f.txt", &want, "more\n", 5) == 0);
    const char *ev = t_fmt("id: %zu\ndata: more\ndata: \n\n", len + 5);
    CHECKF(ths_until(h, strlen(ev), T_TIMEOUT), "%s", h->err);
    CHECK_MEM(h->body.p, h->body.len, ev, strlen(ev));
    CHECK(ws_end(w) == 0);
    tws_free(w);
    CHECK(ths_end(h, T_TIMEOUT));
    ths_free(h);
    tbuf_free(&want);
    tbuf_free(&got);
    tsrv_stop(s);
}

/* Idle SSE streams carry comment lines every -ping; other streams carry nothing extra. */
static void test_sse_heartbeat(void)
{
    const char *flags[] = {"-ping=100ms", NULL};
    tsrv *s = tsrv_start(flags);
    tbuf want = {0}, got = {0};
    char err[200];
    uint64_t end_id;
    CHECK(s);
    tws *w = tws_append(s->port, "/hb.txt");
    CHECK(w);
    CHECK(ws_add(s, w, "hb.txt", &want, "x\n", 2) == 0);
    ths *h = ths_get(s->port, "/hb.txt?follow=sse", NULL);
    ths *plain = ths_get(s->port, "/hb.txt?follow", NULL);
    CHECK(h && plain);
    sse_parser p = {0};
    int64_t deadline = t_now_ms() + 5000;
    while (p.comments < 3 && t_now_ms() < deadline && !h->eof) {
        ths_pump(h, 200);
        sse_feed(&p, &h->body);
    }
    CHECKF(p.comments >= 3, "%zu heartbeats in 5 s: [%.*s]", p.comments, (int)h->body.len,
           (const char *)h->body.p);
    CHECK(ws_add(s, w, "hb.txt", &want, "y\n", 2) == 0);
    CHECK(ws_end(w) == 0);
    tws_free(w);
    CHECKF(ths_end(h, T_TIMEOUT), "%s", h->err);
    sse_feed(&p, &h->body);
    CHECKF(!p.err[0] && sse_bytes(&p, 0, &got, &end_id, err, sizeof(err)) == 0, "%s%s", p.err, err);
    CHECK_MEM(got.p, got.len, want.p, want.len);
    CHECKF(ths_end(plain, T_TIMEOUT), "%s", plain->err);
    CHECK_MEM(plain->body.p, plain->body.len, want.p, want.len);
    sse_free(&p);
    ths_free(h);
    ths_free(plain);
    tbuf_free(&want);
    tbuf_free(&got);
    tsrv_stop(s);
}

/* ---- offsets -----------------------------------------------------------------------------------
 */

/* Where tail -n N starts in p[0..n) (the reference the server must agree with). */
static size_t tail_lines(const char *p, size_t n, size_t lines)
{
    size_t need = lines, i = n;
    if (lines == 0)
        return n;
    while (i > 0) {
        if (p[i - 1] == '\n' && i != n && need-- == 1)
            return i;
        i--;
    }
    return 0;
}

/* A plain GET with ?offset or ?lines: 200 with the bytes from there and X-Follow-Offset; the
 * tail -n rules on awkward files; 416 past the end; 400 when malformed. */
static void test_offsets_plain_get(void)
{
    tsrv *s = tsrv_start(NULL);
    thttp_resp r;
    CHECK(s);
    static const char *const files[] = {"l1\nl2\nl3\n", "l1\nl2\nl3", "",           "\n",
                                        "\n\n\n",       "no newline", "a\n\nb\n\n", "x\r\ny\r\n"};
    for (size_t fi = 0; fi < sizeof(files) / sizeof(*files); fi++) {
        const char *text = files[fi];
        size_t len = strlen(text);
        char name[32], path[40];
        snprintf(name, sizeof(name), "f%zu.txt", fi);
        snprintf(path, sizeof(path), "/%s", name);
        CHECK(t_file_write(tsrv_path(s, name), text, len) == 0);
        for (size_t lines = 0; lines <= 6; lines++) {
            size_t at = tail_lines(text, len, lines);
            CHECK(thttp_get(s->port, t_fmt("%s?lines=%zu", path, lines), NULL, &r) == 0);
            EXPECTF(r.status == 200 && r.body.len == len - at &&
                        !memcmp(r.body.p, text + at, len - at),
                    "file %zu [%s] lines=%zu: %d [%.*s], want [%s]", fi, text, lines, r.status,
                    (int)r.body.len, (const char *)r.body.p, text + at);
            const char *xo = thttp_header(&r, "X-Follow-Offset");
            EXPECTF(xo && strtoull(xo, NULL, 10) == at, "file %zu lines=%zu: X-Follow-Offset %s",
                    fi, lines, xo ? xo : "(none)");
            thttp_free(&r);
        }
        for (size_t off = 0; off <= len + 1; off++) {
            for (int neg = 0; neg < 2; neg++) {
                size_t at = neg ? (off < len ? len - off : 0) : off;
                CHECK(thttp_get(s->port, t_fmt("%s?offset=%s%zu", path, neg ? "-" : "", off), NULL,
                                &r) == 0);
                if (at > len) {
                    EXPECTF(r.status == 416, "file %zu offset=%zu: %d", fi, off, r.status);
                    const char *cr = thttp_header(&r, "Content-Range");
                    EXPECTF(cr && !strcmp(cr, t_fmt("bytes */%zu", len)),
                            "file %zu offset=%zu: Content-Range %s", fi, off, cr ? cr : "(none)");
                } else {
                    EXPECTF(r.status == 200 && r.body.len == len - at &&
                                !memcmp(r.body.p, text + at, len - at),
                            "file %zu offset=%s%zu: %d [%.*s]", fi, neg ? "-" : "", off, r.status,
                            (int)r.body.len, (const char *)r.body.p);
                    const char *xo = thttp_header(&r, "X-Follow-Offset");
                    EXPECTF(xo && strtoull(xo, NULL, 10) == at,
                            "file %zu offset=%s%zu: X-Follow-Offset %s", fi, neg ? "-" : "", off,
                            xo ? xo : "(none)");
                    EXPECTF(!thttp_header(&r, "Content-Range"), "offset answered with a range");
                }
                thttp_free(&r);
            }
        }
        CHECK(thttp_get(s->port, t_fmt("%s?offset=now", path), NULL, &r) == 0);
        EXPECTF(r.status == 200 && r.body.len == 0, "offset=now: %d", r.status);
        const char *xo = thttp_header(&r, "X-Follow-Offset");
        EXPECTF(xo && strtoull(xo, NULL, 10) == len, "offset=now: X-Follow-Offset %s",
                xo ? xo : "(none)");
        thttp_free(&r);
    }
    /* an offset replaces Range handling: 200 with the bytes from the offset */
    CHECK(thttp_get(s->port, "/f0.txt?offset=3", "Range: bytes=0-0\r\n", &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK_MEM(r.body.p, r.body.len, "l2\nl3\n", 6);
    thttp_free(&r);

    const char *bad[] = {"offset=abc", "offset=",    "offset=+1",  "offset=1x",
                         "offset=--1", "offset=NOW", "offset=1.5", "lines=-1",
                         "lines=now",  "lines=x",    "lines=",     "offset=%201"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        CHECK(thttp_get(s->port, t_fmt("/f0.txt?%s", bad[i]), NULL, &r) == 0);
        EXPECTF(r.status == 400, "?%s: %d", bad[i], r.status);
        thttp_free(&r);
        CHECK(thttp_get(s->port, t_fmt("/f0.txt?follow&%s", bad[i]), NULL, &r) == 0);
        EXPECTF(r.status == 400, "?follow&%s: %d", bad[i], r.status);
        thttp_free(&r);
        tws *f = tws_connect(s->port, t_fmt("/f0.txt?%s", bad[i]), NULL, &r);
        EXPECTF(!f && r.status == 400, "WebSocket ?%s: %d", bad[i], r.status);
        tws_free(f);
        thttp_free(&r);
    }
    tsrv_stop(s);
}

/* Offsets on live streams: WebSocket (101 with X-Follow-Offset), ?follow and SSE start where
 * asked, then go on live; past the end is 416 (never 101). */
static void test_offsets_live(void)
{
    tsrv *s = tsrv_start(NULL);
    tbuf want = {0};
    thttp_resp r;
    CHECK(s);
    tws *w = tws_append(s->port, "/o.txt");
    CHECK(w);
    const char start[] = "l1\nl2\nl3\nl4\n";
    CHECK(ws_add(s, w, "o.txt", &want, start, 12) == 0);
    static const struct {
        const char *q;
        size_t at;
    } cases[] = {{"offset=0", 0},  {"offset=5", 5},   {"offset=12", 12},
                 {"offset=-4", 8}, {"offset=-99", 0}, {"offset=now", 12},
                 {"lines=2", 6},   {"lines=0", 12},   {"lines=9", 0}};
    size_t nc = sizeof(cases) / sizeof(*cases);
    tws *ws[16];
    tws_collect c[16];
    ths *hf[16], *hs[16];
    memset(c, 0, sizeof(c));
    for (size_t i = 0; i < nc; i++) {
        ws[i] = tws_connect(s->port, t_fmt("/o.txt?frames=binary&%s", cases[i].q), NULL, &r);
        CHECKF(ws[i], "WebSocket ?%s: %d", cases[i].q, r.status);
        const char *xo = thttp_header(&r, "X-Follow-Offset");
        CHECKF(xo && strtoull(xo, NULL, 10) == cases[i].at, "101 for ?%s: X-Follow-Offset %s",
               cases[i].q, xo ? xo : "(none)");
        thttp_free(&r);
        c[i].opcode = WS_OP_BINARY;
        hf[i] = ths_get(s->port, t_fmt("/o.txt?follow&%s", cases[i].q), NULL);
        CHECK(hf[i]);
        const char *bad = stream_head_problem(hf[i], TEXT_PLAIN, (long long)cases[i].at, 1);
        CHECKF(!bad, "?follow&%s: %s", cases[i].q, bad);
        hs[i] = ths_get(s->port, t_fmt("/o.txt?follow=sse&%s", cases[i].q), NULL);
        CHECK(hs[i]);
        bad = stream_head_problem(hs[i], SSE_TYPE, (long long)cases[i].at, 1);
        CHECKF(!bad, "SSE ?%s: %s", cases[i].q, bad);
    }
    for (size_t i = 0; i < nc; i++) {
        CHECKF(tws_collect_until(ws[i], &c[i], 12 - cases[i].at, T_TIMEOUT) == 0, "?%s: %s",
               cases[i].q, c[i].err);
        CHECKF(ths_until(hf[i], 12 - cases[i].at, T_TIMEOUT), "?follow&%s: %s", cases[i].q,
               hf[i]->err);
    }
    CHECK(ws_add(s, w, "o.txt", &want, "l5\n", 3) == 0);
    CHECK(ws_end(w) == 0);
    tws_free(w);
    for (size_t i = 0; i < nc; i++) {
        size_t at = cases[i].at;
        CHECKF(tws_collect_until(ws[i], &c[i], SIZE_MAX, T_TIMEOUT) == 0, "?%s: %s", cases[i].q,
               c[i].err);
        CHECK_INT(c[i].close_code, 1000);
        CHECKF(c[i].data.len == want.len - at && !memcmp(c[i].data.p, want.p + at, want.len - at),
               "WebSocket ?%s: [%.*s]", cases[i].q, (int)c[i].data.len, (const char *)c[i].data.p);
        CHECKF(ths_end(hf[i], T_TIMEOUT), "?follow&%s: %s", cases[i].q, hf[i]->err);
        CHECKF(hf[i]->body.len == want.len - at &&
                   !memcmp(hf[i]->body.p, want.p + at, want.len - at),
               "?follow&%s: [%.*s]", cases[i].q, (int)hf[i]->body.len, (const char *)hf[i]->body.p);
        CHECKF(ths_end(hs[i], T_TIMEOUT), "SSE ?%s: %s", cases[i].q, hs[i]->err);
        sse_parser p = {0};
        tbuf got = {0};
        char err[200];
        uint64_t end_id;
        sse_feed(&p, &hs[i]->body);
        CHECKF(!p.err[0] && sse_bytes(&p, at, &got, &end_id, err, sizeof(err)) == 0,
               "SSE ?%s: %s%s", cases[i].q, p.err, err);
        CHECK_MEM(got.p, got.len, want.p + at, want.len - at);
        CHECK_INT(end_id, want.len);
        sse_free(&p);
        tbuf_free(&got);
        tws_collect_free(&c[i]);
        tws_free(ws[i]);
        ths_free(hf[i]);
        ths_free(hs[i]);
    }

    /* past the end of a live resource: 416, on every transport */
    w = tws_append(s->port, "/o.txt");
    CHECK(w);
    tws *f = tws_connect(s->port, "/o.txt?offset=16", NULL, &r);
    CHECKF(!f && r.status == 416, "WebSocket past the end: %d", r.status);
    CHECK_STR(thttp_header(&r, "Content-Range"), "bytes */15");
    thttp_free(&r);
    CHECK(thttp_get(s->port, "/o.txt?follow&offset=16", NULL, &r) == 0);
    CHECK_INT(r.status, 416);
    CHECK_STR(thttp_header(&r, "Content-Range"), "bytes */15");
    thttp_free(&r);
    CHECK(thttp_get(s->port, "/o.txt?follow=sse&offset=999", NULL, &r) == 0);
    CHECK_INT(r.status, 416);
    thttp_free(&r);
    /* the WebSocket follow of a resource with no appender: the static answer from the offset */
    CHECK(ws_end(w) == 0);
    tws_free(w);
    f = tws_connect(s->port, "/o.txt?offset=-3", NULL, &r);
    CHECKF(!f && r.status == 200, "WebSocket, not live: %d", r.status);
    CHECK_MEM(r.body.p, r.body.len, "l5\n", 3);
    CHECK_STR(thttp_header(&r, "X-Follow-Offset"), "12");
    thttp_free(&r);
    tbuf_free(&want);
    tsrv_stop(s);
}

/* ---- ?wait -------------------------------------------------------------------------------------
 */

/* Followers of every kind wait for a resource that does not exist; a WebSocket appender creates
 * it and they all stream it from its first byte. Without ?wait: 404 and nothing created. */
static void test_wait_ws_appender(void)
{
    tsrv *s = tsrv_start(NULL);
    tbuf want = {0};
    thttp_resp r;
    CHECK(s);

    tws *f = tws_connect(s->port, "/later/w.txt", NULL, &r);
    CHECKF(!f && r.status == 404, "no ?wait: %d", r.status);
    thttp_free(&r);
    CHECK(thttp_get(s->port, "/later/w.txt?wait", NULL, &r) == 0); /* a plain GET: no stream */
    CHECK_INT(r.status, 404);
    thttp_free(&r);
    CHECK(!t_exists(tsrv_path(s, "later")));

    tws *f1 = tws_connect(s->port, "/later/w.txt?wait", NULL, &r);
    CHECKF(f1, "WebSocket ?wait: %d", r.status);
    CHECK_STR(thttp_header(&r, "X-Follow-Offset"), "0");
    thttp_free(&r);
    tws *f2 = tws_connect(s->port, "/later/w.txt?wait&frames=binary&offset=0", NULL, NULL);
    tws *other = tws_connect(s->port, "/later/other.txt?wait", NULL, NULL);
    ths *hf = ths_get(s->port, "/later/w.txt?follow&wait", NULL);
    ths *hs = ths_get(s->port, "/later/w.txt?wait", SSE_ACCEPT);
    CHECK(f1 && f2 && other && hf && hs);
    const char *bad = stream_head_problem(hf, TEXT_PLAIN, 0, 1);
    CHECKF(!bad, "?follow&wait: %s\n%s", bad, hf->r.head);
    bad = stream_head_problem(hs, SSE_TYPE, 0, 1);
    CHECKF(!bad, "SSE wait: %s\n%s", bad, hs->r.head);
    tws_frame fr;
    CHECK_INT(tws_read_type(f1, WS_EV_DATA, &fr, 150), TWS_TIMEOUT); /* quiet while waiting */
    CHECK(ths_quiet(hf, 50));
    CHECK(!t_exists(tsrv_path(s, "later")));

    tws *w = tws_append(s->port, "/later/w.txt");
    CHECK(w);
    CHECK(ws_add(s, w, "later/w.txt", &want, "born\n", 5) == 0);
    tws_collect c1 = {0}, c2 = {.opcode = WS_OP_BINARY}, co = {0};
    CHECKF(tws_collect_until(f1, &c1, 5, T_TIMEOUT) == 0, "%s", c1.err);
    CHECKF(tws_collect_until(f2, &c2, 5, T_TIMEOUT) == 0, "%s", c2.err);
    CHECKF(ths_until(hf, 5, T_TIMEOUT), "%s", hf->err);
    CHECKF(ths_until(hs, 1, T_TIMEOUT), "%s", hs->err);
    CHECK(ws_add(s, w, "later/w.txt", &want, "grows\n", 6) == 0);
    CHECK(ws_end(w) == 0);
    tws_free(w);
    CHECKF(tws_collect_until(f1, &c1, SIZE_MAX, T_TIMEOUT) == 0, "%s", c1.err);
    CHECKF(tws_collect_until(f2, &c2, SIZE_MAX, T_TIMEOUT) == 0, "%s", c2.err);
    CHECK_INT(c1.close_code, 1000);
    CHECK_MEM(c1.data.p, c1.data.len, want.p, want.len);
    CHECK_MEM(c2.data.p, c2.data.len, want.p, want.len);
    CHECKF(ths_end(hf, T_TIMEOUT), "%s", hf->err);
    CHECK_MEM(hf->body.p, hf->body.len, want.p, want.len);
    CHECKF(ths_end(hs, T_TIMEOUT), "%s", hs->err);
    sse_parser p = {0};
    tbuf got = {0};
    char err[200];
    uint64_t end_id;
    sse_feed(&p, &hs->body);
    CHECKF(!p.err[0] && sse_bytes(&p, 0, &got, &end_id, err, sizeof(err)) == 0, "%s%s", p.err, err);
    CHECK_MEM(got.p, got.len, want.p, want.len);
    /* the waiter for another path still waits */
    CHECK_INT(tws_collect_step(other, &co, 100), 0);
    CHECK_INT(co.bytes, 0);

    /* ?wait on a resource that exists and is live: an ordinary follow */
    w = tws_append(s->port, "/later/w.txt");
    CHECK(w);
    tws *f3 = tws_connect(s->port, "/later/w.txt?wait&offset=5", NULL, &r);
    CHECKF(f3, "?wait on a live resource: %d", r.status);
    CHECK_STR(thttp_header(&r, "X-Follow-Offset"), "5");
    thttp_free(&r);
    tws_collect c3 = {0};
    CHECKF(tws_collect_until(f3, &c3, 6, T_TIMEOUT) == 0, "%s", c3.err);
    CHECK(ws_end(w) == 0);
    tws_free(w);
    CHECKF(tws_collect_until(f3, &c3, SIZE_MAX, T_TIMEOUT) == 0, "%s", c3.err);
    CHECK_MEM(c3.data.p, c3.data.len, "grows\n", 6);

    sse_free(&p);
    tbuf_free(&got);
    tws_collect_free(&c1);
    tws_collect_free(&c2);
    tws_collect_free(&c3);
    tws_collect_free(&co);
    tws_free(f1);
    tws_free(f2);
    tws_free(f3);
    tws_free(other);
    ths_free(hf);
    ths_free(hs);
    tbuf_free(&want);
    tsrv_stop(s);
}

/* Followers waiting for a resource that a PUT creates: they get the body live, piece by piece,
 * and end when the PUT ends (answered 201). */
static void test_wait_put_appender(void)
{
    tsrv *s = tsrv_start(NULL);
    thttp_resp r;
    CHECK(s);
    tws *f = tws_connect(s->port, "/p/new.log?wait", NULL, NULL);
    ths *hf = ths_get(s->port, "/p/new.log?follow&wait", NULL);
    ths *hs = ths_get(s->port, "/p/new.log?follow=sse&wait", NULL);
    CHECK(f && hf && hs);
    CHECK_INT(hf->r.status, 200);
    CHECK_INT(hs->r.status, 200);
    int fd = put_open(s->port, "PUT", "/p/new.log", NULL);
    CHECK(fd >= 0);
    tws_collect c = {0};
    const char *pieces[] = {"alpha\n", "beta\n", "gamma"};
    size_t total = 0;
    for (int i = 0; i < 3; i++) {
        CHECK(put_chunk(fd, pieces[i], strlen(pieces[i])) == 0);
        total += strlen(pieces[i]);
        CHECKF(tws_collect_until(f, &c, total, T_TIMEOUT) == 0, "piece %d: %s", i, c.err);
        CHECKF(ths_until(hf, total, T_TIMEOUT), "piece %d: %s", i, hf->err);
    }
    CHECK(put_finish(fd, &r) == 0);
    close(fd);
    CHECKF(r.status == 201, "PUT that created the resource: %d", r.status);
    CHECK_STR(thttp_header(&r, "X-Resource-Size"), "16");
    thttp_free(&r);
    CHECKF(tws_collect_until(f, &c, SIZE_MAX, T_TIMEOUT) == 0, "%s", c.err);
    CHECK_MEM(c.data.p, c.data.len, "alpha\nbeta\ngamma", 16);
    CHECKF(ths_end(hf, T_TIMEOUT), "%s", hf->err);
    CHECK_MEM(hf->body.p, hf->body.len, "alpha\nbeta\ngamma", 16);
    CHECKF(ths_end(hs, T_TIMEOUT), "%s", hs->err);
    sse_parser p = {0};
    tbuf got = {0};
    char err[200];
    uint64_t end_id;
    sse_feed(&p, &hs->body);
    CHECKF(!p.err[0] && sse_bytes(&p, 0, &got, &end_id, err, sizeof(err)) == 0, "%s%s", p.err, err);
    CHECK_MEM(got.p, got.len, "alpha\nbeta\ngamma", 16);
    CHECK_INT(end_id, 16);
    sse_free(&p);
    tbuf_free(&got);
    tws_collect_free(&c);
    tws_free(f);
    ths_free(hf);
    ths_free(hs);
    tsrv_stop(s);
}

/* Waiting followers when the server stops: CLOSE 1001, and the SSE end event says shutdown. */
static void test_wait_shutdown(void)
{
    tsrv *s = tsrv_start(NULL);
    CHECK(s);
    tws *f = tws_connect(s->port, "/never.txt?wait", NULL, NULL);
    ths *hs = ths_get(s->port, "/never.txt?follow=sse&wait", NULL);
    ths *hf = ths_get(s->port, "/never.txt?follow&wait", NULL);
    CHECK(f && hs && hf);
    CHECK(ths_quiet(hs, 100));
    tsrv_term(s);
    tws_collect c = {0};
    CHECKF(tws_collect_until(f, &c, SIZE_MAX, 10000) == 0, "%s", c.err);
    CHECK_INT(c.close_code, 1001);
    CHECK_INT(c.bytes, 0);
    CHECKF(ths_end(hs, 10000), "%s", hs->err);
    const char *ev = "event: end\nid: 0\ndata: shutdown\n\n";
    CHECKF(hs->body.len == strlen(ev) && !memcmp(hs->body.p, ev, strlen(ev)), "[%.*s]",
           (int)hs->body.len, (const char *)hs->body.p);
    CHECKF(ths_end(hf, 10000), "%s", hf->err);
    CHECK_INT(hf->body.len, 0);
    tws_collect_free(&c);
    tws_free(f);
    ths_free(hs);
    ths_free(hf);
    tsrv_stop(s);
}

/* ---- PUT and POST ------------------------------------------------------------------------------
 */

/* Statuses, sizes and bodies of appends over HTTP, sized and chunked, PUT and POST. */
static void test_put_post_statuses(void)
{
    tsrv *s = tsrv_start(NULL);
    thttp_resp r;
    struct stat st;
    CHECK(s);

    CHECK(put_sized(s->port, "PUT", "/new/dir/a.log", NULL, "hello\n", 6, &r) == 0);
    CHECKF(r.status == 201, "PUT creating: %d\n%s", r.status, r.head);
    CHECK_STR(thttp_header(&r, "X-Resource-Size"), "6");
    CHECK_MEM(r.body.p, r.body.len, "6\n", 2);
    thttp_free(&r);
    CHECK(stat(tsrv_path(s, "new/dir"), &st) == 0);
    CHECKF((st.st_mode & 07777) == 0755, "dir mode %o", st.st_mode & 07777);
    CHECK(stat(tsrv_path(s, "new/dir/a.log"), &st) == 0);
    CHECKF((st.st_mode & 07777) == 0600, "file mode %o", st.st_mode & 07777);

    CHECK(put_sized(s->port, "PUT", "/new/dir/a.log", NULL, "world\n", 6, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK_STR(thttp_header(&r, "X-Resource-Size"), "12");
    CHECK_MEM(r.body.p, r.body.len, "12\n", 3);
    thttp_free(&r);
    CHECK(put_sized(s->port, "POST", "/new/dir/a.log", "X-Verb: APPEND\r\n", "post", 4, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK_STR(thttp_header(&r, "X-Resource-Size"), "16");
    thttp_free(&r);
    CHECK(put_sized(s->port, "POST", "/b.log", NULL, "x", 1, &r) == 0);
    CHECK_INT(r.status, 201);
    thttp_free(&r);

    /* chunked, several chunks, on PUT and POST */
    const char *methods[] = {"PUT", "POST"};
    for (int m = 0; m < 2; m++) {
        int fd = put_open(s->port, methods[m], "/c.log", NULL);
        CHECK(fd >= 0);
        CHECK(put_chunk(fd, "ab", 2) == 0);
        CHECK(put_chunk(fd, "cde", 3) == 0);
        CHECK(put_finish(fd, &r) == 0);
        close(fd);
        CHECK_INT(r.status, m == 0 ? 201 : 200);
        CHECK_STR(thttp_header(&r, "X-Resource-Size"), m == 0 ? "5" : "10");
        CHECK_MEM(r.body.p, r.body.len, m == 0 ? "5\n" : "10\n", m == 0 ? 2 : 3);
        thttp_free(&r);
    }
    tbuf b = file_of(s, "c.log");
    CHECK_MEM(b.p, b.len, "abcdeabcde", 10);
    tbuf_free(&b);
    b = file_of(s, "new/dir/a.log");
    CHECK_MEM(b.p, b.len, "hello\nworld\npost", 16);
    tbuf_free(&b);

    /* an empty body creates an empty resource (201, size 0); then 200 */
    CHECK(put_sized(s->port, "PUT", "/empty.log", NULL, "", 0, &r) == 0);
    CHECK_INT(r.status, 201);
    CHECK_STR(thttp_header(&r, "X-Resource-Size"), "0");
    CHECK_MEM(r.body.p, r.body.len, "0\n", 2);
    thttp_free(&r);
    CHECK(t_exists(tsrv_path(s, "empty.log")));
    CHECK(put_sized(s->port, "PUT", "/empty.log", NULL, "", 0, &r) == 0);
    CHECK_INT(r.status, 200);
    thttp_free(&r);

    /* keep-alive: two PUTs and a GET on one connection */
    int fd = t_connect(s->port);
    CHECK(fd >= 0);
    CHECK(t_send_str(fd, "PUT /k.log HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nk1"
                         "PUT /k.log HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nk2"
                         "GET /k.log HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n") == 0);
    CHECK(thttp_read(fd, &r, 0, T_TIMEOUT) == 0);
    CHECK_INT(r.status, 201);
    thttp_free(&r);
    CHECK(thttp_read(fd, &r, 0, T_TIMEOUT) == 0);
    CHECK_INT(r.status, 200);
    CHECK_STR(thttp_header(&r, "X-Resource-Size"), "4");
    thttp_free(&r);
    CHECK(thttp_read(fd, &r, 0, T_TIMEOUT) == 0);
    CHECK_INT(r.status, 200);
    CHECK_MEM(r.body.p, r.body.len, "k1k2", 4);
    thttp_free(&r);
    close(fd);

    /* directories and files in the way: 409, nothing written */
    CHECK(put_sized(s->port, "PUT", "/new/dir", NULL, "x", 1, &r) == 0);
    CHECK_INT(r.status, 409);
    thttp_free(&r);
    CHECK(put_sized(s->port, "POST", "/b.log/under", NULL, "x", 1, &r) == 0);
    CHECK_INT(r.status, 409);
    thttp_free(&r);
    b = file_of(s, "b.log");
    CHECK_MEM(b.p, b.len, "x", 1);
    tbuf_free(&b);

    /* other methods: 405 with Allow */
    const char *other[] = {"DELETE", "PATCH", "OPTIONS"};
    for (int i = 0; i < 3; i++) {
        CHECK(put_sized(s->port, other[i], "/b.log", NULL, "zz", 2, &r) == 0);
        CHECKF(r.status == 405, "%s: %d", other[i], r.status);
        CHECK_STR(thttp_header(&r, "Allow"), "GET, HEAD, PUT, POST");
        thttp_free(&r);
    }
    b = file_of(s, "b.log");
    CHECK_MEM(b.p, b.len, "x", 1);
    tbuf_free(&b);
    tsrv_stop(s);
}

/* X-Append-Offset and Content-Range: bytes N-*\/\*: match appends, mismatch appends nothing (409
 * or 416 with the size), malformed is 400. */
static void test_put_expected_offset(void)
{
    tsrv *s = tsrv_start(NULL);
    thttp_resp r;
    CHECK(s);
    CHECK(put_sized(s->port, "PUT", "/x.log", "X-Append-Offset: 0\r\n", "12345", 5, &r) == 0);
    CHECK_INT(r.status, 201);
    thttp_free(&r);
    CHECK(put_sized(s->port, "PUT", "/x.log", "X-Append-Offset: 5\r\n", "678", 3, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK_STR(thttp_header(&r, "X-Resource-Size"), "8");
    thttp_free(&r);
    CHECK(put_sized(s->port, "POST", "/x.log", "Content-Range: bytes 8-*/*\r\n", "9", 1, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK_STR(thttp_header(&r, "X-Resource-Size"), "9");
    thttp_free(&r);

    /* stale sizes: nothing appended */
    const char *stale[] = {"X-Append-Offset: 8\r\n", "X-Append-Offset: 10\r\n",
                           "X-Append-Offset: 0\r\n"};
    for (int i = 0; i < 3; i++) {
        CHECK(put_sized(s->port, "PUT", "/x.log", stale[i], "NO", 2, &r) == 0);
        CHECKF(r.status == 409, "%s-> %d", stale[i], r.status);
        CHECK_STR(thttp_header(&r, "X-Resource-Size"), "9");
        thttp_free(&r);
    }
    const char *stale_range[] = {"Content-Range: bytes 8-*/*\r\n",
                                 "Content-Range: bytes 99-*/*\r\n"};
    for (int i = 0; i < 2; i++) {
        CHECK(put_sized(s->port, "POST", "/x.log", stale_range[i], "NO", 2, &r) == 0);
        CHECKF(r.status == 416, "%s-> %d", stale_range[i], r.status);
        CHECK_STR(thttp_header(&r, "X-Resource-Size"), "9");
        CHECK_STR(thttp_header(&r, "Content-Range"), "bytes */9");
        thttp_free(&r);
    }
    /* a stale chunked body with 100-continue: no 100, the answer at once */
    int fd = put_open(s->port, "PUT", "/x.log", "X-Append-Offset: 3\r\nExpect: 100-continue\r\n");
    CHECK(fd >= 0);
    CHECK(thttp_read(fd, &r, 0, T_TIMEOUT) == 0);
    CHECK_INT(r.status, 409);
    thttp_free(&r);
    close(fd);

    const char *bad[] = {"X-Append-Offset: -1\r\n",         "X-Append-Offset: abc\r\n",
                         "X-Append-Offset: 9x\r\n",         "X-Append-Offset: +9\r\n",
                         "Content-Range: bytes 0-9/10\r\n", "Content-Range: bytes */9\r\n",
                         "Content-Range: items 9-*/*\r\n",  "Content-Range: bytes 9-*/10\r\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        CHECK(put_sized(s->port, "PUT", "/x.log", bad[i], "NO", 2, &r) == 0);
        EXPECTF(r.status == 400, "%s-> %d", bad[i], r.status);
        thttp_free(&r);
    }
    tbuf b = file_of(s, "x.log");
    CHECK_MEM(b.p, b.len, "123456789", 9);
    tbuf_free(&b);

    /* a stale offset for a resource that does not exist: 409 (size 0), and it still does not */
    CHECK(put_sized(s->port, "PUT", "/fresh.log", "X-Append-Offset: 4\r\n", "NO", 2, &r) == 0);
    CHECK_INT(r.status, 409);
    CHECK_STR(thttp_header(&r, "X-Resource-Size"), "0");
    thttp_free(&r);
    CHECK(put_sized(s->port, "PUT", "/fresh2.log", "Content-Range: bytes 4-*/*\r\n", "NO", 2, &r) ==
          0);
    CHECK_INT(r.status, 416);
    thttp_free(&r);
    CHECK(thttp_get(s->port, "/fresh.log", NULL, &r) == 0);
    EXPECTF(r.status == 404,
            "after a refused PUT, GET of the new resource: %d (want 404: "
            "\"appends nothing\" should leave no empty resource behind)",
            r.status);
    thttp_free(&r);
    EXPECTF(!t_exists(tsrv_path(s, "fresh.log")) && !t_exists(tsrv_path(s, "fresh2.log")),
            "a refused PUT created the file");
    /* ... so that the first real append reports that it created it */
    CHECK(put_sized(s->port, "PUT", "/fresh.log", "X-Append-Offset: 0\r\n", "ok", 2, &r) == 0);
    EXPECTF(r.status == 201, "first successful PUT after a refused one: %d, want 201", r.status);
    thttp_free(&r);
    tsrv_stop(s);
}

/* Expect: 100-continue gets 100 once the slot is taken, before the body is sent. */
static void test_put_expect_continue(void)
{
    tsrv *s = tsrv_start(NULL);
    thttp_resp r;
    char buf[256];
    CHECK(s);
    int fd = t_connect(s->port);
    CHECK(fd >= 0);
    CHECK(t_send_str(fd, "PUT /e.log HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
                         "Expect: 100-continue\r\n\r\n") == 0);
    const char *cont = "HTTP/1.1 100 Continue\r\n\r\n";
    size_t have = 0;
    while (have < strlen(cont)) {
        ssize_t n = t_recv(fd, buf + have, strlen(cont) - have, T_TIMEOUT);
        CHECKF(n > 0, "no 100 Continue (%zd)", n);
        have += (size_t)n;
    }
    CHECK_MEM(buf, have, cont, strlen(cont));
    /* the slot is ours now: a second appender is refused while the body has not come */
    tws *w2 = tws_connect(s->port, "/e.log", "X-Verb: APPEND\r\n", &r);
    CHECKF(!w2 && r.status == 403, "WebSocket appender during a PUT: %d", r.status);
    thttp_free(&r);
    CHECK(t_send_str(fd, "body") == 0);
    CHECK(thttp_read(fd, &r, 0, T_TIMEOUT) == 0);
    CHECK_INT(r.status, 201);
    CHECK_STR(thttp_header(&r, "X-Resource-Size"), "4");
    thttp_free(&r);
    close(fd);
    tsrv_stop(s);
}

/* One appender per resource, whichever way it came: WebSocket blocks PUT/POST, PUT blocks
 * WebSocket and other PUTs (403, the same body, nothing appended, no 100-continue). */
static void test_single_appender_rule(void)
{
    tsrv *s = tsrv_start(NULL);
    thttp_resp r;
    tbuf want = {0};
    CHECK(s);
    tws *w = tws_append(s->port, "/one.log");
    CHECK(w);
    CHECK(ws_add(s, w, "one.log", &want, "ws\n", 3) == 0);
    const char *methods[] = {"PUT", "POST"};
    for (int m = 0; m < 2; m++) {
        CHECK(put_sized(s->port, methods[m], "/one.log", NULL, "no\n", 3, &r) == 0);
        CHECKF(r.status == 403, "%s during a WebSocket append: %d", methods[m], r.status);
        CHECK_MEM(r.body.p, r.body.len, BUSY_BODY, strlen(BUSY_BODY));
        thttp_free(&r);
    }
    int fd = put_open(s->port, "PUT", "/one.log", "Expect: 100-continue\r\n");
    CHECK(fd >= 0);
    CHECK(thttp_read(fd, &r, 0, T_TIMEOUT) == 0);
    CHECKF(r.status == 403, "PUT with 100-continue during a WebSocket append: %d", r.status);
    CHECK_MEM(r.body.p, r.body.len, BUSY_BODY, strlen(BUSY_BODY));
    thttp_free(&r);
    close(fd);
    CHECK(ws_add(s, w, "one.log", &want, "ws2\n", 4) == 0);
    CHECK(ws_end(w) == 0);
    tws_free(w);

    /* now a PUT holds the slot */
    fd = put_open(s->port, "PUT", "/one.log", NULL);
    CHECK(fd >= 0);
    CHECK(put_chunk(fd, "put\n", 4) == 0);
    tbuf_adds(&want, "put\n");
    CHECK(t_file_wait_eq(tsrv_path(s, "one.log"), want.p, want.len, 5000));
    tws *w2 = tws_connect(s->port, "/one.log", "X-Verb: APPEND\r\n", &r);
    CHECKF(!w2 && r.status == 403, "WebSocket appender during a PUT: %d", r.status);
    CHECK_MEM(r.body.p, r.body.len, BUSY_BODY, strlen(BUSY_BODY));
    thttp_free(&r);
    CHECK(thttp_get(s->port, "/one.log?verb=APPEND", NULL, &r) == 0);
    CHECK_INT(r.status, 403);
    thttp_free(&r);
    for (int m = 0; m < 2; m++) {
        CHECK(put_sized(s->port, methods[m], "/one.log", NULL, "no\n", 3, &r) == 0);
        CHECKF(r.status == 403, "%s during a PUT: %d", methods[m], r.status);
        thttp_free(&r);
    }
    CHECK(put_chunk(fd, "put2\n", 5) == 0);
    tbuf_adds(&want, "put2\n");
    CHECK(put_finish(fd, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK_STR(thttp_header(&r, "X-Resource-Size"), t_fmt("%zu", want.len));
    thttp_free(&r);
    close(fd);
    tbuf b = file_of(s, "one.log");
    CHECK_MEM(b.p, b.len, want.p, want.len);
    tbuf_free(&b);
    /* free again: a WebSocket appender gets in */
    w = tws_append(s->port, "/one.log");
    CHECK(w);
    CHECK(ws_end(w) == 0);
    tws_free(w);
    tbuf_free(&want);
    tsrv_stop(s);
}

/* Followers of every kind see a PUT body as it arrives (chunked, then sized in pieces), and end
 * when it ends; a listing shows the resource live meanwhile. */
static void test_followers_get_put_live(void)
{
    tsrv *s = tsrv_start(NULL);
    thttp_resp r;
    tbuf want = {0};
    CHECK(s);
    for (int sized = 0; sized < 2; sized++) {
        const char *name = sized ? "sized.log" : "chunked.log";
        char path[32];
        snprintf(path, sizeof(path), "/%s", name);
        const char *pieces[] = {"first\n", "second\n", "\xe2\x82", "\xac third\n", "last"};
        size_t total_len = 0;
        for (int i = 0; i < 5; i++)
            total_len += strlen(pieces[i]);
        int fd;
        if (sized) {
            CHECK(t_file_write(tsrv_path(s, name), "old\n", 4) == 0);
            fd = t_connect(s->port);
            CHECK(fd >= 0);
            CHECK(t_send_str(fd, t_fmt("POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n",
                                       path, total_len)) == 0);
        } else {
            fd = put_open(s->port, "PUT", path, NULL);
            CHECK(fd >= 0);
        }
        want.len = 0;
        if (sized)
            tbuf_adds(&want, "old\n");
        /* the first piece makes the resource live; then the followers join */
        if (sized)
            CHECK(t_send_str(fd, pieces[0]) == 0);
        else
            CHECK(put_chunk(fd, pieces[0], strlen(pieces[0])) == 0);
        tbuf_adds(&want, pieces[0]);
        CHECK(t_file_wait_eq(tsrv_path(s, name), want.p, want.len, 5000));
        tws *ft = tws_follow(s->port, path);
        tws *fb = tws_connect(s->port, t_fmt("%s?frames=binary", path), NULL, NULL);
        ths *hf = ths_get(s->port, t_fmt("%s?follow", path), NULL);
        ths *hs = ths_get(s->port, path, SSE_ACCEPT);
        CHECK(ft && fb && hf && hs);
        CHECK(thttp_get(s->port, "/", "Accept: application/json\r\n", &r) == 0);
        CHECKF(thttp_contains(&r, t_fmt("\"name\":\"%s\",\"type\":\"file\",\"size\":%zu,"
                                        "\"live\":true",
                                        name, want.len)),
               "listing during the PUT: %.*s", (int)r.body.len, (const char *)r.body.p);
        thttp_free(&r);
        tws_collect ct = {.utf8 = 1}, cb = {.opcode = WS_OP_BINARY};
        for (int i = 1; i < 5; i++) {
            if (sized)
                CHECK(t_send_str(fd, pieces[i]) == 0);
            else
                CHECK(put_chunk(fd, pieces[i], strlen(pieces[i])) == 0);
            tbuf_adds(&want, pieces[i]);
            if (i == 2)
                continue; /* half a character: TEXT followers wait for the rest */
            CHECKF(tws_collect_until(ft, &ct, want.len, T_TIMEOUT) == 0, "%s piece %d: %s", name, i,
                   ct.err);
            CHECKF(tws_collect_until(fb, &cb, want.len, T_TIMEOUT) == 0, "%s piece %d: %s", name, i,
                   cb.err);
            CHECKF(ths_until(hf, want.len, T_TIMEOUT), "%s piece %d: %s", name, i, hf->err);
            CHECK_MEM(hf->body.p, hf->body.len, want.p, want.len);
        }
        if (sized)
            CHECK(thttp_read(fd, &r, 0, T_TIMEOUT) == 0);
        else
            CHECK(put_finish(fd, &r) == 0);
        close(fd);
        CHECK_INT(r.status, sized ? 200 : 201);
        CHECK_STR(thttp_header(&r, "X-Resource-Size"), t_fmt("%zu", want.len));
        thttp_free(&r);
        CHECKF(tws_collect_until(ft, &ct, SIZE_MAX, T_TIMEOUT) == 0, "%s", ct.err);
        CHECKF(tws_collect_until(fb, &cb, SIZE_MAX, T_TIMEOUT) == 0, "%s", cb.err);
        CHECK_INT(ct.close_code, 1000);
        CHECK_INT(cb.close_code, 1000);
        CHECK_MEM(ct.data.p, ct.data.len, want.p, want.len);
        CHECK_MEM(cb.data.p, cb.data.len, want.p, want.len);
        CHECKF(ths_end(hf, T_TIMEOUT), "%s", hf->err);
        CHECK_MEM(hf->body.p, hf->body.len, want.p, want.len);
        CHECKF(ths_end(hs, T_TIMEOUT), "%s", hs->err);
        sse_parser p = {0};
        tbuf got = {0};
        char err[200];
        uint64_t end_id;
        sse_feed(&p, &hs->body);
        CHECKF(!p.err[0] && sse_bytes(&p, 0, &got, &end_id, err, sizeof(err)) == 0, "%s%s", p.err,
               err);
        CHECK_MEM(got.p, got.len, want.p, want.len);
        sse_free(&p);
        tbuf_free(&got);
        tws_collect_free(&ct);
        tws_collect_free(&cb);
        tws_free(ft);
        tws_free(fb);
        ths_free(hf);
        ths_free(hs);
        CHECK(thttp_get(s->port, "/", "Accept: application/json\r\n", &r) == 0);
        CHECKF(thttp_contains(&r, t_fmt("\"name\":\"%s\",\"type\":\"file\",\"size\":%zu,"
                                        "\"live\":false",
                                        name, want.len)),
               "listing after the PUT: %.*s", (int)r.body.len, (const char *)r.body.p);
        thttp_free(&r);
    }
    tbuf_free(&want);
    tsrv_stop(s);
}

/* A body cut short keeps what arrived, ends the followers and frees the slot. */
static void test_put_cut_short(void)
{
    tsrv *s = tsrv_start(NULL);
    thttp_resp r;
    CHECK(s);
    for (int rst = 0; rst < 2; rst++) {
        const char *path = rst ? "/cut1.log" : "/cut0.log";
        int fd = t_connect(s->port);
        CHECK(fd >= 0);
        CHECK(t_send_str(fd, t_fmt("PUT %s HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"
                                   "ten bytes!",
                                   path)) == 0);
        CHECK(t_file_wait_eq(tsrv_path(s, path + 1), "ten bytes!", 10, 5000));
        ths *hf = ths_get(s->port, t_fmt("%s?follow", path), NULL);
        CHECK(hf);
        CHECK(ths_until(hf, 10, T_TIMEOUT));
        if (rst)
            t_close_rst(fd);
        else
            close(fd);
        CHECKF(ths_end(hf, T_TIMEOUT), "%s", hf->err);
        CHECK_MEM(hf->body.p, hf->body.len, "ten bytes!", 10);
        ths_free(hf);
        CHECK(put_sized(s->port, "PUT", path, "X-Append-Offset: 10\r\n", "+", 1, &r) == 0);
        CHECKF(r.status == 200, "PUT after a cut one: %d", r.status);
        CHECK_STR(thttp_header(&r, "X-Resource-Size"), "11");
        thttp_free(&r);
    }
    tsrv_stop(s);
}

/* -max-size: the crossing append gets 413 and writes nothing of its body piece; a file that cannot
 * grow (RLIMIT_FSIZE): 500; bytes before stay; the slot is freed. */
static void test_put_limits(void)
{
    const char *flags[] = {"-max-size=10", NULL};
    tsrv *s = tsrv_start(flags);
    thttp_resp r;
    CHECK(s);
    CHECK(put_sized(s->port, "PUT", "/m.log", NULL, "12345678", 8, &r) == 0);
    CHECK_INT(r.status, 201);
    thttp_free(&r);
    CHECK(put_sized(s->port, "PUT", "/m.log", NULL, "abcde", 5, &r) == 0);
    CHECKF(r.status == 413, "crossing -max-size: %d", r.status);
    CHECK_STR(thttp_header(&r, "X-Resource-Size"), "8");
    thttp_free(&r);
    tbuf b = file_of(s, "m.log");
    CHECK_MEM(b.p, b.len, "12345678", 8);
    tbuf_free(&b);
    CHECK(put_sized(s->port, "PUT", "/m.log", NULL, "90", 2, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK_STR(thttp_header(&r, "X-Resource-Size"), "10");
    thttp_free(&r);
    tsrv_stop(s);

    /* the server's log shares the limit: it stays far below it */
    s = tsrv_start_rlimits(NULL, 100000, 0);
    CHECK(s);
    uint8_t *chunk = malloc(60000);
    memset(chunk, 'z', 60000);
    CHECK(put_sized(s->port, "PUT", "/big.log", NULL, chunk, 60000, &r) == 0);
    CHECK_INT(r.status, 201);
    thttp_free(&r);
    CHECK(put_sized(s->port, "PUT", "/big.log", NULL, chunk, 60000, &r) == 0);
    free(chunk);
    CHECKF(r.status == 500 || r.status == 507, "write past RLIMIT_FSIZE: %d", r.status);
    const char *size = thttp_header(&r, "X-Resource-Size");
    tbuf b2 = file_of(s, "big.log");
    CHECKF(size && strtoull(size, NULL, 10) == b2.len && b2.len >= 60000 && b2.len <= 100000,
           "X-Resource-Size %s, file %zu bytes", size ? size : "(none)", b2.len);
    tbuf_free(&b2);
    thttp_free(&r);
    CHECK(put_sized(s->port, "PUT", "/other.log", NULL, "fine", 4, &r) == 0);
    CHECK_INT(r.status, 201);
    thttp_free(&r);
    tsrv_stop(s);
}

/* ---- listings ----------------------------------------------------------------------------------
 */

/* The body without whitespace outside JSON strings. */
static const char *json_squeeze(const thttp_resp *r)
{
    static char out[8192];
    size_t o = 0;
    int in_str = 0;
    for (size_t i = 0; i < r->body.len && o + 1 < sizeof(out); i++) {
        char c = (char)r->body.p[i];
        if (in_str) {
            out[o++] = c;
            if (c == '\\' && i + 1 < r->body.len)
                out[o++] = (char)r->body.p[++i];
            else if (c == '"')
                in_str = 0;
        } else if (c == '"') {
            in_str = 1;
            out[o++] = c;
        } else if (c != ' ' && c != '\n' && c != '\t' && c != '\r') {
            out[o++] = c;
        }
    }
    out[o] = '\0';
    return out;
}

/* s (a squeezed JSON listing) without its "mtime" members, which must each be RFC 3339 in UTC with
 * milliseconds ("2024-05-01T12:00:03.123Z"); *count is how many there were, or -1 when one was
 * malformed. */
static const char *json_drop_mtimes(const char *s, int *count)
{
    static char out[8192];
    const char *key = ",\"mtime\":\"";
    size_t o = 0, klen = strlen(key);

    *count = 0;
    while (*s && o + 1 < sizeof(out)) {
        if (strncmp(s, key, klen) != 0) {
            out[o++] = *s++;
            continue;
        }
        const char *t = s + klen;
        int ok = strlen(t) > 25 && t[24] == '"' && t[4] == '-' && t[7] == '-' && t[10] == 'T' &&
                 t[13] == ':' && t[16] == ':' && t[19] == '.' && t[23] == 'Z';
        for (int i = 0; ok && i < 23; i++)
            if (i != 4 && i != 7 && i != 10 && i != 13 && i != 16 && i != 19)
                ok = t[i] >= '0' && t[i] <= '9';
        if (!ok) {
            *count = -1;
            break;
        }
        ++*count;
        s = t + 25;
    }
    out[o] = '\0';
    return out;
}

/* A file's modification time as the listings give it (UTC, RFC 3339 with milliseconds). */
static const char *file_mtime(const char *path)
{
    struct stat sb;
    struct tm tm;
    char s[40];

    if (stat(path, &sb) != 0 || !gmtime_r(&sb.st_mtim.tv_sec, &tm))
        return "(no time)";
    strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%S", &tm);
    return t_fmt("%s.%03dZ", s, (int)(sb.st_mtim.tv_nsec / 1000000));
}

/* The HTML table row (<tr>...</tr>) that contains needle, or "". */
static const char *html_row(const thttp_resp *r, const char *needle)
{
    const char *body = (const char *)r->body.p;
    const char *at = t_contains(r->body.p, r->body.len, needle) ? strstr(body, needle) : NULL;
    if (!at)
        return "";
    const char *start = at;
    while (start > body && strncmp(start, "<tr", 3) != 0)
        start--;
    const char *end = strstr(at, "</tr>");
    return end ? t_fmt("%.*s", (int)(end - start + 5), start) : "";
}

static void test_listings(void)
{
    tsrv *s = tsrv_start(NULL);
    thttp_resp r;
    CHECK(s);
    CHECK(mkdir(tsrv_path(s, "d"), 0755) == 0);
    CHECK(mkdir(tsrv_path(s, "d/sub"), 0755) == 0);
    CHECK(mkdir(tsrv_path(s, "empty"), 0755) == 0);
    CHECK(t_file_write(tsrv_path(s, "d/b.txt"), "12345", 5) == 0);
    CHECK(t_file_write(tsrv_path(s, "d/<x>&'.txt"), "", 0) == 0);
    CHECK(t_file_write(tsrv_path(s, "d/q\"\\.txt"), "q", 1) == 0);
    CHECK(t_file_write(tsrv_path(s, "d/bad\xff.txt"), "bb", 2) == 0);
    CHECK(t_file_write(tsrv_path(s, "d/c\x01tl"), "ccc", 3) == 0);
    tws *w = tws_append(s->port, "/d/a.log");
    CHECK(w);
    tbuf want = {0};
    CHECK(ws_add(s, w, "d/a.log", &want, "twelve bytes", 12) == 0);

    /* JSON */
    const char *json_accepts[] = {"Accept: application/json\r\n",
                                  "Accept: application/json, text/html;q=0.5\r\n",
                                  "Accept: text/html;q=0.1, application/json;q=0.9\r\n"};
    for (int i = 0; i < 3; i++) {
        CHECK(thttp_get(s->port, "/d/", json_accepts[i], &r) == 0);
        CHECK_INT(r.status, 200);
        const char *ct = thttp_header(&r, "Content-Type");
        CHECKF(ct && !strncmp(ct, "application/json", 16), "%s: Content-Type %s", json_accepts[i],
               ct ? ct : "(none)");
        CHECKF(thttp_header(&r, "Vary") && strcasestr(thttp_header(&r, "Vary"), "Accept"),
               "no Vary: Accept");
        /* every entry has its time; without them, the entries as they always were */
        int times;
        const char *squeezed = json_drop_mtimes(json_squeeze(&r), &times);
        CHECKF(times == 7, "%d well-formed mtimes in %s", times, json_squeeze(&r));
        CHECK(thttp_contains(&r, t_fmt("\"name\":\"b.txt\",\"type\":\"file\",\"size\":5,"
                                       "\"live\":false,\"mtime\":\"%s\"}",
                                       file_mtime(tsrv_path(s, "d/b.txt")))));
        CHECK(thttp_contains(&r, t_fmt("\"name\":\"sub\",\"type\":\"dir\",\"mtime\":\"%s\"}",
                                       file_mtime(tsrv_path(s, "d/sub")))));
        CHECK_STR(squeezed,
                  "{\"path\":\"/d/\",\"entries\":["
                  "{\"name\":\"<x>&'.txt\",\"type\":\"file\",\"size\":0,\"live\":false},"
                  "{\"name\":\"a.log\",\"type\":\"file\",\"size\":12,\"live\":true},"
                  "{\"name\":\"b.txt\",\"type\":\"file\",\"size\":5,\"live\":false},"
                  "{\"name\":\"bad\\ufffd.txt\",\"type\":\"file\",\"size\":2,\"live\":false},"
                  "{\"name\":\"c\\u0001tl\",\"type\":\"file\",\"size\":3,\"live\":false},"
                  "{\"name\":\"q\\\"\\\\.txt\",\"type\":\"file\",\"size\":1,\"live\":false},"
                  "{\"name\":\"sub\",\"type\":\"dir\"}]}");
        thttp_free(&r);
    }
    CHECK(thttp_get(s->port, "/empty/", "Accept: application/json\r\n", &r) == 0);
    CHECK_STR(json_squeeze(&r), "{\"path\":\"/empty/\",\"entries\":[]}");
    thttp_free(&r);

    /* HTML for browsers: a table with sizes, the live marker on the live resource only */
    CHECK(thttp_get(s->port, "/d/", BROWSER_ACCEPT, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK(!strncmp(thttp_header(&r, "Content-Type"), "text/html", 9));
    CHECKF(thttp_contains(&r, "<table"), "no table: %.*s", (int)r.body.len, (const char *)r.body.p);
    const char *row = html_row(&r, ">a.log<");
    CHECKF(strstr(row, ">12<") && strstr(row, "live"), "a.log row: %s", row);
    row = html_row(&r, ">b.txt<");
    CHECKF(strstr(row, ">5<") && !strstr(row, "live"), "b.txt row: %s", row);
    row = html_row(&r, "sub/");
    CHECKF(*row && !strstr(row, "live"), "sub row: %s", row);
    /* names are escaped: no markup from a name gets through */
    CHECKF(!thttp_contains(&r, "<x>") && thttp_contains(&r, "&lt;x&gt;&amp;&#39;.txt"),
           "escaping: %.*s", (int)r.body.len, (const char *)r.body.p);
    CHECK(thttp_contains(&r, "q&#34;\\.txt") || thttp_contains(&r, "q&quot;\\.txt"));
    CHECK(!thttp_contains(&r, "href=\"q\"")); /* the quote does not end the attribute */
    thttp_free(&r);
    CHECK(thttp_get(s->port, "/d/", "Accept: text/html\r\n", &r) == 0);
    CHECK(thttp_contains(&r, "<table"));
    thttp_free(&r);

    /* the original's <pre> for everyone else (curl's Accept, none, plain text) */
    CHECK(t_file_write(tsrv_path(s, "empty/x.txt"), "x", 1) == 0);
    CHECK(mkdir(tsrv_path(s, "empty/y"), 0755) == 0);
    const char *others[] = {NULL, "Accept: */*\r\n", "Accept: text/plain\r\n",
                            "Accept: text/html;q=0.2, text/plain\r\n"};
    for (int i = 0; i < 4; i++) {
        CHECK(thttp_get(s->port, "/empty/", others[i], &r) == 0);
        CHECK_INT(r.status, 200);
        const char *pre = "<pre>\n<a href=\"x.txt\">x.txt</a>\n<a href=\"y/\">y/</a>\n</pre>\n";
        CHECKF(r.body.len == strlen(pre) && !memcmp(r.body.p, pre, r.body.len), "%s: [%.*s]",
               others[i] ? others[i] : "no Accept", (int)r.body.len, (const char *)r.body.p);
        thttp_free(&r);
    }

    /* after the appender leaves, not live any more */
    CHECK(ws_end(w) == 0);
    tws_free(w);
    CHECK(thttp_get(s->port, "/d/", "Accept: application/json\r\n", &r) == 0);
    CHECK(thttp_contains(&r, "\"name\":\"a.log\",\"type\":\"file\",\"size\":12,\"live\":false"));
    thttp_free(&r);
    CHECK(thttp_get(s->port, "/d/", BROWSER_ACCEPT, &r) == 0);
    row = html_row(&r, ">a.log<");
    CHECKF(*row && !strstr(row, "live"), "a.log row after the end: %s", row);
    thttp_free(&r);
    tbuf_free(&want);
    tsrv_stop(s);
}

/* The page browsers get for a directory: the server's own page under a strict policy that lets its
 * script poll its own origin (and a page opened on it use WebSockets), self-contained, its holes
 * filled with the path and rows (escaped), each row with its time; "../" below the root only. */
static void test_listing_page(void)
{
    tsrv *s = tsrv_start(NULL);
    thttp_resp r;
    CHECK(s);
    CHECK(mkdir(tsrv_path(s, "a&<b>"), 0755) == 0);
    CHECK(mkdir(tsrv_path(s, "a&<b>/sub"), 0755) == 0);
    CHECK(t_file_write(tsrv_path(s, "a&<b>/f.txt"), "12345", 5) == 0);
    tws *w = tws_append(s->port, "/a&%3Cb%3E/live.log");
    CHECK(w);
    tbuf want = {0};
    CHECK(ws_add(s, w, "a&<b>/live.log", &want, "abc", 3) == 0);

    CHECK(thttp_get(s->port, "/a&%3Cb%3E/", BROWSER_ACCEPT, &r) == 0);
    CHECK_INT(r.status, 200);
    const char *csp = thttp_header(&r, "Content-Security-Policy");
    CHECKF(csp && strstr(csp, "default-src 'none'") && strstr(csp, "connect-src 'self'") &&
               strstr(csp, "ws:") && !strstr(csp, "sandbox"),
           "listing CSP: %s", csp ? csp : "(none)");
    CHECK(thttp_header(&r, "Vary") && strcasestr(thttp_header(&r, "Vary"), "Accept"));
    /* self-contained */
    CHECK(!thttp_contains(&r, "<link"));
    CHECK(!thttp_contains(&r, " src="));
    CHECK(!thttp_contains(&r, "@import"));
    CHECK(!thttp_contains(&r, "url("));
    CHECK(thttp_contains(&r, "<script"));
    /* every hole filled: the path as text in the title and the header */
    CHECK(!thttp_contains(&r, "{{"));
    CHECK(!thttp_contains(&r, "<b>"));
    CHECK(thttp_contains(&r, "<title>/a&amp;&lt;b&gt;/</title>"));
    CHECK(thttp_contains(&r, ">/a&amp;&lt;b&gt;/</h1>"));
    /* rows: "../", the directory, the file with its size and time, the live one marked */
    CHECK(*html_row(&r, "href=\"../\""));
    const char *row = html_row(&r, ">f.txt<");
    CHECKF(
        strstr(row, ">5<") && !strstr(row, "live") &&
            strstr(row, t_fmt("<time datetime=\"%s\">", file_mtime(tsrv_path(s, "a&<b>/f.txt")))),
        "f.txt row: %s", row);
    row = html_row(&r, ">sub/<");
    CHECKF(strstr(row, "class=\"dir\"") && strstr(row, "<time datetime=\"") && !strstr(row, "live"),
           "sub row: %s", row);
    row = html_row(&r, ">live.log<");
    CHECKF(strstr(row, ">3<") && strstr(row, "class=\"live\""), "live.log row: %s", row);
    thttp_free(&r);

    /* the root: no "../" */
    CHECK(thttp_get(s->port, "/", BROWSER_ACCEPT, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK(thttp_contains(&r, "<title>/</title>"));
    CHECK(!thttp_contains(&r, "href=\"../\""));
    CHECK(*html_row(&r, "href=\"a&amp;%3Cb%3E/\""));
    thttp_free(&r);

    /* the JSON and <pre> listings have no page policy (they are not pages) */
    const char *others[] = {"Accept: application/json\r\n", NULL};
    for (int i = 0; i < 2; i++) {
        CHECK(thttp_get(s->port, "/a&%3Cb%3E/", others[i], &r) == 0);
        CHECK_INT(r.status, 200);
        CHECK(!thttp_header(&r, "Content-Security-Policy"));
        thttp_free(&r);
    }
    CHECK(ws_end(w) == 0);
    tws_free(w);
    tbuf_free(&want);
    tsrv_stop(s);
}

/* ---- the viewer page ---------------------------------------------------------------------------
 */

static int is_viewer(const thttp_resp *r)
{
    const char *ct = thttp_header(r, "Content-Type");
    return r->status == 200 && ct && !strncmp(ct, "text/html", 9) &&
           thttp_contains(r, "id=\"log\"") && thttp_contains(r, "<script");
}

static void test_viewer_routes(void)
{
    tsrv *s = tsrv_start(NULL);
    thttp_resp r;
    CHECK(s);
    CHECK(t_file_write(tsrv_path(s, "v.log"), "log text\n", 9) == 0);
    CHECK(t_file_write(tsrv_path(s, "pic.png"), "\x89PNG\r\n\x1a\n", 8) == 0);

    CHECK(thttp_get(s->port, "/v.log", BROWSER_ACCEPT, &r) == 0);
    CHECKF(is_viewer(&r), "browser GET: %d %.*s", r.status,
           (int)(r.body.len > 200 ? 200 : r.body.len), (const char *)r.body.p);
    const char *csp = thttp_header(&r, "Content-Security-Policy");
    CHECKF(csp && strstr(csp, "default-src 'none'"), "CSP: %s", csp ? csp : "(none)");
    /* self-contained: nothing is loaded from elsewhere */
    CHECK(!thttp_contains(&r, "<link"));
    CHECK(!thttp_contains(&r, " src="));
    CHECK(!thttp_contains(&r, "@import"));
    CHECK(!thttp_contains(&r, "url(http"));
    CHECK(!thttp_contains(&r, "//cdn"));
    tbuf page = {0};
    tbuf_add(&page, r.body.p, r.body.len);
    thttp_free(&r);

    /* ?view for any client; ?raw always gets the bytes */
    CHECK(thttp_get(s->port, "/v.log?view", NULL, &r) == 0);
    CHECK(is_viewer(&r));
    CHECK_MEM(r.body.p, r.body.len, page.p, page.len);
    thttp_free(&r);
    CHECK(thttp_get(s->port, "/v.log?raw", BROWSER_ACCEPT, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK_MEM(r.body.p, r.body.len, "log text\n", 9);
    thttp_free(&r);
    CHECK(thttp_get(s->port, "/v.log?raw&view", NULL, &r) == 0);
    CHECK_MEM(r.body.p, r.body.len, "log text\n", 9);
    thttp_free(&r);
    /* programs get the bytes */
    const char *plain[] = {NULL, "Accept: */*\r\n", "Accept: text/plain, text/html;q=0.5\r\n"};
    for (int i = 0; i < 3; i++) {
        CHECK(thttp_get(s->port, "/v.log", plain[i], &r) == 0);
        CHECKF(r.status == 200 && r.body.len == 9, "%s: %d", plain[i] ? plain[i] : "no Accept",
               r.status);
        thttp_free(&r);
    }
    /* streams stay streams even for a browser's Accept */
    ths *h = ths_get(s->port, "/v.log?follow", BROWSER_ACCEPT);
    CHECK(h);
    CHECK_STR(ths_header(h, "Content-Type"), TEXT_PLAIN);
    CHECK(ths_end(h, T_TIMEOUT));
    CHECK_MEM(h->body.p, h->body.len, "log text\n", 9);
    ths_free(h);
    /* not text: the bytes */
    CHECK(thttp_get(s->port, "/pic.png", BROWSER_ACCEPT, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK_MEM(r.body.p, r.body.len, "\x89PNG\r\n\x1a\n", 8);
    thttp_free(&r);
    /* a resource not written yet: the page, which waits for it */
    CHECK(thttp_get(s->port, "/soon.log", BROWSER_ACCEPT, &r) == 0);
    CHECK(is_viewer(&r));
    thttp_free(&r);
    CHECK(thttp_get(s->port, "/soon.log", NULL, &r) == 0);
    CHECK_INT(r.status, 404);
    thttp_free(&r);
    CHECK(!t_exists(tsrv_path(s, "soon.log")));
    /* what the page asks for works: a binary WebSocket follow from an offset, and ?raw&offset */
    CHECK(strstr((const char *)page.p, "frames=binary") && strstr((const char *)page.p, "wait"));
    CHECK(thttp_get(s->port, "/v.log?raw&offset=4", BROWSER_ACCEPT, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK_MEM(r.body.p, r.body.len, "text\n", 5);
    thttp_free(&r);
    tbuf_free(&page);
    tsrv_stop(s);
}

int main(void)
{
    RUN(test_follow_live_chunked);
    RUN(test_follow_not_live);
    RUN(test_follow_live_http10_and_head);
    RUN(test_slow_http_followers);
    RUN(test_sse_exact_framing);
    RUN(test_sse_rebuilds_any_bytes);
    RUN(test_sse_last_event_id);
    RUN(test_sse_heartbeat);
    RUN(test_offsets_plain_get);
    RUN(test_offsets_live);
    RUN(test_wait_ws_appender);
    RUN(test_wait_put_appender);
    RUN(test_wait_shutdown);
    RUN(test_put_post_statuses);
    RUN(test_put_expected_offset);
    RUN(test_put_expect_continue);
    RUN(test_single_appender_rule);
    RUN(test_followers_get_put_live);
    RUN(test_put_cut_short);
    RUN(test_put_limits);
    RUN(test_listings);
    RUN(test_listing_page);
    RUN(test_viewer_routes);
    return test_report();
}
