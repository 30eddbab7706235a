#!/usr/bin/env bash
# Installs the npm tools that t/openapi.t uses into build/npm, when they
# are not there yet, and prints where they are:
#
#   @redocly/cli   lints and bundles docs/openapi.yaml   (bin: redocly)
#   ajv-cli        validates JSON bodies against schemas  (bin: ajv)
#   ajv-formats    the "uuid", "date-time", ... formats for ajv
#
# Run it again at any time: it installs nothing when all are present.
# The output's last lines are "NAME PATH", one per tool.
set -euo pipefail

top="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
prefix="$top/build/npm"
bin="$prefix/node_modules/.bin"

for t in node npm; do
    if ! command -v "$t" >/dev/null; then
        # a fresh Debian 12: its own nodejs and npm will do
        if [ "$(id -u)" -eq 0 ]; then
            echo "npm-tools: installing Debian's nodejs and npm" >&2
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
                --no-install-recommends nodejs npm >/dev/null
        fi
        if ! command -v "$t" >/dev/null; then
            echo "npm-tools: $t is not installed" >&2
            exit 1
        fi
    fi
done

# @redocly/cli 2 runs on node 20.19 or later; on Debian 12's node 18 the
# 1.34 line (node 18.17 or later) lints the same OpenAPI 3.0 document
redocly="@redocly/cli@2.77.0"
if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number);
              process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)'; then
    redocly="@redocly/cli@1.34.5"
fi

# package@version, and the file whose presence says it is installed;
# versions are pinned so that a lint result does not change under us
pkgs=("$redocly" "ajv-cli@5.0.0" "ajv-formats@3.0.1")
marks=("$bin/redocly" "$bin/ajv" "$prefix/node_modules/ajv-formats/package.json")

missing=()
for i in "${!pkgs[@]}"; do
    want="${pkgs[$i]##*@}"
    name="${pkgs[$i]%@*}"
    pj="$prefix/node_modules/$name/package.json"
    have=""
    if [ -e "${marks[$i]}" ] && [ -e "$pj" ]; then
        have="$(node -e 'console.log(require(process.argv[1]).version)' "$pj")"
    fi
    if [ "$have" != "$want" ]; then
        missing+=("${pkgs[$i]}")
    fi
done

if [ ${#missing[@]} -gt 0 ]; then
    echo "npm-tools: installing ${missing[*]} into $prefix" >&2
    mkdir -p "$prefix"
    # a package.json of our own, so that npm does not look further up
    [ -e "$prefix/package.json" ] \
        || echo '{"name": "export-module-npm-tools", "private": true}' \
            > "$prefix/package.json"
    npm install --prefix "$prefix" --no-audit --no-fund --loglevel=error \
        "${missing[@]}" >&2
fi

for m in "${marks[@]}"; do
    if [ ! -e "$m" ]; then
        echo "npm-tools: $m is missing after the install" >&2
        exit 1
    fi
done

echo "redocly $bin/redocly"
echo "ajv $bin/ajv"
echo "ajv-formats $prefix/node_modules/ajv-formats"
