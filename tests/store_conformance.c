/* store_conformance.c -- the backend conformance suite (see store_conformance.h): append and
 * asynchronous completion, reads at an offset, the in-memory tail and its holds, the lease, the
 * watcher, metadata and its persistence, delete, list, errors and the size limit, every one through
 * store.h only. */
#include "store_conformance.h"

#include <stdlib.h>
#include <string.h>

/* ---- the environment ------------------------------------------------------------------------- */

static void guard_cb(uv_timer_t *t)
{
    sc_env *e = t->data;
    e->guard_fired = 1;
}

static int env_init(sc_env *e, const store_factory *f, void *fx, int owns, const store_options *o)
{
    memset(e, 0, sizeof(*e));
    e->failures_at_begin = test_failures;
    e->f = f;
    e->fx = fx;
    e->owns_fx = owns;
    if (!fx)
        return -1; /* setup counted it */
    int rc = uv_loop_init(&e->loop);
    if (rc != 0) {
        test_fail(__FILE__, __LINE__, "uv_loop_init: %s", uv_strerror(rc));
        return -1;
    }
    e->loop_ok = 1;
    uv_timer_init(&e->loop, &e->guard);
    e->guard.data = e;
    e->o = *o;
    e->o.loop = &e->loop;
    rc = f->create(fx, &e->o, &e->st);
    if (rc != STORE_OK) {
        test_fail(__FILE__, __LINE__, "%s: creating a store: %s", f->name, store_strerror(rc));
        e->st = NULL;
        return -1;
    }
    return 0;
}

int sc_begin(sc_env *e, const store_factory *f, const store_options *o)
{
    return env_init(e, f, f->setup(), 1, o);
}

int sc_begin_shared(sc_env *e, const sc_env *other, const store_options *o)
{
    return env_init(e, other->f, other->fx, 0, o);
}

int sc_run_until(sc_env *e, int (*done)(void *arg), void *arg, int timeout_ms)
{
    if (done(arg))
        return 1;
    e->guard_fired = 0;
    uv_update_time(&e->loop);
    uv_timer_start(&e->guard, guard_cb, (uint64_t)(timeout_ms > 0 ? timeout_ms : 0), 0);
    while (!done(arg) && !e->guard_fired)
        uv_run(&e->loop, UV_RUN_ONCE);
    uv_timer_stop(&e->guard);
    return done(arg) != 0;
}

static int flag_set(void *arg)
{
    return *(const int *)arg != 0;
}

int sc_run_flag(sc_env *e, const int *flag, int timeout_ms)
{
    return sc_run_until(e, flag_set, (void *)flag, timeout_ms);
}

static int never(void *arg)
{
    (void)arg;
    return 0;
}

void sc_run_for(sc_env *e, int ms)
{
    sc_run_until(e, never, NULL, ms);
}

/* store_close's callback: also notes every handle still on the loop then (other than the guard). */
static void leftover_cb(uv_handle_t *h, void *arg)
{
    sc_env *e = arg;
    if (h == (uv_handle_t *)&e->guard)
        return;
    e->close_leftovers++;
    fprintf(stderr, "  note: a %s handle%s is still on the loop when store_close called back\n",
            uv_handle_type_name(h->type), uv_is_closing(h) ? " (closing)" : "");
}

static void closed_cb(void *arg)
{
    sc_env *e = arg;
    e->close_done++;
    uv_walk(&e->loop, leftover_cb, e);
}

int sc_close_store(sc_env *e, store *st)
{
    int quiet = test_failures != e->failures_at_begin;
    e->close_done = 0;
    e->close_leftovers = 0;
    store_close(st, closed_cb, e);
    if (!sc_run_flag(e, &e->close_done, SC_T)) {
        if (!quiet)
            test_fail(__FILE__, __LINE__,
                      "store_close did not call back within %d ms (a handle not released, a "
                      "job stuck)",
                      SC_T);
        e->close_stuck = 1;
        return -1;
    }
    sc_run_for(e, 0); /* lets a second callback show */
    if (quiet)
        return 0;
    if (e->close_done != 1) {
        test_fail(__FILE__, __LINE__, "store_close called back %d times", e->close_done);
        return -1;
    }
    if (e->close_leftovers) {
        test_fail(__FILE__, __LINE__,
                  "%d handle(s) of the store left on the loop at store_close's "
                  "callback",
                  e->close_leftovers);
        return -1;
    }
    if (uv_loop_alive(&e->loop)) {
        test_fail(__FILE__, __LINE__,
                  "the loop is still alive (an active handle or request) after "
                  "store_close called back");
        return -1;
    }
    return 0;
}

int sc_reopen(sc_env *e)
{
    store *st = e->st;
    e->st = NULL;
    if (!st || sc_close_store(e, st) < 0)
        return -1;
    int rc = e->f->create(e->fx, &e->o, &e->st);
    if (rc != STORE_OK) {
        test_fail(__FILE__, __LINE__, "%s: reopening the store: %s", e->f->name,
                  store_strerror(rc));
        e->st = NULL;
        return -1;
    }
    return 0;
}

static void print_handle(uv_handle_t *h, void *arg)
{
    (void)arg;
    fprintf(stderr, "  note: left on the loop: a %s handle%s%s\n", uv_handle_type_name(h->type),
            uv_is_active(h) ? ", active" : "", uv_is_closing(h) ? ", closing" : "");
}

int sc_end(sc_env *e)
{
    int quiet = test_failures != e->failures_at_begin;
    int clean = 1;
    if (e->st) {
        store *st = e->st;
        e->st = NULL;
        if (sc_close_store(e, st) < 0 && e->close_stuck)
            clean = 0; /* the store may still call into the loop: leave both alone */
    }
    if (e->loop_ok && clean) {
        uv_close((uv_handle_t *)&e->guard, NULL);
        uv_run(&e->loop, UV_RUN_NOWAIT); /* the guard's close */
        int rc = uv_loop_close(&e->loop);
        if (rc != 0) {
            if (!quiet) {
                uv_walk(&e->loop, print_handle, NULL);
                test_fail(__FILE__, __LINE__, "uv_loop_close after store_close: %s",
                          uv_strerror(rc));
            }
            clean = 0;
        }
    }
    if (e->owns_fx && e->fx)
        e->f->teardown(e->fx);
    e->fx = NULL;
    return clean ? 0 : -1;
}

/* ---- helpers --------------------------------------------------------------------------------- */

void sc_pattern(uint8_t *p, size_t n, uint64_t off, unsigned seed)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t x =
            (off + i) * 0x9E3779B97F4A7C15ull + (uint64_t)(seed + 1) * 0xD1B54A32D192ED03ull;
        x ^= x >> 29;
        x *= 0xBF58476D1CE4E5B9ull;
        x ^= x >> 32;
        p[i] = (uint8_t)x;
    }
}

typedef struct sc_waiter {
    int fired;
    int err;
} sc_waiter;

static void sc_waiter_cb(void *arg, int err)
{
    sc_waiter *w = arg;
    w->fired++;
    w->err = err;
}

int sc_wait(sc_env *e, store_res *res, int kind, int timeout_ms)
{
    sc_waiter w = {0, 0};
    store_wait *h = NULL;
    int rc = store_when_written(res, kind, sc_waiter_cb, &w, &h);
    if (rc < 0)
        return rc;
    if (w.fired)
        return SC_EARLY;
    if (rc == 0) {
        sc_run_for(e, 0);
        return w.fired ? SC_EARLY : STORE_OK;
    }
    if (!sc_run_flag(e, &w.fired, timeout_ms)) {
        store_wait_cancel(h);
        return SC_TIMEOUT;
    }
    sc_run_for(e, 0);
    return w.fired == 1 ? w.err : SC_TWICE;
}

int sc_append(store_res *res, const void *p, size_t n)
{
    struct iovec iov = {(void *)p, n};
    return store_append(res, &iov, 1);
}

int sc_write(sc_env *e, const char *rel, const void *p, size_t n)
{
    store_res *w;
    int rc = store_acquire(e->st, rel, &w);
    if (rc != STORE_OK)
        return rc;
    if (n > 0 && (rc = sc_append(w, p, n)) == STORE_OK)
        rc = sc_wait(e, w, STORE_WAIT_WRITTEN, SC_T);
    store_release(w);
    return rc;
}

int sc_read_all(store_res *res, tbuf *out)
{
    static uint8_t buf[65536];
    uint64_t size = store_size(res), off = 0;
    out->len = 0;
    while (off < size) {
        size_t want = size - off < sizeof(buf) ? (size_t)(size - off) : sizeof(buf);
        ssize_t n = store_read(res, buf, want, off);
        if (n != (ssize_t)want) {
            fprintf(stderr, "  note: store_read(%zu at %llu) of %llu bytes returned %zd\n", want,
                    (unsigned long long)off, (unsigned long long)size, n);
            return -1;
        }
        tbuf_add(out, buf, want);
        off += want;
    }
    return 0;
}

/* Acquires rel, retrying while STORE_EBUSY for up to ms (a release may finish on the loop). */
static int acquire_retry(sc_env *e, const char *rel, store_res **out, int ms)
{
    int64_t end = t_now_ms() + ms;
    int rc;
    while ((rc = store_acquire(e->st, rel, out)) == STORE_EBUSY && t_now_ms() < end)
        sc_run_for(e, 5);
    return rc;
}

typedef struct int_at_least {
    const int *p;
    int n;
} int_at_least;

static int int_at_least_done(void *arg)
{
    const int_at_least *a = arg;
    return *a->p >= a->n;
}

/* Runs until *p >= n. */
static int run_ge(sc_env *e, const int *p, int n, int ms)
{
    int_at_least a = {p, n};
    return sc_run_until(e, int_at_least_done, &a, ms);
}

typedef struct size_at_least {
    store_res *res;
    uint64_t n;
} size_at_least;

static int size_at_least_done(void *arg)
{
    const size_at_least *a = arg;
    return store_size(a->res) >= a->n;
}

static int run_size(sc_env *e, store_res *res, uint64_t n, int ms)
{
    size_at_least a = {res, n};
    return sc_run_until(e, size_at_least_done, &a, ms);
}

static int not_leased(void *arg)
{
    return !(store_state(arg) & STORE_LEASED);
}

/* Peeks up to max bytes at off (at most n slices, n <= 16) and appends their bytes to out. Returns
 * the slice count, or -1 after a note when a slice is empty or the total passes max. */
static int peek_bytes(store_res *res, uint64_t off, uint64_t max, size_t n, tbuf *out)
{
    store_slice sl[16];
    size_t total = 0;
    if (n > 16)
        n = 16;
    out->len = 0;
    size_t k = store_peek(res, off, max, sl, n);
    if (k > n) {
        fprintf(stderr, "  note: store_peek returned %zu slices for room for %zu\n", k, n);
        return -1;
    }
    for (size_t i = 0; i < k; i++) {
        if (!sl[i].p || sl[i].len == 0) {
            fprintf(stderr, "  note: store_peek slice %zu is empty\n", i);
            return -1;
        }
        tbuf_add(out, sl[i].p, sl[i].len);
        total += sl[i].len;
    }
    if (total > max) {
        fprintf(stderr, "  note: store_peek described %zu bytes for max %llu\n", total,
                (unsigned long long)max);
        return -1;
    }
    return (int)k;
}

/* "" when the metadata are equal, else the first field that differs. */
static const char *meta_diff(const store_meta *a, const store_meta *b)
{
    if (!a->content_type != !b->content_type ||
        (a->content_type && strcmp(a->content_type, b->content_type) != 0))
        return "content_type";
    if (!a->closed != !b->closed)
        return "closed";
    if (a->created_ms != b->created_ms)
        return "created_ms";
    if (a->expires_ms != b->expires_ms)
        return "expires_ms";
    if (a->blob_len != b->blob_len)
        return "blob_len";
    if (a->blob_len && (!a->blob || !b->blob || memcmp(a->blob, b->blob, a->blob_len) != 0))
        return "blob";
    return "";
}

/* "" when the listing of rel is exactly names[0..count) in this order (else why, in a t_fmt
 * buffer); *out gets the entries (free them) when it is. */
static const char *list_is(store *st, const char *rel, const char *const *names, size_t count,
                           store_dirent **out)
{
    store_dirent *d = NULL;
    size_t n = 0;
    int rc = store_list(st, rel, &d, &n);
    *out = NULL;
    if (rc != STORE_OK)
        return t_fmt("store_list(\"%s\"): %s", rel, store_strerror(rc));
    int same = n == count;
    for (size_t i = 0; same && i < n; i++)
        same = d[i].name && strcmp(d[i].name, names[i]) == 0;
    if (!same) {
        fprintf(stderr, "  note: store_list(\"%s\") gave %zu entries:", rel, n);
        for (size_t i = 0; i < n; i++)
            fprintf(stderr, " \"%s\"", d[i].name ? d[i].name : "(null)");
        fprintf(stderr, "; want %zu:", count);
        for (size_t i = 0; i < count; i++)
            fprintf(stderr, " \"%s\"", names[i]);
        fprintf(stderr, "\n");
        store_dirents_free(d, n);
        return t_fmt("listing of \"%s\" differs", rel);
    }
    *out = d;
    return "";
}

/* A watcher that records what it is told. */
typedef struct watch_rec {
    store_res *res; /* the handle it was set on */
    int calls;
    unsigned seen; /* every event bit */
    int grown, lease, closed, drained;
    uint64_t last_size;   /* store_size at the last GROWN */
    int stale;            /* GROWN calls without the readable size advancing */
    int unreadable;       /* GROWN calls when the new last byte could not be read */
    int wrong_res;        /* calls with another handle */
    unsigned lease_state; /* store_state at the last LEASE */
} watch_rec;

static void watch_rec_cb(void *arg, store_res *res, unsigned events)
{
    watch_rec *r = arg;
    r->calls++;
    r->seen |= events;
    if (res != r->res)
        r->wrong_res++;
    if (events & STORE_EV_GROWN) {
        uint64_t size = store_size(r->res);
        uint8_t c;
        r->grown++;
        if (size <= r->last_size)
            r->stale++;
        else if (store_read(r->res, &c, 1, size - 1) != 1)
            r->unreadable++;
        r->last_size = size;
    }
    if (events & STORE_EV_LEASE) {
        r->lease++;
        r->lease_state = store_state(r->res);
    }
    if (events & STORE_EV_CLOSED)
        r->closed++;
    if (events & STORE_EV_DRAINED)
        r->drained++;
}

typedef struct u64_at_least {
    const uint64_t *p;
    uint64_t n;
} u64_at_least;

static int u64_at_least_done(void *arg)
{
    const u64_at_least *a = arg;
    return *a->p >= a->n;
}

/* Records what a when_written callback saw: order, error, readable size. */
typedef struct wait_log {
    store_res *res;
    int n;
    int id[16];
    int err[16];
    uint64_t size_at[16];
} wait_log;

typedef struct wait_arg {
    wait_log *log;
    int id;
    int fired;
} wait_arg;

static void wait_log_cb(void *arg, int err)
{
    wait_arg *a = arg;
    wait_log *l = a->log;
    a->fired++;
    if (l->n < 16) {
        l->id[l->n] = a->id;
        l->err[l->n] = err;
        l->size_at[l->n] = store_size(l->res);
        l->n++;
    }
}

/* ---- append, completion, read ---------------------------------------------------------------- */

static void c_append_read(sc_env *e)
{
    store *st = e->st;
    store_res *w, *r;
    store_info in, in2;
    char buf[64];
    struct iovec iov[2] = {{(void *)"hello ", 6}, {(void *)"world", 5}};

    CHECK_INT(store_acquire(st, "a.txt", &w), STORE_OK);
    CHECK_STR(store_res_name(w), "a.txt");
    CHECK_INT(store_size(w), 0);
    CHECK_INT(store_accepted(w), 0);
    CHECK_INT(store_append(w, iov, 2), STORE_OK);
    CHECK_INT(store_accepted(w), 11); /* accepted at once */
    CHECK(store_size(w) <= 11);
    CHECK_INT(sc_wait(e, w, STORE_WAIT_WRITTEN, SC_T), STORE_OK);
    CHECK_INT(store_size(w), 11);
    CHECK_INT(store_accepted(w), 11);

    CHECK_INT(store_read(w, buf, sizeof(buf), 0), 11);
    CHECK_MEM(buf, 11, "hello world", 11);
    CHECK_INT(store_read(w, buf, 5, 6), 5);
    CHECK_MEM(buf, 5, "world", 5);
    CHECK_INT(store_read(w, buf, 3, 2), 3);
    CHECK_MEM(buf, 3, "llo", 3);
    CHECK_INT(store_read(w, buf, sizeof(buf), 9), 2); /* short only at the end */
    CHECK_MEM(buf, 2, "ld", 2);
    CHECK_INT(store_read(w, buf, sizeof(buf), 11), 0);
    CHECK_INT(store_read(w, buf, sizeof(buf), 1000), 0);

    /* the next append goes after the first */
    CHECK_INT(sc_append(w, "!", 1), STORE_OK);
    CHECK_INT(store_accepted(w), 12);
    CHECK_INT(sc_wait(e, w, STORE_WAIT_WRITTEN, SC_T), STORE_OK);
    CHECK_INT(store_size(w), 12);
    CHECK_INT(store_read(w, buf, sizeof(buf), 0), 12);
    CHECK_MEM(buf, 12, "hello world!", 12);

    /* look-up agrees with the handle */
    CHECK_INT(store_stat(st, "a.txt", &in), STORE_OK);
    CHECK_INT(in.is_dir, 0);
    CHECK_INT(in.size, 12);
    CHECK_INT(in.state, STORE_LEASED);
    CHECK_INT(store_res_stat(w, &in2), STORE_OK);
    CHECK_INT(in2.is_dir, 0);
    CHECK_INT(in2.size, 12);
    CHECK(in2.id == in.id);
    CHECK_INT(store_state(w), STORE_LEASED);

    /* a reader sees the same bytes, and the lease while it lasts */
    CHECK_INT(store_open(st, "a.txt", &r), STORE_OK);
    CHECK_INT(store_size(r), 12);
    memset(buf, 0, sizeof(buf));
    CHECK_INT(store_read(r, buf, sizeof(buf), 0), 12);
    CHECK_MEM(buf, 12, "hello world!", 12);
    CHECK(store_state(r) & STORE_LEASED);
    store_release(w);
    CHECK(sc_run_until(e, not_leased, r, SC_T));
    CHECK_INT(store_size(r), 12);
    CHECK_INT(store_stat(st, "a.txt", &in2), STORE_OK);
    CHECK_INT(in2.state, 0);
    CHECK_INT(in2.size, 12);
    store_res_unref(r);

    /* ids: stable for one resource, distinct between two */
    CHECK_INT(sc_write(e, "b.txt", "b", 1), STORE_OK);
    CHECK_INT(store_stat(st, "b.txt", &in2), STORE_OK);
    CHECK(in2.id != in.id);
    CHECK_INT(store_stat(st, "a.txt", &in2), STORE_OK);
    CHECK(in2.id == in.id);
}

/* 1 MiB in appends of random sizes, each split over three vectors, read back whole and at random
 * offsets. */
static void c_large(sc_env *e)
{
    const size_t total = (size_t)1 << 20;
    uint8_t *want = malloc(total), *buf = malloc(total);
    store_res *w;
    tbuf got = {0};
    CHECK(want && buf);
    sc_pattern(want, total, 0, 7);

    CHECK_INT(store_acquire(e->st, "big.bin", &w), STORE_OK);
    size_t off = 0;
    for (int i = 0; off < total; i++) {
        size_t n = t_rand_range(1, 40000), a, b;
        if (n > total - off)
            n = total - off;
        a = n / 3;
        b = n / 2;
        struct iovec iov[3] = {{want + off, a}, {want + off + a, b - a}, {want + off + b, n - b}};
        CHECK_INT(store_append(w, iov, 3), STORE_OK);
        off += n;
        CHECK_INT(store_accepted(w), off);
        CHECK(store_size(w) <= off);
        if (i % 8 == 7)
            uv_run(&e->loop, UV_RUN_NOWAIT); /* some writes complete meanwhile */
    }
    CHECK_INT(sc_wait(e, w, STORE_WAIT_WRITTEN, SC_T), STORE_OK);
    CHECK_INT(store_size(w), total);
    CHECK_INT(store_read(w, buf, total, 0), total);
    CHECK(memcmp(buf, want, total) == 0);
    CHECK_INT(sc_read_all(w, &got), 0);
    CHECK_MEM(got.p, got.len, want, total);
    for (int i = 0; i < 50; i++) {
        size_t at = t_rand_range(0, total - 1), len = t_rand_range(1, 100000);
        size_t expect = len < total - at ? len : total - at;
        ssize_t n = store_read(w, buf, len, at);
        CHECKF(n == (ssize_t)expect, "store_read(%zu at %zu) = %zd, want %zu", len, at, n, expect);
        CHECKF(memcmp(buf, want + at, expect) == 0, "store_read(%zu at %zu): wrong bytes", len, at);
    }
    /* the newest bytes are in the tail */
    CHECK(peek_bytes(w, total - 1000, 1000, 16, &got) > 0);
    CHECK_MEM(got.p, got.len, want + total - 1000, 1000);
    store_release(w);
    tbuf_free(&got);
    free(want);
    free(buf);
}

/* store_when_written into a wait_log: checks it never calls back from inside, and that a return of
 * 0 (no callback) means need bytes are readable. Returns what it returned (0 or 1), or -1 after
 * counting a failure. */
static int wait_logged(store_res *res, int kind, wait_arg *a, uint64_t need)
{
    store_wait *h = NULL;
    int rc = store_when_written(res, kind, wait_log_cb, a, &h);
    if (a->fired) {
        test_fail(__FILE__, __LINE__, "wait %d: called back from inside store_when_written", a->id);
        return -1;
    }
    if (rc == 1 && !h) {
        test_fail(__FILE__, __LINE__, "wait %d: store_when_written returned 1 and no wait", a->id);
        return -1;
    }
    if (rc == 0 && store_size(res) < need) {
        test_fail(__FILE__, __LINE__,
                  "wait %d: store_when_written returned 0 at readable size %llu "
                  "< %llu",
                  a->id, (unsigned long long)store_size(res), (unsigned long long)need);
        return -1;
    }
    if (rc != 0 && rc != 1) {
        test_fail(__FILE__, __LINE__, "wait %d: store_when_written returned %d", a->id, rc);
        return -1;
    }
    return rc;
}

/* WRITTEN waits call back in order, each when its bytes are readable, once, never from inside the
 * call; a DURABLE wait among them too; with nothing pending there is no callback; a cancelled wait
 * never calls back. */
static void c_when_written_order(sc_env *e)
{
    enum { UNIT = 70 * 1024 }; /* big enough that a backend writing behind has work pending */
    static uint8_t want[17 * UNIT];
    store_res *w;
    wait_log lg = {0};
    wait_arg wa[8];
    uint64_t need[8];
    int rcs[8] = {0}, due = 0;
    store_wait *h = NULL;
    tbuf got = {0};

    CHECK_INT(store_acquire(e->st, "o", &w), STORE_OK);
    lg.res = w;
    /* nothing accepted: already so */
    wa[0] = (wait_arg){&lg, 0, 0};
    CHECK_INT(store_when_written(w, STORE_WAIT_WRITTEN, wait_log_cb, &wa[0], &h), 0);
    CHECK_INT(store_when_written(w, STORE_WAIT_DURABLE, wait_log_cb, &wa[0], &h), 0);

    /* five appends with a wait after each, and a DURABLE one after the third */
    uint64_t acc = 0;
    for (int i = 1; i <= 5; i++) {
        size_t n = UNIT * (size_t)i;
        sc_pattern(want + acc, n, acc, 1);
        CHECK_INT(sc_append(w, want + acc, n), STORE_OK);
        acc += n;
        need[i] = acc;
        wa[i] = (wait_arg){&lg, i, 0};
        CHECK((rcs[i] = wait_logged(w, STORE_WAIT_WRITTEN, &wa[i], acc)) >= 0);
        due += rcs[i];
        if (i == 3) {
            need[6] = acc;
            wa[6] = (wait_arg){&lg, 6, 0};
            CHECK((rcs[6] = wait_logged(w, STORE_WAIT_DURABLE, &wa[6], acc)) >= 0);
            due += rcs[6];
        }
    }
    if (due < 6)
        fprintf(stderr, "  note: %d of 6 waits had nothing to wait for\n", 6 - due);
    CHECKF(run_ge(e, &lg.n, due, SC_T), "%d of %d callbacks came", lg.n, due);
    int next = 1;
    for (int k = 0; k < lg.n; k++) {
        int id = lg.id[k];
        CHECKF(lg.err[k] == STORE_OK, "wait %d: %s", id, store_strerror(lg.err[k]));
        CHECKF(lg.size_at[k] >= need[id], "wait %d called back at readable size %llu < %llu", id,
               (unsigned long long)lg.size_at[k], (unsigned long long)need[id]);
        if (id != 6) {
            while (next < 6 && !rcs[next])
                next++;
            CHECKF(id == next, "WRITTEN waits out of order: %d called back when %d was due", id,
                   next);
            next++;
        }
    }
    sc_run_for(e, 30);
    CHECK_INT(lg.n, due);
    CHECK_INT(wa[0].fired, 0);
    for (int i = 1; i <= 6; i++)
        CHECKF(wa[i].fired == rcs[i], "wait %d (returned %d) called back %d times", i, rcs[i],
               wa[i].fired);
    CHECK_INT(store_size(w), acc);
    CHECK_INT(sc_read_all(w, &got), 0);
    CHECK_MEM(got.p, got.len, want, acc);
    /* all stored now: nothing to wait for */
    CHECK_INT(store_when_written(w, STORE_WAIT_WRITTEN, wait_log_cb, &wa[0], &h), 0);

    /* a cancelled wait never calls back */
    sc_pattern(want + acc, 2 * UNIT, acc, 1);
    CHECK_INT(sc_append(w, want + acc, 2 * UNIT), STORE_OK);
    wa[7] = (wait_arg){&lg, 7, 0};
    int rc = store_when_written(w, STORE_WAIT_WRITTEN, wait_log_cb, &wa[7], &h);
    CHECK(!wa[7].fired);
    if (rc == 1) {
        store_wait_cancel(h);
        CHECK_INT(sc_wait(e, w, STORE_WAIT_WRITTEN, SC_T), STORE_OK);
        sc_run_for(e, 20);
        CHECK_INT(wa[7].fired, 0);
    } else {
        fprintf(stderr, "  note: nothing pending after %d bytes: cancel not tested\n", 2 * UNIT);
    }
    store_release(w);
    tbuf_free(&got);
}

/* DURABLE completes under each sync policy, once the bytes are readable, and they survive a
 * reopen. */
static void c_durable(sc_env *e)
{
    static uint8_t want[8000];
    store_res *w, *r;
    wait_log lg = {0};
    wait_arg wa[3];
    int due;
    tbuf got = {0};

    sc_pattern(want, sizeof(want), 0, 2);
    CHECK_INT(store_acquire(e->st, "dur", &w), STORE_OK);
    lg.res = w;
    CHECK_INT(sc_append(w, want, 5000), STORE_OK);
    wa[0] = (wait_arg){&lg, 0, 0};
    CHECK((due = wait_logged(w, STORE_WAIT_DURABLE, &wa[0], 5000)) >= 0);
    CHECK(run_ge(e, &lg.n, due, SC_T));
    CHECK(lg.n == 0 || (lg.err[0] == STORE_OK && lg.size_at[0] >= 5000));
    /* durable already: nothing to wait for */
    CHECK_INT(store_when_written(w, STORE_WAIT_DURABLE, wait_log_cb, &wa[0], &(store_wait *){0}),
              0);
    CHECK_INT(store_when_written(w, STORE_WAIT_WRITTEN, wait_log_cb, &wa[0], &(store_wait *){0}),
              0);

    CHECK_INT(sc_append(w, want + 5000, 3000), STORE_OK);
    wa[1] = (wait_arg){&lg, 1, 0};
    wa[2] = (wait_arg){&lg, 2, 0};
    int rc1, rc2;
    CHECK((rc1 = wait_logged(w, STORE_WAIT_WRITTEN, &wa[1], 8000)) >= 0);
    CHECK((rc2 = wait_logged(w, STORE_WAIT_DURABLE, &wa[2], 8000)) >= 0);
    due += rc1 + rc2;
    CHECK(run_ge(e, &lg.n, due, SC_T));
    for (int k = 0; k < lg.n; k++) {
        CHECKF(lg.err[k] == STORE_OK, "wait %d: %s", lg.id[k], store_strerror(lg.err[k]));
        CHECKF(lg.size_at[k] >= (lg.id[k] ? 8000 : 5000),
               "wait %d called back at readable size %llu", lg.id[k],
               (unsigned long long)lg.size_at[k]);
    }
    store_release(w);

    CHECK(sc_reopen(e) == 0);
    CHECK_INT(store_open(e->st, "dur", &r), STORE_OK);
    CHECK_INT(store_size(r), 8000);
    CHECK_INT(sc_read_all(r, &got), 0);
    CHECK_MEM(got.p, got.len, want, sizeof(want));
    store_res_unref(r);
    tbuf_free(&got);
}

/* Bytes accepted before store_release are still stored, and store_close waits for them. */
static void c_release_pending(sc_env *e)
{
    const size_t total = 200 * 1024;
    uint8_t *want = malloc(total);
    store_res *w, *r;
    tbuf got = {0};
    CHECK(want);
    sc_pattern(want, total, 0, 3);

    CHECK_INT(store_acquire(e->st, "p", &w), STORE_OK);
    for (size_t off = 0; off < total; off += 4096)
        CHECK_INT(sc_append(w, want + off, 4096), STORE_OK);
    store_release(w);
    CHECK_INT(store_open(e->st, "p", &r), STORE_OK);
    CHECKF(run_size(e, r, total, SC_T), "readable size %llu of %zu after release",
           (unsigned long long)store_size(r), total);
    CHECK_INT(store_size(r), total);
    CHECK_INT(sc_read_all(r, &got), 0);
    CHECK_MEM(got.p, got.len, want, total);
    store_res_unref(r);

    CHECK_INT(store_acquire(e->st, "q", &w), STORE_OK);
    for (size_t off = 0; off < total; off += 4096)
        CHECK_INT(sc_append(w, want + off, 4096), STORE_OK);
    store_release(w);
    CHECK(sc_reopen(e) == 0); /* at once: store_close finishes the job first */
    CHECK_INT(store_open(e->st, "q", &r), STORE_OK);
    CHECK_INT(store_size(r), total);
    CHECK_INT(sc_read_all(r, &got), 0);
    CHECK_MEM(got.p, got.len, want, total);
    store_res_unref(r);
    tbuf_free(&got);
    free(want);
}

/* ---- the tail (tail_max 4096) ---------------------------------------------------------------- */

static void c_peek_hold(sc_env *e)
{
    enum { NA = 1000, NB = 200 * 1024 };
    static uint8_t want[NA + NB], saved[NA + NB], piece[16384];
    store_res *w;
    store_slice sl[8];
    tbuf got = {0};

    sc_pattern(want, NA + NB, 0, 4);
    CHECK_INT(store_acquire(e->st, "t", &w), STORE_OK);
    CHECK_INT(sc_append(w, want, NA), STORE_OK);
    CHECK_INT(sc_wait(e, w, STORE_WAIT_WRITTEN, SC_T), STORE_OK);

    CHECK(peek_bytes(w, 0, UINT64_MAX, 8, &got) > 0);
    CHECK_MEM(got.p, got.len, want, NA);
    CHECK(peek_bytes(w, 500, UINT64_MAX, 8, &got) > 0);
    CHECK_MEM(got.p, got.len, want + 500, NA - 500);
    CHECK(peek_bytes(w, 100, 10, 8, &got) > 0);
    CHECK_MEM(got.p, got.len, want + 100, 10);
    CHECK_INT(store_peek(w, NA, UINT64_MAX, sl, 8), 0); /* at the end */
    CHECK_INT(store_peek(w, 5000, UINT64_MAX, sl, 8), 0);
    size_t k = store_peek(w, 0, UINT64_MAX, sl, 1);
    CHECK_INT(k, 1);
    CHECK(sl[0].len > 0 && sl[0].len <= NA);
    CHECK_MEM(sl[0].p, sl[0].len, want, sl[0].len);

    /* hold the first slice */
    CHECK(store_peek(w, 0, UINT64_MAX, sl, 8) >= 1);
    store_slice held = sl[0];
    memcpy(saved, held.p, held.len);
    if (held.hold)
        store_hold(held.hold);

    /* accepted bytes are not described before they are readable (NB is enough for a backend that
     * writes behind to have some pending) */
    CHECK_INT(sc_append(w, want + NA, NB), STORE_OK);
    CHECK(peek_bytes(w, NA - 10, UINT64_MAX, 8, &got) >= 0); /* 0 when past the tail */
    CHECKF(NA - 10 + got.len <= store_size(w), "peeked up to %zu, readable %llu", NA - 10 + got.len,
           (unsigned long long)store_size(w));
    CHECK_MEM(got.p, got.len, want + NA - 10, got.len);
    if (store_size(w) == store_accepted(w))
        fprintf(stderr, "  note: %d bytes stored at once: nothing pending to peek\n", NB);
    CHECK_INT(sc_wait(e, w, STORE_WAIT_WRITTEN, SC_T), STORE_OK);
    CHECK(peek_bytes(w, NA + NB - 100, UINT64_MAX, 8, &got) > 0);
    CHECK_MEM(got.p, got.len, want + NA + NB - 100, 100);

    /* then append until the tail has moved past the held slice (a backend keeps about tail_max,
     * give or take its own granularity: 4 MiB is far past any) */
    uint64_t acc = NA + NB;
    while (store_peek(w, 0, UINT64_MAX, sl, 8) != 0 && acc < (4u << 20)) {
        sc_pattern(piece, sizeof(piece), acc, 4);
        CHECK_INT(sc_append(w, piece, sizeof(piece)), STORE_OK);
        acc += sizeof(piece);
        CHECK_INT(sc_wait(e, w, STORE_WAIT_WRITTEN, SC_T), STORE_OK);
    }
    CHECKF(store_peek(w, 0, UINT64_MAX, sl, 8) == 0,
           "offset 0 still peeked after %llu bytes with tail_max %zu", (unsigned long long)acc,
           e->o.tail_max);
    CHECK_INT(store_size(w), acc);
    CHECK_INT(store_peek(w, NA, UINT64_MAX, sl, 8), 0); /* before the tail: store_read */
    uint8_t *all = malloc(acc);
    CHECK(all);
    sc_pattern(all, acc, 0, 4);
    CHECK_INT(sc_read_all(w, &got), 0);
    CHECKF(got.len == acc && !memcmp(got.p, all, acc), "store_read of %llu bytes differs",
           (unsigned long long)acc);
    CHECK(peek_bytes(w, acc - 100, 100, 8, &got) > 0);
    CHECK_MEM(got.p, got.len, all + acc - 100, 100);
    free(all);
    if (held.hold) {
        CHECK_MEM(held.p, held.len, saved, held.len);
        store_unhold(held.hold);
    } else {
        fprintf(stderr, "  note: tail slices come without a hold: holding not tested\n");
    }
    store_release(w);
    tbuf_free(&got);
}

/* tail_max 0: nothing to peek, everything by store_read. */
static void c_no_tail(sc_env *e)
{
    static uint8_t want[3010];
    store_res *w, *r;
    store_slice sl[4];
    tbuf got = {0};

    sc_pattern(want, sizeof(want), 0, 5);
    CHECK_INT(store_acquire(e->st, "nt", &w), STORE_OK);
    CHECK_INT(sc_append(w, want, 3000), STORE_OK);
    CHECK_INT(sc_wait(e, w, STORE_WAIT_WRITTEN, SC_T), STORE_OK);
    CHECK_INT(store_size(w), 3000);
    CHECK_INT(store_peek(w, 0, UINT64_MAX, sl, 4), 0);
    CHECK_INT(store_peek(w, 2999, UINT64_MAX, sl, 4), 0);
    CHECK_INT(sc_read_all(w, &got), 0);
    CHECK_MEM(got.p, got.len, want, 3000);
    CHECK_INT(store_open(e->st, "nt", &r), STORE_OK);
    CHECK_INT(sc_append(w, want + 3000, 10), STORE_OK);
    CHECK_INT(sc_wait(e, w, STORE_WAIT_DURABLE, SC_T), STORE_OK);
    CHECK_INT(store_size(r), 3010);
    CHECK_INT(store_peek(r, 3000, UINT64_MAX, sl, 4), 0);
    CHECK_INT(sc_read_all(r, &got), 0);
    CHECK_MEM(got.p, got.len, want, 3010);
    store_release(w);
    store_res_unref(r);
    tbuf_free(&got);
}

/* ---- the lease ------------------------------------------------------------------------------- */

static void c_lease(sc_env *e)
{
    store *st = e->st;
    store_res *w, *r, *x;
    store_info in;
    store_meta m = {0};

    CHECK_INT(store_stat(st, "l", &in), STORE_ENOENT);
    CHECK_INT(store_acquire(st, "l", &w), STORE_OK); /* creates */
    CHECK_INT(store_state(w), STORE_LEASED);
    CHECK_INT(store_acquire(st, "l", &x), STORE_EBUSY);
    CHECK_INT(store_stat(st, "l", &in), STORE_OK);
    CHECK_INT(in.state, STORE_LEASED);
    CHECK_INT(in.size, 0);
    CHECK_INT(store_acquire(st, "l2", &x), STORE_OK); /* another name, another lease */
    store_release(x);

    CHECK_INT(store_open(st, "l", &r), STORE_OK); /* a reader takes no lease */
    CHECK(store_state(r) & STORE_LEASED);
    store_release(w);
    CHECK(sc_run_until(e, not_leased, r, SC_T));
    CHECK_INT(store_stat(st, "l", &in), STORE_OK);
    CHECK_INT(in.state, 0);
    int rc = store_acquire(st, "l", &w);
    if (rc == STORE_EBUSY) {
        fprintf(stderr, "  note: the lease was not free at once after store_release\n");
        rc = acquire_retry(e, "l", &w, SC_T);
    }
    CHECK_INT(rc, STORE_OK);
    CHECK(store_state(r) & STORE_LEASED);
    CHECK_INT(sc_append(w, "x", 1), STORE_OK);
    CHECK_INT(sc_wait(e, w, STORE_WAIT_WRITTEN, SC_T), STORE_OK);

    /* the writer closes the stream for good: no more appends, no more leases */
    m.closed = 1;
    CHECK_INT(store_meta_set(w, &m), STORE_OK);
    CHECK(store_state(w) & STORE_CLOSED);
    CHECK(store_state(r) & STORE_CLOSED);
    CHECK_INT(sc_append(w, "y", 1), STORE_ECLOSED);
    CHECK_INT(store_accepted(w), 1);
    store_release(w);
    CHECK(sc_run_until(e, not_leased, r, SC_T));
    CHECK_INT(store_acquire(st, "l", &x), STORE_ECLOSED);
    CHECK_INT(store_stat(st, "l", &in), STORE_OK);
    CHECK_INT(in.state, STORE_CLOSED); /* and the refused acquire left no lease */
    CHECK_INT(in.size, 1);
    store_res_unref(r);

    CHECK(sc_reopen(e) == 0);
    CHECK_INT(store_acquire(e->st, "l", &x), STORE_ECLOSED);
    CHECK_INT(store_stat(e->st, "l", &in), STORE_OK);
    CHECK_INT(in.state, STORE_CLOSED);
}

/* ---- watch ----------------------------------------------------------------------------------- */

static void c_watch(sc_env *e)
{
    store *st = e->st;
    store_res *r, *w;
    watch_rec wr = {0}, wr2 = {0};
    store_meta m = {0};
    uint8_t buf[300];

    CHECK_INT(sc_write(e, "w", NULL, 0), STORE_OK);
    CHECK_INT(store_open(st, "w", &r), STORE_OK);
    CHECK(store_watcher(r) == NULL);
    wr.res = r;
    store_watch(r, watch_rec_cb, &wr);
    CHECK(store_watcher(r) == &wr);

    CHECK_INT(acquire_retry(e, "w", &w, SC_T), STORE_OK);
    CHECK(run_ge(e, &wr.lease, 1, SC_T));
    CHECK(wr.lease_state & STORE_LEASED);
    sc_pattern(buf, sizeof(buf), 0, 6);
    for (int i = 0; i < 3; i++) {
        CHECK_INT(sc_append(w, buf + 100 * i, 100), STORE_OK);
        u64_at_least a = {&wr.last_size, 100 * (uint64_t)(i + 1)};
        CHECKF(sc_run_until(e, u64_at_least_done, &a, SC_T),
               "append %d: the watcher saw readable size %llu, store_size %llu", i,
               (unsigned long long)wr.last_size, (unsigned long long)store_size(r));
    }
    CHECK(wr.grown >= 3);
    CHECK_INT(wr.last_size, 300);
    CHECK_INT(wr.stale, 0);
    CHECK_INT(wr.unreadable, 0);
    CHECK_INT(wr.wrong_res, 0);
    store_release(w);
    CHECK(run_ge(e, &wr.lease, 2, SC_T));
    CHECK(!(wr.lease_state & STORE_LEASED));
    CHECK(!(wr.seen & (STORE_EV_CLOSED | STORE_EV_FAILED)));

    /* no watcher, nothing told */
    store_watch(r, NULL, NULL);
    CHECK(store_watcher(r) == NULL);
    int calls = wr.calls;
    CHECK_INT(acquire_retry(e, "w", &w, SC_T), STORE_OK);
    CHECK_INT(sc_append(w, "z", 1), STORE_OK);
    CHECK_INT(sc_wait(e, w, STORE_WAIT_WRITTEN, SC_T), STORE_OK);
    store_release(w);
    sc_run_for(e, 30);
    CHECK_INT(wr.calls, calls);

    /* closing the stream is told */
    wr2.res = r;
    wr2.last_size = store_size(r);
    store_watch(r, watch_rec_cb, &wr2);
    CHECK(store_watcher(r) == &wr2);
    CHECK_INT(acquire_retry(e, "w", &w, SC_T), STORE_OK);
    m.closed = 1;
    CHECK_INT(store_meta_set(w, &m), STORE_OK);
    CHECK(run_ge(e, &wr2.closed, 1, SC_T));
    CHECK(store_state(r) & STORE_CLOSED);
    store_release(w);
    CHECK(run_ge(e, &wr2.lease, 2, SC_T));
    CHECK_INT(wr2.wrong_res, 0);
    store_watch(r, NULL, NULL);
    store_res_unref(r);
}

/* ---- metadata -------------------------------------------------------------------------------- */

static void c_meta_roundtrip(sc_env *e)
{
    char ct[] = "text/plain; charset=utf-8";
    uint8_t blob[300];
    store_meta m, got;
    store_res *w, *r;
    const char *d;

    sc_pattern(blob, sizeof(blob), 0, 8);
    blob[0] = blob[150] = blob[299] = 0;
    CHECK_INT(store_acquire(e->st, "m", &w), STORE_OK);
    CHECK_INT(store_meta_get(w, &got), STORE_OK); /* none yet: zeroed */
    CHECK(got.content_type == NULL);
    CHECK_INT(got.closed, 0);
    CHECK_INT(got.created_ms, 0);
    CHECK_INT(got.expires_ms, 0);
    CHECK_INT(got.blob_len, 0);
    store_meta_free(&got);

    m = (store_meta){.content_type = ct,
                     .created_ms = 1700000000123,
                     .expires_ms = 1800000000456,
                     .blob = blob,
                     .blob_len = sizeof(blob)};
    CHECK_INT(store_meta_set(w, &m), STORE_OK);
    ct[0] = 'X'; /* the store keeps its own copy */
    blob[1] ^= 0xff;
    CHECK_INT(store_meta_get(w, &got), STORE_OK);
    ct[0] = 't';
    blob[1] ^= 0xff;
    CHECKF(!*(d = meta_diff(&got, &m)), "metadata differ in %s", d);
    store_meta_free(&got);

    /* a set replaces everything */
    CHECK_INT(store_meta_set(w, &(store_meta){.created_ms = 5}), STORE_OK);
    CHECK_INT(store_meta_get(w, &got), STORE_OK);
    CHECKF(!*(d = meta_diff(&got, &(store_meta){.created_ms = 5})), "metadata differ in %s", d);
    store_meta_free(&got);

    m.closed = 1;
    CHECK_INT(store_meta_set(w, &m), STORE_OK);
    store_release(w);

    /* kept across a restart */
    CHECK(sc_reopen(e) == 0);
    CHECK_INT(store_open(e->st, "m", &r), STORE_OK);
    CHECK(store_state(r) & STORE_CLOSED);
    CHECK_INT(store_meta_get(r, &got), STORE_OK);
    CHECKF(!*(d = meta_diff(&got, &m)), "metadata after reopen differ in %s", d);
    store_meta_free(&got);
    store_res_unref(r);
}

static void c_meta_max(sc_env *e)
{
    uint8_t *big = malloc(STORE_META_MAX + 1);
    char *ct = malloc(STORE_META_MAX + 2);
    store_meta m, got, small = {.content_type = (char *)"a/b", .created_ms = 1};
    store_res *w, *r;
    const char *d;
    CHECK(big && ct);
    sc_pattern(big, STORE_META_MAX + 1, 0, 9);
    memset(ct, 'c', STORE_META_MAX + 1);
    ct[STORE_META_MAX + 1] = 0;

    CHECK_INT(store_acquire(e->st, "mm", &w), STORE_OK);
    CHECK_INT(store_meta_set(w, &small), STORE_OK);
    m = (store_meta){.blob = big, .blob_len = STORE_META_MAX + 1};
    CHECK_INT(store_meta_set(w, &m), STORE_EFULL);
    m = (store_meta){.content_type = (char *)"x", .blob = big, .blob_len = STORE_META_MAX};
    CHECK_INT(store_meta_set(w, &m), STORE_EFULL);
    m = (store_meta){.content_type = ct};
    CHECK_INT(store_meta_set(w, &m), STORE_EFULL);
    CHECK_INT(store_meta_get(w, &got), STORE_OK); /* refused sets changed nothing */
    CHECKF(!*(d = meta_diff(&got, &small)), "metadata differ in %s", d);
    store_meta_free(&got);

    m = (store_meta){.blob = big, .blob_len = STORE_META_MAX}; /* exactly the maximum */
    CHECK_INT(store_meta_set(w, &m), STORE_OK);
    CHECK_INT(store_meta_get(w, &got), STORE_OK);
    CHECKF(!*(d = meta_diff(&got, &m)), "metadata differ in %s", d);
    store_meta_free(&got);
    store_release(w);

    CHECK(sc_reopen(e) == 0);
    CHECK_INT(store_open(e->st, "mm", &r), STORE_OK);
    CHECK_INT(store_meta_get(r, &got), STORE_OK);
    CHECKF(!*(d = meta_diff(&got, &m)), "metadata after reopen differ in %s", d);
    store_meta_free(&got);
    store_res_unref(r);
    free(big);
    free(ct);
}

/* Sets bytes and metadata on rel (acquire, append, wait, set, release). A store_err. */
static int put(sc_env *e, const char *rel, const char *bytes, const store_meta *m)
{
    store_res *w;
    int rc = store_acquire(e->st, rel, &w);
    if (rc != STORE_OK)
        return rc;
    if (*bytes && (rc = sc_append(w, bytes, strlen(bytes))) == STORE_OK)
        rc = sc_wait(e, w, STORE_WAIT_WRITTEN, SC_T);
    if (rc == STORE_OK)
        rc = store_meta_set(w, m);
    store_release(w);
    return rc;
}

/* Metadata never shows as a resource: listings hold only what was created, before and after a
 * restart. */
static void c_meta_hidden(sc_env *e)
{
    uint8_t blob[100];
    store_meta m = {.content_type = (char *)"application/json",
                    .created_ms = 1,
                    .expires_ms = 2,
                    .blob = blob,
                    .blob_len = sizeof(blob)};
    store_meta closed = m;
    store_dirent *d;
    const char *why;
    static const char *const root[] = {"a", "b", "d"}, *const sub[] = {"c"};

    closed.closed = 1;
    sc_pattern(blob, sizeof(blob), 0, 10);
    CHECK_INT(put(e, "a", "aa", &m), STORE_OK);
    CHECK_INT(put(e, "b", "b", &closed), STORE_OK);
    CHECK_INT(put(e, "d/c", "ccc", &m), STORE_OK);
    for (int pass = 0; pass < 2; pass++) {
        CHECKF(!*(why = list_is(e->st, "", root, 3, &d)), "pass %d: %s", pass, why);
        CHECK(!d[0].is_dir && d[0].size == 2);
        CHECK(!d[1].is_dir && d[1].size == 1);
        CHECK(d[2].is_dir);
        store_dirents_free(d, 3);
        CHECKF(!*(why = list_is(e->st, "d/", sub, 1, &d)), "pass %d: %s", pass, why);
        CHECK(!d[0].is_dir && d[0].size == 3);
        store_dirents_free(d, 1);
        if (pass == 0)
            CHECK(sc_reopen(e) == 0);
    }
}

/* ---- delete ---------------------------------------------------------------------------------- */

static void c_remove(sc_env *e)
{
    store *st = e->st;
    store_res *w, *h;
    store_info in;
    store_meta got, m = {.content_type = (char *)"text/x",
                         .closed = 1,
                         .created_ms = 9,
                         .blob = (uint8_t *)"b\0b",
                         .blob_len = 3};
    store_dirent *d;
    const char *why;
    char buf[32];
    static const char *const only_dir[] = {"dir"}, *const none[] = {NULL};

    CHECK_INT(put(e, "r", "old bytes", &m), STORE_OK);
    CHECK_INT(store_open(st, "r", &h), STORE_OK);
    CHECK(store_state(h) & STORE_CLOSED);
    CHECK_INT(store_remove(st, "r"), STORE_OK);
    CHECK_INT(store_stat(st, "r", &in), STORE_ENOENT);
    CHECK_INT(store_open(st, "r", &w), STORE_ENOENT);
    CHECKF(!*(why = list_is(st, "", none, 0, &d)), "%s", why);
    store_dirents_free(d, 0);
    /* the open handle keeps reading what it had */
    CHECK_INT(store_size(h), 9);
    CHECK_INT(store_read(h, buf, sizeof(buf), 0), 9);
    CHECK_MEM(buf, 9, "old bytes", 9);

    /* a new resource of that name: empty, no metadata (so not closed) */
    CHECK_INT(store_acquire(st, "r", &w), STORE_OK);
    CHECK_INT(store_size(w), 0);
    CHECK(!(store_state(w) & STORE_CLOSED));
    CHECK_INT(store_meta_get(w, &got), STORE_OK);
    CHECK(got.content_type == NULL && !got.closed && got.created_ms == 0 && got.blob_len == 0);
    store_meta_free(&got);
    CHECK_INT(sc_append(w, "new", 3), STORE_OK);
    CHECK_INT(sc_wait(e, w, STORE_WAIT_WRITTEN, SC_T), STORE_OK);
    CHECK_INT(store_size(h), 9); /* the old handle is not the new resource */
    CHECK_INT(store_read(h, buf, sizeof(buf), 0), 9);
    CHECK_MEM(buf, 9, "old bytes", 9);
    store_res_unref(h);

    /* not while leased */
    CHECK_INT(store_remove(st, "r"), STORE_EBUSY);
    CHECK_INT(store_stat(st, "r", &in), STORE_OK);
    CHECK_INT(in.size, 3);
    store_release(w);
    CHECK_INT(store_stat(st, "r", &in), STORE_OK);
    int rc = store_remove(st, "r");
    if (rc == STORE_EBUSY) { /* the release may finish on the loop */
        sc_run_for(e, 50);
        rc = store_remove(st, "r");
    }
    CHECK_INT(rc, STORE_OK);
    CHECK_INT(store_remove(st, "r"), STORE_ENOENT);

    /* directories are not resources */
    CHECK_INT(sc_write(e, "dir/x", "x", 1), STORE_OK);
    CHECK_INT(store_remove(st, "dir"), STORE_EISDIR);
    CHECK_INT(store_remove(st, "dir/"), STORE_EISDIR);
    CHECK_INT(store_stat(st, "dir/x", &in), STORE_OK);

    /* gone for good: also after a restart, metadata included */
    CHECK_INT(put(e, "s", "s", &m), STORE_OK);
    CHECK_INT(store_remove(st, "s"), STORE_OK);
    CHECK(sc_reopen(e) == 0);
    st = e->st;
    CHECK_INT(store_stat(st, "s", &in), STORE_ENOENT);
    CHECK_INT(store_stat(st, "r", &in), STORE_ENOENT);
    CHECKF(!*(why = list_is(st, "", only_dir, 1, &d)), "%s", why);
    store_dirents_free(d, 1);
    CHECK_INT(store_acquire(st, "s", &w), STORE_OK);
    CHECK_INT(store_meta_get(w, &got), STORE_OK);
    CHECK(got.content_type == NULL && !got.closed && got.created_ms == 0 && got.blob_len == 0);
    store_meta_free(&got);
    store_release(w);
}

/* ---- list ------------------------------------------------------------------------------------ */

static void c_list(sc_env *e)
{
    store *st = e->st;
    store_res *w;
    store_dirent *d;
    size_t n;
    const char *why;
    static const char *const names[] = {"Z", "a-b", "a.txt", "ab", "b.txt", "c"};
    static const char *const sub[] = {"d.txt"};

    CHECK_INT(store_list(st, "", &d, &n), STORE_OK);
    CHECK_INT(n, 0);
    store_dirents_free(d, n);

    CHECK_INT(sc_write(e, "b.txt", "bbb", 3), STORE_OK);
    CHECK_INT(sc_write(e, "c/d.txt", "dd", 2), STORE_OK);
    CHECK_INT(sc_write(e, "Z", "z", 1), STORE_OK);
    CHECK_INT(sc_write(e, "a-b", NULL, 0), STORE_OK);
    CHECK_INT(sc_write(e, "ab", "ab", 2), STORE_OK);
    CHECK_INT(store_acquire(st, "a.txt", &w), STORE_OK);
    CHECK_INT(sc_append(w, "aaaaa", 5), STORE_OK);
    CHECK_INT(sc_wait(e, w, STORE_WAIT_WRITTEN, SC_T), STORE_OK);

    CHECKF(!*(why = list_is(st, "", names, 6, &d)), "%s", why); /* byte order */
    CHECK(!d[0].is_dir && d[0].size == 1 && !d[0].live);
    CHECK(!d[1].is_dir && d[1].size == 0 && !d[1].live);
    CHECKF(!d[2].is_dir && d[2].size == 5 && d[2].live, "a.txt: is_dir %d size %llu live %d",
           d[2].is_dir, (unsigned long long)d[2].size, d[2].live);
    CHECK(!d[3].is_dir && d[3].size == 2 && !d[3].live);
    CHECK(!d[4].is_dir && d[4].size == 3 && !d[4].live);
    CHECK(d[5].is_dir && !d[5].live);
    store_dirents_free(d, 6);
    CHECKF(!*(why = list_is(st, "c/", sub, 1, &d)), "%s", why);
    CHECK(!d[0].is_dir && d[0].size == 2 && !d[0].live);
    store_dirents_free(d, 1);
    CHECK_INT(store_list(st, "nope/", &d, &n), STORE_ENOENT);

    store_release(w);
    CHECK_INT(store_open(st, "a.txt", &w), STORE_OK);
    CHECK(sc_run_until(e, not_leased, w, SC_T));
    store_res_unref(w);
    CHECKF(!*(why = list_is(st, "", names, 6, &d)), "%s", why);
    CHECK(!d[2].live && d[2].size == 5);
    store_dirents_free(d, 6);
}

/* ---- errors ---------------------------------------------------------------------------------- */

static void c_errors(sc_env *e)
{
    store *st = e->st;
    store_res *x;
    store_info in;
    store_dirent *d;
    const char *why;
    static const char *const root[] = {"d", "f"}, *const sub[] = {"x"};

    CHECK_INT(store_stat(st, "none", &in), STORE_ENOENT);
    CHECK_INT(store_open(st, "none", &x), STORE_ENOENT);
    CHECK_INT(store_stat(st, "none/x", &in), STORE_ENOENT);
    CHECK_INT(store_open(st, "none/x", &x), STORE_ENOENT);
    CHECK_INT(store_remove(st, "none"), STORE_ENOENT);

    CHECK_INT(sc_write(e, "d/x", "1", 1), STORE_OK);
    CHECK_INT(sc_write(e, "f", "1", 1), STORE_OK);
    CHECK_INT(store_stat(st, "", &in), STORE_OK);
    CHECK_INT(in.is_dir, 1);
    CHECK_INT(store_stat(st, "d", &in), STORE_OK);
    CHECK_INT(in.is_dir, 1);
    CHECK_INT(store_stat(st, "d/", &in), STORE_OK);
    CHECK_INT(in.is_dir, 1);
    CHECK_INT(store_stat(st, "f", &in), STORE_OK);
    CHECK_INT(in.is_dir, 0);
    CHECK_INT(store_open(st, "d", &x), STORE_EISDIR);
    CHECK_INT(store_open(st, "d/", &x), STORE_EISDIR);
    CHECK_INT(store_open(st, "", &x), STORE_EISDIR);
    CHECK_INT(store_acquire(st, "d", &x), STORE_EISDIR);
    CHECK_INT(store_acquire(st, "d/", &x), STORE_EISDIR);
    CHECK_INT(store_acquire(st, "f/y", &x), STORE_ENOTDIR);
    CHECK_INT(store_stat(st, "f/y", &in), STORE_ENOENT);
    CHECK_INT(store_open(st, "f/y", &x), STORE_ENOENT);
    int rc = store_acquire(st, "nd/", &x); /* names a directory: no resource to create */
    if (rc == STORE_OK)
        store_release(x);
    CHECKF(rc != STORE_OK, "store_acquire(\"nd/\") made a resource");
    /* none of that created anything */
    CHECKF(!*(why = list_is(st, "", root, 2, &d)), "%s", why);
    store_dirents_free(d, 2);
    CHECKF(!*(why = list_is(st, "d/", sub, 1, &d)), "%s", why);
    store_dirents_free(d, 1);

    for (int err = STORE_OK; err >= STORE_ECLOSED; err--)
        CHECKF(store_strerror(err) && *store_strerror(err), "store_strerror(%d)", err);
}

/* size_max: an append that would cross it is refused whole, counting accepted bytes not yet
 * stored; a resource already past it takes nothing. */
static void c_size_max(sc_env *e)
{
    uint8_t want[150];
    store_res *w;
    tbuf got = {0};

    sc_pattern(want, sizeof(want), 0, 11);
    CHECK_INT(store_acquire(e->st, "s", &w), STORE_OK);
    CHECK_INT(sc_append(w, want, 60), STORE_OK);
    CHECK_INT(sc_append(w, want + 60, 41), STORE_EFULL);
    CHECK_INT(store_accepted(w), 60);
    struct iovec iov[2] = {{want + 60, 20}, {want + 80, 21}};
    CHECK_INT(store_append(w, iov, 2), STORE_EFULL);
    CHECK_INT(store_accepted(w), 60);
    iov[1].iov_len = 20;
    CHECK_INT(store_append(w, iov, 2), STORE_OK); /* exactly 100 */
    CHECK_INT(store_accepted(w), 100);
    CHECK_INT(sc_append(w, want + 100, 1), STORE_EFULL);
    CHECK_INT(sc_wait(e, w, STORE_WAIT_WRITTEN, SC_T), STORE_OK);
    CHECK_INT(store_size(w), 100);
    CHECK_INT(sc_append(w, want + 100, 1), STORE_EFULL);
    CHECK_INT(store_accepted(w), 100);
    CHECK_INT(sc_read_all(w, &got), 0);
    CHECK_MEM(got.p, got.len, want, 100);
    store_release(w);

    /* bytes accepted but not yet stored count: big appends, back to back (MiB: enough for a
     * backend that writes behind to have them pending) */
    e->o.size_max = 1 << 20;
    CHECK(sc_reopen(e) == 0);
    CHECK_INT(store_acquire(e->st, "s2", &w), STORE_OK);
    uint8_t *mib = malloc(1 << 20);
    CHECK(mib);
    sc_pattern(mib, 1 << 20, 0, 11);
    CHECK_INT(sc_append(w, mib, 600 << 10), STORE_OK);
    CHECK_INT(sc_append(w, mib + (600 << 10), 600 << 10), STORE_EFULL);
    CHECK_INT(store_accepted(w), 600 << 10);
    CHECK_INT(sc_append(w, mib + (600 << 10), (1 << 20) - (600 << 10)), STORE_OK);
    CHECK_INT(sc_append(w, "x", 1), STORE_EFULL);
    CHECK_INT(store_accepted(w), 1 << 20);
    CHECK_INT(sc_wait(e, w, STORE_WAIT_WRITTEN, SC_T), STORE_OK);
    CHECK_INT(store_size(w), 1 << 20);
    CHECK_INT(sc_read_all(w, &got), 0);
    CHECK_MEM(got.p, got.len, mib, 1 << 20);
    free(mib);
    store_release(w);

    /* over the limit from an earlier run without one */
    e->o.size_max = 0;
    CHECK(sc_reopen(e) == 0);
    CHECK_INT(sc_write(e, "big", want, 150), STORE_OK);
    e->o.size_max = 100;
    CHECK(sc_reopen(e) == 0);
    CHECK_INT(store_acquire(e->st, "big", &w), STORE_OK);
    CHECK_INT(store_size(w), 150);
    CHECK_INT(sc_append(w, "x", 1), STORE_EFULL);
    CHECK_INT(store_accepted(w), 150);
    store_release(w);
    tbuf_free(&got);
}

/* Appending faster than the backend stores: once store_backlogged says so, STORE_EV_DRAINED follows
 * and the backlog clears. Only when the backend does get backlogged within 32 MiB. */
static void c_backlog(sc_env *e)
{
    enum { PIECE = 256 * 1024, MAXB = 32 * 1024 * 1024 };
    static uint8_t piece[PIECE];
    store_res *w;
    watch_rec wr = {0};
    size_t acc = 0;

    sc_pattern(piece, sizeof(piece), 0, 12);
    CHECK_INT(store_acquire(e->st, "bl", &w), STORE_OK);
    wr.res = w;
    store_watch(w, watch_rec_cb, &wr);
    while (!store_backlogged(w) && acc < MAXB) {
        CHECK_INT(sc_append(w, piece, PIECE), STORE_OK);
        acc += PIECE;
    }
    if (store_backlogged(w)) {
        CHECKF(run_ge(e, &wr.drained, 1, 10 * SC_T), "no STORE_EV_DRAINED (%zu bytes accepted)",
               acc);
        CHECK(!store_backlogged(w));
    } else {
        fprintf(stderr, "  note: not backlogged after %zu bytes: STORE_EV_DRAINED not tested\n",
                acc);
    }
    CHECK_INT(sc_wait(e, w, STORE_WAIT_WRITTEN, 10 * SC_T), STORE_OK);
    CHECK_INT(store_size(w), acc);
    CHECK_INT(wr.last_size, acc);
    CHECK_INT(wr.stale, 0);
    store_watch(w, NULL, NULL);
    store_release(w);
}

/* ---- the runner ------------------------------------------------------------------------------ */

typedef struct sc_case {
    const char *name;
    void (*body)(sc_env *e);
    store_options o;
} sc_case;

#define TAIL 65536

static const sc_case cases[] = {
    {"append_read", c_append_read, {.tail_max = TAIL}},
    {"large", c_large, {.tail_max = TAIL}},
    {"when_written_order", c_when_written_order, {.tail_max = TAIL}},
    {"durable_sync_none", c_durable, {.tail_max = TAIL, .sync = STORE_SYNC_NONE}},
    {"durable_sync_close", c_durable, {.tail_max = TAIL, .sync = STORE_SYNC_CLOSE}},
    {"durable_sync_interval",
     c_durable,
     {.tail_max = TAIL, .sync = STORE_SYNC_INTERVAL, .sync_interval_ms = 50}},
    {"release_pending", c_release_pending, {.tail_max = TAIL}},
    {"peek_hold", c_peek_hold, {.tail_max = 4096}},
    {"no_tail", c_no_tail, {.tail_max = 0}},
    {"lease", c_lease, {.tail_max = TAIL}},
    {"watch", c_watch, {.tail_max = TAIL}},
    {"meta_roundtrip", c_meta_roundtrip, {.tail_max = TAIL, .sync = STORE_SYNC_CLOSE}},
    {"meta_max", c_meta_max, {.tail_max = TAIL}},
    {"meta_hidden", c_meta_hidden, {.tail_max = TAIL}},
    {"remove", c_remove, {.tail_max = TAIL}},
    {"list", c_list, {.tail_max = TAIL}},
    {"errors", c_errors, {.tail_max = TAIL}},
    {"size_max", c_size_max, {.tail_max = TAIL, .size_max = 100}},
    {"backlog", c_backlog, {.tail_max = TAIL}},
};

static struct {
    const store_factory *f;
    const store_options *o;
    void (*body)(sc_env *e);
    char name[128];
} current;

static void trampoline(void)
{
    sc_env *e = calloc(1, sizeof(*e));
    if (!e) {
        test_fail(__FILE__, __LINE__, "out of memory");
        return;
    }
    if (sc_begin(e, current.f, current.o) == 0)
        current.body(e);
    if (sc_end(e) == 0)
        free(e); /* else a store may still use its loop: leaked on purpose */
}

void sc_test(const char *name, const store_factory *f, const store_options *o,
             void (*body)(sc_env *e))
{
    snprintf(current.name, sizeof(current.name), "%s/%s", f->name, name);
    current.f = f;
    current.o = o;
    current.body = body;
    test_run(current.name, trampoline);
}

void store_conformance_run(const store_factory *f)
{
    const char *only = getenv("HFS_STORE_TEST"); /* a substring of the test names to run */
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (!only || strstr(cases[i].name, only))
            sc_test(cases[i].name, f, &cases[i].o, cases[i].body);
}
