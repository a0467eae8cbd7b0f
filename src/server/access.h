/* access.h -- the structured request log (hfs_server_options.access): what a connection records of
 * the request it serves, reported once that request ends. */
#ifndef HFS_SERVER_ACCESS_H
#define HFS_SERVER_ACCESS_H

#include <stddef.h>
#include <stdint.h>

typedef struct conn conn;

/* The request a connection is serving. All private to access.c. */
typedef struct conn_access {
    uint8_t open;      /* a request began and has not been reported */
    uint8_t in_route;  /* the router is deciding it: an end is reported when the router returns */
    uint8_t ended;     /* it ended while in_route */
    int status;        /* the first status answered, 0 none yet */
    uint64_t start_ns; /* uv_hrtime() when its head arrived */
    uint64_t tx0;      /* the connection's byte count then */
    char role[12];     /* "follow", "append", ... */
    char method[16];   /* "GET", ... */
    char target[168];  /* redacted request-target */
} conn_access;

/* A request's head arrived; target (n bytes, already redacted) is copied. A request still open on
 * c is reported first. Called by the router, which calls access_routed when it is done. */
void access_begin(conn *c, const char *method, const char *target, size_t n);
/* The router has answered or started the request: its role (a verb, "FOLLOW", lowered) and status
 * (<= 0: not known yet). Reports the request when it ended meanwhile. */
void access_routed(conn *c, const char *verb, int status);
/* A status went out for c's request: kept when it is the first. */
void access_status(conn *c, int status);
/* c's request is over (its response written, or the connection closing): report it once. */
void access_end(conn *c);

#endif
