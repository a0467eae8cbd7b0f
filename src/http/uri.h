/* uri.h -- request-target handling: split path and query, percent-decoding with Go's rules, query
 * parameter lookup, and escaping a path for a Location header. Pure string work. */
#ifndef HFS_HTTP_URI_H
#define HFS_HTTP_URI_H

#include <stddef.h>

typedef struct uri_parts {
    const char *path; /* raw (still escaped), starts with '/' */
    size_t path_len;
    const char *query; /* raw, without '?'; NULL when absent */
    size_t query_len;
} uri_parts;

/* Splits an origin-form ("/p?q") or absolute-form ("http://host/p?q") request-target.
 * Returns 0, or -1 for anything else ("*", authority-form, no path). */
int uri_split(const char *target, size_t len, uri_parts *out);

/* The value of hex digit c (either case), or -1. */
int uri_hexval(int c);

/* Percent-decodes a path into out (room for len + 1 bytes; NUL-terminated), '+' left as is.
 * Returns the decoded length, -1 for a malformed escape, -2 when the result holds a NUL byte. */
long uri_unescape_path(const char *in, size_t len, char *out);

/* Looks up the first parameter called key in a raw query (key=value pairs split by '&'; '+' is a
 * space; escapes decoded). Copies the decoded value into out, NUL-terminated, and returns 1; a key
 * without '=', a malformed value, or one of cap raw bytes or more yields "". Returns 0 when absent.
 */
int uri_query_get(const char *query, size_t len, const char *key, char *out, size_t cap);

/* Percent-escapes a decoded path for use in a URL (like Go's URL.EscapedPath: unreserved,
 * sub-delims, ':', '@' and '/' stay). Writes at most cap bytes into out (NUL-terminated when it
 * fits) and returns the length the result needs. */
size_t uri_escape_path(const char *in, size_t len, char *out, size_t cap);

#endif
