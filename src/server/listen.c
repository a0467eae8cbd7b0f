/* listen.c -- the server's listeners and accepts: plain, TLS and -metrics listeners on addresses
 * or on sockets handed over (systemd), and each accepted connection handed to its protocol. */
#include "server/server.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/conn.h"
#include "server/http_conn.h"
#include "server/route.h"

/* Counts a failed accept. libuv has already accepted and closed what it could not keep (EMFILE),
 * so the loop does not spin; say so at most once a second. */
static void accept_failed(hfs_server *s, int status)
{
    uint64_t now = srv_now(s);

    s->accept_errors++;
    if (now - s->accept_logged_ms >= 1000) {
        srv_log(s, HFS_LOG_WARN, "accept: %s (%llu connections dropped so far)",
                uv_strerror(status), (unsigned long long)s->accept_errors);
        s->accept_logged_ms = now;
    }
}

/* Accepts a connection on listener: over TLS with tls, a -metrics one with metrics. */
static int accept_conn(hfs_server *s, struct uv_stream_s *listener, int tls, int metrics)
{
    conn *c = calloc(1, sizeof(*c));

    if (!c)
        return HFS_ERR_NOMEM;
    uv_tcp_init(s->loop, &c->tcp);
    c->srv = s;
    c->ops = &conn_http_ops;
    c->tcp.data = c;
    c->metrics = metrics;
    s->nmconns += metrics ? 1 : 0;
    s->handles++;
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0) {
        conn_close(c);
        return HFS_ERR_NETWORK;
    }
    if (tls && !(c->tls = tls_conn_new(s->tls))) {
        srv_log(s, HFS_LOG_WARN, "TLS: out of memory for a session");
        conn_close(c);
        return HFS_ERR_NOMEM;
    }
    return conn_start(s, &c->tcp, &conn_http_ops) == 0 ? HFS_OK : HFS_ERR_NOMEM;
}

int hfs_server_accept(hfs_server *s, struct uv_stream_s *listener)
{
    return accept_conn(s, listener, 0, 0);
}

static void on_connection(uv_stream_t *listener, int status)
{
    if (status < 0)
        accept_failed(listener->data, status);
    else
        accept_conn(listener->data, listener, ((srv_listener *)listener)->tls, 0);
}

/* A connection to a -metrics listener: HTTP, routed by metrics_request alone. */
static void on_metrics_connection(uv_stream_t *listener, int status)
{
    if (status < 0)
        accept_failed(listener->data, status);
    else
        accept_conn(listener->data, listener, 0, 1);
}

int hfs_server_adopt_fd(hfs_server *s, int fd)
{
    conn *c = calloc(1, sizeof(*c));

    if (!c) {
        close(fd);
        return HFS_ERR_NOMEM;
    }
    uv_tcp_init(s->loop, &c->tcp);
    c->srv = s;
    c->ops = &conn_http_ops;
    c->tcp.data = c;
    s->handles++;
    if (uv_tcp_open(&c->tcp, fd) != 0) {
        close(fd);
        conn_close(c);
        return HFS_ERR_NETWORK;
    }
    return conn_start(s, &c->tcp, &conn_http_ops) == 0 ? HFS_OK : HFS_ERR_NOMEM;
}

/* Splits "host:port", ":port", "[v6]:port" into host (NULL for all interfaces) and port. */
static int split_addr(const char *addr, char *host, size_t cap, const char **port)
{
    const char *colon = strrchr(addr, ':');

    if (!colon || !colon[1])
        return -1;
    size_t hl = (size_t)(colon - addr);
    const char *h = addr;
    if (hl >= 2 && addr[0] == '[' && addr[hl - 1] == ']') {
        h++;
        hl -= 2;
    } else if (memchr(addr, ':', hl)) {
        return -1; /* a bare IPv6 address needs brackets */
    }
    if (hl >= cap)
        return -1;
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = colon + 1;
    for (const char *p = *port; *p; p++)
        if (*p < '0' || *p > '9')
            return -1;
    return atoi(*port) <= 65535 ? 0 : -1;
}

/* What a listener serves: resources over TCP or TLS, or /metrics. */
enum { LISTEN_PLAIN, LISTEN_TLS, LISTEN_METRICS };

/* A new listener handle, with room for it in the resource (or metrics) listeners; NULL out of
 * memory. */
static srv_listener *new_listener(hfs_server *s, int kind)
{
    srv_listener ***list = kind == LISTEN_METRICS ? &s->mlisteners : &s->listeners;
    size_t *n = kind == LISTEN_METRICS ? &s->nmlisteners : &s->nlisteners;
    srv_listener *l = malloc(sizeof(*l));
    srv_listener **v = realloc(*list, (*n + 1) * sizeof(*v));

    if (v)
        *list = v;
    if (!l || !v) {
        free(l);
        return NULL;
    }
    l->tls = kind == LISTEN_TLS;
    uv_tcp_init(s->loop, &l->tcp);
    srv_init_handle(s, (uv_handle_t *)&l->tcp);
    return l;
}

/* Remembers the port l listens on and keeps l. */
static void add_listener(hfs_server *s, srv_listener *l, int kind)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);

    if (uv_tcp_getsockname(&l->tcp, (struct sockaddr *)&ss, &len) == 0 &&
        (ss.ss_family == AF_INET6 || ss.ss_family == AF_INET))
        *(kind == LISTEN_METRICS ? &s->mport : &s->port) =
            ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                           : ((struct sockaddr_in *)&ss)->sin_port);
    if (kind == LISTEN_METRICS)
        s->mlisteners[s->nmlisteners++] = l;
    else
        s->listeners[s->nlisteners++] = l;
}

static int start_listening(srv_listener *l, int kind)
{
    return uv_listen((uv_stream_t *)&l->tcp, kind == LISTEN_METRICS ? 128 : 4096,
                     kind == LISTEN_METRICS ? on_metrics_connection : on_connection);
}

/* Binds and listens on sa: a listener of that kind. */
static int bind_listen(hfs_server *s, const struct sockaddr *sa, int v6only, int kind)
{
    srv_listener *l = new_listener(s, kind);
    int r;

    if (!l)
        return UV_ENOMEM;
    r = uv_tcp_bind(&l->tcp, sa, v6only ? UV_TCP_IPV6ONLY : 0);
    if (r == 0)
        r = start_listening(l, kind);
    if (r != 0) {
        uv_close((uv_handle_t *)&l->tcp, srv_on_handle_closed);
        return r;
    }
    add_listener(s, l, kind);
    return 0;
}

/* Refuses a TLS listener without a certificate: 0, or -1 logged. */
static int tls_ready(hfs_server *s, int kind, const char *what)
{
    if (kind != LISTEN_TLS || s->tls)
        return 0;
    srv_log(s, HFS_LOG_ERROR, "listen %s: TLS needs a certificate and a key", what);
    return -1;
}

static int listen_on_fd(hfs_server *s, int fd, int kind)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss), tlen = sizeof(int);
    srv_listener *l;
    int r, type = 0;

    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0 ||
        (ss.ss_family != AF_INET && ss.ss_family != AF_INET6) ||
        getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) != 0 || type != SOCK_STREAM) {
        srv_log(s, HFS_LOG_ERROR, "listen on descriptor %d: not a TCP socket", fd);
        close(fd);
        return HFS_ERR_INVALID;
    }
    if (tls_ready(s, kind, "on a passed descriptor") < 0) {
        close(fd);
        return HFS_ERR_INVALID;
    }
    if (!(l = new_listener(s, kind))) {
        close(fd);
        return HFS_ERR_NOMEM;
    }
    if ((r = uv_tcp_open(&l->tcp, fd)) != 0)
        close(fd); /* not the handle's: closing it leaves fd open */
    else
        r = start_listening(l, kind);
    if (r != 0) {
        srv_log(s, HFS_LOG_ERROR, "listen on descriptor %d: %s", fd, uv_strerror(r));
        uv_close((uv_handle_t *)&l->tcp, srv_on_handle_closed); /* closes fd if it was opened */
        return HFS_ERR_NETWORK;
    }
    add_listener(s, l, kind);
    return HFS_OK;
}

int hfs_server_listen_fd(hfs_server *s, int fd)
{
    return listen_on_fd(s, fd, LISTEN_PLAIN);
}

int hfs_server_listen_tls_fd(hfs_server *s, int fd)
{
    return listen_on_fd(s, fd, LISTEN_TLS);
}

static int listen_addr(hfs_server *s, const char *addr, int kind)
{
    char host[256];
    const char *port;
    struct addrinfo hints, *res = NULL;
    int r;

    if (!addr || split_addr(addr, host, sizeof(host), &port) < 0)
        return HFS_ERR_INVALID;
    if (tls_ready(s, kind, addr) < 0)
        return HFS_ERR_INVALID;
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    if (!*host) {
        /* All interfaces: one dual-stack IPv6 socket, else IPv4 only. */
        struct sockaddr_in6 a6;
        struct sockaddr_in a4;
        uv_ip6_addr("::", atoi(port), &a6);
        if (bind_listen(s, (struct sockaddr *)&a6, 0, kind) == 0)
            return HFS_OK;
        uv_ip4_addr("0.0.0.0", atoi(port), &a4);
        r = bind_listen(s, (struct sockaddr *)&a4, 0, kind);
    } else if ((r = getaddrinfo(host, port, &hints, &res)) != 0) {
        srv_log(s, HFS_LOG_ERROR, "listen %s: %s", addr, gai_strerror(r));
        return HFS_ERR_INVALID;
    } else {
        r = UV_EADDRNOTAVAIL;
        for (struct addrinfo *ai = res; ai && r != 0; ai = ai->ai_next)
            r = bind_listen(s, ai->ai_addr, ai->ai_family == AF_INET6, kind);
        freeaddrinfo(res);
    }
    if (r != 0) {
        srv_log(s, HFS_LOG_ERROR, "listen %s: %s", addr, uv_strerror(r));
        return HFS_ERR_NETWORK;
    }
    return HFS_OK;
}

int hfs_server_listen(hfs_server *s, const char *addr)
{
    return listen_addr(s, addr, LISTEN_PLAIN);
}

int hfs_server_listen_tls(hfs_server *s, const char *addr)
{
    return listen_addr(s, addr, LISTEN_TLS);
}

int hfs_server_listen_metrics(hfs_server *s, const char *addr)
{
    return listen_addr(s, addr, LISTEN_METRICS);
}

int hfs_server_port(const hfs_server *s)
{
    return s->port;
}

int hfs_server_metrics_port(const hfs_server *s)
{
    return s->mport;
}
