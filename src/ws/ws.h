/* ws.h -- RFC 6455 WebSocket codec: handshake keys, frame headers, an incremental frame decoder and
 * UTF-8 frame cuts. Pure bytes in, events out: no sockets, no allocation. Shared by the server and
 * the client. */
#ifndef HFS_WS_H
#define HFS_WS_H

#include <stddef.h>
#include <stdint.h>

enum ws_opcode {
    WS_OP_CONT = 0x0,
    WS_OP_TEXT = 0x1,
    WS_OP_BINARY = 0x2,
    WS_OP_CLOSE = 0x8,
    WS_OP_PING = 0x9,
    WS_OP_PONG = 0xA,
};

enum ws_close_code {
    WS_CLOSE_NORMAL = 1000,       /* the stream ended */
    WS_CLOSE_GOING_AWAY = 1001,   /* the server is shutting down */
    WS_CLOSE_PROTOCOL = 1002,     /* the peer broke RFC 6455 */
    WS_CLOSE_UNSUPPORTED = 1003,  /* a data type we do not accept */
    WS_CLOSE_NO_STATUS = 1005,    /* never sent: a CLOSE without a code was received */
    WS_CLOSE_ABNORMAL = 1006,     /* never sent: the connection dropped without CLOSE */
    WS_CLOSE_INVALID_DATA = 1007, /* a close reason that is not UTF-8 */
    WS_CLOSE_POLICY = 1008,
    WS_CLOSE_TOO_BIG = 1009, /* a message over the configured limit */
    WS_CLOSE_INTERNAL = 1011 /* the server could not keep what it was sent (disk full, ...) */
};

enum ws_role {
    WS_ROLE_SERVER = 0, /* decodes client frames: they must be masked */
    WS_ROLE_CLIENT = 1, /* decodes server frames: they must not be masked */
};

#define WS_GUID             "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_KEY_LEN          24 /* base64 of 16 random bytes */
#define WS_ACCEPT_LEN       28 /* base64 of a SHA-1 digest */
#define WS_HEADER_MAX       14 /* 2 + 8 (64-bit length) + 4 (mask) */
#define WS_CONTROL_MAX      125
#define WS_CLOSE_REASON_MAX 123

/* 1 when key is a valid Sec-WebSocket-Key: 24 base64 characters encoding 16 bytes. */
int ws_key_valid(const char *key, size_t len);

/* Writes the Sec-WebSocket-Accept value for key (WS_KEY_LEN characters) into out (WS_ACCEPT_LEN
 * characters plus NUL). Returns 0, or -1 for a key of another length or a failed digest. */
int ws_accept_key(const char *key, size_t len, char out[WS_ACCEPT_LEN + 1]);

/* Encodes a frame header into out (at least WS_HEADER_MAX bytes) and returns its length.
 * mask is NULL for server frames; client frames pass the 4-byte key and mask the payload with
 * ws_mask. */
size_t ws_frame_header(uint8_t *out, unsigned opcode, int fin, uint64_t payload_len,
                       const uint8_t *mask);

/* XORs n payload bytes in place with key, starting at payload position pos (so a payload can be
 * masked or unmasked in pieces). */
void ws_mask(uint8_t *p, size_t n, const uint8_t key[4], uint64_t pos);

/* Builds a CLOSE payload (code, then reason cut to WS_CLOSE_REASON_MAX bytes on a character
 * boundary) into out (WS_CONTROL_MAX bytes) and returns its length. */
size_t ws_close_payload(uint8_t *out, uint16_t code, const char *reason);

/* Number of bytes at the end of p[0..len) that begin a UTF-8 character not yet complete (0..3): the
 * bytes a TEXT frame must hold back so that it never ends inside a character. Bytes that cannot be
 * part of valid UTF-8 are never held back. */
size_t ws_utf8_partial_tail(const uint8_t *p, size_t len);

/* 1 when p[0..len) is entirely valid UTF-8 (RFC 3629: no overlongs, surrogates, > U+10FFFF). */
int ws_utf8_valid(const uint8_t *p, size_t len);

/* A close code a peer may send (RFC 6455 7.4): 1000-1003, 1007-1011, 3000-4999. */
int ws_close_code_valid(unsigned code);

typedef enum ws_event_type {
    WS_EV_NEED_MORE = 0, /* every input byte was consumed; feed more */
    WS_EV_DATA,          /* payload bytes of a TEXT or BINARY message (may be 0 bytes) */
    WS_EV_PING,          /* a complete PING; answer with a PONG carrying the same payload */
    WS_EV_PONG,          /* a complete PONG */
    WS_EV_CLOSE,         /* a complete CLOSE; the decoder ignores everything after it */
    WS_EV_ERROR,         /* the stream is broken: close with close_code; nothing more is decoded */
} ws_event_type;

typedef struct ws_event {
    ws_event_type type;
    unsigned opcode;     /* DATA: WS_OP_TEXT or WS_OP_BINARY, the opcode of the whole message */
    uint8_t *data;       /* DATA: unmasked bytes inside the input buffer; control: the payload */
    size_t len;          /* bytes at data */
    int frame_end;       /* DATA: these are the last bytes of their frame */
    int message_end;     /* DATA: these are the last bytes of their message */
    unsigned close_code; /* CLOSE: the code received (1005 if none); ERROR: the code to send */
    const char *reason;  /* ERROR: a static description for logs */
} ws_event;

/* Incremental decoder state. Lives inside each connection, so it is kept small (~176 bytes). */
typedef struct ws_decoder {
    /* private */
    uint64_t remaining;   /* payload bytes of the current frame not yet delivered */
    uint64_t pos;         /* payload bytes of the current frame delivered so far (mask phase) */
    uint64_t message_len; /* bytes so far in the current data message */
    uint64_t message_max; /* 0: unlimited */
    uint8_t role;         /* enum ws_role */
    uint8_t state;        /* see ws.c */
    uint8_t opcode;       /* of the current frame */
    uint8_t fin;          /* of the current frame */
    uint8_t message_op;   /* opcode of the data message in progress, 0 when none */
    uint8_t masked;
    uint8_t mask[4];
    uint8_t hdr[WS_HEADER_MAX];
    uint8_t hdr_len;  /* header bytes collected */
    uint8_t hdr_need; /* header bytes this frame's header has */
    uint8_t ctl_len;
    uint8_t ctl[WS_CONTROL_MAX];
} ws_decoder;

/* Prepares d to decode frames sent to role; messages longer than message_max (0: unlimited) are
 * an error with close code 1009, detected from the frame header before any of that frame's bytes
 * are delivered. */
void ws_decoder_init(ws_decoder *d, enum ws_role role, uint64_t message_max);

/* Decodes from in[0..len) until one event is ready; fills *ev and returns how many bytes were
 * consumed. Call again with the rest until it returns ev->type == WS_EV_NEED_MORE (all consumed).
 * DATA payloads are unmasked in place, so in must be writable and stay valid while ev is used.
 * After WS_EV_CLOSE or WS_EV_ERROR the stream is over: later calls consume everything and report
 * WS_EV_NEED_MORE. */
size_t ws_decode(ws_decoder *d, uint8_t *in, size_t len, ws_event *ev);

/* Payload bytes of the current data frame not delivered yet: after a DATA event, how much of its
 * frame (whose length the header gave) is still to come. */
static inline uint64_t ws_decoder_frame_rest(const ws_decoder *d)
{
    return d->remaining;
}

#endif /* HFS_WS_H */
