/* test_auth.c -- unit tests for src/auth/auth.c: the rules file (every error with its line), the
 * decision in each of its rows, rights and prefixes, anonymous and sha256: rules, bearer tokens in
 * the header and the query (malformed, duplicated), signed URLs (tampered, moved, expired, signed
 * for a prefix, hostile expires and sig values), auth_rights, redaction and signing. */
#include "../harness.h"
#include "auth/auth.h"

#include <stdlib.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#define KEY     "the signing key"
#define KEY_LEN (sizeof(KEY) - 1)
#define NOW     1700000000

/* Parses text with KEY; NULL (and a failure counted) when it does not parse. */
static auth_rules *rules_key(const char *text, const char *key)
{
    auth_rules *a = NULL;
    char err[256] = "";

    if (auth_parse("rules", text, strlen(text), (const uint8_t *)key, key ? strlen(key) : 0, &a,
                   err, sizeof(err)) != 0)
        test_fail(__FILE__, __LINE__, "auth_parse: %s", err);
    return a;
}

static auth_rules *rules(const char *text)
{
    return rules_key(text, KEY);
}

/* auth_check with an Authorization header (NULL: none, counted as given), a query (NULL: none). */
static int check_n(const auth_rules *a, const char *path, const char *authz, int count,
                   const char *query, int64_t now, unsigned right)
{
    auth_request q = {
        .path = path,
        .authorization = authz,
        .authorization_len = authz ? strlen(authz) : 0,
        .authorization_count = count,
        .query = query,
        .query_len = query ? strlen(query) : 0,
        .now = now,
    };
    return auth_check(a, &q, right);
}

static int check(const auth_rules *a, const char *path, const char *authz, const char *query,
                 unsigned right)
{
    return check_n(a, path, authz, authz ? 1 : 0, query, NOW, right);
}

static unsigned rights_of(const auth_rules *a, const char *path, const char *authz,
                          const char *query)
{
    auth_request q = {
        .path = path,
        .authorization = authz,
        .authorization_len = authz ? strlen(authz) : 0,
        .authorization_count = authz ? 1 : 0,
        .query = query,
        .query_len = query ? strlen(query) : 0,
        .now = NOW,
    };
    return auth_rights(a, &q);
}

/* The signed URL's query for path, with KEY, into a t_fmt buffer ("" when auth_sign fails). */
static const char *signed_q(const char *rights, int64_t expires, const char *path)
{
    char out[256];

    if (auth_sign((const uint8_t *)KEY, KEY_LEN, rights, expires, path, out, sizeof(out)) == 0)
        return "";
    return t_fmt("%s", out);
}

/* The value of sig in a signed query (a t_fmt buffer). */
static const char *sig_of(const char *q)
{
    const char *s = strstr(q, "sig=");
    return t_fmt("%s", s ? s + 4 : "");
}

/* ---- the rules file ---- */

static void test_parse_comments_blanks(void)
{
    const char *text = "# a comment\n"
                       "\n"
                       "   \t  \n"
                       "read /a/ tok-a # who reads a\n"
                       "\tappend\t/b/\ttok-b\t\n"
                       "read /c/ tok#c\n" /* '#' inside a token is part of it */
                       "read /d/ tok-d\r\n"
                       "#read / commented-out\n"
                       "read /e/ tok-e"; /* no newline at the end */
    auth_rules *a = rules(text);

    CHECK(a);
    CHECK_INT(check(a, "/a/x", "Bearer tok-a", NULL, AUTH_READ), AUTH_OK);
    CHECK_INT(check(a, "/b/x", "Bearer tok-b", NULL, AUTH_APPEND), AUTH_OK);
    CHECK_INT(check(a, "/c/x", "Bearer tok#c", NULL, AUTH_READ), AUTH_OK);
    CHECK_INT(check(a, "/c/x", "Bearer tok", NULL, AUTH_READ), AUTH_UNAUTHORIZED);
    CHECK_INT(check(a, "/d/x", "Bearer tok-d", NULL, AUTH_READ), AUTH_OK);
    CHECK_INT(check(a, "/x", "Bearer commented-out", NULL, AUTH_READ), AUTH_UNAUTHORIZED);
    CHECK_INT(check(a, "/e/x", "Bearer tok-e", NULL, AUTH_READ), AUTH_OK);
    auth_free(a);
}

static void test_parse_empty(void)
{
    auth_rules *a = NULL;
    char err[64];

    CHECK_INT(auth_parse("r", NULL, 0, NULL, 0, &a, err, sizeof(err)), 0);
    CHECK(a);
    CHECK_INT(check(a, "/x", "Bearer t", NULL, AUTH_READ), AUTH_UNAUTHORIZED);
    CHECK_INT(check(a, "/x", NULL, NULL, AUTH_READ), AUTH_UNAUTHORIZED);
    auth_free(a);
    auth_free(NULL);
    CHECK_INT(check(NULL, "/x", NULL, NULL, AUTH_READ), AUTH_UNAUTHORIZED);
    CHECK_INT(auth_check(NULL, NULL, AUTH_READ), AUTH_UNAUTHORIZED);
}

static void test_parse_errors(void)
{
    static const struct {
        const char *text, *err;
    } cases[] = {
        {"read /a/\n", "rules:1: expected RIGHTS PREFIX TOKEN"},
        {"# ok\n\nread\n", "rules:3: expected RIGHTS PREFIX TOKEN"},
        {"read /a/ #tok\n", "rules:1: expected RIGHTS PREFIX TOKEN"},
        {"read / t extra\n",
         "rules:1: text after TOKEN (a rule is RIGHTS PREFIX TOKEN; a token holds no blanks)"},
        {"read / t\nwrite / t\n", "rules:2: RIGHTS must be a comma list of read, append, delete"},
        {"read, / t\n", "rules:1: RIGHTS must be a comma list of read, append, delete"},
        {",read / t\n", "rules:1: RIGHTS must be a comma list of read, append, delete"},
        {"read,,append / t\n", "rules:1: RIGHTS must be a comma list of read, append, delete"},
        {"Read / t\n", "rules:1: RIGHTS must be a comma list of read, append, delete"},
        {"\n\n\n\nread a/ t\n", "rules:5: PREFIX must start with '/'"},
        {"read //a t\n", "rules:1: PREFIX is not a clean path (an empty, \".\" or \"..\" element)"},
        {"read /a/../b t\n",
         "rules:1: PREFIX is not a clean path (an empty, \".\" or \"..\" element)"},
        {"read /a/. t\n",
         "rules:1: PREFIX is not a clean path (an empty, \".\" or \"..\" element)"},
        {"read /.. t\n", "rules:1: PREFIX is not a clean path (an empty, \".\" or \"..\" element)"},
        {"read /a\x01 t\n", "rules:1: PREFIX holds a control character"},
        {"read / sha256:abcd\n", "rules:1: sha256: wants 64 hex digits"},
        {"read / sha256:"
         "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeg\n",
         "rules:1: sha256: wants 64 hex digits"},
        {"read / sha256:"
         "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0\n",
         "rules:1: sha256: wants 64 hex digits"},
        {"read / t\xc3\xa9\n", "rules:1: TOKEN holds a byte that is not printable ASCII"},
        {"read / t\x01\n", "rules:1: TOKEN holds a byte that is not printable ASCII"},
        {"read / t\rx\n", "rules:1: TOKEN holds a byte that is not printable ASCII"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        auth_rules *a = (auth_rules *)&a; /* must be reset to NULL */
        char err[256] = "";
        int rc = auth_parse("rules", cases[i].text, strlen(cases[i].text), NULL, 0, &a, err,
                            sizeof(err));
        EXPECTF(rc == -1 && a == NULL, "case %zu: rc %d", i, rc);
        EXPECTF(strcmp(err, cases[i].err) == 0, "case %zu: \"%s\", want \"%s\"", i, err,
                cases[i].err);
    }
}

static void test_parse_long_token(void)
{
    char *text = malloc(5000), err[256] = "";
    auth_rules *a = NULL;

    CHECK(text);
    memcpy(text, "read / ", 7);
    memset(text + 7, 'x', 4097);
    int rc = auth_parse("r", text, 7 + 4097, NULL, 0, &a, err, sizeof(err));
    int rc2 = auth_parse("r", text, 7 + 4096, NULL, 0, &a, NULL, 0);
    auth_free(a);
    free(text);
    CHECK_INT(rc, -1);
    CHECK_STR(err, "r:1: TOKEN is longer than 4096 bytes");
    CHECK_INT(rc2, 0);
}

/* Error messages never hold the token. */
static void test_parse_error_hides_token(void)
{
    const char *text = "read / supersecret extra\n";
    auth_rules *a = NULL;
    char err[256] = "";

    CHECK_INT(auth_parse("r", text, strlen(text), NULL, 0, &a, err, sizeof(err)), -1);
    CHECK(err[0]);
    CHECK(!strstr(err, "supersecret"));
}

static void test_load_files(void)
{
    char dir[] = "/tmp/hfs-test-auth.XXXXXX";
    auth_rules *a = NULL;
    char err[512];

    CHECK(mkdtemp(dir));
    const char *rules_file = t_fmt("%s/rules", dir), *bad = t_fmt("%s/bad", dir);
    const char *key_file = t_fmt("%s/key", dir), *empty = t_fmt("%s/empty", dir);
    const char *nl = t_fmt("%s/nl", dir), *missing = t_fmt("%s/missing", dir);
    CHECK_INT(t_file_write(rules_file, "read /a/ tok\n", 13), 0);
    CHECK_INT(t_file_write(bad, "read /a/ tok\n\nread a tok\n", 25), 0);
    CHECK_INT(t_file_write(key_file, KEY "\n", KEY_LEN + 1), 0);
    CHECK_INT(t_file_write(empty, "\n", 1), 0);
    CHECK_INT(t_file_write(nl, KEY "\n\n", KEY_LEN + 2), 0);

    /* The key file's trailing newline is not part of the key. */
    CHECK_INT(auth_load(rules_file, key_file, &a, err, sizeof(err)), 0);
    CHECK_INT(check(a, "/a/x", "Bearer tok", NULL, AUTH_READ), AUTH_OK);
    CHECK_INT(check(a, "/b/x", NULL, signed_q("read", NOW, "/b/x"), AUTH_READ), AUTH_OK);
    auth_free(a);
    /* Only one newline is dropped. */
    CHECK_INT(auth_load(NULL, nl, &a, err, sizeof(err)), 0);
    CHECK_INT(check(a, "/b/x", NULL, signed_q("read", NOW, "/b/x"), AUTH_READ), AUTH_FORBIDDEN);
    auth_free(a);
    /* No key: signatures are refused. */
    CHECK_INT(auth_load(rules_file, NULL, &a, err, sizeof(err)), 0);
    CHECK_INT(check(a, "/b/x", NULL, signed_q("read", NOW, "/b/x"), AUTH_READ), AUTH_FORBIDDEN);
    auth_free(a);

    CHECK_INT(auth_load(bad, NULL, &a, err, sizeof(err)), -1);
    CHECK(a == NULL);
    CHECK_STR(err, t_fmt("%s:3: PREFIX must start with '/'", bad));
    CHECK_INT(auth_load(missing, NULL, &a, err, sizeof(err)), -1);
    CHECK_STR(err, t_fmt("%s: No such file or directory", missing));
    CHECK_INT(auth_load(rules_file, missing, &a, err, sizeof(err)), -1);
    CHECK_STR(err, t_fmt("%s: No such file or directory", missing));
    CHECK_INT(auth_load(rules_file, empty, &a, err, sizeof(err)), -1);
    CHECK_STR(err, t_fmt("%s: the key is empty", empty));
    CHECK_INT(auth_load(dir, NULL, &a, err, sizeof(err)), -1);
    CHECK_STR(err, t_fmt("%s: Is a directory", dir));

    uint8_t *key;
    size_t key_len;
    CHECK_INT(auth_read_key(key_file, &key, &key_len, err, sizeof(err)), 0);
    CHECK_MEM(key, key_len, KEY, KEY_LEN);
    OPENSSL_cleanse(key, key_len);
    free(key);
    t_rm_rf(dir);
}

/* ---- the decision ---- */

static void test_decision_rows(void)
{
    auth_rules *a = rules("read /pub/ *\n"
                          "read,append /team/ tok-team\n"
                          "read /other/ tok-other\n");
    const char *sq = signed_q("append", NOW + 60, "/team/log");

    CHECK(a);
    /* 1. anyone: no credential needed, and an unknown token or a bad signature does not matter */
    CHECK_INT(check(a, "/pub/x", NULL, NULL, AUTH_READ), AUTH_OK);
    CHECK_INT(check(a, "/pub/x", "Bearer nobody", NULL, AUTH_READ), AUTH_OK);
    CHECK_INT(check(a, "/pub/x", NULL, "expires=1&rights=read&sig=x", AUTH_READ), AUTH_OK);
    /* ... but a malformed credential is 400 first */
    CHECK_INT(check(a, "/pub/x", "Basic abc", NULL, AUTH_READ), AUTH_BAD_REQUEST);
    CHECK_INT(check(a, "/pub/x", NULL, "token=a&token=b", AUTH_READ), AUTH_BAD_REQUEST);
    CHECK_INT(check(a, "/pub/x", NULL, "expires=1", AUTH_READ), AUTH_BAD_REQUEST);
    /* and anyone's rule grants only its rights */
    CHECK_INT(check(a, "/pub/x", NULL, NULL, AUTH_APPEND), AUTH_UNAUTHORIZED);
    /* 2. malformed */
    CHECK_INT(check(a, "/team/x", "Bearer", NULL, AUTH_READ), AUTH_BAD_REQUEST);
    /* 3. a signature decides alone */
    CHECK_INT(check(a, "/team/log", NULL, sq, AUTH_APPEND), AUTH_OK);
    CHECK_INT(check(a, "/team/log", NULL, sq, AUTH_READ), AUTH_FORBIDDEN);
    CHECK_INT(check(a, "/team/log", "Bearer tok-team", sq, AUTH_READ), AUTH_FORBIDDEN);
    CHECK_INT(check(a, "/team/log", "Bearer tok-team", t_fmt("%sx", sq), AUTH_APPEND),
              AUTH_FORBIDDEN);
    /* 4. a token: granted, known without the right (or elsewhere), unknown */
    CHECK_INT(check(a, "/team/x", "Bearer tok-team", NULL, AUTH_APPEND), AUTH_OK);
    CHECK_INT(check(a, "/team/x", "Bearer tok-team", NULL, AUTH_DELETE), AUTH_FORBIDDEN);
    CHECK_INT(check(a, "/team/x", "Bearer tok-other", NULL, AUTH_READ), AUTH_FORBIDDEN);
    CHECK_INT(check(a, "/else", "Bearer tok-team", NULL, AUTH_READ), AUTH_FORBIDDEN);
    CHECK_INT(check(a, "/team/x", "Bearer tok-nobody", NULL, AUTH_READ), AUTH_UNAUTHORIZED);
    CHECK_INT(check(a, "/team/x", NULL, "token=tok-team", AUTH_READ), AUTH_OK);
    /* 5. nothing */
    CHECK_INT(check(a, "/team/x", NULL, NULL, AUTH_READ), AUTH_UNAUTHORIZED);
    CHECK_INT(check(a, "/team/x", NULL, "a=1&b", AUTH_READ), AUTH_UNAUTHORIZED);
    auth_free(a);
}

static void test_each_right(void)
{
    auth_rules *a = rules("read / r\n"
                          "append / a\n"
                          "delete / d\n"
                          "read,append,delete / all\n"
                          "read,read / rr\n"
                          "delete,read / dr\n");
    static const struct {
        const char *token;
        unsigned rights;
    } cases[] = {
        {"r", AUTH_READ},   {"a", AUTH_APPEND},
        {"d", AUTH_DELETE}, {"all", AUTH_READ | AUTH_APPEND | AUTH_DELETE},
        {"rr", AUTH_READ},  {"dr", AUTH_DELETE | AUTH_READ},
    };
    static const unsigned each[] = {AUTH_READ, AUTH_APPEND, AUTH_DELETE};

    CHECK(a);
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        const char *authz = t_fmt("Bearer %s", cases[i].token);
        for (size_t j = 0; j < 3; j++) {
            int want = (cases[i].rights & each[j]) ? AUTH_OK : AUTH_FORBIDDEN;
            int got = check(a, "/x", authz, NULL, each[j]);
            EXPECTF(got == want, "%s, right %u: %d, want %d", cases[i].token, each[j], got, want);
        }
        unsigned got = rights_of(a, "/x", authz, NULL);
        EXPECTF(got == cases[i].rights, "%s: rights %u, want %u", cases[i].token, got,
                cases[i].rights);
    }
    /* Not one right: nothing is granted. */
    CHECK_INT(check(a, "/x", "Bearer all", NULL, 0), AUTH_FORBIDDEN);
    CHECK_INT(check(a, "/x", "Bearer all", NULL, AUTH_READ | AUTH_APPEND), AUTH_FORBIDDEN);
    CHECK_INT(check(a, "/x", "Bearer all", NULL, 8), AUTH_FORBIDDEN);
    auth_free(a);
}

static void test_prefixes(void)
{
    auth_rules *a = rules("read /a/ dir\n"
                          "read /a/f.log exact\n"
                          "read / root\n");
    static const struct {
        const char *token, *path;
        int want;
    } cases[] = {
        {"dir", "/a/", AUTH_OK},
        {"dir", "/a/b", AUTH_OK},
        {"dir", "/a/b/c/", AUTH_OK},
        {"dir", "/a", AUTH_FORBIDDEN},
        {"dir", "/ab", AUTH_FORBIDDEN},
        {"dir", "/ab/c", AUTH_FORBIDDEN},
        {"dir", "/b/a/", AUTH_FORBIDDEN},
        {"dir", "/", AUTH_FORBIDDEN},
        {"exact", "/a/f.log", AUTH_OK},
        {"exact", "/a/f.log/", AUTH_FORBIDDEN},
        {"exact", "/a/f.log2", AUTH_FORBIDDEN},
        {"exact", "/a/f.lo", AUTH_FORBIDDEN},
        {"exact", "/a/", AUTH_FORBIDDEN},
        {"root", "/", AUTH_OK},
        {"root", "/anything/at/all", AUTH_OK},
        /* paths that are not clean never match */
        {"root", "/a/../b", AUTH_FORBIDDEN},
        {"root", "/a/..", AUTH_FORBIDDEN},
        {"root", "/..", AUTH_FORBIDDEN},
        {"root", "/a//b", AUTH_FORBIDDEN},
        {"root", "/a/./b", AUTH_FORBIDDEN},
        {"root", "a/b", AUTH_FORBIDDEN},
        {"root", "", AUTH_FORBIDDEN},
        {"dir", "/a/../etc", AUTH_FORBIDDEN},
        {"dir", "/a/b/../../c", AUTH_FORBIDDEN},
    };

    CHECK(a);
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        int got = check(a, cases[i].path, t_fmt("Bearer %s", cases[i].token), NULL, AUTH_READ);
        EXPECTF(got == cases[i].want, "%s on \"%s\": %d, want %d", cases[i].token, cases[i].path,
                got, cases[i].want);
    }
    CHECK_INT(check(a, NULL, "Bearer root", NULL, AUTH_READ), AUTH_FORBIDDEN);
    auth_free(a);
}

static void test_anonymous(void)
{
    auth_rules *a = rules("read,append /open/ *\n"
                          "read /readme.txt *\n"
                          "read / *\n"
                          "append / writer\n");

    CHECK(a);
    CHECK_INT(check(a, "/open/x", NULL, NULL, AUTH_APPEND), AUTH_OK);
    CHECK_INT(check(a, "/readme.txt", NULL, NULL, AUTH_READ), AUTH_OK);
    CHECK_INT(check(a, "/anything", NULL, NULL, AUTH_READ), AUTH_OK);
    CHECK_INT(check(a, "/anything", NULL, NULL, AUTH_APPEND), AUTH_UNAUTHORIZED);
    CHECK_INT(check(a, "/anything", NULL, NULL, AUTH_DELETE), AUTH_UNAUTHORIZED);
    CHECK_INT(check(a, "/anything", "Bearer writer", NULL, AUTH_APPEND), AUTH_OK);
    CHECK_INT(check(a, "/anything", "Bearer writer", NULL, AUTH_DELETE), AUTH_FORBIDDEN);
    /* anyone's rule matches clean paths only */
    CHECK_INT(check(a, "/open/../x", NULL, NULL, AUTH_READ), AUTH_UNAUTHORIZED);
    /* "*" is not a token anyone can present to get more */
    CHECK_INT(check(a, "/x", "Bearer *", NULL, AUTH_APPEND), AUTH_UNAUTHORIZED);
    CHECK_INT(rights_of(a, "/open/x", NULL, NULL), AUTH_READ | AUTH_APPEND);
    CHECK_INT(rights_of(a, "/x", "Bearer writer", NULL), AUTH_READ | AUTH_APPEND);
    CHECK_INT(rights_of(a, "/x", "Basic x", NULL), 0);
    auth_free(a);
}

static void test_sha256_tokens(void)
{
    /* sha256("s3cret") and sha256("other") */
    auth_rules *a = rules("read /a/ sha256:"
                          "1ec1c26b50d5d3c58d9583181af8076655fe00756bf7285940ba3670f99fcba0\n"
                          "read /b/ SHA256:"
                          "D9298A10D1B0735837DC4BD85DAC641B0F3CEF27A47E5D53A54F2F3F5B2FCFFA\n");
    uint8_t md[32];
    unsigned len;

    CHECK(a);
    /* the digests above are what they say */
    CHECK(EVP_Digest("s3cret", 6, md, &len, EVP_sha256(), NULL) == 1);
    CHECK(md[0] == 0x1e && md[31] == 0xa0);
    CHECK(EVP_Digest("other", 5, md, &len, EVP_sha256(), NULL) == 1);
    CHECK(md[0] == 0xd9 && md[31] == 0xfa);

    CHECK_INT(check(a, "/a/x", "Bearer s3cret", NULL, AUTH_READ), AUTH_OK);
    CHECK_INT(check(a, "/b/x", "Bearer other", NULL, AUTH_READ), AUTH_OK);
    CHECK_INT(check(a, "/b/x", "Bearer s3cret", NULL, AUTH_READ), AUTH_FORBIDDEN);
    CHECK_INT(check(a, "/a/x", "Bearer s3cre", NULL, AUTH_READ), AUTH_UNAUTHORIZED);
    /* the digest itself is no credential */
    CHECK_INT(check(a, "/a/x",
                    "Bearer sha256:"
                    "1ec1c26b50d5d3c58d9583181af8076655fe00756bf7285940ba3670f99fcba0",
                    NULL, AUTH_READ),
              AUTH_UNAUTHORIZED);
    CHECK_INT(check(a, "/a/x",
                    "Bearer 1ec1c26b50d5d3c58d9583181af8076655fe00756bf7285940ba3670f99fcba0", NULL,
                    AUTH_READ),
              AUTH_UNAUTHORIZED);
    auth_free(a);
}

/* Many rules: every one is compared; a token in the last one is found. */
static void test_many_rules(void)
{
    tbuf b = {0};

    for (int i = 0; i < 2000; i++)
        tbuf_adds(&b, t_fmt("read /p%d/ tok-%d\n", i, i));
    tbuf_add(&b, "", 1);
    auth_rules *a = rules((const char *)b.p);
    tbuf_free(&b);
    CHECK(a);
    CHECK_INT(check(a, "/p1999/x", "Bearer tok-1999", NULL, AUTH_READ), AUTH_OK);
    CHECK_INT(check(a, "/p0/x", "Bearer tok-0", NULL, AUTH_READ), AUTH_OK);
    CHECK_INT(check(a, "/p0/x", "Bearer tok-1999", NULL, AUTH_READ), AUTH_FORBIDDEN);
    CHECK_INT(check(a, "/p0/x", "Bearer tok-2000", NULL, AUTH_READ), AUTH_UNAUTHORIZED);
    auth_free(a);
}

/* ---- credentials ---- */

static void test_bearer_forms(void)
{
    auth_rules *a = rules("read / tok\n");
    static const struct {
        const char *authz;
        int want;
    } cases[] = {
        {"Bearer tok", AUTH_OK},
        {"bearer tok", AUTH_OK},
        {"BEARER tok", AUTH_OK},
        {"bEaReR     tok", AUTH_OK},
        {"  Bearer tok \t", AUTH_OK}, /* blanks around the value */
        {"Bearer tok2", AUTH_UNAUTHORIZED},
        {"Bearer to", AUTH_UNAUTHORIZED},
        {"Bearer", AUTH_BAD_REQUEST},
        {"Bearer ", AUTH_BAD_REQUEST},
        {"Bearer    ", AUTH_BAD_REQUEST},
        {"Bearertok", AUTH_BAD_REQUEST},
        {"Bearer\ttok", AUTH_BAD_REQUEST},
        {"Bearer tok extra", AUTH_BAD_REQUEST},
        {"Bearer tok\x01", AUTH_BAD_REQUEST},
        {"Bearer t\xc3\xa9", AUTH_BAD_REQUEST},
        {"Basic dXNlcjpwYXNz", AUTH_BAD_REQUEST},
        {"Token tok", AUTH_BAD_REQUEST},
        {"tok", AUTH_BAD_REQUEST},
        {"", AUTH_BAD_REQUEST},
    };

    CHECK(a);
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        int got = check(a, "/x", cases[i].authz, NULL, AUTH_READ);
        EXPECTF(got == cases[i].want, "\"%s\": %d, want %d", cases[i].authz, got, cases[i].want);
    }
    /* more than one Authorization header, even with a good one */
    CHECK_INT(check_n(a, "/x", "Bearer tok", 2, NULL, NOW, AUTH_READ), AUTH_BAD_REQUEST);
    CHECK_INT(check_n(a, "/x", "Bearer tok", 5, NULL, NOW, AUTH_READ), AUTH_BAD_REQUEST);
    /* a count without a value is a header that came empty; a value without a count came once */
    CHECK_INT(check_n(a, "/x", NULL, 1, NULL, NOW, AUTH_READ), AUTH_BAD_REQUEST);
    CHECK_INT(check_n(a, "/x", "Bearer tok", 0, NULL, NOW, AUTH_READ), AUTH_OK);
    /* the header's length is what counts, not a NUL */
    auth_request q = {.path = "/x",
                      .authorization = "Bearer tokX",
                      .authorization_len = 10,
                      .authorization_count = 1,
                      .now = NOW};
    CHECK_INT(auth_check(a, &q, AUTH_READ), AUTH_OK);
    auth_free(a);
}

static void test_bearer_long(void)
{
    char *h = malloc(7 + 4097 + 1), *q = malloc(6 + 4097 + 1);
    auth_rules *a = rules("read / tok\n");

    CHECK(h && q && a);
    memcpy(h, "Bearer ", 7);
    memset(h + 7, 'x', 4097);
    memcpy(q, "token=", 6);
    memset(q + 6, 'x', 4097);
    h[7 + 4096] = q[6 + 4096] = '\0';
    int at_cap = check(a, "/x", h, NULL, AUTH_READ);
    int query_at_cap = check(a, "/x", NULL, q, AUTH_READ);
    h[7 + 4096] = q[6 + 4096] = 'x';
    h[7 + 4097] = q[6 + 4097] = '\0';
    int over = check(a, "/x", h, NULL, AUTH_READ);
    int query_over = check(a, "/x", NULL, q, AUTH_READ);
    free(h);
    free(q);
    auth_free(a);
    CHECK_INT(at_cap, AUTH_UNAUTHORIZED);
    CHECK_INT(query_at_cap, AUTH_UNAUTHORIZED);
    CHECK_INT(over, AUTH_BAD_REQUEST);
    CHECK_INT(query_over, AUTH_BAD_REQUEST);
}

static void test_query_token(void)
{
    auth_rules *a = rules("read / tok1\n"
                          "read / a+b\n");
    static const struct {
        const char *query;
        int want;
    } cases[] = {
        {"token=tok1", AUTH_OK},
        {"a=1&token=tok1&b=2", AUTH_OK},
        {"&&token=tok1&&", AUTH_OK},
        {"%74oken=tok1", AUTH_OK},
        {"%74%6F%6b%65%6E=tok1", AUTH_OK},
        {"token=tok%31", AUTH_OK},
        {"token=a%2Bb", AUTH_OK},
        {"token=a+b", AUTH_BAD_REQUEST}, /* '+' is a space: not a token */
        {"token=tok2", AUTH_UNAUTHORIZED},
        {"token=tok1&token=tok1", AUTH_BAD_REQUEST},
        {"token=tok1&%74oken=tok1", AUTH_BAD_REQUEST},
        {"token=tok1&token", AUTH_BAD_REQUEST},
        {"token=", AUTH_BAD_REQUEST},
        {"token", AUTH_BAD_REQUEST},
        {"token=%zz", AUTH_BAD_REQUEST},
        {"token=tok1%", AUTH_BAD_REQUEST},
        {"token=tok1%0", AUTH_BAD_REQUEST},
        {"token=tok1%00", AUTH_BAD_REQUEST},
        {"token=tok%01", AUTH_BAD_REQUEST},
        {"Token=tok1", AUTH_UNAUTHORIZED},
        {"tokens=tok1", AUTH_UNAUTHORIZED},
        {"x=token=tok1", AUTH_UNAUTHORIZED},
        {"tok%zzen=tok1", AUTH_UNAUTHORIZED},
        {"token%00=tok1", AUTH_UNAUTHORIZED},
    };

    CHECK(a);
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        int got = check(a, "/x", NULL, cases[i].query, AUTH_READ);
        EXPECTF(got == cases[i].want, "\"%s\": %d, want %d", cases[i].query, got, cases[i].want);
    }
    /* the header wins; the query's token must still be well formed */
    CHECK_INT(check(a, "/x", "Bearer tok1", "token=nobody", AUTH_READ), AUTH_OK);
    CHECK_INT(check(a, "/x", "Bearer nobody", "token=tok1", AUTH_READ), AUTH_UNAUTHORIZED);
    CHECK_INT(check(a, "/x", "Bearer tok1", "token=", AUTH_READ), AUTH_BAD_REQUEST);
    CHECK_INT(check(a, "/x", "Bearer tok1", "token=a&token=b", AUTH_READ), AUTH_BAD_REQUEST);
    /* the query's length is what counts */
    auth_request q = {.path = "/x", .query = "token=tok1&token=tok1", .query_len = 10, .now = NOW};
    CHECK_INT(auth_check(a, &q, AUTH_READ), AUTH_OK);
    auth_free(a);
}

/* ---- signed URLs ---- */

static void test_sign_known_answer(void)
{
    char out[256];
    uint8_t md[32];
    unsigned len = 0;
    const char *msg = "httpfstream-sign-v1\nread,append\n1700000060\n/ci/job-1.log";
    char b64[64];

    /* computed here with OpenSSL's HMAC(), encoded by EVP_EncodeBlock and made base64url */
    CHECK(HMAC(EVP_sha256(), KEY, (int)KEY_LEN, (const uint8_t *)msg, strlen(msg), md, &len));
    CHECK_INT(len, 32);
    CHECK_INT(EVP_EncodeBlock((uint8_t *)b64, md, 32), 44);
    CHECK(b64[43] == '=');
    b64[43] = '\0';
    for (char *p = b64; *p; p++)
        *p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
    size_t n = auth_sign((const uint8_t *)KEY, KEY_LEN, "read,append", NOW + 60, "/ci/job-1.log",
                         out, sizeof(out));
    CHECK_INT(n, strlen(out));
    CHECK_STR(out, t_fmt("expires=1700000060&rights=read,append&sig=%s", b64));
    /* and one fixed value (from openssl dgst -sha256 -mac HMAC -macopt key:k) */
    n = auth_sign((const uint8_t *)"k", 1, "read", 200, "/a/", out, sizeof(out));
    CHECK_STR(out, "expires=200&rights=read&sig=HtmsRsreCh2TdeAOFLyfKtDGAgf6ru3zrPt3i9aAoms");
}

static void test_sign_limits(void)
{
    char out[256];
    const uint8_t *k = (const uint8_t *)KEY;
    size_t n = auth_sign(k, KEY_LEN, "read", NOW, "/x", out, sizeof(out));

    CHECK(n > 0);
    CHECK_INT(auth_sign(k, KEY_LEN, "read", NOW, "/x", out, n + 1), n);
    memset(out, '#', sizeof(out));
    CHECK_INT(auth_sign(k, KEY_LEN, "read", NOW, "/x", out, n), 0);
    CHECK(out[0] == '\0');
    CHECK_INT(auth_sign(k, KEY_LEN, "read", NOW, "/x", out, 0), 0);
    CHECK_INT(auth_sign(k, KEY_LEN, "write", NOW, "/x", out, sizeof(out)), 0);
    CHECK_INT(auth_sign(k, KEY_LEN, "", NOW, "/x", out, sizeof(out)), 0);
    CHECK_INT(auth_sign(k, KEY_LEN, "read", -1, "/x", out, sizeof(out)), 0);
    CHECK_INT(auth_sign(k, KEY_LEN, "read", NOW, "x", out, sizeof(out)), 0);
    CHECK_INT(auth_sign(k, 0, "read", NOW, "/x", out, sizeof(out)), 0);
    CHECK_INT(auth_sign(NULL, 1, "read", NOW, "/x", out, sizeof(out)), 0);
    CHECK(auth_sign(k, KEY_LEN, "read", INT64_MAX, "/x", out, sizeof(out)) > 0);
    CHECK(strstr(out, "expires=9223372036854775807&"));
}

static void test_signed_url(void)
{
    auth_rules *a = rules("read /tok/ tok\n");
    const char *q = signed_q("read", NOW + 60, "/s/log");
    const char *sig = sig_of(q);
    char bad[64];

    CHECK(a);
    CHECK_INT(strlen(sig), 43);
    CHECK_INT(check(a, "/s/log", NULL, q, AUTH_READ), AUTH_OK);
    CHECK_INT(check(a, "/s/log", NULL, t_fmt("a=1&%s&b=2", q), AUTH_READ), AUTH_OK);
    CHECK_INT(
        check(a, "/s/log", NULL, t_fmt("sig=%s&rights=read&expires=%d", sig, NOW + 60), AUTH_READ),
        AUTH_OK);
    CHECK_INT(check(a, "/s/log", NULL,
                    t_fmt("%%65xpires=%d&rights=%%72ead&s%%69g=%s", NOW + 60, sig), AUTH_READ),
              AUTH_OK);
    /* the right it carries, and no other */
    CHECK_INT(check(a, "/s/log", NULL, q, AUTH_APPEND), AUTH_FORBIDDEN);
    CHECK_INT(check(a, "/s/log", NULL, q, AUTH_DELETE), AUTH_FORBIDDEN);
    CHECK_INT(rights_of(a, "/s/log", NULL, q), AUTH_READ);
    /* expiry: good until the second itself */
    CHECK_INT(check_n(a, "/s/log", NULL, 0, q, NOW + 60, AUTH_READ), AUTH_OK);
    CHECK_INT(check_n(a, "/s/log", NULL, 0, q, NOW + 61, AUTH_READ), AUTH_FORBIDDEN);
    /* moved */
    CHECK_INT(check(a, "/s/log2", NULL, q, AUTH_READ), AUTH_FORBIDDEN);
    CHECK_INT(check(a, "/s/lo", NULL, q, AUTH_READ), AUTH_FORBIDDEN);
    CHECK_INT(check(a, "/s/", NULL, q, AUTH_READ), AUTH_FORBIDDEN);
    CHECK_INT(check(a, "/s/log/", NULL, q, AUTH_READ), AUTH_FORBIDDEN);
    CHECK_INT(check(a, "/t/log", NULL, q, AUTH_READ), AUTH_FORBIDDEN);
    /* tampered: the sig, the rights, the expiry (later, or written otherwise) */
    snprintf(bad, sizeof(bad), "%s", sig);
    bad[0] = bad[0] == 'A' ? 'B' : 'A';
    CHECK_INT(
        check(a, "/s/log", NULL, t_fmt("expires=%d&rights=read&sig=%s", NOW + 60, bad), AUTH_READ),
        AUTH_FORBIDDEN);
    snprintf(bad, sizeof(bad), "%s", sig);
    bad[20] = bad[20] == 'A' ? 'B' : 'A';
    CHECK_INT(
        check(a, "/s/log", NULL, t_fmt("expires=%d&rights=read&sig=%s", NOW + 60, bad), AUTH_READ),
        AUTH_FORBIDDEN);
    CHECK_INT(check(a, "/s/log", NULL, t_fmt("expires=%d&rights=read,append&sig=%s", NOW + 60, sig),
                    AUTH_APPEND),
              AUTH_FORBIDDEN);
    CHECK_INT(check(a, "/s/log", NULL, t_fmt("expires=%d&rights=read,append&sig=%s", NOW + 60, sig),
                    AUTH_READ),
              AUTH_FORBIDDEN);
    CHECK_INT(
        check(a, "/s/log", NULL, t_fmt("expires=%d&rights=read&sig=%s", NOW + 61, sig), AUTH_READ),
        AUTH_FORBIDDEN);
    CHECK_INT(
        check(a, "/s/log", NULL, t_fmt("expires=0%d&rights=read&sig=%s", NOW + 60, sig), AUTH_READ),
        AUTH_FORBIDDEN);
    /* another key */
    auth_rules *b = rules_key("", "another key");
    CHECK(b);
    int other_key = check(b, "/s/log", NULL, q, AUTH_READ);
    auth_free(b);
    CHECK_INT(other_key, AUTH_FORBIDDEN);
    /* a known token next to a bad signature does not help */
    CHECK_INT(check(a, "/tok/x", "Bearer tok",
                    t_fmt("expires=%d&rights=read&sig=%s", NOW + 60, bad), AUTH_READ),
              AUTH_FORBIDDEN);
    auth_free(a);
}

/* The signed text holds rights as written: another order is another signature. */
static void test_signed_rights_order(void)
{
    auth_rules *a = rules("");
    const char *q = signed_q("read,append", NOW + 60, "/x");
    const char *sig = sig_of(q);

    CHECK(a);
    CHECK_INT(check(a, "/x", NULL, q, AUTH_APPEND), AUTH_OK);
    CHECK_INT(check(a, "/x", NULL, t_fmt("expires=%d&rights=append,read&sig=%s", NOW + 60, sig),
                    AUTH_APPEND),
              AUTH_FORBIDDEN);
    auth_free(a);
}

static void test_signed_no_key(void)
{
    auth_rules *a = rules_key("read /t/ tok\n", NULL);
    const char *q = signed_q("read", NOW + 60, "/s/log");

    CHECK(a);
    CHECK_INT(check(a, "/s/log", NULL, q, AUTH_READ), AUTH_FORBIDDEN);
    CHECK_INT(check(a, "/t/x", "Bearer tok", NULL, AUTH_READ), AUTH_OK);
    auth_free(a);
}

static void test_signed_prefix(void)
{
    auth_rules *a = rules("");
    const char *dir = signed_q("read,append", NOW + 60, "/a/");
    const char *root = signed_q("read", NOW + 60, "/");
    const char *file = signed_q("read", NOW + 60, "/a/b");
    static const struct {
        int which; /* 0 dir, 1 root, 2 file */
        const char *path;
        int want;
    } cases[] = {
        {0, "/a/", AUTH_OK},
        {0, "/a/x", AUTH_OK},
        {0, "/a/b/c/d", AUTH_OK},
        {0, "/a/b/", AUTH_OK},
        {0, "/a", AUTH_FORBIDDEN},
        {0, "/ab/x", AUTH_FORBIDDEN},
        {0, "/b/a/x", AUTH_FORBIDDEN},
        {0, "/", AUTH_FORBIDDEN},
        {0, "/a/../b", AUTH_FORBIDDEN},
        {0, "/a//x", AUTH_FORBIDDEN},
        {1, "/", AUTH_OK},
        {1, "/x", AUTH_OK},
        {1, "/x/y/z", AUTH_OK},
        {1, "/x/../y", AUTH_FORBIDDEN},
        {1, "x", AUTH_FORBIDDEN},
        {2, "/a/b", AUTH_OK},
        {2, "/a/b/c", AUTH_FORBIDDEN}, /* a path is not a prefix unless it ends in '/' */
        {2, "/a/b/", AUTH_FORBIDDEN},
        {2, "/a/", AUTH_FORBIDDEN},
    };

    CHECK(a);
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        const char *q = cases[i].which == 0 ? dir : cases[i].which == 1 ? root : file;
        int got = check(a, cases[i].path, NULL, q, AUTH_READ);
        EXPECTF(got == cases[i].want, "case %zu (\"%s\"): %d, want %d", i, cases[i].path, got,
                cases[i].want);
    }
    CHECK_INT(check(a, "/a/x", NULL, dir, AUTH_APPEND), AUTH_OK);
    CHECK_INT(check(a, "/a/x", NULL, root, AUTH_APPEND), AUTH_FORBIDDEN);
    auth_free(a);
}

/* A deep path: every directory prefix is tried, each in one pass over the path. */
static void test_signed_deep_path(void)
{
    auth_rules *a = rules("");
    tbuf p = {0};

    CHECK(a);
    for (int i = 0; i < 3000; i++)
        tbuf_adds(&p, "/d");
    tbuf_add(&p, "", 1);
    const char *path = (const char *)p.p;
    int64_t t0 = t_now_ms();
    int root = check(a, path, NULL, signed_q("read", NOW + 60, "/"), AUTH_READ);
    int deep = check(a, path, NULL, signed_q("read", NOW + 60, path), AUTH_READ);
    int none = check(a, path, NULL, signed_q("read", NOW + 60, "/e/"), AUTH_READ);
    int64_t ms = t_now_ms() - t0;
    tbuf_free(&p);
    auth_free(a);
    CHECK_INT(root, AUTH_OK);
    CHECK_INT(deep, AUTH_OK);
    CHECK_INT(none, AUTH_FORBIDDEN);
    CHECKF(ms < 5000, "%lld ms", (long long)ms);
}

static void test_signed_malformed(void)
{
    auth_rules *a = rules("read /pub/ *\n");
    const char *q = signed_q("read", NOW + 60, "/s");
    const char *sig = t_fmt("%s", sig_of(q));
    static const struct {
        const char *query; /* %s: the good sig */
        int want;
    } cases[] = {
        /* all three or none */
        {"expires=1700000060", AUTH_BAD_REQUEST},
        {"rights=read", AUTH_BAD_REQUEST},
        {"sig=%s", AUTH_BAD_REQUEST},
        {"expires=1700000060&rights=read", AUTH_BAD_REQUEST},
        {"expires=1700000060&sig=%s", AUTH_BAD_REQUEST},
        {"rights=read&sig=%s", AUTH_BAD_REQUEST},
        /* two of one */
        {"expires=1700000060&expires=1700000060&rights=read&sig=%s", AUTH_BAD_REQUEST},
        {"expires=1700000060&rights=read&rights=read&sig=%s", AUTH_BAD_REQUEST},
        {"expires=1700000060&rights=read&sig=%s&sig=%s", AUTH_BAD_REQUEST},
        /* expires: digits that fit in 64 bits */
        {"expires=&rights=read&sig=%s", AUTH_BAD_REQUEST},
        {"expires&rights=read&sig=%s", AUTH_BAD_REQUEST},
        {"expires=-1&rights=read&sig=%s", AUTH_BAD_REQUEST},
        {"expires=+1700000060&rights=read&sig=%s", AUTH_BAD_REQUEST},
        {"expires=%%2B1700000060&rights=read&sig=%s", AUTH_BAD_REQUEST},
        {"expires=1700000060.0&rights=read&sig=%s", AUTH_BAD_REQUEST},
        {"expires=1e9&rights=read&sig=%s", AUTH_BAD_REQUEST},
        {"expires=0x10&rights=read&sig=%s", AUTH_BAD_REQUEST},
        {"expires=%%00&rights=read&sig=%s", AUTH_BAD_REQUEST},
        {"expires=1%%zz&rights=read&sig=%s", AUTH_BAD_REQUEST},
        {"expires=9223372036854775808&rights=read&sig=%s", AUTH_BAD_REQUEST},
        {"expires=18446744073709551616&rights=read&sig=%s", AUTH_BAD_REQUEST},
        {"expires=99999999999999999999999999999999&rights=read&sig=%s", AUTH_BAD_REQUEST},
        {"expires=000000000000000000000000000000000000000000000000000000000000000000001"
         "&rights=read&sig=%s",
         AUTH_BAD_REQUEST},
        {"expires=9223372036854775807&rights=read&sig=%s", AUTH_FORBIDDEN}, /* parses */
        /* rights */
        {"expires=1700000060&rights=&sig=%s", AUTH_BAD_REQUEST},
        {"expires=1700000060&rights=write&sig=%s", AUTH_BAD_REQUEST},
        {"expires=1700000060&rights=read,&sig=%s", AUTH_BAD_REQUEST},
        {"expires=1700000060&rights=read+append&sig=%s", AUTH_BAD_REQUEST},
        {"expires=1700000060&rights=READ&sig=%s", AUTH_BAD_REQUEST},
        /* sig: anything but base64url of 32 bytes is 403 */
        {"expires=1700000060&rights=read&sig=", AUTH_FORBIDDEN},
        {"expires=1700000060&rights=read&sig", AUTH_FORBIDDEN},
        {"expires=1700000060&rights=read&sig=%.42s", AUTH_FORBIDDEN},
        {"expires=1700000060&rights=read&sig=%sA", AUTH_FORBIDDEN},
        {"expires=1700000060&rights=read&sig=%s=", AUTH_FORBIDDEN},
        {"expires=1700000060&rights=read&sig=%s%%3D", AUTH_FORBIDDEN},
        {"expires=1700000060&rights=read&sig=%%zz", AUTH_FORBIDDEN},
        {"expires=1700000060&rights=read&sig=%%00", AUTH_FORBIDDEN},
        {"expires=1700000060&rights=read&sig="
         "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
         "AAA"
         "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
         "AAA",
         AUTH_FORBIDDEN},
    };

    CHECK(a);
    CHECK_INT(check(a, "/s", NULL, q, AUTH_READ), AUTH_OK);
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        char query[512];
        snprintf(query, sizeof(query), cases[i].query, sig, sig);
        int got = check(a, "/s", NULL, query, AUTH_READ);
        EXPECTF(got == cases[i].want, "\"%s\": %d, want %d", query, got, cases[i].want);
        /* where anyone may read, only the malformed are refused */
        got = check(a, "/pub/x", NULL, query, AUTH_READ);
        int want = cases[i].want == AUTH_BAD_REQUEST ? AUTH_BAD_REQUEST : AUTH_OK;
        EXPECTF(got == want, "\"%s\" on /pub/x: %d, want %d", query, got, want);
    }
    auth_free(a);
}

/* Encodings of the signature that are not the canonical one: a last character whose unused bits
 * are set, and standard base64's '+' and '/' for '-' and '_'. */
static void test_signed_noncanonical(void)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    auth_rules *a = rules("");
    char sig[64], alt[64];
    const char *path = NULL;
    char *p = NULL;

    CHECK(a);
    /* a path whose signature holds a '-' or a '_' */
    for (int i = 0; i < 1000 && !p; i++) {
        path = t_fmt("/s%d", i);
        snprintf(sig, sizeof(sig), "%s", sig_of(signed_q("read", NOW + 60, path)));
        p = strpbrk(sig, "-_");
    }
    CHECK(p);
    CHECK_INT(strlen(sig), 43);
    const char *fmt = "expires=%d&rights=read&sig=%s";
    CHECK_INT(check(a, path, NULL, t_fmt(fmt, NOW + 60, sig), AUTH_READ), AUTH_OK);
    /* the last character carries 2 bits that must be 0: set one */
    snprintf(alt, sizeof(alt), "%s", sig);
    alt[42] = tab[(strchr(tab, alt[42]) - tab) ^ 1];
    CHECK_INT(check(a, path, NULL, t_fmt(fmt, NOW + 60, alt), AUTH_READ), AUTH_FORBIDDEN);
    /* standard base64, raw and escaped */
    snprintf(alt, sizeof(alt), "%s", sig);
    alt[p - sig] = *p == '-' ? '+' : '/';
    CHECK_INT(check(a, path, NULL, t_fmt(fmt, NOW + 60, alt), AUTH_READ), AUTH_FORBIDDEN);
    snprintf(alt, sizeof(alt), "%.*s%s%s", (int)(p - sig), sig, *p == '-' ? "%2B" : "%2F", p + 1);
    CHECK_INT(check(a, path, NULL, t_fmt(fmt, NOW + 60, alt), AUTH_READ), AUTH_FORBIDDEN);
    /* an escaped character of the alphabet is the character */
    snprintf(alt, sizeof(alt), "%.*s%s%s", (int)(p - sig), sig, *p == '-' ? "%2D" : "%5F", p + 1);
    CHECK_INT(check(a, path, NULL, t_fmt(fmt, NOW + 60, alt), AUTH_READ), AUTH_OK);
    auth_free(a);
}

/* ---- redaction ---- */

static void test_redact(void)
{
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"/a", "/a"},
        {"/a?", "/a?"},
        {"/a?x=1&y", "/a?x=1&y"},
        {"/a?token=s3cret", "/a?token=REDACTED"},
        {"/a?x=1&token=s3cret&y=2", "/a?x=1&token=REDACTED&y=2"},
        {"/a?expires=1&rights=read&sig=abc", "/a?expires=1&rights=read&sig=REDACTED"},
        {"/a?%74oken=s3cret&%73%69%67=abc", "/a?%74oken=REDACTED&%73%69%67=REDACTED"},
        {"/a?t%6Fken=s3cret", "/a?t%6Fken=REDACTED"},
        {"/a?token=a&token=b", "/a?token=REDACTED&token=REDACTED"},
        {"/a?token", "/a?token"},
        {"/a?token=", "/a?token=REDACTED"},
        {"/a?token==x", "/a?token=REDACTED"},
        {"/a?&&token=s3cret&&", "/a?&&token=REDACTED&&"},
        {"/a?x=token=s3cret", "/a?x=token=s3cret"},
        {"/a?tokens=1&Token=2&tok%zzen=3", "/a?tokens=1&Token=2&tok%zzen=3"},
        {"/p%3Ftoken=x", "/p%3Ftoken=x"},
        {"/a?b?token=x", "/a?b?token=x"}, /* the key is "b?token" */
        {"/a?x=1?&token=x", "/a?x=1?&token=REDACTED"},
        {"http://h/a?sig=x", "http://h/a?sig=REDACTED"},
        {"", ""},
    };
    char out[256];

    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        memset(out, '#', sizeof(out));
        size_t n = auth_redact_target(cases[i].in, strlen(cases[i].in), out, sizeof(out));
        EXPECTF(strcmp(out, cases[i].want) == 0, "\"%s\": \"%s\", want \"%s\"", cases[i].in, out,
                cases[i].want);
        EXPECTF(n == strlen(out), "\"%s\": returned %zu", cases[i].in, n);
    }
}

static void test_redact_cut(void)
{
    char out[64];
    const char *t = "/a?token=s3cretvalue&x=1";

    /* cut off: a prefix of the redacted form, never a byte of the secret */
    for (size_t cap = 1; cap <= 30; cap++) {
        memset(out, '#', sizeof(out));
        size_t n = auth_redact_target(t, strlen(t), out, cap);
        EXPECTF(n == (cap - 1 < 21 ? cap - 1 : 21), "cap %zu: %zu", cap, n);
        EXPECTF(n == strlen(out), "cap %zu: %zu, strlen %zu", cap, n, strlen(out));
        EXPECTF(strncmp(out, "/a?token=REDACTED&x=1", n) == 0, "cap %zu: %s", cap, out);
        EXPECTF(out[cap] == '#', "cap %zu: wrote past it", cap);
    }
    memset(out, '#', sizeof(out));
    CHECK_INT(auth_redact_target(t, strlen(t), out, 0), 0);
    CHECK(out[0] == '#');
    /* n bytes, not up to a NUL */
    CHECK_INT(auth_redact_target("/a?token=s3cret&x", 15, out, sizeof(out)), 17);
    CHECK_STR(out, "/a?token=REDACTED");
    CHECK_INT(auth_redact_target(NULL, 0, out, sizeof(out)), 0);
    CHECK_STR(out, "");
}

int main(void)
{
    RUN(test_parse_comments_blanks);
    RUN(test_parse_empty);
    RUN(test_parse_errors);
    RUN(test_parse_long_token);
    RUN(test_parse_error_hides_token);
    RUN(test_load_files);
    RUN(test_decision_rows);
    RUN(test_each_right);
    RUN(test_prefixes);
    RUN(test_anonymous);
    RUN(test_sha256_tokens);
    RUN(test_many_rules);
    RUN(test_bearer_forms);
    RUN(test_bearer_long);
    RUN(test_query_token);
    RUN(test_sign_known_answer);
    RUN(test_sign_limits);
    RUN(test_signed_url);
    RUN(test_signed_rights_order);
    RUN(test_signed_no_key);
    RUN(test_signed_prefix);
    RUN(test_signed_deep_path);
    RUN(test_signed_malformed);
    RUN(test_signed_noncanonical);
    RUN(test_redact);
    RUN(test_redact_cut);
    return test_report();
}
