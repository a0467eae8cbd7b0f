/* test_store_nats.c -- the NATS JetStream store (store_nats_new): the backend conformance suite
 * (tests/store_conformance.c) on a three-server cluster this binary starts once
 * (tests/nats/cluster.sh) and stops at the end, with a fresh stream, subject prefix and lease
 * bucket per test and a fresh local root per store (a second store on a fixture is a second node),
 * then what only a replicated store has: the lease across nodes (busy, released, lapsed after a
 * node vanished), a second node seeing the first's bytes and end, catching up after a restart,
 * the applier's rules for duplicates, gaps and malformed messages published raw, and NATS going
 * away and coming back. Without nats-server every test fails. */
#include "harness.h"
#include "store_conformance.h"
#include "store/nats/nats_store.h"

#include <errno.h>
#include <nats/nats.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define LEASE_MS 3000
#define NROOTS   3

static char cluster_dir[200];
static char urls[1024];
static int cluster_up;
static unsigned fx_count;

typedef struct nfx {
    char dir[200];
    char root[NROOTS][220];
    char stream[64], prefix[64], bucket[64];
} nfx;

static int sh(const char *cmd, char *out, size_t n)
{
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    size_t len = out ? fread(out, 1, n - 1, p) : 0;
    if (!out) {
        char sink[256];
        while (fread(sink, 1, sizeof(sink), p) > 0) {
        }
    } else {
        out[len] = 0;
        while (len && (out[len - 1] == '\n' || out[len - 1] == ' '))
            out[--len] = 0;
    }
    int rc = pclose(p);
    return rc == 0 ? 0 : -1;
}

static int cluster(const char *what, int i)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "tests/nats/cluster.sh %s %s %d 2>&1", what, cluster_dir, i);
    if (i == 0)
        snprintf(cmd, sizeof(cmd), "tests/nats/cluster.sh %s %s 2>&1", what, cluster_dir);
    return sh(cmd, NULL, 0);
}

static void log_line(void *data, int level, const char *line)
{
    (void)data;
    if (getenv("HFS_TEST_LOG") || (level == 0 && !strstr(line, "in use by another store")))
        fprintf(stderr, "  [store] %s\n", line);
}

static void *nats_setup(void)
{
    if (!cluster_up) {
        test_fail(__FILE__, __LINE__,
                  "no NATS cluster (nats-server installed? scripts/deps.sh test)");
        return NULL;
    }
    nfx *f = calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    snprintf(f->dir, sizeof(f->dir), "/tmp/hfs-nats-XXXXXX");
    if (!mkdtemp(f->dir)) {
        test_fail(__FILE__, __LINE__, "mkdtemp: %s", strerror(errno));
        free(f);
        return NULL;
    }
    char dir[200];
    memcpy(dir, f->dir, sizeof(dir));
    for (int i = 0; i < NROOTS; i++) {
        snprintf(f->root[i], sizeof(f->root[i]), "%s/node%d", dir, i);
        mkdir(f->root[i], 0755);
    }
    unsigned n = ++fx_count;
    snprintf(f->stream, sizeof(f->stream), "T%u_%u", (unsigned)getpid(), n);
    snprintf(f->prefix, sizeof(f->prefix), "t%u_%u", (unsigned)getpid(), n);
    snprintf(f->bucket, sizeof(f->bucket), "L%u_%u", (unsigned)getpid(), n);
    return f;
}

static int create_on(nfx *f, int i, const store_options *o, store **out)
{
    store_options oo = *o;
    store_nats_options no = {.urls = urls,
                             .root = f->root[i],
                             .stream = f->stream,
                             .prefix = f->prefix,
                             .bucket = f->bucket,
                             .replicas = 3,
                             .lease_ms = LEASE_MS};
    if (!oo.log)
        oo.log = log_line;
    return store_nats_new(&no, &oo, out);
}

/* The first root no open store uses: a reopen gets its own root back, a second store (another
 * node) the next one. */
static int nats_create(void *fx, const store_options *o, store **out)
{
    int rc = STORE_EBUSY;
    for (int i = 0; i < NROOTS && rc == STORE_EBUSY; i++)
        rc = create_on(fx, i, o, out);
    return rc;
}

static void nats_teardown(void *fx)
{
    t_rm_rf(((nfx *)fx)->dir);
    free(fx);
}

static const store_factory nats_factory = {"nats", nats_setup, nats_create, nats_teardown};
static const store_options opts = {.tail_max = 65536};

/* ---- helpers --------------------------------------------------------------------------------- */

static int acquire_retry2(sc_env *a, sc_env *b, const char *rel, store_res **out, int ms)
{
    int64_t end = t_now_ms() + ms;
    int rc;
    while ((rc = store_acquire(a->st, rel, out)) == STORE_EBUSY && t_now_ms() < end) {
        sc_run_for(a, 20);
        if (b)
            sc_run_for(b, 20);
    }
    return rc;
}

typedef struct open_wait {
    sc_env *e;
    const char *rel;
    uint64_t size;
    unsigned state_mask, state_want;
} open_wait;

static int stat_done(void *arg)
{
    open_wait *w = arg;
    store_info in;
    return store_stat(w->e->st, w->rel, &in) == STORE_OK && in.size >= w->size &&
           (in.state & w->state_mask) == w->state_want;
}

/* Runs e until rel has size bytes and (state & mask) == want. */
static int run_stat(sc_env *e, const char *rel, uint64_t size, unsigned mask, unsigned want, int ms)
{
    open_wait w = {e, rel, size, mask, want};
    return sc_run_until(e, stat_done, &w, ms);
}

typedef struct ev_rec {
    unsigned seen;
    int failed, lease, grown;
} ev_rec;

static void ev_cb(void *arg, store_res *res, unsigned events)
{
    ev_rec *r = arg;
    (void)res;
    r->seen |= events;
    r->failed += !!(events & STORE_EV_FAILED);
    r->lease += !!(events & STORE_EV_LEASE);
    r->grown += !!(events & STORE_EV_GROWN);
}

/* A raw publish on the fixture's stream: what a hostile or buggy peer could put there. */
static int raw_publish(nfx *f, const char *subj_tail, const char *kind, const char *writer,
                       const char *off, const void *data, int len)
{
    natsConnection *nc = NULL;
    natsOptions *o = NULL;
    jsCtx *js = NULL;
    natsMsg *m = NULL;
    jsPubAck *pa = NULL;
    char subj[300], *save = NULL, *copy = strdup(urls);
    const char *list[3];
    int n = 0;
    for (char *t = strtok_r(copy, ",", &save); t && n < 3; t = strtok_r(NULL, ",", &save))
        list[n++] = t;
    snprintf(subj, sizeof(subj), "%s.%s", f->prefix, subj_tail);
    natsStatus s = natsOptions_Create(&o);
    if (s == NATS_OK)
        s = natsOptions_SetServers(o, list, n);
    if (s == NATS_OK)
        s = natsConnection_Connect(&nc, o);
    if (s == NATS_OK)
        s = natsConnection_JetStream(&js, nc, NULL);
    if (s == NATS_OK)
        s = natsMsg_Create(&m, subj, NULL, data, len);
    if (s == NATS_OK && kind)
        s = natsMsgHeader_Set(m, "Hfs-Kind", kind);
    if (s == NATS_OK && writer)
        s = natsMsgHeader_Set(m, "Hfs-Writer", writer);
    if (s == NATS_OK && off)
        s = natsMsgHeader_Set(m, "Hfs-Off", off);
    if (s == NATS_OK)
        s = js_PublishMsg(&pa, js, m, NULL, NULL);
    jsPubAck_Destroy(pa);
    natsMsg_Destroy(m);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    natsOptions_Destroy(o);
    free(copy);
    return s == NATS_OK ? 0 : -1;
}

static char *token(const char *name)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    static char t[256];
    size_t n = strlen(name), o = 0;
    const uint8_t *p = (const uint8_t *)name;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) |
                     (i + 2 < n ? p[i + 2] : 0);
        t[o++] = b64[v >> 18 & 63];
        t[o++] = b64[v >> 12 & 63];
        if (i + 1 < n)
            t[o++] = b64[v >> 6 & 63];
        if (i + 2 < n)
            t[o++] = b64[v & 63];
    }
    t[o] = 0;
    return t;
}

static int int_ge_done(void *arg)
{
    const int *const *p = arg;
    return *p[0] >= *p[1];
}

static int run_ge_int(sc_env *e, const int *p, int n, int ms)
{
    const int *a[2] = {p, &n};
    return sc_run_until(e, int_ge_done, a, ms);
}

static int healthy_done(void *arg)
{
    return store_healthy(arg) == 1;
}

typedef struct gone_arg {
    sc_env *e;
    const char *rel;
} gone_arg;

static int gone_done(void *arg)
{
    gone_arg *g = arg;
    store_info in;
    return store_stat(g->e->st, g->rel, &in) == STORE_ENOENT;
}

/* ---- nats-only tests ------------------------------------------------------------------------- */

/* Two nodes: one lease between them; the second sees the first's bytes live and its end. */
static void n_two_nodes(sc_env *a)
{
    sc_env b;
    store_res *w, *x, *r;
    ev_rec ev = {0};
    tbuf got = {0};
    uint8_t want[5000];

    sc_pattern(want, sizeof(want), 0, 21);
    CHECK(sc_begin_shared(&b, a, &opts) == 0);
    CHECK_INT(store_acquire(a->st, "s/x", &w), STORE_OK);
    CHECK_INT(sc_append(w, want, 1000), STORE_OK);
    CHECK_INT(sc_wait(a, w, STORE_WAIT_WRITTEN, SC_T), STORE_OK);
    CHECK_INT(store_acquire(b.st, "s/x", &x), STORE_EBUSY);
    CHECK(run_stat(&b, "s/x", 1000, STORE_LEASED, STORE_LEASED, SC_T));
    CHECK_INT(store_open(b.st, "s/x", &r), STORE_OK);
    store_watch(r, ev_cb, &ev);
    CHECK(store_state(r) & STORE_LEASED);
    CHECK_INT(sc_append(w, want + 1000, 4000), STORE_OK);
    CHECK_INT(sc_wait(a, w, STORE_WAIT_WRITTEN, SC_T), STORE_OK);
    sc_run_for(&b, 1);
    CHECK(run_stat(&b, "s/x", 5000, 0, 0, SC_T));
    CHECK(ev.grown >= 1);
    CHECK_INT(store_size(r), 5000);
    CHECK_INT(sc_read_all(r, &got), 0);
    CHECK_MEM(got.p, got.len, want, 5000);
    store_release(w);
    CHECK(run_stat(&b, "s/x", 5000, STORE_LEASED, 0, SC_T));
    CHECK(ev.lease >= 1);
    CHECK(!(store_state(r) & STORE_LEASED));
    /* and the other node writes next, after those bytes */
    CHECK_INT(acquire_retry2(&b, a, "s/x", &x, SC_T), STORE_OK);
    CHECK_INT(store_accepted(x), 5000);
    CHECK_INT(sc_append(x, "tail", 4), STORE_OK);
    CHECK_INT(sc_wait(&b, x, STORE_WAIT_WRITTEN, SC_T), STORE_OK);
    store_release(x);
    CHECK(run_stat(a, "s/x", 5004, STORE_LEASED, 0, SC_T));
    store_watch(r, NULL, NULL);
    store_res_unref(r);

    /* removed on one node: gone on the other, and its messages purged from the stream: a new
     * node replaying it never sees the bytes */
    CHECK_INT(store_remove(a->st, "s/x"), STORE_OK);
    store_info in;
    CHECK(sc_run_until(&b, gone_done, &(gone_arg){&b, "s/x"}, SC_T));
    sc_run_for(a, 300); /* the purge runs on the thread pool */
    sc_env c;
    store_dirent *d;
    size_t n;
    CHECK(sc_begin_shared(&c, a, &opts) == 0);
    sc_run_for(&c, 300);
    CHECK_INT(store_stat(c.st, "s/x", &in), STORE_ENOENT);
    CHECK_INT(store_list(c.st, "", &d, &n), STORE_OK);
    CHECKF(n == 0, "a new node lists %zu entries", n);
    store_dirents_free(d, n);
    sc_end(&c);
    tbuf_free(&got);
    sc_end(&b);
}

/* A node that vanishes without releasing: its key lapses within the lease, another node takes
 * over exactly at the stored size and readers elsewhere stop showing the old writer. */
static void n_lapse(sc_env *a)
{
    sc_env *b = calloc(1, sizeof(*b)), c;
    store_res *w, *x;
    int64_t t0;

    CHECK(b && sc_begin_shared(b, a, &opts) == 0);
    CHECK(sc_begin_shared(&c, a, &opts) == 0);
    CHECK_INT(store_acquire(b->st, "l", &w), STORE_OK);
    CHECK_INT(sc_append(w, "0123456789", 10), STORE_OK);
    CHECK_INT(sc_wait(b, w, STORE_WAIT_WRITTEN, SC_T), STORE_OK);
    CHECK(run_stat(&c, "l", 10, STORE_LEASED, STORE_LEASED, SC_T));
    /* b's node dies: nothing of it runs any more (its loop is never run again, its store never
     * closed: leaked on purpose, like a crash) */
    store_nats_sever(b->st);
    t0 = t_now_ms();
    CHECK_INT(store_acquire(a->st, "l", &x), STORE_EBUSY);
    CHECK_INT(acquire_retry2(a, &c, "l", &x, LEASE_MS + 3000), STORE_OK);
    CHECKF(t_now_ms() - t0 <= LEASE_MS + 2500, "took over after %lld ms",
           (long long)(t_now_ms() - t0));
    CHECK_INT(store_accepted(x), 10);
    CHECK_INT(sc_append(x, "abc", 3), STORE_OK);
    CHECK_INT(sc_wait(a, x, STORE_WAIT_WRITTEN, SC_T), STORE_OK);
    CHECK(run_stat(&c, "l", 13, 0, 0, SC_T));
    store_release(x);
    CHECK(run_stat(&c, "l", 13, STORE_LEASED, 0, SC_T));
    store_release(w); /* the dead node's handle: its store goes as after a crash */
    sc_end(b);
    free(b);
    sc_end(&c);
}

/* A restarted store catches up from its applied sequence: what others wrote meanwhile. */
static void n_restart(sc_env *a)
{
    sc_env b;
    store_res *w, *r;
    tbuf got = {0};

    CHECK(sc_begin_shared(&b, a, &opts) == 0);
    CHECK_INT(sc_write(a, "r", "before", 6), STORE_OK);
    CHECK(run_stat(&b, "r", 6, 0, 0, SC_T));
    CHECK_INT(sc_close_store(&b, b.st), 0);
    b.st = NULL;
    CHECK_INT(store_acquire(a->st, "r", &w), STORE_OK);
    CHECK_INT(sc_append(w, " after", 6), STORE_OK);
    CHECK_INT(sc_wait(a, w, STORE_WAIT_WRITTEN, SC_T), STORE_OK);
    store_release(w);
    CHECK_INT(sc_write(a, "r2", "new", 3), STORE_OK);
    CHECK_INT(nats_create(b.fx, &b.o, &b.st), STORE_OK);
    CHECK(run_stat(&b, "r", 12, STORE_LEASED, 0, SC_T));
    CHECK(run_stat(&b, "r2", 3, 0, 0, SC_T));
    CHECK_INT(store_open(b.st, "r", &r), STORE_OK);
    CHECK_INT(sc_read_all(r, &got), 0);
    CHECK_MEM(got.p, got.len, "before after", 12);
    store_res_unref(r);
    tbuf_free(&got);
    sc_end(&b);
}

/* The applier's rules, by raw messages: duplicates skipped, overlaps trimmed, gaps skipped,
 * other writers' data ignored, malformed messages skipped with a log line. */
static void n_applier_rules(sc_env *e)
{
    nfx *f = e->fx;
    char tail[300];
    tbuf got = {0};
    store_res *r;
    static const uint8_t junk[] = {0xff, 0, 1, 2};

    snprintf(tail, sizeof(tail), "r.%s", token("a"));
    CHECK_INT(raw_publish(f, tail, "begin", "W-1", "0", NULL, 0), 0);
    CHECK_INT(raw_publish(f, tail, "data", "W-1", "0", "hello", 5), 0);
    CHECK_INT(raw_publish(f, tail, "data", "W-1", "0", "hello", 5), 0);         /* duplicate */
    CHECK_INT(raw_publish(f, tail, "data", "W-1", "3", "lo world", 8), 0);      /* overlap */
    CHECK_INT(raw_publish(f, tail, "data", "W-1", "20", "gap", 3), 0);          /* gap */
    CHECK_INT(raw_publish(f, tail, "data", "W-2", "11", "other", 5), 0);        /* not the writer */
    CHECK_INT(raw_publish(f, tail, "data", "W-1", "x", "bad", 3), 0);           /* bad offset */
    CHECK_INT(raw_publish(f, tail, "data", NULL, "11", "nowriter", 8), 0);      /* no writer */
    CHECK_INT(raw_publish(f, tail, NULL, "W-1", "11", "nokind", 6), 0);         /* no kind */
    CHECK_INT(raw_publish(f, tail, "bogus", "W-1", "11", "k", 1), 0);           /* unknown kind */
    CHECK_INT(raw_publish(f, tail, "meta", NULL, NULL, junk, sizeof(junk)), 0); /* bad meta */
    CHECK_INT(raw_publish(f, "r.!!!", "data", "W-1", "0", "x", 1), 0);          /* bad token */
    CHECK_INT(raw_publish(f, "r.Li4", "begin", "W-9", "0", NULL, 0), 0);        /* ".." as a name */
    CHECK_INT(raw_publish(f, "r.Lmh0dHBmc3RyZWFt", "begin", "W-9", "0", NULL, 0), 0); /* hidden */
    CHECK_INT(raw_publish(f, "r.YQ.x", "data", "W-1", "0", "x", 1), 0); /* a '.' in it */
    CHECK_INT(raw_publish(f, tail, "data", "W-1", "11", "!", 1), 0);
    CHECK_INT(raw_publish(f, tail, "end", "W-1", NULL, NULL, 0), 0);
    CHECK(run_stat(e, "a", 12, STORE_LEASED, 0, SC_T));
    sc_run_for(e, 100);
    CHECK_INT(store_open(e->st, "a", &r), STORE_OK);
    CHECK_INT(sc_read_all(r, &got), 0);
    CHECK_MEM(got.p, got.len, "hello world!", 12);
    store_res_unref(r);
    store_dirent *d;
    size_t n;
    CHECK_INT(store_list(e->st, "", &d, &n), STORE_OK);
    CHECK_INT(n, 1);
    store_dirents_free(d, n);
    tbuf_free(&got);
}

/* NATS goes away: health drops, followers and writers are told (STORE_EV_FAILED) within a few
 * seconds, opens fail; NATS comes back: healthy again, by itself. Last: it restarts the cluster. */
static void n_unavailable(sc_env *e)
{
    store_res *w, *r;
    ev_rec ew = {0}, er = {0};

    CHECK_INT(sc_write(e, "u", "x", 1), STORE_OK);
    CHECK_INT(store_open(e->st, "u", &r), STORE_OK);
    store_watch(r, ev_cb, &er);
    CHECK_INT(store_acquire(e->st, "v", &w), STORE_OK);
    store_watch(w, ev_cb, &ew);
    CHECK_INT(store_healthy(e->st), 1);
    CHECK_INT(cluster("stop", 0), 0);
    int64_t t0 = t_now_ms();
    CHECK(run_ge_int(e, &er.failed, 1, 6000));
    CHECK(run_ge_int(e, &ew.failed, 1, 1000));
    CHECKF(t_now_ms() - t0 < 5000, "told after %lld ms", (long long)(t_now_ms() - t0));
    CHECK_INT(store_healthy(e->st), 0);
    CHECK_INT(sc_append(w, "y", 1), STORE_EIO);
    store_res *x;
    CHECK_INT(store_open(e->st, "u", &x), STORE_EIO);
    store_watch(w, NULL, NULL);
    store_release(w);
    for (int i = 1; i <= 3; i++)
        CHECK_INT(cluster("restart", i), 0);
    CHECK(sc_run_until(e, healthy_done, e->st, 15000));
    CHECK_INT(store_open(e->st, "u", &x), STORE_OK);
    store_res_unref(x);
    store_watch(r, NULL, NULL);
    store_res_unref(r);
    /* JetStream elects its leaders again after the restart: 503s for a while */
    int64_t end = t_now_ms() + 30000;
    int rc;
    while ((rc = store_acquire(e->st, "v", &w)) != STORE_OK && t_now_ms() < end)
        sc_run_for(e, 100);
    CHECK_INT(rc, STORE_OK);
    CHECK_INT(sc_append(w, "z", 1), STORE_OK);
    CHECK_INT(sc_wait(e, w, STORE_WAIT_WRITTEN, 10000), STORE_OK);
    store_release(w);
}

static void t_no_server(void)
{
    store *st;
    uv_loop_t loop;
    char dir[] = "/tmp/hfs-nats-XXXXXX";
    CHECK(mkdtemp(dir));
    uv_loop_init(&loop);
    store_options o = {.loop = &loop, .log = log_line};
    store_nats_options no = {.urls = "nats://127.0.0.1:1", .root = dir, .connect_ms = 500};
    CHECK_INT(store_nats_new(&no, &o, &st), STORE_EIO);
    uv_run(&loop, UV_RUN_NOWAIT);
    CHECK_INT(uv_loop_close(&loop), 0);
    t_rm_rf(dir);
}

int main(void)
{
    char out[1100];
    snprintf(cluster_dir, sizeof(cluster_dir), "/tmp/hfs-natsc-%u", (unsigned)getpid());
    snprintf(out, sizeof(out), "tests/nats/cluster.sh start %s 2>&1", cluster_dir);
    if (sh(out, urls, sizeof(urls)) == 0 && strncmp(urls, "nats://", 7) == 0) {
        cluster_up = 1;
    } else {
        fprintf(stderr, "test_store_nats: no cluster: %s\n", urls);
        test_fail(__FILE__, __LINE__, "starting the NATS cluster failed (nats-server missing?)");
    }
    store_conformance_run(&nats_factory);
    sc_test("two_nodes", &nats_factory, &opts, n_two_nodes);
    sc_test("lapse", &nats_factory, &opts, n_lapse);
    sc_test("restart_catches_up", &nats_factory, &opts, n_restart);
    sc_test("applier_rules", &nats_factory, &opts, n_applier_rules);
    RUN(t_no_server);
    sc_test("unavailable", &nats_factory, &opts, n_unavailable);
    if (cluster_up)
        cluster("stop", 0);
    t_rm_rf(cluster_dir);
    return test_report();
}
