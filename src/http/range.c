/* range.c -- parsing a Range header ("bytes=a-b,c-,-n") against a file's size, with Go's rules
 * for what is satisfiable, clipped, dropped or ignored (see range.h). */
#include "http/range.h"

#include <string.h>

/* Decimal digits only (no sign), saturating at UINT64_MAX; -1 when empty or not digits. */
static int parse_u64(span s, uint64_t *v)
{
    *v = 0;
    if (s.n == 0) {
        return -1;
    }
    for (size_t i = 0; i < s.n; i++) {
        unsigned d = (unsigned char)s.p[i] - '0';
        if (d > 9) {
            return -1;
        }
        *v = *v > (UINT64_MAX - d) / 10 ? UINT64_MAX : *v * 10 + d;
    }
    return 0;
}

/* One byte-range-spec ("a-b", "a-", "-n"): 1 and sets *start and *len when satisfiable, 0 when
 * well-formed but unsatisfiable, -1 when malformed. */
static int parse_spec(span spec, uint64_t size, uint64_t *start, uint64_t *len)
{
    const char *dash = memchr(spec.p, '-', spec.n);
    uint64_t first, last;

    if (!dash) {
        return -1;
    }
    span a = span_trim((span){spec.p, (size_t)(dash - spec.p)});
    span b = span_trim((span){dash + 1, spec.n - (size_t)(dash - spec.p) - 1});
    if (a.n == 0) {
        if (parse_u64(b, &last) < 0) {
            return -1;
        }
        last = last > size ? size : last; /* suffix length; 0 (or an empty file) selects nothing */
        *start = size - last;
        *len = last;
        return last > 0;
    }
    if (parse_u64(a, &first) < 0 || (b.n && (parse_u64(b, &last) < 0 || last < first))) {
        return -1;
    }
    if (first >= size) {
        return 0;
    }
    last = (b.n == 0 || last >= size) ? size - 1 : last;
    *start = first;
    *len = last - first + 1;
    return 1;
}

/* 1 when the ranges together are no longer than the file (Go ignores Range otherwise). */
static int ranges_fit(const http_range_set *rs, uint64_t size)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < rs->n; i++) {
        if (rs->len[i] > size - sum) {
            return 0;
        }
        sum += rs->len[i];
    }
    return 1;
}

int http_range_parse(span h, uint64_t size, http_range_set *rs)
{
    size_t i = 6, end;
    int unsatisfiable = 0;

    rs->n = 0;
    if (h.n < 6 || memcmp(h.p, "bytes=", 6) != 0) {
        return HTTP_RANGE_WHOLE;
    }
    for (; i <= h.n; i = end + 1) {
        uint64_t start, len;
        for (end = i; end < h.n && h.p[end] != ','; end++) {
        }
        span spec = span_trim((span){h.p + i, end - i});
        int rc = spec.n ? parse_spec(spec, size, &start, &len) : 0;
        if (rc < 0 || (rc > 0 && rs->n == HTTP_STATIC_MAX_RANGES)) {
            return HTTP_RANGE_WHOLE;
        }
        unsatisfiable |= spec.n && !rc;
        if (rc > 0) {
            rs->start[rs->n] = start;
            rs->len[rs->n++] = len;
        }
    }
    if (rs->n == 0) { /* Go answers an empty file's unsatisfiable Range with 200 */
        return unsatisfiable && size > 0 ? HTTP_RANGE_UNSATISFIABLE : HTTP_RANGE_WHOLE;
    }
    return ranges_fit(rs, size) ? HTTP_RANGE_PARTIAL : HTTP_RANGE_WHOLE;
}
