/* sync.c -- the durability policy (-sync): fdatasync on libuv's thread pool, so the loop never
 * waits for the disk. HFS_SYNC_CLOSE syncs a resource when its append session ends and only then
 * acknowledges the end (the echoed CLOSE, or the HTTP answer); HFS_SYNC_INTERVAL also syncs every
 * resource with new bytes every sync_interval_ms. A sync asked for while bytes are still being
 * written behind (wb.c) waits until they are in the file; an HTTP append's answer waits the same
 * way (srv_sync_written, without an fdatasync). A sync holds a reference on its resource, so the
 * descriptor outlives it; a connection waiting for one is told by its close path that it is
 * gone. */
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
    int datasync;       /* 0: only wait for the staged bytes to be written */
    uint64_t upto;      /* the resource size to wait for: what was accepted when asked */
    srv_sync *next;     /* in the resource's queue while staged bytes are being written */
};

/* The sync (or wait) is over: tell the waiter, release everything. */
static void finish(srv_sync *y, int err)
{
    hfs_server *s = y->s;

    if (y->waiter) {
        y->waiter->sync_wait = NULL;
        y->done(y->waiter, y->code, err);
    }
    store_res_unref(y->res);
    free(y);
    srv_handle_released(s);
}

static void sync_cb(uv_fs_t *fs)
{
    srv_sync *y = fs->data;
    int err = fs->result < 0 ? (int)fs->result : 0;

    if (err)
        srv_log(y->s, HFS_LOG_ERROR, "fdatasync /%s: %s", y->res->name, uv_strerror(err));
    uv_fs_req_cleanup(fs);
    finish(y, err);
}

/* The file has every staged byte (or a failed write dropped the rest): issue the fdatasync, or
 * just report. */
static void issue(srv_sync *y)
{
    if (y->upto > y->res->size) {
        finish(y, UV_EIO); /* what it waited for never reached the file */
        return;
    }
    if (!y->datasync) {
        finish(y, 0);
        return;
    }
    y->res->unsynced = 0;
    if (uv_fs_fdatasync(y->s->loop, &y->fs, store_res_fd(y->res), sync_cb) != 0)
        finish(y, UV_EIO);
}

static int start(hfs_server *s, store_res *res, conn *waiter, srv_sync_done done, unsigned code,
                 int datasync)
{
    srv_sync *y = calloc(1, sizeof(*y));
    srv_res *sr = res->data;

    if (!y)
        return -1;
    y->s = s;
    y->res = res;
    y->waiter = waiter;
    y->done = done;
    y->code = code;
    y->datasync = datasync;
    y->fs.data = y;
    store_res_ref(res);
    s->handles++; /* the server is not freed while a sync is pending */
    if (waiter)
        waiter->sync_wait = y;
    if (sr && res->staged) {
        y->upto = res->size + res->staged; /* after the bytes staged so far are written */
        y->next = sr->sync_queue;
        sr->sync_queue = y;
        return 0;
    }
    issue(y);
    return 0;
}

int srv_sync_start(hfs_server *s, store_res *res, conn *waiter, srv_sync_done done, unsigned code)
{
    return start(s, res, waiter, done, code, 1);
}

int srv_sync_written(hfs_server *s, store_res *res, conn *waiter, srv_sync_done done, unsigned code)
{
    return start(s, res, waiter, done, code, 0);
}

srv_sync *srv_sync_take_ready(store_res *res)
{
    srv_res *sr = res->data;
    srv_sync *ready = NULL;

    for (srv_sync **pp = sr ? &sr->sync_queue : NULL; pp && *pp;) {
        srv_sync *y = *pp;
        /* reached, or the rest was dropped by a failed write (then the size stops short) */
        if (y->upto <= res->size || !res->staged) {
            *pp = y->next;
            y->next = ready;
            ready = y;
        } else {
            pp = &y->next;
        }
    }
    return ready;
}

void srv_sync_issue(srv_sync *list)
{
    while (list) {
        srv_sync *y = list;
        list = y->next;
        issue(y);
    }
}

/* 1 when an interval sync of res is already waiting for its bytes to be written. */
static int interval_sync_queued(const store_res *res)
{
    const srv_res *sr = res->data;

    for (const srv_sync *y = sr ? sr->sync_queue : NULL; y; y = y->next)
        if (y->datasync && !y->waiter)
            return 1;
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

    /* Every appender: WebSocket sessions and streaming PUT/POST bodies alike. */
    for (conn *c = s->conns; c; c = c->next)
        if ((c->role == ROLE_APPEND || (c->http && c->http->appending)) && !c->u.a.ended &&
            c->u.a.sr && (c->u.a.sr->res->unsynced || c->u.a.sr->res->staged) &&
            !interval_sync_queued(c->u.a.sr->res))
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
