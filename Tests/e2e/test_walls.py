"""Walls around the capabilities, end to end, through the hostile fixture:

- outbound HTTP cannot be bent: a loopback server that records the exact
  bytes it received shows that every trick with a method, a URL or a header
  is refused before anything is sent, or that what arrived is exactly one
  request to the granted origin, framed by the core;
- read tools do not write: `hostile__peek` (the same code as `try`, declared
  access = "read") is refused every change on a read-write root;
- planted hard links: a hard link to a file outside a root is refused unless
  the grant allows it.
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from pathlib import Path

import pytest

from test_capabilities import snapshot, write_hostile

# ----------------------------------------------------------------------------- a recording server


class RawRecorder:
    """A loopback TCP server that answers every connection with one small
    HTTP/1.1 response and keeps the exact bytes each connection sent: the
    request head, the body its Content-Length announces, and anything at all
    that followed within a moment (a smuggled second request would)."""

    REPLY = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.received: list[bytes] = []
        self._lock = threading.Lock()
        self._stop = False
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket):
        data = b""
        conn.settimeout(5)
        try:
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
            head = data.split(b"\r\n\r\n", 1)[0]
            m = re.search(rb"(?im)^content-length:\s*(\d+)\s*$", head)
            want = len(head) + 4 + (int(m.group(1)) if m else 0)
            while len(data) < want:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
            # Whatever else the client sends at once belongs to this record too.
            conn.settimeout(0.2)
            try:
                while True:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
            except (socket.timeout, OSError):
                pass
            conn.sendall(self.REPLY)
        except OSError:
            pass
        finally:
            with self._lock:
                self.received.append(data)
            conn.close()

    def take(self) -> list[bytes]:
        """The connections recorded since the last take (waiting a moment for one still being read)."""
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            with self._lock:
                if self.received:
                    break
            time.sleep(0.02)
        with self._lock:
            out, self.received = self.received, []
        return out

    def close(self):
        self._stop = True
        self.sock.close()


REQUEST_LINE = re.compile(rb"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+ /\S* HTTP/1\.1$")


def parse_one(raw: bytes, port: int) -> tuple[str, str, list[tuple[str, str]], bytes]:
    """Checks that `raw` is exactly one well-framed HTTP/1.1 request to 127.0.0.1:port and returns its parts."""
    assert b"\r\n\r\n" in raw, raw
    head, rest = raw.split(b"\r\n\r\n", 1)
    lines = head.split(b"\r\n")
    assert REQUEST_LINE.match(lines[0]), lines[0]
    for line in lines[1:]:
        assert re.match(rb"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+: [^\x00-\x08\x0a-\x1f\x7f]*$", line), line
        assert b"\r" not in line and b"\n" not in line and b"\0" not in line
    headers = [(k.decode(), v.decode("latin-1")) for k, v in (l.split(b": ", 1) for l in lines[1:])]
    names = [k.lower() for k, _ in headers]
    assert names.count("host") == 1 and dict((k.lower(), v) for k, v in headers)["host"] == f"127.0.0.1:{port}", headers
    for reserved in ("transfer-encoding", "connection", "keep-alive", "te", "trailer", "upgrade", "expect",
                     "http2-settings"):
        assert reserved not in names, (reserved, headers)
    assert not any(n.startswith("proxy-") for n in names), headers
    assert names.count("content-length") <= 1, headers
    length = int(dict((k.lower(), v) for k, v in headers).get("content-length", "0"))
    assert len(rest) == length, f"exactly the announced body and nothing after it: {rest!r}"
    # A second request line anywhere would be a smuggled request.
    assert len(re.findall(rb"HTTP/1\.[01]\r\n", raw)) == 1, raw
    method, target, _ = lines[0].decode().split(" ")
    return method, target, headers, rest


@pytest.fixture
def recorder():
    r = RawRecorder()
    yield r
    r.close()


@pytest.fixture
def walls(tmp_path, recorder, serve):
    """hostile with `web` granted on the recorder, `try` and `peek` callable by everyone."""
    w = tmp_path / "world"
    (w / "box" / "sub").mkdir(parents=True)
    (w / "shelf").mkdir()
    (w / "outside").mkdir()
    (w / "box" / "inside.txt").write_text("inside")
    (w / "box" / "sub" / "keep.txt").write_text("keep")
    (w / "outside" / "private.txt").write_text("private")
    (w / "secret.txt").write_text("not-used-here\n")
    plugins = tmp_path / "plugins"
    write_hostile(plugins / "hostile", "hostile", w, recorder.port,
                  extra='[[allow]]\ntools = ["peek"]\nprincipals = ["*"]\n')
    return w, plugins


def started(serve, plugins):
    s = serve(plugins)
    s.initialize()
    return s


def attempt(s, tool="try", **args) -> dict:
    res = s.call(f"hostile__{tool}", args)
    assert not res.get("isError"), res
    return res["structuredContent"]


# ----------------------------------------------------------------------------- 5. outbound HTTP cannot be bent

# (method, url path or full url, headers) -> the status expected; nothing reaches the server.
REFUSED = [
    # headers the core sets
    ("GET", "/", "Host: evil.example", "BH_E_NOT_ALLOWED"),
    ("GET", "/", "host: evil.example", "BH_E_NOT_ALLOWED"),
    ("GET", "/", "Host:", "BH_E_NOT_ALLOWED"),
    ("POST", "/", "Content-Length: 0", "BH_E_NOT_ALLOWED"),
    ("POST", "/", "Transfer-Encoding: chunked", "BH_E_NOT_ALLOWED"),
    ("GET", "/", "Connection: keep-alive, Upgrade", "BH_E_NOT_ALLOWED"),
    ("GET", "/", "Keep-Alive: timeout=5", "BH_E_NOT_ALLOWED"),
    ("GET", "/", "Upgrade: h2c", "BH_E_NOT_ALLOWED"),
    ("GET", "/", "HTTP2-Settings: AAMAAABkAAQAAP__", "BH_E_NOT_ALLOWED"),
    ("GET", "/", "TE: trailers", "BH_E_NOT_ALLOWED"),
    ("GET", "/", "Trailer: X-Sig", "BH_E_NOT_ALLOWED"),
    ("POST", "/", "Expect: 100-continue", "BH_E_NOT_ALLOWED"),
    ("GET", "/", "Proxy-Authorization: Basic eDp5", "BH_E_NOT_ALLOWED"),
    ("GET", "/", "Proxy-Connection: keep-alive", "BH_E_NOT_ALLOWED"),
    ("GET", "/", "X-Ok: 1\nHost: evil.example", "BH_E_NOT_ALLOWED"),
    ("GET", "/", "X-Ok: 1\r\nContent-Length: 40", "BH_E_NOT_ALLOWED"),
    # header injection and malformed lines
    ("GET", "/", "X-A: b\r\nHost: evil.example", "BH_E_NOT_ALLOWED"),
    ("GET", "/", "X-A: b\rHost: evil.example", "BH_E_INVALID"),
    ("GET", "/", "X-A: b\r\n\r\nGET /smuggled HTTP/1.1", "BH_E_INVALID"),
    ("GET", "/", "X-A: b\u0000Host: evil", "BH_E_INVALID"),
    ("GET", "/", "X-A: b\u0001", "BH_E_INVALID"),
    ("GET", "/", "X-A: b\u001b[2J", "BH_E_INVALID"),
    ("GET", "/", "X-A: \u007f", "BH_E_INVALID"),
    ("GET", "/", "X-A: b\u000bc", "BH_E_INVALID"),
    ("GET", "/", "X A: b", "BH_E_INVALID"),
    ("GET", "/", "Host : evil.example", "BH_E_INVALID"),
    ("GET", "/", " Host: evil.example", "BH_E_INVALID"),
    ("GET", "/", "X-A: b\n\tX-Folded: c", "BH_E_INVALID"),
    ("GET", "/", ": empty-name", "BH_E_INVALID"),
    ("GET", "/", ":authority: evil.example", "BH_E_INVALID"),
    ("GET", "/", "User-Agent:", "BH_E_INVALID"),
    ("GET", "/", "Accept:   ", "BH_E_INVALID"),
    ("GET", "/", "X-Empty;", "BH_E_INVALID"),
    ("GET", "/", "@/etc/passwd", "BH_E_INVALID"),
    ("GET", "/", "H\u00e9: x", "BH_E_INVALID"),
    ("GET", "/", "no colon", "BH_E_INVALID"),
    # methods
    ("GET / HTTP/1.1\r\nHost: evil.example\r\n\r\nGET", "/", "", "BH_E_INVALID"),
    ("GET http://evil.example/", "/", "", "BH_E_INVALID"),
    ("GET /x", "/", "", "BH_E_INVALID"),
    ("GET\t", "/", "", "BH_E_INVALID"),
    ("GET\u0000", "/", "", "BH_E_INVALID"),
    ("G\u00c9T", "/", "", "BH_E_INVALID"),
    ("CONNECT", "/", "", "BH_E_NOT_ALLOWED"),
    # URLs
    ("GET", "/x HTTP/1.1\r\nHost: evil.example\r\n\r\n", "", "BH_E_INVALID"),
    ("GET", "/x\r\nHost: evil.example", "", "BH_E_INVALID"),
    ("GET", "/x y", "", "BH_E_INVALID"),
    ("GET", "/x\u0000y", "", "BH_E_INVALID"),
]


@pytest.mark.parametrize("method,path,headers,status", REFUSED,
                         ids=[f"{i}:{m[:12]!r}:{p[:12]!r}:{h[:24]!r}" for i, (m, p, h, _) in enumerate(REFUSED)])
def test_http_tricks_are_refused_before_anything_is_sent(walls, recorder, serve, method, path, headers, status):
    _, plugins = walls
    s = started(serve, plugins)
    out = attempt(s, op="http", method=method, url=f"http://127.0.0.1:{recorder.port}{path}", headers=headers)
    assert out["status"] == status, out
    assert out["reason"].startswith(("http_request:", "not allowed:")), out
    assert recorder.take() == [], "nothing reached the server"
    if status == "BH_E_NOT_ALLOWED":
        assert any("refused" in l and "capability=web" in l for l in s.stderr_text().splitlines())


def test_a_head_request_with_a_body_is_refused(walls, recorder, serve):
    _, plugins = walls
    s = started(serve, plugins)
    out = attempt(s, op="http", method="HEAD", url=f"http://127.0.0.1:{recorder.port}/", headers="", body="a body")
    assert out["status"] == "BH_E_INVALID" and "HEAD" in out["reason"], out
    assert recorder.take() == []


def test_a_refusal_names_the_header_never_its_value(walls, recorder, serve):
    _, plugins = walls
    s = started(serve, plugins)
    out = attempt(s, op="http", url=f"http://127.0.0.1:{recorder.port}/", headers="Authorization: Bearer t0ps3cr3t\u0001")
    assert out["status"] == "BH_E_INVALID"
    assert "Authorization" in out["reason"] and "t0ps3cr3t" not in out["reason"], out
    out = attempt(s, op="http", url=f"http://127.0.0.1:{recorder.port}/", headers="Proxy-Authorization: t0ps3cr3t")
    assert out["status"] == "BH_E_NOT_ALLOWED"
    assert "t0ps3cr3t" not in out["reason"] and "t0ps3cr3t" not in s.stderr_text()
    assert recorder.take() == []


# What the plugin asks for, and what must then arrive: one request, framed by the core.
ALLOWED = [
    ("", "/plain", "", "", "GET"),
    ("GET", "/q?x=1&y=%0d%0a", "Accept: text/plain\nX-Fixture: hostile", "", "GET"),
    ("POST", "/items", "Content-Type: application/json", '{"a":1}', "POST"),
    ("PUT", "/items/1", "X-One: 1\r\nX-Two: 2\r\n", "put body", "PUT"),
    ("DELETE", "/items/1", "", "", "DELETE"),
    ("PATCH", "/items/1", "", "", "PATCH"),
    ("GET", "/with-body", "", "query", "GET"),  # a body does not turn a GET into a POST
    ("PROPFIND", "/dav", "Depth: 1", "", "PROPFIND"),
    ("OPTIONS", "/", "X-Spaced:    padded value   ", "", "OPTIONS"),
    ("POST", "/big", "", "x" * 3000, "POST"),  # over 1 KiB: curl would add Expect: 100-continue
    ("GET", "/ua", "User-Agent: plugin/1.0", "", "GET"),
]


@pytest.mark.parametrize("method,path,headers,body,sent", ALLOWED,
                         ids=[f"{m or 'empty'}:{p}" for m, p, *_ in ALLOWED])
def test_what_leaves_is_exactly_one_request_to_the_granted_origin(walls, recorder, serve, method, path, headers, body, sent):
    _, plugins = walls
    s = started(serve, plugins)
    out = attempt(s, op="http", method=method, url=f"http://127.0.0.1:{recorder.port}{path}", headers=headers, body=body)
    assert out["status"] == "BH_OK" and out["http_status"] == 200 and out["data"] == "ok", out
    got = recorder.take()
    assert len(got) == 1, got
    m, target, hdrs, rest = parse_one(got[0], recorder.port)
    assert m == sent and target == path, (m, target)
    assert rest == body.encode()
    if body or method in ("POST", "PUT", "PATCH"):
        assert ("Content-Length", str(len(body))) in hdrs, hdrs
    for line in headers.replace("\r\n", "\n").split("\n"):
        if line:
            name, value = line.split(":", 1)
            assert (name, value.strip()) in hdrs, (name, hdrs)
    if "User-Agent" in headers:
        assert [v for k, v in hdrs if k.lower() == "user-agent"] == ["plugin/1.0"]


def test_a_lower_case_method_goes_out_as_given(walls, recorder, serve):
    _, plugins = walls
    s = started(serve, plugins)
    out = attempt(s, op="http", method="get", url=f"http://127.0.0.1:{recorder.port}/", headers="")
    assert out["status"] == "BH_OK", out
    m, *_ = parse_one(recorder.take()[0], recorder.port)
    assert m == "get"


def test_a_read_tool_may_post(walls, recorder, serve):
    _, plugins = walls
    s = started(serve, plugins)
    out = attempt(s, "peek", op="http", method="POST", url=f"http://127.0.0.1:{recorder.port}/search",
                  headers="Content-Type: application/json", body='{"q":"x"}')
    assert out["status"] == "BH_OK", out
    m, target, _, rest = parse_one(recorder.take()[0], recorder.port)
    assert (m, target, rest) == ("POST", "/search", b'{"q":"x"}')


# ----------------------------------------------------------------------------- 8. read tools do not write

O_READ, O_WRITE, O_CREATE, O_TRUNCATE, O_APPEND = 0x01, 0x02, 0x04, 0x08, 0x10

READ_TOOL_WRITES = [
    ("write", {"path": "inside.txt", "data": "scribbled"}),
    ("write", {"path": "new.txt", "data": "x"}),
    ("open", {"path": "inside.txt", "flags": O_WRITE}),
    ("open", {"path": "inside.txt", "flags": O_READ | O_WRITE}),
    ("open", {"path": "made.txt", "flags": O_READ | O_CREATE}),
    ("open", {"path": "inside.txt", "flags": O_READ | O_TRUNCATE}),
    ("open", {"path": "inside.txt", "flags": O_READ | O_APPEND}),
    ("mkdir", {"path": "newdir"}),
    ("remove", {"path": "inside.txt"}),
    ("remove", {"path": "sub/keep.txt"}),
    ("rename", {"path": "inside.txt", "to": "moved.txt"}),
]


@pytest.mark.parametrize("op,args", READ_TOOL_WRITES, ids=[f"{o}:{a}" for o, a in READ_TOOL_WRITES])
def test_a_read_tool_cannot_change_a_read_write_root(walls, serve, op, args):
    world, plugins = walls
    s = started(serve, plugins)
    before = snapshot(world)
    out = attempt(s, "peek", op=op, root="box", **args)
    assert out["status"] == "BH_E_NOT_ALLOWED", out
    assert "tool 'peek' is declared access = \"read\"" in out["reason"], out
    assert snapshot(world) == before
    assert any("refused" in l and "capability=box" in l for l in s.stderr_text().splitlines())


def test_a_read_tool_still_reads_and_a_write_tool_still_writes(walls, serve):
    world, plugins = walls
    s = started(serve, plugins)
    assert attempt(s, "peek", op="read", root="box", path="inside.txt")["data"] == "inside"
    assert attempt(s, "peek", op="open", root="box", path="inside.txt", flags=O_READ)["status"] == "BH_OK"
    assert attempt(s, "peek", op="stat", root="box", path="inside.txt")["size"] == 6
    assert sorted(attempt(s, "peek", op="list", root="box", path="")["names"]) == ["inside.txt", "sub"]
    assert attempt(s, "peek", op="root", root="box")["status"] == "BH_OK"  # advisory; documented

    assert attempt(s, op="write", root="box", path="inside.txt", data="changed")["status"] == "BH_OK"
    assert (world / "box" / "inside.txt").read_text() == "changed"
    assert attempt(s, op="open", root="box", path="made.txt", flags=O_READ | O_CREATE)["status"] == "BH_OK"
    assert (world / "box" / "made.txt").exists()
    assert attempt(s, op="mkdir", root="box", path="newdir")["status"] == "BH_OK"
    assert attempt(s, op="rename", root="box", path="made.txt", to="newdir/m.txt")["status"] == "BH_OK"
    assert attempt(s, op="remove", root="box", path="newdir/m.txt")["status"] == "BH_OK"
    assert attempt(s, op="remove", root="box", path="newdir")["status"] == "BH_OK"
    # And the read tool, called again after the write tool ran on the same threads, is still refused.
    out = attempt(s, "peek", op="write", root="box", path="inside.txt", data="again")
    assert out["status"] == "BH_E_NOT_ALLOWED", out
    assert (world / "box" / "inside.txt").read_text() == "changed"


# ----------------------------------------------------------------------------- 9. planted hard links


def plant(world: Path) -> None:
    os.link(world / "outside" / "private.txt", world / "box" / "hard.txt")


def test_a_planted_hard_link_is_refused(walls, serve):
    world, plugins = walls
    plant(world)
    s = started(serve, plugins)
    for op, extra in [("read", {}), ("open", {"flags": O_READ}), ("stat", {}),
                      ("write", {"data": "overwritten"}), ("open", {"flags": O_WRITE | O_TRUNCATE}),
                      ("open", {"flags": O_READ | O_TRUNCATE}), ("open", {"flags": O_WRITE | O_APPEND})]:
        out = attempt(s, op=op, root="box", path="hard.txt", **extra)
        assert out["status"] == "BH_E_NOT_ALLOWED", (op, extra, out)
        assert "hard link" in out["reason"], out
        assert "data" not in out
    # Nothing was read, truncated or appended: O_TRUNC would have emptied it before any check.
    assert (world / "outside" / "private.txt").read_text() == "private"
    assert os.stat(world / "box" / "hard.txt").st_nlink == 2
    # Listed (the name is the root's), and removable: removing removes that name only.
    assert "hard.txt" in attempt(s, op="list", root="box", path="")["names"]
    assert attempt(s, op="rename", root="box", path="hard.txt", to="sub/hard2.txt")["status"] == "BH_OK"
    assert attempt(s, op="remove", root="box", path="sub/hard2.txt")["status"] == "BH_OK"
    assert (world / "outside" / "private.txt").read_text() == "private"
    assert os.stat(world / "outside" / "private.txt").st_nlink == 1
    # A file with one link still opens.
    assert attempt(s, op="read", root="box", path="inside.txt")["data"] == "inside"
    log = s.stderr_text()
    assert any("refused" in l and "hard link" in l and "plugin=hostile" in l for l in log.splitlines()), log[-2000:]


def test_allow_hard_links_in_the_grant_lets_them_open(walls, serve, bulkhead_bin):
    from conftest import run_cli

    world, plugins = walls
    plant(world)
    policy = plugins / "hostile" / "policy.toml"
    text = policy.read_text()
    box = text.index("[grants.box]")
    end = text.index("\n\n", box)
    policy.write_text(text[:end] + "\nallow_hard_links = true" + text[end:])
    r = run_cli(bulkhead_bin, "check", str(plugins / "hostile"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "hard links allowed" in r.stdout, r.stdout
    s = started(serve, plugins)
    assert attempt(s, op="read", root="box", path="hard.txt")["data"] == "private"
    st = attempt(s, op="stat", root="box", path="hard.txt")
    assert st["status"] == "BH_OK" and st["size"] == len("private")
    assert attempt(s, op="read", root="box", path="inside.txt")["data"] == "inside"
    # The shelf grant says nothing: its hard links are still refused.
    os.link(world / "outside" / "private.txt", world / "shelf" / "hard.txt")
    out = attempt(s, op="read", root="shelf", path="hard.txt")
    assert out["status"] == "BH_E_NOT_ALLOWED" and "hard link" in out["reason"], out
