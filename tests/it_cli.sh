#!/usr/bin/env bash
# it_cli.sh — kanade.exe under Wine against a real nats-server.
# Every check looks at the output, the exit code AND what ended up in the
# buckets (read back with `kanade jetstream kv get`, `kanade agent releases`,
# and nats.js for the interop check). Test PEs are built here with mingw +
# windres; no binary fixture is committed.
source "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
K="$BUILD/kanade.exe"
AGENT="$BUILD/kanade-agent.exe"
RESPONDER="$BUILD/wtest/tool_responder.exe"
KVFILL="$BUILD/wtest/tool_kvfill.exe"
for f in "$K" "$AGENT" "$RESPONDER" "$KVFILL"; do
    [ -x "$f" ] || { bad "missing $f (run make units)"; t_summary; exit 1; }
done

# run ARGS...: kanade.exe with stdout in $OUT, stderr in $ERR, status in $RC.
run() {
    wine "$K" "$@" >"$T_DIR/out" 2>"$T_DIR/err"
    RC=$?
    OUT=$(tr -d '\r' <"$T_DIR/out")
    ERR=$(tr -d '\r' <"$T_DIR/err")
}
# expect DESC RC: checks $RC, and shows stderr when it differs.
expect_rc() {
    if [ "$RC" = "$2" ]; then ok "$1 (exit $2)"; else bad "$1: exit $RC, expected $2; stderr: $ERR; stdout: $(printf '%s' "$OUT" | head -c 300)"; fi
}
# kvget BUCKET KEY: the stored value, "<missing>" when the key holds none.
kvget() {
    local rc
    wine "$K" jetstream kv get "$1" "$2" >"$T_DIR/kvget" 2>/dev/null
    rc=$?
    case $rc in
        0) tr -d '\r' <"$T_DIR/kvget" ;;
        3) echo "<missing>" ;;
        *) echo "<error $rc>" ;;
    esac
}
# jq_py EXPR: evaluates a Python expression over the JSON on stdin (bound to d).
jq_py() { python3 -c "import json,sys; d=json.load(sys.stdin); print(($1))"; }
fsize() { stat -c %s "$1"; }

wine_prefix
nats_start || { bad "nats-server did not start"; t_summary; exit 1; }
export KANADE_NATS_URL="$NATS_URL"
unset NATS_URL_SAVED KANADE_NATS_TOKEN KANADE_NATS_USER KANADE_NATS_PASSWORD

# ---- test PEs: two builds with the same version 9.1.0 but different code,
# one without a VERSIONINFO, and a file that is not a PE at all.
PE="$T_DIR/pe"; mkdir -p "$PE"
cat >"$PE/v.rc" <<'EOF'
#include <winver.h>
1 VERSIONINFO
FILEVERSION 9,1,0,0
PRODUCTVERSION 9,1,0,0
FILEOS VOS_NT_WINDOWS32
FILETYPE VFT_APP
BEGIN
  BLOCK "StringFileInfo"
  BEGIN
    BLOCK "040904b0"
    BEGIN
      VALUE "ProductVersion", "9.1.0"
      VALUE "FileVersion", "9.1.0"
    END
  END
  BLOCK "VarFileInfo"
  BEGIN
    VALUE "Translation", 0x409, 1200
  END
END
EOF
printf 'int main(void) { return 0; }\n' >"$PE/a.c"
printf 'int main(void) { return 1 + 2 * 3; }\nint extra(int x) { return x * 7; }\n' >"$PE/b.c"
mkdir -p "$PE/a" "$PE/b"
x86_64-w64-mingw32-windres -O coff "$PE/v.rc" -o "$PE/v.o"
x86_64-w64-mingw32-gcc -s -o "$PE/a/kanade-agent.exe" "$PE/a.c" "$PE/v.o"
x86_64-w64-mingw32-gcc -s -o "$PE/b/kanade-agent.exe" "$PE/b.c" "$PE/v.o"
x86_64-w64-mingw32-gcc -s -o "$PE/noversion.exe" "$PE/a.c"
printf 'this is a text file, not a program\n' >"$PE/notpe.exe"
A="$PE/a/kanade-agent.exe"; B="$PE/b/kanade-agent.exe"
check "test PEs built" test -s "$A" -a -s "$B" -a -s "$PE/noversion.exe"
if cmp -s "$A" "$B"; then bad "builds a and b differ"; else ok "builds a and b differ"; fi
DA=$(nats_digest "$A"); DB=$(nats_digest "$B"); DAG=$(nats_digest "$AGENT")
AV=$(cat "$ROOT/VERSION")

echo "== version and help"
run --version
expect_rc "--version" 0
check_eq "--version prints the VERSIONINFO version" "$OUT" "kanade $AV"
run --help
expect_rc "--help" 0
check_match "--help lists the commands" "$OUT" "agent rollout <version> \(--pcs"
check_match "--help lists global options" "$OUT" "KANADE_NATS_URL"
run agent rollout --help
expect_rc "agent rollout --help" 0
check_match "command help shows its usage" "$OUT" "^usage: kanade agent rollout <version>"
run help agent publish
check_match "'help agent publish' is command help" "$OUT" "^usage: kanade agent publish <exe> \[--force\]"
run agent --help
check_match "'agent --help' lists the agent commands" "$OUT" "kanade agent status"
run
expect_rc "no command is a usage error" 2
run frobnicate
expect_rc "unknown command" 2
check_match "unknown command says so" "$ERR" "unknown command 'frobnicate'"
run agent frob
expect_rc "unknown agent subcommand" 2
check_eq "unknown subcommand points at the group's help" "$ERR" "kanade: unknown command 'agent frob'; see 'kanade agent --help'"
run agent current --bogus
expect_rc "unknown option" 2
check_match "unknown option names it" "$ERR" "unknown option '--bogus'"
run agent current --force
expect_rc "option of another command" 2
run agent publish
expect_rc "publish without a file" 2
check_match "missing argument is one line with help pointer" "$ERR" "^kanade: missing argument.*see 'kanade agent publish --help'$"

echo "== current on a fresh broker (buckets created on first use)"
run agent current
expect_rc "current on an empty broker" 0
check_eq "current: nothing set" "$OUT" "target_version = (unset) (global)"

echo "== publish"
run agent publish "$PE/notpe.exe"
expect_rc "publish a non-PE file" 1
check_match "non-PE: one clear line" "$ERR" "^kanade: .*notpe.exe is not a Windows executable"
check_eq "non-PE: one line only" "$(printf '%s\n' "$ERR" | wc -l)" "1"
run agent publish "$PE/noversion.exe"
expect_rc "publish a PE without VERSIONINFO" 1
check_match "no version: clear line" "$ERR" "has no version in its VERSIONINFO"
run agent publish "$PE/missing.exe"
expect_rc "publish a missing file" 3
run agent releases
check_eq "nothing was written by the failed publishes" "$OUT" "no objects in agent_releases"

run agent publish "$A"
expect_rc "publish a fresh version" 0
check_eq "publish prints version, size, digest, object" "$(printf '%s' "$OUT" | head -n 1)" \
    "published 9.1.0 ($(fsize "$A") bytes, $DA) to agent_releases/9.1.0"
check_eq "no progress bar when stderr is not a console" "$ERR" ""
run agent releases --json
check_eq "agent_releases/9.1.0 holds build a" "$(printf '%s' "$OUT" | jq_py '[(o["name"],o["size"],o["digest"]) for o in d]')" \
    "[('9.1.0', $(fsize "$A"), '$DA')]"
MT1=$(printf '%s' "$OUT" | jq_py 'd[0]["mtime"]')
check "publish wrote no target version" test "$(kvget agent_config global)" = "<missing>"

run agent publish "$A"
expect_rc "publish the same build again" 0
check_match "same build: says so" "$OUT" "already holds this build.*nothing written"
run agent releases --json
check_eq "same build: object untouched (same mtime)" "$(printf '%s' "$OUT" | jq_py 'd[0]["mtime"]')" "$MT1"

run agent publish "$B"
expect_rc "publish different bytes under the same version" 1
check_match "different build: refused, names both digests and --force" "$ERR" \
    "already holds a different build \($DA, this file is $DB\).*--force"
run agent releases --json
check_eq "refused: store still holds build a" "$(printf '%s' "$OUT" | jq_py 'd[0]["digest"]')" "$DA"

run agent publish "$B" --force --json
expect_rc "publish --force replaces" 0
check_eq "--force: JSON status and digests" "$(printf '%s' "$OUT" | jq_py 'd["status"],d["digest"],d["replaced_digest"]')" \
    "('replaced', '$DB', '$DA')"
run agent releases --json
check_eq "--force: store holds build b" "$(printf '%s' "$OUT" | jq_py '[(o["name"],o["size"],o["digest"]) for o in d]')" \
    "[('9.1.0', $(fsize "$B"), '$DB')]"

run --server "$NATS_URL" agent publish "$AGENT"
expect_rc "publish the real agent (global option before the command)" 0
check_eq "real agent published under its VERSIONINFO version" "$(printf '%s' "$OUT" | head -n 1)" \
    "published $AV ($(fsize "$AGENT") bytes, $DAG) to agent_releases/$AV"

# On an interactive console (a pty from script(1); Wine gives the process a
# console) the upload draws a progress bar that ends at 100%.
head -c 700000 /dev/urandom | cat "$AGENT" - >"$PE/fat.exe"
script -qc "wine '$K' agent publish '$PE/fat.exe' --force" "$T_DIR/tty.log" >/dev/null 2>&1
TTY=$(tr -d '\r' <"$T_DIR/tty.log")
check_match "console: progress bar drawn" "$TTY" "uploading $AV \[#+-+\] +[0-9]+%"
check_match "console: progress bar reaches 100%" "$TTY" "uploading $AV \[#{30}\] 100%"
check_match "console: the result line follows" "$TTY" "published $AV"
run agent publish "$AGENT" --force
expect_rc "republish the real agent over the padded build" 0

echo "== releases"
run agent releases
expect_rc "agent releases" 0
check_match "releases: header" "$(printf '%s' "$OUT" | head -n 1)" "^NAME +SIZE +DIGEST +MTIME +SIGNED BY$"
check_match "releases: newest first" "$(printf '%s' "$OUT" | sed -n 2p)" "^$AV +$(fsize "$AGENT") +$DAG +20[0-9-]+T"
check_match "releases: then 9.1.0" "$(printf '%s' "$OUT" | sed -n 3p)" "^9\.1\.0 +$(fsize "$B") +$DB "
REL="$OUT"
run jetstream object list agent_releases
check_eq "jetstream object list agent_releases == agent releases" "$OUT" "$REL"
run jetstream object list no_such_store
expect_rc "object list of a missing store" 3

echo "== interop: nats.js reads what kanade.exe published"
if [ -d "$ROOT/tests/interop/node_modules/@nats-io/obj" ]; then
    JS=$(cd "$ROOT/tests/interop" && node get_release.mjs "$KANADE_NATS_URL" agent_releases 9.1.0 2>&1)
    SUM=$(sha256sum "$B" | cut -d' ' -f1)
    check_eq "nats.js: bytes hash to sha256sum of the file, size and digest match" "$JS" \
        "$SUM $(fsize "$B") $DB $SUM"
else
    bad "tests/interop/node_modules is missing (npm ci in tests/interop)"
fi

echo "== rollout: validation writes nothing"
run agent rollout 0.42.9 --pcs canary-01
expect_rc "rollout of an unpublished version" 3
check_eq "missing version: the message" "$ERR" "kanade: version 0.42.9 not in agent_releases; run 'kanade agent publish' first"
check_eq "missing version: nothing written" "$(kvget agent_config pcs.canary-01)" "<missing>"
run agent rollout 9.1.0 --pcs canary-01 --jitter 5x
expect_rc "bad jitter" 2
check_match "bad jitter: says what is wrong" "$ERR" "--jitter '5x' is not a duration"
check_eq "bad jitter: nothing written" "$(kvget agent_config pcs.canary-01)" "<missing>"
run agent rollout 9.1.0
expect_rc "no scope" 2
check_match "no scope: names the choices" "$ERR" "--pcs .*--groups .*--global"
run agent rollout 9.1.0 --pcs a --global
expect_rc "two scope kinds" 2
run agent rollout 9.1.0 --pcs 'bad id'
expect_rc "invalid pc id" 2
run agent rollout 9.1.0 --groups 'ok,no/slash'
expect_rc "invalid group name" 2
run agent rollout '../9.1.0' --global
expect_rc "invalid version string" 2
check_eq "validation failures wrote nothing" "$(kvget agent_config global)" "<missing>"

echo "== rollout to each scope"
run agent rollout 9.1.0 --pcs canary-01
expect_rc "rollout --pcs canary-01" 0
check_eq "rollout line" "$OUT" "pcs.canary-01.target_version = 9.1.0 (jitter 0s)"
# previous_version: the target the scope had ("" = none), for 'rollout abort'.
check_eq "agent_config/pcs.canary-01" "$(kvget agent_config pcs.canary-01)" '{"target_version":"9.1.0","previous_version":""}'
run agent rollout 9.1.0 --pcs canary-01 --json
check_eq "same rollout again: unchanged, no new revision" "$(printf '%s' "$OUT" | jq_py 'd["scopes"][0]["changed"]')" "False"

run agent rollout "$AV" --pcs pc-1,pc-2 --pc pc-3 --pcs pc-1
expect_rc "rollout to a pc list (aliases, repeats, duplicates)" 0
check_eq "one line per pc, duplicates dropped" "$OUT" "pcs.pc-1.target_version = $AV (jitter 0s)
pcs.pc-2.target_version = $AV (jitter 0s)
pcs.pc-3.target_version = $AV (jitter 0s)"
check_eq "agent_config/pcs.pc-3" "$(kvget agent_config pcs.pc-3)" "{\"target_version\":\"$AV\",\"previous_version\":\"\"}"

run agent rollout 9.1.0 --groups office --group lab --jitter 5m
expect_rc "rollout --groups with --jitter" 0
check_eq "groups lines show the jitter, then the default halt policy" "$OUT" "groups.office.target_version = 9.1.0 (jitter 5m)
groups.lab.target_version = 9.1.0 (jitter 5m)
halt policy: halts after 3 failed hosts"
check_eq "agent_config/groups.office has target and jitter" \
    "$(kvget agent_config groups.office | jq_py 'd["target_version"],d["target_version_jitter"]')" "('9.1.0', '5m')"
check "no fleet-size warning for --groups with --jitter" test -z "$ERR"

run agent rollout 9.1.0 --global
expect_rc "rollout --global" 0
check_eq "global line, then the default halt policy" "$OUT" "global.target_version = 9.1.0 (jitter 0s)
halt policy: halts after 3 failed hosts"
check_eq "agent_config/global" "$(kvget agent_config global | jq_py 'd["target_version"]')" "9.1.0"
check "no warning for a small fleet" test -z "$ERR"

run jetstream kv put agent_config pcs.keep '{"heartbeat_interval":"15s","x":[1,{"y":null}],"target_version":"0.0.1"}'
run agent rollout 9.1.0 --pcs keep --jitter 90s
expect_rc "rollout into a scope with other fields" 0
check_eq "normalised jitter in the line" "$OUT" "pcs.keep.target_version = 9.1.0 (jitter 1m30s)"
check_eq "other fields kept intact" \
    "$(kvget agent_config pcs.keep | jq_py 'd["heartbeat_interval"],d["x"],d["target_version"],d["target_version_jitter"]')" \
    "('15s', [1, {'y': None}], '9.1.0', '1m30s')"
run agent rollout "$AV" --pcs keep
check_eq "a later rollout without --jitter keeps the scope's jitter" "$OUT" "pcs.keep.target_version = $AV (jitter 1m30s)"
check_eq "jitter still stored" "$(kvget agent_config pcs.keep | jq_py 'd["target_version_jitter"]')" "1m30s"

run jetstream kv put agent_config pcs.broken 'not json'
run agent rollout 9.1.0 --pcs broken
expect_rc "rollout into a scope holding garbage" 1
check_match "garbage scope: says what to do" "$ERR" "pcs.broken: holds a value that is not a JSON object"
check_eq "garbage scope left as it was" "$(kvget agent_config pcs.broken)" "not json"

echo "== rollout: concurrent writers to one scope lose nothing"
# Writer J sets target 9.1.0 + jitter 5m; writer V sets target $AV only.
# KANADE_TEST_CAS_DELAY_MS holds each writer's first read-modify-write open
# between its read and its write: J for 2.5 s, V for 5 s. Both read the
# seed, J writes first, V writes last from a stale read. With compare-and-
# set V's write is refused and redone on J's value, so the jitter survives;
# a blind write would drop it (checked with a kv_put mutant: 3 failures).
# Rounds 3-4 race without the hold.
retries=0
for round in 1 2 3 4; do
    run jetstream kv put agent_config pcs.race '{"heartbeat_interval":"30s"}'
    dj=; dv=
    if [ "$round" -le 2 ]; then dj=2500; dv=5000; fi
    KANADE_TEST_CAS_DELAY_MS=$dj wine "$K" agent rollout 9.1.0 --pcs race --jitter 5m --json >"$T_DIR/race1" 2>&1 &
    p1=$!
    KANADE_TEST_CAS_DELAY_MS=$dv wine "$K" agent rollout "$AV" --pcs race --json >"$T_DIR/race2" 2>&1 &
    p2=$!
    wait $p1; r1=$?; wait $p2; r2=$?
    check_eq "race $round: both rollouts succeed" "$r1 $r2" "0 0"
    v=$(kvget agent_config pcs.race)
    check_eq "race $round: jitter and the seeded field survive" \
        "$(printf '%s' "$v" | jq_py 'd.get("target_version_jitter"),d.get("heartbeat_interval"),d["target_version"] in ("9.1.0","'"$AV"'")')" \
        "('5m', '30s', True)"
    n=$(cat "$T_DIR/race1" "$T_DIR/race2" | tr -d '\r' | grep '^{' |
        python3 -c 'import json,sys; print(sum(json.loads(l)["scopes"][0]["retries"] for l in sys.stdin))' 2>/dev/null)
    retries=$((retries + ${n:-0}))
    if [ "$round" -le 2 ]; then
        check_eq "race $round: the held writer ended last, on the newest value" "$(printf '%s' "$v" | jq_py 'd["target_version"]')" "$AV"
    fi
done
check "the forced overlaps conflicted and were retried ($retries retries)" test "$retries" -ge 2

echo "== current"
run agent current
expect_rc "agent current" 0
check_eq "current: global first, then group and pc scopes" "$(printf '%s' "$OUT" | head -n 1)" "target_version = 9.1.0 (global) [unsigned]"
check_match "current: canary-01 line" "$OUT" "target_version = 9.1.0 \(pcs.canary-01, jitter 0s\)"
check_match "current: group with its jitter" "$OUT" "target_version = 9.1.0 \(groups.office, jitter 5m\)"
check_nomatch "current: the garbage scope sets no target" "$OUT" "pcs.broken"
run agent current --json
check_eq "current --json" "$(printf '%s' "$OUT" | jq_py 'd["global"]["target_version"],[s["target_version_jitter"] for s in d["scopes"] if s["scope"]=="groups.lab"]')" \
    "('9.1.0', ['5m'])"
run agent rollout 9.1.0 --global --jitter 30m
run agent current
check_eq "current: global jitter shown" "$(printf '%s' "$OUT" | head -n 1)" "target_version = 9.1.0 (global, jitter 30m) [unsigned]"
check_match "current: pc without own jitter inherits global's" "$OUT" "\(pcs.canary-01, jitter 30m from global\)"

echo "== groups"
run agent groups pc-1
expect_rc "groups of a pc without an entry" 0
check_eq "no groups" "$OUT" "pc-1: (no groups)"
check_eq "showing wrote nothing" "$(kvget agent_groups pc-1)" "<missing>"
run agent groups pc-1 --set office,canary,office
expect_rc "groups --set" 0
check_eq "--set: sorted, deduplicated" "$OUT" "pc-1: canary, office"
check_eq "agent_groups/pc-1" "$(kvget agent_groups pc-1)" '{"groups":["canary","office"]}'
run agent groups pc-1 --add lab --add canary
check_eq "--add" "$OUT" "pc-1: canary, lab, office"
run agent groups pc-1 --remove canary,nosuch
check_eq "--remove" "$OUT" "pc-1: lab, office"
check_eq "agent_groups/pc-1 after edits" "$(kvget agent_groups pc-1)" '{"groups":["lab","office"]}'
run agent groups pc-1 --add office
check_eq "no-op edit says unchanged" "$OUT" "pc-1: lab, office (unchanged)"
run agent groups pc-1 --json
check_eq "groups --json" "$(printf '%s' "$OUT" | jq_py 'd["pc_id"],d["groups"]')" "('pc-1', ['lab', 'office'])"
run agent groups pc-1 --add 'bad/name'
expect_rc "invalid group name" 2
run agent groups pc-1 --set a --add b
expect_rc "--set with --add" 2
run agent groups 'no good'
expect_rc "invalid pc id" 2
check_eq "failed edits wrote nothing" "$(kvget agent_groups pc-1)" '{"groups":["lab","office"]}'
run agent groups pc-1 --set ''
check_eq "--set '' clears" "$OUT" "pc-1: (no groups)"
check_eq "agent_groups/pc-1 cleared" "$(kvget agent_groups pc-1)" '{"groups":[]}'

echo "== status and agents, from agent_status entries written here"
NOW=$(date -u +%Y-%m-%dT%H:%M:%SZ)
run jetstream kv put agent_status pc-a "{\"pc_id\":\"pc-a\",\"at\":\"$NOW\",\"agent_version\":\"9.1.0\",\"hostname\":\"host-a\",\"os_family\":\"windows\",\"target_version\":\"9.1.0\",\"update_state\":\"done\"}"
expect_rc "kv put agent_status pc-a" 0
run jetstream kv put agent_status pc-b "{\"pc_id\":\"pc-b\",\"at\":\"$NOW\",\"agent_version\":\"$AV\",\"target_version\":\"9.1.0\",\"update_state\":\"failed\",\"update_error\":\"digest mismatch for 9.1.0\"}"
run jetstream kv put agent_status pc-c "{\"pc_id\":\"pc-c\",\"at\":\"2020-01-01T00:00:00Z\",\"agent_version\":\"$AV\",\"update_state\":\"idle\"}"
run jetstream kv put agent_status pc-d "{\"pc_id\":\"pc-d\",\"at\":\"$NOW\",\"agent_version\":\"$AV\",\"target_version\":\"9.1.0\",\"update_state\":\"quarantined\",\"update_error\":\"not healthy within 120s\",\"quarantined_versions\":[\"9.1.0\"]}"
run agent status
expect_rc "agent status" 0
check_match "status: agent count" "$OUT" "^4 agents in agent_status"
check_match "status: version distribution with bars" "$OUT" "  $AV +3  #{40}"
check_match "status: 9.1.0 bar is a third" "$OUT" "  9\.1\.0 +1  #{14}$"
check_match "status: update states" "$OUT" "  quarantined +1"
check_match "status: stale section lists pc-c" "$(printf '%s' "$OUT" | sed -n '/^stale/,/^$/p')" "^  pc-c  $AV  last heartbeat [0-9hms]+ ago \(2020-01-01T00:00:00Z\)"
check_eq "status: only pc-c is stale" "$(printf '%s' "$OUT" | sed -n '/^stale/,/^$/p' | grep -c '^  ')" "1"
PROB=$(printf '%s' "$OUT" | sed -n '/^failed, rolled back or quarantined/,$p')
check_match "status: failed agent with its error" "$PROB" "  pc-b  failed  $AV -> 9.1.0: digest mismatch for 9.1.0"
check_match "status: quarantined agent" "$PROB" "  pc-d  quarantined .*not healthy within 120s; quarantined: 9.1.0"
check_eq "status: two problem agents" "$(printf '%s' "$PROB" | grep -c '^  ')" "2"
run agent status --stale 100000h
check_match "--stale widens the window" "$OUT" "stale \(no heartbeat for 100000h\): 0"
run agent status --stale nope
expect_rc "bad --stale" 2
run agent status --json
check_eq "status --json" "$(printf '%s' "$OUT" | jq_py 'd["agents"],d["versions"],[a["pc_id"] for a in d["stale"]],[a["pc_id"] for a in d["problems"]]')" \
    "(4, {'$AV': 3, '9.1.0': 1}, ['pc-c'], ['pc-b', 'pc-d'])"
run agents
expect_rc "agents" 0
check_match "agents: header" "$(printf '%s' "$OUT" | head -n 1)" "^PC_ID +AGENT_VERSION +TARGET_VERSION +UPDATE_STATE +HEARTBEAT$"
check_match "agents: pc-a line" "$OUT" "pc-a +9\.1\.0 +9\.1\.0 +done +[0-9]+s ago"
check_match "agents: pc-c without target" "$OUT" "pc-c +$AV +- +idle +[0-9hm]+[0-9s]* ago"
check_eq "agents: one line per agent" "$(printf '%s\n' "$OUT" | wc -l)" "5"

echo "== jetstream kv helpers"
run jetstream kv get agent_status pc-a --json
check_eq "kv get --json" "$(printf '%s' "$OUT" | jq_py 'd["bucket"],d["key"],json.loads(d["value"])["hostname"]')" "('agent_status', 'pc-a', 'host-a')"
printf '{"from":"stdin"}' | wine "$K" jetstream kv put agent_config pcs.stdin - >/dev/null 2>&1
check_eq "kv put - reads stdin" "$(kvget agent_config pcs.stdin)" '{"from":"stdin"}'
run jetstream kv del agent_config pcs.stdin
expect_rc "kv del" 0
check_eq "kv del: gone" "$(kvget agent_config pcs.stdin)" "<missing>"
run jetstream kv del agent_config pcs.stdin
expect_rc "kv del of a missing key" 3
run jetstream kv get agent_config nosuch
expect_rc "kv get of a missing key" 3
run jetstream kv get agent_config '.bad'
expect_rc "kv get of an invalid key" 2
run jetstream kv get no_such_bucket k
expect_rc "kv get in a missing bucket" 3
run jetstream kv put agent_config k
expect_rc "kv put without a value" 2

echo "== ping"
wine "$RESPONDER" "$KANADE_NATS_URL" canary-01 "$AV" 9.1.0 pending 120 >"$T_DIR/responder.out" 2>&1 &
RPID=$!
for i in $(seq 1 100); do grep -q READY "$T_DIR/responder.out" 2>/dev/null && break; sleep 0.2; done
check "responder ready" grep -q READY "$T_DIR/responder.out"
run ping canary-01
expect_rc "ping the responder" 0
check_match "ping: pc_id" "$OUT" "^pc_id +canary-01$"
check_match "ping: agent_version" "$OUT" "agent_version +$AV"
check_match "ping: target_version" "$OUT" "target_version +9\.1\.0"
check_match "ping: update_state" "$OUT" "update_state +pending"
check_match "ping: hostname" "$OUT" "hostname +responder-host"
check_match "ping: round trip" "$OUT" "rtt +[0-9]+\.[0-9] ms"
run ping canary-01 --json
check_eq "ping --json" "$(printf '%s' "$OUT" | jq_py 'd["heartbeat"]["pc_id"],d["rtt_ms"]>0')" "('canary-01', True)"
check "responder saw both pings" grep -q "answered 2" "$T_DIR/responder.out"
kill $RPID 2>/dev/null; wait $RPID 2>/dev/null
run ping nobody-home --timeout 2s
expect_rc "ping with no agent" 4
check_match "ping: no answer message" "$ERR" "^kanade: no answer from nobody-home within 2s"
run ping 'bad id'
expect_rc "ping an invalid id" 2

echo "== ping the real agent"
ADIR="$T_DIR/agent"; mkdir -p "$ADIR"
cat >"$ADIR/agent.conf" <<EOF
[agent]
id = "it-cli-agent"
nats_url = "$KANADE_NATS_URL"
EOF
wine "$AGENT" run --config "$(winepath -w "$ADIR/agent.conf" 2>/dev/null)" >"$T_DIR/agent.out" 2>&1 &
APID=$!
RC=1
for i in $(seq 1 30); do run ping it-cli-agent --timeout 2s; [ "$RC" = 0 ] && break; sleep 1; done
expect_rc "ping the running kanade-agent.exe" 0
check_match "agent answers with its own version" "$OUT" "agent_version +$AV"
check_match "agent answers with its pc_id" "$OUT" "^pc_id +it-cli-agent$"
kill $APID 2>/dev/null; wait $APID 2>/dev/null

echo "== the no-jitter warning for 100+ agents"
run jetstream kv put agent_groups seed '{"groups":[]}'
wine "$KVFILL" "$KANADE_NATS_URL" agent_status fleet- 100 '{"agent_version":"0.0.1","update_state":"idle"}' >/dev/null 2>&1
wine "$KVFILL" "$KANADE_NATS_URL" agent_groups fleet- 100 '{"groups":["wide"]}' >/dev/null 2>&1
run agent rollout 9.1.0 --global --jitter 0s
expect_rc "--global --jitter 0s on 100+ agents" 0
check "an explicit --jitter 0s is the operator's choice: no warning" test -z "$ERR"
run agent rollout "$AV" --global
expect_rc "--global without --jitter on 100+ agents still succeeds" 0
check_match "--global: warning recommends --jitter" "$ERR" "^kanade: warning: this rollout reaches 10[0-9] agents with jitter 0s.*--jitter"
check_eq "--global: written anyway" "$(kvget agent_config global | jq_py 'd["target_version"]')" "$AV"
run agent rollout "$AV" --groups wide --json
expect_rc "--groups reaching 100 members without --jitter" 0
check_match "--groups: warning counts the group's members" "$ERR" "reaches 100 agents with jitter 0s"
check_eq "--groups --json: reach and warning" "$(printf '%s' "$OUT" | jq_py 'd["agents_reached"],d["jitter_warning"]')" "(100, True)"
run agent rollout 9.1.0 --groups lab
check "--groups with few members: no warning" test -z "$ERR"
run agent rollout 9.1.0 --pcs fleet-1
check "--pcs: never a warning" test -z "$ERR"
run agent rollout 9.1.0 --global --jitter 30m
check "--global with --jitter: no warning" test -z "$ERR"
run agent rollout "$AV" --global
check "--global keeping the scope's 30m jitter: no warning" test -z "$ERR"
run agent rollout 9.1.0 --groups wide
check "--groups inheriting global's 30m jitter: no warning" test -z "$ERR"

echo "== environment and server selection"
run --server "nats://127.0.0.1:$(free_port)" agent current
expect_rc "unreachable server" 4
check_match "unreachable: what and what to do" "$ERR" "^kanade: cannot reach NATS at nats://127.0.0.1:[0-9]+ .*check --server or KANADE_NATS_URL"
check_eq "unreachable: one line" "$(printf '%s\n' "$ERR" | wc -l)" "1"
URL0=$KANADE_NATS_URL
KANADE_NATS_URL= NATS_URL="$URL0" run agent current
check_eq "NATS_URL is used when KANADE_NATS_URL is empty" "$RC" "0"
NATS_URL="nats://127.0.0.1:1" run agent current
check_eq "KANADE_NATS_URL wins over NATS_URL" "$RC" "0"
KANADE_NATS_URL="nats://127.0.0.1:1" run agent current --server "$KANADE_NATS_URL"
check_eq "--server after the command wins over the environment" "$RC" "0"

echo "== authorization"
NATS_PORT=$(free_port) NATS_SD="$T_DIR/js-token" nats_start --auth s3cret-token
TOKURL=$NATS_URL
run --server "$TOKURL" agent current
expect_rc "token server without a token" 4
check_match "auth failure: clear message" "$ERR" "^kanade: authorization failed at nats://127.0.0.1:[0-9]+ .*--token"
check_eq "auth failure: one line" "$(printf '%s\n' "$ERR" | wc -l)" "1"
run --server "$TOKURL" --token wrong agent current
expect_rc "wrong token" 4
run agent current --server "$TOKURL" --token s3cret-token
expect_rc "right token (--token)" 0
KANADE_NATS_TOKEN=s3cret-token run agent current --server "$TOKURL"
expect_rc "right token (KANADE_NATS_TOKEN)" 0
NATS_PORT=$(free_port) NATS_SD="$T_DIR/js-user" nats_start --user op --pass pw-1
USERURL=$NATS_URL
run --server "$USERURL" --user op --password nope agent current
expect_rc "wrong password" 4
check_match "wrong password: clear message" "$ERR" "authorization failed.*--user/--password"
run --server "$USERURL" --user op --password pw-1 agent current
expect_rc "user and password" 0
KANADE_NATS_USER=op KANADE_NATS_PASSWORD=pw-1 run --server "$USERURL" agent current
expect_rc "user and password from KANADE_NATS_USER/PASSWORD" 0
run --server "nats://op:pw-1@127.0.0.1:$(free_port)" agent current
expect_rc "unreachable server with credentials in its URL" 4
check_match "the URL is named" "$ERR" "cannot reach NATS at nats://\*\*\*@127.0.0.1:"
check_nomatch "credentials in a server URL are not echoed" "$ERR" "pw-1"

t_summary
