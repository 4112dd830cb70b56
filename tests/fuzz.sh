#!/usr/bin/env bash
# fuzz.sh [target [seconds]]: runs libFuzzer targets for a bounded time from
# their seed corpus (tests/corpus/<target>/, plus seeds the target's build
# writes). Prints the executions run and "1 passed, 0 failed" per target.
set -u
BUILD=${BUILD:-build}
secs=${2:-${FUZZ_SECONDS:-10}}
targets=${1:-$(ls tests/fuzz_*.c 2>/dev/null | xargs -n1 basename | sed 's/\.c$//')}
pass=0; fail=0
for t in $targets; do
    corpus="$BUILD/fuzz/corpus-$t"
    mkdir -p "$corpus"
    [ -d "tests/corpus/$t" ] && cp -n tests/corpus/$t/* "$corpus/" 2>/dev/null
    # Real PE images get the PE fuzzer past the headers from the first run.
    [ "$t" = fuzz_pe_version ] && cp -n "$BUILD"/fixtures/*.exe "$corpus/" 2>/dev/null
    out=$("$BUILD/fuzz/$t" -max_total_time="$secs" -print_final_stats=1 \
          -artifact_prefix="$BUILD/fuzz/crash-$t-" "$corpus" 2>&1)
    rc=$?
    execs=$(printf '%s\n' "$out" | sed -n 's/^stat::number_of_executed_units: *//p')
    echo "$t: ${execs:-?} executions in ${secs}s, exit $rc"
    if [ $rc -eq 0 ]; then pass=$((pass+1)); else fail=$((fail+1)); printf '%s\n' "$out" | tail -n 30; fi
done
echo "fuzz: $pass passed, $fail failed"
[ $fail -eq 0 ]
