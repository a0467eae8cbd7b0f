/* sse.c -- Durable Streams readers over Server-Sent Events: a follower transport (follow.h), so
 * they ride the same shared fan-out path as every follower: one batch of the stream's bytes per
 * write, straight from the store's in-memory tail, a slow reader costing one batch at most.
 *
 * Each batch goes out as one "data" event and the "control" event that says where it ends, in one
 * write:
 *   event: data\ndata:<line>\n...\n\nevent: control\ndata:{"streamNextOffset":...}\n\n
 * Text streams have one data: line per line of the payload (CR, LF and CRLF all end a line, so a
 * payload cannot forge an event); JSON streams carry their whole messages in batch as one array;
 * anything else is base64, each event decodable on its own. A JSON message larger than a batch
 * goes out as one data event over several writes (its line simply continues), the control event
 * after its end. The stream's close is the last control event ({"streamClosed":true}, no cursor),
 * then the response ends. */
#include <stdio.h>
#include <string.h>

#include "ds/ds_int.h"
#include "ds/json.h"
#include "http/response.h"
#include "server/batch.h"
#include "server/fanout.h"
#include "server/conn.h"
#include "server/http_conn.h"

#define DS_SSE_RAW ((size_t)32 * 1024) /* payload bytes per event (SSE_ENC_MAX: the worst case) */

static size_t put(char *out, const char *s, size_t n)
{
    memcpy(out, s, n);
    return n;
}

#define PUTS(out, lit) put(out, lit, sizeof(lit) - 1)

/* The control event for a reader now at `after` into out; returns its length. */
static size_t control_event(conn *c, uint64_t after, int closed, char *out)
{
    follower *f = &c->u.f;
    char off[DS_OFFSET_LEN];
    int up = after >= store_size(f->sr->res);

    ds_offset_fmt(after, off);
    if (closed)
        return (size_t)sprintf(out,
                               "event: control\ndata:{\"streamNextOffset\":\"%s\","
                               "\"streamClosed\":true,\"upToDate\":true}\n\n",
                               off);
    return (size_t)sprintf(out,
                           "event: control\ndata:{\"streamNextOffset\":\"%s\","
                           "\"streamCursor\":\"%llu\"%s}\n\n",
                           off, (unsigned long long)ds_cursor_next(f->ds_cursor),
                           up ? ",\"upToDate\":true" : "");
}

/* p[0..n) as data: lines (a text stream's payload). */
static size_t text_lines(const uint8_t *p, size_t n, char *out)
{
    size_t w = PUTS(out, "data:");

    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\r' || p[i] == '\n') {
            if (p[i] == '\r' && i + 1 < n && p[i + 1] == '\n')
                i++;
            w += PUTS(out + w, "\ndata:");
        } else {
            out[w++] = (char)p[i];
        }
    }
    out[w++] = '\n';
    return w;
}

static int frame_ds(conn *c, batch_cursor *cur, uint64_t avail, int stream_end)
{
    hfs_server *s = c->srv;
    follower *f = &c->u.f;
    fbatch *b = batch_current(c);
    uint8_t raw[DS_SSE_RAW];
    size_t n = avail < DS_SSE_RAW ? (size_t)avail : DS_SSE_RAW, take, w = 0;
    int last = stream_end && n == avail;
    uint8_t *enc = batch_sse_buffer(s);
    int complete = 1; /* the data event ends in this write */

    if (!enc)
        return -1;
    char *out = (char *)enc + SRV_FRAME_HDR;
    batch_peek(cur, raw, n);
    if (f->ds_enc == DS_ENC_JSON) {
        size_t nl = n;
        while (nl > 0 && raw[nl - 1] != '\n')
            nl--;
        if (nl == 0 && !f->ds_open && n == avail && n < DS_SSE_RAW)
            return 0; /* a message not all there yet */
        if (!f->ds_open)
            w += PUTS(out, "event: data\ndata:[");
        if (nl > 0) {
            for (size_t i = 0; i + 1 < nl; i++)
                out[w++] = raw[i] == '\n' ? ',' : (char)raw[i];
            w += PUTS(out + w, "]\n\n");
            take = nl;
        } else {
            memcpy(out + w, raw, n); /* part of a long message: its event goes on */
            w += n;
            take = n;
            complete = 0;
        }
        f->ds_open = !complete;
    } else if (f->ds_enc == DS_ENC_TEXT) {
        take = batch_utf8_whole(cur, n, last);
        if (take > 0 && !last && raw[take - 1] == '\r')
            take--; /* a CR whose LF may follow: one line break, not two */
        if (take == 0)
            return 0;
        w += PUTS(out, "event: data\n");
        w += text_lines(raw, take, out + w);
        out[w++] = '\n';
    } else {
        take = n;
        w += PUTS(out, "event: data\ndata:");
        w += ds_base64(raw, take, out + w);
        w += PUTS(out + w, "\n\n");
    }
    batch_copy(cur, raw, take);
    b->payload += take;
    if (complete) {
        uint64_t after = f->offset + b->payload;
        int closed = last && take == n && (store_state(f->sr->res) & STORE_CLOSED);
        w += control_event(c, after, closed, out + w);
        f->ds_done = (uint8_t)closed;
    }
    batch_add_encoded(c, out, w);
    return 0;
}

static void write_chunk(conn *c, const char *p, size_t n)
{
    char hdr[16];

    if (c->u.f.chunked) {
        int hl = snprintf(hdr, sizeof(hdr), "%zx\r\n", n);
        conn_write_copy(c, hdr, (size_t)hl);
        conn_write_copy(c, p, n);
        conn_write_copy(c, "\r\n", 2);
    } else {
        conn_write_copy(c, p, n);
    }
}

static void heartbeat_ds(conn *c)
{
    write_chunk(c, ":\n\n", 3);
}

/* Every byte was sent: the final control event when the stream closed (not when it was deleted or
 * the server shuts down), then the end of the response. */
static void finish_ds(conn *c)
{
    follower *f = &c->u.f;
    char ev[256];

    if (!f->ds_done && !c->srv->draining && f->sr && (store_state(f->sr->res) & STORE_CLOSED)) {
        write_chunk(c, ev, control_event(c, f->offset, 1, ev));
        f->ds_done = 1;
    }
    if (f->chunked)
        conn_write_copy(c, "0\r\n\r\n", 5);
    conn_linger(c);
}

static void fail_ds(conn *c, const char *reason)
{
    (void)reason;
    conn_linger(c); /* the client reconnects from the last offset it had */
}

const follow_transport follow_ds_sse = {
    .name = "ds-sse",
    .frame = frame_ds,
    .heartbeat = heartbeat_ds,
    .finish = finish_ds,
    .fail = fail_ds,
};

int ds_sse_start(route *r, ds_stream *ds, uint64_t off, const char *cursor)
{
    conn *c = r->c;
    http_head h;
    int chunked = r->req->http_major > 1 || (r->req->http_major == 1 && r->req->http_minor >= 1);
    int enc = ds_sse_encoding(ds->ctype);

    conn_count_status(c, 200);
    http_head_start(&h, 200);
    http_head_add(&h, "Content-Type", "text/event-stream");
    http_head_add(&h, "Cache-Control", "no-cache");
    http_head_add(&h, "X-Accel-Buffering", "no");
    http_head_raw(&h, DS_COMMON_HEADERS, sizeof(DS_COMMON_HEADERS) - 1);
    if (enc == DS_ENC_BASE64)
        http_head_add(&h, "Stream-SSE-Data-Encoding", "base64");
    if (chunked)
        http_head_add(&h, "Transfer-Encoding", "chunked");
    http_head_add(&h, "Connection", "close");
    if (http_head_end(&h) < 0 || conn_write_copy(c, h.buf, h.len) < 0) {
        conn_close(c);
        return 200;
    }
    follow_params fp = {.tp = &follow_ds_sse, .chunked = chunked, .offset = off};
    route_log(r, 200);
    http_conn_free(c);
    store_res_ref(ds->res);
    /* The follower's state is set up by follow_start; what this transport adds goes in after, and
     * before anything is sent: follow_start sends what is there at once. So the first control
     * event for a reader with nothing to catch up on goes out first. */
    follower *f = &c->u.f;
    int nothing = off >= ds->tail && !ds->closed;
    char ev[256];
    if (follow_start_prepared(c, ds->res, &fp, NULL, 0) < 0)
        return 200;
    f->ds_enc = (uint8_t)enc;
    snprintf(f->ds_cursor, sizeof(f->ds_cursor), "%s", cursor ? cursor : "");
    if (nothing)
        write_chunk(c, ev, control_event(c, off, 0, ev));
    follow_send_pending(c);
    return 200;
}
