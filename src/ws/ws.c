/* ws.c -- RFC 6455 WebSocket codec: handshake keys, frame headers, the incremental decoder, UTF-8.
 *
 * Our own codec rather than wslay's: the server needs (1) an appender decoder that unmasks payload
 * in place inside the socket's read buffer so that many frames are appended to the file with one
 * write, (2) follower frame headers encoded separately from shared payload buffers, and (3) a
 * decoder small enough to sit inside every idle follower (wslay's frame context is 4.3 KB, ours
 * ~176 bytes). The decoder keeps no payload except control frames (at most 125 bytes), so it never
 * allocates.
 *
 * Decoder states: ST_HEADER (collecting 2..14 header bytes) -> ST_PAYLOAD (delivering payload, or
 * collecting a control payload) -> ST_HEADER ... ; ST_DONE after a CLOSE or an error. */
#include "ws.h"

#include <string.h>

#include <openssl/evp.h>

enum { ST_HEADER = 0, ST_PAYLOAD = 1, ST_DONE = 2 };

static int is_base64_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

int ws_key_valid(const char *key, size_t len)
{
    if (len != WS_KEY_LEN || key[22] != '=' || key[23] != '=')
        return 0;
    for (size_t i = 0; i < 22; i++)
        if (!is_base64_char(key[i]))
            return 0;
    return 1;
}

int ws_accept_key(const char *key, size_t len, char out[WS_ACCEPT_LEN + 1])
{
    unsigned char input[WS_KEY_LEN + sizeof(WS_GUID)];
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;

    if (len != WS_KEY_LEN)
        return -1;
    memcpy(input, key, len);
    memcpy(input + len, WS_GUID, sizeof(WS_GUID) - 1);
    /* SHA-1 is what RFC 6455 prescribes here. */
    if (!EVP_Digest(input, len + sizeof(WS_GUID) - 1, digest, &digest_len, EVP_sha1(), NULL) ||
        digest_len != 20)
        return -1;
    if (EVP_EncodeBlock((unsigned char *)out, digest, 20) != WS_ACCEPT_LEN)
        return -1;
    return 0;
}

size_t ws_frame_header(uint8_t *out, unsigned opcode, int fin, uint64_t payload_len,
                       const uint8_t *mask)
{
    size_t n = 2;

    out[0] = (uint8_t)((fin ? 0x80 : 0) | (opcode & 0x0f));
    if (payload_len < 126) {
        out[1] = (uint8_t)payload_len;
    } else if (payload_len <= 0xffff) {
        out[1] = 126;
        out[2] = (uint8_t)(payload_len >> 8);
        out[3] = (uint8_t)payload_len;
        n = 4;
    } else {
        out[1] = 127;
        for (int i = 0; i < 8; i++)
            out[2 + i] = (uint8_t)(payload_len >> (56 - 8 * i));
        n = 10;
    }
    if (mask) {
        out[1] |= 0x80;
        memcpy(out + n, mask, 4);
        n += 4;
    }
    return n;
}

/* 32 bytes at a time with the compilers' vector extension (SSE2 or AVX2, whatever the target
 * has), then the tail byte by byte: masking is on every byte an appender sends. */
typedef uint8_t ws_v32 __attribute__((vector_size(32)));

void ws_mask(uint8_t *p, size_t n, const uint8_t key[4], uint64_t pos)
{
    uint8_t kb[32];
    ws_v32 k;
    size_t i = 0;

    for (int j = 0; j < 32; j++)
        kb[j] = key[(pos + (uint64_t)j) & 3];
    memcpy(&k, kb, sizeof(k));
    for (; i + 32 <= n; i += 32) {
        ws_v32 v;
        memcpy(&v, p + i, 32);
        v ^= k;
        memcpy(p + i, &v, 32);
    }
    for (; i < n; i++)
        p[i] ^= key[(pos + i) & 3];
}

/* Length of a UTF-8 sequence from its first byte, or 0 if the byte cannot start one. */
static int utf8_seq_len(uint8_t b)
{
    if (b < 0x80)
        return 1;
    if (b >= 0xc2 && b <= 0xdf)
        return 2;
    if (b >= 0xe0 && b <= 0xef)
        return 3;
    if (b >= 0xf0 && b <= 0xf4)
        return 4;
    return 0;
}

/* 1 when b may follow lead as the second byte of a sequence (excludes overlongs, surrogates and
 * code points above U+10FFFF). */
static int utf8_second_ok(uint8_t lead, uint8_t b)
{
    switch (lead) {
    case 0xe0:
        return b >= 0xa0 && b <= 0xbf;
    case 0xed:
        return b >= 0x80 && b <= 0x9f;
    case 0xf0:
        return b >= 0x90 && b <= 0xbf;
    case 0xf4:
        return b >= 0x80 && b <= 0x8f;
    default:
        return (b & 0xc0) == 0x80;
    }
}

size_t ws_utf8_partial_tail(const uint8_t *p, size_t len)
{
    size_t max = len < 3 ? len : 3;

    for (size_t i = 1; i <= max; i++) {
        uint8_t b = p[len - i];
        if ((b & 0xc0) == 0x80)
            continue; /* a continuation byte: look further back for its lead */
        int need = utf8_seq_len(b);
        if (need <= (int)i)
            return 0; /* complete (or not valid UTF-8 at all): nothing to hold back */
        if (i >= 2 && !utf8_second_ok(b, p[len - i + 1]))
            return 0;
        return i;
    }
    return 0;
}

int ws_utf8_valid(const uint8_t *p, size_t len)
{
    size_t i = 0;

    while (i < len) {
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        int need = utf8_seq_len(p[i]);
        if (need == 0 || i + (size_t)need > len || !utf8_second_ok(p[i], p[i + 1]))
            return 0;
        for (int j = 2; j < need; j++)
            if ((p[i + (size_t)j] & 0xc0) != 0x80)
                return 0;
        i += (size_t)need;
    }
    return 1;
}

int ws_close_code_valid(unsigned code)
{
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1011) ||
           (code >= 3000 && code <= 4999);
}

size_t ws_close_payload(uint8_t *out, uint16_t code, const char *reason)
{
    size_t n = reason ? strlen(reason) : 0;

    if (n > WS_CLOSE_REASON_MAX) {
        n = WS_CLOSE_REASON_MAX;
        n -= ws_utf8_partial_tail((const uint8_t *)reason, n);
    }
    out[0] = (uint8_t)(code >> 8);
    out[1] = (uint8_t)code;
    if (n)
        memcpy(out + 2, reason, n);
    return 2 + n;
}

void ws_decoder_init(ws_decoder *d, enum ws_role role, uint64_t message_max)
{
    memset(d, 0, sizeof(*d));
    d->role = (uint8_t)role;
    d->message_max = message_max;
}

static size_t fail(ws_decoder *d, ws_event *ev, unsigned code, const char *reason, size_t consumed)
{
    d->state = ST_DONE;
    ev->type = WS_EV_ERROR;
    ev->close_code = code;
    ev->reason = reason;
    return consumed;
}

/* Checks what the first two header bytes say; returns a reason string on a protocol error. */
static const char *check_first_bytes(const ws_decoder *d)
{
    uint8_t b0 = d->hdr[0], b1 = d->hdr[1];
    unsigned op = b0 & 0x0f, len7 = b1 & 0x7f;
    int masked = (b1 & 0x80) != 0;

    if (b0 & 0x70)
        return "reserved bits set without an extension";
    if ((op > WS_OP_BINARY && op < WS_OP_CLOSE) || op > WS_OP_PONG)
        return "reserved opcode";
    if (d->role == WS_ROLE_SERVER && !masked)
        return "unmasked client frame";
    if (d->role == WS_ROLE_CLIENT && masked)
        return "masked server frame";
    if (op >= WS_OP_CLOSE) {
        if (!(b0 & 0x80))
            return "fragmented control frame";
        if (len7 > WS_CONTROL_MAX)
            return "control frame longer than 125 bytes";
    } else if (op == WS_OP_CONT && !d->message_op) {
        return "continuation frame outside a message";
    } else if (op != WS_OP_CONT && d->message_op) {
        return "new message inside a fragmented message";
    }
    return NULL;
}

/* Interprets a complete header; returns a reason on a protocol error, sets *too_big for 1009. */
static const char *parse_header(ws_decoder *d, int *too_big)
{
    uint8_t len7 = d->hdr[1] & 0x7f;
    uint64_t len = len7;
    size_t at = 2;

    if (len7 == 126) {
        len = ((uint64_t)d->hdr[2] << 8) | d->hdr[3];
        at = 4;
    } else if (len7 == 127) {
        len = 0;
        for (int i = 0; i < 8; i++)
            len = (len << 8) | d->hdr[2 + i];
        if (len >> 63)
            return "payload length with the top bit set";
        at = 10;
    }
    d->opcode = d->hdr[0] & 0x0f;
    d->fin = (d->hdr[0] & 0x80) != 0;
    d->masked = (d->hdr[1] & 0x80) != 0;
    if (d->masked)
        memcpy(d->mask, d->hdr + at, 4);
    d->remaining = len;
    d->pos = 0;
    d->ctl_len = 0;
    if (d->opcode < WS_OP_CLOSE) {
        if (d->message_max && len > d->message_max - d->message_len) {
            *too_big = 1;
            return "message larger than the limit";
        }
        if (d->opcode != WS_OP_CONT)
            d->message_op = d->opcode;
        d->message_len += len;
    }
    return NULL;
}

static size_t header_need(const uint8_t *hdr)
{
    size_t need = 2;
    uint8_t len7 = hdr[1] & 0x7f;

    if (len7 == 126)
        need += 2;
    else if (len7 == 127)
        need += 8;
    if (hdr[1] & 0x80)
        need += 4;
    return need;
}

/* Collects header bytes; returns bytes consumed. Sets ev on error. */
static size_t decode_header(ws_decoder *d, const uint8_t *in, size_t len, ws_event *ev)
{
    size_t used = 0;

    while (used < len && d->hdr_len < (d->hdr_len < 2 ? 2 : d->hdr_need)) {
        d->hdr[d->hdr_len++] = in[used++];
        if (d->hdr_len == 2) {
            const char *why = check_first_bytes(d);
            if (why)
                return fail(d, ev, WS_CLOSE_PROTOCOL, why, len);
            d->hdr_need = (uint8_t)header_need(d->hdr);
        }
    }
    if (d->hdr_len < 2 || d->hdr_len < d->hdr_need)
        return used;

    int too_big = 0;
    const char *why = parse_header(d, &too_big);
    if (why)
        return fail(d, ev, too_big ? WS_CLOSE_TOO_BIG : WS_CLOSE_PROTOCOL, why, len);
    d->hdr_len = 0;
    d->state = ST_PAYLOAD;
    return used;
}

/* A whole control frame is in d->ctl: report it. */
static void control_event(ws_decoder *d, ws_event *ev)
{
    ev->data = d->ctl;
    ev->len = d->ctl_len;
    d->state = ST_HEADER;
    if (d->opcode == WS_OP_PING) {
        ev->type = WS_EV_PING;
        return;
    }
    if (d->opcode == WS_OP_PONG) {
        ev->type = WS_EV_PONG;
        return;
    }
    /* CLOSE */
    if (d->ctl_len == 1) {
        fail(d, ev, WS_CLOSE_PROTOCOL, "close frame with a 1-byte payload", 0);
        return;
    }
    unsigned code = WS_CLOSE_NO_STATUS;
    if (d->ctl_len >= 2) {
        code = ((unsigned)d->ctl[0] << 8) | d->ctl[1];
        if (!ws_close_code_valid(code)) {
            fail(d, ev, WS_CLOSE_PROTOCOL, "invalid close code", 0);
            return;
        }
        if (!ws_utf8_valid(d->ctl + 2, d->ctl_len - 2u)) {
            fail(d, ev, WS_CLOSE_INVALID_DATA, "close reason is not UTF-8", 0);
            return;
        }
    }
    d->state = ST_DONE;
    ev->type = WS_EV_CLOSE;
    ev->close_code = code;
}

static size_t decode_payload(ws_decoder *d, uint8_t *in, size_t len, ws_event *ev)
{
    size_t n = d->remaining < len ? (size_t)d->remaining : len;

    if (d->masked)
        ws_mask(in, n, d->mask, d->pos);
    d->pos += n;
    d->remaining -= n;
    if (d->opcode >= WS_OP_CLOSE) {
        memcpy(d->ctl + d->ctl_len, in, n);
        d->ctl_len = (uint8_t)(d->ctl_len + n);
        if (d->remaining == 0)
            control_event(d, ev);
        return n;
    }
    ev->type = WS_EV_DATA;
    ev->opcode = d->message_op;
    ev->data = in;
    ev->len = n;
    ev->frame_end = d->remaining == 0;
    ev->message_end = ev->frame_end && d->fin;
    if (ev->frame_end) {
        d->state = ST_HEADER;
        if (d->fin) {
            d->message_op = 0;
            d->message_len = 0;
        }
    }
    return n;
}

size_t ws_decode(ws_decoder *d, uint8_t *in, size_t len, ws_event *ev)
{
    size_t used = 0;

    memset(ev, 0, sizeof(*ev));
    if (d->state == ST_DONE)
        return len;
    while (ev->type == WS_EV_NEED_MORE) {
        if (d->state == ST_HEADER) {
            if (used == len)
                break;
            used += decode_header(d, in + used, len - used, ev);
            if (ev->type != WS_EV_NEED_MORE || d->state != ST_PAYLOAD)
                continue;
        }
        /* ST_PAYLOAD: an empty frame yields its event without any input. */
        if (used == len && d->remaining > 0)
            break;
        used += decode_payload(d, in + used, len - used, ev);
    }
    return used;
}
