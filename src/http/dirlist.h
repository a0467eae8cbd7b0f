/* dirlist.h -- the original server's directory listing page (a <pre> of links). */
#ifndef HFS_HTTP_DIRLIST_H
#define HFS_HTTP_DIRLIST_H

#include <stddef.h>

#include "http/text.h"

/* One directory entry for a listing. */
typedef struct http_dir_entry {
    const char *name; /* NUL-terminated; NULL entries are skipped */
    int is_dir;       /* listed with a trailing '/' */
} http_dir_entry;

/* Writes the listing page the original server produced: "<pre>\n", one
 * "<a href=\"URL-ESCAPED\">HTML-ESCAPED</a>\n" per entry (in the order given; the caller sorts by
 * name), "</pre>\n". The href is Go's url.URL{Path: name}.String() (bytes other than letters,
 * digits and -_.~$&+,/:;=@ become %XX; "./" first when the name has a ':'), the text Go's
 * htmlReplacer (& < > " ' -> &amp; &lt; &gt; &#34; &#39;). Returns the length it needs; writes at
 * most cap bytes (like snprintf, but no NUL); out may be NULL when cap is 0.
 * The caller answers with "Content-Type: text/html; charset=utf-8". */
size_t http_dir_listing(char *out, size_t cap, const http_dir_entry *entries, size_t n);

/* The same page, appended to b. */
void http_dir_listing_put(textbuf *b, const http_dir_entry *entries, size_t n);

/* The same page with "?" and query (a raw query string, HTML-escaped here) after each href; NULL
 * or "" adds nothing (the original's page). */
void http_dir_listing_put_query(textbuf *b, const http_dir_entry *entries, size_t n,
                                const char *query);

#endif /* HFS_HTTP_DIRLIST_H */
