/* harness.h -- the test harness: assertions that count failures, a runner, and helpers to start the
 * real server binary and talk to it over raw sockets. Every test binary links tests/harness.c. */
#ifndef HFS_TEST_HARNESS_H
#define HFS_TEST_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

extern int test_failures;        /* failed checks in this binary */
extern const char *test_current; /* name of the running test */

void test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Each CHECK returns from the enclosing void test function on failure. */
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            test_fail(__FILE__, __LINE__, "%s", #cond);                                            \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#define CHECK_INT(a, b)                                                                            \
    do {                                                                                           \
        long long a_ = (long long)(a), b_ = (long long)(b);                                        \
        if (a_ != b_) {                                                                            \
            test_fail(__FILE__, __LINE__, "%s == %s: %lld != %lld", #a, #b, a_, b_);               \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#define CHECK_STR(a, b)                                                                            \
    do {                                                                                           \
        const char *a_ = (a), *b_ = (b);                                                           \
        if (!a_ || !b_ || strcmp(a_, b_) != 0) {                                                   \
            test_fail(__FILE__, __LINE__, "%s == %s: \"%s\" != \"%s\"", #a, #b,                    \
                      a_ ? a_ : "(null)", b_ ? b_ : "(null)");                                     \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#define CHECK_MEM(a, alen, b, blen)                                                                \
    do {                                                                                           \
        size_t al_ = (alen), bl_ = (blen);                                                         \
        if (al_ != bl_ || memcmp((a), (b), al_) != 0) {                                            \
            test_fail(__FILE__, __LINE__, "%s (%zu bytes) != %s (%zu bytes)", #a, al_, #b, bl_);   \
            return;                                                                                \
        }                                                                                          \
    } while (0)

/* Runs one test function and reports it. */
#define RUN(fn) test_run(#fn, fn)
void test_run(const char *name, void (*fn)(void));

/* Prints the summary; returns the process exit status (0 when every check passed). */
int test_report(void);

#endif
