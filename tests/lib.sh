# tests/lib.sh — shared helpers for the integration scripts (tests/it_*.sh).
# Source it; it provides assertions with counting, a free-port nats-server,
# and a fresh Wine prefix. Every script ends with `t_summary`, which prints
# "<suite>: N passed, N failed" and returns non-zero on any failure.
#
# Environment: BUILD (default build) holds the exes; each script gets its own
# scratch folder T_DIR under $BUILD/it/<suite>.

export PATH="$PATH:/usr/sbin:/sbin"
T_SUITE=${T_SUITE:-$(basename "$0" .sh)}
BUILD=${BUILD:-build}
BUILD=$(cd "$BUILD" && pwd)
T_DIR="$BUILD/it/$T_SUITE"
T_PASS=0
T_FAIL=0
T_PIDS=()
rm -rf "$T_DIR"; mkdir -p "$T_DIR"

ok()   { T_PASS=$((T_PASS + 1)); echo "  ok   $*"; }
bad()  { T_FAIL=$((T_FAIL + 1)); echo "  FAIL $*"; }
# check "description" command...   (passes when the command exits 0)
check() { local d=$1; shift; if "$@" >/dev/null 2>&1; then ok "$d"; else bad "$d"; fi; }
# check_eq "description" actual expected
check_eq() { if [ "$2" = "$3" ]; then ok "$1"; else bad "$1: got '$2', expected '$3'"; fi; }
# check_match "description" text regex
check_match() { if printf '%s' "$2" | grep -Eq -- "$3"; then ok "$1"; else bad "$1: '$(printf '%s' "$2" | head -c 400)' !~ /$3/"; fi; }
check_nomatch() { if printf '%s' "$2" | grep -Eq -- "$3"; then bad "$1: matched /$3/"; else ok "$1"; fi; }

t_cleanup() {
    local p
    for p in "${T_PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${T_PIDS[@]}"; do wait "$p" 2>/dev/null; done
    if [ -n "${WINEPREFIX:-}" ] && [ -d "$WINEPREFIX" ]; then wineserver -k 2>/dev/null; fi
    T_PIDS=()
    # A passing suite's Wine prefix (about 700 MB) goes, so a whole run fits
    # on a small disk; a failing suite's stays for the post-mortem.
    if [ "$T_FAIL" -eq 0 ] && [ -n "${WINEPREFIX:-}" ] && [ "${WINEPREFIX#"$T_DIR"/}" != "$WINEPREFIX" ]; then
        rm -rf "$WINEPREFIX"
    fi
}
trap t_cleanup EXIT

t_summary() {
    echo "$T_SUITE: $T_PASS passed, $T_FAIL failed"
    [ "$T_FAIL" -eq 0 ]
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# nats_start [extra nats-server args...]: starts a JetStream server on a free
# port with its own store folder; sets NATS_PORT, NATS_URL, NATS_PID, NATS_SD.
nats_start() {
    NATS_PORT=${NATS_PORT:-$(free_port)}
    NATS_SD=${NATS_SD:-$T_DIR/js-$NATS_PORT}
    mkdir -p "$NATS_SD"
    nats-server -js -sd "$NATS_SD" -p "$NATS_PORT" -a 127.0.0.1 "$@" \
        >>"$T_DIR/nats-$NATS_PORT.log" 2>&1 &
    NATS_PID=$!
    T_PIDS+=("$NATS_PID")
    NATS_URL="nats://127.0.0.1:$NATS_PORT"
    local i
    for i in $(seq 1 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$NATS_PORT") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "nats-server did not start on $NATS_PORT" >&2
    return 1
}
nats_stop() { kill "$NATS_PID" 2>/dev/null; wait "$NATS_PID" 2>/dev/null; }
# nats_restart: same port and store folder.
nats_restart() { nats_stop; nats_start "$@"; }

# wine_prefix: a fresh prefix under T_DIR, booted, with a persistent
# wineserver so services survive between wine calls (docs/style.md, Wine).
wine_prefix() {
    export WINEPREFIX="$T_DIR/wineprefix"
    export WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
    rm -rf "$WINEPREFIX"
    wineboot -i >/dev/null 2>&1
    wineserver -p 2>/dev/null
}

# Run a Windows exe; stdout/stderr pass through with CR stripped.
w() { wine "$@" 2> >(tr -d '\r' >&2) | tr -d '\r'; return "${PIPESTATUS[0]}"; }

# ---- shared helpers for the integration suites -----------------------------

# wait_for LIMIT DESC CMD...: runs CMD every 0.5 s until it succeeds (0) or
# LIMIT seconds pass (1, with a line naming DESC).
wait_for() {
    local limit=$1 desc=$2 t0=$SECONDS; shift 2
    while [ $((SECONDS - t0)) -lt "$limit" ]; do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.5
    done
    echo "  (timed out after ${limit}s waiting for: $desc)"
    return 1
}

# wait_line FILE REGEX [SECONDS]: polls until FILE has a line matching
# REGEX (default 30 s); a time-out counts as a failed check.
wait_line() {
    local i n=$(( ${3:-30} * 10 ))
    for ((i = 0; i < n; i++)); do grep -Eq -- "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
    bad "timed out waiting for /$2/ in $(basename "$1")"
    return 1
}

# jfield FIELD: a top-level field of the JSON document on stdin ("" when
# absent or not JSON; arrays and objects as compact JSON).
jfield() {
    python3 -c 'import json,sys
try: d = json.load(sys.stdin)
except Exception: sys.exit(0)
v = d.get(sys.argv[1]) if isinstance(d, dict) else None
print("" if v is None else json.dumps(v, separators=(",", ":")) if isinstance(v, (list, dict)) else v)' "$1"
}

# js_field PATH: the value at a dotted PATH of the JSON document on stdin,
# as JSON (strings keep their quotes).
js_field() { python3 -c 'import json,sys
d=json.loads(sys.stdin.read())
for k in sys.argv[1].split("."): d=d[k]
print(json.dumps(d))' "$1"; }

# nats_digest FILE: the digest NATS object stores record, "SHA-256=" and the
# padded base64url of the file's SHA-256.
nats_digest() {
    python3 -c 'import hashlib,base64,sys
print("SHA-256=" + base64.urlsafe_b64encode(hashlib.sha256(open(sys.argv[1],"rb").read()).digest()).decode())' "$1"
}
