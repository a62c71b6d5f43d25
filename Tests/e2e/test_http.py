"""Streamable HTTP: the official Python SDK (mcp 2.3.0) in every mode, and the
transport's walls (tokens, sessions, origins, headers) tested raw."""

from __future__ import annotations

import hashlib
import json
import signal
import time
from pathlib import Path
from typing import Any

import anyio
import httpx2
import mcp_types
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from conftest import EXAMPLE_PLUGINS, EXAMPLES
from httpserver import (LEGACY, MODERN, URL_LINE, messages, modern_headers, modern_meta, post_modern, start_http,
                        write_config)
from test_interop import accept_consent

MODES = ["legacy", "auto", MODERN]
EXPECTED_VERSION = {"legacy": LEGACY, "auto": MODERN, MODERN: MODERN}

TOKENS = {
    "alice": "bh_alice-token-for-tests-0123456789abcdefghij",
    "bob": "bh_bob-token-for-tests-0123456789abcdefghijkl",
    "ops": "bh_ops-token-for-tests-0123456789abcdefghijkl",
}


def token_config(tmp_path: Path, extra: str = "") -> Path:
    def h(name):
        return hashlib.sha256(TOKENS[name].encode()).hexdigest()

    return write_config(tmp_path, f"""
default_principal = "alice"

[principals.alice]
tenant = "acme"
scopes = ["docs.read", "tickets.read", "tickets.write", "deployments.read"]
token_sha256 = "{h('alice')}"

[principals.bob]
tenant = "globex"
scopes = ["docs.read", "tickets.read", "tickets.write"]
token_sha256 = ["{h('bob')}"]

[principals.ops]
tenant = "acme"
scopes = ["admin", "deployments.read"]
token_sha256 = "{h('ops')}"

[audit]
path = "audit.jsonl"
{extra}
""")


def sdk(url: str, mode: str, token: str | None, consent: bool = True) -> Client:
    headers = {"Authorization": f"Bearer {token}"} if token else None
    return Client(
        streamable_http_client(url, http_client=create_mcp_http_client(headers=headers)),
        mode=mode,
        read_timeout_seconds=30,
        elicitation_callback=accept_consent if consent else None,
    )


def structured(res) -> dict:
    return res.structured_content or {}


@pytest.fixture
def token_server(bulkhead_bin, plugin_dir, tmp_path):
    servers = []

    def start(*names, extra_config: str = "", args: tuple = ()):
        pd = plugin_dir(*(names or EXAMPLE_PLUGINS))
        cfg = token_config(tmp_path, extra_config)
        s = start_http(bulkhead_bin, pd.path, tmp_path, *args, config=cfg)
        s.config = cfg
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.stop()


@pytest.mark.parametrize("mode", MODES)
def test_sdk_over_http_lists_and_calls_every_example_plugin(token_server, mode):
    srv = token_server()
    report: dict[str, Any] = {}

    async def main():
        async with sdk(srv.url, mode, TOKENS["alice"]) as client:
            assert client.protocol_version == EXPECTED_VERSION[mode]
            names = [t.name for t in (await client.list_tools()).tools]
            report["names"] = names
            hits = await client.call_tool("docs__search", {"query": "deploy", "limit": 3})
            assert not hits.is_error, hits
            first = structured(hits)["hits"][0]["source"]
            assert first.startswith("acme/"), first
            doc = await client.call_tool("docs__fetch", {"path": first})
            assert not doc.is_error, doc
            assert not (await client.call_tool("deployments__status", {})).is_error
            add = await client.call_tool("bench__add", {"a": 19, "b": 23})
            assert add.content[0].text == "42"
            created = await client.call_tool("tickets__create", {"title": f"http {mode}", "body": "over HTTP"})
            assert not created.is_error, created  # consent: elicitation over SSE, or input_required retries
            tid = structured(created)["id"]
            got = await client.call_tool("tickets__get", {"id": tid})
            assert not got.is_error, got

        async with sdk(srv.url, mode, TOKENS["ops"]) as client:
            report["ops"] = [t.name for t in (await client.list_tools()).tools]
            assert not (await client.call_tool("admin__status", {})).is_error

    anyio.run(main)
    assert "docs__search" in report["names"] and not any(n.startswith("admin__") for n in report["names"])
    assert "admin__status" in report["ops"]


# --------------------------------------------------------------------------- principals


def test_two_principals_concurrently_see_their_own_and_are_audited(token_server):
    srv = token_server("docs", "bench", "deployments")
    seen: dict[str, Any] = {}

    async def as_(name):
        async with sdk(srv.url, "auto", TOKENS[name]) as client:
            tools = [t.name for t in (await client.list_tools()).tools]
            sources = []
            for _ in range(5):
                hits = await client.call_tool("docs__search", {"query": "the", "limit": 5})
                assert not hits.is_error, hits
                sources += [h["source"] for h in structured(hits)["hits"]]
            seen[name] = (tools, sources)

    async def main():
        async with anyio.create_task_group() as tg:
            tg.start_soon(as_, "alice")
            tg.start_soon(as_, "bob")

    anyio.run(main)
    # Different lists: only alice holds deployments.read.
    assert "deployments__status" in seen["alice"][0] and "deployments__status" not in seen["bob"][0]
    assert "docs__search" in seen["alice"][0] and "docs__search" in seen["bob"][0]
    assert seen["alice"][1] and all(s.startswith("acme/") for s in seen["alice"][1])
    assert seen["bob"][1] and all(s.startswith("globex/") for s in seen["bob"][1])
    srv.stop()
    audit = [json.loads(line) for line in (srv.config.parent / "audit.jsonl").read_text().splitlines()]
    calls = [r for r in audit if r.get("tool") == "docs__search"]
    by = {(r.get("principal"), r.get("tenant")) for r in calls}
    assert ("alice", "acme") in by and ("bob", "globex") in by, by
    assert len(calls) == 10
    for name, token in TOKENS.items():
        assert token not in (srv.config.parent / "audit.jsonl").read_text()
        assert token not in srv.stderr


def test_a_tool_needing_a_scope_the_token_lacks_is_403_insufficient_scope(token_server, tmp_path):
    srv = token_server("docs", extra_config=f"""
[principals.nobody]
tenant = "acme"
scopes = []
token_sha256 = "{hashlib.sha256(b'bh_nobody-token-0123456789abcdefghijklmnop').hexdigest()}"
""")
    r = post_modern(srv.url, "tools/call", {"name": "docs__search", "arguments": {"query": "x"}},
                    token="bh_nobody-token-0123456789abcdefghijklmnop")
    assert r.status_code == 403, r.text
    challenge = r.headers["www-authenticate"]
    assert 'error="insufficient_scope"' in challenge and 'scope="docs.read"' in challenge, challenge
    assert r.json()["error"]["data"]["requiredScopes"] == ["docs.read"]
    # Not listed, and a tool nobody could reach with any scope is still simply unknown.
    r = post_modern(srv.url, "tools/list", {}, token="bh_nobody-token-0123456789abcdefghijklmnop")
    assert r.status_code == 200 and r.json()["result"]["tools"] == []
    r = post_modern(srv.url, "tools/call", {"name": "docs__nope", "arguments": {}},
                    token="bh_nobody-token-0123456789abcdefghijklmnop")
    assert r.status_code == 200 and r.json()["error"]["code"] == -32602


# --------------------------------------------------------------------------- tokens


@pytest.mark.parametrize("authorization,error", [
    (None, None),
    ("Basic YWxpY2U6cGFzcw==", "invalid_token"),
    ("Bearer", "invalid_token"),
    ("Bearer bh_not-a-token-this-server-knows-0123456789", "invalid_token"),
    ("Bearer " + TOKENS["alice"] + "x", "invalid_token"),
    ("Bearer a b c", "invalid_token"),
])
def test_requests_without_a_good_token_are_401_with_a_challenge(token_server, authorization, error):
    srv = token_server("bench")
    headers = modern_headers("tools/list")
    if authorization is not None:
        headers["Authorization"] = authorization
    body = {"jsonrpc": "2.0", "id": 7, "method": "tools/list", "params": {"_meta": modern_meta()}}
    r = httpx2.post(srv.url, content=json.dumps(body), headers=headers)
    assert r.status_code == 401, r.text
    challenge = r.headers["www-authenticate"]
    assert challenge.startswith("Bearer "), challenge
    if error is None:
        assert "error=" not in challenge  # RFC 6750 §3.1: no error code without credentials
    else:
        assert f'error="{error}"' in challenge
    # The same for the handshake era, GET and DELETE.
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": LEGACY, "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
    h = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    if authorization is not None:
        h["Authorization"] = authorization
    assert httpx2.post(srv.url, content=json.dumps(init), headers=h).status_code == 401
    assert httpx2.get(srv.url, headers=h).status_code == 401
    assert httpx2.delete(srv.url, headers=h).status_code == 401


def test_the_bearer_scheme_is_case_insensitive(token_server):
    srv = token_server("bench")
    r = post_modern(srv.url, "tools/list", {}, headers={"Authorization": "bEaReR " + TOKENS["alice"]})
    assert r.status_code == 200 and r.json()["result"]["tools"]


def legacy_init(url: str, token: str | None) -> str:
    h = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    if token:
        h["Authorization"] = f"Bearer {token}"
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": LEGACY, "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
    r = httpx2.post(url, content=json.dumps(init), headers=h)
    assert r.status_code == 200, r.text
    sid = r.headers["mcp-session-id"]
    assert 16 <= len(sid) <= 128 and all(0x21 <= ord(c) <= 0x7E for c in sid)
    h["Mcp-Session-Id"] = sid
    httpx2.post(url, content=json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}), headers=h)
    return sid


def legacy_post(url, sid, token, body, **extra):
    h = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
         "MCP-Protocol-Version": LEGACY}
    if sid:
        h["Mcp-Session-Id"] = sid
    if token:
        h["Authorization"] = f"Bearer {token}"
    h.update(extra)
    return httpx2.post(url, content=json.dumps(body), headers=h, timeout=30)


def test_a_session_is_bound_to_the_principal_that_opened_it(token_server):
    srv = token_server("bench")
    sid = legacy_init(srv.url, TOKENS["alice"])
    listing = {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}}
    assert legacy_post(srv.url, sid, TOKENS["alice"], listing).status_code == 200
    # Bob holds a good token, and alice's session id: the session is not there for him.
    r = legacy_post(srv.url, sid, TOKENS["bob"], listing)
    assert r.status_code == 404, r.text
    h = {"Mcp-Session-Id": sid, "Authorization": f"Bearer {TOKENS['bob']}"}
    assert httpx2.get(srv.url, headers=h).status_code == 404
    assert httpx2.delete(srv.url, headers=h).status_code == 404
    # Still alice's; a made-up id is nobody's.
    assert legacy_post(srv.url, sid, TOKENS["alice"], listing).status_code == 200
    assert legacy_post(srv.url, "0" * 64, TOKENS["alice"], listing).status_code == 404
    assert legacy_post(srv.url, None, TOKENS["alice"], listing).status_code == 400
    # DELETE ends it.
    h = {"Mcp-Session-Id": sid, "Authorization": f"Bearer {TOKENS['alice']}"}
    assert httpx2.delete(srv.url, headers=h).status_code in (200, 204)
    assert legacy_post(srv.url, sid, TOKENS["alice"], listing).status_code == 404


# --------------------------------------------------------------------------- browser walls


@pytest.fixture
def local_server(bulkhead_bin, plugin_dir, tmp_path):
    servers = []

    def start(*names, args: tuple = ()):
        pd = plugin_dir(*(names or ("echo",)))
        s = start_http(bulkhead_bin, pd.path, tmp_path, *args)
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.stop()


@pytest.mark.parametrize("origin,ok", [
    ("http://evil.example.com", False),
    ("https://localhost.evil.example", False),
    ("null", False),
    ("http://localhost:3000", True),
    ("http://127.0.0.1:9", True),
    ("http://[::1]:8080", True),
])
def test_origin_is_checked(local_server, origin, ok):
    srv = local_server()
    r = post_modern(srv.url, "tools/list", {}, headers={"Origin": origin})
    assert (r.status_code == 200) == ok, (origin, r.status_code, r.text)
    if not ok:
        assert r.status_code == 403


@pytest.mark.parametrize("host,ok", [
    ("evil.example.com", False),
    ("evil.example.com:8080", False),
    ("localhost", True),
    ("localhost:1234", True),
    ("127.0.0.1:80", True),
    ("[::1]:5", True),
])
def test_host_is_checked_against_dns_rebinding(local_server, host, ok):
    srv = local_server()
    r = post_modern(srv.url, "tools/list", {}, headers={"Host": host})
    assert (r.status_code == 200) == ok, (host, r.status_code, r.text)
    if not ok:
        assert 400 <= r.status_code < 500


def test_an_unauthenticated_server_only_binds_loopback(bulkhead_bin, plugin_dir, tmp_path):
    import subprocess

    pd = plugin_dir("echo")
    r = subprocess.run([str(bulkhead_bin), "serve", "--plugins", str(pd.path), "--http", "0.0.0.0:0"],
                       capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert r.returncode == 2
    assert "without authentication" in r.stderr and r.stderr.count("\n") == 1, r.stderr


# --------------------------------------------------------------------------- transport rules


def test_bodies_are_capped_and_must_be_one_json_message(local_server):
    srv = local_server(args=("--max-message-bytes", "4096"))
    big = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
           "params": {"name": "echo__echo", "arguments": {"x": "y" * 10_000}, "_meta": modern_meta()}}
    r = httpx2.post(srv.url, content=json.dumps(big), headers=modern_headers("tools/call", "echo__echo"))
    assert r.status_code == 413, r.text
    r = httpx2.post(srv.url, content=b"{not json", headers=modern_headers("tools/list"))
    assert r.status_code == 400 and r.json()["error"]["code"] == -32700
    batch = [{"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": modern_meta()}}]
    r = httpx2.post(srv.url, content=json.dumps(batch), headers=modern_headers("tools/list"))
    assert r.status_code == 400 and r.json()["error"]["code"] == -32600
    r = httpx2.post(srv.url, content=b"{}", headers={**modern_headers("tools/list"), "Content-Type": "text/plain"})
    assert r.status_code == 415
    # And it still serves.
    assert post_modern(srv.url, "tools/list", {}).status_code == 200


def test_2026_wire_rules(local_server):
    srv = local_server()
    r = post_modern(srv.url, "nope/nothing", {}, id="x1")
    assert r.status_code == 404 and r.json()["error"]["code"] == -32601 and r.json()["id"] == "x1"
    r = post_modern(srv.url, "initialize", {"protocolVersion": LEGACY, "capabilities": {}}, id=3)
    assert r.status_code == 404 and r.json()["error"]["code"] == -32601
    r = post_modern(srv.url, "tools/list", {}, headers={"Mcp-Method": "tools/call"})
    assert r.status_code == 400 and r.json()["error"]["code"] == -32020
    r = post_modern(srv.url, "tools/call", {"name": "echo__echo", "arguments": {}}, name="echo__count")
    assert r.status_code == 400 and r.json()["error"]["code"] == -32020
    r = post_modern(srv.url, "tools/call", {"name": "echo__echo", "arguments": {}},
                    name="=?base64?ZWNob19fZWNobw==?=")
    assert r.status_code == 200 and "result" in r.json(), r.text
    r = post_modern(srv.url, "tools/list", {"_meta": {"io.modelcontextprotocol/clientCapabilities": {}}})
    assert r.status_code == 400 and r.json()["error"]["code"] == -32602
    note = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 1}}
    r = httpx2.post(srv.url, content=json.dumps(note), headers=modern_headers("notifications/cancelled"))
    assert r.status_code == 202
    h = {"MCP-Protocol-Version": MODERN, "Accept": "text/event-stream"}
    assert httpx2.get(srv.url, headers=h).status_code == 405
    assert httpx2.delete(srv.url, headers=h).status_code == 405


def test_closing_the_response_stream_cancels_the_call(local_server):
    srv = local_server()

    async def main():
        async with httpx2.AsyncClient(timeout=30) as client:
            body = {"jsonrpc": "2.0", "id": 9, "method": "tools/call",
                    "params": {"name": "echo__sleep", "arguments": {"ms": 20_000}, "_meta": modern_meta()}}
            with anyio.move_on_after(0.5):
                await client.post(srv.url, content=json.dumps(body), headers=modern_headers("tools/call", "echo__sleep"))

    anyio.run(main)
    import time

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        r = post_modern(srv.url, "tools/call", {"name": "echo__count", "arguments": {}})
        if r.json()["result"]["structuredContent"].get("cancelled", 0) >= 1:
            break
        time.sleep(0.1)
    else:
        raise AssertionError("the sleep was not cancelled when its client went away: " + r.text)


# --------------------------------------------------------------------------- progress and log lines


def test_progress_and_log_lines_reach_only_a_client_that_asked(local_server):
    srv = local_server()
    asked = post_modern(srv.url, "tools/call", {
        "name": "echo__sleep", "arguments": {"ms": 350},
        "_meta": modern_meta(progressToken="p-1", **{"io.modelcontextprotocol/logLevel": "info"})}, id=5)
    assert asked.headers["content-type"].startswith("text/event-stream"), asked.headers
    msgs = messages(asked)
    progress = [m["params"] for m in msgs if m.get("method") == "notifications/progress"]
    logs = [m["params"] for m in msgs if m.get("method") == "notifications/message"]
    assert msgs[-1]["id"] == 5 and msgs[-1]["result"]["content"][0]["text"] == "slept"
    assert all("id" not in m for m in msgs[:-1])  # only notifications before the response
    assert len(progress) >= 3 and all(p["progressToken"] == "p-1" and p["total"] == 350 for p in progress)
    values = [p["progress"] for p in progress]
    assert values == sorted(values) and len(set(values)) == len(values), values
    assert [l["data"] for l in logs] == ["sleep started"] and logs[0]["logger"] == "echo" and logs[0]["level"] == "info"
    # debug is below the level asked for; a client that asked for nothing hears nothing.
    quiet = post_modern(srv.url, "tools/call", {"name": "echo__sleep", "arguments": {"ms": 250}}, id=6)
    assert quiet.headers["content-type"].startswith("application/json")
    assert quiet.json()["result"]["content"][0]["text"] == "slept"


def test_legacy_sessions_set_their_log_level(local_server):
    srv = local_server()
    sid = legacy_init(srv.url, None)
    assert legacy_post(srv.url, sid, None, {"jsonrpc": "2.0", "id": 2, "method": "logging/setLevel",
                                            "params": {"level": "debug"}}).json()["result"] == {}
    r = legacy_post(srv.url, sid, None, {"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                                         "params": {"name": "echo__sleep", "arguments": {"ms": 50},
                                                    "_meta": {"progressToken": 9}}})
    msgs = messages(r)
    assert [m["params"]["data"] for m in msgs if m.get("method") == "notifications/message"] == ["sleep started", "sleep ended"]
    assert any(m.get("method") == "notifications/progress" and m["params"]["progressToken"] == 9 for m in msgs)
    assert msgs[-1]["id"] == 3



# --------------------------------------------------------------------------- stdio beside HTTP


def stdio_and_http(serve, plugin_dir, tmp_path, *plugins: str):
    """`serve --http 127.0.0.1:0 --stdio`, bob on stdio: (the stdio client, the HTTP URL)."""
    config = token_config(tmp_path)
    srv = serve(plugin_dir(*plugins), config=config, principal="bob", extra=["--http", "127.0.0.1:0", "--stdio"])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        m = URL_LINE.search(srv.stderr_text())
        if m:
            return srv, m.group(1), config
        assert srv.proc.poll() is None, srv.stderr_tail()
        time.sleep(0.05)
    raise AssertionError("no HTTP URL logged: " + srv.stderr_tail())


def test_stdio_beside_http_serves_both_principals_and_ends_with_stdin(serve, plugin_dir, tmp_path):
    srv, url, config = stdio_and_http(serve, plugin_dir, tmp_path, "docs", "echo")
    srv.initialize()
    stdio_who = srv.call("echo__caller")["structuredContent"]
    assert stdio_who["principal"] == "bob" and stdio_who["tenant"] == "globex", stdio_who

    async def over_http():
        async with sdk(url, "auto", TOKENS["alice"]) as client:
            who = structured(await client.call_tool("echo__caller", {}))
            hits = structured(await client.call_tool("docs__search", {"query": "the", "limit": 5}))["hits"]
            # A stdio call while the HTTP session is open: the two sides run together.
            stdio_hits = srv.call("docs__search", {"query": "the", "limit": 5})["structuredContent"]["hits"]
            return who, hits, stdio_hits

    who, hits, stdio_hits = anyio.run(over_http)
    assert who["principal"] == "alice" and who["tenant"] == "acme", who
    assert hits and all(h["source"].startswith("acme/") for h in hits)
    assert stdio_hits and all(h["source"].startswith("globex/") for h in stdio_hits)

    # The end of stdin shuts both sides down, exit status 0.
    srv.close_stdin()
    assert srv.wait_exit(15) == 0, srv.stderr_tail()
    assert "end of stdin" in srv.stderr_text()
    with pytest.raises(httpx2.TransportError):
        httpx2.post(url, json={}, timeout=2)
    audit = [json.loads(line) for line in (config.parent / "audit.jsonl").read_text().splitlines()]
    by = {(r.get("principal"), r.get("tool")) for r in audit if r.get("tool")}
    assert {("bob", "echo__caller"), ("alice", "echo__caller"), ("alice", "docs__search"),
            ("bob", "docs__search")} <= by, by


def test_sigterm_drains_stdio_and_http_together(serve, plugin_dir, tmp_path):
    srv, url, _ = stdio_and_http(serve, plugin_dir, tmp_path, "echo")
    srv.initialize()
    assert srv.call("echo__caller")["structuredContent"]["principal"] == "bob"
    # A slow call in flight on stdio is let finish; stdin stays open.
    slow = srv.send_request("tools/call", {"name": "echo__sleep", "arguments": {"ms": 400}})
    time.sleep(0.1)
    srv.proc.send_signal(signal.SIGTERM)
    answer = srv.wait(slow, timeout=15)
    assert "result" in answer and not answer["result"].get("isError"), answer
    assert srv.wait_exit(15) == 0, srv.stderr_tail()
    assert "received SIGTERM" in srv.stderr_text()


def test_stdio_flag_without_http_serves_stdio(serve, plugin_dir):
    srv = serve(plugin_dir("echo"), principal="bob", extra=["--stdio"])
    srv.initialize()
    assert srv.call("echo__caller")["structuredContent"]["principal"] == "bob"
    assert srv.shutdown() == 0
