"""Issue 10, items 1–4: the audit trail as a contract.

No answer leaves before its record is durable (kill -9 at random moments under
pipelined load loses no answered call); a torn tail is recovered, not taken for
tampering; several processes share one trail; records hold no argument values,
and `audit query` prints caller-chosen text escaped.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import CONFIG, REPO, run_cli
from rawclient import modern_meta


def lines_of(log: Path) -> list[dict]:
    """Every whole record; a torn last line (a crash's mark) is left out."""
    out = []
    for l in log.read_bytes().split(b"\n"):
        try:
            out.append(json.loads(l))
        except ValueError:
            continue
    return out


def calls_of(log: Path) -> list[dict]:
    return [r for r in lines_of(log) if "event" not in r]


def verify(bulkhead_bin, log) -> subprocess.CompletedProcess:
    return run_cli(bulkhead_bin, "audit", "verify", str(log))


class PipelinedClient:
    """Writes bench__add calls as fast as the server takes them and notes every answer that arrives."""

    def __init__(self, argv: list[str]):
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     cwd=str(REPO))
        self.answered: set[int] = set()
        self.stop = threading.Event()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.writer = threading.Thread(target=self._write, daemon=True)
        self.reader.start()
        self.writer.start()

    def _write(self):
        meta = modern_meta()
        i = 0
        try:
            while not self.stop.is_set():
                batch = []
                for _ in range(64):
                    i += 1
                    batch.append(json.dumps({"jsonrpc": "2.0", "id": i, "method": "tools/call",
                                             "params": {"name": "bench__add", "arguments": {"a": i, "b": 1}, "_meta": meta}}))
                self.proc.stdin.write(("\n".join(batch) + "\n").encode())
                self.proc.stdin.flush()
        except (BrokenPipeError, ValueError, OSError):
            pass

    def _read(self):
        for line in self.proc.stdout:
            msg = json.loads(line)
            if isinstance(msg.get("id"), int) and "result" in msg:
                self.answered.add(msg["id"])

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.stop.set()
        self.reader.join(timeout=10)


def serve_argv(bulkhead_bin, log, plugins=None):
    return [str(bulkhead_bin), "serve", "--plugins", str(plugins or REPO / "plugins"), "--config", str(CONFIG),
            "--audit", str(log), "--log-level", "error"]


def test_kill_9_under_load_loses_no_answered_call(bulkhead_bin, tmp_path):
    rng = random.Random(20261202)
    log = tmp_path / "audit.jsonl"
    total_answered = 0
    for trial in range(12):
        client = PipelinedClient(serve_argv(bulkhead_bin, log))
        time.sleep(rng.uniform(0.15, 0.8))
        client.kill9()
        answered = client.answered
        total_answered += len(answered)
        v = verify(bulkhead_bin, log)
        assert v.returncode in (0, 3), v.stdout  # intact, or a torn tail a crash left (reported as such)
        # Records from this process: every answered call is among them.
        recs = [r for r in calls_of(log) if r.get("pid") == client.proc.pid]
        recorded = {r["request"] for r in recs}
        missing = answered - recorded
        assert not missing, f"trial {trial}: {len(missing)} answered calls have no record (e.g. {sorted(missing)[:5]})"
        assert all(r["outcome"] == "ok" for r in recs)
    assert total_answered > 1000, "the load never got going"
    # A clean start continues the chain after all those crashes.
    r = subprocess.run(serve_argv(bulkhead_bin, log), input="", capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    v = verify(bulkhead_bin, log)
    assert v.returncode == 0, v.stdout


def first_trail(bulkhead_bin, tmp_path, calls=3) -> Path:
    log = tmp_path / "trail.jsonl"
    reqs = [{"jsonrpc": "2.0", "id": i, "method": "tools/call",
             "params": {"name": "bench__add", "arguments": {"a": i, "b": 1}, "_meta": modern_meta()}} for i in range(1, calls + 1)]
    r = subprocess.run(serve_argv(bulkhead_bin, log), input="".join(json.dumps(q) + "\n" for q in reqs),
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.splitlines()) == calls
    return log


def test_a_torn_tail_is_reported_as_such_and_recovered_on_start(bulkhead_bin, tmp_path):
    log = first_trail(bulkhead_bin, tmp_path)
    whole = log.read_bytes()
    last = whole.splitlines()[-1]
    fragment = last[: len(last) // 2]  # a write cut in the middle of a record
    log.write_bytes(whole + fragment)
    v = verify(bulkhead_bin, log)
    assert v.returncode == 3, v.stdout
    assert "torn tail after a crash" in v.stdout and "records before it are intact" in v.stdout
    # Tampering is still tampering, torn tail or not.
    lines = whole.decode().splitlines()
    lines[1] = lines[1].replace('"a"', '"A"') if '"a"' in lines[1] else lines[1].replace("alice", "mallory")
    tampered = tmp_path / "tampered.jsonl"
    tampered.write_bytes(("\n".join(lines) + "\n").encode() + fragment)
    assert verify(bulkhead_bin, tampered).returncode == 1

    # The next start sets the fragment aside and continues the chain from the last whole record.
    r = subprocess.run(serve_argv(bulkhead_bin, log), input="", capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    v = verify(bulkhead_bin, log)
    assert v.returncode == 0, v.stdout
    assert "1 torn tail recovered" in v.stdout
    recs = lines_of(log)
    assert [r["seq"] for r in recs] == list(range(1, len(recs) + 1))
    (rec,) = [r for r in recs if r.get("event") == "torn_tail_recovered"]
    import hashlib
    assert rec["fragment_bytes"] == len(fragment)
    assert rec["fragment_sha256"] == hashlib.sha256(fragment).hexdigest()
    aside = log.parent / rec["fragment_file"]
    assert aside.read_bytes() == fragment
    q = run_cli(bulkhead_bin, "audit", "query", str(log))
    assert "torn tail recovered" in q.stdout


def test_a_missing_final_newline_is_mended_not_lost(bulkhead_bin, tmp_path):
    log = first_trail(bulkhead_bin, tmp_path)
    log.write_bytes(log.read_bytes().rstrip(b"\n"))
    assert verify(bulkhead_bin, log).returncode == 0  # the last record is whole
    before = len(lines_of(log))
    r = subprocess.run(serve_argv(bulkhead_bin, log), input="", capture_output=True, text=True, timeout=30)
    assert r.returncode == 0
    v = verify(bulkhead_bin, log)
    assert v.returncode == 0 and "torn" not in v.stdout, v.stdout
    assert len(lines_of(log)) == before + 2  # start and stop of the second run


@pytest.mark.parametrize("processes", [2, 4])
def test_several_processes_share_one_trail(bulkhead_bin, tmp_path, processes):
    log = tmp_path / "shared.jsonl"
    n = 300
    reqs = "".join(json.dumps({"jsonrpc": "2.0", "id": i, "method": "tools/call",
                               "params": {"name": "bench__add", "arguments": {"a": i, "b": 1}, "_meta": modern_meta()}}) + "\n"
                   for i in range(1, n + 1))
    procs = [subprocess.Popen(serve_argv(bulkhead_bin, log), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True) for _ in range(processes)]
    outs = []
    threads = [threading.Thread(target=lambda p=p: outs.append(p.communicate(reqs, timeout=120))) for p in procs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(p.returncode == 0 for p in procs)
    assert all(len(o[0].splitlines()) == n for o in outs)
    v = verify(bulkhead_bin, log)
    assert v.returncode == 0, v.stdout
    recs = calls_of(log)
    by_pid: dict[int, list[int]] = {}
    for r in recs:
        by_pid.setdefault(r["pid"], []).append(r["request"])
    assert sorted(by_pid) == sorted(p.pid for p in procs)
    for pid, ids in by_pid.items():
        assert sorted(ids) == list(range(1, n + 1)), pid  # every call once
    q = run_cli(bulkhead_bin, "audit", "query", str(log), "--tool", "bench__add", "--json")
    assert len(q.stdout.splitlines()) == processes * n
    events = [r["event"] for r in lines_of(log) if "event" in r]
    assert events.count("start") == processes and events.count("stop") == processes


def test_query_escapes_what_callers_chose(bulkhead_bin, plugin_dir, serve, tmp_path):
    log = tmp_path / "a.jsonl"
    s = serve(plugin_dir("bench", "gated"), extra=["--audit", str(log)])
    forged = "x\n2026-01-01T00:00:00.000Z #99 alice@acme admin__status (read) → ok\x1b[2J\u202e"
    s.request("tools/call", {"name": forged, "arguments": {}, "_meta": modern_meta()})
    s.call("bench__add", {"a": 1, "b": 1}, meta=modern_meta())
    assert s.shutdown() == 0
    q = run_cli(bulkhead_bin, "audit", "query", str(log))
    assert q.returncode == 0
    out = q.stdout.splitlines()
    assert len(out) == len(lines_of(log)), out  # one line per record: the newline did not make a second
    assert not any(l.startswith("2026-01-01T00:00:00.000Z") for l in out)
    assert "\x1b" not in q.stdout and "\u202e" not in q.stdout
    assert any("x\\n2026-01-01" in l and "\\u{1b}[2J" in l and "\\u{202e}" in l for l in out), out


def test_argument_values_never_reach_the_trail(bulkhead_bin, plugin_dir, serve, tmp_path):
    log = tmp_path / "a.jsonl"
    s = serve(plugin_dir("gated", "docs", "tickets"), extra=["--audit", str(log)])
    secret = "hunter2-SECRET-VALUE"
    meta = modern_meta()
    s.call("gated__strict", {"n": 424242, "name": secret}, meta=meta)          # out of range: the message quotes 424242
    s.call("gated__strict", {"n": 1, "name": "x", secret: 1}, meta=meta)       # an unknown key, quoted back
    s.call("docs__fetch", {"path": f"../../{secret}"}, meta=meta)               # a path the plugin refuses
    s.call("tickets__get", {"id": secret}, meta=meta)                          # not found, quoting the id
    s.call("gated__strict", {"n": 3, "name": secret}, meta=meta)
    assert s.shutdown() == 0
    text = log.read_text()
    assert secret not in text
    assert "424242" not in text
    failed = [r for r in calls_of(log) if r["outcome"] == "error"]
    assert len(failed) >= 3
    assert all("message" in r for r in failed)


def test_failed_since_until_and_server_records(bulkhead_bin, plugin_dir, serve, tmp_path):
    log = tmp_path / "a.jsonl"
    s = serve(plugin_dir("tickets", "bench"), extra=["--audit", str(log)])
    meta = modern_meta(caps={"elicitation": {}})
    first = s.call("tickets__create", {"title": "t", "body": "b"}, meta=meta)
    assert first.get("resultType") == "input_required"
    s.call("bench__add", {"a": 1, "b": 1}, meta=meta)
    assert s.shutdown() == 0
    # The first step of a consented write is not a failure.
    assert run_cli(bulkhead_bin, "audit", "query", str(log), "--failed").stdout == ""
    everything = run_cli(bulkhead_bin, "audit", "query", str(log)).stdout.splitlines()
    assert "server start" in everything[0] and "server stop" in everything[-1]
    assert len(everything) == 4
    assert run_cli(bulkhead_bin, "audit", "query", str(log), "--since", "2999-01-01").stdout == ""
    assert run_cli(bulkhead_bin, "audit", "query", str(log), "--until", "2000-01-01T00:00:00Z").stdout == ""
    assert len(run_cli(bulkhead_bin, "audit", "query", str(log), "--since", "2000-01-01").stdout.splitlines()) == 4
    bad = run_cli(bulkhead_bin, "audit", "query", str(log), "--since", "yesterday")
    assert bad.returncode != 0 and "--since" in bad.stderr
