#!/usr/bin/env bash
# it_waves.sh — safe rollouts run by the agents themselves, against a real
# nats-server and the real kanade.exe:
#   1. what 'kanade agent rollout' writes: the halt policy (defaults,
#      --halt-after, --halt-ratio over the hosts counted), the wave plan,
#      the previous version, and the usage errors;
#   2. 100 simulated agents (tests/tool_fleet.c runs the agent's own
#      agent_run.c and update.c per thread; only the SCM swap is simulated),
#      10 % failing their swap under --halt-ratio 5 %: the rollout halts
#      itself, the rest stay on their version in state halted; resume lets
#      them go on; abort takes every scope back to the previous version;
#   3. waves canary (2 hosts) -> office -> global: a failing canary stops
#      every later wave (none downloads), a good one advances wave by wave
#      on schedule;
#   4. one real KanadeAgent service under Wine's SCM, halted after its
#      download and before its swap (the exe bytes on disk unchanged), then
#      released by resume: it swaps without downloading again.
source "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CLI="$BUILD/kanade.exe"
FLEET="$BUILD/wtest/tool_fleet.exe"
TOOL="$BUILD/wtest/tool_rollout.exe"
for f in "$CLI" "$FLEET" "$TOOL" "$BUILD/test/kanade-agent.exe"; do
    [ -f "$f" ] || { echo "missing $f (make BUILD=$BUILD units)"; exit 1; }
done
source "$ROOT/tests/agent_versions.sh"
VERS="$T_DIR/versions"; mkdir -p "$VERS"
for v in 7.9.0 8.0.0 9.0.0 9.1.0 0.1.1; do
    agent_version "$v" "$VERS/agent-$v.exe" >/dev/null 2>&1 || { bad "link agent $v"; t_summary; exit 1; }
done

wine_prefix
nats_start
k() { w "$CLI" --server "$NATS_URL" "$@"; }
t() { w "$TOOL" "$NATS_URL" "$@"; }
winpath() { winepath -w "$1" 2>/dev/null; }
k broker init >/dev/null 2>&1 || bad "broker init"   # agents bind buckets, never create them
for v in 7.9.0 8.0.0 9.0.0 9.1.0 0.1.1; do
    k agent publish "$(winpath "$VERS/agent-$v.exe")" >/dev/null || bad "publish $v"
done
# fleet_count VERSION EXPR: agents (agent_status) targeting or running
# VERSION for which the python expression on x (one status) is true.
fleet_count() {
    k --json agents | python3 -c 'import json,sys
a=json.load(sys.stdin); a=a if isinstance(a,list) else a.get("agents",[])
v=sys.argv[1]
print(sum(1 for x in a if (x.get("target_version")==v or x.get("agent_version")==v) and eval(sys.argv[2])))' "$1" "$2"
}
states() {   # VERSION REGEX: "state=count ..." of the agents whose pc_id matches REGEX
    k --json agents | python3 -c 'import json,sys,collections,re
a=json.load(sys.stdin); a=a if isinstance(a,list) else a.get("agents",[])
c=collections.Counter(x.get("update_state") for x in a if re.fullmatch(sys.argv[2], x.get("pc_id","")) and (x.get("target_version")==sys.argv[1] or x.get("agent_version")==sys.argv[1]))
print(" ".join("%s=%d" % kv for kv in sorted(c.items())))' "$1" "$2"
}
gv() { k jetstream kv get agent_config "$1" 2>/dev/null; }
field() { python3 -c 'import json,sys; d=json.load(sys.stdin); v=d.get(sys.argv[1]); print("null" if v is None else v)' "$1"; }

echo "== what 'agent rollout' writes"
out=$(k agent rollout 7.9.0 --pcs pc-a 2>&1)
check_nomatch "--pcs: no halt policy by default" "$out" 'halt policy'
check_eq "--pcs: scope value" "$(gv pcs.pc-a | field halt_policy)/$(gv pcs.pc-a | field previous_version)" "null/"
out=$(k agent rollout 7.9.0 --groups lab 2>&1)
check_match "--groups: halts after 3 by default" "$out" 'halt policy: halts after 3 failed hosts'
check_eq "--groups: halt_policy 3 stored" "$(gv groups.lab | field halt_policy)" "3"
out=$(k agent rollout 8.0.0 --groups lab --halt-after 0 2>&1)
check_match "--halt-after 0: the CLI says the halt is disabled" "$out" 'halt disabled'
check_eq "--halt-after 0: off, previous version recorded" \
    "$(gv groups.lab | field halt_policy) $(gv groups.lab | field previous_version)" "off 7.9.0"
k agent rollout 8.0.0 --groups lab --halt-after 2 >/dev/null 2>&1
check_eq "rerun: previous version kept" "$(gv groups.lab | field previous_version)" "7.9.0"
out=$(k agent rollout 8.0.0 --groups lab --halt-after 2 2>&1)
check_match "same rollout again: unchanged" "$out" 'unchanged'
out=$(k agent rollout 8.0.0 --pcs pc-a,pc-b,pc-c,pc-d --halt-ratio 50% 2>&1)
check_match "--halt-ratio over the 4 pcs targeted" "$out" 'halts after 50\.00% of 4 hosts failed \(2 hosts\)'
check_eq "--halt-ratio stored with the host count" "$(gv pcs.pc-b | field halt_policy)" "50%/4"
out=$(k agent rollout 8.0.0 --waves canary,office,global --wave-gap 30m 2>&1)
check_match "--waves: wave 2 starts 30 min after wave 1" "$out" 'wave 2: office from '
w1=$(gv global | field wave_start)
check_eq "--waves: plan in the global scope" "$(gv global | field waves) $(gv global | field wave_gap)" "canary,office,global 30m"
sleep 1
k agent rollout 8.0.0 --waves canary,office,global --wave-gap 30m >/dev/null 2>&1
check_eq "--waves rerun keeps the plan's start" "$(gv global | field wave_start)" "$w1"
for bad_args in "--pcs x --halt-after 2 --halt-ratio 5%" "--global --halt-after -1" "--global --halt-ratio 5" \
                "--waves office,global,canary" "--global --wave-gap 1h" "--waves canary --wave-gap soon" \
                "--pcs x --waves canary"; do
    # shellcheck disable=SC2086
    out=$(k agent rollout 8.0.0 $bad_args 2>&1); rc=$?
    check_eq "usage error (exit 2): $bad_args" "$rc" "2"
done
out=$(k agent rollout 8.0.0 --waves office,global,canary 2>&1)
check_match "bad plan: one clear line" "$out" "--waves 'office,global,canary' is not a comma list of groups"
for key in global groups.lab pcs.pc-a pcs.pc-b pcs.pc-c pcs.pc-d; do k jetstream kv del agent_config "$key" >/dev/null 2>&1; done

echo "== 100 simulated agents, 10 failing, --halt-ratio 5%"
k jetstream kv put agent_config global '{"heartbeat_interval":"2s","target_version":"7.9.0"}' >/dev/null
SIM1="$T_DIR/sim1"; mkdir -p "$SIM1"
wine "$FLEET" run "$NATS_URL" 100 "$(winpath "$SIM1")" --version 7.9.0 --fail-swap 0.1 --fail-to 8.0.0 \
    --spread 3000 >"$T_DIR/fleet1.out" 2>&1 &
T_PIDS+=($!)
trap 'touch "$SIM1/stop" "$T_DIR/sim2/stop" 2>/dev/null; sleep 2; t_cleanup' EXIT
wait_for 90 "100 agents started" grep -q "started 100" "$T_DIR/fleet1.out"
check_match "fleet: 100 agents, 10 fail their swap to 8.0.0" "$(cat "$T_DIR/fleet1.out")" 'started 100 agents \(10 fail'
all_idle() { [ "$(fleet_count 7.9.0 'x.get("update_state") in ("idle","done")')" -ge 100 ]; }
wait_for 90 "100 agents report 7.9.0" all_idle
w "$FLEET" observe "$NATS_URL" 100 8.0.0 "$(winpath "$T_DIR/observe1.txt")" --timeout 60 >/dev/null 2>&1 &
OBS=$!
T_PIDS+=($OBS)
sleep 1
out=$(k agent rollout 8.0.0 --global --jitter 20s --halt-ratio 5% 2>&1)
check_match "rollout: 5% of the 100 hosts counted" "$out" 'halts after 5\.00% of 100 hosts failed \(5 hosts\)'
T0=$(date +%s%3N)
settled1() { [ "$(fleet_count 8.0.0 'x.get("update_state") in ("done","rolled_back","quarantined","halted")')" -ge 100 ]; }
wait_for 120 "every agent done, rolled back or halted" settled1
check "all 100 agents reached an outcome" settled1
sleep 3
st=$(states 8.0.0 'sim-.*')
echo "  states after the halt: $st"
F=$(t check 8.0.0 5%/100 | sed -nE 's/^failures=([0-9]+) .*/\1/p')
H=$(fleet_count 8.0.0 'x.get("update_state")=="halted"')
D=$(fleet_count 8.0.0 'x.get("agent_version")=="8.0.0"')
echo "  failed $F, halted $H, running 8.0.0 $D (threshold 5)"
check "the threshold was reached: at least 5 failures" test "${F:-0}" -ge 5
check "the halt stopped failing hosts: fewer than the 10 failing agents failed" test "${F:-99}" -lt 10
check "later hosts were halted (at least 10)" test "${H:-0}" -ge 10
check_eq "halted hosts kept their version" "$(fleet_count 8.0.0 'x.get("update_state")=="halted" and x.get("agent_version")!="7.9.0"')" "0"
check_eq "every agent is accounted for" "$((F + H + D))" "100"
out=$(k agent rollout status 8.0.0)
check_match "rollout status: halted" "$out" "rollout of 8\.0\.0: halted \($F failed, halts at 5\)"
check_match "rollout status: halted agents counted" "$out" "halted $H"
check_match "rollout status: the reason names the failures" "$out" "halted: $F hosts failed \(threshold 5\): sim-[0-9]+: rolled_back"
out=$(k agent status)
check_match "agent status lists the halted agents" "$out" "halted by a rollout \(not swapped; see 'kanade agent rollout status'\): $H"
check_match "agent status: a halted agent with its reason" "$out" "sim-[0-9]+  7\.9\.0 -> 8\.0\.0: rollout of 8\.0\.0 halted"
wait "$OBS" 2>/dev/null
# How many swapped (successfully or not) after the threshold was reached:
# the moment of the 5th failure record against each agent's first
# heartbeat on 8.0.0 and the other failure records.
after=$(k --json agent rollout status 8.0.0 | python3 -c 'import json,sys
r=json.load(sys.stdin)["rollouts"][0]; f=sorted(x["at_ms"] for x in r["failed"]); t5=f[4]
done=[int(l.split()[2]) for l in open(sys.argv[1]) if l.split()[0] >= "sim-00001" and int(l.split()[2]) > 0]
print(sum(1 for d in done if d > t5), sum(1 for x in f if x > t5))' "$T_DIR/observe1.txt" 2>/dev/null)
echo "  after the threshold was reached: ${after% *} swapped to 8.0.0, ${after#* } more failed (measured)"

echo "== resume, then abort"
out=$(k agent rollout resume 8.0.0)
check_match "resume says what it did" "$out" "resumed 8\.0\.0: the $F failures so far no longer count"
more() { [ "$(fleet_count 8.0.0 'x.get("agent_version")=="8.0.0"')" -gt "$D" ]; }
wait_for 60 "halted agents go on after the resume" more
check "after resume: more agents run 8.0.0 than before" more
fewer() { [ "$(fleet_count 8.0.0 'x.get("update_state")=="halted"')" -lt "$H" ]; }
check "after resume: fewer agents halted" fewer
out=$(k agent rollout status 8.0.0)
check_match "status after resume counts from the baseline" "$out" "halts at 5 counted after the resume"
out=$(k agent rollout abort 8.0.0)
check_match "abort: global back to 7.9.0" "$out" 'global: 8\.0\.0 -> 7\.9\.0'
back() { [ "$(fleet_count 7.9.0 'x.get("agent_version")=="7.9.0" and x.get("update_state") in ("idle","done")')" -ge 100 ]; }
# Agents on 8.0.0 download 7.9.0 again (the simulator has no .old); under
# load a download can fail and retry after 15 s, then 45 s.
wait_for 180 "all 100 back on 7.9.0" back || echo "  states: $(states 7.9.0 'sim-.*')"
check "abort: all 100 agents run 7.9.0 again, none halted" back
touch "$SIM1/stop"
wait_for 30 "fleet 1 stopped" grep -q "^stopped" "$T_DIR/fleet1.out"

echo "== waves: a failing canary stops every later wave"
# sim-00101, -102: canary; -103..-112: office; -113..-130: only global.
w "$FLEET" groups "$NATS_URL" 2 canary --first 101 >/dev/null
w "$FLEET" groups "$NATS_URL" 10 office --first 103 >/dev/null
k jetstream kv put agent_config global '{"heartbeat_interval":"2s","target_version":"7.9.0"}' >/dev/null
SIM2="$T_DIR/sim2"; mkdir -p "$SIM2"
wine "$FLEET" run "$NATS_URL" 30 "$(winpath "$SIM2")" --first 101 --version 7.9.0 --fail-ids 101,102 \
    --fail-to 9.0.0 --spread 1000 >"$T_DIR/fleet2.out" 2>&1 &
T_PIDS+=($!)
wait_for 60 "30 agents started" grep -q "started 30" "$T_DIR/fleet2.out"
ready2() { [ "$(fleet_count 7.9.0 'x.get("pc_id")>="sim-00101" and x.get("update_state") in ("idle","done")')" -ge 30 ]; }
wait_for 60 "30 agents report 7.9.0" ready2
mark=$(cat "$SIM2"/logs/*.log 2>/dev/null | wc -l)
k agent rollout 9.0.0 --waves canary,office,global --wave-gap 15s --halt-after 2 --jitter 2s >/dev/null 2>&1 \
    || bad "rollout 9.0.0 --waves"
WS=$(gv global | field wave_start)
CAN='sim-0010[12]' OFF='sim-00(10[3-9]|11[0-2])' GLO='sim-00(11[3-9]|12[0-9]|130)'
until_ms() { local d=$(( $1 - $(date +%s%3N) )); [ "$d" -gt 0 ] && sleep "$(printf '%d.%03d' $((d / 1000)) $((d % 1000)))"; }
until_ms $((WS + 10000))    # wave 1 is due, wave 2 not yet
check_eq "wave 1: both canaries failed and rolled back" "$(states 9.0.0 "$CAN")" "rolled_back=2"
check_eq "wave 2 not due: office hosts wait" "$(states 9.0.0 "$OFF")" "scheduled=10"
until_ms $((WS + 24000))    # wave 2 is due, wave 3 not yet
check_eq "wave 2: every office host halted" "$(states 9.0.0 "$OFF")" "halted=10"
check_eq "wave 3 not due: global hosts still wait" "$(states 9.0.0 "$GLO")" "scheduled=18"
until_ms $((WS + 30000))
glo_halted() { [ "$(states 9.0.0 "$GLO")" = "halted=18" ]; }
wait_for 30 "wave 3 halted" glo_halted
check_eq "wave 3: every global host halted" "$(states 9.0.0 "$GLO")" "halted=18"
check_eq "nobody outside the canaries swapped" "$(fleet_count 9.0.0 'x.get("agent_version")=="9.0.0"')" "0"
dl=$(tail -n +$((mark + 1)) -q "$SIM2"/logs/*.log 2>/dev/null | tr -d '\r' | grep -c "downloaded 9\.0\.0")
check_eq "only the 2 canaries downloaded 9.0.0" "$dl" "2"
out=$(k agent rollout status 9.0.0)
check_match "rollout status: wave 3 stopped" "$out" 'wave 3 global +starts [0-9T:Z-]+  stopped  0/18 done'
k agent rollout abort 9.0.0 >/dev/null || bad "abort 9.0.0"
unhalted() { [ -z "$(states 9.0.0 'sim-001.*' | grep -o halted)" ]; }
wait_for 30 "no agent halted after the abort" unhalted
check "abort: no agent left halted" unhalted

echo "== waves: a good canary, wave by wave on schedule"
w "$FLEET" observe "$NATS_URL" 130 9.1.0 "$(winpath "$T_DIR/observe2.txt")" --timeout 75 >/dev/null 2>&1 &
OBS=$!
T_PIDS+=($OBS)
sleep 1
k agent rollout 9.1.0 --waves canary,office,global --wave-gap 15s --halt-after 2 --jitter 2s >/dev/null 2>&1 \
    || bad "rollout 9.1.0 --waves"
WS=$(gv global | field wave_start)
good() { [ "$(fleet_count 9.1.0 'x.get("pc_id")>="sim-00101" and x.get("agent_version")=="9.1.0"')" -ge 30 ]; }
wait_for 90 "all 30 run 9.1.0" good
check "all 30 agents run 9.1.0" good
wait "$OBS" 2>/dev/null
order=$(python3 -c 'import sys
ws, gap = int(sys.argv[2]), 15000
bad = []
for l in open(sys.argv[1]):
    pc, _, done = l.split()[:3]
    i = int(pc[4:])
    if i < 101: continue
    k = 0 if i <= 102 else 1 if i <= 112 else 2
    d = int(done)
    if d == 0 or d < ws + k * gap - 1000 or d >= ws + (k + 1) * gap: bad.append("%s wave %d at %+d ms" % (pc, k + 1, d - ws))
print(" ".join(bad) if bad else "in order")' "$T_DIR/observe2.txt" "$WS")
check_eq "each host swapped once its wave was due and before the next one" "$order" "in order"
touch "$SIM2/stop"
wait_for 30 "fleet 2 stopped" grep -q "^stopped" "$T_DIR/fleet2.out"

echo "== a real agent service: halted after its download, before its swap"
# The prefix restarted once so that the service lives between wine calls
# (see it_update.sh).
wineserver -k; wineserver -p
w sc query KanadeAgent >/dev/null 2>&1
PF="$WINEPREFIX/drive_c/Program Files/Kanade"; EXE="$PF/kanade-agent.exe"
PD="$WINEPREFIX/drive_c/ProgramData/Kanade"; HOOKS="$PD/data/test-hooks"
mkdir -p "$PF"
cp "$BUILD/test/kanade-agent.exe" "$EXE"
SHA0=$(sha256sum "$EXE" | cut -d' ' -f1)
SHA1=$(sha256sum "$VERS/agent-0.1.1.exe" | cut -d' ' -f1)
sha() { if [ -f "$1" ]; then sha256sum "$1" | cut -d' ' -f1; else echo missing; fi; }
logs() { cat "$PD"/logs/agent.*.log 2>/dev/null | tr -d '\r'; }
svc_state() { w sc query KanadeAgent 2>/dev/null | awk '/STATE/ { print $4 }'; }
svc_field() { k jetstream kv get agent_status host-01 2>/dev/null | field "$1"; }
k jetstream kv del agent_config global >/dev/null 2>&1
k jetstream kv put agent_config pcs.host-01 '{"heartbeat_interval":"2s"}' >/dev/null
w "$EXE" install --config 'C:\ProgramData\Kanade\config\agent.conf' --nats-url "$NATS_URL" --id host-01 \
    >"$T_DIR/install.out" 2>&1 || bad "install: $(cat "$T_DIR/install.out")"
started=0
for i in $(seq 1 30); do
    w sc start KanadeAgent >/dev/null 2>&1
    [ "$(svc_state)" = RUNNING ] && { started=1; break; }
    sleep 1
done
check_eq "service running" "$started" 1
svc_is() { [ "$(svc_field "$1")" = "$2" ]; }
wait_for 60 "host-01 reports 0.1.0" svc_is agent_version 0.1.0
# A slow download, and a failure elsewhere recorded while it runs: the check
# just before the swap sees it.
mkdir -p "$HOOKS"; echo 2000 >"$HOOKS/download-delay-ms"
k agent rollout 0.1.1 --pcs host-01 --halt-after 1 >/dev/null 2>&1 || bad "rollout 0.1.1"
wait_for 60 "host-01 downloading" svc_is update_state downloading
t fail 0.1.1 pc-elsewhere rolled_back "exited at once (code 3)" >/dev/null
# On a time-out, what the agent and the SCM said, so a failure can be read.
explain() { echo "  service state: $(svc_state)"; echo "  agent log, last lines:"; logs | tail -n 12 | sed 's/^/    /'; }
wait_for 90 "host-01 halted" svc_is update_state halted || explain
check_eq "real agent: state halted" "$(svc_field update_state)" halted
check_match "real agent: the reason names the failed host" "$(svc_field update_error)" 'rollout of 0\.1\.1 halted: 1 hosts? failed \(threshold 1\): pc-elsewhere: rolled_back'
check_eq "real agent: the exe on disk is still the 0.1.0 build" "$(sha "$EXE")" "$SHA0"
check_eq "real agent: the verified download is kept" "$(sha "$EXE.new")" "$SHA1"
check_match "real agent: log says it was halted after verifying" "$(logs)" 'verifying -> halted \(target 0\.1\.1\)'
check_nomatch "real agent: never handed over" "$(logs)" 'handed over to the swap helper: 0\.1\.0 -> 0\.1\.1'
rm -f "$HOOKS/download-delay-ms"
sleep 5
check_eq "real agent: still halted a while later" "$(svc_field update_state)" halted
k agent rollout resume 0.1.1 >/dev/null || bad "resume 0.1.1"
wait_for 120 "host-01 runs 0.1.1" svc_is agent_version 0.1.1 || explain
check_eq "after resume: the exe on disk is the 0.1.1 build" "$(sha "$EXE")" "$SHA1"
check_eq "after resume: downloaded once" "$(logs | grep -c 'update: downloaded 0\.1\.1')" 1
w sc stop KanadeAgent >/dev/null 2>&1

t_summary
