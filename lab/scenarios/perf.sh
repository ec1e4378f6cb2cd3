# Side by side in one boot, in sys-firewall (sourced by dom0's init), same AppVM image, same
# sys-net, three ways:
#   xfwd         xfwd (its package, under systemd) with its own netfront as the uplink — the lab's
#                sys-firewall as it boots, no kernel network driver toward another domain;
#   xfwd-packet  the same xfwd with kind = "packet": AF_PACKET on eth0, the kernel's xen-netfront;
#   kernel       Linux sys-firewall — the kernel's netfront, xen-netback, forwarding and an
#                nftables ruleset shaped like Qubes' (lib.sh kernel_fw_start).
# iperf3 3.12, 10 s each: TCP both ways, UDP with 18-byte payloads (64-byte frames) both ways,
# then TCP up once more (tcp-up-again: is the first run's figure a warm-up effect?). For
# each figure also sys-firewall's CPU time (xl list, all its vCPUs). Then, for xfwd and for Linux
# sys-firewall, sys-net destroyed and re-created under a running AppVM (lib.sh sysnet_restart):
# how long until its pages arrive again, by themselves.
# xfw.order=kernel-first on the kernel command line runs the three in the reverse order (default
# xfwd first).
order=$(sed -n 's/.*xfw\.order=\([^ ]*\).*/\1/p' /proc/cmdline)
cat > /tmp/perf.sh <<'G'
#!/bin/dash
# "B name" before each run, then "R name value bytes retr" (Mbit/s for TCP, packets/s for UDP;
# the bytes the receiver got; TCP: the segments the sender retransmitted, "-" for UDP).
tcp() { echo "B $name"; iperf3 -c 192.168.100.1 -t 10 "$@" > /tmp/o 2>&1
        awk -v n="$name" '/sender/ { r = $(NF-1) }
             /receiver/ { u = $(NF-1); v = $(NF-2) * (u ~ /^G/ ? 1000 : u ~ /^K/ ? 0.001 : 1);
               b = $(NF-4) * ($(NF-3) ~ /^G/ ? 1e9 : $(NF-3) ~ /^M/ ? 1e6 : 1e3); print "R " n, v, int(b), r }' /tmp/o; }
udp() { echo "B $name"; iperf3 -c 192.168.100.1 -t 10 -u -l 18 -b 0 "$@" > /tmp/o 2>&1
        awk -v n="$name" '/receiver/ { for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+\/[0-9]+$/) {
               split($i, a, "/"); split($3, t, "-"); print "R " n, int((a[2] - a[1]) / t[2]), (a[2] - a[1]) * 64, "-" } }' /tmp/o; }
# "E name what iperf3 said" when it printed no receiver line.
err() { grep -q receiver /tmp/o || echo "E $name $(tail -n 3 /tmp/o | tr '\n' ' ')"; }
name=tcp-up; tcp; err
name=tcp-down; tcp -R; err
name=udp-up; udp; err
name=udp-down; udp -R; err
name=tcp-up-again; tcp; err
G
fw_cpu() { xl list sys-firewall | awk 'NR == 2 { print $6 }'; }
# sys-firewall's own accounting, in CPU-seconds: "cpu xfwd_user xfwd_sys user system irq softirq
# steal" (xfwd's from /proc/PID/stat, "- -" when it is not running; the rest /proc/stat's all-CPU
# line, nice counted as user; "cpu" first: the agent's xenstore-write takes a value that starts
# with "-" for an option, and the answer was lost). Asked before an AppVM's four runs and after them, never between:
# the guest starts each run right after the last, and asking sys-firewall takes a moment.
fw_stat() {
  fw 'x="- -"; p=$(pgrep -xo xfwd) && x=$(awk "{ print \$14 / 100, \$15 / 100 }" /proc/$p/stat)
      echo "cpu $x $(awk "/^cpu / { print (\$2 + \$3) / 100, \$4 / 100, \$7 / 100, \$8 / 100, \$9 / 100 }" /proc/stat)"'
}
# run_perf VM — the AppVM runs /tmp/perf.sh; prints "name value cpu_seconds bytes retr" per
# figure, with sys-firewall's CPU time (xl list) between the guest's B and R lines; and into
# /tmp/VM.split, fw_stat's difference over the four runs.
run_perf() {
  vm=$1
  s0=$(fw_stat)
  LINGER=2 create "$vm" 10.137.0.9 /tmp/perf.sh
  log=/var/log/xen/console/guest-$vm.log seen=0
  : > "/tmp/$vm.res"
  for _ in $(seq 1200); do
    n=$(grep -c '^[BRE] ' "$log" 2>/dev/null)
    while [ "$seen" -lt "$n" ]; do
      seen=$((seen + 1))
      line=$(grep '^[BRE] ' "$log" | sed -n "${seen}p" | tr -d '\r')  # (the console's lines end in CR LF)
      case "$line" in
        B*) c0=$(fw_cpu) ;;
        R*) set -- $line; echo "$2 $3 $(echo "$(fw_cpu) $c0" | awk '{ printf "%.2f", $1 - $2 }') $4 $5" >> "/tmp/$vm.res" ;;
        E*) say "$vm: iperf3 gave no figure: $line" ;;
      esac
    done
    grep -q XFW-GUEST-END "$log" 2>/dev/null && break
    sleep 0.5
  done
  xl destroy "$vm" 2>/dev/null
  s1=$(fw_stat)
  echo "$s0 $s1" | awk 'NF == 16 { for (i = 2; i <= 8; i++) printf "%s ", ($i == "-") ? "-" : sprintf("%.2f", $(i + 8) - $i); print "" }' > "/tmp/$vm.split"
  sed "s/^/  $vm: /" "/tmp/$vm.res"
  echo "  $vm: sys-firewall CPU-s over the four runs (xfwd user, xfwd system; all: user, system, irq, softirq, steal): $(cat "/tmp/$vm.split") (before: $s0; after: $s1)"
}

# restart_probe NAME IP WHO — sys-net restarted under the AppVM NAME: "XFW-RESTART WHO SECONDS".
restart_probe() {
  netcycle_start "$1" "$2"
  wait_for 60 netcycle_saw "$1" up 1
  sysnet_restart "$1"
  echo "XFW-RESTART $3 $(netcycle_outage "$1") (what $1 saw: $(sed -n 's/.*T \(.*\)/\1/p' /var/log/xen/console/guest-$1.log | tr '\n' ';'))"
  xl destroy "$1"
}
with_xfwd() {
  say "xfwd (xfwd.service in sys-firewall, its own netfront)"
  run_perf perf
  for c in "vifs --json" "stats"; do fw "xfwctl $c"; done
  say "xfwd's netfront dropped: $(fw 'xfwctl status --json' | tr -d ' \n' | grep -o '"uplink_status":.*' | grep -o '"drops":{[^}]*}')"
  say "sys-firewall memory with xfwd: $(fw 'echo "xfwd RSS $(ps -o rss= -C xfwd) kB;" $(free -m | sed -n 2p)')"
  restart_probe netcycle 10.137.0.8 xfwd
}
with_xfwd_packet() {
  say "xfwd with AF_PACKET on the kernel's netfront (kind = \"packet\", interface eth0)"
  uplink_to_kernel
  fw 'cp /etc/xfw/xfwd.toml /run/xfwd.toml.netfront
      sed -i "s/^kind = \"netfront\"/kind = \"packet\"\ninterface = \"eth0\"/" /etc/xfw/xfwd.toml
      systemctl start xfwd'
  wait_for 60 xfwd_active
  run_perf pperf
  fw 'xfwctl stats | grep -i uplink; xfwctl status --json | grep -o "\"socket_drops\": *[0-9]*"'
  fw 'systemctl stop xfwd; cp /run/xfwd.toml.netfront /etc/xfw/xfwd.toml'
  uplink_to_xfwd
}
with_kernel() {
  say "Linux sys-firewall (the kernel's netfront, xen-netback and nftables in sys-firewall)"
  kernel_fw_start
  run_perf kperf
  fw 'nft list ruleset | grep -E "counter packets [1-9]"' | sed 's/^/  nft: /'
  say "sys-firewall memory with the kernel's netback: $(fw 'free -m | sed -n 2p')"
  restart_probe kcycle 10.137.0.9 kernel
  say "sys-firewall's uplink-watch: $(fw 'tr "\n" ";" < /var/log/uplink-watch.log')"
  kernel_fw_stop
}
if [ "$order" = kernel-first ]; then
  with_kernel; with_xfwd_packet; with_xfwd
else
  with_xfwd; with_xfwd_packet; with_kernel
fi

say "side by side (same boot, ${order:-xfwd-first}): Linux sys-firewall, xfwd with the kernel's netfront, xfwd with its own"
# XFW-PERF NAME kernel K xfwd-packet P xfwd X | xfwd/kernel R xfwd/xfwd-packet Q | CPU-s/UNIT kernel KC xfwd-packet PC xfwd XC
awk 'FILENAME ~ /kperf/ { k[$1] = $2; kc[$1] = $3; kb[$1] = $4; next }
     FILENAME ~ /pperf/ { p[$1] = $2; pc[$1] = $3; pb[$1] = $4; next }
     { x[$1] = $2; xc[$1] = $3; xb[$1] = $4 }
     function val(a) { return (a == "") ? "-" : a }
     function ratio(a, b) { return (a > 0 && b > 0) ? sprintf("%.2f", a / b) : "-" }
     function per(c, b, d) { return (b > 0) ? sprintf("%.1f", c / (b / d)) : "-" }
     END { split("tcp-up tcp-down udp-up udp-down tcp-up-again", names, " ")
       for (i = 1; i <= 5; i++) { n = names[i]; unit = (n ~ /^tcp/) ? "GB" : "Mpkt"; d = (n ~ /^tcp/) ? 1e9 : 64e6
         printf "XFW-PERF %-9s kernel %9s xfwd-packet %9s xfwd %9s | xfwd/kernel %5s xfwd/xfwd-packet %5s | CPU-s/%-4s kernel %6s xfwd-packet %6s xfwd %6s\n",
                n, val(k[n]), val(p[n]), val(x[n]), ratio(x[n], k[n]), ratio(x[n], p[n]), unit,
                per(kc[n], kb[n], d), per(pc[n], pb[n], d), per(xc[n], xb[n], d) } }' \
  /tmp/kperf.res /tmp/pperf.res /tmp/perf.res
# Where sys-firewall's CPU went (its own accounting, over each side's four runs): the share of
# xfwd's CPU time spent in the kernel on its behalf (its system calls: grant copies, event
# channels, sockets; each one a trip through Xen in these PV domains), the share of the domain's
# busy time (user + system + irq + softirq) in softirq (the kernel's network stack: netback,
# netfront, forwarding), and the share of time its vCPUs waited for a host CPU (steal); and the
# TCP senders' retransmissions. (xfwd's times and the domain's are not compared: the process
# times include what Xen stole, /proc/stat's busy times do not.)
# XFW-SPLIT SIDE xfwd-sys S softirq Q steal T | retr tcp-up R tcp-down D
for side in kernel:kperf xfwd-packet:pperf xfwd:perf; do
  awk -v side="${side%%:*}" 'FILENAME ~ /split$/ { busy = $3 + $4 + $5 + $6
         xs = ($1 == "-" || $1 + $2 <= 0) ? "-" : sprintf("%.2f", $2 / ($1 + $2))
         q = (busy > 0) ? sprintf("%.2f", $6 / busy) : "-"; t = (busy + $7 > 0) ? sprintf("%.2f", $7 / (busy + $7)) : "-"; next }
       { r[$1] = $5 }
       END { printf "XFW-SPLIT %-11s xfwd-sys %5s softirq %5s steal %5s | retr tcp-up %s tcp-down %s\n",
                    side, (xs == "") ? "-" : xs, (q == "") ? "-" : q, (t == "") ? "-" : t,
                    (r["tcp-up"] == "") ? "-" : r["tcp-up"], (r["tcp-down"] == "") ? "-" : r["tcp-down"] }' \
    "/tmp/${side#*:}.split" "/tmp/${side#*:}.res"
done
