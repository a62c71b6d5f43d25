"""The audit trail: every call leaves a record that answers who asked, under
which scope, what the gate decided and why it failed; the records are
hash-chained, and `bulkhead audit verify` finds a change, a removal or an
insertion; `bulkhead audit query` finds failures without any transcript."""

from __future__ import annotations

import json

from conftest import CONFIG, run_cli
from rawclient import modern_meta


def served_and_audited(plugin_dir, serve, tmp_path, principal="alice"):
    log = tmp_path / "audit" / "audit.jsonl"
    pd = plugin_dir("gated", "bench", "tickets")
    s = serve(pd, principal=principal, extra=["--audit", str(log)])
    s.initialize()
    return s, log, pd


def all_records(log):
    return [json.loads(l) for l in log.read_text().splitlines()]


def records(log):
    """The call records (server events such as start and stop left out)."""
    return [r for r in all_records(log) if "event" not in r]


def test_every_call_leaves_a_record(plugin_dir, serve, tmp_path, bulkhead_bin):
    s, log, _ = served_and_audited(plugin_dir, serve, tmp_path)
    s.call("bench__add", {"a": 1, "b": 2})
    s.call("gated__strict", {"n": 99, "name": "x"})            # invalid: refused by the gate
    s.call("gated__bad", {"what": "big"})                       # the plugin's result is too large
    s.request("tools/call", {"name": "gated__hidden", "arguments": {}})   # alice may not see it
    s.request("tools/call", {"name": "nope__nothing", "arguments": {}})
    s.call("tickets__create", {"title": "t", "body": "b"})      # a write, no way to ask: consent_required
    s.call("tickets__create", {"title": "t", "body": "b"}, meta=modern_meta(caps={"elicitation": {}}))
    assert s.shutdown() == 0
    everything = all_records(log)
    assert [x["seq"] for x in everything] == list(range(1, 10))
    assert everything[0]["event"] == "start" and everything[-1]["event"] == "stop"
    r = records(log)
    assert [x["seq"] for x in r] == list(range(2, 9))
    by = [(x["tool"], x["outcome"], x.get("kind")) for x in r]
    assert by == [
        ("bench__add", "ok", None),
        ("gated__strict", "error", "invalid_argument"),
        ("gated__bad", "error", "too_large"),
        ("gated__hidden", "not_visible", None),
        ("nope__nothing", "unknown_tool", None),
        ("tickets__create", "error", "consent_required"),
        ("tickets__create", "input_required", None),
    ]
    first = r[0]
    assert first["principal"] == "alice" and first["tenant"] == "acme" and "tickets.write" in first["scopes"]
    assert first["plugin"] == "bench" and first["access"] == "read" and first["era"] == "2025-11-25"
    assert len(first["args_sha256"]) == 64 and "a" not in first  # arguments only as a digest
    # The message without the caller's value: the trail never holds an argument.
    assert r[1]["message"] == "n must be at most 10 (got [argument])"
    assert all(x["pid"] == everything[0]["pid"] for x in everything)
    assert r[6]["era"] == "2026-07-28"
    ok = run_cli(bulkhead_bin, "audit", "verify", str(log))
    assert ok.returncode == 0 and "ok: 9 records" in ok.stdout, ok.stdout


def test_the_chain_continues_across_restarts(plugin_dir, serve, tmp_path, bulkhead_bin):
    s, log, pd = served_and_audited(plugin_dir, serve, tmp_path)
    s.call("bench__add", {"a": 1, "b": 2})
    assert s.shutdown() == 0
    s2 = serve(pd, extra=["--audit", str(log)])
    s2.initialize()
    s2.call("bench__add", {"a": 3, "b": 4})
    assert s2.shutdown() == 0
    r = all_records(log)
    assert [(x["seq"], x.get("event")) for x in r] == [(1, "start"), (2, None), (3, "stop"), (4, "start"), (5, None), (6, "stop")]
    assert all(b["prev"] == a["hash"] for a, b in zip(r, r[1:]))
    assert run_cli(bulkhead_bin, "audit", "verify", str(log)).returncode == 0


def tampered(log, tmp_path, edit):
    lines = log.read_text().splitlines()
    edit(lines)
    out = tmp_path / "tampered.jsonl"
    out.write_text("\n".join(lines) + "\n")
    return out


def test_verify_finds_a_changed_a_removed_and_an_inserted_record(plugin_dir, serve, tmp_path, bulkhead_bin):
    s, log, _ = served_and_audited(plugin_dir, serve, tmp_path)
    for i in range(4):
        s.call("bench__add", {"a": i, "b": 1})
    assert s.shutdown() == 0

    def change(lines):
        lines[1] = lines[1].replace('"principal":"alice"', '"principal":"mallory"')

    def remove(lines):
        del lines[2]

    def insert(lines):
        lines.insert(1, lines[0])

    for edit, line, words in [(change, 2, "was changed"), (remove, 3, "is missing"), (insert, 2, "sequence")]:
        r = run_cli(bulkhead_bin, "audit", "verify", str(tampered(log, tmp_path, edit)))
        assert r.returncode == 1, r.stdout
        assert f"broken at line {line}" in r.stdout and words in r.stdout, r.stdout


def test_query_finds_failures_without_a_transcript(plugin_dir, serve, tmp_path, bulkhead_bin):
    s, log, _ = served_and_audited(plugin_dir, serve, tmp_path)
    s.call("bench__add", {"a": 1, "b": 2})
    s.call("gated__strict", {"n": 0, "name": "x"})
    s.call("gated__rated", {})
    assert s.shutdown() == 0
    r = run_cli(bulkhead_bin, "audit", "query", str(log), "--failed")
    assert r.returncode == 0
    lines = r.stdout.splitlines()
    assert len(lines) == 1, lines
    assert "alice@acme gated__strict (read) → error invalid_argument: n must be at least 1 (got [argument])" in lines[0]
    r = run_cli(bulkhead_bin, "audit", "query", str(log), "--tool", "bench__add", "--json")
    (only,) = [json.loads(l) for l in r.stdout.splitlines()]
    assert only["outcome"] == "ok" and only["seq"] == 2


def test_consent_is_recorded_as_given(plugin_dir, serve, tmp_path):
    log = tmp_path / "a.jsonl"
    pd = plugin_dir("tickets")
    alice = serve(pd, extra=["--audit", str(log)])
    meta = modern_meta(caps={"elicitation": {}})
    args = {"title": "audited", "body": "b"}
    first = alice.call("tickets__create", args, meta=meta)
    done = alice.result("tools/call", {"name": "tickets__create", "arguments": args, "requestState": first["requestState"],
                                       "inputResponses": {"bulkhead/consent": {"action": "accept", "content": {"confirm": True}}},
                                       "_meta": meta})
    tid = done["structuredContent"]["id"]
    assert alice.shutdown() == 0
    bot = serve(pd, principal="triage-bot", extra=["--audit", str(log)])
    bot.call("tickets__comment", {"id": tid, "body": "seen"}, meta=modern_meta())
    assert bot.shutdown() == 0
    r = records(log)
    assert [(x["principal"], x["outcome"], x.get("consent")) for x in r] == [
        ("alice", "input_required", None),
        ("alice", "ok", "elicitation (input_required)"),
        ("triage-bot", "ok", "preapproved"),
    ]
    assert r[0]["args_sha256"] == r[1]["args_sha256"]


def test_the_example_configuration_can_name_the_log(tmp_path, plugin_dir, serve, bulkhead_bin):
    cfg = tmp_path / "bulkhead.toml"
    cfg.write_text(CONFIG.read_text() + '\n[audit]\npath = "logs/audit.jsonl"\n')
    s = serve(plugin_dir("bench"), config=cfg)
    s.initialize()
    s.call("bench__add", {"a": 1, "b": 1})
    assert s.shutdown() == 0
    assert len(records(tmp_path / "logs" / "audit.jsonl")) == 1
