/* follow_sse.c -- the Server-Sent Events transport of followers: events encoded into a scratch
 * buffer, "id: <offset after>" and "data:" lines for UTF-8 text without CR or NUL, else
 * "event: base64" with the bytes base64-encoded; a comment line keeps a quiet stream alive; the
 * end is an "end" event whose data says why (end, or shutdown). */
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "server/batch.h"
#include "server/conn.h"

#define SSE_EVENT_MAX ((size_t)16 * 1024) /* raw bytes per SSE event */
#define SSE_BATCH_MAX ((size_t)32 * 1024) /* raw bytes per SSE write (SSE_ENC_MAX: worst case) */

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

static int frame_sse(conn *c, batch_cursor *cur, uint64_t avail, int stream_end)
{
    hfs_server *s = c->srv;
    fbatch *b = batch_current(c);
    uint8_t raw[SSE_EVENT_MAX];
    uint64_t left = avail < SSE_BATCH_MAX ? avail : SSE_BATCH_MAX;
    int last_piece = stream_end && left == avail;
    size_t w = 0;

    uint8_t *enc = batch_sse_buffer(s);
    if (!enc)
        return -1;
    char *out = (char *)enc + SRV_FRAME_HDR;
    while (left > 0) {
        size_t n = left < SSE_EVENT_MAX ? (size_t)left : SSE_EVENT_MAX;
        n = batch_utf8_whole(cur, n, last_piece && n == left);
        if (n == 0)
            break;
        batch_copy(cur, raw, n);
        b->payload += n;
        left -= n;
        w += sse_event(out + w, raw, n, c->u.f.offset + b->payload);
    }
    if (w == 0)
        return 0;
    batch_add_encoded(c, out, w);
    return 0;
}

static void heartbeat_sse(conn *c)
{
    conn_write_copy(c, c->u.f.chunked ? "2\r\n:\n\r\n" : ":\n", c->u.f.chunked ? 7 : 2);
}

static void end_event(conn *c, const char *why)
{
    char ev[96], chunk[128];
    int n = snprintf(ev, sizeof(ev), "event: end\nid: %llu\ndata: %s\n\n",
                     (unsigned long long)c->u.f.offset, why);
    int m = c->u.f.chunked ? snprintf(chunk, sizeof(chunk), "%x\r\n%s\r\n0\r\n\r\n", n, ev)
                           : snprintf(chunk, sizeof(chunk), "%s", ev);
    conn_write_copy(c, chunk, (size_t)m);
    conn_linger(c);
}

static void finish_sse(conn *c)
{
    end_event(c, c->srv->draining ? "shutdown" : "end");
}

static void fail_sse(conn *c, const char *reason)
{
    (void)reason;
    conn_linger(c); /* no end event: the client's reconnect resumes from its Last-Event-ID */
}

const follow_transport follow_sse = {
    .name = "sse",
    .frame = frame_sse,
    .heartbeat = heartbeat_sse,
    .finish = finish_sse,
    .fail = fail_sse,
};
