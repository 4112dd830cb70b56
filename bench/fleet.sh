#!/usr/bin/env bash
# fleet.sh — the fleet at scale: AGENTS simulated agents (tests/tool_fleet.c:
# the agent's own loop, config reads, heartbeat, agent_status, download and
# checks; only the SCM swap simulated) against one nats-server, all on this
# machine. One line per measurement, each with its goal or reference:
#
#   start        all agents connected and their agent_status written
#   consumers    JetStream consumers on the server while idle, per agent
#                (the count $JS.API.CONSUMER.LIST gives, summed by /jsz)
#   idle         nats-server CPU seconds and RSS while the fleet is idle,
#                and RSS per agent over the server's own before the fleet;
#                the simulator's and wineserver's CPU beside it (they share
#                the machine's cores with the server)
#   notice       `agent rollout --global` with no jitter: from the moment the
#                target is written until every agent has reported pending
#                or later (the `at` of its report; goal: 2 s at 1,000), and
#                until the observer had every report; the first agents
#                download while the last ones are told, so the same figure
#                is also given for the jittered rollout below
#   no-jitter    the same rollout until every agent runs it: every agent
#                downloads the release at the same moment
#   converged    `agent rollout --global --jitter 60s` until every agent runs
#                it (goal: jitter + 10 s at 1,000, none lost), with the
#                Kolmogorov-Smirnov statistic of the swap moments against a
#                uniform spread over the window
#   rollout cost nats-server CPU and peak RSS during the jittered rollout
#   storm        kill -9 the server, keep the port answering and closing for
#                DOWN seconds (counting connection attempts per second), then
#                start it again: until every agent is back
#   project      the per-agent costs times 10,000 and 50,000
#
#   AGENTS=1000 bash bench/fleet.sh       (default 100; JITTER=60 IDLE=30 DOWN=10)
#
# The agents run in SIMS simulator processes (default: one per 125 agents),
# each in its own Wine prefix, so each has its own wineserver: a wineserver
# keeps the pending timeouts of all its threads in one sorted list that
# every wait with a timeout walks, so its work per wait grows with the
# agents in its prefix (at 1,000 agents in one prefix it was most of the
# machine's CPU), and one process cannot open more than about 2,200 agents'
# threads (see docs/scale.md, "Where the simulator caps").
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${BUILD:-build}
BUILD=$(cd "$BUILD" && pwd)
N=${AGENTS:-100}
SIMS=${SIMS:-$(( (N + 124) / 125 ))}
JITTER=${JITTER:-60}
IDLE=${IDLE:-30}
DOWN=${DOWN:-10}
TOOL="$BUILD/wtest/tool_fleet.exe"
CLI="$BUILD/kanade.exe"
B="$BUILD/bench/fleet-$N"
for f in "$TOOL" "$CLI" "$BUILD/kanade-agent.exe"; do
    [ -f "$f" ] || { echo "fleet.sh: missing $f (make BUILD=$BUILD units)" >&2; exit 1; }
done
rm -rf "$B"; mkdir -p "$B/versions" "$B/js"
NATS_PID= FLEET_PIDS= LSN_PID=
cleanup() {
    local i
    for i in $(seq 0 $((SIMS - 1))); do [ -d "$B/sim-$i" ] && touch "$B/sim-$i/stop"; done
    [ -n "$FLEET_PIDS" ] && { sleep 3; kill $FLEET_PIDS 2>/dev/null; }
    [ -n "$LSN_PID" ] && kill "$LSN_PID" 2>/dev/null
    [ -n "$NATS_PID" ] && { kill "$NATS_PID" 2>/dev/null; wait "$NATS_PID" 2>/dev/null; }
    for i in $(seq 0 $((SIMS - 1))); do WINEPREFIX="$B/wineprefix-$i" wineserver -k >/dev/null 2>&1; done
}
trap cleanup EXIT
die() { echo "fleet.sh: $*" >&2; exit 1; }
say() { echo "fleet N=$N: $*"; }
now_ms() { date +%s%3N; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

source "$ROOT/tests/agent_versions.sh"
agent_version 0.2.0 "$B/versions/agent-0.2.0.exe" && agent_version 0.3.0 "$B/versions/agent-0.3.0.exe" \
    || die "cannot build the versions"

PORT=$(free_port); MON=$(free_port)
URL="nats://127.0.0.1:$PORT"
nats_up() {
    nats-server -js -sd "$B/js" -p "$PORT" -a 127.0.0.1 -m "$MON" >>"$B/nats.log" 2>&1 &
    NATS_PID=$!
    for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && return 0; sleep 0.1; done
    die "nats-server did not start"
}
varz() { curl -s "http://127.0.0.1:$MON/varz" | python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])" 2>/dev/null; }
jsz_consumers() { curl -s "http://127.0.0.1:$MON/jsz" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("consumers",0))' 2>/dev/null; }
status_count() {
    curl -s "http://127.0.0.1:$MON/jsz?streams=true" | python3 -c '
import json,sys
d=json.load(sys.stdin)
n=0
for a in d.get("account_details",[]):
    for s in a.get("stream_detail",[]):
        if s.get("name")=="KV_agent_status": n=s.get("state",{}).get("num_subjects",0)
print(n)' 2>/dev/null
}
cpu_s() { awk -v t="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$1/stat" 2>/dev/null || echo 0; }
cpu_sum() { local p s=0; for p in "$@"; do s=$(awk -v a="$s" -v b="$(cpu_s "$p")" 'BEGIN{printf "%.2f", a+b}'); done; echo "$s"; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
load() { cut -d' ' -f1-3 /proc/loadavg; }

nats_up
export WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
boots=
for i in $(seq 0 $((SIMS - 1))); do
    WINEPREFIX="$B/wineprefix-$i" wineboot -i >/dev/null 2>&1 &
    boots="$boots $!"
done
wait $boots
export WINEPREFIX="$B/wineprefix-0"     # the CLI and the observer
K() { wine "$CLI" --server "$URL" "$@" 2>&1 | tr -d '\r'; return "${PIPESTATUS[0]}"; }
wp() { winepath -w "$1" 2>/dev/null; }
K broker init >/dev/null || die "broker init"
K agent publish "$(wp "$B/versions/agent-0.2.0.exe")" >/dev/null || die "publish 0.2.0"
K agent publish "$(wp "$B/versions/agent-0.3.0.exe")" >/dev/null || die "publish 0.3.0"
wine "$TOOL" groups "$URL" "$N" 'ring%d:10' >/dev/null 2>"$B/groups.err" || die "groups: $(cat "$B/groups.err")"
sleep 1
BASE_RSS=$(rss_kb "$NATS_PID")
say "machine: $(nproc) cores, load $(load) at start, nats-server $(nats-server --version | awk '{print $2}'); simulator processes, each in its own Wine prefix: $SIMS"

# ---- start ----------------------------------------------------------------
PER=$(( (N + SIMS - 1) / SIMS ))
t0=$(now_ms)
for i in $(seq 0 $((SIMS - 1))); do
    first=$((i * PER + 1)); count=$(( N - i * PER < PER ? N - i * PER : PER ))
    [ "$count" -ge 1 ] || break
    mkdir -p "$B/sim-$i"
    WINEPREFIX="$B/wineprefix-$i" wine "$TOOL" run "$URL" "$count" "$(wp "$B/sim-$i")" --first "$first" \
        --version 0.1.0 --spread $((count * 5)) >"$B/fleet-$i.out" 2>"$B/fleet-$i.err" &
    FLEET_PIDS="$FLEET_PIDS $!"
done
ok=
for _ in $(seq 1 $((N + 600))); do
    c=$(varz connections); s=$(status_count)
    if [ "${c:-0}" -ge "$N" ] && [ "${s:-0}" -ge "$N" ]; then ok=1; break; fi
    for p in $FLEET_PIDS; do kill -0 "$p" 2>/dev/null || break 2; done
    sleep 0.5
done
[ -n "$ok" ] || die "only ${c:-0} connections and ${s:-0} status documents of $N (see $B/fleet-*.err)"
say "start: all $N connected with agent_status written in $(awk -v m=$(( $(now_ms) - t0 )) 'BEGIN{printf "%.1f", m/1000}') s (agents started over $(awk -v n="$N" 'BEGIN{printf "%.1f", n*5/1000}') s)"
sleep 10      # every watch delivered its initial values; the start has settled

# ---- idle -----------------------------------------------------------------
cons=$(jsz_consumers)
say "consumers: $cons on the server while idle, $(awk -v c="$cons" -v n="$N" 'BEGIN{printf "%.2f", c/n}') per agent"
FPIDS=$(pgrep -f 'tool_fleet.exe run')
WSS=
for p in $(pgrep wineserver); do
    tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -q "^WINEPREFIX=$B/wineprefix-" && WSS="$WSS $p"
done
c0=$(cpu_s "$NATS_PID"); f0=$(cpu_sum $FPIDS); w0=$(cpu_sum $WSS)
sleep "$IDLE"
c1=$(cpu_s "$NATS_PID"); f1=$(cpu_sum $FPIDS); w1=$(cpu_sum $WSS)
IDLE_RSS=$(rss_kb "$NATS_PID")
IDLE_CPU=$(awk -v a="$c0" -v b="$c1" 'BEGIN{printf "%.2f", b-a}')
PER_KB=$(awk -v r="$IDLE_RSS" -v b="$BASE_RSS" -v n="$N" 'BEGIN{printf "%.1f", (r-b)/n}')
say "idle: nats-server cpu $IDLE_CPU s over $IDLE s ($(awk -v c="$IDLE_CPU" -v s="$IDLE" 'BEGIN{printf "%.2f", 100*c/s}') % of a core), rss $((IDLE_RSS / 1024)) MiB (before the fleet $((BASE_RSS / 1024)) MiB: $PER_KB KiB per agent); simulators $(awk -v a="$f0" -v b="$f1" 'BEGIN{printf "%.2f", b-a}') s, wineservers $(awk -v a="$w0" -v b="$w1" 'BEGIN{printf "%.2f", b-a}') s"

# observe TARGET: starts the observer; waits for its "observing" line.
observe() {
    rm -f "$B/obs-$1.txt"
    wine "$TOOL" observe "$URL" "$N" "$1" "$(wp "$B/obs-$1.txt")" --timeout $((JITTER + 300)) \
        >"$B/obs-$1.out" 2>&1 &
    OBS_PID=$!
    for _ in $(seq 1 100); do grep -q observing "$B/obs-$1.out" 2>/dev/null && return 0; sleep 0.1; done
    die "observer did not start"
}
# latest COL FILE T0: seconds from T0 to the latest time in column COL,
# or "not all" when an agent never got there.
latest() { awk -v c="$1" -v t="$3" 'BEGIN{m=0; z=0} { if ($c == 0) z=1; else if ($c - t > m) m = $c - t } END { if (z) print "(not all)"; else printf "%.2f", m/1000 }' "$2"; }
missing() { awk -v c="$1" '$c == 0' "$2" | wc -l; }
# written TARGET: when the observer saw the rollout's write (unix ms), or
# the given fallback (the moment the rollout command returned).
written() { local w; w=$(tr -d '\r' <"$B/obs-$1.out" | awk '/^written/ { print $2; exit }'); echo "${w:-$2}"; }

# ---- notice and no-jitter rollout ----------------------------------------
observe 0.2.0
c0=$(cpu_s "$NATS_PID")
K agent rollout 0.2.0 --global --jitter 0s >"$B/rollout1.out" || die "rollout 0.2.0: $(cat "$B/rollout1.out")"
t0=$(now_ms)
wait "$OBS_PID"
sleep 1
t0=$(written 0.2.0 "$t0")
nt=$(latest 5 "$B/obs-0.2.0.txt" "$t0"); dt=$(latest 3 "$B/obs-0.2.0.txt" "$t0")
say "notice: every agent reported pending or later $nt s after the target was written (the observer had every report after $(latest 2 "$B/obs-0.2.0.txt" "$t0") s), $(missing 2 "$B/obs-0.2.0.txt") never (goal <= 2 s at N=1000)"
say "no-jitter: converged $((N - $(missing 3 "$B/obs-0.2.0.txt")))/$N in $dt s, every agent downloading at once; nats-server cpu $(awk -v a="$c0" -v b="$(cpu_s "$NATS_PID")" 'BEGIN{printf "%.2f", b-a}') s"

# ---- jittered rollout ----------------------------------------------------
sleep 5
observe 0.3.0
c0=$(cpu_s "$NATS_PID")
peak=0
K agent rollout 0.3.0 --global --jitter "${JITTER}s" >"$B/rollout2.out" || die "rollout 0.3.0: $(cat "$B/rollout2.out")"
t0=$(now_ms)
while kill -0 "$OBS_PID" 2>/dev/null; do
    r=$(rss_kb "$NATS_PID"); [ "${r:-0}" -gt "$peak" ] && peak=$r
    sleep 1
done
wait "$OBS_PID"; orc=$?
t0=$(written 0.3.0 "$t0")
RO_CPU=$(awk -v a="$c0" -v b="$(cpu_s "$NATS_PID")" 'BEGIN{printf "%.2f", b-a}')
dt=$(latest 3 "$B/obs-0.3.0.txt" "$t0"); lost=$(missing 3 "$B/obs-0.3.0.txt")
ks=$(awk -v t="$t0" -v w=$((JITTER * 1000)) '$3 > 0 { u = ($3 - t) / w; if (u < 0) u = 0; if (u > 1) u = 1; print u }' \
    "$B/obs-0.3.0.txt" | sort -g | awk '{ u[NR] = $1 } END { d = 0; for (i = 1; i <= NR; i++) {
        a = i / NR - u[i]; b = u[i] - (i - 1) / NR; if (a > d) d = a; if (b > d) d = b }
        printf "%.3f %.3f", d, (NR ? 1.36 / sqrt(NR) : 0) }')
say "notice (jittered): every agent reported pending or later $(latest 5 "$B/obs-0.3.0.txt" "$t0") s after the target was written (the observer had every report after $(latest 2 "$B/obs-0.3.0.txt" "$t0") s), with no download competing"
say "converged: $((N - lost))/$N on 0.3.0 in $dt s with --jitter ${JITTER}s (goal <= $((JITTER + 10)) s, none lost: $lost lost), KS D=${ks% *} vs uniform over the window (5 % critical value ${ks#* })"
say "rollout cost: nats-server cpu $RO_CPU s during the jittered rollout, peak rss $((peak / 1024)) MiB"
[ "$orc" -eq 0 ] || say "converged: the observer timed out (see $B/obs-0.3.0.out)"

# ---- reconnect storm -----------------------------------------------------
kill -9 "$NATS_PID"; wait "$NATS_PID" 2>/dev/null; NATS_PID=
# While the server is down, a listener on its port counts the attempts per
# second (accepts and closes at once, as a port with nothing behind it would
# refuse): the backoff jitter must spread them.
python3 - "$PORT" "$DOWN" >"$B/attempts.txt" 2>&1 <<'PY' &
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(4096); s.settimeout(0.05)
end = time.time() + float(sys.argv[2]); counts = {}
while time.time() < end:
    try:
        c, _ = s.accept(); c.close(); k = int(time.time()); counts[k] = counts.get(k, 0) + 1
    except socket.timeout:
        pass
s.close()
print(max(counts.values()) if counts else 0, sum(counts.values()))
PY
LSN_PID=$!
wait "$LSN_PID"; LSN_PID=
read -r peak_att total_att <"$B/attempts.txt"
t0=$(now_ms)
nats_up
back=; prev=0; peak_conn=0
for _ in $(seq 1 600); do
    sleep 1
    tc=$(varz total_connections); c=$(varz connections)
    [ $(( ${tc:-0} - prev )) -gt "$peak_conn" ] && peak_conn=$(( ${tc:-0} - prev ))
    prev=${tc:-0}
    if [ "${c:-0}" -ge "$N" ]; then back=$(now_ms); break; fi
done
if [ -n "$back" ]; then
    say "storm: all $N back $(awk -v m=$((back - t0)) 'BEGIN{printf "%.1f", m/1000}') s after the restart (down ${DOWN} s); attempts while down: peak $peak_att/s, $total_att in all; after the restart: peak $peak_conn connections/s"
else
    say "storm: only $(varz connections) of $N back within 600 s"
fi
sleep 10
cons=$(jsz_consumers)
say "after the storm: $cons consumers ($(awk -v c="$cons" -v n="$N" 'BEGIN{printf "%.2f", c/n}') per agent), $(status_count) status documents"

# ---- projection ------------------------------------------------------------
cpa=$(awk -v c="$cons" -v n="$N" 'BEGIN{printf "%.2f", c/n}')
for M in 10000 50000; do
    say "project $M agents, one server: rss $(awk -v p="$PER_KB" -v m="$M" -v b="$BASE_RSS" 'BEGIN{printf "%.0f", (b + p*m)/1024}') MiB, idle cpu $(awk -v c="$IDLE_CPU" -v s="$IDLE" -v n="$N" -v m="$M" 'BEGIN{printf "%.1f", 100*c/s/n*m}') % of a core, $(awk -v c="$cpa" -v m="$M" 'BEGIN{printf "%.0f", c*m}') consumers, $M connections, $(awk -v m="$M" 'BEGIN{printf "%.0f", m/30}') status puts/s at the 30 s heartbeat; 3-node cluster (R3): each node stores a replica of every stream, connections split by 3"
done
say "machine: load $(load) at the end"
