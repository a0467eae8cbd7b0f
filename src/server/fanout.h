/* fanout.h -- what the server keeps per live resource: its followers, its appender, and whether
 * followers may have bytes to send. It is the resource's watcher: the store tells it when the
 * readable size advances, the lease changes, the stream is closed, a write failed or a backlog
 * drained, whoever caused it, and it tells the sessions. Exists while an appender or a follower
 * uses the resource. */
#ifndef HFS_SERVER_FANOUT_H
#define HFS_SERVER_FANOUT_H

#include "server/server.h"

struct srv_res {
    hfs_server *srv;
    store_res *res;
    conn *followers; /* list through follower.prev/next */
    size_t nfollowers;
    conn *appender;      /* NULL while no session of ours holds the lease */
    srv_res *dirty_next; /* in hfs_server.dirty while followers may have bytes to send */
    uint8_t dirty;
};

srv_res *fanout_get(hfs_server *s, store_res *res); /* the resource's, made on first use */
void fanout_maybe_free(srv_res *sr);                /* once nobody uses it */
void fanout_mark_dirty(srv_res *sr);
/* The stream's end for a follower joining now: UINT64_MAX while a writer may still append. */
uint64_t fanout_end(const srv_res *sr);

#endif /* HFS_SERVER_FANOUT_H */
