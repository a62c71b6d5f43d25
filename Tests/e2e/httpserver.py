"""Starting `bulkhead serve --http` for a test, and small HTTP helpers.

The server binds 127.0.0.1:0 and logs the URL it serves; tests read it from
stderr, so several servers can run at once without port clashes.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import httpx2

from conftest import REPO

MODERN = "2026-07-28"
LEGACY = "2025-11-25"
URL_LINE = re.compile(r"serving Streamable HTTP at (https?://\S+)")
METRICS_LINE = re.compile(r"serving metrics at (http://\S+)/metrics")


class HTTPServer:
    def __init__(self, proc: subprocess.Popen, stderr: Path, url: str, metrics: str | None):
        self.proc = proc
        self.stderr_path = stderr
        self.url = url
        self.metrics = metrics

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def stop(self, sig=signal.SIGTERM, timeout=30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout)


def start_http(bulkhead_bin: Path, plugins: Path, tmp_path: Path, *extra: str, config: Path | None = None,
               metrics: bool = False, listen: str = "127.0.0.1:0", env: dict | None = None) -> HTTPServer:
    err = tmp_path / f"http-{time.monotonic_ns()}.stderr"
    args = [str(bulkhead_bin), "serve", "--plugins", str(plugins), "--http", listen]
    if config is not None:
        args += ["--config", str(config)]
    if metrics:
        args += ["--metrics", "127.0.0.1:0"]
    args += list(extra)
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=open(err, "w"),
                            cwd=str(REPO), env={**os.environ, **(env or {})})
    deadline = time.monotonic() + 30
    url = None
    murl = None
    while time.monotonic() < deadline:
        text = err.read_text(errors="replace")
        m = URL_LINE.search(text)
        if m:
            url = m.group(1)
        mm = METRICS_LINE.search(text)
        if mm:
            murl = mm.group(1)
        if url and (murl or not metrics):
            break
        if proc.poll() is not None:
            raise AssertionError(f"bulkhead exited {proc.returncode}: {text}")
        time.sleep(0.05)
    else:
        proc.kill()
        raise AssertionError("bulkhead did not start serving HTTP: " + err.read_text(errors="replace"))
    return HTTPServer(proc, err, url, murl)


def modern_meta(**extra) -> dict:
    meta = {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "raw-http", "version": "1"},
    }
    meta.update(extra)
    return meta


def modern_headers(method: str, name: str | None = None, token: str | None = None, **extra) -> dict:
    h = {
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": MODERN,
        "Mcp-Method": method,
    }
    if name is not None:
        h["Mcp-Name"] = name
    if token is not None:
        h["Authorization"] = f"Bearer {token}"
    h.update(extra)
    return h


def post_modern(url: str, method: str, params: dict | None = None, *, id=1, token: str | None = None,
                name: str | None = None, headers: dict | None = None, timeout=30) -> httpx2.Response:
    params = dict(params or {})
    params.setdefault("_meta", modern_meta())
    if name is None and method == "tools/call":
        name = params.get("name")
    h = modern_headers(method, name, token)
    h.update(headers or {})
    body = {"jsonrpc": "2.0", "id": id, "method": method, "params": params}
    return httpx2.post(url, content=json.dumps(body), headers=h, timeout=timeout)


def sse_messages(text: str) -> list[dict]:
    """The JSON messages of an SSE body (comments and other fields ignored)."""
    out = []
    for block in text.split("\n\n"):
        data = [line[5:].lstrip() for line in block.split("\n") if line.startswith("data:")]
        if data:
            out.append(json.loads("\n".join(data)))
    return out


def messages(resp: httpx2.Response) -> list[dict]:
    if resp.headers.get("content-type", "").startswith("text/event-stream"):
        return sse_messages(resp.text)
    return [resp.json()]


def write_config(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "bulkhead.toml"
    p.write_text(body)
    return p


def metric(text: str, name: str, **labels) -> float:
    """One Prometheus sample's value (the first whose labels include these); 0 when absent."""
    for line in text.splitlines():
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)", line)
        if not m or m.group(1) != name:
            continue
        got = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        if all(got.get(k) == v for k, v in labels.items()):
            return float(m.group(3))
    return 0.0
