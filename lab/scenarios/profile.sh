# Where xfwd's time goes, per frame, in sys-firewall (lab/run.sh build/lab profile; sourced by
# dom0's init): an AppVM runs iperf3 to sys-net (TCP both ways, UDP 64-byte frames both ways,
# 10 s each) while xfwd runs under `strace -c -f` (each system call stops xfwd: the throughput of
# these runs means nothing, the counts per frame do). Per run, from xfwctl's counters taken with
# the trace: the frames xfwd sent (to the uplink and to the AppVM) and their mean size, the event
# channel events and notifications, and every system call xfwd made — in the lab's PV domains
# each one is a trip through Xen, where Qubes' PVH sys-firewall makes it natively.
# XFW-PROFILE NAME frames F bytes/frame B events/frame E notifications/frame N syscalls/frame S | CALL n/frame ...
# (before that, XFW-QUEUE: see below)
cat > /tmp/profile.sh <<'G'
#!/bin/dash
# "B name", then a pause for dom0 to start the trace; iperf3; "R name", a pause to stop it.
run() { echo "B $1"; sleep 8; shift; iperf3 -c 192.168.100.1 -t 10 "$@" > /tmp/o 2>&1; tail -n 3 /tmp/o; echo "R"; sleep 8; }
run tcp-down -R
run tcp-up
run udp-down -u -l 18 -b 0 -R
run udp-up -u -l 18 -b 0
G
# xfwd's counters, "tx_frames tx_bytes events notifications" summed over the uplink and every vif.
counters() {
  fw 'xfwctl status --json; xfwctl vifs --json' | tr ',{}' '\n\n\n' | awk -F: '
    { gsub(/[" ]/, "") }
    $1 == "tx_frames" || $1 == "tx_packets" { f += $2 } $1 == "tx_bytes" { b += $2 }
    $1 == "events" { e += $2 } $1 == "notifications" { n += $2 }
    END { print f + 0, b + 0, e + 0, n + 0 }'
}
# First, without the trace: TCP towards an AppVM with netback's receive queue at 128 KiB (the
# default until 2026-12-03) and at the default, one AppVM each, xfwd restarted in between: the
# sender's retransmissions and what xfwd dropped, by reason (netback's and the pipeline's).
# XFW-QUEUE BYTES tcp-down MBIT retr R | DROP REASON COUNT ... (xfwctl stats, netback's as netback.*)
cat > /tmp/queue.sh <<'G'
#!/bin/dash
iperf3 -c 192.168.100.1 -t 10 -R > /tmp/o 2>&1
awk '/sender/ { r = $(NF-1) } /receiver/ { print "Q", $(NF-2), r }' /tmp/o
G
for q in 131072 default; do
  fw "sed -i '/^rx_queue_bytes/d; /^\[netback\]/d' /etc/xfw/xfwd.toml
      [ $q = default ] || printf '[netback]\nrx_queue_bytes = $q\n' >> /etc/xfw/xfwd.toml
      systemctl restart xfwd"
  wait_for 60 xfwd_active
  LINGER=4 create queue$q 10.137.0.9 /tmp/queue.sh
  wait_for 120 grep -q "^Q " /var/log/xen/console/guest-queue$q.log
  set -- $(grep "^Q " /var/log/xen/console/guest-queue$q.log | tr -d '\r')
  echo "XFW-QUEUE $q tcp-down ${2:--} retr ${3:--} | $(fw 'xfwctl stats' | sed -n '/DROP REASON/,/^$/p' | tr -s ' \n' ' ')"
  xl destroy queue$q 2>/dev/null
done
LINGER=2 create prof 10.137.0.9 /tmp/profile.sh
log=/var/log/xen/console/guest-prof.log seen=0
for _ in $(seq 600); do
  n=$(grep -c '^[BR]' "$log" 2>/dev/null)
  while [ "$seen" -lt "$n" ]; do
    seen=$((seen + 1))
    set -- $(grep '^[BR]' "$log" | sed -n "${seen}p" | tr -d '\r')  # (the console's lines end in CR LF)
    case "$1" in
      B) name=$2
         fw 'rm -f /run/strace.out; setsid strace -c -S calls -f -q -o /run/strace.out -p "$(pgrep -xo xfwd)" > /dev/null 2>&1 < /dev/null &
             echo $! > /run/strace.pid; sleep 1'
         c0=$(counters) ;;
      R) c1=$(counters)
         fw 'kill -INT "$(cat /run/strace.pid)"; for i in $(seq 50); do [ -s /run/strace.out ] && ! kill -0 "$(cat /run/strace.pid)" 2>/dev/null && break; sleep 0.2; done
             cat /run/strace.out' > /tmp/strace.$name
         echo "$c0 $c1" | cat - /tmp/strace.$name | awk -v n="$name" '
           NR == 1 { f = $5 - $1; b = $6 - $2; e = $7 - $3; m = $8 - $4; next }
           # strace -c: "% time seconds usecs/call calls [errors] syscall", then a "total" line
           $1 ~ /^[0-9.]+$/ && NF >= 5 && $NF != "total" { calls[$NF] = $4; order[++k] = $NF }
           END { if (f <= 0) { print "XFW-PROFILE " n " no frames"; exit }
                 s = 0; for (i = 1; i <= k; i++) s += calls[order[i]]
                 printf "XFW-PROFILE %-9s frames %d bytes/frame %d events/frame %.3f notifications/frame %.3f syscalls/frame %.2f |",
                        n, f, b / f, e / f, m / f, s / f
                 for (i = 1; i <= k && i <= 8; i++) printf " %s %.2f", order[i], calls[order[i]] / f
                 print "" }'
         sed "s/^/  strace $name: /" /tmp/strace.$name ;;
    esac
  done
  grep -q XFW-GUEST-END "$log" 2>/dev/null && break
  sleep 0.5
done
sed -n '/XFW-GUEST-START/,/XFW-GUEST-END/p' "$log" | grep -E "sender|receiver" | sed 's/^/  iperf3 (under the trace): /'
xl destroy prof 2>/dev/null
