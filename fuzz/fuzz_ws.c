/* fuzz_ws.c -- libFuzzer target: the WebSocket frame decoder in both directions (appender frames
 * decoded by the server, server frames decoded by the client), fed whole and in random pieces.
 * Checks that the decoder never reads or writes outside the input, delivers at most the input's
 * bytes, stays quiet after CLOSE or an error, and gives the same events however it is fed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ws/ws.h"

typedef struct summary {
    uint64_t data_bytes, hash;
    unsigned events, closes, errors, close_code;
} summary;

static void decode(enum ws_role role, uint64_t max, uint8_t *buf, size_t len, const uint8_t *cuts,
                   size_t ncuts, summary *out)
{
    ws_decoder d;
    ws_event ev;
    size_t off = 0, ci = 0;
    int done = 0;

    memset(out, 0, sizeof(*out));
    out->hash = 1469598103934665603ull;
    ws_decoder_init(&d, role, max);
    while (off < len) {
        size_t piece = ncuts ? (size_t)cuts[ci++ % ncuts] + 1 : len - off;
        if (piece > len - off)
            piece = len - off;
        uint8_t *p = buf + off;
        size_t n = piece;
        off += piece;
        while (n > 0) {
            size_t used = ws_decode(&d, p, n, &ev);
            if (used > n)
                abort();
            p += used;
            n -= used;
            if (ev.type == WS_EV_NEED_MORE)
                break;
            if (done)
                abort(); /* nothing may follow a CLOSE or an error */
            out->events++;
            if (ev.type == WS_EV_DATA) {
                if (ev.len > len || (ev.len && (ev.data < buf || ev.data + ev.len > buf + len)))
                    abort();
                out->data_bytes += ev.len;
                for (size_t i = 0; i < ev.len; i++)
                    out->hash = (out->hash ^ ev.data[i]) * 1099511628211ull;
            } else if (ev.type == WS_EV_CLOSE || ev.type == WS_EV_ERROR) {
                done = 1;
                out->closes += ev.type == WS_EV_CLOSE;
                out->errors += ev.type == WS_EV_ERROR;
                out->close_code = ev.close_code;
            } else if (ev.len > WS_CONTROL_MAX) {
                abort();
            }
        }
    }
    if (out->data_bytes > len)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    enum ws_role role = data[0] & 1 ? WS_ROLE_CLIENT : WS_ROLE_SERVER;
    uint64_t max = (data[0] >> 1) & 1 ? (uint64_t)data[1] * 16 : 0;
    size_t ncuts = (data[0] >> 2) & 7;
    if (size < 2 + ncuts)
        return 0;
    const uint8_t *cuts = data + 2;
    const uint8_t *frames = data + 2 + ncuts;
    size_t len = size - 2 - ncuts;
    uint8_t *a = malloc(len + 1), *b = malloc(len + 1);
    summary whole, pieces;

    memcpy(a, frames, len);
    memcpy(b, frames, len);
    decode(role, max, a, len, NULL, 0, &whole);
    decode(role, max, b, len, cuts, ncuts, &pieces);
    /* Decoding may not depend on how the bytes were split. */
    if (whole.data_bytes != pieces.data_bytes || whole.hash != pieces.hash ||
        whole.closes != pieces.closes || whole.errors != pieces.errors ||
        whole.close_code != pieces.close_code)
        abort();
    free(a);
    free(b);
    return 0;
}
