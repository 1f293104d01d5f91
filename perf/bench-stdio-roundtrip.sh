#!/usr/bin/env bash
# perf/bench-stdio-roundtrip.sh [BUILD_DIR]: N sequential `ping` round trips from mcp_client to a
# C stdio MCP server built from the framework (perf/stdio_rtt.c), RUNS times; prints each run and
# the median of each percentile. Target: median p50 <= 30 us (TARGET_P50_US). With --gate the
# exit code is 1 when the target is missed.
#   N (default 100000), RUNS (default 3), TARGET_P50_US (default 30).
# Build first, in Release for meaningful numbers:
#   cmake -S . -B build-rel -DCMAKE_BUILD_TYPE=Release && cmake --build build-rel --target stdio_rtt
set -euo pipefail
gate=0
args=()
for a in "$@"; do
  if [[ $a == --gate ]]; then gate=1; else args+=("$a"); fi
done
build=${args[0]:-${BUILD_DIR:-build}}
n=${N:-100000}
runs=${RUNS:-3}
target=${TARGET_P50_US:-30}
bin="$build/bin/stdio_rtt"
if [[ ! -x $bin ]]; then
  echo "bench-stdio-roundtrip: $bin not found; build the stdio_rtt target first" >&2
  exit 2
fi
results=()
for ((i = 1; i <= runs; i++)); do
  line=$("$bin" -n "$n")
  echo "run $i: $line"
  results+=("$line")
done
median() { # key
  printf '%s\n' "${results[@]}" | sed -n "s/.* $1=\([0-9.]*\).*/\1/p" | sort -g |
    awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}
p50=$(median p50_us)
p90=$(median p90_us)
p99=$(median p99_us)
echo "median of $runs runs (n=$n): p50_us=$p50 p90_us=$p90 p99_us=$p99 (target p50 <= $target us)"
if ((gate)) && awk -v a="$p50" -v b="$target" 'BEGIN { exit !(a > b) }'; then
  echo "bench-stdio-roundtrip: p50 $p50 us is above the target $target us" >&2
  exit 1
fi
