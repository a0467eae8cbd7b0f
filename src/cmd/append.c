/* append.c -- httpfstream-append: sends stdin to a resource as it arrives (a line typed at a
 * terminal goes out at once) and ends the session cleanly at end of input or at the first Ctrl-C.
 * With -v and stderr a terminal (stdin not: a file or a pipe), a progress line: bytes sent, rate,
 * time. A bearer token comes from -token or $HTTPFSTREAM_TOKEN and is never printed, nor are the
 * token and sig values of the URL. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cmdline.h"
#include "httpfstream.h"

#define PROG     "httpfstream-append"
#define SYNOPSIS PROG " [-v] [-cacert=FILE] [-insecure] [-token=TOKEN] URL"

/* /dev/null, opened before the handler is installed: async-signal-safe to use from it. */
static int devnull_fd = -1;

/* The first SIGINT turns stdin into /dev/null, so the append sees end of input and closes the
 * session cleanly; the handler resets itself, so a second SIGINT kills as usual. */
static void on_interrupt(int sig)
{
    (void)sig;
    dup2(devnull_fd, STDIN_FILENO);
}

/* hfs_client_options.progress: redraws the line. */
static void meter_draw(void *data, uint64_t bytes)
{
    cmd_progress_draw(data, bytes, NULL);
}

static void catch_interrupt(void)
{
    struct sigaction sa;

    devnull_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (devnull_fd < 0)
        return;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_interrupt;
    sa.sa_flags = SA_RESETHAND | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
}

int main(int argc, char **argv)
{
    int verbose = 0, insecure = 0;
    const char *cacert = NULL, *token = NULL, *token_from;
    const cmd_flag flags[] = {
        {"v", CMD_FLAG_BOOL, &verbose, NULL,
         "log the start and the end to stderr; on a terminal, show progress"},
        {"cacert", CMD_FLAG_STRING, &cacert, "FILE", "trust the CA certificates in FILE (PEM)"},
        {"insecure", CMD_FLAG_BOOL, &insecure, NULL, "do not verify the server's certificate"},
        {"token", CMD_FLAG_STRING, &token, "TOKEN",
         "send TOKEN as a bearer token (default: $" CMD_TOKEN_ENV ")"},
        {NULL, 0, NULL, NULL, NULL},
    };
    hfs_client_options opts;
    hfs_error err;
    uint64_t sent = 0;
    cmd_progress line;
    int i = cmd_parse(argc, argv, flags, SYNOPSIS);

    if (i < 0)
        return i == -1 ? 0 : 2;
    if (argc - i != 1) {
        fprintf(stderr, "error: %s\n", argc == i ? "no URL given" : "more than one URL given");
        cmd_usage(stderr, flags, SYNOPSIS);
        return 2;
    }
    const char *url = argv[i];
    signal(SIGPIPE, SIG_IGN);
    catch_interrupt();
    hfs_client_options_init(&opts);
    opts.insecure = insecure;
    opts.ca_file = cacert;
    opts.token = cmd_token(token, &token_from);
    /* A progress line only where someone watches it, and not while they type the input. */
    int meter = verbose && isatty(STDERR_FILENO) && !isatty(STDIN_FILENO);
    if (meter) {
        cmd_progress_init(&line, stderr, "sent");
        opts.progress = meter_draw;
        opts.progress_data = &line;
    }
    if (verbose) {
        char *shown = cmd_shown_url(url);
        fprintf(stderr, "appending to %s%s%s%s\n", shown ? shown : "the URL",
                opts.token ? " (with the bearer token from " : "", opts.token ? token_from : "",
                opts.token ? ")" : "");
        free(shown);
    }
    int rc = hfs_append(url, STDIN_FILENO, &opts, &sent, &err);
    if (meter)
        cmd_progress_finish(&line, sent, NULL);
    if (rc != HFS_OK) {
        fprintf(stderr, "%s: %s\n", PROG, err.message);
        return 1;
    }
    if (verbose)
        fprintf(stderr, "finished appending (wrote %llu bytes)\n", (unsigned long long)sent);
    return 0;
}
