/* test_client_parse.c -- the client's handshake: the requests it sends (the handshake and the size
 * request) and the response parser (101 checks, status, bodies by Content-Length, chunked and until
 * close, the lengths it keeps), each response fed whole and then 1 byte at a time. */
#include "../harness.h"
#include "client/handshake.h"

#include <stdlib.h>

#define RFC_KEY    "dGhlIHNhbXBsZSBub25jZQ==" /* RFC 6455 section 1.3 */
#define RFC_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

typedef struct parse_result {
    int headers, upgrade, end, error; /* events seen */
    int status;
    size_t upgrade_at; /* bytes consumed when the 101 was complete */
    char body[4096];
    size_t body_len;
} parse_result;

/* Feeds text to r through a window growing step bytes at a time, as a socket might deliver it,
 * until an event that ends parsing; then, with eof, reports the end of the connection. */
static void parse(cli_response *r, const char *text, size_t step, int eof, parse_result *out)
{
    size_t len = strlen(text), off = 0, win = step < len ? step : len;

    memset(out, 0, sizeof(*out));
    cli_response_init(r);
    for (;;) {
        size_t used = 0;
        cli_http_event ev = cli_response_feed(r, text + off, win - off, &used);
        off += used;
        if (ev == CLI_HTTP_BODY && out->body_len + r->body_len <= sizeof(out->body)) {
            memcpy(out->body + out->body_len, r->body, r->body_len);
            out->body_len += r->body_len;
        }
        out->headers += ev == CLI_HTTP_HEADERS;
        if (ev == CLI_HTTP_UPGRADE) {
            out->upgrade = 1;
            out->upgrade_at = off;
        }
        out->end += ev == CLI_HTTP_END;
        out->error += ev == CLI_HTTP_ERROR;
        if (ev == CLI_HTTP_UPGRADE || ev == CLI_HTTP_END || ev == CLI_HTTP_ERROR)
            break;
        if (ev == CLI_HTTP_MORE && win == len) {
            if (eof) {
                ev = cli_response_eof(r);
                out->end += ev == CLI_HTTP_END;
                out->error += ev == CLI_HTTP_ERROR;
            }
            break;
        }
        if (ev == CLI_HTTP_MORE)
            win = win + step < len ? win + step : len;
    }
    out->status = r->status;
}

/* A 101 for key, with extra header lines. */
static char *upgrade_response(const char *key, const char *extra, const char *after)
{
    char accept[WS_ACCEPT_LEN + 1], *s = NULL;

    if (ws_accept_key(key, WS_KEY_LEN, accept) != 0)
        return NULL;
    if (asprintf(&s,
                 "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                 "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n%s\r\n%s",
                 accept, extra, after) < 0)
        return NULL;
    return s;
}

static const size_t steps[] = {100000, 1, 7};

static void test_rfc6455_example_accept(void)
{
    /* The handshake example of RFC 6455 1.3: an accept value computed by someone else. */
    static const char resp[] = "HTTP/1.1 101 Switching Protocols\r\n"
                               "Upgrade: websocket\r\n"
                               "Connection: Upgrade\r\n"
                               "Sec-WebSocket-Accept: " RFC_ACCEPT "\r\n\r\n";
    cli_response r;
    parse_result p;

    parse(&r, resp, 100000, 0, &p);
    CHECK_INT(p.upgrade, 1);
    CHECK(cli_response_check_upgrade(&r, RFC_KEY) == NULL);
}

static void test_upgrade_whole_and_bytewise(void)
{
    char *resp = upgrade_response(RFC_KEY, "Server: x\r\n", "\x81\x02hi");
    size_t head_len = strlen(resp) - 4;

    CHECK(resp);
    for (size_t i = 0; i < sizeof(steps) / sizeof(*steps); i++) {
        cli_response r;
        parse_result p;
        parse(&r, resp, steps[i], 0, &p);
        CHECK_INT(p.upgrade, 1);
        CHECK_INT(p.status, 101);
        CHECK_INT(p.error, 0);
        CHECK_INT(p.upgrade_at, head_len); /* the frame bytes after the headers are left */
        CHECK(cli_response_check_upgrade(&r, RFC_KEY) == NULL);
    }
    free(resp);
}

static void test_upgrade_checks(void)
{
    static const struct {
        const char *extra;
        int ok;
    } cases[] = {
        {"", 1},
        {"Connection: keep-alive, UPGRADE\r\n", 1},
        {"Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n", 0}, /* two accept values */
        {"Sec-WebSocket-Extensions: permessage-deflate\r\n", 0},
        {"Sec-WebSocket-Protocol: binary\r\n", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        char *resp = upgrade_response(RFC_KEY, cases[i].extra, "");
        cli_response r;
        parse_result p;
        CHECK(resp);
        parse(&r, resp, 1, 0, &p);
        free(resp);
        CHECK_INT(p.upgrade, 1);
        const char *why = cli_response_check_upgrade(&r, RFC_KEY);
        if ((why == NULL) != cases[i].ok)
            test_fail(__FILE__, __LINE__, "case %zu: %s", i, why ? why : "accepted");
    }
}

static void test_upgrade_missing_headers(void)
{
    char accept[WS_ACCEPT_LEN + 1], resp[512];
    cli_response r;
    parse_result p;

    CHECK_INT(ws_accept_key(RFC_KEY, WS_KEY_LEN, accept), 0);
    snprintf(resp, sizeof(resp),
             "HTTP/1.1 101 OK\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", accept);
    parse(&r, resp, 1, 0, &p);
    CHECK_INT(p.upgrade, 1); /* stops at the 101 even without Upgrade: no body is guessed */
    CHECK(cli_response_check_upgrade(&r, RFC_KEY) != NULL);
    snprintf(resp, sizeof(resp),
             "HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: keep-alive\r\n"
             "Sec-WebSocket-Accept: %s\r\n\r\n",
             accept);
    parse(&r, resp, 3, 0, &p);
    CHECK(cli_response_check_upgrade(&r, RFC_KEY) != NULL);
}

static void test_upgrade_other_key(void)
{
    char *resp = upgrade_response("AAAAAAAAAAAAAAAAAAAAAA==", "", "");
    cli_response r;
    parse_result p;

    CHECK(resp);
    parse(&r, resp, 3, 0, &p);
    free(resp);
    CHECK_INT(p.upgrade, 1);
    CHECK_STR(cli_response_check_upgrade(&r, RFC_KEY), "wrong Sec-WebSocket-Accept");
}

static void test_interim_then_upgrade(void)
{
    char *resp = upgrade_response(RFC_KEY, "", "");
    char *both = NULL;
    cli_response r;
    parse_result p;

    CHECK(resp);
    CHECK(asprintf(&both, "HTTP/1.1 100 Continue\r\nUpgrade: nope\r\n\r\n%s", resp) > 0);
    free(resp);
    parse(&r, both, 1, 0, &p);
    free(both);
    CHECK_INT(p.upgrade, 1);
    CHECK(cli_response_check_upgrade(&r, RFC_KEY) == NULL);
}

static void test_body_content_length(void)
{
    static const char resp[] =
        "HTTP/1.1 200 OK\r\nContent-Length: 11\r\nContent-Type: text/plain\r\n"
        "\r\nhello worldEXTRA";
    for (size_t i = 0; i < sizeof(steps) / sizeof(*steps); i++) {
        cli_response r;
        parse_result p;
        parse(&r, resp, steps[i], 0, &p);
        CHECK_INT(p.status, 200);
        CHECK_INT(p.headers, 1);
        CHECK_INT(p.end, 1);
        CHECK_MEM(p.body, p.body_len, "hello world", 11);
    }
}

static void test_body_chunked(void)
{
    static const char resp[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                               "5\r\nhello\r\n1;ext=1\r\n \r\n5\r\nworld\r\n0\r\n\r\n";
    for (size_t i = 0; i < sizeof(steps) / sizeof(*steps); i++) {
        cli_response r;
        parse_result p;
        parse(&r, resp, steps[i], 0, &p);
        CHECK_INT(p.end, 1);
        CHECK_INT(p.error, 0);
        CHECK_MEM(p.body, p.body_len, "hello world", 11);
    }
}

static void test_body_until_close(void)
{
    static const char resp[] = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it";
    for (size_t i = 0; i < sizeof(steps) / sizeof(*steps); i++) {
        cli_response r;
        parse_result p;
        parse(&r, resp, steps[i], 1, &p);
        CHECK_INT(p.end, 1);
        CHECK_INT(p.error, 0);
        CHECK_MEM(p.body, p.body_len, "all of it", 9);
    }
}

static void test_truncated(void)
{
    cli_response r;
    parse_result p;

    parse(&r, "HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\nshort", 1, 1, &p);
    CHECK_INT(p.headers, 1);
    CHECK_INT(p.end, 0);
    CHECK_INT(p.error, 1);
    parse(&r, "HTTP/1.1 200 OK\r\nContent-Le", 1, 1, &p);
    CHECK_INT(p.error, 1);
    parse(&r, "", 1, 1, &p);
    CHECK_INT(p.error, 1);
}

static void test_status_only(void)
{
    cli_response r;
    parse_result p;

    parse(&r, "HTTP/1.1 404 Not Found\r\nContent-Length: 19\r\n\r\n404 page not found\n", 1, 0, &p);
    CHECK_INT(p.status, 404);
    CHECK_INT(p.headers, 1);
    parse(&r, "HTTP/1.1 403 Forbidden\r\n\r\n", 100000, 0, &p);
    CHECK_INT(p.status, 403);
}

static void test_garbage(void)
{
    cli_response r;
    parse_result p;

    parse(&r, "SSH-2.0-OpenSSH_9.2\r\n", 1, 0, &p);
    CHECK_INT(p.error, 1);
    CHECK(r.error != NULL);
    parse(&r, "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", 1, 0, &p);
    CHECK_INT(p.error, 1);
}

static void test_header_limit(void)
{
    size_t n = CLI_MAX_HEADER_BYTES + 100;
    char *resp = malloc(n + 64);
    cli_response r;
    parse_result p;

    CHECK(resp);
    strcpy(resp, "HTTP/1.1 200 OK\r\nX-Long: ");
    size_t at = strlen(resp);
    memset(resp + at, 'a', n);
    strcpy(resp + at + n, "\r\n\r\n");
    parse(&r, resp, 4096, 0, &p);
    free(resp);
    CHECK_INT(p.error, 1);
    CHECK_INT(p.headers, 0);
}

static void test_request(void)
{
    cli_url u;
    hfs_error e;
    char key[WS_KEY_LEN + 1], key2[WS_KEY_LEN + 1];
    size_t len = 0;

    CHECK_INT(cli_handshake_key(key), 0);
    CHECK_INT(cli_handshake_key(key2), 0);
    CHECK_INT(strlen(key), WS_KEY_LEN);
    CHECK(ws_key_valid(key, strlen(key)));
    CHECK(strcmp(key, key2) != 0);
    CHECK_INT(cli_url_parse(&u, "http://[::1]:8080/a/b.txt?x=1", &e), HFS_OK);
    char *req = cli_handshake_request(&u, "APPEND", key, NULL, &len);
    CHECK(req);
    CHECK_INT(len, strlen(req));
    char expect[1024];
    snprintf(expect, sizeof(expect),
             "GET /a/b.txt?x=1 HTTP/1.1\r\nHost: [::1]:8080\r\nUpgrade: websocket\r\n"
             "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
             "X-Verb: APPEND\r\nOrigin: http://[::1]:8080\r\n"
             "User-Agent: httpfstream/" HFS_VERSION "\r\n\r\n",
             key);
    CHECK_STR(req, expect);
    free(req);
    /* With a token: one Authorization header, the rest unchanged. */
    req = cli_handshake_request(&u, "FOLLOW", key, "s3cr.et-_~+/=", &len);
    CHECK(req);
    CHECK_INT(len, strlen(req));
    snprintf(expect, sizeof(expect),
             "GET /a/b.txt?x=1 HTTP/1.1\r\nHost: [::1]:8080\r\nUpgrade: websocket\r\n"
             "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
             "X-Verb: FOLLOW\r\nAuthorization: Bearer s3cr.et-_~+/=\r\n"
             "Origin: http://[::1]:8080\r\nUser-Agent: httpfstream/" HFS_VERSION "\r\n\r\n",
             key);
    CHECK_STR(req, expect);
    free(req);
    cli_url_free(&u);
}

/* Tokens: visible ASCII only, 1 to CLI_TOKEN_MAX bytes; the reason never quotes the token. */
static void test_token_check(void)
{
    static const char *good[] = {"t", "ci-tok", "abc.DEF_123~+/=", "\"quoted,;\\", "!#$%&'()*"};
    static const char *bad[] = {
        "",      "two words", "line\r\nX-Evil: 1", "cr\r",         "lf\n",
        "tab\t", "del\x7f",   "\xc3\xbc",          "nul-free\x01", " leading"};
    char big[CLI_TOKEN_MAX + 2];

    CHECK(cli_token_check(NULL) == NULL);
    for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++)
        EXPECTF(cli_token_check(good[i]) == NULL, "good %zu refused", i);
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        const char *why = cli_token_check(bad[i]);
        EXPECTF(why != NULL, "bad %zu taken", i);
        EXPECTF(!why || !*bad[i] || !strstr(why, bad[i]), "bad %zu quoted", i);
    }
    memset(big, 'a', CLI_TOKEN_MAX);
    big[CLI_TOKEN_MAX] = '\0';
    CHECK(cli_token_check(big) == NULL);
    big[CLI_TOKEN_MAX] = 'a';
    big[CLI_TOKEN_MAX + 1] = '\0';
    CHECK(cli_token_check(big) != NULL);
}

/* What a follow and a size request learn from the headers: a body's Content-Length, and the
 * complete length in a Content-Range (206, and 416 with an asterisk for the range); an unknown or
 * malformed one gives nothing. Fed whole and 1 byte at a time. */
static void test_lengths(void)
{
    static const struct {
        const char *resp;
        int has_length;
        uint64_t length;
        int has_total;
        uint64_t total;
    } cases[] = {
        {"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world", 1, 11, 0, 0},
        {"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-0/1234\r\nContent-Length: "
         "1\r\n\r\nx",
         1, 1, 1, 1234},
        {"HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */0\r\n"
         "Content-Length: 0\r\n\r\n",
         1, 0, 1, 0},
        {"HTTP/1.1 206 Partial Content\r\ncontent-range: BYTES 0-0/18446744073709551615\r\n"
         "Content-Length: 1\r\n\r\nx",
         1, 1, 1, UINT64_MAX},
        {"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-0/*\r\nContent-Length: 1\r\n\r\nx",
         1, 1, 0, 0},
        {"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-0/12x\r\nContent-Length: "
         "1\r\n\r\nx",
         1, 1, 0, 0},
        {"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-0/99999999999999999999\r\n"
         "Content-Length: 1\r\n\r\nx",
         1, 1, 0, 0},
        {"HTTP/1.1 206 Partial Content\r\nContent-Range: items 0-0/12\r\nContent-Length: "
         "1\r\n\r\nx",
         1, 1, 0, 0},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 0, 0, 0, 0},
        {"HTTP/1.1 100 Continue\r\nContent-Range: bytes 0-0/5\r\n\r\n"
         "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
         1, 2, 0, 0},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        for (size_t j = 0; j < sizeof(steps) / sizeof(*steps); j++) {
            cli_response r;
            parse_result p;
            parse(&r, cases[i].resp, steps[j], 0, &p);
            EXPECTF(p.headers == 1 && p.error == 0, "case %zu step %zu", i, steps[j]);
            EXPECTF(r.has_length == cases[i].has_length &&
                        (!r.has_length || r.length == cases[i].length),
                    "case %zu step %zu: length %d %llu", i, steps[j], r.has_length,
                    (unsigned long long)r.length);
            EXPECTF(r.has_range_total == cases[i].has_total &&
                        (!r.has_range_total || r.range_total == cases[i].total),
                    "case %zu step %zu: total %d %llu", i, steps[j], r.has_range_total,
                    (unsigned long long)r.range_total);
        }
    }
}

/* The size request: a plain GET of the first byte, no handshake, the connection not kept. */
static void test_size_request(void)
{
    cli_url u;
    hfs_error e;
    size_t len = 0;

    CHECK_INT(cli_url_parse(&u, "http://example.com/a/b.txt?x=1", &e), HFS_OK);
    char *req = cli_size_request(&u, NULL, &len);
    CHECK(req);
    CHECK_INT(len, strlen(req));
    CHECK_STR(req, "GET /a/b.txt?x=1 HTTP/1.1\r\nHost: example.com\r\nRange: bytes=0-0\r\n"
                   "User-Agent: httpfstream/" HFS_VERSION "\r\nConnection: close\r\n\r\n");
    free(req);
    req = cli_size_request(&u, "tok", &len);
    CHECK(req);
    CHECK_INT(len, strlen(req));
    CHECK_STR(req, "GET /a/b.txt?x=1 HTTP/1.1\r\nHost: example.com\r\nRange: bytes=0-0\r\n"
                   "Authorization: Bearer tok\r\nUser-Agent: httpfstream/" HFS_VERSION
                   "\r\nConnection: close\r\n\r\n");
    free(req);
    cli_url_free(&u);
}

int main(void)
{
    RUN(test_rfc6455_example_accept);
    RUN(test_upgrade_whole_and_bytewise);
    RUN(test_upgrade_checks);
    RUN(test_upgrade_missing_headers);
    RUN(test_upgrade_other_key);
    RUN(test_interim_then_upgrade);
    RUN(test_body_content_length);
    RUN(test_body_chunked);
    RUN(test_body_until_close);
    RUN(test_truncated);
    RUN(test_status_only);
    RUN(test_garbage);
    RUN(test_header_limit);
    RUN(test_request);
    RUN(test_token_check);
    RUN(test_lengths);
    RUN(test_size_request);
    return test_report();
}
