/* http.c -- the requests of the Durable Streams protocol: PUT (create, fork), POST (append, close,
 * idempotent producers), GET (catch-up and long-poll; SSE in sse.c), HEAD, DELETE and OPTIONS.
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
#include "ds/json.h"
#include "http/path.h"
#include "http/uri.h"
#include "server/conn.h"
#include "server/http_conn.h"

#define DS_TEXT "text/plain; charset=utf-8"

/* ---- answers ---- */

/* Sends an answer: the common headers, then hdr (lines ending in CRLF), then the body. */
static void send_answer(conn *c, int status, const textbuf *hdr, const char *ctype,
                        const void *body, size_t len)
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

static int answer_text(conn *c, int status, const textbuf *hdr, const char *msg)
{
    char body[256];
    int n = snprintf(body, sizeof(body), "%d %s\n", status, msg);

    send_answer(c, status, hdr, DS_TEXT, body, (size_t)n < sizeof(body) ? (size_t)n : 0);
    return status;
}

static void hdr_line(textbuf *b, const char *name, const char *value)
{
    tb_str(b, name);
    tb_str(b, ": ");
    tb_str(b, value);
    tb_str(b, "\r\n");
}

static void hdr_u64(textbuf *b, const char *name, uint64_t v)
{
    tb_str(b, name);
    tb_str(b, ": ");
    tb_u64(b, v);
    tb_str(b, "\r\n");
}

static void hdr_offset(textbuf *b, uint64_t pos)
{
    char off[DS_OFFSET_LEN];

    ds_offset_fmt(pos, off);
    hdr_line(b, "Stream-Next-Offset", off);
}

/* 404 for a stream that does not exist; 410 for one deleted while forks still read it. */
static int answer_missing(conn *c, int soft_deleted)
{
    return soft_deleted ? answer_text(c, 410, NULL, "gone: the stream was deleted")
                        : answer_text(c, 404, NULL, "no such stream");
}

/* ---- the request's state ---- */

static ds_req *req_new(conn *c, int method, const char *rel)
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

static void req_free(ds_state *d, ds_req *q)
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
static void req_wait(ds_req *q)
{
    if (q->c && !q->c->closing && q->c->http)
        q->c->http->ds = q;
    else
        q->c = NULL;
}

/* The request is answered (or its connection went): detach it from the connection. */
static void req_detach(ds_req *q)
{
    if (q->c && q->c->http && q->c->http->ds == q)
        q->c->http->ds = NULL;
    q->c = NULL;
}

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
static uint64_t json_align(ds_stream *ds, uint64_t off)
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
        return answer_text(c, 500, NULL, "cannot read the stream");
    int at_tail = to >= ds->tail;
    int closed_end = at_tail && ds->closed;
    etag_of(ds, start, to, closed_end, etag, sizeof(etag));
    hdr_line(&h, "Content-Type", ds->ctype);
    hdr_offset(&h, to);
    if (at_tail)
        hdr_line(&h, "Stream-Up-To-Date", "true");
    if (closed_end)
        hdr_line(&h, "Stream-Closed", "true");
    if (poll) {
        hdr_u64(&h, "Stream-Cursor", ds_cursor_next(cursor));
    }
    hdr_line(&h, "ETag", etag);
    hdr_line(&h, "Cache-Control",
             at_tail ? "no-store" : "public, max-age=60, stale-while-revalidate=300");
    if (if_none_match && inm_len == strlen(etag) && !memcmp(if_none_match, etag, inm_len)) {
        send_answer(c, 304, &h, NULL, NULL, 0);
        free(h.p);
        free(buf);
        return 304;
    }
    if (ds->json) {
        uint8_t *arr = malloc(len + 2);
        size_t n = arr ? json_array(buf, len, arr, len + 2) : 0;
        if (arr)
            send_answer(c, 200, &h, NULL, arr, n);
        else
            answer_text(c, 500, NULL, "out of memory");
        free(arr);
    } else {
        send_answer(c, 200, &h, NULL, buf, len);
    }
    free(h.p);
    free(buf);
    return 200;
}

/* 204 for a long-poll at the tail: nothing came (or the stream closed). */
static void answer_poll_empty(conn *c, ds_stream *ds, uint64_t off, const char *cursor)
{
    textbuf h = {0};

    hdr_offset(&h, off > ds->tail ? off : ds->tail);
    hdr_line(&h, "Stream-Up-To-Date", "true");
    if (ds->closed)
        hdr_line(&h, "Stream-Closed", "true");
    else
        hdr_u64(&h, "Stream-Cursor", ds_cursor_next(cursor));
    send_answer(c, 204, &h, NULL, NULL, 0);
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

static void poll_unlink(ds_state *d, ds_req *q)
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

static void arm_poll_timer(ds_state *d)
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
static void poll_finish(ds_state *d, ds_req *q, int timed_out)
{
    conn *c = q->c;
    ds_stream *ds = q->ds;

    poll_unlink(d, q);
    req_detach(q);
    if (c && !c->closing) {
        if (ds->gone || ds->soft_deleted)
            answer_missing(c, !ds->gone);
        else if (!timed_out && q->poll_off < ds->tail)
            answer_read(c, ds, q->poll_off, q->now ? -2 : (int64_t)q->poll_off, 1, q->cursor, NULL,
                        0);
        else
            answer_poll_empty(c, ds, q->poll_off, q->cursor);
        if (!ds->gone)
            ds_touch(ds);
    }
    req_free(d, q);
}

void ds_polls_wake(ds_state *d, ds_stream *ds)
{
    for (ds_req *q = ds->polls, *next; q; q = next) {
        next = q->pnext;
        if (ds->gone || ds->soft_deleted || q->poll_off < ds->tail || ds->closed)
            poll_finish(d, q, 0);
    }
}

void ds_polls_timeout(ds_state *d)
{
    int64_t now = (int64_t)srv_now(d->srv);

    while (d->thead && d->thead->deadline_ms <= now)
        poll_finish(d, d->thead, 1);
    arm_poll_timer(d);
}

static int poll_wait(route *r, ds_state *d, ds_stream *ds, uint64_t off, const ds_query *qy)
{
    ds_req *q = req_new(r->c, HTTP_GET, ds->rel);

    if (!q)
        return answer_text(r->c, 503, NULL, "out of memory");
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
        arm_poll_timer(d);
    r->c->http->ds = q;
    r->c->http->responding = 1;
    route_log(r, -1);
    return 0;
}

/* ---- GET, HEAD, DELETE, OPTIONS ---- */

/* Looks the stream up for a request that needs it to exist; answers 404/410/500 when it does
 * not (returns 0 then, 1 with *out set). */
static int need_stream(conn *c, ds_state *d, const char *rel, ds_stream **out, int *status)
{
    int k = ds_lookup(d, rel, out);

    if (k == DS_ERR) {
        *status = answer_text(c, 500, NULL, "cannot read the stream's state");
        return 0;
    }
    if (k != DS_FOUND || (*out)->creating || (*out)->soft_deleted) {
        *status = answer_missing(c, k == DS_FOUND && (*out)->soft_deleted);
        return 0;
    }
    return 1;
}

static int handle_get(route *r, ds_state *d, const char *rel)
{
    ds_query qy;
    ds_stream *ds;
    int status;

    parse_query(r, &qy);
    if (qy.bad || qy.noffset > 1)
        return answer_text(r->c, 400, NULL, "malformed offset");
    if (qy.live != LIVE_NONE && qy.noffset == 0)
        return answer_text(r->c, 400, NULL, "live reads need an offset");
    if (!need_stream(r->c, d, rel, &ds, &status))
        return status;
    ds_touch(ds);
    uint64_t off = qy.kind == OFF_NOW ? ds->tail : qy.kind == OFF_POS ? qy.pos : 0;
    if (off > ds->tail)
        off = ds->tail; /* past the end: nothing there yet, and the tail says where it is */
    off = json_align(ds, off);
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
        hdr_line(&h, "Content-Type", ds->ctype);
        hdr_offset(&h, ds->tail);
        hdr_line(&h, "Stream-Up-To-Date", "true");
        hdr_line(&h, "Cache-Control", "no-store");
        if (ds->closed)
            hdr_line(&h, "Stream-Closed", "true");
        send_answer(r->c, 200, &h, NULL, ds->json ? "[]" : "", ds->json ? 2 : 0);
        free(h.p);
        return 200;
    }
    size_t inm_len;
    const char *inm = ds_header(r, "If-None-Match", &inm_len);
    return answer_read(r->c, ds, off, qy.kind == OFF_POS ? (int64_t)qy.pos : -1, 0, NULL, inm,
                       inm_len);
}

static int handle_head(route *r, ds_state *d, const char *rel)
{
    ds_stream *ds;
    int status;
    textbuf h = {0};
    char etag[96];

    if (!need_stream(r->c, d, rel, &ds, &status))
        return status;
    hdr_line(&h, "Content-Type", ds->ctype);
    hdr_offset(&h, ds->tail);
    hdr_line(&h, "Cache-Control", "no-store");
    if (ds->closed)
        hdr_line(&h, "Stream-Closed", "true");
    if (ds->ttl_s >= 0)
        hdr_u64(&h, "Stream-TTL", (uint64_t)ds->ttl_s);
    if (ds->expires_raw)
        hdr_line(&h, "Stream-Expires-At", ds->expires_raw);
    etag_of(ds, -1, ds->tail, ds->closed, etag, sizeof(etag));
    hdr_line(&h, "ETag", etag);
    send_answer(r->c, 200, &h, NULL, NULL, 0);
    free(h.p);
    return 200;
}

static int handle_delete(route *r, ds_state *d, const char *rel)
{
    ds_stream *ds;
    int status;

    if (!need_stream(r->c, d, rel, &ds, &status))
        return status;
    ds_hold(ds);
    int err = ds_delete(d, ds);
    ds_put(d, ds);
    if (err != STORE_OK)
        return answer_text(r->c, 500, NULL, "cannot delete the stream");
    send_answer(r->c, 204, NULL, NULL, NULL, 0);
    return 204;
}

/* ---- appends: shared by POST and PUT ---- */

static void append_done(void *arg, int err);

/* Completes an append whose bytes are stored: saves the state as it stood after it, moves the
 * committed tail, wakes long-polls, answers. */
static void append_complete(ds_state *d, ds_req *q, int err)
{
    ds_stream *ds = q->ds;
    conn *c = q->c;

    q->wait = NULL;
    if (err == STORE_OK && !ds->gone && q->snap)
        err = ds_save(d, ds, q->snap, q->snap_len, q->snap_closed);
    if (!ds->gone && q->end > ds->tail)
        ds->tail = q->end;
    ds->creating = 0;
    req_detach(q);
    if (c && !c->closing) {
        if (err != STORE_OK)
            answer_text(c, 500, NULL, "storing the bytes failed");
        else
            send_answer(c, q->status, &q->hdr, NULL, NULL, 0);
    }
    ds_polls_wake(d, ds);
    req_free(d, q);
}

static void append_done(void *arg, int err)
{
    ds_req *q = arg;

    append_complete(q->d, q, err);
}

/* Answers once every byte accepted so far is stored (durable under a sync policy). */
static void complete_when_stored(ds_state *d, ds_req *q)
{
    int kind = d->srv->opt.sync != HFS_SYNC_NONE ? STORE_WAIT_DURABLE : STORE_WAIT_WRITTEN;
    int k = store_when_written(q->ds->res, kind, append_done, q, &q->wait);

    if (k <= 0)
        append_complete(d, q, k < 0 ? STORE_EIO : STORE_OK);
    else
        req_wait(q);
}

/* Appends p[0..n) to ds under the lease. STORE_OK (q->end set) or a store_err. */
static int append_bytes(ds_state *d, ds_stream *ds, const uint8_t *p, size_t n, uint64_t *end)
{
    store_res *w;
    int err = store_acquire(d->srv->st, ds->rel, &w);

    if (err != STORE_OK)
        return err;
    struct iovec iov = {.iov_base = (void *)p, .iov_len = n};
    err = n ? store_append(w, &iov, 1) : STORE_OK;
    *end = store_accepted(w);
    store_release(w);
    return err;
}

static int append_error(conn *c, int err)
{
    if (err == STORE_EFULL)
        return answer_text(c, 413, NULL, "the stream is at its size limit");
    if (err == STORE_EAGAIN)
        return answer_text(c, 503, NULL, "busy, try again");
    return answer_text(c, 500, NULL, "storing the bytes failed");
}

/* ---- POST ---- */

typedef struct producer_hdrs {
    int present;
    const char *id;
    size_t id_len;
    uint64_t epoch, seq;
} producer_hdrs;

/* Producer-Id/-Epoch/-Seq: all or none, a non-empty id, integers up to 2^53-1. 0 or -1. */
static int parse_producer(const route *r, producer_hdrs *p)
{
    size_t el, sl;
    const char *e = ds_header(r, "Producer-Epoch", &el);
    const char *s = ds_header(r, "Producer-Seq", &sl);

    memset(p, 0, sizeof(*p));
    p->id = ds_header(r, "Producer-Id", &p->id_len);
    if (!p->id && !e && !s)
        return 0;
    if (!p->id || !e || !s || p->id_len == 0)
        return -1;
    if (ds_parse_uint(e, el, 0, DS_MAX_SAFE_INT, &p->epoch) < 0 ||
        ds_parse_uint(s, sl, 0, DS_MAX_SAFE_INT, &p->seq) < 0)
        return -1;
    p->present = 1;
    return 0;
}

enum { PROD_ACCEPT, PROD_DUP, PROD_STALE, PROD_BAD_EPOCH_SEQ, PROD_GAP };

static int producer_check(ds_stream *ds, const producer_hdrs *p, uint64_t *expected)
{
    ds_producer *st = ds_producer_find(ds, p->id, p->id_len);

    if (!st) {
        *expected = 0;
        return p->seq == 0 ? PROD_ACCEPT : PROD_GAP;
    }
    if (p->epoch < st->epoch)
        return PROD_STALE;
    if (p->epoch > st->epoch)
        return p->seq == 0 ? PROD_ACCEPT : PROD_BAD_EPOCH_SEQ;
    if (p->seq <= st->seq)
        return PROD_DUP;
    *expected = st->seq + 1;
    return p->seq == st->seq + 1 ? PROD_ACCEPT : PROD_GAP;
}

/* Answers a producer that was not accepted (stale, bad epoch/seq, gap, duplicate). */
static int producer_refused(conn *c, ds_stream *ds, const producer_hdrs *p, int verdict,
                            uint64_t expected)
{
    textbuf h = {0};
    int status;
    ds_producer *st = ds_producer_find(ds, p->id, p->id_len);

    switch (verdict) {
    case PROD_DUP:
        hdr_u64(&h, "Producer-Epoch", p->epoch);
        hdr_u64(&h, "Producer-Seq", st ? st->seq : p->seq);
        send_answer(c, 204, &h, NULL, NULL, 0);
        status = 204;
        break;
    case PROD_STALE:
        hdr_u64(&h, "Producer-Epoch", st ? st->epoch : 0);
        status = answer_text(c, 403, &h, "stale producer epoch");
        break;
    case PROD_BAD_EPOCH_SEQ:
        status = answer_text(c, 400, NULL, "a new producer epoch starts at seq 0");
        break;
    default:
        hdr_u64(&h, "Producer-Expected-Seq", expected);
        hdr_u64(&h, "Producer-Received-Seq", p->seq);
        status = answer_text(c, 409, &h, "producer sequence gap");
        break;
    }
    free(h.p);
    return status;
}

static int same_tuple(const ds_stream *ds, const producer_hdrs *p)
{
    return ds->closed_by_set && p->present && strlen(ds->cb_id) == p->id_len &&
           !memcmp(ds->cb_id, p->id, p->id_len) && ds->cb_epoch == p->epoch && ds->cb_seq == p->seq;
}

/* 409 for an append to a closed stream (or the 204 of a retry of the append that closed it). */
static int closed_answer(conn *c, ds_stream *ds, const producer_hdrs *p)
{
    textbuf h = {0};
    int status;

    hdr_line(&h, "Stream-Closed", "true");
    hdr_offset(&h, ds->tail);
    if (same_tuple(ds, p)) {
        hdr_u64(&h, "Producer-Epoch", p->epoch);
        hdr_u64(&h, "Producer-Seq", p->seq);
        send_answer(c, 204, &h, NULL, NULL, 0);
        status = 204;
    } else {
        ds_producer *st = p->present ? ds_producer_find(ds, p->id, p->id_len) : NULL;
        if (st && p->epoch < st->epoch) {
            free(h.p);
            h = (textbuf){0};
            hdr_u64(&h, "Producer-Epoch", st->epoch);
            status = answer_text(c, 403, &h, "stale producer epoch");
        } else {
            status = answer_text(c, 409, &h, "the stream is closed");
        }
    }
    free(h.p);
    return status;
}

/* Commits the producer and closing state of an accepted append, snapshots the state to save once
 * its bytes are stored, prepares the answer, and waits. */
static void commit_append(ds_state *d, ds_req *q, const producer_hdrs *p, const char *seq,
                          size_t seq_len, int close)
{
    ds_stream *ds = q->ds;
    int changed = close;

    if (p->present) {
        ds_producer_set(ds, p->id, p->id_len, p->epoch, p->seq);
        changed = 1;
    }
    if (seq) {
        char *s = strndup(seq, seq_len);
        if (s) {
            free(ds->last_seq);
            ds->last_seq = s;
        }
        changed = 1;
    }
    if (close) {
        ds->closed = 1;
        if (p->present) {
            char *id = strndup(p->id, p->id_len);
            if (id) {
                free(ds->cb_id);
                ds->cb_id = id;
                ds->closed_by_set = 1;
                ds->cb_epoch = p->epoch;
                ds->cb_seq = p->seq;
            }
        }
    }
    if (changed) {
        q->snap = ds_blob(ds, &q->snap_len);
        q->snap_closed = ds->closed;
    }
    ds_touch(ds);
    hdr_offset(&q->hdr, q->end);
    if (close)
        hdr_line(&q->hdr, "Stream-Closed", "true");
    if (p->present) {
        hdr_u64(&q->hdr, "Producer-Epoch", p->epoch);
        hdr_u64(&q->hdr, "Producer-Seq", p->seq);
    }
    complete_when_stored(d, q);
}

static int handle_post(conn *c, ds_state *d, ds_req *q)
{
    route rr = {.c = c, .req = &c->http->parser.req};
    route *r = &rr;
    producer_hdrs p;
    ds_stream *ds;
    int status;
    size_t seq_len, ct_len;

    if (parse_producer(r, &p) < 0)
        return answer_text(c, 400, NULL, "bad Producer-Id, Producer-Epoch or Producer-Seq");
    if (q->too_big)
        return answer_text(c, 413, NULL, "the body is larger than the server takes");
    int close = ds_header_true(r, "Stream-Closed");
    const char *seq = ds_header(r, "Stream-Seq", &seq_len);
    const char *ct = ds_header(r, "Content-Type", &ct_len);

    if (q->len == 0 && close) {
        /* Close only: the content type does not matter. */
        if (!need_stream(c, d, q->rel, &ds, &status))
            return status;
        ds_touch(ds);
        if (ds->closed && (!p.present || same_tuple(ds, &p))) {
            textbuf h = {0};
            hdr_offset(&h, ds->tail);
            hdr_line(&h, "Stream-Closed", "true");
            if (p.present) {
                hdr_u64(&h, "Producer-Epoch", p.epoch);
                hdr_u64(&h, "Producer-Seq", p.seq);
            }
            send_answer(c, 204, &h, NULL, NULL, 0);
            free(h.p);
            return 204;
        }
        if (ds->closed)
            return closed_answer(c, ds, &p);
        if (p.present) {
            uint64_t expected = 0;
            int v = producer_check(ds, &p, &expected);
            if (v != PROD_ACCEPT)
                return producer_refused(c, ds, &p, v, expected);
        }
        q->ds = ds;
        ds_hold(ds);
        q->status = 204;
        q->end = store_accepted(ds->res);
        commit_append(d, q, &p, NULL, 0, 1);
        return 0;
    }
    if (q->len == 0)
        return answer_text(c, 400, NULL, "empty body (close with Stream-Closed: true)");
    if (!ct || ct_len == 0)
        return answer_text(c, 400, NULL, "no Content-Type");
    if (!need_stream(c, d, q->rel, &ds, &status))
        return status;
    if (ds->closed)
        return closed_answer(c, ds, &p);
    if (!ds_same_media_type(ct, ct_len, ds->ctype, strlen(ds->ctype)))
        return answer_text(c, 409, NULL, "content type does not match the stream's");
    if (p.present) {
        uint64_t expected = 0;
        int v = producer_check(ds, &p, &expected);
        if (v != PROD_ACCEPT)
            return producer_refused(c, ds, &p, v, expected);
    }
    if (seq && ds->last_seq) {
        size_t ll = strlen(ds->last_seq), m = seq_len < ll ? seq_len : ll;
        int cmp = memcmp(seq, ds->last_seq, m);
        if (cmp < 0 || (cmp == 0 && seq_len <= ll))
            return answer_text(c, 409, NULL, "Stream-Seq is not above the last one");
    }
    const uint8_t *bytes = q->body;
    size_t n = q->len;
    json_out jo = {0};
    if (ds->json) {
        long k = json_messages(q->body, q->len, 1, &jo);
        if (k <= 0) {
            free(jo.p);
            return answer_text(c, 400, NULL, k == 0 ? "empty JSON array" : "invalid JSON");
        }
        bytes = jo.p;
        n = jo.len;
    }
    int err = append_bytes(d, ds, bytes, n, &q->end);
    free(jo.p);
    if (err != STORE_OK)
        return append_error(c, err);
    q->ds = ds;
    ds_hold(ds);
    q->status = p.present ? 200 : 204;
    commit_append(d, q, &p, seq, seq_len, close);
    return 0;
}

/* ---- PUT ---- */

/* The stream name a Stream-Forked-From value means: a path under the prefix, or a name. Writes a
 * clean root-relative name into out; -1 when it names nothing. */
static int source_name(ds_state *d, const char *v, size_t n, char *out, size_t cap)
{
    char *clean = malloc(n + 3), *raw = malloc(n + 2);
    int ok = -1;

    if (!clean || !raw) {
        free(clean), free(raw);
        return -1;
    }
    /* A path, as a request-target's: percent-decoded (no NUL), then cleaned. */
    raw[0] = '/';
    long k = uri_unescape_path(v[0] == '/' ? v + 1 : v, v[0] == '/' ? n - 1 : n, raw + 1);
    if (k < 0) {
        free(clean), free(raw);
        return -1;
    }
    path_clean(raw, (size_t)k + 1, clean);
    const char *name = clean + 1;
    if (!strncmp(clean, d->prefix, d->prefix_len) && clean[d->prefix_len] == '/')
        name = clean + d->prefix_len + 1;
    size_t len = strlen(name);
    if (*name && len < cap) {
        memcpy(out, name, len + 1);
        ok = 0;
    }
    free(clean), free(raw);
    return ok;
}

typedef struct put_req {
    const char *ct; /* Content-Type as given, trimmed; NULL when absent */
    size_t ct_len;
    int64_t ttl; /* -1 none */
    const char *exp;
    size_t exp_len;
    int64_t exp_ms;
    int closed;
    const char *from; /* Stream-Forked-From */
    size_t from_len;
    int has_off;
    uint64_t off;
    uint64_t sub;
} put_req;

/* Does an existing stream have the configuration a PUT asks for? */
static int same_config(ds_state *d, const ds_stream *ds, const put_req *p)
{
    char src[1024];
    static const char dflt[] = "application/octet-stream";

    if ((p->ct || !ds->fork_from) &&
        !ds_same_media_type(p->ct ? p->ct : dflt, p->ct ? p->ct_len : sizeof(dflt) - 1, ds->ctype,
                            strlen(ds->ctype)))
        return 0;
    if (p->ttl != ds->ttl_s && !(p->ttl < 0 && ds->fork_from && !p->exp))
        return 0;
    if ((p->exp != NULL) != (ds->expires_raw != NULL) && !(ds->fork_from && !p->exp))
        return 0;
    if (p->exp && ds->expires_raw &&
        (strlen(ds->expires_raw) != p->exp_len || memcmp(p->exp, ds->expires_raw, p->exp_len) != 0))
        return 0;
    if (p->closed != ds->closed)
        return 0;
    if ((p->from != NULL) != (ds->fork_from != NULL))
        return 0;
    if (p->from) {
        if (source_name(d, p->from, p->from_len, src, sizeof(src)) < 0 ||
            strcmp(src, ds->fork_from) != 0)
            return 0;
        if (p->sub != ds->fork_sub)
            return 0;
        if (p->has_off && p->off != ds->fork_off)
            return 0;
    }
    return 1;
}

static int parse_put(const route *r, put_req *p, int *status_msg)
{
    size_t tl, sl, ol;
    const char *ttl = ds_header(r, "Stream-TTL", &tl);
    const char *sub = ds_header(r, "Stream-Fork-Sub-Offset", &sl);
    const char *off = ds_header(r, "Stream-Fork-Offset", &ol);
    uint64_t v;

    memset(p, 0, sizeof(*p));
    p->ttl = -1;
    p->exp = ds_header(r, "Stream-Expires-At", &p->exp_len);
    p->from = ds_header(r, "Stream-Forked-From", &p->from_len);
    p->ct = ds_header(r, "Content-Type", &p->ct_len);
    while (p->ct && p->ct_len && (p->ct[p->ct_len - 1] == ' ' || p->ct[p->ct_len - 1] == '\t'))
        p->ct_len--;
    if (p->ct && p->ct_len == 0)
        p->ct = NULL;
    p->closed = ds_header_true(r, "Stream-Closed");
    *status_msg = 0;
    if (ttl && p->exp)
        return -1;
    if (ttl) {
        if (ds_parse_uint(ttl, tl, 1, DS_MAX_SAFE_INT / 1000, &v) < 0)
            return -1;
        p->ttl = (int64_t)v;
    }
    if (p->exp && ds_parse_time(p->exp, p->exp_len, &p->exp_ms) < 0)
        return -1;
    if (p->exp && p->exp_ms <= 0)
        p->exp_ms = 1; /* (0 means none): the epoch and before are simply past */
    if (off) {
        if (ds_offset_parse(off, ol, &p->off) < 0)
            return -1;
        p->has_off = 1;
    }
    if (sub && !p->from)
        return -1;
    if (sub && ds_parse_uint(sub, sl, 1, UINT64_MAX / 2, &p->sub) < 0)
        return -1;
    if (p->from && p->from_len == 0)
        return -1;
    return 0;
}

/* Counts k messages of a JSON stream from off: their length, or -1 when fewer than k exist. */
static int64_t json_span(ds_stream *ds, uint64_t off, uint64_t k)
{
    uint8_t buf[64 * 1024];
    uint64_t at = off;

    while (k > 0 && at < ds->tail) {
        size_t n = ds->tail - at < sizeof(buf) ? (size_t)(ds->tail - at) : sizeof(buf);
        if (store_read(ds->res, buf, n, at) != (ssize_t)n)
            return -1;
        for (size_t i = 0; i < n; i++) {
            if (buf[i] == '\n' && --k == 0)
                return (int64_t)(at + i + 1 - off);
        }
        at += n;
    }
    return k == 0 ? 0 : -1;
}

static void put_finish(ds_state *d, ds_req *q);
static int put_create(conn *c, ds_state *d, ds_req *q, const put_req *pp, const char *ctype,
                      char *srcname, size_t srcname_cap);

static void copy_written(void *arg, int err);

/* Copies the next pieces of a fork's inherited bytes; waits when the store has enough to write. */
static void copy_step(ds_state *d, ds_req *q)
{
    store_res *w = q->wres;

    while (q->copy_off < q->copy_end) {
        size_t n = q->copy_end - q->copy_off < SRV_BATCH_MAX ? (size_t)(q->copy_end - q->copy_off)
                                                             : SRV_BATCH_MAX;
        ssize_t got = store_read(q->src->res, d->srv->scratch, n, q->copy_off);
        struct iovec iov = {.iov_base = d->srv->scratch, .iov_len = got > 0 ? (size_t)got : 0};
        if (got <= 0 || store_append(w, &iov, 1) != STORE_OK) {
            q->copy_failed = 1;
            break;
        }
        q->copy_off += (uint64_t)got;
        if (store_backlogged(w)) {
            int k = store_when_written(q->ds->res, STORE_WAIT_WRITTEN, copy_written, q, &q->wait);
            if (k > 0) {
                req_wait(q);
                return;
            }
        }
    }
    put_finish(d, q);
}

static void copy_written(void *arg, int err)
{
    ds_req *q = arg;

    q->wait = NULL;
    if (err != STORE_OK)
        q->copy_failed = 1;
    if (q->copy_failed)
        put_finish(q->d, q);
    else
        copy_step(q->d, q);
}

/* The inherited bytes are in (or there were none): append the initial body, give the lease back,
 * answer once stored. */
static void put_finish(ds_state *d, ds_req *q)
{
    store_res *w = q->wres;
    int err = q->copy_failed ? STORE_EIO : STORE_OK;

    if (err == STORE_OK && q->init_len) {
        struct iovec iov = {.iov_base = q->init, .iov_len = q->init_len};
        err = store_append(w, &iov, 1);
    }
    q->end = store_accepted(w);
    q->wres = NULL;
    store_release(w);
    if (err != STORE_OK) {
        /* Nothing half-made stays behind: the stream goes, as if never created. */
        conn *c = q->c;
        q->ds->creating = 0;
        ds_hold(q->ds);
        ds_delete(d, q->ds);
        ds_put(d, q->ds);
        req_detach(q);
        if (c && !c->closing)
            append_error(c, err);
        req_free(d, q);
        return;
    }
    hdr_offset(&q->hdr, q->end);
    if (q->ds->closed) {
        q->snap = ds_blob(q->ds, &q->snap_len);
        q->snap_closed = 1;
    }
    complete_when_stored(d, q);
}

static int handle_put(conn *c, ds_state *d, ds_req *q)
{
    route rr = {.c = c, .req = &c->http->parser.req};
    put_req p;
    int bad_msg;
    ds_stream *ds = NULL;

    if (parse_put(&rr, &p, &bad_msg) < 0)
        return answer_text(c, 400, NULL, "bad Stream-TTL, Stream-Expires-At or fork headers");
    if (q->too_big)
        return answer_text(c, 413, NULL, "the body is larger than the server takes");
    int k = ds_lookup(d, q->rel, &ds);
    if (k == DS_ERR)
        return answer_text(c, 500, NULL, "cannot read the stream's state");
    if (k == DS_NATIVE)
        return answer_text(c, 409, NULL, "the path holds a resource that is not a stream");
    if (k == DS_FOUND) {
        if (ds->soft_deleted || ds->creating)
            return answer_text(c, 409, NULL, "the stream was deleted but forks still read it");
        if (!same_config(d, ds, &p))
            return answer_text(c, 409, NULL, "the stream exists with another configuration");
        textbuf h = {0};
        hdr_line(&h, "Content-Type", ds->ctype);
        hdr_offset(&h, ds->tail);
        if (ds->closed)
            hdr_line(&h, "Stream-Closed", "true");
        send_answer(c, 200, &h, NULL, NULL, 0);
        free(h.p);
        return 200;
    }
    const char *ctype = NULL;
    char *ctbuf = NULL;
    char srcname[1024];
    if (p.ct) {
        if (!(ctbuf = strndup(p.ct, p.ct_len)))
            return answer_text(c, 503, NULL, "out of memory");
        ctype = ctbuf;
    }
    int st = put_create(c, d, q, &p, ctype, srcname, sizeof(srcname));
    free(ctbuf);
    return st;
}

/* handle_put for a stream that does not exist yet. */
static int put_create(conn *c, ds_state *d, ds_req *q, const put_req *pp, const char *ctype,
                      char *srcname, size_t srcname_cap)
{
    put_req p = *pp;
    ds_stream *ds = NULL, *src = NULL;
    uint64_t fork_at = 0;

    if (p.from) {
        if (source_name(d, p.from, p.from_len, srcname, srcname_cap) < 0)
            return answer_text(c, 404, NULL, "no such source stream");
        int sk = ds_lookup(d, srcname, &src);
        if (sk == DS_ERR)
            return answer_text(c, 500, NULL, "cannot read the source's state");
        if (sk != DS_FOUND || src->creating)
            return answer_text(c, 404, NULL, "no such source stream");
        if (src->soft_deleted)
            return answer_text(c, 409, NULL, "the source stream was deleted");
        if (ctype) {
            if (!ds_same_media_type(ctype, strlen(ctype), src->ctype, strlen(src->ctype)))
                return answer_text(c, 409, NULL, "content type differs from the source's");
        } else {
            ctype = src->ctype;
        }
        uint64_t anchor = p.has_off ? p.off : src->tail;
        if (anchor > src->tail)
            return answer_text(c, 400, NULL, "fork offset beyond the source's tail");
        if (json_align(src, anchor) != anchor)
            return answer_text(c, 400, NULL, "fork offset inside a message");
        fork_at = anchor;
        if (p.sub) {
            int64_t span = src->json ? json_span(src, anchor, p.sub)
                                     : (anchor + p.sub <= src->tail ? (int64_t)p.sub : -1);
            if (span < 0)
                return answer_text(c, 400, NULL, "fork sub-offset beyond the source's data");
            fork_at = anchor + (uint64_t)span;
        }
    }
    if (!ctype)
        ctype = "application/octet-stream";
    json_out jo = {0};
    if (q->len && ds_is_json_type(ctype)) {
        if (json_messages(q->body, q->len, 1, &jo) < 0) {
            free(jo.p);
            return answer_text(c, 400, NULL, "invalid JSON");
        }
    } else if (q->len) {
        jo.p = q->body, jo.len = q->len;
        q->body = NULL;
    }
    store_res *w;
    int err = store_acquire(d->srv->st, q->rel, &w);
    if (err != STORE_OK) {
        free(jo.p);
        if (err == STORE_EISDIR || err == STORE_ENOTDIR || err == STORE_EBUSY)
            return answer_text(c, 409, NULL, "the path cannot hold a stream");
        if (err == STORE_ENAMETOOLONG)
            return answer_text(c, 414, NULL, "a name in the path is too long");
        if (err == STORE_EDENIED)
            return answer_text(c, 403, NULL, "forbidden");
        return append_error(c, err);
    }
    if (store_accepted(w) != 0) {
        /* A file nobody made a stream of (left by something else): not ours to take. */
        store_release(w);
        free(jo.p);
        return answer_text(c, 409, NULL, "the path holds a resource that is not a stream");
    }
    ds = ds_stream_new(d, q->rel);
    if (!ds || !(ds->ctype = strdup(ctype))) {
        store_release(w);
        free(jo.p);
        if (ds) {
            ds->gone = 1;
            ds_put(d, ds);
        }
        return answer_text(c, 503, NULL, "out of memory");
    }
    store_res_ref(w);
    ds->res = w;
    ds->json = ds_is_json_type(ctype);
    ds->created_ms = ds_now_ms();
    ds->creating = 1;
    if (p.ttl >= 0) {
        ds->ttl_s = p.ttl;
    } else if (p.exp) {
        ds->expires_raw = strndup(p.exp, p.exp_len);
        ds->expires_ms = p.exp_ms;
    } else if (src) {
        ds->ttl_s = src->ttl_s; /* a fork lives as long as its source would, on its own clock */
        if (src->expires_raw) {
            ds->expires_raw = strdup(src->expires_raw);
            ds->expires_ms = src->expires_ms;
        }
    }
    if (src) {
        ds->fork_from = strdup(src->rel);
        ds->fork_off = p.has_off ? p.off : src->tail;
        ds->fork_sub = p.sub;
    }
    ds->closed = p.closed;
    q->ds = ds; /* (holds the reference ds_stream_new gave) */
    q->wres = w;
    q->init = jo.p;
    q->init_len = jo.len;
    q->status = 201;
    hdr_line(&q->hdr, "Content-Type", ds->ctype);
    if (q->host) {
        tb_str(&q->hdr, "Location: http://");
        tb_str(&q->hdr, q->host);
        tb_str(&q->hdr, q->path);
        tb_str(&q->hdr, "\r\n");
    }
    if (p.closed)
        hdr_line(&q->hdr, "Stream-Closed", "true");
    /* The state goes to the store first (open), so that a crash leaves a stream, not a file. */
    err = ds_save(d, ds, NULL, 0, 0);
    if (err == STORE_OK && src) {
        src->refs++;
        err = ds_save(d, src, NULL, 0, src->closed);
        q->src = src;
        ds_hold(src);
    }
    if (err != STORE_OK) {
        q->copy_failed = 1;
        put_finish(d, q);
        return 0;
    }
    /* Where the answer's Stream-Next-Offset comes from: the tail once everything is in. */
    q->copy_off = 0;
    q->copy_end = src ? fork_at : 0;
    copy_step(d, q);
    return 0;
}

/* ---- dispatch ---- */

static int handle_options(route *r)
{
    textbuf h = {0};

    hdr_line(&h, "Access-Control-Max-Age", "86400");
    send_answer(r->c, 204, &h, NULL, NULL, 0);
    free(h.p);
    return 204;
}

int ds_refuse(route *r, int status, const char *extra, const char *why)
{
    textbuf h = {0};

    r->verb_name = "STREAM";
    if (extra)
        tb_str(&h, extra);
    int s = answer_text(r->c, status, &h, why);
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
        hdr_line(&h, "Allow", "GET, POST, PUT, DELETE, HEAD, OPTIONS");
        int s = answer_text(r->c, 405, &h, "method not allowed");
        free(h.p);
        return s;
    }
    if (!*name || name[strlen(name) - 1] == '/')
        return answer_text(r->c, 404, NULL, "no such stream");
    if (m == HTTP_GET)
        return handle_get(r, d, name);
    if (m == HTTP_HEAD)
        return handle_head(r, d, name);
    if (m == HTTP_DELETE)
        return handle_delete(r, d, name);
    /* PUT and POST decide once the body is in. */
    ds_req *q = req_new(r->c, m, name);
    if (!q)
        return answer_text(r->c, 503, NULL, "out of memory");
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
     * that goes on waiting hands itself back to the connection (req_wait). */
    c->http->ds = NULL;
    int status = q->method == HTTP_POST ? handle_post(c, d, q) : handle_put(c, d, q);
    if (status != 0) {
        q->c = NULL; /* answered at once: the request is over */
        req_free(d, q);
    }
}

void ds_req_drain(conn *c)
{
    ds_req *q = c->http ? c->http->ds : NULL;

    if (q && q->method == HTTP_GET) {
        poll_finish(c->srv->ds, q, 1);
        arm_poll_timer(c->srv->ds);
    }
}

void ds_req_forget(conn *c)
{
    ds_req *q = c->http ? c->http->ds : NULL;
    ds_state *d = c->srv->ds;

    if (!q)
        return;
    req_detach(q);
    if (q->method == HTTP_GET) {
        poll_unlink(d, q);
        req_free(d, q);
        arm_poll_timer(d);
        return;
    }
    if (!q->started || (!q->wait && !q->wres))
        req_free(d, q); /* nothing under way */
    /* else: an append or a creation is under way; it completes without the connection */
}
