/* internal.h -- the server's private types: connections and their roles (HTTP, appender, follower),
 * per-resource fan-out state, and the functions the server's files share. Only src/server includes
 * uv.h. */
#ifndef HFS_SERVER_INTERNAL_H
#define HFS_SERVER_INTERNAL_H

#include <stdint.h>
#include <sys/uio.h>
#include <uv.h>

#include "http/request.h"
#include "http/static.h"
#include "httpfstream.h"
#include "store/store.h"
#include "ws/ws.h"

#define SRV_READ_BUF      ((size_t)256 * 1024) /* the one read buffer: reads are handled in turn */
#define SRV_BATCH_MAX     ((size_t)128 * 1024) /* payload bytes per follower write */
#define SRV_BATCH_FRAMES  32                   /* frames per follower write */
#define SRV_ROUND_BUDGET  ((size_t)4 << 20)    /* bytes per follower per round (> one read round) */
#define SRV_BATCH_SLICES  8                    /* tail slices per follower write */
#define SRV_SMALL_WRITE   512                  /* batches up to this size are gathered */
#define SRV_BATCH_IOV     (SRV_BATCH_FRAMES * 2 + SRV_BATCH_SLICES)
#define SRV_FRAME_HDR     10   /* server frame header: no mask, <= 64-bit length */
#define SRV_TICK_MS       500  /* housekeeping: pings, deadlines, liveness */
#define SRV_WS_CLOSE_WAIT 5000 /* after our CLOSE, wait this long for the peer's */
#define SRV_LINGER_MS     2000 /* after a final response, drain input this long */
/* Queued output above which a connection's input is not read (pipelined requests, PINGs): what
 * one connection can make the server hold is bounded by what it reads. Reading resumes below half.
 */
#define SRV_OUT_MAX ((size_t)256 * 1024)

typedef struct conn conn;
typedef struct srv_res srv_res;
typedef struct fbatch fbatch;
typedef struct srv_sync srv_sync;
typedef struct wb_job wb_job;
typedef struct append_wait append_wait;

#define WB_IOV 32 /* vectors per write-behind job */

/* One write-behind job: staged bytes of a resource on their way to its file (wb.c). */
struct wb_job {
    uv_work_t req;
    srv_res *sr;
    store_res *res;
    struct iovec iov[WB_IOV];
    store_chunk *refs[WB_IOV];
    int niov, nrefs;
    size_t len, written;
    int err;
};

/* Called when a sync a connection waits for has finished (err 0 or a negative uv error). */
typedef void (*srv_sync_done)(conn *c, unsigned code, int err);

/* Fan-out state of one live resource, hung on store_res.data. Exists while an appender or a
 * follower uses the resource. */
struct srv_res {
    hfs_server *srv;
    store_res *res;
    wb_job *wb_job;         /* the write-behind job in flight (&wb), or NULL */
    wb_job wb;              /* its storage: one job per resource, never allocated apart */
    srv_sync *sync_queue;   /* syncs (and waiters) for after the staged bytes are written */
    uint8_t reading_paused; /* the appender is not read while too much waits to be written */
    conn *followers;        /* list through follower.prev/next */
    size_t nfollowers;
    conn *appender;      /* NULL once the appender has left */
    srv_res *dirty_next; /* in hfs_server.dirty while followers may have bytes to send */
    uint8_t dirty;
};

/* One follower write in flight: frame headers and the references that keep its payload alive.
 * Built in hfs_server.batch; copied to the heap only when the socket could not take it at once. */
struct fbatch {
    uv_write_t req;
    conn *c;
    uint64_t payload; /* stream bytes this write carries */
    uint8_t *copy;    /* owned copy of bytes read from the file, or NULL */
    int nrefs;
    int nbufs;
    store_chunk *refs[SRV_BATCH_SLICES];
    uv_buf_t bufs[SRV_BATCH_IOV];
    uint8_t hdrs[SRV_BATCH_FRAMES][SRV_FRAME_HDR];
    uint8_t small[SRV_SMALL_WRITE]; /* a small batch gathered into one buffer: one write(2) */
    fbatch *next_free;
};

/* How a follower's bytes travel. */
enum follow_kind {
    FOLLOW_WS_TEXT = 0,   /* WebSocket TEXT frames (the original's) */
    FOLLOW_WS_BINARY = 1, /* WebSocket BINARY frames */
    FOLLOW_HTTP = 2,      /* a plain HTTP response body (chunked on HTTP/1.1) */
    FOLLOW_SSE = 3,       /* Server-Sent Events */
};

/* What route.c decided for a new follower. */
typedef struct follow_params {
    int kind;             /* enum follow_kind */
    int chunked;          /* HTTP kinds: chunked transfer coding */
    uint64_t offset;      /* first stream byte to send */
    const char *wait_rel; /* no resource yet: the path to wait for */
} follow_params;

typedef struct follower {
    srv_res *sr;       /* NULL while waiting for the resource to exist */
    conn *prev, *next; /* in sr->followers, or in hfs_server.waiters while waiting */
    uint64_t offset;   /* next stream byte to send */
    uint64_t end;      /* UINT64_MAX while the appender is present, then the final size */
    fbatch *inflight;  /* the data write in flight, at most one */
    uint8_t kind;      /* enum follow_kind */
    uint8_t chunked;   /* HTTP kinds: chunked transfer coding */
    uint8_t attached;  /* linked into a list */
    char *wait_rel;    /* waiting: the root-relative path */
    ws_decoder dec;
} follower;

typedef struct appender {
    srv_res *sr;
    uint64_t received; /* bytes appended in this session */
    uint8_t ended;     /* the slot was released */
    uint8_t created;   /* HTTP appends: the resource did not exist before (201) */
    ws_decoder dec;
} appender;

/* HTTP request/response state; allocated while the connection speaks HTTP. */
typedef struct http_conn {
    http_parser parser;
    char *pending; /* input held back while a response is being written */
    size_t pending_len;
    uint8_t responding;  /* a response is being written */
    uint8_t msg_done;    /* the current request's message (and body) was fully read */
    uint8_t close_after; /* close the connection once the response is written */
    uint8_t head_seen;   /* the current request's head arrived */
    uint8_t is_head;     /* the request is HEAD: no body */
    uint8_t in_feed;     /* feed() is running: it picks up the next request itself */
    uint8_t started;     /* bytes of the current request arrived (its head deadline runs) */
    uint8_t appending;   /* the body is being appended (PUT/POST): c->u.a is the appender */
    uint8_t held;        /* response written; the next waits for queued output to drain */
    append_wait *await;  /* holding the slot until the previous writer's bytes are written */
    int file_fd;         /* file body in progress, or -1 */
    http_static_plan *plan;
    size_t part;       /* next plan part */
    uint64_t part_off; /* bytes of that part already sent */
    uint8_t part_prefix_sent;
} http_conn;

enum conn_role {
    ROLE_HTTP = 0, /* requests and plain responses */
    ROLE_APPEND,   /* a WebSocket appender */
    ROLE_FOLLOW,   /* a WebSocket follower */
};

struct conn {
    uv_tcp_t tcp; /* first: the handle's address is the conn's */
    hfs_server *srv;
    conn *prev, *next;    /* in hfs_server.conns */
    uint64_t last_tx_ms;  /* last write to the peer; pings go out after ping_interval of quiet */
    uint64_t deadline_ms; /* close when reached; 0: none */
    uint64_t probe_ms;    /* next liveness check of a WebSocket peer */
    uint8_t role;         /* enum conn_role */
    uint8_t closing;      /* uv_close was called: no more work */
    uint8_t ws_closed;    /* our CLOSE went out */
    uint8_t lingering;    /* writes shut down; input is drained until EOF or the deadline */
    uint8_t reading;
    uint8_t out_paused;   /* not read while its queued output is over SRV_OUT_MAX */
    uint8_t peer_eof;     /* the peer half-closed: finish what it asked for, then close */
    size_t tick_queued;   /* queued output bytes seen at the last tick */
    uint64_t progress_ms; /* last time queued output moved: a slow reader is not idle */
    char peer[56];        /* "addr:port" for logs */
    srv_sync *sync_wait;  /* the fdatasync this connection waits for before acknowledging */
    http_conn *http;      /* ROLE_HTTP only */
    union {
        follower f;
        appender a;
    } u;
};

struct hfs_server {
    uv_loop_t *loop;
    hfs_server_options opt;
    char *root, *prefix;
    store *st;
    uv_tcp_t **listeners;
    size_t nlisteners;
    int port;
    conn *conns;
    size_t nconns;
    uint64_t refused;           /* connections turned away over max_conns */
    uint64_t accept_errors;     /* accept() failures (out of descriptors) */
    uint64_t accept_logged_ms;  /* when those were last logged */
    uint64_t refused_logged_ms; /* when that was last logged */
    srv_res *dirty;             /* resources whose followers may have bytes to send */
    conn *waiters;              /* followers waiting for their resource to be created */
    uv_check_t check;
    uv_idle_t idle;
    uv_timer_t tick;
    uv_timer_t sync_timer; /* HFS_SYNC_INTERVAL */
    int sync_timer_on;
    int idle_active;
    uint8_t *readbuf; /* SRV_READ_BUF: every read lands here */
    uint8_t *scratch; /* SRV_BATCH_MAX: file bytes for lagging followers */
    uint8_t *sse_enc; /* SSE encoding scratch, allocated on first use */
    fbatch batch;     /* the follower write being built */
    fbatch *free_batches;
    size_t nfree_batches;
    int closing;
    int draining; /* hfs_server_shutdown: no new work, sessions wind down */
    uv_timer_t *drain_timer;
    unsigned handles; /* open uv handles; the server is freed when this reaches 0 while closing */
    hfs_server_close_cb close_cb;
    void *close_data;
};

/* server.c */
void srv_log(hfs_server *s, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
uint64_t srv_now(const hfs_server *s);
void srv_handle_released(hfs_server *s); /* a handle's close callback ran */
void srv_conn_gone(hfs_server *s);       /* a connection was freed */
void srv_mark_dirty(srv_res *sr);

/* conn.c: lifetime, reads, writes */
int conn_start(hfs_server *s, uv_tcp_t *tcp);
void conn_close(conn *c);  /* abort: uv_close now */
void conn_linger(conn *c); /* shut down writes once queued ones are out, drain input, close */
void conn_read_start(conn *c);
void conn_read_stop(conn *c);
int conn_write_copy(conn *c, const void *p, size_t n); /* try_write, the rest copied and queued */
size_t conn_queued(conn *c); /* output bytes queued, not yet taken by the socket */
void conn_out_check(
    conn *c); /* after queueing a reply to input: stop reading while over the bound */
void conn_out_progress(conn *c); /* a write finished: resume reading once under the bound */
void conn_on_tick(conn *c, uint64_t now);
void conn_upgraded(conn *c, int role, const uint8_t *rest, size_t rest_len);

/* http_conn.c: the HTTP role */
int http_conn_init(conn *c);
void http_conn_free(conn *c);
void http_conn_on_data(conn *c, const uint8_t *p, size_t n);
void http_conn_on_eof(conn *c);
void http_conn_on_timeout(conn *c);
void http_respond_simple(conn *c, int status, const char *extra_headers, const char *ctype,
                         const char *body, size_t body_len);
void http_respond_error(conn *c, int status, const char *body);
void http_respond_file(conn *c, int fd, const http_static_plan *plan);
void http_response_done(conn *c);
void http_conn_out_drained(conn *c); /* queued output fell under the bound */
void http_conn_resume(conn *c);      /* go on with input held back (route.c waited) */

/* http_append.c: PUT/POST bodies appended */
void http_append_start(conn *c, srv_res *sr, int created);
void http_append_body(conn *c, const uint8_t *p, size_t n);
void http_append_done(conn *c);
void http_append_failed(conn *c, int err); /* write-behind failed for this body's bytes */

/* route.c: the verbs */
void route_request(conn *c, const http_request *req, uint8_t *rest, size_t rest_len);
void route_append_wait_free(append_wait *w);

/* ws_conn.c: WebSocket plumbing shared by appenders and followers */
int ws_send_control(conn *c, unsigned opcode, const void *payload, size_t len);
int ws_send_close(conn *c, unsigned code, const char *reason);
int ws_handshake_response(conn *c, const http_request *req, int binary_proto, const char *extra);
void ws_on_peer_close(conn *c, unsigned code);

/* append.c */
int append_start(conn *c, store_res *res, const uint8_t *rest, size_t rest_len);
void append_on_data(conn *c, uint8_t *p, size_t n);
void append_end(conn *c, unsigned code, const char *reason);
void append_on_close(conn *c);
void append_drain(conn *c);                 /* shutdown: 1001 once what was read is written */
void append_write_failed(conn *c, int err); /* write-behind failed for this appender's bytes */

/* follow.c: follower sessions */
int follow_start(conn *c, store_res *res, const follow_params *fp, const uint8_t *rest,
                 size_t rest_len); /* res NULL: wait for fp->wait_rel */
void follow_on_data(conn *c, uint8_t *p, size_t n);
void follow_send_pending(conn *c);
void follow_write_done(conn *c, uint64_t payload, int status);
void follow_on_close(conn *c);
void follow_flush_dirty(hfs_server *s);
void follow_session_ended(srv_res *sr);
void follow_drain(conn *c);     /* shutdown: send what the file has, then end */
void follow_heartbeat(conn *c); /* quiet for ping_interval: PING, or an SSE comment */
void follow_wake_waiters(hfs_server *s, const char *rel, store_res *res);

/* batch.c: one follower write */
int64_t batch_build(conn *c, uint64_t limit, int stream_end); /* payload bytes, 0, or -1 */
int batch_send(conn *c); /* 1 written, 0 queued (follow_write_done follows), -1 failed */
void fbatch_free_all(hfs_server *s);

/* wb.c: write-behind */
int wb_enabled(const hfs_server *s);
int wb_stage(conn *c, srv_res *sr, const struct iovec *iov, int iovcnt); /* a store_err */
void wb_kick(hfs_server *s, srv_res *sr);

/* sync.c: the durability policy, and waiting for written-behind bytes */
int srv_sync_start(hfs_server *s, store_res *res, conn *waiter, srv_sync_done done, unsigned code);
/* Calls done(waiter, code, 0) once the bytes staged so far are in the file (without an
 * fdatasync), or with UV_EIO when a failed write dropped them. */
int srv_sync_written(hfs_server *s, store_res *res, conn *waiter, srv_sync_done done,
                     unsigned code);
/* After a write-behind job: the queued syncs whose bytes are now in the file, detached, and their
 * start (callbacks may end sessions and free the resource's fan-out state). */
srv_sync *srv_sync_take_ready(store_res *res);
void srv_sync_issue(srv_sync *list);
void srv_sync_forget(conn *c); /* the waiter is going away */
void srv_sync_timer_start(hfs_server *s);

/* res.c: srv_res lifetime */
srv_res *srv_res_get(hfs_server *s, store_res *res);
void srv_res_maybe_free(hfs_server *s, srv_res *sr);

#endif /* HFS_SERVER_INTERNAL_H */
