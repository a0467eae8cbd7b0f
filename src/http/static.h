/* static.h -- HTTP semantics of serving a file's bytes as a plain response: Range (206/416,
 * multipart/byteranges), conditional requests (304), validators (ETag, Last-Modified), Content-Type
 * (by extension, else sniffed) and directory listings. Pure: it decides and writes header text; the
 * caller does all I/O. */
#ifndef HFS_HTTP_STATIC_H
#define HFS_HTTP_STATIC_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define HTTP_STATIC_MAX_RANGES 16    /* more ranges than this: the Range header is ignored (200) */
#define HTTP_STATIC_SNIFF_LEN  512   /* bytes of the file's start the caller passes for sniffing */
#define HTTP_STATIC_HEADERS_MAX 2048 /* room for header text + multipart part headers */

/* What the caller knows about the bytes it is about to serve. */
typedef struct http_file_info {
    const char *name;    /* the resource's last path segment, for its extension; may be "" */
    uint64_t size;       /* bytes to serve: the file's size, or a live resource's size right now */
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

/* What to send. */
typedef struct http_static_plan {
    int status;              /* 200, 206, 304 or 416 */
    size_t headers_len;      /* header lines in text[0..headers_len), each ending "\r\n"; no status
                                line and no final empty line; includes Content-Length (except
                                for 304) */
    uint64_t content_length; /* body bytes in total (also for HEAD, which sends none) */
    http_body_part parts[HTTP_STATIC_MAX_RANGES];
    size_t nparts;                         /* 0 for HEAD, 304, and an empty body */
    size_t trailer_off, trailer_len;       /* text after the last part (multipart's closing line) */
    char text[HTTP_STATIC_HEADERS_MAX];
} http_static_plan;

/* Decides the response for serving f to r:
 * - If-None-Match (any listed ETag matches, weak comparison, or "*") -> 304; otherwise, when
 *   If-None-Match is absent, If-Modified-Since not earlier than the mtime (whole seconds) -> 304.
 *   A 304 carries ETag and Last-Modified and no Content-Type/Content-Length.
 * - Range "bytes=a-b,c-,-n" (if If-Range is absent or matches the ETag or Last-Modified exactly):
 *   one satisfiable range -> 206 with Content-Range; several -> 206 multipart/byteranges with a
 *   part per range; none satisfiable -> 416 with "Content-Range: bytes *\/SIZE" and a short text
 *   body; a malformed header, or ranges that together exceed the size -> ignored (200).
 * - Else 200 with the whole size.
 * Headers always include Accept-Ranges: bytes, Last-Modified, ETag, and Content-Type (from the
 * extension, else sniffed: "text/plain; charset=utf-8" or "application/octet-stream") except on 304.
 * Returns 0, or -1 if the headers would not fit (the caller answers 500). */
int http_static_plan_response(const http_static_request *r, const http_file_info *f,
                              http_static_plan *plan);

/* The Content-Type for a file name (by extension, case-insensitive), or NULL when unknown. */
const char *http_mime_by_name(const char *name);

/* The sniffed Content-Type of a file's first bytes: "text/plain; charset=utf-8" when they hold no
 * binary control bytes (the rule of Go's http.DetectContentType for text), else
 * "application/octet-stream". Never guesses HTML: these are user-written bytes. */
const char *http_mime_sniff(const uint8_t *p, size_t len);

/* Writes t as an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT", 29 chars + NUL) into out. */
void http_date_format(time_t t, char out[30]);

/* Parses an HTTP date in any of the three forms RFC 9110 accepts (IMF-fixdate, RFC 850, asctime).
 * Returns 0 and sets *t, or -1. */
int http_date_parse(const char *s, size_t len, time_t *t);

/* Writes the ETag for f (including quotes) into out; returns its length. */
size_t http_etag(const http_file_info *f, char out[64]);

/* One directory entry for a listing. */
typedef struct http_dir_entry {
    const char *name; /* not NUL-free names are skipped by the caller */
    int is_dir;       /* listed with a trailing '/' */
} http_dir_entry;

/* Writes the listing page the original server produced: "<pre>\n", one
 * "<a href=\"URL-ESCAPED\">HTML-ESCAPED</a>\n" per entry (in the order given; the caller sorts by
 * name), "</pre>\n". Returns the length it needs; writes at most cap bytes (like snprintf, but no NUL).
 * The caller answers with "Content-Type: text/html; charset=utf-8". */
size_t http_dir_listing(char *out, size_t cap, const http_dir_entry *entries, size_t n);

#endif /* HFS_HTTP_STATIC_H */
