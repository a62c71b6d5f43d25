"""Many requests in flight at once, slow calls, serial plugins and cancellation."""

from __future__ import annotations

import json
import random
import threading
import time

import pytest

from rawclient import modern_meta, tool_text

MiB = 1024 * 1024


def big_len(result: dict) -> int:
    """The payload length of an echo__big result: the bytes of its text."""
    return len(tool_text(result).encode())


@pytest.mark.parametrize("era", ["legacy", "modern"])
def test_hundreds_in_flight_mixed_sizes(plugin_dir, serve, era):
    s = serve(plugin_dir("echo", "bench"))
    if era == "legacy":
        s.initialize()
    rng = random.Random(1234)
    plan: dict[int, tuple[str, object]] = {}
    messages: list[bytes] = []
    for i in range(500):
        rid = 10_000 + i
        r = rng.random()
        if r < 0.06:  # ~30 big results, 1-4 MiB each
            n = rng.randint(1 * MiB, 4 * MiB)
            plan[rid] = ("big", n)
            msg = {"jsonrpc": "2.0", "id": rid, "method": "tools/call",
                   "params": {"name": "echo__big", "arguments": {"bytes": n}}}
        elif r < 0.12:  # big requests too: ~1 MiB of arguments echoed back
            pad = "".join(rng.choice("abcdefghij") for _ in range(64)) * rng.randint(1, 16 * 1024)
            args = {"i": i, "pad": pad}
            plan[rid] = ("echo", args)
            msg = {"jsonrpc": "2.0", "id": rid, "method": "tools/call",
                   "params": {"name": "echo__echo", "arguments": args}}
        elif r < 0.56:
            args = {"i": i, "s": "x" * rng.randint(0, 2000), "nested": {"a": [i, str(i)]}}
            plan[rid] = ("echo", args)
            msg = {"jsonrpc": "2.0", "id": rid, "method": "tools/call",
                   "params": {"name": "echo__echo", "arguments": args}}
        else:
            a, b = rng.randint(-10**6, 10**6), rng.randint(-10**6, 10**6)
            plan[rid] = ("add", a + b)
            msg = {"jsonrpc": "2.0", "id": rid, "method": "tools/call",
                   "params": {"name": "bench__add", "arguments": {"a": a, "b": b}}}
        if era == "modern":
            msg["params"]["_meta"] = modern_meta()
        messages.append(json.dumps(msg).encode() + b"\n")

    # All 500 written in one go, from a thread, while the reader drains stdout.
    writer = threading.Thread(target=lambda: s.send_raw(b"".join(messages)))
    writer.start()
    for rid, (kind, expect) in plan.items():
        resp = s.wait(rid, timeout=120)
        assert "result" in resp, (rid, resp.get("error"))
        res = resp["result"]
        assert not res.get("isError"), (rid, res.get("structuredContent"))
        if kind == "big":
            assert big_len(res) == expect, (rid, big_len(res), expect)
        elif kind == "echo":
            assert res["structuredContent"] == expect, rid
        else:
            assert tool_text(res) == str(expect), rid
    writer.join(30)
    assert not s.duplicates
    assert not s.garbage
    assert len(s.lines) == len(s.responses)
    assert s.shutdown() == 0


def test_slow_call_does_not_hold_up_others(plugin_dir, serve):
    s = serve(plugin_dir("echo", "bench"))
    s.initialize()
    slow = s.send_request("tools/call", {"name": "echo__sleep", "arguments": {"ms": 1500}})
    time.sleep(0.1)  # the sleep is surely running now
    t0 = time.monotonic()
    others = []
    for i in range(20):
        others.append(s.send_request("tools/call", {"name": "bench__add", "arguments": {"a": i, "b": i}}))
        others.append(s.send_request("tools/call", {"name": "echo__echo", "arguments": {"i": i}}))
    for rid in others:
        s.wait(rid, timeout=10)
    fast_done = max(s.response_time(r) for r in others) - t0
    assert fast_done < 1.0, f"calls next to a 1500 ms sleep took {fast_done:.2f}s"
    assert not s.has_response(slow), "the sleep answered before the fast calls finished"
    res = s.wait(slow, timeout=10)["result"]
    assert not res.get("isError"), res
    assert s.response_time(slow) - t0 >= 1.2


def test_parallel_plugin_runs_sleeps_concurrently(plugin_dir, serve):
    s = serve(plugin_dir("echo"))
    s.initialize()
    t0 = time.monotonic()
    ids = [s.send_request("tools/call", {"name": "echo__sleep", "arguments": {"ms": 600}}) for _ in range(4)]
    for rid in ids:
        assert not s.wait(rid, timeout=10)["result"].get("isError")
    elapsed = time.monotonic() - t0
    assert elapsed < 1.8, f"4 parallel 600 ms sleeps took {elapsed:.2f}s: the parallel plugin was serialised"


def test_serial_plugin_never_sees_two_calls(plugin_dir, serve):
    s = serve(plugin_dir("serial", "echo"))
    s.initialize()
    t0 = time.monotonic()
    ids = [s.send_request("tools/call", {"name": "serial__sleep", "arguments": {"ms": 150}}) for _ in range(6)]
    # A parallel plugin is not queued behind the serial one.
    quick = s.send_request("tools/call", {"name": "echo__echo", "arguments": {"q": 1}})
    s.wait(quick, timeout=10)
    assert s.response_time(quick) - t0 < 0.5
    for rid in ids:
        assert not s.wait(rid, timeout=20)["result"].get("isError")
    assert time.monotonic() - t0 >= 6 * 0.15 * 0.95, "six serial 150 ms sleeps finished too soon to be serial"
    res = s.call("serial__inflight", {})
    assert not res.get("isError"), res
    inflight = res.get("structuredContent", {}).get("inflight")
    if inflight is None:
        inflight = int(tool_text(res).strip())
    assert inflight == 1


def test_cancellation_no_response_and_plugin_returns_early(plugin_dir, serve):
    s = serve(plugin_dir("echo"))
    s.initialize()
    before = s.call("echo__count", {})
    rid = s.send_request("tools/call", {"name": "echo__sleep", "arguments": {"ms": 8000}})
    time.sleep(0.3)
    s.notify("notifications/cancelled", {"requestId": rid, "reason": "test"})
    # Still serving, and answering other calls.
    assert s.call("echo__echo", {"after": "cancel"})["structuredContent"] == {"after": "cancel"}
    time.sleep(1.0)
    # EOF: the server finishes in-flight calls before exiting; a plugin that did
    # not see the cancellation would hold the exit for the rest of its 8 s.
    t0 = time.monotonic()
    s.close_stdin()
    assert s.wait_exit(timeout=15) == 0
    assert time.monotonic() - t0 < 3.0, "exit waited for the cancelled sleep: the plugin did not return early"
    assert not s.has_response(rid), f"a response was sent for the cancelled request: {s.responses[s._key(rid)]}"
    assert before is not None


def test_cancellation_seen_by_plugin(plugin_dir, serve):
    """echo__count reports what the echo plugin saw; the cancelled sleep is counted as cancelled."""
    s = serve(plugin_dir("echo"))
    s.initialize()
    base = s.call("echo__count", {})["structuredContent"]
    rid = s.send_request("tools/call", {"name": "echo__sleep", "arguments": {"ms": 8000}})
    time.sleep(0.3)
    t_cancel = time.monotonic()
    s.notify("notifications/cancelled", {"requestId": rid})
    deadline = time.monotonic() + 5
    while True:
        now = s.call("echo__count", {})["structuredContent"]
        if now.get("cancelled", 0) > base.get("cancelled", 0):
            break
        assert time.monotonic() < deadline, f"the plugin never saw the cancellation: {now}"
        time.sleep(0.05)
    assert time.monotonic() - t_cancel < 2.0
    time.sleep(0.3)
    assert not s.has_response(rid)


def test_cancellation_stateless_era(plugin_dir, serve):
    s = serve(plugin_dir("echo"))
    rid = s.send_request("tools/call", {"name": "echo__sleep", "arguments": {"ms": 8000}, "_meta": modern_meta()})
    time.sleep(0.3)
    s.notify("notifications/cancelled", {"requestId": rid})
    res = s.call("echo__echo", {"x": 1}, meta=modern_meta())
    assert res["structuredContent"] == {"x": 1}
    t0 = time.monotonic()
    s.close_stdin()
    assert s.wait_exit(timeout=15) == 0
    assert time.monotonic() - t0 < 3.0
    assert not s.has_response(rid)


def test_cancel_unknown_or_finished_request_is_harmless(plugin_dir, serve):
    s = serve(plugin_dir("echo"))
    s.initialize()
    done = s.send_request("tools/call", {"name": "echo__echo", "arguments": {"a": 1}})
    s.wait(done)
    s.notify("notifications/cancelled", {"requestId": done})
    s.notify("notifications/cancelled", {"requestId": 987654})
    s.notify("notifications/cancelled", {"requestId": "never-sent"})
    assert s.call("echo__echo", {"b": 2})["structuredContent"] == {"b": 2}
    assert s.shutdown() == 0
    assert not s.duplicates


def test_many_cancellations_under_load(plugin_dir, serve):
    s = serve(plugin_dir("echo"))
    s.initialize()
    sleeps = [s.send_request("tools/call", {"name": "echo__sleep", "arguments": {"ms": 5000}}) for _ in range(20)]
    echoes = [s.send_request("tools/call", {"name": "echo__echo", "arguments": {"i": i}}) for i in range(100)]
    time.sleep(0.2)
    for rid in sleeps:
        s.notify("notifications/cancelled", {"requestId": rid})
    for i, rid in enumerate(echoes):
        assert s.wait(rid)["result"]["structuredContent"] == {"i": i}
    t0 = time.monotonic()
    s.close_stdin()
    assert s.wait_exit(timeout=15) == 0
    assert time.monotonic() - t0 < 3.0
    assert not any(s.has_response(r) for r in sleeps)


def test_cancel_a_call_queued_on_a_serial_plugin(plugin_dir, serve):
    """A call waiting its turn on a serial plugin is cancelled: no answer, and it does not hold the queue."""
    s = serve(plugin_dir("serial"))
    s.initialize()
    t0 = time.monotonic()
    first = s.send_request("tools/call", {"name": "serial__sleep", "arguments": {"ms": 600}})
    queued = s.send_request("tools/call", {"name": "serial__sleep", "arguments": {"ms": 5000}})
    time.sleep(0.2)
    s.notify("notifications/cancelled", {"requestId": queued})
    after = s.send_request("tools/call", {"name": "serial__inflight", "arguments": {}})
    assert s.wait(first, timeout=10)["result"].get("isError") is not True
    res = s.wait(after, timeout=10)["result"]
    assert s.response_time(after) - t0 < 2.0, "the cancelled call held the serial queue"
    assert res["structuredContent"]["inflight"] == 1
    time.sleep(0.2)
    assert not s.has_response(queued)
    assert s.shutdown() == 0


@pytest.mark.parametrize("era", ["legacy", "modern"])
def test_five_thousand_small_calls_pipelined(plugin_dir, serve, era):
    """Many small answers written by many threads at once: each arrives once, whole, with its own id."""
    s = serve(plugin_dir("bench", "echo"))
    meta = None
    if era == "legacy":
        s.initialize()
    else:
        meta = modern_meta()
    lines = []
    for i in range(5000):
        params = {"name": "bench__add", "arguments": {"a": i, "b": 7}} if i % 2 else \
                 {"name": "echo__echo", "arguments": {"i": i}}
        if meta:
            params["_meta"] = meta
        lines.append(json.dumps({"jsonrpc": "2.0", "id": f"p{i}", "method": "tools/call", "params": params}))
    writer = threading.Thread(target=lambda: s.send_raw("\n".join(lines) + "\n"))
    writer.start()
    for i in range(5000):
        res = s.wait(f"p{i}", timeout=60)["result"]
        if i % 2:
            assert tool_text(res) == str(i + 7), i
        else:
            assert res["structuredContent"] == {"i": i}, i
    writer.join(10)
    assert s.shutdown() == 0
    assert not s.duplicates and not s.garbage
    assert len(s.lines) == 5000 + (1 if era == "legacy" else 0)
