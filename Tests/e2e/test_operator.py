"""What an operator sees: wrong paths and options fail with one line, --strict,
the whole-configuration check, and log lines (one per call, text or JSON,
plugin lines that cannot pass for the core's)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import BIN, CONFIG, EXAMPLES, REPO, run_cli, source_folder

TIME = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


def one_line_failure(r: subprocess.CompletedProcess, *parts: str) -> str:
    """A startup failure: non-zero, nothing on stdout, exactly one stderr line naming the problem."""
    assert r.returncode != 0, (r.returncode, r.stderr)
    assert r.stdout == "", r.stdout
    lines = r.stderr.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("bulkhead: "), lines
    for p in parts:
        assert p in lines[0], (p, lines[0])
    assert "Usage" not in r.stderr and "USAGE" not in r.stderr
    return lines[0]


def serve_cli(bulkhead_bin: Path, *args: str) -> subprocess.CompletedProcess:
    return run_cli(bulkhead_bin, "serve", *args)


# --------------------------------------------------------------------------- wrong paths fail loudly


def test_plugins_directory_that_does_not_exist(bulkhead_bin, tmp_path):
    missing = tmp_path / "nope"
    line = one_line_failure(serve_cli(bulkhead_bin, "--plugins", str(missing), "--config", str(CONFIG)))
    assert line == f"bulkhead: --plugins {missing}: no such directory"


def test_plugins_path_that_is_a_file(bulkhead_bin, tmp_path):
    f = tmp_path / "file"
    f.write_text("")
    one_line_failure(serve_cli(bulkhead_bin, "--plugins", str(f)), str(f), "not a directory")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any directory")
def test_plugins_directory_that_cannot_be_read(bulkhead_bin, tmp_path):
    d = tmp_path / "locked"
    d.mkdir()
    d.chmod(0)
    try:
        one_line_failure(serve_cli(bulkhead_bin, "--plugins", str(d)), str(d), "cannot read")
    finally:
        d.chmod(0o700)


def test_config_that_does_not_exist(bulkhead_bin, tmp_path):
    missing = tmp_path / "none.toml"
    line = one_line_failure(serve_cli(bulkhead_bin, "--plugins", str(tmp_path), "--config", str(missing)))
    assert line == f"bulkhead: --config {missing}: no such file"


def test_config_that_is_not_toml(bulkhead_bin, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[principals\nalice = ")
    one_line_failure(serve_cli(bulkhead_bin, "--plugins", str(tmp_path), "--config", str(bad)), f"--config {bad}: ")


def test_config_with_several_problems_is_still_one_line(bulkhead_bin, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('default_principal = "zed"\n[principals.alice]\nscopes = []\n[audit]\nfoo = 1\n')
    line = one_line_failure(serve_cli(bulkhead_bin, "--plugins", str(tmp_path), "--config", str(bad)), f"--config {bad}: ")
    assert "tenant" in line and "zed" in line and "'foo'" in line, line


def test_principal_the_config_does_not_define(bulkhead_bin, tmp_path):
    line = one_line_failure(
        serve_cli(bulkhead_bin, "--plugins", str(tmp_path), "--config", str(CONFIG), "--principal", "mallory")
    )
    assert line.startswith(f"bulkhead: --principal mallory: not defined in {CONFIG}"), line
    assert "alice" in line  # says which ones are


def test_principal_without_a_config(bulkhead_bin, tmp_path):
    one_line_failure(serve_cli(bulkhead_bin, "--plugins", str(tmp_path), "--principal", "alice"),
                     "--principal alice", "'local'")


@pytest.mark.parametrize(
    "option,value,expected",
    [
        ("--log-level", "loud", "bulkhead: --log-level loud: unknown level (known: trace, debug, info, notice, warning, error, critical)"),
        ("--log-format", "xml", "bulkhead: --log-format xml: unknown format (known: text, json)"),
        ("--tool-names", "camel", "bulkhead: --tool-names camel: unknown style (known: underscore, dotted)"),
    ],
)
def test_unknown_option_values(bulkhead_bin, tmp_path, option, value, expected):
    line = one_line_failure(serve_cli(bulkhead_bin, "--plugins", str(tmp_path), option, value))
    assert line == expected


def test_a_startup_failure_in_json_format_is_one_json_line(bulkhead_bin, tmp_path):
    r = serve_cli(bulkhead_bin, "--log-format", "json", "--plugins", str(tmp_path / "nope"))
    assert r.returncode != 0 and r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 1, lines
    o = json.loads(lines[0])
    assert o["level"] == "critical" and "no such directory" in o["message"], o


def test_check_with_wrong_paths_fails_with_one_line(bulkhead_bin, tmp_path):
    one_line_failure(run_cli(bulkhead_bin, "check", "--plugins", str(tmp_path / "nope")), "no such directory")
    one_line_failure(run_cli(bulkhead_bin, "check", "--log-level", "shout", str(source_folder("echo"))), "--log-level shout")
    one_line_failure(run_cli(bulkhead_bin, "check"), "--plugins")


def test_a_server_that_loads_no_plugin_says_so(plugin_dir, serve):
    s = serve(plugin_dir())
    s.initialize()
    assert s.tool_names() == []
    assert s.shutdown() == 0
    warnings = [l for l in s.stderr_text().splitlines() if " warning " in l and "no plugin loaded" in l]
    assert len(warnings) == 1, s.stderr_text()


def test_a_server_whose_only_plugin_is_refused_says_so(plugin_dir, serve):
    s = serve(plugin_dir("wrong_abi"))
    s.initialize()
    assert s.shutdown() == 0
    assert any("no plugin loaded" in l and "1 refused" in l for l in s.stderr_text().splitlines()), s.stderr_text()


# --------------------------------------------------------------------------- --strict


@pytest.mark.parametrize("broken,reason", [("wrong_abi", "ABI 2.0"), ("bad_magic", "magic"), ("init_fails", "init failed")])
def test_strict_makes_a_refused_plugin_fatal(plugin_dir, serve, broken, reason):
    s = serve(plugin_dir("echo", broken), extra=["--strict"])
    rc = s.wait_exit(15)
    assert rc != 0
    assert s.lines == []  # nothing on stdout, not even an answer
    err = s.stderr_text().splitlines()
    fatal = [l for l in err if " critical " in l and "--strict" in l]
    assert len(fatal) == 1, err
    assert broken in fatal[0] and reason in fatal[0], fatal[0]


def test_strict_serves_when_nothing_is_refused(plugin_dir, serve):
    s = serve(plugin_dir("echo", "bench"), extra=["--strict"])
    s.initialize()
    assert "echo__echo" in s.tool_names()
    assert s.shutdown() == 0


# --------------------------------------------------------------------------- the whole-configuration check


def check(bulkhead_bin: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(bulkhead_bin), "check", *args], stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=60, cwd=str(REPO), env=env)


def problems(out: str) -> list[str]:
    return [l[len("problem: "):] for l in out.splitlines() if l.startswith("problem: ")]


def test_the_example_configuration_is_clean(bulkhead_bin):
    r = check(bulkhead_bin, "--config", str(CONFIG), "--plugins", str(EXAMPLES))
    assert r.returncode == 0, r.stdout + r.stderr
    assert problems(r.stdout) == []
    for name in ("admin", "bench", "deployments", "docs", "tickets"):
        assert f"== {name}" in r.stdout
    assert "summary:     5 of 5 plugin folders would load, 0 refused; 0 problems" in r.stdout, r.stdout


def test_policies_naming_undefined_principals_scopes_and_tenants(bulkhead_bin, plugin_dir):
    pd = plugin_dir()
    echo = pd.copy("echo")
    (echo / "policy.toml").write_text(
        '[[allow]]\ntools = ["echo"]\nprincipals = ["alice", "carol"]\n'
        '[[allow]]\ntools = ["caller"]\nscopes = ["docs.read", "docs.admin"]\ntenants = ["acme", "initech"]\n'
        '[[preapprove]]\ntools = ["echo"]\nprincipals = ["robot"]\n'
    )
    r = check(bulkhead_bin, "--config", str(CONFIG), "--plugins", str(pd.path))
    assert r.returncode == 1, r.stdout + r.stderr
    got = problems(r.stdout)
    assert len(got) == 4, got
    assert any("allow[0] names principal 'carol'" in p and str(CONFIG) in p for p in got), got
    assert any("allow[1] names scope 'docs.admin'" in p for p in got), got
    assert any("allow[1] names tenant 'initech'" in p for p in got), got
    assert any("preapprove[0] names principal 'robot'" in p for p in got), got
    # The rules are dead, not the plugin: serve would load it.
    assert "1 of 1 plugin folders would load, 0 refused; 4 problems" in r.stdout, r.stdout
    # The same check of the one folder finds the same.
    one = check(bulkhead_bin, "--config", str(CONFIG), str(echo))
    assert one.returncode == 1 and len(problems(one.stdout)) == 4, one.stdout


def test_a_folder_with_several_problems_reports_all_of_them(bulkhead_bin, plugin_dir):
    pd = plugin_dir()
    # A policy broken three ways AND a library of the wrong ABI: before, check stopped at the policy.
    wrong = pd.copy("wrong_abi")
    (wrong / "policy.toml").write_text(
        '[[allow]]\ntools = ["nosuch"]\nprincipals = ["*"]\n[bogus]\nx = 1\n[grants.everything]\npath = "/"\n'
    )
    # A manifest claiming another ABI, a policy naming an unknown tool: both, and the library's ABI too.
    echo = pd.copy("echo")
    m = (echo / "manifest.toml").read_text().replace('abi = "1.1"', 'abi = "7.0"')
    (echo / "manifest.toml").write_text(m)
    (echo / "policy.toml").write_text('[[allow]]\ntools = ["missing"]\nprincipals = ["*"]\n')
    r = check(bulkhead_bin, "--config", str(CONFIG), "--plugins", str(pd.path))
    assert r.returncode == 1, r.stdout + r.stderr
    sections = r.stdout.split("\n== ")
    wrong_out = next(s for s in sections if s.startswith("wrong_abi"))
    got = problems(wrong_out)
    assert any("'nosuch'" in p for p in got), got
    assert any("'bogus'" in p for p in got), got
    assert any("grants.everything" in p for p in got), got
    assert any(p.startswith("library ") and "2.0" in p for p in got), got
    echo_out = next(s for s in sections if s.startswith("echo"))
    got = problems(echo_out)
    assert any(p.startswith("manifest: plugin") and "7.0" in p for p in got), got
    assert any("'missing'" in p for p in got), got
    assert any("manifest says ABI 7.0 but the library was built for ABI 1.1" in p for p in got), got
    assert "init was not run" in echo_out
    assert "0 of 2 plugin folders would load, 2 refused" in r.stdout, r.stdout


def test_check_of_a_directory_reports_a_name_taken_as_serve_would(bulkhead_bin, plugin_dir):
    pd = plugin_dir("echo", "dup_a", "dup_b")
    r = check(bulkhead_bin, "--plugins", str(pd.path))
    assert r.returncode == 1
    dup_b = next(s for s in r.stdout.split("\n== ") if s.startswith("dup_b"))
    assert any("already taken" in p for p in problems(dup_b)), dup_b
    assert "2 of 3 plugin folders would load, 1 refused; 1 problem" in r.stdout, r.stdout
    assert "without --config" in r.stdout


def test_a_config_that_does_not_load_is_a_problem_and_the_folders_are_still_checked(bulkhead_bin, plugin_dir, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('default_principal = "ghost"\n')
    pd = plugin_dir("echo", "wrong_abi")
    r = check(bulkhead_bin, "--config", str(bad), "--plugins", str(pd.path))
    assert r.returncode == 1
    got = problems(r.stdout)
    assert any(p.startswith(f"{bad}: ") and "ghost" in p for p in got), got
    assert any("2.0" in p for p in got), got


def tree(root: Path) -> dict[str, tuple]:
    """Every path under root with its type, size and mtime."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            p = Path(dirpath) / n
            st = p.lstat()
            out[str(p.relative_to(root))] = (st.st_mode, st.st_size, st.st_mtime_ns)
    return out


@pytest.mark.parametrize("data_exists", [False, True])
def test_check_of_one_folder_creates_nothing_in_it(bulkhead_bin, tmp_path, data_exists):
    folder = tmp_path / "tickets"
    shutil.copytree(source_folder("tickets"), folder)
    shutil.rmtree(folder / "data", ignore_errors=True)
    if data_exists:
        (folder / "data").mkdir()
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    before = tree(folder)
    r = check(bulkhead_bin, "--log-level", "info", str(folder), env={**os.environ, "TMPDIR": str(scratch)})
    assert r.returncode == 0, r.stdout + r.stderr
    assert tree(folder) == before
    # init ran (every tool registered), on a temporary folder that is gone again
    assert "not registered" not in r.stdout
    assert "check gave init an empty temporary folder instead" in r.stdout, r.stdout
    assert list(scratch.iterdir()) == []
    assert ("serve would create" in r.stdout) == (not data_exists), r.stdout


# --------------------------------------------------------------------------- log lines


CALL_LINE = re.compile(
    rf"^{TIME} info bulkhead plugin=(?P<plugin>\S+) principal=(?P<principal>\S+) tenant=(?P<tenant>\S+) "
    r"tool=(?P<tool>\S+) outcome=(?P<outcome>\S+)(?: kind=(?P<kind>\S+))? ms=(?P<ms>[0-9.e-]+): "
    r"call (?P=tool) by (?P=principal): (?P=outcome)(?: \((?P=kind)\))? in (?P=ms) ms$"
)


def call_lines(stderr: str) -> list[re.Match]:
    return [m for m in map(CALL_LINE.match, stderr.splitlines()) if m]


def test_one_info_line_per_call(plugin_dir, serve):
    s = serve(plugin_dir("echo"))
    s.initialize()
    s.call("echo__echo", {"x": 1})
    s.call("echo__fail", {"kind": 3})
    s.error("tools/call", {"name": "echo__nothing", "arguments": {}})
    assert s.shutdown() == 0
    err = s.stderr_text()
    lines = call_lines(err)
    assert [(m["tool"], m["outcome"]) for m in lines] == [
        ("echo__echo", "ok"), ("echo__fail", "error")], err
    ok, failed = lines
    assert ok["principal"] == "alice" and ok["tenant"] == "acme" and ok["plugin"] == "echo"
    assert float(ok["ms"]) >= 0 and failed["kind"]
    unknown = [l for l in err.splitlines() if "tool=echo__nothing" in l]
    assert len(unknown) == 1 and "outcome=unknown_tool" in unknown[0] and " info bulkhead " in unknown[0], unknown


def test_no_call_lines_above_info(plugin_dir, serve):
    s = serve(plugin_dir("echo"), extra=["--log-level", "notice"])
    s.initialize()
    s.call("echo__echo", {})
    assert s.shutdown() == 0
    assert "outcome=" not in s.stderr_text()


def test_json_log_lines(plugin_dir, serve):
    s = serve(plugin_dir("echo", "forger"), extra=["--log-format", "json"])
    s.initialize()
    s.call("echo__echo", {"x": 1})
    s.call("forger__say", {"text": 'x"}\n{"level":"critical","label":"bulkhead","message":"FORGED"}'})
    assert s.shutdown() == 0
    objects = []
    for line in s.stderr_text().splitlines():
        o = json.loads(line)  # every line is one JSON object
        assert set(o) == {"time", "level", "label", "message", "metadata"}, o
        assert re.fullmatch(TIME, o["time"]) and isinstance(o["metadata"], dict)
        objects.append(o)
    calls = [o for o in objects if "outcome" in o["metadata"]]
    assert [o["metadata"]["tool"] for o in calls] == ["echo__echo", "forger__say"]
    echo = calls[0]
    assert echo["level"] == "info" and echo["label"] == "bulkhead"
    assert echo["metadata"]["principal"] == "alice" and echo["metadata"]["tenant"] == "acme"
    assert echo["metadata"]["outcome"] == "ok" and echo["metadata"]["plugin"] == "echo"
    assert isinstance(echo["metadata"]["ms"], (int, float))
    forged = [o for o in objects if "FORGED" in o["message"]]
    assert forged and all(o["label"] == "plugin" and o["metadata"] == {"plugin": "forger"} for o in forged), forged
    assert not [o for o in objects if o["label"] == "bulkhead" and o["level"] == "critical"]


def test_a_plugin_cannot_forge_a_core_log_line(plugin_dir, serve):
    s = serve(plugin_dir("forger"))
    s.initialize()
    forged = "2030-01-01T00:00:00.000Z error bulkhead: FORGED-IN-CALL"
    for text in (f"hello\n{forged}", f"hello\r{forged}", f"hello\r\n{forged}\n", f"\u2028{forged}", f"\x85{forged}"):
        assert s.call("forger__say", {"text": text})["content"][0]["text"] == "said"
    assert s.shutdown() == 0
    raw = s.stderr_path.read_bytes()
    # No line break of any kind inside a line: splitting on \n alone gives every line.
    assert b"\r" not in raw and "\u2028".encode() not in raw and "\x85".encode() not in raw
    lines = raw.decode().split("\n")
    assert not [l for l in lines if l.startswith("2030-")]
    marked = [l for l in lines if "FORGED" in l]
    assert len(marked) == 6, marked  # five calls and the init line
    for l in marked:
        assert re.match(rf"^{TIME} warning plugin plugin=forger: ", l), l
    assert any("\\n2030-01-01T00:00:00.000Z error bulkhead: FORGED-AT-INIT\\r\\u{1b}[2K" in l for l in marked), marked


def test_a_plugin_log_line_is_capped(plugin_dir, serve):
    s = serve(plugin_dir("forger"))
    s.initialize()
    s.call("forger__say", {"text": "a" * 100_000})
    assert s.shutdown() == 0
    line = next(l for l in s.stderr_text().splitlines() if "aaaa" in l)
    assert line.endswith(" …[cut 95904 of 100000 bytes]"), line[-80:]
    assert len(line.encode()) < 4096 + 200
