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
    RUN(test_rejected);
    RUN(test_scheme_message);
    return test_report();
}
