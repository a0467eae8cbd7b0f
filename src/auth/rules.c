/* rules.c -- access control's rules file and signing key: parsing, checks and loading (auth.h;
 * the invariants are listed in auth.c). */
#include "auth/auth.h"
#include "auth/auth_int.h"
#include "http/uri.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/evp.h>

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err && errlen) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* ---- rules ---- */

int auth_parse_rights(const char *s, size_t n, unsigned *out)
{
    unsigned r = 0;
    size_t i = 0;

    if (!s || n == 0)
        return -1;
    for (;;) {
        const char *comma = memchr(s + i, ',', n - i);
        size_t end = comma ? (size_t)(comma - s) : n, k = end - i;
        if (k == 4 && memcmp(s + i, "read", 4) == 0)
            r |= AUTH_READ;
        else if (k == 6 && memcmp(s + i, "append", 6) == 0)
            r |= AUTH_APPEND;
        else if (k == 6 && memcmp(s + i, "delete", 6) == 0)
            r |= AUTH_DELETE;
        else
            return -1;
        if (!comma)
            break;
        i = end + 1;
    }
    *out = r;
    return 0;
}

/* 1 when p[0..n) starts with '/' and has no empty (but a last), "." or ".." element. */
int auth_path_is_clean(const char *p, size_t n)
{
    size_t i = 1;

    if (n == 0 || p[0] != '/')
        return 0;
    while (i < n) {
        const char *slash = memchr(p + i, '/', n - i);
        size_t end = slash ? (size_t)(slash - p) : n, k = end - i;
        if ((k == 0 && slash) || (k == 1 && p[i] == '.') ||
            (k == 2 && p[i] == '.' && p[i + 1] == '.'))
            return 0;
        i = end + 1;
    }
    return 1;
}

int auth_rule_covers(const rule *r, const char *path, size_t n)
{
    if (r->prefix[r->prefix_len - 1] == '/')
        return n >= r->prefix_len && memcmp(path, r->prefix, r->prefix_len) == 0;
    return n == r->prefix_len && memcmp(path, r->prefix, n) == 0;
}

int auth_right_valid(unsigned right)
{
    return right == AUTH_READ || right == AUTH_APPEND || right == AUTH_DELETE;
}

/* 1 when t[0..n) may be a token: 1 to AUTH_TOKEN_MAX printable ASCII bytes, no blanks. */
int auth_token_valid(const char *t, size_t n)
{
    if (n == 0 || n > AUTH_TOKEN_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)t[i] < 0x21 || (unsigned char)t[i] > 0x7e)
            return 0;
    return 1;
}

/* Fills r from a TOKEN field. Returns NULL, or why it is bad. */
static const char *parse_token(rule *r, const char *t, size_t n)
{
    if (n == 1 && t[0] == '*') {
        r->anyone = 1;
        return NULL;
    }
    if (n > AUTH_TOKEN_MAX)
        return "TOKEN is longer than 4096 bytes";
    if (!auth_token_valid(t, n))
        return "TOKEN holds a byte that is not printable ASCII";
    if (n >= 7 && strncasecmp(t, "sha256:", 7) == 0) {
        if (n != 7 + 2 * AUTH_DIGEST_LEN)
            return "sha256: wants 64 hex digits";
        for (size_t i = 0; i < AUTH_DIGEST_LEN; i++) {
            int hi = uri_hexval(t[7 + 2 * i]), lo = uri_hexval(t[8 + 2 * i]);
            if (hi < 0 || lo < 0)
                return "sha256: wants 64 hex digits";
            r->digest[i] = (uint8_t)(hi << 4 | lo);
        }
        return NULL;
    }
    return auth_sha256(t, n, r->digest) < 0 ? "cannot hash TOKEN" : NULL;
}

/* Fills r from a PREFIX field. Returns NULL, or why it is bad. */
static const char *parse_prefix(rule *r, const char *p, size_t n)
{
    if (p[0] != '/')
        return "PREFIX must start with '/'";
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
            return "PREFIX holds a control character";
    if (!auth_path_is_clean(p, n))
        return "PREFIX is not a clean path (an empty, \".\" or \"..\" element)";
    r->prefix = malloc(n + 1);
    if (!r->prefix)
        return "out of memory";
    memcpy(r->prefix, p, n);
    r->prefix[n] = '\0';
    r->prefix_len = n;
    return NULL;
}

static int add_rule(auth_rules *a, const rule *r)
{
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 16;
        rule *nr = realloc(a->rules, cap * sizeof(*nr));
        if (!nr)
            return -1;
        a->rules = nr;
        a->cap = cap;
    }
    a->rules[a->n++] = *r;
    return 0;
}

/* Splits line s[0..n) into at most 3 blank-separated fields before a comment. Returns the number
 * of fields, or 4 when there are more. */
static int split_fields(const char *s, size_t n, const char *f[3], size_t fl[3])
{
    size_t i = 0;
    int nf = 0;

    for (;;) {
        while (i < n && (s[i] == ' ' || s[i] == '\t'))
            i++;
        if (i == n || s[i] == '#')
            return nf;
        if (nf == 3)
            return 4;
        size_t start = i;
        while (i < n && s[i] != ' ' && s[i] != '\t')
            i++;
        f[nf] = s + start;
        fl[nf++] = i - start;
    }
}

static int parse_line(auth_rules *a, const char *name, unsigned line, const char *s, size_t n,
                      char *err, size_t errlen)
{
    const char *f[3];
    size_t fl[3];
    rule r;
    const char *why = NULL;

    memset(&r, 0, sizeof(r));
    if (n > 0 && s[n - 1] == '\r')
        n--; /* CRLF files */
    int nf = split_fields(s, n, f, fl);
    if (nf == 0)
        return 0;
    if (nf == 4)
        why = "text after TOKEN (a rule is RIGHTS PREFIX TOKEN; a token holds no blanks)";
    else if (nf < 3)
        why = "expected RIGHTS PREFIX TOKEN";
    else if (auth_parse_rights(f[0], fl[0], &r.rights) < 0)
        why = "RIGHTS must be a comma list of read, append, delete";
    else if ((why = parse_token(&r, f[2], fl[2])) == NULL)
        why = parse_prefix(&r, f[1], fl[1]);
    if (!why && add_rule(a, &r) < 0)
        why = "out of memory";
    if (!why)
        return 0;
    free(r.prefix);
    OPENSSL_cleanse(&r, sizeof(r));
    return fail(err, errlen, "%s:%u: %s", name, line, why);
}

void auth_free(auth_rules *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->n; i++)
        free(a->rules[i].prefix);
    if (a->rules)
        OPENSSL_cleanse(a->rules, a->cap * sizeof(*a->rules));
    free(a->rules);
    EVP_MAC_CTX_free(a->mac);
    free(a);
}

int auth_parse(const char *name, const char *text, size_t len, const uint8_t *key, size_t key_len,
               auth_rules **out, char *err, size_t errlen)
{
    auth_rules *a = calloc(1, sizeof(*a));
    size_t i = 0;
    unsigned line = 0;

    *out = NULL;
    if (!name)
        name = "rules";
    if (!a)
        return fail(err, errlen, "%s: out of memory", name);
    if (key && key_len && !(a->mac = auth_mac_new(key, key_len))) {
        fail(err, errlen, "%s: cannot set up HMAC-SHA256", name);
        goto err;
    }
    while (text && i < len) {
        const char *nl = memchr(text + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - text) : len;
        if (parse_line(a, name, ++line, text + i, end - i, err, errlen) < 0)
            goto err;
        i = end + 1;
    }
    *out = a;
    return 0;
err:
    auth_free(a);
    return -1;
}

/* Reads a whole file of at most max bytes into a malloc'd buffer (NUL-terminated). */
static int read_file(const char *file, size_t max, char **out, size_t *len, char *err,
                     size_t errlen)
{
    size_t n = 0, cap = 4096;
    char *buf = malloc(cap);
    int fd = buf ? open(file, O_RDONLY | O_CLOEXEC) : -1;

    if (fd < 0) {
        fail(err, errlen, "%s: %s", file, buf ? strerror(errno) : "out of memory");
        free(buf);
        return -1;
    }
    for (;;) {
        if (n + 1 == cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                fail(err, errlen, "%s: out of memory", file);
                goto err;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            fail(err, errlen, "%s: %s", file, strerror(errno));
            goto err;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n > max) {
            fail(err, errlen, "%s: larger than %zu bytes", file, max);
            goto err;
        }
    }
    close(fd);
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
err:
    OPENSSL_cleanse(buf, cap);
    free(buf);
    close(fd);
    return -1;
}

int auth_read_key(const char *file, uint8_t **key, size_t *len, char *err, size_t errlen)
{
    char *buf;
    size_t n;

    if (read_file(file, AUTH_KEY_MAX_BYTES, &buf, &n, err, errlen) < 0)
        return -1;
    if (n > 0 && buf[n - 1] == '\n')
        n--;
    if (n == 0) {
        free(buf);
        return fail(err, errlen, "%s: the key is empty", file);
    }
    *key = (uint8_t *)buf;
    *len = n;
    return 0;
}

int auth_load(const char *rules_file, const char *key_file, auth_rules **out, char *err,
              size_t errlen)
{
    uint8_t *key = NULL;
    size_t key_len = 0, len = 0;
    char *text = NULL;
    int rc = -1;

    *out = NULL;
    if (key_file && auth_read_key(key_file, &key, &key_len, err, errlen) < 0)
        return -1;
    if (!rules_file || read_file(rules_file, AUTH_RULES_MAX_BYTES, &text, &len, err, errlen) == 0)
        rc = auth_parse(rules_file, text, len, key, key_len, out, err, errlen);
    if (key) {
        OPENSSL_cleanse(key, key_len);
        free(key);
    }
    if (text) {
        OPENSSL_cleanse(text, len);
        free(text);
    }
    return rc;
}
