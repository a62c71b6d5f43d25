"""Interop with the official Python SDK (mcp 2.3.0) as the client, over stdio, in every mode.

The SDK validates every result it receives against the wire schema of the
negotiated version; on top of that, the raw-client tests here validate each
raw result line with the SDK's own per-version validators in mcp_types.methods.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import mcp_types
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp_types import methods as wire

from conftest import CONFIG, EXAMPLE_PLUGINS, EXAMPLES, REPO
from rawclient import LEGACY, MODERN, modern_meta, tool_text

MODES = ["legacy", "auto", MODERN]
EXPECTED_VERSION = {"legacy": LEGACY, "auto": MODERN, MODERN: MODERN}


async def accept_consent(context, params):
    """An elicitation callback that agrees to whatever is asked (writes need a human's consent)."""
    content: dict[str, Any] = {}
    schema = getattr(params, "requested_schema", None) or {}
    if not isinstance(schema, dict):
        schema = schema.model_dump(by_alias=True) if hasattr(schema, "model_dump") else {}
    for key, prop in (schema.get("properties") or {}).items():
        t = prop.get("type")
        if "enum" in prop and prop["enum"]:
            content[key] = prop["enum"][0]
        elif t == "boolean":
            content[key] = True
        elif t in ("number", "integer"):
            content[key] = prop.get("minimum", 1)
        else:
            content[key] = "yes"
    return mcp_types.ElicitResult(action="accept", content=content)


def sdk_client(tmp_path: Path, bulkhead_bin: Path, plugins: Path, mode: str, *extra: str, consent: bool = True) -> Client:
    params = StdioServerParameters(
        command=str(bulkhead_bin),
        args=["serve", "--plugins", str(plugins), *extra],
        cwd=str(REPO),
    )
    errlog = open(tmp_path / f"sdk-{mode}-stderr.log", "w")
    return Client(
        stdio_client(params, errlog=errlog),
        mode=mode,
        read_timeout_seconds=30,
        elicitation_callback=accept_consent if consent else None,
    )


def run(fn, *args):
    return anyio.run(fn, *args)


def structured(res) -> dict:
    return res.structured_content or {}


def sc_kind(res) -> str | None:
    return structured(res).get("kind") if res.is_error else None


@pytest.mark.parametrize("mode", MODES)
def test_sdk_lists_and_calls_every_example_plugin(tmp_path, bulkhead_bin, plugin_dir, mode):
    pd = plugin_dir(*EXAMPLE_PLUGINS)
    report: dict[str, Any] = {}

    async def main():
        async with sdk_client(tmp_path, bulkhead_bin, pd.path, mode, "--config", str(CONFIG)) as client:
            assert client.protocol_version == EXPECTED_VERSION[mode]
            if mode in ("legacy", "auto"):  # a pinned version without discover knows no server info
                assert client.server_info is not None and client.server_info.name
            names = []
            cursor = None
            while True:
                page = await client.list_tools(cursor=cursor)
                names += [t.name for t in page.tools]
                cursor = page.next_cursor
                if cursor is None:
                    break
            report["names"] = names

            async def call(name, args):
                res = await client.call_tool(name, args)
                assert isinstance(res, mcp_types.CallToolResult), (name, res)
                report[name] = res
                return res

            # Reads: all must succeed.
            hits = await call("docs__search", {"query": "deploy", "limit": 3})
            assert not hits.is_error, hits
            first = structured(hits)["hits"][0]["source"]
            doc = await call("docs__fetch", {"path": first})
            assert not doc.is_error, doc
            dep = await call("deployments__status", {})
            assert not dep.is_error, dep
            hist = await call("deployments__history", {"service": "orders", "limit": 2})
            assert not hist.is_error, hist
            add = await call("bench__add", {"a": 19, "b": 23})
            assert not add.is_error and add.content[0].text == "42"
            lst = await call("tickets__list", {})
            assert not lst.is_error, lst

            # Writes: a valid result either way (consent may refuse them).
            created = await call("tickets__create", {"title": f"interop {mode}", "body": "made by the SDK"})
            if created.is_error:
                assert sc_kind(created) in ("consent_required", "not_allowed"), created
                return
            tid = structured(created).get("id")
            assert tid is not None, created
            got = await call("tickets__get", {"id": tid})
            assert not got.is_error, got
            com = await call("tickets__comment", {"id": tid, "body": "a comment"})
            if not com.is_error:
                cl = await call("tickets__close", {"id": tid})
                assert isinstance(cl, mcp_types.CallToolResult)

    async def as_ops():
        # admin is its own domain: only the admin scope sees it (ops has it, alice not).
        async with sdk_client(tmp_path, bulkhead_bin, pd.path, mode, "--config", str(CONFIG),
                              "--principal", "ops") as client:
            report["ops names"] = [t.name for t in (await client.list_tools()).tools]
            adm = await client.call_tool("admin__status", {})
            assert not adm.is_error, adm

    run(main)
    run(as_ops)
    names = report["names"]
    assert names == sorted(names, key=lambda n: tuple(n.split("__", 1)))
    assert not any(n.startswith("admin.") for n in names)
    assert "admin__status" in report["ops names"]
    for p in EXAMPLE_PLUGINS:
        assert any(n.startswith(p + "__") for n in names + report["ops names"]), p


@pytest.mark.parametrize("mode", MODES)
def test_sdk_tool_errors_and_protocol_errors(tmp_path, bulkhead_bin, plugin_dir, mode):
    from mcp.shared.exceptions import MCPError

    pd = plugin_dir("echo")

    async def main():
        async with sdk_client(tmp_path, bulkhead_bin, pd.path, mode) as client:
            await client.list_tools()
            for kind, name in enumerate(
                ["invalid_argument", "not_found", "not_allowed", "unavailable", "timeout",
                 "cancelled", "too_large", "internal", "consent_required"], start=1):
                res = await client.call_tool("echo__fail", {"kind": kind})
                assert res.is_error is True
                assert structured(res)["kind"] == name
                assert isinstance(structured(res)["message"], str)
                assert any(getattr(b, "text", "") for b in res.content)
            with pytest.raises(MCPError) as ei:
                await client.call_tool("echo__nope", {})
            assert ei.value.code == -32602
            res = await client.call_tool("echo__echo", {"still": "here"})
            assert structured(res) == {"still": "here"}

    run(main)


@pytest.mark.parametrize("mode", MODES)
def test_sdk_caller_identity(tmp_path, bulkhead_bin, plugin_dir, mode):
    pd = plugin_dir("echo")

    async def main(extra, want_principal, want_tenant):
        async with sdk_client(tmp_path, bulkhead_bin, pd.path, mode, *extra) as client:
            res = await client.call_tool("echo__caller", {})
            assert not res.is_error, res
            blob = json.dumps(structured(res)) + " ".join(getattr(b, "text", "") for b in res.content)
            assert want_principal in blob and want_tenant in blob, blob

    run(main, [], "local", "default")
    run(main, ["--config", str(CONFIG)], "alice", "acme")
    run(main, ["--config", str(CONFIG), "--principal", "bob"], "bob", "globex")
    run(main, ["--config", str(CONFIG), "--principal", "ops"], "admin", "acme")


# --------------------------------------------------------------------------- docs tenants


def corpus_sources(tenant: str) -> list[str]:
    return sorted(f"{tenant}/{p.name}" for p in (EXAMPLES / "docs" / "corpus" / tenant).glob("*.md"))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("principal,own,other", [("alice", "acme", "globex"), ("bob", "globex", "acme")])
def test_docs_tenant_isolation(tmp_path, bulkhead_bin, plugin_dir, mode, principal, own, other):
    pd = plugin_dir("docs")
    own_docs, other_docs = corpus_sources(own), corpus_sources(other)
    assert own_docs and other_docs, "the docs corpus must have documents for both tenants"

    async def main():
        async with sdk_client(tmp_path, bulkhead_bin, pd.path, mode, "--config", str(CONFIG),
                              "--principal", principal) as client:
            seen = set()
            for q in ("the", "a", "deploy", "billing", "e"):
                res = await client.call_tool("docs__search", {"query": q, "limit": 20})
                assert not res.is_error, res
                sc = structured(res)
                assert sc.get("tenant", own) == own
                for h in sc["hits"]:
                    assert h["source"].startswith(own + "/"), (q, h)
                    seen.add(h["source"])
                text = " ".join(getattr(b, "text", "") for b in res.content)
                assert (other + "/") not in text
            assert seen, "searching found nothing in the caller's own tenant"
            for src in own_docs[:3]:
                res = await client.call_tool("docs__fetch", {"path": src})
                assert not res.is_error, (src, res)
            for src in other_docs:
                res = await client.call_tool("docs__fetch", {"path": src})
                assert res.is_error and sc_kind(res) == "not_found", (src, res)
                text = " ".join(getattr(b, "text", "") for b in res.content)
                body_of_other = (EXAMPLES / "docs" / "corpus" / src).read_text()
                assert body_of_other[-60:].strip() not in text

    run(main)


# --------------------------------------------------------------------------- raw lines vs the SDK's validators


def validate(method: str, version: str, result: dict) -> None:
    """Validate one raw result with the SDK's per-version wire validator and its version-free model."""
    wire.validate_server_result(method, version, result)
    wire.parse_server_result(method, version, result)


def test_raw_results_validate_legacy(plugin_dir, serve):
    s = serve(plugin_dir("echo", "bench", "docs", "deployments", "admin", "tickets"), config=CONFIG)
    checked = []

    def check(method, params, result):
        validate(method, LEGACY, result)
        checked.append(method)

    init = s.initialize(LEGACY)
    check("initialize", None, init)
    check("ping", None, s.result("ping", {}))
    tools = s.result("tools/list", {})
    check("tools/list", None, tools)
    for t in tools["tools"]:
        mcp_types.Tool.model_validate(t)
    for name, args in [
        ("bench__add", {"a": 1, "b": 2}),
        ("echo__echo", {"x": [1, 2, {"y": None}]}),
        ("echo__fail", {"kind": 4}),
        ("echo__big", {"bytes": 70_000}),
        ("docs__search", {"query": "deploy"}),
        ("deployments__status", {}),
        ("tickets__list", {}),
        ("tickets__create", {"title": "raw legacy", "body": "b"}),
    ]:
        res = s.call(name, args)
        check("tools/call", None, res)
        assert "resultType" not in res or res["resultType"] == "complete"
    assert s.shutdown() == 0
    ops = serve(plugin_dir("admin", "bench"), config=CONFIG, principal="ops")
    ops.initialize(LEGACY)
    check("tools/call", None, ops.call("admin__status", {}))
    assert len(checked) >= 12


def test_raw_results_validate_modern(plugin_dir, serve):
    s = serve(plugin_dir("echo", "bench", "docs", "deployments", "admin", "tickets"), config=CONFIG)
    meta = modern_meta()

    disc = s.result("server/discover", {"_meta": meta})
    validate("server/discover", MODERN, disc)
    mcp_types.DiscoverResult.model_validate(disc)
    tools = s.result("tools/list", {"_meta": meta})
    validate("tools/list", MODERN, tools)
    for name, args in [
        ("bench__add", {"a": 1, "b": 2}),
        ("echo__echo", {"x": "y"}),
        ("echo__fail", {"kind": 7}),
        ("docs__search", {"query": "deploy"}),
        ("deployments__history", {"service": "checkout"}),
        ("tickets__list", {}),
        ("tickets__create", {"title": "raw modern", "body": "b"}),
    ]:
        res = s.call(name, args, meta=meta)
        validate("tools/call", MODERN, res)
        assert res["resultType"] in ("complete", "input_required"), res
        if name != "tickets__create":
            assert res["resultType"] == "complete"
    assert s.shutdown() == 0
    ops = serve(plugin_dir("admin"), config=CONFIG, principal="ops")
    validate("tools/call", MODERN, ops.call("admin__status", {}, meta=meta))


def test_raw_error_shapes_validate(plugin_dir, serve):
    """JSON-RPC errors parse as the SDK's JSONRPCError; -32022 data parses as UnsupportedProtocolVersionErrorData."""
    s = serve(plugin_dir("echo"))
    resp = s.request("tools/list", {"_meta": modern_meta(version="1990-01-01")})
    mcp_types.JSONRPCError.model_validate(resp)
    data = mcp_types.UnsupportedProtocolVersionErrorData.model_validate(resp["error"]["data"])
    assert MODERN in data.supported and LEGACY in data.supported
    resp = s.request("nope/nope", {})
    mcp_types.JSONRPCError.model_validate(resp)
    n = s.null_count()
    s.send_raw(b"{{{\n")
    resp = s.wait_null(n)
    mcp_types.JSONRPCError.model_validate(resp)
    assert s.shutdown() == 0


@pytest.mark.parametrize("mode", MODES)
def test_sdk_concurrent_calls(tmp_path, bulkhead_bin, plugin_dir, mode):
    pd = plugin_dir("echo", "bench")
    results: dict[int, Any] = {}

    async def main():
        async with sdk_client(tmp_path, bulkhead_bin, pd.path, mode) as client:
            await client.list_tools()

            async def one(i: int):
                if i % 10 == 0:
                    res = await client.call_tool("echo__big", {"bytes": 100_000 + i})
                    results[i] = len(res.content[0].text)
                elif i % 2:
                    res = await client.call_tool("bench__add", {"a": i, "b": 1000})
                    results[i] = res.content[0].text
                else:
                    res = await client.call_tool("echo__echo", {"i": i})
                    results[i] = structured(res)

            async with anyio.create_task_group() as tg:
                for i in range(200):
                    tg.start_soon(one, i)

    run(main)
    for i in range(200):
        if i % 10 == 0:
            assert results[i] == 100_000 + i
        elif i % 2:
            assert results[i] == str(i + 1000)
        else:
            assert results[i] == {"i": i}


@pytest.mark.parametrize("mode", MODES)
def test_sdk_cancellation(tmp_path, bulkhead_bin, plugin_dir, mode):
    """Abandoning a call in the SDK sends notifications/cancelled; the plugin sees it and the session carries on."""
    pd = plugin_dir("echo")

    async def main():
        async with sdk_client(tmp_path, bulkhead_bin, pd.path, mode) as client:
            await client.list_tools()
            before = structured(await client.call_tool("echo__count", {}))["cancelled"]
            t0 = anyio.current_time()
            with anyio.move_on_after(0.3):
                await client.call_tool("echo__sleep", {"ms": 8000})
                raise AssertionError("the sleep was not abandoned")
            with anyio.fail_after(5):
                while structured(await client.call_tool("echo__count", {}))["cancelled"] == before:
                    await anyio.sleep(0.05)
            assert anyio.current_time() - t0 < 3
            res = await client.call_tool("echo__echo", {"after": "cancel"})
            assert structured(res) == {"after": "cancel"}

    run(main)
