# Side by side, same boot, same AppVM image, same netvm: the kernel's xen-netback with an
# nftables ruleset shaped like Qubes' (lab/kernel/), then xfwd. iperf3 3.12, 10 s each: TCP
# both ways, UDP with 18-byte payloads (64-byte frames) both ways, packets/s sent and received.
cat > /tmp/perf.sh <<'G'
#!/bin/dash
# One "R name value" line per figure (Mbit/s for TCP, packets/s for UDP).
tcp() { iperf3 -c 192.168.100.1 -t 10 "$@" > /tmp/o 2>&1
        awk -v n="$name" '/receiver/ { u = $(NF-1); v = $(NF-2) * (u ~ /^G/ ? 1000 : u ~ /^K/ ? 0.001 : 1); print "R " n, v }' /tmp/o; }
udp() { iperf3 -c 192.168.100.1 -t 10 -u -l 18 -b 0 "$@" > /tmp/o 2>&1
        awk -v n="$name" '/sender|receiver/ { for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+\/[0-9]+$/) {
               split($i, a, "/"); split($3, t, "-"); k = ($NF == "sender") ? a[2] : a[2] - a[1];
               print "R " n "-" ($NF == "sender" ? "sent" : "received"), int(k / t[2]) } }' /tmp/o; }
name=tcp-up; tcp
name=tcp-down; tcp -R
name=udp-up; udp
name=udp-down; udp -R
G
LINGER=2
results() { sed -n 's/.*R \([a-z-]*\) \([0-9.]*\).*/\1 \2/p' "/var/log/xen/console/guest-$1.log"; }

# 1. xfwd (started by dom0-init).
create perf 10.137.0.9 /tmp/perf.sh
wait_guest perf
say "xfwd's counters after the runs:"
for c in "vifs --json" "stats" "status --json"; do xfwctl $c > /tmp/ctl.out 2>&1; cat /tmp/ctl.out; done
results perf > /tmp/xfwd.res
xl destroy perf 2>/dev/null
kill "$(pidof xfwd)"; sleep 1

# 2. The kernel: xen-netback, forwarding, nftables (lab/kernel/qubes.nft, vif-route-qubes).
for m in $(cat /etc/xfw/kernel-modules); do
  insmod /lib/modules/$m.ko || say "insmod $m failed"
done
ip addr add 192.168.100.2/24 dev up0
echo 1 > /proc/sys/net/ipv4/ip_forward
nft -f /etc/xfw/qubes.nft || say "nft -f failed"
VIF_SCRIPT=/etc/xen/scripts/vif-route-qubes create kperf 10.137.0.9 /tmp/perf.sh
wait_guest kperf
results kperf > /tmp/kernel.res
nft list ruleset > /tmp/nft.out 2>&1; grep -E "counter packets [1-9]" /tmp/nft.out | sed 's/^/  nft: /'
xl destroy kperf 2>/dev/null

say "side by side (same boot): kernel xen-netback + nftables vs xfwd"
awk 'FNR == NR { k[$1] = $2; next }
     { r = (k[$1] > 0) ? sprintf("%.2f", $2 / k[$1]) : "-";
       printf "XFW-PERF %-18s kernel %10s   xfwd %10s   ratio %s\n", $1, k[$1], $2, r }' \
  /tmp/kernel.res /tmp/xfwd.res
