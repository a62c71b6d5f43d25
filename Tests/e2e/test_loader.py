"""Loading plugin folders: refusals with one clear line each, `bulkhead check`, tool order."""

from __future__ import annotations

import re
import tomllib

import pytest

from conftest import BROKEN_FIXTURES, EXAMPLE_PLUGINS, FIXTURES, all_scopes_config, run_cli, source_folder
from rawclient import modern_meta, tool_text


def manifest(name: str) -> dict:
    return tomllib.loads((source_folder(name) / "manifest.toml").read_text())


def expected_reason(name: str) -> list[str]:
    """Substrings the refusal line (and `check`'s problem line) must contain, per fixture."""
    return {
        "wrong_abi": ["ABI", "2.0", "1.1"],
        "newer_minor": ["ABI", "1.99"],
        "bad_magic": ["magic"],
        "init_fails": ["init"],
        "no_init": ["bulkhead_plugin_init"],
        "extra_tool": ["not in the manifest"],
        "missing_tool": ["not registered"],
        "bad_manifest": ["manifest"],
        "no_library": [manifest("no_library").get("library", "libno_library.so")],
        "bad_schema": ["input_schema"],
    }[name]


def extra_tool_name() -> str:
    """The tool the extra_tool fixture registers without declaring it (read from its source)."""
    src = (FIXTURES / "extra_tool" / "extra_tool.c").read_text()
    declared = {t["name"] for t in manifest("extra_tool").get("tools", [])}
    registered = re.findall(r'register_tool\([^,]+,\s*BH_LIT\("([^"]+)"\)', src)
    extra = [t for t in registered if t not in declared]
    assert extra, "could not find the undeclared tool in extra_tool.c"
    return extra[0]


def missing_tool_name() -> str:
    src = (FIXTURES / "missing_tool" / "missing_tool.c").read_text()
    registered = set(re.findall(r'register_tool\([^,]+,\s*BH_LIT\("([^"]+)"\)', src))
    missing = [t["name"] for t in manifest("missing_tool").get("tools", []) if t["name"] not in registered]
    assert missing, "could not find the unregistered tool in missing_tool's manifest"
    return missing[0]


def refusal_lines(stderr: str, folder: str) -> list[str]:
    return [l for l in stderr.splitlines() if f"refused plugin '{folder}'" in l]


def served_plugins(names: list[str]) -> set[str]:
    return {n.split("__", 1)[0] for n in names}


@pytest.mark.parametrize("broken", BROKEN_FIXTURES)
def test_broken_plugin_refused_and_others_keep_serving(plugin_dir, serve, broken):
    s = serve(plugin_dir("echo", broken))
    s.initialize()
    names = s.tool_names()
    assert served_plugins(names) == {"echo"}, names
    assert s.call("echo__echo", {"ok": True})["structuredContent"] == {"ok": True}
    assert s.shutdown() == 0
    err = s.stderr_text()
    lines = refusal_lines(err, broken)
    assert len(lines) == 1, f"expected one refusal line for {broken}, got {lines!r}\n--- stderr ---\n{err}"
    for part in expected_reason(broken):
        assert part in lines[0], f"{part!r} not in refusal line {lines[0]!r}"
    if broken == "extra_tool":
        assert extra_tool_name() in lines[0]
    if broken == "missing_tool":
        assert missing_tool_name() in lines[0]
    # and nothing else was refused
    others = [l for l in err.splitlines() if "refused plugin" in l and f"'{broken}'" not in l]
    assert not others, others


def test_all_broken_at_once(plugin_dir, serve):
    s = serve(plugin_dir("echo", "bench", *BROKEN_FIXTURES))
    s.initialize()
    names = s.tool_names()
    assert served_plugins(names) == {"echo", "bench"}, names
    assert tool_text(s.call("bench__add", {"a": 1, "b": 1})) == "2"
    assert s.shutdown() == 0
    err = s.stderr_text()
    for broken in BROKEN_FIXTURES:
        assert len(refusal_lines(err, broken)) == 1, (broken, err)


def test_duplicate_plugin_name(plugin_dir, serve):
    s = serve(plugin_dir("echo", "dup_a", "dup_b"))
    s.initialize()
    names = s.tool_names()
    assert served_plugins(names) == {"echo", "dupe"}, names
    dupe_tools = [n for n in names if n.startswith("dupe.")]
    assert len(dupe_tools) == len(set(dupe_tools))
    assert s.shutdown() == 0
    err = s.stderr_text()
    refused = refusal_lines(err, "dup_a") + refusal_lines(err, "dup_b")
    assert len(refused) == 1, err
    assert "already" in refused[0] and "dupe" in refused[0]
    # Folders load in sorted order, so the second one is the one refused.
    assert "'dup_b'" in refused[0]


def test_symlinked_folder_is_followed_and_named_by_link(plugin_dir, serve):
    pd = plugin_dir("echo")
    pd.link("wrong_abi", as_name="linked_wrong_abi")
    s = serve(pd)
    s.initialize()
    assert served_plugins(s.tool_names()) == {"echo"}
    assert s.shutdown() == 0
    lines = refusal_lines(s.stderr_text(), "linked_wrong_abi")
    assert len(lines) == 1 and "ABI" in lines[0]


def test_non_plugin_entries_are_ignored(plugin_dir, serve):
    pd = plugin_dir("echo")
    (pd.path / "README.txt").write_text("not a plugin\n")
    s = serve(pd)
    s.initialize()
    assert served_plugins(s.tool_names()) == {"echo"}
    assert s.shutdown() == 0


def test_empty_plugin_dir(plugin_dir, serve):
    s = serve(plugin_dir())
    s.initialize()
    assert s.tool_names() == []
    assert s.shutdown() == 0


def test_every_example_plugin_loads(plugin_dir, serve, tmp_path):
    s = serve(plugin_dir(*EXAMPLE_PLUGINS), config=all_scopes_config(tmp_path))
    s.initialize()
    names = s.tool_names()
    assert served_plugins(names) == set(EXAMPLE_PLUGINS)
    for p in EXAMPLE_PLUGINS:
        declared = {f"{p}__{t['name']}" for t in manifest(p)["tools"]}
        assert declared == {n for n in names if n.startswith(p + "__")}, p
    assert s.shutdown() == 0
    assert "refused plugin" not in s.stderr_text()


# --------------------------------------------------------------------------- tool order


def test_tool_order_is_sorted_and_deterministic(plugin_dir, serve):
    order_a = ["tickets", "echo", "bench", "docs", "admin", "serial", "deployments"]
    order_b = list(reversed(order_a))
    lists = []
    for order in (order_a, order_b):
        s = serve(plugin_dir(*order))
        s.initialize()
        lists.append(s.tool_names())
        assert s.shutdown() == 0
        s = serve(plugin_dir(*order))
        lists.append(s.tool_names(meta=modern_meta()))
        assert s.shutdown() == 0
    assert all(l == lists[0] for l in lists), lists
    names = lists[0]
    assert names == sorted(names, key=lambda n: tuple(n.split("__", 1)))
    assert len(names) == len(set(names))


def test_tool_descriptions_come_from_manifest(plugin_dir, serve):
    s = serve(plugin_dir("bench", "docs"))
    s.initialize()
    tools = {t["name"]: t for t in s.list_tools()}
    for p in ("bench", "docs"):
        for t in manifest(p)["tools"]:
            listed = tools[f"{p}__{t['name']}"]
            if "description" in t:
                assert listed.get("description") == t["description"]
            assert listed["inputSchema"]["type"] == "object"
            for req in t.get("input_schema", {}).get("required", []):
                assert req in listed["inputSchema"].get("required", [])


# --------------------------------------------------------------------------- bulkhead check / --help


def test_help(bulkhead_bin):
    r = run_cli(bulkhead_bin, "--help")
    assert r.returncode == 0, r.stderr
    out = r.stdout + r.stderr
    assert "serve" in out and "check" in out


@pytest.mark.parametrize("name", ["echo", "serial", *EXAMPLE_PLUGINS])
def test_check_good_plugin(bulkhead_bin, name):
    r = run_cli(bulkhead_bin, "check", str(source_folder(name)))
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert not [l for l in out.splitlines() if l.startswith("problem:")], out
    m = manifest(name)
    assert m["name"] in r.stdout
    assert m["version"] in r.stdout
    assert "1.1" in r.stdout  # the plugin's ABI version
    for t in m["tools"]:
        assert t["name"] in r.stdout, t["name"]


@pytest.mark.parametrize("broken", BROKEN_FIXTURES)
def test_check_broken_plugin(bulkhead_bin, broken):
    r = run_cli(bulkhead_bin, "check", str(source_folder(broken)))
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    problems = [l for l in out.splitlines() if l.startswith("problem:")]
    assert problems, out
    joined = "\n".join(problems)
    for part in expected_reason(broken):
        assert part in joined, f"{part!r} not in problems {problems!r}"


def test_check_missing_folder(bulkhead_bin, tmp_path):
    r = run_cli(bulkhead_bin, "check", str(tmp_path / "does-not-exist"))
    assert r.returncode == 1
    assert any(l.startswith("problem:") for l in (r.stdout + r.stderr).splitlines())


def test_check_symlinked_folder(bulkhead_bin, tmp_path):
    link = tmp_path / "linked-echo"
    link.symlink_to(source_folder("echo"), target_is_directory=True)
    r = run_cli(bulkhead_bin, "check", str(link))
    assert r.returncode == 0, r.stdout + r.stderr
