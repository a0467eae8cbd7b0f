/* sync.c -- waiting for accepted bytes, and the durability policy: fdatasync on libuv's thread
 * pool, so the loop never waits for the disk. A wait asked for while bytes are still being written
 * behind (writer.c) completes once they are in the file, and then, for a durable wait under a
 * sync policy, after an fdatasync. STORE_SYNC_INTERVAL also flushes every leased resource with new
 * bytes every interval, whoever appends to it. A wait holds a reference on its resource, so the
 * descriptor outlives it. */
#include "store/file/fstore.h"

#include <stdlib.h>

/* The wait is over: tell its owner (unless cancelled), release everything. */
static void finish(fwait *w, int err)
{
    fres *r = FR(w->base.res);
    fstore *fs = FS(r->base.st);

    if (w->cb)
        w->cb(w->arg, err);
    store_res_unref(&r->base);
    free(w);
    fs_pending_done(fs);
}

static void sync_cb(uv_fs_t *req)
{
    fwait *w = req->data;
    int err = req->result < 0 ? STORE_EIO : STORE_OK;

    if (req->result < 0) {
        w->base.res->st->stats.sync_errors++;
        store_log(w->base.res->st, 0, "fdatasync /%s: %s", w->base.res->name,
                  uv_strerror((int)req->result));
    }
    uv_fs_req_cleanup(req);
    finish(w, err);
}

/* Every byte it waited for is in the file, or a failed write dropped some: report, or sync. */
static void issue(fwait *w)
{
    fres *r = FR(w->base.res);

    if (w->upto > r->base.size) {
        finish(w, STORE_EIO); /* what it waited for never reached the file */
        return;
    }
    if (!w->datasync) {
        finish(w, STORE_OK);
        return;
    }
    r->unsynced = 0;
    w->fs.data = w;
    if (uv_fs_fdatasync(FS(r->base.st)->loop, &w->fs, r->fd, sync_cb) != 0) {
        r->base.st->stats.sync_errors++;
        finish(w, STORE_EIO);
    }
}

static fwait *wait_new(fres *r, int datasync, store_wait_cb cb, void *arg)
{
    fwait *w = calloc(1, sizeof(*w));

    if (!w)
        return NULL;
    w->base.res = &r->base;
    w->cb = cb;
    w->arg = arg;
    w->datasync = datasync;
    w->upto = r->base.accepted;
    store_res_ref(&r->base);
    FS(r->base.st)->pending++;
    return w;
}

/* Queues w until the bytes it waits for are written, or issues it now. */
static void wait_start(fres *r, fwait *w)
{
    if (r->base.accepted > r->base.size) {
        w->next = r->waits;
        r->waits = w;
        return;
    }
    issue(w);
}

int fs_when_written(store_res *res, int kind, store_wait_cb cb, void *arg, store_wait **out)
{
    fres *r = FR(res);
    int datasync = kind == STORE_WAIT_DURABLE && res->st->opt.sync != STORE_SYNC_NONE;

    *out = NULL;
    if (res->accepted == res->size && !(datasync && r->unsynced))
        return 0; /* already so */
    fwait *w = wait_new(r, datasync, cb, arg);
    if (!w)
        return STORE_ENOMEM;
    *out = &w->base;
    wait_start(r, w);
    return 1;
}

void fs_wait_cancel(store_wait *w)
{
    ((fwait *)w)->cb = NULL;
}

void fs_waits_ready(fres *r)
{
    fwait *ready = NULL;

    /* reached, or the rest was dropped by a failed write (then the size stops short) */
    for (fwait **pp = &r->waits; *pp;) {
        fwait *w = *pp;
        if (w->upto <= r->base.size || r->base.accepted == r->base.size) {
            *pp = w->next;
            w->next = ready;
            ready = w;
        } else {
            pp = &w->next;
        }
    }
    while (ready) { /* callbacks may end sessions: the list is detached first */
        fwait *w = ready;
        ready = w->next;
        issue(w);
    }
}

int fs_sync_now(fres *r)
{
    fwait *w = wait_new(r, 1, NULL, NULL);

    if (!w)
        return -1;
    wait_start(r, w);
    return 0;
}

/* 1 when a flush nobody waits for is already queued on r. */
static int flush_queued(const fres *r)
{
    for (const fwait *w = r->waits; w; w = w->next)
        if (w->datasync && !w->cb)
            return 1;
    return 0;
}

static void sync_tick(uv_timer_t *t)
{
    fstore *fs = t->data;

    /* Every leased resource: whatever protocol its writer speaks. */
    for (fres *r = fs->leased; r; r = r->lnext)
        if ((r->unsynced || r->base.accepted > r->base.size) && !flush_queued(r))
            fs_sync_now(r);
}

void fs_timer_start(fstore *fs)
{
    if (fs->base.opt.sync != STORE_SYNC_INTERVAL || !fs->base.opt.sync_interval_ms)
        return;
    uv_timer_init(fs->loop, &fs->timer);
    fs->timer.data = fs;
    fs->timer_on = 1;
    uv_timer_start(&fs->timer, sync_tick, fs->base.opt.sync_interval_ms,
                   fs->base.opt.sync_interval_ms);
}

static void timer_closed(uv_handle_t *h)
{
    fs_pending_done(h->data);
}

void fs_timer_stop(fstore *fs)
{
    if (!fs->timer_on)
        return;
    fs->timer_on = 0;
    fs->pending++;
    uv_close((uv_handle_t *)&fs->timer, timer_closed);
}
