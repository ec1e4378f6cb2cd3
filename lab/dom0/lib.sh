# lab/dom0/lib.sh — what dom0's scenarios compose (sourced by lab/dom0/init):
#   start_sysnet, start_sysfw   create the two driver domains and wait until they serve
#   in_vm VM CMD [SECONDS]      run CMD (sh) in a driver domain through its lab agent; prints
#                               its output, returns its status (98: no answer, 99: no such VM)
#   fw CMD, net CMD             in_vm sys-firewall / sys-net
#   create NAME IP SCRIPT       an AppVM behind sys-firewall whose /guest.sh is SCRIPT
#   wait_guest NAME             until its script is done (or 120 s), then show what it printed
#   qdb CMD ARGS                qubesdb-CMD -d sys-firewall (read, write, rm, multiread, ...)
#   set_firewall IP POLICY RULE...   a client's rules in sys-firewall's QubesDB, as qubesd writes them
#   say TEXT                    one line of the lab's own log
say() { echo "XFW-LAB $*"; }
guest=/guest

# vm_cfg NAME MEMORY RAMDISK EXTRA [VIF] — an xl config for a PV domain on the lab's kernel.
vm_cfg() {
  vif=; [ -z "${5:-}" ] || vif="vif = [ \"$5\" ]"
  dd=; [ -z "${DRIVER_DOMAIN:-}" ] || dd="driver_domain = 1"
  cat <<CFG
name = "$1"
type = "pv"
kernel = "$guest/vmlinux"
ramdisk = "$3"
extra = "console=hvc0 $4"
memory = $2
vcpus = ${VCPUS:-1}
on_poweroff = "destroy"
$vif
$dd
CFG
}

xl_create() {  # NAME CFGFILE [-p] — xl create within 120 s, or what it and the domain said
  timeout 120 xl create ${3:-} "$2" > "/tmp/create-$1.log" 2>&1 && return 0
  say "xl create $1 FAILED: $(tail -5 "/tmp/create-$1.log" | tr '\n' ' ')"
  domain_died "$1"
  say "sys-net's vif-watch:"; net 'tail -20 /var/log/vif-watch.log' | sed 's/^/  /'
  xenstore-ls -f /local/domain | grep -E "backend/vif|device/vif" | grep -E "state|hotplug" | sed 's/^/  /'
  return 1
}

# wait_for SECONDS CMD... — until CMD succeeds (every 0.2 s); false after SECONDS.
wait_for() {
  end=$(( $(date +%s) + $1 )); shift
  until "$@" > /dev/null 2>&1; do [ "$(date +%s)" -lt "$end" ] || return 1; sleep 0.2; done
}

# What dom0 knows of a domain that did not come up.
domain_died() {
  say "xl list:"; xl list | sed 's/^/  /'
  say "xl create $1 said:"; sed 's/^/  /' "/tmp/create-$1.log"
  say "$1's console:"; grep -ai "initrd\|initramfs\|ramdisk\|memory:" "/var/log/xen/console/guest-$1.log" | head -10 | sed 's/^/  /'
  tail -40 "/var/log/xen/console/guest-$1.log" | sed 's/^/  /'
  say "the hypervisor's last words:"; xl dmesg | tail -15 | sed 's/^/  /'
}
agent_ready() { id=$(xl domid "$1" 2>/dev/null) && [ "$(xenstore-read "/local/domain/$id/data/lab/ready" 2>/dev/null)" = 1 ]; }

# (The sequence number lives in a file: in_vm often runs in a $(...) subshell.)
in_vm() {
  vm=$1 cmd=$2 secs=${3:-60}
  id=$(xl domid "$vm" 2>/dev/null) || { echo "(no domain $vm)"; return 99; }
  d=/local/domain/$id/data/lab
  lab_seq=$(( $(cat /tmp/lab-seq 2>/dev/null || echo 0) + 1 ))
  echo "$lab_seq" > /tmp/lab-seq
  xenstore-rm "$d/out" 2>/dev/null
  xenstore-write -R "$d/cmd" "$lab_seq $cmd"
  end=$(( $(date +%s) + secs ))
  while :; do
    ans=$(xenstore-read "$d/done" 2>/dev/null)
    [ "${ans%% *}" = "$lab_seq" ] || [ "$(date +%s)" -ge "$end" ] && break
    sleep 0.1
  done
  [ "${ans%% *}" = "$lab_seq" ] || { echo "(no answer from $vm in ${secs}s to: $cmd)"; return 98; }
  set -- $ans
  i=0
  while [ "$i" -lt "$3" ]; do xenstore-read -R "$d/out/$i"; echo; i=$((i + 1)); done
  return "$2"
}
fw() { in_vm sys-firewall "$@"; }
net() { in_vm sys-net "$@"; }
xfwd_active() { [ "$(fw 'systemctl is-active xfwd')" = active ]; }

start_sysnet() {
  start=$(date +%s)
  DRIVER_DOMAIN=1 vm_cfg sys-net 256 $guest/sysnet.gz "quiet" > /tmp/sys-net.cfg
  xl_create sys-net /tmp/sys-net.cfg || return 1
  wait_for 60 agent_ready sys-net || { say "sys-net: no agent after 60 s"; domain_died sys-net; return 1; }
  say "sys-net up in $(( $(date +%s) - start ))s (kernel xen-netback, servers on 192.168.100.1)"
}

# sys-firewall: its uplink vif's backend is sys-net (vif-watch there runs vif-bridge).
# Its memory= (MB): xfw.sysfw_memory= on the kernel command line (XFW_LAB_ARGS), default 512.
SYSFW_MEMORY=$(sed -n 's/.*xfw\.sysfw_memory=\([0-9]*\).*/\1/p' /proc/cmdline)
SYSFW_MEMORY=${SYSFW_MEMORY:-512}
# As qubesd starts a VM: created paused, its QubesDB filled, then unpaused.
start_sysfw() {
  start=$(date +%s)
  DRIVER_DOMAIN=1 VCPUS=2 vm_cfg sys-firewall "$SYSFW_MEMORY" $guest/sysfw.zst "" \
    "mac=00:16:3e:5e:6c:01,script=/etc/xen/scripts/vif-bridge,backend=sys-net" > /tmp/sys-firewall.cfg
  xl_create sys-firewall /tmp/sys-firewall.cfg -p || return 1
  start_qubesdb "$(xl domid sys-firewall)" || return 1
  xl unpause sys-firewall
  wait_for 180 agent_ready sys-firewall || { say "sys-firewall: no agent after 180 s"; domain_died sys-firewall; return 1; }
  wait_for 60 xfwd_active
  say "sys-firewall up in $(( $(date +%s) - start ))s: xfwd.service $(fw 'systemctl is-active xfwd'): $(fw 'systemctl show -p StatusText --value xfwd')"
}

# QubesDB as Qubes keeps it for sys-firewall: Qubes' own qubesdb-daemon in dom0, one per VM
# (socket /var/run/qubes/qubesdb.NAME.sock), synced over vchan with the VM's own daemon
# (qubes-db.service there), where xfwd reads it. Keys are written as qubesd writes them.
qdb() { c=$1; shift; qubesdb-$c -d sys-firewall "$@"; }
# set_firewall IP POLICY RULE... — as qubesd's reload_firewall_for_vm: the old rules removed,
# the new ones written, then the empty key that says "update complete".
set_firewall() {
  ip=$1 policy=$2; shift 2
  qdb rm "/qubes-firewall/$ip/" 2>/dev/null
  qdb write "/qubes-firewall/$ip/policy" "$policy"
  n=0
  for r in "$@"; do qdb write "/qubes-firewall/$ip/$(printf %04d $n)" "$r"; n=$((n + 1)); done
  qdb write "/qubes-firewall/$ip" ""
}
# The lab's clients (created or not: /connected-ips lists every client of the firewall VM).
LAB_CLIENTS="10.137.0.5 10.137.0.6 10.137.0.7 10.137.0.8 10.137.0.9 10.137.0.10 10.137.0.11"
start_qubesdb() {  # DOMID — dom0's daemon for sys-firewall (a new one for a new domain)
  pidf=/var/run/qubes/qubesdb.sys-firewall.pid
  [ -f $pidf ] && kill "$(cat $pidf)" 2>/dev/null && wait_for 5 sh -c "! [ -e /var/run/qubes/qubesdb.sys-firewall.sock ]"
  mkdir -p /var/run/qubes /var/log/qubes
  qubesdb-daemon "$1" sys-firewall ||
    { say "qubesdb-daemon $1 sys-firewall did not start: $(tail -5 /var/log/qubes/qubesdb.sys-firewall.log)"; return 1; }
  qdb write /qubes-ip 192.168.100.2             # sys-firewall's own uplink (sys-net's side)
  qdb write /qubes-gateway 192.168.100.1
  qdb write /qubes-primary-dns 192.168.100.1    # the lab's resolver (in Qubes: sys-net's DNAT)
  qdb write /qubes-netvm-gateway 10.137.0.1     # what it serves its clients
  qdb write /qubes-netvm-network 10.137.0.0
  qdb write /qubes-netvm-netmask 255.255.255.0
  qdb write /qubes-netvm-primary-dns 10.139.1.1
  qdb write /qubes-netvm-secondary-dns 10.139.1.2
  qdb write /connected-ips "$LAB_CLIENTS"
  set_firewall 10.137.0.5 drop "action=accept"                                           # work
  set_firewall 10.137.0.6 drop "action=accept proto=tcp dstports=443-443" "action=accept specialtarget=dns"  # untrusted
  set_firewall 10.137.0.7 drop "action=accept proto=tcp dstports=443-443" "action=accept specialtarget=dns"  # third
  set_firewall 10.137.0.8 drop "action=accept"                                           # guest, replug
  set_firewall 10.137.0.9 drop "action=accept"                                           # perf
  set_firewall 10.137.0.10 drop "action=accept proto=tcp dstports=443-443" "action=accept specialtarget=dns" # qdb
  set_firewall 10.137.0.11 drop "action=accept"                                          # dl (restarts)
}

# create NAME IP SCRIPT — an AppVM whose /guest.sh is SCRIPT (appended to its initramfs), its
# vif's backend sys-firewall. Nobody runs a vif script there: xfwd reports the vif connected.
create() {
  name=$1 ip=$2 script=$3
  g=/tmp/g-$name
  rm -rf "$g" && mkdir -p "$g/x"
  cp "$script" "$g/x/guest.sh" && chmod +x "$g/x/guest.sh"
  # One more cpio archive after the guest's own (the kernel reads concatenated archives).
  (cd "$g/x" && find . | cpio -o -H newc 2>/dev/null) > "$g/extra.cpio"
  cat $guest/appvm.cpio "$g/extra.cpio" > "$g/initrd.cpio"
  vm_cfg "$name" "${MEMORY:-128}" "$g/initrd.cpio" "quiet xfw.ip=$ip xfw.name=$name xfw.linger=${LINGER:-0}" \
    "ip=$ip,mac=00:16:3e:5e:6c:00,script=/bin/true,backend=${BACKEND:-sys-firewall}" > "$g/cfg"
  start=$(date +%s)
  xl_create "$name" "$g/cfg" && say "created $name in $(( $(date +%s) - start ))s"
}

wait_guest() {
  log=/var/log/xen/console/guest-$1.log
  for _ in $(seq 600); do grep -q "XFW-GUEST-END" "$log" 2>/dev/null && break; sleep 0.2; done
  sed -n '/XFW-GUEST-START/,/XFW-GUEST-END/p' "$log" | sed "s/^/[$1] /"
}
