#!/usr/bin/env bash
# bench/lab_vs_kernel.sh — xfwd against the kernel's xen-netback + nftables, same boot of the
# real-Xen lab (lab/scenarios/perf.sh): same AppVM image, same netvm, iperf3 TCP both ways and
# UDP 64-byte frames both ways. Prints one line per figure with the ratio xfwd / kernel.
#   bench/lab_vs_kernel.sh [RELEASE_BUILD_DIR=build/release]
# Needs an otherwise idle machine: QEMU's TCG uses both cores, and a busy second core halves
# every figure.
set -euo pipefail
cd "$(dirname "$0")/.."
lab/build.sh "${1:-build/release}" build/lab >/dev/null
log=build/lab/perf.log
timeout 900 lab/run.sh build/lab perf > "$log" 2>&1 || true
grep -a "XFW-PERF" "$log" | sed 's/^XFW-PERF //' || { echo "no figures (console: $log)"; exit 1; }
echo "(console with xfwd's counters and nft's: $log)"
