/* test_client_loopback.c -- the client library against scripted fake servers on 127.0.0.1: each
 * test runs a server script in a thread (raw sockets, the ws codec in the server role, which also
 * proves that every client frame is masked) and drives the public client API from the main thread.
 */
#include "../harness.h"
#include "httpfstream.h"
#include "ws/ws.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_MESSAGES 16

/* One message or control frame the fake server received from the client. */
typedef struct client_msg {
    int type; /* WS_EV_DATA, WS_EV_PING, WS_EV_PONG, WS_EV_CLOSE; -1 EOF; -2 timeout; -3 error */
    unsigned opcode;
    unsigned close_code;
    uint8_t *data;
    size_t len;
} client_msg;

#define MAX_CONNS 4

typedef struct fake {
    int lfd, port;
    void (*script)(struct fake *f, int fd);
    int conns; /* connections served one after the other, the script run for each */
    int conn;  /* the one being served, from 0 */
    pthread_t thread;
    sem_t step; /* the script tells the test it has done something */
    char request[8192];
    char requests[MAX_CONNS][2048]; /* the request heads of each connection */
    char key[WS_KEY_LEN + 1];
    /* what the script saw */
    client_msg got[MAX_MESSAGES];
    int ngot;
    /* frame decoding state */
    ws_decoder dec;
    uint8_t buf[1 << 16];
    size_t start, end;
    uint8_t *msg;
    size_t msg_len;
} fake;

/* ---- server-side helpers ---- */

static void send_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        c += w;
        n -= (size_t)w;
    }
}

static void send_text(int fd, const char *s)
{
    send_all(fd, s, strlen(s));
}

/* One send per frame, so that a frame arrives whole (the client never waits for the rest of a
 * frame before a write; a split PING would be answered one write later). */
static void send_frame(int fd, unsigned op, int fin, const void *data, size_t len)
{
    uint8_t *frame = malloc(WS_HEADER_MAX + len);
    size_t n = ws_frame_header(frame, op, fin, len, NULL);
    memcpy(frame + n, data, len);
    send_all(fd, frame, n + len);
    free(frame);
}

static void send_close(int fd, uint16_t code, const char *reason)
{
    uint8_t p[WS_CONTROL_MAX];
    size_t n = ws_close_payload(p, code, reason);
    send_frame(fd, WS_OP_CLOSE, 1, p, n);
}

static void send_101(fake *f, int fd)
{
    char accept[WS_ACCEPT_LEN + 1], resp[256];
    ws_accept_key(f->key, WS_KEY_LEN, accept);
    snprintf(resp, sizeof(resp),
             "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Accept: %s\r\n\r\n",
             accept);
    send_text(fd, resp);
}

/* Reads the request headers (nothing follows them before our answer). */
static void read_request(fake *f, int fd)
{
    size_t n = 0;
    while (n + 1 < sizeof(f->request) && !strstr(f->request, "\r\n\r\n")) {
        ssize_t r = recv(fd, f->request + n, 1, 0);
        if (r <= 0)
            break;
        n += (size_t)r;
        f->request[n] = '\0';
    }
    const char *k = strstr(f->request, "Sec-WebSocket-Key: ");
    if (k)
        memcpy(f->key, k + 19, WS_KEY_LEN);
}

/* Decodes the client's next message or control frame into f->got (whole messages reassembled).
 * Returns its type. */
static int next_msg(fake *f, int fd, int timeout_ms)
{
    client_msg *m = &f->got[f->ngot < MAX_MESSAGES ? f->ngot++ : MAX_MESSAGES - 1];
    memset(m, 0, sizeof(*m));
    for (;;) {
        ws_event ev;
        size_t used = ws_decode(&f->dec, f->buf + f->start, f->end - f->start, &ev);
        f->start += used;
        if (ev.type == WS_EV_DATA) {
            f->msg = realloc(f->msg, f->msg_len + ev.len + 1);
            memcpy(f->msg + f->msg_len, ev.data, ev.len);
            f->msg_len += ev.len;
            if (!ev.message_end)
                continue;
            m->opcode = ev.opcode;
            m->data = f->msg;
            m->len = f->msg_len;
            f->msg = NULL;
            f->msg_len = 0;
            return m->type = WS_EV_DATA;
        }
        if (ev.type == WS_EV_ERROR)
            return m->type = -3;
        if (ev.type != WS_EV_NEED_MORE) {
            m->data = malloc(ev.len + 1);
            memcpy(m->data, ev.data, ev.len);
            m->len = ev.len;
            m->close_code = ev.close_code;
            return m->type = (int)ev.type;
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, timeout_ms) == 0)
            return m->type = -2;
        ssize_t r = recv(fd, f->buf, sizeof(f->buf), 0);
        if (r <= 0)
            return m->type = -1;
        f->start = 0;
        f->end = (size_t)r;
    }
}

static void *serve(void *arg)
{
    fake *f = arg;
    for (f->conn = 0; f->conn < f->conns; f->conn++) {
        int fd = accept(f->lfd, NULL, NULL), one = 1;
        if (fd < 0)
            return NULL;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        f->request[0] = '\0';
        f->start = f->end = 0;
        ws_decoder_init(&f->dec, WS_ROLE_SERVER, 0);
        read_request(f, fd);
        if (f->conn < MAX_CONNS) {
            size_t k = strnlen(f->request, sizeof(f->requests[0]) - 1);
            memcpy(f->requests[f->conn], f->request, k);
            f->requests[f->conn][k] = '\0';
        }
        f->script(f, fd);
        close(fd);
    }
    return NULL;
}

/* What the previous fake received; kept until the next one starts so that tests can check it after
 * fake_stop, and freed by fake_start or fake_release. */
static fake the_fake;

static void fake_release(void)
{
    for (int i = 0; i < the_fake.ngot; i++)
        free(the_fake.got[i].data);
    free(the_fake.msg);
    memset(&the_fake, 0, sizeof(the_fake));
}

/* A fake serving conns connections, one after the other, with script. */
static fake *fake_start_n(void (*script)(fake *, int), int conns)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    fake *f = &the_fake;

    fake_release();
    f->script = script;
    f->conns = conns;
    sem_init(&f->step, 0, 0);
    ws_decoder_init(&f->dec, WS_ROLE_SERVER, 0);
    f->lfd = socket(AF_INET, SOCK_STREAM, 0);
    bind(f->lfd, (struct sockaddr *)&a, sizeof(a));
    listen(f->lfd, 4);
    getsockname(f->lfd, (struct sockaddr *)&a, &al);
    f->port = ntohs(a.sin_port);
    pthread_create(&f->thread, NULL, serve, f);
    return f;
}

static fake *fake_start(void (*script)(fake *, int))
{
    return fake_start_n(script, 1);
}

static void fake_stop(fake *f)
{
    pthread_join(f->thread, NULL);
    close(f->lfd);
    sem_destroy(&f->step);
}

static const char *url_of(const fake *f, const char *path)
{
    static char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", f->port, path);
    return url;
}

static int got_is(const fake *f, int i, int type, const char *data)
{
    if (i >= f->ngot || f->got[i].type != type)
        return 0;
    return !data || (f->got[i].len == strlen(data) && !memcmp(f->got[i].data, data, f->got[i].len));
}

/* ---- follow ---- */

static void script_follow_stream(fake *f, int fd)
{
    send_101(f, fd);
    send_frame(fd, WS_OP_TEXT, 1, "hello ", 6);
    send_frame(fd, WS_OP_TEXT, 0, "wor", 3);
    send_frame(fd, WS_OP_PING, 1, "p1", 2);
    send_frame(fd, WS_OP_CONT, 1, "ld", 2);
    send_frame(fd, WS_OP_BINARY, 1, "!\n", 2);
    send_frame(fd, WS_OP_TEXT, 1, "", 0);
    next_msg(f, fd, 2000); /* PONG */
    send_close(fd, 1000, NULL);
    next_msg(f, fd, 2000); /* CLOSE */
}

static void test_follow_stream(void)
{
    fake *f;
    hfs_reader *r = NULL;
    hfs_error e;
    char all[64], buf[3];
    size_t n = 0;
    ssize_t k;

    f = fake_start(script_follow_stream);
    CHECK_INT(hfs_follow(url_of(f, "/a.txt"), NULL, &r, &e), HFS_OK);
    while ((k = hfs_reader_read(r, buf, sizeof(buf))) > 0 && n + (size_t)k < sizeof(all)) {
        memcpy(all + n, buf, (size_t)k);
        n += (size_t)k;
    }
    CHECK_INT(k, 0);
    CHECK_INT(hfs_reader_read(r, buf, sizeof(buf)), 0);
    CHECK_INT(hfs_reader_bytes(r), 13);
    CHECK_INT(hfs_reader_error(r)->code, HFS_OK);
    hfs_reader_close(r);
    fake_stop(f);
    CHECK_MEM(all, n, "hello world!\n", 13);
    CHECK(strstr(f->request, "GET /a.txt HTTP/1.1\r\n") == f->request);
    CHECK(strstr(f->request, "\r\nX-Verb: FOLLOW\r\n"));
    CHECK(strstr(f->request, "\r\nSec-WebSocket-Version: 13\r\n"));
    char origin[64];
    snprintf(origin, sizeof(origin), "\r\nOrigin: http://127.0.0.1:%d\r\n", f->port);
    CHECK(strstr(f->request, origin));
    CHECK(got_is(f, 0, WS_EV_PONG, "p1"));
    CHECK(got_is(f, 1, WS_EV_CLOSE, NULL));
    CHECK_INT(f->got[1].close_code, 1000);
}

/* The 101, three frames and CLOSE in one segment: the frames right behind the headers are not lost,
 * and one read collects everything already received. */
static void script_all_at_once(fake *f, int fd)
{
    char accept[WS_ACCEPT_LEN + 1], all[512];
    int n;

    ws_accept_key(f->key, WS_KEY_LEN, accept);
    n = snprintf(all, sizeof(all),
                 "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 "Sec-WebSocket-Accept: %s\r\n\r\n"
                 "\x81\x03"
                 "abc\x81\x03"
                 "def\x82\x03"
                 "ghi\x88\x02\x03\xe8",
                 accept);
    send_all(fd, all, (size_t)n);
    next_msg(f, fd, 2000);
}

static void test_follow_one_read(void)
{
    fake *f;
    hfs_reader *r = NULL;
    char buf[64];

    f = fake_start(script_all_at_once);
    CHECK_INT(hfs_follow(url_of(f, "/all"), NULL, &r, NULL), HFS_OK);
    CHECK_INT(hfs_reader_read(r, buf, sizeof(buf)), 9);
    CHECK_MEM(buf, 9, "abcdefghi", 9);
    CHECK_INT(hfs_reader_read(r, buf, sizeof(buf)), 0);
    hfs_reader_close(r);
    fake_stop(f);
    CHECK(got_is(f, 0, WS_EV_CLOSE, NULL));
    CHECK_INT(f->got[0].close_code, 1000);
}

static void script_close_1009(fake *f, int fd)
{
    send_101(f, fd);
    send_frame(fd, WS_OP_TEXT, 1, "ab", 2);
    send_close(fd, 1009, "too big");
    next_msg(f, fd, 2000);
}

static void test_follow_error_close(void)
{
    fake *f;
    hfs_reader *r = NULL;
    char buf[16];

    f = fake_start(script_close_1009);
    CHECK_INT(hfs_follow(url_of(f, "/b"), NULL, &r, NULL), HFS_OK);
    CHECK_INT(hfs_reader_read(r, buf, sizeof(buf)), 2);
    CHECK_INT(hfs_reader_read(r, buf, sizeof(buf)), HFS_ERR_CLOSED);
    CHECK_INT(hfs_reader_read(r, buf, sizeof(buf)), HFS_ERR_CLOSED);
    const hfs_error *e = hfs_reader_error(r);
    CHECK_INT(e->close_code, 1009);
    CHECK(strstr(e->message, url_of(f, "/b: server closed the stream: 1009 message too big")));
    hfs_reader_close(r);
    fake_stop(f);
    CHECK(got_is(f, 0, WS_EV_CLOSE, NULL));
    CHECK_INT(f->got[0].close_code, 1009);
}

static void script_eof(fake *f, int fd)
{
    send_101(f, fd);
    send_frame(fd, WS_OP_TEXT, 1, "abc", 3);
}

static void test_follow_eof_before_close(void)
{
    fake *f;
    hfs_reader *r = NULL;
    char buf[16];

    f = fake_start(script_eof);
    CHECK_INT(hfs_follow(url_of(f, "/c"), NULL, &r, NULL), HFS_OK);
    CHECK_INT(hfs_reader_read(r, buf, sizeof(buf)), 3);
    CHECK_INT(hfs_reader_read(r, buf, sizeof(buf)), HFS_ERR_NETWORK);
    hfs_reader_close(r);
    fake_stop(f);
}

static void script_masked(fake *f, int fd)
{
    static const uint8_t masked[] = {0x81, 0x82, 1, 2, 3, 4, 'a' ^ 1, 'b' ^ 2};
    send_101(f, fd);
    send_all(fd, masked, sizeof(masked));
    next_msg(f, fd, 2000);
}

static void test_follow_bad_frame(void)
{
    fake *f;
    hfs_reader *r = NULL;
    char buf[16];

    f = fake_start(script_masked);
    CHECK_INT(hfs_follow(url_of(f, "/d"), NULL, &r, NULL), HFS_OK);
    CHECK_INT(hfs_reader_read(r, buf, sizeof(buf)), HFS_ERR_PROTOCOL);
    hfs_reader_close(r);
    fake_stop(f);
    CHECK(got_is(f, 0, WS_EV_CLOSE, NULL));
    CHECK_INT(f->got[0].close_code, 1002);
}

static void script_bad_accept(fake *f, int fd)
{
    (void)f;
    send_text(fd,
              "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
              "Connection: Upgrade\r\nSec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n");
}

static void test_follow_bad_accept(void)
{
    fake *f;
    hfs_reader *r = NULL;
    hfs_error e;

    f = fake_start(script_bad_accept);
    CHECK_INT(hfs_follow(url_of(f, "/e"), NULL, &r, &e), HFS_ERR_PROTOCOL);
    CHECK(r == NULL);
    CHECK_INT(e.code, HFS_ERR_PROTOCOL);
    fake_stop(f);
}

static const char *canned;
static void script_canned(fake *f, int fd)
{
    (void)f;
    send_text(fd, canned);
    shutdown(fd, SHUT_WR);
    char sink[256];
    while (recv(fd, sink, sizeof(sink), 0) > 0)
        ;
}

/* Follows a server that answers with canned; reads everything into out. */
static int follow_canned(const char *resp, char *out, size_t cap, size_t *n, hfs_error *e)
{
    fake *f;
    hfs_reader *r = NULL;
    ssize_t k = 0;

    canned = resp;
    *n = 0;
    f = fake_start(script_canned);
    int rc = hfs_follow(url_of(f, "/f->txt"), NULL, &r, e);
    while (rc == HFS_OK && (k = hfs_reader_read(r, out + *n, cap - *n)) > 0)
        *n += (size_t)k;
    if (rc == HFS_OK && k < 0)
        rc = (int)k;
    hfs_reader_close(r);
    fake_stop(f);
    return rc;
}

static void test_follow_http_answers(void)
{
    char out[64];
    size_t n;
    hfs_error e;

    CHECK_INT(
        follow_canned("HTTP/1.1 404 Not Found\r\nContent-Length: 19\r\n\r\n404 page not found\n",
                      out, sizeof(out), &n, &e),
        HFS_ERR_NOT_FOUND);
    CHECK_INT(e.http_status, 404);
    CHECK(strstr(e.message, "/f->txt: file does not exist"));
    CHECK_INT(
        follow_canned("HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n", out, sizeof(out), &n, &e),
        HFS_ERR_HTTP);
    CHECK_INT(e.http_status, 500);
    CHECK(strstr(e.message, "/f->txt: HTTP status 500"));
    CHECK_INT(follow_canned("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nwhole", out, sizeof(out),
                            &n, &e),
              HFS_OK);
    CHECK_MEM(out, n, "whole", 5);
    CHECK_INT(follow_canned("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                            "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
                            out, sizeof(out), &n, &e),
              HFS_OK);
    CHECK_MEM(out, n, "abcde", 5);
    CHECK_INT(follow_canned("HTTP/1.0 200 OK\r\n\r\nuntil close", out, sizeof(out), &n, &e),
              HFS_OK);
    CHECK_MEM(out, n, "until close", 11);
    CHECK_INT(follow_canned("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort", out, sizeof(out),
                            &n, &e),
              HFS_ERR_NETWORK);
}

static void script_silent(fake *f, int fd)
{
    (void)f;
    char sink[256];
    while (recv(fd, sink, sizeof(sink), 0) > 0)
        ;
}

static void test_follow_timeout(void)
{
    fake *f;
    hfs_reader *r = NULL;
    hfs_client_options o;
    hfs_error e;
    struct timespec t0, t1;

    hfs_client_options_init(&o);
    o.connect_timeout_ms = 200;
    f = fake_start(script_silent);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CHECK_INT(hfs_follow(url_of(f, "/g"), &o, &r, &e), HFS_ERR_TIMEOUT);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    fake_stop(f);
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    CHECK(ms >= 150 && ms < 2000);
}

static void script_binary_query(fake *f, int fd)
{
    send_101(f, fd);
    send_close(fd, 1000, NULL);
    next_msg(f, fd, 2000);
}

static void test_follow_binary_query(void)
{
    fake *f;
    hfs_reader *r = NULL;
    hfs_client_options o;
    char buf[4];

    hfs_client_options_init(&o);
    o.binary = 1;
    f = fake_start(script_binary_query);
    CHECK_INT(hfs_follow(url_of(f, "/h?x=1"), &o, &r, NULL), HFS_OK);
    CHECK_INT(hfs_reader_read(r, buf, sizeof(buf)), 0);
    hfs_reader_close(r);
    fake_stop(f);
    CHECK(strstr(f->request, "GET /h?x=1&frames=binary HTTP/1.1\r\n") == f->request);
}

static void test_connection_refused(void)
{
    fake *f;
    hfs_reader *r = NULL;
    hfs_error e;
    char url[128];

    f = fake_start(script_silent);
    snprintf(url, sizeof(url), "%s", url_of(f, "/x"));
    /* Take the port's listener away: nobody answers there now. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)f->port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    connect(fd, (struct sockaddr *)&a, sizeof(a));
    close(fd);
    fake_stop(f);
    CHECK_INT(hfs_follow(url, NULL, &r, &e), HFS_ERR_NETWORK);
    CHECK(strstr(e.message, url) == e.message);
    CHECK_INT(hfs_follow("gopher://x/", NULL, &r, &e), HFS_ERR_INVALID);
}

/* ---- a size, and the start of a follow done by the client ---- */

/* hfs_size from the answers a static file server gives to a one-byte range request. */
static void test_size(void)
{
    static const struct {
        const char *resp;
        int rc, status;
        uint64_t size;
    } cases[] = {
        {"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-0/1234\r\nContent-Length: "
         "1\r\n\r\nx",
         HFS_OK, 0, 1234},
        {"HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */0\r\nContent-Length: "
         "0\r\n\r\n",
         HFS_OK, 0, 0},
        {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", HFS_OK, 0, 5},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n",
         HFS_ERR_PROTOCOL, 200, 0},
        {"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-0/*\r\nContent-Length: 1\r\n\r\nx",
         HFS_ERR_PROTOCOL, 206, 0},
        {"HTTP/1.1 404 Not Found\r\nContent-Length: 19\r\n\r\n404 page not found\n",
         HFS_ERR_NOT_FOUND, 404, 0},
        {"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n", HFS_ERR_HTTP, 405, 0},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        uint64_t size = 77;
        hfs_error e;
        fake *f;
        canned = cases[i].resp;
        f = fake_start(script_canned);
        int rc = hfs_size(url_of(f, "/s.txt"), NULL, &size, &e);
        fake_stop(f);
        EXPECTF(rc == cases[i].rc, "case %zu: %d", i, rc);
        EXPECTF(rc != HFS_OK || size == cases[i].size, "case %zu: size %llu", i,
                (unsigned long long)size);
        EXPECTF(rc == HFS_OK || e.http_status == cases[i].status, "case %zu: status %d", i,
                e.http_status);
        EXPECTF(strstr(f->request, "GET /s.txt HTTP/1.1\r\n") == f->request &&
                    strstr(f->request, "\r\nRange: bytes=0-0\r\n") &&
                    !strstr(f->request, "Upgrade") && !strstr(f->request, "X-Verb"),
                "case %zu: request %s", i, f->request);
    }
}

/* Follows a server that answers with canned (one connection), with o; reads everything into out and
 * reports where the reader says it stands. */
static int follow_with(const char *resp, const hfs_client_options *o, char *out, size_t cap,
                       size_t *n, hfs_error *e, uint64_t *offset, uint64_t *size)
{
    fake *f;
    hfs_reader *r = NULL;
    ssize_t k = 0;

    canned = resp;
    *n = 0;
    f = fake_start(script_canned);
    int rc = hfs_follow(url_of(f, "/s.txt"), o, &r, e);
    while (rc == HFS_OK && (k = hfs_reader_read(r, out + *n, cap - *n)) > 0)
        *n += (size_t)k;
    if (rc == HFS_OK && k < 0) {
        rc = (int)k;
        *e = *hfs_reader_error(r);
    }
    *offset = hfs_reader_offset(r);
    *size = hfs_reader_size(r);
    hfs_reader_close(r);
    fake_stop(f);
    return rc;
}

#define LEN_BODY "HTTP/1.1 200 OK\r\nContent-Length: 19\r\n\r\none\ntwo\nthree\nfour\n"
#define CHUNKED_BODY                                                                               \
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"                                        \
    "5\r\none\nt\r\n9\r\nwo\nthree\n\r\n5\r\nfour\n\r\n0\r\n\r\n"

/* A whole resource from a server that does not take a start (a 200 without X-Follow-Offset, with a
 * length and without): the reader starts where asked by itself. */
static void test_follow_start_on_200(void)
{
    static const struct {
        int from;
        uint64_t n;
        const char *want;
    } cases[] = {
        {HFS_FROM_OFFSET, 4, "two\nthree\nfour\n"},
        {HFS_FROM_OFFSET, 19, ""},
        {HFS_FROM_END, 5, "four\n"},
        {HFS_FROM_END, 100, "one\ntwo\nthree\nfour\n"},
        {HFS_FROM_NOW, 0, ""},
        {HFS_FROM_LINES, 2, "three\nfour\n"},
        {HFS_FROM_LINES, 0, ""},
    };
    const char *bodies[] = {LEN_BODY, CHUNKED_BODY};
    char out[64];
    size_t n;
    hfs_error e;
    uint64_t offset, size;
    hfs_client_options o;

    for (size_t b = 0; b < 2; b++) {
        for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
            hfs_client_options_init(&o);
            o.from = cases[i].from;
            o.from_n = cases[i].n;
            int rc = follow_with(bodies[b], &o, out, sizeof(out), &n, &e, &offset, &size);
            EXPECTF(rc == HFS_OK && n == strlen(cases[i].want) && !memcmp(out, cases[i].want, n),
                    "body %zu case %zu: rc %d, [%.*s]", b, i, rc, (int)n, out);
            EXPECTF(offset == 19, "body %zu case %zu: offset %llu", b, i,
                    (unsigned long long)offset);
            EXPECTF(size == (b == 0 ? 19 : UINT64_MAX), "body %zu case %zu: size %llu", b, i,
                    (unsigned long long)size);
        }
        /* Past the end: 416 as our server says it, at once when the length is known, else at the
         * end of the body. */
        hfs_client_options_init(&o);
        o.from = HFS_FROM_OFFSET;
        o.from_n = 20;
        CHECK_INT(follow_with(bodies[b], &o, out, sizeof(out), &n, &e, &offset, &size),
                  HFS_ERR_HTTP);
        CHECK_INT(n, 0);
        CHECK_INT(e.http_status, 416);
        CHECK(strstr(e.message, "/s.txt: the start (byte 20) is past the end of the resource "
                                "(19 bytes)"));
    }
    /* A server that says where it starts is taken at its word: nothing is dropped twice. */
    hfs_client_options_init(&o);
    o.from = HFS_FROM_OFFSET;
    o.from_n = 4;
    CHECK_INT(follow_with("HTTP/1.1 200 OK\r\nX-Follow-Offset: 4\r\nContent-Length: 15\r\n\r\n"
                          "two\nthree\nfour\n",
                          &o, out, sizeof(out), &n, &e, &offset, &size),
              HFS_OK);
    CHECK_MEM(out, n, "two\nthree\nfour\n", 15);
    CHECK_INT(offset, 19);
    CHECK_INT(size, 19);
    /* Our server's 416 names the size it sends. */
    CHECK_INT(follow_with("HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */19\r\n"
                          "Content-Length: 0\r\n\r\n",
                          &o, out, sizeof(out), &n, &e, &offset, &size),
              HFS_ERR_HTTP);
    CHECK_INT(e.http_status, 416);
    CHECK(strstr(e.message, "HTTP status 416: the start is past the end of the resource (19 "
                            "bytes)"));
}

static const char *size_answer; /* the second connection's answer in script_live */

/* The original's live stream: a 101 without X-Follow-Offset, the resource from byte 0, then the
 * size request on a second connection. */
static void script_live(fake *f, int fd)
{
    if (f->conn == 1) {
        canned = size_answer;
        script_canned(f, fd);
        return;
    }
    send_101(f, fd);
    send_frame(fd, WS_OP_TEXT, 1, "old 1\n", 6);
    send_frame(fd, WS_OP_TEXT, 1, "old 2\nnew\n", 10);
    send_close(fd, 1000, NULL);
}

/* Follows script_live with a start; reads everything into out. */
static int follow_live(const hfs_client_options *o, char *out, size_t cap, size_t *n, hfs_error *e,
                       uint64_t *size)
{
    fake *f = fake_start_n(script_live, 2);
    hfs_reader *r = NULL;
    ssize_t k = 0;

    *n = 0;
    int rc = hfs_follow(url_of(f, "/live.txt"), o, &r, e);
    while (rc == HFS_OK && (k = hfs_reader_read(r, out + *n, cap - *n)) > 0)
        *n += (size_t)k;
    if (rc == HFS_OK && k < 0)
        rc = (int)k;
    *size = hfs_reader_size(r);
    hfs_reader_close(r);
    fake_stop(f);
    return rc;
}

/* A live stream from a server that does not take a start: the size is asked once (a one-byte range
 * request), and the start counted back from it; without that size only an offset can be honoured,
 * and the rest fail saying why. */
static void test_follow_start_live(void)
{
    static const struct {
        int from;
        uint64_t n;
        const char *want;
    } cases[] = {
        {HFS_FROM_LINES, 1, "old 2\nnew\n"},
        {HFS_FROM_END, 3, " 2\nnew\n"},
        {HFS_FROM_NOW, 0, "new\n"},
        {HFS_FROM_OFFSET, 3, " 1\nold 2\nnew\n"},
        {HFS_FROM_LINES, 5, "old 1\nold 2\nnew\n"},
    };
    char out[64];
    size_t n;
    hfs_error e;
    uint64_t size;
    hfs_client_options o;

    size_answer = "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-0/12\r\n"
                  "Content-Length: 1\r\n\r\no";
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        hfs_client_options_init(&o);
        o.from = cases[i].from;
        o.from_n = cases[i].n;
        int rc = follow_live(&o, out, sizeof(out), &n, &e, &size);
        EXPECTF(rc == HFS_OK && n == strlen(cases[i].want) && !memcmp(out, cases[i].want, n),
                "case %zu: rc %d, [%.*s]", i, rc, (int)n, out);
        EXPECTF(size == 12, "case %zu: size %llu", i, (unsigned long long)size);
        EXPECTF(strstr(the_fake.requests[1], "\r\nRange: bytes=0-0\r\n"), "case %zu: %s", i,
                the_fake.requests[1]);
    }
    hfs_client_options_init(&o);
    o.from = HFS_FROM_OFFSET;
    o.from_n = 13;
    CHECK_INT(follow_live(&o, out, sizeof(out), &n, &e, &size), HFS_ERR_HTTP);
    CHECK_INT(e.http_status, 416);
    CHECK(strstr(e.message, "past the end of the resource (12 bytes)"));

    size_answer = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    o.from = HFS_FROM_LINES;
    o.from_n = 1;
    CHECK_INT(follow_live(&o, out, sizeof(out), &n, &e, &size), HFS_ERR_PROTOCOL);
    CHECK(strstr(e.message, "/live.txt: cannot honour the last 1 line: the server does not take "
                            "a start (no X-Follow-Offset) and the resource's size could not be "
                            "had (the server did not tell the resource's size"));
    o.from = HFS_FROM_NOW;
    CHECK_INT(follow_live(&o, out, sizeof(out), &n, &e, &size), HFS_ERR_PROTOCOL);
    CHECK(strstr(e.message, "cannot honour a start at the end (now)"));
    o.from = HFS_FROM_OFFSET;
    o.from_n = 6;
    CHECK_INT(follow_live(&o, out, sizeof(out), &n, &e, &size), HFS_OK);
    CHECK_MEM(out, n, "old 2\nnew\n", 10);
    CHECK_INT(size, UINT64_MAX);
}

/* -wait with a server that answers 404 instead of waiting: asked again, 100 then 200 ms later. */
static void script_404_twice(fake *f, int fd)
{
    canned = f->conn < 2
                 ? "HTTP/1.1 404 Not Found\r\nContent-Length: 19\r\n\r\n404 page not found\n"
                 : "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nhi\n";
    script_canned(f, fd);
}

static void test_follow_wait_polls(void)
{
    fake *f = fake_start_n(script_404_twice, 3);
    hfs_client_options o;
    hfs_reader *r = NULL;
    struct timespec t0, t1;
    char buf[16];

    hfs_client_options_init(&o);
    o.wait = 1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CHECK_INT(hfs_follow(url_of(f, "/w.txt"), &o, &r, NULL), HFS_OK);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    CHECK_INT(hfs_reader_read(r, buf, sizeof(buf)), 3);
    CHECK_MEM(buf, 3, "hi\n", 3);
    CHECK_INT(hfs_reader_read(r, buf, sizeof(buf)), 0);
    hfs_reader_close(r);
    fake_stop(f);
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    CHECKF(ms >= 290 && ms < 3000, "%ld ms", ms);
    CHECK(strstr(f->requests[0], "GET /w.txt?wait HTTP/1.1\r\n") == f->requests[0]);
    CHECK(strstr(f->requests[2], "GET /w.txt?wait HTTP/1.1\r\n") == f->requests[2]);
}

/* ---- progress ---- */

typedef struct seen_progress {
    int calls, backwards;
    uint64_t last;
    /* with signal_at: posted once progress has said signal_at bytes three times */
    uint64_t signal_at;
    int at_signal;
    sem_t said;
} seen_progress;

static void on_progress(void *data, uint64_t bytes)
{
    seen_progress *p = data;

    p->backwards += bytes < p->last;
    p->last = bytes;
    p->calls++;
    if (p->signal_at && bytes == p->signal_at && ++p->at_signal == 3)
        sem_post(&p->said);
}

static void script_slow_stream(fake *f, int fd)
{
    send_101(f, fd);
    send_frame(fd, WS_OP_TEXT, 1, "a", 1);
    usleep(300000);
    send_frame(fd, WS_OP_TEXT, 1, "bc", 2);
    usleep(300000);
    send_close(fd, 1000, NULL);
    next_msg(f, fd, 2000);
}

/* While a reader waits for bytes, progress is called every progress_ms, with the bytes so far. */
static void test_follow_progress(void)
{
    fake *f = fake_start(script_slow_stream);
    seen_progress seen = {0};
    hfs_client_options o;
    hfs_reader *r = NULL;
    char all[8];
    size_t n = 0;
    ssize_t k;

    int64_t took = t_now_ms();

    hfs_client_options_init(&o);
    o.progress = on_progress;
    o.progress_data = &seen;
    o.progress_ms = 50;
    CHECK_INT(hfs_follow(url_of(f, "/p"), &o, &r, NULL), HFS_OK);
    while ((k = hfs_reader_read(r, all + n, sizeof(all) - n)) > 0)
        n += (size_t)k;
    took = t_now_ms() - took;
    CHECK_INT(k, 0);
    hfs_reader_close(r);
    fake_stop(f);
    CHECK_MEM(all, n, "abc", 3);
    /* two waits of 300 ms: called in each, and never more often than every 50 ms */
    CHECKF(seen.calls >= 2 && seen.calls <= took / 50 + 2, "%d calls in %lld ms", seen.calls,
           (long long)took);
    CHECK_INT(seen.backwards, 0);
    CHECK(seen.last >= 1 && seen.last <= 3);
}

/* ---- append ---- */

static void script_append(fake *f, int fd)
{
    send_101(f, fd);
    next_msg(f, fd, 2000); /* line1 */
    send_frame(fd, WS_OP_PING, 1, "pp", 2);
    sem_post(&f->step);
    next_msg(f, fd, 2000); /* PONG */
    next_msg(f, fd, 2000); /* line2 */
    next_msg(f, fd, 2000); /* the 1 MiB message */
    next_msg(f, fd, 2000); /* CLOSE */
    send_close(fd, 1000, NULL);
}

static void test_append_writer(void)
{
    fake *f;
    hfs_writer *w = NULL;
    hfs_error e;
    size_t big_len = 1 << 20;
    char *big = malloc(big_len);

    CHECK(big);
    for (size_t i = 0; i < big_len; i++)
        big[i] = (char)('a' + i % 26);
    f = fake_start(script_append);
    CHECK_INT(hfs_open_append(url_of(f, "/w.txt"), NULL, &w, &e), HFS_OK);
    CHECK_INT(hfs_writer_write(w, "line1\n", 6), HFS_OK);
    sem_wait(&f->step);
    CHECK_INT(hfs_writer_write(w, "", 0), HFS_OK);
    CHECK_INT(hfs_writer_write(w, "line2\n", 6), HFS_OK);
    CHECK_INT(hfs_writer_write(w, big, big_len), HFS_OK);
    CHECK_INT(hfs_writer_close(w, &e), HFS_OK);
    fake_stop(f);
    CHECK(strstr(f->request, "\r\nX-Verb: APPEND\r\n"));
    CHECK(got_is(f, 0, WS_EV_DATA, "line1\n"));
    CHECK_INT(f->got[0].opcode, WS_OP_TEXT);
    CHECK(got_is(f, 1, WS_EV_PONG, "pp"));
    CHECK(got_is(f, 2, WS_EV_DATA, "line2\n"));
    CHECK(got_is(f, 3, WS_EV_DATA, NULL));
    CHECK_MEM(f->got[3].data, f->got[3].len, big, big_len);
    CHECK(got_is(f, 4, WS_EV_CLOSE, NULL));
    CHECK_INT(f->got[4].close_code, 1000);
    free(big);
}

static void script_append_1009(fake *f, int fd)
{
    send_101(f, fd);
    next_msg(f, fd, 2000);
    send_close(fd, 1009, NULL);
    sem_post(&f->step);
    next_msg(f, fd, 2000); /* the echo */
}

static void test_append_server_close(void)
{
    fake *f;
    hfs_writer *w = NULL;
    hfs_error e;

    f = fake_start(script_append_1009);
    CHECK_INT(hfs_open_append(url_of(f, "/big"), NULL, &w, &e), HFS_OK);
    CHECK_INT(hfs_writer_write(w, "x", 1), HFS_OK);
    sem_wait(&f->step);
    usleep(20000);
    CHECK_INT(hfs_writer_write(w, "y", 1), HFS_ERR_CLOSED);
    CHECK_INT(hfs_writer_write(w, "z", 1), HFS_ERR_CLOSED);
    CHECK_INT(hfs_writer_error(w)->close_code, 1009);
    CHECK(strstr(hfs_writer_error(w)->message, "server closed the stream: 1009 message too big"));
    CHECK_INT(hfs_writer_close(w, &e), HFS_ERR_CLOSED);
    CHECK_INT(e.close_code, 1009);
    fake_stop(f);
    CHECK(got_is(f, 1, WS_EV_CLOSE, NULL));
    CHECK_INT(f->got[1].close_code, 1009);
}

static void script_vanish(fake *f, int fd)
{
    send_101(f, fd);
    sem_post(&f->step);
    /* Close at once, without reading: the client's writes then fail (EPIPE or a reset). */
}

static void test_append_no_sigpipe(void)
{
    fake *f;
    hfs_writer *w = NULL;
    size_t len = 1 << 20;
    char *data = calloc(1, len);
    int rc = HFS_OK;

    CHECK(data);
    f = fake_start(script_vanish);
    CHECK_INT(hfs_open_append(url_of(f, "/v"), NULL, &w, NULL), HFS_OK);
    sem_wait(&f->step);
    fake_stop(f);
    for (int i = 0; i < 8 && rc == HFS_OK; i++)
        rc = hfs_writer_write(w, data, len);
    CHECK_INT(rc, HFS_ERR_NETWORK); /* and the process is still alive */
    hfs_writer_close(w, NULL);
    free(data);
}

static void test_append_conflict(void)
{
    hfs_writer *w = NULL;
    hfs_error e;
    fake *f;

    canned = "HTTP/1.1 403 Forbidden\r\nContent-Length: 46\r\n\r\n"
             "addWriter: path already has an active writer\n";
    f = fake_start(script_canned);
    CHECK_INT(hfs_open_append(url_of(f, "/busy"), NULL, &w, &e), HFS_ERR_CONFLICT);
    fake_stop(f);
    CHECK(w == NULL);
    CHECK_INT(e.http_status, 403);
    CHECK(strstr(e.message, "/busy: path already has an active writer"));
}

/* Writes "one\n", waits for go (10 s at most), writes "two\n" and closes: no timing involved. */
typedef struct feeder {
    int fd;
    sem_t *go;
} feeder;

static void *feed_pipe(void *arg)
{
    feeder *p = arg;
    struct timespec until;

    if (write(p->fd, "one\n", 4) != 4)
        return NULL;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 10;
    while (sem_timedwait(p->go, &until) < 0 && errno == EINTR)
        ;
    if (write(p->fd, "two\n", 4) != 4)
        return NULL;
    close(p->fd);
    return NULL;
}

/* Collects messages until CLOSE; posts f->step once the first has arrived. */
static void script_collect(fake *f, int fd)
{
    send_101(f, fd);
    if (next_msg(f, fd, 3000) == WS_EV_DATA) {
        sem_post(&f->step);
        while (next_msg(f, fd, 3000) == WS_EV_DATA)
            ;
    }
    send_close(fd, 1000, NULL);
}

static void test_append_from_fd(void)
{
    fake *f;
    int p[2];
    pthread_t t;
    uint64_t sent = 0;
    hfs_error e;

    CHECK_INT(pipe(p), 0);
    f = fake_start(script_collect);
    feeder fd_feeder = {.fd = p[1], .go = &f->step}; /* "two\n" once "one\n" has arrived */
    pthread_create(&t, NULL, feed_pipe, &fd_feeder);
    CHECK_INT(hfs_append(url_of(f, "/p"), p[0], NULL, &sent, &e), HFS_OK);
    pthread_join(t, NULL);
    close(p[0]);
    fake_stop(f);
    CHECK_INT(sent, 8);
    CHECK_INT(f->ngot, 3);
    CHECK(got_is(f, 0, WS_EV_DATA, "one\n"));
    CHECK(got_is(f, 1, WS_EV_DATA, "two\n"));
    CHECK(got_is(f, 2, WS_EV_CLOSE, NULL));
}

/* hfs_append calls progress every progress_ms while it waits for its input, with the bytes sent. */
static void test_append_progress(void)
{
    fake *f;
    int p[2];
    pthread_t t;
    uint64_t sent = 0;
    seen_progress seen = {.signal_at = 4};
    hfs_client_options o;

    CHECK_INT(pipe(p), 0);
    sem_init(&seen.said, 0, 0);
    feeder fd_feeder = {.fd = p[1], .go = &seen.said}; /* "two\n" once progress said 4 thrice */
    hfs_client_options_init(&o);
    o.progress = on_progress;
    o.progress_data = &seen;
    o.progress_ms = 50;
    f = fake_start(script_collect);
    pthread_create(&t, NULL, feed_pipe, &fd_feeder);
    CHECK_INT(hfs_append(url_of(f, "/p"), p[0], &o, &sent, NULL), HFS_OK);
    pthread_join(t, NULL);
    close(p[0]);
    fake_stop(f);
    sem_destroy(&seen.said);
    CHECK_INT(sent, 8);
    CHECKF(seen.at_signal >= 3, "progress said 4 bytes %d times", seen.at_signal);
    CHECK_INT(seen.backwards, 0);
    CHECK(seen.last == 4 || seen.last == 8);
}

static void script_close_while_idle(fake *f, int fd)
{
    send_101(f, fd);
    usleep(50000);
    send_close(fd, 1011, "disk full");
    next_msg(f, fd, 2000);
}

static void test_append_server_close_while_idle(void)
{
    fake *f;
    int p[2];
    uint64_t sent = 1;
    hfs_error e;

    CHECK_INT(pipe(p), 0);
    f = fake_start(script_close_while_idle);
    CHECK_INT(hfs_append(url_of(f, "/i"), p[0], NULL, &sent, &e), HFS_ERR_CLOSED);
    close(p[0]);
    close(p[1]);
    fake_stop(f);
    CHECK_INT(sent, 0);
    CHECK_INT(e.close_code, 1011);
    CHECK(strstr(e.message, "1011 internal server error (disk full)"));
}

/* ---- access control: the token on every request, signed URLs kept, 401 and 403 ---- */

#define TOKEN  "ci-tok.Z9_~+/="
#define AUTH_H "\r\nAuthorization: Bearer " TOKEN "\r\n"
#define SIGNED "expires=1767225600&rights=read&sig=Ab9_-xYz0123456789abcdefABCDEF_-0123456789x"

/* 1 when request head h has exactly one Authorization header, ours. */
static int has_token(const char *h)
{
    const char *a = strstr(h, "\r\nAuthorization:");

    return a && a == strstr(h, AUTH_H) && !strstr(a + 1, "\r\nAuthorization:");
}

/* 1 when request head h starts with "GET target HTTP/1.1". */
static int asks_for(const char *h, const char *target)
{
    return !strncmp(h, "GET ", 4) && !strncmp(h + 4, target, strlen(target)) &&
           !strncmp(h + 4 + strlen(target), " HTTP/1.1\r\n", 11);
}

static void send_101_at(fake *f, int fd, uint64_t offset)
{
    char accept[WS_ACCEPT_LEN + 1], resp[256];
    ws_accept_key(f->key, WS_KEY_LEN, accept);
    snprintf(resp, sizeof(resp),
             "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Accept: %s\r\nX-Follow-Offset: %llu\r\n\r\n",
             accept, (unsigned long long)offset);
    send_text(fd, resp);
}

/* A follow of a signed URL with a token and binary frames, and a live stream's size request: the
 * header on both, the query as given with ours after it. */
static void test_token_follow_and_size(void)
{
    hfs_client_options o;
    hfs_reader *r = NULL;
    uint64_t size = 0;
    char out[64];
    size_t n;
    hfs_error e;
    fake *f;

    hfs_client_options_init(&o);
    o.token = TOKEN;
    o.binary = 1;
    f = fake_start(script_binary_query);
    CHECK_INT(hfs_follow(url_of(f, "/ci/a.log?" SIGNED), &o, &r, NULL), HFS_OK);
    CHECK_INT(hfs_reader_read(r, out, sizeof(out)), 0);
    hfs_reader_close(r);
    fake_stop(f);
    CHECKF(asks_for(f->request, "/ci/a.log?" SIGNED "&frames=binary"), "%s", f->request);
    CHECKF(has_token(f->request), "%s", f->request);

    /* The original's live stream with -n: the one-byte GET goes out with the token too. */
    hfs_client_options_init(&o);
    o.token = TOKEN;
    o.from = HFS_FROM_LINES;
    o.from_n = 1;
    size_answer = "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-0/12\r\n"
                  "Content-Length: 1\r\n\r\no";
    CHECK_INT(follow_live(&o, out, sizeof(out), &n, &e, &size), HFS_OK);
    CHECK_MEM(out, n, "old 2\nnew\n", 10);
    CHECKF(has_token(the_fake.requests[0]), "%s", the_fake.requests[0]);
    CHECKF(has_token(the_fake.requests[1]), "%s", the_fake.requests[1]);
    CHECK(strstr(the_fake.requests[1], "\r\nRange: bytes=0-0\r\n"));

    /* hfs_size alone, on a signed URL. */
    canned = "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-0/99\r\nContent-Length: "
             "1\r\n\r\nx";
    f = fake_start(script_canned);
    CHECK_INT(hfs_size(url_of(f, "/s.txt?" SIGNED), &o, &size, &e), HFS_OK);
    fake_stop(f);
    CHECK_INT(size, 99);
    CHECKF(asks_for(f->request, "/s.txt?" SIGNED), "%s", f->request);
    CHECKF(has_token(f->request), "%s", f->request);
}

/* Appends: hfs_open_append and hfs_append send the token in the handshake. */
static void test_token_append(void)
{
    hfs_client_options o;
    hfs_writer *w = NULL;
    uint64_t sent = 0;
    int p[2];
    fake *f;

    hfs_client_options_init(&o);
    o.token = TOKEN;
    f = fake_start(script_collect);
    CHECK_INT(hfs_open_append(url_of(f, "/ci/job.log?token=other"), &o, &w, NULL), HFS_OK);
    CHECK_INT(hfs_writer_write(w, "x\n", 2), HFS_OK);
    CHECK_INT(hfs_writer_close(w, NULL), HFS_OK);
    fake_stop(f);
    CHECKF(asks_for(f->request, "/ci/job.log?token=other"), "%s", f->request);
    CHECKF(has_token(f->request), "%s", f->request);
    CHECK(strstr(f->request, "\r\nX-Verb: APPEND\r\n"));

    CHECK_INT(pipe(p), 0);
    CHECK_INT(write(p[1], "y\n", 2), 2);
    close(p[1]);
    f = fake_start(script_collect);
    CHECK_INT(hfs_append(url_of(f, "/ci/job.log"), p[0], &o, &sent, NULL), HFS_OK);
    close(p[0]);
    fake_stop(f);
    CHECK_INT(sent, 2);
    CHECKF(has_token(f->request), "%s", f->request);
    CHECK(got_is(f, 0, WS_EV_DATA, "y\n"));
}

/* -wait against a server that answers 404: every poll carries the token and the signed query. */
static void test_token_wait_polls(void)
{
    fake *f = fake_start_n(script_404_twice, 3);
    hfs_client_options o;
    hfs_reader *r = NULL;
    char buf[16];

    hfs_client_options_init(&o);
    o.wait = 1;
    o.token = TOKEN;
    CHECK_INT(hfs_follow(url_of(f, "/w.txt?" SIGNED), &o, &r, NULL), HFS_OK);
    CHECK_INT(hfs_reader_read(r, buf, sizeof(buf)), 3);
    hfs_reader_close(r);
    fake_stop(f);
    for (int i = 0; i < 3; i++) {
        CHECKF(asks_for(f->requests[i], "/w.txt?" SIGNED "&wait"), "%d: %s", i, f->requests[i]);
        CHECKF(has_token(f->requests[i]), "%d: %s", i, f->requests[i]);
    }
}

/* A server that goes away (CLOSE 1001) after "abc", then serves the rest from offset 3, or
 * refuses the reconnect with refuse_answer when it is set. */
static const char *refuse_answer;
static void script_resume(fake *f, int fd)
{
    if (f->conn == 0) {
        send_101_at(f, fd, 0);
        send_frame(fd, WS_OP_TEXT, 1, "abc", 3);
        send_close(fd, 1001, "shutting down");
        next_msg(f, fd, 2000);
        return;
    }
    if (refuse_answer) {
        canned = refuse_answer;
        script_canned(f, fd);
        return;
    }
    send_101_at(f, fd, 3);
    send_frame(fd, WS_OP_TEXT, 1, "def", 3);
    send_close(fd, 1000, NULL);
    next_msg(f, fd, 2000);
}

/* Follows script_resume with a token, a signed URL, -n 2 and resume; reads all into out. Returns
 * the last read's result. */
static ssize_t follow_resumed(char *out, size_t cap, size_t *n, hfs_error *e)
{
    fake *f = fake_start_n(script_resume, 2);
    hfs_client_options o;
    hfs_reader *r = NULL;
    ssize_t k = -100;

    hfs_client_options_init(&o);
    o.token = TOKEN;
    o.resume = 2;
    o.from = HFS_FROM_LINES;
    o.from_n = 2;
    *n = 0;
    if (hfs_follow(url_of(f, "/r.log?" SIGNED), &o, &r, e) == HFS_OK) {
        while ((k = hfs_reader_read(r, out + *n, cap - *n)) > 0)
            *n += (size_t)k;
        *e = *hfs_reader_error(r);
    }
    hfs_reader_close(r);
    fake_stop(f);
    return k;
}

/* A resumed follow: the reconnect carries the token and the URL's query as given, then offset=N
 * in place of the start first asked for. */
static void test_token_resume(void)
{
    char out[16];
    size_t n;
    hfs_error e;

    refuse_answer = NULL;
    CHECK_INT(follow_resumed(out, sizeof(out), &n, &e), 0);
    CHECK_MEM(out, n, "abcdef", 6);
    CHECKF(asks_for(the_fake.requests[0], "/r.log?" SIGNED "&lines=2"), "%s", the_fake.requests[0]);
    CHECKF(asks_for(the_fake.requests[1], "/r.log?" SIGNED "&offset=3"), "%s",
           the_fake.requests[1]);
    CHECKF(has_token(the_fake.requests[0]), "%s", the_fake.requests[0]);
    CHECKF(has_token(the_fake.requests[1]), "%s", the_fake.requests[1]);
}

/* A reconnect refused with 403 (the signed URL expired meanwhile) ends the follow with that. */
static void test_resume_refused(void)
{
    char out[16];
    size_t n;
    hfs_error e;

    refuse_answer = "HTTP/1.1 403 Forbidden\r\nContent-Length: 18\r\n\r\nsignature expired\n";
    CHECK_INT(follow_resumed(out, sizeof(out), &n, &e), HFS_ERR_HTTP);
    refuse_answer = NULL;
    CHECK_MEM(out, n, "abc", 3);
    CHECK_INT(e.code, HFS_ERR_HTTP);
    CHECK_INT(e.http_status, 403);
    CHECKF(strstr(e.message, "/r.log?expires=1767225600&rights=read&sig=REDACTED: 403 forbidden: "
                             "the credential given may not read this path; the server says "
                             "\"signature expired\""),
           "%s", e.message);
    CHECK(!strstr(e.message, TOKEN));
}

#define ANSWER_401                                                                                 \
    "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm=\"httpfstream\"\r\n"              \
    "Content-Length: 13\r\n\r\nunauthorized\n"
#define ANSWER_403 "HTTP/1.1 403 Forbidden\r\nContent-Length: 10\r\n\r\nforbidden\n"

/* What each call makes of a 401 or 403, with and without a credential. */
static void test_denied_messages(void)
{
    static const struct {
        const char *answer, *path, *token;
        int call; /* 0 follow, 1 size, 2 append */
        const char *want;
    } cases[] = {
        {ANSWER_401, "/a", NULL, 0,
         "/a: 401 unauthorized: the server wants a token and none was given; the server says "
         "\"unauthorized\""},
        {ANSWER_401, "/a", TOKEN, 0,
         "/a: 401 unauthorized: the server does not accept the credential given; the server says "
         "\"unauthorized\""},
        {ANSWER_401, "/a?token=s3cret", NULL, 1,
         "/a?token=REDACTED: 401 unauthorized: the server does not accept the credential given"},
        {ANSWER_401, "/a", NULL, 2, "/a: 401 unauthorized: the server wants a token"},
        {ANSWER_403, "/a", TOKEN, 0,
         "/a: 403 forbidden: the credential given may not read this path; the server says "
         "\"forbidden\""},
        {ANSWER_403, "/a?" SIGNED, NULL, 1,
         "/a?expires=1767225600&rights=read&sig=REDACTED: 403 forbidden: the credential given may "
         "not read this path"},
        {ANSWER_403, "/a", TOKEN, 2,
         "/a: 403 forbidden: the credential given may not append to this path; the server says "
         "\"forbidden\""},
        {"HTTP/1.1 403 Forbidden\r\n\r\n", "/a", NULL, 2,
         "/a: 403 forbidden: a credential is needed to append to this path"},
        {"HTTP/1.1 403 Forbidden\r\nContent-Length: 24\r\n\r\n  two\x01lines \r\nsecond\n", "/a",
         TOKEN, 0,
         "/a: 403 forbidden: the credential given may not read this path; the server "
         "says \"  two?lines\""},
    };
    hfs_client_options o;

    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        hfs_reader *r = NULL;
        hfs_writer *w = NULL;
        uint64_t size;
        hfs_error e;
        int rc;
        fake *f;

        hfs_client_options_init(&o);
        o.token = cases[i].token;
        canned = cases[i].answer;
        f = fake_start(script_canned);
        if (cases[i].call == 0)
            rc = hfs_follow(url_of(f, cases[i].path), &o, &r, &e);
        else if (cases[i].call == 1)
            rc = hfs_size(url_of(f, cases[i].path), &o, &size, &e);
        else
            rc = hfs_open_append(url_of(f, cases[i].path), &o, &w, &e);
        fake_stop(f);
        EXPECTF(rc == HFS_ERR_HTTP && e.code == HFS_ERR_HTTP && !r && !w, "case %zu: %d", i, rc);
        EXPECTF(e.http_status == (strstr(cases[i].answer, " 401 ") ? 401 : 403), "case %zu: %d", i,
                e.http_status);
        EXPECTF(strstr(e.message, cases[i].want) != NULL, "case %zu: %s", i, e.message);
        EXPECTF(!strstr(e.message, TOKEN) && !strstr(e.message, "s3cret"), "case %zu: %s", i,
                e.message);
        EXPECTF(!cases[i].token || has_token(f->request), "case %zu: %s", i, f->request);
    }
}

/* A 403 that is another appender (the original's body) stays HFS_ERR_CONFLICT with a token too. */
static void test_conflict_with_token(void)
{
    hfs_client_options o;
    hfs_writer *w = NULL;
    hfs_error e;
    fake *f;

    hfs_client_options_init(&o);
    o.token = TOKEN;
    canned = "HTTP/1.1 403 Forbidden\r\nContent-Length: 46\r\n\r\n"
             "addWriter: path already has an active writer\n";
    f = fake_start(script_canned);
    CHECK_INT(hfs_open_append(url_of(f, "/busy"), &o, &w, &e), HFS_ERR_CONFLICT);
    fake_stop(f);
    CHECK_INT(e.http_status, 403);
    CHECK(strstr(e.message, "/busy: path already has an active writer"));
}

/* 1 when a connection is waiting on the listening socket lfd. */
static int pending(int lfd)
{
    struct pollfd p = {.fd = lfd, .events = POLLIN};
    return poll(&p, 1, 50) > 0;
}

/* Tokens that cannot be sent are refused by every call before anything connects, and never quoted.
 */
static void test_bad_tokens(void)
{
    static const char *bad[] = {"", "a b", "tok\r\nX-Evil: 1", "tok\n", "\x7f", "\xc3\xbc"};
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    char url[128], big[5000];

    CHECK_INT(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    CHECK_INT(listen(lfd, 4), 0);
    getsockname(lfd, (struct sockaddr *)&a, &al);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", ntohs(a.sin_port));
    memset(big, 't', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    for (size_t i = 0; i <= sizeof(bad) / sizeof(*bad); i++) {
        hfs_client_options o;
        hfs_reader *r = NULL;
        hfs_writer *w = NULL;
        uint64_t size;
        hfs_error e[4];
        int rc[4];

        hfs_client_options_init(&o);
        o.token = i < sizeof(bad) / sizeof(*bad) ? bad[i] : big;
        o.wait = 1;
        o.resume = 3;
        rc[0] = hfs_follow(url, &o, &r, &e[0]);
        rc[1] = hfs_size(url, &o, &size, &e[1]);
        rc[2] = hfs_open_append(url, &o, &w, &e[2]);
        rc[3] = hfs_append(url, 0, &o, NULL, &e[3]);
        for (int k = 0; k < 4; k++) {
            EXPECTF(rc[k] == HFS_ERR_INVALID && e[k].code == HFS_ERR_INVALID,
                    "token %zu call %d: %d", i, k, rc[k]);
            EXPECTF(strstr(e[k].message, "/x: invalid token: ") != NULL, "token %zu call %d: %s", i,
                    k, e[k].message);
            EXPECTF(!*o.token || !strstr(e[k].message, o.token), "token %zu call %d quoted", i, k);
        }
        CHECK(!r && !w);
        CHECKF(!pending(lfd), "token %zu: a connection was made", i);
    }
    close(lfd);
}

int main(void)
{
    RUN(test_follow_stream);
    RUN(test_follow_one_read);
    RUN(test_follow_error_close);
    RUN(test_follow_eof_before_close);
    RUN(test_follow_bad_frame);
    RUN(test_follow_bad_accept);
    RUN(test_follow_http_answers);
    RUN(test_follow_timeout);
    RUN(test_follow_binary_query);
    RUN(test_connection_refused);
    RUN(test_size);
    RUN(test_follow_start_on_200);
    RUN(test_follow_start_live);
    RUN(test_follow_wait_polls);
    RUN(test_follow_progress);
    RUN(test_append_writer);
    RUN(test_append_server_close);
    RUN(test_append_no_sigpipe);
    RUN(test_append_conflict);
    RUN(test_append_from_fd);
    RUN(test_append_progress);
    RUN(test_append_server_close_while_idle);
    RUN(test_token_follow_and_size);
    RUN(test_token_append);
    RUN(test_token_wait_polls);
    RUN(test_token_resume);
    RUN(test_resume_refused);
    RUN(test_denied_messages);
    RUN(test_conflict_with_token);
    RUN(test_bad_tokens);
    fake_release();
    return test_report();
}
