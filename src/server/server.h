/* server.h -- the server object: options, listeners, connections, the loop's handles and
 * scratch buffers, and the small services every part of the server uses (log, clock, handle
 * counting). The server's parts (conn.h, http_conn.h, append.h, follow.h, fanout.h) sit below it;
 * none of them knows which store backend runs. Only src/server includes uv.h. */
#ifndef HFS_SERVER_SERVER_H
#define HFS_SERVER_SERVER_H

#include <stdint.h>
#include <uv.h>

#include "httpfstream.h"
#include "store/store.h"
#include "server/tls.h"

#define SRV_READ_BUF      ((size_t)256 * 1024) /* the one read buffer: reads are handled in turn */
#define SRV_BATCH_MAX     ((size_t)128 * 1024) /* payload bytes per follower write */
#define SRV_TICK_MS       500                  /* housekeeping: pings, deadlines, liveness */
#define SRV_WS_CLOSE_WAIT 5000                 /* after our CLOSE, wait this long for the peer's */
#define SRV_LINGER_MS     2000                 /* after a final response, drain input this long */
/* Queued output above which a connection's input is not read (pipelined requests, PINGs): what
 * one connection can make the server hold is bounded by what it reads. Reading resumes below half.
 */
#define SRV_OUT_MAX ((size_t)256 * 1024)

typedef struct conn conn;

/* A listening socket; tcp first (the handle's address is the listener's). */
typedef struct srv_listener {
    uv_tcp_t tcp;
    int tls; /* its connections speak TLS (hfs_server_listen_tls) */
} srv_listener;

typedef struct srv_res srv_res;
typedef struct fbatch fbatch;
typedef struct http_conn http_conn;
struct http_request;
struct auth_rules;

/* What the server counts for /metrics (metrics.c): plain counters, bumped on the loop's thread
 * only (no atomics, no lock, no syscall). Gauges that can be counted when scraped (connections by
 * role, descriptors) are not kept here. */
typedef struct srv_metrics {
    uint64_t status[6];         /* responses by status class, [1] 1xx .. [5] 5xx ([0]: other) */
    uint64_t follower_bytes;    /* payload bytes sent to followers */
    uint64_t followers_dropped; /* followers cut off: a write to them failed */
    uint64_t dead_peers;        /* sessions dropped as unresponsive (dead_peer_ms) */
    uint64_t live_resources;    /* gauge: resources with an appender or followers (srv_res) */
} srv_metrics;

struct hfs_server {
    uv_loop_t *loop;
    hfs_server_options opt;
    char *root, *prefix;
    store *st;
    srv_listener **listeners;
    size_t nlisteners;
    srv_listener **mlisteners; /* -metrics: /metrics and /healthz only, open until the close */
    size_t nmlisteners;
    size_t nmconns; /* connections accepted on those (counted in nconns too) */
    srv_metrics m;
    int port, mport; /* of the last resource listener, and of the last -metrics one */
    conn *conns;
    size_t nconns;
    uint64_t refused;           /* connections turned away over max_conns */
    uint64_t accept_errors;     /* accept() failures (out of descriptors) */
    uint64_t accept_logged_ms;  /* when those were last logged */
    uint64_t refused_logged_ms; /* when that was last logged */
    srv_res *dirty;             /* resources whose followers may have bytes to send */
    conn *waiters;              /* followers waiting for their resource to be created */
    int wake_pending;           /* some waiters' resources were created elsewhere */
    uv_check_t check;
    uv_idle_t idle;
    uv_timer_t tick;
    int idle_active;
    uint8_t *readbuf; /* SRV_READ_BUF: every read lands here */
    uint8_t *scratch; /* SRV_BATCH_MAX: bytes read for lagging followers */
    uint8_t *sse_enc; /* SSE encoding scratch, allocated on first use */
    fbatch *batch;    /* the follower write being built */
    fbatch *free_batches;
    size_t nfree_batches;
    int closing;
    int draining; /* hfs_server_shutdown: no new work, sessions wind down */
    uv_timer_t *drain_timer;
    unsigned handles; /* open uv handles and the store; freed when this reaches 0 while closing */
    hfs_server_close_cb close_cb;
    void *close_data;
    struct ds_state *ds;   /* the Durable Streams protocol (src/ds), NULL when not served */
    const char *ds_prefix; /* its prefix, for messages */
    /* access control (src/auth): NULL when neither -auth nor -sign-key was given (all open);
     * replaced whole by hfs_server_reload */
    struct auth_rules *auth;
    char *auth_file, *key_file; /* copies of the options' file names, NULL when not given */
    /* TLS: the context new connections of -https listeners start with (NULL: no certificate);
     * replaced whole by hfs_server_reload, open sessions keep the one they began with */
    tls_ctx *tls;
    char *tls_cert, *tls_key; /* copies of the options' file names */
    uint8_t *tls_gather;      /* write pieces gathered for one SSL_write, allocated on first use */
    /* what an HTTP connection does with a request head (route.c) */
    void (*on_request)(conn *c, const struct http_request *req, uint8_t *rest, size_t rest_len);
};

/* metrics.c: what a connection of the metrics listener does with a request head */
void metrics_request(conn *c, const struct http_request *req, uint8_t *rest, size_t rest_len);

void srv_log(hfs_server *s, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
uint64_t srv_now(const hfs_server *s);
/* Counts a handle of the server's (closed with srv_on_handle_closed, which releases it). */
void srv_init_handle(hfs_server *s, uv_handle_t *h);
void srv_on_handle_closed(uv_handle_t *h);
void srv_handle_released(hfs_server *s); /* a handle's close callback ran */
void srv_conn_gone(hfs_server *s);       /* a connection was freed */

/* listen.c */
int srv_conn_new(hfs_server *s, uv_stream_t *listener, int fd); /* accept, or adopt fd */

#endif /* HFS_SERVER_SERVER_H */
