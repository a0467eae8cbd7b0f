/* route.c -- the verbs: maps each request to a response or a session.
 *
 * Order of decisions: method (405) -> request-target (400) -> percent-decoding (400) -> access
 * (400, 401, 403: route_access, the one place where every protocol's requests are decided) ->
 * Durable Streams prefix (src/ds) -> clean path (301) -> mount prefix (404) -> verb: PUT and POST
 * append their body; a GET or HEAD with X-Verb (else ?verb=) APPEND appends over a WebSocket;
 * anything else follows (follow_route.c). */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "auth/auth.h"
#include "ds/ds.h"
#include "http/path.h"
#include "http/response.h"
#include "server/conn.h"
#include "server/follow.h"
#include "server/http_conn.h"
#include "server/route.h"
#include "server/ws_conn.h"

#define ALLOW_METHODS "GET, HEAD, PUT, POST"

/* "peer \"METHOD target\"", the target's token and sig values redacted (auth.h), at most 160 of
 * its bytes. */
static void log_prefix(route *r)
{
    const http_request *q = r->req;
    char t[168];
    size_t n = auth_redact_target(q->target, q->target_len, t, sizeof(t));

    snprintf(r->logp, sizeof(r->logp), "%s \"%s %.*s%s\"", r->c->peer,
             llhttp_method_name((llhttp_method_t)q->method), n > 160 ? 160 : (int)n, t,
             n > 160 ? "..." : "");
    access_begin(r->c, llhttp_method_name((llhttp_method_t)q->method), t,
                 n < sizeof(t) ? n : sizeof(t) - 1);
}

static const char *route_verb(const route *r)
{
    return r->verb_name ? r->verb_name : r->append ? "APPEND" : "FOLLOW";
}

void route_log(const route *r, int status)
{
    const char *verb = route_verb(r);

    if (r->c->srv->opt.access) { /* the request is reported when it ends (access.c) */
        access_status(r->c, status);
        return;
    }
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

int route_store_status(int err)
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
    case STORE_ECLOSED:
        return 409;
    case STORE_ENOMEM:
    case STORE_EAGAIN:
        return 503;
    default:
        return 500;
    }
}

int route_store_error(route *r, int err)
{
    int status = route_store_status(err);

    if (err == STORE_EIO && !store_healthy(r->c->srv->st)) /* NATS away (-store): for now */
        return route_text(r, 503, "Retry-After: 2\r\n", "503 storage unavailable\n");
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
    case STORE_ECLOSED:
        return route_text(r, 409, NULL, "409 conflict: the stream is closed\n");
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

int route_open_stream(route *r)
{
    char body[160];

    r->c->http->close_after = r->req->has_body; /* do not read a body we refuse */
    snprintf(body, sizeof(body),
             "409 conflict: a stream of the Durable Streams protocol; append with POST under %s\n",
             r->c->srv->ds_prefix ? r->c->srv->ds_prefix : "its prefix");
    return route_text(r, 409, NULL, body);
}

int route_offers_binary(const route *r)
{
    return http_header_has_token(r->req, "Sec-WebSocket-Protocol", "binary");
}

int route_query(const route *r, const char *key, char *out, size_t cap)
{
    return r->uri.query && uri_query_get(r->uri.query, r->uri.query_len, key, out, cap);
}

/* 1 when the query parameter p[0..n) ("key=value" or "key") is one that carries a credential: its
 * key, with %XX escapes decoded as auth.c decodes them, is token, expires, rights or sig. */
static int is_credential(const char *p, size_t n)
{
    static const char *const keys[] = {"token", "expires", "rights", "sig"};
    const char *eq = memchr(p, '=', n);
    size_t kn = eq ? (size_t)(eq - p) : n;
    char key[24];

    if (kn >= sizeof(key) || uri_unescape_path(p, kn, key) < 0)
        return 0;
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        if (strcmp(key, keys[i]) == 0)
            return 1;
    return 0;
}

int route_credential(const route *r, char **out)
{
    const char *q = r->uri.query, *end;
    char *s = NULL;
    size_t len = 0;

    *out = NULL;
    if (!q)
        return 0;
    for (end = q + r->uri.query_len; q < end;) {
        const char *amp = memchr(q, '&', (size_t)(end - q));
        size_t n = (size_t)((amp ? amp : end) - q);
        if (is_credential(q, n)) {
            if (!s && !(s = malloc(r->uri.query_len + 1)))
                return -1;
            if (len)
                s[len++] = '&';
            memcpy(s + len, q, n);
            len += n;
        }
        q += n + 1;
    }
    if (s)
        s[len] = '\0';
    *out = s;
    return 0;
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
        store_info info;
        if (store_stat(r->c->srv->st, r->rel, &info) == STORE_OK && (info.state & STORE_LEASED))
            return route_text(r, 403, NULL, BODY_CONFLICT);
        return route_text(
            r, 426, "Upgrade: websocket\r\nConnection: Upgrade\r\n",
            "426 upgrade required: APPEND needs a WebSocket handshake (or use PUT)\n");
    }
    int status = route_handshake_check(r, &extra);
    if (status)
        return route_handshake_refused(r, status, extra);
    store_info info;
    if (store_stat(r->c->srv->st, r->rel, &info) == STORE_OK && (info.state & STORE_OPEN))
        return route_open_stream(r);
    int err = store_acquire(r->c->srv->st, r->rel, &res);
    if (err != STORE_OK)
        return route_store_error(r, err);
    /* An appender may offer a subprotocol as followers do: the one chosen is echoed (a browser
     * refuses a handshake that does not echo one it offered). */
    int binary = route_offers_binary(r);
    int text = !binary && http_header_has_token(r->req, "Sec-WebSocket-Protocol", "text");
    if (ws_handshake_response(r->c, r->req, binary,
                              text ? "Sec-WebSocket-Protocol: text\r\n" : NULL) < 0) {
        store_release(res);
        conn_close(r->c);
        return 101;
    }
    route_log(r, 101);
    follow_wake_waiters(r->c->srv, r->rel, res);
    http_conn_free(r->c);
    ws_append_start(r->c, res, r->rest, r->rest_len);
    return 0;
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

/* The right a request needs (enum auth_right; 0: none): a Durable Streams DELETE deletes; PUT,
 * POST and the verb APPEND (native, or a WebSocket handshake for a stream) append; every other GET
 * and HEAD reads. OPTIONS (a CORS preflight) and methods answered 405 need none. */
static unsigned needed_right(const route *r, int is_ds)
{
    switch (r->req->method) {
    case HTTP_GET:
    case HTTP_HEAD:
        return r->append ? AUTH_APPEND : AUTH_READ;
    case HTTP_PUT:
    case HTTP_POST:
        return AUTH_APPEND;
    case HTTP_DELETE:
        return is_ds ? AUTH_DELETE : 0;
    default:
        return 0;
    }
}

/* A refusal: a short text that names neither the URL nor the credential, with the Durable
 * Streams protocol's headers (CORS) under its prefix. A body that came with the request is not
 * read: the connection closes after the answer. */
static int refuse(route *r, int verdict, int is_ds)
{
    const char *extra =
        verdict == AUTH_UNAUTHORIZED ? "WWW-Authenticate: Bearer realm=\"httpfstream\"\r\n" : NULL;
    const char *why = verdict == AUTH_BAD_REQUEST    ? "bad request: malformed credential"
                      : verdict == AUTH_UNAUTHORIZED ? "unauthorized: a credential is needed"
                                                     : "forbidden";
    char body[64];

    r->c->http->close_after = r->req->has_body;
    if (is_ds)
        return ds_refuse(r, verdict, extra, why);
    snprintf(body, sizeof(body), "%d %s\n", verdict, why);
    return route_text(r, verdict, extra, body);
}

/* Access control: whether the request may have the right it needs on its clean path (mount prefix
 * included). 0, or the status of the refusal sent. Every protocol's requests pass here once, after
 * the path is cleaned and before any of them is routed. */
static int route_access(route *r, int is_ds)
{
    const auth_rules *a = r->c->srv->auth;
    unsigned right = a ? needed_right(r, is_ds) : 0;

    if (!right)
        return 0;
    auth_request q = {.path = r->clean, .query = r->uri.query, .query_len = r->uri.query_len};
    q.authorization = http_header_get(r->req, "Authorization", &q.authorization_len);
    q.authorization_count = q.authorization ? http_header_count(r->req, "Authorization") : 0;
    q.now = (int64_t)time(NULL);
    int verdict = auth_check(a, &q, right);
    return verdict == AUTH_OK ? 0 : refuse(r, verdict, is_ds);
}

static int dispatch(route *r, char *decoded)
{
    const char *prefix = r->c->srv->prefix, *ds_name;
    int m = r->req->method;
    int native = m == HTTP_GET || m == HTTP_HEAD || m == HTTP_PUT || m == HTTP_POST;

    if (!native && !r->c->srv->ds)
        return route_text(r, 405, "Allow: " ALLOW_METHODS "\r\n", "method not supported\n");
    if (uri_split(r->req->target, r->req->target_len, &r->uri) < 0)
        return route_text(r, 400, NULL, "400 bad request-target\n");
    long n = uri_unescape_path(r->uri.path, r->uri.path_len, decoded);
    if (n == -1)
        return route_text(r, 400, NULL, "400 invalid URL escape\n");
    if (n == -2)
        return route_text(r, 400, NULL, "400 NUL byte in path\n");
    path_clean(decoded, (size_t)n, r->clean);
    int is_ds = ds_match(r->c->srv, r->clean, &ds_name);
    /* A WebSocket handshake for a stream goes the native way (below); other requests under the
     * prefix are the protocol's. */
    r->ws = http_header_has_token(r->req, "Upgrade", "websocket") && (!is_ds || m == HTTP_GET);
    r->append = m == HTTP_PUT || m == HTTP_POST ||
                ((m == HTTP_GET || m == HTTP_HEAD) && (!is_ds || r->ws) && is_append(r));
    int status = route_access(r, is_ds);
    if (status)
        return status;
    if (is_ds) {
        if (strcmp(r->clean, decoded) != 0)
            return route_text(r, 400, NULL, "400 the stream's path is not clean\n");
        if (!r->ws)
            return ds_route(r, ds_name);
        r->rel = ds_name;
        return r->append ? route_append_ws(r) : route_follow(r);
    }
    if (!native)
        return route_text(r, 405, "Allow: " ALLOW_METHODS "\r\n", "method not supported\n");
    if (strcmp(r->clean, decoded) != 0)
        return route_redirect(r, r->clean, strlen(r->clean));
    if (!path_strip_prefix(r->clean, prefix, &r->rel))
        return route_text(r, 404, NULL, BODY_NOT_FOUND);
    if (m == HTTP_PUT || m == HTTP_POST)
        return route_append_http(r);
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
        access_routed(c, "none", 503);
        return;
    }
    int status = dispatch(&r, decoded);
    if (status > 0 && status != 101)
        route_log(&r, status);
    access_routed(c, route_verb(&r), status);
    free(decoded);
    free(r.clean);
}
