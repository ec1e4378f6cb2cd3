#!/usr/bin/env bash
# What `xfwctl capture` costs the data path: instructions per frame (callgrind, exact and
# repeatable) for each case of bench/capture_bench.cc, as the difference between a run of
# 200 000 frames and one of 0, and the ratio to no capture at all.
#   bench/capture_cost.sh build/release
set -euo pipefail
bin=$1/bench/capture_bench
n=200000
ir() {  # CASE N -> instructions executed
  local out; out=$(mktemp)
  valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" "$1" "$2" >/dev/null 2>&1
  local v; v=$(callgrind_annotate "$out" 2>/dev/null | sed -n 's/^ *\([0-9,]*\) .*PROGRAM TOTALS.*/\1/p' | tr -d ,)
  rm -f "$out"; echo "$v"
}
"$bin" none 1 >/dev/null  # the binary works
printf '%-10s %12s %8s\n' case "Ir/frame" "x none"
base=
for c in none other filtered stalled taking; do
  per=$(( ($(ir "$c" "$n") - $(ir "$c" 0)) / n ))
  [ -n "$base" ] || base=$per
  printf '%-10s %12d %8s\n' "$c" "$per" "$(echo "scale=2; $per / $base" | bc)"
done
