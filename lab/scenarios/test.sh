# System tests against the real Linux netfront (sourced by dom0-init). Prints one line per
# check, "XFW-TEST PASS name" or "XFW-TEST FAIL name: detail"; lab/test.sh reads them.
pass() { echo "XFW-TEST PASS $1"; }
fail() { echo "XFW-TEST FAIL $1: $2"; }
check() { name=$1; shift; if "$@" >/tmp/check.out 2>&1; then pass "$name"; else fail "$name" "$(tail -8 /tmp/check.out | tr '\n' ' ')"; fi; }
guest_says() { grep -q "$2" "/var/log/xen/console/guest-$1.log" 2>/dev/null; }
# DNS over TCP for web.example.test (A), with its 2-byte length prefix (RFC 1035 4.2.2).
DNSQ='\000\042\022\064\001\000\000\001\000\000\000\000\000\000\003web\007example\004test\000\000\001\000\001'
ip netns exec netvm dash -c 'while true; do sleep 600 | nc -l -p 9000 >/dev/null; done' &
# 2 MB each way: the netvm's veth does TSO (super-frames to xfwd), the real netfront sends GSO.
head -c 2000000 /dev/urandom > /srv/www/big.bin
big_md5=$(md5sum < /srv/www/big.bin); big_md5=${big_md5%% *}
ip netns exec netvm dash -c 'sleep 600 | nc -l -p 9001 > /tmp/up.bin' &

cat > /tmp/work.sh <<G
#!/bin/dash
ping -c1 -W3 10.137.0.1 >/dev/null && echo "T gateway-ping ok"
ping -c1 -W3 192.168.100.1 >/dev/null && echo "T nat-ping ok"
printf 'GET / HTTP/1.0\r\n\r\n' > /tmp/req
for i in 1 2 3; do nc -w 5 192.168.100.1 80 < /tmp/req > /tmp/http 2>&1; grep -q "hello from the netvm" /tmp/http && { echo "T http ok"; break; }; sleep 1; done
for i in 1 2 3; do nslookup web.example.test 10.139.1.1 > /tmp/ns 2>&1; grep -q 192.168.100.1 /tmp/ns && { echo "T dns-udp ok"; break; }; sleep 1; done
for i in 1 2 3; do printf '$DNSQ' | nc -w 3 10.139.1.2 53 > /tmp/dt; od -An -tx1 /tmp/dt | tr -d ' \n' > /tmp/dth; grep -q c0a86401 /tmp/dth && { echo "T dns-tcp ok"; break; }; sleep 1; done
printf 'GET /big.bin HTTP/1.0\r\n\r\n' > /tmp/reqbig
for i in 1 2 3; do nc -w 10 192.168.100.1 80 < /tmp/reqbig > /tmp/big 2>/dev/null; tail -c 2000000 /tmp/big > /tmp/big.bin
  md5sum /tmp/big.bin > /tmp/big.md5; grep -q $big_md5 /tmp/big.md5 && { echo "T download-2mb ok"; break; }; sleep 1; done
dd if=/dev/urandom of=/tmp/up.bin bs=1000 count=2000 2>/dev/null
md5sum /tmp/up.bin > /tmp/up.md5; echo "T upload md5 \$(cut -d' ' -f1 /tmp/up.md5)"
nc -w 3 192.168.100.1 9001 < /tmp/up.bin
ping -c1 -W2 10.137.0.6 >/dev/null || echo "T isolation ok"
# A connection that lives until the rule change (8 s after dom0 sees it), which must cut it.
start=\$(date +%s)
(i=0; while [ \$i -lt 60 ]; do echo x; sleep 1; i=\$((i+1)); done) | nc 192.168.100.1 9000
echo "T cut after \$(( \$(date +%s) - start ))s"
G
cat > /tmp/untrusted.sh <<'G'
#!/bin/dash
printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 5 192.168.100.1 80 2>&1 | grep -q refused && echo "T reject ok"
printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 5 192.168.100.1 443 | grep -q "hello from the netvm" && echo "T allowed ok"
ip addr add 10.137.0.99/32 dev eth0
ping -c2 -W2 -I 10.137.0.99 192.168.100.1 > /tmp/spoof 2>&1; grep -q "bytes from" /tmp/spoof || echo "T spoof ok"
# Requests across an xfwd restart (dom0 kills and restarts it at about 30 s).
get() { printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 2 192.168.100.1 443 > /tmp/get 2>&1; grep -q hello /tmp/get; }
i=0; ok=0; while [ $i -lt 30 ]; do sleep 2; get && ok=$((ok+1)); i=$((i+1)); done
get && echo "T after-restart ok ($ok of 30 requests answered)"
G
LINGER=300
t0=$(date +%s)
create work 10.137.0.5 /tmp/work.sh
create untrusted 10.137.0.6 /tmp/untrusted.sh
create third 10.137.0.7 /tmp/untrusted.sh
all_created() { xl list > /tmp/xl.out 2>&1; grep -q work /tmp/xl.out && grep -q untrusted /tmp/xl.out && grep -q third /tmp/xl.out; }
check "auto-attach: three AppVMs created within libxl's window" all_created
# (Output through files: busybox's shell has crashed on $(... | grep) pipelines here.)
connected() { xfwctl vifs > /tmp/vifs.out 2>&1; [ "$(grep -c Connected /tmp/vifs.out)" = "$1" ]; }
for _ in $(seq 150); do connected 3 && break; sleep 0.2; done
check "all three vifs connected" connected 3

# The rule change: work may keep only ICMP; its open TCP connection must be cut.
tracked() { xfwctl conntrack work > /tmp/ct.out 2>&1; grep -q ':9000' /tmp/ct.out; }
for _ in $(seq 300); do tracked && break; sleep 0.3; done
check "work's connection is tracked" tracked
# Let it live for a while (the guest sends a line a second), then forbid it.
sleep 8
echo "action=accept proto=icmp" > /tmp/icmp-only.rules
xfwctl rules replace work --file /tmp/icmp-only.rules > /tmp/replace.out 2>&1
changed=$(date +%s)
for _ in $(seq 100); do guest_says work "T cut" && break; sleep 0.3; done
cut_late=$(( $(date +%s) - changed ))
up_md5=$(sed -n 's/.*T upload md5 \([0-9a-f]*\).*/\1/p' /var/log/xen/console/guest-work.log)
got_md5=$(md5sum < /tmp/up.bin 2>/dev/null); got_md5=${got_md5%% *}
upload_intact() { [ -n "$up_md5" ] && [ "$up_md5" = "$got_md5" ] || { echo "sent $up_md5, received $got_md5"; false; }; }
check "work: 2 MB upload arrived intact (GSO from the real netfront)" upload_intact
gso_used() { xfwctl stats --json > /tmp/st.json 2>&1; grep -Eq '"gso_to_vms": *[1-9]' /tmp/st.json && grep -Eq '"gso_to_uplink": *[1-9]' /tmp/st.json || { cat /tmp/st.json; false; }; }
check "TCP super-frames went both ways as GSO" gso_used

for _ in $(seq 50); do guest_says untrusted "T spoof" && break; sleep 0.3; done
spoof_counted() { xfwctl stats > /tmp/stats.out 2>&1; grep -Eq 'spoofed_source +[1-9]' /tmp/stats.out || { cat /tmp/stats.out; false; }; }
check "spoofed source counted" spoof_counted
# xfwd restarted while the AppVMs run.
sleep 3
kill -9 $(pidof xfwd)
sleep 2
xfwd --xen=real --config /etc/xfw/xfwd.toml >> /var/log/xfwd.log 2>&1 &
for _ in $(seq 300); do guest_says untrusted "T after-restart" && break; sleep 0.5; done
for _ in $(seq 100); do guest_says third "T after-restart" && break; sleep 0.5; done
check "third: after-restart" guest_says third "T after-restart ok"

for vm in work untrusted; do
  for t in $(sed -n 's/.*T \([a-z0-9-]*\) ok.*/\1/p' "/var/log/xen/console/guest-$vm.log"); do pass "$vm: $t"; done
done
cut_s=$(sed -n 's/.*T cut after \([0-9]*\)s.*/\1/p' /var/log/xen/console/guest-work.log)
# The connection must live until the rule change (8 s after it was seen), then end at once.
cut_in_time() { [ "${cut_s:-0}" -ge 8 ] && [ "$cut_late" -le 10 ]; }
check "work: rule change cut its open connection (lived ${cut_s:-?}s, ended ${cut_late}s after: $(cat /tmp/replace.out))" cut_in_time
for t in gateway-ping nat-ping http dns-udp dns-tcp download-2mb isolation; do guest_says work "T $t ok" || fail "work: $t" "not seen"; done
for t in reject allowed spoof after-restart; do guest_says untrusted "T $t ok" || fail "untrusted: $t" "not seen"; done

say "what the AppVMs printed:"
for vm in work untrusted third; do sed -n '/XFW-GUEST-START/,$p' "/var/log/xen/console/guest-$vm.log" | sed "s/^/[$vm] /"; done
xfwctl vifs > /tmp/ctl.out 2>&1; cat /tmp/ctl.out

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
for _ in $(seq 100); do guest_says work "T again" && break; sleep 0.3; done
check "re-created work attaches and pings" guest_says work "T again ok"
say "tests took $(( $(date +%s) - t0 ))s"
xfwctl stats
