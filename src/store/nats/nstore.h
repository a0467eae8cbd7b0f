/* nstore.h -- the NATS store's private types.
 *
 * Threads: libnats calls back on its own threads (consumer messages, publish acks, connection
 * events, lease-bucket updates); those callbacks only push events onto the store's queue (a mutex,
 * a condition variable and a uv_async_t). Everything else runs on the loop: the applier pops the
 * queue and applies, writers publish and count acks, the tick renews leases and checks health.
 *
 * Files: conn.c (connect, stream and bucket, the tick, health, close), queue.c (the hand-over),
 * applier.c (the per-name table and the rules every node applies in stream order), lease.c
 * (acquire, release, renew, lapse), writer.c (append, publish, acks, retries, waits), ops.c
 * (handles, reads and the namespace over the inner file store), codec.c (names to subject tokens,
 * the metadata format, the applied-state file). */
#ifndef HFS_STORE_NATS_NSTORE_H
#define HFS_STORE_NATS_NSTORE_H

#include <nats/nats.h>
#include <pthread.h>
#include <uv.h>

#include "store/backend.h"
#include "store/nats/nats_store.h"

#define NS_WID_MAX       48                   /* a writer id: node id, '-', a counter */
#define NS_CHUNK         ((size_t)256 * 1024) /* bytes per data message at most */
#define NS_QUEUE_MAX     ((size_t)16 << 20)   /* consumer bytes queued for the loop */
#define NS_BATCH_BYTES   ((size_t)4 << 20)    /* applied per loop iteration at most */
#define NS_INFLIGHT_HIGH ((size_t)8 << 20)    /* unacked bytes that make a writer backlogged */
#define NS_INFLIGHT_LOW  ((size_t)2 << 20)    /* ... and that end it */
#define NS_INFLIGHT_MSGS 1024                 /* unacked messages, likewise */
#define NS_API_MS        2000                 /* one synchronous JetStream call at most */
#define NS_ACK_MS        2000                 /* an asynchronous publish's ack at most */
#define NS_RETRY_MS      250                  /* between republishing attempts */
#define NS_RETRY_MAX_MS  10000                /* a writer fails after this long without acks */
#define NS_DOWN_MS       2000                 /* disconnected this long: unavailable */
#define NS_DRAIN_MS      2000                 /* a synchronous drain at most */
#define NS_TOKEN_MAX     1024                 /* subject token (base64url of the name) */

typedef struct nstore nstore;
typedef struct nent nent;
typedef struct nres nres;
typedef struct nwriter nwriter;

enum nev_kind { NEV_MSG, NEV_ACK, NEV_CONN, NEV_KV };

/* One event from a libnats thread to the loop. */
typedef struct nev {
    struct nev *next;
    int kind;
    natsMsg *msg; /* NEV_MSG, NEV_ACK (the published message), NEV_KV */
    size_t bytes; /* NEV_MSG: counted against NS_QUEUE_MAX */
    uint64_t seq; /* NEV_ACK: the stream sequence (0 on error) */
    int err;      /* NEV_ACK: a natsStatus; NEV_CONN: 0 disconnected, 1 reconnected, 2 closed */
    int errcode;  /* NEV_ACK: a jsErrCode */
} nev;

/* The applier's state of one name, and the link to its handle. */
struct nent {
    nent *hnext;
    char *name;              /* rel */
    char *token;             /* base64url of name: the subject's last token, the lease key */
    char *subj;              /* PREFIX.r.TOKEN */
    char writer[NS_WID_MAX]; /* the current writer in stream order, "" when none */
    store_res *iw;           /* the applier's inner lease while a writer is current */
    int lapsed;              /* the current (remote) writer's key was not renewed or deleted */
    int64_t kv_seen_ms;      /* when the current writer's key was last seen put */
    nres *res;               /* the handle in use, or NULL */
    nwriter *local;          /* this store's writer of the name, or NULL */
    int pin;                 /* in use by a call on the stack or a job: not freed */
    /* A remote writer suspected gone (its key deleted or not renewed) lapses only once this
     * store applied the stream up to the subject's last message then: its bytes first. */
    int lapse_checking; /* the subject's last sequence is being looked up */
    int lapse_known;    /* lapse_seq is it */
    unsigned lapse_gen; /* bumped when the writer shows life or changes: a lookup is stale */
    uint64_t lapse_seq; /* lapsed once applied reaches it */
};

/* A handle: the inner file store's handle, mirrored. */
struct nres {
    store_res base;
    store_res *in; /* the inner handle (readers' and the mirror's) */
    nent *ent;     /* NULL once the name was removed */
    nwriter *w;    /* the writer holding the lease through this handle */
    struct nwait *waits;
    unsigned notified; /* STORE_EV_FAILED told while unavailable */
    uint64_t pending;  /* accepted by this store's writers, released or not: readable later */
    char name[];
};

typedef struct nwait {
    store_wait base;
    store_wait_cb cb;
    void *arg;
    uint64_t upto;
    struct nwait *next;
} nwait;

/* A published data message not acked yet (kept to republish). */
typedef struct nmsgrec {
    struct nmsgrec *next;
    uint64_t off;
    size_t len;
    int acked;
    uint8_t data[];
} nmsgrec;

struct nwriter {
    nstore *ns;
    nent *ent;
    nres *res;     /* the writer's handle (one reference) */
    nwriter *next; /* nstore.writers */
    char id[NS_WID_MAX];
    uint64_t rev;         /* the lease key's revision */
    uint64_t accepted;    /* next offset */
    nmsgrec *cur;         /* being filled, not published yet (NS_CHUNK of room) */
    nmsgrec *head, *tail; /* published, in order */
    size_t unacked_bytes;
    unsigned unacked_msgs;
    uint64_t acked_end;   /* every byte before it is acked */
    uint64_t max_ack_seq; /* the highest sequence an ack named */
    uint32_t gen;         /* publishing attempt: acks of older ones are ignored */
    int retrying;
    int64_t retry_at_ms, fail_at_ms;
    int failed, released, end_sent, closing, fenced;
    int busy; /* thread-pool jobs holding it */
    int renewing;
    int64_t renew_ok_ms, renew_start_ms;
};

struct nstore {
    store base;
    uv_loop_t *loop;
    store *inner;
    char *root, *stream, *prefix, *bucket, *kvprefix; /* kvprefix: "$KV.BUCKET." */
    int replicas;
    unsigned lease_ms;
    int lock_fd;
    int lib_on;
    nstore *grave_next; /* conn.c: kept until libnats is closed */
    char node[20];
    uint64_t wcount;

    natsConnection *nc;
    jsCtx *js;
    kvStore *kv;
    natsSubscription *sub, *kvsub;

    pthread_mutex_t mu;
    pthread_cond_t cv_space, cv_data;
    nev *qhead, *qtail;
    size_t qbytes;
    int qclosing;
    int nc_closed; /* the connection's closed callback ran: no more callbacks */
    uv_async_t async;
    uv_timer_t tick;
    uv_idle_t idle;
    int idle_on;

    uint64_t applied;  /* the last stream sequence applied */
    uint64_t saved;    /* the one in the applied-state file */
    uint64_t want_seq; /* this store's last own `end`: applied before closing */
    uint64_t cand;     /* being saved once the inner store wrote it */
    int cand_waits, cand_on;
    char *cand_text; /* the state file for cand */

    nent **buckets;
    size_t nbuckets, count;
    nwriter *writers;

    int connected;
    int resub, resub_on; /* the consumer is to be made again, is being made */
    int64_t resub_at_ms;
    int severed; /* store_nats_sever: a crash, as NATS sees it */
    int64_t down_since_ms;
    int healthy;
    unsigned nres_open;
    unsigned jobs; /* renewals on the thread pool: closing waits for them */
    int closing, closed_inner;
    store_closed_cb closed_cb;
    void *closed_arg;
};

#define NS(st)  ((nstore *)(st))
#define NR(res) ((nres *)(res))

int64_t ns_now_ms(void);

/* codec.c */
char *ns_token_encode(const char *name);          /* malloc'd, NULL on ENOMEM */
char *ns_token_decode(const char *tok, size_t n); /* malloc'd, NULL when malformed */
int ns_meta_encode(const store_meta *m, uint8_t **out, size_t *len);
int ns_meta_decode(const uint8_t *p, size_t n, store_meta *out); /* 0, or -1 when malformed */
int ns_state_load(nstore *ns);
char *ns_state_snapshot(nstore *ns, uint64_t seq); /* the file's text, malloc'd */
int ns_state_write(nstore *ns, const char *text, uint64_t seq);

/* queue.c */
void ns_queue_push(nstore *ns, nev *e);
nev *ns_queue_pop(nstore *ns, int wait_ms);
void ns_handle_event(nstore *ns, nev *e);
void ns_on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *closure);
void ns_on_kv(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *closure);
void ns_on_ack(jsCtx *js, natsMsg *m, jsPubAck *pa, jsPubAckErr *pae, void *closure);
void ns_on_disconnected(natsConnection *nc, void *closure);
void ns_on_reconnected(natsConnection *nc, void *closure);
void ns_on_closed(natsConnection *nc, void *closure);
void ns_async_cb(uv_async_t *a);

/* conn.c */
int ns_down(const nstore *ns); /* 1 while unavailable */
/* Unavailable now: every writer fails, every watched handle is told STORE_EV_FAILED. */
void ns_go_down(nstore *ns);
void ns_idle_start(nstore *ns);
void ns_tick_persist(nstore *ns);
void ns_close_store(store *st, store_closed_cb done, void *arg);
void ns_maybe_done(nstore *ns);

/* applier.c */
nent *ns_ent_find(nstore *ns, const char *name);
nent *ns_ent_get(nstore *ns, const char *name); /* creates; NULL on ENOMEM */
void ns_ent_maybe_free(nstore *ns, nent *e);
void ns_ents_free(nstore *ns);
void ns_apply(nstore *ns, natsMsg *m);
int ns_drain_until(nstore *ns, uint64_t seq, int ms); /* 0, or -1 on timeout */
void ns_drain_some(nstore *ns, size_t max_bytes);
int ns_ent_leased(const nstore *ns, const nent *e);
void ns_ent_changed(nent *e); /* LEASED may have changed: tell the handle */
nwriter *ns_local_writer(nstore *ns, const char *id);

/* lease.c */
int ns_acquire(store *st, const char *rel, store_res **out);
void ns_release(store_res *res);
void ns_lease_tick(nstore *ns, int64_t now);
void ns_kv_event(nstore *ns, natsMsg *m);
void ns_writer_finish(nwriter *w); /* released and everything sent: end, delete the key, free */
void ns_writer_free(nwriter *w);
int ns_publish_sync(nstore *ns, nent *e, const char *kind, const char *wid, uint64_t off,
                    const void *data, size_t len, uint64_t expect, int expect_set, uint64_t *seq,
                    int *jerr);

/* writer.c */
int ns_append(store_res *res, const struct iovec *iov, int iovcnt);
int ns_when_written(store_res *res, int kind, store_wait_cb cb, void *arg, store_wait **out);
void ns_wait_cancel(store_wait *w);
void ns_waits_ready(nres *r);
void ns_waits_fail(nres *r, int err);
void ns_flush_all(nstore *ns);
void ns_writer_flush(nwriter *w);
void ns_ack(nstore *ns, nev *e);
void ns_writer_fail(nwriter *w, int err, const char *why);
void ns_writers_check(nstore *ns); /* after applying: fenced writers, gaps */
void ns_writer_retry_tick(nwriter *w, int64_t now);
int ns_writer_settle(nwriter *w, int ms); /* everything published and acked: 0, or -1 */
/* Walking the writers while callbacks may finish some: pinned ones are finished at unpin (and
 * released ones too when finish_released). */
void ns_writers_pin(nstore *ns);
void ns_writers_unpin(nstore *ns, int finish_released);

/* ops.c */
extern const store_ops ns_ops;
int ns_res_get(nstore *ns, nent *e, const char *rel, nres **out); /* a new reference */
void ns_res_sync(nres *r);                                        /* size and state from inner */

#endif /* HFS_STORE_NATS_NSTORE_H */
