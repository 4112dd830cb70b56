#!/usr/bin/env bash
# it_kv.sh — JetStream KV (kv.c over jetstream.c and nats_glue.c) against a
# real nats-server, driven through tool_js.exe under Wine: bucket config as
# nats.go creates it, get/put/create/update/delete/purge, direct get and the
# STREAM.MSG.GET path, keys, watch (initial values, empty bucket, a server
# restart in the middle), and compare-and-set races between two writers.
source "$(dirname "$0")/lib.sh"
TOOL="$BUILD/wtest/tool_js.exe"
[ -f "$TOOL" ] || { echo "missing $TOOL (make BUILD=$BUILD units)"; exit 1; }

wine_prefix
nats_start -V          # traced until the restart test: the direct get checks read it
export NATS_URL

t() { w "$TOOL" "$@"; }
# A background watcher writes straight to its file (no `w` pipe: tr would
# buffer the lines until exit); CRs are stripped when reading.
watch_bg() { local out=$1; shift; wine "$TOOL" kv-watch "$@" >"$out" 2>"$out.err" & }
lines() { tr -d '\r' <"$1" | tr '\n' '|'; }

echo "# bucket create and bind"
check_eq "kv-open creates" "$(t kv-open cfg 5)" "ok"
info=$(t api STREAM.INFO.KV_cfg)
cfg=$(printf '%s' "$info" | js_field config)
for want in '"max_msgs_per_subject": 5' '"deny_delete": true' '"allow_direct": true' \
            '"discard": "new"' '"allow_rollup_hdrs": true' '"duplicate_window": 120000000000' \
            '"max_msgs": -1' '"max_bytes": -1' '"max_msg_size": -1' '"storage": "file"' \
            '"num_replicas": 1' '"retention": "limits"' '"max_age": 0'; do
    check_match "stream config has $want" "$cfg" "$want"
done
check_match "subjects are \$KV.cfg.>" "$(printf '%s' "$info" | js_field config.subjects)" '^\["\$KV\.cfg\.>"\]$'
check_eq "kv-open again binds" "$(t kv-open cfg 5)" "ok"
check_eq "kv-open with another history binds as is" "$(t kv-open cfg 2)" "ok"
check_match "history unchanged" "$(t api STREAM.INFO.KV_cfg | js_field config.max_msgs_per_subject)" '^5$'
t kv-open ttl 1 60 >/dev/null
check_match "max_age below 2 min sets duplicate_window = max_age" \
    "$(t api STREAM.INFO.KV_ttl | js_field config.duplicate_window)" '^60000000000$'
t kv-bind nosuch >/dev/null 2>&1; check_eq "kv-bind of a missing bucket: not found" "$?" 3
err=$(t kv-open 'bad.name' 1 2>&1 >/dev/null); rc=$?
check_eq "bad bucket name refused" "$rc" 1
check_match "bad bucket name message" "$err" 'invalid bucket name'

echo "# put, get, update, create, delete, purge"
check_eq "put k1 -> rev 1" "$(t kv-put cfg k1 v1)" "1"
out=$(t kv-get cfg k1)
check_match "get k1" "$out" '^1 [0-9]+ v1$'
created=$(printf '%s' "$out" | cut -d' ' -f2)
now=$(date +%s%N)
check "created time is now (+-120 s)" test $(( (now - created) / 1000000000 )) -lt 120 -a $(( (created - now) / 1000000000 )) -lt 120
t kv-get cfg nokey >/dev/null 2>&1; check_eq "get missing key: not found" "$?" 3
check_eq "update with the right revision" "$(t kv-update cfg k1 v2 1)" "2"
err=$(t kv-update cfg k1 stale 1 2>&1 >/dev/null); rc=$?
check_eq "update with a stale revision: conflict" "$rc" 5
check_match "conflict message names the wrong last sequence" "$err" 'wrong last sequence'
check_match "lost CAS did not overwrite" "$(t kv-get cfg k1)" '^2 [0-9]+ v2$'
t kv-create cfg k1 x >/dev/null 2>&1; check_eq "create over a live key: exists" "$?" 6
check_eq "delete k1" "$(t kv-del cfg k1)" "ok"
t kv-get cfg k1 >/dev/null 2>&1; check_eq "get after delete: not found" "$?" 3
check_eq "create over the delete marker (rev 3)" "$(t kv-create cfg k1 v4)" "4"
check_match "get after re-create" "$(t kv-get cfg k1)" '^4 [0-9]+ v4$'
check_eq "purge k1" "$(t kv-purge cfg k1)" "ok"
t kv-get cfg k1 >/dev/null 2>&1; check_eq "get after purge: not found" "$?" 3
check_match "purge rolled up the key's history" \
    "$(t api STREAM.INFO.KV_cfg | js_field state.messages)" '^1$'
check_eq "create over the purge marker" "$(t kv-create cfg k1 v6)" "6"
check_eq "create a fresh key" "$(t kv-create cfg fresh.key/x=1 yes)" "7"
check_match "dots, slash and = in keys" "$(t kv-get cfg fresh.key/x=1)" '^7 [0-9]+ yes$'
for k in .lead trail. 'a..b' 'sp ace' 'a*b' ''; do
    t kv-put cfg "$k" v >/dev/null 2>&1; check_eq "invalid key '$k' refused" "$?" 1
done
t kv-put cfg "$(printf 'k%.0s' $(seq 1 256))" v >/dev/null 2>&1; check_eq "256-byte key refused" "$?" 1

echo "# keys"
t kv-open keys 3 >/dev/null
check_eq "keys of an empty bucket" "$(t kv-keys keys)" "END"
for k in a b c d; do t kv-put keys $k 1 >/dev/null; done
t kv-put keys a 2 >/dev/null
t kv-del keys b >/dev/null
t kv-purge keys c >/dev/null
check_eq "keys skip deleted and purged" "$(t kv-keys keys | sort | tr '\n' ' ')" "END a d "

echo "# direct get vs STREAM.MSG.GET"
# A KV stream without allow_direct (as an older client would create it).
t api STREAM.CREATE.KV_nodirect '{"name":"KV_nodirect","subjects":["$KV.nodirect.>"],"retention":"limits","max_msgs_per_subject":3,"max_msgs":-1,"max_bytes":-1,"max_age":0,"storage":"file","num_replicas":1,"discard":"new","allow_rollup_hdrs":true,"deny_delete":true,"allow_direct":false}' >/dev/null
check_match "stream without allow_direct" "$(t api STREAM.INFO.KV_nodirect | js_field config.allow_direct)" false
check_eq "put into it" "$(t kv-put nodirect k hello)" "1"
check_match "get through STREAM.MSG.GET" "$(t kv-get nodirect k)" '^1 [0-9]+ hello$'
t kv-del nodirect k >/dev/null
t kv-get nodirect k >/dev/null 2>&1; check_eq "delete marker seen through MSG.GET" "$?" 3
check_eq "create over the marker through MSG.GET" "$(t kv-create nodirect k again)" "3"
# The server runs with -V (protocol trace): the log shows which API each
# get used.
log="$T_DIR/nats-$NATS_PORT.log"
check "allow_direct bucket: get by DIRECT.GET with the subject form" \
    grep -qF 'PUB $JS.API.DIRECT.GET.KV_cfg.$KV.cfg.fresh.key/x=1 ' "$log"
check "allow_direct bucket: no STREAM.MSG.GET" bash -c "! grep -qF 'STREAM.MSG.GET.KV_cfg ' '$log'"
check "bucket without allow_direct: get by STREAM.MSG.GET" \
    grep -qF 'PUB $JS.API.STREAM.MSG.GET.KV_nodirect ' "$log"
check "bucket without allow_direct: no DIRECT.GET" bash -c "! grep -qF 'DIRECT.GET.KV_nodirect' '$log'"

echo "# watch"
t kv-open empty 1 >/dev/null
out=$(t kv-watch empty '>' 0 20)
check_eq "watch of an empty bucket: INIT_DONE at once" "$(printf '%s' "$out" | tr '\n' ' ')" "READY INIT_DONE"
t kv-open wb 5 >/dev/null
t kv-put wb a 1 >/dev/null; t kv-put wb b 2 >/dev/null; t kv-put wb a 3 >/dev/null; t kv-del wb b >/dev/null
out=$(t kv-watch wb '>' 2 20 | tr '\n' '|')
check_eq "watch: last values, then INIT_DONE" "$out" "READY|3 PUT a 3|4 DEL b |INIT_DONE|"
out=$(t kv-watch wb a 1 20 | tr '\n' '|')
check_eq "watch of one key" "$out" "READY|3 PUT a 3|INIT_DONE|"
watch_bg "$T_DIR/w1.out" wb '>' 4 30
wpid=$!
wait_line "$T_DIR/w1.out" INIT_DONE
t kv-put wb c 5 >/dev/null; t kv-put wb a 6 >/dev/null
wait "$wpid"; rc=$?
check_eq "watch sees updates after INIT_DONE" "$rc/$(lines "$T_DIR/w1.out")" \
    "0/READY|3 PUT a 3|4 DEL b |INIT_DONE|5 PUT c 5|6 PUT a 6|"

echo "# watch across a server restart"
t kv-open rs 5 >/dev/null
t kv-put rs x 1 >/dev/null; t kv-put rs y 2 >/dev/null; t kv-put rs x 3 >/dev/null
# Expect: x@3 y@2 in stream order, INIT_DONE, then revisions 4..9 once each.
watch_bg "$T_DIR/w2.out" rs '>' 8 90
wpid=$!
wait_line "$T_DIR/w2.out" INIT_DONE
t kv-put rs y 4 >/dev/null; t kv-put rs z 5 >/dev/null
wait_line "$T_DIR/w2.out" '^5 PUT z'
nats_restart
t kv-put rs x 6 >/dev/null; t kv-del rs y >/dev/null
sleep 3      # the watcher is reconnecting or has resumed meanwhile
t kv-put rs z 8 >/dev/null; t kv-put rs w 9 >/dev/null
wait "$wpid"; rc=$?
check_eq "watch across a restart exits cleanly" "$rc" 0
check_eq "every revision once, in order, across the restart" \
    "$(lines "$T_DIR/w2.out")" \
    "READY|2 PUT y 2|3 PUT x 3|INIT_DONE|4 PUT y 4|5 PUT z 5|6 PUT x 6|7 DEL y |8 PUT z 8|9 PUT w 9|"

echo "# watch whose consumer is deleted under it (missed heartbeats -> recreate)"
t kv-open hb 5 >/dev/null
t kv-put hb a 1 >/dev/null
watch_bg "$T_DIR/w3.out" hb '>' 3 60
wpid=$!
wait_line "$T_DIR/w3.out" INIT_DONE
names=$(t api CONSUMER.NAMES.KV_hb '{}' | js_field consumers | tr -d '[]" ')
check_match "the watch runs on one ephemeral consumer" "$names" '^[A-Za-z0-9_-]+$'
t api "CONSUMER.DELETE.KV_hb.$names" >/dev/null
t kv-put hb b 2 >/dev/null; t kv-put hb a 3 >/dev/null
wait "$wpid"; rc=$?
check_eq "revisions after the loss arrive once, in order" "$rc/$(lines "$T_DIR/w3.out")" \
    "0/READY|1 PUT a 1|INIT_DONE|2 PUT b 2|3 PUT a 3|"
check_match "the abandoned consumer was replaced" "$(t api CONSUMER.NAMES.KV_hb '{}' | js_field consumers)" '^\[\]$|^\["[^"]+"\]$'

echo "# compare-and-set races between two writers"
t kv-open race 1 >/dev/null
n=60
t kv-incr race counter $n >"$T_DIR/r1.out" 2>&1 &
p1=$!
t kv-incr race counter $n >"$T_DIR/r2.out" 2>&1 &
p2=$!
wait "$p1"; rc1=$?; wait "$p2"; rc2=$?
check_eq "both writers finished" "$rc1/$rc2" "0/0"
check_match "final counter = total increments" "$(t kv-get race counter)" " $((2 * n))$"
echo "  (conflicts retried: $(cat "$T_DIR/r1.out" "$T_DIR/r2.out" | grep -o 'conflicts=[0-9]*' | tr '\n' ' '))"

echo "# JetStream missing"
port2=$(free_port)
nats-server -p "$port2" -a 127.0.0.1 >>"$T_DIR/nojs.log" 2>&1 &
T_PIDS+=($!)
sleep 0.5
err=$(t -s "nats://127.0.0.1:$port2" kv-open x 1 2>&1 >/dev/null); rc=$?
check_eq "no JetStream: unreachable exit code" "$rc" 4
check_match "no JetStream: clear message" "$err" 'JetStream is not enabled'

t_summary
