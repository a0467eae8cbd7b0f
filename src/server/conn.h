/* conn.h -- a client connection: its socket, its deadlines and output bound, and what it does,
 * chosen by an operations table per kind of connection (HTTP, WebSocket appender, follower).
 * conn.c knows nothing of the kinds: it reads, writes, times out and closes, and tells the
 * connection's table. */
#ifndef HFS_SERVER_CONN_H
#define HFS_SERVER_CONN_H

#include "server/server.h"
#include "server/access.h"
#include "server/append.h"
#include "server/follow.h"
#include "server/tls.h"

/* What a kind of connection does with the events conn.c sees. NULL entries do nothing. */
typedef struct conn_ops {
    const char *name;                               /* for logs */
    int (*on_start)(conn *c);                       /* accepted: set up (-1: close it) */
    void (*on_data)(conn *c, uint8_t *p, size_t n); /* bytes read (in the shared read buffer) */
    void (*on_eof)(conn *c);                        /* the peer sent FIN (or the read failed) */
    void (*on_timeout)(conn *c);                    /* its deadline passed (default: close) */
    void (*heartbeat)(conn *c);      /* quiet for ping_interval (NULL: no keepalive, no liveness) */
    void (*on_out_drained)(conn *c); /* queued output fell under the bound (default: read) */
    void (*on_drain)(conn *c);       /* graceful shutdown: wind down */
    void (*on_goodbye)(conn *c);     /* the server closes now: a last word (CLOSE 1001) */
    void (*on_stop)(conn *c);        /* closing or lingering: give back what it holds */
    void (*on_closed)(conn *c);      /* the socket is closed: free the kind's state */
} conn_ops;

struct conn {
    uv_tcp_t tcp; /* first: the handle's address is the conn's */
    hfs_server *srv;
    const conn_ops *ops;
    conn *prev, *next;    /* in hfs_server.conns */
    uint64_t last_tx_ms;  /* last write to the peer; pings go out after ping_interval of quiet */
    uint64_t deadline_ms; /* the kind's on_timeout when reached; 0: none */
    uint64_t probe_ms;    /* next liveness check of a keepalive peer */
    uint8_t closing;      /* uv_close was called: no more work */
    uint8_t stopped;      /* on_stop ran */
    uint8_t ws_closed;    /* our WebSocket CLOSE went out */
    uint8_t lingering;    /* writes shut down; input is drained until EOF or the deadline */
    uint8_t reading;
    uint8_t out_paused;   /* not read while its queued output is over SRV_OUT_MAX */
    uint8_t peer_eof;     /* the peer half-closed: finish what it asked for, then close */
    uint8_t metrics;      /* accepted on a -metrics listener: routed by metrics_request */
    size_t tick_queued;   /* queued output bytes seen at the last tick */
    uint64_t progress_ms; /* last time queued output moved: a slow reader is not idle */
    char peer[56];        /* "addr:port" for logs */
    uint64_t tx_bytes;    /* bytes queued to the peer so far (plaintext, over TLS) */
    conn_access acc;      /* the request being served, for hfs_server_options.access */
    tls_conn *tls;        /* NULL for plain TCP: every TLS step is behind this check */
    http_conn *http;      /* while it speaks HTTP */
    union {
        appender a; /* a WebSocket appender, or the body of a PUT/POST */
        follower f;
    } u;
};

/* A response's status, counted by class unless it answers a metrics scrape. */
static inline void conn_count_status(conn *c, int status)
{
    if (!c->metrics)
        c->srv->m.status[status >= 100 && status < 600 ? status / 100 : 0]++;
}

int conn_start(hfs_server *s, uv_tcp_t *tcp, const conn_ops *ops);
void conn_become(conn *c, const conn_ops *ops); /* an upgrade: the kind changes */
void conn_close(conn *c);                       /* abort: uv_close now */
void conn_linger(conn *c); /* shut down writes once queued ones are out, drain input, close */
void conn_read_start(conn *c);
void conn_read_stop(conn *c);
int conn_write_copy(conn *c, const void *p, size_t n); /* try_write, the rest copied and queued */
/* A write of a TLS connection: when the queued part of it is out (status < 0: it failed, or the
 * connection closed first). Runs on every queued write, closing or not. */
typedef void (*conn_sent_cb)(conn *c, void *arg, int status);
/* Encrypts bufs as one record set (small pieces gathered) and sends the ciphertext: tried at once
 * when try_first, the rest queued (its buffer handed over, not copied). Returns 1 (all sent now:
 * cb never runs), 0 (queued: cb runs once it is out) or a negative UV code (cb never runs). */
int conn_write_tls(conn *c, const uv_buf_t *bufs, unsigned n, int try_first, conn_sent_cb cb,
                   void *arg);
size_t conn_queued(conn *c);     /* output bytes queued, not yet taken by the socket */
void conn_out_check(conn *c);    /* after queueing a reply to input: stop reading while over */
void conn_out_progress(conn *c); /* a write finished: resume reading once under the bound */
void conn_on_tick(conn *c, uint64_t now);

#endif /* HFS_SERVER_CONN_H */
