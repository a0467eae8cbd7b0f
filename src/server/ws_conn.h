/* ws_conn.h -- WebSocket plumbing shared by appenders and followers: the 101 response, control
 * frames (PING, PONG, CLOSE) and the closing handshake. */
#ifndef HFS_SERVER_WS_CONN_H
#define HFS_SERVER_WS_CONN_H

#include "http/request.h"
#include "server/server.h"

int ws_send_control(conn *c, unsigned opcode, const void *payload, size_t len);
int ws_send_close(conn *c, unsigned code, const char *reason);
int ws_handshake_response(conn *c, const http_request *req, int binary_proto, const char *extra);
void ws_on_peer_close(conn *c, unsigned code); /* echo the CLOSE, then linger */
void ws_heartbeat(conn *c);                    /* a PING */
void ws_goodbye(conn *c);                      /* CLOSE 1001: the server closes now */

/* The WebSocket appender kind (ws_append.c). */
extern const struct conn_ops conn_append_ops;
int ws_append_start(conn *c, store_res *res, const uint8_t *rest, size_t rest_len);

#endif /* HFS_SERVER_WS_CONN_H */
