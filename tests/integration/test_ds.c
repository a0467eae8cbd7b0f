/* test_ds.c -- the Durable Streams endpoint (/v1/stream/) where the protocol's own conformance
 * suite (tests/ds/) does not look:
 * - what a SIGKILL and a restart on the same root keep: bytes, content types, TTL and Expires-At
 *   (and their expiry after the restart), closed streams and their closing producer, producer and
 *   Stream-Seq state, a fork with a sub-offset, a soft-deleted source and its cascade, ETags, an
 *   SSE reader coming back at its last offset;
 * - the stream seen from the native API: plain GET, WebSocket (at /NAME and under /v1/stream/)
 *   and ?follow followers of an open stream that end when it is closed through the protocol, the
 *   same bytes as SSE readers, native writes refused; a native resource refused by the protocol;
 * - limits and hostile input: -max-message on a keep-alive connection (sized and chunked bodies),
 *   pipelined writes and reads, malformed offsets and producer numbers, unknown parameters,
 *   traversal, hidden and linked names, bodies of 16 MB, 2,000 waiting long-polls, an SSE reader
 *   that never reads while 48 MB are appended, readers that vanish, big messages through SSE, a
 *   shutdown with readers waiting; the long-poll timeout;
 * - defects found on the way: answers given at once on a closing connection, reads and forks of a
 *   JSON stream at an offset inside a message, an Expires-At at the Unix epoch, readers of a
 *   deleted stream, an escaped Stream-Forked-From, long content types, a body cut short, the 410
 *   status line. */
#include "../harness.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define DS "/v1/stream/"

/* ---- requests ---------------------------------------------------------------------------------
 */

/* "0000000000000000_%016llu" of a byte position, in a t_fmt buffer. */
static const char *off_of(unsigned long long pos)
{
    return t_fmt("0000000000000000_%016llu", pos);
}

/* The request bytes: method path, Host, the headers (each ending "\r\n", may be NULL), a
 * Content-Length when body is not NULL, and the body. keep: no Connection: close. */
static void build_req(tbuf *q, int port, const char *method, const char *path, const char *headers,
                      const void *body, size_t len, int keep)
{
    tbuf_adds(q, method);
    tbuf_adds(q, " ");
    tbuf_adds(q, path); /* (a path may be longer than a t_fmt buffer) */
    tbuf_adds(q, t_fmt(" HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n%s", port,
                       keep ? "" : "Connection: close\r\n"));
    if (headers)
        tbuf_adds(q, headers);
    if (body)
        tbuf_adds(q, t_fmt("Content-Length: %zu\r\n", len));
    tbuf_adds(q, "\r\n");
    if (body)
        tbuf_add(q, body, len);
}

/* One request with a body (NULL: none) on a new connection; reads the response. 0 or -1. PUT and
 * POST go without Connection: close (the connection is closed once the answer is read): an
 * answer given at once to one on a closing connection has a test of its own
 * (test_immediate_answer_on_closing_connection). */
static int req(tsrv *s, const char *method, const char *path, const char *headers, const void *body,
               size_t len, thttp_resp *r)
{
    tbuf q = {0};
    int write = !strcmp(method, "PUT") || !strcmp(method, "POST");
    build_req(&q, s->port, method, path, headers, body, len, write);
    int rc = thttp_raw(s->port, q.p, q.len, r, strcmp(method, "HEAD") == 0);
    tbuf_free(&q);
    return rc;
}

/* The status of a request (its response dropped); 0 when none came. */
static int status_of(tsrv *s, const char *method, const char *path, const char *headers,
                     const char *body)
{
    thttp_resp r;
    req(s, method, path, headers, body, body ? strlen(body) : 0, &r);
    int st = r.status;
    thttp_free(&r);
    return st;
}

/* The same on a keep-alive connection fd. */
static int req_on(int fd, int port, const char *method, const char *path, const char *headers,
                  const void *body, size_t len, thttp_resp *r)
{
    tbuf q = {0};
    build_req(&q, port, method, path, headers, body, len, 1);
    int rc = t_send_all(fd, q.p, q.len);
    tbuf_free(&q);
    if (rc < 0) {
        memset(r, 0, sizeof(*r));
        return -1;
    }
    return thttp_read(fd, r, strcmp(method, "HEAD") == 0, T_TIMEOUT);
}

/* A DS catch-up read of the whole stream from off ("-1" for the start) into out (replaced),
 * following Stream-Next-Offset until Stream-Up-To-Date. Returns the last status (200), or the
 * first other one. */
static int read_all(tsrv *s, const char *name, const char *off, tbuf *out)
{
    char at[64];
    snprintf(at, sizeof(at), "%s", off);
    out->len = 0;
    tbuf_add(out, "", 0);
    for (int i = 0; i < 1000; i++) {
        thttp_resp r;
        req(s, "GET", t_fmt(DS "%s?offset=%s", name, at), NULL, NULL, 0, &r);
        int st = r.status;
        const char *next = thttp_header(&r, "Stream-Next-Offset");
        int up = thttp_header(&r, "Stream-Up-To-Date") != NULL;
        if (st == 200)
            tbuf_add(out, r.body.p, r.body.len);
        if (next)
            snprintf(at, sizeof(at), "%s", next);
        thttp_free(&r);
        if (st != 200 || up || !next)
            return st;
    }
    return -1;
}

/* The bytes of a native GET (no Durable Streams prefix); the status. */
static int native_get(tsrv *s, const char *name, tbuf *out)
{
    thttp_resp r;
    thttp_get(s->port, t_fmt("/%s", name), NULL, &r);
    out->len = 0;
    tbuf_add(out, r.body.p, r.body.len);
    int st = r.status;
    thttp_free(&r);
    return st;
}

/* ---- Server-Sent Events -----------------------------------------------------------------------
 */

static int b64_val(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* Decodes padded base64 (a multiple of 4 characters) onto out. 0, or -1 when malformed. */
static int b64_decode(const char *p, size_t n, tbuf *out)
{
    if (n % 4)
        return -1;
    for (size_t i = 0; i < n; i += 4) {
        int v[4], pad = 0;
        for (int k = 0; k < 4; k++) {
            if (p[i + k] == '=' && i + 4 == n && k >= 2) {
                v[k] = 0;
                pad++;
            } else if ((v[k] = b64_val((unsigned char)p[i + k])) < 0 || pad) {
                return -1;
            }
        }
        uint8_t b[3] = {(uint8_t)(v[0] << 2 | v[1] >> 4), (uint8_t)(v[1] << 4 | v[2] >> 2),
                        (uint8_t)(v[2] << 6 | v[3])};
        tbuf_add(out, b, (size_t)(3 - pad));
    }
    return 0;
}

/* What a Durable Streams SSE body held. */
typedef struct sse_seen {
    tbuf data;         /* the payloads: text data: lines joined with "\n", or base64 decoded */
    size_t events;     /* complete events */
    size_t controls;   /* control events */
    int closed;        /* a control event had "streamClosed":true */
    char last[64];     /* the last control's streamNextOffset */
    int data_in_a_row; /* two data events without a control between them */
    char err[200];
} sse_seen;

/* Parses the complete events of body (a DS SSE body). b64: the data is base64. */
static void sse_parse(const tbuf *body, int b64, sse_seen *o)
{
    const char *p = (const char *)body->p, *end = p + body->len;
    int last_data = 0;

    memset(o, 0, sizeof(*o));
    tbuf_add(&o->data, "", 0);
    while (p < end) {
        const char *ev_end = memmem(p, (size_t)(end - p), "\n\n", 2);
        if (!ev_end)
            break;
        const char *type = "message";
        int first_line = 1;
        tbuf payload = {0};
        tbuf_add(&payload, "", 0);
        for (const char *l = p; l < ev_end;) {
            const char *nl = memchr(l, '\n', (size_t)(ev_end - l));
            size_t ll = nl ? (size_t)(nl - l) : (size_t)(ev_end - l);
            if (ll >= 7 && !memcmp(l, "event: ", 7)) {
                type = ll == 11 && !memcmp(l + 7, "data", 4)      ? "data"
                       : ll == 14 && !memcmp(l + 7, "control", 7) ? "control"
                                                                  : "other";
            } else if (ll >= 5 && !memcmp(l, "data:", 5)) {
                if (!first_line)
                    tbuf_add(&payload, "\n", 1);
                tbuf_add(&payload, l + 5, ll - 5);
                first_line = 0;
            }
            l += ll + 1;
        }
        o->events++;
        if (!strcmp(type, "data")) {
            if (last_data)
                o->data_in_a_row = 1;
            last_data = 1;
            if (b64 ? b64_decode((const char *)payload.p, payload.len, &o->data) < 0
                    : (tbuf_add(&o->data, payload.p, payload.len), 0))
                snprintf(o->err, sizeof(o->err), "bad base64 in event %zu", o->events);
        } else if (!strcmp(type, "control")) {
            last_data = 0;
            o->controls++;
            tbuf_add(&payload, "", 1);
            const char *js = (const char *)payload.p;
            if (strstr(js, "\"streamClosed\":true"))
                o->closed = 1;
            const char *no = strstr(js, "\"streamNextOffset\":\"");
            if (no)
                snprintf(o->last, sizeof(o->last), "%.33s", no + 20);
        }
        tbuf_free(&payload);
        p = ev_end + 2;
    }
}

static void sse_free(sse_seen *o)
{
    tbuf_free(&o->data);
}

/* Reads an SSE response until it ends; parses it. 1 when it ended. */
static int sse_until_end(ths *h, int b64, sse_seen *o, int timeout_ms)
{
    int ended = ths_end(h, timeout_ms);
    sse_parse(&h->body, b64, o);
    return ended;
}

/* Reads an SSE response until its data holds want bytes. 1, or 0. */
static int sse_until(ths *h, int b64, size_t want, sse_seen *o, int timeout_ms)
{
    int64_t deadline = t_now_ms() + timeout_ms;
    for (;;) {
        sse_parse(&h->body, b64, o);
        if (o->data.len >= want)
            return 1;
        sse_free(o);
        int64_t left = deadline - t_now_ms();
        if (left <= 0 || h->eof || h->err[0] || ths_pump(h, (int)left) < 0) {
            sse_parse(&h->body, b64, o);
            return o->data.len >= want;
        }
    }
}

/* ---- 1. what survives a SIGKILL ---------------------------------------------------------------
 */

#define PROD(id, e, n) "Producer-Id: " id "\r\nProducer-Epoch: " #e "\r\nProducer-Seq: " #n "\r\n"
#define CT_TEXT        "Content-Type: text/plain\r\n"
#define CT_JSON        "Content-Type: application/json\r\n"
#define CT_BIN         "Content-Type: application/octet-stream\r\n"
#define CLOSE_HDR      "Stream-Closed: true\r\n"

static void test_restart_after_kill9(void)
{
    tsrv *s = tsrv_start(NULL);
    thttp_resp r;
    tbuf b = {0};
    uint8_t bin[512];
    CHECK(s);
    for (int i = 0; i < 512; i++)
        bin[i] = (uint8_t)(i * 7 + (i >> 8));

    /* text, two appends */
    CHECK_INT(status_of(s, "PUT", DS "text", CT_TEXT, "hello"), 201);
    CHECK_INT(status_of(s, "POST", DS "text", CT_TEXT, " world"), 204);
    /* JSON: stored compact, one message a line */
    CHECK_INT(status_of(s, "PUT", DS "json", CT_JSON, "[{\"a\": 1}, {\"b\" : [2, 3]}]"), 201);
    CHECK_INT(status_of(s, "POST", DS "json", CT_JSON, " {\"c\":\t\"x y\"} "), 204);
    /* binary, every byte value */
    CHECK(req(s, "PUT", DS "bin", CT_BIN, bin, 300, &r) == 0);
    CHECK_INT(r.status, 201);
    thttp_free(&r);
    CHECK(req(s, "POST", DS "bin", CT_BIN, bin + 300, 212, &r) == 0);
    CHECK_INT(r.status, 204);
    thttp_free(&r);
    /* TTL and Expires-At */
    CHECK_INT(status_of(s, "PUT", DS "ttl", CT_TEXT "Stream-TTL: 3600\r\n", "t"), 201);
    CHECK_INT(status_of(s, "PUT", DS "exp",
                        CT_TEXT "Stream-Expires-At: 2099-01-02T03:04:05.678Z\r\n", "e"),
              201);
    /* closed by a producer: an append at seq 0, a close-only at seq 1 */
    CHECK_INT(status_of(s, "PUT", DS "closed", CT_TEXT, NULL), 201);
    CHECK_INT(status_of(s, "POST", DS "closed", CT_TEXT PROD("closer", 3, 0), "final"), 200);
    CHECK(req(s, "POST", DS "closed", PROD("closer", 3, 1) CLOSE_HDR, "", 0, &r) == 0);
    CHECK_INT(r.status, 204);
    CHECK_STR(thttp_header(&r, "Stream-Closed"), "true");
    thttp_free(&r);
    /* producer state: epoch 2, seqs 0..2 */
    CHECK_INT(status_of(s, "PUT", DS "prod", CT_TEXT, NULL), 201);
    CHECK_INT(status_of(s, "POST", DS "prod", CT_TEXT PROD("p1", 2, 0), "a"), 200);
    CHECK_INT(status_of(s, "POST", DS "prod", CT_TEXT PROD("p1", 2, 1), "b"), 200);
    CHECK_INT(status_of(s, "POST", DS "prod", CT_TEXT PROD("p1", 2, 2), "c"), 200);
    /* Stream-Seq */
    CHECK_INT(status_of(s, "PUT", DS "seq", CT_TEXT, NULL), 201);
    CHECK_INT(status_of(s, "POST", DS "seq", CT_TEXT "Stream-Seq: 0005\r\n", "five"), 204);
    /* a source, a fork of it with a sub-offset (then an append of its own), the source deleted:
     * soft, since the fork still counts it */
    CHECK_INT(status_of(s, "PUT", DS "src", CT_TEXT, "abcdef"), 201);
    CHECK_INT(status_of(s, "POST", DS "src", CT_TEXT, "ghi"), 204);
    CHECK(req(s, "PUT", DS "fork",
              t_fmt("Stream-Forked-From: " DS "src\r\nStream-Fork-Offset: %s\r\n"
                    "Stream-Fork-Sub-Offset: 4\r\n",
                    off_of(0)),
              NULL, 0, &r) == 0);
    CHECK_INT(r.status, 201);
    CHECK_STR(thttp_header(&r, "Stream-Next-Offset"), off_of(4));
    thttp_free(&r);
    CHECK_INT(status_of(s, "POST", DS "fork", CT_TEXT, "XY"), 204);
    CHECK_INT(status_of(s, "DELETE", DS "src", NULL, NULL), 204);
    CHECK_INT(status_of(s, "GET", DS "src", NULL, NULL), 410);
    /* streams that expire soon after the restart: Expires-At 2 s from now, and a TTL of 1 s */
    time_t soon = time(NULL) + 2;
    struct tm tm;
    char when[64];
    gmtime_r(&soon, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S.000Z", &tm);
    CHECK_INT(status_of(s, "PUT", DS "soon", t_fmt(CT_TEXT "Stream-Expires-At: %s\r\n", when), "s"),
              201);
    CHECK_INT(status_of(s, "PUT", DS "ttl1", CT_TEXT "Stream-TTL: 1\r\n", "t"), 201);
    /* an ETag, and an SSE reader at the tail of text */
    CHECK(req(s, "GET", DS "text", NULL, NULL, 0, &r) == 0);
    char etag[128];
    CHECK(thttp_header(&r, "ETag"));
    snprintf(etag, sizeof(etag), "%s", thttp_header(&r, "ETag"));
    thttp_free(&r);
    ths *e = ths_get(s->port, DS "text?offset=-1&live=sse", NULL);
    CHECK(e && e->r.status == 200);
    sse_seen o;
    CHECK(sse_until(e, 0, 11, &o, T_TIMEOUT));
    char last[64];
    snprintf(last, sizeof(last), "%s", o.last);
    sse_free(&o);

    tsrv_kill9(s);
    CHECK(t_wait_eof(e->fd, T_TIMEOUT));
    ths_free(e);
    CHECK(tsrv_restart(s) == 0);

    /* bytes and content types */
    CHECK(req(s, "GET", DS "text", NULL, NULL, 0, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK_MEM(r.body.p, r.body.len, "hello world", 11);
    CHECK_STR(thttp_header(&r, "Content-Type"), "text/plain");
    CHECK_STR(thttp_header(&r, "Stream-Next-Offset"), off_of(11));
    CHECK(!thttp_header(&r, "Stream-Closed"));
    thttp_free(&r);
    CHECK(req(s, "GET", t_fmt(DS "text?offset=%s", off_of(5)), NULL, NULL, 0, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK_MEM(r.body.p, r.body.len, " world", 6); /* the offset the first PUT answered */
    thttp_free(&r);
    /* the same bytes, the same ETag: a cached copy is still valid */
    CHECK(req(s, "GET", DS "text", t_fmt("If-None-Match: %s\r\n", etag), NULL, 0, &r) == 0);
    CHECK_INT(r.status, 304);
    thttp_free(&r);
    /* the reader comes back where it was and gets only what is new */
    e = ths_get(s->port, t_fmt(DS "text?offset=%s&live=sse", last), NULL);
    CHECK(e && e->r.status == 200);
    CHECK_INT(status_of(s, "POST", DS "text", CT_TEXT, "!"), 204);
    CHECK(sse_until(e, 0, 1, &o, T_TIMEOUT));
    CHECK_MEM(o.data.p, o.data.len, "!", 1);
    sse_free(&o);
    ths_free(e);
    /* a new ETag after the append */
    CHECK(req(s, "GET", DS "text", t_fmt("If-None-Match: %s\r\n", etag), NULL, 0, &r) == 0);
    CHECK_INT(r.status, 200);
    thttp_free(&r);
    CHECK(req(s, "GET", DS "text", NULL, NULL, 0, &r) == 0);
    snprintf(etag, sizeof(etag), "%s", thttp_header(&r, "ETag"));
    thttp_free(&r);
    CHECK(req(s, "GET", DS "text", t_fmt("If-None-Match: %s\r\n", etag), NULL, 0, &r) == 0);
    CHECK_INT(r.status, 304);
    thttp_free(&r);
    CHECK_INT(status_of(s, "POST", DS "text", CT_TEXT "Stream-Seq: 1\r\n", "x"), 204);
    CHECK_INT(status_of(s, "POST", DS "text", CT_TEXT "Stream-Seq: 1\r\n", "x"), 409);
    /* the expiring ones go, by the clock, after the restart as before it */
    int64_t deadline = t_now_ms() + 10000;
    int soon_st = 0, ttl_st = 0;
    while (t_now_ms() < deadline && (soon_st != 404 || ttl_st != 404)) {
        soon_st = status_of(s, "HEAD", DS "soon", NULL, NULL);
        ttl_st = status_of(s, "HEAD", DS "ttl1", NULL, NULL);
        t_sleep_ms(100);
    }
    CHECKF(soon_st == 404, "Expires-At %s passed, HEAD %d", when, soon_st);
    CHECKF(ttl_st == 404, "TTL of 1 s passed, HEAD %d", ttl_st);
    CHECK_INT(status_of(s, "PUT", DS "soon", CT_BIN, NULL), 201); /* the name is free again */

    /* the texts read the same as before */
    CHECK_INT(status_of(s, "POST", DS "text", CT_TEXT "Stream-Seq: 2\r\n", "y"), 204);
    CHECK(req(s, "GET", t_fmt(DS "text?offset=%s", off_of(11)), NULL, NULL, 0, &r) == 0);
    CHECK_MEM(r.body.p, r.body.len, "!xy", 3);
    thttp_free(&r);

    CHECK(req(s, "GET", DS "json", NULL, NULL, 0, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK_STR(thttp_header(&r, "Content-Type"), "application/json");
    const char *js = "[{\"a\":1},{\"b\":[2,3]},{\"c\":\"x y\"}]";
    CHECK_MEM(r.body.p, r.body.len, js, strlen(js));
    thttp_free(&r);
    CHECK(t_file_read(tsrv_path(s, "json"), &b) == 0);
    const char *lines = "{\"a\":1}\n{\"b\":[2,3]}\n{\"c\":\"x y\"}\n";
    CHECK_MEM(b.p, b.len, lines, strlen(lines));
    CHECK(req(s, "GET", t_fmt(DS "json?offset=%s", off_of(8)), NULL, NULL, 0, &r) == 0);
    CHECK_INT(r.status, 200);
    js = "[{\"b\":[2,3]},{\"c\":\"x y\"}]";
    CHECK_MEM(r.body.p, r.body.len, js, strlen(js));
    thttp_free(&r);
    CHECK(req(s, "GET", DS "bin", NULL, NULL, 0, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK_STR(thttp_header(&r, "Content-Type"), "application/octet-stream");
    CHECK_MEM(r.body.p, r.body.len, bin, 512);
    thttp_free(&r);
    CHECK(req(s, "GET", t_fmt(DS "bin?offset=%s", off_of(300)), NULL, NULL, 0, &r) == 0);
    CHECK_MEM(r.body.p, r.body.len, bin + 300, 212);
    thttp_free(&r);

    /* TTL and Expires-At */
    CHECK(req(s, "HEAD", DS "ttl", NULL, NULL, 0, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK_STR(thttp_header(&r, "Stream-TTL"), "3600");
    CHECK(!thttp_header(&r, "Stream-Expires-At"));
    thttp_free(&r);
    CHECK(req(s, "HEAD", DS "exp", NULL, NULL, 0, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK_STR(thttp_header(&r, "Stream-Expires-At"), "2099-01-02T03:04:05.678Z");
    CHECK(!thttp_header(&r, "Stream-TTL"));
    thttp_free(&r);
    /* re-creating them with the same configuration is still idempotent, with another is not */
    CHECK_INT(status_of(s, "PUT", DS "ttl", CT_TEXT "Stream-TTL: 3600\r\n", NULL), 200);
    CHECK_INT(status_of(s, "PUT", DS "ttl", CT_TEXT "Stream-TTL: 60\r\n", NULL), 409);
    CHECK_INT(status_of(s, "PUT", DS "exp",
                        CT_TEXT "Stream-Expires-At: 2099-01-02T03:04:05.678Z\r\n", NULL),
              200);

    /* the closed stream */
    CHECK(req(s, "GET", DS "closed", NULL, NULL, 0, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK_MEM(r.body.p, r.body.len, "final", 5);
    CHECK_STR(thttp_header(&r, "Stream-Closed"), "true");
    thttp_free(&r);
    CHECK(req(s, "POST", DS "closed", CT_TEXT, "more", 4, &r) == 0);
    CHECK_INT(r.status, 409);
    CHECK_STR(thttp_header(&r, "Stream-Closed"), "true");
    CHECK_STR(thttp_header(&r, "Stream-Next-Offset"), off_of(5));
    thttp_free(&r);
    CHECK(req(s, "POST", DS "closed", PROD("closer", 3, 1) CLOSE_HDR, "", 0, &r) == 0);
    CHECK_INT(r.status, 204); /* the closing tuple, retried */
    CHECK_STR(thttp_header(&r, "Producer-Seq"), "1");
    thttp_free(&r);
    CHECK_INT(status_of(s, "POST", DS "closed", PROD("closer", 3, 2) CLOSE_HDR, NULL), 409);
    CHECK_INT(status_of(s, "PUT", DS "closed", CT_TEXT CLOSE_HDR, NULL), 200);
    CHECK_INT(status_of(s, "PUT", DS "closed", CT_TEXT, NULL), 409);

    /* the producer: a duplicate, a gap, the next */
    CHECK(req(s, "POST", DS "prod", CT_TEXT PROD("p1", 2, 1), "b", 1, &r) == 0);
    CHECK_INT(r.status, 204);
    CHECK_STR(thttp_header(&r, "Producer-Seq"), "2");
    CHECK_STR(thttp_header(&r, "Producer-Epoch"), "2");
    thttp_free(&r);
    CHECK(req(s, "POST", DS "prod", CT_TEXT PROD("p1", 2, 5), "z", 1, &r) == 0);
    CHECK_INT(r.status, 409);
    CHECK_STR(thttp_header(&r, "Producer-Expected-Seq"), "3");
    CHECK_STR(thttp_header(&r, "Producer-Received-Seq"), "5");
    thttp_free(&r);
    CHECK(req(s, "POST", DS "prod", CT_TEXT PROD("p1", 1, 0), "z", 1, &r) == 0);
    CHECK_INT(r.status, 403); /* an older epoch */
    CHECK_STR(thttp_header(&r, "Producer-Epoch"), "2");
    thttp_free(&r);
    CHECK_INT(status_of(s, "POST", DS "prod", CT_TEXT PROD("p1", 2, 3), "d"), 200);
    CHECK_INT(read_all(s, "prod", "-1", &b), 200);
    CHECK_MEM(b.p, b.len, "abcd", 4);

    /* Stream-Seq */
    CHECK_INT(status_of(s, "POST", DS "seq", CT_TEXT "Stream-Seq: 0004\r\n", "x"), 409);
    CHECK_INT(status_of(s, "POST", DS "seq", CT_TEXT "Stream-Seq: 0005\r\n", "x"), 409);
    CHECK_INT(status_of(s, "POST", DS "seq", CT_TEXT "Stream-Seq: 0006\r\n", "six"), 204);
    CHECK_INT(read_all(s, "seq", "-1", &b), 200);
    CHECK_MEM(b.p, b.len, "fivesix", 7);

    /* the fork and its soft-deleted source */
    CHECK_INT(read_all(s, "fork", "-1", &b), 200);
    CHECK_MEM(b.p, b.len, "abcdXY", 6);
    CHECK_INT(status_of(s, "GET", DS "src", NULL, NULL), 410);
    CHECK_INT(status_of(s, "HEAD", DS "src", NULL, NULL), 410);
    CHECK_INT(status_of(s, "POST", DS "src", CT_TEXT, "no"), 410);
    CHECK_INT(status_of(s, "PUT", DS "src", CT_TEXT, NULL), 409);
    CHECK_INT(status_of(s, "PUT", DS "fork2", "Stream-Forked-From: " DS "src\r\n", NULL), 409);
    CHECK(t_exists(tsrv_path(s, "src"))); /* kept for the fork */
    /* deleting the fork collects the source */
    CHECK_INT(status_of(s, "DELETE", DS "fork", NULL, NULL), 204);
    CHECK_INT(status_of(s, "HEAD", DS "fork", NULL, NULL), 404);
    CHECK_INT(status_of(s, "HEAD", DS "src", NULL, NULL), 404);
    CHECK(!t_exists(tsrv_path(s, "src")));
    CHECK(!t_exists(tsrv_path(s, "fork")));
    CHECK(!t_exists(tsrv_path(s, ".httpfstream/meta/src")));
    CHECK_INT(status_of(s, "PUT", DS "src", CT_TEXT, "new"), 201);
    CHECK_INT(read_all(s, "src", "-1", &b), 200);
    CHECK_MEM(b.p, b.len, "new", 3);

    /* and once more: what the restarted server wrote survives a second SIGKILL */
    tsrv_kill9(s);
    CHECK(tsrv_restart(s) == 0);
    CHECK_INT(read_all(s, "prod", "-1", &b), 200);
    CHECK_MEM(b.p, b.len, "abcd", 4);
    CHECK(req(s, "POST", DS "prod", CT_TEXT PROD("p1", 2, 3), "d", 1, &r) == 0);
    CHECK_INT(r.status, 204);
    CHECK_STR(thttp_header(&r, "Producer-Seq"), "3");
    thttp_free(&r);
    CHECK_INT(status_of(s, "HEAD", DS "src", NULL, NULL), 200);
    tbuf_free(&b);
    tsrv_stop(s);
}

/* ---- 2. the native view of a stream ----------------------------------------------------------
 */

/* A text stream through every reader at once: DS catch-up, plain GET, a WebSocket follower of
 * /NAME, one under /v1/stream/NAME, ?follow and a DS SSE reader; appends through POST reach the
 * live ones, the close through the protocol ends them all. Native writes get 409 throughout. */
static void test_native_view_of_a_text_stream(void)
{
    tsrv *s = tsrv_start(NULL);
    thttp_resp r;
    tbuf b = {0}, n = {0};
    CHECK(s);
    CHECK_INT(status_of(s, "PUT", DS "cv", CT_TEXT, "abc"), 201);
    CHECK_INT(status_of(s, "POST", DS "cv", CT_TEXT, "def"), 204);
    CHECK_INT(read_all(s, "cv", "-1", &b), 200);
    CHECK_INT(native_get(s, "cv", &n), 200);
    CHECK_MEM(n.p, n.len, b.p, b.len);
    CHECK_MEM(n.p, n.len, "abcdef", 6);

    tws *f = tws_follow(s->port, "/cv");
    CHECKF(f, "no WebSocket follower of the open stream");
    tws *g = tws_follow(s->port, DS "cv");
    CHECKF(g, "no WebSocket follower under " DS);
    ths *h = ths_get(s->port, "/cv?follow", NULL);
    CHECK(h && h->r.status == 200);
    ths *e = ths_get(s->port, DS "cv?offset=-1&live=sse", NULL);
    CHECK(e && e->r.status == 200);
    CHECK_STR(ths_header(e, "Content-Type"), "text/event-stream");
    tws_collect cf = {.utf8 = 1}, cg = {.utf8 = 1};
    CHECKF(tws_collect_until(f, &cf, 6, T_TIMEOUT) == 0, "%s", cf.err);
    CHECKF(tws_collect_until(g, &cg, 6, T_TIMEOUT) == 0, "%s", cg.err);
    CHECK(ths_until(h, 6, T_TIMEOUT));
    sse_seen o;
    CHECK(sse_until(e, 0, 6, &o, T_TIMEOUT));
    sse_free(&o);

    /* native writes are refused, the bytes stay */
    CHECK_INT(status_of(s, "PUT", "/cv", NULL, "native-put"), 409);
    CHECK_INT(status_of(s, "POST", "/cv", NULL, "native-post"), 409);
    tws *w = tws_connect(s->port, "/cv", "X-Verb: APPEND\r\n", &r);
    CHECKF(!w, "a native WebSocket appender was let in");
    CHECK_INT(r.status, 409);
    thttp_free(&r);
    w = tws_connect(s->port, DS "cv", "X-Verb: APPEND\r\n", &r);
    CHECKF(!w, "a WebSocket appender under " DS " was let in");
    CHECK_INT(r.status, 409);
    thttp_free(&r);
    CHECK_INT(native_get(s, "cv", &n), 200);
    CHECK_MEM(n.p, n.len, "abcdef", 6);

    /* a POST reaches every live reader */
    CHECK_INT(status_of(s, "POST", DS "cv", CT_TEXT, "ghi"), 204);
    CHECKF(tws_collect_until(f, &cf, 9, T_TIMEOUT) == 0, "%s", cf.err);
    CHECKF(tws_collect_until(g, &cg, 9, T_TIMEOUT) == 0, "%s", cg.err);
    CHECK(ths_until(h, 9, T_TIMEOUT));
    CHECK(sse_until(e, 0, 9, &o, T_TIMEOUT));
    sse_free(&o);

    /* the close through the protocol ends them all */
    CHECK_INT(status_of(s, "POST", DS "cv", CLOSE_HDR, NULL), 204);
    CHECKF(tws_collect_until(f, &cf, SIZE_MAX, T_TIMEOUT) == 0, "%s", cf.err);
    CHECK_INT(cf.close_code, 1000);
    CHECK_MEM(cf.data.p, cf.data.len, "abcdefghi", 9);
    CHECKF(tws_collect_until(g, &cg, SIZE_MAX, T_TIMEOUT) == 0, "%s", cg.err);
    CHECK_INT(cg.close_code, 1000);
    CHECK_MEM(cg.data.p, cg.data.len, "abcdefghi", 9);
    CHECKF(ths_end(h, T_TIMEOUT), "?follow did not end: %s", h->err);
    CHECK_MEM(h->body.p, h->body.len, "abcdefghi", 9);
    CHECKF(sse_until_end(e, 0, &o, T_TIMEOUT), "the SSE reader did not end: %s", e->err);
    CHECK_MEM(o.data.p, o.data.len, "abcdefghi", 9);
    CHECK(o.closed);
    CHECK(!o.data_in_a_row);
    CHECK_STR(o.last, off_of(9));
    sse_free(&o);

    /* closed: native writes are still refused, a native reader gets the whole stream at once */
    CHECK_INT(status_of(s, "POST", "/cv", NULL, "late"), 409);
    w = tws_connect(s->port, "/cv", "X-Verb: APPEND\r\n", &r);
    CHECK(!w);
    CHECK_INT(r.status, 409);
    thttp_free(&r);
    CHECK_INT(read_all(s, "cv", "-1", &b), 200);
    CHECK_INT(native_get(s, "cv", &n), 200);
    CHECK_MEM(n.p, n.len, b.p, b.len);
    CHECK_MEM(n.p, n.len, "abcdefghi", 9);
    ths *h2 = ths_get(s->port, "/cv?follow", NULL);
    CHECK(h2 && h2->r.status == 200);
    CHECKF(ths_end(h2, T_TIMEOUT), "?follow of the closed stream did not end: %s", h2->err);
    CHECK_MEM(h2->body.p, h2->body.len, "abcdefghi", 9);
    ths_free(h2);

    tws_collect_free(&cf);
    tws_collect_free(&cg);
    tws_free(f);
    tws_free(g);
    ths_free(h);
    ths_free(e);
    tbuf_free(&b);
    tbuf_free(&n);
    tsrv_stop(s);
}

/* Every byte value: a binary WebSocket follower and the DS SSE reader (base64) see the same bytes
 * as the appends made. */
static void test_native_view_of_a_binary_stream(void)
{
    tsrv *s = tsrv_start(NULL);
    thttp_resp r;
    tbuf want = {0};
    uint8_t chunk[40000];
    CHECK(s);
    t_rand_fill(chunk, sizeof(chunk));
    for (int i = 0; i < 256; i++)
        chunk[i] = (uint8_t)i;
    CHECK(req(s, "PUT", DS "bv", CT_BIN, chunk, 300, &r) == 0);
    CHECK_INT(r.status, 201);
    thttp_free(&r);
    tbuf_add(&want, chunk, 300);
    tws *f = tws_connect(s->port, "/bv?frames=binary", NULL, NULL);
    CHECK(f);
    ths *e = ths_get(s->port, DS "bv?offset=-1&live=sse", NULL);
    CHECK(e && e->r.status == 200);
    CHECK_STR(ths_header(e, "Stream-SSE-Data-Encoding"), "base64");
    tws_collect cf = {.opcode = WS_OP_BINARY};
    CHECKF(tws_collect_until(f, &cf, 300, T_TIMEOUT) == 0, "%s", cf.err);
    for (size_t at = 300; at < sizeof(chunk);) {
        size_t k = t_rand_range(1, 5000);
        if (k > sizeof(chunk) - at)
            k = sizeof(chunk) - at;
        CHECK(req(s, "POST", DS "bv", CT_BIN, chunk + at, k, &r) == 0);
        CHECK_INT(r.status, 204);
        thttp_free(&r);
        tbuf_add(&want, chunk + at, k);
        at += k;
    }
    CHECK_INT(status_of(s, "POST", DS "bv", CLOSE_HDR, NULL), 204);
    CHECKF(tws_collect_until(f, &cf, SIZE_MAX, T_TIMEOUT) == 0, "%s", cf.err);
    CHECK_INT(cf.close_code, 1000);
    CHECK_MEM(cf.data.p, cf.data.len, want.p, want.len);
    sse_seen o;
    CHECKF(sse_until_end(e, 1, &o, T_TIMEOUT), "the SSE reader did not end: %s", e->err);
    CHECKF(!o.err[0], "%s", o.err);
    CHECK_MEM(o.data.p, o.data.len, want.p, want.len);
    CHECK(o.closed);
    CHECK(!o.data_in_a_row);
    sse_free(&o);
    tbuf n = {0};
    CHECK_INT(native_get(s, "bv", &n), 200);
    CHECK_MEM(n.p, n.len, want.p, want.len);
    tbuf_free(&n);
    tws_collect_free(&cf);
    tws_free(f);
    ths_free(e);
    tbuf_free(&want);
    tsrv_stop(s);
}

/* A resource written natively is not a stream: 404 to DS reads and appends, 409 to DS PUT, and
 * none of them changes it or gives it stream metadata. */
static void test_native_resource_is_not_a_stream(void)
{
    tsrv *s = tsrv_start(NULL);
    tbuf n = {0};
    CHECK(s);
    CHECK_INT(status_of(s, "PUT", "/nat", NULL, "native bytes"), 201);
    int meta = t_exists(tsrv_path(s, ".httpfstream/meta/nat"));
    CHECK_INT(status_of(s, "GET", DS "nat", NULL, NULL), 404);
    CHECK_INT(status_of(s, "GET", DS "nat?offset=-1&live=long-poll", NULL, NULL), 404);
    CHECK_INT(status_of(s, "GET", DS "nat?offset=-1&live=sse", NULL, NULL), 404);
    CHECK_INT(status_of(s, "HEAD", DS "nat", NULL, NULL), 404);
    CHECK_INT(status_of(s, "POST", DS "nat", CT_TEXT, "ds bytes"), 404);
    CHECK_INT(status_of(s, "POST", DS "nat", CLOSE_HDR, NULL), 404);
    CHECK_INT(status_of(s, "DELETE", DS "nat", NULL, NULL), 404);
    CHECK_INT(status_of(s, "PUT", DS "nat", CT_TEXT, "ds bytes"), 409);
    CHECK_INT(status_of(s, "PUT", DS "nat", NULL, NULL), 409);
    CHECK_INT(status_of(s, "PUT", DS "natfork", "Stream-Forked-From: " DS "nat\r\n", NULL), 404);
    CHECK(!t_exists(tsrv_path(s, "natfork")));
    CHECK_INT(native_get(s, "nat", &n), 200);
    CHECK_MEM(n.p, n.len, "native bytes", 12);
    CHECK_INT(t_exists(tsrv_path(s, ".httpfstream/meta/nat")), meta);
    /* and natively it is still appendable */
    CHECK_INT(status_of(s, "POST", "/nat", NULL, "+more"), 200);
    CHECK_INT(native_get(s, "nat", &n), 200);
    CHECK_MEM(n.p, n.len, "native bytes+more", 17);
    /* a directory is not a stream either */
    CHECK_INT(status_of(s, "PUT", "/dir/x", NULL, "x"), 201);
    CHECK_INT(status_of(s, "GET", DS "dir", NULL, NULL), 404);
    CHECK_INT(status_of(s, "PUT", DS "dir", CT_TEXT, NULL), 409);
    CHECK_INT(status_of(s, "PUT", DS "nat/sub", CT_TEXT, NULL), 409); /* a parent is a file */
    tbuf_free(&n);
    tsrv_stop(s);
}

/* ---- 3. limits and hostile input --------------------------------------------------------------
 */

/* A body over -max-message: 413 once it is read, the stream unchanged, and the same keep-alive
 * connection serves the next requests (also after a chunked body over the limit). */
static void test_max_message_keeps_the_connection(void)
{
    const char *flags[] = {"-max-message=1000", NULL};
    tsrv *s = tsrv_start(flags);
    thttp_resp r;
    char big[1001];
    CHECK(s);
    memset(big, 'x', sizeof(big));
    int fd = t_connect(s->port);
    CHECK(fd >= 0);
    CHECK(req_on(fd, s->port, "PUT", DS "lim", CT_TEXT, "0123456789", 10, &r) == 0);
    CHECK_INT(r.status, 201);
    thttp_free(&r);
    CHECK(req_on(fd, s->port, "POST", DS "lim", CT_TEXT, big, 1001, &r) == 0);
    CHECK_INT(r.status, 413);
    CHECK(!r.eof);
    thttp_free(&r);
    CHECK(req_on(fd, s->port, "POST", DS "lim", CT_TEXT, big, 1000, &r) == 0);
    CHECK_INT(r.status, 204); /* exactly the limit */
    CHECK_STR(thttp_header(&r, "Stream-Next-Offset"), off_of(1010));
    thttp_free(&r);
    CHECK(req_on(fd, s->port, "PUT", DS "lim2", CT_TEXT, big, 1001, &r) == 0);
    CHECK_INT(r.status, 413);
    thttp_free(&r);
    /* a chunked body: 600 + 600 bytes */
    tbuf q = {0};
    tbuf_adds(&q, t_fmt("POST " DS "lim HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" CT_TEXT
                        "Transfer-Encoding: chunked\r\n\r\n258\r\n",
                        s->port));
    tbuf_add(&q, big, 600);
    tbuf_adds(&q, "\r\n258\r\n");
    tbuf_add(&q, big, 600);
    tbuf_adds(&q, "\r\n0\r\n\r\n");
    CHECK(t_send_all(fd, q.p, q.len) == 0);
    tbuf_free(&q);
    CHECK(thttp_read(fd, &r, 0, T_TIMEOUT) == 0);
    CHECK_INT(r.status, 413);
    thttp_free(&r);
    /* a chunked body under the limit is appended */
    CHECK(t_send_str(fd, t_fmt("POST " DS "lim HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" CT_TEXT
                               "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
                               s->port)) == 0);
    CHECK(thttp_read(fd, &r, 0, T_TIMEOUT) == 0);
    CHECK_INT(r.status, 204);
    CHECK_STR(thttp_header(&r, "Stream-Next-Offset"), off_of(1015));
    thttp_free(&r);
    CHECK(req_on(fd, s->port, "GET", DS "lim", NULL, NULL, 0, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK_INT(r.body.len, 1015);
    CHECK_MEM(r.body.p, 10, "0123456789", 10);
    CHECK_MEM(r.body.p + 1010, 5, "abcde", 5);
    thttp_free(&r);
    close(fd);
    CHECK_INT(status_of(s, "HEAD", DS "lim2", NULL, NULL), 404);
    tsrv_stop(s);
}

/* A POST, then a GET of the same stream, pipelined in one write: the GET sees the POST's bytes. */
static void test_pipelined_read_your_writes(void)
{
    tsrv *s = tsrv_start(NULL);
    thttp_resp r;
    CHECK(s);
    CHECK_INT(status_of(s, "PUT", DS "pipe", CT_TEXT, "a"), 201);
    int fd = t_connect(s->port);
    CHECK(fd >= 0);
    tbuf q = {0};
    for (int i = 0; i < 20; i++) {
        build_req(&q, s->port, "POST", DS "pipe", CT_TEXT, "b", 1, 1);
        build_req(&q, s->port, "GET", DS "pipe", NULL, NULL, 0, 1);
    }
    CHECK(t_send_all(fd, q.p, q.len) == 0);
    tbuf_free(&q);
    for (int i = 0; i < 20; i++) {
        CHECK(thttp_read(fd, &r, 0, T_TIMEOUT) == 0);
        CHECK_INT(r.status, 204);
        CHECK_STR(thttp_header(&r, "Stream-Next-Offset"), off_of((unsigned long long)i + 2));
        thttp_free(&r);
        CHECK(thttp_read(fd, &r, 0, T_TIMEOUT) == 0);
        CHECK_INT(r.status, 200);
        CHECKF(r.body.len == (size_t)i + 2, "read %d after its POST: %zu bytes", i, r.body.len);
        thttp_free(&r);
    }
    close(fd);
    tsrv_stop(s);
}

/* Offsets that are not offsets are 400, whatever the mode; a stream is never created by them. */
static void test_bad_offsets(void)
{
    static const char *const bad[] = {
        "",
        "%00",
        "-1%00",
        "0%201",
        "0 1",
        "..",
        "../x",
        "%2e%2e",
        "0,1",
        "-2",
        "nowx",
        "NOW",
        "1",
        "_1",
        "1_",
        "0_-1",
        "abc_1",
        "0_1%0a",
        "+0_1",
        "0x0_0",
        " 0_0",
        "0_0_0",
        "-1-1",
        "%2d1",
        "00000000000000000000_0",
        "0_18446744073709551616",
        "0_99999999999999999999",
    };
    tsrv *s = tsrv_start(NULL);
    CHECK(s);
    CHECK_INT(status_of(s, "PUT", DS "off", CT_TEXT, "data"), 201);
    int before = t_tree_count(s->root);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        static const char *const modes[] = {"", "&live=long-poll", "&live=sse"};
        for (int m = 0; m < 3; m++) {
            /* a raw space would end the request-target: send it escaped */
            char v[64];
            size_t o = 0;
            for (const char *c = bad[i]; *c && o + 4 < sizeof(v); c++)
                o += (size_t)snprintf(v + o, sizeof(v) - o, *c == ' ' ? "%%20" : "%c", *c);
            v[o] = '\0';
            int st = status_of(s, "GET", t_fmt(DS "off?offset=%s%s", v, modes[m]), NULL, NULL);
            EXPECTF(st == 400, "offset \"%s\"%s: %d", bad[i], modes[m], st);
        }
    }
    /* repeated, even when equal */
    CHECK_INT(status_of(s, "GET", DS "off?offset=-1&offset=-1", NULL, NULL), 400);
    CHECK_INT(status_of(s, "GET", DS "off?offset=-1&live=sse&offset=now", NULL, NULL), 400);
    CHECK_INT(status_of(s, "GET", DS "off?live=long-poll", NULL, NULL), 400);
    CHECK_INT(status_of(s, "GET", DS "off?live=sse", NULL, NULL), 400);
    /* a fork offset that is not one */
    CHECK_INT(status_of(s, "PUT", DS "offfork",
                        "Stream-Forked-From: " DS "off\r\nStream-Fork-Offset: -1\r\n", NULL),
              400);
    CHECK_INT(status_of(s, "PUT", DS "offfork",
                        "Stream-Forked-From: " DS
                        "off\r\nStream-Fork-Offset: 0_99999999999999999999\r\n",
                        NULL),
              400);
    CHECK_INT(t_tree_count(s->root), before);
    /* the good ones still work */
    CHECK_INT(status_of(s, "GET", DS "off?offset=-1", NULL, NULL), 200);
    CHECK_INT(status_of(s, "GET", DS "off?offset=now", NULL, NULL), 200);
    CHECK_INT(status_of(s, "GET", t_fmt(DS "off?offset=%s", off_of(2)), NULL, NULL), 200);
    tsrv_stop(s);
}

/* Unknown query parameters are ignored, in every mode; so are unknown live values. */
static void test_unknown_parameters_ignored(void)
{
    tsrv *s = tsrv_start(NULL);
    thttp_resp r;
    CHECK(s);
    CHECK_INT(status_of(s, "PUT", DS "unk", CT_TEXT, "data"), 201);
    CHECK(req(s, "GET", DS "unk?foo=bar&offset=-1&baz&=x&&verb=APPEND&follow&frames=binary", NULL,
              NULL, 0, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK_MEM(r.body.p, r.body.len, "data", 4);
    thttp_free(&r);
    CHECK(req(s, "GET", DS "unk?offset=-1&live=bogus&cursor=", NULL, NULL, 0, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK_MEM(r.body.p, r.body.len, "data", 4);
    thttp_free(&r);
    CHECK(req(s, "GET", DS "unk?x=1&offset=-1&live=long-poll&cursor=abc&y=%00", NULL, NULL, 0,
              &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK_MEM(r.body.p, r.body.len, "data", 4);
    thttp_free(&r);
    CHECK(req(s, "POST", DS "unk?offset=5&x=y", CT_TEXT, "more", 4, &r) == 0);
    CHECK_INT(r.status, 204);
    thttp_free(&r);
    CHECK(req(s, "HEAD", DS "unk?z", NULL, NULL, 0, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK_STR(thttp_header(&r, "Stream-Next-Offset"), off_of(8));
    thttp_free(&r);
    tsrv_stop(s);
}

/* Producer headers out of range or malformed are 400 and append nothing. */
static void test_producer_numbers(void)
{
    static const struct {
        const char *id, *epoch, *seq;
        int want;
    } cases[] = {
        {"p", "0", "9007199254740992", 400}, /* 2^53 */
        {"p", "9007199254740992", "0", 400},
        {"p", "0", "18446744073709551616", 400}, /* 2^64 */
        {"p", "0", "99999999999999999999999999", 400},
        {"p", "0", "-1", 400},
        {"p", "-0", "0", 400},
        {"p", "0", "+1", 400},
        {"p", "0", "1.0", 400},
        {"p", "0", "0x1", 400},
        {"p", "0", "1e3", 400},
        {"p", "0", "", 400},
        {"p", "", "0", 400},
        {"", "0", "0", 400},
        {"p", "0", "9007199254740991", 409}, /* 2^53-1: a number, but a gap for a new producer */
        {"p", "9007199254740991", "0", 200},
        {"p", "9007199254740991", "1", 200},
        {"p", "9007199254740991", "9007199254740991", 409},
        {"p", "9007199254740991", "1", 204},
    };
    tsrv *s = tsrv_start(NULL);
    thttp_resp r;
    CHECK(s);
    CHECK_INT(status_of(s, "PUT", DS "prodnum", CT_TEXT, NULL), 201);
    size_t appended = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *h =
            t_fmt(CT_TEXT "Producer-Id: %s\r\nProducer-Epoch: %s\r\nProducer-Seq: %s\r\n",
                  cases[i].id, cases[i].epoch, cases[i].seq);
        CHECK(req(s, "POST", DS "prodnum", h, "x", 1, &r) == 0);
        EXPECTF(r.status == cases[i].want, "id \"%s\" epoch \"%s\" seq \"%s\": %d, want %d",
                cases[i].id, cases[i].epoch, cases[i].seq, r.status, cases[i].want);
        if (r.status == 200)
            appended++;
        thttp_free(&r);
    }
    /* a header without its companions */
    CHECK_INT(status_of(s, "POST", DS "prodnum", CT_TEXT "Producer-Id: q\r\n", "x"), 400);
    CHECK_INT(status_of(s, "POST", DS "prodnum", CT_TEXT "Producer-Seq: 0\r\n", "x"), 400);
    CHECK_INT(
        status_of(s, "POST", DS "prodnum", CT_TEXT "Producer-Epoch: 0\r\nProducer-Seq: 0\r\n", "x"),
        400);
    CHECK_INT(status_of(s, "POST", DS "prodnum",
                        CLOSE_HDR "Producer-Id: \r\nProducer-Epoch: 0\r\nProducer-Seq: 0\r\n",
                        NULL),
              400);
    /* an id of any bytes a header can carry, long ones too, is just an id */
    tbuf longid = {0};
    tbuf_adds(&longid, CT_TEXT "Producer-Epoch: 0\r\nProducer-Seq: 0\r\nProducer-Id: ");
    for (int i = 0; i < 8000; i++)
        tbuf_add(&longid, "i", 1);
    tbuf_adds(&longid, "\r\n");
    tbuf_add(&longid, "", 1);
    CHECK_INT(status_of(s, "POST", DS "prodnum", (const char *)longid.p, "x"), 200);
    CHECK_INT(status_of(s, "POST", DS "prodnum", (const char *)longid.p, "x"), 204);
    tbuf_free(&longid);
    appended++;
    CHECK_INT(status_of(s, "POST", DS "prodnum",
                        CT_TEXT "Producer-Id: a b\tc \xc3\xa9 ; p 1 2 3\r\nProducer-Epoch: 0\r\n"
                                "Producer-Seq: 0\r\n",
                        "x"),
              200);
    appended++;
    CHECK(req(s, "HEAD", DS "prodnum", NULL, NULL, 0, &r) == 0);
    CHECK_STR(thttp_header(&r, "Stream-Next-Offset"), off_of(appended));
    thttp_free(&r);
    /* the state of such ids survives a restart as it was */
    tsrv_kill9(s);
    CHECK(tsrv_restart(s) == 0);
    CHECK_INT(status_of(s, "POST", DS "prodnum",
                        CT_TEXT "Producer-Id: a b\tc \xc3\xa9 ; p 1 2 3\r\nProducer-Epoch: 0\r\n"
                                "Producer-Seq: 0\r\n",
                        "x"),
              204);
    CHECK_INT(status_of(s, "POST", DS "prodnum",
                        CT_TEXT "Producer-Id: p\r\nProducer-Epoch: 9007199254740991\r\n"
                                "Producer-Seq: 2\r\n",
                        "x"),
              200);
    tsrv_stop(s);
}

/* Names that climb out of the root, name the hidden metadata, or go through links: nothing outside
 * the root or under .httpfstream is created, changed or shown, whatever the method. */
static void test_path_attacks(void)
{
    static const char *const paths[] = {
        DS "../x",
        DS "../../x",
        DS "%2e%2e/x",
        DS "%2e%2e%2f%2e%2e%2fx",
        DS "a/../../x",
        DS "..%2f..%2foutside.txt",
        DS "x/..",
        DS "./x",
        DS "x%00y",
        DS ".httpfstream",
        DS ".httpfstream/meta",
        DS ".httpfstream/meta/ds1",
        DS "%2ehttpfstream/meta/ds1",
        DS ".httpfstream/tmp/x",
        DS ".httpfstream/meta/new",
        DS "ln",
        DS "ln/x",
        DS "lndir/outside.txt",
        DS "lndir/x",
        DS "lndir",
        "/v1/stream/../outside.txt",
        "/v1/%2e%2e/outside.txt",
        "/v1/stream%2f..%2f..%2foutside.txt",
    };
    static const char *const sources[] = {
        "../../outside.txt",
        "/v1/stream/../../outside.txt",
        DS "%2e%2e/outside.txt",
        "/.httpfstream/meta/ds1",
        DS ".httpfstream/meta/ds1",
        ".httpfstream/meta/ds1",
        DS "ln",
        DS "lndir/outside.txt",
        "/etc/passwd",
        DS "ds1/../ln",
    };
    tsrv *s = tsrv_start(NULL);
    thttp_resp r;
    tbuf meta0 = {0}, meta1 = {0}, out = {0};
    CHECK(s);
    CHECK(t_file_write(t_fmt("%s/outside.txt", s->dir), "secret", 6) == 0);
    CHECK(symlink("../outside.txt", tsrv_path(s, "ln")) == 0);
    CHECK(symlink("..", tsrv_path(s, "lndir")) == 0);
    CHECK_INT(status_of(s, "PUT", DS "ds1", CT_TEXT, "stream one"), 201);
    CHECK(t_file_read(tsrv_path(s, ".httpfstream/meta/ds1"), &meta0) == 0);
    int dir_before = t_tree_count(s->dir);
    int meta_before = t_tree_count(tsrv_path(s, ".httpfstream"));

    static const char *const methods[] = {"GET", "HEAD", "PUT", "POST", "DELETE"};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        for (int m = 0; m < 5; m++) {
            const char *body = m == 2 || m == 3 ? "attack" : NULL;
            req(s, methods[m], paths[i], body ? CT_TEXT : NULL, body, body ? 6 : 0, &r);
            EXPECTF(r.status >= 300, "%s %s: %d", methods[m], paths[i], r.status);
            EXPECTF(!thttp_contains(&r, "secret") && !thttp_contains(&r, "HFSMETA") &&
                        !thttp_contains(&r, s->dir),
                    "%s %s shows what it must not: %.*s", methods[m], paths[i],
                    (int)(r.body.len > 200 ? 200 : r.body.len), (const char *)r.body.p);
            thttp_free(&r);
        }
        /* close-only and with producer headers too */
        int st = status_of(s, "POST", paths[i], CLOSE_HDR PROD("p", 0, 0), NULL);
        EXPECTF(st >= 300, "close %s: %d", paths[i], st);
        st = status_of(s, "GET", t_fmt("%s?offset=-1&live=sse", paths[i]), NULL, NULL);
        EXPECTF(st >= 300, "SSE %s: %d", paths[i], st);
    }
    for (size_t i = 0; i < sizeof(sources) / sizeof(sources[0]); i++) {
        const char *h = t_fmt("Stream-Forked-From: %s\r\n", sources[i]);
        req(s, "PUT", DS "forked", h, NULL, 0, &r);
        EXPECTF(r.status == 404 || r.status == 400 || r.status == 409, "fork of %s: %d", sources[i],
                r.status);
        thttp_free(&r);
        CHECK_INT(status_of(s, "HEAD", DS "forked", NULL, NULL), 404);
    }
    /* the hidden entry through the native API */
    CHECK(thttp_get(s->port, "/.httpfstream/meta/ds1", NULL, &r) == 0);
    EXPECTF(r.status == 404 || r.status == 403, "native GET of the metadata: %d", r.status);
    CHECK(!thttp_contains(&r, "HFSMETA"));
    thttp_free(&r);

    CHECK_INT(t_tree_count(s->dir), dir_before);
    CHECK_INT(t_tree_count(tsrv_path(s, ".httpfstream")), meta_before);
    CHECK(t_file_read(t_fmt("%s/outside.txt", s->dir), &out) == 0);
    CHECK_MEM(out.p, out.len, "secret", 6);
    CHECK(t_file_read(tsrv_path(s, ".httpfstream/meta/ds1"), &meta1) == 0);
    CHECK_MEM(meta1.p, meta1.len, meta0.p, meta0.len);
    CHECK_INT(read_all(s, "ds1", "-1", &out), 200);
    CHECK_MEM(out.p, out.len, "stream one", 10);
    tbuf_free(&meta0);
    tbuf_free(&meta1);
    tbuf_free(&out);
    tsrv_stop(s);
}

/* Bodies of many MB under the limit are taken whole, at the limit too; one byte more is 413. */
static void test_large_bodies(void)
{
    const char *flags[] = {"-max-message=16m", NULL};
    tsrv *s = tsrv_start(flags);
    thttp_resp r;
    size_t first = 3u << 20, second = 16u << 20;
    uint8_t *data = malloc(first + second + 1);
    tbuf got = {0};
    CHECK(s);
    CHECK(data);
    t_rand_fill(data, first + second + 1);
    CHECK(req(s, "PUT", DS "big", CT_BIN, data, first, &r) == 0);
    CHECK_INT(r.status, 201);
    CHECK_STR(thttp_header(&r, "Stream-Next-Offset"), off_of(first));
    thttp_free(&r);
    CHECK(req(s, "POST", DS "big", CT_BIN, data + first, second, &r) == 0);
    CHECK_INT(r.status, 204);
    CHECK_STR(thttp_header(&r, "Stream-Next-Offset"), off_of(first + second));
    thttp_free(&r);
    CHECK(req(s, "POST", DS "big", CT_BIN, data, second + 1, &r) == 0);
    CHECK_INT(r.status, 413);
    thttp_free(&r);
    CHECK_INT(read_all(s, "big", "-1", &got), 200);
    CHECK_MEM(got.p, got.len, data, first + second);
    CHECK(t_file_read(tsrv_path(s, "big"), &got) == 0);
    CHECK_MEM(got.p, got.len, data, first + second);
    /* a JSON stream: one message of 8 MB, and 100,000 small ones in one body */
    tbuf js = {0};
    tbuf_adds(&js, "[\"");
    for (size_t i = 0; i < (8u << 20); i++)
        tbuf_add(&js, &"abcdefghijklmnopqrstuvwxyz"[i % 26], 1);
    tbuf_adds(&js, "\"]");
    CHECK(req(s, "PUT", DS "bigjson", CT_JSON, js.p, js.len, &r) == 0);
    CHECK_INT(r.status, 201);
    thttp_free(&r);
    CHECK(req(s, "GET", DS "bigjson", NULL, NULL, 0, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK_MEM(r.body.p, r.body.len, js.p, js.len); /* the one message, whole, in one array */
    thttp_free(&r);
    js.len = 0;
    tbuf_adds(&js, "[");
    for (int i = 0; i < 100000; i++)
        tbuf_adds(&js, t_fmt("%s%d", i ? "," : "", i));
    tbuf_adds(&js, "]");
    CHECK(req(s, "POST", DS "bigjson", CT_JSON, js.p, js.len, &r) == 0);
    CHECK_INT(r.status, 204);
    thttp_free(&r);
    CHECK(t_file_read(tsrv_path(s, "bigjson"), &got) == 0);
    CHECK_INT(got.len, (8u << 20) + 3 + js.len - 2 - 99999 + 100000);
    tbuf_free(&js);
    tbuf_free(&got);
    free(data);
    tsrv_stop(s);
}

/* 2,000 long-polls wait at the tail of one stream; one POST answers every one of them with its
 * bytes. */
#define NPOLLS 2000
static void test_many_long_polls(void)
{
    const char *flags[] = {"-long-poll=60s", "-q", NULL};
    tsrv *s = tsrv_start(flags);
    static int fds[NPOLLS];
    thttp_resp r;
    int n = 0;
    CHECK(s);
    int base = t_proc_fd_count(s->pid);
    CHECK_INT(status_of(s, "PUT", DS "lp", CT_TEXT, "history"), 201);
    const char *q =
        t_fmt("GET " DS "lp?offset=%s&live=long-poll HTTP/1.1\r\nHost: x\r\n\r\n", off_of(7));
    char reqbuf[256];
    snprintf(reqbuf, sizeof(reqbuf), "%s", q);
    for (; n < NPOLLS; n++) {
        fds[n] = t_connect(s->port);
        if (fds[n] < 0 || t_send_str(fds[n], reqbuf) < 0)
            break;
    }
    CHECKF(n == NPOLLS, "only %d long-polls connected", n);
    /* every connection accepted, every request read, none answered */
    int64_t deadline = t_now_ms() + 20000;
    while (t_proc_fd_count(s->pid) < base + NPOLLS && t_now_ms() < deadline)
        t_sleep_ms(10);
    CHECKF(t_proc_fd_count(s->pid) >= base + NPOLLS, "the server holds %d descriptors",
           t_proc_fd_count(s->pid));
    CHECK_INT(status_of(s, "HEAD", DS "lp", NULL, NULL), 200);
    int answered = 0;
    for (int i = 0; i < n; i++) {
        struct pollfd p = {.fd = fds[i], .events = POLLIN};
        answered += poll(&p, 1, 0) > 0;
    }
    CHECKF(answered == 0, "%d long-polls answered before any data", answered);

    CHECK_INT(status_of(s, "POST", DS "lp", CT_TEXT, "tick"), 204);
    int bad = 0;
    for (int i = 0; i < n; i++) {
        if (thttp_read(fds[i], &r, 0, 10000) < 0 || r.status != 200 ||
            !t_contains(r.body.p, r.body.len, "tick") || r.body.len != 4 ||
            !thttp_header(&r, "Stream-Cursor") ||
            strcmp(thttp_header(&r, "Stream-Next-Offset"), off_of(11)) != 0) {
            if (bad++ < 3)
                test_fail(__FILE__, __LINE__, "long-poll %d: status %d, %zu bytes", i, r.status,
                          r.body.len);
        }
        thttp_free(&r);
        close(fds[i]);
    }
    CHECKF(bad == 0, "%d of %d long-polls without the bytes", bad, n);
    CHECK_INT(status_of(s, "HEAD", DS "lp", NULL, NULL), 200);
    tsrv_stop(s);
}

/* long-polls and SSE readers that go away while waiting (closed, reset) leave nothing behind: a
 * POST afterwards reaches the ones that stayed, and the server stays well. */
static void test_readers_that_vanish(void)
{
    const char *flags[] = {"-long-poll=60s", NULL};
    tsrv *s = tsrv_start(flags);
    thttp_resp r;
    int fds[40];
    ths *sse[10];
    CHECK(s);
    CHECK_INT(status_of(s, "PUT", DS "van", CT_TEXT, "x"), 201);
    for (int i = 0; i < 40; i++) {
        fds[i] = t_connect(s->port);
        CHECK(fds[i] >= 0);
        CHECK(t_send_str(fds[i], t_fmt("GET " DS "van?offset=%s&live=long-poll HTTP/1.1\r\n"
                                       "Host: x\r\n\r\n",
                                       off_of(1))) == 0);
    }
    for (int i = 0; i < 10; i++) {
        sse[i] = ths_get(s->port, DS "van?offset=-1&live=sse", NULL);
        CHECK(sse[i] && sse[i]->r.status == 200);
    }
    CHECK_INT(status_of(s, "HEAD", DS "van", NULL, NULL), 200);
    for (int i = 0; i < 40; i += 2) {
        if (i % 4)
            t_close_rst(fds[i]);
        else
            close(fds[i]);
        fds[i] = -1;
    }
    for (int i = 0; i < 10; i += 2) {
        t_close_rst(sse[i]->fd);
        sse[i]->fd = -1;
        ths_free(sse[i]);
        sse[i] = NULL;
    }
    CHECK_INT(status_of(s, "HEAD", DS "van", NULL, NULL), 200);
    CHECK_INT(status_of(s, "POST", DS "van", CT_TEXT, "y"), 204);
    for (int i = 1; i < 40; i += 2) {
        CHECK(thttp_read(fds[i], &r, 0, T_TIMEOUT) == 0);
        CHECK_INT(r.status, 200);
        CHECK_MEM(r.body.p, r.body.len, "y", 1);
        thttp_free(&r);
        close(fds[i]);
    }
    for (int i = 1; i < 10; i += 2) {
        sse_seen o;
        CHECK(sse_until(sse[i], 0, 2, &o, T_TIMEOUT));
        CHECK_MEM(o.data.p, o.data.len, "xy", 2);
        sse_free(&o);
        ths_free(sse[i]);
    }
    CHECK_INT(status_of(s, "POST", DS "van", CT_TEXT, "z"), 204);
    tbuf all = {0};
    CHECK_INT(read_all(s, "van", "-1", &all), 200);
    CHECK_MEM(all.p, all.len, "xyz", 3);
    tbuf_free(&all);
    tsrv_stop(s);
}

/* An SSE reader that never reads (a small receive buffer, full at once) while 48 MB are appended
 * in 256 KiB POSTs: every POST is answered, the server's memory stays bounded (it does not queue
 * the stream for the reader), and the reader, once it reads, still gets every byte. */
#define SLOW_TOTAL     ((size_t)48 << 20)
#define SLOW_PIECE     ((size_t)256 << 10)
#define SLOW_GROWTH_KB (24L * 1024)
static void test_slow_sse_reader(void)
{
    /* a sanitizer build keeps freed memory in quarantine (256 MB by default), which would count
     * every POST body as growth: keep it small in this server */
    char *old_asan = getenv("ASAN_OPTIONS") ? strdup(getenv("ASAN_OPTIONS")) : NULL;
    setenv("ASAN_OPTIONS",
           old_asan && *old_asan ? t_fmt("%s:quarantine_size_mb=8", old_asan)
                                 : "quarantine_size_mb=8",
           1);
    tsrv *s = tsrv_start(NULL);
    if (old_asan)
        setenv("ASAN_OPTIONS", old_asan, 1);
    else
        unsetenv("ASAN_OPTIONS");
    free(old_asan);
    thttp_resp r;
    uint8_t *piece = malloc(SLOW_PIECE);
    CHECK(s);
    CHECK(piece);
    for (size_t i = 0; i < SLOW_PIECE; i++)
        piece[i] = (uint8_t)('a' + i % 26);
    CHECK(req(s, "PUT", DS "slow", CT_TEXT, piece, 100, &r) == 0);
    CHECK_INT(r.status, 201);
    thttp_free(&r);
    ths *e = ths_request_rcvbuf(s->port, "GET", DS "slow?offset=-1&live=sse", NULL, 1, 4096);
    CHECK(e && e->r.status == 200);
    int fd = t_connect(s->port);
    CHECK(fd >= 0);
    /* warm up: the first POST brings the buffers the server reuses */
    CHECK(req_on(fd, s->port, "POST", DS "slow", CT_TEXT, piece, SLOW_PIECE, &r) == 0);
    CHECK_INT(r.status, 204);
    thttp_free(&r);
    long rss0 = t_proc_status_kb(s->pid, "VmRSS"), peak = rss0;
    size_t sent = SLOW_PIECE;
    for (; sent < SLOW_TOTAL; sent += SLOW_PIECE) {
        CHECK(req_on(fd, s->port, "POST", DS "slow", CT_TEXT, piece, SLOW_PIECE, &r) == 0);
        CHECKF(r.status == 204, "POST at %zu MB: %d", sent >> 20, r.status);
        thttp_free(&r);
        long rss = t_proc_status_kb(s->pid, "VmRSS");
        if (rss > peak)
            peak = rss;
    }
    close(fd);
    fprintf(stderr,
            "  # %zu MB appended past a reader that does not read: server RSS %ld KiB, "
            "peak %ld KiB\n",
            sent >> 20, rss0, peak);
    CHECKF(peak - rss0 < SLOW_GROWTH_KB, "the server grew by %ld KiB (bound %ld KiB)", peak - rss0,
           SLOW_GROWTH_KB);
    /* the reader is still there, behind, and gets everything once it reads */
    CHECK_INT(status_of(s, "POST", DS "slow", CLOSE_HDR, NULL), 204);
    int rcv = 4 << 20;
    setsockopt(e->fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
    int64_t t0 = t_now_ms();
    sse_seen o;
    CHECKF(sse_until_end(e, 0, &o, 60000), "the reader did not get to the end: %s", e->err);
    fprintf(stderr, "  # the reader read it all in %lld ms\n", (long long)(t_now_ms() - t0));
    CHECK_INT(o.data.len, 100 + sent);
    CHECK(o.closed);
    CHECK(!o.data_in_a_row);
    sse_free(&o);
    ths_free(e);
    free(piece);
    tsrv_stop(s);
}

/* Big messages through SSE: a JSON message and text lines longer than an event's batch, UTF-8
 * characters and CRLFs at every position near the batch edges, binary data in many events: the
 * reader gets exactly what a catch-up read gets. */
static void test_sse_large_messages(void)
{
    tsrv *s = tsrv_start(NULL);
    thttp_resp r;
    tbuf js = {0}, txt = {0}, want = {0};
    CHECK(s);
    /* JSON: a 100 KB string message between small ones */
    tbuf_adds(&js, "[{\"n\":1},\"");
    for (int i = 0; i < 100000; i++)
        tbuf_add(&js, &"xyz"[i % 3], 1);
    tbuf_adds(&js, "\",{\"n\":2}]");
    CHECK(req(s, "PUT", DS "sj", CT_JSON, js.p, js.len, &r) == 0);
    CHECK_INT(r.status, 201);
    thttp_free(&r);
    CHECK_INT(status_of(s, "POST", DS "sj", CT_JSON, "[3,4,5]"), 204);
    CHECK_INT(status_of(s, "POST", DS "sj", CLOSE_HDR, NULL), 204);
    CHECK(req(s, "GET", DS "sj", NULL, NULL, 0, &r) == 0);
    CHECK_INT(r.status, 200);
    tbuf_add(&want, r.body.p, r.body.len);
    thttp_free(&r);
    ths *e = ths_get(s->port, DS "sj?offset=-1&live=sse", NULL);
    CHECK(e && e->r.status == 200);
    sse_seen o;
    CHECKF(sse_until_end(e, 0, &o, T_TIMEOUT), "%s", e->err);
    ths_free(e);
    /* one array per data event: "[a,b][c]" is "[a,b,c]" */
    tbuf joined = {0};
    for (size_t i = 0; i < o.data.len; i++) {
        if (i + 1 < o.data.len && o.data.p[i] == ']' && o.data.p[i + 1] == '[') {
            tbuf_add(&joined, ",", 1);
            i++;
        } else {
            tbuf_add(&joined, o.data.p + i, 1);
        }
    }
    CHECK(o.closed);
    CHECK(!o.data_in_a_row);
    CHECK_MEM(joined.p, joined.len, want.p, want.len);
    sse_free(&o);
    tbuf_free(&joined);

    /* text: long lines, 4-byte characters and CRLFs at every offset around 32 KiB */
    for (int i = 0; i < 70000; i++) {
        if (i % 7919 == 0 || (i > 32700 && i < 32800 && i % 9 == 0))
            tbuf_adds(&txt, "\xf0\x9f\x98\x80"); /* U+1F600 */
        else if (i > 32750 && i < 32790 && i % 5 == 0)
            tbuf_adds(&txt, "\r\n");
        else if (i % 20011 == 0)
            tbuf_adds(&txt, "\n");
        else
            tbuf_add(&txt, &"abcdefg"[i % 7], 1);
    }
    CHECK(req(s, "PUT", DS "st", CT_TEXT, txt.p, txt.len, &r) == 0);
    CHECK_INT(r.status, 201);
    thttp_free(&r);
    CHECK_INT(status_of(s, "POST", DS "st", CLOSE_HDR, NULL), 204);
    e = ths_get(s->port, DS "st?offset=-1&live=sse", NULL);
    CHECK(e && e->r.status == 200);
    CHECKF(sse_until_end(e, 0, &o, T_TIMEOUT), "%s", e->err);
    ths_free(e);
    /* line breaks arrive as "\n" (CRLF is one) */
    want.len = 0;
    for (size_t i = 0; i < txt.len; i++) {
        if (txt.p[i] == '\r' && i + 1 < txt.len && txt.p[i + 1] == '\n')
            continue;
        tbuf_add(&want, txt.p + i, 1);
    }
    CHECK(o.closed);
    CHECK(!o.data_in_a_row);
    CHECK_MEM(o.data.p, o.data.len, want.p, want.len);
    sse_free(&o);

    /* binary from an offset in the middle */
    uint8_t bin[100000];
    t_rand_fill(bin, sizeof(bin));
    CHECK(req(s, "PUT", DS "sb", CT_BIN, bin, sizeof(bin), &r) == 0);
    CHECK_INT(r.status, 201);
    thttp_free(&r);
    CHECK_INT(status_of(s, "POST", DS "sb", CLOSE_HDR, NULL), 204);
    e = ths_get(s->port, t_fmt(DS "sb?offset=%s&live=sse", off_of(12345)), NULL);
    CHECK(e && e->r.status == 200);
    CHECKF(sse_until_end(e, 1, &o, T_TIMEOUT), "%s", e->err);
    ths_free(e);
    CHECKF(!o.err[0], "%s", o.err);
    CHECK(o.closed);
    CHECK_MEM(o.data.p, o.data.len, bin + 12345, sizeof(bin) - 12345);
    CHECK_STR(o.last, off_of(sizeof(bin)));
    sse_free(&o);
    /* HTTP/1.0: close-delimited, and it ends */
    e = ths_request(s->port, "GET", DS "sb?offset=-1&live=sse", NULL, 0);
    CHECK(e && e->r.status == 200);
    CHECK(!ths_header(e, "Transfer-Encoding"));
    CHECKF(sse_until_end(e, 1, &o, T_TIMEOUT), "%s", e->err);
    ths_free(e);
    CHECK_MEM(o.data.p, o.data.len, bin, sizeof(bin));
    CHECK(o.closed);
    sse_free(&o);
    tbuf_free(&js);
    tbuf_free(&txt);
    tbuf_free(&want);
    tsrv_stop(s);
}

/* A SIGTERM while long-polls, SSE readers and native followers wait and a POST's body is still
 * coming: the POST completes (its bytes stored and answered), every reader is ended without the
 * server having to wait out -shutdown-timeout and cut connections, and it exits 0 (with a clean
 * sanitizer log). */
static void test_shutdown_with_readers_waiting(void)
{
    const char *flags[] = {"-long-poll=60s", "-shutdown-timeout=5s", NULL};
    tsrv *s = tsrv_start(flags);
    thttp_resp r;
    int fds[10];
    ths *sse[5];
    CHECK(s);
    CHECK_INT(status_of(s, "PUT", DS "sd", CT_TEXT, "abc"), 201);
    for (int i = 0; i < 10; i++) {
        fds[i] = t_connect(s->port);
        CHECK(fds[i] >= 0);
        CHECK(t_send_str(fds[i], t_fmt("GET " DS "sd?offset=%s&live=long-poll HTTP/1.1\r\n"
                                       "Host: x\r\n\r\n",
                                       i % 2 ? "now" : off_of(3))) == 0);
    }
    for (int i = 0; i < 5; i++) {
        sse[i] = ths_get(s->port, DS "sd?offset=-1&live=sse", NULL);
        CHECK(sse[i] && sse[i]->r.status == 200);
    }
    tws *f = tws_follow(s->port, "/sd");
    CHECK(f);
    /* a POST whose body is still coming (to another stream: its bytes would answer the polls) */
    CHECK_INT(status_of(s, "PUT", DS "sd2", CT_TEXT, "abc"), 201);
    int half = t_connect(s->port);
    CHECK(half >= 0);
    CHECK(t_send_str(half, "POST " DS "sd2 HTTP/1.1\r\nHost: x\r\n" CT_TEXT
                           "Content-Length: 10\r\n\r\n12345") == 0);
    CHECK_INT(status_of(s, "HEAD", DS "sd", NULL, NULL), 200);
    tsrv_term(s);
    CHECK(t_send_str(half, "67890") == 0);
    CHECK(thttp_read(half, &r, 0, 15000) == 0);
    CHECK_INT(r.status, 204);
    CHECK_STR(thttp_header(&r, "Stream-Next-Offset"), off_of(13));
    thttp_free(&r);
    CHECK(t_wait_eof(half, 15000));
    close(half);
    for (int i = 0; i < 10; i++) {
        CHECKF(t_wait_eof(fds[i], 15000), "long-poll %d was not ended", i);
        close(fds[i]);
    }
    for (int i = 0; i < 5; i++) {
        CHECKF(ths_end(sse[i], 15000) || sse[i]->eof, "SSE reader %d was not ended", i);
        ths_free(sse[i]);
    }
    tws_collect c = {.utf8 = 1};
    CHECKF(tws_collect_until(f, &c, SIZE_MAX, 15000) == 0 || c.eof, "%s", c.err);
    tws_collect_free(&c);
    tws_free(f);
    CHECK(tsrv_wait_exit(s, 15000) >= 0);
    EXPECTF(!tsrv_log_has(s, "still open after the timeout"),
            "the shutdown waited out -shutdown-timeout for connections to end");
    tbuf b = {0};
    CHECK(t_file_read(tsrv_path(s, "sd2"), &b) == 0);
    CHECK_MEM(b.p, b.len, "abc1234567890", 13);
    tbuf_free(&b);
    tsrv_stop(s);
}

/* Long-polls with -long-poll=300ms: at the tail they end with 204, Stream-Cursor (numeric, and past
 * an echoed one), Stream-Up-To-Date and the tail, on a connection that stays usable; data, a close
 * or a delete during the wait answer them. */
static int is_digits(const char *v)
{
    if (!v || !*v)
        return 0;
    for (; *v; v++)
        if (*v < '0' || *v > '9')
            return 0;
    return 1;
}

static void test_long_poll_timeout(void)
{
    const char *flags[] = {"-long-poll=300ms", NULL};
    tsrv *s = tsrv_start(flags);
    thttp_resp r;
    char cursor[32];
    CHECK(s);
    CHECK_INT(status_of(s, "PUT", DS "lpt", CT_TEXT, "abc"), 201);
    int fd = t_connect(s->port);
    CHECK(fd >= 0);
    for (int round = 0; round < 3; round++) {
        const char *path =
            round == 0   ? t_fmt(DS "lpt?offset=%s&live=long-poll", off_of(3))
            : round == 1 ? DS "lpt?offset=now&live=long-poll"
                         : t_fmt(DS "lpt?live=long-poll&offset=%s&cursor=%s", off_of(3), cursor);
        CHECK(req_on(fd, s->port, "GET", path, NULL, NULL, 0, &r) == 0);
        CHECKF(r.status == 204, "round %d: %d", round, r.status);
        CHECK_INT(r.body.len, 0);
        CHECK_STR(thttp_header(&r, "Stream-Next-Offset"), off_of(3));
        CHECK_STR(thttp_header(&r, "Stream-Up-To-Date"), "true");
        CHECK(!thttp_header(&r, "Stream-Closed"));
        const char *c = thttp_header(&r, "Stream-Cursor");
        CHECKF(is_digits(c), "round %d: Stream-Cursor \"%s\"", round, c ? c : "(none)");
        if (round == 2)
            CHECKF(strtoull(c, NULL, 10) > strtoull(cursor, NULL, 10), "cursor %s after echoing %s",
                   c, cursor);
        snprintf(cursor, sizeof(cursor), "%s", c);
        thttp_free(&r);
    }
    /* data during the wait */
    CHECK(t_send_str(fd, t_fmt("GET " DS "lpt?offset=%s&live=long-poll HTTP/1.1\r\nHost: x\r\n\r\n",
                               off_of(3))) == 0);
    CHECK_INT(status_of(s, "POST", DS "lpt", CT_TEXT, "de"), 204);
    CHECK(thttp_read(fd, &r, 0, T_TIMEOUT) == 0);
    CHECK_INT(r.status, 200);
    CHECK_MEM(r.body.p, r.body.len, "de", 2);
    CHECK(is_digits(thttp_header(&r, "Stream-Cursor")));
    CHECK_STR(thttp_header(&r, "Stream-Next-Offset"), off_of(5));
    thttp_free(&r);
    /* the close during the wait (or before it: the same answer) */
    CHECK(t_send_str(fd, t_fmt("GET " DS "lpt?offset=%s&live=long-poll HTTP/1.1\r\nHost: x\r\n\r\n",
                               off_of(5))) == 0);
    CHECK_INT(status_of(s, "POST", DS "lpt", CLOSE_HDR, NULL), 204);
    CHECK(thttp_read(fd, &r, 0, T_TIMEOUT) == 0);
    CHECK_INT(r.status, 204);
    CHECK_STR(thttp_header(&r, "Stream-Closed"), "true");
    CHECK_STR(thttp_header(&r, "Stream-Next-Offset"), off_of(5));
    thttp_free(&r);
    /* and at the tail of the closed stream: at once, every time */
    CHECK(req_on(fd, s->port, "GET", t_fmt(DS "lpt?offset=%s&live=long-poll", off_of(5)), NULL,
                 NULL, 0, &r) == 0);
    CHECK_INT(r.status, 204);
    CHECK_STR(thttp_header(&r, "Stream-Closed"), "true");
    thttp_free(&r);
    /* a delete during the wait */
    CHECK_INT(status_of(s, "PUT", DS "lpd", CT_TEXT, "x"), 201);
    CHECK(t_send_str(fd, t_fmt("GET " DS "lpd?offset=%s&live=long-poll HTTP/1.1\r\nHost: x\r\n\r\n",
                               off_of(1))) == 0);
    CHECK_INT(status_of(s, "DELETE", DS "lpd", NULL, NULL), 204);
    CHECK(thttp_read(fd, &r, 0, T_TIMEOUT) == 0);
    CHECKF(r.status == 404 || r.status == 204, "long-poll of a deleted stream: %d", r.status);
    thttp_free(&r);
    /* the connection still serves */
    CHECK(req_on(fd, s->port, "GET", DS "lpt", NULL, NULL, 0, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK_MEM(r.body.p, r.body.len, "abcde", 5);
    thttp_free(&r);
    close(fd);
    tsrv_stop(s);
}

/* 600 streams on one keep-alive connection (the registry grows past its first sizes): each reads
 * back its own bytes, before and after a restart, and half of them deleted are gone. */
static void test_many_streams(void)
{
    tsrv *s = tsrv_start(NULL);
    thttp_resp r;
    CHECK(s);
    int fd = t_connect(s->port);
    CHECK(fd >= 0);
    for (int i = 0; i < 600; i++) {
        const char *body = t_fmt("stream %d", i);
        CHECK(req_on(fd, s->port, "PUT", t_fmt(DS "many/s%d", i), CT_TEXT, body, strlen(body),
                     &r) == 0);
        CHECKF(r.status == 201, "PUT %d: %d", i, r.status);
        thttp_free(&r);
    }
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 600; i++) {
            CHECK(req_on(fd, s->port, "GET", t_fmt(DS "many/s%d", i), NULL, NULL, 0, &r) == 0);
            const char *want = t_fmt("stream %d", i);
            int gone = round == 1 && i % 2;
            CHECKF(
                r.status == (gone ? 404 : 200) &&
                    (gone || (r.body.len == strlen(want) && !memcmp(r.body.p, want, r.body.len))),
                "round %d, stream %d: %d \"%.*s\"", round, i, r.status, (int)r.body.len,
                (const char *)r.body.p);
            thttp_free(&r);
        }
        if (round == 0) {
            for (int i = 1; i < 600; i += 2) {
                CHECK(req_on(fd, s->port, "DELETE", t_fmt(DS "many/s%d", i), NULL, NULL, 0, &r) ==
                      0);
                CHECK_INT(r.status, 204);
                thttp_free(&r);
            }
            close(fd);
            tsrv_kill9(s);
            CHECK(tsrv_restart(s) == 0);
            fd = t_connect(s->port);
            CHECK(fd >= 0);
        }
    }
    close(fd);
    CHECK_INT(t_tree_count(tsrv_path(s, "many")), 300);
    tsrv_stop(s);
}

/* ---- defects ----------------------------------------------------------------------------------
 */

/* PUT and POST answered at once (before any write: 4xx, an idempotent PUT's 200, a producer
 * duplicate's 204) on a connection that closes after the answer (Connection: close, HTTP/1.0):
 * each gets its answer and the server lives on. */
static void test_immediate_answer_on_closing_connection(void)
{
    static const struct {
        const char *method, *name, *headers, *body;
        int want;
    } cases[] = {
        {"POST", "none", CT_TEXT, "x", 404},
        {"POST", "none", CLOSE_HDR, "", 404},
        {"POST", "ia", NULL, "x", 400},
        {"POST", "ia", CT_TEXT, "", 400},
        {"POST", "ia", "Content-Type: text/html\r\n", "x", 409},
        {"PUT", "ia", CT_TEXT, "", 200},
        {"PUT", "ia", CT_JSON, "", 409},
        {"PUT", "ia", "Stream-TTL: x\r\n", "", 400},
        {"POST", "ia", CT_TEXT PROD("p", 0, 0), "x", 204},
        {"POST", "ia", CT_TEXT PROD("p", 0, 5), "x", 409},
        {"POST", "ia", CT_TEXT "Producer-Id: p\r\n", "x", 400},
    };
    tsrv *s = tsrv_start(NULL);
    CHECK(s);
    CHECK_INT(status_of(s, "PUT", DS "ia", CT_TEXT, NULL), 201);
    CHECK_INT(status_of(s, "POST", DS "ia", CT_TEXT PROD("p", 0, 0), "x"), 200);
    for (int round = 0; round < 10; round++) {
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            for (int minor = 0; minor < 2; minor++) {
                thttp_resp r;
                tbuf q = {0};
                size_t bl = strlen(cases[i].body);
                tbuf_adds(&q, t_fmt("%s " DS "%s HTTP/1.%d\r\nHost: x\r\n%sContent-Length: %zu\r\n"
                                    "%s\r\n%s",
                                    cases[i].method, cases[i].name, minor,
                                    minor ? "Connection: close\r\n" : "", bl,
                                    cases[i].headers ? cases[i].headers : "", cases[i].body));
                thttp_raw(s->port, q.p, q.len, &r, 0);
                tbuf_free(&q);
                int st = r.status;
                thttp_free(&r);
                if (st != cases[i].want) {
                    int died = tsrv_wait_exit(s, 1000);
                    CHECKF(0, "%s " DS "%s HTTP/1.%d [%s] (round %d): %d, want %d; %s",
                           cases[i].method, cases[i].name, minor,
                           cases[i].headers ? cases[i].headers : "", round, st, cases[i].want,
                           died < 0 ? "the server is alive"
                                    : t_fmt("the server died (wait status 0x%x)", died));
                }
            }
        }
    }
    CHECK(tsrv_stop(s) == 0);
}

/* A catch-up or long-poll read of a JSON stream from an offset inside a message (a client's
 * arithmetic on offsets, or a hostile one): the answer is still JSON (the message that holds the
 * offset, as the reference does, or the next one), or a 400; never a piece of a message. */
static void test_json_read_inside_a_message(void)
{
    tsrv *s = tsrv_start(NULL);
    thttp_resp r;
    CHECK(s);
    CHECK_INT(status_of(s, "PUT", DS "jm", CT_JSON, "[{\"a\":1},{\"b\":2}]"), 201);
    /* stored "{\"a\":1}\n{\"b\":2}\n": offset 3 is inside the first message */
    static const char *const modes[] = {"", "&live=long-poll"};
    for (int m = 0; m < 2; m++) {
        CHECK(req(s, "GET", t_fmt(DS "jm?offset=%s%s", off_of(3), modes[m]), NULL, NULL, 0, &r) ==
              0);
        const char *b = (const char *)r.body.p;
        int ok =
            r.status == 400 ||
            (r.status == 200 && ((r.body.len == 17 && !memcmp(b, "[{\"a\":1},{\"b\":2}]", 17)) ||
                                 (r.body.len == 9 && !memcmp(b, "[{\"b\":2}]", 9))));
        EXPECTF(ok, "GET at offset 3%s: %d \"%.*s\"", modes[m], r.status, (int)r.body.len, b);
        thttp_free(&r);
    }
    tsrv_stop(s);
}

/* A fork of a JSON stream at an offset inside a message: refused (400), or a fork whose reads are
 * JSON. Not a fork that stores a piece of a message before its own. */
static void test_json_fork_inside_a_message(void)
{
    tsrv *s = tsrv_start(NULL);
    thttp_resp r;
    CHECK(s);
    CHECK_INT(status_of(s, "PUT", DS "jfs", CT_JSON, "[{\"a\":1},{\"b\":2}]"), 201);
    CHECK(req(s, "PUT", DS "jff",
              t_fmt("Stream-Forked-From: " DS "jfs\r\nStream-Fork-Offset: %s\r\n", off_of(3)), NULL,
              0, &r) == 0);
    int st = r.status;
    thttp_free(&r);
    if (st == 400) {
        tsrv_stop(s);
        return;
    }
    CHECK_INT(st, 201);
    CHECK_INT(status_of(s, "POST", DS "jff", CT_JSON, "{\"c\":3}"), 204);
    CHECK(req(s, "GET", DS "jff", NULL, NULL, 0, &r) == 0);
    const char *b = (const char *)r.body.p;
    int ok = r.status == 200 && ((r.body.len == 9 && !memcmp(b, "[{\"c\":3}]", 9)) ||
                                 (r.body.len == 17 && !memcmp(b, "[{\"a\":1},{\"c\":3}]", 17)));
    EXPECTF(ok, "the fork reads %d \"%.*s\"", r.status, (int)r.body.len, b);
    thttp_free(&r);
    tsrv_stop(s);
}

/* Stream-Expires-At at the Unix epoch is in the past like any other: the stream is gone at the
 * next access (or refused at creation), as one a millisecond later is. */
static void test_expires_at_epoch(void)
{
    static const char *const times[] = {"1970-01-01T00:00:00.001Z", "1970-01-01T00:00:00Z",
                                        "1970-01-01T01:00:00+01:00", "1969-12-31T23:59:59Z"};
    tsrv *s = tsrv_start(NULL);
    CHECK(s);
    for (int i = 0; i < 4; i++) {
        const char *name = t_fmt("ep%d", i);
        int put = status_of(s, "PUT", t_fmt(DS "%s", name),
                            t_fmt(CT_TEXT "Stream-Expires-At: %s\r\n", times[i]), NULL);
        int head = status_of(s, "HEAD", t_fmt(DS "%s", name), NULL, NULL);
        EXPECTF(put == 400 || (put == 201 && head == 404),
                "Expires-At %s: PUT %d, then HEAD %d (want 404)", times[i], put, head);
    }
    tsrv_stop(s);
}

/* A stream deleted (at once, or softly while a fork still reads it) ends its SSE readers and its
 * native followers: no more data can come, and a reader that stays connected would wait forever. */
static void test_delete_ends_readers(void)
{
    tsrv *s = tsrv_start(NULL);
    ths *sse[2], *fol[2];
    tws *ws[2];
    CHECK(s);
    static const char *const names[] = {"dh", "ds"};
    for (int i = 0; i < 2; i++) {
        CHECK_INT(status_of(s, "PUT", t_fmt(DS "%s", names[i]), CT_TEXT, "abc"), 201);
        sse[i] = ths_get(s->port, t_fmt(DS "%s?offset=-1&live=sse", names[i]), NULL);
        CHECK(sse[i] && sse[i]->r.status == 200);
        fol[i] = ths_get(s->port, t_fmt("/%s?follow", names[i]), NULL);
        CHECK(fol[i] && fol[i]->r.status == 200);
        ws[i] = tws_follow(s->port, t_fmt("/%s", names[i]));
        CHECK(ws[i]);
        CHECK(ths_until(fol[i], 3, T_TIMEOUT));
    }
    CHECK_INT(status_of(s, "PUT", DS "dsfork", "Stream-Forked-From: " DS "ds\r\n", NULL), 201);
    CHECK_INT(status_of(s, "DELETE", DS "dh", NULL, NULL), 204);
    CHECK_INT(status_of(s, "DELETE", DS "ds", NULL, NULL), 204);
    CHECK_INT(status_of(s, "HEAD", DS "dh", NULL, NULL), 404);
    CHECK_INT(status_of(s, "HEAD", DS "ds", NULL, NULL), 410);
    int64_t deadline = t_now_ms() + T_TIMEOUT;
    for (int i = 0; i < 2; i++) {
        int64_t left = deadline - t_now_ms();
        int ended = ths_end(sse[i], left > 0 ? (int)left : 0) || sse[i]->eof;
        EXPECTF(ended, "the SSE reader of %s stays connected after its DELETE", names[i]);
        left = deadline - t_now_ms();
        ended = ths_end(fol[i], left > 0 ? (int)left : 0) || fol[i]->eof;
        EXPECTF(ended, "?follow of %s stays connected after its DELETE", names[i]);
        tws_collect c = {.utf8 = 1};
        left = deadline - t_now_ms();
        tws_collect_until(ws[i], &c, SIZE_MAX, left > 0 ? (int)left : 0);
        EXPECTF(c.closed || c.eof, "the WebSocket follower of %s stays connected after its DELETE",
                names[i]);
        tws_collect_free(&c);
        ths_free(sse[i]);
        ths_free(fol[i]);
        tws_free(ws[i]);
    }
    tsrv_stop(s);
}

/* Stream-Forked-From is a path, as the request-target is: a source whose name needs escaping is
 * named the way its URL names it. */
static void test_forked_from_escaped_name(void)
{
    tsrv *s = tsrv_start(NULL);
    tbuf b = {0};
    CHECK(s);
    CHECK_INT(status_of(s, "PUT", DS "sp%20ace", CT_TEXT, "spaced"), 201);
    CHECK_INT(read_all(s, "sp%20ace", "-1", &b), 200);
    CHECK_MEM(b.p, b.len, "spaced", 6);
    int st = status_of(s, "PUT", DS "spfork", "Stream-Forked-From: " DS "sp%20ace\r\n", NULL);
    EXPECTF(st == 201, "fork of " DS "sp%%20ace: %d", st);
    if (st == 201) {
        CHECK_INT(read_all(s, "spfork", "-1", &b), 200);
        CHECK_MEM(b.p, b.len, "spaced", 6);
    }
    tbuf_free(&b);
    tsrv_stop(s);
}

/* Content types are kept and compared whole, however long. */
static void test_long_content_types(void)
{
    tsrv *s = tsrv_start(NULL);
    thttp_resp r;
    char a[200], b[200], l[700];
    CHECK(s);
    memset(a, 'a', sizeof(a));
    snprintf(a + 130, sizeof(a) - 130, "1");
    memcpy(b, a, sizeof(b));
    b[130] = '2';
    CHECK_INT(status_of(s, "PUT", DS "lct", t_fmt("Content-Type: application/x-%s\r\n", a), NULL),
              201);
    int st = status_of(s, "POST", DS "lct", t_fmt("Content-Type: application/x-%s\r\n", b), "x");
    EXPECTF(st == 409, "POST with another content type (they differ at byte 145): %d", st);
    memset(l, 'b', sizeof(l));
    l[sizeof(l) - 1] = '\0';
    st = status_of(s, "PUT", DS "lct2", t_fmt("Content-Type: text/%s\r\n", l), NULL);
    if (st == 201) {
        CHECK(req(s, "HEAD", DS "lct2", NULL, NULL, 0, &r) == 0);
        const char *ct = thttp_header(&r, "Content-Type");
        EXPECTF(ct && strlen(ct) == 5 + strlen(l), "a %zu-byte Content-Type comes back with %zu",
                5 + strlen(l), ct ? strlen(ct) : 0);
        thttp_free(&r);
    } else {
        EXPECTF(st / 100 == 4, "PUT with a %zu-byte Content-Type: %d", 5 + strlen(l), st);
    }
    tsrv_stop(s);
}

/* A PUT or POST whose body the client cuts short (it half-closes before Content-Length bytes came):
 * nothing is created or appended, and the server ends the connection, as it does for a native
 * PUT; a connection left open would be held until the server stops. */
static void test_body_cut_short(void)
{
    static const char *const reqs[] = {
        "PUT /native.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n12345",
        "PUT " DS "cut HTTP/1.1\r\nHost: x\r\n" CT_TEXT "Content-Length: 100\r\n\r\n12345",
        "POST " DS "cutp HTTP/1.1\r\nHost: x\r\n" CT_TEXT "Content-Length: 100\r\n\r\n12345",
        "POST " DS "cutp HTTP/1.1\r\nHost: x\r\n" CT_TEXT
        "Transfer-Encoding: chunked\r\n\r\n5\r\n12345\r\n",
    };
    const char *flags[] = {"-shutdown-timeout=1s", NULL}; /* (connections left open hold it) */
    tsrv *s = tsrv_start(flags);
    CHECK(s);
    CHECK_INT(status_of(s, "PUT", DS "cutp", CT_TEXT, "abc"), 201);
    int fds[4];
    for (int i = 0; i < 4; i++) {
        fds[i] = t_connect(s->port);
        CHECK(fds[i] >= 0);
        CHECK(t_send_str(fds[i], reqs[i]) == 0);
        shutdown(fds[i], SHUT_WR);
    }
    int64_t deadline = t_now_ms() + T_TIMEOUT;
    for (int i = 0; i < 4; i++) {
        int64_t left = deadline - t_now_ms();
        EXPECTF(t_wait_eof(fds[i], left > 0 ? (int)left : 0),
                "the connection stays open after a body cut short: %.40s", reqs[i]);
        close(fds[i]);
    }
    CHECK_INT(status_of(s, "HEAD", DS "cut", NULL, NULL), 404);
    tbuf b = {0};
    CHECK_INT(read_all(s, "cutp", "-1", &b), 200);
    CHECK_MEM(b.p, b.len, "abc", 3);
    tbuf_free(&b);
    tsrv_stop(s);
}

/* A stream whose path is long (3 KB, well under -max-url) gets its 201 like any other: the answer
 * with its Location is not lost. */
static void test_long_stream_path(void)
{
    tsrv *s = tsrv_start(NULL);
    thttp_resp r;
    tbuf path = {0};
    CHECK(s);
    tbuf_adds(&path, DS "long");
    for (int i = 0; i < 16; i++) {
        tbuf_adds(&path, "/");
        for (int k = 0; k < 200; k++)
            tbuf_add(&path, "p", 1);
    }
    tbuf_add(&path, "", 1);
    const char *p = (const char *)path.p;
    CHECK(req(s, "PUT", p, CT_TEXT, "x", 1, &r) == 0 || r.status == 0);
    EXPECTF(r.status == 201, "PUT of a %zu-byte path: %d%s", strlen(p), r.status,
            r.status ? "" : " (the connection closed without an answer)");
    /* (thttp_header's buffers are shorter than this header: look in the head itself) */
    const char *loc = strstr(r.head, "\r\nLocation: http://");
    const char *end = loc ? strstr(loc + 2, "\r\n") : NULL;
    size_t pl = strlen(p);
    EXPECTF(r.status != 201 || (end && (size_t)(end - loc) > pl && !memcmp(end - pl, p, pl)),
            "Location %.60s...", loc ? loc + 2 : "(none)");
    thttp_free(&r);
    CHECK_INT(status_of(s, "HEAD", p, NULL, NULL), 200);
    tbuf_free(&path);
    tsrv_stop(s);
}

/* 410 is an answer of this protocol: its status line says so. */
static void test_gone_status_line(void)
{
    tsrv *s = tsrv_start(NULL);
    thttp_resp r;
    CHECK(s);
    CHECK_INT(status_of(s, "PUT", DS "g", CT_TEXT, "g"), 201);
    CHECK_INT(status_of(s, "PUT", DS "gf", "Stream-Forked-From: " DS "g\r\n", NULL), 201);
    CHECK_INT(status_of(s, "DELETE", DS "g", NULL, NULL), 204);
    CHECK(req(s, "GET", DS "g", NULL, NULL, 0, &r) == 0);
    CHECK_INT(r.status, 410);
    EXPECTF(!strncmp(r.head, "HTTP/1.1 410 Gone\r\n", 19), "status line \"%.*s\"",
            (int)(strstr(r.head, "\r\n") - r.head), r.head);
    thttp_free(&r);
    tsrv_stop(s);
}

int main(void)
{
    RUN(test_restart_after_kill9);
    RUN(test_native_view_of_a_text_stream);
    RUN(test_native_view_of_a_binary_stream);
    RUN(test_native_resource_is_not_a_stream);
    RUN(test_max_message_keeps_the_connection);
    RUN(test_pipelined_read_your_writes);
    RUN(test_bad_offsets);
    RUN(test_unknown_parameters_ignored);
    RUN(test_producer_numbers);
    RUN(test_path_attacks);
    RUN(test_large_bodies);
    RUN(test_many_long_polls);
    RUN(test_readers_that_vanish);
    RUN(test_slow_sse_reader);
    RUN(test_sse_large_messages);
    RUN(test_many_streams);
    RUN(test_shutdown_with_readers_waiting);
    RUN(test_long_poll_timeout);
    RUN(test_immediate_answer_on_closing_connection);
    RUN(test_json_read_inside_a_message);
    RUN(test_json_fork_inside_a_message);
    RUN(test_expires_at_epoch);
    RUN(test_delete_ends_readers);
    RUN(test_forked_from_escaped_name);
    RUN(test_long_content_types);
    RUN(test_body_cut_short);
    RUN(test_long_stream_path);
    RUN(test_gone_status_line);
    return test_report();
}
