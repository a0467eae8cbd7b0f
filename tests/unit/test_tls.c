/* test_tls.c -- unit tests for src/server/tls.c, without sockets: a client session of OpenSSL's
 * over memory BIOs talks to ours. Contexts from files (a missing file, a key that is not the
 * certificate's), the handshake fed whole and one byte at a time, ALPN, a gathered write read back
 * whole, input decrypted, close_notify, garbage. */
#include "../harness.h"
#include "server/tls.h"

#include <stdlib.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

static char dir[64], cert_file[96], key_file[96], other_key[96];

/* Writes a P-256 key to path; returns it (the caller frees). */
static EVP_PKEY *write_key(const char *path)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    FILE *f = fopen(path, "w");

    if (!k || !f || PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) != 1) {
        test_fail(__FILE__, __LINE__, "cannot write %s", path);
        if (f)
            fclose(f);
        return k;
    }
    fclose(f);
    return k;
}

/* A self-signed certificate for localhost and its key, and another key, in a fresh folder. */
static int make_files(void)
{
    snprintf(dir, sizeof(dir), "/tmp/hfs-tls-unit.XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(cert_file, sizeof(cert_file), "%s/cert.pem", dir);
    snprintf(key_file, sizeof(key_file), "%s/key.pem", dir);
    snprintf(other_key, sizeof(other_key), "%s/other.pem", dir);
    EVP_PKEY *k = write_key(key_file);
    EVP_PKEY_free(write_key(other_key));
    X509 *x = X509_new();
    X509_NAME *name = X509_NAME_new();
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1, -1,
                               0);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_subject_name(x, name);
    X509_set_issuer_name(x, name);
    X509_set_pubkey(x, k);
    X509_sign(x, k, EVP_sha256());
    FILE *f = fopen(cert_file, "w");
    int ok = f && PEM_write_X509(f, x) == 1;
    if (f)
        fclose(f);
    X509_NAME_free(name);
    X509_free(x);
    EVP_PKEY_free(k);
    return ok ? 0 : -1;
}

static void test_ctx_errors(void)
{
    char err[512] = "";
    tls_ctx *ctx = tls_ctx_load("/nonexistent/cert.pem", key_file, err, sizeof(err));

    CHECK(ctx == NULL);
    CHECKF(strstr(err, "/nonexistent/cert.pem") != NULL, "err [%s]", err);
    ctx = tls_ctx_load(cert_file, other_key, err, sizeof(err));
    CHECK(ctx == NULL);
    CHECKF(strstr(err, "other.pem") && strstr(err, "mismatch"), "err [%s]", err);
    ctx = tls_ctx_load(cert_file, key_file, err, sizeof(err));
    CHECKF(ctx != NULL, "err [%s]", err);
    tls_ctx_free(ctx);
    tls_ctx_free(NULL);
    tls_conn_free(NULL);
}

/* A client of OpenSSL's over memory BIOs: cin is what the server sent, cout what the client sent.
 */
typedef struct client {
    SSL_CTX *ctx;
    SSL *ssl;
    BIO *cin, *cout;
} client;

static int client_new(client *cl)
{
    static const unsigned char alpn[] = "\x02h2\x08http/1.1";

    cl->ctx = SSL_CTX_new(TLS_client_method());
    cl->ssl = cl->ctx ? SSL_new(cl->ctx) : NULL;
    cl->cin = BIO_new(BIO_s_mem());
    cl->cout = BIO_new(BIO_s_mem());
    if (!cl->ssl || !cl->cin || !cl->cout)
        return -1;
    SSL_set_bio(cl->ssl, cl->cin, cl->cout);
    SSL_set_alpn_protos(cl->ssl, alpn, sizeof(alpn) - 1);
    SSL_set_connect_state(cl->ssl);
    return 0;
}

static void client_free(client *cl)
{
    SSL_free(cl->ssl);
    SSL_CTX_free(cl->ctx);
}

/* What the server produced, to the client. */
static void to_client(tls_conn *t, client *cl)
{
    const uint8_t *p;
    size_t n = tls_out(t, &p);

    if (n)
        BIO_write(cl->cin, p, (int)n);
    tls_out_done(t);
}

/* What the client produced, to the server, `step` bytes at a time; plaintext lands in got. */
static ssize_t to_server(client *cl, tls_conn *t, size_t step, tbuf *got)
{
    char *p;
    long n = BIO_get_mem_data(cl->cout, &p);
    ssize_t r = TLS_AGAIN;
    uint8_t buf[65536];

    for (long off = 0; off < n; off += (long)step) {
        size_t k = (size_t)(n - off) < step ? (size_t)(n - off) : step;
        if (tls_feed(t, (const uint8_t *)p + off, k) < 0)
            return TLS_ERR;
        while ((r = tls_read(t, buf, sizeof(buf))) > 0)
            tbuf_add(got, buf, (size_t)r);
        if (r == TLS_ERR || r == TLS_EOF)
            break;
    }
    (void)BIO_reset(cl->cout);
    return r;
}

/* Runs the handshake, feeding the server `step` bytes at a time. */
static void handshake(tls_ctx *ctx, size_t step)
{
    client cl = {0};
    tls_conn *t = tls_conn_new(ctx);
    tbuf got = {0};

    CHECK(t != NULL);
    CHECK(client_new(&cl) == 0);
    for (int i = 0; i < 10 && !(SSL_is_init_finished(cl.ssl) && tls_handshake_done(t)); i++) {
        SSL_do_handshake(cl.ssl);
        to_server(&cl, t, step, &got);
        to_client(t, &cl);
    }
    CHECK(tls_handshake_done(t));
    CHECK(SSL_is_init_finished(cl.ssl));
    const unsigned char *sel;
    unsigned sel_len;
    SSL_get0_alpn_selected(cl.ssl, &sel, &sel_len);
    CHECK_MEM(sel, sel_len, "http/1.1", 8);
    CHECK(SSL_version(cl.ssl) >= TLS1_2_VERSION);

    /* A gathered write of three pieces (a header, a payload over a record, a tail), read whole. */
    uint8_t payload[40000];
    t_rand_fill(payload, sizeof(payload));
    uv_buf_t bufs[3] = {uv_buf_init("0123456789", 10), uv_buf_init((char *)payload, 40000),
                        uv_buf_init("tail!", 5)};
    uint8_t gather[16384];
    CHECK(tls_write(t, bufs, 3, gather, sizeof(gather)) == 0);
    to_client(t, &cl);
    tbuf back = {0};
    uint8_t rb[65536];
    size_t n;
    while (SSL_read_ex(cl.ssl, rb, sizeof(rb), &n) == 1)
        tbuf_add(&back, rb, n);
    CHECK_INT(back.len, 10 + 40000 + 5);
    CHECK(memcmp(back.p, "0123456789", 10) == 0);
    CHECK(memcmp(back.p + 10, payload, 40000) == 0);
    CHECK(memcmp(back.p + 40010, "tail!", 5) == 0);
    tbuf_free(&back);

    /* Input from the client decrypted; then close_notify is EOF. */
    SSL_write_ex(cl.ssl, "GET / HTTP/1.1\r\n\r\n", 18, &n);
    CHECK_INT(to_server(&cl, t, step, &got), TLS_AGAIN);
    CHECK_MEM(got.p, got.len, "GET / HTTP/1.1\r\n\r\n", 18);
    SSL_shutdown(cl.ssl);
    CHECK_INT(to_server(&cl, t, step, &got), TLS_EOF);
    tls_close_notify(t);
    const uint8_t *p;
    CHECK(tls_out(t, &p) > 0); /* our close_notify */
    size_t off;
    free(tls_out_take(t, &off));
    CHECK_INT(tls_out(t, &p), 0);
    tbuf_free(&got);
    tls_conn_free(t);
    client_free(&cl);
}

static void test_handshake_whole(void)
{
    char err[512];
    tls_ctx *ctx = tls_ctx_load(cert_file, key_file, err, sizeof(err));

    CHECKF(ctx != NULL, "err [%s]", err);
    handshake(ctx, 1 << 20);
    tls_ctx_free(ctx);
}

static void test_handshake_bytewise(void)
{
    char err[512];
    tls_ctx *ctx = tls_ctx_load(cert_file, key_file, err, sizeof(err));

    CHECKF(ctx != NULL, "err [%s]", err);
    handshake(ctx, 1);
    tls_ctx_free(ctx);
}

/* Plain HTTP to a TLS port: an error, not a hang. */
static void test_garbage(void)
{
    char err[512];
    tls_ctx *ctx = tls_ctx_load(cert_file, key_file, err, sizeof(err));
    uint8_t buf[256];
    static const char req[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";

    CHECKF(ctx != NULL, "err [%s]", err);
    tls_conn *t = tls_conn_new(ctx);
    tls_ctx_free(ctx); /* the session keeps its own reference */
    CHECK(t != NULL);
    CHECK(tls_feed(t, (const uint8_t *)req, sizeof(req) - 1) == 0);
    CHECK_INT(tls_read(t, buf, sizeof(buf)), TLS_ERR);
    CHECK(!tls_handshake_done(t));
    tls_conn_free(t);
}

int main(void)
{
    if (make_files() < 0) {
        fprintf(stderr, "cannot make the test certificate\n");
        return 1;
    }
    RUN(test_ctx_errors);
    RUN(test_handshake_whole);
    RUN(test_handshake_bytewise);
    RUN(test_garbage);
    unlink(cert_file), unlink(key_file), unlink(other_key), rmdir(dir);
    return test_report();
}
