/* test_text.c -- unit tests for src/http/text.c: the text buffer, fixed (cut off at its capacity,
 * counting what it needed, as snprintf) and growable (realloc), and the HTML escaper. */
#include "../harness.h"
#include "http/text.h"

#include <stdlib.h>

static void test_fixed_fits(void)
{
    char out[32];
    textbuf b;

    memset(out, '#', sizeof out);
    tb_fixed(&b, out, sizeof out);
    tb_str(&b, "Content-Length: ");
    tb_u64(&b, 12);
    tb_put(&b, "\r\n", 2);
    CHECK_MEM(b.p, b.len, "Content-Length: 12\r\n", 20);
    CHECK_INT(b.need, 20);
    CHECK_INT(b.failed, 0);
    CHECK(out[20] == '#'); /* no NUL */
}

static void test_fixed_cut_off(void)
{
    char out[8];
    textbuf b;

    memset(out, '#', sizeof out);
    tb_fixed(&b, out, 6);
    tb_str(&b, "abcd");
    tb_str(&b, "efgh"); /* does not fit: what fits is kept */
    CHECK_INT(b.failed, 1);
    CHECK_INT(b.len, 6);
    CHECK_MEM(out, 6, "abcdef", 6);
    CHECK(out[6] == '#');
    tb_str(&b, "i"); /* later writes add nothing, but are counted */
    CHECK_INT(b.len, 6);
    CHECK_INT(b.need, 9);
    CHECK(out[6] == '#');
}

static void test_fixed_counting(void)
{
    textbuf b;

    tb_fixed(&b, NULL, 0); /* no array: it only counts */
    tb_str(&b, "hello");
    tb_u64(&b, 0);
    tb_html(&b, "<&>");
    CHECK_INT(b.len, 0);
    CHECK_INT(b.need, 5 + 1 + 13);
    CHECK_INT(b.failed, 1);
}

static void test_growable(void)
{
    textbuf b = {0};
    char piece[1000];

    memset(piece, 'x', sizeof piece);
    tb_put(&b, "", 0);
    CHECK(b.p == NULL); /* nothing written, nothing allocated */
    for (int i = 0; i < 100; i++) {
        tb_put(&b, piece, sizeof piece);
    }
    CHECK_INT(b.failed, 0);
    CHECK_INT(b.len, 100000);
    CHECK_INT(b.need, 100000);
    CHECK(b.cap >= b.len);
    CHECK(b.p[0] == 'x' && b.p[99999] == 'x');
    free(b.p);
}

static void test_u64(void)
{
    char out[64];
    textbuf b;

    tb_fixed(&b, out, sizeof out);
    tb_u64(&b, 0);
    tb_put(&b, " ", 1);
    tb_u64(&b, 1234567890);
    tb_put(&b, " ", 1);
    tb_u64(&b, UINT64_MAX);
    CHECK_MEM(b.p, b.len, "0 1234567890 18446744073709551615", 33);
}

static void test_html(void)
{
    textbuf b = {0};
    const char *want = "a&amp;b&lt;c&gt;d&#34;e&#39;f caf\xc3\xa9 \x01";

    tb_html(&b, "a&b<c>d\"e'f caf\xc3\xa9 \x01");
    CHECK_MEM(b.p, b.len, want, strlen(want));
    free(b.p);
}

int main(void)
{
    RUN(test_fixed_fits);
    RUN(test_fixed_cut_off);
    RUN(test_fixed_counting);
    RUN(test_growable);
    RUN(test_u64);
    RUN(test_html);
    return test_report();
}
