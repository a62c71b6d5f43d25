"""The stdio transport and the JSON-RPC/MCP layer, driven line by line."""

from __future__ import annotations

import json
import time

import pytest

from conftest import ALLOW_EVERYONE, all_scopes_config
from rawclient import LEGACY, MODERN, PV_KEY, CAPS_KEY, SERVER_INFO_KEY, modern_meta, tool_text, is_jsonrpc_message

ECHO_TOOLS = {"echo__echo", "echo__caller", "echo__big", "echo__sleep", "echo__fail", "echo__count"}


@pytest.fixture
def srv(plugin_dir, serve):
    return serve(plugin_dir("echo", "bench"))


def start_era(srv, era: str) -> dict | None:
    """Open a connection in one era: the handshake for "legacy"; nothing (but _meta on each request) for "modern"."""
    if era == "legacy":
        srv.initialize()
        return None
    return modern_meta()


def with_meta(params: dict | None, meta: dict | None) -> dict | None:
    if meta is None:
        return params
    return {**(params or {}), "_meta": meta}


def assert_alive(srv, era="legacy"):
    """The server still answers a well-formed request after whatever came before."""
    if era == "legacy":
        r = srv.request("ping", {})
        assert r.get("result") == {}, r
    else:
        r = srv.request("tools/call", {"name": "bench__add", "arguments": {"a": 2, "b": 3}, "_meta": modern_meta()})
        assert "result" in r, r
        assert tool_text(r["result"]) == "5"


# --------------------------------------------------------------------------- handshake era


def test_initialize_ping_list_call(srv):
    init = srv.initialize(LEGACY)
    assert init["protocolVersion"] == LEGACY
    assert isinstance(init["serverInfo"]["name"], str) and init["serverInfo"]["name"]
    assert isinstance(init["serverInfo"]["version"], str)
    assert "tools" in init["capabilities"]
    assert srv.result("ping") == {}
    assert srv.result("ping", {}) == {}
    names = srv.tool_names()
    assert ECHO_TOOLS <= set(names)
    assert "bench__add" in names
    for tool in srv.list_tools():
        assert tool["inputSchema"]["type"] == "object"
    res = srv.call("echo__echo", {"hello": "world", "n": 3})
    assert not res.get("isError")
    assert res["structuredContent"] == {"hello": "world", "n": 3}
    assert json.loads(tool_text(res)) == {"hello": "world", "n": 3}
    res = srv.call("bench__add", {"a": 40, "b": 2})
    assert res["content"] == [{"type": "text", "text": "42"}]
    # notifications/initialized (sent by initialize()) got no answer of any kind
    assert all("id" in json.loads(l) for l in srv.lines), srv.lines


def test_initialize_unknown_version_gets_latest_handshake_version(srv):
    init = srv.initialize("1999-01-01")
    assert init["protocolVersion"] == LEGACY


def test_tool_error_result(srv):
    srv.initialize()
    res = srv.call("echo__fail", {"kind": 2})
    assert res["isError"] is True
    assert res["structuredContent"]["kind"] == "not_found"
    assert isinstance(res["structuredContent"]["message"], str)
    assert any(b["type"] == "text" and b["text"] for b in res["content"])


def test_tools_list_pagination(plugin_dir, serve, tmp_path):
    # Many plugins, so that a paginating server has several pages to give, for a principal who may see them all.
    s = serve(plugin_dir("echo", "serial", "bench", "docs", "tickets", "deployments", "admin"),
              config=all_scopes_config(tmp_path))
    s.initialize()
    pages = 0
    names: list[str] = []
    cursor = None
    while True:
        params = {} if cursor is None else {"cursor": cursor}
        res = s.result("tools/list", params)
        pages += 1
        names += [t["name"] for t in res["tools"]]
        cursor = res.get("nextCursor")
        if cursor is None:
            break
        assert isinstance(cursor, str)
        assert pages < 100
    assert len(names) == len(set(names)), "a tool was listed twice across pages"
    assert names == sorted(names, key=lambda n: tuple(n.split("__", 1)))
    assert ECHO_TOOLS <= set(names)
    assert {"docs__search", "docs__fetch", "tickets__create", "bench__add", "admin__status", "serial__inflight"} <= set(names)


MANY_C = r"""
#include <bulkhead/bulkhead.h>
#include <stdio.h>
#include <string.h>

static char names[%(n)d][8];

static bh_status which(const bh_host_api *host, bh_call call, void *user_data)
{
    const char *name = user_data;
    return host->result_text(call, name, strlen(name));
}

BULKHEAD_PLUGIN_ABI()

bh_status bulkhead_plugin_init(const bh_host_api *host, bh_plugin plugin, bh_plugin_def *def)
{
    def->concurrency = BH_CONCURRENCY_PARALLEL;
    for (int i = 0; i < %(n)d; i++) {
        int len = snprintf(names[i], sizeof names[i], "t%%04d", i);
        bh_status st = host->register_tool(plugin, names[i], (size_t)len, which, names[i]);
        if (st != BH_OK)
            return st;
    }
    return BH_OK;
}
"""


def build_many_tools_plugin(folder, n: int) -> None:
    import shutil
    import subprocess

    from conftest import REPO

    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        pytest.skip("no C compiler")
    folder.mkdir(parents=True)
    (folder / "many.c").write_text(MANY_C % {"n": n})
    manifest = ['name = "many"', 'version = "1.0.0"', 'abi = "1.1"', 'library = "libmany.so"',
                'description = "Generated by the e2e tests: many tools."']
    for i in range(n):
        manifest += ["[[tools]]", f'name = "t{i:04d}"', f'description = "Tool number {i}."',
                     'access = "read"', 'input_schema = { type = "object" }']
    (folder / "manifest.toml").write_text("\n".join(manifest) + "\n")
    (folder / "policy.toml").write_text(ALLOW_EVERYONE)
    subprocess.run([cc, "-std=c11", "-O1", "-shared", "-fPIC", f"-I{REPO / 'include'}",
                    "-o", str(folder / "libmany.so"), str(folder / "many.c")], check=True)


@pytest.mark.parametrize("era", ["legacy", "modern"])
def test_tools_list_pagination_many_tools(plugin_dir, serve, era):
    """1000 tools: whether or not the server pages, following nextCursor yields each exactly once, in order."""
    pd = plugin_dir("echo")
    build_many_tools_plugin(pd.path / "many", 1000)
    s = serve(pd)
    meta = start_era(s, era)
    names, cursor, pages = [], None, 0
    while True:
        res = s.result("tools/list", with_meta({} if cursor is None else {"cursor": cursor}, meta))
        pages += 1
        names += [t["name"] for t in res["tools"]]
        cursor = res.get("nextCursor")
        if cursor is None:
            break
        assert isinstance(cursor, str) and pages < 2000
        if meta:
            assert res["resultType"] == "complete"
    expected = sorted([f"many__t{i:04d}" for i in range(1000)] + list(ECHO_TOOLS),
                      key=lambda n: tuple(n.split("__", 1)))
    assert names == expected
    assert tool_text(s.call("many__t0999", {}, meta=meta)) == "t0999"


@pytest.mark.parametrize("era", ["legacy", "modern"])
def test_tools_list_bogus_cursor(srv, era):
    meta = start_era(srv, era)
    params = {"cursor": "this-is-not-a-cursor"}
    if meta:
        params["_meta"] = meta
    err = srv.error("tools/list", params)
    assert err["code"] == -32602
    assert_alive(srv, era)


# --------------------------------------------------------------------------- JSON-RPC errors


def test_parse_error(srv):
    srv.initialize()
    n = srv.null_count()
    srv.send_raw(b'{"jsonrpc":"2.0","id":1,"method":"ping"\n')  # truncated object
    r = srv.wait_null(n, timeout=10)
    assert r["error"]["code"] == -32700
    assert "id" in r and r["id"] is None
    assert_alive(srv)
    srv.send_raw(b"this is not json at all\n")
    r = srv.wait_null(n + 1, timeout=10)
    assert r["error"]["code"] == -32700
    assert_alive(srv)


@pytest.mark.parametrize(
    "line,reply_id",
    [
        ('{"jsonrpc":"2.0","id":7001}', 7001),  # no method
        ('{"jsonrpc":"2.0","id":7002,"method":42}', 7002),  # method not a string
        ('{"jsonrpc":"1.0","id":7003,"method":"ping"}', 7003),  # wrong version
        ('{"id":7004,"method":"ping"}', 7004),  # no jsonrpc member
        ('{"jsonrpc":"2.0","id":{"x":1},"method":"ping"}', None),  # id neither string nor number
        ("42", None),  # not an object
        ('"ping"', None),
    ],
)
def test_invalid_request(srv, line, reply_id):
    srv.initialize()
    n = srv.null_count()
    srv.send_raw(line + "\n")
    if reply_id is None:
        # The id is unusable, so the answer's id is null.
        r = srv.wait_null(n, timeout=10)
    else:
        r = srv.wait(reply_id, timeout=10)
    assert r["error"]["code"] == -32600, r
    assert_alive(srv)


@pytest.mark.parametrize("era", ["legacy", "modern"])
def test_unknown_method(srv, era):
    meta = start_era(srv, era)
    err = srv.error("no/such/method", with_meta({}, meta))
    assert err["code"] == -32601
    assert_alive(srv, era)


def test_unknown_notification_is_ignored(srv):
    srv.initialize()
    srv.notify("notifications/no_such_thing", {"x": 1})
    assert_alive(srv)
    assert len(srv.responses) == 2  # initialize and the ping, nothing for the notification


@pytest.mark.parametrize(
    "params",
    [
        {"name": "echo__no_such_tool", "arguments": {}},
        {"name": "no_such_plugin__echo", "arguments": {}},
        {"name": "echo", "arguments": {}},
        {"arguments": {}},  # no name
        {"name": 17, "arguments": {}},  # name not a string
        {"name": "echo__echo", "arguments": [1, 2]},  # arguments not an object
        {"name": "echo__echo", "arguments": "x"},
        {"name": "echo__echo", "arguments": 5},
    ],
)
@pytest.mark.parametrize("era", ["legacy", "modern"])
def test_tools_call_invalid_params(srv, params, era):
    meta = start_era(srv, era)
    err = srv.error("tools/call", with_meta(params, meta))
    assert err["code"] == -32602, err
    assert_alive(srv, era)


def test_tools_call_without_params(srv):
    srv.initialize()
    err = srv.error("tools/call")
    assert err["code"] == -32602
    assert_alive(srv)


def test_error_then_many_good(srv):
    """A burst of garbage interleaved with good requests: every good one is answered."""
    srv.initialize()
    ids = []
    n = srv.null_count()
    for i in range(50):
        srv.send_raw(b"{garbage\n")
        srv.send_raw(b'{"jsonrpc":"2.0","id":"x%d"}\n' % i)
        ids.append(srv.send_request("tools/call", {"name": "bench__add", "arguments": {"a": i, "b": 1}}))
    for i, rid in enumerate(ids):
        assert tool_text(srv.wait(rid)["result"]) == str(i + 1)
        assert srv.wait(f"x{i}")["error"]["code"] == -32600
    srv.wait_null(n + 49)
    assert [r["error"]["code"] for r in srv.null_responses[n:]] == [-32700] * 50


# --------------------------------------------------------------------------- stateless era


def test_discover(srv):
    res = srv.result("server/discover", {"_meta": modern_meta()})
    assert res["resultType"] == "complete"
    assert MODERN in res["supportedVersions"]
    assert "tools" in res["capabilities"]
    assert isinstance(res["ttlMs"], int) and res["ttlMs"] >= 0
    assert res["cacheScope"] in ("public", "private")
    info = res["_meta"][SERVER_INFO_KEY]
    assert isinstance(info["name"], str) and isinstance(info["version"], str)


def test_stateless_list_and_call_without_handshake(srv):
    meta = modern_meta()
    res = srv.result("tools/list", {"_meta": meta})
    assert res["resultType"] == "complete"
    assert isinstance(res["ttlMs"], int) and res["ttlMs"] >= 0
    assert res["cacheScope"] in ("public", "private")
    names = srv.tool_names(meta=meta)
    assert ECHO_TOOLS <= set(names) and "bench__add" in names
    res = srv.call("bench__add", {"a": 1, "b": 2}, meta=meta)
    assert res["resultType"] == "complete"
    assert tool_text(res) == "3"
    res = srv.call("echo__fail", {"kind": 1}, meta=meta)
    assert res["resultType"] == "complete"
    assert res["isError"] is True and res["structuredContent"]["kind"] == "invalid_argument"


@pytest.mark.parametrize("method", ["server/discover", "tools/list", "tools/call"])
def test_stateless_missing_client_capabilities(srv, method):
    meta = modern_meta()
    del meta[CAPS_KEY]
    params = {"_meta": meta}
    if method == "tools/call":
        params.update(name="bench__add", arguments={"a": 1, "b": 1})
    err = srv.error(method, params)
    assert err["code"] == -32602, err
    assert_alive(srv, "modern")


@pytest.mark.parametrize("method", ["server/discover", "tools/list", "tools/call"])
def test_stateless_unsupported_version(srv, method):
    params = {"_meta": modern_meta(version="2099-01-01")}
    if method == "tools/call":
        params.update(name="bench__add", arguments={"a": 1, "b": 1})
    err = srv.error(method, params)
    assert err["code"] == -32022, err
    supported = err["data"]["supported"]
    assert MODERN in supported and LEGACY in supported
    assert_alive(srv, "modern")


def test_stateless_requests_do_not_need_earlier_ones(srv):
    """No handshake, no discover first: a bare tools/call with _meta works as the first message."""
    res = srv.call("echo__echo", {"k": "v"}, meta=modern_meta())
    assert res["structuredContent"] == {"k": "v"}


# --------------------------------------------------------------------------- stdout hygiene and EOF


def test_stdout_carries_only_jsonrpc(plugin_dir, serve):
    # docs logs at init; a noisy mix of good and bad input; then EOF.
    s = serve(plugin_dir("echo", "bench", "docs", "wrong_abi", "init_fails"))
    s.initialize()
    s.call("echo__fail", {"kind": 8})
    s.call("echo__big", {"bytes": 100_000})
    s.send_raw(b"nope\n")
    s.error("no/such", {})
    s.call("docs__search", {"query": "deploy"})
    assert s.shutdown() == 0
    assert s.lines, "no output at all"
    for line in s.lines:
        msg = json.loads(line)  # every line is one JSON value ...
        assert is_jsonrpc_message(msg), line[:200]  # ... and one JSON-RPC message
        assert b"\n" not in line
    assert not s.garbage


def test_eof_exits_zero_promptly(srv):
    srv.initialize()
    t0 = time.monotonic()
    assert srv.shutdown(timeout=10) == 0
    assert time.monotonic() - t0 < 3.0


def test_eof_without_any_request(srv):
    assert srv.shutdown(timeout=10) == 0
    assert srv.lines == []


def test_eof_finishes_in_flight_call(srv):
    srv.initialize()
    rid = srv.send_request("tools/call", {"name": "echo__sleep", "arguments": {"ms": 800}})
    t0 = time.monotonic()
    srv.close_stdin()
    rc = srv.wait_exit(timeout=10)
    assert rc == 0
    assert srv.has_response(rid), "the in-flight call was dropped at EOF"
    res = srv.responses[srv._key(rid)]["result"]
    assert not res.get("isError"), res
    assert time.monotonic() - t0 >= 0.7  # it did wait for the call
    assert time.monotonic() - t0 < 6.0


def test_eof_finishes_in_flight_stateless_call(srv):
    rid = srv.send_request(
        "tools/call", {"name": "echo__sleep", "arguments": {"ms": 500}, "_meta": modern_meta()}
    )
    srv.close_stdin()
    assert srv.wait_exit(timeout=10) == 0
    assert srv.has_response(rid)
    assert srv.responses[srv._key(rid)]["result"]["resultType"] == "complete"


def test_partial_last_line_at_eof(srv):
    """A final request without its newline: answered or ignored, but the exit is clean."""
    srv.initialize()
    srv.send_raw(b'{"jsonrpc":"2.0","id":"last","method":"ping"}')
    srv.close_stdin()
    assert srv.wait_exit(timeout=10) == 0
    assert not srv.garbage


def test_string_and_large_ids_roundtrip(srv):
    srv.initialize()
    for rid in ["abc", "", "ünïcödé", 0, -1, 2**53 - 1, "1"]:
        r = srv.request("ping", {}, id=rid)
        assert r["id"] == rid and type(r["id"]) is type(rid)


def test_unicode_arguments_roundtrip(srv):
    srv.initialize()
    args = {"s": "naïve — 日本語 — emoji 🎉 — \u2028 line sep", "nl": "a\nb\r\nc", "q": '"quoted"\\'}
    res = srv.call("echo__echo", args)
    assert res["structuredContent"] == args


def test_crlf_and_blank_lines(srv):
    """JSON allows \\r as whitespace; blank lines carry no message. Neither stops the server."""
    srv.initialize()
    srv.send_raw(b'{"jsonrpc":"2.0","id":"crlf","method":"ping"}\r\n')
    assert srv.wait("crlf")["result"] == {}
    srv.send_raw(b"\n\n   \n")
    assert_alive(srv)


def test_arguments_may_be_omitted(srv):
    srv.initialize()
    res = srv.result("tools/call", {"name": "echo__echo"})
    assert res["structuredContent"] == {}


NOISY_C = r"""
#include <bulkhead/bulkhead.h>
#include <stdio.h>
#include <unistd.h>

static bh_status noisy(const bh_host_api *host, bh_call call, void *user_data)
{
    (void)user_data;
    printf("debug output from a plugin\n");   /* what a C author does while debugging */
    fflush(stdout);
    if (write(1, "raw write to fd 1\n", 18) < 0) { /* ignored */ }
    return host->result_text(call, "done", 4);
}

BULKHEAD_PLUGIN_ABI()

bh_status bulkhead_plugin_init(const bh_host_api *host, bh_plugin plugin, bh_plugin_def *def)
{
    def->concurrency = BH_CONCURRENCY_SERIAL;
    puts("hello from init");
    fflush(stdout);
    return host->register_tool(plugin, "say", 3, noisy, NULL);
}
"""


def test_plugin_writing_to_stdout_does_not_corrupt_the_protocol(plugin_dir, serve):
    """stdout carries only MCP: what a plugin prints must not end up between the messages."""
    import shutil
    import subprocess

    from conftest import REPO

    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        pytest.skip("no C compiler")
    pd = plugin_dir("echo")
    folder = pd.path / "noisy"
    folder.mkdir()
    (folder / "noisy.c").write_text(NOISY_C)
    (folder / "manifest.toml").write_text(
        'name = "noisy"\nversion = "1.0.0"\nabi = "1.1"\nlibrary = "libnoisy.so"\ndescription = "Prints to stdout."\n'
        '[[tools]]\nname = "say"\ndescription = "Prints to stdout."\naccess = "read"\n'
        'input_schema = { type = "object" }\n'
    )
    (folder / "policy.toml").write_text(ALLOW_EVERYONE)
    subprocess.run([cc, "-std=c11", "-shared", "-fPIC", f"-I{REPO / 'include'}",
                    "-o", str(folder / "libnoisy.so"), str(folder / "noisy.c")], check=True)
    s = serve(pd)
    s.initialize()
    assert tool_text(s.call("noisy__say", {})) == "done"
    assert_alive(s)
    assert s.shutdown() == 0
    leaked = list(s.garbage)
    s.garbage.clear()  # reported here; keep the fixture's teardown check from repeating it
    assert not leaked, f"plugin output leaked onto the protocol stream: {leaked}"


@pytest.mark.parametrize(
    "line,code",
    [
        (b'{"jsonrpc":"2.0","id":"d","method":"tools/call","params":{"name":"echo__echo","arguments":{"x":'
         + b"[" * 200_000 + b"]" * 200_000 + b"}}}", -32700),  # nesting deep enough to blow a recursive parser
        (b"[" * 1_000_000, -32700),
        (b'{"jsonrpc":"2.0","id":"u","method":"ping","params":{"x":"\xff\xfe"}}', -32700),  # invalid UTF-8
        (b'{"jsonrpc":"2.0","id":"n","method":"ping","params":{"x":NaN}}', -32700),
        (b'{"jsonrpc":"2.0","id":"l","method":"ping","params":{"x":"\\ud800"}}', -32700),  # lone surrogate
        (b'{"jsonrpc":"2.0","id":"c","method":"ping","params":{"x":"a\x01b"}}', -32700),  # raw control char
        (b'{"jsonrpc":"2.0","id":"t","method":"ping"} trailing', -32700),
        (b'[{"jsonrpc":"2.0","id":"b","method":"ping"}]', -32600),  # batches are not part of MCP
        (b'{"jsonrpc":"2.0","id":null,"method":"ping"}', -32600),  # MCP ids are strings or integers
        (b'{"jsonrpc":"2.0","id":1.5,"method":"ping"}', -32600),
    ],
    ids=["deep-args", "deep-array", "bad-utf8", "nan", "lone-surrogate", "control-char", "trailing-data",
         "batch", "null-id", "float-id"],
)
def test_malformed_input_is_answered_and_survived(srv, line, code):
    srv.initialize()
    n = srv.null_count()
    srv.send_raw(line + b"\n")
    r = srv.wait_null(n, timeout=10)
    assert r["error"]["code"] == code, r
    assert_alive(srv)
    assert srv.proc.poll() is None


def test_surrogate_pairs_and_escaped_nul_roundtrip(srv):
    srv.initialize()
    srv.send_raw(b'{"jsonrpc":"2.0","id":"sp","method":"tools/call","params":{"name":"echo__echo",'
                 b'"arguments":{"e":"\\ud83d\\ude00","z":"a\\u0000b"}}}\n')
    res = srv.wait("sp")["result"]
    assert res["structuredContent"] == {"e": "\U0001F600", "z": "a\x00b"}


def test_eof_finishes_every_in_flight_call(plugin_dir, serve):
    s = serve(plugin_dir("echo", "serial"))
    s.initialize()
    ids = [s.send_request("tools/call", {"name": "echo__sleep", "arguments": {"ms": 400}}) for _ in range(20)]
    ids += [s.send_request("tools/call", {"name": "serial__sleep", "arguments": {"ms": 100}}) for _ in range(3)]
    ids += [s.send_request("tools/call", {"name": "echo__big", "arguments": {"bytes": 2_000_000}})]
    s.close_stdin()
    assert s.wait_exit(timeout=20) == 0
    missing = [i for i in ids if not s.has_response(i)]
    assert not missing, f"{len(missing)} in-flight calls were dropped at EOF"
    assert all(not s.responses[s._key(i)]["result"].get("isError") for i in ids)
    assert len(tool_text(s.responses[s._key(ids[-1])]["result"])) == 2_000_000
