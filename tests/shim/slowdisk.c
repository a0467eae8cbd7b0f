/* slowdisk.c -- an LD_PRELOAD shim for tests: a slow disk, and a count of the syncs.
 *
 * Writes to regular files (write, writev, pwrite, pwritev and their 64-bit and v2 spellings) are
 * cut into pieces of HFS_SLOWDISK_CHUNK bytes (default 16384) and each piece waits its turn on one
 * simulated disk that moves HFS_SLOWDISK_BPS bytes per second (default 5000000; 0: no waiting),
 * so a file written by the process grows gradually. Sockets, pipes, terminals and descriptors 0-2
 * (the server's log) are passed through untouched.
 *
 * Every fdatasync and fsync (on any descriptor) is passed through, then, when HFS_SLOWDISK_LOG
 * names a file, reported there as one line:
 *     fdatasync ino=INODE size=SIZE rc=RC
 * (fsync for fsync; INODE and SIZE of the descriptor's file as fstat saw them after the call), so
 * a test can count the syncs of one file. Each line is one O_APPEND write on a descriptor opened
 * for it: lines from several threads never mix.
 *
 * Built without sanitizers; under an AddressSanitizer server, run with
 * ASAN_OPTIONS=...:verify_asan_link_order=0. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

typedef ssize_t (*write_fn)(int, const void *, size_t);
typedef ssize_t (*writev_fn)(int, const struct iovec *, int);
typedef ssize_t (*pwrite_fn)(int, const void *, size_t, off_t);
typedef ssize_t (*pwritev_fn)(int, const struct iovec *, int, off_t);
typedef ssize_t (*pwritev2_fn)(int, const struct iovec *, int, off_t, int);
typedef int (*sync_fn)(int);

static write_fn real_write;
static writev_fn real_writev;
static pwrite_fn real_pwrite, real_pwrite64;
static pwritev_fn real_pwritev, real_pwritev64;
static pwritev2_fn real_pwritev2, real_pwritev64v2;
static sync_fn real_fdatasync, real_fsync;

static uint64_t bps = 5000000; /* bytes per second; 0: unthrottled */
static size_t chunk = 16384;   /* largest piece written at once to a throttled file */
static const char *log_path;   /* where syncs are reported; NULL: nowhere */

static pthread_mutex_t disk_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t disk_free_ns; /* CLOCK_MONOTONIC time at which the simulated disk is idle */

static void *next_sym(const char *name)
{
    return dlsym(RTLD_NEXT, name);
}

/* Resolves every symbol and reads the settings. Idempotent: called by the constructor and by any
 * wrapper that runs before it (another library's constructor may write first). */
static void init(void)
{
    static int done;
    if (__atomic_load_n(&done, __ATOMIC_ACQUIRE))
        return;
    real_write = (write_fn)next_sym("write");
    real_writev = (writev_fn)next_sym("writev");
    real_pwrite = (pwrite_fn)next_sym("pwrite");
    real_pwrite64 = (pwrite_fn)next_sym("pwrite64");
    real_pwritev = (pwritev_fn)next_sym("pwritev");
    real_pwritev64 = (pwritev_fn)next_sym("pwritev64");
    real_pwritev2 = (pwritev2_fn)next_sym("pwritev2");
    real_pwritev64v2 = (pwritev2_fn)next_sym("pwritev64v2");
    real_fdatasync = (sync_fn)next_sym("fdatasync");
    real_fsync = (sync_fn)next_sym("fsync");
    const char *v = getenv("HFS_SLOWDISK_BPS");
    if (v && *v)
        bps = strtoull(v, NULL, 10);
    v = getenv("HFS_SLOWDISK_CHUNK");
    if (v && *v && strtoull(v, NULL, 10) > 0)
        chunk = (size_t)strtoull(v, NULL, 10);
    v = getenv("HFS_SLOWDISK_LOG");
    log_path = v && *v ? v : NULL;
    __atomic_store_n(&done, 1, __ATOMIC_RELEASE);
}

__attribute__((constructor)) static void slowdisk_init(void)
{
    init();
}

static int throttled(int fd)
{
    struct stat st;
    if (bps == 0 || fd <= 2)
        return 0;
    return fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Waits until the simulated disk has moved n more bytes (queued behind every other writer). */
static void disk_wait(size_t n)
{
    uint64_t cost = (uint64_t)((double)n * 1e9 / (double)bps);
    pthread_mutex_lock(&disk_lock);
    uint64_t now = now_ns();
    uint64_t start = disk_free_ns > now ? disk_free_ns : now;
    uint64_t end = start + cost;
    disk_free_ns = end;
    pthread_mutex_unlock(&disk_lock);
    struct timespec ts = {.tv_sec = (time_t)(end / 1000000000u),
                          .tv_nsec = (long)(end % 1000000000u)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

/* Writes one piece with the real call: at the file position (off < 0) or at off. */
static ssize_t piece(int fd, const void *p, size_t n, off_t off)
{
    disk_wait(n);
    if (off < 0)
        return real_write(fd, p, n);
    return real_pwrite(fd, p, n, off);
}

/* Writes iov in pieces of at most chunk bytes; returns the bytes written, or -1 (errno set) when
 * the first piece failed. A short piece ends it, as a short write would. */
static ssize_t slow_iov(int fd, const struct iovec *iov, int cnt, off_t off)
{
    size_t total = 0;
    int saved = errno;
    for (int i = 0; i < cnt; i++) {
        const uint8_t *p = iov[i].iov_base;
        size_t left = iov[i].iov_len;
        while (left > 0) {
            size_t n = left < chunk ? left : chunk;
            ssize_t w = piece(fd, p, n, off < 0 ? -1 : off + (off_t)total);
            if (w < 0) {
                if (total == 0)
                    return -1;
                errno = saved;
                return (ssize_t)total;
            }
            total += (size_t)w;
            if ((size_t)w < n)
                return (ssize_t)total;
            p += w;
            left -= (size_t)w;
        }
    }
    return (ssize_t)total;
}

ssize_t write(int fd, const void *p, size_t n)
{
    init();
    if (!throttled(fd))
        return real_write(fd, p, n);
    struct iovec v = {.iov_base = (void *)p, .iov_len = n};
    return slow_iov(fd, &v, 1, -1);
}

ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
    init();
    if (!throttled(fd) || cnt < 0)
        return real_writev(fd, iov, cnt);
    return slow_iov(fd, iov, cnt, -1);
}

ssize_t pwrite(int fd, const void *p, size_t n, off_t off)
{
    init();
    if (!throttled(fd) || off < 0)
        return real_pwrite(fd, p, n, off);
    struct iovec v = {.iov_base = (void *)p, .iov_len = n};
    return slow_iov(fd, &v, 1, off);
}

ssize_t pwrite64(int fd, const void *p, size_t n, off_t off)
{
    init();
    if (!throttled(fd) || off < 0)
        return real_pwrite64(fd, p, n, off);
    struct iovec v = {.iov_base = (void *)p, .iov_len = n};
    return slow_iov(fd, &v, 1, off);
}

ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
    init();
    if (!throttled(fd) || off < 0 || cnt < 0)
        return real_pwritev(fd, iov, cnt, off);
    return slow_iov(fd, iov, cnt, off);
}

ssize_t pwritev64(int fd, const struct iovec *iov, int cnt, off_t off)
{
    init();
    if (!throttled(fd) || off < 0 || cnt < 0)
        return real_pwritev64(fd, iov, cnt, off);
    return slow_iov(fd, iov, cnt, off);
}

/* The v2 calls are throttled only without flags (off -1: the file position). */
ssize_t pwritev2(int fd, const struct iovec *iov, int cnt, off_t off, int flags)
{
    init();
    if (flags || !throttled(fd) || off < -1 || cnt < 0)
        return real_pwritev2(fd, iov, cnt, off, flags);
    return slow_iov(fd, iov, cnt, off);
}

ssize_t pwritev64v2(int fd, const struct iovec *iov, int cnt, off_t off, int flags)
{
    init();
    if (flags || !throttled(fd) || off < -1 || cnt < 0)
        return real_pwritev64v2(fd, iov, cnt, off, flags);
    return slow_iov(fd, iov, cnt, off);
}

/* One line per sync in HFS_SLOWDISK_LOG. */
static void report(const char *what, int fd, int rc)
{
    struct stat st;
    char line[160];
    int saved = errno;

    if (!log_path) {
        errno = saved;
        return;
    }
    if (fstat(fd, &st) != 0) {
        st.st_ino = 0;
        st.st_size = -1;
    }
    int n = snprintf(line, sizeof(line), "%s ino=%llu size=%lld rc=%d\n", what,
                     (unsigned long long)st.st_ino, (long long)st.st_size, rc);
    int lfd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (lfd >= 0) {
        if (real_write(lfd, line, (size_t)n) < 0) {
            /* nothing to do: the count is only for tests */
        }
        close(lfd);
    }
    errno = saved;
}

int fdatasync(int fd)
{
    init();
    int rc = real_fdatasync(fd);
    report("fdatasync", fd, rc);
    return rc;
}

int fsync(int fd)
{
    init();
    int rc = real_fsync(fd);
    report("fsync", fd, rc);
    return rc;
}
