/* test_static.c -- unit tests for serving files (src/http/static.c and the conditional, range,
 * mime, date and dirlist files it builds on): Range, conditionals, validators, MIME types, dates
 * and directory listings, checked against Go net/http's observable behaviour. */
#include "../harness.h"
#include "http/conditional.h"
#include "http/date.h"
#include "http/dirlist.h"
#include "http/mime.h"
#include "http/static.h"

#include <stdlib.h>

#define MTIME_SEC 784111777L /* Sun, 06 Nov 1994 08:49:37 GMT */
#define MTIME_STR "Sun, 06 Nov 1994 08:49:37 GMT"
#define HELLO     "hello world\n" /* 12 bytes */

/* ---- helpers ---- */

static uint8_t big_file[4096];

static http_file_info file_of(const char *name, const void *data, uint64_t size)
{
    http_file_info f;
    memset(&f, 0, sizeof f);
    f.name = name;
    f.size = size;
    f.mtime.tv_sec = MTIME_SEC;
    f.mtime.tv_nsec = 123;
    f.ino = 0x42;
    f.head = data;
    f.head_len = size < HTTP_STATIC_SNIFF_LEN ? (size_t)size : HTTP_STATIC_SNIFF_LEN;
    return f;
}

static http_file_info hello(void)
{
    return file_of("a.txt", HELLO, 12);
}

static http_static_request req_range(const char *range)
{
    http_static_request r;
    memset(&r, 0, sizeof r);
    if (range) {
        r.range = range;
        r.range_len = strlen(range);
    }
    return r;
}

#define SET(r, field, s) ((r).field = (s), (r).field##_len = strlen(s))

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

static char etag_hello[64];

static const char *hello_etag(void)
{
    http_file_info f = hello();
    http_etag(&f, etag_hello);
    return etag_hello;
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

static void test_etag_form(void)
{
    http_file_info f = hello();
    char e[64];

    CHECK_INT(http_etag(&f, e), strlen("\"42-c-ae1b981bc490a7b\""));
    CHECK_STR(e, "\"42-c-ae1b981bc490a7b\""); /* 784111777 s + 123 ns = 0xae1b981bc490a7b ns */
    f.size = 13;
    http_etag(&f, e);
    CHECK_STR(e, "\"42-d-ae1b981bc490a7b\"");
    f.mtime.tv_nsec = 124;
    http_etag(&f, e);
    CHECK_STR(e, "\"42-d-ae1b981bc490a7c\"");
    f.ino = UINT64_MAX;
    f.size = UINT64_MAX;
    CHECK_INT(http_etag(&f, e), 2 + 16 + 1 + 16 + 1 + 15);
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

/* ---- If-Range ---- */

static int if_range_status(const char *if_range, const char *range)
{
    http_file_info f = hello();
    http_static_request r = req_range(range);
    http_static_plan p;

    SET(r, if_range, if_range);
    return http_static_plan_response(&r, &f, &p) == 0 ? p.status : -1;
}

static void test_if_range(void)
{
    char tag[80];

    snprintf(tag, sizeof tag, "%s", hello_etag());
    CHECK_INT(if_range_status(tag, "bytes=0-4"), 206);
    CHECK_INT(if_range_status(tag, "bytes=20-"), 416);
    CHECK_INT(if_range_status(tag, NULL), 200);
    CHECK_INT(if_range_status("\"other\"", "bytes=0-4"), 200);
    CHECK_INT(if_range_status("\"other\"", "bytes=20-"), 200);
    CHECK_INT(if_range_status(MTIME_STR, "bytes=0-4"), 206);
    CHECK_INT(if_range_status("Sunday, 06-Nov-94 08:49:37 GMT", "bytes=0-4"), 206);
    CHECK_INT(if_range_status("Sun, 06 Nov 1994 08:49:38 GMT", "bytes=0-4"), 200);
    CHECK_INT(if_range_status("Sun, 06 Nov 1994 08:49:36 GMT", "bytes=0-4"), 200);
    CHECK_INT(if_range_status("garbage", "bytes=0-4"), 200);
    CHECK_INT(if_range_status("", "bytes=0-4"), 206); /* empty = absent */
    snprintf(tag, sizeof tag, "W/%s", hello_etag());
    CHECK_INT(if_range_status(tag, "bytes=0-4"), 200); /* weak tags never match strongly */
    snprintf(tag, sizeof tag, " %s ", hello_etag());
    CHECK_INT(if_range_status(tag, "bytes=0-4"), 206);
}

/* ---- If-None-Match / If-Modified-Since ---- */

static int cond_status(const char *inm, const char *ims)
{
    http_file_info f = hello();
    http_static_request r = req_range(NULL);
    http_static_plan p;

    if (inm) {
        SET(r, if_none_match, inm);
    }
    if (ims) {
        SET(r, if_modified_since, ims);
    }
    return http_static_plan_response(&r, &f, &p) == 0 ? p.status : -1;
}

static void test_not_modified_headers(void)
{
    http_file_info f = hello();
    http_static_request r = req_range("bytes=0-4");
    http_static_plan p;
    char want[256];

    SET(r, if_none_match, hello_etag());
    CHECK_INT(http_static_plan_response(&r, &f, &p), 0);
    CHECK_INT(p.status, 304); /* before Range */
    snprintf(want, sizeof want, "ETag: %s\r\nLast-Modified: " MTIME_STR "\r\n", hello_etag());
    CHECK_MEM(p.text, p.headers_len, want, strlen(want));
    CHECK_INT(p.content_length, 0);
    CHECK_INT(p.nparts, 0);
    CHECK_INT(p.trailer_len, 0);
    r.head = 1;
    CHECK_INT(http_static_plan_response(&r, &f, &p), 0);
    CHECK_INT(p.status, 304);
    CHECK_MEM(p.text, p.headers_len, want, strlen(want));
}

static void test_if_none_match(void)
{
    char v[256];
    const char *e = hello_etag();

    CHECK_INT(cond_status(e, NULL), 304);
    CHECK_INT(cond_status("*", NULL), 304);
    CHECK_INT(cond_status(" * ", NULL), 304);
    CHECK_INT(cond_status("\"nope\"", NULL), 200);
    CHECK_INT(cond_status("\"nope\", \"other\"", NULL), 200);
    snprintf(v, sizeof v, "\"nope\", %s", e);
    CHECK_INT(cond_status(v, NULL), 304);
    snprintf(v, sizeof v, "\"nope\",%s,\"x\"", e);
    CHECK_INT(cond_status(v, NULL), 304);
    snprintf(v, sizeof v, " , ,W/\"x\" ,  W/%s", e);
    CHECK_INT(cond_status(v, NULL), 304); /* weak comparison */
    snprintf(v, sizeof v, "\"a\", *");
    CHECK_INT(cond_status(v, NULL), 304);
    snprintf(v, sizeof v, "garbage, %s", e);
    CHECK_INT(cond_status(v, NULL), 200); /* Go stops at the first unparsable tag */
    snprintf(v, sizeof v, "%.*s", (int)strlen(e) - 1, e);
    CHECK_INT(cond_status(v, NULL), 200); /* unterminated */
    snprintf(v, sizeof v, "\"a b\", %s", e);
    CHECK_INT(cond_status(v, NULL), 200); /* no spaces inside a tag */
    snprintf(v, sizeof v, "\"a\x7f\", %s", e);
    CHECK_INT(cond_status(v, NULL), 200); /* nor DEL */
    snprintf(v, sizeof v, "\"\x80\xff!#~\", %s", e);
    CHECK_INT(cond_status(v, NULL), 304); /* obs-text and the rest of VCHAR are fine */
    snprintf(v, sizeof v, "w/%s", e);
    CHECK_INT(cond_status(v, NULL), 200); /* "W/" is case-sensitive */
    CHECK_INT(cond_status("", NULL), 200);
}

static void test_if_none_match_overrides_ims(void)
{
    /* present and not matching: If-Modified-Since is not consulted */
    CHECK_INT(cond_status("\"nope\"", MTIME_STR), 200);
    CHECK_INT(cond_status("garbage", MTIME_STR), 200);
    /* empty counts as absent */
    CHECK_INT(cond_status("", MTIME_STR), 304);
    CHECK_INT(cond_status("  ", MTIME_STR), 304);
}

static void test_if_modified_since(void)
{
    CHECK_INT(cond_status(NULL, MTIME_STR), 304);                       /* equal (ns truncated) */
    CHECK_INT(cond_status(NULL, "Sun, 06 Nov 1994 08:49:38 GMT"), 304); /* later */
    CHECK_INT(cond_status(NULL, "Fri, 01 Jan 2100 00:00:00 GMT"), 304);
    CHECK_INT(cond_status(NULL, "Sun, 06 Nov 1994 08:49:36 GMT"), 200); /* earlier */
    CHECK_INT(cond_status(NULL, "Thu, 01 Jan 1970 00:00:00 GMT"), 200);
    CHECK_INT(cond_status(NULL, "Sunday, 06-Nov-94 08:49:37 GMT"), 304);
    CHECK_INT(cond_status(NULL, "Sun Nov  6 08:49:37 1994"), 304);
    CHECK_INT(cond_status(NULL, "Sun Nov  6 08:49:36 1994"), 200);
    CHECK_INT(cond_status(NULL, "garbage"), 200);
    CHECK_INT(cond_status(NULL, "Sun, 06 Nov 1994 08:49:37 UTC"), 200);
    CHECK_INT(cond_status(NULL, ""), 200);
    CHECK_INT(cond_status(NULL, " " MTIME_STR " "), 304); /* header OWS is not part of the value */
}

/* ---- dates ---- */

static void test_date_format(void)
{
    char d[30];

    http_date_format(MTIME_SEC, d);
    CHECK_STR(d, MTIME_STR);
    http_date_format(0, d);
    CHECK_STR(d, "Thu, 01 Jan 1970 00:00:00 GMT");
    http_date_format(951782400, d);
    CHECK_STR(d, "Tue, 29 Feb 2000 00:00:00 GMT");
    http_date_format(253402300799LL, d);
    CHECK_STR(d, "Fri, 31 Dec 9999 23:59:59 GMT");
    http_date_format(253402300800LL, d); /* clamped to 4-digit years */
    CHECK_STR(d, "Fri, 31 Dec 9999 23:59:59 GMT");
    http_date_format(-1, d);
    CHECK_STR(d, "Wed, 31 Dec 1969 23:59:59 GMT");
}

static int parses_to(const char *s, time_t want)
{
    time_t t = 0;
    return http_date_parse(s, strlen(s), &t) == 0 && t == want;
}

static int rejects(const char *s)
{
    time_t t = 12345;
    return http_date_parse(s, strlen(s), &t) == -1 && t == 12345;
}

static void test_date_parse_forms(void)
{
    CHECK(parses_to("Sun, 06 Nov 1994 08:49:37 GMT", MTIME_SEC));
    CHECK(parses_to("Sunday, 06-Nov-94 08:49:37 GMT", MTIME_SEC));
    CHECK(parses_to("Sun Nov  6 08:49:37 1994", MTIME_SEC));
    CHECK(parses_to("Sun Nov 06 08:49:37 1994", MTIME_SEC));
    CHECK(parses_to("Thu, 01 Jan 1970 00:00:00 GMT", 0));
    CHECK(parses_to("Tue, 29 Feb 2000 00:00:00 GMT", 951782400));
    CHECK(parses_to("Thu Feb 29 00:00:00 2024", 1709164800));
    CHECK(parses_to("Thursday, 01-Jan-70 00:00:00 GMT", 0));           /* yy >= 69: 19yy */
    CHECK(parses_to("Tuesday, 19-Jan-38 03:14:08 GMT", 2147483648LL)); /* yy < 69: 20yy */
    CHECK(parses_to("Wed, 31 Dec 1969 23:59:59 GMT", -1));
    CHECK(parses_to("Fri, 31 Dec 9999 23:59:59 GMT", 253402300799LL));
    /* the day name is not checked against the date (Go does not either) */
    CHECK(parses_to("Mon, 06 Nov 1994 08:49:37 GMT", MTIME_SEC));
}

static void test_date_parse_strict(void)
{
    time_t t;
    const char *longer = "Sun, 06 Nov 1994 08:49:37 GMTxyz";

    CHECK(http_date_parse(longer, 29, &t) == 0 && t == MTIME_SEC); /* not NUL-terminated */
    CHECK(rejects(longer));
    CHECK(http_date_parse(NULL, 0, &t) == -1);
    CHECK(rejects(""));
    CHECK(rejects("Sun, 06 Nov 1994 08:49:37 GMT "));
    CHECK(rejects(" Sun, 06 Nov 1994 08:49:37 GMT"));
    CHECK(rejects("Sun, 06 Nov 1994 08:49:37"));
    CHECK(rejects("Sun, 06 Nov 1994 08:49:37 gmt"));
    CHECK(rejects("sun, 06 Nov 1994 08:49:37 GMT"));
    CHECK(rejects("Sun, 06 nov 1994 08:49:37 GMT"));
    CHECK(rejects("Sun, 6 Nov 1994 08:49:37 GMT"));
    CHECK(rejects("Sun, 06 Nov 94 08:49:37 GMT"));
    CHECK(rejects("Sun, 06 Nov 1994 8:49:37 GMT"));
    CHECK(rejects("Sun, 06 Nov 1994 08:49:37 +0000"));
    CHECK(rejects("Sun,  06 Nov 1994 08:49:37 GMT"));
    CHECK(rejects("Sunday, 06 Nov 1994 08:49:37 GMT"));
    CHECK(rejects("Sun, 06-Nov-94 08:49:37 GMT"));
    CHECK(rejects("Sunday, 06-Nov-1994 08:49:37 GMT"));
    CHECK(rejects("Sun Nov 6 08:49:37 1994"));
    CHECK(rejects("Sun Nov  6 08:49:37 1994 GMT"));
    CHECK(rejects("Sun Nov   6 08:49:37 1994"));
    CHECK(rejects("Sun, 30 Feb 2000 00:00:00 GMT"));
    CHECK(rejects("Sun, 29 Feb 1900 00:00:00 GMT"));
    CHECK(rejects("Sun, 29 Feb 2023 00:00:00 GMT"));
    CHECK(rejects("Sun, 31 Apr 2023 00:00:00 GMT"));
    CHECK(rejects("Sun, 00 Nov 1994 08:49:37 GMT"));
    CHECK(rejects("Sun, 06 Nov 1994 24:00:00 GMT"));
    CHECK(rejects("Sun, 06 Nov 1994 08:60:00 GMT"));
    CHECK(rejects("Sun, 06 Nov 1994 08:49:60 GMT"));
    CHECK(rejects("Xyz, 06 Nov 1994 08:49:37 GMT"));
    CHECK(rejects("Sun, 06 Nox 1994 08:49:37 GMT"));
}

static void test_date_round_trip(void)
{
    char d[30];
    time_t t;

    for (long long s = -2000000000LL; s < 40000000000LL; s += 86399LL * 37 + 12345) {
        http_date_format((time_t)s, d);
        CHECK_INT(http_date_parse(d, strlen(d), &t), 0);
        CHECK_INT(t, s);
    }
}

/* ---- MIME ---- */

static void test_mime_go_table(void)
{
    CHECK_STR(http_mime_by_name("a.avif"), "image/avif");
    CHECK_STR(http_mime_by_name("a.css"), "text/css; charset=utf-8");
    CHECK_STR(http_mime_by_name("a.gif"), "image/gif");
    CHECK_STR(http_mime_by_name("a.htm"), "text/html; charset=utf-8");
    CHECK_STR(http_mime_by_name("a.html"), "text/html; charset=utf-8");
    CHECK_STR(http_mime_by_name("a.jpeg"), "image/jpeg");
    CHECK_STR(http_mime_by_name("a.jpg"), "image/jpeg");
    CHECK_STR(http_mime_by_name("a.js"), "text/javascript; charset=utf-8");
    CHECK_STR(http_mime_by_name("a.json"), "application/json");
    CHECK_STR(http_mime_by_name("a.mjs"), "text/javascript; charset=utf-8");
    CHECK_STR(http_mime_by_name("a.pdf"), "application/pdf");
    CHECK_STR(http_mime_by_name("a.png"), "image/png");
    CHECK_STR(http_mime_by_name("a.svg"), "image/svg+xml");
    CHECK_STR(http_mime_by_name("a.wasm"), "application/wasm");
    CHECK_STR(http_mime_by_name("a.webp"), "image/webp");
    CHECK_STR(http_mime_by_name("a.xml"), "text/xml; charset=utf-8");
}

static void test_mime_extra_and_edges(void)
{
    CHECK_STR(http_mime_by_name("a.txt"), "text/plain; charset=utf-8");
    CHECK_STR(http_mime_by_name("server.log"), "text/plain; charset=utf-8");
    CHECK_STR(http_mime_by_name("a.text"), "text/plain; charset=utf-8");
    CHECK_STR(http_mime_by_name("a.csv"), "text/csv; charset=utf-8");
    CHECK_STR(http_mime_by_name("README.md"), "text/markdown; charset=utf-8");
    CHECK_STR(http_mime_by_name("e.ndjson"), "application/x-ndjson");
    CHECK_STR(http_mime_by_name("e.jsonl"), "application/x-ndjson");
    CHECK_STR(http_mime_by_name("a.tar.gz"), "application/gzip");
    CHECK_STR(http_mime_by_name("a.tar"), "application/x-tar");
    CHECK_STR(http_mime_by_name("a.zip"), "application/zip");
    CHECK_STR(http_mime_by_name("a.mp4"), "video/mp4");
    CHECK_STR(http_mime_by_name("a.webm"), "video/webm");
    CHECK_STR(http_mime_by_name("a.mp3"), "audio/mpeg");
    CHECK_STR(http_mime_by_name("a.wav"), "audio/wav");
    CHECK_STR(http_mime_by_name("a.ogg"), "audio/ogg");
    CHECK_STR(http_mime_by_name("favicon.ico"), "image/x-icon");
    CHECK_STR(http_mime_by_name("A.PNG"), "image/png");
    CHECK_STR(http_mime_by_name("a.Json"), "application/json");
    CHECK_STR(http_mime_by_name(".json"), "application/json"); /* Go's filepath.Ext(".json") */
    CHECK_STR(http_mime_by_name("x.y.txt"), "text/plain; charset=utf-8");
    CHECK(http_mime_by_name(NULL) == NULL);
    CHECK(http_mime_by_name("") == NULL);
    CHECK(http_mime_by_name("Makefile") == NULL);
    CHECK(http_mime_by_name("a.unknownext") == NULL);
    CHECK(http_mime_by_name("a.") == NULL);
    CHECK(http_mime_by_name("a.txt.bak") == NULL);
    CHECK(http_mime_by_name("dir.txt/file") == NULL);
    CHECK(http_mime_by_name("atxt") == NULL);
}

static void test_sniff(void)
{
    uint8_t buf[600];

    CHECK_STR(http_mime_sniff(NULL, 0), "text/plain; charset=utf-8");
    CHECK_STR(http_mime_sniff((const uint8_t *)"", 0), "text/plain; charset=utf-8");
    CHECK_STR(http_mime_sniff((const uint8_t *)"hello\r\n\t\f", 9), "text/plain; charset=utf-8");
    CHECK_STR(http_mime_sniff((const uint8_t *)"<!DOCTYPE html><html>", 21),
              "text/plain; charset=utf-8");
    CHECK_STR(http_mime_sniff((const uint8_t *)"<?xml version=\"1.0\"?>", 21),
              "text/plain; charset=utf-8");
    CHECK_STR(http_mime_sniff((const uint8_t *)"caf\xc3\xa9 \xff\xfe", 8),
              "text/plain; charset=utf-8");
    CHECK_STR(http_mime_sniff((const uint8_t *)"\xfe\xff\x00h", 4), "text/plain; charset=utf-16be");
    CHECK_STR(http_mime_sniff((const uint8_t *)"\xff\xfeh\x00", 4), "text/plain; charset=utf-16le");
    CHECK_STR(http_mime_sniff((const uint8_t *)"\xfe\xff\x00", 3), "application/octet-stream");
    CHECK_STR(http_mime_sniff((const uint8_t *)"\xfe\xff", 2), "text/plain; charset=utf-8");
    CHECK_STR(http_mime_sniff((const uint8_t *)"\xef\xbb\xbf\x01", 4), "text/plain; charset=utf-8");
    CHECK_STR(http_mime_sniff((const uint8_t *)"a\0b", 3), "application/octet-stream");
    for (int c = 0; c < 256; c++) {
        int binary = c <= 0x08 || c == 0x0B || (c >= 0x0E && c <= 0x1A) || (c >= 0x1C && c <= 0x1F);
        uint8_t b[3] = {'a', (uint8_t)c, 'z'};
        const char *got = http_mime_sniff(b, 3);
        if (strcmp(got, binary ? "application/octet-stream" : "text/plain; charset=utf-8") != 0) {
            test_fail(__FILE__, __LINE__, "byte 0x%02x sniffed as %s", c, got);
            return;
        }
    }
    memset(buf, 'a', sizeof buf);
    buf[HTTP_STATIC_SNIFF_LEN] = 0; /* past the sniffed prefix */
    CHECK_STR(http_mime_sniff(buf, sizeof buf), "text/plain; charset=utf-8");
    buf[HTTP_STATIC_SNIFF_LEN - 1] = 0;
    CHECK_STR(http_mime_sniff(buf, sizeof buf), "application/octet-stream");
}

/* ---- listings ---- */

static void test_listing_format(void)
{
    const http_dir_entry e[] = {{"a.txt", 0}, {"sub", 1}};
    const char *want = "<pre>\n<a href=\"a.txt\">a.txt</a>\n<a href=\"sub/\">sub/</a>\n</pre>\n";
    char out[256];

    CHECK_INT(http_dir_listing(out, sizeof out, e, 2), strlen(want));
    CHECK_MEM(out, strlen(want), want, strlen(want));
    CHECK_INT(http_dir_listing(out, sizeof out, NULL, 0), 13);
    CHECK(memcmp(out, "<pre>\n</pre>\n", 13) == 0);
}

static void test_listing_escaping(void)
{
    const http_dir_entry e[] = {
        {"a b?#%.txt", 0}, {"<x>&\"'", 0},     {"c:d", 0},         {"c:d", 1},
        {"*", 0},          {"*", 1},           {"caf\xc3\xa9", 0}, {"ctl\x01\x7f", 0},
        {"!'()[]", 0},     {"-_.~$&+,;=@", 0},
    };
    const char *want = "<pre>\n"
                       "<a href=\"a%20b%3F%23%25.txt\">a b?#%.txt</a>\n"
                       "<a href=\"%3Cx%3E&%22%27\">&lt;x&gt;&amp;&#34;&#39;</a>\n"
                       "<a href=\"./c:d\">c:d</a>\n"
                       "<a href=\"./c:d/\">c:d/</a>\n"
                       "<a href=\"*\">*</a>\n"
                       "<a href=\"%2A/\">*/</a>\n"
                       "<a href=\"caf%C3%A9\">caf\xc3\xa9</a>\n"
                       "<a href=\"ctl%01%7F\">ctl\x01\x7f</a>\n"
                       "<a href=\"%21%27%28%29%5B%5D\">!&#39;()[]</a>\n"
                       "<a href=\"-_.~$&+,;=@\">-_.~$&amp;+,;=@</a>\n"
                       "</pre>\n";
    char out[1024];
    size_t n = http_dir_listing(out, sizeof out, e, sizeof e / sizeof e[0]);

    CHECK_MEM(out, n, want, strlen(want));
}

static void test_listing_capacity(void)
{
    const http_dir_entry e[] = {{"a.txt", 0}, {NULL, 0}, {"b", 1}};
    const char *want = "<pre>\n<a href=\"a.txt\">a.txt</a>\n<a href=\"b/\">b/</a>\n</pre>\n";
    size_t need = strlen(want);
    char out[256];

    CHECK_INT(http_dir_listing(NULL, 0, e, 3), need); /* measuring; NULL entries skipped */
    memset(out, '#', sizeof out);
    CHECK_INT(http_dir_listing(out, 10, e, 3), need);
    CHECK(memcmp(out, want, 10) == 0);
    CHECK(out[10] == '#'); /* nothing past cap, no NUL */
    memset(out, '#', sizeof out);
    CHECK_INT(http_dir_listing(out, need, e, 3), need);
    CHECK(memcmp(out, want, need) == 0);
    CHECK(out[need] == '#');
}

int main(void)
{
    RUN(test_whole_file);
    RUN(test_head_whole);
    RUN(test_empty_file);
    RUN(test_epoch_mtime);
    RUN(test_etag_form);
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
    RUN(test_if_range);
    RUN(test_not_modified_headers);
    RUN(test_if_none_match);
    RUN(test_if_none_match_overrides_ims);
    RUN(test_if_modified_since);
    RUN(test_date_format);
    RUN(test_date_parse_forms);
    RUN(test_date_parse_strict);
    RUN(test_date_round_trip);
    RUN(test_mime_go_table);
    RUN(test_mime_extra_and_edges);
    RUN(test_sniff);
    RUN(test_listing_format);
    RUN(test_listing_escaping);
    RUN(test_listing_capacity);
    return test_report();
}
