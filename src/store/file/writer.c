/* writer.c -- appends: bytes are staged in the resource's in-memory tail and a job on libuv's
 * thread pool writes them to the file, so that the event loop (socket reads, follower writes) and
 * the disk work on different cores. Without a tail (tail_max 0) they are written at once.
 *
 * One job per resource at a time keeps the bytes in order. The readable size advances only when a
 * job has put bytes in the file, so a reader never sees a byte the file lacks, even after a crash.
 * When more than FS_BACKLOG_HIGH bytes wait, the resource is backlogged (the writer should stop
 * sending) until they drop under FS_BACKLOG_LOW (STORE_EV_DRAINED). A failed write drops the
 * staged bytes and tells the watcher (STORE_EV_FAILED). */
#include "store/file/fstore.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>

/* Bytes per job: small enough that the readable size advances often. */
#define FS_JOB_MAX ((size_t)1 << 20)
/* Staged bytes that make the resource backlogged, and that end it. */
#define FS_BACKLOG_HIGH ((size_t)16 << 20)
#define FS_BACKLOG_LOW  ((size_t)4 << 20)
/* Staged bytes written at once, on the loop, when no job runs. */
#define FS_INLINE    ((size_t)64 << 10)
#define FS_IOV_GROUP 256 /* vectors per writev without a tail (IOV_MAX is 1024) */

/* Writes iov to fd, all of it or up to an error; returns the bytes written, *err the errno. */
static size_t write_iov(int fd, struct iovec *v, int n, int *err)
{
    size_t done = 0;

    *err = 0;
    while (n > 0) {
        ssize_t w = writev(fd, v, n);
        if (w < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (w <= 0) {
            *err = w < 0 ? errno : EIO;
            break;
        }
        done += (size_t)w;
        while (n > 0 && (size_t)w >= v->iov_len) {
            w -= (ssize_t)v->iov_len;
            v++;
            n--;
        }
        if (n > 0) {
            v->iov_base = (uint8_t *)v->iov_base + w;
            v->iov_len -= (size_t)w;
        }
    }
    return done;
}

static void job_write(fjob *j)
{
    j->written = write_iov(j->res->fd, j->iov, j->niov, &j->err);
}

static void job_work(uv_work_t *req)
{
    job_write(req->data);
}

/* n staged bytes reached the file. */
static void staged_written(fres *r, size_t n)
{
    r->base.size += n;
    r->unsynced |= n > 0;
}

/* A write failed: the staged bytes are gone; the watcher ends the writer, readers stop at the
 * size. */
static unsigned write_failed(fres *r, int err)
{
    uint64_t dropped = fs_staged_drop(r);

    r->base.err = err;
    r->base.st->stats.write_errors++;
    store_log(r->base.st, 0, "append /%s: write failed: %s (%llu bytes not written)", r->name,
              strerror(err), (unsigned long long)dropped);
    return STORE_EV_FAILED;
}

/* What a finished write changes: size, backlog, lock; then the waits it satisfied. */
static void after_write(fres *r, fjob *j)
{
    unsigned ev = j->written ? STORE_EV_GROWN : 0;

    staged_written(r, j->written);
    for (int i = 0; i < j->nrefs; i++)
        store_unhold(j->refs[i]);
    if (j->err)
        ev |= write_failed(r, j->err);
    if (r->base.backlogged && r->base.accepted - r->base.size < FS_BACKLOG_LOW) {
        r->base.backlogged = 0;
        ev |= STORE_EV_DRAINED;
    }
    store_notify(&r->base, ev);
    fs_waits_ready(r);
    if (!(r->base.state & STORE_LEASED))
        fs_writer_idle(r);
}

static void job_kick(fres *r);

static void job_done(uv_work_t *req, int status)
{
    fjob *j = req->data;
    fres *r = j->res;
    fstore *fs = FS(r->base.st);

    (void)status;
    r->job_on = 0;
    after_write(r, j);
    if (r->base.accepted > r->base.size)
        job_kick(r);
    store_res_unref(&r->base);
    fs_pending_done(fs);
}

static void job_kick(fres *r)
{
    fstore *fs = FS(r->base.st);
    fjob *j = &r->job;

    if (r->job_on || r->base.accepted == r->base.size)
        return;
    memset(j, 0, sizeof(*j));
    j->req.data = j;
    j->res = r;
    j->len = fs_staged_iov(r, FS_JOB_MAX, j->iov, FS_JOB_IOV, &j->niov, j->refs, &j->nrefs);
    store_res_ref(&r->base);
    r->job_on = 1;
    fs->pending++;
    if (uv_queue_work(fs->loop, &j->req, job_work, job_done) != 0) {
        j->err = EIO;
        job_done(&j->req, 0);
    }
}

/* A small amount with nothing in flight is written right here: a few microseconds, and a reader
 * gets it in this round instead of after a trip through the thread pool (which, on a busy or
 * single core, waits for the loop to go idle). */
static int write_inline(fres *r)
{
    fjob j;

    memset(&j, 0, sizeof(j));
    j.res = r;
    j.len = fs_staged_iov(r, FS_INLINE, j.iov, FS_JOB_IOV, &j.niov, j.refs, &j.nrefs);
    job_write(&j);
    store_res_ref(&r->base); /* the watcher may end the writer */
    after_write(r, &j);
    int err = j.err;
    store_res_unref(&r->base);
    errno = err;
    return err ? STORE_EIO : STORE_OK;
}

static size_t iov_total(const struct iovec *iov, int iovcnt)
{
    size_t n = 0;

    for (int i = 0; i < iovcnt; i++)
        n += iov[i].iov_len;
    return n;
}

/* Without a tail: straight to the file, in groups of vectors. */
static int append_direct(fres *r, const struct iovec *iov_in, int iovcnt)
{
    struct iovec iov[FS_IOV_GROUP];
    size_t done = 0;
    int err = 0;

    for (int i = 0; i < iovcnt && !err; i += FS_IOV_GROUP) {
        int k = iovcnt - i < FS_IOV_GROUP ? iovcnt - i : FS_IOV_GROUP;
        memcpy(iov, iov_in + i, sizeof(*iov) * (size_t)k);
        done += write_iov(r->fd, iov, k, &err);
    }
    r->base.accepted += done;
    staged_written(r, done);
    store_res_ref(&r->base);
    store_notify(&r->base, (done ? STORE_EV_GROWN : 0) | (err ? write_failed(r, err) : 0));
    store_res_unref(&r->base);
    errno = err;
    return err ? STORE_EIO : STORE_OK;
}

int fs_append(store_res *res, const struct iovec *iov, int iovcnt)
{
    fres *r = FR(res);
    uint64_t max = res->st->opt.size_max, at = res->accepted;
    size_t want = iov_total(iov, iovcnt);

    if (want == 0)
        return STORE_OK;
    if (res->state & STORE_CLOSED)
        return STORE_ECLOSED;
    if (max && (at > max || want > max - at))
        return STORE_EFULL;
    if (res->st->opt.tail_max == 0)
        return append_direct(r, iov, iovcnt);
    for (int i = 0; i < iovcnt; i++) {
        if (fs_tail_put(r, iov[i].iov_base, iov[i].iov_len, at) < 0) {
            fs_tail_cut(r, res->accepted); /* nothing half-staged: as before this call */
            return STORE_ENOMEM;
        }
        at += iov[i].iov_len;
    }
    res->accepted = at;
    if (!r->job_on && res->accepted - res->size <= FS_INLINE)
        return write_inline(r);
    job_kick(r);
    if (res->accepted - res->size > FS_BACKLOG_HIGH)
        res->backlogged = 1; /* the disk is behind: the writer should let TCP slow it down */
    return STORE_OK;
}

void fs_writer_idle(fres *r)
{
    struct flock fl = {.l_type = F_UNLCK, .l_whence = SEEK_SET};

    /* The lock goes only once the last writer's bytes are in the file: another process that
     * takes it next appends after them. */
    if (!r->locked || r->job_on || r->base.accepted != r->base.size)
        return;
    fcntl(r->fd, F_OFD_SETLK, &fl);
    r->locked = 0;
}
