#!/usr/bin/env bash
# tests/qubesdb/record.sh QUBESDB_RECORD PEER_DIR OUT_DIR — records the conversation the replay
# test (qubesdb_test.cc, "Recorded") checks: Qubes' real qubesdb-daemon (tests/qubesdb/peer.sh),
# dom0's writes as qubesd makes them, qubesdb::Session as the client. Writes OUT_DIR/session.tx
# and session.rx. Run it again after changing what Session asks, and commit the files.
set -euo pipefail
rec=$(realpath "$1") peer=$(realpath -m "$2") out=$(realpath -m "$3")
root=$(cd "$(dirname "$0")/../.." && pwd)
"$root/tests/qubesdb/peer.sh" "$peer"
if [ -z "${XFW_QDB_NS:-}" ]; then exec env XFW_QDB_NS=1 unshare -m --propagation private "$0" "$@"; fi
mkdir -p /run/qubes /var/log/qubes "$out"
mount -t tmpfs tmpfs /run/qubes && mount -t tmpfs tmpfs /var/log/qubes
export LD_LIBRARY_PATH=$peer/lib
qdb() { "$peer/bin/qubesdb-$1" -d rec "${@:2}"; }
"$peer/bin/qubesdb-daemon" 0 rec
trap 'pkill -f "qubesdb-daemon 0 rec"' EXIT
qdb write /qubes-ip 10.138.1.2
qdb write /qubes-gateway 10.138.1.1
qdb write /qubes-primary-dns 10.139.1.1
qdb write /qubes-secondary-dns 10.139.1.2
qdb write /qubes-netvm-gateway 10.138.1.2
qdb write /qubes-netvm-primary-dns 10.139.1.1
qdb write /qubes-netvm-secondary-dns 10.139.1.2
qdb write /connected-ips "10.137.0.5 10.137.0.6"
qdb write /qubes-firewall/10.137.0.5/policy drop
qdb write /qubes-firewall/10.137.0.5/0000 "action=accept proto=tcp dstports=443-443"
qdb write /qubes-firewall/10.137.0.5/0001 "action=accept specialtarget=dns"
qdb write /qubes-firewall/10.137.0.5 ""
qdb write /qubes-firewall/10.137.0.6/policy accept
qdb write /qubes-firewall/10.137.0.6 ""
"$rec" /run/qubes/qubesdb.rec.sock 3 "$out/session" &
sleep 1
# As qubesd's reload_firewall_for_vm: rm the directory, write the rules, then the empty key.
qdb rm /qubes-firewall/10.137.0.5/
qdb write /qubes-firewall/10.137.0.5/policy drop
qdb write /qubes-firewall/10.137.0.5/0001 "action=drop proto=udp"   # 0000 left out: a gap
qdb write /qubes-firewall/10.137.0.5/0002 "dstports=80-80 proto=tcp action=accept"
qdb write /qubes-firewall/10.137.0.5 ""
qdb write /qubes-firewall/10.137.0.7/policy drop                   # a bad rule
qdb write /qubes-firewall/10.137.0.7/0000 "action=accept proto=tcp dstports=70000-70000"
qdb write /qubes-firewall/10.137.0.7 ""
qdb write /qubes-primary-dns 192.168.100.3
qdb write /connected-ips "10.137.0.5 10.137.0.6 10.137.0.7"
qdb rm /qubes-secondary-dns
wait
