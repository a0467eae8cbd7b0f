/* server.c -- httpfstream-server: serves APPEND and FOLLOW for every path under a root directory.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <uv.h>

#include "cmd/cmdline.h"
#include "httpfstream.h"

#define SYNOPSIS "httpfstream-server [flags]"

typedef struct app {
    uv_loop_t *loop;
    hfs_server *srv;
    uv_signal_t sigint, sigterm;
    int signals;
    unsigned shutdown_ms;
} app;

static void log_line(void *data, int level, const char *line)
{
    char stamp[32];
    time_t now = time(NULL);
    struct tm tm;
    (void)data;
    (void)level;

    localtime_r(&now, &tm);
    strftime(stamp, sizeof(stamp), "%Y/%m/%d %H:%M:%S", &tm);
    fprintf(stderr, "%s %s\n", stamp, line);
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

static void on_closed(hfs_server *s, void *data)
{
    app *a = data;
    (void)s;
    a->srv = NULL;
    uv_close((uv_handle_t *)&a->sigint, NULL);
    uv_close((uv_handle_t *)&a->sigterm, NULL);
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
    hfs_server_close(a->srv, on_closed, a);
}

int main(int argc, char **argv)
{
    const char *root = "/tmp/httpfstream", *addr = ":8080", *prefix = "";
    int verbose = 0, quiet = 0;
    unsigned long long frame_max = 8192, message_max = 64ull << 20, tail = 1u << 20;
    unsigned ping_ms = 3000, dead_ms = 60000, shutdown_ms = 10000;
    const cmd_flag flags[] = {
        {"root", CMD_FLAG_STRING, &root, "DIR",
         "directory holding the resources (default /tmp/httpfstream)"},
        {"http", CMD_FLAG_STRING, &addr, "ADDR",
         "listen address: :8080, 127.0.0.1:8080, [::1]:8080 (default :8080)"},
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
    if (frame_max < 1 || frame_max > (64u << 20)) {
        fprintf(stderr, "error: -frame-max must be between 1 and 64m\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    if (make_root(root) < 0) {
        fprintf(stderr, "httpfstream-server: cannot create root %s: %s\n", root, strerror(errno));
        return 1;
    }

    app a = {.loop = uv_default_loop(), .shutdown_ms = shutdown_ms};
    hfs_server_options o;
    hfs_server_options_init(&o);
    o.root = root;
    o.prefix = prefix;
    o.log = log_line;
    o.log_level = verbose ? HFS_LOG_DEBUG : quiet ? HFS_LOG_WARN : HFS_LOG_INFO;
    o.frame_max = (size_t)frame_max;
    o.message_max = message_max;
    o.ping_interval_ms = ping_ms;
    o.dead_peer_ms = dead_ms;
    o.tail_max = (size_t)tail;
    int r = hfs_server_new(a.loop, &o, &a.srv);
    if (r == HFS_OK && (r = hfs_server_listen(a.srv, addr)) != HFS_OK)
        hfs_server_close(a.srv, NULL, NULL);
    if (r != HFS_OK) {
        fprintf(stderr, "httpfstream-server: %s: %s\n", addr, hfs_strerror(r));
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
    char line[512];
    const char *colon = strrchr(addr, ':');
    snprintf(line, sizeof(line), "listening on %.*s:%d, root %s", (int)(colon - addr), addr,
             hfs_server_port(a.srv), root);
    log_line(NULL, HFS_LOG_INFO, line);

    uv_run(a.loop, UV_RUN_DEFAULT);
    uv_loop_close(a.loop);
    return 0;
}
