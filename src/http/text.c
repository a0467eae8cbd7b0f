/* text.c -- the text buffer (fixed or growable) and the HTML escaper (see text.h). */
#include "http/text.h"

#include <stdlib.h>
#include <string.h>

void tb_fixed(textbuf *b, char *p, size_t cap)
{
    b->p = p;
    b->len = 0;
    b->cap = p ? cap : 0;
    b->need = 0;
    b->fixed = 1;
    b->failed = 0;
}

/* Makes room for n more bytes in a growable buffer (doubling from 4 KiB); 0, or -1 when out of
 * memory. */
static int grow(textbuf *b, size_t n)
{
    size_t cap = b->cap ? b->cap * 2 : 4096;

    while (cap < b->len + n) {
        cap *= 2;
    }
    char *q = realloc(b->p, cap);
    if (!q) {
        return -1;
    }
    b->p = q;
    b->cap = cap;
    return 0;
}

void tb_put(textbuf *b, const char *s, size_t n)
{
    size_t k = n;

    b->need += n;
    if (b->failed) {
        return;
    }
    if (n > b->cap - b->len && (b->fixed || grow(b, n) < 0)) {
        b->failed = 1;
        k = b->fixed ? b->cap - b->len : 0;
    }
    if (k) {
        memcpy(b->p + b->len, s, k);
        b->len += k;
    }
}

void tb_str(textbuf *b, const char *s)
{
    tb_put(b, s, strlen(s));
}

void tb_u64(textbuf *b, uint64_t v)
{
    char d[20];
    size_t i = sizeof d;

    do {
        d[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    tb_put(b, d + i, sizeof d - i);
}

void tb_html(textbuf *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&':
            tb_str(b, "&amp;");
            break;
        case '<':
            tb_str(b, "&lt;");
            break;
        case '>':
            tb_str(b, "&gt;");
            break;
        case '"':
            tb_str(b, "&#34;");
            break;
        case '\'':
            tb_str(b, "&#39;");
            break;
        default:
            tb_put(b, s, 1);
            break;
        }
    }
}
