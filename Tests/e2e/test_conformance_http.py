"""The official MCP conformance suite's server scenarios, mirrored over Streamable HTTP.

The suite (`@modelcontextprotocol/conformance`, an npm package) cannot be
installed here, so this file replays what its server leg checks, scenario by
scenario, for both requirement sets it scores: 2025-11-25 (handshake,
Mcp-Session-Id) and 2026-07-28 (stateless, `_meta` envelope, Mcp-Method /
Mcp-Name headers). See /work/shared/notes/conformance-requirements.md.

The tools come from the fixture plugin Tests/fixtures/plugins/conformance,
which serves the suite's tool fixtures that ABI 1.1 can express. Bulkhead
names every tool `<plugin>__<tool>`, so the suite's `test_simple_text` is
called here as `conformance__test_simple_text` (and so on): the prefix is the
one difference from the suite's own requests. Image, audio and embedded
resource results, sampling, elicitation and input_required have no fixture
(see conformance.c) and no test here. The resources, prompts and completion
scenarios (resources-list, -read-text, -read-binary, -templates-read,
prompts-list, -get-simple, -with-args, -embedded-resource,
completion-complete, sep-2164 not-found, sep-2549 caching hints) are mirrored
in test_resources.py against the fixture plugin `test`, whose URIs are the
suite's own (test://static-text, ...), over stdio and HTTP in every mode.

Each test names the scenario (and, for SEP-2575, the check id) it mirrors.
Requests go out raw (httpx2 through httpserver.py's helpers) so every byte of
the exchange is checked, and, where natural, through the official Python SDK
(mcp 2.3.0) too. Every message the server sends is also validated against
the SDK's per-revision wire models (the suite's `wire-schema-valid`).

Where Bulkhead does not yet do what a scenario requires, the test is marked
xfail(strict=True) with the reason, rather than weakened.
"""

from __future__ import annotations

import base64
import http.client
import json
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp_types import methods as wire
from mcp_types.jsonrpc import jsonrpc_message_adapter

from conftest import PluginDir
from httpserver import LEGACY, MODERN, messages, modern_headers, modern_meta, sse_messages, start_http

P = "conformance__"
SIMPLE = P + "test_simple_text"
ERROR = P + "test_error_handling"
PROGRESS = P + "test_tool_with_progress"
LOGGING_2025 = P + "test_tool_with_logging"
LOGGING_2026 = P + "test_logging_tool"
FIXTURE_TOOLS = {SIMPLE, ERROR, PROGRESS, LOGGING_2025, LOGGING_2026}
SIMPLE_TEXT = "This is a simple text response for testing."
LEVELS = ["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"]
LOG_LEVEL = "io.modelcontextprotocol/logLevel"
SERVER_INFO = "io.modelcontextprotocol/serverInfo"
TIMEOUT = 15


# ---------------------------------------------------------------------------
# The server, and raw helpers
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(bulkhead_bin, tmp_path_factory):
    """One server for the module (no token: loopback is served as the default principal)."""
    tmp = tmp_path_factory.mktemp("conformance")
    pd = PluginDir(tmp / "plugins").add("conformance")
    srv = start_http(bulkhead_bin, pd.path, tmp)
    yield srv
    HTTP.close()
    srv.stop()


@pytest.fixture
def url(server) -> str:
    assert server.proc.poll() is None, "the server died: " + server.stderr[-2000:]
    return server.url


def port_of(url: str) -> int:
    return urlsplit(url).port


# One pooled client for the raw requests: a new httpx2 client per request (as httpx2.post makes) costs
# ~90 ms to set up, which would be most of this file's run time. httpx2 clients are thread-safe.
HTTP = httpx2.Client(timeout=TIMEOUT, limits=httpx2.Limits(max_connections=32))


def post_raw(url: str, body: Any, headers: dict | None = None) -> httpx2.Response:
    h = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    h.update(headers or {})
    content = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return HTTP.post(url, content=content, headers=h)


def modern(url: str, method: str, params: dict | None = None, *, id: Any = 1, meta: dict | None = None,
           headers: dict | None = None, name: str | None = None) -> httpx2.Response:
    """A 2026-07-28 request as httpserver.post_modern builds it (envelope, MCP-Protocol-Version, Mcp-Method,
    Mcp-Name for tools/call); `meta` is added to the envelope, `headers` override."""
    params = dict(params or {})
    if "_meta" not in params:
        params["_meta"] = modern_meta(**(meta or {}))
    if name is None and method == "tools/call":
        name = params.get("name")
    h = modern_headers(method, name)
    h.update(headers or {})
    return post_raw(url, {"jsonrpc": "2.0", "id": id, "method": method, "params": params}, h)


def validate_wire(msg: dict, method: str | None, version: str) -> None:
    """One message the server sent, against the official SDK's models of `version` (wire-schema-valid)."""
    jsonrpc_message_adapter.validate_python(msg)
    if "method" in msg and "id" not in msg:
        wire.parse_server_notification(msg["method"], version, msg.get("params"))
    elif "result" in msg and method is not None and (method, version) in wire.SERVER_RESULTS:
        wire.validate_server_result(method, version, msg["result"])


def exchange(resp: httpx2.Response, id: Any, method: str | None, version: str) -> tuple[list[dict], dict]:
    """(notifications, response) of one request's HTTP response, checked as a stream of that request:
    only notifications, then exactly one response carrying the request's id, last; each message valid."""
    assert resp.status_code in (200, 400, 404), (resp.status_code, resp.text[:500])
    ctype = resp.headers.get("content-type", "")
    assert ctype.startswith("application/json") or ctype.startswith("text/event-stream"), ctype
    msgs = messages(resp)
    assert msgs, "an empty response"
    *before, last = msgs
    for m in before:
        # sep-2575-http-server-no-independent-requests-on-stream: notifications only, never a request.
        assert "id" not in m and isinstance(m.get("method"), str) and m["method"].startswith("notifications/"), m
    assert "method" not in last and last.get("id") == id, f"last message is not the response to {id!r}: {last}"
    assert ("result" in last) != ("error" in last), last
    for m in msgs:
        validate_wire(m, method, version)
    if before:
        assert ctype.startswith("text/event-stream"), "notifications came, so the response must be an SSE stream"
    return before, last


def result_of(resp: httpx2.Response, id: Any = 1, method: str | None = None,
              version: str = MODERN) -> tuple[list[dict], dict]:
    notes, last = exchange(resp, id, method, version)
    assert resp.status_code == 200, resp.text[:500]
    assert "result" in last, last
    return notes, last["result"]


def error_of(resp: httpx2.Response, id: Any, status: int, code: int) -> dict:
    """The JSON-RPC error of a rejected request: the HTTP status, the code, and the request's id echoed."""
    body = resp.json() if resp.headers.get("content-type", "").startswith("application/json") else messages(resp)[-1]
    assert resp.status_code == status, (resp.status_code, body)
    assert "error" in body, body
    assert body["error"]["code"] == code, body
    # sep-2575-http-server-error-jsonrpc-id
    assert body.get("id") == id, f"the error does not echo the request id {id!r}: {body}"
    jsonrpc_message_adapter.validate_python(body)
    return body["error"]


def texts(result: dict) -> list[str]:
    return [c["text"] for c in result.get("content", []) if c.get("type") == "text"]


def log_lines(notes: list[dict]) -> list[tuple[str, str]]:
    return [(n["params"]["level"], n["params"]["data"]) for n in notes if n["method"] == "notifications/message"]


def progress_of(notes: list[dict]) -> list[dict]:
    return [n["params"] for n in notes if n["method"] == "notifications/progress"]


class Session:
    """A 2025-11-25 session, raw: initialize, then requests carrying Mcp-Session-Id."""

    def __init__(self, url: str, protocol_version: str = LEGACY):
        self.url = url
        self.next_id = 1
        resp = post_raw(url, {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": protocol_version, "capabilities": {},
            "clientInfo": {"name": "conformance-mirror", "version": "1.0.0"}}})
        _, self.init = result_of(resp, 0, "initialize", LEGACY)
        self.id = resp.headers.get("mcp-session-id")
        assert self.id, "no Mcp-Session-Id on the initialize response"
        self.version = self.init["protocolVersion"]
        note = self.notify("notifications/initialized")
        assert note.status_code == 202, (note.status_code, note.text)

    def headers(self) -> dict:
        return {"Mcp-Session-Id": self.id, "MCP-Protocol-Version": self.version}

    def post(self, method: str, params: dict | None = None, id: Any = None) -> tuple[Any, httpx2.Response]:
        if id is None:
            id, self.next_id = self.next_id, self.next_id + 1
        body = {"jsonrpc": "2.0", "id": id, "method": method}
        if params is not None:
            body["params"] = params
        return id, post_raw(self.url, body, self.headers())

    def call(self, method: str, params: dict | None = None) -> tuple[list[dict], dict]:
        id, resp = self.post(method, params)
        return result_of(resp, id, method, LEGACY)

    def notify(self, method: str, params: dict | None = None) -> httpx2.Response:
        body = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            body["params"] = params
        return post_raw(self.url, body, self.headers())

    def delete(self) -> httpx2.Response:
        return HTTP.delete(self.url, headers=self.headers())


def raw_http(url: str, body: dict, headers: dict) -> tuple[int, dict]:
    """A POST through http.client, which sends header values as given (httpx2 refuses surrounding spaces)."""
    conn = http.client.HTTPConnection("127.0.0.1", port_of(url), timeout=TIMEOUT)
    try:
        data = json.dumps(body).encode()
        conn.putrequest("POST", urlsplit(url).path, skip_accept_encoding=True)
        for k, v in {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
                     "Content-Length": str(len(data)), **headers}.items():
            conn.putheader(k, v)
        conn.endheaders(data)
        r = conn.getresponse()
        text = r.read().decode()
        ctype = r.getheader("content-type") or ""
        return r.status, (sse_messages(text)[-1] if ctype.startswith("text/event-stream") else json.loads(text))
    finally:
        conn.close()


def b64(text: str) -> str:
    return "=?base64?" + base64.b64encode(text.encode()).decode() + "?="


# ---------------------------------------------------------------------------
# The SDK
# ---------------------------------------------------------------------------


def sdk(url: str, mode: str, **kw) -> Client:
    return Client(streamable_http_client(url, http_client=create_mcp_http_client()), mode=mode,
                  read_timeout_seconds=TIMEOUT, **kw)


class Heard:
    """What the SDK's callbacks were told."""

    def __init__(self):
        self.logs: list[tuple[str, Any, str | None]] = []
        self.progress: list[tuple[float, float | None, str | None]] = []

    async def log(self, params) -> None:
        self.logs.append((params.level, params.data, params.logger))

    async def on_progress(self, progress, total, message) -> None:
        self.progress.append((progress, total, message))


# ===========================================================================
# 2025-11-25: server-initialize, ping, logging-set-level, session lifecycle
# ===========================================================================


def test_server_initialize_raw(url):
    """server-initialize: the handshake answers, and the session id is visible ASCII (0x21-0x7E)."""
    s = Session(url)
    assert s.version == LEGACY
    assert re.fullmatch(r"[\x21-\x7e]+", s.id), repr(s.id)
    assert isinstance(s.init["capabilities"].get("tools"), dict), s.init
    assert s.init["serverInfo"]["name"] and s.init["serverInfo"]["version"], s.init


def test_server_initialize_older_version_is_negotiated(url):
    """server-initialize (and dns-rebinding's probe, which sends 2024-11-05): an older version is
    echoed when served, else the server answers one it serves."""
    s = Session(url, protocol_version="2024-11-05")
    assert s.version in wire.KNOWN_PROTOCOL_VERSIONS and s.version <= LEGACY, s.init


def test_server_initialize_and_ping_sdk(url):
    """server-initialize and ping through the official SDK's handshake."""
    async def main():
        async with sdk(url, "legacy") as client:
            assert client.protocol_version == LEGACY
            assert client.server_capabilities.tools is not None
            await client.send_ping()

    anyio.run(main)


def test_ping_raw(url):
    """ping: `{}`."""
    s = Session(url)
    notes, result = s.call("ping")
    assert notes == [] and result == {}, result


def test_logging_set_level_filters_later_logs(url):
    """logging-set-level: `{}`, and later log lines are filtered by it (the tool logs debug, info, warning, error)."""
    s = Session(url)
    notes, _ = s.call("tools/call", {"name": LOGGING_2026, "arguments": {}})
    assert log_lines(notes) == [], "log lines before the client set a level"

    expect = {
        "debug": ["debug", "info", "warning", "error"],
        "info": ["info", "warning", "error"],
        "warning": ["warning", "error"],
        "error": ["error"],
        "critical": [],
    }
    for level, heard in expect.items():
        notes, result = s.call("logging/setLevel", {"level": level})
        assert result == {} and notes == [], result
        notes, result = s.call("tools/call", {"name": LOGGING_2026, "arguments": {}})
        assert [lvl for lvl, _ in log_lines(notes)] == heard, (level, notes)
        assert all(n["params"].get("logger") == "conformance" for n in notes), notes
        assert texts(result) == ["Logging tool completed"], result


def test_logging_set_level_rejects_an_unknown_level(url):
    """logging/setLevel with a level MCP does not name: -32602, echoing the id."""
    s = Session(url)
    id, resp = s.post("logging/setLevel", {"level": "banana"}, id="lvl-1")
    error_of(resp, "lvl-1", 200, -32602)


def test_logging_set_level_is_per_session(url):
    """logging/setLevel scopes to its session: another session hears nothing."""
    a, b = Session(url), Session(url)
    a.call("logging/setLevel", {"level": "debug"})
    notes_a, _ = a.call("tools/call", {"name": LOGGING_2025, "arguments": {}})
    notes_b, _ = b.call("tools/call", {"name": LOGGING_2025, "arguments": {}})
    assert len(log_lines(notes_a)) == 3 and log_lines(notes_b) == []


def test_logging_set_level_sdk(url):
    """logging-set-level through the SDK: set_logging_level, then the callback hears only lines at or above it."""
    heard = Heard()

    async def main():
        async with sdk(url, "legacy", logging_callback=heard.log) as client:
            await client.set_logging_level("warning")
            res = await client.call_tool(LOGGING_2026, {})
            assert not res.is_error, res

    anyio.run(main)
    assert [lvl for lvl, _, _ in heard.logs] == ["warning", "error"], heard.logs


def test_session_lifecycle(url):
    """server-session-lifecycle: DELETE with the session id is accepted (or 405), then that id is 404."""
    s = Session(url)
    resp = s.delete()
    assert resp.status_code in (200, 202, 204, 405), (resp.status_code, resp.text)
    if resp.status_code == 405:
        pytest.skip("the server does not let clients end sessions")
    _, resp = s.post("ping", id="after-delete")
    assert resp.status_code == 404, (resp.status_code, resp.text)
    assert s.delete().status_code == 404
    # The 404 is the session's, not the server's: a fresh session still works.
    assert Session(url).call("ping")[1] == {}


def test_session_required_after_initialize(url):
    """Streamable HTTP 2025-11-25: a request without Mcp-Session-Id (after the handshake era began) is 400;
    an unknown id is 404."""
    resp = post_raw(url, {"jsonrpc": "2.0", "id": 5, "method": "ping"}, {"MCP-Protocol-Version": LEGACY})
    assert resp.status_code == 400, resp.text
    resp = post_raw(url, {"jsonrpc": "2.0", "id": 6, "method": "ping"},
                    {"MCP-Protocol-Version": LEGACY, "Mcp-Session-Id": "no-such-session"})
    assert resp.status_code == 404, resp.text


# ===========================================================================
# Tools, both eras: tools-list, tools-name-format, tools-call-*
# ===========================================================================

NAME_FORMAT = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def check_tools_list(tools: list[dict]) -> None:
    names = [t["name"] for t in tools]
    assert FIXTURE_TOOLS <= set(names), names
    assert len(names) == len(set(names)), names
    for t in tools:
        # tools-list: name, description and an object inputSchema on every tool.
        assert t.get("description"), t
        assert isinstance(t.get("inputSchema"), dict) and t["inputSchema"].get("type") == "object", t
        # tools-name-format: 1-64 of [A-Za-z0-9_.-] (the suite allows '/' too; the spec does not).
        assert NAME_FORMAT.fullmatch(t["name"]), t["name"]


def test_tools_list_2025(url):
    """tools-list and tools-name-format, handshake era."""
    notes, result = Session(url).call("tools/list")
    assert notes == []
    check_tools_list(result["tools"])


def test_tools_list_2026_with_caching_hints(url):
    """tools-list, tools-name-format and caching (sep-2549-tools-list-caching-hints, -ttl-non-negative,
    -cache-scope-valid), stateless era."""
    notes, result = result_of(modern(url, "tools/list", id="tl-1"), "tl-1", "tools/list")
    assert notes == []
    check_tools_list(result["tools"])
    assert result["resultType"] == "complete"
    assert type(result["ttlMs"]) is int and result["ttlMs"] >= 0, result.get("ttlMs")
    assert result["cacheScope"] in ("public", "private"), result.get("cacheScope")
    assert result["_meta"][SERVER_INFO]["name"], result.get("_meta")  # sep-2575-server-identifies-in-result-meta


def test_tools_list_is_deterministic(url):
    """caching: a list MUST NOT vary per connection, and SHOULD be in a deterministic order."""
    first = result_of(modern(url, "tools/list"), 1, "tools/list")[1]["tools"]
    again = result_of(modern(url, "tools/list"), 1, "tools/list")[1]["tools"]
    legacy = Session(url).call("tools/list")[1]["tools"]
    assert [t["name"] for t in first] == [t["name"] for t in again] == [t["name"] for t in legacy]


@pytest.mark.parametrize("mode", ["legacy", MODERN])
def test_tools_list_sdk(url, mode):
    """tools-list through the SDK, in both eras."""
    async def main():
        async with sdk(url, mode) as client:
            assert client.protocol_version == (LEGACY if mode == "legacy" else MODERN)
            tools = (await client.list_tools()).tools
            check_tools_list([t.model_dump(by_alias=True, exclude_none=True) for t in tools])

    anyio.run(main)


def test_tools_call_simple_text_2025(url):
    """tools-call-simple-text, handshake era; the suite omits `arguments` (the schema requires none)."""
    s = Session(url)
    notes, result = s.call("tools/call", {"name": SIMPLE})
    assert notes == [] and texts(result) == [SIMPLE_TEXT] and not result.get("isError"), result
    notes, result = s.call("tools/call", {"name": SIMPLE, "arguments": {}})
    assert texts(result) == [SIMPLE_TEXT], result


def test_tools_call_simple_text_2026(url):
    """tools-call-simple-text, stateless era."""
    for params in ({"name": SIMPLE}, {"name": SIMPLE, "arguments": {}}):
        notes, result = result_of(modern(url, "tools/call", params, id=31), 31, "tools/call")
        assert notes == [] and texts(result) == [SIMPLE_TEXT] and not result.get("isError"), result
        assert result["resultType"] == "complete"


@pytest.mark.parametrize("mode", ["legacy", MODERN])
def test_tools_call_simple_text_and_error_sdk(url, mode):
    """tools-call-simple-text and tools-call-error through the SDK, in both eras."""
    async def main():
        async with sdk(url, mode) as client:
            res = await client.call_tool(SIMPLE)
            assert not res.is_error and [c.text for c in res.content] == [SIMPLE_TEXT], res
            res = await client.call_tool(ERROR, {})
            assert res.is_error, res
            assert res.content and res.content[0].type == "text" and res.content[0].text, res

    anyio.run(main)


def check_error_result(result: dict) -> None:
    assert result.get("isError") is True, result
    assert texts(result) and texts(result)[0], result


def test_tools_call_error_2025(url):
    """tools-call-error: an isError result, not a JSON-RPC error."""
    notes, result = Session(url).call("tools/call", {"name": ERROR, "arguments": {}})
    check_error_result(result)


def test_tools_call_error_2026(url):
    """tools-call-error, stateless era: still a result (HTTP 200), with resultType."""
    notes, result = result_of(modern(url, "tools/call", {"name": ERROR, "arguments": {}}, id=41), 41, "tools/call")
    check_error_result(result)
    assert result["resultType"] == "complete"


def test_tools_call_unknown_tool_is_a_jsonrpc_error(url):
    """tools/call of a tool nobody serves: a JSON-RPC error echoing the id (MCP: unknown tool), both eras."""
    _, resp = Session(url).post("tools/call", {"name": P + "no_such_tool", "arguments": {}}, id="u-1")
    body = resp.json()
    assert body["id"] == "u-1" and "error" in body, body
    resp = modern(url, "tools/call", {"name": P + "no_such_tool", "arguments": {}}, id="u-2")
    body = messages(resp)[-1]
    assert body["id"] == "u-2" and "error" in body, body


def check_progress(notes: list[dict], token: Any) -> None:
    """tools-call-with-progress: 0, 50, 100 of 100 with the request's token, increasing, only notifications before."""
    got = progress_of(notes)
    assert [p["progressToken"] for p in got] == [token] * len(got), got
    assert [p["progress"] for p in got] == [0, 50, 100], got
    assert all(p.get("total") == 100 for p in got), got
    assert all(a["progress"] < b["progress"] for a, b in zip(got, got[1:])), got


@pytest.mark.parametrize("token", ["progress-token-1", 7])
def test_tools_call_with_progress_2025(url, token):
    """tools-call-with-progress, handshake era: on the request's own SSE stream, before its result."""
    notes, result = Session(url).call("tools/call",
                                      {"name": PROGRESS, "arguments": {}, "_meta": {"progressToken": token}})
    check_progress(notes, token)
    assert texts(result) and not result.get("isError"), result


@pytest.mark.parametrize("token", ["progress-token-2", 8])
def test_tools_call_with_progress_2026(url, token):
    """tools-call-with-progress, stateless era (progressToken beside the envelope in _meta)."""
    resp = modern(url, "tools/call", {"name": PROGRESS, "arguments": {}}, id=51, meta={"progressToken": token})
    assert resp.headers["content-type"].startswith("text/event-stream")
    assert resp.headers.get("x-accel-buffering") == "no", dict(resp.headers)  # no proxy may buffer the stream
    notes, result = result_of(resp, 51, "tools/call")
    check_progress(notes, token)
    assert texts(result) and result["resultType"] == "complete", result


def test_tools_call_without_progress_token_sends_none(url):
    """No progressToken, no notifications/progress (both eras): the response is plain JSON."""
    notes, _ = Session(url).call("tools/call", {"name": PROGRESS, "arguments": {}})
    assert notes == []
    resp = modern(url, "tools/call", {"name": PROGRESS, "arguments": {}})
    assert resp.headers["content-type"].startswith("application/json")
    assert result_of(resp)[0] == []


@pytest.mark.parametrize("mode", ["legacy", MODERN])
def test_tools_call_with_progress_sdk(url, mode):
    """tools-call-with-progress through the SDK's progress callback, in both eras."""
    heard = Heard()

    async def main():
        async with sdk(url, mode) as client:
            res = await client.call_tool(PROGRESS, {}, progress_callback=heard.on_progress)
            assert not res.is_error, res

    anyio.run(main)
    assert [p for p, _, _ in heard.progress] == [0, 50, 100], heard.progress
    assert all(total == 100 for _, total, _ in heard.progress), heard.progress


def test_tools_call_with_logging_2025(url):
    """tools-call-with-logging: after logging/setLevel debug, at least 3 info lines on the call's stream, in
    order, before the result."""
    s = Session(url)
    s.call("logging/setLevel", {"level": "debug"})
    notes, result = s.call("tools/call", {"name": LOGGING_2025, "arguments": {}})
    assert log_lines(notes) == [("info", "Tool execution started"), ("info", "Tool processing data"),
                                ("info", "Tool execution completed")], notes
    assert all(n["params"]["logger"] == "conformance" for n in notes)
    assert texts(result) and not result.get("isError"), result


def test_tools_call_with_logging_sdk(url):
    """tools-call-with-logging through the SDK (set_logging_level('debug') + logging callback)."""
    heard = Heard()

    async def main():
        async with sdk(url, "legacy", logging_callback=heard.log) as client:
            await client.set_logging_level("debug")
            res = await client.call_tool(LOGGING_2025, {})
            assert not res.is_error, res

    anyio.run(main)
    assert [(lvl, data) for lvl, data, _ in heard.logs] == [
        ("info", "Tool execution started"), ("info", "Tool processing data"), ("info", "Tool execution completed")]


# ===========================================================================
# 2026-07-28: the logging tool with _meta logLevel (per-request-loglevel,
# sep-2575-server-no-log-without-loglevel)
# ===========================================================================


def test_logging_tool_without_loglevel_sends_no_log(url):
    """sep-2575-server-no-log-without-loglevel: no notifications/message without _meta logLevel."""
    resp = modern(url, "tools/call", {"name": LOGGING_2026, "arguments": {}}, id=61)
    notes, result = result_of(resp, 61, "tools/call")
    assert log_lines(notes) == [] and texts(result) == ["Logging tool completed"], notes


@pytest.mark.parametrize("level,heard", [
    ("debug", ["debug", "info", "warning", "error"]),
    ("info", ["info", "warning", "error"]),
    ("notice", ["warning", "error"]),
    ("warning", ["warning", "error"]),
    ("error", ["error"]),
    ("emergency", []),
])
def test_logging_tool_with_loglevel(url, level, heard):
    """per-request-loglevel: with _meta logLevel, lines at or above it arrive on the request's stream,
    attributed to the plugin; nothing below it."""
    resp = modern(url, "tools/call", {"name": LOGGING_2026, "arguments": {}}, id="lg", meta={LOG_LEVEL: level})
    notes, result = result_of(resp, "lg", "tools/call")
    assert [lvl for lvl, _ in log_lines(notes)] == heard, notes
    assert [d for _, d in log_lines(notes)] == [f"test_logging_tool: {lvl}" for lvl in heard]
    assert all(n["params"]["logger"] == "conformance" for n in notes)
    assert texts(result) == ["Logging tool completed"]


def test_logging_tool_2025_fixture_with_loglevel(url):
    """The 2025 logging fixture at the 2026 wire: logLevel info hears its three lines."""
    resp = modern(url, "tools/call", {"name": LOGGING_2025, "arguments": {}}, id=62, meta={LOG_LEVEL: "info"})
    notes, _ = result_of(resp, 62, "tools/call")
    assert [d for _, d in log_lines(notes)] == ["Tool execution started", "Tool processing data",
                                                "Tool execution completed"]


def test_logging_tool_rejects_an_unknown_loglevel(url):
    """per-request-loglevel-invalid-rejection (SHOULD): an unknown logLevel is -32602, echoing the id."""
    resp = modern(url, "tools/call", {"name": LOGGING_2026, "arguments": {}}, id="bad-level",
                  meta={LOG_LEVEL: "banana"})
    body = messages(resp)[-1]
    assert body.get("id") == "bad-level" and body.get("error", {}).get("code") == -32602, body
    assert resp.status_code == 400, "a bad envelope value is a 400, as the other envelope errors are"
    assert not [m for m in messages(resp) if m.get("method") == "notifications/message"]


def test_logging_is_request_scoped(url):
    """per-request-loglevel-request-scoped: two concurrent requests, one with logLevel: only its stream hears logs."""
    def with_level():
        return modern(url, "tools/call", {"name": LOGGING_2026, "arguments": {}}, id="with", meta={LOG_LEVEL: "debug"})

    def without():
        return modern(url, "tools/call", {"name": LOGGING_2026, "arguments": {}}, id="without")

    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(with_level), pool.submit(without), pool.submit(with_level), pool.submit(without)]
        responses = [f.result() for f in futures]
    for i, resp in enumerate(responses):
        id = "with" if i % 2 == 0 else "without"
        notes, _ = result_of(resp, id, "tools/call")
        assert len(log_lines(notes)) == (4 if id == "with" else 0), (id, notes)


@pytest.mark.parametrize("log_level,heard", [(None, []), ("warning", ["warning", "error"])])
def test_logging_tool_sdk(url, log_level, heard):
    """The 2026 logging tool through the SDK: its log_level stamps _meta logLevel; without it, nothing."""
    got = Heard()

    async def main():
        async with sdk(url, MODERN, logging_callback=got.log, log_level=log_level) as client:
            res = await client.call_tool(LOGGING_2026, {})
            assert not res.is_error, res

    anyio.run(main)
    assert [lvl for lvl, _, _ in got.logs] == heard, got.logs


# ===========================================================================
# 2026-07-28: server-stateless (SEP-2575)
# ===========================================================================

VALID_META = {
    "io.modelcontextprotocol/protocolVersion": MODERN,
    "io.modelcontextprotocol/clientInfo": {"name": "conformance-client", "version": "1.0.0"},
    "io.modelcontextprotocol/clientCapabilities": {},
}


def without(key: str) -> dict:
    return {k: v for k, v in VALID_META.items() if k != key}


@pytest.mark.parametrize("method", ["server/discover", "tools/list", "tools/call"])
@pytest.mark.parametrize("slug,params,id", [
    ("missing-meta", {}, 101),
    ("missing-meta-no-params", None, "101-b"),
    ("missing-protocol-version", {"_meta": without("io.modelcontextprotocol/protocolVersion")}, 102),
    ("missing-client-capabilities", {"_meta": without("io.modelcontextprotocol/clientCapabilities")}, 104),
])
def test_request_meta_invalid(url, method, slug, params, id):
    """sep-2575-request-meta-invalid-{missing-meta,missing-protocol-version,missing-client-capabilities}:
    -32602; sep-2575-http-server-meta-invalid-400: HTTP 400; the id echoed."""
    body = {"jsonrpc": "2.0", "id": id, "method": method}
    if method == "tools/call":
        params = dict(params or {}, name=SIMPLE)
    if params is not None:
        body["params"] = params
    resp = post_raw(url, body, modern_headers(method, SIMPLE if method == "tools/call" else None))
    error_of(resp, id, 400, -32602)


def test_request_meta_client_info_optional(url):
    """sep-2575-request-meta-client-info-optional: a request without clientInfo is served (HTTP 200)."""
    meta = without("io.modelcontextprotocol/clientInfo")
    for method, params in [("server/discover", {}), ("tools/list", {}), ("tools/call", {"name": SIMPLE})]:
        resp = modern(url, method, dict(params, _meta=meta), id=105)
        notes, result = result_of(resp, 105, method)
        if method == "tools/call":
            assert texts(result) == [SIMPLE_TEXT]


def test_server_implements_discover(url):
    """sep-2575-server-implements-discover and -identifies-in-result-meta: supportedVersions, capabilities,
    serverInfo in _meta, and the caching hints every discover result carries."""
    notes, result = result_of(modern(url, "server/discover", {"_meta": VALID_META}, id=201), 201, "server/discover")
    assert notes == []
    assert MODERN in result["supportedVersions"] and LEGACY in result["supportedVersions"], result
    assert isinstance(result["capabilities"], dict) and "tools" in result["capabilities"], result
    info = result["_meta"][SERVER_INFO]
    assert info["name"] and info["version"], info
    assert result["resultType"] == "complete"
    assert type(result["ttlMs"]) is int and result["ttlMs"] >= 0, result  # sep-2549-ttl-non-negative
    assert result["cacheScope"] in ("public", "private"), result  # sep-2549-cache-scope-valid


def test_server_identifies_in_tool_results(url):
    """sep-2575-server-identifies-in-result-meta (SHOULD) on a tools/call result too."""
    _, result = result_of(modern(url, "tools/call", {"name": SIMPLE}), 1, "tools/call")
    assert result["_meta"][SERVER_INFO]["name"], result


@pytest.mark.parametrize("capability,method,params", [
    ("tools", "tools/list", {}),
    ("prompts", "prompts/list", {}),
    ("resources", "resources/list", {}),
    ("resources", "resources/templates/list", {}),
    ("completions", "completion/complete", {"ref": {"type": "ref/prompt", "name": "x"},
                                            "argument": {"name": "a", "value": ""}}),
])
def test_discover_capabilities_match_handlers(url, capability, method, params):
    """sep-2575-discover-capabilities-match-handlers and -declares-prompts-in-discover: an advertised
    capability's method works (with caching hints where the spec requires them); one not advertised
    answers -32601 with HTTP 404."""
    caps = result_of(modern(url, "server/discover"), 1, "server/discover")[1]["capabilities"]
    resp = modern(url, method, params, id=203)
    if capability in caps:
        _, result = result_of(resp, 203, method)
        if method in wire.CACHEABLE_METHODS:
            assert type(result["ttlMs"]) is int and result["ttlMs"] >= 0, result
            assert result["cacheScope"] in ("public", "private"), result
    else:
        error_of(resp, 203, 404, -32601)


def test_subscriptions_listen_matches_capabilities(url):
    """sep-2575-server-sends-subscription-ack: a server advertising listChanged/subscribe acknowledges a
    subscriptions/listen first; one advertising none may answer -32601 (404)."""
    caps = result_of(modern(url, "server/discover"), 1, "server/discover")[1]["capabilities"]
    advertises = any([caps.get("tools", {}).get("listChanged"), caps.get("prompts", {}).get("listChanged"),
                      caps.get("resources", {}).get("listChanged"), caps.get("resources", {}).get("subscribe")])
    if advertises:
        pytest.skip("listChanged is advertised: the listen stream needs a test of its own")
    resp = modern(url, "subscriptions/listen", {"notifications": {"toolsListChanged": True}}, id=701)
    error_of(resp, 701, 404, -32601)


def test_unsupported_version(url):
    """sep-2575-server-unsupported-version-error and -http-server-unsupported-version-400: -32022 with
    data.supported (all served, as discover lists them) and data.requested echoed; HTTP 400; id echoed.
    As the suite sends it: the unsupported version in the header and in _meta alike."""
    discover = result_of(modern(url, "server/discover"), 1, "server/discover")[1]
    meta = dict(VALID_META, **{"io.modelcontextprotocol/protocolVersion": "v999.0.0"})
    headers = modern_headers("server/discover", **{"MCP-Protocol-Version": "v999.0.0"})
    resp = post_raw(url, {"jsonrpc": "2.0", "id": 301, "method": "server/discover", "params": {"_meta": meta}}, headers)
    err = error_of(resp, 301, 400, -32022)
    supported = err["data"]["supported"]
    assert supported and set(supported) <= set(discover["supportedVersions"]) and MODERN in supported, err
    assert err["data"]["requested"] == "v999.0.0", err


def test_header_mismatch_protocol_version_vs_meta(url):
    """sep-2575-http-server-header-mismatch-400, as the suite sends it: the header says 2026-07-28, _meta
    says v999.0.0 → 400 + -32020."""
    meta = dict(VALID_META, **{"io.modelcontextprotocol/protocolVersion": "v999.0.0"})
    resp = post_raw(url, {"jsonrpc": "2.0", "id": 302, "method": "server/discover", "params": {"_meta": meta}},
                    modern_headers("server/discover"))
    error_of(resp, 302, 400, -32020)


def test_header_mismatch_legacy_header_with_modern_meta(url):
    """The other direction of the same rule: the header names a handshake version while _meta carries the
    2026-07-28 envelope; the values differ, so 400 + -32020."""
    headers = modern_headers("tools/list", **{"MCP-Protocol-Version": LEGACY})
    body = {"jsonrpc": "2.0", "id": 303, "method": "tools/list", "params": {"_meta": VALID_META}}
    resp = post_raw(url, body, headers)
    error_of(resp, 303, 400, -32020)


def test_header_protocol_version_is_required(url):
    """MCP-Protocol-Version must equal _meta's version: a 2026 envelope with no header at all is not
    served as a 2026 request (HTTP 400, whatever code)."""
    headers = modern_headers("tools/list")
    del headers["MCP-Protocol-Version"]
    body = {"jsonrpc": "2.0", "id": 304, "method": "tools/list", "params": {"_meta": VALID_META}}
    resp = post_raw(url, body, headers)
    body = resp.json()
    assert resp.status_code == 400 and body.get("id") == 304 and "error" in body, (resp.status_code, body)


@pytest.mark.parametrize("case,method,params,overrides", [
    ("method-mismatch", "tools/list", {}, {"Mcp-Method": "tools/call"}),
    ("method-missing", "tools/list", {}, {"Mcp-Method": None}),
    ("method-case", "tools/list", {}, {"Mcp-Method": "TOOLS/LIST"}),
    ("method-bad-base64", "tools/list", {}, {"Mcp-Method": "=?base64?!!!not-base64?="}),
    ("name-mismatch", "tools/call", {"name": SIMPLE}, {"Mcp-Name": ERROR}),
    ("name-missing", "tools/call", {"name": SIMPLE}, {"Mcp-Name": None}),
    ("name-bad-base64", "tools/call", {"name": SIMPLE}, {"Mcp-Name": "=?base64?%%%?="}),
    ("name-base64-of-another", "tools/call", {"name": SIMPLE}, {"Mcp-Name": b64(ERROR)}),
])
def test_header_mismatch(url, case, method, params, overrides):
    """http-header-validation (SEP-2243) and sep-2575-http-server-header-mismatch-400: a missing or
    mismatching Mcp-Method / Mcp-Name, or a base64 value that does not decode, is 400 + -32020, the id
    echoed, and the tool does not run."""
    headers = modern_headers(method, params.get("name"))
    for k, v in overrides.items():
        if v is None:
            headers.pop(k, None)
        else:
            headers[k] = v
    id = f"hdr-{case}"
    body = {"jsonrpc": "2.0", "id": id, "method": method, "params": dict(params, _meta=VALID_META)}
    resp = post_raw(url, body, headers)
    error_of(resp, id, 400, -32020)


@pytest.mark.parametrize("overrides", [
    {"Mcp-Name": b64(SIMPLE)},
    {"Mcp-Method": b64("tools/call")},
    {"Mcp-Method": b64("tools/call"), "Mcp-Name": b64(SIMPLE), "MCP-Protocol-Version": b64(MODERN)},
])
def test_header_base64_form_is_decoded(url, overrides):
    """SEP-2243: the `=?base64?…?=` form is decoded before comparing."""
    headers = modern_headers("tools/call", SIMPLE)
    headers.update(overrides)
    resp = post_raw(url, {"jsonrpc": "2.0", "id": 71, "method": "tools/call",
                          "params": {"name": SIMPLE, "_meta": VALID_META}}, headers)
    _, result = result_of(resp, 71, "tools/call")
    assert texts(result) == [SIMPLE_TEXT]


def test_header_names_case_insensitive_and_whitespace_tolerated(url):
    """SEP-2243: header names are case-insensitive; surrounding whitespace in values is tolerated."""
    status, body = raw_http(url, {"jsonrpc": "2.0", "id": 72, "method": "tools/call",
                                  "params": {"name": SIMPLE, "_meta": VALID_META}},
                            {"mcp-protocol-version": f"  {MODERN} ", "MCP-METHOD": " tools/call",
                             "mcp-NAME": f"{SIMPLE}\t"})
    assert status == 200 and texts(body["result"]) == [SIMPLE_TEXT], (status, body)


def test_header_name_with_non_ascii_target(url):
    """SEP-2243: a target that is not plain ASCII travels base64-encoded; the comparison uses the decoded
    value (here it names no tool, so the answer is the engine's, not a -32020)."""
    name = P + "tëst"
    headers = modern_headers("tools/call", b64(name))
    resp = post_raw(url, {"jsonrpc": "2.0", "id": 73, "method": "tools/call",
                          "params": {"name": name, "arguments": {}, "_meta": VALID_META}}, headers)
    body = messages(resp)[-1]
    assert body["id"] == 73 and body.get("error", {}).get("code") != -32020, body


@pytest.mark.parametrize("method", ["initialize", "ping", "logging/setLevel", "resources/subscribe",
                                    "resources/unsubscribe", "unknown/method"])
def test_method_not_found_404(url, method):
    """sep-2575-http-server-method-not-found-404-{initialize,ping,logging-setlevel,resources-subscribe,
    resources-unsubscribe} and the generic -404: the 2026 wire answers 404 + -32601, echoing the id."""
    params = {"_meta": VALID_META}
    if method == "initialize":
        params.update(protocolVersion=LEGACY, capabilities={}, clientInfo={"name": "x", "version": "1"})
    elif method == "logging/setLevel":
        params["level"] = "debug"
    elif method.startswith("resources/"):
        params["uri"] = "test://watched-resource"
    resp = post_raw(url, {"jsonrpc": "2.0", "id": 500, "method": method, "params": params}, modern_headers(method))
    error_of(resp, 500, 404, -32601)


def test_initialize_at_2026_wire_opens_no_session(url):
    """initialize under the 2026 header is not the handshake: no Mcp-Session-Id is minted."""
    resp = post_raw(url, {"jsonrpc": "2.0", "id": 501, "method": "initialize", "params": {
        "protocolVersion": LEGACY, "capabilities": {}, "clientInfo": {"name": "x", "version": "1"}}},
        modern_headers("initialize"))
    assert resp.status_code == 404 and "mcp-session-id" not in resp.headers, (resp.status_code, dict(resp.headers))


@pytest.mark.parametrize("id", [0, -1, 2**53, "", "id with spaces", "ünïcode-id"])
def test_error_echoes_request_id(url, id):
    """sep-2575-http-server-error-jsonrpc-id: every error carries the request's id, whatever its form."""
    error_of(modern(url, "unknown/method", id=id), id, 404, -32601)
    error_of(post_raw(url, {"jsonrpc": "2.0", "id": id, "method": "tools/list", "params": {}},
                      modern_headers("tools/list")), id, 400, -32602)
    error_of(post_raw(url, {"jsonrpc": "2.0", "id": id, "method": "tools/list", "params": {"_meta": VALID_META}},
                      modern_headers("tools/call")), id, 400, -32020)


def test_response_stream_carries_only_notifications_and_the_result(url):
    """sep-2575-http-server-no-independent-requests-on-stream: a streamed response (progress and logs at
    once) holds notifications of this request only, then its result; no request, no other id."""
    resp = modern(url, "tools/call", {"name": PROGRESS, "arguments": {}}, id="stream-1",
                  meta={"progressToken": "st", LOG_LEVEL: "debug"})
    notes, result = result_of(resp, "stream-1", "tools/call")
    assert progress_of(notes) and all(p["progressToken"] == "st" for p in progress_of(notes))
    resp = modern(url, "tools/call", {"name": LOGGING_2026, "arguments": {}}, id="stream-2",
                  meta={"progressToken": "st2", LOG_LEVEL: "debug"})
    notes, result = result_of(resp, "stream-2", "tools/call")
    assert len(log_lines(notes)) == 4


def test_notifications_are_accepted_202(url):
    """Streamable HTTP: a notification is 202 with no body, in both eras."""
    resp = post_raw(url, {"jsonrpc": "2.0", "method": "notifications/cancelled",
                          "params": {"requestId": 999, "_meta": VALID_META}}, modern_headers("notifications/cancelled"))
    assert resp.status_code == 202 and resp.content == b"", (resp.status_code, resp.text)
    s = Session(url)  # notifications/initialized → 202 is checked inside
    resp = s.notify("notifications/cancelled", {"requestId": 12345})
    assert resp.status_code == 202 and resp.content == b"", (resp.status_code, resp.text)


@pytest.mark.parametrize("verb", ["GET", "DELETE"])
def test_get_and_delete_are_405_at_2026_wire(url, verb):
    """Streamable HTTP 2026-07-28: POST only; GET and DELETE are 405 (Allow: POST)."""
    resp = HTTP.request(verb, url, headers={"MCP-Protocol-Version": MODERN, "Accept": "text/event-stream"})
    assert resp.status_code == 405, (resp.status_code, resp.text)
    assert "POST" in resp.headers.get("allow", ""), dict(resp.headers)


def test_2026_ignores_session_id(url):
    """Streamable HTTP 2026-07-28: Mcp-Session-Id is ignored, even one that names no session."""
    resp = modern(url, "tools/call", {"name": SIMPLE}, headers={"Mcp-Session-Id": "not-a-session"})
    assert texts(result_of(resp, 1, "tools/call")[1]) == [SIMPLE_TEXT]


def test_2026_infers_nothing_from_earlier_requests(url):
    """server-stateless: a logLevel on one request does not carry over to the next, even on one connection."""
    with httpx2.Client(timeout=TIMEOUT) as c:
        def call(meta, id):
            params = {"name": LOGGING_2026, "arguments": {}, "_meta": modern_meta(**meta)}
            body = {"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params}
            return c.post(url, content=json.dumps(body), headers=modern_headers("tools/call", LOGGING_2026))

        first = result_of(call({LOG_LEVEL: "debug"}, 1), 1, "tools/call")[0]
        second = result_of(call({}, 2), 2, "tools/call")[0]
    assert len(log_lines(first)) == 4 and log_lines(second) == []


# ===========================================================================
# Both eras: server-sse-multiple-streams, dns-rebinding-protection
# ===========================================================================


def test_sse_multiple_streams_2026(url):
    """server-sse-multiple-streams, stateless era: concurrent POSTs each get their own answer, with only
    their own progress notifications."""
    def one(i):
        return i, modern(url, "tools/call", {"name": PROGRESS, "arguments": {}}, id=f"c-{i}",
                         meta={"progressToken": f"tok-{i}"})

    t0 = time.monotonic()
    with ThreadPoolExecutor(6) as pool:
        done = list(pool.map(one, range(6)))
    elapsed = time.monotonic() - t0
    for i, resp in done:
        notes, result = result_of(resp, f"c-{i}", "tools/call")
        check_progress(notes, f"tok-{i}")
    # Each call takes ~100 ms; six run side by side, not one after another.
    assert elapsed < 0.6 * 6, elapsed


def test_sse_multiple_streams_2025(url):
    """server-sse-multiple-streams, handshake era: concurrent POSTs in one session each get their own stream."""
    s = Session(url)
    lock = threading.Lock()

    def one(i):
        with lock:
            id = s.next_id
            s.next_id += 1
        params = {"name": PROGRESS, "arguments": {}, "_meta": {"progressToken": f"leg-{i}"}}
        _, resp = s.post("tools/call", params, id=id)
        return id, i, resp

    with ThreadPoolExecutor(6) as pool:
        done = list(pool.map(one, range(6)))
    for id, i, resp in done:
        notes, _ = result_of(resp, id, "tools/call", LEGACY)
        check_progress(notes, f"leg-{i}")


def test_sse_multiple_streams_mixed_eras(url):
    """Both eras at once on one server: each stream keeps to its own request."""
    s = Session(url)
    s.call("logging/setLevel", {"level": "debug"})

    def legacy():
        _, resp = s.post("tools/call", {"name": LOGGING_2025, "arguments": {}}, id="legacy")
        return result_of(resp, "legacy", "tools/call", LEGACY)[0]

    def stateless():
        return result_of(modern(url, "tools/call", {"name": LOGGING_2025, "arguments": {}}, id="modern"),
                         "modern", "tools/call")[0]

    with ThreadPoolExecutor(2) as pool:
        a, b = pool.submit(legacy), pool.submit(stateless)
        assert len(log_lines(a.result())) == 3 and log_lines(b.result()) == []


def initialize_body(version="2024-11-05") -> dict:
    return {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": version, "capabilities": {},
        "clientInfo": {"name": "conformance-dns-rebinding-test", "version": "1.0.0"}}}


def rebinding_probe(url: str, era: str, headers: dict) -> httpx2.Response:
    if era == LEGACY:
        return post_raw(url, initialize_body(), headers)
    return modern(url, "server/discover", headers=headers)


@pytest.mark.parametrize("era", [LEGACY, MODERN])
@pytest.mark.parametrize("header,value", [
    ("Host", "evil.example.com"),
    ("Host", "evil.example.com:{port}"),
    ("Host", "localhost.evil.example.com"),
    ("Host", "127.0.0.1.evil.example.com"),
    ("Origin", "http://evil.example.com"),
    ("Origin", "https://evil.example.com:{port}"),
    ("Origin", "http://localhost.evil.example.com"),
])
def test_dns_rebinding_rejected(url, era, header, value):
    """dns-rebinding-protection (localhost-host-rebinding-rejected): a foreign Host or Origin is refused
    (the suite asks 403; any 4xx is a refusal), and no session is minted."""
    resp = rebinding_probe(url, era, {header: value.format(port=port_of(url))})
    assert resp.status_code == 403, (resp.status_code, resp.text)
    assert "mcp-session-id" not in resp.headers


@pytest.mark.parametrize("era", [LEGACY, MODERN])
@pytest.mark.parametrize("header,value", [
    ("Host", "localhost"), ("Host", "localhost:{port}"), ("Host", "localhost:3000"),
    ("Host", "127.0.0.1"), ("Host", "127.0.0.1:{port}"), ("Host", "127.0.0.1:8080"),
    ("Host", "[::1]"), ("Host", "[::1]:{port}"), ("Host", "[::1]:9"),
    ("Origin", "http://localhost:3000"), ("Origin", "http://127.0.0.1:{port}"), ("Origin", "http://[::1]:8080"),
    ("Origin", "http://localhost"),
])
def test_dns_rebinding_localhost_accepted(url, era, header, value):
    """dns-rebinding-protection (localhost-host-valid-accepted): loopback names, any port, are served."""
    resp = rebinding_probe(url, era, {header: value.format(port=port_of(url))})
    assert 200 <= resp.status_code < 300, (resp.status_code, resp.text)
    msg = messages(resp)[-1]
    assert "result" in msg, msg
