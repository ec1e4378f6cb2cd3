#!/usr/bin/env bash
# Parity with Linux sys-firewall (docs/parity.md): every probe of tests/testbed/parity.py goes
# through the testbed twice, once with Linux as the firewall VM (set up as Qubes sets up
# sys-firewall: tb_up_linux) and once with xfwd, and the table of what each did is printed.
# Fails where xfwd forwards what Linux does not, answers what Linux does not (beyond the
# answers parity.py lists as by design), or no longer does what docs/parity.md says.
#   tests/testbed/parity.sh build/release/daemon/xfwd [docs/parity.md]
# Exit 0 when xfwd is nowhere more permissive, 1 otherwise, 77 (skipped) without root.
set -u
[ "$(id -u)" = 0 ] || { echo "testbed: needs root (network namespaces): skipped"; exit 77; }
XFWD=$(realpath "$1")
DOC=${2:+$(realpath "$2")}
cd "$(dirname "$0")/../.."
/usr/bin/python3 -c "import scapy" 2>/dev/null || { echo "parity: needs python3-scapy (apt-get install python3-scapy)"; exit 1; }
OUT=$(mktemp -d /tmp/xfw-parity.XXXXXX)
source tests/testbed/lib.sh
trap 'tb_down; rm -rf "$OUT"' EXIT

# Only the firewall answers: the netvm's and the AppVMs' kernels drop IP on arrival (an
# nftables ingress hook, after the probes' packet sockets have seen it), but for neighbor
# discovery, and they keep answering ARP.
silence() { # namespace, interface
  tb_ns "$1" nft -f - <<NFT
table netdev parity {
  chain in {
    type filter hook ingress device "$2" priority 0; policy accept;
    icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept
    meta protocol { ip, ip6 } drop
  }
}
NFT
}

measure() { # name, control socket or ""
  silence netvm eth0; silence work xt-work; silence untrusted xt-untrusted
  NETVM_MAC=$(tb_ns netvm cat /sys/class/net/eth0/address) UPLINK_MAC=$(tb_ns fw cat /sys/class/net/up0/address) \
    TB=$TB /usr/bin/python3 tests/testbed/parity.py probe "$OUT/$1.json" $2
}

tb_up_linux || exit 1
# Linux resolves its neighbors first (xfwd has its own gateway MAC from ARP by now).
tb_ns work ping -c1 -W2 192.168.100.1 >/dev/null; tb_ns untrusted ping -6 -c1 -W2 fd00:100::1 >/dev/null
tb_ns untrusted curl -s --max-time 2 -o /dev/null "http://[fd00:100::1]:8081/"
measure linux "" || exit 1
tb_down
TB_DIR=$(mktemp -d /tmp/xfw-testbed.XXXXXX)
tb_up "$XFWD" || exit 1
tb_ns untrusted curl -s --max-time 2 -o /dev/null "http://[fd00:100::1]:8081/"
measure xfwd "$TB_DIR/control.sock" || exit 1
/usr/bin/python3 tests/testbed/parity.py table "$OUT/linux.json" "$OUT/xfwd.json" ${DOC:+"$DOC"}
