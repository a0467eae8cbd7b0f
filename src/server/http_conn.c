/* http_conn.c -- the HTTP role of a connection: feeds input to the request parser, hands each
 * request head to the router, writes plain and file responses, and keeps requests in order
 * (pipelined input waits in `pending` while a response is being written).
 *
 * A request's life: head parsed (HTTP_EV_HEAD) -> route_request answers (responding = 1) -> the
 * body, if any, is read and dropped -> message done and response written -> next request. */
#include "server/http_conn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ds/ds.h"
#include "http/response.h"
#include "server/conn.h"

#define FILE_CHUNK ((size_t)256 * 1024) /* resource bytes per write */

typedef struct file_write {
    uv_write_t req;
    conn *c;
    size_t len;
    uint8_t data[];
} file_write;

static int http_on_start(conn *c)
{
    c->http = calloc(1, sizeof(*c->http));
    if (!c->http)
        return -1;
    http_parser_init(&c->http->parser, c->srv->opt.target_max, c->srv->opt.header_max);
    return 0;
}

static void file_body_end(http_conn *h)
{
    if (h->body_res)
        store_res_unref(h->body_res);
    h->body_res = NULL;
    free(h->plan);
    h->plan = NULL;
}

void http_conn_free(conn *c)
{
    http_conn *h = c->http;

    if (!h)
        return;
    file_body_end(h);
    http_append_forget(c);
    ds_req_forget(c);
    http_parser_free(&h->parser);
    free(h->pending);
    free(h);
    c->http = NULL;
}

static void start_next_request(conn *c)
{
    http_conn *h = c->http;

    http_parser_next(&h->parser);
    h->head_seen = h->msg_done = h->is_head = h->started = 0;
    c->deadline_ms = srv_now(c->srv) + c->srv->opt.idle_timeout_ms;
}

/* Keeps unparsed input until the current response is written. */
static void stash(conn *c, const uint8_t *p, size_t n)
{
    http_conn *h = c->http;
    char *b = realloc(h->pending, h->pending_len + n);

    if (!b) {
        conn_close(c);
        return;
    }
    memcpy(b + h->pending_len, p, n);
    h->pending = b;
    h->pending_len += n;
    conn_read_stop(c);
}

static void on_parse_error(conn *c, const http_event *ev)
{
    char body[128];

    srv_log(c->srv, HFS_LOG_WARN, "%s bad request: %d %s", c->peer, ev->status,
            ev->reason ? ev->reason : "");
    c->http->close_after = 1;
    snprintf(body, sizeof(body), "%d %s\n", ev->status, http_status_text(ev->status));
    if (ev->status == 405)
        http_respond_simple(c, 405, "Allow: GET, HEAD, PUT, POST\r\n", "text/plain; charset=utf-8",
                            "method not supported\n", 21);
    else
        http_respond_error(c, ev->status, body);
}

/* Parses as much input as the state allows; the rest waits in `pending`. */
static void feed(conn *c, uint8_t *p, size_t n)
{
    http_event ev;

    while (!c->closing && c->http && !c->lingering) {
        http_conn *h = c->http;
        if ((h->responding && h->msg_done) || h->await) {
            if (n)
                stash(c, p, n);
            return;
        }
        size_t used = http_parse(&h->parser, (const char *)p, n, &ev);
        p += used;
        n -= used;
        switch (ev.type) {
        case HTTP_EV_NEED_MORE:
            return;
        case HTTP_EV_HEAD:
            h->head_seen = 1;
            h->is_head = h->parser.req.method == HTTP_HEAD;
            c->deadline_ms = 0;
            (c->metrics ? metrics_request : c->srv->on_request)(c, &h->parser.req, p, n);
            if (c->ops != &conn_http_ops)
                return; /* upgraded: the new kind took the rest of the input */
            break;
        case HTTP_EV_BODY:
            if (h->ds)
                ds_req_body(c, (const uint8_t *)ev.data, ev.len);
            else if (h->appending)
                http_append_body(c, (const uint8_t *)ev.data, ev.len);
            break; /* other bodies are read and dropped */
        case HTTP_EV_DONE:
            h->msg_done = 1;
            if (h->ds) {
                ds_req_done(c);
                break;
            }
            if (h->appending) {
                http_append_done(c);
                break;
            }
            if (!h->responding)
                start_next_request(c);
            break;
        case HTTP_EV_ERROR:
            on_parse_error(c, &ev);
            return;
        }
    }
}

static void http_on_data(conn *c, uint8_t *p, size_t n)
{
    http_conn *h = c->http;

    if ((h->responding && h->msg_done) || h->await) {
        stash(c, p, n);
        return;
    }
    if (!h->started && !h->head_seen) {
        h->started = 1;
        c->deadline_ms = srv_now(c->srv) + c->srv->opt.header_timeout_ms;
    }
    h->in_feed = 1;
    feed(c, (uint8_t *)p, n);
    if (c->http)
        c->http->in_feed = 0;
}

/* Continues with input that arrived while a response was being written. */
static void resume_pending(conn *c)
{
    http_conn *h = c->http;
    char *buf = h->pending;
    size_t len = h->pending_len;

    h->pending = NULL;
    h->pending_len = 0;
    if (len) {
        h->in_feed = 1;
        feed(c, (uint8_t *)buf, len);
        if (c->http)
            c->http->in_feed = 0;
    }
    free(buf);
    if (!c->closing && c->http && !c->http->responding)
        conn_read_start(c);
}

void http_conn_resume(conn *c)
{
    if (!c->closing && !c->lingering && c->http && !c->http->in_feed)
        resume_pending(c);
}

void http_response_done(conn *c)
{
    http_conn *h = c->http;

    access_end(c);
    if (h->close_after) {
        h->responding = 0;
        conn_linger(c);
        return;
    }
    if (conn_queued(c) > SRV_OUT_MAX) {
        /* The client is not reading its answers: read no more requests until it does. */
        h->held = 1;
        c->out_paused = 1;
        conn_read_stop(c);
        return;
    }
    h->held = 0;
    h->responding = 0;
    if (!h->msg_done) {
        /* The body is still coming, and feed() finishes the request; reading may have stopped
         * if this request came from input held back during the previous response. */
        conn_read_start(c);
        return;
    }
    start_next_request(c);
    if (!h->in_feed)
        resume_pending(c);
}

static void http_out_drained(conn *c)
{
    if (c->http && c->http->held)
        http_response_done(c);
    else
        conn_read_start(c);
}

/* The client half-closed (or went): it may still read. Finish the response in progress, and what
 * is queued, then close. */
static void http_on_eof(conn *c)
{
    http_conn *h = c->http;

    c->peer_eof = 1;
    conn_read_stop(c);
    if (h && h->ds && !h->msg_done) {
        conn_close(c); /* a Durable Streams body that will never be whole: nothing to answer */
        return;
    }
    if (h && (h->responding || h->await)) {
        h->close_after = 1;
        return;
    }
    if (conn_queued(c) > 0)
        conn_linger(c);
    else
        conn_close(c);
}

static void http_on_timeout(conn *c)
{
    http_conn *h = c->http;

    /* A request that started but never completed its head gets a 408; an idle one just goes. */
    if (h && !h->responding && !h->head_seen && h->started) {
        srv_log(c->srv, HFS_LOG_WARN, "%s request head not received in time", c->peer);
        h->close_after = 1;
        http_respond_error(c, 408, "408 request timeout\n");
        return;
    }
    conn_close(c);
}

/* Writes the head, adding Connection: close when this is the last response. */
static int write_head(conn *c, http_head *head)
{
    http_conn *h = c->http;

    if (h->close_after || !h->parser.req.keep_alive || c->srv->closing) {
        h->close_after = 1;
        http_head_add(head, "Connection", "close");
    }
    if (http_head_end(head) < 0)
        return -1;
    return conn_write_copy(c, head->buf, head->len);
}

static void respond(conn *c, int status, const char *extra, const char *ctype, const void *body,
                    size_t body_len, int nosniff)
{
    http_head head;
    http_conn *h = c->http;

    h->responding = 1;
    conn_count_status(c, status);
    access_status(c, status);
    http_head_start(&head, status);
    if (ctype)
        http_head_add(&head, "Content-Type", ctype);
    if (nosniff)
        http_head_add(&head, "X-Content-Type-Options", "nosniff");
    if (status != 304 && status != 204)
        http_head_addf(&head, "Content-Length", "%zu", body_len);
    if (extra)
        http_head_raw(&head, extra, strlen(extra));
    if (write_head(c, &head) < 0 ||
        (body_len && !h->is_head && conn_write_copy(c, body, body_len) < 0)) {
        conn_close(c);
        return;
    }
    http_response_done(c);
}

void http_respond_simple(conn *c, int status, const char *extra, const char *ctype,
                         const char *body, size_t body_len)
{
    respond(c, status, extra, ctype, body, body_len, status >= 400);
}

void http_respond_raw(conn *c, int status, const char *extra, const char *ctype, const void *body,
                      size_t body_len)
{
    respond(c, status, extra, ctype, body, body_len, 0);
}

void http_respond_error(conn *c, int status, const char *body)
{
    http_respond_simple(c, status, NULL, "text/plain; charset=utf-8", body, strlen(body));
}

static void file_pump(conn *c);

/* A piece of file bytes is out. */
static void file_written(conn *c, void *arg, int status)
{
    (void)arg;
    if (c->closing || !c->http)
        return; /* (lingering: the response's state is gone, its last piece with it) */
    if (status < 0) {
        conn_close(c);
        return;
    }
    c->last_tx_ms = c->progress_ms = srv_now(c->srv);
    file_pump(c);
}

static void file_write_cb(uv_write_t *req, int status)
{
    file_write *w = (file_write *)req;
    conn *c = w->c;

    free(w);
    file_written(c, NULL, status);
}

/* Queues the next piece of file bytes; returns 1 when one is in flight, 0 when the part is done. */
static int file_send_piece(conn *c, const http_body_part *part)
{
    http_conn *h = c->http;
    uint64_t left = part->len - h->part_off;
    size_t n = left < FILE_CHUNK ? (size_t)left : FILE_CHUNK;
    file_write *w = malloc(sizeof(*w) + n);

    if (!w)
        return -1;
    ssize_t got = store_read(h->body_res, w->data, n, part->start + h->part_off);
    if (got != (ssize_t)n) {
        /* The resource shrank under us: the promised length can no longer be met. */
        srv_log(c->srv, HFS_LOG_ERROR, "%s read: %s", c->peer, got < 0 ? strerror(errno) : "short");
        free(w);
        return -1;
    }
    w->c = c;
    w->len = n;
    uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)n);
    if (c->tls) {
        /* Encrypted into a queued copy: always queued, so that file_written pumps the next. */
        int r = conn_write_tls(c, &b, 1, 0, file_written, NULL);
        free(w);
        if (r != 0)
            return -1;
    } else if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, file_write_cb) != 0) {
        free(w);
        return -1;
    }
    h->part_off += n;
    c->tx_bytes += n;
    return 1;
}

/* Sends the plan's parts one write at a time, then the trailer; then the response is done. */
static void file_pump(conn *c)
{
    http_conn *h = c->http;
    const http_static_plan *plan = h->plan;

    while (h->part < plan->nparts) {
        const http_body_part *part = &plan->parts[h->part];
        if (!h->part_prefix_sent) {
            h->part_prefix_sent = 1;
            if (part->prefix_len &&
                conn_write_copy(c, plan->text + part->prefix_off, part->prefix_len) < 0)
                goto fail;
        }
        if (h->part_off < part->len) {
            if (file_send_piece(c, part) < 0)
                goto fail;
            return;
        }
        h->part++;
        h->part_off = 0;
        h->part_prefix_sent = 0;
    }
    if (plan->trailer_len &&
        conn_write_copy(c, plan->text + plan->trailer_off, plan->trailer_len) < 0)
        goto fail;
    file_body_end(h);
    http_response_done(c);
    return;
fail:
    conn_close(c);
}

void http_respond_resource(conn *c, store_res *res, const http_static_plan *plan)
{
    http_conn *h = c->http;
    http_head head;

    h->responding = 1;
    conn_count_status(c, plan->status);
    access_status(c, plan->status);
    http_head_start(&head, plan->status);
    http_head_raw(&head, plan->text, plan->headers_len);
    if (write_head(c, &head) < 0 || !(h->plan = malloc(sizeof(*plan)))) {
        store_res_unref(res);
        conn_close(c);
        return;
    }
    memcpy(h->plan, plan, sizeof(*plan));
    h->body_res = res;
    h->part = 0;
    h->part_off = 0;
    h->part_prefix_sent = 0;
    if (h->is_head) {
        file_body_end(h);
        http_response_done(c);
        return;
    }
    file_pump(c);
}

/* Closing or lingering: an append in progress ends (bytes accepted stay), HTTP state goes. */
static void http_on_stop(conn *c)
{
    if (c->http && c->http->appending)
        append_end(c, NULL);
    http_conn_free(c);
}

/* A graceful shutdown: a response in progress finishes, then the connection closes. */
static void http_on_drain(conn *c)
{
    if (c->http && c->http->responding) {
        c->http->close_after = 1;
        ds_req_drain(c); /* a long-poll answers now */
    } else
        conn_close(c);
}

const conn_ops conn_http_ops = {
    .name = "http",
    .on_start = http_on_start,
    .on_data = http_on_data,
    .on_eof = http_on_eof,
    .on_timeout = http_on_timeout,
    .on_out_drained = http_out_drained,
    .on_drain = http_on_drain,
    .on_stop = http_on_stop,
    .on_closed = http_on_stop,
};
