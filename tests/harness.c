/* harness.c -- the test harness (see harness.h): assertions, runner, watchdog, and helpers that
 * spawn the server binary and speak raw TCP, HTTP/1.1 and WebSocket to it. */
#include "harness.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int test_failures;
const char *test_current = "";
static int tests_run, tests_failed;
static pthread_mutex_t fail_lock = PTHREAD_MUTEX_INITIALIZER;

void test_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    pthread_mutex_lock(&fail_lock);
    test_failures++;
    fprintf(stderr, "  FAIL %s (%s:%d): ", test_current, file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    pthread_mutex_unlock(&fail_lock);
}

void test_fail_why(const char *file, int line, const char *cond, const char *fmt, ...)
{
    char why[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    test_fail(file, line, "%s: %s", cond, why);
}

/* ---- registry of running servers, and the handlers that kill them ---------------------------- */

#define TSRV_REGISTRY 64

static tsrv *registry[TSRV_REGISTRY];
static int registry_scope[TSRV_REGISTRY]; /* the test that started it (tests_run + 1), 0: main */
static int running_test;                  /* tests_run + 1 while a test runs, else 0 */
static volatile pid_t registry_pids[TSRV_REGISTRY]; /* read by signal handlers */

static void stop_scoped(int scope);

static void write_str(const char *s)
{
    ssize_t r = write(2, s, strlen(s));
    (void)r;
}

static void kill_registered(int sig)
{
    for (int i = 0; i < TSRV_REGISTRY; i++)
        if (registry_pids[i] > 0)
            kill(registry_pids[i], sig);
}

static void on_fatal_signal(int sig)
{
    write_str(sig == SIGALRM ? "\n  FAIL watchdog: test " : "\n  FAIL signal during test ");
    write_str(test_current);
    write_str(sig == SIGALRM ? " did not finish in time\n" : "\n");
    kill_registered(SIGKILL);
    _exit(1);
}

static void on_exit_kill(void)
{
    int64_t deadline;

    kill_registered(SIGTERM);
    deadline = t_now_ms() + 3000;
    for (int i = 0; i < TSRV_REGISTRY; i++) {
        if (registry_pids[i] <= 0)
            continue;
        while (waitpid(registry_pids[i], NULL, WNOHANG) == 0 && t_now_ms() < deadline)
            t_sleep_ms(10);
        kill(registry_pids[i], SIGKILL);
        waitpid(registry_pids[i], NULL, WNOHANG);
        registry_pids[i] = 0;
    }
}

static void install_handlers(void)
{
    static int done;
    struct sigaction sa;

    if (done)
        return;
    done = 1;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_fatal_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    atexit(on_exit_kill);
}

static unsigned watchdog_seconds(void)
{
    const char *e = getenv("HFS_TEST_TIMEOUT");
    long v = e ? strtol(e, NULL, 10) : 0;
    return v > 0 ? (unsigned)v : 90;
}

void test_run(const char *name, void (*fn)(void))
{
    int before = test_failures;
    struct timespec t0, t1;
    const char *only = getenv("HFS_TEST");

    if (only && *only && !strstr(name, only))
        return; /* HFS_TEST=NAME: only the test functions whose name contains NAME */

    install_handlers();
    test_current = name;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    alarm(watchdog_seconds());
    running_test = tests_run + 1;
    fn();
    stop_scoped(running_test);
    running_test = 0;
    alarm(0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    tests_run++;
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    if (test_failures != before) {
        tests_failed++;
        printf("not ok %d - %s (%.0f ms)\n", tests_run, name, ms);
    } else {
        printf("ok %d - %s (%.0f ms)\n", tests_run, name, ms);
    }
    fflush(stdout);
}

int test_report(void)
{
    printf("# %d tests, %d failed\n", tests_run, tests_failed);
    if (test_failures && !tests_failed)
        printf("# %d failed checks outside tests\n", test_failures);
    return tests_failed || test_failures ? 1 : 0;
}

/* ---- time, randomness, formatting ------------------------------------------------------------ */

int64_t t_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void t_sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

static pthread_mutex_t rand_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t rand_state;

uint64_t t_rand(void)
{
    uint64_t x;

    pthread_mutex_lock(&rand_lock);
    if (!rand_state) {
        const char *e = getenv("HFS_SEED");
        uint64_t seed = e ? strtoull(e, NULL, 10) : 0;
        if (!seed) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            seed = ((uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)getpid()) %
                       1000000000u +
                   1;
        }
        printf("# seed %llu (set HFS_SEED to repeat)\n", (unsigned long long)seed);
        fflush(stdout);
        rand_state = seed * 0x9E3779B97F4A7C15ull;
        if (!rand_state)
            rand_state = 1;
    }
    x = rand_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rand_state = x;
    pthread_mutex_unlock(&rand_lock);
    return x * 0x2545F4914F6CDD1Dull;
}

size_t t_rand_range(size_t lo, size_t hi)
{
    if (hi <= lo)
        return lo;
    return lo + (size_t)(t_rand() % (uint64_t)(hi - lo + 1));
}

void t_rand_fill(void *p, size_t n)
{
    uint8_t *c = p;
    while (n > 0) {
        uint64_t v = t_rand();
        for (int i = 0; i < 8 && n > 0; i++, n--) {
            *c++ = (uint8_t)v;
            v >>= 8;
        }
    }
}

const char *t_fmt(const char *fmt, ...)
{
    static __thread char bufs[16][2048];
    static __thread unsigned next;
    char *b = bufs[next++ % 16];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(b, sizeof(bufs[0]), fmt, ap);
    va_end(ap);
    return b;
}

int t_contains(const void *hay, size_t n, const char *needle)
{
    size_t k = needle ? strlen(needle) : 0;
    if (!hay || !k || n < k)
        return 0;
    return memmem(hay, n, needle, k) != NULL;
}

/* ---- byte buffers and files -------------------------------------------------------------------
 */

void tbuf_add(tbuf *b, const void *p, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        uint8_t *q = realloc(b->p, cap);
        if (!q) {
            fprintf(stderr, "harness: out of memory\n");
            abort();
        }
        b->p = q;
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = '\0'; /* always NUL-terminated, for string checks */
}

void tbuf_adds(tbuf *b, const char *s)
{
    tbuf_add(b, s, strlen(s));
}

void tbuf_free(tbuf *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}

int t_file_read(const char *path, tbuf *out)
{
    char chunk[65536];
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    out->len = 0;
    tbuf_add(out, "", 0);
    if (fd < 0)
        return -1;
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            close(fd);
            return n < 0 ? -1 : 0;
        }
        tbuf_add(out, chunk, (size_t)n);
    }
}

int t_file_write(const char *path, const void *p, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    const uint8_t *c = p;

    if (fd < 0)
        return -1;
    while (n > 0) {
        ssize_t w = write(fd, c, n);
        if (w < 0) {
            close(fd);
            return -1;
        }
        c += w;
        n -= (size_t)w;
    }
    return close(fd);
}

int t_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

int t_file_wait_eq(const char *path, const void *p, size_t n, int timeout_ms)
{
    int64_t deadline = t_now_ms() + timeout_ms;
    tbuf b = {0};
    int ok = 0;

    for (;;) {
        if (t_file_read(path, &b) == 0 && b.len == n && memcmp(b.p, p, n) == 0) {
            ok = 1;
            break;
        }
        if (t_now_ms() >= deadline)
            break;
        t_sleep_ms(5);
    }
    tbuf_free(&b);
    return ok;
}

static __thread int tree_entries;

static int count_entry(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)p;
    (void)st;
    (void)flag;
    if (f->level > 0)
        tree_entries++;
    return 0;
}

int t_tree_count(const char *dir)
{
    tree_entries = 0;
    if (nftw(dir, count_entry, 16, FTW_PHYS) < 0)
        return -1;
    return tree_entries;
}

static int remove_entry(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st;
    (void)f;
    if (flag == FTW_DP)
        rmdir(p);
    else
        unlink(p);
    return 0;
}

void t_rm_rf(const char *path)
{
    nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- the server binary ------------------------------------------------------------------------
 */

static const char *server_bin(void)
{
    const char *d = getenv("HFS_BIN");
    return t_fmt("%s/httpfstream-server", d && *d ? d : "build/bin");
}

static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max && rl.rlim_cur < 65536) {
        rl.rlim_cur = rl.rlim_max < 65536 ? rl.rlim_max : 65536;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static void registry_set(tsrv *s)
{
    for (int i = 0; i < TSRV_REGISTRY; i++) {
        if (registry[i] == s || !registry[i]) {
            if (registry[i] != s)
                registry_scope[i] = running_test;
            registry[i] = s;
            registry_pids[i] = s->pid;
            return;
        }
    }
}

static void registry_drop(tsrv *s)
{
    for (int i = 0; i < TSRV_REGISTRY; i++) {
        if (registry[i] == s) {
            registry[i] = NULL;
            registry_pids[i] = 0;
        }
    }
}

static off_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : 0;
}

static void dump_log(const tsrv *s, off_t from)
{
    tbuf b = {0};
    if (t_file_read(s->log, &b) == 0) {
        size_t at = (size_t)from < b.len ? (size_t)from : b.len;
        if (b.len - at > 6000)
            at = b.len - 6000;
        fprintf(stderr, "  --- server log %s (from byte %zu) ---\n%s  --- end of log ---\n", s->log,
                at, (char *)b.p + at);
    }
    tbuf_free(&b);
}

/* Finds "listening on HOST:PORT, root" in the log after byte from; returns the port or 0. */
static int find_port(const tsrv *s, off_t from)
{
    tbuf b = {0};
    int port = 0;

    if (t_file_read(s->log, &b) == 0 && (size_t)from <= b.len) {
        char *p = strstr((char *)b.p + from, "listening on ");
        char *comma = p ? strstr(p, ", root") : NULL;
        if (comma) {
            char *colon = comma;
            while (colon > p && *colon != ':')
                colon--;
            port = atoi(colon + 1);
        }
    }
    tbuf_free(&b);
    return port;
}

/* Forks and execs the server; waits for its listening line. Returns 0, or -1 (failure counted), or
 * -2 when quiet and the server exited at once (nothing counted). */
static int spawn(tsrv *s, int port, int quiet)
{
    const char *argv[TSRV_MAX_FLAGS + 4];
    char root_flag[400], http_flag[64];
    int argc = 0, fd;
    off_t from = file_size(s->log);
    const char *bin = server_bin();

    snprintf(root_flag, sizeof(root_flag), "-root=%s", s->root);
    snprintf(http_flag, sizeof(http_flag), "-http=127.0.0.1:%d", port);
    argv[argc++] = bin;
    argv[argc++] = root_flag;
    argv[argc++] = http_flag;
    for (int i = 0; s->flags[i]; i++)
        argv[argc++] = s->flags[i];
    argv[argc] = NULL;

    fd = open(s->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        test_fail(__FILE__, __LINE__, "cannot open %s: %s", s->log, strerror(errno));
        return -1;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(fd);
        test_fail(__FILE__, __LINE__, "fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        int null = open("/dev/null", O_RDONLY);
        dup2(null, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        /* keep none of the test's sockets open in the server */
        if (syscall(SYS_close_range, 3u, ~0u, 0u) != 0)
            for (int i = 3; i < 4096; i++)
                close(i);
        umask(022);
        signal(SIGPIPE, SIG_DFL);
        if (s->rlimit_fsize) {
            struct rlimit rl = {.rlim_cur = s->rlimit_fsize, .rlim_max = s->rlimit_fsize};
            if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
                fprintf(stderr, "setrlimit RLIMIT_FSIZE: %s\n", strerror(errno));
        }
        if (s->rlimit_nofile) {
            struct rlimit rl = {.rlim_cur = s->rlimit_nofile, .rlim_max = s->rlimit_nofile};
            if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
                fprintf(stderr, "setrlimit RLIMIT_NOFILE: %s\n", strerror(errno));
        }
        execv(bin, (char *const *)argv);
        fprintf(stderr, "exec %s: %s\n", bin, strerror(errno));
        _exit(127);
    }
    close(fd);
    s->pid = pid;
    s->termed = 0;
    registry_set(s);

    int64_t deadline = t_now_ms() + 10000;
    for (;;) {
        int got = find_port(s, from);
        if (got > 0) {
            s->port = got;
            snprintf(s->base, sizeof(s->base), "http://127.0.0.1:%d", got);
            return 0;
        }
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            s->pid = 0;
            registry_set(s); /* no process, still registered */
            if (quiet)
                return -2;
            test_fail(__FILE__, __LINE__, "server exited at start (status 0x%x)", status);
            dump_log(s, from);
            return -1;
        }
        if (t_now_ms() > deadline) {
            test_fail(__FILE__, __LINE__, "server did not print its listening line in 10 s");
            dump_log(s, from);
            tsrv_kill9(s);
            return -1;
        }
        t_sleep_ms(5);
    }
}

tsrv *tsrv_start(const char *const *extra_flags)
{
    return tsrv_start_rlimits(extra_flags, 0, 0);
}

tsrv *tsrv_start_rlimits(const char *const *extra_flags, unsigned long long fsize,
                         unsigned long long nofile)
{
    const char *tmp = getenv("TMPDIR");
    tsrv *s = calloc(1, sizeof(*s));
    int n = 0;

    install_handlers();
    raise_fd_limit();
    if (!s)
        return NULL;
    snprintf(s->dir, sizeof(s->dir), "%s/hfs-it.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(s->dir)) {
        test_fail(__FILE__, __LINE__, "mkdtemp: %s", strerror(errno));
        free(s);
        return NULL;
    }
    snprintf(s->root, sizeof(s->root), "%s/root", s->dir);
    snprintf(s->log, sizeof(s->log), "%s/server.log", s->dir);
    for (; extra_flags && extra_flags[n] && n < TSRV_MAX_FLAGS; n++)
        s->flags[n] = strdup(extra_flags[n]);
    s->flags[n] = NULL;
    s->rlimit_fsize = fsize;
    s->rlimit_nofile = nofile;
    if (spawn(s, 0, 0) < 0) {
        tsrv_stop(s);
        return NULL;
    }
    return s;
}

int tsrv_run_status(const char *const *flags, int timeout_ms)
{
    const char *tmp = getenv("TMPDIR");
    const char *argv[TSRV_MAX_FLAGS + 4];
    char dir[256], root_flag[300];
    int argc = 0, status = 0;

    snprintf(dir, sizeof(dir), "%s/hfs-run.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir))
        return -1;
    snprintf(root_flag, sizeof(root_flag), "-root=%s/root", dir);
    argv[argc++] = server_bin();
    argv[argc++] = root_flag;
    argv[argc++] = "-http=127.0.0.1:0";
    for (int i = 0; flags && flags[i] && i < TSRV_MAX_FLAGS; i++)
        argv[argc++] = flags[i];
    argv[argc] = NULL;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        t_rm_rf(dir);
        return -1;
    }
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
        if (syscall(SYS_close_range, 3u, ~0u, 0u) != 0)
            for (int i = 3; i < 4096; i++)
                close(i);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    int64_t deadline = t_now_ms() + timeout_ms;
    pid_t r;
    while ((r = waitpid(pid, &status, WNOHANG)) == 0 && t_now_ms() < deadline)
        t_sleep_ms(5);
    if (r != pid) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        status = -1;
    }
    t_rm_rf(dir);
    return status;
}

int tsrv_alive(tsrv *s)
{
    int status;
    if (!s || s->pid <= 0)
        return 0;
    if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
        s->died = status | 0x10000;
        s->pid = 0;
        registry_set(s);
        return 0;
    }
    return 1;
}

int tsrv_wait_exit(tsrv *s, int timeout_ms)
{
    int64_t deadline = t_now_ms() + timeout_ms;
    int status;

    if (!s || s->pid <= 0)
        return -1;
    for (;;) {
        pid_t r = waitpid(s->pid, &status, WNOHANG);
        if (r == s->pid || (r < 0 && errno != EINTR))
            break;
        if (t_now_ms() >= deadline)
            return -1;
        t_sleep_ms(5);
    }
    s->pid = 0;
    registry_set(s); /* still registered (for tsrv_stop_all), with no process */
    return status;
}

void tsrv_term(tsrv *s)
{
    if (s && s->pid > 0 && !s->termed) {
        kill(s->pid, SIGTERM);
        s->termed = 1;
    }
}

void tsrv_kill9(tsrv *s)
{
    if (!s || s->pid <= 0)
        return;
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
    s->pid = 0;
    registry_set(s); /* still registered (for tsrv_stop_all), with no process */
}

int tsrv_restart(tsrv *s)
{
    /* a bind that races the old socket's teardown may fail: retry quietly for up to 5 s */
    for (int attempt = 0; attempt < 50; attempt++) {
        int rc = spawn(s, s->port, attempt < 49);
        if (rc != -2)
            return rc;
        t_sleep_ms(100);
    }
    return -1;
}

int tsrv_stop(tsrv *s)
{
    int ok = 1, status = 0;

    if (!s)
        return 0;
    if (s->pid > 0) {
        if (!s->termed)
            kill(s->pid, SIGTERM);
        int64_t deadline = t_now_ms() + 10000;
        pid_t r;
        while ((r = waitpid(s->pid, &status, WNOHANG)) == 0 && t_now_ms() < deadline)
            t_sleep_ms(5);
        if (r != s->pid) {
            kill(s->pid, SIGKILL);
            waitpid(s->pid, &status, 0);
            test_fail(__FILE__, __LINE__, "server did not exit within 10 s of SIGTERM");
            ok = 0;
        } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            test_fail(__FILE__, __LINE__, "server exit status 0x%x after SIGTERM (want exit 0)",
                      status);
            ok = 0;
        }
        s->pid = 0;
    }
    if (s->died) {
        test_fail(__FILE__, __LINE__, "server exited by itself (status 0x%x)", s->died & 0xffff);
        ok = 0;
    }
    registry_drop(s);
    if (tsrv_log_has(s, "Sanitizer") || tsrv_log_has(s, "runtime error")) {
        test_fail(__FILE__, __LINE__, "sanitizer report in the server log");
        ok = 0;
    }
    if (!ok)
        dump_log(s, 0);
    if (ok && !getenv("HFS_KEEP"))
        t_rm_rf(s->dir);
    else
        fprintf(stderr, "  note: kept %s\n", s->dir);
    for (int i = 0; s->flags[i]; i++)
        free(s->flags[i]);
    free(s);
    return ok ? 0 : -1;
}

void tsrv_stop_all(void)
{
    for (int i = 0; i < TSRV_REGISTRY; i++)
        if (registry[i])
            tsrv_stop(registry[i]);
}

static void stop_scoped(int scope)
{
    for (int i = 0; i < TSRV_REGISTRY; i++)
        if (registry[i] && registry_scope[i] == scope)
            tsrv_stop(registry[i]);
}

const char *tsrv_url(const tsrv *s, const char *path)
{
    return t_fmt("%s%s", s->base, path);
}

const char *tsrv_path(const tsrv *s, const char *path)
{
    return t_fmt("%s%s%s", s->root, path[0] == '/' ? "" : "/", path);
}

int tsrv_log_has(const tsrv *s, const char *needle)
{
    tbuf b = {0};
    int has = t_file_read(s->log, &b) == 0 && t_contains(b.p, b.len, needle);
    tbuf_free(&b);
    return has;
}

/* ---- other processes ------------------------------------------------------------------------
 */

double t_proc_cpu_s(pid_t pid)
{
    char path[64], buf[2048];
    unsigned long long ut = 0, st = 0;
    int fd, n;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    n = (int)read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    /* the command name may hold spaces and parentheses: the fields resume after the last ')' */
    char *p = strrchr(buf, ')');
    if (!p ||
        sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    long hz = sysconf(_SC_CLK_TCK);
    return (double)(ut + st) / (double)(hz > 0 ? hz : 100);
}

long t_proc_status_kb(pid_t pid, const char *field)
{
    char line[256];
    long kb = -1;
    size_t flen = strlen(field);
    FILE *f = fopen(t_fmt("/proc/%d/status", (int)pid), "r");

    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, field, flen) == 0 && line[flen] == ':') {
            kb = atol(line + flen + 1);
            break;
        }
    fclose(f);
    return kb;
}

int t_proc_fd_count(pid_t pid)
{
    char path[64];
    int n = 0;

    snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

/* ---- raw TCP ----------------------------------------------------------------------------------
 */

int t_connect_rcvbuf(int port, int rcvbuf)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

    if (fd < 0)
        return -1;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (rcvbuf > 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        close(fd);
        return -1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

int t_connect(int port)
{
    return t_connect_rcvbuf(port, 0);
}

int t_send_all(int fd, const void *p, size_t n)
{
    const uint8_t *c = p;
    while (n > 0) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

int t_send_str(int fd, const char *s)
{
    return t_send_all(fd, s, strlen(s));
}

ssize_t t_recv(int fd, void *buf, size_t len, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int r;

    do {
        r = poll(&p, 1, timeout_ms < 0 ? 0 : timeout_ms);
    } while (r < 0 && errno == EINTR);
    if (r == 0)
        return -2;
    ssize_t n;
    do {
        n = recv(fd, buf, len, 0);
    } while (n < 0 && errno == EINTR);
    return n < 0 ? -1 : n;
}

int t_wait_eof(int fd, int timeout_ms)
{
    char buf[65536];
    int64_t deadline = t_now_ms() + timeout_ms;
    for (;;) {
        int64_t left = deadline - t_now_ms();
        if (left < 0)
            return 0;
        ssize_t n = t_recv(fd, buf, sizeof(buf), (int)left);
        if (n == 0 || n == -1)
            return 1;
        if (n == -2)
            return 0;
    }
}

void t_close_rst(int fd)
{
    struct linger l = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
    close(fd);
}

int t_closed_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t al = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = 0;

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &al) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

/* ---- raw HTTP/1.1 -----------------------------------------------------------------------------
 */

typedef struct reader {
    int fd;
    tbuf in;
    size_t pos;
    int64_t deadline;
    int eof;
} reader;

/* Reads more bytes: 1, or 0 at EOF / timeout (eof set on EOF). */
static int reader_more(reader *rd)
{
    uint8_t chunk[65536];
    int64_t left = rd->deadline - t_now_ms();
    if (rd->eof || left < 0)
        return 0;
    ssize_t n = t_recv(rd->fd, chunk, sizeof(chunk), (int)left);
    if (n == 0 || n == -1) {
        rd->eof = 1;
        return 0;
    }
    if (n < 0)
        return 0;
    tbuf_add(&rd->in, chunk, (size_t)n);
    return 1;
}

static int reader_need(reader *rd, size_t n)
{
    while (rd->in.len - rd->pos < n)
        if (!reader_more(rd))
            return 0;
    return 1;
}

/* A CRLF-terminated line starting at pos (without the CRLF) in a t_fmt buffer, or NULL. */
static const char *reader_line(reader *rd)
{
    for (;;) {
        uint8_t *start = rd->in.p + rd->pos;
        uint8_t *nl = memchr(start, '\n', rd->in.len - rd->pos);
        if (nl) {
            size_t n = (size_t)(nl - start);
            rd->pos += n + 1;
            if (n && start[n - 1] == '\r')
                n--;
            return t_fmt("%.*s", (int)(n > 2000 ? 2000 : n), (char *)start);
        }
        if (!reader_more(rd))
            return NULL;
    }
}

static void read_chunked(reader *rd, thttp_resp *r)
{
    for (;;) {
        const char *line = reader_line(rd);
        if (!line)
            return;
        size_t n = (size_t)strtoul(line, NULL, 16);
        if (n == 0) {
            while ((line = reader_line(rd)) && *line) {
            }
            return;
        }
        if (!reader_need(rd, n + 2))
            return;
        tbuf_add(&r->body, rd->in.p + rd->pos, n);
        rd->pos += n + 2;
    }
}

/* Bytes read past the end of a response (the start of the next one, on a pipelined connection),
 * kept for the next thttp_read on the same socket. Keyed by descriptor and socket inode, so a
 * closed socket's leftovers never reach a new one that got the same descriptor. */
#define LEFTOVER_SLOTS 16
static struct {
    int fd;
    ino_t ino;
    tbuf buf;
} leftover[LEFTOVER_SLOTS];
static pthread_mutex_t leftover_lock = PTHREAD_MUTEX_INITIALIZER;

static ino_t sock_ino(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 ? st.st_ino : 0;
}

static void leftover_take(int fd, tbuf *into)
{
    ino_t ino = sock_ino(fd);
    pthread_mutex_lock(&leftover_lock);
    for (int i = 0; i < LEFTOVER_SLOTS; i++) {
        if (leftover[i].buf.p && leftover[i].fd == fd) {
            if (leftover[i].ino == ino)
                tbuf_add(into, leftover[i].buf.p, leftover[i].buf.len);
            tbuf_free(&leftover[i].buf);
        }
    }
    pthread_mutex_unlock(&leftover_lock);
}

static void leftover_keep(int fd, const uint8_t *p, size_t n)
{
    if (n == 0)
        return;
    pthread_mutex_lock(&leftover_lock);
    for (int i = 0; i < LEFTOVER_SLOTS; i++) {
        if (!leftover[i].buf.p) {
            leftover[i].fd = fd;
            leftover[i].ino = sock_ino(fd);
            tbuf_add(&leftover[i].buf, p, n);
            break;
        }
    }
    pthread_mutex_unlock(&leftover_lock);
}

int thttp_read(int fd, thttp_resp *r, int head_only, int timeout_ms)
{
    reader rd = {.fd = fd, .deadline = t_now_ms() + timeout_ms};
    uint8_t *end = NULL;

    memset(r, 0, sizeof(*r));
    tbuf_add(&rd.in, "", 0);
    tbuf_add(&r->body, "", 0);
    leftover_take(fd, &rd.in);
    while (!(end = (uint8_t *)memmem(rd.in.p, rd.in.len, "\r\n\r\n", 4)))
        if (!reader_more(&rd))
            break;
    if (!end) {
        r->eof = rd.eof;
        tbuf_free(&rd.in);
        return -1;
    }
    size_t head_len = (size_t)(end - rd.in.p) + 4;
    size_t copy = head_len < THTTP_HEAD_MAX ? head_len : THTTP_HEAD_MAX;
    memcpy(r->head, rd.in.p, copy);
    r->head[copy] = '\0';
    r->head_len = head_len;
    rd.pos = head_len;
    if (strncmp(r->head, "HTTP/1.", 7) == 0 && r->head[8] == ' ')
        r->status = atoi(r->head + 9);
    else
        r->status = -1; /* not an HTTP response */

    const char *te = thttp_header(r, "Transfer-Encoding");
    const char *cl = thttp_header(r, "Content-Length");
    if (r->status == 101) {
        tbuf_add(&r->body, rd.in.p + rd.pos, rd.in.len - rd.pos);
        rd.pos = rd.in.len;
    } else if (head_only) {
        /* no body is allowed: keep whatever arrives until the server closes (Connection: close) */
        while (reader_more(&rd)) {
        }
        tbuf_add(&r->body, rd.in.p + rd.pos, rd.in.len - rd.pos);
        rd.pos = rd.in.len;
    } else if (r->status / 100 == 1 || r->status == 204 || r->status == 304) {
        /* no body: what follows belongs to the next response */
    } else if (te && strcasestr(te, "chunked")) {
        read_chunked(&rd, r);
    } else if (cl) {
        size_t n = (size_t)strtoull(cl, NULL, 10);
        reader_need(&rd, n);
        size_t have = rd.in.len - rd.pos < n ? rd.in.len - rd.pos : n;
        tbuf_add(&r->body, rd.in.p + rd.pos, have);
        rd.pos += have;
    } else {
        while (reader_more(&rd)) {
        }
        tbuf_add(&r->body, rd.in.p + rd.pos, rd.in.len - rd.pos);
        rd.pos = rd.in.len;
    }
    if (rd.pos < rd.in.len)
        leftover_keep(fd, rd.in.p + rd.pos, rd.in.len - rd.pos);
    r->eof = rd.eof;
    tbuf_free(&rd.in);
    return 0;
}

int thttp_raw(int port, const void *req, size_t len, thttp_resp *r, int head_only)
{
    int fd = t_connect(port);
    if (fd < 0) {
        memset(r, 0, sizeof(*r));
        return -1;
    }
    t_send_all(fd, req, len); /* a server may answer and close before reading everything */
    int rc = thttp_read(fd, r, head_only, T_TIMEOUT);
    close(fd);
    return rc;
}

int thttp_req(int port, const char *method, const char *path, const char *extra_headers,
              thttp_resp *r)
{
    tbuf q = {0};
    tbuf_adds(&q, t_fmt("%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n", method,
                        path, port));
    if (extra_headers)
        tbuf_adds(&q, extra_headers);
    tbuf_adds(&q, "\r\n");
    int rc = thttp_raw(port, q.p, q.len, r, strcmp(method, "HEAD") == 0);
    tbuf_free(&q);
    return rc;
}

int thttp_get(int port, const char *path, const char *extra_headers, thttp_resp *r)
{
    return thttp_req(port, "GET", path, extra_headers, r);
}

/* Walks the header lines; calls fn for each name match. */
static const char *header_find(const thttp_resp *r, const char *name, int nth)
{
    size_t nl = strlen(name);
    const char *p = strstr(r->head, "\r\n");
    int seen = 0;

    while (p && p[2] != '\r' && p[2] != '\0') {
        const char *line = p + 2;
        const char *eol = strstr(line, "\r\n");
        if (!eol)
            break;
        if (strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            if (seen++ == nth) {
                const char *v = line + nl + 1;
                while (v < eol && (*v == ' ' || *v == '\t'))
                    v++;
                const char *e = eol;
                while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
                    e--;
                return t_fmt("%.*s", (int)(e - v), v);
            }
        }
        p = eol;
    }
    return NULL;
}

const char *thttp_header(const thttp_resp *r, const char *name)
{
    return header_find(r, name, 0);
}

int thttp_header_count(const thttp_resp *r, const char *name)
{
    int n = 0;
    while (header_find(r, name, n))
        n++;
    return n;
}

void thttp_free(thttp_resp *r)
{
    tbuf_free(&r->body);
}

int thttp_contains(const thttp_resp *r, const char *needle)
{
    return strstr(r->head, needle) != NULL || t_contains(r->body.p, r->body.len, needle);
}

/* ---- raw WebSocket peer -----------------------------------------------------------------------
 */

static void base64(const uint8_t *in, size_t n, char *out)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        out[o++] = tab[(v >> 18) & 63];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? tab[v & 63] : '=';
    }
    out[o] = '\0';
}

/* 1 when the comma-separated header value list holds token (case-insensitive). */
static int has_token(const char *v, const char *token)
{
    size_t n = strlen(token);
    while (v && *v) {
        while (*v == ' ' || *v == ',')
            v++;
        if (strncasecmp(v, token, n) == 0 && (v[n] == '\0' || v[n] == ',' || v[n] == ' '))
            return 1;
        v = strchr(v, ',');
    }
    return 0;
}

tws *tws_connect_rcvbuf(int port, const char *path, const char *extra_headers, thttp_resp *resp,
                        int rcvbuf)
{
    uint8_t raw[16];
    char key[WS_KEY_LEN + 1], accept[WS_ACCEPT_LEN + 1];
    thttp_resp *r = resp ? resp : malloc(sizeof(*r));
    tws *w = NULL;
    tbuf q = {0};
    int fd;

    memset(r, 0, sizeof(*r));
    t_rand_fill(raw, sizeof(raw));
    base64(raw, sizeof(raw), key);
    ws_accept_key(key, WS_KEY_LEN, accept);
    fd = t_connect_rcvbuf(port, rcvbuf);
    if (fd < 0) {
        fprintf(stderr, "  note: tws_connect %s: connect failed: %s\n", path, strerror(errno));
        goto out;
    }
    tbuf_adds(&q, t_fmt("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
                        "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                        "Sec-WebSocket-Version: 13\r\n",
                        path, port, key));
    if (extra_headers)
        tbuf_adds(&q, extra_headers);
    tbuf_adds(&q, "\r\n");
    if (t_send_all(fd, q.p, q.len) < 0 || thttp_read(fd, r, 0, T_TIMEOUT) < 0) {
        fprintf(stderr, "  note: tws_connect %s: no response head\n", path);
        close(fd);
        goto out;
    }
    if (r->status != 101) {
        close(fd);
        goto out;
    }
    const char *up = thttp_header(r, "Upgrade"), *conn = thttp_header(r, "Connection");
    const char *acc = thttp_header(r, "Sec-WebSocket-Accept");
    if (!up || strcasecmp(up, "websocket") != 0 || !has_token(conn, "upgrade") || !acc ||
        strcmp(acc, accept) != 0) {
        test_fail(__FILE__, __LINE__, "bad 101 for %s (want Accept %s):\n%s", path, accept,
                  r->head);
        close(fd);
        goto out;
    }
    w = calloc(1, sizeof(*w));
    w->fd = fd;
    w->cap = 1 << 18;
    w->buf = malloc(w->cap);
    ws_decoder_init(&w->dec, WS_ROLE_CLIENT, 0);
    memcpy(w->buf, r->body.p, r->body.len); /* frames that came with the 101 */
    w->end = r->body.len;
out:
    tbuf_free(&q);
    if (!resp) {
        thttp_free(r);
        free(r);
    }
    return w;
}

tws *tws_connect(int port, const char *path, const char *extra_headers, thttp_resp *resp)
{
    return tws_connect_rcvbuf(port, path, extra_headers, resp, 0);
}

tws *tws_append(int port, const char *path)
{
    return tws_connect(port, path, "X-Verb: APPEND\r\n", NULL);
}

tws *tws_follow(int port, const char *path)
{
    return tws_connect(port, path, NULL, NULL);
}

int tws_send_raw(tws *w, uint8_t b0, int masked, const void *p, size_t len)
{
    uint8_t key[4];
    uint8_t *frame = malloc(WS_HEADER_MAX + len + 1);
    size_t h;
    int rc;

    t_rand_fill(key, 4);
    h = ws_frame_header(frame, b0 & 0x0f, (b0 & 0x80) != 0, len, masked ? key : NULL);
    frame[0] = b0;
    if (len)
        memcpy(frame + h, p, len);
    if (masked)
        ws_mask(frame + h, len, key, 0);
    rc = t_send_all(w->fd, frame, h + len);
    free(frame);
    return rc;
}

int tws_send(tws *w, unsigned opcode, int fin, const void *p, size_t len)
{
    return tws_send_raw(w, (uint8_t)((fin ? 0x80 : 0) | (opcode & 0x0f)), 1, p, len);
}

int tws_send_text(tws *w, const char *s)
{
    return tws_send(w, WS_OP_TEXT, 1, s, strlen(s));
}

int tws_send_close(tws *w, unsigned code)
{
    uint8_t p[WS_CONTROL_MAX];
    size_t n = code ? ws_close_payload(p, (uint16_t)code, NULL) : 0;
    return tws_send(w, WS_OP_CLOSE, 1, p, n);
}

int tws_read(tws *w, tws_frame *f, int timeout_ms)
{
    int64_t deadline = t_now_ms() + timeout_ms;

    memset(f, 0, sizeof(*f));
    if (w->returned == 2) { /* the previous call returned a complete frame */
        w->frame.len = 0;
        w->returned = 0;
    }
    for (;;) {
        while (w->start < w->end) {
            ws_event ev;
            size_t used = ws_decode(&w->dec, w->buf + w->start, w->end - w->start, &ev);
            w->start += used;
            switch (ev.type) {
            case WS_EV_NEED_MORE:
                break;
            case WS_EV_DATA:
                tbuf_add(&w->frame, ev.data, ev.len);
                if (!ev.frame_end)
                    continue;
                f->type = WS_EV_DATA;
                f->opcode = ev.opcode;
                f->fin = ev.message_end;
                f->data = w->frame.p;
                f->len = w->frame.len;
                w->returned = 2;
                return f->type;
            case WS_EV_PING:
            case WS_EV_PONG:
            case WS_EV_CLOSE:
                w->frame.len = 0;
                tbuf_add(&w->frame, ev.data, ev.len);
                f->type = (int)ev.type;
                f->close_code = ev.close_code;
                f->data = w->frame.p;
                f->len = w->frame.len;
                w->returned = 2;
                return f->type;
            case WS_EV_ERROR:
                f->reason = ev.reason;
                return f->type = TWS_ERROR;
            }
            if (used == 0)
                break;
        }
        w->start = w->end = 0;
        if (w->eof)
            return f->type = TWS_EOF;
        int64_t left = deadline - t_now_ms();
        ssize_t n = t_recv(w->fd, w->buf, w->cap, left < 0 ? 0 : (int)left);
        if (n == -2)
            return f->type = TWS_TIMEOUT;
        if (n <= 0) {
            w->eof = 1;
            return f->type = TWS_EOF;
        }
        w->end = (size_t)n;
    }
}

int tws_read_type(tws *w, int want, tws_frame *f, int timeout_ms)
{
    int64_t deadline = t_now_ms() + timeout_ms;
    for (;;) {
        int64_t left = deadline - t_now_ms();
        int t = tws_read(w, f, left < 0 ? 0 : (int)left);
        if (t == want || t < 0)
            return t;
        if (t == WS_EV_DATA || t == WS_EV_CLOSE)
            return t;
    }
}

void tws_free(tws *w)
{
    if (!w)
        return;
    if (w->fd >= 0)
        close(w->fd);
    free(w->buf);
    tbuf_free(&w->frame);
    free(w);
}

static int collect_violation(tws_collect *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int collect_violation(tws_collect *c, const char *fmt, ...)
{
    va_list ap;
    if (!c->err[0]) {
        va_start(ap, fmt);
        vsnprintf(c->err, sizeof(c->err), fmt, ap);
        va_end(ap);
    }
    return -1;
}

static int collect_data(tws_collect *c, const tws_frame *f)
{
    unsigned want_op = c->opcode ? c->opcode : WS_OP_TEXT;
    size_t max = c->frame_max ? c->frame_max : 8192;

    c->frames++;
    if (c->closed)
        return collect_violation(c, "data frame after CLOSE");
    if (f->opcode != want_op)
        return collect_violation(c, "frame %zu has opcode %u, want %u", c->frames, f->opcode,
                                 want_op);
    if (!f->fin)
        return collect_violation(c, "frame %zu is fragmented (FIN clear)", c->frames);
    if (f->len > max)
        return collect_violation(c, "frame %zu has %zu bytes of payload, over %zu", c->frames,
                                 f->len, max);
    if (c->utf8 && !ws_utf8_valid(f->data, f->len))
        return collect_violation(c, "frame %zu (%zu bytes at stream offset %zu) is not valid UTF-8",
                                 c->frames, f->len, c->bytes);
    if (c->expect) {
        if (c->bytes + f->len > c->expect_len)
            return collect_violation(c, "got %zu bytes, more than the %zu expected",
                                     c->bytes + f->len, c->expect_len);
        for (size_t i = 0; i < f->len; i++)
            if (f->data[i] != c->expect[c->bytes + i])
                return collect_violation(c, "byte %zu differs (got 0x%02x, want 0x%02x)",
                                         c->bytes + i, f->data[i], c->expect[c->bytes + i]);
    } else {
        tbuf_add(&c->data, f->data, f->len);
    }
    c->bytes += f->len;
    return 1;
}

int tws_collect_step(tws *w, tws_collect *c, int timeout_ms)
{
    tws_frame f;

    if (c->eof || c->err[0])
        return -1;
    switch (tws_read(w, &f, timeout_ms)) {
    case TWS_TIMEOUT:
        return 0;
    case TWS_EOF:
        c->eof = 1;
        if (!c->closed)
            collect_violation(c, "TCP closed without a CLOSE frame after %zu bytes", c->bytes);
        return -1;
    case TWS_ERROR:
        return collect_violation(c, "bad frame from the server: %s", f.reason);
    case WS_EV_PING:
        c->pings++;
        if (c->answer_pings)
            tws_send(w, WS_OP_PONG, 1, f.data, f.len);
        return 1;
    case WS_EV_PONG:
        c->pongs++;
        return 1;
    case WS_EV_CLOSE:
        c->closed = 1;
        c->close_code = f.close_code;
        if (!c->no_close_reply)
            tws_send_close(w, f.close_code == WS_CLOSE_NO_STATUS ? 0 : f.close_code);
        return 1;
    default:
        return collect_data(c, &f);
    }
}

int tws_collect_until(tws *w, tws_collect *c, size_t want, int timeout_ms)
{
    int64_t deadline = t_now_ms() + timeout_ms;

    for (;;) {
        if (c->err[0])
            return -1;
        if (want != SIZE_MAX && c->bytes >= want)
            return 0;
        if (c->eof)
            return want == SIZE_MAX && c->closed ? 0
                                                 : collect_violation(c,
                                                                     "stream ended after %zu "
                                                                     "bytes, want %zu",
                                                                     c->bytes, want);
        int64_t left = deadline - t_now_ms();
        if (left <= 0)
            return collect_violation(c, "timeout after %zu bytes (want %zu, CLOSE %s)", c->bytes,
                                     want == SIZE_MAX ? c->bytes : want,
                                     c->closed ? "seen" : "not seen");
        tws_collect_step(w, c, (int)left);
    }
}

void tws_collect_free(tws_collect *c)
{
    tbuf_free(&c->data);
}

unsigned tws_read_close(tws *w, char *reason, size_t cap, int timeout_ms)
{
    tws_frame f;
    reason[0] = '\0';
    if (tws_read_type(w, WS_EV_CLOSE, &f, timeout_ms) != WS_EV_CLOSE)
        return 0;
    if (f.len > 2)
        snprintf(reason, cap, "%.*s", (int)(f.len - 2), (const char *)f.data + 2);
    return f.close_code;
}

tws *tws_append_retry(int port, const char *path, int timeout_ms)
{
    int64_t deadline = t_now_ms() + timeout_ms;
    for (;;) {
        thttp_resp r;
        tws *w = tws_connect(port, path, "X-Verb: APPEND\r\n", &r);
        int status = r.status;
        thttp_free(&r);
        if (w)
            return w;
        if (status != 403 || t_now_ms() > deadline) {
            fprintf(stderr, "  note: APPEND %s: status %d\n", path, status);
            return NULL;
        }
        t_sleep_ms(10);
    }
}

/* ---- an HTTP response read as it streams ---------------------------------------------------- */

void ths_free(ths *h)
{
    if (!h)
        return;
    if (h->fd >= 0)
        close(h->fd);
    tbuf_free(&h->in);
    tbuf_free(&h->body);
    thttp_free(&h->r);
    free(h);
}

/* Decodes whatever complete pieces of the body are in h->in. */
static void ths_decode(ths *h)
{
    while (!h->err[0]) {
        const uint8_t *p = h->in.p + h->pos;
        size_t left = h->in.len - h->pos;
        if (left == 0)
            return;
        if (h->done) {
            snprintf(h->err, sizeof(h->err), "%zu bytes after the end of the body: \"%.*s\"", left,
                     (int)(left > 40 ? 40 : left), (const char *)p);
            return;
        }
        if (!h->chunked) {
            tbuf_add(&h->body, p, left);
            h->pos += left;
            return;
        }
        const uint8_t *crlf = memmem(p, left, "\r\n", 2);
        if (!crlf) {
            if (left > 20)
                snprintf(h->err, sizeof(h->err), "chunk size line too long: \"%.20s\"",
                         (const char *)p);
            return;
        }
        size_t n = 0, digits = (size_t)(crlf - p);
        if (digits == 0 || digits > 16) {
            snprintf(h->err, sizeof(h->err), "bad chunk size line \"%.*s\"", (int)digits,
                     (const char *)p);
            return;
        }
        for (size_t i = 0; i < digits; i++) {
            int c = p[i], v = c >= '0' && c <= '9'   ? c - '0'
                              : c >= 'a' && c <= 'f' ? c - 'a' + 10
                              : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                                     : -1;
            if (v < 0) {
                snprintf(h->err, sizeof(h->err), "bad chunk size line \"%.*s\"", (int)digits,
                         (const char *)p);
                return;
            }
            n = n * 16 + (size_t)v;
        }
        size_t need = digits + 2 + n + 2;
        if (left < need)
            return; /* not all there yet */
        const uint8_t *d = crlf + 2;
        if (d[n] != '\r' || d[n + 1] != '\n') {
            snprintf(h->err, sizeof(h->err), "chunk of %zu bytes not followed by CRLF", n);
            return;
        }
        h->pos += need;
        if (n == 0) {
            h->done = 1; /* "0\r\n\r\n": no trailers are expected */
            continue;
        }
        tbuf_add(&h->body, d, n);
        h->chunks++;
    }
}

/* Reads once (up to timeout_ms). Returns 1 when bytes came, 0 on timeout, -1 at EOF. */
int ths_pump(ths *h, int timeout_ms)
{
    uint8_t buf[65536];

    if (h->eof)
        return -1;
    if (h->pos == h->in.len)
        h->pos = h->in.len = 0;
    ssize_t n = t_recv(h->fd, buf, sizeof(buf), timeout_ms);
    if (n == -2)
        return 0;
    if (n <= 0) {
        h->eof = 1;
        if (!h->chunked)
            h->done = 1;
        else if (!h->done && !h->err[0])
            snprintf(h->err, sizeof(h->err),
                     "connection closed before the terminal chunk (%zu body bytes)", h->body.len);
        return -1;
    }
    tbuf_add(&h->in, buf, (size_t)n);
    ths_decode(h);
    return 1;
}

/* Sends a request on a new connection and reads the response head. Returns the stream (r.status
 * 0 when no head came) or NULL when the connection failed. */
ths *ths_request_rcvbuf(int port, const char *method, const char *path, const char *headers,
                        int minor, int rcvbuf)
{
    ths *h = calloc(1, sizeof(*h));
    tbuf q = {0};

    h->fd = t_connect_rcvbuf(port, rcvbuf);
    if (h->fd < 0) {
        free(h);
        return NULL;
    }
    tbuf_adds(&q, t_fmt("%s %s HTTP/1.%d\r\nHost: 127.0.0.1:%d\r\n", method, path, minor, port));
    if (headers)
        tbuf_adds(&q, headers);
    tbuf_adds(&q, "\r\n");
    t_send_all(h->fd, q.p, q.len);
    tbuf_free(&q);
    tbuf_add(&h->body, "", 0);
    int64_t deadline = t_now_ms() + T_TIMEOUT;
    for (;;) {
        const uint8_t *end = h->in.len ? memmem(h->in.p, h->in.len, "\r\n\r\n", 4) : NULL;
        if (end) {
            size_t hl = (size_t)(end - h->in.p) + 4;
            size_t copy = hl < THTTP_HEAD_MAX ? hl : THTTP_HEAD_MAX;
            memcpy(h->r.head, h->in.p, copy);
            h->r.head[copy] = '\0';
            h->r.head_len = hl;
            h->pos = hl;
            if (strncmp(h->r.head, "HTTP/1.", 7) == 0)
                h->r.status = atoi(h->r.head + 9);
            const char *te = thttp_header(&h->r, "Transfer-Encoding");
            h->chunked = te && strcasestr(te, "chunked");
            ths_decode(h);
            return h;
        }
        int64_t left = deadline - t_now_ms();
        uint8_t buf[16384];
        ssize_t n = t_recv(h->fd, buf, sizeof(buf), left < 0 ? 0 : (int)left);
        if (n <= 0) {
            h->eof = n != -2;
            return h;
        }
        tbuf_add(&h->in, buf, (size_t)n);
    }
}

ths *ths_request(int port, const char *method, const char *path, const char *headers, int minor)
{
    return ths_request_rcvbuf(port, method, path, headers, minor, 0);
}

ths *ths_get(int port, const char *path, const char *headers)
{
    return ths_request(port, "GET", path, headers, 1);
}

/* Reads until the body holds at least want bytes. Returns 1, or 0 (timeout, end, violation). */
int ths_until(ths *h, size_t want, int timeout_ms)
{
    int64_t deadline = t_now_ms() + timeout_ms;

    while (h->body.len < want && !h->err[0] && !h->eof) {
        int64_t left = deadline - t_now_ms();
        if (left <= 0)
            return 0;
        ths_pump(h, (int)left);
    }
    return h->body.len >= want && !h->err[0];
}

/* Reads until the body has ended and the server closed the connection. Returns 1, or 0. */
int ths_end(ths *h, int timeout_ms)
{
    int64_t deadline = t_now_ms() + timeout_ms;

    while (!h->eof && !h->err[0]) {
        int64_t left = deadline - t_now_ms();
        if (left <= 0)
            return 0;
        ths_pump(h, (int)left);
    }
    return h->done && !h->err[0];
}

/* 1 when nothing at all arrives (no byte, no end) for ms. */
int ths_quiet(ths *h, int ms)
{
    int64_t deadline = t_now_ms() + ms;
    size_t before = h->in.len - h->pos + h->body.len;

    while (t_now_ms() < deadline) {
        if (ths_pump(h, (int)(deadline - t_now_ms())) != 0)
            return 0;
    }
    return before == h->in.len - h->pos + h->body.len && !h->done;
}

const char *ths_header(ths *h, const char *name)
{
    return thttp_header(&h->r, name);
}

int tws_append_msg(tsrv *s, tws *w, const char *file, tbuf *want, const void *p, size_t n)
{
    if (tws_send(w, WS_OP_TEXT, 1, p, n) < 0)
        return -1;
    tbuf_add(want, p, n);
    return t_file_wait_eq(tsrv_path(s, file), want->p, want->len, 5000) ? 0 : -1;
}

int tws_end_append(tws *w)
{
    tws_frame f;

    if (tws_send_close(w, 1000) < 0)
        return -1;
    return tws_read_type(w, WS_EV_CLOSE, &f, T_TIMEOUT) == WS_EV_CLOSE ? 0 : -1;
}
