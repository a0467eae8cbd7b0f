#!/bin/bash
# charts.sh -- draws the table of `make bench` as SVG charts with gnuplot, from a raw results file:
# fan-out throughput against followers (64 B and 16 KiB messages), latency percentiles, and server
# memory per idle follower; ours against the bare loop and Nchan, medians of the runs as in the table.
#
#   bench/charts.sh RESULTS OUTDIR     RESULTS: build/bench/results-*.txt, as bench/run.sh writes it
#
# Writes into OUTDIR (created if missing), each only when RESULTS has its rows:
#   fanout-64b.svg    delivered messages/s against followers, 64-byte messages (log scales)
#   fanout-16kib.svg  delivered MB/s against followers, 16 KiB messages (log followers axis)
#   latency.svg       p50 / p99 / p99.9 append-to-follower per latency configuration (log ms axis)
#   memory.svg        server RSS KiB per follower with idle followers
# Environment: GNUPLOT (default gnuplot), LABEL (the source line under each chart; default the
# results file's name and the number of runs).
# Exit status: 0 (charts written, or nothing to chart), 1 (gnuplot failed on some chart),
# 2 (usage, unreadable results), 3 (no gnuplot: Debian's gnuplot-nox, scripts/deps.sh bench).
#
# A RESULTS line is "CONFIG PEER RUN key=value ...": CONFIG fanout-N-SIZE, latency-N-RATE or
# idle-N; PEER hfs (ours), bare or nchan. Lines starting with # are ignored.
set -u
export LC_ALL=C

note() { echo "charts.sh: $*" >&2; }

[ $# -eq 2 ] || { echo "usage: bench/charts.sh RESULTS OUTDIR" >&2; exit 2; }
RES=$1 OUT=$2
if [ ! -f "$RES" ] || [ ! -r "$RES" ]; then note "cannot read $RES"; exit 2; fi
GNUPLOT=${GNUPLOT:-gnuplot}
command -v "$GNUPLOT" >/dev/null 2>&1 || {
    note "$GNUPLOT not found: no charts (scripts/deps.sh bench installs Debian's gnuplot-nox)"
    exit 3
}
mkdir -p "$OUT" || exit 1
TMP=$(mktemp -d /tmp/hfs-charts.XXXXXX) || exit 1
trap 'rm -rf "$TMP"' EXIT

RUNS=$(awk '$1 !~ /^#/ && $3 + 0 > n { n = $3 + 0 } END { print n + 0 }' "$RES")
LABEL=${LABEL:-"$(basename "$RES"): medians of $RUNS run(s)"}
LABEL=${LABEL//[\"\\]/} # it goes inside a gnuplot string

# Series colours: ours, the bare loop (and its write-pass floor), Nchan.
C_HFS='#1764ab' C_BARE='#555555' C_FLOOR='#a6a6a6' C_NCHAN='#e6550d'

# MED: "CONFIG PEER KEY MEDIAN" for the keys charted, the median as run.sh's med() takes it
# (sorted numerically; the mean of the middle two for an even count).
MED=$TMP/medians
awk '$1 !~ /^#/ && NF >= 4 {
        for (i = 4; i <= NF; i++) {
            n = index($i, "="); k = substr($i, 1, n - 1); v = substr($i, n + 1)
            if (k ~ /^(del_msgs_ps|del_Bps|rss_per_follower_kib|lat_(due_)?p(50|99|999)_us)$/ &&
                v ~ /^[-+]?[0-9.]+([eE][-+]?[0-9]+)?$/)
                print $1, $2, k, v
        } }' "$RES" | sort -k1,1 -k2,2 -k3,3 -k4,4g |
    awk 'function flush() { if (n) print g, (n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2) }
        { k = $1 " " $2 " " $3; if (k != g) { flush(); g = k; n = 0 } a[++n] = $4 }
        END { flush() }' >"$MED"

# series PATTERN PEER KEY DIVISOR: "X VALUE LABEL" for every config matching PATTERN (an awk
# regex whose first parenthesised number, the config's second field, is X), sorted by X.
series() {
    awk -v re="$1" -v p="$2" -v k="$3" -v d="$4" '
        function human(v) {
            if (v >= 1e6) return sprintf("%.1fM", v / 1e6)
            if (v >= 1e4) return sprintf("%.0fk", v / 1e3)
            return sprintf("%.0f", v)
        }
        $1 ~ re && $2 == p && $3 == k {
            split($1, f, "-"); v = $4 / d
            printf "%s %.6g \"%s\"\n", f[2], v, d == 1 ? human(v) : sprintf("%.0f", v)
        }' "$MED" | sort -n
}

# place FILE...: appends to each "X VALUE LABEL" line where its label goes so that the labels at
# one X do not overlap: 1 above the point (the highest value there), 3 below (the lowest), and
# any other beside it: 4 left at the first X (where no line comes from the left), else 2 right.
place() {
    local f
    awk '{ if (!($1 in hi) || $2 + 0 > hi[$1]) hi[$1] = $2 + 0; if (!($1 in lo) || $2 + 0 < lo[$1]) lo[$1] = $2 + 0 }
        END { for (x in hi) print x, hi[x], lo[x] }' "$@" | sort -n >"$TMP/range"
    for f in "$@"; do
        awk 'NR == FNR { hi[$1] = $2; lo[$1] = $3; if (FNR == 1) first = $1; next }
            { print $0, ($2 + 0 == hi[$1] ? 1 : $2 + 0 == lo[$1] ? 3 : $1 == first ? 4 : 2) }' "$TMP/range" "$f" >"$f.p" &&
            mv "$f.p" "$f"
    done
}

# slot J COUNT WIDTH: the X offset of series J (from 0) of COUNT side by side within WIDTH.
slot() { awk -v j="$1" -v n="$2" -v w="$3" 'BEGIN { printf "%+.3f\n", -w / 2 + w / n * (j + 0.5) }'; }

# thousands N: 15000 -> 15,000
thousands() { awk -v n="$1" 'BEGIN { s = sprintf("%d", n); while (s ~ /[0-9][0-9][0-9][0-9]/) sub(/[0-9][0-9][0-9]($|,)/, ",&", s); print s }'; }

# preamble OUTFILE WIDTH HEIGHT TITLE: gnuplot's common settings.
preamble() {
    cat <<EOF
set terminal svg size $2,$3 noenhanced font "sans-serif,13" background rgb "white"
set encoding utf8
set output "$1"
set label 98 "$4" at screen 0.5, screen 1 - 24.0 / $3 center font ",15"
set label 99 "$LABEL" at screen 0.5, screen 1 - 44.0 / $3 center font ",10" textcolor rgb "#666666"
set tmargin 5
set style textbox opaque noborder margins 1, 1
set border 3 lc rgb "#444444"
set tics nomirror
set grid lc rgb "#e3e3e3" lw 1
set key outside bottom center horizontal samplen 2
set bmargin 6
EOF
}

WROTE='' FAILED=0

# draw NAME: runs $TMP/NAME.gp, which writes $OUT/NAME.svg.
draw() {
    if LC_ALL=C.UTF-8 timeout 60 "$GNUPLOT" "$TMP/$1.gp" 2>"$TMP/$1.err" && [ -s "$OUT/$1.svg" ]; then
        WROTE="$WROTE $OUT/$1.svg"
    else
        note "gnuplot failed on $1.svg:"
        sed 's/^/    /' "$TMP/$1.err" >&2
        rm -f "$OUT/$1.svg"
        FAILED=1
    fi
}

# chart_fanout SIZE NAME: delivered rate against followers, one line per peer.
chart_fanout() {
    local size=$1 name=$2 key div ylabel title xs peer col title_p plot='' xmin xmax tics='' x lab r
    if [ "$size" = 64 ]; then
        key=del_msgs_ps div=1 ylabel="delivered messages/s, all followers (log scale)"
        title="Fan-out of 64-byte messages: messages delivered per second"
    else
        key=del_Bps div=1e6 ylabel="delivered MB/s, all followers"
        title="Fan-out of 16 KiB messages: megabytes delivered per second"
    fi
    for peer in hfs bare nchan; do
        series "^fanout-[0-9]+-$size\$" "$peer" "$key" "$div" >"$TMP/$name-$peer.dat"
    done
    xs=$(cat "$TMP/$name"-*.dat | awk '{ print $1 }' | sort -un)
    [ -n "$xs" ] || { note "no fanout rows with $size-byte messages: no $name.svg"; return; }
    xmin=$(awk -v x="$(echo "$xs" | head -1)" 'BEGIN { print x / 2 }')
    xmax=$(awk -v x="$(echo "$xs" | tail -1)" 'BEGIN { print x * 2 }')
    for x in $xs; do tics="$tics${tics:+, }\"$(thousands "$x")\" $x"; done
    place "$TMP/$name"-*.dat
    for peer in hfs bare nchan; do
        [ -s "$TMP/$name-$peer.dat" ] || continue
        case $peer in
        hfs) col=$C_HFS title_p="httpfstream" ;;
        bare) col=$C_BARE title_p="bare epoll loop" ;;
        nchan) col=$C_NCHAN title_p="Nchan (nginx)" ;;
        esac
        plot="$plot${plot:+, }'$TMP/$name-$peer.dat' using 1:2 with linespoints lw 2.5 pt 7 ps 1.1 lc rgb '$col' title '$title_p'"
        # One labels plot per place used (gnuplot 5.4 crashes on a labels plot with no point).
        for r in 1 2 3 4; do
            awk -v r=$r '$4 == r { f = 1 } END { exit !f }' "$TMP/$name-$peer.dat" || continue
            case $r in
            1) lab="offset 0,0.9" ;;
            2) lab="boxed left offset 0.9,0" ;;
            3) lab="offset 0,-0.9" ;;
            4) lab="boxed right offset -0.9,0" ;;
            esac
            plot="$plot, '' using 1:(\$4 == $r ? \$2 : NaN):3 with labels $lab font ',10' textcolor rgb '$col' notitle"
        done
    done
    {
        preamble "$OUT/$name.svg" 820 500 "$title"
        echo "set logscale x; set xrange [$xmin:$xmax]; set xtics ($tics)"
        echo "set xlabel 'followers of one resource (log scale)'"
        echo "set ylabel '$ylabel'"
        # Room above and below the points for their labels.
        if [ "$size" = 64 ]; then
            echo "set logscale y; set format y '%.0s%c'"
            cat "$TMP/$name"-*.dat | awk 'NR == 1 || $2 < lo { lo = $2 } NR == 1 || $2 > hi { hi = $2 }
                END { printf "set yrange [%g:%g]\n", lo / 2.5, hi * 2.5 }'
        else
            cat "$TMP/$name"-*.dat | awk '$2 > hi { hi = $2 } END { printf "set yrange [0:%g]\n", hi * 1.12 }'
        fi
        echo "plot $plot"
    } >"$TMP/$name.gp"
    draw "$name"
}

# chart_latency: p50 (open circle) to p99.9 (triangle), p99 filled, per configuration and peer.
chart_latency() {
    local cfgs i=0 cfg n r tics='' peer src p k col title_p off plot='' sep='' f
    cfgs=$(awk '$1 ~ /^latency-[0-9]+-[0-9]+$/ { print $1 }' "$MED" | sort -u | sort -t- -k2,2n -k3,3n)
    [ -n "$cfgs" ] || { note "no latency rows: no latency.svg"; return; }
    for cfg in $cfgs; do
        n=${cfg#latency-} r=${n#*-} n=${n%-*}
        tics="$tics${tics:+, }\"$(thousands "$n") followers\\n$(thousands "$r") msgs/s\" $i"
        [ $i -gt 0 ] && sep="$sep set arrow from $i - 0.5, graph 0 to $i - 0.5, graph 1 nohead lc rgb '#cccccc';"
        i=$((i + 1))
    done
    # p: ours, bare counted from when each record was due, bare from when its loop starts writing
    # the record (its write-pass floor), Nchan.
    for p in hfs:lat bare:lat_due floor:lat nchan:lat; do
        peer=${p%%:*} k=${p#*:}
        [ "$peer" = floor ] && src=bare || src=$peer
        awk -v p="$src" -v k="$k" -v cfgs="$(tr '\n' ' ' <<<"$cfgs")" '
            BEGIN { n = split(cfgs, c, " "); for (i = 1; i <= n; i++) x[c[i]] = i - 1 }
            $2 == p && ($1 in x) && $3 ~ "^" k "_p(50|99|999)_us$" { v[$1, $3] = $4 / 1e3 }
            END {
                for (i = 1; i <= n; i++) {
                    if (!((c[i], k "_p99_us") in v)) continue # a row needs its p99
                    printf "%d", x[c[i]]
                    split("50 99 999", q, " ")
                    for (j = 1; j <= 3; j++) {
                        key = k "_p" q[j] "_us"
                        if ((c[i], key) in v) printf " %.6g", v[c[i], key]; else printf " ?"
                    }
                    printf "\n"
                }
            }' "$MED" >"$TMP/latency-$peer.dat"
    done
    local peers='' j=0
    for peer in hfs bare floor nchan; do [ -s "$TMP/latency-$peer.dat" ] && peers="$peers $peer"; done
    for peer in $peers; do
        off=$(slot $j "$(wc -w <<<"$peers")" 0.72) j=$((j + 1))
        case $peer in
        hfs) col=$C_HFS title_p="httpfstream" ;;
        bare) col=$C_BARE title_p="bare, from when due" ;;
        floor) col=$C_FLOOR title_p="bare, write-pass floor" ;;
        nchan) col=$C_NCHAN title_p="Nchan (nginx)" ;;
        esac
        f="'$TMP/latency-$peer.dat'"
        plot="$plot${plot:+, }$f using (\$1$off):3:2:(valid(4) ? \$4 : \$3) with yerrorbars lw 2.5 pt 7 ps 1.1 lc rgb '$col' title '$title_p'"
        plot="$plot, $f using (\$1$off):2 with points pt 6 ps 1.1 lw 2 lc rgb '$col' notitle"
        plot="$plot, $f using (\$1$off):4 with points pt 9 ps 1.4 lc rgb '$col' notitle"
        plot="$plot, $f using (\$1$off + 0.05):3:(ms(\$3)) with labels left font ',9' textcolor rgb '$col' notitle"
    done
    {
        preamble "$OUT/latency.svg" 900 540 "Latency from append to follower: p50, p99, p99.9 (64-byte records)"
        echo "set datafile missing '?'"
        echo "ms(v) = v >= 1000 ? sprintf('%.1f s', v / 1000) : v >= 100 ? sprintf('%.0f', v) : v >= 10 ? sprintf('%.1f', v) : sprintf('%.2f', v)"
        echo "set bars small"
        echo "set xrange [-0.5:$i - 0.5]; set xtics ($tics) scale 0; set grid noxtics ytics"
        echo "$sep"
        echo "set logscale y; set format y '%g'"
        echo "set ylabel 'milliseconds (log scale)'"
        echo "set label 97 '○ p50      ● p99 (labelled)      ▲ p99.9' at screen 0.5, screen 1 - 68.0 / 540 center font ',12'"
        echo "set tmargin 6"
        echo "plot $plot"
    } >"$TMP/latency.gp"
    draw latency
}

# chart_memory: server RSS per follower with idle followers, bars for ours and Nchan.
chart_memory() {
    local xs i=0 x tics='' peer off col title_p plot='' f
    for peer in hfs nchan; do
        series '^idle-[0-9]+$' "$peer" rss_per_follower_kib 1 >"$TMP/memory-$peer.dat"
    done
    xs=$(cat "$TMP"/memory-*.dat | awk '{ print $1 }' | sort -un)
    [ -n "$xs" ] || { note "no idle rows: no memory.svg"; return; }
    # Bars at 0, 1, ...: replace each X by its index.
    for x in $xs; do
        tics="$tics${tics:+, }\"$(thousands "$x") idle followers\" $i"
        for peer in hfs nchan; do
            awk -v x="$x" -v i="$i" '$1 == x { $1 = i } { print }' "$TMP/memory-$peer.dat" >"$TMP/m" &&
                mv "$TMP/m" "$TMP/memory-$peer.dat"
        done
        i=$((i + 1))
    done
    local peers='' j=0
    for peer in hfs nchan; do [ -s "$TMP/memory-$peer.dat" ] && peers="$peers $peer"; done
    for peer in $peers; do
        off=$(slot $j "$(wc -w <<<"$peers")" 0.76) j=$((j + 1))
        case $peer in
        hfs) col=$C_HFS title_p="httpfstream" ;;
        nchan) col=$C_NCHAN title_p="Nchan (nginx)" ;;
        esac
        f="'$TMP/memory-$peer.dat'"
        plot="$plot${plot:+, }$f using (\$1$off):2:(0.36) with boxes fill solid 0.85 noborder lc rgb '$col' title '$title_p'"
        plot="$plot, $f using (\$1$off):2:(sprintf('%.2f KiB', \$2)) with labels offset 0,0.8 font ',11' textcolor rgb '$col' notitle"
    done
    plot="$plot, 2 with lines dt 2 lw 1.5 lc rgb '#333333' title 'target: at most 2 KiB'"
    {
        preamble "$OUT/memory.svg" 700 460 "Server memory per idle follower (100 resources, pings every 3 s)"
        echo "set xrange [-0.6:$i - 0.4]; set xtics ($tics) scale 0; set grid noxtics ytics"
        echo "set yrange [0:*]; set offsets 0, 0, graph 0.1, 0"
        echo "set ylabel 'server RSS KiB per follower'"
        echo "plot $plot"
    } >"$TMP/memory.gp"
    draw memory
}

chart_fanout 64 fanout-64b
chart_fanout 16384 fanout-16kib
chart_latency
chart_memory

if [ -n "$WROTE" ]; then
    note "wrote$WROTE"
else
    note "nothing to chart in $RES"
fi
exit $FAILED
