/* test_stream.c -- exactness under load against the real server: followers (raw and through the
 * client library) joining at random moments during continuous appends of random sizes receive
 * exactly the file's bytes, with the default tail, -tail=0 and a small tail (laggards read from the
 * file); a follower that stops reading slows neither the appender nor other followers and catches
 * up exactly; 200 followers at once. */
#include "../harness.h"
#include "httpfstream.h"

#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

/* Valid UTF-8 (1- to 4-byte characters) so that every TEXT frame can be checked. */
static void make_stream(tbuf *b, size_t n)
{
    static const char *const pieces[] = {
        "abcdefgh",         "\n",   "\xc3\xa9",         "\xe2\x82\xac",
        "\xf0\x9f\x98\x80", "0123", "\xd0\xaf\xd0\xaf", " "};
    b->len = 0;
    while (b->len < n) {
        const char *p = pieces[t_rand() % (sizeof(pieces) / sizeof(*pieces))];
        if (b->len + strlen(p) > n)
            p = "z";
        tbuf_adds(b, p);
    }
}

/* ---- the appender: a thread writing the stream in random pieces through the client library --- */

typedef struct writer_job {
    const char *url;
    const uint8_t *data;
    size_t len;
    size_t max_msg; /* largest message */
    int pause_us;   /* up to this long between messages */
    size_t written; /* atomically updated */
    int done;       /* atomically set */
    int rc;         /* first error, HFS_OK */
    char err[400];
} writer_job;

static void *writer_main(void *arg)
{
    writer_job *j = arg;
    hfs_writer *w = NULL;
    hfs_error e;
    size_t off = 0;

    j->rc = hfs_open_append(j->url, NULL, &w, &e);
    if (j->rc != HFS_OK) {
        snprintf(j->err, sizeof(j->err), "open: %s", e.message);
        __atomic_store_n(&j->done, 1, __ATOMIC_RELEASE);
        return NULL;
    }
    while (off < j->len) {
        size_t n = t_rand() % 8 == 0 ? t_rand_range(1, j->max_msg) : t_rand_range(1, 4096);
        if (n > j->len - off)
            n = j->len - off;
        j->rc = hfs_writer_write(w, j->data + off, n);
        if (j->rc != HFS_OK) {
            snprintf(j->err, sizeof(j->err), "write at %zu: %s", off, hfs_writer_error(w)->message);
            break;
        }
        off += n;
        __atomic_store_n(&j->written, off, __ATOMIC_RELEASE);
        if (j->pause_us)
            usleep((useconds_t)t_rand_range(0, (size_t)j->pause_us));
    }
    int rc = hfs_writer_close(w, &e);
    if (j->rc == HFS_OK && rc != HFS_OK) {
        j->rc = rc;
        snprintf(j->err, sizeof(j->err), "close: %s", e.message);
    }
    __atomic_store_n(&j->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

/* ---- followers: one thread each -------------------------------------------------------------- */

enum follower_kind {
    F_RAW,     /* raw WebSocket, reads everything, checks every frame */
    F_LIB,     /* hfs_follow + hfs_reader_read */
    F_QUITTER, /* raw, resets the connection after a random number of bytes */
    F_LAGGARD, /* raw, small receive buffer, starts reading late and reads slowly */
    F_KINDS
};

typedef struct follower_job {
    int kind;
    int port;
    const char *path;
    const char *url;
    const uint8_t *expect;
    size_t expect_len;
    size_t quit_after;
    int joined_live; /* got a 101 (else a 200) */
    int ok;
    char err[400];
    pthread_t thread;
} follower_job;

static void follow_raw(follower_job *j)
{
    thttp_resp r;
    tws *w = tws_connect_rcvbuf(j->port, j->path, NULL, &r, j->kind == F_LAGGARD ? 8192 : 0);
    tws_collect c = {
        .utf8 = 1, .answer_pings = 1, .expect = j->expect, .expect_len = j->expect_len};

    if (!w) {
        /* the appender had gone: the whole file as a 200 */
        if (r.status == 200 && r.body.len == j->expect_len &&
            memcmp(r.body.p, j->expect, j->expect_len) == 0)
            j->ok = 1;
        else
            snprintf(j->err, sizeof(j->err), "status %d with %zu bytes", r.status, r.body.len);
        thttp_free(&r);
        return;
    }
    thttp_free(&r);
    j->joined_live = 1;
    if (j->kind == F_LAGGARD) {
        t_sleep_ms((int)t_rand_range(100, 300));
        while (c.bytes < j->expect_len && tws_collect_step(w, &c, 20000) > 0)
            if (c.frames % 64 == 0)
                t_sleep_ms(1);
    }
    size_t want = j->kind == F_QUITTER ? j->quit_after : SIZE_MAX;
    int rc = tws_collect_until(w, &c, want, 30000);
    if (rc == 0 && j->kind == F_QUITTER) {
        t_close_rst(w->fd);
        w->fd = -1;
        j->ok = 1;
    } else if (rc == 0 && c.close_code == 1000 && c.bytes == j->expect_len) {
        j->ok = 1;
    } else {
        snprintf(j->err, sizeof(j->err), "%s (bytes %zu of %zu, close %u)",
                 c.err[0] ? c.err : "incomplete", c.bytes, j->expect_len, c.close_code);
    }
    tws_collect_free(&c);
    tws_free(w);
}

static void follow_lib(follower_job *j)
{
    hfs_reader *r = NULL;
    hfs_error e;
    uint8_t buf[65536];
    size_t got = 0;

    if (hfs_follow(j->url, NULL, &r, &e) != HFS_OK) {
        snprintf(j->err, sizeof(j->err), "hfs_follow: %s", e.message);
        return;
    }
    for (;;) {
        ssize_t n = hfs_reader_read(r, buf, sizeof(buf));
        if (n < 0) {
            snprintf(j->err, sizeof(j->err), "read after %zu bytes: %s", got,
                     hfs_reader_error(r)->message);
            break;
        }
        if (n == 0) {
            if (got == j->expect_len)
                j->ok = 1;
            else
                snprintf(j->err, sizeof(j->err), "ended after %zu of %zu bytes", got,
                         j->expect_len);
            break;
        }
        if (got + (size_t)n > j->expect_len || memcmp(buf, j->expect + got, (size_t)n) != 0) {
            snprintf(j->err, sizeof(j->err), "bytes %zu..%zu differ", got, got + (size_t)n);
            break;
        }
        got += (size_t)n;
    }
    if (j->ok && hfs_reader_bytes(r) != got) {
        j->ok = 0;
        snprintf(j->err, sizeof(j->err), "hfs_reader_bytes %llu, read %zu",
                 (unsigned long long)hfs_reader_bytes(r), got);
    }
    hfs_reader_close(r);
}

static void *follower_main(void *arg)
{
    follower_job *j = arg;
    if (j->kind == F_LIB)
        follow_lib(j);
    else
        follow_raw(j);
    return NULL;
}

/* Appends total bytes in random messages while followers of every kind join at random moments
 * (and a few after the end); each must see exactly the stream. */
static void run_random_joins(const char *const *flags, size_t total, int max_followers)
{
    tsrv *s = tsrv_start(flags);
    tbuf data = {0};
    follower_job *jobs = calloc((size_t)max_followers + 4, sizeof(*jobs));
    int n = 0, live = 0;
    CHECK(s);
    make_stream(&data, total);

    char url[128];
    snprintf(url, sizeof(url), "%s", tsrv_url(s, "/s/stream.txt"));
    writer_job wj = {
        .url = url, .data = data.p, .len = data.len, .max_msg = 256 * 1024, .pause_us = 5000};
    pthread_t wt;
    CHECK(pthread_create(&wt, NULL, writer_main, &wj) == 0);
    /* wait for the session to exist, so that the first followers get a 101 */
    int64_t deadline = t_now_ms() + 5000;
    while (!t_exists(tsrv_path(s, "s/stream.txt")) && t_now_ms() < deadline)
        t_sleep_ms(1);

    /* followers join while the appender runs, then two more after it has gone */
    for (int after = 0; n < max_followers + 2; n++) {
        int done = __atomic_load_n(&wj.done, __ATOMIC_ACQUIRE);
        if (done || n >= max_followers) {
            if (!after++)
                pthread_join(wt, NULL);
        } else {
            t_sleep_ms((int)t_rand_range(0, 15));
        }
        follower_job *j = &jobs[n];
        j->kind = after ? F_RAW : (int)(t_rand() % F_KINDS);
        j->port = s->port;
        j->path = "/s/stream.txt";
        j->url = wj.url;
        j->expect = data.p;
        j->expect_len = data.len;
        j->quit_after = t_rand_range(1, data.len);
        CHECK(pthread_create(&j->thread, NULL, follower_main, j) == 0);
    }
    CHECKF(wj.rc == HFS_OK, "writer: %s", wj.err);
    for (int i = 0; i < n; i++) {
        pthread_join(jobs[i].thread, NULL);
        live += jobs[i].joined_live;
        CHECKF(jobs[i].ok, "follower %d (kind %d, %s): %s", i, jobs[i].kind,
               jobs[i].joined_live ? "live" : "200", jobs[i].err);
    }
    printf("# %d followers, %d joined live, %zu bytes\n", n, live, data.len);
    CHECK(live >= 2);
    CHECK(t_file_wait_eq(tsrv_path(s, "s/stream.txt"), data.p, data.len, 0));
    tbuf_free(&data);
    free(jobs);
    tsrv_stop(s);
}

static void test_random_joins_default_tail(void)
{
    run_random_joins(NULL, 4u << 20, 24);
}

static void test_random_joins_tail_0(void)
{
    const char *flags[] = {"-tail=0", NULL};
    run_random_joins(flags, 2u << 20, 16);
}

static void test_random_joins_small_tail(void)
{
    const char *flags[] = {"-tail=4096", "-frame-max=1000", NULL};
    run_random_joins(flags, 2u << 20, 16);
}

/* ---- a follower that stops reading ------------------------------------------------------------
 */

typedef struct fast_job {
    tws *w;
    tws_collect c;
    size_t bytes; /* progress, atomically updated */
} fast_job;

static void *fast_main(void *arg)
{
    fast_job *j = arg;
    while (tws_collect_step(j->w, &j->c, 30000) > 0)
        __atomic_store_n(&j->bytes, j->c.bytes, __ATOMIC_RELEASE);
    __atomic_store_n(&j->bytes, j->c.bytes, __ATOMIC_RELEASE);
    return NULL;
}

/* Polls GET snapshots until the server holds n bytes of path (the appender's bytes were read). */
static int wait_snapshot(tsrv *s, const char *path, size_t n, int timeout_ms)
{
    int64_t deadline = t_now_ms() + timeout_ms;
    for (;;) {
        thttp_resp r;
        int ok = thttp_req(s->port, "HEAD", path, NULL, &r) == 0 && r.status == 200 &&
                 thttp_header(&r, "Content-Length") &&
                 strtoull(thttp_header(&r, "Content-Length"), NULL, 10) == n;
        thttp_free(&r);
        if (ok)
            return 1;
        if (t_now_ms() > deadline)
            return 0;
        t_sleep_ms(10);
    }
}

static void test_stalled_follower(void)
{
    const char *flags[] = {"-tail=64k", NULL};
    tsrv *s = tsrv_start(flags);
    tbuf data = {0};
    size_t total = 12u << 20, chunk = 64 * 1024;
    CHECK(s);
    make_stream(&data, total);

    hfs_writer *w = NULL;
    hfs_error e;
    CHECK(hfs_open_append(tsrv_url(s, "/slow.txt"), NULL, &w, &e) == HFS_OK);
    thttp_resp r;
    tws *stalled = tws_connect_rcvbuf(s->port, "/slow.txt", NULL, &r, 4096);
    thttp_free(&r);
    CHECK(stalled);
    fast_job fj = {.w = tws_follow(s->port, "/slow.txt")};
    CHECK(fj.w);
    fj.c = (tws_collect){.utf8 = 1, .answer_pings = 1, .expect = data.p, .expect_len = data.len};
    pthread_t ft;
    CHECK(pthread_create(&ft, NULL, fast_main, &fj) == 0);

    /* every append completes although one follower reads nothing */
    for (size_t off = 0; off < total; off += chunk) {
        int rc = hfs_writer_write(w, data.p + off, total - off < chunk ? total - off : chunk);
        CHECKF(rc == HFS_OK, "write at %zu: %s", off, hfs_writer_error(w)->message);
    }
    CHECKF(wait_snapshot(s, "/slow.txt", total, 20000), "the server did not take every byte");
    /* ... and the other follower got everything meanwhile */
    int64_t deadline = t_now_ms() + 20000;
    while (__atomic_load_n(&fj.bytes, __ATOMIC_ACQUIRE) < total && t_now_ms() < deadline &&
           !fj.c.err[0])
        t_sleep_ms(5);
    CHECKF(__atomic_load_n(&fj.bytes, __ATOMIC_ACQUIRE) == total,
           "the reading follower got %zu of %zu bytes while another one stalled (%s)",
           __atomic_load_n(&fj.bytes, __ATOMIC_ACQUIRE), total, fj.c.err);

    /* the stalled one catches up with exact bytes */
    tws_collect sc = {.utf8 = 1, .answer_pings = 1, .expect = data.p, .expect_len = data.len};
    CHECKF(tws_collect_until(stalled, &sc, total, 30000) == 0, "stalled: %s", sc.err);
    CHECK(hfs_writer_close(w, &e) == HFS_OK);
    CHECKF(tws_collect_until(stalled, &sc, SIZE_MAX, T_TIMEOUT) == 0, "stalled: %s", sc.err);
    CHECK_INT(sc.close_code, 1000);
    pthread_join(ft, NULL);
    CHECKF(fj.c.closed && fj.c.close_code == 1000 && !fj.c.err[0], "fast: %s", fj.c.err);
    tws_free(stalled);
    tws_free(fj.w);
    tbuf_free(&data);
    tsrv_stop(s);
}

/* A follower still behind when the appender leaves gets the rest, then CLOSE 1000. */
static void test_laggard_at_the_end(void)
{
    const char *flags[] = {"-tail=4096", NULL};
    tsrv *s = tsrv_start(flags);
    tbuf data = {0};
    CHECK(s);
    make_stream(&data, 3u << 20);
    hfs_writer *w = NULL;
    hfs_error e;
    CHECK(hfs_open_append(tsrv_url(s, "/lag.txt"), NULL, &w, &e) == HFS_OK);
    thttp_resp r;
    tws *f = tws_connect_rcvbuf(s->port, "/lag.txt", NULL, &r, 4096);
    thttp_free(&r);
    CHECK(f);
    for (size_t off = 0; off < data.len; off += 100000)
        CHECK(hfs_writer_write(w, data.p + off,
                               data.len - off < 100000 ? data.len - off : 100000) == HFS_OK);
    CHECK(hfs_writer_close(w, &e) == HFS_OK);
    tws_collect c = {.utf8 = 1, .answer_pings = 1, .expect = data.p, .expect_len = data.len};
    CHECKF(tws_collect_until(f, &c, SIZE_MAX, 30000) == 0, "%s", c.err);
    CHECK_INT(c.close_code, 1000);
    CHECK_INT(c.bytes, data.len);
    tws_free(f);
    tbuf_free(&data);
    tsrv_stop(s);
}

/* ---- many followers at once (one thread, poll) ------------------------------------------------
 */

#define MANY 200

static void test_many_followers(void)
{
    tsrv *s = tsrv_start(NULL);
    tbuf data = {0};
    tws **f = calloc(MANY, sizeof(*f));
    tws_collect *c = calloc(MANY, sizeof(*c));
    struct pollfd *pfd = calloc(MANY, sizeof(*pfd));
    CHECK(s);
    make_stream(&data, 512 * 1024);

    tws *w = tws_append(s->port, "/many.txt");
    CHECK(w);
    CHECK(tws_send_text(w, "start;") == 0);
    tbuf want = {0};
    tbuf_adds(&want, "start;");
    for (int i = 0; i < MANY; i++) {
        f[i] = tws_follow(s->port, "/many.txt");
        CHECKF(f[i], "follower %d", i);
        c[i] = (tws_collect){.utf8 = 1, .answer_pings = 1};
    }
    tbuf_add(&want, data.p, data.len);
    for (int i = 0; i < MANY; i++) {
        c[i].expect = want.p;
        c[i].expect_len = want.len;
    }

    size_t off = 0;
    int finished = 0, closed = 0;
    int64_t deadline = t_now_ms() + 40000;
    while (finished < MANY && t_now_ms() < deadline) {
        if (off < data.len) {
            size_t n = t_rand_range(1, 16384);
            if (n > data.len - off)
                n = data.len - off;
            CHECK(tws_send(w, WS_OP_TEXT, 1, data.p + off, n) == 0);
            off += n;
        } else if (!closed) {
            CHECK(tws_send_close(w, 1000) == 0);
            closed = 1;
        }
        int np = 0;
        for (int i = 0; i < MANY; i++)
            if (!c[i].eof && !c[i].err[0])
                pfd[np++] = (struct pollfd){.fd = f[i]->fd, .events = POLLIN};
        poll(pfd, (nfds_t)np, off < data.len ? 0 : 50);
        finished = 0;
        for (int i = 0; i < MANY; i++) {
            while (tws_collect_step(f[i], &c[i], 0) > 0) {
            }
            if (c[i].eof || c[i].err[0])
                finished++;
        }
    }
    for (int i = 0; i < MANY; i++) {
        CHECKF(!c[i].err[0] && c[i].closed && c[i].close_code == 1000 && c[i].bytes == want.len,
               "follower %d: %s (bytes %zu of %zu, close %u)", i, c[i].err, c[i].bytes, want.len,
               c[i].close_code);
        tws_free(f[i]);
    }
    tws_free(w);
    CHECK(t_file_wait_eq(tsrv_path(s, "many.txt"), want.p, want.len, 0));
    free(f);
    free(c);
    free(pfd);
    tbuf_free(&want);
    tbuf_free(&data);
    tsrv_stop(s);
}

int main(void)
{
    RUN(test_random_joins_default_tail);
    RUN(test_random_joins_tail_0);
    RUN(test_random_joins_small_tail);
    RUN(test_stalled_follower);
    RUN(test_laggard_at_the_end);
    RUN(test_many_followers);
    return test_report();
}
