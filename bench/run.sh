#!/usr/bin/env bash
# `make bench`: runs every benchmark script in bench/ (each prints its own
# figures, ours beside the reference, with the ratio from the same run).
set -u
cd "$(dirname "$0")/.."
export BUILD=${BUILD:-build}
rc=0
# fleet.sh runs 100 simulated agents here (about 3 minutes); AGENTS=1000
# bash bench/fleet.sh for the figures in docs/scale.md.
for b in bench/obj_bench.sh bench/rollout.sh bench/fleet.sh bench/serve.sh; do
    [ -e "$b" ] || { echo "== $b: missing"; continue; }
    echo "== $b"
    bash "$b" || rc=1
done
exit $rc
