#!/usr/bin/env bash
# Installs what the build and the tests need on Debian bookworm, and builds
# BearSSL for mingw-w64 into $BUILD_ROOT/bearssl-mingw. Idempotent: when all is
# present it only runs a few `command -v`/`test -e` checks.
set -euo pipefail

BUILD_ROOT=${1:-build-deps}
say() { echo "deps: $*"; }

need_pkgs=()
have_cmd() { command -v "$1" >/dev/null 2>&1; }
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q '^install ok installed'; }

have_cmd x86_64-w64-mingw32-gcc || need_pkgs+=(gcc-mingw-w64-x86-64-win32)
have_cmd x86_64-w64-mingw32-windres || need_pkgs+=(binutils-mingw-w64-x86-64)
have_cmd wine || need_pkgs+=(wine)
have_pkg wine64 || need_pkgs+=(wine64)
[ -x /usr/sbin/nats-server ] || have_cmd nats-server || need_pkgs+=(nats-server)
[ -e /usr/include/jsmn.h ] || need_pkgs+=(libjsmn-dev)
[ -e /usr/include/bearssl.h ] || need_pkgs+=(libbearssl-dev)
have_cmd clang || need_pkgs+=(clang)
have_pkg libclang-rt-14-dev || need_pkgs+=(libclang-rt-14-dev)
have_cmd dpkg-source || need_pkgs+=(dpkg-dev)
have_cmd openssl || need_pkgs+=(openssl)
have_cmd node || need_pkgs+=(nodejs)
have_cmd npm || need_pkgs+=(npm)
have_cmd python3 || need_pkgs+=(python3)
have_cmd curl || need_pkgs+=(curl)
have_cmd chromium || need_pkgs+=(chromium)    # the fleet page in headless Chromium (it_serve)

if [ ${#need_pkgs[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    say "apt-get update"
    apt-get update -qq >/dev/null
    for p in "${need_pkgs[@]}"; do say "installing $p"; done
    apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi

# BearSSL for mingw, from Debian's source package.
lib="$BUILD_ROOT/bearssl-mingw/libbearssl.a"
if [ ! -e "$lib" ]; then
    if ! ls /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
            | xargs grep -qsE '^(deb-src|Types:.*deb-src)'; then
        say "adding deb-src entry for bookworm main"
        cat > /etc/apt/sources.list.d/kanade-deb-src.sources <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
        apt-get update -qq >/dev/null
    fi
    src="$BUILD_ROOT/bearssl-src"
    if [ ! -d "$src" ]; then
        say "fetching bearssl source (apt-get source)"
        tmp=$(mktemp -d)
        (cd "$tmp" && apt-get source -qq bearssl >/dev/null 2>&1)
        mkdir -p "$BUILD_ROOT"
        mv "$tmp"/bearssl-*/ "$src"
        rm -rf "$tmp"
    fi
    say "building bearssl with mingw-w64"
    obj="$BUILD_ROOT/bearssl-mingw/obj"
    mkdir -p "$obj"
    find "$src/src" -name '*.c' | xargs -P "$(nproc)" -I{} sh -c \
        'f={}; o='"$obj"'/$(echo "$f" | sed "s|.*/src/||; s|/|_|g; s|\.c$|.o|"); \
         x86_64-w64-mingw32-gcc -Os -ffunction-sections -fdata-sections -I'"$src"'/inc -I'"$src"'/src -c "$f" -o "$o"'
    x86_64-w64-mingw32-ar rcs "$lib.tmp" "$obj"/*.o
    mkdir -p "$BUILD_ROOT/bearssl-mingw/inc"
    cp "$src"/inc/*.h "$BUILD_ROOT/bearssl-mingw/inc/"
    mv "$lib.tmp" "$lib"
    rm -rf "$obj"
fi

# jsmn: the one header, on its own include path (never all of /usr/include).
if [ ! -e "$BUILD_ROOT/jsmn/jsmn.h" ]; then
    mkdir -p "$BUILD_ROOT/jsmn"
    cp /usr/include/jsmn.h "$BUILD_ROOT/jsmn/jsmn.h"
    say "copied jsmn.h"
fi
exit 0
