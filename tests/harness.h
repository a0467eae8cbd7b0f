/* harness.h -- the test harness: assertions that count failures, a runner, and helpers to start the
 * real server binary and talk to it over raw sockets. Every test binary links tests/harness.c.
 *
 * Prefixes: t_ (time, random, files, TCP), tbuf_ (byte buffers), tsrv_ (a spawned
 * httpfstream-server), thttp_ (raw HTTP/1.1), tws_ (a raw WebSocket peer in the client role).
 * They never clash with the library's own names (srv_, http_, ws_ ...).
 *
 * Safety nets: every test runs under an alarm() watchdog (HFS_TEST_TIMEOUT seconds, default 90);
 * servers a test starts and leaves running are stopped (and checked) when it returns; servers
 * started outside a test live until tsrv_stop or exit; SIGINT, SIGTERM, SIGALRM and exit() kill
 * whatever servers are still registered. test_report also fails on checks failed outside tests.
 *
 * Environment: HFS_BIN (folder of httpfstream-server, default build/bin), HFS_SEED (repeat a
 * random run), HFS_KEEP (keep every server's temp dir), HFS_TEST_TIMEOUT (watchdog seconds),
 * HFS_TEST (run only the test functions whose name contains it). */
#ifndef HFS_TEST_HARNESS_H
#define HFS_TEST_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

#include "ws/ws.h"

extern int test_failures;        /* failed checks in this binary */
extern const char *test_current; /* name of the running test */

/* Counts a failure and prints it. Safe to call from several threads. */
void test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Each CHECK returns from the enclosing void test function on failure. */
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            test_fail(__FILE__, __LINE__, "%s", #cond);                                            \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#define CHECK_INT(a, b)                                                                            \
    do {                                                                                           \
        long long a_ = (long long)(a), b_ = (long long)(b);                                        \
        if (a_ != b_) {                                                                            \
            test_fail(__FILE__, __LINE__, "%s == %s: %lld != %lld", #a, #b, a_, b_);               \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#define CHECK_STR(a, b)                                                                            \
    do {                                                                                           \
        const char *a_ = (a), *b_ = (b);                                                           \
        if (!a_ || !b_ || strcmp(a_, b_) != 0) {                                                   \
            test_fail(__FILE__, __LINE__, "%s == %s: \"%s\" != \"%s\"", #a, #b,                    \
                      a_ ? a_ : "(null)", b_ ? b_ : "(null)");                                     \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#define CHECK_MEM(a, alen, b, blen)                                                                \
    do {                                                                                           \
        size_t al_ = (alen), bl_ = (blen);                                                         \
        if (al_ != bl_ || memcmp((a), (b), al_) != 0) {                                            \
            test_fail(__FILE__, __LINE__, "%s (%zu bytes) != %s (%zu bytes)", #a, al_, #b, bl_);   \
            return;                                                                                \
        }                                                                                          \
    } while (0)

/* Like CHECK, with a printf-style explanation of what was seen. */
#define CHECKF(cond, ...)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            test_fail_why(__FILE__, __LINE__, #cond, __VA_ARGS__);                                 \
            return;                                                                                \
        }                                                                                          \
    } while (0)

/* Like CHECKF but carries on: for tables of cases, so that every failing case is reported. */
#define EXPECTF(cond, ...)                                                                         \
    do {                                                                                           \
        if (!(cond))                                                                               \
            test_fail_why(__FILE__, __LINE__, #cond, __VA_ARGS__);                                 \
    } while (0)

/* test_fail for CHECKF: "cond: explanation". */
void test_fail_why(const char *file, int line, const char *cond, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Runs one test function and reports it. */
#define RUN(fn) test_run(#fn, fn)
void test_run(const char *name, void (*fn)(void));

/* Prints the summary; returns the process exit status (0 when every check passed). */
int test_report(void);

/* ---- time, randomness, files ------------------------------------------------------------------
 */

int64_t t_now_ms(void);
void t_sleep_ms(int ms);

/* A deterministic generator seeded once from HFS_SEED (printed as "# seed N"), else from the
 * clock. Thread-safe. */
uint64_t t_rand(void);
size_t t_rand_range(size_t lo, size_t hi); /* lo..hi inclusive */
void t_rand_fill(void *p, size_t n);

/* A growable byte buffer; zero-initialise it. */
typedef struct tbuf {
    uint8_t *p;
    size_t len, cap;
} tbuf;
void tbuf_add(tbuf *b, const void *p, size_t n);
void tbuf_adds(tbuf *b, const char *s);
void tbuf_free(tbuf *b);

/* Reads a whole file into out (replacing its contents). Returns 0, or -1 (errno set). */
int t_file_read(const char *path, tbuf *out);
/* Creates or replaces path with n bytes, mode 0644. Returns 0 or -1. */
int t_file_write(const char *path, const void *p, size_t n);
int t_exists(const char *path); /* lstat succeeds */
/* Polls until the file holds exactly p[0..n) (1) or timeout_ms passes (0). */
int t_file_wait_eq(const char *path, const void *p, size_t n, int timeout_ms);
/* Number of entries (recursively, files and directories) below dir; -1 if unreadable. */
int t_tree_count(const char *dir);
void t_rm_rf(const char *path);
/* A thread-local printf into one of 16 rotating buffers (2 KiB each): for building paths and
 * messages used at once. The result is overwritten by the 16th later call on the same thread
 * (thttp_header, tsrv_url and tsrv_path use them too): copy what must live longer. */
const char *t_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* memmem that tolerates NULL/empty. */
int t_contains(const void *hay, size_t n, const char *needle);

/* ---- the server binary ------------------------------------------------------------------------
 */

#define TSRV_MAX_FLAGS 16

typedef struct tsrv {
    pid_t pid;      /* 0 when not running */
    int port;       /* 127.0.0.1 port it listens on */
    char dir[256];  /* a fresh temp dir: holds root/, server.log, and files outside the root */
    char root[300]; /* dir/root: the server's -root */
    char log[300];  /* dir/server.log: its stderr and stdout */
    char base[64];  /* "http://127.0.0.1:PORT" */
    char *flags[TSRV_MAX_FLAGS + 1];
    int died;   /* it exited without being asked (seen by tsrv_alive): a failure at tsrv_stop */
    int termed; /* SIGTERM already sent (tsrv_term) */
    /* resource limits set in the child before exec (and again on restart); 0: inherited */
    unsigned long long rlimit_fsize, rlimit_nofile;
} tsrv;

/* Starts $HFS_BIN/httpfstream-server (HFS_BIN defaults to build/bin) on 127.0.0.1:0 with a fresh
 * root and the NULL-terminated extra flags (NULL for none). Returns NULL after counting a failure
 * when it does not come up within 10 s. */
tsrv *tsrv_start(const char *const *extra_flags);

/* tsrv_start with RLIMIT_FSIZE and RLIMIT_NOFILE (soft and hard) set in the server process before
 * exec; 0 leaves a limit as the test's. The server ignores SIGXFSZ, so writes past fsize fail with
 * EFBIG. */
tsrv *tsrv_start_rlimits(const char *const *extra_flags, unsigned long long fsize,
                         unsigned long long nofile);

/* Runs the server binary in the foreground on a scratch root and 127.0.0.1:0 with the
 * NULL-terminated flags, output discarded, for flags that must make it exit (usage errors). Returns
 * its wait status, or -1 when it was still running after timeout_ms (it is then killed). */
int tsrv_run_status(const char *const *flags, int timeout_ms);

/* SIGTERM, wait up to 10 s; counts a failure unless it exited 0 with no "Sanitizer" or
 * "runtime error" in its log. Frees s and (on success) its temp dir. Returns 0 or -1. NULL is ok.
 */
int tsrv_stop(tsrv *s);

/* Sends SIGTERM now (tsrv_stop then only waits and checks). */
void tsrv_term(tsrv *s);

/* SIGKILL and reap; s stays valid for tsrv_restart. */
void tsrv_kill9(tsrv *s);

/* Starts the binary again on the same root, port and flags (after tsrv_kill9 or a crash).
 * Returns 0, or -1 after counting a failure. */
int tsrv_restart(tsrv *s);

/* 1 while the process has not exited. */
int tsrv_alive(tsrv *s);

/* Waits up to timeout_ms for the process to exit (after signals the test sent itself) and reaps it:
 * returns its wait status, or -1 when it is still running. An exit seen here is not counted as
 * dying by itself; tsrv_stop afterwards only checks the log and cleans up. */
int tsrv_wait_exit(tsrv *s, int timeout_ms);

/* Stops (and checks) every registered server. */
void tsrv_stop_all(void);

/* base + path and root + path, in t_fmt buffers. */
const char *tsrv_url(const tsrv *s, const char *path);
const char *tsrv_path(const tsrv *s, const char *path);
/* 1 when the log holds needle. */
int tsrv_log_has(const tsrv *s, const char *needle);

/* ---- other processes ------------------------------------------------------------------------
 */

/* CPU time (user + system) a process has used so far, in seconds, from /proc/PID/stat; -1 when
 * unreadable. */
double t_proc_cpu_s(pid_t pid);
/* Open file descriptors of a process (entries of /proc/PID/fd); -1 when unreadable. */
int t_proc_fd_count(pid_t pid);
/* A "Vm...:" line of /proc/PID/status (field "VmRSS", "VmHWM" ...) in KiB; -1 when unreadable. */
long t_proc_status_kb(pid_t pid, const char *field);

/* ---- raw TCP ----------------------------------------------------------------------------------
 */

#define T_TIMEOUT 5000 /* ms: the default for single reads and handshakes */

/* Connects to 127.0.0.1:port (TCP_NODELAY); -1 on failure. rcvbuf > 0 sets SO_RCVBUF first. */
int t_connect(int port);
int t_connect_rcvbuf(int port, int rcvbuf);
/* Sends everything (MSG_NOSIGNAL); 0, or -1 when the peer is gone. */
int t_send_all(int fd, const void *p, size_t n);
int t_send_str(int fd, const char *s);
/* One recv with a timeout: > 0 bytes, 0 at EOF, -1 on error (reset), -2 on timeout. */
ssize_t t_recv(int fd, void *buf, size_t len, int timeout_ms);
/* Reads and discards until EOF or reset (returns 1) or timeout (0). */
int t_wait_eof(int fd, int timeout_ms);
/* Closes with an RST (SO_LINGER 0). */
void t_close_rst(int fd);
/* A port nothing listens on (bound, then closed). */
int t_closed_port(void);

/* ---- raw HTTP/1.1 -----------------------------------------------------------------------------
 */

#define THTTP_HEAD_MAX 16384

typedef struct thttp_resp {
    int status;                    /* 0 when no complete response head arrived */
    char head[THTTP_HEAD_MAX + 1]; /* status line and headers, NUL-terminated */
    size_t head_len;               /* including the blank line */
    tbuf body;                     /* decoded body; for 101 the bytes that followed the head */
    int eof;                       /* the connection was closed by the server while reading */
} thttp_resp;

/* Reads one response from fd. head_only: a reply to HEAD: no body whatever the headers say, and
 * whatever arrives until EOF is put in body (so send Connection: close; a correct server sends
 * nothing). Other bodies are read by Content-Length, chunked, or until EOF; for 1xx, 204 and 304
 * body holds the bytes that came with the head (101: the first frames).
 * Returns 0, or -1 when no complete head arrived (closed or timeout; status is 0). */
int thttp_read(int fd, thttp_resp *r, int head_only, int timeout_ms);

/* Sends raw request bytes on a new connection and reads one response (then closes). head_only as
 * above. Returns as thttp_read, or -1 when connect fails. */
int thttp_raw(int port, const void *req, size_t len, thttp_resp *r, int head_only);

/* method path HTTP/1.1 with Host and Connection: close, plus extra_headers (each ending "\r\n",
 * may be NULL). */
int thttp_req(int port, const char *method, const char *path, const char *extra_headers,
              thttp_resp *r);
int thttp_get(int port, const char *path, const char *extra_headers, thttp_resp *r);

/* A header's value (first occurrence, case-insensitive name, trimmed) in a t_fmt buffer, or NULL.
 */
const char *thttp_header(const thttp_resp *r, const char *name);
int thttp_header_count(const thttp_resp *r, const char *name);
void thttp_free(thttp_resp *r);
/* 1 when the head or body contains needle. */
int thttp_contains(const thttp_resp *r, const char *needle);

/* ---- an HTTP response read as it streams (chunked or close-delimited) --------------------------
 */

/* A response whose body is decoded as it arrives, checking the chunked framing on the way. */
typedef struct ths {
    int fd;
    thttp_resp r; /* the head (status, headers); r.body is unused */
    tbuf in;      /* bytes after the head not decoded yet: in[pos..len) */
    size_t pos;
    int chunked;
    int done;      /* the body is complete: terminal chunk (chunked) or EOF (close-delimited) */
    int eof;       /* the server closed the connection */
    size_t chunks; /* data chunks decoded */
    tbuf body;     /* the decoded body so far */
    char err[200]; /* the first framing violation; "" when none */
} ths;

/* Sends method path HTTP/1.minor (Host, then headers, each ending "\r\n", may be NULL) on a new
 * connection and reads the response head. Returns the stream (r.status 0 when no head came) or
 * NULL when the connection failed. rcvbuf > 0 sets SO_RCVBUF (a slow reader). */
ths *ths_request_rcvbuf(int port, const char *method, const char *path, const char *headers,
                        int minor, int rcvbuf);
ths *ths_request(int port, const char *method, const char *path, const char *headers, int minor);
ths *ths_get(int port, const char *path, const char *headers); /* GET, HTTP/1.1 */
/* Reads once (up to timeout_ms). Returns 1 when bytes came, 0 on timeout, -1 at EOF. */
int ths_pump(ths *h, int timeout_ms);
/* Reads until the body holds at least want bytes. Returns 1, or 0 (timeout, end, violation). */
int ths_until(ths *h, size_t want, int timeout_ms);
/* Reads until the body has ended and the server closed the connection. Returns 1, or 0. */
int ths_end(ths *h, int timeout_ms);
/* 1 when nothing at all arrives (no byte, no end) for ms. */
int ths_quiet(ths *h, int ms);
const char *ths_header(ths *h, const char *name);
void ths_free(ths *h); /* NULL is ok */

/* ---- raw WebSocket peer (client role) ---------------------------------------------------------
 */

enum {
    TWS_EOF = -1,     /* the server closed the TCP connection (or reset it) */
    TWS_TIMEOUT = -2, /* nothing complete arrived in time */
    TWS_ERROR = -3,   /* the server sent a frame that breaks RFC 6455 (see frame.reason) */
};

typedef struct tws_frame {
    int type;            /* WS_EV_DATA, WS_EV_PING, WS_EV_PONG, WS_EV_CLOSE or a TWS_ value */
    unsigned opcode;     /* DATA: WS_OP_TEXT or WS_OP_BINARY (the message's opcode) */
    int fin;             /* DATA: this frame ends its message */
    unsigned close_code; /* CLOSE: the code (1005 when none) */
    const uint8_t *data; /* payload, valid until the next read on this peer */
    size_t len;
    const char *reason; /* TWS_ERROR: why */
} tws_frame;

typedef struct tws {
    int fd;
    ws_decoder dec;
    uint8_t *buf; /* bytes received, not yet decoded: buf[start..end) */
    size_t cap, start, end;
    tbuf frame; /* payload of the frame being assembled or last returned */
    int eof;
    int returned; /* the last tws_read returned the frame in `frame` */
} tws;

/* Sends a WebSocket handshake for path (GET, random key, version 13) plus extra_headers and reads
 * the answer into resp (may be NULL). On 101 checks Upgrade, Connection and Sec-WebSocket-Accept
 * (counting a failure when they are wrong) and returns the peer; any other status returns NULL
 * with the response (and body) in resp. */
tws *tws_connect(int port, const char *path, const char *extra_headers, thttp_resp *resp);
/* Shorthands: X-Verb: APPEND, and no verb. */
tws *tws_append(int port, const char *path);
tws *tws_follow(int port, const char *path);
/* Same, on a socket with a small SO_RCVBUF (a reader that falls behind quickly). */
tws *tws_connect_rcvbuf(int port, const char *path, const char *extra_headers, thttp_resp *resp,
                        int rcvbuf);

/* Sends one masked frame (random key). Returns 0 or -1. */
int tws_send(tws *w, unsigned opcode, int fin, const void *p, size_t len);
int tws_send_text(tws *w, const char *s);
/* Sends a CLOSE with code (0: empty payload). */
int tws_send_close(tws *w, unsigned code);
/* Sends any frame: b0 is the first header byte as is (FIN, RSV, opcode), masked or not, any
 * length (control frames too): for deliberately broken frames. */
int tws_send_raw(tws *w, uint8_t b0, int masked, const void *p, size_t len);

/* Reads the next complete frame from the server. Returns f->type. */
int tws_read(tws *w, tws_frame *f, int timeout_ms);
/* Reads until a frame of type want (skipping PINGs and PONGs unless asked for) or timeout. DATA
 * frames met on the way make it fail (returns the DATA type) unless want is DATA. */
int tws_read_type(tws *w, int want, tws_frame *f, int timeout_ms);
void tws_free(tws *w); /* closes the socket; NULL is ok */
/* Reads the server's CLOSE: its code (0 when none came in time), its reason into reason. */
unsigned tws_read_close(tws *w, char *reason, size_t cap, int timeout_ms);
/* Sends one TEXT message of n bytes at p on an appender and waits until the server has written it
 * to the file (which then holds want + the message; want gets the message). 0, or -1. */
int tws_append_msg(tsrv *s, tws *w, const char *file, tbuf *want, const void *p, size_t n);
/* Ends an appender with CLOSE 1000 and waits for the echo. 0, or -1. */
int tws_end_append(tws *w);
/* An appender, retrying while the previous session's end is being processed (403); NULL with a
 * note on stderr when it never gets in. */
tws *tws_append_retry(int port, const char *path, int timeout_ms);

/* What a follower saw, with the contract checked on every frame. */
typedef struct tws_collect {
    /* settings */
    unsigned opcode;       /* expected data opcode: WS_OP_TEXT (0 means TEXT) or WS_OP_BINARY */
    size_t frame_max;      /* largest allowed payload; 0 means 8192 */
    int utf8;              /* every data frame must be valid UTF-8 (the stream is) */
    int answer_pings;      /* reply PONG to PINGs */
    int no_close_reply;    /* do not answer the server's CLOSE (as the seed's client); by default
                              it is echoed, as RFC 6455 clients do */
    const uint8_t *expect; /* when set: compare on the fly instead of keeping data */
    size_t expect_len;
    /* results */
    tbuf data;    /* the bytes (when expect is NULL) */
    size_t bytes; /* data bytes received */
    size_t frames, pings, pongs;
    int closed; /* a CLOSE arrived; its code in close_code */
    unsigned close_code;
    int eof;       /* the TCP connection ended */
    char err[256]; /* first contract violation; "" when none */
} tws_collect;

/* Processes one frame (or waits up to timeout_ms for one). Returns 1 when a frame was handled, 0 on
 * timeout, -1 when the stream is over (CLOSE then EOF, EOF, error) or a violation was recorded. */
int tws_collect_step(tws *w, tws_collect *c, int timeout_ms);
/* Collects until c->bytes >= want (SIZE_MAX: until CLOSE and EOF) or timeout_ms passes.
 * Returns 0 when the goal was reached without violations, else -1 (c->err says why). */
int tws_collect_until(tws *w, tws_collect *c, size_t want, int timeout_ms);
void tws_collect_free(tws_collect *c);

#endif
