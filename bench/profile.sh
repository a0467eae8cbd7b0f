#!/usr/bin/env bash
# profile.sh -- where the server's time goes in one benchmark scenario: starts the server on CPU 0
# (the load generator on CPU 1, as in run.sh), samples it with `perf record -e cpu-clock` while
# the load generator runs, and prints the hottest symbols, user space and kernel together.
#
# Usage: bench/profile.sh BUILD SCENARIO [loadgen args...]
#   e.g. bench/profile.sh build fanout -n 1000 -s 16k -d 5
#        bench/profile.sh build ingest -s 64k -d 5
# SRV_CPUS (default 0) is the server's CPU list (ingest on both: SRV_CPUS=0,1). PERCENT (default
# 1) hides symbols below that share. The perf data stays in $OUT (default
# build/bench/profile-SCENARIO.data) for `perf report -i`.
set -euo pipefail
cd "$(dirname "$0")/.."

build=${1:?usage: bench/profile.sh BUILD SCENARIO [loadgen args...]}
sc=${2:?usage: bench/profile.sh BUILD SCENARIO [loadgen args...]}
shift 2
command -v perf >/dev/null || { echo "profile.sh: perf is missing (scripts/deps.sh bench)" >&2; exit 1; }
server=$build/bin/httpfstream-server loadgen=$build/bench/loadgen
[ -x "$server" ] && [ -x "$loadgen" ] || { echo "profile.sh: build first: make $loadgen $server BUILD=$build" >&2; exit 1; }

scratch=$(mktemp -d /tmp/hfs-profile.XXXXXX)
out=${OUT:-$build/bench/profile-$sc.data}
spid= ppid=
cleanup() {
    [ -n "$ppid" ] && kill -INT "$ppid" 2>/dev/null && wait "$ppid" 2>/dev/null
    [ -n "$spid" ] && kill -TERM "$spid" 2>/dev/null && wait "$spid" 2>/dev/null
    rm -rf "$scratch"
}
trap cleanup EXIT

# Kernel symbols in the report (we run as root in the bench setting; harmless otherwise).
echo 0 >/proc/sys/kernel/kptr_restrict 2>/dev/null || true
echo -1 >/proc/sys/kernel/perf_event_paranoid 2>/dev/null || true

taskset -c "${SRV_CPUS:-0}" "$server" -root="$scratch/root" -http=127.0.0.1:0 -q 2>"$scratch/server.log" &
spid=$!
port=
for _ in $(seq 100); do
    port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\),.*/\1/p' "$scratch/server.log")
    [ -n "$port" ] && break
    sleep 0.05
done
[ -n "$port" ] || { cat "$scratch/server.log" >&2; exit 1; }

perf record -q -e cpu-clock -F 4999 -p "$spid" -o "$out" 2>"$scratch/perf.log" &
ppid=$!
sleep 0.3
taskset -c 1 "$loadgen" "$sc" --port "$port" --root "$scratch/root" --server-pid "$spid" "$@" |
    grep '^RESULT' | tr ' ' '\n' | grep -E '^(del_Bps|del_msgs_ps|app_Bps|lat_p99_us|srv_cpu_win_pct|verify)='
kill -INT "$ppid"
wait "$ppid" 2>/dev/null || true
ppid=

echo "-- perf: $out (server pid $spid, both threads; cpu-clock samples)"
perf report -i "$out" --no-children --sort dso,sym --percent-limit "${PERCENT:-1}" --stdio 2>/dev/null |
    grep -E '^ +[0-9]' | head -40
