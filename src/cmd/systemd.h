/* systemd.h -- what httpfstream-server needs of systemd, without libsystemd: the listening sockets
 * of socket activation (sd_listen_fds(3)) and readiness notification (sd_notify(3)). */
#ifndef HFS_CMD_SYSTEMD_H
#define HFS_CMD_SYSTEMD_H

#define SD_LISTEN_FDS_START 3 /* the first passed descriptor, as in sd-daemon.h */

/* The number of listening sockets systemd passed (descriptors 3, 4, ...), 0 when LISTEN_PID is not
 * this process or LISTEN_FDS is unset or bad. Unsets LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES
 * (children must not take them) and marks the descriptors close-on-exec. With names, *names gets
 * a copy of LISTEN_FDNAMES (the sockets' FileDescriptorName=, colon-separated; malloc'd, NULL when
 * unset or when no sockets were passed) for sd_listen_fd_named. */
int sd_listen_fds_take(char **names);

/* 1 when the k-th name (from 0) in names, as sd_listen_fds_take gave them, is name; else 0. */
int sd_listen_fd_named(const char *names, int k, const char *name);

/* Sends state ("READY=1", "STOPPING=1", ...) as one datagram to $NOTIFY_SOCKET: a path, or an
 * abstract name when it starts with '@'. Returns 1 when sent, 0 when NOTIFY_SOCKET is unset, -1 on
 * an error (errno set). */
int sd_notify_send(const char *state);

#endif
