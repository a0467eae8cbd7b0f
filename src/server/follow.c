/* follow.c -- the FOLLOW session: a follower is a socket plus an offset into the resource.
 *
 * Whenever the resource's size is ahead of a follower's offset and the follower has no write in
 * flight, everything it is behind (up to SRV_BATCH_MAX) goes out as one writev of unfragmented
 * frames of at most frame_max payload bytes. Payload comes from the resource's in-memory tail (by
 * reference: the same bytes go to every follower, nothing is copied) or, for a follower that lags
 * behind the tail, from the file. The write is first tried synchronously; only when the socket
 * cannot take it all does the batch move to the heap (with references on the tail chunks it points
 * into) and wait for libuv. So a slow follower holds at most one batch and never delays anyone.
 *
 * TEXT frames never end inside a UTF-8 character: up to 3 bytes wait for the rest of the
 * character, or for the end of the stream. Appends mark the resource dirty; the loop's check
 * phase then walks its followers once (follow_flush_dirty). */
#include "server/internal.h"

#include <stdlib.h>
#include <string.h>

#define FBATCH_FREE_MAX 1024 /* batches kept for reuse */

static void attach(conn *c)
{
    follower *f = &c->u.f;
    srv_res *sr = f->sr;

    f->prev = NULL;
    f->next = sr->followers;
    if (sr->followers)
        sr->followers->u.f.prev = c;
    sr->followers = c;
    sr->nfollowers++;
    f->attached = 1;
}

static void detach(conn *c)
{
    follower *f = &c->u.f;
    srv_res *sr = f->sr;

    if (!f->attached)
        return;
    if (f->prev)
        f->prev->u.f.next = f->next;
    else
        sr->followers = f->next;
    if (f->next)
        f->next->u.f.prev = f->prev;
    sr->nfollowers--;
    f->attached = 0;
}

int follow_start(conn *c, store_res *res, int binary, const uint8_t *rest, size_t rest_len)
{
    follower *f = &c->u.f;
    srv_res *sr = res->data;

    memset(f, 0, sizeof(*f));
    f->end = UINT64_MAX;
    f->binary = (uint8_t)binary;
    ws_decoder_init(&f->dec, WS_ROLE_SERVER, 0);
    if (!sr) {
        /* A live resource always has its fan-out state; without it there is nothing to follow. */
        store_res_unref(res);
        ws_send_close(c, WS_CLOSE_INTERNAL, "resource state missing");
        conn_linger(c);
        return -1;
    }
    f->sr = sr;
    attach(c);
    if (rest_len)
        follow_on_data(c, (uint8_t *)rest, rest_len);
    follow_send_pending(c);
    return 0;
}

void follow_on_data(conn *c, uint8_t *p, size_t n)
{
    follower *f = &c->u.f;
    ws_event ev;

    while (n > 0 && !c->closing && !c->lingering) {
        size_t used = ws_decode(&f->dec, p, n, &ev);
        p += used;
        n -= used;
        switch (ev.type) {
        case WS_EV_PING:
            ws_send_control(c, WS_OP_PONG, ev.data, ev.len);
            break;
        case WS_EV_CLOSE:
            ws_on_peer_close(c, ev.close_code);
            return;
        case WS_EV_ERROR:
            srv_log(c->srv, HFS_LOG_WARN, "%s follower: %s (closing with %u)", c->peer, ev.reason,
                    ev.close_code);
            ws_send_close(c, ev.close_code, ev.reason);
            conn_linger(c);
            return;
        default:
            break; /* data from a follower is read and dropped; PONGs need no answer */
        }
    }
}

static fbatch *fbatch_alloc(hfs_server *s)
{
    fbatch *b = s->free_batches;

    if (b) {
        s->free_batches = b->next_free;
        s->nfree_batches--;
        return b;
    }
    return malloc(sizeof(*b));
}

static void fbatch_release(hfs_server *s, fbatch *b)
{
    for (int i = 0; i < b->nrefs; i++)
        if (b->refs[i])
            store_chunk_unref(b->refs[i]);
    free(b->copy);
    b->copy = NULL;
    b->nrefs = 0;
    if (s->closing || s->nfree_batches >= FBATCH_FREE_MAX) {
        free(b);
        return;
    }
    b->next_free = s->free_batches;
    s->free_batches = b;
    s->nfree_batches++;
}

void fbatch_free_all(hfs_server *s)
{
    while (s->free_batches) {
        fbatch *b = s->free_batches;
        s->free_batches = b->next_free;
        s->nfree_batches--;
        free(b);
    }
}

/* Where the batch builder is in its slices. */
typedef struct cursor {
    const store_slice *sl;
    size_t ns, i, off;
} cursor;

/* Copies the k bytes that end `len` bytes after the cursor into out (for the UTF-8 check). */
static void cursor_peek_end(const cursor *cur, size_t len, uint8_t *out, size_t k)
{
    size_t i = cur->i, off = cur->off + len;

    while (off > cur->sl[i].len) {
        off -= cur->sl[i].len;
        i++;
    }
    for (size_t j = k; j > 0; j--) {
        if (off == 0) {
            i--;
            off = cur->sl[i].len;
        }
        out[j - 1] = cur->sl[i].p[--off];
    }
}

/* Adds len payload bytes from the cursor to the batch's buffers. */
static void cursor_take(cursor *cur, fbatch *b, size_t len)
{
    while (len > 0) {
        const store_slice *s = &cur->sl[cur->i];
        size_t n = s->len - cur->off < len ? s->len - cur->off : len;
        b->bufs[b->nbufs++] = uv_buf_init((char *)s->p + cur->off, (unsigned)n);
        cur->off += n;
        len -= n;
        if (cur->off == s->len) {
            cur->i++;
            cur->off = 0;
        }
    }
}

/* Length of the next frame: up to frame_max, cut back to a UTF-8 boundary in TEXT mode unless
 * these are the stream's last bytes. 0 means: wait for more. */
static size_t next_frame_len(const follower *f, const cursor *cur, uint64_t left, size_t frame_max,
                             int stream_end)
{
    size_t fl = left < frame_max ? (size_t)left : frame_max;

    if (f->binary || (stream_end && fl == left))
        return fl;
    uint8_t tail[3];
    size_t k = fl < 3 ? fl : 3;
    cursor_peek_end(cur, fl, tail, k);
    size_t hold = ws_utf8_partial_tail(tail, k);
    return hold >= fl ? 0 : fl - hold;
}

/* Fills s->batch with frames for the bytes the follower is behind (up to limit). Returns the
 * payload bytes it holds (0: nothing to send yet), or -1 when the file could not be read. */
static int64_t batch_build(conn *c, uint64_t limit, int stream_end)
{
    hfs_server *s = c->srv;
    follower *f = &c->u.f;
    fbatch *b = &s->batch;
    store_slice sl[SRV_BATCH_SLICES];
    uint64_t want = limit - f->offset;
    size_t frame_max = s->opt.frame_max;

    if (want > SRV_BATCH_MAX)
        want = SRV_BATCH_MAX;
    if (want > (uint64_t)frame_max * SRV_BATCH_FRAMES)
        want = (uint64_t)frame_max * SRV_BATCH_FRAMES;
    size_t ns = store_peek(f->sr->res, f->offset, want, sl, SRV_BATCH_SLICES);
    if (ns == 0) {
        ssize_t got = store_pread(f->sr->res, s->scratch, (size_t)want, f->offset);
        if (got <= 0)
            return -1;
        sl[0] = (store_slice){.chunk = NULL, .p = s->scratch, .len = (size_t)got};
        ns = 1;
    }
    uint64_t avail = 0;
    b->nrefs = 0;
    for (size_t i = 0; i < ns; i++) {
        avail += sl[i].len;
        b->refs[b->nrefs++] = sl[i].chunk;
    }
    stream_end = stream_end && f->offset + avail == limit;
    cursor cur = {.sl = sl, .ns = ns};
    unsigned opcode = f->binary ? WS_OP_BINARY : WS_OP_TEXT;
    uint64_t left = avail;
    int frames = 0;
    b->nbufs = 0;
    b->payload = 0;
    while (left > 0 && frames < SRV_BATCH_FRAMES) {
        size_t fl = next_frame_len(f, &cur, left, frame_max, stream_end);
        if (fl == 0)
            break;
        size_t hl = ws_frame_header(b->hdrs[frames], opcode, 1, fl, NULL);
        b->bufs[b->nbufs++] = uv_buf_init((char *)b->hdrs[frames], (unsigned)hl);
        cursor_take(&cur, b, fl);
        frames++;
        left -= fl;
        b->payload += fl;
    }
    return (int64_t)b->payload;
}

static void follow_write_cb(uv_write_t *req, int status);

/* The socket could not take the whole batch: move what is left of it to the heap and queue it. */
static int batch_queue(conn *c, size_t written)
{
    hfs_server *s = c->srv;
    fbatch *src = &s->batch, *b = fbatch_alloc(s);
    size_t copy_len = 0, k = 0;

    if (!b)
        return -1;
    memcpy(b->hdrs, src->hdrs, sizeof(b->hdrs));
    b->c = c;
    b->payload = src->payload;
    b->copy = NULL;
    b->nbufs = 0;
    for (int i = 0; i < src->nbufs; i++) {
        uv_buf_t v = src->bufs[i];
        if (written >= v.len) {
            written -= v.len;
            continue;
        }
        v.base += written;
        v.len -= written;
        written = 0;
        uint8_t *p = (uint8_t *)v.base;
        if (p >= &src->hdrs[0][0] && p < &src->hdrs[0][0] + sizeof(src->hdrs))
            v.base = (char *)&b->hdrs[0][0] + (p - &src->hdrs[0][0]);
        else if (p >= s->scratch && p < s->scratch + SRV_BATCH_MAX)
            copy_len += v.len;
        b->bufs[b->nbufs++] = v;
    }
    if (copy_len && !(b->copy = malloc(copy_len))) {
        b->nrefs = 0;
        fbatch_release(s, b);
        return -1;
    }
    for (int i = 0; i < b->nbufs; i++) {
        uint8_t *p = (uint8_t *)b->bufs[i].base;
        if (p >= s->scratch && p < s->scratch + SRV_BATCH_MAX) {
            memcpy(b->copy + k, p, b->bufs[i].len);
            b->bufs[i].base = (char *)b->copy + k;
            k += b->bufs[i].len;
        }
    }
    b->nrefs = src->nrefs;
    for (int i = 0; i < src->nrefs; i++) {
        b->refs[i] = src->refs[i];
        if (b->refs[i])
            store_chunk_ref(b->refs[i]);
    }
    if (uv_write(&b->req, (uv_stream_t *)&c->tcp, b->bufs, (unsigned)b->nbufs, follow_write_cb) !=
        0) {
        fbatch_release(s, b);
        return -1;
    }
    c->u.f.inflight = b;
    return 0;
}

/* The follower has every byte of the finished stream: say so and let the peer close. */
static void finish(conn *c)
{
    if (c->srv->draining)
        ws_send_close(c, WS_CLOSE_GOING_AWAY, "server shutting down");
    else
        ws_send_close(c, WS_CLOSE_NORMAL, NULL);
    c->deadline_ms = srv_now(c->srv) + SRV_WS_CLOSE_WAIT;
}

/* Sends s->batch: synchronously if the socket takes it all, else queued. */
static void batch_send(conn *c, uint64_t limit)
{
    hfs_server *s = c->srv;
    fbatch *b = &s->batch;
    follower *f = &c->u.f;
    size_t total = 0;

    for (int i = 0; i < b->nbufs; i++)
        total += b->bufs[i].len;
    int r = uv_try_write((uv_stream_t *)&c->tcp, b->bufs, (unsigned)b->nbufs);
    if (r < 0 && r != UV_EAGAIN) {
        conn_close(c);
        return;
    }
    size_t written = r > 0 ? (size_t)r : 0;
    if (written)
        c->last_tx_ms = srv_now(s);
    if (written == total) {
        f->offset += b->payload;
        if (f->offset < limit)
            srv_mark_dirty(f->sr); /* more is waiting: the next round sends it */
        else if (f->end != UINT64_MAX)
            finish(c); /* that was the last of a finished stream */
        return;
    }
    if (batch_queue(c, written) < 0)
        conn_close(c);
}

void follow_send_pending(conn *c)
{
    follower *f = &c->u.f;

    if (c->closing || c->ws_closed || c->lingering || f->inflight)
        return;
    int stream_end = f->end != UINT64_MAX;
    uint64_t limit = stream_end ? f->end : f->sr->res->size;
    if (f->offset >= limit) {
        if (stream_end)
            finish(c);
        return;
    }
    int64_t n = batch_build(c, limit, stream_end);
    if (n < 0) {
        srv_log(c->srv, HFS_LOG_ERROR, "%s follow /%s: cannot read the file", c->peer,
                f->sr->res->name);
        ws_send_close(c, WS_CLOSE_INTERNAL, "cannot read the resource");
        conn_linger(c);
        return;
    }
    if (n > 0)
        batch_send(c, limit);
}

static void follow_write_cb(uv_write_t *req, int status)
{
    fbatch *b = (fbatch *)req;
    conn *c = b->c;
    hfs_server *s = c->srv;
    follower *f = &c->u.f;

    if (status == 0)
        f->offset += b->payload;
    f->inflight = NULL;
    fbatch_release(s, b);
    if (c->closing)
        return;
    if (status < 0) {
        conn_close(c);
        return;
    }
    c->last_tx_ms = srv_now(s);
    follow_send_pending(c);
}

void follow_flush_dirty(hfs_server *s)
{
    srv_res *sr = s->dirty;

    s->dirty = NULL;
    while (sr) {
        srv_res *next = sr->dirty_next;
        sr->dirty = 0;
        for (conn *c = sr->followers, *cn; c; c = cn) {
            cn = c->u.f.next;
            follow_send_pending(c);
        }
        sr = next;
    }
}

void follow_drain(conn *c)
{
    follower *f = &c->u.f;

    if (f->end == UINT64_MAX)
        f->end = f->sr->res->size;
    srv_mark_dirty(f->sr);
}

void follow_session_ended(srv_res *sr)
{
    for (conn *c = sr->followers; c; c = c->u.f.next)
        if (c->u.f.end == UINT64_MAX)
            c->u.f.end = sr->res->size;
    srv_mark_dirty(sr);
}

void follow_on_close(conn *c)
{
    follower *f = &c->u.f;
    srv_res *sr = f->sr;

    if (!sr)
        return;
    store_res *res = sr->res;
    detach(c);
    f->sr = NULL;
    srv_res_maybe_free(c->srv, sr);
    store_res_unref(res);
}
