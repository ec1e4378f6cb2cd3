#!/usr/bin/env bash
# bench/lab_vs_kernel.sh — in the lab's sys-firewall domain, same boot, same AppVM image, same
# sys-net (lab/scenarios/perf.sh): xfwd with its own netfront (the lab's sys-firewall), xfwd with
# AF_PACKET on the kernel's netfront, and Linux sys-firewall (the kernel's netfront and
# xen-netback + a Qubes-shaped nftables ruleset). iperf3 TCP both ways, UDP 64-byte frames both
# ways (packets/s received), TCP up once more at the end (tcp-up-again), sys-firewall's
# CPU-seconds per GB (TCP) or per million packets (UDP)
# from `xl list`; then sys-net restarted under a running AppVM, with xfwd and with Linux: the
# seconds until its pages arrive again. BOOTS boots, alternating the order (odd boots xfwd first,
# even boots the kernel first); prints each boot's lines, then per figure the median and the
# range over the boots.
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
  XFW_LAB_ARGS="xfw.order=$order" timeout 1500 lab/run.sh build/lab perf > "$log" 2>&1 || true
  echo "boot $i ($order):"
  if ! grep -a "^XFW-PERF " "$log" | sed 's/^XFW-PERF /  /'; then echo "  no figures (console: $log)"; exit 1; fi
  grep -a "^XFW-SPLIT " "$log" | sed 's/^XFW-SPLIT /  /' || true
  grep -a "^XFW-RESTART " "$log" | sed 's/^XFW-RESTART /  sys-net restart, pages again after (s): /'
  grep -a "^XFW-PERF \|^XFW-RESTART \|^XFW-SPLIT " "$log" >> "$all"
done
echo "over $boots boots (median, [min - max]); ratios of received throughput, CPU in sys-firewall CPU-seconds:"
# XFW-PERF NAME kernel K xfwd-packet P xfwd X | xfwd/kernel R xfwd/xfwd-packet Q | CPU-s/UNIT kernel KC xfwd-packet PC xfwd XC
# XFW-RESTART WHO SECONDS (...)
awk 'function stat(s,   a, k, i, j, t) { k = split(s, a, " ");
       for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
       if (k == 0) return "-"
       return sprintf("%s [%s - %s]", (k % 2) ? a[(k + 1) / 2] : sprintf("%.2f", (a[k / 2] + a[k / 2 + 1]) / 2), a[1], a[k]) }
     $1 == "XFW-RESTART" { r[$2] = r[$2] " " $3; next }
     # XFW-SPLIT SIDE xfwd-sys S softirq Q steal T | retr tcp-up R tcp-down D
     $1 == "XFW-SPLIT" { sides[$2] = 1; for (i = 3; i < NF; i += 2) { if ($i == "|") { i--; continue }
                           if ($(i + 1) != "-") sp[$2, $i] = sp[$2, $i] " " $(i + 1) }
                         if ($(NF - 2) != "-") sp[$2, "retr-up"] = sp[$2, "retr-up"] " " $(NF - 2)
                         if ($NF != "-") sp[$2, "retr-down"] = sp[$2, "retr-down"] " " $NF
                         next }
     { n = $2; names[n] = 1; cpu = 0
       for (i = 3; i < NF; i++) {
         if ($i == "|") continue
         if ($i ~ /^CPU-s\//) { cpu = 1; unit[n] = substr($i, 7); continue }
         if ($i ~ /^(kernel|xfwd-packet|xfwd|xfwd\/kernel|xfwd\/xfwd-packet)$/) { key = (cpu ? "cpu " : "") $i; if ($(i + 1) != "-") v[n, key] = v[n, key] " " $(i + 1); i++ }
       } }
     END {
       split("tcp-up tcp-down udp-up udp-down tcp-up-again", order, " ")
       for (o = 1; o <= 5; o++) {
         n = order[o]; if (!(n in names)) continue
         printf "  %-9s xfwd/kernel %-20s xfwd/xfwd-packet %s\n", n, stat(v[n, "xfwd/kernel"]), stat(v[n, "xfwd/xfwd-packet"])
         printf "  %-9s CPU-s per %-4s kernel %-18s xfwd-packet %-18s xfwd %s\n", "", unit[n], stat(v[n, "cpu kernel"]), stat(v[n, "cpu xfwd-packet"]), stat(v[n, "cpu xfwd"])
       }
       for (w in r) printf "  sys-net restart, %-6s pages again after (s) %s\n", w, stat(r[w])
       print "  where sys-firewall'"'"'s CPU went (its own accounting, the four runs of each side): xfwd'"'"'s time in the kernel, the"
       print "  domain'"'"'s busy time in softirq, its time waiting for a host CPU (steal); TCP senders'"'"' retransmissions"
       split("kernel xfwd-packet xfwd", so, " ")
       for (o = 1; o <= 3; o++) { w = so[o]; if (!(w in sides)) continue
         printf "  %-11s xfwd system %-18s softirq %-18s steal %-18s | retransmissions up %s, down %s\n", w,
                stat(sp[w, "xfwd-sys"]), stat(sp[w, "softirq"]), stat(sp[w, "steal"]), stat(sp[w, "retr-up"]), stat(sp[w, "retr-down"]) }
     }' "$all"
echo "(consoles: build/lab/perf-*.log)"
