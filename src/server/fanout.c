/* fanout.c -- the fan-out state of a live resource (fanout.h), and its watch on the store: the
 * store says what changed, whoever changed it, and the sessions hear of it here. */
#include "server/fanout.h"

#include <stdlib.h>

#include "server/conn.h"

void fanout_mark_dirty(srv_res *sr)
{
    if (sr->dirty || sr->nfollowers == 0)
        return;
    hfs_server *s = sr->srv;
    sr->dirty = 1;
    sr->dirty_next = s->dirty;
    s->dirty = sr;
}

uint64_t fanout_end(const srv_res *sr)
{
    /* No writer, and not a stream that stays open until closed: the stream is what was accepted
     * (followers get it once it is stored). */
    return store_state(sr->res) & (STORE_LEASED | STORE_OPEN) ? UINT64_MAX
                                                              : store_accepted(sr->res);
}

static void on_store_event(void *arg, store_res *res, unsigned ev)
{
    srv_res *sr = arg;

    if (ev & (STORE_EV_GROWN | STORE_EV_CLOSED))
        fanout_mark_dirty(sr);
    if ((ev & (STORE_EV_LEASE | STORE_EV_CLOSED)) &&
        !(store_state(res) & (STORE_LEASED | STORE_OPEN)))
        follow_set_end(sr, store_accepted(res), 0); /* the writer left, or the stream closed */
    if ((ev & STORE_EV_DRAINED) && sr->appender && !sr->appender->u.a.ended)
        conn_read_start(sr->appender);
    if (ev & STORE_EV_FAILED) {
        /* Accepted bytes were dropped: the stream ends where the stored bytes do. The writer's
         * session ends last: that may free sr. */
        follow_set_end(sr, store_size(res), 1);
        if (!store_healthy(sr->srv->st)) /* the storage went away (NATS): an error, not an end */
            follow_fail_all(sr, "storage unavailable");
        if (sr->appender)
            append_store_failed(sr->appender);
    }
}

srv_res *fanout_get(hfs_server *s, store_res *res)
{
    srv_res *sr = store_watcher(res);

    if (!sr) {
        sr = calloc(1, sizeof(*sr));
        if (!sr)
            return NULL;
        sr->srv = s;
        sr->res = res;
        s->m.live_resources++;
        store_watch(res, on_store_event, sr);
    }
    return sr;
}

void fanout_maybe_free(srv_res *sr)
{
    hfs_server *s = sr->srv;

    if (sr->appender || sr->nfollowers)
        return;
    if (sr->dirty) {
        for (srv_res **pp = &s->dirty; *pp; pp = &(*pp)->dirty_next) {
            if (*pp == sr) {
                *pp = sr->dirty_next;
                break;
            }
        }
    }
    store_watch(sr->res, NULL, NULL);
    s->m.live_resources--;
    free(sr);
}
