/* handshake.c -- the client's WebSocket handshake: the GET + Upgrade request (and the plain GET of
 * one byte that asks a resource's size), and the response parsed with llhttp in HTTP_RESPONSE mode.
 *
 * The parser pauses at every event the caller acts on, so body bytes are handed out where they lie
 * in the caller's buffer (no copy): on_headers_complete pauses (HEADERS), or for a 101 returns 2,
 * which makes llhttp stop with HPE_PAUSED_UPGRADE right after the headers (UPGRADE); on_body pauses
 * (BODY); on_message_complete pauses (END). 1xx responses other than 101 are skipped. Only the
 * handful of headers the 101 check needs are kept, with those that say where a stream starts
 * (X-Follow-Offset) and how long a body or a resource is (Content-Length, Content-Range). */
#include "client/handshake.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

static cli_response *resp_of(llhttp_t *p)
{
    return p->data;
}

static int on_message_begin(llhttp_t *p)
{
    cli_response *r = resp_of(p);

    /* A new response (after a 1xx): forget the interim one's headers. */
    r->upgrade_ok = r->connection_ok = 0;
    r->accept_count = r->extension_count = r->protocol_count = 0;
    r->accept[0] = '\0';
    r->has_length = r->has_range_total = 0;
    r->name_len = r->value_len = 0;
    r->current = CLI_H_OTHER;
    return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
    cli_response *r = resp_of(p);

    if (r->name_len + len < sizeof(r->name))
        memcpy(r->name + r->name_len, at, len);
    r->name_len += len; /* past the buffer: a name we do not check */
    return 0;
}

static int on_header_field_complete(llhttp_t *p)
{
    static const struct {
        const char *name;
        enum cli_header which;
    } checked[] = {
        {"upgrade", CLI_H_UPGRADE},
        {"connection", CLI_H_CONNECTION},
        {"sec-websocket-accept", CLI_H_ACCEPT},
        {"sec-websocket-extensions", CLI_H_EXTENSIONS},
        {"sec-websocket-protocol", CLI_H_PROTOCOL},
        {"x-follow-offset", CLI_H_FOLLOW_OFFSET},
        {"content-range", CLI_H_CONTENT_RANGE},
    };
    cli_response *r = resp_of(p);

    r->current = CLI_H_OTHER;
    for (size_t i = 0; r->name_len < sizeof(r->name) && i < sizeof(checked) / sizeof(*checked); i++)
        if (strlen(checked[i].name) == r->name_len &&
            strncasecmp(r->name, checked[i].name, r->name_len) == 0)
            r->current = checked[i].which;
    r->name_len = 0;
    r->value_len = 0;
    return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
    cli_response *r = resp_of(p);

    if (r->current == CLI_H_OTHER)
        return 0;
    if (r->value_len + len < sizeof(r->value))
        memcpy(r->value + r->value_len, at, len);
    r->value_len += len;
    return 0;
}

/* 1 when the comma-separated list v contains token (case-insensitive, spaces and tabs trimmed). */
static int has_token(const char *v, const char *token)
{
    size_t tlen = strlen(token);

    while (*v) {
        v += strspn(v, " \t,");
        size_t n = strcspn(v, ",");
        size_t m = n;
        while (m > 0 && (v[m - 1] == ' ' || v[m - 1] == '\t'))
            m--;
        if (m == tlen && strncasecmp(v, token, tlen) == 0)
            return 1;
        v += n;
    }
    return 0;
}

/* A decimal number filling all of s into *v; returns 0, or -1 for anything else. */
static int parse_decimal(const char *s, uint64_t *v)
{
    char *end;
    unsigned long long n;

    if (s[0] < '0' || s[0] > '9')
        return -1;
    errno = 0;
    n = strtoull(s, &end, 10);
    if (errno || *end)
        return -1;
    *v = n;
    return 0;
}

/* X-Follow-Offset: a decimal offset; anything else is ignored (and then nothing is resumed). */
static void parse_offset(cli_response *r)
{
    if (parse_decimal(r->value, &r->follow_offset) == 0)
        r->has_follow_offset = 1;
}

/* Content-Range: keeps the complete length after the slash ("bytes 0-0/N"; a 416 has an asterisk
 * for the range); an unknown length (an asterisk after the slash) or anything malformed is
 * ignored. */
static void parse_content_range(cli_response *r)
{
    const char *slash = strrchr(r->value, '/');

    if (strncasecmp(r->value, "bytes ", 6) != 0 || !slash)
        return;
    if (parse_decimal(slash + 1, &r->range_total) == 0)
        r->has_range_total = 1;
}

static int on_header_value_complete(llhttp_t *p)
{
    cli_response *r = resp_of(p);

    if (r->current == CLI_H_EXTENSIONS)
        r->extension_count++;
    else if (r->current == CLI_H_PROTOCOL)
        r->protocol_count++;
    else if (r->current == CLI_H_ACCEPT)
        r->accept_count++;
    if (r->current == CLI_H_OTHER || r->value_len >= sizeof(r->value))
        return 0;
    r->value[r->value_len] = '\0';
    if (r->current == CLI_H_UPGRADE && has_token(r->value, "websocket"))
        r->upgrade_ok = 1;
    else if (r->current == CLI_H_CONNECTION && has_token(r->value, "upgrade"))
        r->connection_ok = 1;
    else if (r->current == CLI_H_ACCEPT && r->value_len == WS_ACCEPT_LEN)
        memcpy(r->accept, r->value, WS_ACCEPT_LEN + 1);
    else if (r->current == CLI_H_FOLLOW_OFFSET)
        parse_offset(r);
    else if (r->current == CLI_H_CONTENT_RANGE)
        parse_content_range(r);
    r->current = CLI_H_OTHER;
    return 0;
}

static int on_headers_complete(llhttp_t *p)
{
    cli_response *r = resp_of(p);

    r->status = p->status_code;
    if (r->status == 101) {
        r->headers_done = 1;
        r->event = CLI_HTTP_UPGRADE;
        return 2; /* no body; llhttp stops with HPE_PAUSED_UPGRADE after the headers */
    }
    if (r->status < 200)
        return 0; /* interim: the real response follows */
    if (p->flags & F_CONTENT_LENGTH) {
        r->has_length = 1;
        r->length = p->content_length;
    }
    r->headers_done = 1;
    r->event = CLI_HTTP_HEADERS;
    return HPE_PAUSED;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
    cli_response *r = resp_of(p);

    if (len == 0)
        return 0;
    r->body = at;
    r->body_len = len;
    r->event = CLI_HTTP_BODY;
    return HPE_PAUSED;
}

static int on_message_complete(llhttp_t *p)
{
    cli_response *r = resp_of(p);

    if (r->status < 200)
        return 0; /* an interim response or the 101 */
    r->event = CLI_HTTP_END;
    return HPE_PAUSED;
}

static const llhttp_settings_t cli_settings = {
    .on_message_begin = on_message_begin,
    .on_header_field = on_header_field,
    .on_header_field_complete = on_header_field_complete,
    .on_header_value = on_header_value,
    .on_header_value_complete = on_header_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

void cli_response_init(cli_response *r)
{
    memset(r, 0, sizeof(*r));
    llhttp_init(&r->parser, HTTP_RESPONSE, &cli_settings);
    r->parser.data = r;
}

cli_http_event cli_response_feed(cli_response *r, const char *data, size_t len, size_t *used)
{
    int was_done = r->headers_done;
    llhttp_errno_t e;

    r->event = CLI_HTTP_MORE;
    e = llhttp_execute(&r->parser, data, len);
    *used = e == HPE_OK ? len : (size_t)(llhttp_get_error_pos(&r->parser) - data);
    if (e == HPE_PAUSED) {
        llhttp_resume(&r->parser);
    } else if (e != HPE_OK && e != HPE_PAUSED_UPGRADE) {
        *used = 0;
        r->error = llhttp_get_error_reason(&r->parser);
        if (!r->error)
            r->error = llhttp_errno_name(e);
        return r->event = CLI_HTTP_ERROR;
    }
    if (!was_done) {
        r->header_bytes += *used;
        if (r->header_bytes > CLI_MAX_HEADER_BYTES) {
            r->error = "response headers too long";
            return r->event = CLI_HTTP_ERROR;
        }
    }
    return r->event;
}

cli_http_event cli_response_eof(cli_response *r)
{
    llhttp_errno_t e;

    r->event = CLI_HTTP_MORE;
    e = llhttp_finish(&r->parser);
    if ((e == HPE_OK || e == HPE_PAUSED) && r->event == CLI_HTTP_END)
        return CLI_HTTP_END;
    r->error = r->headers_done ? "connection closed before the end of the response body"
                               : "connection closed before a complete response";
    return r->event = CLI_HTTP_ERROR;
}

const char *cli_response_check_upgrade(const cli_response *r, const char *key)
{
    char expect[WS_ACCEPT_LEN + 1];

    if (r->status != 101)
        return "not a 101 response";
    if (!r->upgrade_ok)
        return "the 101 response lacks \"Upgrade: websocket\"";
    if (!r->connection_ok)
        return "the 101 response lacks \"Connection: Upgrade\"";
    if (ws_accept_key(key, WS_KEY_LEN, expect) != 0)
        return "cannot compute Sec-WebSocket-Accept";
    if (r->accept_count != 1 || strcmp(r->accept, expect) != 0)
        return "wrong Sec-WebSocket-Accept";
    if (r->extension_count)
        return "the server chose a WebSocket extension we did not offer";
    if (r->protocol_count)
        return "the server chose a WebSocket subprotocol we did not offer";
    return NULL;
}

int cli_handshake_key(char key[WS_KEY_LEN + 1])
{
    unsigned char raw[16];

    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return -1;
    if (EVP_EncodeBlock((unsigned char *)key, raw, sizeof(raw)) != WS_KEY_LEN)
        return -1;
    return 0;
}

const char *cli_token_check(const char *token)
{
    size_t n = 0;

    if (!token)
        return NULL;
    for (; token[n]; n++)
        if ((unsigned char)token[n] <= 0x20 || (unsigned char)token[n] >= 0x7f)
            return "it may hold only visible ASCII characters (no space, CR, LF or other control)";
    if (n == 0)
        return "it is empty";
    if (n > CLI_TOKEN_MAX)
        return "it is longer than 4096 bytes";
    return NULL;
}

/* "Authorization: Bearer TOKEN\r\n", or "" without a token, in a new string (NULL: no memory). */
static char *authorization(const char *token)
{
    char *h = NULL;

    if (asprintf(&h, "%s%s%s", token ? "Authorization: Bearer " : "", token ? token : "",
                 token ? "\r\n" : "") < 0)
        return NULL;
    return h;
}

char *cli_handshake_request(const cli_url *u, const char *verb, const char *key, const char *token,
                            size_t *len)
{
    char *req = NULL, *auth = authorization(token);
    int n = auth ? asprintf(&req,
                            "GET %s HTTP/1.1\r\n"
                            "Host: %s\r\n"
                            "Upgrade: websocket\r\n"
                            "Connection: Upgrade\r\n"
                            "Sec-WebSocket-Key: %s\r\n"
                            "Sec-WebSocket-Version: 13\r\n"
                            "X-Verb: %s\r\n"
                            "%s"
                            "Origin: %s\r\n"
                            "User-Agent: httpfstream/" HFS_VERSION "\r\n"
                            "\r\n",
                            u->target, u->authority, key, verb, auth, u->origin)
                 : -1;

    free(auth);
    if (n < 0)
        return NULL;
    *len = (size_t)n;
    return req;
}

char *cli_size_request(const cli_url *u, const char *token, size_t *len)
{
    char *req = NULL, *auth = authorization(token);
    int n = auth ? asprintf(&req,
                            "GET %s HTTP/1.1\r\n"
                            "Host: %s\r\n"
                            "Range: bytes=0-0\r\n"
                            "%s"
                            "User-Agent: httpfstream/" HFS_VERSION "\r\n"
                            "Connection: close\r\n"
                            "\r\n",
                            u->target, u->authority, auth)
                 : -1;

    free(auth);
    if (n < 0)
        return NULL;
    *len = (size_t)n;
    return req;
}
