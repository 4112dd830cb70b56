#!/usr/bin/env bash
# Runs every suite and adds up their "N passed, N failed" lines:
#   native pure-module unit tests (ASan/UBSan), the same tests as .exe under
#   Wine, Win32 unit tests under Wine, short fuzz runs, then tests/it_*.sh.
# Integration suites are independent (each starts its own nats-server on a
# free port and its own Wine prefix), so they run two at a time, the longest
# first; JOBS=1 runs them one by one.
# Run one suite by hand: build/native/t_json, or bash tests/it_cli.sh.
# ONLY=it_cli (a regex) limits the run to matching suites.
set -u
BUILD=${BUILD:-build}
export BUILD
cd "$(dirname "$0")/.."
ONLY=${ONLY:-.}
JOBS=${JOBS:-2}
log="$BUILD/test-logs"
rm -rf "$log"; mkdir -p "$log"

# run_suite NAME COMMAND...: runs one suite into $log/NAME.log and leaves
# "passed failed seconds" in $log/NAME.result (it may run in a subshell).
run_suite() {
    local name=$1; shift
    local start=$SECONDS out p f
    mkdir -p "$(dirname "$log/$name.log")"
    "$@" >"$log/$name.log" 2>&1 </dev/null
    local rc=$?
    out=$(grep -E '(^|: )[0-9]+ passed, [0-9]+ failed' "$log/$name.log" | tail -n 1)
    p=$(printf '%s' "$out" | sed -nE 's/.*([^0-9]|^)([0-9]+) passed, ([0-9]+) failed.*/\2/p')
    f=$(printf '%s' "$out" | sed -nE 's/.*([^0-9]|^)([0-9]+) passed, ([0-9]+) failed.*/\3/p')
    if [ -z "$p" ]; then p=0; f=1; fi           # no summary line: the suite broke
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    # An integration suite that failed runs once more from scratch (its own
    # fresh prefix and broker): under load Wine now and then runs a process
    # that does nothing and exits 0 (see README, "Known issues"). A real
    # defect fails twice; the first run's log is kept and the retry is named
    # in the summary.
    if [ "$f" -ne 0 ] && [ "${RETRIED:-}" != "$name" ] && [ "${name#it_}" != "$name" ]; then
        mv "$log/$name.log" "$log/$name.first-try.log"
        echo "$name: $p passed, $f failed on the first try; running it again" >"$log/$name.retried"
        RETRIED=$name run_suite "$name" "$@"
        return
    fi
    echo "$p $f $((SECONDS - start))" >"$log/$name.result"
    report "$name"
}

report() {
    local name=$1 p f s
    read -r p f s <"$log/$name.result"
    if [ "$f" -ne 0 ]; then
        printf '%-28s %4d passed, %d failed  (%ds)  FAILED, log: %s\n' "$name" "$p" "$f" "$s" "$log/$name.log"
        grep -E 'FAIL|not ok|ERROR|error:' "$log/$name.log" | head -n 15 | sed 's/^/    /'
    else
        printf '%-28s %4d passed, %d failed  (%ds)\n' "$name" "$p" "$f" "$s"
    fi
}

selected() { printf '%s' "$1" | grep -Eq -- "$ONLY"; }

export WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
for t in tests/t_*.c; do
    n=native/$(basename "$t" .c)
    selected "$n" && run_suite "$n" "$BUILD/native/${n#native/}"
done

# One Wine prefix for the unit-test exes (they need no services).
units=()
for t in tests/t_*.c tests/w_*.c; do
    [ -e "$t" ] && selected "wine/$(basename "$t" .c)" && units+=("$(basename "$t" .c)")
done
if [ ${#units[@]} -gt 0 ]; then
    export WINEPREFIX="$PWD/$BUILD/wine-units"
    rm -rf "$WINEPREFIX"; wineboot -i >/dev/null 2>&1
    for n in "${units[@]}"; do run_suite "wine/$n" wine "$BUILD/wtest/$n.exe"; done
    wineserver -k 2>/dev/null
    unset WINEPREFIX
fi

for f in tests/fuzz_*.c; do
    n=fuzz/$(basename "$f" .c)
    [ -e "$f" ] && selected "$n" && run_suite "$n" bash tests/fuzz.sh "${n#fuzz/}" "${FUZZ_SECONDS:-10}"
done

# Longest first, so the pool of JOBS stays busy to the end.
suites=()
for s in tests/it_update.sh tests/it_waves.sh tests/it_agent.sh tests/it_halt_real.sh tests/it_*.sh; do
    [ -e "$s" ] || continue
    n=$(basename "$s" .sh)
    selected "$n" || continue
    case " ${suites[*]:-} " in *" $n "*) continue ;; esac
    suites+=("$n")
done
for n in "${suites[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n; done
    run_suite "$n" bash "tests/$n.sh" &
done
wait

pass=0; fail=0; bad_suites=()
for r in $(cd "$log" && find . -name '*.result' | sort); do
    read -r p f s <"$log/$r"
    pass=$((pass + p)); fail=$((fail + f))
    [ "$f" -ne 0 ] && bad_suites+=("${r#./}")
done
for r in "$log"/*.retried; do [ -e "$r" ] && echo "retried: $(cat "$r")"; done
if [ ${#bad_suites[@]} -gt 0 ]; then echo "failed suites: ${bad_suites[*]%.result}"; fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
