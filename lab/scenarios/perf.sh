# Throughput through xfwd against the real netfront (iperf3 3.12, 10 s each, 64-byte UDP).
cat > /tmp/perf.sh <<'G'
#!/bin/sh
iperf3 -c 192.168.100.1 -t 10 > /tmp/up 2>&1; grep -E "receiver" /tmp/up | sed 's/^/up   /'
iperf3 -c 192.168.100.1 -t 10 -R > /tmp/down 2>&1; grep -E "receiver" /tmp/down | sed 's/^/down /'
iperf3 -c 192.168.100.1 -t 10 -u -l 18 -b 0 > /tmp/udp 2>&1; grep -E "sender|receiver" /tmp/udp | sed 's/^/udp  /'
G
LINGER=5
create perf 10.137.0.9 /tmp/perf.sh
wait_guest perf
xfwctl stats > /tmp/ctl.out 2>&1; cat /tmp/ctl.out
xfwctl vifs --json > /tmp/ctl.out 2>&1; cat /tmp/ctl.out
