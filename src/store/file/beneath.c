/* beneath.c -- opening paths beneath the root and nowhere else.
 *
 * Every open goes through fs_open_beneath(): openat2(2) with RESOLVE_BENEATH |
 * RESOLVE_NO_MAGICLINKS, so neither "..", an absolute symlink nor a relative one that climbs out
 * can leave the root; on kernels without openat2 a component-by-component walk with O_NOFOLLOW
 * refuses every symlink. The root's hidden entry (metadata) is not a resource: paths into it are
 * refused before anything is opened. */
#include "store/file/fstore.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* 1 when rel is what the store accepts: no leading '/', no empty, "." or ".." components, not
 * the hidden entry or anything in it. */
int fs_rel_valid(const char *rel)
{
    const char *p = rel;
    size_t hl = sizeof(FS_HIDDEN) - 1;

    if (*p == '/' || (!strncmp(rel, FS_HIDDEN, hl) && (rel[hl] == '/' || rel[hl] == '\0')))
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
    return strlen(rel) < FS_PATH_MAX;
}

/* The fallback for kernels without openat2: walk each component refusing symlinks. */
static int open_walk(int root_fd, const char *rel, int flags, mode_t mode)
{
    char buf[FS_PATH_MAX];
    int cur = root_fd;
    char *p = buf;

    const char *src = *rel ? rel : ".";
    memcpy(buf, src, strlen(src) + 1); /* rel_valid() bounded it below FS_PATH_MAX */
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

int fs_open_beneath(fstore *st, const char *rel, int flags, mode_t mode)
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

int fs_map_read_errno(int e)
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

int fs_map_write_errno(int e)
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
int fs_make_parents(fstore *st, const char *rel)
{
    char buf[FS_PATH_MAX];
    int parent = st->root_fd;
    char *p = buf;
    int err = STORE_OK;

    memcpy(buf, rel, strlen(rel) + 1); /* rel_valid() bounded it below FS_PATH_MAX */
    for (char *slash; (slash = strchr(p, '/')) != NULL; p = slash + 1) {
        *slash = '\0';
        int fd = fs_open_beneath(st, buf, O_PATH | O_DIRECTORY, 0);
        if (fd < 0 && errno == ENOENT) {
            if (mkdirat(parent, p, 0755) == 0) {
                /* 0755 whatever the process umask: open what we made (beneath) and set it. */
                fd = fs_open_beneath(st, buf, O_RDONLY | O_DIRECTORY, 0);
                if (fd >= 0)
                    fchmod(fd, 0755);
            } else if (errno != EEXIST) {
                err = fs_map_write_errno(errno);
                break;
            } else {
                fd = fs_open_beneath(st, buf, O_PATH | O_DIRECTORY, 0);
            }
        }
        if (fd < 0) {
            err = fs_map_write_errno(errno);
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

/* 1 when a component of rel is longer than a name may be (NAME_MAX): refused before any parent
 * directory is made for it. */
int fs_name_too_long(const char *rel)
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
