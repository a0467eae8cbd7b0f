/* session.c -- the part of a client connection that readers and writers share: opening (URL,
 * connect, handshake, response headers), the receive buffer decoded as an HTTP body or as WebSocket
 * frames, control frames, masked frame sending, and recording the first error. */
#include "client/session.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "client/error.h"

#define CLI_CLOSE_SEND_MS 2000 /* a CLOSE that cannot be sent by then is given up */

void cli_options_default(hfs_client_options *o)
{
    memset(o, 0, sizeof(*o));
}

void hfs_client_options_init(hfs_client_options *o)
{
    if (o)
        cli_options_default(o);
}

int cli_session_fail(cli_session *s, int code, const char *fmt, ...)
{
    va_list ap;
    char text[sizeof(s->err.message)];

    if (s->err.code != HFS_OK)
        return code;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    cli_error_set(&s->err, s->url.text, code, "%s", text);
    return code;
}

/* Keeps the details of a failed I/O call that reported into e (cleared before the call: a read
 * that merely timed out reports nothing); passes rc through. */
static int keep(cli_session *s, int rc, const hfs_error *e)
{
    if (rc < 0 && e->code == rc && s->err.code == HFS_OK)
        s->err = *e;
    return rc;
}

/* Reads more bytes after [start, end), moving them to the front first. Returns the count, 0 at
 * EOF, HFS_ERR_TIMEOUT, or an error (recorded). */
static ssize_t fill(cli_session *s, int64_t deadline)
{
    hfs_error e = {.code = HFS_OK};

    if (s->start == s->end) {
        s->start = s->end = 0;
    } else if (s->start > 0) {
        memmove(s->buf, s->buf + s->start, s->end - s->start);
        s->end -= s->start;
        s->start = 0;
    }
    if (s->end == s->cap)
        return cli_session_fail(s, HFS_ERR_PROTOCOL, "receive buffer full");
    ssize_t n = cli_conn_read(s->conn, s->buf + s->end, s->cap - s->end, deadline, &e);
    if (n > 0)
        s->end += (size_t)n;
    else
        keep(s, (int)n, &e);
    return n;
}

/* ---- opening ---- */

/* Sends the handshake with X-Verb verb and key, or with verb NULL the one-byte GET. */
static int send_request(cli_session *s, const char *verb, const char *key, const char *token,
                        int64_t deadline)
{
    size_t len = 0;
    char *req = verb ? cli_handshake_request(&s->url, verb, key, token, &len)
                     : cli_size_request(&s->url, token, &len);
    hfs_error e = {.code = HFS_OK};
    int rc;

    if (!req)
        return cli_session_fail(s, HFS_ERR_NOMEM, "out of memory");
    rc = keep(s, cli_conn_write(s->conn, req, len, deadline, &e), &e);
    free(req);
    return rc;
}

/* Reads and parses until the response's headers are complete. */
static int read_headers(cli_session *s, int64_t deadline)
{
    for (;;) {
        size_t used = 0;
        cli_http_event ev =
            cli_response_feed(&s->resp, (const char *)s->buf + s->start, s->end - s->start, &used);
        s->start += used;
        if (ev == CLI_HTTP_HEADERS || ev == CLI_HTTP_UPGRADE)
            return HFS_OK;
        if (ev == CLI_HTTP_ERROR)
            return cli_session_fail(s, HFS_ERR_PROTOCOL, "bad HTTP response: %s", s->resp.error);
        ssize_t n = fill(s, deadline);
        if (n == HFS_ERR_TIMEOUT)
            return cli_session_fail(s, HFS_ERR_TIMEOUT, "no response from the server in time");
        if (n < 0)
            return (int)n;
        if (n == 0) {
            cli_response_eof(&s->resp); /* an error before the headers: it says why */
            return cli_session_fail(s, HFS_ERR_NETWORK, "%s", s->resp.error);
        }
    }
}

static int handshake(cli_session *s, const char *verb, const char *token, int64_t deadline)
{
    char key[WS_KEY_LEN + 1];
    const char *why;
    int rc;

    if (cli_handshake_key(key) != 0)
        return cli_session_fail(s, HFS_ERR_IO, "no random bytes for the handshake key");
    rc = send_request(s, verb, key, token, deadline);
    if (rc == HFS_OK)
        rc = read_headers(s, deadline);
    if (rc != HFS_OK || s->resp.status != 101 || !verb)
        return rc;
    why = cli_response_check_upgrade(&s->resp, key);
    if (why)
        return cli_session_fail(s, HFS_ERR_PROTOCOL, "bad WebSocket handshake: %s", why);
    s->websocket = 1;
    ws_decoder_init(&s->dec, WS_ROLE_CLIENT, 0);
    return HFS_OK;
}

static int connect_and_handshake(cli_session *s, const hfs_client_options *o, const char *verb)
{
    int64_t deadline = cli_deadline_in(o->connect_timeout_ms);
    hfs_error e = {.code = HFS_OK};
    int rc = keep(s, cli_conn_open(&s->conn, &s->url, o, deadline, &e), &e);

    if (rc == HFS_OK)
        rc = handshake(s, verb, o->token, deadline);
    return rc;
}

/* Refuses a token that cannot be sent, before anything is; notes whether a credential goes out. */
static int check_credential(cli_session *s, const hfs_client_options *o)
{
    const char *why = cli_token_check(o->token);

    if (why)
        return cli_session_fail(s, HFS_ERR_INVALID, "invalid token: %s", why);
    s->credential =
        o->token || cli_url_has_param(&s->url, "token") || cli_url_has_param(&s->url, "sig");
    return HFS_OK;
}

int cli_session_open(cli_session **out, const char *url, const hfs_client_options *o,
                     const char *verb, const char *query, size_t buf_bytes, hfs_error *err)
{
    hfs_client_options defaults;
    cli_session *s = calloc(1, sizeof(*s));
    int rc;

    *out = NULL;
    cli_error_clear(err);
    if (!o) {
        cli_options_default(&defaults);
        o = &defaults;
    }
    if (!s || !(s->buf = malloc(buf_bytes))) {
        free(s);
        return cli_error_set(err, url, HFS_ERR_NOMEM, "out of memory");
    }
    s->cap = buf_bytes;
    cli_response_init(&s->resp);
    rc = cli_url_parse(&s->url, url, &s->err);
    if (rc == HFS_OK)
        rc = check_credential(s, o);
    if (rc == HFS_OK && query && *query && cli_url_add_query(&s->url, query) != HFS_OK)
        rc = cli_session_fail(s, HFS_ERR_NOMEM, "out of memory");
    if (rc == HFS_OK)
        rc = connect_and_handshake(s, o, verb);
    if (rc != HFS_OK) {
        if (err)
            *err = s->err;
        cli_session_free(s, 0);
        return rc;
    }
    *out = s;
    return HFS_OK;
}

/* ---- receiving ---- */

int cli_session_next_body(cli_session *s, int64_t deadline, const uint8_t **data, size_t *len)
{
    for (;;) {
        size_t used = 0;
        cli_http_event ev =
            cli_response_feed(&s->resp, (const char *)s->buf + s->start, s->end - s->start, &used);
        s->start += used;
        if (ev == CLI_HTTP_BODY) {
            *data = (const uint8_t *)s->resp.body;
            *len = s->resp.body_len;
            return HFS_OK;
        }
        if (ev == CLI_HTTP_END)
            return 1;
        if (ev == CLI_HTTP_ERROR)
            return cli_session_fail(s, HFS_ERR_PROTOCOL, "bad HTTP response: %s", s->resp.error);
        ssize_t n = fill(s, deadline);
        if (n < 0)
            return (int)n;
        if (n == 0 && cli_response_eof(&s->resp) == CLI_HTTP_END)
            return 1;
        if (n == 0)
            return cli_session_fail(s, HFS_ERR_NETWORK, "%s", s->resp.error);
    }
}

void cli_session_reason(cli_session *s, char out[CLI_REASON_BYTES + 1])
{
    int64_t deadline = cli_now_ms() + CLI_REASON_MS;
    const uint8_t *data;
    size_t len, n = 0;
    int line_end = 0;
    hfs_error saved = s->err;

    while (!line_end && n < CLI_REASON_BYTES &&
           cli_session_next_body(s, deadline, &data, &len) == HFS_OK) {
        for (size_t i = 0; i < len && n < CLI_REASON_BYTES && !line_end; i++) {
            line_end = data[i] == '\n' || data[i] == '\r';
            if (!line_end)
                out[n++] = data[i] >= 0x20 && data[i] < 0x7f ? (char)data[i] : '?';
        }
    }
    while (n > 0 && (out[n - 1] == ' ' || out[n - 1] == '\t'))
        n--;
    out[n] = '\0';
    s->err = saved; /* a body that could not be read is no failure of the request */
}

int cli_session_fail_denied(cli_session *s, const char *action, const char *reason)
{
    char buf[CLI_REASON_BYTES + 1];
    int status = s->resp.status;

    if (!reason) {
        cli_session_reason(s, buf);
        reason = buf;
    }
    if (status == 401)
        cli_session_fail(s, HFS_ERR_HTTP, "401 unauthorized: %s%s%s%s",
                         s->credential ? "the server does not accept the credential given"
                                       : "the server wants a token and none was given",
                         *reason ? "; the server says \"" : "", reason, *reason ? "\"" : "");
    else
        cli_session_fail(
            s, HFS_ERR_HTTP, "403 forbidden: %s %s this path%s%s%s",
            s->credential ? "the credential given may not" : "a credential is needed to", action,
            *reason ? "; the server says \"" : "", reason, *reason ? "\"" : "");
    s->err.http_status = status;
    return HFS_ERR_HTTP;
}

/* Keeps printable ASCII of a close reason, so that a message stays one clean line. */
static void printable(char *out, size_t cap, const uint8_t *p, size_t n)
{
    size_t j = 0;

    for (size_t i = 0; i < n && j + 1 < cap; i++)
        out[j++] = p[i] >= 0x20 && p[i] < 0x7f ? (char)p[i] : '?';
    out[j] = '\0';
}

int cli_session_fail_closed(cli_session *s, unsigned code, const uint8_t *payload, size_t len)
{
    char reason[WS_CONTROL_MAX + 1];
    const char *name = cli_close_code_name(code);

    printable(reason, sizeof(reason), payload + (len > 2 ? 2 : len), len > 2 ? len - 2 : 0);
    cli_session_fail(s, HFS_ERR_CLOSED, "server closed the stream: %u%s%s%s%s%s", code,
                     *name ? " " : "", name, *reason ? " (" : "", reason, *reason ? ")" : "");
    if (s->err.code == HFS_ERR_CLOSED)
        s->err.close_code = (int)code;
    return HFS_ERR_CLOSED;
}

/* Handles a control event; returns HFS_OK to go on, or an error. */
static int on_control(cli_session *s, const ws_event *ev)
{
    if (ev->type == WS_EV_PING)
        return cli_session_send(s, WS_OP_PONG, ev->data, ev->len);
    if (ev->type == WS_EV_ERROR) {
        cli_session_send_close(s, ev->close_code);
        return cli_session_fail(s, HFS_ERR_PROTOCOL, "protocol error: %s", ev->reason);
    }
    return HFS_OK; /* PONG */
}

int cli_session_next(cli_session *s, ws_event *ev, int64_t deadline)
{
    for (;;) {
        size_t used = ws_decode(&s->dec, s->buf + s->start, s->end - s->start, ev);
        s->start += used;
        if (ev->type == WS_EV_DATA)
            return HFS_OK;
        if (ev->type == WS_EV_CLOSE) {
            s->close_received = 1;
            s->close_code = ev->close_code;
            cli_session_send_close(s, ev->close_code);
            return HFS_OK;
        }
        if (ev->type != WS_EV_NEED_MORE) {
            int rc = on_control(s, ev);
            if (rc != HFS_OK)
                return rc;
            continue;
        }
        ssize_t n = fill(s, deadline);
        if (n == 0)
            return 1;
        if (n < 0)
            return (int)n;
    }
}

int cli_session_fail_eof(cli_session *s)
{
    return cli_session_fail(s, HFS_ERR_NETWORK,
                            "the server closed the connection without a CLOSE frame");
}

/* ---- sending ---- */

static int new_mask(cli_session *s, uint8_t key[4])
{
    if (RAND_bytes(key, 4) != 1)
        return cli_session_fail(s, HFS_ERR_IO, "no random bytes for a frame mask");
    return HFS_OK;
}

static int write_all(cli_session *s, const void *p, size_t n)
{
    hfs_error e = {.code = HFS_OK};

    return keep(s, cli_conn_write(s->conn, p, n, CLI_NO_DEADLINE, &e), &e);
}

int cli_session_send(cli_session *s, unsigned opcode, const void *data, size_t len)
{
    const uint8_t *src = data;
    uint8_t key[4];
    size_t pos = 0, fill_len;
    int rc = new_mask(s, key);

    if (rc != HFS_OK)
        return rc;
    fill_len = ws_frame_header(s->scratch, opcode, 1, len, key);
    do {
        size_t n = len - pos;
        if (n > sizeof(s->scratch) - fill_len)
            n = sizeof(s->scratch) - fill_len;
        memcpy(s->scratch + fill_len, src + pos, n);
        ws_mask(s->scratch + fill_len, n, key, pos);
        pos += n;
        rc = write_all(s, s->scratch, fill_len + n);
        fill_len = 0;
    } while (rc == HFS_OK && pos < len);
    return rc;
}

int cli_session_send_in_place(cli_session *s, unsigned opcode, uint8_t *data, size_t len)
{
    uint8_t key[4], header[WS_HEADER_MAX];
    size_t hlen;
    int rc = new_mask(s, key);

    if (rc != HFS_OK)
        return rc;
    hlen = ws_frame_header(header, opcode, 1, len, key);
    memcpy(data - hlen, header, hlen);
    ws_mask(data, len, key, 0);
    return write_all(s, data - hlen, hlen + len);
}

void cli_session_send_close(cli_session *s, unsigned code)
{
    uint8_t payload[WS_CONTROL_MAX] = {0}, key[4], frame[WS_HEADER_MAX + WS_CONTROL_MAX];
    size_t plen = 0, hlen;
    hfs_error ignored;

    if (s->close_sent || !s->conn || RAND_bytes(key, 4) != 1)
        return;
    s->close_sent = 1;
    if (code != WS_CLOSE_NO_STATUS)
        plen = ws_close_payload(payload, (uint16_t)code, NULL);
    hlen = ws_frame_header(frame, WS_OP_CLOSE, 1, plen, key);
    memcpy(frame + hlen, payload, plen);
    ws_mask(frame + hlen, plen, key, 0);
    cli_conn_write(s->conn, frame, hlen + plen, cli_now_ms() + CLI_CLOSE_SEND_MS, &ignored);
}

void cli_session_free(cli_session *s, int clean)
{
    if (!s)
        return;
    cli_conn_close(s->conn, clean);
    cli_url_free(&s->url);
    free(s->buf);
    free(s);
}
