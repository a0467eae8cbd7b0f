/* embed.c -- the smallest program that embeds the server in a libuv loop (the README's example).
 * Usage: embed [ROOT [ADDR]]   defaults /tmp/httpfstream and :8080 */
#include <signal.h>
#include <stdio.h>
#include <uv.h>

#include <httpfstream.h>

static void log_line(void *data, int level, const char *line)
{
    (void)data;
    (void)level;
    fprintf(stderr, "%s\n", line);
}

int main(int argc, char **argv)
{
    hfs_server_options o;
    hfs_server *srv;

    signal(SIGPIPE, SIG_IGN);
    hfs_server_options_init(&o);
    o.root = argc > 1 ? argv[1] : "/tmp/httpfstream";
    o.log = log_line;
    if (hfs_server_new(uv_default_loop(), &o, &srv) != HFS_OK ||
        hfs_server_listen(srv, argc > 2 ? argv[2] : ":8080") != HFS_OK)
        return 1;
    fprintf(stderr, "serving on port %d\n", hfs_server_port(srv));
    return uv_run(uv_default_loop(), UV_RUN_DEFAULT);
}
