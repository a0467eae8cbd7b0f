/* batch.c -- one follower write: the bytes a follower is behind (up to SRV_BATCH_MAX), framed for
 * its transport, written with one writev.
 *
 * Payload comes from the resource's in-memory tail by reference (the same bytes go to every
 * follower, nothing is copied) or, for a follower behind the tail, from the file into a scratch
 * buffer. Framing per kind:
 * - WebSocket: unfragmented frames of at most frame_max payload bytes, headers encoded into the
 *   batch; TEXT frames never end inside a UTF-8 character (up to 3 bytes wait for the rest).
 * - HTTP: one chunk of the chunked transfer coding (or the bare bytes when the response is
 *   delimited by closing the connection).
 * - SSE: events encoded into a scratch buffer: "id: <offset after>" and "data:" lines for UTF-8
 *   text without CR or NUL, else "event: base64" with the bytes base64-encoded.
 * The write is tried synchronously; only when the socket cannot take it all does the batch move to
 * the heap (taking references on the tail chunks it points into, copying scratch bytes) and wait
 * for libuv. So a follower holds at most one batch, and a slow one delays nobody. */
#include "server/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#define FBATCH_FREE_MAX 1024                /* batches kept for reuse */
#define SSE_EVENT_MAX   ((size_t)16 * 1024) /* raw bytes per SSE event */
#define SSE_BATCH_MAX   ((size_t)32 * 1024) /* raw bytes per SSE write */
/* Worst case of one SSE write: every byte a newline ("data: \n" each), plus event lines. */
#define SSE_ENC_MAX (SSE_BATCH_MAX * 7 + 1024)

static const char CRLF[] = "\r\n";

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
    free(s->sse_enc);
    s->sse_enc = NULL;
}

/* Where the builder is in its slices. */
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

/* Copies len bytes from the cursor into out. */
static void cursor_copy(cursor *cur, uint8_t *out, size_t len)
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

/* The most a piece may carry when it must not end inside a UTF-8 character: len, less an
 * incomplete character at its end, unless these are the stream's last bytes. */
static size_t utf8_whole(const cursor *cur, size_t len, int is_last)
{
    uint8_t tail[3];
    size_t k = len < 3 ? len : 3;

    if (is_last || len == 0)
        return len;
    cursor_peek_end(cur, len, tail, k);
    size_t hold = ws_utf8_partial_tail(tail, k);
    return hold >= len ? 0 : len - hold;
}

static void frame_ws(conn *c, cursor *cur, uint64_t avail, int stream_end)
{
    follower *f = &c->u.f;
    fbatch *b = &c->srv->batch;
    size_t frame_max = c->srv->opt.frame_max;
    unsigned opcode = f->kind == FOLLOW_WS_BINARY ? WS_OP_BINARY : WS_OP_TEXT;
    uint64_t left = avail;
    int frames = 0;

    while (left > 0 && frames < SRV_BATCH_FRAMES) {
        size_t fl = left < frame_max ? (size_t)left : frame_max;
        if (opcode == WS_OP_TEXT)
            fl = utf8_whole(cur, fl, stream_end && fl == left);
        if (fl == 0)
            break;
        size_t hl = ws_frame_header(b->hdrs[frames], opcode, 1, fl, NULL);
        b->bufs[b->nbufs++] = uv_buf_init((char *)b->hdrs[frames], (unsigned)hl);
        cursor_take(cur, b, fl);
        frames++;
        left -= fl;
        b->payload += fl;
    }
}

/* The bytes as one chunk of the chunked coding ("SIZE\r\n" bytes "\r\n"), or bare. */
static void frame_http(conn *c, cursor *cur, uint64_t avail)
{
    fbatch *b = &c->srv->batch;

    if (c->u.f.chunked) {
        int n = snprintf((char *)b->hdrs[0], SRV_FRAME_HDR, "%llx\r\n", (unsigned long long)avail);
        b->bufs[b->nbufs++] = uv_buf_init((char *)b->hdrs[0], (unsigned)n);
    }
    cursor_take(cur, b, (size_t)avail);
    if (c->u.f.chunked)
        b->bufs[b->nbufs++] = uv_buf_init((char *)CRLF, 2);
    b->payload = avail;
}

/* 1 when p[0..n) can travel as SSE data lines: UTF-8 with no CR (a line break to SSE) or NUL. */
static int sse_text_ok(const uint8_t *p, size_t n)
{
    return !memchr(p, '\r', n) && !memchr(p, '\0', n) && ws_utf8_valid(p, n);
}

/* Appends one event carrying p[0..n) (ending at stream offset id) to out; returns its length. */
static size_t sse_event(char *out, const uint8_t *p, size_t n, uint64_t id)
{
    size_t w = 0;

    if (!sse_text_ok(p, n)) {
        w += (size_t)sprintf(out, "event: base64\nid: %llu\ndata: ", (unsigned long long)id);
        w += (size_t)EVP_EncodeBlock((unsigned char *)out + w, p, (int)n);
        memcpy(out + w, "\n\n", 2);
        return w + 2;
    }
    w += (size_t)sprintf(out, "id: %llu\n", (unsigned long long)id);
    /* Each line is one "data:" line; the client joins them with '\n'. */
    for (size_t start = 0;;) {
        const uint8_t *nl = memchr(p + start, '\n', n - start);
        size_t end = nl ? (size_t)(nl - p) : n;
        memcpy(out + w, "data: ", 6);
        w += 6;
        memcpy(out + w, p + start, end - start);
        w += end - start;
        out[w++] = '\n';
        if (!nl)
            break;
        start = end + 1;
    }
    out[w++] = '\n';
    return w;
}

static int frame_sse(conn *c, cursor *cur, uint64_t avail, int stream_end)
{
    hfs_server *s = c->srv;
    fbatch *b = &s->batch;
    uint8_t raw[SSE_EVENT_MAX];
    uint64_t left = avail < SSE_BATCH_MAX ? avail : SSE_BATCH_MAX;
    int last_piece = stream_end && left == avail;
    size_t w = 0;

    if (!s->sse_enc && !(s->sse_enc = malloc(SSE_ENC_MAX)))
        return -1;
    char *out = (char *)s->sse_enc + SRV_FRAME_HDR;
    while (left > 0) {
        size_t n = left < SSE_EVENT_MAX ? (size_t)left : SSE_EVENT_MAX;
        n = utf8_whole(cur, n, last_piece && n == left);
        if (n == 0)
            break;
        cursor_copy(cur, raw, n);
        b->payload += n;
        left -= n;
        w += sse_event(out + w, raw, n, c->u.f.offset + b->payload);
    }
    if (w == 0)
        return 0;
    char *start = out;
    if (c->u.f.chunked) {
        char hdr[SRV_FRAME_HDR];
        int hl = snprintf(hdr, sizeof(hdr), "%zx\r\n", w);
        start -= hl;
        memcpy(start, hdr, (size_t)hl);
        memcpy(out + w, CRLF, 2);
        w += (size_t)hl + 2;
    }
    b->bufs[b->nbufs++] = uv_buf_init(start, (unsigned)w);
    return 0;
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
    fbatch *b = &s->batch;
    store_slice sl[SRV_BATCH_SLICES];
    uint64_t want = limit - f->offset;

    if (want > SRV_BATCH_MAX)
        want = SRV_BATCH_MAX;
    if (want > (uint64_t)s->opt.frame_max * SRV_BATCH_FRAMES && f->kind <= FOLLOW_WS_BINARY)
        want = (uint64_t)s->opt.frame_max * SRV_BATCH_FRAMES;
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
    b->nbufs = 0;
    b->payload = 0;
    switch (f->kind) {
    case FOLLOW_HTTP:
        frame_http(c, &cur, avail);
        break;
    case FOLLOW_SSE:
        if (frame_sse(c, &cur, avail, stream_end) < 0)
            return -1;
        break;
    default:
        frame_ws(c, &cur, avail, stream_end);
        break;
    }
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

    c->u.f.inflight = NULL;
    fbatch_release(c->srv, b);
    follow_write_done(c, payload, status);
}

/* Moves what is left of s->batch after `written` bytes to the heap and queues it. */
static int batch_queue(conn *c, size_t written)
{
    hfs_server *s = c->srv;
    fbatch *src = &s->batch, *b = fbatch_alloc(s);
    size_t copy_len = 0, k = 0;

    if (!b)
        return -1;
    memcpy(b->hdrs, src->hdrs, sizeof(b->hdrs));
    memcpy(b->small, src->small, sizeof(b->small));
    b->c = c;
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
            store_chunk_ref(src->refs[i]);
    }
    if (uv_write(&b->req, (uv_stream_t *)&c->tcp, b->bufs, (unsigned)b->nbufs, batch_write_cb) !=
        0) {
        fbatch_release(s, b);
        return -1;
    }
    c->u.f.inflight = b;
    return 0;
}

int batch_send(conn *c)
{
    hfs_server *s = c->srv;
    fbatch *b = &s->batch;
    size_t total = 0;

    for (int i = 0; i < b->nbufs; i++)
        total += b->bufs[i].len;
    int r = uv_try_write((uv_stream_t *)&c->tcp, b->bufs, (unsigned)b->nbufs);
    if (r < 0 && r != UV_EAGAIN)
        return -1;
    size_t written = r > 0 ? (size_t)r : 0;
    if (written)
        c->last_tx_ms = srv_now(s);
    if (written == total)
        return 1;
    return batch_queue(c, written) < 0 ? -1 : 0;
}
