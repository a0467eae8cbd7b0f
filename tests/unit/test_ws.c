/* test_ws.c -- unit tests of the WebSocket codec: accept key, frame headers, masking, the decoder
 * (whole input, then one byte at a time), protocol errors, close payloads and UTF-8 cuts. */
#include <stdlib.h>

#include "harness.h"
#include "ws/ws.h"

static void test_accept_key(void)
{
    char out[WS_ACCEPT_LEN + 1];

    /* The example of RFC 6455 section 1.3. */
    CHECK_INT(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", 24, out), 0);
    CHECK_STR(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    CHECK_INT(ws_accept_key("short", 5, out), -1);
}

static void test_key_valid(void)
{
    CHECK(ws_key_valid("dGhlIHNhbXBsZSBub25jZQ==", 24));
    CHECK(!ws_key_valid("dGhlIHNhbXBsZSBub25jZQ=", 23));
    CHECK(!ws_key_valid("dGhlIHNhbXBsZSBub25jZQ=x", 24));
    CHECK(!ws_key_valid("dGhlIHNhbXBsZSBub2*jZQ==", 24));
}

static void test_frame_header_lengths(void)
{
    uint8_t h[WS_HEADER_MAX];
    const uint8_t mask[4] = {1, 2, 3, 4};

    CHECK_INT(ws_frame_header(h, WS_OP_TEXT, 1, 5, NULL), 2);
    CHECK_INT(h[0], 0x81);
    CHECK_INT(h[1], 5);
    CHECK_INT(ws_frame_header(h, WS_OP_BINARY, 0, 125, NULL), 2);
    CHECK_INT(h[0], 0x02);
    CHECK_INT(ws_frame_header(h, WS_OP_TEXT, 1, 126, NULL), 4);
    CHECK_INT(h[1], 126);
    CHECK_INT(h[2], 0);
    CHECK_INT(h[3], 126);
    CHECK_INT(ws_frame_header(h, WS_OP_TEXT, 1, 65535, NULL), 4);
    CHECK_INT(ws_frame_header(h, WS_OP_TEXT, 1, 65536, NULL), 10);
    CHECK_INT(h[1], 127);
    CHECK_INT(h[7], 1);
    CHECK_INT(h[8], 0);
    CHECK_INT(ws_frame_header(h, WS_OP_PING, 1, 3, mask), 6);
    CHECK_INT(h[1], 0x83);
    CHECK_MEM(h + 2, 4, mask, 4);
}

static void test_mask_in_pieces(void)
{
    const uint8_t key[4] = {0x12, 0x34, 0x56, 0x78};
    uint8_t a[37], b[37];

    for (int i = 0; i < 37; i++)
        a[i] = b[i] = (uint8_t)(i * 7);
    ws_mask(a, sizeof(a), key, 0);
    ws_mask(b, 5, key, 0);
    ws_mask(b + 5, 17, key, 5);
    ws_mask(b + 22, 15, key, 22);
    CHECK_MEM(a, 37, b, 37);
    CHECK_INT(a[0], 0 ^ 0x12);
    CHECK_INT(a[5], 35 ^ 0x34);
    ws_mask(a, sizeof(a), key, 0);
    for (int i = 0; i < 37; i++)
        CHECK_INT(a[i], (uint8_t)(i * 7));
}

/* Builds a client frame (masked) into out; returns its length. */
static size_t client_frame(uint8_t *out, unsigned op, int fin, const char *payload, size_t n)
{
    const uint8_t key[4] = {0xa1, 0xb2, 0xc3, 0xd4};
    size_t h = ws_frame_header(out, op, fin, n, key);
    memcpy(out + h, payload, n);
    ws_mask(out + h, n, key, 0);
    return h + n;
}

/* Decodes a whole stream, collecting data and the event types seen. */
typedef struct collected {
    char data[4096];
    size_t len;
    char events[64];
    size_t nevents;
    unsigned close_code;
    int messages;
} collected;

static void collect(ws_decoder *d, uint8_t *in, size_t len, collected *out)
{
    ws_event ev;

    while (len > 0) {
        size_t used = ws_decode(d, in, len, &ev);
        in += used;
        len -= used;
        switch (ev.type) {
        case WS_EV_NEED_MORE:
            break;
        case WS_EV_DATA:
            memcpy(out->data + out->len, ev.data, ev.len);
            out->len += ev.len;
            out->messages += ev.message_end;
            break;
        default:
            out->events[out->nevents++] = "NDIOCE"[ev.type];
            out->close_code = ev.close_code;
            break;
        }
        if (ev.type == WS_EV_DATA && len == 0)
            break;
    }
}

static size_t sample_stream(uint8_t *buf)
{
    size_t n = 0;
    n += client_frame(buf + n, WS_OP_TEXT, 0, "hel", 3);
    n += client_frame(buf + n, WS_OP_PING, 1, "p!", 2);
    n += client_frame(buf + n, WS_OP_CONT, 1, "lo ", 3);
    n += client_frame(buf + n, WS_OP_BINARY, 1, "", 0);
    char big[300];
    memset(big, 'x', sizeof(big));
    n += client_frame(buf + n, WS_OP_BINARY, 1, big, sizeof(big));
    n += client_frame(buf + n, WS_OP_CLOSE, 1, "\x03\xe8ok", 4);
    n += client_frame(buf + n, WS_OP_TEXT, 1, "ignored", 7);
    return n;
}

static void test_decode_whole_and_bytewise(void)
{
    uint8_t buf[1024], copy[1024];
    size_t n = sample_stream(buf);
    collected whole = {0}, bytewise = {0};
    ws_decoder d;

    memcpy(copy, buf, n);
    ws_decoder_init(&d, WS_ROLE_SERVER, 0);
    collect(&d, buf, n, &whole);
    CHECK_INT(whole.len, 6 + 300);
    CHECK_MEM(whole.data, 6, "hello ", 6);
    CHECK_INT(whole.messages, 3);
    CHECK_STR((whole.events[whole.nevents] = 0, whole.events), "IC");
    CHECK_INT(whole.close_code, 1000);

    ws_decoder_init(&d, WS_ROLE_SERVER, 0);
    for (size_t i = 0; i < n; i++)
        collect(&d, copy + i, 1, &bytewise);
    CHECK_MEM(bytewise.data, bytewise.len, whole.data, whole.len);
    CHECK_STR((bytewise.events[bytewise.nevents] = 0, bytewise.events), "IC");
    CHECK_INT(bytewise.messages, 3);
}

/* Decodes frame bytes and returns the first error's close code, or 0. */
static unsigned first_error(enum ws_role role, uint64_t max, uint8_t *in, size_t len)
{
    ws_decoder d;
    ws_event ev;

    ws_decoder_init(&d, role, max);
    while (len > 0) {
        size_t used = ws_decode(&d, in, len, &ev);
        in += used;
        len -= used;
        if (ev.type == WS_EV_ERROR)
            return ev.close_code;
        if (ev.type == WS_EV_CLOSE)
            return 0;
    }
    return 0;
}

static void test_protocol_errors(void)
{
    uint8_t b[512];
    size_t n;

    b[0] = 0x81, b[1] = 0x01, b[2] = 'x'; /* unmasked client frame */
    CHECK_INT(first_error(WS_ROLE_SERVER, 0, b, 3), 1002);
    n = client_frame(b, 0x3, 1, "x", 1); /* reserved opcode */
    CHECK_INT(first_error(WS_ROLE_SERVER, 0, b, n), 1002);
    n = client_frame(b, WS_OP_TEXT, 1, "x", 1);
    b[0] |= 0x40; /* RSV1 without an extension */
    CHECK_INT(first_error(WS_ROLE_SERVER, 0, b, n), 1002);
    n = client_frame(b, WS_OP_PING, 0, "x", 1); /* fragmented control frame */
    CHECK_INT(first_error(WS_ROLE_SERVER, 0, b, n), 1002);
    char big[126] = {0};
    n = client_frame(b, WS_OP_PING, 1, big, 126); /* control frame > 125 */
    CHECK_INT(first_error(WS_ROLE_SERVER, 0, b, n), 1002);
    n = client_frame(b, WS_OP_CONT, 1, "x", 1); /* continuation without a message */
    CHECK_INT(first_error(WS_ROLE_SERVER, 0, b, n), 1002);
    n = client_frame(b, WS_OP_TEXT, 0, "a", 1);
    n += client_frame(b + n, WS_OP_TEXT, 1, "b", 1); /* new message inside a fragmented one */
    CHECK_INT(first_error(WS_ROLE_SERVER, 0, b, n), 1002);
    n = client_frame(b, WS_OP_CLOSE, 1, "\x03", 1); /* close with a 1-byte payload */
    CHECK_INT(first_error(WS_ROLE_SERVER, 0, b, n), 1002);
    n = client_frame(b, WS_OP_CLOSE, 1, "\x03\xed", 2); /* 1005 may not be sent */
    CHECK_INT(first_error(WS_ROLE_SERVER, 0, b, n), 1002);
    n = client_frame(b, WS_OP_CLOSE, 1, "\x03\xe8\xff", 3); /* reason not UTF-8 */
    CHECK_INT(first_error(WS_ROLE_SERVER, 0, b, n), 1007);
    n = client_frame(b, WS_OP_TEXT, 1, "x", 1); /* masked frame sent to a client */
    CHECK_INT(first_error(WS_ROLE_CLIENT, 0, b, n), 1002);
    b[0] = 0x82, b[1] = 127; /* 64-bit length with the top bit set */
    memset(b + 2, 0xff, 8);
    CHECK_INT(first_error(WS_ROLE_CLIENT, 0, b, 10), 1002);
}

static void test_message_limit(void)
{
    uint8_t b[256];
    size_t n;
    char payload[100] = {0};

    n = client_frame(b, WS_OP_BINARY, 1, payload, 100);
    CHECK_INT(first_error(WS_ROLE_SERVER, 100, b, n), 0);
    CHECK_INT(first_error(WS_ROLE_SERVER, 99, b, n), 1009);
    /* A fragmented message counts all its frames. */
    n = client_frame(b, WS_OP_BINARY, 0, payload, 60);
    n += client_frame(b + n, WS_OP_CONT, 1, payload, 60);
    CHECK_INT(first_error(WS_ROLE_SERVER, 119, b, n), 1009);
    CHECK_INT(first_error(WS_ROLE_SERVER, 120, b, n), 0);
}

static void test_data_before_error_is_delivered(void)
{
    uint8_t b[128];
    size_t n = client_frame(b, WS_OP_TEXT, 1, "kept", 4);
    ws_decoder d;
    ws_event ev;

    b[n] = 0x81, b[n + 1] = 0x01; /* then an unmasked frame */
    n += 2;
    ws_decoder_init(&d, WS_ROLE_SERVER, 0);
    size_t used = ws_decode(&d, b, n, &ev);
    CHECK_INT(ev.type, WS_EV_DATA);
    CHECK_MEM(ev.data, ev.len, "kept", 4);
    ws_decode(&d, b + used, n - used, &ev);
    CHECK_INT(ev.type, WS_EV_ERROR);
    CHECK_INT(ws_decode(&d, b, n, &ev), n);
    CHECK_INT(ev.type, WS_EV_NEED_MORE);
}

static void test_close_payload(void)
{
    uint8_t out[WS_CONTROL_MAX];
    char reason[200];

    CHECK_INT(ws_close_payload(out, 1009, "too big"), 9);
    CHECK_INT(out[0], 0x03);
    CHECK_INT(out[1], 0xf1);
    CHECK_MEM(out + 2, 7, "too big", 7);
    /* A long reason is cut to 123 bytes without splitting a character. */
    memset(reason, 'a', sizeof(reason));
    memcpy(reason + 121, "\xe2\x82\xac", 3); /* euro sign at 121..123 */
    reason[199] = 0;
    size_t n = ws_close_payload(out, 1000, reason);
    CHECK_INT(n, 2 + 121);
    CHECK(ws_utf8_valid(out + 2, n - 2));
}

static void test_utf8_partial_tail(void)
{
    const uint8_t euro[] = {0xe2, 0x82, 0xac};
    const uint8_t emoji[] = {0xf0, 0x9f, 0x98, 0x80};
    uint8_t buf[8];

    CHECK_INT(ws_utf8_partial_tail((const uint8_t *)"abc", 3), 0);
    for (size_t cut = 0; cut <= 3; cut++) {
        memcpy(buf, "a", 1);
        memcpy(buf + 1, euro, cut);
        CHECK_INT(ws_utf8_partial_tail(buf, 1 + cut), cut == 3 ? 0 : cut);
    }
    for (size_t cut = 0; cut <= 4; cut++) {
        memcpy(buf, emoji, cut);
        CHECK_INT(ws_utf8_partial_tail(buf, cut), cut == 4 ? 0 : cut);
    }
    /* Bytes that can never become valid UTF-8 are not held back. */
    CHECK_INT(ws_utf8_partial_tail((const uint8_t *)"a\xff", 2), 0);
    CHECK_INT(ws_utf8_partial_tail((const uint8_t *)"a\xc0", 2), 0);
    CHECK_INT(ws_utf8_partial_tail((const uint8_t *)"a\xe0\x80", 3), 0); /* overlong */
    CHECK_INT(ws_utf8_partial_tail((const uint8_t *)"a\xed\xa0", 3), 0); /* surrogate */
    CHECK_INT(ws_utf8_partial_tail((const uint8_t *)"\x80\x80\x80", 3), 0);
}

static void test_utf8_valid(void)
{
    CHECK(ws_utf8_valid((const uint8_t *)"", 0));
    CHECK(ws_utf8_valid((const uint8_t *)"h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80", 15));
    CHECK(!ws_utf8_valid((const uint8_t *)"\xc3", 1));
    CHECK(!ws_utf8_valid((const uint8_t *)"\xc0\xaf", 2));
    CHECK(!ws_utf8_valid((const uint8_t *)"\xed\xa0\x80", 3));
    CHECK(!ws_utf8_valid((const uint8_t *)"\xf4\x90\x80\x80", 4));
    CHECK(!ws_utf8_valid((const uint8_t *)"\xe2\x82", 2));
}

int main(void)
{
    RUN(test_accept_key);
    RUN(test_key_valid);
    RUN(test_frame_header_lengths);
    RUN(test_mask_in_pieces);
    RUN(test_decode_whole_and_bytewise);
    RUN(test_protocol_errors);
    RUN(test_message_limit);
    RUN(test_data_before_error_is_delivered);
    RUN(test_close_payload);
    RUN(test_utf8_partial_tail);
    RUN(test_utf8_valid);
    return test_report();
}
