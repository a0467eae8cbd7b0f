/* ws_conn.c -- WebSocket plumbing shared by appenders and followers: the 101 response, control
 * frames (PING, PONG, CLOSE) and the closing handshake. */
#include "server/ws_conn.h"

#include <string.h>

#include "http/response.h"
#include "server/conn.h"

int ws_send_control(conn *c, unsigned opcode, const void *payload, size_t len)
{
    uint8_t frame[WS_HEADER_MAX + WS_CONTROL_MAX];

    if (len > WS_CONTROL_MAX)
        len = WS_CONTROL_MAX;
    size_t h = ws_frame_header(frame, opcode, 1, len, NULL);
    if (len)
        memcpy(frame + h, payload, len);
    int r = conn_write_copy(c, frame, h + len);
    if (opcode == WS_OP_PONG)
        conn_out_check(c); /* PONGs the peer does not read: stop reading its PINGs */
    return r;
}

int ws_send_close(conn *c, unsigned code, const char *reason)
{
    uint8_t payload[WS_CONTROL_MAX];
    size_t n = 0;

    if (c->ws_closed || c->closing)
        return 0;
    c->ws_closed = 1;
    if (code)
        n = ws_close_payload(payload, (uint16_t)code, reason);
    return ws_send_control(c, WS_OP_CLOSE, payload, n);
}

int ws_handshake_response(conn *c, const http_request *req, int binary_proto, const char *extra)
{
    char accept[WS_ACCEPT_LEN + 1];
    size_t klen;
    const char *key = http_header_get(req, "Sec-WebSocket-Key", &klen);
    http_head head;

    if (!key || ws_accept_key(key, klen, accept) < 0)
        return -1;
    conn_count_status(c, 101);
    http_head_start(&head, 101);
    http_head_add(&head, "Upgrade", "websocket");
    http_head_add(&head, "Connection", "Upgrade");
    http_head_add(&head, "Sec-WebSocket-Accept", accept);
    if (binary_proto)
        http_head_add(&head, "Sec-WebSocket-Protocol", "binary");
    if (extra)
        http_head_raw(&head, extra, strlen(extra));
    if (http_head_end(&head) < 0)
        return -1;
    return conn_write_copy(c, head.buf, head.len);
}

void ws_on_peer_close(conn *c, unsigned code)
{
    /* Echo the peer's code (none if it sent none), then let the TCP connection end. */
    ws_send_close(c, code == WS_CLOSE_NO_STATUS ? 0 : code, NULL);
    conn_linger(c);
}

void ws_heartbeat(conn *c)
{
    ws_send_control(c, WS_OP_PING, NULL, 0);
}

void ws_goodbye(conn *c)
{
    ws_send_close(c, WS_CLOSE_GOING_AWAY, "server shutting down");
}
