"""Memory bounded per message and per client (issue 10, item 5), against the
real binary with peak and resident memory read from /proc:

- the 64 MiB amplification line (`[0],[0],…`, which once peaked at 1.9 GiB
  and left 1 GiB resident) is refused by the element budget before its tree
  exists, and the memory goes back;
- the default longest message is 4 MiB, and --max-message-bytes / [limits]
  change it;
- a client that sends 200,000 requests and reads none of the answers stops
  being read once max_unsent_bytes of answers wait, and then gets every one;
- at calls_in_flight calls in flight, no more messages are read until one
  ends: a client pipelining faster than its tools answer waits in its pipe.

The bounds asserted are the ones the README states."""

from __future__ import annotations

import json
import subprocess
import threading
import time

import pytest

from conftest import run_cli
from rawclient import error_kind

MIB = 1 << 20
INIT = {"jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "mem", "version": "1"}}}


def status(pid: int, key: str) -> int:
    """A /proc/<pid>/status figure (VmRSS, VmHWM) in bytes."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(key)


class Pipe:
    """The server on plain pipes, read only when the test says so (RawServer reads
    everything at once, which is what the backpressure test must not do)."""

    def __init__(self, bulkhead_bin, plugins, tmp_path, *extra: str, config=None):
        args = [str(bulkhead_bin), "serve", "--plugins", str(plugins), *extra]
        if config:
            args += ["--config", str(config)]
        self.stderr_path = tmp_path / "stderr.log"
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=open(self.stderr_path, "wb"))
        self.send(INIT)
        assert json.loads(self.proc.stdout.readline())["id"] == 0
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})

    def send(self, msg: dict | bytes) -> None:
        self.proc.stdin.write(msg if isinstance(msg, bytes) else json.dumps(msg).encode() + b"\n")
        self.proc.stdin.flush()

    def answer(self) -> dict:
        return json.loads(self.proc.stdout.readline())

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def close(self) -> None:
        # Killed, not closed: a writer thread may still hold stdin, blocked on a
        # server that stopped reading, and closing would wait for it.
        self.proc.kill()
        self.proc.wait(timeout=30)


@pytest.fixture
def pipe(bulkhead_bin, plugin_dir, tmp_path):
    opened: list[Pipe] = []

    def start(*extra: str, config=None) -> Pipe:
        p = Pipe(bulkhead_bin, plugin_dir("echo").path, tmp_path, *extra, config=config)
        opened.append(p)
        return p

    yield start
    for p in opened:
        p.close()


def amplification_line(size: int) -> bytes:
    head = b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo__echo","arguments":{"a":['
    n = (size - len(head) - 10) // 4
    return head + b"[0]," * (n - 1) + b"[0]]}}}\n"


def test_the_64_mib_amplification_line_is_refused_within_the_bound_and_the_memory_goes_back(pipe):
    p = pipe("--max-message-bytes", str(64 * MIB))
    base = status(p.proc.pid, "VmRSS")
    p.send(amplification_line(64 * MIB))
    err = p.answer()
    assert err["error"]["code"] == -32600 and "1000000 values" in err["error"]["message"], err
    peak = status(p.proc.pid, "VmHWM")
    # The README's bound: the line itself (64 MiB) plus at most ~100 MiB of tree.
    assert peak - base < 64 * MIB + 100 * MIB, f"peak grew by {(peak - base) / MIB:.0f} MiB"
    time.sleep(0.3)
    after = status(p.proc.pid, "VmRSS")
    assert after - base < 16 * MIB, f"{(after - base) / MIB:.0f} MiB still resident"
    # The server goes on serving.
    p.send({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "echo__echo", "arguments": {"a": [[0]]}}})
    assert "result" in p.answer()


def test_a_4_mib_dense_line_at_the_default_limits_stays_small(pipe):
    p = pipe()
    base = status(p.proc.pid, "VmRSS")
    p.send(amplification_line(4 * MIB - 64))
    assert p.answer()["error"]["code"] == -32600
    assert status(p.proc.pid, "VmHWM") - base < 100 * MIB


def test_the_default_longest_message_is_4_mib(pipe):
    p = pipe()
    big = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
           "params": {"name": "echo__echo", "arguments": {"s": "x" * (4 * MIB)}}}
    p.send(big)
    err = p.answer()
    assert err["error"]["code"] == -32600 and "4194304-byte limit" in err["error"]["message"], err
    p.send({"jsonrpc": "2.0", "id": 2, "method": "ping"})
    assert p.answer() == {"jsonrpc": "2.0", "id": 2, "result": {}}


def test_the_element_budget_is_configurable(pipe, tmp_path):
    config = tmp_path / "bulkhead.toml"
    config.write_text('default_principal = "local"\n[principals.local]\ntenant = "default"\n'
                      '[limits]\nmessage_elements = 100\n')
    p = pipe(config=config)
    ok = {"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"a": list(range(50))}}
    p.send(ok)
    assert "result" in p.answer()
    p.send({"jsonrpc": "2.0", "id": 2, "method": "ping", "params": {"a": list(range(200))}})
    err = p.answer()
    assert err["error"]["code"] == -32600 and "100 values" in err["error"]["message"], err


def test_a_client_that_reads_no_answers_is_no_longer_read_and_then_gets_every_one(pipe):
    p = pipe()
    pid = p.proc.pid
    base = status(pid, "VmRSS")
    n = 200_000
    lines = b"".join(b'{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"echo__echo","arguments":{"i":%d}}}\n'
                     % (i, i) for i in range(1, n + 1))
    # The writer blocks once the server stops reading; that is the point.
    writer = threading.Thread(target=lambda: (p.proc.stdin.write(lines), p.proc.stdin.flush()), daemon=True)
    writer.start()
    deadline = time.time() + 60
    while "reading paused" not in p.stderr() and time.time() < deadline:
        time.sleep(0.1)
    assert "reading paused" in p.stderr(), p.stderr()[-2000:]
    time.sleep(1.0)  # it stays paused: nothing more is read, nothing more is queued
    held = status(pid, "VmRSS")
    # The README's bound: max_unsent_bytes (16 MiB) of answers, plus what is in flight.
    assert held - base < 48 * MIB, f"{(held - base) / MIB:.0f} MiB held for a client that does not read"
    seen = set()
    for _ in range(n):
        msg = p.answer()
        assert "result" in msg and not msg["result"].get("isError"), msg
        seen.add(msg["id"])
    assert seen == set(range(1, n + 1))
    assert "reading resumed" in p.stderr()
    writer.join(timeout=10)


def test_at_calls_in_flight_the_next_message_waits_for_a_call_to_end(pipe, tmp_path):
    config = tmp_path / "bulkhead.toml"
    config.write_text('default_principal = "local"\n[principals.local]\ntenant = "default"\n'
                      '[limits]\ncalls_in_flight = 2\n')
    p = pipe(config=config)
    for i in (1, 2):
        p.send({"jsonrpc": "2.0", "id": i, "method": "tools/call", "params": {"name": "echo__sleep", "arguments": {"ms": 2500}}})
    time.sleep(0.2)
    sent = time.monotonic()
    p.send({"jsonrpc": "2.0", "id": 3, "method": "ping"})
    first = p.answer()
    # The ping is read only once a sleep has answered: it comes after them.
    assert first["id"] in (1, 2) and not first["result"].get("isError"), first
    later = [p.answer(), p.answer()]
    assert {m["id"] for m in later} == {1, 2, 3} - {first["id"]}
    assert time.monotonic() - sent > 2.0
    assert "calls in flight reached max_calls_in_flight" in p.stderr()


@pytest.mark.parametrize("body,says", [
    ("[limits]\nmessage_bytes = 10\n", "[limits] message_bytes must be an integer from 1024"),
    ("[limits]\nunsent = 1\n", "[limits]: unknown key 'unsent'"),
    ("limits = 3\n", "[limits] must be a table"),
])
def test_a_wrong_limit_is_one_clear_line(bulkhead_bin, tmp_path, body, says):
    config = tmp_path / "bulkhead.toml"
    config.write_text('default_principal = "local"\n' + body + '[principals.local]\ntenant = "default"\n')
    r = run_cli(bulkhead_bin, "serve", "--config", str(config), "--plugins", str(tmp_path))
    assert r.returncode == 2 and says in r.stderr, r.stderr


def test_max_message_bytes_out_of_range_is_refused(bulkhead_bin, tmp_path):
    r = run_cli(bulkhead_bin, "serve", "--plugins", str(tmp_path), "--max-message-bytes", "12")
    assert r.returncode == 2 and "--max-message-bytes must be from 1024" in r.stderr, r.stderr
