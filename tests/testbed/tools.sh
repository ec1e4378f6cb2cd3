#!/usr/bin/env bash
# The tools a user reaches for, on the testbed (tests/testbed/lib.sh): `xfwctl capture` piped
# into the real tcpdump while real Linux stacks talk through xfwd; `xfwctl diagnose` healthy
# and with each failure mode induced; `xfwctl top` under tmux; busybox udhcpc with
# [firewall] dhcp.
#   tests/testbed/tools.sh build/release/daemon/xfwd build/release/ctl/xfwctl
# Exit 0 when every check passed, 1 otherwise, 77 (skipped) without root.
set -u
[ "$(id -u)" = 0 ] || { echo "testbed: needs root (network namespaces): skipped"; exit 77; }
XFWD=$(realpath "$1") XFWCTL=$(realpath "$2")
cd "$(dirname "$0")/../.."
source tests/testbed/lib.sh
trap tb_down EXIT
ctl() { "$XFWCTL" --socket "$TB_DIR/control.sock" "$@"; }

TB_LOG_LEVEL=info  # the journal lines of captures
TB_FIREWALL_EXTRA="dhcp = true"  # for busybox udhcpc at the end
tb_up "$XFWD" || exit 1
echo "ok    both AppVMs attached and reach their gateway"

# capture NAME ARGS...: runs `xfwctl capture ARGS -w -` into tcpdump in the background, its
# stderr in $TB_DIR/NAME.err and tcpdump's lines in $TB_DIR/NAME.txt ($CAP_PID: tcpdump's
# pid, to wait for); returns once xfwd
# has taken the capture (xfwctl says "capturing" after xfwd's reply). Ended (Ctrl-C) after 20 s
# if its count is not reached.
# VMs by address: the testbed's driver domain cannot read their names, as in Qubes.
capture() {
  local name=$1; shift
  timeout -s INT 20 "$XFWCTL" --socket "$TB_DIR/control.sock" capture "$@" -w - 2>"$TB_DIR/$name.err" | tcpdump -nn -r - >"$TB_DIR/$name.txt" 2>&1 &
  CAP_PID=$!
  for _ in $(seq 50); do grep -q capturing "$TB_DIR/$name.err" && return 0; sleep 0.1; done
  cat "$TB_DIR/$name.err"; return 1
}
fetch() { tb_ns "$1" curl -s -o /dev/null --max-time 5 "http://192.168.100.1:${2:-80}/"; }

echo "-- capture"
capture vm 10.137.0.5 --filter 'tcp port 80' --count 6 && fetch work && wait "$CAP_PID"
cat "$TB_DIR/vm.txt"
check "capture 10.137.0.5 (work) | tcpdump -r -: the VM's SYN, as it sent it" \
  grep -Eq '^[0-9:.]+ IP 10\.137\.0\.5\.[0-9]+ > 192\.168\.100\.1\.80: Flags \[S\]' "$TB_DIR/vm.txt"
check "... the answer, as it received it" \
  grep -Eq '^[0-9:.]+ IP 192\.168\.100\.1\.80 > 10\.137\.0\.5\.[0-9]+: Flags \[S\.\]' "$TB_DIR/vm.txt"
check "... --count 6: six frames, none lost" grep -qx '6 frames captured, 0 lost' "$TB_DIR/vm.err"

capture nat 10.137.0.5 --after-nat --filter 'tcp port 80' --count 2 && fetch work && wait "$CAP_PID"
cat "$TB_DIR/nat.txt"
check "capture 10.137.0.5 --after-nat: the same exchange as it is on the uplink (masqueraded)" \
  grep -Eq '^[0-9:.]+ IP 192\.168\.100\.2\.[0-9]+ > 192\.168\.100\.1\.80: Flags \[S\]' "$TB_DIR/nat.txt"
check "... and the answer as it was read from the uplink" \
  grep -Eq '^[0-9:.]+ IP 192\.168\.100\.1\.80 > 192\.168\.100\.2\.[0-9]+: Flags \[S\.\]' "$TB_DIR/nat.txt"

capture up uplink --filter icmp --count 2 && tb_ns work ping -c1 -W2 192.168.100.1 >/dev/null && wait "$CAP_PID"
cat "$TB_DIR/up.txt"
check "capture uplink: a VM's ping, NATed, and its reply" bash -c "
  grep -Eq 'IP 192\.168\.100\.2 > 192\.168\.100\.1: ICMP echo request' $TB_DIR/up.txt &&
  grep -Eq 'IP 192\.168\.100\.1 > 192\.168\.100\.2: ICMP echo reply' $TB_DIR/up.txt"

timeout -s INT 20 "$XFWCTL" --socket "$TB_DIR/control.sock" capture 10.137.0.6 --drops --filter "tcp port 80" --count 1 >"$TB_DIR/drops.txt" 2>&1 &
drops_pid=$!
for _ in $(seq 50); do grep -q capturing "$TB_DIR/drops.txt" && break; sleep 0.1; done
fetch untrusted 80; wait "$drops_pid"
cat "$TB_DIR/drops.txt"
check "capture 10.137.0.6 (untrusted) --drops: the refused SYN with its reason" \
  grep -Eq ' dropped tcp 10\.137\.0\.6:[0-9]+ -> 192\.168\.100\.1:80, 74 bytes \[rule_policy\]$' "$TB_DIR/drops.txt"

# A reader that does not read: xfwd keeps at most 4 MiB for it and counts the rest as lost;
# forwarding goes on at full speed (the downloads are timed, with and without it).
timed_downloads() {  # 4 downloads of 2 MB, each compared; prints the seconds they took
  local t0 t1; t0=$(date +%s.%N)
  for _ in 1 2 3 4; do
    tb_ns work curl -s --max-time 30 http://192.168.100.1/big.bin | cmp - "$TB_DIR/www/big.bin" || return 1
  done
  t1=$(date +%s.%N); echo "$t1 - $t0" | bc
}
free=$(timed_downloads) || free=fail
ctl capture uplink -w - 2>"$TB_DIR/slow.err" | (until [ -f "$TB_DIR/drain" ]; do sleep 0.1; done; cat >/dev/null) &
slow_reader=$!
for _ in $(seq 50); do grep -q capturing "$TB_DIR/slow.err" && break; sleep 0.1; done
stalled=$(timed_downloads) || stalled=fail
echo "4 x 2 MB: ${free} s with no capture, ${stalled} s with a capture whose reader does not read"
check "downloads intact while a capture's reader stalls" test "$stalled" != fail -a "$free" != fail
pkill -INT -f "capture uplink -w -"; touch "$TB_DIR/drain"; wait "$slow_reader"
cat "$TB_DIR/slow.err"
check "... the capture says how many frames it lost" \
  grep -Eq '^[0-9]+ frames captured, [1-9][0-9]* lost \(the reader fell behind' "$TB_DIR/slow.err"
check "... and xfwd did not wait for it (under 3x the time without the capture)" \
  bash -c "[ \$(echo '$stalled < 3 * $free + 1' | bc) = 1 ]"

echo "-- diagnose"
diag() { ctl diagnose "$@" > "$TB_DIR/diag.txt" 2>&1; local rc=$?; cat "$TB_DIR/diag.txt"; return $rc; }
has() { grep -Eq "$1" "$TB_DIR/diag.txt"; }
diag 10.137.0.5 tcp 192.168.100.1:80; rc=$?
check "diagnose work, all well: exit 0, no FAIL" test "$rc" = 0 -a "$(grep -c '^FAIL' "$TB_DIR/diag.txt")" = 0
check "... the uplink, its address and the gateway's MAC" bash -c "grep -q '^ok    uplink up0 is up' $TB_DIR/diag.txt &&
  grep -q '^ok    uplink address 192.168.100.2' $TB_DIR/diag.txt && grep -Eq '^ok    gateway 192.168.100.1 is at ([0-9a-f]{2}:){5}' $TB_DIR/diag.txt"
check "... the resolver asked by xfwd itself, with the time it took" has '^ok    resolver 192\.168\.100\.1 answers \([0-9]+ ms\)'
check "... the vif, its address, MTU and offloads" bash -c "grep -q '^ok    vif 10.0 connected, 10.137.0.5 has 10.137.0.5' $TB_DIR/diag.txt &&
  grep -q '^ok    vif 10.0: MTU 1500, scatter-gather' $TB_DIR/diag.txt"
check "... DNS and the destination named allowed by its rules" bash -c "grep -q '^ok    DNS (udp 10.139.1.1:53) allowed' $TB_DIR/diag.txt &&
  grep -q '^ok    tcp 192.168.100.1:80 allowed' $TB_DIR/diag.txt"

# Each failure mode, induced, gives its line.
diag 10.137.0.77 >/dev/null; rc=$?
check "a VM that is not running: FAIL no vif, exit 1" bash -c "[ $rc = 1 ] && grep -q '^FAIL  no vif of 10.137.0.77' $TB_DIR/diag.txt"
diag 10.137.0.6 tcp 192.168.100.1:80 >/dev/null
check "a destination the rules refuse: FAIL with the rule's reason" has '^FAIL  tcp 192\.168\.100\.1:80 rejected: '
ctl rules replace 10.137.0.6 --file <(echo "action=accept proto=tcp dstports=443") >/dev/null
diag 10.137.0.6 >/dev/null
check "DNS blocked by the VM's rules: FAIL with the fix" bash -c "grep -q '^FAIL  DNS (udp 10.139.1.1:53) blocked' $TB_DIR/diag.txt &&
  grep -q 'add .action=accept specialtarget=dns.' $TB_DIR/diag.txt"
tb_ns untrusted ip addr add 10.137.0.99/32 dev xt-untrusted
tb_ns untrusted curl -s --max-time 1 --interface 10.137.0.99 http://192.168.100.1:443/ >/dev/null
tb_ns untrusted ip addr del 10.137.0.99/32 dev xt-untrusted
diag 10.137.0.6 >/dev/null
check "a VM sending from an address it was not given: FAIL, and the drop" bash -c "
  grep -q '^FAIL  10.137.0.6 sends from addresses it was not given' $TB_DIR/diag.txt &&
  grep -Eq '^warn  dropped [0-9:]+ spoofed_source: tcp 10\.137\.0\.99:[0-9]+ -> 192\.168\.100\.1:443' $TB_DIR/diag.txt"
kill "$(cat "$TB_DIR/dnsmasq.pid")"
diag >/dev/null
check "the resolver down: FAIL does not answer (after xfwd waited 2 s)" has '^FAIL  resolver 192\.168\.100\.1 does not answer \(2[0-9]{3} ms\)'
tb_dnsmasq
tb_ns fw ip link set up0 down
diag >/dev/null
check "the uplink down: FAIL with where to look" has '^FAIL  uplink up0 is down'
tb_ns fw ip link set up0 up
for _ in $(seq 50); do fetch work && break; sleep 0.2; done  # the link back before the next test

echo "-- top (under tmux)"
tmux kill-session -t "$TB-top" 2>/dev/null
tmux new-session -d -s "$TB-top" -x 110 -y 30 "$XFWCTL --socket $TB_DIR/control.sock top"
tb_ns work curl -s --limit-rate 400k -o /dev/null http://192.168.100.1/big.bin &
fetch_pid=$!
# Until a refresh shows the download (its first second may fall before the first poll).
for _ in $(seq 30); do
  sleep 0.3
  tmux capture-pane -p -t "$TB-top" > "$TB_DIR/top1.txt"
  grep -Eq '^10\.137\.0\.5 +10\.0 +[0-9.k]+ +[0-9.k]+ +[0-9.k]+ +[1-9][0-9.]*[kM] ' "$TB_DIR/top1.txt" && break
done
tmux send-keys -t "$TB-top" d; sleep 0.5
tmux capture-pane -p -t "$TB-top" > "$TB_DIR/top2.txt"
tmux send-keys -t "$TB-top" o; sleep 0.5
tmux capture-pane -p -t "$TB-top" > "$TB_DIR/top3.txt"
cat "$TB_DIR/top1.txt"
check "top: the VMs with their rates, sorted by bytes from the VM" bash -c "
  grep -q '^xfwctl top: 2 vifs, sorted by IN B/s' $TB_DIR/top1.txt &&
  grep -Eq '^VM +VIF +IN pkt/s +IN B/s +OUT pkt/s +OUT B/s +CONNS +DROPS/s' $TB_DIR/top1.txt &&
  grep -Eq '^10\.137\.0\.6 +11\.0 ' $TB_DIR/top1.txt"
check "... the download shows as OUT (to the VM) at about its rate, with its connection" \
  grep -Eq '^10\.137\.0\.5 +10\.0 +[0-9.k]+ +[0-9.k]+ +[0-9.k]+ +[1-9][0-9.]*[kM] +[1-9][0-9]* ' "$TB_DIR/top1.txt"
check "... and the drops by reason" grep -Eq '^DROP REASON +DROPS/s +TOTAL' "$TB_DIR/top1.txt"
check "... d sorts by drops, o by bytes to the VM" bash -c "
  grep -q 'sorted by DROPS/s' $TB_DIR/top2.txt && grep -q 'sorted by OUT B/s' $TB_DIR/top3.txt &&
  [ \"\$(grep -A1 '^VM ' $TB_DIR/top3.txt | tail -1 | cut -c1-10)\" = 10.137.0.5 ]"
tmux send-keys -t "$TB-top" q; sleep 0.5
check "... q quits" expect_fail tmux has-session -t "$TB-top"
kill "$fetch_pid" 2>/dev/null; wait "$fetch_pid" 2>/dev/null

echo "-- DHCP ([firewall] dhcp)"
cat > "$TB_DIR/udhcpc.sh" <<'S'
#!/bin/sh
[ "$1" = bound ] || exit 0
echo "bound ip=$ip mask=$mask router=$router dns=$dns lease=$lease server=$serverid"
ip addr add "$ip/$mask" dev "$interface"
ip route add "$router" dev "$interface"
ip route add default via "$router" dev "$interface" onlink
S
chmod +x "$TB_DIR/udhcpc.sh"
tb_ns work ip addr flush dev xt-work
tb_ns work busybox udhcpc -i xt-work -f -q -n -t 5 -T 1 -s "$TB_DIR/udhcpc.sh" > "$TB_DIR/udhcpc.out" 2>&1
cat "$TB_DIR/udhcpc.out"
check "busybox udhcpc gets exactly the vif's address, the gateway, the virtual DNS and a lease" \
  grep -qx "bound ip=10.137.0.5 mask=32 router=10.137.0.1 dns=10.139.1.1 10.139.1.2 lease=86400 server=10.137.0.1" "$TB_DIR/udhcpc.out"
check "... and the VM reaches the netvm with it" fetch work

tb_stop_xfwd
check "no sanitizer report" expect_fail grep -q 'Sanitizer' "$TB_DIR/xfwd.out"
check "captures logged" grep -q 'capture of 10.137.0.5 started (tcp port 80)' "$TB_DIR/xfwd.out"
[ $failed = 0 ] && echo "== testbed tools: all checks passed" || { echo "== testbed tools: FAILED"; cat "$TB_DIR/xfwd.out"; }
exit $failed
