#!/usr/bin/env bash
# it_obj.sh — JetStream Object Store (objstore.c) against a real
# nats-server through tool_js.exe under Wine: stream config, objects at the
# chunk boundaries and 5 MiB, name encoding, overwrite purging the old
# chunks, delete, list, tampered and short objects (digest/size errors, no
# output file left), and a server restart in the middle of a get.
source "$(dirname "$0")/lib.sh"
TOOL="$BUILD/wtest/tool_js.exe"
[ -f "$TOOL" ] || { echo "missing $TOOL (make BUILD=$BUILD units)"; exit 1; }

wine_prefix
nats_start
export NATS_URL
D="$T_DIR/files"; mkdir -p "$D"

t() { w "$TOOL" "$@"; }
# A Unix path as Wine sees it (Z: is the root), without a wine call.
wp() { printf 'Z:%s' "${1//\//\\}"; }
enc_name() { printf '%s' "$1" | base64 -w0 | tr '+/' '-_'; }
messages() { t api "STREAM.INFO.OBJ_$1" | js_field state.messages; }

echo "# store create and bind"
check_eq "obj-open creates" "$(t obj-open st)" "ok"
cfg=$(t api STREAM.INFO.OBJ_st | js_field config)
for want in '"subjects": \["\$O\.st\.C\.>", "\$O\.st\.M\.>"\]' '"allow_rollup_hdrs": true' \
            '"allow_direct": true' '"discard": "new"' '"storage": "file"' '"max_bytes": -1' \
            '"num_replicas": 1' '"max_age": 0'; do
    check_match "stream config has $want" "$cfg" "$want"
done
check_eq "obj-open again binds" "$(t obj-open st)" "ok"
check_eq "empty store lists nothing" "$(t obj-list st)" "END"
t obj-info nosuchstore x >/dev/null 2>&1; check_eq "missing store: not found" "$?" 3
t obj-info st nothing >/dev/null 2>&1; check_eq "missing object: not found" "$?" 3

echo "# sizes around the chunk boundaries"
for spec in 0:0 1:1 131071:1 131072:1 131073:2 5242880:40; do
    size=${spec%%:*}; chunks=${spec##*:}
    head -c "$size" /dev/urandom >"$D/in.$size"
    want=$(nats_digest "$D/in.$size")
    out=$(t obj-put st "obj-$size" "$(wp "$D/in.$size")" 2>/dev/null)
    check_eq "put $size bytes: size, chunks, digest" "$(printf '%s' "$out" | cut -d' ' -f1-5)" \
        "obj-$size $size $chunks $want live"
    rm -f "$D/out.$size"
    out=$(t obj-get st "obj-$size" "$(wp "$D/out.$size")" 2>/dev/null); rc=$?
    check_eq "get $size bytes" "$rc" 0
    check_eq "got $size bytes identical (sha256sum)" \
        "$(sha256sum <"$D/out.$size" 2>/dev/null | cut -d' ' -f1)" "$(sha256sum <"$D/in.$size" | cut -d' ' -f1)"
done
info=$(t obj-info st obj-131073)
check_match "info reports size, chunks and digest" "$info" "^obj-131073 131073 2 SHA-256=[A-Za-z0-9_-]{43}= live [0-9A-Za-z]{22}$"

echo "# names: padded base64url meta subjects"
printf 'abc' >"$D/small"
for name in a 'my/file.txt' 'with space' '0.42.2'; do
    t obj-put st "$name" "$(wp "$D/small")" >/dev/null 2>&1
    enc=$(enc_name "$name")
    got=$(t api STREAM.MSG.GET.OBJ_st "{\"last_by_subj\":\"\$O.st.M.$enc\"}" | js_field message.subject)
    check_eq "meta of '$name' on \$O.st.M.$enc" "$got" "\"\$O.st.M.$enc\""
done
check_eq "'a' encodes as YQ== (padded)" "$(enc_name a)" "YQ=="
meta=$(t api STREAM.MSG.GET.OBJ_st "{\"last_by_subj\":\"\$O.st.M.$(enc_name a)\"}")
json=$(printf '%s' "$meta" | js_field message.data | tr -d '"' | base64 -d)
check_match "meta has an RFC 3339 mtime" "$json" '"mtime":"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z"'
check_match "meta has options.max_chunk_size" "$json" '"options":\{"max_chunk_size":131072\}'
check_match "meta carries Nats-Rollup: sub" "$(printf '%s' "$meta" | js_field message.hdrs | tr -d '"' | base64 -d)" 'Nats-Rollup: sub'

echo "# overwrite purges the old chunks"
t obj-open ow >/dev/null
head -c 300000 /dev/urandom >"$D/ow1"; head -c 140000 /dev/urandom >"$D/ow2"
t obj-put ow big "$(wp "$D/ow1")" >/dev/null 2>&1
check_eq "3 chunks + 1 meta" "$(messages ow)" 4
t obj-put ow big "$(wp "$D/ow2")" >/dev/null 2>&1
check_eq "after overwrite: 2 chunks + 1 meta" "$(messages ow)" 3
t obj-get ow big "$(wp "$D/ow.out")" >/dev/null 2>&1
check_eq "overwritten object reads back as the new content" "$(sha256sum <"$D/ow.out" | cut -d' ' -f1)" "$(sha256sum <"$D/ow2" | cut -d' ' -f1)"

echo "# delete and list"
t obj-put ow other "$(wp "$D/small")" >/dev/null 2>&1
check_eq "list" "$(t obj-list ow | cut -d' ' -f1-3 | sort | tr '\n' '|')" "END|big 140000 2|other 3 1|"
check_eq "delete big" "$(t obj-del ow big)" "ok"
check_eq "chunks purged, meta is a delete marker" "$(messages ow)" 3
t obj-info ow big >/dev/null 2>&1; check_eq "info of a deleted object: not found" "$?" 3
check_match "info --deleted shows it" "$(t obj-info ow big --deleted)" '^big 0 0 - deleted [0-9A-Za-z]{22}$'
t obj-get ow big "$(wp "$D/del.out")" >/dev/null 2>&1; check_eq "get of a deleted object: not found" "$?" 3
check "no file for a not-found get" test ! -e "$D/del.out"
check_eq "list skips deleted" "$(t obj-list ow | cut -d' ' -f1 | tr '\n' '|')" "other|END|"
check_eq "list --deleted includes it" "$(t obj-list ow --deleted | cut -d' ' -f1,5 | sort | tr '\n' '|')" "END|big deleted|other live|"
t obj-del ow big >/dev/null 2>&1; check_eq "delete twice: not found" "$?" 3
echo keep >"$D/keep"
t obj-get ow nosuch "$(wp "$D/keep")" >/dev/null 2>&1; check_eq "get missing object" "$?" 3
check_eq "a not-found get leaves an existing file alone" "$(cat "$D/keep")" keep

echo "# tampered and short objects"
t obj-open tp >/dev/null
head -c 200000 /dev/urandom >"$D/tp"
line=$(t obj-put tp good "$(wp "$D/tp")" 2>/dev/null)
nuid=$(printf '%s' "$line" | cut -d' ' -f6)
bad_digest=$(nats_digest "$D/small")
pub_meta() {  # name json
    printf '%s' "$2" >"$D/meta.json"
    t pub "\$O.tp.M.$(enc_name "$1")" "$(wp "$D/meta.json")" rollup >/dev/null
}
pub_meta evil "{\"name\":\"evil\",\"bucket\":\"tp\",\"nuid\":\"$nuid\",\"size\":200000,\"chunks\":2,\"mtime\":\"2026-01-01T00:00:00Z\",\"digest\":\"$bad_digest\"}"
echo old >"$D/evil.out"
err=$(t obj-get tp evil "$(wp "$D/evil.out")" 2>&1 >/dev/null); rc=$?
check_eq "digest mismatch: exit code" "$rc" 7
check_match "digest mismatch: message" "$err" 'does not match its digest'
check "digest mismatch: no output file" test ! -e "$D/evil.out"
pub_meta short "{\"name\":\"short\",\"bucket\":\"tp\",\"nuid\":\"$nuid\",\"size\":300000,\"chunks\":3,\"mtime\":\"2026-01-01T00:00:00Z\",\"digest\":\"$(nats_digest "$D/tp")\"}"
t obj-get tp short "$(wp "$D/short.out")" >/dev/null 2>&1; rc=$?
check_eq "short object: size error" "$rc" 8
check "short object: no output file" test ! -e "$D/short.out"
pub_meta long "{\"name\":\"long\",\"bucket\":\"tp\",\"nuid\":\"$nuid\",\"size\":100000,\"chunks\":1,\"mtime\":\"2026-01-01T00:00:00Z\",\"digest\":\"$(nats_digest "$D/tp")\"}"
t obj-get tp long "$(wp "$D/long.out")" >/dev/null 2>&1; rc=$?
check_eq "more data than the size: size error" "$rc" 8
check "oversized object: no output file" test ! -e "$D/long.out"
pub_meta nodigest "{\"name\":\"nodigest\",\"bucket\":\"tp\",\"nuid\":\"$nuid\",\"size\":200000,\"chunks\":2,\"mtime\":\"2026-01-01T00:00:00Z\"}"
t obj-get tp nodigest "$(wp "$D/nd.out")" >/dev/null 2>&1; rc=$?
check_eq "missing digest: digest error" "$rc" 7
check "missing digest: no output file" test ! -e "$D/nd.out"
pub_meta baddigest "{\"name\":\"baddigest\",\"bucket\":\"tp\",\"nuid\":\"$nuid\",\"size\":200000,\"chunks\":2,\"mtime\":\"2026-01-01T00:00:00Z\",\"digest\":\"SHA-256=abc\"}"
t obj-get tp baddigest "$(wp "$D/bd.out")" >/dev/null 2>&1; rc=$?
check_eq "malformed digest: digest error" "$rc" 7
pub_meta broken '{"name":"broken","size":"many"'
err=$(t obj-info tp broken 2>&1 >/dev/null); rc=$?
check_eq "malformed meta JSON: bad data" "$rc" 9
check_eq "malformed meta: one-line message" "$(printf '%s\n' "$err" | wc -l)" 1
t obj-get tp good "$(wp "$D/good.out")" >/dev/null 2>&1
check_eq "the untampered object still reads" "$(sha256sum <"$D/good.out" | cut -d' ' -f1)" "$(sha256sum <"$D/tp" | cut -d' ' -f1)"

echo "# server restart in the middle of a get"
t obj-open rs >/dev/null
head -c $((16 << 20)) /dev/urandom >"$D/rs.in"           # 128 chunks
t obj-put rs big "$(wp "$D/rs.in")" >/dev/null 2>&1
want=$(sha256sum <"$D/rs.in" | cut -d' ' -f1)
# --slow 25 stretches the get to over 3 s, so each restart lands inside it.
completed=0; failed=0
for delay in 1 2; do
    rm -f "$D/rs.out"
    wine "$TOOL" --slow 25 obj-get rs big "$(wp "$D/rs.out")" >"$T_DIR/rs.log" 2>&1 &
    gp=$!
    sleep "$delay"
    nats_restart
    wait "$gp"; rc=$?
    if [ "$rc" -eq 0 ]; then
        completed=$((completed + 1))
        check_eq "restart after ${delay}s: completed with the right bytes" \
            "$(sha256sum <"$D/rs.out" | cut -d' ' -f1)" "$want"
        ms=$(grep -o 'time_ms=[0-9]*' "$T_DIR/rs.log" | cut -d= -f2)
        check "restart after ${delay}s: the get was still running (took ${ms} ms)" test "${ms:-0}" -gt $((delay * 1000))
    else
        failed=$((failed + 1))
        check "restart after ${delay}s: failed cleanly (rc $rc), no output file" test ! -e "$D/rs.out"
    fi
done
echo "  (restarts: $completed gets completed, $failed failed cleanly)"

echo "# server gone in the middle of a get"
rm -f "$D/rs.out"
wine "$TOOL" --slow 25 obj-get rs big "$(wp "$D/rs.out")" >"$T_DIR/gone.log" 2>&1 &
gp=$!
sleep 1
nats_stop
wait "$gp"; rc=$?
check_eq "server gone: the get fails (timeout/unreachable)" "$rc" 4
check_match "server gone: one-line reason" "$(tr -d '\r' <"$T_DIR/gone.log")" 'stalled|failed'
check "server gone: no partial output file" test ! -e "$D/rs.out"
rm -f "$D/rs.in" "$D"/in.5242880 "$D"/out.5242880

t_summary
