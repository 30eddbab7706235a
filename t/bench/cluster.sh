#!/usr/bin/env bash
# Cluster benchmark (issue 11): what several nodes that share one export
# store cost a request, a first lookup and the file system.
#
# Starts two nginx nodes with the module, A and B, as t/helpers/
# ClusterTest.pm does: 2 workers each, own prefixes and zones, one shared
# store, run tree and link key, export_node a and b, on 127.0.0.1
# (BENCH_PORT and BENCH_PORT+1).  Exports are made on A; B knows them only
# from the store.  Every ratio is of two sides measured in this same run,
# alternated A B B A A B ... (BENCH_ROUNDS rounds), medians of each side:
#
#   C1   status GET of a COMPLETED export on B, after B looked it up once,
#        vs the same GET on A, its owner: wrk -t2 -c64, throughput B / A
#        >= 0.95; p99 of each.
#   C1r  the same for an IN_PROGRESS export (a large report at level 9,
#        built on A for the whole window; B's worker 0 looks at it in the
#        store every second): throughput B / A >= 0.95; p99 of each.
#   C2   the first lookup: for BENCH_RUNS runs finished on A and never
#        asked on B, the time of the first GET on B (the request waits
#        for a thread of the store pool that reads the claim and the
#        metadata) and of the second GET on B (cached in B's zone), one
#        keep-alive connection, p50/p99; every other run with the
#        claim's and metadata's pages dropped from the page cache first
#        (cold).  On the local disk (/tmp).
#   C2u  GETs of runs that no node has: a flood of distinct absent runs
#        (each one a lookup, cached as absent for 1 s) vs one absent run
#        asked again and again (cached): throughput, wrk -t2 -c64.
#   C3   the heartbeat's cost: the system calls and bytes per second of
#        the builder's heartbeat and of a follower's upkeep, counted with
#        strace on A's and B's workers during the running export; the
#        time of each store operation from t/bench/cluster/beat.c, which
#        makes the module's calls on copies of the real files, on the
#        local disk and on tmpfs; and from these counts the file system
#        operations per second of the lease at 10 and at 100 nodes.
#
# Each wrk line shows "other load": CPU that neither the nodes nor wrk
# used in the window, in % of one CPU, and the CPU of the node's event
# loops per request.
#
# Benchmarks are not tests: the script exits 0 when it ran, whatever the
# figures, and non-zero only when something broke.  With BENCH_SUMMARY
# set, it adds one line per figure to that file:
#   FIGURE<TAB>name<TAB>goal<TAB>value<TAB>PASS|MISS
# (a figure without a goal has goal "-" and PASS: it was measured).
#
# Environment:
#   TEST_NGINX_BINARY  nginx to run (default /usr/sbin/nginx)
#   EXPORT_MODULE      the module .so (default build/nginx/objs/...)
#   BENCH_PORT         2190: node A; node B listens on BENCH_PORT+1.  The
#                      script stops when something listens on either.
#   BENCH_DURATION     seconds per wrk run (10)
#   BENCH_ROUNDS       A/B rounds per figure (6)
#   BENCH_RUNS         runs of figure C2 (400: 200 warm, 200 cold)
#   BENCH_BIG_MB       the running export's report (1024 MiB)
#   BENCH_ONLY         figures to run, e.g. "1 3" (default "1 2 2u 1r 3";
#                      "1r" and "3" share the running export)
#   BENCH_TMP          where the store and runs go (/tmp: the local disk)
#   BENCH_KEEP=1       keep the temporary directory

set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
here=$top/t/bench/cluster
http=$top/t/bench/http
nginx=${TEST_NGINX_BINARY:-/usr/sbin/nginx}
module=${EXPORT_MODULE:-$top/build/nginx/objs/ngx_http_export_module.so}
port_a=${BENCH_PORT:-2190}
port_b=$((port_a + 1))
dur=${BENCH_DURATION:-10}
rounds=${BENCH_ROUNDS:-6}
nruns=${BENCH_RUNS:-400}
big_mb=${BENCH_BIG_MB:-1024}
only=" ${BENCH_ONLY:-1 2 2u 1r 3} "
base_tmp=${BENCH_TMP:-/tmp}
summary=${BENCH_SUMMARY:-}
conns=64
threads=2

export BENCH_LUA_DIR=$http

say() { printf '%s\n' "$*"; }
die() { printf 'cluster.sh: %s\n' "$*" >&2; exit 1; }
want() { [[ "$only" == *" $1 "* ]]; }

# ---------------------------------------------------------------- tools

if ! command -v wrk > /dev/null; then
    [ "$(id -u)" -eq 0 ] || die "wrk is missing: apt-get install wrk"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk > /dev/null \
        || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
             apt-get install -y -qq wrk > /dev/null; } \
        || die "cannot install wrk"
fi
if want 3 && ! command -v strace > /dev/null; then
    [ "$(id -u)" -eq 0 ] || die "strace is missing: apt-get install strace"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq strace > /dev/null \
        || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
             apt-get install -y -qq strace > /dev/null; } \
        || die "cannot install strace"
fi
for t in curl python3 gcc ps; do
    command -v $t > /dev/null || die "$t is missing"
done
[ -x "$nginx" ] || die "no nginx at $nginx"
[ -f "$module" ] || die "no module at $module: run make build"
[ -f /usr/include/yajl/yajl_tree.h ] || die "yajl headers missing"

for p in $port_a $port_b; do
    if (exec 3<> "/dev/tcp/127.0.0.1/$p") 2> /dev/null; then
        die "something already listens on 127.0.0.1:$p: set BENCH_PORT"
    fi
done

# ------------------------------------------------------- the directory

if want 1r || want 3; then
    avail_mb=$(df -Pm "$base_tmp" | awk 'NR == 2 { print $4 }')
    # the report and its archive (at level 9 about a third of it)
    if [ "$avail_mb" -lt $((big_mb * 2 + 1024)) ]; then
        big_mb=$(( (avail_mb - 1024) / 2 ))
        [ "$big_mb" -ge 128 ] || die "$base_tmp has only $avail_mb MiB free"
        say "note: $base_tmp has $avail_mb MiB free: the running export" \
            "has a $big_mb MiB report"
    fi
fi

tmp=$(mktemp -d "$base_tmp/export-bench-cluster.XXXXXX")
chmod 755 "$tmp"
shm=
masters=()
strace_pids=()

cleanup() {
    set +e
    local m p
    for p in "${strace_pids[@]}"; do
        kill "$p" 2> /dev/null
    done
    for m in "${masters[@]}"; do
        if kill -0 "$m" 2> /dev/null; then
            kill -TERM "$m"
            for _ in $(seq 50); do
                kill -0 "$m" 2> /dev/null || break
                sleep 0.1
            done
        fi
    done
    if [ "${BENCH_KEEP:-0}" = 1 ]; then
        say "kept $tmp $shm"
    else
        rm -rf "$tmp" ${shm:+"$shm"}
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$tmp"/{store,runs,bin,wrk,big,a/conf,a/logs,b/conf,b/logs}
# with a root master the workers run as nobody: they write the store
if [ "$(id -u)" -eq 0 ]; then
    chown nobody:nogroup "$tmp/store"
    user_line="user nobody nogroup;"
else
    user_line=""
fi
head -c 32 /dev/urandom > "$tmp/export.key"
chmod 644 "$tmp/export.key"

# a private copy: a make build during the run changes nothing here
for i in $(seq 60); do
    cp -p "$module" "$tmp/ngx_http_export_module.so" 2> /dev/null && break
    sleep 1
done
[ -f "$tmp/ngx_http_export_module.so" ] || die "cannot copy $module"
so=$tmp/ngx_http_export_module.so

gcc -O2 -o "$tmp/bin/genrows" "$http/genrows.c"
gcc -O2 -Wall -I"$top/src" -o "$tmp/bin/beat" "$here/beat.c" \
    "$top/src/ngx_export_parse.c" -lyajl || die "cannot build beat.c"

# ------------------------------------------------------------- machine

cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
mem=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
ngx_version=$("$nginx" -v 2>&1 | sed 's/^nginx version: //')
rev=$(git -C "$top" rev-parse --short HEAD 2> /dev/null || echo "?")
if [ -n "$(git -C "$top" status --porcelain -- src config 2> /dev/null)" ]
then
    rev="$rev+uncommitted src"
fi
fs=$(df -PT "$tmp" | awk 'NR == 2 { print $2 " on " $1 }')

say "machine: $(nproc) CPUs ($cpu), $mem, Linux $(uname -r), $ngx_version"
say "module:  $module ($rev, built $(date -r "$so" "+%F %T"), sha256" \
    "$(sha256sum < "$so" | cut -c1-12))"
say "nodes:   A 127.0.0.1:$port_a, B 127.0.0.1:$port_b, 2 workers each;" \
    "store $tmp/store ($fs)"
say "wrk:     -t$threads -c$conns -d${dur}s --latency, $rounds rounds" \
    "per figure (A B, B A, ...), medians"
say "load:    $(cut -d' ' -f1-3 /proc/loadavg) at the start"
say ""

# ------------------------------------------------------------- config

api=/v1/system/check-sets

write_conf() {   # NAME PORT
    local name=$1 port=$2 root=$tmp/$1 loc

    loc() {   # PREFIX EXTRA
        cat <<EOF
        location ~ ^$1$api/(?<run_id>[^/]+)/exports\$ {
            export_api          zone=exports;
            export_run_id       \$run_id;
            export_source       $tmp/runs/\$run_id;
            export_store        $tmp/store;
            export_thread_pool  exports;
            export_ttl          1h;
            $2
        }
        location ~ ^$1$api/(?<run_id>[^/]+)/exports/file\$ {
            export_download     zone=exports;
            export_run_id       \$run_id;
        }
        location ~ ^$1$api/(?<run_id>[^/]+)/exports/data\$ {
            export_data         zone=exports;
            export_run_id       \$run_id;
        }
EOF
    }

    cat > "$root/conf/nginx.conf" <<EOF
load_module $so;
$user_line
worker_processes  2;
worker_rlimit_nofile 20000;
error_log  logs/error.log notice;
pid        logs/nginx.pid;

thread_pool exports threads=2 max_queue=65536;
thread_pool default threads=2 max_queue=65536;

events {
    worker_connections  8192;
    accept_mutex        off;
}

http {
    access_log          off;
    keepalive_requests  10000000;
    keepalive_timeout   120s;

    export_zone         exports:64m;
    export_node         $name;
    export_link_secret  $tmp/export.key;
    export_link_ttl     1h;

    server {
        listen  127.0.0.1:$port reuseport;

$(loc "" "")
$(loc /l9 "export_compression_level 9;")
        location = /status {
            export_status;
        }
    }
}
EOF
}

declare -A master_of

workers() {   # NODE: its worker pids
    ps -o pid= --ppid "${master_of[$1]}" | tr -d ' '
}

# "daemon off", in the background of this script: the nodes stay in this
# session, so with the kernel's autogroup scheduling (sched_autogroup_
# enabled) both nodes, their builds and wrk share one group and each
# thread gets its fair share.  A daemon makes a session, and so a group,
# of its own: a build in node A's group would take its share from A's
# event loops only, and a GET on B would look faster than on A for that
# reason alone.
start_node() {   # NAME PORT
    local root=$tmp/$1
    write_conf "$1" "$2"
    "$nginx" -p "$root/" -c conf/nginx.conf -t -q || die "nginx -t failed"
    "$nginx" -p "$root/" -c conf/nginx.conf -g "daemon off;" \
        < /dev/null > "$root/logs/stderr.log" 2>&1 &
    master_of[$1]=$!
    masters+=("${master_of[$1]}")
    for _ in $(seq 50); do
        [ -s "$root/logs/nginx.pid" ] && break
        kill -0 "${master_of[$1]}" 2> /dev/null \
            || die "node $1 did not start: $(cat "$root/logs/stderr.log")"
        sleep 0.1
    done
    for _ in $(seq 50); do
        [ "$(workers "$1" | wc -l)" -eq 2 ] && return 0
        sleep 0.1
    done
    die "node $1 has no 2 workers"
}

# --------------------------------------------------------------- HTTP

url() { echo "http://127.0.0.1:$1$2"; }   # PORT PATH

task_status() {   # PORT PATH
    curl -s "$(url "$1" "$2")" | sed -n 's/.*"status":"\([A-Z_]*\)".*/\1/p'
}

post() {   # PORT PATH
    local code
    code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$(url "$1" "$2")")
    [ "$code" = 202 ] || die "POST $2 on :$1 answered $code"
}

delete() { curl -s -o /dev/null -X DELETE "$(url "$1" "$2")"; }

wait_status() {   # PORT PATH STATUS SECONDS
    local i s
    for i in $(seq $(($4 * 10))); do
        s=$(task_status "$1" "$2")
        [ "$s" = "$3" ] && return 0
        case "$s" in
            FAILED) die "$2 FAILED: $(curl -s "$(url "$1" "$2")")" ;;
        esac
        sleep 0.1
    done
    die "$2 is not $3 on :$1 after $4 s (it is ${s:-no task})"
}

lookups() {   # PORT: the zone's store lookups so far
    curl -s "$(url "$1" /status)" | python3 -c '
import json, sys
print(json.load(sys.stdin)["zones"]["exports"]["store"]["lookups"])'
}

# --------------------------------------------------------------- CPU

hz=$(getconf CLK_TCK)

ticks() { awk '{ print $14 + $15 }' "$1" 2> /dev/null || echo 0; }

loop_ticks() {   # NODE: CPU of its workers' event loops (main threads)
    local w sum=0
    for w in $(workers "$1"); do
        sum=$((sum + $(ticks /proc/$w/task/$w/stat)))
    done
    echo $sum
}

all_ticks() {   # CPU of both nodes' workers, all threads
    local n w sum=0
    for n in a b; do
        for w in $(workers $n); do
            sum=$((sum + $(ticks /proc/$w/stat)))
        done
    done
    echo $sum
}

busy() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; }

children_ticks() { awk '{ print $16 + $17 }' "/proc/$1/stat"; }

field() { tr ' ' '\n' <<< "$2" | sed -n "s/^$1=//p"; }

median() {
    tr ' ' '\n' | sed '/^$/d' | sort -g | awk '
        { v[NR] = $1 }
        END { if (NR % 2) print v[(NR + 1) / 2];
              else printf "%.6g\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b ? a / b : 0 }'; }

pass() {   # VALUE OP TARGET
    awk -v v="$1" -v t="$3" -v op="$2" 'BEGIN {
        ok = (op == ">=") ? v >= t : v <= t;
        print ok ? "PASS" : "MISS" }'
}

results=()

# record NAME GOAL VALUE VERDICT DETAIL: a figure, also a summary line
record() {
    results+=("$1|$3|$2|$4|$5")
    printf '  => %-52s %10s  (goal %s)  %s\n' "$1" "$3" "$2" "$4"
    if [ -n "$summary" ]; then
        printf 'FIGURE\t%s\t%s\t%s\t%s\n' "cluster: $1" "$2" "$3" "$4" \
            >> "$summary"
    fi
}

# ----------------------------------------------------------------- wrk

# wrk_run TAG NODE URL [SCRIPT [ARGS...]]: prints the RESULT fields
wrk_run() {
    local tag=$1 node=$2 url=$3 script=${4:-$http/report.lua} out
    local -a args=()
    shift 3
    if [ $# -gt 0 ]; then
        shift
        [ $# -gt 0 ] && args=(-- "$@")
    fi
    out=$tmp/wrk/$tag.txt

    local b0 a0 l0 c0 b1 a1 l1 c1 t0 t1 res me=$BASHPID
    b0=$(busy); a0=$(all_ticks); l0=$(loop_ticks "$node")
    c0=$(children_ticks "$me"); t0=$(date +%s.%N)

    wrk -t$threads -c$conns -d"${dur}s" --latency -s "$script" "$url" \
        "${args[@]}" > "$out" 2>&1 || die "wrk failed: $(cat "$out")"

    t1=$(date +%s.%N); b1=$(busy); a1=$(all_ticks)
    l1=$(loop_ticks "$node"); c1=$(children_ticks "$me")

    res=$(grep '^RESULT ' "$out" | sed 's/^RESULT //') \
        || die "no result from wrk: $(cat "$out")"

    echo "$res other_pct=$(awk -v b=$((b1 - b0)) -v w=$((a1 - a0)) \
        -v c=$((c1 - c0)) -v hz="$hz" -v t0="$t0" -v t1="$t1" \
        'BEGIN { o = (b - w - c) / hz / (t1 - t0) * 100; if (o < 0) o = 0;
                 printf "%.0f", o }')" \
        "loop_us=$(awk -v w=$((l1 - l0)) -v hz="$hz" \
        -v n="$(field requests "$res")" \
        'BEGIN { printf "%.1f", n ? w / hz * 1e6 / n : 0 }')"
}

show() {   # SIDE ROUND RESULT
    say "  $1 round $2: $(field rps "$3") req/s," \
        "p50 $(field p50_us "$3") us, p99 $(field p99_us "$3") us," \
        "event loops $(field loop_us "$3") us/req," \
        "other load $(field other_pct "$3")%"
}

errors() {
    echo $(( $(field connect "$1") + $(field read "$1") + $(field write "$1")
             + $(field timeout "$1") + $(field status "$1") ))
}

# ab TAG: side B (B_ARGS, on node B_NODE, default b) against side A
# (A_ARGS, on A_NODE, default a), A B, B A, A B, ...; PRE and POST_FN
# (functions, if set) run before and after each window; sets A_RPS B_RPS A_P99 B_P99 A_P50 B_P50
# A_LOOP B_LOOP (medians), OTHER (the range of the other load) and A_ERR
# B_ERR (socket errors and non-2xx answers)
ab() {
    local tag=$1 i r side rps_a= rps_b= p99_a= p99_b= p50_a= p50_b=
    local loop_a= loop_b= other= err_a=0 err_b=0 pair= ra rb
    for i in $(seq "$rounds"); do
        for side in $( ((i % 2)) && echo "A B" || echo "B A"); do
            if [ -n "${PRE:-}" ]; then $PRE; fi
            sleep 1
            if [ $side = A ]; then
                r=$(wrk_run "$tag-A-$i" "${A_NODE:-a}" "${A_ARGS[@]}")
                ra=$(field rps "$r")
                rps_a+=" $ra"; p99_a+=" $(field p99_us "$r")"
                p50_a+=" $(field p50_us "$r")"
                loop_a+=" $(field loop_us "$r")"
                err_a=$((err_a + $(errors "$r")))
                show "$tag A ${A_LABEL:-(owner)   }" "$i" "$r"
            else
                r=$(wrk_run "$tag-B-$i" "${B_NODE:-b}" "${B_ARGS[@]}")
                rb=$(field rps "$r")
                rps_b+=" $rb"; p99_b+=" $(field p99_us "$r")"
                p50_b+=" $(field p50_us "$r")"
                loop_b+=" $(field loop_us "$r")"
                err_b=$((err_b + $(errors "$r")))
                show "$tag B ${B_LABEL:-(follower)}" "$i" "$r"
            fi
            other+=" $(field other_pct "$r")"
            if [ -n "${POST_FN:-}" ]; then $POST_FN; fi
        done
        pair+=" $(ratio "$rb" "$ra")"
    done
    # the two windows of a round are next to each other: the median of
    # the rounds' own ratios moves less with slow changes of other load
    PAIR=$(median <<< "$pair")
    A_RPS=$(median <<< "$rps_a"); B_RPS=$(median <<< "$rps_b")
    A_P99=$(median <<< "$p99_a"); B_P99=$(median <<< "$p99_b")
    A_P50=$(median <<< "$p50_a"); B_P50=$(median <<< "$p50_b")
    A_LOOP=$(median <<< "$loop_a"); B_LOOP=$(median <<< "$loop_b")
    OTHER=$(tr ' ' '\n' <<< "$other" | sed '/^$/d' | sort -n \
            | sed -n '1p;$p' | paste -sd- -)
    A_ERR=$err_a; B_ERR=$err_b
}

# ================================================================ start

start_node a "$port_a"
start_node b "$port_b"

# ============================================================ figure C1

c1run=c1c10000-0000-4000-8000-000000000001
mkdir -p "$tmp/runs/$c1run"
printf '%s\n' '[{"check":"ntp-sync","host":{"name":"esxi-01"},"status":"PASSED"},' \
    '{"check":"dns","host":{"name":"esxi-02"},"status":"FAILED"}]' \
    > "$tmp/runs/$c1run/checks.json"
c1path=$api/$c1run/exports

if want 1 || want 3; then
    post "$port_a" "$c1path"
    wait_status "$port_a" "$c1path" COMPLETED 30
fi

if want 1; then
    say "C1. status GET of a COMPLETED export: on B (looked up once) vs on A" \
        "(its owner), $conns connections"
    l0=$(lookups "$port_b")
    s=$(task_status "$port_b" "$c1path")
    [ "$s" = COMPLETED ] || die "B answers $s for $c1path"
    l1=$(lookups "$port_b")
    len_a=$(curl -s "$(url "$port_a" "$c1path")" | wc -c)
    len_b=$(curl -s "$(url "$port_b" "$c1path")" | wc -c)
    say "  B's first GET made $((l1 - l0)) store lookup(s); status body" \
        "$len_a bytes on A, $len_b on B"
    A_ARGS=("$(url "$port_a" "$c1path")")
    B_ARGS=("$(url "$port_b" "$c1path")")
    ab c1
    l2=$(lookups "$port_b")
    say "  store lookups by B during the windows: $((l2 - l1))"
    v=$(ratio "$B_RPS" "$A_RPS")
    record "C1 status GET COMPLETED, throughput B / A" ">= 0.95" "$v" \
        "$(pass "$v" ">=" 0.95)" "$B_RPS vs $A_RPS req/s; other load $OTHER%"
    record "C1 status GET COMPLETED, p99 on A (us)" "-" "$A_P99" PASS \
        "p50 $A_P50 us"
    record "C1 status GET COMPLETED, p99 on B (us)" "-" "$B_P99" PASS \
        "p50 $B_P50 us"
    record "C1 the same, median of the rounds' own B / A" "-" "$PAIR" \
        PASS "A and B measured next to each other in each round"
    v=$(ratio "$A_LOOP" "$B_LOOP")
    record "C1 event-loop CPU per GET, A / B" "-" "$v" PASS \
        "$A_LOOP vs $B_LOOP us/req"
    say ""
fi

# ============================================================ figure C2

if want 2; then
    say "C2. the first lookup on B of $nruns runs finished on A, vs the" \
        "second GET (cached); one keep-alive connection"
    fam=$(printf '%04x00c2' $((RANDOM)))
    python3 "$http/client.py" mkruns "$tmp/runs" "$nruns" "$tmp/c2-ids.txt" \
        --family "$fam"
    t0=$(date +%s.%N)
    out=$(python3 "$http/client.py" bulk "$port_a" POST "$api/" \
          "$tmp/c2-ids.txt" --pending "$tmp/pending.txt")
    [ ! -s "$tmp/pending.txt" ] || die "POSTs were not accepted: $out"
    cp "$tmp/c2-ids.txt" "$tmp/pending.txt"
    for i in $(seq 600); do
        python3 "$http/client.py" bulk "$port_a" GET "$api/" \
            "$tmp/pending.txt" --pending "$tmp/pending2.txt" > /dev/null
        mv "$tmp/pending2.txt" "$tmp/pending.txt"
        [ -s "$tmp/pending.txt" ] || break
        sleep 0.2
    done
    [ ! -s "$tmp/pending.txt" ] || die "the exports of C2 did not complete"
    say "  $nruns exports made on A in $(awk -v a="$t0" \
        -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s"
    sleep 1
    l0=$(lookups "$port_b"); la0=$(lookups "$port_a")
    python3 "$here/firstget.py" "$port_b" "$port_a" "$api/" \
        "$tmp/c2-ids.txt" "$tmp/store" > "$tmp/c2.txt" \
        || die "firstget.py failed: $(cat "$tmp/c2.txt")"
    l1=$(lookups "$port_b"); la1=$(lookups "$port_a")
    sed 's/^/  /' "$tmp/c2.txt"
    say "  store lookups by B: $((l1 - l0)) for $nruns runs; by A:" \
        "$((la1 - la0))"
    c2() { sed -n "s/^$1 .*$2=\([0-9.]*\).*/\1/p" "$tmp/c2.txt"; }
    record "C2 first GET on B, warm, p50 (us)" "-" "$(c2 warm-first p50)" \
        PASS "claim and metadata in the page cache"
    record "C2 first GET on B, warm, p99 (us)" "-" "$(c2 warm-first p99)" \
        PASS ""
    record "C2 first GET on B, cold, p50 (us)" "-" "$(c2 cold-first p50)" \
        PASS "their pages dropped first"
    record "C2 first GET on B, cold, p99 (us)" "-" "$(c2 cold-first p99)" \
        PASS ""
    record "C2 second GET on B (cached), p50 (us)" "-" \
        "$(c2 second p50)" PASS ""
    record "C2 second GET on B (cached), p99 (us)" "-" \
        "$(c2 second p99)" PASS ""
    record "C2 GET on A (owner), p50 (us)" "-" "$(c2 owner p50)" PASS ""
    say ""
fi

# =========================================================== figure C2u

if want 2u; then
    say "C2u. GET of absent runs on B: a new absent run each request (a" \
        "store lookup each) vs one absent run again and again (cached 1 s)"
    famu=$(printf '%04x00ee' $((RANDOM)))
    code=$(curl -s -o /dev/null -w '%{http_code}' \
           "$(url "$port_b" "$api/$(printf '%08x' $((16#$famu)))-0000-4000-8000-000000000000/exports")")
    [ "$code" = 404 ] || die "an absent run answered $code"
    l0=$(lookups "$port_b")
    # both sides on node B: A the one absent run, B a new one each time
    A_NODE=b; A_LABEL="(one run)"; B_LABEL="(new runs)"
    A_ARGS=("$(url "$port_b" /)" "$http/cycle.lua" GET "$api/"
            "uuid:$famu:1" 0 0)
    B_ARGS=("$(url "$port_b" /)" "$http/cycle.lua" GET "$api/"
            "uuid:$famu:1000000000" 1 $threads)
    ab c2u
    A_NODE=; A_LABEL=; B_LABEL=
    l1=$(lookups "$port_b")
    say "  store lookups by B during the windows: $((l1 - l0))"
    v=$(ratio "$B_RPS" "$A_RPS")
    record "C2u absent runs, new each GET / the same one, throughput" "-" \
        "$v" PASS "$B_RPS vs $A_RPS req/s"
    record "C2u absent runs, new each GET: req/s on one node" "-" \
        "$B_RPS" PASS "p50 $B_P50 us, p99 $B_P99 us"
    say ""
fi

# ===================================================== the running export

bigrun=b16b1600-0000-4000-8000-000000000001
bigpath=/l9$api/$bigrun/exports
restarts=0

big_start() {
    delete "$port_a" "$bigpath"
    post "$port_a" "$bigpath"
    wait_status "$port_a" "$bigpath" IN_PROGRESS 60
    # B looks it up once: from now on its worker 0 follows it
    wait_status "$port_b" "$bigpath" IN_PROGRESS 10
}

big_check() {   # after a window: was the export under way to its end?
    local s
    s=$(task_status "$port_a" "$bigpath")
    [ "$s" = IN_PROGRESS ] \
        || say "  note: the export was $s at the end of this window"
}

big_running() {   # still IN_PROGRESS on A? if not, started again
    local s
    s=$(task_status "$port_a" "$bigpath")
    if [ "$s" != IN_PROGRESS ]; then
        say "  note: the running export is $s: started again"
        restarts=$((restarts + 1))
        big_start
    fi
}

if want 1r || want 3; then
    say "making a ${big_mb} MiB NDJSON report (exported at level 9)"
    "$tmp/bin/genrows" "$tmp/big/checks.ndjson" $((big_mb * 1048576)) 11 \
        | sed 's/^/  /'
    mkdir -p "$tmp/runs/$bigrun"
    # a hard link: symbolic links are not followed by default
    ln "$tmp/big/checks.ndjson" "$tmp/runs/$bigrun/checks.ndjson"
    t0=$(date +%s.%N)
    big_start
    say "  IN_PROGRESS on A and on B after $(awk -v a="$t0" \
        -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s"
    say ""
fi

# =========================================================== figure C1r

if want 1r; then
    say "C1r. status GET of an IN_PROGRESS export (built on A): on B vs on" \
        "A, $conns connections"
    len_a=$(curl -s "$(url "$port_a" "$bigpath")" | wc -c)
    len_b=$(curl -s "$(url "$port_b" "$bigpath")" | wc -c)
    say "  status body $len_a bytes on A, $len_b on B"
    l1=$(lookups "$port_b")
    A_ARGS=("$(url "$port_a" "$bigpath")")
    B_ARGS=("$(url "$port_b" "$bigpath")")
    PRE=big_running
    POST_FN=big_check
    ab c1r
    PRE=; POST_FN=
    l2=$(lookups "$port_b")
    say "  store lookups by B's requests during the windows: $((l2 - l1))" \
        "(restarts of the export: $restarts, each one lookup)"
    p=$(curl -s "$(url "$port_b" "$bigpath")" \
        | sed -n 's/.*"progress":\([0-9]*\).*/\1/p')
    say "  progress of the export now: ${p:-?}"
    v=$(ratio "$B_RPS" "$A_RPS")
    record "C1r status GET IN_PROGRESS, throughput B / A" ">= 0.95" "$v" \
        "$(pass "$v" ">=" 0.95)" "$B_RPS vs $A_RPS req/s; other load $OTHER%"
    record "C1r status GET IN_PROGRESS, p99 on A (us)" "-" "$A_P99" PASS \
        "p50 $A_P50 us"
    record "C1r status GET IN_PROGRESS, p99 on B (us)" "-" "$B_P99" PASS \
        "p50 $B_P50 us"
    record "C1r the same, median of the rounds' own B / A" "-" "$PAIR" \
        PASS "A and B measured next to each other in each round"
    v=$(ratio "$A_LOOP" "$B_LOOP")
    record "C1r event-loop CPU per GET, A / B" "-" "$v" PASS \
        "$A_LOOP vs $B_LOOP us/req"
    say ""
fi

# ============================================================ figure C3

# strace_workers NODE FILE SECONDS [COMMAND...]: the store's system
# calls of a node's workers (all threads) for SECONDS, or while COMMAND
# runs
strace_workers() {
    local node=$1 file=$2 secs=$3 pid t0
    shift 3
    # shellcheck disable=SC2046
    strace -qq -f -y -ttt \
        -e trace=openat,read,write,close,fstat,newfstatat,stat,flock,fchmod,rename,unlink,fsync \
        -o "$file" $(workers "$node" | sed 's/^/-p /') 2> /dev/null &
    pid=$!
    strace_pids+=($pid)
    sleep 1   # attached
    t0=$(date +%s.%N)
    if [ $# -gt 0 ]; then
        "$@"
        sleep 1
    else
        sleep "$secs"
    fi
    echo "$t0 $(date +%s.%N)" > "$file.window"
    kill -INT $pid 2> /dev/null || true
    wait $pid 2> /dev/null || true
    strace_pids=()
}

if want 3; then
    say "C3. the heartbeat's cost"
    # a fresh export: the whole trace sees it under way
    big_start
    sleep 2   # its first heartbeats
    # the real files of the running export and of the COMPLETED one
    id=$(curl -s "$(url "$port_a" "$bigpath")" \
         | sed -n 's/.*"id":"\([^"]*\)".*/\1/p')
    cid=$(curl -s "$(url "$port_a" "$c1path")" \
          | sed -n 's/.*"id":"\([^"]*\)".*/\1/p')
    shm=$(mktemp -d /dev/shm/export-bench-cluster.XXXXXX)
    for d in "$tmp/beat" "$shm"; do
        mkdir -p "$d"
        cp "$tmp/store/export-$bigrun.claim" "$d/c.claim"
        cp "$tmp/store/export-$bigrun-$id.json" "$d/c.json"
        cp "$tmp/store/export-$bigrun.beat" "$d/c.beat"
        cp "$tmp/store/export-$c1run-$cid.json" "$d/f.json"
        if [ -f "$tmp/store/export.changes" ]; then
            cp "$tmp/store/export.changes" "$d/export.changes"
        else
            tr -d '\n' < /proc/sys/kernel/random/uuid > "$d/export.changes"
        fi
    done
    secs=10
    # both nodes at once: A builds, B follows
    strace_workers a "$tmp/strace-a.txt" $secs &
    sa=$!
    strace_workers b "$tmp/strace-b.txt" $secs
    wait $sa || true
    s=$(task_status "$port_a" "$bigpath")
    [ "$s" = IN_PROGRESS ] || say "  note: the export ended during the trace"

    # POSTs of new runs on A, then the first GET of each on B
    npost=20
    famp=$(printf '%04x00c3' $((RANDOM)))
    python3 "$http/client.py" mkruns "$tmp/runs" $npost "$tmp/c3-ids.txt" \
        --family "$famp"
    c3_posts() {
        local r
        for r in $(cat "$tmp/c3-ids.txt"); do
            post "$port_a" "$api/$r/exports"
        done
    }
    c3_gets() {
        local r
        for r in $(cat "$tmp/c3-ids.txt"); do
            curl -s -o /dev/null "$(url "$port_b" "$api/$r/exports")"
        done
    }
    strace_workers a "$tmp/strace-post.txt" 0 c3_posts
    for r in $(cat "$tmp/c3-ids.txt"); do
        wait_status "$port_a" "$api/$r/exports" COMPLETED 30
    done
    strace_workers b "$tmp/strace-lookup.txt" 0 c3_gets

    for n in a b post lookup; do
        skip=
        # the POSTs and lookups: the running export's own calls left out
        case $n in post | lookup) skip=$bigrun ;; esac
        python3 "$here/syscalls.py" "$tmp/store" "$tmp/strace-$n.txt" \
            "$tmp/strace-$n.txt.window" $skip > "$tmp/c3-$n.json" \
            || die "syscalls.py failed on $n"
    done

    say "  store files: claim $(wc -c < "$tmp/beat/c.claim") B," \
        "metadata IN_PROGRESS $(wc -c < "$tmp/beat/c.json") B and" \
        "COMPLETED $(wc -c < "$tmp/beat/f.json") B," \
        "heartbeat $(wc -c < "$tmp/beat/c.beat") B"

    say "  t/bench/cluster/beat.c: the module's calls alone, $rounds rounds," \
        "medians; us per operation: wall, CPU, p50, p99"
    : > "$tmp/c3-times.txt"
    declare -A bw
    for fsname in disk tmpfs; do
        d=$tmp/beat; [ $fsname = tmpfs ] && d=$shm
        for op in beat follow token lookup claim; do
            case $fsname-$op in
                disk-claim) n=100 ;;
                tmpfs-claim | disk-*) n=2000 ;;
                *) n=10000 ;;
            esac
            vw=; vc=; v50=; v99=
            for i in $(seq "$rounds"); do
                r=$("$tmp/bin/beat" $op "$d" $n) || die "beat $op failed"
                read -r _ _ w c p50 p99 <<< "$r"
                vw+=" $w"; vc+=" $c"; v50+=" $p50"; v99+=" $p99"
            done
            bw[$fsname-$op]="$(median <<< "$vw") $(median <<< "$vc") $(median <<< "$v50") $(median <<< "$v99")"
            echo "$fsname $op ${bw[$fsname-$op]}" >> "$tmp/c3-times.txt"
        done
    done

    python3 "$here/scale.py" "$tmp/c3-a.json" "$tmp/c3-b.json" \
        "$tmp/c3-post.json" $npost "$tmp/c3-lookup.json" $npost \
        "$tmp/c3-times.txt" > "$tmp/c3.txt" \
        || die "scale.py failed: $(cat "$tmp/c3.txt")"
    sed -n '/^$/,$p' "$tmp/c3.txt" | sed '1d; s/^/  /'

    c3() { sed -n "s/^$1 \([^ ]*\).*/\1/p" "$tmp/c3.txt"; }
    c3d() { sed -n "s/^$1 [^ ]* \(.*\)/\1/p" "$tmp/c3.txt"; }
    record "C3 heartbeat: system calls a second per build" "-" \
        "$(c3 beat_calls_per_s)" PASS "$(c3d beat_calls_per_s)"
    record "C3 heartbeat: bytes a second per build" "-" \
        "$(c3 beat_bytes_per_s)" PASS "read and written"
    record "C3 follower: system calls a second per followed build" "-" \
        "$(c3 follow_calls_per_s)" PASS "$(c3d follow_calls_per_s)"
    record "C3 upkeep: system calls a second per node" "-" \
        "$(c3 token_calls_per_s)" PASS "export.changes"
    record "C3 POST: store system calls per new run" "-" \
        "$(c3 post_calls)" PASS "$(c3d post_calls)"
    record "C3 first lookup: store system calls" "-" \
        "$(c3 lookup_calls)" PASS "$(c3d lookup_calls)"
    read -r w c _ <<< "${bw[disk-beat]}"
    record "C3 heartbeat: us per beat, local disk" "-" "$w" PASS "CPU $c us"
    read -r w c _ <<< "${bw[tmpfs-beat]}"
    record "C3 heartbeat: us per beat, tmpfs" "-" "$w" PASS "CPU $c us"
    read -r w c _ <<< "${bw[disk-follow]}"
    record "C3 follower: us per followed build, local disk" "-" "$w" PASS \
        "CPU $c us"
    read -r w c _ <<< "${bw[disk-claim]}"
    record "C3 claim of a POST: us, local disk (fsync)" "-" "$w" PASS \
        "CPU $c us"
    for nn in 10 100; do
        record "C3 store calls/s of the lease, $nn nodes, hash front" "-" \
            "$(c3 ops_hash_$nn)" PASS "$(c3d ops_hash_$nn)"
        record "C3 store calls/s of the lease, $nn nodes, round-robin" "-" \
            "$(c3 ops_rr_$nn)" PASS "$(c3d ops_rr_$nn)"
    done
    say ""
fi

if want 1r || want 3; then
    curl -s "$(url "$port_a" "$bigpath")" | python3 -c '
import json, sys
t = json.load(sys.stdin)
print("the running export at the end: %s, progress %s%%, started %s"
      % (t["status"], t["progress"], t["startTimestamp"]))' | sed 's/^/  /'
    delete "$port_a" "$bigpath"
fi

# ============================================================== summary

say "figure | value | goal | verdict | detail"
say "---|---|---|---|---"
for r in "${results[@]}"; do
    say "$r"
done

for n in a b; do
    if grep -q '\[alert\]\|\[crit\]\|\[emerg\]' "$tmp/$n/logs/error.log"
    then
        say ""
        say "node $n: error.log has alerts:"
        grep '\[alert\]\|\[crit\]\|\[emerg\]' "$tmp/$n/logs/error.log" \
            | head -20
    fi
done

exit 0
