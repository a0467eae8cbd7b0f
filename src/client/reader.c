/* reader.c -- hfs_follow and the reader handle: bytes of a followed resource, from WebSocket frames
 * after a 101 or from the body of a 200, handed out where they lie in the receive buffer.
 *
 * A follow can start elsewhere than at the first byte (?offset, ?lines) and wait for a resource
 * not written yet (?wait). With opts.resume, a dropped connection, or a stream the server cut with
 * CLOSE 1001 because it was shutting down, is replaced by a new one that asks for the next byte
 * (?offset=N); that is only done with a server that said where its stream starts
 * (X-Follow-Offset), so no byte is ever delivered twice or skipped.
 *
 * A server that does not say so (the original) ignores those requests: it sends the resource from
 * byte 0 and answers 404 until the resource exists. The reader then honours them itself: the start
 * goes through a cli_start filter (start.c), measured from the 200's length or, for a live stream,
 * from the size asked once with hfs_size (size.c); a 404 is asked again with a growing pause. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client/error.h"
#include "client/session.h"
#include "client/start.h"
#include "httpfstream.h"

#define CLI_READER_CLOSE_WAIT_MS 500  /* how long hfs_reader_close waits for the server's CLOSE */
#define CLI_WAIT_FIRST_MS        100  /* -wait against a server that answers 404: first pause */
#define CLI_WAIT_MAX_MS          2000 /* ... doubling up to this */
#define CLI_PROGRESS_MS          250  /* opts.progress_ms 0 */

struct hfs_reader {
    cli_session *s;
    const uint8_t *pending; /* decoded bytes not yet handed out (inside s->buf) */
    size_t pending_len;
    uint64_t bytes;          /* handed out so far */
    int ended;               /* the stream is over: reads return 0 */
    uint64_t start;          /* resource offset of the first byte, UINT64_MAX when unknown */
    uint64_t session_at;     /* bytes handed out when the current session began */
    unsigned idle_resumes;   /* resumed sessions in a row that delivered nothing */
    hfs_client_options opts; /* opts.token points to token */
    char *url;
    char *token;           /* a copy of the caller's: every reconnect sends it */
    cli_start st;          /* the start, when done here (the server did not say where it starts) */
    int st_ended;          /* the stream ended while st held bytes back: end after handing them */
    int resume_noted;      /* the error message says why it was not resumed */
    uint64_t size;         /* the resource's size as known, UINT64_MAX when not */
    int64_t next_progress; /* when opts.progress is due */
};

static const hfs_error no_reader = {.code = HFS_ERR_INVALID, .message = "no reader"};

/* Turns a non-101 answer other than 200 into the caller's error. */
static int check_status(cli_session *s)
{
    int status = s->resp.status;

    if (s->websocket || status == 200)
        return HFS_OK;
    if (status == 401 || status == 403)
        return cli_session_fail_denied(s, "read", NULL);
    if (status == 404)
        cli_session_fail(s, HFS_ERR_NOT_FOUND, "file does not exist");
    else if (status == 416 && s->resp.has_range_total)
        cli_session_fail(s, HFS_ERR_HTTP,
                         "HTTP status 416: the start is past the end of the resource (%" PRIu64
                         " bytes)",
                         s->resp.range_total);
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

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* Opens the first session; with opts.wait, a 404 (a server that does not wait) is asked again. */
static int open_first(hfs_reader *r, hfs_error *err)
{
    unsigned pause = CLI_WAIT_FIRST_MS;

    for (;;) {
        int rc = open_session(r, UINT64_MAX, err);
        if (rc != HFS_ERR_NOT_FOUND || !r->opts.wait)
            return rc;
        sleep_ms(pause);
        pause = pause * 2 < CLI_WAIT_MAX_MS ? pause * 2 : CLI_WAIT_MAX_MS;
    }
}

/* The start asked for, in words, for messages. */
static void describe_start(const hfs_client_options *o, char *buf, size_t cap)
{
    if (o->from == HFS_FROM_OFFSET)
        snprintf(buf, cap, "a start at byte %" PRIu64, o->from_n);
    else if (o->from == HFS_FROM_END)
        snprintf(buf, cap, "a start %" PRIu64 " bytes before the end", o->from_n);
    else if (o->from == HFS_FROM_NOW)
        snprintf(buf, cap, "a start at the end (now)");
    else
        snprintf(buf, cap, "the last %" PRIu64 " line%s", o->from_n, o->from_n == 1 ? "" : "s");
}

/* The start lies past the end of the resource (size bytes): the error a server that takes offsets
 * gives (416). Returns HFS_ERR_HTTP. */
static int past_end(hfs_reader *r, uint64_t start, uint64_t size)
{
    if (r->s->err.code != HFS_OK)
        return r->s->err.code;
    cli_session_fail(r->s, HFS_ERR_HTTP,
                     "the start (byte %" PRIu64 ") is past the end of the resource (%" PRIu64
                     " bytes)",
                     start, size);
    r->s->err.http_status = 416;
    return HFS_ERR_HTTP;
}

/* The message of e without the URL it starts with (as messages show it: redacted). */
static const char *without_url(const hfs_error *e, const char *url)
{
    char shown[sizeof(e->message)];
    size_t n = cli_url_redact(url, shown, sizeof(shown));

    return n < sizeof(shown) && strncmp(e->message, shown, n) == 0 && e->message[n] == ':'
               ? e->message + n + 2
               : e->message;
}

/* A start counted back from the end of a live stream, whose size could not be had. */
static int no_size(hfs_reader *r, const hfs_error *why)
{
    char what[64];

    describe_start(&r->opts, what, sizeof(what));
    return cli_session_fail(r->s, HFS_ERR_PROTOCOL,
                            "cannot honour %s: the server does not take a start (no "
                            "X-Follow-Offset) and the resource's size could not be had (%s)",
                            what, without_url(why, r->url));
}

/* Sets up the start here when it was asked for and the server did not say where its stream starts:
 * see hfs_follow. Returns HFS_OK or the error (recorded). */
static int plan_start(hfs_reader *r)
{
    cli_session *s = r->s;
    uint64_t n = r->opts.from_n, size = UINT64_MAX, back;
    hfs_error why = {.code = HFS_OK};

    cli_start_init(&r->st);
    if (!s->websocket && s->resp.has_length)
        r->size = (s->resp.has_follow_offset ? s->resp.follow_offset : 0) + s->resp.length;
    if (r->opts.from < HFS_FROM_OFFSET || r->opts.from > HFS_FROM_LINES ||
        s->resp.has_follow_offset)
        return HFS_OK;
    if (!s->websocket)
        size = r->size;
    else if (cli_size(r->url, &r->opts, &size, &why) == HFS_OK)
        r->size = size;
    switch (r->opts.from) {
    case HFS_FROM_OFFSET:
        if (size != UINT64_MAX && n > size)
            return past_end(r, n, size);
        cli_start_skip(&r->st, n);
        break;
    case HFS_FROM_END:
    case HFS_FROM_NOW:
        back = r->opts.from == HFS_FROM_NOW ? 0 : n;
        if (size != UINT64_MAX)
            cli_start_skip(&r->st, size > back ? size - back : 0);
        else if (s->websocket)
            return no_size(r, &why);
        else if (cli_start_tail(&r->st, back) < 0)
            return cli_session_fail(s, HFS_ERR_PROTOCOL,
                                    "cannot start %" PRIu64 " bytes before the end: the server "
                                    "does not take a start and sent no length, and more than "
                                    "64 MiB cannot be held back",
                                    n);
        break;
    default: /* HFS_FROM_LINES */
        if (size == UINT64_MAX && s->websocket)
            return no_size(r, &why);
        cli_start_lines(&r->st, n, s->websocket ? size : CLI_START_UNTIL_END);
        break;
    }
    r->start = r->st.start;
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
    if (r->opts.token && !(r->token = strdup(r->opts.token))) {
        free(r->url);
        free(r);
        return cli_error_set(err, url, HFS_ERR_NOMEM, "out of memory");
    }
    r->opts.token = r->token;
    r->size = UINT64_MAX;
    cli_start_init(&r->st);
    rc = open_first(r, err);
    if (rc == HFS_OK && (rc = plan_start(r)) != HFS_OK) {
        if (err)
            *err = r->s->err;
        cli_session_free(r->s, 0);
        cli_start_free(&r->st);
    }
    if (rc != HFS_OK) {
        free(r->url);
        free(r->token);
        free(r);
        return rc;
    }
    r->next_progress = cli_now_ms() + (r->opts.progress_ms ? r->opts.progress_ms : CLI_PROGRESS_MS);
    *out = r;
    return HFS_OK;
}

/* A dropped connection that is not resumed because the server does not report offsets: says so in
 * the message, once. */
static void note_not_resumed(hfs_reader *r)
{
    static const char why[] = "; not resumed: the server does not report offsets";
    size_t len = strlen(r->s->err.message);

    if (r->resume_noted || len + sizeof(why) > sizeof(r->s->err.message))
        return;
    memcpy(r->s->err.message + len, why, sizeof(why));
    r->resume_noted = 1;
}

/* A dropped connection, or CLOSE 1001 (the server went away: it sends every byte it has first):
 * resume from the next byte if allowed, with a growing pause between tries. Returns HFS_OK with a
 * fresh session, or the original error. */
static int resume(hfs_reader *r)
{
    int code = r->s->err.code;
    int going_away = code == HFS_ERR_CLOSED && r->s->err.close_code == WS_CLOSE_GOING_AWAY;
    uint64_t at;

    if ((code == HFS_ERR_NETWORK || going_away) && r->opts.resume > 0 &&
        !r->s->resp.has_follow_offset)
        note_not_resumed(r);
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
        hfs_error e;
        cli_session *old = r->s;
        sleep_ms(attempt < 8 ? 100u << (attempt - 1) : 10000);
        r->s = NULL;
        if (open_session(r, at, &e) == HFS_OK) {
            cli_session_free(old, 0);
            r->pending = NULL;
            r->pending_len = 0;
            return HFS_OK;
        }
        r->s = old;
        if (e.http_status == 401 || e.http_status == 403) {
            r->s->err = e; /* the credential has expired or was revoked: that is the story */
            return e.code;
        }
        if (e.code != HFS_ERR_NETWORK && e.code != HFS_ERR_TIMEOUT)
            break; /* the server answered, and not with the stream: stop trying */
    }
    return code;
}

/* Decodes the next frames: HFS_OK with *data and *len (maybe empty), 1 at the end, HFS_ERR_TIMEOUT
 * when nothing came before deadline, or an error. */
static int next_frames(hfs_reader *r, int64_t deadline, const uint8_t **data, size_t *len)
{
    cli_session *s = r->s;
    ws_event ev;
    int rc = cli_session_next(s, &ev, deadline);

    if (rc == 1)
        return cli_session_fail_eof(s);
    if (rc != HFS_OK)
        return rc;
    if (ev.type == WS_EV_DATA) {
        *data = ev.data;
        *len = ev.len;
        return HFS_OK;
    }
    if (ev.close_code == WS_CLOSE_NORMAL || ev.close_code == WS_CLOSE_NO_STATUS)
        return 1;
    return cli_session_fail_closed(s, ev.close_code, ev.data, ev.len);
}

/* The start, when done here, is known once its bytes have come. */
static void note_start(hfs_reader *r)
{
    if (r->start == UINT64_MAX && r->st.start != UINT64_MAX)
        r->start = r->st.start;
}

/* The stream ended: what the start held back is handed out before the end. Returns HFS_OK with
 * pending bytes, 1 at the end, or an error. */
static int stream_end(hfs_reader *r)
{
    const uint8_t *out;
    size_t out_len;

    if (cli_start_end(&r->st, &out, &out_len) != 0)
        return past_end(r, r->st.start, r->st.at);
    note_start(r);
    if (out_len == 0)
        return 1;
    r->st_ended = 1;
    r->pending = out;
    r->pending_len = out_len;
    return HFS_OK;
}

/* Fills r->pending (maybe with nothing, while the start drops or holds bytes back): HFS_OK, 1 at
 * the end of the stream, HFS_ERR_TIMEOUT, or an error. */
static int next_bytes(hfs_reader *r, int64_t deadline)
{
    const uint8_t *data = NULL, *out;
    size_t len = 0, out_len;
    int rc;

    if (r->st_ended)
        return 1;
    if (r->s->websocket)
        rc = next_frames(r, deadline, &data, &len);
    else
        rc = cli_session_next_body(r->s, deadline, &data, &len);
    if (rc == 1)
        return stream_end(r);
    if (rc != HFS_OK)
        return rc;
    if (cli_start_feed(&r->st, data, len, &out, &out_len) != 0)
        return cli_session_fail(r->s, HFS_ERR_NOMEM, "out of memory");
    note_start(r);
    r->pending = out;
    r->pending_len = out_len;
    return HFS_OK;
}

/* Calls opts.progress when it is due (or now, with force). */
static void report_progress(hfs_reader *r, int force)
{
    int64_t now;

    if (!r->opts.progress)
        return;
    now = cli_now_ms();
    if (!force && now < r->next_progress)
        return;
    r->opts.progress(r->opts.progress_data, r->bytes);
    r->next_progress = now + (r->opts.progress_ms ? r->opts.progress_ms : CLI_PROGRESS_MS);
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
 * met after some bytes is reported by the next call. With opts.progress, the wait for the first
 * bytes is cut into slices of progress_ms, and progress is called after each. */
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
        int waiting = n == 0 && r->opts.progress;
        int rc = next_bytes(r, waiting ? r->next_progress : deadline);
        if (rc == 1)
            r->ended = 1;
        else if (rc == HFS_ERR_TIMEOUT && waiting)
            report_progress(r, 1);
        else if (rc == HFS_ERR_TIMEOUT || (rc < 0 && n > 0))
            break; /* report the bytes; the next call meets the error (or resumes) */
        else if (rc < 0 && resume(r) != HFS_OK)
            return r->s->err.code; /* rc, or why the reconnect was refused */
    }
    report_progress(r, 0);
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

uint64_t hfs_reader_size(const hfs_reader *r)
{
    return r ? r->size : UINT64_MAX;
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
    cli_start_free(&r->st);
    free(r->url);
    free(r->token);
    free(r);
}
