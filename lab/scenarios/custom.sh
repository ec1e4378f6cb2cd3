# scripts/demo --guest-script FILE: an AppVM "guest" (10.137.0.8, rules: accept everything)
# runs FILE; its output is printed, then xfwctl's view.
LINGER=5
create guest 10.137.0.8 /guest/scenarios/guest-script.sh
wait_guest guest
fw 'xfwctl vifs'
fw 'xfwctl stats'
