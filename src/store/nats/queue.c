/* queue.c -- the hand-over from libnats' threads to the loop: consumer messages, publish acks,
 * lease-bucket updates and connection events become events on a queue (a mutex, two condition
 * variables, a uv_async_t). Consumer messages are bounded (NS_QUEUE_MAX bytes): past it the
 * consumer's thread waits, which slows the server down through flow control. The loop pops and
 * handles them in bounded batches. */
#include "store/nats/nstore.h"

#include <stdlib.h>
#include <time.h>

void ns_queue_push(nstore *ns, nev *e)
{
    pthread_mutex_lock(&ns->mu);
    if (e->kind == NEV_MSG)
        while (ns->qbytes > NS_QUEUE_MAX && !ns->qclosing)
            pthread_cond_wait(&ns->cv_space, &ns->mu); /* back-pressure through flow control */
    if (ns->qclosing) {
        pthread_mutex_unlock(&ns->mu);
        natsMsg_Destroy(e->msg);
        free(e);
        return;
    }
    ns->qbytes += e->bytes;
    if (ns->qtail)
        ns->qtail->next = e;
    else
        ns->qhead = e;
    ns->qtail = e;
    pthread_cond_signal(&ns->cv_data);
    uv_async_send(&ns->async); /* (under the lock: closing sets qclosing first, then closes it) */
    pthread_mutex_unlock(&ns->mu);
}

nev *ns_queue_pop(nstore *ns, int wait_ms)
{
    nev *e;
    pthread_mutex_lock(&ns->mu);
    if (!ns->qhead && wait_ms > 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += wait_ms / 1000;
        ts.tv_nsec += (long)(wait_ms % 1000) * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&ns->cv_data, &ns->mu, &ts);
    }
    if ((e = ns->qhead)) {
        ns->qhead = e->next;
        if (!ns->qhead)
            ns->qtail = NULL;
        ns->qbytes -= e->bytes;
        pthread_cond_signal(&ns->cv_space);
    }
    pthread_mutex_unlock(&ns->mu);
    return e;
}

static void push_new(nstore *ns, int kind, natsMsg *m, int err)
{
    nev *e = calloc(1, sizeof(*e));
    if (!e) {
        natsMsg_Destroy(m); /* a lost message: the ordered consumer cannot skip it: a gap */
        return;
    }
    e->kind = kind;
    e->msg = m;
    e->err = err;
    if (kind == NEV_MSG)
        e->bytes = (size_t)natsMsg_GetDataLength(m) + 256;
    ns_queue_push(ns, e);
}

void ns_on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *closure)
{
    (void)nc;
    (void)sub;
    push_new(closure, NEV_MSG, m, 0);
}

void ns_on_kv(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *closure)
{
    (void)nc;
    (void)sub;
    push_new(closure, NEV_KV, m, 0);
}

void ns_on_ack(jsCtx *js, natsMsg *m, jsPubAck *pa, jsPubAckErr *pae, void *closure)
{
    nev *e = calloc(1, sizeof(*e));
    (void)js;
    if (!e) {
        natsMsg_Destroy(m);
        return;
    }
    e->kind = NEV_ACK;
    e->msg = m;
    e->seq = pa ? pa->Sequence : 0;
    e->err = pa ? NATS_OK : pae ? (int)pae->Err : NATS_ERR;
    e->errcode = pae ? (int)pae->ErrCode : 0;
    ns_queue_push(closure, e);
}

void ns_on_disconnected(natsConnection *nc, void *closure)
{
    (void)nc;
    push_new(closure, NEV_CONN, NULL, 0);
}

/* The last callback of a connection: only then may the store go (nats_free waits for it). */
void ns_on_closed(natsConnection *nc, void *closure)
{
    nstore *ns = closure;
    (void)nc;
    pthread_mutex_lock(&ns->mu);
    ns->nc_closed = 1;
    pthread_cond_broadcast(&ns->cv_data);
    pthread_mutex_unlock(&ns->mu);
}

void ns_on_reconnected(natsConnection *nc, void *closure)
{
    (void)nc;
    push_new(closure, NEV_CONN, NULL, 1);
}

void ns_handle_event(nstore *ns, nev *e)
{
    switch (e->kind) {
    case NEV_MSG:
        ns_apply(ns, e->msg);
        break;
    case NEV_ACK:
        ns_ack(ns, e);
        break;
    case NEV_KV:
        ns_kv_event(ns, e->msg);
        break;
    case NEV_CONN:
        if (e->err == 1 && !ns->connected) {
            store_log(&ns->base, 1, "nats store: reconnected");
            ns->connected = 1;
            ns->resub = 1; /* the consumer, made again (conn.c) */
        } else if (e->err == 0 && ns->connected) {
            store_log(&ns->base, 0, "nats store: disconnected from NATS");
            ns->connected = 0;
            ns->down_since_ms = ns_now_ms();
        }
        break;
    }
    natsMsg_Destroy(e->msg);
    free(e);
}

void ns_async_cb(uv_async_t *a)
{
    nstore *ns = a->data;
    ns_drain_some(ns, NS_BATCH_BYTES);
    ns_writers_check(ns);
}
