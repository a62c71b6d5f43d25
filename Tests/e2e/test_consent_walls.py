"""The walls around consent, end to end on the real binary: the human sees
this exact call (whole, and escaped so no argument can fake the question),
the question expires in both eras, a used requestState stays used across
processes that share the key and the state folder, only a client that
declared form-mode elicitation is asked, and a consented write counts once
against calls_per_minute."""

from __future__ import annotations

import base64
import json
import re
import sqlite3
import time
from pathlib import Path

import pytest

from conftest import CONFIG
from rawclient import error_kind, modern_meta, tool_text
from test_consent import CREATE, KEY, YES, elicitation_of, tickets_in

ERAS = ["legacy", "2026-07-28"]
FORM = {"elicitation": {}}
HEAD = "tickets__create wants to make a change on behalf of alice (tenant acme).\n\n"
TAIL = ("\n\nEvery argument is shown whole. Text is in quotes; \\n, \\r, \\t, \\\", \\\\ and \\u{…} stand for "
        "line breaks, tabs, quotes, backslashes and hidden, control or direction characters.\nAllow this exact change?")


def config(tmp_path: Path, *, ttl: int = 300, state_dir: str | None = None, key: bool = True, name: str = "bulkhead.toml") -> Path:
    lines = ["", "[consent]", f"ttl_seconds = {ttl}"]
    if key:
        key_file = tmp_path / "consent.key"
        key_file.write_text(KEY + "\n")
        lines.append(f'key_file = "{key_file}"')
    if state_dir is not None:
        lines.append(f'state_dir = "{state_dir}"')
    cfg = tmp_path / name
    cfg.write_text(CONFIG.read_text() + "\n".join(lines) + "\n")
    return cfg


def question(s, era: str, name: str, arguments: dict, caps: dict = FORM) -> tuple[str, object]:
    """Puts a write to the server and returns the consent message and what to answer with:
    the elicitation request (legacy) or the requestState (2026-07-28)."""
    if era == "legacy":
        rid = s.send_request("tools/call", {"name": name, "arguments": arguments})
        asked = elicitation_of(s)
        assert asked["method"] == "elicitation/create" and asked["params"]["mode"] == "form"
        s.requests_from_server.clear()
        return asked["params"]["message"], (rid, asked["id"])
    res = s.call(name, arguments, meta=modern_meta(caps=caps))
    assert res["resultType"] == "input_required", res
    params = res["inputRequests"]["bulkhead/consent"]["params"]
    assert params["mode"] == "form"
    return params["message"], res["requestState"]


def answer(s, era: str, name: str, arguments: dict, handle, action: dict) -> dict:
    if era == "legacy":
        rid, ask_id = handle
        s.send({"jsonrpc": "2.0", "id": ask_id, "result": action})
        return s.wait(rid)["result"]
    return s.result("tools/call", {"name": name, "arguments": arguments, "inputResponses": {"bulkhead/consent": action},
                                   "requestState": handle, "_meta": modern_meta(caps=FORM)})


def start(serve, pd, era: str, caps: dict = FORM, **kw):
    s = serve(pd, **kw)
    if era == "legacy":
        s.initialize(capabilities=caps)
    return s


ACCEPT = {"action": "accept", "content": {"confirm": True}}
DECLINE = {"action": "decline"}


# ----------------------------------------------------------------------------- 1. this exact call, shown


HOSTILE_BODY = ("fine\n\nAllow this exact change?\n"          # a forged end of the question
                "\u202eexe.txt\u202c"                          # right-to-left override
                "zero\u200bwidth\u200d\u2060\ufeff\u00ad"      # invisible characters
                "\x1b[2K\x1b[1A\x1b[31mred"                    # ANSI: erase the line, move up, colour
                "\r\t\x00\x7f\x85\u2028\u2066\u2069\u200e\u200f\u061c \"q\" \\n ")
HOSTILE_SHOWN = (r'"fine\n\nAllow this exact change?\n'
                 r"\u{202E}exe.txt\u{202C}"
                 r"zero\u{200B}width\u{200D}\u{2060}\u{FEFF}\u{AD}"
                 r"\u{1B}[2K\u{1B}[1A\u{1B}[31mred"
                 r'\r\t\u{0}\u{7F}\u{85}\u{2028}\u{2066}\u{2069}\u{200E}\u{200F}\u{61C} \"q\" \\n "')


@pytest.mark.parametrize("era", ERAS)
def test_a_hostile_argument_is_shown_escaped_and_cannot_fake_the_question(plugin_dir, serve, era):
    pd = plugin_dir("tickets")
    s = start(serve, pd, era)
    args = {"title": "ok \u2067right\u2069", "body": HOSTILE_BODY}
    message, handle = question(s, era, "tickets__create", args)
    assert message == HEAD + r'title: "ok \u{2067}right\u{2069}"' + "\nbody: " + HOSTILE_SHOWN + TAIL
    # One line asks, the last; no argument line holds a control, a direction or an invisible character.
    assert message.split("\n").count("Allow this exact change?") == 1
    assert not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff\u00ad\u061c\u2028\u2029]", message)
    res = answer(s, era, "tickets__create", args, handle, DECLINE)
    assert error_kind(res) == "not_allowed"
    assert tickets_in(pd.data_dirs["tickets"]) == []


@pytest.mark.parametrize("era", ERAS)
def test_a_10kb_body_is_shown_whole_and_runs_as_shown(plugin_dir, serve, era):
    pd = plugin_dir("tickets")
    s = start(serve, pd, era)
    body = "".join(f"line {i:04d} of the body. " for i in range(500)) + "AND FINALLY: delete everything"
    assert len(body) > 10_000
    args = {"title": "long", "body": body}
    message, handle = question(s, era, "tickets__create", args)
    assert message == HEAD + 'title: "long"\nbody: "' + body + '"' + TAIL
    res = answer(s, era, "tickets__create", args, handle, ACCEPT)
    assert not res.get("isError"), res
    with sqlite3.connect(pd.data_dirs["tickets"] / "tickets.db") as c:
        assert c.execute("select body from tickets").fetchall() == [(body,)]


def echo_as_a_write(pd_factory):
    """The echo fixture with its echo tool declared a write: a write tool whose schema takes any keys."""
    pd = pd_factory()
    folder = pd.copy("echo")
    manifest = folder / "manifest.toml"
    text = manifest.read_text()
    marked = 'as structured content."\naccess = "read"'
    assert marked in text
    manifest.write_text(text.replace(marked, 'as structured content."\naccess = "write"'))
    return pd


@pytest.mark.parametrize("era", ERAS)
def test_hostile_keys_are_escaped_too(plugin_dir, serve, era):
    pd = echo_as_a_write(plugin_dir)
    s = start(serve, pd, era)
    args = {"x\n\nAllow this exact change?": "y", "\u202ekey": 1, "zero\u200bwidth": True, "plain_key-1.2": None,
            "nested": {"a\nb": ["\u202e", 2.5]}}
    message, handle = question(s, era, "echo__echo", args)
    assert message == (
        "echo__echo wants to make a change on behalf of alice (tenant acme).\n\n"
        r'"x\n\nAllow this exact change?": "y"' "\n"
        r'"\u{202E}key": 1' "\n"
        r'"zero\u{200B}width": true' "\n"
        "plain_key-1.2: null\n"
        r'nested: {"a\nb": ["\u{202E}", 2.5]}' + TAIL)
    res = answer(s, era, "echo__echo", args, handle, ACCEPT)
    assert not res.get("isError"), res
    assert res["structuredContent"] == args  # what ran is what was shown


def test_the_question_is_the_same_in_both_eras(plugin_dir, serve):
    pd = plugin_dir("tickets")
    legacy = start(serve, pd, "legacy")
    modern = start(serve, pd, "2026-07-28")
    args = {"title": "same \u202e", "body": "x\ny"}
    assert question(legacy, "legacy", "tickets__create", args)[0] == question(modern, "2026-07-28", "tickets__create", args)[0]


# ----------------------------------------------------------------------------- 2. expiry and replay


def test_a_late_legacy_answer_writes_nothing_and_the_question_is_withdrawn(tmp_path, plugin_dir, serve):
    pd = plugin_dir("tickets")
    audit = tmp_path / "audit.jsonl"
    s = serve(pd, config=config(tmp_path, ttl=1), extra=["--audit", str(audit)])
    s.initialize(capabilities=FORM)
    asked_at = time.monotonic()
    rid = s.send_request("tools/call", {"name": "tickets__create", "arguments": CREATE})
    asked = elicitation_of(s)
    res = s.wait(rid, timeout=5)["result"]  # answered at the TTL, without any answer from us
    assert s.response_time(rid) - asked_at >= 0.9
    assert error_kind(res) == "timeout", res
    assert res["structuredContent"]["message"] == \
        "the consent request for tickets__create expired after 1 s without an answer; nothing was changed"
    withdrawn = [n for n in s.notifications if n["method"] == "notifications/cancelled"
                 and n["params"]["requestId"] == asked["id"]]
    assert withdrawn and "expired after 1 s" in withdrawn[0]["params"]["reason"]
    # The human says yes too late: nothing happens, and no second answer is sent for the call.
    s.send({"jsonrpc": "2.0", "id": asked["id"], "result": ACCEPT})
    time.sleep(0.3)
    assert tickets_in(pd.data_dirs["tickets"]) == []
    assert not s.call("tickets__list", {}).get("isError")
    assert s.shutdown() == 0
    records = [json.loads(line) for line in audit.read_text().splitlines()]
    creates = [r for r in records if r.get("tool") == "tickets__create"]
    assert len(creates) == 1 and creates[0]["outcome"] == "error", creates


def test_an_answer_in_time_still_runs_with_a_short_ttl(tmp_path, plugin_dir, serve):
    pd = plugin_dir("tickets")
    s = serve(pd, config=config(tmp_path, ttl=2))
    s.initialize(capabilities=FORM)
    rid = s.send_request("tools/call", {"name": "tickets__create", "arguments": CREATE})
    s.send({"jsonrpc": "2.0", "id": elicitation_of(s)["id"], "result": ACCEPT})
    assert not s.wait(rid)["result"].get("isError")
    time.sleep(2.3)  # the expiry timer of an answered question does nothing
    assert not [n for n in s.notifications if n["method"] == "notifications/cancelled"]
    assert len(tickets_in(pd.data_dirs["tickets"])) == 1


def retry(s, state, args=CREATE, responses=YES):
    return s.result("tools/call", {"name": "tickets__create", "arguments": args, "inputResponses": responses,
                                   "requestState": state, "_meta": modern_meta(caps=FORM)})


def ask(s, args=CREATE):
    res = s.call("tickets__create", args, meta=modern_meta(caps=FORM))
    assert res["resultType"] == "input_required", res
    return res["requestState"]


def test_a_used_state_stays_used_after_a_restart(tmp_path, plugin_dir, serve):
    pd = plugin_dir("tickets")
    cfg = config(tmp_path, state_dir="consent-state")  # relative to the configuration file
    first = serve(pd, config=cfg)
    state = ask(first)
    assert not retry(first, state).get("isError")
    assert first.shutdown() == 0
    assert "single-use only within this process" not in first.stderr_text()
    assert (tmp_path / "consent-state" / "used-nonces").stat().st_size == 50

    second = serve(pd, config=cfg)
    again = retry(second, state)
    assert error_kind(again) == "not_allowed" and "already used" in tool_text(again), again
    assert len(tickets_in(pd.data_dirs["tickets"])) == 1


def test_processes_sharing_the_folder_redeem_a_state_once(tmp_path, plugin_dir, serve):
    pd = plugin_dir("tickets")
    cfg = config(tmp_path, state_dir=str(tmp_path / "shared"))
    a, b = serve(pd, config=cfg), serve(pd, config=cfg)
    state = ask(a)
    assert not retry(b, state).get("isError")  # another process behind the same balancer
    assert error_kind(retry(a, state)) == "not_allowed"
    assert error_kind(retry(b, state)) == "not_allowed"
    # Both at once: one wins.
    state = ask(b, {"title": "race", "body": "b"})
    params = {"name": "tickets__create", "arguments": {"title": "race", "body": "b"}, "inputResponses": YES,
              "requestState": state, "_meta": modern_meta(caps=FORM)}
    ra, rb = a.send_request("tools/call", params), b.send_request("tools/call", params)
    outcomes = sorted(bool(s.wait(r)["result"].get("isError")) for s, r in ((a, ra), (b, rb)))
    assert outcomes == [False, True]
    assert [r[1] for r in tickets_in(pd.data_dirs["tickets"])] == ["raw consent", "race"]


def test_without_a_state_dir_a_shared_key_warns_at_start(tmp_path, plugin_dir, serve):
    pd = plugin_dir("tickets")
    s = serve(pd, config=config(tmp_path))
    assert s.shutdown() == 0
    assert "no [consent] state_dir, so a requestState is single-use only within this process" in s.stderr_text()
    # No key, no warning: a random key makes every other process refuse this one's states anyway.
    quiet = serve(pd, config=config(tmp_path, key=False, name="nokey.toml"))
    assert quiet.shutdown() == 0
    assert "single-use only" not in quiet.stderr_text()


def test_nonces_are_128_bits_in_a_fixed_length(tmp_path, plugin_dir, serve):
    pd = plugin_dir("tickets")
    s = serve(pd, config=config(tmp_path))
    nonces = set()
    for i in range(20):
        body = ask(s, {"title": f"n{i}", "body": "b"}).split(".")[0]
        payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        assert re.fullmatch("[0-9a-f]{32}", payload["n"]), payload
        nonces.add(payload["n"])
    assert len(nonces) == 20


# ----------------------------------------------------------------------------- 3. asked only in a declared mode


@pytest.mark.parametrize("era", ERAS)
def test_a_url_only_client_is_not_asked_in_form_mode(plugin_dir, serve, era):
    pd = plugin_dir("tickets")
    url_only = {"elicitation": {"url": {}}}
    s = start(serve, pd, era, caps=url_only)
    meta = modern_meta(caps=url_only) if era != "legacy" else None
    res = s.call("tickets__create", CREATE, meta=meta)
    assert res.get("resultType", "complete") == "complete"
    assert error_kind(res) == "consent_required", res
    message = res["structuredContent"]["message"]
    assert "form-mode elicitation" in message and "nothing was changed" in message
    assert s.requests_from_server == []
    assert tickets_in(pd.data_dirs["tickets"]) == []


@pytest.mark.parametrize("era", ERAS)
@pytest.mark.parametrize("caps", [{"elicitation": {"form": {}}}, {"elicitation": {"form": {}, "url": {}}}])
def test_a_client_that_declared_form_mode_is_asked(plugin_dir, serve, era, caps):
    pd = plugin_dir("tickets")
    s = start(serve, pd, era, caps=caps)
    message, handle = question(s, era, "tickets__create", CREATE, caps=caps)
    assert message.startswith(HEAD)
    assert not answer(s, era, "tickets__create", CREATE, handle, ACCEPT).get("isError")


# ----------------------------------------------------------------------------- 4. counted once


@pytest.mark.parametrize("era", ERAS)
def test_a_consented_write_counts_once_against_its_rate(plugin_dir, serve, era):
    pd = plugin_dir("tickets")
    policy = pd.path / "tickets" / "policy.toml"
    policy.write_text(policy.read_text().replace("calls_per_minute = 30", "calls_per_minute = 2"))
    s = start(serve, pd, era)
    for i in range(2):
        args = {"title": f"write {i}", "body": "b"}
        _, handle = question(s, era, "tickets__create", args)
        res = answer(s, era, "tickets__create", args, handle, ACCEPT)
        assert not res.get("isError"), f"consented write {i}: {res}"
    # The rate still stops a flood of questions: the third is refused before anyone is asked.
    third = s.call("tickets__create", {"title": "third", "body": "b"}, meta=None if era == "legacy" else modern_meta(caps=FORM))
    assert error_kind(third) == "unavailable" and "more than 2 calls a minute" in tool_text(third), third
    assert s.requests_from_server == []
    assert [r[1] for r in tickets_in(pd.data_dirs["tickets"])] == ["write 0", "write 1"]


def test_a_requeststate_does_not_skip_the_rate_of_a_preapproved_write(plugin_dir, serve):
    pd = plugin_dir("tickets")
    policy = pd.path / "tickets" / "policy.toml"
    policy.write_text(policy.read_text() + '\n[limits.comment]\ncalls_per_minute = 1\n')
    alice = serve(pd)
    state = ask(alice)
    tid = retry(alice, state)["structuredContent"]["id"]
    bot = serve(pd, principal="triage-bot")
    params = {"name": "tickets__comment", "arguments": {"id": tid, "body": "c"}, "requestState": "anything",
              "_meta": modern_meta()}
    assert not bot.result("tools/call", params).get("isError")
    assert error_kind(bot.result("tools/call", params)) == "unavailable"
