-- wrk script for perf/bench-mcp-http.sh: POST the JSON-RPC request in $MCP_BODY on the session
-- $MCP_SID, with a request id unique per wrk thread and request (a duplicate id in flight would
-- be refused at once and measure errors), and count answers without "$MCP_EXPECT" in the body.
local threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

local n = 0
bad = 0 -- global: read back by done() through thread:get
local body = os.getenv("MCP_BODY")
local sid = os.getenv("MCP_SID")
local expect = os.getenv("MCP_EXPECT")

function request()
  n = n + 1
  local b = string.gsub(body, '"id":7', '"id":"' .. tid .. '-' .. n .. '"')
  return wrk.format("POST", nil, {
    ["Accept"] = "application/json, text/event-stream",
    ["Content-Type"] = "application/json",
    ["Mcp-Session-Id"] = sid,
    ["MCP-Protocol-Version"] = "2025-11-25"}, b)
end

function response(status, headers, resp)
  if status ~= 200 or not string.find(resp, expect, 1, true) then
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local total = 0
  for _, t in ipairs(threads) do
    total = total + (t:get("bad") or 0)
  end
  io.write(string.format("bad answers: %d\n", total))
end
