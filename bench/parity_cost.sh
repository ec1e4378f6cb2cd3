#!/usr/bin/env bash
# What the parity checks (docs/parity.md: checksums verified, TCP flags and windows checked)
# cost an established flow's frame: instructions per frame (callgrind, exact and repeatable)
# for each case of bench/parity_bench.cc, as the difference between runs of 100 000 frames and
# of 0. With a second build (of the commit before the checks, with bench/parity_bench.cc
# copied in: it uses only calls that existed then), both side by side and their ratio.
#   bench/parity_cost.sh build/release [BASELINE_BUILD]
set -euo pipefail
new=$1/bench/parity_bench old=${2:+$2/bench/parity_bench}
n=100000
source "$(dirname "$0")/ir.sh"
per() { echo $(( ($(ir "$1" "$2" "$n") - $(ir "$1" "$2" 0)) / n )); }
"$new" udp64 1 >/dev/null  # the binary works
if [ -z "$old" ]; then
  printf '%-16s %10s\n' case "Ir/frame"
  for c in udp64 udp64_validated udp64_blank tcp1460_uplink tcp1460_blank; do printf '%-16s %10d\n' "$c" "$(per "$new" "$c")"; done
  exit 0
fi
"$old" udp64 1 >/dev/null
printf '%-16s %10s %10s %8s\n' case "before" "after" "ratio"
for c in udp64 udp64_validated udp64_blank tcp1460_uplink tcp1460_blank; do
  b=$(per "$old" "$c"); a=$(per "$new" "$c")
  printf '%-16s %10d %10d %8s\n' "$c" "$b" "$a" "$(echo "scale=2; $a / $b" | bc)"
done
