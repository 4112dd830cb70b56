#!/usr/bin/env bash
# demo.sh — `make demo`: the operator's canary flow end to end on this machine.
#
# Installs what is missing, builds kanade-agent 0.1.0 and 0.1.1, starts a
# local nats-server with JetStream and a fresh Wine prefix, makes a release
# key, installs 0.1.0 as the service KanadeAgent (id canary-01) trusting that
# key, publishes 0.1.1 signed, rolls it out to canary-01 with a signed target
# and shows `kanade ping` flip from 0.1.0 to 0.1.1. Then it prints
# `kanade agent status` and the agent's log lines for the update, and shuts
# everything down (nothing is left running, whatever happens).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DEMO="$ROOT/build/demo"
T0=$SECONDS
NATS_PID=

step() { printf '\n== [%3ds] %s\n' $((SECONDS - T0)) "$*"; }
die() { echo "demo: $*" >&2; exit 1; }

cleanup() {
    if [ -n "${WINEPREFIX:-}" ] && [ -d "$WINEPREFIX" ]; then
        wine sc stop KanadeAgent >/dev/null 2>&1
        wineserver -k >/dev/null 2>&1
    fi
    if [ -n "$NATS_PID" ]; then kill "$NATS_PID" 2>/dev/null; wait "$NATS_PID" 2>/dev/null; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step "installing what is missing (scripts/deps.sh) and building 0.1.0 and 0.1.1"
make -s deps >/dev/null || die "scripts/deps.sh failed"
make -s >/dev/null || die "make failed"
make -s VERSION=0.1.1 BUILD=build-0.1.1 build-0.1.1/kanade-agent.exe >/dev/null || die "make VERSION=0.1.1 failed"
echo "build/kanade-agent.exe ($(wc -c < build/kanade-agent.exe) bytes), build-0.1.1/kanade-agent.exe, build/kanade.exe"

step "starting nats-server with JetStream on a free port"
rm -rf "$DEMO"; mkdir -p "$DEMO/js"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
nats-server -js -sd "$DEMO/js" -p "$PORT" -a 127.0.0.1 >"$DEMO/nats.log" 2>&1 &
NATS_PID=$!
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done
export KANADE_NATS_URL="nats://127.0.0.1:$PORT"
echo "$KANADE_NATS_URL (pid $NATS_PID, store $DEMO/js)"

step "creating a fresh Wine prefix (wineboot takes ~10 s)"
export WINEPREFIX="$DEMO/wineprefix" WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
wineboot -i >/dev/null 2>&1
# Restart the persistent wineserver once: a freshly booted prefix can run two
# services.exe, and Wine then ends the services whenever no process is left.
wineserver -p >/dev/null 2>&1; wineserver -k >/dev/null 2>&1; wineserver -p >/dev/null 2>&1
# The first wine process brings services.exe up, and the services inherit its
# stdout/stderr: give it files, not a pipe, or the pipe never closes.
wine sc query KanadeAgent >/dev/null 2>&1
echo "$WINEPREFIX"

K() { wine "$ROOT/build/kanade.exe" "$@" 2>&1 | tr -d '\r'; return "${PIPESTATUS[0]}"; }
PF="$WINEPREFIX/drive_c/Program Files/Kanade"
LOGS="$WINEPREFIX/drive_c/ProgramData/Kanade/logs"

step "kanade broker init (the operator creates every bucket; agents never do)"
K broker init || die "broker init failed"

step "kanade agent keygen --out C:\\demo\\release.pem (the release key)"
mkdir -p "$WINEPREFIX/drive_c/demo"
K agent keygen --out 'C:\demo\release.pem' | tee "$DEMO/keygen.out" || die "keygen failed"
PUB=$(awk '/^public key: / { print $3 }' "$DEMO/keygen.out")
[ -n "$PUB" ] || die "keygen printed no public key"
export KANADE_SIGN_KEY='C:\demo\release.pem'

step "installing kanade-agent 0.1.0 as service KanadeAgent with id canary-01 and the release key, then starting it"
mkdir -p "$PF"
cp build/kanade-agent.exe "$PF/kanade-agent.exe"
wine "$PF/kanade-agent.exe" install --config 'C:\ProgramData\Kanade\config\agent.conf' \
    --nats-url "$KANADE_NATS_URL" --id canary-01 --release-key "$PUB" 2>&1 | tr -d '\r' || die "install failed"
# A fresh prefix's SCM refuses StartService for a few seconds: retry.
for _ in $(seq 1 30); do
    wine sc start KanadeAgent >/dev/null 2>&1
    wine sc query KanadeAgent 2>/dev/null | grep -q RUNNING && break
    sleep 1
done
for _ in $(seq 1 120); do K ping canary-01 --timeout 1s >/dev/null && break; sleep 0.5; done

step "kanade ping canary-01"
K ping canary-01 || die "the agent does not answer"

step "kanade agent publish build-0.1.1/kanade-agent.exe (signed: KANADE_SIGN_KEY)"
K agent publish "$(winepath -w "$ROOT/build-0.1.1/kanade-agent.exe" 2>/dev/null)" || die "publish failed"

step "kanade agent rollout 0.1.1 --pcs canary-01 (signed: KANADE_SIGN_KEY)"
K agent rollout 0.1.1 --pcs canary-01 || die "rollout failed"
t_roll=$(date +%s%N)

step "polling kanade ping canary-01 until agent_version flips"
flipped=
for _ in $(seq 1 240); do
    v=$(K ping canary-01 --timeout 1s 2>/dev/null | awk '$1 == "agent_version" { print $2 }')
    if [ "$v" = 0.1.1 ]; then flipped=$(( ($(date +%s%N) - t_roll) / 1000000 )); break; fi
    sleep 0.2
done
[ -n "$flipped" ] || die "canary-01 did not flip to 0.1.1 within 60 s (see $LOGS)"
K ping canary-01
printf '\nflip: 0.1.0 -> 0.1.1 in %d.%03d s (from `rollout` returning to the first ping showing 0.1.1)\n' \
    $((flipped / 1000)) $((flipped % 1000))

step "kanade agent status"
sleep 1
K agent status

step "the agent's log lines for the update (%ProgramData%\\Kanade\\logs)"
cat "$LOGS"/agent.*.log | tr -d '\r' | grep -E 'update:|swap:|starting kanade-agent|checking target_version|release keys|signed by key' | tail -n 40

step "shutting down (service, wineserver, nats-server)"
wine sc stop KanadeAgent >/dev/null 2>&1
cleanup
NATS_PID=
trap - EXIT
echo "done in $((SECONDS - T0)) s; nothing left running"
