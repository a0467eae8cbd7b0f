/* auth.c -- access control: the rules file, the credentials a request presents (a bearer token in
 * the Authorization header or the query, a signed URL), the decision, and log redaction (see
 * auth.h). No sockets, no libuv.
 *
 * Invariants, and why they hold:
 * - Secrets are compared in constant time over fixed-size values. Every token rule keeps only the
 *   SHA-256 of its token (a sha256:HEX rule keeps the digest it names), and a presented token is
 *   hashed once, so each comparison is over 32 bytes (digest_equal) whatever the tokens' lengths,
 *   and every rule is compared (no early exit), so timing tells neither which rule knows a token
 *   nor how long it is. Signatures are compared the same way, after decoding to their 32 bytes.
 * - A path that is not clean (not starting with '/', or with an empty, "." or ".." element) never
 *   matches a rule or a signature, whatever the caller passes.
 * - Nothing here copies a token, a signature or an Authorization header into an error message, and
 *   auth_redact_target writes the values of exactly the query parameters auth_check reads secrets
 *   from (the same key decoding) as REDACTED.
 * - The decision reads nothing but its arguments: rules are immutable after auth_parse, so one rule
 *   set may serve any number of threads.
 *
 * Choices auth.h leaves open:
 * - `#` starts a comment at the start of a field (the line's start, or after a blank); inside a
 *   field it is an ordinary character, so a token such as "ab#cd" is never silently cut to "ab".
 * - A field starting "sha256:" (any case) must be followed by exactly 64 hex digits; anything else
 *   is an error rather than a plain token that happens to start that way.
 * - A prefix must be clean itself (as path_clean leaves it), else it could never match.
 * - Tokens (in rules and presented) are at most AUTH_TOKEN_MAX bytes; longer ones are a parse
 *   error in a rule and a malformed credential (400) in a request.
 * - In the query, keys and values are decoded as forms are ('+' is a space, %XX escapes), so a
 *   token holding '+' is sent as %2B; a decoded NUL byte or a bad escape is malformed.
 * - Any malformed credential is 400, the query token included when an Authorization header wins,
 *   and two expires, rights or sig parameters are malformed like two token parameters.
 * - The signed text holds the expires and rights values as presented (decoded), so a URL whose
 *   rights were reordered or whose expires gained a leading zero no longer verifies.
 * - A signature (all three parameters present) decides alone: a bearer token next to it is not
 *   consulted. A sig that is not the canonical base64url of 32 bytes is 403. */
#include "auth/auth.h"
#include "auth/auth_int.h"
#include "http/uri.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

enum param { P_TOKEN, P_EXPIRES, P_RIGHTS, P_SIG, P_COUNT };

/* ---- small codecs ---- */

/* Form-decodes s[0..n) ('+' is a space, %XX escapes) into out (cap bytes, NUL-terminated).
 * Returns the decoded length, -1 for a bad escape or a NUL byte, -2 when it does not fit. */
static long form_decode(const char *s, size_t n, char *out, size_t cap)
{
    size_t w = 0;

    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            int hi = i + 2 < n ? uri_hexval(s[i + 1]) : -1,
                lo = i + 2 < n ? uri_hexval(s[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                return -1;
            c = hi << 4 | lo;
            i += 2;
        } else if (c == '+') {
            c = ' ';
        }
        if (c == 0)
            return -1;
        if (w + 1 >= cap)
            return -2;
        out[w++] = (char)c;
    }
    if (cap)
        out[w] = '\0';
    return cap ? (long)w : -2;
}

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Base64url without padding of in[0..n) into out (room for (n * 4 + 2) / 3 + 1); NUL-terminated.
 * Returns the length. */
static size_t b64url_encode(const uint8_t *in, size_t n, char *out)
{
    size_t w = 0;
    uint32_t acc = 0;
    int bits = 0;

    for (size_t i = 0; i < n; i++) {
        acc = acc << 8 | in[i];
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out[w++] = b64url[(acc >> bits) & 63];
        }
    }
    if (bits > 0)
        out[w++] = b64url[(acc << (6 - bits)) & 63];
    out[w] = '\0';
    return w;
}

/* Decodes a signature: exactly AUTH_SIG_CHARS base64url characters, the unused low bits of the last
 * zero (the canonical form). Returns 0 with out set, or -1. */
static int sig_decode(const char *s, size_t n, uint8_t out[AUTH_DIGEST_LEN])
{
    uint32_t acc = 0;
    int bits = 0;
    size_t w = 0;

    if (n != AUTH_SIG_CHARS)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const char *p = s[i] ? strchr(b64url, s[i]) : NULL;
        if (!p)
            return -1;
        acc = acc << 6 | (uint32_t)(p - b64url);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[w++] = (uint8_t)(acc >> bits);
        }
    }
    return w == AUTH_DIGEST_LEN && (acc & ((1u << bits) - 1)) == 0 ? 0 : -1;
}

/* 1 when two digests are equal, in constant time: four 64-bit words XORed and ORed, no early exit
 * (CRYPTO_memcmp goes a byte at a time: with a hundred rules it was most of a decision's cost). */
static int digest_equal(const uint8_t a[AUTH_DIGEST_LEN], const uint8_t b[AUTH_DIGEST_LEN])
{
    volatile uint64_t acc = 0;

    for (size_t i = 0; i < AUTH_DIGEST_LEN; i += 8) {
        uint64_t x, y;
        memcpy(&x, a + i, 8);
        memcpy(&y, b + i, 8);
        acc |= x ^ y;
    }
    return acc == 0;
}

int auth_sha256(const void *p, size_t n, uint8_t out[AUTH_DIGEST_LEN])
{
    unsigned len = 0;

    return EVP_Digest(p, n, out, &len, EVP_sha256(), NULL) == 1 && len == AUTH_DIGEST_LEN ? 0 : -1;
}

/* ---- HMAC-SHA256 ---- */

EVP_MAC_CTX *auth_mac_new(const uint8_t *key, size_t key_len)
{
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_end(),
    };
    EVP_MAC *m = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *c = m ? EVP_MAC_CTX_new(m) : NULL;

    EVP_MAC_free(m); /* the context holds its own reference */
    if (c && EVP_MAC_init(c, key, key_len, params) != 1) {
        EVP_MAC_CTX_free(c);
        c = NULL;
    }
    return c;
}

/* Feeds what comes before the path: the context, RIGHTS and EXPIRES, each ended by a newline. */
static int mac_head(EVP_MAC_CTX *c, const char *rights, const char *expires)
{
    return EVP_MAC_update(c, (const uint8_t *)AUTH_SIG_CONTEXT, strlen(AUTH_SIG_CONTEXT)) == 1 &&
                   EVP_MAC_update(c, (const uint8_t *)rights, strlen(rights)) == 1 &&
                   EVP_MAC_update(c, (const uint8_t *)"\n", 1) == 1 &&
                   EVP_MAC_update(c, (const uint8_t *)expires, strlen(expires)) == 1 &&
                   EVP_MAC_update(c, (const uint8_t *)"\n", 1) == 1
               ? 0
               : -1;
}

/* 1 when the MAC of what c has absorbed is sig (c itself is left as it was). */
static int mac_equals(const EVP_MAC_CTX *c, const uint8_t sig[AUTH_DIGEST_LEN])
{
    uint8_t md[AUTH_DIGEST_LEN];
    size_t len = 0;
    EVP_MAC_CTX *d = EVP_MAC_CTX_dup(c);
    int ok = d && EVP_MAC_final(d, md, &len, sizeof(md)) == 1 && len == sizeof(md) &&
             CRYPTO_memcmp(md, sig, sizeof(md)) == 0;

    EVP_MAC_CTX_free(d);
    return ok;
}

/* 1 when sig signs (rights, expires) for path[0..n) or for one of its directory prefixes ("/",
 * "/a/", ...). The path is fed once; the MAC is finished on a copy at each '/'. */
static int sig_matches(const EVP_MAC_CTX *base, const char *rights, const char *expires,
                       const char *path, size_t n, const uint8_t sig[AUTH_DIGEST_LEN])
{
    EVP_MAC_CTX *c = EVP_MAC_CTX_dup(base);
    size_t fed = 0;
    int ok = 0;

    if (!c || mac_head(c, rights, expires) < 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        if (path[i] != '/')
            continue;
        if (EVP_MAC_update(c, (const uint8_t *)path + fed, i + 1 - fed) != 1)
            goto out;
        fed = i + 1;
        ok |= mac_equals(c, sig);
    }
    if (fed < n && EVP_MAC_update(c, (const uint8_t *)path + fed, n - fed) == 1)
        ok |= mac_equals(c, sig);
out:
    EVP_MAC_CTX_free(c);
    return ok;
}

/* ---- credentials ---- */

/* What a request presents, parsed. */
typedef struct cred {
    int has_token;                   /* a bearer token came (header, else query) */
    uint8_t digest[AUTH_DIGEST_LEN]; /* its SHA-256 */
    int has_sig;                     /* expires, rights and sig all came, expires and rights good */
    int64_t expires;
    unsigned rights;
    int sig_ok; /* sig decoded to 32 bytes */
    uint8_t sig[AUTH_DIGEST_LEN];
    char expires_s[AUTH_PARAM_MAX], rights_s[AUTH_PARAM_MAX]; /* as presented (decoded) */
} cred;

/* Which of our parameters the raw key k[0..n) names (decoded as a form key), or -1. */
static int param_kind(const char *k, size_t n)
{
    static const char *const names[P_COUNT] = {"token", "expires", "rights", "sig"};
    char key[8];

    if (form_decode(k, n, key, sizeof(key)) < 0)
        return -1;
    for (int i = 0; i < P_COUNT; i++)
        if (strcmp(key, names[i]) == 0)
            return i;
    return -1;
}

static int parse_expires(const char *s, int64_t *out)
{
    int64_t v = 0;

    if (!*s)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        int d = *s - '0';
        if (v > (INT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* One of our parameters, value v[0..n) (raw). Returns -1 when it is malformed. */
static int take_param(cred *c, int kind, const char *v, size_t n, int use_token)
{
    char buf[AUTH_TOKEN_MAX + 1];
    long len;

    switch (kind) {
    case P_TOKEN:
        len = form_decode(v, n, buf, sizeof(buf));
        if (len < 0 || !auth_token_valid(buf, (size_t)len))
            return -1;
        if (use_token) {
            c->has_token = auth_sha256(buf, (size_t)len, c->digest) == 0;
            OPENSSL_cleanse(buf, (size_t)len);
        }
        return 0;
    case P_EXPIRES:
        return form_decode(v, n, c->expires_s, sizeof(c->expires_s)) < 0 ? -1 : 0;
    case P_RIGHTS:
        return form_decode(v, n, c->rights_s, sizeof(c->rights_s)) < 0 ? -1 : 0;
    default: /* P_SIG: anything wrong with it is a bad signature (403), not malformed */
        len = form_decode(v, n, buf, sizeof(buf));
        c->sig_ok = len >= 0 && sig_decode(buf, (size_t)len, c->sig) == 0;
        return 0;
    }
}

/* Reads the query's parameters into c. Returns -1 when they are malformed. */
static int parse_query(cred *c, const char *q, size_t len, int use_token)
{
    int seen[P_COUNT] = {0};
    size_t i = 0;

    while (q && i < len) {
        const char *amp = memchr(q + i, '&', len - i);
        size_t end = amp ? (size_t)(amp - q) : len;
        const char *eq = memchr(q + i, '=', end - i);
        size_t key_end = eq ? (size_t)(eq - q) : end;
        int kind = param_kind(q + i, key_end - i);
        if (kind >= 0) {
            if (seen[kind]++)
                return -1; /* two of a kind: which one counts is ambiguous */
            const char *v = eq ? eq + 1 : q + end;
            if (take_param(c, kind, v, (size_t)(q + end - v), use_token) < 0)
                return -1;
        }
        i = end + 1;
    }
    int sig = seen[P_EXPIRES] + seen[P_RIGHTS] + seen[P_SIG];
    if (sig == 0)
        return 0;
    if (sig != 3 || parse_expires(c->expires_s, &c->expires) < 0 ||
        auth_parse_rights(c->rights_s, strlen(c->rights_s), &c->rights) < 0)
        return -1;
    c->has_sig = 1;
    return 0;
}

/* The Authorization header: "Bearer" (any case), one space or more, a token; blanks around are
 * trimmed. Returns -1 when it is anything else. */
static int parse_authorization(cred *c, const char *h, size_t n)
{
    while (n > 0 && (h[0] == ' ' || h[0] == '\t')) {
        h++;
        n--;
    }
    while (n > 0 && (h[n - 1] == ' ' || h[n - 1] == '\t'))
        n--;
    if (n < 8 || strncasecmp(h, "bearer", 6) != 0 || h[6] != ' ')
        return -1;
    size_t i = 7;
    while (i < n && h[i] == ' ')
        i++;
    if (!auth_token_valid(h + i, n - i) || auth_sha256(h + i, n - i, c->digest) < 0)
        return -1;
    c->has_token = 1;
    return 0;
}

/* Parses what q presents. Returns -1 when the credential is malformed (400). */
static int parse_cred(cred *c, const auth_request *q)
{
    int count = q->authorization_count;

    memset(c, 0, sizeof(*c));
    if (q->authorization && count < 1)
        count = 1;
    if (count > 1)
        return -1;
    if (count == 1 &&
        (!q->authorization || parse_authorization(c, q->authorization, q->authorization_len) < 0))
        return -1;
    return parse_query(c, q->query, q->query_len, !c->has_token);
}

/* ---- the decision ---- */

static int anyone_grants(const auth_rules *a, const char *path, size_t n, unsigned right)
{
    for (size_t i = 0; a && i < a->n; i++) {
        const rule *r = &a->rules[i];
        if (r->anyone && (r->rights & right) && auth_rule_covers(r, path, n))
            return 1;
    }
    return 0;
}

static int sig_verdict(const auth_rules *a, const cred *c, const char *path, size_t n, int clean,
                       unsigned right, int64_t now)
{
    if (!a || !a->mac || !c->sig_ok || !clean || now > c->expires || !(c->rights & right))
        return AUTH_FORBIDDEN;
    return sig_matches(a->mac, c->rights_s, c->expires_s, path, n, c->sig) ? AUTH_OK
                                                                           : AUTH_FORBIDDEN;
}

/* Every token rule is compared, in constant time, whatever matched before. */
static int token_verdict(const auth_rules *a, const cred *c, const char *path, size_t n, int clean,
                         unsigned right)
{
    int known = 0, granted = 0;

    for (size_t i = 0; a && i < a->n; i++) {
        const rule *r = &a->rules[i];
        if (r->anyone)
            continue;
        int match = digest_equal(r->digest, c->digest);
        known |= match;
        granted |= match && clean && (r->rights & right) && auth_rule_covers(r, path, n);
    }
    return granted ? AUTH_OK : known ? AUTH_FORBIDDEN : AUTH_UNAUTHORIZED;
}

int auth_check(const auth_rules *a, const auth_request *q, unsigned right)
{
    cred c;

    if (!q)
        return AUTH_UNAUTHORIZED;
    if (parse_cred(&c, q) < 0)
        return AUTH_BAD_REQUEST;
    const char *path = q->path ? q->path : "";
    size_t n = strlen(path);
    int clean = auth_path_is_clean(path, n);
    if (!auth_right_valid(right))
        right = 0; /* grants nothing */
    int v = clean && anyone_grants(a, path, n, right) ? AUTH_OK
            : c.has_sig   ? sig_verdict(a, &c, path, n, clean, right, q->now)
            : c.has_token ? token_verdict(a, &c, path, n, clean, right)
                          : AUTH_UNAUTHORIZED;
    OPENSSL_cleanse(&c, sizeof(c));
    return v;
}

unsigned auth_rights(const auth_rules *a, const auth_request *q)
{
    static const unsigned all[] = {AUTH_READ, AUTH_APPEND, AUTH_DELETE};
    unsigned r = 0;

    for (size_t i = 0; i < sizeof(all) / sizeof(*all); i++)
        if (auth_check(a, q, all[i]) == AUTH_OK)
            r |= all[i];
    return r;
}

/* ---- redaction and signing ---- */

typedef struct outbuf {
    char *p;
    size_t cap, len; /* len < cap: room for the NUL */
} outbuf;

static void put(outbuf *o, const char *s, size_t n)
{
    size_t room = o->cap - 1 - o->len;

    if (n > room)
        n = room;
    if (n == 0)
        return;
    memcpy(o->p + o->len, s, n);
    o->len += n;
}

size_t auth_redact_target(const char *t, size_t n, char *out, size_t cap)
{
    outbuf o = {out, cap, 0};

    if (!out || cap == 0)
        return 0;
    if (!t)
        n = 0;
    const char *qm = n ? memchr(t, '?', n) : NULL;
    size_t i = qm ? (size_t)(qm - t) + 1 : n;
    put(&o, t, i);
    while (qm && i < n) {
        const char *amp = memchr(t + i, '&', n - i);
        size_t end = amp ? (size_t)(amp - t) : n;
        const char *eq = memchr(t + i, '=', end - i);
        int kind = eq ? param_kind(t + i, (size_t)(eq - t) - i) : -1;
        if (kind == P_TOKEN || kind == P_SIG) {
            put(&o, t + i, (size_t)(eq + 1 - t) - i);
            put(&o, "REDACTED", 8);
        } else {
            put(&o, t + i, end - i);
        }
        if (amp)
            put(&o, "&", 1);
        i = end + 1;
    }
    out[o.len] = '\0';
    return o.len;
}

size_t auth_sign(const uint8_t *key, size_t key_len, const char *rights, int64_t expires,
                 const char *path, char *out, size_t cap)
{
    char exp[24], sig[AUTH_SIG_CHARS + 1];
    uint8_t md[AUTH_DIGEST_LEN];
    size_t len = 0;
    unsigned r;
    EVP_MAC_CTX *c;

    if (!key || !key_len || !rights || auth_parse_rights(rights, strlen(rights), &r) < 0 ||
        expires < 0 || !path || path[0] != '/')
        return 0;
    snprintf(exp, sizeof(exp), "%lld", (long long)expires);
    c = auth_mac_new(key, key_len);
    int ok = c && mac_head(c, rights, exp) == 0 &&
             EVP_MAC_update(c, (const uint8_t *)path, strlen(path)) == 1 &&
             EVP_MAC_final(c, md, &len, sizeof(md)) == 1 && len == sizeof(md);
    EVP_MAC_CTX_free(c);
    if (!ok)
        return 0;
    b64url_encode(md, sizeof(md), sig);
    int n = snprintf(out, cap, "expires=%s&rights=%s&sig=%s", exp, rights, sig);
    if (n < 0 || (size_t)n >= cap) {
        if (cap)
            out[0] = '\0';
        return 0;
    }
    return (size_t)n;
}
