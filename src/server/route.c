/* route.c -- the verbs: maps each request to a response or a WebSocket session.
 *
 * Order of decisions: method (405) -> request-target (400) -> percent-decoding (400) -> clean path
 * (301) -> mount prefix (404) -> verb (X-Verb header, else ?verb=) -> APPEND or FOLLOW. */
#include "server/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http/response.h"
#include "http/uri.h"
#include "store/path.h"

#define TEXT_PLAIN     "text/plain; charset=utf-8"
#define BODY_NOT_FOUND "404 page not found\n"
#define BODY_CONFLICT  "addWriter: path already has an active writer\n"
#define ALLOW_METHODS  "GET, HEAD"

/* What a request asked for, decoded once. */
typedef struct route {
    conn *c;
    const http_request *req;
    uri_parts uri;
    char *clean;     /* cleaned, decoded path ("/a/b") */
    const char *rel; /* clean path below the mount prefix, no leading '/' */
    int append;      /* verb APPEND */
    int ws;          /* Upgrade: websocket */
    uint8_t *rest;   /* input after the request head (WebSocket frames once upgraded) */
    size_t rest_len;
    char logp[256]; /* "peer \"METHOD target\"" for the log line: the request may be gone */
} route;

static void log_prefix(route *r)
{
    const http_request *q = r->req;
    int tl = q->target_len > 160 ? 160 : (int)q->target_len;

    snprintf(r->logp, sizeof(r->logp), "%s \"%s %.*s%s\"", r->c->peer,
             llhttp_method_name((llhttp_method_t)q->method), tl, q->target,
             q->target_len > 160 ? "..." : "");
}

static void log_request(const route *r, int status, const char *verb)
{
    srv_log(r->c->srv, HFS_LOG_INFO, "%s %d %s", r->logp, status, verb);
}

static int respond_text(route *r, int status, const char *extra, const char *body)
{
    http_respond_simple(r->c, status, extra, TEXT_PLAIN, body, strlen(body));
    return status;
}

static int redirect(route *r, const char *path, size_t len)
{
    size_t n = uri_escape_path(path, len, NULL, 0);
    size_t cap = n + r->uri.query_len + 32;
    char *extra = malloc(cap);

    if (!extra)
        return respond_text(r, 503, NULL, "503 out of memory\n");
    memcpy(extra, "Location: ", 10);
    uri_escape_path(path, len, extra + 10, n + 1);
    size_t at = 10 + n;
    if (r->uri.query)
        at += (size_t)snprintf(extra + at, cap - at, "?%.*s", (int)r->uri.query_len, r->uri.query);
    memcpy(extra + at, "\r\n", 3);
    if (at + 2 > HTTP_HEAD_MAX - 512) {
        free(extra);
        return respond_text(r, 414, NULL, "414 URI too long\n");
    }
    http_respond_simple(r->c, 301, extra, "text/html; charset=utf-8", NULL, 0);
    free(extra);
    return 301;
}

/* The WebSocket handshake rules of RFC 6455 4.2.1; returns 0 or the status to answer. */
static int handshake_check(route *r, const char **extra)
{
    const http_request *req = r->req;
    size_t n;
    const char *v;

    *extra = NULL;
    if (req->method != HTTP_GET || req->http_major < 1 ||
        (req->http_major == 1 && req->http_minor < 1))
        return 400;
    if (!http_header_has_token(req, "Connection", "upgrade"))
        return 400;
    v = http_header_get(req, "Sec-WebSocket-Version", &n);
    if (!v || n != 2 || memcmp(v, "13", 2) != 0) {
        *extra = "Sec-WebSocket-Version: 13\r\n";
        return 426;
    }
    v = http_header_get(req, "Sec-WebSocket-Key", &n);
    if (!v || !ws_key_valid(v, n))
        return 400;
    return 0;
}

static int handshake_refused(route *r, int status, const char *extra)
{
    char body[96];
    snprintf(body, sizeof(body), "%d bad WebSocket handshake\n", status);
    return respond_text(r, status, extra, body);
}

static int store_error_status(int err)
{
    switch (err) {
    case STORE_ENOENT:
        return 404;
    case STORE_EBUSY:
    case STORE_EDENIED:
        return 403;
    case STORE_EISDIR:
    case STORE_ENOTDIR:
        return 409;
    case STORE_ENOMEM:
        return 503;
    default:
        return 500;
    }
}

static int respond_store_error(route *r, int err)
{
    int status = store_error_status(err);

    if (err == STORE_EIO || err == STORE_ENOMEM)
        srv_log(r->c->srv, HFS_LOG_ERROR, "%s: %s", r->clean, store_strerror(err));
    switch (err) {
    case STORE_ENOENT:
        return respond_text(r, 404, NULL, BODY_NOT_FOUND);
    case STORE_EBUSY:
        return respond_text(r, 403, NULL, BODY_CONFLICT);
    case STORE_EISDIR:
        return respond_text(r, 409, NULL, "409 conflict: the path is a directory\n");
    case STORE_ENOTDIR:
        return respond_text(r, 409, NULL, "409 conflict: a parent of the path is a file\n");
    case STORE_EDENIED:
        return respond_text(r, 403, NULL, "403 forbidden\n");
    default: {
        char body[64];
        snprintf(body, sizeof(body), "%d %s\n", status,
                 status == 503 ? "out of memory" : "internal error");
        return respond_text(r, status, NULL, body);
    }
    }
}

/* 1 when the client offered the "binary" subprotocol. */
static int offers_binary(const http_request *req)
{
    return http_header_has_token(req, "Sec-WebSocket-Protocol", "binary");
}

static int query_is(const route *r, const char *key, const char *want)
{
    char v[32];
    return r->uri.query && uri_query_get(r->uri.query, r->uri.query_len, key, v, sizeof(v)) &&
           strcmp(v, want) == 0;
}

static int route_append(route *r)
{
    store_res *res;
    const char *extra;

    if (!r->ws || r->req->method != HTTP_GET) {
        /* An active appender answers 403 first, as the original did; else an upgrade is needed. */
        store_file f;
        if (store_open_read(r->c->srv->st, r->rel, &f) == STORE_OK) {
            int live = f.live != NULL;
            if (f.live)
                store_res_unref(f.live);
            close(f.fd);
            if (live)
                return respond_text(r, 403, NULL, BODY_CONFLICT);
        }
        return respond_text(r, 426, "Upgrade: websocket\r\nConnection: Upgrade\r\n",
                            "426 upgrade required: APPEND needs a WebSocket handshake\n");
    }
    int status = handshake_check(r, &extra);
    if (status)
        return handshake_refused(r, status, extra);
    int err = store_acquire(r->c->srv->st, r->rel, &res);
    if (err != STORE_OK)
        return respond_store_error(r, err);
    if (ws_handshake_response(r->c, r->req, offers_binary(r->req)) < 0) {
        store_release(res);
        conn_close(r->c);
        return 101;
    }
    log_request(r, 101, "APPEND");
    conn_upgraded(r->c, ROLE_APPEND, r->rest, r->rest_len);
    append_start(r->c, res, r->rest, r->rest_len);
    return 0;
}

static int route_follow_ws(route *r, store_file *f)
{
    const char *extra;
    int status = handshake_check(r, &extra);

    if (status) {
        store_res_unref(f->live);
        close(f->fd);
        return handshake_refused(r, status, extra);
    }
    int proto = offers_binary(r->req);
    int binary = proto || query_is(r, "frames", "binary");
    close(f->fd); /* the follower reads through the resource's own descriptor */
    if (ws_handshake_response(r->c, r->req, proto) < 0) {
        store_res_unref(f->live);
        conn_close(r->c);
        return 101;
    }
    log_request(r, 101, "FOLLOW");
    conn_upgraded(r->c, ROLE_FOLLOW, r->rest, r->rest_len);
    follow_start(r->c, f->live, binary, r->rest, r->rest_len);
    return 0;
}

static int route_dir(route *r, store_file *f)
{
    size_t len = strlen(r->clean);
    store_dirent *ents;
    size_t n;

    if (r->clean[len - 1] != '/') {
        char *p = malloc(len + 2);
        int status = 500;
        if (p) {
            memcpy(p, r->clean, len);
            memcpy(p + len, "/", 2);
            status = redirect(r, p, len + 1);
            free(p);
        }
        close(f->fd);
        return p ? status : respond_text(r, 503, NULL, "503 out of memory\n");
    }
    int err = store_list(r->c->srv->st, f->fd, &ents, &n);
    close(f->fd);
    if (err != STORE_OK)
        return respond_store_error(r, err);
    http_dir_entry *de = calloc(n ? n : 1, sizeof(*de));
    for (size_t i = 0; de && i < n; i++) {
        de[i].name = ents[i].name;
        de[i].is_dir = ents[i].is_dir;
    }
    size_t need = de ? http_dir_listing(NULL, 0, de, n) : 0;
    char *body = de ? malloc(need + 1) : NULL;
    if (body)
        http_dir_listing(body, need, de, n);
    free(de);
    store_dirents_free(ents, n);
    if (!body)
        return respond_text(r, 503, NULL, "503 out of memory\n");
    http_respond_simple(r->c, 200, NULL, "text/html; charset=utf-8", body, need);
    free(body);
    return 200;
}

/* Serves the file's bytes as a plain response: the whole file, or a live resource's bytes so far.
 */
static int route_static(route *r, store_file *f)
{
    uint8_t head[HTTP_STATIC_SNIFF_LEN];
    http_static_request sr = {.head = r->req->method == HTTP_HEAD};
    http_file_info fi = {.mtime = f->st.st_mtim, .ino = (uint64_t)f->st.st_ino};
    http_static_plan *plan = malloc(sizeof(*plan));
    const char *slash = strrchr(r->clean, '/');

    fi.name = slash ? slash + 1 : r->clean;
    fi.size = f->live ? f->live->size : (uint64_t)f->st.st_size;
    if (f->live)
        store_res_unref(f->live);
    ssize_t got = pread(f->fd, head, fi.size < sizeof(head) ? (size_t)fi.size : sizeof(head), 0);
    fi.head = head;
    fi.head_len = got > 0 ? (size_t)got : 0;
    sr.range = http_header_get(r->req, "Range", &sr.range_len);
    sr.if_range = http_header_get(r->req, "If-Range", &sr.if_range_len);
    sr.if_modified_since = http_header_get(r->req, "If-Modified-Since", &sr.if_modified_since_len);
    sr.if_none_match = http_header_get(r->req, "If-None-Match", &sr.if_none_match_len);
    if (!plan || http_static_plan_response(&sr, &fi, plan) < 0) {
        free(plan);
        close(f->fd);
        return respond_text(r, 500, NULL, "500 internal error\n");
    }
    http_respond_file(r->c, f->fd, plan);
    int status = plan->status;
    free(plan);
    return status;
}

static int route_follow(route *r)
{
    store_file f;
    int err = store_open_read(r->c->srv->st, r->rel, &f);

    if (err != STORE_OK)
        return respond_store_error(r, err);
    if (S_ISDIR(f.st.st_mode))
        return route_dir(r, &f);
    if (f.live && r->ws && r->req->method == HTTP_GET)
        return route_follow_ws(r, &f);
    return route_static(r, &f);
}

/* The verb: X-Verb, or ?verb= when the header is absent or empty. */
static int is_append(const route *r)
{
    size_t n;
    const char *v = http_header_get(r->req, "X-Verb", &n);
    char q[16];

    if (v && n > 0)
        return n == 6 && memcmp(v, "APPEND", 6) == 0;
    return r->uri.query && uri_query_get(r->uri.query, r->uri.query_len, "verb", q, sizeof(q)) &&
           strcmp(q, "APPEND") == 0;
}

static int dispatch(route *r, char *decoded, size_t dlen)
{
    const char *prefix = r->c->srv->prefix;

    if (r->req->method != HTTP_GET && r->req->method != HTTP_HEAD)
        return respond_text(r, 405, "Allow: " ALLOW_METHODS "\r\n", "method not supported\n");
    if (uri_split(r->req->target, r->req->target_len, &r->uri) < 0)
        return respond_text(r, 400, NULL, "400 bad request-target\n");
    long n = uri_unescape_path(r->uri.path, r->uri.path_len, decoded);
    if (n == -1)
        return respond_text(r, 400, NULL, "400 invalid URL escape\n");
    if (n == -2)
        return respond_text(r, 400, NULL, "400 NUL byte in path\n");
    dlen = (size_t)n;
    path_clean(decoded, dlen, r->clean);
    if (strcmp(r->clean, decoded) != 0)
        return redirect(r, r->clean, strlen(r->clean));
    if (!path_strip_prefix(r->clean, prefix, &r->rel))
        return respond_text(r, 404, NULL, BODY_NOT_FOUND);
    r->append = is_append(r);
    r->ws = http_header_has_token(r->req, "Upgrade", "websocket");
    return r->append ? route_append(r) : route_follow(r);
}

void route_request(conn *c, const http_request *req, uint8_t *rest, size_t rest_len)
{
    route r = {.c = c, .req = req, .rest = rest, .rest_len = rest_len};
    char *decoded = malloc(req->target_len + 1);

    log_prefix(&r);
    r.clean = malloc(req->target_len + 3);
    if (!decoded || !r.clean) {
        free(decoded);
        free(r.clean);
        http_respond_error(c, 503, "503 out of memory\n");
        return;
    }
    int status = dispatch(&r, decoded, 0);
    if (status > 0 && status != 101)
        log_request(&r, status, r.append ? "APPEND" : "FOLLOW");
    free(decoded);
    free(r.clean);
}
