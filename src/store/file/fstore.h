/* fstore.h -- the file store's private types: resources are files under a root directory, opened
 * beneath it only (beneath.c), kept in a registry keyed by (device, inode) while in use
 * (fstore.c), with a bounded in-memory tail of recent bytes (tail.c), written behind on libuv's
 * thread pool (writer.c), waited for and flushed under the sync policy (sync.c), with metadata in
 * a hidden directory beside them (meta.c). */
#ifndef HFS_STORE_FILE_FSTORE_H
#define HFS_STORE_FILE_FSTORE_H

#include <sys/stat.h>
#include <uv.h>

#include "store/backend.h"

#define FS_HIDDEN      ".httpfstream" /* the root's entry holding metadata: never listed or served */
#define FS_PATH_MAX    4096
#define FS_CHUNK_BYTES ((size_t)64 * 1024) /* one malloc per tail chunk, header included */
#define FS_JOB_IOV     32                  /* vectors per write-behind job */

typedef struct fstore fstore;
typedef struct fres fres;
typedef struct fwait fwait;

/* A piece of the tail. */
typedef struct fchunk {
    store_piece piece; /* refs: the tail's own, and each hold */
    uint64_t start;    /* resource offset of data[0] */
    size_t len;        /* bytes filled; only the newest chunk still grows */
    size_t cap;
    struct fchunk *next; /* the next newer chunk */
    uint8_t data[];
} fchunk;

/* One write-behind job: staged bytes on their way to the file. */
typedef struct fjob {
    uv_work_t req;
    fres *res;
    struct iovec iov[FS_JOB_IOV];
    fchunk *refs[FS_JOB_IOV];
    int niov, nrefs;
    size_t len, written;
    int err;
} fjob;

struct fres {
    store_res base;
    int fd;              /* O_RDWR | O_APPEND, or O_RDONLY while only readers opened it */
    uint8_t rdonly;      /* fd is read-only */
    uint8_t locked;      /* the OFD write lock (the lease across processes) is held on fd */
    uint8_t job_on;      /* the write-behind job is in flight */
    uint8_t unsynced;    /* bytes written since the last fdatasync */
    uint8_t meta_loaded; /* meta_gen is known */
    int64_t meta_gen[2]; /* each metadata slot's generation, -1: none (meta.c) */
    int meta_fd[2];      /* the slot files, once written to; -1: not open */
    dev_t dev;
    ino_t ino;
    fchunk *oldest, *newest; /* the tail covers [oldest->start, accepted) */
    size_t tail_bytes;
    fjob job;     /* one job at a time keeps the bytes in order */
    fwait *waits; /* waiting for staged bytes to be written */
    fres *hnext;  /* registry hash chain */
    fres *lnext;  /* in fstore.leased */
    char name[];
};

struct fwait {
    store_wait base;
    store_wait_cb cb; /* NULL once cancelled */
    void *arg;
    int datasync;
    uint64_t upto; /* the size to reach */
    uv_fs_t fs;
    fwait *next;
};

struct fstore {
    store base;
    uv_loop_t *loop;
    int root_fd;
    int no_openat2;
    fres **buckets;
    size_t nbuckets, count;
    fres *leased;     /* resources whose lease is held: the interval sync walks them */
    unsigned pending; /* jobs and syncs in flight */
    uv_timer_t timer; /* STORE_SYNC_INTERVAL */
    int timer_on;
    int closing;
    store_closed_cb closed_cb;
    void *closed_arg;
};

#define FS(st)  ((fstore *)(st))
#define FR(res) ((fres *)(res))

/* beneath.c */
int fs_rel_valid(const char *rel); /* clean, below the root, not the hidden entry */
int fs_name_too_long(const char *rel);
int fs_open_beneath(fstore *fs, const char *rel, int flags, mode_t mode);
int fs_make_parents(fstore *fs, const char *rel); /* a store_err */
int fs_map_read_errno(int e);
int fs_map_write_errno(int e);

/* fstore.c */
fres *fs_registry_find(const fstore *fs, dev_t dev, ino_t ino);
void fs_pending_done(fstore *fs); /* a job or sync finished */
void fs_lease_unlink(fres *r);

/* ns.c */
int fs_remove(store *st, const char *rel);
int fs_list(store *st, const char *rel, store_dirent **out, size_t *n);

/* tail.c */
void fs_tail_clear(fres *r);
int fs_tail_put(fres *r, const uint8_t *p, size_t n, uint64_t at);
size_t fs_peek(store_res *res, uint64_t off, uint64_t max, store_slice *out, size_t n);
size_t fs_staged_iov(fres *r, size_t max, struct iovec *iov, int niov, int *nvec, fchunk **refs,
                     int *nrefs);
uint64_t fs_staged_drop(fres *r);           /* back to the readable size */
uint64_t fs_tail_cut(fres *r, uint64_t at); /* accepted bytes from at on are dropped */

/* writer.c */
int fs_append(store_res *res, const struct iovec *iov, int iovcnt);
void fs_writer_idle(fres *r); /* the lease went: release the lock once the bytes are written */

/* sync.c */
int fs_when_written(store_res *res, int kind, store_wait_cb cb, void *arg, store_wait **out);
void fs_wait_cancel(store_wait *w);
void fs_waits_ready(fres *r); /* after a write: the waits it satisfied */
int fs_sync_now(fres *r);     /* an fdatasync nobody waits for (0, or -1) */
void fs_timer_start(fstore *fs);
void fs_timer_stop(fstore *fs);

/* meta.c */
int fs_meta_get(store_res *res, store_meta *out);
int fs_meta_set(store_res *res, const store_meta *m);
int fs_meta_load_state(fres *r); /* reads the closed flag into base.state */
int fs_meta_remove(fstore *fs, const char *rel);
void fs_meta_close(fres *r); /* closes the slot files */
unsigned fs_meta_state(fstore *fs,
                       const char *rel); /* STORE_CLOSED / STORE_OPEN from the metadata */

#endif /* HFS_STORE_FILE_FSTORE_H */
