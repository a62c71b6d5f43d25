"""Consent before every write, end to end: the official Python client with an
elicitation callback in both eras (the database shows what happened), the
raw 2026-07-28 protocol for every way a requestState can be misused, and a
pending consent that holds up nothing else."""

from __future__ import annotations

import base64
import sqlite3
import time
from pathlib import Path

import mcp_types
import pytest

from conftest import CONFIG
from rawclient import error_kind, modern_meta, tool_text
from test_interop import run, sdk_client, structured

ERAS = ["legacy", "2026-07-28"]
KEY = "k" * 16 + "0123456789abcdef0123456789abcdef"  # 48 bytes; the server needs at least 32


def tickets_in(data_dir: Path) -> list[tuple]:
    db = data_dir / "tickets.db"
    if not db.exists():
        return []
    with sqlite3.connect(db) as c:
        return c.execute("select id, title, status from tickets order by id").fetchall()


def comments_in(data_dir: Path) -> list[tuple]:
    db = data_dir / "tickets.db"
    with sqlite3.connect(db) as c:
        return c.execute("select ticket_id, body from comments order by id").fetchall()


def config_with_key(tmp_path: Path, ttl: int = 300) -> Path:
    key = tmp_path / "consent.key"
    key.write_text(KEY + "\n")
    cfg = tmp_path / "bulkhead.toml"
    cfg.write_text(CONFIG.read_text() + f'\n[consent]\nkey_file = "{key}"\nttl_seconds = {ttl}\n')
    return cfg


def answering(action: str, confirm: bool | None = True, seen: list | None = None):
    async def callback(context, params):
        if seen is not None:
            seen.append(params)
        content = None if confirm is None else {"confirm": confirm}
        return mcp_types.ElicitResult(action=action, content=content if action == "accept" else None)

    return callback


# ----------------------------------------------------------------------------- through the SDK


@pytest.mark.parametrize("mode", ERAS)
def test_accepting_runs_the_write(tmp_path, bulkhead_bin, plugin_dir, mode):
    pd = plugin_dir("tickets")
    seen: list = []
    from mcp import Client  # the callback is a constructor argument; build the client with it
    from mcp import StdioServerParameters
    from mcp.client.stdio import stdio_client

    async def with_callback(callback):
        params = StdioServerParameters(command=str(bulkhead_bin),
                                       args=["serve", "--plugins", str(pd.path), "--config", str(CONFIG)])
        errlog = open(tmp_path / "sdk.log", "a")
        async with Client(stdio_client(params, errlog=errlog), mode=mode, read_timeout_seconds=30,
                          elicitation_callback=callback) as client:
            return await client.call_tool("tickets__create", {"title": f"consented {mode}", "body": "yes please"})

    res = run(with_callback, answering("accept", True, seen))
    assert not res.is_error, res
    assert res.meta["bulkhead/provenance"]["consent"].startswith("elicitation")
    rows = tickets_in(pd.data_dirs["tickets"])
    assert [r[1] for r in rows] == [f"consented {mode}"]
    # What the human was shown: the tool, the caller, the arguments.
    message = seen[0].message
    assert "tickets__create" in message and "alice" in message and "consented" in message and "yes please" in message


@pytest.mark.parametrize("mode", ERAS)
@pytest.mark.parametrize("action,confirm,kind", [
    ("decline", None, "not_allowed"),
    ("cancel", None, "cancelled"),
    ("accept", False, "not_allowed"),
])
def test_declining_or_cancelling_changes_nothing(tmp_path, bulkhead_bin, plugin_dir, mode, action, confirm, kind):
    pd = plugin_dir("tickets")
    from mcp import Client, StdioServerParameters
    from mcp.client.stdio import stdio_client

    async def main():
        params = StdioServerParameters(command=str(bulkhead_bin),
                                       args=["serve", "--plugins", str(pd.path), "--config", str(CONFIG)])
        async with Client(stdio_client(params, errlog=open(tmp_path / "sdk.log", "a")), mode=mode,
                          read_timeout_seconds=30, elicitation_callback=answering(action, confirm)) as client:
            res = await client.call_tool("tickets__create", {"title": "must not exist", "body": "no"})
            assert res.is_error and structured(res)["kind"] == kind, res
            assert "nothing was changed" in structured(res)["message"]
            # Reads are never asked about.
            assert not (await client.call_tool("tickets__list", {})).is_error

    run(main)
    assert tickets_in(pd.data_dirs["tickets"]) == []


@pytest.mark.parametrize("mode", ERAS)
def test_a_client_that_cannot_be_asked_gets_consent_required(tmp_path, bulkhead_bin, plugin_dir, mode):
    pd = plugin_dir("tickets")

    async def main():
        async with sdk_client(tmp_path, bulkhead_bin, pd.path, mode, "--config", str(CONFIG), consent=False) as client:
            res = await client.call_tool("tickets__create", {"title": "must not exist", "body": "no"})
            assert res.is_error and structured(res)["kind"] == "consent_required", res
            assert "[[preapprove]]" in structured(res)["message"]

    run(main)
    assert tickets_in(pd.data_dirs["tickets"]) == []


def test_a_preapproved_write_runs_without_asking(tmp_path, bulkhead_bin, plugin_dir, serve):
    pd = plugin_dir("tickets")
    # alice opens a ticket through consent (raw 2026 round trip), the triage bot comments without any.
    alice = serve(pd)
    meta = modern_meta(caps={"elicitation": {}})
    first = alice.call("tickets__create", {"title": "printer on fire", "body": "really"}, meta=meta)
    assert first["resultType"] == "input_required"
    answer = {"bulkhead/consent": {"action": "accept", "content": {"confirm": True}}}
    done = alice.result("tools/call", {"name": "tickets__create", "arguments": {"title": "printer on fire", "body": "really"},
                                       "inputResponses": answer, "requestState": first["requestState"], "_meta": meta})
    tid = done["structuredContent"]["id"]
    assert alice.shutdown() == 0

    bot = serve(pd, principal="triage-bot")
    no_elicitation = modern_meta()
    res = bot.call("tickets__comment", {"id": tid, "body": "triaged: P1"}, meta=no_elicitation)
    assert res["resultType"] == "complete" and not res.get("isError"), res
    assert res["_meta"]["bulkhead/provenance"]["consent"] == "preapproved"
    # Only comment is pre-approved for it: closing still needs a human.
    closing = bot.call("tickets__close", {"id": tid}, meta=no_elicitation)
    assert error_kind(closing) == "consent_required"
    assert bot.shutdown() == 0
    assert comments_in(pd.data_dirs["tickets"]) == [(tid, "triaged: P1")]
    assert tickets_in(pd.data_dirs["tickets"])[0][2] == "open"


# ----------------------------------------------------------------------------- the sealed requestState


CREATE = {"title": "raw consent", "body": "b"}
YES = {"bulkhead/consent": {"action": "accept", "content": {"confirm": True}}}


def ask(s, args=CREATE, meta=None):
    res = s.call("tickets__create", args, meta=meta or modern_meta(caps={"elicitation": {}}))
    assert res["resultType"] == "input_required", res
    req = res["inputRequests"]["bulkhead/consent"]
    assert req["method"] == "elicitation/create"
    assert req["params"]["requestedSchema"]["required"] == ["confirm"]
    return res["requestState"]


def retry(s, state, args=CREATE, responses=YES):
    return s.result("tools/call", {"name": "tickets__create", "arguments": args, "inputResponses": responses,
                                   "requestState": state, "_meta": modern_meta(caps={"elicitation": {}})})


def test_the_round_trip_and_a_replay(tmp_path, plugin_dir, serve):
    pd = plugin_dir("tickets")
    s = serve(pd, config=config_with_key(tmp_path))
    state = ask(s)
    ok = retry(s, state)
    assert not ok.get("isError") and ok["resultType"] == "complete", ok
    assert len(tickets_in(pd.data_dirs["tickets"])) == 1
    again = retry(s, state)
    assert error_kind(again) == "not_allowed" and "already used" in tool_text(again)
    assert len(tickets_in(pd.data_dirs["tickets"])) == 1


def test_an_expired_state_is_refused(tmp_path, plugin_dir, serve):
    pd = plugin_dir("tickets")
    s = serve(pd, config=config_with_key(tmp_path, ttl=1))
    state = ask(s)
    time.sleep(1.3)
    res = retry(s, state)
    assert error_kind(res) == "not_allowed" and "expired" in tool_text(res)
    assert tickets_in(pd.data_dirs["tickets"]) == []


def test_arguments_changed_after_approval_are_refused(tmp_path, plugin_dir, serve):
    pd = plugin_dir("tickets")
    s = serve(pd, config=config_with_key(tmp_path))
    state = ask(s)
    res = retry(s, state, args={"title": "raw consent", "body": "DROP everything"})
    assert error_kind(res) == "not_allowed" and "arguments changed" in tool_text(res)
    # Key order and 2 vs 2.0 are not changes: the digest is of the canonical arguments.
    state = ask(s, args={"body": "b", "title": "same"})
    assert not retry(s, state, args={"title": "same", "body": "b"}).get("isError")
    assert [r[1] for r in tickets_in(pd.data_dirs["tickets"])] == ["same"]


def test_another_principals_state_is_refused(tmp_path, plugin_dir, serve):
    pd = plugin_dir("tickets")
    cfg = config_with_key(tmp_path)  # a shared key: both processes accept each other's MACs
    alice = serve(pd, config=cfg)
    state = ask(alice)
    assert alice.shutdown() == 0
    bob = serve(pd, config=cfg, principal="bob")
    res = retry(bob, state)
    assert error_kind(res) == "not_allowed" and "another principal" in tool_text(res)
    # The same state back at alice's (another process, same key) works: the key is what binds.
    alice2 = serve(pd, config=cfg)
    assert not retry(alice2, state).get("isError")
    assert len(tickets_in(pd.data_dirs["tickets"])) == 1


@pytest.mark.parametrize("mangle", [
    lambda s: s[:-2] + ("AA" if not s.endswith("AA") else "BB"),          # another MAC
    lambda s: base64.urlsafe_b64encode(b'{"v":1}').decode().rstrip("=") + "." + s.split(".")[1],  # another payload
    lambda s: "not-a-state",
    lambda s: s.split(".")[0],
])
def test_forged_states_are_refused(tmp_path, plugin_dir, serve, mangle):
    pd = plugin_dir("tickets")
    s = serve(pd, config=config_with_key(tmp_path))
    state = ask(s)
    res = retry(s, mangle(state))
    assert error_kind(res) == "not_allowed", res
    assert tickets_in(pd.data_dirs["tickets"]) == []


def test_a_state_from_another_servers_key_is_refused(tmp_path, plugin_dir, serve):
    pd = plugin_dir("tickets")
    one = serve(pd)  # random key
    state = ask(one)
    two = serve(pd)  # another random key
    res = retry(two, state)
    assert error_kind(res) == "not_allowed" and "not issued by this server" in tool_text(res)


def test_declining_through_input_responses(tmp_path, plugin_dir, serve):
    pd = plugin_dir("tickets")
    s = serve(pd)
    state = ask(s)
    res = retry(s, state, responses={"bulkhead/consent": {"action": "decline"}})
    assert error_kind(res) == "not_allowed" and "declined" in tool_text(res)
    assert tickets_in(pd.data_dirs["tickets"]) == []


def test_the_consent_key_is_never_logged(tmp_path, plugin_dir, serve):
    pd = plugin_dir("tickets")
    s = serve(pd, config=config_with_key(tmp_path), extra=["--log-level", "debug"])
    retry(s, ask(s))
    assert s.shutdown() == 0
    assert KEY not in s.stderr_text()


# ----------------------------------------------------------------------------- handshake era, raw


def elicitation_of(s, timeout: float = 5) -> dict:
    """The one server-to-client request the server sent, once it arrived."""
    deadline = time.monotonic() + timeout
    while not s.requests_from_server and time.monotonic() < deadline:
        time.sleep(0.01)
    (request,) = s.requests_from_server
    return request


def test_a_pending_elicitation_blocks_nothing_else(plugin_dir, serve):
    pd = plugin_dir("tickets", "bench")
    s = serve(pd)
    s.initialize(capabilities={"elicitation": {}})
    rid = s.send_request("tools/call", {"name": "tickets__create", "arguments": CREATE})
    ask_req = elicitation_of(s)
    assert ask_req["method"] == "elicitation/create" and ask_req["params"]["mode"] == "form"
    # While the human thinks, everything else is answered.
    for i in range(10):
        assert tool_text(s.call("bench__add", {"a": i, "b": 1})) == str(i + 1)
    assert not s.call("tickets__list", {}).get("isError")
    assert not s.has_response(rid)
    assert tickets_in(pd.data_dirs["tickets"]) == []
    s.send({"jsonrpc": "2.0", "id": ask_req["id"], "result": {"action": "accept", "content": {"confirm": True}}})
    done = s.wait(rid)["result"]
    assert not done.get("isError"), done
    assert [r[1] for r in tickets_in(pd.data_dirs["tickets"])] == ["raw consent"]


def test_a_client_error_to_the_elicitation_writes_nothing(plugin_dir, serve):
    pd = plugin_dir("tickets")
    s = serve(pd)
    s.initialize(capabilities={"elicitation": {}})
    rid = s.send_request("tools/call", {"name": "tickets__create", "arguments": CREATE})
    s.send({"jsonrpc": "2.0", "id": elicitation_of(s)["id"], "error": {"code": -32601, "message": "no UI"}})
    assert error_kind(s.wait(rid)["result"]) == "not_allowed"
    assert tickets_in(pd.data_dirs["tickets"]) == []


def test_a_write_over_its_rate_is_refused_before_anyone_is_asked(plugin_dir, serve):
    pd = plugin_dir("tickets")
    policy = pd.path / "tickets" / "policy.toml"
    policy.write_text(policy.read_text().replace("calls_per_minute = 30", "calls_per_minute = 1"))
    s = serve(pd)
    s.initialize(capabilities={"elicitation": {}})
    first = s.send_request("tools/call", {"name": "tickets__create", "arguments": CREATE})
    elicitation_of(s)  # the first is put to the human
    second = s.call("tickets__create", {"title": "second", "body": "b"})
    assert error_kind(second) == "unavailable" and "more than 1 call a minute" in tool_text(second)
    assert len(s.requests_from_server) == 1, "the human must not be asked about a call that would be refused"
    s.send({"jsonrpc": "2.0", "id": s.requests_from_server[0]["id"], "result": {"action": "decline"}})
    assert error_kind(s.wait(first)["result"]) == "not_allowed"


def test_cancelling_a_call_withdraws_its_consent_question(plugin_dir, serve):
    pd = plugin_dir("tickets")
    s = serve(pd)
    s.initialize(capabilities={"elicitation": {}})
    rid = s.send_request("tools/call", {"name": "tickets__create", "arguments": CREATE})
    asked = elicitation_of(s)
    s.notify("notifications/cancelled", {"requestId": rid, "reason": "changed my mind"})
    deadline = time.monotonic() + 5
    withdrawn = []
    while not withdrawn and time.monotonic() < deadline:
        withdrawn = [n for n in s.notifications if n["method"] == "notifications/cancelled"
                     and n["params"]["requestId"] == asked["id"]]
        time.sleep(0.01)
    assert withdrawn, "the server must withdraw the elicitation of a cancelled call"
    # A late answer to the withdrawn question changes nothing, and the call is never answered.
    s.send({"jsonrpc": "2.0", "id": asked["id"], "result": {"action": "accept", "content": {"confirm": True}}})
    time.sleep(0.3)
    assert not s.has_response(rid)
    assert tickets_in(pd.data_dirs["tickets"]) == []
    assert s.call("tickets__list", {}).get("isError") is not True
