/* httpfstream.h -- one writer APPENDs to a file-backed resource over HTTP while any number of
 * readers FOLLOW it live: a streaming file server on a libuv loop, and a blocking client.
 *
 * Conventions (after libuv and hiredis):
 * - Every function that can fail returns 0 (HFS_OK) or one negative hfs_err code, or a negative
 * code in place of a byte count. hfs_strerror() turns any code into a message.
 * - Client calls take an optional hfs_error* that receives the code, the HTTP status or WebSocket
 * close code when there is one, and a message that names the URL (with the values of its token and
 * sig query parameters replaced by REDACTED, see hfs_redact_url). Pass NULL when the code is
 * enough.
 * - Handles are opaque. Whoever gets a handle owns it and releases it with the matching
 * _close/_free call; every release function accepts NULL.
 * - No global state: separate handles may be used from separate threads, one handle from one thread
 * at a time.
 */
#ifndef HTTPFSTREAM_H
#define HTTPFSTREAM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HFS_VERSION "0.1.0"

/* Error codes. Grouped so that a caller can test the ones it cares about and report the rest. */
typedef enum hfs_err {
    HFS_OK = 0,
    HFS_ERR_NOT_FOUND = -1, /* HTTP 404: the resource has never been written */
    HFS_ERR_CONFLICT = -2,  /* HTTP 403: the resource already has an active appender */
    HFS_ERR_HTTP = -3,      /* any other unexpected HTTP status (hfs_error.http_status), 401 and
                               403 for access control included (see hfs_client_options.token) */
    HFS_ERR_NETWORK = -4,   /* name lookup, connect, send or receive failed; the peer vanished */
    HFS_ERR_TLS = -5,       /* TLS handshake or certificate verification failed */
    HFS_ERR_PROTOCOL = -6,  /* the peer broke the HTTP or WebSocket rules */
    HFS_ERR_CLOSED = -7,   /* the server ended the WebSocket with an error (hfs_error.close_code) */
    HFS_ERR_INVALID = -8,  /* a bad argument: URL, address, option */
    HFS_ERR_NOMEM = -9,    /* out of memory */
    HFS_ERR_IO = -10,      /* local I/O failed: the input descriptor, the root directory */
    HFS_ERR_TIMEOUT = -11, /* a configured deadline passed */
} hfs_err;

/* A static, human-readable description of an hfs_err code. Never NULL. */
const char *hfs_strerror(int code);

/* Details of a failed client call. */
typedef struct hfs_error {
    int code;          /* an hfs_err value; HFS_OK when nothing failed */
    int http_status;   /* the server's HTTP status when the failure was an HTTP answer, else 0 */
    int close_code;    /* the WebSocket close code for HFS_ERR_CLOSED, else 0 */
    char message[320]; /* what failed, naming the URL */
} hfs_error;

/* ------------------------------------------------------------------------------------------------
 * Server: attaches to the caller's libuv loop.
 * ---------------------------------------------------------------------------------------------- */

struct uv_loop_s;
struct uv_stream_s;

typedef struct hfs_server hfs_server;

enum hfs_log_level {
    HFS_LOG_ERROR = 0, /* the server cannot do something it should (file write failed, ...) */
    HFS_LOG_WARN = 1,  /* a client misbehaved or a limit was hit */
    HFS_LOG_INFO = 2,  /* one line per request and per session end */
    HFS_LOG_DEBUG = 3, /* connection-level detail */
};

/* Receives one log line (no trailing newline). Called on the loop's thread. */
typedef void (*hfs_log_fn)(void *data, int level, const char *line);

/* One finished request, for structured request logs (hfs_server_options.access). Every string is
 * valid only during the call. */
typedef struct hfs_access {
    const char *client;   /* the peer, "addr:port" */
    const char *method;   /* "GET", "PUT", ... */
    const char *target;   /* the request-target as sent (at most 160 bytes, then "..."), with the
                             values of its token and sig query parameters replaced by REDACTED */
    int status;           /* the status answered (101 for a WebSocket session), 0 if none was */
    const char *role;     /* what the request did: "follow", "append", "view", "stream" */
    uint64_t bytes;       /* bytes sent to the client for this request, heads and frames included */
    uint64_t duration_us; /* from its head's arrival to its end */
} hfs_access;

/* Receives each request once it ends (its response written, or its session or connection over).
 * Called on the loop's thread, with hfs_server_options.log_data; not called when log_level is
 * below HFS_LOG_INFO. */
typedef void (*hfs_access_fn)(void *data, const hfs_access *a);

typedef struct hfs_server_options {
    const char *root;     /* directory holding the resources; must exist (copied) */
    const char *prefix;   /* URL path prefix to mount under, e.g. "/logs"; NULL or "" for "/" */
    hfs_log_fn log;       /* NULL: no logging */
    void *log_data;       /* passed to log */
    int log_level;        /* lines above this level are not produced; default HFS_LOG_INFO */
    size_t frame_max;     /* follower frame payload cap in bytes, 4 to 64 MiB; default 8192 */
    uint64_t message_max; /* appender message cap, larger ones close with 1009; default 64 MiB */
    unsigned ping_interval_ms;  /* PING idle followers this often; default 3000, 0 disables */
    unsigned dead_peer_ms;      /* TCP keepalive + user timeout: a vanished peer is dropped within
                                   about this time; default 60000, 0 leaves the kernel defaults */
    size_t tail_max;            /* recent bytes kept in memory per live resource; default 1 MiB */
    size_t target_max;          /* request-target bytes, longer ones get 414; default 8 KiB */
    size_t header_max;          /* request header bytes, more get 431; default 16 KiB */
    unsigned header_timeout_ms; /* a request head must arrive within this, else 408; default 30 s */
    unsigned
        idle_timeout_ms; /* keep-alive connections with no request close after; default 120 s */
    unsigned max_conns;  /* connections beyond this are answered 503 and closed; 0: the
                            process's open-files limit less a reserve (the default) */
    uint64_t size_max;   /* maximum resource size, appends past it end with 1009/413;
                            0: unlimited (the default) */
    int sync;            /* HFS_SYNC_NONE (default), HFS_SYNC_CLOSE or HFS_SYNC_INTERVAL */
    unsigned sync_interval_ms; /* HFS_SYNC_INTERVAL: fdatasync written resources this often */
    const char *ds_prefix;     /* URL path the Durable Streams protocol is served under (copied);
                                  default "/v1/stream/"; NULL, "" or "off": not served */
    unsigned long_poll_ms;     /* how long a Durable Streams long-poll waits; default 20000 */
    const char *auth_file;     /* access rules: one `RIGHTS PREFIX TOKEN` a line (docs/SECURITY.md,
                                  "Access control"); NULL: none (copied) */
    const char *sign_key_file; /* key of signed URLs (?expires=&rights=&sig=); NULL: none (copied).
                                  With neither file, every request is allowed, as without access
                                  control; with either, each request needs a right (read, append,
                                  delete) that a rule or a signature grants: else 401, 403 or 400 */
    hfs_access_fn access;      /* NULL (default): each request is a text line through log at
                                  HFS_LOG_INFO when it starts; set: access is called with
                                  log_data when the request ends, instead of that line */
    const char *tls_cert_file; /* PEM certificate chain for hfs_server_listen_tls (copied) */
    const char *tls_key_file;  /* PEM private key of that certificate (copied); both or neither */
    const char *store_url;     /* NULL or "": resources are files under root (the default);
                                  "nats://HOST:PORT[,nats://HOST:PORT...]" (tls://, user:pass@,
                                  token@): a NATS JetStream store that several servers share, root
                                  holding this server's local copy (docs/SCALE-OUT.md). The
                                  strings below are read by hfs_server_new only */
    int store_replicas;        /* replicas of the stream and the lease bucket; default 3 */
    unsigned lease_ms;         /* a vanished server's leases lapse after this; default 10000 */
    const char *store_creds;   /* NATS user credentials (.creds) file; NULL: none */
    const char *store_cacert;  /* CA certificates to verify NATS servers (TLS); NULL: none */
} hfs_server_options;

/* Durability policies (hfs_server_options.sync); docs/DURABILITY in docs/SECURITY.md says what each
 * guarantees after a crash or a power loss. */
enum hfs_sync {
    HFS_SYNC_NONE = 0,     /* bytes are in the file (page cache) when accepted: survive a crash of
                              the server, not a power loss */
    HFS_SYNC_CLOSE = 1,    /* and fdatasync before an ended session is acknowledged */
    HFS_SYNC_INTERVAL = 2, /* and fdatasync of live resources every sync_interval_ms */
};

/* Fills o with the defaults above (root NULL). */
void hfs_server_options_init(hfs_server_options *o);

/* Creates a server on loop. Returns HFS_OK and sets *out, or HFS_ERR_INVALID (bad option, or an
 * auth_file or sign_key_file that cannot be read or has a bad line: the reason is logged at
 * HFS_LOG_ERROR), HFS_ERR_IO (root cannot be opened), HFS_ERR_NOMEM. The loop must outlive the
 * server. */
int hfs_server_new(struct uv_loop_s *loop, const hfs_server_options *o, hfs_server **out);

/* Reads the access rules (auth_file) and the signing key (sign_key_file) again, as given to
 * hfs_server_new: requests from then on are decided by the new ones; requests already admitted
 * (a follower streaming, an appender appending) go on. Call on the loop's thread (from a SIGHUP
 * handler, say). Returns HFS_OK (the new rules are in place, or there are no files to read: nothing
 * changes, and the log says so), or HFS_ERR_INVALID: a file cannot be read or a line is bad; the
 * old rules stay and "FILE:LINE: why" (or "FILE: why") is logged at HFS_LOG_ERROR.
 * The TLS certificate and key (tls_cert_file, tls_key_file) are read again likewise: connections
 * from then on get the new ones, open connections go on undisturbed; when they cannot be loaded
 * the old ones stay, the reason is logged, and the result is HFS_ERR_INVALID. */
int hfs_server_reload(hfs_server *s);

/* Listens on addr: ":8080" (all interfaces), "127.0.0.1:8080", "[::1]:8080", "localhost:8080";
 * port 0 picks a free one (see hfs_server_port). May be called more than once.
 * Returns HFS_OK, HFS_ERR_INVALID (unparsable address) or HFS_ERR_NETWORK (bind/listen failed). */
int hfs_server_listen(hfs_server *s, const char *addr);

/* Listens on fd, a bound TCP socket (IPv4 or IPv6) the caller hands over (one systemd passed, say:
 * socket activation); the server owns fd from here on, even on failure. Returns HFS_OK, or
 * HFS_ERR_INVALID (fd is not a TCP socket), HFS_ERR_NETWORK (listen failed), HFS_ERR_NOMEM; the
 * reason is logged. */
int hfs_server_listen_fd(hfs_server *s, int fd);

/* As hfs_server_listen, but every connection accepted there speaks TLS (1.2 or later, ALPN
 * http/1.1: https:// and wss://) with the certificate of tls_cert_file and tls_key_file.
 * Returns HFS_ERR_INVALID when the server has no certificate, else as hfs_server_listen. */
int hfs_server_listen_tls(hfs_server *s, const char *addr);

/* As hfs_server_listen_fd, but over TLS as hfs_server_listen_tls (HFS_ERR_INVALID, fd closed,
 * when the server has no certificate). */
int hfs_server_listen_tls_fd(hfs_server *s, int fd);

/* The port of the most recent successful hfs_server_listen, hfs_server_listen_fd,
 * hfs_server_listen_tls or hfs_server_listen_tls_fd, or 0. */
int hfs_server_port(const hfs_server *s);

/* Monitoring (docs/OPERATIONS.md, "Prometheus"). Listens on addr (as hfs_server_listen) for
 * monitoring only, never for resources: GET /metrics answers hfs_server_metrics's text
 * (Content-Type text/plain; version=0.0.4), GET /healthz "200 ok" while hfs_server_healthy, else
 * 503; any other path 404, any other method 405. A graceful shutdown keeps this listener (and
 * /healthz answering 503) until the server closes; its connections do not hold the shutdown up.
 * Scrapes are not counted in httpfstream_requests_total. May be called more than once.
 * Returns HFS_OK, HFS_ERR_INVALID or HFS_ERR_NETWORK. */
int hfs_server_listen_metrics(hfs_server *s, const char *addr);

/* The port of the most recent successful hfs_server_listen_metrics, or 0. */
int hfs_server_metrics_port(const hfs_server *s);

/* The server's metrics now, in the Prometheus text exposition format 0.0.4, every name prefixed
 * httpfstream_: *out (malloc'd, not NUL-terminated; the caller frees it) and *len. Call on the
 * loop's thread. Returns HFS_OK, or HFS_ERR_NOMEM (*out NULL). */
int hfs_server_metrics(hfs_server *s, char **out, size_t *len);

/* 1 while the server serves: not shutting down, and its root still a directory it can write and
 * search; else 0. */
int hfs_server_healthy(hfs_server *s);

/* Serves a connection the caller accepted: call from the caller's own uv_connection_cb.
 * Returns HFS_OK, or HFS_ERR_NETWORK when uv_accept fails, HFS_ERR_NOMEM. */
int hfs_server_accept(hfs_server *s, struct uv_stream_s *listener);

/* Serves an already connected TCP socket; the server owns fd from here on, even on failure. */
int hfs_server_adopt_fd(hfs_server *s, int fd);

typedef void (*hfs_server_close_cb)(hfs_server *s, void *data);

/* Graceful stop: stops listening and accepting, ends every appender session (CLOSE 1001; every byte
 * the server had read is in the file), lets each follower receive what is in the file and then
 * closes it with CLOSE 1001, finishes responses in progress, and closes idle connections. When the
 * last connection is gone, or after timeout_ms (0: no limit), it continues as hfs_server_close.
 * cb (may be NULL) runs once everything is released. Calling hfs_server_close meanwhile cuts the
 * wait short. */
void hfs_server_shutdown(hfs_server *s, unsigned timeout_ms, hfs_server_close_cb cb, void *data);

/* Stops listening, ends every connection at once (followers get CLOSE 1001, appenders keep every
 * byte they had sent that the server had read) and frees the server. cb (may be NULL) runs on the
 * loop once everything is released; s is invalid after that. */
void hfs_server_close(hfs_server *s, hfs_server_close_cb cb, void *data);

/* ------------------------------------------------------------------------------------------------
 * Client: blocking calls over plain sockets, TLS for https:// URLs.
 * ---------------------------------------------------------------------------------------------- */

/* Where a follow starts (hfs_client_options.from). */
enum hfs_from {
    HFS_FROM_START = 0,  /* the first byte (the default) */
    HFS_FROM_OFFSET = 1, /* byte from_n */
    HFS_FROM_END = 2,    /* from_n bytes before the end */
    HFS_FROM_NOW = 3,    /* only bytes appended from now on */
    HFS_FROM_LINES = 4,  /* the last from_n lines */
};

/* Reports how far a transfer has got (hfs_client_options.progress): the bytes hfs_append has sent,
 * or hfs_reader_read has handed out, so far. */
typedef void (*hfs_progress_fn)(void *data, uint64_t bytes);

typedef struct hfs_client_options {
    const char *ca_file; /* PEM file of trusted CAs for https; NULL: the system's default store */
    int insecure;        /* 1: do not verify the server certificate (testing only) */
    int connect_timeout_ms;   /* 0: the system's default */
    int binary;               /* follow: ask for BINARY frames (frames=binary) */
    int from;                 /* follow: enum hfs_from; done by the client when the server does not
                                 take it (see hfs_follow) */
    uint64_t from_n;          /* follow: the offset, bytes or lines `from` refers to */
    int wait;                 /* follow: wait for a resource that has not been written yet; a server
                                 that answers 404 instead is asked again, 100 ms doubling to 2 s
                                 apart, for as long as it takes */
    unsigned resume;          /* follow: after a dropped connection or a server shutdown (CLOSE
                                 1001), reconnect and go on from the next byte, up to this many
                                 times in a row (0: never). Only against servers that report offsets
                                 (X-Follow-Offset): never a byte twice */
    hfs_progress_fn progress; /* NULL: none. Called from inside hfs_append and hfs_reader_read, on
                                 their thread, at most every progress_ms: as bytes move, and while
                                 they wait for bytes */
    void *progress_data;      /* passed to progress */
    unsigned progress_ms;     /* 0: 250 */
    const char *token;        /* a bearer token, sent as "Authorization: Bearer TOKEN" with every
                                 request (see "Access control" below); NULL: none. A follow copies
                                 it for its reconnects */
} hfs_client_options;

/* Fills o with the defaults: verify certificates against the system store, no timeout, TEXT, no
 * token. */
void hfs_client_options_init(hfs_client_options *o);

/* Access control. A server may ask for a credential. The client presents one in either of two ways,
 * or both:
 * - opts.token: every request the client makes (the WebSocket handshakes of hfs_follow and
 *   hfs_open_append, the plain GET of hfs_size, each ?wait poll and each resume's reconnect) sends
 *   "Authorization: Bearer TOKEN". A token is 1 to 4096 visible ASCII characters (no space, CR, LF
 *   or other control); any other is refused with HFS_ERR_INVALID before anything is sent.
 * - the URL: a "?token=TOKEN" parameter, or a signed URL's "expires", "rights" and "sig". The URL's
 *   query is sent exactly as given, and the client's own parameters (frames=, offset=, lines=,
 *   wait) go after it, on every request, reconnects included.
 * A server that wants a credential and got none, or does not know the one given, answers 401: the
 * call fails with HFS_ERR_HTTP, http_status 401 and a message with "401 unauthorized: ...". A
 * known credential without the right (reading, appending to that path), or a signed URL that is
 * wrong or has expired, is 403: HFS_ERR_HTTP, http_status 403, "403 forbidden: ...". A 403 whose
 * body says the path "already has an active writer" stays HFS_ERR_CONFLICT. A follow whose
 * reconnect (opts.resume) is answered 401 or 403 ends with that error. The server's one-line reason
 * ends the message when it gave one. Tokens are never put in messages. */

/* Copies url into out (cap bytes, NUL-terminated, truncated to fit) with the values of its token
 * and sig query parameters (names compared after percent-decoding, case ignored) replaced by
 * REDACTED, for messages and logs: "http://h/a?expires=9&rights=read&sig=REDACTED". Returns the
 * length of the whole copy, as snprintf does (cap 0 only counts). */
size_t hfs_redact_url(const char *url, char *out, size_t cap);

typedef struct hfs_reader hfs_reader;
typedef struct hfs_writer hfs_writer;

/* Starts following url ("http://host[:port]/path" or "https://..."). opts may be NULL.
 * Returns HFS_OK and sets *out, or HFS_ERR_NOT_FOUND, HFS_ERR_HTTP (401 and 403: see "Access
 * control"), HFS_ERR_NETWORK, HFS_ERR_TLS, HFS_ERR_PROTOCOL, HFS_ERR_INVALID, HFS_ERR_NOMEM
 * (details in *err when err is not NULL).
 * A resource with no active appender is read whole from the HTTP 200 body.
 *
 * A start other than HFS_FROM_START (opts.from) is asked of the server. One that does not say where
 * its stream starts (no X-Follow-Offset, like the original) sends the resource from its first
 * byte, and the reader honours the start itself: it drops the bytes before an offset; for bytes or
 * lines before the end, or now, it takes the end from the 200's Content-Length, or for a live
 * stream asks the resource's size once (hfs_size) and counts back from that size, keeping at most
 * the last 64 MiB to find the last lines. If that size cannot be had, it fails with
 * HFS_ERR_PROTOCOL rather than start elsewhere. A start past the end fails with HFS_ERR_HTTP and
 * http_status 416, as from a server that takes offsets (found by hfs_reader_read when the stream
 * ends short of it, if the size was not known before). */
int hfs_follow(const char *url, const hfs_client_options *opts, hfs_reader **out, hfs_error *err);

/* Blocks until bytes arrive. Returns how many were copied into buf (1..len), 0 at the end of the
 * stream (the appender left and every byte was read), or a negative hfs_err code (details from
 * hfs_reader_error). After 0 or an error every further call returns the same. */
ssize_t hfs_reader_read(hfs_reader *r, void *buf, size_t len);

/* The details of the last failure of r (code HFS_OK if none). Valid until hfs_reader_close. */
const hfs_error *hfs_reader_error(const hfs_reader *r);

/* Total bytes delivered by hfs_reader_read so far. */
uint64_t hfs_reader_bytes(const hfs_reader *r);

/* The resource offset of the next byte hfs_reader_read will deliver: where the follow started plus
 * the bytes delivered. UINT64_MAX while that is not known (a start counted back from an end not
 * reached yet). */
uint64_t hfs_reader_offset(const hfs_reader *r);

/* The resource's size as far as r knows it, UINT64_MAX when it does not: for a resource with no
 * appender (read from an HTTP 200 with a length), where its bytes end; for a live stream, its size
 * when the follow started if r had to ask for it (see hfs_follow). */
uint64_t hfs_reader_size(const hfs_reader *r);

/* Ends the follow (a clean CLOSE when the stream is still open) and frees r. */
void hfs_reader_close(hfs_reader *r);

/* The size of the resource at url now, asked with a plain GET of its first byte
 * (Range: bytes=0-0), which any static file server answers, the original included. Returns HFS_OK
 * with *size set, or HFS_ERR_NOT_FOUND, HFS_ERR_HTTP, HFS_ERR_PROTOCOL (the answer did not tell the
 * size), HFS_ERR_NETWORK, HFS_ERR_TLS, HFS_ERR_TIMEOUT (10 s unless opts sets a timeout),
 * HFS_ERR_INVALID, HFS_ERR_NOMEM. */
int hfs_size(const char *url, const hfs_client_options *opts, uint64_t *size, hfs_error *err);

/* Opens url for appending. Returns HFS_OK and sets *out, or HFS_ERR_CONFLICT (another appender is
 * active), HFS_ERR_HTTP (401 and 403: see "Access control"), HFS_ERR_NETWORK, HFS_ERR_TLS,
 * HFS_ERR_PROTOCOL, HFS_ERR_INVALID, HFS_ERR_NOMEM. */
int hfs_open_append(const char *url, const hfs_client_options *opts, hfs_writer **out,
                    hfs_error *err);

/* Sends len bytes as one message; they are in the resource once the server has read them.
 * Returns HFS_OK, or HFS_ERR_NETWORK, HFS_ERR_TLS, HFS_ERR_CLOSED (the server ended the session,
 * e.g. close code 1009 for a message over its limit). Details from hfs_writer_error. */
int hfs_writer_write(hfs_writer *w, const void *buf, size_t len);

/* The details of the last failure of w (code HFS_OK if none). */
const hfs_error *hfs_writer_error(const hfs_writer *w);

/* Ends the session with CLOSE 1000, waits briefly for the server's CLOSE, and frees w.
 * Returns HFS_OK or the first error seen (details in *err when not NULL). */
int hfs_writer_close(hfs_writer *w, hfs_error *err);

/* Appends everything read from fd until EOF, sending bytes as soon as they can be read (a line
 * typed at a terminal goes out at once). Stores the byte count in *sent when not NULL. Reports to
 * opts.progress while it runs. Returns as hfs_open_append and hfs_writer_write, or HFS_ERR_IO when
 * reading fd fails. */
int hfs_append(const char *url, int fd, const hfs_client_options *opts, uint64_t *sent,
               hfs_error *err);

#ifdef __cplusplus
}
#endif
#endif /* HTTPFSTREAM_H */
