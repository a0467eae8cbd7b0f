/* conn.c -- the NATS store's life: connecting (every URL of -store, reconnecting forever), the
 * stream and the lease bucket (created when missing), the ordered consumer, the queue that hands
 * libnats' callbacks to the loop (queue.c), the tick (renewals, lapses, retries, health, the
 * applied state) and closing. */
#include "store/nats/nstore.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t lib_mu = PTHREAD_MUTEX_INITIALIZER;
static int lib_users;

int64_t ns_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int lib_ref(void)
{
    int ok = 1;
    pthread_mutex_lock(&lib_mu);
    if (lib_users == 0)
        ok = nats_Open(-1) == NATS_OK;
    if (ok)
        lib_users++;
    pthread_mutex_unlock(&lib_mu);
    return ok ? 0 : -1;
}

/* A closed store's struct stays until libnats' threads are gone: a late callback of theirs (a
 * message handler still running, a connection event) finds its queue closing and drops what it
 * brings. */
static nstore *graveyard;

static void lib_unref(nstore *dead)
{
    pthread_mutex_lock(&lib_mu);
    dead->grave_next = graveyard;
    graveyard = dead;
    if (--lib_users == 0) {
        nats_CloseAndWait(2000);
        while (graveyard) {
            nstore *ns = graveyard;
            graveyard = ns->grave_next;
            pthread_cond_destroy(&ns->cv_space);
            pthread_cond_destroy(&ns->cv_data);
            pthread_mutex_destroy(&ns->mu);
            free(ns);
        }
    }
    pthread_mutex_unlock(&lib_mu);
}

/* ---- health ---------------------------------------------------------------------------------- */

int ns_down(const nstore *ns)
{
    return !ns->healthy;
}

void ns_go_down(nstore *ns)
{
    ns->healthy = 0;
    store_log(&ns->base, 0, "nats store: NATS unavailable: failing writers and followers");
    ns_writers_pin(ns);
    for (nwriter *w = ns->writers; w; w = w->next)
        if (!w->failed && !w->released)
            ns_writer_fail(w, EIO, "NATS unavailable");
    ns_writers_unpin(ns, 0);
    for (size_t i = 0; i < ns->nbuckets; i++) {
        for (nent *e = ns->buckets[i]; e; e = e->hnext) {
            nres *r = e->res;
            if (r && r->base.watch && !r->notified) {
                r->notified = 1;
                r->base.err = EIO;
                store_res_ref(&r->base);
                store_notify(&r->base, STORE_EV_FAILED);
                store_res_unref(&r->base);
            }
        }
    }
}

static void go_up(nstore *ns)
{
    ns->healthy = 1;
    store_log(&ns->base, 1, "nats store: NATS available again");
    for (size_t i = 0; i < ns->nbuckets; i++)
        for (nent *e = ns->buckets[i]; e; e = e->hnext)
            if (e->res)
                e->res->notified = 0;
}

static void resubscribe(nstore *ns, int64_t now);

static void tick_cb(uv_timer_t *t)
{
    nstore *ns = t->data;
    int64_t now = ns_now_ms();

    if (ns->healthy && !ns->connected && now - ns->down_since_ms >= NS_DOWN_MS)
        ns_go_down(ns);
    else if (!ns->healthy && ns->connected)
        go_up(ns);
    resubscribe(ns, now);
    ns_writers_pin(ns);
    ns_lease_tick(ns, now);
    for (nwriter *w = ns->writers; w; w = w->next)
        ns_writer_retry_tick(w, now);
    ns_writers_unpin(ns, 0);
    ns_tick_persist(ns);
}

/* ---- the applied state: saved once the inner store wrote what was applied -------------------- */

static void cand_done(nstore *ns)
{
    if (--ns->cand_waits > 0)
        return;
    ns->cand_on = 0;
    if (ns->cand_text)
        ns_state_write(ns, ns->cand_text, ns->cand);
    free(ns->cand_text);
    ns->cand_text = NULL;
}

static void cand_cb(void *arg, int err)
{
    (void)err;
    cand_done(arg);
}

void ns_tick_persist(nstore *ns)
{
    if (ns->cand_on || ns->applied == ns->saved || ns->closing)
        return;
    ns->cand_on = 1;
    ns->cand = ns->applied;
    ns->cand_text = ns_state_snapshot(ns, ns->applied);
    ns->cand_waits = 1;
    for (size_t i = 0; i < ns->nbuckets; i++) {
        for (nent *e = ns->buckets[i]; e; e = e->hnext) {
            store_wait *w;
            if (e->iw && store_when_written(e->iw, STORE_WAIT_WRITTEN, cand_cb, ns, &w) == 1)
                ns->cand_waits++;
        }
    }
    cand_done(ns);
}

/* ---- the partial buffers of writers go out on the next loop iteration ------------------------ */

static void idle_cb(uv_idle_t *h)
{
    nstore *ns = h->data;
    uv_idle_stop(h);
    ns->idle_on = 0;
    ns_flush_all(ns);
}

void ns_idle_start(nstore *ns)
{
    if (!ns->idle_on && !ns->closing) {
        ns->idle_on = 1;
        uv_idle_start(&ns->idle, idle_cb);
    }
}

/* ---- connecting ------------------------------------------------------------------------------ */

static char *dupstr(const char *s, const char *dflt)
{
    return strdup(s && *s ? s : dflt);
}

static int split_urls(const char *urls, char ***out, int *n)
{
    char *copy = strdup(urls), *save = NULL;
    char **v = calloc(strlen(urls) / 2 + 2, sizeof(char *));
    int k = 0;
    if (!copy || !v) {
        free(copy);
        free(v);
        return -1;
    }
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
        if (*t && !(v[k++] = strdup(t)))
            break;
    free(copy);
    *out = v;
    *n = k;
    return 0;
}

static natsStatus make_options(nstore *ns, const store_nats_options *no, natsOptions **out)
{
    natsOptions *opts = NULL;
    char **urls = NULL;
    int n = 0, tls = 0;
    natsStatus s = natsOptions_Create(&opts);

    if (s == NATS_OK && split_urls(no->urls, &urls, &n) < 0)
        s = NATS_NO_MEMORY;
    for (int i = 0; i < n; i++)
        tls |= urls && strncmp(urls[i], "tls://", 6) == 0;
    if (s == NATS_OK)
        s = natsOptions_SetServers(opts, (const char **)urls, n);
    if (s == NATS_OK)
        s = natsOptions_SetMaxReconnect(opts, -1);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectWait(opts, 250);
    if (s == NATS_OK)
        s = natsOptions_SetTimeout(opts, no->connect_ms ? no->connect_ms : NS_API_MS);
    if (s == NATS_OK)
        s = natsOptions_SetDisconnectedCB(opts, ns_on_disconnected, ns);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectedCB(opts, ns_on_reconnected, ns);
    if (s == NATS_OK)
        s = natsOptions_SetClosedCB(opts, ns_on_closed, ns);
    if (s == NATS_OK && no->creds && *no->creds)
        s = natsOptions_SetUserCredentialsFromFiles(opts, no->creds, NULL);
    if (s == NATS_OK && (tls || (no->cacert && *no->cacert)))
        s = natsOptions_SetSecure(opts, true);
    if (s == NATS_OK && no->cacert && *no->cacert)
        s = natsOptions_LoadCATrustedCertificates(opts, no->cacert);
    for (int i = 0; urls && i < n; i++)
        free(urls[i]);
    free(urls);
    if (s != NATS_OK)
        natsOptions_Destroy(opts);
    else
        *out = opts;
    return s;
}

/* The stream and the bucket, created when missing; retried while JetStream elects its leader. */
static natsStatus setup_stream(nstore *ns)
{
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    char subj[300];
    natsStatus s;
    int64_t end = ns_now_ms() + 15000;

    snprintf(subj, sizeof(subj), "%s.r.>", ns->prefix);
    do {
        s = js_GetStreamInfo(&si, ns->js, ns->stream, NULL, &jerr);
        if (s == NATS_NOT_FOUND) {
            jsStreamConfig cfg;
            const char *subjects[] = {subj};
            jsStreamConfig_Init(&cfg);
            cfg.Name = ns->stream;
            cfg.Subjects = subjects;
            cfg.SubjectsLen = 1;
            cfg.Storage = js_FileStorage;
            cfg.Replicas = ns->replicas;
            cfg.Retention = js_LimitsPolicy;
            cfg.MaxMsgsPerSubject = -1;
            cfg.Duplicates = (int64_t)120 * 1000000000;
            cfg.AllowDirect = true;
            s = js_AddStream(&si, ns->js, &cfg, NULL, &jerr);
        }
        if (s == NATS_OK) {
            if (si->Config && si->Config->Replicas != ns->replicas)
                store_log(&ns->base, 1, "nats store: stream %s has %lld replicas, not %d",
                          ns->stream, (long long)si->Config->Replicas, ns->replicas);
            jsStreamInfo_Destroy(si);
            break;
        }
        nats_Sleep(250);
    } while (ns_now_ms() < end);
    if (s != NATS_OK) {
        store_log(&ns->base, 0, "nats store: stream %s: %s (%d)", ns->stream, natsStatus_GetText(s),
                  (int)jerr);
        return s;
    }
    do {
        s = js_KeyValue(&ns->kv, ns->js, ns->bucket);
        if (s == NATS_NOT_FOUND) {
            kvConfig kc;
            kvConfig_Init(&kc);
            kc.Bucket = ns->bucket;
            kc.History = 1;
            kc.Replicas = ns->replicas;
            kc.TTL = (int64_t)ns->lease_ms * 1000000; /* nanoseconds */
            s = js_CreateKeyValue(&ns->kv, ns->js, &kc);
        }
        if (s == NATS_OK)
            break;
        nats_Sleep(250);
    } while (ns_now_ms() < end);
    if (s != NATS_OK) {
        store_log(&ns->base, 0, "nats store: lease bucket %s: %s", ns->bucket,
                  natsStatus_GetText(s));
        return s;
    }
    /* The TTL is the bucket's, fixed when it was created: that is the lease, whatever -lease. */
    kvStatus *st = NULL;
    if (kvStore_Status(&st, ns->kv) == NATS_OK) {
        int64_t ttl_ms = kvStatus_TTL(st) / 1000000;
        if (ttl_ms >= 100 && ttl_ms != (int64_t)ns->lease_ms) {
            store_log(&ns->base, 1,
                      "nats store: lease bucket %s has a TTL of %lld ms: the lease is that, "
                      "not %u ms",
                      ns->bucket, (long long)ttl_ms, ns->lease_ms);
            ns->lease_ms = (unsigned)ttl_ms;
        }
        kvStatus_Destroy(st);
    }
    return s;
}

/* The ordered consumer over every resource's subject, from sequence from. */
static natsStatus consume(nstore *ns, uint64_t from, natsSubscription **out)
{
    jsSubOptions so;
    jsErrCode jerr = 0;
    char subj[300];

    jsSubOptions_Init(&so);
    so.Stream = ns->stream;
    so.Ordered = true;
    if (from > 1) {
        so.Config.DeliverPolicy = js_DeliverByStartSequence;
        so.Config.OptStartSeq = from;
    } else {
        so.Config.DeliverPolicy = js_DeliverAll;
    }
    snprintf(subj, sizeof(subj), "%s.r.>", ns->prefix);
    natsStatus s = js_Subscribe(out, ns->js, subj, ns_on_msg, ns, NULL, &so, &jerr);
    if (s != NATS_OK)
        store_log(&ns->base, 0, "nats store: consumer on %s from seq %llu: %s (%d)", subj,
                  (unsigned long long)from, natsStatus_GetText(s), (int)jerr);
    return s;
}

static natsStatus subscribe(nstore *ns)
{
    char subj[300];

    snprintf(subj, sizeof(subj), "$KV.%s.>", ns->bucket);
    natsStatus s = natsConnection_Subscribe(&ns->kvsub, ns->nc, subj, ns_on_kv, ns);
    return s == NATS_OK ? consume(ns, ns->applied + 1, &ns->sub) : s;
}

/* After a reconnection the consumer is made again from what was applied (on the thread pool:
 * JetStream may still be electing its leaders; retried every second until it works). Messages
 * both consumers deliver are applied once (by sequence). */
typedef struct resub_job {
    uv_work_t req;
    nstore *ns;
    uint64_t from;
    natsSubscription *old, *sub;
    natsStatus s;
} resub_job;

static void resub_work(uv_work_t *req)
{
    resub_job *j = req->data;
    j->s = consume(j->ns, j->from, &j->sub);
    if (j->s == NATS_OK && j->old) {
        natsSubscription_Unsubscribe(j->old);
        natsSubscription_Destroy(j->old);
        j->old = NULL;
    }
}

static void resub_done(uv_work_t *req, int status)
{
    resub_job *j = req->data;
    nstore *ns = j->ns;

    (void)status;
    ns->resub_on = 0;
    ns->jobs--;
    if (j->s == NATS_OK) {
        ns->sub = j->sub;
        ns->resub = 0;
        store_log(&ns->base, 1, "nats store: consumer made again from seq %llu",
                  (unsigned long long)j->from);
    } else {
        ns->sub = j->old;
        ns->resub_at_ms = ns_now_ms() + 1000;
    }
    free(j);
    if (ns->closing)
        ns_maybe_done(ns);
}

static void resubscribe(nstore *ns, int64_t now)
{
    resub_job *j;

    if (!ns->resub || ns->resub_on || !ns->connected || ns->closing || now < ns->resub_at_ms ||
        !(j = calloc(1, sizeof(*j))))
        return;
    j->req.data = j;
    j->ns = ns;
    j->from = ns->applied + 1;
    j->old = ns->sub;
    ns->sub = NULL;
    ns->resub_on = 1;
    ns->jobs++;
    if (uv_queue_work(ns->loop, &j->req, resub_work, resub_done) != 0) {
        ns->sub = j->old;
        ns->resub_on = 0;
        ns->jobs--;
        free(j);
    }
}

static int lock_root(nstore *ns)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/.httpfstream", ns->root);
    mkdir(path, 0700);
    snprintf(path, sizeof(path), "%s/.httpfstream/nats.lock", ns->root);
    ns->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (ns->lock_fd < 0)
        return errno == ENOENT ? STORE_ENOENT : STORE_EIO;
    if (flock(ns->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        store_log(&ns->base, 0, "nats store: %s is in use by another store", ns->root);
        return STORE_EBUSY;
    }
    return STORE_OK;
}

static void handle_closed(uv_handle_t *h);
static void nats_free(nstore *ns);

int store_nats_new(const store_nats_options *no, const store_options *o, store **out)
{
    nstore *ns = calloc(1, sizeof(*ns));
    natsOptions *opts = NULL;
    natsStatus s;
    int err;

    if (!ns)
        return STORE_ENOMEM;
    pthread_mutex_init(&ns->mu, NULL);
    pthread_cond_init(&ns->cv_space, NULL);
    pthread_cond_init(&ns->cv_data, NULL);
    ns->base.ops = &ns_ops;
    ns->base.shared = 1;
    ns->base.opt = *o;
    ns->loop = o->loop;
    ns->lock_fd = -1;
    ns->replicas = no->replicas > 0 ? no->replicas : 3;
    ns->lease_ms = no->lease_ms ? no->lease_ms : 10000;
    ns->nbuckets = 64;
    ns->buckets = calloc(ns->nbuckets, sizeof(nent *));
    ns->root = dupstr(no->root, ".");
    ns->stream = dupstr(no->stream, "HFS");
    ns->prefix = dupstr(no->prefix, "hfs");
    ns->bucket = dupstr(no->bucket, "HFS_LEASE");
    if (ns->bucket && (ns->kvprefix = malloc(strlen(ns->bucket) + 6)))
        sprintf(ns->kvprefix, "$KV.%s.", ns->bucket);
    if (!ns->buckets || !ns->root || !ns->stream || !ns->prefix || !ns->bucket || !ns->kvprefix) {
        nats_free(ns);
        return STORE_ENOMEM;
    }
    snprintf(ns->node, sizeof(ns->node), "%08x%08x", (unsigned)random(), (unsigned)ns_now_ms());

    store_options io = *o;
    io.size_max = 0; /* the applier never refuses what the stream holds; appends check */
    io.sync = STORE_SYNC_NONE;
    if ((err = store_file_new(ns->root, &io, &ns->inner)) != STORE_OK ||
        (err = lock_root(ns)) != STORE_OK) {
        nats_free(ns);
        return err;
    }
    if (ns_state_load(ns) < 0 || lib_ref() < 0) {
        nats_free(ns);
        return STORE_EIO;
    }
    ns->lib_on = 1;
    s = make_options(ns, no, &opts);
    if (s == NATS_OK)
        s = natsConnection_Connect(&ns->nc, opts);
    natsOptions_Destroy(opts);
    if (s == NATS_OK) {
        jsOptions jo;
        jsOptions_Init(&jo);
        jo.Wait = NS_API_MS;
        jo.PublishAsync.MaxPending = 4096;
        jo.PublishAsync.AckHandler = ns_on_ack;
        jo.PublishAsync.AckHandlerClosure = ns;
        s = natsConnection_JetStream(&ns->js, ns->nc, &jo);
    } else {
        store_log(&ns->base, 0, "nats store: connecting to %s: %s", no->urls,
                  natsStatus_GetText(s));
    }
    if (s == NATS_OK)
        s = setup_stream(ns);
    uv_async_init(ns->loop, &ns->async, ns_async_cb);
    uv_timer_init(ns->loop, &ns->tick);
    uv_idle_init(ns->loop, &ns->idle);
    ns->async.data = ns->tick.data = ns->idle.data = ns;
    if (s == NATS_OK)
        s = subscribe(ns);
    if (s != NATS_OK) {
        ns->closing = 1;
        pthread_mutex_lock(&ns->mu);
        ns->qclosing = 1;
        pthread_mutex_unlock(&ns->mu);
        uv_close((uv_handle_t *)&ns->async, NULL);
        uv_close((uv_handle_t *)&ns->tick, NULL);
        uv_close((uv_handle_t *)&ns->idle, NULL);
        uv_run(ns->loop, UV_RUN_NOWAIT); /* the handles are closed before this returns */
        nats_free(ns);
        errno = EIO;
        return STORE_EIO;
    }
    ns->connected = ns->healthy = 1;
    unsigned period = ns->lease_ms / 4 < 250 ? ns->lease_ms / 4 : 250;
    uv_timer_start(&ns->tick, tick_cb, period ? period : 1, period ? period : 1);
    store_log(&ns->base, 2, "nats store: %s stream %s, bucket %s, local copy %s from seq %llu",
              no->urls, ns->stream, ns->bucket, ns->root, (unsigned long long)ns->applied + 1);
    *out = &ns->base;
    return STORE_OK;
}

void store_nats_sever(store *st)
{
    nstore *ns = NS(st);
    ns->severed = 1;
    ns->connected = 0;
    ns->down_since_ms = ns_now_ms();
    natsConnection_Close(ns->nc);
}

/* ---- closing --------------------------------------------------------------------------------- */

static void nats_free(nstore *ns)
{
    pthread_mutex_lock(&ns->mu);
    ns->qclosing = 1; /* from now on, callbacks drop what they bring */
    pthread_cond_broadcast(&ns->cv_space);
    pthread_mutex_unlock(&ns->mu);
    while (ns->writers) { /* (only when closing did not finish them: NATS was gone) */
        ns->writers->busy = 0;
        ns->writers->ent = NULL;
        ns_writer_free(ns->writers);
    }
    if (ns->sub)
        natsSubscription_Destroy(ns->sub);
    if (ns->kvsub)
        natsSubscription_Destroy(ns->kvsub);
    if (ns->kv)
        kvStore_Destroy(ns->kv);
    if (ns->js)
        jsCtx_Destroy(ns->js);
    if (ns->nc) {
        natsConnection_Close(ns->nc);
        /* Its callbacks run on a thread of libnats: the closed one comes last. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 5;
        pthread_mutex_lock(&ns->mu);
        while (!ns->nc_closed)
            if (pthread_cond_timedwait(&ns->cv_data, &ns->mu, &ts) != 0)
                break;
        pthread_mutex_unlock(&ns->mu);
        natsConnection_Destroy(ns->nc);
    }
    for (nev *e; (e = ns_queue_pop(ns, 0));) {
        natsMsg_Destroy(e->msg);
        free(e);
    }
    ns_ents_free(ns);
    if (ns->inner && !ns->closed_inner)
        store_close(ns->inner, NULL, NULL);
    if (ns->lock_fd >= 0)
        close(ns->lock_fd);
    free(ns->cand_text);
    free(ns->buckets);
    free(ns->root);
    free(ns->stream);
    free(ns->prefix);
    free(ns->bucket);
    free(ns->kvprefix);
    if (ns->lib_on) {
        lib_unref(ns); /* frees ns, now or once libnats closed */
        return;
    }
    pthread_cond_destroy(&ns->cv_space);
    pthread_cond_destroy(&ns->cv_data);
    pthread_mutex_destroy(&ns->mu);
    free(ns);
}

void ns_maybe_done(nstore *ns)
{
    if (!ns->closed_inner || ns->closing < 4 || ns->jobs)
        return; /* the inner store, the three handles, the renewals */
    store_closed_cb cb = ns->closed_cb;
    void *arg = ns->closed_arg;
    if (ns->applied != ns->saved) {
        char *t = ns_state_snapshot(ns, ns->applied);
        if (t)
            ns_state_write(ns, t, ns->applied);
        free(t);
    }
    nats_free(ns);
    if (cb)
        cb(arg);
}

static void handle_closed(uv_handle_t *h)
{
    nstore *ns = h->data;
    ns->closing++;
    ns_maybe_done(ns);
}

static void inner_closed(void *arg)
{
    nstore *ns = arg;
    ns->closed_inner = 1;
    ns_maybe_done(ns);
}

void ns_close_store(store *st, store_closed_cb done, void *arg)
{
    nstore *ns = NS(st);
    uint64_t need = 0;

    ns->closed_cb = done;
    ns->closed_arg = arg;
    /* Writers still sending finish first: every accepted byte in the stream and applied here. */
    ns_writers_pin(ns);
    for (nwriter *w = ns->writers; w && !ns->severed && ns->connected; w = w->next) {
        ns_writer_settle(w, NS_DRAIN_MS);
        if (w->max_ack_seq > need)
            need = w->max_ack_seq;
    }
    ns_writers_unpin(ns, 1);
    if (ns->want_seq > need)
        need = ns->want_seq;
    if (need > ns->applied && ns->connected && !ns->severed)
        ns_drain_until(ns, need, NS_DRAIN_MS);
    ns->closing = 1;
    pthread_mutex_lock(&ns->mu);
    ns->qclosing = 1;
    pthread_cond_broadcast(&ns->cv_space);
    pthread_mutex_unlock(&ns->mu);
    if (ns->sub)
        natsSubscription_Unsubscribe(ns->sub);
    if (ns->kvsub)
        natsSubscription_Unsubscribe(ns->kvsub);
    for (size_t i = 0; i < ns->nbuckets; i++) {
        for (nent *e = ns->buckets[i]; e; e = e->hnext) {
            if (e->iw) {
                store_release(e->iw); /* e->writer stays: saved with the applied state */
                e->iw = NULL;
            }
        }
    }
    uv_close((uv_handle_t *)&ns->async, handle_closed);
    uv_close((uv_handle_t *)&ns->tick, handle_closed);
    uv_close((uv_handle_t *)&ns->idle, handle_closed);
    store_close(ns->inner, inner_closed, ns);
}
