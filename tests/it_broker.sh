#!/usr/bin/env bash
# it_broker.sh — 'kanade broker config' and 'kanade broker init' against a
# real nats-server: the generated two-account config loads, broker init
# creates every bucket and reports (never changes) one that differs, the operator works in FLEET with the
# operator.env credentials, re-running keeps passwords and adds PCs, and a
# PC's credential used through nats.js as an attacker is refused or lands
# nowhere (agent_config unchanged, no other PC's status written).
source "$(dirname "$0")/lib.sh"
KANADE="$BUILD/kanade.exe"
IDIR=$(cd "$(dirname "$0")/interop" && pwd)
[ -f "$KANADE" ] || { echo "missing $KANADE (make BUILD=$BUILD)"; exit 1; }
if [ ! -d "$IDIR/node_modules/@nats-io/transport-node" ]; then
    (cd "$IDIR" && npm ci --no-audit --no-fund) >"$T_DIR/npm.log" 2>&1 \
        || { cat "$T_DIR/npm.log"; echo "npm ci failed"; exit 1; }
fi
wine_prefix
D="$T_DIR/broker"
wp() { printf 'Z:%s' "${1//\//\\}"; }
K0() { w "$KANADE" "$@"; }
wait_status_pc1() { local i; for ((i = 0; i < $1; i++)); do K jetstream kv get agent_status pc1 2>/dev/null | grep -q '"agent_version"' && return 0; sleep 1; done; return 1; }

echo "# broker config: files, passwords, re-runs"
out=$(K0 broker config --pcs pc1,pc2 --out "$(wp "$D")"); rc=$?
check_eq "broker config exits 0" "$rc" 0
# A DIR so long that DIR\agents\<pc>.auth would be cut short: refused
# before anything is written, never written under a truncated name.
lout=$(K0 broker config --pcs pc1 --out "C:\\$(printf 'd%.0s' $(seq 1 760))" 2>&1); lrc=$?
check_eq "broker config --out too long: usage error (exit 2)" "$lrc" 2
check_match "broker config --out too long: says so" "$lout" "--out '.*' is too long"
check_match "says what it wrote" "$out" "2 pcs \(2 new, 0 kept\), operator kanade-operator created"
check "nats-server accepts the config" nats-server -c "$D/nats-server.conf" -t
check_match "pc1.auth holds user= and password=" "$(cat "$D/agents/pc1.auth")" "^user=pc1
password=[A-Za-z0-9]{32}$"
check_match "operator.env holds the operator" "$(cat "$D/operator.env")" "^KANADE_NATS_USER=kanade-operator
KANADE_NATS_PASSWORD=[A-Za-z0-9]{32}$"
p1=$(cat "$D/agents/pc1.auth"); op=$(cat "$D/operator.env")
check_nomatch "passwords differ per pc" "$(sed -n 2p "$D/agents/pc2.auth")" "^$(sed -n 2p "$D/agents/pc1.auth")$"
printf 'pc3\n# a comment\npc4, pc1\n' >"$D/pcs.txt"
out=$(K0 broker config --pcs "$(wp "$D/pcs.txt")" --out "$(wp "$D")")
check_match "a re-run from a file adds pcs" "$out" "4 pcs \(2 new, 2 kept\), operator kanade-operator kept"
check_eq "pc1's password kept" "$(cat "$D/agents/pc1.auth")" "$p1"
check_eq "the operator's password kept" "$(cat "$D/operator.env")" "$op"
check "pc2 (not named again) still in the config" grep -q 'user: "pc2"' "$D/nats-server.conf"
out=$(K0 broker config --pcs "pc5,a.b" --out "$(wp "$D")" 2>&1); rc=$?
check_eq "a bad pc id is a usage error" "$rc" 2
check_match "and names the id" "$out" "'a.b' is not a valid id"
check "nothing written for it" test ! -e "$D/agents/pc5.auth"
K0 broker config --out "$(wp "$D")" >/dev/null 2>&1; check_eq "--pcs is required" "$?" 2

echo "# the generated config under a real nats-server"
nats_start -c "$D/nats-server.conf"
source "$D/operator.env"
K() { K0 --server "$NATS_URL" --user "$KANADE_NATS_USER" --password "$KANADE_NATS_PASSWORD" "$@"; }
TOOLJS="$BUILD/wtest/tool_js.exe"
OPURL="nats://$KANADE_NATS_USER:$KANADE_NATS_PASSWORD@127.0.0.1:$NATS_PORT"

echo "# broker init: creates every bucket, reports an existing one that differs"
check "a bucket made by hand with history 3 (kanade uses 1)" w "$TOOLJS" -s "$OPURL" kv-open agent_rollouts 3
out=$(K broker init 2>&1); rc=$?
check_eq "broker init exits 1 when a bucket differs" "$rc" 1
for b in 'KV bucket agent_config' 'KV bucket agent_groups' 'KV bucket agent_status' 'object store agent_releases'; do
    check_match "created $b" "$out" "created $b \(.*allow_direct\)"
done
check_match "the difference on one line" "$out" "agent_rollouts: history \(max_msgs_per_subject\) is 3, kanade uses 1"
check_match "and left unchanged" "$out" "found KV bucket agent_rollouts: 1 setting differs \(left unchanged\)"
check_match "the bucket still has history 3" "$(w "$TOOLJS" -s "$OPURL" api STREAM.INFO.KV_agent_rollouts)" '"max_msgs_per_subject":3'
for s in KV_agent_config KV_agent_groups KV_agent_status OBJ_agent_releases; do
    check_match "$s has allow_direct" "$(w "$TOOLJS" -s "$OPURL" api STREAM.INFO.$s)" '"allow_direct":true'
done
check_match "agent_status keeps a day" "$(w "$TOOLJS" -s "$OPURL" api STREAM.INFO.KV_agent_status)" '"max_age":86400000000000'
w "$TOOLJS" -s "$OPURL" api STREAM.DELETE.KV_agent_rollouts >/dev/null
out=$(K broker init 2>&1); rc=$?
check_eq "after deleting it, broker init exits 0" "$rc" 0
check_match "it creates only agent_rollouts" "$out" "broker ready: 1 bucket created, 4 already there"
out=$(K broker init 2>&1); rc=$?
check_eq "a re-run exits 0 (idempotent)" "$rc" 0
check_match "and creates nothing" "$out" "broker ready: 0 buckets created, 5 already there"
check_eq "one 'settings match' line per bucket" "$(printf '%s\n' "$out" | grep -c 'settings match')" 5
out=$(K broker init --replicas 3 2>&1); rc=$?
check_match "--replicas 3 against R1 buckets: one line each" "$(printf '%s\n' "$out" | grep -c 'replicas is 1, --replicas asked for 3')" 5

check "the operator writes agent_config/global" K jetstream kv put agent_config global '{"target_version":"1.0.0"}'
check "the operator writes agent_config/pcs.pc2" K jetstream kv put agent_config pcs.pc2 '{"x":1}'
check "the operator writes agent_status/seed" K jetstream kv put agent_status seed '{}'
g0=$(K --json jetstream kv get agent_config global); q0=$(K --json jetstream kv get agent_config pcs.pc2)
K0 --server "$NATS_URL" --user pc1 --password nope jetstream kv get agent_config global >/dev/null 2>&1
check_eq "a wrong password is refused" "$?" 4

echo "# pc1's credential as an attacker (nats.js)"
P1=$(sed -n 's/^password=//p' "$D/agents/pc1.auth")
a=$(node "$IDIR/attack.mjs" "$NATS_URL" pc1 "$P1" 2>&1)
for s in '\$KV.agent_config.global' '\$KV.agent_status.pc2' '\$JS.API.DIRECT.GET.KV_agent_config.\$KV.agent_config.pcs.pc2' \
         '\$O.agent_releases.C.evil' '\$JS.API.STREAM.DELETE.KV_agent_config' '\$JS.API.STREAM.PURGE.KV_agent_config' \
         '\$JS.API.CONSUMER.CREATE.KV_agent_config' '\$JS.API.CONSUMER.DELETE.KV_agent_config.x'; do
    check_match "refused: publish to $s" "$a" "Permissions Violation for Publish to \"$s\""
done
check_match "its own status put is acknowledged" "$a" 'status-own answered \{"stream":"KV_agent_status"'
for c in read-other-pcs obj-put stream-delete stream-purge consumer-create consumer-delete; do
    check_match "$c gets no answer" "$a" "$c no-answer"
done
check_eq "agent_config/global unchanged (forged replies landed nowhere)" "$(K --json jetstream kv get agent_config global)" "$g0"
check_eq "agent_config/pcs.pc2 unchanged" "$(K --json jetstream kv get agent_config pcs.pc2)" "$q0"
K jetstream kv get agent_status pc2 >/dev/null 2>&1; check_eq "no agent_status/pc2 written" "$?" 3
check_eq "agent_status/pc1 holds pc1's own put" "$(K jetstream kv get agent_status pc1)" '{"pc_id":"pc1"}'

echo "# a PC's credential in the CLI: a refusal names the missing right"
out=$(K0 --server "$NATS_URL" --user pc1 --password "$P1" jetstream kv put agent_config global '{}' 2>&1); rc=$?
check_eq "the CLI exits 1 on a permissions violation" "$rc" 1
check_match "and says what was refused and why, on one line" "$out" \
    "^kanade: cannot open KV bucket agent_config: stream info of KV_agent_config refused: this account may read only the stream info of KV_agent_rollouts$"

echo "# kanade-agent install --auth-file"
AGENT="$BUILD/kanade-agent.exe"
CD="$WINEPREFIX/drive_c/cfg"; mkdir -p "$CD"
cp "$D/agents/pc1.auth" "$CD/pc1.auth"
printf 'user=pc1\n' >"$CD/broken.auth"
out=$(w "$AGENT" install --config 'C:\cfg\x.conf' --nats-url "$NATS_URL" --auth-file 'C:\cfg\pc1.auth' --id pc2 2>&1); rc=$?
check_eq "an .auth file of another pc than --id: usage error" "$rc" 2
check_match "saying the broker lets it act only as pc1" "$out" "pc1's credential but --id is pc2: the broker lets it act only as pc1"
out=$(w "$AGENT" install --config 'C:\cfg\x.conf' --nats-url "$NATS_URL" --auth-file 'C:\cfg\broken.auth' 2>&1); rc=$?
check_eq "a broken .auth file: usage error" "$rc" 2
check_match "named as such" "$out" "broken.auth is not an .auth file"
out=$(w "$AGENT" install --config 'C:\cfg\x.conf' --nats-url "$NATS_URL" --auth-file 'C:\cfg\pc1.auth' --token t 2>&1); rc=$?
check_eq "--auth-file with --token: usage error" "$rc" 2
check "nothing written for the refused installs" test ! -e "$CD/x.conf"
out=$(w "$AGENT" install --config 'C:\cfg\pc1.conf' --nats-url "$NATS_URL" --auth-file 'C:\cfg\pc1.auth' 2>&1); rc=$?
check_eq "install --auth-file exits 0" "$rc" 0
conf=$(tr -d '\r' <"$CD/pc1.conf")
check_match "the config's id is the .auth user" "$conf" '^id = "pc1"'
check_match "the config holds the user" "$conf" '^user = "pc1"'
check_match "and the password" "$conf" "^password = \"$P1\""
check_nomatch "the password is not printed" "$out" "$P1"
# The agent with that config, in a console: it authenticates as pc1, reads
# its config with direct gets, follows change notifications, publishes its
# heartbeat and status and answers its ping, all within its rights.
KDIR="$WINEPREFIX/drive_c/ProgramData/Kanade"
agent_log() { cat "$KDIR"/logs/agent.*.log 2>/dev/null | tr -d '\r'; }
wait_log() { local i; for ((i = 0; i < $2 * 10; i++)); do agent_log | grep -Eq -- "$1" && return 0; sleep 0.1; done; return 1; }
K jetstream kv put agent_config pcs.pc1 '{"heartbeat_interval":"3s"}' >/dev/null
wine "$AGENT" run --config 'C:\cfg\pc1.conf' >"$T_DIR/run-pc1.out" 2>&1 &
RUN_PID=$!
ok_ping=
for _ in $(seq 1 60); do K ping pc1 --timeout 1s >/dev/null 2>&1 && { ok_ping=1; break; }; sleep 0.5; done
check "the agent with its .auth answers the operator's ping" test -n "$ok_ping"
check "it reads its config under its own credential" wait_log "buckets ready" 30
check "its own pcs. key applies" wait_log "heartbeat_interval: 3000 ms" 10
check "its status put lands in agent_status/pc1" wait_status_pc1 30
t0=$(date +%s%3N)
K jetstream kv put agent_config global '{"target_version":"9.9.9","target_version_jitter":"1000h"}' >/dev/null
check "a change notification reaches the agent in under 1 s" wait_log "target=9\.9\.9 scope=global" 1
echo "    notification to evaluation: $(( $(date +%s%3N) - t0 )) ms (including the CLI's own start)"
K agent groups pc1 --set ring1 >/dev/null
K jetstream kv put agent_config groups.ring1 '{"target_version":"9.9.8","target_version_jitter":"1000h"}' >/dev/null
check "joining a group: the group's key is read" wait_log "target=9\.9\.8 scope=groups\.ring1" 10
for st in KV_agent_config KV_agent_groups KV_agent_status KV_agent_rollouts OBJ_agent_releases; do
    check_match "no consumer on $st" "$(w "$TOOLJS" -s "$OPURL" api CONSUMER.NAMES.$st)" '"total":0'
done
check_nomatch "no permission error in the agent's log" "$(agent_log)" "refused|ermission"
kill -INT "$RUN_PID" 2>/dev/null; wait "$RUN_PID"
w "$AGENT" uninstall >/dev/null 2>&1
t_summary
