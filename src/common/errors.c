/* errors.c -- hfs_strerror: a message for every public error code. */
#include "httpfstream.h"

const char *hfs_strerror(int code)
{
    switch (code) {
    case HFS_OK:
        return "success";
    case HFS_ERR_NOT_FOUND:
        return "file does not exist";
    case HFS_ERR_CONFLICT:
        return "path already has an active writer";
    case HFS_ERR_HTTP:
        return "unexpected HTTP status";
    case HFS_ERR_NETWORK:
        return "network error";
    case HFS_ERR_TLS:
        return "TLS error";
    case HFS_ERR_PROTOCOL:
        return "protocol error";
    case HFS_ERR_CLOSED:
        return "the server closed the stream with an error";
    case HFS_ERR_INVALID:
        return "invalid argument";
    case HFS_ERR_NOMEM:
        return "out of memory";
    case HFS_ERR_IO:
        return "I/O error";
    case HFS_ERR_TIMEOUT:
        return "timed out";
    default:
        return "unknown error";
    }
}
