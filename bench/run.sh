#!/usr/bin/env bash
# TARP benchmarks (issue 8): one command, from the repository root or anywhere:
#
#     bash bench/run.sh
#
# It builds the baseline peers (bench/peers, release), builds our benchmark examples when they
# exist, installs wrk (Debian package) if missing, then for each scenario starts every server
# that is built on its own free 127.0.0.1 port, measures them round-robin (round 1: each server
# once, round 2: each once, ...) so that drift hits all alike, kills them, and prints markdown
# tables of medians, min-max and ratios vs peer-hyper and vs limit. Raw outputs and the tables
# go to bench/results/<UTC time>/ (git-ignored).
#
# The machine has 2 cores shared by the server under test and the load generator; nothing is
# pinned. Ratios within one run are the figures to trust; absolute numbers move between runs.
#
# Settings (environment variables, defaults in brackets):
#   RUNS [5]          measured runs per server and scenario (medians are over these)
#   DURATION [5s]     wrk duration of one run;  WARMUP [1s]: one unmeasured wrk run per server
#   CONNS [32]        wrk connections;  WRK_THREADS [2]: wrk threads
#   LAT_N [20000]     sequential requests per latency run (plus 1000 unmeasured)
#   SCENARIOS ["1 2 1m 3 4 5 6"]
#       1   sync RPC add(1, 2), the Python client's exact bytes, keep-alive, CONNS connections
#       2   small JSON GET /small, same load
#       1m  1 MiB bytes GET /bytes1m, same load (the limit-* servers are skipped: they only
#           answer canned bytes)
#       3   async RPC round trip (start, probe, get): ASYNC_CLIENT against ASYNC_SERVERS
#       4   large payload: a LARGE_MB float64 array as an RPC argument to `echo` and back,
#           end to end through our client and server, against one base64 decode + copy of
#           the same bytes measured in the same client process (the unit); peak RSS
#           (VmHWM) of the server and of the client
#       5   sequential latency: tcp-pingpong (raw TCP, same bytes) vs each LAT_CLIENTS entry
#           against each server (a tarp-* client only against tarp-* servers: it starts
#           with the discovery document, which the baselines do not serve)
#       6   10,000 idle keep-alive connections on the smol server: resident memory per
#           connection (IDLE_CMD; the hard open-file limit must be above IDLE_N)
#   SERVERS           "name=command; name=command; ..." with {port} replaced by a free port.
#                     A server whose program is not built is skipped with a note. Defaults:
#                       peer-hyper    bench/peers/target/release/peer-hyper --port {port}
#                       limit         bench/peers/target/release/limit --port {port}
#                       limit-threads bench/peers/target/release/limit-threads --port {port}
#                       limit-smol    bench/peers/target/release/limit-smol --port {port}
#                     (the last two: limit's canned answer on the architectures of our two
#                     servers, a thread per connection and smol: the ceiling of each)
#                       tarp-blocking $OUR_TARGET/release/examples/bench_server --runtime blocking --port {port}
#                       tarp-smol     $OUR_TARGET/release/examples/bench_server --runtime smol --port {port}
#                     (OUR_TARGET = $CARGO_TARGET_DIR or target). A server must bind 127.0.0.1
#                     only and serve: RPC `add` and `echo`, GET `small` returning
#                     {"x":1,"y":[1,2,3]}, GET `bytes1m` returning 1 MiB of bytes.
#   LAT_CLIENTS       "name=command; ..." with {port} and {n}; each prints one line
#                     "p50_us=<float> p99_us=<float> ...". Defaults:
#                       raw           bench/peers/target/release/latency-client --port {port} --n {n}
#                       tarp-blocking $OUR_TARGET/release/examples/bench_client --runtime blocking --port {port} --n {n}
#                       tarp-smol     $OUR_TARGET/release/examples/bench_client --runtime smol --port {port} --n {n}
#                     (the tarp clients call RPC `add(1, 2)` n times sequentially).
#   ASYNC_CLIENT      command with {port} and {n} that runs n async round trips (start, probe,
#                     get) of a job that returns at once and prints "calls_per_s=<float>"
#                     [$OUR_TARGET/release/examples/bench_async --port {port} --n {n}]
#   ASYNC_SERVERS     names from SERVERS that have the async endpoint ["tarp-blocking tarp-smol"]
#   ASYNC_N [2000]    round trips per async run
#   LARGE_CLIENT      command with {port}, {runtime} and {mb}: round trips of a float64 array of
#                     {mb} MB through RPC `echo`, printing "roundtrip_ms=… unit_ms=… ratio=…
#                     client_peak_rss_mb=…" [$OUR_TARGET/release/examples/bench_large
#                     --runtime {runtime} --port {port} --mb {mb} --runs 1]
#   LARGE_SERVERS     names from SERVERS run in scenario 4, each with the client of the same
#                     runtime (the name after "tarp-") ["tarp-blocking tarp-smol"]
#   LARGE_MB [100]    payload of scenario 4, in MB (10^6 bytes)
#   IDLE_CMD          command with {n} for scenario 6, printing "resident memory per idle
#                     connection: X KiB" [$OUR_TARGET/release/examples/idle_conns {n}]
#   IDLE_N [10000]    idle keep-alive connections held in scenario 6
#   OUR_EXAMPLES      examples built in the root workspace when examples/<name>.rs exists
#                     ["bench_server bench_client bench_async bench_large"]; scenario 6 also
#                     builds tarp-smol's example idle_conns
#   BUILD [1]         0 skips every build step (use what is already built)

set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

RUNS=${RUNS:-5}
DURATION=${DURATION:-5s}
WARMUP=${WARMUP:-1s}
CONNS=${CONNS:-32}
WRK_THREADS=${WRK_THREADS:-2}
LAT_N=${LAT_N:-20000}
ASYNC_N=${ASYNC_N:-2000}
SCENARIOS=${SCENARIOS:-"1 2 1m 3 4 5 6"}
BUILD=${BUILD:-1}
OUR_TARGET=${CARGO_TARGET_DIR:-target}
PEERS=bench/peers/target/release
OUR_EXAMPLES=${OUR_EXAMPLES:-"bench_server bench_client bench_async bench_large"}
SERVERS=${SERVERS:-"peer-hyper=$PEERS/peer-hyper --port {port};
  limit=$PEERS/limit --port {port};
  limit-threads=$PEERS/limit-threads --port {port};
  limit-smol=$PEERS/limit-smol --port {port};
  tarp-blocking=$OUR_TARGET/release/examples/bench_server --runtime blocking --port {port};
  tarp-smol=$OUR_TARGET/release/examples/bench_server --runtime smol --port {port}"}
LAT_CLIENTS=${LAT_CLIENTS:-"raw=$PEERS/latency-client --port {port} --n {n};
  tarp-blocking=$OUR_TARGET/release/examples/bench_client --runtime blocking --port {port} --n {n};
  tarp-smol=$OUR_TARGET/release/examples/bench_client --runtime smol --port {port} --n {n}"}
ASYNC_CLIENT=${ASYNC_CLIENT:-"$OUR_TARGET/release/examples/bench_async --port {port} --n {n}"}
ASYNC_SERVERS=${ASYNC_SERVERS:-"tarp-blocking tarp-smol"}
LARGE_CLIENT=${LARGE_CLIENT:-"$OUR_TARGET/release/examples/bench_large --runtime {runtime} --port {port} --mb {mb} --runs 1"}
LARGE_SERVERS=${LARGE_SERVERS:-"tarp-blocking tarp-smol"}
LARGE_MB=${LARGE_MB:-100}
IDLE_CMD=${IDLE_CMD:-"$OUR_TARGET/release/examples/idle_conns {n}"}
IDLE_N=${IDLE_N:-10000}
LUA=bench/wrk/python_client.lua

OUT=bench/results/$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$OUT"
SUMMARY=$OUT/summary.md

say() { printf '%s\n' "$*" | tee -a "$SUMMARY"; }
note() { printf 'note: %s\n' "$*" >&2; printf '%s\n' "$*" >>"$OUT/notes.txt"; }

# ---------------------------------------------------------------------------------- building
if [[ $BUILD == 1 ]]; then
  if ! command -v wrk >/dev/null; then
    echo "== installing wrk" >&2
    if [[ $(id -u) == 0 ]]; then
      apt-get update -qq && apt-get install -y -qq wrk >/dev/null
    else
      sudo apt-get update -qq && sudo apt-get install -y -qq wrk >/dev/null
    fi
  fi
  echo "== building bench/peers (release)" >&2
  cargo build --release --quiet --manifest-path bench/peers/Cargo.toml \
    --target-dir bench/peers/target
  for ex in $OUR_EXAMPLES; do
    if [[ -f examples/$ex.rs || -f examples/$ex/main.rs ]]; then
      echo "== building example $ex (release)" >&2
      cargo build --release --quiet --example "$ex" || note "example $ex failed to build"
    fi
  done
  if [[ " $SCENARIOS " == *" 6 "* ]]; then
    echo "== building example idle_conns of tarp-smol (release)" >&2
    cargo build --release --quiet -p tarp-smol --example idle_conns || note "example idle_conns failed to build"
  fi
fi
command -v wrk >/dev/null || { echo "wrk is not installed (run with BUILD=1)" >&2; exit 1; }

# ---------------------------------------------------------------------------------- helpers
# Splits "a=x; b=y" into parallel arrays NAMES / CMDS (named by the caller's prefix).
parse_list() { # $1 = list, $2 = array prefix
  local -n names=$2_NAMES cmds=$2_CMDS
  names=() cmds=()
  local entry
  IFS=';' read -ra entries <<<"$(tr '\n' ' ' <<<"$1")"
  for entry in "${entries[@]}"; do
    entry=$(sed 's/^ *//; s/ *$//' <<<"$entry")
    [[ -z $entry ]] && continue
    names+=("${entry%%=*}")
    cmds+=("${entry#*=}")
  done
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null && return
  local p
  while :; do
    p=$((20000 + RANDOM % 40000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
}

# The program of a command line (its first word) exists and is executable.
is_built() { local w; read -r w _ <<<"$1"; [[ -x $w ]]; }

fill() { # $1 = template, $2 = port, $3 = n
  local s=${1//\{port\}/$2}
  printf '%s' "${s//\{n\}/${3:-}}"
}

# Starts "$1" (a command line) in its own process group; sets STARTED_PID. Waits until the
# port accepts connections (at most 20 s). Returns 1 if it never did.
start() { # $1 = command line, $2 = port, $3 = log file
  local words
  read -ra words <<<"$1"
  setsid "${words[@]}" >"$3" 2>&1 </dev/null &
  STARTED_PID=$!
  local i
  for ((i = 0; i < 200; i++)); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null; then return 0; fi
    kill -0 "$STARTED_PID" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

stop() { # $1 = pid (a process group leader started by start)
  kill -- "-$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

LIVE_PIDS=()
cleanup() { local p; for p in "${LIVE_PIDS[@]}"; do stop "$p"; done; LIVE_PIDS=(); }
trap cleanup EXIT
trap 'exit 130' INT TERM

median() { sort -g | awk '{v[NR]=$1} END {if (NR==0) print "nan"; else if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'; }
minmax() { sort -g | awk 'NR==1{lo=$1} {hi=$1} END {if (NR) printf "%s–%s", lo, hi}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a+0 > 0 && b+0 > 0) printf "%.2f", a/b; else printf "–" }'; }
cell() { if [[ $1 == nan || -z $1 ]]; then printf 'failed'; else printf '%s' "$1"; fi; }
fmt0() { awk -v a="$1" 'BEGIN { if (a == "nan") print "–"; else printf "%.0f", a }'; }

# Starts the named servers (those built); fills UP_NAMES / UP_PORTS. $1 = scenario tag.
UP_NAMES=() UP_PORTS=()
start_servers() { # $1 = tag, then the names wanted
  local tag=$1; shift
  UP_NAMES=() UP_PORTS=()
  local i name cmd port
  for i in "${!SRV_NAMES[@]}"; do
    name=${SRV_NAMES[$i]} cmd=${SRV_CMDS[$i]}
    [[ " $* " == *" $name "* ]] || continue
    if ! is_built "$cmd"; then note "$name skipped: not built ($cmd)"; continue; fi
    port=$(free_port)
    if ! start "$(fill "$cmd" "$port")" "$port" "$OUT/server-$tag-$name.log"; then
      note "$name skipped: did not start listening on 127.0.0.1:$port (log: $OUT/server-$tag-$name.log)"
      stop "$STARTED_PID"
      continue
    fi
    LIVE_PIDS+=("$STARTED_PID")
    UP_NAMES+=("$name") UP_PORTS+=("$port")
  done
}

# --------------------------------------------------------------------------------- scenarios
SRV_NAMES=() SRV_CMDS=() LAT_NAMES=() LAT_CMDS=()
parse_list "$SERVERS" SRV
parse_list "$LAT_CLIENTS" LAT

# One wrk scenario: $1 = tag, $2 = title, $3 = path, $4 = lua mode, $5 = names to skip.
wrk_scenario() {
  local tag=$1 title=$2 path=$3 mode=$4 skip=${5:-}
  local wanted=() n
  for n in "${SRV_NAMES[@]}"; do [[ " $skip " == *" $n "* ]] || wanted+=("$n"); done
  start_servers "$tag" "${wanted[@]}"
  if [[ ${#UP_NAMES[@]} == 0 ]]; then note "scenario $tag: no server is up"; return; fi
  local i r log
  for i in "${!UP_NAMES[@]}"; do # warm-up, unmeasured
    wrk -t"$WRK_THREADS" -c"$CONNS" -d"$WARMUP" -s "$LUA" \
      "http://127.0.0.1:${UP_PORTS[$i]}$path" -- "$mode" >/dev/null 2>&1 || true
  done
  for ((r = 1; r <= RUNS; r++)); do
    for i in "${!UP_NAMES[@]}"; do
      log=$OUT/wrk-$tag-${UP_NAMES[$i]}-$r.txt
      wrk -t"$WRK_THREADS" -c"$CONNS" -d"$DURATION" -s "$LUA" \
        "http://127.0.0.1:${UP_PORTS[$i]}$path" -- "$mode" >"$log" 2>&1 || true
      echo "   $tag run $r ${UP_NAMES[$i]}: $(awk '/^Requests\/sec:/ {print $2}' "$log") req/s" >&2
    done
  done
  cleanup
  # Table.
  local med base_hyper="" base_limit="" rows=() errs
  declare -A MED
  for i in "${!UP_NAMES[@]}"; do
    n=${UP_NAMES[$i]}
    MED[$n]=$(cat "$OUT"/wrk-"$tag"-"$n"-[0-9]*.txt | awk '/^Requests\/sec:/ {print $2}' | median)
  done
  base_hyper=${MED[peer-hyper]:-}
  base_limit=${MED[limit]:-}
  say ""
  say "### Scenario $tag: $title"
  say ""
  say "wrk -t$WRK_THREADS -c$CONNS -d$DURATION -s $LUA http://127.0.0.1:PORT$path -- $mode; median of $RUNS runs"
  say ""
  say "| server | req/s (median) | min–max | vs peer-hyper | vs limit | errors |"
  say "|---|---:|---:|---:|---:|---|"
  for i in "${!UP_NAMES[@]}"; do
    n=${UP_NAMES[$i]}
    med=${MED[$n]}
    # Any non-2xx answer or socket error makes a run suspect: show it beside the figure.
    errs=$(cat "$OUT"/wrk-"$tag"-"$n"-[0-9]*.txt | awk '
      /Non-2xx or 3xx responses:/ {bad += $NF}
      /Socket errors:/ {gsub(",", ""); sock += $4 + $6 + $8 + $10}
      END {s = ""; if (bad) s = bad " non-2xx"; if (sock) s = s (s ? ", " : "") sock " socket"; print s}')
    say "| $n | $(fmt0 "$med") | $(cat "$OUT"/wrk-"$tag"-"$n"-[0-9]*.txt | awk '/^Requests\/sec:/ {printf "%.0f\n", $2}' | minmax) | $(ratio "$med" "$base_hyper") | $(ratio "$med" "$base_limit") | ${errs:-} |"
  done
}

async_scenario() {
  start_servers 3 $ASYNC_SERVERS
  say ""
  say "### Scenario 3: async RPC round trip (start, probe, get), $ASYNC_N calls, sequential"
  say ""
  if [[ ${#UP_NAMES[@]} == 0 ]]; then say "(pending: no server in ASYNC_SERVERS is built)"; cleanup; return; fi
  if ! is_built "$ASYNC_CLIENT"; then say "(pending: ASYNC_CLIENT not built: $ASYNC_CLIENT)"; cleanup; return; fi
  local i r log
  for ((r = 1; r <= RUNS; r++)); do
    for i in "${!UP_NAMES[@]}"; do
      log=$OUT/async-${UP_NAMES[$i]}-$r.txt
      read -ra words <<<"$(fill "$ASYNC_CLIENT" "${UP_PORTS[$i]}" "$ASYNC_N")"
      "${words[@]}" >"$log" 2>&1 || note "async client failed against ${UP_NAMES[$i]} (log: $log)"
    done
  done
  cleanup
  say "| server | calls/s (median) | min–max |"
  say "|---|---:|---:|"
  local n vals
  for n in "${UP_NAMES[@]}"; do
    vals=$(cat "$OUT"/async-"$n"-[0-9]*.txt | sed -n 's/.*calls_per_s=\([0-9.]*\).*/\1/p')
    say "| $n | $(fmt0 "$(median <<<"$vals")") | $(minmax <<<"$vals") |"
  done
}

latency_scenario() {
  # Baseline: raw TCP ping-pong of the same bytes. Its server is started afresh for each run:
  # the figure is bimodal (about 2x lower when the scheduler puts both ends on one core), and
  # fresh processes let the runs sample where they land instead of repeating one placement.
  local pp=$PEERS/tcp-pingpong
  if ! is_built "$pp"; then note "tcp-pingpong not built"; return; fi
  start_servers 5 "${SRV_NAMES[@]}"
  local r i j log cmd pp_port pairs=()
  for j in "${!LAT_NAMES[@]}"; do
    if is_built "${LAT_CMDS[$j]}"; then
      pairs+=("$j")
    else
      note "latency client ${LAT_NAMES[$j]} skipped: not built (${LAT_CMDS[$j]})"
    fi
  done
  for ((r = 1; r <= RUNS; r++)); do
    pp_port=$(free_port)
    if start "$pp server --port $pp_port" "$pp_port" "$OUT/server-5-tcp-pingpong-$r.log"; then
      "$pp" client --port "$pp_port" --n "$LAT_N" >"$OUT/lat-pingpong-$r.txt" 2>&1 ||
        note "tcp-pingpong client failed (run $r)"
    else
      note "tcp-pingpong server did not start (run $r)"
    fi
    stop "$STARTED_PID"
    for j in "${pairs[@]}"; do
      for i in "${!UP_NAMES[@]}"; do
        if [[ ${LAT_NAMES[$j]} == tarp-* && ${UP_NAMES[$i]} != tarp-* ]]; then continue; fi
        log=$OUT/lat-${LAT_NAMES[$j]}-${UP_NAMES[$i]}-$r.txt
        cmd=$(fill "${LAT_CMDS[$j]}" "${UP_PORTS[$i]}" "$LAT_N")
        read -ra words <<<"$cmd"
        "${words[@]}" >"$log" 2>&1 || note "${LAT_NAMES[$j]} → ${UP_NAMES[$i]} failed (run $r, log: $log)"
      done
    done
  done
  cleanup
  pick() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" "$2"; }
  local pp50 pp99
  pp50=$(for f in "$OUT"/lat-pingpong-*.txt; do pick p50_us "$f"; done | median)
  pp99=$(for f in "$OUT"/lat-pingpong-*.txt; do pick p99_us "$f"; done | median)
  say ""
  say "### Scenario 5: sequential latency, one keep-alive connection, $LAT_N calls, median of $RUNS runs"
  say ""
  say "| client → server | p50 µs | p50 min–max | p99 µs | p50 vs ping-pong | p99 vs ping-pong |"
  say "|---|---:|---:|---:|---:|---:|"
  say "| tcp-pingpong (raw TCP, same bytes) | $(cell "$pp50") | $(for f in "$OUT"/lat-pingpong-*.txt; do pick p50_us "$f"; done | minmax) | $(cell "$pp99") | 1.00 | 1.00 |"
  local p50 p99 files
  for j in "${pairs[@]}"; do
    for i in "${!UP_NAMES[@]}"; do
      if [[ ${LAT_NAMES[$j]} == tarp-* && ${UP_NAMES[$i]} != tarp-* ]]; then continue; fi
      files=("$OUT"/lat-"${LAT_NAMES[$j]}"-"${UP_NAMES[$i]}"-[0-9]*.txt)
      p50=$(for f in "${files[@]}"; do pick p50_us "$f"; done | median)
      p99=$(for f in "${files[@]}"; do pick p99_us "$f"; done | median)
      say "| ${LAT_NAMES[$j]} → ${UP_NAMES[$i]} | $(cell "$p50") | $(for f in "${files[@]}"; do pick p50_us "$f"; done | minmax) | $(cell "$p99") | $(ratio "$p50" "$pp50") | $(ratio "$p99" "$pp99") |"
    done
  done
}

peak_rss_mb() { # $1 = pid: its VmHWM in MB (10^6 bytes)
  awk '/^VmHWM:/ {printf "%.1f", $2 * 1024 / 1e6}' "/proc/$1/status" 2>/dev/null || printf 'nan'
}

large_scenario() {
  say ""
  say "### Scenario 4: ${LARGE_MB} MB float64 array sent to RPC echo and returned, end to end, median of $RUNS runs"
  say ""
  if ! is_built "$LARGE_CLIENT"; then say "(pending: LARGE_CLIENT not built: $LARGE_CLIENT)"; return; fi
  say "unit = one base64 decode + one copy of the same ${LARGE_MB} MB, measured in the client process of each run"
  say ""
  say "| server + client | round trip ms | unit ms | round trip / unit | min–max | server peak RSS MB | client peak RSS MB | server / payload | client / payload |"
  say "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
  local name i r log cmd words port pid runtime
  for name in $LARGE_SERVERS; do
    for i in "${!SRV_NAMES[@]}"; do
      [[ ${SRV_NAMES[$i]} == "$name" ]] || continue
      if ! is_built "${SRV_CMDS[$i]}"; then note "$name skipped: not built"; continue; fi
      runtime=${name#tarp-}
      for ((r = 1; r <= RUNS; r++)); do
        # A fresh server per run: its peak RSS is that of this run alone.
        port=$(free_port)
        if ! start "$(fill "${SRV_CMDS[$i]}" "$port")" "$port" "$OUT/server-4-$name-$r.log"; then
          note "$name did not start (scenario 4, run $r)"; stop "$STARTED_PID"; continue
        fi
        pid=$STARTED_PID
        LIVE_PIDS+=("$pid")
        log=$OUT/large-$name-$r.txt
        cmd=${LARGE_CLIENT//\{runtime\}/$runtime}
        cmd=${cmd//\{mb\}/$LARGE_MB}
        read -ra words <<<"$(fill "$cmd" "$port")"
        "${words[@]}" >"$log" 2>&1 || note "large client failed against $name (run $r, log: $log)"
        echo "server_peak_rss_mb=$(peak_rss_mb "$pid")" >>"$log"
        echo "   4 run $r $name: $(head -1 "$log")" >&2
        cleanup
      done
      local files=("$OUT"/large-"$name"-[0-9]*.txt) trip unit ratio srv cli
      pick4() { for f in "${files[@]}"; do sed -n "s/.*$1=\([0-9.]*\).*/\1/p" "$f"; done; }
      trip=$(pick4 roundtrip_ms | median)
      unit=$(pick4 unit_ms | median)
      ratio=$(pick4 ratio | median)
      srv=$(pick4 server_peak_rss_mb | median)
      cli=$(pick4 client_peak_rss_mb | median)
      say "| $name | $(fmt0 "$trip") | $(fmt0 "$unit") | $(cell "$ratio") | $(pick4 ratio | minmax) | $(fmt0 "$srv") | $(fmt0 "$cli") | $(ratio "$srv" "$LARGE_MB") | $(ratio "$cli" "$LARGE_MB") |"
    done
  done
}

idle_scenario() {
  say ""
  say "### Scenario 6: $IDLE_N idle keep-alive connections on the smol server, median of $RUNS runs"
  say ""
  if ! is_built "$IDLE_CMD"; then say "(pending: IDLE_CMD not built: $IDLE_CMD)"; return; fi
  local r log words
  # The example raises its own soft open-file limit to the hard one; both ends need IDLE_N.
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
  for ((r = 1; r <= RUNS; r++)); do
    log=$OUT/idle-$r.txt
    read -ra words <<<"$(fill "$IDLE_CMD" 0 "$IDLE_N")"
    "${words[@]}" >"$log" 2>&1 || note "idle connections run $r failed (log: $log)"
    echo "   6 run $r: $(grep -i 'per idle connection' "$log")" >&2
  done
  local vals held
  vals=$(for f in "$OUT"/idle-*.txt; do sed -n 's/.*per idle connection: \([0-9.]*\).*/\1/p' "$f"; done)
  held=$(for f in "$OUT"/idle-*.txt; do sed -n 's/.*connections held: \([0-9]*\).*/\1/p' "$f"; done | median)
  say "| connections held | KiB per idle connection (median) | min–max | a new client meanwhile (last run) |"
  say "|---:|---:|---:|---|"
  say "| $(cell "$held") | $(cell "$(median <<<"$vals")") | $(minmax <<<"$vals") | $(sed -n 's/^meanwhile, a new client: //p' "$OUT/idle-$RUNS.txt" 2>/dev/null) |"
}

# ---------------------------------------------------------------------------------- the run
{
  echo "## TARP benchmarks, $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo ""
  echo "- command: \`$(for v in RUNS DURATION CONNS WRK_THREADS LAT_N LARGE_MB IDLE_N SCENARIOS; do printf '%s="%s" ' "$v" "${!v}"; done)bash bench/run.sh\`"
  echo "- commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (dirty tree)')"
  echo "- machine: $(nproc) cores ($(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1)), $(uname -sr); load generator on the same cores, nothing pinned"
  echo "- $(rustc --version), $(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2)"
  echo "- load average at start: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews absolute figures)"
} | tee "$SUMMARY"

for s in $SCENARIOS; do
  echo "== scenario $s" >&2
  case $s in
    1) wrk_scenario 1 "sync RPC add(1, 2), keep-alive, $CONNS connections" /add add ;;
    2) wrk_scenario 2 "small JSON GET, keep-alive, $CONNS connections" /small get ;;
    1m) wrk_scenario 1m "1 MiB bytes GET, keep-alive, $CONNS connections" /bytes1m get "limit limit-threads limit-smol" ;;
    3) async_scenario ;;
    4) large_scenario ;;
    5) latency_scenario ;;
    6) idle_scenario ;;
    *) note "unknown scenario $s" ;;
  esac
done
say ""
say "Load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
if [[ -s $OUT/notes.txt ]]; then
  say ""
  say "Notes:"
  awk '!seen[$0]++ {print "- " $0}' "$OUT/notes.txt" | tee -a "$SUMMARY"
fi
echo "" >&2
echo "tables and raw outputs: $OUT" >&2
