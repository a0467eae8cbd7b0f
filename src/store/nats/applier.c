/* applier.c -- the table of names and the rules every store applies to the stream, in stream
 * order, so that every local copy is the same and fencing follows the stream, not clocks:
 *
 *   begin(W, off)  W becomes the name's writer (the previous one, if any, is fenced off); the
 *                  applier takes the inner lease, creating the file
 *   data(W, off)   applied only from the current writer: at the end, appended; overlapping the
 *                  end, the new part appended; before it, a duplicate, skipped; past it, a gap,
 *                  skipped and logged (the writer notices and fails)
 *   end(W)         W leaves: no writer; the inner lease goes once its bytes are written
 *   meta           the metadata (codec.c), set on the inner resource
 *   remove         the inner resource goes, with the name's writer
 *
 * Messages are hostile input: a bad subject, header or payload is logged and skipped. */
#include "store/nats/nstore.h"

#include <stdlib.h>
#include <string.h>

#include "store/file/fstore.h" /* fs_rel_valid: the inner store's own rule for names */

static size_t hash_name(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return (size_t)h;
}

nent *ns_ent_find(nstore *ns, const char *name)
{
    for (nent *e = ns->buckets[hash_name(name) & (ns->nbuckets - 1)]; e; e = e->hnext)
        if (strcmp(e->name, name) == 0)
            return e;
    return NULL;
}

static void grow(nstore *ns)
{
    size_t n = ns->nbuckets * 2;
    nent **b = calloc(n, sizeof(nent *));
    if (!b)
        return;
    for (size_t i = 0; i < ns->nbuckets; i++) {
        for (nent *e = ns->buckets[i], *next; e; e = next) {
            next = e->hnext;
            size_t k = hash_name(e->name) & (n - 1);
            e->hnext = b[k];
            b[k] = e;
        }
    }
    free(ns->buckets);
    ns->buckets = b;
    ns->nbuckets = n;
}

nent *ns_ent_get(nstore *ns, const char *name)
{
    nent *e = ns_ent_find(ns, name);
    if (e)
        return e;
    if (!(e = calloc(1, sizeof(*e))))
        return NULL;
    e->name = strdup(name);
    e->token = ns_token_encode(name);
    if (e->token && (e->subj = malloc(strlen(ns->prefix) + strlen(e->token) + 4)))
        sprintf(e->subj, "%s.r.%s", ns->prefix, e->token);
    if (!e->name || !e->token || !e->subj) {
        free(e->name);
        free(e->token);
        free(e->subj);
        free(e);
        return NULL;
    }
    if (ns->count >= ns->nbuckets)
        grow(ns);
    size_t k = hash_name(name) & (ns->nbuckets - 1);
    e->hnext = ns->buckets[k];
    ns->buckets[k] = e;
    ns->count++;
    return e;
}

static void ent_unlink_free(nstore *ns, nent *e)
{
    nent **pp = &ns->buckets[hash_name(e->name) & (ns->nbuckets - 1)];
    while (*pp && *pp != e)
        pp = &(*pp)->hnext;
    if (*pp) {
        *pp = e->hnext;
        ns->count--;
    }
    free(e->name);
    free(e->token);
    free(e->subj);
    free(e);
}

void ns_ent_maybe_free(nstore *ns, nent *e)
{
    if (e && !e->writer[0] && !e->iw && !e->res && !e->local && !e->pin && !ns->closing)
        ent_unlink_free(ns, e);
}

void ns_ents_free(nstore *ns)
{
    for (size_t i = 0; ns->buckets && i < ns->nbuckets; i++) {
        while (ns->buckets[i]) {
            nent *e = ns->buckets[i];
            if (e->res)
                e->res->ent = NULL;
            if (e->local)
                e->local->ent = NULL;
            ent_unlink_free(ns, e);
        }
    }
}

nwriter *ns_local_writer(nstore *ns, const char *id)
{
    for (nwriter *w = ns->writers; w; w = w->next)
        if (strcmp(w->id, id) == 0)
            return w;
    return NULL;
}

/* LEASED as a reader sees it: this store's writer while it holds the lease, else the stream's
 * current writer unless its key lapsed or it is one of ours that already let go. */
int ns_ent_leased(const nstore *ns, const nent *e)
{
    size_t n = strlen(ns->node);
    if (e->local && !e->local->released && !e->local->failed)
        return 1;
    if (!e->writer[0] || e->lapsed)
        return 0;
    return strncmp(e->writer, ns->node, n) != 0 || e->writer[n] != '-';
}

void ns_ent_changed(nent *e)
{
    nres *r = e->res;
    if (!r)
        return;
    unsigned before = r->base.state;
    ns_res_sync(r);
    if ((before ^ r->base.state) & STORE_LEASED) {
        store_res_ref(&r->base);
        store_notify(&r->base, STORE_EV_LEASE);
        store_res_unref(&r->base);
    }
}

static void drop_writer(nent *e)
{
    e->writer[0] = 0;
    e->lapsed = 0;
    e->lapse_known = 0;
    e->lapse_gen++;
    if (e->iw) {
        store_res *iw = e->iw;
        e->iw = NULL;
        store_release(iw); /* the inner store writes what it holds first */
    }
}

static int writer_valid(const char *w)
{
    size_t n = strlen(w);
    if (n == 0 || n >= NS_WID_MAX)
        return 0;
    for (; *w; w++)
        if (*w <= ' ' || *w > '~')
            return 0;
    return 1;
}

static int inner_lease(nstore *ns, nent *e, uint64_t seq)
{
    if (e->iw)
        return 0;
    int rc = store_acquire(ns->inner, e->name, &e->iw);
    if (rc != STORE_OK) {
        e->iw = NULL;
        store_log(&ns->base, 0, "nats store: seq %llu: /%s: local copy: %s",
                  (unsigned long long)seq, e->name, store_strerror(rc));
        return -1;
    }
    return 0;
}

static void apply_begin(nstore *ns, nent *e, const char *w, uint64_t off, uint64_t seq)
{
    int ours = ns_local_writer(ns, w) != NULL;

    if (e->writer[0] && strcmp(e->writer, w) != 0)
        store_log(&ns->base, 1, "nats store: /%s: writer %s replaces %s", e->name, w, e->writer);
    snprintf(e->writer, sizeof(e->writer), "%s", w);
    e->lapsed = 0;
    e->lapse_known = 0;
    e->lapse_gen++;
    e->kv_seen_ms = ns_now_ms();
    if (inner_lease(ns, e, seq) == 0 && store_accepted(e->iw) != off)
        store_log(&ns->base, 1, "nats store: /%s: writer %s begins at %llu, local copy has %llu",
                  e->name, w, (unsigned long long)off, (unsigned long long)store_accepted(e->iw));
    ns_ent_changed(e);
    if (!ours && e->iw)
        store_notify_created(&ns->base, e->name); /* followers waiting for it here (?wait) */
}

static void apply_data(nstore *ns, nent *e, const char *w, uint64_t off, natsMsg *m, uint64_t seq)
{
    const uint8_t *p = (const uint8_t *)natsMsg_GetData(m);
    size_t len = (size_t)natsMsg_GetDataLength(m);

    if (strcmp(e->writer, w) != 0 || len == 0)
        return; /* a fenced writer's, or nothing */
    if (inner_lease(ns, e, seq) < 0)
        return;
    uint64_t end = store_accepted(e->iw);
    if (off > end) {
        store_log(&ns->base, 1, "nats store: seq %llu: /%s: gap: data at %llu, end %llu: skipped",
                  (unsigned long long)seq, e->name, (unsigned long long)off,
                  (unsigned long long)end);
        return;
    }
    if (off + len <= end)
        return; /* a duplicate */
    size_t skip = (size_t)(end - off);
    struct iovec iov = {(void *)(p + skip), len - skip};
    int rc = store_append(e->iw, &iov, 1);
    if (rc != STORE_OK)
        store_log(&ns->base, 0, "nats store: seq %llu: /%s: local append: %s",
                  (unsigned long long)seq, e->name, store_strerror(rc));
}

static void apply_meta(nstore *ns, nent *e, natsMsg *m, uint64_t seq)
{
    store_meta meta;
    store_res *h = e->iw;
    const uint8_t *p = (const uint8_t *)natsMsg_GetData(m);

    if (ns_meta_decode(p, (size_t)natsMsg_GetDataLength(m), &meta) < 0) {
        store_log(&ns->base, 0, "nats store: seq %llu: /%s: malformed metadata: skipped",
                  (unsigned long long)seq, e->name);
        return;
    }
    if (h)
        store_res_ref(h);
    else if (store_open(ns->inner, e->name, &h) != STORE_OK)
        h = NULL;
    int rc = h ? store_meta_set(h, &meta) : STORE_ENOENT;
    if (rc != STORE_OK)
        store_log(&ns->base, 0, "nats store: seq %llu: /%s: metadata: %s", (unsigned long long)seq,
                  e->name, store_strerror(rc));
    if (h)
        store_res_unref(h);
    store_meta_free(&meta);
}

static void apply_remove(nstore *ns, nent *e)
{
    drop_writer(e);
    int rc = store_remove(ns->inner, e->name);
    if (rc != STORE_OK && rc != STORE_ENOENT)
        store_log(&ns->base, 0, "nats store: /%s: removing the local copy: %s", e->name,
                  store_strerror(rc));
    nres *r = e->res;
    if (r) {
        e->res = NULL; /* the open handle keeps what it had; the name is a new resource */
        r->ent = NULL;
        unsigned before = r->base.state;
        ns_res_sync(r);
        if ((before ^ r->base.state) & STORE_LEASED)
            store_notify(&r->base, STORE_EV_LEASE);
    }
}

static const char *header(natsMsg *m, const char *k)
{
    const char *v = NULL;
    return natsMsgHeader_Get(m, k, &v) == NATS_OK && v ? v : NULL;
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    if (!s || *s < '0' || *s > '9')
        return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || v > (1ull << 62))
        return -1;
    *out = v;
    return 0;
}

void ns_apply(nstore *ns, natsMsg *m)
{
    jsMsgMetaData *md = NULL;
    const char *subj = natsMsg_GetSubject(m), *why = NULL;
    size_t plen = strlen(ns->prefix);
    uint64_t seq, off = 0;

    if (natsMsg_GetMetaData(&md, m) != NATS_OK) {
        store_log(&ns->base, 0, "nats store: a message without stream metadata on %s: skipped",
                  subj ? subj : "?");
        return;
    }
    seq = md->Sequence.Stream;
    jsMsgMetaData_Destroy(md);
    if (seq <= ns->applied)
        return; /* seen already (a consumer restarted before it) */
    ns->applied = seq;

    const char *kind = header(m, "Hfs-Kind"), *w = header(m, "Hfs-Writer");
    char *name = NULL;
    if (!subj || strncmp(subj, ns->prefix, plen) != 0 || strncmp(subj + plen, ".r.", 3) != 0 ||
        strchr(subj + plen + 3, '.'))
        why = "subject";
    else if (!(name = ns_token_decode(subj + plen + 3, strlen(subj + plen + 3))) ||
             !fs_rel_valid(name) || !*name || name[strlen(name) - 1] == '/')
        why = "name";
    else if (!kind)
        why = "no Hfs-Kind";
    else if ((!strcmp(kind, "begin") || !strcmp(kind, "data") || !strcmp(kind, "end")) &&
             (!w || !writer_valid(w)))
        why = "Hfs-Writer";
    else if ((!strcmp(kind, "begin") || !strcmp(kind, "data")) &&
             parse_u64(header(m, "Hfs-Off"), &off) < 0)
        why = "Hfs-Off";
    if (why) {
        store_log(&ns->base, 0, "nats store: seq %llu: malformed message on %s (%s): skipped",
                  (unsigned long long)seq, subj ? subj : "?", why);
        free(name);
        return;
    }
    nent *e = ns_ent_get(ns, name);
    free(name);
    if (!e) {
        store_log(&ns->base, 0, "nats store: seq %llu: out of memory: skipped",
                  (unsigned long long)seq);
        return;
    }
    if (!strcmp(kind, "begin"))
        apply_begin(ns, e, w, off, seq);
    else if (!strcmp(kind, "data"))
        apply_data(ns, e, w, off, m, seq);
    else if (!strcmp(kind, "end")) {
        if (strcmp(e->writer, w) == 0) {
            drop_writer(e);
            ns_ent_changed(e);
        }
    } else if (!strcmp(kind, "meta"))
        apply_meta(ns, e, m, seq);
    else if (!strcmp(kind, "remove"))
        apply_remove(ns, e);
    else
        store_log(&ns->base, 0, "nats store: seq %llu: unknown kind \"%.32s\": skipped",
                  (unsigned long long)seq, kind);
    ns_ent_maybe_free(ns, e);
}

int ns_drain_until(nstore *ns, uint64_t seq, int ms)
{
    int64_t end = ns_now_ms() + ms;
    while (ns->applied < seq) {
        int64_t left = end - ns_now_ms();
        if (left <= 0)
            return -1;
        nev *e = ns_queue_pop(ns, (int)(left < 50 ? left : 50));
        if (e)
            ns_handle_event(ns, e);
    }
    return 0;
}

void ns_drain_some(nstore *ns, size_t max_bytes)
{
    size_t done = 0;
    nev *e;
    while (done < max_bytes && (e = ns_queue_pop(ns, 0))) {
        done += e->bytes + 64;
        ns_handle_event(ns, e);
    }
    pthread_mutex_lock(&ns->mu);
    int more = ns->qhead != NULL;
    pthread_mutex_unlock(&ns->mu);
    if (more && !ns->closing)
        uv_async_send(&ns->async);
}
