#!/usr/bin/env bash
# perf/bench-gw-route.sh [BUILD_DIR]: the gateway routing layer's own cost (perf/gw_route.c):
# catalog rebuild time (SOURCES x TOOLS, every bare name a conflict), name resolution per
# lookup (namespaced, LLM, bare), and sequential in-process tools/call round trips straight
# through mcp_client vs through gw_agg_call_tool (registry + upstream + aggregator). No gate:
# the figures are for comparison between commits.
#   N (default 20000 calls), SOURCES (10), TOOLS (100).
# Build first, in Release for meaningful numbers:
#   cmake -S . -B build-rel -DCMAKE_BUILD_TYPE=Release && cmake --build build-rel --target gw_route
set -euo pipefail
build=${1:-${BUILD_DIR:-build}}
bin="$build/bin/gw_route"
if [[ ! -x $bin ]]; then
  echo "bench-gw-route: $bin not found; build the gw_route target first" >&2
  exit 2
fi
exec "$bin" -n "${N:-20000}" -s "${SOURCES:-10}" -t "${TOOLS:-100}"
