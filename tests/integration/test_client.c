/* test_client.c -- the client library (include/httpfstream.h) against the real server: error codes
 * (NOT_FOUND, CONFLICT, HTTP with its status, NETWORK, INVALID, CLOSED with 1009), hfs_strerror,
 * the reader's end of stream for live and finished resources, BINARY following, hfs_append from a
 * pipe and from a bad descriptor, and a server that vanishes under a reader. */
#include "../harness.h"
#include "httpfstream.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

/* Reads r to its end into out; returns the final hfs_reader_read result (0 at a clean end). */
static ssize_t read_all(hfs_reader *r, tbuf *out)
{
    uint8_t buf[4096];
    for (;;) {
        ssize_t n = hfs_reader_read(r, buf, sizeof(buf));
        if (n <= 0)
            return n;
        tbuf_add(out, buf, (size_t)n);
    }
}

static void test_strerror(void)
{
    const char *seen[12];
    for (int code = 0; code >= -11; code--) {
        const char *m = hfs_strerror(code);
        CHECKF(m && *m, "code %d", code);
        for (int k = 0; k < -code; k++)
            CHECKF(strcmp(seen[k], m) != 0, "codes %d and %d share \"%s\"", -k, code, m);
        seen[-code] = m;
    }
    const int odd[] = {-12, -100, 1, 42, -2147483647 - 1, 2147483647};
    for (int i = 0; i < 6; i++)
        CHECKF(hfs_strerror(odd[i]) != NULL, "code %d", odd[i]);
}

static void test_invalid_urls(void)
{
    tsrv *s = tsrv_start(NULL);
    CHECK(s);
    const char *bad[] = {"",
                         "ftp://127.0.0.1/x",
                         "ws://127.0.0.1/x",
                         "127.0.0.1/x",
                         "http://",
                         "http:///x",
                         "http://[::1/x",
                         t_fmt("http://127.0.0.1:99999/x"),
                         "http://127.0.0.1:abc/x",
                         "http://127.0.0.1:-1/x",
                         "not a url at all"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        hfs_reader *r = (hfs_reader *)1;
        hfs_writer *w = (hfs_writer *)1;
        hfs_error e;
        memset(&e, 0, sizeof(e));
        int rc = hfs_follow(bad[i], NULL, &r, &e);
        EXPECTF(rc == HFS_ERR_INVALID && e.code == rc && !r, "follow \"%s\": %d (%s)", bad[i], rc,
                e.message);
        if (rc == HFS_OK)
            hfs_reader_close(r);
        rc = hfs_open_append(bad[i], NULL, &w, &e);
        EXPECTF(rc == HFS_ERR_INVALID && e.code == rc && !w, "append \"%s\": %d (%s)", bad[i], rc,
                e.message);
        if (rc == HFS_OK)
            hfs_writer_close(w, NULL);
        int null = open("/dev/null", O_RDONLY);
        EXPECTF(hfs_append(bad[i], null, NULL, NULL, NULL) == HFS_ERR_INVALID, "hfs_append \"%s\"",
                bad[i]);
        close(null);
    }
    /* no place for the handle */
    CHECK_INT(hfs_follow(tsrv_url(s, "/x"), NULL, NULL, NULL), HFS_ERR_INVALID);
    CHECK_INT(hfs_open_append(tsrv_url(s, "/x"), NULL, NULL, NULL), HFS_ERR_INVALID);
    CHECK_INT(t_tree_count(s->root), 0);
    /* release functions take NULL */
    hfs_reader_close(NULL);
    hfs_writer_close(NULL, NULL);
    tsrv_stop(s);
}

static void test_not_found_and_conflict(void)
{
    tsrv *s = tsrv_start(NULL);
    hfs_reader *r = NULL;
    hfs_writer *w = NULL, *w2 = NULL;
    hfs_error e;
    CHECK(s);

    CHECK_INT(hfs_follow(tsrv_url(s, "/nope.txt"), NULL, &r, &e), HFS_ERR_NOT_FOUND);
    CHECK_INT(e.code, HFS_ERR_NOT_FOUND);
    CHECK_INT(e.http_status, 404);
    CHECKF(strstr(e.message, "/nope.txt"), "message does not name the URL: %s", e.message);
    CHECK(!r);

    CHECK_INT(hfs_open_append(tsrv_url(s, "/one.txt"), NULL, &w, &e), HFS_OK);
    CHECK(w);
    CHECK_INT(hfs_open_append(tsrv_url(s, "/one.txt"), NULL, &w2, &e), HFS_ERR_CONFLICT);
    CHECK_INT(e.code, HFS_ERR_CONFLICT);
    CHECK_INT(e.http_status, 403);
    CHECK(!w2);
    int null = open("/dev/null", O_RDONLY);
    CHECK_INT(hfs_append(tsrv_url(s, "/one.txt"), null, NULL, NULL, &e), HFS_ERR_CONFLICT);
    close(null);
    CHECK_INT(hfs_writer_write(w, "ok", 2), HFS_OK);
    CHECK_INT(hfs_writer_close(w, &e), HFS_OK);
    CHECK(t_file_wait_eq(tsrv_path(s, "one.txt"), "ok", 2, 2000));
    tsrv_stop(s);
}

static void test_other_http_statuses(void)
{
    tsrv *s = tsrv_start(NULL);
    hfs_reader *r = NULL;
    hfs_writer *w = NULL;
    hfs_error e;
    CHECK(s);
    CHECK(mkdir(tsrv_path(s, "d"), 0755) == 0);
    CHECK(t_file_write(tsrv_path(s, "f.txt"), "f", 1) == 0);

    /* APPEND to a directory or under a file: 409 */
    const char *conflicts[] = {"/d", "/f.txt/x"};
    for (int i = 0; i < 2; i++) {
        CHECK_INT(hfs_open_append(tsrv_url(s, conflicts[i]), NULL, &w, &e), HFS_ERR_HTTP);
        CHECK_INT(e.http_status, 409);
        CHECKF(strstr(e.message, "409"), "message: %s", e.message);
        CHECK(!w);
    }
    /* FOLLOW of a directory without its slash: 301 */
    CHECK_INT(hfs_follow(tsrv_url(s, "/d"), NULL, &r, &e), HFS_ERR_HTTP);
    CHECK_INT(e.http_status, 301);
    CHECK(!r);
    tsrv_stop(s);
}

static void test_network_errors(void)
{
    int port = t_closed_port();
    hfs_reader *r = NULL;
    hfs_writer *w = NULL;
    hfs_error e;
    CHECK(port > 0);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/x.txt", port);
    CHECK_INT(hfs_follow(url, NULL, &r, &e), HFS_ERR_NETWORK);
    CHECK_INT(e.code, HFS_ERR_NETWORK);
    CHECK_INT(e.http_status, 0);
    CHECK(!r);
    CHECK_INT(hfs_open_append(url, NULL, &w, &e), HFS_ERR_NETWORK);
    CHECK(!w);
    int null = open("/dev/null", O_RDONLY);
    CHECK_INT(hfs_append(url, null, NULL, NULL, &e), HFS_ERR_NETWORK);
    close(null);
}

static void test_reader_end_of_stream(void)
{
    tsrv *s = tsrv_start(NULL);
    hfs_reader *r = NULL;
    hfs_writer *w = NULL;
    hfs_error e;
    uint8_t buf[16];
    tbuf got = {0};
    CHECK(s);
    char url[128];
    snprintf(url, sizeof(url), "%s", tsrv_url(s, "/eos.txt"));

    CHECK_INT(hfs_open_append(url, NULL, &w, &e), HFS_OK);
    CHECK_INT(hfs_writer_write(w, "abc", 3), HFS_OK);
    CHECK_INT(hfs_writer_write(w, "", 0), HFS_OK);
    CHECK(t_file_wait_eq(tsrv_path(s, "eos.txt"), "abc", 3, 2000));
    CHECK_INT(hfs_follow(url, NULL, &r, &e), HFS_OK);
    size_t have = 0;
    while (have < 3) {
        ssize_t n = hfs_reader_read(r, buf + have, sizeof(buf) - have);
        CHECKF(n > 0, "read: %zd", n);
        have += (size_t)n;
    }
    CHECK_MEM(buf, have, "abc", 3);
    CHECK_INT(hfs_writer_write(w, "def", 3), HFS_OK);
    CHECK_INT(hfs_writer_close(w, &e), HFS_OK);
    CHECK_INT(read_all(r, &got), 0);
    CHECK_MEM(got.p, got.len, "def", 3);
    CHECK_INT(hfs_reader_read(r, buf, sizeof(buf)), 0); /* and again */
    CHECK_INT(hfs_reader_read(r, buf, sizeof(buf)), 0);
    CHECK_INT(hfs_reader_bytes(r), 6);
    CHECK_INT(hfs_reader_error(r)->code, HFS_OK);
    hfs_reader_close(r);

    /* no appender: the 200 body, then 0 */
    got.len = 0;
    CHECK_INT(hfs_follow(url, NULL, &r, &e), HFS_OK);
    CHECK_INT(read_all(r, &got), 0);
    CHECK_MEM(got.p, got.len, "abcdef", 6);
    CHECK_INT(hfs_reader_read(r, buf, 1), 0);
    CHECK_INT(hfs_reader_bytes(r), 6);
    hfs_reader_close(r);

    /* an empty live resource whose appender leaves at once */
    CHECK_INT(hfs_open_append(tsrv_url(s, "/empty.txt"), NULL, &w, &e), HFS_OK);
    CHECK_INT(hfs_follow(tsrv_url(s, "/empty.txt"), NULL, &r, &e), HFS_OK);
    CHECK_INT(hfs_writer_close(w, &e), HFS_OK);
    CHECK_INT(hfs_reader_read(r, buf, sizeof(buf)), 0);
    hfs_reader_close(r);
    tbuf_free(&got);
    tsrv_stop(s);
}

static void test_follow_any_bytes(void)
{
    tsrv *s = tsrv_start(NULL);
    uint8_t data[30000];
    CHECK(s);
    t_rand_fill(data, sizeof(data));
    char url[128];
    snprintf(url, sizeof(url), "%s", tsrv_url(s, "/rand.bin"));
    hfs_writer *w = NULL;
    hfs_error e;
    CHECK_INT(hfs_open_append(url, NULL, &w, &e), HFS_OK);
    CHECK_INT(hfs_writer_write(w, data, 10000), HFS_OK);
    CHECK(t_file_wait_eq(tsrv_path(s, "rand.bin"), data, 10000, 2000));

    hfs_client_options bin, text;
    hfs_client_options_init(&bin);
    hfs_client_options_init(&text);
    bin.binary = 1;
    hfs_reader *rb = NULL, *rt = NULL;
    CHECK_INT(hfs_follow(url, &bin, &rb, &e), HFS_OK);
    CHECK_INT(hfs_follow(url, &text, &rt, &e), HFS_OK);
    CHECK_INT(hfs_writer_write(w, data + 10000, 20000), HFS_OK);
    CHECK_INT(hfs_writer_close(w, &e), HFS_OK);
    tbuf gb = {0}, gt = {0};
    CHECK_INT(read_all(rb, &gb), 0);
    CHECK_INT(read_all(rt, &gt), 0);
    CHECK_MEM(gb.p, gb.len, data, sizeof(data));
    CHECK_MEM(gt.p, gt.len, data, sizeof(data));
    hfs_reader_close(rb);
    hfs_reader_close(rt);
    tbuf_free(&gb);
    tbuf_free(&gt);
    tsrv_stop(s);
}

static void test_writer_message_limit(void)
{
    const char *flags[] = {"-max-message=1000", NULL};
    tsrv *s = tsrv_start(flags);
    uint8_t big[2000];
    hfs_writer *w = NULL;
    hfs_error e;
    CHECK(s);
    memset(big, 'm', sizeof(big));
    CHECK_INT(hfs_open_append(tsrv_url(s, "/lim.txt"), NULL, &w, &e), HFS_OK);
    CHECK_INT(hfs_writer_write(w, big, 1000), HFS_OK);
    int rc = hfs_writer_write(w, big, 2000);
    int64_t deadline = t_now_ms() + 3000;
    while (rc == HFS_OK && t_now_ms() < deadline) {
        t_sleep_ms(20);
        rc = hfs_writer_write(w, "x", 1);
    }
    CHECKF(rc == HFS_ERR_CLOSED, "writes after a 1009 return %d (%s)", rc,
           hfs_writer_error(w)->message);
    CHECK_INT(hfs_writer_error(w)->code, HFS_ERR_CLOSED);
    CHECK_INT(hfs_writer_error(w)->close_code, 1009);
    CHECK(hfs_writer_close(w, &e) != HFS_OK);
    CHECK(t_file_wait_eq(tsrv_path(s, "lim.txt"), big, 1000, 2000));
    tsrv_stop(s);
}

typedef struct pipe_job {
    int fd;
    const char *pieces[4];
    tsrv *s;
    int late; /* a piece did not reach the file before the next was written */
} pipe_job;

static void *pipe_writer(void *arg)
{
    pipe_job *j = arg;
    for (int i = 0; i < 4 && j->pieces[i]; i++) {
        ssize_t n = write(j->fd, j->pieces[i], strlen(j->pieces[i]));
        (void)n;
        /* each piece reaches the server before the next is written (sent as it arrives) */
        tbuf want = {0};
        for (int k = 0; k <= i; k++)
            tbuf_adds(&want, j->pieces[k]);
        if (!t_file_wait_eq(tsrv_path(j->s, "piped.txt"), want.p, want.len, 3000))
            j->late = 1;
        tbuf_free(&want);
    }
    close(j->fd);
    return NULL;
}

static void test_append_from_pipe(void)
{
    tsrv *s = tsrv_start(NULL);
    int p[2];
    uint64_t sent = 0;
    hfs_error e;
    CHECK(s);
    CHECK(pipe(p) == 0);
    pipe_job j = {.fd = p[1], .pieces = {"line one\n", "line two\n", "line three\n", NULL}, .s = s};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, pipe_writer, &j) == 0);
    CHECK_INT(hfs_append(tsrv_url(s, "/piped.txt"), p[0], NULL, &sent, &e), HFS_OK);
    pthread_join(t, NULL);
    close(p[0]);
    CHECKF(!j.late, "hfs_append held bytes back instead of sending them as they arrived");
    CHECK_INT(sent, 29);
    CHECK(t_file_wait_eq(tsrv_path(s, "piped.txt"), "line one\nline two\nline three\n", 29, 2000));

    /* the slot is free again, and an empty pipe appends nothing */
    CHECK(pipe(p) == 0);
    close(p[1]);
    CHECK_INT(hfs_append(tsrv_url(s, "/piped.txt"), p[0], NULL, &sent, &e), HFS_OK);
    close(p[0]);
    CHECK_INT(sent, 0);
    CHECK(t_file_wait_eq(tsrv_path(s, "piped.txt"), "line one\nline two\nline three\n", 29, 0));
    tsrv_stop(s);
}

static void test_append_bad_descriptor(void)
{
    tsrv *s = tsrv_start(NULL);
    hfs_error e;
    uint64_t sent = 1;
    CHECK(s);
    CHECK_INT(hfs_append(tsrv_url(s, "/bad.txt"), -1, NULL, &sent, &e), HFS_ERR_INVALID);
    CHECK_INT(sent, 0);
    /* descriptors that cannot be read: write-only, a directory */
    int fds[2] = {open("/dev/null", O_WRONLY), open(s->root, O_RDONLY | O_DIRECTORY)};
    CHECK(fds[0] >= 0 && fds[1] >= 0);
    for (int i = 0; i < 2; i++) {
        int rc = hfs_append(tsrv_url(s, "/bad.txt"), fds[i], NULL, &sent, &e);
        close(fds[i]);
        CHECKF(rc == HFS_ERR_IO && e.code == HFS_ERR_IO, "descriptor %d: %d (%s)", i, rc,
               e.message);
        CHECK_INT(sent, 0);
    }
    /* the session it opened was ended: a new appender gets in */
    hfs_writer *w = NULL;
    int64_t deadline = t_now_ms() + 2000;
    int rc;
    while ((rc = hfs_open_append(tsrv_url(s, "/bad.txt"), NULL, &w, &e)) == HFS_ERR_CONFLICT &&
           t_now_ms() < deadline)
        t_sleep_ms(10);
    CHECK_INT(rc, HFS_OK);
    CHECK_INT(hfs_writer_close(w, &e), HFS_OK);
    tsrv_stop(s);
}

/* The server dies under a live reader: the read fails with a network error, not 0. */
static void test_server_vanishes(void)
{
    tsrv *s = tsrv_start(NULL);
    hfs_writer *w = NULL;
    hfs_reader *r = NULL;
    hfs_error e;
    uint8_t buf[64];
    CHECK(s);
    char url[128];
    snprintf(url, sizeof(url), "%s", tsrv_url(s, "/v.txt"));
    CHECK_INT(hfs_open_append(url, NULL, &w, &e), HFS_OK);
    CHECK_INT(hfs_writer_write(w, "12345", 5), HFS_OK);
    CHECK_INT(hfs_follow(url, NULL, &r, &e), HFS_OK);
    size_t have = 0;
    while (have < 5) {
        ssize_t n = hfs_reader_read(r, buf + have, sizeof(buf) - have);
        CHECKF(n > 0, "read: %zd", n);
        have += (size_t)n;
    }
    tsrv_kill9(s);
    ssize_t n = hfs_reader_read(r, buf, sizeof(buf));
    CHECKF(n == HFS_ERR_NETWORK, "read after the server died: %zd", n);
    CHECK_INT(hfs_reader_error(r)->code, HFS_ERR_NETWORK);
    hfs_reader_close(r);
    /* writes fail too (perhaps only once the reset has been seen) */
    int rc = HFS_OK;
    for (int i = 0; i < 50 && rc == HFS_OK; i++) {
        rc = hfs_writer_write(w, "x", 1);
        if (rc == HFS_OK)
            t_sleep_ms(10);
    }
    CHECKF(rc == HFS_ERR_NETWORK, "write after the server died: %d", rc);
    hfs_writer_close(w, NULL);
    tsrv_stop(s);
}

int main(void)
{
    RUN(test_strerror);
    RUN(test_invalid_urls);
    RUN(test_not_found_and_conflict);
    RUN(test_other_http_statuses);
    RUN(test_network_errors);
    RUN(test_reader_end_of_stream);
    RUN(test_follow_any_bytes);
    RUN(test_writer_message_limit);
    RUN(test_append_from_pipe);
    RUN(test_append_bad_descriptor);
    RUN(test_server_vanishes);
    return test_report();
}
