#!/usr/bin/env bash
# it_runbook.sh — the operator runbook on a least-privilege broker: nats-server
# runs the configuration of `kanade broker config`, the operator works with
# operator.env, and the real agent service (Wine's SCM) with its own .auth
# file from `kanade-agent install --auth-file`. In order: broker init,
# install, ping, publish, rollout, the swap, agent status and agents, a
# broker restart, a rollback to the previous build. Throughout, the agent
# logs no permission error and the server holds no JetStream consumer
# (counted on the monitoring port, /jsz).
source "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
for f in test/kanade-agent.exe kanade.exe; do
    if [ ! -f "$BUILD/$f" ]; then bad "missing $BUILD/$f (run: make units BUILD=$BUILD)"; t_summary; exit 1; fi
done
VERS="$T_DIR/versions"
mkdir -p "$VERS"
source "$ROOT/tests/agent_versions.sh"
cp "$BUILD/test/kanade-agent.exe" "$VERS/agent-0.1.0.exe"
agent_version 0.1.1 "$VERS/agent-0.1.1.exe" || { bad "link agent 0.1.1"; t_summary; exit 1; }

wine_prefix
wineserver -k
wineserver -p
WINEDEBUG=err+all wine sc query KanadeAgent >"$T_DIR/services.err" 2>&1
wp() { winepath -w "$1" 2>/dev/null; }
D="$T_DIR/broker"
PC=canary-01

echo "# the broker: generated configuration, buckets"
w "$BUILD/kanade.exe" broker config --pcs "$PC,canary-02" --out "$(wp "$D")" >/dev/null
check "broker config wrote the files" test -s "$D/nats-server.conf" -a -s "$D/agents/$PC.auth"
MON=$(free_port)
nats_start -c "$D/nats-server.conf" -m "$MON"
source "$D/operator.env"
K() { w "$BUILD/kanade.exe" --server "$NATS_URL" --user "$KANADE_NATS_USER" --password "$KANADE_NATS_PASSWORD" "$@"; }
consumers() { curl -s "http://127.0.0.1:$MON/jsz?consumers=true" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("consumers", -1))' 2>/dev/null; }
out=$(K broker init 2>&1); rc=$?
check_eq "kanade broker init with the operator's credentials" "$rc" 0
check_match "it created the five buckets" "$out" "broker ready: 5 buckets created, 0 already there"

echo "# install the agent with its .auth file"
PF="$WINEPREFIX/drive_c/Program Files/Kanade"
EXE="$PF/kanade-agent.exe"
LOGS="$WINEPREFIX/drive_c/ProgramData/Kanade/logs"
mkdir -p "$PF"
cp "$VERS/agent-0.1.0.exe" "$EXE"
cp "$D/agents/$PC.auth" "$T_DIR/$PC.auth"
out=$(w "$EXE" install --config 'C:\ProgramData\Kanade\config\agent.conf' --nats-url "$NATS_URL" \
      --auth-file "$(wp "$T_DIR/$PC.auth")" 2>&1); rc=$?
check_eq "kanade-agent install --auth-file" "$rc" 0
logs() { cat "$LOGS"/agent.*.log 2>/dev/null | tr -d '\r'; }
ping_version() { K ping "$PC" --timeout 2s 2>/dev/null | awk '$1 == "agent_version" { print $2 }'; }
wait_for() {   # SECONDS COMMAND...
    local limit=$1 t0=$SECONDS; shift
    while [ $((SECONDS - t0)) -lt "$limit" ]; do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done
    return 1
}
version_is() { [ "$(ping_version)" = "$1" ]; }
log_has() { logs | grep -Eq -- "$1"; }
for _ in $(seq 1 30); do
    w sc start KanadeAgent >/dev/null 2>&1
    w sc query KanadeAgent 2>/dev/null | grep -q RUNNING && break
    sleep 1
done
check "the service answers kanade ping (0.1.0)" wait_for 60 version_is 0.1.0
check "it read its config with its own credential" wait_for 30 log_has "buckets ready"
K jetstream kv put agent_config global '{"heartbeat_interval":"3s"}' >/dev/null
check "the global config reaches it" wait_for 10 log_has "heartbeat_interval: 3000 ms"
check_eq "no JetStream consumer while idle" "$(consumers)" 0

echo "# publish, rollout, the swap"
out=$(K agent publish "$(wp "$VERS/agent-0.1.1.exe")" 2>&1); rc=$?
check_eq "kanade agent publish 0.1.1" "$rc" 0
t0=$(date +%s%3N)
out=$(K agent rollout 0.1.1 --pcs "$PC" 2>&1); rc=$?
check_eq "kanade agent rollout 0.1.1 --pcs $PC" "$rc" 0
check "the agent swapped: ping shows 0.1.1" wait_for 120 version_is 0.1.1
echo "    rollout to ping 0.1.1: $(( $(date +%s%3N) - t0 )) ms"
check_match "it downloaded the release with direct gets" "$(logs)" "update: downloaded 0.1.1 \([0-9]+ bytes, [0-9]+ chunks"
check_eq "no JetStream consumer after the swap" "$(consumers)" 0
out=$(K agent status 2>&1); rc=$?
check_eq "kanade agent status" "$rc" 0
check_match "it shows $PC on 0.1.1" "$out" "0\.1\.1"
out=$(K agents 2>&1)
check_match "kanade agents lists $PC on 0.1.1, done" "$out" "$PC +0\.1\.1 +0\.1\.1 +done"

echo "# broker restart: the agent comes back, still without consumers"
nats_restart -c "$D/nats-server.conf" -m "$MON"
K jetstream kv put agent_config global '{"heartbeat_interval":"4s"}' >/dev/null
check "a change made while it reconnects reaches it" wait_for 60 log_has "heartbeat_interval: 4000 ms"
check "it answers ping after the restart" wait_for 60 version_is 0.1.1
check_eq "no JetStream consumer after the reconnect" "$(consumers)" 0

echo "# roll back"
out=$(K agent publish "$(wp "$VERS/agent-0.1.0.exe")" 2>&1); rc=$?
check_eq "kanade agent publish 0.1.0 (the build to go back to)" "$rc" 0
out=$(K agent rollout 0.1.0 --pcs "$PC" 2>&1); rc=$?
check_eq "kanade agent rollout 0.1.0 (back)" "$rc" 0
check "the agent is back on 0.1.0" wait_for 120 version_is 0.1.0
check_match "from its .old build, no download" "$(logs)" "using .*kanade-agent.exe.old \(version 0.1.0, the previous build\)"

check_nomatch "the agent logged no permission error" "$(logs)" "refused|ermissions"
check_nomatch "and no failed read" "$(logs)" "reading bucket|does not answer"
w sc stop KanadeAgent >/dev/null 2>&1
t_summary
