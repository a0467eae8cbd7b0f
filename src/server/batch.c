/* batch.c -- one follower write (batch.h): the payload from the store's tail by reference or read
 * into a scratch buffer, framed by the follower's transport, tried at once, moved to the heap only
 * when the socket cannot take it all. */
#include "server/batch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/conn.h"
#include "server/fanout.h"

#define FBATCH_FREE_MAX 1024 /* batches kept for reuse */

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
            store_unhold(b->refs[i]);
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

int batch_init(hfs_server *s)
{
    s->batch = malloc(sizeof(*s->batch));
    return s->batch ? 0 : -1;
}

fbatch *batch_current(conn *c)
{
    return c->srv->batch;
}

uint8_t *batch_sse_buffer(hfs_server *s)
{
    if (!s->sse_enc)
        s->sse_enc = malloc(SSE_ENC_MAX);
    return s->sse_enc;
}

void batch_free_all(hfs_server *s)
{
    while (s->free_batches) {
        fbatch *b = s->free_batches;
        s->free_batches = b->next_free;
        s->nfree_batches--;
        free(b);
    }
    free(s->sse_enc);
    s->sse_enc = NULL;
    free(s->batch);
    s->batch = NULL;
}

/* Copies the k bytes that end `len` bytes after the cursor into out (for the UTF-8 check). */
static void cursor_peek_end(const batch_cursor *cur, size_t len, uint8_t *out, size_t k)
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
void batch_take(batch_cursor *cur, fbatch *b, size_t len)
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

/* Copies len bytes from the cursor into out. */
void batch_copy(batch_cursor *cur, uint8_t *out, size_t len)
{
    while (len > 0) {
        const store_slice *s = &cur->sl[cur->i];
        size_t n = s->len - cur->off < len ? s->len - cur->off : len;
        memcpy(out, s->p + cur->off, n);
        out += n;
        cur->off += n;
        len -= n;
        if (cur->off == s->len) {
            cur->i++;
            cur->off = 0;
        }
    }
}

void batch_add_encoded(conn *c, char *out, size_t len)
{
    fbatch *b = batch_current(c);
    char *start = out;

    if (c->u.f.chunked) {
        char hdr[SRV_FRAME_HDR];
        int hl = snprintf(hdr, sizeof(hdr), "%zx\r\n", len);
        start -= hl;
        memcpy(start, hdr, (size_t)hl);
        memcpy(out + len, "\r\n", 2);
        len += (size_t)hl + 2;
    }
    b->bufs[b->nbufs++] = uv_buf_init(start, (unsigned)len);
}

void batch_peek(const batch_cursor *cur, uint8_t *out, size_t len)
{
    batch_cursor tmp = *cur;

    batch_copy(&tmp, out, len);
}

/* The most a piece may carry when it must not end inside a UTF-8 character: len, less an
 * incomplete character at its end, unless these are the stream's last bytes. */
size_t batch_utf8_whole(const batch_cursor *cur, size_t len, int is_last)
{
    uint8_t tail[3];
    size_t k = len < 3 ? len : 3;

    if (is_last || len == 0)
        return len;
    cursor_peek_end(cur, len, tail, k);
    size_t hold = ws_utf8_partial_tail(tail, k);
    return hold >= len ? 0 : len - hold;
}

/* A small batch (say one short frame) goes out as one buffer: write(2) rather than writev(2),
 * which is what most writes are when many followers each get a short message. */
static void gather_small(fbatch *b)
{
    size_t total = 0, at = 0;

    for (int i = 0; i < b->nbufs; i++)
        total += b->bufs[i].len;
    if (b->nbufs < 2 || total > sizeof(b->small))
        return;
    for (int i = 0; i < b->nbufs; i++) {
        memcpy(b->small + at, b->bufs[i].base, b->bufs[i].len);
        at += b->bufs[i].len;
    }
    b->bufs[0] = uv_buf_init((char *)b->small, (unsigned)total);
    b->nbufs = 1;
}

int64_t batch_build(conn *c, uint64_t limit, int stream_end)
{
    hfs_server *s = c->srv;
    follower *f = &c->u.f;
    fbatch *b = s->batch;
    store_slice sl[SRV_BATCH_SLICES];
    uint64_t want = limit - f->offset;

    if (want > SRV_BATCH_MAX)
        want = SRV_BATCH_MAX;
    uint64_t frames_max = (uint64_t)follow_frame_max(f->tp, s->opt.frame_max) * SRV_BATCH_FRAMES;
    if (want > frames_max && f->tp->websocket)
        want = frames_max;
    size_t ns = store_peek(f->sr->res, f->offset, want, sl, SRV_BATCH_SLICES);
    if (ns == 0) {
        ssize_t got = store_read(f->sr->res, s->scratch, (size_t)want, f->offset);
        if (got <= 0)
            return -1;
        sl[0] = (store_slice){.hold = NULL, .p = s->scratch, .len = (size_t)got};
        ns = 1;
    }
    uint64_t avail = 0;
    b->nrefs = 0;
    for (size_t i = 0; i < ns; i++) {
        avail += sl[i].len;
        b->refs[b->nrefs++] = sl[i].hold;
    }
    stream_end = stream_end && f->offset + avail == limit;
    batch_cursor cur = {.sl = sl, .ns = ns};
    b->nbufs = 0;
    b->payload = 0;
    if (f->tp->frame(c, &cur, avail, stream_end) < 0)
        return -1;
    gather_small(b);
    return (int64_t)b->payload;
}

/* 1 when p points into one of the loop's scratch buffers (valid only during this call). */
static int in_scratch(const hfs_server *s, const uint8_t *p)
{
    return (p >= s->scratch && p < s->scratch + SRV_BATCH_MAX) ||
           (s->sse_enc && p >= s->sse_enc && p < s->sse_enc + SSE_ENC_MAX);
}

static void batch_write_cb(uv_write_t *req, int status)
{
    fbatch *b = (fbatch *)req;
    conn *c = b->c;
    uint64_t payload = b->payload;
    void (*done)(conn *, uint64_t, int) = b->done;

    c->u.f.inflight = NULL;
    fbatch_release(c->srv, b);
    done(c, payload, status); /* (the follower's write_done: it reports upward) */
}

/* Moves what is left of s->batch after `written` bytes to the heap and queues it. */
static int batch_queue(conn *c, size_t written, void (*done)(conn *, uint64_t, int))
{
    hfs_server *s = c->srv;
    fbatch *src = s->batch, *b = fbatch_alloc(s);
    size_t copy_len = 0, k = 0;

    if (!b)
        return -1;
    memcpy(b->hdrs, src->hdrs, sizeof(b->hdrs));
    memcpy(b->small, src->small, sizeof(b->small));
    b->c = c;
    b->done = done;
    b->payload = src->payload;
    b->copy = NULL;
    b->nbufs = 0;
    b->nrefs = 0;
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
        else if (p >= src->small && p < src->small + sizeof(src->small))
            v.base = (char *)b->small + (p - src->small);
        else if (in_scratch(s, p))
            copy_len += v.len;
        b->bufs[b->nbufs++] = v;
    }
    if (copy_len && !(b->copy = malloc(copy_len))) {
        fbatch_release(s, b);
        return -1;
    }
    for (int i = 0; copy_len && i < b->nbufs; i++) {
        uint8_t *p = (uint8_t *)b->bufs[i].base;
        if (in_scratch(s, p)) {
            memcpy(b->copy + k, p, b->bufs[i].len);
            b->bufs[i].base = (char *)b->copy + k;
            k += b->bufs[i].len;
        }
    }
    for (int i = 0; i < src->nrefs; i++) {
        b->refs[b->nrefs++] = src->refs[i];
        if (src->refs[i])
            store_hold(src->refs[i]);
    }
    if (uv_write(&b->req, (uv_stream_t *)&c->tcp, b->bufs, (unsigned)b->nbufs, batch_write_cb) !=
        0) {
        fbatch_release(s, b);
        return -1;
    }
    c->u.f.inflight = b;
    return 0;
}

/* A TLS follower's queued ciphertext is out: as batch_write_cb. */
static void batch_tls_done(conn *c, void *arg, int status)
{
    fbatch *b = arg;
    uint64_t payload = b->payload;
    void (*done)(conn *, uint64_t, int) = b->done;

    c->u.f.inflight = NULL;
    fbatch_release(c->srv, b);
    done(c, payload, status);
}

/* TLS: the whole batch encrypted at once (conn_write_tls). The ciphertext is a copy, so a queued
 * write holds no tail pieces; an fbatch (no buffers) stands for it as the follower's inflight. */
static int batch_send_tls(conn *c, void (*done)(conn *c, uint64_t payload, int status))
{
    hfs_server *s = c->srv;
    fbatch *b = s->batch, *q = fbatch_alloc(s);

    if (!q)
        return -1;
    q->c = c;
    q->done = done;
    q->payload = b->payload;
    q->copy = NULL;
    q->nrefs = q->nbufs = 0;
    int r = conn_write_tls(c, b->bufs, (unsigned)b->nbufs, 1, batch_tls_done, q);
    if (r != 0) {
        fbatch_release(s, q);
        return r == 1 ? 1 : -1;
    }
    c->u.f.inflight = q;
    return 0;
}

int batch_send(conn *c, void (*done)(conn *c, uint64_t payload, int status))
{
    hfs_server *s = c->srv;
    fbatch *b = s->batch;
    size_t total = 0;

    for (int i = 0; i < b->nbufs; i++)
        total += b->bufs[i].len;
    c->tx_bytes += total;
    if (c->tls)
        return batch_send_tls(c, done);
    int r = uv_try_write((uv_stream_t *)&c->tcp, b->bufs, (unsigned)b->nbufs);
    if (r < 0 && r != UV_EAGAIN)
        return -1;
    size_t written = r > 0 ? (size_t)r : 0;
    if (written)
        c->last_tx_ms = srv_now(s);
    if (written == total)
        return 1;
    return batch_queue(c, written, done) < 0 ? -1 : 0;
}
