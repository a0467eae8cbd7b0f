/* test_ds_json.c -- unit tests for src/ds/json.c: validation (RFC 8259: grammar, numbers, strings,
 * escapes and surrogates, UTF-8, depth), compact output and one level of flattening as the Durable
 * Streams suite expects them, the output left alone on errors, message prefixes, the array of a
 * range of messages, and base64 (RFC 4648 section 10).
 *
 * Every input is parsed from an exact-size heap copy, so that a read past its end is an ASan
 * error; every valid structured text is also parsed cut short at each length. */
#include "../harness.h"
#include "ds/json.h"

#include <stdlib.h>

static json_out out; /* the output of the last jm(); freed at exit */

/* json_messages over an exact-size copy of in[0..n), the output starting empty. */
static long jm(const void *in, size_t n, int flatten)
{
    uint8_t *copy = malloc(n ? n : 1);
    long r;

    memcpy(copy, in, n);
    out.len = 0;
    r = json_messages(copy, n, flatten, &out);
    free(copy);
    return r;
}

static long jms(const char *in, int flatten)
{
    return jm(in, strlen(in), flatten);
}

/* out as a NUL-terminated string (in a t_fmt buffer when short, else "(long)"). */
static const char *got(void)
{
    return out.len < 1000 ? t_fmt("%.*s", (int)out.len, (const char *)out.p) : "(long)";
}

/* 1 when out holds exactly the NUL-terminated s. */
static int out_is(const char *s)
{
    return out.len == strlen(s) && memcmp(out.p, s, out.len) == 0;
}

/* ---- the Durable Streams suite's cases ------------------------------------------------------ */

static const struct {
    const char *in;
    int flatten;
    long n;
    const char *out;
} valid_cases[] = {
    {"{\"a\":1}", 1, 1, "{\"a\":1}\n"},
    {"[{\"a\":1},{\"b\":2}]", 1, 2, "{\"a\":1}\n{\"b\":2}\n"},
    {"[[1,2],[3,4]]", 1, 2, "[1,2]\n[3,4]\n"},
    {"[[[1,2,3]]]", 1, 1, "[[1,2,3]]\n"},
    {"\"hello\"", 1, 1, "\"hello\"\n"},
    {"42", 1, 1, "42\n"},
    {"-1.5e3", 1, 1, "-1.5e3\n"},
    {"true", 1, 1, "true\n"},
    {"false", 1, 1, "false\n"},
    {"null", 1, 1, "null\n"},
    {"[\"a\",1,true,null,false,{}]", 1, 6, "\"a\"\n1\ntrue\nnull\nfalse\n{}\n"},
    {"[[]]", 1, 1, "[]\n"},
    {"[{}]", 1, 1, "{}\n"},
    {"[]", 1, 0, ""},
    {" [ \n\t\r ] ", 1, 0, ""},
    {"{}", 1, 1, "{}\n"},
    /* without flattening a top-level array is one message */
    {"[1,2,3]", 0, 1, "[1,2,3]\n"},
    {"[]", 0, 1, "[]\n"},
    {"[[[1,2,3]]]", 0, 1, "[[[1,2,3]]]\n"},
    {"{\"a\":[1,2]}", 0, 1, "{\"a\":[1,2]}\n"},
    /* whitespace outside strings goes, inside stays; escapes stay as written */
    {"{ \"a\" : \"x\\ny\" }", 1, 1, "{\"a\":\"x\\ny\"}\n"},
    {"{ \"a b\" : \" c  d \" }", 1, 1, "{\"a b\":\" c  d \"}\n"},
    {"\r\n\t [ 1 ,\n{ \"a\" :\t[ 2 , 3 ] } , \"x y\" ]\n\n", 1, 3, "1\n{\"a\":[2,3]}\n\"x y\"\n"},
    {"\r\n\t [ 1 ,\n{ \"a\" :\t[ 2 , 3 ] } , \"x y\" ]\n\n", 0, 1, "[1,{\"a\":[2,3]},\"x y\"]\n"},
    {"  {\"a\":{\"b\":{\"c\":[ ]}} , \"d\" : { } }  ", 0, 1,
     "{\"a\":{\"b\":{\"c\":[]}},\"d\":{}}\n"},
    {" 7 ", 1, 1, "7\n"},
    {"[ 7 ]", 1, 1, "7\n"},
    {"[\"]\",\"[\",\",\"]", 1, 3, "\"]\"\n\"[\"\n\",\"\n"},
    {"\"\\u00e9 \\\" \\\\ \\/ \\b\\f\\n\\r\\t\"", 1, 1,
     "\"\\u00e9 \\\" \\\\ \\/ \\b\\f\\n\\r\\t\"\n"},
    {"\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9d\x84\x9e\"", 1, 1,
     "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9d\x84\x9e\"\n"},
};

static void test_valid(void)
{
    for (size_t i = 0; i < sizeof valid_cases / sizeof valid_cases[0]; i++) {
        long r = jms(valid_cases[i].in, valid_cases[i].flatten);
        EXPECTF(r == valid_cases[i].n && out_is(valid_cases[i].out),
                "case %zu (flatten %d): %ld messages \"%s\"", i, valid_cases[i].flatten, r, got());
    }
}

static const char *const invalid_cases[] = {
    "{ invalid json }",
    "",
    " ",
    "\n\t\r ",
    "{\"a\":1}x",
    "{\"a\":1} x",
    "1 2",
    "{\"a\":1}{\"b\":2}",
    "[1][2]",
    "[1,]",
    "[,1]",
    "[,]",
    "[1 2]",
    "[1,,2]",
    "{\"a\"}",
    "{\"a\":}",
    "{\"a\" 1}",
    "{a:1}",
    "{'a':1}",
    "{\"a\":1,}",
    "{,}",
    "{\"a\":1 \"b\":2}",
    "{\"a\":1,\"b\"}",
    "{1:2}",
    "{null:1}",
    "{a\":1}", /* a name without its opening quote */
    "[{x\":1}]",
    "[1}",
    "{\"a\":1]",
    "]",
    "}",
    "[",
    "{",
    "[[]",
    "[]]",
    "{}}",
    ",",
    ":",
    "\"abc",
    "tru",
    "True",
    "nul",
    "nulll",
    "trux",
    "fals",
    "falsx",
    "nulx",
    "[tru]",
    "falsey",
    "[truex]",
    "'a'",
    "/**/1",
    "1 // c",
    "NaN",
    "Infinity",
    "undefined",
    "\f1",           /* form feed is not JSON whitespace */
    "1\v",           /* nor vertical tab */
    "\302\2401",     /* nor a no-break space (U+00A0, octal: "\xa01" would be one escape) */
    "\357\273\2771", /* a byte order mark is refused */
    "caf\xc3\xa9",   /* UTF-8 outside a string */
    "\"a\nb\"",      /* raw newline in a string */
    "[\"a\" \"b\"]",
};

static void test_invalid(void)
{
    for (size_t i = 0; i < sizeof invalid_cases / sizeof invalid_cases[0]; i++) {
        for (int f = 0; f <= 1; f++) {
            long r = jms(invalid_cases[i], f);
            EXPECTF(r == JSON_EINVAL, "case %zu \"%s\" (flatten %d): %ld", i, invalid_cases[i], f,
                    r);
        }
    }
}

/* Raw control bytes may not stand in a string; DEL (0x7f) may. At several places, so that both the
 * 8-byte scan and the byte loop meet them. */
static void test_control_bytes(void)
{
    char s[48];

    for (int c = 0; c < 0x20; c++) {
        for (size_t at = 1; at < 40; at++) {
            memset(s, 'x', 41);
            s[0] = s[41] = '"';
            s[at] = (char)c;
            EXPECTF(jm(s, 42, 0) == JSON_EINVAL, "byte 0x%02x at %zu", c, at);
        }
    }
    memset(s, 'x', 41);
    s[0] = s[41] = '"';
    for (size_t at = 1; at < 41; at++)
        s[at] = 0x7f;
    CHECK_INT(jm(s, 42, 0), 1);
    CHECK_MEM(out.p, out.len - 1, s, 42);
}

/* NUL is invalid outside strings (where a C string would end) and raw inside them; "\u0000" is
 * fine. */
static void test_nul(void)
{
    CHECK_INT(jm("1\0", 2, 0), JSON_EINVAL);
    CHECK_INT(jm("\0001", 2, 0), JSON_EINVAL); /* NUL, then '1' */
    CHECK_INT(jm("[1,\0 2]", 7, 1), JSON_EINVAL);
    CHECK_INT(jm("{\"a\":1}\0", 8, 1), JSON_EINVAL);
    CHECK_INT(jm("\"a\0b\"", 5, 0), JSON_EINVAL);
    CHECK_INT(jm("\0", 1, 0), JSON_EINVAL);
    CHECK_INT(jms("\"a\\u0000b\"", 0), 1);
    CHECK(out_is("\"a\\u0000b\"\n"));
}

/* ---- depth ---------------------------------------------------------------------------------- */

/* k arrays or objects nested ({"a":{"a":...1...}}), the innermost holding 1. */
static char *nested(size_t k, int objects)
{
    char *s = malloc(k * 6 + 2), *w = s;

    for (size_t i = 0; i < k; i++) {
        if (objects) {
            memcpy(w, "{\"a\":", 5);
            w += 5;
        } else {
            *w++ = '[';
        }
    }
    *w++ = '1';
    for (size_t i = 0; i < k; i++)
        *w++ = objects ? '}' : ']';
    *w = '\0';
    return s;
}

static void test_depth(void)
{
    static const struct {
        size_t k;
        int objects, flatten;
        long want;
    } cases[] = {
        {200, 0, 0, 1},
        {200, 0, 1, 1},
        {200, 1, 0, 1},
        {JSON_DEPTH_MAX, 0, 0, 1},
        {JSON_DEPTH_MAX, 1, 0, 1},
        {JSON_DEPTH_MAX, 0, 1, 1},
        {JSON_DEPTH_MAX + 1, 0, 0, JSON_EDEPTH},
        {JSON_DEPTH_MAX + 1, 0, 1, JSON_EDEPTH},
        {JSON_DEPTH_MAX + 1, 1, 1, JSON_EDEPTH},
        {300, 0, 0, JSON_EDEPTH},
        {300, 0, 1, JSON_EDEPTH},
        {300, 1, 0, JSON_EDEPTH},
        {100000, 0, 0, JSON_EDEPTH},
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *s = nested(cases[i].k, cases[i].objects);
        long r = jms(s, cases[i].flatten);
        EXPECTF(r == cases[i].want, "%zu %s deep (flatten %d): %ld", cases[i].k,
                cases[i].objects ? "objects" : "arrays", cases[i].flatten, r);
        if (r == 1 && !cases[i].flatten) /* compact already: the output is the input */
            EXPECTF(out.len == strlen(s) + 1 && memcmp(out.p, s, out.len - 1) == 0, "%zu deep",
                    cases[i].k);
        if (r == 1 && cases[i].flatten) /* the top-level array's one element */
            EXPECTF(out.len == strlen(s) - 1 && memcmp(out.p, s + 1, out.len - 1) == 0,
                    "%zu deep, flattened", cases[i].k);
        free(s);
    }
    /* Too deep is told even when the text is cut short after that point. */
    char *s = nested(300, 0);
    s[290] = '\0';
    CHECK_INT(jms(s, 0), JSON_EDEPTH);
    /* and the depth comes back down: siblings of a deep value are fine */
    free(s);
    s = nested(JSON_DEPTH_MAX - 1, 0);
    char *twice = malloc(2 * strlen(s) + 4);
    sprintf(twice, "[%s,%s]", s, s);
    CHECK_INT(jms(twice, 1), 2);
    CHECK_INT(jms(twice, 0), 1);
    sprintf(twice, "[[%s]", s);
    CHECK_INT(jms(twice, 0), JSON_EDEPTH); /* not a valid text anyway, but too deep first */
    free(twice);
    free(s);
}

/* ---- UTF-8, escapes, numbers ---------------------------------------------------------------- */

static const struct {
    const char *seq;
    int ok;
} utf8_cases[] = {
    {"\xc3\xa9", 1},         /* U+00E9 */
    {"\xc2\x80", 1},         /* U+0080, the first 2-byte */
    {"\xdf\xbf", 1},         /* U+07FF */
    {"\xe0\xa0\x80", 1},     /* U+0800 */
    {"\xe2\x82\xac", 1},     /* U+20AC */
    {"\xed\x9f\xbf", 1},     /* U+D7FF, below the surrogates */
    {"\xee\x80\x80", 1},     /* U+E000, above them */
    {"\xef\xbf\xbf", 1},     /* U+FFFF */
    {"\xf0\x90\x80\x80", 1}, /* U+10000 */
    {"\xf0\x9d\x84\x9e", 1}, /* U+1D11E */
    {"\xf4\x8f\xbf\xbf", 1}, /* U+10FFFF */
    {"\xc0\x80", 0},         /* overlong NUL */
    {"\xc0\xaf", 0},         /* overlong '/' */
    {"\xc1\xbf", 0},         /* overlong U+007F */
    {"\xe0\x80\x80", 0},     /* overlong 3-byte */
    {"\xe0\x9f\xbf", 0},     /* overlong U+07FF */
    {"\xf0\x80\x80\x80", 0}, /* overlong 4-byte */
    {"\xf0\x8f\xbf\xbf", 0}, /* overlong U+FFFF */
    {"\xed\xa0\x80", 0},     /* U+D800 */
    {"\xed\xbf\xbf", 0},     /* U+DFFF */
    {"\xf4\x90\x80\x80", 0}, /* U+110000 */
    {"\xf5\x80\x80\x80", 0},
    {"\xf8\x88\x80\x80\x80", 0},
    {"\xfe", 0},
    {"\xff", 0},
    {"\x80", 0}, /* lone continuation bytes */
    {"\xbf", 0},
    {"\xc3", 0}, /* cut sequences (the closing quote follows) */
    {"\xe2\x82", 0},
    {"\xf0\x9d\x84", 0},
    {"\xc3\x28", 0}, /* a non-continuation in place of a continuation */
    {"\xe2\x28\xa1", 0},
    {"\xe2\x82\x28", 0},
    {"\xf0\x9d\x28\x9e", 0},
    {"\xf0\x9d\x84\x28", 0},
    {"\xe2\x82\xc0", 0}, /* a lead byte in place of a continuation */
    {"\xf0\x9d\xc4\x9e", 0},
    {"\xf0\x9d\x84\xc0", 0},
    {"\xf0\xc0\x84\x9e", 0},
    {"\xc3\xa9\xa9", 0}, /* one continuation too many */
};

/* Each sequence at every place of a 40-byte string (the 8-byte scan and the byte loop, and cut by
 * the end of the input). */
static void test_utf8(void)
{
    char s[64];

    for (size_t i = 0; i < sizeof utf8_cases / sizeof utf8_cases[0]; i++) {
        size_t k = strlen(utf8_cases[i].seq);
        for (size_t at = 1; at + k <= 41; at++) {
            memset(s, 'x', 41);
            s[0] = s[41] = '"';
            memcpy(s + at, utf8_cases[i].seq, k);
            long r = jm(s, 42, 0);
            EXPECTF(r == (utf8_cases[i].ok ? 1 : JSON_EINVAL), "case %zu at %zu: %ld", i, at, r);
            if (r == 1)
                EXPECTF(out.len == 43 && memcmp(out.p, s, 42) == 0, "case %zu at %zu", i, at);
        }
        /* cut by the end of the input instead of the quote */
        s[0] = '"';
        memcpy(s + 1, utf8_cases[i].seq, k);
        EXPECTF(jm(s, 1 + k, 0) == JSON_EINVAL, "case %zu unterminated", i);
    }
}

static const struct {
    const char *in; /* the string's inside */
    int ok;
} escape_cases[] = {
    {"\\\"\\\\\\/\\b\\f\\n\\r\\t", 1},
    {"\\u0000", 1},
    {"\\u00e9\\u00E9\\uFFFF\\uffff", 1},
    {"\\uD7FF\\uE000", 1},
    {"\\uD834\\uDD1E", 1}, /* a pair */
    {"\\ud834\\udd1e", 1},
    {"\\uD800\\uDC00\\uDBFF\\uDFFF", 1},
    {"x\\uD834\\uDD1Ex", 1},
    {"\\a", 0},
    {"\\x41", 0},
    {"\\U0041", 0},
    {"\\'", 0},
    {"\\0", 0},
    {"\\u", 0},
    {"\\u1", 0},
    {"\\u12", 0},
    {"\\u123", 0},
    {"\\u12G4", 0},
    {"\\u12g4", 0},
    {"\\u 123", 0},
    {"\\u-123", 0},
    {"\\", 0},      /* escapes the closing quote */
    {"\\uD834", 0}, /* a lone high surrogate */
    {"\\uD834x", 0},
    {"\\uD834\\u0041", 0}, /* followed by no low one */
    {"\\uD834\\n", 0},
    {"\\uD834\\uD834", 0}, /* two highs */
    {"\\uD834\\uDD1E\\uDD1E", 0},
    {"\\uDD1E", 0}, /* a lone low one */
    {"\\uDFFF", 0},
    {"\\uDC00", 0},
    {"\\uDD1E\\uD834", 0},  /* misordered */
    {"\\uD834 \\uDD1E", 0}, /* apart */
    {"\\uD834\\uDD1", 0},
    {"\\uD834\\", 0},
    {"\\uD834\\u", 0},
    {"\\uDBFF\\uE000", 0},
};

static void test_escapes(void)
{
    for (size_t i = 0; i < sizeof escape_cases / sizeof escape_cases[0]; i++) {
        const char *in = escape_cases[i].in;
        char *s = malloc(strlen(in) + 32), *want = malloc(strlen(in) + 32);
        sprintf(s, "\"%s\"", in);
        long r = jms(s, 0);
        EXPECTF(r == (escape_cases[i].ok ? 1 : JSON_EINVAL), "case %zu \"%s\": %ld", i, in, r);
        sprintf(want, "%s\n", s);
        if (r == 1)
            EXPECTF(out_is(want), "case %zu: \"%s\"", i, got()); /* escapes kept as written */
        sprintf(s, "[ {\"%s\" : 1} ]", in);                      /* as a member name */
        r = jms(s, 1);
        EXPECTF(r == (escape_cases[i].ok ? 1 : JSON_EINVAL), "case %zu as a name: %ld", i, r);
        free(s);
        free(want);
    }
}

static const char *const numbers_ok[] = {
    "0",         "-0",      "1",      "-1",          "10",
    "123456789", "0.5",     "-0.5",   "1.0",         "1e5",
    "1E5",       "1e+5",    "1e-5",   "0e0",         "-0.0e-0",
    "1.5E+10",   "12.0001", "1e0001", "123.456e789", "-12345678901234567890123456789.0e-999",
};

static const char *const numbers_bad[] = {
    "01",  "-01",  "00",   "+1",   ".5",    "-.5",   "1.",       "1.e5",      "1e",   "1e+",
    "1E-", "-",    "--1",  "0x10", "1.5.5", "1e5.5", "1e5e5",    "1ee5",      "0.e1", "1_000",
    "- 1", "1 .5", "1. 5", "-a",   "1e+-5", "0b1",   "Infinity", "-Infinity", "NaN",
};

/* Each number alone, in an array (flattened and not) and as a member's value. */
static void test_numbers(void)
{
    static const char *const forms[] = {"%s", "[%s]", "[ %s ]", "{\"a\":%s}", "[1,%s,2]"};
    char s[128], want[128];

    for (size_t i = 0; i < sizeof numbers_ok / sizeof numbers_ok[0]; i++) {
        const char *x = numbers_ok[i];
        for (size_t f = 0; f < sizeof forms / sizeof forms[0]; f++) {
            snprintf(s, sizeof s, forms[f], x);
            EXPECTF(jms(s, 0) == 1, "\"%s\"", s);
        }
        snprintf(s, sizeof s, "[ %s ]", x);
        snprintf(want, sizeof want, "%s\n", x);
        EXPECTF(jms(s, 1) == 1 && out_is(want), "\"%s\" flattened: \"%s\"", s, got());
    }
    for (size_t i = 0; i < sizeof numbers_bad / sizeof numbers_bad[0]; i++) {
        for (size_t f = 0; f < sizeof forms / sizeof forms[0]; f++) {
            snprintf(s, sizeof s, forms[f], numbers_bad[i]);
            EXPECTF(jms(s, 0) == JSON_EINVAL, "\"%s\"", s);
            EXPECTF(jms(s, 1) == JSON_EINVAL, "\"%s\" flattened", s);
        }
    }
}

/* ---- the output ----------------------------------------------------------------------------- */

/* On an error out holds what it held before; on success the messages follow it. */
static void test_out_on_error(void)
{
    static const char *const bad[] = {"{ invalid json }", "[1,2,", "[1,2]x", "\"\\uD834\""};
    json_out o = {0};
    char *deep = nested(300, 0);

    CHECK_INT(json_messages((const uint8_t *)"\"keep\"", 6, 0, &o), 1);
    CHECK_MEM(o.p, o.len, "\"keep\"\n", 7);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        for (int f = 0; f <= 1; f++) {
            CHECK_INT(json_messages((const uint8_t *)bad[i], strlen(bad[i]), f, &o), JSON_EINVAL);
            CHECK_MEM(o.p, o.len, "\"keep\"\n", 7);
        }
    }
    CHECK_INT(json_messages((const uint8_t *)deep, strlen(deep), 1, &o), JSON_EDEPTH);
    CHECK_MEM(o.p, o.len, "\"keep\"\n", 7);
    /* an input that cannot fit next to what out holds: refused before it is read */
    CHECK_INT(json_messages((const uint8_t *)"1", SIZE_MAX - 3, 0, &o), JSON_ENOMEM);
    CHECK_INT(json_messages((const uint8_t *)"1", SIZE_MAX, 0, &o), JSON_ENOMEM);
    CHECK_MEM(o.p, o.len, "\"keep\"\n", 7);
    /* an empty array adds nothing, and is no error */
    CHECK_INT(json_messages((const uint8_t *)"[ ]", 3, 1, &o), 0);
    CHECK_MEM(o.p, o.len, "\"keep\"\n", 7);
    CHECK_INT(json_messages((const uint8_t *)"[1, 2]", 6, 1, &o), 2);
    CHECK_MEM(o.p, o.len, "\"keep\"\n1\n2\n", 11);
    free(o.p);
    free(deep);
}

/* Many calls appending to one buffer, which grows as needed. */
static void test_out_grows(void)
{
    json_out o = {0};
    tbuf want = {0};

    for (int i = 0; i < 2000; i++) {
        const char *in = t_fmt("[ {\"i\" : %d}, \"%0*d\" ]", i, i % 50 + 1, i);
        CHECK_INT(json_messages((const uint8_t *)in, strlen(in), 1, &o), 2);
        tbuf_adds(&want, t_fmt("{\"i\":%d}\n\"%0*d\"\n", i, i % 50 + 1, i));
    }
    CHECK_MEM(o.p, o.len, want.p, want.len);
    CHECK(o.cap >= o.len);
    free(o.p);
    tbuf_free(&want);
}

/* Every strict prefix of a text that opens with '[', '{' or '"' is invalid (so each end-of-input
 * test is met); cut after a number or literal it may be a shorter valid text only at top level. */
static void test_cut_short(void)
{
    static const char *const texts[] = {
        "{\"a\" : [1, -2.5e+3, true, false, null, \"x\\u00e9\\uD834\\uDD1E\\n\"], \"b\":{}}",
        "[ [], {}, \"caf\xc3\xa9 \xf0\x9d\x84\x9e\", 0, 10.25E-1 ]",
        "\"a long string with escapes \\\" \\\\ and \xe2\x82\xac in it\"",
    };

    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        size_t n = strlen(texts[i]);
        CHECK(jm(texts[i], n, 0) == 1);
        CHECK(jm(texts[i], n, 1) >= 1);
        for (size_t k = 0; k < n; k++) {
            EXPECTF(jm(texts[i], k, 0) == JSON_EINVAL, "text %zu cut at %zu", i, k);
            EXPECTF(jm(texts[i], k, 1) == JSON_EINVAL, "text %zu cut at %zu, flattened", i, k);
        }
    }
}

/* ---- random texts --------------------------------------------------------------------------- */

static void add_ws(tbuf *pretty)
{
    static const char ws[] = " \t\r\n";
    size_t k = t_rand_range(0, 3) == 0 ? t_rand_range(1, 4) : 0;

    for (size_t i = 0; i < k; i++)
        tbuf_add(pretty, &ws[t_rand_range(0, 3)], 1);
}

/* Both sides at once. */
static void add2(tbuf *pretty, tbuf *compact, const char *s)
{
    tbuf_adds(pretty, s);
    tbuf_adds(compact, s);
}

/* A random value, pretty (random whitespace) and compact. */
static void gen(tbuf *pretty, tbuf *compact, int depth)
{
    static const char *const atoms[] = {
        "0",
        "-1",
        "3.25",
        "1e-7",
        "-0.5E+12",
        "true",
        "false",
        "null",
        "\"\"",
        "\"a b\"",
        "\"\\n\\t\\\"\"",
        "\"\\uD83D\\uDE00\"",
        "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"",
        "\"[1, 2] {\\\"k\\\": 3}\"",
        "\"a string longer than eight bytes, with \\\\ and / in it\"",
    };
    int kind = depth >= 6 ? 0 : (int)t_rand_range(0, 2);

    if (kind == 0) {
        add2(pretty, compact, atoms[t_rand_range(0, sizeof atoms / sizeof atoms[0] - 1)]);
        return;
    }
    size_t k = t_rand_range(0, 4);
    add2(pretty, compact, kind == 1 ? "[" : "{");
    for (size_t i = 0; i < k; i++) {
        add_ws(pretty);
        if (i)
            add2(pretty, compact, ",");
        add_ws(pretty);
        if (kind == 2) {
            add2(pretty, compact, t_fmt("\"k%zu\"", i));
            add_ws(pretty);
            add2(pretty, compact, ":");
            add_ws(pretty);
        }
        gen(pretty, compact, depth + 1);
    }
    add_ws(pretty);
    add2(pretty, compact, kind == 1 ? "]" : "}");
}

/* Random top-level arrays with random whitespace: flattened, each element's compact form; not, the
 * compact array. */
static void test_random(void)
{
    for (int round = 0; round < 500; round++) {
        tbuf pretty = {0}, whole = {0}, flat = {0};
        size_t k = t_rand_range(0, 6);

        add_ws(&pretty);
        tbuf_adds(&pretty, "[");
        tbuf_adds(&whole, "[");
        for (size_t i = 0; i < k; i++) {
            tbuf elem = {0};
            add_ws(&pretty);
            if (i) {
                tbuf_adds(&pretty, ",");
                tbuf_adds(&whole, ",");
            }
            add_ws(&pretty);
            gen(&pretty, &elem, 1);
            tbuf_add(&whole, elem.p, elem.len);
            tbuf_add(&flat, elem.p, elem.len);
            tbuf_adds(&flat, "\n");
            tbuf_free(&elem);
        }
        add_ws(&pretty);
        tbuf_adds(&pretty, "]");
        add_ws(&pretty);
        tbuf_adds(&whole, "]\n");
        tbuf_add(&flat, "", 0);

        long r = jm(pretty.p, pretty.len, 1);
        CHECKF(r == (long)k && out.len == flat.len && memcmp(out.p, flat.p, flat.len) == 0,
               "round %d: %ld messages from \"%.*s\": \"%s\"", round, r, (int)pretty.len,
               (const char *)pretty.p, got());
        r = jm(pretty.p, pretty.len, 0);
        CHECKF(r == 1 && out.len == whole.len && memcmp(out.p, whole.p, whole.len) == 0,
               "round %d: \"%s\"", round, got());
        tbuf_free(&pretty);
        tbuf_free(&whole);
        tbuf_free(&flat);
    }
}

/* A large input (several MB) in one call: counted and copied right. */
static void test_large(void)
{
    tbuf in = {0}, want = {0};
    const size_t k = 100000;
    int64_t t0;

    tbuf_adds(&in, "[\n");
    for (size_t i = 0; i < k; i++) {
        const char *m = t_fmt("{\"id\":%zu,\"name\":\"message number %zu \xc3\xa9\",\"ok\":true,"
                              "\"tags\":[\"a\",\"b\"],\"v\":-%zu.5e-3}",
                              i, i, i);
        tbuf_adds(&in, i ? ",\n  " : "  ");
        tbuf_adds(&in, m);
        tbuf_adds(&want, m);
        tbuf_adds(&want, "\n");
    }
    tbuf_adds(&in, "\n]\n");
    t0 = t_now_ms();
    CHECK_INT(jm(in.p, in.len, 1), (long)k);
    printf("# %zu bytes in %lld ms\n", in.len, (long long)(t_now_ms() - t0));
    CHECK_MEM(out.p, out.len, want.p, want.len);
    CHECK_INT(jm(in.p, in.len, 0), 1);
    tbuf_free(&in);
    tbuf_free(&want);
}

/* ---- json_prefix_len, json_array ------------------------------------------------------------ */

static void test_prefix_len(void)
{
    const uint8_t *p = (const uint8_t *)"1\n\"ab\"\n{\"c\":3}\n[4]";
    size_t n = strlen((const char *)p);

    CHECK_INT(json_prefix_len(p, n, 0), 0);
    CHECK_INT(json_prefix_len(p, n, 1), 2);
    CHECK_INT(json_prefix_len(p, n, 2), 7);
    CHECK_INT(json_prefix_len(p, n, 3), 15);
    CHECK_INT(json_prefix_len(p, n, 4), -1); /* "[4]" is not complete */
    CHECK_INT(json_prefix_len(p, n, 5), -1);
    CHECK_INT(json_prefix_len(p, n, UINT64_MAX), -1);
    CHECK_INT(json_prefix_len(p, 15, 3), 15);
    CHECK_INT(json_prefix_len(p, 14, 3), -1);
    CHECK_INT(json_prefix_len(p, 1, 1), -1);
    CHECK_INT(json_prefix_len(NULL, 0, 0), 0);
    CHECK_INT(json_prefix_len(NULL, 0, 1), -1);
}

static void test_array(void)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"", "[]"},
        {"1\n", "[1]"},
        {"1\n{\"a\":2}\n", "[1,{\"a\":2}]"},
        {"\"x\\ny\"\n[1,2]\nnull\n", "[\"x\\ny\",[1,2],null]"},
        {"1\n2", "[1]"}, /* a trailing partial message is left out */
        {"12", "[]"},
        {"1\n22\n333", "[1,22]"},
    };
    uint8_t buf[64];

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = strlen(cases[i].in), want = strlen(cases[i].out);
        memset(buf, '#', sizeof buf);
        size_t r = json_array((const uint8_t *)cases[i].in, n, buf, n + 2);
        EXPECTF(r == want && memcmp(buf, cases[i].out, want) == 0 && buf[want] == '#',
                "case %zu: %zu \"%.*s\"", i, r, (int)r, (const char *)buf);
        /* exactly enough room is enough; one byte less is not */
        EXPECTF(json_array((const uint8_t *)cases[i].in, n, buf, want) == want, "case %zu", i);
        EXPECTF(json_array((const uint8_t *)cases[i].in, n, buf, want - 1) == 0, "case %zu", i);
    }
    CHECK_INT(json_array(NULL, 0, buf, 2), 2);
    CHECK_MEM(buf, 2, "[]", 2);
}

/* The array of what json_messages made is a JSON text that flattens back to the same messages. */
static void test_array_round_trip(void)
{
    const char *in = " [ {\"a\" : [1, 2]}, \"s p\", -0.5, [ [] ], {} ] ";
    json_out o = {0};
    uint8_t arr[128];

    CHECK_INT(json_messages((const uint8_t *)in, strlen(in), 1, &o), 5);
    size_t n = json_array(o.p, o.len, arr, sizeof arr);
    CHECK_MEM(arr, n, "[{\"a\":[1,2]},\"s p\",-0.5,[[]],{}]", 32);
    CHECK_INT(jm(arr, n, 1), 5);
    CHECK_MEM(out.p, out.len, o.p, o.len);
    free(o.p);
}

/* ---- base64 --------------------------------------------------------------------------------- */

static void test_base64(void)
{
    static const struct {
        const char *in, *out;
        size_t n;
    } cases[] = {
        {"", "", 0},
        {"f", "Zg==", 1},
        {"fo", "Zm8=", 2},
        {"foo", "Zm9v", 3},
        {"foob", "Zm9vYg==", 4},
        {"fooba", "Zm9vYmE=", 5},
        {"foobar", "Zm9vYmFy", 6},
        {"\xff\xfe\x00", "//4A", 3},
        {"\xfb\xff", "+/8=", 2},
        {"\x00", "AA==", 1},
        {"\x00\x10\x83\x10\x51\x87\x20\x92\x8b\x30\xd3\x8f\x41\x14\x93\x51\x55\x97\x61\x96\x9b\x71"
         "\xd7\x9f\x82\x18\xa3\x92\x59\xa7\xa2\x9a\xab\xb2\xdb\xaf\xc3\x1c\xb3\xd3\x5d\xb7\xe3\x9e"
         "\xbb\xf3\xdf\xbf",
         "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", 48},
    };
    char buf[80];

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t want = strlen(cases[i].out);
        memset(buf, '#', sizeof buf);
        size_t r = ds_base64((const uint8_t *)cases[i].in, cases[i].n, buf);
        EXPECTF(r == want && memcmp(buf, cases[i].out, want) == 0 && buf[want] == '#',
                "case %zu: \"%.*s\"", i, (int)r, buf);
        EXPECTF(r == 4 * ((cases[i].n + 2) / 3), "case %zu: %zu bytes", i, r);
    }
}

int main(void)
{
    RUN(test_valid);
    RUN(test_invalid);
    RUN(test_control_bytes);
    RUN(test_nul);
    RUN(test_depth);
    RUN(test_utf8);
    RUN(test_escapes);
    RUN(test_numbers);
    RUN(test_out_on_error);
    RUN(test_out_grows);
    RUN(test_cut_short);
    RUN(test_random);
    RUN(test_large);
    RUN(test_prefix_len);
    RUN(test_array);
    RUN(test_array_round_trip);
    RUN(test_base64);
    free(out.p);
    return test_report();
}
