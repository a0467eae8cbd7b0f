/* url.c -- parses http:// and https:// URLs with libcurl's URL API (curl_url) into what the client
 * needs: where to connect, what to verify, and the Host, Origin and request-target values; and
 * copies URLs for messages with their credentials (token and sig values) replaced.
 *
 * The query is kept as the caller wrote it (curl hands it back unchanged; only bytes that cannot
 * appear raw in a request line are escaped), and the client's own parameters go after it: a signed
 * URL's expires, rights and sig reach the server exactly as given, in their order. */
#include "client/url.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "client/error.h"
#include "http/uri.h"

/* Copies s[0..n) into a new NUL-terminated string. */
static char *dup_n(const char *s, size_t n)
{
    char *p = malloc(n + 1);

    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

/* Formats into a new string; NULL when out of memory. */
static char *format(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *format(const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;

    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    return s;
}

/* Appends s to out at *at, escaping every byte that may not appear raw in a request line. */
static size_t escape_into(char *out, size_t at, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";

    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p > 0x20 && *p < 0x7f) {
            out[at++] = (char)*p;
            continue;
        }
        out[at++] = '%';
        out[at++] = hex[*p >> 4];
        out[at++] = hex[*p & 15];
    }
    return at;
}

/* The request target: path, then "?query" when the query is not empty. */
static char *make_target(const char *path, const char *query)
{
    size_t n = 3 * strlen(path) + (query ? 3 * strlen(query) + 1 : 0) + 2;
    char *t = malloc(n);
    size_t at;

    if (!t)
        return NULL;
    at = escape_into(t, 0, *path ? path : "/");
    if (query && *query) {
        t[at++] = '?';
        at = escape_into(t, at, query);
    }
    t[at] = '\0';
    return t;
}

/* Fills host, tls_host and ip_literal from curl's host (IPv6 in brackets) and zone id. */
static int set_hosts(cli_url *u, const char *host, const char *zone)
{
    size_t n = strlen(host);
    unsigned char addr[16];

    if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
        u->ip_literal = 1;
        u->tls_host = dup_n(host + 1, n - 2);
        u->host =
            zone ? format("%s%%%s", u->tls_host ? u->tls_host : "", zone) : dup_n(host + 1, n - 2);
    } else {
        u->ip_literal = inet_pton(AF_INET, host, addr) == 1;
        u->tls_host = dup_n(host, n);
        u->host = dup_n(host, n);
    }
    return u->host && u->tls_host ? HFS_OK : HFS_ERR_NOMEM;
}

/* Accepts only http and https without credentials; sets u->tls. */
static int check_scheme(cli_url *u, CURLU *h, hfs_error *err)
{
    char *scheme = NULL, *user = NULL;
    int rc = HFS_OK;

    curl_url_get(h, CURLUPART_SCHEME, &scheme, 0);
    curl_url_get(h, CURLUPART_USER, &user, 0);
    if (!scheme || (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0))
        rc = cli_error_set(err, u->text, HFS_ERR_INVALID, "only http and https URLs are supported");
    else if (user)
        rc = cli_error_set(err, u->text, HFS_ERR_INVALID, "user names in URLs are not supported");
    else
        u->tls = strcasecmp(scheme, "https") == 0;
    curl_free(scheme);
    curl_free(user);
    return rc;
}

/* Fills the strings from curl's parts (port NULL when the URL has none). */
static int fill_strings(cli_url *u, const char *host, const char *zone, const char *port,
                        const char *path, const char *query)
{
    const char *default_port = u->tls ? "443" : "80";

    if (set_hosts(u, host, zone) != HFS_OK)
        return HFS_ERR_NOMEM;
    u->port = format("%s", port ? port : default_port);
    if (!port || strcmp(port, default_port) == 0)
        u->authority = format("%s", host);
    else
        u->authority = format("%s:%s", host, port);
    u->origin = u->authority ? format("%s://%s", u->tls ? "https" : "http", u->authority) : NULL;
    u->target = make_target(path ? path : "/", query);
    return u->port && u->authority && u->origin && u->target ? HFS_OK : HFS_ERR_NOMEM;
}

/* Fills everything from a parsed handle; returns HFS_OK, HFS_ERR_INVALID or HFS_ERR_NOMEM. */
static int fill_from(cli_url *u, CURLU *h, hfs_error *err)
{
    char *host = NULL, *zone = NULL, *port = NULL, *path = NULL, *query = NULL;
    int rc = check_scheme(u, h, err);

    if (rc != HFS_OK)
        return rc;
    if (curl_url_get(h, CURLUPART_HOST, &host, 0) != CURLUE_OK || !*host) {
        curl_free(host);
        return cli_error_set(err, u->text, HFS_ERR_INVALID, "the URL has no host");
    }
    curl_url_get(h, CURLUPART_ZONEID, &zone, 0);
    curl_url_get(h, CURLUPART_PORT, &port, 0);
    curl_url_get(h, CURLUPART_PATH, &path, 0);
    curl_url_get(h, CURLUPART_QUERY, &query, 0);
    rc = fill_strings(u, host, zone, port, path, query);
    curl_free(host);
    curl_free(zone);
    curl_free(port);
    curl_free(path);
    curl_free(query);
    return rc;
}

int cli_url_parse(cli_url *u, const char *text, hfs_error *err)
{
    CURLU *h;
    CURLUcode cc;
    int rc;

    memset(u, 0, sizeof(*u));
    if (!text || !*text)
        return cli_error_set(err, "(empty URL)", HFS_ERR_INVALID, "no URL given");
    u->text = dup_n(text, strlen(text));
    h = curl_url();
    if (!u->text || !h) {
        curl_url_cleanup(h);
        cli_url_free(u);
        return cli_error_set(err, text, HFS_ERR_NOMEM, "out of memory");
    }
    /* curl reads "http:///x" as host "x"; an authority must follow "//" directly. */
    const char *sep = strstr(text, "://");
    if (sep && (sep[3] == '/' || sep[3] == '\0' || sep[3] == '?' || sep[3] == '#'))
        cc = CURLUE_NO_HOST;
    else
        cc = curl_url_set(h, CURLUPART_URL, text, 0);
    if (cc == CURLUE_OUT_OF_MEMORY)
        rc = cli_error_set(err, text, HFS_ERR_NOMEM, "out of memory");
    else if (cc != CURLUE_OK)
        rc = cli_error_set(err, text, HFS_ERR_INVALID, "invalid URL: %s", curl_url_strerror(cc));
    else
        rc = fill_from(u, h, err);
    curl_url_cleanup(h);
    if (rc == HFS_ERR_NOMEM)
        cli_error_set(err, text, HFS_ERR_NOMEM, "out of memory");
    if (rc != HFS_OK)
        cli_url_free(u);
    return rc;
}

int cli_url_add_query(cli_url *u, const char *param)
{
    char *t = format("%s%c%s", u->target, strchr(u->target, '?') ? '&' : '?', param);

    if (!t)
        return HFS_ERR_NOMEM;
    free(u->target);
    u->target = t;
    return HFS_OK;
}

/* 1 when the parameter name p[0..n), percent-decoded, is want (ASCII case ignored). */
static int name_is(const char *p, size_t n, const char *want)
{
    size_t i = 0;

    for (; i < n && *want; want++) {
        int c = (unsigned char)p[i++];
        if (c == '%' && i + 1 < n && uri_hexval(p[i]) >= 0 && uri_hexval(p[i + 1]) >= 0) {
            c = uri_hexval(p[i]) * 16 + uri_hexval(p[i + 1]);
            i += 2;
        }
        if (c >= 'A' && c <= 'Z')
            c += 'a' - 'A';
        if (c != *want)
            return 0;
    }
    return i == n && !*want;
}

/* 1 for the parameters whose values are credentials. */
static int is_secret(const char *p, size_t n)
{
    return name_is(p, n, "token") || name_is(p, n, "sig");
}

int cli_url_has_param(const cli_url *u, const char *name)
{
    const char *q = strchr(u->target, '?');

    while (q && *q) {
        q++;
        size_t n = strcspn(q, "&"), k = strcspn(q, "=&");
        if (name_is(q, k, name))
            return 1;
        q += n;
    }
    return 0;
}

/* A bounded string builder: keeps what fits in cap - 1 bytes, counts everything. */
typedef struct sink {
    char *out;
    size_t cap, len;
} sink;

static void put(sink *k, const char *p, size_t n)
{
    if (k->len + 1 < k->cap) {
        size_t room = k->cap - 1 - k->len;
        memcpy(k->out + k->len, p, n < room ? n : room);
    }
    k->len += n;
}

size_t cli_url_redact(const char *url, char *out, size_t cap)
{
    sink k = {.out = out, .cap = cap};
    size_t head = strcspn(url, "?#");

    put(&k, url, head);
    url += head;
    if (*url == '?') {
        put(&k, "?", 1);
        url++;
        while (*url && *url != '#') {
            size_t n = strcspn(url, "&#"), name = strcspn(url, "=&#");
            if (name < n && is_secret(url, name)) {
                put(&k, url, name + 1);
                put(&k, "REDACTED", 8);
            } else {
                put(&k, url, n);
            }
            url += n;
            if (*url == '&')
                put(&k, url++, 1);
        }
    }
    put(&k, url, strlen(url)); /* the fragment: never sent */
    if (cap > 0)
        out[k.len < cap ? k.len : cap - 1] = '\0';
    return k.len;
}

size_t hfs_redact_url(const char *url, char *out, size_t cap)
{
    return cli_url_redact(url ? url : "", out, cap);
}

void cli_url_free(cli_url *u)
{
    free(u->text);
    free(u->host);
    free(u->tls_host);
    free(u->port);
    free(u->authority);
    free(u->origin);
    free(u->target);
    memset(u, 0, sizeof(*u));
}
