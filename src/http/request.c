/* request.c -- HTTP/1.x request parsing over llhttp (see request.h).
 *
 * llhttp calls back with spans of the input; the callbacks copy the request-target and headers into
 * one buffer (so a request split over many reads comes out whole) and pause the parser at each
 * event so that http_parse can hand one event at a time to the caller. */
#include "http/request.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HTTP_BUF_INIT 512

static http_parser *parser_of(llhttp_t *llh)
{
    return llh->data;
}

static int refuse(http_parser *p, int status, const char *reason)
{
    p->error_status = status;
    p->error_reason = reason;
    return -1;
}

/* Appends n bytes to the request buffer, growing it up to the caps. */
static int buf_append(http_request *r, const char *at, size_t n)
{
    if (r->len + n > r->cap) {
        size_t cap = r->cap ? r->cap : HTTP_BUF_INIT;
        while (cap < r->len + n)
            cap *= 2;
        char *b = realloc(r->buf, cap);
        if (!b)
            return -1;
        r->buf = b;
        r->cap = cap;
    }
    memcpy(r->buf + r->len, at, n);
    r->len += n;
    return 0;
}

static size_t header_bytes(const http_request *r)
{
    return r->len - r->target_len;
}

static int on_url(llhttp_t *llh, const char *at, size_t n)
{
    http_parser *p = parser_of(llh);
    http_request *r = &p->req;

    if (r->target_len + n > p->target_max)
        return refuse(p, 414, "request-target too long");
    if (buf_append(r, at, n) < 0)
        return refuse(p, 503, "out of memory");
    r->target_len += n;
    return 0;
}

static int is_tchar(unsigned char c);

static int on_header_field(llhttp_t *llh, const char *at, size_t n)
{
    http_parser *p = parser_of(llh);
    http_request *r = &p->req;

    for (size_t i = 0; i < n; i++)
        if (!is_tchar((unsigned char)at[i]))
            return refuse(p, 400, "invalid character in a header name"); /* e.g. "Host : x" */

    if (r->nheaders == 0 || r->in_value) {
        if (r->nheaders == HTTP_MAX_HEADERS)
            return refuse(p, 431, "too many header lines");
        http_header *h = &r->headers[r->nheaders++];
        h->name_off = h->value_off = (uint32_t)r->len;
        h->name_len = h->value_len = 0;
        r->in_value = 0;
    }
    if (header_bytes(r) + n > p->header_max)
        return refuse(p, 431, "header fields too large");
    if (buf_append(r, at, n) < 0)
        return refuse(p, 503, "out of memory");
    r->headers[r->nheaders - 1].name_len += (uint32_t)n;
    return 0;
}

static int on_header_value(llhttp_t *llh, const char *at, size_t n)
{
    http_parser *p = parser_of(llh);
    http_request *r = &p->req;
    http_header *h = &r->headers[r->nheaders - 1];

    if (!r->in_value) {
        h->value_off = (uint32_t)r->len;
        r->in_value = 1;
    }
    if (header_bytes(r) + n > p->header_max)
        return refuse(p, 431, "header fields too large");
    if (buf_append(r, at, n) < 0)
        return refuse(p, 503, "out of memory");
    h->value_len += (uint32_t)n;
    return 0;
}

static int on_header_value_complete(llhttp_t *llh)
{
    parser_of(llh)->req.in_value = 1; /* the next field span starts a new header */
    return 0;
}

static int on_headers_complete(llhttp_t *llh)
{
    http_parser *p = parser_of(llh);
    http_request *r = &p->req;

    if (llh->http_major < 1)
        return refuse(p, 400, "HTTP/0.9 request line");
    if (llh->http_major > 1) /* HTTP/2 and later do not speak HTTP/1 framing */
        return refuse(p, 505, "HTTP version not supported");
    r->method = llh->method;
    r->http_major = llh->http_major;
    r->http_minor = llh->http_minor;
    r->keep_alive = llhttp_should_keep_alive(llh);
    r->upgrade = llh->upgrade;
    r->has_body =
        (llh->flags & F_CHUNKED) || ((llh->flags & F_CONTENT_LENGTH) && llh->content_length);
    r->content_length = (llh->flags & F_CONTENT_LENGTH) ? llh->content_length : UINT64_MAX;
    r->target = r->buf ? r->buf + r->target_off : "";
    p->ev->type = HTTP_EV_HEAD;
    return HPE_PAUSED;
}

static int on_body(llhttp_t *llh, const char *at, size_t n)
{
    http_parser *p = parser_of(llh);

    if (n == 0)
        return 0; /* llhttp flushes an empty span at the end of an input: not an event */

    p->ev->type = HTTP_EV_BODY;
    p->ev->data = at;
    p->ev->len = n;
    return HPE_PAUSED;
}

static int on_message_complete(llhttp_t *llh)
{
    parser_of(llh)->ev->type = HTTP_EV_DONE;
    return HPE_PAUSED;
}

static const llhttp_settings_t settings = {
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_header_value_complete = on_header_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

void http_parser_init(http_parser *p, size_t target_max, size_t header_max)
{
    memset(p, 0, sizeof(*p));
    p->target_max = target_max ? target_max : HTTP_MAX_TARGET;
    p->header_max = header_max ? header_max : HTTP_MAX_HEADER_BYTES;
    llhttp_init(&p->llh, HTTP_REQUEST, &settings);
    p->llh.data = p;
}

void http_parser_free(http_parser *p)
{
    free(p->req.buf);
    p->req.buf = NULL;
    p->req.cap = p->req.len = 0;
}

void http_parser_next(http_parser *p)
{
    http_request *r = &p->req;

    r->len = r->target_len = r->nheaders = 0;
    r->target_off = 0;
    r->in_value = 0;
    r->target = NULL;
}

static int is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* Maps an llhttp failure to the status we answer. */
static void parse_error(http_parser *p, llhttp_errno_t e, const char *pos, http_event *ev)
{
    ev->type = HTTP_EV_ERROR;
    p->failed = 1;
    if (p->error_status) {
        ev->status = p->error_status;
        ev->reason = p->error_reason;
        return;
    }
    ev->reason = llhttp_get_error_reason(&p->llh);
    /* An unknown method that is still a token is a method we do not allow, not garbage. */
    if (e == HPE_INVALID_METHOD && pos && is_tchar((unsigned char)*pos))
        ev->status = 405;
    else if (e == HPE_INVALID_VERSION)
        ev->status = 505;
    else
        ev->status = 400;
}

size_t http_parse(http_parser *p, const char *data, size_t len, http_event *ev)
{
    memset(ev, 0, sizeof(*ev));
    if (p->failed)
        return 0;
    /* Even with no input llhttp must run: after a pause at the head of a request without a body,
     * it reports the message complete without needing another byte. */
    p->ev = ev;
    llhttp_errno_t e = llhttp_execute(&p->llh, data, len);
    const char *pos = llhttp_get_error_pos(&p->llh);
    p->ev = NULL;

    switch (e) {
    case HPE_OK:
        return len;
    case HPE_PAUSED:
        llhttp_resume(&p->llh);
        return (size_t)(pos - data);
    case HPE_PAUSED_UPGRADE:
        /* The caller answered an upgrade request without upgrading: the connection stays HTTP. */
        llhttp_resume_after_upgrade(&p->llh);
        return (size_t)(pos - data);
    default:
        parse_error(p, e, pos, ev);
        return 0;
    }
}

const char *http_header_get(const http_request *r, const char *name, size_t *len)
{
    size_t n = strlen(name);

    for (size_t i = 0; i < r->nheaders; i++) {
        const http_header *h = &r->headers[i];
        if (h->name_len == n && strncasecmp(r->buf + h->name_off, name, n) == 0) {
            *len = h->value_len;
            return r->buf + h->value_off;
        }
    }
    return NULL;
}

int http_header_count(const http_request *r, const char *name)
{
    size_t n = strlen(name);
    int count = 0;

    for (size_t i = 0; i < r->nheaders; i++) {
        const http_header *h = &r->headers[i];
        count += h->name_len == n && strncasecmp(r->buf + h->name_off, name, n) == 0;
    }
    return count;
}

/* 1 when the comma-separated list v[0..len) contains token (case-insensitive, spaces trimmed). */
static int list_has_token(const char *v, size_t len, const char *token)
{
    size_t tn = strlen(token), i = 0;

    while (i < len) {
        while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        size_t start = i;
        while (i < len && v[i] != ',')
            i++;
        size_t end = i;
        while (end > start && (v[end - 1] == ' ' || v[end - 1] == '\t'))
            end--;
        if (end - start == tn && strncasecmp(v + start, token, tn) == 0)
            return 1;
    }
    return 0;
}

int http_header_has_token(const http_request *r, const char *name, const char *token)
{
    size_t n = strlen(name);

    for (size_t i = 0; i < r->nheaders; i++) {
        const http_header *h = &r->headers[i];
        if (h->name_len == n && strncasecmp(r->buf + h->name_off, name, n) == 0 &&
            list_has_token(r->buf + h->value_off, h->value_len, token))
            return 1;
    }
    return 0;
}
