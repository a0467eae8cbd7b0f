/* conn.h -- one client connection: TCP with an optional deadline, TLS (OpenSSL) for https, and
 * blocking read/write helpers built on a non-blocking socket and poll(). Never raises SIGPIPE. */
#ifndef HFS_CLIENT_CONN_H
#define HFS_CLIENT_CONN_H

#include <stdint.h>
#include <sys/types.h>

#include "client/url.h"
#include "httpfstream.h"

#define CLI_NO_DEADLINE ((int64_t)-1)

typedef struct cli_conn cli_conn;

/* Milliseconds on the monotonic clock. */
int64_t cli_now_ms(void);

/* The deadline timeout_ms from now, or CLI_NO_DEADLINE when timeout_ms <= 0. */
int64_t cli_deadline_in(int timeout_ms);

/* Connects to u (every address getaddrinfo gives, in order), then runs the TLS handshake for https
 * with the verification settings of o. Returns HFS_OK and sets *out, or HFS_ERR_NETWORK,
 * HFS_ERR_TLS, HFS_ERR_TIMEOUT (deadline passed), HFS_ERR_INVALID (unreadable ca_file),
 * HFS_ERR_NOMEM, with details in *err. */
int cli_conn_open(cli_conn **out, const cli_url *u, const hfs_client_options *o, int64_t deadline,
                  hfs_error *err);

/* Reads up to len bytes. Returns the count (> 0), 0 at the end of the stream, HFS_ERR_TIMEOUT when
 * deadline passes first (a deadline of now or earlier only takes what is already there; *err is
 * left alone then), or HFS_ERR_NETWORK / HFS_ERR_TLS with details in *err. */
ssize_t cli_conn_read(cli_conn *c, void *buf, size_t len, int64_t deadline, hfs_error *err);

/* Writes all len bytes, waiting for the socket until deadline (CLI_NO_DEADLINE: as long as it
 * takes). Returns HFS_OK, HFS_ERR_TIMEOUT, HFS_ERR_NETWORK or HFS_ERR_TLS, with details in *err. */
int cli_conn_write(cli_conn *c, const void *buf, size_t len, int64_t deadline, hfs_error *err);

/* The socket, for poll(). */
int cli_conn_fd(const cli_conn *c);

/* 1 when bytes are already decrypted and readable without waiting on the socket. */
int cli_conn_has_buffered(const cli_conn *c);

/* Closes the connection and frees c (NULL is fine). With clean, a TLS session is ended with
 * close_notify first (best effort, never blocks). */
void cli_conn_close(cli_conn *c, int clean);

#endif
