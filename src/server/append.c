/* append.c -- the one append path (append.h): a session on a leased resource, for WebSocket
 * appenders and PUT/POST bodies alike. */
#include "server/append.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "server/conn.h"
#include "server/fanout.h"

int append_begin(conn *c, store_res *res, append_failed_fn failed, int created)
{
    appender *a = &c->u.a;
    srv_res *sr = fanout_get(c->srv, res);

    memset(a, 0, sizeof(*a));
    if (!sr) {
        store_release(res);
        a->ended = 1;
        return -1;
    }
    a->sr = sr;
    a->failed = failed;
    a->created = (uint8_t)created;
    sr->appender = c;
    return 0;
}

int append_would_exceed(const conn *c, uint64_t n)
{
    const store_res *res = c->u.a.sr->res;
    uint64_t max = c->srv->opt.size_max, at = store_accepted(res);

    return max && (at > max || n > max - at);
}

/* Ends the session and tells the transport why. */
static void fail(conn *c, int err, int sys)
{
    appender *a = &c->u.a;
    char reason[WS_CLOSE_REASON_MAX + 1];

    if (err == STORE_EFULL)
        snprintf(reason, sizeof(reason), "resource size limit reached");
    else if (err == STORE_ECLOSED)
        snprintf(reason, sizeof(reason), "the stream is closed");
    else
        snprintf(reason, sizeof(reason), "write failed: %s", strerror(sys ? sys : EIO));
    srv_log(c->srv, HFS_LOG_ERROR, "%s append /%s: %s", c->peer, store_res_name(a->sr->res),
            reason);
    append_end(c, reason);
    a->failed(c, err, sys, reason);
}

int append_push(conn *c, const struct iovec *iov, int iovcnt)
{
    appender *a = &c->u.a;
    size_t n = 0;

    if (a->ended)
        return -1;
    for (int i = 0; i < iovcnt; i++)
        n += iov[i].iov_len;
    int err = store_append(a->sr->res, iov, iovcnt);
    int sys = errno;
    if (err == STORE_OK)
        a->received += n;
    if (a->ended)
        return -1; /* the store failed the session meanwhile (append_store_failed) */
    if (err != STORE_OK) {
        fail(c, err, err == STORE_ENOMEM ? ENOMEM : sys);
        return -1;
    }
    if (store_backlogged(a->sr->res))
        conn_read_stop(c); /* the store is behind: let TCP slow the writer down */
    return 0;
}

static void acked(void *arg, int err)
{
    conn *c = arg;
    appender *a = &c->u.a;

    a->wait = NULL;
    a->acked(c, err, a->ack_code);
}

int append_when_durable(conn *c, append_acked_fn cb, unsigned code)
{
    appender *a = &c->u.a;

    if (a->ended || !a->sr)
        return 1;
    a->acked = cb;
    a->ack_code = code;
    int r = store_when_written(a->sr->res, STORE_WAIT_DURABLE, acked, c, &a->wait);
    return r == 0 ? 1 : r > 0 ? 0 : -1;
}

void append_end(conn *c, const char *reason)
{
    appender *a = &c->u.a;
    srv_res *sr = a->sr;

    if (a->ended || !sr)
        return;
    a->ended = 1;
    store_res *res = sr->res;
    sr->appender = NULL;
    a->final_size = store_size(res);
    srv_log(c->srv, HFS_LOG_INFO, "%s append /%s ended: %llu bytes received, size %llu%s%s",
            c->peer, store_res_name(res), (unsigned long long)a->received,
            (unsigned long long)store_size(res), reason ? ": " : "", reason ? reason : "");
    store_res_ref(res);
    store_release(res); /* followers learn the stream's end (fanout.c) */
    fanout_maybe_free(sr);
    store_res_unref(res);
}

void append_store_failed(conn *c)
{
    appender *a = &c->u.a;

    if (!a->ended && !c->closing)
        fail(c, STORE_EIO, store_res_errno(a->sr->res));
}

void append_forget(conn *c)
{
    appender *a = &c->u.a;

    store_wait_cancel(a->wait);
    a->wait = NULL;
    append_end(c, NULL);
}
