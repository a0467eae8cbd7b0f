/* test_defects.c -- regression tests for defects found in review, each against the real server:
 * - a sized message (a WebSocket frame, a PUT with Content-Length) that would cross -max-size is
 *   refused before any of its bytes are written (1009 / 413); a chunked body never takes the file
 *   past the limit and leaves a prefix of what was sent;
 * - a resource already larger than -max-size takes no more bytes (413 / 1009);
 * - ?follow, SSE and WebSocket followers of a file the server can read but not write (immutable,
 *   or on a read-only mount) get its bytes and the end; appends to it get 403;
 * - -frame-max below 4 is a usage error; at 4 a TEXT follower of 4-byte characters gets them all
 *   and its CLOSE;
 * - a 256-byte path component is 414 with nothing created; HTTP/2.0 is 505; a 413 on a new
 *   resource creates nothing and wakes no ?wait follower; SIGHUP is ignored (followers keep
 *   receiving); a Last-Event-ID past the end is 416 however long;
 * - every response carrying resource bytes is sandboxed (Content-Security-Policy: sandbox) and
 *   nosniff, while the viewer and directory listings keep their own policies. */
#include "../harness.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* From <linux/fs.h>, which clashes with <sys/mount.h> on recent glibc. */
#ifndef FS_IOC_GETFLAGS
#define FS_IOC_GETFLAGS _IOR('f', 1, long)
#define FS_IOC_SETFLAGS _IOW('f', 2, long)
#endif
#ifndef FS_IMMUTABLE_FL
#define FS_IMMUTABLE_FL 0x00000010
#endif

#define BROWSER_ACCEPT                                                                             \
    "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;"     \
    "q=0.8\r\n"
#define SSE_ACCEPT "Accept: text/event-stream\r\n"

/* ---- helpers ----------------------------------------------------------------------------------
 */

/* The file's current contents (empty when missing). */
static tbuf file_of(tsrv *s, const char *name)
{
    tbuf b = {0};
    tbuf_add(&b, "", 0);
    if (t_file_read(tsrv_path(s, name), &b) < 0)
        b.len = 0;
    return b;
}

/* Size of a file under the root, -1 when missing. */
static long long file_size(tsrv *s, const char *name)
{
    struct stat sb;
    return stat(tsrv_path(s, name), &sb) == 0 ? (long long)sb.st_size : -1;
}

/* Sends p[0..n) on fd without blocking forever: stops early when the server has something to say
 * (a response, a CLOSE), closes, or timeout_ms passes. Returns the bytes sent. */
static size_t send_until_answer(int fd, const uint8_t *p, size_t n, int timeout_ms)
{
    int64_t deadline = t_now_ms() + timeout_ms;
    size_t off = 0;

    while (off < n && t_now_ms() < deadline) {
        struct pollfd pf = {.fd = fd, .events = POLLIN | POLLOUT};
        if (poll(&pf, 1, 100) <= 0)
            continue;
        if (pf.revents & (POLLIN | POLLERR | POLLHUP))
            break;
        if (pf.revents & POLLOUT) {
            size_t want = n - off < 65536 ? n - off : 65536;
            ssize_t k = send(fd, p + off, want, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (k < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                    continue;
                break;
            }
            off += (size_t)k;
        }
    }
    return off;
}

/* A whole masked frame (header and payload) in out. */
static void ws_frame_build(tbuf *out, unsigned opcode, const uint8_t *p, size_t n)
{
    uint8_t h[WS_HEADER_MAX], key[4];
    t_rand_fill(key, 4);
    size_t hl = ws_frame_header(h, opcode, 1, n, key);
    out->len = 0;
    tbuf_add(out, h, hl);
    size_t at = out->len;
    tbuf_add(out, p, n);
    ws_mask(out->p + at, n, key, 0);
}

/* A PUT with a sized body (Connection: close), sent while watching for an early answer; reads
 * the response. Returns 0 or -1 as thttp_read. */
static int put_sized_big(int port, const char *path, const uint8_t *body, size_t n, thttp_resp *r)
{
    int fd = t_connect(port);
    if (fd < 0) {
        memset(r, 0, sizeof(*r));
        return -1;
    }
    t_send_str(fd, t_fmt("PUT %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n"
                         "Content-Length: %zu\r\n\r\n",
                         path, port, n));
    send_until_answer(fd, body, n, 20000);
    int rc = thttp_read(fd, r, 0, 10000);
    close(fd);
    return rc;
}

/* A PUT with a chunked body of chunk-byte chunks, sent while watching for an early answer. */
static int put_chunked_big(int port, const char *path, const uint8_t *body, size_t n, size_t chunk,
                           thttp_resp *r)
{
    tbuf q = {0};
    tbuf_adds(&q, t_fmt("PUT %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n"
                        "Transfer-Encoding: chunked\r\n\r\n",
                        path, port));
    for (size_t off = 0; off < n; off += chunk) {
        size_t k = n - off < chunk ? n - off : chunk;
        tbuf_adds(&q, t_fmt("%zx\r\n", k));
        tbuf_add(&q, body + off, k);
        tbuf_adds(&q, "\r\n");
    }
    tbuf_adds(&q, "0\r\n\r\n");
    int fd = t_connect(port);
    if (fd < 0) {
        tbuf_free(&q);
        memset(r, 0, sizeof(*r));
        return -1;
    }
    send_until_answer(fd, q.p, q.len, 20000);
    tbuf_free(&q);
    int rc = thttp_read(fd, r, 0, 10000);
    close(fd);
    return rc;
}

/* A PUT with a small sized body, all sent at once. */
static int put_small(int port, const char *path, const void *body, size_t n, thttp_resp *r)
{
    tbuf q = {0};
    tbuf_adds(&q, t_fmt("PUT %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n"
                        "Content-Length: %zu\r\n\r\n",
                        path, port, n));
    tbuf_add(&q, body, n);
    int rc = thttp_raw(port, q.p, q.len, r, 0);
    tbuf_free(&q);
    return rc;
}

/* Ends a WebSocket appender with CLOSE 1000 and waits for the echo. */
static int ws_end(tws *w)
{
    tws_frame f;
    if (tws_send_close(w, 1000) < 0)
        return -1;
    return tws_read_type(w, WS_EV_CLOSE, &f, T_TIMEOUT) == WS_EV_CLOSE ? 0 : -1;
}

/* 1 when a WebSocket follower receives nothing but PINGs/PONGs for ms. */
static int ws_quiet(tws *w, int ms, char *seen, size_t cap)
{
    int64_t deadline = t_now_ms() + ms;
    tws_frame f;

    seen[0] = '\0';
    while (t_now_ms() < deadline) {
        int t = tws_read(w, &f, (int)(deadline - t_now_ms()));
        if (t == TWS_TIMEOUT)
            return 1;
        if (t == WS_EV_PING || t == WS_EV_PONG)
            continue;
        if (t == WS_EV_DATA)
            snprintf(seen, cap, "a DATA frame of %zu bytes", f.len);
        else if (t == WS_EV_CLOSE)
            snprintf(seen, cap, "CLOSE %u", f.close_code);
        else
            snprintf(seen, cap, "event %d (EOF -1, error -3)", t);
        return 0;
    }
    return 1;
}

/* ---- 6: a message crossing -max-size writes nothing of itself ---------------------------------
 */

#define BIG_LIMIT "-max-size=1000000"
#define BIG_MSG   (2u << 20)

/* A 2 MiB WebSocket frame after 100 bytes: CLOSE 1009 and the file keeps exactly the 100. */
static void test_max_size_ws_frame_writes_nothing(void)
{
    const char *flags[] = {BIG_LIMIT, NULL};
    tsrv *s = tsrv_start(flags);
    uint8_t *data = malloc(BIG_MSG + 100);
    tbuf frame = {0};
    char reason[128];
    CHECK(s && data);
    t_rand_fill(data, BIG_MSG + 100);

    tws *w = tws_append(s->port, "/ws.bin");
    CHECK(w);
    CHECK(tws_send(w, WS_OP_BINARY, 1, data, 100) == 0);
    CHECK(t_file_wait_eq(tsrv_path(s, "ws.bin"), data, 100, 5000));
    ws_frame_build(&frame, WS_OP_BINARY, data + 100, BIG_MSG);
    size_t sent = send_until_answer(w->fd, frame.p, frame.len, 20000);
    unsigned code = tws_read_close(w, reason, sizeof(reason), 10000);
    tws_free(w);
    t_sleep_ms(300); /* anything still being written lands */
    long long size = file_size(s, "ws.bin");
    CHECKF(code == 1009, "a %u-byte frame crossing -max-size: close %u \"%s\" (%zu bytes sent)",
           BIG_MSG, code, reason, sent);
    CHECKF(size == 100,
           "after the 1009 the file holds %lld bytes, want exactly the 100 before the message",
           size);
    CHECK(t_file_wait_eq(tsrv_path(s, "ws.bin"), data, 100, 0));
    tbuf_free(&frame);
    free(data);
    tsrv_stop(s);
}

/* A 2 MiB PUT with Content-Length on a 100-byte resource: 413 and the file keeps the 100. */
static void test_max_size_put_sized_writes_nothing(void)
{
    const char *flags[] = {BIG_LIMIT, NULL};
    tsrv *s = tsrv_start(flags);
    uint8_t *data = malloc(BIG_MSG + 100);
    thttp_resp r;
    CHECK(s && data);
    t_rand_fill(data, BIG_MSG + 100);
    CHECK(t_file_write(tsrv_path(s, "cl.bin"), data, 100) == 0);

    CHECK(put_sized_big(s->port, "/cl.bin", data + 100, BIG_MSG, &r) == 0);
    t_sleep_ms(300);
    long long size = file_size(s, "cl.bin");
    const char *xs = thttp_header(&r, "X-Resource-Size");
    char xsize[32];
    snprintf(xsize, sizeof(xsize), "%s", xs ? xs : "(none)");
    int status = r.status;
    thttp_free(&r);
    CHECKF(status == 413, "a %u-byte PUT crossing -max-size: status %d, want 413", BIG_MSG, status);
    CHECKF(size == 100, "after the 413 the file holds %lld bytes, want exactly the 100 before it",
           size);
    CHECK(t_file_wait_eq(tsrv_path(s, "cl.bin"), data, 100, 0));
    CHECKF(!strcmp(xsize, "100"), "X-Resource-Size %s, want 100", xsize);
    free(data);
    tsrv_stop(s);
}

/* A 2 MiB chunked PUT on a 100-byte resource: 413; the file never exceeds the limit and holds a
 * prefix of the 100 bytes and the body. */
static void test_max_size_put_chunked_prefix(void)
{
    const char *flags[] = {BIG_LIMIT, NULL};
    tsrv *s = tsrv_start(flags);
    uint8_t *data = malloc(BIG_MSG + 100);
    thttp_resp r;
    tbuf got = {0};
    CHECK(s && data);
    t_rand_fill(data, BIG_MSG + 100);
    CHECK(t_file_write(tsrv_path(s, "ch.bin"), data, 100) == 0);

    CHECK(put_chunked_big(s->port, "/ch.bin", data + 100, BIG_MSG, 50000, &r) == 0);
    int status = r.status;
    thttp_free(&r);
    t_sleep_ms(300);
    CHECK(t_file_read(tsrv_path(s, "ch.bin"), &got) == 0);
    CHECKF(status == 413, "a %u-byte chunked PUT crossing -max-size: status %d, want 413", BIG_MSG,
           status);
    CHECKF(got.len >= 100 && got.len <= 1000000, "the file holds %zu bytes (limit 1000000)",
           got.len);
    CHECKF(memcmp(got.p, data, got.len) == 0, "the file's %zu bytes are not a prefix of those sent",
           got.len);
    tbuf_free(&got);
    free(data);
    tsrv_stop(s);
}

/* ---- 7: a resource already past -max-size takes no more --------------------------------------
 */

static void test_max_size_existing_larger_file(void)
{
    const char *flags[] = {"-max-size=1000", NULL};
    tsrv *s = tsrv_start(flags);
    uint8_t data[2000];
    thttp_resp r;
    char reason[128];
    CHECK(s);
    t_rand_fill(data, sizeof(data));
    CHECK(t_file_write(tsrv_path(s, "over.bin"), data, sizeof(data)) == 0);

    CHECK(put_small(s->port, "/over.bin", "more", 4, &r) == 0);
    int status = r.status;
    thttp_free(&r);
    EXPECTF(status == 413, "PUT on a 2000-byte resource with -max-size=1000: status %d, want 413",
            status);
    EXPECTF(file_size(s, "over.bin") == 2000, "after the PUT the file holds %lld bytes, want 2000",
            file_size(s, "over.bin"));

    /* chunked */
    int fd = t_connect(s->port);
    CHECK(fd >= 0);
    t_send_str(fd, t_fmt("PUT /over.bin HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n"
                         "Transfer-Encoding: chunked\r\n\r\n4\r\nmore\r\n0\r\n\r\n",
                         s->port));
    CHECK(thttp_read(fd, &r, 0, T_TIMEOUT) == 0);
    status = r.status;
    thttp_free(&r);
    close(fd);
    EXPECTF(status == 413, "chunked PUT on a 2000-byte resource: status %d, want 413", status);
    EXPECTF(file_size(s, "over.bin") == 2000,
            "after the chunked PUT the file holds %lld bytes, want 2000", file_size(s, "over.bin"));

    /* WebSocket */
    tws *w = tws_connect(s->port, "/over.bin", "X-Verb: APPEND\r\n", &r);
    status = r.status;
    thttp_free(&r);
    if (w) {
        CHECK(tws_send(w, WS_OP_BINARY, 1, "more", 4) == 0);
        unsigned code = tws_read_close(w, reason, sizeof(reason), T_TIMEOUT);
        if (code == 0) { /* accepted: the session stays open; end it to see the file */
            ws_end(w);
        }
        tws_free(w);
        EXPECTF(code == 1009, "WebSocket append to a 2000-byte resource: close %u, want 1009",
                code);
    } else {
        EXPECTF(status == 413, "WebSocket APPEND handshake: status %d (want 101 then 1009, or 413)",
                status);
    }
    t_sleep_ms(200);
    CHECKF(file_size(s, "over.bin") == 2000,
           "after the WebSocket append the file holds %lld bytes, want 2000",
           file_size(s, "over.bin"));
    CHECK(t_file_wait_eq(tsrv_path(s, "over.bin"), data, sizeof(data), 0));
    tsrv_stop(s);
}

/* ---- 9: following needs no write access -------------------------------------------------------
 */

static int set_immutable(const char *path, int on)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    int flags = 0, rc = -1;
    if (fd < 0)
        return -1;
    if (ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0) {
        flags = on ? flags | FS_IMMUTABLE_FL : flags & ~FS_IMMUTABLE_FL;
        rc = ioctl(fd, FS_IOC_SETFLAGS, &flags);
    }
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

/* A read-only bind mount of dir over itself. 0, or -1 (nothing left mounted). */
static int bind_read_only(const char *dir)
{
    if (mount(dir, dir, NULL, MS_BIND, NULL) < 0)
        return -1;
    if (mount(NULL, dir, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) < 0) {
        int saved = errno;
        umount2(dir, MNT_DETACH);
        errno = saved;
        return -1;
    }
    /* really read-only? */
    int fd = open(t_fmt("%s/.probe", dir), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0) {
        close(fd);
        unlink(t_fmt("%s/.probe", dir));
        umount2(dir, MNT_DETACH);
        errno = EINVAL;
        return -1;
    }
    return 0;
}

#define RO_TEXT "read-only line one\nline two\n"

/* Every kind of follower of name (which holds RO_TEXT and cannot be written) gets the bytes and
 * the end; appends get 403 and change nothing. how names the method in messages. */
static void check_read_only_followers(tsrv *s, const char *name, const char *how)
{
    char u[256];
    size_t len = strlen(RO_TEXT);
    thttp_resp r;
    snprintf(u, sizeof(u), "/%s", name);

    CHECK(thttp_get(s->port, u, NULL, &r) == 0);
    CHECKF(r.status == 200, "%s: plain GET %d", how, r.status);
    CHECK_MEM(r.body.p, r.body.len, RO_TEXT, len);
    thttp_free(&r);

    /* ?follow */
    ths *h = ths_get(s->port, t_fmt("%s?follow", u), NULL);
    CHECK(h);
    int st = h->r.status;
    int ended = st == 200 && ths_end(h, T_TIMEOUT);
    tbuf body = {0};
    tbuf_add(&body, h->body.p, h->body.len);
    ths_free(h);
    CHECKF(st == 200, "%s: GET ?follow: status %d, want 200", how, st);
    CHECKF(ended, "%s: ?follow did not end", how);
    CHECK_MEM(body.p, body.len, RO_TEXT, len);
    tbuf_free(&body);

    /* SSE, both ways of asking */
    for (int i = 0; i < 2; i++) {
        char p[300];
        snprintf(p, sizeof(p), "%s%s", u, i == 0 ? "?follow=sse" : "");
        h = ths_get(s->port, p, i == 0 ? NULL : SSE_ACCEPT);
        CHECK(h);
        st = h->r.status;
        const char *ct = thttp_header(&h->r, "Content-Type");
        int is_sse = ct && !strncmp(ct, "text/event-stream", 17);
        ended = st == 200 && ths_end(h, T_TIMEOUT);
        int has_data =
            t_contains(h->body.p, h->body.len, "data: read-only line one\ndata: line two\n");
        int has_end = t_contains(h->body.p, h->body.len, "event: end\n");
        ths_free(h);
        CHECKF(st == 200 && is_sse, "%s: SSE (%s): status %d, want 200 text/event-stream", how,
               i == 0 ? "?follow=sse" : "Accept", st);
        CHECKF(ended && has_data && has_end, "%s: SSE (%s): ended %d, data %d, end event %d", how,
               i == 0 ? "?follow=sse" : "Accept", ended, has_data, has_end);
    }

    /* a WebSocket follow: no appender, so the whole file as a static response (or a stream of it
     * that ends with CLOSE 1000) */
    tws *w = tws_connect(s->port, u, NULL, &r);
    if (w) {
        tws_collect c = {0};
        int rc = tws_collect_until(w, &c, SIZE_MAX, T_TIMEOUT);
        tws_free(w);
        EXPECTF(
            rc == 0 && c.close_code == 1000 && c.data.len == len && !memcmp(c.data.p, RO_TEXT, len),
            "%s: WebSocket follow: %s, close %u, %zu bytes", how, c.err, c.close_code, c.data.len);
        tws_collect_free(&c);
    } else {
        EXPECTF(r.status == 200 && r.body.len == len && !memcmp(r.body.p, RO_TEXT, len),
                "%s: WebSocket follow: status %d, %zu bytes", how, r.status, r.body.len);
    }
    thttp_free(&r);

    /* appends: 403, not 500 */
    w = tws_connect(s->port, u, "X-Verb: APPEND\r\n", &r);
    st = r.status;
    thttp_free(&r);
    if (w) {
        tws_send_text(w, "PWNED");
        ws_end(w);
        tws_free(w);
    }
    EXPECTF(st == 403, "%s: WebSocket APPEND: status %d, want 403", how, st);
    CHECK(put_small(s->port, u, "PWNED", 5, &r) == 0);
    st = r.status;
    thttp_free(&r);
    EXPECTF(st == 403, "%s: PUT: status %d, want 403", how, st);
    tbuf now = file_of(s, name);
    EXPECTF(now.len == len && !memcmp(now.p, RO_TEXT, len), "%s: the file changed (%zu bytes)", how,
            now.len);
    tbuf_free(&now);
}

static void test_follow_without_write_access(void)
{
    tsrv *s = tsrv_start(NULL);
    int methods = 0;
    CHECK(s);

    /* an immutable file (chattr +i) */
    const char *imm = tsrv_path(s, "imm.log");
    char imm_path[400];
    snprintf(imm_path, sizeof(imm_path), "%s", imm);
    CHECK(t_file_write(imm_path, RO_TEXT, strlen(RO_TEXT)) == 0);
    if (set_immutable(imm_path, 1) == 0) {
        methods++;
        check_read_only_followers(s, "imm.log", "immutable file");
        if (set_immutable(imm_path, 0) < 0)
            test_fail(__FILE__, __LINE__, "cannot clear the immutable flag of %s: %s", imm_path,
                      strerror(errno));
    } else {
        fprintf(stderr, "  note: chattr +i is not possible here (%s)\n", strerror(errno));
    }

    /* a file on a read-only bind mount (a subdirectory of the root, mounted after the server
     * opened the root) */
    char ro_dir[400];
    snprintf(ro_dir, sizeof(ro_dir), "%s", tsrv_path(s, "ro"));
    CHECK(mkdir(ro_dir, 0755) == 0);
    CHECK(t_file_write(t_fmt("%s/r.log", ro_dir), RO_TEXT, strlen(RO_TEXT)) == 0);
    if (bind_read_only(ro_dir) == 0) {
        methods++;
        check_read_only_followers(s, "ro/r.log", "read-only mount");
        t_sleep_ms(100); /* connections to files there close */
        if (umount2(ro_dir, MNT_DETACH) < 0)
            test_fail(__FILE__, __LINE__, "cannot unmount %s: %s", ro_dir, strerror(errno));
    } else {
        fprintf(stderr, "  note: a read-only bind mount is not possible here (%s)\n",
                strerror(errno));
    }

    if (!methods) {
        if (geteuid() != 0) {
            fprintf(stderr, "  note: neither chattr +i nor a read-only mount is possible: using a "
                            "0444 file (not root)\n");
            CHECK(t_file_write(tsrv_path(s, "ro444.log"), RO_TEXT, strlen(RO_TEXT)) == 0);
            CHECK(chmod(tsrv_path(s, "ro444.log"), 0444) == 0);
            check_read_only_followers(s, "ro444.log", "0444 file");
        } else {
            fprintf(stderr, "  SKIP: running as root and neither chattr +i nor a read-only bind "
                            "mount is possible here: defect 9 is NOT tested\n");
        }
    }
    tsrv_stop(s);
}

/* ---- 10: -frame-max below 4 ------------------------------------------------------------------
 */

static void test_frame_max_below_4_refused(void)
{
    const char *bad[] = {"-frame-max=1", "-frame-max=2", "-frame-max=3"};
    for (int i = 0; i < 3; i++) {
        const char *flags[] = {bad[i], NULL};
        int st = tsrv_run_status(flags, 3000);
        EXPECTF(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 2,
                "%s: status 0x%x (-1: still running after 3 s), want exit 2", bad[i], st);
    }
}

static void test_frame_max_4_text_follower(void)
{
    const char *flags[] = {"-frame-max=4", NULL};
    tsrv *s = tsrv_start(flags);
    tbuf want = {0};
    CHECK(s);
    for (int i = 0; i < 1000; i++)
        tbuf_adds(&want, "\xF0\x9F\x98\x80"); /* U+1F600 */
    tbuf_adds(&want, "\n");

    tws *app = tws_append(s->port, "/smile.txt");
    CHECK(app);
    CHECK(tws_send(app, WS_OP_BINARY, 1, want.p, 6) == 0); /* ends inside a character */
    CHECK(t_file_wait_eq(tsrv_path(s, "smile.txt"), want.p, 6, 5000));
    tws *fol = tws_follow(s->port, "/smile.txt");
    CHECK(fol);
    size_t off = 6;
    size_t steps[] = {1, 2, 3, 5, 7, 4, 9, 4096};
    for (int i = 0; off < want.len; i++) {
        size_t k = steps[i % 8];
        if (k > want.len - off)
            k = want.len - off;
        CHECK(tws_send(app, WS_OP_BINARY, 1, want.p + off, k) == 0);
        off += k;
    }
    CHECK(t_file_wait_eq(tsrv_path(s, "smile.txt"), want.p, want.len, 5000));
    CHECK(ws_end(app) == 0);
    tws_free(app);
    tws_collect c = {.opcode = WS_OP_TEXT, .frame_max = 4, .utf8 = 1};
    int rc = tws_collect_until(fol, &c, SIZE_MAX, 15000);
    CHECKF(rc == 0, "TEXT follower with -frame-max=4: %s (%zu of %zu bytes, closed %d)", c.err,
           c.bytes, want.len, c.closed);
    CHECK_INT(c.close_code, 1000);
    CHECK_MEM(c.data.p, c.data.len, want.p, want.len);
    tws_collect_free(&c);
    tws_free(fol);
    tbuf_free(&want);
    tsrv_stop(s);
}

/* ---- 12: statuses and small lapses -----------------------------------------------------------
 */

static void test_long_component_414(void)
{
    tsrv *s = tsrv_start(NULL);
    thttp_resp r;
    char name[300];
    CHECK(s);
    memset(name, 'a', 256);
    name[256] = '\0';

    const char *paths[] = {t_fmt("/%s", name), t_fmt("/%s.log", name), t_fmt("/sub/%s", name),
                           t_fmt("/%s/x.log", name)};
    char p[4][400];
    for (int i = 0; i < 4; i++)
        snprintf(p[i], sizeof(p[i]), "%s", paths[i]);
    for (int i = 0; i < 4; i++) {
        int before = t_tree_count(s->root);
        CHECK(put_small(s->port, p[i], "x\n", 2, &r) == 0);
        int st = r.status;
        thttp_free(&r);
        EXPECTF(st == 414, "PUT %.12s...(%zu bytes): status %d, want 414", p[i], strlen(p[i]), st);
        int n = t_tree_count(s->root) - before;
        EXPECTF(n == 0, "PUT %.12s...: %d entries created under the root", p[i], n);
    }
    /* 255 bytes is a valid name */
    name[255] = '\0';
    CHECK(put_small(s->port, t_fmt("/%s", name), "x\n", 2, &r) == 0);
    CHECKF(r.status == 201, "a 255-byte name: status %d, want 201", r.status);
    thttp_free(&r);
    tsrv_stop(s);
}

static void test_http_versions_505(void)
{
    tsrv *s = tsrv_start(NULL);
    thttp_resp r;
    CHECK(s);
    const char *versions[] = {"2.0", "1.2", "3.0", "2.1"};
    for (int i = 0; i < 4; i++) {
        const char *req =
            t_fmt("GET / HTTP/%s\r\nHost: h\r\nConnection: close\r\n\r\n", versions[i]);
        int rc = thttp_raw(s->port, req, strlen(req), &r, 0);
        EXPECTF(rc == 0 && r.status == 505, "GET / HTTP/%s: status %d, want 505", versions[i],
                r.status);
        thttp_free(&r);
    }
    const char *ok = "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
    CHECK(thttp_raw(s->port, ok, strlen(ok), &r, 0) == 0);
    CHECK_INT(r.status, 200);
    thttp_free(&r);
    tsrv_stop(s);
}

/* A PUT refused with 413 for its Content-Length on a new resource creates nothing, and ?wait
 * followers keep waiting; a later append then reaches them. */
static void test_413_new_resource_creates_nothing(void)
{
    const char *flags[] = {"-max-size=1000", NULL};
    tsrv *s = tsrv_start(flags);
    uint8_t big[2000];
    thttp_resp r;
    char seen[128];
    CHECK(s);
    memset(big, 'b', sizeof(big));

    ths *h = ths_get(s->port, "/new.log?follow&wait", NULL);
    CHECK(h);
    CHECKF(h->r.status == 200, "?follow&wait: status %d", h->r.status);
    tws *w = tws_follow(s->port, "/new.log?wait");
    CHECK(w);
    t_sleep_ms(100);

    CHECK(put_small(s->port, "/new.log", big, sizeof(big), &r) == 0);
    int st = r.status;
    thttp_free(&r);
    CHECKF(st == 413, "PUT of 2000 bytes with -max-size=1000: status %d, want 413", st);
    t_sleep_ms(100);
    EXPECTF(!t_exists(tsrv_path(s, "new.log")), "the 413 created new.log (%lld bytes)",
            file_size(s, "new.log"));
    int hq = ths_quiet(h, 1000);
    EXPECTF(hq, "the ?follow&wait follower was woken by the 413: %zu body bytes, ended %d, eof %d",
            h->body.len, h->done, h->eof);
    int wq = ws_quiet(w, 1000, seen, sizeof(seen));
    EXPECTF(wq, "the WebSocket ?wait follower was woken by the 413: %s", seen);
    CHECK(hq && wq);

    /* they are still waiting properly: a real append reaches them, then the end */
    CHECK(put_small(s->port, "/new.log", "hello\n", 6, &r) == 0);
    CHECKF(r.status == 201, "PUT after the 413: status %d, want 201", r.status);
    thttp_free(&r);
    CHECKF(ths_end(h, T_TIMEOUT), "?follow&wait did not end: %s", h->err);
    CHECK_MEM(h->body.p, h->body.len, "hello\n", 6);
    tws_collect c = {0};
    CHECKF(tws_collect_until(w, &c, SIZE_MAX, T_TIMEOUT) == 0, "%s", c.err);
    CHECK_INT(c.close_code, 1000);
    CHECK_MEM(c.data.p, c.data.len, "hello\n", 6);
    tws_collect_free(&c);
    tws_free(w);
    ths_free(h);
    tsrv_stop(s);
}

/* SIGHUP is ignored: the server keeps running and its followers keep receiving. */
static void test_sighup_ignored(void)
{
    tsrv *s = tsrv_start(NULL);
    CHECK(s);
    tws *app = tws_append(s->port, "/hup.log");
    CHECK(app);
    CHECK(tws_send_text(app, "one\n") == 0);
    CHECK(t_file_wait_eq(tsrv_path(s, "hup.log"), "one\n", 4, 5000));
    tws *fol = tws_follow(s->port, "/hup.log");
    CHECK(fol);
    ths *h = ths_get(s->port, "/hup.log?follow", NULL);
    CHECK(h && h->r.status == 200);
    tws_collect c = {0};
    CHECKF(tws_collect_until(fol, &c, 4, T_TIMEOUT) == 0, "%s", c.err);
    CHECK(ths_until(h, 4, T_TIMEOUT));

    CHECK(kill(s->pid, SIGHUP) == 0);
    t_sleep_ms(500);
    int st = tsrv_wait_exit(s, 0);
    CHECKF(st == -1, "the server exited on SIGHUP (wait status 0x%x: %s %d)", st,
           WIFSIGNALED(st) ? "signal" : "exit", WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));

    CHECK(tws_send_text(app, "two\n") == 0);
    CHECKF(tws_collect_until(fol, &c, 8, T_TIMEOUT) == 0, "after SIGHUP: %s", c.err);
    CHECKF(ths_until(h, 8, T_TIMEOUT), "after SIGHUP the ?follow follower got %zu bytes: %s",
           h->body.len, h->err);
    CHECK(ws_end(app) == 0);
    CHECKF(tws_collect_until(fol, &c, SIZE_MAX, T_TIMEOUT) == 0, "%s", c.err);
    CHECK_INT(c.close_code, 1000);
    CHECK_MEM(c.data.p, c.data.len, "one\ntwo\n", 8);
    CHECKF(ths_end(h, T_TIMEOUT), "?follow did not end: %s", h->err);
    CHECK_MEM(h->body.p, h->body.len, "one\ntwo\n", 8);
    tws_collect_free(&c);
    tws_free(app);
    tws_free(fol);
    ths_free(h);

    /* new connections are served; the signal was logged */
    thttp_resp r;
    CHECK(thttp_get(s->port, "/hup.log", NULL, &r) == 0);
    CHECK_INT(r.status, 200);
    thttp_free(&r);
    tbuf log = {0};
    CHECK(t_file_read(s->log, &log) == 0);
    tbuf_add(&log, "", 1);
    EXPECTF(strcasestr((const char *)log.p, "hup") != NULL, "SIGHUP is not mentioned in the log");
    tbuf_free(&log);
    tsrv_stop(s);
}

/* A Last-Event-ID past the end of a finished resource is 416, whatever its length. */
static void test_last_event_id_long_416(void)
{
    tsrv *s = tsrv_start(NULL);
    thttp_resp r;
    CHECK(s);
    CHECK(t_file_write(tsrv_path(s, "done.log"), "hello\n", 6) == 0);
    const char *ids[] = {"12345678901234567890", "1234567890123456789012345678901234567890",
                         "99999999999999999999999999999999999999999999999999"};
    for (int i = 0; i < 3; i++) {
        for (int how = 0; how < 2; how++) {
            const char *path = how ? "/done.log?follow=sse" : "/done.log";
            const char *hdr = t_fmt("%sLast-Event-ID: %s\r\n", how ? "" : SSE_ACCEPT, ids[i]);
            CHECK(thttp_get(s->port, path, hdr, &r) == 0);
            const char *cr = thttp_header(&r, "Content-Range");
            EXPECTF(r.status == 416 && cr && !strcmp(cr, "bytes */6"),
                    "SSE %s with a %zu-digit Last-Event-ID: status %d (Content-Range %s), want "
                    "416",
                    path, strlen(ids[i]), r.status, cr ? cr : "none");
            thttp_free(&r);
        }
    }
    /* at the end: 204; inside: the rest */
    CHECK(thttp_get(s->port, "/done.log", SSE_ACCEPT "Last-Event-ID: 6\r\n", &r) == 0);
    CHECK_INT(r.status, 204);
    thttp_free(&r);
    tsrv_stop(s);
}

/* ---- 13: resource bytes are sandboxed ---------------------------------------------------------
 */

/* NULL when the head has Content-Security-Policy with a sandbox directive (no allow-scripts or
 * allow-same-origin) and X-Content-Type-Options: nosniff; else what is wrong. */
static const char *sandbox_problem(const char *head)
{
    int sandbox = 0;
    char csp[512] = "";
    for (const char *line = strstr(head, "\r\n"); line && line[2];
         line = strstr(line + 2, "\r\n")) {
        const char *l = line + 2;
        if (strncasecmp(l, "Content-Security-Policy:", 24) != 0)
            continue;
        const char *end = strstr(l, "\r\n");
        snprintf(csp, sizeof(csp), "%.*s", (int)(end - l - 24), l + 24);
        for (char *d = strtok(csp, ";"); d; d = strtok(NULL, ";")) {
            while (*d == ' ' || *d == '\t')
                d++;
            if (!strncasecmp(d, "sandbox", 7) && (d[7] == '\0' || d[7] == ' ') &&
                !strstr(d, "allow-scripts") && !strstr(d, "allow-same-origin"))
                sandbox = 1;
        }
    }
    if (!sandbox)
        return "no Content-Security-Policy: sandbox";
    thttp_resp tmp;
    snprintf(tmp.head, sizeof(tmp.head), "%s", head);
    const char *xcto = thttp_header(&tmp, "X-Content-Type-Options");
    if (!xcto || strcasecmp(xcto, "nosniff") != 0)
        return "no X-Content-Type-Options: nosniff";
    return NULL;
}

/* A header line for messages: without its CRLF ("" for NULL). */
static const char *one_line(const char *h)
{
    return h ? t_fmt("%.*s", (int)strcspn(h, "\r\n"), h) : "";
}

static void check_sandboxed_resource(tsrv *s, const char *name, const char *body)
{
    size_t len = strlen(body);
    thttp_resp r;
    const char *why;
    char u[128];
    snprintf(u, sizeof(u), "/%s", name);

    struct {
        const char *method, *path, *headers;
        int status;
    } plain[] = {
        {"GET", "", NULL, 200},
        {"HEAD", "", NULL, 200},
        {"GET", "", "Range: bytes=0-4\r\n", 206},
        {"GET", "", "Range: bytes=0-1,3-4\r\n", 206},
        {"GET", "?raw", BROWSER_ACCEPT, 200},
        {"GET", "?offset=2", NULL, 200},
        {"GET", "", "Accept: */*\r\n", 200},
    };
    for (size_t i = 0; i < sizeof(plain) / sizeof(*plain); i++) {
        char p[200];
        snprintf(p, sizeof(p), "%s%s", u, plain[i].path);
        tbuf q = {0};
        tbuf_adds(&q, t_fmt("%s %s HTTP/1.1\r\nHost: h\r\nConnection: close\r\n%s\r\n",
                            plain[i].method, p, plain[i].headers ? plain[i].headers : ""));
        int rc = thttp_raw(s->port, q.p, q.len, &r, !strcmp(plain[i].method, "HEAD"));
        tbuf_free(&q);
        CHECK(rc == 0);
        why = sandbox_problem(r.head);
        EXPECTF(r.status == plain[i].status && !why, "%s %s %s: status %d, %s", plain[i].method, p,
                one_line(plain[i].headers), r.status, why ? why : "ok");
        thttp_free(&r);
    }

    /* a WebSocket follow of a file with no appender is answered with the file */
    tws *w = tws_connect(s->port, u, NULL, &r);
    CHECK(!w);
    why = sandbox_problem(r.head);
    EXPECTF(r.status == 200 && r.body.len == len && !why, "WebSocket handshake %s: %d, %s", u,
            r.status, why ? why : "ok");
    thttp_free(&r);

    /* streams: ?follow, SSE both ways */
    const char *streams[][2] = {{"?follow", NULL}, {"?follow=sse", NULL}, {"", SSE_ACCEPT}};
    for (int i = 0; i < 3; i++) {
        char p[200];
        snprintf(p, sizeof(p), "%s%s", u, streams[i][0]);
        ths *h = ths_get(s->port, p, streams[i][1]);
        CHECK(h);
        why = sandbox_problem(h->r.head);
        EXPECTF(h->r.status == 200 && !why, "GET %s %s: status %d, %s", p, one_line(streams[i][1]),
                h->r.status, why ? why : "ok");
        EXPECTF(ths_end(h, T_TIMEOUT), "GET %s did not end", p);
        ths_free(h);
    }
}

static void test_resource_bytes_sandboxed(void)
{
    tsrv *s = tsrv_start(NULL);
    thttp_resp r;
    const char *html = "<html><body><script>document.title='pwned'</script>hi</body></html>\n";
    const char *svg = "<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script>"
                      "<circle r=\"5\"/></svg>\n";
    CHECK(s);
    CHECK(t_file_write(tsrv_path(s, "page.html"), html, strlen(html)) == 0);
    CHECK(t_file_write(tsrv_path(s, "pic.svg"), svg, strlen(svg)) == 0);
    check_sandboxed_resource(s, "page.html", html);
    check_sandboxed_resource(s, "pic.svg", svg);

    /* live: a snapshot and streams of a resource being appended to */
    tws *app = tws_append(s->port, "/live.html");
    CHECK(app);
    CHECK(tws_send_text(app, "<script>alert(2)</script>\n") == 0);
    CHECK(t_file_wait_eq(tsrv_path(s, "live.html"), "<script>alert(2)</script>\n", 26, 5000));
    CHECK(thttp_get(s->port, "/live.html", NULL, &r) == 0);
    const char *why = sandbox_problem(r.head);
    EXPECTF(r.status == 200 && !why, "GET of a live .html: %d, %s", r.status, why ? why : "ok");
    thttp_free(&r);
    const char *streams[][2] = {
        {"/live.html?follow", NULL}, {"/live.html?follow=sse", NULL}, {"/live.html", SSE_ACCEPT}};
    ths *hs[3];
    for (int i = 0; i < 3; i++) {
        hs[i] = ths_get(s->port, streams[i][0], streams[i][1]);
        CHECK(hs[i]);
        why = sandbox_problem(hs[i]->r.head);
        EXPECTF(hs[i]->r.status == 200 && !why, "live GET %s %s: status %d, %s", streams[i][0],
                one_line(streams[i][1]), hs[i]->r.status, why ? why : "ok");
    }
    CHECK(ws_end(app) == 0);
    tws_free(app);
    for (int i = 0; i < 3; i++) {
        EXPECTF(ths_end(hs[i], T_TIMEOUT), "live GET %s did not end", streams[i][0]);
        ths_free(hs[i]);
    }

    /* the viewer keeps its own policy (a sandbox without scripts would break it) */
    const char *views[] = {"/page.html?view", "/pic.svg?view", "/other.log?view"};
    for (int i = 0; i < 3; i++) {
        CHECK(thttp_get(s->port, views[i], BROWSER_ACCEPT, &r) == 0);
        const char *csp = thttp_header(&r, "Content-Security-Policy");
        int n = thttp_header_count(&r, "Content-Security-Policy");
        EXPECTF(r.status == 200 && n == 1 && csp && !strncmp(csp, "default-src 'none'", 18) &&
                    !strstr(csp, "sandbox"),
                "viewer %s: status %d, %d CSP headers, first [%s]", views[i], r.status, n,
                csp ? csp : "");
        thttp_free(&r);
    }

    /* directory listings are the server's own pages, not resource bytes: no sandbox */
    const char *accepts[] = {NULL, BROWSER_ACCEPT, "Accept: application/json\r\n"};
    for (int i = 0; i < 3; i++) {
        CHECK(thttp_get(s->port, "/", accepts[i], &r) == 0);
        const char *csp = thttp_header(&r, "Content-Security-Policy");
        EXPECTF(r.status == 200 && (!csp || !strstr(csp, "sandbox")),
                "listing of / (%s): status %d, CSP [%s]",
                accepts[i] ? one_line(accepts[i]) : "no Accept", r.status, csp ? csp : "");
        thttp_free(&r);
    }
    tsrv_stop(s);
}

int main(void)
{
    RUN(test_max_size_ws_frame_writes_nothing);
    RUN(test_max_size_put_sized_writes_nothing);
    RUN(test_max_size_put_chunked_prefix);
    RUN(test_max_size_existing_larger_file);
    RUN(test_follow_without_write_access);
    RUN(test_frame_max_below_4_refused);
    RUN(test_frame_max_4_text_follower);
    RUN(test_long_component_414);
    RUN(test_http_versions_505);
    RUN(test_413_new_resource_creates_nothing);
    RUN(test_sighup_ignored);
    RUN(test_last_event_id_long_416);
    RUN(test_resource_bytes_sandboxed);
    return test_report();
}
