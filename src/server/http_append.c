/* http_append.c -- APPEND over plain HTTP: a PUT or POST body (sized or chunked) is appended as it
 * arrives, under the same single-appender rule and with the same live delivery as a WebSocket
 * appender. The response comes when the body ends (after an fdatasync under a sync policy) and
 * reports the resource's new size; a body cut short keeps what arrived. */
#include "server/internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>

void http_append_start(conn *c, srv_res *sr, int created)
{
    appender *a = &c->u.a;

    memset(a, 0, sizeof(*a));
    a->sr = sr;
    a->created = (uint8_t)created;
    sr->appender = c;
    c->http->appending = 1;
}

/* Ends the session and answers with the size (and an error status when something failed). */
static void respond(conn *c, int status, const char *reason)
{
    appender *a = &c->u.a;
    char extra[96], body[160];
    uint64_t size = a->sr ? a->sr->res->size : 0;

    snprintf(extra, sizeof(extra), "X-Resource-Size: %llu\r\n", (unsigned long long)size);
    if (status < 300)
        snprintf(body, sizeof(body), "%llu\n", (unsigned long long)size);
    else
        snprintf(body, sizeof(body), "%d %s (size %llu)\n", status, reason,
                 (unsigned long long)size);
    c->http->appending = 0;
    append_end(c, 0, reason);
    if (status >= 400)
        c->http->close_after = 1; /* the rest of the body is not wanted */
    http_respond_simple(c, status, extra, "text/plain; charset=utf-8", body, strlen(body));
}

void http_append_body(conn *c, const uint8_t *p, size_t n)
{
    appender *a = &c->u.a;
    struct iovec iov = {.iov_base = (void *)p, .iov_len = n};
    size_t written = 0;

    if (!c->http->appending || n == 0)
        return;
    int err, saved = 0;
    if (wb_enabled(c->srv)) {
        err = wb_stage(c, a->sr, &iov, 1);
        written = err == STORE_OK ? n : 0;
        saved = ENOMEM;
    } else {
        err = store_append(a->sr->res, &iov, 1, &written);
        saved = errno;
        if (written)
            srv_mark_dirty(a->sr);
    }
    a->received += written;
    if (err == STORE_OK)
        return;
    if (err == STORE_EFULL) {
        respond(c, 413, "resource size limit reached");
        return;
    }
    char reason[128];
    snprintf(reason, sizeof(reason), "write failed: %s", strerror(saved));
    srv_log(c->srv, HFS_LOG_ERROR, "%s append /%s: %s", c->peer, a->sr->res->name, reason);
    respond(c, saved == ENOSPC || saved == EDQUOT ? 507 : 500, reason);
}

void http_append_failed(conn *c, int err)
{
    char reason[128];

    if (!c->http || !c->http->appending)
        return;
    snprintf(reason, sizeof(reason), "write failed: %s", strerror(err));
    respond(c, err == ENOSPC || err == EDQUOT ? 507 : 500, reason);
}

static void respond_when_synced(conn *c, unsigned code, int err)
{
    (void)code;
    if (!c->http || !c->http->appending)
        return; /* already answered (a write failed meanwhile) */
    if (err < 0)
        respond(c, 500, "write or fdatasync failed");
    else
        respond(c, c->u.a.created ? 201 : 200, NULL);
}

void http_append_done(conn *c)
{
    appender *a = &c->u.a;

    if (!c->http->appending)
        return;
    c->http->responding = 1; /* the answer may wait for the disk; the next request waits too */
    store_res *res = a->sr->res;
    if (c->srv->opt.sync != HFS_SYNC_NONE && (res->unsynced || res->staged) &&
        srv_sync_start(c->srv, res, c, respond_when_synced, 0) == 0)
        return;
    /* The answer reports the size: it comes once the body's bytes are in the file. */
    if (res->staged && srv_sync_written(c->srv, res, c, respond_when_synced, 0) == 0)
        return;
    respond(c, a->created ? 201 : 200, NULL);
}
