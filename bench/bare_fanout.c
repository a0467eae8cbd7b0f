/* bare_fanout.c -- the machine's bare limit, the peer every `make bench` row is compared with:
 * a bare epoll loop that writes the same payload to N connected loopback sockets, one write() per
 * message with TCP_NODELAY, while a separate process drains them (and hashes what it receives,
 * as the load generator's followers do, so both sides of the comparison pay the same receive
 * cost). The two processes are pinned like the server and the load generator (-W, -R).
 *
 *   fanout   N sockets, messages of SIZE bytes, as fast as the sockets take them
 *   latency  N sockets, timestamped 64-byte records at RATE per second, each written to every
 *            socket; the drainer reports append-to-reader latency (p50/p99/p99.9/max)
 *   tcp      one raw TCP stream of SIZE-byte writes (the ingest peer for the network side)
 *   file     plain appends of SIZE bytes to a fresh file in DIR (the ingest peer for the disk)
 *
 * Rates are measured inside the window, as in the load generator. Every socket's bytes are
 * verified against the stream the writer sent. Prints one RESULT line. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

#define RX_CAP     (256 * 1024)
#define RING_BYTES (1u << 20)
#define MAX_EVENTS 1024
#define TURN_MAX   64 /* messages written to one socket before moving to the next */
#define NS_PER_S   1000000000ull

enum mode { M_FANOUT, M_LATENCY, M_TCP, M_FILE };

static struct {
    enum mode mode;
    size_t n, size;
    double duration, rate;
    int wcpu, rcpu;
    const char *dir;
} opt = {.n = 1000, .size = 16384, .duration = 4, .rate = 100, .wcpu = -1, .rcpu = -1};

/* What the drainer sends back through the result pipe, followed by n (bytes, hash) pairs. */
typedef struct drain_report {
    uint64_t win_bytes, win_check_ns, total_bytes, bad_records;
    double cpu_s, cpu_win_s, user_win_s;
    hist lat;     /* from when the loop started writing the record to its sockets */
    hist lat_due; /* from when the record was due (t_start + seq / rate) */
} drain_report;

typedef struct sock_result {
    uint64_t bytes, hash;
} sock_result;

static void write_full(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n) {
        ssize_t w = write(fd, b, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            die("pipe write failed: %s", strerror(errno));
        b += w;
        n -= (size_t)w;
    }
}

static int read_full(int fd, void *p, size_t n)
{
    uint8_t *b = p;
    while (n) {
        ssize_t r = read(fd, b, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        b += r;
        n -= (size_t)r;
    }
    return 0;
}

static void set_nonblock(int fd)
{
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/* ---- the drainer (child) ------------------------------------------------------------------ */

typedef struct dsock {
    int fd;
    uint8_t open;
    uint8_t rec_len;
    uint8_t rec[REC_SIZE];
    uint64_t bytes;
    bh_state hash;
} dsock;

static void drain_records(drain_report *rep, dsock *s, const uint8_t *p, size_t n, uint64_t now,
                          uint64_t t_start)
{
    while (n) {
        const uint8_t *rec = NULL;
        if (s->rec_len == 0 && n >= REC_SIZE) {
            rec = p;
            p += REC_SIZE;
            n -= REC_SIZE;
        } else {
            size_t take = REC_SIZE - s->rec_len;
            if (take > n)
                take = n;
            memcpy(s->rec + s->rec_len, p, take);
            s->rec_len = (uint8_t)(s->rec_len + take);
            p += take;
            n -= take;
            if (s->rec_len == REC_SIZE) {
                rec = s->rec;
                s->rec_len = 0;
            }
        }
        uint64_t ts, seq;
        if (!rec)
            continue;
        if (!rec_timestamp(rec, &ts) || !rec_seq(rec, &seq)) {
            rep->bad_records++;
            continue;
        }
        uint64_t due = t_start + (uint64_t)((double)seq * 1e9 / opt.rate);
        hist_add(&rep->lat, now > ts ? now - ts : 0);
        hist_add(&rep->lat_due, now > due ? now - due : 0);
    }
}

static void drainer(int port, size_t n, int ctl_fd, int res_fd)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    struct epoll_event evs[MAX_EVENTS];
    dsock *socks = calloc(n, sizeof(dsock));
    uint8_t *rx = malloc(RX_CAP);
    drain_report *rep = calloc(1, sizeof(*rep));
    int epfd = epoll_create1(0);
    uint64_t times[2];

    pin_cpu(opt.rcpu);
    if (!socks || !rx || !rep || epfd < 0)
        die("drainer setup failed");
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    for (size_t i = 0; i < n; i++) {
        dsock *s = &socks[i];
        s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (s->fd < 0 || connect(s->fd, (struct sockaddr *)&a, sizeof(a)) < 0)
            die("drainer connect %zu: %s", i, strerror(errno));
        set_nonblock(s->fd);
        s->open = 1;
        bh_init(&s->hash);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = s};
        epoll_ctl(epfd, EPOLL_CTL_ADD, s->fd, &ev);
    }
    if (read_full(ctl_fd, times, sizeof(times)) < 0)
        die("drainer: no start time");
    uint64_t t_start = times[0], t_win_end = times[1], start_bytes = 0;
    int started = 0, win_done = 0;
    double cpu0 = 0, user0 = 0;
    size_t open = n;
    while (open) {
        int k = epoll_wait(epfd, evs, MAX_EVENTS, 2);
        uint64_t now = now_ns();
        if (!started && now >= t_start) {
            started = 1;
            start_bytes = rep->total_bytes;
            cpu0 = self_cpu_s();
            user0 = self_user_s();
        }
        if (started && !win_done && now >= t_win_end) {
            win_done = 1;
            rep->win_bytes = rep->total_bytes - start_bytes;
            rep->win_check_ns = now;
            rep->cpu_win_s = self_cpu_s() - cpu0;
            rep->user_win_s = self_user_s() - user0;
        }
        for (int i = 0; i < k; i++) {
            dsock *s = evs[i].data.ptr;
            ssize_t r = recv(s->fd, rx, RX_CAP, 0);
            if (r < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            if (r <= 0) {
                close(s->fd);
                s->open = 0;
                open--;
                continue;
            }
            s->bytes += (uint64_t)r;
            rep->total_bytes += (uint64_t)r;
            bh_update(&s->hash, rx, (size_t)r);
            if (opt.mode == M_LATENCY)
                drain_records(rep, s, rx, (size_t)r, now, t_start);
        }
    }
    if (!win_done) {
        rep->win_bytes = rep->total_bytes - start_bytes;
        rep->win_check_ns = now_ns();
        rep->cpu_win_s = self_cpu_s() - cpu0;
        rep->user_win_s = self_user_s() - user0;
    }
    rep->cpu_s = self_cpu_s();
    write_full(res_fd, rep, sizeof(*rep));
    for (size_t i = 0; i < n; i++) {
        sock_result sr = {socks[i].bytes, bh_digest(&socks[i].hash)};
        write_full(res_fd, &sr, sizeof(sr));
    }
    _exit(0);
}

/* ---- the writer (parent) ------------------------------------------------------------------ */

typedef struct wsock {
    int fd;
    uint64_t seq;     /* message being written */
    size_t off;       /* bytes of it already written */
    uint64_t written; /* bytes in total */
    uint8_t *pending; /* latency mode: records the socket could not take yet */
    size_t pending_len, pending_cap;
} wsock;

static uint8_t *ring;
static size_t ring_msgs;

static void ring_init(void)
{
    ring_msgs = RING_BYTES / opt.size;
    if (ring_msgs < 1)
        ring_msgs = 1;
    if (ring_msgs > 16384)
        ring_msgs = 16384;
    ring = malloc(ring_msgs * opt.size);
    if (!ring)
        die("out of memory");
    for (size_t i = 0; i < ring_msgs; i++)
        msg_fill(ring + i * opt.size, opt.size, 0, i, 0);
}

/* Writes messages to one socket, one write() each, until it would block or TURN_MAX. Turns of
 * several messages keep the epoll overhead per write small (one message per turn costs 25% of
 * the 16 KiB rate); level-triggered epoll rotates the ready sockets, so each gets its turns. */
static uint64_t write_turn(wsock *s, uint64_t *writes)
{
    uint64_t bytes = 0;
    for (size_t m = 0; m < TURN_MAX; m++) {
        const uint8_t *msg = ring + (s->seq % ring_msgs) * opt.size;
        ssize_t w = write(s->fd, msg + s->off, opt.size - s->off);
        if (w < 0)
            break;
        (*writes)++;
        bytes += (uint64_t)w;
        s->written += (uint64_t)w;
        s->off += (size_t)w;
        if (s->off < opt.size)
            break;
        s->off = 0;
        s->seq++;
    }
    return bytes;
}

static void pending_add(wsock *s, const uint8_t *p, size_t n)
{
    if (s->pending_len + n > s->pending_cap) {
        s->pending_cap = (s->pending_cap + n) * 2;
        s->pending = realloc(s->pending, s->pending_cap);
        if (!s->pending)
            die("out of memory");
    }
    memcpy(s->pending + s->pending_len, p, n);
    s->pending_len += n;
}

static int pending_flush(wsock *s, uint64_t *writes)
{
    while (s->pending_len) {
        ssize_t w = write(s->fd, s->pending, s->pending_len);
        if (w < 0)
            return errno == EAGAIN ? 0 : -1;
        (*writes)++;
        memmove(s->pending, s->pending + w, s->pending_len - (size_t)w);
        s->pending_len -= (size_t)w;
    }
    return 1;
}

static void want_out(int epfd, wsock *s, int on)
{
    struct epoll_event ev = {.events = on ? EPOLLOUT : 0, .data.ptr = s};
    epoll_ctl(epfd, EPOLL_CTL_MOD, s->fd, &ev);
}

/* The writer's CPU and the machine's busy time when the window closed. */
static double end_cpu_s, end_sys_s, end_irq_s, end_user_s, end_sys_user_s;
static uint64_t end_ns;

static void mark_window_end(void)
{
    if (end_sys_s == 0) {
        end_ns = now_ns();
        end_cpu_s = self_cpu_s();
        end_sys_s = system_busy_s();
        end_irq_s = system_irq_s();
        end_user_s = self_user_s();
        end_sys_user_s = system_user_s();
    }
}

static void run_writer(wsock *socks, size_t n, uint64_t t_start, uint64_t t_end, uint64_t *writes,
                       bh_state *sent)
{
    struct epoll_event evs[MAX_EVENTS];
    int epfd = epoll_create1(0);

    for (size_t i = 0; i < n; i++) {
        struct epoll_event ev = {.events = opt.mode == M_LATENCY ? 0 : EPOLLOUT,
                                 .data.ptr = &socks[i]};
        epoll_ctl(epfd, EPOLL_CTL_ADD, socks[i].fd, &ev);
    }
    while (now_ns() < t_start)
        ;
    if (opt.mode != M_LATENCY) {
        while (now_ns() < t_end) {
            int k = epoll_wait(epfd, evs, MAX_EVENTS, 1);
            for (int i = 0; i < k && now_ns() < t_end; i++)
                write_turn(evs[i].data.ptr, writes);
        }
        mark_window_end();
        close(epfd);
        return;
    }
    /* Latency: a record every 1/rate s, written to every socket, stamped when the loop starts
     * writing it. The drainer also measures from when it was due (from its sequence number):
     * that includes the time a loop that cannot keep up spends behind schedule. */
    int tfd = timerfd_create(CLOCK_MONOTONIC, 0);
    uint64_t period = (uint64_t)(1e9 / opt.rate), seq = 0;
    struct epoll_event tev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(epfd, EPOLL_CTL_ADD, tfd, &tev);
    uint64_t next = t_start;
    uint8_t rec[REC_SIZE];
    for (;;) {
        uint64_t now = now_ns();
        if (now >= t_end)
            mark_window_end();
        while (next <= now && next < t_end) {
            msg_fill(rec, REC_SIZE, 0, seq++, now_ns());
            bh_update(sent, rec, REC_SIZE);
            for (size_t i = 0; i < n; i++) {
                wsock *s = &socks[i];
                if (s->pending_len) {
                    pending_add(s, rec, REC_SIZE);
                    continue;
                }
                ssize_t w = write(s->fd, rec, REC_SIZE);
                (*writes)++;
                if (w == REC_SIZE)
                    continue;
                pending_add(s, rec + (w > 0 ? w : 0), REC_SIZE - (size_t)(w > 0 ? w : 0));
                want_out(epfd, s, 1);
            }
            next += period;
        }
        int busy = 0;
        for (size_t i = 0; i < n && !busy; i++)
            busy = socks[i].pending_len != 0;
        if (next >= t_end && !busy)
            break;
        struct itimerspec its = {
            .it_value = {.tv_sec = (time_t)(next / NS_PER_S), .tv_nsec = (long)(next % NS_PER_S)}};
        timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
        int k = epoll_wait(epfd, evs, MAX_EVENTS, next >= t_end ? 10 : -1);
        for (int i = 0; i < k; i++) {
            wsock *s = evs[i].data.ptr;
            if (!s) {
                uint64_t x;
                if (read(tfd, &x, sizeof(x)) < 0)
                    x = 0;
                continue;
            }
            int r = pending_flush(s, writes);
            if (r != 0)
                want_out(epfd, s, 0);
        }
    }
    close(tfd);
    close(epfd);
}

static int cmp_idx_by_len(const void *a, const void *b, void *ctx)
{
    const wsock *s = ctx;
    uint64_t x = s[*(const size_t *)a].written, y = s[*(const size_t *)b].written;
    return x < y ? -1 : x > y;
}

static int run_sockets(void)
{
    size_t n = opt.mode == M_TCP ? 1 : opt.n;
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t alen = sizeof(a);
    int ctl[2], res[2];

    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(lfd, 4096) < 0 ||
        getsockname(lfd, (struct sockaddr *)&a, &alen) < 0)
        die("listen: %s", strerror(errno));
    if (pipe(ctl) < 0 || pipe(res) < 0)
        die("pipe: %s", strerror(errno));
    pid_t child = fork();
    if (child < 0)
        die("fork: %s", strerror(errno));
    if (child == 0) {
        close(lfd);
        close(ctl[1]);
        close(res[0]);
        drainer(ntohs(a.sin_port), n, ctl[0], res[1]);
    }
    close(ctl[0]);
    close(res[1]);
    pin_cpu(opt.wcpu);
    wsock *socks = calloc(n, sizeof(wsock));
    if (!socks)
        die("out of memory");
    for (size_t i = 0; i < n; i++) {
        socks[i].fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (socks[i].fd < 0)
            die("accept: %s", strerror(errno));
        setsockopt(socks[i].fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    close(lfd);
    ring_init();

    uint64_t t_start = now_ns() + 20000000ull, t_end = t_start + (uint64_t)(opt.duration * 1e9);
    uint64_t times[2] = {t_start, t_end}, writes = 0;
    bh_state sent;
    bh_init(&sent);
    write_full(ctl[1], times, sizeof(times));
    while (now_ns() < t_start)
        ;
    double cpu0 = self_cpu_s(), sys0 = system_busy_s(), irq0 = system_irq_s();
    double user0 = self_user_s(), su0 = system_user_s();
    run_writer(socks, n, t_start, t_end, &writes, &sent);
    mark_window_end();
    double wcpu = end_cpu_s - cpu0, sys = end_sys_s - sys0, irq = end_irq_s - irq0;
    double elapsed = ns_to_s(end_ns - t_start);
    uint64_t writes_win = writes;
    for (size_t i = 0; i < n; i++)
        close(socks[i].fd);

    drain_report *rep = calloc(1, sizeof(*rep));
    sock_result *sr = calloc(n, sizeof(sock_result));
    if (!rep || !sr || read_full(res[0], rep, sizeof(*rep)) < 0 ||
        read_full(res[0], sr, n * sizeof(sock_result)) < 0)
        die("no report from the drainer");
    waitpid(child, NULL, 0);

    /* Verification: every socket got exactly what was written to it. */
    size_t bad = 0;
    uint64_t full_hash = bh_digest(&sent);
    if (opt.mode == M_LATENCY) {
        for (size_t i = 0; i < n; i++)
            if (sr[i].hash != full_hash || sr[i].bytes != sent.total)
                bad++;
    } else {
        size_t *idx = malloc(n * sizeof(size_t));
        uint64_t *lens = malloc(n * sizeof(uint64_t)), *dig = malloc(n * sizeof(uint64_t));
        for (size_t i = 0; i < n; i++)
            idx[i] = i;
        qsort_r(idx, n, sizeof(size_t), cmp_idx_by_len, socks);
        for (size_t i = 0; i < n; i++)
            lens[i] = socks[idx[i]].written;
        msg_stream ms = {.size = opt.size, .res = 0, .seq = 0, .period = ring_msgs};
        size_t reached = bh_prefix_digests(msg_stream_source, &ms, lens, n, dig, 0, NULL, NULL);
        for (size_t i = 0; i < n; i++) {
            size_t s = idx[i];
            if (i >= reached || sr[s].bytes != socks[s].written || sr[s].hash != dig[i])
                bad++;
        }
        free(idx);
        free(lens);
        free(dig);
    }
    double win = ns_to_s(rep->win_check_ns - t_start);
    double del = (double)rep->win_bytes / win;
    result_add("scenario", "%s",
               opt.mode == M_FANOUT    ? "fanout"
               : opt.mode == M_LATENCY ? "latency"
                                       : "ingest");
    result_add("target", "%s", opt.mode == M_TCP ? "bare_tcp" : "bare");
    result_add("followers", "%zu", n);
    result_add("size", "%zu", opt.size);
    if (opt.mode == M_LATENCY)
        result_add("rate", "%g", opt.rate);
    result_add("window_s", "%.3f", opt.duration);
    result_add("del_Bps", "%.0f", del);
    result_add("del_msgs_ps", "%.0f", del / (double)opt.size);
    result_add("writes_ps", "%.0f", (double)writes_win / elapsed);
    result_add("del_bytes_total", "%llu", (unsigned long long)rep->total_bytes);
    if (opt.mode == M_LATENCY) {
        result_add("lat_n", "%llu", (unsigned long long)rep->lat.count);
        result_add("lat_p50_us", "%.1f", (double)hist_quantile(&rep->lat, 0.50) / 1e3);
        result_add("lat_p99_us", "%.1f", (double)hist_quantile(&rep->lat, 0.99) / 1e3);
        result_add("lat_p999_us", "%.1f", (double)hist_quantile(&rep->lat, 0.999) / 1e3);
        result_add("lat_max_us", "%.1f", (double)rep->lat.max / 1e3);
        result_add("lat_due_p50_us", "%.1f", (double)hist_quantile(&rep->lat_due, 0.50) / 1e3);
        result_add("lat_due_p99_us", "%.1f", (double)hist_quantile(&rep->lat_due, 0.99) / 1e3);
        result_add("lat_due_max_us", "%.1f", (double)rep->lat_due.max / 1e3);
    }
    result_add("writer_cpu_pct", "%.1f", 100 * wcpu / elapsed);
    result_add("drainer_cpu_pct", "%.1f", 100 * rep->cpu_win_s / win);
    result_add("sys_busy_pct", "%.1f", 100 * sys / elapsed);
    result_add("softirq_pct", "%.1f", 100 * irq / elapsed);
    result_add(
        "others_pct", "%.1f",
        100 * ((end_sys_user_s - su0 - (end_user_s - user0)) / elapsed - rep->user_win_s / win));
    result_add("verify", "%s", bad || rep->bad_records ? "FAIL" : "ok");
    result_add("bad", "%zu", bad);
    result_print();
    return bad ? 1 : 0;
}

static int run_file(void)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/bare-append-%d", opt.dir ? opt.dir : "/tmp", (int)getpid());
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        die("open %s: %s", path, strerror(errno));
    pin_cpu(opt.wcpu);
    ring_init();
    uint64_t t_start = now_ns(), t_end = t_start + (uint64_t)(opt.duration * 1e9), bytes = 0;
    uint64_t seq = 0, writes = 0;
    double cpu0 = self_cpu_s(), sys0 = system_busy_s(), user0 = self_user_s();
    double su0 = system_user_s();
    while (now_ns() < t_end) {
        ssize_t w = write(fd, ring + (seq++ % ring_msgs) * opt.size, opt.size);
        if (w < 0)
            die("write: %s", strerror(errno));
        bytes += (uint64_t)w;
        writes++;
    }
    double el = ns_to_s(now_ns() - t_start), cpu = self_cpu_s() - cpu0;
    double sys = system_busy_s() - sys0;
    double others = (system_user_s() - su0) - (self_user_s() - user0);
    close(fd);
    unlink(path);
    result_add("scenario", "ingest");
    result_add("target", "bare_file");
    result_add("size", "%zu", opt.size);
    result_add("window_s", "%.3f", el);
    result_add("del_Bps", "%.0f", (double)bytes / el);
    result_add("writes_ps", "%.0f", (double)writes / el);
    result_add("writer_cpu_pct", "%.1f", 100 * cpu / el);
    result_add("sys_busy_pct", "%.1f", 100 * sys / el);
    result_add("others_pct", "%.1f", 100 * others / el);
    result_add("verify", "ok");
    result_print();
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: bare_fanout fanout|latency|tcp|file [-n N] [-s SIZE] [-d SEC] "
                    "[--rate R] [--dir DIR] [-W CPU] [-R CPU]\n"
                    "  -W / -R: pin the writer / the drainer to a CPU\n");
    exit(2);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"rate", 1, 0, 'r'}, {"dir", 1, 0, 'D'}, {0, 0, 0, 0}};

    if (argc < 2)
        usage();
    if (!strcmp(argv[1], "fanout")) {
        opt.mode = M_FANOUT;
    } else if (!strcmp(argv[1], "latency")) {
        opt.mode = M_LATENCY;
        opt.size = REC_SIZE;
        opt.n = 100;
    } else if (!strcmp(argv[1], "tcp")) {
        opt.mode = M_TCP;
        opt.size = 65536;
    } else if (!strcmp(argv[1], "file")) {
        opt.mode = M_FILE;
        opt.size = 65536;
    } else {
        usage();
    }
    optind = 2;
    for (int o; (o = getopt_long(argc, argv, "n:s:d:W:R:", opts, NULL)) != -1;) {
        switch (o) {
        case 'n':
            opt.n = (size_t)atol(optarg);
            break;
        case 's':
            opt.size = (size_t)parse_size(optarg);
            break;
        case 'd':
            opt.duration = atof(optarg);
            break;
        case 'r':
            opt.rate = atof(optarg);
            break;
        case 'D':
            opt.dir = optarg;
            break;
        case 'W':
            opt.wcpu = atoi(optarg);
            break;
        case 'R':
            opt.rcpu = atoi(optarg);
            break;
        default:
            usage();
        }
    }
    if (opt.n < 1 || opt.size < 1 || opt.size > (64u << 20) || opt.duration <= 0 || opt.rate <= 0)
        usage();
    if (opt.mode == M_LATENCY && opt.size != REC_SIZE)
        die("latency needs 64-byte records");
    signal(SIGPIPE, SIG_IGN);
    content_init();
    return opt.mode == M_FILE ? run_file() : run_sockets();
}
