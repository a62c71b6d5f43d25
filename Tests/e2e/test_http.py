"""Streamable HTTP: the official Python SDK (mcp 2.3.0) in every mode, and the
transport's walls (tokens, sessions, origins, headers) tested raw."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import anyio
import httpx2
import mcp_types
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from conftest import EXAMPLE_PLUGINS, EXAMPLES
from httpserver import (LEGACY, MODERN, messages, modern_headers, modern_meta, post_modern, start_http,
                        write_config)
from test_interop import accept_consent

MODES = ["legacy", "auto", MODERN]
EXPECTED_VERSION = {"legacy": LEGACY, "auto": MODERN, MODERN: MODERN}

TOKENS = {
    "alice": "bh_alice-token-for-tests-0123456789abcdefghij",
    "bob": "bh_bob-token-for-tests-0123456789abcdefghijkl",
    "ops": "bh_ops-token-for-tests-0123456789abcdefghijkl",
}


def token_config(tmp_path: Path, extra: str = "") -> Path:
    def h(name):
        return hashlib.sha256(TOKENS[name].encode()).hexdigest()

    return write_config(tmp_path, f"""
default_principal = "alice"

[principals.alice]
tenant = "acme"
scopes = ["docs.read", "tickets.read", "tickets.write", "deployments.read"]
token_sha256 = "{h('alice')}"

[principals.bob]
tenant = "globex"
scopes = ["docs.read", "tickets.read", "tickets.write"]
token_sha256 = ["{h('bob')}"]

[principals.ops]
tenant = "acme"
scopes = ["admin", "deployments.read"]
token_sha256 = "{h('ops')}"

[audit]
path = "audit.jsonl"
{extra}
""")


def sdk(url: str, mode: str, token: str | None, consent: bool = True) -> Client:
    headers = {"Authorization": f"Bearer {token}"} if token else None
    return Client(
        streamable_http_client(url, http_client=create_mcp_http_client(headers=headers)),
        mode=mode,
        read_timeout_seconds=30,
        elicitation_callback=accept_consent if consent else None,
    )


def structured(res) -> dict:
    return res.structured_content or {}


@pytest.fixture
def token_server(bulkhead_bin, plugin_dir, tmp_path):
    servers = []

    def start(*names, extra_config: str = "", args: tuple = ()):
        pd = plugin_dir(*(names or EXAMPLE_PLUGINS))
        cfg = token_config(tmp_path, extra_config)
        s = start_http(bulkhead_bin, pd.path, tmp_path, *args, config=cfg)
        s.config = cfg
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.stop()


@pytest.mark.parametrize("mode", MODES)
def test_sdk_over_http_lists_and_calls_every_example_plugin(token_server, mode):
    srv = token_server()
    report: dict[str, Any] = {}

    async def main():
        async with sdk(srv.url, mode, TOKENS["alice"]) as client:
            assert client.protocol_version == EXPECTED_VERSION[mode]
            names = [t.name for t in (await client.list_tools()).tools]
            report["names"] = names
            hits = await client.call_tool("docs__search", {"query": "deploy", "limit": 3})
            assert not hits.is_error, hits
            first = structured(hits)["hits"][0]["source"]
            assert first.startswith("acme/"), first
            doc = await client.call_tool("docs__fetch", {"path": first})
            assert not doc.is_error, doc
            assert not (await client.call_tool("deployments__status", {})).is_error
            add = await client.call_tool("bench__add", {"a": 19, "b": 23})
            assert add.content[0].text == "42"
            created = await client.call_tool("tickets__create", {"title": f"http {mode}", "body": "over HTTP"})
            assert not created.is_error, created  # consent: elicitation over SSE, or input_required retries
            tid = structured(created)["id"]
            got = await client.call_tool("tickets__get", {"id": tid})
            assert not got.is_error, got

        async with sdk(srv.url, mode, TOKENS["ops"]) as client:
            report["ops"] = [t.name for t in (await client.list_tools()).tools]
            assert not (await client.call_tool("admin__status", {})).is_error

    anyio.run(main)
    assert "docs__search" in report["names"] and not any(n.startswith("admin__") for n in report["names"])
    assert "admin__status" in report["ops"]
