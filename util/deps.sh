#!/usr/bin/env bash
# Installs the Debian packages the build, the demo and the tests need,
# when they are missing.  Run as root it installs them; otherwise it
# names them and fails.
set -euo pipefail

want=(nginx nginx-dev libyajl-dev uuid-dev libssl-dev zlib1g-dev
      libtest-base-perl libtest-longstring-perl liblist-moreutils-perl
      libtext-diff-perl libwww-perl unzip libarchive-tools python3
      libcmocka-dev curl make gcc procps libisal-dev libdeflate-dev
      openssl libio-socket-ssl-perl libhttp-daemon-perl)

case "${1:-}" in
    --bench) want+=(wrk zip) ;;
    --fuzz)  want+=(clang-14 libfuzzer-14-dev libclang-rt-14-dev) ;;
    --valgrind) want+=(valgrind) ;;
    --deb)   want+=(dpkg-dev debhelper lintian) ;;
esac

missing=()
for p in "${want[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null \
            | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done

[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "missing Debian packages: ${missing[*]}" >&2
    echo "install them as root: apt-get install ${missing[*]}" >&2
    exit 1
fi

echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# the nginx package starts a server on port 80 when installed; keep it off
if [[ " ${missing[*]} " == *" nginx "* ]] && [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
