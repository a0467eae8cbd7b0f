/* start.c -- where a follow starts, done by the client (see start.h): bytes before an offset are
 * dropped, or a window of the last lines or bytes is kept until the point the start is counted
 * back from has come, and then handed out.
 *
 * The LINES window stays bounded: whenever it has doubled, everything before the start of its last
 * n lines is dropped. That is safe because later bytes only add line starts: the last n lines of a
 * longer stream never begin before those of its prefix. Past CLI_START_WINDOW_MAX it keeps only
 * that much, as our server's ?lines looks back no further. */
#include "client/start.h"

#include <stdlib.h>
#include <string.h>

#define WINDOW_MIN ((size_t)64 * 1024) /* the window's first allocation, and its first trim */
/* A LINES window is trimmed at the latest when it grows this long. */
#define WINDOW_TRIM_MAX (CLI_START_WINDOW_MAX + CLI_START_WINDOW_MAX / 4)
/* The window's allocation doubles up to this (a trim comes before it is full). */
#define WINDOW_GROW_MAX (WINDOW_TRIM_MAX + WINDOW_MIN)

void cli_start_init(cli_start *st)
{
    memset(st, 0, sizeof(*st));
    st->mode = CLI_START_ALL;
}

void cli_start_skip(cli_start *st, uint64_t offset)
{
    cli_start_init(st);
    st->mode = offset > 0 ? CLI_START_SKIP : CLI_START_ALL;
    st->start = offset;
}

void cli_start_lines(cli_start *st, uint64_t lines, uint64_t until)
{
    cli_start_init(st);
    if (until == 0)
        return; /* the last lines of nothing: everything that comes */
    st->mode = CLI_START_LINES;
    st->n = lines;
    st->until = until;
    st->start = UINT64_MAX;
    st->trim_at = WINDOW_MIN;
}

int cli_start_tail(cli_start *st, uint64_t bytes)
{
    cli_start_init(st);
    if (bytes > CLI_START_WINDOW_MAX)
        return -1;
    st->mode = CLI_START_TAIL;
    st->n = bytes;
    st->until = CLI_START_UNTIL_END;
    st->start = UINT64_MAX;
    return 0;
}

/* Where the last n lines of b[0..len) begin, as tail -n counts them: a final newline ends the last
 * line, so it does not start another. 0 when there are fewer lines. */
static size_t lines_start(const uint8_t *b, size_t len, uint64_t n)
{
    size_t end = len > 0 && b[len - 1] == '\n' ? len - 1 : len;

    if (n == 0)
        return len;
    while (end > 0) {
        const uint8_t *nl = memrchr(b, '\n', end);
        if (!nl)
            return 0;
        if (--n == 0)
            return (size_t)(nl - b) + 1;
        end = (size_t)(nl - b);
    }
    return 0;
}

static int window_add(cli_start *st, const uint8_t *data, size_t len)
{
    size_t need = st->len + len;

    if (need > st->cap) {
        size_t cap = st->cap ? st->cap * 2 : WINDOW_MIN;
        if (cap > WINDOW_GROW_MAX)
            cap = WINDOW_GROW_MAX;
        if (cap < need)
            cap = need;
        uint8_t *w = realloc(st->win, cap);
        if (!w)
            return -1;
        st->win = w;
        st->cap = cap;
    }
    if (len > 0)
        memcpy(st->win + st->len, data, len);
    st->len += len;
    return 0;
}

static void drop_front(cli_start *st, size_t k)
{
    if (k == 0)
        return;
    memmove(st->win, st->win + k, st->len - k);
    st->len -= k;
    st->win_at += k;
}

/* Drops what can no longer be part of the start (the window lies wholly before `until`). */
static void trim(cli_start *st)
{
    if (st->mode == CLI_START_TAIL) {
        size_t slack = st->n / 4 > WINDOW_MIN ? (size_t)st->n / 4 : WINDOW_MIN;
        if (st->len > st->n && st->len - st->n >= slack)
            drop_front(st, st->len - (size_t)st->n);
        return;
    }
    if (st->len < st->trim_at)
        return;
    size_t s = lines_start(st->win, st->len, st->n);
    if (st->len - s > CLI_START_WINDOW_MAX)
        s = st->len - CLI_START_WINDOW_MAX;
    drop_front(st, s);
    st->trim_at = st->len * 2 > WINDOW_MIN ? st->len * 2 : WINDOW_MIN;
    if (st->trim_at > WINDOW_TRIM_MAX)
        st->trim_at = WINDOW_TRIM_MAX;
}

/* The start is decided from the window's first prefix bytes: hands out the window from there. */
static void resolve(cli_start *st, size_t prefix, const uint8_t **out, size_t *out_len)
{
    size_t s;

    if (st->mode == CLI_START_LINES) {
        s = lines_start(st->win, prefix, st->n);
        if (prefix - s > CLI_START_WINDOW_MAX)
            s = prefix - CLI_START_WINDOW_MAX;
    } else {
        s = prefix > st->n ? prefix - (size_t)st->n : 0;
    }
    st->start = st->win_at + s;
    st->mode = CLI_START_ALL;
    *out = st->win ? st->win + s : NULL;
    *out_len = st->len - s;
    st->win_handed = 1;
}

static void forget_handed(cli_start *st)
{
    if (!st->win_handed)
        return;
    free(st->win);
    st->win = NULL;
    st->len = st->cap = 0;
    st->win_handed = 0;
}

int cli_start_feed(cli_start *st, const uint8_t *data, size_t len, const uint8_t **out,
                   size_t *out_len)
{
    uint64_t before;

    forget_handed(st);
    *out = data;
    *out_len = 0;
    switch (st->mode) {
    case CLI_START_SKIP:
        before = st->start - st->at; /* at < start while skipping */
        st->at += len;
        if (before >= len)
            return 0;
        *out = data + before;
        *out_len = len - (size_t)before;
        st->mode = CLI_START_ALL;
        return 0;
    case CLI_START_LINES:
    case CLI_START_TAIL:
        if (window_add(st, data, len) < 0)
            return -1;
        st->at += len;
        if (st->until != CLI_START_UNTIL_END && st->at >= st->until)
            resolve(st, (size_t)(st->until - st->win_at), out, out_len);
        else
            trim(st);
        return 0;
    default:
        st->at += len;
        *out_len = len;
        return 0;
    }
}

int cli_start_end(cli_start *st, const uint8_t **out, size_t *out_len)
{
    forget_handed(st);
    *out = NULL;
    *out_len = 0;
    if (st->mode == CLI_START_SKIP)
        return st->at < st->start ? 1 : 0;
    if (st->mode == CLI_START_LINES || st->mode == CLI_START_TAIL)
        resolve(st, st->len, out, out_len);
    return 0;
}

void cli_start_free(cli_start *st)
{
    free(st->win);
    cli_start_init(st);
}
