"""The complete plugin at the top of include/bulkhead/bulkhead.h is the first
thing an author copies: build it exactly as the header shows, check it, serve
it, call it. If the header's example rots, this fails."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from conftest import REPO, run_cli
from rawclient import tool_text, error_kind

HEADER = REPO / "include" / "bulkhead" / "bulkhead.h"


def header_example() -> tuple[str, str, str]:
    """(hello.c, manifest.toml, policy.toml) as written in the header's opening comment."""
    text = HEADER.read_text()
    # " *   code" -> "code"; a bare " *" (an empty comment line) -> "".
    lines = [re.sub(r"^ \* {0,3}", "", l) if l.startswith(" *") else l for l in text.splitlines()]
    body = "\n".join(lines)
    source = body.split("A complete plugin", 1)[1].split("and beside it, manifest.toml:", 1)[0]
    source = source.split("\n", 1)[1]  # drop the rest of the title line (the build command)
    manifest = body.split("and beside it, manifest.toml:", 1)[1].split("and the operator's policy.toml", 1)[0]
    policy = body.split("and the operator's policy.toml", 1)[1].split("\n", 1)[1].split("Check it with", 1)[0]
    return source, manifest, policy


@pytest.mark.parametrize("cc", ["gcc", "clang"])
def test_header_example_builds_checks_and_serves(tmp_path, bulkhead_bin, serve, cc):
    if shutil.which(cc) is None:
        pytest.skip(f"{cc} not installed")
    source, manifest, policy = header_example()
    assert source.count("\n") < 40, "the minimal plugin must stay under 40 lines"
    folder = tmp_path / "plugins" / "hello"
    folder.mkdir(parents=True)
    (folder / "hello.c").write_text(source)
    (folder / "manifest.toml").write_text(manifest)
    (folder / "policy.toml").write_text(policy)
    subprocess.run(
        [cc, "-std=c11", "-Wall", "-Wextra", "-Wpedantic", "-Werror", "-shared", "-fPIC",
         f"-I{REPO / 'include'}", "-o", str(folder / "libhello.so"), str(folder / "hello.c")],
        check=True,
    )

    check = run_cli(bulkhead_bin, "check", str(folder))
    assert check.returncode == 0, check.stdout + check.stderr
    assert "hello__greet (read)" in check.stdout

    srv = serve(tmp_path / "plugins")
    srv.initialize()
    assert srv.tool_names() == ["hello__greet"]
    assert tool_text(srv.call("hello__greet", {"name": "Ada"})) == "Hello, Ada!"
    assert error_kind(srv.call("hello__greet", {"name": "x" * 500})) == "invalid_argument"
    assert error_kind(srv.call("hello__greet", {})) == "invalid_argument"
