/* url.h -- the parts of an http:// or https:// URL the client needs to connect and to send a
 * request, parsed with libcurl's URL API. */
#ifndef HFS_CLIENT_URL_H
#define HFS_CLIENT_URL_H

#include "httpfstream.h"

typedef struct cli_url {
    /* read-only, all owned by the cli_url */
    char *text;      /* the URL as the caller gave it: messages name it */
    int tls;         /* 1 for https */
    int ip_literal;  /* 1 when the host is an IPv4 or IPv6 address (no SNI, IP verification) */
    char *host;      /* for getaddrinfo: no brackets, "%zone" appended for scoped IPv6 */
    char *tls_host;  /* for SNI and certificate checks: no brackets, no zone */
    char *port;      /* decimal, 80 / 443 when the URL has none */
    char *authority; /* the Host header: host[:port], IPv6 in brackets, port only if not default */
    char *origin;    /* the Origin header: scheme://authority */
    char *target;    /* path[?query] for the request line, bytes outside ASCII printables escaped */
} cli_url;

/* Parses text. Only http and https, with a host, no user name or password. Returns HFS_OK,
 * HFS_ERR_INVALID (with a reason in *err) or HFS_ERR_NOMEM. On failure u holds nothing to free,
 * but cli_url_free may still be called. */
int cli_url_parse(cli_url *u, const char *text, hfs_error *err);

/* Appends "name=value" (already escaped) to the target's query, after the parameters the URL
 * already has, which are kept as they are, in their order (a signed URL's expires, rights and
 * sig). HFS_OK or HFS_ERR_NOMEM. */
int cli_url_add_query(cli_url *u, const char *param);

/* 1 when the target's query has a parameter called name (compared after percent-decoding). */
int cli_url_has_param(const cli_url *u, const char *name);

/* Copies url into out as hfs_redact_url does (see httpfstream.h); returns the same. */
size_t cli_url_redact(const char *url, char *out, size_t cap);

/* Frees what u holds and zeroes it; accepts a zeroed u. */
void cli_url_free(cli_url *u);

#endif
