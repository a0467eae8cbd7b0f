/* follow_http.c -- the plain HTTP transport of followers: the bytes as the body of a response,
 * one chunk of the chunked transfer coding per batch on HTTP/1.1 (bare bytes, delimited by closing
 * the connection, on HTTP/1.0). The end is the last chunk; what the client sends is dropped. */
#include <stdio.h>

#include "server/batch.h"
#include "server/conn.h"

static const char CRLF[] = "\r\n";

static int frame_http(conn *c, batch_cursor *cur, uint64_t avail, int stream_end)
{
    fbatch *b = batch_current(c);

    (void)stream_end;
    if (c->u.f.chunked) {
        int n = snprintf((char *)b->hdrs[0], SRV_FRAME_HDR, "%llx\r\n", (unsigned long long)avail);
        b->bufs[b->nbufs++] = uv_buf_init((char *)b->hdrs[0], (unsigned)n);
    }
    batch_take(cur, b, (size_t)avail);
    if (c->u.f.chunked)
        b->bufs[b->nbufs++] = uv_buf_init((char *)CRLF, 2);
    b->payload = avail;
    return 0;
}

static void heartbeat_http(conn *c)
{
    (void)c; /* nothing can be said between body bytes */
}

static void finish_http(conn *c)
{
    if (c->u.f.chunked)
        conn_write_copy(c, "0\r\n\r\n", 5);
    conn_linger(c);
}

static void fail_http(conn *c, const char *reason)
{
    (void)reason; /* the body cannot say it: the response ends without its last chunk */
    conn_linger(c);
}

const follow_transport follow_http = {
    .name = "http",
    .frame = frame_http,
    .heartbeat = heartbeat_http,
    .finish = finish_http,
    .fail = fail_http,
};
