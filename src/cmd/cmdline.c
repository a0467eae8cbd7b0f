/* cmdline.c -- Go-style flag parsing shared by the three commands, and the clients' progress line
 * (see cmdline.h). */
#include "cmd/cmdline.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "httpfstream.h"

static const cmd_flag *find_flag(const cmd_flag *flags, const char *name, size_t len)
{
    for (const cmd_flag *f = flags; f->name; f++)
        if (strlen(f->name) == len && strncmp(f->name, name, len) == 0)
            return f;
    return NULL;
}

static int parse_bool(const char *s, int *out)
{
    if (!strcmp(s, "1") || !strcasecmp(s, "true") || !strcasecmp(s, "t")) {
        *out = 1;
        return 0;
    }
    if (!strcmp(s, "0") || !strcasecmp(s, "false") || !strcasecmp(s, "f")) {
        *out = 0;
        return 0;
    }
    return -1;
}

static int parse_size(const char *s, unsigned long long *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    unsigned shift = 0;

    if (errno || end == s || *s == '-')
        return -1;
    switch (*end) {
    case 'k':
    case 'K':
        shift = 10;
        end++;
        break;
    case 'm':
    case 'M':
        shift = 20;
        end++;
        break;
    case 'g':
    case 'G':
        shift = 30;
        end++;
        break;
    default:
        break;
    }
    if (*end == 'i' || *end == 'I')
        end++;
    if (*end == 'b' || *end == 'B')
        end++;
    if (*end || (shift && v > (~0ULL >> shift)))
        return -1;
    *out = v << shift;
    return 0;
}

static int parse_ms(const char *s, unsigned *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    double scale = 1000;

    if (errno || end == s || v < 0)
        return -1;
    if (!strcmp(end, "ms"))
        scale = 1;
    else if (!strcmp(end, "s") || !*end)
        scale = 1000;
    else if (!strcmp(end, "m"))
        scale = 60000;
    else if (!strcmp(end, "h"))
        scale = 3600000;
    else
        return -1;
    if (v * scale > 4e9)
        return -1;
    *out = (unsigned)(v * scale + 0.5);
    return 0;
}

static int set_value(const cmd_flag *f, const char *v)
{
    char *end;
    switch (f->kind) {
    case CMD_FLAG_BOOL:
        return parse_bool(v, f->value);
    case CMD_FLAG_STRING:
        *(const char **)f->value = v;
        return 0;
    case CMD_FLAG_INT:
        errno = 0;
        *(long *)f->value = strtol(v, &end, 10);
        return (errno || end == v || *end) ? -1 : 0;
    case CMD_FLAG_SIZE:
        return parse_size(v, f->value);
    case CMD_FLAG_MS:
        return parse_ms(v, f->value);
    }
    return -1;
}

void cmd_usage(void *fp, const cmd_flag *flags, const char *synopsis)
{
    FILE *out = fp;
    fprintf(out, "usage: %s\n", synopsis);
    for (const cmd_flag *f = flags; f->name; f++) {
        char left[64];
        snprintf(left, sizeof(left), "-%s%s%s", f->name, f->arg ? "=" : "", f->arg ? f->arg : "");
        fprintf(out, "  %-28s %s\n", left, f->usage);
    }
    fprintf(out, "  %-28s %s\n", "-h, -help", "print this help and exit");
}

static int usage_error(const cmd_flag *flags, const char *synopsis, const char *fmt, const char *a)
{
    fputs("error: ", stderr);
    fprintf(stderr, fmt, a);
    fputc('\n', stderr);
    cmd_usage(stderr, flags, synopsis);
    return -2;
}

int cmd_parse(int argc, char **argv, const cmd_flag *flags, const char *synopsis)
{
    int i = 1;

    while (i < argc) {
        const char *a = argv[i];
        if (a[0] != '-' || a[1] == '\0')
            break; /* first positional argument ("-" alone is positional) */
        i++;
        if (!strcmp(a, "--"))
            break;
        const char *name = a + (a[1] == '-' ? 2 : 1);
        const char *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        if ((len == 1 && name[0] == 'h') || (len == 4 && !strncmp(name, "help", 4))) {
            cmd_usage(stdout, flags, synopsis);
            return -1;
        }
        const cmd_flag *f = find_flag(flags, name, len);
        if (!f) { /* named without its value, which may be a secret given to a misspelt flag */
            char shown[64];
            snprintf(shown, sizeof(shown), "%.*s", (int)(name - a + len), a);
            return usage_error(flags, synopsis, "unknown flag %s", shown);
        }
        const char *v = eq ? eq + 1 : NULL;
        if (!v && f->kind == CMD_FLAG_BOOL)
            v = "true";
        if (!v) {
            if (i >= argc)
                return usage_error(flags, synopsis, "flag %s needs a value", a);
            v = argv[i++];
        }
        if (set_value(f, v) != 0)
            return usage_error(flags, synopsis, "bad value for flag %s", a);
    }
    return i;
}

/* ---- credentials ---- */

const char *cmd_token(const char *flag, const char **from)
{
    const char *env = getenv(CMD_TOKEN_ENV);
    const char *token = flag ? flag : env;

    if (from)
        *from = flag ? "-token" : CMD_TOKEN_ENV;
    return token && *token ? token : NULL;
}

char *cmd_shown_url(const char *url)
{
    size_t n = hfs_redact_url(url, NULL, 0);
    char *shown = malloc(n + 1);

    if (shown)
        hfs_redact_url(url, shown, n + 1);
    return shown;
}

/* ---- the progress line ---- */

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void cmd_format_bytes(char *buf, size_t cap, double bytes)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    unsigned u = 0;

    while (bytes >= 1024 && u + 1 < sizeof(units) / sizeof(*units)) {
        bytes /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, cap, "%.0f B", bytes);
    else
        snprintf(buf, cap, "%.1f %s", bytes, units[u]);
}

/* "0:07", "12:34", "1:02:03". */
static void format_elapsed(char *buf, size_t cap, int64_t ms)
{
    unsigned long long s = ms > 0 ? (unsigned long long)ms / 1000 : 0;

    if (s >= 3600)
        snprintf(buf, cap, "%llu:%02llu:%02llu", s / 3600, s / 60 % 60, s % 60);
    else
        snprintf(buf, cap, "%llu:%02llu", s / 60, s % 60);
}

static void add_sample(cmd_progress *p, int64_t t, uint64_t bytes)
{
    p->samples[p->next].t = t;
    p->samples[p->next].bytes = bytes;
    p->next = (p->next + 1) % CMD_PROGRESS_SAMPLES;
    if (p->nsamples < CMD_PROGRESS_SAMPLES)
        p->nsamples++;
}

void cmd_progress_init(cmd_progress *p, void *out, const char *what)
{
    memset(p, 0, sizeof(*p));
    p->out = out;
    p->what = what;
    p->t0 = now_ms();
    add_sample(p, p->t0, 0);
}

/* Bytes per second over the samples kept (the last few seconds), this draw's included. */
static double recent_rate(cmd_progress *p, int64_t now, uint64_t bytes)
{
    unsigned oldest = p->nsamples < CMD_PROGRESS_SAMPLES ? 0 : p->next;
    int64_t t = p->samples[oldest].t;
    uint64_t b = p->samples[oldest].bytes;

    add_sample(p, now, bytes);
    return now > t && bytes >= b ? (double)(bytes - b) * 1000.0 / (double)(now - t) : 0;
}

static void draw(cmd_progress *p, uint64_t bytes, const char *extra, int final)
{
    int64_t now = now_ms();
    double rate = final ? (now > p->t0 ? (double)bytes * 1000.0 / (double)(now - p->t0) : 0)
                        : recent_rate(p, now, bytes);
    char size[32], speed[32], elapsed[32], line[256];
    int has_extra = extra && *extra;

    cmd_format_bytes(size, sizeof(size), (double)bytes);
    cmd_format_bytes(speed, sizeof(speed), rate);
    format_elapsed(elapsed, sizeof(elapsed), now - p->t0);
    int n = snprintf(line, sizeof(line), "\r%10s %s  %10s/s  %s%s%s", size, p->what, speed, elapsed,
                     has_extra ? "  " : "", has_extra ? extra : "");
    size_t len = n < 0 ? 0 : (size_t)n < sizeof(line) - 2 ? (size_t)n : sizeof(line) - 2;
    /* Blank what a longer line before left, then the newline that ends the last one. */
    while (len < p->width && len + 2 < sizeof(line))
        line[len++] = ' ';
    if (final)
        line[len++] = '\n';
    line[len] = '\0';
    fputs(line, p->out);
    fflush(p->out);
    p->width = len;
}

void cmd_progress_draw(cmd_progress *p, uint64_t bytes, const char *extra)
{
    draw(p, bytes, extra, 0);
}

void cmd_progress_finish(cmd_progress *p, uint64_t bytes, const char *extra)
{
    if (p->width == 0 && bytes == 0)
        return; /* nothing was drawn and nothing moved (refused at once): no line */
    draw(p, bytes, extra, 1);
}
