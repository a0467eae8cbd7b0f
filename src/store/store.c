/* store.c -- resources under a root: resolution beneath the root, the registry, appends, the tail.
 *
 * Every open goes through open_beneath(): openat2(2) with RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
 * so neither "..", an absolute symlink nor a relative one that climbs out can leave the root; on
 * kernels without openat2 a component-by-component walk with O_NOFOLLOW refuses every symlink.
 * The registry is keyed by (device, inode), so two names for one file share one appender slot. */
#include "store/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define STORE_CHUNK_BYTES  ((size_t)64 * 1024) /* one malloc per tail chunk, header included */
#define STORE_PATH_MAX     4096
#define STORE_BUCKETS_INIT 64
#define STORE_IOV_GROUP    256 /* vectors per writev (IOV_MAX is 1024) */

struct store {
    int root_fd;
    int no_openat2; /* the kernel lacks openat2: walk components instead */
    store_options opt;
    store_res **buckets;
    size_t nbuckets, count;
};

const char *store_strerror(int err)
{
    switch (err) {
    case STORE_OK:
        return "ok";
    case STORE_ENOENT:
        return "no such file";
    case STORE_EISDIR:
        return "is a directory";
    case STORE_ENOTDIR:
        return "a parent is not a directory";
    case STORE_EBUSY:
        return "path already has an active writer";
    case STORE_EDENIED:
        return "access denied";
    case STORE_EIO:
        return "I/O error";
    case STORE_ENOMEM:
        return "out of memory";
    case STORE_EFULL:
        return "resource size limit reached";
    case STORE_EAGAIN:
        return "out of file descriptors";
    case STORE_ENAMETOOLONG:
        return "name too long";
    default:
        return "unknown store error";
    }
}

/* 1 when rel is what the store accepts: no leading '/', no empty, "." or ".." components. */
static int rel_valid(const char *rel)
{
    const char *p = rel;

    if (*p == '/')
        return 0;
    while (*p) {
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if ((n == 0 && e) || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return 0;
        if (!e)
            break;
        p = e + 1;
    }
    return strlen(rel) < STORE_PATH_MAX;
}

/* The fallback for kernels without openat2: walk each component refusing symlinks. */
static int open_walk(int root_fd, const char *rel, int flags, mode_t mode)
{
    char buf[STORE_PATH_MAX];
    int cur = root_fd;
    char *p = buf;

    const char *src = *rel ? rel : ".";
    memcpy(buf, src, strlen(src) + 1); /* rel_valid() bounded it below STORE_PATH_MAX */
    for (;;) {
        char *slash = strchr(p, '/');
        if (!slash || slash[1] == '\0') {
            int fd = openat(cur, p, flags | O_NOFOLLOW, mode);
            int saved = errno;
            if (cur != root_fd)
                close(cur);
            errno = saved;
            return fd;
        }
        *slash = '\0';
        int next = openat(cur, p, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        int saved = errno;
        if (cur != root_fd)
            close(cur);
        if (next < 0) {
            errno = saved == ELOOP ? EXDEV : saved;
            return -1;
        }
        cur = next;
        p = slash + 1;
    }
}

static int open_beneath(store *st, const char *rel, int flags, mode_t mode)
{
    struct open_how how;

    if (!st->no_openat2) {
        memset(&how, 0, sizeof(how));
        how.flags = (uint64_t)(flags | O_CLOEXEC);
        how.mode = (flags & O_CREAT) ? mode : 0;
        how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
        long fd;
        do {
            fd = syscall(SYS_openat2, st->root_fd, *rel ? rel : ".", &how, sizeof(how));
        } while (fd < 0 && errno == EINTR);
        if (fd >= 0 || errno != ENOSYS)
            return (int)fd;
        st->no_openat2 = 1;
    }
    return open_walk(st->root_fd, rel, flags | O_CLOEXEC, mode);
}

int store_new(const char *root, const store_options *o, store **out)
{
    store *st = calloc(1, sizeof(*st));

    if (!st)
        return STORE_ENOMEM;
    st->opt = *o;
    st->nbuckets = STORE_BUCKETS_INIT;
    st->buckets = calloc(st->nbuckets, sizeof(store_res *));
    if (!st->buckets)
        goto err;
    st->root_fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (st->root_fd < 0) {
        int saved = errno;
        free(st->buckets);
        free(st);
        errno = saved;
        return saved == ENOENT || saved == ENOTDIR ? STORE_ENOENT : STORE_EIO;
    }
    *out = st;
    return STORE_OK;
err:
    free(st);
    return STORE_ENOMEM;
}

void store_free(store *st)
{
    if (!st)
        return;
    close(st->root_fd);
    free(st->buckets);
    free(st);
}

static size_t bucket_of(const store *st, dev_t dev, ino_t ino)
{
    uint64_t h = (uint64_t)ino * 0x9e3779b97f4a7c15ull ^ (uint64_t)dev;
    return (size_t)(h >> 17) & (st->nbuckets - 1);
}

static store_res *registry_find(const store *st, dev_t dev, ino_t ino)
{
    for (store_res *r = st->buckets[bucket_of(st, dev, ino)]; r; r = r->hnext)
        if (r->dev == dev && r->ino == ino)
            return r;
    return NULL;
}

static void registry_grow(store *st)
{
    size_t n = st->nbuckets * 2;
    store_res **b = calloc(n, sizeof(store_res *));

    if (!b)
        return; /* chains just get longer */
    store_res **old = st->buckets;
    size_t oldn = st->nbuckets;
    st->buckets = b;
    st->nbuckets = n;
    for (size_t i = 0; i < oldn; i++) {
        store_res *r = old[i];
        while (r) {
            store_res *next = r->hnext;
            size_t k = bucket_of(st, r->dev, r->ino);
            r->hnext = b[k];
            b[k] = r;
            r = next;
        }
    }
    free(old);
}

static void registry_add(store *st, store_res *res)
{
    if (st->count >= st->nbuckets)
        registry_grow(st);
    size_t k = bucket_of(st, res->dev, res->ino);
    res->hnext = st->buckets[k];
    st->buckets[k] = res;
    st->count++;
}

static void registry_remove(store *st, store_res *res)
{
    store_res **pp = &st->buckets[bucket_of(st, res->dev, res->ino)];

    while (*pp && *pp != res)
        pp = &(*pp)->hnext;
    if (*pp) {
        *pp = res->hnext;
        st->count--;
    }
}

static int map_read_errno(int e)
{
    switch (e) {
    case EMFILE:
    case ENFILE:
        return STORE_EAGAIN;
    case ENOENT:
    case ENOTDIR:
    case ENAMETOOLONG:
        return STORE_ENOENT;
    case EXDEV:
    case ELOOP:
    case EACCES:
    case EPERM:
    case ENXIO:
        return STORE_EDENIED;
    default:
        return STORE_EIO;
    }
}

int store_open_read(store *st, const char *rel, store_file *out)
{
    memset(out, 0, sizeof(*out));
    out->fd = -1;
    if (!rel_valid(rel))
        return STORE_EDENIED;
    int fd = open_beneath(st, rel, O_RDONLY | O_NONBLOCK | O_NOCTTY, 0);
    if (fd < 0)
        return map_read_errno(errno);
    if (fstat(fd, &out->st) < 0 || !(S_ISREG(out->st.st_mode) || S_ISDIR(out->st.st_mode))) {
        int err = S_ISREG(out->st.st_mode) || S_ISDIR(out->st.st_mode) ? STORE_EIO : STORE_EDENIED;
        close(fd);
        return err;
    }
    out->fd = fd;
    if (S_ISREG(out->st.st_mode)) {
        store_res *res = registry_find(st, out->st.st_dev, out->st.st_ino);
        if (res && res->appending) {
            store_res_ref(res);
            out->live = res;
        }
    }
    return STORE_OK;
}

static int map_write_errno(int e)
{
    switch (e) {
    case EMFILE:
    case ENFILE:
        return STORE_EAGAIN;
    case EISDIR:
        return STORE_EISDIR;
    case ENOTDIR:
    case EEXIST:
        return STORE_ENOTDIR;
    case EXDEV:
    case ELOOP:
    case EACCES:
    case EPERM:
    case ENXIO:
    case EROFS:
        return STORE_EDENIED;
    case ENOMEM:
        return STORE_ENOMEM;
    case ENAMETOOLONG:
        return STORE_ENAMETOOLONG;
    default:
        return STORE_EIO;
    }
}

/* Creates the parent directories of rel beneath the root (0755). */
static int make_parents(store *st, const char *rel)
{
    char buf[STORE_PATH_MAX];
    int parent = st->root_fd;
    char *p = buf;
    int err = STORE_OK;

    memcpy(buf, rel, strlen(rel) + 1); /* rel_valid() bounded it below STORE_PATH_MAX */
    for (char *slash; (slash = strchr(p, '/')) != NULL; p = slash + 1) {
        *slash = '\0';
        int fd = open_beneath(st, buf, O_PATH | O_DIRECTORY, 0);
        if (fd < 0 && errno == ENOENT) {
            if (mkdirat(parent, p, 0755) == 0) {
                /* 0755 whatever the process umask: open what we made (beneath) and set it. */
                fd = open_beneath(st, buf, O_RDONLY | O_DIRECTORY, 0);
                if (fd >= 0)
                    fchmod(fd, 0755);
            } else if (errno != EEXIST) {
                err = map_write_errno(errno);
                break;
            } else {
                fd = open_beneath(st, buf, O_PATH | O_DIRECTORY, 0);
            }
        }
        if (fd < 0) {
            err = map_write_errno(errno);
            break;
        }
        if (parent != st->root_fd)
            close(parent);
        parent = fd;
        *slash = '/';
    }
    if (parent != st->root_fd)
        close(parent);
    return err;
}

static int open_for_append(store *st, const char *rel)
{
    const int flags = O_RDWR | O_APPEND | O_NONBLOCK | O_NOCTTY;
    int fd = open_beneath(st, rel, flags, 0);

    if (fd >= 0 || errno != ENOENT)
        return fd;
    int err = make_parents(st, rel);
    if (err != STORE_OK) {
        errno = err == STORE_ENOTDIR        ? ENOTDIR
                : err == STORE_EDENIED      ? EACCES
                : err == STORE_ENAMETOOLONG ? ENAMETOOLONG
                                            : EIO;
        return -1;
    }
    return open_beneath(st, rel, flags | O_CREAT, 0600);
}

static void tail_clear(store_res *res)
{
    store_chunk *c = res->oldest;

    while (c) {
        store_chunk *next = c->next;
        store_chunk_unref(c);
        c = next;
    }
    res->oldest = res->newest = NULL;
    res->tail_bytes = 0;
}

static store_res *res_new(store *st, int fd, const struct stat *sb, const char *rel)
{
    size_t n = strlen(rel);
    store_res *res = calloc(1, sizeof(*res) + n + 1);

    if (!res)
        return NULL;
    memcpy((char *)(res + 1), rel, n + 1);
    res->name = (const char *)(res + 1);
    res->st = st;
    res->fd = fd;
    res->dev = sb->st_dev;
    res->ino = sb->st_ino;
    res->size = (uint64_t)sb->st_size;
    registry_add(st, res);
    return res;
}

/* Finds or creates the registry entry for the file open at fd (which it takes over); writable
 * when fd was opened for appending. An entry made by a reader holds a read-only descriptor until
 * a writer brings a writable one. */
static int registry_entry(store *st, int fd, int writable, const char *rel, store_res **out)
{
    struct stat sb;

    if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
        int err = S_ISDIR(sb.st_mode) ? STORE_EISDIR : STORE_EDENIED;
        close(fd);
        return err;
    }
    store_res *res = registry_find(st, sb.st_dev, sb.st_ino);
    if (res && writable && res->rdonly) {
        close(res->fd); /* (only readers used it: no write or sync is in flight on it) */
        res->fd = fd;
        res->rdonly = 0;
    } else if (res) {
        close(fd);
    }
    if (res) {
        /* (Not while bytes are being written behind: the file is ahead of the size then.) */
        if (!res->appending && !res->staged && fstat(res->fd, &sb) == 0 &&
            (uint64_t)sb.st_size != res->size) {
            res->size = (uint64_t)sb.st_size; /* changed behind our back: the tail is stale */
            tail_clear(res);
        }
    } else if (!(res = res_new(st, fd, &sb, rel))) {
        close(fd);
        return STORE_ENOMEM;
    } else {
        res->rdonly = !writable;
    }
    *out = res;
    return STORE_OK;
}

int store_open_res(store *st, const char *rel, store_res **out)
{
    size_t len = strlen(rel);

    if (len == 0 || rel[len - 1] == '/')
        return STORE_EISDIR;
    if (!rel_valid(rel))
        return STORE_EDENIED;
    /* Followers only read: a file the server cannot write (read-only mount, immutable, 0444) is
     * followed like any other. */
    int fd = open_beneath(st, rel, O_RDONLY | O_NONBLOCK | O_NOCTTY, 0);
    if (fd < 0)
        return map_read_errno(errno);
    int err = registry_entry(st, fd, 0, rel, out);
    if (err == STORE_OK)
        (*out)->refs++;
    return err;
}

/* 1 when a component of rel is longer than a name may be (NAME_MAX): refused before any parent
 * directory is made for it. */
static int name_too_long(const char *rel)
{
    for (const char *p = rel; *p;) {
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n > NAME_MAX)
            return 1;
        if (!e)
            break;
        p = e + 1;
    }
    return 0;
}

int store_acquire(store *st, const char *rel, store_res **out)
{
    size_t len = strlen(rel);
    if (len == 0 || rel[len - 1] == '/')
        return STORE_EISDIR;
    if (!rel_valid(rel))
        return STORE_EDENIED;
    if (name_too_long(rel))
        return STORE_ENAMETOOLONG;
    int fd = open_for_append(st, rel);
    if (fd < 0)
        return map_write_errno(errno);
    store_res *res;
    int err = registry_entry(st, fd, 1, rel, &res);
    if (err != STORE_OK)
        return err;
    if (res->appending)
        return STORE_EBUSY;
    res->appending = 1;
    res->refs++;
    *out = res;
    return STORE_OK;
}

void store_release(store_res *res)
{
    res->appending = 0;
    store_res_unref(res);
}

void store_res_ref(store_res *res)
{
    res->refs++;
}

void store_res_unref(store_res *res)
{
    if (--res->refs > 0)
        return;
    registry_remove(res->st, res);
    tail_clear(res);
    close(res->fd);
    free(res);
}

void store_chunk_ref(store_chunk *c)
{
    c->refs++;
}

void store_chunk_unref(store_chunk *c)
{
    if (--c->refs == 0)
        free(c);
}

static store_chunk *chunk_new(uint64_t start)
{
    store_chunk *c = malloc(STORE_CHUNK_BYTES);

    if (!c)
        return NULL;
    c->start = start;
    c->len = 0;
    c->cap = STORE_CHUNK_BYTES - sizeof(*c);
    c->refs = 1; /* the tail's own reference */
    c->next = NULL;
    return c;
}

/* Copies n bytes at p (which land at resource offset `at`) into the tail. */
static int tail_put(store_res *res, const uint8_t *p, size_t n, uint64_t at)
{
    while (n > 0) {
        store_chunk *c = res->newest;
        if (!c || c->len == c->cap) {
            store_chunk *fresh = chunk_new(at);
            if (!fresh)
                return -1;
            if (c)
                c->next = fresh;
            else
                res->oldest = fresh;
            res->newest = c = fresh;
        }
        size_t k = c->cap - c->len < n ? c->cap - c->len : n;
        memcpy(c->data + c->len, p, k);
        c->len += k;
        res->tail_bytes += k;
        p += k;
        n -= k;
        at += k;
    }
    /* Drop whole old chunks while what remains still covers tail_max; never one holding bytes
     * not yet in the file. */
    while (res->oldest != res->newest && res->oldest->start + res->oldest->len <= res->size &&
           res->tail_bytes - res->oldest->len >= res->st->opt.tail_max) {
        store_chunk *old = res->oldest;
        res->oldest = old->next;
        res->tail_bytes -= old->len;
        store_chunk_unref(old);
    }
    return 0;
}

static void tail_append(store_res *res, const struct iovec *iov, int iovcnt, size_t n)
{
    uint64_t at = res->size + res->staged;

    if (res->st->opt.tail_max == 0)
        return;
    for (int i = 0; i < iovcnt && n > 0; i++) {
        size_t k = iov[i].iov_len < n ? iov[i].iov_len : n;
        if (tail_put(res, iov[i].iov_base, k, at) < 0) {
            tail_clear(res); /* out of memory: followers read the file instead */
            return;
        }
        at += k;
        n -= k;
    }
}

static size_t iov_total(const struct iovec *iov, int iovcnt)
{
    size_t n = 0;
    for (int i = 0; i < iovcnt; i++)
        n += iov[i].iov_len;
    return n;
}

/* writev of one group of at most STORE_IOV_GROUP vectors until all is written or an error;
 * returns bytes written, errno set on a short count. */
static size_t write_group(int fd, const struct iovec *iov_in, int iovcnt)
{
    struct iovec iov[STORE_IOV_GROUP];
    struct iovec *v = iov;
    size_t done = 0;

    memcpy(iov, iov_in, sizeof(*iov) * (size_t)iovcnt);
    while (iovcnt > 0) {
        ssize_t n = writev(fd, v, iovcnt);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            break;
        }
        if (n == 0) {
            errno = EIO;
            break;
        }
        done += (size_t)n;
        while (iovcnt > 0 && (size_t)n >= v->iov_len) {
            n -= (ssize_t)v->iov_len;
            v++;
            iovcnt--;
        }
        if (iovcnt > 0) {
            v->iov_base = (uint8_t *)v->iov_base + n;
            v->iov_len -= (size_t)n;
        }
    }
    return done;
}

static size_t write_all(int fd, const struct iovec *iov, int iovcnt)
{
    size_t done = 0;

    for (int i = 0; i < iovcnt; i += STORE_IOV_GROUP) {
        int k = iovcnt - i < STORE_IOV_GROUP ? iovcnt - i : STORE_IOV_GROUP;
        size_t want = iov_total(iov + i, k);
        size_t n = write_group(fd, iov + i, k);
        done += n;
        if (n < want)
            break;
    }
    return done;
}

int store_append(store_res *res, const struct iovec *iov, int iovcnt, size_t *written)
{
    size_t want = iov_total(iov, iovcnt);

    *written = 0;
    if (want == 0)
        return STORE_OK;
    if (res->st->opt.size_max &&
        (res->size >= res->st->opt.size_max || want > res->st->opt.size_max - res->size))
        return STORE_EFULL;
    size_t n = write_all(res->fd, iov, iovcnt);
    int saved = errno;
    tail_append(res, iov, iovcnt, n);
    res->size += n;
    res->unsynced |= n > 0;
    *written = n;
    errno = saved;
    return n == want ? STORE_OK : STORE_EIO;
}

size_t store_peek(const store_res *res, uint64_t off, uint64_t max, store_slice *out, size_t nmax)
{
    const store_chunk *c = res->oldest;
    size_t k = 0;

    if (!c || off < c->start || off >= res->size)
        return 0;
    while (c && off >= c->start + c->len)
        c = c->next;
    while (c && k < nmax && max > 0) {
        size_t from = (size_t)(off - c->start);
        size_t n = c->len - from;
        if (n > max)
            n = (size_t)max;
        out[k].chunk = (store_chunk *)c;
        out[k].p = c->data + from;
        out[k].len = n;
        k++;
        off += n;
        max -= n;
        c = c->next;
    }
    return k;
}

int store_res_fd(const store_res *res)
{
    return res->fd;
}

int store_stage(store_res *res, const struct iovec *iov, int iovcnt)
{
    size_t want = iov_total(iov, iovcnt);
    uint64_t at = res->size + res->staged;

    if (want == 0)
        return STORE_OK;
    if (res->st->opt.size_max && (at >= res->st->opt.size_max || want > res->st->opt.size_max - at))
        return STORE_EFULL;
    for (int i = 0; i < iovcnt; i++) {
        if (tail_put(res, iov[i].iov_base, iov[i].iov_len, at) < 0) {
            store_staged_drop(res); /* nothing half-staged: drop back to the written size */
            return STORE_ENOMEM;
        }
        at += iov[i].iov_len;
        res->staged += iov[i].iov_len;
    }
    return STORE_OK;
}

size_t store_staged_iov(store_res *res, size_t max, struct iovec *iov, int niov, int *nvec,
                        store_chunk **refs, int *nrefs)
{
    uint64_t off = res->size, left = res->staged < max ? res->staged : max;
    store_chunk *c = res->oldest;
    size_t total = 0;

    *nvec = *nrefs = 0;
    while (c && off >= c->start + c->len)
        c = c->next;
    for (; c && left > 0 && *nvec < niov; c = c->next) {
        size_t from = (size_t)(off - c->start);
        size_t n = c->len - from < left ? c->len - from : (size_t)left;
        iov[*nvec].iov_base = c->data + from;
        iov[(*nvec)++].iov_len = n;
        store_chunk_ref(c);
        refs[(*nrefs)++] = c;
        off += n;
        left -= n;
        total += n;
    }
    return total;
}

void store_staged_written(store_res *res, size_t n)
{
    res->size += n;
    res->staged -= n;
    res->unsynced |= n > 0;
}

uint64_t store_staged_drop(store_res *res)
{
    uint64_t dropped = res->staged;
    store_chunk **pp = &res->oldest, *last = NULL;

    /* Keep the chunks up to the size (the last one cut there), free the rest. */
    while (*pp && (*pp)->start < res->size) {
        last = *pp;
        pp = &(*pp)->next;
    }
    store_chunk *c = *pp;
    *pp = NULL;
    while (c) {
        store_chunk *next = c->next;
        res->tail_bytes -= c->len;
        store_chunk_unref(c);
        c = next;
    }
    if (last && last->start + last->len > res->size) {
        res->tail_bytes -= (size_t)(last->start + last->len - res->size);
        last->len = (size_t)(res->size - last->start);
    }
    res->newest = last;
    if (!last)
        res->oldest = NULL;
    res->staged = 0;
    return dropped;
}

ssize_t store_pread(const store_res *res, void *buf, size_t len, uint64_t off)
{
    size_t done = 0;

    while (done < len) {
        ssize_t n = pread(res->fd, (uint8_t *)buf + done, len - done, (off_t)(off + done));
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

static int dirent_cmp(const void *a, const void *b)
{
    return strcmp(((const store_dirent *)a)->name, ((const store_dirent *)b)->name);
}

/* Fills one entry from the directory's own fd, following no symlink. */
static int dirent_fill(store *st, int dfd, const char *name, store_dirent *e)
{
    struct stat sb;

    e->name = strdup(name);
    if (!e->name)
        return STORE_ENOMEM;
    if (fstatat(dfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0) {
        e->is_dir = S_ISDIR(sb.st_mode);
        e->size = S_ISREG(sb.st_mode) ? (uint64_t)sb.st_size : 0;
        store_res *res = S_ISREG(sb.st_mode) ? registry_find(st, sb.st_dev, sb.st_ino) : NULL;
        e->live = res && res->appending;
        if (e->live)
            e->size = res->size;
    }
    return STORE_OK;
}

int store_list(store *st, int fd, store_dirent **out, size_t *n)
{
    int dfd = dup(fd);
    DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
    store_dirent *v = NULL;
    size_t cnt = 0, cap = 0;
    int err = STORE_OK;

    if (!d) {
        if (dfd >= 0)
            close(dfd);
        return STORE_EIO;
    }
    rewinddir(d);
    for (struct dirent *de; (de = readdir(d)) != NULL;) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if (cnt == cap) {
            size_t ncap = cap ? cap * 2 : 32;
            store_dirent *nv = realloc(v, ncap * sizeof(*nv));
            if (!nv) {
                err = STORE_ENOMEM;
                break;
            }
            v = nv;
            cap = ncap;
        }
        memset(&v[cnt], 0, sizeof(v[cnt]));
        if ((err = dirent_fill(st, dirfd(d), de->d_name, &v[cnt])) != STORE_OK)
            break;
        cnt++;
    }
    closedir(d);
    if (err != STORE_OK) {
        store_dirents_free(v, cnt);
        return err;
    }
    if (cnt)
        qsort(v, cnt, sizeof(*v), dirent_cmp);
    *out = v;
    *n = cnt;
    return STORE_OK;
}

void store_dirents_free(store_dirent *d, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(d[i].name);
    free(d);
}
