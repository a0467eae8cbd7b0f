/* stream.c -- the state of Durable Streams streams: a registry by name of what is in memory, its
 * persistence in the resource's metadata (store_meta_set/get: the content type, the created and
 * expiry times, the closed flag, and a blob of text lines for the rest), the sliding TTL, and
 * deletion with fork references.
 *
 * The blob, one record per line (values never hold a line break: they come from header values):
 *   DS1
 *   ttl <seconds>                 exp <RFC 3339 as given>        seq <last Stream-Seq>
 *   fork <offset> <sub-offset> <source name>                     refs <forks alive>
 *   deleted                       cby <epoch> <seq> <producer id that closed it>
 *   p <epoch> <seq> <updated ms> <producer id>                   (one per producer)
 *
 * A fork is a stream of its own whose first bytes were copied from its source when it was made
 * (http.c), so reading it never goes back to the source. The source still counts it (refs): a
 * deleted source with live forks is only soft-deleted (410, its name stays taken), and is removed
 * once its last fork goes, which may in turn release its own source. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ds/ds_int.h"
#include "http/path.h"
#include "server/fanout.h"

static uint32_t hash_name(const char *s)
{
    uint32_t h = 2166136261u;

    while (*s)
        h = (h ^ (uint8_t)*s++) * 16777619u;
    return h;
}

static int registry_grow(ds_state *d)
{
    size_t n = d->nbuckets ? d->nbuckets * 2 : 256;
    ds_stream **b = calloc(n, sizeof(*b));

    if (!b)
        return -1;
    for (size_t i = 0; i < d->nbuckets; i++) {
        for (ds_stream *s = d->buckets[i], *next; s; s = next) {
            next = s->hnext;
            s->hnext = b[s->hash & (n - 1)];
            b[s->hash & (n - 1)] = s;
        }
    }
    free(d->buckets);
    d->buckets = b;
    d->nbuckets = n;
    return 0;
}

static ds_stream *registry_find(ds_state *d, const char *rel)
{
    if (!d->nbuckets)
        return NULL;
    uint32_t h = hash_name(rel);
    for (ds_stream *s = d->buckets[h & (d->nbuckets - 1)]; s; s = s->hnext)
        if (s->hash == h && strcmp(s->rel, rel) == 0)
            return s;
    return NULL;
}

static void registry_remove(ds_state *d, ds_stream *ds)
{
    if (!d->nbuckets)
        return;
    for (ds_stream **pp = &d->buckets[ds->hash & (d->nbuckets - 1)]; *pp; pp = &(*pp)->hnext) {
        if (*pp == ds) {
            *pp = ds->hnext;
            d->count--;
            return;
        }
    }
}

static void stream_free(ds_stream *ds)
{
    if (ds->res)
        store_res_unref(ds->res);
    for (size_t i = 0; i < ds->nprods; i++)
        free(ds->prods[i].id);
    free(ds->prods);
    free(ds->rel), free(ds->ctype), free(ds->expires_raw), free(ds->cb_id), free(ds->last_seq);
    free(ds->fork_from);
    free(ds);
}

ds_stream *ds_stream_new(ds_state *d, const char *rel)
{
    ds_stream *ds = calloc(1, sizeof(*ds));

    if (!ds || !(ds->rel = strdup(rel)) || (d->count + 1 > d->nbuckets && registry_grow(d) < 0)) {
        if (ds)
            free(ds->rel);
        free(ds);
        return NULL;
    }
    ds->hash = hash_name(rel);
    ds->ttl_s = -1;
    ds->last_access_ms = ds->last_used_ms = ds_now_ms();
    ds->busy = 1;
    ds->hnext = d->buckets[ds->hash & (d->nbuckets - 1)];
    d->buckets[ds->hash & (d->nbuckets - 1)] = ds;
    d->count++;
    return ds;
}

void ds_hold(ds_stream *ds)
{
    ds->busy++;
}

void ds_put(ds_state *d, ds_stream *ds)
{
    (void)d;
    ds->last_used_ms = ds_now_ms();
    if (--ds->busy == 0 && ds->gone)
        stream_free(ds);
}

int ds_expired(const ds_stream *ds, int64_t now)
{
    if (ds->expires_ms && now >= ds->expires_ms)
        return 1;
    return ds->ttl_s >= 0 && now >= ds->last_access_ms + ds->ttl_s * 1000;
}

void ds_touch(ds_stream *ds)
{
    ds->last_access_ms = ds->last_used_ms = ds_now_ms();
}

/* ---- the blob ---- */

uint8_t *ds_blob(const ds_stream *ds, size_t *len)
{
    textbuf b = {0};

    tb_str(&b, "DS1\n");
    if (ds->ttl_s >= 0) {
        tb_str(&b, "ttl ");
        tb_u64(&b, (uint64_t)ds->ttl_s);
        tb_str(&b, "\n");
    }
    if (ds->expires_raw) {
        tb_str(&b, "exp ");
        tb_str(&b, ds->expires_raw);
        tb_str(&b, "\n");
    }
    if (ds->last_seq) {
        tb_str(&b, "seq ");
        tb_str(&b, ds->last_seq);
        tb_str(&b, "\n");
    }
    if (ds->fork_from) {
        tb_str(&b, "fork ");
        tb_u64(&b, ds->fork_off);
        tb_str(&b, " ");
        tb_u64(&b, ds->fork_sub);
        tb_str(&b, " ");
        tb_str(&b, ds->fork_from);
        tb_str(&b, "\n");
    }
    if (ds->refs) {
        tb_str(&b, "refs ");
        tb_u64(&b, ds->refs);
        tb_str(&b, "\n");
    }
    if (ds->soft_deleted)
        tb_str(&b, "deleted\n");
    if (ds->closed_by_set) {
        tb_str(&b, "cby ");
        tb_u64(&b, ds->cb_epoch);
        tb_str(&b, " ");
        tb_u64(&b, ds->cb_seq);
        tb_str(&b, " ");
        tb_str(&b, ds->cb_id);
        tb_str(&b, "\n");
    }
    for (size_t i = 0; i < ds->nprods; i++) {
        const ds_producer *p = &ds->prods[i];
        tb_str(&b, "p ");
        tb_u64(&b, p->epoch);
        tb_str(&b, " ");
        tb_u64(&b, p->seq);
        tb_str(&b, " ");
        tb_u64(&b, (uint64_t)p->updated_ms);
        tb_str(&b, " ");
        tb_str(&b, p->id);
        tb_str(&b, "\n");
    }
    if (b.failed) {
        free(b.p);
        return NULL;
    }
    *len = b.len;
    return (uint8_t *)b.p;
}

/* Splits "N rest" off line: the number and the rest. -1 when malformed. */
static int take_u64(char **line, uint64_t *v)
{
    char *end;

    errno = 0;
    *v = strtoull(*line, &end, 10);
    if (end == *line || errno || (*end != ' ' && *end != '\0'))
        return -1;
    *line = *end ? end + 1 : end;
    return 0;
}

static int load_blob(ds_stream *ds, const uint8_t *blob, size_t len)
{
    char *text = malloc(len + 1), *save = NULL;
    uint64_t a = 0, b = 0, c = 0;
    int bad = 0;

    if (!text)
        return -1;
    memcpy(text, blob, len);
    text[len] = '\0';
    for (char *line = strtok_r(text, "\n", &save); line && !bad;
         line = strtok_r(NULL, "\n", &save)) {
        if (!strncmp(line, "ttl ", 4)) {
            line += 4;
            bad = take_u64(&line, &a) < 0;
            ds->ttl_s = (int64_t)a;
        } else if (!strncmp(line, "exp ", 4)) {
            free(ds->expires_raw);
            bad = !(ds->expires_raw = strdup(line + 4));
        } else if (!strncmp(line, "seq ", 4)) {
            free(ds->last_seq);
            bad = !(ds->last_seq = strdup(line + 4));
        } else if (!strncmp(line, "fork ", 5)) {
            line += 5;
            free(ds->fork_from);
            ds->fork_from = NULL;
            bad = take_u64(&line, &a) < 0 || take_u64(&line, &b) < 0 ||
                  !(ds->fork_from = strdup(line));
            ds->fork_off = a;
            ds->fork_sub = b;
        } else if (!strncmp(line, "refs ", 5)) {
            line += 5;
            bad = take_u64(&line, &ds->refs) < 0;
        } else if (!strcmp(line, "deleted")) {
            ds->soft_deleted = 1;
        } else if (!strncmp(line, "cby ", 4)) {
            line += 4;
            free(ds->cb_id);
            ds->cb_id = NULL;
            bad = take_u64(&line, &ds->cb_epoch) < 0 || take_u64(&line, &ds->cb_seq) < 0 ||
                  !(ds->cb_id = strdup(line));
            ds->closed_by_set = !bad;
        } else if (!strncmp(line, "p ", 2)) {
            line += 2;
            bad = take_u64(&line, &a) < 0 || take_u64(&line, &b) < 0 || take_u64(&line, &c) < 0 ||
                  ds_producer_set(ds, line, strlen(line), a, b) < 0;
            if (!bad)
                ds->prods[ds->nprods - 1].updated_ms = (int64_t)c;
        }
    }
    free(text);
    return bad ? -1 : 0;
}

/* ---- producers ---- */

ds_producer *ds_producer_find(ds_stream *ds, const char *id, size_t len)
{
    for (size_t i = 0; i < ds->nprods; i++)
        if (strlen(ds->prods[i].id) == len && memcmp(ds->prods[i].id, id, len) == 0)
            return &ds->prods[i];
    return NULL;
}

int ds_producer_set(ds_stream *ds, const char *id, size_t len, uint64_t epoch, uint64_t seq)
{
    ds_producer *p = ds_producer_find(ds, id, len);

    if (!p) {
        if (ds->nprods == DS_PRODUCERS) {
            /* Forget the producer heard from least recently. */
            size_t old = 0;
            for (size_t i = 1; i < ds->nprods; i++)
                if (ds->prods[i].updated_ms < ds->prods[old].updated_ms)
                    old = i;
            free(ds->prods[old].id);
            ds->prods[old] = ds->prods[--ds->nprods];
        }
        ds_producer *np = realloc(ds->prods, (ds->nprods + 1) * sizeof(*np));
        if (!np)
            return -1;
        ds->prods = np;
        p = &np[ds->nprods];
        if (!(p->id = strndup(id, len)))
            return -1;
        ds->nprods++;
    }
    p->epoch = epoch;
    p->seq = seq;
    p->updated_ms = ds_now_ms();
    return 0;
}

/* ---- load and save ---- */

/* Reads rel's state from the store. DS_FOUND (registered, busy 0), DS_NONE, DS_NATIVE, DS_ERR. */
static int load(ds_state *d, const char *rel, ds_stream **out)
{
    store *st = d->srv->st;
    store_res *res;
    store_meta m;
    int err = store_open(st, rel, &res);

    if (err == STORE_ENOENT || err == STORE_EISDIR || err == STORE_EDENIED ||
        err == STORE_ENAMETOOLONG)
        return err == STORE_EISDIR ? DS_NATIVE : DS_NONE;
    if (err != STORE_OK)
        return DS_ERR;
    if (store_meta_get(res, &m) != STORE_OK) {
        store_res_unref(res);
        return DS_ERR;
    }
    if (!m.stream) {
        store_meta_free(&m);
        store_res_unref(res);
        return DS_NATIVE;
    }
    ds_stream *ds = ds_stream_new(d, rel);
    if (!ds || load_blob(ds, m.blob, m.blob_len) < 0) {
        if (ds) {
            registry_remove(d, ds);
            stream_free(ds);
        }
        store_meta_free(&m);
        store_res_unref(res);
        return DS_ERR;
    }
    ds->busy = 0;
    ds->res = res;
    ds->ctype = m.content_type ? m.content_type : strdup("application/octet-stream");
    m.content_type = NULL;
    ds->json = ds->ctype && ds_is_json_type(ds->ctype);
    ds->created_ms = m.created_ms;
    ds->expires_ms = m.expires_ms;
    ds->closed = m.closed;
    ds->tail = store_accepted(res);
    store_meta_free(&m);
    *out = ds;
    return DS_FOUND;
}

int ds_save(ds_state *d, ds_stream *ds, const uint8_t *blob, size_t blob_len, int closed)
{
    uint8_t *own = NULL;
    store_meta m = {0};

    (void)d;
    if (!ds->res)
        return STORE_EIO;
    if (!blob) {
        own = ds_blob(ds, &blob_len);
        if (!own)
            return STORE_ENOMEM;
        blob = own;
    }
    m.content_type = ds->ctype;
    m.closed = closed;
    m.stream = 1;
    m.created_ms = ds->created_ms;
    m.expires_ms = ds->expires_ms;
    m.blob = (uint8_t *)blob;
    m.blob_len = blob_len;
    int err = store_meta_set(ds->res, &m);
    free(own);
    if (err != STORE_OK)
        srv_log(d->srv, HFS_LOG_ERROR, "stream /%s: saving its state failed: %s", ds->rel,
                store_strerror(err));
    return err;
}

/* ---- deletion ---- */

/* A deleted stream's readers (SSE and native followers) end where it was: nothing more comes. */
static void end_readers(ds_stream *ds)
{
    srv_res *sr = ds->res ? store_watcher(ds->res) : NULL;

    if (sr)
        follow_set_end(sr, store_accepted(ds->res), 0);
}

/* Takes ds out of the registry and wakes whoever waits on it; frees it once unused. */
static void forget(ds_state *d, ds_stream *ds)
{
    registry_remove(d, ds);
    ds->gone = 1;
    ds_polls_wake(d, ds);
    end_readers(ds);
    if (ds->busy == 0)
        stream_free(ds);
}

static int remove_stream(ds_state *d, ds_stream *ds);

/* A fork of src went away: one reference less, and a soft-deleted source with none left goes. */
static void release_source(ds_state *d, const char *src_rel)
{
    ds_stream *src;

    if (ds_lookup(d, src_rel, &src) != DS_FOUND)
        return;
    if (src->refs)
        src->refs--;
    if (src->soft_deleted && src->refs == 0)
        remove_stream(d, src);
    else
        ds_save(d, src, NULL, 0, src->closed);
}

static int remove_stream(ds_state *d, ds_stream *ds)
{
    int err = store_remove(d->srv->st, ds->rel);

    if (err != STORE_OK && err != STORE_ENOENT) {
        srv_log(d->srv, HFS_LOG_ERROR, "stream /%s: delete failed: %s", ds->rel,
                store_strerror(err));
        return err;
    }
    char *src = ds->fork_from ? strdup(ds->fork_from) : NULL;
    forget(d, ds);
    if (src) {
        release_source(d, src);
        free(src);
    }
    return STORE_OK;
}

int ds_delete(ds_state *d, ds_stream *ds)
{
    if (ds->refs > 0) {
        ds->soft_deleted = 1;
        ds_polls_wake(d, ds);
        end_readers(ds);
        return ds_save(d, ds, NULL, 0, ds->closed);
    }
    return remove_stream(d, ds);
}

/* An expired stream: as if deleted (forks keep a soft-deleted source). */
static void expire(ds_state *d, ds_stream *ds)
{
    if (ds->soft_deleted)
        return;
    srv_log(d->srv, HFS_LOG_INFO, "stream /%s expired", ds->rel);
    ds_delete(d, ds);
}

int ds_lookup(ds_state *d, const char *rel, ds_stream **out)
{
    ds_stream *ds = registry_find(d, rel);

    if (ds && !ds->busy && !ds->creating && store_shared(d->srv->st)) {
        /* Other servers append and change its state too: an idle stream's state is read again
         * (a local read of the copy: the metadata and the size). The sliding TTL's clock is
         * this server's own. */
        int64_t accessed = ds->last_access_ms;
        registry_remove(d, ds);
        stream_free(ds);
        int r = load(d, rel, &ds);
        if (r != DS_FOUND)
            return r;
        ds->last_access_ms = accessed;
    }
    if (!ds) {
        int r = load(d, rel, &ds);
        if (r != DS_FOUND)
            return r;
    }
    if (!ds->soft_deleted && !ds->creating && ds_expired(ds, ds_now_ms())) {
        expire(d, ds);
        ds = registry_find(d, rel);
        if (!ds)
            return DS_NONE;
    }
    ds->last_used_ms = ds_now_ms();
    *out = ds;
    return DS_FOUND;
}

/* ---- sweep: expiry and eviction ---- */

static void sweep_cb(uv_timer_t *t)
{
    ds_state *d = t->data;
    int64_t now = ds_now_ms();

    for (size_t i = 0; i < d->nbuckets; i++) {
        for (ds_stream *ds = d->buckets[i], *next; ds; ds = next) {
            next = ds->hnext;
            if (ds->busy || ds->creating)
                continue;
            if (!ds->soft_deleted && ds_expired(ds, now)) {
                ds_hold(ds);
                expire(d, ds);
                ds_put(d, ds);
                next = NULL; /* the chain may have changed: the rest waits for the next sweep */
                continue;
            }
            /* Unused state leaves memory, except a sliding TTL's clock, which lives only here. */
            if (ds->ttl_s < 0 && now - ds->last_used_ms > DS_IDLE_MS) {
                registry_remove(d, ds);
                stream_free(ds);
            }
        }
    }
}

static void timer_closed(uv_handle_t *h)
{
    srv_handle_released(((ds_state *)h->data)->srv);
}

static char *norm_prefix(const char *p)
{
    size_t n = strlen(p);
    char *out = malloc(n + 3);

    if (!out)
        return NULL;
    size_t len = path_clean(p, n, out);
    while (len > 0 && out[len - 1] == '/')
        out[--len] = '\0';
    return out;
}

int ds_init(hfs_server *s)
{
    const char *p = s->opt.ds_prefix;

    if (!p || !*p || !strcmp(p, "off"))
        return 0;
    ds_state *d = calloc(1, sizeof(*d));
    if (!d || !(d->prefix = norm_prefix(p))) {
        free(d);
        return -1;
    }
    d->prefix_len = strlen(d->prefix);
    d->srv = s;
    s->ds = d;
    s->ds_prefix = d->prefix;
    uv_timer_init(s->loop, &d->sweep);
    uv_timer_init(s->loop, &d->polls);
    d->sweep.data = d->polls.data = d;
    s->handles += 2;
    uv_timer_start(&d->sweep, sweep_cb, DS_SWEEP_MS, DS_SWEEP_MS);
    return 0;
}

void ds_close(hfs_server *s)
{
    ds_state *d = s->ds;

    if (!d || d->closing)
        return;
    d->closing = 1;
    for (size_t i = 0; i < d->nbuckets; i++) {
        for (ds_stream *ds = d->buckets[i], *next; ds; ds = next) {
            next = ds->hnext;
            if (ds->res) {
                store_res_unref(ds->res);
                ds->res = NULL;
            }
            ds->gone = 1;
            if (ds->busy == 0)
                stream_free(ds);
        }
    }
    free(d->buckets);
    d->buckets = NULL;
    d->nbuckets = d->count = 0;
    uv_close((uv_handle_t *)&d->sweep, timer_closed);
    uv_close((uv_handle_t *)&d->polls, timer_closed);
}

void ds_free(hfs_server *s)
{
    if (s->ds) {
        free(s->ds->prefix);
        free(s->ds);
        s->ds = NULL;
        s->ds_prefix = NULL;
    }
}

int ds_match(const hfs_server *s, const char *clean, const char **name)
{
    const ds_state *d = s->ds;

    if (!d || strncmp(clean, d->prefix, d->prefix_len) != 0)
        return 0;
    const char *rest = clean + d->prefix_len;
    if (*rest != '/' && *rest != '\0')
        return 0;
    *name = *rest == '/' ? rest + 1 : rest;
    return 1;
}
