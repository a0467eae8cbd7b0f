/* test_client_start.c -- the client's own start of a follow (src/client/start.c), for servers that
 * send every stream from byte 0: dropping up to an offset, the last lines of the stream's first
 * bytes or of the whole stream (as tail -n counts them), the last bytes of a stream whose end is
 * only known when it comes. Each case is fed whole, 1 byte at a time and in odd pieces; random
 * streams are checked against a plain reference; long streams keep the window bounded. */
#include "../harness.h"
#include "client/start.h"

#include <stdlib.h>

/* Feeds len bytes of stream to st step bytes at a time, then ends it; appends what comes out to
 * out. Returns cli_start_end's result, or -1 when a feed failed or out is too small. */
static int run(cli_start *st, const char *stream, size_t len, size_t step, char *out, size_t cap,
               size_t *out_len)
{
    const uint8_t *o;
    size_t n;

    *out_len = 0;
    for (size_t at = 0; at < len; at += step) {
        size_t k = len - at < step ? len - at : step;
        if (cli_start_feed(st, (const uint8_t *)stream + at, k, &o, &n) != 0 || *out_len + n > cap)
            return -1;
        memcpy(out + *out_len, o, n);
        *out_len += n;
    }
    int rc = cli_start_end(st, &o, &n);
    if (*out_len + n > cap)
        return -1;
    if (n)
        memcpy(out + *out_len, o, n);
    *out_len += n;
    return rc;
}

enum { SKIP, LINES, TAIL };

typedef struct start_case {
    int kind;
    uint64_t n;     /* offset, lines or bytes */
    uint64_t until; /* LINES */
    const char *stream;
    const char *want;
    uint64_t start; /* where it started */
} start_case;

#define END CLI_START_UNTIL_END

static const start_case cases[] = {
    {SKIP, 0, 0, "one\ntwo\n", "one\ntwo\n", 0},
    {SKIP, 4, 0, "one\ntwo\n", "two\n", 4},
    {SKIP, 8, 0, "one\ntwo\n", "", 8},
    {LINES, 1, END, "one\ntwo\nthree\nfour\n", "four\n", 14},
    {LINES, 2, END, "one\ntwo\nthree\nfour\n", "three\nfour\n", 8},
    {LINES, 0, END, "one\ntwo\nthree\nfour\n", "", 19},
    {LINES, 99, END, "one\ntwo\nthree\nfour\n", "one\ntwo\nthree\nfour\n", 0},
    {LINES, 1, END, "one\ntwo", "two", 4}, /* no final newline: "two" is a line */
    {LINES, 1, END, "one\n\n", "\n", 4},   /* an empty last line */
    {LINES, 1, END, "", "", 0},            /* nothing at all */
    {LINES, 1, 12, "old 1\nold 2\nnew\n", "old 2\nnew\n", 6}, /* then live */
    {LINES, 2, 12, "old 1\nold 2\nnew\n", "old 1\nold 2\nnew\n", 0},
    {LINES, 1, 9, "old 1\nold 2\nnew\n", "old 2\nnew\n", 6}, /* the prefix ends mid-line */
    {LINES, 1, 6, "old 1\nold 2\nnew\n", "old 1\nold 2\nnew\n", 0},
    {LINES, 0, 12, "old 1\nold 2\nnew\n", "new\n", 12},
    {LINES, 3, 0, "abc\n", "abc\n", 0}, /* the last lines of nothing: everything */
    {TAIL, 5, END, "one\ntwo\nthree\nfour\n", "four\n", 14},
    {TAIL, 0, END, "one\ntwo\nthree\nfour\n", "", 19},
    {TAIL, 100, END, "one\ntwo\nthree\nfour\n", "one\ntwo\nthree\nfour\n", 0},
};

static void setup(cli_start *st, const start_case *c)
{
    if (c->kind == SKIP)
        cli_start_skip(st, c->n);
    else if (c->kind == LINES)
        cli_start_lines(st, c->n, c->until);
    else
        cli_start_tail(st, c->n);
}

static void test_cases(void)
{
    static const size_t steps[] = {1000, 1, 3, 5};
    char out[256];
    size_t n;

    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        for (size_t j = 0; j < sizeof(steps) / sizeof(*steps); j++) {
            const start_case *c = &cases[i];
            cli_start st;
            setup(&st, c);
            int rc = run(&st, c->stream, strlen(c->stream), steps[j], out, sizeof(out), &n);
            EXPECTF(rc == 0, "case %zu step %zu: rc %d", i, steps[j], rc);
            EXPECTF(n == strlen(c->want) && !memcmp(out, c->want, n),
                    "case %zu step %zu: got [%.*s], want [%s]", i, steps[j], (int)n, out, c->want);
            EXPECTF(st.start == c->start, "case %zu step %zu: start %llu, want %llu", i, steps[j],
                    (unsigned long long)st.start, (unsigned long long)c->start);
            cli_start_free(&st);
        }
    }
}

/* An offset past the end is reported at the end, with the stream's length in at. */
static void test_skip_past_end(void)
{
    cli_start st;
    char out[16];
    size_t n;

    cli_start_skip(&st, 20);
    CHECK_INT(run(&st, "one\ntwo\n", 8, 3, out, sizeof(out), &n), 1);
    CHECK_INT(n, 0);
    CHECK_INT(st.at, 8);
    cli_start_free(&st);
    cli_start_skip(&st, 8);
    CHECK_INT(run(&st, "one\ntwo\n", 8, 3, out, sizeof(out), &n), 0);
    CHECK_INT(n, 0);
    cli_start_free(&st);
}

/* Over a few megabytes of lines, the window is trimmed as it goes: it never holds much more than
 * the last lines asked for, and the result is exact. */
static void test_window_bounded(void)
{
    size_t len = 4000000; /* whole lines of 10 bytes */
    char *stream = malloc(len);
    cli_start st;
    size_t n, most = 0;
    const uint8_t *o;

    CHECK(stream);
    for (size_t i = 0; i < len; i++)
        stream[i] = i % 10 == 9 ? '\n' : (char)('a' + i % 10);
    cli_start_lines(&st, 3, END);
    for (size_t at = 0; at < len; at += 4096) {
        size_t k = len - at < 4096 ? len - at : 4096;
        CHECK(cli_start_feed(&st, (const uint8_t *)stream + at, k, &o, &n) == 0);
        CHECK_INT(n, 0);
        most = st.cap > most ? st.cap : most;
    }
    CHECK(cli_start_end(&st, &o, &n) == 0);
    CHECK_MEM(o, n, "abcdefghi\nabcdefghi\nabcdefghi\n", 30);
    CHECK_INT(st.start, len - 30);
    cli_start_free(&st);
    free(stream);
    CHECKF(most <= 256 * 1024, "the window grew to %zu bytes", most);
}

/* Past CLI_START_WINDOW_MAX without the lines asked for, the start is that far before the end. */
static void test_window_max(void)
{
    size_t len = CLI_START_WINDOW_MAX + (3u << 20), piece = 1 << 16;
    char *chunk = malloc(piece);
    cli_start st;
    const uint8_t *o;
    size_t n;

    CHECK(chunk);
    memset(chunk, 'x', piece);
    chunk[100] = '\n'; /* a newline in every piece: but 1000000 lines are never there */
    cli_start_lines(&st, 1000000, END);
    for (size_t at = 0; at < len; at += piece)
        CHECK(cli_start_feed(&st, (const uint8_t *)chunk, piece, &o, &n) == 0 && n == 0);
    CHECK(cli_start_end(&st, &o, &n) == 0);
    CHECK_INT(n, CLI_START_WINDOW_MAX);
    CHECK_INT(st.start, len - CLI_START_WINDOW_MAX);
    CHECK(st.cap <= CLI_START_WINDOW_MAX + CLI_START_WINDOW_MAX / 4 + (1u << 17));
    cli_start_free(&st);
    free(chunk);
    CHECK_INT(cli_start_tail(&st, (uint64_t)CLI_START_WINDOW_MAX + 1), -1);
}

/* The start of the last n lines of s[0..len), the plain way (as our server counts them). */
static size_t reference_lines(const char *s, size_t len, uint64_t n)
{
    if (n == 0)
        return len;
    for (size_t i = len; i > 0; i--)
        if (s[i - 1] == '\n' && i != len && --n == 0)
            return i;
    return 0;
}

static void test_random_against_reference(void)
{
    char stream[600], out[700];

    for (int round = 0; round < 3000; round++) {
        size_t len = t_rand_range(0, sizeof(stream));
        for (size_t i = 0; i < len; i++)
            stream[i] = t_rand_range(0, 4) == 0 ? '\n' : 'a';
        uint64_t lines = t_rand_range(0, 12);
        uint64_t until = t_rand_range(0, 3) == 0 ? END : t_rand_range(0, len);
        size_t step = t_rand_range(1, 64), n;
        size_t prefix = until == END ? len : (size_t)until;
        size_t want = reference_lines(stream, prefix, lines);
        cli_start st;
        if (until == 0)
            want = 0;
        cli_start_lines(&st, lines, until);
        int rc = run(&st, stream, len, step, out, sizeof(out), &n);
        EXPECTF(rc == 0 && n == len - want && !memcmp(out, stream + want, n),
                "round %d: %llu lines of %zu bytes up to %llu: got %zu bytes, want %zu", round,
                (unsigned long long)lines, len, (unsigned long long)until, n, len - want);
        cli_start_free(&st);
        uint64_t back = t_rand_range(0, len + 3);
        CHECK_INT(cli_start_tail(&st, back), 0);
        rc = run(&st, stream, len, step, out, sizeof(out), &n);
        want = back < len ? len - back : 0;
        EXPECTF(rc == 0 && n == len - want && !memcmp(out, stream + want, n),
                "round %d: last %llu of %zu bytes: got %zu bytes", round, (unsigned long long)back,
                len, n);
        cli_start_free(&st);
    }
}

int main(void)
{
    RUN(test_cases);
    RUN(test_skip_past_end);
    RUN(test_window_bounded);
    RUN(test_window_max);
    RUN(test_random_against_reference);
    return test_report();
}
