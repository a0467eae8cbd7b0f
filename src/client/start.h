/* start.h -- where a follow starts, done by the client for a server that does not do it (the
 * original sends every stream from byte 0 and says nothing about offsets): the stream's bytes go
 * in, the bytes from the start asked for come out. Pure: no I/O.
 *
 * Modes:
 * - ALL: everything is handed out (nothing asked for, or the start is decided);
 * - SKIP: the bytes before an offset are dropped (an offset, or N bytes before a known end);
 * - LINES: the last N lines of the stream's first `until` bytes (or of the whole stream) are kept
 *   in a window until those bytes have all come, then handed out with what follows;
 * - TAIL: the same with the last N bytes, for an end that is only known when the stream ends.
 * Stream offsets are resource offsets: the stream is the resource from its first byte. */
#ifndef HFS_CLIENT_START_H
#define HFS_CLIENT_START_H

#include <stddef.h>
#include <stdint.h>

/* At most this much is kept to find the last lines (our server looks back as far; a start further
 * back is cut to this distance from the end), or the last bytes when the end is unknown. */
#define CLI_START_WINDOW_MAX ((size_t)64 << 20)
#define CLI_START_UNTIL_END  UINT64_MAX /* the window ends with the stream */

enum cli_start_mode { CLI_START_ALL = 0, CLI_START_SKIP, CLI_START_LINES, CLI_START_TAIL };

typedef struct cli_start {
    /* read-only */
    int mode;       /* enum cli_start_mode */
    uint64_t at;    /* stream bytes fed so far */
    uint64_t start; /* the stream offset of the first byte handed out; UINT64_MAX until decided */
    /* private */
    uint64_t n;      /* LINES: lines; TAIL: bytes */
    uint64_t until;  /* LINES, TAIL: where the window ends, or CLI_START_UNTIL_END */
    uint8_t *win;    /* LINES, TAIL: the last bytes fed; then what is being handed out */
    size_t len, cap; /* of win */
    uint64_t win_at; /* the stream offset of win[0] */
    size_t trim_at;  /* LINES: the window is trimmed when it grows this long */
    int win_handed;  /* win holds bytes handed out by the last call: free it at the next */
} cli_start;

/* Sets st to hand out everything (mode ALL, start 0). */
void cli_start_init(cli_start *st);

/* Sets st to start at stream offset offset. */
void cli_start_skip(cli_start *st, uint64_t offset);

/* Sets st to start with the last lines lines (counted as tail -n does: a final newline ends the
 * last line) of the stream's first until bytes, or of the whole stream (CLI_START_UNTIL_END). */
void cli_start_lines(cli_start *st, uint64_t lines, uint64_t until);

/* Sets st to start bytes bytes before the end of the stream. Returns 0, or -1 when bytes is over
 * CLI_START_WINDOW_MAX (too much to hold). */
int cli_start_tail(cli_start *st, uint64_t bytes);

/* Feeds the next len stream bytes. Sets *out and *out_len to the bytes to hand out now, possibly
 * none; they lie in data or in st's window and stay valid until the next call. Returns 0, or -1
 * when out of memory. */
int cli_start_feed(cli_start *st, const uint8_t *data, size_t len, const uint8_t **out,
                   size_t *out_len);

/* The stream has ended: sets *out and *out_len to what the window still holds (LINES, TAIL).
 * Returns 0, or 1 when a SKIP offset lies past the end (st->at is then the stream's length). */
int cli_start_end(cli_start *st, const uint8_t **out, size_t *out_len);

/* Frees st's window; st may be set up again. */
void cli_start_free(cli_start *st);

#endif
