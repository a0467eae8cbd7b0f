/* read.c -- Durable Streams reads: GET catch-up and long-poll, HEAD, DELETE (SSE in sse.c). */
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

/* ---- query ---- */

typedef struct ds_query {
    int noffset;  /* offset parameters given */
    int bad;      /* an offset that is not one */
    int kind;     /* OFF_START, OFF_NOW, OFF_POS */
    uint64_t pos; /* OFF_POS */
    int live;     /* LIVE_NONE, LIVE_POLL, LIVE_SSE */
    char cursor[24];
} ds_query;

enum { OFF_START, OFF_NOW, OFF_POS };
enum { LIVE_NONE, LIVE_POLL, LIVE_SSE };

static void parse_query(const route *r, ds_query *q)
{
    const char *s = r->uri.query;
    size_t n = r->uri.query_len;

    memset(q, 0, sizeof(*q));
    for (size_t i = 0; s && i < n;) {
        size_t start = i;
        while (i < n && s[i] != '&')
            i++;
        const char *kv = s + start;
        size_t kl = i - start;
        i++;
        const char *eq = memchr(kv, '=', kl);
        size_t klen = eq ? (size_t)(eq - kv) : kl;
        const char *v = eq ? eq + 1 : kv + kl;
        size_t vl = eq ? kl - klen - 1 : 0;
        if (klen == 6 && !memcmp(kv, "offset", 6)) {
            /* Offsets need no escaping: one that has any (%00, %20, ...) is not one. */
            q->noffset++;
            if (vl == 2 && !memcmp(v, "-1", 2))
                q->kind = OFF_START;
            else if (vl == 3 && !memcmp(v, "now", 3))
                q->kind = OFF_NOW;
            else if (ds_offset_parse(v, vl, &q->pos) == 0)
                q->kind = OFF_POS;
            else
                q->bad = 1;
        } else if (klen == 4 && !memcmp(kv, "live", 4)) {
            if (vl == 9 && !memcmp(v, "long-poll", 9))
                q->live = LIVE_POLL;
            else if (vl == 3 && !memcmp(v, "sse", 3))
                q->live = LIVE_SSE;
        } else if (klen == 6 && !memcmp(kv, "cursor", 6) && vl < sizeof(q->cursor)) {
            memcpy(q->cursor, v, vl);
            q->cursor[vl] = '\0';
        }
    }
}

/* ---- reads ---- */

/* Reads [from, to) of ds into a malloc'd buffer (*len bytes). For JSON, to is moved back to the
 * end of the last whole message (or on to the end of the first, when none ends before to). */
static uint8_t *read_range(ds_stream *ds, uint64_t from, uint64_t *to, size_t *len)
{
    size_t want = (size_t)(*to - from);
    uint8_t *buf = malloc(want ? want : 1);

    if (!buf)
        return NULL;
    ssize_t got = want ? store_read(ds->res, buf, want, from) : 0;
    if (got < 0 || (size_t)got != want) {
        free(buf);
        return NULL;
    }
    if (ds->json && want && buf[want - 1] != '\n') {
        uint8_t *nl = NULL;
        for (size_t i = want; i > 0 && !nl; i--)
            if (buf[i - 1] == '\n')
                nl = &buf[i - 1];
        if (nl) {
            want = (size_t)(nl - buf) + 1;
        } else {
            /* One message longer than the read size: read on to its end. */
            while (!nl && from + want < ds->tail) {
                size_t more =
                    ds->tail - from - want < DS_READ_MAX ? ds->tail - from - want : DS_READ_MAX;
                uint8_t *nb = realloc(buf, want + more);
                if (!nb) {
                    free(buf);
                    return NULL;
                }
                buf = nb;
                if (store_read(ds->res, buf + want, more, from + want) != (ssize_t)more) {
                    free(buf);
                    return NULL;
                }
                nl = memchr(buf + want, '\n', more);
                want = nl ? (size_t)(nl - buf) + 1 : want + more;
            }
        }
        *to = from + want;
    }
    *len = want;
    return buf;
}

/* For a JSON stream, off moved on to the start of the next message when it falls inside one (a
 * client's own arithmetic on offsets): reads never start with a piece of a message. */
uint64_t ds_json_align(ds_stream *ds, uint64_t off)
{
    uint8_t buf[16 * 1024];

    if (!ds->json || off == 0 || off >= ds->tail)
        return off;
    if (store_read(ds->res, buf, 1, off - 1) != 1 || buf[0] == '\n')
        return off;
    for (uint64_t at = off; at < ds->tail;) {
        size_t n = ds->tail - at < sizeof(buf) ? (size_t)(ds->tail - at) : sizeof(buf);
        if (store_read(ds->res, buf, n, at) != (ssize_t)n)
            return ds->tail;
        const uint8_t *nl = memchr(buf, '\n', n);
        if (nl)
            return at + (uint64_t)(nl - buf) + 1;
        at += n;
    }
    return ds->tail;
}

static void etag_of(const ds_stream *ds, int64_t start, uint64_t end, int closed, char *out,
                    size_t cap)
{
    uint32_t h = ds->hash ^ (uint32_t)ds->created_ms;

    snprintf(out, cap, "\"%08x:%lld:%llu%s\"", h, (long long)start, (unsigned long long)end,
             closed ? ":c" : "");
}

/* Answers the bytes of ds from off (a catch-up read, or a long-poll that has data). */
static int answer_read(conn *c, ds_stream *ds, uint64_t off, int64_t start, int poll,
                       const char *cursor, const char *if_none_match, size_t inm_len)
{
    textbuf h = {0};
    char etag[96];
    uint64_t to = off < ds->tail ? ds->tail : off;
    size_t len = 0;

    if (to - off > DS_READ_MAX)
        to = off + DS_READ_MAX;
    uint8_t *buf = off < to ? read_range(ds, off, &to, &len) : malloc(1);
    if (!buf)
        return ds_answer_text(c, 500, NULL, "cannot read the stream");
    int at_tail = to >= ds->tail;
    int closed_end = at_tail && ds->closed;
    etag_of(ds, start, to, closed_end, etag, sizeof(etag));
    ds_hdr_line(&h, "Content-Type", ds->ctype);
    ds_hdr_offset(&h, to);
    if (at_tail)
        ds_hdr_line(&h, "Stream-Up-To-Date", "true");
    if (closed_end)
        ds_hdr_line(&h, "Stream-Closed", "true");
    if (poll) {
        ds_hdr_u64(&h, "Stream-Cursor", ds_cursor_next(cursor));
    }
    ds_hdr_line(&h, "ETag", etag);
    ds_hdr_line(&h, "Cache-Control",
                at_tail ? "no-store" : "public, max-age=60, stale-while-revalidate=300");
    if (if_none_match && inm_len == strlen(etag) && !memcmp(if_none_match, etag, inm_len)) {
        ds_send_answer(c, 304, &h, NULL, NULL, 0);
        free(h.p);
        free(buf);
        return 304;
    }
    if (ds->json) {
        uint8_t *arr = malloc(len + 2);
        size_t n = arr ? json_array(buf, len, arr, len + 2) : 0;
        if (arr)
            ds_send_answer(c, 200, &h, NULL, arr, n);
        else
            ds_answer_text(c, 500, NULL, "out of memory");
        free(arr);
    } else {
        ds_send_answer(c, 200, &h, NULL, buf, len);
    }
    free(h.p);
    free(buf);
    return 200;
}

/* 204 for a long-poll at the tail: nothing came (or the stream closed). */
static void answer_poll_empty(conn *c, ds_stream *ds, uint64_t off, const char *cursor)
{
    textbuf h = {0};

    ds_hdr_offset(&h, off > ds->tail ? off : ds->tail);
    ds_hdr_line(&h, "Stream-Up-To-Date", "true");
    if (ds->closed)
        ds_hdr_line(&h, "Stream-Closed", "true");
    else
        ds_hdr_u64(&h, "Stream-Cursor", ds_cursor_next(cursor));
    ds_send_answer(c, 204, &h, NULL, NULL, 0);
    free(h.p);
}

/* ---- long-poll ---- */

static void timeout_unlink(ds_state *d, ds_req *q)
{
    if (q->tprev)
        q->tprev->tnext = q->tnext;
    else if (d->thead == q)
        d->thead = q->tnext;
    if (q->tnext)
        q->tnext->tprev = q->tprev;
    else if (d->ttail == q)
        d->ttail = q->tprev;
    q->tnext = q->tprev = NULL;
}

void ds_poll_unlink(ds_state *d, ds_req *q)
{
    ds_stream *ds = q->ds;

    if (q->pprev)
        q->pprev->pnext = q->pnext;
    else if (ds && ds->polls == q)
        ds->polls = q->pnext;
    if (q->pnext)
        q->pnext->pprev = q->pprev;
    q->pnext = q->pprev = NULL;
    timeout_unlink(d, q);
}

static void polls_timer_cb(uv_timer_t *t)
{
    ds_polls_timeout(t->data);
}

void ds_arm_poll_timer(ds_state *d)
{
    if (d->closing)
        return;
    if (!d->thead) {
        uv_timer_stop(&d->polls);
        return;
    }
    int64_t left = d->thead->deadline_ms - (int64_t)srv_now(d->srv);
    uv_timer_start(&d->polls, polls_timer_cb, left > 0 ? (uint64_t)left : 0, 0);
}

/* Answers one long-poll and frees it. */
void ds_poll_finish(ds_state *d, ds_req *q, int timed_out)
{
    conn *c = q->c;
    ds_stream *ds = q->ds;

    ds_poll_unlink(d, q);
    ds_req_detach(q);
    if (c && !c->closing) {
        if (ds->gone || ds->soft_deleted)
            ds_answer_missing(c, !ds->gone);
        else if (!timed_out && q->poll_off < ds->tail)
            answer_read(c, ds, q->poll_off, q->now ? -2 : (int64_t)q->poll_off, 1, q->cursor, NULL,
                        0);
        else
            answer_poll_empty(c, ds, q->poll_off, q->cursor);
        if (!ds->gone)
            ds_touch(ds);
    }
    ds_req_free(d, q);
}

void ds_polls_wake(ds_state *d, ds_stream *ds)
{
    for (ds_req *q = ds->polls, *next; q; q = next) {
        next = q->pnext;
        if (ds->gone || ds->soft_deleted || q->poll_off < ds->tail || ds->closed)
            ds_poll_finish(d, q, 0);
    }
}

void ds_polls_timeout(ds_state *d)
{
    int64_t now = (int64_t)srv_now(d->srv);

    while (d->thead && d->thead->deadline_ms <= now)
        ds_poll_finish(d, d->thead, 1);
    ds_arm_poll_timer(d);
}

static int poll_wait(route *r, ds_state *d, ds_stream *ds, uint64_t off, const ds_query *qy)
{
    ds_req *q = ds_req_new(r->c, HTTP_GET, ds->rel);

    if (!q)
        return ds_answer_text(r->c, 503, NULL, "out of memory");
    q->ds = ds;
    ds_hold(ds);
    q->poll_off = off;
    q->now = qy->kind == OFF_NOW;
    memcpy(q->cursor, qy->cursor, sizeof(q->cursor));
    q->deadline_ms = (int64_t)srv_now(d->srv) + r->c->srv->opt.long_poll_ms;
    q->pnext = ds->polls;
    if (ds->polls)
        ds->polls->pprev = q;
    ds->polls = q;
    q->tprev = d->ttail;
    if (d->ttail)
        d->ttail->tnext = q;
    else
        d->thead = q;
    d->ttail = q;
    if (d->thead == q)
        ds_arm_poll_timer(d);
    r->c->http->ds = q;
    r->c->http->responding = 1;
    route_log(r, -1);
    return 0;
}

/* ---- GET, HEAD, DELETE, OPTIONS ---- */

/* Looks the stream up for a request that needs it to exist; answers 404/410/500 when it does
 * not (returns 0 then, 1 with *out set). */
int ds_need_stream(conn *c, ds_state *d, const char *rel, ds_stream **out, int *status)
{
    int k = ds_lookup(d, rel, out);

    if (k == DS_ERR) {
        *status = ds_answer_text(c, 500, NULL, "cannot read the stream's state");
        return 0;
    }
    if (k != DS_FOUND || (*out)->creating || (*out)->soft_deleted) {
        *status = ds_answer_missing(c, k == DS_FOUND && (*out)->soft_deleted);
        return 0;
    }
    return 1;
}

int ds_handle_get(route *r, ds_state *d, const char *rel)
{
    ds_query qy;
    ds_stream *ds;
    int status;

    parse_query(r, &qy);
    if (qy.bad || qy.noffset > 1)
        return ds_answer_text(r->c, 400, NULL, "malformed offset");
    if (qy.live != LIVE_NONE && qy.noffset == 0)
        return ds_answer_text(r->c, 400, NULL, "live reads need an offset");
    if (!ds_need_stream(r->c, d, rel, &ds, &status))
        return status;
    ds_touch(ds);
    uint64_t off = qy.kind == OFF_NOW ? ds->tail : qy.kind == OFF_POS ? qy.pos : 0;
    if (off > ds->tail)
        off = ds->tail; /* past the end: nothing there yet, and the tail says where it is */
    off = ds_json_align(ds, off);
    if (qy.live == LIVE_SSE)
        return ds_sse_start(r, ds, off, qy.cursor);
    if (qy.live == LIVE_POLL) {
        if (off < ds->tail)
            return answer_read(r->c, ds, off, qy.kind == OFF_POS ? (int64_t)qy.pos : -1, 1,
                               qy.cursor, NULL, 0);
        if (ds->closed) {
            answer_poll_empty(r->c, ds, off, qy.cursor);
            return 204;
        }
        return poll_wait(r, d, ds, off, &qy);
    }
    if (qy.kind == OFF_NOW) {
        textbuf h = {0};
        ds_hdr_line(&h, "Content-Type", ds->ctype);
        ds_hdr_offset(&h, ds->tail);
        ds_hdr_line(&h, "Stream-Up-To-Date", "true");
        ds_hdr_line(&h, "Cache-Control", "no-store");
        if (ds->closed)
            ds_hdr_line(&h, "Stream-Closed", "true");
        ds_send_answer(r->c, 200, &h, NULL, ds->json ? "[]" : "", ds->json ? 2 : 0);
        free(h.p);
        return 200;
    }
    size_t inm_len;
    const char *inm = ds_header(r, "If-None-Match", &inm_len);
    return answer_read(r->c, ds, off, qy.kind == OFF_POS ? (int64_t)qy.pos : -1, 0, NULL, inm,
                       inm_len);
}

int ds_handle_head(route *r, ds_state *d, const char *rel)
{
    ds_stream *ds;
    int status;
    textbuf h = {0};
    char etag[96];

    if (!ds_need_stream(r->c, d, rel, &ds, &status))
        return status;
    ds_hdr_line(&h, "Content-Type", ds->ctype);
    ds_hdr_offset(&h, ds->tail);
    ds_hdr_line(&h, "Cache-Control", "no-store");
    if (ds->closed)
        ds_hdr_line(&h, "Stream-Closed", "true");
    if (ds->ttl_s >= 0)
        ds_hdr_u64(&h, "Stream-TTL", (uint64_t)ds->ttl_s);
    if (ds->expires_raw)
        ds_hdr_line(&h, "Stream-Expires-At", ds->expires_raw);
    etag_of(ds, -1, ds->tail, ds->closed, etag, sizeof(etag));
    ds_hdr_line(&h, "ETag", etag);
    ds_send_answer(r->c, 200, &h, NULL, NULL, 0);
    free(h.p);
    return 200;
}

int ds_handle_delete(route *r, ds_state *d, const char *rel)
{
    ds_stream *ds;
    int status;

    if (!ds_need_stream(r->c, d, rel, &ds, &status))
        return status;
    ds_hold(ds);
    int err = ds_delete(d, ds);
    ds_put(d, ds);
    if (err != STORE_OK)
        return ds_answer_text(r->c, 500, NULL, "cannot delete the stream");
    ds_send_answer(r->c, 204, NULL, NULL, NULL, 0);
    return 204;
}
