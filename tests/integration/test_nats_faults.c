/* test_nats_faults.c -- three httpfstream nodes on a three-server NATS JetStream cluster, and the
 * faults they must survive, each checked byte for byte on the surviving nodes:
 *   - SIGKILL of the JetStream stream leader (HFS) during acknowledged appends: nothing
 *     acknowledged is lost or doubled; the write stall is measured and printed;
 *   - SIGKILL of the node holding a resource's lease during a streaming PUT: the resource stays a
 *     prefix of what was sent, followers elsewhere end, and after -lease another node continues it
 *     with X-Append-Offset; the killed node catches up when it comes back;
 *   - a node cut off from NATS (the whole cluster stopped): its appender closes with 1011, its
 *     followers end with an error, its requests get 503 and /healthz 503, within seconds; when the
 *     cluster is back it recovers by itself.
 * Every wait is a poll with a generous deadline (the suite also runs under AddressSanitizer on a
 * busy 2-core machine). Skips when nats-server or the -store flag is missing (nats_nodes.h). */
#include "nats_nodes.h"

#include <pthread.h>
#include <stdatomic.h>

#include "ws/ws.h"

static tsrv *nodes[3];

/* ---- a follower that resumes: ?follow&offset=N again after each end --------------------------
 */

typedef struct rfol {
    int port;
    const char *path;
    tbuf got;
    atomic_llong final;      /* the resource's final size once the writer is done, else -1 */
    atomic_llong give_up_ms; /* set with final: stop trying after this */
    int reconnects;
    char err[200];
    pthread_t th;
} rfol;

static void *rfol_main(void *arg)
{
    rfol *f = arg;
    int64_t deadline = t_now_ms() + 150000;
    while (t_now_ms() < deadline) {
        long long fin = atomic_load(&f->final);
        if (fin >= 0 && ((long long)f->got.len >= fin || t_now_ms() > atomic_load(&f->give_up_ms)))
            break;
        /* (no ?wait: a follower waiting for a resource created through another node is not
         * woken, see test_nats_nodes; 404 until this node has it) */
        ths *h = ths_get(f->port, t_fmt("%s?follow&offset=%zu", f->path, f->got.len), NULL);
        if (!h || h->r.status != 200) {
            if (h && h->r.status != 503 && h->r.status != 0 && h->r.status != 416 &&
                h->r.status != 404)
                snprintf(f->err, sizeof(f->err), "status %d at offset %zu", h->r.status,
                         f->got.len);
            ths_free(h);
            if (f->err[0])
                break;
            t_sleep_ms(20);
            continue;
        }
        while (!h->done && t_now_ms() < deadline) {
            if (ths_pump(h, 500) < 0)
                break;
            if (atomic_load(&f->final) >= 0 && t_now_ms() > atomic_load(&f->give_up_ms))
                break;
        }
        if (h->err[0])
            snprintf(f->err, sizeof(f->err), "framing: %.150s", h->err);
        size_t before = f->got.len;
        tbuf_add(&f->got, h->body.p, h->body.len);
        ths_free(h);
        f->reconnects++;
        if (f->err[0])
            break;
        if (f->got.len == before)
            t_sleep_ms(10); /* nothing new: no writer right now */
    }
    return NULL;
}

static void rfol_start(rfol *f, int port, const char *path)
{
    memset(f, 0, sizeof(*f));
    f->port = port;
    f->path = path;
    atomic_store(&f->final, -1);
    pthread_create(&f->th, NULL, rfol_main, f);
}

/* ---- tests -------------------------------------------------------------------------------------
 */

/* One POST of piece at offset *acked through node s; 1 when it is in (model grows), 0 to retry,
 * -1 on an impossible answer. The answer may come late (a leader election): up to 30 s. */
static int append_once(tsrv *s, const char *path, tbuf *model, const uint8_t *piece, size_t n,
                       int *errors)
{
    thttp_resp r;
    int st = nreq(s->port, "POST", path, t_fmt("X-Append-Offset: %zu\r\n", model->len), piece, n,
                  30000, &r);
    long long size = nsize(&r);
    thttp_free(&r);
    if (st == 200 || st == 201) {
        if (size != (long long)(model->len + n)) {
            test_fail(__FILE__, __LINE__, "acknowledged with size %lld, want %zu", size,
                      model->len + n);
            return -1;
        }
        tbuf_add(model, piece, n);
        return 1;
    }
    if (st == 409) { /* an earlier attempt of this piece may have landed after all */
        if (size == (long long)(model->len + n)) {
            tbuf_add(model, piece, n);
            return 1;
        }
        if (size == (long long)model->len)
            return 0;
        test_fail(__FILE__, __LINE__, "409 with size %lld, want %zu or %zu", size, model->len,
                  model->len + n);
        return -1;
    }
    (*errors)++;
    if (st != 403) /* 403: the previous attempt's session still holds the lease */
        printf("#   append at %zu: status %d\n", model->len, st);
    t_sleep_ms(st == 403 ? 20 : 100);
    return 0;
}

static void test_stream_leader_killed_during_appends(void)
{
    const char *path = "/faults/leader.log";
    static rfol f[2]; /* static: a failed check returns before the threads are joined */
    rfol_start(&f[0], nodes[1]->port, path);
    rfol_start(&f[1], nodes[2]->port, path);
    tbuf model = {0};
    uint8_t piece[256];
    int errors = 0, killed = 0, acks = 0, acks_after = 0;
    int64_t t_kill = 0, t_first_after = 0, last_ack = t_now_ms(), max_gap = 0;
    int64_t deadline = t_now_ms() + 60000;
    while (t_now_ms() < deadline) {
        int k = snprintf((char *)piece, sizeof(piece), "%06d:", acks);
        text_fill(piece + k, sizeof(piece) - (size_t)k - 1, (unsigned)acks);
        piece[sizeof(piece) - 1] = '\n';
        int rc = append_once(nodes[0], path, &model, piece, sizeof(piece), &errors);
        CHECK(rc >= 0);
        if (rc == 0)
            continue;
        int64_t now = t_now_ms();
        if (now - last_ack > max_gap)
            max_gap = now - last_ack;
        last_ack = now;
        acks++;
        if (killed) {
            if (!t_first_after)
                t_first_after = now;
            acks_after++;
            if (acks_after >= 200 && now - t_first_after > 2000)
                break;
        } else if (acks == 150) {
            killed = ncl_leader(&ncl_main, "HFS", 10000);
            CHECKF(killed, "no leader for the stream HFS");
            t_kill = t_now_ms();
            CHECK_INT(ncl_kill(&ncl_main, killed), 0);
            printf("# killed the HFS leader, nats server %d, after %d acknowledged appends\n",
                   killed, acks);
        }
    }
    CHECKF(t_first_after, "no append was acknowledged after the leader was killed");
    printf("# leader kill: first acknowledged append %lld ms after the kill; longest gap between "
           "acknowledgements %lld ms; %d acknowledged (%zu bytes), %d refused or failed "
           "attempts\n",
           (long long)(t_first_after - t_kill), (long long)max_gap, acks, model.len, errors);
    for (int i = 0; i < 2; i++) {
        atomic_store(&f[i].give_up_ms, t_now_ms() + 30000);
        atomic_store(&f[i].final, (long long)model.len);
    }
    for (int i = 0; i < 2; i++) {
        pthread_join(f[i].th, NULL);
        EXPECTF(!f[i].err[0], "follower on node %d: %s", i + 2, f[i].err);
        EXPECTF(f[i].got.len == model.len && memcmp(f[i].got.p, model.p, model.len) == 0,
                "follower on node %d: %zu bytes, want %zu (%s)", i + 2, f[i].got.len, model.len,
                f[i].got.len < model.len ? "short" : "differ");
        printf("# follower on node %d: %d follows\n", i + 2, f[i].reconnects);
        tbuf_free(&f[i].got);
    }
    for (int i = 0; i < 3; i++)
        EXPECTF(node_file_eq(nodes[i], "faults/leader.log", model.p, model.len, 30000),
                "node %d's copy differs from the acknowledged appends", i + 1);
    CHECK_INT(ncl_restart(&ncl_main, killed), 0);
    tbuf_free(&model);
}

static void test_lease_holder_killed_during_put(void)
{
    enum { N = 256 * 1024, FIRST = 64 * 1024, MORE = 48 * 1024 };
    const char *path = "/faults/lease.log";
    uint8_t *data = malloc(N);
    CHECK(data);
    text_fill(data, N, 77);
    int fd = t_connect(nodes[0]->port);
    CHECK(fd >= 0);
    const char *head =
        t_fmt("PUT %s HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n", path);
    CHECK_INT(t_send_all(fd, head, strlen(head)), 0);
    CHECK_INT(send_chunk(fd, data, 4096), 0);
    /* followers on the other nodes once they have the resource (404 until then; no ?wait, see
     * rfol_main) */
    ths *h1 = NULL, *h2 = NULL;
    for (int64_t end = t_now_ms() + 15000; (!h1 || !h2) && t_now_ms() < end;) {
        for (int i = 1; i < 3; i++) {
            ths **h = i == 1 ? &h1 : &h2;
            if (*h)
                continue;
            *h = ths_get(nodes[i]->port, "/faults/lease.log?follow", NULL);
            if (*h && (*h)->r.status != 200) {
                ths_free(*h);
                *h = NULL;
            }
        }
        if (!h1 || !h2)
            t_sleep_ms(20);
    }
    CHECKF(h1 && h2, "no ?follow on nodes 2 and 3");
    for (size_t o = 4096; o < FIRST; o += 4096)
        CHECK_INT(send_chunk(fd, data + o, 4096), 0);
    CHECKF(ths_until(h1, FIRST, 30000), "node 2's follower has %zu bytes", h1->body.len);
    /* more bytes on their way, then the lease holder dies */
    for (size_t o = FIRST; o < FIRST + MORE; o += 4096)
        CHECK_INT(send_chunk(fd, data + o, 4096), 0);
    tsrv_kill9(nodes[0]);
    int64_t t_kill = t_now_ms();
    close(fd);
    /* the followers on the other nodes end (the lease lapses) with a prefix of what was sent */
    CHECKF(ths_end(h1, 30000), "node 2's follower did not end (%zu bytes)", h1->body.len);
    int64_t t_end1 = t_now_ms();
    CHECKF(ths_end(h2, 30000), "node 3's follower did not end (%zu bytes)", h2->body.len);
    size_t p = h1->body.len;
    CHECK(p >= FIRST && p <= FIRST + MORE);
    CHECK_MEM(h1->body.p, h1->body.len, data, p);
    CHECK_MEM(h2->body.p, h2->body.len, data, p);
    CHECK(node_file_eq(nodes[1], "faults/lease.log", data, p, 10000));
    CHECK(node_file_eq(nodes[2], "faults/lease.log", data, p, 10000));
    /* node 3 continues it exactly once the lease has expired */
    thttp_resp r;
    int st = 0;
    int64_t end = t_now_ms() + 30000;
    do {
        st = nreq(nodes[2]->port, "PUT", path, t_fmt("X-Append-Offset: %zu\r\n", p), data + p,
                  N - p, 30000, &r);
        if (st == 403) {
            thttp_free(&r);
            t_sleep_ms(50);
        }
    } while (st == 403 && t_now_ms() < end);
    int64_t t_take = t_now_ms();
    CHECKF(st == 200, "the continuing PUT: %d", st);
    CHECK_INT(nsize(&r), N);
    thttp_free(&r);
    printf("# lease holder killed with %zu of %d bytes in: followers ended after %lld ms, another "
           "node took over after %lld ms (-lease=2s)\n",
           p, FIRST + MORE, (long long)(t_end1 - t_kill), (long long)(t_take - t_kill));
    for (int i = 1; i < 3; i++) {
        CHECK(node_file_eq(nodes[i], "faults/lease.log", data, N, 30000));
        ths *h = ths_get(nodes[i]->port, "/faults/lease.log?follow", NULL);
        CHECK(h && ths_end(h, 30000));
        CHECK_MEM(h->body.p, h->body.len, data, (size_t)N);
        ths_free(h);
    }
    /* the killed node comes back and catches up */
    CHECK_INT(tsrv_restart(nodes[0]), 0);
    CHECKF(node_file_eq(nodes[0], "faults/lease.log", data, N, 30000),
           "the restarted node's copy did not catch up");
    CHECK(node_get_eq(nodes[0]->port, path, NULL, data, N, 30000));
    ths_free(h1);
    ths_free(h2);
    free(data);
}

static int http_status(int port, const char *path)
{
    thttp_resp r;
    int st = nreq(port, "GET", path, NULL, NULL, 0, 5000, &r);
    thttp_free(&r);
    return st;
}

static void test_cut_off_from_nats(void)
{
    int mport = t_closed_port();
    char mflag[64];
    snprintf(mflag, sizeof(mflag), "-metrics=127.0.0.1:%d", mport);
    const char *more[] = {mflag, NULL};
    tsrv *c = node_start(&ncl_main, "2s", more);
    CHECK(c);
    CHECK_INT(http_status(mport, "/healthz"), 200);
    const char *path = "/faults/cut.log";
    tws *w = tws_append_retry(c->port, path, 15000);
    CHECK(w);
    tbuf sent = {0};
    uint8_t msg[1000];
    for (int i = 0; i < 20; i++) {
        text_fill(msg, sizeof(msg), (unsigned)i);
        CHECK_INT(tws_send(w, WS_OP_TEXT, 1, msg, sizeof(msg)), 0);
        tbuf_add(&sent, msg, sizeof(msg));
    }
    CHECK(node_file_eq(c, "faults/cut.log", sent.p, sent.len, 15000));
    tws *wf = tws_follow(c->port, "/faults/cut.log?frames=binary");
    ths *hf = ths_get(c->port, "/faults/cut.log?follow", NULL);
    CHECK(wf && hf);
    tws_collect col = {.opcode = WS_OP_BINARY, .answer_pings = 1};
    CHECK_INT(tws_collect_until(wf, &col, sent.len, 10000), 0);
    CHECK(ths_until(hf, sent.len, 10000));
    /* and a follower on this node of a resource written through another node */
    tws *wr = tws_append_retry(nodes[0]->port, "/faults/cut-remote.log", 15000);
    CHECK(wr);
    CHECK_INT(tws_send_text(wr, "remote\n"), 0);
    CHECK(node_file_eq(c, "faults/cut-remote.log", "remote\n", 7, 15000));
    tws *wrf = tws_follow(c->port, "/faults/cut-remote.log?frames=binary");
    CHECK(wrf);
    tws_collect colr = {.opcode = WS_OP_BINARY, .answer_pings = 1};
    CHECK_INT(tws_collect_until(wrf, &colr, 7, 10000), 0);

    /* the cluster goes away */
    int64_t t0 = t_now_ms(); /* (SIGTERM to every server, then waiting for them to exit) */
    CHECK_INT(ncl_down(&ncl_main), 0);
    tws_send(w, WS_OP_TEXT, 1, "after\n", 6); /* may or may not be taken */
    char why[128] = "";
    unsigned code = tws_read_close(w, why, sizeof(why), 30000);
    int64_t t_app = t_now_ms();
    EXPECTF(code == 1011, "the appender's close: %u (%s)", code, why);
    tws_free(w);
    CHECKF(tws_collect_until(wf, &col, SIZE_MAX, 30000) == 0 || col.closed || col.eof,
           "the WebSocket follower: %s", col.err);
    int64_t t_wf = t_now_ms();
    tws_collect_until(wrf, &colr, SIZE_MAX, 30000);
    int64_t t_wrf = t_now_ms();
    EXPECTF(colr.closed && colr.close_code == 1011,
            "the WebSocket follower of the resource written through another node ended with %u "
            "(closed %d, eof %d)",
            colr.close_code, colr.closed, colr.eof);
    EXPECTF(col.closed && col.close_code == 1011,
            "the WebSocket follower of the resource written through this node ended with %u "
            "(closed %d)",
            col.close_code, col.closed);
    while (!hf->eof && t_now_ms() - t_wf < 30000)
        if (ths_pump(hf, 1000) < 0)
            break;
    int64_t t_hf = t_now_ms();
    EXPECTF(hf->eof && !hf->done,
            "the ?follow stream should end without its last chunk (eof %d, done %d)", hf->eof,
            hf->done);
    int hz = 0, put = 0;
    int64_t end = t_now_ms() + 30000;
    while (t_now_ms() < end && ((hz = http_status(mport, "/healthz")) != 503))
        t_sleep_ms(50);
    int64_t t_hz = t_now_ms();
    CHECKF(hz == 503, "/healthz: %d", hz);
    thttp_resp r;
    put = nreq(c->port, "PUT", "/faults/other.log", NULL, "x", 1, 30000, &r);
    thttp_free(&r);
    EXPECTF(put == 503, "a PUT while cut off: %d", put);
    printf("# cut off: appender closed 1011 after %lld ms, WebSocket follower %lld ms (of a "
           "resource written elsewhere %lld ms), ?follow %lld ms, /healthz 503 after %lld ms\n",
           (long long)(t_app - t0), (long long)(t_wf - t0), (long long)(t_wrf - t0),
           (long long)(t_hf - t0), (long long)(t_hz - t0));
    tws_free(wr);
    tws_free(wrf);
    tws_free(wf);
    tws_collect_free(&colr);
    /* what the followers got is a prefix of what was sent */
    CHECK(col.data.len >= sent.len && hf->body.len >= sent.len);
    CHECK_MEM(col.data.p, sent.len, sent.p, sent.len);
    tws_collect_free(&col);
    ths_free(hf);

    /* the cluster comes back: the node recovers by itself */
    int64_t t1 = t_now_ms(); /* (each server is started and waited for in turn) */
    CHECK_INT(ncl_restart_all(&ncl_main), 0);
    end = t1 + 60000;
    while (t_now_ms() < end && ((hz = http_status(mport, "/healthz")) != 200))
        t_sleep_ms(100);
    CHECKF(hz == 200, "/healthz after the cluster came back: %d", hz);
    printf("# cluster restarted: /healthz 200 after %lld ms\n", (long long)(t_now_ms() - t1));
    long long size = -1;
    int st = 0;
    end = t_now_ms() + 30000;
    do { /* (the old lease may still be held until it expires) */
        size = nhead_size(c->port, path);
        st = nreq(c->port, "PUT", path, t_fmt("X-Append-Offset: %lld\r\n", size), "back\n", 5,
                  30000, &r);
        thttp_free(&r);
        if (st != 200)
            t_sleep_ms(100);
    } while (st != 200 && t_now_ms() < end);
    CHECKF(st == 200, "a PUT after recovery: %d", st);
    CHECK(size >= (long long)sent.len);
    /* every node has the same bytes: what was sent before the cut (and maybe "after\n"), then
     * "back\n" */
    tbuf want = {0};
    CHECK_INT(t_file_read(tsrv_path(c, "faults/cut.log"), &want), 0);
    CHECK_INT(want.len, size + 5);
    CHECK_MEM(want.p, sent.len, sent.p, sent.len);
    CHECK(memcmp(want.p + want.len - 5, "back\n", 5) == 0);
    for (int i = 0; i < 3; i++) {
        CHECKF(node_file_eq(nodes[i], "faults/cut.log", want.p, want.len, 30000),
               "node %d's copy after recovery", i + 1);
        ths *h = ths_get(nodes[i]->port, "/faults/cut.log?follow", NULL);
        CHECK(h && ths_end(h, 30000));
        CHECK_MEM(h->body.p, h->body.len, want.p, want.len);
        ths_free(h);
    }
    /* and a live follow across nodes works again */
    tws *w2 = tws_append_retry(c->port, "/faults/cut2.log", 15000);
    CHECK(w2);
    CHECK_INT(tws_send_text(w2, "again\n"), 0);
    tws *f2 = NULL;
    end = t_now_ms() + 15000;
    while (!f2 && t_now_ms() < end) {
        f2 = tws_connect(nodes[1]->port, "/faults/cut2.log?frames=binary", NULL, &r);
        thttp_free(&r);
        if (!f2)
            t_sleep_ms(20);
    }
    CHECK(f2);
    CHECK_INT(tws_send_text(w2, "more\n"), 0);
    CHECK_INT(tws_end_append(w2), 0);
    tws_collect c2 = {.opcode = WS_OP_BINARY, .answer_pings = 1};
    CHECK_INT(tws_collect_until(f2, &c2, SIZE_MAX, 30000), 0);
    CHECK_MEM(c2.data.p, c2.data.len, "again\nmore\n", (size_t)11);
    CHECK_INT(c2.close_code, 1000);
    tws_collect_free(&c2);
    tws_free(w2);
    tws_free(f2);
    tbuf_free(&want);
    tbuf_free(&sent);
    CHECK_INT(tsrv_stop(c), 0);
}

int main(void)
{
    if (!ncl_available())
        return test_report();
    setenv("HFS_TEST_TIMEOUT", "180", 0); /* each test waits out elections and lease expiries */
    if (ncl_start(&ncl_main) == 0) {
        for (int i = 0; i < 3; i++)
            nodes[i] = node_start(&ncl_main, "2s", NULL);
        if (nodes[0] && nodes[1] && nodes[2]) {
            RUN(test_stream_leader_killed_during_appends);
            RUN(test_lease_holder_killed_during_put);
            RUN(test_cut_off_from_nats); /* last: it stops the whole cluster */
        }
        for (int i = 0; i < 3; i++)
            tsrv_stop(nodes[i]);
        ncl_stop(&ncl_main);
    }
    return test_report();
}
