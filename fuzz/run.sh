#!/usr/bin/env bash
# Runs one fuzz target for N seconds on this machine's stable toolchain:
#   fuzz/run.sh <target> <seconds> [extra libFuzzer flags...]
# e.g. fuzz/run.sh http_server 600. Seeds come from fuzz/corpus/<target>/ (read only);
# what the fuzzer finds goes to fuzz/target/corpus/<target>/, crashes to
# fuzz/artifacts/<target>/. The last line libFuzzer prints ("Done N runs in S second(s)")
# is the exec count.
set -euo pipefail
usage="usage: fuzz/run.sh <target> <seconds> [libFuzzer flags...]"
target=${1:?$usage}
seconds=${2:?$usage}
shift 2
cd "$(dirname "$0")"

command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
# cargo-fuzz needs nightly flags (-Z sanitizer, ...); the stable compiler accepts them with
# RUSTC_BOOTSTRAP=1.
export RUSTC_BOOTSTRAP=1

work="target/corpus/$target"
mkdir -p "$work" "corpus/$target"
# The first corpus directory receives new inputs; the checked-in seeds stay untouched.
exec cargo fuzz run "$target" "$work" "corpus/$target" -- -max_total_time="$seconds" "$@"
