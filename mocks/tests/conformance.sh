#!/usr/bin/env bash
# mocks/tests/conformance.sh: the official MCP conformance suite (@modelcontextprotocol/conformance
# 0.1.16, on Node 22, both installed locally from npm by ci/node-tools) against
# `mcp-mock everything --transport http`: every scenario of the active server suite must pass.
# Exit 0 pass, 1 fail, 77 skipped (npm or its registry unreachable).
# Env: MCP_BIN_DIR, MCP_SOURCE_DIR (set by ctest); CONFORMANCE_SUITE (default active).
set -uo pipefail
: "${MCP_BIN_DIR:?}" "${MCP_SOURCE_DIR:?}"
. "$MCP_SOURCE_DIR/mocks/tests/mock-lib.sh"
WORK=$(mktemp -d)
trap mock_cleanup EXIT

node_tools node@22.23.3 @modelcontextprotocol/conformance@0.1.16
suite=${CONFORMANCE_SUITE:-active}
conformance=$NODE_DIR/node_modules/@modelcontextprotocol/conformance/dist/index.js

mock_start everything everything --transport http --listen 127.0.0.1:0
echo "mock ready at $MOCK_URL (pid $MOCK_PID)"

# The scenarios the suite runs, to check that each one is reported.
node "$conformance" list --server >"$WORK/list.txt" 2>&1 || fail "conformance list failed"

node "$conformance" server --url "$MOCK_URL" --suite "$suite" -o "$WORK/results" \
  >"$WORK/run.txt" 2>&1
rc=$?
sed 's/\x1b\[[0-9;]*m//g' "$WORK/run.txt" >"$WORK/run.plain"
sed -n '/=== SUMMARY ===/,$p' "$WORK/run.plain"
total=$(grep -E '^Total: [0-9]+ passed, [0-9]+ failed' "$WORK/run.plain")
[[ -n $total ]] || {
  tail -n 40 "$WORK/run.plain" >&2
  fail "no summary from the conformance suite (exit $rc)"
}
passed=$(sed -E 's/^Total: ([0-9]+) passed.*/\1/' <<<"$total")
failed=$(sed -E 's/^Total: [0-9]+ passed, ([0-9]+) failed.*/\1/' <<<"$total")
scenarios=$(grep -cE '^[✓✗] ' "$WORK/run.plain")
bad=$(grep -E '^✗ ' "$WORK/run.plain")
if ((rc != 0 || failed != 0 || passed == 0)) || [[ -n $bad ]]; then
  grep -E 'FAILURE|✗' "$WORK/run.plain" >&2
  echo "--- mock stderr ---" >&2
  tail -n 30 "$WORK/everything.stderr" >&2
  fail "conformance: $total (exit $rc)"
fi
if [[ $suite == active ]] && ((scenarios < 30)); then
  fail "conformance: only $scenarios scenarios reported (the active suite has 30)"
fi
mock_stop
echo "PASS: conformance suite '$suite': $scenarios scenarios, $total"
