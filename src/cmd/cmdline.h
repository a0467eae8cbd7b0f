/* cmdline.h -- Go-style flag parsing shared by the three commands: -flag=value, -flag value,
 * --flag=value, --flag value, boolean -flag / -flag=false, -h / -help / --help, "--" ends flags. */
#ifndef HFS_CMDLINE_H
#define HFS_CMDLINE_H

#include <stddef.h>

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

#endif
