/* test_persist.c -- what survives the server process: bytes appended before a SIGKILL are served
 * after a restart on the same root (as a 200), a new appender is accepted there, and a SIGTERM with
 * sessions open exits cleanly with every accepted byte on disk. */
#include "../harness.h"

#include <signal.h>
#include <unistd.h>

static void test_kill9_mid_session_then_restart(void)
{
    tsrv *s = tsrv_start(NULL);
    thttp_resp r;
    CHECK(s);
    tws *w = tws_append(s->port, "/p/log.txt");
    CHECK(w);
    CHECK(tws_send_text(w, "persist-1\n") == 0);
    CHECK(tws_send(w, WS_OP_BINARY, 1, "persist-2\n", 10) == 0);
    CHECK(tws_send(w, WS_OP_TEXT, 0, "persist-", 8) == 0);
    CHECK(tws_send(w, WS_OP_CONT, 1, "3\n", 2) == 0);
    CHECK(t_file_wait_eq(tsrv_path(s, "p/log.txt"), "persist-1\npersist-2\npersist-3\n", 30, 2000));
    tws *f = tws_follow(s->port, "/p/log.txt");
    CHECK(f);
    tws_collect c = {0};
    CHECKF(tws_collect_until(f, &c, 30, T_TIMEOUT) == 0, "%s", c.err);
    /* half a frame in flight when the process dies */
    CHECK(t_send_all(w->fd, "\x81\x85", 2) == 0);

    tsrv_kill9(s);
    CHECK(!tsrv_alive(s));
    CHECK(t_wait_eof(f->fd, T_TIMEOUT)); /* the follower's connection is gone */
    tws_collect_free(&c);
    tws_free(f);
    tws_free(w);

    CHECK(tsrv_restart(s) == 0);
    CHECK(thttp_get(s->port, "/p/log.txt", NULL, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK_STR(thttp_header(&r, "Content-Length"), "30");
    CHECK_MEM(r.body.p, r.body.len, "persist-1\npersist-2\npersist-3\n", 30);
    thttp_free(&r);
    /* a follower handshake gets the same 200: there is no appender after the restart */
    f = tws_follow(s->port, "/p/log.txt");
    CHECK(!f);

    w = tws_append(s->port, "/p/log.txt");
    CHECKF(w, "no appender accepted after the restart");
    CHECK(tws_send_text(w, "after\n") == 0);
    tws_frame fr;
    CHECK(tws_send_close(w, 1000) == 0);
    CHECK_INT(tws_read_type(w, WS_EV_CLOSE, &fr, T_TIMEOUT), WS_EV_CLOSE);
    tws_free(w);
    CHECK(thttp_get(s->port, "/p/log.txt", NULL, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK_MEM(r.body.p, r.body.len, "persist-1\npersist-2\npersist-3\nafter\n", 36);
    thttp_free(&r);
    tsrv_stop(s);
}

/* Several kill/restart rounds on one root: every round's bytes accumulate. */
static void test_repeated_crashes(void)
{
    tsrv *s = tsrv_start(NULL);
    tbuf want = {0};
    CHECK(s);
    for (int round = 0; round < 3; round++) {
        tws *w = tws_append(s->port, "/crash.log");
        CHECKF(w, "round %d: no appender", round);
        const char *msg = t_fmt("round %d\n", round);
        CHECK(tws_send_text(w, msg) == 0);
        tbuf_adds(&want, msg);
        CHECK(t_file_wait_eq(tsrv_path(s, "crash.log"), want.p, want.len, 2000));
        tsrv_kill9(s);
        tws_free(w);
        CHECK(tsrv_restart(s) == 0);
    }
    thttp_resp r;
    CHECK(thttp_get(s->port, "/crash.log", NULL, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK_MEM(r.body.p, r.body.len, want.p, want.len);
    thttp_free(&r);
    tbuf_free(&want);
    tsrv_stop(s);
}

/* SIGTERM while an appender and a follower are connected: the process exits 0 (checked by
 * tsrv_stop, with the sanitizer log), every accepted byte is on disk and reached the follower. */
static void test_sigterm_with_open_sessions(void)
{
    tsrv *s = tsrv_start(NULL);
    CHECK(s);
    tws *w = tws_append(s->port, "/term.txt");
    CHECK(w);
    CHECK(tws_send_text(w, "before shutdown") == 0);
    CHECK(t_file_wait_eq(tsrv_path(s, "term.txt"), "before shutdown", 15, 2000));
    tws *f = tws_follow(s->port, "/term.txt");
    CHECK(f);
    tws *idle = tws_follow(s->port, "/term.txt");
    CHECK(idle);
    int http = t_connect(s->port); /* an idle keep-alive connection too */
    CHECK(http >= 0);

    tsrv_term(s);
    tws_collect c = {0}, ci = {0};
    CHECKF(tws_collect_until(f, &c, SIZE_MAX, 15000) == 0 || c.eof, "%s", c.err);
    CHECK_MEM(c.data.p, c.data.len, "before shutdown", 15);
    CHECKF(c.closed, "the follower got no CLOSE at shutdown");
    CHECKF(tws_collect_until(idle, &ci, SIZE_MAX, 15000) == 0 || ci.eof, "%s", ci.err);
    CHECK(t_wait_eof(w->fd, 15000));
    CHECK(t_wait_eof(http, 15000));
    close(http);
    tws_collect_free(&c);
    tws_collect_free(&ci);
    tws_free(f);
    tws_free(idle);
    tws_free(w);
    CHECK(t_file_wait_eq(tsrv_path(s, "term.txt"), "before shutdown", 15, 0));
    tsrv_stop(s);
}

/* The listening line means ready: a SIGTERM right after it still ends in a clean exit 0. */
static void test_sigterm_right_after_start(void)
{
    for (int i = 0; i < 10; i++) {
        tsrv *s = tsrv_start(NULL);
        CHECK(s);
        CHECKF(tsrv_stop(s) == 0, "round %d", i);
    }
}

int main(void)
{
    RUN(test_kill9_mid_session_then_restart);
    RUN(test_repeated_crashes);
    RUN(test_sigterm_with_open_sessions);
    RUN(test_sigterm_right_after_start);
    return test_report();
}
