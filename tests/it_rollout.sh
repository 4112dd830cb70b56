#!/usr/bin/env bash
# it_rollout.sh — safe rollouts against a real nats-server: the failure
# records in KV agent_rollouts as agents write and read them (rollout_kv.c
# through tool_rollout.exe under Wine): counting against a policy, two
# processes failing at the same moment, many writers at once, resume as a
# baseline, other versions and deleted keys left out, and malformed values
# written with the real CLI (held back under a policy, ignored without).
source "$(dirname "$0")/lib.sh"
TOOL="$BUILD/wtest/tool_rollout.exe"
CLI="$BUILD/kanade.exe"
for f in "$TOOL" "$CLI"; do [ -f "$f" ] || { echo "missing $f (make BUILD=$BUILD units)"; exit 1; }; done

wine_prefix
nats_start
t() { w "$TOOL" "$NATS_URL" "$@"; }
k() { w "$CLI" --server "$NATS_URL" "$@"; }

echo "== counting against a policy"
t fail 1.0.0 pc-a rolled_back "not healthy within 20 s" >/dev/null
out=$(t check 1.0.0 3)
check_match "one failure under halt-after 3: counted, not halted" "$out" '^failures=1 baseline=0 threshold=3 malformed=0 halted=0 hold=0'
t fail 1.0.0 pc-b failed "digest mismatch" >/dev/null
t fail 1.0.0 pc-a rolled_back "not healthy again" >/dev/null     # rewrites its own key only
out=$(t check 1.0.0 3)
check_match "a host failing twice counts once" "$out" '^failures=2 '
t fail 1.0.0 pc-c quarantined "label/binary mismatch" >/dev/null
out=$(t check 1.0.0 3)
check_match "third failure halts" "$out" '^failures=3 baseline=0 threshold=3 malformed=0 halted=1 hold=1'
check_match "reason: how many hosts and the first reasons" "$out" 'reason: rollout of 1\.0\.0 halted: 3 hosts failed \(threshold 3\): pc-b: failed: digest mismatch; pc-a: rolled_back: not healthy again; pc-c'
out=$(t check 1.0.0 -)
check_match "no policy: counted, never halts" "$out" '^failures=3 baseline=0 threshold=0 malformed=0 halted=0 hold=0'
out=$(t check 1.0.0 5%/100)
check_match "ratio 5% of 100 hosts: threshold 5" "$out" 'threshold=5 malformed=0 halted=0'
out=$(t check 1.0.1 1)
check_match "another version's records do not count" "$out" '^failures=0 '
keys=$(k jetstream kv get agent_rollouts fail.1_0_0.pc-b)
check_match "record readable by the CLI under its escaped key" "$keys" '"pc":"pc-b","version":"1.0.0","state":"failed"'

echo "== resume"
out=$(t resume 1.0.0)
check_eq "resume sets the baseline to the count" "$out" "baseline=3"
out=$(t check 1.0.0 3)
check_match "after resume: not halted" "$out" '^failures=3 baseline=3 threshold=3 malformed=0 halted=0 hold=0'
t fail 1.0.0 pc-d rolled_back "after resume" >/dev/null
out=$(t check 1.0.0 1)
check_match "a failure after resume counts again" "$out" 'failures=4 baseline=3 threshold=1 malformed=0 halted=1'

echo "== races"
at=$(( $(date +%s%3N) + 2500 ))
t fail 2.0.0 pc-x rolled_back "same moment x" "$at" >/dev/null &
p1=$!
t fail 2.0.0 pc-y rolled_back "same moment y" "$at" >/dev/null &
p2=$!
wait $p1; r1=$?; wait $p2; r2=$?
check_eq "two processes wrote at the same moment" "$r1$r2" "00"
out=$(t check 2.0.0 2)
check_match "both failures count" "$out" '^failures=2 baseline=0 threshold=2 malformed=0 halted=1'
out=$(t race 2.1.0 24)
check_eq "24 writers released together" "$out" "raced 24, 0 failed to write"
out=$(t check 2.1.0 24)
check_match "none lost" "$out" '^failures=24 .*halted=1'

echo "== deleted and malformed records"
k jetstream kv del agent_rollouts fail.2_0_0.pc-x >/dev/null
out=$(t check 2.0.0 2)
check_match "a deleted record is not counted" "$out" '^failures=1 baseline=0 threshold=2 malformed=0 halted=0 hold=0'
k jetstream kv put agent_rollouts fail.3_0_0.pc-bad 'not json' >/dev/null
k jetstream kv put agent_rollouts fail.3_0_0.pc-liar '{"pc":"pc-a","version":"3.0.0","state":"failed"}' >/dev/null
t fail 3.0.0 pc-good failed "real" >/dev/null
out=$(t check 3.0.0 3)
check_match "under a policy, malformed records hold the swap back" "$out" '^failures=1 baseline=0 threshold=3 malformed=2 halted=0 hold=1'
check_match "the reason says so" "$out" 'reason: rollout of 3\.0\.0 held back: 2 records in agent_rollouts cannot be read'
check_match "the log line names the keys" "$out" 'problems: fail\.3_0_0\.pc-bad: not a failure record.*fail\.3_0_0\.pc-liar'
out=$(t check 3.0.0 -)
check_match "without a policy they are no halt" "$out" '^failures=1 baseline=0 threshold=0 malformed=2 halted=0 hold=0'
k jetstream kv put agent_rollouts ctl.3_0_0 '{"baseline":"x"}' >/dev/null
out=$(t check 3.0.0 off)
check_match "a bad control record with the policy off: no hold" "$out" 'malformed=3 halted=0 hold=0'

echo "== operator commands: status, resume, abort"
# Scope values as 'kanade agent rollout' writes them, and status documents
# as agents publish them.
k jetstream kv put agent_config global '{"target_version":"5.0.0","halt_policy":"2","previous_version":"4.0.0"}' >/dev/null
k jetstream kv put agent_config groups.lab '{"target_version":"5.0.0","previous_version":"","heartbeat_interval":"30s"}' >/dev/null
k jetstream kv put agent_config pcs.pc-other '{"target_version":"4.0.0"}' >/dev/null
for s in "pc-a 4.0.0 rolled_back" "pc-b 4.0.0 halted" "pc-c 5.0.0 done" "pc-other 4.0.0 idle"; do
    set -- $s
    tv=5.0.0; [ "$1" = pc-other ] && tv=4.0.0
    k jetstream kv put agent_status "$1" "{\"pc_id\":\"$1\",\"agent_version\":\"$2\",\"target_version\":\"$tv\",\"update_state\":\"$3\"}" >/dev/null
done
t fail 5.0.0 pc-a rolled_back "exited at once (code 3)" >/dev/null
out=$(k agent rollout status 5.0.0)
check_match "status: not halted below the threshold" "$out" 'rollout of 5\.0\.0: not halted \(1 failed, halts at 2\)'
t fail 5.0.0 pc-d failed "digest mismatch" >/dev/null
out=$(k agent rollout status 5.0.0)
check_match "status: halted at the threshold" "$out" 'rollout of 5\.0\.0: halted \(2 failed, halts at 2\)'
check_match "status: scopes" "$out" 'scopes: (global, groups\.lab|groups\.lab, global)'
check_match "status: agents per state" "$out" 'agents: 3 \(1 run it\): .*rolled_back 1.*halted 1'
check_match "status: failed hosts with reasons" "$out" 'pc-a  rolled_back  exited at once \(code 3\)'
check_match "status: previous version" "$out" 'previous version: 4\.0\.0'
out=$(k --json agent rollout status 5.0.0)
j=$(printf '%s' "$out" | python3 -c 'import json,sys; r=json.load(sys.stdin)["rollouts"][0]; print(r["version"], r["halted"], r["failures"], r["threshold"], r["states"]["halted"], sorted(f["pc_id"] for f in r["failed"]))')
check_eq "status --json" "$j" "5.0.0 True 2 2 1 ['pc-a', 'pc-d']"
out=$(k agent rollout status)
check_match "status without a version lists every target" "$out" 'rollout of 4\.0\.0: not halted.*'
out=$(k agent rollout resume 5.0.0)
check_match "resume says what it did" "$out" 'resumed 5\.0\.0: the 2 failures so far no longer count'
out=$(k agent rollout status 5.0.0)
check_match "status after resume: not halted" "$out" 'rollout of 5\.0\.0: not halted \(2 failed, halts at 2 counted after the resume\)'
out=$(k agent rollout abort 5.0.0)
check_match "abort: global back to its previous version" "$out" 'global: 5\.0\.0 -> 4\.0\.0'
check_match "abort: a scope that had no target gets none" "$out" 'groups\.lab: 5\.0\.0 -> \(no target\)'
g=$(k jetstream kv get agent_config global)
check_match "abort: global's value" "$g" '"target_version":"4\.0\.0".*"halt_policy":null.*"previous_version":null'
g=$(k jetstream kv get agent_config groups.lab)
check_match "abort: other fields kept" "$g" '"target_version":null.*"heartbeat_interval":"30s"'
k agent rollout abort 5.0.0 >/dev/null 2>&1
check_eq "abort again: nothing targets it (exit 3)" "$?" "3"
k jetstream kv put agent_config groups.old '{"target_version":"4.5.0"}' >/dev/null
out=$(k agent rollout abort 4.5.0 2>&1)
check_match "abort without a recorded previous version: says so" "$out" 'no previous version recorded'
out=$(k agent rollout status 9..9 2>&1)
check_match "bad version: usage error" "$out" "is not a valid version"

echo "== waves in status"
now=$(date +%s%3N)
k jetstream kv put agent_config global "{\"target_version\":\"6.0.0\",\"halt_policy\":\"1\",\"waves\":\"canary,office,global\",\"wave_gap\":\"1h\",\"wave_start\":\"$((now - 60000))\",\"previous_version\":\"4.0.0\"}" >/dev/null
k agent groups pc-c --set canary >/dev/null
k agent groups pc-a --set office >/dev/null
k jetstream kv put agent_status pc-c '{"pc_id":"pc-c","agent_version":"6.0.0","target_version":"6.0.0","update_state":"done"}' >/dev/null
k jetstream kv put agent_status pc-a '{"pc_id":"pc-a","agent_version":"4.0.0","target_version":"6.0.0","update_state":"scheduled"}' >/dev/null
out=$(k agent rollout status 6.0.0)
check_match "wave 1 due, its host done" "$out" 'wave 1 canary +starts [0-9T:Z-]+  due  1/1 done'
check_match "wave 2 waiting" "$out" 'wave 2 office +starts [0-9T:Z-]+  waiting  0/1 done'
check_match "wave 3 global" "$out" 'wave 3 global'
t fail 6.0.0 pc-c rolled_back "canary broke" >/dev/null
out=$(k agent rollout status 6.0.0)
check_match "a halt stops every wave" "$out" 'wave 2 office +starts [0-9T:Z-]+  stopped'

echo "== simulated agents record their own failures"
# The agent's own code (tests/tool_fleet.c runs agent_run.c and update.c per
# thread; only the SCM swap is simulated): 10 agents, 3 of which fail every
# swap. Each failing agent writes its own record; the count matches.
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/tests/agent_versions.sh"
FLEET="$BUILD/wtest/tool_fleet.exe"
winpath() { winepath -w "$1" 2>/dev/null; }
agent_version 7.0.0 "$T_DIR/agent-7.0.0.exe" >/dev/null 2>&1 || bad "link agent 7.0.0"
k agent publish "$(winpath "$T_DIR/agent-7.0.0.exe")" >/dev/null
k jetstream kv put agent_config global '{"heartbeat_interval":"2s"}' >/dev/null
SIMDIR="$T_DIR/sim"; mkdir -p "$SIMDIR"
wine "$FLEET" run "$NATS_URL" 10 "$(winpath "$SIMDIR")" --version 6.9.0 --fail-swap 0.3 --spread 500 >"$T_DIR/fleet.out" 2>&1 &
T_PIDS+=($!)
trap 'touch "$SIMDIR/stop"; sleep 2; t_cleanup' EXIT
for i in $(seq 1 60); do grep -q "started 10" "$T_DIR/fleet.out" && break; sleep 0.5; done
sleep 3
# --halt-after 0: every failing agent must get to fail here (the halt
# itself is it_waves.sh's).
k agent rollout 7.0.0 --global --jitter 0s --halt-after 0 >/dev/null
settled() {
    k --json agents | python3 -c 'import json,sys
a=json.load(sys.stdin)
a=a if isinstance(a,list) else a.get("agents",[])
n=sum(1 for x in a if x.get("target_version")=="7.0.0" and x.get("update_state") in ("done","rolled_back","quarantined"))
sys.exit(0 if n>=10 else 1)'
}
for i in $(seq 1 60); do settled && break; sleep 1; done
check "all 10 simulated agents reached an outcome" settled
out=$(t check 7.0.0 -)
check_match "3 failing agents, 3 records" "$out" '^failures=3 baseline=0 threshold=0 malformed=0'
out=$(k agent rollout status 7.0.0)
check_match "status names the failed hosts" "$out" 'failed hosts:'
nf=$(printf '%s\n' "$out" | grep -cE '^    sim-[0-9]+  (rolled_back|quarantined)  ')
check_eq "status lists each of them" "$nf" "3"
touch "$SIMDIR/stop"

t_summary
