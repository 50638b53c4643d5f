#!/usr/bin/env bash
# The floor under (b): what a bare actix-web app (bench/floor.rs, none of the portal's code)
# reaches on this machine, as ratios to its own /healthz in the same run, for each part that
# every design of an accepted submission must have: reading a 1 KiB POST and answering JSON,
# hashing it, and handing it to a thread that talks to the database. Compare with (b) of
# bench/submission.sh and bench/ceiling.sh. Not part of the test suite.
#
#   bench/floor.sh
set -euo pipefail
cd "$(dirname "$0")/.."

CONNS=${CONNS:-32}
DURATION=${DURATION:-10s}
THREADS=${THREADS:-2}
PORT=${PORT:-18090}

source bench/wrk.sh
cargo build --release --quiet --example floor
"${CARGO_TARGET_DIR:-target}/release/examples/floor" "127.0.0.1:$PORT" & pid=$!
trap 'kill "$pid" 2>/dev/null || true' EXIT
URL="http://127.0.0.1:$PORT"
for _ in $(seq 100); do curl -fs "$URL/healthz" >/dev/null && break; sleep 0.1; done

export TOKEN=unused
results=()
results+=("$(run a_healthz "$URL/healthz")")
for path in bare hashed handoff hashed-handoff; do
  results+=("$(run "$path" -s bench/submit.lua "$URL/$path")")
done
results+=("$(run a_healthz_again "$URL/healthz")")
table "${results[@]}"
echo "Every POST expects non-2xx 0. hashed-handoff is the least that (b) costs before any database work."
