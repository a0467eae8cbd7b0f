/* dsload.c -- the load generator of `make bench`'s ds scenario: drives a Durable Streams server
 * (ours, or the reference server @durable-streams/server) over loopback with plain HTTP/1.1 on
 * keep-alive connections (epoll, non-blocking sockets, responses parsed with llhttp), checks
 * every byte it is given back, and prints one RESULT line per run.
 *
 * Streams are URL/v1/stream/NAME (--prefix), created with PUT before the run. Scenarios (each only
 * sets defaults; every knob can be overridden):
 *   append    W writers POST 64 KiB bodies (application/octet-stream) as fast as the server
 *             answers, one request at a time per connection: accepted MB/s and requests/s
 *   producer  W idempotent producers (Producer-Id / -Epoch / -Seq), each POSTing batches of 100
 *             64-byte messages as one application/json array (--text: 100 records as one
 *             text/plain body): accepted batches/s and messages/s
 *   sse       N readers on GET ?offset=-1&live=sse of a text/plain stream, W writers (4) each
 *             POSTing one 64-byte record per request as fast as it is answered: messages/s
 *             delivered to all readers, and how many readers got every message
 *   longpoll  N readers waiting on GET ?offset=<tail>&live=long-poll (re-polling after each
 *             answer, with the offset and cursor it gave), one writer POSTing one record at a
 *             time: by default in rounds (the next POST --gap-ms after every reader has had the
 *             last one and is polling again, so every delivery is to N waiting readers), or at a
 *             fixed --rate: latency from each POST being sent to each reader holding its 200
 *
 * Exactness. Every POST's answer must be a 2xx with Stream-Next-Offset (producers: 200 with the
 * epoch and seq echoed); the offsets order the appends (they are opaque, but increase
 * lexicographically). After the run every stream is read back with catch-up GETs (from -1,
 * following Stream-Next-Offset until Stream-Up-To-Date at the last POST's offset), and what came
 * back must equal, byte for byte (JSON: compared without whitespace outside strings), the bodies
 * in the order of their offsets. Readers hash everything they receive (SSE: the data events'
 * payloads; long-poll: the 200s' bodies), parse every record and check each writer's sequence
 * numbers arrive in order without gaps, and must end at the last offset with the same hash. A
 * reader still short when --drain runs out must hold an exact prefix (verify=incomplete);
 * anything else (a wrong byte, status, missing header, broken event, lost connection) is
 * verify=FAIL, with the first error on stderr.
 *
 * Records are 64 bytes of printable ASCII without line breaks, so a text/plain stream's SSE data
 * lines carry them unchanged: 'R', 16 hex digits of the CLOCK_MONOTONIC time the POST was sent,
 * '.', 8 hex of the writer, '.', 16 hex of its sequence number, '.', 19 characters of filler
 * derived from writer and sequence, '|'.
 *
 * CPUs: one thread; --cpu C pins it (run.sh: server on CPU 0, load on CPU 1). The load
 * generator's own CPU over the window is reported (lg_cpu_pct): near 100 it was the limit. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <llhttp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

#define OFF_MAX     48           /* longest offset kept (the protocol's are 33 characters) */
#define RX_CAP      (256 * 1024) /* the receive buffer */
#define MAX_EVENTS  256
#define MAX_WRITERS 64
#define MAX_STREAMS 64
#define MAX_PIDS    16
#define CTRL_MAX    4096 /* longest control event (or data buffered before its event line) */
#define EVBUF_MAX   (64u << 20)
#define NS_PER_MS   1000000ull
#define NS_PER_S    1000000000ull
#define REC         64
#define READ_PAGES  1000000 /* catch-up GETs allowed for one read-back */

enum phase { PH_SETUP, PH_WINDOW, PH_STOP, PH_DRAIN, PH_END };
enum kind { K_WRITER, K_SSE, K_LP, K_READ };
enum cstate { C_CLOSED, C_CONNECTING, C_OPEN };
enum body_mode { B_BODY, B_REC, B_JSON }; /* what a POST carries: one bulk body, records, JSON */
enum ev_type { E_NONE, E_DATA, E_CONTROL, E_OTHER };

typedef struct conn conn;

/* A reader's checks: the hash of what it was given, record reassembly and per-writer order. */
typedef struct rcheck {
    bh_state hash;
    uint64_t bytes, recs;
    uint8_t rec[REC];
    uint8_t rec_len;
} rcheck;

struct conn {
    int fd;
    uint8_t kind, state, busy, ready, done, failed, want_close, ever_open;
    uint16_t status;
    uint32_t id; /* writer or reader index */
    llhttp_t p;
    /* the response being parsed */
    char hname[32];
    char hval[96];
    uint8_t hname_len, hval_len, hname_over, hval_over;
    char next[OFF_MAX], cursor[32], pseq[24], pepoch[24], ctype[64];
    uint8_t has_next, up_to_date, closed_hdr, has_cursor, bad_header, encoded;
    uint64_t body_len;
    uint64_t rx_now;
    /* the request being written */
    uint8_t *out;
    size_t out_len, out_off, out_cap;
    uint64_t sent_ns;
    /* readers */
    rcheck rc;
    uint64_t *wnext;   /* next sequence number expected from each writer */
    char off[OFF_MAX]; /* long-poll: the offset asked for; SSE: the last control's */
    uint64_t polls, p200, p204;
    /* SSE parsing */
    uint8_t sse_st, cr_pending, ev, vfield, skip_space, data_lines, data_since_ctrl, fname_len;
    char fname[16], evname[16];
    uint8_t evname_len;
    uint8_t *evbuf;
    size_t ev_len, ev_cap;
    uint8_t ev_buffered; /* the event's data went to evbuf (its type was not yet known) */
};

typedef struct post {
    char off[OFF_MAX];
    uint32_t w, n; /* writer, items */
    uint64_t seq0; /* first item's sequence number */
} post;

typedef struct writer {
    conn c;
    uint32_t stream;
    uint64_t seq;  /* items (bodies, records or messages) sent */
    uint64_t pseq; /* Producer-Seq of the next batch */
    uint64_t *ts;  /* records: the send time of each */
    size_t ts_cap;
    uint64_t cur_seq0, cur_pseq;
    uint32_t cur_n;
    size_t cur_bytes;
    char last_off[OFF_MAX];
} writer;

static struct {
    const char *scenario, *host, *prefix, *label;
    int port, cpu, json, producer, live;
    enum body_mode mode;
    size_t readers, writers, streams, size, batch, inflight;
    double rate, duration, drain, settle, gap_ms;
    int rounds; /* long-poll, --rate 0: the next POST once every reader has the last one */
    pid_t pids[MAX_PIDS];
    int npids;
    struct sockaddr_in addr;
    char hosthdr[64];
    const char *ctype;

    char stream_path[MAX_STREAMS][160];
    char tail0[MAX_STREAMS][OFF_MAX]; /* the tail when created */
    char final[MAX_STREAMS][OFF_MAX]; /* the last POST's offset */
    int have_final;

    int epfd, tfd;
    uint8_t *rx;
    writer *w;
    conn *r;
    post *posts;
    size_t nposts, posts_cap;

    int phase;
    uint64_t t_start, t_win_end;
    uint64_t slot, slot_ns, slots_due, late, dropped;
    size_t next_writer;

    /* counters */
    uint64_t win_posts, win_bytes, win_items, posts_total;
    uint64_t recs_total, recs_at_start, recs_at_end;
    uint64_t connects_inflight;
    uint64_t server_closes, reconnects, proto_warn, data_runs, keepalive_ctrls;
    uint64_t lp_waited, lp_fresh;
    uint64_t round_ready_ns, rounds_done;
    uint64_t last_delivery_ns;
    hist lat, post_lat;
    size_t readers_ready, readers_done;

    uint64_t errors;
    char first_error[512];
} g;

/* ---- errors --------------------------------------------------------------------------------- */

static void error_at(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void error_at(const char *fmt, ...)
{
    va_list ap;

    g.errors++;
    if (g.first_error[0])
        return;
    va_start(ap, fmt);
    vsnprintf(g.first_error, sizeof(g.first_error), fmt, ap);
    va_end(ap);
}

static const char *kind_name(const conn *c)
{
    static const char *names[] = {"writer", "SSE reader", "long-poll reader", "read-back"};
    return names[c->kind];
}

static void conn_close(conn *c)
{
    if (c->fd >= 0) {
        epoll_ctl(g.epfd, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
    }
    if (c->state == C_CONNECTING && g.connects_inflight)
        g.connects_inflight--;
    c->fd = -1;
    c->state = C_CLOSED;
    c->busy = 0;
}

static void conn_fail(conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void conn_fail(conn *c, const char *fmt, ...)
{
    char msg[400];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (!c->failed)
        error_at("%s %u: %s", kind_name(c), c->id, msg);
    c->failed = 1;
    c->done = 1;
    conn_close(c);
}

/* ---- contents ------------------------------------------------------------------------------- */

static const char hexd[] = "0123456789abcdef";
static const char alnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

static void put_hex(uint8_t *o, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        o[i] = (uint8_t)hexd[v & 15];
        v >>= 4;
    }
}

static int get_hex(const uint8_t *p, int n, uint64_t *out)
{
    uint64_t v = 0;

    for (int i = 0; i < n; i++) {
        uint8_t c = p[i];
        if (c >= '0' && c <= '9')
            v = v << 4 | (uint64_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v = v << 4 | (uint64_t)(c - 'a' + 10);
        else
            return 0;
    }
    *out = v;
    return 1;
}

static void fill_alnum(uint8_t *o, size_t n, uint32_t w, uint64_t seq)
{
    uint64_t x = 0;

    for (size_t i = 0; i < n; i++) {
        if (i % 10 == 0)
            x = mix64(((uint64_t)w << 40) ^ (seq * 0x9E3779B97F4A7C15ull) ^ (i + 1));
        o[i] = (uint8_t)alnum[x & 63];
        x >>= 6;
    }
}

static void rec_make(uint8_t *o, uint32_t w, uint64_t seq, uint64_t ts)
{
    o[0] = 'R';
    put_hex(o + 1, ts, 16);
    o[17] = '.';
    put_hex(o + 18, w, 8);
    o[26] = '.';
    put_hex(o + 27, seq, 16);
    o[43] = '.';
    fill_alnum(o + 44, 19, w, seq);
    o[63] = '|';
}

static int rec_parse(const uint8_t *p, uint64_t *ts, uint64_t *w, uint64_t *seq)
{
    if (p[0] != 'R' || p[17] != '.' || p[26] != '.' || p[43] != '.' || p[63] != '|')
        return 0;
    return get_hex(p + 1, 16, ts) && get_hex(p + 18, 8, w) && get_hex(p + 27, 16, seq);
}

/* A JSON message of exactly size bytes (size >= 48): {"w":W,"s":S,"d":"filler"}. */
static size_t json_make(uint8_t *o, size_t size, uint32_t w, uint64_t seq)
{
    int n = snprintf((char *)o, size, "{\"w\":%u,\"s\":%llu,\"d\":\"", w, (unsigned long long)seq);
    size_t fill = size - (size_t)n - 2;
    fill_alnum(o + n, fill, w, seq);
    o[size - 2] = '"';
    o[size - 1] = '}';
    return size;
}

/* ---- the expected stream: what the POSTs carried, in the order of their offsets ---------------
 */

static uint64_t writer_ts(uint32_t w, uint64_t seq)
{
    return seq < g.w[w].ts_cap ? g.w[w].ts[seq] : 0;
}

/* Writes item k of post p into o (at most g.size + 1 bytes); first is set for the stream's first
 * JSON message (no separator before it). */
static size_t item_bytes(const post *p, uint32_t k, uint8_t *o, int first)
{
    uint64_t seq = p->seq0 + k;

    switch (g.mode) {
    case B_BODY:
        msg_fill(o, g.size, p->w, seq, 0);
        return g.size;
    case B_REC:
        rec_make(o, p->w, seq, writer_ts(p->w, seq));
        return REC;
    case B_JSON:
        if (!first)
            *o++ = ',';
        return json_make(o, g.size, p->w, seq) + (first ? 0 : 1);
    }
    return 0;
}

typedef struct exp_src {
    const post *posts;
    size_t n, i;
    uint32_t k;
    int first;
} exp_src;

static size_t exp_source(void *ctx, uint8_t *buf, size_t cap)
{
    exp_src *s = ctx;
    size_t n = 0;

    while (s->i < s->n && n + g.size + 1 <= cap) {
        const post *p = &s->posts[s->i];
        n += item_bytes(p, s->k, buf + n, s->first);
        s->first = 0;
        if (++s->k == p->n) {
            s->k = 0;
            s->i++;
        }
    }
    return n;
}

static int cmp_u64_for_qsort(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int cmp_post(const void *a, const void *b)
{
    const post *x = a, *y = b;
    return strcmp(x->off, y->off);
}

/* Posts of stream s: g.posts is sorted by (writer's stream, offset) below. */
static int cmp_post_stream(const void *a, const void *b)
{
    const post *x = a, *y = b;
    uint32_t sx = g.w[x->w].stream, sy = g.w[y->w].stream;
    if (sx != sy)
        return sx < sy ? -1 : 1;
    return cmp_post(a, b);
}

/* ---- JSON without whitespace outside strings, arrays of pages joined into one list --------------
 */

typedef struct jnorm {
    int depth, in_str, esc, page_done, page_started, page_content, any_content, bad;
    bh_state *h;
    uint64_t bytes;
    uint8_t buf[4096];
    size_t len;
} jnorm;

static void jn_put(jnorm *j, uint8_t c)
{
    if (j->len == sizeof(j->buf)) {
        bh_update(j->h, j->buf, j->len);
        j->len = 0;
    }
    j->buf[j->len++] = c;
    j->bytes++;
}

static void jn_flush(jnorm *j)
{
    bh_update(j->h, j->buf, j->len);
    j->len = 0;
}

static void jn_page_begin(jnorm *j)
{
    j->depth = j->in_str = j->esc = j->page_done = j->page_started = j->page_content = 0;
}

/* Feeds one page (a JSON array) of a read-back: its elements go to the hash, separated by ','
 * from the elements of earlier pages. */
static void jn_feed(jnorm *j, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        if (!j->in_str && (c == ' ' || c == '\t' || c == '\n' || c == '\r'))
            continue;
        if (j->page_done || (!j->page_started && c != '[')) {
            j->bad = 1;
            return;
        }
        if (!j->page_started) {
            j->page_started = 1;
            j->depth = 1;
            continue;
        }
        if (j->in_str) {
            if (j->esc)
                j->esc = 0;
            else if (c == '\\')
                j->esc = 1;
            else if (c == '"')
                j->in_str = 0;
        } else if (c == '"') {
            j->in_str = 1;
        } else if (c == '[' || c == '{') {
            j->depth++;
        } else if (c == ']' || c == '}') {
            if (--j->depth == 0) {
                j->page_done = 1;
                continue;
            }
        }
        if (!j->page_content) {
            j->page_content = 1;
            if (j->any_content)
                jn_put(j, ',');
            j->any_content = 1;
        }
        jn_put(j, c);
    }
}

/* ---- HTTP responses ------------------------------------------------------------------------- */

static conn *conn_of(llhttp_t *p)
{
    return p->data;
}

static int on_message_begin(llhttp_t *p)
{
    conn *c = conn_of(p);

    c->hname_len = c->hval_len = c->hname_over = c->hval_over = 0;
    c->has_next = c->up_to_date = c->closed_hdr = c->has_cursor = c->bad_header = c->encoded = 0;
    c->next[0] = c->cursor[0] = c->pseq[0] = c->pepoch[0] = c->ctype[0] = '\0';
    c->body_len = 0;
    c->status = 0;
    return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
    conn *c = conn_of(p);

    if (c->hname_len + len >= sizeof(c->hname)) {
        c->hname_over = 1;
        return 0;
    }
    memcpy(c->hname + c->hname_len, at, len);
    c->hname_len = (uint8_t)(c->hname_len + len);
    return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
    conn *c = conn_of(p);

    if (c->hval_len + len >= sizeof(c->hval)) {
        c->hval_over = 1;
        return 0;
    }
    memcpy(c->hval + c->hval_len, at, len);
    c->hval_len = (uint8_t)(c->hval_len + len);
    return 0;
}

static void copy_header(conn *c, char *dst, size_t cap, uint8_t *flag)
{
    if (c->hval_over || c->hval_len >= cap) {
        c->bad_header = 1;
        return;
    }
    memcpy(dst, c->hval, c->hval_len);
    dst[c->hval_len] = '\0';
    if (flag)
        *flag = 1;
}

static int on_header_value_complete(llhttp_t *p)
{
    conn *c = conn_of(p);

    if (!c->hname_over) {
        c->hname[c->hname_len] = '\0';
        const char *h = c->hname;
        if (!strcasecmp(h, "Stream-Next-Offset"))
            copy_header(c, c->next, sizeof(c->next), &c->has_next);
        else if (!strcasecmp(h, "Stream-Cursor"))
            copy_header(c, c->cursor, sizeof(c->cursor), &c->has_cursor);
        else if (!strcasecmp(h, "Stream-Up-To-Date"))
            c->up_to_date = c->hval_len == 4 && !strncasecmp(c->hval, "true", 4);
        else if (!strcasecmp(h, "Stream-Closed"))
            c->closed_hdr = c->hval_len == 4 && !strncasecmp(c->hval, "true", 4);
        else if (!strcasecmp(h, "Producer-Seq"))
            copy_header(c, c->pseq, sizeof(c->pseq), NULL);
        else if (!strcasecmp(h, "Producer-Epoch"))
            copy_header(c, c->pepoch, sizeof(c->pepoch), NULL);
        else if (!strcasecmp(h, "Content-Type"))
            copy_header(c, c->ctype, sizeof(c->ctype), NULL);
        else if (!strcasecmp(h, "Content-Encoding"))
            c->encoded = 1; /* never asked for: the bytes would not be the stream's */
    }
    c->hname_len = c->hval_len = c->hname_over = c->hval_over = 0;
    return 0;
}

/* The media type of a Content-Type value equals want (case-insensitive, parameters ignored). */
static int media_is(const char *ct, const char *want)
{
    size_t n = strlen(want);
    if (strncasecmp(ct, want, n) != 0)
        return 0;
    return ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ';
}

static void sse_feed(conn *c, const uint8_t *p, size_t n);
static void lp_body(conn *c, const uint8_t *p, size_t n);
static void read_body(conn *c, const uint8_t *p, size_t n);
static void writer_response(writer *w);
static void lp_response(conn *c);
static void sse_ended(conn *c);

static jnorm g_jn; /* the read-back's JSON state */
static bh_state g_read_hash;
static uint64_t g_read_bytes;

static int on_headers_complete(llhttp_t *p)
{
    conn *c = conn_of(p);

    c->status = (uint16_t)p->status_code;
    if (c->status < 200)
        return 0;
    if (c->encoded) {
        conn_fail(c, "a Content-Encoding came though none was asked for");
        return -1;
    }
    if (c->kind == K_SSE) {
        if (c->status != 200) {
            conn_fail(c, "SSE request answered %u", c->status);
            return -1;
        }
        if (!media_is(c->ctype, "text/event-stream")) {
            conn_fail(c, "SSE response's Content-Type is '%s'", c->ctype);
            return -1;
        }
    }
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
    conn *c = conn_of(p);

    c->body_len += len;
    if (c->status < 200)
        return 0;
    switch (c->kind) {
    case K_SSE:
        sse_feed(c, (const uint8_t *)at, len);
        break;
    case K_LP:
        if (c->status == 200)
            lp_body(c, (const uint8_t *)at, len);
        break;
    case K_READ:
        if (c->status == 200)
            read_body(c, (const uint8_t *)at, len);
        break;
    default:
        break;
    }
    return c->failed ? -1 : 0;
}

static int on_message_complete(llhttp_t *p)
{
    conn *c = conn_of(p);

    if (c->status < 200)
        return 0;
    if (c->kind != K_SSE && !llhttp_should_keep_alive(p))
        c->want_close = 1; /* this answer ends the connection; the next request reconnects */
    c->busy = 0;
    switch (c->kind) {
    case K_WRITER:
        writer_response((writer *)c);
        break;
    case K_LP:
        lp_response(c);
        break;
    case K_SSE:
        sse_ended(c);
        break;
    case K_READ:
        c->done = 1;
        break;
    }
    return c->failed ? -1 : 0;
}

static const llhttp_settings_t settings = {
    .on_message_begin = on_message_begin,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_header_value_complete = on_header_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

static void conn_init(conn *c, int kind, uint32_t id)
{
    c->fd = -1;
    c->kind = (uint8_t)kind;
    c->id = id;
    c->state = C_CLOSED;
}

/* ---- connections ---------------------------------------------------------------------------- */

static void conn_watch(conn *c, int out)
{
    struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0), .data.ptr = c};
    epoll_ctl(g.epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

static void conn_connect(conn *c)
{
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0) {
        conn_fail(c, "socket: %s", strerror(errno));
        return;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->fd = fd;
    c->state = C_CONNECTING;
    g.connects_inflight++;
    llhttp_init(&c->p, HTTP_RESPONSE, &settings);
    c->p.data = c;
    if (connect(fd, (struct sockaddr *)&g.addr, sizeof(g.addr)) < 0 && errno != EINPROGRESS) {
        conn_fail(c, "connect: %s", strerror(errno));
        return;
    }
    struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
    if (epoll_ctl(g.epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
        conn_fail(c, "epoll_ctl: %s", strerror(errno));
}

static void conn_flush(conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
        if (n > 0) {
            c->out_off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            conn_watch(c, 1);
            return;
        }
        conn_fail(c, "write: %s", n < 0 ? strerror(errno) : "0 bytes");
        return;
    }
    c->out_off = c->out_len = 0;
    conn_watch(c, 0);
}

static void out_reserve(conn *c, size_t need)
{
    if (c->out_len + need <= c->out_cap)
        return;
    size_t cap = c->out_cap ? c->out_cap : 512;
    while (cap < c->out_len + need)
        cap *= 2;
    uint8_t *p = realloc(c->out, cap);
    if (!p)
        die("out of memory");
    c->out = p;
    c->out_cap = cap;
}

/* Sends the request in c->out: now when connected, else once the connection is up. */
static void conn_send(conn *c)
{
    c->busy = 1;
    c->sent_ns = now_ns();
    if (c->want_close)
        return; /* sent on a new connection once this answer has been parsed */
    if (c->state == C_OPEN) {
        conn_flush(c);
        return;
    }
    if (c->state == C_CLOSED) {
        g.reconnects += c->ever_open;
        conn_connect(c);
    }
}

static int out_printf(conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int out_printf(conn *c, const char *fmt, ...)
{
    va_list ap;
    out_reserve(c, 1024);
    va_start(ap, fmt);
    int n = vsnprintf((char *)c->out + c->out_len, c->out_cap - c->out_len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= c->out_cap - c->out_len)
        die("request head too long");
    c->out_len += (size_t)n;
    return n;
}

static void conn_input(conn *c, uint64_t now)
{
    for (;;) {
        ssize_t n = recv(c->fd, g.rx, RX_CAP, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        c->rx_now = now;
        if (n <= 0) {
            if (n < 0) {
                conn_fail(c, "recv: %s", strerror(errno));
                return;
            }
            llhttp_errno_t e = llhttp_finish(&c->p);
            if (e != HPE_OK && !c->failed) {
                conn_fail(c, "the server closed the connection mid-response (%s)",
                          llhttp_errno_name(e));
                return;
            }
            if (c->failed)
                return;
            if (c->busy || (c->kind == K_SSE && !c->done)) {
                conn_fail(c, "the server closed the connection before answering");
                return;
            }
            g.server_closes++;
            conn_close(c); /* an idle keep-alive connection: the next request reconnects */
            return;
        }
        llhttp_errno_t e = llhttp_execute(&c->p, (const char *)g.rx, (size_t)n);
        if (c->failed)
            return;
        if (e != HPE_OK) {
            conn_fail(c, "bad HTTP response: %s (%s)", llhttp_errno_name(e),
                      llhttp_get_error_reason(&c->p));
            return;
        }
        if (c->want_close) {
            c->want_close = 0;
            int again = c->busy; /* a callback already queued the next request */
            g.server_closes++;
            conn_close(c);
            if (again) {
                c->busy = 1;
                g.reconnects++;
                conn_connect(c);
            }
            return;
        }
        if (c->state != C_OPEN || (size_t)n < RX_CAP)
            return;
    }
}

static void conn_event(conn *c, uint32_t events, uint64_t now)
{
    if (c->state == C_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof(err);
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err) {
            conn_fail(c, "connect: %s", strerror(err ? err : errno));
            return;
        }
        if (!(events & EPOLLOUT))
            return;
        g.connects_inflight--;
        c->state = C_OPEN;
        c->ever_open = 1;
        if (c->out_len > c->out_off)
            conn_flush(c);
        else
            conn_watch(c, 0);
        return;
    }
    if (events & EPOLLOUT)
        conn_flush(c);
    if (c->state == C_OPEN && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        conn_input(c, now);
}

/* ---- readers: records ------------------------------------------------------------------------ */

static void reader_record(conn *c, const uint8_t *rec)
{
    uint64_t ts, w, seq;

    if (!rec_parse(rec, &ts, &w, &seq)) {
        conn_fail(c, "malformed record after %llu records: %.64s", (unsigned long long)c->rc.recs,
                  (const char *)rec);
        return;
    }
    if (w >= g.writers) {
        conn_fail(c, "record from unknown writer %llu", (unsigned long long)w);
        return;
    }
    if (seq != c->wnext[w]) {
        conn_fail(c,
                  "writer %llu's record %llu came where %llu was due (lost, repeated or "
                  "reordered)",
                  (unsigned long long)w, (unsigned long long)seq, (unsigned long long)c->wnext[w]);
        return;
    }
    c->wnext[w]++;
    c->rc.recs++;
    g.recs_total++;
    uint64_t now = c->rx_now;
    g.last_delivery_ns = now;
    hist_add(&g.lat, now > ts ? now - ts : 0);
    if (c->kind == K_LP) {
        if (c->sent_ns <= ts)
            g.lp_waited++; /* the reader was waiting when the POST went out */
        else
            g.lp_fresh++;
    }
}

static void reader_bytes(conn *c, const uint8_t *p, size_t n)
{
    rcheck *r = &c->rc;

    bh_update(&r->hash, p, n);
    r->bytes += n;
    while (n && !c->failed) {
        if (r->rec_len == 0 && n >= REC) {
            reader_record(c, p);
            p += REC;
            n -= REC;
            continue;
        }
        size_t take = REC - r->rec_len;
        if (take > n)
            take = n;
        memcpy(r->rec + r->rec_len, p, take);
        r->rec_len = (uint8_t)(r->rec_len + take);
        p += take;
        n -= take;
        if (r->rec_len == REC) {
            r->rec_len = 0;
            reader_record(c, r->rec);
        }
    }
}

static void reader_check_done(conn *c)
{
    if (c->done || !g.have_final || strcmp(c->off, g.final[0]) != 0)
        return;
    c->done = 1;
    g.readers_done++;
    conn_close(c);
}

/* ---- long-poll readers ------------------------------------------------------------------------
 */

static void lp_poll(conn *c)
{
    c->out_len = c->out_off = 0;
    out_printf(c, "GET %s?offset=%s&live=long-poll", g.stream_path[0], c->off);
    if (c->cursor[0])
        out_printf(c, "&cursor=%s", c->cursor);
    out_printf(c, " HTTP/1.1\r\nHost: %s\r\n\r\n", g.hosthdr);
    c->polls++;
    conn_send(c);
}

static void lp_body(conn *c, const uint8_t *p, size_t n)
{
    reader_bytes(c, p, n);
}

static int all_digits(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return 0;
    return 1;
}

static void lp_response(conn *c)
{
    if (c->bad_header) {
        conn_fail(c, "an over-long protocol header");
        return;
    }
    if (!c->has_next) {
        conn_fail(c, "long-poll %u without Stream-Next-Offset", c->status);
        return;
    }
    if (c->has_cursor && !all_digits(c->cursor)) {
        conn_fail(c, "Stream-Cursor '%s' is not a number", c->cursor);
        return;
    }
    if (!c->has_cursor)
        g.proto_warn++;
    if (c->status == 204) {
        c->p204++;
        if (strcmp(c->next, c->off) != 0) {
            conn_fail(c, "204 at offset %s gave Stream-Next-Offset %s", c->off, c->next);
            return;
        }
        if (!c->up_to_date)
            g.proto_warn++;
    } else if (c->status == 200) {
        c->p200++;
        if (!media_is(c->ctype, "text/plain")) {
            conn_fail(c, "long-poll 200 with Content-Type '%s'", c->ctype);
            return;
        }
        if (c->body_len == 0 || strcmp(c->next, c->off) <= 0) {
            conn_fail(c, "200 at offset %s with %llu bytes and Stream-Next-Offset %s", c->off,
                      (unsigned long long)c->body_len, c->next);
            return;
        }
        if (c->rc.rec_len) {
            conn_fail(c, "a long-poll body ended inside a record");
            return;
        }
        memcpy(c->off, c->next, sizeof(c->off));
    } else {
        conn_fail(c, "long-poll answered %u", c->status);
        return;
    }
    if (c->closed_hdr) {
        conn_fail(c, "the stream was reported closed");
        return;
    }
    reader_check_done(c);
    if (!c->done && g.phase != PH_END)
        lp_poll(c);
}

/* ---- SSE readers ----------------------------------------------------------------------------- */

static void ev_append(conn *c, const uint8_t *p, size_t n)
{
    size_t limit = c->ev == E_CONTROL ? CTRL_MAX : EVBUF_MAX;
    if (c->ev_len + n > limit) {
        conn_fail(c, "an SSE event over %zu bytes", limit);
        return;
    }
    if (c->ev_len + n > c->ev_cap) {
        size_t cap = c->ev_cap ? c->ev_cap : 256;
        while (cap < c->ev_len + n)
            cap *= 2;
        uint8_t *q = realloc(c->evbuf, cap);
        if (!q)
            die("out of memory");
        c->evbuf = q;
        c->ev_cap = cap;
    }
    memcpy(c->evbuf + c->ev_len, p, n);
    c->ev_len += n;
}

/* Finds "key": in a flat JSON object and returns the start of its value (or NULL). */
static const char *json_value(const char *s, const char *key)
{
    char pat[48];
    snprintf(pat, sizeof(pat), "\"%s\"", key);
    const char *p = strstr(s, pat);
    if (!p)
        return NULL;
    p += strlen(pat);
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p != ':')
        return NULL;
    p++;
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

static int json_str(const char *s, const char *key, char *out, size_t cap)
{
    const char *p = json_value(s, key);
    if (!p || *p != '"')
        return 0;
    p++;
    const char *e = strchr(p, '"');
    if (!e || (size_t)(e - p) >= cap)
        return -1;
    memcpy(out, p, (size_t)(e - p));
    out[e - p] = '\0';
    return 1;
}

static int json_true(const char *s, const char *key)
{
    const char *p = json_value(s, key);
    return p && !strncmp(p, "true", 4);
}

static void sse_control(conn *c)
{
    char off[OFF_MAX], cur[32];

    ev_append(c, (const uint8_t *)"", 1);
    if (c->failed)
        return;
    const char *js = (const char *)c->evbuf;
    int r = json_str(js, "streamNextOffset", off, sizeof(off));
    if (r <= 0) {
        conn_fail(c, "control event without a usable streamNextOffset: %.200s", js);
        return;
    }
    if (json_true(js, "streamClosed")) {
        conn_fail(c, "the stream was reported closed: %.200s", js);
        return;
    }
    int cr = json_str(js, "streamCursor", cur, sizeof(cur));
    if (cr < 0 || (cr > 0 && !all_digits(cur))) {
        conn_fail(c, "control event's streamCursor is not a number: %.200s", js);
        return;
    }
    if (cr == 0)
        g.proto_warn++;
    int order = c->ready ? strcmp(off, c->off) : 1;
    if (order < 0 || (order == 0 && c->data_since_ctrl)) {
        conn_fail(c, "control offset %s after %s%s", off, c->off,
                  c->data_since_ctrl ? " and data" : "");
        return;
    }
    if (!c->data_since_ctrl && c->ready)
        g.keepalive_ctrls++;
    if (c->rc.rec_len) {
        conn_fail(c, "a control event came inside a record");
        return;
    }
    memcpy(c->off, off, sizeof(c->off));
    c->data_since_ctrl = 0;
    if (!c->ready) {
        c->ready = 1;
        g.readers_ready++;
    }
    reader_check_done(c);
}

static void sse_dispatch(conn *c)
{
    if (c->data_lines == 0) {
        /* No data: nothing is dispatched (an event line alone, or a comment). */
    } else if (c->ev == E_DATA) {
        if (c->ev_buffered)
            reader_bytes(c, c->evbuf, c->ev_len);
        if (c->data_since_ctrl)
            g.data_runs++; /* two data events without a control between them */
        c->data_since_ctrl = 1;
    } else if (c->ev == E_CONTROL) {
        sse_control(c);
    } else {
        conn_fail(c, "an SSE event of type '%.*s'", c->evname_len, c->evname);
        return;
    }
    c->ev = E_NONE;
    c->evname_len = 0;
    c->data_lines = 0;
    c->ev_len = 0;
    c->ev_buffered = 0;
}

enum { SS_LINE_START, SS_FIELD, SS_VALUE, SS_SKIP };
enum { F_DATA = 1, F_EVENT, F_OTHER };

static uint8_t field_of(const conn *c)
{
    if (c->fname_len == 4 && !memcmp(c->fname, "data", 4))
        return F_DATA;
    if (c->fname_len == 5 && !memcmp(c->fname, "event", 5))
        return F_EVENT;
    return F_OTHER;
}

/* A data line starts: with a known data event its value streams to the checks, else it is
 * buffered until the event's type is known. Lines of one event are joined with '\n'. */
static void sse_data_begin(conn *c)
{
    if (c->data_lines == 0)
        c->ev_buffered = c->ev != E_DATA;
    else if (c->ev_buffered)
        ev_append(c, (const uint8_t *)"\n", 1);
    else
        reader_bytes(c, (const uint8_t *)"\n", 1);
    c->data_lines++;
}

static void sse_event_end(conn *c)
{
    uint8_t t = c->evname_len == 4 && !memcmp(c->evname, "data", 4)      ? E_DATA
                : c->evname_len == 7 && !memcmp(c->evname, "control", 7) ? E_CONTROL
                                                                         : E_OTHER;
    if (c->data_lines && !c->ev_buffered && t != E_DATA) {
        conn_fail(c, "an event line changed a data event's type");
        return;
    }
    c->ev = t;
}

/* The end of a line: what its field said takes effect; a blank line dispatches the event. */
static void sse_line_end(conn *c)
{
    switch (c->sse_st) {
    case SS_LINE_START:
        sse_dispatch(c);
        break;
    case SS_FIELD: /* a field name without a colon: the value is empty */
        c->vfield = field_of(c);
        if (c->vfield == F_DATA) {
            sse_data_begin(c);
        } else if (c->vfield == F_EVENT) {
            c->evname_len = 0;
            sse_event_end(c);
        }
        break;
    case SS_VALUE:
        if (c->vfield == F_EVENT)
            sse_event_end(c);
        break;
    default:
        break;
    }
    c->sse_st = SS_LINE_START;
}

static void sse_value(conn *c, const uint8_t *p, size_t n)
{
    if (n == 0)
        return;
    if (c->vfield == F_DATA) {
        if (c->ev_buffered)
            ev_append(c, p, n);
        else
            reader_bytes(c, p, n);
    } else if (c->vfield == F_EVENT) {
        if (c->evname_len + n > sizeof(c->evname)) {
            c->evname_len = sizeof(c->evname); /* too long for a known type */
            return;
        }
        memcpy(c->evname + c->evname_len, p, n);
        c->evname_len = (uint8_t)(c->evname_len + n);
    }
}

/* Parses the event stream as the HTML standard's EventSource does: lines end with CRLF, LF or
 * CR; "field:value" with one optional space after the colon; a line starting with ':' is a
 * comment; a blank line dispatches the event. */
static void sse_feed(conn *c, const uint8_t *p, size_t n)
{
    const uint8_t *end = p + n;

    while (p < end && !c->failed) {
        if (c->cr_pending) {
            c->cr_pending = 0;
            if (*p == '\n') {
                p++;
                continue;
            }
        }
        if (c->sse_st == SS_LINE_START || c->sse_st == SS_FIELD) {
            uint8_t ch = *p++;
            if (ch == '\n' || ch == '\r') {
                c->cr_pending = ch == '\r';
                sse_line_end(c);
                continue;
            }
            if (c->sse_st == SS_LINE_START) {
                c->fname_len = 0;
                if (ch == ':') { /* a comment */
                    c->vfield = F_OTHER;
                    c->sse_st = SS_SKIP;
                    continue;
                }
                c->sse_st = SS_FIELD;
            }
            if (ch == ':') {
                c->vfield = field_of(c);
                if (c->vfield == F_DATA)
                    sse_data_begin(c);
                else if (c->vfield == F_EVENT)
                    c->evname_len = 0;
                c->skip_space = 1;
                c->sse_st = c->vfield == F_OTHER ? SS_SKIP : SS_VALUE;
                continue;
            }
            if (c->fname_len < sizeof(c->fname))
                c->fname[c->fname_len++] = (char)ch;
            else
                c->fname[0] = '?'; /* too long to be a known field */
            continue;
        }
        /* SS_VALUE or SS_SKIP: up to the end of the line. */
        if (c->skip_space) {
            c->skip_space = 0;
            if (*p == ' ') {
                p++;
                continue;
            }
        }
        const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
        const uint8_t *lim = nl ? nl : end;
        const uint8_t *cr = memchr(p, '\r', (size_t)(lim - p));
        if (cr)
            lim = cr;
        if (c->sse_st == SS_VALUE)
            sse_value(c, p, (size_t)(lim - p));
        p = lim;
        if (p < end) {
            c->cr_pending = *p == '\r';
            p++;
            sse_line_end(c);
        }
    }
}

static void sse_ended(conn *c)
{
    if (!c->done)
        conn_fail(c, "the SSE response ended (the stream was never closed)");
}

static void sse_open(conn *c)
{
    c->out_len = c->out_off = 0;
    out_printf(
        c, "GET %s?offset=-1&live=sse HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n\r\n",
        g.stream_path[0], g.hosthdr);
    c->polls++;
    conn_send(c);
}

/* ---- writers --------------------------------------------------------------------------------- */

static void writer_post(writer *w)
{
    conn *c = &w->c;
    size_t n = g.mode == B_BODY ? 1 : g.batch;
    size_t body = g.mode == B_JSON ? 2 + n * (g.size + 1) - 1 : n * g.size;

    if (g.mode == B_REC && w->seq + n > w->ts_cap) {
        size_t cap = w->ts_cap ? w->ts_cap * 2 : 4096;
        while (cap < w->seq + n)
            cap *= 2;
        uint64_t *t = realloc(w->ts, cap * sizeof(uint64_t));
        if (!t)
            die("out of memory");
        memset(t + w->ts_cap, 0, (cap - w->ts_cap) * sizeof(uint64_t));
        w->ts = t;
        w->ts_cap = cap;
    }
    c->out_len = c->out_off = 0;
    out_printf(c, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n",
               g.stream_path[w->stream], g.hosthdr, g.ctype, body);
    if (g.producer)
        out_printf(c, "Producer-Id: dsload-%d-w%u\r\nProducer-Epoch: 0\r\nProducer-Seq: %llu\r\n",
                   (int)getpid(), c->id, (unsigned long long)w->pseq);
    out_printf(c, "\r\n");
    out_reserve(c, body + 1);
    uint8_t *o = c->out + c->out_len;
    uint64_t ts = now_ns();
    if (g.mode == B_JSON)
        *o++ = '[';
    for (size_t i = 0; i < n; i++) {
        uint64_t seq = w->seq + i;
        if (g.mode == B_BODY) {
            msg_fill(o, g.size, c->id, seq, 0);
            o += g.size;
        } else if (g.mode == B_REC) {
            w->ts[seq] = g.live ? ts : 0;
            rec_make(o, c->id, seq, w->ts[seq]);
            o += REC;
        } else {
            if (i)
                *o++ = ',';
            o += json_make(o, g.size, c->id, seq);
        }
    }
    if (g.mode == B_JSON)
        *o++ = ']';
    if ((size_t)(o - (c->out + c->out_len)) != body)
        die("internal: body length");
    c->out_len += body;
    w->cur_seq0 = w->seq;
    w->cur_n = (uint32_t)n;
    w->cur_pseq = w->pseq;
    w->cur_bytes = g.mode == B_JSON ? n * g.size : body;
    w->seq += n;
    w->pseq++;
    conn_send(c);
}

static void add_post(const writer *w, const char *off)
{
    if (g.nposts == g.posts_cap) {
        size_t cap = g.posts_cap ? g.posts_cap * 2 : 4096;
        post *p = realloc(g.posts, cap * sizeof(post));
        if (!p)
            die("out of memory");
        g.posts = p;
        g.posts_cap = cap;
    }
    post *p = &g.posts[g.nposts++];
    memcpy(p->off, off, OFF_MAX);
    p->w = w->c.id;
    p->n = w->cur_n;
    p->seq0 = w->cur_seq0;
}

static void writers_tick(void);

static void writer_response(writer *w)
{
    conn *c = &w->c;
    uint64_t now = c->rx_now;

    if (c->bad_header) {
        conn_fail(c, "an over-long protocol header");
        return;
    }
    if (g.producer) {
        char want[24];
        snprintf(want, sizeof(want), "%llu", (unsigned long long)w->cur_pseq);
        if (c->status != 200) {
            conn_fail(c, "producer batch seq %s answered %u%s", want, c->status,
                      c->status == 204 ? " (a duplicate: never sent before)" : "");
            return;
        }
        if (strcmp(c->pseq, want) != 0 || strcmp(c->pepoch, "0") != 0) {
            conn_fail(c,
                      "producer batch seq %s answered with Producer-Epoch '%s', Producer-Seq '%s'",
                      want, c->pepoch, c->pseq);
            return;
        }
    } else if (c->status != 200 && c->status != 204) {
        conn_fail(c, "POST answered %u", c->status);
        return;
    }
    if (!c->has_next) {
        conn_fail(c, "POST answered without Stream-Next-Offset");
        return;
    }
    if (strlen(c->next) >= OFF_MAX - 1) {
        conn_fail(c, "offset too long: %s", c->next);
        return;
    }
    if (strcmp(c->next, w->last_off) <= 0) {
        conn_fail(c, "POST's offset %s is not past the previous one %s", c->next, w->last_off);
        return;
    }
    if (c->closed_hdr) {
        conn_fail(c, "the stream was reported closed");
        return;
    }
    memcpy(w->last_off, c->next, OFF_MAX);
    add_post(w, c->next);
    g.posts_total++;
    if (now <= g.t_win_end && c->sent_ns >= g.t_start) {
        g.win_posts++;
        g.win_bytes += w->cur_bytes;
        g.win_items += w->cur_n;
        hist_add(&g.post_lat, now - c->sent_ns);
    }
    writers_tick();
}

static writer *idle_writer(void)
{
    for (size_t k = 0; k < g.writers; k++) {
        writer *w = &g.w[(g.next_writer + k) % g.writers];
        if (!w->c.busy && !w->c.failed && w->c.state != C_CONNECTING) {
            g.next_writer = (g.next_writer + k + 1) % g.writers;
            return w;
        }
    }
    return NULL;
}

/* Starts the POSTs that are due: unpaced, every idle writer; paced, the slots that came. */
static void writers_tick(void)
{
    uint64_t now = now_ns();
    if (g.phase != PH_WINDOW)
        return;
    if (now >= g.t_win_end || g.rounds)
        return;
    if (g.rate <= 0) {
        for (size_t i = 0; i < g.writers; i++) {
            writer *w = &g.w[i];
            if (!w->c.busy && !w->c.failed && w->c.state != C_CONNECTING)
                writer_post(w);
        }
        return;
    }
    while (g.slots_due) {
        writer *w = idle_writer();
        if (!w)
            return;
        g.slots_due--;
        writer_post(w);
    }
}

static void arm_timer(uint64_t at)
{
    struct itimerspec its = {
        .it_value = {.tv_sec = (time_t)(at / NS_PER_S), .tv_nsec = (long)(at % NS_PER_S)}};
    if (!its.it_value.tv_sec && !its.it_value.tv_nsec)
        its.it_value.tv_nsec = 1;
    timerfd_settime(g.tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

static void timer_fired(void)
{
    uint64_t exp, now = now_ns();
    if (read(g.tfd, &exp, sizeof(exp)) < 0)
        return;
    if (g.phase != PH_WINDOW)
        return;
    while (g.t_start + g.slot * g.slot_ns <= now && g.t_start + g.slot * g.slot_ns < g.t_win_end) {
        if (g.slots_due)
            g.late++; /* the previous POST had to wait for a free connection */
        g.slots_due++;
        g.slot++;
    }
    writers_tick();
    if (g.t_start + g.slot * g.slot_ns < g.t_win_end)
        arm_timer(g.t_start + g.slot * g.slot_ns);
}

/* Rounds (long-poll, --rate 0): one POST at a time, sent --gap-ms after every reader has had the
 * previous one and is waiting again, so each delivery is to 1,000 waiting readers. */
static void rounds_tick(void)
{
    uint64_t now = now_ns(), posted = 0;

    if (!g.rounds || g.phase != PH_WINDOW || now >= g.t_win_end)
        return;
    for (size_t i = 0; i < g.writers; i++) {
        if (g.w[i].c.busy)
            return;
        posted += g.w[i].seq;
    }
    for (size_t i = 0; i < g.readers; i++) {
        const conn *c = &g.r[i];
        if (c->failed)
            continue;
        if (c->rc.recs != posted || !c->busy || c->state != C_OPEN || c->out_len)
            return;
    }
    if (!g.round_ready_ns) {
        g.round_ready_ns = now;
        return;
    }
    if (now - g.round_ready_ns < (uint64_t)(g.gap_ms * 1e6))
        return;
    g.round_ready_ns = 0;
    writer *w = idle_writer();
    if (w) {
        g.rounds_done++;
        writer_post(w);
    }
}

/* ---- the loop ------------------------------------------------------------------------------- */

static char g_timer_tag;

static void loop_once(int timeout_ms)
{
    struct epoll_event evs[MAX_EVENTS];
    int k = epoll_wait(g.epfd, evs, MAX_EVENTS, timeout_ms);
    uint64_t now = now_ns();

    for (int i = 0; i < k; i++) {
        if (evs[i].data.ptr == &g_timer_tag) {
            timer_fired();
            continue;
        }
        conn *c = evs[i].data.ptr;
        if (c->fd >= 0)
            conn_event(c, evs[i].events, now);
    }
    rounds_tick();
}

/* Connects readers, at most --inflight at a time. */
static void readers_connect(size_t *next)
{
    while (*next < g.readers && g.connects_inflight < g.inflight) {
        conn *c = &g.r[(*next)++];
        if (c->kind == K_SSE)
            sse_open(c);
        else
            lp_poll(c);
    }
}

/* ---- blocking requests: creating streams, reading them back ------------------------------------
 */

static int blocking_connect(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct timeval tv = {.tv_sec = 60};
    int one = 1;
    if (fd < 0)
        die("socket: %s", strerror(errno));
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&g.addr, sizeof(g.addr)) < 0)
        die("cannot connect to %s:%d: %s", g.host, g.port, strerror(errno));
    return fd;
}

/* Sends c->out on c->fd and parses the answer; 0 when a whole response came. */
static int blocking_exchange(conn *c)
{
    size_t off = 0;
    while (off < c->out_len) {
        ssize_t n = write(c->fd, c->out + off, c->out_len - off);
        if (n <= 0) {
            if (n < 0 && errno == EINTR)
                continue;
            return -1;
        }
        off += (size_t)n;
    }
    c->out_len = 0;
    c->done = 0;
    c->busy = 1;
    while (!c->done && !c->failed) {
        ssize_t n = recv(c->fd, g.rx, RX_CAP, 0);
        if (n < 0 && errno == EINTR)
            continue;
        c->rx_now = now_ns();
        llhttp_errno_t e =
            n > 0 ? llhttp_execute(&c->p, (const char *)g.rx, (size_t)n) : llhttp_finish(&c->p);
        if (e != HPE_OK || n <= 0)
            break;
    }
    if (c->want_close) {
        close(c->fd);
        c->fd = blocking_connect();
        llhttp_init(&c->p, HTTP_RESPONSE, &settings);
        c->p.data = c;
        c->want_close = 0;
    }
    return c->done ? 0 : -1;
}

static void create_streams(void)
{
    conn c = {0};
    conn_init(&c, K_READ, 0);
    c.fd = blocking_connect();
    llhttp_init(&c.p, HTTP_RESPONSE, &settings);
    c.p.data = &c;
    for (size_t s = 0; s < g.streams; s++) {
        out_printf(&c,
                   "PUT %s HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nContent-Length: 0\r\n\r\n",
                   g.stream_path[s], g.hosthdr, g.ctype);
        if (blocking_exchange(&c) < 0)
            die("PUT %s: no answer", g.stream_path[s]);
        if (c.status != 201)
            die("PUT %s answered %u (want 201: a new stream)", g.stream_path[s], c.status);
        if (!c.has_next)
            die("PUT %s answered without Stream-Next-Offset", g.stream_path[s]);
        memcpy(g.tail0[s], c.next, OFF_MAX);
    }
    close(c.fd);
    free(c.out);
}

static void read_body(conn *c, const uint8_t *p, size_t n)
{
    (void)c;
    g_read_bytes += n;
    if (g.mode == B_JSON)
        jn_feed(&g_jn, p, n);
    else
        bh_update(&g_read_hash, p, n);
}

/* Reads stream s from the start with catch-up GETs; fills its length and hash. 0 on success. */
static int read_back(size_t s, uint64_t *len, uint64_t *hash, char *why, size_t why_cap)
{
    conn c = {0};
    char off[OFF_MAX] = "-1";
    const char *want_ct = g.mode == B_JSON ? "application/json" : g.ctype;
    int rc = -1;

    conn_init(&c, K_READ, (uint32_t)s);
    c.fd = blocking_connect();
    llhttp_init(&c.p, HTTP_RESPONSE, &settings);
    c.p.data = &c;
    bh_init(&g_read_hash);
    memset(&g_jn, 0, sizeof(g_jn));
    g_jn.h = &g_read_hash;
    g_read_bytes = 0;
    for (int page = 0; page < READ_PAGES; page++) {
        out_printf(&c, "GET %s?offset=%s HTTP/1.1\r\nHost: %s\r\n\r\n", g.stream_path[s], off,
                   g.hosthdr);
        jn_page_begin(&g_jn);
        if (blocking_exchange(&c) < 0) {
            snprintf(why, why_cap, "read-back GET at %s: no whole answer", off);
            goto out;
        }
        if (c.status != 200 || !c.has_next || !media_is(c.ctype, want_ct)) {
            snprintf(why, why_cap, "read-back GET at %s: %u, Stream-Next-Offset '%s', type '%s'",
                     off, c.status, c.next, c.ctype);
            goto out;
        }
        if (g.mode == B_JSON && (!g_jn.page_done || g_jn.bad)) {
            snprintf(why, why_cap, "read-back GET at %s: not one JSON array", off);
            goto out;
        }
        int at_end = !strcmp(c.next, g.final[s]);
        if (c.up_to_date && at_end) {
            rc = 0;
            break;
        }
        if (strcmp(c.next, off) <= 0 && strcmp(off, "-1") != 0) {
            snprintf(why, why_cap, "read-back GET at %s: no progress (Stream-Next-Offset %s%s)",
                     off, c.next, c.up_to_date ? ", up to date" : "");
            goto out;
        }
        if (c.up_to_date || strcmp(c.next, g.final[s]) > 0) {
            snprintf(why, why_cap, "read-back ended at %s%s, the last POST's offset is %s", c.next,
                     c.up_to_date ? " (up to date)" : "", g.final[s]);
            goto out;
        }
        memcpy(off, c.next, OFF_MAX);
    }
    if (rc < 0 && !why[0])
        snprintf(why, why_cap, "read-back: more than %d pages", READ_PAGES);
out:
    if (g.mode == B_JSON) {
        jn_flush(&g_jn);
        *len = g_jn.bytes;
    } else {
        *len = g_read_bytes;
    }
    *hash = bh_digest(&g_read_hash);
    close(c.fd);
    free(c.out);
    return rc;
}

/* ---- options --------------------------------------------------------------------------------- */

static void usage(void)
{
    fprintf(stderr,
            "usage: dsload SCENARIO --port P [options]\n"
            "  SCENARIO: append | producer | sse | longpoll (sets the defaults)\n"
            "  --host H         server address (127.0.0.1)\n"
            "  --port P         server port\n"
            "  --prefix P       URL path of the streams (/v1/stream); streams are P/NAME\n"
            "  -n, --readers N  SSE or long-poll readers\n"
            "  -w, --writers W  writer connections (producers in the producer scenario)\n"
            "  --streams S      streams the writers are spread over (append, producer)\n"
            "  -s, --size B     body size (append), message size (producer, >= 48)\n"
            "  --batch K        messages per POST (producer: 100; sse, longpoll: 1)\n"
            "  --text           producer: batches as text/plain records, not a JSON array\n"
            "  -d, --duration S window in seconds\n"
            "  --rate R         POSTs per second in all; 0: each writer as fast as answered\n"
            "                   (longpoll: in rounds, the next POST --gap-ms after every\n"
            "                   reader has the last one and is polling again)\n"
            "  --gap-ms MS      longpoll rounds: the pause before the next POST (50)\n"
            "  --drain S        longest wait for readers after the window (10)\n"
            "  --settle S       pause between the readers being ready and the window (0.3)\n"
            "  --server-pid L   comma-separated pids whose RSS and CPU are reported\n"
            "  --cpu C          pin to CPU C\n"
            "  --inflight K     connections being set up at once (128)\n"
            "  --label L        the peer's name, copied into the RESULT line\n");
    exit(2);
}

static void set_defaults(const char *sc)
{
    g.scenario = sc;
    g.streams = 1;
    g.duration = 2;
    g.drain = 10;
    g.settle = 0.3;
    g.batch = 1;
    g.gap_ms = 50;
    if (!strcmp(sc, "append")) {
        g.writers = 4;
        g.size = 65536;
        g.mode = B_BODY;
    } else if (!strcmp(sc, "producer")) {
        g.writers = 4;
        g.size = REC;
        g.batch = 100;
        g.producer = 1;
        g.json = 1;
        g.mode = B_JSON;
    } else if (!strcmp(sc, "sse")) {
        g.readers = 1000;
        g.writers = 4;
        g.size = REC;
        g.mode = B_REC;
        g.live = 1;
    } else if (!strcmp(sc, "longpoll")) {
        g.readers = 1000;
        g.size = REC;
        g.mode = B_REC;
        g.live = 1;
        g.rate = 0;
        g.writers = 1;
        g.duration = 4;
    } else {
        usage();
    }
}

static double pct_of(double part, double whole)
{
    return whole > 0 ? 100.0 * part / whole : 0;
}

/* ---- main ------------------------------------------------------------------------------------ */

int main(int argc, char **argv)
{
    enum {
        O_HOST = 256,
        O_PORT,
        O_PREFIX,
        O_STREAMS,
        O_BATCH,
        O_TEXT,
        O_RATE,
        O_DRAIN,
        O_SETTLE,
        O_PID,
        O_CPU,
        O_INFLIGHT,
        O_LABEL,
        O_GAP
    };
    static const struct option opts[] = {{"host", 1, 0, O_HOST},
                                         {"port", 1, 0, O_PORT},
                                         {"prefix", 1, 0, O_PREFIX},
                                         {"readers", 1, 0, 'n'},
                                         {"writers", 1, 0, 'w'},
                                         {"streams", 1, 0, O_STREAMS},
                                         {"size", 1, 0, 's'},
                                         {"batch", 1, 0, O_BATCH},
                                         {"text", 0, 0, O_TEXT},
                                         {"duration", 1, 0, 'd'},
                                         {"rate", 1, 0, O_RATE},
                                         {"drain", 1, 0, O_DRAIN},
                                         {"settle", 1, 0, O_SETTLE},
                                         {"server-pid", 1, 0, O_PID},
                                         {"cpu", 1, 0, O_CPU},
                                         {"inflight", 1, 0, O_INFLIGHT},
                                         {"label", 1, 0, O_LABEL},
                                         {"gap-ms", 1, 0, O_GAP},
                                         {0, 0, 0, 0}};

    if (argc < 2 || argv[1][0] == '-')
        usage();
    set_defaults(argv[1]);
    g.host = "127.0.0.1";
    g.prefix = "/v1/stream";
    g.label = "";
    g.cpu = -1;
    g.inflight = 128;
    optind = 2;
    for (int o; (o = getopt_long(argc, argv, "n:w:s:d:", opts, NULL)) != -1;) {
        switch (o) {
        case O_HOST:
            g.host = optarg;
            break;
        case O_PORT:
            g.port = atoi(optarg);
            break;
        case O_PREFIX:
            g.prefix = optarg;
            break;
        case 'n':
            g.readers = (size_t)atol(optarg);
            break;
        case 'w':
            g.writers = (size_t)atol(optarg);
            break;
        case O_STREAMS:
            g.streams = (size_t)atol(optarg);
            break;
        case 's':
            g.size = (size_t)parse_size(optarg);
            break;
        case O_BATCH:
            g.batch = (size_t)atol(optarg);
            break;
        case O_TEXT:
            g.json = 0;
            break;
        case 'd':
            g.duration = atof(optarg);
            break;
        case O_RATE:
            g.rate = atof(optarg);
            break;
        case O_DRAIN:
            g.drain = atof(optarg);
            break;
        case O_SETTLE:
            g.settle = atof(optarg);
            break;
        case O_PID:
            g.npids = parse_pids(optarg, g.pids, MAX_PIDS);
            break;
        case O_CPU:
            g.cpu = atoi(optarg);
            break;
        case O_INFLIGHT:
            g.inflight = (size_t)atol(optarg);
            break;
        case O_LABEL:
            g.label = optarg;
            break;
        case O_GAP:
            g.gap_ms = atof(optarg);
            break;
        default:
            usage();
        }
    }
    if (!strcmp(g.scenario, "producer") && !g.json)
        g.mode = B_REC, g.size = REC;
    if (g.port <= 0 || g.writers < 1 || g.writers > MAX_WRITERS || g.streams < 1 ||
        g.streams > MAX_STREAMS || g.duration <= 0 || g.batch < 1 || g.inflight < 1)
        usage();
    if (g.mode == B_BODY && (g.size < 1 || g.size > (1u << 20)))
        die("--size must be 1 .. 1m for append");
    if (g.mode == B_JSON && (g.size < 48 || g.size > 4096))
        die("--size must be 48 .. 4096 for JSON messages");
    if (g.live && g.streams != 1)
        die("sse and longpoll use one stream");
    if (g.mode == B_BODY)
        g.batch = 1;
    g.rounds = !strcmp(g.scenario, "longpoll") && g.rate <= 0;
    g.ctype = g.mode == B_BODY   ? "application/octet-stream"
              : g.mode == B_JSON ? "application/json"
                                 : "text/plain";
    g.addr.sin_family = AF_INET;
    g.addr.sin_port = htons((uint16_t)g.port);
    if (inet_pton(AF_INET, g.host, &g.addr.sin_addr) != 1)
        die("bad --host %s", g.host);
    snprintf(g.hosthdr, sizeof(g.hosthdr), "%s:%d", g.host, g.port);
    signal(SIGPIPE, SIG_IGN);
    content_init();
    pin_cpu(g.cpu);
    g.rx = malloc(RX_CAP);
    g.w = calloc(g.writers, sizeof(writer));
    g.r = calloc(g.readers ? g.readers : 1, sizeof(conn));
    if (!g.rx || !g.w || !g.r)
        die("out of memory");
    uint32_t salt = (uint32_t)(mix64(now_ns()) & 0xffffff);
    for (size_t s = 0; s < g.streams; s++)
        snprintf(g.stream_path[s], sizeof(g.stream_path[s]), "%s/dsbench-%s-%d-%06x-%zu", g.prefix,
                 g.scenario, (int)getpid(), salt, s);

    uint64_t t0 = now_ns();
    proc_sample s_begin = proc_sample_pids(g.pids, g.npids);
    create_streams();
    g.epfd = epoll_create1(EPOLL_CLOEXEC);
    g.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (g.epfd < 0 || g.tfd < 0)
        die("epoll/timerfd: %s", strerror(errno));
    struct epoll_event tev = {.events = EPOLLIN, .data.ptr = &g_timer_tag};
    epoll_ctl(g.epfd, EPOLL_CTL_ADD, g.tfd, &tev);

    for (size_t i = 0; i < g.readers; i++) {
        conn *c = &g.r[i];
        conn_init(c, !strcmp(g.scenario, "sse") ? K_SSE : K_LP, (uint32_t)i);
        bh_init(&c->rc.hash);
        c->wnext = calloc(g.writers, sizeof(uint64_t));
        if (!c->wnext)
            die("out of memory");
        memcpy(c->off, g.tail0[0], OFF_MAX);
    }

    /* Setup, within 60 s: the readers connect (SSE: each has had its first control event;
     * long-poll: each has sent its first poll), then the writers. */
    size_t next_reader = 0, wr = 0, rr = 0;
    int writers_started = 0;
    uint64_t setup_deadline = now_ns() + 60 * NS_PER_S;
    for (;;) {
        readers_connect(&next_reader);
        rr = g.readers_ready;
        if (!strcmp(g.scenario, "longpoll")) {
            rr = 0;
            for (size_t i = 0; i < g.readers; i++)
                rr += g.r[i].state == C_OPEN && g.r[i].out_len == 0;
        }
        if (!writers_started && rr == g.readers && next_reader == g.readers) {
            writers_started = 1;
            for (size_t i = 0; i < g.writers; i++) {
                writer *w = &g.w[i];
                conn_init(&w->c, K_WRITER, (uint32_t)i);
                w->stream = (uint32_t)(i % g.streams);
                conn_connect(&w->c);
            }
        }
        wr = 0;
        for (size_t i = 0; i < g.writers; i++)
            wr += writers_started && g.w[i].c.state == C_OPEN;
        if (wr == g.writers && rr == g.readers)
            break;
        if (g.errors || now_ns() > setup_deadline) {
            fprintf(stderr,
                    "dsload: setup failed: %zu of %zu readers, %zu of %zu writers ready%s%s\n", rr,
                    g.readers, wr, g.writers, g.first_error[0] ? ": " : "", g.first_error);
            result_add("scenario", "%s", g.scenario);
            result_add("target", "%s", *g.label ? g.label : "?");
            result_add("readers", "%zu", g.readers);
            result_add("readers_ready", "%zu", rr);
            result_add("verify", "FAIL");
            result_add("errors", "%llu", (unsigned long long)(g.errors ? g.errors : 1));
            result_print();
            return 1;
        }
        loop_once(5);
    }
    uint64_t connect_ns = now_ns() - t0;
    uint64_t settle_end = now_ns() + (uint64_t)(g.settle * 1e9);
    while (now_ns() < settle_end)
        loop_once(5);

    proc_sample s_ready = proc_sample_pids(g.pids, g.npids);
    double lg0 = self_cpu_s(), lgu0 = self_user_s(), su0 = system_user_s();
    double sys0 = system_busy_s(), irq0 = system_irq_s();
    g.t_start = now_ns() + NS_PER_MS;
    g.t_win_end = g.t_start + (uint64_t)(g.duration * 1e9);
    g.recs_at_start = g.recs_total;
    while (now_ns() < g.t_start)
        loop_once(1);
    g.phase = PH_WINDOW;
    if (g.rate > 0) {
        g.slot_ns = (uint64_t)(1e9 / g.rate);
        g.slot = 0;
        arm_timer(g.t_start); /* passed already: fires at once */
    }
    writers_tick();
    while (now_ns() < g.t_win_end) {
        uint64_t left = (g.t_win_end - now_ns()) / NS_PER_MS;
        loop_once(left > 5 ? 5 : (int)left);
    }
    g.recs_at_end = g.recs_total;
    proc_sample s_win = proc_sample_pids(g.pids, g.npids);
    double lg1 = self_cpu_s(), lgu1 = self_user_s(), su1 = system_user_s();
    double sys1 = system_busy_s(), irq1 = system_irq_s();
    g.phase = PH_STOP;
    g.dropped = g.slots_due;
    g.slots_due = 0;

    /* The last answers. */
    double stop_wait = g.drain > 10 ? g.drain : 10;
    uint64_t stop_deadline = now_ns() + (uint64_t)(stop_wait * 1e9);
    for (;;) {
        size_t busy = 0;
        for (size_t i = 0; i < g.writers; i++)
            busy += g.w[i].c.busy && !g.w[i].c.failed;
        if (!busy || now_ns() > stop_deadline)
            break;
        loop_once(5);
    }
    uint64_t t_writers_done = now_ns();
    for (size_t i = 0; i < g.writers; i++) {
        if (g.w[i].c.busy && !g.w[i].c.failed)
            conn_fail(&g.w[i].c, "no answer to the last POST within %.0f s of the window's end",
                      stop_wait);
        conn_close(&g.w[i].c);
    }
    /* The last offset of each stream. */
    for (size_t s = 0; s < g.streams; s++)
        memcpy(g.final[s], g.tail0[s], OFF_MAX);
    for (size_t i = 0; i < g.nposts; i++) {
        uint32_t s = g.w[g.posts[i].w].stream;
        if (strcmp(g.posts[i].off, g.final[s]) > 0)
            memcpy(g.final[s], g.posts[i].off, OFF_MAX);
    }
    g.have_final = 1;

    /* Readers catch up. */
    g.phase = PH_DRAIN;
    for (size_t i = 0; i < g.readers; i++)
        if (!g.r[i].failed && g.r[i].state == C_OPEN)
            reader_check_done(&g.r[i]);
    uint64_t drain_deadline = now_ns() + (uint64_t)(g.drain * 1e9);
    for (;;) {
        size_t open = 0;
        for (size_t i = 0; i < g.readers; i++)
            open += !g.r[i].done && !g.r[i].failed;
        if (!open || now_ns() > drain_deadline)
            break;
        loop_once(5);
    }
    uint64_t t_end = now_ns();
    g.phase = PH_END;
    for (size_t i = 0; i < g.readers; i++)
        conn_close(&g.r[i]);
    proc_sample s_end = proc_sample_pids(g.pids, g.npids);

    /* Verify: the POSTs in the order of their offsets against what each stream reads back and
     * against what every reader got. */
    qsort(g.posts, g.nposts, sizeof(post), cmp_post_stream);
    for (size_t i = 1; i < g.nposts; i++)
        if (g.w[g.posts[i].w].stream == g.w[g.posts[i - 1].w].stream &&
            !strcmp(g.posts[i].off, g.posts[i - 1].off))
            error_at("two POSTs were given the same offset %s", g.posts[i].off);
    uint64_t exp_total_bytes = 0, read_bytes_all = 0;
    uint64_t exp_len0 = 0, exp_hash0 = 0;
    size_t p0 = 0;
    int readback_ok = 1;
    for (size_t s = 0; s < g.streams; s++) {
        size_t p1 = p0;
        while (p1 < g.nposts && g.w[g.posts[p1].w].stream == s)
            p1++;
        exp_src src = {.posts = g.posts + p0, .n = p1 - p0, .first = 1};
        uint64_t elen, ehash, rlen = 0, rhash = 0;
        bh_prefix_digests(exp_source, &src, NULL, 0, NULL, 1, &elen, &ehash);
        char why[300] = "";
        if (read_back(s, &rlen, &rhash, why, sizeof(why)) < 0) {
            error_at("stream %zu: %s", s, why);
            readback_ok = 0;
        } else if (rlen != elen || rhash != ehash) {
            error_at("stream %zu reads back %llu bytes (hash %016llx); the POSTs in offset order "
                     "carried %llu (hash %016llx)",
                     s, (unsigned long long)rlen, (unsigned long long)rhash,
                     (unsigned long long)elen, (unsigned long long)ehash);
            readback_ok = 0;
        }
        exp_total_bytes += elen;
        read_bytes_all += rlen;
        if (s == 0) {
            exp_len0 = elen;
            exp_hash0 = ehash;
        }
        p0 = p1;
    }

    /* Readers: complete ones must hold exactly stream 0; the others an exact prefix of it. */
    size_t complete = 0, prefix_only = 0, bad_readers = 0, failed_readers = 0;
    if (g.readers) {
        uint64_t *lens = calloc(g.readers, sizeof(uint64_t));
        uint64_t *dig = calloc(g.readers, sizeof(uint64_t));
        size_t nl = 0;
        for (size_t i = 0; i < g.readers; i++)
            if (!g.r[i].failed)
                lens[nl++] = g.r[i].rc.bytes;
        qsort(lens, nl, sizeof(uint64_t), cmp_u64_for_qsort);
        size_t uniq = 0;
        for (size_t i = 0; i < nl; i++)
            if (!uniq || lens[uniq - 1] != lens[i])
                lens[uniq++] = lens[i];
        size_t upto = uniq;
        while (upto && lens[upto - 1] > exp_len0)
            upto--;
        exp_src src = {.posts = g.posts, .n = 0, .first = 1};
        for (size_t i = 0; i < g.nposts && g.w[g.posts[i].w].stream == 0; i++)
            src.n++;
        bh_prefix_digests(exp_source, &src, lens, upto, dig, 0, NULL, NULL);
        for (size_t i = 0; i < g.readers; i++) {
            conn *c = &g.r[i];
            if (c->failed) {
                failed_readers++;
                continue;
            }
            uint64_t got = bh_digest(&c->rc.hash);
            if (c->done && c->rc.bytes == exp_len0 && got == exp_hash0) {
                complete++;
                continue;
            }
            size_t j = 0;
            while (j < upto && lens[j] != c->rc.bytes)
                j++;
            if (!c->done && j < upto && dig[j] == got) {
                prefix_only++;
            } else {
                bad_readers++;
                error_at("reader %zu: %llu bytes (hash %016llx)%s; the stream has %llu (hash "
                         "%016llx)",
                         i, (unsigned long long)c->rc.bytes, (unsigned long long)got,
                         c->done ? " at the last offset" : "", (unsigned long long)exp_len0,
                         (unsigned long long)exp_hash0);
            }
        }
        free(lens);
        free(dig);
    }
    const char *verify = "ok";
    if (g.errors || bad_readers || failed_readers || !readback_ok)
        verify = "FAIL";
    else if (prefix_only)
        verify = "incomplete";

    double win = g.duration;
    double lg_cpu = lg1 - lg0;
    result_add("scenario", "%s", g.scenario);
    result_add("target", "%s", *g.label ? g.label : "?");
    result_add("readers", "%zu", g.readers);
    result_add("writers", "%zu", g.writers);
    result_add("streams", "%zu", g.streams);
    result_add("size", "%zu", g.size);
    result_add("batch", "%zu", g.batch);
    result_add("body", "%s", g.mode == B_BODY ? "octet" : g.mode == B_JSON ? "json" : "text");
    result_add("rate", "%g", g.rate);
    result_add("window_s", "%.3f", win);
    result_add("connect_s", "%.3f", ns_to_s(connect_ns));
    result_add("posts", "%llu", (unsigned long long)g.posts_total);
    result_add("posts_win", "%llu", (unsigned long long)g.win_posts);
    result_add("req_ps", "%.1f", (double)g.win_posts / win);
    result_add("app_Bps", "%.0f", (double)g.win_bytes / win);
    result_add("app_msgs_ps", "%.0f", (double)g.win_items / win);
    result_add("post_p50_us", "%.1f", (double)hist_quantile(&g.post_lat, 0.5) / 1e3);
    result_add("post_p99_us", "%.1f", (double)hist_quantile(&g.post_lat, 0.99) / 1e3);
    result_add("post_max_us", "%.1f", (double)g.post_lat.max / 1e3);
    result_add("stream_bytes", "%llu", (unsigned long long)exp_total_bytes);
    result_add("read_back_bytes", "%llu", (unsigned long long)read_bytes_all);
    if (g.rounds)
        result_add("rounds", "%llu", (unsigned long long)g.rounds_done);
    if (g.rate > 0) {
        result_add("slots_late", "%llu", (unsigned long long)g.late);
        result_add("slots_dropped", "%llu", (unsigned long long)g.dropped);
    }
    if (g.readers) {
        uint64_t del = g.recs_at_end - g.recs_at_start;
        result_add("del_msgs_win", "%llu", (unsigned long long)del);
        result_add("del_msgs_ps", "%.0f", (double)del / win);
        result_add("del_msgs_total", "%llu", (unsigned long long)g.recs_total);
        /* From the window's start until the last record reached its reader: every message the
         * writers sent, delivered to every reader, over the time that took. */
        double run_s = g.last_delivery_ns > g.t_start ? ns_to_s(g.last_delivery_ns - g.t_start) : 0;
        result_add("del_run_s", "%.3f", run_s);
        result_add("del_run_msgs_ps", "%.0f", run_s > 0 ? (double)g.recs_total / run_s : 0);
        uint64_t msgs = 0;
        for (size_t i = 0; i < g.nposts; i++)
            if (g.w[g.posts[i].w].stream == 0)
                msgs += g.posts[i].n;
        result_add("del_expected", "%llu", (unsigned long long)(msgs * g.readers));
        result_add("del_frac", "%.4f",
                   msgs ? (double)g.recs_total / ((double)msgs * (double)g.readers) : 0);
        result_add("complete", "%zu", complete);
        result_add("prefix_only", "%zu", prefix_only);
        result_add("readers_failed", "%zu", failed_readers + bad_readers);
        result_add("drain_s", "%.3f", ns_to_s(t_end - t_writers_done));
        result_add("lat_n", "%llu", (unsigned long long)g.lat.count);
        result_add("lat_p50_us", "%.1f", (double)hist_quantile(&g.lat, 0.50) / 1e3);
        result_add("lat_p99_us", "%.1f", (double)hist_quantile(&g.lat, 0.99) / 1e3);
        result_add("lat_p999_us", "%.1f", (double)hist_quantile(&g.lat, 0.999) / 1e3);
        result_add("lat_max_us", "%.1f", (double)g.lat.max / 1e3);
        if (!strcmp(g.scenario, "longpoll")) {
            uint64_t polls = 0, p200 = 0, p204 = 0;
            for (size_t i = 0; i < g.readers; i++) {
                polls += g.r[i].polls;
                p200 += g.r[i].p200;
                p204 += g.r[i].p204;
            }
            result_add("lp_polls", "%llu", (unsigned long long)polls);
            result_add("lp_200", "%llu", (unsigned long long)p200);
            result_add("lp_204", "%llu", (unsigned long long)p204);
            result_add("lp_waited_pct", "%.1f",
                       pct_of((double)g.lp_waited, (double)(g.lp_waited + g.lp_fresh)));
        } else {
            result_add("sse_data_runs", "%llu", (unsigned long long)g.data_runs);
            result_add("sse_keepalives", "%llu", (unsigned long long)g.keepalive_ctrls);
        }
    }
    result_add("server_closes", "%llu", (unsigned long long)g.server_closes);
    result_add("reconnects", "%llu", (unsigned long long)g.reconnects);
    result_add("proto_warn", "%llu", (unsigned long long)g.proto_warn);
    if (g.npids) {
        result_add("srv_ok", "%d", s_end.ok);
        result_add("srv_rss_begin_kb", "%llu", (unsigned long long)s_begin.rss_kb);
        result_add("srv_rss_ready_kb", "%llu", (unsigned long long)s_ready.rss_kb);
        result_add("srv_rss_win_kb", "%llu", (unsigned long long)s_win.rss_kb);
        result_add("srv_rss_end_kb", "%llu", (unsigned long long)s_end.rss_kb);
        result_add("srv_cpu_setup_s", "%.2f", s_ready.cpu_s - s_begin.cpu_s);
        result_add("srv_cpu_win_s", "%.2f", s_win.cpu_s - s_ready.cpu_s);
        result_add("srv_cpu_win_pct", "%.1f", pct_of(s_win.cpu_s - s_ready.cpu_s, win));
        result_add("srv_cpu_all_s", "%.2f", s_end.cpu_s - s_ready.cpu_s);
    }
    result_add("lg_cpu_win_s", "%.2f", lg_cpu);
    result_add("lg_cpu_pct", "%.1f", pct_of(lg_cpu, win));
    result_add("sys_busy_pct", "%.1f", pct_of(sys1 - sys0, win));
    result_add("softirq_pct", "%.1f", pct_of(irq1 - irq0, win));
    if (g.npids)
        result_add("others_pct", "%.1f",
                   pct_of((su1 - su0) - (s_win.user_s - s_ready.user_s) - (lgu1 - lgu0), win));
    result_add("errors", "%llu", (unsigned long long)g.errors);
    result_add("verify", "%s", verify);
    result_add("wall_s", "%.1f", ns_to_s(now_ns() - t0));
    result_print();
    if (g.first_error[0])
        fprintf(stderr, "dsload: %s%s\n", g.first_error,
                g.errors > 1 ? " (first of several errors)" : "");
    if (prefix_only)
        fprintf(stderr,
                "dsload: %zu readers were still short of the last offset when the %.0f s drain "
                "ran out; what they had is an exact prefix of the stream\n",
                prefix_only, g.drain);
    return !strcmp(verify, "FAIL") ? 1 : 0;
}
