/* put.c -- Durable Streams PUT: create a stream, or fork one (its inherited bytes copied at
 * creation, a piece at a time). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ds/ds_int.h"
#include "ds/http_int.h"
#include "ds/json.h"
#include "http/path.h"
#include "http/uri.h"
#include "server/conn.h"
#include "server/http_conn.h"

/* ---- PUT ---- */

/* The stream name a Stream-Forked-From value means: a path under the prefix, or a name. Writes a
 * clean root-relative name into out; -1 when it names nothing. */
static int source_name(ds_state *d, const char *v, size_t n, char *out, size_t cap)
{
    char *clean = malloc(n + 3), *raw = malloc(n + 2);
    int ok = -1;

    if (!clean || !raw) {
        free(clean), free(raw);
        return -1;
    }
    /* A path, as a request-target's: percent-decoded (no NUL), then cleaned. */
    raw[0] = '/';
    long k = uri_unescape_path(v[0] == '/' ? v + 1 : v, v[0] == '/' ? n - 1 : n, raw + 1);
    if (k < 0) {
        free(clean), free(raw);
        return -1;
    }
    path_clean(raw, (size_t)k + 1, clean);
    const char *name = clean + 1;
    if (!strncmp(clean, d->prefix, d->prefix_len) && clean[d->prefix_len] == '/')
        name = clean + d->prefix_len + 1;
    size_t len = strlen(name);
    if (*name && len < cap) {
        memcpy(out, name, len + 1);
        ok = 0;
    }
    free(clean), free(raw);
    return ok;
}

typedef struct put_req {
    const char *ct; /* Content-Type as given, trimmed; NULL when absent */
    size_t ct_len;
    int64_t ttl; /* -1 none */
    const char *exp;
    size_t exp_len;
    int64_t exp_ms;
    int closed;
    const char *from; /* Stream-Forked-From */
    size_t from_len;
    int has_off;
    uint64_t off;
    uint64_t sub;
} put_req;

/* Does an existing stream have the configuration a PUT asks for? */
static int same_config(ds_state *d, const ds_stream *ds, const put_req *p)
{
    char src[1024];
    static const char dflt[] = "application/octet-stream";

    if ((p->ct || !ds->fork_from) &&
        !ds_same_media_type(p->ct ? p->ct : dflt, p->ct ? p->ct_len : sizeof(dflt) - 1, ds->ctype,
                            strlen(ds->ctype)))
        return 0;
    if (p->ttl != ds->ttl_s && !(p->ttl < 0 && ds->fork_from && !p->exp))
        return 0;
    if ((p->exp != NULL) != (ds->expires_raw != NULL) && !(ds->fork_from && !p->exp))
        return 0;
    if (p->exp && ds->expires_raw &&
        (strlen(ds->expires_raw) != p->exp_len || memcmp(p->exp, ds->expires_raw, p->exp_len) != 0))
        return 0;
    if (p->closed != ds->closed)
        return 0;
    if ((p->from != NULL) != (ds->fork_from != NULL))
        return 0;
    if (p->from) {
        if (source_name(d, p->from, p->from_len, src, sizeof(src)) < 0 ||
            strcmp(src, ds->fork_from) != 0)
            return 0;
        if (p->sub != ds->fork_sub)
            return 0;
        if (p->has_off && p->off != ds->fork_off)
            return 0;
    }
    return 1;
}

static int parse_put(const route *r, put_req *p, int *status_msg)
{
    size_t tl, sl, ol;
    const char *ttl = ds_header(r, "Stream-TTL", &tl);
    const char *sub = ds_header(r, "Stream-Fork-Sub-Offset", &sl);
    const char *off = ds_header(r, "Stream-Fork-Offset", &ol);
    uint64_t v;

    memset(p, 0, sizeof(*p));
    p->ttl = -1;
    p->exp = ds_header(r, "Stream-Expires-At", &p->exp_len);
    p->from = ds_header(r, "Stream-Forked-From", &p->from_len);
    p->ct = ds_header(r, "Content-Type", &p->ct_len);
    while (p->ct && p->ct_len && (p->ct[p->ct_len - 1] == ' ' || p->ct[p->ct_len - 1] == '\t'))
        p->ct_len--;
    if (p->ct && p->ct_len == 0)
        p->ct = NULL;
    p->closed = ds_header_true(r, "Stream-Closed");
    *status_msg = 0;
    if (ttl && p->exp)
        return -1;
    if (ttl) {
        if (ds_parse_uint(ttl, tl, 1, DS_MAX_SAFE_INT / 1000, &v) < 0)
            return -1;
        p->ttl = (int64_t)v;
    }
    if (p->exp && ds_parse_time(p->exp, p->exp_len, &p->exp_ms) < 0)
        return -1;
    if (p->exp && p->exp_ms <= 0)
        p->exp_ms = 1; /* (0 means none): the epoch and before are simply past */
    if (off) {
        if (ds_offset_parse(off, ol, &p->off) < 0)
            return -1;
        p->has_off = 1;
    }
    if (sub && !p->from)
        return -1;
    if (sub && ds_parse_uint(sub, sl, 1, UINT64_MAX / 2, &p->sub) < 0)
        return -1;
    if (p->from && p->from_len == 0)
        return -1;
    return 0;
}

/* Counts k messages of a JSON stream from off: their length, or -1 when fewer than k exist. */
static int64_t json_span(ds_stream *ds, uint64_t off, uint64_t k)
{
    uint8_t buf[64 * 1024];
    uint64_t at = off;

    while (k > 0 && at < ds->tail) {
        size_t n = ds->tail - at < sizeof(buf) ? (size_t)(ds->tail - at) : sizeof(buf);
        if (store_read(ds->res, buf, n, at) != (ssize_t)n)
            return -1;
        for (size_t i = 0; i < n; i++) {
            if (buf[i] == '\n' && --k == 0)
                return (int64_t)(at + i + 1 - off);
        }
        at += n;
    }
    return k == 0 ? 0 : -1;
}

static void put_finish(ds_state *d, ds_req *q);
static int put_create(conn *c, ds_state *d, ds_req *q, const put_req *pp, const char *ctype,
                      char *srcname, size_t srcname_cap);

static void copy_written(void *arg, int err);

/* Copies the next pieces of a fork's inherited bytes; waits when the store has enough to write. */
static void copy_step(ds_state *d, ds_req *q)
{
    store_res *w = q->wres;

    while (q->copy_off < q->copy_end) {
        size_t n = q->copy_end - q->copy_off < SRV_BATCH_MAX ? (size_t)(q->copy_end - q->copy_off)
                                                             : SRV_BATCH_MAX;
        ssize_t got = store_read(q->src->res, d->srv->scratch, n, q->copy_off);
        struct iovec iov = {.iov_base = d->srv->scratch, .iov_len = got > 0 ? (size_t)got : 0};
        if (got <= 0 || store_append(w, &iov, 1) != STORE_OK) {
            q->copy_failed = 1;
            break;
        }
        q->copy_off += (uint64_t)got;
        if (store_backlogged(w)) {
            int k = store_when_written(q->ds->res, STORE_WAIT_WRITTEN, copy_written, q, &q->wait);
            if (k > 0) {
                ds_req_wait(q);
                return;
            }
        }
    }
    put_finish(d, q);
}

static void copy_written(void *arg, int err)
{
    ds_req *q = arg;

    q->wait = NULL;
    if (err != STORE_OK)
        q->copy_failed = 1;
    if (q->copy_failed)
        put_finish(q->d, q);
    else
        copy_step(q->d, q);
}

/* The inherited bytes are in (or there were none): append the initial body, give the lease back,
 * answer once stored. */
static void put_finish(ds_state *d, ds_req *q)
{
    store_res *w = q->wres;
    int err = q->copy_failed ? STORE_EIO : STORE_OK;

    if (err == STORE_OK && q->init_len) {
        struct iovec iov = {.iov_base = q->init, .iov_len = q->init_len};
        err = store_append(w, &iov, 1);
    }
    q->end = store_accepted(w);
    q->wres = NULL;
    store_release(w);
    if (err != STORE_OK) {
        /* Nothing half-made stays behind: the stream goes, as if never created. */
        conn *c = q->c;
        q->ds->creating = 0;
        ds_hold(q->ds);
        ds_delete(d, q->ds);
        ds_put(d, q->ds);
        ds_req_detach(q);
        if (c && !c->closing)
            ds_append_error(c, err);
        ds_req_free(d, q);
        return;
    }
    ds_hdr_offset(&q->hdr, q->end);
    if (q->ds->closed) {
        q->snap = ds_blob(q->ds, &q->snap_len);
        q->snap_closed = 1;
    }
    ds_complete_when_stored(d, q);
}

int ds_handle_put(conn *c, ds_state *d, ds_req *q)
{
    route rr = {.c = c, .req = &c->http->parser.req};
    put_req p;
    int bad_msg;
    ds_stream *ds = NULL;

    if (parse_put(&rr, &p, &bad_msg) < 0)
        return ds_answer_text(c, 400, NULL, "bad Stream-TTL, Stream-Expires-At or fork headers");
    if (q->too_big)
        return ds_answer_text(c, 413, NULL, "the body is larger than the server takes");
    int k = ds_lookup(d, q->rel, &ds);
    if (k == DS_ERR)
        return ds_answer_text(c, 500, NULL, "cannot read the stream's state");
    if (k == DS_NATIVE)
        return ds_answer_text(c, 409, NULL, "the path holds a resource that is not a stream");
    if (k == DS_FOUND) {
        if (ds->soft_deleted || ds->creating)
            return ds_answer_text(c, 409, NULL, "the stream was deleted but forks still read it");
        if (!same_config(d, ds, &p))
            return ds_answer_text(c, 409, NULL, "the stream exists with another configuration");
        textbuf h = {0};
        ds_hdr_line(&h, "Content-Type", ds->ctype);
        ds_hdr_offset(&h, ds->tail);
        if (ds->closed)
            ds_hdr_line(&h, "Stream-Closed", "true");
        ds_send_answer(c, 200, &h, NULL, NULL, 0);
        free(h.p);
        return 200;
    }
    const char *ctype = NULL;
    char *ctbuf = NULL;
    char srcname[1024];
    if (p.ct) {
        if (!(ctbuf = strndup(p.ct, p.ct_len)))
            return ds_answer_text(c, 503, NULL, "out of memory");
        ctype = ctbuf;
    }
    int st = put_create(c, d, q, &p, ctype, srcname, sizeof(srcname));
    free(ctbuf);
    return st;
}

/* ds_handle_put for a stream that does not exist yet. */
static int put_create(conn *c, ds_state *d, ds_req *q, const put_req *pp, const char *ctype,
                      char *srcname, size_t srcname_cap)
{
    put_req p = *pp;
    ds_stream *ds = NULL, *src = NULL;
    uint64_t fork_at = 0;

    if (p.from) {
        if (source_name(d, p.from, p.from_len, srcname, srcname_cap) < 0)
            return ds_answer_text(c, 404, NULL, "no such source stream");
        int sk = ds_lookup(d, srcname, &src);
        if (sk == DS_ERR)
            return ds_answer_text(c, 500, NULL, "cannot read the source's state");
        if (sk != DS_FOUND || src->creating)
            return ds_answer_text(c, 404, NULL, "no such source stream");
        if (src->soft_deleted)
            return ds_answer_text(c, 409, NULL, "the source stream was deleted");
        if (ctype) {
            if (!ds_same_media_type(ctype, strlen(ctype), src->ctype, strlen(src->ctype)))
                return ds_answer_text(c, 409, NULL, "content type differs from the source's");
        } else {
            ctype = src->ctype;
        }
        uint64_t anchor = p.has_off ? p.off : src->tail;
        if (anchor > src->tail)
            return ds_answer_text(c, 400, NULL, "fork offset beyond the source's tail");
        if (ds_json_align(src, anchor) != anchor)
            return ds_answer_text(c, 400, NULL, "fork offset inside a message");
        fork_at = anchor;
        if (p.sub) {
            int64_t span = src->json ? json_span(src, anchor, p.sub)
                                     : (anchor + p.sub <= src->tail ? (int64_t)p.sub : -1);
            if (span < 0)
                return ds_answer_text(c, 400, NULL, "fork sub-offset beyond the source's data");
            fork_at = anchor + (uint64_t)span;
        }
    }
    if (!ctype)
        ctype = "application/octet-stream";
    json_out jo = {0};
    if (q->len && ds_is_json_type(ctype)) {
        if (json_messages(q->body, q->len, 1, &jo) < 0) {
            free(jo.p);
            return ds_answer_text(c, 400, NULL, "invalid JSON");
        }
    } else if (q->len) {
        jo.p = q->body, jo.len = q->len;
        q->body = NULL;
    }
    store_res *w;
    int err = store_acquire(d->srv->st, q->rel, &w);
    if (err != STORE_OK) {
        free(jo.p);
        if (err == STORE_EISDIR || err == STORE_ENOTDIR || err == STORE_EBUSY)
            return ds_answer_text(c, 409, NULL, "the path cannot hold a stream");
        if (err == STORE_ENAMETOOLONG)
            return ds_answer_text(c, 414, NULL, "a name in the path is too long");
        if (err == STORE_EDENIED)
            return ds_answer_text(c, 403, NULL, "forbidden");
        return ds_append_error(c, err);
    }
    if (store_accepted(w) != 0) {
        /* A file nobody made a stream of (left by something else): not ours to take. */
        store_release(w);
        free(jo.p);
        return ds_answer_text(c, 409, NULL, "the path holds a resource that is not a stream");
    }
    ds = ds_stream_new(d, q->rel);
    if (!ds || !(ds->ctype = strdup(ctype))) {
        store_release(w);
        free(jo.p);
        if (ds) {
            ds->gone = 1;
            ds_put(d, ds);
        }
        return ds_answer_text(c, 503, NULL, "out of memory");
    }
    store_res_ref(w);
    ds->res = w;
    ds->json = ds_is_json_type(ctype);
    ds->created_ms = ds_now_ms();
    ds->creating = 1;
    if (p.ttl >= 0) {
        ds->ttl_s = p.ttl;
    } else if (p.exp) {
        ds->expires_raw = strndup(p.exp, p.exp_len);
        ds->expires_ms = p.exp_ms;
    } else if (src) {
        ds->ttl_s = src->ttl_s; /* a fork lives as long as its source would, on its own clock */
        if (src->expires_raw) {
            ds->expires_raw = strdup(src->expires_raw);
            ds->expires_ms = src->expires_ms;
        }
    }
    if (src) {
        ds->fork_from = strdup(src->rel);
        ds->fork_off = p.has_off ? p.off : src->tail;
        ds->fork_sub = p.sub;
    }
    ds->closed = p.closed;
    q->ds = ds; /* (holds the reference ds_stream_new gave) */
    q->wres = w;
    q->init = jo.p;
    q->init_len = jo.len;
    q->status = 201;
    ds_hdr_line(&q->hdr, "Content-Type", ds->ctype);
    if (q->host) {
        tb_str(&q->hdr, "Location: http://");
        tb_str(&q->hdr, q->host);
        tb_str(&q->hdr, q->path);
        tb_str(&q->hdr, "\r\n");
    }
    if (p.closed)
        ds_hdr_line(&q->hdr, "Stream-Closed", "true");
    /* The state goes to the store first (open), so that a crash leaves a stream, not a file. */
    err = ds_save(d, ds, NULL, 0, 0);
    if (err == STORE_OK && src) {
        src->refs++;
        err = ds_save(d, src, NULL, 0, src->closed);
        q->src = src;
        ds_hold(src);
    }
    if (err != STORE_OK) {
        q->copy_failed = 1;
        put_finish(d, q);
        return 0;
    }
    /* Where the answer's Stream-Next-Offset comes from: the tail once everything is in. */
    q->copy_off = 0;
    q->copy_end = src ? fork_at : 0;
    copy_step(d, q);
    return 0;
}
