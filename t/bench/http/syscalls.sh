#!/bin/bash
# Where the CPU of a small export goes, beyond floor.c's file work (the
# breakdown that figure 3 of t/bench/http.sh asks for):
#
#   1  the nginx CPU per export (both workers, every thread, from /proc),
#      N exports, then a profile of N more (perf record -g);
#   2  the system calls per export, nginx (strace -c -f on both workers)
#      against floor.c (strace -c -f, 2 processes), N exports each.
#
# Each export is a POST of a new run (one tiny report, as figure 3),
# built to the end; the run's answer is polled once per second from the
# status page only, so that polls do not add system calls of their own.
#
#   syscalls.sh [N]          (default 2000; run as root)
#
# Environment: TEST_NGINX_BINARY, EXPORT_MODULE as t/bench/http.sh,
# SYSCALLS_PORT (2190), SYSCALLS_KEEP=1 keeps the temporary directory.

set -euo pipefail

top=$(cd "$(dirname "$0")/../../.." && pwd)
here=$top/t/bench/http
nginx=${TEST_NGINX_BINARY:-/usr/sbin/nginx}
module=${EXPORT_MODULE:-$top/build/nginx/objs/ngx_http_export_module.so}
port=${SYSCALLS_PORT:-2190}
n=${1:-2000}

die() { echo "syscalls.sh: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (strace -p, perf)"
command -v strace > /dev/null || die "strace is not installed"
[ -f "$module" ] || die "no module at $module (make build)"
if (exec 3<> "/dev/tcp/127.0.0.1/$port") 2> /dev/null; then
    die "something listens on port $port"
fi

tmp=$(mktemp -d /dev/shm/export-syscalls.XXXXXX)
master=
cleanup() {
    [ -n "$master" ] && kill -QUIT "$master" 2> /dev/null || true
    sleep 0.3
    [ -n "${SYSCALLS_KEEP:-}" ] || rm -rf "$tmp"
}
trap cleanup EXIT

mkdir -p "$tmp/conf" "$tmp/logs" "$tmp/store" "$tmp/src/run" "$tmp/floor"
printf '%s\n' '[{"check":"ntp-sync","host":{"name":"esxi-01"},"status":"PASSED"}]' \
    > "$tmp/src/run/r.json"

cat > "$tmp/conf/nginx.conf" <<EOF
load_module $module;
user root;
worker_processes  2;
error_log  logs/error.log warn;
pid        logs/nginx.pid;

thread_pool bulk threads=2 max_queue=65536;

events {
    worker_connections  4096;
}

http {
    access_log  off;
    export_ttl  1h;
    export_zone post:256m;

    server {
        listen  127.0.0.1:$port;

        location = /export-status {
            export_status;
        }

        location ~ ^/p/check-sets/(?<run_id>[^/]+)/exports\$ {
            export_api          zone=post;
            export_run_id       \$run_id;
            export_source       $tmp/src/run;
            export_store        $tmp/store;
            export_thread_pool  bulk;
        }
    }
}
EOF

"$nginx" -p "$tmp" -c "$tmp/conf/nginx.conf" -t -q || die "nginx -t failed"
"$nginx" -p "$tmp" -c "$tmp/conf/nginx.conf" || die "nginx did not start"
for _ in $(seq 50); do
    [ -s "$tmp/logs/nginx.pid" ] && break
    sleep 0.1
done
master=$(cat "$tmp/logs/nginx.pid")
sleep 0.5
workers=$(ps -o pid= --ppid "$master" | tr -d ' ')
[ "$(wc -w <<< "$workers")" = 2 ] || die "nginx has no 2 workers"

hz=$(getconf CLK_TCK)
ticks() {   # utime + stime of every thread of the workers
    local w t sum=0
    for w in $workers; do
        for t in /proc/$w/task/*/stat; do
            sum=$((sum + $(awk '{ print $14 + $15 }' "$t")))
        done
    done
    echo $sum
}

completed() {
    curl -s "http://127.0.0.1:$port/export-status" | python3 -c '
import json, sys
z = json.load(sys.stdin)["zones"]["post"]
print(z["completed"] + z["failed"])'
}

# N new runs from family F: a file of ids
ids() {   # family file
    awk -v f=$((16#$1)) -v n="$n" 'BEGIN { for (i = 0; i < n; i++)
        printf "%08x-0000-4000-8000-%012x\n", f, i }' > "$2"
}

# POSTs the ids and waits until the zone has finished that many more
batch() {   # ids-file
    local c0 want out
    c0=$(completed)
    out=$(python3 "$here/client.py" bulk "$port" POST /p/check-sets/ "$1" \
          --conns 8)
    want=$((c0 + $(wc -l < "$1")))
    for _ in $(seq 600); do
        [ "$(completed)" -ge "$want" ] && return 0
        sleep 1
    done
    die "exports did not finish: $out"
}

# warm up: the zone's first slab pages, the thread pools' threads
ids 0000aaaa "$tmp/warm.txt"
head -n 200 "$tmp/warm.txt" > "$tmp/warm200.txt"
batch "$tmp/warm200.txt"

echo "== 1. nginx CPU per export, and where it goes ($n exports)"
ids 0000bbbb "$tmp/a.txt"
perf_pid=
t0=$(ticks)
batch "$tmp/a.txt"
t1=$(ticks)
awk -v t=$((t1 - t0)) -v hz="$hz" -v n="$n" \
    'BEGIN { printf "nginx CPU per export: %.1f us (%d ticks of 1/%d s)\n",
             t / hz * 1e6 / n, t, hz }'
ids 0000dddd "$tmp/a.txt"
if command -v perf > /dev/null; then
    perf record -q -g -o "$tmp/perf.data" \
        -p "$(tr '\n' ',' <<< "$workers" | sed 's/,$//')" 2> /dev/null &
    perf_pid=$!
    sleep 1
fi
batch "$tmp/a.txt"
if [ -n "$perf_pid" ]; then
    kill -INT "$perf_pid"
    wait "$perf_pid" 2> /dev/null || true
    echo
    echo "-- perf: self time by function, >= 1%"
    perf report -i "$tmp/perf.data" --no-children --stdio --sort dso,sym \
        --percent-limit 1 -g none 2> /dev/null | grep -v '^#' | sed '/^$/d' \
        | head -40
    echo
    echo "-- perf: by shared object"
    perf report -i "$tmp/perf.data" --no-children --stdio --sort dso \
        -g none 2> /dev/null | grep -v '^#' | sed '/^$/d' | head -12
fi

echo
echo "== 2. system calls per export: nginx ($n exports) vs floor.c"
ids 0000cccc "$tmp/b.txt"
strace -c -f -o "$tmp/strace-nginx.txt" \
    $(for w in $workers; do echo "-p $w"; done) 2> /dev/null &
strace_pid=$!
sleep 1
batch "$tmp/b.txt"
sleep 1
kill -INT "$strace_pid"
wait "$strace_pid" 2> /dev/null || true

gcc -O2 -o "$tmp/floor.bin" "$here/floor.c" || die "cannot build floor.c"
strace -c -f -o "$tmp/strace-floor.txt" \
    "$tmp/floor.bin" "$tmp/floor" $((n / 2)) 2 > /dev/null

# strace -c: % time, seconds, usecs/call, calls, [errors,] syscall
awk -v n="$n" '
    FNR == 1 { side++ }
    $1 ~ /^[0-9.]+$/ && NF >= 5 && $NF != "total" {
        name = $NF; calls = $4
        seen[name] = 1
        if (side == 1) a[name] += calls; else b[name] += calls
    }
    END {
        printf "%-20s %10s %10s\n", "system call", "nginx", "floor.c"
        for (s in seen) {
            printf "%-20s %10.2f %10.2f\n", s, a[s] / n, b[s] / n | \
                "sort -k2,2 -g -r"
            ta += a[s]; tb += b[s]
        }
        close("sort -k2,2 -g -r")
        printf "%-20s %10.2f %10.2f\n", "all", ta / n, tb / n
    }' "$tmp/strace-nginx.txt" "$tmp/strace-floor.txt"
echo "(per export; nginx: both workers and their thread pools, the POSTs"
echo " and the status page polled once a second included)"
