/* static.c -- the response plan for serving a file's bytes as Go's net/http ServeContent does:
 * the status (200, 206, 304, 416), the header lines in Go's order, and the body as file ranges
 * and text (multipart/byteranges), written into plan->text; no I/O, no allocation. What it decides
 * with comes from conditional.c (validators, 304, If-Range), range.c and mime.c. */
#include "http/static.h"

#include <stdio.h>
#include <string.h>

#include "http/conditional.h"
#include "http/mime.h"
#include "http/range.h"
#include "http/span.h"
#include "http/text.h"

#define STATIC_BOUNDARY_LEN 24 /* hex chars in a multipart boundary: 96 bits of hash */
#define STATIC_416_BODY     "invalid range: failed to overlap\n" /* Go's errNoOverlap text */

/* ---- header lines ---- */

static void tb_header(textbuf *b, const char *name, const char *value)
{
    tb_str(b, name);
    tb_put(b, ": ", 2);
    tb_str(b, value);
    tb_put(b, "\r\n", 2);
}

/* ---- plans ---- */

static void plan_reset(http_static_plan *plan, textbuf *tb)
{
    plan->status = 0;
    plan->headers_len = 0;
    plan->content_length = 0;
    memset(plan->parts, 0, sizeof plan->parts);
    plan->nparts = 0;
    plan->trailer_off = plan->trailer_len = 0;
    tb_fixed(tb, plan->text, sizeof plan->text);
}

static void put_validators(textbuf *tb, const http_validators *v)
{
    tb_header(tb, "ETag", v->etag);
    if (v->last_modified[0]) {
        tb_header(tb, "Last-Modified", v->last_modified);
    }
}

/* The header block of a 200/206/416, in Go's (alphabetical) order. */
static void put_headers(textbuf *tb, const http_validators *v, const char *ctype, uint64_t clen,
                        const char *crange)
{
    tb_header(tb, "Accept-Ranges", "bytes");
    tb_str(tb, "Content-Length: ");
    tb_u64(tb, clen);
    tb_put(tb, "\r\n", 2);
    if (crange) {
        tb_header(tb, "Content-Range", crange);
    }
    /* Resource bytes come from whoever appended them: a document among them (HTML, SVG) runs
     * sandboxed, as an opaque origin with no script, never as the server's own pages. */
    tb_header(tb, "Content-Security-Policy", "sandbox");
    tb_header(tb, "Content-Type", ctype);
    put_validators(tb, v);
    tb_header(tb, "X-Content-Type-Options", "nosniff");
}

static void content_range(char out[80], uint64_t start, uint64_t len, uint64_t size)
{
    snprintf(out, 80, "bytes %llu-%llu/%llu", (unsigned long long)start,
             (unsigned long long)(start + len - 1), (unsigned long long)size);
}

static void add_part(http_static_plan *plan, size_t off, size_t n, uint64_t start, uint64_t len)
{
    http_body_part *p = &plan->parts[plan->nparts++];
    p->prefix_off = off;
    p->prefix_len = n;
    p->start = start;
    p->len = len;
}

static int plan_finish(http_static_plan *plan, const textbuf *tb, int head)
{
    if (head) {
        plan->nparts = 0;
        plan->trailer_len = 0;
    }
    return tb->failed ? -1 : 0;
}

static int plan_304(http_static_plan *plan, textbuf *tb, const http_validators *v)
{
    plan->status = 304;
    put_validators(tb, v);
    plan->headers_len = tb->len;
    return plan_finish(plan, tb, 1);
}

static int plan_whole(http_static_plan *plan, textbuf *tb, const http_validators *v,
                      const char *ctype, uint64_t size, int head)
{
    plan->status = 200;
    put_headers(tb, v, ctype, size, NULL);
    plan->headers_len = tb->len;
    plan->content_length = size;
    if (size) {
        add_part(plan, tb->len, 0, 0, size);
    }
    return plan_finish(plan, tb, head);
}

static int plan_single(http_static_plan *plan, textbuf *tb, const http_validators *v,
                       const char *ctype, uint64_t size, uint64_t start, uint64_t len, int head)
{
    char cr[80];

    content_range(cr, start, len, size);
    plan->status = 206;
    put_headers(tb, v, ctype, len, cr);
    plan->headers_len = tb->len;
    plan->content_length = len;
    add_part(plan, tb->len, 0, start, len);
    return plan_finish(plan, tb, head);
}

/* 416: the body is text, so it is the trailer (no parts), content_length its length. */
static int plan_416(http_static_plan *plan, textbuf *tb, const http_validators *v, uint64_t size,
                    int head)
{
    char cr[40];
    const size_t body_len = sizeof STATIC_416_BODY - 1;

    snprintf(cr, sizeof cr, "bytes */%llu", (unsigned long long)size);
    plan->status = 416;
    put_headers(tb, v, HTTP_MIME_TEXT_UTF8, body_len, cr);
    plan->headers_len = tb->len;
    plan->content_length = body_len;
    plan->trailer_off = tb->len;
    plan->trailer_len = body_len;
    tb_put(tb, STATIC_416_BODY, body_len);
    return plan_finish(plan, tb, head);
}

/* ---- multipart/byteranges ---- */

static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h = (h ^ b[i]) * 0x100000001b3ULL;
    }
    return h;
}

/* A boundary that is a function of the ETag and the ranges: stable for tests, and unknowable
 * to whoever writes the file before the write (the ETag holds the mtime in ns). */
static void make_boundary(const http_validators *v, const http_range_set *rs,
                          char out[STATIC_BOUNDARY_LEN + 1])
{
    uint64_t h1 = fnv1a(0xcbf29ce484222325ULL, v->etag, v->etag_len);
    h1 = fnv1a(h1, rs->start, rs->n * sizeof rs->start[0]);
    h1 = fnv1a(h1, rs->len, rs->n * sizeof rs->len[0]);
    uint64_t h2 = fnv1a(h1 ^ 0x9e3779b97f4a7c15ULL, v->etag, v->etag_len);
    h2 = fnv1a(h2, rs->start, rs->n * sizeof rs->start[0]);
    snprintf(out, STATIC_BOUNDARY_LEN + 1, "%016llx%08llx", (unsigned long long)h1,
             (unsigned long long)(h2 >> 32));
}

/* Part i's header text, Go's mime/multipart layout (the CRLF before every part but the first). */
static size_t part_prefix(char *out, size_t cap, size_t i, const char *boundary, const char *ctype,
                          const http_range_set *rs, uint64_t size)
{
    char cr[80];

    content_range(cr, rs->start[i], rs->len[i], size);
    int n = snprintf(out, cap, "%s--%s\r\nContent-Range: %s\r\nContent-Type: %s\r\n\r\n",
                     i ? "\r\n" : "", boundary, cr, ctype);
    return n > 0 && (size_t)n < cap ? (size_t)n : cap; /* cap: does not fit anywhere */
}

/* Returns -1 when the part headers do not fit in plan->text. */
static int plan_multipart(http_static_plan *plan, textbuf *tb, const http_validators *v,
                          const char *ctype, uint64_t size, const http_range_set *rs, int head)
{
    char boundary[STATIC_BOUNDARY_LEN + 1], mct[80], pre[HTTP_STATIC_HEADERS_MAX];
    uint64_t total = 2 + STATIC_BOUNDARY_LEN + 6; /* "\r\n--" B "--\r\n" */

    make_boundary(v, rs, boundary);
    snprintf(mct, sizeof mct, "multipart/byteranges; boundary=%s", boundary);
    for (size_t i = 0; i < rs->n; i++) {
        total += part_prefix(pre, sizeof pre, i, boundary, ctype, rs, size) + rs->len[i];
    }
    plan->status = 206;
    put_headers(tb, v, mct, total, NULL);
    plan->headers_len = tb->len;
    plan->content_length = total;
    for (size_t i = 0; i < rs->n; i++) {
        size_t off = tb->len, n = part_prefix(pre, sizeof pre, i, boundary, ctype, rs, size);
        tb_put(tb, pre, n);
        add_part(plan, off, n, rs->start[i], rs->len[i]);
    }
    plan->trailer_off = tb->len;
    tb_str(tb, "\r\n--");
    tb_str(tb, boundary);
    tb_str(tb, "--\r\n");
    plan->trailer_len = tb->len - plan->trailer_off;
    return plan_finish(plan, tb, head);
}

static const char *content_type(const http_file_info *f)
{
    const char *t = http_mime_by_name(f->name);
    return t ? t : http_mime_sniff(f->head, f->head ? f->head_len : 0);
}

int http_static_plan_response(const http_static_request *r, const http_file_info *f,
                              http_static_plan *plan)
{
    http_validators v;
    http_range_set rs;
    textbuf tb;
    int kind = HTTP_RANGE_WHOLE;

    http_validators_make(f, &v);
    plan_reset(plan, &tb);
    if (http_not_modified(r, f, &v)) {
        return plan_304(plan, &tb, &v);
    }
    const char *ctype = content_type(f);
    span range = header_value(r->range, r->range_len);
    if (range.n && http_if_range_holds(r, f, &v)) {
        kind = http_range_parse(range, f->size, &rs);
    }
    if (kind == HTTP_RANGE_UNSATISFIABLE) {
        return plan_416(plan, &tb, &v, f->size, r->head);
    }
    if (kind == HTTP_RANGE_PARTIAL && rs.n == 1) {
        return plan_single(plan, &tb, &v, ctype, f->size, rs.start[0], rs.len[0], r->head);
    }
    if (kind == HTTP_RANGE_PARTIAL &&
        plan_multipart(plan, &tb, &v, ctype, f->size, &rs, r->head) == 0) {
        return 0;
    }
    plan_reset(plan, &tb); /* too many part headers for plan->text: serve it whole */
    return plan_whole(plan, &tb, &v, ctype, f->size, r->head);
}
