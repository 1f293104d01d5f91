#!/usr/bin/env bash
# perf/bench-llm.sh [BUILD_DIR]: the mock LLM's planner in process (plan/sql, plan/answer,
# plan/github) and a chat completion through the gateway's llm_client to `mcp-mock llm` over
# 127.0.0.1 (http/chat), N sequential operations per case (perf/llm_rtt.c); prints
# p50/p90/p99/max and operations per second. No gate: the figures are for comparison.
#   N (default 2000).
# Build first, in Release for meaningful numbers:
#   cmake -S . -B build-rel -DCMAKE_BUILD_TYPE=Release && cmake --build build-rel --target llm_rtt
set -euo pipefail
build=${1:-${BUILD_DIR:-build}}
bin="$build/bin/llm_rtt"
if [[ ! -x $bin ]]; then
  echo "bench-llm: $bin not found; build the llm_rtt target first" >&2
  exit 2
fi
exec "$bin" -n "${N:-2000}"
