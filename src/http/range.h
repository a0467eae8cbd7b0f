/* range.h -- the byte ranges a Range request header selects from a file (RFC 9110 14.2). */
#ifndef HFS_HTTP_RANGE_H
#define HFS_HTTP_RANGE_H

#include <stddef.h>
#include <stdint.h>

#include "http/span.h"
#include "http/static.h" /* HTTP_STATIC_MAX_RANGES */

typedef struct http_range_set {
    uint64_t start[HTTP_STATIC_MAX_RANGES];
    uint64_t len[HTTP_STATIC_MAX_RANGES];
    size_t n;
} http_range_set;

enum { HTTP_RANGE_WHOLE, HTTP_RANGE_PARTIAL, HTTP_RANGE_UNSATISFIABLE };

/* The Range header h (a trimmed value) against a file of `size` bytes, as Go's ServeContent judges
 * it. Returns
 * - HTTP_RANGE_PARTIAL with rs filled: the satisfiable ranges in request order, overlaps kept,
 *   clipped to the size (a last byte past the end, or none as in "a-", becomes the file's last
 *   byte; a suffix "-n" longer than the file starts at 0);
 * - HTTP_RANGE_UNSATISFIABLE: well-formed, but every range starts at or past the size (or is
 *   "-0"), and the file is not empty;
 * - HTTP_RANGE_WHOLE: the header is to be ignored: absent, malformed, more than
 *   HTTP_STATIC_MAX_RANGES satisfiable ranges, or ranges that together exceed the size. */
int http_range_parse(span h, uint64_t size, http_range_set *rs);

#endif /* HFS_HTTP_RANGE_H */
