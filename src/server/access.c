/* access.c -- the structured request log: one hfs_access per request, when it ends.
 *
 * A request begins when the router gets its head (access_begin) and ends when its response is
 * written (http_response_done) or its connection closes (a WebSocket session, a streamed body).
 * A response written while the router is still deciding ends the request before the router knows
 * its role: the end waits (ended) until access_routed, so each request is reported exactly once,
 * whole. Bytes are counted as the connection queues them (conn.tx_bytes). */
#include "server/access.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "server/conn.h"

void access_begin(conn *c, const char *method, const char *target, size_t n)
{
    conn_access *a = &c->acc;

    if (!c->srv->opt.access || c->srv->opt.log_level < HFS_LOG_INFO)
        return;
    access_end(c);
    memset(a, 0, sizeof(*a));
    a->open = 1;
    a->in_route = 1;
    a->start_ns = uv_hrtime();
    a->tx0 = c->tx_bytes;
    snprintf(a->method, sizeof(a->method), "%s", method);
    snprintf(a->target, sizeof(a->target), "%.*s%s", n > 160 ? 160 : (int)n, target,
             n > 160 ? "..." : "");
}

void access_routed(conn *c, const char *verb, int status)
{
    conn_access *a = &c->acc;
    size_t i;

    if (!a->open)
        return;
    for (i = 0; verb[i] && i + 1 < sizeof(a->role); i++)
        a->role[i] = (char)tolower((unsigned char)verb[i]);
    a->role[i] = '\0';
    access_status(c, status);
    a->in_route = 0;
    if (a->ended)
        access_end(c);
}

void access_status(conn *c, int status)
{
    if (c->acc.open && !c->acc.status && status > 0)
        c->acc.status = status;
}

void access_end(conn *c)
{
    conn_access *a = &c->acc;

    if (!a->open)
        return;
    if (a->in_route) {
        a->ended = 1;
        return;
    }
    a->open = 0;
    hfs_access e = {
        .client = c->peer,
        .method = a->method,
        .target = a->target,
        .status = a->status,
        .role = a->role,
        .bytes = c->tx_bytes - a->tx0,
        .duration_us = (uv_hrtime() - a->start_ns) / 1000,
    };
    c->srv->opt.access(c->srv->opt.log_data, &e);
}
