/* cmdline.c -- Go-style flag parsing shared by the three commands (see cmdline.h). */
#include "cmd/cmdline.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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
        if (!f)
            return usage_error(flags, synopsis, "unknown flag %s", a);
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
