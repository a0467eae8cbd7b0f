/* writer.c -- appends under the lease: bytes are packed into messages of up to NS_CHUNK (a full
 * one is published at once, a partial one on the next loop iteration, so small writes read
 * together travel together) and published without waiting for acks (pipelined). Each message
 * names its writer and offset; appliers skip duplicates by offset, so a republished message
 * never doubles bytes.
 *
 * Every published message is kept until acked. Over NS_INFLIGHT_HIGH unacked bytes (or
 * NS_INFLIGHT_MSGS messages) the handle is backlogged until under NS_INFLIGHT_LOW
 * (STORE_EV_DRAINED). A publish error or an ack timeout (a leader election takes about 7 s)
 * stops the writer for NS_RETRY_MS, then every unacked message is published again in order under
 * a new attempt number (acks of older attempts are ignored); after NS_RETRY_MAX_MS without
 * progress the writer fails (STORE_EV_FAILED, EIO).
 *
 * Bytes become readable only when this store's applier applies them from the stream: what a
 * follower sees, anywhere, is what the quorum stored. store_when_written completes when the
 * applied size reaches what was accepted (WRITTEN and DURABLE alike: the quorum's ack is the
 * durability). */
#include "store/nats/nstore.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static size_t iov_total(const struct iovec *iov, int iovcnt)
{
    size_t n = 0;
    for (int i = 0; i < iovcnt; i++)
        n += iov[i].iov_len;
    return n;
}

static void start_retry(nwriter *w, const char *why, int err, int jerr)
{
    int64_t now = ns_now_ms();
    if (w->retrying)
        return;
    w->retrying = 1;
    w->retry_at_ms = now + NS_RETRY_MS;
    if (!w->fail_at_ms)
        w->fail_at_ms = now + NS_RETRY_MAX_MS;
    store_log(&w->ns->base, 1, "nats store: /%s: %s: %s (%d): publishing again in %d ms",
              w->ent ? w->ent->name : "?", why, natsStatus_GetText((natsStatus)err), jerr,
              NS_RETRY_MS);
}

static int publish_rec(nwriter *w, nmsgrec *rec)
{
    nstore *ns = w->ns;
    natsMsg *m = NULL;
    jsPubOptions po;
    char off[24], gen[16], id[NS_WID_MAX + 40];

    if (!w->ent)
        return -1;
    jsPubOptions_Init(&po);
    po.MaxWait = NS_ACK_MS;
    snprintf(off, sizeof(off), "%llu", (unsigned long long)rec->off);
    snprintf(gen, sizeof(gen), "%u", w->gen);
    snprintf(id, sizeof(id), "%s:%s:%s", w->id, off, gen);
    natsStatus s = natsMsg_Create(&m, w->ent->subj, NULL, (const char *)rec->data, (int)rec->len);
    if (s == NATS_OK)
        s = natsMsgHeader_Set(m, "Hfs-Kind", "data");
    if (s == NATS_OK)
        s = natsMsgHeader_Set(m, "Hfs-Writer", w->id);
    if (s == NATS_OK)
        s = natsMsgHeader_Set(m, "Hfs-Off", off);
    if (s == NATS_OK)
        s = natsMsgHeader_Set(m, "Hfs-Gen", gen);
    if (s == NATS_OK)
        s = natsMsgHeader_Set(m, "Nats-Msg-Id", id);
    if (s == NATS_OK)
        s = js_PublishMsgAsync(ns->js, &m, &po);
    natsMsg_Destroy(m);
    if (s != NATS_OK) {
        start_retry(w, "publishing", (int)s, 0);
        return -1;
    }
    return 0;
}

void ns_writer_flush(nwriter *w)
{
    nmsgrec *rec = w->cur;
    if (!rec || w->failed)
        return;
    w->cur = NULL;
    nmsgrec *small = rec->len < NS_CHUNK / 2 ? realloc(rec, sizeof(*rec) + rec->len) : NULL;
    if (small)
        rec = small;
    if (w->tail)
        w->tail->next = rec;
    else
        w->head = rec;
    w->tail = rec;
    w->unacked_bytes += rec->len;
    w->unacked_msgs++;
    if (!w->retrying)
        publish_rec(w, rec);
}

void ns_flush_all(nstore *ns)
{
    for (nwriter *w = ns->writers; w; w = w->next) {
        ns_writer_flush(w);
        if (w->failed && w->res && w->res->waits)
            ns_waits_fail(w->res, STORE_EIO);
    }
}

int ns_append(store_res *res, const struct iovec *iov, int iovcnt)
{
    nres *r = NR(res);
    nwriter *w = r->w;
    uint64_t max = res->st->opt.size_max;
    size_t want = iov_total(iov, iovcnt);

    if (want == 0)
        return STORE_OK;
    if (res->state & STORE_CLOSED)
        return STORE_ECLOSED;
    if (!w || w->failed) {
        errno = w ? (res->err ? res->err : EIO) : EBADF;
        return STORE_EIO;
    }
    if (max && (w->accepted > max || want > max - w->accepted))
        return STORE_EFULL;
    for (int i = 0; i < iovcnt; i++) {
        const uint8_t *p = iov[i].iov_base;
        size_t n = iov[i].iov_len;
        while (n > 0) {
            if (!w->cur) {
                w->cur = malloc(sizeof(nmsgrec) + NS_CHUNK);
                if (!w->cur)
                    return STORE_ENOMEM; /* (bytes before were accepted: the writer fails) */
                memset(w->cur, 0, sizeof(nmsgrec));
                w->cur->off = w->accepted;
            }
            size_t k = NS_CHUNK - w->cur->len < n ? NS_CHUNK - w->cur->len : n;
            memcpy(w->cur->data + w->cur->len, p, k);
            w->cur->len += k;
            w->accepted += k;
            p += k;
            n -= k;
            if (w->cur->len == NS_CHUNK)
                ns_writer_flush(w);
        }
    }
    res->accepted = r->pending = w->accepted;
    if (w->cur)
        ns_idle_start(w->ns);
    if (w->unacked_bytes > NS_INFLIGHT_HIGH || w->unacked_msgs > NS_INFLIGHT_MSGS)
        res->backlogged = 1;
    return STORE_OK;
}

/* ---- acks ------------------------------------------------------------------------------------ */

static const char *hdr(natsMsg *m, const char *k)
{
    const char *v = NULL;
    return m && natsMsgHeader_Get(m, k, &v) == NATS_OK ? v : NULL;
}

void ns_ack(nstore *ns, nev *e)
{
    const char *wid = hdr(e->msg, "Hfs-Writer"), *off = hdr(e->msg, "Hfs-Off");
    const char *gen = hdr(e->msg, "Hfs-Gen");
    nwriter *w = wid && off && gen ? ns_local_writer(ns, wid) : NULL;

    if (!w || strtoul(gen, NULL, 10) != w->gen || w->failed)
        return; /* an end, an older attempt, a writer gone */
    uint64_t at = strtoull(off, NULL, 10);
    if (e->err != NATS_OK) {
        start_retry(w, "no ack", e->err, e->errcode);
        return;
    }
    for (nmsgrec *m = w->head; m; m = m->next) {
        if (m->off == at) {
            m->acked = 1;
            break;
        }
    }
    if (e->seq > w->max_ack_seq)
        w->max_ack_seq = e->seq;
    w->fail_at_ms = 0;
    while (w->head && w->head->acked) {
        nmsgrec *m = w->head;
        w->head = m->next;
        if (!w->head)
            w->tail = NULL;
        w->acked_end = m->off + m->len;
        w->unacked_bytes -= m->len;
        w->unacked_msgs--;
        free(m);
    }
    nres *r = w->res;
    if (r && r->base.backlogged && w->unacked_bytes < NS_INFLIGHT_LOW &&
        w->unacked_msgs < NS_INFLIGHT_MSGS / 2) {
        r->base.backlogged = 0;
        store_res_ref(&r->base);
        store_notify(&r->base, STORE_EV_DRAINED);
        store_res_unref(&r->base);
    }
    if (w->released && !w->unacked_msgs && !w->cur)
        ns_writer_finish(w);
}

void ns_writer_retry_tick(nwriter *w, int64_t now)
{
    if (!w->retrying || w->failed || now < w->retry_at_ms)
        return;
    if (w->fail_at_ms && now >= w->fail_at_ms) {
        ns_writer_fail(w, EIO, "no acks from JetStream");
        return;
    }
    w->retrying = 0;
    w->gen++;
    for (nmsgrec *m = w->head; m && !w->retrying; m = m->next)
        if (!m->acked)
            publish_rec(w, m);
}

void ns_writer_fail(nwriter *w, int err, const char *why)
{
    nres *r = w->res;

    if (w->failed)
        return;
    if (!w->ns->connected && w->ns->healthy) {
        /* The connection is gone (a renewal or the acks ran out before NS_DOWN_MS): the store is
         * unavailable from now on, so that this writer's followers too end with an error. */
        w->busy++; /* (go_down may finish writers that nobody pins) */
        ns_go_down(w->ns);
        w->busy--;
        if (w->failed) { /* failed there: finish it now that it is not pinned by us */
            if (w->released || w->closing)
                ns_writer_finish(w);
            return;
        }
    }
    w->failed = 1;
    w->busy++; /* the watcher may release it: finished below, not under our feet */
    w->ns->base.stats.write_errors++;
    store_log(&w->ns->base, 0, "nats store: /%s: writer %s fails: %s (%llu bytes not stored)",
              w->ent ? w->ent->name : "?", w->id, why,
              (unsigned long long)(w->accepted - w->acked_end));
    if (!r && w->ent && w->ent->res && w->ent->res->pending) {
        nres *h = w->ent->res; /* released: its handle waits no more for what it dropped */
        store_res_ref(&h->base);
        h->pending = 0;
        ns_res_sync(h);
        ns_waits_fail(h, STORE_EIO);
        store_res_unref(&h->base);
    }
    if (r) {
        store_res_ref(&r->base);
        r->base.err = err;
        r->pending = 0; /* dropped: accepted falls back to what is readable */
        ns_res_sync(r);
        store_notify(&r->base, STORE_EV_FAILED | STORE_EV_LEASE);
        ns_waits_fail(r, STORE_EIO);
        store_res_unref(&r->base);
    }
    if (w->ent)
        ns_ent_changed(w->ent);
    w->busy--;
    if (w->released || w->closing)
        ns_writer_finish(w); /* (deferred again while a caller still pins it) */
}

/* After applying: a writer whose `begin` was superseded is fenced off; one whose bytes were all
 * acked and applied past but are missing locally lost them to a gap (a reordered retry). */
void ns_writers_check(nstore *ns)
{
    ns_writers_pin(ns);
    for (nwriter *w = ns->writers; w; w = w->next) {
        nent *e = w->ent;
        if (w->failed || !e)
            continue;
        if (strcmp(e->writer, w->id) != 0) {
            w->fenced = 1;
            ns_writer_fail(w, EIO, "another writer took the resource over");
        } else if (!w->unacked_msgs && !w->cur && w->max_ack_seq && ns->applied >= w->max_ack_seq &&
                   e->iw && store_accepted(e->iw) < w->acked_end) {
            ns_writer_fail(w, EIO, "acked bytes missing from the stream");
        }
    }
    ns_writers_unpin(ns, 0);
}

int ns_writer_settle(nwriter *w, int ms)
{
    nstore *ns = w->ns;
    int64_t end = ns_now_ms() + ms;

    w->busy++; /* an ack may finish it meanwhile: not freed under our feet */
    ns_writer_flush(w);
    while (!w->failed && w->unacked_msgs && ns_now_ms() < end) {
        nev *e = ns_queue_pop(ns, 20);
        if (e)
            ns_handle_event(ns, e);
        ns_writer_retry_tick(w, ns_now_ms());
    }
    w->busy--;
    return w->unacked_msgs ? -1 : 0;
}

void ns_writers_pin(nstore *ns)
{
    for (nwriter *w = ns->writers; w; w = w->next)
        w->busy++;
}

void ns_writers_unpin(nstore *ns, int finish_released)
{
    for (nwriter *w = ns->writers, *next; w; w = next) {
        next = w->next; /* (pinned: a writer finished meanwhile waits for its turn here) */
        if (--w->busy == 0 && (w->closing || (finish_released && w->released)))
            ns_writer_finish(w);
    }
}

/* ---- waits ----------------------------------------------------------------------------------- */

int ns_when_written(store_res *res, int kind, store_wait_cb cb, void *arg, store_wait **out)
{
    nres *r = NR(res);
    uint64_t upto = res->accepted; /* (also what a writer accepted before it let go) */

    (void)kind;
    if (res->size >= upto)
        return 0;
    nwait *w = calloc(1, sizeof(*w));
    if (!w)
        return STORE_ENOMEM;
    w->base.res = res;
    w->cb = cb;
    w->arg = arg;
    w->upto = upto;
    store_res_ref(res); /* the wait holds the resource: a cancel may come after its last user */
    nwait **pp = &r->waits;
    while (*pp)
        pp = &(*pp)->next;
    *pp = w;
    *out = &w->base;
    if (r->w && r->w->failed)
        ns_idle_start(NS(res->st)); /* fails it from the loop */
    return 1;
}

void ns_wait_cancel(store_wait *sw)
{
    ((nwait *)sw)->cb = NULL; /* freed, with its reference, once it completes or fails */
}

/* Ends the first wait: calls it back (unless cancelled), frees it, drops its reference. The
 * caller holds a reference of its own, so that r outlives the drop. */
static void wait_end(nres *r, int err)
{
    nwait *w = r->waits;
    r->waits = w->next;
    store_wait_cb cb = w->cb;
    void *arg = w->arg;
    free(w);
    if (cb)
        cb(arg, err);
    store_res_unref(&r->base);
}

void ns_waits_ready(nres *r)
{
    if (!r->waits || r->waits->upto > r->base.size)
        return;
    store_res_ref(&r->base);
    while (r->waits && r->waits->upto <= r->base.size)
        wait_end(r, STORE_OK);
    store_res_unref(&r->base);
}

void ns_waits_fail(nres *r, int err)
{
    if (!r->waits)
        return;
    store_res_ref(&r->base);
    while (r->waits)
        wait_end(r, err);
    store_res_unref(&r->base);
}
