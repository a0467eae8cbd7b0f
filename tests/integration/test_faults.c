/* test_faults.c -- faults and durability against the real server: a SIGKILL in the middle of a
 * stream of appends (the file is a prefix of what was sent and holds every byte a follower had
 * received; after a restart the resource is whole, appendable and followable); file write errors
 * (ENOSPC on a 1 MiB tmpfs root, EFBIG under RLIMIT_FSIZE: the appender gets 1011 "write failed:
 * ...", followers get exactly the file's bytes then CLOSE, other resources keep being served);
 * running out of descriptors on accept (no spinning, existing sessions unaffected, full recovery);
 * 10,000 connections that never send do not stop anyone else being served; and the -sync policy
 * (close, interval=DURATION; bad values are usage errors). */
#include "../harness.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- helpers --------------------------------------------------------------------------------- */

/* Ends a session with CLOSE 1000 and checks the echo and the TCP close. 0 or -1. */
static int close_session(tws *w)
{
    tws_frame f;
    if (tws_send_close(w, 1000) < 0)
        return -1;
    int t = tws_read_type(w, WS_EV_CLOSE, &f, T_TIMEOUT);
    if (t != WS_EV_CLOSE || f.close_code != 1000) {
        fprintf(stderr, "  note: want CLOSE 1000, got type %d code %u\n", t, f.close_code);
        return -1;
    }
    return t_wait_eof(w->fd, T_TIMEOUT) ? 0 : -1;
}

/* 1 when a is a prefix of b. */
static int is_prefix(const tbuf *a, const uint8_t *b, size_t blen)
{
    return a->len <= blen && (a->len == 0 || memcmp(a->p, b, a->len) == 0);
}

/* Waits until the server holds at least (want_at_least) or at most (!want_at_least) n descriptors.
 * Returns the last count seen. */
static int wait_fd_count(pid_t pid, int n, int want_at_least, int timeout_ms)
{
    int64_t deadline = t_now_ms() + timeout_ms;
    int c;
    for (;;) {
        c = t_proc_fd_count(pid);
        if (c >= 0 && (want_at_least ? c >= n : c <= n))
            return c;
        if (t_now_ms() >= deadline)
            return c;
        t_sleep_ms(20);
    }
}

/* A GET that succeeds (200) within timeout_ms, retried; the body in *body. Returns the last status.
 */
static int get_retry(int port, const char *path, tbuf *body, int timeout_ms)
{
    int64_t deadline = t_now_ms() + timeout_ms;
    for (;;) {
        thttp_resp r;
        int st = thttp_get(port, path, NULL, &r) == 0 ? r.status : 0;
        if (body) {
            body->len = 0;
            tbuf_add(body, r.body.p, r.body.len);
        }
        thttp_free(&r);
        if (st == 200 || t_now_ms() >= deadline)
            return st;
        t_sleep_ms(50);
    }
}

/* ---- SIGKILL in the middle of appends -------------------------------------------------------- */

typedef struct reader {
    tws *w;
    tws_collect c;
    size_t bytes; /* atomic copy of c.bytes */
} reader;

static void *reader_main(void *arg)
{
    reader *j = arg;
    while (tws_collect_step(j->w, &j->c, 20000) >= 0)
        __atomic_store_n(&j->bytes, j->c.bytes, __ATOMIC_RELEASE);
    __atomic_store_n(&j->bytes, j->c.bytes, __ATOMIC_RELEASE);
    return NULL;
}

/* Sends data in random messages, staying at most `ahead` bytes in front of a follower (the server
 * never slows an appender for a follower: this keeps the stream going until the kill). */
typedef struct sender {
    tws *w;
    const uint8_t *data;
    size_t len, ahead;
    const reader *follower;
    size_t offered; /* bytes handed to send() so far (atomic): no later byte reached the server */
    int stop;       /* set by the test (atomic) */
} sender;

static void *sender_main(void *arg)
{
    sender *j = arg;
    size_t off = 0;
    while (off < j->len && !__atomic_load_n(&j->stop, __ATOMIC_ACQUIRE)) {
        if (off > __atomic_load_n(&j->follower->bytes, __ATOMIC_ACQUIRE) + j->ahead) {
            t_sleep_ms(1);
            continue;
        }
        size_t n = t_rand_range(1, 65536);
        if (n > j->len - off)
            n = j->len - off;
        __atomic_store_n(&j->offered, off + n, __ATOMIC_RELEASE);
        if (tws_send(j->w, t_rand() % 2 ? WS_OP_BINARY : WS_OP_TEXT, 1, j->data + off, n) < 0)
            break;
        off += n;
    }
    return NULL;
}

static void test_kill9_mid_append(void)
{
    const size_t total = 32u << 20;
    tsrv *s = tsrv_start(NULL);
    uint8_t *stream = malloc(total);
    tbuf file = {0};
    thttp_resp r;
    CHECK(s && stream);
    t_rand_fill(stream, total);

    reader rj = {.c = {.opcode = WS_OP_BINARY, .answer_pings = 1}};
    sender sj = {.data = stream, .len = total, .ahead = 4u << 20, .follower = &rj};
    sj.w = tws_append(s->port, "/k/crash.bin");
    CHECK(sj.w);
    CHECK(tws_send(sj.w, WS_OP_BINARY, 1, stream, 1) == 0); /* the follower needs a live resource */
    CHECK(t_file_wait_eq(tsrv_path(s, "k/crash.bin"), stream, 1, 2000));
    sj.data = stream + 1;
    sj.len = total - 1;
    rj.w = tws_follow(s->port, "/k/crash.bin?frames=binary");
    CHECK(rj.w);

    pthread_t st, rt;
    CHECK(pthread_create(&rt, NULL, reader_main, &rj) == 0);
    CHECK(pthread_create(&st, NULL, sender_main, &sj) == 0);
    /* kill once the follower has seen a good part of the stream, while appends go on */
    int64_t deadline = t_now_ms() + 20000;
    while (__atomic_load_n(&rj.bytes, __ATOMIC_ACQUIRE) < (2u << 20) && t_now_ms() < deadline)
        t_sleep_ms(1);
    size_t offered_at_kill = __atomic_load_n(&sj.offered, __ATOMIC_ACQUIRE);
    tsrv_kill9(s);
    __atomic_store_n(&sj.stop, 1, __ATOMIC_RELEASE);
    pthread_join(st, NULL);
    pthread_join(rt, NULL);
    size_t followed = rj.c.bytes;
    CHECKF(followed >= (2u << 20), "the follower got only %zu bytes in 20 s", followed);
    CHECKF(offered_at_kill < total - 1,
           "the appender was not in the middle of its stream at the kill (%zu of %zu offered)",
           offered_at_kill, total - 1);

    /* the file: a prefix of what was sent, holding at least every byte the follower received */
    CHECK(t_file_read(tsrv_path(s, "k/crash.bin"), &file) == 0);
    size_t offered = 1 + sj.offered;
    CHECKF(is_prefix(&file, stream, offered),
           "the file (%zu bytes) is not a prefix of the %zu bytes sent", file.len, offered);
    CHECKF(file.len >= followed && memcmp(file.p, rj.c.data.p, followed) == 0,
           "the file (%zu bytes) lacks bytes a follower had received (%zu)", file.len, followed);
    printf("# killed with %zu bytes offered, %zu in the file, %zu followed\n", offered, file.len,
           followed);
    tws_collect_free(&rj.c);
    tws_free(rj.w);
    tws_free(sj.w);

    /* after a restart: whole, then appendable and followable */
    CHECK(tsrv_restart(s) == 0);
    CHECK(thttp_get(s->port, "/k/crash.bin", NULL, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK_MEM(r.body.p, r.body.len, file.p, file.len);
    thttp_free(&r);
    tws *w = tws_append(s->port, "/k/crash.bin");
    CHECKF(w, "no appender accepted after the restart");
    CHECK(tws_send(w, WS_OP_BINARY, 1, "after", 5) == 0);
    tbuf_add(&file, "after", 5);
    CHECK(t_file_wait_eq(tsrv_path(s, "k/crash.bin"), file.p, file.len, 5000));
    tws *f = tws_follow(s->port, "/k/crash.bin?frames=binary");
    CHECK(f);
    tws_collect c = {.opcode = WS_OP_BINARY, .expect = file.p, .expect_len = file.len + 4};
    CHECKF(tws_collect_until(f, &c, file.len, 20000) == 0, "%s", c.err);
    CHECK(tws_send(w, WS_OP_TEXT, 1, "more", 4) == 0);
    tbuf_add(&file, "more", 4);
    c.expect = file.p; /* file.p may have moved */
    CHECK(close_session(w) == 0);
    CHECKF(tws_collect_until(f, &c, SIZE_MAX, 20000) == 0, "%s", c.err);
    CHECK_INT(c.close_code, 1000);
    CHECK_INT(c.bytes, file.len);
    CHECK(t_file_wait_eq(tsrv_path(s, "k/crash.bin"), file.p, file.len, 0));
    tws_free(w);
    tws_free(f);
    tbuf_free(&file);
    free(stream);
    tsrv_stop(s);
}

/* ---- write errors: ENOSPC and EFBIG ---------------------------------------------------------- */

/* Appends data in msg-sized BINARY messages until the server closes the session; returns the CLOSE
 * code (0 if none) with its reason, and the bytes offered in *offered. */
static unsigned append_until_closed(tws *w, const uint8_t *data, size_t len, size_t msg,
                                    size_t *offered, char *reason, size_t cap)
{
    size_t off = 0;
    tws_frame f;
    *offered = 0;
    while (off < len) {
        size_t n = len - off < msg ? len - off : msg;
        *offered = off + n;
        if (tws_send(w, WS_OP_BINARY, 1, data + off, n) < 0)
            break;
        off += n;
        int t = tws_read(w, &f, 20);
        if (t == WS_EV_CLOSE) {
            snprintf(reason, cap, "%.*s", f.len > 2 ? (int)(f.len - 2) : 0,
                     f.len > 2 ? (const char *)f.data + 2 : "");
            return f.close_code;
        }
        if (t == TWS_EOF || t == TWS_ERROR)
            return 0;
    }
    return tws_read_close(w, reason, cap, T_TIMEOUT);
}

/* A write error on one resource: the appender gets 1011 with "write failed: <strerror(err)>", the
 * file holds a prefix of what was sent, the follower gets exactly the file's bytes and CLOSE 1000,
 * the slot is released. */
static void check_write_error(tsrv *s, const char *root, const char *path, size_t max_bytes,
                              size_t msg, int err)
{
    uint8_t *data = malloc(max_bytes);
    char reason[128];
    size_t offered;
    tbuf file = {0};
    CHECK(data);
    t_rand_fill(data, max_bytes);
    const char *file_path = t_fmt("%s%s", root, path);
    char fp[512];
    snprintf(fp, sizeof(fp), "%s", file_path);

    tws *w = tws_append(s->port, path);
    CHECK(w);
    tws *fol = tws_follow(s->port, t_fmt("%s?frames=binary", path));
    CHECK(fol);
    unsigned code = append_until_closed(w, data, max_bytes, msg, &offered, reason, sizeof(reason));
    const char *want = t_fmt("write failed: %s", strerror(err));
    CHECKF(code == 1011, "close %u (reason \"%s\") after %zu bytes offered, want 1011", code,
           reason, offered);
    CHECKF(strstr(reason, want), "close reason \"%s\", want \"%s\"", reason, want);
    tws_free(w);

    CHECK(t_file_read(fp, &file) == 0);
    CHECKF(file.len > 0 && file.len < offered, "the file has %zu of %zu bytes offered", file.len,
           offered);
    CHECKF(is_prefix(&file, data, offered), "the file is not a prefix of what was sent");
    tws_collect c = {.opcode = WS_OP_BINARY};
    CHECKF(tws_collect_until(fol, &c, SIZE_MAX, 10000) == 0, "follower: %s", c.err);
    CHECK_INT(c.close_code, 1000);
    CHECK_MEM(c.data.p, c.data.len, file.p, file.len);
    tws_collect_free(&c);
    tws_free(fol);

    /* the slot is released; the file did not change */
    w = tws_append_retry(s->port, path, 3000);
    CHECKF(w, "the slot was not released after the 1011");
    CHECK(close_session(w) == 0);
    tws_free(w);
    CHECK(t_file_wait_eq(fp, file.p, file.len, 0));
    thttp_resp r;
    CHECK(thttp_get(s->port, path, NULL, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK_MEM(r.body.p, r.body.len, file.p, file.len);
    thttp_free(&r);
    printf("# %s: 1011 \"%s\" with %zu bytes in the file, %zu offered\n", strerror(err), reason,
           file.len, offered);
    tbuf_free(&file);
    free(data);
}

/* A PUT on the full file system: 507 with the reason and the size the resource kept. */
static void check_put_enospc(tsrv *s, const char *root)
{
    const size_t len = (size_t)2 << 20;
    uint8_t *body = malloc(len);
    thttp_resp r;
    CHECK(body);
    t_rand_fill(body, len);
    int fd = t_connect(s->port);
    CHECK(fd >= 0);
    char head[128];
    int n = snprintf(head, sizeof(head),
                     "PUT /put.bin HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n", len);
    CHECK(send(fd, head, (size_t)n, MSG_NOSIGNAL) == n);
    /* the server may answer and stop reading before all of it is sent */
    for (size_t off = 0; off < len;) {
        ssize_t w = send(fd, body + off, len - off, MSG_NOSIGNAL);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    CHECK(thttp_read(fd, &r, 0, T_TIMEOUT) == 0);
    close(fd);
    CHECKF(r.status == 507, "PUT on a full file system: %d\n%s", r.status, r.head);
    CHECKF(memmem(r.body.p, r.body.len, "No space left on device", 23), "body: %.*s",
           (int)r.body.len, (const char *)r.body.p);
    tbuf file = {0};
    CHECK(t_file_read(t_fmt("%s/put.bin", root), &file) == 0);
    CHECKF(file.len < len && memcmp(file.p, body, file.len) == 0,
           "the file holds %zu bytes, not a prefix of the body", file.len);
    CHECK_STR(thttp_header(&r, "X-Resource-Size"), t_fmt("%zu", file.len));
    printf("# PUT: 507 with %zu of %zu bytes in the file\n", file.len, len);
    tbuf_free(&file);
    thttp_free(&r);
    free(body);
}

static void enospc_body(tsrv *s, const char *root)
{
    thttp_resp r;
    check_write_error(s, root, "/full.bin", 4u << 20, 65536, ENOSPC);
    check_put_enospc(s, root);
    /* another resource on the full file system is still served */
    CHECK(thttp_get(s->port, "/other.txt", NULL, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK_MEM(r.body.p, r.body.len, "other resource\n", 15);
    thttp_free(&r);
    CHECK(tsrv_log_has(s, "write failed"));
}

static void test_enospc_tmpfs(void)
{
    char mnt[] = "/tmp/hfs-enospc.XXXXXX";
    CHECK(mkdtemp(mnt));
    if (mount("tmpfs", mnt, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0700") != 0) {
        int e = errno;
        rmdir(mnt);
        if (e == EPERM || e == EACCES) {
            printf("# SKIP test_enospc_tmpfs: cannot mount a tmpfs: %s\n", strerror(e));
            return;
        }
        CHECKF(0, "mount tmpfs on %s: %s", mnt, strerror(e));
    }
    char root[64];
    snprintf(root, sizeof(root), "%s/root", mnt);
    tsrv *s = NULL;
    if (mkdir(root, 0700) == 0 &&
        t_file_write(t_fmt("%s/other.txt", root), "other resource\n", 15) == 0) {
        const char *flags[] = {t_fmt("-root=%s", root), NULL};
        s = tsrv_start(flags);
    }
    if (s)
        enospc_body(s, root);
    else
        test_fail(__FILE__, __LINE__, "no server on the tmpfs root");
    tsrv_stop(s); /* before the unmount: it holds files there */
    if (umount2(mnt, 0) != 0)
        umount2(mnt, MNT_DETACH);
    t_rm_rf(mnt);
}

static void test_efbig_rlimit_fsize(void)
{
    tsrv *s = tsrv_start_rlimits(NULL, 100000, 0);
    CHECK(s);
    check_write_error(s, s->root, "/big.bin", 1u << 20, 30000, EFBIG);
    tbuf file = {0};
    CHECK(t_file_read(tsrv_path(s, "big.bin"), &file) == 0);
    CHECKF(file.len == 100000, "the file has %zu bytes: the write up to the limit was not kept",
           file.len);
    tbuf_free(&file);

    /* another resource keeps working, appends and follows alike */
    uint8_t data[50000];
    t_rand_fill(data, sizeof(data));
    tws *w = tws_append(s->port, "/other.log");
    CHECK(w);
    tws *f = tws_follow(s->port, "/other.log?frames=binary");
    CHECK(f);
    CHECK(tws_send(w, WS_OP_BINARY, 1, data, sizeof(data)) == 0);
    CHECK(close_session(w) == 0);
    tws_collect c = {.opcode = WS_OP_BINARY};
    CHECKF(tws_collect_until(f, &c, SIZE_MAX, 10000) == 0, "%s", c.err);
    CHECK_INT(c.close_code, 1000);
    CHECK_MEM(c.data.p, c.data.len, data, sizeof(data));
    CHECK(t_file_wait_eq(tsrv_path(s, "other.log"), data, sizeof(data), 0));
    tws_collect_free(&c);
    tws_free(w);
    tws_free(f);
    tsrv_stop(s);
}

/* ---- out of descriptors, and many idle connections ------------------------------------------- */

static void close_all(int *fds, int n)
{
    for (int i = 0; i < n; i++)
        if (fds[i] >= 0)
            t_close_rst(fds[i]);
}

/* With RLIMIT_NOFILE 64 and -max-conns far above it, 200+ connections exhaust the server's
 * descriptors: it does not spin, sessions already open keep working, and it serves again once
 * the connections go. */
static void test_emfile_on_accept(void)
{
    const char *flags[] = {"-max-conns=1000", NULL};
    tsrv *s = tsrv_start_rlimits(flags, 0, 64);
    int fds[300], nfds = 0;
    tbuf body = {0};
    CHECK(s);
    CHECK(t_file_write(tsrv_path(s, "static.txt"), "static\n", 7) == 0);
    tws *app = tws_append(s->port, "/e.log");
    CHECK(app);
    CHECK(tws_send_text(app, "a;") == 0);
    CHECK(t_file_wait_eq(tsrv_path(s, "e.log"), "a;", 2, 2000));
    tws *fol = tws_follow(s->port, "/e.log");
    CHECK(fol);
    tws_collect c = {.answer_pings = 1};
    CHECKF(tws_collect_until(fol, &c, 2, T_TIMEOUT) == 0, "%s", c.err);
    int base = t_proc_fd_count(s->pid);
    CHECK(base > 0);

    for (; nfds < 200; nfds++)
        CHECKF((fds[nfds] = t_connect(s->port)) >= 0, "connect %d: %s", nfds, strerror(errno));
    int peak = wait_fd_count(s->pid, 62, 1, 3000);
    CHECKF(peak >= 62, "the server holds only %d descriptors: it never ran out", peak);

    /* out of descriptors, with more connections arriving: little CPU */
    double cpu0 = t_proc_cpu_s(s->pid);
    CHECK(cpu0 >= 0);
    for (int i = 0; i < 50; i++) {
        fds[nfds] = t_connect(s->port);
        if (fds[nfds] >= 0)
            nfds++;
        t_sleep_ms(20);
    }
    double used = t_proc_cpu_s(s->pid) - cpu0;
    printf("# out of descriptors: %.3f s of CPU over ~1 s\n", used);
    CHECKF(used < 0.3, "the server used %.3f s of CPU in ~1 s while out of descriptors", used);
    CHECK(tsrv_alive(s));

    /* a request on a connection accepted before: an answer (the file may not open), not a hang */
    thttp_resp r;
    CHECK(t_send_str(fds[0], "GET /static.txt HTTP/1.1\r\nHost: h\r\n\r\n") == 0);
    CHECKF(thttp_read(fds[0], &r, 0, T_TIMEOUT) == 0, "no answer while out of descriptors");
    CHECKF(r.status == 200 || r.status / 100 == 5, "status %d while out of descriptors", r.status);
    printf("# a GET while out of descriptors: %d\n", r.status);
    thttp_free(&r);
    CHECK(tsrv_alive(s));

    /* the open sessions are unaffected */
    CHECK(tws_send_text(app, "b;") == 0);
    CHECKF(tws_collect_until(fol, &c, 4, T_TIMEOUT) == 0, "%s", c.err);
    CHECK_MEM(c.data.p, c.data.len, "a;b;", 4);

    /* they go: the descriptors come back and new connections are served */
    close_all(fds, nfds);
    int after = wait_fd_count(s->pid, base + 2, 0, 5000);
    CHECKF(after <= base + 2, "the server still holds %d descriptors (%d before)", after, base);
    CHECK_INT(get_retry(s->port, "/e.log", &body, 3000), 200);
    CHECK_MEM(body.p, body.len, "a;b;", 4);
    tws *fol2 = tws_follow(s->port, "/e.log");
    CHECKF(fol2, "no follower after the recovery");
    CHECK(tws_send_text(app, "c;") == 0);
    CHECK(close_session(app) == 0);
    tws_collect c2 = {.answer_pings = 1};
    CHECKF(tws_collect_until(fol2, &c2, SIZE_MAX, T_TIMEOUT) == 0, "%s", c2.err);
    CHECKF(tws_collect_until(fol, &c, SIZE_MAX, T_TIMEOUT) == 0, "%s", c.err);
    CHECK_MEM(c.data.p, c.data.len, "a;b;c;", 6);
    CHECK_MEM(c2.data.p, c2.data.len, "a;b;c;", 6);
    CHECK_INT(c.close_code, 1000);
    tws_collect_free(&c);
    tws_collect_free(&c2);
    tws_free(app);
    tws_free(fol);
    tws_free(fol2);
    tbuf_free(&body);
    tsrv_stop(s);
}

/* 10,000 connections that never send: a GET and a live follow are still served at once, none of
 * the idle ones is dropped early, and their descriptors all come back once they close. */
static void test_10k_idle_connections(void)
{
    enum { N = 10000 };
    tsrv *s = tsrv_start(NULL);
    int *fds = malloc(N * sizeof(int));
    struct pollfd *pfds = malloc(N * sizeof(*pfds));
    tbuf body = {0};
    int n = 0;
    CHECK(s && fds && pfds);
    CHECK(t_file_write(tsrv_path(s, "static.txt"), "static\n", 7) == 0);
    int base = t_proc_fd_count(s->pid);

    int64_t t0 = t_now_ms();
    for (; n < N; n++)
        if ((fds[n] = t_connect(s->port)) < 0)
            break;
    CHECKF(n == N, "connect %d: %s", n, strerror(errno));
    int held = wait_fd_count(s->pid, base + N, 1, 15000);
    printf("# %d connections opened in %lld ms; the server holds %d descriptors\n", N,
           (long long)(t_now_ms() - t0), held);
    CHECKF(held >= base + N, "the server holds %d descriptors, want %d", held, base + N);

    int64_t t1 = t_now_ms();
    CHECK_INT(get_retry(s->port, "/static.txt", &body, 1), 200);
    CHECK_MEM(body.p, body.len, "static\n", 7);
    tws *app = tws_append(s->port, "/live.txt");
    CHECK(app);
    CHECK(tws_send_text(app, "live;") == 0);
    CHECK(t_file_wait_eq(tsrv_path(s, "live.txt"), "live;", 5, 2000));
    tws *fol = tws_follow(s->port, "/live.txt");
    CHECK(fol);
    CHECK(tws_send_text(app, "more;") == 0);
    CHECK(close_session(app) == 0);
    tws_collect c = {0};
    CHECKF(tws_collect_until(fol, &c, SIZE_MAX, T_TIMEOUT) == 0, "%s", c.err);
    CHECK_MEM(c.data.p, c.data.len, "live;more;", 10);
    printf("# GET and follow among %d idle connections: %lld ms\n", N,
           (long long)(t_now_ms() - t1));
    tws_collect_free(&c);
    tws_free(app);
    tws_free(fol);

    /* none of the idle connections was closed (their header timeout is 30 s) */
    for (int i = 0; i < N; i++)
        pfds[i] = (struct pollfd){.fd = fds[i], .events = POLLIN};
    int ready = poll(pfds, N, 0);
    CHECKF(ready == 0, "%d idle connections were closed or sent bytes", ready);

    close_all(fds, N);
    int after = wait_fd_count(s->pid, base + 2, 0, 10000);
    CHECKF(after <= base + 2, "the server still holds %d descriptors (%d before)", after, base);
    CHECK_INT(get_retry(s->port, "/static.txt", NULL, 3000), 200);
    tbuf_free(&body);
    free(fds);
    free(pfds);
    tsrv_stop(s);
}

/* ---- -sync ----------------------------------------------------------------------------------- */

/* Appends count messages pause_ms apart with a follower, ends with CLOSE 1000 (echoed), and checks
 * the file (what it had plus the messages) and what the follower got. */
static void sync_session(tsrv *s, const char *path, int count, int pause_ms)
{
    tbuf want = {0};
    if (t_file_read(tsrv_path(s, path), &want) < 0)
        want.len = 0; /* a new resource; else the follower gets what it had first */
    tws *w = tws_append_retry(s->port, path, 2000);
    CHECK(w);
    tws *f = tws_follow(s->port, path);
    CHECK(f);
    for (int i = 0; i < count; i++) {
        const char *msg = t_fmt("line %d of %s\n", i, path);
        CHECK(tws_send_text(w, msg) == 0);
        tbuf_adds(&want, msg);
        if (pause_ms)
            t_sleep_ms(pause_ms);
    }
    CHECKF(close_session(w) == 0, "the CLOSE was not echoed");
    CHECK(t_file_wait_eq(tsrv_path(s, path), want.p, want.len, 0));
    tws_collect c = {0};
    CHECKF(tws_collect_until(f, &c, SIZE_MAX, T_TIMEOUT) == 0, "%s", c.err);
    CHECK_INT(c.close_code, 1000);
    CHECK_MEM(c.data.p, c.data.len, want.p, want.len);
    tws_collect_free(&c);
    tws_free(w);
    tws_free(f);
    tbuf_free(&want);
}

static void test_sync_close(void)
{
    const char *flags[] = {"-sync=close", NULL};
    tsrv *s = tsrv_start(flags);
    CHECK(s);
    sync_session(s, "/sc.log", 20, 0);
    sync_session(s, "/sc.log", 3, 0); /* a second session on the same resource */
    /* a session that ends with a TCP close instead of CLOSE still keeps its bytes */
    tws *w = tws_append_retry(s->port, "/sc2.log", 2000);
    CHECK(w);
    CHECK(tws_send_text(w, "eof-ended") == 0);
    CHECK(t_file_wait_eq(tsrv_path(s, "sc2.log"), "eof-ended", 9, 2000));
    tws_free(w);
    w = tws_append_retry(s->port, "/sc2.log", 3000);
    CHECKF(w, "the slot was not released after a TCP close");
    CHECK(close_session(w) == 0);
    tws_free(w);
    /* acknowledged bytes survive a SIGKILL */
    tbuf before = {0};
    CHECK(t_file_read(tsrv_path(s, "sc.log"), &before) == 0);
    tsrv_kill9(s);
    CHECK(tsrv_restart(s) == 0);
    tbuf body = {0};
    CHECK_INT(get_retry(s->port, "/sc.log", &body, 1), 200);
    CHECK_MEM(body.p, body.len, before.p, before.len);
    tbuf_free(&before);
    tbuf_free(&body);
    CHECKF(!tsrv_log_has(s, "fdatasync"), "the server logged an fdatasync error");
    tsrv_stop(s);
}

static void test_sync_interval(void)
{
    const char *flags[] = {"-sync=interval=100ms", NULL};
    tsrv *s = tsrv_start(flags);
    CHECK(s);
    sync_session(s, "/si.log", 12, 50); /* spans several intervals */
    sync_session(s, "/si2.log", 200, 0);
    CHECKF(!tsrv_log_has(s, "fdatasync"), "the server logged an fdatasync error");
    tsrv_stop(s);
    const char *other[] = {"-sync=interval=2s", NULL};
    s = tsrv_start(other);
    CHECK(s);
    sync_session(s, "/si3.log", 5, 0);
    tsrv_stop(s);
}

static void test_sync_bad_values(void)
{
    const char *bad[] = {"-sync=",
                         "-sync=bogus",
                         "-sync=Close",
                         "-sync=always",
                         "-sync=interval",
                         "-sync=interval=",
                         "-sync=interval=0",
                         "-sync=interval=0ms",
                         "-sync=interval=-1s",
                         "-sync=interval=5x",
                         "-sync=interval=abc",
                         "-sync=close=1s"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        const char *flags[] = {bad[i], NULL};
        int st = tsrv_run_status(flags, 5000);
        EXPECTF(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 2, "%s: status 0x%x, want exit 2",
                bad[i], st);
    }
    const char *good[] = {"-sync=none", "-sync=close", "-sync=interval=1.5s", "-sync=interval=1m"};
    for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++) {
        const char *flags[] = {good[i], NULL};
        tsrv *s = tsrv_start(flags);
        CHECKF(s, "%s was refused", good[i]);
        CHECK(tsrv_stop(s) == 0);
    }
}

int main(void)
{
    RUN(test_kill9_mid_append);
    RUN(test_enospc_tmpfs);
    RUN(test_efbig_rlimit_fsize);
    RUN(test_emfile_on_accept);
    RUN(test_10k_idle_connections);
    RUN(test_sync_close);
    RUN(test_sync_interval);
    RUN(test_sync_bad_values);
    return test_report();
}
