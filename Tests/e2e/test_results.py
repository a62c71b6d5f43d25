"""Results are what the manifest says, and secrets stay secret: the results
fixture plugin hands back structured content that breaks its output schema,
says nothing, hands over results far past its size limit, and puts its
granted secret everywhere a result can carry it. Each test checks what the
client got and, through the plugin's log or a second result, what the plugin
was told."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from conftest import FIXTURES
from rawclient import error_kind, tool_text
from test_interop import run, sdk_client, structured

SECRET = (FIXTURES / "results" / "secret.txt").read_text().strip()
MIB = 1 << 20


@pytest.fixture
def results(plugin_dir, serve):
    s = serve(plugin_dir("results"))
    s.initialize()
    return s


def message(res: dict) -> str:
    return (res.get("structuredContent") or {}).get("message", "")


def peak_rss(pid: int) -> int:
    """The process's peak resident set size (VmHWM), in bytes."""
    status = Path(f"/proc/{pid}/status").read_text()
    (kib,) = re.findall(r"^VmHWM:\s+(\d+) kB$", status, re.M)
    return int(kib) * 1024


# ----------------------------------------------------------------------------- output schema


def test_structured_content_that_breaks_the_output_schema_is_internal(results):
    res = results.call("results__shape", {"mode": "bad"})
    assert error_kind(res) == "internal", res
    assert "plugin 'results' returned BH_OK from tool 'shape' without a result" in message(res)
    assert "count must be an integer (got a string)" in message(res)
    # What the plugin was told, from its own log line.
    assert re.search(r"shape: BH_E_INVALID: result_json: the structured content does not match "
                     r"the output_schema of 'shape': count must be an integer", results.stderr_text())


def test_the_plugin_sees_the_refusal_and_may_answer_again(results):
    res = results.call("results__shape", {"mode": "report"})
    assert not res.get("isError"), res
    saw = res["structuredContent"]["saw"]
    assert saw.startswith("BH_E_INVALID: ") and "count must be an integer" in saw, saw
    assert res["structuredContent"]["count"] == 0


def test_matching_structured_content_passes_and_the_schema_is_listed(results):
    res = results.call("results__shape", {"mode": "good"})
    assert not res.get("isError") and res["structuredContent"] == {"count": 3}
    (shape,) = [t for t in results.list_tools() if t["name"] == "results__shape"]
    assert shape["outputSchema"]["required"] == ["count"]


def test_a_tool_with_an_output_schema_must_set_structured_content(results):
    res = results.call("results__shape", {"mode": "text_only"})
    assert error_kind(res) == "internal"
    assert "declares an output_schema but set no structured content" in message(res)


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
def test_the_official_sdk_accepts_what_passes_the_output_schema(tmp_path, bulkhead_bin, plugin_dir, mode):
    pd = plugin_dir("results")

    async def main():
        async with sdk_client(tmp_path, bulkhead_bin, pd.path, mode) as client:
            good = await client.call_tool("results__shape", {"mode": "good"})
            assert not good.is_error and structured(good) == {"count": 3}
            bad = await client.call_tool("results__shape", {"mode": "bad"})
            assert bad.is_error and structured(bad)["kind"] == "internal"

    run(main)


# ----------------------------------------------------------------------------- nothing set


def test_bh_ok_without_a_result_is_internal_naming_the_plugin(results):
    res = results.call("results__silent", {})
    assert error_kind(res) == "internal", res
    assert message(res) == "plugin 'results' returned BH_OK from tool 'silent' without a result"


# ----------------------------------------------------------------------------- size


@pytest.mark.parametrize("via", ["text", "json"])
def test_a_100_mib_result_is_refused_before_it_is_copied(results, via):
    pid = results.proc.pid
    assert not results.call("results__shape", {"mode": "good"}).get("isError")  # warm
    before = peak_rss(pid)
    res = results.call("results__huge", {"via": via, "mib": 100}, timeout=60)
    after = peak_rss(pid)
    assert error_kind(res) == "too_large", res
    assert "1048576" in message(res) and len(json.dumps(res)) < 5000
    assert after - before < 30 * MIB, f"peak RSS grew by {(after - before) / MIB:.1f} MiB"
    log = results.stderr_text()
    assert f"huge {via}: BH_E_TOO_LARGE: result_{via}: {100 * MIB} bytes would take the result past" in log
    # The server goes on serving.
    assert results.call("results__shape", {"mode": "good"})["structuredContent"] == {"count": 3}


def test_the_size_limit_counts_text_and_structured_content_together(results):
    res = results.call("results__huge", {"via": "cumulative"})
    assert error_kind(res) == "too_large", res
    log = results.stderr_text()
    assert "huge cumulative text: BH_OK" in log
    assert "huge cumulative json: BH_E_TOO_LARGE" in log and "614400 already set" in log


# ----------------------------------------------------------------------------- secrets


def test_a_secret_in_a_text_block_is_redacted(results):
    res = results.call("results__leak", {"where": "text"})
    assert not res.get("isError"), res
    assert tool_text(res) == "the token is [redacted]!"
    assert SECRET not in json.dumps(res)


def test_a_secret_anywhere_in_structured_content_is_redacted_and_it_stays_json(results):
    res = results.call("results__leak", {"where": "json"})
    assert not res.get("isError"), res
    sc = res["structuredContent"]
    assert sc == {"outer": {"list": ["x [redacted] y", {"deep": "[redacted]"}]}, "[redacted]": 1,
                  "escaped": "[redacted]"}
    # The text block for clients that ignore structured content is the same JSON.
    assert json.loads(tool_text(res)) == sc
    assert SECRET not in json.dumps(res)


def test_a_secret_in_an_error_message_is_redacted(results):
    res = results.call("results__leak", {"where": "error"})
    assert error_kind(res) == "unavailable"
    assert message(res) == "upstream refused token [redacted]"
    assert SECRET not in json.dumps(res)


def test_last_error_never_holds_a_secret(results):
    res = results.call("results__leak", {"where": "last_error"})
    sc = res["structuredContent"]
    assert sc["status"] == "BH_E_NOT_FOUND"
    assert sc["secret_in_last_error"] is False, sc  # the plugin looked, before any result was redacted
    assert sc["last_error"] == "capability '[redacted]' is not requested in manifest.toml"


def test_structured_content_is_checked_against_the_schema_after_redaction(results):
    res = results.call("results__leak_checked", {})
    assert error_kind(res) == "internal", res
    assert "token must match the pattern" in message(res)
    assert "leak_checked: BH_E_INVALID: result_json: the structured content does not match" in results.stderr_text()


def test_the_secret_reaches_neither_client_nor_log(results):
    for where in ("text", "json", "error", "last_error"):
        results.call("results__leak", {"where": where})
    results.call("results__leak_checked", {})
    assert all(SECRET.encode() not in line for line in results.lines)
    assert SECRET not in results.stderr_text()
