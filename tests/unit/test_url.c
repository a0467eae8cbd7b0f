/* test_url.c -- the client's URL parsing: what it connects to, what it sends, what it refuses. */
#include "../harness.h"
#include "client/url.h"

/* Parses text, expecting success. */
static int parse_ok(cli_url *u, const char *text)
{
    hfs_error e;
    int rc = cli_url_parse(u, text, &e);

    if (rc != HFS_OK)
        fprintf(stderr, "  parse(%s): %s\n", text, e.message);
    return rc;
}

static void test_plain_with_port(void)
{
    cli_url u;

    CHECK_INT(parse_ok(&u, "http://localhost:8080/foo.txt"), HFS_OK);
    CHECK_INT(u.tls, 0);
    CHECK_INT(u.ip_literal, 0);
    CHECK_STR(u.host, "localhost");
    CHECK_STR(u.tls_host, "localhost");
    CHECK_STR(u.port, "8080");
    CHECK_STR(u.authority, "localhost:8080");
    CHECK_STR(u.origin, "http://localhost:8080");
    CHECK_STR(u.target, "/foo.txt");
    CHECK_STR(u.text, "http://localhost:8080/foo.txt");
    cli_url_free(&u);
}

static void test_default_ports(void)
{
    cli_url u;

    CHECK_INT(parse_ok(&u, "http://example.com"), HFS_OK);
    CHECK_STR(u.port, "80");
    CHECK_STR(u.authority, "example.com");
    CHECK_STR(u.target, "/");
    cli_url_free(&u);
    CHECK_INT(parse_ok(&u, "https://example.com/a"), HFS_OK);
    CHECK_INT(u.tls, 1);
    CHECK_STR(u.port, "443");
    CHECK_STR(u.authority, "example.com");
    CHECK_STR(u.origin, "https://example.com");
    cli_url_free(&u);
    /* An explicit default port is left out of Host, as browsers do. */
    CHECK_INT(parse_ok(&u, "https://example.com:443/a"), HFS_OK);
    CHECK_STR(u.authority, "example.com");
    cli_url_free(&u);
    CHECK_INT(parse_ok(&u, "https://example.com:80/a"), HFS_OK);
    CHECK_STR(u.port, "80");
    CHECK_STR(u.authority, "example.com:80");
    cli_url_free(&u);
}

static void test_ipv6(void)
{
    cli_url u;

    CHECK_INT(parse_ok(&u, "https://[::1]:8443/x?y=1"), HFS_OK);
    CHECK_INT(u.ip_literal, 1);
    CHECK_STR(u.host, "::1");
    CHECK_STR(u.tls_host, "::1");
    CHECK_STR(u.authority, "[::1]:8443");
    CHECK_STR(u.origin, "https://[::1]:8443");
    CHECK_STR(u.target, "/x?y=1");
    cli_url_free(&u);
    CHECK_INT(parse_ok(&u, "http://[fe80::1%25eth0]/"), HFS_OK);
    CHECK_STR(u.host, "fe80::1%eth0");
    CHECK_STR(u.tls_host, "fe80::1");
    CHECK_STR(u.authority, "[fe80::1]");
    cli_url_free(&u);
}

static void test_ipv4_literal(void)
{
    cli_url u;

    CHECK_INT(parse_ok(&u, "https://127.0.0.1:9/"), HFS_OK);
    CHECK_INT(u.ip_literal, 1);
    CHECK_STR(u.host, "127.0.0.1");
    cli_url_free(&u);
}

static void test_target(void)
{
    cli_url u;

    /* Query kept, fragment dropped, an empty query dropped, non-ASCII escaped. */
    CHECK_INT(parse_ok(&u, "http://h/a/b.txt?x=1&y=2#frag"), HFS_OK);
    CHECK_STR(u.target, "/a/b.txt?x=1&y=2");
    cli_url_free(&u);
    CHECK_INT(parse_ok(&u, "http://h/x?"), HFS_OK);
    CHECK_STR(u.target, "/x");
    cli_url_free(&u);
    CHECK_INT(parse_ok(&u, "http://h/\xc3\xbc?q=\xc3\xbc"), HFS_OK);
    CHECK_STR(u.target, "/%C3%BC?q=%C3%BC");
    cli_url_free(&u);
    CHECK_INT(parse_ok(&u, "http://h/already%20escaped"), HFS_OK);
    CHECK_STR(u.target, "/already%20escaped");
    cli_url_free(&u);
}

static void test_add_query(void)
{
    cli_url u;

    CHECK_INT(parse_ok(&u, "http://h/f"), HFS_OK);
    CHECK_INT(cli_url_add_query(&u, "frames=binary"), HFS_OK);
    CHECK_STR(u.target, "/f?frames=binary");
    cli_url_free(&u);
    CHECK_INT(parse_ok(&u, "http://h/f?a=1"), HFS_OK);
    CHECK_INT(cli_url_add_query(&u, "frames=binary"), HFS_OK);
    CHECK_STR(u.target, "/f?a=1&frames=binary");
    CHECK_STR(u.text, "http://h/f?a=1");
    cli_url_free(&u);
}

/* A signed URL's query, and a token in it, reach the server as written, in their order, with the
 * client's own parameters after them. */
static void test_signed_query_kept(void)
{
    static const char *queries[] = {
        "expires=1767225600&rights=read&sig=Ab9_-xYz0123456789abcdefABCDEF_-0123456789x",
        "token=ci-tok",
        "sig=a%2Bb%2Fc&rights=read,append&expires=1767225600",
        "z=1&token=t%3D%3D&a=&&b",
        "rights=read&expires=1&sig=AAAA&token=t&x=%7e~",
    };
    cli_url u;
    char text[256], want[256];

    for (size_t i = 0; i < sizeof(queries) / sizeof(*queries); i++) {
        snprintf(text, sizeof(text), "http://h:81/ci/job-1.log?%s", queries[i]);
        CHECK_INT(parse_ok(&u, text), HFS_OK);
        snprintf(want, sizeof(want), "/ci/job-1.log?%s", queries[i]);
        EXPECTF(!strcmp(u.target, want), "case %zu: %s", i, u.target);
        CHECK_INT(cli_url_add_query(&u, "frames=binary&offset=12&wait"), HFS_OK);
        snprintf(want, sizeof(want), "/ci/job-1.log?%s&frames=binary&offset=12&wait", queries[i]);
        EXPECTF(!strcmp(u.target, want), "case %zu: %s", i, u.target);
        EXPECTF(!strcmp(u.text, text), "case %zu: %s", i, u.text);
        cli_url_free(&u);
    }
}

/* Which parameters a URL has: names compared percent-decoded, case ignored. */
static void test_has_param(void)
{
    cli_url u;

    CHECK_INT(parse_ok(&u, "http://h/a?expires=1&rights=read&sig=x"), HFS_OK);
    CHECK(cli_url_has_param(&u, "sig"));
    CHECK(cli_url_has_param(&u, "expires"));
    CHECK(!cli_url_has_param(&u, "token"));
    CHECK(!cli_url_has_param(&u, "si"));
    cli_url_free(&u);
    CHECK_INT(parse_ok(&u, "http://h/a?%74oken=x&tokens=1"), HFS_OK);
    CHECK(cli_url_has_param(&u, "token"));
    cli_url_free(&u);
    CHECK_INT(parse_ok(&u, "http://h/a?Token"), HFS_OK);
    CHECK(cli_url_has_param(&u, "token"));
    cli_url_free(&u);
    CHECK_INT(parse_ok(&u, "http://h/token=x"), HFS_OK);
    CHECK(!cli_url_has_param(&u, "token"));
    cli_url_free(&u);
}

/* Credentials in URLs are replaced for messages; everything else is kept byte for byte. */
static void test_redact(void)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"http://h/a", "http://h/a"},
        {"http://h/a?token=s3cret", "http://h/a?token=REDACTED"},
        {"http://h/a?expires=9&rights=read&sig=AbC-_x",
         "http://h/a?expires=9&rights=read&sig=REDACTED"},
        {"http://h/a?sig=x&token=y&offset=5#token=z",
         "http://h/a?sig=REDACTED&token=REDACTED&offset=5#token=z"},
        {"http://h/a?%74oken=y&TOKEN=z&tokens=w&xtoken=v",
         "http://h/a?%74oken=REDACTED&TOKEN=REDACTED&tokens=w&xtoken=v"},
        {"http://h/a?token&sig=&=token", "http://h/a?token&sig=REDACTED&=token"},
        {"http://h/token=x/sig=y?a=token=b", "http://h/token=x/sig=y?a=token=b"},
        {"http://h/a?&&token=1&&", "http://h/a?&&token=REDACTED&&"},
        {"", ""},
    };
    char out[256];

    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        size_t n = hfs_redact_url(cases[i].in, out, sizeof(out));
        EXPECTF(!strcmp(out, cases[i].out) && n == strlen(cases[i].out), "case %zu: %s", i, out);
    }
    /* Truncated to fit, the whole length returned; cap 0 only counts. */
    CHECK_INT(hfs_redact_url("http://h/a?token=s3cret", out, 20), 25);
    CHECK_STR(out, "http://h/a?token=RE");
    CHECK_INT(hfs_redact_url("http://h/a?token=s3cret", NULL, 0), 25);
    CHECK_INT(hfs_redact_url(NULL, out, sizeof(out)), 0);
    CHECK_STR(out, "");
}

/* 1 when p[0..n), with %74 read as 't' and case ignored, is token or sig (the escapes the random
 * URLs below use). */
static int secret_name(const char *p, size_t n)
{
    char d[64];
    size_t k = 0;

    for (size_t i = 0; i < n && k + 1 < sizeof(d); i++) {
        if (i + 2 < n && !strncmp(p + i, "%74", 3)) {
            d[k++] = 't';
            i += 2;
            continue;
        }
        d[k++] = (char)(p[i] >= 'A' && p[i] <= 'Z' ? p[i] + 32 : p[i]);
    }
    d[k] = '\0';
    return !strcmp(d, "token") || !strcmp(d, "sig");
}

/* Random URLs built from the pieces that matter (separators, escapes, the secret names): a
 * truncated copy is a prefix of the whole one, the length is always the whole one's, what is not a
 * token or sig value is kept, and no value of theirs survives. */
static void test_redact_random(void)
{
    static const char *pieces[] = {"?",   "&",     "=", "#",           "%", "%74", "%7",   "token",
                                   "sig", "TOKEN", "x", "secretvalue", "/", "",    "\xff", "\x01"};
    char in[256], whole[512], part[512];

    for (int i = 0; i < 20000; i++) {
        size_t n = 0, k = t_rand_range(0, 12);
        for (size_t j = 0; j < k; j++) {
            const char *p = pieces[t_rand_range(0, sizeof(pieces) / sizeof(*pieces) - 1)];
            n += (size_t)snprintf(in + n, sizeof(in) - n, "%s", p);
        }
        size_t len = hfs_redact_url(in, whole, sizeof(whole));
        CHECKF(len == strlen(whole), "%s: %zu", in, len);
        size_t cap = t_rand_range(0, len + 1);
        CHECKF(hfs_redact_url(in, part, cap) == len, "%s (cap %zu)", in, cap);
        CHECKF(cap == 0 || (strlen(part) == (cap - 1 < len ? cap - 1 : len) &&
                            !strncmp(part, whole, strlen(part))),
               "%s (cap %zu): %s / %s", in, cap, part, whole);
        /* Without a secret name in the query, nothing changes. */
        const char *q = in[strcspn(in, "?#")] == '?' ? in + strcspn(in, "?#") : NULL;
        size_t qlen = q ? strcspn(q, "#") : 0;
        int named = q && (memmem(q, qlen, "token", 5) || memmem(q, qlen, "TOKEN", 5) ||
                          memmem(q, qlen, "sig", 3) || memmem(q, qlen, "%74", 3));
        CHECKF(named || !strcmp(in, whole), "%s -> %s", in, whole);
        /* Every parameter called token or sig has the value REDACTED. */
        const char *wq = whole[strcspn(whole, "?#")] == '?' ? whole + strcspn(whole, "?#") : NULL;
        while (wq && *wq && *wq != '#') {
            wq++;
            size_t plen = strcspn(wq, "&#"), name = strcspn(wq, "=&#");
            CHECKF(name == plen || !secret_name(wq, name) ||
                       (plen - name - 1 == 8 && !strncmp(wq + name + 1, "REDACTED", 8)),
                   "%s -> %s", in, whole);
            wq += plen;
        }
    }
}

/* Error messages name the URL redacted. */
static void test_error_redacted(void)
{
    cli_url u;
    hfs_error e;

    CHECK_INT(cli_url_parse(&u, "ftp://h/x?token=s3cret&sig=abc", &e), HFS_ERR_INVALID);
    CHECK_STR(e.message,
              "ftp://h/x?token=REDACTED&sig=REDACTED: only http and https URLs are supported");
}

static void test_rejected(void)
{
    static const char *bad[] = {
        "ftp://h/x", "ws://h/x",           "h/x",           "localhost:80/x",
        "http://",   "http://h:99999/",    "http://u:p@h/", "http://h/a b",
        "",          "file:///etc/passwd", "http:///x",     "https:///",
        "http://?x",
    };
    cli_url u;
    hfs_error e;

    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        int rc = cli_url_parse(&u, bad[i], &e);
        if (rc != HFS_ERR_INVALID)
            test_fail(__FILE__, __LINE__, "\"%s\" gave %d", bad[i], rc);
        CHECK_INT(e.code, HFS_ERR_INVALID);
        CHECK(strstr(e.message, bad[i]) != NULL);
        cli_url_free(&u); /* harmless after a failure */
    }
    CHECK_INT(cli_url_parse(&u, NULL, NULL), HFS_ERR_INVALID);
}

static void test_scheme_message(void)
{
    cli_url u;
    hfs_error e;

    CHECK_INT(cli_url_parse(&u, "ftp://h/x", &e), HFS_ERR_INVALID);
    CHECK_STR(e.message, "ftp://h/x: only http and https URLs are supported");
}

int main(void)
{
    RUN(test_plain_with_port);
    RUN(test_default_ports);
    RUN(test_ipv6);
    RUN(test_ipv4_literal);
    RUN(test_target);
    RUN(test_add_query);
    RUN(test_signed_query_kept);
    RUN(test_has_param);
    RUN(test_redact);
    RUN(test_redact_random);
    RUN(test_error_redacted);
    RUN(test_rejected);
    RUN(test_scheme_message);
    return test_report();
}
