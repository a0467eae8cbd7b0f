/* meta.c -- metadata kept with a resource, in two slot files under the root's hidden directory:
 * .httpfstream/meta/REL and .httpfstream/meta-b/REL. Each update goes whole into the slot that does
 * not hold the newest record, with a generation one above it and a checksum; a reader takes the
 * valid record with the highest generation. So an update is one write to a file kept open (no
 * rename, no directory change), and a crash, even one that tears the write, leaves the previous
 * record in the other slot. Under a sync policy the slot is flushed before the update returns. The
 * hidden directory is refused by every path look-up (beneath.c) and left out of listings, so
 * metadata is never served.
 *
 * A slot: "HFSMETA2", u64 generation, u32 record length, u32 CRC-32 of the record, the record. A
 * record: "HFSMETA1", then little-endian u32 content-type length, the content type, u8 flags
 * (1 closed, 2 stream), i64 created ms, i64 expires ms, u32 blob length, the blob. A slot file that
 * is a bare record (an older layout) counts as generation 0. */
#include "store/file/fstore.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define META_MAGIC "HFSMETA1"
#define SLOT_MAGIC "HFSMETA2"
#define SLOT_HDR   24 /* magic, generation, length, checksum */

static const char *const slot_dirs[2] = {FS_HIDDEN "/meta/", FS_HIDDEN "/meta-b/"};

static int meta_path(int slot, const char *rel, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s%s", slot_dirs[slot], rel);
    return n > 0 && (size_t)n < cap ? 0 : -1;
}

static uint32_t crc32_of(const uint8_t *p, size_t n)
{
    static uint32_t table[256];
    uint32_t c = 0xffffffffu;

    if (!table[1]) {
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t v = i;
            for (int k = 0; k < 8; k++)
                v = v & 1 ? 0xedb88320u ^ (v >> 1) : v >> 1;
            table[i] = v;
        }
    }
    for (size_t i = 0; i < n; i++)
        c = table[(c ^ p[i]) & 0xff] ^ (c >> 8);
    return c ^ 0xffffffffu;
}

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_i64(uint8_t *p, int64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)((uint64_t)v >> (8 * i));
}

static uint32_t get_u32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v |= (uint32_t)p[i] << (8 * i);
    return v;
}

static int64_t get_i64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return (int64_t)v;
}

/* Reads the slot file of rel: 1 with a malloc'd buffer, 0 when there is none, -1. */
static int read_slot(fstore *fs, int slot, const char *rel, uint8_t **buf, size_t *len)
{
    char path[FS_PATH_MAX + 32];
    size_t cap = STORE_META_MAX + 128, n = 0;

    if (meta_path(slot, rel, path, sizeof(path)) < 0)
        return 0;
    int fd = openat(fs->root_fd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return errno == ENOENT || errno == ENOTDIR ? 0 : -1;
    uint8_t *b = malloc(cap);
    while (b && n < cap) {
        ssize_t k = read(fd, b + n, cap - n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        n += (size_t)k;
    }
    close(fd);
    if (!b)
        return -1;
    *buf = b;
    *len = n;
    return 1;
}

/* The record a slot's bytes hold: its generation (0 for a bare record of the older layout), or -1
 * when they hold none that is whole. */
static int64_t slot_record(const uint8_t *b, size_t n, const uint8_t **rec, size_t *rec_len)
{
    if (n >= sizeof(META_MAGIC) - 1 && memcmp(b, META_MAGIC, sizeof(META_MAGIC) - 1) == 0) {
        *rec = b;
        *rec_len = n;
        return 0;
    }
    if (n < SLOT_HDR || memcmp(b, SLOT_MAGIC, sizeof(SLOT_MAGIC) - 1) != 0)
        return -1;
    int64_t gen = get_i64(b + 8);
    uint32_t len = get_u32(b + 16);
    if (gen < 0 || len > n - SLOT_HDR || crc32_of(b + SLOT_HDR, len) != get_u32(b + 20))
        return -1;
    *rec = b + SLOT_HDR;
    *rec_len = len;
    return gen;
}

static int decode(const uint8_t *b, size_t n, store_meta *m)
{
    size_t at = sizeof(META_MAGIC) - 1;

    memset(m, 0, sizeof(*m));
    if (n < at + 4 || memcmp(b, META_MAGIC, at) != 0)
        return -1;
    uint32_t cl = get_u32(b + at);
    at += 4;
    if (cl > n - at || n - at - cl < 1 + 8 + 8 + 4)
        return -1;
    if (cl && !(m->content_type = strndup((const char *)b + at, cl)))
        return -1;
    at += cl;
    m->closed = (b[at] & 1) != 0;
    m->stream = (b[at] & 2) != 0;
    at++;
    m->created_ms = get_i64(b + at);
    m->expires_ms = get_i64(b + at + 8);
    uint32_t bl = get_u32(b + at + 16);
    at += 20;
    if (bl > n - at) {
        store_meta_free(m);
        return -1;
    }
    if (bl && !(m->blob = malloc(bl))) {
        store_meta_free(m);
        return -1;
    }
    if (bl)
        memcpy(m->blob, b + at, bl);
    m->blob_len = bl;
    return 0;
}

/* Reads rel's newest valid record into *out (zeroed when there is none); gens[] gets each slot's
 * generation (-1: none) when not NULL. */
static int meta_read(fstore *fs, const char *rel, store_meta *out, int64_t gens[2])
{
    uint8_t *b[2] = {NULL, NULL};
    size_t n[2] = {0, 0};
    const uint8_t *rec[2] = {NULL, NULL};
    size_t rec_len[2] = {0, 0};
    int64_t gen[2] = {-1, -1};
    int damaged = 0, err = STORE_OK;

    memset(out, 0, sizeof(*out));
    for (int i = 0; i < 2; i++) {
        int r = read_slot(fs, i, rel, &b[i], &n[i]);
        if (r < 0)
            err = STORE_EIO;
        if (r > 0 && (gen[i] = slot_record(b[i], n[i], &rec[i], &rec_len[i])) < 0)
            damaged = 1;
    }
    int best = gen[1] > gen[0] ? 1 : 0;
    if (err == STORE_OK && gen[best] >= 0 && decode(rec[best], rec_len[best], out) < 0) {
        damaged = 1;
        gen[best] = -1;
        best = 1 - best; /* the other slot's record, older but whole */
        if (gen[best] >= 0 && decode(rec[best], rec_len[best], out) < 0)
            gen[best] = -1;
    }
    if (damaged && err == STORE_OK)
        store_log(&fs->base, gen[0] < 0 && gen[1] < 0 ? 0 : 1,
                  "metadata of /%s: a damaged record %s", rel,
                  gen[0] < 0 && gen[1] < 0 ? "(none left: ignored)" : "(the previous one is used)");
    if (gens) {
        gens[0] = gen[0];
        gens[1] = gen[1];
    }
    free(b[0]);
    free(b[1]);
    return err;
}

int fs_meta_get(store_res *res, store_meta *out)
{
    fres *r = FR(res);
    return meta_read(FS(res->st), r->name, out, NULL);
}

/* The state bits the metadata gives. */
static unsigned meta_state(const store_meta *m)
{
    return m->closed ? STORE_CLOSED : m->stream ? STORE_OPEN : 0;
}

unsigned fs_meta_state(fstore *fs, const char *rel)
{
    store_meta m;
    unsigned st = meta_read(fs, rel, &m, NULL) == STORE_OK ? meta_state(&m) : 0;

    store_meta_free(&m);
    return st;
}

int fs_meta_load_state(fres *r)
{
    store_meta m;
    int err = meta_read(FS(r->base.st), r->name, &m, r->meta_gen);

    if (err == STORE_OK)
        r->base.state |= meta_state(&m);
    store_meta_free(&m);
    r->meta_loaded = err == STORE_OK;
    return err;
}

/* The slot file of r, opened once for writing (its directories made when missing); -1 with errno.
 */
static int slot_fd(fres *r, int slot)
{
    fstore *fs = FS(r->base.st);
    char path[FS_PATH_MAX + 32];
    const int flags = O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW;

    if (r->meta_fd[slot] >= 0)
        return r->meta_fd[slot];
    if (meta_path(slot, r->name, path, sizeof(path)) < 0) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int fd = openat(fs->root_fd, path, flags, 0600);
    if (fd < 0 && errno == ENOENT) {
        int err = fs_make_parents(fs, path);
        if (err != STORE_OK) {
            errno = err == STORE_ENOTDIR ? ENOTDIR : err == STORE_EDENIED ? EACCES : EIO;
            return -1;
        }
        fd = openat(fs->root_fd, path, flags, 0600);
    }
    return r->meta_fd[slot] = fd;
}

/* Writes rec into the slot that does not hold the newest record, one generation above it. */
static int write_record(fres *r, const uint8_t *rec, size_t len)
{
    if (!r->meta_loaded) {
        store_meta m;
        int err = meta_read(FS(r->base.st), r->name, &m, r->meta_gen);
        store_meta_free(&m);
        if (err != STORE_OK)
            return err;
        r->meta_loaded = 1;
    }
    int slot = r->meta_gen[0] > r->meta_gen[1] ? 1 : 0;
    int64_t gen = (r->meta_gen[0] > r->meta_gen[1] ? r->meta_gen[0] : r->meta_gen[1]) + 1;
    uint8_t *b = malloc(SLOT_HDR + len);
    if (!b)
        return STORE_ENOMEM;
    memcpy(b, SLOT_MAGIC, sizeof(SLOT_MAGIC) - 1);
    put_i64(b + 8, gen);
    put_u32(b + 16, (uint32_t)len);
    put_u32(b + 20, crc32_of(rec, len));
    memcpy(b + SLOT_HDR, rec, len);
    int fd = slot_fd(r, slot);
    ssize_t w = fd < 0 ? -1 : pwrite(fd, b, SLOT_HDR + len, 0);
    free(b);
    int ok = w == (ssize_t)(SLOT_HDR + len) &&
             (r->base.st->opt.sync == STORE_SYNC_NONE || fdatasync(fd) == 0);
    if (!ok) {
        if (fd >= 0 && w >= 0)
            errno = errno ? errno : EIO;
        r->meta_gen[slot] = -1; /* whatever it holds now, it is not to be trusted */
        return fd < 0 ? fs_map_write_errno(errno) : STORE_EIO;
    }
    r->meta_gen[slot] = gen;
    return STORE_OK;
}

int fs_meta_set(store_res *res, const store_meta *m)
{
    fres *r = FR(res);
    size_t cl = m->content_type ? strlen(m->content_type) : 0;

    if (cl + m->blob_len > STORE_META_MAX)
        return STORE_EFULL;
    size_t len = sizeof(META_MAGIC) - 1 + 4 + cl + 1 + 8 + 8 + 4 + m->blob_len;
    uint8_t *b = malloc(len), *p = b;
    if (!b)
        return STORE_ENOMEM;
    memcpy(p, META_MAGIC, sizeof(META_MAGIC) - 1);
    p += sizeof(META_MAGIC) - 1;
    put_u32(p, (uint32_t)cl);
    p += 4;
    if (cl)
        memcpy(p, m->content_type, cl);
    p += cl;
    int closed = m->closed || (res->state & STORE_CLOSED); /* closed is for good */
    *p++ = (uint8_t)(closed | (m->stream ? 2 : 0));
    put_i64(p, m->created_ms);
    put_i64(p + 8, m->expires_ms);
    put_u32(p + 16, (uint32_t)m->blob_len);
    p += 20;
    if (m->blob_len)
        memcpy(p, m->blob, m->blob_len);
    int err = write_record(r, b, len);
    free(b);
    if (err != STORE_OK)
        return err;
    if (!closed && m->stream)
        res->state |= STORE_OPEN;
    if (closed && !(res->state & STORE_CLOSED)) {
        res->state = (res->state | STORE_CLOSED) & ~(unsigned)STORE_OPEN;
        store_notify(res, STORE_EV_CLOSED);
    }
    return err;
}

int fs_meta_remove(fstore *fs, const char *rel)
{
    char path[FS_PATH_MAX + 32];
    int err = STORE_OK;

    for (int i = 0; i < 2; i++) {
        if (meta_path(i, rel, path, sizeof(path)) < 0)
            continue;
        if (unlinkat(fs->root_fd, path, 0) != 0 && errno != ENOENT && errno != ENOTDIR)
            err = STORE_EIO;
    }
    return err;
}

void fs_meta_close(fres *r)
{
    for (int i = 0; i < 2; i++) {
        if (r->meta_fd[i] >= 0)
            close(r->meta_fd[i]);
        r->meta_fd[i] = -1;
    }
}
