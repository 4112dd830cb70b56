#!/usr/bin/env bash
# it_cluster.sh — the fleet on a 3-node JetStream cluster (three
# nats-servers on loopback with routes), with node failures:
#
#   the CLI creates every bucket with --replicas 3 (checked on the servers);
#   20 simulated agents (tests/tool_fleet.c: the agent's own code, only the
#   SCM swap simulated) are given the 3 URLs and spread over the nodes;
#   agent 21 is given ONE URL and learns the others from INFO connect_urls;
#   one real KanadeAgent service under Wine's SCM is given the 3 URLs.
#   1. idle: the node holding most agents is killed: all come back on the
#      others, and agent 21 fails over to a node it was never told about;
#   2. the stream leader of agent_releases is killed in the middle of the
#      downloads of a --global rollout: every agent still converges;
#   3. one node is killed during a --global --jitter rollout to the 20
#      simulated agents, agent 21 and the real service: all converge, and
#      publish and rollout keep working with the node down.
# After each scenario every agent reports the target (heartbeat and
# agent_status: none lost, none stuck).
source "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
T_START=$SECONDS
FLEET="$BUILD/wtest/tool_fleet.exe"
CLI="$BUILD/kanade.exe"
for f in "$FLEET" "$CLI" "$BUILD/kanade-agent.exe" "$BUILD/wtest/tool_agentcheck.exe"; do
    if [ ! -f "$f" ]; then bad "missing $f (run: make units BUILD=$BUILD)"; t_summary; exit 1; fi
done
SIMS=20
ALL=$((SIMS + 1))                # simulated agents, the one-URL agent included

VERS="$T_DIR/versions"
mkdir -p "$VERS"
source "$ROOT/tests/agent_versions.sh"
cp "$BUILD/kanade-agent.exe" "$VERS/agent-0.1.0.exe"
for v in 0.2.0 0.3.0 0.4.0; do
    agent_version "$v" "$VERS/agent-$v.exe" || { bad "link agent $v"; t_summary; exit 1; }
done

# ---- the cluster ----------------------------------------------------------
declare -a P M C PID
for i in 1 2 3; do P[$i]=$(free_port); M[$i]=$(free_port); C[$i]=$(free_port); done
URLS="nats://127.0.0.1:${P[1]},nats://127.0.0.1:${P[2]},nats://127.0.0.1:${P[3]}"
node_start() {
    local i=$1 j routes=""
    for j in 1 2 3; do [ "$j" != "$i" ] && routes="$routes${routes:+,}nats://127.0.0.1:${C[$j]}"; done
    mkdir -p "$T_DIR/n$i"
    nats-server -js -sd "$T_DIR/n$i" -p "${P[$i]}" -a 127.0.0.1 -m "${M[$i]}" -n "n$i" \
        --cluster_name kanade --cluster "nats://127.0.0.1:${C[$i]}" --routes "$routes" \
        >>"$T_DIR/n$i.log" 2>&1 &
    PID[$i]=$!
    T_PIDS+=("${PID[$i]}")
    local k
    for k in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/${P[$i]}") 2>/dev/null && return 0; sleep 0.1; done
    return 1
}
node_kill() { kill -9 "${PID[$1]}" 2>/dev/null; wait "${PID[$1]}" 2>/dev/null; PID[$1]=; }
mon() { curl -s --max-time 2 "http://127.0.0.1:${M[$1]}/$2"; }
# sims_on NODE: how many agents (client names sim-*) the node serves.
sims_on() {
    mon "$1" 'connz?limit=1000' | python3 -c 'import json,sys
try: d = json.load(sys.stdin)
except Exception: print(0); sys.exit(0)
print(sum(1 for c in d.get("connections") or [] if (c.get("name") or "").startswith("sim-")))'
}
sims_total() { local t=0 i; for i in 1 2 3; do [ -n "${PID[$i]}" ] && t=$((t + $(sims_on "$i"))); done; echo "$t"; }
# stream_field NODE STREAM EXPR: a field of the stream as the node reports it.
stream_field() {
    mon "$1" 'jsz?streams=true&config=true' | python3 -c 'import json,sys
try: d = json.load(sys.stdin)
except Exception: sys.exit(0)
for a in d.get("account_details") or []:
    for s in a.get("stream_detail") or []:
        if s.get("name") == sys.argv[1]:
            try: print(eval(sys.argv[2]))
            except (KeyError, TypeError): pass' "$2" "$3"
}
meta_leader() { mon "$1" jsz | python3 -c 'import json,sys; print(json.load(sys.stdin).get("meta_cluster",{}).get("leader",""))' 2>/dev/null; }
has_leader() { [ -n "$(meta_leader "$1")" ]; }
# settled: every live node says it is healthy (a meta leader, and current on
# every stream and consumer it holds: the server's /healthz), so a JetStream
# API request right after a node restart is not lost in a leader election.
settled() {
    local i
    for i in 1 2 3; do
        [ -n "${PID[$i]}" ] || continue
        mon "$i" healthz | grep -q '"status":"ok"' || return 1
    done
}

for i in 1 2 3; do node_start "$i" || { bad "node $i did not start"; t_summary; exit 1; }; done
wait_for 30 "a JetStream meta leader" has_leader 1
echo "cluster up ($((SECONDS - T_START))s)"

wine_prefix
wineserver -k
wineserver -p
wine "$BUILD/wtest/tool_agentcheck.exe" svc KanadeAgent </dev/null >/dev/null 2>&1
winpath() { winepath -w "$1" 2>/dev/null; }
K() { w "$CLI" --server "$URLS" "$@"; }
# K1 NODE ...: the CLI given one node only.
K1() { local n=$1; shift; w "$CLI" --server "nats://127.0.0.1:${P[$n]}" "$@"; }

# ---- replicated buckets ----------------------------------------------------
# Creating a stream right after the cluster formed can time out while the
# meta group settles: retried within a bound.
publish() { local i; for i in 1 2 3 4 5; do K agent publish "$(winpath "$VERS/agent-$1.exe")" >"$T_DIR/pub.out" 2>&1 && return 0; sleep 2; done; cat "$T_DIR/pub.out"; return 1; }
out=$(K --replicas 9 agent status 2>&1); rc=$?
check_eq "--replicas 9: usage error (exit 2)" "$rc" 2
check_match "--replicas 9: one line saying why" "$out" "--replicas '9' is not a number from 1 to 5"
# The operator's setup of a cluster: every bucket replicated. (A bucket left
# at one replica, such as agent_rollouts created on the fly by a rollout,
# lives on one node; with that node down every agent holds back, since it
# cannot read the rollout's failure records.)
broker_init() { local i; for i in 1 2 3 4 5; do K --replicas 3 broker init >"$T_DIR/init.out" 2>&1 && return 0; sleep 2; done; cat "$T_DIR/init.out"; return 1; }
check "broker init --replicas 3" broker_init
check "publish 0.2.0 into the replicated agent_releases" publish 0.2.0
check "publish 0.3.0" publish 0.3.0
check "agent_config global" K jetstream kv put agent_config global '{"heartbeat_interval":"2s"}'
check "groups for the simulated agents" w "$FLEET" groups "$URLS" "$ALL" 'ring%d:3'
for s in OBJ_agent_releases KV_agent_config KV_agent_groups KV_agent_status KV_agent_rollouts; do
    check_eq "$s has 3 replicas" "$(stream_field 1 "$s" 's["config"]["num_replicas"]')" 3
done

# ---- the fleet ---------------------------------------------------------------
SIMDIR="$T_DIR/sim"; SIMDIR1="$T_DIR/sim1"
mkdir -p "$SIMDIR" "$SIMDIR1"
w "$FLEET" run "$URLS" "$SIMS" "$(winpath "$SIMDIR")" --version 0.1.0 --spread 1000 >"$T_DIR/fleet.out" 2>&1 &
T_PIDS+=($!)
# Agent 21 knows node 1 only.
w "$FLEET" run "nats://127.0.0.1:${P[1]}" 1 "$(winpath "$SIMDIR1")" --first $ALL --version 0.1.0 >"$T_DIR/fleet1.out" 2>&1 &
T_PIDS+=($!)
stop_fleet() { touch "$SIMDIR/stop" "$SIMDIR1/stop"; }
trap 'stop_fleet; sleep 2; t_cleanup' EXIT
all_connected() { [ "$(sims_total)" -ge "$ALL" ]; }
wait_for 60 "all $ALL agents connected" all_connected
check_eq "all $ALL simulated agents connected" "$(sims_total)" "$ALL"
spread=0; for i in 1 2 3; do [ "$(sims_on "$i")" -gt 0 ] && spread=$((spread + 1)); done
check "the agents given 3 URLs spread over the nodes (on $spread nodes)" test "$spread" -ge 2

# The real service, given the 3 URLs.
PF="$WINEPREFIX/drive_c/Program Files/Kanade"
mkdir -p "$PF"; cp "$VERS/agent-0.1.0.exe" "$PF/kanade-agent.exe"
w "$PF/kanade-agent.exe" install --config 'C:\ProgramData\Kanade\config\agent.conf' --nats-url "$URLS" \
    --id real-01 >"$T_DIR/install.out" 2>&1 || bad "install the service: $(cat "$T_DIR/install.out")"
start_svc() { local k; for k in $(seq 1 30); do w sc start KanadeAgent >/dev/null 2>&1; [ "$(w "$BUILD/wtest/tool_agentcheck.exe" svc KanadeAgent | awk '{print $1}')" = RUNNING ] && return 0; sleep 1; done; return 1; }
check "the real agent service starts" start_svc
real_version() { K ping real-01 --timeout 2s 2>/dev/null | awk '$1 == "agent_version" { print $2 }'; }
real_is() { [ "$(real_version)" = "$1" ]; }
wait_for 60 "the real agent answers" real_is 0.1.0
check_eq "the real agent answers ping with 0.1.0" "$(real_version)" 0.1.0
echo "fleet up ($((SECONDS - T_START))s)"

# observe TARGET: every simulated agent reports TARGET (heartbeat) within the bound.
observe() {
    wine "$FLEET" observe "$URLS" "$ALL" "$1" "$(winpath "$T_DIR/obs-$1.txt")" --timeout "$2" >"$T_DIR/obs-$1.out" 2>&1 &
    OBS=$!
    wait_for 20 "observer" grep -q observing "$T_DIR/obs-$1.out"
}
# status_on VERSION: how many agents agent_status shows on VERSION (the
# "agent versions" count of `kanade agent status`, the real agent included).
# A failed call leaves its error in status.err; the count of them is
# reported at the end, not hidden.
status_on() {
    local out
    if ! out=$(K agent status 2>>"$T_DIR/status.err"); then
        echo "== kanade agent status failed ($(date +%T))" >>"$T_DIR/status.err"
    fi
    printf '%s\n' "$out" | awk -v v="$1" '$1 == v { print $2; exit }'
}
# all_status_on VERSION: every agent on VERSION; the count it saw last in
# STATUS_SEEN (checked after the wait, so a lost call is not a second query).
all_status_on() { STATUS_SEEN=$(status_on "$1"); [ "$STATUS_SEEN" = $((ALL + 1)) ]; }

# ---- 1. idle: kill the node holding most agents ------------------------------
most=1; for i in 2 3; do [ "$(sims_on "$i")" -gt "$(sims_on "$most")" ] && most=$i; done
t0=$SECONDS
node_kill "$most"
wait_for 60 "all agents back on the other nodes" all_connected
check_eq "idle kill of n$most: all $ALL agents back on the other nodes" "$(sims_total)" "$ALL"
echo "  reconnect after killing n$most: $((SECONDS - t0)) s"
node_start "$most"
wait_for 30 "n$most rejoined" has_leader "$most"
wait_for 60 "the cluster settled" settled
# Agent 21 was told about node 1 only: kill node 1 and it must find another.
t0=$SECONDS
one_url_elsewhere() { for i in 2 3; do mon "$i" 'connz?limit=1000' | grep -q "\"sim-000$ALL\"" && return 0; done; return 1; }
node_kill 1
wait_for 60 "sim-000$ALL on node 2 or 3" one_url_elsewhere
check "the agent given one URL fails over to a node learned from connect_urls" one_url_elsewhere
echo "  one-URL agent reconnected in $((SECONDS - t0)) s"
node_start 1
wait_for 30 "n1 rejoined" has_leader 1
wait_for 60 "the cluster settled" settled

# ---- 2. kill the agent_releases leader mid-download --------------------------
# Every simulated agent's download sleeps 700 ms per 128 KiB chunk (update.c's
# test hook), so the downloads are running when the leader dies.
for d in "$SIMDIR"/sim-* "$SIMDIR1"/sim-*; do mkdir -p "$d/data/test-hooks"; echo 700 >"$d/data/test-hooks/download-delay-ms"; done
leader=
for i in 1 2 3; do [ -z "$leader" ] && leader=$(stream_field "$i" OBJ_agent_releases 's["cluster"]["leader"]'); done
observe 0.2.0 180
K agent rollout 0.2.0 --global --jitter 0s >"$T_DIR/ro2.out" 2>&1 || bad "rollout 0.2.0: $(cat "$T_DIR/ro2.out")"
t0=$SECONDS
downloading() { K agent status 2>/dev/null | grep -c downloading | grep -qv '^0$'; }
wait_for 30 "downloads running" downloading
ln=${leader#n}
if [ -n "$ln" ] && [ -n "${PID[$ln]:-}" ]; then
    node_kill "$ln"
    ok "killed the agent_releases leader $leader during the downloads"
else
    bad "no leader for agent_releases ('$leader')"
fi
wait "$OBS"; orc=$?
check_eq "leader kill: every simulated agent runs 0.2.0 (observer)" "$orc" 0
echo "  converged $((SECONDS - t0)) s after the rollout (downloads slowed to about 2 s)"
wait_for 120 "the real agent on 0.2.0" real_is 0.2.0
check_eq "leader kill: the real service swapped to 0.2.0" "$(real_version)" 0.2.0
# A status put that fell into the leader election of KV_agent_status is
# written again at the agent's next heartbeat (2 s here).
wait_for 30 "agent_status: all on 0.2.0" all_status_on 0.2.0
check_eq "leader kill: agent_status shows all $((ALL + 1)) agents on 0.2.0" "$STATUS_SEEN" $((ALL + 1))
if [ -n "$ln" ] && [ -z "${PID[$ln]:-}" ]; then
    node_start "$ln"
    wait_for 30 "$leader rejoined" has_leader "$ln"
    wait_for 60 "the cluster settled" settled
fi
for d in "$SIMDIR"/sim-* "$SIMDIR1"/sim-*; do rm -f "$d/data/test-hooks/download-delay-ms"; done

# ---- 3. kill a node during a jittered --global rollout ------------------------
observe 0.3.0 180
K agent rollout 0.3.0 --global --jitter 20s >"$T_DIR/ro3.out" 2>&1 || bad "rollout 0.3.0: $(cat "$T_DIR/ro3.out")"
t0=$SECONDS
sleep 5
victim=2
node_kill "$victim"
wait "$OBS"; orc=$?
check_eq "node kill mid-rollout: every simulated agent runs 0.3.0" "$orc" 0
echo "  converged $((SECONDS - t0)) s after the rollout (jitter 20 s)"
wait_for 120 "the real agent on 0.3.0" real_is 0.3.0
check_eq "node kill mid-rollout: the real service swapped to 0.3.0" "$(real_version)" 0.3.0
wait_for 30 "agent_status: all on 0.3.0" all_status_on 0.3.0
check_eq "node kill mid-rollout: agent_status shows all $((ALL + 1)) agents on 0.3.0" "$STATUS_SEEN" $((ALL + 1))

# With n2 still down: publish and rollout work.
check "publish 0.4.0 with one node down" publish 0.4.0
observe 0.4.0 120
check "rollout 0.4.0 with one node down" K agent rollout 0.4.0 --global --jitter 0s
wait "$OBS"; orc=$?
check_eq "one node down: every simulated agent runs 0.4.0" "$orc" 0
wait_for 120 "the real agent on 0.4.0" real_is 0.4.0
check_eq "one node down: the real service swapped to 0.4.0" "$(real_version)" 0.4.0
wait_for 30 "agent_status: all on 0.4.0" all_status_on 0.4.0
check_eq "one node down: agent_status shows all $((ALL + 1)) agents on 0.4.0" "$STATUS_SEEN" $((ALL + 1))

nfail=$(grep -c '^== kanade agent status failed' "$T_DIR/status.err" 2>/dev/null)
echo "  kanade agent status calls that failed: ${nfail:-0} (measured; the errors are in status.err)"
w sc stop KanadeAgent >/dev/null 2>&1
stop_fleet
echo "done ($((SECONDS - T_START))s)"
t_summary
