/* res.c -- the fan-out state hung on a live store resource: created by its first appender, freed
 * when neither an appender nor a follower uses it any more. */
#include "server/internal.h"

#include <stdlib.h>

srv_res *srv_res_get(hfs_server *s, store_res *res)
{
    if (!res->data) {
        srv_res *sr = calloc(1, sizeof(*sr));
        if (!sr)
            return NULL;
        sr->srv = s;
        sr->res = res;
        res->data = sr;
    }
    return res->data;
}

void srv_res_maybe_free(hfs_server *s, srv_res *sr)
{
    if (sr->appender || sr->nfollowers || sr->wb_job || sr->sync_queue || sr->res->staged)
        return;
    if (sr->dirty) {
        for (srv_res **pp = &s->dirty; *pp; pp = &(*pp)->dirty_next) {
            if (*pp == sr) {
                *pp = sr->dirty_next;
                break;
            }
        }
    }
    sr->res->data = NULL;
    free(sr);
}
