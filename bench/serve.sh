#!/usr/bin/env bash
# serve.sh — `kanade serve` with a large fleet: AGENTS (default 10,000)
# status documents written by tool_statusfill, then
#   - GET /api/agents, 10 times, median and worst (curl's total time, from
#     the connect to the last byte), beside the goal of 300 ms and beside
#     `kanade agents --json`, which reads the same bucket from the broker;
#   - the first render of the page in headless Chromium (navigation to the
#     first agent row), 5 times (RENDERS=), median and worst, beside the
#     goal of 1 s, with where the median run's time went.
#
#   BUILD=build bash bench/serve.sh        AGENTS=2000 for a quicker run
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
BUILD=$(cd "$BUILD" && pwd)
ROOT=$PWD
AGENTS=${AGENTS:-10000}
K="$BUILD/kanade.exe"
FILL="$BUILD/wtest/tool_statusfill.exe"
W="$BUILD/bench/serve"
for f in "$K" "$FILL"; do [ -x "$f" ] || { echo "missing $f (make BUILD=$BUILD units)" >&2; exit 1; }; done
rm -rf "$W"; mkdir -p "$W"

export WINEPREFIX="$W/wineprefix" WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
wineboot -i >/dev/null 2>&1
wineserver -p 2>/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
nats-server -js -sd "$W/js" -p "$port" -a 127.0.0.1 >"$W/nats.log" 2>&1 &
npid=$!
spid=
trap 'kill $spid $npid 2>/dev/null; wait $npid 2>/dev/null; wineserver -k 2>/dev/null' EXIT
for i in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
URL="nats://127.0.0.1:$port"

wine "$K" --server "$URL" broker init >"$W/init.out" 2>&1 || { cat "$W/init.out"; exit 1; }
t0=$(date +%s)
wine "$FILL" "$URL" fill "$AGENTS" >/dev/null 2>"$W/fill.err" || { cat "$W/fill.err"; exit 1; }
echo "wrote $AGENTS status documents in $(( $(date +%s) - t0 )) s"

# --stale 24h: the fleet's age does not change what is measured.
wine "$K" serve --server "$URL" --listen 127.0.0.1:0 --stale 24h >"$W/serve.out" 2>"$W/serve.err" &
spid=$!
hp=
for i in $(seq 1 300); do
    hp=$(tr -d '\r' <"$W/serve.out" | sed -nE 's#.*http://[^ ]*:([0-9]+)/.*#\1#p')
    [ -n "$hp" ] && [ "$(curl -s "http://127.0.0.1:$hp/healthz")" = ok ] && break
    kill -0 "$spid" 2>/dev/null || break
    sleep 0.2
done
[ -n "$hp" ] && kill -0 "$spid" 2>/dev/null || { echo "kanade serve did not come up"; cat "$W/serve.err"; exit 1; }
n=$(curl -s "http://127.0.0.1:$hp/api/agents" | python3 -c 'import json,sys; print(json.load(sys.stdin)["count"])')
[ "$n" = "$AGENTS" ] || { echo "/api/agents lists $n agents, expected $AGENTS"; exit 1; }

times=()
for i in $(seq 1 10); do
    times+=("$(curl -s -o "$W/agents.json" -w '%{time_total}' "http://127.0.0.1:$hp/api/agents")")
done
read -r med worst < <(printf '%s\n' "${times[@]}" | sort -n | awk '{ v[NR] = $1 } END { printf "%.0f %.0f\n", v[int((NR + 1) / 2)] * 1000, v[NR] * 1000 }')
bytes=$(stat -c %s "$W/agents.json")

t0=$(date +%s%N)
wine "$K" --server "$URL" --json agents >/dev/null 2>"$W/cli.err"
cli_ms=$(( ($(date +%s%N) - t0) / 1000000 ))

# The first render, RENDERS times (default 5): the median and the worst,
# and where the median run's time went.
renders=()
for i in $(seq 1 "${RENDERS:-5}"); do
    node --experimental-websocket "$ROOT/tests/web_page.js" "http://127.0.0.1:$hp/" "$W/fleet.png" pc-0000 none \
        >"$W/page.$i.json" 2>"$W/page.err"
    renders+=("$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("first_render_ms", 99999))' "$W/page.$i.json" 2>/dev/null || echo 99999) $i")
done
read -r render rmed < <(printf '%s\n' "${renders[@]}" | sort -n | awk '{ v[NR] = $0 } END { print v[int((NR + 1) / 2)] }')
rworst=$(printf '%s\n' "${renders[@]}" | sort -n | tail -n 1 | cut -d' ' -f1)
timing=$(python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1])).get("timing", {})))' "$W/page.$rmed.json" 2>/dev/null)
ttfb=()
for i in $(seq 1 10); do
    ttfb+=("$(curl -s -o /dev/null -w '%{time_starttransfer}' "http://127.0.0.1:$hp/api/agents")")
done
tt=$(printf '%s\n' "${ttfb[@]}" | sort -n | awk '{ v[NR] = $1 } END { printf "%.0f", v[int((NR + 1) / 2)] * 1000 }')

echo
printf '%-44s %10s   %s\n' "kanade serve, $AGENTS agents" "ours" "reference"
printf '%-44s %7s ms   goal 300 ms; kanade agents --json (reads the bucket, Wine start included): %s ms\n' \
    "GET /api/agents, median of 10 ($((bytes / 1024)) KiB)" "$med" "$cli_ms"
printf '%-44s %7s ms\n' "GET /api/agents, worst of 10" "$worst"
printf '%-44s %7s ms\n' "GET /api/agents, first byte, median of 10" "$tt"
printf '%-44s %7s ms   goal 1000 ms\n' "first render in headless Chromium, median of ${RENDERS:-5}" "${render:-?}"
printf '%-44s %7s ms\n' "first render, worst of ${RENDERS:-5}" "${rworst:-?}"
echo "  where the median render's time went (ms from the page's time origin; requests as [start, first byte, end]):"
echo "  $timing"
