/* text.h -- the text buffer that response header blocks and bodies are built in, and the HTML
 * escaper that writes into it. Two kinds share one type and one set of writers:
 *   - growable: zero-initialised (textbuf b = {0}); grows with realloc, the caller frees b.p;
 *   - fixed: tb_fixed() over the caller's array, which is written in place and never grows.
 * A write that cannot be held (no room in a fixed buffer, no memory for a growable one) sets
 * failed and keeps what fitted; later writes add nothing. need counts every byte written, held or
 * not, as snprintf does. */
#ifndef HFS_HTTP_TEXT_H
#define HFS_HTTP_TEXT_H

#include <stddef.h>
#include <stdint.h>

typedef struct textbuf {
    char *p;
    size_t len;  /* bytes held at p */
    size_t cap;  /* bytes p can hold */
    size_t need; /* bytes written in total; len < need only once failed */
    int fixed;   /* 1: p is the caller's array (tb_fixed) */
    int failed;  /* 1 once a write did not fit or memory ran out */
} textbuf;

/* Makes b an empty fixed buffer over p[0..cap) (p may be NULL when cap is 0: it only counts). */
void tb_fixed(textbuf *b, char *p, size_t cap);

void tb_put(textbuf *b, const char *s, size_t n);
void tb_str(textbuf *b, const char *s);

/* v in decimal. */
void tb_u64(textbuf *b, uint64_t v);

/* s (NUL-terminated) as HTML text, with Go's htmlReplacer: & < > " ' become &amp; &lt; &gt; &#34;
 * &#39;, every other byte is kept. */
void tb_html(textbuf *b, const char *s);

#endif /* HFS_HTTP_TEXT_H */
