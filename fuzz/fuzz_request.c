/* fuzz_request.c -- libFuzzer target: the server's whole request handling. Each input is written,
 * as one client's bytes, into a connection the server adopted (a socketpair), and the loop runs
 * until the server has answered and closed it: parsing, pipelining, upgrades, verb dispatch, path
 * resolution, static responses, appender and follower sessions, the Durable Streams protocol under
 * /v1/stream/. The root holds files, a directory, links out of the root, a live resource with an
 * appender that stays connected, and a Durable Streams stream (ds.txt, made again when an input
 * closed, deleted or grew it). Long-polls wait 20 ms. Checks that the server never crashes or
 * leaks, always ends the connection, and never shows its root path. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "httpfstream.h"

#define MAX_ROUNDS 20000

static uv_loop_t loop;
static hfs_server *srv;
static char root[PATH_MAX];
static int appender_fd = -1;

static void make_root(void)
{
    /* tmpfs when there is one: inputs create and remove files all the time, and on ext4 finding
     * a free inode among thousands just deleted soon costs more than the server's work. */
    char shm[] = "/dev/shm/hfs-fuzz-req.XXXXXX", tmp[] = "/tmp/hfs-fuzz-req.XXXXXX";
    char p[PATH_MAX + 32];
    char *dir = mkdtemp(shm);
    if (!dir)
        dir = mkdtemp(tmp);

    if (!dir)
        abort();
    snprintf(root, sizeof(root), "%s/root", dir);
    mkdir(root, 0755);
#define MK(fmt) (snprintf(p, sizeof(p), fmt, root), p)
    int fd = open(MK("%s/a.txt"), O_CREAT | O_WRONLY, 0600);
    if (write(fd, "hello\n", 6) != 6)
        abort();
    close(fd);
    mkdir(MK("%s/d"), 0755);
    close(open(MK("%s/d/b.bin"), O_CREAT | O_WRONLY, 0600));
    symlink("/etc", MK("%s/etc"));
    symlink("../../", MK("%s/d/up"));
}

/* Removes dir's entry name and, for a directory, everything under it (never following links). */
static void remove_tree(int dir, const char *name)
{
    if (unlinkat(dir, name, 0) == 0 || errno != EISDIR)
        return;
    int fd = openat(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (d) {
        for (struct dirent *e; (e = readdir(d));)
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
                remove_tree(dirfd(d), e->d_name);
        closedir(d);
    } else if (fd >= 0) {
        close(fd);
    }
    unlinkat(dir, name, AT_REMOVEDIR);
}

/* Removes from dir every entry not named in keep (a NULL-terminated list). */
static void prune(const char *dir, const char *const *keep)
{
    DIR *d = opendir(dir);

    if (!d)
        abort();
    for (struct dirent *e; (e = readdir(d));) {
        int fixture = !strcmp(e->d_name, ".") || !strcmp(e->d_name, "..");
        for (const char *const *k = keep; *k; k++)
            fixture |= !strcmp(e->d_name, *k);
        if (!fixture)
            remove_tree(dirfd(d), e->d_name);
    }
    closedir(d);
}

static size_t pump(int fd, char *out, size_t cap);
static int connect_client(void);

/* The Durable Streams stream ds.txt as it was made: its size and its metadata file's inode and
 * size (rewritten by a close, gone with a delete). */
static struct stat ds_data0, ds_meta0;

static int ds_fixture_stat(struct stat *data, struct stat *meta)
{
    char p[PATH_MAX + 32];

    snprintf(p, sizeof(p), "%s/ds.txt", root);
    if (stat(p, data) != 0)
        return -1;
    snprintf(p, sizeof(p), "%s/.httpfstream/meta/ds.txt", root);
    return stat(p, meta);
}

/* Sends one request of the fixture's through the server and waits for the connection to end;
 * returns the answer's status. */
static int ds_fixture_request(const char *req)
{
    static char out[65536];
    int fd = connect_client();
    size_t n = strlen(req);

    if (write(fd, req, n) != (ssize_t)n)
        abort();
    shutdown(fd, SHUT_WR);
    size_t got = pump(fd, out, sizeof(out) - 1);
    close(fd);
    out[got] = '\0';
    return got > 12 && !strncmp(out, "HTTP/1.1 ", 9) ? atoi(out + 9) : 0;
}

/* (Re)makes ds.txt: an open text stream holding "hello\n". One that an input left soft-deleted
 * (forks still count it) cannot be made again until the server forgets it: its files go, and the
 * next resets try again. */
static void ds_fixture(void)
{
    char p[PATH_MAX + 32];

    ds_fixture_request("DELETE /v1/stream/ds.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    int st = ds_fixture_request("PUT /v1/stream/ds.txt HTTP/1.1\r\nHost: x\r\n"
                                "Content-Type: text/plain\r\nContent-Length: 6\r\n\r\nhello\n");
    if (st == 201 && ds_fixture_stat(&ds_data0, &ds_meta0) == 0)
        return;
    snprintf(p, sizeof(p), "%s/ds.txt", root);
    unlink(p);
    snprintf(p, sizeof(p), "%s/.httpfstream/meta/ds.txt", root);
    unlink(p);
    memset(&ds_data0, 0, sizeof(ds_data0));
    ds_data0.st_ino = 1; /* not made: every reset tries again */
}

/* Takes the root back to its fixtures after each input, so that what earlier inputs appended does
 * not pile up (a listing of thousands of files would make every later execution slower). No
 * session is open on any of them by now but the fixed appender's. */
static void reset_root(void)
{
    static const char *const top[] = {"a.txt",        "d", "etc", "live.txt", "ds.txt",
                                      ".httpfstream", NULL};
    static const char *const sub[] = {"b.bin", "up", NULL};
    static const char *const hidden[] = {"meta", NULL};
    static const char *const meta[] = {"ds.txt", NULL};
    char p[PATH_MAX + 32];
    struct stat st, data, m;

    prune(root, top);
    snprintf(p, sizeof(p), "%s/d", root);
    prune(p, sub);
    snprintf(p, sizeof(p), "%s/.httpfstream", root);
    if (stat(p, &st) == 0) {
        prune(p, hidden);
        snprintf(p, sizeof(p), "%s/.httpfstream/meta", root);
        if (stat(p, &st) == 0)
            prune(p, meta);
    }
    snprintf(p, sizeof(p), "%s/a.txt", root);
    if (stat(p, &st) == 0 && st.st_size > 65536 && truncate(p, 6) != 0)
        abort();
    if (ds_data0.st_ino &&
        (ds_fixture_stat(&data, &m) != 0 || data.st_ino != ds_data0.st_ino ||
         data.st_size > 65536 || m.st_ino != ds_meta0.st_ino || m.st_size != ds_meta0.st_size))
        ds_fixture();
}

static void remove_root(void)
{
    char dir[PATH_MAX];

    snprintf(dir, sizeof(dir), "%s", root);
    char *slash = strrchr(dir, '/');
    if (!slash)
        return;
    *slash = '\0';
    remove_tree(AT_FDCWD, dir);
}

/* Runs the loop until fd (our end) reads EOF; returns everything read. */
static size_t pump(int fd, char *out, size_t cap)
{
    size_t got = 0;

    for (int i = 0; i < MAX_ROUNDS; i++) {
        uv_run(&loop, UV_RUN_NOWAIT);
        char buf[65536];
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n == 0)
            return got;
        if (n > 0) {
            size_t k = (size_t)n < cap - got ? (size_t)n : cap - got;
            memcpy(out + got, buf, k);
            got += k;
        } else if (errno != EAGAIN) {
            return got;
        }
    }
    fprintf(stderr, "the server never closed the connection\n");
    abort();
}

static int connect_client(void)
{
    int sv[2];

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
        abort();
    if (hfs_server_adopt_fd(srv, sv[0]) != HFS_OK)
        abort();
    return sv[1];
}

/* An appender on /live.txt that stays connected, so follows of it take the live path. */
static void start_appender(void)
{
    static const char req[] =
        "GET /live.txt HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\nX-Verb: APPEND\r\n\r\n"
        "\x81\x85\x01\x02\x03\x04"
        "\x69\x67\x6f\x68\x6e"; /* "hello" masked with 01 02 03 04 */
    char buf[4096];

    appender_fd = connect_client();
    if (write(appender_fd, req, sizeof(req) - 1) != (ssize_t)(sizeof(req) - 1))
        abort();
    for (int i = 0; i < 100; i++) {
        uv_run(&loop, UV_RUN_NOWAIT);
        ssize_t n = read(appender_fd, buf, sizeof(buf) - 1);
        if (n > 0) {
            buf[n] = '\0';
            if (!strstr(buf, " 101 "))
                abort();
            return;
        }
    }
    abort();
}

static void setup(void)
{
    hfs_server_options o;

    signal(SIGPIPE, SIG_IGN);
    make_root();
    uv_loop_init(&loop);
    hfs_server_options_init(&o);
    o.root = root;
    o.message_max = 1 << 16;
    o.long_poll_ms = 20; /* an input's long-poll ends soon after the input does */
    if (hfs_server_new(&loop, &o, &srv) != HFS_OK)
        abort();
    start_appender();
    ds_fixture();
    atexit(remove_root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char out[1 << 20];
    char scratch[65536];

    if (!srv)
        setup();
    int fd = connect_client();
    size_t off = 0, got = 0;
    /* Write while reading, so that neither side waits on the other's full buffer. */
    for (int i = 0; off < size && i < MAX_ROUNDS; i++) {
        ssize_t n = write(fd, data + off, size - off);
        if (n > 0)
            off += (size_t)n;
        else if (errno != EAGAIN)
            break;
        uv_run(&loop, UV_RUN_NOWAIT);
        ssize_t r = read(fd, scratch, sizeof(scratch));
        if (r > 0 && got + (size_t)r < sizeof(out)) {
            memcpy(out + got, scratch, (size_t)r);
            got += (size_t)r;
        }
    }
    shutdown(fd, SHUT_WR);
    got += pump(fd, out + got, sizeof(out) - 1 - got);
    close(fd);
    out[got] = '\0';
    /* A server path in a response is a leak, unless the client sent it: a redirect echoes the
     * client's path cleaned, so an input holding the root's unique directory name in any form
     * (say with doubled slashes) is let through. */
    const char *unique = strstr(root, "hfs-fuzz-req.");
    if (memmem(out, got, root, strlen(root)) && !memmem(data, size, unique, strlen(unique) - 5))
        abort();
    reset_root();
    return 0;
}
