#!/usr/bin/env bash
# The tools a user reaches for, on the testbed (tests/testbed/lib.sh): `xfwctl capture` piped
# into the real tcpdump while real Linux stacks talk through xfwd.
#   tests/testbed/tools.sh build/release/daemon/xfwd build/release/ctl/xfwctl
# Exit 0 when every check passed, 1 otherwise, 77 (skipped) without root.
set -u
[ "$(id -u)" = 0 ] || { echo "testbed: needs root (network namespaces): skipped"; exit 77; }
XFWD=$(realpath "$1") XFWCTL=$(realpath "$2")
cd "$(dirname "$0")/../.."
source tests/testbed/lib.sh
trap tb_down EXIT
ctl() { "$XFWCTL" --socket "$TB_DIR/control.sock" "$@"; }

TB_LOG_LEVEL=info  # the journal lines of captures
tb_up "$XFWD" || exit 1
echo "ok    both AppVMs attached and reach their gateway"

# capture NAME ARGS...: runs `xfwctl capture ARGS -w -` into tcpdump in the background, its
# stderr in $TB_DIR/NAME.err and tcpdump's lines in $TB_DIR/NAME.txt ($CAP_PID: tcpdump's
# pid, to wait for); returns once xfwd
# has taken the capture (xfwctl says "capturing" after xfwd's reply). Ended (Ctrl-C) after 20 s
# if its count is not reached.
# VMs by address: the testbed's driver domain cannot read their names, as in Qubes.
capture() {
  local name=$1; shift
  timeout -s INT 20 "$XFWCTL" --socket "$TB_DIR/control.sock" capture "$@" -w - 2>"$TB_DIR/$name.err" | tcpdump -nn -r - >"$TB_DIR/$name.txt" 2>&1 &
  CAP_PID=$!
  for _ in $(seq 50); do grep -q capturing "$TB_DIR/$name.err" && return 0; sleep 0.1; done
  cat "$TB_DIR/$name.err"; return 1
}
fetch() { tb_ns "$1" curl -s -o /dev/null --max-time 5 "http://192.168.100.1:${2:-80}/"; }

echo "-- capture"
capture vm 10.137.0.5 --filter 'tcp port 80' --count 6 && fetch work && wait "$CAP_PID"
cat "$TB_DIR/vm.txt"
check "capture 10.137.0.5 (work) | tcpdump -r -: the VM's SYN, as it sent it" \
  grep -Eq '^[0-9:.]+ IP 10\.137\.0\.5\.[0-9]+ > 192\.168\.100\.1\.80: Flags \[S\]' "$TB_DIR/vm.txt"
check "... the answer, as it received it" \
  grep -Eq '^[0-9:.]+ IP 192\.168\.100\.1\.80 > 10\.137\.0\.5\.[0-9]+: Flags \[S\.\]' "$TB_DIR/vm.txt"
check "... --count 6: six frames, none lost" grep -qx '6 frames captured, 0 lost' "$TB_DIR/vm.err"

capture nat 10.137.0.5 --after-nat --filter 'tcp port 80' --count 2 && fetch work && wait "$CAP_PID"
cat "$TB_DIR/nat.txt"
check "capture 10.137.0.5 --after-nat: the same exchange as it is on the uplink (masqueraded)" \
  grep -Eq '^[0-9:.]+ IP 192\.168\.100\.2\.[0-9]+ > 192\.168\.100\.1\.80: Flags \[S\]' "$TB_DIR/nat.txt"
check "... and the answer as it was read from the uplink" \
  grep -Eq '^[0-9:.]+ IP 192\.168\.100\.1\.80 > 192\.168\.100\.2\.[0-9]+: Flags \[S\.\]' "$TB_DIR/nat.txt"

capture up uplink --filter icmp --count 2 && tb_ns work ping -c1 -W2 192.168.100.1 >/dev/null && wait "$CAP_PID"
cat "$TB_DIR/up.txt"
check "capture uplink: a VM's ping, NATed, and its reply" bash -c "
  grep -Eq 'IP 192\.168\.100\.2 > 192\.168\.100\.1: ICMP echo request' $TB_DIR/up.txt &&
  grep -Eq 'IP 192\.168\.100\.1 > 192\.168\.100\.2: ICMP echo reply' $TB_DIR/up.txt"

timeout -s INT 20 "$XFWCTL" --socket "$TB_DIR/control.sock" capture 10.137.0.6 --drops --filter "tcp port 80" --count 1 >"$TB_DIR/drops.txt" 2>&1 &
drops_pid=$!
for _ in $(seq 50); do grep -q capturing "$TB_DIR/drops.txt" && break; sleep 0.1; done
fetch untrusted 80; wait "$drops_pid"
cat "$TB_DIR/drops.txt"
check "capture 10.137.0.6 (untrusted) --drops: the refused SYN with its reason" \
  grep -Eq ' dropped tcp 10\.137\.0\.6:[0-9]+ -> 192\.168\.100\.1:80, 74 bytes \[rule_policy\]$' "$TB_DIR/drops.txt"

# A reader that does not read: xfwd keeps at most 4 MiB for it and counts the rest as lost;
# forwarding goes on at full speed (the downloads are timed, with and without it).
timed_downloads() {  # 4 downloads of 2 MB, each compared; prints the seconds they took
  local t0 t1; t0=$(date +%s.%N)
  for _ in 1 2 3 4; do
    tb_ns work curl -s --max-time 30 http://192.168.100.1/big.bin | cmp - "$TB_DIR/www/big.bin" || return 1
  done
  t1=$(date +%s.%N); echo "$t1 - $t0" | bc
}
free=$(timed_downloads) || free=fail
ctl capture uplink -w - 2>"$TB_DIR/slow.err" | (until [ -f "$TB_DIR/drain" ]; do sleep 0.1; done; cat >/dev/null) &
slow_reader=$!
for _ in $(seq 50); do grep -q capturing "$TB_DIR/slow.err" && break; sleep 0.1; done
stalled=$(timed_downloads) || stalled=fail
echo "4 x 2 MB: ${free} s with no capture, ${stalled} s with a capture whose reader does not read"
check "downloads intact while a capture's reader stalls" test "$stalled" != fail -a "$free" != fail
pkill -INT -f "capture uplink -w -"; touch "$TB_DIR/drain"; wait "$slow_reader"
cat "$TB_DIR/slow.err"
check "... the capture says how many frames it lost" \
  grep -Eq '^[0-9]+ frames captured, [1-9][0-9]* lost \(the reader fell behind' "$TB_DIR/slow.err"
check "... and xfwd did not wait for it (under 3x the time without the capture)" \
  bash -c "[ \$(echo '$stalled < 3 * $free + 1' | bc) = 1 ]"

tb_stop_xfwd
check "no sanitizer report" expect_fail grep -q 'Sanitizer' "$TB_DIR/xfwd.out"
check "captures logged" grep -q 'capture of 10.137.0.5 started (tcp port 80)' "$TB_DIR/xfwd.out"
[ $failed = 0 ] && echo "== testbed tools: all checks passed" || { echo "== testbed tools: FAILED"; cat "$TB_DIR/xfwd.out"; }
exit $failed
