#!/usr/bin/env bash
# rollout.sh — self-update timings under Wine, printed as figures:
#
#   rollout latency  from `kanade agent rollout` returning to `kanade ping`
#                    first showing the new version, no jitter. Median of 5
#                    (RUNS=n to change), with its parts taken from the log
#                    lines' timestamps and the helper's own "in N ms" figures:
#                    notice (rollout -> pending), download, verify, hand-over
#                    (helper started), stop, replace, start (StartService
#                    until RUNNING), healthy (start request -> the new
#                    agent's healthy mark; it overlaps "start", since the
#                    agent reaches the broker while the SCM call returns),
#                    and ping (healthy mark -> the first ping answered by the
#                    new version, as seen by the polling CLI). "notice" is
#                    negative when the agent saw the change before the CLI
#                    process had exited.
#                    The versions cycle through three builds so that every
#                    run downloads (a rollback to .old would skip it).
#   rollback time    from the failing build's start to the old version
#                    answering ping (the build exits at once, so its start is
#                    its exit give or take a process start), and from the
#                    helper seeing the failure to the same ping. Median of 3
#                    (the quarantine is lifted between runs by rolling out
#                    another target first).
#
# Goals: rollout < 3 s, rollback < 30 s. Needs a finished build in $BUILD.
set -u
BUILD=${BUILD:-build}
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=$(cd "$BUILD" && pwd)
RUNS=${RUNS:-5}
B="$BUILD/bench/rollout"
rm -rf "$B"; mkdir -p "$B/versions"
NATS_PID=
cleanup() {
    if [ -n "${WINEPREFIX:-}" ] && [ -d "$WINEPREFIX" ]; then wineserver -k >/dev/null 2>&1; fi
    if [ -n "$NATS_PID" ]; then kill "$NATS_PID" 2>/dev/null; wait "$NATS_PID" 2>/dev/null; fi
}
trap cleanup EXIT
die() { echo "rollout.sh: $*" >&2; exit 1; }

source "$ROOT/tests/agent_versions.sh"
V="$B/versions"
cp "$BUILD/kanade-agent.exe" "$V/agent-0.1.0.exe"
agent_version 0.1.1 "$V/agent-0.1.1.exe" && agent_version 0.1.2 "$V/agent-0.1.2.exe" \
    && agent_fixture bad_exit 0.1.9 "$V/bad_exit-0.1.9.exe" || die "cannot build the versions"

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
mkdir -p "$B/js"
nats-server -js -sd "$B/js" -p "$PORT" -a 127.0.0.1 >"$B/nats.log" 2>&1 &
NATS_PID=$!
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done
URL="nats://127.0.0.1:$PORT"
export WINEPREFIX="$B/wineprefix" WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
wineboot -i >/dev/null 2>&1
# Restart the persistent wineserver once: a freshly booted prefix can run two
# services.exe, and Wine then ends the services whenever no process is left.
wineserver -p >/dev/null 2>&1; wineserver -k >/dev/null 2>&1; wineserver -p >/dev/null 2>&1
# The first wine process brings services.exe up, and the services inherit its
# stdout/stderr: give it files, not a pipe, or the pipe never closes.
wine sc query KanadeAgent >/dev/null 2>&1

K() { wine "$BUILD/kanade.exe" --server "$URL" "$@" 2>/dev/null | tr -d '\r'; return "${PIPESTATUS[0]}"; }
PF="$WINEPREFIX/drive_c/Program Files/Kanade"
LOGS="$WINEPREFIX/drive_c/ProgramData/Kanade/logs"
logs() { cat "$LOGS"/agent.*.log 2>/dev/null | tr -d '\r'; }
ping_version() { K ping canary-01 --timeout 1s | awk '$1 == "agent_version" { print $2 }'; }
state() { K jetstream kv get agent_status canary-01 | python3 -c 'import json,sys; print(json.load(sys.stdin).get("update_state",""))' 2>/dev/null; }
now_ms() { date +%s%3N; }
ts_ms() { date -d "$1" +%s%3N 2>/dev/null || echo 0; }
median() { sort -n | awk '{a[NR]=$1} END { if (NR == 0) print 0; else if (NR % 2) print a[(NR+1)/2]; else print int((a[NR/2]+a[NR/2+1])/2) }'; }

mkdir -p "$PF"
cp "$V/agent-0.1.0.exe" "$PF/kanade-agent.exe"
K broker init >/dev/null || die "broker init"
for f in agent-0.1.0 agent-0.1.1 agent-0.1.2 bad_exit-0.1.9; do
    K agent publish "$(winepath -w "$V/$f.exe" 2>/dev/null)" >/dev/null || die "publish $f"
done
wine "$PF/kanade-agent.exe" install --config 'C:\ProgramData\Kanade\config\agent.conf' \
    --nats-url "$URL" --id canary-01 >/dev/null 2>&1 || die "install failed"
# A fresh prefix's SCM refuses StartService for a few seconds: retry.
for _ in $(seq 1 30); do
    wine sc start KanadeAgent >/dev/null 2>&1
    wine sc query KanadeAgent 2>/dev/null | grep -q RUNNING && break
    sleep 1
done
for _ in $(seq 1 120); do [ "$(ping_version)" = 0.1.0 ] && break; sleep 0.5; done
[ "$(ping_version)" = 0.1.0 ] || die "the agent does not answer"

# first_ts REGEX: timestamp (ms) of the first log line since the mark matching REGEX.
first_ts() { ts_ms "$(logs | tail -n +$((MARK + 1)) | grep -E -m1 -- "$1" | awk '{print $1}')"; }
# helper_ms REGEX: the "in N ms" figure of the first matching line since the mark.
helper_ms() { logs | tail -n +$((MARK + 1)) | grep -E -m1 -- "$1" | sed -nE 's/.* in ([0-9]+) ms.*/\1/p'; }

echo "rollout latency under Wine (ms; median of $RUNS; rollout returns -> ping shows the new version)"
printf '%-4s %-7s %7s %7s %9s %7s %7s %7s %7s %7s %7s %7s\n' run to total notice download verify handover stop replace start healthy ping
cur=0.1.0
cycle=(0.1.1 0.1.2 0.1.0)
for i in $(seq 1 "$RUNS"); do
    to=${cycle[$(( (i - 1) % 3 ))]}
    MARK=$(logs | wc -l)
    K agent rollout "$to" --pcs canary-01 --jitter 0s >/dev/null || die "rollout $to"
    t0=$(now_ms)
    t1=
    for _ in $(seq 1 600); do
        if [ "$(ping_version)" = "$to" ]; then t1=$(now_ms); break; fi
    done
    [ -n "$t1" ] || die "run $i: no flip to $to"
    sleep 1                                    # let the last log lines land
    pend=$(first_ts "-> pending \(target $to\)")
    dl=$(first_ts "-> downloading \(target $to\)")
    ver=$(first_ts "-> verifying \(target $to\)")
    swp=$(first_ts "-> swapping \(target $to\)")
    hlp=$(first_ts "swap: helper pid")
    stop=$(helper_ms "swap: stop:")
    repl=$(helper_ms "swap: replace:")
    start=$(helper_ms "swap: start:")
    healthy=$(logs | tail -n +$((MARK + 1)) | grep -E -m1 "swap: healthy:" | sed -nE 's/.* ([0-9]+) ms after its start.*/\1/p')
    mark_ts=$(first_ts "reached the broker: marked healthy")
    total=$((t1 - t0))
    printf '%-4s %-7s %7d %7d %9d %7d %7d %7s %7s %7s %7s %7d\n' "$i" "$to" "$total" $((pend - t0)) \
        $((ver - dl)) $((swp - ver)) $((hlp - swp)) "${stop:-?}" "${repl:-?}" "${start:-?}" "${healthy:-?}" \
        $((t1 - mark_ts))
    echo "$total" >> "$B/totals"
    cur=$to
done
med=$(median < "$B/totals")
echo "rollout latency: median ${med} ms over $RUNS runs (goal < 3000 ms)"

echo
echo "rollback time under Wine (ms; -> the old version answers ping)"
for i in 1 2 3; do
    MARK=$(logs | wc -l)
    K agent rollout 0.1.9 --pcs canary-01 --jitter 0s >/dev/null || die "rollout 0.1.9"
    t1=
    for _ in $(seq 1 1200); do
        line=$(logs | tail -n +$((MARK + 1)) | grep -E -m1 "swap: new agent 0.1.9 (exited|did not start|is not running)")
        if [ -n "$line" ] && [ "$(ping_version)" = "$cur" ]; then t1=$(now_ms); break; fi
        sleep 0.1
    done
    [ -n "$t1" ] || die "rollback run $i: the old version did not come back"
    tf=$(ts_ms "$(echo "$line" | awk '{print $1}')")
    ts=$(first_ts "swap: replace:")
    rb=$(helper_ms "rollback: restored")
    echo "run $i: $((t1 - ts)) ms from the bad build's start, $((t1 - tf)) ms from the helper seeing the failure (restore ${rb:-?} ms)"
    echo $((t1 - ts)) >> "$B/rollbacks"
    # Lift the quarantine for the next run: another target, then 0.1.9 again.
    for _ in $(seq 1 100); do [ "$(state)" = rolled_back ] && break; sleep 0.2; done
    K agent rollout "$cur" --pcs canary-01 >/dev/null
    sleep 2
done
echo "rollback time: median $(median < "$B/rollbacks") ms over 3 runs from the bad build's start (goal < 30000 ms)"
