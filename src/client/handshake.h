/* handshake.h -- the WebSocket handshake request a client sends (and the one-byte GET that asks a
 * resource's size), each with the caller's bearer token, and an incremental parser (llhttp,
 * HTTP_RESPONSE mode) for the server's answer: a 101 to validate, or a status with a body. Pure
 * bytes in, events out: no sockets. */
#ifndef HFS_CLIENT_HANDSHAKE_H
#define HFS_CLIENT_HANDSHAKE_H

#include <stddef.h>

#include "llhttp.h"

#include "client/url.h"
#include "ws/ws.h"

/* A response whose headers run longer is refused. */
#define CLI_MAX_HEADER_BYTES ((size_t)64 * 1024)
/* Longer values of the headers we check are ignored. */
#define CLI_HEADER_VALUE_MAX 256

typedef enum cli_http_event {
    CLI_HTTP_MORE = 0, /* every byte was consumed; feed more */
    CLI_HTTP_HEADERS,  /* the final (non-1xx) response's headers are complete: see status */
    CLI_HTTP_UPGRADE, /* a 101's headers are complete; the bytes after *used are WebSocket frames */
    CLI_HTTP_BODY,    /* body bytes at body[0..body_len), inside the fed buffer */
    CLI_HTTP_END,     /* the response is complete */
    CLI_HTTP_ERROR,   /* not a valid HTTP response: see error */
} cli_http_event;

/* Which of the headers we check is being parsed. */
enum cli_header {
    CLI_H_OTHER = 0,
    CLI_H_UPGRADE,
    CLI_H_CONNECTION,
    CLI_H_ACCEPT,
    CLI_H_EXTENSIONS,
    CLI_H_PROTOCOL,
    CLI_H_FOLLOW_OFFSET,
    CLI_H_CONTENT_RANGE
};

typedef struct cli_response {
    /* read-only */
    int status;          /* once the headers are complete */
    const char *body;    /* CLI_HTTP_BODY */
    size_t body_len;     /* CLI_HTTP_BODY */
    const char *error;   /* CLI_HTTP_ERROR: a static description */
    int upgrade_ok;      /* an "Upgrade: websocket" header was seen */
    int connection_ok;   /* a Connection header with the "upgrade" token was seen */
    int accept_count;    /* Sec-WebSocket-Accept headers seen */
    int extension_count; /* Sec-WebSocket-Extensions headers seen (we offer none) */
    int protocol_count;  /* Sec-WebSocket-Protocol headers seen (we offer none) */
    char accept[WS_ACCEPT_LEN + 1];
    int has_follow_offset;  /* an X-Follow-Offset header was seen */
    uint64_t follow_offset; /* its value: where the stream starts in the resource */
    int has_length;         /* a final response other than 101 with a Content-Length */
    uint64_t length;        /* its value: how long the body is */
    int has_range_total;    /* a Content-Range header with the complete length after its slash
                               ("bytes 0-0/N"; a 416 has an asterisk for the range) */
    uint64_t range_total;   /* that N: the resource's size */
    /* private */
    llhttp_t parser;
    cli_http_event event; /* set by the callbacks */
    int headers_done;
    size_t header_bytes;
    enum cli_header current;
    size_t name_len, value_len;
    char name[32];
    char value[CLI_HEADER_VALUE_MAX];
} cli_response;

/* Prepares r to parse one response. r must not move while in use (llhttp points back to it). */
void cli_response_init(cli_response *r);

/* Parses data[0..len) up to the next event, storing in *used how many bytes it consumed. Call again
 * with the rest after every event but CLI_HTTP_UPGRADE, CLI_HTTP_END and CLI_HTTP_ERROR. */
cli_http_event cli_response_feed(cli_response *r, const char *data, size_t len, size_t *used);

/* The connection ended: CLI_HTTP_END when that completes the response (a body read until close),
 * else CLI_HTTP_ERROR. */
cli_http_event cli_response_eof(cli_response *r);

/* NULL when the 101 in r accepts our key (WS_KEY_LEN characters), else why not. */
const char *cli_response_check_upgrade(const cli_response *r, const char *key);

/* Writes a fresh random Sec-WebSocket-Key into key. Returns 0, or -1 when no randomness. */
int cli_handshake_key(char key[WS_KEY_LEN + 1]);

/* The longest bearer token sent (the server's request head is 16 KiB by default). */
#define CLI_TOKEN_MAX 4096

/* NULL when token may be sent as "Authorization: Bearer TOKEN" (NULL, or 1 to CLI_TOKEN_MAX
 * visible ASCII characters: no space, CR, LF or other control, nothing outside ASCII, as the
 * server's rules take them), else why not. The reason never quotes the token. */
const char *cli_token_check(const char *token);

/* The handshake request for u with X-Verb verb, and "Authorization: Bearer token" unless token is
 * NULL (checked with cli_token_check before), as a new string (its length in *len), or NULL when
 * out of memory. */
char *cli_handshake_request(const cli_url *u, const char *verb, const char *key, const char *token,
                            size_t *len);

/* A plain GET of u asking for its first byte only (Range: bytes=0-0, Connection: close), whose
 * answer tells the resource's size (see cli_response.range_total), with the token as above, as a
 * new string (its length in *len), or NULL when out of memory. */
char *cli_size_request(const cli_url *u, const char *token, size_t *len);

#endif
