/* mime.h -- the Content-Type of a file: by its name's extension, else sniffed from its first
 * bytes. */
#ifndef HFS_HTTP_MIME_H
#define HFS_HTTP_MIME_H

#include <stddef.h>
#include <stdint.h>

#define HTTP_MIME_SNIFF_LEN 512 /* bytes of a file's start that sniffing looks at */
#define HTTP_MIME_TEXT_UTF8 "text/plain; charset=utf-8"

/* The Content-Type for a file name (by extension, case-insensitive), or NULL when unknown. */
const char *http_mime_by_name(const char *name);

/* The sniffed Content-Type of a file's first bytes (at most HTTP_MIME_SNIFF_LEN are looked at):
 * "text/plain; charset=utf-8" when they hold no binary control bytes (the rule of Go's
 * http.DetectContentType for text; also for a UTF-8 BOM), "text/plain; charset=utf-16be" or
 * "...utf-16le" after a UTF-16 BOM (with at least 4 bytes, as Go), else
 * "application/octet-stream". Never guesses HTML (or XML, PDF, images): these are user-written
 * bytes. p may be NULL when len is 0. */
const char *http_mime_sniff(const uint8_t *p, size_t len);

#endif /* HFS_HTTP_MIME_H */
