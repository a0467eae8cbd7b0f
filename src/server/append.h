/* append.h -- the one append path, for WebSocket appenders and PUT/POST bodies alike. A session
 * holds the resource's lease, pushes bytes to the store (refusing, before any of its bytes are
 * stored, a piece that would pass -max-size), stops reading while the store is backlogged,
 * acknowledges only once its bytes are stored (and durable under the sync policy), and ends by
 * giving the lease back. Its transport (ws_append.c, http_append.c) says how a failure is told:
 * a CLOSE code, or a status. */
#ifndef HFS_SERVER_APPEND_H
#define HFS_SERVER_APPEND_H

#include <stdint.h>
#include <sys/uio.h>

#include "server/server.h"
#include "ws/ws.h"

/* How a transport is told that its session failed: err a store_err (STORE_EFULL for -max-size,
 * STORE_EIO with sys an errno, ...), reason a short text for the peer and the log. The session
 * has ended (the lease is back) when it is called. */
typedef void (*append_failed_fn)(conn *c, int err, int sys, const char *reason);
/* An acknowledgement that was waited for: err 0, or STORE_EIO when the bytes never made it. */
typedef void (*append_acked_fn)(conn *c, int err, unsigned code);

typedef struct appender {
    srv_res *sr;
    append_failed_fn failed;
    uint64_t received;   /* bytes accepted in this session */
    uint64_t final_size; /* the readable size when the session ended */
    uint8_t ended;       /* the lease was given back */
    uint8_t created;     /* HTTP: the resource did not exist before (201) */
    store_wait *wait;    /* the acknowledgement waited for, if any */
    append_acked_fn acked;
    unsigned ack_code;
    ws_decoder dec; /* WebSocket appenders */
} appender;

/* Starts a session on a leased resource (takes the lease; on failure gives it back). */
int append_begin(conn *c, store_res *res, append_failed_fn failed, int created);
/* 1 when n more bytes would take the resource past -max-size. */
int append_would_exceed(const conn *c, uint64_t n);
/* Stores the bytes. Returns 0, or -1 when the session ended (its transport was told). */
int append_push(conn *c, const struct iovec *iov, int iovcnt);
/* Calls acked(c, err, code) once every byte accepted so far is stored and durable under the sync
 * policy; returns 1 when that is already so (no call: acknowledge now), 0 when waiting, -1 when
 * out of memory. */
int append_when_durable(conn *c, append_acked_fn acked, unsigned code);
/* Ends the session (gives the lease back). reason (may be NULL) goes to the log. */
void append_end(conn *c, const char *reason);
/* The store failed the session's bytes (fanout.c): end it, tell the transport. */
void append_store_failed(conn *c);
/* The connection goes away: forget any acknowledgement waited for, end the session. */
void append_forget(conn *c);

#endif /* HFS_SERVER_APPEND_H */
