/* test_two_servers.c -- two server processes on one root never both append to one file: the
 * writer's lease is also a lock on the file (an OFD lock), so an appender on the other server
 * gets 403 (WebSocket and PUT alike) while it is held, and takes over exactly at the size the
 * first left once it is released. */
#include "../harness.h"

#include <stdlib.h>
#include <unistd.h>

/* A PUT of body to path with extra headers; the status, and the X-Resource-Size in *size. */
static int put(int port, const char *path, const char *extra, const char *body, long long *size)
{
    thttp_resp r;
    const char *req = t_fmt("PUT %s HTTP/1.1\r\nHost: h\r\nConnection: close\r\n%sContent-Length: "
                            "%zu\r\n\r\n%s",
                            path, extra ? extra : "", strlen(body), body);
    if (thttp_raw(port, req, strlen(req), &r, 0) < 0)
        return 0;
    const char *v = thttp_header(&r, "X-Resource-Size");
    if (size)
        *size = v ? atoll(v) : -1;
    int status = r.status;
    thttp_free(&r);
    return status;
}

static void test_one_writer_across_processes(void)
{
    tsrv *a = tsrv_start(NULL);
    CHECK(a);
    const char *flags[] = {t_fmt("-root=%s", a->root), NULL};
    tsrv *b = tsrv_start(flags);
    CHECK(b);
    long long size = 0;
    char why[128];

    /* a's appender holds the lease */
    tws *w = tws_append(a->port, "/shared.log");
    CHECK(w);
    CHECK_INT(tws_send_text(w, "one\n"), 0);
    CHECK(t_file_wait_eq(tsrv_path(a, "shared.log"), "one\n", 4, T_TIMEOUT));

    /* b refuses both kinds of appender, and appends nothing */
    CHECK_INT(put(b->port, "/shared.log", NULL, "nope\n", NULL), 403);
    thttp_resp resp;
    tws *w2 = tws_connect(b->port, "/shared.log", "X-Verb: APPEND\r\n", &resp);
    CHECK(w2 == NULL);
    CHECK_INT(resp.status, 403);
    thttp_free(&resp);
    CHECK_INT(tws_send_text(w, "two\n"), 0);
    CHECK(t_file_wait_eq(tsrv_path(a, "shared.log"), "one\ntwo\n", 8, T_TIMEOUT));

    /* a's writer leaves (its CLOSE echoed once its bytes are in the file): b takes over at 8 */
    CHECK_INT(tws_send_close(w, 1000), 0);
    CHECK_INT(tws_read_close(w, why, sizeof(why), T_TIMEOUT), 1000);
    tws_free(w);
    int status = 0;
    for (int i = 0; i < 50 && (status = put(b->port, "/shared.log", "X-Append-Offset: 8\r\n",
                                            "three\n", &size)) == 403;
         i++)
        t_sleep_ms(20); /* (the lock goes when a's session has ended) */
    CHECK_INT(status, 200);
    CHECK_INT(size, 14);

    /* and the other way round: a refuses while b holds it, then works again */
    tws *wb = tws_append(b->port, "/shared.log");
    CHECK(wb);
    CHECK_INT(put(a->port, "/shared.log", NULL, "nope\n", NULL), 403);
    CHECK_INT(tws_send_close(wb, 1000), 0);
    CHECK_INT(tws_read_close(wb, why, sizeof(why), T_TIMEOUT), 1000);
    tws_free(wb);
    for (int i = 0; i < 50 && (status = put(a->port, "/shared.log", "X-Append-Offset: 14\r\n",
                                            "four\n", &size)) == 403;
         i++)
        t_sleep_ms(20);
    CHECK_INT(status, 200);
    CHECK(t_file_wait_eq(tsrv_path(a, "shared.log"), "one\ntwo\nthree\nfour\n", 19, T_TIMEOUT));

    /* a server killed while holding the lease frees it (the kernel drops the lock) */
    tws *wk = tws_append(a->port, "/shared.log");
    CHECK(wk);
    CHECK_INT(put(b->port, "/shared.log", NULL, "nope\n", NULL), 403);
    tsrv_kill9(a);
    CHECK_INT(put(b->port, "/shared.log", "X-Append-Offset: 19\r\n", "five\n", &size), 200);
    CHECK_INT(size, 24);
    tws_free(wk);
    tsrv_stop(b);
    CHECK_INT(tsrv_restart(a), 0);
    tsrv_stop(a);
}

int main(void)
{
    RUN(test_one_writer_across_processes);
    return test_report();
}
