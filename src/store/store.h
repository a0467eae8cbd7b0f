/* store.h -- resources under a root directory: safe resolution beneath the root, the registry of
 * open resources (size, appender slot, a bounded in-memory tail of recent bytes), appends, and
 * reads at an offset. Files only: no sockets, no event loop.
 *
 * This is the narrow interface a second backend would implement: acquire/release the single
 * appender slot, append, size, read at an offset (peek the tail or pread), and watch for growth
 * (the caller learns of growth from its own store_append calls and from the `data` hook it hangs on
 * a resource).
 *
 * Ownership: a store_res is reference counted. The appender slot holds one reference, each follower
 * holds one; the resource leaves the registry and closes its file when the last one is dropped.
 * Tail chunks are reference counted too, so a write in flight can keep pointing into a chunk after
 * the tail has moved past it. Not thread-safe: one loop uses one store. */
#ifndef HFS_STORE_H
#define HFS_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>

enum store_err {
    STORE_OK = 0,
    STORE_ENOENT = -1,  /* no such resource (or a parent is a file, when reading) */
    STORE_EISDIR = -2,  /* APPEND: the path is a directory */
    STORE_ENOTDIR = -3, /* APPEND: a parent is a file */
    STORE_EBUSY = -4,   /* APPEND: the resource already has an active appender */
    STORE_EDENIED = -5, /* outside the root (a symlink leads out), not a regular file, no access */
    STORE_EIO = -6,     /* a file-system error; errno says which */
    STORE_ENOMEM = -7,
    STORE_EFULL = -8,  /* the append would take the resource past its maximum size */
    STORE_EAGAIN = -9, /* out of file descriptors (EMFILE, ENFILE) for now: try again later */
    STORE_ENAMETOOLONG = -10, /* APPEND: a path component is longer than the file system allows */
};

typedef struct store store;

typedef struct store_chunk {
    /* read-only */
    uint64_t start; /* resource offset of data[0] */
    size_t len;     /* bytes filled; only the newest chunk still grows */
    /* private */
    size_t cap;
    unsigned refs;
    struct store_chunk *next; /* the next newer chunk */
    uint8_t data[];
} store_chunk;

typedef struct store_res {
    /* public */
    void *data;   /* the server's per-resource state; the store never touches it */
    int unsynced; /* set by every append; cleared by whoever starts an fdatasync */
    /* read-only */
    uint64_t size;    /* bytes in the file: what followers may be sent */
    uint64_t staged;  /* bytes accepted into the tail after size, not yet in the file */
    int appending;    /* an appender holds the slot */
    const char *name; /* root-relative path (as first opened), for logs */
    /* private */
    store *st;
    int fd;         /* O_RDWR | O_APPEND, or O_RDONLY while only readers opened it */
    uint8_t rdonly; /* fd is read-only */
    dev_t dev;
    ino_t ino;
    unsigned refs;
    store_chunk *oldest, *newest; /* the in-memory tail covers [oldest->start, size) */
    size_t tail_bytes;
    struct store_res *hnext; /* registry hash chain */
} store_res;

/* A piece of the tail handed out by store_peek. */
typedef struct store_slice {
    store_chunk *chunk;
    const uint8_t *p;
    size_t len;
} store_slice;

/* What store_open_read found: a regular file or a directory. */
typedef struct store_file {
    int fd;          /* owned by the caller: close it */
    struct stat st;  /* S_ISREG or S_ISDIR */
    store_res *live; /* the registry entry if the file is open for appending (a reference the caller
                        must drop with store_res_unref), else NULL */
} store_file;

typedef struct store_options {
    size_t tail_max;   /* recent bytes kept in memory per resource; 0 keeps none */
    uint64_t size_max; /* 0: unlimited */
} store_options;

/* Opens root (which must exist). Returns STORE_OK, STORE_ENOENT, STORE_EIO or STORE_ENOMEM. */
int store_new(const char *root, const store_options *o, store **out);

/* Frees the store; every resource must have been released. Accepts NULL. */
void store_free(store *st);

/* Opens rel (clean, root-relative, no leading '/'; "" is the root itself; a trailing '/' requires a
 * directory) for reading, never resolving outside the root. Returns STORE_OK, STORE_ENOENT,
 * STORE_EDENIED or STORE_EIO. */
int store_open_read(store *st, const char *rel, store_file *out);

/* Takes the appender slot of rel, creating the file (0600) and its parent directories (0755) when
 * missing; nothing is created when the slot is taken. Returns STORE_OK and a reference in *out, or
 * STORE_EBUSY, STORE_EISDIR, STORE_ENOTDIR, STORE_EDENIED, STORE_EIO, STORE_ENOMEM. */
int store_acquire(store *st, const char *rel, store_res **out);

/* Returns a reference to the registry entry of the existing regular file rel (created without
 * taking the appender slot), so that followers can read it like a live resource. Returns STORE_OK,
 * STORE_ENOENT, STORE_EISDIR, STORE_EDENIED, STORE_EIO or STORE_ENOMEM. */
int store_open_res(store *st, const char *rel, store_res **out);

/* Gives the appender slot back and drops its reference. */
void store_release(store_res *res);

void store_res_ref(store_res *res);
void store_res_unref(store_res *res);

/* Appends the bytes of iov to the file (all of them, retrying short writes), then to the tail.
 * *written is how many reached the file, also on failure; the size advances by exactly that.
 * Returns STORE_OK, STORE_EIO (errno set: ENOSPC, EFBIG, EIO, ...) or STORE_EFULL (nothing written:
 * the bytes would pass the maximum size). */
int store_append(store_res *res, const struct iovec *iov, int iovcnt, size_t *written);

/* Write-behind. Copies the bytes of iov into the tail as staged: accepted, not yet in the file,
 * and not visible to store_peek. Returns STORE_OK, STORE_EFULL (past the maximum size: nothing
 * staged) or STORE_ENOMEM (nothing staged). Needs tail_max > 0. */
int store_stage(store_res *res, const struct iovec *iov, int iovcnt);

/* Describes up to max staged bytes, oldest first, as at most niov vectors, taking a reference on
 * each chunk they lie in (refs must hold niov entries). Sets *nvec and *nrefs; returns the bytes.
 * Another thread may write them to store_res_fd() while this thread goes on staging. */
size_t store_staged_iov(store_res *res, size_t max, struct iovec *iov, int niov, int *nvec,
                        store_chunk **refs, int *nrefs);

/* n staged bytes (the oldest) reached the file: the size advances over them. */
void store_staged_written(store_res *res, size_t n);

/* Writing failed: the staged bytes are dropped and the tail ends at the size again. Returns how
 * many were dropped. */
uint64_t store_staged_drop(store_res *res);

/* Describes up to max bytes of the resource from off as slices of the in-memory tail (at most
 * nmax). Returns the number of slices; 0 when off is at the end or before the tail (then use
 * store_pread). The slices stay valid until the loop runs again; store_chunk_ref one to keep it. */
size_t store_peek(const store_res *res, uint64_t off, uint64_t max, store_slice *out, size_t nmax);

/* The file descriptor, for an fdatasync on another thread (hold a reference meanwhile). */
int store_res_fd(const store_res *res);

/* Reads up to len bytes at off from the file. Returns the count (short only at the end of the
 * file), or STORE_EIO with errno set. */
ssize_t store_pread(const store_res *res, void *buf, size_t len, uint64_t off);

void store_chunk_ref(store_chunk *c);
void store_chunk_unref(store_chunk *c);

/* One directory entry for listings. */
typedef struct store_dirent {
    char *name;
    int is_dir;
    uint64_t size;
    int live; /* has an active appender */
} store_dirent;

/* Lists the directory open at fd (not consumed), sorted by name, "." and ".." left out.
 * Returns STORE_OK with a malloc'd array (free with store_dirents_free), or STORE_EIO/ENOMEM. */
int store_list(store *st, int fd, store_dirent **out, size_t *n);
void store_dirents_free(store_dirent *d, size_t n);

/* A short description of a store_err for logs. */
const char *store_strerror(int err);

#endif /* HFS_STORE_H */
