#!/usr/bin/env bash
# perf/bench-mock.sh [BUILD_DIR]: throughput and latency of a cheap tools/call
# (`test_simple_text`) on `mcp-mock everything`, RUNS times each; prints every run and the
# medians.
#   HTTP: wrk (perf/mock-call.lua) on one Streamable HTTP session over keep-alive connections,
#         CONNS connections, WRK_THREADS threads, DURATION seconds. Target >= 20000 calls/s
#         (TARGET_HTTP_RPS).
#   stdio: perf/mock_call_rtt, N sequential calls through mcp_client over stdio. Target
#         p50 <= 50 us (TARGET_STDIO_P50_US).
# With --gate the exit code is 1 when a target is missed. Needs wrk and curl for the HTTP part
# (skipped with a message when missing).
#   RUNS (3), CONNS (32), WRK_THREADS (1), DURATION (5), N (50000).
# Build first, in Release for meaningful numbers:
#   cmake -S . -B build-rel -DCMAKE_BUILD_TYPE=Release
#   cmake --build build-rel --target mcp-mock mock_call_rtt
set -euo pipefail
gate=0
args=()
for a in "$@"; do
  if [[ $a == --gate ]]; then gate=1; else args+=("$a"); fi
done
build=${args[0]:-${BUILD_DIR:-build}}
here=$(cd "$(dirname "$0")" && pwd)
runs=${RUNS:-3}
conns=${CONNS:-32}
threads=${WRK_THREADS:-1}
duration=${DURATION:-5}
n=${N:-50000}
target_rps=${TARGET_HTTP_RPS:-20000}
target_p50=${TARGET_STDIO_P50_US:-50}
mock=$build/bin/mcp-mock
rtt=$build/bin/mock_call_rtt
for f in "$mock" "$rtt"; do
  if [[ ! -x $f ]]; then
    echo "bench-mock: $f not found; build the mcp-mock and mock_call_rtt targets first" >&2
    exit 2
  fi
done

to_us() { # wrk latency (e.g. 563.00us, 1.63ms, 2.01s) -> microseconds
  awk -v v="$1" 'BEGIN {
    n = v + 0
    if (v ~ /us$/) print n; else if (v ~ /ms$/) print n * 1000; else if (v ~ /s$/) print n * 1e6; else print n
  }'
}

median() { # values...
  printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

work=$(mktemp -d)
pid=
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
  [[ -n $pid ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
missed=0

# ---- HTTP ----
if command -v wrk >/dev/null && command -v curl >/dev/null; then
  "$mock" everything --transport http --listen 127.0.0.1:0 --log-level warn \
    --ready-file "$work/url" >"$work/mock.out" 2>"$work/mock.err" &
  pid=$!
  for ((i = 0; i < 200; i++)); do
    [[ -s $work/url ]] && break
    sleep 0.05
  done
  url=$(cat "$work/url")
  hdr=(-H 'Accept: application/json, text/event-stream' -H 'Content-Type: application/json')
  session=$(curl -s -D - -o /dev/null "${hdr[@]}" "$url" -d \
    '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}' |
    sed -n 's/^[Mm]cp-[Ss]ession-[Ii]d: *\([^\r]*\).*/\1/p')
  [[ -n $session ]] || {
    echo "bench-mock: no session id from $url" >&2
    exit 1
  }
  curl -s -o /dev/null "${hdr[@]}" -H "Mcp-Session-Id: $session" "$url" \
    -d '{"jsonrpc":"2.0","method":"notifications/initialized"}'
  rps=()
  p50=()
  p99=()
  for ((r = 1; r <= runs; r++)); do
    out=$(wrk -t"$threads" -c"$conns" -d"${duration}s" --latency -s "$here/mock-call.lua" "$url" \
      -- "$session")
    fails=$(sed -n 's/^mcp_failures=\([0-9]*\).*/\1/p' <<<"$out")
    errors=$(grep -cE 'Non-2xx|Socket errors' <<<"$out" || true)
    v=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
    l50=$(to_us "$(awk '$1 == "50%" { print $2 }' <<<"$out")")
    l99=$(to_us "$(awk '$1 == "99%" { print $2 }' <<<"$out")")
    echo "http run $r: calls_per_s=$v p50_us=$l50 p99_us=$l99 failures=${fails:-?} errors=$errors"
    if [[ ${fails:-1} != 0 || $errors != 0 ]]; then
      echo "$out" >&2
      echo "bench-mock: failed calls in the HTTP run" >&2
      exit 1
    fi
    rps+=("$v")
    p50+=("$l50")
    p99+=("$l99")
  done
  m=$(median "${rps[@]}")
  echo "http median of $runs runs (conns=$conns threads=$threads ${duration}s): calls_per_s=$m" \
    "p50_us=$(median "${p50[@]}") p99_us=$(median "${p99[@]}") (target >= $target_rps calls/s)"
  awk -v a="$m" -v b="$target_rps" 'BEGIN { exit !(a < b) }' && missed=1
  kill "$pid"
  wait "$pid" || {
    echo "bench-mock: mcp-mock did not exit cleanly" >&2
    exit 1
  }
  pid=
else
  echo "bench-mock: wrk or curl not installed; HTTP part skipped" >&2
fi

# ---- stdio ----
results=()
for ((r = 1; r <= runs; r++)); do
  line=$("$rtt" -n "$n" -- "$mock" everything --log-level warn)
  echo "stdio run $r: $line"
  results+=("$line")
done
smed() { # key
  local vals
  mapfile -t vals < <(printf '%s\n' "${results[@]}" | sed -n "s/.* $1=\([0-9.]*\).*/\1/p")
  median "${vals[@]}"
}
p50s=$(smed p50_us)
echo "stdio median of $runs runs (n=$n): calls_per_s=$(smed calls_per_s) p50_us=$p50s" \
  "p90_us=$(smed p90_us) p99_us=$(smed p99_us) (target p50 <= $target_p50 us)"
awk -v a="$p50s" -v b="$target_p50" 'BEGIN { exit !(a > b) }' && missed=1

if ((gate && missed)); then
  echo "bench-mock: a target was missed" >&2
  exit 1
fi
exit 0
