/* http_conn.h -- the HTTP kind of connection: feeds input to the request parser, hands each
 * request head to the router (an upward callback: http_conn knows nothing of routes), writes plain
 * responses and responses read from a resource, and keeps requests in order (pipelined input
 * waits while a response is being written, or while too much output is queued). */
#ifndef HFS_SERVER_HTTP_CONN_H
#define HFS_SERVER_HTTP_CONN_H

#include "http/request.h"
#include "http/static.h"
#include "server/server.h"

typedef struct append_wait append_wait;

struct http_conn {
    http_parser parser;
    char *pending; /* input held back while a response is being written */
    size_t pending_len;
    uint8_t responding;  /* a response is being written */
    uint8_t msg_done;    /* the current request's message (and body) was fully read */
    uint8_t close_after; /* close the connection once the response is written */
    uint8_t head_seen;   /* the current request's head arrived */
    uint8_t is_head;     /* the request is HEAD: no body */
    uint8_t in_feed;     /* feed() is running: it picks up the next request itself */
    uint8_t started;     /* bytes of the current request arrived (its head deadline runs) */
    uint8_t appending;   /* the body is being appended (PUT/POST): c->u.a is the appender */
    uint8_t held;        /* response written; the next waits for queued output to drain */
    append_wait *await;  /* holding the lease until the previous writer's bytes are stored */
    struct ds_req *ds;   /* a Durable Streams request answered later (src/ds) */
    store_res *body_res; /* a response body read from this resource, or NULL */
    http_static_plan *plan;
    size_t part;       /* next plan part */
    uint64_t part_off; /* bytes of that part already sent */
    uint8_t part_prefix_sent;
};

extern const struct conn_ops conn_http_ops;

void http_conn_free(conn *c);
void http_respond_simple(conn *c, int status, const char *extra_headers, const char *ctype,
                         const char *body, size_t body_len);
void http_respond_error(conn *c, int status, const char *body);
/* As http_respond_simple, adding no header of its own beyond Content-Type and Content-Length. */
void http_respond_raw(conn *c, int status, const char *extra_headers, const char *ctype,
                      const void *body, size_t body_len);
/* A response whose body parts are read from res (takes the reference). */
void http_respond_resource(conn *c, store_res *res, const http_static_plan *plan);
void http_response_done(conn *c);
void http_conn_resume(conn *c); /* go on with input held back (the router waited) */

/* http_append.c: PUT/POST bodies appended */
void http_append_start(conn *c, store_res *res, int created);
void http_append_body(conn *c, const uint8_t *p, size_t n);
void http_append_done(conn *c);
void http_append_forget(conn *c); /* the connection goes away mid-append */

#endif /* HFS_SERVER_HTTP_CONN_H */
