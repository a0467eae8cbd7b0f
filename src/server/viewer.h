/* viewer.h -- the live viewer page (src/server/viewer.html), compiled in by scripts/embed.sh. */
#ifndef HFS_SERVER_VIEWER_H
#define HFS_SERVER_VIEWER_H

#include <stddef.h>

extern const char hfs_viewer_html[];
extern const size_t hfs_viewer_html_len;

#endif
