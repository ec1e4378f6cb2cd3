#!/usr/bin/env bash
# What `xfwctl capture` costs the data path: instructions per frame (callgrind, exact and
# repeatable) for each case of bench/capture_bench.cc, as the difference between a run of
# 200 000 frames and one of 0, and the ratio to no capture at all.
#   bench/capture_cost.sh build/release
set -euo pipefail
bin=$1/bench/capture_bench
n=200000
source "$(dirname "$0")/ir.sh"
"$bin" none 1 >/dev/null  # the binary works
printf '%-10s %12s %8s\n' case "Ir/frame" "x none"
base=
for c in none other filtered stalled taking; do
  per=$(( ($(ir "$bin" "$c" "$n") - $(ir "$bin" "$c" 0)) / n ))
  [ -n "$base" ] || base=$per
  printf '%-10s %12d %8s\n' "$c" "$per" "$(echo "scale=2; $per / $base" | bc)"
done
