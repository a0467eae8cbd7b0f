/* follow.c -- the FOLLOW session: a follower is a socket plus an offset into the resource.
 *
 * Whenever the resource's size is ahead of a follower's offset and the follower has no write in
 * flight, the bytes between the two go out as one batch (batch.c). Appends mark the resource dirty;
 * the loop's check phase then walks its followers once (follow_flush_dirty). When the appender
 * leaves, each follower's end is fixed at the size the file had; once it has sent everything up to
 * there, the follower ends its transport's way: CLOSE 1000 (1001 while the server shuts down), the
 * last chunk, or a final SSE "end" event.
 *
 * A follower may also wait for a resource that does not exist yet (?wait): it sits in the server's
 * waiter list, keyed by path, until an appender creates the resource (follow_wake_waiters). */
#include "server/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    hfs_server *s = c->srv;
    follower *f = &c->u.f;

    memset(f, 0, sizeof(*f));
    f->end = UINT64_MAX;
    f->kind = (uint8_t)fp->kind;
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
        srv_res *sr = srv_res_get(s, res);
        if (!sr) {
            store_res_unref(res);
            conn_close(c);
            return -1;
        }
        attach(c, sr);
        if (!sr->appender) /* no appender: the stream is what was accepted */
            f->end = res->size + res->staged;
    }
    if (rest_len)
        follow_on_data(c, (uint8_t *)rest, rest_len);
    follow_send_pending(c);
    return 0;
}

void follow_wake_waiters(hfs_server *s, const char *rel, store_res *res)
{
    for (conn *c = s->waiters, *next; c; c = next) {
        follower *f = &c->u.f;
        next = f->next;
        if (c->closing || strcmp(f->wait_rel, rel) != 0)
            continue;
        srv_res *sr = srv_res_get(s, res);
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

void follow_on_data(conn *c, uint8_t *p, size_t n)
{
    follower *f = &c->u.f;
    ws_event ev;

    if (f->kind == FOLLOW_HTTP || f->kind == FOLLOW_SSE)
        return; /* a plain HTTP follower has nothing more to say; its input is dropped */
    while (n > 0 && !c->closing && !c->lingering) {
        size_t used = ws_decode(&f->dec, p, n, &ev);
        p += used;
        n -= used;
        switch (ev.type) {
        case WS_EV_PING:
            ws_send_control(c, WS_OP_PONG, ev.data, ev.len);
            break;
        case WS_EV_CLOSE:
            ws_on_peer_close(c, ev.close_code);
            return;
        case WS_EV_ERROR:
            srv_log(c->srv, HFS_LOG_WARN, "%s follower: %s (closing with %u)", c->peer, ev.reason,
                    ev.close_code);
            ws_send_close(c, ev.close_code, ev.reason);
            conn_linger(c);
            return;
        default:
            break; /* data from a follower is read and dropped; PONGs need no answer */
        }
    }
}

/* The follower has every byte of the finished stream: end it the transport's way. */
static void finish(conn *c)
{
    follower *f = &c->u.f;
    int draining = c->srv->draining;

    switch (f->kind) {
    case FOLLOW_HTTP:
        if (f->chunked)
            conn_write_copy(c, "0\r\n\r\n", 5);
        conn_linger(c);
        break;
    case FOLLOW_SSE: {
        char ev[96];
        int n = snprintf(ev, sizeof(ev), "event: end\nid: %llu\ndata: %s\n\n",
                         (unsigned long long)f->offset, draining ? "shutdown" : "end");
        char chunk[128];
        int m = f->chunked ? snprintf(chunk, sizeof(chunk), "%x\r\n%s\r\n0\r\n\r\n", n, ev)
                           : snprintf(chunk, sizeof(chunk), "%s", ev);
        conn_write_copy(c, chunk, (size_t)m);
        conn_linger(c);
        break;
    }
    default:
        if (draining)
            ws_send_close(c, WS_CLOSE_GOING_AWAY, "server shutting down");
        else
            ws_send_close(c, WS_CLOSE_NORMAL, NULL);
        c->deadline_ms = srv_now(c->srv) + SRV_WS_CLOSE_WAIT;
        break;
    }
}

/* Sends one batch; returns 1 when it went out whole (more may follow at once), 0 when the follower
 * has to wait (queued write, nothing to send, the end), -1 when the connection was given up. */
static int send_one(conn *c, uint64_t *sent)
{
    follower *f = &c->u.f;
    int stream_end = f->end != UINT64_MAX;
    uint64_t size = f->sr->res->size;
    uint64_t limit = stream_end && f->end < size ? f->end : size;

    if (f->offset >= limit) {
        if (stream_end && f->offset >= f->end)
            finish(c);
        return 0; /* (a finished stream whose last bytes are still being written waits here) */
    }
    stream_end = stream_end && limit == f->end;
    int64_t n = batch_build(c, limit, stream_end);
    if (n < 0) {
        srv_log(c->srv, HFS_LOG_ERROR, "%s follow /%s: cannot read the file", c->peer,
                f->sr->res->name);
        if (f->kind <= FOLLOW_WS_BINARY)
            ws_send_close(c, WS_CLOSE_INTERNAL, "cannot read the resource");
        conn_linger(c);
        return -1;
    }
    if (n == 0)
        return 0; /* only part of a UTF-8 character is there yet */
    int r = batch_send(c);
    if (r < 0) {
        conn_close(c);
        return -1;
    }
    if (r == 0)
        return 0; /* queued: follow_write_done continues */
    f->offset += (uint64_t)n;
    *sent += (uint64_t)n;
    if (f->offset >= limit && stream_end) {
        finish(c); /* that was the last of a finished stream */
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
        srv_mark_dirty(f->sr); /* budget spent with more waiting: the next round goes on */
}

void follow_write_done(conn *c, uint64_t payload, int status)
{
    if (status == 0)
        c->u.f.offset += payload;
    if (c->closing)
        return;
    if (status < 0) {
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

void follow_heartbeat(conn *c)
{
    follower *f = &c->u.f;

    if (f->inflight)
        return;
    if (f->kind <= FOLLOW_WS_BINARY)
        ws_send_control(c, WS_OP_PING, NULL, 0);
    else if (f->kind == FOLLOW_SSE)
        conn_write_copy(c, f->chunked ? "2\r\n:\n\r\n" : ":\n", f->chunked ? 7 : 2);
}

void follow_drain(conn *c)
{
    follower *f = &c->u.f;

    if (!f->sr) {
        finish(c); /* still waiting for the resource: nothing will come */
        return;
    }
    if (f->end == UINT64_MAX)
        f->end = f->sr->res->size + f->sr->res->staged; /* what was accepted, once written */
    srv_mark_dirty(f->sr);
}

void follow_session_ended(srv_res *sr)
{
    for (conn *c = sr->followers; c; c = c->u.f.next)
        if (c->u.f.end == UINT64_MAX)
            c->u.f.end = sr->res->size + sr->res->staged; /* what was accepted, once written */
    srv_mark_dirty(sr);
}

void follow_on_close(conn *c)
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
    srv_res_maybe_free(c->srv, sr);
    store_res_unref(res);
}
