/* json.h -- JSON texts for the Durable Streams JSON mode: strict validation (RFC 8259), compact
 * re-serialisation, one level of array flattening. No allocation except through the output
 * buffer; no recursion deeper than JSON_DEPTH_MAX.
 *
 * A JSON stream is stored as its messages, each in compact form (no whitespace outside strings, so
 * no raw newline anywhere) followed by one '\n': offsets fall on message boundaries, and a read
 * wraps the messages of a range in one array (json_array). */
#ifndef HFS_DS_JSON_H
#define HFS_DS_JSON_H

#include <stddef.h>
#include <stdint.h>

#define JSON_DEPTH_MAX 256 /* arrays and objects open at once (the top level counts) */

enum json_err {
    JSON_OK = 0,
    JSON_EINVAL = -1, /* not one JSON text */
    JSON_EDEPTH = -2, /* nested deeper than JSON_DEPTH_MAX */
    JSON_ENOMEM = -3, /* the output buffer could not grow */
    JSON_EEMPTY = -4, /* flatten: a top-level empty array (for a caller that refuses one, as
                         POST does; json_messages itself returns 0 messages) */
};

/* The output buffer: zero-initialise it (json_out o = {0}). It grows with realloc; the caller frees
 * p. */
typedef struct json_out {
    uint8_t *p;
    size_t len; /* bytes held at p */
    size_t cap; /* bytes p can hold */
} json_out;

/* Validates p[0..n) as exactly one JSON text (RFC 8259): whitespace (space, tab, CR, LF) may lead
 * and trail, nothing else may follow. UTF-8 must be valid (no overlong forms, no surrogates,
 * nothing above U+10FFFF); strings may not hold raw bytes below 0x20; escapes are \" \\ \/ \b \f \n
 * \r \t and \uXXXX, where a high surrogate must be followed at once by an escaped low one and a low
 * one may not stand alone; numbers follow the RFC grammar (no leading zeros, no '+', no ".5", no
 * "1.", an exponent needs digits); the literals are true, false and null. A NUL byte is invalid
 * wherever it is.
 *
 * With flatten = 1 and a top-level array, each element is one message; otherwise the whole value
 * is one message. Each message is appended to out in compact form (every whitespace byte outside
 * strings removed; strings and numbers byte-identical to the input) followed by one '\n'.
 *
 * Returns the number of messages (>= 0: 0 only for an empty top-level array with flatten = 1; the
 * caller decides: PUT allows it, POST refuses it), or JSON_EINVAL, JSON_EDEPTH (the first error
 * met reading from the start) or JSON_ENOMEM. On an error out->len and the bytes before it are as
 * they were on entry (p and cap may have grown). Linear time, one pass. */
long json_messages(const uint8_t *p, size_t n, int flatten, json_out *out);

/* The byte length of the first k '\n'-terminated messages in p[0..n) (0 for k = 0), or -1 when
 * fewer than k are complete. For fork sub-offsets: a position k messages past an offset. */
long json_prefix_len(const uint8_t *p, size_t n, uint64_t k);

/* Writes the messages in p[0..n) (each ending in '\n', as json_messages makes them) as one JSON
 * array "[m1,m2,...]" into out[0..cap). A trailing partial message (no final '\n') is left out;
 * n == 0 gives "[]". The array needs at most n + 2 bytes (n + 1 when p ends with a message).
 * Returns its length (>= 2), or 0 when cap is too small (out is then unspecified). */
size_t json_array(const uint8_t *p, size_t n, uint8_t *out, size_t cap);

/* Writes base64 (RFC 4648, standard alphabet, with padding) of p[0..n) into out, which needs
 * 4 * ((n + 2) / 3) bytes (no NUL is added). Returns the length written. */
size_t ds_base64(const uint8_t *p, size_t n, char *out);

#endif /* HFS_DS_JSON_H */
