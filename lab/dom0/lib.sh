# lab/dom0/lib.sh — what dom0's scenarios compose (sourced by lab/dom0/init):
#   start_sysnet, start_sysfw   create the two driver domains and wait until they serve
#   in_vm VM CMD [SECONDS]      run CMD (sh) in a driver domain through its lab agent; prints
#                               its output, returns its status (98: no answer, 99: no such VM)
#   fw CMD, net CMD             in_vm sys-firewall / sys-net
#   create NAME IP SCRIPT       an AppVM behind sys-firewall whose /guest.sh is SCRIPT
#   wait_guest NAME             until its script is done (or 120 s), then show what it printed
#   guest_says NAME TEXT        TEXT is in the AppVM's console
#   qdb CMD ARGS                qubesdb-CMD -d sys-firewall (read, write, rm, multiread, ...)
#   set_firewall IP POLICY RULE...   a client's rules in sys-firewall's QubesDB, as qubesd writes them
#   xfwd_usage, soak SECONDS    xfwd's resources in sys-firewall; AppVMs created and destroyed in a loop
#   say TEXT                    one line of the lab's own log; check NAME CMD... one test result
# Every line ends with dom0's uptime, " @123s": where a slow run spent its time.
up() { cut -d. -f1 /proc/uptime; }
say() { echo "XFW-LAB $* @$(up)s"; }
# check NAME CMD... — one line per check, "XFW-TEST PASS NAME" or "XFW-TEST FAIL NAME: what CMD
# printed last" (lab/test.sh and lab/soak.sh read them).
pass() { echo "XFW-TEST PASS $1 @$(up)s"; }
fail() { echo "XFW-TEST FAIL $1: $2 @$(up)s"; }
check() { name=$1; shift; if "$@" >/tmp/check.out 2>&1; then pass "$name"; else fail "$name" "$(tail -14 /tmp/check.out | tr '\n' ' ')"; fi; }
guest=/guest
guest_says() { grep -q "$2" "/var/log/xen/console/guest-$1.log" 2>/dev/null; }

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
  local end=$(( $(date +%s) + $1 )); shift
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

# (The sequence number lives in a file: in_vm often runs in a $(...) subshell. A domain's agent
# takes one command at a time: a lock directory keeps concurrent callers, such as hostile_serve
# in the background, in turn. Nothing is written to the caller while the lock is held: a caller
# such as `fw CMD | grep -m1 X` closes the pipe early, and the SIGPIPE that killed in_vm in the
# middle of its output left the lock behind and every later fw/net waiting for it forever: the
# lab hung, seen twice. The call's sequence number names both the agent's command and the file
# that holds its answer until then.)
in_vm() {
  local seq rc
  until mkdir /tmp/in_vm.lock 2>/dev/null; do sleep 0.2; done
  seq=$(( $(cat /tmp/lab-seq 2>/dev/null || echo 0) + 1 )); echo "$seq" > /tmp/lab-seq
  in_vm_locked "$seq" "$@" > "/tmp/in_vm.$seq"; rc=$?
  rmdir /tmp/in_vm.lock
  { rm -f "/tmp/in_vm.$seq"; cat; } < "/tmp/in_vm.$seq"
  return $rc
}
in_vm_locked() {  # SEQ VM CMD [SECS]
  local lab_seq=$1 vm=$2 cmd=$3 secs=${4:-60} id d end ans i
  # (local: callers' variables of the same names, such as soak's, stay theirs)
  id=$(xl domid "$vm" 2>/dev/null) || { echo "(no domain $vm)"; return 99; }
  d=/local/domain/$id/data/lab
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
LAB_CLIENTS="10.137.0.5 10.137.0.6 10.137.0.7 10.137.0.8 10.137.0.9 10.137.0.10 10.137.0.11 10.137.0.12 10.137.0.13 10.137.0.14"
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
  set_firewall 10.137.0.12 drop "action=accept proto=tcp dstports=443-443"               # steady (soak)
  set_firewall 10.137.0.13 drop "action=accept"                                          # soakN
  set_firewall 10.137.0.14 drop "action=accept"                                          # hostile
}

# create NAME IP SCRIPT — an AppVM whose /guest.sh is SCRIPT (appended to its initramfs), its
# vif's backend sys-firewall; GUEST_ARGS are added to its kernel command line. Nobody runs a
# vif script there: xfwd reports the vif connected.
create() {
  name=$1 ip=$2 script=$3
  g=/tmp/g-$name
  rm -rf "$g" && mkdir -p "$g/x"
  cp "$script" "$g/x/guest.sh" && chmod +x "$g/x/guest.sh"
  # One more cpio archive after the guest's own (the kernel reads concatenated archives).
  (cd "$g/x" && find . | cpio -o -H newc 2>/dev/null) > "$g/extra.cpio"
  cat $guest/appvm.cpio "$g/extra.cpio" > "$g/initrd.cpio"
  vm_cfg "$name" "${MEMORY:-128}" "$g/initrd.cpio" "quiet xfw.ip=$ip xfw.name=$name xfw.linger=${LINGER:-0} ${GUEST_ARGS:-}" \
    "ip=$ip,mac=00:16:3e:5e:6c:00,script=/bin/true,backend=${BACKEND:-sys-firewall}" > "$g/cfg"
  start=$(date +%s)
  xl_create "$name" "$g/cfg" && say "created $name in $(( $(date +%s) - start ))s"; rc=$?
  # xl has loaded the initramfs into the domain: 13 MB less of dom0's RAM-backed root each (a
  # 10-minute soak's 20 AppVMs filled it).
  rm -f "$g/initrd.cpio" "$g/extra.cpio"
  return $rc
}

wait_guest() {
  log=/var/log/xen/console/guest-$1.log
  for _ in $(seq 600); do grep -q "XFW-GUEST-END" "$log" 2>/dev/null && break; sleep 0.2; done
  sed -n '/XFW-GUEST-START/,/XFW-GUEST-END/p' "$log" | sed "s/^/[$1] /"
}

# xfwd_usage — "pid rss_kib fds grant_pages evtchns threads heap_kib" of xfwd in sys-firewall,
# read from /proc there: its RSS, its open fds, the pages of other domains it has mapped (its
# VMAs of /dev/xen/gntdev), the event channels it has bound (/proc/interrupts names each
# "evtchn:COMM" after the process that bound it); and the heap in use, as xfwd counts it
# (`xfwctl --json status`: glibc's mallinfo2), which a leak grows where RSS also grows as
# preallocated tables (the flow table) get touched.
xfwd_usage() {
  fw 'p=$(pidof xfwd); g=0
      for r in $(grep gntdev /proc/$p/maps | cut -d" " -f1); do g=$((g + (0x${r#*-} - 0x${r%-*}) / 4096)); done
      echo $p $(sed -n "s/^VmRSS:[^0-9]*\([0-9]*\).*/\1/p" /proc/$p/status) $(ls /proc/$p/fd | wc -l) $g \
           $(grep -c "evtchn:xfwd" /proc/interrupts) $(ls /proc/$p/task | wc -l) \
           $(( $(xfwctl --json status | sed -n "s/.*\"heap_bytes\": \([0-9]*\).*/\1/p") / 1024 ))'
}

# soak SECONDS — AppVMs created and torn down one after another for SECONDS, each with traffic
# (ping, DNS, a 2 MB download compared byte for byte), ending in turn by powering itself off, by
# xl destroy in the middle of a download, and by xl network-detach in the middle of one; beside
# them the AppVM "steady" fetches a page every second. After every cycle, once the AppVM is gone,
# one line "XFW-SOAK cycle N MODE in S: pid P heap H KiB rss R KiB fds F grant pages G evtchns E
# threads T vifs V (ping dns download)". With SOAK_HOSTILE=1 the AppVM "hostile" (xfw-hostile-netfront, see
# hostile_serve) attacks xfwd from the second cycle on; the soak ends once it is done and gone.
# Leaves in /tmp/soak.base the usage after the first cycle (the baseline: xfwd has then served
# one AppVM), in /tmp/soak.during the usage with the last AppVM attached, in /tmp/soak.end the
# usage at the end, in /tmp/soak.cycles the number of cycles, in /tmp/soak.failed the cycles
# whose AppVM did not get everything through and in /tmp/soak.xl what xl said.
SOAK_IP=10.137.0.13
soak() {
  local secs=$1 end n vm mode s c0 log got u was during hostile_pid=
  cat > /tmp/soak-guest.sh <<'G'
#!/bin/dash
at() { cut -d' ' -f1 /proc/uptime; }
ping -c2 -W3 10.137.0.1 > /dev/null && echo "T ping ok at $(at)"
nslookup web.example.test 10.139.1.1 2>&1 | grep -q 192.168.100.1 && echo "T dns ok at $(at)"
printf 'GET /big.bin HTTP/1.0\r\n\r\n' > /tmp/req
nc -w 10 192.168.100.1 80 < /tmp/req > /tmp/big 2>/dev/null
tail -c 2000000 /tmp/big | cmp -s - /ref.bin && echo "T download ok at $(at)"
[ -e /busy ] || exit 0
echo "T busy"
while :; do nc -w 10 192.168.100.1 80 < /tmp/req > /dev/null 2>&1; done
G
  sed 's|^\[ -e /busy \] .*|: busy|' /tmp/soak-guest.sh > /tmp/soak-busy.sh
  cat > /tmp/steady.sh <<G
#!/bin/dash
printf 'GET / HTTP/1.0\r\n\r\n' > /tmp/req
n=0; i=0
while [ \$i -lt $((secs + 300)) ]; do
  nc -w 5 192.168.100.1 443 < /tmp/req 2>&1 | grep -q hello && n=\$((n + 1)) || echo "T fetch failed at \$(cut -d. -f1 /proc/uptime)s"
  i=\$((i + 1)); [ \$((i % 10)) = 0 ] && echo "T fetched \$n of \$i"; sleep 1
done
G
  LINGER=0 create steady 10.137.0.12 /tmp/steady.sh
  : > /tmp/soak.failed; : > /tmp/soak.xl
  end=$(( $(date +%s) + secs )); n=0
  while [ "$(date +%s)" -lt "$end" ]; do
    n=$((n + 1)); vm=soak$n
    case $((n % 3)) in 1) mode=poweroff s=/tmp/soak-guest.sh ;; 2) mode=destroy s=/tmp/soak-busy.sh ;; 0) mode=detach s=/tmp/soak-busy.sh ;; esac
    c0=$(date +%s)
    LINGER=0 create "$vm" $SOAK_IP "$s" > /dev/null || { echo "$n create" >> /tmp/soak.failed; continue; }
    log=/var/log/xen/console/guest-$vm.log
    case $mode in
      poweroff) wait_for 90 sh -c "! xl domid $vm" ;;
      *) wait_for 90 guest_says "$vm" "T busy"; sleep 1
         during=$(xfwd_usage); echo "$during" > /tmp/soak.during
         [ $mode = destroy ] || xl network-detach "$vm" 0 >> /tmp/soak.xl 2>&1
         xl destroy "$vm" >> /tmp/soak.xl 2>&1 ;;
    esac
    wait_for 20 sh -c "! xl domid $vm"
    got=$(sed -n 's/.*T \([a-z]*\) ok.*/\1/p' "$log" | tr '\n' ' ')
    [ "$got" = "ping dns download " ] || echo "$n $mode ($got)" >> /tmp/soak.failed
    wait_for 10 vif_gone $SOAK_IP
    u=$(xfwd_usage); set -- $during; was=" (attached: fds $3 grant pages $4 evtchns $5)"; [ $mode != poweroff ] || was=; set -- $u
    echo "XFW-SOAK cycle $n $mode in $(( $(date +%s) - c0 ))s: pid $1 heap $7 KiB rss $2 KiB fds $3 grant pages $4 evtchns $5 threads $6 vifs $(fw 'xfwctl vifs' | grep -c Connected)$was ($got; $(sed -n 's/.*T \([a-z]*\) ok at \([0-9]*\).*/\1 \2s/p' "$log" | tr '\n' ' ')) CPU-s: $(xl list | awk 'NR > 1 { printf "%s %d, ", $1, $6 }')"
    if [ "$n" = 1 ]; then
      echo "$u" > /tmp/soak.base
      if [ -n "${SOAK_HOSTILE:-}" ]; then hostile_start && { hostile_serve "$(xl domid hostile)" & hostile_pid=$!; }; fi
    fi
    # Not before the hostile netfront's end: its attacks run beside the cycles.
    if [ -n "$hostile_pid" ] && kill -0 "$hostile_pid" 2>/dev/null && [ "$end" -lt $(( $(date +%s) + 5 )) ]; then
      end=$(( $(date +%s) + 5 ))
    fi
  done
  if [ -n "$hostile_pid" ]; then
    wait "$hostile_pid"
    wait_for 30 guest_says hostile "XFW-GUEST-END"
    ! xl domid hostile > /dev/null 2>&1 || xl destroy hostile >> /tmp/soak.xl 2>&1
    wait_for 20 sh -c "! xl domid hostile"
    wait_for 10 vif_gone 10.137.0.14
  fi
  echo "$n" > /tmp/soak.cycles
  xfwd_usage > /tmp/soak.end
  say "steady: $(grep 'T fetched' /var/log/xen/console/guest-steady.log | tail -1 | sed 's/.*T //'), $(grep -c 'T fetch failed' /var/log/xen/console/guest-steady.log) failed"
  xl destroy steady
}
vif_gone() { ! fw 'xfwctl vifs' | grep -q " $1 "; }
# soak_checks — what soak left, as checks: xfwd is the same process, its fds, grant pages and
# event channels are back to the baseline, its heap in use grew by no more than SOAK_HEAP_KIB
# (default 32: a leak of 6 KiB an AppVM fails it in 6 cycles; runs stay within 11) and its RSS
# by no more than SOAK_RSS_KIB (default 1024: the flow table's pages get touched as flows land
# in them), every AppVM got its traffic through, steady never failed, xl said nothing.
soak_checks() {
  read -r p0 r0 f0 g0 e0 h0 m0 < /tmp/soak.base; read -r p1 r1 f1 g1 e1 h1 m1 < /tmp/soak.end
  n=$(cat /tmp/soak.cycles)
  if [ -z "$n" ] || [ -z "$m0" ] || [ -z "$m1" ]; then  # dom0 could not write them (out of room)
    fail "soak: its records are whole" "cycles '$n', first '$p0 $m0', last '$p1 $m1'; dom0: $(df -k / | tail -1)"
    return 1
  fi
  check "soak: $n AppVMs created and torn down, each got ping, DNS and 2 MB through$(sed 's/^/; failed: /' /tmp/soak.failed | tr '\n' ' ')" \
    [ ! -s /tmp/soak.failed ]
  check "soak: xfwd never restarted (pid $p0, then $p1)" [ "$p0" = "$p1" ]
  read -r _ _ _ ga ea _ < /tmp/soak.during
  check "soak: the measure sees an AppVM (attached: grant pages $ga, event channels $ea)" \
    [ "$ga" -gt "$g0" -a "$ea" -gt "$e0" ]
  check "soak: fds $f0 -> $f1, grant pages $g0 -> $g1, event channels $e0 -> $e1, threads $h0 -> $h1 after $n cycles" \
    [ "$f0 $g0 $e0 $h0" = "$f1 $g1 $e1 $h1" ]
  check "soak: heap in use $m0 -> $m1 KiB ($(( m1 - m0 )) KiB over $(( n - 1 )) cycles, at most ${SOAK_HEAP_KIB:-32}); RSS $r0 -> $r1 KiB (at most +${SOAK_RSS_KIB:-1024})" \
    [ $(( m1 - m0 )) -le "${SOAK_HEAP_KIB:-32}" -a $(( r1 - r0 )) -le "${SOAK_RSS_KIB:-1024}" ]
  check "soak: xl destroy and network-detach said nothing$(head -c 300 /tmp/soak.xl | tr '\n' ' ' | sed 's/^./: &/')" [ ! -s /tmp/soak.xl ]
  sl=/var/log/xen/console/guest-steady.log
  check "soak: steady, beside them, $(grep 'T fetched' $sl | tail -1 | sed 's/.*T //') pages, none failed$(grep 'T fetch failed' $sl | head -3 | sed 's/.*T / /' | tr '\n' ';')" \
    sh -c "grep -q 'T fetched' $sl && ! grep -q 'T fetch failed' $sl"
}

# uplink_to_kernel — xfwd stopped and its uplink vif handed to the kernel's xen-netfront (eth0).
# xfwd's netfront, stopped, leaves the vif Closed. The kernel's netfront connects only from a
# backend in InitWait: once the backend is Closed too, Initialising asks it back there (Linux
# netback's "prepare for reconnect"), then the module is loaded.
uplink_to_kernel() {
  fw 'systemctl stop xfwd
      for n in $(xenstore-list device/vif); do
        be=$(xenstore-read device/vif/$n/backend)
        i=0; while [ "$(xenstore-read $be/state)" != 6 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
        xenstore-write device/vif/$n/state 1
        i=0; while [ "$(xenstore-read $be/state)" != 2 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
      done
      modprobe xen-netfront || echo "modprobe xen-netfront failed"
      i=0; while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
      sysctl -qw net.ipv6.conf.eth0.disable_ipv6=1'
}
# uplink_to_xfwd — the kernel's netfront unbound from the vif (it closes it: Closed both ends, xfwd
# takes it through Initialising), then unloaded (xenbus holds a reference on the module for as
# long as a device is bound to it); xfwd started again, with whatever /etc/xfw/xfwd.toml says.
uplink_to_xfwd() {
  fw 'for d in /sys/bus/xen/drivers/vif/vif-*; do [ -e "$d" ] && echo "${d##*/}" > /sys/bus/xen/drivers/vif/unbind; done
      rmmod xen-netfront || echo "rmmod xen-netfront failed"
      systemctl start xfwd'
  wait_for 60 xfwd_active
}

# kernel_fw_start, kernel_fw_stop — Linux sys-firewall in the sys-firewall domain, xfwd stopped
# (started again by kernel_fw_stop):
# the kernel's netfront as the uplink, configured as Qubes' udev rule does it (uplink-watch), the
# kernel's xen-netback (vif-watch runs Qubes' vif script, lab/kernel/vif-route-qubes), forwarding
# and an nftables ruleset shaped like Qubes' (lab/kernel/qubes.nft); then back to a sys-firewall
# xfwd can take over: no netback, no netfront, no address, no forwarding, no rules.
kernel_fw_start() {
  fw 'setsid /usr/local/sbin/uplink-watch > /var/log/uplink-watch.log 2>&1 < /dev/null &
      echo $! > /run/uplink-watch.pid'
  uplink_to_kernel
  fw 'i=0; while ! ip -4 addr show dev eth0 | grep -q inet && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
      for m in $(cat /etc/xfw/kernel-modules); do modprobe $m || echo "modprobe $m failed"; done
      sysctl -qw net.ipv4.ip_forward=1 && nft -f /etc/xfw/qubes.nft || echo "set-up failed"
      setsid /usr/local/sbin/vif-watch /etc/xfw/vif-route-qubes > /var/log/vif-watch.log 2>&1 < /dev/null &
      echo $! > /run/vif-watch.pid'
}
kernel_fw_stop() {
  fw 'kill -- -$(cat /run/vif-watch.pid) -$(cat /run/uplink-watch.pid); nft flush ruleset; sysctl -qw net.ipv4.ip_forward=0
      for i in $(ls /sys/class/net | grep ^eth); do ip addr flush dev $i; done
      rmmod xen-netback || echo "rmmod xen-netback failed"'
  uplink_to_xfwd
}

# sys-net destroyed and re-created while an AppVM runs (lab/scenarios/test.sh, perf.sh).
# netcycle_start NAME IP — an AppVM that reports one "T up"/"T down" line, with its uptime, at
# every change of "a page from sys-net arrives"; it has no hotplug handling of its own.
netcycle_start() {
  cat > /tmp/netcycle.sh <<'G'
#!/bin/dash
printf 'GET / HTTP/1.0\r\n\r\n' > /tmp/req
was=none
while :; do
  if nc -w 2 192.168.100.1 80 < /tmp/req 2>/dev/null | grep -q hello; then now=up; else now=down; fi
  [ "$now" = "$was" ] || echo "T $now at $(cut -d. -f1 /proc/uptime)s"
  was=$now; sleep 1
done
G
  LINGER=0 create "$1" "$2" /tmp/netcycle.sh
}
# netcycle_saw NAME WHAT N — the AppVM reported "T WHAT" at least N times.
netcycle_saw() { [ "$(grep -c "T $2" "/var/log/xen/console/guest-$1.log")" -ge "$3" ]; }
# sysnet_restart NAME — sys-net destroyed; once the AppVM NAME sees it gone, sys-net created
# again and, as qubesd does when a netvm starts, sys-firewall's dead uplink vif detached and a
# new one attached, whose backend is the new sys-net. Nothing is done in sys-firewall.
sysnet_restart() {
  local t; t=$(date +%s)
  xl destroy sys-net
  wait_for 20 netcycle_saw "$1" down 1
  start_sysnet
  xl network-detach sys-firewall 0 > /tmp/detach.out 2>&1
  xl network-attach sys-firewall mac=00:16:3e:5e:6c:01 script=/etc/xen/scripts/vif-bridge backend=sys-net > /tmp/attach.out 2>&1
  say "sys-net re-created, sys-firewall's uplink re-attached, in $(( $(date +%s) - t ))s (detach: $(tr '\n' ' ' < /tmp/detach.out); attach: $(tr '\n' ' ' < /tmp/attach.out))"
  wait_for 90 netcycle_saw "$1" up 2
}
# netcycle_outage NAME — seconds of the AppVM's uptime from its first "T down" to its next "T up"
# ("none" if pages never came back).
netcycle_outage() {
  sed -n 's/.*T \([a-z]*\) at \([0-9]*\)s.*/\1 \2/p' "/var/log/xen/console/guest-$1.log" |
    awk '$1 == "down" && !d { d = $2 } $1 == "up" && d { print $2 - d; found = 1; exit } END { if (!found) print "none" }'
}

# The hostile netfront on the real Xen (tests/lab/hostile_netfront.cc): the AppVM "hostile"
# (10.137.0.14) has no kernel netfront; xfw-hostile-netfront is its vif's frontend and replays
# the hostile-frontend suite against xfwd.
hostile_start() {
  cat > /tmp/hostile.sh <<'G'
#!/bin/dash
xfw-hostile-netfront "$(sed -n 's/.*xfw\.ip=\([^ ]*\).*/\1/p' /proc/cmdline)"
echo "T hostile exit $?"
G
  rm -rf /tmp/hostile && mkdir -p /tmp/hostile
  GUEST_ARGS=xfw.netfront=none LINGER=0 create hostile 10.137.0.14 /tmp/hostile.sh
}
# hostile_serve DOMID — dom0's side of its steps: at "after packets" and "after no-rx-buffers"
# the hostile vif's entry of `xfwctl --json vifs` goes to /tmp/hostile/after-NAME (the counters
# of that connection); every step is acknowledged. Until "end" (or 600 s); then what xfwd's
# journal says about the vif goes to /tmp/hostile/journal.
hostile_serve() {
  local d=/local/domain/$1/data/hostile last= s w
  # A watch, not a poll: under TCG every process dom0 starts costs the AppVMs' time.
  rm -f /tmp/hostile.watch && mkfifo /tmp/hostile.watch
  timeout 600 xenstore-watch $d/step > /tmp/hostile.watch & w=$!
  while read -r _; do
    s=$(xenstore-read $d/step 2>/dev/null)
    [ -n "$s" ] && [ "$s" != "$last" ] || continue
    # Counters only where a check needs them (each read is a round trip to sys-firewall):
    # refusals and disconnections are checked in xfwd's journal at the end.
    case "$s" in "after packets"|"after no-rx-buffers") hostile_vif "$1" > "/tmp/hostile/$(echo "$s" | tr ' ' -)" ;; esac
    xenstore-write $d/ack "$s"
    last=$s
    [ "$s" != end ] || break
  done < /tmp/hostile.watch
  kill "$w" 2>/dev/null
  fw "journalctl -u xfwd -o cat | grep 'vif $1\.0: '" > /tmp/hostile/journal
}
hostile_vif() {  # DOMID — that vif's entry of xfwctl --json vifs, on one line
  fw "xfwctl --json vifs | tr '\n' ' ' | sed 's/  */ /g; s/{ \"connected\"/\n&/g' | grep '\"domid\": $1,'"
}
# What xfwd must have done about each attack:
#   drop REASON     that netback reason counted for the vif, which stays connected
#   fatal TEXT      the vif disconnected, the journal says why: "vif D.0: disconnected: TEXT"
#   refused TEXT    the connection refused: "vif D.0: refusing to connect: TEXT" in the journal
#   guest TEXT      the hostile netfront saw TEXT (the frames were served)
#   revoked, storm, no-rx, closed: see hostile_checks
# Each attack has a connection of its own, its counters starting from zero — but for the
# per-packet attacks (HOSTILE_PACKETS), which share one: read once after the last of them
# (after-packets), where their counts add up to exactly HOSTILE_PACKET_DROPS (with R, the
# requests "revoked" saw fail, added to tx_grant_copy_failed's 2).
HOSTILE_PACKETS=" offset offset-wrap runt zero-fragment fragment-overflow size-wrap slots-19 bad-gref gref-of-dom0 revoked ids gso-bad storm "
HOSTILE_PACKET_DROPS='"tx_bad_gso": 1, "tx_fragment_overflow": 2, "tx_grant_copy_failed": 2+R, "tx_runt": 1, "tx_slot_crosses_page": 2, "tx_too_many_slots": 1, "tx_zero_fragment": 1'

HOSTILE_EXPECT='key-ring-ref-garbage refused bad or missing tx-ring-ref/rx-ring-ref
key-ring-ref-not-granted refused cannot map rx-ring-ref 999999
key-event-channel-bad refused cannot bind event channel 99999
key-no-rx-copy refused request-rx-copy must be 1
key-multi-queue refused multi-queue-num-queues must be 1
ring-full-at-connect refused ring indices out of range at connect
offset drop tx_slot_crosses_page
offset-wrap drop tx_slot_crosses_page
runt drop tx_runt
zero-fragment drop tx_zero_fragment
fragment-overflow drop tx_fragment_overflow
size-wrap drop tx_fragment_overflow
slots-19 drop tx_too_many_slots
bad-gref drop tx_grant_copy_failed
gref-of-dom0 drop tx_grant_copy_failed
revoked revoked tx_grant_copy_failed
ids guest 2 ok, 0 error, 0 null responses, ids 0xffff echoed
gso-bad drop tx_bad_gso
storm storm -
no-rx-buffers no-rx rx_queue_full
tx-req-prod fatal tx req_prod moved more than the ring size
tx-req-prod-back fatal tx req_prod moved more than the ring size
rx-req-prod fatal rx req_prod moved more than the ring size
slots-20 fatal 20 or more slots in one packet
beyond-prod fatal packet claims more slots than the guest queued
extra-type-0 fatal extra-info slot with an invalid type or too many extras
close-mid-packet closed -
flap guest ARP answered
works guest connected again, ARP answered'
hostile_count() { sed -n "s/.*\"$1\": \([0-9]*\).*/\1/p" "$2" | head -1 | grep . || echo 0; }  # KEY FILE
# hostile_checks — one check per attack.
hostile_checks() {
  local hl=/var/log/xen/console/guest-hostile.log name kind what a saw ok xf d1 n said seen
  echo "$HOSTILE_EXPECT" | while read -r name kind what; do
    a=/tmp/hostile/after-$name
    case "$HOSTILE_PACKETS" in *" $name "*) a=/tmp/hostile/after-packets ;; esac
    saw=$(sed -n "s/.*T hostile $name: //p" $hl | head -1)
    ok=0 xf=
    case $kind in drop|revoked|no-rx|storm)
      [ -s "$a" ] || { check "hostile netfront: $name ($saw)" sh -c "echo 'xfwd not read after the attack'; false"; continue; } ;;
    esac
    case $kind in
      drop|revoked|no-rx)
        d1=$(hostile_count "$what" "$a")
        xf="$what $d1, $(grep -q '"connected": true' "$a" && echo connected || echo 'NOT connected')"
        case $kind in
          drop) [ "$d1" -ge 1 ] && grep -q '"connected": true' "$a" && ok=1 ;;
          revoked)  # the 8 revoked before failed, and every request that failed was counted
            n=$(echo "$saw" | sed -n 's/.* \([0-9]*\) error.*/\1/p')
            [ "${n:-0}" -ge 8 ] && [ "$d1" = $((n + 2)) ] && echo "$saw" | grep -q ' 0 null' && ok=1 ;;
          no-rx) xf="$xf, rx_stalled $(sed -n 's/.*"rx_stalled": \([a-z]*\).*/\1/p' "$a")"
            [ "$d1" -ge 1 ] && grep -q '"rx_stalled": true' "$a" && grep -q '"connected": true' "$a" && ok=1 ;;
        esac ;;
      fatal|refused)  # as often in the journal as attacks expect it
        n=$(echo "$HOSTILE_EXPECT" | grep -c " $kind $what\$")
        if [ $kind = fatal ]; then said=disconnected seen=disconnected; else said='refusing to connect' seen=refused; fi
        d1=$(grep -cF ": $said: $what" /tmp/hostile/journal)
        xf="journal: $d1 × \"$said: $what\""
        [ "$d1" -ge "$n" ] && echo "$saw" | grep -q "^$seen" && ok=1 ;;
      storm)  # backed off: most notifications never reach xfwd's event loop
        d1=$(hostile_count events "$a"); n=$(echo "$saw" | sed -n 's/^\([0-9]*\) notifications.*/\1/p')
        xf="events $d1, spurious $(hostile_count spurious_events "$a")"
        [ "$(hostile_count spurious_events "$a")" -ge 1 ] && [ $((d1 * 100)) -lt "${n:-0}" ] && echo "$saw" | grep -q "ARP answered" && ok=1 ;;
      closed) echo "$saw" | grep -q "^closed" && ok=1 ;;
      guest) echo "$saw" | grep -qF "$what" && ok=1 ;;
    esac
    check "hostile netfront: $name: it saw $saw${xf:+; xfwd: $xf}" [ "$ok" = 1 ]
  done
  # The per-packet attacks, together: each counted once, under its own reason, nothing else.
  local r got want
  r=$(sed -n 's/.*T hostile revoked: .* \([0-9]*\) error.*/\1/p' $hl)
  want=$(echo "$HOSTILE_PACKET_DROPS" | sed "s/2+R/$(( 2 + ${r:-0} ))/")
  got=$(sed -n 's/.*"netback_drops": { \([^}]*\) }.*/\1/p' /tmp/hostile/after-packets)
  check "hostile netfront: the per-packet attacks on one connection counted exactly { $got } (want { $want })" [ "$got" = "$want" ]
}
