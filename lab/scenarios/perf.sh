# Side by side in one boot, in sys-firewall (sourced by dom0's init): xfwd (its package, under
# systemd) and Linux sys-firewall — the kernel's xen-netback, forwarding and an nftables ruleset
# shaped like Qubes' (lab/kernel/qubes.nft, vif script lab/kernel/vif-route-qubes) — same AppVM
# image, same sys-net. iperf3 3.12, 10 s each: TCP both ways, UDP with 18-byte payloads (64-byte
# frames) both ways. For each figure also sys-firewall's CPU time (xl list, all its vCPUs).
# xfw.order=kernel-first on the kernel command line runs the kernel first (default xfwd first).
order=$(sed -n 's/.*xfw\.order=\([^ ]*\).*/\1/p' /proc/cmdline)
cat > /tmp/perf.sh <<'G'
#!/bin/dash
# "B name" before each run, then "R name value bytes" (Mbit/s for TCP, packets/s for UDP; the
# bytes the receiver got).
tcp() { echo "B $name"; iperf3 -c 192.168.100.1 -t 10 "$@" > /tmp/o 2>&1
        awk -v n="$name" '/receiver/ { u = $(NF-1); v = $(NF-2) * (u ~ /^G/ ? 1000 : u ~ /^K/ ? 0.001 : 1);
               b = $(NF-4) * ($(NF-3) ~ /^G/ ? 1e9 : $(NF-3) ~ /^M/ ? 1e6 : 1e3); print "R " n, v, int(b) }' /tmp/o; }
udp() { echo "B $name"; iperf3 -c 192.168.100.1 -t 10 -u -l 18 -b 0 "$@" > /tmp/o 2>&1
        awk -v n="$name" '/receiver/ { for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+\/[0-9]+$/) {
               split($i, a, "/"); split($3, t, "-"); print "R " n, int((a[2] - a[1]) / t[2]), (a[2] - a[1]) * 64 } }' /tmp/o; }
name=tcp-up; tcp
name=tcp-down; tcp -R
name=udp-up; udp
name=udp-down; udp -R
G
fw_cpu() { xl list sys-firewall | awk 'NR == 2 { print $6 }'; }
# run_perf VM — the AppVM runs /tmp/perf.sh; prints "name value cpu_seconds bytes" per figure,
# with sys-firewall's CPU time between the guest's B and R lines.
run_perf() {
  vm=$1
  LINGER=2 create "$vm" 10.137.0.9 /tmp/perf.sh
  log=/var/log/xen/console/guest-$vm.log seen=0
  : > "/tmp/$vm.res"
  for _ in $(seq 1200); do
    n=$(grep -c '^[BR] ' "$log" 2>/dev/null)
    while [ "$seen" -lt "$n" ]; do
      seen=$((seen + 1))
      line=$(grep '^[BR] ' "$log" | sed -n "${seen}p")
      case "$line" in
        B*) c0=$(fw_cpu) ;;
        R*) set -- $line; echo "$2 $3 $(echo "$(fw_cpu) $c0" | awk '{ printf "%.2f", $1 - $2 }') $4" >> "/tmp/$vm.res" ;;
      esac
    done
    grep -q XFW-GUEST-END "$log" 2>/dev/null && break
    sleep 0.5
  done
  xl destroy "$vm" 2>/dev/null
  sed "s/^/  $vm: /" "/tmp/$vm.res"
}

with_xfwd() {
  say "xfwd (xfwd.service in sys-firewall)"
  run_perf perf
  for c in "vifs --json" "stats"; do fw "xfwctl $c"; done
  say "sys-firewall memory with xfwd: $(fw 'echo "xfwd RSS $(ps -o rss= -C xfwd) kB;" $(free -m | sed -n 2p)')"
}
with_kernel() {
  say "Linux sys-firewall (kernel xen-netback + nftables in sys-firewall)"
  kernel_fw_start
  run_perf kperf
  fw 'nft list ruleset | grep -E "counter packets [1-9]"' | sed 's/^/  nft: /'
  say "sys-firewall memory with the kernel's netback: $(fw 'free -m | sed -n 2p')"
  kernel_fw_stop
}
if [ "$order" = kernel-first ]; then
  with_kernel
  fw 'systemctl start xfwd'
  with_xfwd
else
  with_xfwd
  with_kernel
fi

say "side by side (same boot, ${order:-xfwd-first}): Linux sys-firewall vs xfwd in sys-firewall"
awk 'FNR == NR { k[$1] = $2; kc[$1] = $3; kb[$1] = $4; next }
     { r = (k[$1] > 0) ? sprintf("%.2f", $2 / k[$1]) : "-";
       per = ($1 ~ /^tcp/) ? "GB" : "Mpkt"; d = ($1 ~ /^tcp/) ? 1e9 : 64e6;
       kcpu = (kb[$1] > 0) ? sprintf("%.1f", kc[$1] / (kb[$1] / d)) : "-";
       xcpu = ($4 > 0) ? sprintf("%.1f", $3 / ($4 / d)) : "-";
       printf "XFW-PERF %-9s kernel %9s xfwd %9s ratio %5s | sys-firewall CPU-s per %-4s kernel %6s xfwd %6s\n",
              $1, k[$1], $2, r, per, kcpu, xcpu }' /tmp/kperf.res /tmp/perf.res
