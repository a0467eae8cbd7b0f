/* test_static.c -- unit tests for the response plan (src/http/static.c, with range.c): 200, single
 * ranges, 416, ignored Range headers, multipart/byteranges and the Content-Type chosen, checked
 * against Go net/http's observable behaviour. */
#include "../harness.h"
#include "static_fixture.h"

#include <stdlib.h>

/* ---- helpers ---- */

static uint8_t big_file[4096];

/* The value of header `name` in the plan (NULL when absent); the result is overwritten by the
 * next call. */
static const char *hdr(const http_static_plan *p, const char *name)
{
    static char val[HTTP_STATIC_HEADERS_MAX];
    size_t nl = strlen(name), i = 0;

    while (i < p->headers_len) {
        const char *line = p->text + i, *eol = strstr(line, "\r\n");
        size_t len = (size_t)(eol - line);
        if (len > nl + 2 && strncmp(line, name, nl) == 0 && line[nl] == ':' &&
            line[nl + 1] == ' ') {
            memcpy(val, line + nl + 2, len - nl - 2);
            val[len - nl - 2] = '\0';
            return val;
        }
        i += len + 2;
    }
    return NULL;
}

/* Header lines in the plan; -1 when the block is not a sequence of "Name: value\r\n". */
static int header_count(const http_static_plan *p)
{
    int n = 0;
    for (size_t i = 0; i < p->headers_len; n++) {
        const char *line = p->text + i;
        const char *eol = memchr(line, '\r', p->headers_len - i);
        if (!eol || (size_t)(eol - p->text) + 1 >= p->headers_len || eol[1] != '\n' ||
            !memchr(line, ':', (size_t)(eol - line))) {
            return -1;
        }
        i = (size_t)(eol - p->text) + 2;
    }
    return n;
}

/* Assembles the body the caller would send, reading file bytes from `data`; returns its length. */
static size_t assemble(const http_static_plan *p, const uint8_t *data, char *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < p->nparts; i++) {
        const http_body_part *b = &p->parts[i];
        if (n + b->prefix_len + b->len > cap) {
            return (size_t)-1;
        }
        memcpy(out + n, p->text + b->prefix_off, b->prefix_len);
        n += b->prefix_len;
        memcpy(out + n, data + b->start, (size_t)b->len);
        n += (size_t)b->len;
    }
    if (n + p->trailer_len > cap) {
        return (size_t)-1;
    }
    memcpy(out + n, p->text + p->trailer_off, p->trailer_len);
    return n + p->trailer_len;
}

/* ---- 200 ---- */

static void test_whole_file(void)
{
    http_file_info f = hello();
    http_static_request r = req_range(NULL);
    http_static_plan p;
    char body[64], want[512];

    CHECK_INT(http_static_plan_response(&r, &f, &p), 0);
    CHECK_INT(p.status, 200);
    snprintf(want, sizeof want,
             "Accept-Ranges: bytes\r\nContent-Length: 12\r\n"
             "Content-Security-Policy: sandbox\r\nContent-Type: text/plain; charset=utf-8\r\n"
             "ETag: %s\r\n"
             "Last-Modified: " MTIME_STR "\r\nX-Content-Type-Options: nosniff\r\n",
             hello_etag());
    CHECK_MEM(p.text, p.headers_len, want, strlen(want));
    CHECK_INT(p.content_length, 12);
    CHECK_INT(p.nparts, 1);
    CHECK_INT(p.trailer_len, 0);
    CHECK_MEM(body, assemble(&p, (const uint8_t *)HELLO, body, sizeof body), HELLO, 12);
}

static void test_head_whole(void)
{
    http_file_info f = hello();
    http_static_request r = req_range(NULL);
    http_static_plan get, head;

    CHECK_INT(http_static_plan_response(&r, &f, &get), 0);
    r.head = 1;
    CHECK_INT(http_static_plan_response(&r, &f, &head), 0);
    CHECK_INT(head.status, 200);
    CHECK_MEM(head.text, head.headers_len, get.text, get.headers_len);
    CHECK_INT(head.content_length, 12);
    CHECK_INT(head.nparts, 0);
    CHECK_INT(head.trailer_len, 0);
}

static void test_empty_file(void)
{
    http_file_info f = file_of("empty", NULL, 0);
    http_static_request r = req_range(NULL);
    http_static_plan p;

    CHECK_INT(http_static_plan_response(&r, &f, &p), 0);
    CHECK_INT(p.status, 200);
    CHECK_INT(p.nparts, 0);
    CHECK_INT(p.content_length, 0);
    CHECK_STR(hdr(&p, "Content-Length"), "0");
    CHECK_STR(hdr(&p, "Content-Type"), "text/plain; charset=utf-8");
    /* Go: an unsatisfiable Range on an empty file is ignored (200), not 416 */
    r = req_range("bytes=0-");
    CHECK_INT(http_static_plan_response(&r, &f, &p), 0);
    CHECK_INT(p.status, 200);
    CHECK(hdr(&p, "Content-Range") == NULL);
    r = req_range("bytes=-5");
    CHECK_INT(http_static_plan_response(&r, &f, &p), 0);
    CHECK_INT(p.status, 200);
}

static void test_epoch_mtime(void)
{
    http_file_info f = hello();
    http_static_request r = req_range(NULL);
    http_static_plan p;

    f.mtime.tv_sec = 0;
    f.mtime.tv_nsec = 0;
    CHECK_INT(http_static_plan_response(&r, &f, &p), 0);
    CHECK(hdr(&p, "Last-Modified") == NULL);
    CHECK(hdr(&p, "ETag") != NULL);
    CHECK_INT(header_count(&p), 6) /* Content-Security-Policy: sandbox among them */;
    /* If-Modified-Since is ignored when the mtime is unknown (Go's isZeroTime) */
    SET(r, if_modified_since, MTIME_STR);
    CHECK_INT(http_static_plan_response(&r, &f, &p), 0);
    CHECK_INT(p.status, 200);
    /* the epoch plus some nanoseconds is a real time */
    f.mtime.tv_nsec = 1;
    CHECK_INT(http_static_plan_response(&r, &f, &p), 0);
    CHECK_INT(p.status, 304);
    CHECK_STR(hdr(&p, "Last-Modified"), "Thu, 01 Jan 1970 00:00:00 GMT");
}

static void test_content_type_choice(void)
{
    static const uint8_t bin[] = {0x7f, 'E', 'L', 'F', 0x02, 0x01};
    http_static_request r = req_range(NULL);
    http_file_info f = file_of("data", bin, sizeof bin);
    http_static_plan p;

    CHECK_INT(http_static_plan_response(&r, &f, &p), 0);
    CHECK_STR(hdr(&p, "Content-Type"), "application/octet-stream");
    f.name = "data.json"; /* the extension wins over sniffing */
    CHECK_INT(http_static_plan_response(&r, &f, &p), 0);
    CHECK_STR(hdr(&p, "Content-Type"), "application/json");
    f = file_of("page", "<html><body>hi</body></html>", 28);
    CHECK_INT(http_static_plan_response(&r, &f, &p), 0);
    CHECK_STR(hdr(&p, "Content-Type"), "text/plain; charset=utf-8");
    f.name = "";
    CHECK_INT(http_static_plan_response(&r, &f, &p), 0);
    CHECK_STR(hdr(&p, "Content-Type"), "text/plain; charset=utf-8");
    CHECK_STR(hdr(&p, "X-Content-Type-Options"), "nosniff");
}

/* ---- single ranges ---- */

/* Plans `range` against hello world and checks a 206 with the given Content-Range and body. */
static int single_range(const char *range, const char *crange, const char *want)
{
    http_file_info f = hello();
    http_static_request r = req_range(range);
    http_static_plan p;
    char body[64], len[24];
    size_t n;

    snprintf(len, sizeof len, "%zu", strlen(want));
    if (http_static_plan_response(&r, &f, &p) != 0 || p.status != 206 || p.nparts != 1 ||
        !hdr(&p, "Content-Range") || strcmp(hdr(&p, "Content-Range"), crange) != 0 ||
        strcmp(hdr(&p, "Content-Length"), len) != 0 ||
        strcmp(hdr(&p, "Content-Type"), "text/plain; charset=utf-8") != 0 ||
        !hdr(&p, "Accept-Ranges") || !hdr(&p, "ETag") || !hdr(&p, "Last-Modified") ||
        header_count(&p) != 8 || p.content_length != strlen(want) || p.trailer_len != 0) {
        return 0;
    }
    n = assemble(&p, (const uint8_t *)HELLO, body, sizeof body);
    return n == strlen(want) && memcmp(body, want, n) == 0;
}

static void test_range_forms(void)
{
    CHECK(single_range("bytes=0-4", "bytes 0-4/12", "hello"));
    CHECK(single_range("bytes=6-", "bytes 6-11/12", "world\n"));
    CHECK(single_range("bytes=-3", "bytes 9-11/12", "ld\n"));
    CHECK(single_range("bytes=0-0", "bytes 0-0/12", "h"));
    CHECK(single_range("bytes=11-11", "bytes 11-11/12", "\n"));
    CHECK(single_range("bytes=0-", "bytes 0-11/12", HELLO));
}

static void test_range_clipping(void)
{
    CHECK(single_range("bytes=6-100", "bytes 6-11/12", "world\n"));
    CHECK(single_range("bytes=6-11", "bytes 6-11/12", "world\n"));
    CHECK(single_range("bytes=6-12", "bytes 6-11/12", "world\n"));
    CHECK(single_range("bytes=-12", "bytes 0-11/12", HELLO));
    CHECK(single_range("bytes=-100", "bytes 0-11/12", HELLO));
    CHECK(single_range("bytes=3-99999999999999999999999", "bytes 3-11/12", "lo world\n"));
    CHECK(single_range("bytes=-99999999999999999999999", "bytes 0-11/12", HELLO));
}

static void test_range_whitespace(void)
{
    CHECK(single_range("bytes= 0-4", "bytes 0-4/12", "hello"));
    CHECK(single_range("bytes=0 - 4 ", "bytes 0-4/12", "hello"));
    CHECK(single_range("bytes=,0-4,", "bytes 0-4/12", "hello"));
    CHECK(single_range("bytes=\t-3 ,  ", "bytes 9-11/12", "ld\n"));
    CHECK(single_range("  bytes=0-4  ", "bytes 0-4/12", "hello")); /* header OWS */
}

/* Unsatisfiable specs are dropped as long as another one remains (Go). */
static void test_range_drops_unsatisfiable(void)
{
    CHECK(single_range("bytes=20-30,0-0", "bytes 0-0/12", "h"));
    CHECK(single_range("bytes=12-,-0,6-", "bytes 6-11/12", "world\n"));
}

/* ---- 416 ---- */

static void check_416(const char *range, int head)
{
    http_file_info f = hello();
    http_static_request r = req_range(range);
    http_static_plan p;
    char body[64];
    const char *msg = "invalid range: failed to overlap\n";

    r.head = head;
    CHECK_INT(http_static_plan_response(&r, &f, &p), 0);
    CHECK_INT(p.status, 416);
    CHECK_STR(hdr(&p, "Content-Range"), "bytes */12");
    CHECK_STR(hdr(&p, "Content-Type"), "text/plain; charset=utf-8");
    CHECK_STR(hdr(&p, "Content-Length"), "33");
    CHECK_STR(hdr(&p, "X-Content-Type-Options"), "nosniff");
    CHECK_INT(p.content_length, strlen(msg));
    CHECK_INT(p.nparts, 0);
    CHECK_STR(hdr(&p, "Content-Security-Policy"), "sandbox");
    CHECK_INT(header_count(&p), 8);
    if (head) {
        CHECK_INT(p.trailer_len, 0);
        return;
    }
    CHECK_MEM(body, assemble(&p, (const uint8_t *)HELLO, body, sizeof body), msg, strlen(msg));
}

static void test_unsatisfiable(void)
{
    check_416("bytes=12-", 0);
    check_416("bytes=12-20", 0);
    check_416("bytes=100-", 0);
    check_416("bytes=-0", 0);
    check_416("bytes=20-30, 40-", 0);
    check_416("bytes=-0,12-", 0);
    check_416("bytes=99999999999999999999999-", 0);
    check_416("bytes=12-", 1);
}

/* ---- ignored Range (200) ---- */

static int ignored(const char *range)
{
    http_file_info f = hello();
    http_static_request r = req_range(range);
    http_static_plan p;

    return http_static_plan_response(&r, &f, &p) == 0 && p.status == 200 &&
           hdr(&p, "Content-Range") == NULL && p.content_length == 12 && p.nparts == 1 &&
           p.parts[0].start == 0 && p.parts[0].len == 12;
}

static void test_malformed_range_ignored(void)
{
    CHECK(ignored(""));
    CHECK(ignored("   "));
    CHECK(ignored("bytes="));
    CHECK(ignored("bytes=,,"));
    CHECK(ignored("bytes=abc"));
    CHECK(ignored("bytes=5-2"));
    CHECK(ignored("bytes=1"));
    CHECK(ignored("bytes=0-1-2"));
    CHECK(ignored("bytes=--1"));
    CHECK(ignored("bytes=-"));
    CHECK(ignored("bytes=+1-2"));
    CHECK(ignored("bytes=1-+2"));
    CHECK(ignored("bytes=0x1-2"));
    CHECK(ignored("bytes=0-4,x"));
    CHECK(ignored("bytes=100-x")); /* malformed even though it starts past the end */
    CHECK(ignored("bytes=100-50"));
    CHECK(ignored("bytes=1 2-3"));
    CHECK(ignored("items=0-1"));
    CHECK(ignored("Bytes=0-1")); /* the unit is case-sensitive, as in Go */
    CHECK(ignored("bytes =0-1"));
    CHECK(ignored("bytes0-1"));
}

static void test_ranges_exceeding_size_ignored(void)
{
    CHECK(ignored("bytes=0-9,0-9"));
    CHECK(ignored("bytes=0-,0-"));
    CHECK(ignored("bytes=-12,0-0"));
    CHECK(ignored("bytes=0-11,-1"));
}

static void test_too_many_ranges(void)
{
    char range[512];
    http_file_info f = file_of("big.bin", big_file, 100);
    http_static_request r;
    http_static_plan p;
    size_t n = (size_t)snprintf(range, sizeof range, "bytes=0-0");

    for (int i = 1; i < HTTP_STATIC_MAX_RANGES; i++) {
        n += (size_t)snprintf(range + n, sizeof range - n, ",%d-%d", i * 2, i * 2);
    }
    r = req_range(range);
    CHECK_INT(http_static_plan_response(&r, &f, &p), 0);
    CHECK_INT(p.status, 206);
    CHECK_INT(p.nparts, HTTP_STATIC_MAX_RANGES);
    snprintf(range + n, sizeof range - n, ",99-99");
    r = req_range(range);
    CHECK_INT(http_static_plan_response(&r, &f, &p), 0);
    CHECK_INT(p.status, 200);
    CHECK_INT(p.content_length, 100);
    /* unsatisfiable extras do not count */
    snprintf(range + n, sizeof range - n, ",200-,300-");
    r = req_range(range);
    CHECK_INT(http_static_plan_response(&r, &f, &p), 0);
    CHECK_INT(p.status, 206);
}

/* ---- multipart/byteranges ---- */

static const char *boundary_of(const http_static_plan *p)
{
    const char *ct = hdr(p, "Content-Type");
    const char *pre = "multipart/byteranges; boundary=";
    return ct && strncmp(ct, pre, strlen(pre)) == 0 ? ct + strlen(pre) : NULL;
}

static void test_multipart_layout(void)
{
    http_file_info f = hello();
    http_static_request r = req_range("bytes=0-1, 6-8");
    http_static_plan p;
    char boundary[128], body[1024], want[1024], len[24];
    size_t n;

    CHECK_INT(http_static_plan_response(&r, &f, &p), 0);
    CHECK_INT(p.status, 206);
    CHECK(boundary_of(&p) != NULL);
    snprintf(boundary, sizeof boundary, "%s", boundary_of(&p));
    CHECK_INT(strlen(boundary), 24);
    CHECK_INT(strspn(boundary, "0123456789abcdef"), 24);
    CHECK(hdr(&p, "Content-Range") == NULL);
    CHECK_INT(p.nparts, 2);
    n = (size_t)snprintf(want, sizeof want,
                         "--%s\r\nContent-Range: bytes 0-1/12\r\n"
                         "Content-Type: text/plain; charset=utf-8\r\n\r\nhe"
                         "\r\n--%s\r\nContent-Range: bytes 6-8/12\r\n"
                         "Content-Type: text/plain; charset=utf-8\r\n\r\nwor"
                         "\r\n--%s--\r\n",
                         boundary, boundary, boundary);
    CHECK_MEM(body, assemble(&p, (const uint8_t *)HELLO, body, sizeof body), want, n);
    CHECK_INT(p.content_length, n);
    snprintf(len, sizeof len, "%zu", n);
    CHECK_STR(hdr(&p, "Content-Length"), len);
    CHECK_STR(hdr(&p, "Accept-Ranges"), "bytes");
    CHECK_STR(hdr(&p, "X-Content-Type-Options"), "nosniff");
    CHECK_INT(header_count(&p), 7);
}

static void test_multipart_overlapping_and_order(void)
{
    static const char data[] = "0123456789";
    http_file_info f = file_of("digits", data, 10);
    http_static_request r = req_range("bytes=-2,0-3,2-5");
    http_static_plan p;
    char boundary[128], body[1024], want[1024];
    size_t n;

    CHECK_INT(http_static_plan_response(&r, &f, &p), 0);
    CHECK_INT(p.status, 206);
    CHECK(boundary_of(&p) != NULL);
    snprintf(boundary, sizeof boundary, "%s", boundary_of(&p));
    n = (size_t)snprintf(want, sizeof want,
                         "--%s\r\nContent-Range: bytes 8-9/10\r\n"
                         "Content-Type: text/plain; charset=utf-8\r\n\r\n89"
                         "\r\n--%s\r\nContent-Range: bytes 0-3/10\r\n"
                         "Content-Type: text/plain; charset=utf-8\r\n\r\n0123"
                         "\r\n--%s\r\nContent-Range: bytes 2-5/10\r\n"
                         "Content-Type: text/plain; charset=utf-8\r\n\r\n2345"
                         "\r\n--%s--\r\n",
                         boundary, boundary, boundary, boundary);
    CHECK_MEM(body, assemble(&p, (const uint8_t *)data, body, sizeof body), want, n);
    CHECK_INT(p.content_length, n);
}

static void test_multipart_boundary(void)
{
    http_file_info f = hello();
    http_static_request r = req_range("bytes=0-1,6-8");
    http_static_plan p;
    char b1[64], b2[64], b3[64];

    CHECK_INT(http_static_plan_response(&r, &f, &p), 0);
    CHECK(boundary_of(&p) != NULL);
    snprintf(b1, sizeof b1, "%s", boundary_of(&p));
    CHECK_INT(http_static_plan_response(&r, &f, &p), 0);
    CHECK_STR(boundary_of(&p), b1); /* deterministic */
    r = req_range("bytes=0-1,6-9");
    CHECK_INT(http_static_plan_response(&r, &f, &p), 0);
    CHECK(boundary_of(&p) != NULL);
    snprintf(b2, sizeof b2, "%s", boundary_of(&p));
    CHECK(strcmp(b1, b2) != 0); /* other ranges */
    r = req_range("bytes=0-1,6-8");
    f.mtime.tv_nsec++;
    CHECK_INT(http_static_plan_response(&r, &f, &p), 0);
    CHECK(boundary_of(&p) != NULL);
    snprintf(b3, sizeof b3, "%s", boundary_of(&p));
    CHECK(strcmp(b1, b3) != 0); /* other ETag */
}

static void test_multipart_head(void)
{
    http_file_info f = hello();
    http_static_request r = req_range("bytes=0-1,6-8");
    http_static_plan get, head;

    CHECK_INT(http_static_plan_response(&r, &f, &get), 0);
    r.head = 1;
    CHECK_INT(http_static_plan_response(&r, &f, &head), 0);
    CHECK_INT(head.status, 206);
    CHECK_MEM(head.text, head.headers_len, get.text, get.headers_len);
    CHECK_INT(head.content_length, get.content_length);
    CHECK_INT(head.nparts, 0);
    CHECK_INT(head.trailer_len, 0);
}

/* When the part headers cannot fit in plan->text, the Range is ignored rather than failing. */
/* The largest multipart answer (16 ranges of a file with 16-digit offsets) fits the plan's text. */
static void test_multipart_worst_case_fits(void)
{
    char range[1024];
    http_file_info f = file_of("huge.bin", big_file, 1000000000000000ULL);
    http_static_request r;
    http_static_plan p;
    size_t n = (size_t)snprintf(range, sizeof range, "bytes=");

    for (int i = 0; i < HTTP_STATIC_MAX_RANGES; i++) {
        unsigned long long a = 100000000000000ULL + (unsigned long long)i * 1000000000000ULL;
        n += (size_t)snprintf(range + n, sizeof range - n, "%s%llu-%llu", i ? "," : "", a, a + 1);
    }
    r = req_range(range);
    CHECK_INT(http_static_plan_response(&r, &f, &p), 0);
    CHECK_INT(p.status, 206);
    CHECK_INT(p.nparts, HTTP_STATIC_MAX_RANGES);
    CHECK(strstr(hdr(&p, "Content-Type"), "multipart/byteranges; boundary=") != NULL);
    CHECK_INT(p.parts[15].start, 115000000000000ULL);
    CHECK_INT(p.parts[15].len, 2);
    CHECK(p.trailer_len > 0);
}

int main(void)
{
    RUN(test_whole_file);
    RUN(test_head_whole);
    RUN(test_empty_file);
    RUN(test_epoch_mtime);
    RUN(test_content_type_choice);
    RUN(test_range_forms);
    RUN(test_range_clipping);
    RUN(test_range_whitespace);
    RUN(test_range_drops_unsatisfiable);
    RUN(test_unsatisfiable);
    RUN(test_malformed_range_ignored);
    RUN(test_ranges_exceeding_size_ignored);
    RUN(test_too_many_ranges);
    RUN(test_multipart_layout);
    RUN(test_multipart_overlapping_and_order);
    RUN(test_multipart_boundary);
    RUN(test_multipart_head);
    RUN(test_multipart_worst_case_fits);
    return test_report();
}
