/* span.h -- a view of bytes in a request header value (not NUL-terminated), and trimming it of
 * optional whitespace: what the conditional and Range parsers work on. */
#ifndef HFS_HTTP_SPAN_H
#define HFS_HTTP_SPAN_H

#include <stddef.h>

typedef struct span {
    const char *p;
    size_t n;
} span;

static inline int span_is_ows(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static inline span span_trim(span s)
{
    while (s.n && span_is_ows(s.p[0])) {
        s.p++;
        s.n--;
    }
    while (s.n && span_is_ows(s.p[s.n - 1])) {
        s.n--;
    }
    return s;
}

/* A request header value, trimmed; n == 0 when absent or empty (Go treats both alike). */
static inline span header_value(const char *p, size_t n)
{
    span s = {p, p ? n : 0};
    return span_trim(s);
}

#endif /* HFS_HTTP_SPAN_H */
