# Where xfwd's time goes, per frame, in sys-firewall (lab/run.sh build/lab profile; sourced by
# dom0's init): an AppVM runs iperf3 to sys-net (TCP both ways, UDP 64-byte frames both ways,
# 10 s each) while the kernel counts xfwd's system calls (an ftrace histogram trigger on
# raw_syscalls:sys_enter, filtered on xfwd's pid: it counts in the kernel without stopping xfwd,
# so the runs' throughput holds, unlike under strace). Per run, from xfwctl's counters and
# /proc/PID around the run: the frames xfwd sent (to the uplink and to the AppVM) and their mean
# size, the receiver's iperf3 rate, the event channel events and notifications, xfwd's wake-ups
# (voluntary context switches), its CPU time (user and system) and every system call it made,
# per frame. In the lab's PV domains each system call is a trip through Xen, where Qubes' PVH
# sys-firewall makes it natively. And where its CPU time goes: perf samples xfwd (cpu-clock,
# 997 Hz, with the kernel's call chains; there is no PMU in a PV domain) over the run, and the
# symbols (xfwd's, its libraries' and the kernel's) that took at least 1 % of the samples are
# printed, then the kernel's functions by the share of the samples under them.
# XFW-PROFILE NAME frames F bytes/frame B Mbit/s M events/frame E notifications/frame N to-sys-net U wakeups/frame W cpu-us/frame C user U sys K syscalls/frame S | CALL n/frame ...
# XFW-CPU NAME PCT% DSO SYMBOL (at the end, for each run: the symbols at >= 1 % of the samples)
# XFW-CPU-KERNEL NAME PCT% SYMBOL (then the kernel's functions at >= 2 %, with what they call)
# (before that, XFW-QUEUE: see below)
cat > /tmp/profile.sh <<'G'
#!/bin/dash
# "B name", then a pause for dom0 to start the trace; iperf3; "R MBIT" (the receiver's rate), a
# pause to stop it.
run() {
  echo "B $1"; sleep 8; shift; iperf3 -c 192.168.100.1 -t 10 "$@" > /tmp/o 2>&1; tail -n 3 /tmp/o
  echo "R $(awk '/receiver/ { for (i = 2; i <= NF; i++) if ($i ~ /bits\/sec$/) { r = $(i-1); u = $i; break } }
                 END { if (u ~ /^K/) r /= 1000; if (u ~ /^G/) r *= 1000; print r + 0 }' /tmp/o)"; sleep 8
}
run tcp-down -R
run tcp-up
run udp-down -u -l 18 -b 0 -R
run udp-up -u -l 18 -b 0
G
# xfwd's counters, "tx_frames tx_bytes events notifications" summed over the uplink and every
# vif, then the uplink's notifications (to sys-net) alone.
counters() {
  fw 'xfwctl status --json; echo "{\"profile_vifs_next\": 1}"; xfwctl vifs --json' | tr ',{}' '\n\n\n' | awk -F: '
    { gsub(/[" ]/, "") }
    $1 == "profile_vifs_next" { v = 1 }  # (status has a "vifs" of its own)
    $1 == "tx_frames" || $1 == "tx_packets" { f += $2 } $1 == "tx_bytes" { b += $2 }
    $1 == "events" { e += $2 } $1 == "notifications" { n += $2; if (!v) u += $2 }
    END { print f + 0, b + 0, e + 0, n + 0, u + 0 }'
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
# The trigger (in $ev), and xfwd's "utime stime voluntary_ctxt_switches" (/proc/PID/stat's clock
# ticks, CLK_TCK a second).
ev=/sys/kernel/tracing/events/raw_syscalls/sys_enter
trigger="hist:keys=id.syscall:vals=hitcount:sort=hitcount.descending:size=256 if common_pid == \$p"
procstat='p=$(pgrep -xo xfwd); echo $(cut -d" " -f14,15 /proc/$p/stat) $(awk "/^voluntary_ctxt/ { print \$2 }" /proc/$p/status)'
fw 'T=/sys/kernel/tracing; [ -d $T/events ] || mount -t tracefs nodev $T' | sed 's/^/profile: /'
tck=$(fw 'getconf CLK_TCK')
LINGER=2 create prof 10.137.0.9 /tmp/profile.sh
log=/var/log/xen/console/guest-prof.log seen=0 names=
for _ in $(seq 600); do
  n=$(grep -c '^[BR]' "$log" 2>/dev/null)
  while [ "$seen" -lt "$n" ]; do
    seen=$((seen + 1))
    set -- $(grep '^[BR]' "$log" | sed -n "${seen}p" | tr -d '\r')  # (the console's lines end in CR LF)
    case "$1" in
      B) name=$2
         fw "p=\$(pgrep -xo xfwd); echo \"$trigger\" >> $ev/trigger
             nohup perf record -q -F 997 -e cpu-clock -g -p \$p -o /tmp/perf.$name > /tmp/perf.log 2>&1 &"
         c0="$(counters) $(fw "$procstat")" ;;
      R) c1="$(counters) $(fw "$procstat")"
         fw "p=\$(pgrep -xo xfwd); cat $ev/hist; echo \"!$trigger\" >> $ev/trigger" > /tmp/hist.$name
         echo "$c0 $c1 $2 $tck" | cat - /tmp/hist.$name | awk -v n="$name" '
           # "frames bytes events notifications to-sys-net utime stime wakeups" before, then after,
           # the rate, CLK_TCK
           NR == 1 { f = $9 - $1; b = $10 - $2; e = $11 - $3; m = $12 - $4; mu = $13 - $5
                     usr = ($14 - $6) / $18 * 1e6; sys = ($15 - $7) / $18 * 1e6; w = $16 - $8; rate = $17; next }
           # "{ id: sys_epoll_wait [232] } hitcount: 1234"
           $1 == "{" && $2 == "id:" { c = $3; sub(/^sys_/, "", c); calls[c] = $NF; order[++k] = c }
           END { if (f <= 0) { print "XFW-PROFILE " n " no frames"; exit }
                 s = 0; for (i = 1; i <= k; i++) s += calls[order[i]]
                 printf "XFW-PROFILE %-9s frames %d bytes/frame %d Mbit/s %s events/frame %.3f notifications/frame %.3f to-sys-net %.3f wakeups/frame %.3f cpu-us/frame %.1f user %.1f sys %.1f syscalls/frame %.2f |",
                        n, f, b / f, rate, e / f, m / f, mu / f, w / f, (usr + sys) / f, usr / f, sys / f, s / f
                 for (i = 1; i <= k && i <= 10; i++) printf " %s %.3f", order[i], calls[order[i]] / f
                 print "" }'
         grep -v '^#' /tmp/hist.$name | grep . | sed "s/^/  hist $name: /"
         fw "pkill -INT -x perf; while pgrep -x perf > /dev/null; do sleep 0.2; done; cat /tmp/perf.log" |
           sed "s/^/  perf $name: /"
         names="$names $name" ;;
    esac
  done
  grep -q XFW-GUEST-END "$log" 2>/dev/null && break
  sleep 0.5
done
sed -n '/XFW-GUEST-START/,/XFW-GUEST-END/p' "$log" | grep -E "sender|receiver" | sed 's/^/  iperf3: /'
# The samples, once the runs are over (a report takes a while under emulation).
for name in $names; do
  fw "perf report -i /tmp/perf.$name --stdio -q --no-children --sort dso,sym --percent-limit 1 -g none 2>&1 | head -n 40" 300 |
    awk -v n="$name" '$1 ~ /%$/ { $1 = sprintf("%6s", $1); print "XFW-CPU " n " " $0; next } NF { print "  perf " n ": " $0 }'
  # The kernel's share by what xfwd asked of it: the samples under each of its functions, the
  # functions they call included (the system calls, the gntdev and evtchn devices' handlers).
  fw "perf report -i /tmp/perf.$name --stdio -q --children --sort sym -g none --percent-limit 2 2>&1 |
      awk '\$3 == \"[k]\"' | head -n 40" 300 |
    awk -v n="$name" '{ printf "XFW-CPU-KERNEL %s %7s %s\n", n, $1, $4 }'
done
xl destroy prof 2>/dev/null
