/* conn.c -- a client connection's lifetime: accept-time socket options, reads handed to the
 * connection's kind (its conn_ops), small copied writes, the bound on queued output, the closing
 * paths (abort, linger), and per-tick deadlines, keepalive pings and dead-peer checks.
 *
 * TLS (c->tls, from a -https listener) is a layer here, under the kinds, which never know it is
 * there: a read's ciphertext is fed to the session (tls.h) and the plaintext it yields is handed to
 * on_data as one piece, as a plain read would be; nothing reaches the kind before the handshake is
 * done. Every write goes through conn_write_tls: the plaintext pieces (a follower's whole batch,
 * frames and payload) are encrypted together, and the ciphertext leaves as plain output does: a
 * try-write, then the rest queued (the session's output buffer handed to the write, not copied),
 * so the output bound (conn_queued) counts ciphertext. Plain
 * connections pay one NULL check per read and write. */
#include "server/conn.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* A TLS read leaves this much of the read buffer free: decrypting a read's ciphertext, plus a
 * record begun by the previous read (<= 16 KiB and its overhead), then yields at most SRV_READ_BUF
 * bytes of plaintext, handed to on_data at once. */
#define TLS_READ_RESERVE ((size_t)32 * 1024)
#define TLS_GATHER       ((size_t)64 * 1024) /* write pieces gathered into full records */

typedef struct copy_write {
    uv_write_t req;
    conn *c;
    conn_sent_cb cb; /* NULL: copy_write_cb's own handling */
    void *arg;
    uint8_t *owned; /* a TLS session's output buffer handed over (freed with the write), or NULL */
    uint8_t data[];
} copy_write;

static void conn_on_closed(uv_handle_t *h)
{
    conn *c = h->data;
    hfs_server *s = c->srv;

    access_end(c);
    if (c->ops->on_closed)
        c->ops->on_closed(c);
    if (c->prev)
        c->prev->next = c->next;
    else if (s->conns == c)
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->nconns--;
    if (c->metrics)
        s->nmconns--;
    tls_conn_free(c->tls);
    free(c);
    srv_conn_gone(s);
    srv_handle_released(s);
}

/* The kind gives back what it holds (a lease), once. */
static void stop(conn *c)
{
    if (!c->stopped && c->ops->on_stop) {
        c->stopped = 1;
        c->ops->on_stop(c);
    }
    c->stopped = 1;
}

void conn_close(conn *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    stop(c);
    uv_close((uv_handle_t *)&c->tcp, conn_on_closed);
}

void conn_become(conn *c, const conn_ops *ops)
{
    c->ops = ops;
    c->stopped = 0;
    c->deadline_ms = 0;
    /* Reading may have stopped while an earlier pipelined response was written; the new kind
     * reads from here on (its EOF, PINGs and CLOSE), and may pause again itself. */
    conn_read_start(c);
    c->probe_ms = srv_now(c->srv) + c->srv->opt.dead_peer_ms / 4;
}

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    conn *c = h->data;
    (void)hint;
    buf->base = (char *)c->srv->readbuf;
    buf->len = c->tls ? SRV_READ_BUF - TLS_READ_RESERVE : SRV_READ_BUF;
}

static int tls_send(conn *c, int try_first, conn_sent_cb cb, void *arg);

/* Sends what the session produced (handshake messages, alerts) with no one to tell. */
static void tls_flush(conn *c)
{
    if (tls_send(c, 1, NULL, NULL) < 0)
        conn_close(c);
}

static void on_eof(conn *c)
{
    if (c->ops->on_eof)
        c->ops->on_eof(c);
    else
        conn_close(c);
}

/* A TLS read: the ciphertext into the session, its plaintext into the read buffer (free again once
 * fed), then to the kind in one piece. */
static void tls_on_read(conn *c, const uint8_t *p, size_t n)
{
    uint8_t *buf = c->srv->readbuf;
    size_t got = 0;
    ssize_t r = TLS_AGAIN;
    char why[256];

    if (tls_feed(c->tls, p, n) < 0) {
        conn_close(c);
        return;
    }
    while (got < SRV_READ_BUF && (r = tls_read(c->tls, buf + got, SRV_READ_BUF - got)) > 0)
        got += (size_t)r;
    tls_flush(c);
    if (got && !c->closing && c->ops->on_data)
        c->ops->on_data(c, buf, got);
    if (c->closing)
        return;
    if (r == TLS_ERR) {
        srv_log(c->srv, HFS_LOG_DEBUG, "%s TLS: %s", c->peer, tls_error(why, sizeof(why)));
        tls_flush(c); /* the alert, if any */
        conn_close(c);
    } else if (r == TLS_EOF && !c->lingering) {
        on_eof(c);
    }
}

static void read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    conn *c = stream->data;

    if (c->closing || nread == 0)
        return;
    if (nread < 0) {
        if (nread != UV_EOF)
            srv_log(c->srv, HFS_LOG_DEBUG, "%s read: %s", c->peer, uv_strerror((int)nread));
        if (c->lingering && nread == UV_EOF && conn_queued(c) > 0) {
            c->peer_eof = 1; /* what is queued still goes out: shutdown_cb closes */
            conn_read_stop(c);
        } else if (c->lingering) {
            conn_close(c);
        } else {
            on_eof(c);
        }
        return;
    }
    if (c->lingering)
        return; /* discard until EOF */
    if (c->tls)
        tls_on_read(c, (const uint8_t *)buf->base, (size_t)nread);
    else if (c->ops->on_data)
        c->ops->on_data(c, (uint8_t *)buf->base, (size_t)nread);
}

void conn_read_start(conn *c)
{
    if (c->reading || c->closing || c->peer_eof || (c->out_paused && !c->lingering))
        return;
    if (uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb) == 0)
        c->reading = 1;
}

size_t conn_queued(conn *c)
{
    return uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp);
}

void conn_out_check(conn *c)
{
    if (!c->out_paused && !c->closing && conn_queued(c) > SRV_OUT_MAX) {
        c->out_paused = 1;
        conn_read_stop(c);
    }
}

void conn_out_progress(conn *c)
{
    c->progress_ms = srv_now(c->srv);
    if (!c->out_paused || c->closing || conn_queued(c) > SRV_OUT_MAX / 2)
        return;
    c->out_paused = 0;
    if (c->ops->on_out_drained)
        c->ops->on_out_drained(c);
    else
        conn_read_start(c);
}

void conn_read_stop(conn *c)
{
    if (c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = 0;
    }
}

/* TCP_NODELAY for latency; keepalive probes so that a peer that vanished while idle is dropped
 * within about dead_peer_ms (busy peers are checked in conn_on_tick). */
static void set_socket_options(conn *c)
{
    unsigned dead = c->srv->opt.dead_peer_ms;
    uv_os_fd_t fd;

    uv_tcp_nodelay(&c->tcp, 1);
    if (!dead || uv_fileno((uv_handle_t *)&c->tcp, &fd) != 0)
        return;
    int on = 1, cnt = 4;
    int idle = (int)(dead / 2000) > 0 ? (int)(dead / 2000) : 1;
    int intvl = (int)(dead / 2000 / (unsigned)cnt) > 0 ? (int)(dead / 2000 / (unsigned)cnt) : 1;
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
}

static void peer_name(conn *c)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    char ip[INET6_ADDRSTRLEN] = "?";
    int port = 0;

    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
            uv_ip6_name(a, ip, sizeof(ip));
            port = ntohs(a->sin6_port);
        } else if (ss.ss_family == AF_INET) {
            struct sockaddr_in *a = (struct sockaddr_in *)&ss;
            uv_ip4_name(a, ip, sizeof(ip));
            port = ntohs(a->sin_port);
        }
    }
    snprintf(c->peer, sizeof(c->peer), strchr(ip, ':') ? "[%s]:%d" : "%s:%d", ip, port);
}

/* Over the connection cap: a short 503 and the door. Logged at most once a second. */
static void refuse(conn *c)
{
    static const char resp[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; "
                               "charset=utf-8\r\nContent-Length: 24\r\nRetry-After: 1\r\n"
                               "Connection: close\r\n\r\n503 too many connections\n";
    hfs_server *s = c->srv;
    uint64_t now = srv_now(s);

    s->refused++;
    conn_count_status(c, 503);
    if (now - s->refused_logged_ms >= 1000) {
        srv_log(s, HFS_LOG_WARN, "refusing connections: %zu open, limit %u (%llu refused so far)",
                s->nconns - 1, s->opt.max_conns, (unsigned long long)s->refused);
        s->refused_logged_ms = now;
    }
    conn_write_copy(c, resp, sizeof(resp) - 1);
    conn_linger(c);
}

int conn_start(hfs_server *s, uv_tcp_t *tcp, const conn_ops *ops)
{
    conn *c = (conn *)tcp;

    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->nconns++;
    c->ops = ops;
    c->last_tx_ms = c->progress_ms = srv_now(s);
    set_socket_options(c);
    peer_name(c);
    if (s->nconns > s->opt.max_conns) {
        if (c->tls) {
            s->refused++;
            conn_close(c); /* no handshake for a connection that would only get a 503 */
        } else {
            refuse(c);
        }
        return 0;
    }
    if (ops->on_start && ops->on_start(c) < 0) {
        conn_close(c);
        return -1;
    }
    c->deadline_ms = srv_now(s) + s->opt.header_timeout_ms;
    conn_read_start(c);
    return 0;
}

static void copy_write_cb(uv_write_t *req, int status)
{
    copy_write *w = (copy_write *)req;
    conn *c = w->c;
    conn_sent_cb cb = w->cb;
    void *arg = w->arg;

    free(w->owned);
    free(w);
    if (cb) {
        c->progress_ms = srv_now(c->srv);
        cb(c, arg, status);
        return;
    }
    if (c->closing)
        return;
    if (status < 0) {
        srv_log(c->srv, HFS_LOG_DEBUG, "%s write: %s", c->peer, uv_strerror(status));
        conn_close(c);
        return;
    }
    conn_out_progress(c);
}

/* Copies p[0..n) and queues it; cb (or copy_write_cb's own handling) when it is out. */
static int queue_copy(conn *c, const void *p, size_t n, conn_sent_cb cb, void *arg)
{
    if (conn_queued(c) == 0)
        c->progress_ms = srv_now(c->srv); /* output starts waiting now */
    copy_write *w = malloc(sizeof(*w) + n);
    if (!w)
        return UV_ENOMEM;
    w->c = c;
    w->cb = cb;
    w->arg = arg;
    w->owned = NULL;
    memcpy(w->data, p, n);
    uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)n);
    int r = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, copy_write_cb);
    if (r < 0)
        free(w);
    return r;
}

/* Queues the session's unsent ciphertext from `done` bytes on: its buffer is handed over to the
 * write, not copied. */
static int tls_queue(conn *c, size_t done, conn_sent_cb cb, void *arg)
{
    copy_write *w = malloc(sizeof(*w));
    const uint8_t *p;
    size_t off, n = tls_out(c->tls, &p);

    if (!w) {
        tls_out_done(c->tls);
        return UV_ENOMEM;
    }
    if (conn_queued(c) == 0)
        c->progress_ms = srv_now(c->srv); /* output starts waiting now */
    w->c = c;
    w->cb = cb;
    w->arg = arg;
    w->owned = tls_out_take(c->tls, &off);
    uv_buf_t b = uv_buf_init((char *)w->owned + off + done, (unsigned)(n - done));
    int r = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, copy_write_cb);
    if (r < 0) {
        free(w->owned);
        free(w);
    }
    return r;
}

/* Sends the session's ciphertext (see conn_write_tls). With nothing to send, returns 1. */
static int tls_send(conn *c, int try_first, conn_sent_cb cb, void *arg)
{
    const uint8_t *p;
    size_t n = tls_out(c->tls, &p), done = 0;

    if (n == 0 || c->closing) {
        tls_out_done(c->tls);
        return n == 0 ? 1 : UV_ECANCELED;
    }
    if (try_first) {
        uv_buf_t b = uv_buf_init((char *)p, (unsigned)n);
        int r = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
        if (r < 0 && r != UV_EAGAIN) {
            tls_out_done(c->tls);
            return r;
        }
        done = r > 0 ? (size_t)r : 0;
        if (done)
            c->last_tx_ms = srv_now(c->srv);
    }
    if (done == n) {
        tls_out_done(c->tls);
        return 1;
    }
    return tls_queue(c, done, cb, arg);
}

int conn_write_tls(conn *c, const uv_buf_t *bufs, unsigned n, int try_first, conn_sent_cb cb,
                   void *arg)
{
    hfs_server *s = c->srv;

    if (c->closing)
        return UV_ECANCELED;
    if (!tls_handshake_done(c->tls))
        return UV_ENOTCONN;
    if (n > 1 && !s->tls_gather && !(s->tls_gather = malloc(TLS_GATHER)))
        return UV_ENOMEM;
    if (tls_write(c->tls, bufs, n, s->tls_gather, TLS_GATHER) < 0) {
        tls_out_done(c->tls);
        return UV_EPROTO;
    }
    return tls_send(c, try_first, cb, arg);
}

int conn_write_copy(conn *c, const void *p, size_t n)
{
    uv_buf_t b = uv_buf_init((char *)p, (unsigned)n);
    int r;

    if (c->closing)
        return UV_ECANCELED;
    c->tx_bytes += n;
    if (c->tls) {
        r = conn_write_tls(c, &b, 1, 1, NULL, NULL);
        return r < 0 ? r : 0;
    }
    r = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (r < 0 && r != UV_EAGAIN)
        return r;
    size_t done = r > 0 ? (size_t)r : 0;
    c->last_tx_ms = srv_now(c->srv);
    if (done == n)
        return 0;
    return queue_copy(c, (const uint8_t *)p + done, n - done, NULL, NULL);
}

static void shutdown_cb(uv_shutdown_t *req, int status)
{
    conn *c = req->data;

    free(req);
    if (c->closing)
        return;
    if (status < 0 || c->peer_eof)
        conn_close(c); /* a half-closed peer has everything it asked for */
}

void conn_linger(conn *c)
{
    if (c->closing || c->lingering)
        return;
    stop(c);
    c->lingering = 1;
    c->out_paused = 0; /* input is only drained from here on: it makes no more output */
    c->deadline_ms = srv_now(c->srv) + SRV_LINGER_MS;
    if (c->tls) {
        tls_close_notify(c->tls);
        if (tls_send(c, 1, NULL, NULL) < 0) {
            conn_close(c);
            return;
        }
    }
    uv_shutdown_t *req = malloc(sizeof(*req));
    if (!req || uv_shutdown(req, (uv_stream_t *)&c->tcp, shutdown_cb) != 0) {
        free(req);
        conn_close(c);
        return;
    }
    req->data = c;
    conn_read_start(c);
}

/* A peer is gone when data we sent is being retransmitted and nothing has been acknowledged for
 * dead_peer_ms. A live peer acknowledges within a round trip (no retransmission); a paused reader
 * still acknowledges, with a zero window; both are kept. */
static int peer_is_dead(conn *c)
{
    struct tcp_info ti;
    socklen_t len = sizeof(ti);
    uv_os_fd_t fd;

    if (uv_fileno((uv_handle_t *)&c->tcp, &fd) != 0 ||
        getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0)
        return 0;
    return ti.tcpi_unacked > 0 && (ti.tcpi_retransmits > 0 || ti.tcpi_backoff > 0) &&
           ti.tcpi_last_ack_recv >= c->srv->opt.dead_peer_ms;
}

/* Sessions (the kinds with a heartbeat): a sign of life when quiet, and a check of the peer's. */
static void live_tick(conn *c, uint64_t now)
{
    const hfs_server_options *o = &c->srv->opt;

    if (c->ws_closed || c->lingering)
        return;
    if (o->ping_interval_ms && now - c->last_tx_ms >= o->ping_interval_ms) {
        c->ops->heartbeat(c);
        c->last_tx_ms = now;
    }
    if (o->dead_peer_ms && now >= c->probe_ms) {
        c->probe_ms = now + o->dead_peer_ms / 4;
        if (peer_is_dead(c)) {
            srv_log(c->srv, HFS_LOG_WARN, "%s: peer unresponsive for %u ms, dropping", c->peer,
                    o->dead_peer_ms);
            c->srv->m.dead_peers++;
            conn_close(c);
        }
    }
}

/* A connection with output queued is not idle while that output moves: a slow but steady reader
 * keeps its deadline away; one that takes nothing for a whole idle period is cut. */
static int output_moving(conn *c, uint64_t now)
{
    size_t q = conn_queued(c);

    if (q < c->tick_queued)
        c->progress_ms = now;
    c->tick_queued = q;
    return q > 0 && now - c->progress_ms < c->srv->opt.idle_timeout_ms;
}

void conn_on_tick(conn *c, uint64_t now)
{
    if (c->closing)
        return;
    int moving = output_moving(c, now);
    if (c->deadline_ms && now >= c->deadline_ms && moving) {
        c->deadline_ms = now + (c->lingering ? SRV_LINGER_MS : c->srv->opt.idle_timeout_ms);
        return;
    }
    if (c->deadline_ms && now >= c->deadline_ms) {
        if (c->ops->on_timeout && !c->lingering)
            c->ops->on_timeout(c);
        else
            conn_close(c);
        return;
    }
    if (c->ops->heartbeat)
        live_tick(c, now);
}
