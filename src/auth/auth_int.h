/* auth_int.h -- what the access-control files share: auth.c (codecs, credentials, the decision,
 * redaction, signing) and rules.c (the rules file and the key). */
#ifndef HFS_AUTH_INT_H
#define HFS_AUTH_INT_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "auth/auth.h"

#define AUTH_TOKEN_MAX       4096       /* bytes of a token, in a rule or presented */
#define AUTH_RULES_MAX_BYTES (16 << 20) /* a rules file */
#define AUTH_KEY_MAX_BYTES   65536      /* a key file */
#define AUTH_PARAM_MAX       64         /* room for a decoded expires, rights or sig value */
#define AUTH_DIGEST_LEN      32         /* SHA-256, and HMAC-SHA256 */
#define AUTH_SIG_CHARS       43         /* base64url of 32 bytes, no padding */
#define AUTH_SIG_CONTEXT     "httpfstream-sign-v1\n"

typedef struct rule {
    unsigned rights;                 /* enum auth_right bits */
    int anyone;                      /* token `*` */
    uint8_t digest[AUTH_DIGEST_LEN]; /* else: the SHA-256 of the token */
    char *prefix;                    /* clean, starts with '/' */
    size_t prefix_len;
} rule;

struct auth_rules {
    rule *rules;
    size_t n, cap;
    EVP_MAC_CTX *mac; /* HMAC-SHA256 keyed and initialised; NULL without a key */
};

/* The query parameters auth_check reads. */

/* The SHA-256 of p[0..n): 0, or -1 when OpenSSL fails. */
int auth_sha256(const void *p, size_t n, uint8_t out[AUTH_DIGEST_LEN]);
/* An HMAC-SHA256 context keyed with key (NULL on failure). */
EVP_MAC_CTX *auth_mac_new(const uint8_t *key, size_t key_len);
/* 1 when p[0..n) starts with '/' and has no empty (but a last), "." or ".." element. */
int auth_path_is_clean(const char *p, size_t n);
/* 1 when r's prefix covers the clean path[0..n): a prefix ending in '/' covers what is below it,
 * another only itself. */
int auth_rule_covers(const rule *r, const char *path, size_t n);
int auth_right_valid(unsigned right); /* exactly one of AUTH_READ, AUTH_APPEND, AUTH_DELETE */
/* 1 when t[0..n) may be a token: 1 to AUTH_TOKEN_MAX printable ASCII bytes, no blanks. */
int auth_token_valid(const char *t, size_t n);

#endif /* HFS_AUTH_INT_H */
