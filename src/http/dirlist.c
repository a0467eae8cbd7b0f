/* dirlist.c -- the directory listing the original server produced (Go's dirList): a <pre> of
 * links, escaped as Go escapes them. */
#include "http/dirlist.h"

#include <string.h>

/* Bytes Go's url.URL.EscapedPath leaves alone (encodePath): unreserved, and reserved but '?'. */
static int path_byte_kept(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
        return 1;
    }
    return c != 0 && memchr("-_.~$&+,/:;=@", c, 13) != NULL;
}

/* url.URL{Path: name}.String(): "./" first when the first segment has a ':', and "*" alone
 * stays as it is. */
static void put_href(textbuf *o, const char *name, int is_dir)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t seg = strcspn(name, "/");

    if (!is_dir && strcmp(name, "*") == 0) {
        tb_put(o, "*", 1);
        return;
    }
    if (memchr(name, ':', seg)) {
        tb_put(o, "./", 2);
    }
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        if (path_byte_kept(*p)) {
            tb_put(o, (const char *)p, 1);
        } else {
            char esc[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            tb_put(o, esc, 3);
        }
    }
    if (is_dir) {
        tb_put(o, "/", 1);
    }
}

void http_dir_listing_put(textbuf *b, const http_dir_entry *entries, size_t n)
{
    http_dir_listing_put_query(b, entries, n, NULL);
}

void http_dir_listing_put_query(textbuf *b, const http_dir_entry *entries, size_t n,
                                const char *query)
{
    tb_str(b, "<pre>\n");
    for (size_t i = 0; i < n; i++) {
        if (!entries[i].name) {
            continue;
        }
        tb_str(b, "<a href=\"");
        put_href(b, entries[i].name, entries[i].is_dir);
        if (query && *query) {
            tb_put(b, "?", 1);
            tb_html(b, query);
        }
        tb_str(b, "\">");
        tb_html(b, entries[i].name);
        if (entries[i].is_dir) {
            tb_put(b, "/", 1);
        }
        tb_str(b, "</a>\n");
    }
    tb_str(b, "</pre>\n");
}

size_t http_dir_listing(char *out, size_t cap, const http_dir_entry *entries, size_t n)
{
    textbuf b;

    tb_fixed(&b, out, cap);
    http_dir_listing_put(&b, entries, n);
    return b.need;
}
