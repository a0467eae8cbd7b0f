/* ns.c -- the file store's namespace: listing a directory (the hidden metadata entry left out)
 * and removing a resource with its metadata. */
#include "store/file/fstore.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int dirent_cmp(const void *a, const void *b)
{
    return strcmp(((const store_dirent *)a)->name, ((const store_dirent *)b)->name);
}

/* Fills one entry from the directory's own fd, following no symlink. */
static int dirent_fill(fstore *fs, int dfd, const char *name, store_dirent *e)
{
    struct stat sb;

    e->name = strdup(name);
    if (!e->name)
        return STORE_ENOMEM;
    if (fstatat(dfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0) {
        e->is_dir = S_ISDIR(sb.st_mode);
        e->size = S_ISREG(sb.st_mode) ? (uint64_t)sb.st_size : 0;
        e->mtime = sb.st_mtim;
        fres *r = S_ISREG(sb.st_mode) ? fs_registry_find(fs, sb.st_dev, sb.st_ino) : NULL;
        e->live = r && (r->base.state & (STORE_LEASED | STORE_OPEN));
        if (r)
            e->size = r->base.size;
    }
    return STORE_OK;
}

int fs_list(store *st, const char *rel, store_dirent **out, size_t *n)
{
    fstore *fs = FS(st);
    store_dirent *v = NULL;
    size_t cnt = 0, cap = 0;
    int err = STORE_OK;

    if (!fs_rel_valid(rel))
        return STORE_ENOENT;
    int dfd = fs_open_beneath(fs, rel, O_RDONLY | O_DIRECTORY, 0);
    if (dfd < 0)
        return errno == ENOTDIR ? STORE_ENOENT : fs_map_read_errno(errno);
    DIR *d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return STORE_EIO;
    }
    int at_root = rel[0] == '\0';
    for (struct dirent *de; (de = readdir(d)) != NULL;) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
            (at_root && !strcmp(de->d_name, FS_HIDDEN)))
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
        if ((err = dirent_fill(fs, dirfd(d), de->d_name, &v[cnt])) != STORE_OK)
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

int fs_remove(store *st, const char *rel)
{
    fstore *fs = FS(st);
    size_t len = strlen(rel);
    struct stat sb;

    if (!fs_rel_valid(rel))
        return STORE_ENOENT;
    if (len == 0 || rel[len - 1] == '/')
        return STORE_EISDIR;
    const char *slash = strrchr(rel, '/');
    char parent[FS_PATH_MAX];
    size_t plen = slash ? (size_t)(slash - rel) + 1 : 0;
    memcpy(parent, rel, plen);
    parent[plen] = '\0';
    int dfd = fs_open_beneath(fs, parent, O_PATH | O_DIRECTORY, 0);
    if (dfd < 0)
        return fs_map_read_errno(errno);
    const char *base = rel + plen;
    int err = STORE_OK;
    if (fstatat(dfd, base, &sb, AT_SYMLINK_NOFOLLOW) != 0)
        err = fs_map_read_errno(errno);
    else if (S_ISDIR(sb.st_mode))
        err = STORE_EISDIR;
    else if (!S_ISREG(sb.st_mode))
        err = STORE_EDENIED;
    if (err == STORE_OK) {
        fres *r = fs_registry_find(fs, sb.st_dev, sb.st_ino);
        if (r && (r->base.state & STORE_LEASED))
            err = STORE_EBUSY;
        else if (unlinkat(dfd, base, 0) != 0)
            err = fs_map_write_errno(errno);
    }
    close(dfd);
    if (err == STORE_OK)
        err = fs_meta_remove(fs, rel);
    return err;
}
