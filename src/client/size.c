/* size.c -- hfs_size: the size of a resource now, from a plain GET of its first byte
 * (Range: bytes=0-0). Any static file server answers that, the original included: 206 with
 * "Content-Range: bytes 0-0/SIZE", 416 with the size after the slash for an empty resource, or 200
 * with Content-Length when it does not serve ranges (that body is then not read). */
#include <stdlib.h>

#include "client/error.h"
#include "client/session.h"
#include "httpfstream.h"

#define CLI_SIZE_TIMEOUT_MS 10000 /* a size asked without a timeout gives up after this */
#define CLI_SIZE_READ_BYTES 4096  /* receive buffer: headers and at most a short body */
#define CLI_SIZE_DRAIN_MS   1000  /* a 206 or 416 body is read to its end for this long at most */

/* Reads the rest of a short body, so that the connection ends cleanly. */
static void drain(cli_session *s)
{
    int64_t deadline = cli_now_ms() + CLI_SIZE_DRAIN_MS;
    const uint8_t *data;
    size_t len;

    while (cli_session_next_body(s, deadline, &data, &len) == HFS_OK)
        ;
}

int cli_size(const char *url, const hfs_client_options *o, uint64_t *size, hfs_error *err)
{
    hfs_client_options opts;
    cli_session *s;
    int rc, status, clean = 0;

    if (o)
        opts = *o;
    else
        cli_options_default(&opts);
    if (opts.connect_timeout_ms <= 0)
        opts.connect_timeout_ms = CLI_SIZE_TIMEOUT_MS;
    rc = cli_session_open(&s, url, &opts, NULL, NULL, CLI_SIZE_READ_BYTES, err);
    if (rc != HFS_OK)
        return rc;
    status = s->resp.status;
    if ((status == 206 || status == 416) && s->resp.has_range_total) {
        *size = s->resp.range_total;
        drain(s);
        clean = 1;
    } else if (status == 200 && s->resp.has_length) {
        *size = s->resp.length;
    } else if (status == 401 || status == 403) {
        rc = cli_session_fail_denied(s, "read", NULL);
    } else if (status == 404) {
        rc = cli_session_fail(s, HFS_ERR_NOT_FOUND, "file does not exist");
    } else if (status == 200 || status == 206 || status == 416) {
        rc = cli_session_fail(s, HFS_ERR_PROTOCOL,
                              "the server did not tell the resource's size (HTTP status %d "
                              "without a length)",
                              status);
    } else {
        rc = cli_session_fail(s, HFS_ERR_HTTP, "HTTP status %d", status);
    }
    if (rc != HFS_OK) {
        s->err.http_status = status;
        if (err)
            *err = s->err;
    }
    cli_session_free(s, clean);
    return rc;
}

int hfs_size(const char *url, const hfs_client_options *opts, uint64_t *size, hfs_error *err)
{
    if (!url)
        return cli_error_set(err, "(no URL)", HFS_ERR_INVALID, "no URL given");
    if (!size)
        return cli_error_set(err, url, HFS_ERR_INVALID, "no place to store the size");
    return cli_size(url, opts, size, err);
}
