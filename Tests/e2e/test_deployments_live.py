"""deployments__live: the example that uses a secret and outbound HTTP. A fake
deploy controller on loopback checks the bearer token the plugin sends."""

from __future__ import annotations

import http.server
import json
import threading

import pytest

from rawclient import error_kind, tool_text

TOKEN = "ctl-token-5b1e77"


class Controller(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.server.seen.append((self.path, self.headers.get("Authorization")))  # type: ignore[attr-defined]
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            code, body = 401, b'{"error":"bad token"}'
        elif self.path == "/v1/services/checkout/production":
            code, body = 200, json.dumps({"version": "2.14.1", "replicas": 6, "healthy": 6}).encode()
        elif self.path == "/v1/services/broken/production":
            code, body = 200, b"<html>not json</html>"
        elif self.path == "/v1/services/flaky/production":
            code, body = 503, b"{}"
        else:
            code, body = 404, b"{}"
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


@pytest.fixture
def controller():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Controller)
    srv.seen = []  # type: ignore[attr-defined]
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv
    srv.shutdown()


def connected(plugin_dir, controller, tmp_path, token=TOKEN):
    pd = plugin_dir()
    folder = pd.copy("deployments")
    port = controller.server_address[1]
    (tmp_path / "token").write_text(token + "\n")
    policy = folder / "policy.toml"
    policy.write_text(
        policy.read_text().replace("# controller_url", "controller_url").replace("https://deploy.internal:8443", f"http://127.0.0.1:{port}", 1)
        + f"""
[grants.controller]
origins = ["http://127.0.0.1:{port}"]
timeout_ms = 3000

[grants.controller_token]
file = "{tmp_path / 'token'}"
"""
    )
    return pd


def test_live_asks_the_controller_with_the_granted_token(plugin_dir, controller, tmp_path, serve):
    s = serve(connected(plugin_dir, controller, tmp_path))
    s.initialize()
    res = s.call("deployments__live", {"service": "checkout"})
    assert not res.get("isError"), res
    sc = res["structuredContent"]
    assert sc["live"] == {"version": "2.14.1", "replicas": 6, "healthy": 6}
    assert sc["source"]["controller"].endswith("/v1/services/checkout/production")
    assert sc["source"]["fetched"]
    assert "2.14.1" in tool_text(res)
    assert controller.seen == [("/v1/services/checkout/production", f"Bearer {TOKEN}")]
    s.shutdown()
    assert TOKEN not in s.stderr_text()


@pytest.mark.parametrize(
    "service,kind",
    [("nosuch", "not_found"), ("flaky", "unavailable"), ("broken", "unavailable")],
)
def test_live_maps_the_controllers_answers(plugin_dir, controller, tmp_path, serve, service, kind):
    s = serve(connected(plugin_dir, controller, tmp_path))
    s.initialize()
    res = s.call("deployments__live", {"service": service})
    assert res.get("isError") and error_kind(res) == kind, res


def test_live_with_a_wrong_token_is_unavailable(plugin_dir, controller, tmp_path, serve):
    s = serve(connected(plugin_dir, controller, tmp_path, token="wrong-token"))
    s.initialize()
    res = s.call("deployments__live", {"service": "checkout"})
    assert error_kind(res) == "unavailable" and "credentials" in tool_text(res)


def test_live_without_a_controller_is_unavailable_and_the_record_still_answers(plugin_dir, serve):
    s = serve(plugin_dir("deployments"))
    s.initialize()
    res = s.call("deployments__live", {"service": "checkout"})
    assert error_kind(res) == "unavailable" and "no deploy controller" in tool_text(res)
    assert not s.call("deployments__status", {}).get("isError")


def test_live_refuses_names_that_would_change_the_url(plugin_dir, controller, tmp_path, serve):
    s = serve(connected(plugin_dir, controller, tmp_path))
    s.initialize()
    for bad in ["../admin", "checkout?x=1", "a/b", ""]:
        res = s.call("deployments__live", {"service": bad})
        assert error_kind(res) == "invalid_argument", (bad, res)
    assert controller.seen == []
