/* loadgen.c -- the load generator behind `make bench`: drives a running httpfstream server (or
 * Nchan, with --nchan) over loopback with WebSocket appenders and followers it speaks to itself
 * (epoll, non-blocking sockets, frames from src/ws/ws.h), and prints one RESULT line per run.
 *
 * Scenarios (each only sets defaults; every knob can be overridden):
 *   fanout   1 appender as fast as the server takes it, N followers
 *   latency  1 appender at a fixed rate of timestamped 64-byte records, N followers
 *   idle     R live resources (appenders that wrote a little, then stay quiet), N followers idle
 *   ingest   1 appender of 64 KiB messages as fast as possible, 1 follower
 *   many     R resources, each an appender at a modest rate and N/R followers
 *   handshakes  N follower handshakes (connect, WebSocket FOLLOW, 101), --inflight at once, each
 *            closed at its 101: handshakes/s and handshake latency (see handshakes_main)
 *
 * --token T adds "Authorization: Bearer T" to every handshake, in every scenario (for a server
 * started with -auth).
 *
 * Threads and CPUs: one thread runs every appender, one (or --threads) runs the followers; with
 * --cpu C all of them are pinned to C so that the server under test keeps the other core (run.sh
 * pins the server to CPU 0 and the load generator to CPU 1, the same split as the bare peer's
 * writer and drainer). The load generator's own CPU use over the window is reported (lg_cpu_pct,
 * in percent of one core): near 100 means the numbers are bounded by the load generator.
 *
 * Timeline: appenders connect (and write --init bytes), then the followers connect, then a
 * window of --duration seconds in which appenders send; then appenders send CLOSE and the
 * followers drain. Delivered and accepted rates are measured inside the window. Against our
 * server every follower must then receive CLOSE 1000 after exactly the file's bytes: the hash of
 * what each follower received is compared with the hash of the resource's file on disk (--root)
 * and with what the appender sent. A follower still behind when --drain runs out is checked
 * against the same-length prefix of the file and counted as incomplete. Nchan subscribers get
 * no CLOSE and only messages published after they joined, so for Nchan the exactness check is
 * skipped (verify=skipped) and the drain ends after --quiet seconds without data. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "ws/ws.h"

#define RX_CAP      (256 * 1024) /* one receive buffer per thread */
#define HS_CAP      8192         /* a handshake response head */
#define FILL_TARGET (256 * 1024) /* bytes of frames an appender writes at once when unpaced */
#define MAX_EVENTS  1024
#define MAX_PIDS    16
#define MAX_FPORTS  8
#define MAX_THREADS 8
#define NS_PER_MS   1000000ull
#define NS_PER_S    1000000000ull
#define TOKEN_MAX   4096 /* --token's length */
#define CLOSE_WAIT_NS                                                                              \
    (10 * NS_PER_S) /* least wait for an appender's last bytes and CLOSE reply                     \
                     */

enum phase { PH_SETUP, PH_WINDOW, PH_STOP, PH_DRAIN, PH_ABORT };
enum conn_state { CS_IDLE, CS_CONNECTING, CS_HANDSHAKE, CS_OPEN, CS_DONE };
enum role { ROLE_FOLLOWER, ROLE_APPENDER };

/* One WebSocket client connection: the handshake, the decoder and the follower's counters. */
typedef struct lconn {
    int fd;
    uint8_t state;
    uint8_t role;
    uint8_t got_close;
    uint8_t failed;
    uint16_t close_code;
    uint16_t http_status;
    uint32_t res;
    char key[WS_KEY_LEN + 1];
    char *hs; /* response head collected so far, when it came in pieces */
    uint32_t hs_len;
    const char *err;
    ws_decoder dec;
    uint64_t bytes; /* payload bytes received */
    bh_state hash;
    uint8_t rec[REC_SIZE];
    uint8_t rec_len;
    uint64_t last_ping_ns;
    uint32_t pings;
    uint64_t t_connect; /* handshakes: when its connect() was issued */
} lconn;

/* An appender: its connection plus the frames it has queued. */
typedef struct appender {
    lconn c;
    uint8_t *out;
    size_t out_len, out_off, out_cap;
    uint64_t seq;
    uint64_t payload; /* payload bytes queued so far */
    uint64_t echo;    /* payload bytes received back (Nchan echoes publishers) */
    bh_state sent;
    uint32_t rng;
    uint8_t blocked; /* waiting for EPOLLOUT */
    uint8_t close_sent;
    uint8_t done;
    uint8_t cut; /* given up on with frames still unsent: its hash is not what the server got */
} appender;

typedef struct fthread {
    pthread_t th;
    int epfd;
    lconn **conns;
    size_t n, next, inflight, connected, finished;
    uint8_t *rx;
    hist lat;
    uint64_t bytes, start_bytes, win_bytes, win_check_ns, last_rx_ns;
    uint64_t pings, pings_late, ping_max_gap_ns, bad_records, ctl_fail;
    int started, win_done, ready;
} fthread;

/* Everything the threads share: the parameters, then the phase clock. */
static struct {
    const char *scenario, *host, *root, *path, *label;
    const char *token; /* --token: sent as a bearer token in every handshake; NULL: none */
    const char *query; /* added to every handshake's target ("frames=binary"); NULL: none */
    int port, nchan, latency, threads, cpu;
    size_t resources, followers, size, init, inflight, ahead;
    long long ahead_bytes; /* unpaced, ours: payload allowed beyond the file's size (-1: auto) */
    double rate, duration, drain, quiet, settle;
    unsigned ping_ms, ping_slack_ms;
    pid_t pids[MAX_PIDS];
    int npids;
    struct sockaddr_in addr;
    /* --follow-ports: followers connect to these ports in turn (other nodes of a cluster), with
     * ?wait so that a node that has not seen the resource yet does not answer 404 */
    struct sockaddr_in faddr[MAX_FPORTS];
    int nfports;
    atomic_uint fnext;

    appender *apps;
    lconn *fols;
    fthread ft[MAX_THREADS];

    _Atomic int phase;
    _Atomic int apps_ready;
    _Atomic int threads_ready;
    _Atomic uint64_t t_start, t_win_end, t_drain, drain_deadline;
    uint64_t app_payload_win_end; /* payload the appenders had queued minus what was pending */
    int apps_failed;
} g;

/* ---- connections ---------------------------------------------------------------------------- */

static void make_key(char out[WS_KEY_LEN + 1], uint32_t *rng)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    uint8_t raw[18] = {0};

    for (int i = 0; i < 16; i++) {
        *rng ^= *rng << 13;
        *rng ^= *rng >> 17;
        *rng ^= *rng << 5;
        raw[i] = (uint8_t)*rng;
    }
    for (int i = 0, o = 0; i < 18; i += 3, o += 4) {
        uint32_t v = (uint32_t)raw[i] << 16 | (uint32_t)raw[i + 1] << 8 | raw[i + 2];
        out[o] = b64[v >> 18 & 63];
        out[o + 1] = b64[v >> 12 & 63];
        out[o + 2] = b64[v >> 6 & 63];
        out[o + 3] = b64[v & 63];
    }
    out[22] = out[23] = '=';
    out[WS_KEY_LEN] = '\0';
}

static void resource_path(char *out, size_t cap, uint32_t res)
{
    snprintf(out, cap, "%s/r%u", g.path, res);
}

static void conn_fail(lconn *c, const char *why)
{
    if (!c->failed && !c->err)
        c->err = why;
    c->failed = 1;
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->state = CS_DONE;
    free(c->hs);
    c->hs = NULL;
}

static int write_all_small(int fd, const void *p, size_t n)
{
    ssize_t w = write(fd, p, n);
    return w == (ssize_t)n ? 0 : -1;
}

/* Sends a masked control frame straight to the socket: only used where nothing else is queued. */
static int send_control(lconn *c, unsigned op, const uint8_t *payload, size_t len, uint32_t *rng)
{
    uint8_t buf[WS_HEADER_MAX + WS_CONTROL_MAX];
    uint8_t key[4];

    *rng ^= *rng << 13;
    *rng ^= *rng >> 17;
    *rng ^= *rng << 5;
    memcpy(key, rng, 4);
    if (len > WS_CONTROL_MAX)
        len = WS_CONTROL_MAX;
    size_t h = ws_frame_header(buf, op, 1, len, key);
    memcpy(buf + h, payload, len);
    ws_mask(buf + h, len, key, 0);
    return write_all_small(c->fd, buf, h + len);
}

static int start_connect(lconn *c, int epfd, void *owner)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;

    if (fd < 0) {
        conn_fail(c, "socket() failed");
        return -1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->fd = fd;
    c->state = CS_CONNECTING;
    const struct sockaddr_in *to = &g.addr;
    if (c->role == ROLE_FOLLOWER && g.nfports)
        to = &g.faddr[atomic_fetch_add(&g.fnext, 1) % (unsigned)g.nfports];
    if (connect(fd, (const struct sockaddr *)to, sizeof(*to)) < 0 && errno != EINPROGRESS) {
        conn_fail(c, "connect() failed");
        return -1;
    }
    struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = owner};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        conn_fail(c, "epoll_ctl failed");
        return -1;
    }
    return 0;
}

static int send_handshake(lconn *c, int epfd, void *owner, uint32_t *rng)
{
    char req[1024 + TOKEN_MAX], path[256];
    int err = 0;
    socklen_t len = sizeof(err);

    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err) {
        conn_fail(c, "connect failed");
        return -1;
    }
    make_key(c->key, rng);
    resource_path(path, sizeof(path), c->res);
    int fwait = c->role == ROLE_FOLLOWER && g.nfports;
    int n = snprintf(req, sizeof(req),
                     "GET %s%s%s%s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                     "Sec-WebSocket-Version: 13\r\n%s%s%s%s\r\n",
                     path, g.query || fwait ? "?" : "", g.query ? g.query : "",
                     fwait ? (g.query ? "&wait" : "wait") : "", g.host, g.port, c->key,
                     c->role == ROLE_APPENDER && !g.nchan ? "X-Verb: APPEND\r\n" : "",
                     g.token ? "Authorization: Bearer " : "", g.token ? g.token : "",
                     g.token ? "\r\n" : "");
    if (n < 0 || (size_t)n >= sizeof(req)) {
        conn_fail(c, "handshake request too long");
        return -1;
    }
    if (write_all_small(c->fd, req, (size_t)n) < 0) {
        conn_fail(c, "handshake write failed");
        return -1;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = owner};
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
    c->state = CS_HANDSHAKE;
    return 0;
}

/* Checks a complete response head (NUL-terminated); 0 when it is a valid 101. */
static int check_response(lconn *c, char *head)
{
    char want[WS_ACCEPT_LEN + 1];

    if (strncmp(head, "HTTP/1.1 ", 9) != 0) {
        conn_fail(c, "not an HTTP response");
        return -1;
    }
    c->http_status = (uint16_t)atoi(head + 9);
    if (c->http_status != 101) {
        conn_fail(c, "handshake refused");
        return -1;
    }
    char *h = strcasestr(head, "\r\nSec-WebSocket-Accept:");
    if (!h || ws_accept_key(c->key, WS_KEY_LEN, want) < 0) {
        conn_fail(c, "no Sec-WebSocket-Accept");
        return -1;
    }
    h += 23;
    while (*h == ' ' || *h == '\t')
        h++;
    if (strncmp(h, want, WS_ACCEPT_LEN) != 0) {
        conn_fail(c, "wrong Sec-WebSocket-Accept");
        return -1;
    }
    ws_decoder_init(&c->dec, WS_ROLE_CLIENT, 0);
    c->state = CS_OPEN;
    return 0;
}

/* Feeds received bytes to the handshake; returns the start of the frame bytes after the head
 * (possibly inside c->hs) and their count in *rest, or NULL while the head is incomplete or on
 * failure (c->state tells which). */
static uint8_t *handshake_input(lconn *c, uint8_t *p, size_t n, size_t *rest)
{
    uint8_t *buf = p;
    size_t len = n;

    if (!c->hs) {
        uint8_t *end = memmem(p, n, "\r\n\r\n", 4);
        if (end) {
            size_t head = (size_t)(end - p) + 4;
            char save = (char)p[head - 1];
            p[head - 1] = '\0';
            int r = check_response(c, (char *)p);
            p[head - 1] = (uint8_t)save;
            if (r < 0)
                return NULL;
            *rest = n - head;
            return p + head;
        }
        c->hs = malloc(HS_CAP + 1);
        if (!c->hs) {
            conn_fail(c, "out of memory");
            return NULL;
        }
    }
    if (c->hs_len + n > HS_CAP) {
        conn_fail(c, "response head too large");
        return NULL;
    }
    memcpy(c->hs + c->hs_len, p, n);
    c->hs_len += (uint32_t)n;
    buf = (uint8_t *)c->hs;
    len = c->hs_len;
    uint8_t *end = memmem(buf, len, "\r\n\r\n", 4);
    if (!end)
        return NULL;
    size_t head = (size_t)(end - buf) + 4;
    char save = (char)buf[head - 1];
    buf[head - 1] = '\0';
    int r = check_response(c, (char *)buf);
    buf[head - 1] = (uint8_t)save;
    if (r < 0)
        return NULL;
    *rest = len - head;
    return buf + head; /* c->hs is freed by the caller once these bytes are decoded */
}

/* ---- followers ------------------------------------------------------------------------------ */

static void record(fthread *t, const uint8_t *rec, uint64_t now)
{
    uint64_t ts;

    if (!rec_timestamp(rec, &ts)) {
        t->bad_records++;
        return;
    }
    if (ts == 0 || ts < g.t_start)
        return; /* written before the window (initial content) */
    hist_add(&t->lat, now > ts ? now - ts : 0);
}

static void feed_records(fthread *t, lconn *c, const uint8_t *p, size_t n, uint64_t now)
{
    while (n) {
        if (c->rec_len == 0 && n >= REC_SIZE) {
            record(t, p, now);
            p += REC_SIZE;
            n -= REC_SIZE;
            continue;
        }
        size_t take = REC_SIZE - c->rec_len;
        if (take > n)
            take = n;
        memcpy(c->rec + c->rec_len, p, take);
        c->rec_len = (uint8_t)(c->rec_len + take);
        p += take;
        n -= take;
        if (c->rec_len == REC_SIZE) {
            record(t, c->rec, now);
            c->rec_len = 0;
        }
    }
}

static void on_ping(fthread *t, lconn *c, uint64_t now)
{
    uint64_t start = atomic_load(&g.t_start);

    if (start && now >= start && now <= atomic_load(&g.t_win_end)) {
        uint64_t from = c->last_ping_ns > start ? c->last_ping_ns : start;
        uint64_t gap = now - from;
        if (gap > t->ping_max_gap_ns)
            t->ping_max_gap_ns = gap;
        if (g.ping_ms && gap > (uint64_t)(g.ping_ms + g.ping_slack_ms) * NS_PER_MS)
            t->pings_late++;
        t->pings++;
    }
    c->last_ping_ns = now;
    c->pings++;
}

static void follower_finish(fthread *t, lconn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->state = CS_DONE;
    t->finished++;
}

static void follower_frames(fthread *t, lconn *c, uint8_t *p, size_t n, uint64_t now)
{
    static __thread uint32_t rng = 0x2545f491u;
    ws_event ev;

    while (n > 0 && c->state == CS_OPEN) {
        size_t used = ws_decode(&c->dec, p, n, &ev);
        p += used;
        n -= used;
        switch (ev.type) {
        case WS_EV_NEED_MORE:
        case WS_EV_PONG:
            break;
        case WS_EV_DATA:
            c->bytes += ev.len;
            t->bytes += ev.len;
            t->last_rx_ns = now; /* data only: pings must not keep a quiet drain going */
            bh_update(&c->hash, ev.data, ev.len);
            if (g.latency)
                feed_records(t, c, ev.data, ev.len, now);
            break;
        case WS_EV_PING:
            on_ping(t, c, now);
            if (send_control(c, WS_OP_PONG, ev.data, ev.len, &rng) < 0)
                t->ctl_fail++;
            break;
        case WS_EV_CLOSE: {
            uint8_t payload[2] = {(uint8_t)(ev.close_code >> 8), (uint8_t)ev.close_code};
            c->got_close = 1;
            c->close_code = (uint16_t)ev.close_code;
            if (send_control(c, WS_OP_CLOSE, payload, ev.close_code == 1005 ? 0 : 2, &rng) < 0)
                t->ctl_fail++;
            follower_finish(t, c);
            return;
        }
        case WS_EV_ERROR:
            conn_fail(c, ev.reason);
            t->finished++;
            return;
        }
    }
}

static void follower_event(fthread *t, lconn *c, uint32_t events)
{
    static __thread uint32_t rng = 0x9e3779b9u;

    if (c->state == CS_CONNECTING) {
        if (send_handshake(c, t->epfd, c, &rng) < 0) {
            t->inflight--;
            t->finished++;
        }
        return;
    }
    if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        return;
    ssize_t r = recv(c->fd, t->rx, RX_CAP, 0);
    uint64_t now = now_ns();
    if (r < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (r <= 0) {
        int was_handshake = c->state == CS_HANDSHAKE;
        if (g.nchan && c->state == CS_OPEN) {
            follower_finish(t, c);
        } else {
            conn_fail(c, r == 0 ? "EOF before CLOSE" : "recv error");
            t->finished++;
        }
        if (was_handshake)
            t->inflight--;
        return;
    }
    uint8_t *p = t->rx;
    size_t n = (size_t)r;
    if (c->state == CS_HANDSHAKE) {
        p = handshake_input(c, p, n, &n);
        if (c->state == CS_HANDSHAKE)
            return;
        t->inflight--;
        if (c->state != CS_OPEN) {
            t->finished++;
            return;
        }
        t->connected++;
    }
    follower_frames(t, c, p, n, now);
    if (c->hs) {
        free(c->hs);
        c->hs = NULL;
    }
}

/* At the end of the window: every follower must have had a ping within the allowed gap. */
static void window_end_pings(fthread *t, uint64_t end)
{
    uint64_t start = atomic_load(&g.t_start);
    uint64_t limit = (uint64_t)(g.ping_ms + g.ping_slack_ms) * NS_PER_MS;

    for (size_t i = 0; i < t->n; i++) {
        lconn *c = t->conns[i];
        if (c->state != CS_OPEN)
            continue;
        uint64_t from = c->last_ping_ns > start ? c->last_ping_ns : start;
        uint64_t gap = end > from ? end - from : 0;
        if (gap > t->ping_max_gap_ns)
            t->ping_max_gap_ns = gap;
        if (gap > limit)
            t->pings_late++;
    }
}

static void *follower_main(void *arg)
{
    fthread *t = arg;
    struct epoll_event evs[MAX_EVENTS];
    int announced = 0;

    pin_cpu(g.cpu);
    t->rx = malloc(RX_CAP);
    t->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (!t->rx || t->epfd < 0)
        die("follower thread setup failed");
    for (;;) {
        uint64_t now = now_ns();
        int phase = atomic_load(&g.phase);
        while (t->next < t->n && t->inflight < g.inflight) {
            lconn *c = t->conns[t->next++];
            if (start_connect(c, t->epfd, c) < 0)
                t->finished++;
            else
                t->inflight++;
        }
        if (!announced && t->next == t->n && t->inflight == 0) {
            announced = 1;
            atomic_fetch_add(&g.threads_ready, 1);
        }
        if (phase >= PH_WINDOW && !t->started) {
            t->started = 1;
            t->start_bytes = t->bytes;
        }
        if (phase >= PH_WINDOW && !t->win_done && now >= atomic_load(&g.t_win_end)) {
            t->win_done = 1;
            t->win_bytes = t->bytes - t->start_bytes;
            t->win_check_ns = now;
            if (g.ping_ms)
                window_end_pings(t, atomic_load(&g.t_win_end));
        }
        if (phase == PH_ABORT || (announced && t->finished == t->n))
            break;
        if (phase == PH_DRAIN) {
            if (now >= atomic_load(&g.drain_deadline))
                break;
            uint64_t quiet_from = t->last_rx_ns > g.t_drain ? t->last_rx_ns : g.t_drain;
            if (g.nchan && now - quiet_from >= (uint64_t)(g.quiet * 1e9))
                break;
        }
        int k = epoll_wait(t->epfd, evs, MAX_EVENTS, 2);
        for (int i = 0; i < k; i++) {
            lconn *c = evs[i].data.ptr;
            if (c->state != CS_DONE)
                follower_event(t, c, evs[i].events);
        }
    }
    /* Whoever is still open was cut by the drain deadline (or, for Nchan, by the quiet end). */
    static __thread uint32_t rng = 0x68e31da4u;
    for (size_t i = 0; i < t->n; i++) {
        lconn *c = t->conns[i];
        if (c->state == CS_OPEN && g.nchan) {
            uint8_t payload[2] = {1000 >> 8, 1000 & 0xff};
            send_control(c, WS_OP_CLOSE, payload, 2, &rng);
        }
        if (c->fd >= 0)
            close(c->fd);
        c->fd = -1;
        free(c->hs);
        c->hs = NULL;
    }
    if (!t->win_done) {
        t->win_bytes = t->bytes - t->start_bytes;
        t->win_check_ns = now_ns();
    }
    close(t->epfd);
    free(t->rx);
    return NULL;
}

/* ---- appenders ------------------------------------------------------------------------------ */

static uint32_t xorshift32(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

static size_t frame_header_len(size_t payload)
{
    return (payload < 126 ? 2 : payload <= 0xffff ? 4 : 10) + 4;
}

static void queue_frame(appender *a, unsigned op, const uint8_t *payload, size_t len)
{
    uint8_t key[4];
    uint32_t k = xorshift32(&a->rng);

    memcpy(key, &k, 4);
    if (a->out_len + WS_HEADER_MAX + len > a->out_cap) {
        if (a->out_off) {
            memmove(a->out, a->out + a->out_off, a->out_len - a->out_off);
            a->out_len -= a->out_off;
            a->out_off = 0;
        }
        if (a->out_len + WS_HEADER_MAX + len > a->out_cap)
            return; /* a control frame that does not fit: dropped, counted by the caller */
    }
    size_t h = ws_frame_header(a->out + a->out_len, op, 1, len, key);
    uint8_t *p = a->out + a->out_len + h;
    if (payload)
        memcpy(p, payload, len);
    ws_mask(p, len, key, 0);
    a->out_len += h + len;
}

/* Queues the next message; ts is its timestamp (0 when not timed). */
static void queue_message(appender *a, uint64_t ts)
{
    uint8_t key[4];
    uint32_t k = xorshift32(&a->rng);

    if (a->out_len + WS_HEADER_MAX + g.size > a->out_cap) {
        size_t cap = a->out_cap * 2 + WS_HEADER_MAX + g.size;
        uint8_t *p = realloc(a->out, cap);
        if (!p)
            die("out of memory");
        a->out = p;
        a->out_cap = cap;
    }
    memcpy(key, &k, 4);
    size_t h = ws_frame_header(a->out + a->out_len, WS_OP_TEXT, 1, g.size, key);
    uint8_t *p = a->out + a->out_len + h;
    msg_fill(p, g.size, a->c.res, a->seq++, ts);
    bh_update(&a->sent, p, g.size);
    ws_mask(p, g.size, key, 0);
    a->out_len += h + g.size;
    a->payload += g.size;
}

static void appender_want_out(appender *a, int epfd, int want)
{
    if (a->blocked == want)
        return;
    a->blocked = (uint8_t)want;
    struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0), .data.ptr = a};
    epoll_ctl(epfd, EPOLL_CTL_MOD, a->c.fd, &ev);
}

static void appender_flush(appender *a, int epfd)
{
    while (a->out_off < a->out_len) {
        ssize_t w = write(a->c.fd, a->out + a->out_off, a->out_len - a->out_off);
        if (w > 0) {
            a->out_off += (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EAGAIN) {
            appender_want_out(a, epfd, 1);
            return;
        }
        conn_fail(&a->c, "appender write failed");
        a->done = 1;
        return;
    }
    a->out_off = a->out_len = 0;
    appender_want_out(a, epfd, 0);
}

static void appender_frames(appender *a, uint8_t *p, size_t n)
{
    ws_event ev;

    while (n > 0 && a->c.state == CS_OPEN) {
        size_t used = ws_decode(&a->c.dec, p, n, &ev);
        p += used;
        n -= used;
        switch (ev.type) {
        case WS_EV_NEED_MORE:
        case WS_EV_PONG:
            break;
        case WS_EV_DATA:
            a->echo += ev.len;
            break;
        case WS_EV_PING:
            queue_frame(a, WS_OP_PONG, ev.data, ev.len);
            break;
        case WS_EV_CLOSE:
            a->c.got_close = 1;
            a->c.close_code = (uint16_t)ev.close_code;
            if (!a->close_sent) {
                uint8_t payload[2] = {(uint8_t)(ev.close_code >> 8), (uint8_t)ev.close_code};
                queue_frame(a, WS_OP_CLOSE, payload, 2);
                a->close_sent = 1;
            }
            return;
        case WS_EV_ERROR:
            conn_fail(&a->c, ev.reason);
            a->done = 1;
            return;
        }
    }
}

static void appender_event(appender *a, int epfd, uint8_t *rx, uint32_t events, uint32_t *rng)
{
    if (a->c.state == CS_CONNECTING) {
        if (send_handshake(&a->c, epfd, a, rng) < 0)
            a->done = 1;
        return;
    }
    if (events & EPOLLOUT)
        appender_flush(a, epfd);
    if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)) || a->c.state == CS_DONE)
        return;
    ssize_t r = recv(a->c.fd, rx, RX_CAP, 0);
    if (r < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (r <= 0) {
        if (a->c.got_close || (g.nchan && a->close_sent)) {
            close(a->c.fd);
            a->c.fd = -1;
            a->c.state = CS_DONE;
        } else {
            conn_fail(&a->c, r == 0 ? "appender: EOF before CLOSE" : "appender: recv error");
        }
        a->done = 1;
        return;
    }
    uint8_t *p = rx;
    size_t n = (size_t)r;
    if (a->c.state == CS_HANDSHAKE) {
        p = handshake_input(&a->c, p, n, &n);
        if (a->c.state != CS_OPEN) {
            if (a->c.state == CS_DONE)
                a->done = 1;
            return;
        }
    }
    appender_frames(a, p, n);
    free(a->c.hs);
    a->c.hs = NULL;
    appender_flush(a, epfd);
}

/* How much more an unpaced appender may queue: the server's socket buffers (autotuned up to
 * tcp_rmem's 32 MB here) would otherwise hold megabytes the server has not taken yet, which the
 * window does not count but every follower must still receive in the drain. Bounding what is in
 * flight by the file's growth keeps the server fed (it reads 64 KiB at a time) without that. */
static long long file_room(appender *a)
{
    char path[4096], rp[256];
    struct stat st;

    if (g.ahead_bytes <= 0 || !g.root)
        return 1;
    resource_path(rp, sizeof(rp), a->c.res);
    snprintf(path, sizeof(path), "%s%s", g.root, rp);
    if (stat(path, &st) < 0)
        return 1;
    return g.ahead_bytes - ((long long)a->payload - (long long)st.st_size);
}

static void arm_timer(int tfd, uint64_t at_ns)
{
    struct itimerspec its = {
        .it_value = {.tv_sec = (time_t)(at_ns / NS_PER_S), .tv_nsec = (long)(at_ns % NS_PER_S)}};
    if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
        its.it_value.tv_nsec = 1;
    timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

static void *appender_main(void *arg)
{
    struct epoll_event evs[MAX_EVENTS];
    uint8_t *rx = malloc(RX_CAP);
    int epfd = epoll_create1(EPOLL_CLOEXEC);
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    uint32_t rng = 0x1b873593u;
    size_t next = 0, nr = g.resources;
    int announced = 0, stopping = 0;
    uint64_t slot = 0, slot_ns = g.rate > 0 ? (uint64_t)(1e9 / (g.rate * (double)nr)) : 0;
    uint64_t stop_ns = 0;
    (void)arg;

    pin_cpu(g.cpu);
    if (!rx || epfd < 0 || tfd < 0)
        die("appender thread setup failed");
    struct epoll_event tev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(epfd, EPOLL_CTL_ADD, tfd, &tev);
    for (;;) {
        uint64_t now = now_ns();
        int phase = atomic_load(&g.phase);
        size_t inflight = 0;
        for (size_t i = 0; i < next; i++) {
            appender *a = &g.apps[i];
            if (a->c.state == CS_CONNECTING || a->c.state == CS_HANDSHAKE)
                inflight++;
        }
        while (next < nr && inflight < g.inflight) {
            if (start_connect(&g.apps[next].c, epfd, &g.apps[next]) < 0)
                g.apps[next].done = 1;
            next++;
            inflight++;
        }
        if (!announced) {
            int all = next == nr;
            for (size_t i = 0; i < nr && all; i++) {
                appender *a = &g.apps[i];
                if (a->c.state == CS_OPEN && a->seq == 0 && g.init) {
                    for (size_t b = 0; b < g.init; b += g.size)
                        queue_message(a, 0);
                    appender_flush(a, epfd);
                }
                if (a->c.state == CS_CONNECTING || a->c.state == CS_HANDSHAKE ||
                    (a->c.state == CS_OPEN && a->out_len))
                    all = 0;
            }
            if (all) {
                announced = 1;
                atomic_store(&g.apps_ready, 1);
            }
        }
        uint64_t win_end = atomic_load(&g.t_win_end);
        int sending = phase == PH_WINDOW && now < win_end;
        if (phase >= PH_WINDOW && now >= win_end && !stopping) {
            stopping = 1;
            stop_ns = now;
            uint64_t pending = 0, queued = 0;
            for (size_t i = 0; i < nr; i++) {
                pending += g.apps[i].out_len - g.apps[i].out_off;
                queued += g.apps[i].payload;
            }
            g.app_payload_win_end = queued > pending ? queued - pending : 0;
        }
        if (phase == PH_ABORT)
            break;
        int busy = 0;
        if (sending && g.rate == 0) {
            for (size_t i = 0; i < nr; i++) {
                appender *a = &g.apps[i];
                if (a->c.state != CS_OPEN || a->blocked || a->close_sent)
                    continue;
                if (a->out_len == 0 && g.ahead) {
                    /* Closed loop (Nchan): at most `ahead` messages not yet echoed back. */
                    while (a->payload - a->echo < g.ahead * g.size)
                        queue_message(a, 0);
                } else if (a->out_len == 0 && file_room(a) > 0) {
                    size_t fsz = frame_header_len(g.size) + g.size;
                    do
                        queue_message(a, 0);
                    while (a->out_len + fsz <= FILL_TARGET);
                }
                if (a->out_len == 0)
                    continue; /* a closed loop's window is full: wait */
                appender_flush(a, epfd);
                if (!a->blocked)
                    busy = 1;
            }
        }
        if (stopping) {
            size_t done = 0;
            for (size_t i = 0; i < nr; i++) {
                appender *a = &g.apps[i];
                if (a->c.state == CS_OPEN && !a->close_sent && a->out_len == 0) {
                    uint8_t payload[2] = {1000 >> 8, 1000 & 0xff};
                    queue_frame(a, WS_OP_CLOSE, payload, 2);
                    a->close_sent = 1;
                    appender_flush(a, epfd);
                }
                if (a->c.state == CS_OPEN && a->c.got_close && a->out_len == 0) {
                    close(a->c.fd);
                    a->c.fd = -1;
                    a->c.state = CS_DONE;
                    a->done = 1;
                }
                if (a->done || a->c.state == CS_DONE || a->c.state == CS_IDLE)
                    done++;
            }
            /* Ours must take every queued byte (the check needs them); Nchan's reply to CLOSE
             * can sit behind its echoes, and nothing is checked there. */
            uint64_t wait = (uint64_t)(g.drain * 1e9);
            if (wait < CLOSE_WAIT_NS)
                wait = CLOSE_WAIT_NS;
            if (g.nchan)
                wait = 2 * NS_PER_S;
            if (done == nr || now - stop_ns > wait)
                break;
        }
        if (sending && g.rate > 0 && slot == 0) {
            slot = 1;
            arm_timer(tfd, atomic_load(&g.t_start) + slot_ns);
        }
        int k = epoll_wait(epfd, evs, MAX_EVENTS, busy ? 0 : 1);
        for (int i = 0; i < k; i++) {
            appender *a = evs[i].data.ptr;
            if (!a) {
                uint64_t expirations;
                if (read(tfd, &expirations, sizeof(expirations)) < 0)
                    continue;
                uint64_t t0 = atomic_load(&g.t_start), tnow = now_ns();
                while (t0 + slot * slot_ns <= tnow && t0 + slot * slot_ns < win_end) {
                    appender *s = &g.apps[(slot - 1) % nr];
                    if (s->c.state == CS_OPEN && !s->close_sent) {
                        queue_message(s, now_ns());
                        appender_flush(s, epfd);
                    }
                    slot++;
                }
                if (t0 + slot * slot_ns < win_end)
                    arm_timer(tfd, t0 + slot * slot_ns);
                continue;
            }
            if (a->c.state != CS_DONE && a->c.state != CS_IDLE)
                appender_event(a, epfd, rx, evs[i].events, &rng);
        }
    }
    for (size_t i = 0; i < nr; i++) {
        appender *a = &g.apps[i];
        if (a->c.fd >= 0) {
            if (!a->done)
                a->c.err = a->c.err ? a->c.err : "no CLOSE reply";
            if (a->out_len > a->out_off)
                a->cut = 1;
            close(a->c.fd);
            a->c.fd = -1;
        }
    }
    close(tfd);
    close(epfd);
    free(rx);
    return NULL;
}

/* ---- verification --------------------------------------------------------------------------- */

typedef struct verdict {
    size_t complete, prefix_only, bad, unverified, close1000;
    size_t stuck_at_end; /* had every byte of the finished resource, but no CLOSE came */
    size_t app_bad;
    const char *first_error;
    char detail[256];
} verdict;

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void verify_resource(uint32_t r, lconn **fs, size_t nf, verdict *v)
{
    appender *a = &g.apps[r];
    uint64_t app_hash = bh_digest(&a->sent);
    uint64_t ref_size = a->payload, ref_hash = app_hash;
    uint64_t *lens = calloc(nf + 1, sizeof(uint64_t)), *digests = calloc(nf + 1, sizeof(uint64_t));
    size_t nl = 0;

    for (size_t i = 0; i < nf; i++)
        if (!fs[i]->got_close && !fs[i]->failed)
            lens[nl++] = fs[i]->bytes;
    qsort(lens, nl, sizeof(uint64_t), cmp_u64);
    size_t reached = 0;
    int have_file = 0;
    if (g.root) {
        char path[4096], rp[256];
        resource_path(rp, sizeof(rp), r);
        snprintf(path, sizeof(path), "%s%s", g.root, rp);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            uint64_t file_size, file_hash;
            reached =
                bh_prefix_digests(bh_source_fd, &fd, lens, nl, digests, 1, &file_size, &file_hash);
            close(fd);
            have_file = 1;
            if (a->cut) {
                if (!v->first_error) {
                    snprintf(v->detail, sizeof(v->detail),
                             "resource r%u: the appender gave up with frames unsent (the server "
                             "read too slowly); followers are checked against the file alone",
                             r);
                    v->first_error = v->detail;
                }
            } else if (file_size != a->payload || file_hash != app_hash) {
                v->app_bad++;
                if (!v->first_error) {
                    snprintf(v->detail, sizeof(v->detail),
                             "resource r%u: file has %llu bytes (hash %016llx), appender sent %llu "
                             "(hash %016llx)",
                             r, (unsigned long long)file_size, (unsigned long long)file_hash,
                             (unsigned long long)a->payload, (unsigned long long)app_hash);
                    v->first_error = v->detail;
                }
            }
            ref_size = file_size;
            ref_hash = file_hash;
        } else {
            v->app_bad++;
            if (!v->first_error) {
                snprintf(v->detail, sizeof(v->detail), "resource r%u: cannot open %.200s", r, path);
                v->first_error = v->detail;
            }
        }
    }
    for (size_t i = 0; i < nf; i++) {
        lconn *c = fs[i];
        uint64_t got = bh_digest(&c->hash);
        if (c->failed) {
            v->bad++;
            if (!v->first_error) {
                snprintf(v->detail, sizeof(v->detail), "follower of r%u failed: %s (HTTP %u)", r,
                         c->err ? c->err : "?", c->http_status);
                v->first_error = v->detail;
            }
            continue;
        }
        if (c->got_close) {
            if (c->close_code == 1000)
                v->close1000++;
            if (c->close_code == 1000 && c->bytes == ref_size && got == ref_hash) {
                v->complete++;
            } else {
                v->bad++;
                if (!v->first_error) {
                    snprintf(v->detail, sizeof(v->detail),
                             "follower of r%u: CLOSE %u after %llu bytes (hash %016llx); resource "
                             "has %llu (hash %016llx)",
                             r, c->close_code, (unsigned long long)c->bytes,
                             (unsigned long long)got, (unsigned long long)ref_size,
                             (unsigned long long)ref_hash);
                    v->first_error = v->detail;
                }
            }
            continue;
        }
        if (!have_file) {
            v->unverified++;
            continue;
        }
        /* Cut by the drain deadline: its bytes must be the file's prefix of that length. */
        size_t j = 0;
        while (j < nl && lens[j] != c->bytes)
            j++;
        if (j < reached && digests[j] == got) {
            v->prefix_only++;
            if (c->bytes == ref_size)
                v->stuck_at_end++;
        } else {
            v->bad++;
            if (!v->first_error) {
                snprintf(v->detail, sizeof(v->detail),
                         "follower of r%u (incomplete, %llu bytes): not a prefix of the file", r,
                         (unsigned long long)c->bytes);
                v->first_error = v->detail;
            }
        }
    }
    free(lens);
    free(digests);
}

/* ---- main ----------------------------------------------------------------------------------- */

/* ---- handshakes ----------------------------------------------------------------------------- */

static double pct_of(double part, double whole)
{
    return whole > 0 ? 100.0 * part / whole : 0;
}

/* Creates the followed resource, g.path/r0, under --root: a finished file, which every follower
 * gets whole (the bytes, then CLOSE 1000) after its 101. */
static void make_resource(void)
{
    static const char body[] = "the resource the handshakes scenario follows\n";
    char rp[256], path[4096];

    resource_path(rp, sizeof(rp), 0);
    snprintf(path, sizeof(path), "%s%s", g.root, rp);
    for (char *p = strchr(path + 1, '/'); p; p = strchr(p + 1, '/')) {
        *p = '\0';
        if (mkdir(path, 0700) < 0 && errno != EEXIST)
            die("mkdir %s: %s", path, strerror(errno));
        *p = '/';
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, body, sizeof(body) - 1) != (ssize_t)sizeof(body) - 1)
        die("cannot write %s: %s", path, strerror(errno));
    close(fd);
}

/* Ends a connection with a reset (SO_LINGER 0): no CLOSE handshake and no TIME_WAIT, so that the
 * server's work per connection is the handshake and its teardown, and ports are not used up. */
static void close_at_once(lconn *c)
{
    struct linger l = {.l_onoff = 1, .l_linger = 0};

    setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
    close(c->fd);
    c->fd = -1;
    c->state = CS_DONE;
    free(c->hs);
    c->hs = NULL;
}

/* One event of connection c: sends its handshake once connected, reads its answer. Returns 1
 * when c is finished (101 seen, refused or failed), else 0. */
static int handshake_event(lconn *c, int epfd, uint8_t *rx, hist *lat, uint32_t *rng)
{
    size_t rest;

    if (c->state == CS_CONNECTING)
        return send_handshake(c, epfd, c, rng) < 0;
    ssize_t r = recv(c->fd, rx, RX_CAP, 0);
    if (r < 0 && (errno == EAGAIN || errno == EINTR))
        return 0;
    if (r <= 0) {
        conn_fail(c, r == 0 ? "EOF before the answer" : "recv error");
        return 1;
    }
    handshake_input(c, rx, (size_t)r, &rest);
    if (c->state == CS_HANDSHAKE)
        return 0;
    if (c->state == CS_OPEN) {
        hist_add(lat, now_ns() - c->t_connect);
        close_at_once(c);
    }
    return 1;
}

/* The handshakes scenario: g.followers connections to g.path/r0, at most g.inflight at once, each
 * a WebSocket FOLLOW (?frames=binary, so the answer is a 101 for a finished file too; with
 * Authorization when --token is given), timed from its connect() to its 101, then reset. Prints
 * handshakes/s over the whole run, the latency quantiles, and the server's CPU per handshake. */
static int handshakes_main(void)
{
    size_t n = g.followers, next = 0, inflight = 0, finished = 0, ok = 0;
    lconn *cs = calloc(n ? n : 1, sizeof(lconn));
    uint8_t *rx = malloc(RX_CAP);
    int epfd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event evs[MAX_EVENTS];
    uint32_t rng = 0x1b873593u;
    hist *lat = calloc(1, sizeof(hist));

    if (!cs || !rx || !lat || epfd < 0)
        die("out of memory");
    if (!g.root)
        die("handshakes needs --root: the followed resource is created there");
    make_resource();
    g.query = "frames=binary";
    proc_sample s0 = proc_sample_pids(g.pids, g.npids);
    double lg0 = self_cpu_s(), lgu0 = self_user_s(), su0 = system_user_s();
    uint64_t t0 = now_ns(), last_progress = t0;
    while (finished < n) {
        for (; next < n && inflight < g.inflight; next++) {
            cs[next].fd = -1;
            cs[next].t_connect = now_ns();
            if (start_connect(&cs[next], epfd, &cs[next]) < 0)
                finished++;
            else
                inflight++;
        }
        int k = epoll_wait(epfd, evs, MAX_EVENTS, 1000);
        uint64_t now = now_ns();
        if (k <= 0 && now - last_progress > 10 * NS_PER_S)
            break; /* nothing for 10 s: the rest count as failed */
        for (int i = 0; i < k; i++) {
            lconn *c = evs[i].data.ptr;
            if (c->state == CS_DONE || !handshake_event(c, epfd, rx, lat, &rng))
                continue;
            ok += c->state == CS_DONE && !c->failed;
            finished++;
            inflight--;
            last_progress = now;
        }
    }
    uint64_t t1 = now_ns();
    proc_sample s1 = proc_sample_pids(g.pids, g.npids);
    double lg1 = self_cpu_s(), lgu1 = self_user_s(), su1 = system_user_s();
    double run_s = ns_to_s(t1 - t0);
    const lconn *bad = NULL;
    for (size_t i = 0; i < n; i++) {
        if (cs[i].fd >= 0)
            close_at_once(&cs[i]);
        if (!bad && (cs[i].failed || cs[i].state != CS_DONE))
            bad = &cs[i];
    }
    result_add("scenario", "%s", g.scenario);
    result_add("target", "hfs");
    if (*g.label)
        result_add("label", "%s", g.label);
    result_add("handshakes", "%zu", n);
    result_add("inflight", "%zu", g.inflight);
    result_add("token", "%s", g.token ? "yes" : "no");
    result_add("ok", "%zu", ok);
    result_add("failed", "%zu", n - ok);
    result_add("run_s", "%.3f", run_s);
    result_add("hs_ps", "%.0f", run_s > 0 ? (double)ok / run_s : 0);
    result_add("hs_p50_us", "%.1f", (double)hist_quantile(lat, 0.50) / 1e3);
    result_add("hs_p99_us", "%.1f", (double)hist_quantile(lat, 0.99) / 1e3);
    result_add("hs_max_us", "%.1f", (double)lat->max / 1e3);
    if (g.npids) {
        result_add("srv_ok", "%d", s1.ok);
        result_add("srv_rss_begin_kb", "%llu", (unsigned long long)s0.rss_kb);
        result_add("srv_rss_ready_kb", "%llu", (unsigned long long)s0.rss_kb);
        result_add("srv_rss_win_kb", "%llu", (unsigned long long)s1.rss_kb);
        result_add("srv_rss_end_kb", "%llu", (unsigned long long)s1.rss_kb);
        result_add("srv_cpu_setup_s", "0");
        result_add("srv_cpu_win_s", "%.2f", s1.cpu_s - s0.cpu_s);
        result_add("srv_cpu_all_s", "%.2f", s1.cpu_s - s0.cpu_s);
        result_add("srv_cpu_win_pct", "%.1f", pct_of(s1.cpu_s - s0.cpu_s, run_s));
        if (ok)
            result_add("srv_cpu_us_per_hs", "%.1f", (s1.cpu_s - s0.cpu_s) * 1e6 / (double)ok);
        result_add("others_pct", "%.1f",
                   pct_of((su1 - su0) - (s1.user_s - s0.user_s) - (lgu1 - lgu0), run_s));
    }
    result_add("lg_cpu_pct", "%.1f", pct_of(lg1 - lg0, run_s));
    result_add("verify", "%s", ok == n ? "ok" : "FAIL");
    result_print();
    if (bad)
        fprintf(stderr, "loadgen: handshake %zu of %zu: %s (HTTP %u)\n", (size_t)(bad - cs), n,
                bad->err ? bad->err : "not finished", bad->http_status);
    for (size_t i = 0; i < n; i++)
        free(cs[i].hs);
    free(cs);
    free(rx);
    free(lat);
    close(epfd);
    return ok == n ? 0 : 1;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: loadgen SCENARIO --port P [options]\n"
            "  SCENARIO: fanout | latency | idle | ingest | many | handshakes (sets the\n"
            "            defaults; handshakes: -n handshakes, --inflight at once, --root needed)\n"
            "  --host H         server address (127.0.0.1)\n"
            "  --port P         server port\n"
            "  --nchan          the server is Nchan: no X-Verb, no CLOSE, no exactness check\n"
            "  --root DIR       server root: verify followers against the files on disk\n"
            "  --path P         resource path prefix (resources are P/r0, P/r1, ...)\n"
            "  -r, --resources  live resources, one appender each\n"
            "  -n, --followers  followers in total, spread over the resources\n"
            "  -s, --size       message size in bytes (k/m suffixes)\n"
            "  -d, --duration   window in seconds\n"
            "  --rate R         messages/s per appender; 0 = as fast as possible, -1 = none\n"
            "  --init B         bytes each appender writes before the followers join\n"
            "  --ahead M        unpaced Nchan publisher: at most M messages not yet echoed\n"
            "  --ahead-bytes B  unpaced, with --root: at most B bytes queued beyond the file's\n"
            "                   size (default 64m / followers, within 1m..8m; 0: no bound)\n"
            "  --latency        followers parse timestamped 64-byte records\n"
            "  --ping-ms MS     check the server's pings: one at least every MS + slack\n"
            "  --ping-slack MS  (default 1000)\n"
            "  --drain S        longest wait for followers after the appenders left (30)\n"
            "  --quiet S        Nchan: the drain ends after S seconds without data (1)\n"
            "  --settle S       pause between connecting and the window (0.3)\n"
            "  --server-pid L   comma-separated pids whose RSS and CPU are reported\n"
            "  --threads T      follower threads (1)\n"
            "  --cpu C          pin every thread to CPU C\n"
            "  --inflight K     connections being set up at once (256)\n"
            "  --label L        copied into the RESULT line\n"
            "  --token T        send Authorization: Bearer T with every handshake\n"
            "  --follow-ports L followers connect to these comma-separated ports in turn, with\n"
            "                   ?wait (the other nodes of a cluster; appenders use --port)\n");
    exit(2);
}

static void set_defaults(const char *scenario)
{
    g.scenario = scenario;
    g.resources = 1;
    g.followers = 100;
    g.size = 16384;
    g.duration = 4;
    g.rate = 0;
    if (!strcmp(scenario, "fanout")) {
    } else if (!strcmp(scenario, "latency")) {
        g.size = REC_SIZE;
        g.rate = 100;
        g.duration = 10;
        g.latency = 1;
    } else if (!strcmp(scenario, "idle")) {
        g.resources = 100;
        g.followers = 10000;
        g.size = REC_SIZE;
        g.init = 1024;
        g.rate = -1;
        g.duration = 10;
        g.ping_ms = 3000;
        g.settle = 2;
    } else if (!strcmp(scenario, "ingest")) {
        g.followers = 1;
        g.size = 65536;
        g.duration = 5;
    } else if (!strcmp(scenario, "handshakes")) {
        g.followers = 10000;
        g.inflight = 64;
    } else if (!strcmp(scenario, "many")) {
        g.resources = 1000;
        g.followers = 10000;
        g.size = 1024;
        g.rate = 10;
        g.duration = 10;
    } else {
        usage();
    }
}

int main(int argc, char **argv)
{
    enum {
        OPT_HOST = 256,
        OPT_PORT,
        OPT_NCHAN,
        OPT_ROOT,
        OPT_PATH,
        OPT_RATE,
        OPT_INIT,
        OPT_LAT,
        OPT_PING,
        OPT_SLACK,
        OPT_DRAIN,
        OPT_QUIET,
        OPT_SETTLE,
        OPT_PID,
        OPT_THREADS,
        OPT_CPU,
        OPT_INFLIGHT,
        OPT_LABEL,
        OPT_AHEAD,
        OPT_AHEAD_BYTES,
        OPT_TOKEN,
        OPT_FPORTS
    };
    static const struct option opts[] = {{"host", 1, 0, OPT_HOST},
                                         {"port", 1, 0, OPT_PORT},
                                         {"nchan", 0, 0, OPT_NCHAN},
                                         {"root", 1, 0, OPT_ROOT},
                                         {"path", 1, 0, OPT_PATH},
                                         {"resources", 1, 0, 'r'},
                                         {"followers", 1, 0, 'n'},
                                         {"size", 1, 0, 's'},
                                         {"duration", 1, 0, 'd'},
                                         {"rate", 1, 0, OPT_RATE},
                                         {"init", 1, 0, OPT_INIT},
                                         {"latency", 0, 0, OPT_LAT},
                                         {"ping-ms", 1, 0, OPT_PING},
                                         {"ping-slack", 1, 0, OPT_SLACK},
                                         {"drain", 1, 0, OPT_DRAIN},
                                         {"quiet", 1, 0, OPT_QUIET},
                                         {"settle", 1, 0, OPT_SETTLE},
                                         {"server-pid", 1, 0, OPT_PID},
                                         {"threads", 1, 0, OPT_THREADS},
                                         {"cpu", 1, 0, OPT_CPU},
                                         {"inflight", 1, 0, OPT_INFLIGHT},
                                         {"label", 1, 0, OPT_LABEL},
                                         {"ahead", 1, 0, OPT_AHEAD},
                                         {"ahead-bytes", 1, 0, OPT_AHEAD_BYTES},
                                         {"token", 1, 0, OPT_TOKEN},
                                         {"follow-ports", 1, 0, OPT_FPORTS},
                                         {0, 0, 0, 0}};

    if (argc < 2 || argv[1][0] == '-')
        usage();
    set_defaults(argv[1]);
    g.host = "127.0.0.1";
    g.path = NULL;
    g.label = "";
    g.threads = 1;
    g.cpu = -1;
    if (!g.inflight)
        g.inflight = 256;
    g.drain = 30;
    g.quiet = 1;
    g.ping_slack_ms = 1000;
    g.ahead_bytes = -1;
    if (g.settle == 0)
        g.settle = 0.3;
    optind = 2;
    for (int o; (o = getopt_long(argc, argv, "r:n:s:d:", opts, NULL)) != -1;) {
        switch (o) {
        case OPT_HOST:
            g.host = optarg;
            break;
        case OPT_PORT:
            g.port = atoi(optarg);
            break;
        case OPT_NCHAN:
            g.nchan = 1;
            break;
        case OPT_ROOT:
            g.root = optarg;
            break;
        case OPT_PATH:
            g.path = optarg;
            break;
        case 'r':
            g.resources = (size_t)atol(optarg);
            break;
        case 'n':
            g.followers = (size_t)atol(optarg);
            break;
        case 's':
            g.size = (size_t)parse_size(optarg);
            break;
        case 'd':
            g.duration = atof(optarg);
            break;
        case OPT_RATE:
            g.rate = atof(optarg);
            break;
        case OPT_INIT:
            g.init = (size_t)parse_size(optarg);
            break;
        case OPT_LAT:
            g.latency = 1;
            break;
        case OPT_PING:
            g.ping_ms = (unsigned)atoi(optarg);
            break;
        case OPT_SLACK:
            g.ping_slack_ms = (unsigned)atoi(optarg);
            break;
        case OPT_DRAIN:
            g.drain = atof(optarg);
            break;
        case OPT_QUIET:
            g.quiet = atof(optarg);
            break;
        case OPT_SETTLE:
            g.settle = atof(optarg);
            break;
        case OPT_PID:
            g.npids = parse_pids(optarg, g.pids, MAX_PIDS);
            break;
        case OPT_THREADS:
            g.threads = atoi(optarg);
            break;
        case OPT_CPU:
            g.cpu = atoi(optarg);
            break;
        case OPT_INFLIGHT:
            g.inflight = (size_t)atol(optarg);
            break;
        case OPT_LABEL:
            g.label = optarg;
            break;
        case OPT_AHEAD:
            g.ahead = (size_t)atol(optarg);
            break;
        case OPT_AHEAD_BYTES:
            g.ahead_bytes = parse_size(optarg);
            break;
        case OPT_FPORTS:
            for (char *q = optarg; *q && g.nfports < MAX_FPORTS;) {
                int fp = atoi(q);
                if (fp <= 0 || fp > 65535)
                    die("--follow-ports: bad port in %s", optarg);
                g.faddr[g.nfports].sin_family = AF_INET;
                g.faddr[g.nfports++].sin_port = htons((uint16_t)fp);
                q = strchr(q, ',');
                if (!q)
                    break;
                q++;
            }
            break;
        case OPT_TOKEN:
            g.token = optarg;
            if (strlen(optarg) > TOKEN_MAX || strpbrk(optarg, " \t\r\n"))
                die("--token: at most %d bytes, no blanks", TOKEN_MAX);
            break;
        default:
            usage();
        }
    }
    if (g.port <= 0 || g.resources < 1 || g.size < 1 || g.size > (16u << 20) || g.duration <= 0 ||
        g.threads < 1 || g.threads > MAX_THREADS || g.inflight < 1)
        usage();
    if (g.latency && g.size != REC_SIZE)
        die("--latency needs 64-byte messages");
    if (g.ahead_bytes < 0) {
        long long b = g.followers ? (64ll << 20) / (long long)g.followers : (8ll << 20);
        g.ahead_bytes = b < (1 << 20) ? (1 << 20) : b > (8 << 20) ? (8 << 20) : b;
    }
    char defpath[128];
    if (!g.path) {
        snprintf(defpath, sizeof(defpath), "/bench/%s-%d-%llu", g.scenario, (int)getpid(),
                 (unsigned long long)(now_ns() % 1000000007ull));
        g.path = defpath;
    }
    g.addr.sin_family = AF_INET;
    g.addr.sin_port = htons((uint16_t)g.port);
    if (inet_pton(AF_INET, g.host, &g.addr.sin_addr) != 1)
        die("bad --host %s", g.host);
    for (int i = 0; i < g.nfports; i++)
        g.faddr[i].sin_addr = g.addr.sin_addr;
    signal(SIGPIPE, SIG_IGN);
    content_init();
    pin_cpu(g.cpu);
    if (!strcmp(g.scenario, "handshakes"))
        return handshakes_main();

    size_t nr = g.resources, nf = g.followers;
    size_t out_cap = FILL_TARGET + 2 * (g.size + WS_HEADER_MAX) + 4096;
    if (g.init)
        out_cap += (g.init / g.size + 1) * (g.size + WS_HEADER_MAX);
    g.apps = calloc(nr, sizeof(appender));
    g.fols = calloc(nf ? nf : 1, sizeof(lconn));
    if (!g.apps || !g.fols)
        die("out of memory");
    for (size_t i = 0; i < nr; i++) {
        appender *a = &g.apps[i];
        a->c.fd = -1;
        a->c.res = (uint32_t)i;
        a->c.role = ROLE_APPENDER;
        a->out_cap = out_cap;
        a->out = malloc(out_cap);
        a->rng = 0x85ebca6bu ^ (uint32_t)(i * 2654435761u);
        if (!a->rng)
            a->rng = 1;
        if (!a->out)
            die("out of memory");
        bh_init(&a->sent);
    }
    for (int t = 0; t < g.threads; t++) {
        g.ft[t].conns = calloc(nf / (size_t)g.threads + 1, sizeof(lconn *));
        if (!g.ft[t].conns)
            die("out of memory");
    }
    for (size_t i = 0; i < nf; i++) {
        lconn *c = &g.fols[i];
        c->fd = -1;
        c->res = (uint32_t)(i % nr);
        c->role = ROLE_FOLLOWER;
        bh_init(&c->hash);
        fthread *t = &g.ft[i % (size_t)g.threads];
        t->conns[t->n++] = c;
    }

    uint64_t t0 = now_ns();
    proc_sample s_begin = proc_sample_pids(g.pids, g.npids);
    pthread_t app_th;
    pthread_create(&app_th, NULL, appender_main, NULL);
    while (!atomic_load(&g.apps_ready)) {
        if (now_ns() - t0 > 60 * NS_PER_S) {
            atomic_store(&g.phase, PH_ABORT);
            pthread_join(app_th, NULL);
            for (size_t i = 0; i < nr; i++)
                if (g.apps[i].c.failed)
                    die("appender r%zu: %s (HTTP %u)", i, g.apps[i].c.err, g.apps[i].c.http_status);
            die("appenders did not connect within 60 s");
        }
        for (size_t i = 0; i < nr; i++)
            if (g.apps[i].c.failed) {
                atomic_store(&g.phase, PH_ABORT);
                pthread_join(app_th, NULL);
                die("appender r%zu: %s (HTTP %u)", i, g.apps[i].c.err, g.apps[i].c.http_status);
            }
        usleep(1000);
    }
    usleep(100000); /* let the server take the initial bytes before measuring its baseline */
    proc_sample s_apps = proc_sample_pids(g.pids, g.npids);
    uint64_t t_conn = now_ns();
    for (int t = 0; t < g.threads; t++)
        pthread_create(&g.ft[t].th, NULL, follower_main, &g.ft[t]);
    while (atomic_load(&g.threads_ready) < g.threads) {
        if (now_ns() - t_conn > 180 * NS_PER_S)
            break;
        usleep(1000);
    }
    uint64_t connect_ns = now_ns() - t_conn;
    usleep((useconds_t)(g.settle * 1e6));

    proc_sample s_ready = proc_sample_pids(g.pids, g.npids);
    double lg_cpu0 = self_cpu_s(), sys0 = system_busy_s(), irq0 = system_irq_s();
    double lg_user0 = self_user_s(), su0 = system_user_s();
    uint64_t start = now_ns() + NS_PER_MS;
    atomic_store(&g.t_win_end, start + (uint64_t)(g.duration * 1e9));
    atomic_store(&g.t_start, start);
    atomic_store(&g.phase, PH_WINDOW);
    struct timespec ts = {.tv_sec = (time_t)(atomic_load(&g.t_win_end) / NS_PER_S),
                          .tv_nsec = (long)(atomic_load(&g.t_win_end) % NS_PER_S)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
    proc_sample s_win = proc_sample_pids(g.pids, g.npids);
    double lg_cpu1 = self_cpu_s(), sys1 = system_busy_s(), irq1 = system_irq_s();
    double lg_user1 = self_user_s(), su1 = system_user_s();
    /* What the server accepted in the window: the files' growth when we can see them. */
    uint64_t file_bytes_win = 0;
    int files_seen = 0;
    if (g.root) {
        files_seen = 1;
        for (size_t r = 0; r < nr; r++) {
            char path[4096], rp[256];
            struct stat st;
            resource_path(rp, sizeof(rp), (uint32_t)r);
            snprintf(path, sizeof(path), "%s%s", g.root, rp);
            if (stat(path, &st) == 0)
                file_bytes_win += (uint64_t)st.st_size;
            else
                files_seen = 0;
        }
    }
    atomic_store(&g.phase, PH_STOP);
    pthread_join(app_th, NULL);
    uint64_t t_apps_done = now_ns();
    g.t_drain = t_apps_done;
    atomic_store(&g.drain_deadline, t_apps_done + (uint64_t)(g.drain * 1e9));
    atomic_store(&g.phase, PH_DRAIN);
    for (int t = 0; t < g.threads; t++)
        pthread_join(g.ft[t].th, NULL);
    uint64_t t_end = now_ns();
    proc_sample s_end = proc_sample_pids(g.pids, g.npids);

    /* Collect. */
    hist lat;
    memset(&lat, 0, sizeof(lat));
    uint64_t del_total = 0, pings = 0, pings_late = 0, ping_gap = 0, bad_records = 0, ctl_fail = 0;
    double del_rate = 0;
    size_t connected = 0;
    for (int t = 0; t < g.threads; t++) {
        fthread *f = &g.ft[t];
        hist_merge(&lat, &f->lat);
        del_total += f->bytes;
        if (f->win_check_ns > start)
            del_rate += (double)f->win_bytes / ns_to_s(f->win_check_ns - start);
        pings += f->pings;
        pings_late += f->pings_late;
        if (f->ping_max_gap_ns > ping_gap)
            ping_gap = f->ping_max_gap_ns;
        bad_records += f->bad_records;
        ctl_fail += f->ctl_fail;
        connected += f->connected;
    }
    uint64_t init_total = 0, app_total = 0, app_msgs = 0;
    size_t apps_failed = 0, apps_cut = 0;
    for (size_t r = 0; r < nr; r++) {
        init_total += g.init ? ((g.init + g.size - 1) / g.size) * g.size : 0;
        app_total += g.apps[r].payload;
        app_msgs += g.apps[r].seq;
        apps_cut += g.apps[r].cut;
        if (g.apps[r].c.failed ||
            (!g.nchan && g.apps[r].c.got_close && g.apps[r].c.close_code != 1000))
            apps_failed++;
    }
    uint64_t app_seen = files_seen ? file_bytes_win : g.app_payload_win_end;
    uint64_t app_win = app_seen > init_total ? app_seen - init_total : 0;
    double win_s = g.duration;

    verdict v = {0};
    const char *verify = "skipped";
    if (!g.nchan) {
        lconn **by_res = calloc(nf ? nf : 1, sizeof(lconn *));
        size_t *cnt = calloc(nr + 1, sizeof(size_t));
        for (size_t i = 0; i < nf; i++)
            cnt[g.fols[i].res + 1]++;
        for (size_t r = 0; r < nr; r++)
            cnt[r + 1] += cnt[r];
        size_t *pos = calloc(nr, sizeof(size_t));
        for (size_t i = 0; i < nf; i++) {
            uint32_t r = g.fols[i].res;
            by_res[cnt[r] + pos[r]++] = &g.fols[i];
        }
        for (size_t r = 0; r < nr; r++)
            verify_resource((uint32_t)r, by_res + cnt[r], cnt[r + 1] - cnt[r], &v);
        free(by_res);
        free(cnt);
        free(pos);
        if (v.bad || v.app_bad || apps_failed || connected < nf || bad_records)
            verify = "FAIL";
        else if (v.prefix_only || v.unverified || apps_cut)
            verify = "incomplete";
        else
            verify = "ok";
    } else if (connected < nf || apps_failed) {
        verify = "FAIL";
    }
    if (!strcmp(verify, "FAIL") && !v.first_error) {
        for (size_t i = 0; i < nf && !v.first_error; i++)
            if (g.fols[i].failed) {
                snprintf(v.detail, sizeof(v.detail), "follower %zu: %s (HTTP %u)", i,
                         g.fols[i].err ? g.fols[i].err : "?", g.fols[i].http_status);
                v.first_error = v.detail;
            }
        for (size_t r = 0; r < nr && !v.first_error; r++)
            if (g.apps[r].c.failed || g.apps[r].c.close_code != 1000) {
                snprintf(v.detail, sizeof(v.detail), "appender r%zu: %s (close %u)", r,
                         g.apps[r].c.err ? g.apps[r].c.err : "-", g.apps[r].c.close_code);
                v.first_error = v.detail;
            }
        if (!v.first_error && bad_records)
            v.first_error = "followers received malformed records";
    }

    double srv_cpu_win = s_win.cpu_s - s_ready.cpu_s;
    double srv_cpu_all = s_end.cpu_s - s_ready.cpu_s;
    double lg_cpu = lg_cpu1 - lg_cpu0;
    result_add("scenario", "%s", g.scenario);
    result_add("target", "%s", g.nchan ? "nchan" : "hfs");
    if (*g.label)
        result_add("label", "%s", g.label);
    result_add("resources", "%zu", nr);
    result_add("followers", "%zu", nf);
    result_add("size", "%zu", g.size);
    result_add("rate", "%g", g.rate);
    result_add("window_s", "%.3f", win_s);
    if (g.rate == 0 && g.root)
        result_add("ahead_bytes", "%lld", g.ahead_bytes);
    result_add("connected", "%zu", connected);
    result_add("connect_s", "%.3f", ns_to_s(connect_ns));
    result_add("app_msgs", "%llu", (unsigned long long)app_msgs);
    result_add("app_bytes", "%llu", (unsigned long long)app_total);
    result_add("app_Bps", "%.0f", (double)app_win / win_s);
    result_add("del_bytes_win", "%llu", (unsigned long long)(del_rate * win_s));
    result_add("del_Bps", "%.0f", del_rate);
    result_add("del_msgs_ps", "%.0f", del_rate / (double)g.size);
    result_add("del_bytes_total", "%llu", (unsigned long long)del_total);
    /* Share of what the appenders sent that reached the followers (1 for an exact server). */
    double expected = 0;
    for (size_t i = 0; i < nf; i++)
        expected += (double)g.apps[g.fols[i].res].payload;
    if (expected > 0)
        result_add("del_frac", "%.4f", (double)del_total / expected);
    result_add("drain_s", "%.3f", ns_to_s(t_end - t_apps_done));
    /* From the first append to the last follower's end: with one follower this is the rate at
     * which bytes went from the appender through the file to the follower. */
    result_add("run_s", "%.3f", ns_to_s(t_end - start));
    if (nf)
        result_add("e2e_Bps", "%.0f", (double)del_total / (double)nf / ns_to_s(t_end - start));
    if (g.latency) {
        result_add("lat_n", "%llu", (unsigned long long)lat.count);
        result_add("lat_p50_us", "%.1f", (double)hist_quantile(&lat, 0.50) / 1e3);
        result_add("lat_p99_us", "%.1f", (double)hist_quantile(&lat, 0.99) / 1e3);
        result_add("lat_p999_us", "%.1f", (double)hist_quantile(&lat, 0.999) / 1e3);
        result_add("lat_max_us", "%.1f", (double)lat.max / 1e3);
        result_add("lat_expected", "%.0f", g.rate * g.duration * (double)nf);
    }
    if (g.npids) {
        result_add("srv_ok", "%d", s_end.ok);
        result_add("srv_rss_begin_kb", "%llu", (unsigned long long)s_begin.rss_kb);
        result_add("srv_rss_apps_kb", "%llu", (unsigned long long)s_apps.rss_kb);
        result_add("srv_rss_ready_kb", "%llu", (unsigned long long)s_ready.rss_kb);
        result_add("srv_rss_win_kb", "%llu", (unsigned long long)s_win.rss_kb);
        result_add("srv_rss_end_kb", "%llu", (unsigned long long)s_end.rss_kb);
        result_add("srv_cpu_setup_s", "%.2f", s_ready.cpu_s - s_begin.cpu_s);
        result_add("srv_cpu_win_s", "%.2f", srv_cpu_win);
        result_add("srv_cpu_win_pct", "%.1f", pct_of(srv_cpu_win, win_s));
        result_add("srv_cpu_all_s", "%.2f", srv_cpu_all);
        if (nf)
            result_add("rss_per_follower_kib", "%.2f",
                       ((double)s_win.rss_kb - (double)s_apps.rss_kb) / (double)nf);
        if (del_total)
            result_add("srv_cpu_s_per_GB", "%.3f", srv_cpu_all / ((double)del_total / 1e9));
    }
    result_add("lg_cpu_win_s", "%.2f", lg_cpu);
    result_add("lg_cpu_pct", "%.1f", pct_of(lg_cpu, win_s));
    /* How busy the machine was in the window (up to 100% per CPU), and how much user time
     * other programs took beside the server and the load generator: other load on the machine
     * makes the numbers noisy. */
    result_add("sys_busy_pct", "%.1f", pct_of(sys1 - sys0, win_s));
    result_add("softirq_pct", "%.1f", pct_of(irq1 - irq0, win_s));
    if (g.npids)
        result_add(
            "others_pct", "%.1f",
            pct_of((su1 - su0) - (s_win.user_s - s_ready.user_s) - (lg_user1 - lg_user0), win_s));
    if (g.ping_ms) {
        result_add("pings", "%llu", (unsigned long long)pings);
        result_add("pings_late", "%llu", (unsigned long long)pings_late);
        result_add("ping_max_gap_ms", "%.0f", (double)ping_gap / 1e6);
        result_add("pings_on_time", "%s", pings_late == 0 && pings > 0 ? "yes" : "no");
        if (g.npids && g.duration > 0)
            result_add("srv_idle_cpu_pct", "%.2f", pct_of(srv_cpu_win, win_s));
    }
    result_add("ctl_fail", "%llu", (unsigned long long)ctl_fail);
    result_add("verify", "%s", verify);
    if (!g.nchan) {
        result_add("complete", "%zu", v.complete);
        result_add("close1000", "%zu", v.close1000);
        result_add("prefix_only", "%zu", v.prefix_only);
        result_add("no_close_at_end", "%zu", v.stuck_at_end);
        result_add("appenders_cut", "%zu", apps_cut);
        result_add("bad", "%zu", v.bad + v.app_bad + apps_failed);
    }
    result_add("wall_s", "%.1f", ns_to_s(t_end - t0));
    result_print();
    if (g.nchan)
        fprintf(stderr, "loadgen: Nchan subscribers get no CLOSE and only messages published "
                        "after they joined: exactness not checked, rates compared in the window\n");
    if (v.first_error)
        fprintf(stderr, "loadgen: verification: %s\n", v.first_error);
    if (v.prefix_only)
        fprintf(stderr,
                "loadgen: %zu followers were still open when the %.0f s drain ran out; their "
                "bytes are the file's prefix (%zu of them had every byte but got no CLOSE)\n",
                v.prefix_only, g.drain, v.stuck_at_end);
    return !strcmp(verify, "FAIL") ? 1 : 0;
}
