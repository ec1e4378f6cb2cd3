#!/usr/bin/env bash
# End-to-end tests on the testbed (tests/testbed/lib.sh): real Linux network stacks as AppVMs
# and as the netvm, xfwd in between with simulated Xen. Needs root (namespaces, TAP).
#   tests/testbed/e2e.sh build/release/daemon/xfwd build/release/ctl/xfwctl
# Exit 0 when every check passed, 1 otherwise, 77 (skipped) without root.
set -u
[ "$(id -u)" = 0 ] || { echo "testbed: needs root (network namespaces): skipped"; exit 77; }
XFWD=$(realpath "$1") XFWCTL=$(realpath "$2")
cd "$(dirname "$0")/../.."
source tests/testbed/lib.sh
trap tb_down EXIT

tb_up "$XFWD" || exit 1
echo "ok    both AppVMs attached and reach their gateway"
[ "${TB_UPLINK:-packet}" = netfront ] &&
  check "no kernel interface toward the netvm in the firewall VM (ls /sys/class/net: lo xfw0)" bash -c "
    ip netns exec $TB-fw ls /sys/class/net; [ \"\$(ip netns exec $TB-fw ls /sys/class/net | sort | tr '\n' ' ')\" = 'lo xfw0 ' ]"

check "ping through NAT" tb_ns work ping -c2 -W2 192.168.100.1
check "HTTP through NAT" bash -c "tb_ns() { ip netns exec $TB-\$1 \"\${@:2}\"; }; \
  [ \"\$(tb_ns work curl -s --max-time 5 http://192.168.100.1/)\" = 'hello from the netvm' ]"
check "2 MB download intact" bash -c "ip netns exec $TB-work curl -s --max-time 30 http://192.168.100.1/big.bin | cmp - $TB_DIR/www/big.bin"
# A netvm doing TSO/GSO hands the uplink 64 KB super-frames: VMs must get MTU-sized segments.
tb_ns netvm ethtool -K eth0 tso on gso on tx on >/dev/null 2>&1
check "2 MB download intact with the netvm doing TSO (super-frames cut into segments)" bash -c "
  ip netns exec $TB-work curl -s --max-time 30 http://192.168.100.1/big.bin | cmp - $TB_DIR/www/big.bin"
tb_ns netvm ethtool -K eth0 tso off gso off tx off >/dev/null 2>&1
check "DNS redirect over UDP (10.139.1.1)" bash -c "[ \"\$(ip netns exec $TB-work dig +short +time=2 +tries=2 @10.139.1.1 example.test)\" = 192.168.100.1 ]"
check "DNS redirect over TCP (10.139.1.2)" bash -c "[ \"\$(ip netns exec $TB-work dig +tcp +short +time=2 +tries=2 @10.139.1.2 example.test)\" = 192.168.100.1 ]"
check "untrusted: dsthost rule resolved by xfwd, port 8080 allowed" bash -c "
  for _ in \$(seq 30); do ip netns exec $TB-untrusted curl -sf --max-time 1 -o /dev/null http://192.168.100.1:8080/ && exit 0; sleep 0.2; done; exit 1"
check "untrusted: IPv6 through NAT66 (rule dst6, port 8081)" bash -c "
  for _ in \$(seq 20); do ip netns exec $TB-untrusted curl -sf --max-time 1 -o /dev/null 'http://[fd00:100::1]:8081/' && exit 0; sleep 0.2; done; exit 1"
check "untrusted: IPv6 ping of the gateway" tb_ns untrusted ping -6 -c1 -W2 fd09:24ef:4179::a89:1
check "untrusted: IPv6 to a blocked port is refused at once" bash -c "
  ip netns exec $TB-untrusted curl -s --max-time 3 'http://[fd00:100::1]:80/'; [ \$? = 7 ]"
check "the firewall VM's own traffic goes through xfwd (xfw0)" bash -c "
  [ \"\$(ip netns exec $TB-fw curl -s --max-time 5 http://192.168.100.1/)\" = 'hello from the netvm' ] &&
  [ \"\$(ip netns exec $TB-fw dig +short +time=2 @10.139.1.1 example.test)\" = 192.168.100.1 ]"
check "the firewall VM's own traffic follows its rules (no ping)" expect_fail tb_ns fw ping -c1 -W1 192.168.100.1
check "untrusted: allowed port 443 works" tb_ns untrusted curl -sf --max-time 5 -o /dev/null http://192.168.100.1:443/
# A blocked port is rejected (TCP RST): curl fails at once with "connection refused" (exit 7).
check "untrusted: blocked port 80 is refused at once" bash -c "
  start=\$(date +%s%N); ip netns exec $TB-untrusted curl -s --max-time 5 http://192.168.100.1/; rc=\$?
  [ \$rc = 7 ] && [ \$(( (\$(date +%s%N) - start) / 1000000 )) -lt 2000 ]"
check "untrusted: blocked ping gets 'Packet filtered'" bash -c "ip netns exec $TB-untrusted ping -c1 -W2 192.168.100.1 | grep -q 'Packet filtered'"
check "inter-VM: work cannot reach untrusted" bash -c "ip netns exec $TB-work ping -c1 -W2 10.137.0.6 | grep -q 'Packet filtered'"
# Spoofing: the AppVM adds a second address and uses it (after real traffic, so its ARP
# entry for the gateway exists).
tb_ns untrusted ip addr add 10.137.0.99/32 dev xt-untrusted
check "spoofed source is dropped" expect_fail tb_ns untrusted curl -s --max-time 2 --interface 10.137.0.99 http://192.168.100.1:443/

# Rules replaced mid-connection: a TCP connection of work's is open; the new rules allow only
# ICMP; the connection is cut (its next segment is answered with a reset) while ping goes on.
tb_ns netvm nc -lk 192.168.100.1 9000 >/dev/null &
disown
sleep 0.3
ip netns exec "$TB-work" bash -c "
  trap '' PIPE
  exec 3<>/dev/tcp/192.168.100.1/9000 || exit 10
  echo one >&3 || exit 11
  touch $TB_DIR/connected
  for _ in \$(seq 100); do [ -f $TB_DIR/reloaded ] && break; sleep 0.05; done
  echo two >&3 2>/dev/null; sleep 0.3
  if echo three >&3 2>/dev/null && sleep 0.3 && echo four >&3 2>/dev/null; then exit 12; fi
  exit 0" > "$TB_DIR/cut.out" 2>&1 &
cut_pid=$!
for _ in $(seq 100); do [ -f "$TB_DIR/connected" ] && break; sleep 0.05; done
sed -i 's/^"10.137.0.5" = .*/"10.137.0.5" = ["action=accept proto=icmp"]/' "$TB_DIR/xfwd.toml"
kill -HUP "$TB_XFWD_PID"; sleep 0.3; touch "$TB_DIR/reloaded"
# (on failure: its exit status, 10 connect 11 first write 12 not cut, and what it printed)
wait_cut() { wait "$cut_pid"; local rc=$?; [ $rc = 0 ] || { echo "exit $rc"; cat "$TB_DIR/cut.out"; }; return $rc; }
check "rule change cuts the now-forbidden connection" wait_cut
check "rule change keeps what is still allowed (ping)" tb_ns work ping -c1 -W2 192.168.100.1
check "rule change applies to new connections" expect_fail tb_ns work curl -s --max-time 3 http://192.168.100.1/
check "a bad rules file is refused, the rules stay" bash -c "
  echo '\"10.137.0.5\" = [\"action=maybe\"]' >> $TB_DIR/xfwd.toml; kill -HUP $TB_XFWD_PID; sleep 0.3
  ip netns exec $TB-work ping -c1 -W2 192.168.100.1"

if [ "${TB_UPLINK:-packet}" != netfront ]; then
  # (the kernel reports twice what was set: its own bookkeeping; 2 MB and more went through)
  check "the AF_PACKET uplink's socket buffers are 4 MiB each way, and the kernel dropped none of its frames" bash -c "
    '$XFWCTL' --socket '$TB_DIR/control.sock' status --json > '$TB_DIR/status.json' &&
    python3 -c 'import json, sys; u = json.load(open(sys.argv[1]))[\"uplink_status\"]; print(u)
sys.exit(not (u[\"rcvbuf\"] >= 4 << 20 and u[\"sndbuf\"] >= 4 << 20 and u[\"socket_drops\"] == 0))' '$TB_DIR/status.json'"
fi

tb_stop_xfwd
echo "-- xfwd summary"; cat "$TB_DIR/xfwd.out"
check "drops counted: spoofed_source" grep -Eq 'dropped spoofed_source +[1-9]' "$TB_DIR/xfwd.out"
check "drops counted: inter_vm" grep -Eq 'dropped inter_vm +[1-9]' "$TB_DIR/xfwd.out"
check "drops counted: rule_policy" grep -Eq 'dropped rule_policy +[1-9]' "$TB_DIR/xfwd.out"
if [ "${TB_UPLINK:-packet}" = netfront ]; then  # a TAP carries no super-frames: nothing to cut
  # (tx_down: what xfw0 sent in the milliseconds before the simulated sys-net connected)
  check "the uplink was xfwd's netfront, up, and dropped nothing it had taken" bash -c "
    grep -Eq '^uplink: netfront vif 0 up, [1-9][0-9]* frames in, [1-9][0-9]* out' $TB_DIR/xfwd.out &&
    ! grep '^uplink dropped' $TB_DIR/xfwd.out | grep -v tx_down"
else
  check "super-frames from a TSO peer were segmented" grep -Eq 'TCP super-frames: [1-9][0-9]* cut into segments' "$TB_DIR/xfwd.out"
fi
check "reload logged" grep -q 'rules reloaded' "$TB_DIR/xfwd.out"
check "no sanitizer report" expect_fail grep -q 'Sanitizer' "$TB_DIR/xfwd.out"
check "bad reload logged" grep -q 'reload of .* refused, rules unchanged' "$TB_DIR/xfwd.out"
[ $failed = 0 ] && echo "== testbed: all checks passed" || echo "== testbed: FAILED"
exit $failed
