/* static_fixture.h -- what the unit tests of serving files share: a file with a known mtime and
 * inode ("hello world\n"), requests with a Range or conditional header, and its ETag. */
#ifndef HFS_TESTS_STATIC_FIXTURE_H
#define HFS_TESTS_STATIC_FIXTURE_H

#include <string.h>

#include "http/conditional.h"
#include "http/static.h"

#define MTIME_SEC 784111777L /* Sun, 06 Nov 1994 08:49:37 GMT */
#define MTIME_STR "Sun, 06 Nov 1994 08:49:37 GMT"
#define HELLO     "hello world\n" /* 12 bytes */

static inline http_file_info file_of(const char *name, const void *data, uint64_t size)
{
    http_file_info f;
    memset(&f, 0, sizeof f);
    f.name = name;
    f.size = size;
    f.mtime.tv_sec = MTIME_SEC;
    f.mtime.tv_nsec = 123;
    f.ino = 0x42;
    f.head = data;
    f.head_len = size < HTTP_STATIC_SNIFF_LEN ? (size_t)size : HTTP_STATIC_SNIFF_LEN;
    return f;
}

static inline http_file_info hello(void)
{
    return file_of("a.txt", HELLO, 12);
}

static inline http_static_request req_range(const char *range)
{
    http_static_request r;
    memset(&r, 0, sizeof r);
    if (range) {
        r.range = range;
        r.range_len = strlen(range);
    }
    return r;
}

#define SET(r, field, s) ((r).field = (s), (r).field##_len = strlen(s))

static inline const char *hello_etag(void)
{
    static char etag_hello[64];
    http_file_info f = hello();
    http_etag(&f, etag_hello);
    return etag_hello;
}

#endif /* HFS_TESTS_STATIC_FIXTURE_H */
