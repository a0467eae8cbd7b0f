/* server.c -- httpfstream-server: serves APPEND and FOLLOW for every path under a root directory.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "cmd/cmdline.h"
#include "cmd/systemd.h"
#include "httpfstream.h"

#define SYNOPSIS "httpfstream-server [flags]"

typedef struct app {
    uv_loop_t *loop;
    hfs_server *srv;
    uv_signal_t sigint, sigterm, sighup;
    int signals;
    unsigned shutdown_ms;
} app;

static int log_json; /* -log-format=json: one JSON object a line */

/* The length of the well-formed UTF-8 character at p (2 to 4), or 0 (RFC 3629: no overlong forms,
 * no surrogates, nothing past U+10FFFF). */
static int utf8_len(const unsigned char *p)
{
    int n = p[0] >= 0xc2 && p[0] <= 0xdf   ? 2
            : p[0] >= 0xe0 && p[0] <= 0xef ? 3
            : p[0] >= 0xf0 && p[0] <= 0xf4 ? 4
                                           : 0;
    unsigned lo = p[0] == 0xe0 ? 0xa0 : p[0] == 0xf0 ? 0x90 : 0x80;
    unsigned hi = p[0] == 0xed ? 0x9f : p[0] == 0xf4 ? 0x8f : 0xbf;

    if (n && (p[1] < lo || p[1] > hi))
        return 0;
    for (int i = 2; i < n; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    return n;
}

/* Writes s as a JSON string to f: quoted, escaped, and valid UTF-8 (a byte that does not start a
 * well-formed character, from a percent-decoded path say, becomes U+FFFD). */
static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        int n = *p >= 0x80 ? utf8_len(p) : 1;
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(f, "\\u%04x", *p);
        else if (n == 0)
            fputs("\\ufffd", f);
        else {
            fwrite(p, 1, (size_t)n, f);
            p += n - 1;
        }
    }
    fputc('"', f);
}

/* The start of a JSON line: {"time":"2026-01-02T03:04:05.678Z","level":"info" */
static void json_begin(int level)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    struct timespec ts;
    struct tm tm;
    char stamp[32];

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    fprintf(stderr, "{\"time\":\"%s.%03ldZ\",\"level\":\"%s\"", stamp, ts.tv_nsec / 1000000,
            level >= 0 && level <= 3 ? names[level] : "info");
}

static void log_line(void *data, int level, const char *line)
{
    char stamp[32];
    time_t now = time(NULL);
    struct tm tm;
    (void)data;

    if (log_json) {
        json_begin(level);
        fputs(",\"msg\":", stderr);
        json_string(stderr, line);
        fputs("}\n", stderr);
        return;
    }
    localtime_r(&now, &tm);
    strftime(stamp, sizeof(stamp), "%Y/%m/%d %H:%M:%S", &tm);
    fprintf(stderr, "%s %s\n", stamp, line);
}

/* -log-format=json: one line per finished request (the text format logs each as it starts). */
static void log_access(void *data, const hfs_access *a)
{
    (void)data;
    json_begin(HFS_LOG_INFO);
    fputs(",\"client\":", stderr);
    json_string(stderr, a->client);
    fputs(",\"method\":", stderr);
    json_string(stderr, a->method);
    fputs(",\"path\":", stderr);
    json_string(stderr, a->target);
    fprintf(stderr, ",\"status\":%d,\"role\":", a->status);
    json_string(stderr, a->role);
    fprintf(stderr, ",\"bytes\":%llu,\"duration\":%.6f}\n", (unsigned long long)a->bytes,
            (double)a->duration_us / 1e6);
}

/* mkdir -p with mode 0700 for what it creates, as the original did for its root. */
static int make_root(const char *root)
{
    char *p = strdup(root);
    struct stat st;

    if (!p)
        return -1;
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, 0700) < 0 && errno != EEXIST) {
            free(p);
            return -1;
        }
        *s = '/';
    }
    int r = mkdir(p, 0700);
    free(p);
    if (r < 0 && errno != EEXIST)
        return -1;
    if (stat(root, &st) < 0 || !S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

/* -sync=none | close | interval=DURATION */
static int parse_sync(const char *v, int *policy, unsigned *ms)
{
    if (!strcmp(v, "none")) {
        *policy = HFS_SYNC_NONE;
        return 0;
    }
    if (!strcmp(v, "close")) {
        *policy = HFS_SYNC_CLOSE;
        return 0;
    }
    if (strncmp(v, "interval=", 9) != 0)
        return -1;
    char *end;
    double d = strtod(v + 9, &end);
    double scale = !strcmp(end, "ms")             ? 1
                   : (!strcmp(end, "s") || !*end) ? 1000
                   : !strcmp(end, "m")            ? 60000
                                                  : -1;
    if (end == v + 9 || scale < 0 || d <= 0 || d * scale > 86400000.0)
        return -1;
    *policy = HFS_SYNC_INTERVAL;
    *ms = (unsigned)(d * scale);
    return *ms ? 0 : -1;
}

static void on_closed(hfs_server *s, void *data)
{
    app *a = data;
    (void)s;
    a->srv = NULL;
    uv_close((uv_handle_t *)&a->sigint, NULL);
    uv_close((uv_handle_t *)&a->sigterm, NULL);
    uv_close((uv_handle_t *)&a->sighup, NULL);
}

/* SIGHUP reads the access rules and the signing key again (-auth, -sign-key), and the TLS
 * certificate and key (-tls-cert, -tls-key); it never stops the server or drops a connection. A bad
 * file keeps what is in force (the server logs why). */
static void on_hangup(uv_signal_t *h, int signum)
{
    app *a = h->data;
    (void)signum;

    if (!a->srv)
        return;
    log_line(NULL, HFS_LOG_INFO, "hangup: reloading the access rules and the TLS certificate");
    hfs_server_reload(a->srv);
}

static void on_signal(uv_signal_t *h, int signum)
{
    app *a = h->data;

    if (++a->signals > 1 || !a->srv) {
        fprintf(stderr, "httpfstream-server: second signal, exiting now\n");
        exit(1);
    }
    log_line(NULL, HFS_LOG_INFO,
             signum == SIGINT ? "interrupt: shutting down" : "terminated: shutting down");
    sd_notify_send("STOPPING=1");
    hfs_server_shutdown(a->srv, a->shutdown_ms, on_closed, a);
}

/* Listens on addr (NULL: no plain listener) and https (NULL: none); port[0] and port[1] get their
 * ports. HFS_OK, or the failure with *what set to the address that failed. */
static int listen_all(hfs_server *s, const char *addr, const char *https, int port[2],
                      const char **what)
{
    int r;

    if (addr && (r = hfs_server_listen(s, addr)) != HFS_OK) {
        *what = addr;
        return r;
    }
    port[0] = hfs_server_port(s);
    if (https && (r = hfs_server_listen_tls(s, https)) != HFS_OK) {
        *what = https;
        return r;
    }
    port[1] = hfs_server_port(s);
    return HFS_OK;
}

int main(int argc, char **argv)
{
    const char *root = "/tmp/httpfstream", *addr = NULL, *prefix = "", *log_format = "text";
    int verbose = 0, quiet = 0;
    unsigned long long frame_max = 8192, message_max = 64ull << 20, tail = 1u << 20;
    unsigned ping_ms = 3000, dead_ms = 60000, shutdown_ms = 10000, header_ms = 30000,
             idle_ms = 120000;
    unsigned long long url_max = 8192, header_max = 16384, size_max = 0;
    long max_conns = 0;
    const char *sync = "none", *ds_prefix = "/v1/stream/", *auth = NULL, *sign_key = NULL;
    const char *metrics = NULL, *https = NULL, *tls_cert = NULL, *tls_key = NULL;
    unsigned long_poll_ms = 20000;
    const char *store_url = NULL, *store_creds = NULL, *store_cacert = NULL;
    long store_replicas = 3;
    unsigned lease_ms = 10000;
    const cmd_flag flags[] = {
        {"root", CMD_FLAG_STRING, &root, "DIR",
         "directory holding the resources (default /tmp/httpfstream)"},
        {"http", CMD_FLAG_STRING, &addr, "ADDR",
         "listen address: :8080, 127.0.0.1:8080, [::1]:8080, off for none (default :8080, none "
         "when systemd passes sockets)"},
        {"https", CMD_FLAG_STRING, &https, "ADDR",
         "also serve https:// and wss:// on ADDR (needs -tls-cert and -tls-key)"},
        {"tls-cert", CMD_FLAG_STRING, &tls_cert, "FILE",
         "PEM certificate chain for -https; reread on SIGHUP"},
        {"tls-key", CMD_FLAG_STRING, &tls_key, "FILE",
         "PEM private key for -https; reread on SIGHUP"},
        {"prefix", CMD_FLAG_STRING, &prefix, "PATH", "URL path prefix to serve under (default /)"},
        {"frame-max", CMD_FLAG_SIZE, &frame_max, "BYTES",
         "follower frame payload limit (default 8k)"},
        {"max-message", CMD_FLAG_SIZE, &message_max, "BYTES",
         "appender message limit, 0 for none (default 64m)"},
        {"ping", CMD_FLAG_MS, &ping_ms, "DURATION",
         "ping idle WebSocket peers this often, 0 to disable (default 3s)"},
        {"dead-peer", CMD_FLAG_MS, &dead_ms, "DURATION",
         "drop peers silent this long, 0 to disable (default 60s)"},
        {"tail", CMD_FLAG_SIZE, &tail, "BYTES",
         "recent bytes kept in memory per live resource (default 1m)"},
        {"shutdown-timeout", CMD_FLAG_MS, &shutdown_ms, "DURATION",
         "on SIGTERM/SIGINT, wait this long for followers to drain (default 10s)"},
        {"max-url", CMD_FLAG_SIZE, &url_max, "BYTES",
         "longest request-target, longer get 414 (default 8k)"},
        {"max-header", CMD_FLAG_SIZE, &header_max, "BYTES",
         "most request header bytes, more get 431 (default 16k)"},
        {"header-timeout", CMD_FLAG_MS, &header_ms, "DURATION",
         "a request head must arrive within this, else 408 (default 30s)"},
        {"idle-timeout", CMD_FLAG_MS, &idle_ms, "DURATION",
         "close keep-alive connections idle this long (default 2m)"},
        {"max-conns", CMD_FLAG_INT, &max_conns, "N",
         "refuse connections beyond N with 503 (default: open-files limit - 128)"},
        {"max-size", CMD_FLAG_SIZE, &size_max, "BYTES",
         "largest resource; appends past it end with 1009 (default: no limit)"},
        {"sync", CMD_FLAG_STRING, &sync, "POLICY",
         "none, close or interval=DURATION: when to fdatasync (default none)"},
        {"ds-prefix", CMD_FLAG_STRING, &ds_prefix, "PATH",
         "serve the Durable Streams protocol under PATH, off to disable (default /v1/stream/)"},
        {"long-poll", CMD_FLAG_MS, &long_poll_ms, "DURATION",
         "how long a Durable Streams long-poll waits for data (default 20s)"},
        {"auth", CMD_FLAG_STRING, &auth, "FILE",
         "access rules, one 'RIGHTS PREFIX TOKEN' a line; reread on SIGHUP (default: all open)"},
        {"sign-key", CMD_FLAG_STRING, &sign_key, "FILE",
         "key that signed URLs (?expires=&rights=&sig=) are checked with; reread on SIGHUP"},
        {"metrics", CMD_FLAG_STRING, &metrics, "ADDR",
         "serve /metrics (Prometheus) and /healthz on this separate address (default: none)"},
        {"log-format", CMD_FLAG_STRING, &log_format, "FORMAT",
         "text, or json: one object a line, a line per request (default text)"},
        {"store", CMD_FLAG_STRING, &store_url, "URLS",
         "nats://HOST:PORT[,...]: share resources with other servers through NATS JetStream, "
         "-root holding this server's copy (default: files under -root)"},
        {"store-replicas", CMD_FLAG_INT, &store_replicas, "N",
         "-store: replicas of the stream and the lease bucket (default 3)"},
        {"lease", CMD_FLAG_MS, &lease_ms, "DURATION",
         "-store: a vanished server's writers lose their lease after this (default 10s)"},
        {"store-creds", CMD_FLAG_STRING, &store_creds, "FILE", "-store: NATS credentials file"},
        {"store-cacert", CMD_FLAG_STRING, &store_cacert, "FILE",
         "-store: CA certificates to verify the NATS servers with (TLS)"},
        {"v", CMD_FLAG_BOOL, &verbose, NULL, "verbose: log connection-level detail"},
        {"q", CMD_FLAG_BOOL, &quiet, NULL, "quiet: log only warnings and errors"},
        {NULL, 0, NULL, NULL, NULL},
    };
    int i = cmd_parse(argc, argv, flags, SYNOPSIS);
    if (i == -1)
        return 0;
    if (i < 0)
        return 2;
    if (i < argc) {
        fprintf(stderr, "error: unexpected argument %s\n", argv[i]);
        cmd_usage(stderr, flags, SYNOPSIS);
        return 2;
    }
    if (frame_max < 4 || frame_max > (64u << 20)) {
        /* A TEXT frame holds whole characters, so it must fit the longest (4 bytes). */
        fprintf(stderr, "error: -frame-max must be between 4 and 64m\n");
        return 2;
    }
    int sync_policy = HFS_SYNC_NONE;
    unsigned sync_ms = 0;
    if (parse_sync(sync, &sync_policy, &sync_ms) < 0 || max_conns < 0 || url_max < 64 ||
        header_max < 256 || header_ms == 0 || idle_ms == 0 || long_poll_ms == 0 ||
        store_replicas < 1 || store_replicas > 5 || lease_ms < 1000 ||
        (strcmp(log_format, "text") != 0 && strcmp(log_format, "json") != 0) ||
        (strcmp(ds_prefix, "off") != 0 &&
         (ds_prefix[0] != '/' || strspn(ds_prefix, "/") == strlen(ds_prefix)))) {
        fprintf(stderr, "error: bad value for -sync, -max-conns, -max-url, -max-header, "
                        "-ds-prefix, -log-format, -store-replicas (1-5), -lease (1s at least) "
                        "or a timeout\n");
        cmd_usage(stderr, flags, SYNOPSIS);
        return 2;
    }
    /* Socket activation: -http is then optional; a socket named "https" (FileDescriptorName=)
     * speaks TLS. */
    char *fdnames = NULL;
    int passed = sd_listen_fds_take(&fdnames), passed_tls = 0;
    for (int k = 0; k < passed; k++)
        passed_tls += sd_listen_fd_named(fdnames, k, "https");
    if (!addr && !passed)
        addr = ":8080";
    if (addr && !strcmp(addr, "off"))
        addr = NULL;
    if (https && !*https)
        https = NULL;
    if (tls_cert && !*tls_cert)
        tls_cert = NULL;
    if (tls_key && !*tls_key)
        tls_key = NULL;
    int want_tls = https || passed_tls;
    if ((want_tls && (!tls_cert || !tls_key)) || (!want_tls && (tls_cert || tls_key)) ||
        (!addr && !https && !passed)) {
        fprintf(stderr, "error: -https (or a socket systemd passes named https) needs -tls-cert "
                        "and -tls-key, and they need it; -http=off needs -https\n");
        cmd_usage(stderr, flags, SYNOPSIS);
        free(fdnames);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    signal(SIGXFSZ,
           SIG_IGN); /* past RLIMIT_FSIZE, write() fails with EFBIG instead of killing us */
    if (make_root(root) < 0) {
        fprintf(stderr, "httpfstream-server: cannot create root %s: %s\n", root, strerror(errno));
        return 1;
    }

    app a = {.loop = uv_default_loop(), .shutdown_ms = shutdown_ms};
    hfs_server_options o;
    hfs_server_options_init(&o);
    o.root = root;
    o.prefix = prefix;
    o.ds_prefix = ds_prefix;
    o.long_poll_ms = long_poll_ms;
    o.log = log_line;
    log_json = !strcmp(log_format, "json");
    if (log_json) {
        static char logbuf[8192];
        setvbuf(stderr, logbuf, _IOLBF, sizeof(logbuf)); /* one write a line, for log shippers */
    }
    o.access = log_json ? log_access : NULL;
    o.log_level = verbose ? HFS_LOG_DEBUG : quiet ? HFS_LOG_WARN : HFS_LOG_INFO;
    o.frame_max = (size_t)frame_max;
    o.message_max = message_max;
    o.ping_interval_ms = ping_ms;
    o.dead_peer_ms = dead_ms;
    o.tail_max = (size_t)tail;
    o.target_max = (size_t)url_max;
    o.header_max = (size_t)header_max;
    o.header_timeout_ms = header_ms;
    o.idle_timeout_ms = idle_ms;
    o.max_conns = (unsigned)max_conns;
    o.size_max = size_max;
    o.sync = sync_policy;
    o.sync_interval_ms = sync_ms;
    o.auth_file = auth && *auth ? auth : NULL;
    o.sign_key_file = sign_key && *sign_key ? sign_key : NULL;
    o.tls_cert_file = tls_cert;
    o.tls_key_file = tls_key;
    o.store_url = store_url;
    o.store_replicas = (int)store_replicas;
    o.lease_ms = lease_ms;
    o.store_creds = store_creds;
    o.store_cacert = store_cacert;
    int r = hfs_server_new(a.loop, &o, &a.srv), port[2] = {0, 0};
    const char *what = "cannot start"; /* the log line before says why */
    for (int k = 0; k < passed; k++) {
        int fd = SD_LISTEN_FDS_START + k;
        if (r != HFS_OK)
            close(fd);
        else if ((r = sd_listen_fd_named(fdnames, k, "https")
                          ? hfs_server_listen_tls_fd(a.srv, fd)
                          : hfs_server_listen_fd(a.srv, fd)) != HFS_OK)
            what = "a socket systemd passed";
    }
    free(fdnames);
    int sd_port = r == HFS_OK ? hfs_server_port(a.srv) : 0;
    if (r == HFS_OK)
        r = listen_all(a.srv, addr, https, port, &what);
    if (r == HFS_OK && metrics && *metrics &&
        (r = hfs_server_listen_metrics(a.srv, metrics)) != HFS_OK)
        what = metrics;
    if (r != HFS_OK && a.srv) {
        hfs_server_close(a.srv, NULL, NULL);
        a.srv = NULL;
    }
    if (r != HFS_OK) {
        fprintf(stderr, "httpfstream-server: %s: %s\n", what, hfs_strerror(r));
        uv_run(a.loop, UV_RUN_DEFAULT);
        return 1;
    }
    /* Signals are handled before anyone can learn the address: a SIGTERM right after the
     * "listening" line must still shut down cleanly. */
    uv_signal_init(a.loop, &a.sigint);
    uv_signal_init(a.loop, &a.sigterm);
    a.sigint.data = a.sigterm.data = &a;
    uv_signal_start(&a.sigint, on_signal, SIGINT);
    uv_signal_start(&a.sigterm, on_signal, SIGTERM);
    uv_signal_init(a.loop, &a.sighup);
    a.sighup.data = &a;
    uv_signal_start(&a.sighup, on_hangup, SIGHUP);
    char line[512];
    if (addr) {
        const char *colon = strrchr(addr, ':');
        snprintf(line, sizeof(line), "listening on %.*s:%d%s, root %s", (int)(colon - addr), addr,
                 port[0], passed ? " and sockets from systemd" : "", root);
    } else if (passed) {
        snprintf(line, sizeof(line), "listening on %d socket%s from systemd (port %d%s), root %s",
                 passed, passed > 1 ? "s" : "", sd_port,
                 passed_tls ? ", TLS on those named https" : "", root);
    }
    if (addr || passed)
        log_line(NULL, HFS_LOG_INFO, line);
    if (https) {
        const char *colon = strrchr(https, ':');
        snprintf(line, sizeof(line), "listening on https://%.*s:%d, root %s", (int)(colon - https),
                 https, port[1], root);
        log_line(NULL, HFS_LOG_INFO, line);
    }
    if (metrics && *metrics) {
        const char *mcolon = strrchr(metrics, ':');
        snprintf(line, sizeof(line), "metrics on %.*s:%d", (int)(mcolon - metrics), metrics,
                 hfs_server_metrics_port(a.srv));
        log_line(NULL, HFS_LOG_INFO, line);
    }
    if (sd_notify_send("READY=1\nSTATUS=serving") < 0)
        log_line(NULL, HFS_LOG_WARN, "cannot notify systemd (NOTIFY_SOCKET)");

    uv_run(a.loop, UV_RUN_DEFAULT);
    uv_loop_close(a.loop);
    return 0;
}
