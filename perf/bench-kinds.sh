#!/usr/bin/env bash
# perf/bench-kinds.sh [BUILD_DIR]: sequential tools/call round trips to the database and github
# mock kinds in process (perf/kind_call_rtt.c: client <-> loopback <-> server, no sockets), N
# calls per case; prints p50/p90/p99/max and calls per second for each case. No gate: the
# figures are for comparison between commits.
#   N (default 2000).
# Build first, in Release for meaningful numbers:
#   cmake -S . -B build-rel -DCMAKE_BUILD_TYPE=Release && cmake --build build-rel --target kind_call_rtt
set -euo pipefail
build=${1:-${BUILD_DIR:-build}}
bin="$build/bin/kind_call_rtt"
if [[ ! -x $bin ]]; then
  echo "bench-kinds: $bin not found; build the kind_call_rtt target first" >&2
  exit 2
fi
exec "$bin" -n "${N:-2000}"
