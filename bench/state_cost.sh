#!/usr/bin/env bash
# What keeping connections across restarts costs (bench/state_bench.cc): instructions per flow
# (callgrind, exact and repeatable) of the once-a-second snapshot and of the adoption at start,
# as the difference between a table of N flows and one of 0; then wall-clock milliseconds at
# 1 000, 10 000 and 65 536 flows (median and spread of 5 runs each, printed by the benchmark).
# The data path itself is untouched: bench/capture_cost.sh's "none" row is its cost per frame.
#   bench/state_cost.sh build/release
set -euo pipefail
bin=$1/bench/state_bench
n=20000
ir() {  # MODE N -> instructions executed
  local out; out=$(mktemp)
  valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" "$1" "$2" >/dev/null 2>&1
  local v; v=$(callgrind_annotate "$out" 2>/dev/null | sed -n 's/^ *\([0-9,]*\) .*PROGRAM TOTALS.*/\1/p' | tr -d ,)
  rm -f "$out"; echo "$v"
}
"$bin" save 1 >/dev/null  # the binary works
# The table is filled the same way in both runs of a mode; what differs is one save (or load)
# of N flows against none.
printf '%-6s %10s\n' mode "Ir/flow"
for m in save load; do
  printf '%-6s %10d\n' "$m" $(( ($(ir "$m" "$n") - $(ir "$m" 0)) / n ))
done
for m in save load; do
  for f in 1000 10000 65536; do "$bin" "$m" "$f" --time; done
done
