#!/bin/sh
# test_charts.sh -- bench/charts.sh (the charts of `make bench`) on a small results file
# (charts-results.txt): it writes the four SVGs with every series named and medians as labels;
# a file with only some peers and scenarios gets only the charts it has rows for; without gnuplot
# it says so, draws nothing and exits 3 (bench/run.sh then goes on without charts).
set -u
export LC_ALL=C
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
here=$(cd "$(dirname "$0")" && pwd)
charts=$here/../../bench/charts.sh
fixture=$here/charts-results.txt
tmp=$(mktemp -d /tmp/hfs-charts-test.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

command -v gnuplot >/dev/null 2>&1 || fail "gnuplot is not installed (scripts/deps.sh test installs gnuplot-nox)"

# has SVG TEXT...: every TEXT appears in SVG.
has() {
    svg=$1
    shift
    for t in "$@"; do
        grep -qF -- "$t" "$svg" || fail "$(basename "$svg") does not contain [$t]"
    done
}

check "every chart from a results file with all peers"
"$charts" "$fixture" "$tmp/all" 2>"$tmp/err" || fail "charts.sh exited $?: $(cat "$tmp/err")"
for c in fanout-64b fanout-16kib latency memory; do
    f=$tmp/all/$c.svg
    [ -s "$f" ] || fail "$c.svg not written"
    head -c 200 "$f" | grep -q '<svg' || fail "$c.svg is not an SVG"
    tail -c 20 "$f" | grep -q '</svg>' || fail "$c.svg is cut short"
    has "$f" "charts-results.txt: medians of 3 run(s)"
done
expect_eq "files written" "$(cd "$tmp/all" && echo *)" "fanout-16kib.svg fanout-64b.svg latency.svg memory.svg"
has "$tmp/all/fanout-64b.svg" httpfstream "bare epoll loop" Nchan "messages delivered per second" \
    '>1,000<' 3.6M 129k 24k
check "a label is the median of the runs (30M, 40M, 34M -> 34.0M)"
has "$tmp/all/fanout-64b.svg" 34.0M
check "a run without a result does not count (16 KiB x 1,000: one run of ours)"
has "$tmp/all/fanout-16kib.svg" httpfstream "bare epoll loop" Nchan ">2106<" ">1086<" ">837<"
has "$tmp/all/latency.svg" httpfstream "bare, from when due" "bare, write-pass floor" Nchan \
    p50 p99 p99.9 "1,000 followers" ">31.3<" ">304<" ">1.7 s<" ">10.5<"
has "$tmp/all/memory.svg" httpfstream Nchan "15,000 idle followers" "0.84 KiB" "10.16 KiB" "at most 2 KiB"

check "only our fan-out rows: the two fan-out charts, one series each"
grep '^fanout-[0-9]*-[0-9]* hfs ' "$fixture" >"$tmp/ours.txt"
LABEL="ours only" "$charts" "$tmp/ours.txt" "$tmp/ours" 2>"$tmp/err" || fail "charts.sh exited $?: $(cat "$tmp/err")"
expect_eq "files written" "$(cd "$tmp/ours" && echo *)" "fanout-16kib.svg fanout-64b.svg"
has "$tmp/ours/fanout-64b.svg" httpfstream "ours only"
for t in bare Nchan; do
    ! grep -q "$t" "$tmp/ours/fanout-64b.svg" || fail "fanout-64b.svg names $t, which has no rows"
done
grep -q "no latency rows" "$tmp/err" || fail "no note about the missing latency rows: $(cat "$tmp/err")"

check "nothing to chart: exit 0, no file"
grep '^ingest ' "$fixture" >"$tmp/ingest.txt"
"$charts" "$tmp/ingest.txt" "$tmp/none" 2>"$tmp/err" || fail "charts.sh exited $?: $(cat "$tmp/err")"
[ -z "$(ls -A "$tmp/none")" ] || fail "charts written from ingest rows only: $(ls -A "$tmp/none")"

check "without gnuplot: a note, exit 3, no file"
rc=0
GNUPLOT=/nonexistent/gnuplot "$charts" "$fixture" "$tmp/nognuplot" 2>"$tmp/err" || rc=$?
expect_eq "exit status" "$rc" 3
grep -q "gnuplot-nox" "$tmp/err" || fail "no note naming gnuplot-nox: $(cat "$tmp/err")"
[ ! -e "$tmp/nognuplot" ] || fail "output folder created without gnuplot"

check "usage errors: exit 2"
rc=0
"$charts" "$fixture" 2>/dev/null || rc=$?
expect_eq "exit status, one argument" "$rc" 2
rc=0
"$charts" "$tmp/missing.txt" "$tmp/x" 2>/dev/null || rc=$?
expect_eq "exit status, missing results" "$rc" 2
echo "ok"
