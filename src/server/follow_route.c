/* follow_route.c -- every kind of FOLLOW request, decided from the request:
 * - a WebSocket handshake: the original's stream (TEXT, at most 4 KiB per frame for the original's
 *   client); with no appender, the whole file as a plain 200 (the original's behaviour). A client
 *   that asks for a frame type (?frames=binary|text, or the subprotocol binary or text) always
 *   gets 101: the stream, which for a resource with no appender is the whole file, then CLOSE 1000;
 * - ?follow: the stream as a plain HTTP response body (chunked), ended when the appender leaves;
 * - Accept: text/event-stream or ?follow=sse: the stream as Server-Sent Events;
 * - otherwise a static response (200/206/304/416, HEAD), or for a browser (Accept prefers
 *   text/html, or ?view) the live viewer page; ?raw always gets the bytes.
 * Streams start at ?offset=N (negative: from the end; "now": only new bytes), ?lines=N (the last N
 * lines) or, for SSE, Last-Event-ID; past the end is 416. ?wait keeps a stream open until a
 * resource that does not exist yet is first appended to. Directories are listed as the original
 * did, as an HTML table for browsers, or as JSON on Accept: application/json. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http/response.h"
#include "server/conn.h"
#include "server/follow.h"
#include "server/http_conn.h"
#include "server/route.h"
#include "server/viewer.h"
#include "server/ws_conn.h"

#define LINES_SCAN_MAX (64u << 20) /* ?lines looks back at most this far */

enum offset_type { OFF_NONE, OFF_ABS, OFF_FROM_END, OFF_NOW, OFF_LINES };

typedef struct follow_req {
    const follow_transport *tp; /* NULL: a static response */
    const char *frames;         /* WebSocket: the frame type asked for, "binary" or "text"; NULL */
    int frames_protocol;        /* ... asked as a subprotocol, so echoed in the 101 */
    int wait;
    int view;
    int off_type;
    uint64_t off_n;
    int last_event_id; /* the offset came from Last-Event-ID */
} follow_req;

/* "N", "-N" or "now" into *type / *n; returns -1 when malformed. */
static int parse_offset(const char *v, int *type, uint64_t *n)
{
    char *end;

    if (!strcmp(v, "now")) {
        *type = OFF_NOW;
        return 0;
    }
    int neg = v[0] == '-';
    if (!(v[neg] >= '0' && v[neg] <= '9'))
        return -1;
    *n = strtoull(v + neg, &end, 10);
    if (*end)
        return -1;
    *type = neg ? OFF_FROM_END : OFF_ABS;
    return 0;
}

/* The frames of a WebSocket follower. It may ask for a frame type with the subprotocol "binary" or
 * "text" (binary when both are offered; the one chosen is echoed in the 101), else with
 * ?frames=binary or ?frames=text (other values ask for nothing). Without one it is a client of the
 * original's protocol: TEXT frames. TEXT frames hold at most 4 KiB for a follower that sends
 * X-Verb: FOLLOW, as the original's client does (which drops what does not fit its reader's
 * buffer). */
static const follow_transport *ws_frames(const route *r, follow_req *fr)
{
    char v[16];
    size_t n;
    const char *verb = http_header_get(r->req, "X-Verb", &n);
    int original = verb && n == 6 && memcmp(verb, "FOLLOW", 6) == 0;

    fr->frames_protocol = 1;
    if (route_offers_binary(r))
        fr->frames = "binary";
    else if (http_header_has_token(r->req, "Sec-WebSocket-Protocol", "text"))
        fr->frames = "text";
    else {
        fr->frames_protocol = 0;
        if (route_query(r, "frames", v, sizeof(v)) && (!strcmp(v, "binary") || !strcmp(v, "text")))
            fr->frames = !strcmp(v, "binary") ? "binary" : "text";
    }
    if (fr->frames && !strcmp(fr->frames, "binary"))
        return &follow_ws_binary;
    return original ? &follow_ws_original : &follow_ws_text;
}

static int parse_follow_req(route *r, follow_req *fr)
{
    char v[40];
    size_t n;

    memset(fr, 0, sizeof(*fr));
    int follow = route_query(r, "follow", v, sizeof(v));
    int sse = (follow && !strcmp(v, "sse")) || route_accept_prefers(r, "text/event-stream");
    if (r->ws)
        fr->tp = ws_frames(r, fr);
    else if (r->req->method == HTTP_HEAD)
        fr->tp = NULL;
    else
        fr->tp = sse ? &follow_sse : follow ? &follow_http : NULL;
    fr->wait = route_query(r, "wait", v, sizeof(v));
    fr->view = !fr->tp && !route_query(r, "raw", v, sizeof(v)) &&
               (route_query(r, "view", v, sizeof(v)) || route_accept_prefers(r, "text/html"));
    if (route_query(r, "offset", v, sizeof(v)) && parse_offset(v, &fr->off_type, &fr->off_n) < 0)
        return -1;
    if (route_query(r, "lines", v, sizeof(v))) {
        if (parse_offset(v, &fr->off_type, &fr->off_n) < 0 || fr->off_type != OFF_ABS)
            return -1;
        fr->off_type = OFF_LINES;
    }
    const char *id = fr->tp == &follow_sse ? http_header_get(r->req, "Last-Event-ID", &n) : NULL;
    if (id && n > 0) {
        /* An offset of any length: past 2^64 - 1 it saturates, and is past the end (416). */
        size_t k = n < sizeof(v) - 1 ? n : sizeof(v) - 1;
        memcpy(v, id, k);
        v[k] = '\0';
        for (size_t i = k; i < n; i++)
            if (id[i] < '0' || id[i] > '9')
                return -1;
        if (parse_offset(v, &fr->off_type, &fr->off_n) < 0 || fr->off_type != OFF_ABS)
            return -1;
        if (n > k)
            fr->off_n = UINT64_MAX;
        fr->last_event_id = 1;
    }
    return 0;
}

/* Where the last n lines of the file begin (as tail -n counts them). */
static uint64_t lines_offset(store_res *res, uint64_t size, uint64_t n)
{
    uint8_t buf[65536];
    uint64_t pos = size, floor = size > LINES_SCAN_MAX ? size - LINES_SCAN_MAX : 0;
    uint64_t need = n;

    if (n == 0)
        return size;
    while (pos > floor) {
        size_t k = pos - floor < sizeof(buf) ? (size_t)(pos - floor) : sizeof(buf);
        uint64_t lo = pos - k;
        if (store_read(res, buf, k, lo) != (ssize_t)k)
            return floor;
        for (size_t i = k; i > 0; i--) {
            /* A newline ends the line before it; the file's final newline ends the last line. */
            if (buf[i - 1] == '\n' && lo + i != size && need-- == 1)
                return lo + i;
        }
        pos = lo;
    }
    return floor;
}

/* The first offset at or after off that does not fall inside a UTF-8 character (at most 3 bytes
 * on), so that a TEXT stream starting "N bytes before the end" begins with whole characters. */
static uint64_t char_boundary(store_res *res, uint64_t off, uint64_t size)
{
    uint8_t b[3];
    ssize_t n = off < size ? store_read(res, b, sizeof(b), off) : 0;

    for (ssize_t i = 0; i < n; i++)
        if ((b[i] & 0xc0) != 0x80)
            return off + (uint64_t)i;
    return n == (ssize_t)sizeof(b) ? off : off + (uint64_t)(n > 0 ? n : 0);
}

/* The stream offset a request starts at; -1 (416 sent) when it lies past the end. */
static int resolve_offset(route *r, const follow_req *fr, store_res *res, uint64_t size,
                          uint64_t *off)
{
    switch (fr->off_type) {
    case OFF_ABS:
        *off = fr->off_n;
        break;
    case OFF_FROM_END:
        *off = fr->off_n < size ? size - fr->off_n : 0;
        if (fr->tp && fr->tp->websocket && fr->tp->ws_opcode == WS_OP_TEXT)
            *off = char_boundary(res, *off, size);
        break;
    case OFF_NOW:
        *off = size;
        break;
    case OFF_LINES:
        *off = lines_offset(res, size, fr->off_n);
        break;
    default:
        *off = 0;
        break;
    }
    if (*off <= size)
        return 0;
    char extra[64];
    snprintf(extra, sizeof(extra), "Content-Range: bytes */%llu\r\n", (unsigned long long)size);
    route_text(r, 416, extra, "416 offset past the end of the resource\n");
    return -1;
}

/* The Content-Type of a stream: from the name, else sniffed from its start, else text. */
static const char *stream_type(const route *r, store_res *res)
{
    const char *slash = strrchr(r->clean, '/');
    const char *t = http_mime_by_name(slash ? slash + 1 : r->clean);
    uint8_t head[HTTP_STATIC_SNIFF_LEN];

    if (t)
        return t;
    ssize_t got = res && store_size(res) ? store_read(res, head, sizeof(head), 0) : 0;
    return got > 0 ? http_mime_sniff(head, (size_t)got) : "text/plain; charset=utf-8";
}

/* Sends the head of an HTTP or SSE stream. */
static int stream_head(route *r, const follow_req *fr, const char *ctype, uint64_t off)
{
    http_head h;
    int chunked = r->req->http_major > 1 || (r->req->http_major == 1 && r->req->http_minor >= 1);

    conn_count_status(r->c, 200);
    http_head_start(&h, 200);
    http_head_add(&h, "Content-Type",
                  fr->tp == &follow_sse ? "text/event-stream; charset=utf-8" : ctype);
    http_head_add(&h, "Cache-Control", "no-store");
    http_head_add(&h, "X-Accel-Buffering", "no");
    http_head_add(&h, "X-Content-Type-Options", "nosniff");
    http_head_add(&h, "Content-Security-Policy", "sandbox"); /* resource bytes: see static.c */
    http_head_addf(&h, "X-Follow-Offset", "%llu", (unsigned long long)off);
    if (chunked)
        http_head_add(&h, "Transfer-Encoding", "chunked");
    http_head_add(&h, "Connection", "close");
    if (http_head_end(&h) < 0 || conn_write_copy(r->c, h.buf, h.len) < 0)
        return -1;
    return chunked;
}

/* Hands the connection to a follower of res (NULL: wait for r->rel), after its head went out. */
static int start_follower(route *r, const follow_req *fr, store_res *res, uint64_t off, int chunked)
{
    follow_params fp = {.tp = fr->tp, .chunked = chunked, .offset = off, .wait_rel = r->rel};

    route_log(r, fr->tp->websocket ? 101 : 200);
    http_conn_free(r->c);
    follow_start(r->c, res, &fp, r->rest, r->rest_len);
    return 0;
}

/* A WebSocket follower (res NULL: waiting). */
static int follow_ws(route *r, const follow_req *fr, store_res *res, uint64_t off)
{
    const char *extra;
    char hdr[96];
    int status = route_handshake_check(r, &extra);

    if (status) {
        if (res)
            store_res_unref(res);
        return route_handshake_refused(r, status, extra);
    }
    int k = snprintf(hdr, sizeof(hdr), "X-Follow-Offset: %llu\r\n", (unsigned long long)off);
    if (fr->frames_protocol)
        snprintf(hdr + k, sizeof(hdr) - (size_t)k, "Sec-WebSocket-Protocol: %s\r\n", fr->frames);
    if (ws_handshake_response(r->c, r->req, 0, hdr) < 0) {
        if (res)
            store_res_unref(res);
        conn_close(r->c);
        return 101;
    }
    return start_follower(r, fr, res, off, 0);
}

/* An HTTP or SSE follower (res NULL: waiting). */
static int follow_http_stream(route *r, const follow_req *fr, store_res *res, uint64_t off)
{
    int chunked = stream_head(r, fr, stream_type(r, res), off);

    if (chunked < 0) {
        if (res)
            store_res_unref(res);
        conn_close(r->c);
        return 200;
    }
    return start_follower(r, fr, res, off, chunked);
}

static int wait_for_resource(route *r, const follow_req *fr)
{
    if (fr->tp->websocket)
        return follow_ws(r, fr, NULL, 0);
    return follow_http_stream(r, fr, NULL, 0);
}

/* The resource's bytes as a plain response; with an offset, the bytes from there (no ranges).
 * Takes res. */
static int respond_static(route *r, store_res *res, const follow_req *fr, uint64_t off)
{
    uint8_t head[HTTP_STATIC_SNIFF_LEN];
    http_static_request sr = {.head = r->req->method == HTTP_HEAD};
    store_info info;
    http_static_plan *plan = malloc(sizeof(*plan));
    const char *slash = strrchr(r->clean, '/');

    if (!plan || store_res_stat(res, &info) != STORE_OK) {
        free(plan);
        store_res_unref(res);
        return route_text(r, 500, NULL, "500 internal error\n");
    }
    http_file_info fi = {.mtime = info.mtime, .ino = info.id};
    fi.name = slash ? slash + 1 : r->clean;
    fi.size = info.size - off;
    ssize_t got =
        store_read(res, head, fi.size < sizeof(head) ? (size_t)fi.size : sizeof(head), off);
    fi.head = head;
    fi.head_len = got > 0 ? (size_t)got : 0;
    if (fr->off_type == OFF_NONE) {
        sr.range = http_header_get(r->req, "Range", &sr.range_len);
        sr.if_range = http_header_get(r->req, "If-Range", &sr.if_range_len);
        sr.if_modified_since =
            http_header_get(r->req, "If-Modified-Since", &sr.if_modified_since_len);
        sr.if_none_match = http_header_get(r->req, "If-None-Match", &sr.if_none_match_len);
    }
    if (http_static_plan_response(&sr, &fi, plan) < 0) {
        free(plan);
        store_res_unref(res);
        return route_text(r, 500, NULL, "500 internal error\n");
    }
    for (size_t i = 0; i < plan->nparts; i++)
        plan->parts[i].start += off;
    if (fr->off_type != OFF_NONE) {
        /* Where these bytes start, so that a client can resume exactly (and never cache this). */
        int k = snprintf(plan->text + plan->headers_len, sizeof(plan->text) - plan->headers_len,
                         "X-Follow-Offset: %llu\r\nCache-Control: no-store\r\n",
                         (unsigned long long)off);
        if (k > 0 && (size_t)k < sizeof(plan->text) - plan->headers_len && plan->trailer_len == 0 &&
            plan->nparts <= 1)
            plan->headers_len += (size_t)k;
    }
    http_respond_resource(r->c, res, plan);
    int status = plan->status;
    free(plan);
    return status;
}

static int respond_viewer(route *r, store_res *res)
{
    if (res)
        store_res_unref(res);
    r->verb_name = "VIEW";
    http_respond_simple(r->c, 200,
                        "Cache-Control: no-store\r\nContent-Security-Policy: default-src 'none'; "
                        "script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self' "
                        "ws: wss:; img-src data:\r\nReferrer-Policy: no-referrer\r\n",
                        "text/html; charset=utf-8", hfs_viewer_html, hfs_viewer_html_len);
    return 200;
}

/* The viewer is for text; images, archives and the like go to the browser as they are. */
static int viewable(const route *r)
{
    const char *slash = strrchr(r->clean, '/');
    const char *t = http_mime_by_name(slash ? slash + 1 : r->clean);

    return !t || !strncmp(t, "text/", 5) || strstr(t, "json") || strstr(t, "xml") ||
           !strncmp(t, "application/javascript", 22);
}

int route_follow(route *r)
{
    follow_req fr;
    store_res *res;
    uint64_t off;

    if (parse_follow_req(r, &fr) < 0)
        return route_text(r, 400, NULL, "400 malformed offset, lines or Last-Event-ID\n");
    int err = store_open(r->c->srv->st, r->rel, &res);
    if (err == STORE_ENOENT && fr.view)
        return respond_viewer(r, NULL); /* the page waits for the resource itself */
    if (err == STORE_ENOENT && fr.wait && fr.tp)
        return wait_for_resource(r, &fr);
    if (err == STORE_EISDIR)
        return route_dir(r);
    if (err != STORE_OK)
        return route_store_error(r, err);
    if (fr.view && viewable(r))
        return respond_viewer(r, res);
    int live = (store_state(res) & (STORE_LEASED | STORE_OPEN)) != 0;
    uint64_t size = store_size(res);
    if (resolve_offset(r, &fr, res, size, &off) < 0) {
        store_res_unref(res);
        return 416;
    }
    if (!fr.tp || (fr.tp->websocket && !live && !fr.frames))
        return respond_static(r, res, &fr, off); /* (the original's answer to a handshake) */
    if (fr.tp->websocket)
        return follow_ws(r, &fr, res, off);
    if (!live && fr.last_event_id && off >= store_accepted(res)) {
        store_res_unref(res); /* the stream ended and the client has all of it: stop reconnecting */
        return route_text(r, 204, NULL, "");
    }
    return follow_http_stream(r, &fr, res, off);
}
