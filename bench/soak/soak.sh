#!/usr/bin/env bash
# The soak (issue 9): for each server (blocking, smol), SOAK_MINUTES (default 15) of mixed
# load on 127.0.0.1 against `tarp demo`, then a printed summary per server: requests served
# by kind, refusals by kind (all expected), vanishing and slow clients, unexpected errors
# (must be none), resident memory / open file descriptors / threads of the server at the
# start, every minute, the middle, the end of the load and once the clients are gone.
#
#   bench/soak/soak.sh                     # both servers, 15 minutes each
#   SOAK_MINUTES=5 bench/soak/soak.sh smol # one server, 5 minutes
#
# Environment: SOAK_MINUTES (default 15; SOAK_SECONDS overrides it), SOAK_WORKERS (default 6), SOAK_DELAY (the demo's
# simulated work time in seconds, default 0.1), SOAK_RESULTS (directory for the summaries,
# default bench/soak/summaries), CARGO_TARGET_DIR (where the release build goes).
# Exit status: 0 when every server's verdict is OK. The load driver is bench/soak/load.py
# (Python 3 standard library, plus numpy to check rpcExample's arrays).
set -euo pipefail
cd "$(dirname "$0")/../.."

minutes=${SOAK_MINUTES:-15}
seconds=${SOAK_SECONDS:-$((minutes * 60))}
workers=${SOAK_WORKERS:-6}
delay=${SOAK_DELAY:-0.1}
results=${SOAK_RESULTS:-bench/soak/summaries}
runtimes=("$@")
[ ${#runtimes[@]} -gt 0 ] || runtimes=(blocking smol)

cargo build --release --quiet --bin tarp
bin="${CARGO_TARGET_DIR:-target}/release/tarp"
# What was built: the commit, marked when the working tree differed from it.
rev=$(git rev-parse --short HEAD)
git diff --quiet HEAD -- Cargo.toml Cargo.lock src tarp-core tarp-blocking tarp-smol || rev="$rev+local changes"
mkdir -p "$results"

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

status=0
for rt in "${runtimes[@]}"; do
  port=$(free_port)
  log=$(mktemp)
  "$bin" demo --runtime "$rt" --bind 127.0.0.1 --port "$port" --delay "$delay" >"$log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1).close()" 2>/dev/null && break
    sleep 0.1
  done
  stamp=$(date -u +%Y%m%dT%H%M%SZ)
  out="$results/$rt-$stamp.txt"
  {
    echo "soak of tarp demo --runtime $rt ($rev, $(nproc) cores, $stamp)"
    echo "load: $seconds s, demo delay $delay s"
  } >"$out"
  set +e
  python3 bench/soak/load.py --url "http://127.0.0.1:$port" --pid "$pid" \
    --seconds "$seconds" --workers "$workers" --json "$results/$rt-$stamp.json" >>"$out"
  rc=$?
  set -e
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  {
    echo "server log (last lines):"
    grep -v "^\[" "$log" | tail -3 | sed 's/^/  /'
    echo "warn lines in the server log: $(grep -c WARN "$log" || true)"
  } >>"$out"
  rm -f "$log"
  echo "== $rt"
  cat "$out"
  [ $rc -eq 0 ] || status=1
done
exit $status
