/* fuzz_path.c -- libFuzzer target: request-target splitting, percent-decoding, path cleaning and
 * resolution beneath a root. Checks that a cleaned path is clean (no ".", "..", empty components),
 * that cleaning is idempotent, and that whatever the file store opens lies inside the root, even
 * with symbolic links in the root pointing out of it (its resolution, fs_open_beneath, is checked
 * on the descriptor; store_stat and store_open run on the same path through the interface). */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http/path.h"
#include "http/uri.h"
#include "store/file/fstore.h"
#include "store/store.h"

static store *st;
static char root[PATH_MAX];
static size_t root_len;

/* A root with files, a directory, and links that lead out of it. */
static void setup(void)
{
    char tmpl[] = "/tmp/hfs-fuzz-path.XXXXXX", p[PATH_MAX + 32];
    char *dir = mkdtemp(tmpl);
    store_options o = {.loop = uv_default_loop(), .tail_max = 0};

    if (!dir || !realpath(dir, root))
        abort();
    root_len = strlen(root);
    snprintf(p, sizeof(p), "%s/root", root);
    mkdir(p, 0755);
    strcat(root, "/root");
    root_len = strlen(root);
#define MK(fmt) (snprintf(p, sizeof(p), fmt, root), p)
    close(open(MK("%s/a.txt"), O_CREAT | O_WRONLY, 0600));
    mkdir(MK("%s/d"), 0755);
    close(open(MK("%s/d/b.log"), O_CREAT | O_WRONLY, 0600));
    close(open(MK("%s/../secret"), O_CREAT | O_WRONLY, 0600));
    symlink("../secret", MK("%s/out"));
    symlink("/etc", MK("%s/etc"));
    symlink("a.txt", MK("%s/in"));
    symlink("../../secret", MK("%s/d/up"));
    if (store_file_new(root, &o, &st) != STORE_OK)
        abort();
}

static void check_clean(const char *c, size_t n)
{
    if (n == 0 || c[0] != '/')
        abort();
    for (size_t i = 0; i < n; i++) {
        if (c[i] != '/')
            continue;
        const char *s = c + i + 1;
        size_t k = strcspn(s, "/");
        int last = s[k] == '\0';
        if ((k == 0 && !last) || (k == 1 && s[0] == '.') || (k == 2 && s[0] == '.' && s[1] == '.'))
            abort();
    }
}

static void check_inside(int fd)
{
    char link[64], target[PATH_MAX];

    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, target, sizeof(target) - 1);
    if (n < 0)
        abort();
    target[n] = '\0';
    if (strncmp(target, root, root_len) != 0 || (target[root_len] && target[root_len] != '/'))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uri_parts u;
    const char *rel;

    if (!st)
        setup();
    if (size > 4096 || uri_split((const char *)data, size, &u) < 0)
        return 0;
    char *dec = malloc(u.path_len + 1), *c = malloc(u.path_len + 3), *c2 = malloc(u.path_len + 3);
    long n = uri_unescape_path(u.path, u.path_len, dec);
    if (n >= 0) {
        if (memchr(dec, 0, (size_t)n))
            abort();
        size_t cn = path_clean(dec, (size_t)n, c);
        check_clean(c, cn);
        if (path_clean(c, cn, c2) != cn || strcmp(c, c2) != 0)
            abort();
        if (path_strip_prefix(c, "", &rel)) {
            int fd =
                fs_rel_valid(rel) ? fs_open_beneath(FS(st), rel, O_RDONLY | O_NONBLOCK, 0) : -1;
            if (fd >= 0) {
                check_inside(fd);
                close(fd);
            }
            store_info info;
            store_res *res;
            if (store_stat(st, rel, &info) == STORE_OK && info.state)
                abort(); /* nothing is leased here */
            if (store_open(st, rel, &res) == STORE_OK) {
                if (fd < 0 || store_state(res))
                    abort(); /* opened what resolution refused */
                store_res_unref(res);
            }
        }
    }
    char v[64];
    if (u.query)
        uri_query_get(u.query, u.query_len, "verb", v, sizeof(v));
    free(dec);
    free(c);
    free(c2);
    return 0;
}
