# Sourced by the benchmark scripts: wrk runs and the table of ratios to (a).
# Needs CONNS, DURATION and THREADS.

command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }

run() { # name, then wrk arguments; prints "name rps p50 p99 non2xx"
  local name=$1; shift
  local out
  out=$(wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "$@")
  local rps p50 p99 non2xx
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
  echo "$name $rps $p50 $p99 ${non2xx:-0}"
}

# The results of `run`, the first and the last of them (a) runs: on a shared machine (a) drifts
# by a quarter between runs, so the ratios are taken against the mean of both.
table() {
  local first=$1 last=${*: -1}
  local base
  base=$(awk -v a="$(awk '{print $2}' <<<"$first")" -v b="$(awk '{print $2}' <<<"$last")" \
    'BEGIN {print (a + b) / 2}')
  printf '\n%-16s %12s %10s %10s %10s %8s\n' scenario "req/s" p50 p99 non-2xx "x (a)"
  local r name rps p50 p99 non2xx
  for r in "$@"; do
    read -r name rps p50 p99 non2xx <<<"$r"
    printf '%-16s %12s %10s %10s %10s %8.2f\n' "$name" "$rps" "$p50" "$p99" "$non2xx" \
      "$(awk -v a="$rps" -v b="$base" 'BEGIN {print a / b}')"
  done
  echo "x (a): against the mean of the two (a) runs, $base req/s."
}
