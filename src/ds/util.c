/* util.c -- the small parsers and formatters of the Durable Streams protocol: offsets, cursors,
 * content types, integers and times from headers, and the headers every answer carries. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "ds/ds_int.h"

int64_t ds_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void ds_offset_fmt(uint64_t pos, char out[DS_OFFSET_LEN])
{
    snprintf(out, DS_OFFSET_LEN, "0000000000000000_%016llu", (unsigned long long)pos);
}

/* Digits only, at most 19 of them (so the value fits in 64 bits). */
static int digits(const char *s, size_t n, uint64_t *v)
{
    uint64_t x = 0;

    if (n == 0 || n > 19)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        x = x * 10 + (uint64_t)(s[i] - '0');
    }
    *v = x;
    return 0;
}

int ds_offset_parse(const char *s, size_t n, uint64_t *pos)
{
    const char *us = memchr(s, '_', n);
    uint64_t seq;

    if (!us)
        return -1;
    size_t a = (size_t)(us - s);
    if (digits(s, a, &seq) < 0 || digits(us + 1, n - a - 1, pos) < 0)
        return -1;
    return 0;
}

uint64_t ds_cursor_next(const char *cursor)
{
    /* 20 s intervals since 2024-10-09T00:00:00Z; an echoed cursor at or past the current interval
     * moves on by 1..180 intervals, so that a CDN never serves the same URL twice. */
    int64_t now = ds_now_ms();
    uint64_t interval = now > 1728432000000LL ? (uint64_t)(now - 1728432000000LL) / 20000 : 0;
    uint64_t c;

    if (cursor && *cursor && digits(cursor, strlen(cursor), &c) == 0 && c >= interval) {
        uint32_t r = 0;
        if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r))
            r = (uint32_t)now;
        return c + 1 + r % 180;
    }
    return interval;
}

void ds_media_type(const char *v, size_t n, char *out, size_t cap)
{
    size_t i = 0, o = 0;

    while (i < n && (v[i] == ' ' || v[i] == '\t'))
        i++;
    while (i < n && v[i] != ';' && o + 1 < cap)
        out[o++] = (char)tolower((unsigned char)v[i++]);
    while (o > 0 && (out[o - 1] == ' ' || out[o - 1] == '\t'))
        o--;
    out[o] = '\0';
}

int ds_is_json_type(const char *ctype)
{
    char mt[128];

    ds_media_type(ctype, strlen(ctype), mt, sizeof(mt));
    return strcmp(mt, "application/json") == 0;
}

int ds_sse_encoding(const char *ctype)
{
    char mt[128];

    ds_media_type(ctype, strlen(ctype), mt, sizeof(mt));
    if (strcmp(mt, "application/json") == 0)
        return DS_ENC_JSON;
    return strncmp(mt, "text/", 5) == 0 ? DS_ENC_TEXT : DS_ENC_BASE64;
}

const char *ds_header(const route *r, const char *name, size_t *len)
{
    return http_header_get(r->req, name, len);
}

int ds_header_true(const route *r, const char *name)
{
    size_t n;
    const char *v = http_header_get(r->req, name, &n);

    return v && n == 4 && strncasecmp(v, "true", 4) == 0;
}

int ds_parse_uint(const char *s, size_t n, int strict, uint64_t max, uint64_t *out)
{
    if (strict && n > 1 && s[0] == '0')
        return -1;
    if (digits(s, n, out) < 0 || *out > max)
        return -1;
    return 0;
}

/* n digits at s as an int; -1 when not all digits. */
static int num(const char *s, int n)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

int ds_parse_time(const char *s, size_t n, int64_t *ms)
{
    /* YYYY-MM-DDTHH:MM:SS[.fff...](Z|+HH:MM|-HH:MM) */
    char b[64];
    struct tm tm;

    if (n < 20 || n >= sizeof(b))
        return -1;
    memcpy(b, s, n);
    b[n] = '\0';
    int Y = num(b, 4), M = num(b + 5, 2), D = num(b + 8, 2), h = num(b + 11, 2),
        mi = num(b + 14, 2), sec = num(b + 17, 2);
    if (Y < 0 || M < 1 || M > 12 || D < 1 || D > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 ||
        sec < 0 || sec > 60 || b[4] != '-' || b[7] != '-' || (b[10] != 'T' && b[10] != 't') ||
        b[13] != ':' || b[16] != ':')
        return -1;
    size_t at = 19;
    int64_t frac = 0;
    if (b[at] == '.') {
        int64_t scale = 100;
        size_t start = ++at;
        while (at < n && b[at] >= '0' && b[at] <= '9') {
            frac += (b[at] - '0') * scale;
            scale /= 10;
            at++;
        }
        if (at == start)
            return -1;
    }
    int64_t off_min = 0;
    if (at + 1 == n && (b[at] == 'Z' || b[at] == 'z')) {
        off_min = 0;
    } else if (at + 6 == n && (b[at] == '+' || b[at] == '-') && b[at + 3] == ':') {
        int oh = num(b + at + 1, 2), om = num(b + at + 4, 2);
        if (oh < 0 || oh > 23 || om < 0 || om > 59)
            return -1;
        off_min = (int64_t)(oh * 60 + om) * (b[at] == '-' ? -1 : 1);
    } else {
        return -1;
    }
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = Y - 1900;
    tm.tm_mon = M - 1;
    tm.tm_mday = D;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    time_t t = timegm(&tm);
    if (t == (time_t)-1 && !(Y == 1969 && M == 12 && D == 31))
        return -1;
    *ms = ((int64_t)t - off_min * 60) * 1000 + frac;
    return 0;
}
