/* fuzz_client.c -- libFuzzer target: the client's URL parsing (libcurl's URL API under our rules)
 * and its parser for the server's handshake response, fed whole and one byte at a time. The input
 * is a URL, a NUL byte, then response bytes. Checks that a parsed URL has what the client needs,
 * and that the response parser reports the same outcome however the bytes arrive. */
#include <stdlib.h>
#include <string.h>

#include "client/handshake.h"
#include "client/url.h"

typedef struct outcome {
    int status, final_event, upgrade_ok;
    size_t body;
} outcome;

static void parse(const char *p, size_t n, size_t step, outcome *o)
{
    cli_response *r = calloc(1, sizeof(*r));
    cli_http_event ev = CLI_HTTP_MORE;
    size_t off = 0;

    cli_response_init(r);
    memset(o, 0, sizeof(*o));
    while (off < n) {
        size_t k = n - off < step ? n - off : step, used = 0;
        ev = cli_response_feed(r, p + off, k, &used);
        if (used > k)
            abort();
        off += used;
        if (ev == CLI_HTTP_BODY)
            o->body += r->body_len;
        if (ev == CLI_HTTP_UPGRADE || ev == CLI_HTTP_END || ev == CLI_HTTP_ERROR)
            break;
        if (ev == CLI_HTTP_MORE && used < k)
            abort();
    }
    if (ev == CLI_HTTP_MORE || ev == CLI_HTTP_BODY || ev == CLI_HTTP_HEADERS)
        ev = cli_response_eof(r);
    if (ev == CLI_HTTP_UPGRADE)
        o->upgrade_ok = cli_response_check_upgrade(r, "dGhlIHNhbXBsZSBub25jZQ==") == NULL;
    o->status = r->status;
    o->final_event = ev;
    free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t ulen = nul ? (size_t)(nul - data) : size;
    char *text = malloc(ulen + 1);
    cli_url u;
    hfs_error err;

    memcpy(text, data, ulen);
    text[ulen] = '\0';
    memset(&u, 0, sizeof(u));
    if (cli_url_parse(&u, text, &err) == HFS_OK) {
        if (!u.host || !*u.host || !u.port || !u.target || u.target[0] != '/' || !u.authority ||
            !u.origin || strpbrk(u.target, " \r\n") || strpbrk(u.authority, " \r\n/"))
            abort();
        cli_url_add_query(&u, "frames=binary");
    }
    cli_url_free(&u);
    free(text);
    if (nul) {
        const char *resp = (const char *)nul + 1;
        size_t rlen = size - ulen - 1;
        outcome a, b;
        parse(resp, rlen, rlen ? rlen : 1, &a);
        parse(resp, rlen, 1, &b);
        if (a.status != b.status || a.final_event != b.final_event ||
            a.upgrade_ok != b.upgrade_ok || a.body != b.body)
            abort();
    }
    return 0;
}
