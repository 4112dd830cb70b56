#!/usr/bin/env bash
# it_halt_real.sh — the automatic halt with real agents: three KanadeAgent
# services, each installed in its own Wine prefix with its own persistent
# wineserver and SCM, one real nats-server and the real kanade.exe.
#
#   1. all three run the base build (the test build, 0.1.0); a build that
#      exits at once (tests/fixtures/bad_exit.c, VERSIONINFO 0.2.0) is
#      rolled out --global --halt-after 1 --jitter 40s: the first host to
#      swap rolls back and records its failure in agent_rollouts; the other
#      two end halted without swapping. Checked on the exe bytes on disk in
#      each prefix, in agent_status, in 'rollout status --json' and in the
#      logs (no hand-over to the swap helper);
#   2. resume, then a good build (0.3.0) rolled out --global: all three
#      converge (exe bytes, ping, agent_status).
#
# The jitter moments are random, and two of them can fall closer together
# than the first host's swap, rollback and failure record take: the second
# host would then swap too (an in-flight swap, which the halt does not
# stop by design; it_waves counts those with 100 simulated agents). This
# suite is about the halt itself, so once the moments are drawn (read from
# each agent's update-state.json) every later host whose moment falls less
# than GAP after the first host's gets the download-delay-ms test hook, so
# that its check just before the swap comes at least GAP after the first
# host's moment. Hosts drawn later than that run as drawn.
source "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
T_START=$SECONDS
CLI="$BUILD/kanade.exe"
for f in "$CLI" "$BUILD/test/kanade-agent.exe" "$BUILD/wtest/tool_agentcheck.exe"; do
    [ -f "$f" ] || { bad "missing $f (run: make units BUILD=$BUILD)"; t_summary; exit 1; }
done
BASE=0.1.0 BADV=0.2.0 GOOD=0.3.0
GAP=30000                  # ms: more than a swap, rollback and record take under load
HOSTS=(1 2 3)

# ---- three prefixes, booted in parallel ----------------------------------
# Each prefix has its own wineserver (and so its own SCM); every wine call
# names its prefix. lib.sh's t_cleanup knows one WINEPREFIX, so this suite
# ends its three wineservers itself and removes the prefixes on success.
export WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
unset WINEPREFIX
declare -a WP
for i in "${HOSTS[@]}"; do WP[i]="$T_DIR/wp$i"; done
halt_cleanup() {
    local i
    for i in "${HOSTS[@]}"; do
        [ -d "${WP[$i]}" ] && WINEPREFIX="${WP[$i]}" wineserver -k 2>/dev/null
    done
    t_cleanup
    if [ "$T_FAIL" -eq 0 ]; then for i in "${HOSTS[@]}"; do rm -rf "${WP[$i]}"; done; fi
}
trap halt_cleanup EXIT
# boot_prefix I: a fresh prefix with a persistent wineserver, restarted once
# after wineboot (a freshly booted prefix can run two services.exe and end
# its services when no ordinary process is left), and services.exe brought
# up by a first process.
boot_prefix() {
    export WINEPREFIX="${WP[$1]}"
    rm -rf "$WINEPREFIX"
    wineboot -i >/dev/null 2>&1
    wineserver -k 2>/dev/null
    wineserver -p 2>/dev/null
    WINEDEBUG=err+all wine sc query KanadeAgent >"$T_DIR/services$1.err" 2>&1 </dev/null
}
BOOTS=()
for i in "${HOSTS[@]}"; do boot_prefix "$i" & BOOTS+=($!); done

# ---- builds (while the prefixes boot) ------------------------------------
VERS="$T_DIR/versions"; mkdir -p "$VERS"
source "$ROOT/tests/agent_versions.sh"
cp "$BUILD/test/kanade-agent.exe" "$VERS/agent-$BASE.exe"
agent_version "$GOOD" "$VERS/agent-$GOOD.exe" >/dev/null 2>&1 || bad "link agent $GOOD"
agent_fixture bad_exit "$BADV" "$VERS/bad_exit-$BADV.exe" >/dev/null 2>&1 || bad "build the bad_exit fixture $BADV"
declare -A SHA
SHA[$BASE]=$(sha256sum "$VERS/agent-$BASE.exe" | cut -d' ' -f1)
SHA[$GOOD]=$(sha256sum "$VERS/agent-$GOOD.exe" | cut -d' ' -f1)
nats_start
wait "${BOOTS[@]}"
for i in "${HOSTS[@]}"; do
    [ -f "${WP[$i]}/system.reg" ] || { bad "prefix $i did not boot"; t_summary; exit 1; }
done
echo "3 prefixes booted, builds ready ($((SECONDS - T_START))s)"

# ---- helpers ------------------------------------------------------------
# on I CMD...: runs a Windows exe in prefix I.
on() { local i=$1; shift; WINEPREFIX="${WP[$i]}" w "$@"; }
k() { on 1 "$CLI" --server "$NATS_URL" "$@"; }
winpath() { WINEPREFIX="${WP[1]}" winepath -w "$1" 2>/dev/null; }
pf()   { echo "${WP[$1]}/drive_c/Program Files/Kanade"; }
exe()  { echo "$(pf "$1")/kanade-agent.exe"; }
pd()   { echo "${WP[$1]}/drive_c/ProgramData/Kanade"; }
sha()  { if [ -f "$1" ]; then sha256sum "$1" | cut -d' ' -f1; else echo missing; fi; }
logs() { cat "$(pd "$1")"/logs/agent.*.log 2>/dev/null | tr -d '\r'; }
svc_state() { on "$1" sc query KanadeAgent 2>/dev/null | awk '/STATE/ { print $4 }'; }
status_field() { k jetstream kv get agent_status "host-0$1" 2>/dev/null | jfield "$2"; }
ping_version() { k ping "host-0$1" --timeout 2s 2>/dev/null | awk '$1 == "agent_version" { print $2 }'; }
state_is()   { [ "$(status_field "$1" update_state)" = "$2" ]; }
version_is() { [ "$(ping_version "$1")" = "$2" ]; }
# start_svc I: sc start, retried within a bound (a fresh prefix's SCM
# refuses it for a few seconds).
start_svc() {
    local t0=$SECONDS
    while [ $((SECONDS - t0)) -lt 40 ]; do
        on "$1" sc start KanadeAgent >/dev/null 2>&1
        [ "$(svc_state "$1")" = RUNNING ] && return 0
        sleep 1
    done
    return 1
}
# sched_ms I VERSION: the moment host I chose for VERSION (its
# update-state.json), or nothing yet.
sched_ms() {
    python3 -c 'import json,sys
try: d = json.load(open(sys.argv[1]))
except Exception: sys.exit(0)
if d.get("sched_target") == sys.argv[2] and d.get("sched_at_ms"): print(d["sched_at_ms"])' \
        "$(pd "$1")/data/update-state.json" "$2"
}
all_scheduled() { local i; for i in "${HOSTS[@]}"; do [ -n "$(sched_ms "$i" "$1")" ] || return 1; done; }
# log_ms I REGEX: the time (unix ms) of host I's first log line matching REGEX.
log_ms() {
    local ts
    ts=$(logs "$1" | grep -E -- "$2" | head -n 1 | awk '{print $1}')
    [ -n "$ts" ] && date -d "$ts" +%s%3N 2>/dev/null
}

# ---- the broker, the releases, the three services -------------------------
k broker init >/dev/null 2>&1 || bad "broker init"   # agents bind buckets, never create them
k agent publish "$(winpath "$VERS/agent-$BASE.exe")" >/dev/null 2>&1 || bad "publish $BASE"
k agent publish "$(winpath "$VERS/bad_exit-$BADV.exe")" >/dev/null 2>&1 || bad "publish bad_exit $BADV"
k jetstream kv put agent_config global '{"heartbeat_interval":"2s"}' >/dev/null || bad "agent_config global"
for i in "${HOSTS[@]}"; do
    mkdir -p "$(pf "$i")"
    cp "$VERS/agent-$BASE.exe" "$(exe "$i")"
    on "$i" "$(exe "$i")" install --config 'C:\ProgramData\Kanade\config\agent.conf' --nats-url "$NATS_URL" \
        --id "host-0$i" >"$T_DIR/install$i.out" 2>&1 || bad "install host-0$i: $(cat "$T_DIR/install$i.out")"
    # A short health gate, as in it_update: a build that never reaches the
    # broker is judged within 20 s (this one exits at once anyway).
    conf="$(pd "$i")/config/agent.conf"
    if grep -q '^health_timeout' "$conf"; then sed -i 's/^health_timeout.*/health_timeout = 20/' "$conf"
    else printf '\n[update]\nhealth_timeout = 20\n' >>"$conf"; fi
done
STARTS=()
for i in "${HOSTS[@]}"; do start_svc "$i" & STARTS+=($!); done
wait "${STARTS[@]}"
for i in "${HOSTS[@]}"; do
    check_eq "host-0$i: service running in its own prefix" "$(svc_state "$i")" RUNNING
done
for i in "${HOSTS[@]}"; do
    wait_for 90 "host-0$i answers with $BASE" version_is "$i" "$BASE"
    check_eq "host-0$i: ping reports $BASE" "$(ping_version "$i")" "$BASE"
    check_eq "host-0$i: exe on disk is the $BASE build" "$(sha "$(exe "$i")")" "${SHA[$BASE]}"
done
echo "3 services up ($((SECONDS - T_START))s)"

# ---- 1. a build that exits at once, --halt-after 1 ------------------------
T0=$(date +%s%3N)
out=$(k agent rollout "$BADV" --global --halt-after 1 --jitter 40s 2>&1) || bad "rollout $BADV: $out"
check_match "rollout $BADV: halts after 1 failed host" "$out" 'halt policy: halts after 1 failed host'
wait_for 30 "all three scheduled $BADV" all_scheduled "$BADV"
declare -A AT
for i in "${HOSTS[@]}"; do AT[$i]=$(sched_ms "$i" "$BADV"); done
FIRST=$(for i in "${HOSTS[@]}"; do echo "${AT[$i]:-0} $i"; done | sort -n | head -n 1 | awk '{print $2}')
M1=${AT[$FIRST]:-0}
NOW=$(date +%s%3N)
moments=""
for i in "${HOSTS[@]}"; do moments="$moments host-0$i +$(( (AT[$i] - T0) / 1000 ))s"; done
echo "  jitter moments after the rollout:$moments; first: host-0$FIRST"
OTHERS=()
for i in "${HOSTS[@]}"; do
    [ "$i" = "$FIRST" ] && continue
    OTHERS+=("$i")
    need=$((M1 + GAP - AT[$i]))
    [ "$need" -gt 0 ] || continue
    if [ "${AT[$i]}" -lt $((NOW + 1000)) ]; then
        bad "host-0$i's moment (+$(( (AT[$i] - T0) / 1000 ))s) came too soon to slow its download"
        continue
    fi
    mkdir -p "$(pd "$i")/data/test-hooks"
    echo "$need" >"$(pd "$i")/data/test-hooks/download-delay-ms"
    echo "  host-0$i: moment $(( (AT[$i] - M1) / 1000 ))s after the first; its download slowed by ${need} ms"
done

wait_for 120 "host-0$FIRST rolled back" state_is "$FIRST" rolled_back
for i in "${OTHERS[@]}"; do wait_for 120 "host-0$i halted" state_is "$i" halted; done
for i in "${HOSTS[@]}"; do rm -f "$(pd "$i")/data/test-hooks/download-delay-ms"; done
sleep 5    # a later swap, were there one, would show by now

check_eq "first host (host-0$FIRST): update state rolled_back" "$(status_field "$FIRST" update_state)" rolled_back
check_eq "first host: the exe on disk is the $BASE build again" "$(sha "$(exe "$FIRST")")" "${SHA[$BASE]}"
check_match "first host: it swapped, and the helper rolled back" "$(logs "$FIRST")" \
    "handed over to the swap helper: $BASE -> $BADV"
check_match "first host: the old build started again" "$(logs "$FIRST")" "rollback: old version $BASE started"
check_match "first host: $BADV quarantined" "$(status_field "$FIRST" quarantined_versions)" "\"$BADV\""
check_match "first host: its failure recorded in agent_rollouts" "$(logs "$FIRST")" \
    "agent_rollouts: recorded rolled_back of $BADV"
for i in "${OTHERS[@]}"; do
    check_eq "host-0$i: update state halted" "$(status_field "$i" update_state)" halted
    check_match "host-0$i: the halt reason names the failed host" "$(status_field "$i" update_error)" \
        "rollout of ${BADV//./\\.} halted: 1 hosts? failed \(threshold 1\): host-0$FIRST: rolled_back"
    check_eq "host-0$i: the exe on disk is still the $BASE build" "$(sha "$(exe "$i")")" "${SHA[$BASE]}"
    check_nomatch "host-0$i: never handed over to the swap helper" "$(logs "$i")" "handed over to the swap helper"
    check_eq "host-0$i: ping still reports $BASE" "$(ping_version "$i")" "$BASE"
done
swapped=0
for i in "${HOSTS[@]}"; do logs "$i" | grep -q "handed over to the swap helper: $BASE -> $BADV" && swapped=$((swapped + 1)); done
check_eq "exactly one host swapped to $BADV" "$swapped" 1
rs=$(k --json agent rollout status "$BADV" 2>/dev/null)
verdict=$(printf '%s' "$rs" | python3 -c 'import json,sys
r = [x for x in json.load(sys.stdin)["rollouts"] if x["version"] == sys.argv[1]][0]
st = " ".join("%s=%d" % kv for kv in sorted(r["states"].items()))
print(r["halted"], r["failures"], r["threshold"], " ".join(sorted(f["pc_id"] for f in r["failed"])), st)' "$BADV" 2>/dev/null)
check_eq "rollout status --json: halted, 1 failure of threshold 1 (host-0$FIRST), 2 halted" "$verdict" \
    "True 1 1 host-0$FIRST halted=2 rolled_back=1"
ro_json() {   # FIELD: that field of the rollout of $BADV in $rs (strings bare, the rest as JSON)
    printf '%s' "$rs" | python3 -c 'import json,sys
v = [x for x in json.load(sys.stdin)["rollouts"] if x["version"] == sys.argv[1]][0][sys.argv[2]]
print(v if isinstance(v, str) else json.dumps(v))' "$BADV" "$1" 2>/dev/null
}
check_match "rollout status --json: the reason" "$(ro_json reason)" \
    "rollout of ${BADV//./\\.} halted: 1 hosts? failed \\(threshold 1\\): host-0$FIRST: rolled_back"
out=$(k agent rollout status "$BADV" 2>&1)
check_match "rollout status: halted, 1 failed" "$out" "rollout of ${BADV//./\\.}: halted \(1 failed, halts at 1\)"
check_match "rollout status: 2 agents halted" "$out" "halted 2"
out=$(k agent status 2>&1)
check_match "agent status lists the two halted agents" "$out" "halted by a rollout \(not swapped; see 'kanade agent rollout status'\): 2"
# The measures: from the rollout to the first failure record, and to the halt.
T_REC=$(ro_json failed | python3 -c 'import json,sys; print(min(f["at_ms"] for f in json.load(sys.stdin)))' 2>/dev/null)
halts=""
for i in "${OTHERS[@]}"; do
    h=$(log_ms "$i" "-> halted \(target ${BADV//./\\.}\)")
    from=$(logs "$i" | grep -E -m 1 -- "-> halted \(target ${BADV//./\\.}\)" | sed -nE 's/.*update: ([a-z_]+) -> halted.*/\1/p')
    halts="$halts host-0$i +$(( (${h:-$T0} - T0) / 1000 ))s (from $from)"
done
HO=$(log_ms "$FIRST" "handed over to the swap helper: $BASE -> $BADV")
echo "  measured: first host's moment +$(( (M1 - T0) / 1000 ))s, hand-over +$(( (${HO:-$T0} - T0) / 1000 ))s," \
     "failure recorded +$(( (${T_REC:-$T0} - T0) / 1000 ))s (swap, rollback and record $(( ${T_REC:-$T0} - ${HO:-$T0} )) ms);" \
     "halted:$halts; hosts swapped before the halt: $swapped"

# ---- 2. resume, then a good build: all converge ---------------------------
# Published before the resume so that the good rollout follows it at once:
# a halted host checks again within a heartbeat interval and, released,
# may go on with the bad build first (it then rolls back like the first).
k agent publish "$(winpath "$VERS/agent-$GOOD.exe")" >/dev/null 2>&1 || bad "publish $GOOD"
out=$(k agent rollout resume "$BADV" 2>&1)
check_match "resume $BADV: says the failure so far no longer counts" "$out" "resumed ${BADV//./\\.}: the 1 failures? so far no longer count"
T1=$(date +%s%3N)
out=$(k agent rollout "$GOOD" --global --jitter 10s 2>&1) || bad "rollout $GOOD: $out"
check_match "rollout $GOOD: the default halt policy" "$out" 'halt policy: halts after 3 failed hosts'
for i in "${HOSTS[@]}"; do wait_for 150 "host-0$i runs $GOOD" version_is "$i" "$GOOD"; done
for i in "${HOSTS[@]}"; do wait_for 30 "host-0$i done" state_is "$i" "done"; done
T_CONV=$(date +%s%3N)
for i in "${HOSTS[@]}"; do
    check_eq "host-0$i: the exe on disk is the $GOOD build" "$(sha "$(exe "$i")")" "${SHA[$GOOD]}"
    check_eq "host-0$i: ping reports $GOOD" "$(ping_version "$i")" "$GOOD"
    check_eq "host-0$i: agent_status $GOOD, done" \
        "$(status_field "$i" agent_version) $(status_field "$i" update_state)" "$GOOD done"
done
bad_again=0
for i in "${OTHERS[@]}"; do logs "$i" | grep -q "handed over to the swap helper: $BASE -> $BADV" && bad_again=$((bad_again + 1)); done
echo "  measured: all 3 on $GOOD $(( (T_CONV - T1) / 1000 ))s after its rollout;" \
     "halted hosts that swapped to $BADV after the resume: $bad_again"

for i in "${HOSTS[@]}"; do on "$i" sc stop KanadeAgent >/dev/null 2>&1; done
echo "done ($((SECONDS - T_START))s)"
t_summary
