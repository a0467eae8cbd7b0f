/* tls.h -- TLS for server connections, with OpenSSL over memory BIOs: no I/O here. conn.c reads
 * ciphertext from the socket and feeds it in (tls_feed), takes plaintext out (tls_read), and
 * sends whatever ciphertext the session produced (tls_out, tls_out_done) with its usual
 * try-write-then-queue writes. A write of many pieces is gathered and encrypted with one SSL_write
 * (tls_write): one record set per follower batch, not one per frame.
 *
 * A context (tls_ctx) holds the certificate and key; each connection's session keeps a reference
 * to the one it started with, so a reload (a new context in the server) leaves open connections as
 * they are and gives new ones the new certificate. */
#ifndef HFS_SERVER_TLS_H
#define HFS_SERVER_TLS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

typedef struct ssl_ctx_st tls_ctx; /* OpenSSL's SSL_CTX */
typedef struct tls_conn tls_conn;

/* Results of tls_read besides a byte count. */
#define TLS_AGAIN 0  /* nothing more until more ciphertext arrives */
#define TLS_EOF   -1 /* the peer sent close_notify */
#define TLS_ERR   -2 /* handshake or record failure: close the connection */

/* Loads a certificate chain (PEM) and its private key into a new context: TLS 1.2 and later,
 * ALPN http/1.1. NULL on failure, with the reason in err. */
tls_ctx *tls_ctx_load(const char *cert_file, const char *key_file, char *err, size_t errlen);
void tls_ctx_free(tls_ctx *ctx); /* accepts NULL; sessions made from it keep it alive */

tls_conn *tls_conn_new(tls_ctx *ctx); /* a server-side session; NULL when out of memory */
void tls_conn_free(tls_conn *t);      /* accepts NULL */

/* Takes n ciphertext bytes read from the socket (copied). 0, or -1 out of memory. */
int tls_feed(tls_conn *t, const uint8_t *p, size_t n);
/* Advances the handshake, then decrypts into out[0..cap): the byte count, or TLS_AGAIN, TLS_EOF,
 * TLS_ERR. May produce ciphertext to send (handshake messages, tickets, alerts): see tls_out. */
ssize_t tls_read(tls_conn *t, uint8_t *out, size_t cap);
int tls_handshake_done(const tls_conn *t);
/* Encrypts the pieces, gathered through buf[0..cap) (a multiple of 16 KiB, the record size) so that
 * records are full and a frame header never gets one of its own. 0, or -1. */
int tls_write(tls_conn *t, const uv_buf_t *bufs, unsigned n, uint8_t *buf, size_t cap);
/* Queues close_notify. */
void tls_close_notify(tls_conn *t);
/* The ciphertext waiting to be sent: *p and its length (0 when none). Valid until tls_out_done,
 * which discards all of it: the caller has sent or copied it. */
size_t tls_out(tls_conn *t, const uint8_t **p);
void tls_out_done(tls_conn *t);
/* Hands the output buffer over instead: returns it (free() it once sent; the ciphertext starts
 * `*off` bytes in) and leaves the session an empty one. */
uint8_t *tls_out_take(tls_conn *t, size_t *off);
/* Whether this kernel offers TLS offload (the `tls` TCP upper layer, kernel TLS): 1 yes, 0 no (no
 * tls module), -1 unknown. A probe, not a use: sessions here always encrypt in user space
 * (docs/PERFORMANCE.md, "Kernel TLS"). */
int tls_kernel_available(void);
/* The last error, for a log line (clears OpenSSL's queue). */
const char *tls_error(char *buf, size_t len);

#endif /* HFS_SERVER_TLS_H */
