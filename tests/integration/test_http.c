/* test_http.c -- the plain-HTTP side of the real server: verbs (X-Verb and ?verb=), methods (405,
 * HEAD), 404 and 426, path cleaning (301), directories (301 to dir/, listings), 409 and 400, the
 * static answer for a resource with no appender (types, validators, ranges, 304), and -prefix. */
#include "../harness.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define NOT_FOUND_BODY "404 page not found\n"
#define TEXT_PLAIN     "text/plain; charset=utf-8"

/* 1 when the response mentions the server's temp dir (and so its root path). */
static int leaks_path(const tsrv *s, const thttp_resp *r)
{
    return thttp_contains(r, s->dir);
}

/* Resolves a Location value against the request path (enough for "x/", "/x/" and "http://h/x/"). */
static const char *resolve(const char *req_path, const char *loc)
{
    if (!loc)
        return "(no Location)";
    if (strncmp(loc, "http://", 7) == 0) {
        const char *p = strchr(loc + 7, '/');
        return p ? p : "/";
    }
    if (loc[0] == '/')
        return loc;
    const char *slash = strrchr(req_path, '/');
    return t_fmt("%.*s%s", (int)(slash - req_path + 1), req_path, loc);
}

static void test_root_created_0700(void)
{
    tsrv *s = tsrv_start(NULL);
    struct stat st;
    CHECK(s);
    CHECK(stat(s->root, &st) == 0);
    CHECK(S_ISDIR(st.st_mode));
    CHECKF((st.st_mode & 07777) == 0700, "root mode %o", (unsigned)(st.st_mode & 07777));
    tsrv_stop(s);
}

static void test_not_found(void)
{
    tsrv *s = tsrv_start(NULL);
    thttp_resp r;
    CHECK(s);

    const char *paths[] = {"/nope.txt", "/a/b/c.txt", "/nope.txt?verb=FOLLOW"};
    for (size_t i = 0; i < 3; i++) {
        CHECK(thttp_get(s->port, paths[i], NULL, &r) == 0);
        CHECKF(r.status == 404, "GET %s: %d", paths[i], r.status);
        CHECK_STR(thttp_header(&r, "Content-Type"), TEXT_PLAIN);
        CHECK_MEM(r.body.p, r.body.len, NOT_FOUND_BODY, strlen(NOT_FOUND_BODY));
        thttp_free(&r);

        /* a WebSocket handshake gets the same answer, never a 101 */
        tws *w = tws_connect(s->port, paths[i], NULL, &r);
        CHECKF(!w, "handshake on %s was upgraded", paths[i]);
        CHECKF(r.status == 404, "handshake %s: %d", paths[i], r.status);
        CHECK_STR(thttp_header(&r, "Content-Type"), TEXT_PLAIN);
        CHECK_MEM(r.body.p, r.body.len, NOT_FOUND_BODY, strlen(NOT_FOUND_BODY));
        thttp_free(&r);

        w = tws_connect(s->port, paths[i], "X-Verb: FOLLOW\r\n", &r);
        CHECK(!w);
        CHECK_INT(r.status, 404);
        thttp_free(&r);

        CHECK(thttp_req(s->port, "HEAD", paths[i], NULL, &r) == 0);
        CHECK_INT(r.status, 404);
        CHECK_INT(r.body.len, 0);
        thttp_free(&r);
    }
    CHECK_INT(t_tree_count(s->root), 0); /* following creates nothing */
    tsrv_stop(s);
}

static void test_methods_405(void)
{
    tsrv *s = tsrv_start(NULL);
    thttp_resp r;
    CHECK(s);
    CHECK(t_file_write(tsrv_path(s, "f.txt"), "data", 4) == 0);

    /* PUT and POST append (docs/PROTOCOL.md, extensions); every other method is refused. */
    const char *methods[] = {"DELETE", "PATCH", "OPTIONS", "TRACE", "FOO"};
    const char *paths[] = {"/f.txt", "/missing.txt"};
    for (size_t m = 0; m < sizeof(methods) / sizeof(*methods); m++) {
        for (size_t p = 0; p < 2; p++) {
            /* with a body, as a real client would send */
            const char *req = t_fmt("%s %s HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                                    "Connection: close\r\n\r\nhello",
                                    methods[m], paths[p]);
            CHECK(thttp_raw(s->port, req, strlen(req), &r, 0) == 0);
            CHECKF(r.status == 405, "%s %s: %d", methods[m], paths[p], r.status);
            const char *allow = thttp_header(&r, "Allow");
            CHECKF(allow && strstr(allow, "GET") && strstr(allow, "HEAD") && strstr(allow, "PUT") &&
                       strstr(allow, "POST"),
                   "%s: Allow %s", methods[m], allow ? allow : "(none)");
            CHECK(!leaks_path(s, &r));
            thttp_free(&r);
        }
    }
    /* the file is untouched and the server still serves */
    CHECK(thttp_get(s->port, "/f.txt", NULL, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK_MEM(r.body.p, r.body.len, "data", 4);
    thttp_free(&r);
    CHECK_INT(t_tree_count(s->root), 1);
    tsrv_stop(s);
}

static void test_head(void)
{
    tsrv *s = tsrv_start(NULL);
    thttp_resp g, h;
    CHECK(s);
    CHECK(t_file_write(tsrv_path(s, "h.txt"), "0123456789", 10) == 0);

    CHECK(thttp_get(s->port, "/h.txt", NULL, &g) == 0);
    CHECK(thttp_req(s->port, "HEAD", "/h.txt", NULL, &h) == 0);
    CHECK_INT(g.status, 200);
    CHECK_INT(h.status, 200);
    CHECK_STR(thttp_header(&h, "Content-Length"), "10");
    CHECK_INT(h.body.len, 0);
    const char *same[] = {"Content-Type", "ETag", "Last-Modified", "Accept-Ranges"};
    for (size_t i = 0; i < 4; i++) {
        CHECKF(thttp_header(&h, same[i]), "HEAD lacks %s", same[i]);
        CHECK_STR(thttp_header(&h, same[i]), thttp_header(&g, same[i]));
    }
    thttp_free(&g);
    thttp_free(&h);

    /* HEAD with X-Verb: APPEND is no upgrade either; and HEAD on a directory */
    CHECK(thttp_req(s->port, "HEAD", "/", NULL, &h) == 0);
    CHECK_INT(h.status, 200);
    CHECK_INT(h.body.len, 0);
    thttp_free(&h);
    tsrv_stop(s);
}

/* One verb case: the handshake's extra headers and path, and whether it must be an APPEND. */
typedef struct verb_case {
    const char *path;
    const char *headers;
    int append;
} verb_case;

static void test_verb_selection(void)
{
    tsrv *s = tsrv_start(NULL);
    thttp_resp r;
    CHECK(s);

    const verb_case cases[] = {
        {"/v01.txt", "X-Verb: APPEND\r\n", 1},
        {"/v02.txt?verb=APPEND", NULL, 1},
        {"/v03.txt?verb=APPEND", "X-Verb: \r\n", 1},       /* empty header: the query */
        {"/v04.txt?verb=APPEND", "X-Verb: FOLLOW\r\n", 0}, /* the header wins */
        {"/v05.txt?verb=FOLLOW", "X-Verb: APPEND\r\n", 1}, /* the header wins */
        {"/v06.txt", "X-Verb: append\r\n", 0},             /* case-sensitive */
        {"/v07.txt?verb=append", NULL, 0},                 /* case-sensitive */
        {"/v08.txt?verb=Append", NULL, 0},                 /* case-sensitive */
        {"/v09.txt?verb=APPENDX", NULL, 0},                /* exactly APPEND */
        {"/v10.txt", "X-Verb: APPENDX\r\n", 0},            /* exactly APPEND */
        {"/v11.txt?x=1&verb=APPEND&y=2", NULL, 1},         /* anywhere in the query */
        {"/v12.txt", "X-Verb: FOLLOW\r\n", 0},             /* FOLLOW: never written */
        {"/v13.txt?verb=", "X-Verb: PUT\r\n", 0},          /* anything else: FOLLOW */
        {"/v14.txt?verb=%41PPEND", NULL, 1},               /* the query is decoded */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        const verb_case *c = &cases[i];
        char file[16];
        memcpy(file, c->path + 1, 7);
        file[7] = '\0';
        tws *w = tws_connect(s->port, c->path, c->headers, &r);
        if (c->append) {
            CHECKF(w, "case %zu (%s): status %d, want 101", i, c->path, r.status);
            CHECK(tws_send_text(w, "x") == 0);
            CHECK(tws_send_close(w, 1000) == 0);
            tws_frame f;
            CHECK_INT(tws_read_type(w, WS_EV_CLOSE, &f, T_TIMEOUT), WS_EV_CLOSE);
            tws_free(w);
            CHECKF(t_file_wait_eq(tsrv_path(s, file), "x", 1, 2000), "case %zu: file %s", i, file);
        } else {
            CHECKF(!w && r.status == 404, "case %zu (%s): status %d, want 404 (FOLLOW)", i, c->path,
                   r.status);
            tws_free(w);
            CHECKF(!t_exists(tsrv_path(s, file)), "case %zu created %s", i, file);
        }
        thttp_free(&r);
    }
    tsrv_stop(s);
}

static void test_plain_append_426(void)
{
    tsrv *s = tsrv_start(NULL);
    thttp_resp r;
    CHECK(s);

    const char *reqs[][2] = {
        {"/new/x.txt", "X-Verb: APPEND\r\n"},
        {"/new/y.txt?verb=APPEND", NULL},
        {"/z.txt?verb=APPEND", "X-Verb: \r\n"},
    };
    for (size_t i = 0; i < 3; i++) {
        CHECK(thttp_get(s->port, reqs[i][0], reqs[i][1], &r) == 0);
        CHECKF(r.status == 426, "GET %s: %d", reqs[i][0], r.status);
        const char *up = thttp_header(&r, "Upgrade");
        CHECKF(up && strcasecmp(up, "websocket") == 0, "Upgrade: %s", up ? up : "(none)");
        thttp_free(&r);
    }
    CHECK_INT(t_tree_count(s->root), 0); /* seed: created an empty file; we create nothing */

    /* an existing file is left as it is */
    CHECK(t_file_write(tsrv_path(s, "e.txt"), "keep", 4) == 0);
    CHECK(thttp_get(s->port, "/e.txt?verb=APPEND", NULL, &r) == 0);
    CHECK_INT(r.status, 426);
    thttp_free(&r);
    CHECK(t_file_wait_eq(tsrv_path(s, "e.txt"), "keep", 4, 0));
    tsrv_stop(s);
}

static void test_unclean_paths_301(void)
{
    tsrv *s = tsrv_start(NULL);
    thttp_resp r;
    CHECK(s);

    const char *cases[][2] = {
        {"/a/../b", "/b"},
        {"//x", "/x"},
        {"/./x", "/x"},
        {"/%2e%2e/x", "/x"},
        {"/%2E%2E/x", "/x"},
        {"/..", "/"},
        {"/../../etc/passwd", "/etc/passwd"},
        {"/a//b", "/a/b"},
        {"/a/./b/../c?verb=APPEND&k=v", "/a/c?verb=APPEND&k=v"},
        {"/a/../b?q=1", "/b?q=1"},
        {"/x/.", "/x"},
        {"/a/b/..", "/a"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        CHECK(thttp_get(s->port, cases[i][0], NULL, &r) == 0);
        CHECKF(r.status == 301, "GET %s: %d", cases[i][0], r.status);
        const char *loc = thttp_header(&r, "Location");
        CHECKF(loc && strcmp(loc, cases[i][1]) == 0, "GET %s: Location %s, want %s", cases[i][0],
               loc ? loc : "(none)", cases[i][1]);
        CHECK(!leaks_path(s, &r));
        thttp_free(&r);
    }

    /* an APPEND handshake on an unclean path is redirected too, and creates nothing */
    const char *appends[] = {"/q/../evil.txt", "//evil2.txt", "/./evil3.txt", "/%2e%2e/evil4.txt"};
    for (size_t i = 0; i < 4; i++) {
        tws *w = tws_connect(s->port, appends[i], "X-Verb: APPEND\r\n", &r);
        CHECKF(!w && r.status == 301, "APPEND %s: %d", appends[i], r.status);
        thttp_free(&r);
    }
    CHECK_INT(t_tree_count(s->root), 0);
    tsrv_stop(s);
}

static void test_directories(void)
{
    tsrv *s = tsrv_start(NULL);
    thttp_resp r;
    CHECK(s);
    CHECK(mkdir(tsrv_path(s, "d"), 0755) == 0);
    CHECK(mkdir(tsrv_path(s, "d/sub"), 0755) == 0);
    CHECK(t_file_write(tsrv_path(s, "d/f.txt"), "f", 1) == 0);
    CHECK(t_file_write(tsrv_path(s, "d/<b>x.txt"), "x", 1) == 0);

    const char *dirs[][2] = {{"/d", "/d/"}, {"/d/sub", "/d/sub/"}};
    for (size_t i = 0; i < 2; i++) {
        CHECK(thttp_get(s->port, dirs[i][0], NULL, &r) == 0);
        CHECKF(r.status == 301, "GET %s: %d", dirs[i][0], r.status);
        const char *loc = thttp_header(&r, "Location");
        CHECKF(strcmp(resolve(dirs[i][0], loc), dirs[i][1]) == 0, "GET %s: Location %s", dirs[i][0],
               loc ? loc : "(none)");
        /* the original's form: relative to the request, the last segment and a slash */
        const char *last = strrchr(dirs[i][0], '/') + 1;
        CHECKF(loc && strncmp(loc, last, strlen(last)) == 0 && strcmp(loc + strlen(last), "/") == 0,
               "GET %s: Location %s, want %s/", dirs[i][0], loc ? loc : "(none)", last);
        thttp_free(&r);
    }

    CHECK(thttp_get(s->port, "/d/", NULL, &r) == 0);
    CHECK_INT(r.status, 200);
    const char *ct = thttp_header(&r, "Content-Type");
    CHECKF(ct && strncmp(ct, "text/html", 9) == 0, "listing type %s", ct ? ct : "(none)");
    const char *body = (const char *)r.body.p;
    CHECKF(strstr(body, "<pre>") && strstr(body, "</pre>"), "listing: %s", body);
    CHECKF(strstr(body, "<a href=\"f.txt\">f.txt</a>"), "listing: %s", body);
    CHECKF(strstr(body, "<a href=\"sub/\">sub/</a>"), "listing: %s", body);
    CHECKF(!strstr(body, "<b>x"), "an entry name is not HTML-escaped: %s", body);
    CHECKF(strstr(body, "&lt;b&gt;x.txt"), "listing: %s", body);
    CHECK(!leaks_path(s, &r));
    thttp_free(&r);

    /* the root listing */
    CHECK(thttp_get(s->port, "/", NULL, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECKF(strstr((char *)r.body.p, "<a href=\"d/\">d/</a>"), "root listing: %s", (char *)r.body.p);
    thttp_free(&r);
    tsrv_stop(s);
}

static void test_append_conflicts_409(void)
{
    tsrv *s = tsrv_start(NULL);
    thttp_resp r;
    CHECK(s);
    CHECK(mkdir(tsrv_path(s, "d"), 0755) == 0);
    CHECK(t_file_write(tsrv_path(s, "f.txt"), "file", 4) == 0);

    const char *paths[] = {"/d", "/f.txt/x", "/f.txt/x/y.txt"};
    for (size_t i = 0; i < 3; i++) {
        tws *w = tws_connect(s->port, paths[i], "X-Verb: APPEND\r\n", &r);
        CHECKF(!w && r.status == 409, "APPEND %s: %d", paths[i], r.status);
        CHECKF(!leaks_path(s, &r), "409 body names a server path: %s", (char *)r.body.p);
        thttp_free(&r);
    }
    CHECK_INT(t_tree_count(s->root), 2);
    CHECK(t_file_wait_eq(tsrv_path(s, "f.txt"), "file", 4, 0));
    tsrv_stop(s);
}

static void test_bad_escapes_400(void)
{
    tsrv *s = tsrv_start(NULL);
    thttp_resp r;
    CHECK(s);

    const char *paths[] = {"/a%00b", "/a%zz", "/a%4", "/%G0.txt", "/x%00.txt?verb=APPEND", "/%"};
    for (size_t i = 0; i < sizeof(paths) / sizeof(*paths); i++) {
        CHECK(thttp_get(s->port, paths[i], NULL, &r) == 0);
        CHECKF(r.status == 400, "GET %s: %d", paths[i], r.status);
        CHECK(!leaks_path(s, &r));
        thttp_free(&r);
        tws *w = tws_connect(s->port, paths[i], "X-Verb: APPEND\r\n", &r);
        CHECKF(!w && r.status == 400, "APPEND %s: %d", paths[i], r.status);
        thttp_free(&r);
    }
    CHECK_INT(t_tree_count(s->root), 0);
    tsrv_stop(s);
}

static void check_type(tsrv *s, const char *name, const void *data, size_t n, const char *want)
{
    thttp_resp r;
    CHECK(t_file_write(tsrv_path(s, name), data, n) == 0);
    CHECK(thttp_get(s->port, t_fmt("/%s", name), NULL, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECKF(thttp_header(&r, "Content-Type") && !strcmp(thttp_header(&r, "Content-Type"), want),
           "%s: Content-Type %s, want %s", name, thttp_header(&r, "Content-Type"), want);
    CHECK_MEM(r.body.p, r.body.len, data, n);
    thttp_free(&r);
}

static void test_static_types(void)
{
    tsrv *s = tsrv_start(NULL);
    uint8_t bin[256];
    CHECK(s);
    for (int i = 0; i < 256; i++)
        bin[i] = (uint8_t)i;
    int before = test_failures;
    check_type(s, "a.txt", "plain text\n", 11, TEXT_PLAIN);
    check_type(s, "blob", bin, sizeof(bin), "application/octet-stream");
    check_type(s, "notes", "just some text\n", 15, TEXT_PLAIN);
    check_type(s, "bin.txt", bin, sizeof(bin), TEXT_PLAIN); /* the extension decides */
    CHECK_INT(test_failures, before);
    tsrv_stop(s);
}

static void test_static_whole_file(void)
{
    tsrv *s = tsrv_start(NULL);
    thttp_resp r;
    CHECK(s);
    CHECK(t_file_write(tsrv_path(s, "hello.txt"), "hello, world\n", 13) == 0);
    CHECK(t_file_write(tsrv_path(s, "empty.txt"), "", 0) == 0);

    /* plain GET, FOLLOW handshake, FOLLOW handshake with an explicit verb: all 200, never 101 */
    for (int how = 0; how < 3; how++) {
        tws *w = NULL;
        if (how == 0)
            CHECK(thttp_get(s->port, "/hello.txt", NULL, &r) == 0);
        else
            w = tws_connect(s->port, "/hello.txt", how == 2 ? "X-Verb: FOLLOW\r\n" : NULL, &r);
        CHECKF(!w && r.status == 200, "how %d: status %d", how, r.status);
        CHECK_STR(thttp_header(&r, "Content-Length"), "13");
        CHECK_STR(thttp_header(&r, "Content-Type"), TEXT_PLAIN);
        CHECK_STR(thttp_header(&r, "Accept-Ranges"), "bytes");
        const char *lm = thttp_header(&r, "Last-Modified"), *etag = thttp_header(&r, "ETag");
        CHECKF(lm && strlen(lm) == 29 && !strcmp(lm + 26, "GMT"), "Last-Modified %s", lm);
        CHECKF(etag && strlen(etag) >= 3 && etag[strlen(etag) - 1] == '"', "ETag %s", etag);
        CHECK_MEM(r.body.p, r.body.len, "hello, world\n", 13);
        thttp_free(&r);
    }

    CHECK(thttp_get(s->port, "/empty.txt", NULL, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK_STR(thttp_header(&r, "Content-Length"), "0");
    CHECK_INT(r.body.len, 0);
    thttp_free(&r);
    tsrv_stop(s);
}

static void test_static_ranges(void)
{
    tsrv *s = tsrv_start(NULL);
    thttp_resp r;
    CHECK(s);
    CHECK(t_file_write(tsrv_path(s, "r.txt"), "hello, world\n", 13) == 0);

    const char *ok[][3] = {
        {"bytes=0-4", "bytes 0-4/13", "hello"},
        {"bytes=7-", "bytes 7-12/13", "world\n"},
        {"bytes=-6", "bytes 7-12/13", "world\n"},
        {"bytes=12-100", "bytes 12-12/13", "\n"},
    };
    for (size_t i = 0; i < 4; i++) {
        CHECK(thttp_get(s->port, "/r.txt", t_fmt("Range: %s\r\n", ok[i][0]), &r) == 0);
        CHECKF(r.status == 206, "%s: %d", ok[i][0], r.status);
        CHECK_STR(thttp_header(&r, "Content-Range"), ok[i][1]);
        CHECK_MEM(r.body.p, r.body.len, ok[i][2], strlen(ok[i][2]));
        thttp_free(&r);
    }
    const char *bad[] = {"bytes=13-20", "bytes=100-", "bytes=50-60"};
    for (size_t i = 0; i < 3; i++) {
        CHECK(thttp_get(s->port, "/r.txt", t_fmt("Range: %s\r\n", bad[i]), &r) == 0);
        CHECKF(r.status == 416, "%s: %d", bad[i], r.status);
        CHECK_STR(thttp_header(&r, "Content-Range"), "bytes */13");
        thttp_free(&r);
    }
    /* a range on a FOLLOW handshake with no appender is served the same way */
    tws *w = tws_connect(s->port, "/r.txt", "Range: bytes=0-4\r\n", &r);
    CHECK(!w);
    CHECK_INT(r.status, 206);
    CHECK_MEM(r.body.p, r.body.len, "hello", 5);
    thttp_free(&r);
    tsrv_stop(s);
}

static void test_static_conditional(void)
{
    tsrv *s = tsrv_start(NULL);
    thttp_resp r;
    CHECK(s);
    CHECK(t_file_write(tsrv_path(s, "c.txt"), "conditional\n", 12) == 0);

    CHECK(thttp_get(s->port, "/c.txt", NULL, &r) == 0);
    CHECK_INT(r.status, 200);
    char etag[128], lm[64];
    CHECK(thttp_header(&r, "ETag") && thttp_header(&r, "Last-Modified"));
    snprintf(etag, sizeof(etag), "%s", thttp_header(&r, "ETag"));
    snprintf(lm, sizeof(lm), "%s", thttp_header(&r, "Last-Modified"));
    thttp_free(&r);

    CHECK(thttp_get(s->port, "/c.txt", t_fmt("If-None-Match: %s\r\n", etag), &r) == 0);
    CHECK_INT(r.status, 304);
    CHECK_INT(r.body.len, 0);
    thttp_free(&r);
    CHECK(thttp_get(s->port, "/c.txt", t_fmt("If-None-Match: \"x\", %s\r\n", etag), &r) == 0);
    CHECK_INT(r.status, 304);
    thttp_free(&r);
    CHECK(thttp_get(s->port, "/c.txt", "If-None-Match: \"other\"\r\n", &r) == 0);
    CHECK_INT(r.status, 200);
    thttp_free(&r);

    CHECK(thttp_get(s->port, "/c.txt", t_fmt("If-Modified-Since: %s\r\n", lm), &r) == 0);
    CHECK_INT(r.status, 304);
    CHECK_INT(r.body.len, 0);
    thttp_free(&r);
    CHECK(thttp_get(s->port, "/c.txt", "If-Modified-Since: Thu, 01 Jan 1970 00:00:01 GMT\r\n",
                    &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK_MEM(r.body.p, r.body.len, "conditional\n", 12);
    thttp_free(&r);

    /* the same on a FOLLOW handshake with no appender */
    tws *w = tws_connect(s->port, "/c.txt", t_fmt("If-None-Match: %s\r\n", etag), &r);
    CHECK(!w);
    CHECK_INT(r.status, 304);
    thttp_free(&r);

    /* appending changes the validators */
    w = tws_append(s->port, "/c.txt");
    CHECK(w);
    CHECK(tws_send_text(w, "more\n") == 0);
    CHECK(tws_send_close(w, 1000) == 0);
    tws_frame f;
    CHECK_INT(tws_read_type(w, WS_EV_CLOSE, &f, T_TIMEOUT), WS_EV_CLOSE);
    tws_free(w);
    CHECK(t_file_wait_eq(tsrv_path(s, "c.txt"), "conditional\nmore\n", 17, 2000));
    CHECK(thttp_get(s->port, "/c.txt", t_fmt("If-None-Match: %s\r\n", etag), &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK_MEM(r.body.p, r.body.len, "conditional\nmore\n", 17);
    thttp_free(&r);
    tsrv_stop(s);
}

static void test_keep_alive(void)
{
    tsrv *s = tsrv_start(NULL);
    thttp_resp r;
    CHECK(s);
    CHECK(t_file_write(tsrv_path(s, "k.txt"), "keep", 4) == 0);

    int fd = t_connect(s->port);
    CHECK(fd >= 0);
    CHECK(t_send_str(fd, "GET /k.txt HTTP/1.1\r\nHost: x\r\n\r\n") == 0);
    CHECK(thttp_read(fd, &r, 0, T_TIMEOUT) == 0);
    CHECK_INT(r.status, 200);
    CHECK_MEM(r.body.p, r.body.len, "keep", 4);
    const char *conn = thttp_header(&r, "Connection");
    int closing = conn && strcasecmp(conn, "close") == 0;
    thttp_free(&r);
    if (!closing) {
        CHECK(t_send_str(fd, "GET /missing HTTP/1.1\r\nHost: x\r\n\r\n") == 0);
        CHECK(thttp_read(fd, &r, 0, T_TIMEOUT) == 0);
        CHECK_INT(r.status, 404);
        thttp_free(&r);
    }
    close(fd);
    tsrv_stop(s);
}

/* A request with a body, pipelined behind another: it is answered at its head, and its body's
 * later bytes are still read (then the next request is answered). Reading had stopped while the
 * first response was written and nothing started it again for the rest of the body. */
static void test_pipelined_body_arrives_later(void)
{
    tsrv *s = tsrv_start(NULL);
    thttp_resp r;
    CHECK(s);
    size_t big = (size_t)4 << 20;
    uint8_t *data = malloc(big);
    CHECK(data);
    memset(data, 'b', big);
    CHECK(t_file_write(tsrv_path(s, "big.txt"), data, big) == 0);
    free(data);

    int fd = t_connect(s->port);
    CHECK(fd >= 0);
    CHECK(t_send_str(fd,
                     "GET /big.txt HTTP/1.1\r\nHost: x\r\n\r\n"
                     "GET /big.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n12345") == 0);
    CHECK(thttp_read(fd, &r, 0, T_TIMEOUT) == 0);
    CHECK_INT(r.status, 200);
    CHECK_INT(r.body.len, big);
    thttp_free(&r);
    CHECK(thttp_read(fd, &r, 0, T_TIMEOUT) == 0);
    CHECK_INT(r.status, 200);
    CHECK_INT(r.body.len, big);
    thttp_free(&r);
    t_sleep_ms(100);
    CHECK(t_send_str(fd, "67890GET /big.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=0-3\r\n"
                         "Connection: close\r\n\r\n") == 0);
    CHECK(thttp_read(fd, &r, 0, T_TIMEOUT) == 0);
    CHECKF(r.status == 206, "the request after the body: %d", r.status);
    CHECK_MEM(r.body.p, r.body.len, "bbbb", 4);
    thttp_free(&r);
    close(fd);
    tsrv_stop(s);
}

static void test_prefix(void)
{
    const char *flags[] = {"-prefix=/logs", NULL};
    tsrv *s = tsrv_start(flags);
    thttp_resp r;
    CHECK(s);
    CHECK(t_file_write(tsrv_path(s, "a.txt"), "under prefix", 12) == 0);

    CHECK(thttp_get(s->port, "/logs/a.txt", NULL, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK_MEM(r.body.p, r.body.len, "under prefix", 12);
    thttp_free(&r);
    const char *outside[] = {"/a.txt", "/logsa.txt", "/logsx/a.txt"};
    for (size_t i = 0; i < 3; i++) {
        CHECK(thttp_get(s->port, outside[i], NULL, &r) == 0);
        CHECKF(r.status == 404, "GET %s: %d", outside[i], r.status);
        thttp_free(&r);
    }
    tws *w = tws_append(s->port, "/logs/sub/new.txt");
    CHECK(w);
    CHECK(tws_send_text(w, "p") == 0);
    CHECK(tws_send_close(w, 1000) == 0);
    tws_frame f;
    CHECK_INT(tws_read_type(w, WS_EV_CLOSE, &f, T_TIMEOUT), WS_EV_CLOSE);
    tws_free(w);
    CHECK(t_file_wait_eq(tsrv_path(s, "sub/new.txt"), "p", 1, 2000));
    /* redirects stay under the prefix */
    CHECK(thttp_get(s->port, "/logs/sub", NULL, &r) == 0);
    CHECK_INT(r.status, 301);
    CHECK_STR(resolve("/logs/sub", thttp_header(&r, "Location")), "/logs/sub/");
    thttp_free(&r);
    CHECK(thttp_get(s->port, "/logs/./sub//new.txt", NULL, &r) == 0);
    CHECK_INT(r.status, 301);
    CHECK_STR(resolve("/logs/./sub//new.txt", thttp_header(&r, "Location")), "/logs/sub/new.txt");
    thttp_free(&r);
    tsrv_stop(s);
}

int main(void)
{
    RUN(test_root_created_0700);
    RUN(test_not_found);
    RUN(test_methods_405);
    RUN(test_head);
    RUN(test_verb_selection);
    RUN(test_plain_append_426);
    RUN(test_unclean_paths_301);
    RUN(test_directories);
    RUN(test_append_conflicts_409);
    RUN(test_bad_escapes_400);
    RUN(test_static_types);
    RUN(test_static_whole_file);
    RUN(test_static_ranges);
    RUN(test_static_conditional);
    RUN(test_keep_alive);
    RUN(test_pipelined_body_arrives_later);
    RUN(test_prefix);
    return test_report();
}
