#!/usr/bin/env bash
# perf/bench-loadgen-vs-wrk.sh [--gate] [BUILD_DIR]: is the harness load generator the bottleneck?
# Starts perf/http_hello on a free 127.0.0.1 port, then against that one instance runs
# `wrk -t2 -c64 -d10s` RUNS times and `loadgen_max --connections 64 --duration 10` (closed loop,
# keep-alive, 1 s warm-up not counted) RUNS times, alternating, prints each run, the medians and
# the ratio ours / wrk, and stops the server by its PID. Target: ratio >= 0.80; with --gate the
# exit code is 1 when it is missed.
#   RUNS (default 3), DURATION (seconds, default 10), THREADS (wrk, 2), CONNS (64), TARGET (0.80),
#   OURS_THREADS (default 1: one libuv loop, as the harness runs it; 2 splits the connections
#   over two loops/threads like wrk -t2).
# Build first, in Release for meaningful numbers:
#   cmake -S . -B build-rel -DCMAKE_BUILD_TYPE=Release
#   cmake --build build-rel --target http_hello loadgen_max
set -euo pipefail
gate=0
args=()
for a in "$@"; do
  if [[ $a == --gate ]]; then gate=1; else args+=("$a"); fi
done
build=${args[0]:-${BUILD_DIR:-build}}
runs=${RUNS:-3}
duration=${DURATION:-10}
threads=${THREADS:-2}
conns=${CONNS:-64}
ours_threads=${OURS_THREADS:-1}
target=${TARGET:-0.80}
srv="$build/bin/http_hello"
gen="$build/bin/loadgen_max"
for b in "$srv" "$gen"; do
  if [[ ! -x $b ]]; then
    echo "bench-loadgen-vs-wrk: $b not found; build http_hello and loadgen_max first" >&2
    exit 2
  fi
done
command -v wrk >/dev/null || { echo "bench-loadgen-vs-wrk: wrk is not installed" >&2; exit 2; }

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

"$srv" --port 0 >"$work/out" 2>"$work/err" &
pid=$!
port=
for _ in $(seq 1 100); do
  port=$(sed -n 's/^port=\([0-9]*\)$/\1/p' "$work/out")
  [[ -n $port ]] && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/err" >&2; exit 1; }
  sleep 0.05
done
[[ -n $port ]] || { echo "bench-loadgen-vs-wrk: server did not report its port" >&2; exit 1; }
url="http://127.0.0.1:$port/hello"
for _ in $(seq 1 100); do
  [[ $(curl -s -o /dev/null -w '%{http_code}' "$url" || true) == 200 ]] && break
  sleep 0.05
done
[[ $(curl -s "$url") == '{"ok":true}' ]] || { echo "bench-loadgen-vs-wrk: $url does not answer" >&2; exit 1; }

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

wrk_all=()
ours_all=()
for ((i = 1; i <= runs; i++)); do
  wrk -t"$threads" -c"$conns" -d"${duration}s" --latency "$url" >"$work/wrk"
  rps=$(awk '/^Requests\/sec:/ { print $2 }' "$work/wrk")
  p50=$(awk '$1 == "50%" { print $2 }' "$work/wrk")
  p99=$(awk '$1 == "99%" { print $2 }' "$work/wrk")
  errs=$(awk '/Non-2xx|Socket errors/ { printf "%s ", $0 }' "$work/wrk")
  echo "wrk  run $i: req/s=$rps p50=$p50 p99=$p99 ${errs}"
  wrk_all+=("$rps")

  "$gen" --host 127.0.0.1 --port "$port" --path /hello --connections "$conns" \
    --duration "$duration" --warmup 1 --threads "$ours_threads" >"$work/ours" || {
    echo "bench-loadgen-vs-wrk: loadgen_max failed: $(cat "$work/ours")" >&2
    exit 1
  }
  echo "ours run $i: $(cat "$work/ours")"
  ours_all+=("$(sed -n 's/^req\/s=\([0-9.]*\).*/\1/p' "$work/ours")")
done
wm=$(median "${wrk_all[@]}")
om=$(median "${ours_all[@]}")
ratio=$(awk -v a="$om" -v b="$wm" 'BEGIN { printf "%.3f", a / b }')
echo "median of $runs runs, $conns connections, ${duration}s: wrk -t$threads req/s=$wm, loadgen_max (threads=$ours_threads) req/s=$om, ratio=$ratio (target >= $target)"
kill -TERM "$pid"
wait "$pid" || { echo "bench-loadgen-vs-wrk: server exited with an error" >&2; exit 1; }
pid=
if ((gate)) && awk -v a="$ratio" -v b="$target" 'BEGIN { exit !(a < b) }'; then
  echo "bench-loadgen-vs-wrk: ratio $ratio is below the target $target" >&2
  exit 1
fi
