/* ds.h -- the Durable Streams protocol (https://github.com/durable-streams/durable-streams): what
 * the rest of the server sees of it.
 *
 * Requests under the server's Durable Streams prefix (default /v1/stream/) go to ds_route; the
 * stream named by the rest of the path is the resource of that name in the store, so the native
 * API reads and follows it too (docs/PROTOCOL.md, "Durable Streams"). The protocol's state (content
 * type, TTL, producers, forks, closed) lives in the resource's metadata, through the store
 * interface only: no backend knows the protocol.
 *
 * A request whose answer waits (a POST until its bytes are stored, a long-poll until data comes)
 * hangs a ds_req on its HTTP connection; http_conn hands it the body and tells it when the
 * connection goes away. */
#ifndef HFS_DS_DS_H
#define HFS_DS_DS_H

#include <stddef.h>
#include <stdint.h>

#include "server/route.h"
#include "server/server.h"

/* Sets up the protocol's state for s (after the store exists). 0, or -1 out of memory. */
int ds_init(hfs_server *s);
/* Gives back every resource and handle it holds (hfs_server_close, before the store closes). */
void ds_close(hfs_server *s);
void ds_free(hfs_server *s); /* frees what is left, once the server is done */

/* 1 when the cleaned path is under the prefix (then *name is the stream's name, maybe ""). */
int ds_match(const hfs_server *s, const char *clean, const char **name);

/* Answers a request under the prefix; returns the status sent, or 0 when the answer comes later
 * (the connection's http->ds is then set). */
int ds_route(route *r, const char *name);

/* An access-control refusal (route.c) of a request under the prefix: status with "STATUS why" as
 * its text and the protocol's headers (CORS), plus extra (header lines ending in CRLF, or NULL).
 * Returns status. */
int ds_refuse(route *r, int status, const char *extra, const char *why);

/* From http_conn: body bytes of the request, its end, and the connection going away. */
void ds_req_body(conn *c, const uint8_t *p, size_t n);
void ds_req_done(conn *c);
void ds_req_forget(conn *c);
void ds_req_drain(conn *c); /* the server shuts down: a waiting long-poll answers now */

#endif /* HFS_DS_DS_H */
