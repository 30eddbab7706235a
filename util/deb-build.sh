#!/usr/bin/env bash
# make deb: builds build/libnginx-mod-http-export_<version>_<arch>.deb
# with debhelper, from a staging copy of the source in build/deb (the
# packaging files are util/debian; the top of the repository gets no
# debian/ directory), then runs lintian on it.
set -euo pipefail
cd "$(dirname "$0")/.."

version=$(sed -n 's/^EXPORT_VERSION=\([0-9][0-9.]*\)$/\1/p' config)
[ -n "$version" ] || { echo "deb-build: no EXPORT_VERSION in config" >&2; exit 1; }

stage=build/deb
src=$stage/libnginx-mod-http-export-$version
rm -rf "$stage"
mkdir -p "$src"
cp -r config Makefile README.md src docs util "$src"/
cp -r util/debian "$src"/debian

# the changelog carries the version: written here from config's line
when=$(git log -1 --format=%aD 2>/dev/null || date -R)
cat > "$src"/debian/changelog <<CHANGELOG
libnginx-mod-http-export ($version) unstable; urgency=medium

  * Version $version of ngx_http_export_module (EXPORT_VERSION in config).

 -- $(sed -n 's/^Maintainer: //p' util/debian/control)  $when
CHANGELOG

(cd "$src" && dpkg-buildpackage -b -us -uc) > "$stage"/build.log 2>&1 || {
    tail -40 "$stage"/build.log >&2
    exit 1
}

arch=$(dpkg --print-architecture)
deb=libnginx-mod-http-export_${version}_${arch}.deb
cp "$stage/$deb" build/"$deb"
echo "built build/$deb"
dpkg-deb -f build/"$deb" Package Version Depends

# no error allowed; warnings and notes are printed
lintian --fail-on error --info build/"$deb"
