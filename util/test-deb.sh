#!/usr/bin/env bash
# make test-deb (root): installs build/libnginx-mod-http-export_*.deb into
# the system nginx with apt-get, checks "nginx -t" with the stock
# nginx.conf and the example site enabled, serves one export end to end
# from a separate nginx on port TEST_DEB_PORT (its own prefix, pid file,
# error log), then purges the package and checks that nothing of it is
# left and that "nginx -t" still passes.
#
# An nginx already running on the machine is left alone: no service or
# systemctl calls, no signal to any nginx but the one started here (by
# its own pid file), and a policy-rc.d that denies service starts.
set -euo pipefail
cd "$(dirname "$0")/.."

[ "$(id -u)" -eq 0 ] || { echo "test-deb: needs root (apt-get)" >&2; exit 1; }

port=${TEST_DEB_PORT:-19480}
pkg=libnginx-mod-http-export
version=$(sed -n 's/^EXPORT_VERSION=\([0-9][0-9.]*\)$/\1/p' config)
deb=build/${pkg}_${version}_$(dpkg --print-architecture).deb
[ -f "$deb" ] || { echo "test-deb: no $deb (make deb)" >&2; exit 1; }

link=/etc/nginx/modules-enabled/50-mod-http-export.conf
avail=/usr/share/nginx/modules-available/mod-http-export.conf
so=/usr/lib/nginx/modules/ngx_http_export_module.so
site=/etc/nginx/sites-enabled/zz-test-deb-export
example=/usr/share/doc/$pkg/examples/export-site.conf

fails=0
ok()   { echo "ok - $*"; }
fail() { echo "not ok - $*"; fails=$((fails + 1)); }
check() { local what=$1; shift; if "$@"; then ok "$what"; else fail "$what"; fi; }

tmp=$(mktemp -d /tmp/test-deb.XXXXXX)
chmod 755 "$tmp"
created=()          # what this test made outside $tmp, removed at the end
rc_made=0

cleanup() {
    if [ -f "$tmp/nginx.pid" ]; then
        kill -QUIT "$(cat "$tmp/nginx.pid")" 2>/dev/null || true
        for _ in $(seq 50); do [ -f "$tmp/nginx.pid" ] || break; sleep 0.1; done
    fi
    rm -f "$site"
    local p
    for p in "${created[@]}"; do rm -rf "$p"; done
    [ "$rc_made" = 1 ] && rm -f /usr/sbin/policy-rc.d
    rm -rf "$tmp"
}
trap cleanup EXIT

if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    rc_made=1
fi

export DEBIAN_FRONTEND=noninteractive
apt=(apt-get -y -q -o DPkg::Lock::Timeout=600)

# --- install
"${apt[@]}" install "./$deb" > "$tmp/apt-install.log" 2>&1 \
    || { cat "$tmp/apt-install.log"; fail "apt-get install ./$deb"; exit 1; }
ok "apt-get install ./$deb"

check "installed version $version" \
    test "$(dpkg-query -W -f='${Version}' $pkg)" = "$version"
check "the module in /usr/lib/nginx/modules" test -f "$so"
check "the load_module file in modules-available" \
    grep -qx 'load_module modules/ngx_http_export_module.so;' "$avail"
check "postinst enabled it in modules-enabled" \
    test "$(readlink "$link")" = "$avail"
check "the docs and the example site" test -f "$example" -a \
    -f /usr/share/doc/$pkg/directives.md.gz

# --- nginx -t: stock nginx.conf, the example site enabled as documented
for p in /etc/nginx/export.key /var/lib/nginx/exports /var/lib/prechecks; do
    [ -e "$p" ] || created+=("$p")
done
[ -e /etc/nginx/export.key ] || {
    head -c 32 /dev/urandom > /etc/nginx/export.key
    chmod 600 /etc/nginx/export.key
}
mkdir -p /var/lib/nginx/exports /var/lib/prechecks/runs
chown www-data: /var/lib/nginx/exports
cp "$example" "$site"
if nginx -t > "$tmp/t1.log" 2>&1; then
    ok "nginx -t with the stock nginx.conf and the example site"
else
    cat "$tmp/t1.log"; fail "nginx -t with the stock nginx.conf and the example site"
fi
rm -f "$site"

# --- one export end to end, a separate nginx on 127.0.0.1:$port
mkdir -p "$tmp/conf" "$tmp/logs" "$tmp/store" "$tmp/runs"
ln -s /usr/lib/nginx/modules "$tmp/modules"   # load_module's modules/
head -c 32 /dev/urandom > "$tmp/conf/export.key"
chown www-data: "$tmp/store"
run=6f1c2b9e-4d3a-4c55-9a0e-1b2c3d4e5f60
mkdir -p "$tmp/runs/$run"
echo '[{"check": "dns", "result": "PASS"}]' > "$tmp/runs/$run/dns.json"
cat > "$tmp/conf/nginx.conf" <<CONF
# the package's own modules-enabled link loads the module
include $link;

user www-data;
worker_processes 2;
pid $tmp/nginx.pid;
error_log $tmp/logs/error.log notice;

events { worker_connections 64; }

http {
    access_log $tmp/logs/access.log;
    client_body_temp_path $tmp/body;
    proxy_temp_path $tmp/proxy;
    fastcgi_temp_path $tmp/fastcgi;
    uwsgi_temp_path $tmp/uwsgi;
    scgi_temp_path $tmp/scgi;

    export_zone exports:1m;

    server {
        listen 127.0.0.1:$port;

        location ~ ^/v1/system/check-sets/(?<run_id>[^/]+)/exports\$ {
            export_api          zone=exports;
            export_run_id       \$run_id;
            export_source       $tmp/runs/\$run_id;
            export_store        $tmp/store;
            export_link_secret  $tmp/conf/export.key;
        }

        location ~ ^/v1/system/check-sets/(?<run_id>[^/]+)/exports/file\$ {
            export_download     zone=exports;
            export_run_id       \$run_id;
        }

        location = /status { export_status; }
    }
}
CONF

nginx=(/usr/sbin/nginx -p "$tmp" -c "$tmp/conf/nginx.conf")
"${nginx[@]}" -g 'daemon on;' 2> "$tmp/start.log" \
    || { cat "$tmp/start.log" "$tmp/logs/error.log"; fail "nginx on $port starts"; exit 1; }
ok "a separate nginx on 127.0.0.1:$port"

base=http://127.0.0.1:$port
for _ in $(seq 50); do curl -s -o /dev/null "$base/status" && break; sleep 0.1; done

code=$(curl -s -o "$tmp/post.json" -w '%{http_code}' -X POST \
            "$base/v1/system/check-sets/$run/exports")
check "POST: 202" test "$code" = 202

status=
for _ in $(seq 60); do
    curl -s -o "$tmp/status.json" "$base/v1/system/check-sets/$run/exports?wait=5"
    status=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("status",""))' \
                 "$tmp/status.json" 2>/dev/null || true)
    case $status in COMPLETED|FAILED) break ;; esac
    sleep 0.2
done
check "the export COMPLETED" test "$status" = COMPLETED

url=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["downloadUrl"])' \
          "$tmp/status.json" 2>/dev/null || true)
code=$(curl -s -o "$tmp/export.zip" -w '%{http_code}' "$base$url")
check "download: 200" test "$code" = 200
check "the archive passes unzip -t" unzip -tq "$tmp/export.zip"
check "the archive holds the report as JSON and CSV" python3 - "$tmp/export.zip" <<'PY'
import sys, zipfile, json
z = zipfile.ZipFile(sys.argv[1])
names = z.namelist()
assert any(n.endswith("dns.json") for n in names), names
assert any(n.endswith("dns.csv") for n in names), names
assert "manifest.json" in [n.rsplit("/", 1)[-1] for n in names], names
PY

curl -s -o "$tmp/st.json" "$base/status"
check "the status page gives version $version" python3 - "$tmp/st.json" "$version" <<'PY'
import sys, json
d = json.load(open(sys.argv[1]))
assert d["version"] == sys.argv[2], d.get("version")
assert d["zones"]["exports"]["completed"] == 1, d["zones"]
PY
check "the start logged the version" \
    grep -q "export module $version loaded" "$tmp/logs/error.log"

kill -QUIT "$(cat "$tmp/nginx.pid")"
for _ in $(seq 100); do [ -f "$tmp/nginx.pid" ] || break; sleep 0.1; done
check "the separate nginx stopped" test ! -f "$tmp/nginx.pid"

# --- purge
"${apt[@]}" purge $pkg > "$tmp/apt-purge.log" 2>&1 \
    || { cat "$tmp/apt-purge.log"; fail "apt-get purge $pkg"; exit 1; }
ok "apt-get purge $pkg"
check "dpkg knows nothing of it" \
    sh -c "! dpkg -L $pkg >/dev/null 2>&1 && ! dpkg-query -W -f='\${Status}' $pkg 2>/dev/null | grep -q installed"
check "the modules-enabled link is gone" test ! -e "$link" -a ! -L "$link"
check "the modules-available file is gone" test ! -e "$avail"
check "the module is gone" test ! -e "$so"
check "the docs are gone" test ! -e /usr/share/doc/$pkg
if nginx -t > "$tmp/t2.log" 2>&1; then
    ok "nginx -t after the purge"
else
    cat "$tmp/t2.log"; fail "nginx -t after the purge"
fi

if [ "$fails" -ne 0 ]; then
    echo "test-deb: $fails failed"
    exit 1
fi
echo "test-deb: PASS"
