#!/usr/bin/env bash
#
# Archive engine benchmark: how fast and how lean the export generation
# is, measured side by side with zip(1) and plain zlib in the same run.
#
#   bash t/bench/archive.sh              10 MiB and 100 MiB reports
#   BENCH_FULL=1 bash t/bench/archive.sh   ... and 1 GiB
#   BENCH_LEVELS=1 bash t/bench/archive.sh   only the table of levels:
#                                        speed and size of every level
#                                        with every deflate backend
#
# The module runs with export_parallel_deflate on (BENCH_PARALLEL=off:
# as an nginx configured by default).
#
# Figures with a goal are also written, one a line, to the file named by
# BENCH_SUMMARY if set (`make bench` sets it and prints them all as one
# table at the end):
#
#   FIGURE<TAB>name<TAB>goal<TAB>value<TAB>PASS|MISS
#
# (see docs/benchmarks.md, "Summary lines").
#
# `make bench` runs it after `make build`, with TEST_NGINX_BINARY and
# EXPORT_MODULE set.  The default run takes about 2 minutes on the
# 2-CPU test machine when it is otherwise idle (3 under load); with
# BENCH_FULL=1 about 7 minutes and 5 GB in BENCH_TMP.  Cases: a
# pretty-printed JSON report of 10 MiB and of 100 MiB, an NDJSON report of
# 100 MiB (compact lines), and with BENCH_FULL=1 a JSON report of 1 GiB
# (just under, so that the module's default export_max_report_size 1024m
# still converts it).  For each case it
#
#   1. writes the report (t/bench/archive/genreport.c: health-check rows
#      with nested host objects, numbers, strings, arrays, keys only some
#      rows have, values from a fixed-seed PRNG) into a run directory;
#   2. times, interleaved, BENCH_REPS times each (the median counts,
#      the best and the spread of the per-round ratios are shown too),
#      wall and CPU (user + system) time:
#      - exportgen (t/bench/archive/exportgen.c), built with the deflate
#        backend of the module (libdeflate, ISA-L or zlib): the generation
#        job of
#        src/ngx_http_export_job.c without nginx: the copy with pass 1 on
#        the same chunks, then pass 2, into one zip at level L, with the
#        zip writer's compression thread as in the job (so it may use two
#        cores: its CPU time counts both threads), with its peak RSS over
#        its idle RSS;
#      - zip -q -L of the files the export holds (taken out of its zip);
#      - zdeflate (t/bench/archive/zdeflate.c): plain zlib deflate of the
#        same bytes at level L, in 256 KiB chunks;
#      - exportgen built on zlib, the fallback backend;
#      - the module end to end: nginx on 127.0.0.1:BENCH_PORT, from
#      the POST to the GET ?wait=60 that sees COMPLETED (the long poll
#      looks every 100 ms), the CPU time of the workers (all threads,
#      those that ended too), and the growth of the workers' VmHWM; the
#      archive is downloaded and its
#      JSON and CSV compared with the report and with exportgen's CSV;
#   3. once, for comparison: exportgen -T, the same without the
#      compression thread (everything in one thread).
#
# A "limits" case then takes the converter's buffers as far as its
# default max_cell and max_row allow (the CSV still succeeds) and
# measures the peak RSS of exportgen and of the nginx worker.
#
# Every figure is printed with its goal and PASS or MISS.  The script exits 0 whenever it ran,
# whatever the figures (a benchmark is not a test), and non-zero only if
# something broke.
#
# Environment: BENCH_FULL=1 (adds 1 GiB), BENCH_LEVEL (default 6),
# BENCH_REPS (default 9 for 10 MiB, 7 for 100 MiB, 3 for 1 GiB),
# BENCH_LEVELS=1, BENCH_SUMMARY (a file the FIGURE lines are added to),
# BENCH_CASES ("json 1g 3,ndjson 100m 7": the cases instead of the
# default ones), BENCH_MEMORY=1 (the memory figures of the cases only),
# BENCH_PORT (default 1995), BENCH_TMP (default /tmp), BENCH_KEEP=1
# (keep the work directory), TEST_NGINX_BINARY, EXPORT_MODULE.

set -euo pipefail
export LC_ALL=C

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
NGINX=${TEST_NGINX_BINARY:-/usr/sbin/nginx}
MODULE=${EXPORT_MODULE:-$ROOT/build/nginx/objs/ngx_http_export_module.so}
LEVEL=${BENCH_LEVEL:-6}
FULL=${BENCH_FULL:-0}
PORT=${BENCH_PORT:-1995}
TMPBASE=${BENCH_TMP:-/tmp}

# goals (issue 4 and the earlier ones)
T_ZIP=0.60          # export wall time / zip -L wall time, at most
T_SIZE=1.05         # archive size / zip -L archive size, at most
T_FALLBACK=1.00     # the zlib backend's export wall time / zip -L's
T_RSS_MIB=32        # peak RSS growth of the generator, below
SUMMARY=${BENCH_SUMMARY:-}
LEVELS_ONLY=${BENCH_LEVELS:-0}

START=$EPOCHREALTIME
WORK=
NGX_PID=
RATIOS=()
FIGURES=()

die() {
    printf 'archive.sh: error: %s\n' "$*" >&2
    exit 1
}

trap 'rc=$?; [ $rc -ne 0 ] && printf "archive.sh: failed at line %s (exit %s)\n" "$LINENO" "$rc" >&2' ERR

cleanup() {
    if [ -n "$NGX_PID" ] && kill -0 "$NGX_PID" 2>/dev/null; then
        kill -QUIT "$NGX_PID" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$NGX_PID" 2>/dev/null || break; sleep 0.1; done
    fi

    if [ -n "$WORK" ] && [ "${BENCH_KEEP:-0}" != 1 ]; then
        rm -rf "$WORK"
    elif [ -n "$WORK" ]; then
        echo "work directory kept: $WORK"
    fi
}
trap cleanup EXIT

sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
div() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }'; }
div3() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b > 0) ? a / b : 0 }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
min() { printf '%s\n' "$@" | awk 'NR == 1 || $1 < m { m = $1 } END { print m }'; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
    printf "%.3f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
human() { awk -v b="$1" 'BEGIN { if (b >= 1000 * 1048576) printf "%.0f GiB", b / 1073741824; else printf "%.0f MiB", b / 1048576 }'; }

verdict() {
    awk -v v="$1" -v op="$2" -v t="$3" 'BEGIN {
        ok = (op == "<=") ? (v <= t) : (v < t); print ok ? "PASS" : "MISS" }'
}

# figure NAME OP GOAL VALUE [UNIT]: a figure with a goal; printed in
# the final table and, with BENCH_SUMMARY, written as a summary line
figure() {
    local v
    v=$(verdict "$4" "$2" "$3")
    FIGURES+=("$(printf '%-58s %-9s %9s  %s' "$1" "$2 $3${5:+ $5}" "$4${5:+ $5}" "$v")")
    if [ -n "$SUMMARY" ]; then
        printf 'FIGURE\t%s\t%s\t%s\t%s\n' "archive: $1" "$2 $3${5:+ $5}" \
            "$4${5:+ $5}" "$v" >> "$SUMMARY"
    fi
}

# figure_noisy NAME GOAL MEDIAN RATIO...: a time figure, the median of
# the rounds and their per-round ratios; a goal met only within the noise
# is not met, so PASS needs the upper quartile of the rounds at the goal
# too (the value shows both)
figure_noisy() {
    local name=$1 goal=$2 med=$3 q3 v
    shift 3
    q3=$(printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 }
        END { i = int((3 * NR + 3) / 4); if (i > NR) i = NR; printf "%.2f", v[i] }')
    v=$(awk -v m="$med" -v q="$q3" -v g="$goal" 'BEGIN { print (m <= g && q <= g) ? "PASS" : "MISS" }')
    FIGURES+=("$(printf '%-58s %-9s %9s  %s' "$name" "<= $goal" "$med (q3 $q3)" "$v")")
    if [ -n "$SUMMARY" ]; then
        printf 'FIGURE\t%s\t%s\t%s\t%s\n' "archive: $name" "<= $goal" \
            "$med (q3 $q3)" "$v" >> "$SUMMARY"
    fi
}

# ratio NAME WALL CPU GOAL: a line of the table of time ratios (GOAL
# "-": none, for information)
ratio() {
    local v=-
    [ "$4" = - ] || v=$(verdict "$2" "<=" "$4")
    RATIOS+=("$(printf '%-46s %6s %6s   <= %-5s %s' "$1" "$2" "$3" "$4" "$v")")
}

# memory NAME MIB: a memory figure
memory() {
    figure "$1" "<" "$T_RSS_MIB" "$2" MiB
}

# ratios A B: the per-round ratios a[i] / b[i] of two arrays given as
# "a1 a2 ... -- b1 b2 ..."
ratios() {
    awk 'BEGIN { n = 0 } { for (i = 1; i <= NF; i++) {
            if ($i == "--") { n = i - 1; continue }
            if (n) b[i - n - 1] = $i; else a[i] = $i } }
        END { for (i = 1; i <= n; i++) printf "%.3f\n", (b[i] > 0) ? a[i] / b[i] : 0 }' <<< "$*"
}
spread() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { printf "%.2f-%.2f", v[1], v[NR] }'; }

# timed OUT CMD...: runs CMD (its stderr to $WORK/cmd.err), writes
# "wall cpu" seconds to OUT; cpu is user + system of CMD and its children
timed() {
    local out=$1 TIMEFORMAT='%3R %3U %3S'
    shift
    sync
    { time "$@" 2> "$WORK/cmd.err" ; } 2> "$out.raw" \
        || die "$1 failed: $(cat "$WORK/cmd.err")"
    awk '{ printf "%.3f %.3f\n", $1, $2 + $3 }' "$out.raw" > "$out"
}


# --- set-up -----------------------------------------------------------

need=()
for c in cc zip unzip curl; do
    command -v "$c" >/dev/null || need+=("$c")
done
[ -x /usr/bin/time ] || need+=(time)

if [ ${#need[@]} -gt 0 ]; then
    [ "$(id -u)" -eq 0 ] || die "missing: ${need[*]} (install them as root)"
    pkgs=()
    for c in "${need[@]}"; do
        case $c in cc) pkgs+=(gcc) ;; *) pkgs+=("$c") ;; esac
    done
    echo "installing: ${pkgs[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >/dev/null \
        || die "apt-get install ${pkgs[*]} failed"
fi

[ -x "$NGINX" ] || die "no nginx binary at $NGINX"
[ -f "$MODULE" ] || die "no module at $MODULE: run make build first"

if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
    die "127.0.0.1:$PORT is in use (set BENCH_PORT)"
fi

WORK=$(mktemp -d "$TMPBASE/export-bench.XXXXXX")
chmod 755 "$WORK"
BIN=$WORK/bin
mkdir -p "$BIN"

cd "$ROOT"

for p in genreport zdeflate; do
    cc -O2 -Wall -o "$BIN/$p" "t/bench/archive/$p.c" -lz \
        || die "cannot build $p"
done

# the module's deflate backend, from the libraries it links
case " $(ldd "$MODULE" 2>/dev/null | awk '{ print $1 }' | tr '\n' ' ')" in
    *" libdeflate.so"*) BACKEND=libdeflate ;;
    *" libisal.so"*) BACKEND=isal ;;
    *) BACKEND=zlib ;;
esac

# exportgen-B: exportgen on deflate backend B (what config would build)
build_exportgen() {
    local flags=()
    case $1 in
        libdeflate) flags=(-DEXZ_LIBDEFLATE=1 -ldeflate) ;;
        isal) flags=(-DEXZ_ISAL=1 -lisal) ;;
        zlib) flags=(-lz) ;;
    esac
    cc -O2 -Wall -pthread -Isrc -o "$BIN/exportgen-$1" t/bench/archive/exportgen.c \
        src/ngx_export_csv.c src/ngx_export_utf8.c src/ngx_export_zip.c \
        -lyajl "${flags[@]}" || die "cannot build exportgen on $1"
}

build_exportgen "$BACKEND"
[ "$BACKEND" = zlib ] || build_exportgen zlib
ln -sf "exportgen-$BACKEND" "$BIN/exportgen"

read -r DEF_CELL DEF_ROW < <("$BIN/exportgen" -D)

CASES=("json 10m 9" "json 100m 7" "ndjson 100m 7")
if [ "$FULL" = 1 ]; then
    CASES+=("json 1g 3")
fi
if [ -n "${BENCH_CASES:-}" ]; then
    # "KIND SIZE ROUNDS,...", e.g. "json 100m 7,ndjson 100m 7"
    IFS=, read -r -a CASES <<< "$BENCH_CASES"
fi

zlib_version=$(dpkg-query -W -f='${Version}' zlib1g 2>/dev/null || echo "?")
yajl_version=$(dpkg-query -W -f='${Version}' libyajl2 2>/dev/null || echo "?")
zip_version=$(zip -v 2>/dev/null | sed -n 's/^This is \(Zip [0-9.]*\).*/\1/p' | head -1)

echo "archive engine benchmark, level $LEVEL, deflate backend of the module: $("$BIN/exportgen" -V)"
echo "machine: $(nproc) CPUs, $(lscpu | sed -n 's/^Model name: *//p'), $(free -g | awk '/^Mem:/ { print $2 " GiB" }') RAM, kernel $(uname -r)"
echo "tools: $(cc --version | head -1), zlib $zlib_version, yajl $yajl_version, ${zip_version:-zip ?}, $("$NGINX" -v 2>&1 | sed 's/.*: //')"
echo "converter defaults: max_cell $DEF_CELL, max_row $DEF_ROW"
if [ "$FULL" = 1 ]; then
    echo "sizes: 10 MiB, 100 MiB, 1 GiB (BENCH_FULL=1)"
else
    echo "sizes: 10 MiB and 100 MiB; 1 GiB only with BENCH_FULL=1"
fi
echo "times: wall seconds, median of BENCH_REPS interleaved runs (best in brackets)"
echo "work directory: $WORK ($(df -h "$WORK" | awk 'NR == 2 { print $4 }') free)"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews wall times; cpu times much less)"
echo


# --- nginx --------------------------------------------------------------

NG=$WORK/nginx

nginx_start() {
    rm -rf "$NG" "$WORK/store"
    mkdir -p "$NG/conf" "$NG/logs" "$WORK/store"

    {
        echo "load_module $MODULE;"
        [ "$(id -u)" -eq 0 ] && echo "user root;"
        cat <<EOF
worker_processes  2;
error_log         $NG/logs/error.log info;
pid               $NG/logs/nginx.pid;

thread_pool exports threads=2 max_queue=64;

events {
    worker_connections  256;
}

http {
    access_log  off;

    export_zone  exports:4m;
    export_compression_level  $LEVEL;

    # the module as fast as it builds an archive on idle cores, as
    # exportgen: the deflate threads of libdeflate (off by default, for
    # the event loops' latency: figure 4 of t/bench/http.sh)
    export_parallel_deflate  ${BENCH_PARALLEL:-on};

    server {
        listen  127.0.0.1:$PORT;

        location ~ ^/v1/system/check-sets/(?<run_id>[^/]+)/exports\$ {
            export_api          zone=exports;
            export_run_id       \$run_id;
            export_source       $WORK/runs/\$run_id;
            export_store        $WORK/store;
            export_thread_pool  exports;
        }

        location ~ ^/v1/system/check-sets/(?<run_id>[^/]+)/exports/data\$ {
            export_data    zone=exports;
            export_run_id  \$run_id;
        }
    }
}
EOF
    } > "$NG/conf/nginx.conf"

    "$NGINX" -p "$NG/" -e "$NG/logs/error.log" -c "$NG/conf/nginx.conf" \
        || die "nginx did not start: $(tail -3 "$NG/logs/error.log")"

    for _ in $(seq 100); do
        [ -s "$NG/logs/nginx.pid" ] && break
        sleep 0.05
    done

    NGX_PID=$(cat "$NG/logs/nginx.pid")

    for _ in $(seq 100); do
        curl -s -o /dev/null "http://127.0.0.1:$PORT/" && break
        sleep 0.05
    done

    # both workers up
    for _ in $(seq 100); do
        [ "$(ps --ppid "$NGX_PID" -o pid= | wc -l)" -ge 2 ] && break
        sleep 0.05
    done
}

nginx_stop() {
    kill -QUIT "$NGX_PID"
    for _ in $(seq 100); do
        kill -0 "$NGX_PID" 2>/dev/null || break
        sleep 0.1
    done
    NGX_PID=
}

# VmHWM of every worker, "pid:kB ..."
worker_hwm() {
    local p
    for p in $(ps --ppid "$NGX_PID" -o pid=); do
        printf '%s:%s ' "$p" "$(awk '/^VmHWM:/ { print $2 }' "/proc/$p/status")"
    done
}

# CPU time of the workers, "ns ns": user + system time of every thread,
# the compression threads that have ended included (/proc/PID/stat, in
# clock ticks); the run-queue wait of the threads still there (schedstat)
worker_sched() {
    local p tck
    tck=$(getconf CLK_TCK)
    for p in $(ps --ppid "$NGX_PID" -o pid=); do
        sed 's/.*) //' "/proc/$p/stat" | awk -v t="$tck" '{ printf "cpu %.0f\n", ($12 + $13) * 1e9 / t }'
        cat /proc/"$p"/task/*/schedstat
    done | awk '$1 == "cpu" { run += $2; next } { wait += $2 } END { printf "%.0f %.0f", run, wait }'
}

# largest growth between two worker_hwm lists, in kB
hwm_growth() {
    awk -v a="$1" -v b="$2" 'BEGIN {
        n = split(a, x, " "); for (i = 1; i <= n; i++) { split(x[i], y, ":"); before[y[1]] = y[2] }
        n = split(b, x, " "); g = 0
        for (i = 1; i <= n; i++) { split(x[i], y, ":"); d = y[2] - before[y[1]]; if (d > g) g = d }
        print g }'
}

# module RUN_ID: sets E2E (POST to COMPLETED), E2E_FILE (POST to the
# archive's rename, from its ctime), E2E_CPU (CPU time of the workers,
# all threads), E2E_WAIT (run-queue wait of their threads but the
# compression threads, which have ended), NGX_GROWTH_KB; leaves the
# download in $NG/export.zip
module_run() {
    local run=$1 url code body t0 t1 before after f s0 s1

    url="http://127.0.0.1:$PORT/v1/system/check-sets/$run/exports"

    nginx_start
    before=$(worker_hwm)
    s0=$(worker_sched)

    sync
    t0=$EPOCHREALTIME
    code=$(curl -s -o "$NG/post.json" -w '%{http_code}' -X POST "$url")
    [ "$code" = 202 ] || die "POST $url: $code $(cat "$NG/post.json")"

    for _ in $(seq 120); do
        body=$(curl -s "$url?wait=60")
        case $body in
            *'"status":"COMPLETED"'*) break ;;
            *'"status":"FAILED"'*) die "export failed: $body" ;;
            *'"status":"'*) ;;
            *) die "GET $url?wait=60: $body" ;;
        esac
    done
    t1=$EPOCHREALTIME

    case $body in
        *'"status":"COMPLETED"'*) ;;
        *) die "export not done after 2 hours: $body" ;;
    esac
    case $body in
        *'"warnings":[]'*) ;;
        *) die "export has warnings: $body" ;;
    esac

    after=$(worker_hwm)
    s1=$(worker_sched)
    E2E=$(sub "$t0" "$t1")
    E2E_CPU=$(awk -v a="$s0" -v b="$s1" 'BEGIN { split(a, x, " "); split(b, y, " ")
        printf "%.3f", (y[1] - x[1]) / 1e9 }')
    E2E_WAIT=$(awk -v a="$s0" -v b="$s1" 'BEGIN { split(a, x, " "); split(b, y, " ")
        printf "%.3f", (y[2] - x[2]) / 1e9 }')
    NGX_GROWTH_KB=$(hwm_growth "$before" "$after")

    f=$(find "$WORK/store" -maxdepth 1 -type f -name '*.zip' | head -1)
    [ -n "$f" ] || die "no archive in the store"
    E2E_FILE=$(sub "$t0" "$(stat -c %.9Z "$f")")

    code=$(curl -s -o "$NG/export.zip" -w '%{http_code}' "$url/data")
    [ "$code" = 200 ] || die "GET $url/data: $code"

    nginx_stop
}


# --- a case ---------------------------------------------------------------

# gen_run RUN_DIR OUT.zip [-B BACKEND] [FLAG...]: one exportgen run (on
# the module's deflate backend, or on BACKEND); sets T and C (wall
# and CPU seconds), GEN_PEAK_KB (from time -f %M), GEN_LINE (its stats)
gen_run() {
    local run=$1 out=$2 prog=$BIN/exportgen
    shift 2
    if [ "${1:-}" = -B ]; then
        prog=$BIN/exportgen-$2
        shift 2
    fi
    rm -f "$out"
    timed "$WORK/gen.t" /usr/bin/time -f %M -o "$WORK/time.out" \
        "$prog" "$@" -l "$LEVEL" "$run" "$out"
    read -r T C < "$WORK/gen.t"
    grep -q warning "$WORK/cmd.err" && die "exportgen: $(cat "$WORK/cmd.err")"
    GEN_PEAK_KB=$(tail -1 "$WORK/time.out")
    GEN_LINE=$(tail -1 "$WORK/cmd.err")
}

stat_of() { printf '%s\n' "$GEN_LINE" | tr ' ' '\n' | sed -n "s/^$1=//p"; }

# the growth of the generator over its idle RSS, kB
gen_growth() { echo $(( $(stat_of peak_rss_kb) - $(stat_of idle_rss_kb) )); }

LARGEST=
LARGEST_BYTES=0

run_case() {
    local kind=$1 size=$2 reps=${BENCH_REPS:-$3}
    local run name report label dir x csv files i
    local gen=() zipt=() zlib=() genc=() zipc=() zlibc=() fb=() fbc=()
    local mod=() modc=() mgrowth=0
    local growth=0 peak=0 copy emit fsync w c one one_c
    local gsize zsize fsize

    run=$(printf '%08x-0000-4000-8000-%012x' "$RANDOM$RANDOM" "$RANDOM")
    dir=$WORK/runs/$run
    mkdir -p "$dir"

    if [ "$kind" = ndjson ]; then
        name=health-events
        report=$dir/$name.ndjson
        "$BIN/genreport" -n "$size" "$report"
    else
        name=health-check
        report=$dir/$name.json
        "$BIN/genreport" "$size" "$report"
    fi

    label="$(human "$(stat -c %s "$report")") ${kind^^}"
    x=$WORK/x
    rm -rf "$x" && mkdir -p "$x"

    # the first run also gives the files for zip and zlib
    gen_run "$dir" "$WORK/gen.zip"
    unzip -tq "$WORK/gen.zip" >/dev/null || die "unzip -t fails on the export"
    unzip -q "$WORK/gen.zip" -d "$x"
    cmp -s "$x/$(basename "$report")" "$report" \
        || die "the export's copy of the report differs"
    [ -f "$x/$name.csv" ] || die "the export has no CSV"
    files=("$x/$(basename "$report")" "$x/$name.csv" "$x/manifest.json")
    csv=$(stat -c %s "$x/$name.csv")

    printf '== %s: %s (%s bytes), CSV %s bytes, %s rounds\n' "$label" \
        "$(basename "$report")" "$(stat -c %s "$report")" "$csv" "$reps"

    for i in $(seq "$reps"); do
        gen_run "$dir" "$WORK/gen.zip"
        gen+=("$T"); genc+=("$C")
        [ "$(gen_growth)" -gt "$growth" ] && growth=$(gen_growth)
        [ "$GEN_PEAK_KB" -gt "$peak" ] && peak=$GEN_PEAK_KB
        if [ "$T" = "$(min "${gen[@]}")" ]; then
            copy=$(stat_of copy_s); emit=$(stat_of emit_s)
            fsync=$(stat_of fsync_s)
        fi

        rm -f "$WORK/zip.zip"
        # -j: the names without the directory, as in the export
        timed "$WORK/zip.t" zip -q -j "-$LEVEL" "$WORK/zip.zip" "${files[@]}"
        read -r w c < "$WORK/zip.t"
        zipt+=("$w"); zipc+=("$c")

        timed "$WORK/zlib.t" "$BIN/zdeflate" -l "$LEVEL" "$WORK/zlib.out" "${files[@]}"
        read -r w c < "$WORK/zlib.t"
        zlib+=("$w"); zlibc+=("$c")

        if [ "$BACKEND" != zlib ]; then
            gen_run "$dir" "$WORK/fb.zip" -B zlib
            fb+=("$T"); fbc+=("$C")
        fi

        module_run "$run"
        mod+=("$E2E"); modc+=("$E2E_CPU")
        [ "$NGX_GROWTH_KB" -gt "$mgrowth" ] && mgrowth=$NGX_GROWTH_KB
        if [ "$i" = 1 ]; then
            unzip -tq "$NG/export.zip" >/dev/null \
                || die "unzip -t fails on the module's export"
            unzip -p "$NG/export.zip" "$(basename "$report")" | cmp -s - "$report" \
                || die "the module's copy of the report differs"
            unzip -p "$NG/export.zip" "$name.csv" | cmp -s - "$x/$name.csv" \
                || die "the module's CSV differs from exportgen's"
        fi
        rm -f "$NG/export.zip"
    done

    if [ "$BACKEND" = zlib ]; then
        fb=("${gen[@]}"); fbc=("${genc[@]}")
        cp "$WORK/gen.zip" "$WORK/fb.zip"
    fi

    # once, for comparison: no compression thread; the same archive
    gen_run "$dir" "$WORK/gen1.zip" -T
    one=$T; one_c=$C
    cmp -s "$WORK/gen1.zip" "$WORK/gen.zip" \
        || unzip -p "$WORK/gen1.zip" "$name.csv" | cmp -s - "$x/$name.csv" \
        || die "exportgen -T wrote another CSV"
    unzip -p "$WORK/fb.zip" "$name.csv" | cmp -s - "$x/$name.csv" \
        || die "exportgen on zlib wrote another CSV"

    local g z l gc zc lc f fc m mc rg rmod rf
    g=$(median "${gen[@]}"); z=$(median "${zipt[@]}"); l=$(median "${zlib[@]}")
    gc=$(median "${genc[@]}"); zc=$(median "${zipc[@]}"); lc=$(median "${zlibc[@]}")
    f=$(median "${fb[@]}"); fc=$(median "${fbc[@]}")
    m=$(median "${mod[@]}"); mc=$(median "${modc[@]}")
    gsize=$(stat -c %s "$WORK/gen.zip"); zsize=$(stat -c %s "$WORK/zip.zip")
    fsize=$(stat -c %s "$WORK/fb.zip")

    # the per-round ratios: how far the noise reaches
    mapfile -t rg < <(ratios "${gen[@]}" -- "${zipt[@]}")
    mapfile -t rmod < <(ratios "${mod[@]}" -- "${zipt[@]}")
    mapfile -t rf < <(ratios "${fb[@]}" -- "${zipt[@]}")

    printf '   wall: export %6.3f s (%s)   zip -%s %6.3f s (%s)   zlib %6.3f s (%s)   export on zlib %6.3f s (%s)   module %6.3f s (%s)\n' \
        "$g" "$(min "${gen[@]}")" "$LEVEL" "$z" "$(min "${zipt[@]}")" \
        "$l" "$(min "${zlib[@]}")" "$f" "$(min "${fb[@]}")" "$m" "$(min "${mod[@]}")"
    printf '   cpu:  export %6.3f s (%s)   zip -%s %6.3f s (%s)   zlib %6.3f s (%s)   export on zlib %6.3f s (%s)   module %6.3f s (%s)\n' \
        "$gc" "$(min "${genc[@]}")" "$LEVEL" "$zc" "$(min "${zipc[@]}")" \
        "$lc" "$(min "${zlibc[@]}")" "$fc" "$(min "${fbc[@]}")" "$mc" "$(min "${modc[@]}")"
    printf '   per-round wall ratios to zip: export %s, module %s, export on zlib %s\n' \
        "$(spread "${rg[@]}")" "$(spread "${rmod[@]}")" "$(spread "${rf[@]}")"
    printf '   export phases (best run): copy with pass 1 %s, pass 2 %s, fsync %s s\n' \
        "$copy" "$emit" "$fsync"
    printf '   archive: export %s bytes (%s of zip), zip(1) %s, export on zlib %s (%s of zip), bare zlib %s\n' \
        "$gsize" "$(div "$gsize" "$zsize")" "$zsize" "$fsize" \
        "$(div "$fsize" "$zsize")" "$(stat -c %s "$WORK/zlib.out")"
    printf '   export peak RSS %s MiB (time -f %%M), growth over idle %s MiB; worker VmHWM growth %s MiB\n' \
        "$(mib "$peak")" "$(mib "$growth")" "$(mib "$mgrowth")"
    printf '   exportgen -T (no compression thread), one run: wall %s s (%s of zip), cpu %s s\n' \
        "$one" "$(div "$one" "$z")" "$one_c"

    ratio "$label: export / zip -$LEVEL" "$(div "$g" "$z")" "$(div "$gc" "$zc")" "$T_ZIP"
    ratio "$label: module / zip -$LEVEL" "$(div "$m" "$z")" "$(div "$mc" "$zc")" "$T_ZIP"
    ratio "$label: export on zlib / zip -$LEVEL" "$(div "$f" "$z")" "$(div "$fc" "$zc")" "$T_FALLBACK"
    ratio "$label: export / bare zlib" "$(div "$g" "$l")" "$(div "$gc" "$lc")" "-"

    figure_noisy "$label: export wall / zip -$LEVEL wall ($BACKEND, median of $reps)" "$T_ZIP" "$(div "$g" "$z")" "${rg[@]}"
    figure_noisy "$label: module wall / zip -$LEVEL wall ($BACKEND, median of $reps)" "$T_ZIP" "$(div "$m" "$z")" "${rmod[@]}"
    figure "$label: archive size / zip -$LEVEL size ($BACKEND)" "<=" "$T_SIZE" "$(div3 "$gsize" "$zsize")"
    figure_noisy "$label: zlib fallback export wall / zip -$LEVEL wall (median of $reps)" "$T_FALLBACK" "$(div "$f" "$z")" "${rf[@]}"
    memory "$label: export peak RSS - idle" "$(mib "$growth")"
    memory "$label: nginx worker VmHWM growth" "$(mib "$mgrowth")"

    if [ "$(stat -c %s "$report")" -gt "$LARGEST_BYTES" ]; then
        LARGEST_BYTES=$(stat -c %s "$report")
        LARGEST=$label
    fi

    rm -rf "$dir" "$x" "$WORK/gen.zip" "$WORK/gen1.zip" "$WORK/zip.zip" \
        "$WORK/zlib.out" "$WORK/fb.zip"
    echo
}

# memory_case KIND SIZE: the memory figures alone, one export and one
# module run (BENCH_MEMORY=1: the 1 GiB report without its hour of
# rounds on a loaded machine)
memory_case() {
    local kind=$1 size=$2 run dir name report label growth

    run=$(printf '%08x-0000-4000-8000-%012x' "$RANDOM$RANDOM" "$RANDOM")
    dir=$WORK/runs/$run
    mkdir -p "$dir"

    if [ "$kind" = ndjson ]; then
        name=health-events
        report=$dir/$name.ndjson
        "$BIN/genreport" -n "$size" "$report"
    else
        name=health-check
        report=$dir/$name.json
        "$BIN/genreport" "$size" "$report"
    fi

    label="$(human "$(stat -c %s "$report")") ${kind^^}"

    gen_run "$dir" "$WORK/gen.zip"
    growth=$(gen_growth)
    unzip -tq "$WORK/gen.zip" >/dev/null || die "unzip -t fails on the export"

    module_run "$run"
    unzip -p "$NG/export.zip" "$name.csv" | cmp -s - <(unzip -p "$WORK/gen.zip" "$name.csv") \
        || die "the module's CSV differs from exportgen's ($label)"

    printf '== %s, memory only: export %s s, growth over idle %s MiB; module %s s, worker VmHWM growth %s MiB\n' \
        "$label" "$T" "$(mib "$growth")" "$E2E" "$(mib "$NGX_GROWTH_KB")"

    memory "$label (memory only): export peak RSS - idle" "$(mib "$growth")"
    memory "$label (memory only): nginx worker VmHWM growth" "$(mib "$NGX_GROWTH_KB")"

    LARGEST=$label
    rm -rf "$dir" "$WORK/gen.zip" "$NG/export.zip"
    echo
}

limits_case() {
    local run dir x growth

    run=$(printf '%08x-0000-4000-8000-%012x' "$RANDOM$RANDOM" "$RANDOM")
    dir=$WORK/runs/$run
    mkdir -p "$dir"

    "$BIN/genreport" -x "$DEF_CELL" "$DEF_ROW" 2 "$dir/limits.json"

    gen_run "$dir" "$WORK/gen.zip"
    case " $(unzip -Z1 "$WORK/gen.zip" | tr '\n' ' ') " in
        *" limits.csv "*) ;;
        *) die "the limits report got no CSV: $(cat "$WORK/cmd.err")" ;;
    esac
    growth=$(gen_growth)

    printf '== limits: 2 rows at max_cell %s, max_row %s (%s bytes of JSON)\n' \
        "$DEF_CELL" "$DEF_ROW" "$(stat -c %s "$dir/limits.json")"
    printf '   exportgen %s s, peak RSS %s MiB, growth over idle %s MiB\n' \
        "$T" "$(mib "$GEN_PEAK_KB")" "$(mib "$growth")"

    module_run "$run"
    unzip -p "$NG/export.zip" limits.csv | cmp -s - <(unzip -p "$WORK/gen.zip" limits.csv) \
        || die "the module's CSV differs from exportgen's (limits)"
    printf '   module end to end %s s; worker VmHWM growth %s MiB\n' \
        "$E2E" "$(mib "$NGX_GROWTH_KB")"

    memory "limits report: exportgen peak RSS - idle" "$(mib "$growth")"
    memory "limits report: nginx worker VmHWM growth" "$(mib "$NGX_GROWTH_KB")"

    rm -rf "$dir" "$WORK/gen.zip" "$NG/export.zip"
    echo
}


# --- the table of levels ------------------------------------------------------

# every level of every deflate backend on the 100 MiB JSON report:
# median wall and CPU time of BENCH_REPS (default 3) interleaved rounds,
# archive size
levels_table() {
    local b l i dir run report w c key zs zt reps=${BENCH_REPS:-3}
    local -A wall cpu size
    local backends=(zlib) zw=()

    [ -f /usr/include/isa-l/igzip_lib.h ] && backends+=(isal)
    [ -f /usr/include/libdeflate.h ] && backends+=(libdeflate)

    for b in "${backends[@]}"; do
        [ -x "$BIN/exportgen-$b" ] || build_exportgen "$b"
    done

    run=$(printf '%08x-0000-4000-8000-%012x' "$RANDOM$RANDOM" "$RANDOM")
    dir=$WORK/runs/$run
    mkdir -p "$dir"
    report=$dir/health-check.json
    "$BIN/genreport" 100m "$report"

    # zip -6 of the same files, the reference of the goals
    gen_run "$dir" "$WORK/gen.zip" -B zlib
    rm -rf "$WORK/x" && mkdir -p "$WORK/x" && unzip -q "$WORK/gen.zip" -d "$WORK/x"
    for i in $(seq "$reps"); do
        rm -f "$WORK/zip.zip"
        timed "$WORK/zip.t" zip -q -j -6 "$WORK/zip.zip" "$WORK"/x/*
        read -r w c < "$WORK/zip.t"
        zw+=("$w")
    done
    zt=$(median "${zw[@]}")
    zs=$(stat -c %s "$WORK/zip.zip")

    echo "levels: the 100 MiB JSON report, exportgen, median of $reps rounds; zip -6: $zt s, $zs bytes"
    echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
    printf '| level | backend (its level) | wall (s) | cpu (s) | wall / zip -6 | archive (bytes) | size / zip -6 |\n'
    printf '|---|---|---|---|---|---|---|\n'

    for l in 1 2 3 4 5 6 7 8 9; do
        for i in $(seq "$reps"); do
            for b in "${backends[@]}"; do
                LEVEL=$l gen_run "$dir" "$WORK/gen.zip" -B "$b"
                wall[$b,$l]+="$T "
                cpu[$b,$l]+="$C "
                size[$b,$l]=$(stat -c %s "$WORK/gen.zip")
            done
        done
        for b in "${backends[@]}"; do
            key="$b,$l"
            # shellcheck disable=SC2086
            w=$(median ${wall[$key]})
            # shellcheck disable=SC2086
            c=$(median ${cpu[$key]})
            printf '| %s | %s (%s) | %s | %s | %s | %s | %s |\n' "$l" "$b" \
                "$(LEVEL_OF "$b" "$l")" "$w" "$c" "$(div "$w" "$zt")" \
                "${size[$key]}" "$(div3 "${size[$key]}" "$zs")"
        done
    done

    rm -rf "$dir" "$WORK/x" "$WORK/gen.zip" "$WORK/zip.zip"
}

# LEVEL_OF BACKEND LEVEL: the backend's own level (exz_backend_level())
LEVEL_OF() {
    case $1 in
        isal) if [ "$2" -le 1 ]; then echo 1; elif [ "$2" -le 5 ]; then echo 2; else echo 3; fi ;;
        *) echo "$2" ;;
    esac
}


# --- main -------------------------------------------------------------------

if [ "$LEVELS_ONLY" = 1 ]; then
    levels_table
    echo "ran in $(sub "$START" "$EPOCHREALTIME") s; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
    exit 0
fi

for c in "${CASES[@]}"; do
    # shellcheck disable=SC2086
    if [ "${BENCH_MEMORY:-0}" = 1 ]; then
        memory_case $c
    else
        run_case $c
    fi
done

limits_case

echo "time ratios, level $LEVEL: medians of the interleaved rounds; export = exportgen on $BACKEND;"
echo "wall = elapsed time, cpu = user + system time of all threads (the module: of the nginx workers);"
echo "the goals are on wall time; the export and the module use more than one thread"
printf '%-46s %6s %6s   %-8s %s\n' figure wall cpu goal "result (wall)"
printf '%s\n' "${RATIOS[@]}"
echo
echo "figures with a goal (memory: largest report $LARGEST)"
printf '%s\n' "${FIGURES[@]}"

misses=$(printf '%s\n' "${FIGURES[@]}" | grep -c 'MISS$' || true)
passes=$(printf '%s\n' "${FIGURES[@]}" | grep -c 'PASS$' || true)
echo
echo "$passes PASS, $misses MISS; ran in $(sub "$START" "$EPOCHREALTIME") s; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"

exit 0
