/* uri.c -- request-target splitting, percent-decoding, query lookup, path escaping (see uri.h). */
#include "http/uri.h"

#include <string.h>
#include <strings.h>

int uri_split(const char *t, size_t len, uri_parts *out)
{
    size_t i = 0;

    if (len >= 7 && strncasecmp(t, "http://", 7) == 0)
        i = 7;
    else if (len >= 8 && strncasecmp(t, "https://", 8) == 0)
        i = 8;
    if (i > 0) {
        while (i < len && t[i] != '/' && t[i] != '?')
            i++;
        if (i == len || t[i] != '/')
            return -1;
    }
    if (i >= len || t[i] != '/')
        return -1;
    const char *q = memchr(t + i, '?', len - i);
    out->path = t + i;
    out->path_len = q ? (size_t)(q - (t + i)) : len - i;
    out->query = q ? q + 1 : NULL;
    out->query_len = q ? len - (size_t)(q + 1 - t) : 0;
    return 0;
}

int uri_hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes in[0..len) into out; plus_space turns '+' into ' '. Returns length or -1 / -2. */
static long unescape(const char *in, size_t len, char *out, int plus_space)
{
    size_t w = 0;
    int nul = 0;

    for (size_t i = 0; i < len; i++) {
        char c = in[i];
        if (c == '%') {
            if (i + 2 >= len)
                return -1;
            int hi = uri_hexval(in[i + 1]), lo = uri_hexval(in[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            c = (char)(hi << 4 | lo);
            i += 2;
        } else if (c == '+' && plus_space) {
            c = ' ';
        }
        nul |= c == '\0';
        out[w++] = c;
    }
    out[w] = '\0';
    return nul ? -2 : (long)w;
}

long uri_unescape_path(const char *in, size_t len, char *out)
{
    return unescape(in, len, out, 0);
}

int uri_query_get(const char *q, size_t len, const char *key, char *out, size_t cap)
{
    size_t klen = strlen(key), i = 0;

    while (i <= len && q) {
        const char *amp = memchr(q + i, '&', len - i);
        size_t end = amp ? (size_t)(amp - q) : len;
        const char *eq = memchr(q + i, '=', end - i);
        size_t name_end = eq ? (size_t)(eq - q) : end;
        char name[64];
        if (name_end - i < sizeof(name) && unescape(q + i, name_end - i, name, 1) == (long)klen &&
            memcmp(name, key, klen) == 0) {
            size_t vlen = eq ? end - name_end - 1 : 0;
            if (vlen >= cap || unescape(eq ? eq + 1 : "", vlen, out, 1) < 0)
                out[0] = '\0';
            return 1;
        }
        i = end + 1;
    }
    return 0;
}

static int path_char_ok(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("-._~!$&'()*+,;=:@/", c));
}

size_t uri_escape_path(const char *in, size_t len, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t w = 0;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (path_char_ok(c)) {
            if (w + 1 < cap)
                out[w] = (char)c;
            w++;
        } else {
            if (w + 3 < cap) {
                out[w] = '%';
                out[w + 1] = hex[c >> 4];
                out[w + 2] = hex[c & 15];
            }
            w += 3;
        }
    }
    if (cap)
        out[w < cap ? w : cap - 1] = '\0';
    return w;
}
