/* http.c -- the requests of the Durable Streams protocol, shared parts and dispatch (reads and
 * long-polls in read.c, appends and POST in append.c, PUT in put.c): PUT (create, fork), POST
 * (append, close, idempotent producers), GET (catch-up and long-poll; SSE in sse.c), HEAD, DELETE
 * and OPTIONS.
 *
 * Order of decisions follows the protocol's conformance suite (docs/PROTOCOL.md, "Durable
 * Streams"). Everything that decides an append (closed, content type, producer, Stream-Seq, JSON)
 * runs on the loop before the bytes are handed to the store, so appends to one stream are atomic
 * and ordered without a lock; the answer waits until the bytes are stored (and durable under the
 * sync policy), and only then does the committed tail move and waiting long-polls wake. The
 * state changes an append makes (producers, Stream-Seq, closed) are saved once its bytes are
 * stored, as they stood right after it: data first, then state. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ds/ds_int.h"
#include "ds/http_int.h"
#include "ds/json.h"
#include "http/path.h"
#include "http/uri.h"
#include "server/conn.h"
#include "server/http_conn.h"

/* ---- answers ---- */

/* Sends an answer: the common headers, then hdr (lines ending in CRLF), then the body. */
void ds_send_answer(conn *c, int status, const textbuf *hdr, const char *ctype, const void *body,
                    size_t len)
{
    textbuf x = {0};

    tb_put(&x, DS_COMMON_HEADERS, sizeof(DS_COMMON_HEADERS) - 1);
    if (hdr && hdr->len)
        tb_put(&x, hdr->p, hdr->len);
    tb_put(&x, "", 1); /* a C string */
    if (x.failed) {
        free(x.p);
        conn_close(c);
        return;
    }
    http_respond_raw(c, status, x.p, ctype, body, len);
    free(x.p);
}

int ds_answer_text(conn *c, int status, const textbuf *hdr, const char *msg)
{
    char body[256];
    int n = snprintf(body, sizeof(body), "%d %s\n", status, msg);

    ds_send_answer(c, status, hdr, DS_TEXT, body, (size_t)n < sizeof(body) ? (size_t)n : 0);
    return status;
}

void ds_hdr_line(textbuf *b, const char *name, const char *value)
{
    tb_str(b, name);
    tb_str(b, ": ");
    tb_str(b, value);
    tb_str(b, "\r\n");
}

void ds_hdr_u64(textbuf *b, const char *name, uint64_t v)
{
    tb_str(b, name);
    tb_str(b, ": ");
    tb_u64(b, v);
    tb_str(b, "\r\n");
}

void ds_hdr_offset(textbuf *b, uint64_t pos)
{
    char off[DS_OFFSET_LEN];

    ds_offset_fmt(pos, off);
    ds_hdr_line(b, "Stream-Next-Offset", off);
}

/* 404 for a stream that does not exist; 410 for one deleted while forks still read it. */
int ds_answer_missing(conn *c, int soft_deleted)
{
    return soft_deleted ? ds_answer_text(c, 410, NULL, "gone: the stream was deleted")
                        : ds_answer_text(c, 404, NULL, "no such stream");
}

/* ---- the request's state ---- */

ds_req *ds_req_new(conn *c, int method, const char *rel)
{
    ds_req *q = calloc(1, sizeof(*q));

    if (!q || !(q->rel = strdup(rel))) {
        free(q);
        return NULL;
    }
    q->c = c;
    q->method = method;
    return q;
}

void ds_req_free(ds_state *d, ds_req *q)
{
    if (q->ds)
        ds_put(d, q->ds);
    if (q->src)
        ds_put(d, q->src);
    free(q->rel), free(q->body), free(q->snap), free(q->hdr.p), free(q->init);
    free(q->path), free(q->host);
    free(q);
}

/* A request that waits (for the store) belongs to its connection again meanwhile, so that the
 * connection going away detaches it. */
void ds_req_wait(ds_req *q)
{
    if (q->c && !q->c->closing && q->c->http)
        q->c->http->ds = q;
    else
        q->c = NULL;
}

/* The request is answered (or its connection went): detach it from the connection. */
void ds_req_detach(ds_req *q)
{
    if (q->c && q->c->http && q->c->http->ds == q)
        q->c->http->ds = NULL;
    q->c = NULL;
}

/* ---- dispatch ---- */

static int handle_options(route *r)
{
    textbuf h = {0};

    ds_hdr_line(&h, "Access-Control-Max-Age", "86400");
    ds_send_answer(r->c, 204, &h, NULL, NULL, 0);
    free(h.p);
    return 204;
}

int ds_refuse(route *r, int status, const char *extra, const char *why)
{
    textbuf h = {0};

    r->verb_name = "STREAM";
    if (extra)
        tb_str(&h, extra);
    int s = ds_answer_text(r->c, status, &h, why);
    free(h.p);
    return s;
}

int ds_route(route *r, const char *name)
{
    ds_state *d = r->c->srv->ds;
    int m = r->req->method;

    r->verb_name = "STREAM";
    if (m == HTTP_OPTIONS)
        return handle_options(r);
    if (m != HTTP_GET && m != HTTP_HEAD && m != HTTP_PUT && m != HTTP_POST && m != HTTP_DELETE) {
        textbuf h = {0};
        ds_hdr_line(&h, "Allow", "GET, POST, PUT, DELETE, HEAD, OPTIONS");
        int s = ds_answer_text(r->c, 405, &h, "method not allowed");
        free(h.p);
        return s;
    }
    if (!*name || name[strlen(name) - 1] == '/')
        return ds_answer_text(r->c, 404, NULL, "no such stream");
    if (m == HTTP_GET)
        return ds_handle_get(r, d, name);
    if (m == HTTP_HEAD)
        return ds_handle_head(r, d, name);
    if (m == HTTP_DELETE)
        return ds_handle_delete(r, d, name);
    /* PUT and POST decide once the body is in. */
    ds_req *q = ds_req_new(r->c, m, name);
    if (!q)
        return ds_answer_text(r->c, 503, NULL, "out of memory");
    q->d = d;
    size_t hl;
    const char *host = ds_header(r, "Host", &hl);
    if (host && hl && hl < 256 && !memchr(host, '\r', hl) && !memchr(host, '\n', hl))
        q->host = strndup(host, hl);
    q->path = strndup(r->uri.path, r->uri.path_len);
    r->c->http->ds = q;
    r->c->http->responding = 1;
    route_log(r, -1);
    return 0;
}

void ds_req_body(conn *c, const uint8_t *p, size_t n)
{
    ds_req *q = c->http->ds;
    uint64_t max = c->srv->opt.message_max ? c->srv->opt.message_max : UINT64_MAX;

    if (!q || q->too_big || q->method == HTTP_GET)
        return;
    if (q->len + n > max) {
        q->too_big = 1; /* the rest is read and dropped; 413 once it is all in */
        free(q->body);
        q->body = NULL;
        q->len = q->cap = 0;
        return;
    }
    if (q->len + n > q->cap) {
        /* Room for the whole body at once when its length is known. */
        uint64_t want = c->http->parser.req.content_length;
        size_t cap = q->cap ? q->cap : want != UINT64_MAX && want <= max ? (size_t)want : 4096;
        while (cap < q->len + n)
            cap *= 2;
        uint8_t *b = realloc(q->body, cap);
        if (!b) {
            q->too_big = 1;
            return;
        }
        q->body = b;
        q->cap = cap;
    }
    memcpy(q->body + q->len, p, n);
    q->len += n;
}

void ds_req_done(conn *c)
{
    ds_req *q = c->http->ds;
    ds_state *d = c->srv->ds;

    if (!q || q->method == HTTP_GET || q->started)
        return;
    q->started = 1;
    /* While it is decided the request is not the connection's: an answer given at once may end
     * the connection (Connection: close), and that must not free the request under us. A request
     * that goes on waiting hands itself back to the connection (ds_req_wait). */
    c->http->ds = NULL;
    int status = q->method == HTTP_POST ? ds_handle_post(c, d, q) : ds_handle_put(c, d, q);
    if (status != 0) {
        q->c = NULL; /* answered at once: the request is over */
        ds_req_free(d, q);
    }
}

void ds_req_drain(conn *c)
{
    ds_req *q = c->http ? c->http->ds : NULL;

    if (q && q->method == HTTP_GET) {
        ds_poll_finish(c->srv->ds, q, 1);
        ds_arm_poll_timer(c->srv->ds);
    }
}

void ds_req_forget(conn *c)
{
    ds_req *q = c->http ? c->http->ds : NULL;
    ds_state *d = c->srv->ds;

    if (!q)
        return;
    ds_req_detach(q);
    if (q->method == HTTP_GET) {
        ds_poll_unlink(d, q);
        ds_req_free(d, q);
        ds_arm_poll_timer(d);
        return;
    }
    if (!q->started || (!q->wait && !q->wres))
        ds_req_free(d, q); /* nothing under way */
    /* else: an append or a creation is under way; it completes without the connection */
}
