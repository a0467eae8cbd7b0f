/* fuzz_ds_json.c -- libFuzzer target: the Durable Streams JSON module (src/ds/json.c).
 *
 * The verdict of json_messages (valid, JSON_EINVAL, JSON_EDEPTH), flattened or not, must be the one
 * of a plain recursive-descent validator written here from RFC 8259 (code points decoded and
 * range-checked, where the module checks byte ranges). On a valid text:
 *   - unflattened, the one message is the input with the whitespace outside strings removed;
 *   - flattened, a top-level array gives as many messages as it has elements and their array
 *     (json_array) is the unflattened message; any other value gives that same message;
 *   - each message, parsed again alone, is valid and is exactly one message, itself;
 *   - json_array of the messages is valid and flattens back to the same messages;
 *   - json_prefix_len finds each message's end and no more messages than there are.
 * Output always follows what the buffer held before, which an error leaves alone. ds_base64 of the
 * input decodes back to it. */
#include <stdlib.h>
#include <string.h>

#include "ds/json.h"

/* ---- the reference validator ---------------------------------------------------------------- */

typedef struct ref {
    const uint8_t *s, *e;
} ref;

static int peek(const ref *r)
{
    return r->s < r->e ? *r->s : -1;
}

static void ref_ws(ref *r)
{
    while (peek(r) == ' ' || peek(r) == '\t' || peek(r) == '\n' || peek(r) == '\r')
        r->s++;
}

static long ref_hex4(ref *r)
{
    long v = 0;

    static const char hex[] = "0123456789abcdefABCDEF";

    for (int i = 0; i < 4; i++) {
        int c = peek(r);
        const char *d = c > 0 ? strchr(hex, c) : NULL;
        if (!d)
            return -1;
        v = v * 16 + (d - hex < 16 ? d - hex : d - hex - 6);
        r->s++;
    }
    return v;
}

/* After a byte >= 0x80: decodes the sequence and checks its code point. */
static int ref_utf8(ref *r, int c)
{
    static const unsigned long min[] = {0, 0x80, 0x800, 0x10000};
    unsigned long cp;
    int k;

    if ((c & 0xE0) == 0xC0) {
        k = 1;
        cp = (unsigned long)c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
        k = 2;
        cp = (unsigned long)c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
        k = 3;
        cp = (unsigned long)c & 0x07;
    } else {
        return -1;
    }
    for (int i = 0; i < k; i++) {
        int d = peek(r);
        if (d < 0 || (d & 0xC0) != 0x80)
            return -1;
        cp = cp << 6 | ((unsigned long)d & 0x3F);
        r->s++;
    }
    return cp < min[k] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) ? -1 : 0;
}

static int ref_string(ref *r)
{
    r->s++; /* '"' */
    for (;;) {
        int c = peek(r);
        if (c < 0)
            return -1;
        r->s++;
        if (c == '"')
            return 0;
        if (c < 0x20)
            return -1;
        if (c >= 0x80) {
            if (ref_utf8(r, c) < 0)
                return -1;
            continue;
        }
        if (c != '\\')
            continue;
        c = peek(r);
        r->s++;
        if (c > 0 && strchr("\"\\/bfnrt", c))
            continue;
        if (c != 'u')
            return -1;
        long u = ref_hex4(r);
        if (u < 0 || (u >= 0xDC00 && u <= 0xDFFF))
            return -1;
        if (u >= 0xD800 && u <= 0xDBFF) {
            if (peek(r) != '\\')
                return -1;
            r->s++;
            if (peek(r) != 'u')
                return -1;
            r->s++;
            u = ref_hex4(r);
            if (u < 0xDC00 || u > 0xDFFF)
                return -1;
        }
    }
}

static int ref_digits(ref *r)
{
    int k = 0;

    while (peek(r) >= '0' && peek(r) <= '9') {
        r->s++;
        k++;
    }
    return k;
}

static int ref_number(ref *r)
{
    if (peek(r) == '-')
        r->s++;
    if (peek(r) == '0')
        r->s++;
    else if (ref_digits(r) == 0)
        return -1;
    if (peek(r) == '.') {
        r->s++;
        if (ref_digits(r) == 0)
            return -1;
    }
    if (peek(r) == 'e' || peek(r) == 'E') {
        r->s++;
        if (peek(r) == '+' || peek(r) == '-')
            r->s++;
        if (ref_digits(r) == 0)
            return -1;
    }
    return 0;
}

static int ref_word(ref *r, const char *w)
{
    size_t k = strlen(w);

    if ((size_t)(r->e - r->s) < k || memcmp(r->s, w, k) != 0)
        return -1;
    r->s += k;
    return 0;
}

/* 0, JSON_EINVAL or JSON_EDEPTH; depth: containers open around this value. */
static int ref_value(ref *r, int depth)
{
    int c, close, err;

    ref_ws(r);
    c = peek(r);
    switch (c) {
    case '"':
        return ref_string(r) < 0 ? JSON_EINVAL : 0;
    case 't':
        return ref_word(r, "true") < 0 ? JSON_EINVAL : 0;
    case 'f':
        return ref_word(r, "false") < 0 ? JSON_EINVAL : 0;
    case 'n':
        return ref_word(r, "null") < 0 ? JSON_EINVAL : 0;
    case '[':
    case '{':
        break;
    default:
        if (c == '-' || (c >= '0' && c <= '9'))
            return ref_number(r) < 0 ? JSON_EINVAL : 0;
        return JSON_EINVAL;
    }
    if (depth == JSON_DEPTH_MAX)
        return JSON_EDEPTH;
    close = c == '[' ? ']' : '}';
    r->s++;
    ref_ws(r);
    if (peek(r) == close) {
        r->s++;
        return 0;
    }
    for (;;) {
        if (c == '{') {
            ref_ws(r);
            if (peek(r) != '"' || ref_string(r) < 0)
                return JSON_EINVAL;
            ref_ws(r);
            if (peek(r) != ':')
                return JSON_EINVAL;
            r->s++;
        }
        if ((err = ref_value(r, depth + 1)) < 0)
            return err;
        ref_ws(r);
        if (peek(r) == close) {
            r->s++;
            return 0;
        }
        if (peek(r) != ',')
            return JSON_EINVAL;
        r->s++;
    }
}

static int ref_text(const uint8_t *p, size_t n)
{
    ref r = {p, p + n};
    int err = ref_value(&r, 0);

    if (err < 0)
        return err;
    ref_ws(&r);
    return r.s == r.e ? 0 : JSON_EINVAL;
}

/* p[0..n) (a valid text) without the whitespace outside strings; returns the length. */
static size_t ref_compact(const uint8_t *p, size_t n, uint8_t *out)
{
    size_t k = 0;
    int in = 0;

    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        if (in) {
            out[k++] = c;
            if (c == '\\')
                out[k++] = p[++i];
            else if (c == '"')
                in = 0;
        } else if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
            out[k++] = c;
            in = c == '"';
        }
    }
    return k;
}

/* ---- base64 --------------------------------------------------------------------------------- */

static void check_base64(const uint8_t *p, size_t n)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *b = malloc(4 * ((n + 2) / 3) + 1);
    uint8_t *d = malloc(n + 3);
    size_t len = ds_base64(p, n, b), k = 0;

    if (len != 4 * ((n + 2) / 3))
        abort();
    for (size_t i = 0; i < len; i += 4) {
        unsigned long v = 0;
        int pad = 0;
        for (int j = 0; j < 4; j++) {
            const char *x = memchr(abc, b[i + j], 64);
            if (b[i + j] == '=' && i + 4 == len && j >= 2)
                pad++; /* padding: only at the end, at most two */
            else if (!x || pad)
                abort();
            v = v << 6 | (unsigned long)(x ? x - abc : 0);
        }
        d[k++] = (uint8_t)(v >> 16);
        if (pad < 2)
            d[k++] = (uint8_t)(v >> 8);
        if (pad < 1)
            d[k++] = (uint8_t)v;
    }
    if (k != n || (n && memcmp(d, p, n) != 0))
        abort();
    free(b);
    free(d);
}

/* ---- the target ----------------------------------------------------------------------------- */

static json_out o0, o1, t; /* unflattened, flattened, scratch: reused */
static const uint8_t prefix[] = "\"before\"\n";

/* Runs json_messages after the prefix; checks the prefix is kept. */
static long run(const uint8_t *p, size_t n, int flatten, json_out *o)
{
    o->len = 0;
    if (json_messages(prefix, sizeof prefix - 1, 0, o) != 1)
        abort();
    long r = json_messages(p, n, flatten, o);
    if (o->len < sizeof prefix - 1 || memcmp(o->p, prefix, sizeof prefix - 1) != 0)
        abort();
    if (r < 0 && o->len != sizeof prefix - 1)
        abort();
    return r;
}

/* msgs[0..n) (messages made by json_messages): each alone is itself; there are k; prefixes. */
static void check_messages(const uint8_t *msgs, size_t n, long k)
{
    size_t at = 0;
    long i = 0;

    while (at < n) {
        const uint8_t *nl = memchr(msgs + at, '\n', n - at);
        if (!nl)
            abort(); /* every message ends in '\n' */
        size_t len = (size_t)(nl - (msgs + at));
        t.len = 0;
        if (len == 0 || json_messages(msgs + at, len, 0, &t) != 1 || t.len != len + 1 ||
            memcmp(t.p, msgs + at, len + 1) != 0)
            abort();
        at += len + 1;
        i++;
        if (json_prefix_len(msgs, n, (uint64_t)i) != (long)at)
            abort();
    }
    if (i != k || json_prefix_len(msgs, n, (uint64_t)k + 1) != -1 || json_prefix_len(msgs, n, 0))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const size_t skip = sizeof prefix - 1;
    int want = ref_text(data, size);
    long r0 = run(data, size, 0, &o0), r1 = run(data, size, 1, &o1);

    check_base64(data, size);
    if (want < 0) {
        if (r0 != want || r1 != want)
            abort();
        return 0;
    }
    if (r0 != 1 || r1 < 0)
        abort();

    /* unflattened: the compact text */
    uint8_t *c = malloc(size + 1);
    size_t cn = ref_compact(data, size, c);
    c[cn++] = '\n';
    if (o0.len - skip != cn || memcmp(o0.p + skip, c, cn) != 0)
        abort();

    /* flattened: the elements, whose array is the compact text; or that same one message */
    const uint8_t *m = o1.p + skip;
    size_t mn = o1.len - skip;
    check_messages(m, mn, r1);
    uint8_t *arr = malloc(mn + 2);
    size_t an = json_array(m, mn, arr, mn + 2);
    if (an < 2 || an > mn + 2 || json_array(m, mn, arr, an - 1) != 0 ||
        json_array(m, mn, arr, an) != an)
        abort();
    if (c[0] == '[') {
        if (an != cn - 1 || memcmp(arr, c, an) != 0)
            abort();
    } else if (r1 != 1 || mn != cn || memcmp(m, c, cn) != 0) {
        abort();
    }
    t.len = 0;
    if (json_messages(arr, an, 1, &t) != r1 || t.len != mn || (mn && memcmp(t.p, m, mn) != 0))
        abort();
    free(arr);
    free(c);
    return 0;
}
