#!/usr/bin/env bash
# The INSTALLED package under a real systemd as PID 1, without Xen: systemd-nspawn boots a
# Debian 12 root with xfw installed from its .deb (tests/packaging/debian_root.sh), where the
# shipped xfwd.service runs unchanged except for a drop-in that replaces ExecStart with the
# simulated hypervisor (--xen=sim, 2 guests). package_test.sh checks the unit offline; this
# checks what only a running systemd shows:
#   - Type=notify: xfwd reaches READY (active) and its STATUS= text is shown by systemd
#   - the sandbox as applied: CapEff 0, NoNewPrivs 1, Seccomp 2 in /proc/MAINPID/status
#   - the control socket's permissions: xfwctl works for a member of group xfw, not for others
#   - xfwd's journal: a drop summary line, and no libcap-ng / CAP_SETPCAP complaint
#   - restart, Restart=on-failure after SIGKILL, WatchdogSec=20s after SIGSTOP
#   - systemd-analyze security exposure of the running unit <= 2.5
# A oneshot unit in the container (xfw-nspawn-check.service) runs the checks, prints
# "XFW-NSPAWN PASS name" or "XFW-NSPAWN FAIL name: expected ..., saw ..." on the console and
# powers the container off; the console goes to build/nspawn-test.log.
#   tests/packaging/nspawn_test.sh build/release
# Takes about a minute. Needs root (mmdebstrap, nspawn) and Debian's mirror; exit 77 (skipped)
# if not root. The root is build/nspawn-root, removed after a pass, kept after a failure.
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "nspawn test: needs root: skipped"; exit 77; }
build=$(realpath "$1")
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
root=$repo/build/nspawn-root
log=$repo/build/nspawn-test.log
expected_passes=11  # the checks in the container script below
fail() { echo "FAIL  $*"; exit 1; }
ok() { echo "ok    $*"; }

install_tools() {
  command -v systemd-nspawn >/dev/null && command -v mmdebstrap >/dev/null && return
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    systemd-container mmdebstrap >/dev/null || fail "apt-get install systemd-container mmdebstrap"
}

make_deb() {
  (cd "$build" && cpack -G DEB >/dev/null 2>&1) || fail "cpack"
  deb=$(ls "$build"/xfw_*_amd64.deb)
}

build_root() {
  "$here/debian_root.sh" "$deb" "$root" >"$log" 2>&1 || { tail -n 20 "$log"; fail "debian_root.sh"; }
  [ -L "$root/etc/systemd/system/multi-user.target.wants/xfwd.service" ] ||
    fail "the package's postinst did not enable xfwd.service"
}

# Only ExecStart changes; every other directive stays as shipped.
add_sim_dropin() {
  mkdir -p "$root/etc/systemd/system/xfwd.service.d"
  cat >"$root/etc/systemd/system/xfwd.service.d/sim.conf" <<'EOF'
[Service]
ExecStart=
ExecStart=/usr/sbin/xfwd --xen=sim --sim-guests 2 --config /etc/xfw/xfwd.toml
EOF
}

add_users() {
  chroot "$root" useradd --no-create-home --shell /bin/bash --groups xfw alice
  chroot "$root" useradd --no-create-home --shell /bin/bash bob
}

add_check_unit() {
  cat >"$root/etc/systemd/system/xfw-nspawn-check.service" <<'EOF'
[Unit]
Description=xfw package checks under systemd (tests/packaging/nspawn_test.sh)
After=xfwd.service
# Power off when done, also when the script fails or hangs.
SuccessAction=poweroff
FailureAction=poweroff

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/xfw-nspawn-check
StandardOutput=journal+console
StandardError=journal+console
TimeoutStartSec=150

[Install]
WantedBy=multi-user.target
EOF
  ln -sf /etc/systemd/system/xfw-nspawn-check.service \
    "$root/etc/systemd/system/multi-user.target.wants/xfw-nspawn-check.service"
  install -m 0755 /dev/stdin "$root/usr/local/sbin/xfw-nspawn-check" <<'EOF'
#!/bin/bash
# Runs in the booted container as xfw-nspawn-check.service; see tests/packaging/nspawn_test.sh.
set -uo pipefail
pass() { echo "XFW-NSPAWN PASS $*"; }
fail() { echo "XFW-NSPAWN FAIL $*"; }
prop() { systemctl show -p "$1" --value xfwd.service; }
state() { echo "ActiveState=$(prop ActiveState) SubState=$(prop SubState) Result=$(prop Result) MainPID=$(prop MainPID) NRestarts=$(prop NRestarts)"; }
journal() { journalctl -b -u xfwd.service --no-pager -o cat "$@"; }
last_lines() { journal -n "${1:-3}" | tr '\n' '|'; }
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }
# wait_for SECONDS COMMAND...: until COMMAND succeeds; 1 if it did not within SECONDS.
wait_for() {
  local end=$((SECONDS + $1)); shift
  until "$@"; do [ "$SECONDS" -lt "$end" ] || return 1; sleep 0.2; done
}
is_active() { [ "$(prop ActiveState)" = active ]; }
# Active (READY=1 received) with a main process other than $1.
active_again() { local p; p=$(prop MainPID); is_active && [ "$p" != 0 ] && [ "$p" != "$1" ]; }
# The main PID to signal, or FAIL check-name (never "kill 0": that is this script's group).
main_pid_for() {
  local p; p=$(prop MainPID)
  if [ "$p" = 0 ]; then fail "$1: expected a running xfwd to signal, saw $(state)" >&2; return 1; fi
  echo "$p"
}

check_active() {
  if wait_for 15 is_active; then pass "active: Type=notify reached READY ($(state))"
  else fail "active: expected ActiveState=active within 15 s, saw $(state); journal: $(last_lines 5)"; fi
}

check_status_text() {
  local text; text=$(prop StatusText)
  if [ -n "$text" ]; then pass "status-text: StatusText=$text"
  else fail "status-text: expected a STATUS= text in 'systemctl show -p StatusText', saw it empty"; fi
}

check_proc_status() {
  local pid cap nnp sec
  pid=$(prop MainPID)
  cap=$(awk '/^CapEff:/ { print $2 }' "/proc/$pid/status" 2>/dev/null)
  nnp=$(awk '/^NoNewPrivs:/ { print $2 }' "/proc/$pid/status" 2>/dev/null)
  sec=$(awk '/^Seccomp:/ { print $2 }' "/proc/$pid/status" 2>/dev/null)
  if [ "$cap" = 0000000000000000 ] && [ "$nnp" = 1 ] && [ "$sec" = 2 ]; then
    pass "proc-status: /proc/$pid/status CapEff $cap NoNewPrivs $nnp Seccomp $sec"
  else
    fail "proc-status: expected CapEff 0000000000000000 NoNewPrivs 1 Seccomp 2 in /proc/$pid/status, saw CapEff '$cap' NoNewPrivs '$nnp' Seccomp '$sec'"
  fi
}

alice_status() { out=$(runuser -u alice -- xfwctl status 2>&1) && grep -q "vifs: 2 connected" <<<"$out"; }
check_xfwctl_member() {
  local out
  if wait_for 10 alice_status; then pass "xfwctl-member: alice (group xfw): $(grep vifs: <<<"$out")"
  else fail "xfwctl-member: expected 'xfwctl status' as alice (group xfw) to succeed with 'vifs: 2 connected', saw: $(tr '\n' '|' <<<"$out")"; fi
}

check_xfwctl_other() {
  local out rc
  out=$(runuser -u bob -- xfwctl status 2>&1); rc=$?
  if [ "$rc" != 0 ] && grep -qi denied <<<"$out"; then pass "xfwctl-refused: bob (not in xfw): exit $rc: $out"
  else fail "xfwctl-refused: expected 'xfwctl status' as bob (not in xfw) to fail with a 'denied' message, saw exit $rc: $(tr '\n' '|' <<<"$out")"; fi
}

drop_line() { journal | grep -m1 "drops in the last"; }
check_drop_summary() {
  if wait_for 25 drop_line >/dev/null; then pass "drop-summary: $(drop_line)"
  else fail "drop-summary: expected a 'drops in the last' line in journalctl -u xfwd within 25 s, saw: $(last_lines 3)"; fi
}

check_restart() {
  local old t; old=$(prop MainPID); t=$EPOCHREALTIME
  timeout 30 systemctl restart xfwd.service
  if wait_for 5 active_again "$old"; then pass "restart: systemctl restart: MainPID $old -> $(prop MainPID), active in $(elapsed "$t") s"
  else fail "restart: expected a new MainPID (was $old) and active after 'systemctl restart', saw $(state); journal: $(last_lines 5)"; fi
}

check_kill9() {
  local old n t; old=$(main_pid_for restart-on-failure) || return; n=$(prop NRestarts); t=$EPOCHREALTIME
  kill -KILL "$old"
  if wait_for 10 active_again "$old" && [ "$(prop NRestarts)" -gt "$n" ]; then
    pass "restart-on-failure: kill -9 $old: restarted by systemd as $(prop MainPID) in $(elapsed "$t") s, NRestarts $n -> $(prop NRestarts)"
  else fail "restart-on-failure: expected a restart by systemd (NRestarts > $n, new MainPID, active) within 10 s of kill -9 $old, saw $(state); journal: $(last_lines 5)"; fi
}

watchdog_lines() { journal | grep -c "Watchdog timeout"; }
check_watchdog() {
  local old n w t; old=$(main_pid_for watchdog) || return; n=$(prop NRestarts); w=$(watchdog_lines); t=$EPOCHREALTIME
  kill -STOP "$old"
  if wait_for 35 active_again "$old" && [ "$(prop NRestarts)" -gt "$n" ] && [ "$(watchdog_lines)" -gt "$w" ]; then
    pass "watchdog: kill -STOP $old: '$(journal | grep "Watchdog timeout" | tail -n 1)', restarted as $(prop MainPID) after $(elapsed "$t") s, NRestarts $n -> $(prop NRestarts)"
  else
    fail "watchdog: expected 'Watchdog timeout' in the journal and a restart (NRestarts > $n, new MainPID, active) within 35 s of kill -STOP $old, saw after $(elapsed "$t") s $(state); journal: $(last_lines 5)"
    kill -CONT "$old" 2>/dev/null
  fi
}

check_journal_clean() {
  local bad; bad=$(journal | grep -E "libcap-ng|CAP_SETPCAP")
  if [ -z "$bad" ]; then pass "journal-clean: no libcap-ng or CAP_SETPCAP in journalctl -u xfwd ($(journal | wc -l) lines, $(journal | grep -c 'Started xfwd') starts)"
  else fail "journal-clean: expected no libcap-ng or CAP_SETPCAP in journalctl -u xfwd, saw: $(tr '\n' '|' <<<"$bad")"; fi
}

check_exposure() {
  local line level
  line=$(systemd-analyze security --no-pager xfwd.service 2>&1 | grep -o "Overall exposure level for xfwd.service: [0-9.]*")
  level=${line##* }
  if [ -n "$level" ] && awk -v l="$level" 'BEGIN { exit !(l <= 2.5) }'; then pass "exposure: systemd-analyze security: $level (<= 2.5)"
  else fail "exposure: expected systemd-analyze security xfwd.service <= 2.5, saw '${level:-$(systemd-analyze security --no-pager xfwd.service 2>&1 | tail -n 1)}'"; fi
}

# Not a check: xfwd's warnings and errors (each text once, at most 10), for the log.
show_warnings() {
  journal -p warning | awk '!seen[$0]++' | head -n 10 | while read -r l; do echo "XFW-NSPAWN INFO xfwd warning: $l"; done
}

check_active
check_status_text
check_proc_status
check_xfwctl_member
check_xfwctl_other
check_drop_summary
check_restart
check_kill9
check_watchdog
check_exposure
check_journal_clean
show_warnings
echo "XFW-NSPAWN DONE"
EOF
}

boot() {
  local start=$SECONDS
  nspawn_rc=0
  timeout -k 15 240 systemd-nspawn --quiet --keep-unit --register=no --private-network \
    --console=read-only -D "$root" -b </dev/null >"$log" 2>&1 || nspawn_rc=$?
  boot_seconds=$((SECONDS - start))
}

report() {
  local lines passes fails
  lines=$(tr -d '\r' <"$log" | grep -o "XFW-NSPAWN .*" || true)
  [ -z "$lines" ] || while read -r l; do echo "      $l"; done <<<"$lines"
  passes=$(grep -c "^XFW-NSPAWN PASS " <<<"$lines" || true)
  fails=$(grep -c "^XFW-NSPAWN FAIL " <<<"$lines" || true)
  if [ "$nspawn_rc" != 0 ]; then
    tr -d '\r' <"$log" | grep -v "XFW-NSPAWN" | tail -n 30
    fail "systemd-nspawn exited $nspawn_rc after $boot_seconds s (124: timeout: no poweroff within 240 s); $passes of $expected_passes checks passed, $fails failed (console: $log, root kept: $root)"
  fi
  if [ "$fails" != 0 ] || [ "$passes" -lt "$expected_passes" ]; then
    [ -n "$lines" ] || tr -d '\r' <"$log" | tail -n 30
    fail "in the container: $passes of $expected_passes checks passed, $fails failed (console: $log, root kept: $root)"
  fi
  ok "booted with systemd as PID 1 in $boot_seconds s: all $passes checks passed (console: $log)"
}

install_tools
make_deb
build_root
add_sim_dropin
add_users
add_check_unit
ok "Debian 12 root with $(basename "$deb") installed, the sim drop-in, users alice (xfw) and bob"
boot
report
rm -rf "$root"
