/* error.c -- fills hfs_error values for the client: code, message naming the URL (its credentials
 * redacted), close code names. */
#include "client/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "client/url.h"

int cli_error_set(hfs_error *e, const char *url, int code, const char *fmt, ...)
{
    va_list ap;
    char shown[sizeof(((hfs_error){0}).message)];
    int n;

    if (!e)
        return code;
    e->code = code;
    e->http_status = 0;
    e->close_code = 0;
    cli_url_redact(url ? url : "(no URL)", shown, sizeof(shown));
    n = snprintf(e->message, sizeof(e->message), "%s: ", shown);
    if (n < 0 || (size_t)n >= sizeof(e->message))
        return code;
    va_start(ap, fmt);
    vsnprintf(e->message + n, sizeof(e->message) - (size_t)n, fmt, ap);
    va_end(ap);
    return code;
}

void cli_error_clear(hfs_error *e)
{
    if (e)
        memset(e, 0, sizeof(*e));
}

const char *cli_close_code_name(unsigned code)
{
    switch (code) {
    case 1000:
        return "normal closure";
    case 1001:
        return "going away";
    case 1002:
        return "protocol error";
    case 1003:
        return "unsupported data";
    case 1005:
        return "no status";
    case 1007:
        return "invalid data";
    case 1008:
        return "policy violation";
    case 1009:
        return "message too big";
    case 1010:
        return "extension required";
    case 1011:
        return "internal server error";
    default:
        return "";
    }
}
