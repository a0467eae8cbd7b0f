/* response.c -- HTTP/1.1 response heads (see response.h). */
#include "http/response.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "http/date.h"
#include "httpfstream.h"

const char *http_status_text(int status)
{
    switch (status) {
    case 101:
        return "Switching Protocols";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 204:
        return "No Content";
    case 206:
        return "Partial Content";
    case 301:
        return "Moved Permanently";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 410:
        return "Gone";
    case 411:
        return "Length Required";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 416:
        return "Range Not Satisfiable";
    case 426:
        return "Upgrade Required";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Unknown";
    }
}

static void put(http_head *h, const char *p, size_t n)
{
    if (h->overflow || h->len + n > sizeof(h->buf)) {
        h->overflow = 1;
        return;
    }
    memcpy(h->buf + h->len, p, n);
    h->len += n;
}

void http_head_start(http_head *h, int status)
{
    char line[64], date[30];

    h->len = 0;
    h->overflow = 0;
    int n = snprintf(line, sizeof(line), "HTTP/1.1 %d %s\r\n", status, http_status_text(status));
    put(h, line, (size_t)n);
    http_date_format(time(NULL), date);
    http_head_add(h, "Date", date);
    http_head_add(h, "Server", "httpfstream/" HFS_VERSION);
}

void http_head_add(http_head *h, const char *name, const char *value)
{
    put(h, name, strlen(name));
    put(h, ": ", 2);
    put(h, value, strlen(value));
    put(h, "\r\n", 2);
}

void http_head_addf(http_head *h, const char *name, const char *fmt, ...)
{
    char value[1024];
    va_list ap;

    va_start(ap, fmt);
    int n = vsnprintf(value, sizeof(value), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(value)) {
        h->overflow = 1;
        return;
    }
    http_head_add(h, name, value);
}

void http_head_raw(http_head *h, const char *lines, size_t len)
{
    put(h, lines, len);
}

int http_head_end(http_head *h)
{
    put(h, "\r\n", 2);
    return h->overflow ? -1 : 0;
}
