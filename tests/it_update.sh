#!/usr/bin/env bash
# it_update.sh — self-update end to end (docs/design.md, Update state machine) under Wine with
# the real SCM, a real nats-server and the real kanade.exe CLI.
#
# One Wine prefix, one nats-server and one installed KanadeAgent service
# (id canary-01) are shared by all scenarios, which run in sequence and
# each start from the state the previous one left. Every scenario asserts
# the exe bytes on disk (sha256 against the expected build), the version
# the agent reports (kanade ping), its update state (agent_status) and the
# log lines of the step.
#
# Builds: 0.1.0 is $BUILD/test/kanade-agent.exe (the agent with the test
# hooks compiled in). 0.1.1, 0.1.2 and 0.1.3 are the
# same objects linked with another VERSIONINFO (what `make VERSION=x` does,
# without compiling everything again). The failing builds are fixtures
# (tests/fixtures/*.c) with VERSIONINFO 0.1.9 and 0.1.8. 0.1.7 is a tampered
# release (meta digest does not match the chunks) and 0.2.0 the 0.1.0 binary
# published under another label; both are written raw with tool_js.
#
# Test hooks (files, compiled only into the test build, see update.c): <data>\test-hooks\download-delay-ms
# slows the download; <data>\test-hooks\swap-abort-at makes the helper exit
# after a step.
source "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
T_START=$SECONDS

# ---- builds -------------------------------------------------------------
for f in test/kanade-agent.exe kanade.exe wtest/tool_js.exe; do
    if [ ! -f "$BUILD/$f" ]; then bad "missing $BUILD/$f (run: make units BUILD=$BUILD)"; t_summary; exit 1; fi
done
VERS="$T_DIR/versions"
mkdir -p "$VERS"
source "$ROOT/tests/agent_versions.sh"
cp "$BUILD/test/kanade-agent.exe" "$VERS/agent-0.1.0.exe"
for v in 0.1.1 0.1.2 0.1.3; do
    agent_version "$v" "$VERS/agent-$v.exe" || { bad "link agent $v"; t_summary; exit 1; }
done
agent_fixture bad_exit 0.1.9 "$VERS/bad_exit-0.1.9.exe" \
    && agent_fixture bad_nobroker 0.1.8 "$VERS/bad_nobroker-0.1.8.exe" \
    || { bad "build fixtures"; t_summary; exit 1; }
declare -A SHA
declare -A DIGEST   # the status reports exe_sha256 in the NATS digest form
for v in 0.1.0 0.1.1 0.1.2 0.1.3; do
    SHA[$v]=$(sha256sum "$VERS/agent-$v.exe" | cut -d' ' -f1)
    DIGEST[$v]=$(python3 -c 'import base64,sys; print("SHA-256=" + base64.urlsafe_b64encode(bytes.fromhex(sys.argv[1])).decode())' "${SHA[$v]}")
done
echo "builds ready ($((SECONDS - T_START))s)"

# ---- world --------------------------------------------------------------
nats_start
wine_prefix
# A freshly booted prefix can run two services.exe, and Wine then ends the
# services whenever no ordinary process is left: restart the persistent
# wineserver once, so that the service lives between wine calls.
wineserver -k
wineserver -p
# The first process after the restart brings services.exe up; the services
# inherit its stderr, so Wine's own error lines (a crash, say) land in a file.
WINEDEBUG=err+all wine sc query KanadeAgent >"$T_DIR/services.err" 2>&1
PF="$WINEPREFIX/drive_c/Program Files/Kanade"
EXE="$PF/kanade-agent.exe"
PD="$WINEPREFIX/drive_c/ProgramData/Kanade"
DATA="$PD/data"
LOGS="$PD/logs"
HOOKS="$DATA/test-hooks"
mkdir -p "$PF"
cp "$VERS/agent-0.1.0.exe" "$EXE"

winpath() { winepath -w "$1" 2>/dev/null; }
K() { w "$BUILD/kanade.exe" --server "$NATS_URL" "$@"; }
TJ() { w "$BUILD/wtest/tool_js.exe" -s "$NATS_URL" "$@"; }
sha() { if [ -f "$1" ]; then sha256sum "$1" | cut -d' ' -f1; else echo missing; fi; }
logs() { cat "$LOGS"/agent.*.log 2>/dev/null | tr -d '\r'; }
log_mark() { MARK=$(logs | wc -l); }
since_mark() { logs | tail -n +$((MARK + 1)); }
ping_field() { K ping canary-01 --timeout 2s 2>/dev/null | awk -v f="$1" '$1 == f { $1 = ""; sub(/^ +/, ""); print }'; }
status_json() { K jetstream kv get agent_status canary-01 2>/dev/null; }
status_field() { status_json | jfield "$1"; }
svc_state() { w sc query KanadeAgent 2>/dev/null | awk '/STATE/ { print $4 }'; }
# wait_for SECONDS DESCRIPTION COMMAND...: polls until the command succeeds.
version_is() { [ "$(ping_field agent_version)" = "$1" ]; }
state_is() { [ "$(status_field update_state)" = "$1" ]; }
log_has() { since_mark | grep -Eq -- "$1"; }
svc_is() { [ "$(svc_state)" = "$1" ]; }
# start_svc: sc start, retried: a fresh prefix's SCM refuses it for a few
# seconds (docs/style.md, Wine), and a service still stopping refuses it too.
start_svc() {
    local t0=$SECONDS
    while [ $((SECONDS - t0)) -lt 30 ]; do
        w sc start KanadeAgent >/dev/null 2>&1
        svc_is RUNNING && return 0
        sleep 1
    done
    return 1
}
rollout() { K agent rollout "$@" >"$T_DIR/rollout.out" 2>&1 || { echo "rollout $*: $(cat "$T_DIR/rollout.out")"; return 1; }; }
hook() { mkdir -p "$HOOKS"; printf '%s\n' "$2" > "$HOOKS/$1"; }
unhook() { rm -f "$HOOKS/$1"; }

# expect_on VERSION SCENARIO: the exe on disk, ping and the status agree.
expect_on() {
    local v=$1 s=$2
    check_eq "$s: exe on disk is the $v build" "$(sha "$EXE")" "${SHA[$v]}"
    check_eq "$s: ping reports $v" "$(ping_field agent_version)" "$v"
    check_eq "$s: status exe_sha256 is the $v build" "$(status_field exe_sha256)" "${DIGEST[$v]}"
}
# swap_to VERSION SCENARIO [rollout args...]: rolls out and waits for done.
swap_to() {
    local v=$1 s=$2; shift 2
    log_mark
    rollout "$v" "$@" || { bad "$s: rollout $v"; return 1; }
    wait_for 90 "ping shows $v" version_is "$v"
    wait_for 20 "state done" state_is done
    expect_on "$v" "$s"
    check_eq "$s: update_state done" "$(status_field update_state)" done
    check_match "$s: log has the swap steps" "$(since_mark)" "swap: stop: service stopped in [0-9]+ ms"
    check_match "$s: log has replace and health" "$(since_mark)" "swap: done: [^ ]+ -> $v in [0-9]+ ms"
    check "$s: no $v.new left behind" test ! -e "$EXE.new"
}

# ---- install ------------------------------------------------------------
K broker init >/dev/null 2>&1 || bad "broker init"
for v in 0.1.0 0.1.1 0.1.2 0.1.3; do
    K agent publish "$(winpath "$VERS/agent-$v.exe")" >/dev/null 2>&1 || bad "publish $v"
done
K agent publish "$(winpath "$VERS/bad_exit-0.1.9.exe")" >/dev/null 2>&1 || bad "publish bad_exit 0.1.9"
K agent publish "$(winpath "$VERS/bad_nobroker-0.1.8.exe")" >/dev/null 2>&1 || bad "publish bad_nobroker 0.1.8"
CONF_W='C:\ProgramData\Kanade\config\agent.conf'
w "$EXE" install --config "$CONF_W" --nats-url "$NATS_URL" --id canary-01 >"$T_DIR/install.out" 2>&1 \
    || { bad "install: $(cat "$T_DIR/install.out")"; t_summary; exit 1; }
# A short health gate for the failing builds.
if grep -q '^\[update\]' "$PD/config/agent.conf"; then
    sed -i 's/^health_timeout.*/health_timeout = 20/' "$PD/config/agent.conf"
    grep -q '^health_timeout' "$PD/config/agent.conf" || sed -i 's/^\[update\].*/&\nhealth_timeout = 20/' "$PD/config/agent.conf"
else
    printf '\n[update]\nhealth_timeout = 20\n' >> "$PD/config/agent.conf"
fi
start_svc
wait_for 60 "first ping" version_is 0.1.0
expect_on 0.1.0 "install"
echo "installed ($((SECONDS - T_START))s)"

# ---- 1. --pcs, --groups, --global ---------------------------------------
swap_to 0.1.1 "pcs" --pcs canary-01
check_eq "pcs: exe.old keeps 0.1.0" "$(sha "$EXE.old")" "${SHA[0.1.0]}"
for tr in "idle -> pending" "pending -> scheduled" "scheduled -> downloading" "downloading -> verifying" \
          "verifying -> swapping"; do
    check_match "pcs: log has the transition $tr" "$(since_mark)" "update: $tr \(target 0.1.1\)"
done
check_match "pcs: helper ran from the updater copy" "$(since_mark)" 'started swap helper .*\\data\\updater\\kanade-agent.exe'

K jetstream kv del agent_config pcs.canary-01 >/dev/null 2>&1
K agent groups canary-01 --set canary >/dev/null 2>&1 || bad "groups --set canary"
swap_to 0.1.2 "groups" --groups canary
K jetstream kv del agent_config groups.canary >/dev/null 2>&1
swap_to 0.1.3 "global" --global

# ---- 2. manual rollback uses .old; reconnect replay guard ---------------
swap_to 0.1.2 "manual rollback" --pcs canary-01
check_match "manual rollback: .old used, no download" "$(since_mark)" "using .*kanade-agent.exe.old \(version 0.1.2, the previous build\)"
check_nomatch "manual rollback: nothing downloaded" "$(since_mark)" "downloaded 0.1.2"
swap_to 0.1.1 "new target after rollback" --pcs canary-01
log_mark
nats_restart
wait_for 60 "reconnected" log_has "reconnected|connected to broker"
sleep 12
check_eq "replay guard: after a broker restart still 0.1.1" "$(ping_field agent_version)" 0.1.1
check_eq "replay guard: exe still 0.1.1" "$(sha "$EXE")" "${SHA[0.1.1]}"
check_nomatch "replay guard: no swap after the broker restart" "$(since_mark)" "handed over|-> scheduled"

# ---- 3. jitter: persisted across a restart; a newer target replaces it ---
log_mark
rollout 0.1.3 --pcs canary-01 --jitter 1h || bad "rollout 0.1.3 --jitter 1h"
wait_for 30 "scheduled" state_is scheduled
AT1=$(jfield sched_at_ms < "$DATA/update-state.json")
check_match "jitter: moment persisted in the state file" "$AT1" '^[0-9]{13}$'
w sc stop KanadeAgent >/dev/null 2>&1
wait_for 30 "stopped" svc_is STOPPED
start_svc
wait_for 60 "scheduled again" state_is scheduled
check_eq "jitter: restart keeps the chosen moment" "$(jfield sched_at_ms < "$DATA/update-state.json")" "$AT1"
check_match "jitter: log says it kept the moment" "$(since_mark)" "keeping the moment chosen before the restart"
check_eq "jitter: still 0.1.1 while scheduled" "$(sha "$EXE")" "${SHA[0.1.1]}"
log_mark
T_ROLL=$(date +%s%3N)
rollout 0.1.2 --pcs canary-01 --jitter 20s || bad "rollout 0.1.2 --jitter 20s"
wait_for 90 "ping shows 0.1.2" version_is 0.1.2
expect_on 0.1.2 "jitter 20s"
check_match "jitter: the scheduled 0.1.3 was replaced" "$(since_mark)" "target changed from 0.1.3 to 0.1.2|-> pending \(target 0.1.2\)"
AT2=$(since_mark | sed -nE 's/.*scheduled 0\.1\.2 at ([^ ]+) .*/\1/p' | head -n 1)
AT2_MS=$(date -d "$AT2" +%s%3N 2>/dev/null || echo 0)
DL_TS=$(since_mark | grep -E 'scheduled -> downloading \(target 0\.1\.2\)' | head -n 1 | awk '{print $1}')
DL_MS=$(date -d "$DL_TS" +%s%3N 2>/dev/null || echo 0)
check "jitter: moment inside [rollout, rollout+20s] ($AT2)" test "$AT2_MS" -ge $((T_ROLL - 2000)) -a "$AT2_MS" -le $((T_ROLL + 21000))
check "jitter: download began at the moment, not before ($DL_TS)" test "$DL_MS" -ge $((AT2_MS - 1000))

# ---- 4. a target change while downloading --------------------------------
hook download-delay-ms 800
log_mark
# (0.1.0: not in exe.old, so it is downloaded, slowly)
rollout 0.1.0 --pcs canary-01 --jitter 0s || bad "rollout 0.1.0"
wait_for 30 "downloading" state_is downloading
rollout 0.1.3 --pcs canary-01 || bad "rollout 0.1.3"
wait_for 120 "ping shows 0.1.3" version_is 0.1.3
unhook download-delay-ms
expect_on 0.1.3 "change while downloading"
check_match "change while downloading: 0.1.0 cancelled" "$(since_mark)" "cancelling the download of 0.1.0"
check_nomatch "change while downloading: 0.1.0 never swapped" "$(since_mark)" "handed over to the swap helper: [^ ]+ -> 0.1.0"

# ---- 5. broker cut in the middle of a download ---------------------------
hook download-delay-ms 3000
log_mark
rollout 0.1.1 --pcs canary-01 || bad "rollout 0.1.1"
wait_for 30 "downloading" state_is downloading
nats_stop
sleep 3
unhook download-delay-ms
check_eq "broker cut: exe untouched while the broker is down" "$(sha "$EXE")" "${SHA[0.1.3]}"
nats_start
wait_for 120 "ping shows 0.1.1" version_is 0.1.1
# The new build answers ping while its health gate still runs (monitoring).
wait_for 20 "state done" state_is done
expect_on 0.1.1 "broker cut"
check_eq "broker cut: update_state done" "$(status_field update_state)" done

# ---- 6. tampered release: digest does not match the chunks ---------------
PUT=$(TJ obj-put agent_releases 0.1.7 "$(winpath "$VERS/agent-0.1.3.exe")" 2>/dev/null)
read -r _ T_SIZE T_CHUNKS _ _ T_NUID <<<"$PUT"
WRONG=$(nats_digest "$VERS/agent-0.1.2.exe")
META_SUBJ="\$O.agent_releases.M.$(python3 -c 'import base64; print(base64.urlsafe_b64encode(b"0.1.7").decode())')"
printf '{"name":"0.1.7","bucket":"agent_releases","nuid":"%s","size":%s,"mtime":"%s","chunks":%s,"digest":"%s"}' \
    "$T_NUID" "$T_SIZE" "$(date -u +%Y-%m-%dT%H:%M:%S.000Z)" "$T_CHUNKS" "$WRONG" > "$T_DIR/meta-0.1.7.json"
TJ pub "$META_SUBJ" "$(winpath "$T_DIR/meta-0.1.7.json")" rollup >/dev/null 2>&1 || bad "tamper: publish meta"
log_mark
rollout 0.1.7 --pcs canary-01 || bad "rollout 0.1.7"
wait_for 60 "failed" state_is failed
check_match "tampered: update_error names the digest" "$(status_field update_error)" "digest mismatch"
check_eq "tampered: exe untouched" "$(sha "$EXE")" "${SHA[0.1.1]}"
check_eq "tampered: still 0.1.1" "$(ping_field agent_version)" 0.1.1
check "tampered: exe.new deleted" test ! -e "$EXE.new"
check_nomatch "tampered: never handed over" "$(since_mark)" "handed over"

# ---- 6b. a release declaring 2 GiB: refused before <exe>.new exists ------
META_SUBJ="\$O.agent_releases.M.$(python3 -c 'import base64; print(base64.urlsafe_b64encode(b"0.1.6").decode())')"
printf '{"name":"0.1.6","bucket":"agent_releases","nuid":"%s","size":2147483648,"mtime":"%s","chunks":%s,"digest":"%s"}' \
    "$T_NUID" "$(date -u +%Y-%m-%dT%H:%M:%S.000Z)" "$T_CHUNKS" "$WRONG" > "$T_DIR/meta-0.1.6.json"
TJ pub "$META_SUBJ" "$(winpath "$T_DIR/meta-0.1.6.json")" rollup >/dev/null 2>&1 || bad "huge: publish meta"
log_mark
rollout 0.1.6 --pcs canary-01 || bad "rollout 0.1.6"
error_has() { status_field update_error | grep -q -- "$1"; }
wait_for 60 "failed on size" error_has "release 0.1.6 declares"
check_match "2 GiB declared: refused by size before the download" "$(status_field update_error)" \
    "release 0.1.6 declares 2147483648 bytes, over the 64 MiB an agent exe may have; not downloaded"
check_eq "2 GiB declared: exe untouched" "$(sha "$EXE")" "${SHA[0.1.1]}"
check "2 GiB declared: no exe.new" test ! -e "$EXE.new"
check_nomatch "2 GiB declared: no chunk was fetched" "$(since_mark)" "downloaded 0.1.6|size mismatch"

# ---- 7. label/binary mismatch: quarantined, no loop ----------------------
TJ obj-put agent_releases 0.2.0 "$(winpath "$VERS/agent-0.1.0.exe")" >/dev/null 2>&1 || bad "publish 0.1.0 as 0.2.0"
log_mark
rollout 0.2.0 --pcs canary-01 || bad "rollout 0.2.0"
wait_for 60 "quarantined" state_is quarantined
check_match "mismatch: reason in update_error" "$(status_field update_error)" "label/binary mismatch: release 0.2.0 contains a binary of version 0.1.0"
check_match "mismatch: quarantined_versions lists 0.2.0" "$(status_field quarantined_versions)" '"0.2.0"'
sleep 20
check_eq "mismatch: downloaded exactly once (no update loop)" "$(since_mark | grep -c 'downloaded 0.2.0')" 1
check_eq "mismatch: exe untouched" "$(sha "$EXE")" "${SHA[0.1.1]}"
check "mismatch: exe.new deleted" test ! -e "$EXE.new"
# Another target, then 0.2.0 again: the operator's explicit retry lifts it.
rollout 0.1.1 --pcs canary-01 || bad "rollout 0.1.1"
log_mark
rollout 0.2.0 --pcs canary-01 || bad "rollout 0.2.0 again"
wait_for 60 "downloaded again" log_has "downloaded 0.2.0"
wait_for 30 "quarantined again" state_is quarantined
check_match "mismatch: retry after another target lifts the quarantine" "$(since_mark)" "quarantine of 0.2.0 lifted"

# ---- 8. a build that exits at once: rollback, quarantine -----------------
log_mark
rollout 0.1.9 --pcs canary-01 || bad "rollout 0.1.9"
wait_for 120 "rolled_back" state_is rolled_back
expect_on 0.1.1 "exits at once"
check_match "exits at once: helper saw the exit" "$(since_mark)" "new agent 0.1.9 (exited with code 1|did not start)"
check_match "exits at once: rollback restored the old build" "$(since_mark)" "rollback: old version 0.1.1 started"
check_match "exits at once: update_error" "$(status_field update_error)" "0.1.9"
check_match "exits at once: 0.1.9 quarantined" "$(status_field quarantined_versions)" '"0.1.9"'
log_mark
sleep 15
check_nomatch "exits at once: no second attempt" "$(since_mark)" "handed over|downloaded 0.1.9"
check_eq "exits at once: still rolled_back" "$(status_field update_state)" rolled_back

# ---- 9. a build that never reaches the broker: health timeout ------------
log_mark
rollout 0.1.8 --pcs canary-01 || bad "rollout 0.1.8"
wait_for 150 "rolled_back" state_is rolled_back
expect_on 0.1.1 "never healthy"
check_match "never healthy: health_timeout named" "$(status_field update_error)" "did not report healthy within 20 s"
check_match "never healthy: 0.1.8 quarantined" "$(status_field quarantined_versions)" '"0.1.8"'

# ---- 10. the helper killed at each step ----------------------------------
hook swap-abort-at stopped
log_mark
rollout 0.1.2 --pcs canary-01 || bad "rollout 0.1.2"
wait_for 60 "helper exits after stop" log_has "TEST HOOK swap-abort-at=stopped"
# Nobody starts the service here: the helper's watchdog must.
check "killed after stop: the watchdog starts the service" \
    wait_for 30 "watchdog" log_has "swap watchdog: the helper \(pid [0-9]+\) ended at phase stopped"
check "killed after stop: the agent recovers" wait_for 60 "recovered" log_has "interrupted at phase stopped"
wait_for 120 "ping shows 0.1.2" version_is 0.1.2
wait_for 20 "done" state_is done
expect_on 0.1.2 "killed after stop"

hook swap-abort-at replaced
log_mark
rollout 0.1.3 --pcs canary-01 || bad "rollout 0.1.3"
wait_for 60 "helper exits after replace" log_has "TEST HOOK swap-abort-at=replaced"
check "killed after replace: the watchdog starts the service" \
    wait_for 30 "watchdog" log_has "swap watchdog: the helper \(pid [0-9]+\) ended at phase replaced"
wait_for 60 "ping shows 0.1.3" version_is 0.1.3
check_eq "killed after replace: exe is the complete 0.1.3" "$(sha "$EXE")" "${SHA[0.1.3]}"
check_eq "killed after replace: exe.old is 0.1.2" "$(sha "$EXE.old")" "${SHA[0.1.2]}"
wait_for 20 "done" state_is done
expect_on 0.1.3 "killed after replace"
check_match "killed after replace: the new agent completed the swap" "$(since_mark)" "this start of 0.1.3 completes the swap|completed without the helper"

hook swap-abort-at started
log_mark
rollout 0.1.1 --pcs canary-01 || bad "rollout 0.1.1"
wait_for 60 "helper exits after start" log_has "TEST HOOK swap-abort-at=started"
wait_for 60 "ping shows 0.1.1" version_is 0.1.1
wait_for 30 "done" state_is done
expect_on 0.1.1 "killed before health"
unhook swap-abort-at

# ---- 10b. the helper trusts no path but the service's own --------------------
# A forged update.json naming another exe and data folder: the helper (run
# as it would be, `--swap <job>`) refuses it and writes nothing anywhere.
EVIL="$WINEPREFIX/drive_c/evil"
mkdir -p "$EVIL"
cp "$EXE" "$EVIL/agent.exe"
printf '{"kind":"swap","from":"0.1.1","to":"0.1.2","phase":"handover","exe":"C:\\\\evil\\\\agent.exe","new":"C:\\\\evil\\\\agent.exe.new","old":"C:\\\\evil\\\\agent.exe.old","data_dir":"C:\\\\evil","log_dir":"C:\\\\evil\\\\logs","health_timeout_s":20}' >"$EVIL/update.json"
out=$(w "$EXE" --swap 'C:\evil\update.json' 2>&1); rc=$?
check_eq "forged job: the helper refuses it (exit 3)" "$rc" 3
check_match "forged job: it says which path it does not trust" "$out" "refusing C:.evil.update\.json: exe C:.evil.agent\.exe is not the service's exe"
check_eq "forged job: nothing written in the folder it names" "$(ls "$EVIL" | sort | tr '\n' ' ')" "agent.exe update.json "
check_eq "forged job: the service kept running" "$(svc_state)" RUNNING
rm -rf "$EVIL"

# ---- 11. cold broker with a target already set --------------------
w sc stop KanadeAgent >/dev/null 2>&1
wait_for 30 "stopped" svc_is STOPPED
rollout 0.1.2 --pcs canary-01 || bad "rollout 0.1.2"
nats_stop
log_mark
start_svc
sleep 30
check_eq "cold broker: still 0.1.1 without a broker" "$(sha "$EXE")" "${SHA[0.1.1]}"
check_match "cold broker: agent waits for the broker" "$(since_mark)" "waiting for broker|disconnected|connect"
nats_start
wait_for 120 "ping shows 0.1.2" version_is 0.1.2
expect_on 0.1.2 "cold broker"

# ---- 12. crash-loop guard: 3 unclean starts in the first hour -----------
# The service process (not the helper: it runs from data\updater) is killed
# and started again (Wine's SCM still shows a killed service RUNNING, and
# runs it again on the next StartService). Should that not bring it back, a
# power cut is simulated instead: wineserver -k ends every process of the
# prefix, and the next wine process brings the SCM back, which starts the
# auto-start service. Either way the freshly swapped 0.1.2 starts
# uncleanly; the third time it hands over to a restore job, and 0.1.1
# (exe.old) comes back with 0.1.2 quarantined.
agent_pid() { ps -eo pid,args | grep -F 'Kanade\kanade-agent.exe service' | grep -v grep | awk '{print $1}' | head -n 1; }
log_mark
for i in 1 2 3; do
    pid=$(agent_pid)
    [ -n "$pid" ] || { bad "crash loop: no service process to kill ($i)"; break; }
    kill -9 "$pid"
    sleep 1
    w sc start KanadeAgent >/dev/null 2>&1
    if ! wait_for 20 "started again ($i)" log_has "unclean start $i of 3"; then
        wineserver -k
        wineserver -p
        WINEDEBUG=err+all wine sc query KanadeAgent >>"$T_DIR/services.err" 2>&1
        start_svc
        wait_for 60 "up again ($i)" log_has "unclean start $i of 3"
    fi
    [ "$i" -lt 3 ] && wait_for 60 "answering ($i)" version_is 0.1.2
done
wait_for 90 "rolled_back" state_is rolled_back
expect_on 0.1.1 "crash loop"
check_match "crash loop: counted unclean starts" "$(since_mark)" "unclean start 3 of 3 of freshly swapped 0.1.2"
check_match "crash loop: update_error" "$(status_field update_error)" "crash loop: 3 unclean starts of 0.1.2"
check_match "crash loop: 0.1.2 quarantined" "$(status_field quarantined_versions)" '"0.1.2"'

# ---- 12. console mode verifies but never swaps ---------------------------
w sc stop KanadeAgent >/dev/null 2>&1
wait_for 30 "stopped" svc_is STOPPED
rollout 0.1.3 --pcs canary-01 || bad "rollout 0.1.3"
log_mark
wine "$EXE" run --config "$CONF_W" >"$T_DIR/run.out" 2>&1 &
RUN_PID=$!
T_PIDS+=("$RUN_PID")
wait_for 60 "verified" state_is verified
check_match "run mode: logs why it does not swap" "$(since_mark)" "console mode \(run\): 0.1.3 verified, not swapping"
check_eq "run mode: exe untouched" "$(sha "$EXE")" "${SHA[0.1.1]}"
kill "$RUN_PID" 2>/dev/null; wait "$RUN_PID" 2>/dev/null

echo "it_update: $((SECONDS - T_START))s"
t_summary
