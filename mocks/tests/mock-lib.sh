# shellcheck shell=bash
# mocks/tests/mock-lib.sh: helpers for the Node-driven mcp-mock tests (sourced, not run).
#   mock_start NAME ARGS...  start $MCP_BIN_DIR/mcp-mock ARGS in the background; when it printed
#                            its readiness line, sets MOCK_PID and MOCK_URL (HTTP) and returns 0
#   mock_stop                SIGTERM the mock started last (by PID) and require exit status 0
#   node_tools SPEC...       install Node packages with ci/node-tools; exits 77 when npm or the
#                            registry is unreachable, 1 on other failures; sets NODE_DIR
# Needs: MCP_BIN_DIR, MCP_SOURCE_DIR (set by ctest), WORK (a scratch directory).

MOCK_PID=
MOCK_URL=

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

node_tools() {
  local rc
  NODE_DIR=$("$MCP_SOURCE_DIR/ci/node-tools" "$@")
  rc=$?
  if ((rc == 77)); then
    echo "SKIP: npm registry unreachable; cannot install $*" >&2
    exit 77
  fi
  ((rc == 0)) || fail "ci/node-tools $* failed (exit $rc)"
  # The node@22 package puts node 22 first on PATH (the suite needs fs.globSync).
  export PATH=$NODE_DIR/node_modules/.bin:$PATH
}

# Poll the mock's output for the readiness line (10 s at most).
mock_start() {
  local name=$1
  shift
  local out=$WORK/$name.stdout err=$WORK/$name.stderr line
  "$MCP_BIN_DIR/mcp-mock" "$@" >"$out" 2>"$err" </dev/null &
  MOCK_PID=$!
  for ((i = 0; i < 200; i++)); do
    line=$(grep -m1 '^mcp-mock ready ' "$out" 2>/dev/null)
    if [[ -n $line ]]; then
      MOCK_URL=$(sed -n 's/.* url=\([^ ]*\).*/\1/p' <<<"$line")
      [[ -n $MOCK_URL ]] || fail "$name: readiness line without url: $line"
      return 0
    fi
    kill -0 "$MOCK_PID" 2>/dev/null || fail "$name: mcp-mock exited before it was ready: $(cat "$err")"
    sleep 0.05
  done
  fail "$name: no readiness line within 10 s"
}

mock_stop() {
  local rc
  [[ -n $MOCK_PID ]] || return 0
  kill -TERM "$MOCK_PID"
  wait "$MOCK_PID"
  rc=$?
  MOCK_PID=
  ((rc == 0)) || fail "mcp-mock exited with status $rc after SIGTERM"
}

mock_cleanup() {
  [[ -n $MOCK_PID ]] && kill -KILL "$MOCK_PID" 2>/dev/null
  [[ -n ${WORK:-} && -d $WORK ]] && rm -rf "$WORK"
}
