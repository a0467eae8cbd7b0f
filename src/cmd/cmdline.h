/* cmdline.h -- Go-style flag parsing shared by the three commands: -flag=value, -flag value,
 * --flag=value, --flag value, boolean -flag / -flag=false, -h / -help / --help, "--" ends flags.
 * And the clients' progress line on a terminal. */
#ifndef HFS_CMDLINE_H
#define HFS_CMDLINE_H

#include <stddef.h>
#include <stdint.h>

enum cmd_flag_kind {
    CMD_FLAG_BOOL,   /* int *: set to 1 (or 0 with =false) */
    CMD_FLAG_STRING, /* const char **: points into argv */
    CMD_FLAG_INT,    /* long *: decimal */
    CMD_FLAG_SIZE,   /* unsigned long long *: bytes, with optional k/m/g suffix (KiB/MiB/GiB) */
    CMD_FLAG_MS,     /* unsigned *: a duration: 1500ms, 3s, 2m, 1h, or plain seconds */
};

typedef struct cmd_flag {
    const char *name; /* without dashes */
    enum cmd_flag_kind kind;
    void *value;       /* see kind */
    const char *arg;   /* placeholder shown in usage, e.g. "DIR"; NULL for booleans */
    const char *usage; /* one line; the default is shown by the caller's text */
} cmd_flag;

/* Parses argv against flags (terminated by an entry with name NULL). On success returns the index
 * of the first positional argument. Prints usage to stdout and returns -1 for -h; prints the
 * problem and usage to stderr and returns -2 on a usage error (the caller exits 0 or 2). */
int cmd_parse(int argc, char **argv, const cmd_flag *flags, const char *synopsis);

/* Prints "usage: synopsis" and one line per flag to f (a FILE *). */
void cmd_usage(void *f, const cmd_flag *flags, const char *synopsis);

/* ---- credentials (the two clients) ---- */

#define CMD_TOKEN_ENV "HTTPFSTREAM_TOKEN" /* the bearer token when -token is not given */

/* The bearer token to send: -token's value when it was given (flag non-NULL; "" means none, even
 * with the variable set), else $HTTPFSTREAM_TOKEN unless it is unset or empty; NULL for none.
 * *from (may be NULL) is set to where it came from ("-token", "HTTPFSTREAM_TOKEN"), for -v. */
const char *cmd_token(const char *flag, const char **from);

/* url with the values of its token and sig query parameters replaced by REDACTED
 * (hfs_redact_url), in a new string the caller frees, or NULL when out of memory. Everything the
 * commands print names URLs this way (the library's messages already do). */
char *cmd_shown_url(const char *url);

/* ---- the progress line ----
 * In the spirit of curl and rsync: "  1.5 MiB sent  512.0 KiB/s  0:03" (and whatever the caller
 * adds), redrawn in place on a terminal with a carriage return each time the caller draws (at most
 * a few times a second), and ended with a newline. The rate is that of the last few seconds while
 * the transfer runs, and the average over all of it on the final line. */

#define CMD_PROGRESS_SAMPLES 12 /* draws the rate is measured over (3 s at 4 a second) */

typedef struct cmd_progress {
    /* private */
    void *out;        /* FILE * */
    const char *what; /* "sent", "received" */
    int64_t t0;       /* ms, when it started */
    struct {
        int64_t t;
        uint64_t bytes;
    } samples[CMD_PROGRESS_SAMPLES];
    unsigned nsamples, next;
    size_t width; /* of the line last drawn, to blank what a shorter one leaves */
} cmd_progress;

/* Starts p's clock; what names the direction of the bytes ("sent"). out is a FILE *. */
void cmd_progress_init(cmd_progress *p, void *out, const char *what);

/* Redraws the line with bytes so far and extra (may be NULL or "") after the time. */
void cmd_progress_draw(cmd_progress *p, uint64_t bytes, const char *extra);

/* Draws the final line (the average rate) and ends it with a newline; nothing when no line was
 * drawn before and bytes is 0. */
void cmd_progress_finish(cmd_progress *p, uint64_t bytes, const char *extra);

/* "512 B", "1.5 KiB", "12.0 MiB": bytes in binary units, into buf. */
void cmd_format_bytes(char *buf, size_t cap, double bytes);

#endif
