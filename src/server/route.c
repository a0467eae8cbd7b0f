/* route.c -- the verbs: maps each request to a response or a session.
 *
 * Order of decisions: method (405) -> request-target (400) -> percent-decoding (400) -> clean path
 * (301) -> mount prefix (404) -> verb: PUT and POST append their body; a GET or HEAD with X-Verb
 * (else ?verb=) APPEND appends over a WebSocket; anything else follows (follow_route.c). */
#include "server/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "http/response.h"
#include "server/route.h"
#include "http/path.h"

#define ALLOW_METHODS "GET, HEAD, PUT, POST"

static void log_prefix(route *r)
{
    const http_request *q = r->req;
    int tl = q->target_len > 160 ? 160 : (int)q->target_len;

    snprintf(r->logp, sizeof(r->logp), "%s \"%s %.*s%s\"", r->c->peer,
             llhttp_method_name((llhttp_method_t)q->method), tl, q->target,
             q->target_len > 160 ? "..." : "");
}

void route_log(const route *r, int status)
{
    const char *verb = r->verb_name ? r->verb_name : r->append ? "APPEND" : "FOLLOW";

    if (status < 0) /* a response that comes later (a streamed body) */
        srv_log(r->c->srv, HFS_LOG_INFO, "%s - %s", r->logp, verb);
    else
        srv_log(r->c->srv, HFS_LOG_INFO, "%s %d %s", r->logp, status, verb);
}

int route_text(route *r, int status, const char *extra, const char *body)
{
    http_respond_simple(r->c, status, extra, TEXT_PLAIN, body, strlen(body));
    return status;
}

int route_redirect(route *r, const char *path, size_t len)
{
    size_t n = uri_escape_path(path, len, NULL, 0);
    size_t cap = n + r->uri.query_len + 32;
    char *extra = malloc(cap);

    if (!extra)
        return route_text(r, 503, NULL, "503 out of memory\n");
    memcpy(extra, "Location: ", 10);
    uri_escape_path(path, len, extra + 10, n + 1);
    size_t at = 10 + n;
    if (r->uri.query)
        at += (size_t)snprintf(extra + at, cap - at, "?%.*s", (int)r->uri.query_len, r->uri.query);
    memcpy(extra + at, "\r\n", 3);
    if (at + 2 > HTTP_HEAD_MAX - 512) {
        free(extra);
        return route_text(r, 414, NULL, "414 URI too long\n");
    }
    http_respond_simple(r->c, 301, extra, "text/html; charset=utf-8", NULL, 0);
    free(extra);
    return 301;
}

/* The WebSocket handshake rules of RFC 6455 4.2.1; returns 0 or the status to answer. */
int route_handshake_check(route *r, const char **extra)
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

int route_handshake_refused(route *r, int status, const char *extra)
{
    char body[96];
    snprintf(body, sizeof(body), "%d bad WebSocket handshake\n", status);
    return route_text(r, status, extra, body);
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
    case STORE_ENAMETOOLONG:
        return 414;
    case STORE_ENOMEM:
    case STORE_EAGAIN:
        return 503;
    default:
        return 500;
    }
}

int route_store_error(route *r, int err)
{
    int status = store_error_status(err);

    if (err == STORE_EIO || err == STORE_ENOMEM)
        srv_log(r->c->srv, HFS_LOG_ERROR, "%s: %s", r->clean, store_strerror(err));
    switch (err) {
    case STORE_ENOENT:
        return route_text(r, 404, NULL, BODY_NOT_FOUND);
    case STORE_EBUSY:
        return route_text(r, 403, NULL, BODY_CONFLICT);
    case STORE_EISDIR:
        return route_text(r, 409, NULL, "409 conflict: the path is a directory\n");
    case STORE_ENOTDIR:
        return route_text(r, 409, NULL, "409 conflict: a parent of the path is a file\n");
    case STORE_EDENIED:
        return route_text(r, 403, NULL, "403 forbidden\n");
    case STORE_ENAMETOOLONG:
        return route_text(r, 414, NULL, "414 a name in the path is too long\n");
    case STORE_EAGAIN:
        srv_log(r->c->srv, HFS_LOG_WARN, "%s: out of file descriptors", r->clean);
        return route_text(r, 503, "Retry-After: 1\r\n", "503 busy, try again\n");
    default: {
        char body[64];
        snprintf(body, sizeof(body), "%d %s\n", status,
                 status == 503 ? "out of memory" : "internal error");
        return route_text(r, status, NULL, body);
    }
    }
}

int route_offers_binary(const route *r)
{
    return http_header_has_token(r->req, "Sec-WebSocket-Protocol", "binary");
}

int route_query(const route *r, const char *key, char *out, size_t cap)
{
    return r->uri.query && uri_query_get(r->uri.query, r->uri.query_len, key, out, cap);
}

/* The q-value of one media range ("text/html;level=1;q=0.5" -> 0.5), 1 when it has none. */
static double range_q(const char *p, size_t n)
{
    for (size_t i = 0; i + 2 < n; i++) {
        if (p[i] != ';')
            continue;
        size_t j = i + 1;
        while (j < n && (p[j] == ' ' || p[j] == '\t'))
            j++;
        if (j + 1 < n && (p[j] == 'q' || p[j] == 'Q') && p[j + 1] == '=')
            return strtod(p + j + 2, NULL);
    }
    return 1.0;
}

int route_accept_prefers(const route *r, const char *type)
{
    size_t len, tl = strlen(type);
    const char *v = http_header_get(r->req, "Accept", &len);
    double mine = 0, best = 0;

    for (size_t i = 0; v && i < len;) {
        while (i < len && (v[i] == ' ' || v[i] == ',' || v[i] == '\t'))
            i++;
        size_t start = i;
        while (i < len && v[i] != ',')
            i++;
        size_t end = start;
        while (end < i && v[end] != ';' && v[end] != ' ')
            end++;
        double q = range_q(v + start, i - start);
        if (q > best)
            best = q;
        if (end - start == tl && strncasecmp(v + start, type, tl) == 0 && q > mine)
            mine = q;
    }
    return mine > 0 && mine >= best;
}

static int route_append_ws(route *r)
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
                return route_text(r, 403, NULL, BODY_CONFLICT);
        }
        return route_text(
            r, 426, "Upgrade: websocket\r\nConnection: Upgrade\r\n",
            "426 upgrade required: APPEND needs a WebSocket handshake (or use PUT)\n");
    }
    int status = route_handshake_check(r, &extra);
    if (status)
        return route_handshake_refused(r, status, extra);
    int err = store_acquire(r->c->srv->st, r->rel, &res);
    if (err != STORE_OK)
        return route_store_error(r, err);
    if (ws_handshake_response(r->c, r->req, route_offers_binary(r), NULL) < 0) {
        store_release(res);
        conn_close(r->c);
        return 101;
    }
    route_log(r, 101);
    conn_upgraded(r->c, ROLE_APPEND, r->rest, r->rest_len);
    append_start(r->c, res, r->rest, r->rest_len);
    follow_wake_waiters(r->c->srv, r->rel, res);
    return 0;
}

/* The offset a PUT/POST says it appends at: X-Append-Offset: N, or Content-Range: bytes N-*\/\*.
 * Returns 0 when none is given, 1 with *off set, -1 when malformed. *via_range tells which. */
static int expected_offset(const route *r, uint64_t *off, int *via_range)
{
    size_t n;
    const char *v = http_header_get(r->req, "X-Append-Offset", &n);
    char buf[64], *end;

    *via_range = 0;
    if (!v) {
        v = http_header_get(r->req, "Content-Range", &n);
        if (!v)
            return 0;
        *via_range = 1;
        if (n < 7 || n >= sizeof(buf) || strncasecmp(v, "bytes ", 6) != 0)
            return -1;
        v += 6;
        n -= 6;
    }
    if (n == 0 || n >= sizeof(buf) || v[0] < '0' || v[0] > '9')
        return -1;
    memcpy(buf, v, n);
    buf[n] = '\0';
    *off = strtoull(buf, &end, 10);
    if (*via_range)
        return strcmp(end, "-*/*") == 0 ? 1 : -1;
    return *end == '\0' ? 1 : -1;
}

/* The writer's idea of the size is stale: say what it is, append nothing. */
static int stale_offset(route *r, uint64_t size, int via_range)
{
    char extra[128], body[96];
    int status = via_range ? 416 : 409;
    unsigned long long sz = size;

    snprintf(extra, sizeof(extra), "X-Resource-Size: %llu\r\n", sz);
    if (via_range)
        snprintf(extra + strlen(extra), sizeof(extra) - strlen(extra),
                 "Content-Range: bytes */%llu\r\n", sz);
    snprintf(body, sizeof(body), "%d the resource's size is %llu\n", status, sz);
    r->c->http->close_after = r->req->has_body;
    return route_text(r, status, extra, body);
}

/* The body would take the resource past -max-size: refused before any of it is written. */
static int too_large(route *r, uint64_t size)
{
    char extra[64], body[96];

    snprintf(extra, sizeof(extra), "X-Resource-Size: %llu\r\n", (unsigned long long)size);
    snprintf(body, sizeof(body), "413 resource size limit reached (size %llu)\n",
             (unsigned long long)size);
    r->c->http->close_after = r->req->has_body; /* do not read a body we refuse */
    return route_text(r, 413, extra, body);
}

static int over_size_max(const hfs_server *s, uint64_t size, uint64_t body_len)
{
    uint64_t max = s->opt.size_max;

    return max && body_len != UINT64_MAX && (size > max || body_len > max - size);
}

/* A PUT/POST that holds the slot while the previous writer's accepted bytes are still being
 * written behind: its offset is checked against the size they end at (http_conn keeps it). */
struct append_wait {
    store_res *res;
    uint64_t want;
    int has_off, via_range, existed;
    char rel[];
};

void route_append_wait_free(append_wait *w)
{
    if (w) {
        store_release(w->res);
        free(w);
    }
}

/* The slot is ours and the size settled: check the writer's offset and the size limit, then
 * append the body as it arrives. Returns 0 (answered when the body ends) or the status sent. */
static int append_begin(route *r, store_res *res, uint64_t want, int has_off, int via_range,
                        int existed, const char *rel)
{
    hfs_server *s = r->c->srv;

    if (has_off && want != res->size) {
        uint64_t size = res->size;
        store_release(res);
        return stale_offset(r, size, via_range);
    }
    if (over_size_max(s, res->size, r->req->content_length)) {
        uint64_t size = res->size;
        store_release(res);
        return too_large(r, size);
    }
    srv_res *sr = srv_res_get(s, res);
    if (!sr) {
        store_release(res);
        return route_text(r, 503, NULL, "503 out of memory\n");
    }
    http_append_start(r->c, sr, !existed);
    follow_wake_waiters(s, rel, res);
    size_t n;
    const char *expect = http_header_get(r->req, "Expect", &n);
    if (expect && n == 12 && strncasecmp(expect, "100-continue", 12) == 0)
        conn_write_copy(r->c, "HTTP/1.1 100 Continue\r\n\r\n", 25);
    return 0;
}

static void append_wait_done(conn *c, unsigned code, int err)
{
    http_conn *h = c->http;

    (void)code;
    (void)err; /* bytes a failed write dropped are simply not in the size */
    if (!h || !h->await)
        return;
    append_wait *w = h->await;
    h->await = NULL;
    route r = {.c = c, .req = &h->parser.req};
    append_begin(&r, w->res, w->want, w->has_off, w->via_range, w->existed, w->rel);
    free(w);
    http_conn_resume(c); /* the body (or the next request) held back meanwhile */
}

/* PUT or POST: append the body. */
static int route_append_http(route *r)
{
    hfs_server *s = r->c->srv;
    uint64_t want = 0;
    int via_range;
    store_res *res;
    store_file f;

    int has_off = expected_offset(r, &want, &via_range);
    if (has_off < 0)
        return route_text(r, 400, NULL, "400 malformed X-Append-Offset or Content-Range\n");
    int existed = store_open_read(s->st, r->rel, &f) == STORE_OK;
    if (existed) {
        if (f.live)
            store_res_unref(f.live);
        close(f.fd);
    }
    /* A resource that does not exist has size 0: a stale offset or a body over the limit is
     * refused before anything is created. Otherwise both are checked once the slot is ours. */
    if (has_off && !existed && want != 0)
        return stale_offset(r, 0, via_range);
    if (!existed && over_size_max(s, 0, r->req->content_length))
        return too_large(r, 0);
    int err = store_acquire(s->st, r->rel, &res);
    if (err != STORE_OK) {
        r->c->http->close_after = r->req->has_body; /* do not read a body we refuse */
        return route_store_error(r, err);
    }
    if (res->staged) {
        /* The previous writer left bytes still being written: the size it settles at is the one
         * this writer is held to, so wait for them (the input waits too). */
        size_t n = strlen(r->rel);
        append_wait *w = malloc(sizeof(*w) + n + 1);
        if (w) {
            *w = (append_wait){.res = res,
                               .want = want,
                               .has_off = has_off,
                               .via_range = via_range,
                               .existed = existed};
            memcpy(w->rel, r->rel, n + 1);
            r->c->http->await = w;
            conn_read_stop(r->c);
            if (srv_sync_written(s, res, r->c, append_wait_done, 0) == 0) {
                route_log(r, -1);
                return 0;
            }
            r->c->http->await = NULL;
            free(w);
        }
        store_release(res);
        return route_text(r, 503, "Retry-After: 1\r\n", "503 out of memory\n");
    }
    int status = append_begin(r, res, want, has_off, via_range, existed, r->rel);
    if (status == 0)
        route_log(r, -1); /* answered when the body ends */
    return status;
}

/* The verb: X-Verb, or ?verb= when the header is absent or empty. */
static int is_append(const route *r)
{
    size_t n;
    const char *v = http_header_get(r->req, "X-Verb", &n);
    char q[16];

    if (v && n > 0)
        return n == 6 && memcmp(v, "APPEND", 6) == 0;
    return route_query(r, "verb", q, sizeof(q)) && strcmp(q, "APPEND") == 0;
}

static int dispatch(route *r, char *decoded)
{
    const char *prefix = r->c->srv->prefix;
    int m = r->req->method;

    if (m != HTTP_GET && m != HTTP_HEAD && m != HTTP_PUT && m != HTTP_POST)
        return route_text(r, 405, "Allow: " ALLOW_METHODS "\r\n", "method not supported\n");
    if (uri_split(r->req->target, r->req->target_len, &r->uri) < 0)
        return route_text(r, 400, NULL, "400 bad request-target\n");
    long n = uri_unescape_path(r->uri.path, r->uri.path_len, decoded);
    if (n == -1)
        return route_text(r, 400, NULL, "400 invalid URL escape\n");
    if (n == -2)
        return route_text(r, 400, NULL, "400 NUL byte in path\n");
    path_clean(decoded, (size_t)n, r->clean);
    if (strcmp(r->clean, decoded) != 0)
        return route_redirect(r, r->clean, strlen(r->clean));
    if (!path_strip_prefix(r->clean, prefix, &r->rel))
        return route_text(r, 404, NULL, BODY_NOT_FOUND);
    r->ws = http_header_has_token(r->req, "Upgrade", "websocket");
    if (m == HTTP_PUT || m == HTTP_POST) {
        r->append = 1;
        return route_append_http(r);
    }
    r->append = is_append(r);
    return r->append ? route_append_ws(r) : route_follow(r);
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
    int status = dispatch(&r, decoded);
    if (status > 0 && status != 101)
        route_log(&r, status);
    free(decoded);
    free(r.clean);
}
