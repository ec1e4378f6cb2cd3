# bench/ir.sh — sourced by the callgrind benchmarks: `ir CMD ARGS...` prints the instructions
# CMD executed (callgrind's program total; exact, the same on every run).
ir() {
  local out; out=$(mktemp)
  valgrind --tool=callgrind --callgrind-out-file="$out" "$@" >/dev/null 2>&1
  local v; v=$(callgrind_annotate "$out" 2>/dev/null | sed -n 's/^ *\([0-9,]*\) .*PROGRAM TOTALS.*/\1/p' | tr -d ,)
  rm -f "$out"; echo "$v"
}
