/* http_int.h -- what the request files of the Durable Streams protocol share: http.c (answers,
 * the request's state, dispatch), read.c (GET, long-poll, HEAD, DELETE), append.c (appends and
 * POST) and put.c (PUT). */
#ifndef HFS_DS_HTTP_INT_H
#define HFS_DS_HTTP_INT_H

#include "ds/ds_int.h"
#include "http/text.h"

#define DS_TEXT "text/plain; charset=utf-8"

/* ---- answers (http.c) ---- */

/* Sends status with the extra header lines hdr (may be NULL) and body[0..len) of type ctype. */
void ds_send_answer(conn *c, int status, const textbuf *hdr, const char *ctype, const void *body,
                    size_t len);
/* A plain-text answer with msg as its body. Returns status. */
int ds_answer_text(conn *c, int status, const textbuf *hdr, const char *msg);
void ds_hdr_line(textbuf *b, const char *name, const char *value);
void ds_hdr_u64(textbuf *b, const char *name, uint64_t v);
void ds_hdr_offset(textbuf *b, uint64_t pos); /* Stream-Next-Offset */
/* 404 for a stream that does not exist; 410 for one deleted while forks still read it. */
int ds_answer_missing(conn *c, int soft_deleted);

/* ---- the request's state (http.c) ---- */

ds_req *ds_req_new(conn *c, int method, const char *rel);
void ds_req_free(ds_state *d, ds_req *q);
/* A request that waits (for the store) belongs to its connection again meanwhile. */
void ds_req_wait(ds_req *q);
void ds_req_detach(ds_req *q); /* answered, or its connection went */

/* ---- reads (read.c) ---- */

int ds_handle_get(route *r, ds_state *d, const char *rel);
int ds_handle_head(route *r, ds_state *d, const char *rel);
int ds_handle_delete(route *r, ds_state *d, const char *rel);
/* Looks rel up for a request that needs it to exist: 1 with *out set, or 0 once 404/410/500 was
 * answered (*status). */
int ds_need_stream(conn *c, ds_state *d, const char *rel, ds_stream **out, int *status);
/* For a JSON stream, off moved on to the start of the next message when it falls inside one. */
uint64_t ds_json_align(ds_stream *ds, uint64_t off);
void ds_poll_unlink(ds_state *d, ds_req *q);
void ds_arm_poll_timer(ds_state *d);
void ds_poll_finish(ds_state *d, ds_req *q, int timed_out);

/* ---- appends (append.c, put.c) ---- */

int ds_handle_post(conn *c, ds_state *d, ds_req *q);
int ds_handle_put(conn *c, ds_state *d, ds_req *q);
/* Answers once every byte accepted so far is stored (durable under a sync policy). */
void ds_complete_when_stored(ds_state *d, ds_req *q);
/* Answers a store error from an append. Returns the status. */
int ds_append_error(conn *c, int err);

#endif /* HFS_DS_HTTP_INT_H */
