"""Shared fixtures for the end-to-end tests.

Every test builds its own plugin directory (symlinks to folders under
plugins/ and Tests/fixtures/plugins/; the tickets plugin is copied so it gets
its own data_dir), starts `bulkhead serve` on it and talks to it through the
raw line client in rawclient.py. The binary comes from $BULKHEAD_BIN, default
.build/release/bulkhead under the repository root.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from rawclient import RawServer  # noqa: E402

REPO = HERE.parents[1]
BIN = Path(os.environ.get("BULKHEAD_BIN") or (REPO / ".build" / "release" / "bulkhead"))
if not BIN.is_absolute():
    BIN = (REPO / BIN).resolve()
EXAMPLES = REPO / "plugins"
FIXTURES = REPO / "Tests" / "fixtures" / "plugins"
CONFIG = REPO / "bulkhead.toml"

EXAMPLE_PLUGINS = ["admin", "bench", "deployments", "docs", "tickets"]
BROKEN_FIXTURES = [
    "wrong_abi",
    "newer_minor",
    "bad_magic",
    "init_fails",
    "no_init",
    "extra_tool",
    "missing_tool",
    "bad_manifest",
    "no_library",
    "bad_schema",
]


def source_folder(name: str) -> Path:
    """The folder of an example plugin or a fixture plugin called `name`."""
    for base in (EXAMPLES, FIXTURES):
        p = base / name
        if (p / "manifest.toml").exists() or p.is_dir():
            return p
    raise FileNotFoundError(f"no plugin folder named {name!r} under {EXAMPLES} or {FIXTURES}")


def set_policy_config(policy_path: Path, key: str, value: str) -> None:
    """Write `key = "value"` into the [config] table of a policy.toml, keeping the rest of the file."""
    text = policy_path.read_text() if policy_path.exists() else ""
    line = f"{key} = {toml_string(value)}"
    out: list[str] = []
    section = None
    inserted = False
    for raw in text.splitlines():
        stripped = raw.strip()
        if stripped.startswith("[") and not stripped.startswith("[["):
            section = stripped.strip("[]").strip()
            out.append(raw)
            if section == "config" and not inserted:
                out.append(line)
                inserted = True
            continue
        if section == "config" and stripped.split("=", 1)[0].strip() == key and "=" in stripped:
            continue  # the operator's old value: replaced by ours
        out.append(raw)
    if not inserted:
        # A [config] table after any other table; keys before the first table stay top-level.
        out += ["", "[config]", line]
    policy_path.write_text("\n".join(out) + "\n")


def set_policy_grant(policy_path: Path, name: str, settings: dict[str, str]) -> None:
    """Replace the grant of capability `name` in a policy.toml with a [grants.<name>] table of `settings`.

    Any [grants.<name>] table and any `name = ...` key of [grants] go; the rest of the file stays.
    """
    import tomllib

    text = policy_path.read_text() if policy_path.exists() else ""
    out: list[str] = []
    section = None
    for raw in text.splitlines():
        stripped = raw.strip()
        if stripped.startswith("["):  # [table] or [[array of tables]]: a new section either way
            section = stripped.split("#", 1)[0].strip().strip("[]").strip()
            if section == f"grants.{name}":
                continue  # the old table's header; its keys are dropped below
        if section == f"grants.{name}":
            continue
        if section == "grants" and "=" in stripped and stripped.split("=", 1)[0].strip() == name:
            continue  # `name = true` or an inline table
        out.append(raw)
    out += ["", f"[grants.{name}]"] + [f"{k} = {toml_string(v)}" for k, v in settings.items()]
    policy_path.write_text("\n".join(out) + "\n")
    written = tomllib.loads(policy_path.read_text())
    assert written["grants"][name] == settings, f"{policy_path}: grants.{name} is {written['grants'][name]!r}"


ALLOW_EVERYONE = '[[allow]]\ntools = ["*"]\nprincipals = ["*"]\n'


def all_scopes_config(folder: Path) -> Path:
    """A server configuration whose default principal holds every scope the example policies name."""
    path = folder / "all-scopes.toml"
    path.write_text(
        'default_principal = "root"\n[principals.root]\ntenant = "acme"\n'
        'scopes = ["admin", "docs.read", "tickets.read", "tickets.write", "deployments.read"]\n'
    )
    return path


def toml_string(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


class PluginDir:
    """A temporary --plugins directory whose content each test controls."""

    def __init__(self, root: Path):
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self.data_dirs: dict[str, Path] = {}

    @property
    def path(self) -> Path:
        return self.root

    def link(self, name: str, as_name: str | None = None) -> Path:
        """Symlink the plugin folder `name` into the directory (as `as_name`)."""
        dst = self.root / (as_name or name)
        dst.symlink_to(source_folder(name), target_is_directory=True)
        return dst

    def copy(self, name: str, as_name: str | None = None) -> Path:
        dst = self.root / (as_name or name)
        shutil.copytree(source_folder(name), dst, symlinks=False)
        return dst

    def with_data_dir(self, name: str, data_dir: Path) -> Path:
        """Copy the plugin folder and grant its read-write `data` capability on `data_dir` instead.

        The copied policy.toml's [grants.data] is replaced; the core creates `data_dir` at load.
        """
        dst = self.copy(name)
        set_policy_grant(dst / "policy.toml", "data", {"path": str(data_dir.resolve()), "access": "read-write"})
        self.data_dirs[name] = data_dir
        return dst

    def add(self, *names: str) -> "PluginDir":
        for n in names:
            if n == "tickets":
                self.with_data_dir("tickets", self.root.parent / f"{self.root.name}-tickets-data")
            else:
                self.link(n)
        return self


@pytest.fixture(scope="session")
def bulkhead_bin() -> Path:
    if not BIN.exists():
        pytest.fail(f"bulkhead binary not found at {BIN} (build it with `make build fixtures`, or set BULKHEAD_BIN)")
    return BIN


@pytest.fixture
def plugin_dir(tmp_path):
    """Factory: plugin_dir("echo", "bench") -> PluginDir with those plugins."""
    counter = [0]

    def make(*names: str) -> PluginDir:
        counter[0] += 1
        pd = PluginDir(tmp_path / f"plugins{counter[0]}")
        pd.add(*names)
        return pd

    return make


@pytest.fixture
def serve(bulkhead_bin, tmp_path):
    """Factory: serve(plugin_dir, config=None, principal=None) -> a started RawServer.

    Every server started here is checked at teardown: all of its stdout lines
    were JSON-RPC messages; then it is stopped.
    """
    servers: list[RawServer] = []

    def start(pdir, *, config: Path | str | None | bool = None, principal: str | None = None,
              extra: list[str] | None = None):
        # The example configuration (alice, bob, ops) unless the test says otherwise;
        # config=False starts the server with none (the built-in principal "local").
        args = [str(bulkhead_bin), "serve", "--plugins", str(getattr(pdir, "path", pdir))]
        if config is None:
            config = CONFIG
        if config is not False:
            args += ["--config", str(config)]
        if principal is not None:
            args += ["--principal", principal]
        args += extra or []
        srv = RawServer(args, stderr_path=tmp_path / f"stderr-{len(servers)}.log", cwd=str(REPO))
        servers.append(srv)
        return srv

    yield start
    from mcp_types.jsonrpc import jsonrpc_message_adapter
    from pydantic import ValidationError

    problems = []
    for s in servers:
        s.kill()
        if s.garbage:
            problems.append(f"non-JSON-RPC lines on stdout: {s.garbage[:3]!r}")
        if s.duplicates:
            problems.append(f"more than one response for an id: {[d.get('id') for d in s.duplicates[:5]]!r}")
        # Every line, once more, through the official SDK's own JSON-RPC message model.
        for line in s.lines:
            try:
                json.loads(line)
            except ValueError:
                continue  # not JSON at all: already reported through `garbage`
            try:
                jsonrpc_message_adapter.validate_json(line)
            except ValidationError as e:
                problems.append(f"line rejected by mcp_types JSONRPCMessage: {line[:200]!r}: {e.errors()[:1]}")
                break
    assert not problems, "; ".join(problems)


def run_cli(bulkhead_bin: Path, *args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(bulkhead_bin), *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=str(REPO),
    )
