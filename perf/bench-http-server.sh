#!/usr/bin/env bash
# perf/bench-http-server.sh [--gate] [BUILD_DIR]: keep-alive throughput of http_server.
# Starts perf/http_hello on a free 127.0.0.1 port, polls until GET /hello answers, runs
# `wrk -t2 -c64 -d10s` RUNS times, prints each run (req/s, latency avg/p50/p99) and the median
# req/s, then stops the server by its PID. Target: TARGET_RPS (default 50000) on 2 cores; with
# --gate the exit code is 1 when the median misses it.
#   RUNS (default 3), DURATION (default 10s), THREADS (2), CONNS (64), TARGET_RPS (50000).
# Build first, in Release for meaningful numbers:
#   cmake -S . -B build-rel -DCMAKE_BUILD_TYPE=Release && cmake --build build-rel --target http_hello
set -euo pipefail
gate=0
args=()
for a in "$@"; do
  if [[ $a == --gate ]]; then gate=1; else args+=("$a"); fi
done
build=${args[0]:-${BUILD_DIR:-build}}
runs=${RUNS:-3}
duration=${DURATION:-10s}
threads=${THREADS:-2}
conns=${CONNS:-64}
target=${TARGET_RPS:-50000}
bin="$build/bin/http_hello"
if [[ ! -x $bin ]]; then
  echo "bench-http-server: $bin not found; build the http_hello target first" >&2
  exit 2
fi
command -v wrk >/dev/null || { echo "bench-http-server: wrk is not installed" >&2; exit 2; }

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

"$bin" --port 0 >"$work/out" 2>"$work/err" &
pid=$!
port=
for _ in $(seq 1 100); do
  port=$(sed -n 's/^port=\([0-9]*\)$/\1/p' "$work/out")
  [[ -n $port ]] && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/err" >&2; exit 1; }
  sleep 0.05
done
[[ -n $port ]] || { echo "bench-http-server: server did not report its port" >&2; exit 1; }
url="http://127.0.0.1:$port/hello"
for _ in $(seq 1 100); do
  [[ $(curl -s -o /dev/null -w '%{http_code}' "$url" || true) == 200 ]] && break
  sleep 0.05
done
[[ $(curl -s "$url") == '{"ok":true}' ]] || { echo "bench-http-server: $url does not answer" >&2; exit 1; }

rps_all=()
for ((i = 1; i <= runs; i++)); do
  wrk -t"$threads" -c"$conns" -d"$duration" --latency "$url" >"$work/wrk"
  rps=$(awk '/^Requests\/sec:/ { print $2 }' "$work/wrk")
  avg=$(awk '$1 == "Latency" { print $2; exit }' "$work/wrk")
  p50=$(awk '$1 == "50%" { print $2 }' "$work/wrk")
  p99=$(awk '$1 == "99%" { print $2 }' "$work/wrk")
  errs=$(awk '/Non-2xx|Socket errors/ { printf "%s ", $0 }' "$work/wrk")
  echo "run $i: req/s=$rps latency avg=$avg p50=$p50 p99=$p99 ${errs}"
  rps_all+=("$rps")
done
median=$(printf '%s\n' "${rps_all[@]}" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
echo "median of $runs runs (wrk -t$threads -c$conns -d$duration): req/s=$median (target >= $target)"
kill -TERM "$pid"
wait "$pid" || { echo "bench-http-server: server exited with an error" >&2; exit 1; }
pid=
if ((gate)) && awk -v a="$median" -v b="$target" 'BEGIN { exit !(a < b) }'; then
  echo "bench-http-server: median $median req/s is below the target $target" >&2
  exit 1
fi
