/* tls.c -- server TLS sessions over memory BIOs (tls.h): contexts from PEM files, the handshake,
 * decryption of fed ciphertext, gathered encryption, and the ciphertext waiting to be sent. */
#include "server/tls.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Buffers are freed once empty (with SSL_MODE_RELEASE_BUFFERS, an idle session holds no buffer):
 * thousands of quiet followers cost little, and malloc of a record's size is cheap next to its
 * encryption. */

/* A byte buffer: data[off..len) is unread. */
typedef struct tls_buf {
    uint8_t *data;
    size_t off, len, cap;
} tls_buf;

/* The session's BIO is our own (one for both directions): reads take from `in`, writes append to
 * `out`. OpenSSL's memory BIO would do, but emptying it clears its whole allocation, and taking
 * bytes out of it copies them; here the ciphertext is sent from where it was written. */
struct tls_conn {
    SSL *ssl;
    tls_buf in;  /* ciphertext read from the socket, not yet decrypted */
    tls_buf out; /* ciphertext produced, not yet sent */
};

/* Makes room for n more bytes at the end of b. 0, or -1 out of memory. */
static int buf_reserve(tls_buf *b, size_t n)
{
    if (b->off == b->len)
        b->off = b->len = 0;
    if (b->len + n > b->cap && b->off > 0) {
        memmove(b->data, b->data + b->off, b->len - b->off);
        b->len -= b->off;
        b->off = 0;
    }
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 16384;
        while (cap < b->len + n)
            cap *= 2;
        uint8_t *d = realloc(b->data, cap);
        if (!d)
            return -1;
        b->data = d;
        b->cap = cap;
    }
    return 0;
}

static int buf_append(tls_buf *b, const void *p, size_t n)
{
    if (buf_reserve(b, n) < 0)
        return -1;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

/* Empties b, and gives its memory back. */
static void buf_clear(tls_buf *b)
{
    b->off = b->len = 0;
    free(b->data);
    b->data = NULL;
    b->cap = 0;
}

static int bio_write(BIO *bio, const char *p, int n)
{
    tls_conn *t = BIO_get_data(bio);

    return buf_append(&t->out, p, (size_t)n) < 0 ? -1 : n;
}

static int bio_read(BIO *bio, char *p, int n)
{
    tls_conn *t = BIO_get_data(bio);
    size_t avail = t->in.len - t->in.off;

    BIO_clear_retry_flags(bio);
    if (avail == 0) {
        BIO_set_retry_read(bio);
        return -1;
    }
    size_t k = avail < (size_t)n ? avail : (size_t)n;
    memcpy(p, t->in.data + t->in.off, k);
    t->in.off += k;
    if (t->in.off == t->in.len)
        buf_clear(&t->in);
    return (int)k;
}

static long bio_ctrl(BIO *bio, int cmd, long num, void *ptr)
{
    tls_conn *t = BIO_get_data(bio);
    (void)num, (void)ptr;

    switch (cmd) {
    case BIO_CTRL_FLUSH:
        return 1;
    case BIO_CTRL_PENDING:
        return (long)(t->in.len - t->in.off);
    case BIO_CTRL_WPENDING:
        return (long)(t->out.len - t->out.off);
    default:
        return 0;
    }
}

static BIO_METHOD *bio_method;
static pthread_once_t bio_method_once = PTHREAD_ONCE_INIT;

/* One method for the process, made once (it is never freed: OpenSSL's own are static too). */
static void bio_method_make(void)
{
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "httpfstream");

    if (m && BIO_meth_set_write(m, bio_write) == 1 && BIO_meth_set_read(m, bio_read) == 1 &&
        BIO_meth_set_ctrl(m, bio_ctrl) == 1)
        bio_method = m;
    else
        BIO_meth_free(m);
}

int tls_kernel_available(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -1;
    /* Linux finds (or loads) the upper layer before it sees that the socket is not connected:
     * ENOENT means there is none, ENOTCONN that there is one. */
    int r = setsockopt(fd, IPPROTO_TCP, TCP_ULP, "tls", sizeof("tls"));
    int e = errno;
    close(fd);
    return r == 0 || e == ENOTCONN ? 1 : e == ENOENT ? 0 : -1;
}

const char *tls_error(char *buf, size_t len)
{
    unsigned long e = ERR_get_error();

    if (!e)
        snprintf(buf, len, "unknown error");
    else
        ERR_error_string_n(e, buf, len);
    ERR_clear_error();
    return buf;
}

/* ALPN: HTTP/1.1 only. A client offering only other protocols goes on without ALPN. */
static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned inlen, void *arg)
{
    static const unsigned char ours[] = "\x08http/1.1";
    (void)ssl, (void)arg;

    if (SSL_select_next_proto((unsigned char **)out, outlen, ours, sizeof(ours) - 1, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    return SSL_TLSEXT_ERR_OK;
}

tls_ctx *tls_ctx_load(const char *cert_file, const char *key_file, char *err, size_t errlen)
{
    char why[256];
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

    if (!ctx) {
        snprintf(err, errlen, "cannot create a TLS context: %s", tls_error(why, sizeof(why)));
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
    /* TLS 1.3: AES-128-GCM first (the server's order): as safe for this use, and the cheapest per
     * byte where AES instructions exist; ChaCha20 for clients that prefer it (no AES hardware). */
    SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
                                  "TLS_CHACHA20_POLY1305_SHA256");
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
        snprintf(err, errlen, "%s: %s", cert_file, tls_error(why, sizeof(why)));
        goto err;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
        snprintf(err, errlen, "%s: %s", key_file, tls_error(why, sizeof(why)));
        goto err;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        snprintf(err, errlen, "%s does not match %s: %s", key_file, cert_file,
                 tls_error(why, sizeof(why)));
        goto err;
    }
    return ctx;
err:
    SSL_CTX_free(ctx);
    return NULL;
}

void tls_ctx_free(tls_ctx *ctx)
{
    SSL_CTX_free(ctx);
}

tls_conn *tls_conn_new(tls_ctx *ctx)
{
    tls_conn *t = calloc(1, sizeof(*t));

    if (!t)
        return NULL;
    pthread_once(&bio_method_once, bio_method_make);
    BIO *bio = bio_method ? BIO_new(bio_method) : NULL;
    t->ssl = bio ? SSL_new(ctx) : NULL;
    if (!t->ssl) {
        BIO_free(bio);
        free(t);
        return NULL;
    }
    BIO_set_data(bio, t);
    BIO_set_init(bio, 1);
    SSL_set_bio(t->ssl, bio, bio); /* the session owns it from here */
    SSL_set_accept_state(t->ssl);
    return t;
}

void tls_conn_free(tls_conn *t)
{
    if (!t)
        return;
    SSL_free(t->ssl);
    free(t->in.data);
    free(t->out.data);
    free(t);
}

int tls_feed(tls_conn *t, const uint8_t *p, size_t n)
{
    return buf_append(&t->in, p, n);
}

int tls_handshake_done(const tls_conn *t)
{
    return SSL_is_init_finished(t->ssl);
}

/* The outcome of an SSL call that returned r <= 0. */
static ssize_t tls_result(tls_conn *t, int r)
{
    switch (SSL_get_error(t->ssl, r)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        return TLS_AGAIN;
    case SSL_ERROR_ZERO_RETURN:
        return TLS_EOF;
    default:
        return TLS_ERR;
    }
}

ssize_t tls_read(tls_conn *t, uint8_t *out, size_t cap)
{
    size_t got = 0;

    if (!SSL_is_init_finished(t->ssl)) {
        int r = SSL_do_handshake(t->ssl);
        if (r <= 0)
            return tls_result(t, r);
    }
    int r = SSL_read_ex(t->ssl, out, cap, &got);
    return r == 1 ? (ssize_t)got : tls_result(t, r);
}

/* One SSL_write of n bytes (a memory BIO takes it all). */
static int write_all(tls_conn *t, const void *p, size_t n)
{
    size_t done;

    return n == 0 || SSL_write_ex(t->ssl, p, n, &done) == 1 ? 0 : -1;
}

/* Room for the records of `plain` bytes: each adds a header, a content type and a tag (TLS 1.3:
 * 5 + 1 + 16; TLS 1.2 GCM: 5 + 8 + 16), well under 64. */
#define TLS_RECORD_PLAIN 16384
#define TLS_RECORD_EXTRA 64

int tls_write(tls_conn *t, const uv_buf_t *bufs, unsigned n, uint8_t *buf, size_t cap)
{
    size_t used = 0, total = 0;

    /* The whole ciphertext in one allocation, not grown (and copied) record by record. */
    for (unsigned i = 0; i < n; i++)
        total += bufs[i].len;
    if (buf_reserve(&t->out, total + (total / TLS_RECORD_PLAIN + 1) * TLS_RECORD_EXTRA) < 0)
        return -1;
    if (n == 1)
        return write_all(t, bufs[0].base, bufs[0].len);
    /* Through buf, filled to the brim each time: full records, none for a frame header alone. */
    for (unsigned i = 0; i < n; i++) {
        const uint8_t *p = (const uint8_t *)bufs[i].base;
        size_t len = bufs[i].len;
        while (len > 0) {
            size_t k = cap - used < len ? cap - used : len;
            memcpy(buf + used, p, k);
            used += k;
            p += k;
            len -= k;
            if (used == cap) {
                if (write_all(t, buf, used) < 0)
                    return -1;
                used = 0;
            }
        }
    }
    return write_all(t, buf, used);
}

void tls_close_notify(tls_conn *t)
{
    if (SSL_is_init_finished(t->ssl))
        SSL_shutdown(t->ssl);
    ERR_clear_error();
}

size_t tls_out(tls_conn *t, const uint8_t **p)
{
    *p = t->out.data + t->out.off;
    return t->out.len - t->out.off;
}

void tls_out_done(tls_conn *t)
{
    buf_clear(&t->out);
}

uint8_t *tls_out_take(tls_conn *t, size_t *off)
{
    uint8_t *d = t->out.data;

    *off = t->out.off;
    t->out = (tls_buf){0};
    return d;
}
