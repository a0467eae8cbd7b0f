/* ws_append.c -- the WebSocket appender: decodes the appender's frames in place in the read
 * buffer and pushes every data payload of one read with one append (append.c). Control frames
 * are answered (PING -> PONG, CLOSE -> CLOSE once the bytes are stored); protocol errors close
 * with 1002, a frame that would pass -max-message or -max-size with 1009 (decided from its header,
 * before any of it is stored), storage errors with 1011. Bytes accepted before any error stay. */
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>

#include "server/conn.h"
#include "server/fanout.h"
#include "server/ws_conn.h"

#define APPEND_IOV 256 /* payload pieces gathered before one append */

static void ws_append_failed(conn *c, int err, int sys, const char *reason)
{
    (void)sys;
    ws_send_close(c, err == STORE_EFULL ? WS_CLOSE_TOO_BIG : WS_CLOSE_INTERNAL, reason);
    conn_linger(c);
}

static void ws_append_on_data(conn *c, uint8_t *p, size_t n);

int ws_append_start(conn *c, store_res *res, const uint8_t *rest, size_t rest_len)
{
    conn_become(c, &conn_append_ops);
    if (append_begin(c, res, ws_append_failed, 0) < 0) {
        ws_send_close(c, WS_CLOSE_INTERNAL, "out of memory");
        conn_linger(c);
        return -1;
    }
    ws_decoder_init(&c->u.a.dec, WS_ROLE_SERVER, c->srv->opt.message_max);
    if (rest_len)
        ws_append_on_data(c, (uint8_t *)rest, rest_len);
    return 0;
}

/* Stores the gathered payload; returns 0, or -1 when the session ended. */
static int flush(conn *c, struct iovec *iov, int *niov)
{
    int n = *niov;

    *niov = 0;
    return n ? append_push(c, iov, n) : 0;
}

/* The echoed CLOSE acknowledges every byte: it goes out once they are stored (a GET right after
 * it sees them all), and durable under a sync policy. */
static void close_when_durable(conn *c, int err, unsigned code)
{
    if (err < 0) {
        ws_send_close(c, WS_CLOSE_INTERNAL, "write or fdatasync failed");
        conn_linger(c);
        return;
    }
    ws_on_peer_close(c, code);
}

static void ws_append_on_data(conn *c, uint8_t *p, size_t n)
{
    appender *a = &c->u.a;
    struct iovec iov[APPEND_IOV];
    int niov = 0;
    uint64_t gathered = 0; /* bytes in iov */
    ws_event ev;

    while (n > 0 && !c->closing && !a->ended) {
        size_t used = ws_decode(&a->dec, p, n, &ev);
        p += used;
        n -= used;
        switch (ev.type) {
        case WS_EV_NEED_MORE:
            break;
        case WS_EV_DATA:
            if (ev.len == 0)
                break;
            /* A frame that would cross -max-size is refused whole, from its header's length. */
            if (append_would_exceed(c, gathered + ev.len + ws_decoder_frame_rest(&a->dec))) {
                if (flush(c, iov, &niov) == 0) {
                    srv_log(c->srv, HFS_LOG_ERROR, "%s append /%s: resource size limit reached",
                            c->peer, store_res_name(a->sr->res));
                    append_end(c, "resource size limit reached");
                    ws_append_failed(c, STORE_EFULL, 0, "resource size limit reached");
                }
                return;
            }
            if (niov == APPEND_IOV) {
                if (flush(c, iov, &niov) < 0)
                    return;
                gathered = 0;
            }
            iov[niov].iov_base = ev.data;
            iov[niov++].iov_len = ev.len;
            gathered += ev.len;
            break;
        case WS_EV_PING:
            ws_send_control(c, WS_OP_PONG, ev.data, ev.len);
            break;
        case WS_EV_PONG:
            break;
        case WS_EV_CLOSE: {
            if (flush(c, iov, &niov) < 0)
                return;
            int r = append_when_durable(c, close_when_durable, ev.close_code);
            append_end(c, NULL);
            if (r != 0)
                close_when_durable(c, r < 0 ? STORE_EIO : 0, ev.close_code);
            return;
        }
        case WS_EV_ERROR:
            if (flush(c, iov, &niov) < 0)
                return;
            srv_log(c->srv, HFS_LOG_WARN, "%s append /%s: %s (closing with %u)", c->peer,
                    store_res_name(a->sr->res), ev.reason, ev.close_code);
            append_end(c, ev.reason);
            ws_send_close(c, ev.close_code, ev.reason);
            conn_linger(c);
            return;
        }
    }
    flush(c, iov, &niov);
}

static void ws_append_on_eof(conn *c)
{
    append_end(c, "connection closed");
    conn_close(c);
}

static void going_away_when_durable(conn *c, int err, unsigned code)
{
    (void)code;
    ws_send_close(c, err < 0 ? WS_CLOSE_INTERNAL : WS_CLOSE_GOING_AWAY,
                  err < 0 ? "write or fdatasync failed" : "server shutting down");
    conn_linger(c);
}

/* The 1001 tells the appender that what it sent is kept: it goes out once the bytes read so far
 * are stored (and durable, under a sync policy). Nothing more is read. */
static void ws_append_on_drain(conn *c)
{
    conn_read_stop(c);
    int r = append_when_durable(c, going_away_when_durable, 0);
    append_end(c, "server shutting down");
    if (r != 0)
        going_away_when_durable(c, r < 0 ? STORE_EIO : 0, 0);
}

/* Reading resumes when neither unread output nor the store's backlog holds it back. */
static void ws_append_out_drained(conn *c)
{
    appender *a = &c->u.a;

    if (a->ended || !store_backlogged(a->sr->res))
        conn_read_start(c);
}

const conn_ops conn_append_ops = {
    .name = "append",
    .on_data = ws_append_on_data,
    .on_eof = ws_append_on_eof,
    .heartbeat = ws_heartbeat,
    .on_out_drained = ws_append_out_drained,
    .on_drain = ws_append_on_drain,
    .on_goodbye = ws_goodbye,
    .on_stop = append_forget,
};
