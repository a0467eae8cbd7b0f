/* test_date.c -- unit tests for src/http/date.c: writing IMF-fixdates and reading the three HTTP
 * date forms strictly, checked against Go net/http's observable behaviour. */
#include "../harness.h"
#include "http/date.h"

#define MTIME_SEC 784111777L /* Sun, 06 Nov 1994 08:49:37 GMT */
#define MTIME_STR "Sun, 06 Nov 1994 08:49:37 GMT"

static void test_date_format(void)
{
    char d[30];

    http_date_format(MTIME_SEC, d);
    CHECK_STR(d, MTIME_STR);
    http_date_format(0, d);
    CHECK_STR(d, "Thu, 01 Jan 1970 00:00:00 GMT");
    http_date_format(951782400, d);
    CHECK_STR(d, "Tue, 29 Feb 2000 00:00:00 GMT");
    http_date_format(253402300799LL, d);
    CHECK_STR(d, "Fri, 31 Dec 9999 23:59:59 GMT");
    http_date_format(253402300800LL, d); /* clamped to 4-digit years */
    CHECK_STR(d, "Fri, 31 Dec 9999 23:59:59 GMT");
    http_date_format(-1, d);
    CHECK_STR(d, "Wed, 31 Dec 1969 23:59:59 GMT");
}

static int parses_to(const char *s, time_t want)
{
    time_t t = 0;
    return http_date_parse(s, strlen(s), &t) == 0 && t == want;
}

static int rejects(const char *s)
{
    time_t t = 12345;
    return http_date_parse(s, strlen(s), &t) == -1 && t == 12345;
}

static void test_date_parse_forms(void)
{
    CHECK(parses_to("Sun, 06 Nov 1994 08:49:37 GMT", MTIME_SEC));
    CHECK(parses_to("Sunday, 06-Nov-94 08:49:37 GMT", MTIME_SEC));
    CHECK(parses_to("Sun Nov  6 08:49:37 1994", MTIME_SEC));
    CHECK(parses_to("Sun Nov 06 08:49:37 1994", MTIME_SEC));
    CHECK(parses_to("Thu, 01 Jan 1970 00:00:00 GMT", 0));
    CHECK(parses_to("Tue, 29 Feb 2000 00:00:00 GMT", 951782400));
    CHECK(parses_to("Thu Feb 29 00:00:00 2024", 1709164800));
    CHECK(parses_to("Thursday, 01-Jan-70 00:00:00 GMT", 0));           /* yy >= 69: 19yy */
    CHECK(parses_to("Tuesday, 19-Jan-38 03:14:08 GMT", 2147483648LL)); /* yy < 69: 20yy */
    CHECK(parses_to("Wed, 31 Dec 1969 23:59:59 GMT", -1));
    CHECK(parses_to("Fri, 31 Dec 9999 23:59:59 GMT", 253402300799LL));
    /* the day name is not checked against the date (Go does not either) */
    CHECK(parses_to("Mon, 06 Nov 1994 08:49:37 GMT", MTIME_SEC));
}

static void test_date_parse_strict(void)
{
    time_t t;
    const char *longer = "Sun, 06 Nov 1994 08:49:37 GMTxyz";

    CHECK(http_date_parse(longer, 29, &t) == 0 && t == MTIME_SEC); /* not NUL-terminated */
    CHECK(rejects(longer));
    CHECK(http_date_parse(NULL, 0, &t) == -1);
    CHECK(rejects(""));
    CHECK(rejects("Sun, 06 Nov 1994 08:49:37 GMT "));
    CHECK(rejects(" Sun, 06 Nov 1994 08:49:37 GMT"));
    CHECK(rejects("Sun, 06 Nov 1994 08:49:37"));
    CHECK(rejects("Sun, 06 Nov 1994 08:49:37 gmt"));
    CHECK(rejects("sun, 06 Nov 1994 08:49:37 GMT"));
    CHECK(rejects("Sun, 06 nov 1994 08:49:37 GMT"));
    CHECK(rejects("Sun, 6 Nov 1994 08:49:37 GMT"));
    CHECK(rejects("Sun, 06 Nov 94 08:49:37 GMT"));
    CHECK(rejects("Sun, 06 Nov 1994 8:49:37 GMT"));
    CHECK(rejects("Sun, 06 Nov 1994 08:49:37 +0000"));
    CHECK(rejects("Sun,  06 Nov 1994 08:49:37 GMT"));
    CHECK(rejects("Sunday, 06 Nov 1994 08:49:37 GMT"));
    CHECK(rejects("Sun, 06-Nov-94 08:49:37 GMT"));
    CHECK(rejects("Sunday, 06-Nov-1994 08:49:37 GMT"));
    CHECK(rejects("Sun Nov 6 08:49:37 1994"));
    CHECK(rejects("Sun Nov  6 08:49:37 1994 GMT"));
    CHECK(rejects("Sun Nov   6 08:49:37 1994"));
    CHECK(rejects("Sun, 30 Feb 2000 00:00:00 GMT"));
    CHECK(rejects("Sun, 29 Feb 1900 00:00:00 GMT"));
    CHECK(rejects("Sun, 29 Feb 2023 00:00:00 GMT"));
    CHECK(rejects("Sun, 31 Apr 2023 00:00:00 GMT"));
    CHECK(rejects("Sun, 00 Nov 1994 08:49:37 GMT"));
    CHECK(rejects("Sun, 06 Nov 1994 24:00:00 GMT"));
    CHECK(rejects("Sun, 06 Nov 1994 08:60:00 GMT"));
    CHECK(rejects("Sun, 06 Nov 1994 08:49:60 GMT"));
    CHECK(rejects("Xyz, 06 Nov 1994 08:49:37 GMT"));
    CHECK(rejects("Sun, 06 Nox 1994 08:49:37 GMT"));
}

static void test_date_round_trip(void)
{
    char d[30];
    time_t t;

    for (long long s = -2000000000LL; s < 40000000000LL; s += 86399LL * 37 + 12345) {
        http_date_format((time_t)s, d);
        CHECK_INT(http_date_parse(d, strlen(d), &t), 0);
        CHECK_INT(t, s);
    }
}

int main(void)
{
    RUN(test_date_format);
    RUN(test_date_parse_forms);
    RUN(test_date_parse_strict);
    RUN(test_date_round_trip);
    return test_report();
}
