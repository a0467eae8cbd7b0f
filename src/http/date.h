/* date.h -- HTTP dates (RFC 9110 5.6.7): Last-Modified, Date, If-Modified-Since, If-Range. */
#ifndef HFS_HTTP_DATE_H
#define HFS_HTTP_DATE_H

#include <stddef.h>
#include <time.h>

/* Writes t as an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT", 29 chars + NUL) into out. */
void http_date_format(time_t t, char out[30]);

/* Parses an HTTP date in any of the three forms RFC 9110 accepts (IMF-fixdate, RFC 850, asctime),
 * strictly: exact case and spacing, "GMT" only, no surrounding whitespace, fields range-checked
 * (the day name is not checked against the date, as Go). RFC 850 years 69-99 are 19xx, 00-68
 * 20xx (Go's pivot). Returns 0 and sets *t, or -1 (t untouched). */
int http_date_parse(const char *s, size_t len, time_t *t);

#endif /* HFS_HTTP_DATE_H */
