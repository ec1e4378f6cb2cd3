#!/usr/bin/env bash
# Connections survive a restart of xfwd (docs/restart.md), on the testbed (tests/testbed/lib.sh):
# while work downloads 16 MB through NAT (curl, 2 MB/s), exchanges UDP datagrams from one socket
# with the netvm and pings it every 10 ms, xfwd is stopped and started (SIGTERM), then killed
# with SIGKILL three times at random moments and started again. The download must be intact,
# over one TCP connection with one NAT port and no RST; the UDP exchange (from port 61500,
# outside the NAT range: its NAT port is chosen, not kept) must keep its NAT port
# and go on; every start must adopt the saved connections whole. The outage of each restart
# (the longest gap between ping replies just after it) is printed. Last, a file of another version is
# refused cleanly.
#   tests/testbed/restart.sh build/release/daemon/xfwd
# Exit 0 when every check passed, 1 otherwise, 77 (skipped) without root.
set -u
[ "$(id -u)" = 0 ] || { echo "testbed: needs root (network namespaces): skipped"; exit 77; }
XFWD=$(realpath "$1")
cd "$(dirname "$0")/../.."
source tests/testbed/lib.sh
trap 'kill $(jobs -p) 2>/dev/null; tb_down' EXIT

TB_LOG_LEVEL=info  # the "connections:" lines
tb_up "$XFWD" --connections-file "$TB_DIR/connections" || exit 1
echo "ok    both AppVMs attached and reach their gateway"
head -c 16000000 /dev/urandom > "$TB_DIR/www/stream.bin"

# The netvm's view of the TCP and UDP exchanges; its UDP echo (one child per datagram).
tb_ns netvm tcpdump -nn -U -i eth0 -w "$TB_DIR/netvm.pcap" 'tcp port 80 or udp port 7777' 2>/dev/null &
tcpdump_pid=$!
tb_ns netvm socat UDP-RECVFROM:7777,fork EXEC:cat &
sleep 0.5
tb_ns work ping -D -n -i 0.01 -W 1 192.168.100.1 > "$TB_DIR/ping.txt" 2>&1 &
ping_pid=$!
tb_ns work curl -s --limit-rate 2M -o "$TB_DIR/got.bin" http://192.168.100.1/stream.bin &
curl_pid=$!
(for i in $(seq 1 200); do echo "dgram $i"; sleep 0.05; done) |
  tb_ns work socat -t 3 - UDP:192.168.100.1:7777,sourceport=61500 > "$TB_DIR/udp.txt" &
udp_pid=$!

events=() at=()  # what happened when (s since the epoch, as ping -D prints)
sleep 1.5
at+=("$(date +%s.%N)"); tb_stop_xfwd; tb_start_xfwd || exit 1; events+=("restart (SIGTERM)")
for n in 1 2 3; do
  sleep "0.$((RANDOM % 9 + 3))"
  at+=("$(date +%s.%N)"); kill -KILL "$TB_XFWD_PID"; wait "$TB_XFWD_PID" 2>/dev/null
  tb_start_xfwd || exit 1; events+=("kill -9 #$n")
done
wait "$curl_pid"; curl_rc=$?
wait "$udp_pid"
sleep 0.3
kill "$ping_pid" "$tcpdump_pid" 2>/dev/null; wait "$ping_pid" "$tcpdump_pid" 2>/dev/null

check "the 16 MB download through NAT is intact (curl exit $curl_rc)" cmp "$TB_DIR/got.bin" "$TB_DIR/www/stream.bin"
pcap() { tcpdump -nn -r "$TB_DIR/netvm.pcap" "$@" 2>/dev/null; }
ports() { pcap "$1" | awk '{print $3}' | sort -u; }
check "one TCP connection: one SYN, one NAT port" test "$(pcap 'tcp dst port 80 and tcp[tcpflags] & tcp-syn != 0' | wc -l) $(ports 'tcp dst port 80' | wc -l)" = "1 1"
check "no RST either way" test "$(pcap 'tcp[tcpflags] & tcp-rst != 0' | wc -l)" = 0
# (When one is seen: which side sent it and when, against the restarts' times, to find why.)
pcap -tt 'tcp[tcpflags] & tcp-rst != 0' | head -5 | sed 's/^/      RST at /'
[ "$(pcap 'tcp[tcpflags] & tcp-rst != 0' | wc -l)" = 0 ] || echo "      restarts at ${at[*]}; the connection's last packets:" && true
[ "$(pcap 'tcp[tcpflags] & tcp-rst != 0' | wc -l)" = 0 ] || pcap -tt 'tcp port 80' | tail -8 | sed 's/^/      /'
check "UDP kept its NAT port ($(ports 'udp dst port 7777' | tr '\n' ' '))" test "$(ports 'udp dst port 7777' | wc -l)" = 1
check "UDP answers go on after the last restart ($(grep -c dgram "$TB_DIR/udp.txt") of 200)" grep -qx "dgram 200" "$TB_DIR/udp.txt"
check "every start read the saved connections whole" test "$(grep -c 'connections: .* read: [1-9]' "$TB_DIR/xfwd.out")" = 4
check "and adopted work's, none cut or refused" test "$(grep -c 'connections: vif 10/0 (10.137.0.5): [1-9][0-9]* adopted, 0 cut by the rules, 0 over a limit or taken' "$TB_DIR/xfwd.out")" = 4
check "no state file refused" expect_fail grep -q 'refused' "$TB_DIR/xfwd.out"
check "no sanitizer report" expect_fail grep -q 'Sanitizer' "$TB_DIR/xfwd.out"
grep 'connections: ' "$TB_DIR/xfwd.out" | sed 's/^/      /'

# The outage of each restart: the longest gap between ping replies from its moment to the next
# restart's (a reply already on its way when xfwd stopped can arrive just after it).
outage() {  # FROM TO
  awk -F'[][]' -v from="$1" -v to="$2" '/bytes from/ { t = $2; if (t > from && t <= to && last && t - last > max) max = t - last; last = t }
    END { if (max) printf "%d", max * 1000; else printf "?" }' "$TB_DIR/ping.txt"
}
outages=()
for i in "${!events[@]}"; do
  outages+=("$(outage "${at[$i]}" "${at[$((i + 1))]:-$(date +%s.%N)}")")
  echo "      outage, ${events[$i]}: ${outages[$i]} ms without forwarding"
done
check "pings answered again after every restart" expect_fail grep -q '?' <<<"${outages[*]}"

# Version skew: a file another layout wrote (its version field says 2) is refused whole with
# its reason, set aside, and xfwd starts with no connections and forwards.
tb_stop_xfwd
printf '\002' | dd of="$TB_DIR/connections" bs=1 seek=8 conv=notrunc 2>/dev/null
tb_start_xfwd || exit 1
check "a state file of another version: refused, set aside, xfwd runs without it" \
  grep -q "connections: .* refused, starting with none (kept as $TB_DIR/connections.refused): version 2, this xfwd reads version 1" "$TB_DIR/xfwd.out"
check "... and forwards new connections" tb_ns work curl -s -m 5 -o /dev/null http://192.168.100.1/
exit $failed
