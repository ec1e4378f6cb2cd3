# tests/testbed/lib.sh — the testbed without Xen: xfwd with simulated guests on TAP devices.
#
#   source tests/testbed/lib.sh; tb_up /path/to/xfwd [XFWD ARGS]; ...; tb_down
# check NAME CMD... / expect_fail CMD...: the scripts' checks.
# TB_TOML_EXTRA: more sections for xfwd.toml (e.g. [qubesdb]); TB_FIREWALL_EXTRA: more [firewall] keys; TB_LOG_LEVEL: xfwd's (warn).
# TB_UPLINK=netfront: the uplink is xfwd's own netfront (as in a Qubes sys-firewall) and the
# netvm's eth0 a TAP behind the simulated sys-net backend (--sim-uplink); no up0 then.
# Namespaces (all made here, all removed by tb_down; traffic never leaves them):
#   $TB-fw        xfwd (--xen=sim), its uplink "up0" (no IPv4 address: xfwd owns it), and
#                 "xfw0" 10.137.255.254, the firewall VM's own traffic through xfwd
#   $TB-netvm     "eth0" 192.168.100.1/24: busybox httpd on :80, :443, :8080, dnsmasq on :53
#                 (*.example.test -> 192.168.100.1, localhost -> 127.0.0.1)
#   $TB-work      xt-work 10.137.0.5    rules: accept everything
#   $TB-untrusted xt-untrusted 10.137.0.6, fd09:24ef:4179::a89:6
#                 rules: tcp 443, DNS, tcp 8080 to web.example.test, tcp 8081 and port 7 over IPv6
# The uplink also carries IPv6: xfwd fd00:100::2 (NAT66), the netvm fd00:100::1 (httpd :8081).
# The AppVM namespaces route everything to the gateway 10.137.0.1 and use 10.139.1.1/.2 for
# DNS, as a Qubes AppVM does.
set -u
TB=${TB:-xfwtb$$}
TB_DIR=$(mktemp -d /tmp/xfw-testbed.XXXXXX)
TB_XFWD_PID=

tb_ns() { ip netns exec "$TB-$1" "${@:2}"; }

# Checks: one line each, "ok" or "FAIL" with the command's output; $failed is 1 after a failure.
failed=0
check() { # name, command...
  local name=$1; shift
  if "$@" >"$TB_DIR/check.out" 2>&1; then echo "ok    $name"; else
    echo "FAIL  $name"; sed 's/^/      /' "$TB_DIR/check.out"; failed=1; fi
}
expect_fail() { ! "$@"; }

# The netvm's resolver (also to start it again after a test stopped it).
tb_dnsmasq() {
  tb_ns netvm dnsmasq --no-resolv --no-hosts --bind-interfaces --listen-address=192.168.100.1 \
    --address=/example.test/192.168.100.1 --address=/localhost/127.0.0.1 --pid-file="$TB_DIR/dnsmasq.pid" \
    --user=root 2>/dev/null
}

# The namespaces, the uplink veth and the netvm with its servers: what both firewalls share.
tb_netvm_up() {
  for n in fw netvm work untrusted; do ip netns add "$TB-$n"; tb_ns "$n" ip link set lo up; done
  # The uplink: a veth from the firewall to the netvm. The netvm side does no segmentation or
  # checksum offload, as a real wire delivers whole, checksummed frames. With xfwd's netfront:
  # a TAP in the netvm, the simulated sys-net's side of the vif.
  if [ "${TB_UPLINK:-packet}" = netfront ]; then
    tb_ns netvm ip tuntap add dev eth0 mode tap
  else
    tb_ns fw ip link add up0 type veth peer name eth0 netns "$TB-netvm"
    tb_ns fw sysctl -qw net.ipv6.conf.up0.disable_ipv6=1
    tb_ns fw ip link set up0 up
  fi
  tb_ns netvm ip addr add 192.168.100.1/24 dev eth0
  tb_ns netvm ip addr add fd00:100::1/64 dev eth0 nodad
  tb_ns netvm ip link set eth0 up
  tb_ns netvm ethtool -K eth0 tso off gso off gro off tx off >/dev/null 2>&1 || true
  mkdir -p "$TB_DIR/www"
  echo "hello from the netvm" > "$TB_DIR/www/index.html"
  head -c 2000000 /dev/urandom > "$TB_DIR/www/big.bin"
  tb_ns netvm busybox httpd -p 192.168.100.1:80 -h "$TB_DIR/www"
  tb_ns netvm busybox httpd -p 192.168.100.1:443 -h "$TB_DIR/www"
  tb_ns netvm busybox httpd -p 192.168.100.1:8080 -h "$TB_DIR/www"
  tb_ns netvm busybox httpd -p "[fd00:100::1]:8081" -h "$TB_DIR/www"
  tb_dnsmasq
}

tb_up() {
  local xfwd=$1; shift
  tb_netvm_up
  local uplink='interface = "up0"'
  [ "${TB_UPLINK:-packet}" = netfront ] && uplink='kind = "netfront"'
  cat > "$TB_DIR/xfwd.toml" <<TOML
[uplink]
$uplink
address = "192.168.100.2"
gateway = "192.168.100.1"
address6 = "fd00:100::2"
gateway6 = "fd00:100::1"
[firewall]
gateway = "10.137.0.1"
gateway6 = "fd09:24ef:4179::a89:1"
resolvers = ["192.168.100.1"]
${TB_FIREWALL_EXTRA:-}
[self]
interface = "xfw0"
address = "10.137.255.254"
[rules]
self = ["action=accept proto=tcp", "action=accept specialtarget=dns"]
"10.137.0.5" = ["action=accept"]   # the driver domain cannot read VM names: by address
"10.137.0.6" = ["action=accept proto=tcp dstports=443-443", "action=accept specialtarget=dns",
                "action=accept proto=tcp dsthost=web.example.test dstports=8080-8080",
                "action=accept proto=tcp dst6=fd00:100::/64 dstports=8081-8081",
                "action=accept proto=tcp dst6=fd00:100::/64 dstports=7-7",
                "action=accept proto=udp dst6=fd00:100::/64 dstports=7-7"]
${TB_TOML_EXTRA:-}
TOML
  # Each AppVM's network is a persistent TAP in its namespace: xfwd attaches to it, and it keeps
  # its set-up when xfwd restarts (as a vif does).
  local vm
  for vm in work untrusted; do tb_ns "$vm" ip tuntap add dev "xt-$vm" mode tap; done
  tb_appvms_up
  TB_XFWD=$xfwd TB_XFWD_ARGS=("$@")
  tb_start_xfwd
}

# The AppVMs' side of their links xt-work and xt-untrusted (TAP or veth, made by the caller):
# addresses and routes as a Qubes AppVM has them.
tb_appvms_up() {
  local vm ip
  for vm in work untrusted; do
    ip=10.137.0.5; [ "$vm" = untrusted ] && ip=10.137.0.6
    tb_ns "$vm" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
    tb_ns "$vm" ip link set "xt-$vm" address 00:16:3e:5e:6c:00 up
    tb_ns "$vm" ip addr add "$ip/32" dev "xt-$vm"
    tb_ns "$vm" ip route add 10.137.0.1 dev "xt-$vm"
    tb_ns "$vm" ip route add default via 10.137.0.1 dev "xt-$vm" onlink
  done
  # untrusted has IPv6 too (the gateway answers neighbor solicitations for every address).
  tb_ns untrusted sysctl -qw net.ipv6.conf.all.disable_ipv6=0 net.ipv6.conf.xt-untrusted.disable_ipv6=0
  tb_ns untrusted ip addr add fd09:24ef:4179::a89:6/128 dev xt-untrusted nodad
  tb_ns untrusted ip -6 route add fd09:24ef:4179::a89:1 dev xt-untrusted
  tb_ns untrusted ip -6 route add default via fd09:24ef:4179::a89:1 dev xt-untrusted
}

# The same testbed with Linux as the firewall VM instead of xfwd: the reference for what xfwd
# must refuse (tests/testbed/parity.sh). It is set up as Qubes sets up a Linux sys-firewall:
#  * vif-route-qubes: each AppVM on a routed vif "vifD.0" (MAC fe:ff:ff:ff:ff:ff, interface
#    group 2, proxy ARP, the gateway address /32 on it, a host route to the AppVM);
#  * setup-ip: the uplink address /32 with an on-link route to the netvm (group 1);
#  * sysctl: forwarding on (80-qubes.conf), systemd's 50-default.conf (no source routing,
#    loose reverse-path filter);
#  * nftables: qubes-ipv4.nft, qubes-ipv6.nft and qubes-antispoof.nft (table "qubes"),
#    qubesagent/firewall.py's "qubes-firewall" table with the AppVMs' rules as tb_up gives
#    them to xfwd (a drop is "reject with icmp type admin-prohibited"), and
#    qubes-setup-dnat-to-ns's DNS DNAT (in Qubes, sys-firewall's DNAT leaves 10.139.1.x as they
#    are, for sys-net to translate; here the resolver is the netvm, so the rule for
#    specialtarget=dns matches the address before DNAT).
tb_up_linux() {
  tb_netvm_up
  local vm dom ip
  tb_ns fw sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 \
    net.ipv4.conf.all.accept_source_route=0 net.ipv4.conf.default.accept_source_route=0 \
    net.ipv4.conf.all.rp_filter=2 net.ipv4.conf.default.rp_filter=2 \
    net.ipv6.conf.all.drop_unsolicited_na=1 net.ipv6.conf.up0.disable_ipv6=0
  tb_ns fw ip link set up0 group 1
  tb_ns fw ip addr add 192.168.100.2/32 dev up0
  tb_ns fw ip addr add fd00:100::2/128 dev up0 nodad
  tb_ns fw ip route add 192.168.100.1 dev up0
  tb_ns fw ip route add default via 192.168.100.1 dev up0
  tb_ns fw ip -6 route add fd00:100::1 dev up0
  tb_ns fw ip -6 route add default via fd00:100::1 dev up0
  for vm in work untrusted; do
    dom=5; ip=10.137.0.5; [ "$vm" = untrusted ] && dom=6 ip=10.137.0.6
    tb_ns "$vm" ip link add "xt-$vm" type veth peer name "vif$dom.0" netns "$TB-fw"
    tb_ns fw ip link set "vif$dom.0" address fe:ff:ff:ff:ff:ff group 2 up
    tb_ns fw sysctl -qw "net.ipv4.conf.vif$dom/0.proxy_arp=1"
    tb_ns fw ip addr add 10.137.0.1/32 dev "vif$dom.0"
    tb_ns fw ip route add "$ip" dev "vif$dom.0" metric $((32752 - dom))
  done
  tb_ns fw sysctl -qw net.ipv4.conf.vif6/0.proxy_arp=1 net.ipv6.conf.vif6/0.proxy_ndp=1 \
    net.ipv6.conf.vif5/0.disable_ipv6=1
  tb_ns fw ip addr add fd09:24ef:4179::a89:1/128 dev vif6.0 nodad
  tb_ns fw ip -6 route add fd09:24ef:4179::a89:6 dev vif6.0
  tb_appvms_up
  tb_ns fw nft -f - <<'NFT'
table ip qubes {
  set downstream { type ipv4_addr; elements = { 10.137.0.5, 10.137.0.6 } }
  set allowed { type ifname . ipv4_addr; elements = { "vif5.0" . 10.137.0.5, "vif6.0" . 10.137.0.6 } }
  chain prerouting { type filter hook prerouting priority raw; policy accept;
    iifgroup 2 goto antispoof
    ip saddr @downstream counter drop
  }
  chain antispoof {
    iifname . ip saddr @allowed accept
    counter drop
  }
  chain dnat-dns { type nat hook prerouting priority dstnat; policy accept;
    ip daddr 10.139.1.1 udp dport 53 dnat to 192.168.100.1
    ip daddr 10.139.1.1 tcp dport 53 dnat to 192.168.100.1
    ip daddr 10.139.1.2 udp dport 53 dnat to 192.168.100.1
    ip daddr 10.139.1.2 tcp dport 53 dnat to 192.168.100.1
  }
  chain postrouting { type nat hook postrouting priority srcnat; policy accept;
    oifgroup 2 accept
    oif lo accept
    masquerade
  }
  chain input { type filter hook input priority filter; policy drop;
    ct state invalid counter drop
    iifgroup 2 meta l4proto udp udp dport 68 counter drop
    ct state related,established accept
    iifgroup 2 meta l4proto icmp accept
    iif lo accept
    iifgroup 2 counter reject with icmp type host-prohibited
    counter
  }
  chain forward { type filter hook forward priority filter; policy accept;
    ct state invalid counter drop
    ct state related,established accept
    iifgroup != 2 counter drop
    oifgroup 2 counter drop
  }
}
table ip6 qubes {
  set downstream { type ipv6_addr; elements = { fd09:24ef:4179::a89:6 } }
  set allowed { type ifname . ipv6_addr; elements = { "vif6.0" . fd09:24ef:4179::a89:6 } }
  chain antispoof {
    iifname . ip6 saddr @allowed accept
    counter drop
  }
  chain prerouting { type filter hook prerouting priority raw; policy accept;
    iifgroup 2 goto antispoof
    ip6 saddr @downstream counter drop
  }
  chain postrouting { type nat hook postrouting priority srcnat; policy accept;
    oifgroup 2 accept
    oif lo accept
    masquerade
  }
  chain _icmpv6 {
    meta l4proto != ipv6-icmp counter reject with icmpv6 type admin-prohibited
    icmpv6 type { nd-router-advert, nd-redirect } counter drop
    accept
  }
  chain input { type filter hook input priority filter; policy drop;
    ct state invalid counter drop
    ct state related,established accept
    iifgroup 2 goto _icmpv6
    iif lo accept
    meta l4proto udp ip6 saddr fe80::/64 ip6 daddr fe80::/64 udp dport 546 accept
    meta l4proto ipv6-icmp accept
    counter
  }
  chain forward { type filter hook forward priority filter; policy accept;
    ct state invalid counter drop
    ct state related,established accept
    iifgroup != 2 counter drop
    oifgroup 2 counter drop
  }
}
table ip qubes-firewall {
  chain qbs-10-137-0-5 {
    accept
  }
  chain qbs-10-137-0-6 {
    ip protocol tcp tcp dport 443 accept
    ct original ip daddr { 10.139.1.1, 10.139.1.2 } tcp dport 53 accept
    ct original ip daddr { 10.139.1.1, 10.139.1.2 } udp dport 53 accept
    ip protocol tcp ip daddr { 192.168.100.1/32 } tcp dport 8080 accept
    reject with icmp type admin-prohibited
  }
  chain forward { type filter hook forward priority 0; policy drop;
    ct state established,related accept
    meta iifname != "vif*" accept
    ip saddr 10.137.0.5 jump qbs-10-137-0-5
    ip saddr 10.137.0.6 jump qbs-10-137-0-6
  }
}
table ip6 qubes-firewall {
  chain qbs-fd09-24ef-4179--a89-6 {
    ip6 nexthdr tcp tcp dport 443 accept
    ip6 nexthdr tcp ip6 daddr fd00:100::/64 tcp dport 8081 accept
    # Port 7 as firewall.py writes a rule with dstports and no proto: without "ip6 nexthdr",
    # which would not match past an extension header.
    ip6 daddr fd00:100::/64 tcp dport 7 accept
    ip6 daddr fd00:100::/64 udp dport 7 accept
    reject with icmpv6 type admin-prohibited
  }
  chain forward { type filter hook forward priority 0; policy drop;
    ct state established,related accept
    meta iifname != "vif*" accept
    ip6 saddr fd09:24ef:4179::a89:6 jump qbs-fd09-24ef-4179--a89-6
  }
}
NFT
}

# Starts xfwd (again, after tb_stop_xfwd or a kill) with tb_up's arguments; its output goes on
# in $TB_DIR/xfwd.out. Returns when work reaches its gateway (the vif is attached and the
# pipeline runs).
tb_start_xfwd() {
  ip netns exec "$TB-fw" "$TB_XFWD" --xen=sim --config "$TB_DIR/xfwd.toml" --log-level "${TB_LOG_LEVEL:-warn}" \
    --control-socket "$TB_DIR/control.sock" --state-dir "$TB_DIR/state" \
    --sim-tap "work=10.137.0.5@/run/netns/$TB-work" \
    --sim-tap "untrusted=10.137.0.6,fd09:24ef:4179::a89:6@/run/netns/$TB-untrusted" \
    $([ "${TB_UPLINK:-packet}" = netfront ] && echo "--sim-uplink eth0@/run/netns/$TB-netvm") \
    "${TB_XFWD_ARGS[@]}" >> "$TB_DIR/xfwd.out" 2>&1 &
  TB_XFWD_PID=$!
  for _ in $(seq 200); do tb_ns work ping -c1 -W1 10.137.0.1 >/dev/null 2>&1 && return 0; sleep 0.05; done
  echo "testbed: work cannot reach its gateway"; cat "$TB_DIR/xfwd.out"; return 1
}

# Stops xfwd (it prints its per-vif and per-drop-reason summary) and keeps the output.
tb_stop_xfwd() {
  [ -n "$TB_XFWD_PID" ] || return 0
  kill -TERM "$TB_XFWD_PID" 2>/dev/null; wait "$TB_XFWD_PID" 2>/dev/null || true
  TB_XFWD_PID=
}

tb_down() {
  tb_stop_xfwd
  [ -f "$TB_DIR/dnsmasq.pid" ] && kill "$(cat "$TB_DIR/dnsmasq.pid")" 2>/dev/null
  for n in fw netvm work untrusted; do
    ip netns pids "$TB-$n" 2>/dev/null | xargs -r kill 2>/dev/null
    ip netns del "$TB-$n" 2>/dev/null
  done
  rm -rf "$TB_DIR"
}
