-- perf/mock-call.lua: wrk script for bench-mock.sh. Every request is a tools/call of a cheap
-- tool on one Streamable HTTP session of mcp-mock, with an id unique per thread and request (a
-- session refuses two in-flight requests with the same id). Answers that are not a successful
-- tools/call result are counted and reported as failures.
--   wrk -s perf/mock-call.lua URL -- SESSION_ID [TOOL]
local threads = {}
local session, tool

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  session = args[1] or ""
  tool = args[2] or "test_simple_text"
  n = 0
  bad = 0
  headers = {
    ["Accept"] = "application/json, text/event-stream",
    ["Content-Type"] = "application/json",
    ["Mcp-Session-Id"] = session,
    ["MCP-Protocol-Version"] = "2025-11-25",
  }
end

function request()
  n = n + 1
  local body = string.format(
    '{"jsonrpc":"2.0","id":"%d-%d","method":"tools/call","params":{"name":"%s","arguments":{}}}',
    tid, n, tool)
  return wrk.format("POST", nil, headers, body)
end

function response(status, hdrs, body)
  if status ~= 200 or not body:find('"result"', 1, true) or body:find('"isError":true', 1, true) then
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local failures = 0
  for _, t in ipairs(threads) do
    failures = failures + (t:get("bad") or 0)
  end
  io.write(string.format("mcp_failures=%d\n", failures))
end
