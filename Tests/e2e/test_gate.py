"""The gate: who may see and call what (each plugin's own policy), arguments
checked and clamped before the plugin runs, structured errors, deadlines,
cancellation, rate and concurrency limits, malformed plugin results. Through
the official Python SDK in both protocol eras where a client is what
matters, and raw JSON-RPC where timing and silence are."""

from __future__ import annotations

import json
import time

import pytest
from mcp.shared.exceptions import MCPError

from conftest import CONFIG, run_cli, source_folder
from rawclient import error_kind, modern_meta, tool_text
from test_interop import run, sdk_client, structured

ERAS = ["legacy", "2026-07-28"]


def listed(tmp_path, bulkhead_bin, pd, mode, principal) -> list[str]:
    out: list[str] = []

    async def main():
        async with sdk_client(tmp_path, bulkhead_bin, pd.path, mode, "--config", str(CONFIG),
                              "--principal", principal) as client:
            out.extend(t.name for t in (await client.list_tools()).tools)

    run(main)
    return out


# ----------------------------------------------------------------------------- who sees what


@pytest.mark.parametrize("mode", ERAS)
def test_principals_see_different_tools(tmp_path, bulkhead_bin, plugin_dir, mode):
    pd = plugin_dir("admin", "bench", "deployments", "docs", "tickets", "gated")
    alice = listed(tmp_path, bulkhead_bin, pd, mode, "alice")
    bob = listed(tmp_path, bulkhead_bin, pd, mode, "bob")
    ops = listed(tmp_path, bulkhead_bin, pd, mode, "ops")
    assert "deployments__status" in alice and "deployments__status" not in bob
    assert "tickets__create" in alice and "tickets__create" in bob and "tickets__create" not in ops
    assert "admin__status" in ops and "admin__status" not in alice and "admin__status" not in bob
    assert "gated__hidden" in ops and "gated__hidden" not in alice
    assert "docs__search" in alice and "docs__search" not in ops
    assert "bench__add" in alice and "bench__add" in bob and "bench__add" in ops


@pytest.mark.parametrize("mode", ERAS)
def test_a_hidden_tool_answers_exactly_like_a_missing_one(tmp_path, bulkhead_bin, plugin_dir, mode):
    pd = plugin_dir("gated")
    errors = {}

    async def main():
        async with sdk_client(tmp_path, bulkhead_bin, pd.path, mode, "--config", str(CONFIG),
                              "--principal", "alice") as client:
            for name in ("gated__hidden", "gated__nosuch"):
                with pytest.raises(MCPError) as ei:
                    await client.call_tool(name, {})
                errors[name] = (ei.value.code, str(ei.value).replace(name, "NAME"))

    run(main)
    assert errors["gated__hidden"] == errors["gated__nosuch"]
    assert errors["gated__hidden"][0] == -32602


def test_a_hidden_tool_is_callable_by_whom_the_policy_allows(plugin_dir, serve):
    s = serve(plugin_dir("gated"), principal="ops")
    assert tool_text(s.call("gated__hidden", {}, meta=modern_meta())) == "found me"


def test_the_2026_list_says_it_varies_by_caller(plugin_dir, serve):
    s = serve(plugin_dir("gated"))
    res = s.result("tools/list", {"_meta": modern_meta()})
    assert res["cacheScope"] == "private"


def test_a_plugin_without_policy_serves_nobody_and_check_says_so(tmp_path, plugin_dir, serve, bulkhead_bin):
    pd = plugin_dir("bench")
    folder = pd.copy("gated", "nopolicy")
    (folder / "policy.toml").unlink()
    s = serve(pd)
    s.initialize()
    assert s.tool_names() == ["bench__add"]
    assert "has no policy.toml: it serves nobody" in s.stderr_text()
    r = run_cli(bulkhead_bin, "check", str(folder))
    assert r.returncode == 0
    assert "note: no policy.toml: deny by default, so this plugin serves nobody" in r.stdout


def test_a_policy_naming_a_tool_the_plugin_lacks_is_refused(tmp_path, plugin_dir, serve, bulkhead_bin):
    pd = plugin_dir("bench")
    folder = pd.copy("gated", "typo")
    policy = folder / "policy.toml"
    policy.write_text(policy.read_text() + '\n[limits.strcit]\ndeadline_ms = 10\n')
    s = serve(pd)
    s.initialize()
    assert s.tool_names() == ["bench__add"]
    line = next(l for l in s.stderr_text().splitlines() if "refused plugin 'typo'" in l)
    assert "names tool 'strcit', which the plugin does not have" in line
    r = run_cli(bulkhead_bin, "check", str(folder))
    assert r.returncode == 1 and "strcit" in r.stdout


# ----------------------------------------------------------------------------- arguments


@pytest.mark.parametrize("mode", ERAS)
def test_invalid_arguments_never_reach_the_plugin(tmp_path, bulkhead_bin, plugin_dir, mode):
    pd = plugin_dir("gated")
    cases = [
        ({"name": "x"}, "n is required"),
        ({"n": 0, "name": "x"}, "n must be at least 1 (got 0)"),
        ({"n": 11, "name": "x"}, "n must be at most 10 (got 11)"),
        ({"n": 2.5, "name": "x"}, "n must be an integer"),
        ({"n": 1, "name": "toolong"}, "name must be at most 5 characters long (got 7)"),
        ({"n": 1, "name": "x", "mode": "medium"}, 'mode must be one of "fast", "slow"'),
        ({"n": 1, "name": "x", "tags": ["a", "b", "c", "d"]}, "tags must have at most 3 items"),
        ({"n": 1, "name": "x", "tags": ["ok", "NO"]}, "tags[1] must match the pattern"),
        ({"n": 1, "name": "x", "nested": {"x": 0}}, "nested.x must be greater than 0"),
        ({"n": 1, "name": "x", "extra": True}, "unexpected property 'extra'"),
    ]

    async def main():
        async with sdk_client(tmp_path, bulkhead_bin, pd.path, mode) as client:
            for args, message in cases:
                res = await client.call_tool("gated__strict", args)
                assert res.is_error, (args, res)
                sc = structured(res)
                assert sc["kind"] == "invalid_argument", (args, sc)
                assert message in sc["message"], (args, sc["message"])
                assert message.split(" ")[0].split("[")[0] in json.dumps(sc["violations"])
                assert any(message in getattr(b, "text", "") for b in res.content)
            counted = structured(await client.call_tool("gated__count", {}))
            assert counted["calls"] == 0, "the plugin was called with arguments the schema refuses"
            good = await client.call_tool("gated__strict", {"n": 3, "name": "abc"})
            assert not good.is_error and structured(good) == {"n": 3, "name": "abc"}
            assert structured(await client.call_tool("gated__count", {}))["calls"] == 1

    run(main)


@pytest.mark.parametrize("mode", ERAS)
def test_a_clamped_argument_is_clamped_and_reported(tmp_path, bulkhead_bin, plugin_dir, mode):
    pd = plugin_dir("gated")

    async def main():
        async with sdk_client(tmp_path, bulkhead_bin, pd.path, mode) as client:
            res = await client.call_tool("gated__strict", {"n": 1, "name": "a", "page": 500})
            assert not res.is_error, res
            assert structured(res)["page"] == 50, "the plugin saw the clamped value"
            provenance = res.meta["bulkhead/provenance"]
            assert provenance["clamped"] == [{"field": "page", "requested": 500, "applied": 50}]
            assert any("clamped by policy: page 500 → 50" in getattr(b, "text", "") for b in res.content)
            low = await client.call_tool("gated__strict", {"n": 1, "name": "a", "page": -3})
            assert structured(low)["page"] == 1
            fine = await client.call_tool("gated__strict", {"n": 1, "name": "a", "page": 7})
            assert "clamped" not in fine.meta["bulkhead/provenance"]

    run(main)


def test_clamping_never_changes_a_values_type(plugin_dir, serve):
    # page is a clamped integer: a value that is not one is refused exactly as
    # an unclamped integer's is (n: 2.5), never rounded into range.
    s = serve(plugin_dir("gated"))
    s.initialize()
    for page in (50.5, 500.5, -3.5, "500", True):
        res = s.call("gated__strict", {"n": 1, "name": "a", "page": page})
        assert error_kind(res) == "invalid_argument", (page, res)
        assert "page must be an integer" in res["structuredContent"]["message"], (page, res)
        assert "clamped" not in res["_meta"]["bulkhead/provenance"], page
    unclamped = s.call("gated__strict", {"n": 2.5, "name": "a"})
    assert unclamped["structuredContent"]["message"] == "n must be an integer (got 2.5)"
    assert s.call("gated__count", {})["structuredContent"]["calls"] == 0
    # 500.0 is an integer to JSON Schema: clamped, and the plugin sees an integer.
    res = s.call("gated__strict", {"n": 1, "name": "a", "page": 500.0})
    assert res["structuredContent"]["page"] == 50, res
    assert res["_meta"]["bulkhead/provenance"]["clamped"] == [{"field": "page", "requested": 500.0, "applied": 50}]


def test_arguments_over_the_size_limit_are_too_large(plugin_dir, serve):
    s = serve(plugin_dir("gated"))
    s.initialize()
    res = s.call("gated__strict", {"n": 1, "name": "x" * 5000})
    assert error_kind(res) == "too_large" and "argument_bytes" in tool_text(res)
    assert s.call("gated__count", {})["structuredContent"]["calls"] == 0


# ----------------------------------------------------------------------------- deadlines and cancellation


def test_a_call_past_its_deadline_times_out_and_others_go_on(plugin_dir, serve):
    s = serve(plugin_dir("gated", "bench", "admin", "serial"), principal="ops")
    s.initialize()
    t0 = time.monotonic()
    hung = s.send_request("tools/call", {"name": "gated__hang", "arguments": {"ms": 2500}})
    # Meanwhile other plugins, and other tools of this one, answer at once.
    for i in range(20):
        assert tool_text(s.call("bench__add", {"a": i, "b": 1})) == str(i + 1)
    assert s.call("gated__rated", {}).get("isError") is not True
    res = s.wait(hung, timeout=5)["result"]
    took = time.monotonic() - t0
    assert error_kind(res) == "timeout", res
    assert "300 ms" in tool_text(res)
    assert 0.25 < took < 1.5, took
    status = s.call("admin__status", {})["structuredContent"]
    gated = next(p for p in status["plugins"] if p["name"] == "gated")
    assert gated["health"] == "degraded"
    assert "overran its 300 ms deadline" in s.stderr_text()
    # Once the plugin really returns, it is healthy again.
    time.sleep(2.6)
    status = s.call("admin__status", {})["structuredContent"]
    assert next(p for p in status["plugins"] if p["name"] == "gated")["health"] == "ok"


def test_a_hung_serial_plugin_blocks_nothing_else(tmp_path, plugin_dir, serve):
    pd = plugin_dir("bench", "serial")
    (pd.path / "serial").unlink()  # a private copy, so its policy can be changed
    copy = pd.copy("serial")
    (copy / "policy.toml").write_text((copy / "policy.toml").read_text() + "\n[limits]\ndeadline_ms = 300\n")
    s = serve(pd)
    s.initialize()
    first = s.send_request("tools/call", {"name": "serial__sleep", "arguments": {"ms": 1500}})
    queued = s.send_request("tools/call", {"name": "serial__sleep", "arguments": {"ms": 10}})
    assert tool_text(s.call("bench__add", {"a": 1, "b": 2})) == "3"
    assert error_kind(s.wait(first, timeout=5)["result"]) == "timeout"
    # The queued call waited behind the stuck one until its own deadline.
    assert error_kind(s.wait(queued, timeout=5)["result"]) == "timeout"
    assert tool_text(s.call("bench__add", {"a": 2, "b": 2})) == "4"


def test_cancellation_sets_the_flag_and_sends_no_response(plugin_dir, serve):
    s = serve(plugin_dir("gated"))
    s.initialize()
    rid = s.send_request("tools/call", {"name": "gated__nap", "arguments": {"ms": 350}})
    time.sleep(0.1)
    s.notify("notifications/cancelled", {"requestId": rid, "reason": "user pressed stop"})
    time.sleep(0.6)
    assert not s.has_response(rid), "a cancelled request must not be answered"
    assert s.call("gated__count", {})["structuredContent"]["saw_cancel"] == 1


# ----------------------------------------------------------------------------- limits


def test_calls_per_minute_at_the_edge(plugin_dir, serve):
    s = serve(plugin_dir("gated"))
    s.initialize()
    for _ in range(3):
        assert tool_text(s.call("gated__rated", {})) == "ok"
    res = s.call("gated__rated", {})
    assert error_kind(res) == "unavailable", res
    sc = res["structuredContent"]
    assert "more than 3 calls a minute" in sc["message"]
    assert 15_000 <= sc["retryAfterMs"] <= 20_000, sc  # a token comes back every 20 s
    # Other tools of the plugin are not counted against rated's own limit.
    assert s.call("gated__strict", {"n": 1, "name": "a"}).get("isError") is not True


def test_the_rate_limit_is_per_principal(plugin_dir, serve):
    pd = plugin_dir("gated")
    for principal in ("alice", "bob"):
        s = serve(pd, principal=principal)
        s.initialize()
        for _ in range(3):
            assert tool_text(s.call("gated__rated", {})) == "ok"
        assert error_kind(s.call("gated__rated", {})) == "unavailable"


def test_concurrent_calls_at_the_edge(plugin_dir, serve):
    s = serve(plugin_dir("gated"))
    s.initialize()
    a = s.send_request("tools/call", {"name": "gated__limited", "arguments": {"ms": 300}})
    b = s.send_request("tools/call", {"name": "gated__limited", "arguments": {"ms": 300}})
    time.sleep(0.1)
    third = s.call("gated__limited", {"ms": 1})
    assert error_kind(third) == "unavailable" and "2 calls are already running" in tool_text(third)
    assert third["structuredContent"]["retryAfterMs"] > 0
    assert tool_text(s.wait(a)["result"]) == "rested"
    assert tool_text(s.wait(b)["result"]) == "rested"
    assert tool_text(s.call("gated__limited", {"ms": 1})) == "rested"


# ----------------------------------------------------------------------------- malformed results


@pytest.mark.parametrize("what,kind", [("utf8", "internal"), ("json", "internal"), ("big", "too_large")])
def test_malformed_results_get_the_right_kind_and_the_server_keeps_serving(plugin_dir, serve, what, kind):
    s = serve(plugin_dir("gated", "bench"))
    s.initialize()
    res = s.call("gated__bad", {"what": what})
    assert error_kind(res) == kind, res
    if what == "big":
        assert "65536" in tool_text(res) and len(json.dumps(res)) < 5000
    assert tool_text(s.call("bench__add", {"a": 2, "b": 3})) == "5"
    assert s.call("gated__strict", {"n": 1, "name": "a"}).get("isError") is not True


@pytest.mark.parametrize("mode", ERAS)
def test_every_error_kind_is_structured_with_text_too(tmp_path, bulkhead_bin, plugin_dir, mode):
    pd = plugin_dir("gated")

    async def main():
        async with sdk_client(tmp_path, bulkhead_bin, pd.path, mode) as client:
            for args, kind in [({"what": "big"}, "too_large"), ({"what": "utf8"}, "internal")]:
                res = await client.call_tool("gated__bad", args)
                assert res.is_error and structured(res)["kind"] == kind
                assert structured(res)["message"]
                assert any(getattr(b, "text", "").startswith(kind + ":") for b in res.content)

    run(main)
