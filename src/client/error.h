/* error.h -- how the client fills an hfs_error: one message per failure, always naming the URL. */
#ifndef HFS_CLIENT_ERROR_H
#define HFS_CLIENT_ERROR_H

#include "httpfstream.h"

/* Sets e (when not NULL) to code with the message "<url>: <fmt...>", the URL's token and sig values
 * replaced by REDACTED (cli_url_redact); http_status and close_code are cleared. Returns code, so
 * that callers can write `return cli_error_set(...)`. */
int cli_error_set(hfs_error *e, const char *url, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Clears e (when not NULL) to HFS_OK with an empty message. */
void cli_error_clear(hfs_error *e);

/* A short English name for a WebSocket close code ("message too big"), "" when it has none. */
const char *cli_close_code_name(unsigned code);

#endif
