/* follow.c -- the FOLLOW session: a follower is a socket plus an offset into the resource.
 *
 * Whenever the resource's readable size is ahead of a follower's offset and the follower has no
 * write in flight, the bytes between the two go out as one batch (batch.c), framed by the
 * follower's transport. The store's growth marks the resource dirty (fanout.c); the loop's check
 * phase then walks its followers once (follow_flush_dirty). When the writer leaves, each
 * follower's end is fixed at what was accepted; once it has sent everything up to there, the
 * follower ends its transport's way (follow_ws.c, follow_http.c, follow_sse.c).
 *
 * A follower may also wait for a resource that does not exist yet (?wait): it sits in the server's
 * waiter list, keyed by path, until an appender creates the resource (follow_wake_waiters). */
#include "server/follow.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/batch.h"
#include "server/conn.h"
#include "server/fanout.h"
#include "server/ws_conn.h"

static void link_into(conn **head, conn *c)
{
    follower *f = &c->u.f;

    f->prev = NULL;
    f->next = *head;
    if (*head)
        (*head)->u.f.prev = c;
    *head = c;
    f->attached = 1;
}

static void unlink_from(conn **head, conn *c)
{
    follower *f = &c->u.f;

    if (!f->attached)
        return;
    if (f->prev)
        f->prev->u.f.next = f->next;
    else
        *head = f->next;
    if (f->next)
        f->next->u.f.prev = f->prev;
    f->attached = 0;
}

static void attach(conn *c, srv_res *sr)
{
    c->u.f.sr = sr;
    link_into(&sr->followers, c);
    sr->nfollowers++;
}

int follow_start(conn *c, store_res *res, const follow_params *fp, const uint8_t *rest,
                 size_t rest_len)
{
    if (follow_start_prepared(c, res, fp, rest, rest_len) < 0)
        return -1;
    follow_send_pending(c);
    return 0;
}

int follow_start_prepared(conn *c, store_res *res, const follow_params *fp, const uint8_t *rest,
                          size_t rest_len)
{
    hfs_server *s = c->srv;
    follower *f = &c->u.f;

    conn_become(c, &conn_follow_ops);
    memset(f, 0, sizeof(*f));
    f->end = UINT64_MAX;
    f->tp = fp->tp;
    f->chunked = (uint8_t)fp->chunked;
    f->offset = fp->offset;
    ws_decoder_init(&f->dec, WS_ROLE_SERVER, 0);
    if (!res) {
        f->wait_rel = strdup(fp->wait_rel);
        if (!f->wait_rel) {
            conn_close(c);
            return -1;
        }
        link_into(&s->waiters, c);
    } else {
        srv_res *sr = fanout_get(s, res);
        if (!sr) {
            store_res_unref(res);
            conn_close(c);
            return -1;
        }
        attach(c, sr);
        f->end = fanout_end(sr);
    }
    if (rest_len && f->tp->on_input)
        f->tp->on_input(c, (uint8_t *)rest, rest_len);
    return 0;
}

void follow_wake_waiters(hfs_server *s, const char *rel, store_res *res)
{
    for (conn *c = s->waiters, *next; c; c = next) {
        follower *f = &c->u.f;
        next = f->next;
        if (c->closing || strcmp(f->wait_rel, rel) != 0)
            continue;
        srv_res *sr = fanout_get(s, res);
        if (!sr)
            continue;
        unlink_from(&s->waiters, c);
        free(f->wait_rel);
        f->wait_rel = NULL;
        store_res_ref(res);
        f->offset = 0; /* a new resource: every offset means its start */
        attach(c, sr);
        srv_log(s, HFS_LOG_DEBUG, "%s follow /%s: the resource appeared", c->peer, rel);
        follow_send_pending(c);
    }
}

void follow_created_elsewhere(void *arg, const char *rel)
{
    hfs_server *s = arg;

    for (conn *c = s->waiters; c; c = c->u.f.next) {
        if (!c->closing && strcmp(c->u.f.wait_rel, rel) == 0) {
            c->u.f.wake = 1;
            s->wake_pending = 1;
        }
    }
}

void follow_wake_created(hfs_server *s)
{
    s->wake_pending = 0;
    for (;;) {
        conn *c = s->waiters;
        while (c && !c->u.f.wake)
            c = c->u.f.next;
        if (!c)
            return;
        /* A copy: waking frees the waiters' own. */
        char *rel = strdup(c->u.f.wait_rel);
        for (conn *d = s->waiters; d; d = d->u.f.next)
            if (d->u.f.wake && (!rel || strcmp(d->u.f.wait_rel, rel) == 0))
                d->u.f.wake = 0;
        store_res *res;
        if (rel && store_open(s->st, rel, &res) == STORE_OK) {
            follow_wake_waiters(s, rel, res);
            store_res_unref(res);
        }
        free(rel);
    }
}

static void write_done(conn *c, uint64_t payload, int status);

/* Sends one batch; returns 1 when it went out whole (more may follow at once), 0 when the follower
 * has to wait (queued write, nothing to send, the end), -1 when the connection was given up. */
static int send_one(conn *c, uint64_t *sent)
{
    follower *f = &c->u.f;
    int stream_end = f->end != UINT64_MAX;
    uint64_t size = store_size(f->sr->res);
    uint64_t limit = stream_end && f->end < size ? f->end : size;

    if (f->offset >= limit) {
        if (stream_end && f->offset >= f->end)
            f->tp->finish(c);
        return 0; /* (a finished stream whose last bytes are still being written waits here) */
    }
    stream_end = stream_end && limit == f->end;
    int64_t n = batch_build(c, limit, stream_end);
    if (n < 0) {
        srv_log(c->srv, HFS_LOG_ERROR, "%s follow /%s: cannot read the resource", c->peer,
                store_res_name(f->sr->res));
        f->tp->fail(c, "cannot read the resource");
        return -1;
    }
    if (n == 0)
        return 0; /* only part of a UTF-8 character is there yet */
    int r = batch_send(c, write_done);
    if (r < 0) {
        c->srv->m.followers_dropped++;
        conn_close(c);
        return -1;
    }
    if (r == 0)
        return 0; /* queued: follow_write_done continues */
    f->offset += (uint64_t)n;
    *sent += (uint64_t)n;
    c->srv->m.follower_bytes += (uint64_t)n;
    if (f->offset >= limit && stream_end) {
        f->tp->finish(c); /* that was the last of a finished stream */
        return 0;
    }
    return f->offset < limit;
}

/* Writes what the follower is behind while its socket takes whole batches, up to a budget per
 * round, so that one follower cannot hold the loop while an appender keeps the file growing
 * faster than a single batch per round would carry. What is left goes out next round. */
void follow_send_pending(conn *c)
{
    follower *f = &c->u.f;
    uint64_t sent = 0;
    int r;

    if (c->closing || c->ws_closed || c->lingering || f->inflight || !f->sr)
        return;
    while ((r = send_one(c, &sent)) == 1 && sent < SRV_ROUND_BUDGET)
        ;
    if (r == 1)
        fanout_mark_dirty(f->sr); /* budget spent with more waiting: the next round goes on */
}

static void write_done(conn *c, uint64_t payload, int status)
{
    if (status == 0) {
        c->u.f.offset += payload;
        c->srv->m.follower_bytes += payload;
    }
    if (c->closing)
        return;
    if (status < 0) {
        c->srv->m.followers_dropped++;
        conn_close(c);
        return;
    }
    c->last_tx_ms = srv_now(c->srv);
    follow_send_pending(c);
    if (!c->closing)
        conn_out_progress(c);
}

void follow_flush_dirty(hfs_server *s)
{
    srv_res *sr = s->dirty;

    s->dirty = NULL;
    while (sr) {
        srv_res *next = sr->dirty_next;
        sr->dirty = 0;
        for (conn *c = sr->followers, *cn; c; c = cn) {
            cn = c->u.f.next;
            follow_send_pending(c);
        }
        sr = next;
    }
}

static void follow_heartbeat(conn *c)
{
    if (!c->u.f.inflight)
        c->u.f.tp->heartbeat(c);
}

/* A graceful shutdown: send what was accepted, then end. */
static void follow_drain(conn *c)
{
    follower *f = &c->u.f;

    if (!f->sr) {
        f->tp->finish(c); /* still waiting for the resource: nothing will come */
        return;
    }
    if (f->end == UINT64_MAX)
        f->end = store_accepted(f->sr->res); /* what was accepted, once stored */
    fanout_mark_dirty(f->sr);
}

void follow_set_end(srv_res *sr, uint64_t end, int cap)
{
    for (conn *c = sr->followers; c; c = c->u.f.next) {
        follower *f = &c->u.f;
        if (cap ? (f->end != UINT64_MAX && f->end > end) : f->end == UINT64_MAX)
            f->end = end;
    }
    fanout_mark_dirty(sr);
}

void follow_fail_all(srv_res *sr, const char *reason)
{
    for (conn *c = sr->followers, *next; c; c = next) {
        next = c->u.f.next;
        if (!c->closing && !c->lingering) {
            srv_log(c->srv, HFS_LOG_WARN, "%s follow /%s: %s", c->peer, store_res_name(sr->res),
                    reason);
            c->u.f.tp->fail(c, reason);
        }
    }
}

static void follow_on_data(conn *c, uint8_t *p, size_t n)
{
    if (c->u.f.tp->on_input)
        c->u.f.tp->on_input(c, p, n);
}

static void follow_on_closed(conn *c)
{
    follower *f = &c->u.f;
    srv_res *sr = f->sr;

    if (!sr) {
        unlink_from(&c->srv->waiters, c);
        free(f->wait_rel);
        f->wait_rel = NULL;
        return;
    }
    store_res *res = sr->res;
    unlink_from(&sr->followers, c);
    sr->nfollowers--;
    f->sr = NULL;
    fanout_maybe_free(sr);
    store_res_unref(res);
}

static void follow_goodbye(conn *c)
{
    if (c->u.f.tp->websocket)
        ws_goodbye(c);
}

const conn_ops conn_follow_ops = {
    .name = "follow",
    .on_data = follow_on_data,
    .heartbeat = follow_heartbeat,
    .on_drain = follow_drain,
    .on_goodbye = follow_goodbye,
    .on_closed = follow_on_closed,
};
