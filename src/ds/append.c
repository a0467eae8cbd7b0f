/* append.c -- Durable Streams appends: what POST and PUT share, and POST (append, close, idempotent
 * producers, Stream-Seq). */
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
    ds_req_detach(q);
    if (c && !c->closing) {
        if (err != STORE_OK)
            ds_answer_text(c, 500, NULL, "storing the bytes failed");
        else
            ds_send_answer(c, q->status, &q->hdr, NULL, NULL, 0);
    }
    ds_polls_wake(d, ds);
    ds_req_free(d, q);
}

static void append_done(void *arg, int err)
{
    ds_req *q = arg;

    append_complete(q->d, q, err);
}

/* Answers once every byte accepted so far is stored (durable under a sync policy). */
void ds_complete_when_stored(ds_state *d, ds_req *q)
{
    int kind = d->srv->opt.sync != HFS_SYNC_NONE ? STORE_WAIT_DURABLE : STORE_WAIT_WRITTEN;
    int k = store_when_written(q->ds->res, kind, append_done, q, &q->wait);

    if (k <= 0)
        append_complete(d, q, k < 0 ? STORE_EIO : STORE_OK);
    else
        ds_req_wait(q);
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

int ds_append_error(conn *c, int err)
{
    if (err == STORE_EFULL)
        return ds_answer_text(c, 413, NULL, "the stream is at its size limit");
    if (err == STORE_EAGAIN)
        return ds_answer_text(c, 503, NULL, "busy, try again");
    if (err == STORE_EBUSY) {
        /* Another server's append to the stream still holds the writer's lease (a shared store:
         * it lets go a round trip after its answer): a moment later this one goes through. */
        textbuf h = {0};
        ds_hdr_line(&h, "Retry-After", "1");
        int s = ds_answer_text(c, 503, &h, "another server is appending to the stream, try again");
        free(h.p);
        return s;
    }
    return ds_answer_text(c, 500, NULL, "storing the bytes failed");
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
        ds_hdr_u64(&h, "Producer-Epoch", p->epoch);
        ds_hdr_u64(&h, "Producer-Seq", st ? st->seq : p->seq);
        ds_send_answer(c, 204, &h, NULL, NULL, 0);
        status = 204;
        break;
    case PROD_STALE:
        ds_hdr_u64(&h, "Producer-Epoch", st ? st->epoch : 0);
        status = ds_answer_text(c, 403, &h, "stale producer epoch");
        break;
    case PROD_BAD_EPOCH_SEQ:
        status = ds_answer_text(c, 400, NULL, "a new producer epoch starts at seq 0");
        break;
    default:
        ds_hdr_u64(&h, "Producer-Expected-Seq", expected);
        ds_hdr_u64(&h, "Producer-Received-Seq", p->seq);
        status = ds_answer_text(c, 409, &h, "producer sequence gap");
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

    ds_hdr_line(&h, "Stream-Closed", "true");
    ds_hdr_offset(&h, ds->tail);
    if (same_tuple(ds, p)) {
        ds_hdr_u64(&h, "Producer-Epoch", p->epoch);
        ds_hdr_u64(&h, "Producer-Seq", p->seq);
        ds_send_answer(c, 204, &h, NULL, NULL, 0);
        status = 204;
    } else {
        ds_producer *st = p->present ? ds_producer_find(ds, p->id, p->id_len) : NULL;
        if (st && p->epoch < st->epoch) {
            free(h.p);
            h = (textbuf){0};
            ds_hdr_u64(&h, "Producer-Epoch", st->epoch);
            status = ds_answer_text(c, 403, &h, "stale producer epoch");
        } else {
            status = ds_answer_text(c, 409, &h, "the stream is closed");
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
    ds_hdr_offset(&q->hdr, q->end);
    if (close)
        ds_hdr_line(&q->hdr, "Stream-Closed", "true");
    if (p->present) {
        ds_hdr_u64(&q->hdr, "Producer-Epoch", p->epoch);
        ds_hdr_u64(&q->hdr, "Producer-Seq", p->seq);
    }
    ds_complete_when_stored(d, q);
}

int ds_handle_post(conn *c, ds_state *d, ds_req *q)
{
    route rr = {.c = c, .req = &c->http->parser.req};
    route *r = &rr;
    producer_hdrs p;
    ds_stream *ds;
    int status;
    size_t seq_len, ct_len;

    if (parse_producer(r, &p) < 0)
        return ds_answer_text(c, 400, NULL, "bad Producer-Id, Producer-Epoch or Producer-Seq");
    if (q->too_big)
        return ds_answer_text(c, 413, NULL, "the body is larger than the server takes");
    int close = ds_header_true(r, "Stream-Closed");
    const char *seq = ds_header(r, "Stream-Seq", &seq_len);
    const char *ct = ds_header(r, "Content-Type", &ct_len);

    if (q->len == 0 && close) {
        /* Close only: the content type does not matter. */
        if (!ds_need_stream(c, d, q->rel, &ds, &status))
            return status;
        ds_touch(ds);
        if (ds->closed && (!p.present || same_tuple(ds, &p))) {
            textbuf h = {0};
            ds_hdr_offset(&h, ds->tail);
            ds_hdr_line(&h, "Stream-Closed", "true");
            if (p.present) {
                ds_hdr_u64(&h, "Producer-Epoch", p.epoch);
                ds_hdr_u64(&h, "Producer-Seq", p.seq);
            }
            ds_send_answer(c, 204, &h, NULL, NULL, 0);
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
        return ds_answer_text(c, 400, NULL, "empty body (close with Stream-Closed: true)");
    if (!ct || ct_len == 0)
        return ds_answer_text(c, 400, NULL, "no Content-Type");
    if (!ds_need_stream(c, d, q->rel, &ds, &status))
        return status;
    if (ds->closed)
        return closed_answer(c, ds, &p);
    if (!ds_same_media_type(ct, ct_len, ds->ctype, strlen(ds->ctype)))
        return ds_answer_text(c, 409, NULL, "content type does not match the stream's");
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
            return ds_answer_text(c, 409, NULL, "Stream-Seq is not above the last one");
    }
    const uint8_t *bytes = q->body;
    size_t n = q->len;
    json_out jo = {0};
    if (ds->json) {
        long k = json_messages(q->body, q->len, 1, &jo);
        if (k <= 0) {
            free(jo.p);
            return ds_answer_text(c, 400, NULL, k == 0 ? "empty JSON array" : "invalid JSON");
        }
        bytes = jo.p;
        n = jo.len;
    }
    int err = append_bytes(d, ds, bytes, n, &q->end);
    free(jo.p);
    if (err != STORE_OK)
        return ds_append_error(c, err);
    q->ds = ds;
    ds_hold(ds);
    q->status = p.present ? 200 : 204;
    commit_append(d, q, &p, seq, seq_len, close);
    return 0;
}
