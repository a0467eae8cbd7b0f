/* reader.c -- hfs_follow and the reader handle: bytes of a followed resource, from WebSocket frames
 * after a 101 or from the body of a 200, handed out where they lie in the receive buffer. */
#include <stdlib.h>
#include <string.h>

#include "client/error.h"
#include "client/session.h"
#include "httpfstream.h"

#define CLI_READER_CLOSE_WAIT_MS 500 /* how long hfs_reader_close waits for the server's CLOSE */

struct hfs_reader {
    cli_session *s;
    const uint8_t *pending; /* decoded bytes not yet handed out (inside s->buf) */
    size_t pending_len;
    uint64_t bytes; /* handed out so far */
    int ended;      /* the stream is over: reads return 0 */
};

static const hfs_error no_reader = {.code = HFS_ERR_INVALID, .message = "no reader"};

/* Turns a non-101 answer other than 200 into the caller's error. */
static int check_status(cli_session *s)
{
    int status = s->resp.status;

    if (s->websocket || status == 200)
        return HFS_OK;
    if (status == 404)
        cli_session_fail(s, HFS_ERR_NOT_FOUND, "file does not exist");
    else
        cli_session_fail(s, HFS_ERR_HTTP, "HTTP status %d", status);
    s->err.http_status = status;
    return s->err.code;
}

int hfs_follow(const char *url, const hfs_client_options *opts, hfs_reader **out, hfs_error *err)
{
    hfs_reader *r;
    int rc;

    if (!out)
        return cli_error_set(err, url, HFS_ERR_INVALID, "no place to store the reader");
    *out = NULL;
    r = calloc(1, sizeof(*r));
    if (!r)
        return cli_error_set(err, url, HFS_ERR_NOMEM, "out of memory");
    rc = cli_session_open(&r->s, url, opts, "FOLLOW", opts && opts->binary, CLI_READ_BYTES, err);
    if (rc == HFS_OK && (rc = check_status(r->s)) != HFS_OK) {
        if (err)
            *err = r->s->err;
        cli_session_free(r->s, 0);
    }
    if (rc != HFS_OK) {
        free(r);
        return rc;
    }
    *out = r;
    return HFS_OK;
}

/* Decodes the next frames: HFS_OK with pending bytes (maybe none), 1 at the end, HFS_ERR_TIMEOUT
 * when nothing came before deadline, or an error. */
static int next_frames(hfs_reader *r, int64_t deadline)
{
    cli_session *s = r->s;
    ws_event ev;
    int rc = cli_session_next(s, &ev, deadline);

    if (rc == 1)
        return cli_session_fail_eof(s);
    if (rc != HFS_OK)
        return rc;
    if (ev.type == WS_EV_DATA) {
        r->pending = ev.data;
        r->pending_len = ev.len;
        return HFS_OK;
    }
    if (ev.close_code == WS_CLOSE_NORMAL || ev.close_code == WS_CLOSE_NO_STATUS)
        return 1;
    return cli_session_fail_closed(s, ev.close_code, ev.data, ev.len);
}

/* Fills r->pending: HFS_OK, 1 at the end of the stream, HFS_ERR_TIMEOUT, or an error. */
static int next_bytes(hfs_reader *r, int64_t deadline)
{
    if (r->s->websocket)
        return next_frames(r, deadline);
    return cli_session_next_body(r->s, deadline, &r->pending, &r->pending_len);
}

/* Moves up to len pending bytes to buf; returns how many. */
static size_t take(hfs_reader *r, uint8_t *buf, size_t len)
{
    size_t n = len < r->pending_len ? len : r->pending_len;

    memcpy(buf, r->pending, n);
    r->pending += n;
    r->pending_len -= n;
    r->bytes += n;
    return n;
}

/* Blocks for the first bytes, then adds whatever is already received (several frames at once), so
 * that a caller copying to a file or pipe makes few large writes. The end of the stream or an error
 * met after some bytes is reported by the next call. */
ssize_t hfs_reader_read(hfs_reader *r, void *buf, size_t len)
{
    int64_t deadline = CLI_NO_DEADLINE;
    size_t n = 0;

    if (!r || (!buf && len))
        return HFS_ERR_INVALID;
    if (r->s->err.code != HFS_OK)
        return r->s->err.code;
    while (!r->ended && n < len) {
        if (r->pending_len > 0) {
            n += take(r, (uint8_t *)buf + n, len - n);
            deadline = cli_now_ms(); /* from now on, only what is already there */
            continue;
        }
        if (n > 0 && r->s->start == r->s->end)
            break; /* nothing buffered: do not spend a system call looking */
        int rc = next_bytes(r, deadline);
        if (rc == 1)
            r->ended = 1;
        else if (rc < 0)
            return n > 0 ? (ssize_t)n : rc;
    }
    return (ssize_t)n;
}

const hfs_error *hfs_reader_error(const hfs_reader *r)
{
    return r ? &r->s->err : &no_reader;
}

uint64_t hfs_reader_bytes(const hfs_reader *r)
{
    return r ? r->bytes : 0;
}

/* Sends CLOSE 1000 and reads (dropping data) until the server's CLOSE, the end, or a short wait. */
static void close_websocket(cli_session *s)
{
    int64_t deadline = cli_now_ms() + CLI_READER_CLOSE_WAIT_MS;
    ws_event ev;

    cli_session_send_close(s, WS_CLOSE_NORMAL);
    while (!s->close_received && cli_session_next(s, &ev, deadline) == HFS_OK)
        ;
}

void hfs_reader_close(hfs_reader *r)
{
    if (!r)
        return;
    cli_session *s = r->s;
    int healthy = s->err.code == HFS_OK;
    if (healthy && s->websocket && !s->close_received)
        close_websocket(s);
    cli_session_free(s, healthy);
    free(r);
}
