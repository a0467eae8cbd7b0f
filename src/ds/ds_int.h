/* ds_int.h -- what the Durable Streams files share: the in-memory state of a stream (ds_stream),
 * its registry, its persistence in the resource's metadata, and the request state (ds_req).
 *
 * stream.c: registry, load/save, TTL and expiry, delete, fork references and their collection.
 * http.c:   the requests (PUT, POST, GET catch-up and long-poll, HEAD, DELETE, OPTIONS).
 * sse.c:    the Server-Sent Events reader, a follower transport on the shared fan-out path.
 * util.c:   offsets, cursors, content types, header helpers. */
#ifndef HFS_DS_INT_H
#define HFS_DS_INT_H

#include <stddef.h>
#include <stdint.h>

#include "ds/ds.h"
#include "http/text.h"
#include "server/follow.h"

#define DS_OFFSET_LEN   40                  /* "%016llu_%016llu", NUL included */
#define DS_READ_MAX     ((size_t)1 << 20)   /* bytes per catch-up or long-poll answer, about */
#define DS_PRODUCERS    1024                /* producers remembered per stream (oldest dropped) */
#define DS_IDLE_MS      30000               /* an unused stream's state leaves memory after this */
#define DS_SWEEP_MS     1000                /* expiry and eviction check */
#define DS_MAX_SAFE_INT 9007199254740991ULL /* 2^53 - 1: the largest producer epoch or seq */

typedef struct ds_producer {
    char *id;
    uint64_t epoch, seq;
    int64_t updated_ms;
} ds_producer;

typedef struct ds_stream ds_stream;
typedef struct ds_req ds_req;

struct ds_stream {
    char *rel; /* the resource's name (root-relative) */
    ds_stream *hnext;
    uint32_t hash;
    store_res *res; /* held while the state is in memory */
    /* persisted */
    char *ctype;   /* as created (echoed exactly) */
    int json;      /* application/json: messages, one per line */
    int64_t ttl_s; /* -1: none */
    char *expires_raw;
    int64_t expires_ms; /* 0: none */
    int64_t created_ms;
    int closed;
    int closed_by_set; /* the producer tuple that closed it */
    char *cb_id;
    uint64_t cb_epoch, cb_seq;
    char *last_seq; /* Stream-Seq, NULL: none yet */
    ds_producer *prods;
    size_t nprods;
    char *fork_from; /* NULL: not a fork */
    uint64_t fork_off, fork_sub;
    uint64_t refs; /* forks made from this stream that still exist */
    int soft_deleted;
    /* in memory */
    int64_t last_access_ms;
    int64_t last_used_ms;
    uint64_t tail; /* committed: every append up to here is stored and was answered */
    unsigned busy; /* requests using it (appends in flight, long-polls, creation) */
    ds_req *polls; /* long-polls waiting at the tail */
    int gone;      /* deleted: out of the registry, freed when busy drops to 0 */
    int creating;  /* a PUT is still writing its initial bytes */
};

/* A request whose answer is not given at once. */
struct ds_req {
    conn *c; /* NULL once answered or once its connection went */
    struct ds_state *d;
    int method;
    int started; /* PUT/POST: the body was in and the request decided */
    char *rel;
    char *path, *host; /* for Location */
    ds_stream *ds;     /* held (busy) */
    /* body */
    uint8_t *body;
    size_t len, cap;
    int too_big;
    /* waiting for a write */
    store_wait *wait;
    uint64_t end;  /* the offset after the append */
    uint8_t *snap; /* the metadata blob to save once stored, or NULL */
    size_t snap_len;
    int snap_closed;
    int status;  /* the answer prepared */
    textbuf hdr; /* its headers */
    /* a stream being created: the lease, and a fork's inherited bytes being copied */
    store_res *wres;
    int copy_failed;
    ds_stream *src;
    uint64_t copy_off, copy_end;
    uint8_t *init; /* the initial body to append after the copy */
    size_t init_len;
    /* long-poll */
    ds_req *pnext, *pprev; /* in ds->polls */
    ds_req *tnext, *tprev; /* in the timeout queue */
    uint64_t poll_off;
    int64_t deadline_ms;
    int now;         /* offset=now */
    char cursor[24]; /* the cursor parameter, "" when none */
};

/* Per server. */
typedef struct ds_state {
    hfs_server *srv;
    char *prefix; /* "/v1/stream", no trailing slash */
    size_t prefix_len;
    ds_stream **buckets;
    size_t nbuckets, count;
    uv_timer_t sweep;      /* expiry, eviction */
    uv_timer_t polls;      /* the earliest long-poll deadline */
    ds_req *thead, *ttail; /* long-polls by deadline (all wait as long) */
    int closing;
} ds_state;

/* ---- stream.c ---- */
enum ds_lookup { DS_FOUND = 0, DS_NONE = 1, DS_NATIVE = 2, DS_ERR = 3 };
/* Finds the stream rel (loading it from the store), with expired ones gone. Returns enum
 * ds_lookup; *out is set for DS_FOUND (soft-deleted ones included: the caller checks). */
int ds_lookup(ds_state *d, const char *rel, ds_stream **out);
/* A new stream's state (not in the store yet): registered, busy 1. */
ds_stream *ds_stream_new(ds_state *d, const char *rel);
void ds_hold(ds_stream *ds);
void ds_put(ds_state *d, ds_stream *ds);
int ds_expired(const ds_stream *ds, int64_t now);
void ds_touch(ds_stream *ds);
/* The metadata blob of ds's state; malloc'd. */
uint8_t *ds_blob(const ds_stream *ds, size_t *len);
/* Saves the state now (with blob, when given, in place of the current one). STORE_OK or error. */
int ds_save(ds_state *d, ds_stream *ds, const uint8_t *blob, size_t blob_len, int closed);
/* Deletes ds: soft when forks still read it, else removes it and releases its source. 0 or a
 * store_err. */
int ds_delete(ds_state *d, ds_stream *ds);
/* Producer state of id, or NULL. */
ds_producer *ds_producer_find(ds_stream *ds, const char *id, size_t len);
int ds_producer_set(ds_stream *ds, const char *id, size_t len, uint64_t epoch, uint64_t seq);
int64_t ds_now_ms(void);

/* ---- http.c ---- */
void ds_polls_wake(ds_state *d, ds_stream *ds); /* new data, closed or gone: answer them */
void ds_polls_timeout(ds_state *d);

/* ---- sse.c ---- */
extern const follow_transport follow_ds_sse;
enum ds_enc { DS_ENC_TEXT = 0, DS_ENC_JSON = 1, DS_ENC_BASE64 = 2 };
/* Starts an SSE reader of ds at off on r's connection (the head is written here). */
int ds_sse_start(route *r, ds_stream *ds, uint64_t off, const char *cursor);

/* ---- util.c ---- */
void ds_offset_fmt(uint64_t pos, char out[DS_OFFSET_LEN]);
/* Parses "<digits>_<digits>" into the byte position. 0, or -1 when malformed or too large. */
int ds_offset_parse(const char *s, size_t n, uint64_t *pos);
/* The Stream-Cursor to answer for the request's cursor parameter (may be ""). */
uint64_t ds_cursor_next(const char *cursor);
/* The media type of a Content-Type value, lowercased, without parameters, into out. */
void ds_media_type(const char *v, size_t n, char *out, size_t cap);
int ds_is_json_type(const char *ctype);
/* 1 when two Content-Type values name the same media type (case and parameters aside). */
int ds_same_media_type(const char *a, size_t an, const char *b, size_t bn);
int ds_sse_encoding(const char *ctype);
/* The headers every answer carries (CORS and security). */
#define DS_COMMON_HEADERS                                                                          \
    "X-Content-Type-Options: nosniff\r\n"                                                          \
    "Cross-Origin-Resource-Policy: cross-origin\r\n"                                               \
    "Access-Control-Allow-Origin: *\r\n"                                                           \
    "Access-Control-Allow-Methods: GET, POST, PUT, DELETE, HEAD, OPTIONS\r\n"                      \
    "Access-Control-Allow-Headers: content-type, authorization, if-none-match, Stream-Seq, "       \
    "Stream-TTL, Stream-Expires-At, Stream-Closed, Producer-Id, Producer-Epoch, Producer-Seq, "    \
    "Stream-Forked-From, Stream-Fork-Offset, Stream-Fork-Sub-Offset\r\n"                           \
    "Access-Control-Expose-Headers: Stream-Next-Offset, Stream-Cursor, Stream-Up-To-Date, "        \
    "Stream-Closed, Producer-Epoch, Producer-Seq, Producer-Expected-Seq, Producer-Received-Seq, "  \
    "ETag, Content-Type, Location, Stream-SSE-Data-Encoding, Stream-TTL, Stream-Expires-At, "      \
    "WWW-Authenticate\r\n"

/* 1 when the header is present (value and length then set). */
const char *ds_header(const route *r, const char *name, size_t *len);
int ds_header_true(const route *r, const char *name);
/* Parses ^(0|[1-9][0-9]*)$ (ttl, sub-offset) or ^[0-9]+$ (loose) up to max. 0 or -1. */
int ds_parse_uint(const char *s, size_t n, int strict, uint64_t max, uint64_t *out);
/* RFC 3339 into Unix ms. 0 or -1. */
int ds_parse_time(const char *s, size_t n, int64_t *ms);

#endif /* HFS_DS_INT_H */
