"""Capability tokens, end to end: the hostile fixture plugin tries, through
its host table, everything a plugin must not reach, and the files on disk,
the HTTP servers' request logs and the server's stderr show that each
attempt was refused, logged, and changed nothing; and each grant, when
given, works.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import threading
from pathlib import Path

import pytest

from conftest import run_cli, source_folder
from rawclient import error_kind

SECRET = "s3cr3t-value-9f2c"


class Recorder(http.server.BaseHTTPRequestHandler):
    """Answers every request with its method and path; remembers what it saw."""

    seen: list[tuple[str, str, dict]]

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        self.server.seen.append((self.command, self.path, dict(self.headers), body))  # type: ignore[attr-defined]
        if self.path.startswith("/big"):
            payload = b"y" * (64 * 1024)
        else:
            payload = f"{self.command} {self.path} {body}".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = _answer

    def log_message(self, *args):  # keep pytest's output clean
        pass


def http_server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    srv.seen = []  # type: ignore[attr-defined]
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


@pytest.fixture
def web():
    granted, other = http_server(), http_server()
    yield granted, other
    granted.shutdown()
    other.shutdown()


def snapshot(root: Path) -> dict[str, bytes | str]:
    """Every path under root with its content (files) or link target (links)."""
    out: dict[str, bytes | str] = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        if p.is_symlink():
            out[rel] = "-> " + os.readlink(p)
        elif p.is_file():
            out[rel] = p.read_bytes()
        else:
            out[rel] = "dir"
    return out


def write_hostile(folder: Path, name: str, world: Path, port: int, extra: str = "", rename: str | None = None) -> None:
    folder.mkdir(parents=True)
    src = source_folder(name)
    for f in src.iterdir():
        if f.suffix == ".so":
            os.symlink(f, folder / f.name)
    manifest = (src / "manifest.toml").read_text()
    if rename:
        manifest = manifest.replace(f'name = "{name}"', f'name = "{rename}"', 1)
    (folder / "manifest.toml").write_text(manifest)
    (folder / "policy.toml").write_text(
        f"""
[grants.box]
path = "{world / 'box'}"
access = "read-write"

[grants.shelf]
path = "{world / 'shelf'}"
access = "read"          # narrower than the manifest's read-write request

[grants.granted]
file = "{world / 'secret.txt'}"

[grants.web]
origins = ["http://127.0.0.1:{port}"]
max_response_bytes = 4096
timeout_ms = 5000

[[allow]]
tools = ["try"]
principals = ["*"]

[[preapprove]]   # try is declared a write; these tests are about capabilities, not consent
tools = ["try"]
principals = ["*"]
{extra}
"""
    )


@pytest.fixture
def world(tmp_path, web):
    """A sandbox on disk: box (read-write root), shelf (read-only root), outside (no root)."""
    w = tmp_path / "world"
    (w / "box" / "sub").mkdir(parents=True)
    (w / "shelf").mkdir()
    (w / "outside").mkdir()
    (w / "box" / "inside.txt").write_text("inside")
    (w / "shelf" / "book.txt").write_text("a book")
    (w / "outside" / "private.txt").write_text("private")
    (w / "box" / "link_out").symlink_to(w / "outside" / "private.txt")
    (w / "box" / "rel_out").symlink_to("../outside/private.txt")
    (w / "box" / "link_in").symlink_to("inside.txt")
    (w / "box" / "dir_out").symlink_to(w / "outside", target_is_directory=True)
    (w / "secret.txt").write_text(SECRET + "\n")
    return w


@pytest.fixture
def hostile(tmp_path, world, web, serve):
    granted, _ = web
    plugins = tmp_path / "plugins"
    write_hostile(plugins / "hostile", "hostile", world, granted.server_address[1])
    write_hostile(plugins / "peer", "peer", world, granted.server_address[1])
    # The same library under a third name, told to fail its init after taking its tokens.
    write_hostile(plugins / "zdead", "peer", world, granted.server_address[1],
                  extra='[config]\nfail_init = "yes"\n', rename="dead")
    s = serve(plugins)
    s.initialize()
    return s


def attempt(s, **args) -> dict:
    res = s.call("hostile__try", args)
    assert not res.get("isError"), res
    return res["structuredContent"]


def peer_attempt(s, **args) -> dict:
    res = s.call("peer__try", args)
    assert not res.get("isError"), res
    return res["structuredContent"]


# ----------------------------------------------------------------------------- refusals

ESCAPES = [
    ("read", {"path": "../outside/private.txt"}),
    ("read", {"path": "sub/../../outside/private.txt"}),
    ("read", {"path": "ABS/outside/private.txt"}),
    ("read", {"path": "/etc/passwd"}),
    ("read", {"path": "link_out"}),
    ("read", {"path": "rel_out"}),
    ("read", {"path": "dir_out/private.txt"}),
    ("stat", {"path": "../outside/private.txt"}),
    ("list", {"path": ".."}),
    ("list", {"path": "dir_out"}),
    ("write", {"path": "../outside/new.txt", "data": "x"}),
    ("write", {"path": "dir_out/new.txt", "data": "x"}),
    ("write", {"path": "link_out", "data": "overwritten"}),
    ("mkdir", {"path": "../outside/newdir"}),
    ("remove", {"path": "../outside/private.txt"}),
    ("remove", {"path": "dir_out/private.txt"}),
    ("rename", {"path": "inside.txt", "to": "../outside/stolen.txt"}),
    ("rename", {"path": "../outside/private.txt", "to": "taken.txt"}),
]


@pytest.mark.parametrize("op,args", ESCAPES, ids=[f"{o}:{a['path']}" for o, a in ESCAPES])
def test_escapes_from_a_root_are_refused_and_change_nothing(hostile, world, op, args):
    before = snapshot(world)
    args = {k: v.replace("ABS", str(world)) for k, v in args.items()}
    out = attempt(hostile, op=op, root="box", **args)
    assert out["status"] == "BH_E_NOT_ALLOWED", out
    assert out["reason"], "last_error gives the reason"
    assert snapshot(world) == before
    log = hostile.stderr_text()
    assert re.search(r"refused: .*plugin=hostile", log) or ("plugin=hostile" in log and "refused" in log), log[-2000:]


@pytest.mark.parametrize(
    "op,args",
    [
        ("write", {"path": "book.txt", "data": "scribbled"}),
        ("write", {"path": "new.txt", "data": "x"}),
        ("mkdir", {"path": "new"}),
        ("remove", {"path": "book.txt"}),
        ("rename", {"path": "book.txt", "to": "moved.txt"}),
    ],
)
def test_a_read_only_root_refuses_every_change(hostile, world, op, args):
    before = snapshot(world)
    out = attempt(hostile, op=op, root="shelf", **args)
    assert out["status"] == "BH_E_NOT_ALLOWED", out
    assert "read-only" in out["reason"]
    assert snapshot(world) == before


def test_refusals_are_logged_with_plugin_capability_and_target(hostile):
    attempt(hostile, op="read", root="box", path="../outside/private.txt")
    line = next(l for l in hostile.stderr_text().splitlines() if "../outside/private.txt" in l and "refused" in l)
    assert "plugin=hostile" in line and "capability=box" in line and "target=" in line, line


def test_an_ungranted_secret_has_no_token(hostile):
    out = attempt(hostile, op="cap", name="withheld")
    assert out["status"] == "BH_E_NOT_ALLOWED"
    assert out["token"] == "0"
    assert "did not grant" in out["reason"]
    out = attempt(hostile, op="secret", name="withheld")
    assert out["status"] == "BH_E_NOT_ALLOWED", out


def test_a_capability_the_manifest_does_not_request_does_not_exist(hostile):
    out = attempt(hostile, op="cap", name="anything")
    assert out["status"] == "BH_E_NOT_FOUND"


def test_another_plugins_token_is_refused(hostile, world):
    theirs = peer_attempt(hostile, op="cap", name="box")
    assert theirs["status"] == "BH_OK"
    mine = attempt(hostile, op="cap", name="box")
    assert mine["token"] != theirs["token"], "each plugin's tokens are its own"
    out = attempt(hostile, op="foreign", token=theirs["token"], path="inside.txt")
    assert out["status"] == "BH_E_NOT_ALLOWED", out
    assert "issued to plugin 'peer'" in out["reason"]
    assert "issued to plugin 'peer'" in hostile.stderr_text()


def test_forged_tokens_are_refused(hostile):
    for forged in ["1", "deadbeef", "ffffffffffffffff", "0"]:
        out = attempt(hostile, op="foreign", token=forged, path="inside.txt")
        assert out["status"] == "BH_E_NOT_ALLOWED", (forged, out)
        assert "forged" in out["reason"]


def test_the_token_of_a_plugin_that_did_not_load_is_dead(hostile):
    log = hostile.stderr_text()
    assert re.search(r"refused plugin 'zdead'", log), log[-3000:]
    # zdead logged its box token during the init that then failed.
    tokens = re.findall(r"capability box: BH_OK token ([0-9a-f]+)", log)
    live = {attempt(hostile, op="cap", name="box")["token"], peer_attempt(hostile, op="cap", name="box")["token"]}
    dead = [t for t in tokens if t not in live]
    assert dead, f"zdead's token was not logged: {tokens} {live}"
    out = attempt(hostile, op="foreign", token=dead[0], path="inside.txt")
    assert out["status"] == "BH_E_NOT_ALLOWED"
    assert "no longer loaded" in out["reason"]


def test_a_call_handle_is_dead_once_its_call_returned(hostile):
    assert attempt(hostile, op="keep_call")["status"] == "BH_OK"
    out = attempt(hostile, op="old_call")
    assert out["status"] == "BH_E_STALE"
    assert "not live" in hostile.stderr_text()


def test_http_to_an_origin_not_granted_never_connects(hostile, web):
    granted, other = web
    for url in [
        f"http://127.0.0.1:{other.server_address[1]}/x",
        f"http://localhost:{granted.server_address[1]}/x",  # same server, another origin
        f"https://127.0.0.1:{granted.server_address[1]}/x",
        f"http://127.0.0.1:{granted.server_address[1]}@127.0.0.1:{other.server_address[1]}/x",
    ]:
        out = attempt(hostile, op="http", url=url)
        assert out["status"] == "BH_E_NOT_ALLOWED", (url, out)
    assert other.seen == []
    assert granted.seen == []
    line = next(l for l in hostile.stderr_text().splitlines() if "capability=web" in l)
    assert "refused" in line


def test_http_urls_that_are_not_http_are_invalid(hostile, web):
    for url in ["file:///etc/passwd", "gopher://127.0.0.1/", "not a url", ""]:
        out = attempt(hostile, op="http", url=url)
        assert out["status"] in ("BH_E_INVALID", "BH_E_NOT_ALLOWED"), (url, out)
    assert web[0].seen == [] and web[1].seen == []


def test_redirects_are_not_followed(tmp_path, world, serve):
    class Redirect(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(302)
            self.send_header("Location", "http://127.0.0.1:1/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        plugins = tmp_path / "p"
        write_hostile(plugins / "hostile", "hostile", world, srv.server_address[1])
        s = serve(plugins)
        s.initialize()
        out = attempt(s, op="http", url=f"http://127.0.0.1:{srv.server_address[1]}/r")
        assert out["status"] == "BH_OK" and out["http_status"] == 302
    finally:
        srv.shutdown()


def test_secrets_never_reach_logs_or_error_messages(hostile):
    assert hostile.call("hostile__try", {"op": "log_secret"})["content"][0]["text"] == "logged"
    err = hostile.call("hostile__try", {"op": "error_secret"})
    assert err["isError"]
    assert SECRET not in json.dumps(err)
    assert "[redacted]" in err["structuredContent"]["message"]
    hostile.shutdown()
    log = hostile.stderr_text()
    assert SECRET not in log
    assert "the secret is [redacted]" in log


# ----------------------------------------------------------------------------- grants that work


def test_reads_and_writes_inside_the_roots(hostile, world):
    assert attempt(hostile, op="read", root="box", path="inside.txt")["data"] == "inside"
    assert attempt(hostile, op="read", root="box", path="link_in")["data"] == "inside"  # a link that stays inside
    assert attempt(hostile, op="read", root="box", path="sub/../inside.txt")["data"] == "inside"
    assert attempt(hostile, op="read", root="shelf", path="book.txt")["data"] == "a book"

    assert attempt(hostile, op="write", root="box", path="sub/new.txt", data="hello")["status"] == "BH_OK"
    assert (world / "box" / "sub" / "new.txt").read_text() == "hello"
    st = attempt(hostile, op="stat", root="box", path="sub/new.txt")
    assert st["status"] == "BH_OK" and st["size"] == 5 and st["type"] == 1 and st["mtime_ns"] > 0
    assert attempt(hostile, op="stat", root="box", path="sub")["type"] == 2

    assert attempt(hostile, op="mkdir", root="box", path="made")["status"] == "BH_OK"
    assert (world / "box" / "made").is_dir()
    assert attempt(hostile, op="mkdir", root="box", path="made")["status"] == "BH_E_EXISTS"
    assert attempt(hostile, op="rename", root="box", path="sub/new.txt", to="made/moved.txt")["status"] == "BH_OK"
    assert (world / "box" / "made" / "moved.txt").read_text() == "hello"
    assert sorted(attempt(hostile, op="list", root="box", path="made")["names"]) == ["moved.txt"]
    assert attempt(hostile, op="remove", root="box", path="made")["status"] == "BH_E_INVALID"  # not empty
    assert attempt(hostile, op="remove", root="box", path="made/moved.txt")["status"] == "BH_OK"
    assert attempt(hostile, op="remove", root="box", path="made")["status"] == "BH_OK"
    assert not (world / "box" / "made").exists()
    # Removing a link removes the link, never what it points to.
    assert attempt(hostile, op="remove", root="box", path="link_out")["status"] == "BH_OK"
    assert (world / "outside" / "private.txt").read_text() == "private"

    listed = attempt(hostile, op="list", root="shelf", path="")
    assert listed["status"] == "BH_OK" and listed["names"] == ["book.txt"]
    assert attempt(hostile, op="read", root="box", path="nope.txt")["status"] == "BH_E_NOT_FOUND"
    assert attempt(hostile, op="read", root="box", path="sub")["status"] == "BH_E_INVALID"  # directories are not files
    assert attempt(hostile, op="root", root="shelf")["data"] == str((world / "shelf").resolve())


def test_a_granted_secret_is_read(hostile):
    out = attempt(hostile, op="secret", name="granted")
    assert out["status"] == "BH_OK"
    # The plugin read exactly the secret (the file's trailing newline is not part
    # of it): the core redacts exact occurrences, so this is all the client sees.
    assert out["data"] == "[redacted]" and SECRET not in json.dumps(out)


def test_a_secret_from_the_environment(tmp_path, world, web, serve, monkeypatch):
    monkeypatch.setenv("HOSTILE_TEST_SECRET", "from-the-env")
    plugins = tmp_path / "p"
    write_hostile(plugins / "hostile", "hostile", world, web[0].server_address[1])
    policy = plugins / "hostile" / "policy.toml"
    policy.write_text(re.sub(r'file = ".*"', 'env = "HOSTILE_TEST_SECRET"', policy.read_text()))
    s = serve(plugins)
    s.initialize()
    assert attempt(s, op="secret", name="granted")["data"] == "[redacted]"  # exactly the value, redacted


def test_http_to_the_granted_origin(hostile, web):
    granted, _ = web
    port = granted.server_address[1]
    out = attempt(hostile, op="http", url=f"http://127.0.0.1:{port}/status?q=1")
    assert out["status"] == "BH_OK" and out["http_status"] == 200
    assert out["data"] == "GET /status?q=1 "
    out = attempt(hostile, op="http", url=f"http://127.0.0.1:{port}/items", method="POST", body='{"a":1}')
    assert out["data"] == 'POST /items {"a":1}'
    method, path, headers, _ = granted.seen[-1]
    assert headers.get("X-Fixture") == "hostile"
    # Over the grant's 4096-byte cap.
    out = attempt(hostile, op="http", url=f"http://127.0.0.1:{port}/big")
    assert out["status"] == "BH_E_TOO_LARGE", out


def test_http_to_a_closed_port_is_an_io_error(tmp_path, world, serve):
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nobody listens there now
    plugins = tmp_path / "p"
    write_hostile(plugins / "hostile", "hostile", world, port)
    s = serve(plugins)
    s.initialize()
    out = attempt(s, op="http", url=f"http://127.0.0.1:{port}/")
    assert out["status"] == "BH_E_IO", out


# ----------------------------------------------------------------------------- bulkhead check


def test_check_shows_requested_granted_and_effective(bulkhead_bin, tmp_path, world, web):
    folder = tmp_path / "hostile"
    write_hostile(folder, "hostile", world, web[0].server_address[1])
    r = run_cli(bulkhead_bin, "check", str(folder))
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    shelf = lines[lines.index(next(l for l in lines if l.startswith("capability:  shelf"))) + 1]
    assert "requested: read-write" in shelf and "granted: read " in shelf and "effective: read " in shelf, shelf
    withheld = lines[lines.index(next(l for l in lines if l.startswith("capability:  withheld"))) + 1]
    assert "granted: no" in withheld and "effective: none" in withheld, withheld
    web_line = lines[lines.index(next(l for l in lines if l.startswith("capability:  web"))) + 1]
    assert f"http://127.0.0.1:{web[0].server_address[1]}" in web_line


def test_check_refuses_a_required_capability_not_granted(bulkhead_bin, tmp_path, world, web):
    folder = tmp_path / "hostile"
    write_hostile(folder, "hostile", world, web[0].server_address[1])
    manifest = (source_folder("hostile") / "manifest.toml").read_text()
    (folder / "manifest.toml").write_text(
        manifest.replace('name = "withheld"\nkind = "secret"', 'name = "withheld"\nkind = "secret"\nrequired = true')
    )
    r = run_cli(bulkhead_bin, "check", str(folder))
    assert r.returncode == 1
    assert "problem: capability 'withheld' (secret) is required but not granted" in r.stdout, r.stdout


def test_check_refuses_a_grant_for_what_was_not_requested(bulkhead_bin, tmp_path, world, web):
    folder = tmp_path / "hostile"
    write_hostile(folder, "hostile", world, web[0].server_address[1], extra='[grants.everything]\npath = "/"\n')
    r = run_cli(bulkhead_bin, "check", str(folder))
    assert r.returncode == 1
    assert "grants.everything names a capability the manifest does not request" in r.stdout, r.stdout


def test_a_plugin_refused_for_its_grants_does_not_stop_the_others(tmp_path, world, web, serve):
    plugins = tmp_path / "p"
    write_hostile(plugins / "hostile", "hostile", world, web[0].server_address[1])
    write_hostile(plugins / "peer", "peer", world, web[0].server_address[1], extra='[grants.nonsense]\npath = "x"\n')
    s = serve(plugins)
    s.initialize()
    assert s.tool_names() == ["hostile__try"]
    assert "refused plugin 'peer'" in s.stderr_text()
    assert attempt(s, op="read", root="box", path="inside.txt")["data"] == "inside"
