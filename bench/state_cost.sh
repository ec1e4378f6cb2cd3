#!/usr/bin/env bash
# What keeping connections across restarts costs (bench/state_bench.cc): instructions per flow
# (callgrind, exact and repeatable) of the once-a-second snapshot (copy: the event loop's part;
# save: copy + encode + write, the rest on the writer thread) and of the adoption at start,
# as the difference from the set-up alone (mode "none", the same N flows); then wall-clock ms at
# 1 000, 10 000 and 65 536 flows (median and spread of 5 runs each, printed by the benchmark).
# The data path itself is untouched: bench/capture_cost.sh's "none" row is its cost per frame.
#   bench/state_cost.sh build/release
set -euo pipefail
bin=$1/bench/state_bench
n=20000
source "$(dirname "$0")/ir.sh"
"$bin" save 1 >/dev/null  # the binary works
printf '%-6s %10s\n' mode "Ir/flow"
base=$(ir "$bin" none "$n")
for m in copy save load; do
  printf '%-6s %10d\n' "$m" $(( ($(ir "$bin" "$m" "$n") - base) / n ))
done
for m in copy save load; do
  for f in 1000 10000 65536; do "$bin" "$m" "$f" --time; done
done
