# The demo (sourced by dom0's init): Qubes' topology. dom0 runs only the toolstack; sys-net is
# an untrusted driver domain (kernel xen-netback, the servers); sys-firewall runs xfwd under
# systemd, installed from its package. Two AppVMs attach to xfwd by themselves; "work" fetches
# a page and resolves a name through the virtual DNS server; "untrusted" is blocked by its rules,
# which dom0 wrote into sys-firewall's QubesDB (as qvm-firewall does) and xfwd read from there.
# (Guest commands write to files instead of pipes: static busybox has crashed in pipelines
# under QEMU's TCG here.)
cat > /tmp/work.sh <<'G'
#!/bin/sh
echo "$ ping -c1 10.137.0.1"; ping -c1 -W2 10.137.0.1 > /tmp/o; grep -E "bytes from|loss" /tmp/o
echo "$ ping -c1 192.168.100.1"; ping -c1 -W2 192.168.100.1 > /tmp/o; grep -E "bytes from|loss" /tmp/o
echo "$ GET http://192.168.100.1/"; printf 'GET / HTTP/1.0\r\n\r\n' > /tmp/req; nc -w 5 192.168.100.1 80 < /tmp/req > /tmp/o; tail -1 /tmp/o
echo "$ nslookup web.example.test 10.139.1.1"; nslookup -type=a web.example.test 10.139.1.1 > /tmp/o 2>&1; grep -A1 "^Name" /tmp/o
G
cat > /tmp/untrusted.sh <<'G'
#!/bin/sh
printf 'GET / HTTP/1.0\r\n\r\n' > /tmp/req
echo "$ GET http://192.168.100.1/"; nc -w 5 192.168.100.1 80 < /tmp/req > /tmp/o 2>&1 || echo "(refused: its rules allow only port 443 and DNS)"; tail -1 /tmp/o
echo "$ GET http://192.168.100.1:443/"; nc -w 5 192.168.100.1 443 < /tmp/req > /tmp/o; tail -1 /tmp/o
G
say "xl list (dom0)"; xl list
say "in dom0: qubesdb-multiread -d sys-firewall /qubes-firewall/10.137.0.6/ (written as qubesd writes it)"
qdb multiread /qubes-firewall/10.137.0.6/
say "in sys-firewall: xfwctl rules list 10.137.0.6"
fw "xfwctl rules list 10.137.0.6"
LINGER=60
create work 10.137.0.5 /tmp/work.sh
create untrusted 10.137.0.6 /tmp/untrusted.sh
wait_guest work
wait_guest untrusted
say "in sys-firewall: systemctl status xfwd"
fw "systemctl status xfwd --no-pager -n 0" | sed -n '1,6p'
for c in "status" "vifs" "rules explain 10.137.0.6 tcp 192.168.100.1:80" "stats"; do
  say "in sys-firewall: xfwctl $c"
  fw "xfwctl $c"
done
for vm in work untrusted; do
  start=$(date +%s); xl destroy $vm; say "xl destroy $vm took $(( $(date +%s) - start ))s"
done
