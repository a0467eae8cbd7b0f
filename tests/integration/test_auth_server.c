/* test_auth_server.c -- access control (-auth, -sign-key) against the real server, over raw
 * sockets: every right against every protocol (static GET, HEAD, ?follow, SSE, WebSocket FOLLOW and
 * APPEND, PUT and POST, the viewer, listings as HTML, JSON and the original's page, and the
 * Durable Streams PUT, POST, GET, HEAD, DELETE, SSE, long-poll, OPTIONS and WebSocket) with no
 * credential (401 and WWW-Authenticate), an unknown token (401), a token without the right (403),
 * a malformed credential (400), and the right token in the header and in ?token=; refusals that
 * change nothing, read no body and echo neither the URL nor the credential; Durable Streams
 * refusals with their CORS headers; directory and exact prefixes, the mount prefix, anonymous `*`
 * rules, sha256: tokens; signed URLs (valid, tampered, moved, expired, prefix-signed, rights they
 * do not grant, malformed) and an expiry passing; SIGHUP reloads under a live follower and
 * appender that keep streaming, a bad file that keeps the old rules and names its line, a server
 * without rules; bad files at start; the credential carried by listings and the viewer; and the
 * log, which never holds a token, a signature or an Authorization header, but their redacted
 * form. */
#include "../harness.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "auth/auth.h"

#define WS_HEADERS                                                                                 \
    "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" \
    "Sec-WebSocket-Version: 13\r\n"
#define BROWSER_ACCEPT "Accept: text/html,application/xhtml+xml,*/*;q=0.8\r\n"
#define WWW_AUTH       "Bearer realm=\"httpfstream\""
#define KEY            "a signing key for the tests, 32+ bytes long"

/* ---- files and servers ---------------------------------------------------------------------- */

static char dir[64]; /* this binary's scratch folder: rules and key files */

static const char *scratch(const char *name)
{
    if (!dir[0]) {
        snprintf(dir, sizeof(dir), "/tmp/hfs-auth.XXXXXX");
        if (!mkdtemp(dir))
            dir[0] = '\0';
    }
    return t_fmt("%s/%s", dir, name);
}

/* Writes a file in the scratch folder; its path (a t_fmt buffer). */
static const char *put_file(const char *name, const char *text)
{
    const char *p = scratch(name);
    return t_file_write(p, text, strlen(text)) == 0 ? p : NULL;
}

/* A server with the rules text (NULL: no -auth), the key (NULL: no -sign-key) and one more flag. */
static tsrv *start_auth(const char *rules, const char *key, const char *flag)
{
    char rf[300] = "", kf[300] = "";
    const char *flags[6];
    int n = 0;
    static int seq;

    seq++;
    if (rules) {
        const char *p = put_file(t_fmt("rules-%d", seq), rules);
        snprintf(rf, sizeof(rf), "-auth=%s", p ? p : "/nonexistent");
        flags[n++] = rf;
    }
    if (key) {
        const char *p = put_file(t_fmt("key-%d", seq), key);
        snprintf(kf, sizeof(kf), "-sign-key=%s", p ? p : "/nonexistent");
        flags[n++] = kf;
    }
    flags[n++] = "-long-poll=200ms";
    if (flag)
        flags[n++] = flag;
    flags[n] = NULL;
    return tsrv_start(flags);
}

/* The SHA-256 of s as 64 hex digits, in a t_fmt buffer. */
static const char *sha256_hex(const char *s)
{
    unsigned char d[32];
    unsigned dl = 0;
    char hex[65];

    EVP_Digest(s, strlen(s), d, &dl, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
    return t_fmt("%s", hex);
}

/* "expires=E&rights=R&sig=S" for path, in a t_fmt buffer. */
static const char *signed_query(const char *rights, int64_t expires, const char *path)
{
    char q[256];
    size_t n = auth_sign((const uint8_t *)KEY, strlen(KEY), rights, expires, path, q, sizeof(q));
    return t_fmt("%s", n ? q : "sign-failed");
}

/* ---- requests --------------------------------------------------------------------------------
 */

/* Sends method path (headers each ending "\r\n", may be NULL; body NULL for none) and reads the
 * answer's head; for a status of 300 or more also its body (by Content-Length). A stream that
 * follows a 1xx or 2xx head is left unread. Returns the status (0: no answer). */
static int ask(tsrv *s, const char *method, const char *path, const char *headers, const char *body,
               thttp_resp *r)
{
    tbuf q = {0};
    int fd = t_connect(s->port);

    memset(r, 0, sizeof(*r));
    tbuf_add(&r->body, "", 0);
    if (fd < 0)
        return 0;
    tbuf_adds(&q, method); /* (path may be longer than a t_fmt buffer) */
    tbuf_adds(&q, " ");
    tbuf_adds(&q, path);
    tbuf_adds(&q, t_fmt(" HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n", s->port));
    if (headers)
        tbuf_adds(&q, headers);
    if (body)
        tbuf_adds(&q, t_fmt("Content-Length: %zu\r\n", strlen(body)));
    tbuf_adds(&q, "\r\n");
    if (body)
        tbuf_adds(&q, body);
    t_send_all(fd, q.p, q.len);
    tbuf_free(&q);
    tbuf in = {0};
    int64_t deadline = t_now_ms() + T_TIMEOUT;
    for (;;) {
        const uint8_t *end = in.len ? memmem(in.p, in.len, "\r\n\r\n", 4) : NULL;
        if (end && !r->status) {
            size_t hl = (size_t)(end - in.p) + 4;
            size_t copy = hl < THTTP_HEAD_MAX ? hl : THTTP_HEAD_MAX;
            memcpy(r->head, in.p, copy);
            r->head[copy] = '\0';
            r->head_len = hl;
            r->status = strncmp(r->head, "HTTP/1.1 ", 9) == 0 ? atoi(r->head + 9) : -1;
        }
        if (r->status && (r->status < 300 || !strcmp(method, "HEAD")))
            break;
        if (r->status) {
            const char *cl = thttp_header(r, "Content-Length");
            size_t want = cl ? (size_t)atol(cl) : 0;
            if (in.len - r->head_len >= want) {
                tbuf_add(&r->body, in.p + r->head_len, want);
                break;
            }
        }
        int64_t left = deadline - t_now_ms();
        uint8_t buf[16384];
        ssize_t n = t_recv(fd, buf, sizeof(buf), left < 0 ? 0 : (int)left);
        if (n <= 0) {
            r->eof = 1;
            break;
        }
        tbuf_add(&in, buf, (size_t)n);
    }
    tbuf_free(&in);
    close(fd);
    return r->status;
}

/* The status of ask, the answer dropped. */
static int status_of(tsrv *s, const char *method, const char *path, const char *headers,
                     const char *body)
{
    thttp_resp r;
    int st = ask(s, method, path, headers, body, &r);
    thttp_free(&r);
    return st;
}

/* path with one more query parameter. */
static const char *with_param(const char *path, const char *param)
{
    return t_fmt("%s%c%s", path, strchr(path, '?') ? '&' : '?', param);
}

static const char *bearer(const char *token)
{
    return t_fmt("Authorization: Bearer %s\r\n", token);
}

/* ---- every right against every protocol -------------------------------------------------------
 */

typedef struct kind {
    const char *name;
    const char *method;
    const char *path; /* "%d": a fresh name for each request */
    const char *headers;
    const char *body;
    unsigned right; /* what it needs; 0: nothing */
    int ok;         /* the status when allowed */
    int ds;         /* under the Durable Streams prefix: refusals carry CORS headers */
} kind;

static const kind kinds[] = {
    {"static GET", "GET", "/ci/a.log", NULL, NULL, AUTH_READ, 200, 0},
    {"HEAD", "HEAD", "/ci/a.log", NULL, NULL, AUTH_READ, 200, 0},
    {"?follow (chunked)", "GET", "/ci/a.log?follow", NULL, NULL, AUTH_READ, 200, 0},
    {"SSE follow (Accept)", "GET", "/ci/a.log", "Accept: text/event-stream\r\n", NULL, AUTH_READ,
     200, 0},
    {"SSE follow (?follow=sse)", "GET", "/ci/a.log?follow=sse", NULL, NULL, AUTH_READ, 200, 0},
    {"WebSocket FOLLOW", "GET", "/ci/a.log?frames=binary", WS_HEADERS, NULL, AUTH_READ, 101, 0},
    {"WebSocket FOLLOW (original)", "GET", "/ci/a.log", WS_HEADERS "X-Verb: FOLLOW\r\n", NULL,
     AUTH_READ, 200, 0},
    {"WebSocket APPEND (X-Verb)", "GET", "/ci/ws-%d.log", WS_HEADERS "X-Verb: APPEND\r\n", NULL,
     AUTH_APPEND, 101, 0},
    {"WebSocket APPEND (?verb)", "GET", "/ci/wsq-%d.log?verb=APPEND", WS_HEADERS, NULL, AUTH_APPEND,
     101, 0},
    {"APPEND without an upgrade (426)", "GET", "/ci/a.log?verb=APPEND", NULL, NULL, AUTH_APPEND,
     426, 0},
    {"PUT", "PUT", "/ci/put-%d.log", NULL, "a PUT body\n", AUTH_APPEND, 201, 0},
    {"POST", "POST", "/ci/post-%d.log", NULL, "a POST body\n", AUTH_APPEND, 201, 0},
    {"viewer", "GET", "/ci/a.log", BROWSER_ACCEPT, NULL, AUTH_READ, 200, 0},
    {"viewer (?view)", "GET", "/ci/a.log?view", NULL, NULL, AUTH_READ, 200, 0},
    {"listing HTML", "GET", "/ci/", BROWSER_ACCEPT, NULL, AUTH_READ, 200, 0},
    {"listing JSON", "GET", "/ci/", "Accept: application/json\r\n", NULL, AUTH_READ, 200, 0},
    {"listing <pre>", "GET", "/ci/", NULL, NULL, AUTH_READ, 200, 0},
    {"listing redirect", "GET", "/ci", NULL, NULL, AUTH_READ, 301, 0},
    {"DS PUT", "PUT", "/v1/stream/p-%d", "Content-Type: text/plain\r\n", "", AUTH_APPEND, 201, 1},
    {"DS POST", "POST", "/v1/stream/s", "Content-Type: text/plain\r\n", "x", AUTH_APPEND, 204, 1},
    {"DS GET", "GET", "/v1/stream/s?offset=-1", NULL, NULL, AUTH_READ, 200, 1},
    {"DS HEAD", "HEAD", "/v1/stream/s", NULL, NULL, AUTH_READ, 200, 1},
    {"DS SSE", "GET", "/v1/stream/s?offset=-1&live=sse", NULL, NULL, AUTH_READ, 200, 1},
    {"DS long-poll", "GET", "/v1/stream/s?offset=now&live=long-poll", NULL, NULL, AUTH_READ, 204,
     1},
    {"DS DELETE", "DELETE", "/v1/stream/d-%d", NULL, NULL, AUTH_DELETE, 204, 1},
    {"DS WebSocket follow", "GET", "/v1/stream/s?frames=binary", WS_HEADERS, NULL, AUTH_READ, 101,
     0},
    {"DS WebSocket APPEND", "GET", "/v1/stream/s", WS_HEADERS "X-Verb: APPEND\r\n", NULL,
     AUTH_APPEND, 409, 0},
    {"DS OPTIONS", "OPTIONS", "/v1/stream/s", NULL, NULL, 0, 204, 1},
    {"DS PATCH (405)", "PATCH", "/v1/stream/s", NULL, NULL, 0, 405, 1},
    {"PATCH (405)", "PATCH", "/ci/a.log", NULL, NULL, 0, 405, 0},
    {"DELETE outside the prefix (405)", "DELETE", "/ci/a.log", NULL, NULL, 0, 405, 0},
};

/* One token for each right, on every path. */
#define MATRIX_RULES                                                                               \
    "# one right each, everywhere\n"                                                               \
    "read    /   tok-read\n"                                                                       \
    "append  /   tok-append   # comments after a rule\n"                                           \
    "\n"                                                                                           \
    "delete  /   tok-delete\n"

static const char *token_for(unsigned right)
{
    return right == AUTH_READ ? "tok-read" : right == AUTH_APPEND ? "tok-append" : "tok-delete";
}

/* A token that lacks right (it holds another one). */
static const char *token_without(unsigned right)
{
    return right == AUTH_READ ? "tok-append" : "tok-read";
}

static int seq_name;

/* The request of kind k with a credential (extra headers, a query parameter, either NULL). */
static int ask_kind(tsrv *s, const kind *k, const char *hdr, const char *param, thttp_resp *r)
{
    char path[256], headers[512];
    int n = ++seq_name;

    snprintf(path, sizeof(path), k->path, n);
    if (!strcmp(k->method, "DELETE")) /* a stream to delete */
        status_of(s, "PUT", path,
                  "Content-Type: text/plain\r\n"
                  "Authorization: Bearer tok-append\r\n",
                  "");
    snprintf(headers, sizeof(headers), "%s%s", k->headers ? k->headers : "", hdr ? hdr : "");
    return ask(s, k->method, param ? with_param(path, param) : path, headers, k->body, r);
}

/* A refusal: status, WWW-Authenticate only on 401, a body that names neither the path nor the
 * token, CORS headers under the Durable Streams prefix. */
static void expect_refusal(const kind *k, const char *how, thttp_resp *r, int status)
{
    EXPECTF(r->status == status, "%s, %s: %d, want %d", k->name, how, r->status, status);
    const char *wa = thttp_header(r, "WWW-Authenticate");
    if (status == 401)
        EXPECTF(wa && !strcmp(wa, WWW_AUTH), "%s, %s: WWW-Authenticate [%s]", k->name, how,
                wa ? wa : "(none)");
    else
        EXPECTF(!wa, "%s, %s: WWW-Authenticate on a %d", k->name, how, status);
    EXPECTF(!t_contains(r->body.p, r->body.len, "tok-") &&
                !t_contains(r->body.p, r->body.len, "ci/") &&
                !t_contains(r->body.p, r->body.len, "stream/"),
            "%s, %s: the body echoes the request: %.*s", k->name, how, (int)r->body.len,
            (const char *)r->body.p);
    if (strcmp(k->method, "HEAD") != 0)
        EXPECTF(r->body.len > 0 && r->body.len < 64, "%s, %s: body of %zu bytes", k->name, how,
                r->body.len);
    if (k->ds)
        EXPECTF(thttp_header(r, "Access-Control-Allow-Origin") &&
                    strstr(thttp_header(r, "Access-Control-Expose-Headers"), "WWW-Authenticate"),
                "%s, %s: no CORS headers on the refusal", k->name, how);
}

static void test_every_right_every_protocol(void)
{
    tsrv *s = start_auth(MATRIX_RULES, NULL, NULL);
    CHECK(s);
    CHECK(mkdir(tsrv_path(s, "ci"), 0755) == 0);
    CHECK(t_file_write(tsrv_path(s, "ci/a.log"), "hello\n", 6) == 0);
    CHECK_INT(status_of(s, "PUT", "/v1/stream/s",
                        "Content-Type: text/plain\r\n"
                        "Authorization: Bearer tok-append\r\n",
                        "a"),
              201);
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        const kind *k = &kinds[i];
        thttp_resp r;
        if (!k->right) {
            ask_kind(s, k, NULL, NULL, &r);
            EXPECTF(r.status == k->ok, "%s without a credential: %d, want %d", k->name, r.status,
                    k->ok);
            EXPECTF(!k->ds || thttp_header(&r, "Access-Control-Allow-Origin"), "%s: no CORS",
                    k->name);
            thttp_free(&r);
            continue;
        }
        ask_kind(s, k, NULL, NULL, &r);
        expect_refusal(k, "no credential", &r, 401);
        thttp_free(&r);
        ask_kind(s, k, bearer("nobody-knows-me"), NULL, &r);
        expect_refusal(k, "an unknown token", &r, 401);
        thttp_free(&r);
        ask_kind(s, k, NULL, "token=nobody-knows-me", &r);
        expect_refusal(k, "an unknown ?token=", &r, 401);
        thttp_free(&r);
        ask_kind(s, k, bearer(token_without(k->right)), NULL, &r);
        expect_refusal(k, "a token without the right", &r, 403);
        thttp_free(&r);
        ask_kind(s, k, NULL, t_fmt("token=%s", token_without(k->right)), &r);
        expect_refusal(k, "a ?token= without the right", &r, 403);
        thttp_free(&r);
        ask_kind(s, k, "Authorization: Basic dG9rLXJlYWQ6\r\n", NULL, &r);
        expect_refusal(k, "a Basic Authorization", &r, 400);
        thttp_free(&r);
        ask_kind(s, k, t_fmt("%s%s", bearer(token_for(k->right)), bearer(token_for(k->right))),
                 NULL, &r);
        expect_refusal(k, "two Authorization headers", &r, 400);
        thttp_free(&r);
        ask_kind(s, k, NULL, "token=a&token=b", &r);
        expect_refusal(k, "two ?token=", &r, 400);
        thttp_free(&r);
        ask_kind(s, k, bearer(token_for(k->right)), NULL, &r);
        EXPECTF(r.status == k->ok, "%s with the right token in the header: %d, want %d", k->name,
                r.status, k->ok);
        thttp_free(&r);
        ask_kind(s, k, NULL, t_fmt("token=%s", token_for(k->right)), &r);
        EXPECTF(r.status == k->ok, "%s with the right ?token=: %d, want %d", k->name, r.status,
                k->ok);
        thttp_free(&r);
    }
    tsrv_stop(s);
}

/* Refused requests change nothing: no file, no stream created or deleted, no bytes appended. */
static void test_refusals_change_nothing(void)
{
    tsrv *s = start_auth(MATRIX_RULES, NULL, NULL);
    CHECK(s);
    CHECK(t_file_write(tsrv_path(s, "a.log"), "hello\n", 6) == 0);
    CHECK_INT(status_of(s, "PUT", "/v1/stream/keep",
                        "Content-Type: text/plain\r\nAuthorization: Bearer tok-append\r\n", "abc"),
              201);
    CHECK_INT(status_of(s, "PUT", "/new.log", bearer("tok-read"), "x"), 403);
    CHECK_INT(status_of(s, "POST", "/a.log", NULL, "more"), 401);
    CHECK_INT(status_of(s, "GET", "/ws.log?verb=APPEND", WS_HEADERS, NULL), 401);
    CHECK_INT(status_of(s, "PUT", "/v1/stream/new", "Content-Type: text/plain\r\n", ""), 401);
    CHECK_INT(status_of(s, "POST", "/v1/stream/keep",
                        "Content-Type: text/plain\r\nAuthorization: Bearer tok-read\r\n", "def"),
              403);
    CHECK_INT(status_of(s, "DELETE", "/v1/stream/keep", bearer("tok-append"), NULL), 403);
    CHECK(!t_exists(tsrv_path(s, "new.log")));
    CHECK(!t_exists(tsrv_path(s, "ws.log")));
    CHECK(!t_exists(tsrv_path(s, "new")));
    tbuf b = {0};
    CHECK(t_file_read(tsrv_path(s, "a.log"), &b) == 0);
    CHECK_MEM(b.p, b.len, "hello\n", 6);
    thttp_resp r;
    CHECK_INT(ask(s, "GET", "/v1/stream/keep?offset=-1", bearer("tok-read"), NULL, &r), 200);
    thttp_free(&r);
    CHECK(t_file_read(tsrv_path(s, "keep"), &b) == 0);
    CHECK_MEM(b.p, b.len, "abc", 3);
    tbuf_free(&b);
    tsrv_stop(s);
}

/* A refused request with a body: answered at once without reading the body, then closed. */
static void test_refused_body_not_read(void)
{
    tsrv *s = start_auth(MATRIX_RULES, NULL, NULL);
    CHECK(s);
    const char *paths[] = {"/big.log", "/v1/stream/big"};
    for (int i = 0; i < 2; i++) {
        int fd = t_connect(s->port);
        CHECK(fd >= 0);
        /* 100 MB announced, 64 KiB sent: an answer must come without the rest. */
        t_send_str(fd, t_fmt("PUT %s HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
                             "Authorization: Bearer tok-read\r\nContent-Length: 100000000\r\n\r\n",
                             paths[i]));
        char chunk[65536];
        memset(chunk, 'x', sizeof(chunk));
        t_send_all(fd, chunk, sizeof(chunk));
        thttp_resp r;
        CHECK(thttp_read(fd, &r, 0, T_TIMEOUT) == 0);
        CHECK_INT(r.status, 403);
        const char *conn = thttp_header(&r, "Connection");
        CHECKF(conn && !strcasecmp(conn, "close"), "%s: Connection [%s]", paths[i],
               conn ? conn : "(none)");
        thttp_free(&r);
        CHECKF(t_wait_eof(fd, 5000), "%s: the connection stays open", paths[i]);
        close(fd);
    }
    CHECK(!t_exists(tsrv_path(s, "big.log")));
    CHECK(!t_exists(tsrv_path(s, "big")));
    tsrv_stop(s);
}

/* A WebSocket handshake is refused before any upgrade, with the same statuses. */
static void test_websocket_handshake_refused(void)
{
    tsrv *s = start_auth(MATRIX_RULES, NULL, NULL);
    CHECK(s);
    CHECK(t_file_write(tsrv_path(s, "w.log"), "x\n", 2) == 0);
    thttp_resp r;
    tws *w = tws_connect(s->port, "/w.log?frames=binary", NULL, &r);
    CHECK(!w);
    CHECK_INT(r.status, 401);
    CHECK_STR(thttp_header(&r, "WWW-Authenticate"), WWW_AUTH);
    CHECK(!thttp_header(&r, "Sec-WebSocket-Accept"));
    thttp_free(&r);
    w = tws_connect(s->port, "/w.log", "X-Verb: APPEND\r\nAuthorization: Bearer tok-read\r\n", &r);
    CHECK(!w);
    CHECK_INT(r.status, 403);
    thttp_free(&r);
    w = tws_connect(s->port, "/w.log?frames=binary&token=tok-read", NULL, NULL);
    CHECK(w);
    tws_collect c = {.opcode = WS_OP_BINARY};
    CHECK(tws_collect_until(w, &c, SIZE_MAX, 5000) == 0);
    CHECK_MEM(c.data.p, c.data.len, "x\n", 2);
    tws_collect_free(&c);
    tws_free(w);
    tsrv_stop(s);
}

/* ---- rules ----------------------------------------------------------------------------------- */

static void test_prefixes(void)
{
    tsrv *s = start_auth("read /ci/ dir-tok\n"
                         "read /exact.log exact-tok\n"
                         "read,append / root-tok\n"
                         "append /ci/job-1.log job-tok\n",
                         NULL, NULL);
    CHECK(s);
    CHECK(mkdir(tsrv_path(s, "ci"), 0755) == 0);
    CHECK(mkdir(tsrv_path(s, "ci/deep"), 0755) == 0);
    CHECK(mkdir(tsrv_path(s, "ci2"), 0755) == 0);
    const char *files[] = {"ci/a.log", "ci/deep/b.log", "ci2/c.log", "exact.log", "exact.log2"};
    for (size_t i = 0; i < 5; i++)
        CHECK(t_file_write(tsrv_path(s, files[i]), "x", 1) == 0);
    /* A directory prefix covers everything below it, and nothing beside it. */
    CHECK_INT(status_of(s, "GET", "/ci/a.log", bearer("dir-tok"), NULL), 200);
    CHECK_INT(status_of(s, "GET", "/ci/deep/b.log", bearer("dir-tok"), NULL), 200);
    CHECK_INT(status_of(s, "GET", "/ci/", bearer("dir-tok"), NULL), 200);
    CHECK_INT(status_of(s, "GET", "/ci2/c.log", bearer("dir-tok"), NULL), 403);
    CHECK_INT(status_of(s, "GET", "/exact.log", bearer("dir-tok"), NULL), 403);
    /* Paths are decided clean and decoded: dot segments and escapes do not get around a rule. */
    CHECK_INT(status_of(s, "GET", "/ci/../ci2/c.log", bearer("dir-tok"), NULL), 403);
    CHECK_INT(status_of(s, "GET", "/%63i2/c.log", bearer("dir-tok"), NULL), 403);
    CHECK_INT(status_of(s, "GET", "/%63i/a.log", bearer("dir-tok"), NULL), 200);
    CHECK_INT(status_of(s, "GET", "/ci2/../ci/a.log", bearer("dir-tok"), NULL), 301);
    /* An exact prefix names one path. */
    CHECK_INT(status_of(s, "GET", "/exact.log", bearer("exact-tok"), NULL), 200);
    CHECK_INT(status_of(s, "GET", "/exact.log2", bearer("exact-tok"), NULL), 403);
    CHECK_INT(status_of(s, "GET", "/exact.log/x", bearer("exact-tok"), NULL), 403);
    CHECK_INT(status_of(s, "GET", "/ci/a.log", bearer("exact-tok"), NULL), 403);
    CHECK_INT(status_of(s, "PUT", "/exact.log", bearer("exact-tok"), "y"), 403);
    /* "/" covers every path; an exact append rule grants that path only, and not read. */
    CHECK_INT(status_of(s, "GET", "/ci2/c.log", bearer("root-tok"), NULL), 200);
    CHECK_INT(status_of(s, "GET", "/", bearer("root-tok"), NULL), 200);
    CHECK_INT(status_of(s, "POST", "/ci/job-1.log", bearer("job-tok"), "z"), 201);
    CHECK_INT(status_of(s, "POST", "/ci/job-2.log", bearer("job-tok"), "z"), 403);
    CHECK_INT(status_of(s, "GET", "/ci/job-1.log", bearer("job-tok"), NULL), 403);
    tsrv_stop(s);
}

/* A Durable Streams stream is also a native resource: a rule on one path does not cover the
 * other. */
static void test_stream_and_native_view(void)
{
    tsrv *s = start_auth("read,append /v1/stream/ ds-tok\nread /job native-tok\n", NULL, NULL);
    CHECK(s);
    CHECK_INT(status_of(s, "PUT", "/v1/stream/job",
                        "Content-Type: text/plain\r\nAuthorization: Bearer ds-tok\r\n", "j"),
              201);
    CHECK_INT(status_of(s, "GET", "/v1/stream/job?offset=-1", bearer("ds-tok"), NULL), 200);
    CHECK_INT(status_of(s, "GET", "/job", bearer("ds-tok"), NULL), 403);
    CHECK_INT(status_of(s, "GET", "/job?frames=binary",
                        WS_HEADERS "Authorization: Bearer ds-tok\r\n", NULL),
              403);
    CHECK_INT(status_of(s, "GET", "/job", bearer("native-tok"), NULL), 200);
    CHECK_INT(status_of(s, "GET", "/v1/stream/job?offset=-1", bearer("native-tok"), NULL), 403);
    tsrv_stop(s);
}

/* Rules name paths with the mount prefix in front. */
static void test_mount_prefix(void)
{
    tsrv *s = start_auth("read /logs/ci/ t1\nread /ci/ t2\n", NULL, "-prefix=/logs");
    CHECK(s);
    CHECK(mkdir(tsrv_path(s, "ci"), 0755) == 0);
    CHECK(t_file_write(tsrv_path(s, "ci/a.log"), "x", 1) == 0);
    CHECK_INT(status_of(s, "GET", "/logs/ci/a.log", bearer("t1"), NULL), 200);
    CHECK_INT(status_of(s, "GET", "/logs/ci/a.log", bearer("t2"), NULL), 403);
    CHECK_INT(status_of(s, "GET", "/ci/a.log", bearer("t2"), NULL), 404); /* outside the mount */
    CHECK_INT(status_of(s, "GET", "/ci/a.log", bearer("t1"), NULL), 403); /* decided first */
    CHECK_INT(status_of(s, "GET", "/ci/a.log", NULL, NULL), 401);
    tsrv_stop(s);
}

static void test_anonymous_rules(void)
{
    tsrv *s = start_auth("read /pub/ *\nread,append /pub/ writer\nappend /inbox/ *\n", NULL, NULL);
    CHECK(s);
    CHECK(mkdir(tsrv_path(s, "pub"), 0755) == 0);
    CHECK(t_file_write(tsrv_path(s, "pub/a.txt"), "pub\n", 4) == 0);
    CHECK(t_file_write(tsrv_path(s, "secret.txt"), "no\n", 3) == 0);
    /* Anyone reads /pub/, with or without a token, known or not; nobody reads elsewhere. */
    CHECK_INT(status_of(s, "GET", "/pub/a.txt", NULL, NULL), 200);
    CHECK_INT(status_of(s, "GET", "/pub/", "Accept: application/json\r\n", NULL), 200);
    CHECK_INT(status_of(s, "GET", "/pub/a.txt?follow", NULL, NULL), 200);
    CHECK_INT(status_of(s, "GET", "/pub/a.txt", bearer("who-knows"), NULL), 200);
    CHECK_INT(status_of(s, "GET", "/pub/a.txt", bearer("writer"), NULL), 200);
    CHECK_INT(status_of(s, "GET", "/secret.txt", NULL, NULL), 401);
    /* Reading is not appending. */
    CHECK_INT(status_of(s, "POST", "/pub/a.txt", NULL, "x"), 401);
    CHECK_INT(status_of(s, "POST", "/pub/a.txt", bearer("who-knows"), "x"), 401);
    CHECK_INT(status_of(s, "POST", "/pub/a.txt", bearer("writer"), "x"), 200);
    /* An anonymous append rule: anyone appends, nobody reads. */
    CHECK_INT(status_of(s, "PUT", "/inbox/m.txt", NULL, "hi"), 201);
    CHECK_INT(status_of(s, "GET", "/inbox/m.txt", NULL, NULL), 401);
    tsrv_stop(s);
}

static void test_sha256_tokens(void)
{
    char rules[300];
    snprintf(rules, sizeof(rules), "read / sha256:%s\n", sha256_hex("hashed-secret"));
    snprintf(rules + strlen(rules), sizeof(rules) - strlen(rules), "read,append /w/ SHA256:%s\n",
             sha256_hex("writer-x"));
    tsrv *s = start_auth(rules, NULL, NULL);
    CHECK(s);
    CHECK(t_file_write(tsrv_path(s, "a.log"), "x", 1) == 0);
    CHECK_INT(status_of(s, "GET", "/a.log", bearer("hashed-secret"), NULL), 200);
    CHECK_INT(status_of(s, "GET", "/a.log?token=hashed-secret", NULL, NULL), 200);
    /* The digest is not the token. */
    CHECK_INT(status_of(s, "GET", "/a.log", bearer(sha256_hex("hashed-secret")), NULL), 401);
    CHECK_INT(status_of(s, "GET", "/a.log", bearer("hashed-secreT"), NULL), 401);
    CHECK_INT(status_of(s, "PUT", "/w/x.log", bearer("writer-x"), "x"), 201);
    CHECK_INT(status_of(s, "PUT", "/w/y.log", bearer("hashed-secret"), "x"), 403);
    tsrv_stop(s);
}

/* ?token= decodes as a form value; the header wins over it; both forms are refused malformed. */
static void test_query_token(void)
{
    tsrv *s = start_auth("read / t+ok/=\nappend / other\n", NULL, NULL);
    CHECK(s);
    CHECK(t_file_write(tsrv_path(s, "a.log"), "x", 1) == 0);
    CHECK_INT(status_of(s, "GET", "/a.log?token=t%2Bok%2F%3D", NULL, NULL), 200);
    CHECK_INT(status_of(s, "GET", "/a.log?offset=0&token=t%2Bok/%3D&lines=1", NULL, NULL), 200);
    CHECK_INT(status_of(s, "GET", "/a.log?token=t+ok/=", NULL, NULL), 400); /* '+': a blank */
    CHECK_INT(status_of(s, "GET", "/a.log?token=", NULL, NULL), 400);
    CHECK_INT(status_of(s, "GET", "/a.log?token=%zz", NULL, NULL), 400);
    CHECK_INT(status_of(s, "GET", "/a.log?%74oken=t%2Bok%2F%3D", NULL, NULL), 200);
    /* The Authorization header is the credential when both came. */
    CHECK_INT(status_of(s, "GET", "/a.log?token=t%2Bok%2F%3D", bearer("other"), NULL), 403);
    CHECK_INT(status_of(s, "GET", "/a.log?token=other", bearer("t+ok/="), NULL), 200);
    CHECK_INT(status_of(s, "GET", "/a.log", "Authorization: bearer   t+ok/=  \r\n", NULL), 200);
    CHECK_INT(status_of(s, "GET", "/a.log", "Authorization: Bearer\r\n", NULL), 400);
    CHECK_INT(status_of(s, "GET", "/a.log", "Authorization: Bearer a b\r\n", NULL), 400);
    /* Tokens of up to 4096 bytes. */
    char big[5000];
    memcpy(big, "/a.log?token=", 13);
    memset(big + 13, 'k', sizeof(big) - 14);
    big[13 + 4097] = '\0';
    CHECK_INT(status_of(s, "GET", big, NULL, NULL), 400);
    big[13 + 4096] = '\0';
    CHECK_INT(status_of(s, "GET", big, NULL, NULL), 401);
    tsrv_stop(s);
}

/* ---- signed URLs ----------------------------------------------------------------------------- */

static void test_signed_urls(void)
{
    tsrv *s = start_auth("read /ci/ reader\n", KEY "\n", NULL);
    CHECK(s);
    CHECK(mkdir(tsrv_path(s, "ci"), 0755) == 0);
    CHECK(mkdir(tsrv_path(s, "ci/run"), 0755) == 0);
    CHECK(t_file_write(tsrv_path(s, "ci/a.log"), "a\n", 2) == 0);
    CHECK(t_file_write(tsrv_path(s, "ci/b.log"), "b\n", 2) == 0);
    CHECK(t_file_write(tsrv_path(s, "ci/run/c.log"), "c\n", 2) == 0);
    CHECK(t_file_write(tsrv_path(s, "other.log"), "o\n", 2) == 0);
    int64_t later = (int64_t)time(NULL) + 3600;
    char q[256];
    snprintf(q, sizeof(q), "%s", signed_query("read", later, "/ci/a.log"));

    /* Valid: every read protocol, no token needed. */
    CHECK_INT(status_of(s, "GET", t_fmt("/ci/a.log?%s", q), NULL, NULL), 200);
    CHECK_INT(status_of(s, "HEAD", t_fmt("/ci/a.log?%s", q), NULL, NULL), 200);
    CHECK_INT(status_of(s, "GET", t_fmt("/ci/a.log?follow&%s", q), NULL, NULL), 200);
    CHECK_INT(status_of(s, "GET", t_fmt("/ci/a.log?frames=binary&%s&wait", q), WS_HEADERS, NULL),
              101);
    CHECK_INT(status_of(s, "GET", t_fmt("/ci/a.log?%s", q), BROWSER_ACCEPT, NULL), 200);
    /* Rights it does not grant. */
    CHECK_INT(status_of(s, "POST", t_fmt("/ci/a.log?%s", q), NULL, "x"), 403);
    CHECK_INT(status_of(s, "GET", t_fmt("/ci/a.log?verb=APPEND&%s", q), WS_HEADERS, NULL), 403);
    /* Moved to another path. */
    CHECK_INT(status_of(s, "GET", t_fmt("/ci/b.log?%s", q), NULL, NULL), 403);
    CHECK_INT(status_of(s, "GET", t_fmt("/other.log?%s", q), NULL, NULL), 403);
    /* Tampered: the signature, the expiry, the rights. */
    char bad[256];
    snprintf(bad, sizeof(bad), "%s", q);
    char *sig = strstr(bad, "sig=") + 4;
    sig[0] = sig[0] == 'A' ? 'B' : 'A';
    CHECK_INT(status_of(s, "GET", t_fmt("/ci/a.log?%s", bad), NULL, NULL), 403);
    CHECK_INT(status_of(s, "GET",
                        t_fmt("/ci/a.log?expires=%lld&rights=read&sig=%s", (long long)later + 1,
                              strstr(q, "sig=") + 4),
                        NULL, NULL),
              403);
    CHECK_INT(status_of(s, "GET",
                        t_fmt("/ci/a.log?expires=%lld&rights=read,append&sig=%s", (long long)later,
                              strstr(q, "sig=") + 4),
                        NULL, NULL),
              403);
    CHECK_INT(status_of(s, "GET", "/ci/a.log?expires=1&rights=read&sig=short", NULL, NULL), 403);
    /* Expired. */
    CHECK_INT(
        status_of(s, "GET",
                  t_fmt("/ci/a.log?%s", signed_query("read", (int64_t)time(NULL) - 5, "/ci/a.log")),
                  NULL, NULL),
        403);
    /* Malformed: a missing part, an expiry or rights that do not parse. */
    CHECK_INT(status_of(s, "GET", "/ci/a.log?expires=99999999999&sig=abc", NULL, NULL), 400);
    CHECK_INT(status_of(s, "GET", "/ci/a.log?expires=soon&rights=read&sig=abc", NULL, NULL), 400);
    CHECK_INT(status_of(s, "GET", "/ci/a.log?expires=99999999999&rights=rw&sig=abc", NULL, NULL),
              400);
    CHECK_INT(status_of(s, "GET", t_fmt("/ci/a.log?%s&sig=abc", q), NULL, NULL), 400);
    CHECK_INT(status_of(s, "GET", t_fmt("/ci/a.log?%s&expires=1", q), NULL, NULL), 400);
    /* Signed for a prefix: every path below it, listings included, and nothing else. */
    char pq[256];
    snprintf(pq, sizeof(pq), "%s", signed_query("read,append", later, "/ci/"));
    CHECK_INT(status_of(s, "GET", t_fmt("/ci/a.log?%s", pq), NULL, NULL), 200);
    CHECK_INT(status_of(s, "GET", t_fmt("/ci/run/c.log?%s", pq), NULL, NULL), 200);
    CHECK_INT(status_of(s, "GET", t_fmt("/ci/?%s", pq), "Accept: application/json\r\n", NULL), 200);
    CHECK_INT(status_of(s, "PUT", t_fmt("/ci/new.log?%s", pq), NULL, "n"), 201);
    CHECK_INT(status_of(s, "GET", t_fmt("/other.log?%s", pq), NULL, NULL), 403);
    CHECK_INT(status_of(s, "GET", t_fmt("/ci?%s", pq), NULL, NULL), 403);
    /* A signature decides alone: a token next to a bad one does not help. */
    CHECK_INT(status_of(s, "GET", t_fmt("/ci/a.log?%s", bad), bearer("reader"), NULL), 403);
    CHECK_INT(status_of(s, "GET", "/ci/a.log", bearer("reader"), NULL), 200);
    tsrv_stop(s);

    /* Without a key every signature is refused; without rules a key alone serves signed URLs. */
    s = start_auth("read / reader\n", NULL, NULL);
    CHECK(s);
    CHECK(t_file_write(tsrv_path(s, "a.log"), "a\n", 2) == 0);
    CHECK_INT(
        status_of(s, "GET", t_fmt("/a.log?%s", signed_query("read", later, "/a.log")), NULL, NULL),
        403);
    tsrv_stop(s);
    s = start_auth(NULL, KEY, NULL);
    CHECK(s);
    CHECK(t_file_write(tsrv_path(s, "a.log"), "a\n", 2) == 0);
    CHECK_INT(
        status_of(s, "GET", t_fmt("/a.log?%s", signed_query("read", later, "/a.log")), NULL, NULL),
        200);
    CHECK_INT(status_of(s, "GET", "/a.log", NULL, NULL), 401);
    CHECK_INT(status_of(s, "GET", "/a.log", bearer("anything"), NULL), 401);
    tsrv_stop(s);
}

/* Durable Streams with signed URLs: the stream's path is what is signed. */
static void test_signed_durable_streams(void)
{
    tsrv *s = start_auth(NULL, KEY, NULL);
    CHECK(s);
    int64_t later = (int64_t)time(NULL) + 600;
    char all[256], rd[256];
    snprintf(all, sizeof(all), "%s", signed_query("read,append,delete", later, "/v1/stream/"));
    snprintf(rd, sizeof(rd), "%s", signed_query("read", later, "/v1/stream/job"));
    CHECK_INT(
        status_of(s, "PUT", t_fmt("/v1/stream/job?%s", all), "Content-Type: text/plain\r\n", "one"),
        201);
    thttp_resp r;
    CHECK_INT(ask(s, "GET", t_fmt("/v1/stream/job?offset=-1&%s", rd), NULL, NULL, &r), 200);
    thttp_free(&r);
    CHECK_INT(
        status_of(s, "POST", t_fmt("/v1/stream/job?%s", rd), "Content-Type: text/plain\r\n", "two"),
        403);
    CHECK_INT(status_of(s, "DELETE", t_fmt("/v1/stream/job?%s", rd), NULL, NULL), 403);
    CHECK_INT(status_of(s, "DELETE", t_fmt("/v1/stream/job?%s", all), NULL, NULL), 204);
    tsrv_stop(s);
}

/* A signed URL works until its expiry passes, then is refused. */
static void test_expiry_passes(void)
{
    tsrv *s = start_auth(NULL, KEY, NULL);
    CHECK(s);
    CHECK(t_file_write(tsrv_path(s, "a.log"), "a\n", 2) == 0);
    int64_t exp = (int64_t)time(NULL) + 1;
    char q[256];
    snprintf(q, sizeof(q), "%s", signed_query("read", exp, "/a.log"));
    CHECK_INT(status_of(s, "GET", t_fmt("/a.log?%s", q), NULL, NULL), 200);
    while ((int64_t)time(NULL) <= exp)
        t_sleep_ms(50);
    CHECK_INT(status_of(s, "GET", t_fmt("/a.log?%s", q), NULL, NULL), 403);
    tsrv_stop(s);
}

/* ---- reload ---------------------------------------------------------------------------------- */

/* Sends SIGHUP and waits for the count-th log line holding needle. */
static int hangup_and_wait(tsrv *s, const char *needle, int count)
{
    kill(s->pid, SIGHUP);
    for (int i = 0; i < 200; i++) {
        tbuf b = {0};
        int n = 0;
        if (t_file_read(s->log, &b) == 0)
            for (const uint8_t *p = b.p;
                 (p = memmem(p, b.len - (size_t)(p - b.p), needle, strlen(needle))) != NULL; p++)
                n++;
        tbuf_free(&b);
        if (n >= count)
            return 1;
        t_sleep_ms(25);
    }
    return 0;
}

static void test_reload(void)
{
    char rules[200];
    CHECK(put_file("reload-rules", "read,append / old-tok\n"));
    snprintf(rules, sizeof(rules), "%s", scratch("reload-rules"));
    char flag[300];
    snprintf(flag, sizeof(flag), "-auth=%s", rules);
    const char *flags[] = {flag, NULL};
    tsrv *s = tsrv_start(flags);
    CHECK(s);
    /* A live appender and follower admitted under the old rules. */
    tws *app = tws_connect(s->port, "/live.log",
                           "X-Verb: APPEND\r\n"
                           "Authorization: Bearer old-tok\r\n",
                           NULL);
    CHECK(app);
    tbuf want = {0};
    CHECK(tws_append_msg(s, app, "live.log", &want, "one\n", 4) == 0);
    tws *fol = tws_connect(s->port, "/live.log?token=old-tok", NULL, NULL);
    CHECK(fol);
    tws_collect c = {0};
    CHECK(tws_collect_until(fol, &c, 4, 5000) == 0);
    ths *h = ths_get(s->port, "/live.log?follow", bearer("old-tok"));
    CHECK(h && h->r.status == 200);
    CHECK(ths_until(h, 4, 5000));

    CHECK(put_file("reload-rules", "# the old token is gone\nread,append / new-tok\n"));
    CHECK(hangup_and_wait(s, "reload: access rules read from", 1));
    CHECK(tsrv_log_has(s, "hangup: reloading"));
    CHECK_INT(status_of(s, "GET", "/live.log", bearer("old-tok"), NULL), 401);
    CHECK_INT(status_of(s, "GET", "/live.log", bearer("new-tok"), NULL), 200);
    tws *fol2 = tws_connect(s->port, "/live.log", bearer("new-tok"), NULL);
    CHECK(fol2);
    tws_collect c2 = {0};
    CHECK(tws_collect_until(fol2, &c2, 4, 5000) == 0);
    /* Those admitted before go on streaming. */
    CHECK(tws_append_msg(s, app, "live.log", &want, "two\n", 4) == 0);
    CHECK(tws_collect_until(fol, &c, 8, 5000) == 0);
    CHECK(tws_collect_until(fol2, &c2, 8, 5000) == 0);
    CHECK(ths_until(h, 8, 5000));
    CHECK_MEM(c.data.p, c.data.len, "one\ntwo\n", 8);
    CHECK_MEM(h->body.p, h->body.len, "one\ntwo\n", 8);

    /* A bad file: the rules in force stay, the log names the line. */
    CHECK(put_file("reload-rules", "read / fine\nread,write / SeCrEt-in-a-bad-line\n"));
    CHECK(hangup_and_wait(s, "reload failed", 1));
    CHECK(tsrv_log_has(s, t_fmt("%s:2:", rules)));
    CHECK(!tsrv_log_has(s, "SeCrEt"));
    CHECK_INT(status_of(s, "GET", "/live.log", bearer("new-tok"), NULL), 200);
    CHECK_INT(status_of(s, "GET", "/live.log", bearer("fine"), NULL), 401);
    /* A file that went away: likewise. */
    unlink(rules);
    CHECK(hangup_and_wait(s, "reload failed", 2));
    CHECK_INT(status_of(s, "GET", "/live.log", bearer("new-tok"), NULL), 200);
    CHECK(tws_append_msg(s, app, "live.log", &want, "three\n", 6) == 0);
    CHECK(tws_collect_until(fol, &c, 14, 5000) == 0);

    /* The appender leaves: every follower ends normally. */
    CHECK(tws_end_append(app) == 0);
    CHECK(tws_collect_until(fol, &c, SIZE_MAX, 5000) == 0);
    CHECK_INT(c.close_code, 1000);
    CHECK(tws_collect_until(fol2, &c2, SIZE_MAX, 5000) == 0);
    CHECK_MEM(c2.data.p, c2.data.len, want.p, want.len);
    CHECK(ths_end(h, 5000));
    CHECK_MEM(h->body.p, h->body.len, want.p, want.len);
    CHECK(tsrv_alive(s));
    ths_free(h);
    tws_collect_free(&c);
    tws_collect_free(&c2);
    tws_free(app);
    tws_free(fol);
    tws_free(fol2);
    tbuf_free(&want);
    tsrv_stop(s);
}

/* The key is reloaded too: URLs signed with the old key stop working. */
static void test_reload_key(void)
{
    char key[200];
    CHECK(put_file("reload-key", KEY "\n"));
    snprintf(key, sizeof(key), "%s", scratch("reload-key"));
    char flag[300];
    snprintf(flag, sizeof(flag), "-sign-key=%s", key);
    const char *flags[] = {flag, NULL};
    tsrv *s = tsrv_start(flags);
    CHECK(s);
    CHECK(t_file_write(tsrv_path(s, "a.log"), "a\n", 2) == 0);
    const char *q = t_fmt("/a.log?%s", signed_query("read", (int64_t)time(NULL) + 600, "/a.log"));
    char path[300];
    snprintf(path, sizeof(path), "%s", q);
    CHECK_INT(status_of(s, "GET", path, NULL, NULL), 200);
    CHECK(put_file("reload-key", "another key\n"));
    CHECK(hangup_and_wait(s, "reload: access rules read from", 1));
    CHECK_INT(status_of(s, "GET", path, NULL, NULL), 403);
    CHECK(put_file("reload-key", ""));
    CHECK(hangup_and_wait(s, "reload failed", 1));
    CHECK(tsrv_log_has(s, key));
    tsrv_stop(s);
}

/* Without -auth or -sign-key a SIGHUP changes nothing and says so; everything stays open. */
static void test_reload_without_rules(void)
{
    tsrv *s = tsrv_start(NULL);
    CHECK(s);
    CHECK(t_file_write(tsrv_path(s, "a.log"), "a\n", 2) == 0);
    CHECK(hangup_and_wait(s, "nothing to reload", 1));
    CHECK(tsrv_alive(s));
    CHECK_INT(status_of(s, "GET", "/a.log", NULL, NULL), 200);
    CHECK_INT(status_of(s, "GET", "/a.log?token=whatever", bearer("x"), NULL), 200);
    CHECK_INT(status_of(s, "PUT", "/b.log", NULL, "b"), 201);
    CHECK_INT(status_of(s, "PUT", "/v1/stream/x", "Content-Type: text/plain\r\n", ""), 201);
    CHECK_INT(status_of(s, "DELETE", "/v1/stream/x", NULL, NULL), 204);
    tsrv_stop(s);
}

/* Runs the server with flags and returns its output (stderr and stdout) and exit status. */
static int run_server(const char *flags, tbuf *out)
{
    const char *bin = getenv("HFS_BIN") ? getenv("HFS_BIN") : "build/bin";
    FILE *p = popen(t_fmt("%s/httpfstream-server -root=%s -http=127.0.0.1:0 %s 2>&1", bin,
                          scratch("root"), flags),
                    "r");
    char buf[4096];
    size_t n;

    if (!p)
        return -1;
    while ((n = fread(buf, 1, sizeof(buf), p)) > 0)
        tbuf_add(out, buf, n);
    tbuf_add(out, "", 1);
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* A bad file at start: the server does not start, and says where. */
static void test_bad_files_at_start(void)
{
    const struct {
        const char *text;
        const char *where;
    } cases[] = {
        {"read / ok\n\nread,write / SeCrEt-1\n", ":3:"},
        {"read ci/ SeCrEt-2\n", ":1:"},
        {"read /\n", ":1:"},
        {"read / SeCrEt-3 b\n", ":1:"},
        {"read / sha256:abc\n", ":1:"},
        {"# a comment\nread / ok # and one after a rule\nappend /../x SeCrEt-4\n", ":3:"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *f = put_file(t_fmt("bad-%zu", i), cases[i].text);
        char name[300];
        snprintf(name, sizeof(name), "%s%s", f, cases[i].where);
        tbuf out = {0};
        int st = run_server(t_fmt("-auth=%s", f), &out);
        EXPECTF(st == 1, "case %zu: exit %d", i, st);
        EXPECTF(out.p && strstr((char *)out.p, name), "case %zu: output lacks %s: %s", i, name,
                out.p ? (char *)out.p : "");
        EXPECTF(out.p && !strstr((char *)out.p, "listening"), "case %zu: it listened", i);
        EXPECTF(out.p && !strstr((char *)out.p, "SeCrEt"), "case %zu: the line's token shows: %s",
                i, (char *)out.p);
        tbuf_free(&out);
    }
    tbuf out = {0};
    CHECK_INT(run_server(t_fmt("-auth=%s", scratch("does-not-exist")), &out), 1);
    CHECK(strstr((char *)out.p, scratch("does-not-exist")));
    tbuf_free(&out);
    CHECK_INT(run_server(t_fmt("-sign-key=%s", put_file("empty-key", "")), &out), 1);
    tbuf_free(&out);
}

/* ---- pages that carry the credential ----------------------------------------------------------
 */

static void test_listings_carry_the_credential(void)
{
    tsrv *s = start_auth("read /ci/ lister\n", KEY, NULL);
    CHECK(s);
    CHECK(mkdir(tsrv_path(s, "ci"), 0755) == 0);
    CHECK(mkdir(tsrv_path(s, "ci/sub"), 0755) == 0);
    CHECK(t_file_write(tsrv_path(s, "ci/a b.log"), "a\n", 2) == 0);
    CHECK(t_file_write(tsrv_path(s, "ci/sub/c.log"), "c\n", 2) == 0);
    thttp_resp r;
    /* ?token= goes on every link of each page; other parameters do not. */
    CHECK_INT(thttp_get(s->port, "/ci/?xyzzy=1&token=lister", BROWSER_ACCEPT, &r), 0);
    CHECK_INT(r.status, 200);
    CHECK(thttp_contains(&r, "href=\"a%20b.log?token=lister\""));
    CHECK(thttp_contains(&r, "href=\"sub/?token=lister\""));
    CHECK(thttp_contains(&r, "href=\"../?token=lister\""));
    CHECK(!thttp_contains(&r, "xyzzy"));
    CHECK_STR(thttp_header(&r, "Referrer-Policy"), "no-referrer");
    thttp_free(&r);
    CHECK_INT(thttp_get(s->port, "/ci/?token=lister", NULL, &r), 0);
    CHECK_INT(r.status, 200);
    CHECK(thttp_contains(&r, "<a href=\"a%20b.log?token=lister\">a b.log</a>"));
    CHECK(thttp_contains(&r, "<a href=\"sub/?token=lister\">sub/</a>"));
    thttp_free(&r);
    /* The links work. */
    CHECK_INT(status_of(s, "GET", "/ci/a%20b.log?token=lister", NULL, NULL), 200);
    CHECK_INT(status_of(s, "GET", "/ci/sub/?token=lister", BROWSER_ACCEPT, NULL), 200);
    /* The JSON listing answers to the credential like the rest. */
    CHECK_INT(thttp_get(s->port, "/ci/?token=lister", "Accept: application/json\r\n", &r), 0);
    CHECK_INT(r.status, 200);
    CHECK(thttp_contains(&r, "\"name\":\"a b.log\""));
    thttp_free(&r);
    CHECK_INT(thttp_get(s->port, "/ci/",
                        "Accept: application/json\r\n"
                        "Authorization: Bearer lister\r\n",
                        &r),
              0);
    CHECK_INT(r.status, 200);
    thttp_free(&r);
    /* A signed URL's parameters, escaped for HTML. */
    const char *q = signed_query("read", (int64_t)time(NULL) + 600, "/ci/");
    char sq[256];
    snprintf(sq, sizeof(sq), "%s", q);
    CHECK_INT(thttp_get(s->port, t_fmt("/ci/?%s", sq), BROWSER_ACCEPT, &r), 0);
    CHECK_INT(r.status, 200);
    char *amp = strchr(sq, '&');
    CHECK(amp);
    char esc[300];
    snprintf(esc, sizeof(esc), "sub/?%.*s&amp;%.*s&amp;%s", (int)(amp - sq), sq,
             (int)(strchr(amp + 1, '&') - amp - 1), amp + 1, strchr(amp + 1, '&') + 1);
    CHECKF(thttp_contains(&r, esc), "no link %s in %.*s", esc, (int)r.body.len,
           (const char *)r.body.p);
    thttp_free(&r);
    CHECK_INT(status_of(s, "GET", t_fmt("/ci/sub/c.log?%s", sq), NULL, NULL), 200);
    /* With the header, links carry nothing: the browser would not have it anyway. */
    CHECK_INT(thttp_get(s->port, "/ci/", BROWSER_ACCEPT "Authorization: Bearer lister\r\n", &r), 0);
    CHECK_INT(r.status, 200);
    CHECK(thttp_contains(&r, "href=\"sub/\""));
    thttp_free(&r);
    tsrv_stop(s);
}

static void test_viewer_carries_the_credential(void)
{
    tsrv *s = start_auth("read / viewer-tok\n", NULL, NULL);
    CHECK(s);
    CHECK(t_file_write(tsrv_path(s, "a.log"), "a\n", 2) == 0);
    thttp_resp r;
    CHECK_INT(thttp_get(s->port, "/a.log?token=viewer-tok", BROWSER_ACCEPT, &r), 0);
    CHECK_INT(r.status, 200);
    CHECK(thttp_contains(&r, "<div id=\"log\"")); /* the viewer page */
    /* The page reads its own query: the server does not write the token into it. */
    CHECK(!thttp_contains(&r, "viewer-tok"));
    CHECK(thttp_contains(&r, "location.search"));
    CHECK_STR(thttp_header(&r, "Referrer-Policy"), "no-referrer");
    thttp_free(&r);
    /* What the page asks for with the credential it carries. */
    CHECK_INT(status_of(s, "GET", "/a.log?frames=binary&wait&offset=0&token=viewer-tok", WS_HEADERS,
                        NULL),
              101);
    CHECK_INT(status_of(s, "GET", "/a.log?raw&offset=0&token=viewer-tok", NULL, NULL), 200);
    CHECK_INT(status_of(s, "GET", "/a.log?raw&offset=0", NULL, NULL), 401);
    /* A viewer of a resource not written yet needs the right too. */
    CHECK_INT(status_of(s, "GET", "/later.log", BROWSER_ACCEPT, NULL), 401);
    CHECK_INT(status_of(s, "GET", "/later.log?token=viewer-tok", BROWSER_ACCEPT, NULL), 200);
    tsrv_stop(s);
}

/* ---- the log --------------------------------------------------------------------------------- */

static void test_log_redaction(void)
{
    tsrv *s = start_auth("read,append / SeCrEt-Token-1\nread / SeCrEt-Token-2\n", KEY, NULL);
    CHECK(s);
    CHECK(t_file_write(tsrv_path(s, "a.log"), "a\n", 2) == 0);
    const char *q = signed_query("read", (int64_t)time(NULL) + 600, "/a.log");
    char sig[64];
    snprintf(sig, sizeof(sig), "%s", strstr(q, "sig=") + 4);
    char sq[256];
    snprintf(sq, sizeof(sq), "%s", q);
    CHECK_INT(status_of(s, "GET", "/a.log?token=SeCrEt-Token-1&offset=0", NULL, NULL), 200);
    CHECK_INT(status_of(s, "GET", "/a.log", bearer("SeCrEt-Token-2"), NULL), 200);
    CHECK_INT(status_of(s, "GET", "/a.log?token=SeCrEt-Token-3", NULL, NULL), 401);
    CHECK_INT(status_of(s, "GET", "/a.log", bearer("SeCrEt-Token-4"), NULL), 401);
    CHECK_INT(status_of(s, "GET", t_fmt("/a.log?%s", sq), NULL, NULL), 200);
    sq[strlen(sq) - 3] ^= 1; /* tampered */
    CHECK_INT(status_of(s, "GET", t_fmt("/a.log?%s", sq), NULL, NULL), 403);
    CHECK_INT(status_of(s, "GET", "/a.log?%74oken=SeCrEt-Token-5", NULL, NULL), 401);
    CHECK_INT(status_of(s, "GET", "/a.log?token=SeCrEt-Token-6&token=SeCrEt-Token-7", NULL, NULL),
              400);
    CHECK_INT(status_of(s, "GET", "/a.log?frames=binary&token=SeCrEt-Token-1", WS_HEADERS, NULL),
              101);
    CHECK_INT(status_of(s, "PUT", "/b.log?token=SeCrEt-Token-1", NULL, "b"), 201);
    CHECK_INT(status_of(s, "PUT", "/v1/stream/x?token=SeCrEt-Token-1",
                        "Content-Type: text/plain\r\n", ""),
              201);
    /* A token straddling the log line's 160-byte cut. */
    char ps[141], longp[400];
    memset(ps, 'p', 140);
    ps[140] = '\0';
    snprintf(longp, sizeof(longp), "/%s.log?token=SeCrEt-Token-8", ps);
    CHECK_INT(status_of(s, "GET", longp, NULL, NULL), 401);
    /* The answers were logged; not one secret is in the log. */
    CHECK(tsrv_log_has(s, "\"GET /a.log?token=REDACTED&offset=0\" 200"));
    CHECK(tsrv_log_has(s, "\"GET /a.log?token=REDACTED\" 401"));
    CHECK(tsrv_log_has(s, "&sig=REDACTED\" 200"));
    CHECK(tsrv_log_has(s, "&sig=REDACTED\" 403"));
    CHECK(tsrv_log_has(s, "\"GET /a.log?%74oken=REDACTED\" 401"));
    CHECK(tsrv_log_has(s, "\"PUT /v1/stream/x?token=REDACTED\""));
    CHECK(tsrv_log_has(s, "\"GET /a.log\" 401"));
    tbuf b = {0};
    CHECK(t_file_read(s->log, &b) == 0);
    CHECKF(!t_contains(b.p, b.len, "SeCrEt"), "a secret in the log:\n%.*s", (int)b.len,
           (const char *)b.p);
    CHECKF(!t_contains(b.p, b.len, sig), "a signature in the log:\n%.*s", (int)b.len,
           (const char *)b.p);
    CHECK(!t_contains(b.p, b.len, "Bearer"));
    CHECK(!t_contains(b.p, b.len, "Authorization"));
    tbuf_free(&b);
    tsrv_stop(s);
}

/* ---- no rules: as open as before ------------------------------------------------------------- */

static void test_open_without_rules(void)
{
    tsrv *s = tsrv_start(NULL);
    CHECK(s);
    CHECK_INT(status_of(s, "PUT", "/a.log", NULL, "a"), 201);
    CHECK_INT(status_of(s, "GET", "/a.log", NULL, NULL), 200);
    CHECK_INT(status_of(s, "GET", "/a.log", "Authorization: Basic x\r\n", NULL), 200);
    CHECK_INT(status_of(s, "GET", "/a.log?token=a&token=b", NULL, NULL), 200);
    CHECK_INT(status_of(s, "GET", "/", "Accept: application/json\r\n", NULL), 200);
    tsrv_stop(s);
}

int main(void)
{
    RUN(test_every_right_every_protocol);
    RUN(test_refusals_change_nothing);
    RUN(test_refused_body_not_read);
    RUN(test_websocket_handshake_refused);
    RUN(test_prefixes);
    RUN(test_stream_and_native_view);
    RUN(test_mount_prefix);
    RUN(test_anonymous_rules);
    RUN(test_sha256_tokens);
    RUN(test_query_token);
    RUN(test_signed_urls);
    RUN(test_signed_durable_streams);
    RUN(test_expiry_passes);
    RUN(test_reload);
    RUN(test_reload_key);
    RUN(test_reload_without_rules);
    RUN(test_bad_files_at_start);
    RUN(test_listings_carry_the_credential);
    RUN(test_viewer_carries_the_credential);
    RUN(test_log_redaction);
    RUN(test_open_without_rules);
    if (dir[0])
        t_rm_rf(dir);
    return test_report();
}
