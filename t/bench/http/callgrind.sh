#!/usr/bin/env bash
# Instructions per request of a status GET and of "return 200" with the
# same body, counted by valgrind's callgrind in one nginx worker: a
# figure that other load on the machine does not move (user space only;
# the kernel's share, writev() above all, is not counted).
#
#   t/bench/http/callgrind.sh [MODULE.so] [PORT] [REQUESTS] [OUT]
#
# One worker (master_process off), keep-alive requests one at a time
# from Python.  A first nginx without valgrind makes one COMPLETED export
# (its metadata brings it back at the second start); the second runs
# under callgrind with instrumentation off, turned on for each side's
# requests only.  Writes OUT.<pid>.1 (status GET) and OUT.<pid>.2
# (return 200) and prints the instructions per request of each;
# callgrind_annotate --inclusive=yes OUT.<pid>.1 shows where they go.

set -euo pipefail

top=$(cd "$(dirname "$0")/../../.." && pwd)
mod=$(realpath "${1:-$top/build/nginx/objs/ngx_http_export_module.so}")
port=${2:-2180}
n=${3:-5000}
out=${4:-/tmp/export-callgrind/cg}
run=0f0e1d2c-3b4a-4968-8a8b-9cadbecfd0e1

if ! command -v valgrind > /dev/null; then
    echo "valgrind is missing: apt-get install valgrind" >&2
    exit 1
fi
if (exec 3<> "/dev/tcp/127.0.0.1/$port") 2> /dev/null; then
    echo "something listens on 127.0.0.1:$port" >&2
    exit 1
fi

mkdir -p "$(dirname "$out")"
d=$(mktemp -d /tmp/export-callgrind.XXXXXX)
vg=
trap '[ -n "$vg" ] && kill "$vg" 2> /dev/null; rm -rf "$d"' EXIT
mkdir -p "$d"/conf "$d"/logs "$d"/store "$d/runs/$run"
echo '[{"a":1}]' > "$d/runs/$run/r.json"
chmod -R 777 "$d"
head -c 32 /dev/urandom > "$d/conf/key"

conf() {   # daemon body
    local user=
    [ "$(id -u)" -eq 0 ] && user="user root;"
    cat > "$d/conf/nginx.conf" <<C
load_module $mod;
$user
worker_processes 1;
master_process off;
daemon $1;
error_log logs/error.log warn;
pid logs/nginx.pid;
thread_pool exports threads=1;
events { worker_connections 1024; }
http {
    access_log off;
    keepalive_requests 10000000;
    export_link_secret $d/conf/key;
    export_link_ttl 1h;
    export_ttl 1h;
    export_zone z:1m;
    server {
        listen 127.0.0.1:$port;
        location /r/ {
            location ~ ^/r/check-sets/(?<run_id>[^/]+)/exports\$ {
                default_type application/json;
                return 200 '$2\n';
            }
        }
        location ~ ^/s/check-sets/(?<run_id>[^/]+)/exports\$ {
            export_api zone=z;
            export_run_id \$run_id;
            export_source $d/runs/\$run_id;
            export_store $d/store;
            export_thread_pool exports;
        }
    }
}
C
}

base=http://127.0.0.1:$port
conf on '{}'
/usr/sbin/nginx -p "$d" -c conf/nginx.conf
sleep 0.5
curl -s -o /dev/null -X POST "$base/s/check-sets/$run/exports"
body=
for _ in $(seq 100); do
    body=$(curl -s "$base/s/check-sets/$run/exports")
    case "$body" in *COMPLETED*) break ;; esac
    sleep 0.1
done
case "$body" in
    *COMPLETED*) ;;
    *) echo "no COMPLETED task: $body" >&2; exit 1 ;;
esac
kill -QUIT "$(cat "$d/logs/nginx.pid")"
sleep 1

conf off "$body"
valgrind --tool=callgrind --instr-atstart=no \
    --callgrind-out-file="$out.%p" \
    /usr/sbin/nginx -p "$d" -c conf/nginx.conf > "$d/valgrind.log" 2>&1 &
vg=$!
for _ in $(seq 100); do
    curl -s -o /dev/null "$base/r/check-sets/$run/exports" && break
    sleep 0.2
done

for side in s r; do
    curl -s -o /dev/null "$base/$side/check-sets/$run/exports"
done
echo "bodies: $(curl -s "$base/s/check-sets/$run/exports" | wc -c) and" \
     "$(curl -s "$base/r/check-sets/$run/exports" | wc -c) bytes"

for side in s r; do
    callgrind_control -i on "$vg" > /dev/null 2>&1
    python3 - "$port" "/$side/check-sets/$run/exports" "$n" <<'PY'
import http.client, sys
port, path, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
c = http.client.HTTPConnection('127.0.0.1', port)
for i in range(n):
    c.request('GET', path)
    r = c.getresponse()
    r.read()
    if r.status != 200:
        sys.exit('answer %d' % r.status)
PY
    callgrind_control -i off "$vg" > /dev/null 2>&1
    callgrind_control -d "$side" "$vg" > /dev/null 2>&1
    callgrind_control -z "$vg" > /dev/null 2>&1
done

kill -TERM "$vg"
wait "$vg" || true
vg=

for i in 1 2; do
    f=$(ls -t "$out".*."$i" | head -n 1)
    side="status GET"
    [ $i = 2 ] && side="return 200"
    awk -v n="$n" -v f="$f" -v side="$side" '/^totals:/ {
        printf "%s: %.0f instructions per request (%s)\n", side, $2 / n, f
    }' "$f"
done
