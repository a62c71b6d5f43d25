"""A small raw MCP client over stdio: newline-delimited JSON-RPC, matched by id.

It writes lines to the server's stdin and reads its stdout on a thread. Every
stdout line is kept (raw) and must parse as one JSON-RPC message; anything else
lands in `garbage`, which the `serve` fixture asserts to be empty. Every wait
has a timeout, so a misbehaving server fails a test instead of hanging it.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

MODERN = "2026-07-28"
LEGACY = "2025-11-25"
PV_KEY = "io.modelcontextprotocol/protocolVersion"
CAPS_KEY = "io.modelcontextprotocol/clientCapabilities"
INFO_KEY = "io.modelcontextprotocol/clientInfo"
SERVER_INFO_KEY = "io.modelcontextprotocol/serverInfo"

CLIENT_INFO = {"name": "bulkhead-e2e", "version": "0.0.1"}


def modern_meta(version: str = MODERN, caps: dict | None = None, **extra: Any) -> dict:
    meta = {PV_KEY: version, CAPS_KEY: caps if caps is not None else {}, INFO_KEY: CLIENT_INFO}
    meta.update(extra)
    return meta


class ServerTimeout(AssertionError):
    pass


def is_jsonrpc_message(msg: Any) -> bool:
    """True for one JSON-RPC 2.0 response, request or notification object."""
    if not isinstance(msg, dict) or msg.get("jsonrpc") != "2.0":
        return False
    if "method" in msg:
        return isinstance(msg["method"], str)
    if "id" not in msg:
        return False
    has_result, has_error = "result" in msg, "error" in msg
    if has_result == has_error:
        return False
    if has_error:
        err = msg["error"]
        return isinstance(err, dict) and isinstance(err.get("code"), int) and isinstance(err.get("message"), str)
    return True


class RawServer:
    def __init__(self, argv: list[str], *, stderr_path: Path, cwd: str | None = None, env: dict | None = None):
        self.argv = argv
        self.stderr_path = Path(stderr_path)
        self._stderr_file = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr_file,
            cwd=cwd,
            env=env,
            start_new_session=True,
        )
        self._ids = itertools.count(1)
        self._cond = threading.Condition()
        self._write_lock = threading.Lock()
        self.responses: dict[Any, dict] = {}  # id (JSON value, hashable form) -> message
        self.response_times: dict[Any, float] = {}
        self.duplicates: list[dict] = []
        self.null_responses: list[dict] = []  # error responses with "id": null, in order
        self.notifications: list[dict] = []
        self.requests_from_server: list[dict] = []
        self.lines: list[bytes] = []  # every raw stdout line, in order
        self.garbage: list[bytes] = []  # stdout lines that are not one JSON-RPC message
        self.eof = False
        self._reader = threading.Thread(target=self._read_loop, daemon=True)
        self._reader.start()

    # ------------------------------------------------------------------ reading

    @staticmethod
    def _key(i: Any) -> Any:
        return json.dumps(i, sort_keys=True)

    def _read_loop(self) -> None:
        out = self.proc.stdout
        assert out is not None
        while True:
            line = out.readline()
            if not line:
                break
            now = time.monotonic()
            body = line[:-1] if line.endswith(b"\n") else line
            with self._cond:
                self.lines.append(body)
            try:
                msg = json.loads(body)
            except ValueError:
                msg = None
            with self._cond:
                if not is_jsonrpc_message(msg):
                    self.garbage.append(body[:500])
                elif "method" in msg:
                    (self.requests_from_server if "id" in msg else self.notifications).append(msg)
                elif msg["id"] is None:
                    self.null_responses.append(msg)
                else:
                    k = self._key(msg["id"])
                    if k in self.responses:
                        self.duplicates.append(msg)
                    else:
                        self.responses[k] = msg
                        self.response_times[k] = now
                self._cond.notify_all()
        with self._cond:
            self.eof = True
            self._cond.notify_all()

    # ------------------------------------------------------------------ writing

    def next_id(self) -> int:
        return next(self._ids)

    def send_raw(self, data: bytes | str) -> None:
        if isinstance(data, str):
            data = data.encode()
        assert self.proc.stdin is not None
        with self._write_lock:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()

    def send(self, msg: dict) -> None:
        self.send_raw(json.dumps(msg, separators=(",", ":")) + "\n")

    def send_request(self, method: str, params: dict | None = None, *, id: Any = None) -> Any:
        if id is None:
            id = self.next_id()
        msg: dict[str, Any] = {"jsonrpc": "2.0", "id": id, "method": method}
        if params is not None:
            msg["params"] = params
        self.send(msg)
        return id

    def notify(self, method: str, params: dict | None = None) -> None:
        msg: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            msg["params"] = params
        self.send(msg)

    # ------------------------------------------------------------------ waiting

    def wait(self, id: Any, timeout: float = 15.0) -> dict:
        assert id is not None, "use null_count()/wait_null() for responses with id null"
        k = self._key(id)
        deadline = time.monotonic() + timeout
        with self._cond:
            while k not in self.responses:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ServerTimeout(f"no response for id {id!r} within {timeout}s; stderr:\n{self.stderr_tail()}")
                if self.eof:
                    raise ServerTimeout(f"server closed stdout before answering id {id!r}; stderr:\n{self.stderr_tail()}")
                self._cond.wait(min(left, 0.5))
            return self.responses[k]

    def null_count(self) -> int:
        with self._cond:
            return len(self.null_responses)

    def wait_null(self, after: int, timeout: float = 15.0) -> dict:
        """The first response with "id": null beyond the first `after` of them (take `after` from null_count())."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.null_responses) <= after:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ServerTimeout(f"no response with id null within {timeout}s; stderr:\n{self.stderr_tail()}")
                if self.eof:
                    raise ServerTimeout(f"server closed stdout before an id-null response; stderr:\n{self.stderr_tail()}")
                self._cond.wait(min(left, 0.5))
            return self.null_responses[after]

    def has_response(self, id: Any) -> bool:
        with self._cond:
            return self._key(id) in self.responses

    def response_time(self, id: Any) -> float:
        with self._cond:
            return self.response_times[self._key(id)]

    def request(self, method: str, params: dict | None = None, *, id: Any = None, timeout: float = 15.0) -> dict:
        """Send a request and return the whole response message."""
        rid = self.send_request(method, params, id=id)
        return self.wait(rid, timeout)

    def result(self, method: str, params: dict | None = None, *, timeout: float = 15.0) -> dict:
        """Send a request and return its result, failing the test on a JSON-RPC error."""
        resp = self.request(method, params, timeout=timeout)
        assert "result" in resp, f"{method} failed: {resp.get('error')}"
        return resp["result"]

    def error(self, method: str, params: dict | None = None, *, timeout: float = 15.0) -> dict:
        """Send a request and return its JSON-RPC error object, failing the test on a result."""
        resp = self.request(method, params, timeout=timeout)
        assert "error" in resp, f"{method} expected a JSON-RPC error, got result {str(resp.get('result'))[:300]}"
        return resp["error"]

    # ------------------------------------------------------------------ MCP helpers

    def initialize(self, version: str = LEGACY, capabilities: dict | None = None) -> dict:
        res = self.result(
            "initialize",
            {"protocolVersion": version, "capabilities": capabilities or {}, "clientInfo": CLIENT_INFO},
        )
        self.notify("notifications/initialized")
        return res

    def call(self, name: str, arguments: dict | None = None, *, meta: dict | None = None, timeout: float = 15.0) -> dict:
        """tools/call; returns the result (which may be an isError result)."""
        params: dict[str, Any] = {"name": name}
        if arguments is not None:
            params["arguments"] = arguments
        if meta is not None:
            params["_meta"] = meta
        return self.result("tools/call", params, timeout=timeout)

    def list_tools(self, *, meta: dict | None = None) -> list[dict]:
        """Every tool, following nextCursor."""
        tools: list[dict] = []
        cursor = None
        for _ in range(1000):
            params: dict[str, Any] = {}
            if cursor is not None:
                params["cursor"] = cursor
            if meta is not None:
                params["_meta"] = meta
            res = self.result("tools/list", params)
            tools += res["tools"]
            cursor = res.get("nextCursor")
            if cursor is None:
                return tools
        raise AssertionError("tools/list never stopped paginating")

    def tool_names(self, *, meta: dict | None = None) -> list[str]:
        return [t["name"] for t in self.list_tools(meta=meta)]

    # ------------------------------------------------------------------ ending

    def close_stdin(self) -> None:
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        except (BrokenPipeError, OSError):
            pass

    def wait_exit(self, timeout: float = 10.0) -> int:
        """Wait for the process to exit; return its exit status (fails the test on timeout)."""
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise ServerTimeout(f"server did not exit within {timeout}s; stderr:\n{self.stderr_tail()}")
        self._reader.join(5)
        return rc

    def shutdown(self, timeout: float = 10.0) -> int:
        self.close_stdin()
        return self.wait_exit(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.close_stdin()
            try:
                self.proc.wait(3)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(5)
        self._reader.join(5)
        if self.proc.stdout:
            self.proc.stdout.close()
        self._stderr_file.close()

    def stderr_text(self) -> str:
        self._stderr_file.flush()
        return self.stderr_path.read_text(errors="replace")

    def stderr_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.stderr_text().splitlines()[-n:])
        except OSError:
            return "<no stderr>"


def tool_text(result: dict) -> str:
    """The concatenated text of a tools/call result's text blocks."""
    return "".join(b.get("text", "") for b in result.get("content", []) if b.get("type") == "text")


def error_kind(result: dict) -> str | None:
    """The structured error kind of an isError result (None when not an error)."""
    if not result.get("isError"):
        return None
    sc = result.get("structuredContent") or {}
    return sc.get("kind")
