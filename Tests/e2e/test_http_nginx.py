"""The README's nginx snippet, run as written: TLS in nginx, Bulkhead on
loopback behind it, the official SDK as the client (including a consent
question over SSE, which only works if nginx passes events on unbuffered)."""

from __future__ import annotations

import os
import re
import shutil
import socket
import ssl
import subprocess
import time
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from conftest import REPO
from httpserver import start_http
from test_http import TOKENS, structured, token_config
from test_interop import accept_consent

pytestmark = pytest.mark.skipif(shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists(),
                                reason="nginx (Debian's nginx-light) is not installed")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def readme_snippet() -> str:
    text = (REPO / "README.md").read_text()
    m = re.search(r"<!-- nginx-snippet -->\s*```nginx\n(.*?)```\s*<!-- /nginx-snippet -->", text, re.S)
    assert m, "the README lost its nginx snippet"
    return m.group(1)


def test_readme_nginx_snippet_serves_the_sdk_over_tls(bulkhead_bin, plugin_dir, tmp_path):
    nport, bport = free_port(), free_port()
    cert, key = tmp_path / "mcp.crt", tmp_path / "mcp.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    server = (readme_snippet()
              .replace("listen 443 ssl;", f"listen 127.0.0.1:{nport} ssl;")
              .replace("server_name mcp.example.com;", "server_name localhost;")
              .replace("/etc/ssl/mcp.example.com.crt", str(cert))
              .replace("/etc/ssl/mcp.example.com.key", str(key))
              .replace("http://127.0.0.1:8080", f"http://127.0.0.1:{bport}"))
    conf = tmp_path / "nginx.conf"
    user = "user root;\n" if os.geteuid() == 0 else ""
    conf.write_text(f"""{user}worker_processes 1;
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/nginx-error.log;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {tmp_path}/body;
    proxy_temp_path {tmp_path}/proxy;
    fastcgi_temp_path {tmp_path}/fastcgi;
    uwsgi_temp_path {tmp_path}/uwsgi;
    scgi_temp_path {tmp_path}/scgi;
{server}
}}
""")
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    proc = subprocess.Popen([nginx, "-p", str(tmp_path), "-c", str(conf), "-g", "daemon off;"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    pd = plugin_dir("bench", "tickets")
    public = f"https://localhost:{nport}/mcp"
    cfg = token_config(tmp_path, extra=f'\n[http]\nlisten = "127.0.0.1:{bport}"\npublic_url = "{public}"\n')
    srv = None
    try:
        srv = start_http(bulkhead_bin, pd.path, tmp_path, config=cfg, listen=f"127.0.0.1:{bport}")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", nport), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)

        async def session(mode):
            http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKENS['alice']}"}, verify=ssl.create_default_context(cafile=str(cert)),
                                      timeout=httpx2.Timeout(30, read=300))
            async with Client(streamable_http_client(public, http_client=http), mode=mode, read_timeout_seconds=30,
                              elicitation_callback=accept_consent) as client:
                add = await client.call_tool("bench__add", {"a": 40, "b": 2})
                assert add.content[0].text == "42"
                # A write: its consent question crosses nginx as an SSE event (legacy) or a retry (2026).
                made = await client.call_tool("tickets__create", {"title": f"via nginx {mode}", "body": "tls"})
                assert not made.is_error, made
                assert structured(made)["id"]

        anyio.run(session, "legacy")
        anyio.run(session, "2026-07-28")
    finally:
        if srv:
            srv.stop()
        proc.terminate()
        proc.wait(10)
