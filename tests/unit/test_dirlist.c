/* test_dirlist.c -- unit tests for src/http/dirlist.c: the original server's <pre> listing, its
 * escaping (as Go's) and its snprintf-like capacity. */
#include "../harness.h"
#include "http/dirlist.h"

static void test_listing_format(void)
{
    const http_dir_entry e[] = {{"a.txt", 0}, {"sub", 1}};
    const char *want = "<pre>\n<a href=\"a.txt\">a.txt</a>\n<a href=\"sub/\">sub/</a>\n</pre>\n";
    char out[256];

    CHECK_INT(http_dir_listing(out, sizeof out, e, 2), strlen(want));
    CHECK_MEM(out, strlen(want), want, strlen(want));
    CHECK_INT(http_dir_listing(out, sizeof out, NULL, 0), 13);
    CHECK(memcmp(out, "<pre>\n</pre>\n", 13) == 0);
}

static void test_listing_escaping(void)
{
    const http_dir_entry e[] = {
        {"a b?#%.txt", 0}, {"<x>&\"'", 0},     {"c:d", 0},         {"c:d", 1},
        {"*", 0},          {"*", 1},           {"caf\xc3\xa9", 0}, {"ctl\x01\x7f", 0},
        {"!'()[]", 0},     {"-_.~$&+,;=@", 0},
    };
    const char *want = "<pre>\n"
                       "<a href=\"a%20b%3F%23%25.txt\">a b?#%.txt</a>\n"
                       "<a href=\"%3Cx%3E&%22%27\">&lt;x&gt;&amp;&#34;&#39;</a>\n"
                       "<a href=\"./c:d\">c:d</a>\n"
                       "<a href=\"./c:d/\">c:d/</a>\n"
                       "<a href=\"*\">*</a>\n"
                       "<a href=\"%2A/\">*/</a>\n"
                       "<a href=\"caf%C3%A9\">caf\xc3\xa9</a>\n"
                       "<a href=\"ctl%01%7F\">ctl\x01\x7f</a>\n"
                       "<a href=\"%21%27%28%29%5B%5D\">!&#39;()[]</a>\n"
                       "<a href=\"-_.~$&+,;=@\">-_.~$&amp;+,;=@</a>\n"
                       "</pre>\n";
    char out[1024];
    size_t n = http_dir_listing(out, sizeof out, e, sizeof e / sizeof e[0]);

    CHECK_MEM(out, n, want, strlen(want));
}

static void test_listing_capacity(void)
{
    const http_dir_entry e[] = {{"a.txt", 0}, {NULL, 0}, {"b", 1}};
    const char *want = "<pre>\n<a href=\"a.txt\">a.txt</a>\n<a href=\"b/\">b/</a>\n</pre>\n";
    size_t need = strlen(want);
    char out[256];

    CHECK_INT(http_dir_listing(NULL, 0, e, 3), need); /* measuring; NULL entries skipped */
    memset(out, '#', sizeof out);
    CHECK_INT(http_dir_listing(out, 10, e, 3), need);
    CHECK(memcmp(out, want, 10) == 0);
    CHECK(out[10] == '#'); /* nothing past cap, no NUL */
    memset(out, '#', sizeof out);
    CHECK_INT(http_dir_listing(out, need, e, 3), need);
    CHECK(memcmp(out, want, need) == 0);
    CHECK(out[need] == '#');
}

int main(void)
{
    RUN(test_listing_format);
    RUN(test_listing_escaping);
    RUN(test_listing_capacity);
    return test_report();
}
