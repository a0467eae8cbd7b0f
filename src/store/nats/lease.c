/* lease.c -- the single-writer lease across stores: a key (the name's token) in the lease
 * bucket, whose value is the writer's id, created by the writer (kvStore_Create fails while
 * another holds it), renewed every fifth of -lease, deleted at release; a store that dies stops
 * renewing and the bucket's TTL lets the key expire. The stream fences: a writer's `begin` is
 * published only if the subject's last sequence is the one this store applied up to, and the
 * applier follows the writer named by the last `begin`.
 *
 * store_acquire blocks the loop for a few round trips (create the key, the subject's last
 * sequence, publish `begin`, apply up to it): about 1-3 ms on a LAN, each call bounded by
 * NS_API_MS; NATS unavailable: STORE_EIO, the local copy behind: STORE_EAGAIN. */
#include "store/nats/nstore.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/file/fstore.h" /* fs_rel_valid, fs_name_too_long */

#define JS_WRONG_LAST_SEQ 10071

int ns_publish_sync(nstore *ns, nent *e, const char *kind, const char *wid, uint64_t off,
                    const void *data, size_t len, uint64_t expect, int expect_set, uint64_t *seq,
                    int *jerr)
{
    natsMsg *m = NULL;
    jsPubAck *pa = NULL;
    jsPubOptions po;
    jsErrCode je = 0;
    char num[24];

    jsPubOptions_Init(&po);
    po.MaxWait = NS_API_MS;
    if (expect_set) {
        po.ExpectLastSubjectSeq = expect;
        po.ExpectNoMessage = expect == 0;
    }
    natsStatus s = natsMsg_Create(&m, e->subj, NULL, data, (int)len);
    if (s == NATS_OK)
        s = natsMsgHeader_Set(m, "Hfs-Kind", kind);
    if (s == NATS_OK && wid)
        s = natsMsgHeader_Set(m, "Hfs-Writer", wid);
    snprintf(num, sizeof(num), "%llu", (unsigned long long)off);
    if (s == NATS_OK && wid)
        s = natsMsgHeader_Set(m, "Hfs-Off", num);
    if (s == NATS_OK)
        s = js_PublishMsg(&pa, ns->js, m, &po, &je);
    if (s == NATS_OK && seq)
        *seq = pa->Sequence;
    if (jerr)
        *jerr = (int)je;
    jsPubAck_Destroy(pa);
    natsMsg_Destroy(m);
    if (s != NATS_OK && je != JS_WRONG_LAST_SEQ)
        store_log(&ns->base, 0, "nats store: publishing %s for /%s: %s (%d)", kind, e->name,
                  natsStatus_GetText(s), (int)je);
    return s == NATS_OK ? 0 : -1;
}

/* Where an acquire must fail before anything is created, as the file store would. */
static int precheck(nstore *ns, const char *rel)
{
    store_info in;
    size_t len = strlen(rel);

    if (len == 0 || rel[len - 1] == '/')
        return STORE_EISDIR;
    if (!fs_rel_valid(rel))
        return STORE_ENOENT;
    if (fs_name_too_long(rel))
        return STORE_ENAMETOOLONG;
    int rc = store_stat(ns->inner, rel, &in);
    if (rc == STORE_OK)
        return in.is_dir ? STORE_EISDIR : in.state & STORE_CLOSED ? STORE_ECLOSED : STORE_OK;
    if (rc != STORE_ENOENT)
        return rc;
    char *p = strdup(rel);
    if (!p)
        return STORE_ENOMEM;
    for (char *s = strchr(p, '/'); s && rc == STORE_ENOENT; s = strchr(s + 1, '/')) {
        *s = 0;
        if (store_stat(ns->inner, p, &in) == STORE_OK && !in.is_dir)
            rc = STORE_ENOTDIR;
        *s = '/';
    }
    free(p);
    return rc == STORE_ENOTDIR ? rc : STORE_OK;
}

/* The inner resource's accepted size: where the next writer starts. */
static uint64_t local_end(nstore *ns, nent *e)
{
    store_res *h;
    if (e->iw)
        return store_accepted(e->iw);
    if (store_open(ns->inner, e->name, &h) != STORE_OK)
        return 0;
    uint64_t n = store_accepted(h);
    store_res_unref(h);
    return n;
}

/* Creates the key holding w's id, as kvStore_Create does, but reading the key's last entry from
 * the stream's leader (js_GetLastMsg), not by a direct get that a replica behind our own delete
 * may answer: a key deleted (or purged) is taken over at its revision, a live one is busy. */
static int take_key(nstore *ns, nent *e, nwriter *w)
{
    char stream[300], subj[NS_TOKEN_MAX + 300];
    int len = (int)strlen(w->id);

    snprintf(stream, sizeof(stream), "KV_%s", ns->bucket);
    snprintf(subj, sizeof(subj), "%s%s", ns->kvprefix, e->token);
    natsStatus s = kvStore_Update(&w->rev, ns->kv, e->token, w->id, len, 0);
    for (int attempt = 0; s == NATS_ERR && attempt < 3; attempt++) {
        natsMsg *m = NULL;
        const char *op = NULL;
        natsStatus g = js_GetLastMsg(&m, ns->js, stream, subj, NULL, NULL);
        if (g == NATS_NOT_FOUND) {
            s = kvStore_Update(&w->rev, ns->kv, e->token, w->id, len, 0); /* (purged meanwhile) */
            continue;
        }
        if (g != NATS_OK) {
            s = g;
            break;
        }
        uint64_t seq = natsMsg_GetSequence(m);
        int gone = natsMsgHeader_Get(m, "KV-Operation", &op) == NATS_OK && op &&
                   (!strcmp(op, "DEL") || !strcmp(op, "PURGE"));
        natsMsg_Destroy(m);
        if (!gone)
            return STORE_EBUSY;
        s = kvStore_Update(&w->rev, ns->kv, e->token, w->id, len, seq); /* raced: look again */
    }
    if (s == NATS_OK)
        return STORE_OK;
    if (s == NATS_ERR)
        return STORE_EBUSY;
    const char *txt = nats_GetLastError(NULL);
    store_log(&ns->base, 0, "nats store: /%s: taking the lease: %s (%s)", e->name,
              natsStatus_GetText(s), txt ? txt : "");
    errno = EIO;
    return STORE_EIO;
}

static void drop_key(nstore *ns, nent *e)
{
    if (ns->connected && !ns->severed) {
        natsStatus s = kvStore_Delete(ns->kv, e->token);
        if (s != NATS_OK)
            store_log(&ns->base, 1, "nats store: /%s: giving the lease back: %s", e->name,
                      natsStatus_GetText(s));
    }
}

typedef struct del_job {
    uv_work_t req;
    nstore *ns;
    kvStore *kv;
    char key[];
} del_job;

static void del_work(uv_work_t *req)
{
    del_job *j = req->data;
    kvStore_Delete(j->kv, j->key);
}

static void del_done(uv_work_t *req, int status)
{
    del_job *j = req->data;
    nstore *ns = j->ns;
    (void)status;
    free(j);
    ns->jobs--;
    if (ns->closing)
        ns_maybe_done(ns);
}

static void drop_key_later(nstore *ns, nent *e)
{
    del_job *j;
    size_t klen = strlen(e->token);
    if (!ns->connected || ns->severed || !(j = calloc(1, sizeof(*j) + klen + 1)))
        return;
    j->req.data = j;
    j->ns = ns;
    j->kv = ns->kv;
    memcpy(j->key, e->token, klen + 1);
    ns->jobs++;
    if (uv_queue_work(ns->loop, &j->req, del_work, del_done) != 0) {
        ns->jobs--;
        free(j);
    }
}

void ns_writer_free(nwriter *w)
{
    nstore *ns = w->ns;
    for (nwriter **pp = &ns->writers; *pp; pp = &(*pp)->next) {
        if (*pp == w) {
            *pp = w->next;
            break;
        }
    }
    if (w->ent && w->ent->local == w) {
        w->ent->local = NULL;
        ns_ent_maybe_free(ns, w->ent);
    }
    while (w->head) {
        nmsgrec *m = w->head;
        w->head = m->next;
        free(m);
    }
    free(w->cur);
    free(w);
}

void ns_writer_finish(nwriter *w)
{
    nstore *ns = w->ns;
    nent *e = w->ent;

    if (w->busy) {
        w->closing = 1; /* the renewal in flight finishes it */
        return;
    }
    if (e && !w->failed && !w->end_sent && ns->connected && !ns->severed) {
        uint64_t seq = 0;
        w->end_sent = 1; /* (synchronous: the next writer, here or after a restart, sees it) */
        if (ns_publish_sync(ns, e, "end", w->id, w->accepted, NULL, 0, 0, 0, &seq, NULL) == 0 &&
            seq > ns->want_seq)
            ns->want_seq = seq;
    }
    if (e && !w->fenced && !w->failed)
        drop_key(ns, e);
    else if (e && !w->fenced)
        drop_key_later(ns, e); /* NATS may be slow now: not on the loop */
    ns_writer_free(w);
    if (e)
        ns_ent_changed(e);
}

static nwriter *writer_new(nstore *ns, nent *e)
{
    nwriter *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->ns = ns;
    w->ent = e;
    snprintf(w->id, sizeof(w->id), "%s-%llu", ns->node, (unsigned long long)++ns->wcount);
    w->renew_ok_ms = w->renew_start_ms = ns_now_ms();
    return w;
}

static int acquire(nstore *ns, nent *e, const char *rel, store_res **out);

int ns_acquire(store *st, const char *rel, store_res **out)
{
    nstore *ns = NS(st);
    int rc = precheck(ns, rel);

    if (rc != STORE_OK)
        return rc;
    if (ns_down(ns) || !ns->connected) {
        errno = EIO;
        return STORE_EIO;
    }
    nent *e = ns_ent_get(ns, rel);
    if (!e)
        return STORE_ENOMEM;
    e->pin++;
    rc = acquire(ns, e, rel, out);
    e->pin--;
    ns_ent_maybe_free(ns, e);
    return rc;
}

static int acquire(nstore *ns, nent *e, const char *rel, store_res **out)
{
    int rc, jerr = 0;
    uint64_t last = 0, bseq = 0, start = 0;
    nres *r = NULL;

    if (strlen(e->token) > NS_TOKEN_MAX)
        return STORE_ENAMETOOLONG;
    if (e->local && !e->local->released)
        return STORE_EBUSY;
    if (e->local) { /* this store's last writer is still sending: it goes first */
        nwriter *prev = e->local;
        if (ns_writer_settle(prev, NS_DRAIN_MS) < 0 && !prev->failed)
            return STORE_EBUSY;
        ns_writer_finish(prev);
        if (e->local)
            return STORE_EBUSY;
    }
    nwriter *w = writer_new(ns, e);
    if (!w)
        return STORE_ENOMEM;
    if ((rc = take_key(ns, e, w)) != STORE_OK) {
        free(w);
        return rc;
    }
    for (int attempt = 0; attempt < 5; attempt++) {
        natsMsg *lm = NULL;
        jsErrCode je = 0;
        natsStatus s = js_GetLastMsg(&lm, ns->js, ns->stream, e->subj, NULL, &je);
        if (s == NATS_OK)
            last = natsMsg_GetSequence(lm);
        natsMsg_Destroy(lm);
        if (s != NATS_OK && s != NATS_NOT_FOUND) {
            store_log(&ns->base, 0, "nats store: /%s: the last message: %s (%d)", rel,
                      natsStatus_GetText(s), (int)je);
            rc = STORE_EIO;
            break;
        }
        if (s == NATS_NOT_FOUND)
            last = 0;
        if (ns_drain_until(ns, last, NS_DRAIN_MS) < 0) {
            store_log(&ns->base, 0, "nats store: /%s: the local copy is behind seq %llu", rel,
                      (unsigned long long)last);
            rc = STORE_EAGAIN;
            break;
        }
        start = local_end(ns, e);
        if (ns_publish_sync(ns, e, "begin", w->id, start, NULL, 0, last, 1, &bseq, &jerr) == 0) {
            rc = STORE_OK;
            break;
        }
        rc = jerr == JS_WRONG_LAST_SEQ ? STORE_EBUSY : STORE_EIO; /* raced: look again */
        if (rc != STORE_EBUSY)
            break;
    }
    if (rc == STORE_OK && ns_drain_until(ns, bseq, NS_DRAIN_MS) < 0)
        rc = STORE_EAGAIN;
    if (rc == STORE_OK && strcmp(e->writer, w->id) != 0)
        rc = STORE_EBUSY; /* another begin came first */
    if (rc == STORE_OK)
        rc = ns_res_get(ns, e, rel, &r);
    if (rc != STORE_OK) {
        drop_key(ns, e);
        free(w);
        if (rc == STORE_EIO)
            errno = EIO;
        return rc;
    }
    w->accepted = w->acked_end = start;
    w->res = r;
    r->w = w;
    e->local = w;
    w->next = ns->writers;
    ns->writers = w;
    ns_ent_changed(e); /* LEASED: told to the watcher, as the file store does */
    ns_res_sync(r);
    *out = &r->base;
    return STORE_OK;
}

void ns_release(store_res *res)
{
    nres *r = NR(res);
    nwriter *w = r->w;

    if (w) {
        r->w = NULL;
        w->res = NULL;
        w->released = 1;
        ns_writer_flush(w);
        if (w->failed || (!w->unacked_msgs && !w->cur))
            ns_writer_finish(w);
    }
    ns_res_sync(r);
    store_res_ref(res);
    store_notify(res, STORE_EV_LEASE);
    store_res_unref(res);
    store_res_unref(res); /* the writer's */
}

/* ---- renewals on the thread pool ------------------------------------------------------------- */

typedef struct renew_job {
    uv_work_t req;
    nwriter *w;
    kvStore *kv;
    char key[NS_TOKEN_MAX + 1], val[NS_WID_MAX];
    uint64_t rev, new_rev;
    natsStatus s;
    int wrong;
} renew_job;

static void renew_work(uv_work_t *req)
{
    renew_job *j = req->data;
    j->s = kvStore_Update(&j->new_rev, j->kv, j->key, j->val, (int)strlen(j->val), j->rev);
    if (j->s != NATS_OK) {
        /* A renewal that timed out may still have been stored: then the key holds our id under a
         * newer revision, ours to go on with. Another id there: the lease is gone. Otherwise
         * (an election, a replica behind) the next attempt decides, or the deadline. */
        kvEntry *e = NULL;
        natsStatus g = kvStore_Get(&e, j->kv, j->key);
        size_t n = strlen(j->val);
        if (g == NATS_OK && kvEntry_ValueLen(e) == (int)n &&
            memcmp(kvEntry_Value(e), j->val, n) == 0) {
            j->new_rev = kvEntry_Revision(e);
            j->s = NATS_OK;
        } else if (g == NATS_OK) {
            j->wrong = 1; /* (not found may be a replica behind: the deadline decides) */
        }
        kvEntry_Destroy(e);
    }
}

static void renew_done(uv_work_t *req, int status)
{
    renew_job *j = req->data;
    nwriter *w = j->w;
    nstore *ns = w->ns;
    (void)status;
    ns->jobs--;
    w->renewing = 0;
    if (j->s == NATS_OK) {
        w->rev = j->new_rev;
        w->renew_ok_ms = w->renew_start_ms;
    } else if (j->wrong && !w->failed && !w->released) {
        w->fenced = 1;
        ns_writer_fail(w, EIO, "the lease was taken over");
    }
    free(j);
    if (--w->busy == 0 && w->closing) /* (held by the job until here) */
        ns_writer_finish(w);
    if (ns->closing)
        ns_maybe_done(ns);
}

static void renew(nstore *ns, nwriter *w, int64_t now)
{
    renew_job *j = calloc(1, sizeof(*j));
    if (!j || !w->ent) {
        free(j);
        return;
    }
    j->req.data = j;
    j->w = w;
    j->kv = ns->kv;
    snprintf(j->key, sizeof(j->key), "%s", w->ent->token);
    snprintf(j->val, sizeof(j->val), "%s", w->id);
    j->rev = w->rev;
    w->renewing = 1;
    w->renew_start_ms = now;
    w->busy++;
    ns->jobs++;
    if (uv_queue_work(ns->loop, &j->req, renew_work, renew_done) != 0) {
        ns->jobs--;
        w->busy--;
        w->renewing = 0;
        free(j);
    }
}

/* ---- remote writers gone ---------------------------------------------------------------- */

static void lapse_check(nstore *ns, nent *e);

typedef struct lapse_job {
    uv_work_t req;
    nstore *ns;
    nent *e; /* pinned */
    unsigned gen;
    jsCtx *js;
    char *stream, *subj;
    uint64_t seq;
    int ok;
} lapse_job;

static void lapse_work(uv_work_t *req)
{
    lapse_job *j = req->data;
    natsMsg *m = NULL;
    jsErrCode je = 0;
    jsOptions o;

    jsOptions_Init(&o);
    o.Wait = NS_API_MS;
    natsStatus s = js_GetLastMsg(&m, j->js, j->stream, j->subj, &o, &je);
    if (s == NATS_OK) {
        j->seq = natsMsg_GetSequence(m);
        j->ok = 1;
    } else if (s == NATS_NOT_FOUND || je == JSNoMessageFoundErr) {
        j->seq = 0; /* nothing on the subject: nothing to wait for */
        j->ok = 1;
    }
    natsMsg_Destroy(m);
}

static void lapse_done(uv_work_t *req, int status)
{
    lapse_job *j = req->data;
    nstore *ns = j->ns;
    nent *e = j->e;
    (void)status;
    ns->jobs--;
    e->pin--;
    e->lapse_checking = 0;
    if (j->ok && j->gen == e->lapse_gen && e->writer[0] && !e->lapsed) {
        e->lapse_seq = j->seq;
        e->lapse_known = 1;
        lapse_check(ns, e);
    }
    free(j->stream);
    free(j->subj);
    free(j);
    if (!ns->closing)
        ns_ent_maybe_free(ns, e);
    else
        ns_maybe_done(ns);
}

/* The writer of e seems gone (its key was deleted, or not renewed within the lease): look up the
 * subject's last message, so that it lapses only once everything it stored was applied here
 * (readers then end after its last byte, not at whatever the copy had so far). */
static void suspect_gone(nstore *ns, nent *e)
{
    if (e->lapse_checking || e->lapse_known || ns->closing || !ns->js)
        return;
    lapse_job *j = calloc(1, sizeof(*j));
    if (!j || !(j->subj = strdup(e->subj)) || !(j->stream = strdup(ns->stream))) {
        if (j)
            free(j->subj);
        free(j);
        return; /* the next tick tries again */
    }
    j->req.data = j;
    j->ns = ns;
    j->e = e;
    j->gen = e->lapse_gen;
    j->js = ns->js;
    if (uv_queue_work(ns->loop, &j->req, lapse_work, lapse_done) != 0) {
        free(j->stream);
        free(j->subj);
        free(j);
        return;
    }
    e->pin++;
    e->lapse_checking = 1;
    ns->jobs++;
}

/* Lapses a suspected writer once the stream is applied up to its last message. */
static void lapse_check(nstore *ns, nent *e)
{
    if (!e->lapse_known || e->lapsed || !e->writer[0] || e->local || ns->applied < e->lapse_seq)
        return;
    e->lapse_known = 0;
    e->lapsed = 1;
    store_log(&ns->base, 1, "nats store: /%s: writer %s lapsed", e->name, e->writer);
    ns_ent_changed(e);
}

void ns_lease_tick(nstore *ns, int64_t now)
{
    for (nwriter *w = ns->writers; w; w = w->next) { /* (pinned by the tick) */
        if (w->failed || w->released)
            continue;
        /* The key expires a lease after the server stored the last renewal, which it did after
         * renew_ok_ms (when that request was sent): the writer stops a tenth of a lease before.
         * (The stream fences a writer that goes on anyway: the next writer's `begin`.) */
        int64_t margin = ns->lease_ms / 10 > 300 ? ns->lease_ms / 10 : 300;
        if (now - w->renew_ok_ms > (int64_t)ns->lease_ms - margin) {
            ns_writer_fail(w, EIO, "the lease could not be renewed");
            continue;
        }
        /* every fifth of the lease; after a failure (a leader election) every 500 ms */
        int64_t every = w->renew_ok_ms < w->renew_start_ms ? 500 : (int64_t)ns->lease_ms / 5;
        if (!w->renewing && now - w->renew_start_ms >= every)
            renew(ns, w, now);
    }
    /* remote writers whose key was not renewed lapse (their readers end as when they leave) */
    for (size_t i = 0; i < ns->nbuckets; i++) {
        for (nent *e = ns->buckets[i]; e; e = e->hnext) {
            if (e->writer[0] && !e->lapsed && !e->local &&
                now - e->kv_seen_ms > (int64_t)ns->lease_ms)
                suspect_gone(ns, e);
            lapse_check(ns, e);
        }
    }
}

/* A put or delete on the lease bucket (a core subscription on $KV.BUCKET.>). */
void ns_kv_event(nstore *ns, natsMsg *m)
{
    const char *subj = natsMsg_GetSubject(m), *op = NULL;
    size_t k = strlen(ns->kvprefix);

    if (!subj || strncmp(subj, ns->kvprefix, k) != 0)
        return;
    char *name = ns_token_decode(subj + k, strlen(subj + k));
    nent *e = name ? ns_ent_find(ns, name) : NULL;
    free(name);
    if (!e || !e->writer[0])
        return;
    natsMsgHeader_Get(m, "KV-Operation", &op);
    int len = natsMsg_GetDataLength(m);
    if (op && (!strcmp(op, "DEL") || !strcmp(op, "PURGE"))) {
        if (!e->lapsed && !e->local)
            suspect_gone(ns, e);
    } else if (len == (int)strlen(e->writer) &&
               memcmp(natsMsg_GetData(m), e->writer, (size_t)len) == 0) {
        e->kv_seen_ms = ns_now_ms();
        e->lapse_known = 0; /* alive: a lookup under way is stale */
        e->lapse_gen++;
        if (e->lapsed) {
            e->lapsed = 0;
            ns_ent_changed(e);
        }
    }
}
