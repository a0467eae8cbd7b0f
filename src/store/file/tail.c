/* tail.c -- a resource's recent bytes in memory: 64 KiB chunks, oldest first, covering
 * [oldest->start, accepted). Bytes past the readable size are staged (accepted, not yet in the
 * file) and never peeked. Chunks are reference counted, so a follower's write in flight can keep
 * pointing into one after the tail has moved past it. */
#include "store/file/fstore.h"

#include <stdlib.h>
#include <string.h>

static void chunk_free(store_piece *p)
{
    free(p);
}

static fchunk *chunk_new(uint64_t start)
{
    fchunk *c = malloc(FS_CHUNK_BYTES);

    if (!c)
        return NULL;
    c->piece.refs = 1; /* the tail's own reference */
    c->piece.free = chunk_free;
    c->start = start;
    c->len = 0;
    c->cap = FS_CHUNK_BYTES - sizeof(*c);
    c->next = NULL;
    return c;
}

void fs_tail_clear(fres *r)
{
    fchunk *c = r->oldest;

    while (c) {
        fchunk *next = c->next;
        store_unhold(c);
        c = next;
    }
    r->oldest = r->newest = NULL;
    r->tail_bytes = 0;
}

/* Copies n bytes at p (which land at resource offset `at`) into the tail. */
int fs_tail_put(fres *r, const uint8_t *p, size_t n, uint64_t at)
{
    size_t keep = r->base.st->opt.tail_max;

    while (n > 0) {
        fchunk *c = r->newest;
        if (!c || c->len == c->cap) {
            fchunk *fresh = chunk_new(at);
            if (!fresh)
                return -1;
            if (c)
                c->next = fresh;
            else
                r->oldest = fresh;
            r->newest = c = fresh;
        }
        size_t k = c->cap - c->len < n ? c->cap - c->len : n;
        memcpy(c->data + c->len, p, k);
        c->len += k;
        r->tail_bytes += k;
        p += k;
        n -= k;
        at += k;
    }
    /* Drop whole old chunks while what remains still covers tail_max; never one holding bytes
     * not yet in the file. */
    while (r->oldest != r->newest && r->oldest->start + r->oldest->len <= r->base.size &&
           r->tail_bytes - r->oldest->len >= keep) {
        fchunk *old = r->oldest;
        r->oldest = old->next;
        r->tail_bytes -= old->len;
        store_unhold(old);
    }
    return 0;
}

size_t fs_peek(store_res *res, uint64_t off, uint64_t max, store_slice *out, size_t nmax)
{
    const fres *r = FR(res);
    fchunk *c = r->oldest;
    size_t k = 0;

    if (!c || off < c->start || off >= res->size)
        return 0;
    if (max > res->size - off)
        max = res->size - off; /* never the staged bytes */
    while (c && off >= c->start + c->len)
        c = c->next;
    while (c && k < nmax && max > 0) {
        size_t from = (size_t)(off - c->start);
        size_t n = c->len - from;
        if (n > max)
            n = (size_t)max;
        out[k].hold = c;
        out[k].p = c->data + from;
        out[k].len = n;
        k++;
        off += n;
        max -= n;
        c = c->next;
    }
    return k;
}

size_t fs_staged_iov(fres *r, size_t max, struct iovec *iov, int niov, int *nvec, fchunk **refs,
                     int *nrefs)
{
    uint64_t off = r->base.size, staged = r->base.accepted - r->base.size;
    uint64_t left = staged < max ? staged : max;
    fchunk *c = r->oldest;
    size_t total = 0;

    *nvec = *nrefs = 0;
    while (c && off >= c->start + c->len)
        c = c->next;
    for (; c && left > 0 && *nvec < niov; c = c->next) {
        size_t from = (size_t)(off - c->start);
        size_t n = c->len - from < left ? c->len - from : (size_t)left;
        iov[*nvec].iov_base = c->data + from;
        iov[(*nvec)++].iov_len = n;
        store_hold(c);
        refs[(*nrefs)++] = c;
        off += n;
        left -= n;
        total += n;
    }
    return total;
}

uint64_t fs_staged_drop(fres *r)
{
    return fs_tail_cut(r, r->base.size);
}

uint64_t fs_tail_cut(fres *r, uint64_t size)
{
    uint64_t dropped = r->base.accepted - size;
    fchunk **pp = &r->oldest, *last = NULL;

    /* Keep the chunks up to the size (the last one cut there), free the rest. */
    while (*pp && (*pp)->start < size) {
        last = *pp;
        pp = &(*pp)->next;
    }
    fchunk *c = *pp;
    *pp = NULL;
    while (c) {
        fchunk *next = c->next;
        r->tail_bytes -= c->len;
        store_unhold(c);
        c = next;
    }
    if (last && last->start + last->len > size) {
        r->tail_bytes -= (size_t)(last->start + last->len - size);
        last->len = (size_t)(size - last->start);
    }
    r->newest = last;
    if (!last)
        r->oldest = NULL;
    r->base.accepted = size;
    return dropped;
}
