/* follow.c -- httpfstream-follow: writes a followed resource to stdout as its bytes arrive, and
 * exits when the appender has gone and every byte has been written. With -v and stderr a terminal
 * (stdout not), a progress line: bytes received, rate, time, and how far behind the resource's
 * size it still is when that size is known. A bearer token comes from -token or
 * $HTTPFSTREAM_TOKEN and is never printed, nor are the token and sig values of the URL. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cmdline.h"
#include "httpfstream.h"

#define PROG        "httpfstream-follow"
#define LINES_UNSET LONG_MIN /* -n not given */
#define SYNOPSIS    PROG " [-v] [-binary] [-offset=N|-n=LINES] [-wait] [-resume=N] [-token=TOKEN] URL"

/* Writes all of buf to fd. Returns 0, or -1 with errno set. */
static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* The progress line of -v on a terminal. */
typedef struct meter {
    int on;
    cmd_progress line;
    hfs_reader *r;
    uint64_t size; /* the resource's size when the follow started, UINT64_MAX when unknown */
} meter;

/* How far behind the size the resource had at the start the follower still is ("" if unknown). */
static void lag_text(const meter *m, char *buf, size_t cap)
{
    uint64_t at = hfs_reader_offset(m->r);
    char amount[32];

    buf[0] = '\0';
    if (m->size == UINT64_MAX || at == UINT64_MAX)
        return;
    if (at >= m->size) {
        snprintf(buf, cap, "caught up");
        return;
    }
    cmd_format_bytes(amount, sizeof(amount), (double)(m->size - at));
    snprintf(buf, cap, "%s behind", amount);
}

/* hfs_client_options.progress: redraws the line. */
static void meter_draw(void *data, uint64_t bytes)
{
    meter *m = data;
    char lag[64];

    lag_text(m, lag, sizeof(lag));
    cmd_progress_draw(&m->line, bytes, lag);
}

/* Starts the line once the follow has started: the size it is measured against is the one the
 * reader knows, or else asked once now (a failure leaves it unknown: no lag shown). */
static void meter_start(meter *m, hfs_reader *r, const char *url, const hfs_client_options *o)
{
    if (!m->on)
        return;
    m->r = r;
    m->size = hfs_reader_size(r);
    if (m->size == UINT64_MAX && hfs_size(url, o, &m->size, NULL) != HFS_OK)
        m->size = UINT64_MAX;
    cmd_progress_init(&m->line, stderr, "received");
}

/* Ends the line (with the average rate) before anything else is printed. */
static void meter_end(meter *m)
{
    if (!m->on)
        return;
    cmd_progress_finish(&m->line, hfs_reader_bytes(m->r), NULL);
    m->on = 0;
}

/* Copies r to stdout until the stream ends; url (redacted) is for messages. Returns the exit
 * status. */
static int copy_out(hfs_reader *r, const char *url, int verbose, meter *m)
{
    static char buf[64 * 1024];

    for (;;) {
        ssize_t n = hfs_reader_read(r, buf, sizeof(buf));
        if (n == 0)
            break;
        if (n < 0) {
            meter_end(m);
            fprintf(stderr, "%s: %s\n", PROG, hfs_reader_error(r)->message);
            return 1;
        }
        if (write_all(STDOUT_FILENO, buf, (size_t)n) == 0)
            continue;
        meter_end(m);
        if (errno == EPIPE) {
            /* Whoever read our output has had enough (`| head`): not an error. */
            if (verbose)
                fprintf(stderr, "stdout closed; stopped following (read %llu bytes)\n",
                        (unsigned long long)hfs_reader_bytes(r));
            return 0;
        }
        fprintf(stderr, "%s: %s: writing to stdout: %s\n", PROG, url, strerror(errno));
        return 1;
    }
    meter_end(m);
    if (verbose)
        fprintf(stderr, "finished following (read %llu bytes)\n",
                (unsigned long long)hfs_reader_bytes(r));
    return 0;
}

/* -offset=N|-N|now and -n=LINES into the options (not both). */
static int parse_start(const char *offset, long lines, hfs_client_options *o)
{
    char *end;

    if (lines != LINES_UNSET && lines < 0)
        return -1;
    if (offset && lines != LINES_UNSET)
        return -1;
    if (lines != LINES_UNSET) {
        o->from = HFS_FROM_LINES;
        o->from_n = (uint64_t)lines;
        return 0;
    }
    if (!offset)
        return 0;
    if (!strcmp(offset, "now")) {
        o->from = HFS_FROM_NOW;
        return 0;
    }
    int neg = offset[0] == '-';
    if (offset[neg] < '0' || offset[neg] > '9')
        return -1;
    errno = 0;
    o->from_n = strtoull(offset + neg, &end, 10);
    if (errno || *end)
        return -1;
    o->from = neg ? HFS_FROM_END : HFS_FROM_OFFSET;
    return 0;
}

int main(int argc, char **argv)
{
    int verbose = 0, binary = 0, insecure = 0, wait = 0;
    const char *cacert = NULL, *offset = NULL, *token = NULL, *token_from;
    long lines = LINES_UNSET, resume = 0;
    const cmd_flag flags[] = {
        {"v", CMD_FLAG_BOOL, &verbose, NULL,
         "log the start and the end to stderr; on a terminal, show progress"},
        {"binary", CMD_FLAG_BOOL, &binary, NULL, "ask the server for BINARY frames"},
        {"cacert", CMD_FLAG_STRING, &cacert, "FILE", "trust the CA certificates in FILE (PEM)"},
        {"insecure", CMD_FLAG_BOOL, &insecure, NULL, "do not verify the server's certificate"},
        {"offset", CMD_FLAG_STRING, &offset, "N",
         "start at byte N; -N: N bytes before the end; now: only new bytes"},
        {"n", CMD_FLAG_INT, &lines, "LINES", "start with the last LINES lines (like tail -n)"},
        {"wait", CMD_FLAG_BOOL, &wait, NULL, "wait for a resource that has not been written yet"},
        {"resume", CMD_FLAG_INT, &resume, "N",
         "after a dropped connection, reconnect up to N times and go on from the next byte"},
        {"token", CMD_FLAG_STRING, &token, "TOKEN",
         "send TOKEN as a bearer token (default: $" CMD_TOKEN_ENV ")"},
        {NULL, 0, NULL, NULL, NULL},
    };
    hfs_client_options opts;
    hfs_reader *r = NULL;
    hfs_error err;
    meter m = {0};
    int i = cmd_parse(argc, argv, flags, SYNOPSIS);

    if (i < 0)
        return i == -1 ? 0 : 2;
    if (argc - i != 1) {
        fprintf(stderr, "error: %s\n", argc == i ? "no URL given" : "more than one URL given");
        cmd_usage(stderr, flags, SYNOPSIS);
        return 2;
    }
    const char *url = argv[i];
    hfs_client_options_init(&opts);
    if (parse_start(offset, lines, &opts) < 0 || resume < 0) {
        fprintf(stderr, "error: -offset takes N, -N or now; -n and -resume take a count\n");
        cmd_usage(stderr, flags, SYNOPSIS);
        return 2;
    }
    opts.wait = wait;
    opts.resume = (unsigned)resume;
    signal(SIGPIPE, SIG_IGN); /* a closed stdout shows up as EPIPE */
    opts.binary = binary;
    opts.insecure = insecure;
    opts.ca_file = cacert;
    opts.token = cmd_token(token, &token_from);
    /* A progress line only where someone watches it, and not amid the followed bytes. */
    m.on = verbose && isatty(STDERR_FILENO) && !isatty(STDOUT_FILENO);
    if (m.on) {
        opts.progress = meter_draw;
        opts.progress_data = &m;
    }
    char *shown = cmd_shown_url(url);
    if (verbose)
        fprintf(stderr, "following %s%s%s%s\n", shown ? shown : "the URL",
                opts.token ? " (with the bearer token from " : "", opts.token ? token_from : "",
                opts.token ? ")" : "");
    if (hfs_follow(url, &opts, &r, &err) != HFS_OK) {
        fprintf(stderr, "%s: %s\n", PROG, err.message);
        free(shown);
        return 1;
    }
    meter_start(&m, r, url, &opts);
    int status = copy_out(r, shown ? shown : "the URL", verbose, &m);
    hfs_reader_close(r);
    free(shown);
    return status;
}
