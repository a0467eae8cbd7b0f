# test_install.sh -- `make install` into a scratch prefix gives the header, both libraries, the
# pkg-config file, the commands and their man pages; the examples build against it with pkg-config
# (static and shared) and work: the embedded server serves, the client appends and follows.
. "$(dirname "$0")/../lib.sh"
top=$(cd "$(dirname "$0")/../.." && pwd)
build=$(dirname "$HFS_BIN")
prefix=$(mktemp -d /tmp/hfs-install.XXXXXX)
HFS_CLEANUP='kill $EMBED_PID 2>/dev/null; rm -rf "$prefix"'
EMBED_PID=""
trap 'eval "$HFS_CLEANUP"' EXIT

make -C "$top" -s BUILD="$build" install PREFIX="$prefix" >/dev/null || fail "make install"
for f in include/httpfstream.h lib/libhttpfstream.a lib/libhttpfstream.so lib/pkgconfig/httpfstream.pc \
    bin/httpfstream-server bin/httpfstream-append bin/httpfstream-follow \
    share/man/man1/httpfstream-server.1 share/man/man1/httpfstream-append.1 \
    share/man/man1/httpfstream-follow.1; do
    [ -e "$prefix/$f" ] || fail "not installed: $f"
done
man -l "$prefix/share/man/man1/httpfstream-follow.1" >/dev/null 2>&1 || true

export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
# A sanitizer build installs instrumented libraries: programs linking them need the runtime too.
san=""
case "$build" in *asan*) san="-fsanitize=address,undefined" ;; esac
pkg-config --exists httpfstream || fail "pkg-config does not know httpfstream"
cc $san -o "$prefix/embed" "$top/examples/embed.c" $(pkg-config --cflags httpfstream) \
    -L"$prefix/lib" -Wl,-Bstatic -lhttpfstream -Wl,-Bdynamic $(pkg-config --static --libs-only-l httpfstream | sed "s/-lhttpfstream//") \
    || fail "embed.c does not build against the installed static library"
cc $san -o "$prefix/client" "$top/examples/client.c" $(pkg-config --cflags --libs httpfstream) \
    -Wl,-rpath,"$prefix/lib" || fail "client.c does not build against the installed shared library"

mkdir "$prefix/root"
"$prefix/embed" "$prefix/root" 127.0.0.1:0 2>"$prefix/embed.log" &
EMBED_PID=$!
i=0
until grep -q "serving on port" "$prefix/embed.log"; do
    i=$((i + 1))
    [ $i -lt 100 ] || fail "embedded server did not start: $(cat "$prefix/embed.log")"
    sleep 0.05
done
port=$(sed -n 's/serving on port //p' "$prefix/embed.log")
out=$("$prefix/client" "http://127.0.0.1:$port/x/y.log") || fail "client failed: $out"
expect_eq "client output" "$out" "hello from C"
expect_eq "file on disk" "$(cat "$prefix/root/x/y.log")" "hello from C"
echo "install, pkg-config, examples: ok"
