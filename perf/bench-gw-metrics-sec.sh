#!/usr/bin/env bash
# perf/bench-gw-metrics-sec.sh [BUILD_DIR]: per-request cost of gateway/metrics and
# gateway/security (series lookup, observe, bearer check, rate limit, CORS, Host check, request
# id) and the time and size of one /metrics and /api/metrics scrape (perf/gw_metrics_sec.c).
# No gate: the figures are for comparison between commits.
#   N (default 1000000 operations), ROUTES (20), SERVERS (10), TOOLS (100).
# Build first, in Release for meaningful numbers:
#   cmake -S . -B build-rel -DCMAKE_BUILD_TYPE=Release && cmake --build build-rel --target gw_metrics_sec
set -euo pipefail
build=${1:-${BUILD_DIR:-build}}
bin="$build/bin/gw_metrics_sec"
if [[ ! -x $bin ]]; then
  echo "bench-gw-metrics-sec: $bin not found; build the gw_metrics_sec target first" >&2
  exit 2
fi
exec "$bin" -n "${N:-1000000}" -r "${ROUTES:-20}" -s "${SERVERS:-10}" -t "${TOOLS:-100}"
