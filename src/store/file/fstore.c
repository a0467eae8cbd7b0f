/* fstore.c -- the file store: resources are regular files under a root directory. Open
 * resources live in a registry keyed by (device, inode), so two names for one file share one
 * lease, one tail and one watcher. The lease is also an OFD write lock on the file
 * (F_OFD_SETLK), so two servers on one root never both append to one file.
 *
 * A handle opened for reading holds a read-only descriptor (a file the server may not write is
 * still followed); the first writer brings a writable one. The descriptor is O_APPEND. */
#include "store/file/fstore.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FS_BUCKETS_INIT 64

static const store_ops file_ops;

static size_t bucket_of(const fstore *fs, dev_t dev, ino_t ino)
{
    uint64_t h = (uint64_t)ino * 0x9e3779b97f4a7c15ull ^ (uint64_t)dev;
    return (size_t)(h >> 17) & (fs->nbuckets - 1);
}

fres *fs_registry_find(const fstore *fs, dev_t dev, ino_t ino)
{
    for (fres *r = fs->buckets[bucket_of(fs, dev, ino)]; r; r = r->hnext)
        if (r->dev == dev && r->ino == ino)
            return r;
    return NULL;
}

static void registry_grow(fstore *fs)
{
    size_t n = fs->nbuckets * 2;
    fres **b = calloc(n, sizeof(fres *));

    if (!b)
        return; /* chains just get longer */
    fres **old = fs->buckets;
    size_t oldn = fs->nbuckets;
    fs->buckets = b;
    fs->nbuckets = n;
    for (size_t i = 0; i < oldn; i++) {
        fres *r = old[i];
        while (r) {
            fres *next = r->hnext;
            size_t k = bucket_of(fs, r->dev, r->ino);
            r->hnext = b[k];
            b[k] = r;
            r = next;
        }
    }
    free(old);
}

static void registry_add(fstore *fs, fres *r)
{
    if (fs->count >= fs->nbuckets)
        registry_grow(fs);
    size_t k = bucket_of(fs, r->dev, r->ino);
    r->hnext = fs->buckets[k];
    fs->buckets[k] = r;
    fs->count++;
}

static void registry_remove(fstore *fs, fres *r)
{
    fres **pp = &fs->buckets[bucket_of(fs, r->dev, r->ino)];

    while (*pp && *pp != r)
        pp = &(*pp)->hnext;
    if (*pp) {
        *pp = r->hnext;
        fs->count--;
    }
}

/* The store is freed once closing and nothing is left in flight. */
static void maybe_free(fstore *fs)
{
    if (!fs->closing || fs->pending || fs->count)
        return;
    store_closed_cb cb = fs->closed_cb;
    void *arg = fs->closed_arg;
    close(fs->root_fd);
    free(fs->buckets);
    free(fs);
    if (cb)
        cb(arg);
}

void fs_pending_done(fstore *fs)
{
    fs->pending--;
    maybe_free(fs);
}

int store_file_new(const char *root, const store_options *o, store **out)
{
    fstore *fs = calloc(1, sizeof(*fs));

    if (!fs)
        return STORE_ENOMEM;
    fs->base.ops = &file_ops;
    fs->base.opt = *o;
    fs->loop = o->loop;
    fs->nbuckets = FS_BUCKETS_INIT;
    fs->buckets = calloc(fs->nbuckets, sizeof(fres *));
    if (!fs->buckets) {
        free(fs);
        return STORE_ENOMEM;
    }
    fs->root_fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fs->root_fd < 0) {
        int saved = errno;
        free(fs->buckets);
        free(fs);
        errno = saved;
        return saved == ENOENT || saved == ENOTDIR ? STORE_ENOENT : STORE_EIO;
    }
    fs_timer_start(fs);
    *out = &fs->base;
    return STORE_OK;
}

static void fs_close(store *st, store_closed_cb done, void *arg)
{
    fstore *fs = FS(st);

    fs->closing = 1;
    fs->closed_cb = done;
    fs->closed_arg = arg;
    fs_timer_stop(fs);
    fs->pending++;
    fs_pending_done(fs);
}

static fres *res_new(fstore *fs, int fd, const struct stat *sb, const char *rel)
{
    size_t n = strlen(rel);
    fres *r = calloc(1, sizeof(*r) + n + 1);

    if (!r)
        return NULL;
    memcpy(r->name, rel, n + 1);
    r->base.ops = &file_ops;
    r->base.st = &fs->base;
    r->base.name = r->name;
    r->base.size = r->base.accepted = (uint64_t)sb->st_size;
    r->fd = fd;
    r->meta_fd[0] = r->meta_fd[1] = -1;
    r->meta_gen[0] = r->meta_gen[1] = -1;
    r->dev = sb->st_dev;
    r->ino = sb->st_ino;
    registry_add(fs, r);
    fs_meta_load_state(r);
    return r;
}

/* Finds or creates the registry entry for the file open at fd (which it takes over); writable
 * when fd was opened for appending. Takes a reference. */
static int registry_entry(fstore *fs, int fd, int writable, const char *rel, fres **out)
{
    struct stat sb;

    if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
        int err = S_ISDIR(sb.st_mode) ? STORE_EISDIR : STORE_EDENIED;
        close(fd);
        return err;
    }
    fres *r = fs_registry_find(fs, sb.st_dev, sb.st_ino);
    if (r && writable && r->rdonly) {
        close(r->fd); /* (only readers used it: no write or sync is in flight on it) */
        r->fd = fd;
        r->rdonly = 0;
    } else if (r) {
        close(fd);
    }
    if (r) {
        /* Changed behind our back (not while bytes are being written behind, when the file is
         * ahead of the size): the tail is stale. */
        if (!(r->base.state & STORE_LEASED) && r->base.accepted == r->base.size &&
            fstat(r->fd, &sb) == 0 && (uint64_t)sb.st_size != r->base.size) {
            r->base.size = r->base.accepted = (uint64_t)sb.st_size;
            fs_tail_clear(r);
        }
    } else if (!(r = res_new(fs, fd, &sb, rel))) {
        close(fd);
        return STORE_ENOMEM;
    } else {
        r->rdonly = !writable;
    }
    r->base.refs++;
    *out = r;
    return STORE_OK;
}

static int fs_stat(store *st, const char *rel, store_info *out)
{
    fstore *fs = FS(st);
    struct stat sb;

    memset(out, 0, sizeof(*out));
    if (!fs_rel_valid(rel))
        return STORE_ENOENT;
    int fd = fs_open_beneath(fs, rel, O_PATH, 0);
    if (fd < 0)
        return fs_map_read_errno(errno);
    int r = fstat(fd, &sb);
    close(fd);
    if (r < 0)
        return STORE_EIO;
    if (!S_ISREG(sb.st_mode) && !S_ISDIR(sb.st_mode))
        return STORE_EDENIED;
    out->is_dir = S_ISDIR(sb.st_mode);
    out->size = out->is_dir ? 0 : (uint64_t)sb.st_size;
    out->mtime = sb.st_mtim;
    out->id = (uint64_t)sb.st_ino;
    fres *res = out->is_dir ? NULL : fs_registry_find(fs, sb.st_dev, sb.st_ino);
    if (res) {
        out->size = res->base.size;
        out->state = res->base.state;
    } else if (!out->is_dir) {
        out->state = fs_meta_state(fs, rel);
    }
    return STORE_OK;
}

static int fs_open(store *st, const char *rel, store_res **out)
{
    fstore *fs = FS(st);
    size_t len = strlen(rel);
    fres *r;

    if (!fs_rel_valid(rel))
        return STORE_ENOENT;
    /* Readers only read: a file the server cannot write (read-only mount, immutable, 0444) is
     * followed like any other. O_NONBLOCK: a FIFO is refused after fstat, never waited on. */
    int fd = fs_open_beneath(fs, rel, O_RDONLY | O_NONBLOCK | O_NOCTTY, 0);
    if (fd < 0)
        return fs_map_read_errno(errno);
    if (len == 0 || rel[len - 1] == '/') {
        close(fd);
        return STORE_EISDIR;
    }
    int err = registry_entry(fs, fd, 0, rel, &r);
    if (err == STORE_OK)
        *out = &r->base;
    return err;
}

static int open_for_append(fstore *fs, const char *rel)
{
    const int flags = O_RDWR | O_APPEND | O_NONBLOCK | O_NOCTTY;
    int fd = fs_open_beneath(fs, rel, flags, 0);

    if (fd >= 0 || errno != ENOENT)
        return fd;
    int err = fs_make_parents(fs, rel);
    if (err != STORE_OK) {
        errno = err == STORE_ENOTDIR        ? ENOTDIR
                : err == STORE_EDENIED      ? EACCES
                : err == STORE_ENAMETOOLONG ? ENAMETOOLONG
                                            : EIO;
        return -1;
    }
    return fs_open_beneath(fs, rel, flags | O_CREAT, 0600);
}

/* The lease across processes: a write lock on the whole file, held by this open file
 * description until the last writer's bytes are written. */
static int take_lock(fres *r)
{
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};

    if (r->locked)
        return 0;
    if (fcntl(r->fd, F_OFD_SETLK, &fl) != 0)
        return errno == EAGAIN || errno == EACCES ? STORE_EBUSY : STORE_EIO;
    r->locked = 1;
    return 0;
}

static int fs_acquire(store *st, const char *rel, store_res **out)
{
    fstore *fs = FS(st);
    size_t len = strlen(rel);
    fres *r;

    if (len == 0 || rel[len - 1] == '/')
        return STORE_EISDIR;
    if (!fs_rel_valid(rel))
        return STORE_ENOENT;
    if (fs_name_too_long(rel))
        return STORE_ENAMETOOLONG;
    if (fs_meta_state(fs, rel) & STORE_CLOSED)
        return STORE_ECLOSED; /* (before anything is created) */
    int fd = open_for_append(fs, rel);
    if (fd < 0)
        return fs_map_write_errno(errno);
    int err = registry_entry(fs, fd, 1, rel, &r);
    if (err != STORE_OK)
        return err;
    if (r->base.state & (STORE_LEASED | STORE_CLOSED))
        err = r->base.state & STORE_LEASED ? STORE_EBUSY : STORE_ECLOSED;
    else
        err = take_lock(r);
    if (err != STORE_OK) {
        store_res_unref(&r->base);
        return err;
    }
    r->base.state |= STORE_LEASED;
    r->lnext = fs->leased;
    fs->leased = r;
    *out = &r->base;
    store_notify(&r->base, STORE_EV_LEASE);
    return STORE_OK;
}

void fs_lease_unlink(fres *r)
{
    fstore *fs = FS(r->base.st);

    for (fres **pp = &fs->leased; *pp; pp = &(*pp)->lnext) {
        if (*pp == r) {
            *pp = r->lnext;
            break;
        }
    }
    r->lnext = NULL;
}

static void fs_release(store_res *res)
{
    fres *r = FR(res);

    res->state &= ~(unsigned)STORE_LEASED;
    fs_lease_unlink(r);
    /* Under a sync policy the session's bytes are flushed when it ends. */
    if (res->st->opt.sync != STORE_SYNC_NONE && (r->unsynced || res->accepted > res->size))
        fs_sync_now(r);
    fs_writer_idle(r);
    store_res_ref(res); /* the watcher may drop what it holds */
    store_notify(res, STORE_EV_LEASE);
    store_res_unref(res);
    store_res_unref(res); /* the writer's */
}

static void fs_unref(store_res *res)
{
    fres *r = FR(res);
    fstore *fs = FS(res->st);

    registry_remove(fs, r);
    fs_tail_clear(r);
    fs_meta_close(r);
    close(r->fd);
    free(r);
    maybe_free(fs);
}

static int fs_res_stat(store_res *res, store_info *out)
{
    fres *r = FR(res);
    struct stat sb;

    memset(out, 0, sizeof(*out));
    if (fstat(r->fd, &sb) < 0)
        return STORE_EIO;
    out->size = res->size;
    out->state = res->state;
    out->mtime = sb.st_mtim;
    out->id = (uint64_t)sb.st_ino;
    return STORE_OK;
}

static ssize_t fs_read(store_res *res, void *buf, size_t len, uint64_t off)
{
    fres *r = FR(res);
    size_t done = 0;

    if (off >= res->size)
        return 0;
    if (len > res->size - off)
        len = (size_t)(res->size - off); /* readable bytes only */
    while (done < len) {
        ssize_t n = pread(r->fd, (uint8_t *)buf + done, len - done, (off_t)(off + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return STORE_EIO;
        if (n == 0)
            break;
        done += (size_t)n;
    }
    return (ssize_t)done;
}

static int fs_healthy(store *st)
{
    (void)st;
    return 1; /* hfs_server_healthy checks the root itself */
}

static const store_ops file_ops = {
    .name = "file",
    .close = fs_close,
    .stat = fs_stat,
    .open = fs_open,
    .acquire = fs_acquire,
    .release = fs_release,
    .unref = fs_unref,
    .res_stat = fs_res_stat,
    .append = fs_append,
    .when_written = fs_when_written,
    .wait_cancel = fs_wait_cancel,
    .peek = fs_peek,
    .read = fs_read,
    .meta_get = fs_meta_get,
    .meta_set = fs_meta_set,
    .remove = fs_remove,
    .list = fs_list,
    .healthy = fs_healthy,
};
