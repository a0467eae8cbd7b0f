/* response.h -- builds an HTTP/1.1 response head (status line, headers, blank line) into a fixed
 * buffer, and knows the reason phrases. Pure. */
#ifndef HFS_HTTP_RESPONSE_H
#define HFS_HTTP_RESPONSE_H

#include <stddef.h>

/* A response head never needs more: a Location or a redirect may carry a path as long as the
 * longest request-target (-max-url, 8 KiB by default), besides the other headers. */
#define HTTP_HEAD_MAX 16384

typedef struct http_head {
    size_t len;
    int overflow; /* something did not fit: the head is unusable */
    char buf[HTTP_HEAD_MAX];
} http_head;

/* The reason phrase for status ("Unknown" for codes we never send). */
const char *http_status_text(int status);

/* Starts h with "HTTP/1.1 <status> <reason>", then Date and Server headers. */
void http_head_start(http_head *h, int status);

/* Appends "name: value". */
void http_head_add(http_head *h, const char *name, const char *value);

/* Appends "name: " and a printf-formatted value. */
void http_head_addf(http_head *h, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Appends raw header lines, each already ending in "\r\n". */
void http_head_raw(http_head *h, const char *lines, size_t len);

/* Appends the blank line; returns 0, or -1 when the head overflowed. */
int http_head_end(http_head *h);

#endif
