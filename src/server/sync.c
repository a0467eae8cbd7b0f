/* sync.c -- the durability policy (-sync): fdatasync on libuv's thread pool, so the loop never
 * waits for the disk. HFS_SYNC_CLOSE syncs a resource when its append session ends and only then
 * acknowledges the end (the echoed CLOSE); HFS_SYNC_INTERVAL also syncs every resource with new
 * bytes every sync_interval_ms. A sync holds a reference on its resource, so the descriptor
 * outlives it; a connection waiting for one is told by its close path that it is gone. */
#include "server/internal.h"

#include <stdlib.h>
#include <string.h>

struct srv_sync {
    uv_fs_t fs;
    hfs_server *s;
    store_res *res;
    conn *waiter;       /* NULL when nobody waits, or the waiter went away */
    srv_sync_done done; /* called with the waiter once the data is on disk (or failed) */
    unsigned code;      /* for the waiter: the close code it will echo */
};

static void sync_cb(uv_fs_t *fs)
{
    srv_sync *y = fs->data;
    hfs_server *s = y->s;

    if (fs->result < 0)
        srv_log(s, HFS_LOG_ERROR, "fdatasync /%s: %s", y->res->name, uv_strerror((int)fs->result));
    uv_fs_req_cleanup(fs);
    if (y->waiter) {
        y->waiter->sync_wait = NULL;
        y->done(y->waiter, y->code, fs->result < 0 ? (int)fs->result : 0);
    }
    store_res_unref(y->res);
    free(y);
    srv_handle_released(s);
}

int srv_sync_start(hfs_server *s, store_res *res, conn *waiter, srv_sync_done done, unsigned code)
{
    srv_sync *y = calloc(1, sizeof(*y));

    if (!y)
        return -1;
    y->s = s;
    y->res = res;
    y->waiter = waiter;
    y->done = done;
    y->code = code;
    y->fs.data = y;
    store_res_ref(res);
    res->unsynced = 0;
    if (uv_fs_fdatasync(s->loop, &y->fs, store_res_fd(res), sync_cb) != 0) {
        store_res_unref(res);
        free(y);
        return -1;
    }
    s->handles++; /* the server is not freed while a sync is in flight */
    if (waiter)
        waiter->sync_wait = y;
    return 0;
}

void srv_sync_forget(conn *c)
{
    if (c->sync_wait) {
        c->sync_wait->waiter = NULL;
        c->sync_wait = NULL;
    }
}

static void sync_tick(uv_timer_t *t)
{
    hfs_server *s = t->data;

    for (conn *c = s->conns; c; c = c->next)
        if (c->role == ROLE_APPEND && !c->u.a.ended && c->u.a.sr && c->u.a.sr->res->unsynced)
            srv_sync_start(s, c->u.a.sr->res, NULL, NULL, 0);
}

void srv_sync_timer_start(hfs_server *s)
{
    if (s->opt.sync != HFS_SYNC_INTERVAL)
        return;
    uv_timer_init(s->loop, &s->sync_timer);
    s->sync_timer.data = s;
    s->handles++;
    s->sync_timer_on = 1;
    uv_timer_start(&s->sync_timer, sync_tick, s->opt.sync_interval_ms, s->opt.sync_interval_ms);
}
