/* mime.c -- Content-Types: by file extension (Go's built-in table, then types a log/stream server
 * meets), else sniffed from the first bytes (text or not; never HTML). */
#include "http/mime.h"

#include <string.h>
#include <strings.h>

#define MIME_OCTETS "application/octet-stream"

typedef struct mime_entry {
    const char *ext; /* with the dot, lower case */
    const char *type;
} mime_entry;

/* Go's builtin table (mime.builtinTypesLower) first, then types a log/stream server meets. */
static const mime_entry mime_table[] = {
    {".avif", "image/avif"},
    {".css", "text/css; charset=utf-8"},
    {".gif", "image/gif"},
    {".htm", "text/html; charset=utf-8"},
    {".html", "text/html; charset=utf-8"},
    {".jpeg", "image/jpeg"},
    {".jpg", "image/jpeg"},
    {".js", "text/javascript; charset=utf-8"},
    {".json", "application/json"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".pdf", "application/pdf"},
    {".png", "image/png"},
    {".svg", "image/svg+xml"},
    {".wasm", "application/wasm"},
    {".webp", "image/webp"},
    {".xml", "text/xml; charset=utf-8"},
    {".txt", HTTP_MIME_TEXT_UTF8},
    {".text", HTTP_MIME_TEXT_UTF8},
    {".log", HTTP_MIME_TEXT_UTF8},
    {".csv", "text/csv; charset=utf-8"},
    {".tsv", "text/tab-separated-values; charset=utf-8"},
    {".md", "text/markdown; charset=utf-8"},
    {".ndjson", "application/x-ndjson"},
    {".jsonl", "application/x-ndjson"},
    {".yaml", "application/yaml"},
    {".yml", "application/yaml"},
    {".gz", "application/gzip"},
    {".tgz", "application/gzip"},
    {".bz2", "application/x-bzip2"},
    {".xz", "application/x-xz"},
    {".zst", "application/zstd"},
    {".tar", "application/x-tar"},
    {".zip", "application/zip"},
    {".7z", "application/x-7z-compressed"},
    {".bin", MIME_OCTETS},
    {".ico", "image/x-icon"},
    {".bmp", "image/bmp"},
    {".mp4", "video/mp4"},
    {".m4v", "video/mp4"},
    {".webm", "video/webm"},
    {".ogv", "video/ogg"},
    {".mov", "video/quicktime"},
    {".mp3", "audio/mpeg"},
    {".m4a", "audio/mp4"},
    {".aac", "audio/aac"},
    {".wav", "audio/wav"},
    {".flac", "audio/flac"},
    {".ogg", "audio/ogg"},
    {".oga", "audio/ogg"},
    {".opus", "audio/ogg"},
    {".woff", "font/woff"},
    {".woff2", "font/woff2"},
    {".ttf", "font/ttf"},
    {".otf", "font/otf"},
};

const char *http_mime_by_name(const char *name)
{
    const char *dot, *slash;

    if (!name) {
        return NULL;
    }
    dot = strrchr(name, '.');
    slash = strrchr(name, '/');
    if (!dot || (slash && slash > dot)) {
        return NULL;
    }
    for (size_t i = 0; i < sizeof mime_table / sizeof mime_table[0]; i++) {
        if (strcasecmp(dot, mime_table[i].ext) == 0) {
            return mime_table[i].type;
        }
    }
    return NULL;
}

/* WHATWG mimesniff's "binary data byte", the test Go's text signature applies. */
static int is_binary_byte(uint8_t c)
{
    return c <= 0x08 || c == 0x0B || (c >= 0x0E && c <= 0x1A) || (c >= 0x1C && c <= 0x1F);
}

const char *http_mime_sniff(const uint8_t *p, size_t len)
{
    if (!p) {
        return HTTP_MIME_TEXT_UTF8;
    }
    if (len > HTTP_MIME_SNIFF_LEN) {
        len = HTTP_MIME_SNIFF_LEN;
    }
    if (len >= 4 && p[0] == 0xFE && p[1] == 0xFF) { /* Go's masked signatures need 4 bytes */
        return "text/plain; charset=utf-16be";
    }
    if (len >= 4 && p[0] == 0xFF && p[1] == 0xFE) {
        return "text/plain; charset=utf-16le";
    }
    if (len >= 3 && p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF) {
        return HTTP_MIME_TEXT_UTF8;
    }
    for (size_t i = 0; i < len; i++) {
        if (is_binary_byte(p[i])) {
            return MIME_OCTETS;
        }
    }
    return HTTP_MIME_TEXT_UTF8;
}
