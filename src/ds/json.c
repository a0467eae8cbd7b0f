/* json.c -- JSON texts for the Durable Streams JSON mode (json.h): strict validation, compact
 * re-serialisation and one level of flattening in one pass; the array of a range of messages;
 * base64.
 *
 * json_messages walks the input once, with the open containers on an explicit stack (one byte
 * each, '[' or '{', at most JSON_DEPTH_MAX): no recursion. Its states are labels:
 *   value   a value must come: at the start, after '[', after ',' in an array, after ':'
 *   key     a member name must come (after '{' or ',' in an object), then ':'
 *   after   a value has ended: ',' or the closing byte of the innermost container, or, with none
 *           open, the end of the input
 *   element (flattening) an element of the top-level array has ended: ',' or ']'
 * Output is copied in spans: mark is the first input byte not yet copied. A run of whitespace, and
 * when flattening the top-level '[', ',' and ']', ends a span: the bytes before it are copied and
 * mark moves past it. Room for n + 1 bytes is reserved before parsing (compact output is never
 * longer than its input plus the final '\n'; flattening replaces each separator by the '\n'), so
 * writes are unchecked, and an error only has to leave out->len as it was.
 *
 * Strings are scanned 8 bytes at a time while the bytes are plain printable ASCII; other bytes
 * (escapes, UTF-8 sequences, the closing quote, control bytes) are looked at one by one. */
#include "ds/json.h"

#include <stdlib.h>
#include <string.h>

#define IS_WS(c)    ((c) == ' ' || (c) == '\n' || (c) == '\r' || (c) == '\t')
#define IS_DIGIT(c) ((uint8_t)((c) - '0') < 10)

#define ONES  0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/* The parser's cursor: input s in [.., e), mark (first byte not copied), output o. */
typedef struct jcur {
    const uint8_t *s, *e, *mark;
    uint8_t *o;
} jcur;

/* Copies the span mark..s to the output. */
static inline void flush(jcur *j)
{
    size_t k = (size_t)(j->s - j->mark);

    memcpy(j->o, j->mark, k);
    j->o += k;
}

/* Skips whitespace; a run of it ends the span before it. */
static inline void skip_ws(jcur *j)
{
    if (j->s < j->e && IS_WS(*j->s)) {
        flush(j);
        do {
            j->s++;
        } while (j->s < j->e && IS_WS(*j->s));
        j->mark = j->s;
    }
}

/* 1 when none of the 8 bytes in x is below 0x20, 0x80 or above, '"' or '\\'. The tests for "a byte
 * below k" (k <= 0x80) are exact as to whether any byte is; which byte it is does not matter. */
static inline int plain8(uint64_t x)
{
    uint64_t q = x ^ (ONES * '"'), b = x ^ (ONES * '\\');
    uint64_t t = x | ((x - ONES * 0x20) & ~x) | ((q - ONES) & ~q) | ((b - ONES) & ~b);

    return (t & HIGHS) == 0;
}

/* The value of 4 hex digits at p (the caller checked there are 4 bytes), or -1. */
static int hex4(const uint8_t *p)
{
    int v = 0;

    for (int i = 0; i < 4; i++) {
        uint8_t c = p[i];
        int d;
        if (IS_DIGIT(c))
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            return -1;
        v = v << 4 | d;
    }
    return v;
}

/* An escape at s ('\\'): returns the byte after it, or NULL when it is invalid. A high surrogate
 * must be followed at once by an escaped low one; a low one alone is invalid. */
static const uint8_t *escape(const uint8_t *s, const uint8_t *e)
{
    int u;

    if (e - s < 2)
        return NULL;
    switch (s[1]) {
    case '"':
    case '\\':
    case '/':
    case 'b':
    case 'f':
    case 'n':
    case 'r':
    case 't':
        return s + 2;
    case 'u':
        break;
    default:
        return NULL;
    }
    if (e - s < 6 || (u = hex4(s + 2)) < 0 || (u >= 0xDC00 && u <= 0xDFFF))
        return NULL;
    s += 6;
    if (u < 0xD800 || u > 0xDBFF)
        return s;
    if (e - s < 6 || s[0] != '\\' || s[1] != 'u')
        return NULL;
    u = hex4(s + 2);
    return u >= 0xDC00 && u <= 0xDFFF ? s + 6 : NULL;
}

/* A UTF-8 sequence at s (a byte >= 0x80), RFC 3629: returns the byte after it, or NULL for a
 * stray continuation byte, an overlong form, a surrogate, a code point above U+10FFFF or a cut
 * sequence. */
static const uint8_t *utf8(const uint8_t *s, const uint8_t *e)
{
    uint8_t c = s[0], lo = 0x80, hi = 0xBF;
    int k;

    if (c >= 0xC2 && c <= 0xDF) {
        k = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
        k = 2;
        if (c == 0xE0)
            lo = 0xA0; /* overlong below U+0800 */
        else if (c == 0xED)
            hi = 0x9F; /* U+D800..U+DFFF */
    } else if (c >= 0xF0 && c <= 0xF4) {
        k = 3;
        if (c == 0xF0)
            lo = 0x90; /* overlong below U+10000 */
        else if (c == 0xF4)
            hi = 0x8F; /* above U+10FFFF */
    } else {
        return NULL; /* 0x80..0xC1 (continuation, overlong 2-byte), 0xF5..0xFF */
    }
    if (e - s <= k || s[1] < lo || s[1] > hi)
        return NULL;
    for (int i = 2; i <= k; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return NULL;
    }
    return s + k + 1;
}

/* A string at j->s ('"'): moves past its closing quote. Returns 0, or -1 when it is invalid.
 * Inlined at both its places (values, member names): called, it halves the speed of object-heavy
 * input. */
static inline __attribute__((always_inline)) int string(jcur *j)
{
    const uint8_t *s = j->s + 1, *e = j->e;

    for (;;) {
        while (e - s >= 8) {
            uint64_t x;
            memcpy(&x, s, 8);
            if (!plain8(x))
                break;
            s += 8;
        }
        if (s >= e)
            return -1;
        uint8_t c = *s;
        if (c == '"') {
            j->s = s + 1;
            return 0;
        }
        if (c >= 0x20 && c < 0x80 && c != '\\')
            s++;
        else if (c == '\\')
            s = escape(s, e);
        else if (c >= 0x80)
            s = utf8(s, e);
        else
            return -1; /* a raw control byte, NUL included */
        if (!s)
            return -1;
    }
}

/* A number at s ('-' or a digit), RFC 8259 section 6: returns the byte after it, or NULL. What
 * follows it is the caller's to check. */
static const uint8_t *number(const uint8_t *s, const uint8_t *e)
{
    if (*s == '-')
        s++;
    if (s >= e)
        return NULL;
    if (*s == '0') {
        s++;
    } else if (IS_DIGIT(*s)) {
        do {
            s++;
        } while (s < e && IS_DIGIT(*s));
    } else {
        return NULL;
    }
    if (s < e && *s == '.') {
        if (++s >= e || !IS_DIGIT(*s))
            return NULL;
        do {
            s++;
        } while (s < e && IS_DIGIT(*s));
    }
    if (s < e && (*s == 'e' || *s == 'E')) {
        s++;
        if (s < e && (*s == '+' || *s == '-'))
            s++;
        if (s >= e || !IS_DIGIT(*s))
            return NULL;
        do {
            s++;
        } while (s < e && IS_DIGIT(*s));
    }
    return s;
}

/* Makes room for more bytes after out->len. Returns 0, or -1. */
static int reserve(json_out *out, size_t more)
{
    size_t need, cap;
    uint8_t *q;

    if (more > SIZE_MAX - out->len)
        return -1;
    need = out->len + more;
    if (need <= out->cap)
        return 0;
    cap = out->cap <= SIZE_MAX / 2 && out->cap * 2 > need ? out->cap * 2 : need;
    q = realloc(out->p, cap);
    if (!q)
        return -1;
    out->p = q;
    out->cap = cap;
    return 0;
}

long json_messages(const uint8_t *p, size_t n, int flatten, json_out *out)
{
    uint8_t stack[JSON_DEPTH_MAX]; /* the open containers: '[' or '{' */
    size_t depth = 0;
    long count = 0;
    int flat = 0; /* flattening a top-level array: its elements are the messages */
    jcur j;
    uint8_t c;

    if (n == 0)
        return JSON_EINVAL;
    if (n == SIZE_MAX || reserve(out, n + 1) < 0)
        return JSON_ENOMEM;
    j.s = j.mark = p;
    j.e = p + n;
    j.o = out->p + out->len;
    skip_ws(&j);
    if (flatten && j.s < j.e && *j.s == '[') {
        flat = 1;
        stack[depth++] = '[';
        j.mark = ++j.s;
        skip_ws(&j);
        if (j.s < j.e && *j.s == ']') {
            depth = 0;
            j.mark = ++j.s;
            goto after;
        }
    }

value:
    skip_ws(&j);
    if (j.s >= j.e)
        return JSON_EINVAL;
    switch (*j.s) {
    case '{':
    case '[':
        if (depth == JSON_DEPTH_MAX)
            return JSON_EDEPTH;
        c = *j.s++;
        stack[depth++] = c;
        skip_ws(&j);
        if (j.s < j.e && *j.s == c + 2) { /* "[]" or "{}": ']' is '[' + 2, '}' is '{' + 2 */
            j.s++;
            depth--;
            goto after;
        }
        if (c == '[')
            goto value;
        goto key;
    case '"':
        if (string(&j) < 0)
            return JSON_EINVAL;
        goto after;
    case 't':
        if (j.e - j.s < 4 || memcmp(j.s, "true", 4) != 0)
            return JSON_EINVAL;
        j.s += 4;
        goto after;
    case 'f':
        if (j.e - j.s < 5 || memcmp(j.s, "false", 5) != 0)
            return JSON_EINVAL;
        j.s += 5;
        goto after;
    case 'n':
        if (j.e - j.s < 4 || memcmp(j.s, "null", 4) != 0)
            return JSON_EINVAL;
        j.s += 4;
        goto after;
    case '-':
    case '0':
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7':
    case '8':
    case '9':
        if (!(j.s = number(j.s, j.e)))
            return JSON_EINVAL;
        goto after;
    default:
        return JSON_EINVAL;
    }

key: /* at a non-whitespace byte or the end */
    if (j.s >= j.e || *j.s != '"' || string(&j) < 0)
        return JSON_EINVAL;
    skip_ws(&j);
    if (j.s >= j.e || *j.s != ':')
        return JSON_EINVAL;
    j.s++;
    goto value;

after:
    skip_ws(&j);
    if (depth == 0)
        goto end;
    if (j.s >= j.e)
        return JSON_EINVAL;
    if (flat && depth == 1)
        goto element;
    c = *j.s++;
    if (c == ',') {
        if (stack[depth - 1] == '[')
            goto value;
        skip_ws(&j);
        goto key;
    }
    if (c != stack[depth - 1] + 2)
        return JSON_EINVAL;
    depth--;
    goto after;

element:
    c = *j.s;
    if (c != ',' && c != ']')
        return JSON_EINVAL;
    flush(&j);
    *j.o++ = '\n';
    count++;
    j.mark = ++j.s;
    if (c == ',')
        goto value;
    depth = 0;
    goto after;

end:
    if (j.s != j.e)
        return JSON_EINVAL; /* something after the text */
    if (!flat) {
        flush(&j);
        *j.o++ = '\n';
        count = 1;
    }
    out->len = (size_t)(j.o - out->p);
    return count;
}

long json_prefix_len(const uint8_t *p, size_t n, uint64_t k)
{
    size_t at = 0;

    for (; k > 0; k--) {
        const uint8_t *nl = at < n ? memchr(p + at, '\n', n - at) : NULL;
        if (!nl)
            return -1;
        at = (size_t)(nl - p) + 1;
    }
    return (long)at;
}

size_t json_array(const uint8_t *p, size_t n, uint8_t *out, size_t cap)
{
    const uint8_t *last = n ? memrchr(p, '\n', n) : NULL;
    const uint8_t *q = p, *end;
    uint8_t *o = out;

    if (!last) {
        if (cap < 2)
            return 0;
        memcpy(out, "[]", 2);
        return 2;
    }
    end = last + 1;
    if (cap < (size_t)(end - p) + 1)
        return 0;
    *o++ = '[';
    while (q < end) {
        const uint8_t *nl = memchr(q, '\n', (size_t)(end - q)); /* found: end[-1] is one */
        size_t k = (size_t)(nl - q);
        memcpy(o, q, k);
        o += k;
        *o++ = ',';
        q = nl + 1;
    }
    o[-1] = ']';
    return (size_t)(o - out);
}

size_t ds_base64(const uint8_t *p, size_t n, char *out)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *o = out;
    size_t i = 0;

    for (; n - i >= 3; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        *o++ = abc[v >> 18];
        *o++ = abc[v >> 12 & 63];
        *o++ = abc[v >> 6 & 63];
        *o++ = abc[v & 63];
    }
    if (n - i > 0) {
        uint32_t v = (uint32_t)p[i] << 16 | (n - i > 1 ? (uint32_t)p[i + 1] << 8 : 0);
        *o++ = abc[v >> 18];
        *o++ = abc[v >> 12 & 63];
        *o++ = n - i > 1 ? abc[v >> 6 & 63] : '=';
        *o++ = '=';
    }
    return (size_t)(o - out);
}
