/* codec.c -- what the NATS store writes and reads: names as subject tokens (base64url without
 * padding: no '.', '*', '>' or spaces, and valid lease keys), metadata as a small binary format
 * of its own, and the applied-state file that lets a restarted store catch up from where it
 * stopped. Everything read back is validated: messages on the stream are hostile input. */
#include "store/nats/nstore.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

char *ns_token_encode(const char *name)
{
    size_t n = strlen(name), o = 0;
    char *t = malloc(n / 3 * 4 + 5);
    const uint8_t *p = (const uint8_t *)name;

    if (!t)
        return NULL;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        size_t k = n - i < 3 ? n - i : 3;
        if (k > 1)
            v |= (uint32_t)p[i + 1] << 8;
        if (k > 2)
            v |= p[i + 2];
        t[o++] = b64[v >> 18 & 63];
        t[o++] = b64[v >> 12 & 63];
        if (k > 1)
            t[o++] = b64[v >> 6 & 63];
        if (k > 2)
            t[o++] = b64[v & 63];
    }
    t[o] = 0;
    return t;
}

static int b64_val(char c)
{
    const char *q = c ? strchr(b64, c) : NULL;
    return q ? (int)(q - b64) : -1;
}

char *ns_token_decode(const char *tok, size_t n)
{
    if (n == 0 || n % 4 == 1 || n > NS_TOKEN_MAX)
        return NULL;
    char *out = malloc(n / 4 * 3 + 3);
    size_t o = 0;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i += 4) {
        size_t k = n - i < 4 ? n - i : 4;
        uint32_t v = 0;
        for (size_t j = 0; j < 4; j++) {
            int d = j < k ? b64_val(tok[i + j]) : 0;
            if (d < 0) {
                free(out);
                return NULL;
            }
            v = v << 6 | (uint32_t)d;
        }
        out[o++] = (char)(v >> 16);
        if (k > 2)
            out[o++] = (char)(v >> 8);
        if (k > 3)
            out[o++] = (char)v;
    }
    out[o] = 0;
    if (strlen(out) != o) { /* a NUL inside: no name has one */
        free(out);
        return NULL;
    }
    return out;
}

/* ---- metadata: "HM1", closed, stream, created (8), expires (8), ct length (4, ~0: none), ct,
 * blob length (4), blob; integers big-endian ------------------------------------------------- */

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 3; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

#define META_HEAD 29 /* magic 3, flags 2, times 16, ct length 4, blob length 4 */

int ns_meta_encode(const store_meta *m, uint8_t **out, size_t *len)
{
    size_t ct = m->content_type ? strlen(m->content_type) : 0;
    size_t n = META_HEAD + ct + m->blob_len;
    uint8_t *p = malloc(n), *q = p;

    if (!p)
        return STORE_ENOMEM;
    memcpy(q, "HM1", 3);
    q[3] = m->closed ? 1 : 0;
    q[4] = m->stream ? 1 : 0;
    put_u64(q + 5, (uint64_t)m->created_ms);
    put_u64(q + 13, (uint64_t)m->expires_ms);
    put_u32(q + 21, m->content_type ? (uint32_t)ct : UINT32_MAX);
    q += 25;
    if (ct)
        memcpy(q, m->content_type, ct);
    q += ct;
    put_u32(q, (uint32_t)m->blob_len);
    if (m->blob_len)
        memcpy(q + 4, m->blob, m->blob_len);
    *out = p;
    *len = n;
    return STORE_OK;
}

int ns_meta_decode(const uint8_t *p, size_t n, store_meta *out)
{
    memset(out, 0, sizeof(*out));
    if (n < META_HEAD || memcmp(p, "HM1", 3) != 0 || p[3] > 1 || p[4] > 1)
        return -1;
    out->closed = p[3];
    out->stream = p[4];
    out->created_ms = (int64_t)get_u64(p + 5);
    out->expires_ms = (int64_t)get_u64(p + 13);
    uint32_t ct = get_u32(p + 21);
    size_t at = 25;
    if (ct != UINT32_MAX) {
        if (ct > STORE_META_MAX || ct > n - META_HEAD || memchr(p + at, 0, ct))
            return -1;
        if (!(out->content_type = malloc(ct + 1)))
            return -1;
        memcpy(out->content_type, p + at, ct);
        out->content_type[ct] = 0;
        at += ct;
    }
    uint32_t bl = get_u32(p + at);
    at += 4;
    if (bl != n - at || (size_t)bl + (ct == UINT32_MAX ? 0 : ct) > STORE_META_MAX) {
        store_meta_free(out);
        return -1;
    }
    if (bl) {
        if (!(out->blob = malloc(bl))) {
            store_meta_free(out);
            return -1;
        }
        memcpy(out->blob, p + at, bl);
        out->blob_len = bl;
    }
    return 0;
}

/* ---- the applied-state file: <root>/.httpfstream/nats-applied ------------------------------
 *   hfs-nats-applied 1
 *   seq N
 *   w TOKEN WRITER        (one line per name with a current writer)
 * Written to a temporary file and renamed over the old one once the inner store wrote every byte
 * applied up to N. */

static int state_path(const nstore *ns, char *buf, size_t n, const char *suffix)
{
    int k = snprintf(buf, n, "%s/.httpfstream/nats-applied%s", ns->root, suffix);
    return k > 0 && (size_t)k < n ? 0 : -1;
}

int ns_state_load(nstore *ns)
{
    char path[4200], line[NS_TOKEN_MAX + NS_WID_MAX + 16];
    FILE *f;

    if (state_path(ns, path, sizeof(path), "") < 0)
        return -1;
    if (!(f = fopen(path, "re")))
        return errno == ENOENT ? 0 : -1;
    if (!fgets(line, sizeof(line), f) || strcmp(line, "hfs-nats-applied 1\n") != 0 ||
        !fgets(line, sizeof(line), f) || sscanf(line, "seq %lu", &ns->applied) != 1) {
        fclose(f);
        store_log(&ns->base, 0, "nats store: %s is malformed: replaying the stream", path);
        ns->applied = 0;
        return 0;
    }
    while (fgets(line, sizeof(line), f)) {
        char tok[NS_TOKEN_MAX + 1], wid[NS_WID_MAX];
        if (sscanf(line, "w %1024s %47s", tok, wid) != 2)
            continue;
        char *name = ns_token_decode(tok, strlen(tok));
        nent *e = name ? ns_ent_get(ns, name) : NULL;
        if (e) {
            snprintf(e->writer, sizeof(e->writer), "%s", wid);
            e->kv_seen_ms = ns_now_ms();
        }
        free(name);
    }
    fclose(f);
    ns->saved = ns->applied;
    return 0;
}

char *ns_state_snapshot(nstore *ns, uint64_t seq)
{
    size_t cap = 64, len;
    for (size_t i = 0; i < ns->nbuckets; i++)
        for (nent *e = ns->buckets[i]; e; e = e->hnext)
            if (e->writer[0])
                cap += strlen(e->token) + strlen(e->writer) + 4;
    char *t = malloc(cap);
    if (!t)
        return NULL;
    len = (size_t)snprintf(t, cap, "hfs-nats-applied 1\nseq %lu\n", (unsigned long)seq);
    for (size_t i = 0; i < ns->nbuckets; i++)
        for (nent *e = ns->buckets[i]; e; e = e->hnext)
            if (e->writer[0])
                len += (size_t)snprintf(t + len, cap - len, "w %s %s\n", e->token, e->writer);
    return t;
}

int ns_state_write(nstore *ns, const char *text, uint64_t seq)
{
    char path[4200], tmp[4200], dir[4200];
    int fd;

    if (state_path(ns, path, sizeof(path), "") < 0 || state_path(ns, tmp, sizeof(tmp), ".tmp") < 0)
        return -1;
    snprintf(dir, sizeof(dir), "%s/.httpfstream", ns->root);
    mkdir(dir, 0700);
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0) {
        store_log(&ns->base, 0, "nats store: %s: %s", tmp, strerror(errno));
        return -1;
    }
    size_t n = strlen(text);
    int bad = write(fd, text, n) != (ssize_t)n || fdatasync(fd) != 0;
    bad |= close(fd) != 0;
    if (bad || rename(tmp, path) != 0) {
        store_log(&ns->base, 0, "nats store: saving %s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    ns->saved = seq;
    return 0;
}
