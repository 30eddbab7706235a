#!/usr/bin/env bash
# HTTP-path benchmark (issue 7): status polling as fast as nginx itself,
# and the event loop untouched by generation.
#
# Starts its own nginx (master on, 2 workers, 127.0.0.1:1996, everything
# in a temporary directory) with the module and measures with wrk on
# loopback.  Every figure is a ratio of two sides measured in this same
# run, against the same nginx binary and worker count, alternated
# A B A B (BENCH_ROUNDS times) with the median of each side taken, so that
# noise does not decide:
#
#   1  GET status of a COMPLETED task (a new signed link each time) vs
#      "return 200" of a JSON body of the same size: throughput >= 0.95,
#      p99 latency <= 1.2
#   2  the same GET, cycling through 100,000 tasks in a zone vs through 10
#      tasks in another zone: throughput >= 0.97
#   3  the CPU nginx spends (workers and thread pools) per small export,
#      a POST of a new run built to the end, vs floor.c, the file work
#      the contract asks of the same export, on the same file system:
#      <= 1.3
#   4  GET status p99 while 2 exports of 1 GiB reports are generated vs
#      with nothing generating: <= 2.0
#   5  a 100 MiB archive through a signed link vs the same file from a
#      static "root" location: throughput >= 0.95
#   6  1,000 long polls (?wait=60) parked on an unfinished task (3 GiB of
#      reports, so that it outlasts the window): CPU of the
#      workers' event loops over 10 idle seconds: < 0.05 s
#
# Figures 1, 2 and 5 are also given from nginx's own CPU time per
# request (all worker threads, from /proc): on a machine that other work
# shares, throughput moves with that work, CPU per request much less.
# Each wrk line shows "other load": the CPU that neither nginx nor wrk used
# during the window, in % of one CPU.
#
# Benchmarks are not tests: the script exits 0 when it ran, whatever the
# figures, and non-zero only when something broke.
#
# With BENCH_SUMMARY=FILE, each figure's goal also goes to FILE as one
# line "FIGURE<TAB>name<TAB>goal<TAB>value<TAB>PASS|MISS" (appended), the
# form every t/bench script writes, for make bench's closing table.
#
# Environment:
#   TEST_NGINX_BINARY  nginx to run (default /usr/sbin/nginx)
#   EXPORT_MODULE      the module .so (default build/nginx/objs/...)
#   BENCH_PORT         1996; the script stops when something already
#                      listens there (with "reuseport", a second server
#                      would bind as well and take half of the requests)
#   BENCH_DURATION     seconds per wrk run (10)
#   BENCH_ROUNDS       A/B alternations per figure (6; BENCH_FULL=1: 8):
#                      a window can differ from the next by 8-10% here,
#                      and the goals are medians of 6 rounds at least
#   BENCH_TASKS        tasks for figure 2 (100000; BENCH_FULL=1: 250000)
#   BENCH_BIG_MB       size of each report of figure 4 (1024)
#   BENCH_ONLY         figures to run, e.g. "1 4" (default all)
#   BENCH_PERF=DIR     perf record (DWARF call graphs) the workers during
#                      every wrk run into DIR/<figure>-<side>-<round>.data
#                      (apt-get install linux-perf)
#   BENCH_GEN_IDLE=1   move the workers' thread-pool threads to SCHED_IDLE
#                      from outside (chrt -i) for the whole run: what a fix
#                      in the module would give.  Figure 4 is measured so
#                      once more anyway when it misses.
#   BENCH_NGINX_ENV    environment for nginx, for what-if runs, e.g.
#                      "GLIBC_TUNABLES=glibc.malloc.trim_threshold=1000000000"
#   BENCH_HMAC_KEEP=1  what-if: nginx runs with LD_PRELOAD=hmac-keep.so,
#                      an HMAC() that keeps its keyed context (see there)
#   BENCH_KEEP=1       keep the temporary directory

set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
here=$top/t/bench/http
nginx=${TEST_NGINX_BINARY:-/usr/sbin/nginx}
module=${EXPORT_MODULE:-$top/build/nginx/objs/ngx_http_export_module.so}
port=${BENCH_PORT:-1996}
dur=${BENCH_DURATION:-10}
full=${BENCH_FULL:-0}
if [ "$full" = 1 ]; then
    rounds=${BENCH_ROUNDS:-8}
    ntasks=${BENCH_TASKS:-250000}
else
    rounds=${BENCH_ROUNDS:-6}
    ntasks=${BENCH_TASKS:-100000}
fi
big_mb=${BENCH_BIG_MB:-1024}
only=" ${BENCH_ONLY:-1 2 3 4 5 6} "
conns=64
threads=2

export BENCH_LUA_DIR=$here

say() { printf '%s\n' "$*"; }
die() { printf 'http.sh: %s\n' "$*" >&2; exit 1; }
want() { [[ "$only" == *" $1 "* ]]; }

# ---------------------------------------------------------------- tools

if ! command -v wrk > /dev/null; then
    [ "$(id -u)" -eq 0 ] || die "wrk is missing: apt-get install wrk"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk > /dev/null \
        || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
             apt-get install -y -qq wrk > /dev/null; } \
        || die "cannot install wrk"
fi
for t in curl python3 gcc ps; do
    command -v $t > /dev/null || die "$t is missing"
done
if [ -n "${BENCH_PERF:-}" ] && ! command -v perf > /dev/null; then
    die "BENCH_PERF is set but perf is missing: apt-get install linux-perf"
fi
[ -x "$nginx" ] || die "no nginx at $nginx"
[ -f "$module" ] || die "no module at $module: run make build"

# ------------------------------------------------------- the directory

avail_mb=$(df -Pm /tmp | awk 'NR == 2 { print $4 }')
# the 1 GiB report, two archives of it, and the rest
need_mb=$((big_mb * 3 + 1500))
if [ "$avail_mb" -lt "$need_mb" ]; then
    big_mb=$(( (avail_mb - 1500) / 3 ))
    [ "$big_mb" -ge 64 ] || die "/tmp has only $avail_mb MiB free"
    say "note: /tmp has $avail_mb MiB free: figure 4 uses $big_mb MiB reports"
fi

tmp=$(mktemp -d /tmp/export-bench-http.XXXXXX)
chmod 755 "$tmp"
# the many tiny runs and the stores of their exports live in memory: on
# this kind of VM disk, creating and fsync()ing 100,000 archives and their
# metadata takes minutes, and deleting them slows the file system down
shm=$(mktemp -d /dev/shm/export-bench-http.XXXXXX)
chmod 755 "$shm"
master=
park_pid=

cleanup() {
    set +e
    if [ -n "$park_pid" ]; then
        kill "$park_pid" 2> /dev/null
    fi
    if [ -n "$master" ] && kill -0 "$master" 2> /dev/null; then
        kill -TERM "$master"
        for _ in $(seq 50); do
            kill -0 "$master" 2> /dev/null || break
            sleep 0.1
        done
    fi
    if [ "${BENCH_KEEP:-0}" = 1 ]; then
        say "kept $tmp $shm"
    else
        rm -rf "$tmp" "$shm"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$tmp"/{conf,logs,static/st,wrk,bin,big} \
         "$tmp"/store/{small,gen,dl} "$shm"/runs "$shm"/store/{big,post}
# with a root master the workers run as nobody: they write the stores
if [ "$(id -u)" -eq 0 ]; then
    chown nobody:nogroup "$tmp"/store/* "$shm"/store/*
    user_line="user nobody nogroup;"
else
    user_line=""
fi
head -c 32 /dev/urandom > "$tmp/conf/export.key"
chmod 600 "$tmp/conf/export.key"

# a private copy: a make build during the run changes nothing here (and
# one under way now is waited for)
for i in $(seq 60); do
    cp -p "$module" "$tmp/ngx_http_export_module.so" 2> /dev/null && break
    sleep 1
done
[ -f "$tmp/ngx_http_export_module.so" ] || die "cannot copy $module"

gcc -O2 -o "$tmp/bin/genrows" "$here/genrows.c"

nginx_env=${BENCH_NGINX_ENV:-}
if [ "${BENCH_HMAC_KEEP:-0}" = 1 ]; then
    gcc -O2 -shared -fPIC -o "$tmp/bin/hmac-keep.so" "$here/hmac-keep.c" \
        -lcrypto || die "cannot build hmac-keep.so"
    nginx_env="$nginx_env LD_PRELOAD=$tmp/bin/hmac-keep.so"
fi

# ------------------------------------------------------------- machine

cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
mem=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
ngx_version=$("$nginx" -v 2>&1 | sed 's/^nginx version: //')
rev=$(git -C "$top" rev-parse --short HEAD 2> /dev/null || echo "?")
if [ -n "$(git -C "$top" status --porcelain -- src config 2> /dev/null)" ]
then
    rev="$rev+uncommitted src"
fi

say "machine: $(nproc) CPUs ($cpu), $mem, Linux $(uname -r), $ngx_version"
so=$tmp/ngx_http_export_module.so
say "module:  $module ($rev, built $(date -r "$so" "+%F %T"), sha256" \
    "$(sha256sum < "$so" | cut -c1-12))"
say "wrk:     -t$threads -c$conns -d${dur}s --latency, $rounds A/B rounds" \
    "per figure, medians"
say "dir:     $tmp"
[ -n "$nginx_env" ] && say "what-if: nginx runs with $nginx_env"
[ "${BENCH_GEN_IDLE:-0}" = 1 ] \
    && say "what-if: the workers' thread-pool threads run SCHED_IDLE"
say ""

# ---------------------------------------------------------------- runs

ids_small=$tmp/ids-small.txt
ids_big=$tmp/ids-big.txt

# runs named from a family and a number: wrk makes each name from its
# number (cycle.lua "uuid:" runs), so 10 and 100,000 runs cost it the same
fam_small=$(printf '%04x0001' $((RANDOM)))
fam_big=$(printf '%04x0002' $((RANDOM)))
python3 "$here/client.py" mkruns "$shm/runs" 10 "$ids_small" \
    --family "$fam_small"
s0=$(head -n 1 "$ids_small")

# figure 3's source: each POST names a run never posted before
# (uuid:$fam_post:...), and every one of them exports this tiny run
fam_post=$(printf '%04x0003' $((RANDOM)))
python3 "$here/client.py" mkruns "$shm/postsrc" 1 "$tmp/postsrc.txt" \
    --family 0
post_src=$shm/postsrc/$(head -n 1 "$tmp/postsrc.txt")

gen1=aaaaaaaa-0000-4000-8000-000000000001
gen2=aaaaaaaa-0000-4000-8000-000000000002
gen3=aaaaaaaa-0000-4000-8000-000000000003
dlrun=dddddddd-0000-4000-8000-000000000001

# ------------------------------------------------------------- config

write_conf() {
    local body=$1 p z pool extra store

    {
        cat <<EOF
load_module $tmp/ngx_http_export_module.so;
$user_line
worker_processes  2;
worker_rlimit_nofile 20000;
error_log  logs/error.log warn;
pid        logs/nginx.pid;

thread_pool exports threads=2 max_queue=65536;
thread_pool bulk threads=2 max_queue=262144;

events {
    worker_connections  8192;
}

http {
    access_log          off;
    sendfile            on;
    tcp_nopush          on;
    keepalive_requests  10000000;
    keepalive_timeout   120s;

    export_link_secret  $tmp/conf/export.key;
    export_link_ttl     1h;
    export_ttl          1h;

    export_zone  small:16m;
    export_zone  big:128m;
    export_zone  post:512m;
    export_zone  gen:1m;
    export_zone  dl:1m;

    server {
        listen  127.0.0.1:$port reuseport;

        # the baseline: a JSON body of the same size, from nginx itself
        location /r/ {
            location ~ ^/r/check-sets/(?<run_id>[^/]+)/exports\$ {
                default_type  application/json;
                return 200 '$body\\n';
            }
        }

        # a static file from "root": the same archive as the signed link
        location /st/ {
            root  $tmp/static;
        }

        location = /nginx-status {
            stub_status;
        }

        location = /export-status {
            export_status;
        }

EOF
        for p in s:small:exports b:big:bulk p:post:bulk g:gen:exports \
                 d:dl:exports
        do
            IFS=: read -r p z pool <<< "$p"
            # figures 4 to 6 link one big report (on /tmp) into runs on
            # /dev/shm: since export_disable_symlinks (default on) such a
            # report is left out, and the exports finished at once
            case $z in
                gen) extra="export_disable_symlinks  off;" ;;
                dl) extra="export_compression_level  0;"
                    extra="$extra export_disable_symlinks  off;" ;;
                *) extra= ;;
            esac
            store=$tmp/store/$z
            case $z in big | post) store=$shm/store/$z ;; esac
            source=$shm/runs/\$run_id
            # figure 3: every run a new name, all of them one tiny report
            [ "$z" = post ] && source=$post_src
            cat <<EOF
        location /$p/ {
            location ~ ^/$p/check-sets/(?<run_id>[^/]+)/exports\$ {
                export_api          zone=$z;
                export_run_id       \$run_id;
                export_source       $source;
                export_store        $store;
                export_thread_pool  $pool;
                $extra
            }

            location ~ ^/$p/check-sets/(?<run_id>[^/]+)/exports/file\$ {
                export_download     zone=$z;
                export_run_id       \$run_id;
            }
        }

EOF
        done
        say "    }"
        say "}"
    } > "$tmp/conf/nginx.conf"
}

workers() {
    ps -o pid= --ppid "$master" | tr -d ' '
}

start_nginx() {
    "$nginx" -p "$tmp" -c "$tmp/conf/nginx.conf" -t -q \
        || die "nginx -t failed"
    env $nginx_env "$nginx" -p "$tmp" -c "$tmp/conf/nginx.conf" \
        || die "nginx did not start"
    for _ in $(seq 50); do
        [ -s "$tmp/logs/nginx.pid" ] && break
        sleep 0.1
    done
    master=$(cat "$tmp/logs/nginx.pid")
    for _ in $(seq 50); do
        [ "$(workers | wc -l)" -eq 2 ] && return 0
        sleep 0.1
    done
    die "nginx has no 2 workers"
}

reload_nginx() {
    local old
    old=$(workers)
    "$nginx" -p "$tmp" -c "$tmp/conf/nginx.conf" -t -q \
        || die "nginx -t failed on reload"
    kill -HUP "$master"
    for _ in $(seq 100); do
        sleep 0.1
        local w gone=1
        for w in $old; do
            kill -0 "$w" 2> /dev/null && gone=0
        done
        [ $gone = 1 ] && [ "$(workers | wc -l)" -eq 2 ] && return 0
    done
    die "the reload did not finish"
}

# --------------------------------------------------------------- HTTP

base=http://127.0.0.1:$port

# the task's status field, or the HTTP code when there is no JSON status
task_status() {
    curl -s "$base$1" | sed -n 's/.*"status":"\([A-Z_]*\)".*/\1/p'
}

post() {
    local code
    code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$base$1")
    [ "$code" = 202 ] || die "POST $1 answered $code"
}

delete() {
    curl -s -o /dev/null -X DELETE "$base$1"
}

wait_status() {   # path status seconds
    local i s
    for i in $(seq $(($3 * 10))); do
        s=$(task_status "$1")
        [ "$s" = "$2" ] && return 0
        case "$s" in
            FAILED) die "$1 FAILED: $(curl -s "$base$1")" ;;
        esac
        sleep 0.1
    done
    die "$1 is not $2 after $3 s (it is ${s:-no task})"
}

# --------------------------------------------------------------- CPU

ticks() {   # utime+stime of a process (all threads) or of one thread
    awk '{ print $14 + $15 }' "$1" 2> /dev/null || echo 0
}

workers_ticks() {
    local w sum=0
    for w in $(workers); do
        sum=$((sum + $(ticks /proc/$w/stat)))
    done
    echo $sum
}

# waits until the workers (and their threads) are idle: a job backlog of
# one measurement must not eat into the next; QUIET_S: seconds it took
quiet() {
    local a b i max=${1:-60} t0
    t0=$(date +%s.%N)
    for i in $(seq $((max * 2))); do
        a=$(workers_ticks)
        sleep 0.5
        b=$(workers_ticks)
        if [ $((b - a)) -le 2 ]; then
            QUIET_S=$(awk -v a="$t0" -v b="$(date +%s.%N)" \
                      'BEGIN { printf "%.1f", b - a - 0.5 }')
            return 0
        fi
    done
    QUIET_S=$max
    say "  note: the workers were still busy after $max s"
}

# ----------------------------------------------------------------- wrk

hz=$(getconf CLK_TCK)

# wrk_run TAG CONNS URL [SCRIPT [ARGS...]]: prints the RESULT fields
wrk_run() {
    local tag=$1 c=$2 url=$3 script=${4:-$here/report.lua} out perf_pid=
    local -a args=()
    shift 3
    if [ $# -gt 0 ]; then
        shift
        [ $# -gt 0 ] && args=(-- "$@")
    fi
    out=$tmp/wrk/$tag.txt

    if [ -n "${BENCH_PERF:-}" ]; then
        mkdir -p "$BENCH_PERF"
        perf record -q -F 499 --call-graph dwarf,16384 \
            -p "$(workers | paste -sd,)" \
            -o "$BENCH_PERF/$tag.data" -- sleep "$dur" \
            > /dev/null 2>&1 &
        perf_pid=$!
    fi

    local b0 w0 c0 b1 w1 c1 res me=$BASHPID
    b0=$(busy); w0=$(workers_ticks); c0=$(children_ticks "$me")

    wrk -t$threads -c"$c" -d"${dur}s" --latency -s "$script" "$url" \
        "${args[@]}" > "$out" 2>&1 || die "wrk failed: $(cat "$out")"

    b1=$(busy); w1=$(workers_ticks); c1=$(children_ticks "$me")

    if [ -n "$perf_pid" ]; then
        wait "$perf_pid" || true
    fi

    res=$(grep '^RESULT ' "$out" | sed 's/^RESULT //') \
        || die "no result from wrk: $(cat "$out")"

    # CPU that neither nginx nor wrk used in the window, in % of one CPU:
    # other programs on the machine, the noise of this measurement
    # and nginx's own CPU per request (all worker threads), in us: a
    # figure that other programs on the machine do not move much
    echo "$res other_pct=$(awk -v b=$((b1 - b0)) -v w=$((w1 - w0)) \
        -v c=$((c1 - c0)) -v hz="$hz" -v d="$dur" \
        'BEGIN { o = (b - w - c) / hz / d * 100; if (o < 0) o = 0;
                 printf "%.0f", o }')" \
        "cpu_us=$(awk -v w=$((w1 - w0)) -v hz="$hz" \
        -v n="$(field requests "$res")" \
        'BEGIN { printf "%.1f", n ? w / hz * 1e6 / n : 0 }')"
}

busy() {   # CPU ticks of the machine, idle and iowait left out
    awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 }' /proc/stat
}

children_ticks() {   # CPU of PID's children it has waited for (wrk)
    awk '{ print $16 + $17 }' "/proc/$1/stat"
}

field() {   # field NAME "k=v k=v ..."
    tr ' ' '\n' <<< "$2" | sed -n "s/^$1=//p"
}

median() {
    tr ' ' '\n' | sed '/^$/d' | sort -g | awk '
        { v[NR] = $1 }
        END { if (NR % 2) print v[(NR + 1) / 2];
              else printf "%.6g\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b ? a / b : 0 }'; }

# pass VALUE OP TARGET
pass() {
    awk -v v="$1" -v t="$3" -v op="$2" 'BEGIN {
        ok = (op == ">=") ? v >= t : v <= t;
        print ok ? "PASS" : "MISS" }'
}

results=()

record() {   # figure what value target verdict detail
    results+=("$1|$2|$3|$4 $5|$6|$7")
    printf '  => %-44s %8s  (target %s %s)  %s\n' "$2" "$3" "$4" "$5" "$6"
}

# goal NAME OP TARGET VALUE: one line of make bench's table of every
# figure, in $BENCH_SUMMARY when it is set; prints the verdict
goal() {
    local verdict
    verdict=$(pass "$4" "$2" "$3")
    if [ -n "${BENCH_SUMMARY:-}" ]; then
        printf 'FIGURE\t%s\t%s %s\t%s\t%s\n' "http $1" "$2" "$3" "$4" \
            "$verdict" >> "$BENCH_SUMMARY"
    fi
    echo "$verdict"
}

# ab TAG CONNS: runs side A ("module", command in A_ARGS) and side B
# ("baseline", B_ARGS) alternately; sets A_RPS A_P99 A_CPU B_RPS B_P99
# B_CPU (medians; CPU: nginx's us per request) and A_ERR B_ERR (socket
# and status errors, summed)
ab() {
    local tag=$1 c=$2 i r rps_a= rps_b= p99_a= p99_b= err_a=0 err_b=0
    local cpu_a= cpu_b=
    for i in $(seq "$rounds"); do
        quiet
        if [ -n "${A_PRE:-}" ]; then $A_PRE; fi
        r=$(wrk_run "$tag-module-$i" "$c" "${A_ARGS[@]}")
        rps_a+=" $(field rps "$r")"; p99_a+=" $(field p99_us "$r")"
        cpu_a+=" $(field cpu_us "$r")"
        err_a=$((err_a + $(field connect "$r") + $(field read "$r")
                 + $(field write "$r") + $(field timeout "$r")
                 + $(field status "$r")))
        say "  $tag A (module)   round $i: $(field rps "$r") req/s," \
            "p50 $(field p50_us "$r") us, p99 $(field p99_us "$r") us," \
            "nginx CPU $(field cpu_us "$r") us/req," \
            "other load $(field other_pct "$r")%"
        if [ -n "${A_POST:-}" ]; then $A_POST "$r"; fi
        quiet
        r=$(wrk_run "$tag-baseline-$i" "$c" "${B_ARGS[@]}")
        rps_b+=" $(field rps "$r")"; p99_b+=" $(field p99_us "$r")"
        cpu_b+=" $(field cpu_us "$r")"
        err_b=$((err_b + $(field connect "$r") + $(field read "$r")
                 + $(field write "$r") + $(field timeout "$r")
                 + $(field status "$r")))
        say "  $tag B (baseline) round $i: $(field rps "$r") req/s," \
            "p50 $(field p50_us "$r") us, p99 $(field p99_us "$r") us," \
            "nginx CPU $(field cpu_us "$r") us/req," \
            "other load $(field other_pct "$r")%"
    done
    A_RPS=$(median <<< "$rps_a"); A_P99=$(median <<< "$p99_a")
    B_RPS=$(median <<< "$rps_b"); B_P99=$(median <<< "$p99_b")
    A_CPU=$(median <<< "$cpu_a"); B_CPU=$(median <<< "$cpu_b")
    A_ERR=$err_a; B_ERR=$err_b
    # the spread of the rounds' own ratios: a median inside it is noise
    AB_SPREAD=$(paste <(tr ' ' '\n' <<< "$rps_a" | sed '/^$/d') \
                      <(tr ' ' '\n' <<< "$rps_b" | sed '/^$/d') | awk '
        { r = $2 ? $1 / $2 : 0
          if (NR == 1 || r < lo) lo = r
          if (NR == 1 || r > hi) hi = r }
        END { printf "%.3f-%.3f", lo, hi }')
    if [ "$A_ERR" -gt 0 ] || [ "$B_ERR" -gt 0 ]; then
        say "  note: errors or non-2xx answers: module $A_ERR," \
            "baseline $B_ERR (see $tmp/wrk)"
    fi
}

gen_threads_idle() {   # every thread of the workers but the event loop
    local w t
    for w in $(workers); do
        for t in /proc/"$w"/task/*; do
            t=${t##*/}
            [ "$t" = "$w" ] || chrt -i -p 0 "$t"
        done
    done
}

gen_threads_normal() {
    local w t
    for w in $(workers); do
        for t in /proc/"$w"/task/*; do
            t=${t##*/}
            [ "$t" = "$w" ] || chrt -o -p 0 "$t"
        done
    done
}

# ================================================================ start

if (exec 3<> "/dev/tcp/127.0.0.1/$port") 2> /dev/null; then
    die "something already listens on 127.0.0.1:$port: set BENCH_PORT"
fi

write_conf '{}'
start_nginx
[ "${BENCH_GEN_IDLE:-0}" = 1 ] && gen_threads_idle

for r in $(cat "$ids_small"); do
    post "/s/check-sets/$r/exports"
done
for r in $(cat "$ids_small"); do
    wait_status "/s/check-sets/$r/exports" COMPLETED 30
done

# the baseline body: the size of the status of a COMPLETED task
status_url=/s/check-sets/$s0/exports
body=$(curl -s "$base$status_url")
case "$body" in
    *"\$"* | *"'"* | *"\\"*) die "the status body needs escaping: $body" ;;
esac
write_conf "$body"
reload_nginx
[ "${BENCH_GEN_IDLE:-0}" = 1 ] && gen_threads_idle

len_a=$(curl -s "$base$status_url" | wc -c)
len_b=$(curl -s "$base/r/check-sets/$s0/exports" | wc -c)
[ "$len_a" = "$len_b" ] \
    || die "status body is $len_a bytes but the baseline's is $len_b"
say "status body: $len_a bytes, application/json, both sides"
say ""

# ============================================================= figure 1

if want 1; then
    say "1. GET status of a COMPLETED task vs return 200 ($conns connections)"
    A_ARGS=("$base$status_url")
    B_ARGS=("$base/r/check-sets/$s0/exports")
    ab fig1 $conns
    spread="ratios of the rounds $AB_SPREAD"
    v=$(ratio "$A_RPS" "$B_RPS")
    record 1 "status GET throughput, module / return 200" "$v" ">=" 0.95 \
        "$(goal "1: status GET throughput, module / return 200" ">=" 0.95 \
           "$v")" \
        "$A_RPS vs $B_RPS req/s; nginx CPU $A_CPU vs $B_CPU us/req; $spread"
    v=$(ratio "$B_CPU" "$A_CPU")
    record 1 "  the same from nginx CPU/request, baseline / module" "$v" \
        ">=" 0.95 "$(pass "$v" ">=" 0.95)" "$B_CPU vs $A_CPU us/req"
    v=$(ratio "$A_P99" "$B_P99")
    record 1 "status GET p99 latency, module / return 200" "$v" "<=" 1.2 \
        "$(goal "1: status GET p99, module / return 200" "<=" 1.2 "$v")" \
        "$A_P99 vs $B_P99 us"
    say ""
fi

# ============================================================= figure 2

if want 2; then
    say "making $ntasks tiny runs"
    t0=$(date +%s.%N)
    python3 "$here/client.py" mkruns "$shm/runs" "$ntasks" "$ids_big" \
        --family "$fam_big"
    say "  $(awk -v a="$t0" -v b="$(date +%s.%N)" \
        'BEGIN { printf "%.1f", b - a }') s"
fi

if want 2; then
    say "2. GET status with $ntasks tasks in the zone vs 10 tasks"
    t0=$(date +%s.%N)
    out=$(python3 "$here/client.py" bulk "$port" POST /b/check-sets/ \
          "$ids_big" --pending "$tmp/pending.txt")
    say "  POST of $ntasks exports: $out"
    pending=$(wc -l < "$tmp/pending.txt")
    [ "$pending" -eq 0 ] || die "$pending POSTs were not accepted: $out"
    posted=$(date +%s.%N)
    # the thread pools are FIFO: the last runs posted finish last; poll
    # those, then look at every task once
    tail -n 64 "$ids_big" > "$tmp/pending.txt"
    for pass in last all; do
        for i in $(seq 1200); do
            out=$(python3 "$here/client.py" bulk "$port" GET /b/check-sets/ \
                  "$tmp/pending.txt" --pending "$tmp/pending2.txt")
            mv "$tmp/pending2.txt" "$tmp/pending.txt"
            pending=$(wc -l < "$tmp/pending.txt")
            [ "$pending" -eq 0 ] && break
            case "$out" in
                *FAILED* | *'"404 '*) die "tasks were lost or failed: $out" ;;
            esac
            sleep 0.5
        done
        [ "$pending" -eq 0 ] || die "$pending tasks did not complete: $out"
        [ $pass = last ] && done_at=$(date +%s.%N)
        cp "$ids_big" "$tmp/pending.txt"
    done
    say "  all $ntasks COMPLETED $(awk -v a="$posted" -v b="$done_at" \
        'BEGIN { printf "%.1f", b - a }') s after the last POST" \
        "($(awk -v a="$t0" -v b="$done_at" -v n="$ntasks" \
        'BEGIN { printf "%.0f", n / (b - a) }') exports/s from the first" \
        "POST); checked: $out"

    A_ARGS=("$base/" "$here/cycle.lua" GET /b/check-sets/
            "uuid:$fam_big:$ntasks" 0 $threads)
    B_ARGS=("$base/" "$here/cycle.lua" GET /s/check-sets/
            "uuid:$fam_small:10" 0 $threads)
    ab fig2 $conns
    f2_spread="ratios of the rounds $AB_SPREAD"
    f2_rps_a=$A_RPS f2_rps_b=$B_RPS f2_cpu_a=$A_CPU f2_cpu_b=$B_CPU
    f2_p99_a=$A_P99 f2_p99_b=$B_P99

    # the control: wrk's side alone, the same two run lists against one
    # "return 200"; near 1 when wrk costs the same on both sides
    A_ARGS=("$base/" "$here/cycle.lua" GET /r/check-sets/
            "uuid:$fam_big:$ntasks" 0 $threads)
    B_ARGS=("$base/" "$here/cycle.lua" GET /r/check-sets/
            "uuid:$fam_small:10" 0 $threads)
    ab fig2-control $conns
    f2_control=$(ratio "$A_RPS" "$B_RPS")
    A_RPS=$f2_rps_a B_RPS=$f2_rps_b A_CPU=$f2_cpu_a B_CPU=$f2_cpu_b
    A_P99=$f2_p99_a B_P99=$f2_p99_b
    v=$(ratio "$A_RPS" "$B_RPS")
    record 2 "status GET throughput, $ntasks tasks / 10 tasks" "$v" ">=" \
        0.97 "$(goal "2: status GET throughput, $ntasks tasks / 10" ">=" \
                0.97 "$v")" \
        "$A_RPS vs $B_RPS req/s; nginx CPU $A_CPU vs $B_CPU us/req; $f2_spread"
    v=$(ratio "$B_CPU" "$A_CPU")
    record 2 "  the same from nginx CPU/request, 10 / $ntasks" "$v" ">=" \
        0.97 "$(pass "$v" ">=" 0.97)" "$B_CPU vs $A_CPU us/req"
    v=$(ratio "$A_P99" "$B_P99")
    record 2 "status GET p99, $ntasks tasks / 10 tasks" "$v" "" "-" \
        "info" "$A_P99 vs $B_P99 us"
    record 2 "  control: return 200 with the same two run lists" \
        "$f2_control" "" "-" "info" "wrk's own cost of $ntasks runs against 10"
    say ""
fi

# ============================================================= figure 3

if want 3; then
    say "3. nginx CPU per small export (a POST of a new run, built to the" \
        "end) vs floor.c's file work"
    gcc -O2 -o "$tmp/bin/floor" "$here/floor.c" || die "cannot build floor"
    post_offset=0
    created_total=0
    post_total=0
    span_total=0
    post_space=1000000000
    floor_n=10000
    created() {   # exports the zone "post" has created so far
        curl -s "$base/export-status" | python3 -c '
import json, sys
print(json.load(sys.stdin)["zones"]["post"]["created"])'
    }
    loop_ticks() {   # the workers' main threads: their event loops
        local w sum=0
        for w in $(workers); do
            sum=$((sum + $(ticks /proc/$w/task/$w/stat)))
        done
        echo $sum
    }
    # the exports of a window are built to the end, and their CPU counts:
    # from the window's start until the workers are idle again
    fig3_module() {   # round
        local r n i c0 made w0 l0 w1 l1 t0 t1 tw
        # the files of earlier rounds go: the store stays small for the
        # sweeps (worker 0 walks it every 60 s) and /dev/shm
        find "$shm/store/post" -mindepth 1 -delete
        quiet
        c0=$(created)
        w0=$(workers_ticks); l0=$(loop_ticks); t0=$(date +%s.%N)
        r=$(wrk_run "fig3-module-$1" $conns "$base/" "$here/cycle.lua" \
            POST /p/check-sets/ "uuid:$fam_post:$post_space" \
            "$post_offset" $threads)
        tw=$(date +%s.%N)
        n=$(field requests "$r")
        # the last runs the window posted, and a margin: all finished (or
        # never posted), and the workers idle
        awk -v a=$((post_offset + n - 64)) -v b=$((post_offset + n + 64)) \
            -v f=$((16#$fam_post)) 'BEGIN { for (i = a; i < b; i++)
                printf "%08x-0000-4000-8000-%012x\n", f, i }' \
            > "$tmp/pending.txt"
        for i in $(seq 1200); do
            python3 "$here/client.py" bulk "$port" GET /p/check-sets/ \
                "$tmp/pending.txt" --want COMPLETED,404 \
                --pending "$tmp/pending2.txt" > /dev/null
            mv "$tmp/pending2.txt" "$tmp/pending.txt"
            [ -s "$tmp/pending.txt" ] || break
            sleep 0.5
        done
        quiet 600
        w1=$(workers_ticks); l1=$(loop_ticks); t1=$(date +%s.%N)
        QUIET_S=$(awk -v a="$tw" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
        made=$(( $(created) - c0 ))
        [ "$made" -ge "$n" ] || die "$((n - made)) POSTs started no export"
        post_offset=$((post_offset + n))
        created_total=$((created_total + made))
        post_total=$((post_total + n))
        span_total=$(awk -v a="$span_total" -v b="$t0" -v c="$t1" \
                     'BEGIN { printf "%.1f", a + c - b - 0.5 }')
        F3_CPU=$(awk -v w=$((w1 - w0)) -v n="$made" -v hz="$hz" \
                 'BEGIN { printf "%.1f", w / hz * 1e6 / n }')
        F3_LOOP=$(awk -v w=$((l1 - l0)) -v n="$made" -v hz="$hz" \
                  'BEGIN { printf "%.1f", w / hz * 1e6 / n }')
        F3_RPS=$(field rps "$r")
        say "  fig3 A (module) round $1: $made exports from $n POSTs" \
            "($F3_RPS POSTs/s, other load $(field other_pct "$r")%)," \
            "finished $QUIET_S s after the window; nginx CPU $F3_CPU us" \
            "per export, event loops $F3_LOOP us"
    }
    fig3_floor() {   # round: 2 processes in one store, as 2 workers
        rm -rf "$shm/floor"
        quiet
        F3_FLOOR=$("$tmp/bin/floor" "$shm/floor" $floor_n 2) \
            || die "floor failed"
        rm -rf "$shm/floor"
        say "  fig3 B (floor.c) round $1: $F3_FLOOR us CPU per export" \
            "($((2 * floor_n)) exports)"
    }
    cpu_a= loop_a= floor_b= rps_a= ratios=
    for i in $(seq "$rounds"); do
        fig3_module "$i"
        fig3_floor "$i"
        cpu_a+=" $F3_CPU"; loop_a+=" $F3_LOOP"; floor_b+=" $F3_FLOOR"
        rps_a+=" $F3_RPS"
        ratios+=" $(ratio "$F3_CPU" "$F3_FLOOR")"
    done
    find "$shm/store/post" -mindepth 1 -delete
    A_CPU=$(median <<< "$cpu_a"); B_CPU=$(median <<< "$floor_b")
    spread=$(tr ' ' '\n' <<< "$ratios" | sed '/^$/d' | sort -g \
             | sed -n '1p;$p' | paste -sd- -)
    v=$(ratio "$A_CPU" "$B_CPU")
    record 3 "nginx CPU per small export / floor.c" "$v" "<=" 1.3 \
        "$(goal "3: nginx CPU per small export / floor.c file work" \
           "<=" 1.3 "$v")" \
        "$A_CPU vs $B_CPU us (medians); ratios of the rounds $spread"
    record 3 "  nginx CPU per export, all threads (us)" "$A_CPU" "" "-" \
        "info" "rounds $(tr ' ' '\n' <<< "$cpu_a" | sed '/^$/d' | sort -g \
        | sed -n '1p;$p' | paste -sd- -); event loops $(median <<< \
        "$loop_a") us"
    record 3 "  floor.c, the contract's file work (us)" "$B_CPU" "" "-" \
        "info" "rounds $(tr ' ' '\n' <<< "$floor_b" | sed '/^$/d' \
        | sort -g | sed -n '1p;$p' | paste -sd- -); 2 processes, one store"
    v=$(awk -v n="$created_total" -v s="$span_total" \
        'BEGIN { printf "%.0f", n / s }')
    record 3 "  exports started and finished per second" "$v" "" "-" \
        "info" "$created_total exports ($post_total POSTs) in $span_total s, windows and drains"
    record 3 "  POSTs answered per second in the windows" \
        "$(median <<< "$rps_a")" "" "-" "info" "median of the rounds"
    say ""
fi

# ============================================================= figure 5

if want 5; then
    say "5. a 100 MiB archive: signed link vs static root"
    mkdir -p "$shm/runs/$dlrun"
    # stored (level 0): the archive is the NDJSON plus its CSV, ~100 MiB
    "$tmp/bin/genrows" "$tmp/big/dl.ndjson" 68157440 7 > /dev/null
    ln -s "$tmp/big/dl.ndjson" "$shm/runs/$dlrun/checks.ndjson"
    post "/d/check-sets/$dlrun/exports"
    wait_status "/d/check-sets/$dlrun/exports" COMPLETED 120
    body=$(curl -s "$base/d/check-sets/$dlrun/exports")
    link=$(sed -n 's/.*"downloadUrl":"\([^"]*\)".*/\1/p' <<< "$body")
    size=$(sed -n 's/.*"size":\([0-9]*\).*/\1/p' <<< "$body")
    archive=$(ls "$tmp"/store/dl/export-"$dlrun"-*.zip)
    ln "$archive" "$tmp/static/st/export.zip"
    code=$(curl -s -o /dev/null -w '%{http_code} %{size_download}' "$base$link")
    [ "$code" = "200 $size" ] || die "the signed link answered $code"
    code=$(curl -s -o /dev/null -w '%{http_code} %{size_download}' \
           "$base/st/export.zip")
    [ "$code" = "200 $size" ] || die "the static file answered $code"
    say "  archive: $size bytes ($(awk -v s="$size" \
        'BEGIN { printf "%.1f", s / 1048576 }') MiB)"
    A_ARGS=("$base$link")
    B_ARGS=("$base/st/export.zip")
    ab fig5 4
    v=$(ratio "$A_RPS" "$B_RPS")
    record 5 "100 MiB download, signed link / static root" "$v" ">=" 0.95 \
        "$(goal "5: 100 MiB download, signed link / static root" ">=" \
           0.95 "$v")" "$(awk -v a="$A_RPS" -v b="$B_RPS" \
        -v s="$size" 'BEGIN { printf "%.0f vs %.0f MiB/s", a * s / 1048576,
        b * s / 1048576 }')"
    v=$(ratio "$B_CPU" "$A_CPU")
    record 5 "  the same from nginx CPU/request, static / link" "$v" ">=" \
        0.95 "$(pass "$v" ">=" 0.95)" "$B_CPU vs $A_CPU us per download"
    say ""
fi

# ========================================================= figure 4 and 6

if want 4 || want 6; then
    say "making a ${big_mb} MiB NDJSON report"
    "$tmp/bin/genrows" "$tmp/big/checks.ndjson" $((big_mb * 1048576)) 11 \
        | sed 's/^/  /'
    mkdir -p "$shm/runs/$gen1" "$shm/runs/$gen2"
    # two runs, one report: the same bytes, read from the page cache
    ln -s "$tmp/big/checks.ndjson" "$shm/runs/$gen1/checks.ndjson"
    ln -s "$tmp/big/checks.ndjson" "$shm/runs/$gen2/checks.ndjson"
    # figure 6 parks on an export that outlasts its window: 3 reports
    mkdir -p "$shm/runs/$gen3"
    for i in 1 2 3; do
        ln -s "$tmp/big/checks.ndjson" "$shm/runs/$gen3/checks-$i.ndjson"
    done
fi

gen_url1=/g/check-sets/$gen1/exports
gen_url2=/g/check-sets/$gen2/exports
gen_url3=/g/check-sets/$gen3/exports

gen_start() {   # fresh exports of both big runs, both under way
    delete "$gen_url1"; delete "$gen_url2"
    post "$gen_url1"; post "$gen_url2"
    wait_status "$gen_url1" IN_PROGRESS 30
    wait_status "$gen_url2" IN_PROGRESS 30
}

gen_check() {   # both still under way at the end of the window?
    local s1 s2
    s1=$(task_status "$gen_url1"); s2=$(task_status "$gen_url2")
    if [ "$s1" != IN_PROGRESS ] || [ "$s2" != IN_PROGRESS ]; then
        say "  note: generation ended inside the window ($s1, $s2):" \
            "this round measured less than $dur s of generation"
    fi
}

gen_stop() {
    delete "$gen_url1"; delete "$gen_url2"
}

if want 4; then
    say "4. GET status p99 while 2 exports of ${big_mb} MiB reports are" \
        "generated vs idle"
    # side A is the loaded one: "module" is the generation, "baseline" idle
    fig4_round() {
        A_ARGS=("$base$status_url")
        B_ARGS=("$base$status_url")
        A_PRE="gen_start"
        A_POST="fig4_post"
        ab "$1" $conns
        A_PRE=; A_POST=
    }
    fig4_post() { gen_check; gen_stop; }
    fig4_round fig4
    v=$(ratio "$A_P99" "$B_P99")
    verdict=$(goal "4: status GET p99, 2 exports generating / idle" "<=" \
              2.0 "$v")
    record 4 "status GET p99, 2 exports generating / idle" "$v" "<=" 2.0 \
        "$verdict" "$A_P99 vs $B_P99 us; throughput $A_RPS vs $B_RPS req/s"
    if [ "$verdict" = MISS ] && [ "${BENCH_GEN_IDLE:-0}" != 1 ]; then
        say "  again, with the generation threads at SCHED_IDLE (chrt -i)"
        gen_threads_idle
        fig4_round fig4idle
        gen_threads_normal
        v=$(ratio "$A_P99" "$B_P99")
        record 4 "  same, generation threads SCHED_IDLE (what-if)" "$v" \
            "<=" 2.0 "$(pass "$v" "<=" 2.0)" \
            "$A_P99 vs $B_P99 us; throughput $A_RPS vs $B_RPS req/s"
    fi
    say ""
fi

if want 6; then
    say "6. 1,000 parked ?wait=60 long polls: event-loop CPU over 10 idle s"
    delete "$gen_url1"; delete "$gen_url2"; delete "$gen_url3"
    post "$gen_url3"
    wait_status "$gen_url3" IN_PROGRESS 30
    quiet_ok=1

    coproc PARK { python3 "$here/client.py" park "$port" \
                  "$gen_url3?wait=60" 1000; }
    park_pid=$PARK_PID
    echo stat >&"${PARK[1]}"
    read -r -t 30 line <&"${PARK[0]}" || die "the long-poll client is stuck"
    sleep 1
    active=$(curl -s "$base/nginx-status" | awk '/^Active/ { print $3 }')
    echo stat >&"${PARK[1]}"
    read -r -t 10 line <&"${PARK[0]}"
    say "  parked: $line, nginx active connections: $active"

    declare -A m0 p0
    for w in $(workers); do
        m0[$w]=$(ticks /proc/$w/task/$w/stat); p0[$w]=$(ticks /proc/$w/stat)
    done
    t0=$(date +%s.%N)
    if [ -n "${BENCH_PERF:-}" ]; then
        mkdir -p "$BENCH_PERF"
        perf record -q -F 999 --call-graph dwarf,16384 \
            -p "$(workers | paste -sd,)" -o "$BENCH_PERF/fig6.data" \
            -- sleep 10 > /dev/null 2>&1 || true
    else
        sleep 10
    fi
    loop=0; proc=0; detail=""
    for w in $(workers); do
        m=$(( $(ticks /proc/$w/task/$w/stat) - m0[$w] ))
        p=$(( $(ticks /proc/$w/stat) - p0[$w] ))
        loop=$((loop + m)); proc=$((proc + p))
        detail+=" worker $w: loop $m, all threads $p;"
    done
    secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    state=$(task_status "$gen_url3")
    echo stat >&"${PARK[1]}"
    read -r -t 10 line <&"${PARK[0]}"
    say "  after $secs s: $line, task $state; ticks of 1/$hz s:$detail"
    case "$line" in
        answered=0\ *) ;;
        *) say "  note: some long polls were answered during the window" ;;
    esac
    [ "$state" = IN_PROGRESS ] \
        || say "  note: the task finished during the window"

    # and they wake at once when the task ends (here: is deleted)
    echo "wait 10" >&"${PARK[1]}"
    delete "$gen_url3"
    read -r -t 20 line <&"${PARK[0]}"
    say "  after DELETE: $line"
    echo quit >&"${PARK[1]}"
    wait "$park_pid" 2> /dev/null || true
    park_pid=

    cpu=$(awk -v t="$loop" -v hz="$hz" 'BEGIN { printf "%.2f", t / hz }')
    record 6 "event-loop CPU s, 1000 long polls, 10 s" "$cpu" "<=" 0.05 \
        "$(goal "6: event-loop CPU s, 1000 parked long polls, 10 s" \
           "<=" 0.05 "$cpu")" "all worker threads (incl. the generating one): $(awk -v t="$proc" -v hz="$hz" 'BEGIN { printf "%.2f", t / hz }') s"
    say ""
fi

# ============================================================== summary

say "figure | what | value | target | verdict | detail"
say "---|---|---|---|---|---"
for r in "${results[@]}"; do
    say "$r"
done

if grep -q '\[alert\]\|\[crit\]\|\[emerg\]' "$tmp/logs/error.log"; then
    say ""
    say "error.log has alerts:"
    grep '\[alert\]\|\[crit\]\|\[emerg\]' "$tmp/logs/error.log" | head -20
fi

exit 0
