/* systemd.c -- socket activation and readiness notification, speaking systemd's documented
 * protocols directly (sd_listen_fds(3), sd_notify(3)): no libsystemd. */
#include "cmd/systemd.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* A decimal environment value in [0, max], or -1. */
static long env_num(const char *name, long max)
{
    const char *v = getenv(name);
    char *end;

    if (!v || !*v)
        return -1;
    errno = 0;
    long n = strtol(v, &end, 10);
    return errno || *end || n < 0 || n > max ? -1 : n;
}

int sd_listen_fds_take(char **names)
{
    long pid = env_num("LISTEN_PID", LONG_MAX);
    long n = env_num("LISTEN_FDS", INT_MAX - SD_LISTEN_FDS_START);
    const char *v = getenv("LISTEN_FDNAMES");

    if (names)
        *names = pid == (long)getpid() && n > 0 && v ? strdup(v) : NULL;
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    if (pid != (long)getpid() || n <= 0)
        return 0;
    for (int fd = SD_LISTEN_FDS_START; fd < SD_LISTEN_FDS_START + n; fd++) {
        int flags = fcntl(fd, F_GETFD);
        if (flags < 0 || fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0)
            return 0;
    }
    return (int)n;
}

int sd_listen_fd_named(const char *names, int k, const char *name)
{
    size_t len = strlen(name);

    for (const char *p = names; p; p = strchr(p, ':'), p = p ? p + 1 : NULL) {
        if (k-- > 0)
            continue;
        return strncmp(p, name, len) == 0 && (p[len] == ':' || p[len] == '\0');
    }
    return 0;
}

int sd_notify_send(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sa;

    if (!path || !*path)
        return 0;
    size_t len = strlen(path);
    if ((path[0] != '/' && path[0] != '@') || len >= sizeof(sa.sun_path)) {
        errno = EINVAL;
        return -1;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, len);
    if (path[0] == '@')
        sa.sun_path[0] = '\0'; /* an abstract name: its length counts, no terminating NUL */
    socklen_t salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    ssize_t r = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, salen);
    int saved = errno;
    close(fd);
    errno = saved;
    return r < 0 ? -1 : 1;
}
