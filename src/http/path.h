/* path.h -- URL path cleaning with Go's path.Clean rules (the original server's ServeMux), and the
 * root-relative form the store opens. Pure string work. */
#ifndef HFS_HTTP_PATH_H
#define HFS_HTTP_PATH_H

#include <stddef.h>

/* Cleans p (len bytes, need not be NUL-terminated) like Go's ServeMux cleanPath: a leading '/' is
 * added, repeated slashes collapse, "." elements go, ".." removes the element before it and never
 * climbs above "/", and a trailing '/' is kept (except that the result of "/" is "/").
 * out must hold len + 2 bytes; the result is NUL-terminated and its length is returned. */
size_t path_clean(const char *p, size_t len, char *out);

/* 1 when clean (the output of path_clean, starting with '/') lies under prefix (also clean, without
 * a trailing slash, "" for the root), and then *rel points at the part below it without the leading
 * '/' ("" for the prefix itself). A prefix "/a" matches "/a", "/a/", "/a/b", not "/ab". */
int path_strip_prefix(const char *clean, const char *prefix, const char **rel);

#endif
