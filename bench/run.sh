#!/bin/bash
# run.sh -- `make bench`: runs every scenario against our server, the machine's bare limit and
# Nchan, RUNS times each (interleaved), and prints one markdown table of medians and ratios.
#
#   bench/run.sh [BUILD] [SCENARIO...]     SCENARIO: fanout latency idle ingest many auth
#                                          metrics ds nats (default all)
#
# nats measures the replicated store (-store=nats://..., docs/SCALE-OUT.md): three nats-server
# (tests/nats/cluster.sh) and three nodes on loopback, a fresh cluster each run, nothing pinned
# (six processes and the load generator share the machine). Ingest: one appender of 64 KiB
# messages through node 1, one follower on node 2, against bench/nats_pub (a plain nats.c loop of
# js_PublishMsgAsync, 64 KiB messages, an R3 file stream) in the same run, as a ratio (goal
# >= 0.70). Fan-out: 1,000 followers spread over the three nodes, 16 KiB messages appended
# through node 1. Latency: 64-byte timestamped records at 100/s through node 1, 100 followers on
# nodes 2 and 3: p50/p99 from the append to the follower. Skipped when nats-server or the -store
# flag is missing.
#
# metrics measures what -metrics costs the fan-out: 100 followers of one resource, 64-byte
# messages as fast as they go, against our server without -metrics and with -metrics scraped 10
# times a second (curl on one keep-alive connection, pinned with the load generator), interleaved,
# as a ratio.
#
# auth measures what access control costs a follower's handshake: 10,000 WebSocket FOLLOW
# handshakes (connect to 101, 64 at once, each sending a bearer token) against our server without
# -auth and with -auth=FILE (about 100 rules, the token's last), interleaved, as a ratio. A server
# without the -auth flag runs the first half only.
#
# ds compares our Durable Streams protocol (/v1/stream/) with the reference server
# (@durable-streams/server, file-backed; bench/ds/): appends, idempotent-producer batches, SSE
# fan-out and long-poll latency, through bench/dsload.
#
# Environment: QUICK=1 (one run each, shorter windows), RUNS=N (default 3), PEERS="hfs bare
# nchan dsref" (which targets to run; dsref is the Durable Streams reference, ds only), PIN=0 (do
# not pin), KEEP=1 (keep the scratch folder), DS_LONG_POLL (the long-poll timeout both Durable
# Streams servers get, which is also their SSE keep-alive interval: default 30s), DS_HFS_FLAGS
# (more flags for our server in the ds runs, e.g. -sync=interval=1s).
# Writes build/bench/results-STAMP.txt (raw RESULT lines), .md (the table) and charts-STAMP/*.svg
# (bench/charts.sh, when gnuplot is installed).
#
# CPUs: the server under test (our server, or nginx with one worker) is pinned to CPU 0 and the
# load generator to CPU 1; the bare peer's writer and drainer are pinned the same way. Each row
# also reports the load generator's own CPU use: near 100% it, not the server, was the limit.
# Every run starts a fresh server with a fresh root, so RSS and CPU are the run's own.
set -u

BUILD=${1:-build}
[ $# -gt 0 ] && shift
SCENARIOS=${*:-fanout latency idle ingest many auth metrics ds nats}
QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then RUNS=${RUNS:-1}; else RUNS=${RUNS:-3}; fi
PEERS=${PEERS:-hfs bare nchan dsref}
PIN=${PIN:-1}
HERE=$(cd "$(dirname "$0")" && pwd)
LOADGEN=$BUILD/bench/loadgen
DSLOAD=$BUILD/bench/dsload
BARE=$BUILD/bench/bare_fanout
NATSPUB=$BUILD/bench/nats_pub
SERVER=$BUILD/bin/httpfstream-server

# Windows are short because every follower must then receive all it is behind (at 1,000 x 16 KiB
# the drain takes longer than the window) and the whole run should stay well under 30 minutes.
if [ "$QUICK" = 1 ]; then
    FAN_D=1 LAT_D=3 IDLE_D=7 ING_D=3 MANY_D=5 DRAIN=60 DS_APP_D=1 DS_SSE_D=2 DS_LP_D=3
else
    FAN_D=2 LAT_D=4 IDLE_D=8 ING_D=4 MANY_D=8 DRAIN=90 DS_APP_D=2 DS_SSE_D=3 DS_LP_D=4
fi
# Durable Streams: the long-poll timeout of both servers (ours: -long-poll; the reference:
# longPollTimeout), which is also how often they send an idle SSE reader a keep-alive. The
# conformance suite needs it short (ours runs it with 1s), but the reference commits its
# metadata to disk synchronously on every read, so with 1,000 readers a 1 s timeout alone asks it
# for 2,000 synced commits a second, which makes it 3-4x slower here (and on a busy machine it
# never catches up). At 30 s (the reference's default) nothing times out within the windows, for
# either server.
DS_LONG_POLL=${DS_LONG_POLL:-30s}
case $DS_LONG_POLL in
*ms) DS_LP_MS=${DS_LONG_POLL%ms} ;;
*s) DS_LP_MS=$(awk -v s="${DS_LONG_POLL%s}" 'BEGIN { printf "%d", s * 1000 }') ;;
*) echo "run.sh: DS_LONG_POLL must end in s or ms" >&2; exit 2 ;;
esac
DS_DRAIN=15 DS_READERS=${DS_READERS:-1000}
HS_N=${HS_N:-10000} HS_INFLIGHT=${HS_INFLIGHT:-64}
FAN_NS=${FAN_NS:-"1 100 1000 10000"} IDLE_NS=${IDLE_NS:-"10000 15000"}
if [ "$PIN" = 1 ]; then
    SRV_CPU=0 LG_CPU=1
    SRV_TASKSET="taskset -c $SRV_CPU" LG_PIN="--cpu $LG_CPU" BARE_PIN="-W $SRV_CPU -R $LG_CPU"
else
    SRV_CPU='' SRV_TASKSET='' LG_PIN='' BARE_PIN=''
fi

for f in "$LOADGEN" "$DSLOAD" "$BARE" "$SERVER"; do
    [ -x "$f" ] || { echo "run.sh: $f missing (run make bench)" >&2; exit 2; }
done
SCRATCH=$(mktemp -d /tmp/hfs-bench.XXXXXX)
# The whole run uses copies taken now, so a rebuild while it runs cannot change or break it.
mkdir -p "$SCRATCH/bin"
cp "$LOADGEN" "$DSLOAD" "$BARE" "$SERVER" "$SCRATCH/bin/" || exit 2
if [ -x "$NATSPUB" ]; then cp "$NATSPUB" "$SCRATCH/bin/"; NATSPUB=$SCRATCH/bin/nats_pub; fi
LOADGEN=$SCRATCH/bin/loadgen BARE=$SCRATCH/bin/bare_fanout SERVER=$SCRATCH/bin/httpfstream-server
DSLOAD=$SCRATCH/bin/dsload
RES=$SCRATCH/results.txt
: >"$RES"
SPID='' NCHAN_UP='' RPID='' NATS_UP='' NODE_PIDS=''

cleanup() {
    stop_hfs
    stop_nats
    stop_dsref
    stop_nchan
    if [ "${KEEP:-0}" = 1 ]; then echo "run.sh: scratch kept in $SCRATCH" >&2; else rm -rf "$SCRATCH"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "$*" >&2; }

# ---- servers -------------------------------------------------------------------------------

start_hfs() { # [extra server flags...]
    ROOT=$SCRATCH/root
    rm -rf "$ROOT"
    $SRV_TASKSET "$SERVER" -root="$ROOT" -http=127.0.0.1:0 -q "$@" 2>"$SCRATCH/server.log" &
    SPID=$!
    PORT=
    for _ in $(seq 100); do
        PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\),.*/\1/p' "$SCRATCH/server.log")
        [ -n "$PORT" ] && return 0
        kill -0 "$SPID" 2>/dev/null || break
        sleep 0.05
    done
    log "run.sh: the server did not start:"
    cat "$SCRATCH/server.log" >&2
    return 1
}

stop_hfs() {
    [ -n "$SPID" ] || return 0
    kill -TERM "$SPID" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$SPID" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$SPID" 2>/dev/null
    wait "$SPID" 2>/dev/null
    SPID=
    rm -rf "$SCRATCH/root"
}

# The Durable Streams reference server (bench/ds/refserver.mjs), file-backed under the scratch
# folder, on a free port; RPID is node itself (taskset execs it), so its CPU and RSS are sampled.
start_dsref() {
    local d=$SCRATCH/dsref
    rm -rf "$d"
    mkdir -p "$d"
    $SRV_TASKSET node "$HERE/ds/refserver.mjs" --port 0 --data "$d/data" --long-poll-ms "$DS_LP_MS" \
        >"$d/stdout.log" 2>"$d/stderr.log" &
    RPID=$!
    RPORT=
    for _ in $(seq 200); do
        RPORT=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$d/stderr.log")
        [ -n "$RPORT" ] && return 0
        kill -0 "$RPID" 2>/dev/null || break
        sleep 0.05
    done
    log "run.sh: the reference server did not start:"
    cat "$d/stderr.log" >&2
    return 1
}

stop_dsref() {
    [ -n "$RPID" ] || return 0
    kill -TERM "$RPID" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$RPID" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$RPID" 2>/dev/null
    wait "$RPID" 2>/dev/null
    RPID=
    [ "${KEEP:-0}" = 1 ] || rm -rf "$SCRATCH/dsref/data"
}

free_port() {
    local p
    while :; do
        p=$((20000 + RANDOM % 10000))
        ss -Htan "sport = :$p" 2>/dev/null | grep -q . || { echo $p; return; }
    done
}

start_nchan() {
    NPORT=$(free_port)
    NPIDS=$("$HERE/nchan.sh" start "$SCRATCH/nchan" "$NPORT" 1 $SRV_CPU) || return 1
    NCHAN_UP=1
}

stop_nchan() {
    [ -n "$NCHAN_UP" ] || return 0
    "$HERE/nchan.sh" stop "$SCRATCH/nchan"
    NCHAN_UP=
}

# ---- running and recording -----------------------------------------------------------------

# record CFG PEER RUN OUTPUT: keeps the RESULT line (or a failure) and says how it went.
record() {
    local cfg=$1 peer=$2 run=$3 out=$4 extra=${5:-}
    local line
    line=$(grep '^RESULT ' <<<"$out" | tail -1)
    if [ -z "$line" ]; then
        line="RESULT verify=FAIL error=no-result"
        log "  !! $cfg $peer run $run produced no result:"
        tail -5 <<<"$out" | sed 's/^/     /' >&2
    fi
    echo "$cfg $peer $run ${line#RESULT }$extra" >>"$RES"
    local v
    v=$(sed -n 's/.* verify=\([^ ]*\).*/\1/p' <<<"$line")
    if [ "$v" = FAIL ] || [ "$v" = incomplete ]; then
        log "  !! $cfg $peer run $run: verify=$v"
        grep -E '^(loadgen|dsload):' <<<"$out" | sed 's/^/     /' >&2
    fi
    log "  $cfg $peer run $run: $(summary "$line")"
}

summary() {
    tr ' ' '\n' <<<"$1" | grep -E '^(del_Bps|del_msgs_ps|del_run_msgs_ps|app_Bps|app_msgs_ps|req_ps|hs_ps|hs_p99_us|srv_cpu_us_per_hs|complete|lat_p50_us|lat_p99_us|rss_per_follower_kib|srv_cpu_win_pct|lg_cpu_pct|srv_cpu_s_per_GB|pings_on_time|others_pct|verify)=' | tr '\n' ' '
}

# start_scraper: GET /metrics 10 times a second on one keep-alive connection, from the load
# generator's CPU, on the port the server's "metrics on" line names (SCRAPER: its pid).
start_scraper() {
    local mport
    mport=$(sed -n 's/.*metrics on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$SCRATCH/server.log")
    [ -n "$mport" ] || { log "run.sh: no metrics port in the server's log"; return 1; }
    ${LG_CPU:+taskset -c $LG_CPU} curl -s -o /dev/null --rate 10/s \
        "http://127.0.0.1:$mport/metrics?[1-100000]" &
    SCRAPER=$!
}

run_hfs() { # CFG RUN SCENARIO [loadgen args...]   (HFS_SRV_FLAGS: more server flags;
    local cfg=$1 run=$2 sc=$3 out #                HFS_SCRAPE=1: scrape -metrics meanwhile)
    shift 3
    # shellcheck disable=SC2086 # HFS_SRV_FLAGS: several flags
    start_hfs ${HFS_SRV_FLAGS:-} || { record "$cfg" hfs "$run" ""; return; }
    SCRAPER=
    [ "${HFS_SCRAPE:-0}" = 1 ] && start_scraper
    out=$(timeout 600 "$LOADGEN" "$sc" --port "$PORT" --root "$SCRATCH/root" --server-pid "$SPID" \
        $LG_PIN --drain "$DRAIN" "$@" 2>&1)
    if [ -n "$SCRAPER" ]; then
        kill "$SCRAPER" 2>/dev/null
        wait "$SCRAPER" 2>/dev/null
    fi
    if ! kill -0 "$SPID" 2>/dev/null; then
        log "  !! the server died during $cfg run $run"
        out="$out
RESULT verify=FAIL error=server-died"
    fi
    stop_hfs
    record "$cfg" hfs "$run" "$out"
}

run_nchan() { # CFG RUN SCENARIO [loadgen args...]
    local cfg=$1 run=$2 sc=$3 out missed
    shift 3
    start_nchan || { record "$cfg" nchan "$run" ""; return; }
    out=$(timeout 600 "$LOADGEN" "$sc" --nchan --port "$NPORT" --server-pid "$NPIDS" $LG_PIN \
        --drain 10 "$@" 2>&1)
    missed=$(grep -c 'Missed message' "$SCRATCH/nchan/error.log" 2>/dev/null)
    kill -0 "$(cat "$SCRATCH/nchan/nginx.pid" 2>/dev/null)" 2>/dev/null || out="$out
RESULT verify=FAIL error=nginx-died"
    stop_nchan
    record "$cfg" nchan "$run" "$out" " nchan_missed_logs=${missed:-0}"
}

run_bare() { # CFG PEER RUN [bare_fanout args...]
    local cfg=$1 peer=$2 run=$3 out
    shift 3
    out=$(timeout 600 "$BARE" "$@" $BARE_PIN 2>&1)
    record "$cfg" "$peer" "$run" "$out"
}

# Durable Streams: ours (under /v1/stream/, -long-poll as DS_LONG_POLL) or the reference, a fresh
# server each run; dsload checks every byte (bench/README.md).
run_ds() { # CFG PEER RUN SCENARIO [dsload args...]
    local cfg=$1 peer=$2 run=$3 sc=$4 out pid port
    shift 4
    if [ "$peer" = hfs ]; then
        # shellcheck disable=SC2086 # DS_HFS_FLAGS: several flags
        start_hfs -long-poll="$DS_LONG_POLL" ${DS_HFS_FLAGS:-} || { record "$cfg" "$peer" "$run" ""; return; }
        pid=$SPID port=$PORT
    else
        start_dsref || { record "$cfg" "$peer" "$run" ""; return; }
        pid=$RPID port=$RPORT
    fi
    out=$(timeout 300 "$DSLOAD" "$sc" --port "$port" --server-pid "$pid" --label "$peer" $LG_PIN \
        --drain "$DS_DRAIN" "$@" 2>&1)
    if ! kill -0 "$pid" 2>/dev/null; then
        log "  !! the $peer server died during $cfg run $run"
        out="$out
RESULT verify=FAIL error=server-died"
    fi
    if [ "$peer" = hfs ]; then stop_hfs; else stop_dsref; fi
    record "$cfg" "$peer" "$run" "$out"
}

has_peer() { [[ " $PEERS " == *" $1 "* ]]; }

scenario_fanout() {
    for n in $FAN_NS; do
        for s in 64 16384; do
            local cfg="fanout-$n-$s"
            for run in $(seq "$RUNS"); do
                has_peer hfs && run_hfs "$cfg" "$run" fanout -n "$n" -s "$s" -d "$FAN_D"
                has_peer bare && run_bare "$cfg" bare "$run" fanout -n "$n" -s "$s" -d "$FAN_D"
                # Closed loop: Nchan drops messages when a publisher outruns it, so its
                # publisher keeps at most 8 messages not yet echoed back.
                has_peer nchan && run_nchan "$cfg" "$run" fanout -n "$n" -s "$s" -d "$FAN_D" \
                    --ahead 8
            done
        done
    done
}

scenario_latency() {
    for n in 100 1000; do
        for r in 100 1000; do
            local cfg="latency-$n-$r"
            for run in $(seq "$RUNS"); do
                has_peer hfs && run_hfs "$cfg" "$run" latency -n "$n" --rate "$r" -d "$LAT_D"
                has_peer bare && run_bare "$cfg" bare "$run" latency -n "$n" --rate "$r" -d "$LAT_D"
                has_peer nchan && run_nchan "$cfg" "$run" latency -n "$n" --rate "$r" -d "$LAT_D"
            done
        done
    done
}

scenario_idle() {
    for n in $IDLE_NS; do
        local cfg="idle-$n"
        for run in $(seq "$RUNS"); do
            has_peer hfs && run_hfs "$cfg" "$run" idle -n "$n" -r 100 -d "$IDLE_D" --ping-ms 3000
            has_peer nchan && run_nchan "$cfg" "$run" idle -n "$n" -r 100 -d "$IDLE_D" \
                --ping-ms 3000
        done
    done
}

scenario_ingest() {
    local cfg=ingest saved=$SRV_TASKSET
    for run in $(seq "$RUNS"); do
        # Ours twice: on CPU 0 only, as everywhere else, and free to use both CPUs (its file
        # writes run on a thread-pool thread: write-behind), so the row shows 1 -> 2 core scaling.
        has_peer hfs && run_hfs "ingest-1cpu" "$run" ingest -d "$ING_D"
        [ -n "$saved" ] && SRV_TASKSET="taskset -c 0,1"
        has_peer hfs && run_hfs "$cfg" "$run" ingest -d "$ING_D"
        SRV_TASKSET=$saved
        if has_peer bare; then
            run_bare "$cfg" bare_tcp "$run" tcp -s 65536 -d "$ING_D"
            run_bare "$cfg" bare_file "$run" file -s 65536 -d "$ING_D" --dir "$SCRATCH"
        fi
        has_peer nchan && run_nchan "$cfg" "$run" ingest -d "$ING_D"
    done
}

scenario_many() {
    local cfg=many
    for run in $(seq "$RUNS"); do
        has_peer hfs && run_hfs "$cfg" "$run" many -d "$MANY_D"
        has_peer nchan && run_nchan "$cfg" "$run" many -d "$MANY_D"
    done
}

# The rules file of the auth scenario: 99 rules for other paths and tokens (plain, and stored as
# SHA-256), then the one that gives the load generator's token read access everywhere, last, so a
# server that tries rules in order tries them all.
auth_rules() { # FILE TOKEN
    local i
    {
        echo "# bench/run.sh auth: 100 rules, the load generator's token last"
        for i in $(seq 99); do
            case $((i % 3)) in
            0) echo "read,append /team-$i/ team-$i-$RANDOM$RANDOM" ;;
            1) echo "read /team-$i/ sha256:$(printf 'team-%s' "$i" | sha256sum | cut -c1-64)" ;;
            *) echo "append /ci/job-$i.log ci-$i-$RANDOM$RANDOM" ;;
            esac
        done
        echo "read / $2"
    } >"$1"
}

# Access control's cost per follower handshake: the same handshakes (all with the token) against
# ours without -auth and with it, interleaved.
scenario_auth() {
    local run rules=$SCRATCH/auth.rules token
    token=bench-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
    auth_rules "$rules" "$token"
    local with=1
    if ! "$SERVER" -h 2>&1 | grep -q -- '^  -auth='; then
        log "run.sh: this server has no -auth flag yet: the auth scenario runs without -auth only"
        with=0
    fi
    has_peer hfs || return 0
    for run in $(seq "$RUNS"); do
        run_hfs auth-off "$run" handshakes -n "$HS_N" --inflight "$HS_INFLIGHT" --token "$token"
        [ "$with" = 1 ] && HFS_SRV_FLAGS="-auth=$rules" run_hfs auth-on "$run" handshakes \
            -n "$HS_N" --inflight "$HS_INFLIGHT" --token "$token"
    done
}

# What -metrics costs the fan-out: the same fan-out without -metrics and with it scraped 10 times
# a second (150 times Prometheus' default interval), interleaved.
scenario_metrics() {
    local run
    has_peer hfs || return 0
    if ! "$SERVER" -h 2>&1 | grep -q -- '^  -metrics='; then
        log "run.sh: this server has no -metrics flag: the metrics scenario is skipped"
        return 0
    fi
    for run in $(seq "$RUNS"); do
        run_hfs metrics-off "$run" fanout -n 100 -s 64 -d "$FAN_D"
        HFS_SRV_FLAGS="-metrics=127.0.0.1:0" HFS_SCRAPE=1 run_hfs metrics-on "$run" fanout \
            -n 100 -s 64 -d "$FAN_D"
    done
}

# Durable Streams, ours against the reference, interleaved: each run does every configuration
# with ours, then with the reference. Appends: 4 keep-alive connections POSTing 64 KiB bodies
# to one stream as fast as answered. Producers: 4 idempotent producers, each POSTing batches of
# 100 64-byte JSON messages (one application/json array per POST). SSE: 1,000 readers of a
# text/plain stream, 4 writers POSTing one 64-byte record per request as fast as answered (so a
# server can deliver several appends in one write; the reference's rate is the same with 1, 4
# or 16 writers, ours grows with them).
# Long-poll: 1,000 readers waiting at the tail; one record POSTed each time every reader has had
# the last one and is polling again (50 ms later).
scenario_ds() {
    local peers="" p run
    for p in hfs dsref; do has_peer "$p" && peers="$peers $p"; done
    for run in $(seq "$RUNS"); do
        for p in $peers; do
            run_ds ds-append "$p" "$run" append -w 4 -s 65536 -d "$DS_APP_D"
            run_ds ds-producer "$p" "$run" producer -w 4 --batch 100 -s 64 -d "$DS_APP_D"
            run_ds ds-sse "$p" "$run" sse -n "$DS_READERS" -w 4 -d "$DS_SSE_D"
            run_ds ds-longpoll "$p" "$run" longpoll -n "$DS_READERS" --gap-ms 50 -d "$DS_LP_D"
        done
    done
}

# ---- nats: three nats-server and three nodes ----------------------------------------------

CLUSTER=$HERE/../tests/nats/cluster.sh

# start_nats [NODES]: a fresh cluster (NATS_URLS) and NODES (default 3) nodes on it, each with its
# own -root ($SCRATCH/nodeI); NODE_PORT_I and NODE_PIDS (comma-separated) say where they are.
start_nats() {
    local i n=${1:-3} d=$SCRATCH/nats log
    rm -rf "$d" "$SCRATCH"/node?
    NATS_URLS=$(sh "$CLUSTER" start "$d") || { log "run.sh: the NATS cluster did not start"; return 1; }
    NATS_UP=1 NODE_PIDS=''
    for i in $(seq "$n"); do
        log=$SCRATCH/node$i.log
        "$SERVER" -root="$SCRATCH/node$i" -http=127.0.0.1:0 -q -store="$NATS_URLS" \
            2>"$log" &
        NODE_PIDS=$NODE_PIDS${NODE_PIDS:+,}$!
        local port=''
        for _ in $(seq 600); do
            port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\),.*/\1/p' "$log")
            [ -n "$port" ] && break
            kill -0 $! 2>/dev/null || break
            sleep 0.05
        done
        [ -n "$port" ] || { log "run.sh: node $i did not start:"; cat "$log" >&2; return 1; }
        eval "NODE_PORT_$i=$port"
    done
}

stop_nats() {
    local p
    for p in ${NODE_PIDS//,/ }; do kill -TERM "$p" 2>/dev/null; done
    for p in ${NODE_PIDS//,/ }; do
        for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
        kill -KILL "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    NODE_PIDS=''
    [ -n "$NATS_UP" ] || return 0
    sh "$CLUSTER" stop "$SCRATCH/nats"
    NATS_UP=''
    rm -rf "$SCRATCH/nats" "$SCRATCH"/node?
}

# run_nats CFG RUN SCENARIO FOLLOW_NODES [loadgen args...]: the appender on node 1, the followers
# on the nodes listed (e.g. "2 3"), verified against node 1's copy.
run_nats() {
    local cfg=$1 run=$2 sc=$3 fnodes=$4 out ports='' i
    shift 4
    start_nats || { stop_nats; record "$cfg" hfs "$run" ""; return; }
    for i in $fnodes; do ports=$ports${ports:+,}$(eval echo "\$NODE_PORT_$i"); done
    out=$(timeout 600 "$LOADGEN" "$sc" --port "$NODE_PORT_1" --root "$SCRATCH/node1" \
        --server-pid "$NODE_PIDS" --follow-ports "$ports" --drain "$DRAIN" "$@" 2>&1)
    for i in ${NODE_PIDS//,/ }; do
        kill -0 "$i" 2>/dev/null || out="$out
RESULT verify=FAIL error=node-died"
    done
    stop_nats
    record "$cfg" hfs "$run" "$out"
}

run_natspub() { # CFG RUN [nats_pub args...]
    local cfg=$1 run=$2 out
    shift 2
    start_nats 0 || { stop_nats; record "$cfg" natspub "$run" ""; return; }
    out=$(timeout 300 "$NATSPUB" --servers "$NATS_URLS" "$@" 2>&1)
    stop_nats
    record "$cfg" natspub "$run" "$out"
}

scenario_nats() {
    if ! command -v nats-server >/dev/null 2>&1; then
        log "run.sh: nats-server is not installed (scripts/deps.sh test): the nats scenario is skipped"
        return 0
    fi
    if ! "$SERVER" -h 2>&1 | grep -q -- '-store'; then
        log "run.sh: this server has no -store flag: the nats scenario is skipped"
        return 0
    fi
    [ -x "$NATSPUB" ] || { log "run.sh: $NATSPUB missing (make bench builds it)"; return 0; }
    local run
    for run in $(seq "$RUNS"); do
        run_natspub nats-ingest "$run" --size 65536 --duration "$ING_D" --replicas 3
        run_nats nats-ingest "$run" ingest "2" -s 65536 -d "$ING_D"
        run_nats nats-fanout "$run" fanout "1 2 3" -n 1000 -s 16384 -d "$FAN_D"
        run_nats nats-latency "$run" latency "2 3" -n 100 --rate 100 -d "$LAT_D"
    done
}

# The reference server needs node and its package (scripts/deps.sh bench installs both).
dsref_ready() {
    command -v node >/dev/null 2>&1 && [ -d "$HERE/ds/node_modules/@durable-streams/server" ]
}

# ---- the table -----------------------------------------------------------------------------

# med CFG PEER KEY: the median of KEY over the runs, or "-".
med() {
    awk -v c="$1" -v p="$2" -v k="$3" '$1 == c && $2 == p {
        for (i = 4; i <= NF; i++) { n = index($i, "="); if (substr($i, 1, n - 1) == k) print substr($i, n + 1) } }' "$RES" |
        sort -g | awk '{ a[NR] = $1 } END {
            if (NR == 0) { print "-"; exit }
            if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

# all CFG PEER KEY: every run's value, e.g. "ok/ok/ok".
all() {
    awk -v c="$1" -v p="$2" -v k="$3" '$1 == c && $2 == p {
        v = "-"; for (i = 4; i <= NF; i++) { n = index($i, "="); if (substr($i, 1, n - 1) == k) v = substr($i, n + 1) }
        print v }' "$RES" | paste -sd/ -
}

# Formatting: fmt_div VALUE DIVISOR DECIMALS; ratio A B (A/B, 2 decimals).
fmt_div() { awk -v v="$1" -v d="$2" -v p="$3" 'BEGIN { if (v == "-" || v == "") print "-"; else printf "%.*f\n", p, v / d }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || a == "" || b == "" || b == 0) print "-"; else printf "%.2fx\n", a / b }'; }
cmp_ge() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || a == "" || b == "") print "?"; else print (a + 0 >= b + 0) ? "MET" : "MISSED" }'; }
cmp_le() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || a == "" || b == "") print "?"; else print (a + 0 <= b + 0) ? "MET" : "MISSED" }'; }
min2() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-") print b; else if (b == "-") print a; else print (a + 0 < b + 0) ? a : b }'; }
mul() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || a == "") print "-"; else print a * b }'; }
has_cfg() { awk -v c="$1" '$1 == c { f = 1 } END { exit !f }' "$RES"; }

# With Durable Streams rows (DS_COLS=1) the table has two more columns, the reference and
# ours/reference, before the target; other rows have none there, ds rows no bare or Nchan.
row() { # scenario setting metric ours bare ours/bare nchan ours/nchan target notes
    if [ "${DS_COLS:-0}" = 1 ]; then
        printf '| %s | %s | %s | %s | %s | %s | %s | %s | - | - | %s | %s |\n' "$@"
    else
        printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$@"
    fi
}
row_ds() { # scenario setting metric ours reference ours/reference target notes
    printf '| %s | %s | %s | %s | - | - | - | - | %s | %s | %s | %s |\n' "$@"
}

print_table() {
    local cpu
    cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
    echo
    echo "## httpfstream bench: medians of $RUNS run(s)"
    echo
    echo "Machine: $(nproc) CPUs ($cpu), kernel $(uname -r), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) RAM;" \
        "server (ours / nginx+Nchan, 1 worker) on CPU ${SRV_CPU:-any}, load generator on CPU ${LG_CPU:-any};" \
        "$(git -C "$HERE/.." rev-parse --short HEAD 2>/dev/null || echo '?') $(date -u +%Y-%m-%dT%H:%MZ)"
    echo
    DS_COLS=0
    awk '$1 ~ /^ds-/ { f = 1 } END { exit !f }' "$RES" && DS_COLS=1
    if [ "$DS_COLS" = 1 ]; then
        echo "| scenario | setting | metric | ours | bare | ours/bare | Nchan | ours/Nchan | DS reference | ours/reference | target | notes (ours) |"
        echo "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |"
    else
        row scenario setting metric ours bare ours/bare Nchan ours/Nchan target "notes (ours)"
        row --- --- --- ---: ---: ---: ---: ---: --- ---
    fi
    local n s cfg o b c
    for n in $FAN_NS; do
        for s in 64 16384; do
            cfg="fanout-$n-$s"
            has_cfg "$cfg" || continue
            local target='' notes
            notes="appender $(fmt_div "$(med "$cfg" hfs app_Bps)" 1e6 1) MB/s; srv CPU $(med "$cfg" hfs srv_cpu_win_pct)%; loadgen CPU $(med "$cfg" hfs lg_cpu_pct)% (bare drainer $(med "$cfg" bare drainer_cpu_pct)%); drain $(med "$cfg" hfs drain_s) s; verify $(all "$cfg" hfs verify)"
            if [ "$s" = 64 ]; then
                o=$(med "$cfg" hfs del_msgs_ps) b=$(med "$cfg" bare del_msgs_ps) c=$(med "$cfg" nchan del_msgs_ps)
                [ "$n" = 1000 ] && target="≥20x bare: $(cmp_ge "$o" "$(mul "$b" 20)"); > Nchan: $(cmp_ge "$o" "$c")"
                row fanout "$n x 64 B" "delivered msgs/s" "$(fmt_div "$o" 1e3 0)k" "$(fmt_div "$b" 1e3 0)k" \
                    "$(ratio "$o" "$b")" "$(fmt_div "$c" 1e3 0)k" "$(ratio "$o" "$c")" "$target" "$notes"
            else
                o=$(med "$cfg" hfs del_Bps) b=$(med "$cfg" bare del_Bps) c=$(med "$cfg" nchan del_Bps)
                [ "$n" = 1000 ] && target="≥0.80x bare: $(cmp_ge "$o" "$(mul "$b" 0.8)")"
                row fanout "$n x 16 KiB" "delivered MB/s" "$(fmt_div "$o" 1e6 0)" "$(fmt_div "$b" 1e6 0)" \
                    "$(ratio "$o" "$b")" "$(fmt_div "$c" 1e6 0)" "$(ratio "$o" "$c")" "$target" "$notes"
            fi
        done
    done
    local r
    for n in 100 1000; do
        for r in 100 1000; do
            cfg="latency-$n-$r"
            has_cfg "$cfg" || continue
            # Bare latency, like ours, counts from when a record was due (the appender sent it): an
            # overloaded one-write-per-message loop falls behind. Its write-pass floor (from when
            # its loop starts writing a record) is compared too, in the target column.
            o=$(med "$cfg" hfs lat_p99_us) b=$(med "$cfg" bare lat_due_p99_us) c=$(med "$cfg" nchan lat_p99_us)
            local target= floor
            floor=$(med "$cfg" bare lat_p99_us)
            [ "$n" = 1000 ] && [ "$r" = 100 ] && target="p99 ≤1.5x bare: $(cmp_le "$o" "$(mul "$b" 1.5)"); vs its write-pass floor $(fmt_div "$floor" 1e3 2) ms: $(ratio "$o" "$floor")"
            row latency "$n followers, $r msg/s" "p99 ms" "$(fmt_div "$o" 1e3 2)" "$(fmt_div "$b" 1e3 2)" \
                "$(ratio "$o" "$b")" "$(fmt_div "$c" 1e3 2)" "$(ratio "$o" "$c")" "$target" \
                "ours p50/p99.9/max $(fmt_div "$(med "$cfg" hfs lat_p50_us)" 1e3 2)/$(fmt_div "$(med "$cfg" hfs lat_p999_us)" 1e3 2)/$(fmt_div "$(med "$cfg" hfs lat_max_us)" 1e3 2) ms; bare $(fmt_div "$(med "$cfg" bare lat_p50_us)" 1e3 2)/$(fmt_div "$(med "$cfg" bare lat_p999_us)" 1e3 2)/$(fmt_div "$(med "$cfg" bare lat_max_us)" 1e3 2) (bare p50/p99.9/max counted from when its loop starts writing a record; its p99 that way: $(fmt_div "$floor" 1e3 2); its writer CPU $(med "$cfg" bare writer_cpu_pct)%); Nchan $(fmt_div "$(med "$cfg" nchan lat_p50_us)" 1e3 2)/$(fmt_div "$(med "$cfg" nchan lat_p999_us)" 1e3 2)/$(fmt_div "$(med "$cfg" nchan lat_max_us)" 1e3 2); samples $(med "$cfg" hfs lat_n) of $(med "$cfg" hfs lat_expected); srv CPU $(med "$cfg" hfs srv_cpu_win_pct)%; loadgen CPU $(med "$cfg" hfs lg_cpu_pct)%; verify $(all "$cfg" hfs verify)"
        done
    done
    for n in $IDLE_NS; do
        cfg="idle-$n"
        has_cfg "$cfg" || continue
        o=$(med "$cfg" hfs rss_per_follower_kib) c=$(med "$cfg" nchan rss_per_follower_kib)
        local target=
        [ "$n" = 15000 ] && target="≤2 KiB: $(cmp_le "$o" 2)"
        row idle "$n followers, 100 resources" "server RSS KiB/follower" "$o" - - "$c" "$(ratio "$o" "$c")" "$target" \
            "RSS $(fmt_div "$(med "$cfg" hfs srv_rss_apps_kb)" 1024 1) -> $(fmt_div "$(med "$cfg" hfs srv_rss_win_kb)" 1024 1) MiB; verify $(all "$cfg" hfs verify)"
        o=$(med "$cfg" hfs srv_idle_cpu_pct) c=$(med "$cfg" nchan srv_idle_cpu_pct)
        row idle "$n followers, pings every 3 s" "server CPU % while idle" "$o" - - "$c" "$(ratio "$o" "$c")" "" \
            "pings on time: $(all "$cfg" hfs pings_on_time) (Nchan $(all "$cfg" nchan pings_on_time)); pings $(med "$cfg" hfs pings), late $(med "$cfg" hfs pings_late), max gap $(med "$cfg" hfs ping_max_gap_ms) ms"
    done
    cfg=ingest
    if has_cfg "$cfg"; then
        o=$(med "$cfg" hfs e2e_Bps) c=$(med "$cfg" nchan e2e_Bps)
        local one
        one=$(med "ingest-1cpu" hfs e2e_Bps)
        local bt bf bmin
        bt=$(med "$cfg" bare_tcp del_Bps) bf=$(med "$cfg" bare_file del_Bps)
        bmin=$(min2 "$bt" "$bf")
        row ingest "1 appender + 1 follower, 64 KiB" "MB/s appender -> file -> follower" "$(fmt_div "$o" 1e6 0)" \
            "$(fmt_div "$bmin" 1e6 0)" "$(ratio "$o" "$bmin")" "$(fmt_div "$c" 1e6 0)" "$(ratio "$o" "$c")" \
            "≥0.80x min(tcp, file): $(cmp_ge "$o" "$(mul "$bmin" 0.8)")" \
            "ours on both CPUs; on CPU 0 only $(fmt_div "$one" 1e6 0) MB/s ($(ratio "$o" "$one") scaling 1 -> 2 cores); bare: TCP $(fmt_div "$bt" 1e6 0), file append $(fmt_div "$bf" 1e6 0) MB/s; ours in window: appender $(fmt_div "$(med "$cfg" hfs app_Bps)" 1e6 0), follower $(fmt_div "$(med "$cfg" hfs del_Bps)" 1e6 0) MB/s; srv CPU $(med "$cfg" hfs srv_cpu_win_pct)%; verify $(all "$cfg" hfs verify)"
    fi
    cfg=many
    if has_cfg "$cfg"; then
        o=$(med "$cfg" hfs srv_cpu_s_per_GB) c=$(med "$cfg" nchan srv_cpu_s_per_GB)
        row many "1,000 resources x (1 appender + 10 followers), 10 x 1 KiB msg/s each" "server CPU s per delivered GB" \
            "$o" - - "$c" "$(ratio "$o" "$c")" "" \
            "delivered $(fmt_div "$(med "$cfg" hfs del_Bps)" 1e6 1) MB/s (Nchan $(fmt_div "$(med "$cfg" nchan del_Bps)" 1e6 1)); srv CPU $(med "$cfg" hfs srv_cpu_win_pct)%; verify $(all "$cfg" hfs verify)"
    fi
    print_auth_rows
    print_metrics_rows
    print_nats_rows
    print_ds_rows
    echo
    print_details
    echo
    echo "Ratios are ours/peer: above 1 is better for rates, below 1 for latency, memory and CPU."
    echo "Rates are measured inside each window; ours must then deliver every byte and CLOSE 1000"
    echo "(verify=ok: every follower's hash equals the file's and the appender's). Nchan is not"
    echo "checked for exactness (no CLOSE, subscribers see only messages after they joined); its"
    echo "fan-out publisher keeps at most 8 messages un-echoed, since Nchan drops messages when"
    echo "outrun. The bare peer writes one message per write() with TCP_NODELAY; its drainer hashes"
    echo "what it reads, like our followers. Latency is counted from when a record was due, for ours"
    echo "(the appender sends it then) and for bare (an overloaded one-write-per-message loop falls"
    echo "behind); the notes and the target column also give bare's write-pass floor, counted from"
    echo "when its loop starts writing the record. Ingest runs ours on CPU 0 (as every other row) and"
    echo "on both CPUs (file writes on a thread-pool thread): the row shows the second."
    if [ "$DS_COLS" = 1 ]; then
        echo "Durable Streams (ds) rows compare ours with the reference server (@durable-streams/server"
        echo "$(ds_ref_version), file-backed: every append is fdatasync'ed, and every read commits its"
        echo "access time to LMDB synchronously), both with a $DS_LONG_POLL long-poll timeout, fresh per run."
        echo "Every POST's answer, every byte read back and every record each reader got is checked"
        echo "(verify=ok). SSE: messages delivered to all readers per second, from the first POST until"
        echo "the last reader had the last message; long-poll: from each POST being sent to each of the"
        echo "1,000 waiting readers holding its 200."
    fi
    local busy
    busy=$(awk '{ for (i = 4; i <= NF; i++) if ($i ~ /^others_pct=/) { split($i, kv, "="); if (kv[2] + 0 > 10) n++ } } END { print n + 0 }' "$RES")
    if [ "$busy" -gt 0 ]; then
        echo
        echo "WARNING: in $busy run(s) other programs used more than 10% of a CPU during the window"
        echo "(column 'other programs' above): those figures are noisy; rerun on a quiet machine."
    fi
}

ds_ref_version() {
    sed -n 's/^  "version": "\(.*\)",$/\1/p' "$HERE/ds/node_modules/@durable-streams/server/package.json" 2>/dev/null | head -1
}

# all, "-" when there is no run; fmt_k VALUE DECIMALS: "12.3k" or "-".
all_ds() { local a; a=$(all "$@"); echo "${a:--}"; }
fmt_k() { awk -v v="$1" -v p="$2" 'BEGIN { if (v == "-" || v == "") print "-"; else printf "%.*fk\n", p, v / 1e3 }'; }

# The Durable Streams rows: ours against the reference; goals >= 10x its rates, <= 1/10 its p99.
print_ds_rows() {
    local cfg=ds-append o r
    if has_cfg "$cfg"; then
        o=$(med "$cfg" hfs app_Bps) r=$(med "$cfg" dsref app_Bps)
        row_ds ds "append: 4 keep-alive connections x 64 KiB POSTs, 1 stream" "accepted MB/s" \
            "$(fmt_div "$o" 1e6 1)" "$(fmt_div "$r" 1e6 1)" "$(ratio "$o" "$r")" \
            "≥10x reference: $(cmp_ge "$o" "$(mul "$r" 10)")" \
            "requests/s $(med "$cfg" hfs req_ps) (reference $(med "$cfg" dsref req_ps)); POST p50/p99 $(fmt_div "$(med "$cfg" hfs post_p50_us)" 1e3 2)/$(fmt_div "$(med "$cfg" hfs post_p99_us)" 1e3 2) ms (reference $(fmt_div "$(med "$cfg" dsref post_p50_us)" 1e3 2)/$(fmt_div "$(med "$cfg" dsref post_p99_us)" 1e3 2)); srv CPU $(med "$cfg" hfs srv_cpu_win_pct)% (reference $(med "$cfg" dsref srv_cpu_win_pct)%); verify $(all_ds "$cfg" hfs verify) (reference $(all_ds "$cfg" dsref verify))"
        o=$(med "$cfg" hfs req_ps) r=$(med "$cfg" dsref req_ps)
        row_ds ds "append: 4 keep-alive connections x 64 KiB POSTs, 1 stream" "requests/s" \
            "$o" "$r" "$(ratio "$o" "$r")" "≥10x reference: $(cmp_ge "$o" "$(mul "$r" 10)")" ""
    fi
    cfg=ds-producer
    if has_cfg "$cfg"; then
        o=$(med "$cfg" hfs app_msgs_ps) r=$(med "$cfg" dsref app_msgs_ps)
        row_ds ds "idempotent producers: 4 x batches of 100 x 64 B JSON messages (application/json array)" \
            "accepted messages/s" "$(fmt_k "$o" 1)" "$(fmt_k "$r" 1)" "$(ratio "$o" "$r")" \
            "≥10x reference: $(cmp_ge "$o" "$(mul "$r" 10)")" \
            "batches/s $(med "$cfg" hfs req_ps) (reference $(med "$cfg" dsref req_ps)); $(fmt_div "$(med "$cfg" hfs app_Bps)" 1e6 1) MB/s of messages; POST p50/p99 $(fmt_div "$(med "$cfg" hfs post_p50_us)" 1e3 2)/$(fmt_div "$(med "$cfg" hfs post_p99_us)" 1e3 2) ms (reference $(fmt_div "$(med "$cfg" dsref post_p50_us)" 1e3 2)/$(fmt_div "$(med "$cfg" dsref post_p99_us)" 1e3 2)); srv CPU $(med "$cfg" hfs srv_cpu_win_pct)% (reference $(med "$cfg" dsref srv_cpu_win_pct)%); verify $(all_ds "$cfg" hfs verify) (reference $(all_ds "$cfg" dsref verify))"
    fi
    cfg=ds-sse
    if has_cfg "$cfg"; then
        o=$(med "$cfg" hfs del_run_msgs_ps) r=$(med "$cfg" dsref del_run_msgs_ps)
        row_ds ds "SSE fan-out: $DS_READERS readers x 64 B messages, 4 writers" "delivered messages/s" \
            "$(fmt_k "$o" 1)" "$(fmt_k "$r" 2)" "$(ratio "$o" "$r")" \
            "≥10x reference: $(cmp_ge "$o" "$(mul "$r" 10)")" \
            "readers with every message $(all_ds "$cfg" hfs complete) of $DS_READERS (reference $(all_ds "$cfg" dsref complete)); POSTs/s $(med "$cfg" hfs req_ps) (reference $(med "$cfg" dsref req_ps)); in the window only $(fmt_k "$(med "$cfg" hfs del_msgs_ps)" 1) (reference $(fmt_k "$(med "$cfg" dsref del_msgs_ps)" 2)); delivery p50/p99 $(fmt_div "$(med "$cfg" hfs lat_p50_us)" 1e3 2)/$(fmt_div "$(med "$cfg" hfs lat_p99_us)" 1e3 2) ms (reference $(fmt_div "$(med "$cfg" dsref lat_p50_us)" 1e3 0)/$(fmt_div "$(med "$cfg" dsref lat_p99_us)" 1e3 0)); srv CPU $(med "$cfg" hfs srv_cpu_win_pct)% (reference $(med "$cfg" dsref srv_cpu_win_pct)%); loadgen CPU $(med "$cfg" hfs lg_cpu_pct)%; verify $(all_ds "$cfg" hfs verify) (reference $(all_ds "$cfg" dsref verify))"
    fi
    cfg=ds-longpoll
    if has_cfg "$cfg"; then
        o=$(med "$cfg" hfs lat_p99_us) r=$(med "$cfg" dsref lat_p99_us)
        row_ds ds "long-poll: $DS_READERS waiting readers, 1 x 64 B POST per round" "p99 ms POST -> 200" \
            "$(fmt_div "$o" 1e3 2)" "$(fmt_div "$r" 1e3 1)" "$(ratio "$o" "$r")" \
            "≤0.10x reference: $(cmp_le "$o" "$(mul "$r" 0.1)")" \
            "ours p50/p99.9/max $(fmt_div "$(med "$cfg" hfs lat_p50_us)" 1e3 2)/$(fmt_div "$(med "$cfg" hfs lat_p999_us)" 1e3 2)/$(fmt_div "$(med "$cfg" hfs lat_max_us)" 1e3 2) ms; reference $(fmt_div "$(med "$cfg" dsref lat_p50_us)" 1e3 0)/$(fmt_div "$(med "$cfg" dsref lat_p999_us)" 1e3 0)/$(fmt_div "$(med "$cfg" dsref lat_max_us)" 1e3 0) ms; rounds $(med "$cfg" hfs rounds) (reference $(med "$cfg" dsref rounds)), samples $(med "$cfg" hfs lat_n) (reference $(med "$cfg" dsref lat_n)); readers waiting when the POST went out $(med "$cfg" hfs lp_waited_pct)% (reference $(med "$cfg" dsref lp_waited_pct)%); srv CPU $(med "$cfg" hfs srv_cpu_win_pct)% (reference $(med "$cfg" dsref srv_cpu_win_pct)%); verify $(all_ds "$cfg" hfs verify) (reference $(all_ds "$cfg" dsref verify))"
    fi
}

thousands() { awk -v n="$1" 'BEGIN { s = sprintf("%d", n); while (s ~ /[0-9][0-9][0-9][0-9]/) sub(/[0-9][0-9][0-9]($|,)/, ",&", s); print s }'; }

# Access control's cost: ours with -auth (100 rules) in the "ours" column, without it in the
# target and notes; the goal is no visible cost (with/without at least 0.95 for the rate, at most
# 1.05 for server CPU per handshake).
print_auth_rows() {
    has_cfg auth-off || return 0
    local o b v set
    set="$(thousands "$HS_N") follower handshakes (connect to 101), $HS_INFLIGHT at once, -auth with 100 rules"
    v="verify $(all auth-on hfs verify) (without -auth $(all auth-off hfs verify))"
    has_cfg auth-on ||
        v="this server has no -auth flag: measured without it only; verify $(all auth-off hfs verify)"
    o=$(med auth-on hfs hs_ps) b=$(med auth-off hfs hs_ps)
    row auth "$set" "handshakes/s" "$o" - - - - \
        "with/without -auth ≥0.95: $(cmp_ge "$o" "$(mul "$b" 0.95)") ($(ratio "$o" "$b"))" \
        "without -auth $b/s; p50/p99 with $(fmt_div "$(med auth-on hfs hs_p50_us)" 1e3 2)/$(fmt_div "$(med auth-on hfs hs_p99_us)" 1e3 2) ms, without $(fmt_div "$(med auth-off hfs hs_p50_us)" 1e3 2)/$(fmt_div "$(med auth-off hfs hs_p99_us)" 1e3 2) ms; srv CPU $(med auth-on hfs srv_cpu_win_pct)% (without $(med auth-off hfs srv_cpu_win_pct)%); loadgen CPU $(med auth-on hfs lg_cpu_pct)%; $v"
    o=$(med auth-on hfs srv_cpu_us_per_hs) b=$(med auth-off hfs srv_cpu_us_per_hs)
    row auth "$set" "server CPU µs per handshake" "$o" - - - - \
        "with/without -auth ≤1.05: $(cmp_le "$o" "$(mul "$b" 1.05)") ($(ratio "$o" "$b"))" \
        "without -auth $b µs"
}

# What -metrics costs: ours scraped 10/s in the "ours" column, without -metrics in the target and
# notes; the goal is no visible cost (with/without at least 0.95 for the delivered rate).
print_metrics_rows() {
    has_cfg metrics-off || return 0
    local o b set="100 followers x 64 B, 1 resource; -metrics scraped 10/s"
    o=$(med metrics-on hfs del_msgs_ps) b=$(med metrics-off hfs del_msgs_ps)
    row metrics "$set" "delivered messages/s" "$(fmt_k "$o" 1)" - - - - \
        "with/without -metrics ≥0.95: $(cmp_ge "$o" "$(mul "$b" 0.95)") ($(ratio "$o" "$b"))" \
        "without -metrics $(fmt_k "$b" 1)/s; delivered $(fmt_div "$(med metrics-on hfs del_Bps)" 1e6 1) MB/s (without $(fmt_div "$(med metrics-off hfs del_Bps)" 1e6 1)); srv CPU $(med metrics-on hfs srv_cpu_win_pct)% (without $(med metrics-off hfs srv_cpu_win_pct)%); loadgen CPU $(med metrics-on hfs lg_cpu_pct)%; verify $(all metrics-on hfs verify) (without $(all metrics-off hfs verify))"
}

# The replicated store: ingest through one node against the plain nats.c loop (in the "bare"
# column; goal >= 0.70x), fan-out over three nodes, latency from one node to followers on others.
print_nats_rows() {
    local o b cfg=nats-ingest
    if has_cfg "$cfg"; then
        o=$(med "$cfg" hfs app_Bps) b=$(med "$cfg" natspub app_Bps)
        row nats "3 nats-server + 3 nodes: 64 KiB messages through node 1, 1 follower on node 2; bare = nats.c js_PublishMsgAsync, 64 KiB, R3" \
            "accepted MB/s" "$(fmt_div "$o" 1e6 1)" "$(fmt_div "$b" 1e6 1)" "$(ratio "$o" "$b")" - - \
            "≥0.70x nats.c: $(cmp_ge "$o" "$(mul "$b" 0.7)")" \
            "delivered on node 2 $(fmt_div "$(med "$cfg" hfs del_Bps)" 1e6 1) MB/s; nodes' CPU $(med "$cfg" hfs srv_cpu_win_pct)%; loadgen CPU $(med "$cfg" hfs lg_cpu_pct)%; verify $(all "$cfg" hfs verify) (nats.c $(all "$cfg" natspub verify))"
    fi
    cfg=nats-fanout
    if has_cfg "$cfg"; then
        row nats "1,000 followers over 3 nodes x 16 KiB, appended through node 1" "delivered MB/s" \
            "$(fmt_div "$(med "$cfg" hfs del_Bps)" 1e6 0)" - - - - - \
            "appender $(fmt_div "$(med "$cfg" hfs app_Bps)" 1e6 1) MB/s; nodes' CPU $(med "$cfg" hfs srv_cpu_win_pct)%; loadgen CPU $(med "$cfg" hfs lg_cpu_pct)%; drain $(med "$cfg" hfs drain_s) s; complete $(all "$cfg" hfs complete); verify $(all "$cfg" hfs verify)"
    fi
    cfg=nats-latency
    if has_cfg "$cfg"; then
        row nats "100 followers on nodes 2 and 3, 64 B at 100/s through node 1" "p50 / p99 ms" \
            "$(fmt_div "$(med "$cfg" hfs lat_p50_us)" 1e3 2) / $(fmt_div "$(med "$cfg" hfs lat_p99_us)" 1e3 2)" - - - - - \
            "p99.9 $(fmt_div "$(med "$cfg" hfs lat_p999_us)" 1e3 2) ms; verify $(all "$cfg" hfs verify)"
    fi
}

# The server's resources around every configuration, and how busy the rest of the machine was.
print_details() {
    echo "### Resources (medians): server RSS before -> after, CPU, and other load"
    echo
    echo "| config | target | server RSS MiB: start -> connected -> window end -> end | server CPU s: setup / window / window+drain | server CPU % in window | loadgen CPU % | other programs' user CPU % | delivered / sent | verify |"
    echo "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | --- |"
    local cfg peer
    awk '{ print $1, $2 }' "$RES" | awk '!seen[$0]++' | while read -r cfg peer; do
        local rss cpu pct lg oth frac
        if [ "$(med "$cfg" "$peer" srv_rss_begin_kb)" != - ]; then
            rss="$(fmt_div "$(med "$cfg" "$peer" srv_rss_begin_kb)" 1024 1) -> $(fmt_div "$(med "$cfg" "$peer" srv_rss_ready_kb)" 1024 1) -> $(fmt_div "$(med "$cfg" "$peer" srv_rss_win_kb)" 1024 1) -> $(fmt_div "$(med "$cfg" "$peer" srv_rss_end_kb)" 1024 1)"
            cpu="$(med "$cfg" "$peer" srv_cpu_setup_s) / $(med "$cfg" "$peer" srv_cpu_win_s) / $(med "$cfg" "$peer" srv_cpu_all_s)"
            pct=$(med "$cfg" "$peer" srv_cpu_win_pct) lg=$(med "$cfg" "$peer" lg_cpu_pct)
        else
            rss=- cpu=- pct="$(med "$cfg" "$peer" writer_cpu_pct) (writer)" lg="$(med "$cfg" "$peer" drainer_cpu_pct) (drainer)"
        fi
        oth=$(med "$cfg" "$peer" others_pct) frac=$(med "$cfg" "$peer" del_frac)
        printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$cfg" "$peer" "$rss" "$cpu" "$pct" "$lg" "$oth" "$frac" "$(all "$cfg" "$peer" verify)"
    done
}

# ---- main ----------------------------------------------------------------------------------

log "run.sh: scenarios: $SCENARIOS; runs: $RUNS; peers: $PEERS; scratch: $SCRATCH"
wants() { [[ " $SCENARIOS " == *" $1 "* ]]; }
others=0
for sc in $SCENARIOS; do [ "$sc" != ds ] && [ "$sc" != nats ] && others=1; done
if has_peer nchan && [ "$others" = 1 ]; then
    "$HERE/nchan.sh" install || { log "run.sh: Nchan unavailable, running without it"; PEERS=${PEERS/nchan/}; }
fi
if has_peer dsref && wants ds && ! dsref_ready; then
    log "run.sh: the Durable Streams reference server needs node and bench/ds/node_modules (scripts/deps.sh bench); running ds without it"
    PEERS=${PEERS/dsref/}
fi
t0=$(date +%s)
for sc in $SCENARIOS; do
    case $sc in
    fanout | latency | idle | ingest | many | auth | metrics | ds | nats) log "== $sc"; "scenario_$sc" ;;
    *) log "run.sh: unknown scenario $sc"; exit 2 ;;
    esac
done
log "run.sh: done in $(($(date +%s) - t0)) s"
mkdir -p "$BUILD/bench"
stamp=$(date -u +%Y%m%d-%H%M%S)
cp "$RES" "$BUILD/bench/results-$stamp.txt"
print_table | tee "$BUILD/bench/results-$stamp.md"
log "run.sh: raw results in $BUILD/bench/results-$stamp.txt, table in $BUILD/bench/results-$stamp.md"
# The table as SVG charts (bench/charts.sh, with gnuplot): a missing gnuplot or a chart that
# cannot be drawn is noted, never a reason for the bench to fail.
LABEL="results-$stamp.txt ($(git -C "$HERE/.." rev-parse --short HEAD 2>/dev/null || echo '?')): medians of $RUNS run(s)" \
    "$HERE/charts.sh" "$BUILD/bench/results-$stamp.txt" "$BUILD/bench/charts-$stamp" ||
    log "run.sh: charts not (all) drawn, see above; the results stand"
if grep -q 'verify=FAIL' "$RES"; then
    log "run.sh: some runs FAILED verification (see above)"
    exit 1
fi
