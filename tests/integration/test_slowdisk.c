/* test_slowdisk.c -- write-behind on a slow disk, against the real server with the slow-disk shim
 * (tests/shim/slowdisk.c, LD_PRELOADed: writes to regular files move at HFS_SLOWDISK_BPS, and
 * every fdatasync is counted): a writer that resumes with X-Append-Offset or Content-Range after
 * an appender dropped while megabytes of its bytes were still being written behind is told the
 * size those bytes give (409/416), so the file is what was accepted then the new body, with nothing
 * duplicated; on SIGTERM the appender's CLOSE 1001 comes once its bytes are in the file, and a
 * second signal after it truncates nothing; and -sync=interval syncs a streaming HTTP append (a
 * chunked PUT) as often as a WebSocket one. */
#include "../harness.h"

#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define SLOW_BPS "5000000"         /* the simulated disk: 5 MB/s */
#define DROP_LEN ((size_t)6 << 20) /* what an appender sends: about 1.3 s of disk time */
#define MSG_LEN  ((size_t)64 << 10)

/* ---- the shim -------------------------------------------------------------------------------- */

/* The shim's absolute path: next to the server's build (HFS_BIN/../tests), else in HFS_BUILD/tests,
 * else build/tests; NULL when none exists. It is built without sanitizers: any build's will do. */
static const char *shim_path(void)
{
    static char path[PATH_MAX];
    const char *bin = getenv("HFS_BIN"), *build = getenv("HFS_BUILD");
    const char *cand[3] = {bin && *bin ? t_fmt("%s/../tests/libslowdisk.so", bin) : NULL,
                           build && *build ? t_fmt("%s/tests/libslowdisk.so", build) : NULL,
                           "build/tests/libslowdisk.so"};
    for (int i = 0; i < 3; i++)
        if (cand[i] && realpath(cand[i], path))
            return path;
    return NULL;
}

static void env_restore(const char *name, const char *saved)
{
    if (saved)
        setenv(name, saved, 1);
    else
        unsetenv(name);
}

/* 1 when the process has the shim mapped. */
static int has_shim(pid_t pid)
{
    tbuf maps = {0};
    int ok = t_file_read(t_fmt("/proc/%d/maps", (int)pid), &maps) == 0 &&
             t_contains(maps.p, maps.len, "libslowdisk.so");
    tbuf_free(&maps);
    return ok;
}

/* Starts the server with the shim preloaded: a disk of bps bytes per second ("0": unthrottled),
 * syncs reported in the file log_path (NULL: not reported). NULL after counting a failure. */
static tsrv *start_shimmed(const char *const *flags, const char *bps, const char *log_path)
{
    const char *shim = shim_path();
    if (!shim) {
        test_fail(__FILE__, __LINE__, "libslowdisk.so not found (HFS_BUILD=%s, HFS_BIN=%s)",
                  getenv("HFS_BUILD") ? getenv("HFS_BUILD") : "",
                  getenv("HFS_BIN") ? getenv("HFS_BIN") : "");
        return NULL;
    }
    char *old_preload = getenv("LD_PRELOAD") ? strdup(getenv("LD_PRELOAD")) : NULL;
    char *old_asan = getenv("ASAN_OPTIONS") ? strdup(getenv("ASAN_OPTIONS")) : NULL;
    setenv("LD_PRELOAD", shim, 1);
    /* a sanitizer build refuses a library loaded before its runtime unless told */
    setenv("ASAN_OPTIONS",
           old_asan && *old_asan ? t_fmt("%s:verify_asan_link_order=0", old_asan)
                                 : "verify_asan_link_order=0",
           1);
    setenv("HFS_SLOWDISK_BPS", bps, 1);
    if (log_path)
        setenv("HFS_SLOWDISK_LOG", log_path, 1);
    tsrv *s = tsrv_start(flags);
    env_restore("LD_PRELOAD", old_preload);
    env_restore("ASAN_OPTIONS", old_asan);
    unsetenv("HFS_SLOWDISK_BPS");
    unsetenv("HFS_SLOWDISK_LOG");
    free(old_preload);
    free(old_asan);
    if (s && !has_shim(s->pid)) {
        test_fail(__FILE__, __LINE__, "the server runs without the shim %s", shim);
        return NULL;
    }
    return s;
}

/* Syncs (fdatasync or fsync) of the file with inode ino reported in the shim's log so far. */
static int syncs_of(const char *log, ino_t ino)
{
    tbuf b = {0};
    int n = 0;
    if (t_file_read(log, &b) < 0) {
        tbuf_free(&b);
        return 0;
    }
    tbuf_add(&b, "", 1);
    const char *needle = t_fmt("sync ino=%llu ", (unsigned long long)ino);
    for (const char *p = (const char *)b.p; (p = strstr(p, needle)); p++)
        n++;
    tbuf_free(&b);
    return n;
}

/* ---- helpers --------------------------------------------------------------------------------- */

static long long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

static ino_t file_ino(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_ino : 0;
}

/* 1 when a is a prefix of b. */
static int is_prefix(const tbuf *a, const uint8_t *b, size_t blen)
{
    return a->len <= blen && (a->len == 0 || memcmp(a->p, b, a->len) == 0);
}

/* Sends data in MSG_LEN BINARY messages, then a PING, and waits for its PONG: the server has then
 * decoded (accepted) every byte. 0, or -1 with a note. */
static int send_accepted(tws *w, const uint8_t *data, size_t len)
{
    tws_frame f;
    for (size_t off = 0; off < len; off += MSG_LEN)
        if (tws_send(w, WS_OP_BINARY, 1, data + off, len - off < MSG_LEN ? len - off : MSG_LEN) <
            0) {
            fprintf(stderr, "  note: the appender's connection failed at %zu of %zu bytes\n", off,
                    len);
            return -1;
        }
    if (tws_send(w, WS_OP_PING, 1, "accepted?", 9) < 0)
        return -1;
    int t = tws_read_type(w, WS_EV_PONG, &f, 30000);
    if (t != WS_EV_PONG || f.len != 9 || memcmp(f.data, "accepted?", 9) != 0) {
        fprintf(stderr, "  note: no PONG after the data (type %d)\n", t);
        return -1;
    }
    return 0;
}

/* A PUT with a sized body on its own connection (Connection: close); headers end with "\r\n". */
static int put_sized(int port, const char *path, const char *headers, const void *body, size_t n,
                     thttp_resp *r)
{
    tbuf q = {0};
    tbuf_adds(&q, t_fmt("PUT %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n"
                        "Content-Length: %zu\r\n%s\r\n",
                        path, port, n, headers ? headers : ""));
    tbuf_add(&q, body, n);
    int rc = thttp_raw(port, q.p, q.len, r, 0);
    tbuf_free(&q);
    return rc;
}

/* ---- a writer resuming after an appender dropped --------------------------------------------- */

/* An appender sends DROP_LEN bytes (all accepted: the PONG says so) and its connection ends (a FIN,
 * or an RST with rst) while most of them still wait for the slow disk. The writer that takes over
 * asks the size (HEAD) and PUTs B at that offset (X-Append-Offset, or Content-Range with
 * via_range), following every 409/416 to the size it names. The offset finally accepted must be
 * the whole of what the appender had got accepted, and the file exactly A then B. */
static void resume_after_drop(int via_range, int rst)
{
    const size_t blen = 20000;
    tsrv *s = start_shimmed(NULL, SLOW_BPS, NULL);
    uint8_t *a = malloc(DROP_LEN), *b = malloc(blen);
    tbuf file = {0};
    thttp_resp r;
    CHECK(s && a && b);
    t_rand_fill(a, DROP_LEN);
    t_rand_fill(b, blen);
    const char *name = via_range ? "range.bin" : "offset.bin";
    char path[300], url[64];
    snprintf(path, sizeof(path), "%s", tsrv_path(s, name));
    snprintf(url, sizeof(url), "/%s", name);

    tws *w = tws_append(s->port, url);
    CHECK(w);
    CHECK(send_accepted(w, a, DROP_LEN) == 0);
    long long at_drop = file_size(path);
    if (rst) {
        t_close_rst(w->fd);
        w->fd = -1;
    }
    tws_free(w); /* the PONG was read: a plain close sends a FIN */
    CHECKF(at_drop >= 0 && (size_t)at_drop < DROP_LEN,
           "the file had %lld of the %zu bytes when the appender dropped: the disk was not slow "
           "(is the shim working?)",
           at_drop, DROP_LEN);

    /* the size the new writer is told */
    CHECK(thttp_req(s->port, "HEAD", url, NULL, &r) == 0);
    CHECKF(r.status == 200, "HEAD: %d", r.status);
    const char *cl = thttp_header(&r, "Content-Length");
    CHECKF(cl, "HEAD: no Content-Length");
    unsigned long long head = strtoull(cl, NULL, 10), off = head;
    thttp_free(&r);

    /* PUT B at that offset; a stale offset is answered with the size to use */
    const int stale_status = via_range ? 416 : 409;
    int accepted = 0, stale = 0, busy = 0;
    unsigned long long answered = 0; /* the 200's X-Resource-Size */
    char trail[512] = "";
    size_t tl = 0;
    int64_t deadline = t_now_ms() + 30000;
    while (!accepted && stale < 20 && t_now_ms() < deadline) {
        const char *hdr = via_range ? t_fmt("Content-Range: bytes %llu-*/*\r\n", off)
                                    : t_fmt("X-Append-Offset: %llu\r\n", off);
        CHECKF(put_sized(s->port, url, hdr, b, blen, &r) == 0, "no answer to the PUT at %llu", off);
        if (r.status == 200) {
            accepted = 1;
            const char *v = thttp_header(&r, "X-Resource-Size");
            answered = v ? strtoull(v, NULL, 10) : 0;
        } else if (r.status == stale_status) {
            const char *v = thttp_header(&r, "X-Resource-Size");
            CHECKF(v, "a %d without X-Resource-Size", r.status);
            unsigned long long size = strtoull(v, NULL, 10);
            if (via_range) {
                const char *cr = thttp_header(&r, "Content-Range");
                CHECKF(cr && strcmp(cr, t_fmt("bytes */%llu", size)) == 0,
                       "416: Content-Range: %s with X-Resource-Size: %llu", cr ? cr : "(none)",
                       size);
            }
            CHECKF(size != off, "a %d for offset %llu naming that same size", r.status, off);
            stale++;
            if (tl < sizeof(trail) - 32)
                tl += (size_t)snprintf(trail + tl, sizeof(trail) - tl, " %d->%llu", r.status, size);
            off = size;
        } else if (r.status == 403 && busy < 100) {
            busy++; /* the dropped session's end not processed yet */
            t_sleep_ms(50);
        } else {
            CHECKF(0, "the PUT at %llu: status %d", off, r.status);
        }
        thttp_free(&r);
    }
    CHECKF(accepted, "no PUT accepted (HEAD said %llu; answers:%s)", head, trail);
    printf("# %s, %s: %lld of %zu bytes in the file at the drop; HEAD said %llu; answers:%s "
           "200 at %llu\n",
           via_range ? "Content-Range" : "X-Append-Offset", rst ? "RST" : "FIN", at_drop, DROP_LEN,
           head, trail, off);

    /* the answer came once B was in the file; give a slow write a moment anyway */
    for (int64_t end = t_now_ms() + 10000;
         file_size(path) < (long long)(off + blen) && t_now_ms() < end;)
        t_sleep_ms(20);
    CHECK(t_file_read(path, &file) == 0);
    int a_ok = file.len >= off && off <= DROP_LEN && memcmp(file.p, a, off) == 0;
    int b_ok = a_ok && file.len == off + blen && memcmp(file.p + off, b, blen) == 0;
    CHECKF(b_ok,
           "the file has %zu bytes, want %llu: the %llu bytes of the appender the PUT was accepted "
           "after, then its %zu (%s)",
           file.len, off + blen, off, blen,
           !a_ok ? "not a prefix of what the appender sent"
           : file.len == DROP_LEN + blen && memcmp(file.p + DROP_LEN, b, blen) == 0
               ? "the appender's bytes past that offset, still being written behind, landed "
                 "before the PUT's: a writer resending from that offset duplicates them"
               : "the PUT's body is not right after them");
    CHECKF(off == DROP_LEN,
           "the PUT was accepted at %llu, but the dropped appender had %zu bytes accepted", off,
           DROP_LEN);
    CHECKF(answered == off + blen, "the PUT's 200 said X-Resource-Size: %llu, want %llu", answered,
           off + blen);
    tbuf_free(&file);
    free(a);
    free(b);
    tsrv_stop(s);
}

static void test_resume_offset_after_drop(void)
{
    resume_after_drop(0, 0);
}

static void test_resume_range_after_reset(void)
{
    resume_after_drop(1, 1);
}

/* ---- SIGTERM while bytes are being written behind -------------------------------------------- */

/* An appender's DROP_LEN bytes are accepted (PONG) while the disk is far behind, then SIGTERM: the
 * CLOSE 1001 comes only once they are all in the file. With second_signal, a second SIGTERM right
 * after the 1001 ends the process at once (exit 1), and the file keeps what it had at the 1001. */
static void sigterm_while_behind(int second_signal)
{
    const char *flags[] = {"-shutdown-timeout=30s", NULL};
    tsrv *s = start_shimmed(flags, SLOW_BPS, NULL);
    uint8_t *a = malloc(DROP_LEN);
    tbuf at_close = {0}, final = {0};
    char reason[128];
    CHECK(s && a);
    t_rand_fill(a, DROP_LEN);
    char path[300];
    snprintf(path, sizeof(path), "%s", tsrv_path(s, "term.bin"));

    tws *w = tws_append(s->port, "/term.bin");
    CHECK(w);
    CHECK(send_accepted(w, a, DROP_LEN) == 0);
    long long at_term = file_size(path);
    int64_t t0 = t_now_ms();
    tsrv_term(s);
    unsigned code = tws_read_close(w, reason, sizeof(reason), 30000);
    long long size_at_close = file_size(path); /* at once: before anything else */
    int64_t t_close = t_now_ms();
    if (second_signal && code)
        CHECK(kill(s->pid, SIGTERM) == 0);
    CHECK(t_file_read(path, &at_close) == 0);
    CHECKF(code == 1001, "the appender got CLOSE %u (%s), want 1001", code, reason);
    CHECKF(at_term >= 0 && (size_t)at_term < DROP_LEN,
           "the file had %lld of the %zu bytes at SIGTERM: the disk was not slow (is the shim "
           "working?)",
           at_term, DROP_LEN);
    CHECKF(is_prefix(&at_close, a, DROP_LEN), "at the 1001 the file (%zu bytes) is not a prefix",
           at_close.len);
    printf("# %lld of %zu bytes in the file at SIGTERM, %lld at the 1001 (%lld ms later)\n",
           at_term, DROP_LEN, size_at_close, (long long)(t_close - t0));

    t_wait_eof(w->fd, 5000);
    tws_free(w);
    int st = tsrv_wait_exit(s, 30000);
    CHECKF(st != -1, "the server had not exited 30 s after SIGTERM");
    if (second_signal)
        CHECKF(WIFEXITED(st) || (WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM),
               "exit status 0x%x after the second signal", st);
    else
        CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit status 0x%x, want exit 0", st);
    CHECK(t_file_read(path, &final) == 0);
    printf("# %zu bytes in the file after the exit (status 0x%x)\n", final.len, st);
    CHECKF(is_prefix(&final, a, DROP_LEN), "after the exit the file (%zu bytes) is not a prefix",
           final.len);
    CHECKF(final.len >= (size_t)size_at_close,
           "the file had %lld bytes at the 1001 and %zu after the exit", size_at_close, final.len);
    CHECKF(size_at_close == (long long)DROP_LEN,
           "CLOSE 1001 came with %lld of the %zu accepted bytes in the file (%zu after the %s)",
           size_at_close, DROP_LEN, final.len, second_signal ? "second signal" : "exit");
    CHECKF(final.len == DROP_LEN, "the file has %zu of the %zu accepted bytes after the exit",
           final.len, DROP_LEN);
    tbuf_free(&at_close);
    tbuf_free(&final);
    free(a);
    tsrv_stop(s);
}

static void test_sigterm_1001_after_written(void)
{
    sigterm_while_behind(0);
}

static void test_second_signal_after_1001(void)
{
    sigterm_while_behind(1);
}

/* ---- -sync=interval for a streaming HTTP append ---------------------------------------------- */

#define STREAM_MS 3000
#define STEP_MS   100

static char sync_log[] = "/tmp/hfs-syncs-XXXXXX"; /* removed by main once created */
static int sync_log_made;

static int put_chunk(int fd, const void *p, size_t n)
{
    tbuf b = {0};
    tbuf_adds(&b, t_fmt("%zx\r\n", n));
    tbuf_add(&b, p, n);
    tbuf_adds(&b, "\r\n");
    int rc = t_send_all(fd, b.p, b.len);
    tbuf_free(&b);
    return rc;
}

/* -sync=interval=500ms: a WebSocket appender and a chunked PUT each send a line every 100 ms for
 * 3 s; each must see several fdatasyncs of its file before it ends (about six are due). */
static void test_sync_interval_streaming_put(void)
{
    int lfd = mkstemp(sync_log);
    CHECK(lfd >= 0);
    sync_log_made = 1;
    close(lfd);
    const char *flags[] = {"-sync=interval=500ms", NULL};
    tsrv *s = start_shimmed(flags, "0", sync_log);
    tbuf want = {0};
    thttp_resp r;
    char reason[128];
    CHECK(s);

    /* the WebSocket appender: the policy and the counting work */
    tws *w = tws_append(s->port, "/ws.log");
    CHECK(w);
    ino_t ws_ino = file_ino(tsrv_path(s, "ws.log"));
    CHECK(ws_ino);
    for (int64_t end = t_now_ms() + STREAM_MS; t_now_ms() < end; t_sleep_ms(STEP_MS)) {
        const char *line = t_fmt("ws %lld\n", (long long)t_now_ms());
        CHECK(tws_send(w, WS_OP_TEXT, 1, line, strlen(line)) == 0);
        tbuf_adds(&want, line);
    }
    t_sleep_ms(200); /* a sync in flight is reported */
    int ws_syncs = syncs_of(sync_log, ws_ino);
    CHECK(tws_send_close(w, 1000) == 0);
    CHECKF(tws_read_close(w, reason, sizeof(reason), 10000) == 1000, "no CLOSE 1000 echo");
    tws_free(w);
    CHECK(t_file_wait_eq(tsrv_path(s, "ws.log"), want.p, want.len, 5000));

    /* the chunked PUT, sending the same way */
    want.len = 0;
    int fd = t_connect(s->port);
    CHECK(fd >= 0);
    CHECK(t_send_str(fd, t_fmt("PUT /put.log HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: "
                               "close\r\nTransfer-Encoding: chunked\r\n\r\n",
                               s->port)) == 0);
    ino_t put_ino = 0;
    for (int64_t end = t_now_ms() + STREAM_MS; t_now_ms() < end; t_sleep_ms(STEP_MS)) {
        const char *line = t_fmt("put %lld\n", (long long)t_now_ms());
        CHECKF(put_chunk(fd, line, strlen(line)) == 0, "the PUT's connection failed");
        tbuf_adds(&want, line);
        if (!put_ino)
            put_ino = file_ino(tsrv_path(s, "put.log"));
    }
    t_sleep_ms(200);
    CHECKF(put_ino, "put.log was never created");
    int put_syncs = syncs_of(sync_log, put_ino);
    CHECK(t_send_str(fd, "0\r\n\r\n") == 0);
    CHECK(thttp_read(fd, &r, 0, 10000) == 0);
    close(fd);
    CHECKF(r.status == 201, "the chunked PUT: %d", r.status);
    thttp_free(&r);
    CHECK(t_file_wait_eq(tsrv_path(s, "put.log"), want.p, want.len, 5000));
    int put_after = syncs_of(sync_log, put_ino);
    printf("# -sync=interval=500ms over %d ms: WebSocket %d fdatasyncs; chunked PUT %d before its "
           "end, %d after\n",
           STREAM_MS, ws_syncs, put_syncs, put_after);

    CHECKF(ws_syncs >= 3, "a WebSocket appender streaming for %d ms saw %d fdatasyncs", STREAM_MS,
           ws_syncs);
    CHECKF(put_syncs >= 3,
           "a chunked PUT streaming for %d ms saw %d fdatasyncs before its end (a WebSocket "
           "appender: %d)",
           STREAM_MS, put_syncs, ws_syncs);
    tbuf_free(&want);
    tsrv_stop(s);
}

int main(void)
{
    RUN(test_resume_offset_after_drop);
    RUN(test_resume_range_after_reset);
    RUN(test_sigterm_1001_after_written);
    RUN(test_second_signal_after_1001);
    RUN(test_sync_interval_streaming_put);
    if (sync_log_made)
        unlink(sync_log);
    return test_report();
}
