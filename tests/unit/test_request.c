/* test_request.c -- unit tests of the HTTP request parser: heads fed whole and one byte at a
 * time, pipelining, bodies, upgrades, limits (414, 431) and malformed input. */
#include <stdlib.h>

#include "harness.h"
#include "http/request.h"

typedef struct seen {
    int heads, dones, errors, status;
    size_t body;
    char target[256];
    char verb[32];
    int upgrade, keep_alive;
} seen;

/* Feeds data in pieces of `step` bytes and records events; the request is inspected at its head. */
static void feed(http_parser *p, const char *data, size_t len, size_t step, seen *s)
{
    http_event ev;

    for (size_t off = 0; off < len;) {
        size_t n = len - off < step ? len - off : step;
        const char *q = data + off;
        off += n;
        while (n > 0 || 1) {
            size_t used = http_parse(p, q, n, &ev);
            q += used;
            n -= used;
            if (ev.type == HTTP_EV_NEED_MORE)
                break;
            if (ev.type == HTTP_EV_HEAD) {
                size_t vl;
                const char *v = http_header_get(&p->req, "X-Verb", &vl);
                s->heads++;
                snprintf(s->target, sizeof(s->target), "%.*s", (int)p->req.target_len,
                         p->req.target);
                snprintf(s->verb, sizeof(s->verb), "%.*s", v ? (int)vl : 0, v ? v : "");
                s->upgrade = p->req.upgrade;
                s->keep_alive = p->req.keep_alive;
            } else if (ev.type == HTTP_EV_BODY) {
                s->body += ev.len;
            } else if (ev.type == HTTP_EV_DONE) {
                s->dones++;
                http_parser_next(p);
            } else if (ev.type == HTTP_EV_ERROR) {
                s->errors++;
                s->status = ev.status;
                return;
            }
            if (n == 0 && ev.type != HTTP_EV_HEAD)
                break;
        }
    }
}

static seen parse_all(const char *data, size_t step)
{
    http_parser p;
    seen s = {0};

    http_parser_init(&p, 0, 0);
    feed(&p, data, strlen(data), step, &s);
    http_parser_free(&p);
    return s;
}

static void test_simple_whole_and_bytewise(void)
{
    const char *req = "GET /a/b?verb=x HTTP/1.1\r\nHost: h\r\nX-Verb: APPEND\r\nX-Empty:\r\n\r\n";

    for (size_t step = 1; step <= strlen(req); step = step == 1 ? 7 : step * 3) {
        seen s = parse_all(req, step);
        CHECK_INT(s.heads, 1);
        CHECK_INT(s.dones, 1);
        CHECK_INT(s.errors, 0);
        CHECK_STR(s.target, "/a/b?verb=x");
        CHECK_STR(s.verb, "APPEND");
        CHECK_INT(s.keep_alive, 1);
    }
}

static void test_pipelined_and_body(void)
{
    const char *req = "PUT /x HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET /y HTTP/1.1\r\n\r\n"
                      "POST /z HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
    for (size_t step = 1; step < 200; step *= 4) {
        seen s = parse_all(req, step);
        CHECK_INT(s.heads, 3);
        CHECK_INT(s.dones, 3);
        CHECK_INT(s.body, 8);
        CHECK_STR(s.target, "/z");
    }
}

static void test_upgrade_and_headers(void)
{
    const char *req = "GET /f HTTP/1.1\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n"
                      "Sec-WebSocket-Protocol: chat, binary\r\n\r\n";
    http_parser p;
    http_event ev;

    http_parser_init(&p, 0, 0);
    size_t used = http_parse(&p, req, strlen(req), &ev);
    CHECK_INT(ev.type, HTTP_EV_HEAD);
    CHECK_INT(used, strlen(req));
    CHECK_INT(p.req.upgrade, 1);
    CHECK(http_header_has_token(&p.req, "connection", "upgrade"));
    CHECK(http_header_has_token(&p.req, "Sec-WebSocket-Protocol", "binary"));
    CHECK(!http_header_has_token(&p.req, "Sec-WebSocket-Protocol", "bin"));
    size_t n;
    CHECK(http_header_get(&p.req, "UPGRADE", &n) != NULL);
    CHECK_INT(n, 9);
    http_parser_free(&p);
}

/* A body cut short by the end of the input, then an empty parse: no event, no loop. */
static void test_partial_body_then_empty_input(void)
{
    const char *req = "POST /a HTTP/1.1\r\nContent-Length: 6\r\n\r\nabc";
    http_parser p;
    http_event ev;
    size_t off = 0, len = strlen(req);
    int events = 0;

    http_parser_init(&p, 0, 0);
    while (events < 10) {
        off += http_parse(&p, req + off, len - off, &ev);
        if (ev.type == HTTP_EV_NEED_MORE)
            break;
        events++;
    }
    CHECK_INT(off, len);
    CHECK_INT(events, 2); /* the head, then "abc" */
    http_parse(&p, req + len, 0, &ev);
    CHECK_INT(ev.type, HTTP_EV_NEED_MORE);
    http_parser_free(&p);
}

static void test_http10_close(void)
{
    seen s = parse_all("GET / HTTP/1.0\r\n\r\n", 100);
    CHECK_INT(s.heads, 1);
    CHECK_INT(s.keep_alive, 0);
    s = parse_all("GET / HTTP/1.1\r\nConnection: close\r\n\r\n", 100);
    CHECK_INT(s.keep_alive, 0);
}

static void test_limits(void)
{
    size_t big = HTTP_MAX_TARGET + 10;
    char *req = malloc(big + 64);

    strcpy(req, "GET /");
    memset(req + 5, 'a', big);
    strcpy(req + 5 + big, " HTTP/1.1\r\n\r\n");
    seen s = parse_all(req, 4096);
    CHECK_INT(s.errors, 1);
    CHECK_INT(s.status, 414);
    free(req);

    req = malloc(HTTP_MAX_HEADER_BYTES + 128);
    strcpy(req, "GET / HTTP/1.1\r\nX-Big: ");
    size_t at = strlen(req);
    memset(req + at, 'b', HTTP_MAX_HEADER_BYTES);
    strcpy(req + at + HTTP_MAX_HEADER_BYTES, "\r\n\r\n");
    s = parse_all(req, 1000);
    CHECK_INT(s.status, 431);
    free(req);

    char many[8192] = "GET / HTTP/1.1\r\n";
    for (int i = 0; i < HTTP_MAX_HEADERS + 1; i++)
        strcat(many, "A: b\r\n");
    strcat(many, "\r\n");
    s = parse_all(many, 100);
    CHECK_INT(s.status, 431);
}

static void test_malformed(void)
{
    CHECK_INT(parse_all("\x16\x03\x01\x02", 10).status, 400);
    CHECK_INT(parse_all("FOO / HTTP/1.1\r\n\r\n", 10).status, 405);
    CHECK_INT(parse_all("GET / HTTP/9.9\r\n\r\n", 10).status, 505);
    CHECK_INT(parse_all("GET / HTTP/1.1\r\nBad Header\r\n\r\n", 10).status, 400);
    CHECK_INT(
        parse_all("GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 10).status,
        400);
    CHECK_INT(parse_all("GET /a b HTTP/1.1\r\n\r\n", 10).status, 400);
}

int main(void)
{
    RUN(test_simple_whole_and_bytewise);
    RUN(test_pipelined_and_body);
    RUN(test_upgrade_and_headers);
    RUN(test_partial_body_then_empty_input);
    RUN(test_http10_close);
    RUN(test_limits);
    RUN(test_malformed);
    return test_report();
}
