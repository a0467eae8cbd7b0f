/* test_store_file.c -- the file store (store_file_new): the backend conformance suite
 * (tests/store_conformance.c) on a fresh root per test, then what only files have: the lease held
 * against another store and another process on the same root (and freed by a crash), bytes in the
 * file once written, files made elsewhere, metadata that no path can reach, names up to NAME_MAX,
 * symlinks out of the root and files that are not regular. */
#include "harness.h"
#include "store_conformance.h"

#include <errno.h>
#include <ftw.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- the fixture: a temp dir holding root/ (the store's) and files outside it ---------------- */

typedef struct ffx {
    char dir[200];
    char root[220];
} ffx;

static void *file_setup(void)
{
    ffx *f = calloc(1, sizeof(*f));
    if (!f) {
        test_fail(__FILE__, __LINE__, "out of memory");
        return NULL;
    }
    snprintf(f->dir, sizeof(f->dir), "/tmp/hfs-store-XXXXXX");
    if (!mkdtemp(f->dir)) {
        test_fail(__FILE__, __LINE__, "mkdtemp: %s", strerror(errno));
        free(f);
        return NULL;
    }
    snprintf(f->root, sizeof(f->root), "%s/root", f->dir);
    if (mkdir(f->root, 0755) < 0) {
        test_fail(__FILE__, __LINE__, "mkdir %s: %s", f->root, strerror(errno));
        t_rm_rf(f->dir);
        free(f);
        return NULL;
    }
    return f;
}

static int file_create(void *fx, const store_options *o, store **out)
{
    return store_file_new(((ffx *)fx)->root, o, out);
}

static void file_teardown(void *fx)
{
    t_rm_rf(((ffx *)fx)->dir);
    free(fx);
}

static const store_factory file_factory = {"file", file_setup, file_create, file_teardown};

static const store_options opts = {.tail_max = 65536};

/* root/rel or dir/rel into a caller's buffer. */
#define IN_ROOT(buf, e, rel) snprintf((buf), sizeof(buf), "%s/%s", ((ffx *)(e)->fx)->root, (rel))
#define OUTSIDE(buf, e, rel) snprintf((buf), sizeof(buf), "%s/%s", ((ffx *)(e)->fx)->dir, (rel))

/* Acquires rel on a, retrying while STORE_EBUSY for up to SC_T, running both loops meanwhile. */
static int acquire_retry2(sc_env *a, sc_env *b, const char *rel, store_res **out)
{
    int64_t end = t_now_ms() + SC_T;
    int rc;
    while ((rc = store_acquire(a->st, rel, out)) == STORE_EBUSY && t_now_ms() < end) {
        sc_run_for(a, 2);
        if (b)
            sc_run_for(b, 2);
    }
    return rc;
}

/* ---- the lease between two stores on one root (two servers) ---------------------------------- */

static void two_stores(sc_env *a, sc_env *b)
{
    store_res *wa, *wb, *x, *r;
    char buf[16];

    CHECK_INT(store_acquire(a->st, "s/x", &wa), STORE_OK);
    CHECK_INT(sc_append(wa, "abc", 3), STORE_OK);
    CHECK_INT(sc_wait(a, wa, STORE_WAIT_WRITTEN, SC_T), STORE_OK);
    CHECK_INT(store_acquire(b->st, "s/x", &x), STORE_EBUSY);
    CHECK_INT(store_acquire(b->st, "s/y", &x), STORE_OK); /* only that name is taken */
    store_release(x);

    /* once a released it (its bytes are written), b may take it, and sees them */
    store_release(wa);
    CHECK_INT(acquire_retry2(b, a, "s/x", &wb), STORE_OK);
    CHECK_INT(store_size(wb), 3);
    CHECK_INT(sc_append(wb, "def", 3), STORE_OK);
    CHECK_INT(sc_wait(b, wb, STORE_WAIT_WRITTEN, SC_T), STORE_OK);
    CHECK_INT(store_acquire(a->st, "s/x", &x), STORE_EBUSY); /* and the other way round */
    store_release(wb);

    /* a, holding nothing of it any more, reads what b wrote; and gets the lease back */
    CHECK_INT(store_open(a->st, "s/x", &r), STORE_OK);
    CHECK_INT(store_size(r), 6);
    CHECK_INT(store_read(r, buf, sizeof(buf), 0), 6);
    CHECK_MEM(buf, 6, "abcdef", 6);
    store_res_unref(r);
    CHECK_INT(acquire_retry2(a, b, "s/x", &wa), STORE_OK);
    CHECK_INT(store_size(wa), 6);
    store_release(wa);
}

static void f_two_stores(sc_env *a)
{
    sc_env *b = calloc(1, sizeof(*b));
    CHECK(b);
    if (sc_begin_shared(b, a, &opts) == 0)
        two_stores(a, b);
    if (sc_end(b) == 0)
        free(b);
}

/* ---- the lease between two processes --------------------------------------------------------- */

static void child_wait_cb(void *arg, int err)
{
    *(int *)arg = err == STORE_OK ? 1 : -1;
}

static void child_closed_cb(void *arg)
{
    *(int *)arg = 1;
}

/* Runs loop until *flag or ms pass (no guard handle: the child exits right after). */
static void child_run(uv_loop_t *loop, const int *flag, int ms)
{
    int64_t end = t_now_ms() + ms;
    while (!*flag && t_now_ms() < end) {
        uv_run(loop, UV_RUN_NOWAIT);
        if (!*flag)
            usleep(500);
    }
}

/* In a child process: a store on root, the lease of rel with bytes written (and metadata when m is
 * not NULL), durably. Returns 0 or a code > 0 for what failed. Holds the lease when it returns 0.
 */
static int child_write(uv_loop_t *loop, store **st, const char *root, const char *rel,
                       const store_meta *m, store_res **w)
{
    store_options o = {.loop = loop, .tail_max = 4096, .sync = STORE_SYNC_CLOSE};
    int fired = 0;
    store_wait *h;
    if (uv_loop_init(loop) != 0)
        return 2;
    if (store_file_new(root, &o, st) != STORE_OK)
        return 3;
    if (store_acquire(*st, rel, w) != STORE_OK)
        return 4;
    if (sc_append(*w, "abc", 3) != STORE_OK)
        return 5;
    if (m && store_meta_set(*w, m) != STORE_OK)
        return 6;
    int rc = store_when_written(*w, STORE_WAIT_DURABLE, child_wait_cb, &fired, &h);
    if (rc < 0)
        return 7;
    if (rc == 1)
        child_run(loop, &fired, SC_T);
    return rc == 0 || fired == 1 ? 0 : 8;
}

/* The child that holds "p" until told (or 5 s), then releases and closes. */
static int child_hold(const char *root, int ready, int go)
{
    uv_loop_t loop;
    store *st;
    store_res *w;
    int rc = child_write(&loop, &st, root, "p", NULL, &w), done = 0;
    char c = rc == 0 ? 'k' : 'e';
    if (write(ready, &c, 1) != 1 || rc != 0)
        return rc ? rc : 9;
    struct pollfd p = {.fd = go, .events = POLLIN};
    poll(&p, 1, 5000);
    store_release(w);
    store_close(st, child_closed_cb, &done);
    child_run(&loop, &done, SC_T);
    return done ? 0 : 10;
}

/* The child that tries to take "p": 0 when it gets STORE_EBUSY, else 100 - the error. */
static int child_try(const char *root)
{
    uv_loop_t loop;
    store *st;
    store_res *w;
    store_options o = {.loop = &loop, .tail_max = 4096};
    if (uv_loop_init(&loop) != 0 || store_file_new(root, &o, &st) != STORE_OK)
        return 2;
    int rc = store_acquire(st, "p", &w);
    return rc == STORE_EBUSY ? 0 : 100 - rc;
}

static pid_t fork_flushed(void)
{
    fflush(stdout);
    fflush(stderr);
    return fork();
}

static void f_lease_processes(sc_env *e)
{
    ffx *fx = e->fx;
    int ready[2], go[2], status;
    store_res *x;
    char c = 0;

    CHECK(pipe(ready) == 0 && pipe(go) == 0);
    pid_t pid = fork_flushed();
    CHECK(pid >= 0);
    if (pid == 0) {
        close(ready[0]);
        close(go[1]);
        _exit(child_hold(fx->root, ready[1], go[0]));
    }
    close(ready[1]);
    close(go[0]);
    struct pollfd p = {.fd = ready[0], .events = POLLIN};
    int got = poll(&p, 1, 5000) == 1 && read(ready[0], &c, 1) == 1 && c == 'k';
    int busy = got ? store_acquire(e->st, "p", &x) : STORE_OK;
    if (busy == STORE_OK && got)
        store_release(x);
    CHECK(write(go[1], "g", 1) == 1);
    close(go[1]);
    close(ready[0]);
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECKF(got, "the other process did not get the lease (exit %d)",
           WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    CHECKF(busy == STORE_EBUSY, "acquire while another process holds the lease: %s",
           store_strerror(busy));
    CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the other process: status %d", status);

    /* free again once it released; its bytes are there */
    CHECK_INT(acquire_retry2(e, NULL, "p", &x), STORE_OK);
    CHECK_INT(store_size(x), 3);

    /* and the other way round */
    pid = fork_flushed();
    CHECK(pid >= 0);
    if (pid == 0)
        _exit(child_try(fx->root));
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0,
           "another process acquiring what this one holds: exit %d (100 - store_err; 0 is EBUSY)",
           WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    store_release(x);
}

/* A process that dies holding the lease: its durable bytes and metadata are there, and the lease is
 * free. */
static void f_crash(sc_env *e)
{
    ffx *fx = e->fx;
    uint8_t blob[200];
    store_meta m = {.content_type = (char *)"text/csv",
                    .created_ms = 1234567890123,
                    .expires_ms = 2234567890123,
                    .blob = blob,
                    .blob_len = sizeof(blob)};
    store_meta got;
    store_res *r, *w;
    int status;
    char buf[8];

    sc_pattern(blob, sizeof(blob), 0, 20);
    blob[7] = 0;
    pid_t pid = fork_flushed();
    CHECK(pid >= 0);
    if (pid == 0) {
        uv_loop_t loop;
        store *st;
        _exit(child_write(&loop, &st, fx->root, "c", &m, &w)); /* no release, no close */
    }
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child: status %d", status);

    CHECK_INT(store_open(e->st, "c", &r), STORE_OK);
    CHECK_INT(store_size(r), 3);
    CHECK_INT(store_read(r, buf, sizeof(buf), 0), 3);
    CHECK_MEM(buf, 3, "abc", 3);
    CHECK_INT(store_meta_get(r, &got), STORE_OK);
    CHECK_STR(got.content_type, "text/csv");
    CHECK(got.created_ms == m.created_ms && got.expires_ms == m.expires_ms && !got.closed);
    CHECK_MEM(got.blob, got.blob_len, blob, sizeof(blob));
    store_meta_free(&got);
    CHECK_INT(store_acquire(e->st, "c", &w), STORE_OK); /* the kernel freed the lease */
    CHECK_INT(sc_append(w, "d", 1), STORE_OK);
    CHECK_INT(sc_wait(e, w, STORE_WAIT_WRITTEN, SC_T), STORE_OK);
    CHECK_INT(store_size(r), 4);
    store_release(w);
    store_res_unref(r);
}

/* ---- bytes on disk --------------------------------------------------------------------------- */

static void f_bytes_on_disk(sc_env *e)
{
    static uint8_t want[10000];
    char path[512], pre[512];
    tbuf disk = {0};
    store_res *w, *r;
    store_slice sl[4];
    store_info in;
    char buf[16];

    sc_pattern(want, sizeof(want), 0, 21);
    IN_ROOT(path, e, "a/b/c.log");
    IN_ROOT(pre, e, "pre.txt");
    CHECK_INT(store_acquire(e->st, "a/b/c.log", &w), STORE_OK);
    CHECK(t_exists(path)); /* made, with its parents, by the acquire */
    CHECK_INT(sc_append(w, want, sizeof(want)), STORE_OK);
    CHECK_INT(sc_wait(e, w, STORE_WAIT_WRITTEN, SC_T), STORE_OK);
    CHECK_INT(t_file_read(path, &disk), 0); /* in the file while still leased */
    CHECK_MEM(disk.p, disk.len, want, sizeof(want));
    CHECK(store_peek(w, 0, 100, sl, 4) >= 1); /* the file store's tail is its own memory */
    CHECK(sl[0].hold != NULL);
    store_release(w);
    tbuf_free(&disk);

    /* a file made by someone else is a resource; acquiring never truncates */
    CHECK_INT(t_file_write(pre, "hello", 5), 0);
    CHECK_INT(store_open(e->st, "pre.txt", &r), STORE_OK);
    CHECK_INT(store_size(r), 5);
    CHECK_INT(store_read(r, buf, sizeof(buf), 0), 5);
    CHECK_MEM(buf, 5, "hello", 5);
    store_res_unref(r);
    CHECK_INT(store_acquire(e->st, "pre.txt", &w), STORE_OK);
    CHECK_INT(store_size(w), 5);
    CHECK_INT(sc_append(w, " world", 6), STORE_OK);
    CHECK_INT(sc_wait(e, w, STORE_WAIT_WRITTEN, SC_T), STORE_OK);
    CHECK(t_file_wait_eq(pre, "hello world", 11, 0));
    store_release(w);
    CHECK_INT(store_stat(e->st, "pre.txt", &in), STORE_OK);
    CHECK_INT(in.size, 11);
}

/* ---- metadata no path reaches ---------------------------------------------------------------- */

static char walk_root[512];
static char walk_paths[64][512];
static int walk_n;

static int walk_cb(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    (void)type;
    (void)ftw;
    size_t n = strlen(walk_root);
    if (strncmp(path, walk_root, n) != 0 || path[n] != '/' || walk_n >= 64)
        return 0;
    snprintf(walk_paths[walk_n++], sizeof(walk_paths[0]), "%s", path + n + 1);
    return 0;
}

static void f_meta_unreachable(sc_env *e)
{
    uint8_t blob[64];
    store_meta m = {.content_type = (char *)"text/html",
                    .created_ms = 42,
                    .blob = blob,
                    .blob_len = sizeof(blob)};
    store_meta closed = m, got;
    store_res *w, *x;
    store_info in;
    store_dirent *d;
    size_t n;
    int extra = 0;

    closed.closed = 1;
    sc_pattern(blob, sizeof(blob), 0, 22);
    CHECK_INT(store_acquire(e->st, "a", &w), STORE_OK);
    CHECK_INT(sc_append(w, "aa", 2), STORE_OK);
    CHECK_INT(store_meta_set(w, &m), STORE_OK);
    CHECK_INT(sc_wait(e, w, STORE_WAIT_DURABLE, SC_T), STORE_OK);
    store_release(w);
    CHECK_INT(store_acquire(e->st, "d/c", &w), STORE_OK);
    CHECK_INT(store_meta_set(w, &closed), STORE_OK);
    store_release(w);

    snprintf(walk_root, sizeof(walk_root), "%s", ((ffx *)e->fx)->root);
    walk_n = 0;
    CHECK(nftw(walk_root, walk_cb, 16, FTW_PHYS) == 0);
    for (int i = 0; i < walk_n; i++) {
        const char *p = walk_paths[i];
        if (!strcmp(p, "a") || !strcmp(p, "d") || !strcmp(p, "d/c"))
            continue;
        extra++;
        /* whatever the file store keeps under its root besides resources: out of every path's
         * reach */
        EXPECTF(store_stat(e->st, p, &in) != STORE_OK, "store_stat(\"%s\") succeeds", p);
        int rc = store_open(e->st, p, &x);
        if (rc == STORE_OK)
            store_res_unref(x);
        EXPECTF(rc != STORE_OK, "store_open(\"%s\") succeeds", p);
        rc = store_acquire(e->st, p, &x);
        if (rc == STORE_OK)
            store_release(x);
        EXPECTF(rc != STORE_OK, "store_acquire(\"%s\") succeeds", p);
        rc = store_list(e->st, t_fmt("%s/", p), &d, &n);
        if (rc == STORE_OK)
            store_dirents_free(d, n);
        EXPECTF(rc != STORE_OK, "store_list(\"%s/\") succeeds", p);
        EXPECTF(store_remove(e->st, p) != STORE_OK, "store_remove(\"%s\") succeeds", p);
    }
    if (!extra)
        fprintf(stderr, "  note: nothing but the resources under the root (metadata elsewhere)\n");
    /* the probes changed nothing */
    CHECK_INT(store_open(e->st, "a", &x), STORE_OK);
    CHECK_INT(store_meta_get(x, &got), STORE_OK);
    CHECKF(got.content_type && !strcmp(got.content_type, "text/html") && got.created_ms == 42 &&
               got.blob_len == sizeof(blob) && !memcmp(got.blob, blob, sizeof(blob)),
           "metadata of \"a\" changed");
    store_meta_free(&got);
    store_res_unref(x);
    CHECK_INT(store_open(e->st, "d/c", &x), STORE_OK);
    CHECK(store_state(x) & STORE_CLOSED);
    store_res_unref(x);
}

/* ---- metadata updates that a crash tears ------------------------------------------------------
 */

/* Damages (flips the last byte of, or cuts to half) whichever metadata file under the root holds
 * needle; returns how many files were damaged. */
static int damage_meta(const char *root, const uint8_t *needle, size_t n, int cut)
{
    snprintf(walk_root, sizeof(walk_root), "%s", root);
    walk_n = 0;
    if (nftw(walk_root, walk_cb, 16, FTW_PHYS) != 0)
        return -1;
    int hit = 0;
    for (int i = 0; i < walk_n; i++) {
        const char *path = t_fmt("%s/%s", root, walk_paths[i]);
        tbuf b = {0};
        if (strncmp(walk_paths[i], ".httpfstream/", 13) != 0 || t_file_read(path, &b) < 0) {
            tbuf_free(&b); /* (a directory: read fails after the buffer was made) */
            continue;
        }
        if (b.len >= n && memmem(b.p, b.len, needle, n)) {
            if (cut)
                b.len /= 2;
            else
                b.p[b.len - 1] ^= 0xff;
            t_file_write(path, b.p, b.len);
            hit++;
        }
        tbuf_free(&b);
    }
    return hit;
}

static void f_meta_torn(sc_env *e)
{
    uint8_t one[48], two[48], three[48];
    store_meta m1 = {.content_type = (char *)"text/plain", .blob = one, .blob_len = sizeof(one)};
    store_meta m2 = m1, m3 = m1, got;
    store_res *w;
    const char *root = ((ffx *)e->fx)->root;

    m2.blob = two;
    m3.blob = three;
    m3.content_type = (char *)"application/json";
    sc_pattern(one, sizeof(one), 0, 31);
    sc_pattern(two, sizeof(two), 0, 32);
    sc_pattern(three, sizeof(three), 0, 33);
    CHECK_INT(store_acquire(e->st, "t", &w), STORE_OK);
    CHECK_INT(store_meta_set(w, &m1), STORE_OK);
    CHECK_INT(store_meta_set(w, &m2), STORE_OK);
    store_release(w);
    /* the newest update torn (its last byte wrong): the one before it is what there is */
    CHECK_INT(damage_meta(root, two, sizeof(two), 0), 1);
    CHECK(sc_reopen(e) == 0);
    CHECK_INT(store_open(e->st, "t", &w), STORE_OK);
    CHECK_INT(store_meta_get(w, &got), STORE_OK);
    CHECK_MEM(got.blob, got.blob_len, one, sizeof(one));
    store_meta_free(&got);
    store_res_unref(w);
    /* updates go on from there; a newest one cut short is skipped the same way */
    CHECK_INT(store_acquire(e->st, "t", &w), STORE_OK);
    CHECK_INT(store_meta_set(w, &m3), STORE_OK);
    CHECK_INT(store_meta_get(w, &got), STORE_OK);
    CHECK_STR(got.content_type, "application/json");
    CHECK_MEM(got.blob, got.blob_len, three, sizeof(three));
    store_meta_free(&got);
    store_release(w);
    CHECK_INT(damage_meta(root, three, sizeof(three), 1), 1);
    CHECK(sc_reopen(e) == 0);
    CHECK_INT(store_open(e->st, "t", &w), STORE_OK);
    CHECK_INT(store_meta_get(w, &got), STORE_OK);
    CHECK_STR(got.content_type, "text/plain");
    CHECK_MEM(got.blob, got.blob_len, one, sizeof(one));
    store_meta_free(&got);
    store_res_unref(w);
}

/* ---- names ----------------------------------------------------------------------------------- */

static void f_name_max(sc_env *e)
{
    char n255[256], n256[257], p[300];
    uint8_t blob[100];
    store_meta m = {.content_type = (char *)"text/plain", .blob = blob, .blob_len = sizeof(blob)};
    store_meta got;
    store_res *w;
    store_dirent *d;
    size_t n;

    memset(n255, 'n', 255);
    n255[255] = 0;
    memset(n256, 'n', 256);
    n256[256] = 0;
    sc_pattern(blob, sizeof(blob), 0, 23);
    snprintf(p, sizeof(p), "%s/f", n256);
    CHECK_INT(store_acquire(e->st, n256, &w), STORE_ENAMETOOLONG);
    CHECK_INT(store_acquire(e->st, p, &w), STORE_ENAMETOOLONG);
    CHECK_INT(t_tree_count(((ffx *)e->fx)->root), 0);

    /* NAME_MAX itself is a name like any other, metadata included */
    CHECK_INT(store_acquire(e->st, n255, &w), STORE_OK);
    CHECK_INT(sc_append(w, "x", 1), STORE_OK);
    CHECK_INT(sc_wait(e, w, STORE_WAIT_WRITTEN, SC_T), STORE_OK);
    CHECK_INT(store_meta_set(w, &m), STORE_OK);
    store_release(w);
    CHECK(sc_reopen(e) == 0);
    CHECK_INT(store_open(e->st, n255, &w), STORE_OK);
    CHECK_INT(store_size(w), 1);
    CHECK_INT(store_meta_get(w, &got), STORE_OK);
    CHECK_STR(got.content_type, "text/plain");
    CHECK_MEM(got.blob, got.blob_len, blob, sizeof(blob));
    store_meta_free(&got);
    store_res_unref(w);
    CHECK_INT(store_list(e->st, "", &d, &n), STORE_OK);
    CHECK_INT(n, 1);
    CHECK_STR(d[0].name, n255);
    store_dirents_free(d, n);
}

/* ---- outside the root, not regular ----------------------------------------------------------- */

static void f_symlink_outside(sc_env *e)
{
    char outside[512], none[512], created[512], p[512];
    static const char *const links[] = {"link", "rlink"};
    store_res *x;
    store_info in;
    store_dirent *d;
    size_t n;

    OUTSIDE(outside, e, "outside.txt");
    OUTSIDE(none, e, "none.txt");
    OUTSIDE(created, e, "new.txt");
    CHECK_INT(t_file_write(outside, "secret", 6), 0);
    CHECK(symlink(outside, (IN_ROOT(p, e, "link"), p)) == 0);
    CHECK(symlink("../outside.txt", (IN_ROOT(p, e, "rlink"), p)) == 0);
    CHECK(symlink(((ffx *)e->fx)->dir, (IN_ROOT(p, e, "ldir"), p)) == 0);
    CHECK(symlink(none, (IN_ROOT(p, e, "dang"), p)) == 0);

    for (int i = 0; i < 2; i++) {
        CHECKF(store_stat(e->st, links[i], &in) == STORE_EDENIED, "stat %s", links[i]);
        CHECKF(store_open(e->st, links[i], &x) == STORE_EDENIED, "open %s", links[i]);
        CHECKF(store_acquire(e->st, links[i], &x) == STORE_EDENIED, "acquire %s", links[i]);
    }
    CHECK_INT(store_stat(e->st, "ldir/outside.txt", &in), STORE_EDENIED);
    CHECK_INT(store_open(e->st, "ldir/outside.txt", &x), STORE_EDENIED);
    CHECK_INT(store_acquire(e->st, "ldir/outside.txt", &x), STORE_EDENIED);
    CHECK_INT(store_acquire(e->st, "ldir/new.txt", &x), STORE_EDENIED);
    CHECK(!t_exists(created));
    CHECK_INT(store_acquire(e->st, "dang", &x), STORE_EDENIED); /* never creates through it */
    CHECK(!t_exists(none));
    CHECK_INT(store_list(e->st, "ldir/", &d, &n), STORE_EDENIED);
    CHECK_INT(store_remove(e->st, "ldir/outside.txt"), STORE_EDENIED);
    store_remove(e->st, "link"); /* the link itself may go; what it points at stays */
    CHECK(t_file_wait_eq(outside, "secret", 6, 0));
}

static void f_not_regular(sc_env *e)
{
    char p[512];
    store_res *x;
    store_info in;

    IN_ROOT(p, e, "fifo");
    CHECK(mkfifo(p, 0644) == 0);
    CHECK(store_stat(e->st, "fifo", &in) != STORE_OK);
    CHECK_INT(store_open(e->st, "fifo", &x), STORE_EDENIED);
    CHECK_INT(store_acquire(e->st, "fifo", &x), STORE_EDENIED);
}

static void test_missing_root(void)
{
    uv_loop_t loop;
    store *st = NULL;
    store_options o = {.loop = &loop};
    CHECK_INT(uv_loop_init(&loop), 0);
    CHECK_INT(store_file_new("/nonexistent/hfs-store-root", &o, &st), STORE_ENOENT);
    CHECK_INT(uv_loop_close(&loop), 0);
}

int main(void)
{
    store_conformance_run(&file_factory);
    RUN(test_missing_root);
    sc_test("two_stores_one_lease", &file_factory, &opts, f_two_stores);
    sc_test("lease_across_processes", &file_factory, &opts, f_lease_processes);
    sc_test("crash_keeps_bytes_meta_frees_lease", &file_factory, &opts, f_crash);
    sc_test("bytes_on_disk", &file_factory, &opts, f_bytes_on_disk);
    sc_test("meta_torn_update", &file_factory, &opts, f_meta_torn);
    sc_test("meta_unreachable", &file_factory, &opts, f_meta_unreachable);
    sc_test("name_max", &file_factory, &opts, f_name_max);
    sc_test("symlink_outside", &file_factory, &opts, f_symlink_outside);
    sc_test("not_regular", &file_factory, &opts, f_not_regular); /* last: a blocking open hangs */
    return test_report();
}
