/* ops.c -- the NATS store's handles and namespace calls. Every read is the inner file store's
 * (the local copy): store_stat, store_open, store_peek (zero copy, its tail pieces), store_read,
 * store_meta_get, store_list; this file mirrors the inner handle's size and state into the outer
 * one (LEASED comes from the applier and the lease, not from the inner lease) and forwards its
 * events. Changes (metadata, remove) go through the stream and return once applied here. */
#include "store/nats/nstore.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void ns_res_sync(nres *r)
{
    nstore *ns = NS(r->base.st);
    unsigned s = store_state(r->in) & ~(unsigned)STORE_LEASED;

    if (r->ent && ns_ent_leased(ns, r->ent))
        s |= STORE_LEASED;
    r->base.state = s;
    r->base.size = store_size(r->in);
    if (r->w && !r->w->failed && r->w->accepted > r->pending)
        r->pending = r->w->accepted;
    if (r->pending <= r->base.size)
        r->pending = 0; /* all applied */
    /* Accepted: what a writer here accepted, also after it let go, until it is readable; and
     * what the local copy was handed but has not written yet (the stream's bytes applied here):
     * followers told that the writer left end there, not at what happens to be written. */
    uint64_t copy = store_accepted(r->in);
    r->base.accepted = r->pending > copy ? r->pending : copy;
    if (r->base.accepted < r->base.size)
        r->base.accepted = r->base.size;
}

/* The inner handle's watcher: what changed there, told through the outer handle. */
static void mirror(void *arg, store_res *in, unsigned events)
{
    nres *r = arg;
    uint64_t size = r->base.size;
    unsigned state = r->base.state, ev = 0;

    ns_res_sync(r);
    if (r->base.size > size)
        ev |= STORE_EV_GROWN;
    if (events & STORE_EV_CLOSED)
        ev |= STORE_EV_CLOSED;
    if (events & STORE_EV_FAILED) { /* the local copy could not be written */
        r->base.err = store_res_errno(in);
        ev |= STORE_EV_FAILED;
    }
    if ((state ^ r->base.state) & STORE_LEASED)
        ev |= STORE_EV_LEASE;
    store_res_ref(&r->base);
    store_notify(&r->base, ev);
    if (ev & STORE_EV_GROWN)
        ns_waits_ready(r);
    if (ev & STORE_EV_FAILED)
        ns_waits_fail(r, STORE_EIO);
    store_res_unref(&r->base);
}

int ns_res_get(nstore *ns, nent *e, const char *rel, nres **out)
{
    store_res *in;
    int rc = store_open(ns->inner, rel, &in);

    if (rc != STORE_OK)
        return rc;
    if (!e)
        e = ns_ent_get(ns, rel); /* NULL when out of memory: a handle without lease state */
    if (e && e->res && e->res->in == in) {
        store_res_unref(in);
        store_res_ref(&e->res->base);
        *out = e->res;
        return STORE_OK;
    }
    size_t n = strlen(rel);
    nres *r = calloc(1, sizeof(*r) + n + 1);
    if (!r) {
        store_res_unref(in);
        return STORE_ENOMEM;
    }
    memcpy(r->name, rel, n + 1);
    r->base.ops = &ns_ops;
    r->base.st = &ns->base;
    r->base.name = r->name;
    r->base.refs = 1;
    r->in = in;
    if (e) {
        if (e->res) /* the name is another file now */
            e->res->ent = NULL;
        e->res = r;
        r->ent = e;
    }
    store_watch(in, mirror, r);
    ns_res_sync(r);
    ns->nres_open++;
    *out = r;
    return STORE_OK;
}

static void ns_unref(store_res *res)
{
    nres *r = NR(res);
    nstore *ns = NS(res->st);

    while (r->waits) { /* (none: whoever waits holds a reference) */
        nwait *w = r->waits;
        r->waits = w->next;
        free(w);
    }
    store_watch(r->in, NULL, NULL);
    if (r->ent && r->ent->res == r) {
        r->ent->res = NULL;
        ns_ent_maybe_free(ns, r->ent);
    }
    store_res_unref(r->in);
    ns->nres_open--;
    free(r);
}

static int ns_stat(store *st, const char *rel, store_info *out)
{
    nstore *ns = NS(st);
    int rc = store_stat(ns->inner, rel, out);

    if (rc == STORE_OK && !out->is_dir) {
        nent *e = ns_ent_find(ns, rel);
        out->state &= ~(unsigned)STORE_LEASED;
        if (e && ns_ent_leased(ns, e))
            out->state |= STORE_LEASED;
    }
    return rc;
}

static int ns_open(store *st, const char *rel, store_res **out)
{
    nstore *ns = NS(st);
    nres *r;

    if (ns_down(ns)) {
        errno = EIO;
        return STORE_EIO;
    }
    int rc = ns_res_get(ns, NULL, rel, &r);
    if (rc == STORE_OK)
        *out = &r->base;
    return rc;
}

static int ns_res_stat(store_res *res, store_info *out)
{
    int rc = store_res_stat(NR(res)->in, out);
    out->size = res->size;
    out->state = res->state;
    return rc;
}

static size_t ns_peek(store_res *res, uint64_t off, uint64_t max, store_slice *out, size_t n)
{
    return store_peek(NR(res)->in, off, max, out, n);
}

static ssize_t ns_read(store_res *res, void *buf, size_t len, uint64_t off)
{
    return store_read(NR(res)->in, buf, len, off);
}

static int ns_meta_get(store_res *res, store_meta *out)
{
    return store_meta_get(NR(res)->in, out);
}

static int ns_meta_set(store_res *res, const store_meta *m)
{
    nres *r = NR(res);
    nstore *ns = NS(res->st);
    size_t ct = m->content_type ? strlen(m->content_type) : 0;
    uint8_t *p;
    size_t len;
    uint64_t seq = 0;

    if (ct > STORE_META_MAX || m->blob_len > STORE_META_MAX - ct)
        return STORE_EFULL;
    if (ns_down(ns) || !r->ent) {
        errno = EIO;
        return STORE_EIO;
    }
    int rc = ns_meta_encode(m, &p, &len);
    if (rc != STORE_OK)
        return rc;
    if (r->w)
        ns_writer_flush(r->w); /* the bytes before the metadata, first */
    rc = ns_publish_sync(ns, r->ent, "meta", NULL, 0, p, len, 0, 0, &seq, NULL);
    free(p);
    if (rc < 0 || ns_drain_until(ns, seq, NS_DRAIN_MS) < 0) {
        errno = EIO;
        return STORE_EIO;
    }
    ns_res_sync(r);
    return STORE_OK;
}

/* After a remove, the stream drops the name's older messages (on the thread pool): purged up to
 * the remove, never past it, so no later writer's message goes, and a store catching up from
 * before still gets the remove. */
typedef struct purge_job {
    uv_work_t req;
    nstore *ns;
    uint64_t seq;
    natsStatus s;
    char subj[];
} purge_job;

static void purge_work(uv_work_t *req)
{
    purge_job *j = req->data;
    jsOptions o;
    jsErrCode jerr = 0;

    jsOptions_Init(&o);
    o.Wait = NS_API_MS;
    o.Stream.Purge.Subject = j->subj;
    o.Stream.Purge.Sequence = j->seq;
    j->s = js_PurgeStream(j->ns->js, j->ns->stream, &o, &jerr);
}

static void purge_done(uv_work_t *req, int status)
{
    purge_job *j = req->data;
    nstore *ns = j->ns;

    (void)status;
    if (j->s != NATS_OK)
        store_log(&ns->base, 1, "nats store: purging %s before seq %llu: %s", j->subj,
                  (unsigned long long)j->seq, natsStatus_GetText(j->s));
    free(j);
    ns->jobs--;
    if (ns->closing)
        ns_maybe_done(ns);
}

static void purge(nstore *ns, const char *subj, uint64_t seq)
{
    purge_job *j = calloc(1, sizeof(*j) + strlen(subj) + 1);

    if (!j)
        return;
    j->req.data = j;
    j->ns = ns;
    j->seq = seq;
    strcpy(j->subj, subj);
    ns->jobs++;
    if (uv_queue_work(ns->loop, &j->req, purge_work, purge_done) != 0) {
        ns->jobs--;
        free(j);
    }
}

static int ns_remove(store *st, const char *rel)
{
    nstore *ns = NS(st);
    store_info in;
    uint64_t seq = 0;

    int rc = store_stat(ns->inner, rel, &in);
    if (rc != STORE_OK)
        return rc;
    if (in.is_dir)
        return STORE_EISDIR;
    if (ns_down(ns)) {
        errno = EIO;
        return STORE_EIO;
    }
    nent *e = ns_ent_get(ns, rel);
    if (!e)
        return STORE_ENOMEM;
    if (ns_ent_leased(ns, e)) {
        ns_ent_maybe_free(ns, e);
        return STORE_EBUSY;
    }
    e->pin++;
    rc = ns_publish_sync(ns, e, "remove", NULL, 0, NULL, 0, 0, 0, &seq, NULL);
    if (rc == 0)
        purge(ns, e->subj, seq);
    if (rc == 0)
        rc = ns_drain_until(ns, seq, NS_DRAIN_MS);
    e->pin--;
    ns_ent_maybe_free(ns, e);
    if (rc < 0) {
        errno = EIO;
        return STORE_EIO;
    }
    return STORE_OK;
}

static int ns_list(store *st, const char *rel, store_dirent **out, size_t *n)
{
    nstore *ns = NS(st);
    int rc = store_list(ns->inner, rel, out, n);
    size_t rl = strlen(rel);

    for (size_t i = 0; rc == STORE_OK && i < *n; i++) {
        store_dirent *d = &(*out)[i];
        if (d->is_dir)
            continue;
        char *full = malloc(rl + strlen(d->name) + 2);
        if (!full)
            continue;
        sprintf(full, "%s%s%s", rel, rl && rel[rl - 1] != '/' ? "/" : "", d->name);
        nent *e = ns_ent_find(ns, full);
        d->live = e && ns_ent_leased(ns, e);
        free(full);
    }
    return rc;
}

static int ns_healthy(store *st)
{
    return NS(st)->healthy;
}

const store_ops ns_ops = {
    .name = "nats",
    .close = ns_close_store,
    .stat = ns_stat,
    .open = ns_open,
    .acquire = ns_acquire,
    .release = ns_release,
    .unref = ns_unref,
    .res_stat = ns_res_stat,
    .append = ns_append,
    .when_written = ns_when_written,
    .wait_cancel = ns_wait_cancel,
    .peek = ns_peek,
    .read = ns_read,
    .meta_get = ns_meta_get,
    .meta_set = ns_meta_set,
    .remove = ns_remove,
    .list = ns_list,
    .healthy = ns_healthy,
};
