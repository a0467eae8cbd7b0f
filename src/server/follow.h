/* follow.h -- the FOLLOW session: a follower is a socket and an offset into the resource. Bytes go
 * out in batches (batch.h) framed by the follower's transport: WebSocket frames, chunked HTTP or
 * Server-Sent Events, each a small table of operations in a file of its own (follow_ws.c,
 * follow_http.c, follow_sse.c). A new transport is one new table. */
#ifndef HFS_SERVER_FOLLOW_H
#define HFS_SERVER_FOLLOW_H

#include <stdint.h>

#include "server/server.h"
#include "ws/ws.h"

typedef struct batch_cursor batch_cursor;

/* How a follower's bytes travel. */
typedef struct follow_transport {
    const char *name;
    int websocket;      /* speaks WebSocket (control frames, the closing handshake) */
    unsigned ws_opcode; /* WebSocket: the data frames' opcode, WS_OP_TEXT or WS_OP_BINARY */
    size_t frame_cap;   /* WebSocket: at most this many payload bytes per frame, nor more than
                           -frame-max (0: -frame-max alone) */
    /* Frames up to avail payload bytes from the cursor into the batch being built (batch.h);
     * stream_end: these are the stream's last bytes. Returns 0, or -1 when out of memory. */
    int (*frame)(conn *c, batch_cursor *cur, uint64_t avail, int stream_end);
    void (*heartbeat)(conn *c);                      /* quiet for ping_interval */
    void (*finish)(conn *c);                         /* every byte of the stream was sent */
    void (*fail)(conn *c, const char *reason);       /* the bytes cannot be read */
    void (*on_input)(conn *c, uint8_t *p, size_t n); /* what the follower sends (NULL: dropped) */
} follow_transport;

/* WebSocket TEXT frames, BINARY frames, and TEXT frames of at most FOLLOW_ORIGINAL_FRAME_MAX bytes
 * for the original's client (it sends X-Verb: FOLLOW); chunked HTTP; Server-Sent Events. */
extern const follow_transport follow_ws_text, follow_ws_binary, follow_ws_original, follow_http,
    follow_sse;

/* The original's client reads a message with one Read of the caller's buffer and drops whatever did
 * not fit; readers on top of it (bufio.Reader) read 4,096 bytes at a time. */
#define FOLLOW_ORIGINAL_FRAME_MAX 4096

/* The largest payload of one of tp's frames when the server's cap is server_max. */
static inline size_t follow_frame_max(const follow_transport *tp, size_t server_max)
{
    return tp->frame_cap && tp->frame_cap < server_max ? tp->frame_cap : server_max;
}

/* What route.c decided for a new follower. */
typedef struct follow_params {
    const follow_transport *tp;
    int chunked;          /* HTTP transports: chunked transfer coding */
    uint64_t offset;      /* first stream byte to send */
    const char *wait_rel; /* no resource yet: the path to wait for */
} follow_params;

typedef struct follower {
    srv_res *sr;       /* NULL while waiting for the resource to exist */
    conn *prev, *next; /* in sr->followers, or in hfs_server.waiters while waiting */
    uint64_t offset;   /* next stream byte to send */
    uint64_t end;      /* UINT64_MAX while a writer may append, then the final size */
    fbatch *inflight;  /* the data write in flight, at most one */
    const follow_transport *tp;
    uint8_t chunked;  /* HTTP transports: chunked transfer coding */
    uint8_t attached; /* linked into a list */
    char *wait_rel;   /* waiting: the root-relative path */
    uint8_t wake;     /* waiting: another server created it (follow_wake_created) */
    ws_decoder dec;
    /* Durable Streams SSE (ds/sse.c) */
    uint8_t ds_enc;     /* enum ds_enc */
    uint8_t ds_open;    /* inside a data event that goes on in the next write */
    uint8_t ds_done;    /* the final control event went out */
    char ds_cursor[24]; /* the request's cursor parameter */
} follower;

/* The connection kind of followers (conn.h). */
extern const struct conn_ops conn_follow_ops;

/* Starts a follower (res NULL: wait for fp->wait_rel); takes res's reference. */
int follow_start(conn *c, store_res *res, const follow_params *fp, const uint8_t *rest,
                 size_t rest_len);
/* As follow_start, without sending anything yet (the caller sends first, then
 * follow_send_pending). */
int follow_start_prepared(conn *c, store_res *res, const follow_params *fp, const uint8_t *rest,
                          size_t rest_len);
void follow_send_pending(conn *c);
void follow_flush_dirty(hfs_server *s);
void follow_wake_waiters(hfs_server *s, const char *rel, store_res *res);
/* The store's store_on_created callback (arg: the server): waiters for rel are marked, and woken
 * by follow_wake_created from the loop's check phase. */
void follow_created_elsewhere(void *arg, const char *rel);
void follow_wake_created(hfs_server *s);
/* Ends every follower of sr with an error (1011 on WebSocket, an aborted response): the storage
 * is unavailable. */
void follow_fail_all(srv_res *sr, const char *reason);
void follow_set_end(srv_res *sr, uint64_t end,
                    int cap); /* every follower's end (cap: lower only) */

#endif /* HFS_SERVER_FOLLOW_H */
