#!/usr/bin/env bash
# xfwd against Qubes' real QubesDB daemon, on the testbed (tests/testbed/lib.sh):
#   tests/testbed/qubesdb.sh XFWD XFWCTL PEER_DIR
# PEER_DIR gets qubesdb-daemon and qubesdb-cmd built from Qubes' unmodified sources
# (tests/qubesdb/peer.sh). The daemon runs as dom0 runs it for a VM (`qubesdb-daemon 0 NAME`:
# with domain 0 as the peer it opens no vchan, so no Xen is needed), with /run/qubes on a tmpfs
# of this test's own mount namespace; the keys are written with qubesdb-write / qubesdb-rm the
# way qubesd writes them. xfwd connects to its socket as it connects to a firewall VM's daemon.
# The VM-side daemon over a real vchan is the lab's (lab/scenarios/test.sh).
# Exit 0 when every check passed, 1 otherwise, 77 (skipped) without root.
set -u
[ "$(id -u)" = 0 ] || { echo "qubesdb testbed: needs root: skipped"; exit 77; }
XFWD=$(realpath "$1") XFWCTL=$(realpath "$2") PEER=$(realpath -m "$3")
cd "$(dirname "$0")/../.."
tests/qubesdb/peer.sh "$PEER" || exit 1
if [ -z "${XFW_QDB_NS:-}" ]; then  # a private /run/qubes: nothing of the host's is touched
  exec env XFW_QDB_NS=1 unshare -m --propagation private "$0" "$@"
fi
mkdir -p /run/qubes /var/log/qubes
mount -t tmpfs -o mode=0755 tmpfs /run/qubes
mount -t tmpfs -o mode=0755 tmpfs /var/log/qubes
export LD_LIBRARY_PATH=$PEER/lib
VM=sys-firewall
qdb() { "$PEER/bin/qubesdb-$1" -d "$VM" "${@:2}"; }
start_qubesdb() {
  "$PEER/bin/qubesdb-daemon" 0 "$VM" || { echo "qubesdb-daemon did not start"; exit 1; }
}
# As qubesd's reload_firewall_for_vm: remove the client's rules, write the new ones, then the
# empty "update complete" key.
set_rules() {  # ADDR POLICY RULE...
  local addr=$1 policy=$2 n=0 r; shift 2
  qdb rm "/qubes-firewall/$addr/" 2>/dev/null
  qdb write "/qubes-firewall/$addr/policy" "$policy"
  for r in "$@"; do qdb write "/qubes-firewall/$addr/$(printf %04d $n)" "$r"; n=$((n + 1)); done
  qdb write "/qubes-firewall/$addr" ""
}

start_qubesdb
# What dom0 writes for a firewall VM (Qubes' vm-interface documentation).
qdb write /qubes-ip 192.168.100.2
qdb write /qubes-gateway 192.168.100.1
qdb write /qubes-primary-dns 192.168.100.1
qdb write /qubes-netvm-gateway 10.137.0.1
qdb write /qubes-netvm-network 10.137.0.0
qdb write /qubes-netvm-netmask 255.255.255.0
qdb write /qubes-netvm-primary-dns 10.139.1.1
qdb write /qubes-netvm-secondary-dns 10.139.1.2
qdb write /connected-ips "10.137.0.5 10.137.0.6"
set_rules 10.137.0.5 drop "action=accept proto=tcp dstports=80-80" "action=accept specialtarget=dns"

source tests/testbed/lib.sh
TB_LOG_LEVEL=info
TB_TOML_EXTRA="[qubesdb]
enabled = true
socket = \"/run/qubes/qubesdb.$VM.sock\""
trap 'tb_down; pkill -f "qubesdb-daemon 0 $VM"' EXIT
ctl() { "$XFWCTL" --socket "$TB_DIR/control.sock" "$@"; }
# Polls for up to 5 s: a QubesDB write reaches xfwd through a watch, not at once.
eventually() { local _; for _ in $(seq 50); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done; "$@"; }
get() { ip netns exec "$TB-$1" curl -s -o /dev/null --max-time 3 "http://192.168.100.1:$2/"; }
refused() { get "$@"; [ $? = 7 ]; }  # curl: connection refused (xfwd answers with a TCP RST)
export -f get refused; export TB

tb_up "$XFWD" || exit 1
echo "ok    xfwd attached both AppVMs with [qubesdb] enabled"

check "xfwctl status: connected to QubesDB, rules of 1 client" eventually bash -c \
  "'$XFWCTL' --socket '$TB_DIR/control.sock' status | grep -q 'qubesdb: .*, connected, rules of 1 clients'"
check "rules list marks QubesDB's rules (and the local ones)" bash -c "
  '$XFWCTL' --socket '$TB_DIR/control.sock' rules list --raw > '$TB_DIR/list'
  grep -qx '10.137.0.5 (from QubesDB: change it in dom0):' '$TB_DIR/list' &&
  grep -qx '    0  action=accept proto=tcp dstports=80-80' '$TB_DIR/list' &&
  grep -qx '10.137.0.6 (local):' '$TB_DIR/list'"
check "bash completion offers the VMs xfwd knows (packaging/xfwctl.bash-completion)" bash -c "
  PATH=$(dirname "$XFWCTL"):\$PATH; source packaging/xfwctl.bash-completion
  COMP_WORDS=(xfwctl --socket '$TB_DIR/control.sock' rules list 10.137.0.); COMP_CWORD=5; _xfwctl
  echo \"\${COMPREPLY[*]}\"; [ \"\${COMPREPLY[*]}\" = '10.137.0.5 10.137.0.6' ]"
check "dom0's rule takes effect: work reaches port 80" get work 80
check "and QubesDB's rules win over the config's (accept all) for 10.137.0.5: 443 refused" refused work 443
check "explain names the source" bash -c "ctl() { '$XFWCTL' --socket '$TB_DIR/control.sock' \"\$@\"; }
  [ \"\$(ctl rules explain 10.137.0.5 tcp 192.168.100.1:80)\" = 'accept: rule 0: action=accept proto=tcp dstports=80-80 [rules from QubesDB]' ]"
check "xfwctl may not change a QubesDB-managed VM (exit 1, says where to)" bash -c "
  out=\$('$XFWCTL' --socket '$TB_DIR/control.sock' rules add 10.137.0.5 action=accept 2>&1); rc=\$?
  echo \"\$out\"; [ \$rc = 1 ] && echo \"\$out\" | grep -q 'come from QubesDB: change them in dom0'"
check "a DNS query through the redirect (specialtarget=dns from QubesDB)" bash -c "
  [ \"\$(ip netns exec $TB-work dig +short +time=2 +tries=2 @10.139.1.1 example.test)\" = 192.168.100.1 ]"

# A rule change in dom0: 443 instead of 80; a download running on port 80 is cut.
ip netns exec "$TB-work" curl -s --limit-rate 100k -o /dev/null --max-time 30 http://192.168.100.1/big.bin &
slow=$!
sleep 1
set_rules 10.137.0.5 drop "action=accept proto=tcp dstports=443-443"
check "rules rewritten in dom0 take effect: 443 reached" eventually get work 443
check "and port 80 is refused now" refused work 80
check "the download on port 80 the new rules forbid was cut" bash -c "
  for _ in \$(seq 50); do kill -0 $slow 2>/dev/null || exit 0; sleep 0.1; done; exit 1"
wait "$slow" 2>/dev/null

# A rule dom0 writes that does not parse: everything from that address is dropped, and why.
qdb write /qubes-firewall/10.137.0.5/0001 "action=accept proto=tcp dstports=99999-99999"
qdb write /qubes-firewall/10.137.0.5 ""
check "a bad rule from dom0 blocks the VM (fail closed)" eventually bash -c "! get work 443"
check "rules list says it was refused and why" bash -c "
  '$XFWCTL' --socket '$TB_DIR/control.sock' rules list 10.137.0.5 | tee /dev/stderr |
    grep -q 'refused, everything is dropped: rule 0001: dstports'"
check "explain says why" bash -c "
  '$XFWCTL' --socket '$TB_DIR/control.sock' rules explain 10.137.0.5 tcp 192.168.100.1:443 | tee /dev/stderr |
    grep -q 'rules of 10.137.0.5 from QubesDB are refused'"
check "the drop is counted as rules_invalid" bash -c "
  '$XFWCTL' --socket '$TB_DIR/control.sock' stats --json | grep -q '\"rules_invalid\"'"
check "and xfwd's log says it" grep -q "rules of 10.137.0.5 refused, all its traffic is dropped: rule 0001" "$TB_DIR/xfwd.out"
set_rules 10.137.0.5 drop "action=accept proto=tcp dstports=443-443" "action=accept specialtarget=dns"
check "fixed in dom0: the VM is back" eventually get work 443

# DNS moves with /qubes-primary-dns: a second resolver in the netvm answers differently.
tb_ns netvm ip addr add 192.168.100.3/24 dev eth0
tb_ns netvm dnsmasq --no-resolv --no-hosts --bind-interfaces --listen-address=192.168.100.3 \
  --address=/example.test/192.168.100.3 --pid-file="$TB_DIR/dnsmasq2.pid" --user=root 2>/dev/null
dns() { ip netns exec "$TB-work" dig +short +time=1 +tries=1 @10.139.1.1 example.test; }
check "DNS goes to /qubes-primary-dns 192.168.100.1" bash -c "[ \"\$(ip netns exec $TB-work dig +short +time=2 +tries=2 @10.139.1.1 example.test)\" = 192.168.100.1 ]"
qdb write /qubes-primary-dns 192.168.100.3
check "a changed /qubes-primary-dns moves DNS to 192.168.100.3" eventually bash -c \
  "[ \"\$(ip netns exec $TB-work dig +short +time=1 +tries=1 @10.139.1.1 example.test)\" = 192.168.100.3 ]"
kill "$(cat "$TB_DIR/dnsmasq2.pid")" 2>/dev/null
qdb write /qubes-primary-dns 192.168.100.1

# /connected-ips: a client address that is not running is refused as a source from the uplink.
drops_from_client() { ctl stats --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["drops"].get("uplink_from_client_address", 0))'; }
tb_ns netvm ip addr add 10.137.0.99/32 dev eth0
before=$(drops_from_client)
tb_ns netvm ping -c2 -W1 -I 10.137.0.99 192.168.100.2 >/dev/null 2>&1
check "10.137.0.99 (not in /connected-ips) is not taken as a client source" test "$(drops_from_client)" = "$before"
qdb write /connected-ips "10.137.0.5 10.137.0.6 10.137.0.99"
sleep 0.5
tb_ns netvm ping -c2 -W1 -I 10.137.0.99 192.168.100.2 >/dev/null 2>&1
check "10.137.0.99 in /connected-ips (no such VM running): uplink packets from it dropped" \
  bash -c "[ \$(( $(drops_from_client) - before )) -ge 2 ]"

# The daemon goes away: the last rules stay; when it is back xfwd reads everything again.
pkill -f "qubesdb-daemon 0 $VM"
check "QubesDB daemon gone: xfwctl status says so" eventually bash -c \
  "'$XFWCTL' --socket '$TB_DIR/control.sock' status | grep -q 'not connected (the last rules stay)'"
check "and the last rules stay: work still reaches 443" get work 443
check "and 80 is still refused" refused work 80
start_qubesdb
set_rules 10.137.0.5 drop "action=accept proto=tcp dstports=80-80"
check "daemon back: xfwd reconnected and applies what it holds" eventually get work 80
check "xfwctl status: connected again" eventually bash -c \
  "'$XFWCTL' --socket '$TB_DIR/control.sock' status --json | python3 -c 'import json,sys; q=json.load(sys.stdin)[\"qubesdb\"]; sys.exit(not (q[\"connected\"] and q[\"connects\"] >= 2))'"
check "xfwd logged the loss and the reconnect" bash -c "grep -q 'QubesDB: lost' '$TB_DIR/xfwd.out' && [ \$(grep -c 'QubesDB: connected' '$TB_DIR/xfwd.out') -ge 2 ]"
check "xfwd is still running" kill -0 "$TB_XFWD_PID"
[ $failed = 0 ] && echo "qubesdb testbed: all checks passed" || { echo "--- xfwd output"; tail -30 "$TB_DIR/xfwd.out"; }
exit $failed
