/* store.c -- the resource layer's calls, dispatched to the backend through its table of
 * operations; what every backend shares (reference counts, the watcher, holds on tail pieces,
 * metadata and listing helpers, error texts). */
#include "store/backend.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void store_close(store *st, store_closed_cb done, void *arg)
{
    st->ops->close(st, done, arg);
}

int store_stat(store *st, const char *rel, store_info *out)
{
    return st->ops->stat(st, rel, out);
}

int store_open(store *st, const char *rel, store_res **out)
{
    return st->ops->open(st, rel, out);
}

int store_acquire(store *st, const char *rel, store_res **out)
{
    return st->ops->acquire(st, rel, out);
}

void store_release(store_res *res)
{
    res->ops->release(res);
}

void store_res_ref(store_res *res)
{
    res->refs++;
}

void store_res_unref(store_res *res)
{
    if (--res->refs == 0)
        res->ops->unref(res);
}

const char *store_res_name(const store_res *res)
{
    return res->name;
}

int store_res_stat(store_res *res, store_info *out)
{
    return res->ops->res_stat(res, out);
}

unsigned store_state(const store_res *res)
{
    return res->state;
}

uint64_t store_size(const store_res *res)
{
    return res->size;
}

uint64_t store_accepted(const store_res *res)
{
    return res->accepted;
}

int store_res_errno(const store_res *res)
{
    return res->err;
}

int store_append(store_res *res, const struct iovec *iov, int iovcnt)
{
    int r = res->ops->append(res, iov, iovcnt);

    if (r == STORE_OK)
        for (int i = 0; i < iovcnt; i++)
            res->st->stats.appended += iov[i].iov_len;
    return r;
}

void store_get_stats(const store *st, store_stats *out)
{
    *out = st->stats;
}

int store_backlogged(const store_res *res)
{
    return res->backlogged;
}

int store_when_written(store_res *res, int kind, store_wait_cb cb, void *arg, store_wait **w)
{
    return res->ops->when_written(res, kind, cb, arg, w);
}

void store_wait_cancel(store_wait *w)
{
    if (w)
        w->res->ops->wait_cancel(w);
}

size_t store_peek(store_res *res, uint64_t off, uint64_t max, store_slice *out, size_t n)
{
    return res->ops->peek(res, off, max, out, n);
}

void store_hold(void *hold)
{
    ((store_piece *)hold)->refs++;
}

void store_unhold(void *hold)
{
    store_piece *p = hold;

    if (--p->refs == 0)
        p->free(p);
}

ssize_t store_read(store_res *res, void *buf, size_t len, uint64_t off)
{
    return res->ops->read(res, buf, len, off);
}

void store_watch(store_res *res, store_watch_cb cb, void *arg)
{
    res->watch = cb;
    res->watch_arg = cb ? arg : NULL;
}

void *store_watcher(const store_res *res)
{
    return res->watch_arg;
}

int store_meta_get(store_res *res, store_meta *out)
{
    return res->ops->meta_get(res, out);
}

int store_meta_set(store_res *res, const store_meta *m)
{
    return res->ops->meta_set(res, m);
}

void store_meta_free(store_meta *m)
{
    if (!m)
        return;
    free(m->content_type);
    free(m->blob);
    m->content_type = NULL;
    m->blob = NULL;
    m->blob_len = 0;
}

int store_remove(store *st, const char *rel)
{
    return st->ops->remove(st, rel);
}

int store_list(store *st, const char *rel, store_dirent **out, size_t *n)
{
    return st->ops->list(st, rel, out, n);
}

void store_dirents_free(store_dirent *d, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(d[i].name);
    free(d);
}

int store_healthy(store *st)
{
    return st->ops->healthy ? st->ops->healthy(st) : 1;
}

void store_log(store *st, int level, const char *fmt, ...)
{
    char line[512];
    va_list ap;

    if (!st->opt.log)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    st->opt.log(st->opt.log_data, level, line);
}

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
    case STORE_ECLOSED:
        return "the stream is closed";
    default:
        return "unknown store error";
    }
}

void store_on_created(store *st, store_created_cb cb, void *arg)
{
    st->created = cb;
    st->created_arg = cb ? arg : NULL;
}

int store_shared(const store *st)
{
    return st->shared;
}
