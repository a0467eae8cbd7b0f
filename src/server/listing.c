/* listing.c -- directory responses: "/dir" redirects to "/dir/"; "/dir/" is listed as the original
 * server did (a <pre> of links), as a page for browsers (listing.html: a table with sizes, times
 * and live markers that the page keeps current) when the Accept header prefers text/html, or as
 * JSON when it prefers application/json. A listing asked for with a credential in its query
 * (?token=, or a signed URL's expires, rights and sig) carries it on every link it renders, so
 * that following them works under access control (the page's script does the same for the rows it
 * adds and for its updates). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "http/dirlist.h"
#include "http/static.h"
#include "http/text.h"
#include "server/conn.h"
#include "server/http_conn.h"
#include "server/route.h"
#include "ws/ws.h"

/* src/server/listing.html, compiled in by scripts/embed.sh (see the Makefile). */
extern const char hfs_listing_html[];
extern const size_t hfs_listing_html_len;

/* The listing page's policy: as the viewer's, its script may fetch from its own origin only. */
#define LISTING_CSP                                                                                \
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src "      \
    "'self' ws: wss:; img-src data:"

/* "?" and the credential (raw query parameters, NULL for none) as HTML, after a link. */
static void tb_cred(textbuf *b, const char *cred)
{
    if (cred) {
        tb_put(b, "?", 1);
        tb_html(b, cred);
    }
}

/* A name as a relative link: escaped as a path, "./" first when it could read as a scheme; then
 * the credential. */
static void tb_href(textbuf *b, const char *name, int is_dir, const char *cred)
{
    size_t n = strlen(name), need = uri_escape_path(name, n, NULL, 0);
    char *e = malloc(need + 1);

    if (!e) {
        b->failed = 1;
        return;
    }
    uri_escape_path(name, n, e, need + 1);
    if (strchr(name, ':'))
        tb_str(b, "./");
    tb_html(b, e);
    if (is_dir)
        tb_str(b, "/");
    tb_cred(b, cred);
    free(e);
}

/* Length of the valid UTF-8 sequence at p (1..4), or 0 if the bytes there are not one. */
static size_t utf8_seq(const uint8_t *p, size_t left)
{
    size_t n = p[0] < 0x80 ? 1 : p[0] >= 0xf0 ? 4 : p[0] >= 0xe0 ? 3 : p[0] >= 0xc2 ? 2 : 0;
    return n && n <= left && ws_utf8_valid(p, n) ? n : 0;
}

/* A JSON string; bytes that are not UTF-8 become U+FFFD. */
static void tb_json(textbuf *b, const char *s)
{
    const uint8_t *p = (const uint8_t *)s;
    size_t left = strlen(s);
    char esc[8];

    tb_put(b, "\"", 1);
    while (left > 0) {
        size_t n = utf8_seq(p, left);
        if (n == 0) {
            tb_str(b, "\\ufffd");
            n = 1;
        } else if (*p == '"' || *p == '\\') {
            tb_put(b, "\\", 1);
            tb_put(b, (const char *)p, 1);
        } else if (*p < 0x20 || *p == 0x7f) {
            snprintf(esc, sizeof(esc), "\\u%04x", *p);
            tb_str(b, esc);
        } else {
            tb_put(b, (const char *)p, n);
        }
        p += n;
        left -= n;
    }
    tb_put(b, "\"", 1);
}

/* Whether t is a time to show: the store leaves it zero when it has none. */
static int has_time(struct timespec t)
{
    time_t sec = t.tv_sec;
    struct tm tm;

    return (t.tv_sec != 0 || t.tv_nsec != 0) && gmtime_r(&sec, &tm) != NULL;
}

/* t in UTC: RFC 3339 with milliseconds ("2024-05-01T12:00:03.123Z") when iso, else for people
 * ("2024-05-01 12:00:03 UTC"). */
static void tb_time(textbuf *b, struct timespec t, int iso)
{
    time_t sec = t.tv_sec;
    struct tm tm;
    char s[64];

    if (!gmtime_r(&sec, &tm))
        return;
    size_t k = strftime(s, sizeof(s), iso ? "%Y-%m-%dT%H:%M:%S" : "%Y-%m-%d %H:%M:%S", &tm);
    if (iso)
        snprintf(s + k, sizeof(s) - k, ".%03dZ", (int)(t.tv_nsec / 1000000));
    else
        snprintf(s + k, sizeof(s) - k, " UTC");
    tb_str(b, s);
}

static void list_json(textbuf *b, const route *r, const store_dirent *e, size_t n)
{
    tb_str(b, "{\"path\":");
    tb_json(b, r->clean);
    tb_str(b, ",\"entries\":[");
    for (size_t i = 0; i < n; i++) {
        tb_str(b, i ? ",{\"name\":" : "{\"name\":");
        tb_json(b, e[i].name);
        if (e[i].is_dir) {
            tb_str(b, ",\"type\":\"dir\"");
        } else {
            tb_str(b, ",\"type\":\"file\",\"size\":");
            tb_u64(b, e[i].size);
            tb_str(b, e[i].live ? ",\"live\":true" : ",\"live\":false");
        }
        if (has_time(e[i].mtime)) {
            tb_str(b, ",\"mtime\":\"");
            tb_time(b, e[i].mtime, 1);
            tb_str(b, "\"");
        }
        tb_str(b, "}");
    }
    tb_str(b, "]}\n");
}

/* The table's rows: "../" (below the root), then one per entry. A row holds the word "live" only
 * when its resource is live; the page's script reads the rows back (listing.html). */
static void list_rows(textbuf *b, const route *r, const store_dirent *e, size_t n, const char *cred)
{
    if (strcmp(r->clean, "/") != 0) {
        tb_str(b, "<tr class=\"up\"><td class=\"name\"><a href=\"../");
        tb_cred(b, cred);
        tb_str(b, "\">../</a></td><td class=\"size\"></td><td class=\"time\"></td>"
                  "<td class=\"mark\"></td></tr>\n");
    }
    for (size_t i = 0; i < n; i++) {
        tb_str(b, e[i].is_dir ? "<tr class=\"dir\">" : "<tr>");
        tb_str(b, "<td class=\"name\"><a href=\"");
        tb_href(b, e[i].name, e[i].is_dir, cred);
        tb_str(b, "\">");
        tb_html(b, e[i].name);
        tb_str(b, e[i].is_dir ? "/</a></td><td class=\"size\">" : "</a></td><td class=\"size\">");
        if (!e[i].is_dir)
            tb_u64(b, e[i].size);
        tb_str(b, "</td><td class=\"time\">");
        if (has_time(e[i].mtime)) {
            tb_str(b, "<time datetime=\"");
            tb_time(b, e[i].mtime, 1);
            tb_str(b, "\">");
            tb_time(b, e[i].mtime, 0);
            tb_str(b, "</time>");
        }
        tb_str(b, e[i].live ? "</td><td class=\"mark\"><span class=\"live\">live</span></td></tr>\n"
                            : "</td><td class=\"mark\"></td></tr>\n");
    }
}

/* The page (listing.html) with its holes filled: {{path}} (the directory's path, as text) and
 * {{rows}}. */
static void list_html(textbuf *b, const route *r, const store_dirent *e, size_t n, const char *cred)
{
    const char *p = hfs_listing_html, *end = hfs_listing_html + hfs_listing_html_len;

    while (p < end) {
        const char *m = memmem(p, (size_t)(end - p), "{{", 2);
        if (!m) {
            tb_put(b, p, (size_t)(end - p));
            break;
        }
        tb_put(b, p, (size_t)(m - p));
        if ((size_t)(end - m) >= 8 && !memcmp(m, "{{path}}", 8)) {
            tb_html(b, r->clean);
            p = m + 8;
        } else if ((size_t)(end - m) >= 8 && !memcmp(m, "{{rows}}", 8)) {
            list_rows(b, r, e, n, cred);
            p = m + 8;
        } else {
            tb_put(b, m, 2);
            p = m + 2;
        }
    }
}

/* The original's listing: "<pre>", a link per entry, "</pre>". */
static void list_pre(textbuf *b, const store_dirent *e, size_t n, const char *cred)
{
    http_dir_entry *de = calloc(n ? n : 1, sizeof(*de));

    if (!de) {
        b->failed = 1;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        de[i].name = e[i].name;
        de[i].is_dir = e[i].is_dir;
    }
    http_dir_listing_put_query(b, de, n, cred);
    free(de);
}

int route_dir(route *r)
{
    size_t len = strlen(r->clean);
    store_dirent *ents;
    size_t n;
    textbuf b = {0};

    if (r->clean[len - 1] != '/') {
        /* As the original (Go's file server): relative to the request, "dir/", so it holds under
         * any prefix the server is mounted at; "./" keeps a name with a colon from reading as a
         * scheme. */
        const char *base = strrchr(r->clean, '/') + 1;
        size_t blen = strlen(base), dot = strchr(base, ':') ? 2 : 0;
        char *p = malloc(dot + blen + 2);
        if (!p)
            return route_text(r, 503, NULL, "503 out of memory\n");
        memcpy(p, "./", dot);
        memcpy(p + dot, base, blen);
        memcpy(p + dot + blen, "/", 2);
        int status = route_redirect(r, p, dot + blen + 1);
        free(p);
        return status;
    }
    char *cred;
    if (route_credential(r, &cred) < 0)
        return route_text(r, 503, NULL, "503 out of memory\n");
    int err = store_list(r->c->srv->st, r->rel, &ents, &n);
    if (err != STORE_OK) {
        free(cred);
        return route_store_error(r, err);
    }
    const char *ctype = "text/html; charset=utf-8";
    const char *headers = "Cache-Control: no-cache\r\nVary: Accept\r\n";
    if (route_accept_prefers(r, "application/json")) {
        list_json(&b, r, ents, n);
        ctype = "application/json";
    } else if (route_accept_prefers(r, "text/html")) {
        list_html(&b, r, ents, n, cred);
        headers = "Cache-Control: no-cache\r\nVary: Accept\r\nContent-Security-Policy: " LISTING_CSP
                  "\r\nReferrer-Policy: no-referrer\r\n";
    } else {
        list_pre(&b, ents, n, cred);
    }
    store_dirents_free(ents, n);
    free(cred);
    if (b.failed) {
        free(b.p);
        return route_text(r, 503, NULL, "503 out of memory\n");
    }
    http_respond_simple(r->c, 200, headers, ctype, b.p, b.len);
    free(b.p);
    return 200;
}
