/* common.c -- the pieces shared by the bench tools: stream hash, latency histogram, message
 * contents, clocks, CPU pinning, /proc sampling and the RESULT line. See common.h. */
#include "common.h"

#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* ---- stream hash ------------------------------------------------------------------------- */

#define BH_K1 0xd6e8feb86659fd93ULL
#define BH_K2 0xc13fa9a902a6328fULL
#define BH_K3 0x9fb21c651e98df25ULL

static inline uint64_t bh_round(uint64_t lane, uint64_t w)
{
    lane = (lane ^ w) * BH_K1;
    return lane ^ (lane >> 31);
}

static inline uint64_t load64(const uint8_t *p)
{
    uint64_t w;
    memcpy(&w, p, 8);
    return w;
}

static inline uint64_t rotl64(uint64_t x, unsigned r)
{
    return (x << r) | (x >> (64 - r));
}

static void bh_stripe(bh_state *h, const uint8_t *p)
{
    h->lane[0] = bh_round(h->lane[0], load64(p));
    h->lane[1] = bh_round(h->lane[1], load64(p + 8));
    h->lane[2] = bh_round(h->lane[2], load64(p + 16));
    h->lane[3] = bh_round(h->lane[3], load64(p + 24));
}

void bh_init(bh_state *h)
{
    memset(h, 0, sizeof(*h));
    h->lane[0] = 0x243f6a8885a308d3ULL;
    h->lane[1] = 0x13198a2e03707344ULL;
    h->lane[2] = 0xa4093822299f31d0ULL;
    h->lane[3] = 0x082efa98ec4e6c89ULL;
}

void bh_update(bh_state *h, const void *data, size_t n)
{
    const uint8_t *p = data;

    h->total += n;
    if (h->buflen) {
        size_t take = 32 - h->buflen;
        if (take > n)
            take = n;
        memcpy(h->buf + h->buflen, p, take);
        h->buflen += (uint32_t)take;
        p += take;
        n -= take;
        if (h->buflen < 32)
            return;
        bh_stripe(h, h->buf);
        h->buflen = 0;
    }
    uint64_t l0 = h->lane[0], l1 = h->lane[1], l2 = h->lane[2], l3 = h->lane[3];
    for (; n >= 32; p += 32, n -= 32) {
        l0 = bh_round(l0, load64(p));
        l1 = bh_round(l1, load64(p + 8));
        l2 = bh_round(l2, load64(p + 16));
        l3 = bh_round(l3, load64(p + 24));
    }
    h->lane[0] = l0;
    h->lane[1] = l1;
    h->lane[2] = l2;
    h->lane[3] = l3;
    memcpy(h->buf, p, n);
    h->buflen = (uint32_t)n;
}

uint64_t bh_digest(const bh_state *h)
{
    uint64_t x = h->total * BH_K2;

    for (int i = 0; i < 4; i++) {
        x ^= rotl64(h->lane[i], (unsigned)(13 * i + 7));
        x *= BH_K1;
        x ^= x >> 29;
    }
    uint32_t i = 0;
    for (; i + 8 <= h->buflen; i += 8)
        x = bh_round(x, load64(h->buf + i)) * BH_K2;
    for (; i < h->buflen; i++)
        x = (x ^ h->buf[i]) * BH_K3;
    x ^= x >> 33;
    x *= BH_K3;
    x ^= x >> 29;
    return x;
}

size_t bh_prefix_digests(bh_source src, void *ctx, const uint64_t *lens, size_t n, uint64_t *out,
                         int read_all, uint64_t *total_out, uint64_t *full_out)
{
    enum { CAP = 4 << 20 };
    uint8_t *buf = malloc(CAP);
    bh_state h;
    uint64_t pos = 0;
    size_t i = 0;

    if (!buf)
        die("out of memory");
    bh_init(&h);
    for (;;) {
        while (i < n && lens[i] == pos)
            out[i++] = bh_digest(&h);
        if (i == n && !read_all)
            break;
        size_t got = src(ctx, buf, CAP);
        if (got == 0)
            break;
        size_t off = 0;
        while (off < got) {
            while (i < n && lens[i] == pos)
                out[i++] = bh_digest(&h);
            uint64_t want = i < n ? lens[i] - pos : UINT64_MAX;
            size_t take = got - off;
            if (want < take)
                take = (size_t)want;
            bh_update(&h, buf + off, take);
            off += take;
            pos += take;
        }
    }
    free(buf);
    if (total_out)
        *total_out = pos;
    if (full_out)
        *full_out = bh_digest(&h);
    return i;
}

size_t bh_source_fd(void *ctx, uint8_t *buf, size_t cap)
{
    int fd = *(int *)ctx;
    for (;;) {
        ssize_t r = read(fd, buf, cap);
        if (r >= 0)
            return (size_t)r;
        if (errno != EINTR)
            return 0;
    }
}

/* ---- latency histogram -------------------------------------------------------------------- */

static unsigned hist_index(uint64_t v)
{
    if (v < (1u << HIST_SUB_BITS))
        return (unsigned)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v);
    unsigned shift = e - HIST_SUB_BITS;
    unsigned m = (unsigned)(v >> shift) & ((1u << HIST_SUB_BITS) - 1);
    return ((shift + 1) << HIST_SUB_BITS) + m;
}

static uint64_t hist_upper(unsigned idx)
{
    if (idx < (1u << HIST_SUB_BITS))
        return idx;
    unsigned shift = (idx >> HIST_SUB_BITS) - 1;
    uint64_t m = idx & ((1u << HIST_SUB_BITS) - 1);
    return (((1ull << HIST_SUB_BITS) + m) << shift) + (1ull << shift) - 1;
}

void hist_add(hist *h, uint64_t v)
{
    h->b[hist_index(v)]++;
    h->count++;
    if (v > h->max)
        h->max = v;
}

void hist_merge(hist *dst, const hist *src)
{
    for (unsigned i = 0; i < HIST_BUCKETS; i++)
        dst->b[i] += src->b[i];
    dst->count += src->count;
    if (src->max > dst->max)
        dst->max = src->max;
}

uint64_t hist_quantile(const hist *h, double q)
{
    if (h->count == 0)
        return 0;
    uint64_t target = (uint64_t)(q * (double)h->count + 0.999999);
    if (target < 1)
        target = 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->b[i];
        if (seen >= target) {
            uint64_t u = hist_upper(i);
            return u < h->max ? u : h->max;
        }
    }
    return h->max;
}

/* ---- message contents --------------------------------------------------------------------- */

#define POOL_SIZE  (1u << 20)
#define POOL_SLACK (64u << 10)

static uint8_t pool[POOL_SIZE + POOL_SLACK];
static const char hexdigits[] = "0123456789abcdef";

void content_init(void)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint64_t x = 0x853c49e6748fea9bULL;

    for (size_t i = 0; i < sizeof(pool); i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        pool[i] = (uint8_t)alphabet[(x >> 20) & 63];
    }
}

static void put_hex(uint8_t *o, uint64_t v, int digits)
{
    for (int i = digits - 1; i >= 0; i--) {
        o[i] = (uint8_t)hexdigits[v & 15];
        v >>= 4;
    }
}

static void fill_from_pool(uint8_t *o, size_t n, size_t off)
{
    while (n) {
        size_t take = POOL_SIZE + POOL_SLACK - off;
        if (take > n)
            take = n;
        memcpy(o, pool + off, take);
        o += take;
        n -= take;
        off = 0;
    }
}

void msg_fill(uint8_t *out, size_t size, uint32_t res, uint64_t seq, uint64_t ts_ns)
{
    size_t off = (size_t)((seq * 0x9E3779B1ull + (uint64_t)res * 7919u) % POOL_SIZE);

    if (size == REC_SIZE) {
        out[0] = 'T';
        put_hex(out + 1, ts_ns, 16);
        out[17] = '.';
        put_hex(out + 18, seq, 16);
        out[34] = '.';
        put_hex(out + 35, res, 8);
        out[43] = '.';
        memcpy(out + 44, pool + off, 19);
        out[63] = '\n';
        return;
    }
    if (size < 28) {
        fill_from_pool(out, size, off);
        return;
    }
    out[0] = 'M';
    put_hex(out + 1, seq, 16);
    out[17] = '.';
    put_hex(out + 18, res, 8);
    out[26] = '.';
    fill_from_pool(out + 27, size - 28, off);
    out[size - 1] = '\n';
}

static int parse_hex16(const uint8_t *p, uint64_t *out)
{
    uint64_t v = 0;

    for (int i = 0; i < 16; i++) {
        uint8_t c = p[i];
        unsigned d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else
            return 0;
        v = v << 4 | d;
    }
    *out = v;
    return 1;
}

int rec_timestamp(const uint8_t *rec, uint64_t *ts_ns)
{
    if (rec[0] != 'T' || rec[17] != '.' || rec[63] != '\n')
        return 0;
    return parse_hex16(rec + 1, ts_ns);
}

int rec_seq(const uint8_t *rec, uint64_t *seq)
{
    if (rec[0] != 'T' || rec[34] != '.' || rec[63] != '\n')
        return 0;
    return parse_hex16(rec + 18, seq);
}

size_t msg_stream_source(void *ctx, uint8_t *buf, size_t cap)
{
    msg_stream *m = ctx;
    size_t n = 0;

    while (n + m->size <= cap) {
        msg_fill(buf + n, m->size, m->res, m->period ? m->seq % m->period : m->seq, 0);
        m->seq++;
        n += m->size;
    }
    return n;
}

/* ---- clocks, CPUs, processes -------------------------------------------------------------- */

uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

double ns_to_s(uint64_t ns)
{
    return (double)ns / 1e9;
}

int pin_cpu(int cpu)
{
    cpu_set_t set;

    if (cpu < 0)
        return 0;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof(set), &set);
}

double self_user_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
}

double self_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* The first line of /proc/stat: user nice system idle iowait irq softirq steal (guest time is
 * already inside user). */
static int read_cpu_line(unsigned long long v[8])
{
    FILE *f = fopen("/proc/stat", "r");

    if (!f)
        return -1;
    int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                   &v[4], &v[5], &v[6], &v[7]);
    fclose(f);
    return n == 8 ? 0 : -1;
}

double system_busy_s(void)
{
    unsigned long long v[8];

    if (read_cpu_line(v) < 0)
        return 0;
    return (double)(v[0] + v[1] + v[2] + v[7]) / (double)sysconf(_SC_CLK_TCK);
}

double system_user_s(void)
{
    unsigned long long v[8];

    if (read_cpu_line(v) < 0)
        return 0;
    return (double)(v[0] + v[1]) / (double)sysconf(_SC_CLK_TCK);
}

double system_irq_s(void)
{
    unsigned long long v[8];

    if (read_cpu_line(v) < 0)
        return 0;
    return (double)(v[5] + v[6]) / (double)sysconf(_SC_CLK_TCK);
}

static int read_small_file(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = '\0';
    return 0;
}

proc_sample proc_sample_pids(const pid_t *pids, int n)
{
    proc_sample s = {.ok = n > 0};
    long tick = sysconf(_SC_CLK_TCK);
    char path[64], buf[4096];

    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "/proc/%d/status", (int)pids[i]);
        if (read_small_file(path, buf, sizeof(buf)) < 0) {
            s.ok = 0;
            continue;
        }
        const char *rss = strstr(buf, "VmRSS:");
        if (rss)
            s.rss_kb += strtoull(rss + 6, NULL, 10);
        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pids[i]);
        if (read_small_file(path, buf, sizeof(buf)) < 0) {
            s.ok = 0;
            continue;
        }
        /* Fields after the command name: state is field 3, utime 14, stime 15. */
        char *p = strrchr(buf, ')');
        if (!p) {
            s.ok = 0;
            continue;
        }
        p += 2;
        for (int field = 3; field < 14 && p; field++) {
            p = strchr(p, ' ');
            if (p)
                p++;
        }
        if (!p) {
            s.ok = 0;
            continue;
        }
        char *end;
        unsigned long long ut = strtoull(p, &end, 10);
        unsigned long long st = strtoull(end, NULL, 10);
        s.cpu_s += (double)(ut + st) / (double)tick;
        s.user_s += (double)ut / (double)tick;
    }
    return s;
}

int parse_pids(const char *s, pid_t *pids, int max)
{
    int n = 0;
    while (s && *s && n < max) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s)
            break;
        if (v > 0)
            pids[n++] = (pid_t)v;
        s = *end == ',' ? end + 1 : NULL;
    }
    return n;
}

/* ---- output ------------------------------------------------------------------------------- */

static char result_buf[16384];
static size_t result_len;

void result_add(const char *key, const char *fmt, ...)
{
    va_list ap;
    int n = snprintf(result_buf + result_len, sizeof(result_buf) - result_len, " %s=", key);
    if (n < 0 || (size_t)n >= sizeof(result_buf) - result_len)
        return;
    result_len += (size_t)n;
    va_start(ap, fmt);
    n = vsnprintf(result_buf + result_len, sizeof(result_buf) - result_len, fmt, ap);
    va_end(ap);
    if (n > 0 && (size_t)n < sizeof(result_buf) - result_len)
        result_len += (size_t)n;
}

void result_print(void)
{
    printf("RESULT%s\n", result_buf);
    fflush(stdout);
    result_len = 0;
    result_buf[0] = '\0';
}

long long parse_size(const char *s)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || v < 0)
        return -1;
    switch (*end) {
    case 'k':
    case 'K':
        v <<= 10;
        end++;
        break;
    case 'm':
    case 'M':
        v <<= 20;
        end++;
        break;
    case 'g':
    case 'G':
        v <<= 30;
        end++;
        break;
    default:
        break;
    }
    return *end ? -1 : v;
}

void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "bench: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(2);
}
