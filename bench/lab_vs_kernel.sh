#!/usr/bin/env bash
# bench/lab_vs_kernel.sh — xfwd against Linux sys-firewall (the kernel's xen-netback + a
# Qubes-shaped nftables ruleset), both in the lab's sys-firewall domain, same boot, same AppVM
# image, same sys-net (lab/scenarios/perf.sh): iperf3 TCP both ways, UDP 64-byte frames both
# ways (packets/s received), and sys-firewall's CPU-seconds per GB (TCP) or per million packets
# (UDP) from `xl list`. BOOTS boots, alternating which side goes first (odd boots xfwd first,
# even boots the kernel first); prints each boot's lines, then per figure the median and the
# range over the boots of the ratio xfwd / kernel and of both CPU figures.
#   bench/lab_vs_kernel.sh [BOOTS=3] [RELEASE_BUILD_DIR=build/release]
# Needs an otherwise idle machine: QEMU's TCG uses both cores, and a busy second core halves
# every figure.
set -euo pipefail
cd "$(dirname "$0")/.."
boots=${1:-3}
lab/build.sh "${2:-build/release}" build/lab >/dev/null
all=build/lab/perf-all.txt
: > "$all"
for i in $(seq "$boots"); do
  order=xfwd-first; [ $((i % 2)) = 0 ] && order=kernel-first
  log=build/lab/perf-$i.log
  XFW_LAB_ARGS="xfw.order=$order" timeout 1200 lab/run.sh build/lab perf > "$log" 2>&1 || true
  echo "boot $i ($order):"
  if ! grep -a "^XFW-PERF " "$log" | sed 's/^XFW-PERF /  /'; then echo "  no figures (console: $log)"; exit 1; fi
  grep -a "^XFW-PERF " "$log" | sed "s/^XFW-PERF /$order /" >> "$all"
done
echo "over $boots boots (median, [min - max]); the ratio is xfwd / kernel, CPU in sys-firewall CPU-seconds:"
# Lines: ORDER NAME kernel K xfwd X ratio R | sys-firewall CPU-s per UNIT kernel KC xfwd XC
awk '{ n = $2; ratio[n] = ratio[n] " " $8; kc[n] = kc[n] " " $(NF-2); xc[n] = xc[n] " " $NF; unit[n] = $13 }
     function stat(s,   a, k, i, j, t) { k = split(s, a, " ");
       for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
       return sprintf("%s [%s - %s]", (k % 2) ? a[(k + 1) / 2] : sprintf("%.2f", (a[k / 2] + a[k / 2 + 1]) / 2), a[1], a[k]) }
     END { for (n in ratio) printf "  %-9s ratio %-20s  CPU-s per %-4s kernel %-20s xfwd %s\n", n, stat(ratio[n]), unit[n], stat(kc[n]), stat(xc[n]) }' "$all" | sort
echo "(consoles: build/lab/perf-*.log)"
