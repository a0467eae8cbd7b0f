/* conditional.h -- a file's validators (ETag, Last-Modified) and the conditional request headers
 * judged against them (RFC 9110 13), as Go's ServeContent does. */
#ifndef HFS_HTTP_CONDITIONAL_H
#define HFS_HTTP_CONDITIONAL_H

#include <stddef.h>

#include "http/static.h" /* http_file_info, http_static_request */

/* Writes the ETag for f (including quotes) into out; returns its length. The form is
 * "\"<ino>-<size>-<mtime in ns since the epoch>\"", each in lower-case hex without leading
 * zeros: strong, and changes with every append (size) or write (mtime). */
size_t http_etag(const http_file_info *f, char out[64]);

/* The validators of a file, as its response headers carry them. */
typedef struct http_validators {
    char etag[64];
    size_t etag_len;
    char last_modified[30]; /* "" when the mtime is unknown */
} http_validators;

/* Fills v for f; last_modified stays "" when the mtime is the Unix epoch (unknown, as Go). */
void http_validators_make(const http_file_info *f, http_validators *v);

/* 1 when the answer is 304 Not Modified. RFC 9110 13.2.2 as Go orders it: If-None-Match decides
 * when present ("*", or any listed tag equal to ours by weak comparison), else If-Modified-Since
 * not earlier than the mtime in whole seconds (never when the mtime is unknown). */
int http_not_modified(const http_static_request *r, const http_file_info *f,
                      const http_validators *v);

/* 1 when a Range header is to be honoured: If-Range is absent, an ETag strongly equal to ours, or
 * a date equal to the mtime in whole seconds. */
int http_if_range_holds(const http_static_request *r, const http_file_info *f,
                        const http_validators *v);

#endif /* HFS_HTTP_CONDITIONAL_H */
