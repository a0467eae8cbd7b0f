/* wb.c -- write-behind: appended bytes are staged in the resource's in-memory tail, and a job on
 * libuv's thread pool writes them to the file, so that the event loop (socket reads, follower
 * writes) and the disk work on different cores.
 *
 * One job per resource at a time keeps the bytes in order. The size followers may read advances
 * only when a job has put bytes in the file, so a follower never sees a byte the file lacks, even
 * after a crash. When more than WB_HIGH bytes wait, the appender is not read until they drop under
 * WB_LOW: its TCP window then slows it down, and staged memory stays bounded. A failed write drops
 * the staged bytes and ends the session like a synchronous failure would (1011, or 507/500). */
#include "server/internal.h"

#include <errno.h>
#include <string.h>
#include <sys/uio.h>

/* Bytes per job: small enough that the size followers may read advances often. */
#define WB_JOB_MAX ((size_t)1 << 20)
/* Staged bytes that stop reading the appender, and that start it again. */
#define WB_HIGH ((size_t)16 << 20)
#define WB_LOW  ((size_t)4 << 20)
/* Staged bytes written at once, on the loop, when no job runs. */
#define WB_INLINE ((size_t)64 << 10)

/* Writes the job's bytes, all of them or up to an error: on the thread pool, or inline. */
static void wb_write(wb_job *j)
{
    struct iovec *v = j->iov;
    int n = j->niov;
    int fd = store_res_fd(j->res);

    while (n > 0) {
        ssize_t w = writev(fd, v, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            j->err = w < 0 ? errno : EIO;
            return;
        }
        j->written += (size_t)w;
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
}

static void wb_work(uv_work_t *req)
{
    wb_write(req->data);
}

/* A write failed: the staged bytes are gone; the session that sent them ends, followers are told
 * the stream ends where the file does. */
static void wb_failed(hfs_server *s, srv_res *sr, int err)
{
    uint64_t dropped = store_staged_drop(sr->res);

    srv_log(s, HFS_LOG_ERROR, "append /%s: write failed: %s (%llu bytes not written)",
            sr->res->name, strerror(err), (unsigned long long)dropped);
    for (conn *c = sr->followers; c; c = c->u.f.next)
        if (c->u.f.end != UINT64_MAX && c->u.f.end > sr->res->size)
            c->u.f.end = sr->res->size;
    if (sr->appender)
        append_write_failed(sr->appender, err);
}

/* Back on the loop. Everything about the fan-out state is settled first; then the syncs and waits
 * that were waiting for these bytes run, and they may end sessions and free that state. */
static void wb_done(uv_work_t *req, int status)
{
    wb_job *j = req->data;
    srv_res *sr = j->sr;
    store_res *res = j->res;
    hfs_server *s = sr->srv;

    (void)status;
    store_staged_written(res, j->written);
    for (int i = 0; i < j->nrefs; i++)
        store_chunk_unref(j->refs[i]);
    if (j->written)
        srv_mark_dirty(sr);
    if (j->err)
        wb_failed(s, sr, j->err); /* (the job is still marked: nothing is freed meanwhile) */
    sr->wb_job = NULL;
    srv_sync *ready = srv_sync_take_ready(res);
    if (res->staged)
        wb_kick(s, sr);
    if (sr->reading_paused && res->staged < WB_LOW && sr->appender) {
        sr->reading_paused = 0;
        conn_read_start(sr->appender);
    }
    srv_res_maybe_free(s, sr);
    srv_sync_issue(ready); /* sr may be gone from here on */
    store_res_unref(res);
    srv_handle_released(s);
}

void wb_kick(hfs_server *s, srv_res *sr)
{
    store_res *res = sr->res;
    wb_job *j;

    if (sr->wb_job || !res->staged)
        return;
    j = &sr->wb;
    memset(j, 0, sizeof(*j));
    j->req.data = j;
    j->sr = sr;
    j->res = res;
    j->len = store_staged_iov(res, WB_JOB_MAX, j->iov, WB_IOV, &j->niov, j->refs, &j->nrefs);
    store_res_ref(res);
    sr->wb_job = j;
    s->handles++; /* the server is not freed while a job runs */
    if (uv_queue_work(s->loop, &j->req, wb_work, wb_done) != 0) {
        j->err = EIO;
        wb_done(&j->req, 0);
    }
}

/* A small amount with nothing in flight is written right here: a few microseconds, and a follower
 * gets it in this round instead of after a trip through the thread pool (which, on a busy or
 * single core, waits for the loop to go idle). */
static void wb_inline(hfs_server *s, srv_res *sr)
{
    store_res *res = sr->res;
    wb_job j;

    memset(&j, 0, sizeof(j));
    j.sr = sr;
    j.res = res;
    store_res_ref(res); /* telling the appender of a failure may end its session */
    j.len = store_staged_iov(res, WB_INLINE, j.iov, WB_IOV, &j.niov, j.refs, &j.nrefs);
    wb_write(&j);
    store_staged_written(res, j.written);
    for (int i = 0; i < j.nrefs; i++)
        store_chunk_unref(j.refs[i]);
    if (j.written)
        srv_mark_dirty(sr);
    if (j.err) {
        sr->wb_job = &j; /* and nothing may free sr while that happens */
        wb_failed(s, sr, j.err);
        sr->wb_job = NULL;
    }
    srv_sync *ready = srv_sync_take_ready(res);
    srv_res_maybe_free(s, sr);
    srv_sync_issue(ready); /* sr may be gone from here on */
    store_res_unref(res);
}

int wb_stage(conn *c, srv_res *sr, const struct iovec *iov, int iovcnt)
{
    int err = store_stage(sr->res, iov, iovcnt);

    if (err != STORE_OK)
        return err;
    if (!sr->wb_job && sr->res->staged <= WB_INLINE) {
        wb_inline(c->srv, sr);
        return STORE_OK;
    }
    wb_kick(c->srv, sr);
    if (sr->res->staged > WB_HIGH && !sr->reading_paused) {
        sr->reading_paused = 1; /* the disk is behind: let TCP slow the appender down */
        conn_read_stop(c);
    }
    return STORE_OK;
}

int wb_enabled(const hfs_server *s)
{
    return s->opt.tail_max > 0;
}
