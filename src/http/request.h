/* request.h -- HTTP/1.x request parsing over llhttp, feed-style: bytes in, one event out at a time
 * (request head, body bytes, end of message, error). Collects the request-target and headers into
 * one growing buffer capped by the parser's limits. No sockets. */
#ifndef HFS_HTTP_REQUEST_H
#define HFS_HTTP_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include "llhttp.h"

/* Default caps: request-target bytes (longer: 414); header names and values together, and header
 * lines (more: 431). */
#define HTTP_MAX_TARGET       8192
#define HTTP_MAX_HEADER_BYTES 16384
#define HTTP_MAX_HEADERS      100

typedef struct http_header {
    uint32_t name_off, name_len; /* into http_request.buf */
    uint32_t value_off, value_len;
} http_header;

typedef struct http_request {
    /* read-only, valid from HTTP_EV_HEAD until http_parser_next */
    int method; /* llhttp_method_t */
    int http_major, http_minor;
    int keep_alive;          /* the connection may carry another request after this one */
    int upgrade;             /* Upgrade + Connection: upgrade were both present */
    int has_body;            /* a Content-Length > 0 or a chunked body follows */
    uint64_t content_length; /* when known (not chunked), else UINT64_MAX */
    const char *target;      /* the request-target as sent, not NUL-terminated */
    size_t target_len;
    size_t nheaders;
    http_header headers[HTTP_MAX_HEADERS];
    /* private */
    char *buf;
    size_t len, cap;
    uint32_t target_off;
    uint8_t in_value; /* the last span was a header value */
} http_request;

typedef enum http_ev_type {
    HTTP_EV_NEED_MORE = 0, /* all input consumed */
    HTTP_EV_HEAD,          /* the request line and headers are complete (see http_parser.req) */
    HTTP_EV_BODY,          /* body bytes: data/len point into the input */
    HTTP_EV_DONE,          /* the message (and its body) is complete */
    HTTP_EV_ERROR,         /* malformed: answer `status` and close */
} http_ev_type;

typedef struct http_event {
    http_ev_type type;
    const char *data; /* BODY */
    size_t len;
    int status;         /* ERROR: 400, 405, 413, 414, 431, 501 */
    const char *reason; /* ERROR: for logs */
} http_event;

typedef struct http_parser {
    /* public */
    http_request req;
    /* private */
    llhttp_t llh;
    http_event *ev;    /* the event being filled by callbacks */
    size_t target_max; /* request-target bytes allowed */
    size_t header_max; /* header bytes allowed */
    int error_status;  /* set by a callback that refused the request */
    const char *error_reason;
    uint8_t failed; /* HTTP_EV_ERROR was reported */
} http_parser;

/* Prepares p; target_max and header_max cap the request-target and the header bytes (0: the
 * defaults HTTP_MAX_TARGET and HTTP_MAX_HEADER_BYTES). */
void http_parser_init(http_parser *p, size_t target_max, size_t header_max);

/* Frees the request buffer. Accepts a parser that was only initialised. */
void http_parser_free(http_parser *p);

/* Parses from data[0..len) until one event is ready; fills *ev and returns the bytes consumed.
 * Call again with the rest until HTTP_EV_NEED_MORE. After HTTP_EV_HEAD the request is in p->req;
 * a caller that upgrades the connection then owns every byte after the consumed ones. A caller that
 * answers an upgrade request without upgrading just goes on parsing. After HTTP_EV_ERROR it
 * consumes nothing more. */
size_t http_parse(http_parser *p, const char *data, size_t len, http_event *ev);

/* Forgets the request after HTTP_EV_DONE, keeping the buffer for the next one. */
void http_parser_next(http_parser *p);

/* The first value of header name (case-insensitive) with its length, or NULL. */
const char *http_header_get(const http_request *r, const char *name, size_t *len);

/* How many headers called name (case-insensitive) came. */
int http_header_count(const http_request *r, const char *name);

/* 1 when any header called name carries token in its comma-separated list (case-insensitive). */
int http_header_has_token(const http_request *r, const char *name, const char *token);

#endif /* HFS_HTTP_REQUEST_H */
