#!/usr/bin/env bash
# A fuzzing campaign: runs targets one after another (never two at once), each for the given
# number of seconds through fuzz/run.sh, at low priority, and appends one line per run to
# fuzz/campaign.log:
#   <UTC time>  <target>  <seconds run>  <exec count>  <crashes>  <slow units>  <exit status>
# usage: fuzz/campaign.sh <seconds> [target...]   (default: every [[bin]] in fuzz/Cargo.toml)
# e.g.   nohup fuzz/campaign.sh 600 &   then   column -t fuzz/campaign.log
# The exec count and seconds are libFuzzer's final "Done N runs in S seconds" (or, when the
# run stopped early on a crash, its last "#N ... exec/s: R" status line: N, and N / R).
# Crashes counts the crash, leak, out-of-memory and timeout files the run added to
# fuzz/artifacts/<target>/; slow units, the inputs libFuzzer reported there as slow (> 10 s).
# The full output of each run is kept in fuzz/target/campaign/<target>-<time>.out.
# Totals per target: fuzz/campaign.sh --summary
set -uo pipefail
cd "$(dirname "$0")"
log=campaign.log

if [ "${1:-}" = "--summary" ]; then
  [ -f "$log" ] || { echo "no $log yet"; exit 0; }
  awk '!/^#/ { secs[$2] += $3; execs[$2] += $4; crashes[$2] += $5; slow[$2] += $6; runs[$2]++ }
       END { printf "%-16s %5s %9s %14s %8s %5s\n", "target", "runs", "seconds", "execs", "crashes", "slow";
             for (t in secs) printf "%-16s %5d %9d %14d %8d %5d\n", t, runs[t], secs[t], execs[t], crashes[t], slow[t] }' "$log" | sort
  exit 0
fi

seconds=${1:?usage: fuzz/campaign.sh <seconds> [target...] | --summary}
shift
if [ $# -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(awk '/^\[\[bin\]\]/ { bin = 1 } bin && /^name *=/ { gsub(/[" ]/, "", $3); print $3; bin = 0 }' Cargo.toml)
fi

mkdir -p target/campaign
[ -f "$log" ] || echo "# time target seconds execs crashes slow exit" >"$log"
for t in "${targets[@]}"; do
  mkdir -p "artifacts/$t"
  count() { find "artifacts/$t" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'oom-*' -o -name 'timeout-*' \) | wc -l; }
  slow() { find "artifacts/$t" -type f -name 'slow-unit-*' | wc -l; }
  before=$(count)
  slow_before=$(slow)
  stamp=$(date -u +%Y%m%dT%H%M%SZ)
  out="target/campaign/$t-$stamp.out"
  # -timeout: an input that takes a minute is a finding (the limits promise bounded time), but
  # the machine is shared, so not less.
  nice -n 10 ./run.sh "$t" "$seconds" -timeout=60 >"$out" 2>&1
  status=$?
  after=$(count)
  slow_after=$(slow)
  # libFuzzer's own count and time when it ends normally; after a crash, its last status
  # line (executions, and executions per second, for the time it ran).
  done_line=$(grep -o 'Done [0-9]* runs in [0-9]* second' "$out" | tail -1)
  if [ -n "$done_line" ]; then
    execs=$(echo "$done_line" | awk '{print $2}')
    ran=$(echo "$done_line" | awk '{print $5}')
  else
    last=$(grep '^#[0-9]' "$out" | tail -1)
    execs=$(echo "$last" | grep -o '^#[0-9]*' | tr -d '#')
    rate=$(echo "$last" | grep -o 'exec/s: [0-9]*' | grep -o '[0-9]*')
    [ -n "$execs" ] || execs=0
    ran=$(( ${rate:-0} > 0 ? execs / rate : 0 ))
  fi
  echo "$stamp $t $ran $execs $((after - before)) $((slow_after - slow_before)) $status" >>"$log"
done
