/* auth.h -- who may read, append and delete: bearer tokens per path prefix (-auth=FILE) and signed
 * URLs (-sign-key=FILE), decided in one place for every protocol the server speaks. No sockets,
 * no libuv: a rule set is loaded from files, then asked about one request at a time.
 *
 * Rules file: one rule per line, `RIGHTS PREFIX TOKEN`, blanks between; `#` starts a comment (to
 * the end of the line); empty lines are skipped.
 *   RIGHTS  a comma list of read, append, delete (no blanks inside)
 *   PREFIX  starts with '/'; ending in '/' it covers every path below it ("/" covers all), else it
 *           names one path exactly
 *   TOKEN   a bearer token (printable ASCII, no blanks), sha256:HEX (64 hex digits: the SHA-256 of
 *           the token), or * (anyone, no credential needed)
 * A request is allowed when one rule grants the right it needs on its path to the credential it
 * presents (or to anyone).
 *
 * Signed URLs: query parameters expires (Unix seconds), rights (as RIGHTS) and sig, the base64url
 * (no padding) of HMAC-SHA256(key, "httpfstream-sign-v1\n" RIGHTS "\n" EXPIRES "\n" PATH), where
 * PATH is the request's path, or, for a URL signed for a prefix, a directory prefix of it ending
 * in '/'. The key file's bytes are the key (one trailing newline dropped).
 *
 * Paths are the cleaned, percent-decoded URL paths the server routes on (mount prefix included),
 * e.g. "/ci/job-1.log" or "/v1/stream/job-1". */
#ifndef HFS_AUTH_AUTH_H
#define HFS_AUTH_AUTH_H

#include <stddef.h>
#include <stdint.h>

enum auth_right {
    AUTH_READ = 1,
    AUTH_APPEND = 2,
    AUTH_DELETE = 4,
};

/* What auth_check decides; the values are the HTTP statuses to answer with. */
enum auth_verdict {
    AUTH_OK = 0,
    AUTH_BAD_REQUEST = 400,  /* malformed credential: two token parameters, a bad Authorization
                                header, expires or rights that do not parse */
    AUTH_UNAUTHORIZED = 401, /* no credential, or a token no rule knows: send WWW-Authenticate */
    AUTH_FORBIDDEN = 403,    /* a known credential without the right; a bad, moved or expired
                                signature */
};

typedef struct auth_rules auth_rules;

/* Loads the rules file (NULL: no rules, every token unknown) and the key file (NULL: signed URLs
 * refused). Returns 0 with *out set, or -1 with a one-line reason in err ("FILE:LINE: why" for a
 * bad rule, "FILE: why" for a file that cannot be read). With both NULL the result allows
 * nothing but what is asked with no rules at all: callers pass NULL rules only with a key. */
int auth_load(const char *rules_file, const char *key_file, auth_rules **out, char *err,
              size_t errlen);
/* Parses rules from memory (for tests and fuzzing): name is used in messages. */
int auth_parse(const char *name, const char *text, size_t len, const uint8_t *key, size_t key_len,
               auth_rules **out, char *err, size_t errlen);
void auth_free(auth_rules *a);

/* What a request presents. Pointers into the request; lengths without NUL. */
typedef struct auth_request {
    const char *path;          /* clean, decoded, starts with '/' (NUL-terminated) */
    const char *authorization; /* the Authorization header's value, NULL when absent */
    size_t authorization_len;
    int authorization_count; /* how many Authorization headers came (more than 1: 400) */
    const char *query;       /* the raw query (without '?'), NULL when none */
    size_t query_len;
    int64_t now; /* Unix seconds */
} auth_request;

/* Decides whether the request may have `right` (one enum auth_right) on its path. */
int auth_check(const auth_rules *a, const auth_request *q, unsigned right);

/* The rights a request's credential holds on its path (a bit set of enum auth_right), for pages
 * that link on (the viewer, listings): what auth_check would allow for each right. */
unsigned auth_rights(const auth_rules *a, const auth_request *q);

/* Copies the request-target t[0..n) into out (cap bytes, NUL-terminated, truncated to fit) with
 * the values of the token and sig query parameters replaced by "REDACTED": for log lines. Returns
 * the length written. */
size_t auth_redact_target(const char *t, size_t n, char *out, size_t cap);

/* The signed URL's query parameters for path (or prefix) with rights (a RIGHTS string) until
 * expires: "expires=E&rights=R&sig=S" into out. Returns its length, or 0 when it does not fit (or
 * when key is empty, rights does not parse, expires is negative or path does not start with '/').
 * (httpfstream-sign, and tests.) */
size_t auth_sign(const uint8_t *key, size_t key_len, const char *rights, int64_t expires,
                 const char *path, char *out, size_t cap);

/* Parses a RIGHTS string s[0..n) (a comma list of read, append, delete, no blanks; repeats allowed)
 * into a bit set of enum auth_right. Returns 0, or -1 when it does not parse. */
int auth_parse_rights(const char *s, size_t n, unsigned *out);

/* Reads a key file as auth_load does (its bytes, one trailing newline dropped; empty is an error).
 * Returns 0 with *key (malloc'd: clear it with OPENSSL_cleanse, then free) and *len set, or -1 with
 * "FILE: why" in err. */
int auth_read_key(const char *file, uint8_t **key, size_t *len, char *err, size_t errlen);

#endif /* HFS_AUTH_AUTH_H */
