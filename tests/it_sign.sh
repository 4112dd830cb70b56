#!/usr/bin/env bash
# it_sign.sh — signed releases and signed targets end to end: kanade.exe
# (keygen, publish/sign/rollout with --sign-key, releases, current) and one
# KanadeAgent service under Wine with the real SCM, against a real
# nats-server. nats.js reads the signature headers and plays the attacker
# (rewritten headers, the reply-subject trick); openssl checks the
# signature and makes two of the keys.
#
# Keys: A by `kanade agent keygen`, B by openssl ecparam (SEC1), C by openssl
# genpkey (PKCS#8). The agent first runs without keys (as before: unsigned
# builds swap, with a warning), then is installed again with A and B.
# Builds: 0.1.0 is the test agent; 0.1.1 ... 0.1.7 the same objects linked
# with another VERSIONINFO (tests/agent_versions.sh).
source "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
T_START=$SECONDS
IDIR="$ROOT/tests/interop"

for f in test/kanade-agent.exe kanade.exe; do
    if [ ! -f "$BUILD/$f" ]; then bad "missing $BUILD/$f (run: make units BUILD=$BUILD)"; t_summary; exit 1; fi
done
if [ ! -d "$IDIR/node_modules/@nats-io/obj" ]; then
    bad "tests/interop has no node_modules (run: cd tests/interop && npm ci)"; t_summary; exit 1
fi
VERS="$T_DIR/versions"
mkdir -p "$VERS"
source "$ROOT/tests/agent_versions.sh"
cp "$BUILD/test/kanade-agent.exe" "$VERS/agent-0.1.0.exe"
for v in 0.1.1 0.1.2 0.1.3 0.1.4 0.1.5 0.1.6 0.1.7; do
    agent_version "$v" "$VERS/agent-$v.exe" || { bad "link agent $v"; t_summary; exit 1; }
done
declare -A SHA
for v in 0.1.0 0.1.1 0.1.2 0.1.3 0.1.4 0.1.5 0.1.6 0.1.7; do
    SHA[$v]=$(sha256sum "$VERS/agent-$v.exe" | cut -d' ' -f1)
done
echo "builds ready ($((SECONDS - T_START))s)"

nats_start || { bad "nats-server did not start"; t_summary; exit 1; }
wine_prefix
wineserver -k
wineserver -p
wine sc query KanadeAgent >/dev/null 2>&1
PF="$WINEPREFIX/drive_c/Program Files/Kanade"
EXE="$PF/kanade-agent.exe"
PD="$WINEPREFIX/drive_c/ProgramData/Kanade"
DATA="$PD/data"
LOGS="$PD/logs"
KEYS="$WINEPREFIX/drive_c/keys"
mkdir -p "$PF" "$KEYS"
cp "$VERS/agent-0.1.0.exe" "$EXE"
PC=pc-sign

winpath() { winepath -w "$1" 2>/dev/null; }
K() { w "$BUILD/kanade.exe" --server "$NATS_URL" "$@"; }
# run ARGS...: kanade.exe with stdout in $OUT, stderr in $ERR, status in $RC.
run() {
    wine "$BUILD/kanade.exe" --server "$NATS_URL" "$@" >"$T_DIR/out" 2>"$T_DIR/err"
    RC=$?
    OUT=$(tr -d '\r' <"$T_DIR/out")
    ERR=$(tr -d '\r' <"$T_DIR/err")
}
SJ() { node "$IDIR/sign.mjs" "$NATS_URL" "$@"; }
sha() { if [ -f "$1" ]; then sha256sum "$1" | cut -d' ' -f1; else echo missing; fi; }
logs() { cat "$LOGS"/agent.*.log 2>/dev/null | tr -d '\r'; }
log_mark() { MARK=$(logs | wc -l); }
since_mark() { logs | tail -n +$((MARK + 1)); }
kvget() { K jetstream kv get "$1" "$2" 2>/dev/null; }
status_field() { kvget agent_status "$PC" | jfield "$1"; }
ping_version() { K ping "$PC" --timeout 2s 2>/dev/null | awk '$1 == "agent_version" { print $2 }'; }
svc_state() { w sc query KanadeAgent 2>/dev/null | awk '/STATE/ { print $4 }'; }
version_is() { [ "$(ping_version)" = "$1" ]; }
state_is() { [ "$(status_field update_state)" = "$1" ]; }
field_matches() { status_field "$1" | grep -Eq -- "$2"; }
log_has() { since_mark | grep -Eq -- "$1"; }
svc_is() { [ "$(svc_state)" = "$1" ]; }
start_svc() {
    local t0=$SECONDS
    while [ $((SECONDS - t0)) -lt 30 ]; do
        w sc start KanadeAgent >/dev/null 2>&1
        svc_is RUNNING && return 0
        sleep 1
    done
    return 1
}
stop_svc() { w sc stop KanadeAgent >/dev/null 2>&1; wait_for 30 "stopped" svc_is STOPPED; }
# pub_of PEM: the public key of an openssl key as P256:<base64 of the point>.
pub_of() { echo "P256:$(openssl ec -in "$1" -pubout -outform DER 2>/dev/null | tail -c 65 | base64 -w0)"; }
# id_of P256:...: the key id (first 8 bytes of SHA-256 over the 65 bytes).
id_of() { printf '%s' "${1#P256:}" | base64 -d | sha256sum | cut -c1-16; }
publish() { K agent publish "$(winpath "$VERS/agent-$1.exe")" "${@:2}" >"$T_DIR/pub.out" 2>&1 || { bad "publish $1: $(cat "$T_DIR/pub.out")"; }; }

# Agents bind their buckets; the operator creates them.
K broker init >/dev/null 2>&1 || bad "broker init"

# ---- keys -----------------------------------------------------------------
echo "== keys"
run agent keygen --out 'C:\keys\a.pem'
check_eq "keygen: exit 0" "$RC" 0
PUB_A=$(printf '%s\n' "$OUT" | awk '/^public key: / { print $3 }')
ID_A=$(printf '%s\n' "$OUT" | awk '/^key id: / { print $3 }')
check_match "keygen: public key is P256:<base64 of 65 bytes>" "$(printf '%s' "${PUB_A#P256:}" | base64 -d 2>/dev/null | wc -c)" '^65$'
check_eq "keygen: key id = first 8 bytes of SHA-256 of the point" "$ID_A" "$(id_of "$PUB_A")"
check_match "keygen: the file is a SEC1 private key" "$(head -n 1 "$KEYS/a.pem")" "^-----BEGIN EC PRIVATE KEY-----"
check_eq "keygen: openssl reads the same public key" "$(pub_of "$KEYS/a.pem")" "$PUB_A"
# Readable by its user only: Wine keeps the DACL the file was created with.
# A file made another way (b.pem comes later from openssl) grants Everyone
# read, which is what the second check would catch.
dacl() { w "$BUILD/wtest/tool_agentcheck.exe" dacl "$1" 2>&1; }
DACL=$(dacl 'C:\keys\a.pem')
check_match "keygen: the key's DACL grants its user full control" "$DACL" "\(A;;FA;;;S-1-5-21-[0-9-]+\)"
check_nomatch "keygen: no ACE for Everyone, Users or Authenticated Users ($DACL)" "$DACL" ";;;(WD|BU|AU)\)"
echo x >"$KEYS/plain.txt"
check_match "a file not made by keygen grants Everyone read (the check can fail)" "$(dacl 'C:\keys\plain.txt')" ";;;WD\)"
SUM_A=$(sha "$KEYS/a.pem")
run agent keygen --out 'C:\keys\a.pem'
check_eq "keygen: refuses to overwrite (exit 1)" "$RC" 1
check_match "keygen: says why" "$ERR" "already exists; keygen never overwrites"
check_eq "keygen: the old key is untouched" "$(sha "$KEYS/a.pem")" "$SUM_A"
run agent keygen
check_eq "keygen without --out: usage (exit 2)" "$RC" 2
openssl ecparam -name prime256v1 -genkey -noout -out "$KEYS/b.pem" 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$KEYS/c.pem" 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$KEYS/p384.pem" 2>/dev/null
PUB_B=$(pub_of "$KEYS/b.pem"); ID_B=$(id_of "$PUB_B")
PUB_C=$(pub_of "$KEYS/c.pem"); ID_C=$(id_of "$PUB_C")
check_match "openssl keys: SEC1 and PKCS#8" "$(head -n 1 "$KEYS/b.pem") $(head -n 1 "$KEYS/c.pem")" \
    "EC PRIVATE KEY.* -----BEGIN PRIVATE KEY"

# ---- publish, sign, releases ----------------------------------------------
echo "== publish and sign"
run agent publish "$(winpath "$VERS/agent-0.1.1.exe")" --sign-key 'C:\keys\b.pem'
check_eq "publish --sign-key (openssl SEC1 key): exit 0" "$RC" 0
check_match "publish: says signed with B" "$OUT" "signed with key $ID_B"
H=$(SJ headers agent_releases 0.1.1)
read -r SIG1 KID1 SIZE1 HEX1 <<<"$H"
check_eq "nats.js sees Kanade-Key-Id" "$KID1" "$ID_B"
check_eq "nats.js: size and digest of the release" "$SIZE1 $HEX1" "$(stat -c %s "$VERS/agent-0.1.1.exe") ${SHA[0.1.1]}"
printf 'kanade-release-v1\nversion=0.1.1\nsize=%s\nsha256=%s\n' "$SIZE1" "$HEX1" >"$T_DIR/stmt"
printf '%s' "$SIG1" | base64 -d >"$T_DIR/sig.der"
openssl ec -in "$KEYS/b.pem" -pubout -out "$T_DIR/b.pub" 2>/dev/null
check_eq "openssl dgst -verify accepts the stored signature over the rebuilt statement" \
    "$(openssl dgst -sha256 -verify "$T_DIR/b.pub" -signature "$T_DIR/sig.der" "$T_DIR/stmt" 2>&1)" "Verified OK"
KANADE_SIGN_KEY='C:\keys\c.pem' WINEDEBUG=-all wine "$BUILD/kanade.exe" --server "$NATS_URL" agent publish \
    "$(winpath "$VERS/agent-0.1.2.exe")" >"$T_DIR/out" 2>&1
check_eq "publish with KANADE_SIGN_KEY (openssl PKCS#8 key): signed by C" "$(SJ headers agent_releases 0.1.2 | cut -d' ' -f2)" "$ID_C"
publish 0.1.3
publish 0.1.4
publish 0.1.5
publish 0.1.6 --sign-key 'C:\keys\a.pem'
publish 0.1.7 --sign-key 'C:\keys\a.pem'
run agent publish "$(winpath "$VERS/agent-0.1.4.exe")" --sign-key 'C:\keys\p384.pem'
check_eq "publish with a P-384 key: refused (exit 1)" "$RC" 1
check_match "P-384: says it is not P-256" "$ERR" "not a P-256 key"
run agent publish "$(winpath "$VERS/agent-0.1.4.exe")" --sign-key 'C:\keys\none.pem'
check_eq "publish with a missing key file: exit 3" "$RC" 3
check_eq "refused publishes wrote nothing: 0.1.4 still unsigned" "$(SJ headers agent_releases 0.1.4 | cut -d' ' -f1-2)" "- -"
run agent releases
check_match "releases: header has SIGNED BY" "$(printf '%s' "$OUT" | head -n 1)" "^NAME +SIZE +DIGEST +MTIME +SIGNED BY$"
check_match "releases: 0.1.1 signed by B" "$OUT" "0\.1\.1 .* $ID_B"
check_match "releases: 0.1.4 unsigned" "$OUT" "0\.1\.4 .* unsigned"
run agent releases --json
check_eq "releases --json: key_id of 0.1.2 and 0.1.4" \
    "$(printf '%s' "$OUT" | python3 -c 'import json,sys; d={o["name"]: o["key_id"] for o in json.load(sys.stdin)}; print(d["0.1.2"], d["0.1.4"])')" "$ID_C None"

# ---- 1. no keys: as before, with the warning --------------------------------
echo "== agent without release keys"
CONF_W='C:\ProgramData\Kanade\config\agent.conf'
w "$EXE" install --config "$CONF_W" --nats-url "$NATS_URL" --id "$PC" >"$T_DIR/install.out" 2>&1 \
    || { bad "install: $(cat "$T_DIR/install.out")"; t_summary; exit 1; }
log_mark
start_svc || bad "service start"
wait_for 60 "first ping" version_is 0.1.0
check_match "no keys: warning at start" "$(since_mark)" "no release keys .* accepts unsigned releases and targets"
check_eq "no keys: heartbeat release_keys 0" "$(status_field release_keys)" 0
run agent status
check_match "agent status counts the hosts without keys" "$OUT" "release keys: 0 with, 1 without"
check_match "agent status names them" "$OUT" "$PC  accepts unsigned builds"
K agent rollout 0.1.3 --pcs "$PC" >/dev/null 2>&1 || bad "rollout 0.1.3"
wait_for 90 "ping shows 0.1.3" version_is 0.1.3
check_eq "no keys: the unsigned 0.1.3 was installed" "$(sha "$EXE")" "${SHA[0.1.3]}"

# ---- 2. keys A and B ------------------------------------------------------
echo "== agent with release keys A and B"
run agent sign 0.1.3 --sign-key 'C:\keys\a.pem'
check_eq "agent sign 0.1.3: exit 0" "$RC" 0
check_eq "agent sign: Kanade-Key-Id A" "$(SJ headers agent_releases 0.1.3 | cut -d' ' -f2)" "$ID_A"
run agent sign 0.1.3 --sign-key 'C:\keys\a.pem'
check_match "agent sign again: nothing written" "$OUT" "already signed with key $ID_A; nothing written"
run agent sign 9.9.9 --sign-key 'C:\keys\a.pem'
check_eq "agent sign of a missing release: exit 3" "$RC" 3
K jetstream kv del agent_config "pcs.$PC" >/dev/null 2>&1
stop_svc
w "$EXE" install --config "$CONF_W" --nats-url "$NATS_URL" --id "$PC" --force-config \
    --release-key "$PUB_A" --release-key "$PUB_B" >"$T_DIR/install.out" 2>&1 || bad "install with keys: $(cat "$T_DIR/install.out")"
check "agent.conf holds both keys" grep -qF "release_keys = [\"$PUB_A\", \"$PUB_B\"]" "$PD/config/agent.conf"
w "$EXE" install --config "$CONF_W" --release-key P256:AAAA >"$T_DIR/install.out" 2>&1
check_eq "install --release-key garbage: usage error" "$?" 2
log_mark
start_svc || bad "service start with keys"
wait_for 60 "ping" version_is 0.1.3
wait_for 20 "release_keys 2" field_matches release_keys '^2$'
check_match "keys: log names them" "$(since_mark)" "release keys: $ID_A,$ID_B"
check_nomatch "keys: no unsigned warning" "$(since_mark)" "no release keys"

# refuse_release VERSION REASON-REGEX SCENARIO: a signed target for VERSION,
# then quarantined with the reason, the exe untouched, nothing downloaded.
refuse_release() {
    local v=$1 re=$2 s=$3 run_v
    run_v=$(ping_version)
    log_mark
    K agent rollout "$v" --pcs "$PC" --sign-key 'C:\keys\a.pem' >/dev/null 2>&1 || bad "$s: rollout $v"
    # The error of the previous refusal is still there until the agent takes
    # up this target: wait for this version in the quarantine list as well.
    quarantined_now() { field_matches quarantined_versions "\"$v\"" && field_matches update_error "^signature: "; }
    wait_for 60 "$v quarantined" quarantined_now
    check_eq "$s: update_state quarantined" "$(status_field update_state)" quarantined
    check_match "$s: update_error" "$(status_field update_error)" "$re"
    check_match "$s: $v in quarantined_versions" "$(status_field quarantined_versions)" "\"$v\""
    check_eq "$s: exe unchanged" "$(sha "$EXE")" "${SHA[$run_v]}"
    check "$s: no .new left" test ! -e "$EXE.new"
    check_nomatch "$s: nothing downloaded, no swap" "$(since_mark)" "downloaded $v|handed over"
    sleep 3
    check_nomatch "$s: no download loop" "$(since_mark)" "retrying $v"
}
refuse_release 0.1.4 "^signature: unsigned$" "unsigned release"
refuse_release 0.1.2 "^signature: unknown key $ID_C$" "release signed by an unknown key"
SJ set-headers agent_releases 0.1.5 "$SIG1" "$ID_B" >/dev/null || bad "copy the signature of 0.1.1 onto 0.1.5"
refuse_release 0.1.5 "^signature: bad signature by key $ID_B$" "signature copied from another version"
read -r SIG6 KID6 _ <<<"$(SJ headers agent_releases 0.1.6)"
FLIP=$(printf '%s' "$SIG6" | base64 -d | python3 -c 'import sys,base64; b=bytearray(sys.stdin.buffer.read()); b[-5]^=1; print(base64.b64encode(bytes(b)).decode())')
SJ set-headers agent_releases 0.1.6 "$FLIP" "$KID6" >/dev/null || bad "flip a byte of 0.1.6's signature"
refuse_release 0.1.6 "^signature: (bad|malformed) signature" "flipped byte in the signature"

# ---- 3. signed releases and targets, either key ------------------------------
echo "== signed rollouts"
log_mark
K agent rollout 0.1.1 --pcs "$PC" --sign-key 'C:\keys\a.pem' >"$T_DIR/out" 2>&1 || bad "rollout 0.1.1"
check_match "rollout --sign-key: says signed" "$(tr -d '\r' <"$T_DIR/out")" "signed by $ID_A"
V_OLD=$(kvget agent_config "pcs.$PC")
check_eq "rollout --sign-key: target fields in the scope value" \
    "$(printf '%s' "$V_OLD" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["target_version"], d["target_key_id"], type(d["target_rev"]).__name__, len(d["target_signature"]) > 60)')" \
    "0.1.1 $ID_A int True"
wait_for 90 "ping shows 0.1.1" version_is 0.1.1
check_eq "release signed by B, target by A: swapped" "$(sha "$EXE")" "${SHA[0.1.1]}"
check_match "log: the target was accepted" "$(since_mark)" "target of pcs.$PC signed by key $ID_A accepted"
run agent current
check_match "current: the pc scope is signed by A" "$OUT" "target_version = 0\.1\.1 \(pcs\.$PC, jitter 0s\) \[signed by $ID_A\]"
sleep 1.5
log_mark
K agent rollout 0.1.7 --pcs "$PC" --sign-key 'C:\keys\b.pem' >/dev/null 2>&1 || bad "rollout 0.1.7"
wait_for 90 "ping shows 0.1.7" version_is 0.1.7
check_eq "release signed by A, target by B (two keys): swapped" "$(sha "$EXE")" "${SHA[0.1.7]}"
wait_for 20 "done" state_is done

# An abort must leave a target the agent accepts: signed, or refused.
V_SIGNED=$(kvget agent_config "pcs.$PC")
run agent rollout abort 0.1.7
check_eq "abort of a signed target without a key: exit 1" "$RC" 1
check_match "abort without a key: one line naming the key and --sign-key" "$(tr -d '\r' <"$T_DIR/err")" \
    "pcs\.$PC.*its target is signed by key $ID_B, and agents with release keys ignore an unsigned one: give the key with --sign-key"
check_eq "abort without a key: the scope value is unchanged" "$(kvget agent_config "pcs.$PC")" "$V_SIGNED"
run agent rollout abort 0.1.7 --sign-key 'C:\keys\a.pem'
check_eq "abort with a key that did not sign the value: exit 1" "$RC" 1
check_match "abort with another key: says why" "$(tr -d '\r' <"$T_DIR/err")" \
    "pcs\.$PC.*not signed as it stands by key $ID_A \(target 0\.1\.7: .*\), so its previous_version is not vouched for"
check_eq "abort with another key: the scope value is unchanged" "$(kvget agent_config "pcs.$PC")" "$V_SIGNED"
log_mark
run agent rollout abort 0.1.7 --sign-key 'C:\keys\b.pem'
check_eq "abort --sign-key: exit 0" "$RC" 0
check_match "abort --sign-key: restored and signed" "$OUT" "pcs\.$PC: 0\.1\.7 -> 0\.1\.1, signed by $ID_B"
wait_for 90 "back on 0.1.1" version_is 0.1.1
check_eq "abort --sign-key: the agent accepted the restored target and went back" "$(sha "$EXE")" "${SHA[0.1.1]}"
check_match "abort --sign-key: log, the restored target accepted" "$(since_mark)" "target of pcs.$PC signed by key $ID_B accepted"
wait_for 20 "done" state_is done
sleep 1.5
K agent rollout 0.1.7 --pcs "$PC" --sign-key 'C:\keys\b.pem' >/dev/null 2>&1 || bad "rollout 0.1.7 again"
wait_for 90 "ping shows 0.1.7 again" version_is 0.1.7
wait_for 20 "done" state_is done

# ---- 4. targets the agent ignores -------------------------------------------
echo "== ignored targets"
log_mark
K jetstream kv put agent_config "pcs.$PC" "$V_OLD" >/dev/null 2>&1 || bad "replay the older value"
wait_for 30 "replay refused" field_matches target_error "pcs\.$PC: replayed target: rev [0-9]+ is older than rev [0-9]+"
check_eq "replay: exe still 0.1.7" "$(sha "$EXE")" "${SHA[0.1.7]}"
check_nomatch "replay: no new attempt" "$(since_mark)" "-> pending \(target 0.1.1\)|downloaded|using .*\.old"
stop_svc
log_mark
start_svc || bad "restart"
wait_for 60 "ping after restart" version_is 0.1.7
wait_for 30 "replay still refused after a restart" field_matches target_error "replayed target"
check_eq "replay after restart: exe still 0.1.7" "$(sha "$EXE")" "${SHA[0.1.7]}"
check_nomatch "replay after restart: no attempt" "$(since_mark)" "-> pending \(target 0.1.1\)"
check_match "replay: logged once per value" "$(since_mark | grep -c 'replayed target')" '^1$'

K agent rollout 0.1.7 --global --sign-key 'C:\keys\a.pem' >/dev/null 2>&1 || bad "rollout 0.1.7 --global"
# ignored VALUE-SOURCE REGEX SCENARIO: global now holds a value the agent must ignore.
ignored() {
    local re=$1 s=$2
    wait_for 30 "$s ignored" field_matches target_error "$re"
    check_match "$s: target_error" "$(status_field target_error)" "$re"
    sleep 2
    check_eq "$s: exe still 0.1.7" "$(sha "$EXE")" "${SHA[0.1.7]}"
    check_nomatch "$s: nothing attempted" "$(since_mark)" "-> pending|-> scheduled|downloaded"
}
log_mark
K jetstream kv put agent_config global '{"target_version":"0.1.1"}' >/dev/null 2>&1
ignored "global: unsigned target 0\.1\.1" "unsigned target"
check_match "unsigned target: logged with the reason" "$(since_mark)" "agent_config/global: unsigned target 0.1.1; its target is ignored"
log_mark
K agent rollout 0.1.1 --pcs other --sign-key 'C:\keys\a.pem' >/dev/null 2>&1 || bad "rollout for pcs.other"
K jetstream kv put agent_config global "$(kvget agent_config pcs.other)" >/dev/null 2>&1
ignored "global: target 0\.1\.1: bad signature by key $ID_A \(signed for another scope" "target copied from pcs.other"
log_mark
SJ reply-trick "$PC-x" '{"target_version":"0.1.1"}' >/dev/null || bad "reply-subject trick"
wait_for 10 "the trick landed" test "$(kvget agent_config global)" = '{"target_version":"0.1.1"}'
check_eq "reply-subject trick: the server stored the value as agent_config/global" "$(kvget agent_config global)" '{"target_version":"0.1.1"}'
ignored "global: unsigned target 0\.1\.1" "value written through the reply-subject trick"
run agent current
check_match "current: global unsigned" "$OUT" "^target_version = 0\.1\.1 \(global\) \[unsigned\]"
run agent status
check_match "agent status: ignored targets listed" "$OUT" "$PC  ignored targets: .*global: unsigned target 0.1.1"

# ---- 5. rollout fields added after signing -------------------------------------
# A plan that nobody signed must not decide when a PC swaps: "waves":"nobody"
# would keep this PC out of every wave, so it is ignored and the PC swaps.
echo "== rollout fields added after signing"
stop_svc
K jetstream kv del agent_config "pcs.$PC" >/dev/null 2>&1
K agent rollout 0.1.1 --pcs "$PC" --sign-key 'C:\keys\a.pem' >/dev/null 2>&1 || bad "rollout 0.1.1 to a fresh pc scope"
PLAN=$(kvget agent_config "pcs.$PC" | python3 -c 'import json,sys,time
d = json.load(sys.stdin)
d.update(waves="nobody", wave_gap="1h", wave_start=str(int(time.time() * 1000)))
print(json.dumps(d, separators=(",", ":")))')
K jetstream kv put agent_config "pcs.$PC" "$PLAN" >/dev/null 2>&1 || bad "add a plan to the signed value"
log_mark
start_svc || bad "restart"
wait_for 90 "0.1.1 despite the unsigned plan" version_is 0.1.1
check_eq "unsigned plan: ignored, the PC swapped" "$(sha "$EXE")" "${SHA[0.1.1]}"
check_match "unsigned plan: one log line saying so" "$(since_mark)" \
    "agent_config/pcs\.$PC: target 0\.1\.1 is signed, its halt policy, wave plan and previous version are not \(set after signing\); they are ignored"
check_nomatch "unsigned plan: no wave wait" "$(since_mark)" "in none of them"

stop_svc
echo "($((SECONDS - T_START))s)"
t_summary
