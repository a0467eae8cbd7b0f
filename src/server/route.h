/* route.h -- what the router's files share: the decoded request (route) and the helpers that
 * answer it. route.c dispatches and handles APPEND; follow_route.c handles every kind of FOLLOW. */
#ifndef HFS_SERVER_ROUTE_H
#define HFS_SERVER_ROUTE_H

#include "http/request.h"
#include "http/uri.h"
#include "server/server.h"

#define TEXT_PLAIN     "text/plain; charset=utf-8"
#define BODY_NOT_FOUND "404 page not found\n"
#define BODY_CONFLICT  "addWriter: path already has an active writer\n"

/* A request, decoded once. */
typedef struct route {
    conn *c;
    const http_request *req;
    uri_parts uri;
    char *clean;     /* cleaned, decoded path ("/a/b") */
    const char *rel; /* clean path below the mount prefix, no leading '/' */
    int append;      /* verb APPEND (or PUT/POST) */
    int ws;          /* Upgrade: websocket */
    uint8_t *rest;   /* input after the request head (WebSocket frames once upgraded) */
    size_t rest_len;
    const char *verb_name; /* for the log line */
    char logp[256];        /* "peer \"METHOD target\"": the request may be gone when we log */
} route;

void route_log(const route *r, int status); /* status < 0: answered later */
int route_text(route *r, int status, const char *extra, const char *body);
int route_store_error(route *r, int err);
int route_redirect(route *r, const char *path, size_t len);
int route_handshake_check(route *r, const char **extra); /* 0 or the status to refuse with */
int route_handshake_refused(route *r, int status, const char *extra);
int route_offers_binary(const route *r);
/* 409 for a native APPEND to a Durable Streams stream (STORE_OPEN): only that protocol writes it.
 */
int route_open_stream(route *r);
/* The first value of query parameter key in out (cap bytes); 1 if present, 0 if not. */
int route_query(const route *r, const char *key, char *out, size_t cap);
/* The credential parameters of the query (token, expires, rights and sig), raw as they came and
 * joined by '&' ("token=abc"), for the links a page carries them on (listings). Returns 0 with
 * *out a malloc'd string, or NULL when the query has none; -1 out of memory. */
int route_credential(const route *r, char **out);
/* How much the Accept header prefers type: 1 when it lists type (exactly) with a q-value no lower
 * than any other range it lists; 0 otherwise. */
int route_accept_prefers(const route *r, const char *type);

void route_request(conn *c, const http_request *req, uint8_t *rest, size_t rest_len);
int route_follow(route *r);      /* follow_route.c */
int route_dir(route *r);         /* listing.c */
int route_append_http(route *r); /* http_append.c: PUT and POST */
int route_store_status(int err);

#endif
