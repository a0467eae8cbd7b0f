/* store_conformance.h -- the backend conformance suite of the resource layer (src/store/store.h):
 * the same tests, through the interface only, against every backend. A backend's test binary
 * describes how to make fresh backing data and stores on it (a store_factory) and calls
 * store_conformance_run; tests/unit/test_store_file.c does it for the file store.
 *
 * Every test gets its own loop, fixture and store (sc_begin), runs the loop only for bounded times
 * (sc_run_until) and ends with sc_end: store_close must call back with every handle of the store
 * closed, and uv_loop_close must then succeed (nothing leaked a handle or a request).
 *
 * The sc_ helpers are for backend-specific tests too. */
#ifndef HFS_TEST_STORE_CONFORMANCE_H
#define HFS_TEST_STORE_CONFORMANCE_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "harness.h"
#include "store/store.h"

/* How a backend is set up for one test. */
typedef struct store_factory {
    const char *name; /* prefixes test names: "file/append_read" */
    /* Makes fresh, empty backing data (a temp dir, a new bucket...). Returns the fixture, or NULL
     * after counting a failure. */
    void *(*setup)(void);
    /* A new store on the fixture's data with o (o->loop is set). Called more than once per
     * fixture: to reopen after store_close, or for a second server on the same data. Returns a
     * store_err. */
    int (*create)(void *fx, const store_options *o, store **out);
    /* Removes the backing data. */
    void (*teardown)(void *fx);
} store_factory;

#define SC_T       3000 /* ms: the default bound for anything asynchronous */
#define SC_TIMEOUT 1000 /* sc_wait: the callback did not come in time (not a store_err) */
#define SC_EARLY                                                                                   \
    1001              /* sc_wait: called back from inside store_when_written, or after it          \
                         returned 0 (no callback) */
#define SC_TWICE 1002 /* sc_wait: the callback came more than once */

/* One test's world: a loop, the fixture, and a store on it. Do not move it once begun. */
typedef struct sc_env {
    const store_factory *f;
    void *fx;
    int owns_fx; /* sc_end tears the fixture down */
    uv_loop_t loop;
    int loop_ok;
    uv_timer_t guard; /* bounds sc_run_until */
    int guard_fired;
    int close_done, close_leftovers, close_stuck; /* sc_close_store */
    store *st;
    store_options o; /* what st was created with (sc_reopen uses it again) */
    int failures_at_begin;
} sc_env;

/* A fresh fixture, a loop and a store with options o (o->loop is ignored). 0, or -1 after counting
 * a failure. */
int sc_begin(sc_env *e, const store_factory *f, const store_options *o);
/* A second store on other's fixture with its own loop: another server on the same data. */
int sc_begin_shared(sc_env *e, const sc_env *other, const store_options *o);
/* Closes the store, runs the loop until it calls back (checking then that the store left no
 * handle open and no request active) and closes the loop; tears down the fixture if it owns it.
 * When the test already failed, only cleans up what it can, quietly. Returns 0, or -1 when the
 * loop could not be closed: then e must be leaked (a store may still use it). */
int sc_end(sc_env *e);

/* Closes e->st and creates a new store on the same data with e->o: what a restart sees. 0 or -1
 * after counting a failure (e->st is then NULL). */
int sc_reopen(sc_env *e);
/* store_close(st) and runs the loop until it calls back: 0, or -1 after counting a failure. */
int sc_close_store(sc_env *e, store *st);

/* Runs the loop until done(arg) is true or timeout_ms pass; returns done(arg). */
int sc_run_until(sc_env *e, int (*done)(void *arg), void *arg, int timeout_ms);
/* Runs the loop until *flag is non-zero or timeout_ms pass; returns *flag != 0. */
int sc_run_flag(sc_env *e, const int *flag, int timeout_ms);
/* Runs the loop for ms. */
void sc_run_for(sc_env *e, int ms);

/* store_when_written(res, kind) and, when it returns 1, runs the loop until it calls back: its err
 * (STORE_OK at once when it returns 0), a negative return of store_when_written, or SC_TIMEOUT,
 * SC_EARLY, SC_TWICE. */
int sc_wait(sc_env *e, store_res *res, int kind, int timeout_ms);
/* store_append of p[0..n) as one vector. */
int sc_append(store_res *res, const void *p, size_t n);
/* Acquires rel, appends p[0..n) (nothing when n is 0), waits until written, releases. A store_err,
 * or an SC_ code from sc_wait. */
int sc_write(sc_env *e, const char *rel, const void *p, size_t n);
/* Reads the readable bytes [0, store_size) with store_read into out (replacing it). 0, or -1 on an
 * error or a short read before the end. */
int sc_read_all(store_res *res, tbuf *out);
/* Deterministic bytes that differ with their offset: p[i] is the byte at off + i of stream seed. */
void sc_pattern(uint8_t *p, size_t n, uint64_t off, unsigned seed);

/* Runs body as one test named "f->name/name" (reported like RUN) on a fresh env with options o,
 * allocated and ended (sc_end) around it. */
void sc_test(const char *name, const store_factory *f, const store_options *o,
             void (*body)(sc_env *e));

/* Runs every conformance test against the backend (each reported as "name/test");
 * HFS_STORE_TEST=substring in the environment runs only the tests whose names contain it. */
void store_conformance_run(const store_factory *f);

#endif
