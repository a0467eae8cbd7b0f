/* harness.c -- the test harness (see harness.h). */
#include "harness.h"

#include <stdarg.h>
#include <time.h>

int test_failures;
const char *test_current = "";
static int tests_run, tests_failed;

void test_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    test_failures++;
    fprintf(stderr, "  FAIL %s (%s:%d): ", test_current, file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

void test_run(const char *name, void (*fn)(void))
{
    int before = test_failures;
    struct timespec t0, t1;

    test_current = name;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    fn();
    clock_gettime(CLOCK_MONOTONIC, &t1);
    tests_run++;
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    if (test_failures != before) {
        tests_failed++;
        printf("not ok %d - %s (%.0f ms)\n", tests_run, name, ms);
    } else {
        printf("ok %d - %s (%.0f ms)\n", tests_run, name, ms);
    }
    fflush(stdout);
}

int test_report(void)
{
    printf("# %d tests, %d failed\n", tests_run, tests_failed);
    return tests_failed ? 1 : 0;
}
