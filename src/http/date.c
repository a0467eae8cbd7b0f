/* date.c -- HTTP dates: writing an IMF-fixdate, and reading the three forms RFC 9110 accepts
 * (IMF-fixdate, RFC 850, asctime), strictly (see date.h). */
#include "http/date.h"

#include <string.h>

static const char *const wday_short[7] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char *const wday_long[7] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                         "Thursday", "Friday", "Saturday"};
static const char *const month_short[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

static void put_digits(char *out, int v, int width)
{
    while (width-- > 0) {
        out[width] = (char)('0' + v % 10);
        v /= 10;
    }
}

void http_date_format(time_t t, char out[30])
{
    const time_t lo = -62167219200LL, hi = 253402300799LL; /* years 0000 .. 9999 */
    struct tm tm;

    if (t < lo) {
        t = lo;
    }
    if (t > hi) {
        t = hi;
    }
    gmtime_r(&t, &tm);
    memcpy(out, "Sun, 00 Jan 0000 00:00:00 GMT", 30);
    memcpy(out, wday_short[tm.tm_wday], 3);
    put_digits(out + 5, tm.tm_mday, 2);
    memcpy(out + 8, month_short[tm.tm_mon], 3);
    put_digits(out + 12, tm.tm_year + 1900, 4);
    put_digits(out + 17, tm.tm_hour, 2);
    put_digits(out + 20, tm.tm_min, 2);
    put_digits(out + 23, tm.tm_sec, 2);
}

/* A cursor over a date string; ok drops to 0 at the first mismatch. */
typedef struct dscan {
    const char *p, *end;
    int ok;
} dscan;

static void d_lit(dscan *s, const char *lit)
{
    size_t n = strlen(lit);
    if (!s->ok || (size_t)(s->end - s->p) < n || memcmp(s->p, lit, n) != 0) {
        s->ok = 0;
        return;
    }
    s->p += n;
}

/* Exactly `digits` ASCII digits. */
static int d_num(dscan *s, int digits)
{
    int v = 0;
    for (int i = 0; i < digits; i++) {
        if (!s->ok || s->p == s->end || s->p[0] < '0' || s->p[0] > '9') {
            s->ok = 0;
            return 0;
        }
        v = v * 10 + (*s->p++ - '0');
    }
    return v;
}

/* One of names[0..count), case-sensitive; returns its index. */
static int d_name(dscan *s, const char *const *names, int count)
{
    for (int i = 0; s->ok && i < count; i++) {
        size_t n = strlen(names[i]);
        if ((size_t)(s->end - s->p) >= n && memcmp(s->p, names[i], n) == 0) {
            s->p += n;
            return i;
        }
    }
    s->ok = 0;
    return 0;
}

static void d_time(dscan *s, struct tm *tm)
{
    tm->tm_hour = d_num(s, 2);
    d_lit(s, ":");
    tm->tm_min = d_num(s, 2);
    d_lit(s, ":");
    tm->tm_sec = d_num(s, 2);
}

/* "Sun, 06 Nov 1994 08:49:37 GMT" */
static void parse_imf(dscan *s, struct tm *tm)
{
    d_name(s, wday_short, 7);
    d_lit(s, ", ");
    tm->tm_mday = d_num(s, 2);
    d_lit(s, " ");
    tm->tm_mon = d_name(s, month_short, 12);
    d_lit(s, " ");
    tm->tm_year = d_num(s, 4) - 1900;
    d_lit(s, " ");
    d_time(s, tm);
    d_lit(s, " GMT");
}

/* "Sunday, 06-Nov-94 08:49:37 GMT"; two-digit years pivot at 69 as Go's time.Parse does. */
static void parse_rfc850(dscan *s, struct tm *tm)
{
    d_name(s, wday_long, 7);
    d_lit(s, ", ");
    tm->tm_mday = d_num(s, 2);
    d_lit(s, "-");
    tm->tm_mon = d_name(s, month_short, 12);
    d_lit(s, "-");
    int yy = d_num(s, 2);
    tm->tm_year = yy >= 69 ? yy : yy + 100;
    d_lit(s, " ");
    d_time(s, tm);
    d_lit(s, " GMT");
}

/* "Sun Nov  6 08:49:37 1994" (day: space + digit, or two digits) */
static void parse_asctime(dscan *s, struct tm *tm)
{
    d_name(s, wday_short, 7);
    d_lit(s, " ");
    tm->tm_mon = d_name(s, month_short, 12);
    d_lit(s, " ");
    if (s->ok && s->p < s->end && s->p[0] == ' ') {
        s->p++;
        tm->tm_mday = d_num(s, 1);
    } else {
        tm->tm_mday = d_num(s, 2);
    }
    d_lit(s, " ");
    d_time(s, tm);
    d_lit(s, " ");
    tm->tm_year = d_num(s, 4) - 1900;
}

static int days_in_month(int year, int mon)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return days[mon] + (mon == 1 && leap);
}

static int tm_valid(const struct tm *tm)
{
    return tm->tm_mday >= 1 && tm->tm_mday <= days_in_month(tm->tm_year + 1900, tm->tm_mon) &&
           tm->tm_hour < 24 && tm->tm_min < 60 && tm->tm_sec < 60;
}

int http_date_parse(const char *s, size_t len, time_t *t)
{
    void (*const forms[3])(dscan *, struct tm *) = {parse_imf, parse_rfc850, parse_asctime};

    if (!s) {
        return -1;
    }
    for (int i = 0; i < 3; i++) {
        struct tm tm;
        dscan sc = {s, s + len, 1};
        memset(&tm, 0, sizeof tm);
        forms[i](&sc, &tm);
        if (sc.ok && sc.p == sc.end && tm_valid(&tm)) {
            *t = timegm(&tm);
            return 0;
        }
    }
    return -1;
}
