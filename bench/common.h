/* common.h -- pieces shared by the bench tools (loadgen, bare_fanout): a fast streaming hash that
 * does not depend on how a stream was split, a log-linear latency histogram, the deterministic
 * message contents (timestamped 64-byte records and sequenced bulk messages, all ASCII so that TEXT
 * frames never hold bytes back), clocks, CPU pinning, /proc sampling of a
 * process's RSS and CPU time, and the "RESULT key=value" output line. */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/* ---- stream hash ------------------------------------------------------------------------- */

/* Four independent multiply-xorshift lanes over 32-byte stripes: about 10 GB/s, so a follower can
 * hash everything it receives without becoming the bottleneck. The digest depends only on the
 * bytes and their order, never on how they were cut into updates. */
typedef struct bh_state {
    uint64_t lane[4];
    uint64_t total;
    uint8_t buf[32];
    uint32_t buflen;
} bh_state;

void bh_init(bh_state *h);
void bh_update(bh_state *h, const void *p, size_t n);
uint64_t bh_digest(const bh_state *h);

/* A byte source for bh_prefix_digests: fills buf with up to cap bytes, returns 0 at the end. */
typedef size_t (*bh_source)(void *ctx, uint8_t *buf, size_t cap);

/* Hashes the source, taking a digest after each of the n ascending lengths lens[]. Returns how
 * many lengths the source reached (the others get no digest). *total_out (may be NULL) receives
 * the bytes read; with read_all the whole source is hashed and *full_out gets its digest. */
size_t bh_prefix_digests(bh_source src, void *ctx, const uint64_t *lens, size_t n, uint64_t *out,
                         int read_all, uint64_t *total_out, uint64_t *full_out);

/* A bh_source over a file descriptor. */
size_t bh_source_fd(void *ctx, uint8_t *buf, size_t cap);

/* ---- latency histogram -------------------------------------------------------------------- */

#define HIST_SUB_BITS 7
#define HIST_BUCKETS  ((64 - HIST_SUB_BITS + 1) << HIST_SUB_BITS)

/* Values (ns) with under 1% relative error: exact below 128, then 128 buckets per power of 2. */
typedef struct hist {
    uint64_t count;
    uint64_t max;
    uint64_t b[HIST_BUCKETS];
} hist;

void hist_add(hist *h, uint64_t v);
void hist_merge(hist *dst, const hist *src);
/* The value at quantile q (0..1): the upper bound of its bucket, or max for the top. */
uint64_t hist_quantile(const hist *h, double q);

/* ---- message contents --------------------------------------------------------------------- */

#define REC_SIZE 64

/* Builds the pseudo-random ASCII pool message bodies are cut from; call once per process. */
void content_init(void);

/* Writes message seq of resource res, size bytes, into out. A 64-byte message is a record:
 * 'T', 16 hex digits of ts_ns (CLOCK_MONOTONIC), '.', 16 hex of seq, '.', 8 hex of res, '.',
 * filler, '\n'. Larger messages start with 'M', seq and res in hex, then filler cut from the pool
 * at a place that depends on seq and res, and end with '\n'; smaller ones are pool filler. Every
 * byte is printable ASCII, so the stream is valid UTF-8 with no multi-byte characters. */
void msg_fill(uint8_t *out, size_t size, uint32_t res, uint64_t seq, uint64_t ts_ns);

/* Read the timestamp / the sequence number of a record; 0 when it is not one. */
int rec_timestamp(const uint8_t *rec, uint64_t *ts_ns);
int rec_seq(const uint8_t *rec, uint64_t *seq);

/* A bh_source that generates the messages 0, 1, 2, ... of resource res (ts 0), size bytes each:
 * the stream a non-timestamped appender sends. With period > 0 the sequence numbers wrap at period
 * (the bare writer cycles through a ring of prepared messages). */
typedef struct msg_stream {
    size_t size;
    uint32_t res;
    uint64_t seq;
    uint64_t period;
} msg_stream;
size_t msg_stream_source(void *ctx, uint8_t *buf, size_t cap);

/* ---- clocks, CPUs, processes -------------------------------------------------------------- */

uint64_t now_ns(void);
double ns_to_s(uint64_t ns);
/* Pins the calling thread to cpu (no-op when cpu < 0); 0, or -1 on error. */
int pin_cpu(int cpu);
/* CPU seconds (user + system) this process has used, and user time alone. */
double self_cpu_s(void);
double self_user_s(void);
/* CPU seconds all CPUs of the machine have spent running processes (user, system, steal), and
 * in interrupts and softirqs (on loopback, much of the TCP work is softirq time that no process is
 * charged for). */
double system_busy_s(void);
double system_irq_s(void);
/* User-mode CPU seconds of all CPUs (user + nice): compared with the user time of the processes
 * under test it tells how much other programs ran (kernel time cannot be split that way: on
 * loopback, softirq work lands in whichever process's time happens to be running). */
double system_user_s(void);

/* RSS (kB, from VmRSS) and CPU seconds (utime + stime) summed over pids. */
typedef struct proc_sample {
    uint64_t rss_kb;
    double cpu_s;
    double user_s;
    int ok; /* every pid could be read */
} proc_sample;
proc_sample proc_sample_pids(const pid_t *pids, int n);
/* Parses "123,456" into pids (at most max); returns the count. */
int parse_pids(const char *s, pid_t *pids, int max);

/* ---- output ------------------------------------------------------------------------------- */

/* Appends " key=value" to the RESULT line being built in a static buffer; result_print writes
 * "RESULT ..." with everything appended so far to stdout. */
void result_add(const char *key, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void result_print(void);

/* Parses sizes with k/m/g suffixes (powers of 2) and returns -1 on error. */
long long parse_size(const char *s);

void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif /* BENCH_COMMON_H */
