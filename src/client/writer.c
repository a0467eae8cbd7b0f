/* writer.c -- hfs_open_append, the writer handle and hfs_append: each write is one masked,
 * unfragmented TEXT message (the original server dropped BINARY ones), and whatever the server
 * sends (PING, CLOSE with 1009 ...) is handled before each write without blocking. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/error.h"
#include "client/session.h"
#include "httpfstream.h"

#define CLI_WRITER_CLOSE_WAIT_MS 5000 /* how long hfs_writer_close waits for the server's CLOSE */
#define CLI_APPEND_PROGRESS_MS   250  /* opts.progress_ms 0 */
/* hfs_append sends at most this much per message. */
#define CLI_APPEND_READ_BYTES ((size_t)64 * 1024)

struct hfs_writer {
    cli_session *s;
};

static const hfs_error no_writer = {.code = HFS_ERR_INVALID, .message = "no writer"};

/* The server answered the handshake with status instead of a 101: records why. A 403 is another
 * appender (the original's body, which ours keeps) or, with any other body, a credential without
 * the append right; a 401 is a missing or unknown credential. Returns the code recorded. */
static int refused(cli_session *s)
{
    char reason[CLI_REASON_BYTES + 1];
    int status = s->resp.status;

    if (status == 401)
        return cli_session_fail_denied(s, "append to", NULL);
    if (status == 403) {
        cli_session_reason(s, reason);
        if (!strstr(reason, "already has an active writer"))
            return cli_session_fail_denied(s, "append to", reason);
        cli_session_fail(s, HFS_ERR_CONFLICT, "path already has an active writer");
    } else {
        cli_session_fail(s, HFS_ERR_HTTP, "HTTP status %d", status);
    }
    s->err.http_status = status;
    return s->err.code;
}

int hfs_open_append(const char *url, const hfs_client_options *opts, hfs_writer **out,
                    hfs_error *err)
{
    hfs_writer *w;
    int rc;

    if (!out)
        return cli_error_set(err, url, HFS_ERR_INVALID, "no place to store the writer");
    *out = NULL;
    w = calloc(1, sizeof(*w));
    if (!w)
        return cli_error_set(err, url, HFS_ERR_NOMEM, "out of memory");
    rc = cli_session_open(&w->s, url, opts, "APPEND", NULL, CLI_WRITER_READ_BYTES, err);
    if (rc == HFS_OK && !w->s->websocket) {
        rc = refused(w->s);
        if (err)
            *err = w->s->err;
        cli_session_free(w->s, 0);
    }
    if (rc != HFS_OK) {
        free(w);
        return rc;
    }
    *out = w;
    return HFS_OK;
}

/* Handles everything the server has sent so far, without blocking. */
static int drain(cli_session *s)
{
    ws_event ev;

    for (;;) {
        int rc = cli_session_next(s, &ev, cli_now_ms());
        if (rc == HFS_ERR_TIMEOUT)
            return HFS_OK;
        if (rc == 1)
            return cli_session_fail_eof(s);
        if (rc != HFS_OK)
            return rc;
        if (ev.type == WS_EV_CLOSE)
            return cli_session_fail_closed(s, ev.close_code, ev.data, ev.len);
        /* data frames from the server mean nothing to an appender */
    }
}

/* A send failed: when the server had sent a CLOSE first (1009 for a message over its limit), that
 * is the better explanation, so look for it among the bytes already received. */
static int explain_send_failure(cli_session *s)
{
    hfs_error send_err = s->err;
    ws_event ev;

    s->err.code = HFS_OK;
    while (cli_session_next(s, &ev, cli_now_ms()) == HFS_OK)
        if (ev.type == WS_EV_CLOSE)
            return cli_session_fail_closed(s, ev.close_code, ev.data, ev.len);
    s->err = send_err;
    return s->err.code;
}

/* Sends buf as one TEXT message; in_place: buf may be masked in place (see
 * cli_session_send_in_place). */
static int send_message(hfs_writer *w, const void *buf, size_t len, int in_place)
{
    cli_session *s = w->s;
    int rc;

    if (s->err.code != HFS_OK)
        return s->err.code;
    rc = drain(s);
    if (rc != HFS_OK || len == 0)
        return rc;
    if (in_place)
        rc = cli_session_send_in_place(s, WS_OP_TEXT, (uint8_t *)buf, len);
    else
        rc = cli_session_send(s, WS_OP_TEXT, buf, len);
    return rc == HFS_OK ? HFS_OK : explain_send_failure(s);
}

int hfs_writer_write(hfs_writer *w, const void *buf, size_t len)
{
    if (!w || (!buf && len))
        return HFS_ERR_INVALID;
    return send_message(w, buf, len, 0);
}

const hfs_error *hfs_writer_error(const hfs_writer *w)
{
    return w ? &w->s->err : &no_writer;
}

/* Sends CLOSE 1000 and waits for the server's CLOSE, dropping anything else it sends. */
static int close_websocket(cli_session *s)
{
    int64_t deadline = cli_now_ms() + CLI_WRITER_CLOSE_WAIT_MS;
    ws_event ev;

    cli_session_send_close(s, WS_CLOSE_NORMAL);
    for (;;) {
        int rc = cli_session_next(s, &ev, deadline);
        if (rc == 1)
            return HFS_OK; /* the server hung up without CLOSE, as the original one may */
        if (rc == HFS_ERR_TIMEOUT)
            return cli_session_fail(s, HFS_ERR_TIMEOUT, "the server did not answer CLOSE in time");
        if (rc != HFS_OK)
            return rc;
        if (ev.type != WS_EV_CLOSE)
            continue;
        if (ev.close_code == WS_CLOSE_NORMAL || ev.close_code == WS_CLOSE_NO_STATUS)
            return HFS_OK;
        return cli_session_fail_closed(s, ev.close_code, ev.data, ev.len);
    }
}

int hfs_writer_close(hfs_writer *w, hfs_error *err)
{
    int rc;

    cli_error_clear(err);
    if (!w)
        return HFS_OK;
    rc = w->s->err.code;
    if (rc == HFS_OK)
        rc = close_websocket(w->s);
    if (rc != HFS_OK && err)
        *err = w->s->err;
    cli_session_free(w->s, rc == HFS_OK);
    free(w);
    return rc;
}

/* Reads fd into buf once: > 0 bytes, 0 at EOF, HFS_ERR_TIMEOUT to poll again, HFS_ERR_IO. */
static ssize_t read_input(int fd, uint8_t *buf, size_t len, int *io_errno)
{
    ssize_t n = read(fd, buf, len);

    if (n >= 0)
        return n;
    *io_errno = errno;
    return errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK ? HFS_ERR_TIMEOUT : HFS_ERR_IO;
}

/* opts.progress of hfs_append, and when it is due next. */
typedef struct pump_progress {
    hfs_progress_fn fn; /* NULL: none */
    void *data;
    int64_t interval, next;
} pump_progress;

/* The poll() timeout until progress is due (-1: none). */
static int progress_wait(const pump_progress *pp)
{
    if (!pp->fn)
        return -1;
    int64_t left = pp->next - cli_now_ms();
    return left <= 0 ? 0 : (int)left;
}

/* Calls the progress function when it is due. */
static void progress_due(pump_progress *pp, uint64_t sent)
{
    int64_t now;

    if (!pp->fn || (now = cli_now_ms()) < pp->next)
        return;
    pp->fn(pp->data, sent);
    pp->next = now + pp->interval;
}

/* Copies fd to w until EOF. buf has WS_HEADER_MAX writable bytes before it, for the frame header.
 * Returns HFS_OK at EOF, HFS_ERR_IO (with *io_errno) when fd fails, or the session's error. */
static int pump(hfs_writer *w, int fd, uint8_t *buf, uint64_t *sent, int *io_errno,
                pump_progress *pp)
{
    struct pollfd p[2] = {{.fd = fd, .events = POLLIN},
                          {.fd = cli_conn_fd(w->s->conn), .events = POLLIN}};

    for (;;) {
        int n = poll(p, 2, cli_conn_has_buffered(w->s->conn) ? 0 : progress_wait(pp));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            *io_errno = errno;
            return HFS_ERR_IO;
        }
        progress_due(pp, *sent);
        if ((p[1].revents || cli_conn_has_buffered(w->s->conn)) && drain(w->s) != HFS_OK)
            return w->s->err.code;
        if (p[0].revents & POLLNVAL) {
            *io_errno = EBADF;
            return HFS_ERR_IO;
        }
        if (!p[0].revents)
            continue;
        ssize_t got = read_input(fd, buf, CLI_APPEND_READ_BYTES, io_errno);
        if (got == 0 || got == HFS_ERR_IO)
            return (int)got;
        if (got == HFS_ERR_TIMEOUT)
            continue;
        if (send_message(w, buf, (size_t)got, 1) != HFS_OK)
            return w->s->err.code;
        *sent += (uint64_t)got;
    }
}

int hfs_append(const char *url, int fd, const hfs_client_options *opts, uint64_t *sent,
               hfs_error *err)
{
    uint64_t count = 0;
    hfs_writer *w = NULL;
    uint8_t *buf;
    int rc, io_errno = 0;
    pump_progress pp = {.fn = opts ? opts->progress : NULL};

    if (sent)
        *sent = 0;
    if (fd < 0)
        return cli_error_set(err, url, HFS_ERR_INVALID, "bad input file descriptor %d", fd);
    rc = hfs_open_append(url, opts, &w, err);
    if (rc != HFS_OK || !w)
        return rc != HFS_OK ? rc : HFS_ERR_NOMEM;
    if (pp.fn) {
        pp.data = opts->progress_data;
        pp.interval = opts->progress_ms ? opts->progress_ms : CLI_APPEND_PROGRESS_MS;
        pp.next = cli_now_ms() + pp.interval;
    }
    buf = malloc(WS_HEADER_MAX + CLI_APPEND_READ_BYTES);
    if (!buf)
        cli_session_fail(w->s, HFS_ERR_NOMEM, "out of memory");
    rc = buf ? pump(w, fd, buf + WS_HEADER_MAX, &count, &io_errno, &pp) : HFS_ERR_NOMEM;
    free(buf);
    if (sent)
        *sent = count;
    if (rc == HFS_ERR_IO) {
        hfs_writer_close(w, NULL); /* what was sent stays: end the session cleanly */
        return cli_error_set(err, url, HFS_ERR_IO, "reading the input: %s", strerror(io_errno));
    }
    return hfs_writer_close(w, err);
}
