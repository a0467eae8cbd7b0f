/* test_nats_nodes.c -- three httpfstream nodes sharing one namespace through a three-server NATS
 * JetStream cluster (-store=nats://...), all on loopback and started by this test: whatever is
 * written through one node is served, byte for byte, by every node, by every way of reading
 * (WebSocket follow, ?follow, Server-Sent Events from any offset, ?wait, static GET with Range,
 * HEAD and ETag, JSON listings, Durable Streams), one appender per resource across the nodes
 * (403 elsewhere), X-Append-Offset checked against the shared size, and -auth the same on every
 * node. Skips when nats-server or the -store flag is missing (see nats_nodes.h). */
#include "nats_nodes.h"

#include "ws/ws.h"

static tsrv *nodes[3];

/* ---- Server-Sent Events ----------------------------------------------------------------------
 */

static int b64val(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

static void b64_decode_into(tbuf *out, const char *s, size_t n)
{
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64val((unsigned char)s[i]);
        if (v < 0)
            continue;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            uint8_t b = (uint8_t)(acc >> bits);
            tbuf_add(out, &b, 1);
        }
    }
}

/* Decodes a native SSE body (docs/PROTOCOL.md, "Server-Sent Events") into the bytes it carries;
 * *ended = 1 when an `end` event came; *last_id = the last id. Returns 0, or -1 when malformed. */
static int sse_decode(const tbuf *in, tbuf *out, int *ended, long long *last_id)
{
    size_t i = 0;
    *ended = 0;
    while (i < in->len) {
        /* one event: lines up to a blank line */
        char event[32] = "";
        tbuf data = {0};
        int ndata = 0;
        int any = 0;
        while (i < in->len) {
            const uint8_t *nl = memchr(in->p + i, '\n', in->len - i);
            if (!nl) {
                tbuf_free(&data);
                return 0; /* an incomplete last event: not counted */
            }
            size_t len = (size_t)(nl - (in->p + i));
            const char *line = (const char *)in->p + i;
            i += len + 1;
            if (len == 0)
                break;
            any = 1;
            if (line[0] == ':')
                continue;
            if (len >= 6 && memcmp(line, "event:", 6) == 0) {
                size_t o = line[6] == ' ' ? 7 : 6;
                snprintf(event, sizeof(event), "%.*s", (int)(len - o), line + o);
            } else if (len >= 3 && memcmp(line, "id:", 3) == 0) {
                *last_id = atoll(line + 3 + (line[3] == ' '));
            } else if (len >= 5 && memcmp(line, "data:", 5) == 0) {
                size_t o = line[5] == ' ' ? 6 : 5;
                if (ndata++)
                    tbuf_add(&data, "\n", 1);
                tbuf_add(&data, line + o, len - o);
            }
        }
        if (!any) {
            tbuf_free(&data);
            continue;
        }
        if (strcmp(event, "end") == 0)
            *ended = 1;
        else if (strcmp(event, "base64") == 0)
            b64_decode_into(out, (const char *)data.p, data.len);
        else if (event[0] == 0 && ndata)
            tbuf_add(out, data.p, data.len);
        else if (event[0] != 0) {
            tbuf_free(&data);
            return -1;
        }
        tbuf_free(&data);
    }
    return 0;
}

/* An appender that answers 403 while another node's lease is still being let go: retried. */
static tws *append_retry(int port, const char *path)
{
    return tws_append_retry(port, path, 15000);
}

/* Sends data in messages of at most 4000 bytes. */
static int ws_send_all(tws *w, const uint8_t *p, size_t n)
{
    for (size_t o = 0; o < n; o += 4000) {
        size_t k = n - o < 4000 ? n - o : 4000;
        if (tws_send(w, WS_OP_TEXT, 1, p + o, k) < 0)
            return -1;
    }
    return 0;
}

/* ---- tests -------------------------------------------------------------------------------------
 */

/* One WebSocket appender on node 1; binary WebSocket followers on all three nodes (one joined
 * before, one during); every follower and every node's local copy holds exactly the bytes sent,
 * and every follower gets CLOSE 1000 at the end. */
static void test_ws_follow_every_node(void)
{
    enum { N = 300000 };
    uint8_t *data = malloc(N);
    CHECK(data);
    text_fill(data, N, 1);
    tws *w = append_retry(nodes[0]->port, "/ws/a.log");
    CHECK(w);
    CHECK_INT(tws_send(w, WS_OP_TEXT, 1, data, 1000), 0);
    tws *f[3];
    tws_collect c[3];
    memset(c, 0, sizeof(c));
    for (int i = 0; i < 3; i++) {
        /* the resource appears on the other nodes once their applier has the begin */
        int64_t end = t_now_ms() + 15000;
        thttp_resp r;
        int st = 0;
        do {
            f[i] = tws_connect(nodes[i]->port, "/ws/a.log?frames=binary", NULL, &r);
            st = r.status;
            thttp_free(&r); /* (the bytes that came with a 101 are in its body too) */
            if (!f[i])
                t_sleep_ms(20);
        } while (!f[i] && t_now_ms() < end);
        CHECKF(f[i], "node %d: no 101 (last status %d)", i + 1, st);
        c[i].opcode = WS_OP_BINARY;
        c[i].expect = data;
        c[i].expect_len = N;
        c[i].answer_pings = 1;
    }
    CHECK_INT(ws_send_all(w, data + 1000, N - 1000), 0);
    for (int i = 0; i < 3; i++) {
        CHECKF(tws_collect_until(f[i], &c[i], N, 30000) == 0, "node %d: %zu bytes, %s", i + 1,
               c[i].bytes, c[i].err);
        CHECK(node_file_eq(nodes[i], "ws/a.log", data, N, 15000));
    }
    CHECK_INT(tws_end_append(w), 0);
    tws_free(w);
    for (int i = 0; i < 3; i++) {
        CHECKF(tws_collect_until(f[i], &c[i], SIZE_MAX, 15000) == 0, "node %d: %s", i + 1,
               c[i].err);
        CHECK_INT(c[i].bytes, N);
        CHECK_INT(c[i].close_code, 1000);
        tws_free(f[i]);
        tws_collect_free(&c[i]);
    }
    free(data);
}

/* ?follow&wait, SSE&wait and a WebSocket ?wait before the resource exists (nodes 2, 3 and 1),
 * then a WebSocket appender through node 1; SSE from an offset on every node while it is live;
 * every stream ends exactly at the resource's size. */
static void test_follow_sse_wait(void)
{
    enum { N = 120000 };
    uint8_t *data = malloc(N);
    CHECK(data);
    text_fill(data, N, 2);
    /* followers before the resource exists */
    ths *hw = ths_get(nodes[1]->port, "/f/b.log?follow&wait", NULL);
    ths *sw = ths_get(nodes[2]->port, "/f/b.log?wait", "Accept: text/event-stream\r\n");
    tws *ww = tws_connect(nodes[0]->port, "/f/b.log?wait&frames=binary", NULL, NULL);
    CHECK(hw && sw && ww);
    CHECK_INT(hw->r.status, 200);
    CHECK_INT(sw->r.status, 200);
    CHECK(ths_quiet(hw, 300));
    /* a WebSocket appender through node 1 writes the first half */
    tws *w = append_retry(nodes[0]->port, "/f/b.log");
    CHECK(w);
    CHECK_INT(ws_send_all(w, data, N / 2), 0);
    CHECK(ths_until(hw, N / 2, 30000));
    /* SSE from an offset, on every node, while it is live */
    ths *so[3];
    for (int i = 0; i < 3; i++) {
        CHECK(node_file_eq(nodes[i], "f/b.log", data, N / 2, 15000));
        so[i] =
            ths_get(nodes[i]->port, t_fmt("/f/b.log?follow=sse&offset=%d", 1000 * (i + 1)), NULL);
        CHECK(so[i]);
        CHECK_INT(so[i]->r.status, 200);
        CHECK_STR(ths_header(so[i], "X-Follow-Offset"), t_fmt("%d", 1000 * (i + 1)));
    }
    CHECK_INT(ws_send_all(w, data + N / 2, N - N / 2), 0);
    CHECK_INT(tws_end_append(w), 0);
    tws_free(w);
    /* every stream ends, byte-exact */
    CHECK(ths_end(hw, 30000));
    CHECK_MEM(hw->body.p, hw->body.len, data, (size_t)N);
    tws_collect cw = {.opcode = WS_OP_BINARY, .expect = data, .expect_len = N, .answer_pings = 1};
    CHECKF(tws_collect_until(ww, &cw, SIZE_MAX, 30000) == 0, "%s", cw.err);
    CHECK_INT(cw.bytes, N);
    CHECK_INT(cw.close_code, 1000);
    ths *all[4] = {sw, so[0], so[1], so[2]};
    for (int i = 0; i < 4; i++) {
        CHECKF(ths_end(all[i], 30000), "SSE stream %d did not end (%zu bytes)", i,
               all[i]->body.len);
        tbuf got = {0};
        int ended = 0;
        long long id = -1;
        CHECK_INT(sse_decode(&all[i]->body, &got, &ended, &id), 0);
        size_t from = i == 0 ? 0 : (size_t)(1000 * i);
        CHECK(ended);
        CHECK_INT(id, N);
        CHECK_MEM(got.p, got.len, data + from, (size_t)N - from);
        tbuf_free(&got);
    }
    for (int i = 0; i < 4; i++)
        ths_free(all[i]);
    ths_free(hw);
    tws_free(ww);
    tws_collect_free(&cw);
    free(data);
}

/* PUT and POST appends with X-Append-Offset through each node in turn: each lands at the shared
 * size; a stale offset gets 409 with the real size; the same bytes on every node. Then GET,
 * Range, HEAD and ETag/If-None-Match on every node. */
static void test_put_post_offsets_and_static(void)
{
    tbuf want = {0};
    uint8_t piece[5000];
    for (int k = 0; k < 9; k++) {
        tsrv *s = nodes[k % 3];
        text_fill(piece, sizeof(piece), 10 + (unsigned)k);
        thttp_resp r;
        int st = 0;
        int64_t t0 = t_now_ms(), end = t0 + 15000;
        do { /* 403 while the previous node's lease is being let go */
            st = nreq(s->port, k % 2 ? "POST" : "PUT", "/p/c.txt",
                      t_fmt("X-Append-Offset: %zu\r\n", want.len), piece, sizeof(piece), 20000, &r);
            if (st == 403) {
                thttp_free(&r);
                t_sleep_ms(20);
            }
        } while (st == 403 && t_now_ms() < end);
        CHECKF(st == 200 || st == 201, "append %d on node %d: status %d", k, k % 3 + 1, st);
        if (t_now_ms() - t0 > 1000)
            printf("# append %d on node %d waited %lld ms for the lease\n", k, k % 3 + 1,
                   (long long)(t_now_ms() - t0));
        tbuf_add(&want, piece, sizeof(piece));
        CHECK_INT(nsize(&r), want.len);
        thttp_free(&r);
        /* a stale offset through the next node: 409, the real size, nothing appended */
        tsrv *o = nodes[(k + 1) % 3];
        int64_t e2 = t_now_ms() + 15000;
        do {
            st = nreq(o->port, "PUT", "/p/c.txt",
                      t_fmt("X-Append-Offset: %zu\r\n", want.len - sizeof(piece)), "stale", 5,
                      20000, &r);
            if (st == 403) {
                thttp_free(&r);
                t_sleep_ms(20);
            }
        } while (st == 403 && t_now_ms() < e2);
        CHECKF(st == 409, "stale offset on node %d: status %d", (k + 1) % 3 + 1, st);
        CHECK_INT(nsize(&r), want.len);
        thttp_free(&r);
    }
    for (int i = 0; i < 3; i++) {
        tsrv *s = nodes[i];
        CHECK(node_file_eq(s, "p/c.txt", want.p, want.len, 15000));
        CHECK(node_get_eq(s->port, "/p/c.txt", NULL, want.p, want.len, 15000));
        thttp_resp r;
        CHECK_INT(nreq(s->port, "GET", "/p/c.txt", "Range: bytes=100-199\r\n", NULL, 0, 10000, &r),
                  206);
        CHECK_MEM(r.body.p, r.body.len, want.p + 100, (size_t)100);
        CHECK_STR(thttp_header(&r, "Content-Range"), t_fmt("bytes 100-199/%zu", want.len));
        thttp_free(&r);
        CHECK_INT(nreq(s->port, "GET", "/p/c.txt", "Range: bytes=-10\r\n", NULL, 0, 10000, &r),
                  206);
        CHECK_MEM(r.body.p, r.body.len, want.p + want.len - 10, (size_t)10);
        thttp_free(&r);
        CHECK_INT(nreq(s->port, "HEAD", "/p/c.txt", NULL, NULL, 0, 10000, &r), 200);
        CHECK_INT(nsize(&r), want.len);
        CHECK_INT(r.body.len, 0);
        const char *et = thttp_header(&r, "ETag");
        CHECK(et);
        char etag[80];
        snprintf(etag, sizeof(etag), "%s", et);
        thttp_free(&r);
        CHECK_INT(nreq(s->port, "GET", "/p/c.txt", t_fmt("If-None-Match: %s\r\n", etag), NULL, 0,
                       10000, &r),
                  304);
        thttp_free(&r);
        /* a follow of a finished resource: the whole of it, then the end */
        ths *h = ths_get(s->port, "/p/c.txt?follow&offset=-100", NULL);
        CHECK(h && ths_end(h, 10000));
        CHECK_MEM(h->body.p, h->body.len, want.p + want.len - 100, (size_t)100);
        ths_free(h);
    }
    tbuf_free(&want);
}

/* A second appender on another node is refused (403, WebSocket and PUT) while the first holds
 * the resource; a third node too; after the first leaves, another node takes over at the size. */
static void test_one_appender_across_nodes(void)
{
    tws *w = append_retry(nodes[1]->port, "/one/d.log");
    CHECK(w);
    CHECK_INT(tws_send_text(w, "first\n"), 0);
    for (int i = 0; i < 3; i++)
        CHECK(node_file_eq(nodes[i], "one/d.log", "first\n", 6, 15000));
    for (int i = 0; i < 3; i++) {
        if (i == 1)
            continue;
        thttp_resp r;
        CHECK_INT(nreq(nodes[i]->port, "PUT", "/one/d.log", NULL, "nope\n", 5, 10000, &r), 403);
        thttp_free(&r);
        tws *w2 = tws_connect(nodes[i]->port, "/one/d.log", "X-Verb: APPEND\r\n", &r);
        CHECK(w2 == NULL);
        CHECK_INT(r.status, 403);
        thttp_free(&r);
    }
    /* on the holder's node too */
    thttp_resp r;
    CHECK_INT(nreq(nodes[1]->port, "POST", "/one/d.log", NULL, "nope\n", 5, 10000, &r), 403);
    thttp_free(&r);
    /* the listing shows it live, with its size, on every node */
    for (int i = 0; i < 3; i++) {
        int ok = 0;
        int64_t end = t_now_ms() + 15000;
        do {
            nreq(nodes[i]->port, "GET", "/one/", "Accept: application/json\r\n", NULL, 0, 10000,
                 &r);
            ok = r.status == 200 && t_contains(r.body.p, r.body.len, "\"name\":\"d.log\"") &&
                 t_contains(r.body.p, r.body.len, "\"size\":6") &&
                 t_contains(r.body.p, r.body.len, "\"live\":true");
            if (!ok && t_now_ms() > end - 50)
                printf("# node %d listing: %.*s\n", i + 1, (int)r.body.len, (char *)r.body.p);
            thttp_free(&r);
            if (!ok)
                t_sleep_ms(20);
        } while (!ok && t_now_ms() < end);
        CHECKF(ok, "node %d: the listing does not show d.log live with size 6", i + 1);
    }
    CHECK_INT(tws_send_text(w, "second\n"), 0);
    CHECK_INT(tws_end_append(w), 0);
    tws_free(w);
    int st = 0;
    int64_t end = t_now_ms() + 15000;
    do {
        st = nreq(nodes[2]->port, "PUT", "/one/d.log", "X-Append-Offset: 13\r\n", "third\n", 6,
                  20000, &r);
        if (st == 403) {
            thttp_free(&r);
            t_sleep_ms(20);
        }
    } while (st == 403 && t_now_ms() < end);
    CHECK_INT(st, 200);
    CHECK_INT(nsize(&r), 19);
    thttp_free(&r);
    for (int i = 0; i < 3; i++) {
        CHECK(node_file_eq(nodes[i], "one/d.log", "first\nsecond\nthird\n", 19, 15000));
        /* and listed as not live any more */
        int ok = 0;
        int64_t e = t_now_ms() + 15000;
        do {
            nreq(nodes[i]->port, "GET", "/one/", "Accept: application/json\r\n", NULL, 0, 10000,
                 &r);
            ok = r.status == 200 && t_contains(r.body.p, r.body.len, "\"size\":19") &&
                 t_contains(r.body.p, r.body.len, "\"live\":false");
            thttp_free(&r);
            if (!ok)
                t_sleep_ms(20);
        } while (!ok && t_now_ms() < e);
        CHECKF(ok, "node %d: the listing does not show d.log finished with size 19", i + 1);
    }
}

/* A fast streaming PUT of 16 MiB through node 1 (much of it still on its way through NATS when
 * the body ends): ?follow followers on all three nodes get every byte before their end. */
static void test_followers_get_the_tail(void)
{
    enum { N = 16 << 20, CH = 64 << 10 };
    uint8_t *data = malloc(N);
    CHECK(data);
    text_fill(data, N, 5);
    int fd = t_connect(nodes[0]->port);
    CHECK(fd >= 0);
    const char *head = "PUT /tail/big.log HTTP/1.1\r\nHost: h\r\nConnection: close\r\n"
                       "Transfer-Encoding: chunked\r\n\r\n";
    CHECK_INT(t_send_all(fd, head, strlen(head)), 0);
    CHECK_INT(send_chunk(fd, data, CH), 0);
    ths *h[3];
    for (int i = 0; i < 3; i++) {
        h[i] = follow_when_there(nodes[i]->port, "/tail/big.log?follow", 15000);
        CHECKF(h[i], "node %d: no ?follow", i + 1);
    }
    for (size_t o = CH; o < N; o += CH)
        CHECK_INT(send_chunk(fd, data + o, CH), 0);
    CHECK_INT(t_send_all(fd, "0\r\n\r\n", 5), 0);
    thttp_resp r;
    CHECK_INT(thttp_read(fd, &r, 0, 60000), 0);
    close(fd);
    CHECKF(r.status == 201, "the PUT: %d", r.status);
    CHECK_INT(nsize(&r), N);
    thttp_free(&r);
    for (int i = 0; i < 3; i++) {
        CHECKF(ths_end(h[i], 60000), "node %d: the follow did not end (%zu bytes)", i + 1,
               h[i]->body.len);
        EXPECTF(h[i]->body.len == N && memcmp(h[i]->body.p, data, N) == 0,
                "node %d: the follow ended after %zu of %d bytes", i + 1, h[i]->body.len, N);
        CHECK(node_file_eq(nodes[i], "tail/big.log", data, N, 30000));
        ths_free(h[i]);
    }
    free(data);
}

/* Durable Streams: created on node 1, appended through nodes 2 and 3, read from every node at
 * any offset (same Stream-Next-Offset everywhere), an SSE reader on node 3 until the stream is
 * closed through node 2. */
static void test_durable_streams_across_nodes(void)
{
    thttp_resp r;
    CHECK_INT(nreq(nodes[0]->port, "PUT", "/v1/stream/job-1", "Content-Type: text/plain\r\n", NULL,
                   0, 20000, &r),
              201);
    thttp_free(&r);
    /* the stream exists on the others once their appliers have it */
    for (int i = 1; i < 3; i++) {
        int st = 0;
        int64_t end = t_now_ms() + 15000;
        do {
            st = nreq(nodes[i]->port, "HEAD", "/v1/stream/job-1", NULL, NULL, 0, 10000, &r);
            thttp_free(&r);
            if (st != 200)
                t_sleep_ms(20);
        } while (st != 200 && t_now_ms() < end);
        CHECKF(st == 200, "node %d: HEAD of the new stream: %d", i + 1, st);
    }
    ths *sse = ths_get(nodes[2]->port, "/v1/stream/job-1?offset=-1&live=sse", NULL);
    CHECK(sse);
    CHECK_INT(sse->r.status, 200);
    const char *parts[] = {"compiling\n", "linking\n", "done\n"};
    tbuf want = {0};
    for (int k = 0; k < 3; k++) {
        int st = 0;
        int64_t end = t_now_ms() + 15000;
        do {
            st = nreq(nodes[1 + k % 2]->port, "POST", "/v1/stream/job-1",
                      "Content-Type: text/plain\r\n", parts[k], strlen(parts[k]), 20000, &r);
            thttp_free(&r);
            if (st == 403 || st == 503)
                t_sleep_ms(20);
        } while ((st == 403 || st == 503) && t_now_ms() < end);
        CHECKF(st == 204, "append %d through node %d: %d", k, 2 + k % 2, st);
        tbuf_adds(&want, parts[k]);
    }
    char next[64] = "";
    for (int i = 0; i < 3; i++) {
        int ok = 0;
        int64_t end = t_now_ms() + 15000;
        do {
            int st =
                nreq(nodes[i]->port, "GET", "/v1/stream/job-1?offset=-1", NULL, NULL, 0, 10000, &r);
            ok = st == 200 && r.body.len == want.len && memcmp(r.body.p, want.p, want.len) == 0;
            const char *no = thttp_header(&r, "Stream-Next-Offset");
            if (ok && no) {
                if (!next[0])
                    snprintf(next, sizeof(next), "%s", no);
                else
                    EXPECTF(strcmp(next, no) == 0, "node %d: Stream-Next-Offset %s != %s", i + 1,
                            no, next);
            }
            thttp_free(&r);
            if (!ok)
                t_sleep_ms(20);
        } while (!ok && t_now_ms() < end);
        CHECKF(ok, "node %d: the stream's bytes", i + 1);
        /* the native API shows the same bytes */
        CHECK(node_get_eq(nodes[i]->port, "/job-1", NULL, want.p, want.len, 15000));
    }
    CHECK(next[0]);
    /* a reader that got Stream-Next-Offset from one node and goes on through another: nothing
     * more to read, on every node */
    for (int i = 0; i < 3; i++) {
        int st = nreq(nodes[i]->port, "GET", t_fmt("/v1/stream/job-1?offset=%s", next), NULL, NULL,
                      0, 10000, &r);
        EXPECTF(st == 200 && r.body.len == 0, "node %d, offset %s: %d with %zu bytes", i + 1, next,
                st, r.body.len);
        thttp_free(&r);
    }
    /* close through node 2: the SSE reader on node 3 gets every byte, then streamClosed */
    int st = 0;
    int64_t end = t_now_ms() + 15000;
    do {
        st = nreq(nodes[1]->port, "POST", "/v1/stream/job-1", "Stream-Closed: true\r\n", NULL, 0,
                  20000, &r);
        thttp_free(&r);
        if (st == 403 || st == 503)
            t_sleep_ms(20);
    } while ((st == 403 || st == 503) && t_now_ms() < end);
    CHECKF(st == 204 || st == 200, "close: %d", st);
    CHECKF(ths_end(sse, 30000), "the SSE reader did not end: %.*s", (int)sse->body.len,
           (char *)sse->body.p);
    CHECK(t_contains(sse->body.p, sse->body.len, "compiling"));
    CHECK(t_contains(sse->body.p, sse->body.len, "done"));
    CHECK(t_contains(sse->body.p, sse->body.len, "\"streamClosed\":true"));
    ths_free(sse);
    /* closed everywhere: an append through node 3 is refused */
    end = t_now_ms() + 15000;
    do {
        st = nreq(nodes[2]->port, "POST", "/v1/stream/job-1", "Content-Type: text/plain\r\n", "x",
                  1, 20000, &r);
        thttp_free(&r);
        if (st != 409)
            t_sleep_ms(20);
    } while (st != 409 && t_now_ms() < end);
    CHECKF(st == 409, "append to the closed stream through node 3: %d", st);
    tbuf_free(&want);
}

/* -auth with the same rules file on three more nodes: the same answers from each. */
static void test_auth_every_node(void)
{
    const char *rules = "append /ci/ ci-tok\nread /ci/ team-tok\nread /pub/ *\n";
    char path[300];
    snprintf(path, sizeof(path), "%s/rules", ncl_main.dir);
    CHECK_INT(t_file_write(path, rules, strlen(rules)), 0);
    char flag[320];
    snprintf(flag, sizeof(flag), "-auth=%s", path);
    const char *more[] = {flag, NULL};
    tsrv *a[3] = {0};
    for (int i = 0; i < 3; i++) {
        a[i] = node_start(&ncl_main, NULL, more);
        CHECK(a[i]);
    }
    thttp_resp r;
    int st = 0;
    int64_t end = t_now_ms() + 15000;
    do {
        st = nreq(a[0]->port, "PUT", "/ci/1.log", "Authorization: Bearer ci-tok\r\n", "job\n", 4,
                  20000, &r);
        thttp_free(&r);
        if (st == 403)
            t_sleep_ms(20);
    } while (st == 403 && t_now_ms() < end);
    CHECK_INT(st, 201);
    for (int i = 0; i < 3; i++) {
        int port = a[i]->port;
        CHECK(node_get_eq(port, "/ci/1.log", "Authorization: Bearer team-tok\r\n", "job\n", 4,
                          15000));
        CHECK_INT(nreq(port, "GET", "/ci/1.log", NULL, NULL, 0, 10000, &r), 401);
        CHECK(thttp_header(&r, "WWW-Authenticate"));
        thttp_free(&r);
        CHECK_INT(
            nreq(port, "GET", "/ci/1.log", "Authorization: Bearer ci-tok\r\n", NULL, 0, 10000, &r),
            403);
        thttp_free(&r);
        CHECK_INT(
            nreq(port, "PUT", "/ci/1.log", "Authorization: Bearer team-tok\r\n", "x", 1, 10000, &r),
            403);
        thttp_free(&r);
        CHECK_INT(nreq(port, "GET", "/pub/none", NULL, NULL, 0, 10000, &r), 404);
        thttp_free(&r);
        CHECK_INT(nreq(port, "PUT", "/pub/x", NULL, "x", 1, 10000, &r), 401);
        thttp_free(&r);
        tws *f = tws_connect(port, "/ci/1.log?frames=binary", NULL, &r);
        CHECK(f == NULL);
        CHECK_INT(r.status, 401);
        thttp_free(&r);
        f = tws_connect(port, "/ci/1.log?frames=binary", "Authorization: Bearer team-tok\r\n", &r);
        thttp_free(&r);
        CHECK(f);
        tws_collect c = {.opcode = WS_OP_BINARY, .answer_pings = 1};
        CHECK_INT(tws_collect_until(f, &c, SIZE_MAX, 10000), 0);
        CHECK_MEM(c.data.p, c.data.len, "job\n", (size_t)4);
        tws_collect_free(&c);
        tws_free(f);
        CHECK(node_file_eq(a[i], "ci/1.log", "job\n", 4, 15000));
    }
    /* the resource is there on the nodes without -auth too: one namespace */
    CHECK(node_get_eq(nodes[0]->port, "/ci/1.log", NULL, "job\n", 4, 15000));
    for (int i = 0; i < 3; i++)
        CHECK_INT(tsrv_stop(a[i]), 0);
}

int main(void)
{
    if (!ncl_available())
        return test_report();
    if (ncl_start(&ncl_main) == 0) {
        for (int i = 0; i < 3; i++)
            nodes[i] = node_start(&ncl_main, "2s", NULL);
        if (nodes[0] && nodes[1] && nodes[2]) {
            RUN(test_ws_follow_every_node);
            RUN(test_follow_sse_wait);
            RUN(test_put_post_offsets_and_static);
            RUN(test_one_appender_across_nodes);
            RUN(test_followers_get_the_tail);
            RUN(test_durable_streams_across_nodes);
            RUN(test_auth_every_node);
        }
        for (int i = 0; i < 3; i++)
            tsrv_stop(nodes[i]);
        ncl_stop(&ncl_main);
    }
    return test_report();
}
