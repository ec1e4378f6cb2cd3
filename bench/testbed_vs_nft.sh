#!/usr/bin/env bash
# Side by side, one run: the testbed path (AppVM namespace -> TAP -> simulated netfront ->
# xfwd netback + pipeline -> AF_PACKET uplink -> netvm) against Linux forwarding with nftables
# masquerade between the same kind of namespaces (AppVM -> veth -> firewall namespace, ip_forward
# + `masquerade` -> veth -> netvm). Same traffic generator for both: iperf3 TCP each way, and
# UDP with 64-byte frames (18-byte payload) at full speed. Needs root.
#   bench/testbed_vs_nft.sh build/rel/daemon/xfwd [seconds]
set -u
[ "$(id -u)" = 0 ] || { echo "needs root"; exit 77; }
XFWD=$(realpath "$1"); SECS=${2:-5}
cd "$(dirname "$0")/.."
source tests/testbed/lib.sh
trap 'tb_down; ip netns del "$TB-kfw" 2>/dev/null; ip netns del "$TB-kwork" 2>/dev/null; ip netns del "$TB-knetvm" 2>/dev/null' EXIT

measure() { # client-ns server-ns server-ip label
  local c=$1 s=$2 ip=$3 label=$4
  ip netns exec "$s" iperf3 -s -1 -D -B "$ip" >/dev/null 2>&1; sleep 0.3
  local up down pps
  up=$(ip netns exec "$c" iperf3 -c "$ip" -t "$SECS" -J | jq '.end.sum_received.bits_per_second')
  ip netns exec "$s" iperf3 -s -1 -D -B "$ip" >/dev/null 2>&1; sleep 0.3
  down=$(ip netns exec "$c" iperf3 -c "$ip" -t "$SECS" -R -J | jq '.end.sum_received.bits_per_second')
  ip netns exec "$s" iperf3 -s -1 -D -B "$ip" >/dev/null 2>&1; sleep 0.3
  pps=$(ip netns exec "$c" iperf3 -c "$ip" -t "$SECS" -u -l 18 -b 0 -J |
        jq '(.end.sum.packets - .end.sum.lost_packets) / .end.sum.seconds')
  printf '%-22s TCP AppVM->net %8.0f Mbit/s   TCP net->AppVM %8.0f Mbit/s   UDP 64 B %9.0f pps\n' \
    "$label" "$(echo "$up / 1000000" | bc -l)" "$(echo "$down / 1000000" | bc -l)" "$pps" >&2
  echo "$up $down $pps"
}

# 1. xfwd on the testbed.
tb_up "$XFWD" >/dev/null || exit 1
x=$(measure "$TB-work" "$TB-netvm" 192.168.100.1 "xfwd (testbed)")
tb_down; TB_DIR=$(mktemp -d)

# 2. The kernel: veth + ip_forward + nftables masquerade, Qubes-style /32 addressing.
K=$TB-k
for n in fw work netvm; do ip netns add "$K$n"; ip netns exec "$K$n" ip link set lo up; done
ip netns exec "${K}fw" ip link add vif0 type veth peer name eth0 netns "${K}work"
ip netns exec "${K}fw" ip link add up0 type veth peer name eth0 netns "${K}netvm"
ip netns exec "${K}fw" sysctl -qw net.ipv4.ip_forward=1
ip netns exec "${K}fw" ip addr add 10.137.0.1/32 dev vif0
ip netns exec "${K}fw" ip link set vif0 up
ip netns exec "${K}fw" ip route add 10.137.0.5/32 dev vif0
ip netns exec "${K}fw" ip addr add 192.168.100.2/24 dev up0
ip netns exec "${K}fw" ip link set up0 up
ip netns exec "${K}fw" nft -f - <<'NFT'
table ip qubes {
  chain postrouting {
    type nat hook postrouting priority srcnat;
    oifname "up0" masquerade
  }
  chain forward {
    type filter hook forward priority filter; policy drop;
    ct state established,related accept
    iifname "vif0" ip saddr 10.137.0.5 accept
  }
}
NFT
ip netns exec "${K}work" ip addr add 10.137.0.5/32 dev eth0
ip netns exec "${K}work" ip link set eth0 up
ip netns exec "${K}work" ip route add 10.137.0.1 dev eth0
ip netns exec "${K}work" ip route add default via 10.137.0.1 dev eth0 onlink
ip netns exec "${K}netvm" ip addr add 192.168.100.1/24 dev eth0
ip netns exec "${K}netvm" ip link set eth0 up
ip netns exec "${K}netvm" ethtool -K eth0 tso off gso off gro off tx off >/dev/null 2>&1 || true
k=$(measure "${K}work" "${K}netvm" 192.168.100.1 "kernel + nftables")
for n in fw work netvm; do ip netns del "$K$n"; done

read -r xu xd xp <<<"$x"; read -r ku kd kp <<<"$k"
printf 'ratio xfwd/kernel:     TCP up %.3f   TCP down %.3f   UDP 64 B pps %.3f\n' \
  "$(echo "$xu / $ku" | bc -l)" "$(echo "$xd / $kd" | bc -l)" "$(echo "$xp / $kp" | bc -l)"
