/* client.c -- the README's client calls: append a line with a writer, then follow to the end.
 * Usage: client URL   (appends "hello from C\n", then prints what a follow reads) */
#include <stdio.h>
#include <unistd.h>

#include <httpfstream.h>

int main(int argc, char **argv)
{
    hfs_error err;
    hfs_writer *w;
    hfs_reader *r;
    char buf[8192];
    ssize_t n;

    if (argc != 2) {
        fprintf(stderr, "usage: client URL\n");
        return 2;
    }
    if (hfs_open_append(argv[1], NULL, &w, &err) != HFS_OK) {
        fprintf(stderr, "append: %s\n", err.message);
        return 1;
    }
    hfs_writer_write(w, "hello from C\n", 13);
    if (hfs_follow(argv[1], NULL, &r, &err) != HFS_OK) {
        fprintf(stderr, "follow: %s\n", err.message);
        return 1;
    }
    if (hfs_writer_close(w, &err) != HFS_OK) {
        fprintf(stderr, "close: %s\n", err.message);
        return 1;
    }
    while ((n = hfs_reader_read(r, buf, sizeof(buf))) > 0)
        fwrite(buf, 1, (size_t)n, stdout);
    if (n < 0)
        fprintf(stderr, "read: %s\n", hfs_reader_error(r)->message);
    hfs_reader_close(r);
    return n < 0;
}
