/* nats_pub.c -- the plain nats.c publish loop `make bench BENCH_ARGS=nats` compares ingest
 * through an httpfstream node with: one connection, js_PublishMsgAsync of --size byte messages on
 * one subject of a file-backed stream with --replicas replicas (the same kind of stream as the
 * backend's HFS: limits retention, a 2-minute duplicates window, each message with a Nats-Msg-Id),
 * at most --inflight unacknowledged, for --duration seconds; then it waits for every
 * acknowledgement. Prints one RESULT line: app_Bps is acknowledged bytes per second, counted
 * from the first publish to the last acknowledgement.
 *
 *   nats_pub --servers nats://H:P[,nats://H:P...] [--size 65536] [--duration 4]
 *            [--replicas 3] [--inflight 256] [--stream BENCHPUB]
 *
 * The stream is created fresh (deleted first when it exists) and deleted at the end. */
#include <getopt.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nats/nats.h>

static atomic_long errors;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, natsStatus s)
{
    fprintf(stderr, "nats_pub: %s: %s\n", what, natsStatus_GetText(s));
    nats_PrintLastErrorStack(stderr);
    exit(1);
}

static void on_err(jsCtx *js, jsPubAckErr *pae, void *closure)
{
    (void)js;
    (void)closure;
    if (atomic_fetch_add(&errors, 1) < 5)
        fprintf(stderr, "nats_pub: publish failed: %s\n",
                pae->ErrText ? pae->ErrText : natsStatus_GetText(pae->Err));
}

int main(int argc, char **argv)
{
    const char *servers = NULL, *stream = "BENCHPUB";
    long size = 65536, inflight = 256, replicas = 3;
    double duration = 4;
    static const struct option opts[] = {{"servers", 1, 0, 'S'},
                                         {"size", 1, 0, 's'},
                                         {"duration", 1, 0, 'd'},
                                         {"replicas", 1, 0, 'R'},
                                         {"inflight", 1, 0, 'i'},
                                         {"stream", 1, 0, 'n'},
                                         {0, 0, 0, 0}};
    for (int o; (o = getopt_long(argc, argv, "s:d:", opts, NULL)) != -1;) {
        switch (o) {
        case 'S':
            servers = optarg;
            break;
        case 's':
            size = atol(optarg);
            break;
        case 'd':
            duration = atof(optarg);
            break;
        case 'R':
            replicas = atol(optarg);
            break;
        case 'i':
            inflight = atol(optarg);
            break;
        case 'n':
            stream = optarg;
            break;
        default:
            goto usage;
        }
    }
    if (!servers || size < 1 || size > (1 << 20) || duration <= 0 || replicas < 1 || inflight < 1)
        goto usage;

    /* the server list, as natsOptions_SetServers wants it */
    char *list = strdup(servers);
    const char *urls[16];
    int nurls = 0;
    for (char *save = NULL, *t = strtok_r(list, ",", &save); t && nurls < 16;
         t = strtok_r(NULL, ",", &save))
        urls[nurls++] = t;

    natsOptions *no = NULL;
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    natsStatus s;
    if ((s = natsOptions_Create(&no)) != NATS_OK ||
        (s = natsOptions_SetServers(no, urls, nurls)) != NATS_OK)
        die("options", s);
    if ((s = natsConnection_Connect(&nc, no)) != NATS_OK)
        die("connect", s);
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.PublishAsync.MaxPending = inflight;
    jo.PublishAsync.ErrHandler = on_err;
    jo.PublishAsync.StallWait = 10000; /* a full window waits for acknowledgements */
    jo.Wait = 10000;
    if ((s = natsConnection_JetStream(&js, nc, &jo)) != NATS_OK)
        die("jetstream", s);

    char subjects_buf[128], subject[160];
    snprintf(subjects_buf, sizeof(subjects_buf), "%s.>", stream);
    for (char *p = subjects_buf; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    snprintf(subject, sizeof(subject), "%.*s.r.x", (int)strlen(subjects_buf) - 2, subjects_buf);
    const char *subjects[] = {subjects_buf};
    jsStreamConfig sc;
    jsStreamConfig_Init(&sc);
    sc.Name = stream;
    sc.Subjects = subjects;
    sc.SubjectsLen = 1;
    sc.Storage = js_FileStorage;
    sc.Retention = js_LimitsPolicy;
    sc.Replicas = replicas;
    sc.Duplicates = (int64_t)120 * 1000000000;
    jsErrCode jerr = 0;
    js_DeleteStream(js, stream, NULL, &jerr);
    jsStreamInfo *si = NULL;
    /* a cluster just started answers "no suitable peers for placement" for a few seconds, until
     * its servers have told each other about their JetStream resources */
    double ta = now_s();
    while ((s = js_AddStream(&si, js, &sc, NULL, &jerr)) != NATS_OK && now_s() - ta < 30) {
        nats_Sleep(100);
    }
    if (s != NATS_OK)
        die("add stream", s);
    if (now_s() - ta > 0.5)
        fprintf(stderr, "nats_pub: the stream could be created after %.1f s\n", now_s() - ta);
    jsStreamInfo_Destroy(si);

    uint8_t *payload = malloc((size_t)size);
    for (long i = 0; i < size; i++)
        payload[i] = (uint8_t)('a' + i % 26);
    long long sent = 0, msgs = 0;
    double t0 = now_s(), tend = t0 + duration;
    char id[64];
    while (now_s() < tend) {
        natsMsg *m = NULL;
        if ((s = natsMsg_Create(&m, subject, NULL, (const char *)payload, (int)size)) != NATS_OK)
            die("message", s);
        snprintf(id, sizeof(id), "bench:%lld", sent);
        natsMsgHeader_Set(m, "Nats-Msg-Id", id);
        natsMsgHeader_Set(m, "Hfs-Off", id + 6);
        if ((s = js_PublishMsgAsync(js, &m, NULL)) != NATS_OK) {
            natsMsg_Destroy(m);
            atomic_fetch_add(&errors, 1);
            continue;
        }
        sent += size;
        msgs++;
    }
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = 60000;
    if ((s = js_PublishAsyncComplete(js, &po)) != NATS_OK)
        die("waiting for acknowledgements", s);
    double t1 = now_s();
    long errs = atomic_load(&errors);
    printf("RESULT scenario=natspub target=natspub size=%ld replicas=%ld inflight=%ld msgs=%lld "
           "app_bytes=%lld app_Bps=%.0f window_s=%.3f errors=%ld verify=%s\n",
           size, replicas, inflight, msgs, sent, (double)(sent - errs * size) / (t1 - t0), t1 - t0,
           errs, errs ? "FAIL" : "ok");
    js_DeleteStream(js, stream, NULL, &jerr);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    natsOptions_Destroy(no);
    free(payload);
    free(list);
    nats_Close();
    return errs ? 1 : 0;
usage:
    fprintf(stderr, "usage: nats_pub --servers nats://H:P[,...] [--size B] [--duration S] "
                    "[--replicas R] [--inflight K] [--stream NAME]\n");
    return 2;
}
