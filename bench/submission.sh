#!/usr/bin/env bash
# Benchmark of the Sandbox Submission API (issue 3). Not part of the test suite.
#
#   bench/submission.sh            # builds the release binary, runs everything, prints a table
#
# Starts the portal (release build) on a private PostgreSQL cluster in a temporary directory,
# provisions an org with a high quota and threshold, and measures with wrk on loopback:
#   (a) GET /healthz                          the bare actix baseline
#   (b) POST /zscsb/submit, 1 KiB, valid token (accepted and committed)
#   (c) POST /zscsb/submit, malformed token   (refused by the checksum)
#   (d) POST /zscsb/submit, well-formed unknown token (refused by the in-memory gate)
# then the revocation race (bench/revocation.py): instance 2 is hammered with a token while
# instance 1 regenerates it; it reports calls accepted after the regenerate returned.
set -euo pipefail
cd "$(dirname "$0")/.."

CONNS=${CONNS:-32}
DURATION=${DURATION:-10s}
THREADS=${THREADS:-2}
PORT1=${PORT1:-18081}
PORT2=${PORT2:-18082}

source bench/wrk.sh
cargo build --release --quiet
BIN=${CARGO_TARGET_DIR:-target}/release/sandbox-portal

WORK=$(mktemp -d /tmp/sp-bench.XXXXXX)
chmod 755 "$WORK"
export SANDBOX_PORTAL_DATA="$WORK"
export SECRET_KEY="bench-secret-key-bench-secret-key-0123456789"
export RUST_LOG=warn
unset DATABASE_URL
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

read -r ORG TOKEN < <("$BIN" org create --name "Bench Org" --subscription-days 30 \
  --daily-quota 100000000 --abuse-threshold 2000000000 --show-token | paste -sd' ')
export SANDBOX_PORTAL_PASSWORD="plenty of unhurried wrk requests"
"$BIN" user create --username bench-admin --role org_admin --org "$ORG" >/dev/null

# The first process owns the private cluster; the second reuses it.
"$BIN" --bind "127.0.0.1:$PORT1" serve >"$WORK/i1.log" 2>&1 & pids+=($!)
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$PORT1/readyz" >/dev/null && break; sleep 0.1; done
"$BIN" --bind "127.0.0.1:$PORT2" serve >"$WORK/i2.log" 2>&1 & pids+=($!)
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$PORT2/readyz" >/dev/null && break; sleep 0.1; done
curl -fs "http://127.0.0.1:$PORT2/readyz" >/dev/null || { echo "instance 2 did not start:" >&2; cat "$WORK/i2.log" >&2; exit 1; }

URL="http://127.0.0.1:$PORT1"
MALFORMED="sbx_thisisnotavalidtokenatallxxxxxxxxxxxxxx"
UNKNOWN=$(python3 - <<'PY'
import secrets, string, zlib
A = string.digits + string.ascii_uppercase + string.ascii_lowercase
body = "".join(secrets.choice(A) for _ in range(33))
n = zlib.crc32(body.encode()); out = ""
for _ in range(6):
    out = A[n % 62] + out; n //= 62
print("sbx_" + body + out)
PY
)

results=()
results+=("$(run a_healthz "$URL/healthz")")
results+=("$(TOKEN=$TOKEN run b_submit_valid -s bench/submit.lua "$URL/zscsb/submit")")
results+=("$(TOKEN=$MALFORMED run c_malformed -s bench/submit.lua "$URL/zscsb/submit")")
results+=("$(TOKEN=$UNKNOWN run d_unknown -s bench/submit.lua "$URL/zscsb/submit")")
results+=("$(run a_healthz_again "$URL/healthz")")
table "${results[@]}"
echo "(b) expects non-2xx 0; (c) and (d) expect every response to be 401."

# bench/ceiling.sh: its build accepts every value, so the race would measure nothing.
[ -n "${NO_RACE:-}" ] && exit 0
echo
python3 bench/revocation.py "$URL" "http://127.0.0.1:$PORT2" bench-admin "$SANDBOX_PORTAL_PASSWORD" "$ORG" "$TOKEN"
