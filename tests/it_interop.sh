#!/usr/bin/env bash
# it_interop.sh — our client (tool_js.exe under Wine) against the official
# nats.js clients (tests/interop/js.mjs, npm @nats-io/* pinned by
# package-lock.json) on one nats-server, both directions: buckets and stores
# created by either side opened by the other, KV values and deletes seen by
# the other's get and watch, objects put by either side read and verified
# (nats.js checks the digest itself) by the other.
source "$(dirname "$0")/lib.sh"
TOOL="$BUILD/wtest/tool_js.exe"
IDIR=$(cd "$(dirname "$0")/interop" && pwd)
[ -f "$TOOL" ] || { echo "missing $TOOL (make BUILD=$BUILD units)"; exit 1; }
if [ ! -d "$IDIR/node_modules/@nats-io/obj" ]; then
    (cd "$IDIR" && npm ci --no-audit --no-fund) >"$T_DIR/npm.log" 2>&1 \
        || { cat "$T_DIR/npm.log"; echo "npm ci failed"; exit 1; }
fi

wine_prefix
nats_start
export NATS_URL
D="$T_DIR/files"; mkdir -p "$D"

t() { w "$TOOL" "$@"; }
n() { node "$IDIR/js.mjs" "$NATS_URL" "$@"; }
wp() { printf 'Z:%s' "${1//\//\\}"; }
sha() { sha256sum <"$1" | cut -d' ' -f1; }

echo "# KV buckets created by one side, opened by the other"
check_eq "nats.js creates jsb" "$(n kv-open jsb 5)" "ok"
check_eq "we bind jsb" "$(t kv-bind jsb)" "ok"
check_eq "our kv-open binds jsb as is" "$(t kv-open jsb 5)" "ok"
check_eq "we create cb" "$(t kv-open cb 5)" "ok"
check_eq "nats.js opens cb" "$(n kv-bind cb)" "ok"
check_eq "nats.js create() binds cb" "$(n kv-open cb 5)" "ok"

echo "# KV values and deletes across clients"
for b in jsb cb; do
    rev=$(t kv-put $b fromc "C value")
    check_match "$b: nats.js gets our put" "$(n kv-get $b fromc)" "^$rev [0-9]+ C value$"
    rev=$(n kv-put $b fromjs "JS value")
    check_match "$b: we get nats.js's put" "$(t kv-get $b fromjs)" "^$rev [0-9]+ JS value$"
    ours=$(t kv-get $b fromjs | cut -d' ' -f2); theirs=$(n kv-get $b fromjs | cut -d' ' -f2)
    check_eq "$b: same created time (ms)" "$((ours / 1000000))" "$theirs"
    t kv-del $b fromc >/dev/null
    n kv-get $b fromc >/dev/null 2>&1; check_eq "$b: nats.js sees our delete" "$?" 3
    n kv-del $b fromjs >/dev/null
    t kv-get $b fromjs >/dev/null 2>&1; check_eq "$b: we see nats.js's delete" "$?" 3
    rev=$(t kv-create $b fromjs again)
    check_match "$b: we create over nats.js's delete marker" "$(n kv-get $b fromjs)" "^$rev [0-9]+ again$"
    rev=$(t kv-update $b fromjs "cas ok" "$rev")
    check_match "$b: nats.js sees our CAS update" "$(n kv-get $b fromjs)" "^$rev [0-9]+ cas ok$"
    # Both watchers list the same last values, markers included.
    ow=$(t kv-watch $b '>' 2 20 | grep -v -e READY -e INIT_DONE)
    jw=$(n kv-watch $b '>' 2 20 | grep -v READY)
    check_eq "$b: our watch and nats.js's watch agree" "$ow" "$jw"
    check_match "$b: watch shows our delete marker" "$ow" " DEL fromc $"
done

echo "# live watches across clients"
n kv-watch cb 'live.>' 2 30 >"$D/jw.out" 2>"$D/jw.err" &
jp=$!
wait_line "$D/jw.out" READY
r1=$(t kv-put cb live.a one); t kv-del cb live.a >/dev/null
wait "$jp"
check_eq "nats.js watcher sees our put and delete" "$(tr '\n' '|' <"$D/jw.out")" "READY|$r1 PUT live.a one|$((r1 + 1)) DEL live.a |"
# Straight to the file: a `w` pipe (tr) would hold the lines until exit.
wine "$TOOL" kv-watch cb 'live2.>' 2 30 >"$D/ow.out" 2>"$D/ow.err" &
op=$!
wait_line "$D/ow.out" INIT_DONE
r1=$(n kv-put cb live2.b two); n kv-del cb live2.b >/dev/null
wait "$op"
check_eq "our watcher sees nats.js's put and delete" "$(tr -d '\r' <"$D/ow.out" | tr '\n' '|')" \
    "READY|INIT_DONE|$r1 PUT live2.b two|$((r1 + 1)) DEL live2.b |"

echo "# many keys written by nats.js"
n kv-open many 3 >/dev/null
n kv-fill many k 2000 >/dev/null
check_eq "our keys lists all 2000" "$(t kv-keys many | grep -c '^k\.')" 2000
t kv-watch many '>' 2000 60 >"$D/many.out" 2>&1
check_eq "our watch: 2000 last values (second round), INIT_DONE right after the last" \
    "$(grep -c ' PUT k\.[0-9]* v1$' "$D/many.out")/$(grep -n INIT_DONE "$D/many.out" | cut -d: -f1)" "2000/2002"

echo "# object stores created by one side, opened by the other"
check_eq "nats.js creates jso" "$(n obj-open jso)" "ok"
check_eq "we open jso" "$(t obj-open jso)" "ok"
check_eq "we create co" "$(t obj-open co)" "ok"
check_eq "nats.js opens co" "$(n obj-open co)" "ok"

echo "# objects across clients"
for size in 0 1 131072 131073 5242880; do
    head -c "$size" /dev/urandom >"$D/in.$size"
    # ours -> nats.js (nats.js verifies the digest and fails on a mismatch)
    ours=$(t obj-put co "c-$size" "$(wp "$D/in.$size")" 2>/dev/null)
    rm -f "$D/js.$size"
    theirs=$(n obj-get co "c-$size" "$D/js.$size" 2>"$D/err"); rc=$?
    check_eq "$size bytes: nats.js reads our object (digest checked)" "$rc" 0
    check_eq "$size bytes: nats.js got the same bytes" "$(sha "$D/js.$size" 2>/dev/null)" "$(sha "$D/in.$size")"
    check_eq "$size bytes: nats.js sees our size, chunks, digest" \
        "$(printf '%s' "$theirs" | cut -d' ' -f1-5)" "$(printf '%s' "$ours" | cut -d' ' -f1-5)"
    # nats.js -> ours
    theirs=$(n obj-put jso "j-$size" "$D/in.$size" 2>/dev/null)
    rm -f "$D/c.$size"
    ours=$(t obj-get jso "j-$size" "$(wp "$D/c.$size")" 2>"$D/err"); rc=$?
    check_eq "$size bytes: we read nats.js's object" "$rc" 0
    check_eq "$size bytes: we got the same bytes" "$(sha "$D/c.$size" 2>/dev/null)" "$(sha "$D/in.$size")"
    check_eq "$size bytes: we see nats.js's size, chunks, digest" \
        "$(printf '%s' "$ours" | cut -d' ' -f1-5)" "$(printf '%s' "$theirs" | cut -d' ' -f1-5)"
done
name='dir/v 1.txt'
printf 'named' >"$D/named"
t obj-put co "$name" "$(wp "$D/named")" >/dev/null 2>&1
check_match "nats.js finds our object by an odd name" "$(n obj-info co "$name")" "^dir/v 1.txt 5 1 "
n obj-put jso "$name" "$D/named" >/dev/null 2>&1
check_match "we find nats.js's object by an odd name" "$(t obj-info jso "$name")" "^dir/v 1.txt 5 1 "
check_eq "nats.js lists our objects" "$(n obj-list co | cut -d' ' -f1 | grep -c '^c-')" 5
check_eq "we list nats.js's objects" "$(t obj-list jso | cut -d' ' -f1 | grep -c '^j-')" 5

echo "# deletes across clients"
t obj-del co c-1 >/dev/null
check_match "nats.js sees our delete" "$(n obj-info co c-1)" '^c-1 0 0 - deleted '
n obj-get co c-1 "$D/x" >/dev/null 2>&1; check_eq "nats.js cannot get our deleted object" "$?" 3
n obj-list co | grep -q '^c-1 '; check_eq "nats.js list skips our deleted object" "$?" 1
t obj-put jso gone "$(wp "$D/named")" >/dev/null 2>&1
check_eq "nats.js deletes an object we put" "$(n obj-del jso gone)" "ok"
t obj-info jso gone >/dev/null 2>&1; check_eq "we see nats.js's delete" "$?" 3
check_match "our info --deleted of nats.js's delete" "$(t obj-info jso gone --deleted)" '^gone 0 0 - deleted '

t_summary
