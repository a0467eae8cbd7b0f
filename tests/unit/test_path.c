/* test_path.c -- unit tests of URL path cleaning (Go's ServeMux rules), prefix stripping and the
 * request-target helpers (split, percent-decoding, query lookup, escaping). */
#include "harness.h"
#include "http/uri.h"
#include "http/path.h"

static void check_clean(const char *in, const char *want)
{
    char out[256];
    size_t n = path_clean(in, strlen(in), out);
    if (strcmp(out, want) != 0 || n != strlen(want))
        test_fail(__FILE__, __LINE__, "path_clean(\"%s\") = \"%s\", want \"%s\"", in, out, want);
}

static void test_clean(void)
{
    /* Cases from Go's path.Clean tests, rooted, and ServeMux's trailing-slash rule. */
    check_clean("", "/");
    check_clean("/", "/");
    check_clean("abc", "/abc");
    check_clean("/abc/def", "/abc/def");
    check_clean("/abc/def/", "/abc/def/");
    check_clean("//abc", "/abc");
    check_clean("/abc//def//ghi", "/abc/def/ghi");
    check_clean("/./abc", "/abc");
    check_clean("/abc/./def", "/abc/def");
    check_clean("/abc/.", "/abc");
    check_clean("/abc/..", "/");
    check_clean("/abc/../", "/");
    check_clean("/abc/def/..", "/abc");
    check_clean("/abc/def/../ghi/../jkl", "/abc/jkl");
    check_clean("/..", "/");
    check_clean("/../..", "/");
    check_clean("/../abc", "/abc");
    check_clean("/../../abc/../../def", "/def");
    check_clean("/a/b/c/../../../..", "/");
    check_clean("/..a/b..", "/..a/b..");
    check_clean("/a\\..\\b", "/a\\..\\b"); /* backslashes mean nothing */
    check_clean("/...", "/...");
    check_clean("/a/../b/", "/b/");
}

static void test_prefix(void)
{
    const char *rel;

    CHECK(path_strip_prefix("/a/b", "", &rel));
    CHECK_STR(rel, "a/b");
    CHECK(path_strip_prefix("/", "", &rel));
    CHECK_STR(rel, "");
    CHECK(path_strip_prefix("/logs", "/logs", &rel));
    CHECK_STR(rel, "");
    CHECK(path_strip_prefix("/logs/", "/logs", &rel));
    CHECK_STR(rel, "");
    CHECK(path_strip_prefix("/logs/x/y", "/logs", &rel));
    CHECK_STR(rel, "x/y");
    CHECK(!path_strip_prefix("/logsx", "/logs", &rel));
    CHECK(!path_strip_prefix("/other", "/logs", &rel));
}

static void test_split(void)
{
    uri_parts u;

    CHECK_INT(uri_split("/a/b?x=1", 8, &u), 0);
    CHECK_MEM(u.path, u.path_len, "/a/b", 4);
    CHECK_MEM(u.query, u.query_len, "x=1", 3);
    CHECK_INT(uri_split("/a", 2, &u), 0);
    CHECK(u.query == NULL);
    CHECK_INT(uri_split("/a?", 3, &u), 0);
    CHECK_INT(u.query_len, 0);
    CHECK_INT(uri_split("http://h:8080/p?q", 17, &u), 0);
    CHECK_MEM(u.path, u.path_len, "/p", 2);
    CHECK_INT(uri_split("*", 1, &u), -1);
    CHECK_INT(uri_split("host:80", 7, &u), -1);
    CHECK_INT(uri_split("http://host", 11, &u), -1);
}

static void test_unescape(void)
{
    char out[64];

    CHECK_INT(uri_unescape_path("/a%20b+c", 8, out), 6);
    CHECK_STR(out, "/a b+c");
    CHECK_INT(uri_unescape_path("/%2e%2E/%2f", 11, out), 5);
    CHECK_STR(out, "/../\x2f");
    CHECK_INT(uri_unescape_path("/%zz", 4, out), -1);
    CHECK_INT(uri_unescape_path("/%4", 3, out), -1);
    CHECK_INT(uri_unescape_path("/%", 2, out), -1);
    CHECK_INT(uri_unescape_path("/a%00b", 6, out), -2);
}

static void test_query(void)
{
    char v[16];
    const char *q = "a=1&verb=APPEND&frames=binary&follow&x=%41+b&big=0123456789abcdefghij";

    CHECK(uri_query_get(q, strlen(q), "verb", v, sizeof(v)));
    CHECK_STR(v, "APPEND");
    CHECK(uri_query_get(q, strlen(q), "follow", v, sizeof(v)));
    CHECK_STR(v, "");
    CHECK(uri_query_get(q, strlen(q), "x", v, sizeof(v)));
    CHECK_STR(v, "A b");
    CHECK(uri_query_get(q, strlen(q), "big", v, sizeof(v)));
    CHECK_STR(v, ""); /* longer than the caller's room: reads as empty, never truncated */
    CHECK(!uri_query_get(q, strlen(q), "none", v, sizeof(v)));
    CHECK(!uri_query_get(q, strlen(q), "verbx", v, sizeof(v)));
    CHECK(uri_query_get("verb=FIRST&verb=SECOND", 22, "verb", v, sizeof(v)));
    CHECK_STR(v, "FIRST");
    CHECK(!uri_query_get("", 0, "a", v, sizeof(v)));
}

static void test_escape(void)
{
    char out[64];

    CHECK_INT(uri_escape_path("/a b/c?d#e%f", 12, out, sizeof(out)), 20);
    CHECK_STR(out, "/a%20b/c%3Fd%23e%25f");
    CHECK_INT(uri_escape_path("/é", 3, out, sizeof(out)), 7);
    CHECK_STR(out, "/%C3%A9");
    CHECK_INT(uri_escape_path("/ok-._~!$&'()*+,;=:@", 20, out, sizeof(out)), 20);
    CHECK_INT(uri_escape_path("/a b", 4, out, 4), 6); /* needs 6: reports it, stays terminated */
    CHECK(strlen(out) < 4);
}

int main(void)
{
    RUN(test_clean);
    RUN(test_prefix);
    RUN(test_split);
    RUN(test_unescape);
    RUN(test_query);
    RUN(test_escape);
    return test_report();
}
