"""Issue 8, items 1–3: a fresh machine builds, names every client accepts, names that match exactly.

Served tool names must pass ^[a-zA-Z0-9_-]{1,64}$ (Claude Desktop, Copilot and
OpenAI-style APIs refuse anything else), stay collision-free, and be compared
code point by code point: a spelling Unicode calls canonically equivalent is a
different name, and JSON object keys that differ only by normalization stay apart.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time

import pytest

from conftest import CONFIG, EXAMPLE_PLUGINS, REPO, run_cli
from rawclient import modern_meta

STRICT = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")

KELVIN = "\u212a"  # KELVIN SIGN: canonically equivalent to "K"


def structured(response: dict) -> dict:
    return response["result"].get("structuredContent") or {}


def call_error(s, name: str, arguments: dict, meta: dict | None) -> dict:
    params = {"name": name, "arguments": arguments}
    if meta is not None:
        params["_meta"] = meta
    resp = s.request("tools/call", params)
    assert "error" in resp, resp
    return resp["error"]


# --- served names --------------------------------------------------------------------------


@pytest.mark.parametrize("principal", ["alice", "bob", "ops", "triage-bot"])
def test_every_served_name_of_every_example_passes_the_strict_pattern(plugin_dir, serve, principal):
    s = serve(plugin_dir(*EXAMPLE_PLUGINS), principal=principal)
    s.initialize()
    names = s.tool_names()
    assert names, "this principal sees no tools"
    for n in names:
        assert STRICT.match(n), n
        plugin, sep, tool = n.partition("__")
        assert sep and plugin in EXAMPLE_PLUGINS and tool, n


def test_every_principal_together_sees_every_example_tool(plugin_dir, serve):
    seen: set[str] = set()
    for principal in ["alice", "bob", "ops", "triage-bot"]:
        s = serve(plugin_dir(*EXAMPLE_PLUGINS), principal=principal)
        seen |= set(s.tool_names(meta=modern_meta()))
    assert {"docs__search", "docs__fetch", "tickets__create", "deployments__status", "admin__status",
            "bench__add"} <= seen


def test_dotted_names_on_request(plugin_dir, serve, tmp_path):
    s = serve(plugin_dir("bench"), extra=["--tool-names", "dotted"])
    assert s.tool_names(meta=modern_meta()) == ["bench.add"]
    r = s.call("bench.add", {"a": 2, "b": 3}, meta=modern_meta())
    assert r["content"][0]["text"] == "5"
    # The other style's spelling is not a tool.
    assert call_error(s, "bench__add", {"a": 2, "b": 3}, modern_meta())["code"] == -32602

    config = tmp_path / "dotted.toml"
    config.write_text('tool_names = "dotted"\n' + CONFIG.read_text())
    s2 = serve(plugin_dir("bench"), config=config)
    assert s2.tool_names(meta=modern_meta()) == ["bench.add"]


def test_unknown_naming_style_is_refused(bulkhead_bin, tmp_path):
    r = run_cli(bulkhead_bin, "serve", "--plugins", str(REPO / "plugins"), "--tool-names", "slashes")
    assert r.returncode != 0
    assert "--tool-names" in r.stderr
    config = tmp_path / "bad.toml"
    config.write_text('tool_names = "camel"\n' + CONFIG.read_text())
    r = run_cli(bulkhead_bin, "serve", "--plugins", str(REPO / "plugins"), "--config", str(config))
    assert r.returncode != 0 and "tool_names" in r.stderr


def copy_bench_as(pd, name: str):
    """The bench plugin under another manifest name (its library registers `add` whatever the name)."""
    folder = pd.path / name.replace("_", "-")[:40]
    shutil.copytree(REPO / "plugins" / "bench", folder)
    manifest = folder / "manifest.toml"
    manifest.write_text(manifest.read_text().replace('name = "bench"', f'name = "{name}"', 1))
    return folder


def refusal_lines(stderr: str) -> list[str]:
    return [l for l in stderr.splitlines() if "refused plugin" in l]


def test_a_plugin_whose_served_name_would_pass_64_characters_is_refused(plugin_dir, serve):
    pd = plugin_dir("echo")
    long_name = "a" * 60  # served as a{60}__add: 65 characters
    copy_bench_as(pd, long_name)
    ok_name = "b" * 59  # b{59}__add: 64 characters, the most every client accepts
    copy_bench_as(pd, ok_name)
    s = serve(pd)
    names = s.tool_names(meta=modern_meta())
    assert f"{ok_name}__add" in names and len(f"{ok_name}__add") == 64
    assert not any(n.startswith(long_name) for n in names)
    s.close_stdin()
    s.wait_exit()
    (line,) = [l for l in refusal_lines(s.stderr_text()) if long_name in l]
    assert "65 characters" in line and "64" in line, line


@pytest.mark.parametrize("bad", ["my__tools", "tools_", "a__"])
def test_plugin_names_that_could_collide_are_refused(plugin_dir, serve, bad):
    pd = plugin_dir("echo")
    copy_bench_as(pd, bad)
    s = serve(pd)
    assert all(not n.startswith(bad) for n in s.tool_names(meta=modern_meta()))
    s.close_stdin()
    s.wait_exit()
    lines = refusal_lines(s.stderr_text())
    assert any("'__'" in l for l in lines), lines


# --- exact matching ------------------------------------------------------------------------

KELVIN_C = r"""
#include <bulkhead/bulkhead.h>
static bh_status kelvin(const bh_host_api *host, bh_call call, void *user_data)
{
    (void)user_data;
    return host->result_text(call, "cold", 4);
}
BULKHEAD_PLUGIN_ABI()
bh_status bulkhead_plugin_init(const bh_host_api *host, bh_plugin plugin, bh_plugin_def *def)
{
    def->concurrency = BH_CONCURRENCY_PARALLEL;
    return host->register_tool(plugin, "Kelvin", 6, kelvin, NULL);
}
"""


def build_kelvin(pd):
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        pytest.skip("no C compiler")
    folder = pd.path / "temp"
    folder.mkdir()
    (folder / "temp.c").write_text(KELVIN_C)
    (folder / "manifest.toml").write_text(
        'name = "temp"\nversion = "1.0.0"\nabi = "1.1"\nlibrary = "libtemp.so"\ndescription = "A tool with a K."\n'
        '[[tools]]\nname = "Kelvin"\ndescription = "Says cold."\naccess = "read"\ninput_schema = { type = "object" }\n')
    (folder / "policy.toml").write_text('[[allow]]\ntools = ["Kelvin"]\nprincipals = ["*"]\n')
    subprocess.run([cc, "-std=c11", "-shared", "-fPIC", f"-I{REPO / 'include'}", "-o", str(folder / "libtemp.so"),
                    str(folder / "temp.c")], check=True)


@pytest.mark.parametrize("era", ["legacy", "modern"])
def test_a_canonically_equivalent_tool_name_is_an_unknown_tool(plugin_dir, serve, tmp_path, era):
    pd = plugin_dir("echo")
    build_kelvin(pd)
    audit = tmp_path / "audit.jsonl"
    s = serve(pd, extra=["--audit", str(audit)])
    meta = None
    if era == "legacy":
        s.initialize()
    else:
        meta = modern_meta()
    assert s.call("temp__Kelvin", {}, meta=meta)["content"][0]["text"] == "cold"
    lookalike = "temp__" + KELVIN + "elvin"
    assert lookalike != "temp__Kelvin"
    assert call_error(s, lookalike, {}, meta)["code"] == -32602
    s.close_stdin()
    s.wait_exit()
    records = [json.loads(l) for l in audit.read_text().splitlines()]
    outcomes = {rec["tool"]: rec["outcome"] for rec in records if "event" not in rec}
    assert outcomes == {"temp__Kelvin": "ok", lookalike: "unknown_tool"}, outcomes


def test_a_canonically_equivalent_principal_is_not_defined(bulkhead_bin, tmp_path):
    config = tmp_path / "k.toml"
    config.write_text('default_principal = "Kim"\n[principals.Kim]\ntenant = "acme"\nscopes = []\n')
    ok = subprocess.run([str(bulkhead_bin), "serve", "--plugins", str(REPO / "plugins"), "--config", str(config),
                         "--principal", "Kim"], input="", capture_output=True, text=True, timeout=30)
    assert ok.returncode == 0, ok.stderr
    bad = run_cli(bulkhead_bin, "serve", "--plugins", str(REPO / "plugins"), "--config", str(config),
                  "--principal", KELVIN + "im")
    assert bad.returncode != 0
    assert "not defined" in bad.stderr


@pytest.mark.parametrize("era", ["legacy", "modern"])
def test_object_keys_that_differ_only_by_normalization_stay_two_keys(plugin_dir, serve, era):
    s = serve(plugin_dir("echo"))
    meta = None
    if era == "legacy":
        s.initialize()
    else:
        meta = modern_meta()
    composed, decomposed = "caf\u00e9", "cafe\u0301"
    # Sent as raw JSON so that nothing on the client side merges or reorders them.
    rid = s.next_id()
    params = {"name": "echo__echo", "arguments": {composed: 1, decomposed: 2, "K": 3, KELVIN: 4}}
    if meta:
        params["_meta"] = meta
    s.send_raw(json.dumps({"jsonrpc": "2.0", "id": rid, "method": "tools/call", "params": params},
                          ensure_ascii=False) + "\n")
    r = s.wait(rid)
    echoed = structured(r)
    assert echoed == {composed: 1, decomposed: 2, "K": 3, KELVIN: 4}, echoed
    assert len(echoed) == 4
    # A real duplicate (the same code points) still keeps the last value, as standard parsers do.
    rid = s.next_id()
    raw = '{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"echo__echo","arguments":{"x":1,"x":2}%s}}\n' % (
        rid, (',"_meta":' + json.dumps(meta)) if meta else "")
    s.send_raw(raw)
    assert structured(s.wait(rid)) == {"x": 2}


def test_a_lookalike_key_does_not_pass_as_a_declared_property(plugin_dir, serve):
    """bench.add declares a and b with additionalProperties false: a lookalike of a name is an extra key."""
    s = serve(plugin_dir("bench"))
    r = s.call("bench__add", {"a": 1, "b": 2, "\u0061\u0308": 3}, meta=modern_meta())
    assert r["isError"] and r["structuredContent"]["kind"] == "invalid_argument", r


# --- a fresh machine -----------------------------------------------------------------------


def test_missing_packages_stop_the_build_at_once_with_the_command_to_run(tmp_path):
    packages = tmp_path / "packages"
    packages.write_text("libsqlite3-dev\nbulkhead-no-such-package-dev   # a header the build needs\n")
    env = {**os.environ, "BULKHEAD_PACKAGES_FILE": str(packages), "BULKHEAD_NO_INSTALL": "1"}
    started = time.monotonic()
    r = subprocess.run(["make", "-s", "build"], cwd=str(REPO), env=env, capture_output=True, text=True, timeout=120)
    took = time.monotonic() - started
    assert r.returncode != 0
    assert "missing Debian packages: bulkhead-no-such-package-dev" in r.stderr, r.stderr
    assert "apt-get install -y bulkhead-no-such-package-dev" in r.stderr, r.stderr
    assert "libsqlite3-dev" not in r.stderr.split("missing Debian packages:")[1].splitlines()[0]
    assert "Compiling" not in r.stdout + r.stderr and "Building" not in r.stdout + r.stderr
    assert took < 30, f"the check took {took:.1f} s: it must come before any compiling"


def test_the_package_list_is_the_one_ci_and_make_use():
    ci = (REPO / ".ci" / "run").read_text()
    make = (REPO / "Makefile").read_text()
    assert "scripts/require-packages" in ci and "scripts/require-packages" in make
    listed = (REPO / "scripts" / "debian-packages").read_text()
    for pkg in ["libcurl4-openssl-dev", "libsqlite3-dev", "python3-venv"]:
        assert pkg in listed
        assert pkg in (REPO / "README.md").read_text()


def test_make_run_writes_nothing_but_protocol_to_stdout():
    """`make -s run` may be a desktop client's command: the build's output must never reach stdout."""
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
    r = subprocess.run(["make", "-s", "run"], cwd=str(REPO), input=json.dumps(init) + "\n",
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    lines = r.stdout.splitlines()
    assert lines, r.stderr[-2000:]
    for line in lines:
        msg = json.loads(line)
        assert msg.get("jsonrpc") == "2.0", line
    assert json.loads(lines[0])["result"]["serverInfo"]["name"] == "bulkhead"
