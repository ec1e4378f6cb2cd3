#!/bin/dash
# dom0's in_vm (lab/dom0/lib.sh, behind fw and net) under dash, as in the lab, with the agent's
# side replaced by a long answer: a caller that stops reading early (`fw CMD | grep -m1 X`) must
# not leave the lock behind (it did, and the lab hung waiting for it), and a caller that reads
# everything gets the whole answer and the agent's status.
set -u
. "$(dirname "$0")/../../lab/dom0/lib.sh"
in_vm_locked() { i=0; while [ $i -lt 2000 ]; do echo "line $i"; i=$((i + 1)); done; return 3; }
rm -rf /tmp/in_vm.lock /tmp/in_vm.[0-9]*
n=0
while [ $n -lt 20 ]; do
  first=$(in_vm sys-firewall cmd | head -1)
  [ "$first" = "line 0" ] || { echo "FAIL: first line '$first'"; exit 1; }
  [ ! -d /tmp/in_vm.lock ] || { echo "FAIL: the lock was left behind after an early close (round $n)"; exit 1; }
  n=$((n + 1))
done
in_vm sys-net cmd > /tmp/in_vm_test.out; rc=$?
[ $rc = 3 ] || { echo "FAIL: status $rc, want 3"; exit 1; }
[ "$(wc -l < /tmp/in_vm_test.out)" = 2000 ] && [ "$(tail -1 /tmp/in_vm_test.out)" = "line 1999" ] ||
  { echo "FAIL: answer of $(wc -l < /tmp/in_vm_test.out) lines, want 2000"; exit 1; }
rm -f /tmp/in_vm_test.out
left=$(ls /tmp/in_vm.[0-9]* 2>/dev/null | wc -l)
[ "$left" = 0 ] || { echo "FAIL: $left answer files left in /tmp"; exit 1; }
echo "in_vm: 20 early closes released the lock; a whole answer of 2000 lines with status 3"
