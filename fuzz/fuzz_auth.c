/* fuzz_auth.c -- libFuzzer target: the rules file (auth_parse), the credentials a request presents
 * and the decision (auth_check, auth_rights), signing (auth_sign) and log redaction
 * (auth_redact_target).
 *
 * Input: one flags byte, then NUL-separated parts: rules text, request path, Authorization value,
 * raw query, key, a RIGHTS string for signing. Flags: bits 0-1 the Authorization header count,
 * bit 2 whether the header is present, bits 3-4 the clock, bit 5 sign the path's directory
 * instead of the path.
 *
 * Checked, beyond no crash, leak or undefined behaviour:
 * - auth_parse fails with "fuzz:LINE: why" and no rule set, or succeeds with one;
 * - every verdict is 0, 400, 401 or 403, the same when asked twice, and auth_rights is the set of
 *   rights auth_check allows;
 * - OK only for a clean path, and only when a signature came with a key loaded or the rules text
 *   names the path or one of its directory prefixes as a blank-separated word (no rule covers a
 *   path without naming it);
 * - auth_sign accepts exactly the rights strings auth_parse_rights does;
 * - a URL signed for the path (or its directory) with the key is allowed exactly its rights, and
 *   one with a byte of its signature changed, or expired, is allowed nothing anyone is not;
 * - redaction: the output fits, is NUL-terminated, keeps every other parameter as it was, leaves
 *   every token and sig parameter (as http/uri.c decodes keys, an independent decoder) with the
 *   value REDACTED, and redacting again changes nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "http/uri.h"

#define NOW 1700000000

static const unsigned all_rights[] = {AUTH_READ, AUTH_APPEND, AUTH_DELETE};

/* The first-level split: up to n parts at NUL bytes. */
static size_t split(const char *p, size_t len, const char **part, size_t *plen, size_t n)
{
    size_t k = 0, i = 0;

    while (k < n) {
        const char *z = memchr(p + i, '\0', len - i);
        size_t end = z ? (size_t)(z - p) : len;
        part[k] = p + i;
        plen[k++] = end - i;
        if (!z)
            break;
        i = end + 1;
    }
    return k;
}

static char *dup_n(const char *p, size_t n)
{
    char *s = malloc(n + 1);

    if (!s)
        abort();
    memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

static int is_clean(const char *p)
{
    if (p[0] != '/')
        return 0;
    for (const char *s = p + 1;; s++) {
        size_t k = strcspn(s, "/");
        if ((k == 0 && s[k]) || (k == 1 && s[0] == '.') || (k == 2 && s[0] == '.' && s[1] == '.'))
            return 0;
        s += k;
        if (!*s)
            return 1;
    }
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\0';
}

/* 1 when text holds w[0..n) as a blank-separated word. */
static int has_word(const char *text, size_t tlen, const char *w, size_t n)
{
    for (size_t i = 0; i + n <= tlen; i++)
        if (memcmp(text + i, w, n) == 0 && (i == 0 || is_blank(text[i - 1])) &&
            (i + n == tlen || is_blank(text[i + n])))
            return 1;
    return 0;
}

/* 1 when the rules text names path or one of its directory prefixes. */
static int text_names(const char *text, size_t tlen, const char *path)
{
    size_t n = strlen(path);

    if (has_word(text, tlen, path, n))
        return 1;
    for (size_t i = 0; i < n; i++)
        if (path[i] == '/' && has_word(text, tlen, path, i + 1))
            return 1;
    return 0;
}

static int query_has_sig(const char *q, size_t n)
{
    char v[8];
    return q && uri_query_get(q, n, "sig", v, sizeof(v));
}

static int verdict_ok(int v)
{
    return v == AUTH_OK || v == AUTH_BAD_REQUEST || v == AUTH_UNAUTHORIZED || v == AUTH_FORBIDDEN;
}

static void check_decision(const auth_rules *a, const auth_request *q, const char *text,
                           size_t tlen, int has_key)
{
    unsigned want = 0;

    for (size_t i = 0; i < 3; i++) {
        int v = auth_check(a, q, all_rights[i]);
        if (!verdict_ok(v) || v != auth_check(a, q, all_rights[i]))
            abort();
        if (v == AUTH_OK) {
            want |= all_rights[i];
            if (!is_clean(q->path))
                abort();
            if (!(has_key && query_has_sig(q->query, q->query_len)) &&
                !text_names(text, tlen, q->path))
                abort();
        }
    }
    if (auth_rights(a, q) != want)
        abort();
    if (!verdict_ok(auth_check(a, q, 0)) || auth_check(a, q, 0) == AUTH_OK ||
        auth_check(a, q, AUTH_READ | AUTH_APPEND) == AUTH_OK)
        abort();
}

/* A URL signed with the key for the path (or its directory) gets its rights and no more. */
static void check_signed(const auth_rules *a, const char *path, const uint8_t *key, size_t klen,
                         const char *rights, int dir)
{
    char sp[4096], q[4200];
    unsigned r;
    size_t n = strlen(path);

    if (!is_clean(path) || n >= sizeof(sp) || auth_parse_rights(rights, strlen(rights), &r) < 0)
        return;
    memcpy(sp, path, n + 1);
    if (dir)
        strrchr(sp, '/')[1] = '\0';
    size_t qn = auth_sign(key, klen, rights, NOW + 100, sp, q, sizeof(q));
    if (qn == 0 || qn != strlen(q))
        abort();
    auth_request none = {.path = path, .now = NOW};
    auth_request rq = {.path = path, .query = q, .query_len = qn, .now = NOW};
    auth_request late = rq;
    late.now = NOW + 101;
    for (size_t i = 0; i < 3; i++) {
        unsigned right = all_rights[i];
        int anyone = auth_check(a, &none, right) == AUTH_OK;
        int v = auth_check(a, &rq, right);
        if ((r & right) ? v != AUTH_OK : (v != AUTH_FORBIDDEN && !anyone))
            abort();
        if (auth_check(a, &late, right) == AUTH_OK && !anyone)
            abort();
        /* change each byte of the signature in turn (the last 43 bytes of q) */
        for (size_t j = qn - 43; j < qn; j += 7) {
            char c = q[j];
            q[j] = c == 'A' ? 'B' : 'A';
            int t = auth_check(a, &rq, right);
            q[j] = c;
            if (t == AUTH_OK && !anyone)
                abort();
        }
    }
}

/* Every piece of the redacted query is the original, or, for a token or sig key with a value,
 * "KEY=REDACTED". */
static void check_redact(const char *path, size_t plen, const char *query, size_t qlen)
{
    size_t tlen = plen + 1 + qlen,
           cap = tlen + 8 * (tlen / 2 + 1) + 1; /* room for every piece to grow by REDACTED */
    char *t = malloc(tlen + 1), *out = malloc(cap), *again = malloc(cap), small[16];

    if (!t || !out || !again)
        abort();
    memcpy(t, path, plen);
    t[plen] = '?';
    memcpy(t + plen + 1, query, qlen);
    t[tlen] = '\0';
    size_t n = auth_redact_target(t, tlen, out, cap);
    if (n >= cap || out[n] != '\0' || strlen(out) != n)
        abort();
    if (auth_redact_target(out, n, again, cap) != n || strcmp(out, again) != 0)
        abort();
    /* cut off: a prefix of the whole */
    size_t m = auth_redact_target(t, tlen, small, sizeof(small));
    if (m >= sizeof(small) || strncmp(small, out, m) != 0 || (m < n && m != sizeof(small) - 1))
        abort();
    const char *qm = memchr(t, '?', tlen), *oq = strchr(out, '?');
    if (!qm || !oq || (size_t)(oq - out) != (size_t)(qm - t) || memcmp(out, t, (size_t)(qm - t)))
        abort();
    const char *a = qm + 1, *b = oq + 1, *aend = t + tlen;
    for (;;) {
        size_t al = strcspn(a, "&"), bl = strcspn(b, "&");
        if (a + al > aend)
            abort();
        char v[16];
        int secret = uri_query_get(a, al, "token", v, sizeof(v)) ||
                     uri_query_get(a, al, "sig", v, sizeof(v));
        const char *eq = memchr(a, '=', al);
        if (secret && eq) {
            size_t kl = (size_t)(eq - a) + 1;
            if (bl != kl + 8 || memcmp(b, a, kl) || memcmp(b + kl, "REDACTED", 8))
                abort();
        } else if (al != bl || memcmp(a, b, al)) {
            abort();
        }
        if (a[al] != b[bl])
            abort();
        if (!a[al])
            break;
        a += al + 1;
        b += bl + 1;
    }
    free(t);
    free(out);
    free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *part[6] = {"", "", "", "", "", ""};
    size_t plen[6] = {0}, nparts;
    static const int64_t clocks[] = {NOW, 0, INT64_MAX, NOW + 1000000};
    auth_rules *a = NULL;
    char err[256] = "";

    if (size < 1 || size > 16384)
        return 0;
    unsigned flags = data[0];
    nparts = split((const char *)data + 1, size - 1, part, plen, 6);
    (void)nparts;
    const char *text = part[0];
    size_t tlen = plen[0];
    char *path = dup_n(part[1], plen[1]);
    const uint8_t *key = (const uint8_t *)part[4];
    size_t klen = plen[4];
    char *rights = dup_n(part[5], plen[5]);

    if (auth_parse("fuzz", text, tlen, key, klen, &a, err, sizeof(err)) == 0) {
        if (!a)
            abort();
    } else {
        unsigned line;
        int at = 0;
        if (a || sscanf(err, "fuzz:%u: %n", &line, &at) != 1 || at == 0 || !err[at])
            abort();
        tlen = 0;
        if (auth_parse("fuzz", "", 0, key, klen, &a, err, sizeof(err)) != 0)
            abort();
    }

    auth_request q = {
        .path = path,
        .authorization = (flags & 4) ? part[2] : NULL,
        .authorization_len = (flags & 4) ? plen[2] : 0,
        .authorization_count = (int)(flags & 3),
        .query = plen[3] ? part[3] : NULL,
        .query_len = plen[3],
        .now = clocks[(flags >> 3) & 3],
    };
    check_decision(a, &q, text, tlen, klen > 0);
    unsigned r;
    char *sq = malloc(plen[5] + 128);
    if (!sq)
        abort();
    int rights_ok = auth_parse_rights(rights, strlen(rights), &r) == 0;
    if (rights_ok != (auth_sign((const uint8_t *)"k", 1, rights, NOW, "/", sq, plen[5] + 128) > 0))
        abort();
    free(sq);
    if (klen > 0)
        check_signed(a, path, key, klen, rights, (flags & 32) != 0);
    check_redact(part[1], plen[1], part[3], plen[3]);

    auth_free(a);
    free(path);
    free(rights);
    return 0;
}
