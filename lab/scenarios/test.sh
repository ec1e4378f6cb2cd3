# System tests in Qubes' topology (sourced by dom0's init): three AppVMs with the real Linux
# netfront behind sys-firewall, where xfwd runs under systemd from its package; sys-net behind
# it with the kernel's xen-netback and the servers. One line per check, "XFW-TEST PASS name" or
# "XFW-TEST FAIL name: what was expected, what was seen"; lab/test.sh reads them. No check is
# retried: a data check says how much arrived and where it first differs.
guest_line() { sed -n "s/.*T $2 //p" "/var/log/xen/console/guest-$1.log" | head -1; }
# DNS over TCP for web.example.test (A), with its 2-byte length prefix (RFC 1035 4.2.2).
DNSQ='\000\042\022\064\001\000\000\001\000\000\000\000\000\000\003web\007example\004test\000\000\001\000\001'

# The topology itself: xfwd only in sys-firewall, under systemd, no kernel netback there.
check "sys-firewall: xfwd.service active under systemd (PID 1: $(fw 'cat /proc/1/comm'))" xfwd_active
check "sys-firewall: the kernel's xen-netback is not loaded" fw '! grep -q "^xen_netback " /proc/modules'
# ...nor its xen-netfront: the uplink is xfwd's own netfront (docs/netfront.md).
check "sys-firewall: the kernel's xen-netfront is not loaded" fw '! grep -q "^xen_netfront " /proc/modules'
check "sys-firewall: no kernel network device toward sys-net (/sys/class/net: $(fw 'ls /sys/class/net' | tr '\n' ' '))" \
  fw '[ -z "$(ls /sys/class/net | grep -vxE "lo|xfw0")" ]'
check "sys-firewall: the uplink is xfwd's netfront, connected to sys-net's netback ($(fw 'xfwctl status' | grep -m1 backend))" \
  fw 'xfwctl status | grep -q "(Connected): connected"'
check "sys-firewall: installed from the package ($(fw 'dpkg-query -W xfw'))" fw "dpkg-query -W -f='\${Status}' xfw | grep -q 'install ok installed'"
sandboxed() {
  fw 'p=$(systemctl show -p MainPID --value xfwd); grep -E "^(CapEff|NoNewPrivs|Seccomp):" /proc/$p/status' > /tmp/sb.out
  grep -q "CapEff:.0000000000000000" /tmp/sb.out && grep -q "NoNewPrivs:.1" /tmp/sb.out && grep -q "Seccomp:.2" /tmp/sb.out || { cat /tmp/sb.out; false; }
}
check "sys-firewall: xfwd runs with no capability, NoNewPrivs, seccomp" sandboxed
check "sys-firewall: no libcap-ng complaint in xfwd's journal" fw '! journalctl -u xfwd -o cat | grep -i "libcap-ng\|CAP_SETPCAP"'
check "sys-firewall: xfwctl works for a member of group xfw (alice)" fw 'runuser -u alice -- xfwctl status'
bob_refused() { fw 'runuser -u bob -- xfwctl status' > /tmp/bob.out 2>&1 && { cat /tmp/bob.out; return 1; }; grep -qi "permission\|denied\|refused\|not allowed" /tmp/bob.out || { cat /tmp/bob.out; false; }; }
check "sys-firewall: xfwctl is refused for a user outside group xfw (bob)" bob_refused

# sys-net's side: a server that keeps a connection open (the rule-change cut) and a receiver for
# the upload; both compare against the same 2 MB the AppVMs carry (/ref.bin).
net 'setsid sh -c "while true; do sleep 600 | nc -l -p 9000 > /dev/null; done" > /dev/null 2>&1 &'
net 'setsid sh -c "sleep 600 | nc -l -p 9001 > /tmp/up.bin" > /dev/null 2>&1 &'
net 'echo "restarts: not yet" > /srv/www/restarts'  # what the AppVMs poll across xfwd's restarts

cat > /tmp/work.sh <<G
#!/bin/dash
ping -c1 -W3 10.137.0.1 >/dev/null && echo "T gateway-ping ok"
ping -c1 -W3 192.168.100.1 >/dev/null && echo "T nat-ping ok"
printf 'GET / HTTP/1.0\r\n\r\n' > /tmp/req
nc -w 5 192.168.100.1 80 < /tmp/req > /tmp/http 2>&1
grep -q "hello from sys-net" /tmp/http && echo "T http ok" || echo "T http FAILED: \$(wc -c < /tmp/http) bytes: \$(head -c 200 /tmp/http)"
nslookup web.example.test 10.139.1.1 > /tmp/ns 2>&1
grep -q 192.168.100.1 /tmp/ns && echo "T dns-udp ok" || echo "T dns-udp FAILED: \$(tr '\n' ' ' < /tmp/ns)"
printf '$DNSQ' | nc -w 3 10.139.1.2 53 > /tmp/dt; od -An -tx1 /tmp/dt | tr -d ' \n' > /tmp/dth
grep -q c0a86401 /tmp/dth && echo "T dns-tcp ok" || echo "T dns-tcp FAILED: answer \$(cat /tmp/dth)"
# 2 MB down (sys-net's TSO sends super-frames to xfwd) and up (the real netfront sends GSO).
printf 'GET /big.bin HTTP/1.0\r\n\r\n' > /tmp/reqbig
nc -w 10 192.168.100.1 80 < /tmp/reqbig > /tmp/big 2>/dev/null
tail -c 2000000 /tmp/big > /tmp/big.bin
if cmp /tmp/big.bin /ref.bin > /tmp/cmp 2>&1; then echo "T download-2mb ok"
else echo "T download-2mb FAILED: \$(wc -c < /tmp/big) bytes with the headers, 2000000 expected; cmp: \$(cat /tmp/cmp)"; fi
nc -w 3 192.168.100.1 9001 < /ref.bin && echo "T upload sent"
ping -c1 -W2 10.137.0.6 >/dev/null || echo "T isolation ok"
# A connection that lives until the rule change (8 s after dom0 sees it), which must cut it.
start=\$(date +%s)
(i=0; while [ \$i -lt 60 ]; do echo x; sleep 1; i=\$((i+1)); done) | nc 192.168.100.1 9000
echo "T cut after \$(( \$(date +%s) - start ))s"
G
cat > /tmp/untrusted.sh <<'G'
#!/bin/dash
printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 5 192.168.100.1 80 > /tmp/r 2>&1
grep -q refused /tmp/r && echo "T reject ok" || echo "T reject FAILED: $(head -c 200 /tmp/r)"
printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 5 192.168.100.1 443 > /tmp/a 2>&1
grep -q "hello from sys-net" /tmp/a && echo "T allowed ok" || echo "T allowed FAILED: $(head -c 200 /tmp/a)"
ip addr add 10.137.0.99/32 dev eth0
ping -c2 -W2 -I 10.137.0.99 192.168.100.1 > /tmp/spoof 2>&1; grep -q "bytes from" /tmp/spoof || echo "T spoof ok"
# Requests every 2 s while dom0 kills xfwd, restarts it and stops it (the watchdog's case), until
# sys-net's page says the three are over (dom0 writes that after the last; at most 150 rounds:
# a fixed number of rounds ran out before the last restart on a slow run).
get() { printf 'GET /restarts HTTP/1.0\r\n\r\n' | nc -w 2 192.168.100.1 443 > /tmp/get 2>&1; grep -q "restarts:" /tmp/get; }
i=0; ok=0; while [ $i -lt 150 ]; do sleep 2; i=$((i+1)); get || continue; ok=$((ok+1)); grep -q "restarts: over" /tmp/get && break; done
grep -q "restarts: over" /tmp/get && echo "T after-restarts ok ($ok of $i requests answered)" || echo "T after-restarts FAILED: the last request got $(head -c 200 /tmp/get) ($ok of $i answered)"
G
LINGER=300
t0=$(date +%s)
create work 10.137.0.5 /tmp/work.sh
create untrusted 10.137.0.6 /tmp/untrusted.sh
create third 10.137.0.7 /tmp/untrusted.sh
all_created() { xl list > /tmp/xl.out 2>&1; grep -q work /tmp/xl.out && grep -q untrusted /tmp/xl.out && grep -q third /tmp/xl.out; }
check "auto-attach: three AppVMs created within libxl's window" all_created
connected() { fw 'xfwctl vifs' > /tmp/vifs.out 2>&1; [ "$(grep -c Connected /tmp/vifs.out)" = "$1" ] || { cat /tmp/vifs.out; false; }; }
wait_for 30 connected 3
check "all three vifs connected" connected 3
# A domU cannot read other domains' names: xfwd shows and keys each VM by its vif's address.
check "xfwctl vifs shows each AppVM by its address" sh -c 'grep -q 10.137.0.5 /tmp/vifs.out && grep -q 10.137.0.6 /tmp/vifs.out && grep -q 10.137.0.7 /tmp/vifs.out'

# The rule change: work may keep only ICMP; its open TCP connection must be cut. (Every AppVM's
# rules, sys-firewall's addresses and DNS come from dom0 through QubesDB: lab/dom0/lib.sh.)
check "QubesDB: xfwd read dom0's rules ($(fw 'xfwctl status' | grep qubesdb))" fw 'xfwctl status | grep -q "qubesdb: .*, connected, rules of 10 clients"'
check "QubesDB: xfwctl rules list shows where they come from" fw 'xfwctl rules list 10.137.0.6 | grep -q "10.137.0.6 (from QubesDB"'
qdb_refuses_local() { fw 'xfwctl rules add 10.137.0.6 action=accept' > /tmp/add.out 2>&1 && return 1; grep -q "come from QubesDB" /tmp/add.out || { cat /tmp/add.out; false; }; }
check "QubesDB: xfwctl refuses to change a QubesDB-managed VM, and says where to" qdb_refuses_local
tracked() { fw 'xfwctl conntrack 10.137.0.5' | grep -q ':9000'; }
wait_for 90 tracked
check "work's connection is tracked" tracked
# Let it live for a while (the guest sends a line a second), then forbid it.
sleep 8
# The change is dom0's, through QubesDB, as qvm-firewall makes it.
set_firewall 10.137.0.5 drop "action=accept proto=icmp" > /tmp/replace.out 2>&1
changed=$(date +%s)
wait_for 30 guest_says work "T cut"
cut_late=$(( $(date +%s) - changed ))
upload_intact() {
  guest_says work "T upload sent" || { echo "the AppVM did not finish sending"; return 1; }
  net 'n=$(wc -c < /tmp/up.bin); cmp /tmp/up.bin /srv/www/big.bin > /tmp/cmp 2>&1 && exit 0; echo "received $n bytes of 2000000; cmp: $(cat /tmp/cmp)"; exit 1'
}
check "work: 2 MB upload arrived intact (GSO from the real netfront)" upload_intact
gso_used() { fw 'xfwctl stats --json' > /tmp/st.json 2>&1; grep -Eq '"gso_to_vms": *[1-9]' /tmp/st.json && grep -Eq '"gso_to_uplink": *[1-9]' /tmp/st.json || { cat /tmp/st.json; false; }; }
check "TCP super-frames went both ways as GSO" gso_used

wait_for 15 guest_says untrusted "T spoof"
spoof_counted() { fw 'xfwctl stats' > /tmp/stats.out 2>&1; grep -Eq 'spoofed_source +[1-9]' /tmp/stats.out || { cat /tmp/stats.out; false; }; }
check "spoofed source counted" spoof_counted
in_journal() { fw 'journalctl -u xfwd -o cat | grep "drops in the last" | grep spoofed_source'; }
wait_for 15 in_journal
check "the drops are in the journal (journalctl -u xfwd)" in_journal

# xfwd killed, restarted and stopped while the AppVMs run; systemd brings it back each time.
main_pid() { fw 'systemctl show -p MainPID --value xfwd'; }
# back_up OLD_PID — xfwd active again with another PID.
back_up() { p=$(main_pid); [ -n "$p" ] && [ "$p" != 0 ] && [ "$p" != "$1" ] && xfwd_active; }
old=$(main_pid); fw 'kill -9 $(systemctl show -p MainPID --value xfwd)'; t=$(date +%s)
wait_for 20 back_up "$old"
check "kill -9: systemd restarted xfwd (Restart=on-failure) in $(( $(date +%s) - t ))s" back_up "$old"
sleep 5
old=$(main_pid); t=$(date +%s); fw 'systemctl restart xfwd'
check "systemctl restart xfwd in $(( $(date +%s) - t ))s" back_up "$old"
sleep 5
old=$(main_pid); fw 'kill -STOP $(systemctl show -p MainPID --value xfwd)'; t=$(date +%s)
wait_for 45 back_up "$old"
check "SIGSTOP: the watchdog had xfwd restarted in $(( $(date +%s) - t ))s (WatchdogSec=20)" back_up "$old"
check "the journal says the watchdog fired" fw 'journalctl -u xfwd -o cat | grep -i watchdog'
net 'echo "restarts: over" > /srv/www/restarts'
for vm in untrusted third; do wait_for 120 guest_says $vm "T after-restarts"; done
for vm in untrusted third; do
  check "$vm: served across the three restarts: $(guest_line $vm after-restarts)" guest_says $vm "T after-restarts ok"
done

for vm in work untrusted; do
  for t in $(sed -n 's/.*T \([a-z0-9-]*\) ok.*/\1/p' "/var/log/xen/console/guest-$vm.log"); do pass "$vm: $t"; done
done
cut_s=$(sed -n 's/.*T cut after \([0-9]*\)s.*/\1/p' /var/log/xen/console/guest-work.log)
# The connection must live until the rule change (8 s after it was seen), then end at once.
cut_in_time() { [ "${cut_s:-0}" -ge 8 ] && [ "$cut_late" -le 10 ]; }
check "work: the rule change written in dom0 cut its open connection (lived ${cut_s:-?}s, ended ${cut_late}s after$(tr '\n' ' ' < /tmp/replace.out))" cut_in_time
for t in gateway-ping nat-ping http dns-udp dns-tcp download-2mb isolation; do
  guest_says work "T $t ok" || fail "work: $t" "$(guest_line work "$t" || echo 'not seen')"
done
for t in reject allowed spoof; do guest_says untrusted "T $t ok" || fail "untrusted: $t" "$(guest_line untrusted "$t")"; done

say "what the AppVMs printed:"
for vm in work untrusted third; do sed -n '/XFW-GUEST-START/,$p' "/var/log/xen/console/guest-$vm.log" | sed "s/^/[$vm] /"; done
fw 'xfwctl vifs'

# Destroy: prompt, nothing left behind (a grant still mapped keeps a dying domain listed).
for vm in work untrusted third; do
  xl list "$vm" >/dev/null 2>&1 || { fail "xl destroy $vm" "not running any more"; continue; }
  start=$(date +%s); xl destroy "$vm"; took=$(( $(date +%s) - start ))
  check "xl destroy $vm in ${took}s (< 5)" [ "$took" -lt 5 ]
done
sleep 2
check "no dying domain left (grants unmapped, channels closed)" sh -c "! xl list | grep -q null"
check "xfwd forgot the destroyed vifs" connected 0
# Re-create the same VM: it attaches again.
cat > /tmp/again.sh <<'G'
#!/bin/dash
ping -c1 -W3 10.137.0.1 >/dev/null && echo "T again ok"
G
LINGER=0
create work 10.137.0.5 /tmp/again.sh
wait_for 30 guest_says work "T again"
check "re-created work attaches and pings" guest_says work "T again ok"
# DHCP ([firewall] dhcp): an AppVM with no static address asks with busybox's udhcpc and gets
# exactly its vif's address (the toolstack's ip=), the gateway and the virtual DNS addresses.
cat > /tmp/dhcp.sh <<'G'
#!/bin/dash
ip addr flush dev eth0; ip route flush dev eth0
echo "T before $(ip -4 addr show dev eth0 | grep -c inet) addresses"
cat > /tmp/udhcpc.sh <<'S'
#!/bin/dash
[ "$1" = bound ] || exit 0
echo "T bound ip=$ip mask=$mask router=$router dns=$dns lease=$lease server=$serverid"
ip addr add "$ip/$mask" dev "$interface"
ip route add "$router" dev "$interface"
ip route add default via "$router" dev "$interface"
S
chmod +x /tmp/udhcpc.sh
udhcpc -i eth0 -f -q -n -t 5 -T 1 -s /tmp/udhcpc.sh 2>&1 | sed 's/^/udhcpc: /'
printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 3 192.168.100.1 443 | grep -q hello && echo "T web ok"
G
create dhcp 10.137.0.9 /tmp/dhcp.sh
wait_for 40 guest_says dhcp "XFW-GUEST-END"
check "DHCP: udhcpc in an AppVM with no address gets its vif's address, the gateway, the virtual DNS, a lease" \
  guest_says dhcp "T bound ip=10.137.0.9 mask=32 router=10.137.0.1 dns=10.139.1.1 10.139.1.2 lease=86400 server=10.137.0.1"
check "DHCP: ... and reaches sys-net's server with it" guest_says dhcp "T web ok"
# Connections across restarts (docs/restart.md): a 20 MB download through NAT, paced by sys-net
# at 1 MB every 4 s, over one TCP connection, while dom0 restarts xfwd (systemctl restart),
# kills it (kill -9: systemd starts it again after RestartSec=2s) and upgrades its package
# (dpkg -i of this package as the next version; its postinst restarts xfwd). The AppVM pings
# sys-net every 100 ms in one phase per event: the pings lost are the outage. The AppVM never
# reconnects: a broken connection would leave the file short.
net 'dd if=/dev/urandom of=/tmp/20mb.bin bs=1M count=20 2>/dev/null; md5sum /tmp/20mb.bin > /tmp/20mb.md5'
net 'setsid sh -c "(i=0; while [ \$i -lt 20 ]; do dd if=/tmp/20mb.bin bs=1M skip=\$i count=1 2>/dev/null; sleep 4; i=\$((i+1)); done) | nc -l -p 9002" > /dev/null 2>&1 &'
cat > /tmp/dl.sh <<'G'
#!/bin/dash
mkfifo /tmp/hold; sleep 400 > /tmp/hold &
nc 192.168.100.1 9002 < /tmp/hold > /tmp/dl.bin 2>/tmp/dl.err &
i=1
for w in 20 20 40; do
  echo "T phase $i"
  ping -q -i 0.1 -w $w 192.168.100.1 > /tmp/ping$i 2>&1
  echo "T ping$i $(grep transmitted /tmp/ping$i), $(stat -c %s /tmp/dl.bin) bytes downloaded"
  i=$((i + 1))
done
i=0; while [ "$(stat -c %s /tmp/dl.bin)" -lt 20971520 ] && [ $i -lt 120 ]; do sleep 1; i=$((i + 1)); done
md5sum /tmp/dl.bin > /tmp/dl.md5
echo "T download $(stat -c %s /tmp/dl.bin) bytes md5 $(cut -c1-32 /tmp/dl.md5) $(cat /tmp/dl.err) ($(grep MemAvailable /proc/meminfo))"
G
LINGER=0 MEMORY=256  # the 20 MB file lives in the AppVM's RAM (its /tmp)
create dl 10.137.0.11 /tmp/dl.sh
MEMORY=128
dlog=/var/log/xen/console/guest-dl.log
# The download's NAT port, as xfwctl conntrack shows it.
nat_port() { fw 'xfwctl --json conntrack 10.137.0.11' | tr -d ' \n' | sed -n 's/.*"dport":9002,[^}]*"nat_port":\([0-9]*\).*/\1/p'; }
wait_for 60 guest_says dl "T phase 1"; sleep 5
port_before=$(nat_port)
fw 'systemctl restart xfwd'
wait_for 60 guest_says dl "T phase 2"; sleep 5
fw 'kill -9 $(systemctl show -p MainPID --value xfwd)'
wait_for 60 guest_says dl "T phase 3"; sleep 5
fw 'dpkg -i --force-confold /root/xfw-upgrade.deb > /tmp/upgrade.log 2>&1; echo "dpkg -i: $?"' 120 > /tmp/upgrade.out
wait_for 90 guest_says dl "T ping3"
port_after=$(nat_port)  # (before the download ends: its flow expires 2 min after)
wait_for 150 guest_says dl "T download "
outage() { sed -n "s/.*T ping$1 \([0-9]*\) packets transmitted, \([0-9]*\) packets received.*/\1 \2/p" $dlog | { read tx rx; echo "$(( (${tx:-0} - ${rx:-0}) * 100 )) ms (${rx:-?} of ${tx:-?} pings answered)"; }; }
answered() { sed -n "s/.*T ping$1 [0-9]* packets transmitted, \([0-9]*\) packets received.*/\1/p" $dlog | grep -q '^[1-9]'; }
want=$(net 'cut -c1-32 /tmp/20mb.md5')
check "restart: a 20 MB download through NAT, one connection, intact across all three ($(guest_line dl download))" \
  guest_says dl "T download 20971520 bytes md5 $want"
check "restart: systemctl restart xfwd, outage $(outage 1)" answered 1
check "restart: kill -9 (systemd's RestartSec=2s included), outage $(outage 2)" answered 2
version=$(fw 'dpkg-query -W -f="\${Version}" xfw')
upgraded() { answered 3 && case "$version" in *+lab1) true ;; *) false ;; esac; }
check "restart: package upgrade to $version ($(tr '\n' ' ' < /tmp/upgrade.out)), outage $(outage 3)" upgraded
kept_port() { [ -n "$port_before" ] && [ "$port_before" = "$port_after" ]; }
check "restart: the download kept its NAT port (${port_before:-none} before, ${port_after:-none} after the three)" kept_port
check "restart: no connection state refused" fw '! journalctl -u xfwd -o cat | grep -q "connections: .*refused"'
say "the restarts, in sys-firewall's journal:"
fw 'journalctl -u xfwd -o short-monotonic | grep -E "signal 15|Stopping|Stopped|Started|xfwd started|QubesDB: read|connections: " | tail -24' | sed 's/^/  /'
say "what dl printed: $(sed -n 's/.*T \(.*\)/\1/p' $dlog | tr '\n' ';')"
xl destroy dl
# QubesDB, the rest of what dom0 writes: a bad rule, the resolvers, the client addresses, and
# the VM-side daemon restarted. The AppVM reports one line at every change of "port 443
# answers" and of "what 10.139.1.1 says web.example.test is", until it is destroyed.
cat > /tmp/qdb.sh <<'G'
#!/bin/dash
printf 'GET / HTTP/1.0\r\n\r\n' > /tmp/req
web=; dns=; i=0
while :; do
  nc -w 2 192.168.100.1 443 < /tmp/req > /tmp/w 2>&1
  if grep -q hello /tmp/w; then w=open; else w=closed; fi
  [ "$w" = "$web" ] || echo "T web $w at $(cut -d. -f1 /proc/uptime)s"
  nslookup web.example.test 10.139.1.1 > /tmp/ns 2>&1
  grep -o '192\.168\.100\.[0-9]*' /tmp/ns > /tmp/d; d=$(tail -1 /tmp/d)
  [ "$d" = "$dns" ] || echo "T dns ${d:-none} at $(cut -d. -f1 /proc/uptime)s"
  web=$w; dns=$d; i=$((i + 1)); sleep 1
done
G
qlog=/var/log/xen/console/guest-qdb.log
seen() { [ "$(grep -c "T $1" $qlog)" -ge "$2" ]; }  # LINE COUNT
LINGER=0
create qdb 10.137.0.10 /tmp/qdb.sh
wait_for 60 seen "web open" 1
check "QubesDB: dom0's rules for 10.137.0.10 in force (443 answers)" seen "web open" 1
qdb write /qubes-firewall/10.137.0.10/0002 "action=accept proto=tcp dstports=443-80"
qdb write /qubes-firewall/10.137.0.10 ""
wait_for 20 seen "web closed" 1
check "QubesDB: a bad rule written in dom0 blocks that AppVM (fail closed)" seen "web closed" 1
check "QubesDB: xfwctl says why ($(fw 'xfwctl rules list 10.137.0.10' | grep refused))" \
  fw 'xfwctl rules list 10.137.0.10 | grep -q "refused, everything is dropped: rule 0002: dstports"'
check "QubesDB: so does the journal" fw 'journalctl -u xfwd -o cat | grep -q "rules of 10.137.0.10 refused, all its traffic is dropped: rule 0002"'
set_firewall 10.137.0.10 drop "action=accept proto=tcp dstports=443-443" "action=accept specialtarget=dns"
wait_for 20 seen "web open" 2
check "QubesDB: rules fixed in dom0, the AppVM is back" seen "web open" 2
wait_for 20 seen "dns 192.168.100.1 " 1
check "QubesDB: DNS through /qubes-primary-dns (192.168.100.1 answers)" seen "dns 192.168.100.1 " 1
qdb write /qubes-primary-dns 192.168.100.3
wait_for 20 seen "dns 192.168.100.3 " 1
check "QubesDB: a changed /qubes-primary-dns moves DNS (192.168.100.3 answers)" seen "dns 192.168.100.3 " 1
qdb write /qubes-primary-dns 192.168.100.1
# /connected-ips: an address of a client that is not running is refused as an uplink source.
from_client() { fw 'xfwctl stats --json' | tr -d ' \n' | sed -n 's/.*"uplink_from_client_address":\([0-9]*\).*/\1/p'; }
ping_from_99() { net 'ip addr add 10.137.0.99/32 dev br0; ping -c3 -W1 -I 10.137.0.99 192.168.100.2 > /dev/null 2>&1; ip addr del 10.137.0.99/32 dev br0; true'; }
b0=$(from_client); ping_from_99; b1=$(from_client)
qdb write /connected-ips "$LAB_CLIENTS 10.137.0.99"
sleep 2
ping_from_99; b2=$(from_client)
refused_99() { [ "${b1:-0}" = "${b0:-0}" ] && [ "${b2:-0}" -ge $(( ${b1:-0} + 3 )) ]; }
check "QubesDB: 10.137.0.99 in /connected-ips (no such VM runs): refused from the uplink (uplink_from_client_address ${b0:-0} -> ${b1:-0} before, -> ${b2:-0} after)" refused_99
qdb write /connected-ips "$LAB_CLIENTS"
# The VM-side daemon restarted: xfwd keeps its rules, reads them again, and dom0's next
# change still takes effect.
n_before=$(grep -c "T web" $qlog)
fw 'systemctl restart qubes-db'
sleep 8
check "QubesDB: qubes-db restarted in sys-firewall, the AppVM never lost port 443 ($(grep -c "T web" $qlog) changes, ${n_before} before)" \
  [ "$(grep -c "T web" $qlog)" = "$n_before" ]
reconnected() { fw 'xfwctl status --json' | tr -d ' \n' | grep -q '"connected":true,"connects":2'; }
check "QubesDB: xfwd reconnected to the restarted daemon" reconnected
set_firewall 10.137.0.10 drop "action=accept specialtarget=dns"
wait_for 20 seen "web closed" 2
# Failed once in about ten lab runs, cause not found yet (scenarios/qdbloop.sh repeats the
# restart and the change); on failure, each hop: the AppVM's probe, sys-firewall's daemon,
# xfwd, dom0's daemon.
cut_after_restart() {
  seen "web closed" 2 && return 0
  echo "the AppVM's probe: $(grep "T " $qlog | tail -2 | tr '\n' ';') (xl: $(xl list qdb 2>&1 | tail -1))"
  echo "sys-firewall's qubes-db holds: $(fw 'qubesdb-multiread /qubes-firewall/10.137.0.10/ 2>&1' | tr '\n' ';')"
  echo "xfwd:"; fw 'journalctl -u xfwd -o cat | grep QubesDB | tail -4'
  echo "xfwctl:"; fw 'xfwctl rules list 10.137.0.10 | head -3'
  echo "dom0's daemon:"; tail -3 /var/log/qubes/qubesdb.sys-firewall.log
  return 1
}
check "QubesDB: after the restart, dom0's next change takes effect (443 cut off)" cut_after_restart
say "what qdb saw: $(sed -n 's/.*T \(.*\)/\1/p' $qlog | tr '\n' ';')"
xl destroy qdb

# No leak over time, and a hostile netfront on the real Xen (lib.sh: soak, hostile_*): for two
# minutes AppVMs are created and torn down with traffic beside a steady one, while the AppVM
# "hostile", with no kernel netfront, is its vif's frontend itself and replays the hostile-frontend
# suite against xfwd. Each attack contained and counted, the others served, xfwd the same process,
# and at the end its fds, grant pages, event channels and RSS back where they were.
SOAK_HOSTILE=1 soak 120
soak_checks
hostile_checks
say "what hostile printed: $(sed -n 's/.*T hostile \(.*\)/\1/p' /var/log/xen/console/guest-hostile.log | tr '\n' ';')"

# sys-net destroyed and re-created while an AppVM runs (lib.sh sysnet_restart): xfwd's netfront
# loses its backend with the domain, dom0 attaches a new uplink vif; nothing is done in
# sys-firewall or in the AppVM. (perf.sh does the same with Linux sys-firewall.)
netcycle_start netcycle 10.137.0.8
wait_for 60 netcycle_saw netcycle up 1
check "sys-net restart: the AppVM fetches pages from sys-net" netcycle_saw netcycle up 1
pid_before=$(main_pid)
sysnet_restart netcycle
check "sys-net restart: the AppVM saw sys-net gone" netcycle_saw netcycle down 1
check "sys-net restart: the AppVM's pages arrive again by themselves, after $(netcycle_outage netcycle) s ($(fw 'xfwctl status' | grep -m1 backend))" \
  netcycle_saw netcycle up 2
same_xfwd() { [ -n "$pid_before" ] && [ "$(main_pid)" = "$pid_before" ]; }
check "sys-net restart: xfwd not restarted (MainPID ${pid_before:-?} -> $(main_pid)), the AppVM's vif kept" same_xfwd
say "what netcycle saw: $(sed -n 's/.*T \(.*\)/\1/p' /var/log/xen/console/guest-netcycle.log | tr '\n' ';')"
say "xfwd's journal about the uplink: $(fw 'journalctl -u xfwd -o cat | grep "uplink" | tail -8' | tr '\n' ';')"
xl destroy netcycle

# sys-firewall itself destroyed and re-created while an AppVM runs. Its netfront loses the vif
# with the backend domain; as qubesd does when a netvm starts, dom0 then detaches the dead vif
# and attaches a new one whose backend is the new sys-firewall. The AppVM's script plays the
# part of Qubes' hotplug handling (configure eth0 when it appears) and reports what it sees:
# one "T up"/"T down" line, with its uptime, at every change of "gateway answers a ping".
cat > /tmp/replug.sh <<'G'
#!/bin/dash
was=none; i=0
while [ $i -lt 150 ]; do
  if [ -e /sys/class/net/eth0 ] && ! ip addr show dev eth0 | grep -q 'inet '; then
    ip link set eth0 up; ip addr add 10.137.0.8/32 dev eth0
    ip route add 10.137.0.1 dev eth0; ip route add default via 10.137.0.1 dev eth0
    echo "T eth0 (re)configured at $(cut -d. -f1 /proc/uptime)s"
  fi
  if ping -c1 -W1 10.137.0.1 > /dev/null 2>&1; then now=up; else now=down; fi
  [ "$now" = "$was" ] || echo "T $now at $(cut -d. -f1 /proc/uptime)s"
  was=$now; i=$((i + 1)); sleep 1
done
G
LINGER=0
create replug 10.137.0.8 /tmp/replug.sh
wait_for 30 guest_says replug "T up"
check "replug: the AppVM reaches the gateway" guest_says replug "T up"
t=$(date +%s)
xl destroy sys-firewall
say "xl destroy sys-firewall took $(( $(date +%s) - t ))s; sys-net's vif-watch: $(net 'tr "\\n" " " < /var/log/vif-watch.log')"
wait_for 15 guest_says replug "T down"
check "replug: the AppVM sees its gateway gone" guest_says replug "T down"
start_sysfw
t=$(date +%s)
xl network-detach replug 0 > /tmp/detach.out 2>&1
say "xl network-detach (dead backend) took $(( $(date +%s) - t ))s: $(tr '\n' ' ' < /tmp/detach.out)"
xl network-attach replug ip=10.137.0.8 mac=00:16:3e:5e:6c:00 script=/bin/true backend=sys-firewall > /tmp/attach.out 2>&1
say "xl network-attach: $(tr '\n' ' ' < /tmp/attach.out)"
back_again() { [ "$(grep -c 'T up' /var/log/xen/console/guest-replug.log)" -ge 2 ]; }
wait_for 30 back_again
check "replug: connectivity back after sys-firewall re-created and the vif re-attached" back_again
say "what replug saw: $(sed -n 's/.*T \(.*\)/\1/p' /var/log/xen/console/guest-replug.log | tr '\n' ';')"
xl destroy replug
say "tests took $(( $(date +%s) - t0 ))s"
fw 'xfwctl stats'
