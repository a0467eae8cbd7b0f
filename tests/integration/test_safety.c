/* test_safety.c -- nothing outside the root is read, created or modified (dot segments in every
 * encoding, backslashes, NUL, symbolic links to files and directories outside the root, for FOLLOW
 * and APPEND alike); malformed requests get a 4xx or a close and the server keeps serving; no
 * response ever names the root path. */
#include "../harness.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define SECRET     "TOPSECRET-FILE\n"
#define SECRET_DIR "TOPSECRET-DIR\n"

/* Outside the root: dir/secret.txt, dir/outdir/inside.txt. Inside: ok.txt, and links out:
 * link.txt -> ../secret.txt, abs.txt -> dir/secret.txt, ldir -> dir/outdir,
 * sub/up -> ../../outdir. */
static tsrv *start_with_traps(void)
{
    tsrv *s = tsrv_start(NULL);
    if (!s)
        return NULL;
    int ok =
        t_file_write(t_fmt("%s/secret.txt", s->dir), SECRET, strlen(SECRET)) == 0 &&
        mkdir(t_fmt("%s/outdir", s->dir), 0755) == 0 &&
        t_file_write(t_fmt("%s/outdir/inside.txt", s->dir), SECRET_DIR, strlen(SECRET_DIR)) == 0 &&
        t_file_write(tsrv_path(s, "ok.txt"), "fine", 4) == 0 &&
        symlink("../secret.txt", tsrv_path(s, "link.txt")) == 0 &&
        symlink(t_fmt("%s/secret.txt", s->dir), tsrv_path(s, "abs.txt")) == 0 &&
        symlink(t_fmt("%s/outdir", s->dir), tsrv_path(s, "ldir")) == 0 &&
        mkdir(tsrv_path(s, "sub"), 0755) == 0 &&
        symlink("../../outdir", tsrv_path(s, "sub/up")) == 0;
    if (!ok)
        test_fail(__FILE__, __LINE__, "cannot set up the traps in %s", s->dir);
    return s;
}

/* The outside world is as it was: the two secrets unchanged, nothing added next to them. */
static int outside_untouched(const tsrv *s)
{
    tbuf b = {0};
    int ok = t_file_read(t_fmt("%s/secret.txt", s->dir), &b) == 0 && b.len == strlen(SECRET) &&
             memcmp(b.p, SECRET, b.len) == 0;
    ok = ok && t_file_read(t_fmt("%s/outdir/inside.txt", s->dir), &b) == 0 &&
         b.len == strlen(SECRET_DIR) && memcmp(b.p, SECRET_DIR, b.len) == 0;
    tbuf_free(&b);
    /* dir holds: root (and what is below it), server.log, secret.txt, outdir, outdir/inside.txt */
    int outside = t_tree_count(s->dir) - t_tree_count(s->root) - 1;
    if (outside != 4)
        fprintf(stderr, "  note: %d entries outside the root, want 4\n", outside);
    return ok && outside == 4;
}

/* A response is harmless: no secret, no server path, no listing of the outside directory, no
 * system file. */
static int harmless(const tsrv *s, const thttp_resp *r)
{
    return !thttp_contains(r, "TOPSECRET") && !thttp_contains(r, s->dir) &&
           !t_contains(r->body.p, r->body.len, "inside.txt") && !thttp_contains(r, "root:x:0:0");
}

/* GET target, and the redirect target when there is one: never anything from outside. */
static int probe_follow(tsrv *s, const char *target, int handshake)
{
    for (int hop = 0; hop < 3 && target; hop++) {
        thttp_resp r;
        tws *w = NULL;
        if (handshake)
            w = tws_connect(s->port, target, NULL, &r);
        else if (thttp_get(s->port, target, NULL, &r) < 0)
            r.status = 0; /* closed without an answer: harmless */
        if (w) {
            /* a live stream can only exist inside the root; read what it says */
            tws_collect c = {0};
            tws_collect_until(w, &c, 1, 300);
            int bad = t_contains(c.data.p, c.data.len, "TOPSECRET");
            tws_collect_free(&c);
            tws_free(w);
            thttp_free(&r);
            if (bad)
                return 0;
            break;
        }
        int ok = harmless(s, &r);
        if (!ok)
            fprintf(stderr, "  note: %s %s -> %d:\n%s%s\n", handshake ? "handshake" : "GET", target,
                    r.status, r.head, (char *)r.body.p);
        const char *loc = r.status / 100 == 3 ? thttp_header(&r, "Location") : NULL;
        target = loc && loc[0] == '/' ? loc : NULL;
        thttp_free(&r);
        if (!ok)
            return 0;
    }
    return 1;
}

/* APPEND handshake on target; if it is upgraded, write a marker and close. */
static int probe_append(tsrv *s, const char *target)
{
    thttp_resp r;
    tws *w = tws_connect(s->port, target, "X-Verb: APPEND\r\n", &r);
    int ok = harmless(s, &r);
    if (w) {
        tws_frame f;
        tws_send_text(w, "PWNED");
        tws_send_close(w, 1000);
        tws_read_type(w, WS_EV_CLOSE, &f, T_TIMEOUT);
        tws_free(w);
    }
    thttp_free(&r);
    return ok;
}

static const char *const escapes[] = {
    "/../secret.txt",
    "/%2e%2e/secret.txt",
    "/%2E%2e/secret.txt",
    "/..%2fsecret.txt",
    "/%2e%2e%2fsecret.txt",
    "/a/..%2f..%2fsecret.txt",
    "/.%2e/secret.txt",
    "/%2e./secret.txt",
    "/ok.txt/../../secret.txt",
    "/..%2f..%2f..%2f..%2f..%2f..%2fetc%2fpasswd",
    "/../../../../../../etc/passwd",
    "/..\\secret.txt",
    "/..%5csecret.txt",
    "/%5c..%5csecret.txt",
    "/%252e%252e/secret.txt",
    "/..%c0%afsecret.txt",
    "/%2e%2e/outdir/inside.txt",
    "/..;/secret.txt",
    "../secret.txt",
    "..%2fsecret.txt",
    "%2e%2e/secret.txt",
    "/%2e%2e%2f%2e%2e%2f",
    "/%2e%2e/",
};

static void test_dot_segments_follow(void)
{
    tsrv *s = start_with_traps();
    CHECK(s);
    for (size_t i = 0; i < sizeof(escapes) / sizeof(*escapes); i++) {
        CHECKF(probe_follow(s, escapes[i], 0), "GET %s", escapes[i]);
        CHECKF(probe_follow(s, escapes[i], 1), "handshake %s", escapes[i]);
    }
    CHECK(outside_untouched(s));
    tsrv_stop(s);
}

static void test_dot_segments_append(void)
{
    tsrv *s = start_with_traps();
    CHECK(s);
    for (size_t i = 0; i < sizeof(escapes) / sizeof(*escapes); i++)
        CHECKF(probe_append(s, escapes[i]), "APPEND %s", escapes[i]);
    const char *more[] = {"/../pwned.txt", "/%2e%2e/pwned.txt", "/..%2fpwned.txt",
                          "/%2e%2e/outdir/pwned.txt", "/..%2foutdir%2fnew%2fpwned.txt"};
    for (size_t i = 0; i < 5; i++)
        CHECKF(probe_append(s, more[i]), "APPEND %s", more[i]);
    CHECK(outside_untouched(s));
    tsrv_stop(s);
}

static void test_symlinks_follow(void)
{
    tsrv *s = start_with_traps();
    CHECK(s);
    const char *targets[] = {"/link.txt", "/abs.txt", "/ldir/inside.txt",   "/ldir/",
                             "/ldir",     "/sub/up/", "/sub/up/inside.txt", "/sub/up"};
    for (size_t i = 0; i < sizeof(targets) / sizeof(*targets); i++) {
        CHECKF(probe_follow(s, targets[i], 0), "GET %s", targets[i]);
        CHECKF(probe_follow(s, targets[i], 1), "handshake %s", targets[i]);
        thttp_resp r;
        CHECK(thttp_req(s->port, "HEAD", targets[i], NULL, &r) == 0);
        CHECKF(r.status != 200 || !thttp_header(&r, "Content-Length") ||
                   strcmp(thttp_header(&r, "Content-Length"), "15") != 0,
               "HEAD %s exposes the outside file's size", targets[i]);
        thttp_free(&r);
    }
    /* the listing of the root may show the links, never what is behind them */
    thttp_resp r;
    CHECK(thttp_get(s->port, "/", NULL, &r) == 0);
    CHECK(harmless(s, &r));
    thttp_free(&r);
    CHECK(outside_untouched(s));
    tsrv_stop(s);
}

static void test_symlinks_append(void)
{
    tsrv *s = start_with_traps();
    CHECK(s);
    const char *targets[] = {
        "/link.txt",        "/abs.txt",        "/ldir/new.txt",      "/ldir/deeper/new.txt",
        "/ldir/inside.txt", "/sub/up/new.txt", "/sub/up/inside.txt", "/sub/up/x/y/z.txt"};
    for (size_t i = 0; i < sizeof(targets) / sizeof(*targets); i++) {
        CHECKF(probe_append(s, targets[i]), "APPEND %s", targets[i]);
        CHECKF(outside_untouched(s), "after APPEND %s", targets[i]);
    }
    /* the links themselves are still links */
    struct stat st;
    CHECK(lstat(tsrv_path(s, "link.txt"), &st) == 0 && S_ISLNK(st.st_mode));
    CHECK(lstat(tsrv_path(s, "ldir"), &st) == 0 && S_ISLNK(st.st_mode));
    /* and the server still appends inside the root */
    tws *w = tws_append(s->port, "/sub/fine.txt");
    CHECK(w);
    CHECK(tws_send_text(w, "ok") == 0);
    tws_free(w);
    CHECK(t_file_wait_eq(tsrv_path(s, "sub/fine.txt"), "ok", 2, 2000));
    tsrv_stop(s);
}

static void test_nul_bytes(void)
{
    tsrv *s = start_with_traps();
    CHECK(s);
#define RAW(lit)                                                                                   \
    {                                                                                              \
        lit, sizeof(lit) - 1                                                                       \
    }
    const struct {
        const char *p;
        size_t n;
    } reqs[] = {
        RAW("GET /ok.txt\0/../../secret.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        RAW("GET /ok%00.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        RAW("GET /ok.txt HTTP/1.1\r\nHost: x\0y\r\nConnection: close\r\n\r\n"),
        RAW("GET /%2e%2e%00/secret.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
    };
#undef RAW
    for (size_t i = 0; i < sizeof(reqs) / sizeof(*reqs); i++) {
        thttp_resp r;
        int rc = thttp_raw(s->port, reqs[i].p, reqs[i].n, &r, 0);
        CHECKF(rc < 0 || r.status == 0 || r.status / 100 == 4, "request %zu: status %d", i,
               r.status);
        CHECK(harmless(s, &r));
        thttp_free(&r);
    }
    tsrv_stop(s);
}

/* Sends raw bytes; the answer must be a 4xx (or want_status when set) or a close without one; then
 * a good request still works. */
static int malformed(tsrv *s, const char *what, const void *req, size_t len, int want_status)
{
    thttp_resp r;
    int64_t t0 = t_now_ms();
    int rc = thttp_raw(s->port, req, len, &r, 0);
    if (getenv("HFS_VERBOSE"))
        fprintf(stderr, "  %s: %d in %lld ms\n", what, r.status, (long long)(t_now_ms() - t0));
    int ok = want_status ? r.status == want_status
                         : rc < 0 || r.status == 0 || r.status / 100 == 4 || r.status == 505;
    ok = ok && harmless(s, &r);
    if (!ok)
        fprintf(stderr, "  note: %s: status %d (want %d or any 4xx/close):\n%s\n", what, r.status,
                want_status, r.head);
    thttp_free(&r);
    if (thttp_get(s->port, "/ok.txt", NULL, &r) < 0 || r.status != 200 || r.body.len != 4) {
        fprintf(stderr, "  note: after %s the server does not serve (status %d)\n", what, r.status);
        ok = 0;
    }
    thttp_free(&r);
    return ok;
}

static void test_malformed_requests(void)
{
    tsrv *s = start_with_traps();
    tbuf b = {0};
    CHECK(s);

    const char *simple[][2] = {
        {"garbage line", "GARBAGE\r\n\r\n"},
        {"no target", "GET\r\n\r\n"},
        {"no version", "GET /ok.txt\r\n\r\n"},
        {"extra words", "GET /ok.txt HTTP/1.1 extra\r\nHost: x\r\n\r\n"},
        {"bad version", "GET /ok.txt HTTP/x.y\r\nHost: x\r\n\r\n"},
        {"header without colon", "GET /ok.txt HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n"},
        {"space before colon", "GET /ok.txt HTTP/1.1\r\nHost : x\r\n\r\n"},
        {"bad content length", "GET /ok.txt HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n"},
        {"two content lengths",
         "GET /ok.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"},
        {"bad chunk",
         "POST /ok.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"},
        {"control chars in target", "GET /ok\x01\x02.txt HTTP/1.1\r\nHost: x\r\n\r\n"},
        {"space in target", "GET /ok .txt HTTP/1.1\r\nHost: x\r\n\r\n"},
        {"bad websocket key",
         "GET /ok.txt HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\nX-Verb: APPEND\r\n\r\n"},
        {"websocket version 8",
         "GET /new.txt HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n"
         "X-Verb: APPEND\r\n\r\n"},
    };
    for (size_t i = 0; i < sizeof(simple) / sizeof(*simple); i++)
        EXPECTF(malformed(s, simple[i][0], simple[i][1], strlen(simple[i][1]), 0), "%s",
                simple[i][0]);
    CHECK(!t_exists(tsrv_path(s, "new.txt")));

    /* binary noise: a TLS ClientHello, zeros, 1 MiB of random bytes without a line end */
    uint8_t tls[64] = {0x16, 0x03, 0x01, 0x00, 0x3b, 0x01, 0x00, 0x00, 0x37, 0x03, 0x03};
    t_rand_fill(tls + 11, sizeof(tls) - 11);
    EXPECTF(malformed(s, "TLS hello", tls, sizeof(tls), 0), "TLS hello");
    uint8_t zeros[100] = {0};
    EXPECTF(malformed(s, "zeros", zeros, sizeof(zeros), 0), "zeros");
    tbuf_free(&b);
    for (int i = 0; i < 1 << 20; i += 4096) {
        uint8_t chunk[4096];
        t_rand_fill(chunk, sizeof(chunk));
        for (size_t k = 0; k < sizeof(chunk); k++)
            if (chunk[k] == '\n')
                chunk[k] = 'n';
        tbuf_add(&b, chunk, sizeof(chunk));
    }
    EXPECTF(malformed(s, "1 MiB of noise", b.p, b.len, 0), "1 MiB of noise");

    /* request line over 8 KiB: 414 */
    b.len = 0;
    tbuf_adds(&b, "GET /");
    for (int i = 0; i < 9000; i++)
        tbuf_adds(&b, "a");
    tbuf_adds(&b, " HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECTF(malformed(s, "9000-byte request line", b.p, b.len, 414), "9000-byte request line");
    b.len = 0;
    tbuf_adds(&b, "GET /ok.txt?");
    for (int i = 0; i < 20000; i++)
        tbuf_adds(&b, "q");
    tbuf_adds(&b, " HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECTF(malformed(s, "20000-byte query", b.p, b.len, 414), "20000-byte query");

    /* a long but acceptable request line is served */
    b.len = 0;
    tbuf_adds(&b, "GET /ok.txt?");
    for (int i = 0; i < 7000; i++)
        tbuf_adds(&b, "q");
    tbuf_adds(&b, " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    thttp_resp r;
    CHECK(thttp_raw(s->port, b.p, b.len, &r, 0) == 0);
    CHECKF(r.status == 200, "7000-byte request line: %d", r.status);
    thttp_free(&r);

    /* headers over 16 KiB: 431, as many small ones or one huge one */
    b.len = 0;
    tbuf_adds(&b, "GET /ok.txt HTTP/1.1\r\nHost: x\r\n");
    for (int i = 0; i < 400; i++)
        tbuf_adds(&b, t_fmt("X-Filler-%03d: %040d\r\n", i, i));
    tbuf_adds(&b, "\r\n");
    EXPECTF(malformed(s, "400 headers (23 KiB)", b.p, b.len, 431), "400 headers (23 KiB)");
    b.len = 0;
    tbuf_adds(&b, "GET /ok.txt HTTP/1.1\r\nHost: x\r\nX-Huge: ");
    for (int i = 0; i < 100000; i++)
        tbuf_adds(&b, "h");
    tbuf_adds(&b, "\r\n\r\n");
    EXPECTF(malformed(s, "one 100 KB header", b.p, b.len, 431), "one 100 KB header");

    /* a header block that never ends keeps going until a limit */
    b.len = 0;
    tbuf_adds(&b, "GET /ok.txt HTTP/1.1\r\nHost: x\r\n");
    for (int i = 0; i < 5000; i++)
        tbuf_adds(&b, "X-A: b\r\n");
    EXPECTF(malformed(s, "endless headers", b.p, b.len, 431), "endless headers");

    tbuf_free(&b);
    CHECK(tsrv_alive(s));
    CHECK(outside_untouched(s));
    tsrv_stop(s);
}

/* Every kind of error response, checked for the server's paths. */
static void test_errors_never_name_paths(void)
{
    tsrv *s = start_with_traps();
    CHECK(s);
    CHECK(mkdir(tsrv_path(s, "d"), 0755) == 0);
    CHECK(t_file_write(tsrv_path(s, "f.txt"), "f", 1) == 0);
    chmod(tsrv_path(s, "f.txt"), 0);
    struct {
        const char *path, *headers;
        int handshake;
    } reqs[] = {
        {"/missing.txt", NULL, 0},
        {"/d", "X-Verb: APPEND\r\n", 1},
        {"/f.txt/x", "X-Verb: APPEND\r\n", 1},
        {"/a%zz", NULL, 0},
        {"/x%00", NULL, 0},
        {"/f.txt?verb=APPEND", NULL, 0},
        {"/f.txt", "Range: bytes=50-60\r\n", 0},
        {"/f.txt", NULL, 0},
        {"/f.txt", "X-Verb: APPEND\r\n", 1},
        {"/link.txt", NULL, 0},
        {"/ldir/x.txt", "X-Verb: APPEND\r\n", 1},
    };
    for (size_t i = 0; i < sizeof(reqs) / sizeof(*reqs); i++) {
        thttp_resp r;
        tws *w = NULL;
        if (reqs[i].handshake)
            w = tws_connect(s->port, reqs[i].path, reqs[i].headers, &r);
        else
            CHECK(thttp_get(s->port, reqs[i].path, reqs[i].headers, &r) == 0);
        CHECKF(!thttp_contains(&r, s->dir) && !thttp_contains(&r, "/tmp"),
               "%s: %d names a server path:\n%s%s", reqs[i].path, r.status, r.head,
               (char *)r.body.p);
        if (w) {
            tws_send_close(w, 1000);
            tws_free(w);
        }
        thttp_free(&r);
    }
    chmod(tsrv_path(s, "f.txt"), 0600);
    tsrv_stop(s);
}

int main(void)
{
    RUN(test_dot_segments_follow);
    RUN(test_dot_segments_append);
    RUN(test_symlinks_follow);
    RUN(test_symlinks_append);
    RUN(test_nul_bytes);
    RUN(test_malformed_requests);
    RUN(test_errors_never_name_paths);
    return test_report();
}
