/* store.h -- the resource layer: everything the protocols know of the bytes they serve.
 *
 * A store is one backend instance behind a table of operations (backend.h), the way Redis' ae
 * hides its pollers: the file store (store_file_new, under a root directory) is the first; a
 * replicated one plugs in the same way. Nothing above this header knows which one runs.
 *
 * A resource (store_res) is an opaque, reference-counted handle shared by everyone using one
 * resource: the writer that holds its lease and every reader. What it offers:
 * - look-up (store_stat): what a GET needs, without opening anything for long;
 * - the single-writer lease (store_acquire / store_release), exclusive across every server
 *   using the same backing data, not only within this process;
 * - append with asynchronous completion: store_append accepts bytes (they are then the writer's
 *   to lose only with the machine); they become readable once the backend has stored them, and
 *   store_when_written calls back once every byte accepted so far is stored, or durable under
 *   the store's sync policy;
 * - reads at an offset: by peeking shared in-memory slices of the recent tail (zero copy: hold a
 *   slice's piece while a write points into it), or by copying (store_read);
 * - watch: one callback per resource, told when the readable size advances, the lease is taken or
 *   released, the stream is closed for good, a write failed, or a backlog drained, whoever caused
 *   it;
 * - metadata kept with the resource (content type, closed flag, created and expiry times, an
 *   opaque protocol blob): it survives a crash and a restart, and is never listed or served;
 * - delete and list.
 *
 * Three states matter to transports: STORE_LEASED (a writer holds the lease), STORE_CLOSED (the
 * stream is closed for good: no writer will ever append again) and STORE_OPEN (a stream that is
 * live until closed, whoever writes it and when).
 *
 * Watchers are called synchronously: from inside store_append, store_acquire, store_release and
 * store_meta_set for what those calls change, and from the loop for what completes later.
 *
 * What one store knows: the lease is exclusive across every store on the same backing data, but
 * events and the live state of a resource reach only the store whose handles caused them, unless
 * the backend says otherwise (the file store does not watch files for changes made by others).
 * Released, the lease stays unavailable to other stores until the writer's accepted bytes are
 * stored, so that the next writer appends after them.
 *
 * Threads: one event loop uses one store; every call and every callback happens on that loop (a
 * loop may run several stores). */
#ifndef HFS_STORE_H
#define HFS_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>

enum store_err {
    STORE_OK = 0,
    STORE_ENOENT = -1,  /* no such resource (or a parent is a file, when reading) */
    STORE_EISDIR = -2,  /* the path is a directory */
    STORE_ENOTDIR = -3, /* APPEND: a parent is a file */
    STORE_EBUSY = -4,   /* APPEND: another writer holds the lease */
    STORE_EDENIED = -5, /* outside the root, not a regular file, no access */
    STORE_EIO = -6,     /* a storage error; store_res_errno / errno says which */
    STORE_ENOMEM = -7,
    STORE_EFULL = -8,         /* the append would take the resource past its maximum size */
    STORE_EAGAIN = -9,        /* out of file descriptors (EMFILE, ENFILE) for now */
    STORE_ENAMETOOLONG = -10, /* a path component is longer than names may be */
    STORE_ECLOSED = -11,      /* the stream is closed for good: nothing more may be appended */
};

/* What store_state reports. */
enum store_state_bits {
    STORE_LEASED = 1, /* a writer holds the lease */
    STORE_CLOSED = 2, /* closed for good */
    STORE_OPEN = 4,   /* a stream (store_meta.stream) not closed yet: live until it is closed,
                         whether or not a writer holds the lease */
};

/* What a watcher is told (a bit set). */
enum store_event {
    STORE_EV_GROWN = 1,   /* the readable size advanced */
    STORE_EV_LEASE = 2,   /* the lease was taken or released */
    STORE_EV_CLOSED = 4,  /* the stream was closed for good */
    STORE_EV_FAILED = 8,  /* storing failed: accepted bytes not yet stored were dropped; the
                             writer must end (store_res_errno says why) */
    STORE_EV_DRAINED = 16 /* the write backlog fell low again: a paused writer may go on */
};

/* The durability policy: when store_when_written(..., STORE_WAIT_DURABLE) completes. */
enum store_sync {
    STORE_SYNC_NONE = 0,     /* stored (in the page cache, for files) is enough */
    STORE_SYNC_CLOSE = 1,    /* flushed to stable storage (fdatasync) */
    STORE_SYNC_INTERVAL = 2, /* as CLOSE, and leased resources are flushed every interval */
};

enum store_wait_kind {
    STORE_WAIT_WRITTEN = 0, /* the bytes accepted so far are stored (readable) */
    STORE_WAIT_DURABLE = 1, /* ... and durable under the sync policy */
};

typedef struct store store;
typedef struct store_res store_res;
typedef struct store_wait store_wait;

/* A piece of the in-memory tail: p[0..len) of the resource. hold keeps it alive (store_hold /
 * store_unhold) after the loop runs again; without a hold the bytes are valid until then. */
typedef struct store_slice {
    void *hold;
    const uint8_t *p;
    size_t len;
} store_slice;

/* What store_stat and store_res_stat report. */
typedef struct store_info {
    int is_dir;
    uint64_t size;         /* readable bytes */
    unsigned state;        /* enum store_state_bits */
    struct timespec mtime; /* last change of the bytes; {0, 0} when unknown */
    uint64_t id;           /* identity within the store (for validators) */
} store_info;

/* Metadata kept with a resource. Strings and blob are owned by the struct (store_meta_free).
 * closed is for good: once set, it stays set whatever later metadata says. stream marks a
 * resource whose life is explicit (created, appended to by many requests, closed): it is live
 * (STORE_OPEN) until closed, not only while a writer holds the lease. */
typedef struct store_meta {
    char *content_type; /* NULL when unset */
    int closed;         /* closed for good */
    int stream;         /* live until closed (STORE_OPEN) */
    int64_t created_ms; /* Unix ms; 0 when unset */
    int64_t expires_ms; /* Unix ms; 0 when none */
    uint8_t *blob;      /* protocol state, opaque here */
    size_t blob_len;
} store_meta;

#define STORE_META_MAX ((size_t)64 * 1024) /* content type (without NUL) + blob, at most */

/* One directory entry for listings. */
typedef struct store_dirent {
    char *name;
    int is_dir;
    uint64_t size;
    int live; /* a writer holds the lease */
    struct timespec mtime;
} store_dirent;

typedef void (*store_watch_cb)(void *arg, store_res *res, unsigned events);
typedef void (*store_wait_cb)(void *arg, int err); /* err: STORE_OK or a store_err */
typedef void (*store_log_fn)(void *data, int level, const char *line);

/* Options every backend understands. */
typedef struct store_options {
    void *loop;        /* the uv_loop_t the store runs on */
    size_t tail_max;   /* recent bytes kept in memory per resource, about; 0 keeps none */
    uint64_t size_max; /* 0: unlimited */
    int sync;          /* enum store_sync */
    unsigned sync_interval_ms;
    store_log_fn log; /* may be NULL; levels as HFS_LOG_* */
    void *log_data;
} store_options;

/* What a store counts for monitoring: plain counters, bumped on the loop's thread. */
typedef struct store_stats {
    uint64_t appended;     /* bytes accepted by store_append */
    uint64_t write_errors; /* writes that failed (their bytes were dropped) */
    uint64_t sync_errors;  /* fdatasync calls that failed */
} store_stats;

/* The counters so far (a copy). */
void store_get_stats(const store *st, store_stats *out);

/* The file store: resources are files under root (which must exist). Returns STORE_OK,
 * STORE_ENOENT, STORE_EIO or STORE_ENOMEM. */
int store_file_new(const char *root, const store_options *o, store **out);

/* Frees the store once every resource was released and every job finished (call store_close
 * first, then run the loop until done() is called). */
typedef void (*store_closed_cb)(void *arg);
void store_close(store *st, store_closed_cb done, void *arg);

/* ---- look-up and handles --------------------------------------------------------------------- */

/* rel is a clean root-relative path: no leading '/', no "." or ".." components; "" is the root; a
 * trailing '/' names a directory. */

/* What is at rel: a resource or a directory. STORE_OK, STORE_ENOENT, STORE_EDENIED, STORE_EIO. */
int store_stat(store *st, const char *rel, store_info *out);

/* A handle on the existing resource rel, for reading and following. STORE_OK, STORE_ENOENT,
 * STORE_EISDIR, STORE_EDENIED, STORE_EAGAIN, STORE_EIO, STORE_ENOMEM. */
int store_open(store *st, const char *rel, store_res **out);

/* Takes the writer's lease on rel, creating the resource (and its parents) when missing; nothing
 * is created when the lease is taken elsewhere. Returns a handle in *out, or STORE_EBUSY,
 * STORE_EISDIR, STORE_ENOTDIR, STORE_EDENIED, STORE_ENAMETOOLONG, STORE_ECLOSED, STORE_EAGAIN,
 * STORE_EIO, STORE_ENOMEM. */
int store_acquire(store *st, const char *rel, store_res **out);

/* Gives the lease back and drops the writer's reference. Bytes accepted are still stored. */
void store_release(store_res *res);

void store_res_ref(store_res *res);
void store_res_unref(store_res *res);

const char *store_res_name(const store_res *res); /* rel as first opened, for logs */
int store_res_stat(store_res *res, store_info *out);
unsigned store_state(const store_res *res);    /* enum store_state_bits */
uint64_t store_size(const store_res *res);     /* readable (stored) bytes */
uint64_t store_accepted(const store_res *res); /* readable + accepted, not yet stored */
int store_res_errno(const store_res *res);     /* why the last write failed (an errno) */

/* ---- append (lease holder) --------------------------------------------------------------------
 */

/* Accepts the bytes of iov, all or none: STORE_OK, STORE_EFULL (past the maximum size),
 * STORE_ECLOSED, STORE_ENOMEM, or STORE_EIO (errno set) when storing failed at once. A watcher may
 * be called before this returns (STORE_EV_GROWN, STORE_EV_FAILED). */
int store_append(store_res *res, const struct iovec *iov, int iovcnt);

/* 1 while so much waits to be stored that the writer should stop sending (STORE_EV_DRAINED
 * follows). */
int store_backlogged(const store_res *res);

/* Asks for cb(arg, err) once every byte accepted so far is stored (kind STORE_WAIT_WRITTEN), or
 * also durable under the sync policy (STORE_WAIT_DURABLE); err is STORE_EIO when they never will
 * be. Returns 1 when the callback will come (later, never from inside this call; *w is the wait,
 * to cancel if arg goes away first), 0 when that is already so (no callback), or STORE_ENOMEM. */
int store_when_written(store_res *res, int kind, store_wait_cb cb, void *arg, store_wait **w);
void store_wait_cancel(store_wait *w); /* cb will not be called */

/* ---- read ---------------------------------------------------------------------------------------
 */

/* Describes up to max readable bytes from off as slices of the in-memory tail (at most n).
 * Returns the count; 0 when off is at the end or before the tail (then store_read). */
size_t store_peek(store_res *res, uint64_t off, uint64_t max, store_slice *out, size_t n);
void store_hold(void *hold);
void store_unhold(void *hold);

/* Copies up to len readable bytes at off. Returns the count (short only at the end), or
 * STORE_EIO with errno set. */
ssize_t store_read(store_res *res, void *buf, size_t len, uint64_t off);

/* ---- watch
 * --------------------------------------------------------------------------------------- */

/* Sets the resource's watcher (cb NULL: none). One per resource: the server's fan-out state. */
void store_watch(store_res *res, store_watch_cb cb, void *arg);
void *store_watcher(const store_res *res); /* its arg, or NULL */

/* ---- metadata
 * ------------------------------------------------------------------------------------- */

/* Fills *out (zeroed when the resource has none). STORE_OK, STORE_ENOMEM, STORE_EIO. */
int store_meta_get(store_res *res, store_meta *out);
/* Replaces the metadata, durably; setting closed tells the watcher (STORE_EV_CLOSED). STORE_OK,
 * STORE_EFULL (over STORE_META_MAX), STORE_EIO, STORE_ENOMEM. */
int store_meta_set(store_res *res, const store_meta *m);
void store_meta_free(store_meta *m);

/* ---- namespace
 * ------------------------------------------------------------------------------------ */

/* Removes the resource rel and its metadata; handles still open keep reading what they had.
 * STORE_OK, STORE_ENOENT, STORE_EISDIR, STORE_EBUSY (leased), STORE_EDENIED, STORE_EIO. */
int store_remove(store *st, const char *rel);

/* Lists the directory rel, sorted by name. STORE_OK with a malloc'd array (store_dirents_free),
 * STORE_ENOENT, STORE_EDENIED, STORE_EIO, STORE_ENOMEM. */
int store_list(store *st, const char *rel, store_dirent **out, size_t *n);
void store_dirents_free(store_dirent *d, size_t n);

/* 1 while the store's backing storage is available (a replicated store: connected), else 0:
 * appends and opens then fail with STORE_EIO. */
int store_healthy(store *st);

/* Tells cb(arg, rel) when a resource appears that another store on the same data created, as a
 * backend whose stores tell each other learns of it (the NATS store does: a writer's `begin` on
 * another node); cb NULL: nobody. The file store never calls it. Called on the loop, from inside
 * the backend's work: cb must not call the store back; note rel and act later. */
typedef void (*store_created_cb)(void *arg, const char *rel);

/* 1 when other servers change the data too and their changes reach this store's handles (the
 * NATS store): state a protocol keeps beside a resource must be read again before it is trusted,
 * not only at first use. 0 for the file store. */
int store_shared(const store *st);
void store_on_created(store *st, store_created_cb cb, void *arg);

/* A short description of a store_err for logs. */
const char *store_strerror(int err);

#endif /* HFS_STORE_H */
