-- wrk script: one MCP tools/call per request at the 2026-07-28 wire (no session,
-- every request self-contained), the same bytes to every server measured.
--
--   MCP_TOOL=bench__add MCP_TOKEN=bh_… MCP_QUOTA=50000 wrk -t2 -c64 -d10s -s mcp_call.lua URL
--
-- Each answer is checked: HTTP 200 and the sum 19 + 23 in its text. MCP_QUOTA
-- stops a thread after that many answers (the load test's fixed call count).
-- `done` prints machine-readable lines: requests, errors, bad_answers, p50_us, p99_us.

local tool = os.getenv("MCP_TOOL") or "add"
local token = os.getenv("MCP_TOKEN")
local quota = tonumber(os.getenv("MCP_QUOTA") or "0")

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
wrk.headers["MCP-Protocol-Version"] = "2026-07-28"
wrk.headers["Mcp-Method"] = "tools/call"
wrk.headers["Mcp-Name"] = tool
if token and token ~= "" then wrk.headers["Authorization"] = "Bearer " .. token end
wrk.body = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"' .. tool ..
    '","arguments":{"a":19,"b":23},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28",' ..
    '"io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/clientInfo":{"name":"wrk","version":"1"}}}}'

local threads = {}

function setup(thread)
    table.insert(threads, thread)
end

function init(args)
    bad = 0
    answered = 0
end

function response(status, headers, body)
    answered = answered + 1
    if status ~= 200 or not string.find(body, '"text":"42"', 1, true) then
        bad = bad + 1
        if bad <= 3 then io.stderr:write("bad answer (" .. status .. "): " .. string.sub(body, 1, 300) .. "\n") end
    end
    if quota > 0 and answered >= quota then wrk.thread:stop() end
end

function done(summary, latency, requests)
    local b = 0
    for _, t in ipairs(threads) do b = b + t:get("bad") end
    local e = summary.errors
    io.write(string.format("requests %d\n", summary.requests))
    io.write(string.format("errors %d\n", e.connect + e.read + e.write + e.status + e.timeout))
    io.write(string.format("bad_answers %d\n", b))
    io.write(string.format("rps %.1f\n", summary.requests / (summary.duration / 1e6)))
    io.write(string.format("p50_us %d\n", latency:percentile(50)))
    io.write(string.format("p99_us %d\n", latency:percentile(99)))
end
