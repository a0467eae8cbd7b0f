/* reader.c -- hfs_follow and the reader handle: bytes of a followed resource, from WebSocket frames
 * after a 101 or from the body of a 200, handed out where they lie in the receive buffer.
 *
 * A follow can start elsewhere than at the first byte (?offset, ?lines) and wait for a resource
 * not written yet (?wait). With opts.resume, a dropped connection, or a stream the server cut with
 * CLOSE 1001 because it was shutting down, is replaced by a new one that asks for the next byte
 * (?offset=N); that is only done with a server that said where its stream starts
 * (X-Follow-Offset), so no byte is ever delivered twice or skipped. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client/error.h"
#include "client/session.h"
#include "httpfstream.h"

#define CLI_READER_CLOSE_WAIT_MS 500 /* how long hfs_reader_close waits for the server's CLOSE */

struct hfs_reader {
    cli_session *s;
    const uint8_t *pending; /* decoded bytes not yet handed out (inside s->buf) */
    size_t pending_len;
    uint64_t bytes;        /* handed out so far */
    int ended;             /* the stream is over: reads return 0 */
    uint64_t start;        /* resource offset of the first byte, UINT64_MAX when unknown */
    uint64_t session_at;   /* bytes handed out when the current session began */
    unsigned idle_resumes; /* resumed sessions in a row that delivered nothing */
    hfs_client_options opts;
    char *url;
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

/* The query that asks for the follow's start: frames=binary, offset or lines, wait. */
static void follow_query(const hfs_client_options *o, uint64_t resume_at, char *q, size_t cap)
{
    size_t n = 0;

    q[0] = '\0';
    if (o->binary)
        n += (size_t)snprintf(q + n, cap - n, "frames=binary&");
    if (resume_at != UINT64_MAX)
        n += (size_t)snprintf(q + n, cap - n, "offset=%" PRIu64 "&", resume_at);
    else if (o->from == HFS_FROM_OFFSET)
        n += (size_t)snprintf(q + n, cap - n, "offset=%" PRIu64 "&", o->from_n);
    else if (o->from == HFS_FROM_END)
        n += (size_t)snprintf(q + n, cap - n, "offset=-%" PRIu64 "&", o->from_n);
    else if (o->from == HFS_FROM_NOW)
        n += (size_t)snprintf(q + n, cap - n, "offset=now&");
    else if (o->from == HFS_FROM_LINES)
        n += (size_t)snprintf(q + n, cap - n, "lines=%" PRIu64 "&", o->from_n);
    if (o->wait) /* also when resuming: the resource may still not exist */
        n += (size_t)snprintf(q + n, cap - n, "wait&");
    if (n > 0)
        q[n - 1] = '\0'; /* the last '&' */
}

/* Opens a session for r starting at resume_at (UINT64_MAX: where the options say). */
static int open_session(hfs_reader *r, uint64_t resume_at, hfs_error *err)
{
    char query[128];
    cli_session *s;

    follow_query(&r->opts, resume_at, query, sizeof(query));
    int rc = cli_session_open(&s, r->url, &r->opts, "FOLLOW", query, CLI_READ_BYTES, err);
    if (rc == HFS_OK && (rc = check_status(s)) != HFS_OK) {
        if (err)
            *err = s->err;
        cli_session_free(s, 0);
    }
    if (rc != HFS_OK)
        return rc;
    if (resume_at != UINT64_MAX && s->resp.follow_offset != resume_at) {
        rc = cli_session_fail(s, HFS_ERR_PROTOCOL, "resumed at offset %" PRIu64 ", not %" PRIu64,
                              s->resp.follow_offset, resume_at);
        if (err)
            *err = s->err;
        cli_session_free(s, 0);
        return rc;
    }
    r->s = s;
    r->session_at = r->bytes;
    if (resume_at == UINT64_MAX) {
        /* Where the stream starts: the server says so; a plain follow of a server that says
         * nothing starts at 0 unless another start was asked for. */
        if (s->resp.has_follow_offset)
            r->start = s->resp.follow_offset;
        else
            r->start = r->opts.from == HFS_FROM_START ? 0 : UINT64_MAX;
    }
    return HFS_OK;
}

int hfs_follow(const char *url, const hfs_client_options *opts, hfs_reader **out, hfs_error *err)
{
    hfs_reader *r;
    int rc;

    if (!out)
        return cli_error_set(err, url, HFS_ERR_INVALID, "no place to store the reader");
    *out = NULL;
    r = calloc(1, sizeof(*r));
    if (!r || !url || !(r->url = strdup(url))) {
        free(r);
        return cli_error_set(err, url ? url : "(no URL)", url ? HFS_ERR_NOMEM : HFS_ERR_INVALID,
                             url ? "out of memory" : "no URL given");
    }
    if (opts)
        r->opts = *opts;
    else
        cli_options_default(&r->opts);
    rc = open_session(r, UINT64_MAX, err);
    if (rc != HFS_OK) {
        free(r->url);
        free(r);
        return rc;
    }
    *out = r;
    return HFS_OK;
}

/* A dropped connection, or CLOSE 1001 (the server went away: it sends every byte it has first):
 * resume from the next byte if allowed, with a growing pause between tries. Returns HFS_OK with a
 * fresh session, or the original error. */
static int resume(hfs_reader *r)
{
    int code = r->s->err.code;
    int going_away = code == HFS_ERR_CLOSED && r->s->err.close_code == WS_CLOSE_GOING_AWAY;
    uint64_t at;

    if ((code != HFS_ERR_NETWORK && !going_away) || r->opts.resume == 0 || r->start == UINT64_MAX ||
        !r->s->resp.has_follow_offset)
        return code;
    /* A session that delivered nothing counts against the same budget as a failed attempt, so a
     * server that accepts and drops at once is not retried for ever. */
    if (r->bytes == r->session_at && ++r->idle_resumes > r->opts.resume)
        return code;
    if (r->bytes != r->session_at)
        r->idle_resumes = 0;
    at = r->start + r->bytes;
    for (unsigned attempt = 1; attempt <= r->opts.resume; attempt++) {
        unsigned ms = attempt < 8 ? 100u << (attempt - 1) : 10000;
        struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
        hfs_error e;
        cli_session *old = r->s;
        nanosleep(&ts, NULL);
        r->s = NULL;
        if (open_session(r, at, &e) == HFS_OK) {
            cli_session_free(old, 0);
            r->pending = NULL;
            r->pending_len = 0;
            return HFS_OK;
        }
        r->s = old;
        if (e.code != HFS_ERR_NETWORK && e.code != HFS_ERR_TIMEOUT)
            break; /* the server answered, and not with the stream: stop trying */
    }
    return code;
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
    if (r->s->err.code != HFS_OK && resume(r) != HFS_OK)
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
        else if (rc == HFS_ERR_TIMEOUT || (rc < 0 && n > 0))
            break; /* report the bytes; the next call meets the error (or resumes) */
        else if (rc < 0 && resume(r) != HFS_OK)
            return rc;
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

uint64_t hfs_reader_offset(const hfs_reader *r)
{
    return r && r->start != UINT64_MAX ? r->start + r->bytes : UINT64_MAX;
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
    free(r->url);
    free(r);
}
