/* http_append.c -- APPEND over plain HTTP: a PUT or POST body (sized or chunked) is appended as it
 * arrives through the one append path (append.c), under the same single-writer lease and with the
 * same live delivery as a WebSocket appender. The request may say the size it expects
 * (X-Append-Offset, Content-Range); a body that would pass -max-size is refused before any of it
 * is stored. The response comes when the body ends, once its bytes are stored (and durable under
 * a sync policy), and reports the resource's new size; a body cut short keeps what arrived. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/conn.h"
#include "server/fanout.h"
#include "server/follow.h"
#include "server/http_conn.h"
#include "server/route.h"

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

/* A PUT/POST that holds the lease while the previous writer's accepted bytes are still being
 * stored: its offset is checked against the size they end at. http_conn keeps it. */
struct append_wait {
    store_res *res;
    store_wait *wait;
    uint64_t want;
    int has_off, via_range, existed;
    char rel[];
};

/* Ends the session with an answer that reports the size (and an error status when something
 * failed). */
static void respond(conn *c, int status, const char *reason)
{
    appender *a = &c->u.a;
    char extra[96], body[160];
    uint64_t size = !a->ended && a->sr ? store_size(a->sr->res) : a->final_size;

    c->http->appending = 0;
    append_end(c, reason);
    snprintf(extra, sizeof(extra), "X-Resource-Size: %llu\r\n", (unsigned long long)size);
    if (status < 300)
        snprintf(body, sizeof(body), "%llu\n", (unsigned long long)size);
    else
        snprintf(body, sizeof(body), "%d %s (size %llu)\n", status, reason,
                 (unsigned long long)size);
    if (status >= 400)
        c->http->close_after = 1; /* the rest of the body is not wanted */
    http_respond_simple(c, status, extra, "text/plain; charset=utf-8", body, strlen(body));
}

static void http_append_failed(conn *c, int err, int sys, const char *reason)
{
    if (!c->http || !c->http->appending)
        return;
    respond(c, err == STORE_EFULL ? 413 : sys == ENOSPC || sys == EDQUOT ? 507 : 500, reason);
}

void http_append_start(conn *c, store_res *res, int created)
{
    if (append_begin(c, res, http_append_failed, created) == 0)
        c->http->appending = 1;
}

void http_append_body(conn *c, const uint8_t *p, size_t n)
{
    struct iovec iov = {.iov_base = (void *)p, .iov_len = n};

    if (c->http->appending && n)
        append_push(c, &iov, 1);
}

static void respond_when_durable(conn *c, int err, unsigned code)
{
    (void)code;
    if (!c->http || !c->http->appending)
        return; /* already answered (a write failed meanwhile) */
    if (err < 0)
        respond(c, 500, "write or fdatasync failed");
    else
        respond(c, c->u.a.created ? 201 : 200, NULL);
}

void http_append_done(conn *c)
{
    if (!c->http->appending)
        return;
    c->http->responding = 1; /* the answer may wait for the disk; the next request waits too */
    int r = append_when_durable(c, respond_when_durable, 0);
    if (r != 0)
        respond_when_durable(c, r < 0 ? STORE_EIO : 0, 0);
}

void http_append_forget(conn *c)
{
    http_conn *h = c->http;
    append_wait *w = h ? h->await : NULL;

    if (w) {
        h->await = NULL;
        store_wait_cancel(w->wait);
        store_release(w->res);
        free(w);
    }
    if (h && h->appending) {
        h->appending = 0;
        append_forget(c);
    }
}

/* The lease is ours and the size settled: check the writer's offset and the size limit, then
 * append the body as it arrives. Returns 0 (answered when the body ends) or the status sent. */
static int append_http_begin(route *r, store_res *res, uint64_t want, int has_off, int via_range,
                             int existed, const char *rel)
{
    hfs_server *s = r->c->srv;
    uint64_t size = store_size(res);

    if (has_off && want != size) {
        store_release(res);
        return stale_offset(r, size, via_range);
    }
    if (over_size_max(s, size, r->req->content_length)) {
        store_release(res);
        return too_large(r, size);
    }
    http_append_start(r->c, res, !existed);
    if (!r->c->http->appending)
        return route_text(r, 503, NULL, "503 out of memory\n");
    follow_wake_waiters(s, rel, res);
    size_t n;
    const char *expect = http_header_get(r->req, "Expect", &n);
    if (expect && n == 12 && strncasecmp(expect, "100-continue", 12) == 0)
        conn_write_copy(r->c, "HTTP/1.1 100 Continue\r\n\r\n", 25);
    return 0;
}

static void append_wait_done(void *arg, int err)
{
    conn *c = arg;
    http_conn *h = c->http;

    (void)err; /* bytes a failed write dropped are simply not in the size */
    if (!h || !h->await)
        return;
    append_wait *w = h->await;
    h->await = NULL;
    route r = {.c = c, .req = &h->parser.req};
    append_http_begin(&r, w->res, w->want, w->has_off, w->via_range, w->existed, w->rel);
    free(w);
    http_conn_resume(c); /* the body (or the next request) held back meanwhile */
}

/* PUT or POST: append the body. */
int route_append_http(route *r)
{
    hfs_server *s = r->c->srv;
    uint64_t want = 0;
    int via_range;
    store_res *res;
    store_info info;

    int has_off = expected_offset(r, &want, &via_range);
    if (has_off < 0)
        return route_text(r, 400, NULL, "400 malformed X-Append-Offset or Content-Range\n");
    int existed = store_stat(s->st, r->rel, &info) == STORE_OK;
    if (existed && (info.state & STORE_OPEN))
        return route_open_stream(r);
    /* A resource that does not exist has size 0: a stale offset or a body over the limit is
     * refused before anything is created. Otherwise both are checked once the lease is ours. */
    if (has_off && !existed && want != 0)
        return stale_offset(r, 0, via_range);
    if (!existed && over_size_max(s, 0, r->req->content_length))
        return too_large(r, 0);
    int err = store_acquire(s->st, r->rel, &res);
    if (err != STORE_OK) {
        r->c->http->close_after = r->req->has_body; /* do not read a body we refuse */
        return route_store_error(r, err);
    }
    if (store_accepted(res) > store_size(res)) {
        /* The previous writer left bytes still being stored: the size they settle at is the one
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
            int k = store_when_written(res, STORE_WAIT_WRITTEN, append_wait_done, r->c, &w->wait);
            if (k > 0) {
                route_log(r, -1);
                return 0;
            }
            r->c->http->await = NULL;
            free(w);
            if (k == 0)
                goto begin; /* stored meanwhile */
        }
        store_release(res);
        return route_text(r, 503, "Retry-After: 1\r\n", "503 out of memory\n");
    }
begin:;
    int status = append_http_begin(r, res, want, has_off, via_range, existed, r->rel);
    if (status == 0)
        route_log(r, -1); /* answered when the body ends */
    return status;
}
