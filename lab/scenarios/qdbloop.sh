# The QubesDB restart check, many times in one boot (lab/run.sh build/lab qdbloop; xfw.loops=N
# on the kernel command line, default 20): sys-firewall's qubes-db restarted, then, after a pause
# of 0, 1, 3 or 8 s, dom0 replaces 10.137.0.10's rules (a port new each round); xfwd must show
# them within 20 s. On a miss, each hop: sys-firewall's daemon, xfwd's journal, dom0's daemon.
loops=$(sed -n 's/.*xfw\.loops=\([0-9]*\).*/\1/p' /proc/cmdline)
missed=0
shown() { fw 'xfwctl rules list 10.137.0.10' | grep -Eq "accept +- +tcp +$1 "; }  # NO ACTION HOST PROTOCOL PORT(S)
for i in $(seq "${loops:-20}"); do
  fw 'systemctl restart qubes-db'
  pause=$(echo "0 1 3 8" | cut -d' ' -f$(( i % 4 + 1 )))
  sleep "$pause"
  port=$((1000 + i)) t0=$(date +%s)
  set_firewall 10.137.0.10 drop "action=accept proto=tcp dstports=$port-$port"
  if wait_for 20 shown $port; then
    say "round $i (pause ${pause}s): shown after $(( $(date +%s) - t0 ))s"
  else
    missed=$((missed + 1))
    say "round $i (pause ${pause}s): NOT shown after 20 s"
    say "  sys-firewall's qubes-db: $(fw 'qubesdb-multiread /qubes-firewall/10.137.0.10/ 2>&1; systemctl show -p NRestarts,ActiveEnterTimestampMonotonic qubes-db' | tr '\n' ';')"
    say "  its journal: $(fw 'journalctl -u qubes-db -o short-monotonic | tail -6' | tr '\n' ';')"
    say "  xfwd: $(fw 'xfwctl rules list 10.137.0.10 | head -4; journalctl -u xfwd -o short-monotonic | grep QubesDB | tail -4' | tr '\n' ';')"
    say "  dom0's daemon: $(tail -6 /var/log/qubes/qubesdb.sys-firewall.log | tr '\n' ';')"
  fi
done
echo "XFW-QDBLOOP ${loops:-20} rounds, $missed missed"
