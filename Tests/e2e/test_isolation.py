"""The isolation tier: every plugin in its own walled worker unless its policy says in-process.

The `escape` fixture goes around the host table with raw system calls. In the
worker tier each attack must fail in the kernel, and the test checks the
effect (the file not written, the listener never reached), not only what the
plugin reports. The same attacks in-process show what that tier cannot stop.
After each, the other plugins keep answering and the audit trail verifies.
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest

from conftest import run_cli
from rawclient import error_kind, tool_text

ALL_WALLS = ["user-namespace", "mount-namespace", "network-namespace", "pid-namespace", "landlock", "seccomp",
             "rlimits", "no-new-privs", "not-dumpable"]


def escape_dir(plugin_dir, *, runtime: dict | None = None, config: dict | None = None, limits: dict | None = None):
    """A plugin directory with a copy of `escape` (its shelf made, the runtime table as given) and `bench`."""
    pd = plugin_dir("bench")
    dst = pd.copy("escape")
    (dst / "shelf").mkdir(exist_ok=True)
    policy = dst / "policy.toml"
    text = policy.read_text()
    if runtime:
        text += "\n[runtime]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in runtime.items())
    if config:
        text += "\n[config]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in config.items())
    if limits:
        text += "\n[limits]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in limits.items())
    policy.write_text(text)
    return pd, dst


def attack(srv, op: str, **args) -> dict:
    res = srv.call("escape__try", {"op": op, **args})
    assert not res.get("isError"), res
    return res["structuredContent"]


def still_serving(srv, *, within: float = 10.0) -> None:
    """The other plugin answers, and escape answers again once its worker is back."""
    assert tool_text(srv.call("bench__add", {"a": 2, "b": 3})) == "5"
    deadline = time.monotonic() + within
    while True:
        res = srv.call("escape__ping")
        if not res.get("isError"):
            assert tool_text(res) == "pong"
            return
        assert error_kind(res) == "unavailable", res
        assert time.monotonic() < deadline, f"escape never came back: {res}"
        time.sleep(max(0.05, res["structuredContent"].get("retryAfterMs", 100) / 1000))


@pytest.fixture
def worker(plugin_dir, serve, tmp_path):
    pd, folder = escape_dir(plugin_dir)
    audit = tmp_path / "audit.jsonl"
    srv = serve(pd, extra=["--audit", str(audit)])
    srv.initialize()
    srv.folder = folder
    srv.audit = audit
    return srv


@pytest.fixture
def inprocess(plugin_dir, serve):
    pd, folder = escape_dir(plugin_dir, runtime={"isolation": "in-process"})
    srv = serve(pd)
    srv.initialize()
    srv.folder = folder
    return srv


# ---------------------------------------------------------------- the tiers


def test_check_names_each_plugins_tier_and_its_walls(bulkhead_bin):
    out = run_cli(bulkhead_bin, "check", "--plugins", "plugins", "--config", "bulkhead.toml")
    assert out.returncode == 0, out.stdout + out.stderr
    sections = {s.split("\n", 1)[0].strip(): s for s in out.stdout.split("== ")[1:]}
    for name in ["admin", "deployments", "docs", "tickets"]:
        assert "isolation:   worker; walls: " + ", ".join(ALL_WALLS) in sections[name], sections[name]
    assert "isolation:   in-process" in sections["bench"]


def test_admin_status_says_which_tier_and_which_walls(plugin_dir, serve):
    srv = serve(plugin_dir("admin", "bench", "docs"), principal="ops")
    srv.initialize()
    res = srv.call("admin__status")
    assert not res.get("isError"), res
    plugins = {p["name"]: p for p in res["structuredContent"]["plugins"]}
    assert "ISOLATION" in tool_text(res)
    assert plugins["docs"]["runtime"]["isolation"] == "worker"
    assert plugins["docs"]["runtime"]["walls"] == ALL_WALLS
    assert plugins["docs"]["runtime"]["state"] == "ok"
    assert plugins["bench"]["runtime"]["isolation"] == "in-process"


def test_a_policy_without_runtime_runs_its_plugin_in_a_worker(plugin_dir, serve):
    pd, _ = escape_dir(plugin_dir)
    srv = serve(pd)
    srv.initialize()
    # In a pid namespace of its own, the plugin is process 1... and cannot see the server.
    out = attack(srv, "kill", pid=srv.proc.pid)
    assert not out["ok"] and out["errno"] in ("ESRCH", "EPERM"), out


def test_an_unknown_isolation_is_refused_with_one_line(plugin_dir, serve):
    pd, _ = escape_dir(plugin_dir, runtime={"isolation": "sandbox"})
    srv = serve(pd)
    srv.initialize()
    assert "escape__ping" not in srv.tool_names()
    assert 'runtime.isolation must be "worker" or "in-process"' in srv.stderr_text()


# ------------------------------------------------- walls, each by its effect


def test_raw_open_outside_the_roots_fails_in_the_worker(worker, inprocess, tmp_path):
    secret = tmp_path / "elsewhere.txt"
    secret.write_text("not yours")
    for op, args in [("open_passwd", {}), ("open_path", {"path": str(secret)}), ("secret_file", {"path": str(secret)})]:
        out = attack(worker, op, **args)
        assert not out["ok"] and out["errno"] == "EACCES", (op, out)
        contrast = attack(inprocess, op, **args)
        assert contrast["ok"], (op, contrast)
    still_serving(worker)


def test_a_raw_write_into_a_read_only_root_fails_in_the_worker(worker, inprocess):
    out = attack(worker, "root_write")
    assert not out["ok"] and out["errno"] == "EACCES", out
    assert not (worker.folder / "shelf" / "raw.txt").exists()
    assert attack(inprocess, "root_write")["ok"]
    assert (inprocess.folder / "shelf" / "raw.txt").read_text() == "escaped"


def test_a_raw_write_anywhere_else_fails_in_the_worker(worker, tmp_path):
    target = tmp_path / "dropped.txt"
    out = attack(worker, "write_path", path=str(target))
    assert not out["ok"], out
    assert not target.exists()


def test_no_network_at_all_in_the_worker(worker, inprocess):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    try:
        out = attack(worker, "connect", port=port)
        assert not out["ok"] and out["errno"] == "EPERM", out
        with pytest.raises(socket.timeout):
            listener.accept()  # the listener saw nothing
        assert not attack(worker, "socket")["ok"]
        assert attack(inprocess, "connect", port=port)["ok"]
        conn, _ = listener.accept()
        conn.close()
    finally:
        listener.close()


def test_no_new_processes_in_the_worker(worker, inprocess):
    out = attack(worker, "fork")
    assert not out["ok"] and out["errno"] == "EPERM", out
    assert attack(inprocess, "fork")["ok"]
    assert attack(inprocess, "exec")["ok"]  # in-process, a child may run /bin/sh


def test_exec_kills_the_worker_and_only_it(worker):
    res = worker.call("escape__try", {"op": "exec", "n": 1})
    assert error_kind(res) == "unavailable", res
    assert "SIGSYS" in res["structuredContent"]["message"]
    assert res["structuredContent"]["retryAfterMs"] > 0
    still_serving(worker)


def test_the_servers_memory_is_out_of_reach(worker, inprocess):
    pid = worker.proc.pid
    for op in ["proc_mem", "vm_readv", "kill"]:
        out = attack(worker, op, pid=pid)
        assert not out["ok"], (op, out)
    assert attack(inprocess, "vm_readv", pid=inprocess.proc.pid)["ok"]
    assert attack(inprocess, "kill", pid=inprocess.proc.pid)["ok"]
    still_serving(worker)


def test_a_malloc_bomb_stops_at_the_memory_limit(plugin_dir, serve):
    pd, _ = escape_dir(plugin_dir, runtime={"memory_mb": 64})
    srv = serve(pd)
    srv.initialize()
    out = attack(srv, "malloc_bomb", n=1024)
    assert not out["ok"], out
    mib = int(out["detail"].split("after ")[1].split(" ")[0])
    assert mib < 64, out
    still_serving(srv)


@pytest.mark.parametrize("op,how", [("exit", "exited with status 3"), ("abort", "killed by"), ("segv", "SIGSEGV")])
def test_a_worker_that_dies_mid_call_fails_only_that_call(worker, op, how):
    res = worker.call("escape__try", {"op": op})
    assert error_kind(res) == "unavailable", res
    assert how in res["structuredContent"]["message"], res
    assert res["structuredContent"]["retryAfterMs"] > 0
    still_serving(worker)
    assert run_cli(worker_bin(), "audit", "verify", str(worker.audit)).returncode == 0


def worker_bin():
    from conftest import BIN
    return BIN


def test_garbage_on_the_channel_kills_the_worker(worker):
    res = worker.call("escape__try", {"op": "garbage"})
    assert error_kind(res) == "unavailable", res
    assert "protocol" in res["structuredContent"]["message"], res
    still_serving(worker)
    assert "protocol" in worker.stderr_text()


def test_a_workers_raw_output_is_logged_escaped_as_its_own(worker):
    assert attack(worker, "stderr")["ok"]
    deadline = time.monotonic() + 5
    while "worker output: raw" not in worker.stderr_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    text = worker.stderr_text()
    assert "plugin 'escape' worker output: raw \\u{1b}[31mred" in text, text[-2000:]
    assert "\x1b" not in text
    # The forged line is a line of the worker's output, not one of the core's.
    assert "worker output: 2026-01-01T00:00:00Z error bulkhead: forged" in text
    assert not any(l.startswith("2026-01-01T00:00:00Z") for l in text.splitlines())


def test_an_endless_loop_is_answered_timeout_and_its_worker_replaced(plugin_dir, serve):
    pd, _ = escape_dir(plugin_dir, runtime={"cancel_grace_ms": 200}, limits={"deadline_ms": 300})
    srv = serve(pd)
    srv.initialize()
    started = time.monotonic()
    res = srv.call("escape__try", {"op": "spin"}, timeout=10)
    assert error_kind(res) == "timeout", res
    assert time.monotonic() - started < 3
    time.sleep(1.0)  # past the grace: the worker is killed and started again
    assert "ignored its cancellation" in srv.stderr_text()
    still_serving(srv)


# ------------------------------------------------------- crash and restart


def test_a_plugin_that_crashes_every_third_call_serves_two_of_three(worker):
    outcomes = []
    for _ in range(9):
        res = worker.call("escape__try", {"op": "crash_third"})
        outcomes.append("ok" if not res.get("isError") else error_kind(res))
        if res.get("isError"):
            time.sleep(res["structuredContent"].get("retryAfterMs", 100) / 1000 + 0.05)
            still_serving(worker)
    assert outcomes.count("ok") == 6 and outcomes.count("unavailable") == 3, outcomes


def test_a_plugin_that_crashes_in_init_is_refused(plugin_dir, serve):
    pd, _ = escape_dir(plugin_dir, config={"crash_init": "yes"})
    srv = serve(pd)
    srv.initialize()
    assert "escape__ping" not in srv.tool_names()
    assert "bench__add" in srv.tool_names()
    line = [l for l in srv.stderr_text().splitlines() if "refused plugin 'escape'" in l]
    assert line and "during init" in line[0], srv.stderr_tail()


def test_a_crash_loop_fails_the_plugin_after_its_budget(plugin_dir, serve):
    pd, _ = escape_dir(plugin_dir, runtime={"restart_budget": 2})
    pd.link("admin")
    srv = serve(pd, principal="ops")
    srv.initialize()
    for _ in range(3):
        res = srv.call("escape__try", {"op": "abort"})
        assert error_kind(res) == "unavailable", res
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            res = srv.call("escape__ping")
            if not res.get("isError") or "failed" in res["structuredContent"]["message"]:
                break
            time.sleep(0.1)
    assert "escape__ping" not in srv.tool_names()
    res = srv.call("escape__ping")
    assert error_kind(res) == "unavailable" and "failed" in res["structuredContent"]["message"], res
    res = srv.call("admin__status")
    status = {p["name"]: p for p in res["structuredContent"]["plugins"]}
    assert "restart budget" in tool_text(res)
    assert status["escape"]["health"] == "failed"
    assert status["escape"]["runtime"]["state"] == "failed"
    assert "restart budget" in status["escape"]["runtime"]["reason"]
    assert tool_text(srv.call("bench__add", {"a": 1, "b": 1})) == "2"
