#!/usr/bin/env bash
# make run: demo runs, an example configuration, and Debian's nginx with
# the module, in the foreground on 127.0.0.1:8080.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
demo=$top/demo
module=$top/build/nginx/objs/ngx_http_export_module.so
nginx=${NGINX:-/usr/sbin/nginx}
port=${DEMO_PORT:-8080}

mkdir -p "$demo/runs" "$demo/store" "$demo/logs" "$demo/conf"
# with a root master the workers run as nobody: they write the store
[ "$(id -u)" -ne 0 ] || chown nobody:nogroup "$demo/store"
python3 "$top/util/gen-demo.py" "$demo/runs" > "$demo/runs.txt"

# the HMAC key for download links; keep it as secret as a TLS key
[ -s "$demo/conf/export.key" ] || head -c 32 /dev/urandom > "$demo/conf/export.key"
chmod 600 "$demo/conf/export.key"

sed -e "s|@MODULE@|$module|g" -e "s|@DEMO@|$demo|g" -e "s|@PORT@|$port|g" \
    "$top/docs/example.conf" > "$demo/conf/nginx.conf"

"$nginx" -p "$demo" -c "$demo/conf/nginx.conf" -t -q

run=$(head -n 1 "$demo/runs.txt" | cut -d' ' -f1)
run2=$(sed -n 2p "$demo/runs.txt" | cut -d' ' -f1)
api="http://127.0.0.1:$port/v1/system/check-sets"
base="http://127.0.0.1:$port"

# WebAdMIT names exports by number: export 1001 is the first run
ln -sfn "$demo/runs/$run" "$demo/runs/1001"

cat <<MSG

Demo runs (in $demo/runs):
$(sed 's/^/  /' "$demo/runs.txt")

Try, from another terminal:
  curl -si -X POST $api/$run/exports
  curl -s '$api/$run/exports?wait=10' | python3 -m json.tool
  curl -s -OJ "http://127.0.0.1:$port\$(curl -s $api/$run/exports | python3 -c 'import json,sys; print(json.load(sys.stdin)["downloadUrl"])')"
  unzip -l export-$run.zip
  curl -si -X DELETE $api/$run/exports

The other styles (docs/styles.md):
  curl -s -d 'runIds=$run,$run2&f=pjson' $base/arcgis/admin/healthCheck/reports/export
  curl -s '$base/arcgis/admin/jobs/<jobid>?f=pjson'
  curl -s -d '{"jobCode": "<jobid>"}' $base/services/rest/v1/export/job/status
  curl -si -X POST $base/api/v1/user_identities/1/exports/1001/export_files
  curl -s $base/api/v1/exports/1001/export_files/<id>

Logs: $demo/logs/error.log, $demo/logs/access.log.  Ctrl-C stops nginx.

MSG

exec "$nginx" -p "$demo" -c "$demo/conf/nginx.conf" -g 'daemon off;'
