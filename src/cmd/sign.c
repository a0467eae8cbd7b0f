/* sign.c -- httpfstream-sign: prints a URL with a signature appended (query parameters expires,
 * rights and sig) that lets whoever holds it read or append there until it expires, for a server
 * started with the same -sign-key. The path signed is the URL's path as the server routes on it
 * (percent-decoded, then cleaned), or with -prefix its directory, which covers every path below.
 * Nothing is sent anywhere: the key never leaves this process. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>

#include "auth/auth.h"
#include "cmd/cmdline.h"
#include "http/path.h"
#include "http/uri.h"

#define PROG     "httpfstream-sign"
#define SYNOPSIS PROG " -key=FILE -rights=RIGHTS -ttl=DURATION [-prefix] URL"

/* Where the parts of a URL lie: [0, path) scheme and authority, [path, query) the path,
 * [query, frag) the query with its '?' (empty when none), [frag, end) the fragment with its '#'. */
typedef struct url_parts {
    size_t path, query, frag;
} url_parts;

static int usage_error(const cmd_flag *flags, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prints "error: ..." and the usage to stderr; returns the exit status of a usage error. */
static int usage_error(const cmd_flag *flags, const char *fmt, ...)
{
    va_list ap;

    fputs("error: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    cmd_usage(stderr, flags, SYNOPSIS);
    return 2;
}

/* A duration in seconds: "90" or "90s", "15m", "12h", "7d", or several with their units ("1h30m").
 * Returns 0, or -1 when it does not parse, is 0, or is over max. */
static int parse_ttl(const char *s, int64_t max, int64_t *out)
{
    int64_t total = 0;

    if (!*s)
        return -1;
    while (*s) {
        int64_t v = 0, unit;
        if (*s < '0' || *s > '9')
            return -1;
        for (; *s >= '0' && *s <= '9'; s++) {
            if (v > (max - (*s - '0')) / 10)
                return -1;
            v = v * 10 + (*s - '0');
        }
        switch (*s) {
        case '\0':
            if (total)
                return -1; /* "1h30": 30 what? */
            unit = 1;
            break;
        case 's':
            unit = 1;
            break;
        case 'm':
            unit = 60;
            break;
        case 'h':
            unit = 3600;
            break;
        case 'd':
            unit = 86400;
            break;
        default:
            return -1;
        }
        if (*s)
            s++;
        if (v > (max - total) / unit)
            return -1;
        total += v * unit;
    }
    if (total == 0)
        return -1;
    *out = total;
    return 0;
}

/* Splits an http, https, ws or wss URL (or a bare path starting with '/'). Returns 0, or -1. */
static int split_url(const char *u, url_parts *p)
{
    static const char *const schemes[] = {"http://", "https://", "ws://", "wss://"};
    size_t i = 0;

    if (u[0] != '/') {
        for (size_t k = 0; k < sizeof(schemes) / sizeof(*schemes) && !i; k++)
            if (strncasecmp(u, schemes[k], strlen(schemes[k])) == 0)
                i = strlen(schemes[k]);
        if (!i)
            return -1;
        size_t host = i;
        i += strcspn(u + i, "/?#");
        if (i == host)
            return -1; /* no host */
    }
    p->path = i;
    p->query = i + strcspn(u + i, "?#");
    p->frag = p->query + strcspn(u + p->query, "#");
    return 0;
}

/* The path the server will see: decoded, cleaned; with dir, cut after its last '/'. Returns a
 * malloc'd string, or NULL when the path does not decode. */
static char *signed_path(const char *raw, size_t n, int dir)
{
    char *dec = malloc(n + 2), *clean = malloc(n + 3);
    long len = dec && clean ? uri_unescape_path(n ? raw : "/", n ? n : 1, dec) : -1;

    if (len < 0) {
        free(dec);
        free(clean);
        return NULL;
    }
    path_clean(dec, (size_t)len, clean);
    free(dec);
    if (dir)
        strrchr(clean, '/')[1] = '\0';
    return clean;
}

/* The rights r as a RIGHTS string in the order read, append, delete (at most 18 bytes). */
static void rights_text(unsigned r, char *out, size_t cap)
{
    snprintf(out, cap, "%s%s%s%s%s", (r & AUTH_READ) ? "read" : "",
             (r & AUTH_READ) && (r & ~AUTH_READ) ? "," : "", (r & AUTH_APPEND) ? "append" : "",
             (r & AUTH_APPEND) && (r & AUTH_DELETE) ? "," : "", (r & AUTH_DELETE) ? "delete" : "");
}

/* 1 when the query (with its '?') already holds one of the parameters a signature adds. */
static int has_signature(const char *q, size_t n)
{
    static const char *const keys[] = {"expires", "rights", "sig"};
    char v[2];

    for (size_t k = 0; n > 1 && k < sizeof(keys) / sizeof(*keys); k++)
        if (uri_query_get(q + 1, n - 1, keys[k], v, sizeof(v)))
            return 1;
    return 0;
}

/* Prints url signed for path. Returns the exit status. */
static int sign(const char *url, const url_parts *p, const char *key_file, const char *rights,
                int64_t expires, const char *path)
{
    char params[256], err[512];
    uint8_t *key;
    size_t key_len;

    if (auth_read_key(key_file, &key, &key_len, err, sizeof(err)) < 0) {
        fprintf(stderr, "%s: %s\n", PROG, err);
        return 1;
    }
    size_t n = auth_sign(key, key_len, rights, expires, path, params, sizeof(params));
    OPENSSL_cleanse(key, key_len);
    free(key);
    if (n == 0) {
        fprintf(stderr, "%s: cannot sign\n", PROG);
        return 1;
    }
    const char *sep = p->frag == p->query ? "?" : p->frag - p->query == 1 ? "" : "&";
    printf("%.*s%s%s%s\n", (int)p->frag, url, sep, params, url + p->frag);
    return fflush(stdout) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    const char *key_file = NULL, *rights = NULL, *ttl = NULL;
    int dir = 0;
    const cmd_flag flags[] = {
        {"key", CMD_FLAG_STRING, &key_file, "FILE",
         "the signing key: the file the server's -sign-key names"},
        {"rights", CMD_FLAG_STRING, &rights, "RIGHTS",
         "what the URL allows: read, append, delete, or a comma list"},
        {"ttl", CMD_FLAG_STRING, &ttl, "DURATION",
         "how long it is good for: 90s, 15m, 12h, 7d, 1h30m (plain: seconds)"},
        {"prefix", CMD_FLAG_BOOL, &dir, NULL,
         "sign the URL's directory (up to its last /): good for every path below"},
        {NULL, 0, NULL, NULL, NULL},
    };
    unsigned r;
    char canon[32];
    int64_t secs, now = (int64_t)time(NULL);
    url_parts p;
    int i = cmd_parse(argc, argv, flags, SYNOPSIS);

    if (i < 0)
        return i == -1 ? 0 : 2;
    if (argc - i != 1)
        return usage_error(flags, "%s", argc == i ? "no URL given" : "more than one URL given");
    if (!key_file || !rights || !ttl)
        return usage_error(flags, "-key, -rights and -ttl are required");
    if (auth_parse_rights(rights, strlen(rights), &r) < 0)
        return usage_error(flags, "bad -rights %s: want read, append, delete or a comma list",
                           rights);
    if (parse_ttl(ttl, INT64_MAX - now, &secs) < 0)
        return usage_error(flags, "bad -ttl %s: want a duration such as 90s, 15m, 12h, 7d", ttl);
    if (split_url(argv[i], &p) < 0)
        return usage_error(flags, "not an http, https, ws or wss URL: %s", argv[i]);
    if (has_signature(argv[i] + p.query, p.frag - p.query))
        return usage_error(flags, "the URL already holds expires, rights or sig: %s", argv[i]);
    char *path = signed_path(argv[i] + p.path, p.query - p.path, dir);
    if (!path)
        return usage_error(flags, "the URL's path holds a bad %%-escape or a NUL byte: %s",
                           argv[i]);
    rights_text(r, canon, sizeof(canon));
    int rc = sign(argv[i], &p, key_file, canon, now + secs, path);
    free(path);
    return rc;
}
