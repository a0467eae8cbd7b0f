/* path.c -- URL path cleaning with Go's path.Clean rules (see path.h). */
#include "http/path.h"

#include <string.h>

/* Writes the rooted, cleaned form of p into out (which starts with '/'); returns its length. */
static size_t clean_rooted(const char *p, size_t len, char *out)
{
    size_t w = 1; /* out[0] = '/' */
    size_t r = 0;

    out[0] = '/';
    while (r < len) {
        if (p[r] == '/') {
            r++;
            continue;
        }
        size_t start = r;
        while (r < len && p[r] != '/')
            r++;
        size_t n = r - start;
        if (n == 1 && p[start] == '.')
            continue;
        if (n == 2 && p[start] == '.' && p[start + 1] == '.') {
            /* back up to the previous '/', never past the root */
            while (w > 1 && out[w - 1] != '/')
                w--;
            if (w > 1)
                w--;
            continue;
        }
        if (w > 1)
            out[w++] = '/';
        memcpy(out + w, p + start, n);
        w += n;
    }
    return w;
}

size_t path_clean(const char *p, size_t len, char *out)
{
    size_t n = clean_rooted(p, len, out);

    if (len > 0 && p[len - 1] == '/' && n > 1)
        out[n++] = '/';
    out[n] = '\0';
    return n;
}

int path_strip_prefix(const char *clean, const char *prefix, const char **rel)
{
    size_t n = strlen(prefix);

    if (strncmp(clean, prefix, n) != 0)
        return 0;
    if (clean[n] == '\0') {
        *rel = clean + n;
        return 1;
    }
    if (clean[n] != '/')
        return 0;
    *rel = clean + n + 1;
    return 1;
}
