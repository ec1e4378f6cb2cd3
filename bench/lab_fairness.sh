#!/usr/bin/env bash
# bench/lab_fairness.sh — fairness between AppVMs, xfwd against Linux sys-firewall in the same
# boot (lab/scenarios/fairness.sh): a victim AppVM's ping RTT to the gateway and its page-fetch
# times through NAT, alone ("quiet") and while another AppVM floods 64-byte UDP ("flood").
# BOOTS boots, alternating which side goes first; prints each boot's lines, then per side and
# phase the median and the range over the boots of each figure.
#   bench/lab_fairness.sh [BOOTS=3] [RELEASE_BUILD_DIR=build/release]
# Needs an otherwise idle machine (QEMU's TCG uses both cores).
set -euo pipefail
cd "$(dirname "$0")/.."
boots=${1:-3}
lab/build.sh "${2:-build/release}" build/lab >/dev/null
all=build/lab/fair-all.txt
: > "$all"
for i in $(seq "$boots"); do
  order=xfwd-first; [ $((i % 2)) = 0 ] && order=kernel-first
  log=build/lab/fair-$i.log
  XFW_LAB_ARGS="xfw.order=$order" timeout 1200 lab/run.sh build/lab fairness > "$log" 2>&1 || true
  echo "boot $i ($order):"
  if ! grep -a "^XFW-FAIR " "$log" | sed 's/^XFW-FAIR /  /'; then echo "  no figures (console: $log)"; exit 1; fi
  grep -a "^XFW-FAIR " "$log" >> "$all"
done
echo "over $boots boots: median [min - max] of each boot's figure (RTT and fetch in ms: median, 90th percentile, max)"
# Lines ($1 ... $17): XFW-FAIR SIDE PHASE rounds N rtt_ms M P X lost L/S fetch_ms M P X failed F/T, or
#        XFW-FAIR SIDE flood_pps PPS
awk 'function stat(s,   a, k, i, j, t) { k = split(s, a, " ");
       for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
       return sprintf("%s [%s-%s]", (k % 2) ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2, a[1], a[k]) }
     $3 == "flood_pps" { pps[$2] = pps[$2] " " $4; next }
     { key = $2 " " $3; keys[key] = 1; for (f = 7; f <= 9; f++) rtt[key, f] = rtt[key, f] " " $f
       lost[key] = lost[key] " " $11; for (f = 13; f <= 15; f++) fe[key, f] = fe[key, f] " " $f; failed[key] = failed[key] " " $17 }
     END { for (key in keys) printf "  %-13s rtt median %-18s p90 %-18s max %-18s | fetch median %-14s p90 %-14s max %-14s | lost%s, failed%s\n",
             key, stat(rtt[key, 7]), stat(rtt[key, 8]), stat(rtt[key, 9]), stat(fe[key, 13]), stat(fe[key, 14]), stat(fe[key, 15]), lost[key], failed[key]
           for (s in pps) printf "  %-13s flood received %s packets/s\n", s, stat(pps[s]) }' "$all" | sort
echo "(consoles: build/lab/fair-*.log)"
