#!/usr/bin/env bash
# conformance_client.sh SCENARIO CLIENT
#
# Run one scenario of the MCP conformance suite (@modelcontextprotocol/conformance 0.1.16,
# brief 2.5) against CLIENT (mcp-conformance-client): the suite starts its mock server on a
# localhost port and runs "CLIENT <url>" with MCP_CONFORMANCE_SCENARIO set. The suite needs
# Node >= 22, installed from the npm registry with ci/node-tools next to the suite.
#
# Exit status: the suite's (0 = every check passed, no warning), 77 when npm or the registry is
# unavailable (skipped), 2 on bad usage.
set -uo pipefail

if (($# != 2)); then
  echo "usage: conformance_client.sh SCENARIO CLIENT" >&2
  exit 2
fi
scenario=$1
client=$2
src=${MCP_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}

if [[ ! -x $client ]]; then
  echo "conformance_client.sh: $client is not built" >&2
  exit 1
fi
dir=$("$src/ci/node-tools" node@22.23.3 @modelcontextprotocol/conformance@0.1.16)
rc=$?
if ((rc == 77)); then
  exit 77 # ci/node-tools said why on stderr
elif ((rc != 0)); then
  echo "conformance_client.sh: ci/node-tools failed (exit $rc)" >&2
  exit 1
fi

node=$dir/node_modules/.bin/node
suite=$dir/node_modules/@modelcontextprotocol/conformance/dist/index.js
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

"$node" "$suite" client --command "$client" --scenario "$scenario" -o "$out" 2>&1 |
  sed 's/\x1b\[[0-9;]*m//g'
rc=${PIPESTATUS[0]}
if ((rc != 0)); then
  # the client's own output, to see why
  for f in "$out"/*/stderr.txt; do
    [[ -f $f ]] && { echo "--- client stderr ($f) ---"; tail -n 40 "$f"; }
  done
fi
exit "$rc"
