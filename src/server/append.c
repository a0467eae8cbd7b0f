/* append.c -- the APPEND session: decodes the appender's frames in place in the read buffer,
 * appends every data payload of one read with one write to the file, then wakes the followers.
 * Control frames are answered (PING -> PONG, CLOSE -> CLOSE); protocol errors close with 1002,
 * oversized messages with 1009, file errors with 1011. Bytes accepted before any error stay. */
#include "server/internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>

#define APPEND_IOV 256 /* payload pieces gathered before one store_append */

int append_start(conn *c, store_res *res, const uint8_t *rest, size_t rest_len)
{
    hfs_server *s = c->srv;
    appender *a = &c->u.a;
    srv_res *sr = srv_res_get(s, res);

    memset(a, 0, sizeof(*a));
    if (!sr) {
        store_release(res);
        a->ended = 1;
        ws_send_close(c, WS_CLOSE_INTERNAL, "out of memory");
        conn_linger(c);
        return -1;
    }
    a->sr = sr;
    sr->appender = c;
    ws_decoder_init(&a->dec, WS_ROLE_SERVER, s->opt.message_max);
    if (rest_len)
        append_on_data(c, (uint8_t *)rest, rest_len);
    return 0;
}

static void fail(conn *c, int err, int saved);

/* Writes the gathered payload; returns 0, or -1 after ending the session on a file error. */
static int flush(conn *c, struct iovec *iov, int *niov)
{
    appender *a = &c->u.a;
    size_t written = 0;

    if (*niov == 0)
        return 0;
    int err, saved;
    if (wb_enabled(c->srv)) {
        size_t n = 0;
        for (int i = 0; i < *niov; i++)
            n += iov[i].iov_len;
        err = wb_stage(c, a->sr, iov, *niov);
        saved = err == STORE_ENOMEM ? ENOMEM : 0;
        written = err == STORE_OK ? n : 0; /* accepted; followers see it once it is written */
    } else {
        err = store_append(a->sr->res, iov, *niov, &written);
        saved = errno;
        if (written)
            srv_mark_dirty(a->sr);
    }
    *niov = 0;
    a->received += written;
    if (err == STORE_OK)
        return 0;
    fail(c, err, saved);
    return -1;
}

/* 1 when n more bytes would take the resource past -max-size. */
static int over_size_max(const conn *c, uint64_t n)
{
    const store_res *res = c->u.a.sr->res;
    uint64_t max = c->srv->opt.size_max, at = res->size + res->staged;

    return max && (at > max || n > max - at);
}

/* Ends the session after an append failed (nothing of the failing bytes was accepted). */
static void fail(conn *c, int err, int saved)
{
    appender *a = &c->u.a;
    char reason[WS_CLOSE_REASON_MAX + 1];
    if (err == STORE_EFULL)
        snprintf(reason, sizeof(reason), "resource size limit reached");
    else
        snprintf(reason, sizeof(reason), "write failed: %s", strerror(saved));
    srv_log(c->srv, HFS_LOG_ERROR, "%s append /%s: %s", c->peer, a->sr->res->name, reason);
    append_end(c, err == STORE_EFULL ? WS_CLOSE_TOO_BIG : WS_CLOSE_INTERNAL, reason);
    conn_linger(c);
}

static void close_when_synced(conn *c, unsigned code, int err)
{
    if (err < 0) {
        ws_send_close(c, WS_CLOSE_INTERNAL, "write or fdatasync failed");
        conn_linger(c);
        return;
    }
    ws_on_peer_close(c, code);
}

void append_on_data(conn *c, uint8_t *p, size_t n)
{
    appender *a = &c->u.a;
    struct iovec iov[APPEND_IOV];
    int niov = 0;
    uint64_t gathered = 0; /* bytes in iov */
    ws_event ev;

    while (n > 0 && !c->closing && !a->ended) {
        size_t used = ws_decode(&a->dec, p, n, &ev);
        p += used;
        n -= used;
        switch (ev.type) {
        case WS_EV_NEED_MORE:
            break;
        case WS_EV_DATA:
            if (ev.len == 0)
                break;
            /* A frame that would cross -max-size is refused whole, from its header's length,
             * before any of it is written. */
            if (over_size_max(c, gathered + ev.len + ws_decoder_frame_rest(&a->dec))) {
                if (flush(c, iov, &niov) == 0)
                    fail(c, STORE_EFULL, 0);
                return;
            }
            if (niov == APPEND_IOV) {
                if (flush(c, iov, &niov) < 0)
                    return;
                gathered = 0;
            }
            iov[niov].iov_base = ev.data;
            iov[niov++].iov_len = ev.len;
            gathered += ev.len;
            break;
        case WS_EV_PING:
            ws_send_control(c, WS_OP_PONG, ev.data, ev.len);
            break;
        case WS_EV_PONG:
            break;
        case WS_EV_CLOSE:
            if (flush(c, iov, &niov) < 0)
                return;
            /* The echoed CLOSE acknowledges every byte: it waits until they are in the file
             * (a GET right after it sees them all), and on disk with a sync policy. */
            if (c->srv->opt.sync != HFS_SYNC_NONE &&
                srv_sync_start(c->srv, a->sr->res, c, close_when_synced, ev.close_code) == 0) {
                append_end(c, 0, NULL);
                return;
            }
            if (a->sr->res->staged &&
                srv_sync_written(c->srv, a->sr->res, c, close_when_synced, ev.close_code) == 0) {
                append_end(c, 0, NULL);
                return;
            }
            append_end(c, 0, NULL);
            ws_on_peer_close(c, ev.close_code);
            return;
        case WS_EV_ERROR:
            if (flush(c, iov, &niov) < 0)
                return;
            srv_log(c->srv, HFS_LOG_WARN, "%s append /%s: %s (closing with %u)", c->peer,
                    a->sr->res->name, ev.reason, ev.close_code);
            append_end(c, ev.close_code, ev.reason);
            conn_linger(c);
            return;
        }
    }
    flush(c, iov, &niov);
}

static void going_away_when_written(conn *c, unsigned code, int err)
{
    (void)code;
    ws_send_close(c, err < 0 ? WS_CLOSE_INTERNAL : WS_CLOSE_GOING_AWAY,
                  err < 0 ? "write or fdatasync failed" : "server shutting down");
    conn_linger(c);
}

void append_drain(conn *c)
{
    appender *a = &c->u.a;
    store_res *res = a->sr && !a->ended ? a->sr->res : NULL;

    /* The 1001 tells the appender that what it sent is kept: it goes out once the bytes read so
     * far are in the file (and on disk, with a sync policy). Nothing more is read. */
    conn_read_stop(c);
    if (res && c->srv->opt.sync != HFS_SYNC_NONE &&
        srv_sync_start(c->srv, res, c, going_away_when_written, 0) == 0) {
        append_end(c, 0, "server shutting down");
        return;
    }
    if (res && res->staged && srv_sync_written(c->srv, res, c, going_away_when_written, 0) == 0) {
        append_end(c, 0, "server shutting down");
        return;
    }
    append_end(c, WS_CLOSE_GOING_AWAY, "server shutting down");
    conn_linger(c);
}

void append_end(conn *c, unsigned code, const char *reason)
{
    appender *a = &c->u.a;
    srv_res *sr = a->sr;

    if (a->ended || !sr)
        return;
    a->ended = 1;
    store_res *res = sr->res;
    sr->appender = NULL;
    follow_session_ended(sr);
    srv_log(c->srv, HFS_LOG_INFO, "%s append /%s ended: %llu bytes received, size %llu%s%s",
            c->peer, res->name, (unsigned long long)a->received, (unsigned long long)res->size,
            reason ? ": " : "", reason ? reason : "");
    if (c->srv->opt.sync != HFS_SYNC_NONE && (res->unsynced || res->staged))
        srv_sync_start(c->srv, res, NULL, NULL, 0);
    srv_res_maybe_free(c->srv, sr);
    store_release(res);
    if (code && c->role == ROLE_APPEND)
        ws_send_close(c, code, reason);
}

void append_on_close(conn *c)
{
    append_end(c, 0, NULL);
}

void append_write_failed(conn *c, int err)
{
    char reason[WS_CLOSE_REASON_MAX + 1];

    if (c->closing)
        return;
    if (c->role != ROLE_APPEND) {
        http_append_failed(c, err);
        return;
    }
    snprintf(reason, sizeof(reason), "write failed: %s", strerror(err));
    append_end(c, WS_CLOSE_INTERNAL, reason);
    conn_linger(c);
}
