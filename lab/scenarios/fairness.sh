# Fairness, side by side in one boot (bench/lab_fairness.sh; sourced by dom0's init): the AppVM
# "victim" pings the gateway (10 pings 0.2 s apart) and fetches a page from sys-net through NAT
# (3 times) in rounds, while the AppVM "flood" sends 64-byte UDP frames to sys-net as fast as it
# can (iperf3 -u -l 18 -b 0, 30 s). Once with xfwd, once with Linux sys-firewall (lib.sh's
# kernel_fw_start), in the order xfw.order= says (default xfwd first). The rounds wholly before
# the flood are "quiet", those wholly inside it "flood"; per side and phase one line:
#   XFW-FAIR SIDE PHASE rounds N rtt_ms MEDIAN P90 MAX lost L/S fetch_ms MEDIAN P90 MAX failed F/S
# and the flood's own rate: XFW-FAIR SIDE flood_pps PPS (what sys-net's iperf3 received).
order=$(sed -n 's/.*xfw\.order=\([^ ]*\).*/\1/p' /proc/cmdline)
cat > /tmp/victim.sh <<'G'
#!/bin/dash
printf 'GET / HTTP/1.0\r\n\r\n' > /tmp/req
up() { cut -d' ' -f1 /proc/uptime; }
r=0
while [ $r -lt 200 ]; do
  r=$((r + 1))
  rtt=$(ping -c 10 -i 0.2 -W 2 10.137.0.1 | sed -n 's/.*time=\([0-9.]*\) ms.*/\1/p' | tr '\n' ' ')
  f=
  for i in 1 2 3; do
    a=$(up)
    if nc -w 5 192.168.100.1 80 < /tmp/req 2>/dev/null | grep -q hello; then f="$f $(echo "$a $(up)" | awk '{ printf "%d", ($2 - $1) * 1000 }')"; else f="$f fail"; fi
  done
  echo "T round $r rtt $rtt fetch$f"
done
G
cat > /tmp/flood.sh <<'G'
#!/bin/dash
echo "T flood start"
iperf3 -c 192.168.100.1 -u -l 18 -b 0 -t 30 > /tmp/o 2>&1
echo "T flood end $(grep receiver /tmp/o)"
G
rounds() { grep -c "T round" "/var/log/xen/console/guest-$1.log" 2>/dev/null; }
at_least() { [ "$(rounds "$1")" -ge "$2" ]; }
# fair SIDE — one run: victim alone for 4 rounds, then the flood, then 2 rounds after it.
fair() {
  side=$1 v=victim-$1 f=flood-$1
  LINGER=0 create "$v" 10.137.0.5 /tmp/victim.sh > /dev/null
  wait_for 120 at_least "$v" 4
  LINGER=0 create "$f" 10.137.0.9 /tmp/flood.sh > /dev/null
  wait_for 60 guest_says "$f" "T flood start"; k0=$(rounds "$v")
  wait_for 120 guest_says "$f" "T flood end"; k1=$(rounds "$v")
  wait_for 60 at_least "$v" $((k1 + 2))
  xl destroy "$v"; xl destroy "$f" 2>/dev/null
  vl=/var/log/xen/console/guest-$v.log
  # Rounds 2..k0 are quiet (the first warms the ARP and NAT), k0+2..k1 wholly in the flood.
  for phase in "quiet 2 $k0" "flood $((k0 + 2)) $k1"; do
    set -- $phase
    sed -n 's/.*T round \([0-9]*\) rtt \(.*\) fetch\(.*\)/\1|\2|\3/p' "$vl" | awk -F'|' -v a="$2" -v b="$3" -v side="$side" -v ph="$1" '
      function q(arr, n, p,   i, j, t) { if (n == 0) return "-";
        for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (arr[j] < arr[i]) { t = arr[i]; arr[i] = arr[j]; arr[j] = t }
        i = int(p * (n - 1) + 1.5); return arr[i > n ? n : i] }
      $1 >= a && $1 <= b { rounds++
        n = split($2, r, " "); for (i = 1; i <= n; i++) rtt[++nr] = r[i] + 0; lost += 10 - n; sent += 10
        n = split($3, g, " "); for (i = 1; i <= n; i++) { tries++; if (g[i] == "fail") failed++; else fe[++nf] = g[i] + 0 } }
      END { printf "XFW-FAIR %s %s rounds %d rtt_ms %s %s %s lost %d/%d fetch_ms %s %s %s failed %d/%d\n", side, ph, rounds,
              q(rtt, nr, 0.5), q(rtt, nr, 0.9), q(rtt, nr, 1), lost, sent, q(fe, nf, 0.5), q(fe, nf, 0.9), q(fe, nf, 1), failed, tries }'
  done
  echo "XFW-FAIR $side flood_pps $(sed -n 's/.*T flood end.* \([0-9]*\)\/\([0-9]*\) .*/\1 \2/p' "/var/log/xen/console/guest-$f.log" | awk '{ printf "%d", ($2 - $1) / 30 }')"
}
with_xfwd() { say "xfwd (xfwd.service in sys-firewall)"; fair xfwd; fw 'xfwctl stats' | head -20; }
with_kernel() { say "Linux sys-firewall (kernel xen-netback + nftables)"; kernel_fw_start; fair kernel; kernel_fw_stop; }
if [ "$order" = kernel-first ]; then
  with_kernel; with_xfwd
else
  with_xfwd; with_kernel
fi
say "fairness took its course (${order:-xfwd-first})"
