#!/usr/bin/env bash
# Runs every suite and adds up their "N passed, N failed" lines:
#   native pure-module unit tests (ASan/UBSan), the same tests as .exe under
#   Wine, Win32 unit tests under Wine, short fuzz runs, then tests/it_*.sh.
# Run one suite by hand: build/native/t_json, or bash tests/it_cli.sh.
# ONLY=it_cli (a regex) limits the run to matching suites.
set -u
BUILD=${BUILD:-build}
export BUILD
cd "$(dirname "$0")/.."
ONLY=${ONLY:-.}
log="$BUILD/test-logs"; mkdir -p "$log"
pass=0; fail=0; bad_suites=()

run_suite() {  # name, command...
    local name=$1; shift
    printf '%s' "$name" | grep -Eq -- "$ONLY" || return 0
    local start=$SECONDS out
    mkdir -p "$(dirname "$log/$name.log")"
    "$@" >"$log/$name.log" 2>&1
    local rc=$?
    out=$(grep -E '(^|: )[0-9]+ passed, [0-9]+ failed' "$log/$name.log" | tail -n 1)
    local p f
    p=$(printf '%s' "$out" | sed -nE 's/.*([^0-9]|^)([0-9]+) passed, ([0-9]+) failed.*/\2/p')
    f=$(printf '%s' "$out" | sed -nE 's/.*([^0-9]|^)([0-9]+) passed, ([0-9]+) failed.*/\3/p')
    if [ -z "$p" ]; then p=0; f=1; fi
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    pass=$((pass + p)); fail=$((fail + f))
    if [ "$f" -ne 0 ]; then
        bad_suites+=("$name")
        printf '%-28s %4d passed, %d failed  (%ds)  FAILED, log: %s\n' "$name" "$p" "$f" $((SECONDS - start)) "$log/$name.log"
        grep -E 'FAIL|not ok|ERROR|error:' "$log/$name.log" | head -n 15 | sed 's/^/    /'
    else
        printf '%-28s %4d passed, %d failed  (%ds)\n' "$name" "$p" "$f" $((SECONDS - start))
    fi
}

export WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
for t in tests/t_*.c; do
    n=$(basename "$t" .c)
    run_suite "native/$n" "$BUILD/native/$n"
done

# One Wine prefix for the unit-test exes (they need no services).
export WINEPREFIX="$PWD/$BUILD/wine-units"
if printf 'wine/' | grep -Eq -- "$ONLY" || [ "$ONLY" = . ]; then
    rm -rf "$WINEPREFIX"; wineboot -i >/dev/null 2>&1
fi
for t in tests/t_*.c tests/w_*.c; do
    [ -e "$t" ] || continue
    n=$(basename "$t" .c)
    run_suite "wine/$n" wine "$BUILD/wtest/$n.exe"
done
wineserver -k 2>/dev/null
unset WINEPREFIX

for f in tests/fuzz_*.c; do
    [ -e "$f" ] || continue
    n=$(basename "$f" .c)
    run_suite "fuzz/$n" bash tests/fuzz.sh "$n" "${FUZZ_SECONDS:-10}"
done

for s in tests/it_*.sh; do
    [ -e "$s" ] || continue
    n=$(basename "$s" .sh)
    run_suite "$n" bash "$s"
done

if [ ${#bad_suites[@]} -gt 0 ]; then echo "failed suites: ${bad_suites[*]}"; fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
