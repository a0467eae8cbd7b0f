/* backend.h -- what a store backend implements: the table of operations behind store.h, and the
 * parts of a store, a resource, a wait and a tail piece that every backend shares (so that the hot
 * calls -- size, state, hold -- are field reads, not indirect calls). Only backends include it. */
#ifndef HFS_STORE_BACKEND_H
#define HFS_STORE_BACKEND_H

#include "store/store.h"

typedef struct store_ops {
    const char *name;
    void (*close)(store *st, store_closed_cb done, void *arg);
    int (*stat)(store *st, const char *rel, store_info *out);
    int (*open)(store *st, const char *rel, store_res **out);
    int (*acquire)(store *st, const char *rel, store_res **out);
    void (*release)(store_res *res);
    void (*unref)(store_res *res); /* the last reference went */
    int (*res_stat)(store_res *res, store_info *out);
    int (*append)(store_res *res, const struct iovec *iov, int iovcnt);
    int (*when_written)(store_res *res, int kind, store_wait_cb cb, void *arg, store_wait **out);
    void (*wait_cancel)(store_wait *w);
    size_t (*peek)(store_res *res, uint64_t off, uint64_t max, store_slice *out, size_t n);
    ssize_t (*read)(store_res *res, void *buf, size_t len, uint64_t off);
    int (*meta_get)(store_res *res, store_meta *out);
    int (*meta_set)(store_res *res, const store_meta *m);
    int (*remove)(store *st, const char *rel);
    int (*list)(store *st, const char *rel, store_dirent **out, size_t *n);
    int (*healthy)(store *st); /* 1 while the backing storage is available */
} store_ops;

struct store {
    const store_ops *ops;
    store_options opt;
    store_stats stats;        /* counted by store.c and the backend */
    int shared;               /* store_shared */
    store_created_cb created; /* store_on_created */
    void *created_arg;
};

/* The shared head of every backend's resource. */
struct store_res {
    const store_ops *ops;
    store *st;
    const char *name;
    unsigned refs;
    unsigned state;    /* enum store_state_bits */
    uint64_t size;     /* readable */
    uint64_t accepted; /* readable + not yet stored */
    int err;           /* errno of the last failed write */
    int backlogged;
    store_watch_cb watch;
    void *watch_arg;
};

/* The shared head of every backend's wait. */
struct store_wait {
    store_res *res;
};

/* The shared head of a tail piece that slices point into (store_slice.hold). */
typedef struct store_piece {
    unsigned refs;
    void (*free)(struct store_piece *p);
} store_piece;

/* Tells the watcher (if any) of events. */
static inline void store_notify(store_res *res, unsigned events)
{
    if (res->watch && events)
        res->watch(res->watch_arg, res, events);
}

/* Tells the store_on_created watcher, if any, that rel appeared elsewhere. */
static inline void store_notify_created(store *st, const char *rel)
{
    if (st->created)
        st->created(st->created_arg, rel);
}

/* Logs through the store's options (levels as HFS_LOG_*). */
void store_log(store *st, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif /* HFS_STORE_BACKEND_H */
