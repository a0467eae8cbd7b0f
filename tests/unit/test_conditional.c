/* test_conditional.c -- unit tests for validators and conditional requests (src/http/conditional.c,
 * seen through the response plan): the ETag's form, If-Range, If-None-Match and If-Modified-Since,
 * checked against Go net/http's observable behaviour. */
#include "../harness.h"
#include "static_fixture.h"

#include <stdio.h>

static void test_etag_form(void)
{
    http_file_info f = hello();
    char e[64];

    CHECK_INT(http_etag(&f, e), strlen("\"42-c-ae1b981bc490a7b\""));
    CHECK_STR(e, "\"42-c-ae1b981bc490a7b\""); /* 784111777 s + 123 ns = 0xae1b981bc490a7b ns */
    f.size = 13;
    http_etag(&f, e);
    CHECK_STR(e, "\"42-d-ae1b981bc490a7b\"");
    f.mtime.tv_nsec = 124;
    http_etag(&f, e);
    CHECK_STR(e, "\"42-d-ae1b981bc490a7c\"");
    f.ino = UINT64_MAX;
    f.size = UINT64_MAX;
    CHECK_INT(http_etag(&f, e), 2 + 16 + 1 + 16 + 1 + 15);
}

/* ---- If-Range ---- */

static int if_range_status(const char *if_range, const char *range)
{
    http_file_info f = hello();
    http_static_request r = req_range(range);
    http_static_plan p;

    SET(r, if_range, if_range);
    return http_static_plan_response(&r, &f, &p) == 0 ? p.status : -1;
}

static void test_if_range(void)
{
    char tag[80];

    snprintf(tag, sizeof tag, "%s", hello_etag());
    CHECK_INT(if_range_status(tag, "bytes=0-4"), 206);
    CHECK_INT(if_range_status(tag, "bytes=20-"), 416);
    CHECK_INT(if_range_status(tag, NULL), 200);
    CHECK_INT(if_range_status("\"other\"", "bytes=0-4"), 200);
    CHECK_INT(if_range_status("\"other\"", "bytes=20-"), 200);
    CHECK_INT(if_range_status(MTIME_STR, "bytes=0-4"), 206);
    CHECK_INT(if_range_status("Sunday, 06-Nov-94 08:49:37 GMT", "bytes=0-4"), 206);
    CHECK_INT(if_range_status("Sun, 06 Nov 1994 08:49:38 GMT", "bytes=0-4"), 200);
    CHECK_INT(if_range_status("Sun, 06 Nov 1994 08:49:36 GMT", "bytes=0-4"), 200);
    CHECK_INT(if_range_status("garbage", "bytes=0-4"), 200);
    CHECK_INT(if_range_status("", "bytes=0-4"), 206); /* empty = absent */
    snprintf(tag, sizeof tag, "W/%s", hello_etag());
    CHECK_INT(if_range_status(tag, "bytes=0-4"), 200); /* weak tags never match strongly */
    snprintf(tag, sizeof tag, " %s ", hello_etag());
    CHECK_INT(if_range_status(tag, "bytes=0-4"), 206);
}

/* ---- If-None-Match / If-Modified-Since ---- */

static int cond_status(const char *inm, const char *ims)
{
    http_file_info f = hello();
    http_static_request r = req_range(NULL);
    http_static_plan p;

    if (inm) {
        SET(r, if_none_match, inm);
    }
    if (ims) {
        SET(r, if_modified_since, ims);
    }
    return http_static_plan_response(&r, &f, &p) == 0 ? p.status : -1;
}

static void test_not_modified_headers(void)
{
    http_file_info f = hello();
    http_static_request r = req_range("bytes=0-4");
    http_static_plan p;
    char want[256];

    SET(r, if_none_match, hello_etag());
    CHECK_INT(http_static_plan_response(&r, &f, &p), 0);
    CHECK_INT(p.status, 304); /* before Range */
    snprintf(want, sizeof want, "ETag: %s\r\nLast-Modified: " MTIME_STR "\r\n", hello_etag());
    CHECK_MEM(p.text, p.headers_len, want, strlen(want));
    CHECK_INT(p.content_length, 0);
    CHECK_INT(p.nparts, 0);
    CHECK_INT(p.trailer_len, 0);
    r.head = 1;
    CHECK_INT(http_static_plan_response(&r, &f, &p), 0);
    CHECK_INT(p.status, 304);
    CHECK_MEM(p.text, p.headers_len, want, strlen(want));
}

static void test_if_none_match(void)
{
    char v[256];
    const char *e = hello_etag();

    CHECK_INT(cond_status(e, NULL), 304);
    CHECK_INT(cond_status("*", NULL), 304);
    CHECK_INT(cond_status(" * ", NULL), 304);
    CHECK_INT(cond_status("\"nope\"", NULL), 200);
    CHECK_INT(cond_status("\"nope\", \"other\"", NULL), 200);
    snprintf(v, sizeof v, "\"nope\", %s", e);
    CHECK_INT(cond_status(v, NULL), 304);
    snprintf(v, sizeof v, "\"nope\",%s,\"x\"", e);
    CHECK_INT(cond_status(v, NULL), 304);
    snprintf(v, sizeof v, " , ,W/\"x\" ,  W/%s", e);
    CHECK_INT(cond_status(v, NULL), 304); /* weak comparison */
    snprintf(v, sizeof v, "\"a\", *");
    CHECK_INT(cond_status(v, NULL), 304);
    snprintf(v, sizeof v, "garbage, %s", e);
    CHECK_INT(cond_status(v, NULL), 200); /* Go stops at the first unparsable tag */
    snprintf(v, sizeof v, "%.*s", (int)strlen(e) - 1, e);
    CHECK_INT(cond_status(v, NULL), 200); /* unterminated */
    snprintf(v, sizeof v, "\"a b\", %s", e);
    CHECK_INT(cond_status(v, NULL), 200); /* no spaces inside a tag */
    snprintf(v, sizeof v, "\"a\x7f\", %s", e);
    CHECK_INT(cond_status(v, NULL), 200); /* nor DEL */
    snprintf(v, sizeof v, "\"\x80\xff!#~\", %s", e);
    CHECK_INT(cond_status(v, NULL), 304); /* obs-text and the rest of VCHAR are fine */
    snprintf(v, sizeof v, "w/%s", e);
    CHECK_INT(cond_status(v, NULL), 200); /* "W/" is case-sensitive */
    CHECK_INT(cond_status("", NULL), 200);
}

static void test_if_none_match_overrides_ims(void)
{
    /* present and not matching: If-Modified-Since is not consulted */
    CHECK_INT(cond_status("\"nope\"", MTIME_STR), 200);
    CHECK_INT(cond_status("garbage", MTIME_STR), 200);
    /* empty counts as absent */
    CHECK_INT(cond_status("", MTIME_STR), 304);
    CHECK_INT(cond_status("  ", MTIME_STR), 304);
}

static void test_if_modified_since(void)
{
    CHECK_INT(cond_status(NULL, MTIME_STR), 304);                       /* equal (ns truncated) */
    CHECK_INT(cond_status(NULL, "Sun, 06 Nov 1994 08:49:38 GMT"), 304); /* later */
    CHECK_INT(cond_status(NULL, "Fri, 01 Jan 2100 00:00:00 GMT"), 304);
    CHECK_INT(cond_status(NULL, "Sun, 06 Nov 1994 08:49:36 GMT"), 200); /* earlier */
    CHECK_INT(cond_status(NULL, "Thu, 01 Jan 1970 00:00:00 GMT"), 200);
    CHECK_INT(cond_status(NULL, "Sunday, 06-Nov-94 08:49:37 GMT"), 304);
    CHECK_INT(cond_status(NULL, "Sun Nov  6 08:49:37 1994"), 304);
    CHECK_INT(cond_status(NULL, "Sun Nov  6 08:49:36 1994"), 200);
    CHECK_INT(cond_status(NULL, "garbage"), 200);
    CHECK_INT(cond_status(NULL, "Sun, 06 Nov 1994 08:49:37 UTC"), 200);
    CHECK_INT(cond_status(NULL, ""), 200);
    CHECK_INT(cond_status(NULL, " " MTIME_STR " "), 304); /* header OWS is not part of the value */
}

int main(void)
{
    RUN(test_etag_form);
    RUN(test_if_range);
    RUN(test_not_modified_headers);
    RUN(test_if_none_match);
    RUN(test_if_none_match_overrides_ims);
    RUN(test_if_modified_since);
    return test_report();
}
