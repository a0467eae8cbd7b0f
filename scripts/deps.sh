#!/bin/sh
# deps.sh -- installs the Debian packages (and npm test tools, and for bench the Durable Streams
# reference server) the project needs, only when missing.
# Usage: scripts/deps.sh build|test|bench|fuzz
# Runs apt-get as root, or through sudo when not root. Idempotent and quiet when nothing is missing.
set -eu

want=${1:-build}
here=$(cd "$(dirname "$0")/.." && pwd)

build_pkgs="make gcc libc6-dev pkg-config libuv1-dev node-llhttp libssl-dev libcurl4-openssl-dev libnats-dev"
test_pkgs="nats-server nginx-light curl ca-certificates openssl python3 python3-websockets python3-prometheus-client nodejs npm clang libclang-rt-14-dev procps iproute2 chromium fonts-dejavu-core gnuplot-nox systemd"
# bench also installs test_pkgs: gnuplot-nox there draws make bench's charts (bench/charts.sh).
# systemd: systemd-socket-activate and systemd-analyze for tests/e2e/test_systemd.sh.
bench_pkgs="nginx-light libnginx-mod-nchan linux-perf valgrind"
fuzz_pkgs="clang libclang-rt-14-dev"

case "$want" in
build) pkgs=$build_pkgs ;;
test) pkgs="$build_pkgs $test_pkgs" ;;
bench) pkgs="$build_pkgs $test_pkgs $bench_pkgs" ;;
fuzz) pkgs="$build_pkgs $fuzz_pkgs" ;;
*)
    echo "usage: $0 build|test|bench|fuzz" >&2
    exit 2
    ;;
esac

missing=""
for p in $pkgs; do
    # A command that is already on PATH (node, npm from another source) counts as installed.
    case "$p" in
    nodejs) command -v node >/dev/null 2>&1 && continue ;;
    npm) command -v npm >/dev/null 2>&1 && continue ;;
    python3) command -v /usr/bin/python3 >/dev/null 2>&1 && continue ;;
    esac
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done

if [ -n "$missing" ]; then
    echo "deps: installing$missing"
    sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq || true
    # shellcheck disable=SC2086
    $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

# Node test clients (ws, playwright-core), pinned by tests/interop/package-lock.json, and the
# Durable Streams conformance suite with its vitest, pinned by tests/ds/package-lock.json.
if [ "$want" != build ] && [ "$want" != fuzz ]; then
    for d in tests/interop tests/ds; do
        cd "$here/$d"
        # shellcheck disable=SC3013 # -nt: not POSIX, but dash, bash and busybox sh have it
        if [ ! -d node_modules ] || [ package-lock.json -nt node_modules ]; then
            echo "deps: npm ci ($d)"
            npm ci --no-audit --no-fund --loglevel=error >/dev/null
            touch node_modules
        fi
    done
fi

# The Durable Streams reference server, make bench's ds peer, pinned by bench/ds/package-lock.json.
if [ "$want" = bench ]; then
    cd "$here/bench/ds"
    if [ ! -d node_modules ] || [ package-lock.json -nt node_modules ]; then
        echo "deps: npm ci (bench/ds)"
        npm ci --no-audit --no-fund --loglevel=error >/dev/null
        touch node_modules
    fi
fi
