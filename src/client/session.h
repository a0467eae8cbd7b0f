/* session.h -- what a reader and a writer share: the URL, the connection, the handshake, the
 * receive buffer with its HTTP and WebSocket decoders, masked frame sending, and the first error
 * seen. */
#ifndef HFS_CLIENT_SESSION_H
#define HFS_CLIENT_SESSION_H

#include <stdint.h>
#include <sys/types.h>

#include "client/conn.h"
#include "client/handshake.h"
#include "client/url.h"
#include "httpfstream.h"
#include "ws/ws.h"

#define CLI_SCRATCH_BYTES     ((size_t)16 * 1024) /* frames are masked here piece by piece */
#define CLI_READ_BYTES        ((size_t)64 * 1024) /* receive buffer of a reader */
#define CLI_WRITER_READ_BYTES 4096 /* receive buffer of a writer: it only gets control frames */

typedef struct cli_session {
    /* read-only for reader.c and writer.c */
    cli_url url;
    cli_conn *conn;
    hfs_error err;      /* the first failure; code HFS_OK while none */
    int websocket;      /* 1 after a valid 101 */
    int close_sent;     /* our CLOSE went out (or could not) */
    int close_received; /* the server's CLOSE arrived */
    int credential;     /* a credential was sent: a bearer token, or token or sig in the query */
    unsigned close_code;
    cli_response resp; /* the handshake response; for a 200 it also parses the body */
    ws_decoder dec;
    uint8_t *buf; /* bytes read from the socket; [start, end) not yet decoded */
    size_t cap, start, end;
    uint8_t scratch[CLI_SCRATCH_BYTES];
} cli_session;

/* Fills o with the defaults of hfs_client_options_init. */
void cli_options_default(hfs_client_options *o);

/* Parses url, connects, sends the handshake with X-Verb verb (query, when not NULL, goes after the
 * URL's own query, which is kept as it is: "?sig=S&frames=binary&offset=10") and o->token as a
 * bearer token, and reads the response's headers. Returns HFS_OK with *out set, s->resp.status the
 * HTTP status and s->websocket 1 after a valid 101; any status is HFS_OK here, the caller judges
 * it. Else an hfs_err with details in *err and nothing to free: HFS_ERR_INVALID, before any
 * connection, for a URL or token that cannot be sent. o may be NULL. With verb NULL the request is
 * the plain GET of the first byte (cli_size_request) instead of a handshake. */
int cli_session_open(cli_session **out, const char *url, const hfs_client_options *o,
                     const char *verb, const char *query, size_t buf_bytes, hfs_error *err);

/* The size of the resource at url (hfs_size): HFS_OK with *size set, or an error with details in
 * *err. */
int cli_size(const char *url, const hfs_client_options *o, uint64_t *size, hfs_error *err);

/* Records a failure unless one is recorded already; returns code. */
int cli_session_fail(cli_session *s, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A server's reason is read up to this many bytes, for this long at most. */
#define CLI_REASON_BYTES 120
#define CLI_REASON_MS    1000

/* Reads the first line of a non-101 response's body (CLI_REASON_BYTES at most, for CLI_REASON_MS
 * at most) into out as printable ASCII, trailing blanks dropped; "" when there is none. */
void cli_session_reason(cli_session *s, char out[CLI_REASON_BYTES + 1]);

/* Records a 401 or 403 answer to a request to action the resource ("read", "append to") as
 * HFS_ERR_HTTP with http_status set and the message "401 unauthorized: ..." or "403 forbidden:
 * ...", which says whether a credential was sent and ends with the server's reason
 * (cli_session_reason) when it gave one; reason may be NULL, then it is read here. Returns
 * HFS_ERR_HTTP. */
int cli_session_fail_denied(cli_session *s, const char *action, const char *reason);

/* The next body bytes of a non-101 response, reading until deadline (as cli_session_next): HFS_OK
 * with *data and *len set (len > 0), 1 at the end of the body, HFS_ERR_TIMEOUT, or an error
 * (recorded). */
int cli_session_next_body(cli_session *s, int64_t deadline, const uint8_t **data, size_t *len);

/* The next WebSocket event, reading until deadline (CLI_NO_DEADLINE: block; a past deadline: only
 * what is already there). PINGs are answered and PONGs dropped here; a CLOSE is answered (echoing
 * its code) before it is returned. Returns HFS_OK with ev (WS_EV_DATA, possibly empty, or
 * WS_EV_CLOSE), HFS_ERR_TIMEOUT, 1 when the connection ended before a CLOSE (nothing recorded: the
 * caller judges), or an error (recorded), HFS_ERR_PROTOCOL for a bad frame (after a best-effort
 * CLOSE 1002). */
int cli_session_next(cli_session *s, ws_event *ev, int64_t deadline);

/* Records the connection ending before a CLOSE as HFS_ERR_NETWORK; returns HFS_ERR_NETWORK. */
int cli_session_fail_eof(cli_session *s);

/* Records the server's CLOSE with code as an HFS_ERR_CLOSED failure; returns HFS_ERR_CLOSED. */
int cli_session_fail_closed(cli_session *s, unsigned code, const uint8_t *payload, size_t len);

/* Sends one unfragmented frame with a fresh mask; data is copied and masked in pieces. Returns
 * HFS_OK or an error (recorded). */
int cli_session_send(cli_session *s, unsigned opcode, const void *data, size_t len);

/* As cli_session_send, but masks data in place and writes the header into the WS_HEADER_MAX bytes
 * just before data, which must be writable: one write for the whole frame, no copy. */
int cli_session_send_in_place(cli_session *s, unsigned opcode, uint8_t *data, size_t len);

/* Sends CLOSE with code (WS_CLOSE_NO_STATUS: an empty payload) once; later calls do nothing. Errors
 * are not recorded: the caller is ending the session anyway. */
void cli_session_send_close(cli_session *s, unsigned code);

/* Closes the connection (cleanly when clean) and frees s; NULL is fine. */
void cli_session_free(cli_session *s, int clean);

#endif
