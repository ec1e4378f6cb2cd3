# lab/dom0/lib.sh — what dom0's scenarios compose (sourced by lab/dom0/init):
#   start_sysnet, start_sysfw   create the two driver domains and wait until they serve
#   in_vm VM CMD [SECONDS]      run CMD (sh) in a driver domain through its lab agent; prints
#                               its output, returns its status (98: no answer, 99: no such VM)
#   fw CMD, net CMD             in_vm sys-firewall / sys-net
#   create NAME IP SCRIPT       an AppVM behind sys-firewall whose /guest.sh is SCRIPT
#   wait_guest NAME             until its script is done (or 120 s), then show what it printed
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

xl_create() {  # NAME CFGFILE — xl create within 120 s, or what it and the domain said
  timeout 120 xl create "$2" > "/tmp/create-$1.log" 2>&1 && return 0
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
start_sysfw() {
  start=$(date +%s)
  DRIVER_DOMAIN=1 VCPUS=2 vm_cfg sys-firewall "$SYSFW_MEMORY" $guest/sysfw.zst "" \
    "mac=00:16:3e:5e:6c:01,script=/etc/xen/scripts/vif-bridge,backend=sys-net" > /tmp/sys-firewall.cfg
  xl_create sys-firewall /tmp/sys-firewall.cfg || return 1
  wait_for 180 agent_ready sys-firewall || { say "sys-firewall: no agent after 180 s"; domain_died sys-firewall; return 1; }
  wait_for 60 xfwd_active
  say "sys-firewall up in $(( $(date +%s) - start ))s: xfwd.service $(fw 'systemctl is-active xfwd'): $(fw 'systemctl show -p StatusText --value xfwd')"
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
  vm_cfg "$name" 128 "$g/initrd.cpio" "quiet xfw.ip=$ip xfw.name=$name xfw.linger=${LINGER:-0}" \
    "ip=$ip,mac=00:16:3e:5e:6c:00,script=/bin/true,backend=${BACKEND:-sys-firewall}" > "$g/cfg"
  start=$(date +%s)
  xl_create "$name" "$g/cfg" && say "created $name in $(( $(date +%s) - start ))s"
}

wait_guest() {
  log=/var/log/xen/console/guest-$1.log
  for _ in $(seq 600); do grep -q "XFW-GUEST-END" "$log" 2>/dev/null && break; sleep 0.2; done
  sed -n '/XFW-GUEST-START/,/XFW-GUEST-END/p' "$log" | sed "s/^/[$1] /"
}
