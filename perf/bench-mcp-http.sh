#!/usr/bin/env bash
# perf/bench-mcp-http.sh [BUILD_DIR]: keep-alive throughput of the MCP Streamable HTTP transport
# (core/mcp_http_server) with wrk. Starts mcp-test-http-server on a free 127.0.0.1 port (from
# its READY line), opens one session with curl (initialize + notifications/initialized), then
# runs `wrk -t2 -c64 -d10s` POSTing tools/call echo on that session RUNS times per mode:
#   json  the answer is ready at once: application/json
#   sse   the same call with the server started --always-sse: a text/event-stream answer
#         (complete at once, so one response with a Content-Length)
#   async tools/call slow_echo ms=0 (answered from a timer): a chunked SSE stream
# and prints each run (req/s, latency avg/p50/p99) and the median req/s per mode. Stops the
# server by its PID. Nothing is gated: the numbers are for the report.
#   RUNS (default 3), DURATION (default 10s), THREADS (2), CONNS (64).
# Build first, in Release for meaningful numbers:
#   cmake -S . -B build-rel -DCMAKE_BUILD_TYPE=Release && cmake --build build-rel --target mcp-test-http-server
set -euo pipefail
build=${1:-${BUILD_DIR:-build}}
runs=${RUNS:-3}
duration=${DURATION:-10s}
threads=${THREADS:-2}
conns=${CONNS:-64}
bin="$build/bin/mcp-test-http-server"
here=$(cd "$(dirname "$0")" && pwd)
[[ -x $bin ]] || { echo "bench-mcp-http: $bin not found; build mcp-test-http-server first" >&2; exit 2; }
command -v wrk >/dev/null || { echo "bench-mcp-http: wrk is not installed" >&2; exit 2; }
command -v curl >/dev/null || { echo "bench-mcp-http: curl is not installed" >&2; exit 2; }

work=$(mktemp -d)
pid=
cleanup() {
  if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

bench_mode() {
  local mode=$1 call=$2
  shift 2
  MCP_LOG_LEVEL=warn "$bin" --port 0 "$@" >"$work/out" 2>"$work/err" &
  pid=$!
  local url=
  for _ in $(seq 1 100); do
    url=$(awk '/^READY/ { print $2 }' "$work/out")
    [[ -n $url ]] && break
    kill -0 "$pid" 2>/dev/null || { cat "$work/err" >&2; exit 1; }
    sleep 0.05
  done
  [[ -n $url ]] || { echo "bench-mcp-http: no READY line" >&2; exit 1; }
  local hdrs=(-H 'Accept: application/json, text/event-stream' -H 'Content-Type: application/json')
  curl -s -D "$work/h" -o /dev/null "${hdrs[@]}" "$url" -d \
    '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"wrk","version":"1"}}}'
  local sid
  sid=$(awk 'tolower($1) == "mcp-session-id:" { gsub("\r", "", $2); print $2 }' "$work/h")
  [[ -n $sid ]] || { echo "bench-mcp-http: no session id" >&2; exit 1; }
  curl -s -o /dev/null "${hdrs[@]}" -H "Mcp-Session-Id: $sid" -H 'MCP-Protocol-Version: 2025-11-25' \
    "$url" -d '{"jsonrpc":"2.0","method":"notifications/initialized"}'
  local check
  check=$(curl -s "${hdrs[@]}" -H "Mcp-Session-Id: $sid" "$url" -d "$call")
  [[ $check == *'"text":"hello"'* ]] || { echo "bench-mcp-http: echo does not answer: $check" >&2; exit 1; }
  local rps_all=() i
  for ((i = 1; i <= runs; i++)); do
    MCP_SID=$sid MCP_BODY=$call MCP_EXPECT='"text":"hello"' \
      wrk -t"$threads" -c"$conns" -d"$duration" --latency -s "$here/mcp-http-post.lua" "$url" >"$work/wrk"
    local rps avg p50 p99 errs
    rps=$(awk '/^Requests\/sec:/ { print $2 }' "$work/wrk")
    avg=$(awk '$1 == "Latency" { print $2; exit }' "$work/wrk")
    p50=$(awk '$1 == "50%" { print $2 }' "$work/wrk")
    p99=$(awk '$1 == "99%" { print $2 }' "$work/wrk")
    errs=$(awk '/Non-2xx|Socket errors|bad answers: [1-9]/ { printf "%s ", $0 }' "$work/wrk")
    echo "$mode run $i: req/s=$rps latency avg=$avg p50=$p50 p99=$p99 ${errs}"
    rps_all+=("$rps")
  done
  local median
  median=$(printf '%s\n' "${rps_all[@]}" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
  echo "$mode median of $runs runs (wrk -t$threads -c$conns -d$duration): req/s=$median"
  kill -TERM "$pid"
  wait "$pid" || { echo "bench-mcp-http: server exited with an error" >&2; exit 1; }
  pid=
}

echo_call='{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}'
slow_call='{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"slow_echo","arguments":{"text":"hello","ms":0}}}'
bench_mode json "$echo_call"
bench_mode sse "$echo_call" --always-sse
bench_mode async "$slow_call"
