/* nats_store.h -- the NATS JetStream store: several servers share one namespace. The stream is
 * the truth; every store keeps a complete local copy under its own root (a file store it owns),
 * applied from one ordered consumer in stream order, so every read is local. The lease is a key
 * in a KV bucket with a TTL. See docs/SCALE-OUT.md and the comments in src/store/nats/. */
#ifndef HFS_STORE_NATS_H
#define HFS_STORE_NATS_H

#include "store/store.h"

typedef struct store_nats_options {
    const char *urls;    /* nats://host:port[,nats://...] (tls://, user:pass@ and token@ too) */
    const char *root;    /* this store's local copy (must exist) */
    const char *stream;  /* NULL: "HFS" */
    const char *prefix;  /* subject prefix, NULL: "hfs" (subjects PREFIX.r.TOKEN) */
    const char *bucket;  /* the lease bucket, NULL: "HFS_LEASE" */
    int replicas;        /* 0: 3 */
    unsigned lease_ms;   /* 0: 10000 */
    const char *creds;   /* a .creds file, or NULL */
    const char *cacert;  /* a CA bundle for TLS, or NULL */
    unsigned connect_ms; /* how long store_nats_new tries to connect, 0: 5000 */
} store_nats_options;

/* Connects, creates the stream and the bucket when missing, starts the consumer. STORE_OK,
 * STORE_ENOENT (no root), STORE_EBUSY (another store uses this root), STORE_EIO (no NATS, errno
 * EIO; logged), STORE_ENOMEM. */
int store_nats_new(const store_nats_options *no, const store_options *o, store **out);

/* For tests: cuts the store off NATS as a crash of its node would (nothing more is published,
 * no lease is renewed or given back); the store can then only be closed. */
void store_nats_sever(store *st);

#endif /* HFS_STORE_NATS_H */
