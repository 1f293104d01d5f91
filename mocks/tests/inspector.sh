#!/usr/bin/env bash
# mocks/tests/inspector.sh: the MCP Inspector CLI (@modelcontextprotocol/inspector 2.12.0, on
# Node 22, installed locally from npm by ci/node-tools) lists and calls tools on every kind built
# into mcp-mock, over stdio, Streamable HTTP (/mcp) and legacy SSE (/sse) (MCP-BRIEF 2.8).
# Exit 0 pass, 1 fail, 77 skipped (npm or its registry unreachable).
# Env: MCP_BIN_DIR, MCP_SOURCE_DIR (set by ctest).
set -uo pipefail
: "${MCP_BIN_DIR:?}" "${MCP_SOURCE_DIR:?}"
. "$MCP_SOURCE_DIR/mocks/tests/mock-lib.sh"
WORK=$(mktemp -d)
trap mock_cleanup EXIT

node_tools node@22.23.3 @modelcontextprotocol/inspector@2.12.0
# Keep the Inspector's catalog and secrets out of the user's home.
export HOME=$WORK/home MCP_INSPECTOR_SECRET_STORE=memory
mkdir -p "$HOME"
fsroot=$MCP_SOURCE_DIR/mocks/fixtures/filesystem

# kind -> mock arguments, a tool to call, and text its answer must contain
kind_args() {
  case $1 in
  filesystem) echo "--root $fsroot" ;;
  *) echo "" ;;
  esac
}
kind_tool() {
  case $1 in
  everything) echo "test_simple_text" ;;
  database) echo "list_tables" ;;
  github) echo "get_me" ;;
  filesystem) echo "list_allowed_directories" ;;
  esac
}
kind_expect() {
  case $1 in
  everything) echo "This is a simple text response for testing." ;;
  database) echo "customers" ;;
  github) echo "login" ;;
  filesystem) echo "filesystem" ;;
  esac
}

inspect() { # label args... ; output JSON in $WORK/out.json
  local label=$1
  shift
  if ! timeout 120 mcp-inspector --cli "$@" --format json >"$WORK/out.json" 2>"$WORK/err.txt"; then
    cat "$WORK/err.txt" >&2
    fail "$label: mcp-inspector $* failed"
  fi
}

check_list() { # label kind tool
  node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).result;
    const names = (r.tools || []).map((t) => t.name);
    if (!names.includes(process.argv[2])) { console.error("tools: " + names.join(",")); process.exit(1); }
  ' "$WORK/out.json" "$3" || fail "$1: tools/list lacks $3"
}

check_call() { # label expect
  node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).result;
    const text = (r.content || []).map((c) => c.text || "").join("\n");
    if (r.isError || !text.includes(process.argv[2])) { console.error(JSON.stringify(r)); process.exit(1); }
  ' "$WORK/out.json" "$2" || fail "$1: tools/call answer lacks \"$2\""
}

# Kinds built into this binary (mcp-mock --help marks the others "not built").
kinds=$("$MCP_BIN_DIR/mcp-mock" --help | sed -n '/^Kinds:/,/^$/p' | grep -v 'not built' |
  awk 'NR > 1 && NF { print $1 }')
tested=0
for kind in $kinds; do
  tool=$(kind_tool "$kind")
  if [[ -z $tool ]]; then
    echo "skip kind $kind: no MCP tool surface to check"
    continue
  fi
  expect=$(kind_expect "$kind")
  read -r -a args <<<"$(kind_args "$kind")"

  # stdio: the command comes from a config file, so kind options are not taken for the CLI's.
  node -e '
    const [cmd, ...args] = process.argv.slice(1);
    console.log(JSON.stringify({ mcpServers: { mock: { command: cmd, args } } }));
  ' "$MCP_BIN_DIR/mcp-mock" "$kind" "${args[@]}" >"$WORK/config.json"
  inspect "$kind/stdio" --config "$WORK/config.json" --server mock --method tools/list
  check_list "$kind/stdio" "$kind" "$tool"
  inspect "$kind/stdio" --config "$WORK/config.json" --server mock --method tools/call \
    --tool-name "$tool"
  check_call "$kind/stdio" "$expect"

  # Streamable HTTP and legacy SSE on one HTTP mock.
  mock_start "$kind" "$kind" --transport http --listen 127.0.0.1:0 "${args[@]}"
  inspect "$kind/http" "$MOCK_URL" --transport http --method tools/list
  check_list "$kind/http" "$kind" "$tool"
  inspect "$kind/http" "$MOCK_URL" --transport http --method tools/call --tool-name "$tool"
  check_call "$kind/http" "$expect"
  sse=${MOCK_URL%/mcp}/sse
  inspect "$kind/sse" "$sse" --transport sse --method tools/list
  check_list "$kind/sse" "$kind" "$tool"
  inspect "$kind/sse" "$sse" --transport sse --method tools/call --tool-name "$tool"
  check_call "$kind/sse" "$expect"
  mock_stop
  echo "ok: $kind over stdio, http and sse"
  tested=$((tested + 1))
done
((tested > 0)) || fail "no kind was tested"
echo "PASS: Inspector CLI against $tested kind(s)"
