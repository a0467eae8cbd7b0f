/* test_mime.c -- unit tests for src/http/mime.c: Content-Types by extension (Go's table and ours)
 * and sniffing of a file's first bytes. */
#include "../harness.h"
#include "http/mime.h"

static void test_mime_go_table(void)
{
    CHECK_STR(http_mime_by_name("a.avif"), "image/avif");
    CHECK_STR(http_mime_by_name("a.css"), "text/css; charset=utf-8");
    CHECK_STR(http_mime_by_name("a.gif"), "image/gif");
    CHECK_STR(http_mime_by_name("a.htm"), "text/html; charset=utf-8");
    CHECK_STR(http_mime_by_name("a.html"), "text/html; charset=utf-8");
    CHECK_STR(http_mime_by_name("a.jpeg"), "image/jpeg");
    CHECK_STR(http_mime_by_name("a.jpg"), "image/jpeg");
    CHECK_STR(http_mime_by_name("a.js"), "text/javascript; charset=utf-8");
    CHECK_STR(http_mime_by_name("a.json"), "application/json");
    CHECK_STR(http_mime_by_name("a.mjs"), "text/javascript; charset=utf-8");
    CHECK_STR(http_mime_by_name("a.pdf"), "application/pdf");
    CHECK_STR(http_mime_by_name("a.png"), "image/png");
    CHECK_STR(http_mime_by_name("a.svg"), "image/svg+xml");
    CHECK_STR(http_mime_by_name("a.wasm"), "application/wasm");
    CHECK_STR(http_mime_by_name("a.webp"), "image/webp");
    CHECK_STR(http_mime_by_name("a.xml"), "text/xml; charset=utf-8");
}

static void test_mime_extra_and_edges(void)
{
    CHECK_STR(http_mime_by_name("a.txt"), "text/plain; charset=utf-8");
    CHECK_STR(http_mime_by_name("server.log"), "text/plain; charset=utf-8");
    CHECK_STR(http_mime_by_name("a.text"), "text/plain; charset=utf-8");
    CHECK_STR(http_mime_by_name("a.csv"), "text/csv; charset=utf-8");
    CHECK_STR(http_mime_by_name("README.md"), "text/markdown; charset=utf-8");
    CHECK_STR(http_mime_by_name("e.ndjson"), "application/x-ndjson");
    CHECK_STR(http_mime_by_name("e.jsonl"), "application/x-ndjson");
    CHECK_STR(http_mime_by_name("a.tar.gz"), "application/gzip");
    CHECK_STR(http_mime_by_name("a.tar"), "application/x-tar");
    CHECK_STR(http_mime_by_name("a.zip"), "application/zip");
    CHECK_STR(http_mime_by_name("a.mp4"), "video/mp4");
    CHECK_STR(http_mime_by_name("a.webm"), "video/webm");
    CHECK_STR(http_mime_by_name("a.mp3"), "audio/mpeg");
    CHECK_STR(http_mime_by_name("a.wav"), "audio/wav");
    CHECK_STR(http_mime_by_name("a.ogg"), "audio/ogg");
    CHECK_STR(http_mime_by_name("favicon.ico"), "image/x-icon");
    CHECK_STR(http_mime_by_name("A.PNG"), "image/png");
    CHECK_STR(http_mime_by_name("a.Json"), "application/json");
    CHECK_STR(http_mime_by_name(".json"), "application/json"); /* Go's filepath.Ext(".json") */
    CHECK_STR(http_mime_by_name("x.y.txt"), "text/plain; charset=utf-8");
    CHECK(http_mime_by_name(NULL) == NULL);
    CHECK(http_mime_by_name("") == NULL);
    CHECK(http_mime_by_name("Makefile") == NULL);
    CHECK(http_mime_by_name("a.unknownext") == NULL);
    CHECK(http_mime_by_name("a.") == NULL);
    CHECK(http_mime_by_name("a.txt.bak") == NULL);
    CHECK(http_mime_by_name("dir.txt/file") == NULL);
    CHECK(http_mime_by_name("atxt") == NULL);
}

static void test_sniff(void)
{
    uint8_t buf[600];

    CHECK_STR(http_mime_sniff(NULL, 0), "text/plain; charset=utf-8");
    CHECK_STR(http_mime_sniff((const uint8_t *)"", 0), "text/plain; charset=utf-8");
    CHECK_STR(http_mime_sniff((const uint8_t *)"hello\r\n\t\f", 9), "text/plain; charset=utf-8");
    CHECK_STR(http_mime_sniff((const uint8_t *)"<!DOCTYPE html><html>", 21),
              "text/plain; charset=utf-8");
    CHECK_STR(http_mime_sniff((const uint8_t *)"<?xml version=\"1.0\"?>", 21),
              "text/plain; charset=utf-8");
    CHECK_STR(http_mime_sniff((const uint8_t *)"caf\xc3\xa9 \xff\xfe", 8),
              "text/plain; charset=utf-8");
    CHECK_STR(http_mime_sniff((const uint8_t *)"\xfe\xff\x00h", 4), "text/plain; charset=utf-16be");
    CHECK_STR(http_mime_sniff((const uint8_t *)"\xff\xfeh\x00", 4), "text/plain; charset=utf-16le");
    CHECK_STR(http_mime_sniff((const uint8_t *)"\xfe\xff\x00", 3), "application/octet-stream");
    CHECK_STR(http_mime_sniff((const uint8_t *)"\xfe\xff", 2), "text/plain; charset=utf-8");
    CHECK_STR(http_mime_sniff((const uint8_t *)"\xef\xbb\xbf\x01", 4), "text/plain; charset=utf-8");
    CHECK_STR(http_mime_sniff((const uint8_t *)"a\0b", 3), "application/octet-stream");
    for (int c = 0; c < 256; c++) {
        int binary = c <= 0x08 || c == 0x0B || (c >= 0x0E && c <= 0x1A) || (c >= 0x1C && c <= 0x1F);
        uint8_t b[3] = {'a', (uint8_t)c, 'z'};
        const char *got = http_mime_sniff(b, 3);
        if (strcmp(got, binary ? "application/octet-stream" : "text/plain; charset=utf-8") != 0) {
            test_fail(__FILE__, __LINE__, "byte 0x%02x sniffed as %s", c, got);
            return;
        }
    }
    memset(buf, 'a', sizeof buf);
    buf[HTTP_MIME_SNIFF_LEN] = 0; /* past the sniffed prefix */
    CHECK_STR(http_mime_sniff(buf, sizeof buf), "text/plain; charset=utf-8");
    buf[HTTP_MIME_SNIFF_LEN - 1] = 0;
    CHECK_STR(http_mime_sniff(buf, sizeof buf), "application/octet-stream");
}

int main(void)
{
    RUN(test_mime_go_table);
    RUN(test_mime_extra_and_edges);
    RUN(test_sniff);
    return test_report();
}
