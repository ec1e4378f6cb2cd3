# The lab's soak (lab/soak.sh; sourced by dom0's init): lib.sh's soak for xfw.soak= seconds on
# the kernel command line (default 600), with the hostile netfront beside it at the start, then
# their checks. The system tests run a short one.
secs=$(sed -n 's/.*xfw\.soak=\([0-9]*\).*/\1/p' /proc/cmdline)
t0=$(date +%s)
SOAK_HOSTILE=1 soak "${secs:-600}"
soak_checks
hostile_checks
fw 'xfwctl stats'
say "soak took $(( $(date +%s) - t0 ))s"
