#!/usr/bin/env bash
# it_agent.sh — kanade-agent.exe as a Windows service, under Wine's real
# Service Control Manager, against a real nats-server:
#   bad configs (run mode): one clear line, exit 2, no hang;
#   install (service registered, binPath quoted, config written, idempotent);
#   start through the SCM; heartbeat on heartbeat.<pc_id>; agent_status;
#   kanade ping; a rollout to a pc scope (checking line, status target and
#   scope); group membership through `kanade agent groups`; a broker restart
#   (a change made while away is read on reconnect, no stale revision
#   applied); agent_config deleted
#   and recreated under the agent (noticed, marks forgotten); stop; a cold broker that
#   starts 30 s after the agent; console mode and Ctrl+C; uninstall, purge;
#   token auth from agent.conf; plaintext to another host refused by
#   install and warned at start; credentials in URLs redacted.
#
# Rollouts use --jitter 1000h: update.c then schedules the swap at a random
# moment within 1000 hours, so the agent reports the target, its scope and
# the scheduled state without ever swapping during this test (the swap
# itself is tests/it_update.sh's subject).
source "$(dirname "$0")/lib.sh"

AGENT="$BUILD/kanade-agent.exe"
CLI="$BUILD/kanade.exe"
TOOL="$BUILD/wtest/tool_agentcheck.exe"
TNATS="$BUILD/wtest/tool_nats.exe"
VERSION_RUN=$(cat "$(dirname "$0")/../VERSION")
for f in "$AGENT" "$CLI" "$TOOL" "$TNATS" "$BUILD/wtest/tool_service.exe"; do
    if [ ! -f "$f" ]; then bad "missing $f (run: make units BUILD=$BUILD)"; t_summary; exit 1; fi
done
ID=it-pc-01

nats_start
wine_prefix
# A freshly booted prefix runs TWO services.exe for a while (wineboot -i
# starts a second one), and SCM calls then reach either at random: services
# seen or not, started twice. Restarting the persistent wineserver leaves one.
wineserver -k
wineserver -p
# The first wine process starts services.exe, which inherits its stdout and
# stderr and outlives it: start it from a call whose output goes nowhere, or
# a later $(...) would wait for services.exe to close the pipe.
wine "$TOOL" svc KanadeAgent </dev/null >/dev/null 2>&1
KDIR="$WINEPREFIX/drive_c/ProgramData/Kanade"
mkdir -p "$WINEPREFIX/drive_c/Program Files/Kanade"
cp "$AGENT" "$WINEPREFIX/drive_c/Program Files/Kanade/"
# A path with a space: the binPath must quote it.
EXE='C:\Program Files\Kanade\kanade-agent.exe'
CONF='C:\ProgramData\Kanade\config\agent.conf'

cli() { w "$CLI" --server "$NATS_URL" "$@"; }
agent_log() { cat "$KDIR"/logs/agent.*.log 2>/dev/null | tr -d '\r'; }
# mark: remember the log length; since: the log lines written after it.
mark() { MARK=$(agent_log | wc -l); }
since() { agent_log | tail -n +$((MARK + 1)); }
# wait_since REGEX SECONDS: a new log line matches within the time.
wait_since() {
    local i
    for ((i = 0; i < $2 * 2; i++)); do
        since | grep -Eq -- "$1" && return 0
        sleep 0.5
    done
    return 1
}
# svc_state: STOPPED, RUNNING, ... or NOT_INSTALLED, asked through the
# service API (`wine sc query` sometimes prints nothing under Wine 8).
svc_state() { w "$TOOL" svc KanadeAgent 2>/dev/null | awk '{print $1}'; }
# sc_start: `sc start`, retried for a while (a fresh prefix's SCM refuses
# StartService for a few seconds after wineboot, docs/style.md, Wine).
sc_start() {
    local i
    for i in $(seq 1 20); do
        wine sc start KanadeAgent >/dev/null 2>&1
        case "$(svc_state)" in RUNNING|START_PENDING) return 0 ;; esac
        sleep 0.5
    done
    return 1
}
wait_state() {
    local i
    for ((i = 0; i < $2 * 2; i++)); do [ "$(svc_state)" = "$1" ] && return 0; sleep 0.5; done
    return 1
}
status() { cli jetstream kv get agent_status "$ID" 2>/dev/null; }
# wait_status FIELD VALUE SECONDS
wait_status() {
    local i
    for ((i = 0; i < $3; i++)); do
        [ "$(status | jfield "$1")" = "$2" ] && return 0
        sleep 1
    done
    return 1
}

# ---- service.c against the SCM ---------------------------------------------
echo "== service.c: install/start/stop/terminate/uninstall (tool_service)"
# The tool registers itself as KanadeAgent and removes it again; its
# checks count in this suite.
out=$(w "$BUILD/wtest/tool_service.exe" 2>&1); rc=$?
printf '%s\n' "$out" | sed 's/^/    /'
np=$(printf '%s' "$out" | sed -nE 's/^tool_service: ([0-9]+) passed, ([0-9]+) failed$/\1/p')
nf=$(printf '%s' "$out" | sed -nE 's/^tool_service: ([0-9]+) passed, ([0-9]+) failed$/\2/p')
if [ -n "$np" ] && [ "$rc" -eq 0 ]; then T_PASS=$((T_PASS + np)); T_FAIL=$((T_FAIL + nf))
else bad "tool_service did not complete (exit $rc)"; fi

# ---- bad config --------------------------------------------------------
echo "== bad config: one clear line, exit code 2, no hang"
CD="$WINEPREFIX/drive_c/cfg"
mkdir -p "$CD"
printf '[agent]\nid = "x"\nnats_url = nats://x\n' > "$CD/syntax.conf"
printf '[agent]\nid = "bad id!"\nnats_url = "%s"\n' "$NATS_URL" > "$CD/badid.conf"
printf "[agent]\nid = \"ok-1\"\nnats_url = \"%s\"\n[tls]\nca_file = 'C:\\\\nope\\\\ca.pem'\n" "$NATS_URL" > "$CD/ca.conf"
bad_run() {  # name file regex
    local out rc
    timeout 60 wine "$EXE" run --config "C:\\cfg\\$2" >"$T_DIR/bad.out" 2>&1
    rc=$?
    out=$(tr -d '\r' <"$T_DIR/bad.out")
    check_eq "$1: exit code" "$rc" 2
    check_match "$1: says what is wrong" "$out" "$3"
    check_eq "$1: exactly one line" "$(printf '%s\n' "$out" | grep -c .)" 1
    check_match "$1: the line is in the log file" "$(agent_log)" "$3"
}
bad_run "missing file" missing.conf "ERROR config file not found: C:.cfg.missing\.conf"
bad_run "syntax error" syntax.conf "ERROR config C:.cfg.syntax\.conf: line 3: "
bad_run "invalid id" badid.conf "ERROR config C:.cfg.badid\.conf: line 2: .*bad id!.*not a valid"
bad_run "unreadable CA file" ca.conf "ERROR config C:.cfg.ca\.conf: \[tls\] ca_file C:.nope.ca\.pem cannot be read"

# ---- install -------------------------------------------------------------
echo "== install"
out=$(w "$EXE" install --config "$CONF" --nats-url "$NATS_URL" --id "$ID" 2>&1); rc=$?
check_eq "install exits 0" "$rc" 0
check_match "install reports the written config" "$out" "config +: C:.ProgramData.Kanade.config.agent\.conf \(written\)"
check_match "service registered" "$(svc_state)" "^STOPPED$"
# `sc query` sees it too (retried: Wine's sc sometimes prints nothing).
sc_seen=""
for i in 1 2 3 4 5 6; do
    sc_seen=$(wine sc query KanadeAgent 2>&1 | tr -d '\r')
    case "$sc_seen" in *"SERVICE_NAME: KanadeAgent"*) break ;; esac
    sleep 0.5
done
check_match "sc query KanadeAgent" "$sc_seen" "SERVICE_NAME: KanadeAgent"
reg=$(wine reg query 'HKLM\System\CurrentControlSet\Services\KanadeAgent' 2>/dev/null | tr -d '\r')
check_match "binPath quotes the exe and the config" "$reg" \
    'ImagePath +REG_SZ +"C:\\Program Files\\Kanade\\kanade-agent\.exe" service --config "C:\\ProgramData\\Kanade\\config\\agent\.conf"'
check_match "automatic start" "$reg" "Start +REG_DWORD +0x2"
check_match "description set" "$reg" "Description +REG_SZ +Kanade fleet agent"
check_match "config has the id" "$(cat "$KDIR/config/agent.conf" 2>/dev/null)" "id = \"$ID\""
check_match "config has the broker" "$(cat "$KDIR/config/agent.conf" 2>/dev/null)" "nats_url = \"$NATS_URL\""
check "data and logs folders exist" test -d "$KDIR/data" -a -d "$KDIR/logs"
out=$(w "$EXE" install --config "$CONF" --nats-url nats://elsewhere:4222 --id "$ID" 2>&1); rc=$?
check_eq "second install exits 0 (idempotent)" "$rc" 0
check_match "second install keeps the config" "$out" "\(kept\)"
check_match "kept config still points at the test broker" "$(cat "$KDIR/config/agent.conf")" "nats_url = \"$NATS_URL\""
out=$(w "$EXE" install --config 'C:\cfg\other.conf' --nats-url "$NATS_URL" --id 'no spaces' 2>&1); rc=$?
check_eq "install with an invalid --id is a usage error" "$rc" 2
check_match "install names the bad id" "$out" "--id \"no spaces\" is invalid"

# ---- plaintext brokers and credentials in URLs ------------------------------
echo "== plaintext to another host; credentials in URLs"
out=$(w "$EXE" install --config 'C:\cfg\plain.conf' --nats-url 'nats://alice:pw-S3CRET@192.0.2.7:4222' --id plain-1 2>&1); rc=$?
check_eq "plaintext install to a non-loopback host is a usage error" "$rc" 2
check_match "the refusal names the URL, redacted, and the way out" "$out" \
    "nats://alice:\*\*\*@192\.0\.2\.7:4222 is plaintext to a non-loopback host.*--allow-plaintext"
check_nomatch "the refusal does not print the password" "$out" "pw-S3CRET"
check "nothing written for the refused install" test ! -e "$CD/plain.conf"
# The console agent with such a config: a warning at start, the URL redacted.
printf '[agent]\nid = "plain-1"\nnats_url = "nats://alice:pw-S3CRET@192.0.2.7:4222"\n' > "$CD/plain.conf"
mark
wine "$EXE" run --config 'C:\cfg\plain.conf' >"$T_DIR/run-plain.out" 2>&1 &
RUN_PID=$!
check "plaintext to a non-loopback host: warned at start" \
    wait_since "WARN plaintext connection to a non-loopback broker \(nats://alice:\*\*\*@192\.0\.2\.7:4222\)" 30
check "start line shows the URL redacted" wait_since "nats_url=nats://alice:\*\*\*@192\.0\.2\.7:4222 mode=console" 5
kill -INT "$RUN_PID" 2>/dev/null
wait "$RUN_PID"
check_nomatch "the password is in no log line" "$(since)" "pw-S3CRET"
check_nomatch "nor on the console" "$(tr -d '\r' <"$T_DIR/run-plain.out")" "pw-S3CRET"

# ---- start, heartbeat, status, ping ---------------------------------------
echo "== start through the SCM, before the operator created the buckets"
mark
sc_start
check "service reports RUNNING" wait_state RUNNING 30
check "agent connected to the broker" wait_since "INFO connected to broker" 60
check "start line names version, pc_id and broker" \
    wait_since "starting kanade-agent version=$VERSION_RUN pc_id=$ID nats_url=$NATS_URL mode=service" 1
check "a missing bucket: one line naming kanade broker init" \
    wait_since "WARN bucket agent_config does not answer \(it does not exist, or JetStream is down\); agents do not create buckets: the operator runs .kanade broker init. \(attempt 1, retrying in about 1 s\)" 30
sleep 4
n=$(since | grep -c "does not answer")
check "not a tight loop: at most 3 such lines in about 5 s (each read waits 5 s)" test "$n" -ge 1 -a "$n" -le 3
check_nomatch "the agent created no bucket" "$(w "$TNATS" --server "$NATS_URL" req '$JS.API.STREAM.NAMES' '' 2>&1)" "KV_agent"
check "kanade broker init" cli broker init
# A short heartbeat_interval from the global scope keeps the waits short.
cli jetstream kv put agent_config global '{"heartbeat_interval":"5s"}' >/dev/null
check "the agent binds the buckets once they exist" wait_since "buckets ready" 30
check "first evaluation logged" wait_since "checking target_version: running=$VERSION_RUN target=\(none\) scope=\(none\)" 60
check "heartbeat_interval from the global scope" wait_since "heartbeat_interval: 5000 ms" 30

hb=$(w "$TOOL" sub "$NATS_URL" "heartbeat.$ID" 30000)
check_eq "heartbeat: pc_id" "$(printf '%s' "$hb" | jfield pc_id)" "$ID"
check_eq "heartbeat: agent_version" "$(printf '%s' "$hb" | jfield agent_version)" "$VERSION_RUN"
check_eq "heartbeat: os_family" "$(printf '%s' "$hb" | jfield os_family)" windows
check_eq "heartbeat: transport (no CA: plaintext)" "$(printf '%s' "$hb" | jfield transport)" plaintext
check_nomatch "no plaintext warning for a loopback broker" "$(since)" "WARN plaintext"
check_eq "heartbeat: update_state" "$(printf '%s' "$hb" | jfield update_state)" idle
check_match "heartbeat: at is RFC 3339 UTC" "$(printf '%s' "$hb" | jfield at)" '^20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z$'
check_eq "heartbeat: no quarantined_versions when none" "$(printf '%s' "$hb" | jfield quarantined_versions)" ""
want_digest=$(nats_digest "$AGENT")
check_eq "heartbeat: exe_sha256 is the running image's digest" "$(printf '%s' "$hb" | jfield exe_sha256)" "$want_digest"
check "agent_status/$ID holds the document" wait_status pc_id "$ID" 30
check_eq "agent_status: agent_version" "$(status | jfield agent_version)" "$VERSION_RUN"

out=$(cli ping "$ID" --timeout 10s 2>&1); rc=$?
check_eq "kanade ping answered" "$rc" 0
check_match "ping shows the agent's version" "$out" "$VERSION_RUN"

# ---- rollout to a pc scope ----------------------------------------------
echo "== rollout"
FX="$BUILD/fixtures"
if [ ! -f "$FX/strings_only.exe" ]; then FX="$T_DIR/fixtures"; bash "$(dirname "$0")/pe_fixtures.sh" "$FX" >/dev/null 2>&1; fi
check "publish a release (fixture with version 3.1.4)" cli agent publish "$FX/strings_only.exe"
mark
out=$(cli agent rollout 3.1.4 --pcs "$ID" --jitter 1000h 2>&1); rc=$?
check_eq "rollout --pcs exits 0" "$rc" 0
check "checking line for the pc scope" \
    wait_since "checking target_version: running=$VERSION_RUN target=3\.1\.4 scope=pcs\.$ID" 30
check "status: target_version" wait_status target_version 3.1.4 30
check_eq "status: target_scope" "$(status | jfield target_scope)" "pcs.$ID"
check_match "status: update_state pending or scheduled" "$(status | jfield update_state)" '^(pending|scheduled)$'

# ---- groups -----------------------------------------------------------------
echo "== group membership"
mark
cli jetstream kv del agent_config "pcs.$ID" >/dev/null
check "pc scope deleted: no target" wait_since "checking target_version: running=$VERSION_RUN target=\(none\) scope=\(none\)" 30
check "status: idle again" wait_status update_state idle 30
mark
check "rollout --groups canary" cli agent rollout 3.1.4 --groups canary --jitter 1000h
# The agent reads only its own groups' keys: another group's change does
# not even wake an evaluation.
sleep 3
check_nomatch "not in canary: the target does not reach it" "$(since)" "target=3\.1\.4"
mark
check "kanade agent groups --add canary" cli agent groups "$ID" --add canary
check "membership logged" wait_since "groups: canary" 30
check "target from the group scope" \
    wait_since "checking target_version: running=$VERSION_RUN target=3\.1\.4 scope=groups\.canary" 30
check "status: target_scope groups.canary" wait_status target_scope groups.canary 30
mark
check "kanade agent groups --remove canary" cli agent groups "$ID" --remove canary
check "left canary: no target" wait_since "checking target_version: running=$VERSION_RUN target=\(none\)" 30

# ---- broker restart: the watch resumes, no stale revision ------------------
echo "== broker restart"
cli jetstream kv put agent_config "pcs.$ID" '{"target_version":"7.0.0","target_version_jitter":"1000h"}' >/dev/null
check "target A seen" wait_since "target=7\.0\.0 scope=pcs\.$ID" 30
cli jetstream kv put agent_config "pcs.$ID" '{"target_version":"7.0.1","target_version_jitter":"1000h"}' >/dev/null
check "target B seen" wait_since "target=7\.0\.1 scope=pcs\.$ID" 30
seen_a=$(agent_log | grep -c "target=7\.0\.0")
mark
nats_restart
# Written at once, before the agent is back (it reconnects after a delay):
# its notification is lost, and the read on reconnect must catch it.
cli jetstream kv put agent_config global '{"heartbeat_interval":"7s"}' >/dev/null
check "reconnected after the restart" wait_since "INFO (re)?connected to broker" 90
check "a change made while the agent was away is read on reconnect" wait_since "heartbeat_interval: 7000 ms" 30
# A change after the restart proves the watch resumed.
cli jetstream kv put agent_config global '{"heartbeat_interval":"6s"}' >/dev/null
check "a change notified after the restart is followed" wait_since "heartbeat_interval: 6000 ms" 60
check "evaluation after the restart keeps target B" \
    wait_since "checking target_version: running=$VERSION_RUN target=7\.0\.1 scope=pcs\.$ID" 30
check_eq "target A never applied again" "$(agent_log | grep -c "target=7\.0\.0")" "$seen_a"
check "status still reports target B" wait_status target_version 7.0.1 30

# ---- a bucket deleted and recreated under the running agent -----------------
echo "== agent_config deleted and recreated"
mark
out=$(w "$TNATS" --server "$NATS_URL" req '$JS.API.STREAM.DELETE.KV_agent_config' '' 2>&1)
check_match "stream KV_agent_config deleted" "$out" '"success":true'
check "kanade broker init recreates it" cli broker init
# The recreated stream numbers revisions from 1 again, below the old marks:
# a lower revision written later tells the agent the bucket is new, and it
# must apply (the marks go with the old bucket).
cli jetstream kv put agent_config "pcs.$ID" '{"target_version":"7.0.2","target_version_jitter":"1000h"}' >/dev/null
check "the recreated bucket is noticed" wait_since "agent_config/pcs\.$ID revision 1 was written after revision [0-9]+: the bucket was recreated; forgetting the config" 30
check "buckets read again" wait_since "buckets ready" 30
check "a low revision in the recreated bucket applies" \
    wait_since "checking target_version: running=$VERSION_RUN target=7\.0\.2 scope=pcs\.$ID" 30

# ---- stop ----------------------------------------------------------------------
echo "== stop"
mark
wine sc stop KanadeAgent >/dev/null 2>&1
check "service reports STOPPED" wait_state STOPPED 20
check "clean stop logged" wait_since "stopped \(exit code 0\)" 20

# ---- cold broker ---------------------------------------------------------------
echo "== cold broker: the agent starts 30 s before the broker"
nats_stop
mark
sc_start
check "service RUNNING without a broker" wait_state RUNNING 30
check "waiting for the broker" wait_since "waiting for broker" 30
sleep 30
nats_start
hb=$(w "$TOOL" sub "$NATS_URL" "heartbeat.$ID" 150000)
check_eq "heartbeat once the broker is up" "$(printf '%s' "$hb" | jfield pc_id)" "$ID"
check "buckets opened after the cold start" wait_since "buckets ready" 30
check "evaluation after the cold start" wait_since "checking target_version: running=$VERSION_RUN target=7\.0\.2" 30
check_eq "no restart of the agent" "$(since | grep -c 'starting kanade-agent')" 1
mark
wine sc stop KanadeAgent >/dev/null 2>&1
check "stopped again" wait_state STOPPED 20

# ---- console mode -----------------------------------------------------------------
echo "== run (console) and Ctrl+C"
mark
wine "$EXE" run --config "$CONF" >"$T_DIR/run.out" 2>&1 &
RUN_PID=$!
check "console agent connects" wait_since "INFO connected to broker" 60
check_match "console echoes the log" "$(tr -d '\r' <"$T_DIR/run.out")" "mode=console"
# One agent per data folder: a second one (a second console, or the service)
# would delete the first one's download or rewrite its update state.
out=$(timeout 60 wine "$EXE" run --config "$CONF" 2>&1); rc=$?
check "a second agent on the same data folder refuses to start (exit $rc)" test "$rc" -ne 0 -a "$rc" -ne 124
check_match "it says another agent uses the data folder" "$out" "another kanade-agent .* is using .*Kanade.data: stop it first"
kill -INT "$RUN_PID" 2>/dev/null
rc=124
for i in $(seq 1 40); do
    if ! kill -0 "$RUN_PID" 2>/dev/null; then wait "$RUN_PID"; rc=$?; break; fi
    sleep 0.5
done
check_eq "Ctrl+C ends run with exit code 0" "$rc" 0
check "Ctrl+C logged a clean stop" wait_since "stopped \(exit code 0\)" 5

# ---- uninstall -------------------------------------------------------------------
echo "== uninstall"
sc_start
wait_state RUNNING 30
mark
out=$(w "$EXE" uninstall 2>&1); rc=$?
check_eq "uninstall exits 0" "$rc" 0
check "the running service was stopped first" wait_since "stopped \(exit code 0\)" 10
check_eq "service gone" "$(svc_state)" NOT_INSTALLED
check "config kept" test -f "$KDIR/config/agent.conf"
out=$(w "$EXE" uninstall 2>&1); rc=$?
check_eq "uninstall again exits 0" "$rc" 0
agent_log >"$T_DIR/agent.log"      # kept for a post-mortem: purge deletes it
out=$(w "$EXE" uninstall --purge 2>&1); rc=$?
check_eq "uninstall --purge exits 0" "$rc" 0
check "purge removed ProgramData\\Kanade" test ! -e "$KDIR"

# ---- a Kanade folder another account owns ------------------------------------
# A standard user who creates %ProgramData%\Kanade before install (or after a
# purge) may plant a config or an update job there. Wine shows a folder owned
# by another Unix user as owned by another account (not this process's user,
# SYSTEM or Administrators), which is what the check looks at; Wine cannot
# show a Windows ACE that grants such a user delete-child on a folder we own.
echo "== a Kanade folder another account owns"
if [ "$(id -u)" = 0 ]; then
    mkdir -p "$KDIR/config"
    chown -R 65534:65534 "$KDIR"
    out=$(w "$EXE" install --config "$CONF" --nats-url "$NATS_URL" --id "$ID" 2>&1); rc=$?
    check_eq "install refuses a ProgramData\\Kanade another account owns (exit 1)" "$rc" 1
    check_match "install says who owns it and what to do" "$out" "Kanade is owned by .*not SYSTEM or Administrators.*delete it"
    check "nothing written into the foreign folder" test ! -e "$KDIR/config/agent.conf"
    check_eq "no service registered" "$(svc_state)" NOT_INSTALLED
    printf '[agent]\nid = "%s"\nnats_url = "%s"\n' "$ID" "$NATS_URL" > "$CD/foreign.conf"
    out=$(timeout 60 wine "$EXE" run --config 'C:\cfg\foreign.conf' 2>&1); rc=$?
    check "run refuses to write into it (exit $rc)" test "$rc" -ne 0 -a "$rc" -ne 124
    check_match "run says why" "$out" "owned by .*refusing to run from or write into it"
    check "run wrote no log or data into it" test ! -e "$KDIR/logs" -a ! -e "$KDIR/data"
    rm -rf "$KDIR"
else
    bad "this check needs root to create a folder another Unix user owns"
fi

# ---- credentials from the config -------------------------------------------
echo "== token auth from agent.conf"
nats_stop
NATS_PORT=$(free_port)
NATS_SD="$T_DIR/js-token"
nats_start --auth s3cret-token
printf '[agent]\nid = "%s"\nnats_url = "%s"\n[auth]\ntoken = "s3cret-token"\n' "$ID" "$NATS_URL" > "$CD/token.conf"
mark
wine "$EXE" run --config 'C:\cfg\token.conf' >"$T_DIR/run-token.out" 2>&1 &
RUN_PID=$!
check "connects with the token from the config" wait_since "INFO connected to broker" 60
out=$(w "$TOOL" sub "$NATS_URL" "heartbeat.$ID" 5000 2>&1)
check_match "the broker refuses a client without the token" "$out" "(uthorization|AUTH)"
kill -INT "$RUN_PID" 2>/dev/null
wait "$RUN_PID"
check_eq "token run stops cleanly" "$?" 0
# The token inside the URL instead: it authenticates, and no line shows it.
printf '[agent]\nid = "%s"\nnats_url = "nats://s3cret-token@127.0.0.1:%s"\n' "$ID" "$NATS_PORT" > "$CD/urltoken.conf"
mark
wine "$EXE" run --config 'C:\cfg\urltoken.conf' >"$T_DIR/run-urltoken.out" 2>&1 &
RUN_PID=$!
check "connects with the token from the URL" wait_since "INFO connected to broker nats://\*\*\*@127\.0\.0\.1:$NATS_PORT" 60
kill -INT "$RUN_PID" 2>/dev/null
wait "$RUN_PID"
check_nomatch "the URL's token is in no log line" "$(since)" "s3cret-token"
check_nomatch "nor on the console" "$(tr -d '\r' <"$T_DIR/run-urltoken.out")" "s3cret-token"

t_summary
