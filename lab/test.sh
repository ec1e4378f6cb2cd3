#!/usr/bin/env bash
# lab/test.sh — the system tests against the real Xen and the real Linux netfront: boots the lab
# with the "test" scenario (lab/scenarios/test.sh) and fails if any check failed or none ran.
#   lab/test.sh [RELEASE_BUILD_DIR=build/release]
set -uo pipefail
cd "$(dirname "$0")/.."
lab/build.sh "${1:-build/release}" build/lab >/dev/null || exit 1
log=build/lab/test.log
timeout 900 lab/run.sh build/lab test > "$log" 2>&1
grep -a "XFW-TEST" "$log"
pass=$(grep -ac "XFW-TEST PASS" "$log"); fail=$(grep -ac "XFW-TEST FAIL" "$log")
echo "lab: $pass passed, $fail failed (console: $log)"
[ "$pass" -gt 0 ] && [ "$fail" = 0 ]
