/* meta.c -- metadata kept with a resource: a small file at .httpfstream/meta/REL under the root,
 * replaced whole (written beside it under .httpfstream/tmp/, then renamed over it), so a crash
 * leaves either the old or the new. The hidden directory is refused by every path look-up
 * (beneath.c) and left out of listings, so metadata is never served. Under a sync policy the new
 * file is flushed before the rename.
 *
 * Layout: "HFSMETA1", then little-endian u32 content-type length, the content type, u8 flags
 * (1 closed, 2 stream),
 * i64 created ms, i64 expires ms, u32 blob length, the blob. */
#include "store/file/fstore.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define META_MAGIC "HFSMETA1"
#define META_DIR   FS_HIDDEN "/meta/"
#define TMP_DIR    FS_HIDDEN "/tmp/"

static int meta_path(const char *rel, char *out, size_t cap)
{
    int n = snprintf(out, cap, META_DIR "%s", rel);
    return n > 0 && (size_t)n < cap ? 0 : -1;
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

/* Reads the whole metadata file of rel: 1 with a malloc'd buffer, 0 when there is none, -1. */
static int read_file(fstore *fs, const char *rel, uint8_t **buf, size_t *len)
{
    char path[FS_PATH_MAX + 32];
    size_t cap = STORE_META_MAX + 64, n = 0;

    if (meta_path(rel, path, sizeof(path)) < 0)
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

static int meta_read(fstore *fs, const char *rel, store_meta *out)
{
    uint8_t *b = NULL;
    size_t n = 0;
    int r = read_file(fs, rel, &b, &n);

    memset(out, 0, sizeof(*out));
    if (r <= 0)
        return r < 0 ? STORE_EIO : STORE_OK;
    int err = decode(b, n, out);
    free(b);
    if (err < 0) {
        store_log(&fs->base, 0, "metadata of /%s is damaged: ignored", rel);
        return STORE_OK;
    }
    return STORE_OK;
}

int fs_meta_get(store_res *res, store_meta *out)
{
    fres *r = FR(res);
    return meta_read(FS(res->st), r->name, out);
}

/* The state bits the metadata gives. */
static unsigned meta_state(const store_meta *m)
{
    return m->closed ? STORE_CLOSED : m->stream ? STORE_OPEN : 0;
}

unsigned fs_meta_state(fstore *fs, const char *rel)
{
    store_meta m;
    unsigned st = meta_read(fs, rel, &m) == STORE_OK ? meta_state(&m) : 0;

    store_meta_free(&m);
    return st;
}

int fs_meta_load_state(fres *r)
{
    store_meta m;
    int err = meta_read(FS(r->base.st), r->name, &m);

    if (err == STORE_OK)
        r->base.state |= meta_state(&m);
    store_meta_free(&m);
    r->meta_loaded = 1;
    return err;
}

/* Writes buf as the metadata of rel: a new file, renamed over the old. */
static int replace_file(fstore *fs, const char *rel, const uint8_t *buf, size_t len)
{
    char dst[FS_PATH_MAX + 32], tmp[64];
    static unsigned seq;

    if (meta_path(rel, dst, sizeof(dst)) < 0)
        return STORE_ENAMETOOLONG;
    int err = fs_make_parents(fs, dst);
    if (err == STORE_OK)
        err = fs_make_parents(fs, TMP_DIR "x");
    if (err != STORE_OK)
        return err;
    snprintf(tmp, sizeof(tmp), TMP_DIR "%ld.%u", (long)getpid(), ++seq);
    int fd = openat(fs->root_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return fs_map_write_errno(errno);
    size_t done = 0;
    while (done < len) {
        ssize_t k = write(fd, buf + done, len - done);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        done += (size_t)k;
    }
    int ok = done == len && (fs->base.opt.sync == STORE_SYNC_NONE || fdatasync(fd) == 0);
    int saved = errno;
    close(fd);
    if (!ok || renameat(fs->root_fd, tmp, fs->root_fd, dst) != 0) {
        saved = ok ? errno : saved;
        unlinkat(fs->root_fd, tmp, 0);
        errno = saved;
        return STORE_EIO;
    }
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
    int err = replace_file(FS(res->st), r->name, b, len);
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

    if (meta_path(rel, path, sizeof(path)) < 0)
        return STORE_OK;
    if (unlinkat(fs->root_fd, path, 0) != 0 && errno != ENOENT && errno != ENOTDIR)
        return STORE_EIO;
    return STORE_OK;
}
