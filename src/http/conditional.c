/* conditional.c -- validators (the ETag and Last-Modified of a file) and the conditional
 * request headers checked against them: If-None-Match, If-Modified-Since, If-Range. */
#include "http/conditional.h"

#include <stdio.h>
#include <string.h>

#include "http/date.h"
#include "http/span.h"

size_t http_etag(const http_file_info *f, char out[64])
{
    uint64_t ns = (uint64_t)f->mtime.tv_sec * 1000000000u + (uint64_t)f->mtime.tv_nsec;
    int n = snprintf(out, 64, "\"%llx-%llx-%llx\"", (unsigned long long)f->ino,
                     (unsigned long long)f->size, (unsigned long long)ns);
    return n > 0 && n < 64 ? (size_t)n : 0;
}

/* Go's isZeroTime: the Unix epoch means "unknown", so no Last-Modified and no If-Modified-Since. */
static int mtime_unknown(const http_file_info *f)
{
    return f->mtime.tv_sec == 0 && f->mtime.tv_nsec == 0;
}

void http_validators_make(const http_file_info *f, http_validators *v)
{
    v->etag_len = http_etag(f, v->etag);
    v->last_modified[0] = '\0';
    if (!mtime_unknown(f)) {
        http_date_format(f->mtime.tv_sec, v->last_modified);
    }
}

/* An entity tag at the start of s (after OWS), as Go's scanETag: W/"..." or "..."; sets *tag and
 * *rest and returns 1, or returns 0. */
static int scan_etag(span s, span *tag, span *rest)
{
    size_t i = 0;

    s = span_trim(s);
    if (s.n >= 2 && s.p[0] == 'W' && s.p[1] == '/') {
        i = 2;
    }
    if (s.n - i < 2 || s.p[i] != '"') {
        return 0;
    }
    for (i++; i < s.n; i++) {
        unsigned char c = (unsigned char)s.p[i];
        if (c == '"') {
            tag->p = s.p;
            tag->n = i + 1;
            rest->p = s.p + i + 1;
            rest->n = s.n - i - 1;
            return 1;
        }
        if (c != 0x21 && (c < 0x23 || c == 0x7F)) {
            return 0;
        }
    }
    return 0;
}

static span strip_weak(span t)
{
    if (t.n >= 2 && t.p[0] == 'W' && t.p[1] == '/') {
        t.p += 2;
        t.n -= 2;
    }
    return t;
}

/* If-None-Match: 1 when "*" or any listed tag matches ours by weak comparison. */
static int inm_matches(span s, const http_validators *v)
{
    for (;;) {
        span tag, rest;
        s = span_trim(s);
        if (s.n == 0) {
            return 0;
        }
        if (s.p[0] == ',') {
            s.p++;
            s.n--;
            continue;
        }
        if (s.p[0] == '*') {
            return 1;
        }
        if (!scan_etag(s, &tag, &rest)) {
            return 0;
        }
        tag = strip_weak(tag);
        if (tag.n == v->etag_len && memcmp(tag.p, v->etag, tag.n) == 0) {
            return 1;
        }
        s = rest;
    }
}

/* RFC 9110 13.2.2 as Go orders it: If-None-Match decides when present, else If-Modified-Since. */
int http_not_modified(const http_static_request *r, const http_file_info *f,
                      const http_validators *v)
{
    span inm = header_value(r->if_none_match, r->if_none_match_len);
    span ims = header_value(r->if_modified_since, r->if_modified_since_len);
    time_t t;

    if (inm.n) {
        return inm_matches(inm, v);
    }
    if (!ims.n || mtime_unknown(f) || http_date_parse(ims.p, ims.n, &t) < 0) {
        return 0;
    }
    return f->mtime.tv_sec <= t;
}

/* If-Range: absent, a strongly matching ETag, or a date equal to the mtime (whole seconds). */
int http_if_range_holds(const http_static_request *r, const http_file_info *f,
                        const http_validators *v)
{
    span ir = header_value(r->if_range, r->if_range_len);
    span tag, rest;
    time_t t;

    if (!ir.n) {
        return 1;
    }
    if (scan_etag(ir, &tag, &rest)) {
        return tag.n == v->etag_len && memcmp(tag.p, v->etag, tag.n) == 0; /* ours is strong */
    }
    return http_date_parse(ir.p, ir.n, &t) == 0 && t == f->mtime.tv_sec;
}
