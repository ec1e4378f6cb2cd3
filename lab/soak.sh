#!/usr/bin/env bash
# lab/soak.sh — the lab's soak: AppVMs created and torn down in a loop, with traffic, for
# SECONDS (lab/dom0/lib.sh's soak), then xfwd's fds, grant pages, event channels and RSS compared
# with their value after the first cycle. Not part of every CI run (the system tests run a
# 2-minute one). Prints one XFW-SOAK line per cycle and the checks; fails if one failed.
#   lab/soak.sh [SECONDS=600] [RELEASE_BUILD_DIR=build/release]
set -uo pipefail
cd "$(dirname "$0")/.."
secs=${1:-600}
lab/build.sh "${2:-build/release}" build/lab >/dev/null || exit 1
log=build/lab/soak.log
start=$(date +%s)
XFW_LAB_ARGS="xfw.soak=$secs" timeout $((secs + 600)) lab/run.sh build/lab soak > "$log" 2>&1
grep -a "XFW-TEST\|XFW-LAB\|XFW-SOAK" "$log"
pass=$(grep -ac "XFW-TEST PASS" "$log"); fail=$(grep -ac "XFW-TEST FAIL" "$log")
echo "soak: $pass passed, $fail failed in $(( $(date +%s) - start ))s (console: $log)"
grep -aq "XFW-LAB soak took" "$log" || { echo "soak: the scenario did not finish"; exit 1; }
[ "$pass" -gt 0 ] && [ "$fail" = 0 ]
