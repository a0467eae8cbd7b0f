# test_install.sh -- `make install` into a scratch prefix gives the header, both libraries, the
# pkg-config file, the commands, their man pages and the systemd units (ExecStart names the installed
# server); the examples build against it with pkg-config (static and shared) and work: the embedded
# server serves, the client appends and follows.
# A program linked against the shared library starts, as the README says:
# - private prefix: linked with -Wl,-rpath from `pkg-config --variable=libdir`; or linked without it
#   and run with LD_LIBRARY_PATH (without either it fails: "cannot open shared object file");
# - system prefix (/usr/local, as root, when nothing of httpfstream is there yet): `make install`
#   runs ldconfig, so a program linked with plain `pkg-config --libs` starts; `make uninstall`
#   removes everything again (and runs ldconfig), and the test removes the folders it made.
. "$(dirname "$0")/../lib.sh"
top=$(cd "$(dirname "$0")/../.." && pwd)
build=$(dirname "$HFS_BIN")
prefix=$(mktemp -d /tmp/hfs-install.XXXXXX)
sys=/usr/local
sys_installed=""
sys_made_dirs=""
HFS_CLEANUP='kill $EMBED_PID 2>/dev/null; rm -rf "$prefix"; sys_restore'
EMBED_PID=""
trap 'eval "$HFS_CLEANUP"' EXIT

# in_ld_cache: whether the dynamic linker's cache knows some libhttpfstream (ldconfig may be in sbin).
in_ld_cache() {
    PATH=$PATH:/sbin:/usr/sbin ldconfig -p | grep -q "libhttpfstream${1:-}"
}

# sys_restore: after a system install, uninstall (which runs ldconfig) if not done yet, and remove
# the folders the install made.
sys_restore() {
    if [ -n "$sys_installed" ]; then
        sys_installed=""
        make -C "$top" -s BUILD="$build" uninstall PREFIX="$sys" >/dev/null
        ! in_ld_cache || ldconfig
    fi
    for d in $sys_made_dirs; do
        rmdir "$d" 2>/dev/null
    done
    sys_made_dirs=""
}

make -C "$top" -s BUILD="$build" install PREFIX="$prefix" >/dev/null || fail "make install"
for f in include/httpfstream.h lib/libhttpfstream.a lib/libhttpfstream.so lib/pkgconfig/httpfstream.pc \
    bin/httpfstream-server bin/httpfstream-append bin/httpfstream-follow \
    share/man/man1/httpfstream-server.1 share/man/man1/httpfstream-append.1 \
    share/man/man1/httpfstream-follow.1 \
    lib/systemd/system/httpfstream.service lib/systemd/system/httpfstream.socket; do
    [ -e "$prefix/$f" ] || fail "not installed: $f"
done
check "the systemd service runs the installed server"
grep -qx "ExecStart=$prefix/bin/httpfstream-server .*" "$prefix/lib/systemd/system/httpfstream.service" ||
    fail "ExecStart: $(grep ExecStart "$prefix/lib/systemd/system/httpfstream.service")"
man -l "$prefix/share/man/man1/httpfstream-follow.1" >/dev/null 2>&1 || true

export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
# A sanitizer build installs instrumented libraries: programs linking them need the runtime too.
san=""
case "$build" in *asan*) san="-fsanitize=address,undefined" ;; esac
pkg-config --exists httpfstream || fail "pkg-config does not know httpfstream"
cc $san -o "$prefix/embed" "$top/examples/embed.c" $(pkg-config --cflags httpfstream) \
    -L"$prefix/lib" -Wl,-Bstatic -lhttpfstream -Wl,-Bdynamic $(pkg-config --static --libs-only-l httpfstream | sed "s/-lhttpfstream//") \
    || fail "embed.c does not build against the installed static library"
libdir=$(pkg-config --variable=libdir httpfstream)
expect_eq "pkg-config libdir" "$libdir" "$prefix/lib"
cc $san -o "$prefix/client" "$top/examples/client.c" $(pkg-config --cflags --libs httpfstream) \
    -Wl,-rpath,"$libdir" || fail "client.c does not build against the installed shared library"
cc $san -o "$prefix/client-norpath" "$top/examples/client.c" $(pkg-config --cflags --libs httpfstream) \
    || fail "client.c does not build against the installed shared library (no rpath)"

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
check "private prefix, linked with -Wl,-rpath,\$(pkg-config --variable=libdir httpfstream): starts and works"
out=$("$prefix/client" "http://127.0.0.1:$port/x/y.log" 2>&1) || fail "client failed: $out"
expect_eq "client output" "$out" "hello from C"
expect_eq "file on disk" "$(cat "$prefix/root/x/y.log")" "hello from C"

check "private prefix, linked without rpath: fails to start alone, works with LD_LIBRARY_PATH"
if in_ld_cache; then
    echo "(a libhttpfstream is installed on this machine: not checking that it fails alone)"
else
    if out=$(env -u LD_LIBRARY_PATH "$prefix/client-norpath" "http://127.0.0.1:$port/x/none.log" 2>&1); then
        fail "a program linked without rpath against $prefix/lib started without LD_LIBRARY_PATH"
    fi
    case "$out" in *"cannot open shared object file"*) ;; *) fail "without LD_LIBRARY_PATH: $out" ;; esac
fi
out=$(LD_LIBRARY_PATH="$prefix/lib" "$prefix/client-norpath" "http://127.0.0.1:$port/x/ld.log" 2>&1) ||
    fail "client with LD_LIBRARY_PATH failed: $out"
expect_eq "client output (LD_LIBRARY_PATH)" "$out" "hello from C"

check "system prefix $sys: make install runs ldconfig; a program linked with plain pkg-config --libs starts"
if [ "$(id -u)" != 0 ]; then
    echo "skipped: not root (CI runs this as root)"
elif [ -n "$(ls "$sys/lib/libhttpfstream"* "$sys/include/httpfstream.h" 2>/dev/null)" ] || in_ld_cache; then
    echo "skipped: httpfstream is already installed on this machine; not touching it"
else
    for d in include lib lib/pkgconfig lib/systemd lib/systemd/system bin share share/man share/man/man1; do
        [ -d "$sys/$d" ] || sys_made_dirs="$sys/$d $sys_made_dirs" # deepest first
    done
    sys_installed=1
    out=$(make -C "$top" -s BUILD="$build" install PREFIX="$sys" 2>&1) || fail "make install PREFIX=$sys: $out"
    in_ld_cache ".so.0 .*=> $sys/lib/libhttpfstream.so.0" ||
        fail "libhttpfstream.so.0 is not in the dynamic linker's cache after make install ($out)"
    expect_eq "pkg-config prefix ($sys)" "$(env -u PKG_CONFIG_PATH pkg-config --variable=prefix httpfstream)" "$sys"
    cc $san -o "$prefix/client-sys" "$top/examples/client.c" \
        $(env -u PKG_CONFIG_PATH pkg-config --cflags --libs httpfstream) ||
        fail "client.c does not build against $sys"
    out=$(env -u LD_LIBRARY_PATH "$prefix/client-sys" "http://127.0.0.1:$port/x/sys.log" 2>&1) ||
        fail "a program linked against $sys/lib does not start: $out"
    expect_eq "client output ($sys)" "$out" "hello from C"
    out=$(make -C "$top" -s BUILD="$build" uninstall PREFIX="$sys" 2>&1) || fail "make uninstall PREFIX=$sys: $out"
    sys_installed=""
    ! in_ld_cache || fail "libhttpfstream is still in the dynamic linker's cache after make uninstall"
    sys_restore
    left=$(ls "$sys/lib/libhttpfstream"* "$sys/include/httpfstream.h" "$sys/bin/httpfstream-"* \
        "$sys/lib/systemd/system/httpfstream."* 2>/dev/null)
    [ -z "$left" ] || fail "left in $sys after make uninstall: $left"
fi
echo "install, pkg-config, examples, dynamic linking: ok"
