/* batch.h -- one follower write: the bytes a follower is behind (up to SRV_BATCH_MAX), framed by
 * its transport, written with one writev. Payload comes from the store's in-memory tail by
 * reference (the same bytes go to every follower, nothing is copied) or, for a follower behind
 * the tail, read into a scratch buffer. The write is tried at once; only when the socket cannot
 * take it all does the batch move to the heap (holding the tail pieces it points into, copying
 * scratch bytes) and wait for libuv. So a follower holds at most one batch. */
#ifndef HFS_SERVER_BATCH_H
#define HFS_SERVER_BATCH_H

#include "server/follow.h"

#define SRV_BATCH_FRAMES 32  /* frames per follower write */
#define SRV_BATCH_SLICES 8   /* tail slices per follower write */
#define SRV_SMALL_WRITE  512 /* batches up to this size are gathered into one buffer */
#define SRV_BATCH_IOV    (SRV_BATCH_FRAMES * 2 + SRV_BATCH_SLICES)
#define SRV_FRAME_HDR    10                /* server frame header: no mask, <= 64-bit length */
#define SRV_ROUND_BUDGET ((size_t)4 << 20) /* bytes per follower per round (> one read round) */

struct fbatch {
    uv_write_t req;
    conn *c;
    uint64_t payload; /* stream bytes this write carries */
    uint8_t *copy;    /* owned copy of scratch bytes, or NULL */
    int nrefs;
    int nbufs;
    void *refs[SRV_BATCH_SLICES]; /* held tail pieces (store_slice.hold) */
    uv_buf_t bufs[SRV_BATCH_IOV];
    uint8_t hdrs[SRV_BATCH_FRAMES][SRV_FRAME_HDR];
    uint8_t small[SRV_SMALL_WRITE];
    void (*done)(conn *c, uint64_t payload, int status); /* the queued write finished */
    fbatch *next_free;
};

/* Where a transport's framing is in the batch's slices. */
struct batch_cursor {
    const store_slice *sl;
    size_t ns, i, off;
};

/* Builds the follower's next batch (at most up to limit); returns its payload bytes, 0 (nothing
 * whole to send yet), or -1 (the bytes cannot be read). */
int64_t batch_build(conn *c, uint64_t limit, int stream_end);
/* Writes the built batch: 1 written, 0 queued (done() follows), -1 failed. */
int batch_send(conn *c, void (*done)(conn *c, uint64_t payload, int status));
void batch_free_all(hfs_server *s);
int batch_init(hfs_server *s);

/* For transports. */
fbatch *batch_current(conn *c);
void batch_take(batch_cursor *cur, fbatch *b, size_t len);          /* by reference */
void batch_copy(batch_cursor *cur, uint8_t *out, size_t len);       /* into out */
void batch_peek(const batch_cursor *cur, uint8_t *out, size_t len); /* into out, not taken */
size_t batch_utf8_whole(const batch_cursor *cur, size_t len, int is_last);
uint8_t *batch_sse_buffer(hfs_server *s); /* SSE encoding scratch */
/* Adds out[0..len), text encoded in the SSE scratch (SRV_FRAME_HDR bytes free before it, 2 after),
 * to the batch: as one chunk for a chunked follower. */
void batch_add_encoded(conn *c, char *out, size_t len);
#define SSE_ENC_MAX (((size_t)32 * 1024) * 7 + 1024)

#endif /* HFS_SERVER_BATCH_H */
