"""Shutdown answers every call: SIGTERM, SIGINT and the end of stdin drain the
server the same way. New calls are refused with `unavailable`, consent
questions still open are withdrawn (notifications/cancelled), calls in flight
are answered with their result up to --drain-timeout and `unavailable` after
it, every answered call has its audit record, each plugin's destroy runs only
after its last call returned (and not at all beside a call that never
returns), and the exit status is 0. SIGHUP is logged and ignored.

The lifecycle fixture appends each call's entry and return, and its destroy,
to a marker file, which shows the order things happened in."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from conftest import run_cli, set_policy_config
from rawclient import error_kind, tool_text

# Far longer than anything here should take, so that only a real hang fails a test.
EXIT_BOUND = 20.0


def with_lifecycle(pd, tmp_path: Path) -> Path:
    """Copy the lifecycle fixture into `pd` with its own marker file; returns the marker's path."""
    marker = tmp_path / f"{pd.path.name}-lifecycle.marker"
    dst = pd.copy("lifecycle")
    set_policy_config(dst / "policy.toml", "marker", str(marker))
    return marker


def marker_lines(marker: Path) -> list[str]:
    return marker.read_text().splitlines() if marker.exists() else []


def wait_for(predicate, timeout: float = 10.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def wait_for_log(s, text: str, timeout: float = 10.0) -> None:
    wait_for(lambda: text in s.stderr_text(), timeout, f"{text!r} on stderr; stderr:\n{s.stderr_tail()}")


def start_call(s, name: str, arguments: dict) -> int:
    return s.send_request("tools/call", {"name": name, "arguments": arguments})


def dispatched(s) -> None:
    """Returns once every request sent so far has been read and dispatched: the
    server reads its input in order, so a ping answered means the calls before it
    are in flight."""
    s.result("ping")


def audit_records(log: Path) -> list[dict]:
    return [r for r in (json.loads(line) for line in log.read_text().splitlines()) if "event" not in r]


def assert_audited(bulkhead_bin, log: Path, call_ids: list[int]) -> list[dict]:
    """Every answered call has exactly one record, and the chain verifies."""
    records = audit_records(log)
    assert sorted(r["request"] for r in records) == sorted(call_ids), records
    verified = run_cli(bulkhead_bin, "audit", "verify", str(log))
    assert verified.returncode == 0 and f"ok: {len(call_ids) + 2} records" in verified.stdout, verified.stdout + verified.stderr
    return records


def send_signal(s, sig: int) -> None:
    os.kill(s.proc.pid, sig)


# ----------------------------------------------------------------------------- signals


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_drains_every_call_in_flight(sig, tmp_path, plugin_dir, serve, bulkhead_bin):
    pd = plugin_dir("echo")
    marker = with_lifecycle(pd, tmp_path)
    log = tmp_path / "audit.jsonl"
    s = serve(pd, extra=["--audit", str(log), "--drain-timeout", "2"])
    s.initialize()

    fast = start_call(s, "echo__echo", {"said": "before"})
    short = [start_call(s, "echo__sleep", {"ms": 600}) for _ in range(3)]  # end well within the drain deadline
    past = start_call(s, "lifecycle__work", {"ms": 60000})                  # outlives it
    dispatched(s)
    wait_for(lambda: "enter work 60000" in marker_lines(marker), what="the long call to enter the plugin")
    assert not s.has_response(past)

    signalled = time.monotonic()
    send_signal(s, sig)
    wait_for_log(s, f"received {sig.name}: shutting down")
    # After the drain began: refused at once, not run.
    late = start_call(s, "echo__echo", {"said": "after"})
    late_result = s.wait(late, timeout=5)["result"]
    assert error_kind(late_result) == "unavailable", late_result
    assert "shutting down" in tool_text(late_result)

    assert s.wait_exit(EXIT_BOUND) == 0
    elapsed = time.monotonic() - signalled

    fast_result = s.wait(fast)["result"]
    assert not fast_result.get("isError") and "before" in tool_text(fast_result), fast_result
    for rid in short:
        res = s.wait(rid)["result"]
        assert not res.get("isError") and tool_text(res) == "slept", res
    cut = s.wait(past)["result"]
    assert error_kind(cut) == "unavailable", cut
    assert cut["structuredContent"]["message"]
    # Answered at the drain deadline (2 s), not after the call's own 60 s or the old fixed 10 s.
    assert 1.5 <= elapsed < 9, elapsed

    records = assert_audited(bulkhead_bin, log, [fast, *short, past, late])
    by_id = {r["request"]: r for r in records}
    assert by_id[past]["outcome"] == "error" and by_id[past]["kind"] == "unavailable"
    assert by_id[late]["outcome"] == "error" and by_id[late]["kind"] == "unavailable"
    assert all(by_id[r]["outcome"] == "ok" for r in short)

    # The long call saw its cancellation and returned; only then did destroy run.
    lines = marker_lines(marker)
    assert "return work 60000" in lines, lines
    assert lines[-1] == "destroy inside=0", lines
    assert lines.index("return work 60000") < lines.index("destroy inside=0")


def test_a_signal_with_nothing_in_flight_exits_at_once(plugin_dir, serve):
    s = serve(plugin_dir("echo"), extra=["--drain-timeout", "30"])
    s.initialize()
    assert tool_text(s.call("echo__sleep", {"ms": 1})) == "slept"
    started = time.monotonic()
    send_signal(s, signal.SIGTERM)
    assert s.wait_exit(EXIT_BOUND) == 0
    # Nothing to wait for: the 30 s drain deadline is not waited out.
    assert time.monotonic() - started < 5


def test_sighup_is_logged_and_ignored(plugin_dir, serve):
    s = serve(plugin_dir("echo"))
    s.initialize()
    assert tool_text(s.call("echo__sleep", {"ms": 1})) == "slept"
    slow = start_call(s, "echo__sleep", {"ms": 300})
    dispatched(s)
    send_signal(s, signal.SIGHUP)
    wait_for_log(s, "received SIGHUP: ignored")
    send_signal(s, signal.SIGHUP)
    assert tool_text(s.wait(slow)["result"]) == "slept"
    assert s.proc.poll() is None, "SIGHUP ended the server"
    assert tool_text(s.call("echo__sleep", {"ms": 1})) == "slept"
    assert s.stderr_text().count("received SIGHUP: ignored") == 2
    assert s.shutdown(EXIT_BOUND) == 0


# ----------------------------------------------------------------------------- end of input


def test_closing_stdin_answers_slow_calls_then_destroys(tmp_path, plugin_dir, serve, bulkhead_bin):
    pd = plugin_dir("echo")
    marker = with_lifecycle(pd, tmp_path)
    log = tmp_path / "audit.jsonl"
    s = serve(pd, extra=["--audit", str(log)])
    s.initialize()
    ids = [start_call(s, "lifecycle__work", {"ms": 1500}), start_call(s, "echo__sleep", {"ms": 1500})]
    dispatched(s)
    wait_for(lambda: "enter work 1500" in marker_lines(marker), what="the call to enter the plugin")
    s.close_stdin()
    assert s.wait_exit(EXIT_BOUND) == 0
    for rid in ids:
        res = s.wait(rid)["result"]
        assert not res.get("isError"), res
    assert_audited(bulkhead_bin, log, ids)
    assert marker_lines(marker) == ["init", "enter work 1500", "return work 1500", "destroy inside=0"]


def test_a_hung_call_is_answered_unavailable_and_its_plugin_not_destroyed(tmp_path, plugin_dir, serve, bulkhead_bin):
    pd = plugin_dir("gated")
    marker = with_lifecycle(pd, tmp_path)
    log = tmp_path / "audit.jsonl"
    s = serve(pd, extra=["--audit", str(log), "--drain-timeout", "1"])
    s.initialize()
    hung = start_call(s, "lifecycle__hang", {"ms": 60000})    # deaf to cancellation, past the drain deadline
    overrun = start_call(s, "gated__hang", {"ms": 60000})     # answered timeout at its own 300 ms; still inside
    dispatched(s)
    wait_for(lambda: "enter hang 60000" in marker_lines(marker), what="the hung call to enter the plugin")
    assert error_kind(s.wait(overrun, timeout=10)["result"]) == "timeout"
    closed = time.monotonic()
    s.close_stdin()
    assert s.wait_exit(EXIT_BOUND) == 0
    assert time.monotonic() - closed < 8
    res = s.wait(hung)["result"]
    assert error_kind(res) == "unavailable", res
    records = assert_audited(bulkhead_bin, log, [hung, overrun])
    assert {r["request"]: r.get("kind") for r in records} == {hung: "unavailable", overrun: "timeout"}
    # Neither plugin's destroy ran beside its call: both were skipped, and said so.
    lines = marker_lines(marker)
    assert lines == ["init", "enter hang 60000"], lines
    stderr = s.stderr_text()
    assert "plugin 'lifecycle' is still inside a call at shutdown: its destroy is skipped" in stderr
    assert "plugin 'gated' is still inside a call at shutdown: its destroy is skipped" in stderr


# ----------------------------------------------------------------------------- consent


CREATE = {"title": "never asked twice", "body": "b"}


@pytest.mark.parametrize("how", ["eof", "SIGTERM"])
def test_a_pending_consent_question_is_withdrawn(how, tmp_path, plugin_dir, serve, bulkhead_bin):
    pd = plugin_dir("tickets")
    log = tmp_path / "audit.jsonl"
    # A drain deadline far beyond the bound below: the question must not be waited out.
    s = serve(pd, extra=["--audit", str(log), "--drain-timeout", "30"])
    s.initialize(capabilities={"elicitation": {}})
    rid = start_call(s, "tickets__create", CREATE)
    ask = wait_for(lambda: s.requests_from_server, what="the elicitation/create request")[0]
    assert ask["method"] == "elicitation/create"

    started = time.monotonic()
    if how == "eof":
        s.close_stdin()
    else:
        send_signal(s, signal.SIGTERM)
    assert s.wait_exit(EXIT_BOUND) == 0
    assert time.monotonic() - started < 2.5

    res = s.wait(rid)["result"]
    assert error_kind(res) == "unavailable", res
    assert "withdrawn" in tool_text(res) and "nothing was changed" in tool_text(res)
    withdrawn = [n for n in s.notifications if n["method"] == "notifications/cancelled"]
    assert [n["params"]["requestId"] for n in withdrawn] == [ask["id"]], s.notifications
    assert "shutting down" in withdrawn[0]["params"]["reason"]
    # The withdrawal comes before the call's answer, so the client can close its dialog first.
    lines = [json.loads(l) for l in s.lines]
    assert lines.index(withdrawn[0]) < next(i for i, m in enumerate(lines) if m.get("id") == rid)
    (record,) = assert_audited(bulkhead_bin, log, [rid])
    assert record["kind"] == "unavailable"
    db = pd.data_dirs["tickets"] / "tickets.db"
    if db.exists():
        import sqlite3

        with sqlite3.connect(db) as c:
            assert c.execute("select count(*) from tickets").fetchone()[0] == 0


# ----------------------------------------------------------------------------- the option


@pytest.mark.parametrize("value", ["-1", "abc", "inf"])
def test_a_bad_drain_timeout_is_refused(value, bulkhead_bin):
    r = run_cli(bulkhead_bin, "serve", "--drain-timeout", value)
    assert r.returncode != 0
    assert "drain-timeout" in r.stderr
