/* conn.c -- one client connection: TCP connect over every resolved address with an optional
 * deadline, TLS with OpenSSL (SNI, hostname or IP verification against the system store or a CA
 * file), and blocking read/write helpers.
 *
 * The socket is non-blocking and every wait is a poll() with the caller's deadline, so one code
 * path serves blocking reads, non-blocking drains and timed waits, for plain sockets and TLS alike.
 * SIGPIPE is never raised: plain writes use send(MSG_NOSIGNAL), and TLS goes through a socket BIO
 * of our own (made per connection: no global state) that does the same, since OpenSSL's socket BIO
 * uses write(2). */
#include "client/conn.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "client/error.h"

struct cli_conn {
    int fd;
    int last_errno;  /* errno of the BIO's last failed send/recv */
    int verify;      /* 1 when the server certificate is verified */
    const char *url; /* for messages; owned by the caller's cli_url */
    SSL_CTX *ctx;    /* NULL for plain http */
    SSL *ssl;
    BIO_METHOD *method; /* our socket BIO, freed after ssl */
};

int64_t cli_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t cli_deadline_in(int timeout_ms)
{
    return timeout_ms > 0 ? cli_now_ms() + timeout_ms : CLI_NO_DEADLINE;
}

/* The poll() timeout that ends at deadline. */
static int ms_left(int64_t deadline)
{
    if (deadline == CLI_NO_DEADLINE)
        return -1;
    int64_t left = deadline - cli_now_ms();
    if (left <= 0)
        return 0;
    return left > 1000000000 ? 1000000000 : (int)left;
}

/* Waits until fd is ready for events. Returns HFS_OK, HFS_ERR_TIMEOUT or HFS_ERR_NETWORK. */
static int wait_fd(int fd, short events, int64_t deadline)
{
    struct pollfd p = {.fd = fd, .events = events};

    for (;;) {
        int n = poll(&p, 1, ms_left(deadline));
        if (n > 0)
            return HFS_OK; /* errors and hang-ups show up in the following call */
        if (n == 0)
            return HFS_ERR_TIMEOUT;
        if (errno != EINTR)
            return HFS_ERR_NETWORK;
    }
}

/* ---- TCP ---- */

static void set_socket_options(int fd)
{
    int one = 1;

    /* Messages are small and must go out at once (a line typed at a terminal). */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
}

/* Connects to one address. Returns the socket, or -1 with errno set (ETIMEDOUT at the deadline). */
static int connect_one(const struct addrinfo *ai, int64_t deadline)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    int soerr = 0;
    socklen_t sl = sizeof(soerr);

    if (fd < 0)
        return -1;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
        goto done;
    if (errno != EINPROGRESS && errno != EINTR)
        goto fail;
    int rc = wait_fd(fd, POLLOUT, deadline);
    if (rc != HFS_OK) {
        soerr = rc == HFS_ERR_TIMEOUT ? ETIMEDOUT : errno;
    } else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0) {
        soerr = errno;
    }
    if (soerr) {
        errno = soerr;
        goto fail;
    }
done:
    set_socket_options(fd);
    return fd;
fail:
    soerr = errno;
    close(fd);
    errno = soerr;
    return -1;
}

/* Resolves u and connects to the first address that answers. Returns the socket or an hfs_err. */
static int tcp_connect(const cli_url *u, int64_t deadline, hfs_error *err)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res, *ai;
    int fd = -1, e = 0;
    int gai = getaddrinfo(u->host, u->port, &hints, &res);

    if (gai == EAI_MEMORY)
        return cli_error_set(err, u->text, HFS_ERR_NOMEM, "out of memory");
    if (gai != 0)
        return cli_error_set(err, u->text, HFS_ERR_NETWORK, "cannot resolve %s: %s", u->host,
                             gai == EAI_SYSTEM ? strerror(errno) : gai_strerror(gai));
    for (ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = connect_one(ai, deadline);
        if (fd < 0)
            e = errno;
        if (fd < 0 && e == ETIMEDOUT && ms_left(deadline) == 0)
            break;
    }
    freeaddrinfo(res);
    if (fd >= 0)
        return fd;
    if (e == ETIMEDOUT && deadline != CLI_NO_DEADLINE)
        return cli_error_set(err, u->text, HFS_ERR_TIMEOUT, "connecting to %s port %s: timed out",
                             u->host, u->port);
    return cli_error_set(err, u->text, HFS_ERR_NETWORK, "cannot connect to %s port %s: %s", u->host,
                         u->port, strerror(e));
}

/* ---- our socket BIO ---- */

static int bio_write(BIO *b, const char *data, size_t len, size_t *written)
{
    cli_conn *c = BIO_get_data(b);
    ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);

    BIO_clear_retry_flags(b);
    if (n < 0) {
        c->last_errno = errno;
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            BIO_set_retry_write(b);
        return 0;
    }
    *written = (size_t)n;
    return 1;
}

static int bio_read(BIO *b, char *data, size_t len, size_t *got)
{
    cli_conn *c = BIO_get_data(b);
    ssize_t n = recv(c->fd, data, len, 0);

    BIO_clear_retry_flags(b);
    if (n <= 0) {
        c->last_errno = n < 0 ? errno : 0;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            BIO_set_retry_read(b);
        return 0;
    }
    *got = (size_t)n;
    return 1;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)b;
    (void)num;
    (void)ptr;
    return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int bio_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

static BIO_METHOD *bio_method_new(void)
{
    BIO_METHOD *m = BIO_meth_new(BIO_TYPE_SOURCE_SINK, "httpfstream socket");

    if (m && (!BIO_meth_set_write_ex(m, bio_write) || !BIO_meth_set_read_ex(m, bio_read) ||
              !BIO_meth_set_ctrl(m, bio_ctrl) || !BIO_meth_set_create(m, bio_create))) {
        BIO_meth_free(m);
        m = NULL;
    }
    return m;
}

/* ---- TLS ---- */

/* The latest OpenSSL error as text ("unknown" when the queue is empty); clears the queue. */
static const char *ssl_error_text(char *buf, size_t len)
{
    unsigned long e = ERR_peek_last_error();

    if (e)
        ERR_error_string_n(e, buf, len);
    else
        snprintf(buf, len, "unknown error");
    ERR_clear_error();
    return buf;
}

static int tls_context(cli_conn *c, const cli_url *u, const hfs_client_options *o, hfs_error *err)
{
    char text[160];

    c->ctx = SSL_CTX_new(TLS_client_method());
    if (!c->ctx)
        return cli_error_set(err, u->text, HFS_ERR_NOMEM, "cannot create a TLS context: %s",
                             ssl_error_text(text, sizeof(text)));
    SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION);
    /* Framing (WebSocket CLOSE, Content-Length, chunked) tells truncation apart, and many servers
     * end without close_notify. */
    SSL_CTX_set_options(c->ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    if (o->insecure) {
        SSL_CTX_set_verify(c->ctx, SSL_VERIFY_NONE, NULL);
        return HFS_OK;
    }
    SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
    c->verify = 1;
    if (o->ca_file) {
        if (access(o->ca_file, R_OK) != 0)
            return cli_error_set(err, u->text, HFS_ERR_INVALID, "cannot read CA file %s: %s",
                                 o->ca_file, strerror(errno));
        if (SSL_CTX_load_verify_locations(c->ctx, o->ca_file, NULL) != 1)
            return cli_error_set(err, u->text, HFS_ERR_INVALID, "cannot load CA file %s: %s",
                                 o->ca_file, ssl_error_text(text, sizeof(text)));
    } else if (SSL_CTX_set_default_verify_paths(c->ctx) != 1) {
        return cli_error_set(err, u->text, HFS_ERR_TLS, "cannot load the system CA store: %s",
                             ssl_error_text(text, sizeof(text)));
    }
    return HFS_OK;
}

static int tls_session(cli_conn *c, const cli_url *u, hfs_error *err)
{
    char text[160];
    BIO *bio;
    int ok;

    c->method = bio_method_new();
    c->ssl = c->method ? SSL_new(c->ctx) : NULL;
    bio = c->ssl ? BIO_new(c->method) : NULL;
    if (!bio)
        return cli_error_set(err, u->text, HFS_ERR_NOMEM, "cannot create a TLS session: %s",
                             ssl_error_text(text, sizeof(text)));
    BIO_set_data(bio, c);
    SSL_set_bio(c->ssl, bio, bio);
    if (u->ip_literal) {
        ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), u->tls_host);
    } else {
        ok = SSL_set_tlsext_host_name(c->ssl, u->tls_host) && SSL_set1_host(c->ssl, u->tls_host);
    }
    if (!ok)
        return cli_error_set(err, u->text, HFS_ERR_TLS, "cannot set the TLS host name: %s",
                             ssl_error_text(text, sizeof(text)));
    return HFS_OK;
}

/* Why the handshake failed, as a message. */
static int tls_handshake_error(cli_conn *c, const cli_url *u, int ssl_err, hfs_error *err)
{
    char text[160];
    long v = SSL_get_verify_result(c->ssl);

    if (c->verify && v != X509_V_OK) {
        ERR_clear_error();
        return cli_error_set(err, u->text, HFS_ERR_TLS, "certificate verification failed: %s",
                             X509_verify_cert_error_string(v));
    }
    if (ssl_err == SSL_ERROR_SYSCALL && ERR_peek_last_error() == 0)
        return cli_error_set(err, u->text, HFS_ERR_TLS, "TLS handshake: %s",
                             c->last_errno ? strerror(c->last_errno) : "connection closed");
    return cli_error_set(err, u->text, HFS_ERR_TLS, "TLS handshake failed: %s",
                         ssl_error_text(text, sizeof(text)));
}

static int tls_handshake(cli_conn *c, const cli_url *u, int64_t deadline, hfs_error *err)
{
    for (;;) {
        ERR_clear_error();
        int r = SSL_connect(c->ssl);
        if (r == 1)
            return HFS_OK;
        int e = SSL_get_error(c->ssl, r);
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
            return tls_handshake_error(c, u, e, err);
        int w = wait_fd(c->fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline);
        if (w == HFS_ERR_TIMEOUT)
            return cli_error_set(err, u->text, HFS_ERR_TIMEOUT, "TLS handshake: timed out");
        if (w != HFS_OK)
            return cli_error_set(err, u->text, HFS_ERR_NETWORK, "poll: %s", strerror(errno));
    }
}

/* ---- the connection ---- */

int cli_conn_open(cli_conn **out, const cli_url *u, const hfs_client_options *o, int64_t deadline,
                  hfs_error *err)
{
    cli_conn *c = calloc(1, sizeof(*c));
    int rc;

    *out = NULL;
    if (!c)
        return cli_error_set(err, u->text, HFS_ERR_NOMEM, "out of memory");
    c->url = u->text;
    c->fd = tcp_connect(u, deadline, err);
    if (c->fd < 0) {
        rc = c->fd;
        c->fd = -1;
        goto fail;
    }
    if (u->tls) {
        rc = tls_context(c, u, o, err);
        if (rc == HFS_OK)
            rc = tls_session(c, u, err);
        if (rc == HFS_OK)
            rc = tls_handshake(c, u, deadline, err);
        if (rc != HFS_OK)
            goto fail;
    }
    *out = c;
    return HFS_OK;
fail:
    cli_conn_close(c, 0);
    return rc;
}

/* A failed TLS read or write as an hfs_err; 0 for a clean end of stream (reads only). */
static int tls_io_error(cli_conn *c, int e, const char *what, hfs_error *err)
{
    char text[160];

    if (e == SSL_ERROR_ZERO_RETURN)
        return 0;
    if (e == SSL_ERROR_SYSCALL && ERR_peek_last_error() == 0) {
        ERR_clear_error();
        if (c->last_errno == 0)
            return 0; /* EOF without close_notify (the option makes this rare) */
        return cli_error_set(err, c->url, HFS_ERR_NETWORK, "%s: %s", what, strerror(c->last_errno));
    }
    return cli_error_set(err, c->url, HFS_ERR_TLS, "%s: %s", what,
                         ssl_error_text(text, sizeof(text)));
}

/* One read attempt: > 0 bytes, 0 EOF, HFS_ERR_TIMEOUT as "would block" with *want set to the
 * poll event to wait for, or an error. */
static ssize_t read_once(cli_conn *c, void *buf, size_t len, short *want, hfs_error *err)
{
    size_t got = 0;

    *want = POLLIN;
    if (!c->ssl) {
        ssize_t n = recv(c->fd, buf, len, 0);
        if (n >= 0)
            return n;
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return HFS_ERR_TIMEOUT;
        return cli_error_set(err, c->url, HFS_ERR_NETWORK, "receive: %s", strerror(errno));
    }
    ERR_clear_error();
    c->last_errno = 0;
    if (SSL_read_ex(c->ssl, buf, len, &got) == 1)
        return (ssize_t)got;
    int e = SSL_get_error(c->ssl, 0);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        *want = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
        return HFS_ERR_TIMEOUT;
    }
    return tls_io_error(c, e, "receive", err);
}

ssize_t cli_conn_read(cli_conn *c, void *buf, size_t len, int64_t deadline, hfs_error *err)
{
    for (;;) {
        short want;
        ssize_t n = read_once(c, buf, len, &want, err);
        if (n != HFS_ERR_TIMEOUT)
            return n;
        if (deadline != CLI_NO_DEADLINE && ms_left(deadline) == 0)
            return HFS_ERR_TIMEOUT; /* a non-blocking look: one system call */
        int w = wait_fd(c->fd, want, deadline);
        if (w == HFS_ERR_TIMEOUT)
            return HFS_ERR_TIMEOUT;
        if (w != HFS_OK)
            return cli_error_set(err, c->url, HFS_ERR_NETWORK, "poll: %s", strerror(errno));
    }
}

/* One write attempt: bytes written, HFS_ERR_TIMEOUT as "would block" (*want set), or an error. */
static ssize_t write_once(cli_conn *c, const void *buf, size_t len, short *want, hfs_error *err)
{
    size_t put = 0;

    *want = POLLOUT;
    if (!c->ssl) {
        ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL);
        if (n >= 0)
            return n;
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return HFS_ERR_TIMEOUT;
        return cli_error_set(err, c->url, HFS_ERR_NETWORK, "send: %s", strerror(errno));
    }
    ERR_clear_error();
    c->last_errno = 0;
    if (SSL_write_ex(c->ssl, buf, len, &put) == 1)
        return (ssize_t)put;
    int e = SSL_get_error(c->ssl, 0);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        *want = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
        return HFS_ERR_TIMEOUT;
    }
    int rc = tls_io_error(c, e, "send", err);
    return rc ? rc : cli_error_set(err, c->url, HFS_ERR_NETWORK, "send: connection closed");
}

int cli_conn_write(cli_conn *c, const void *buf, size_t len, int64_t deadline, hfs_error *err)
{
    const char *p = buf;

    while (len > 0) {
        short want;
        ssize_t n = write_once(c, p, len, &want, err);
        if (n >= 0) {
            p += n;
            len -= (size_t)n;
            continue;
        }
        if (n != HFS_ERR_TIMEOUT)
            return (int)n;
        int w = wait_fd(c->fd, want, deadline);
        if (w == HFS_ERR_TIMEOUT)
            return cli_error_set(err, c->url, HFS_ERR_TIMEOUT, "send: timed out");
        if (w != HFS_OK)
            return cli_error_set(err, c->url, HFS_ERR_NETWORK, "poll: %s", strerror(errno));
    }
    return HFS_OK;
}

int cli_conn_fd(const cli_conn *c)
{
    return c->fd;
}

int cli_conn_has_buffered(const cli_conn *c)
{
    return c->ssl && SSL_pending(c->ssl) > 0;
}

void cli_conn_close(cli_conn *c, int clean)
{
    if (!c)
        return;
    if (c->ssl) {
        if (clean)
            SSL_shutdown(c->ssl); /* queues close_notify; we do not wait for the peer's */
        SSL_free(c->ssl);
        ERR_clear_error();
    }
    SSL_CTX_free(c->ctx);
    BIO_meth_free(c->method);
    if (c->fd >= 0)
        close(c->fd);
    free(c);
}
