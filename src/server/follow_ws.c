/* follow_ws.c -- the WebSocket transport of followers: unfragmented frames of at most frame_max
 * payload bytes, TEXT (the original's) or BINARY; the original's own client gets TEXT frames of at
 * most 4 KiB (follow.h); a TEXT frame never ends inside a UTF-8 character (up to 3 bytes wait for
 * the rest). PINGs keep it alive; the end is CLOSE 1000 (1001 while the server shuts down); what
 * the follower sends is decoded for PING, CLOSE and errors, and dropped. */
#include "server/batch.h"
#include "server/conn.h"
#include "server/ws_conn.h"

static int frame_ws(conn *c, batch_cursor *cur, uint64_t avail, int stream_end)
{
    fbatch *b = batch_current(c);
    size_t frame_max = follow_frame_max(c->u.f.tp, c->srv->opt.frame_max);
    unsigned opcode = c->u.f.tp->ws_opcode;
    uint64_t left = avail;
    int frames = 0;

    while (left > 0 && frames < SRV_BATCH_FRAMES) {
        size_t fl = left < frame_max ? (size_t)left : frame_max;
        if (opcode == WS_OP_TEXT)
            fl = batch_utf8_whole(cur, fl, stream_end && fl == left);
        if (fl == 0)
            break;
        size_t hl = ws_frame_header(b->hdrs[frames], opcode, 1, fl, NULL);
        b->bufs[b->nbufs++] = uv_buf_init((char *)b->hdrs[frames], (unsigned)hl);
        batch_take(cur, b, fl);
        frames++;
        left -= fl;
        b->payload += fl;
    }
    return 0;
}

static void finish_ws(conn *c)
{
    if (c->srv->draining)
        ws_send_close(c, WS_CLOSE_GOING_AWAY, "server shutting down");
    else
        ws_send_close(c, WS_CLOSE_NORMAL, NULL);
    c->deadline_ms = srv_now(c->srv) + SRV_WS_CLOSE_WAIT;
}

static void fail_ws(conn *c, const char *reason)
{
    ws_send_close(c, WS_CLOSE_INTERNAL, reason);
    conn_linger(c);
}

static void input_ws(conn *c, uint8_t *p, size_t n)
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

/* What every WebSocket transport shares; they differ in opcode and frame cap. */
#define WS_TRANSPORT                                                                               \
    .websocket = 1, .frame = frame_ws, .heartbeat = ws_heartbeat, .finish = finish_ws,             \
    .fail = fail_ws, .on_input = input_ws

const follow_transport follow_ws_text = {
    .name = "websocket",
    .ws_opcode = WS_OP_TEXT,
    WS_TRANSPORT,
};

const follow_transport follow_ws_binary = {
    .name = "websocket-binary",
    .ws_opcode = WS_OP_BINARY,
    WS_TRANSPORT,
};

const follow_transport follow_ws_original = {
    .name = "websocket-original",
    .ws_opcode = WS_OP_TEXT,
    .frame_cap = FOLLOW_ORIGINAL_FRAME_MAX,
    WS_TRANSPORT,
};
