#!/usr/bin/env bash
# obj_bench.sh — Object Store throughput: put then get one 64 MiB object
# through our client (tool_js.exe under Wine) and through nats.js, against
# one nats-server, in one run. Prints MB/s (1 MB = 2^20 bytes) for both,
# the ratio ours/nats.js, and the peak memory of our process during the get
# (PeakWorkingSetSize as Wine reports it, and VmHWM sampled from /proc).
# The times are measured inside each client, from the call to its return,
# so process start-up and connecting are not counted for either side.
#
#   BUILD=build bash bench/obj_bench.sh      (needs $BUILD/wtest/tool_js.exe)
#   SIZE_MB=64 to change the size.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
BUILD=$(cd "$BUILD" && pwd)
TOOL="$BUILD/wtest/tool_js.exe"
IDIR="$PWD/tests/interop"
SIZE_MB=${SIZE_MB:-64}
W="$BUILD/bench/obj"
[ -f "$TOOL" ] || { echo "missing $TOOL (make BUILD=$BUILD units)" >&2; exit 1; }
if [ ! -d "$IDIR/node_modules/@nats-io/obj" ]; then
    (cd "$IDIR" && npm ci --no-audit --no-fund >/dev/null 2>&1) || { echo "npm ci failed" >&2; exit 1; }
fi
rm -rf "$W/js" "$W"/*.bin; mkdir -p "$W"

export WINEPREFIX="$W/wineprefix" WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
[ -d "$WINEPREFIX" ] || wineboot -i >/dev/null 2>&1

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
nats-server -js -sd "$W/js" -p "$port" -a 127.0.0.1 >"$W/nats.log" 2>&1 &
npid=$!
trap 'kill $npid 2>/dev/null; wait $npid 2>/dev/null; wineserver -k 2>/dev/null' EXIT
for i in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
URL="nats://127.0.0.1:$port"

head -c $((SIZE_MB << 20)) /dev/urandom >"$W/in.bin"
want=$(sha256sum <"$W/in.bin" | cut -d' ' -f1)
wp() { printf 'Z:%s' "${1//\//\\}"; }
ms_of() { grep -o 'time_ms=[0-9]*' "$1" | cut -d= -f2; }
mbs() { awk -v mb="$SIZE_MB" -v ms="$1" 'BEGIN { printf "%.1f", (ms > 0 ? mb * 1000 / ms : 0) }'; }

# Ours. Warm the prefix first so the put does not pay for wineserver start.
wine "$TOOL" -s "$URL" --mem obj-open warm >/dev/null 2>"$W/base.err"
wine "$TOOL" -s "$URL" obj-put bench big "$(wp "$W/in.bin")" >/dev/null 2>"$W/our_put.err" || { cat "$W/our_put.err"; exit 1; }
wine "$TOOL" -s "$URL" --mem obj-get bench big "$(wp "$W/our.bin")" >/dev/null 2>"$W/our_get.err" &
gp=$!
hwm=0
while kill -0 "$gp" 2>/dev/null; do
    for pid in $(pgrep -f 'tool_js.exe' 2>/dev/null); do
        v=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status" 2>/dev/null)
        [ -n "$v" ] && [ "$v" -gt "$hwm" ] && hwm=$v
    done
    sleep 0.05
done
wait "$gp" || { cat "$W/our_get.err"; exit 1; }
[ "$(sha256sum <"$W/our.bin" | cut -d' ' -f1)" = "$want" ] || { echo "our get returned wrong bytes" >&2; exit 1; }

# nats.js.
node "$IDIR/js.mjs" "$URL" obj-put jsbench big "$W/in.bin" >/dev/null 2>"$W/js_put.err" || { cat "$W/js_put.err"; exit 1; }
node "$IDIR/js.mjs" "$URL" obj-get jsbench big "$W/js.bin" >/dev/null 2>"$W/js_get.err" || { cat "$W/js_get.err"; exit 1; }
[ "$(sha256sum <"$W/js.bin" | cut -d' ' -f1)" = "$want" ] || { echo "nats.js get returned wrong bytes" >&2; exit 1; }

op=$(ms_of "$W/our_put.err"); og=$(ms_of "$W/our_get.err")
jp=$(ms_of "$W/js_put.err"); jg=$(ms_of "$W/js_get.err")
peak=$(grep -o 'peak_ws_kb=[0-9]*' "$W/our_get.err" | cut -d= -f2)
base=$(grep -o 'peak_ws_kb=[0-9]*' "$W/base.err" | cut -d= -f2)
printf 'object store, one %d MiB object, nats-server %s\n' "$SIZE_MB" "$(nats-server --version | awk '{print $2}')"
printf '  put   ours %7s MB/s (%5d ms)   nats.js %7s MB/s (%5d ms)   ratio ours/nats.js %s\n' \
    "$(mbs "$op")" "$op" "$(mbs "$jp")" "$jp" "$(awk -v a="$jp" -v b="$op" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')"
printf '  get   ours %7s MB/s (%5d ms)   nats.js %7s MB/s (%5d ms)   ratio ours/nats.js %s\n' \
    "$(mbs "$og")" "$og" "$(mbs "$jg")" "$jg" "$(awk -v a="$jg" -v b="$og" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')"
printf '  peak memory of our get: PeakWorkingSetSize %s KiB, VmHWM of the Wine process %s KiB\n' "${peak:-?}" "$hwm"
printf '    (object %d KiB; the same exe opening a store without a get peaks at %s KiB)\n' $((SIZE_MB << 10)) "${base:-?}"
rm -f "$W"/*.bin
