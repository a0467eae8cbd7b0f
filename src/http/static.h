/* static.h -- HTTP semantics of serving a file's bytes as a plain response: the plan of status,
 * header text and body for Range (206/416, multipart/byteranges), conditional requests (304),
 * validators (ETag, Last-Modified) and Content-Type (by extension, else sniffed). Pure: it decides
 * and writes header text; the caller does all I/O. The pieces have their own headers: date.h,
 * conditional.h (http_etag), range.h, mime.h; the <pre> listing is in dirlist.h. */
#ifndef HFS_HTTP_STATIC_H
#define HFS_HTTP_STATIC_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "http/mime.h"

#define HTTP_STATIC_MAX_RANGES  16   /* more ranges than this: the Range header is ignored (200) */
#define HTTP_STATIC_HEADERS_MAX 4096 /* room for header text + multipart part headers */
/* Bytes of the file's start the caller passes for sniffing (http_file_info.head). */
#define HTTP_STATIC_SNIFF_LEN HTTP_MIME_SNIFF_LEN

/* What the caller knows about the bytes it is about to serve. */
typedef struct http_file_info {
    const char *name; /* the resource's last path segment, for its extension; may be "" */
    uint64_t size;    /* bytes to serve: the file's size, or a live resource's size right now */
    struct timespec mtime;
    uint64_t ino;        /* with size and mtime, makes the ETag */
    const uint8_t *head; /* the first min(size, HTTP_STATIC_SNIFF_LEN) bytes, for sniffing */
    size_t head_len;
} http_file_info;

/* The request headers that matter here; a NULL pointer means "absent". Values are not
 * NUL-terminated. */
typedef struct http_static_request {
    int head; /* 1 for HEAD: same headers, no body */
    const char *range;
    size_t range_len;
    const char *if_range;
    size_t if_range_len;
    const char *if_modified_since;
    size_t if_modified_since_len;
    const char *if_none_match;
    size_t if_none_match_len;
} http_static_request;

/* One piece of the body: `prefix_len` bytes of text at plan->text + prefix_off, then `len` bytes of
 * the file from offset `start`. */
typedef struct http_body_part {
    size_t prefix_off, prefix_len;
    uint64_t start, len;
} http_body_part;

/* What to send. The body is, in order: each part (its prefix text, then its file bytes), then the
 * trailer text. A 200 has one part (prefix_len 0) for a non-empty file; a single range one part;
 * multipart one part per range (prefix = that part's header block) and the closing boundary as
 * trailer. A 416's body is text, not file bytes: nparts is 0 and the trailer holds the whole body
 * ("invalid range: failed to overlap\n", as Go), content_length its length. HEAD gets the same
 * status and headers as GET, with nparts 0 and trailer_len 0. */
typedef struct http_static_plan {
    int status;              /* 200, 206, 304 or 416 */
    size_t headers_len;      /* header lines in text[0..headers_len), each ending "\r\n"; no status
                                line and no final empty line; includes Content-Length (except
                                for 304) */
    uint64_t content_length; /* body bytes in total (also for HEAD, which sends none) */
    http_body_part parts[HTTP_STATIC_MAX_RANGES];
    size_t nparts;                   /* 0 for HEAD, 304, 416 and an empty body */
    size_t trailer_off, trailer_len; /* text after the last part (multipart's closing line, or
                                        the whole 416 body) */
    char text[HTTP_STATIC_HEADERS_MAX];
} http_static_plan;

/* Decides the response for serving f to r:
 * - If-None-Match (any listed ETag matches, weak comparison, or "*") -> 304; otherwise, when
 *   If-None-Match is absent, If-Modified-Since not earlier than the mtime (whole seconds) -> 304.
 *   A 304 carries ETag and Last-Modified and no Content-Type/Content-Length.
 * - Range "bytes=a-b,c-,-n" (if If-Range is absent or matches the ETag or Last-Modified exactly):
 *   one satisfiable range -> 206 with Content-Range; several -> 206 multipart/byteranges with a
 *   part per range (in request order, overlaps kept, as Go); none satisfiable -> 416 with
 *   "Content-Range: bytes *\/SIZE" and a short text body (but an empty file -> 200, as Go); a
 *   malformed header, more than HTTP_STATIC_MAX_RANGES ranges, ranges that together exceed the
 *   size, or multipart part headers that would not fit in plan->text -> ignored (200).
 *   A range starting at or past the size, and "-0", are unsatisfiable and dropped; b and
 *   over-long suffixes are clipped to the size.
 * - Else 200 with the whole size.
 * Header lines, in this (Go's alphabetical) order: Accept-Ranges: bytes, Content-Length,
 * Content-Range (206 single part, 416), Content-Type (from the extension, else sniffed; a
 * multipart 206 has "multipart/byteranges; boundary=B" with B 24 hex digits derived from the ETag
 * and the ranges; a 416 has "text/plain; charset=utf-8"), ETag, Last-Modified (left out when the
 * mtime is the Unix epoch, as Go), X-Content-Type-Options: nosniff. A 304 has only ETag and
 * Last-Modified. No Date, Server or Connection: the caller adds those.
 * Returns 0, or -1 if the headers would not fit (the caller answers 500; cannot happen with the
 * built-in Content-Types). */
int http_static_plan_response(const http_static_request *r, const http_file_info *f,
                              http_static_plan *plan);

#endif /* HFS_HTTP_STATIC_H */
