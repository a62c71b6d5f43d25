"""OAuth 2.1 JWT access tokens over Streamable HTTP, as an attacker and an operator use them.

The tests sign their own tokens (RS256 and ES256, a tiny JWS signer over the
`cryptography` package) against JWKS documents they write or serve, and check:
a good token works end to end with the official SDK in every mode; every forged,
stale or misdirected token is refused with 401 and an RFC 6750 challenge that
points to the RFC 9728 metadata, counted under its own metric label; unknown
`kid`s refetch the keys at most once per window, rotation is followed and the
last good keys survive an issuer outage; the metadata names the URL clients use;
no token reaches the log or the audit trail; a bad `[oauth]` stops the start.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import socket
import subprocess
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import anyio
import httpx2
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, x25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from conftest import REPO, PluginDir
from httpserver import LEGACY, MODERN, metric, modern_headers, modern_meta, start_http

MODES = ["legacy", "auto", MODERN]
EXPECTED_VERSION = {"legacy": LEGACY, "auto": MODERN, MODERN: MODERN}
ISSUER = "https://issuer.test/"
OTHER_ISSUER = "https://second-issuer.test/"

# ---------------------------------------------------------------- keys and a tiny JWS signer


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def int_bytes(n: int, length: int | None = None) -> bytes:
    return n.to_bytes(length or (n.bit_length() + 7) // 8, "big")


RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
RSA_KEY_2 = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # the rotated-in key
ATTACKER_RSA = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
ATTACKER_EC = ec.generate_private_key(ec.SECP256R1())


def jwk(key, kid: str, alg: str | None = None) -> dict:
    """The public JWK of a private key, with its kid."""
    pub = key.public_key()
    if isinstance(pub, rsa.RSAPublicKey):
        n = pub.public_numbers()
        out = {"kty": "RSA", "kid": kid, "use": "sig", "n": b64url(int_bytes(n.n)), "e": b64url(int_bytes(n.e))}
    else:
        n = pub.public_numbers()
        out = {"kty": "EC", "kid": kid, "use": "sig", "crv": "P-256",
               "x": b64url(int_bytes(n.x, 32)), "y": b64url(int_bytes(n.y, 32))}
    if alg:
        out["alg"] = alg
    return out


def jwks(*keys: dict) -> dict:
    return {"keys": list(keys)}


JWKS_DOC = jwks(jwk(RSA_KEY, "rsa-1", "RS256"), jwk(EC_KEY, "ec-1"))

# Keys an issuer may well publish that jwt-kit cannot load: an X25519 (key agreement)
# key without `use`, a secp256k1 key, a legacy 1024-bit RSA key.
UNLOADABLE = [
    {"kty": "OKP", "crv": "X25519", "kid": "x25519-enc", "x": b64url(x25519.X25519PrivateKey.generate().public_key()
                                                                    .public_bytes(serialization.Encoding.Raw,
                                                                                  serialization.PublicFormat.Raw))},
    {**jwk(ec.generate_private_key(ec.SECP256K1()), "k1"), "crv": "secp256k1"},
    jwk(rsa.generate_private_key(public_exponent=65537, key_size=1024), "rsa-1024"),
]

#: Every token the tests minted: none may ever be found in a log or the audit trail.
MINTED: list[str] = []


def signing_input(header: dict, claims: dict) -> bytes:
    return (b64url(json.dumps(header, separators=(",", ":")).encode()) + "."
            + b64url(json.dumps(claims, separators=(",", ":")).encode())).encode()


def sign(header: dict, claims: dict, key=None, *, secret: bytes | None = None) -> str:
    """A compact JWS. RS256 (PKCS#1 v1.5), ES256 (raw r||s, 64 bytes), HS256 with `secret`, none."""
    si = signing_input(header, claims)
    alg = header.get("alg")
    if alg == "RS256":
        sig = key.sign(si, padding.PKCS1v15(), hashes.SHA256())
    elif alg == "ES256":
        r, s = decode_dss_signature(key.sign(si, ec.ECDSA(hashes.SHA256())))
        sig = int_bytes(r, 32) + int_bytes(s, 32)
    elif alg == "HS256":
        sig = hmac.new(secret, si, hashlib.sha256).digest()
    elif alg.lower() == "none":
        sig = b""
    else:
        raise ValueError(alg)
    token = si.decode() + "." + b64url(sig)
    MINTED.append(token)
    return token


def claims_for(aud, **over) -> dict:
    now = int(time.time())
    c = {"iss": ISSUER, "aud": aud, "sub": "carol", "org": "acme", "scope": "docs.read tickets.read",
         "iat": now - 5, "nbf": now - 5, "exp": now + 600, "jti": uuid.uuid4().hex}
    for k, v in over.items():
        if v is None:
            c.pop(k, None)
        else:
            c[k] = v
    return c


def rs256(claims: dict, kid: str | None = "rsa-1", key=RSA_KEY, typ: str | None = "at+jwt", **extra) -> str:
    header = {"alg": "RS256", "typ": typ, "kid": kid, **extra}
    return sign({k: v for k, v in header.items() if v is not None}, claims, key)


def es256(claims: dict, kid: str | None = "ec-1", key=EC_KEY, typ: str | None = "at+jwt") -> str:
    header = {"alg": "ES256", "typ": typ, "kid": kid}
    return sign({k: v for k, v in header.items() if v is not None}, claims, key)


def rsa_public_pem(key=RSA_KEY) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


# ---------------------------------------------------------------- small helpers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prm_url(resource: str) -> str:
    """RFC 9728 §3.1: the well-known segment inserted between the origin and the path."""
    m = re.match(r"^(https?://[^/]+)(/.*)?$", resource)
    path = m.group(2) or ""
    return m.group(1) + "/.well-known/oauth-protected-resource" + ("" if path == "/" else path)


def challenge(resp) -> dict:
    """The auth-params of a `Bearer` WWW-Authenticate header."""
    value = resp.headers.get("www-authenticate", "")
    assert value.startswith("Bearer "), f"not a Bearer challenge: {value!r}"
    return dict(re.findall(r'(\w+)="([^"]*)"', value))


def auth_failures(srv, reason: str) -> float:
    return metric(HTTP.get(srv.metrics + "/metrics").text, "bulkhead_auth_failures_total", reason=reason)


#: One keep-alive client for the raw requests: a fresh one costs tens of milliseconds each.
HTTP = httpx2.Client(timeout=30)


def post(url: str, method: str, params: dict, authorization: str | None):
    """A 2026-07-28 request with exactly this Authorization header (or none)."""
    headers = modern_headers(method, params.get("name"))
    if authorization is not None:
        headers["Authorization"] = authorization
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": {**params, "_meta": modern_meta()}}
    return HTTP.post(url, content=json.dumps(body), headers=headers)


def list_tools(url: str, authorization: str | None):
    return post(url, "tools/list", {}, authorization)


def call_caller(url: str, authorization: str) -> dict:
    r = post(url, "tools/call", {"name": "echo__caller", "arguments": {}}, authorization)
    assert r.status_code == 200, (r.status_code, r.headers.get("www-authenticate"), r.text)
    result = r.json()["result"]
    assert not result.get("isError"), result
    return result["structuredContent"]


def config_text(jwks_line: str, extra_oauth: str = "", extra: str = "") -> str:
    # A principal for the (unused) default: the configuration requires one; with
    # [oauth] every request must carry a token, so it never serves anyone.
    return f"""
default_principal = "nobody"

[principals.nobody]
tenant = "none"
scopes = []

[audit]
path = "audit.jsonl"

[oauth]
issuers = ["{ISSUER}", "{OTHER_ISSUER}"]
{jwks_line}
{extra_oauth}
{extra}
"""


def start_oauth_server(bulkhead_bin, folder: Path, config: str, *, port: int | None = None, metrics=False,
                       jwks_doc: dict | None = JWKS_DOC):
    folder.mkdir(parents=True, exist_ok=True)
    if jwks_doc is not None:
        (folder / "jwks.json").write_text(json.dumps(jwks_doc))
    cfg = folder / "bulkhead.toml"
    cfg.write_text(config)
    plugins = PluginDir(folder / "plugins").add("echo")
    srv = start_http(bulkhead_bin, plugins.path, folder, config=cfg, metrics=metrics,
                     listen=f"127.0.0.1:{port if port is not None else free_port()}")
    srv.folder = folder
    return srv


# ---------------------------------------------------------------- the shared server


@pytest.fixture(scope="module")
def oauth_server(bulkhead_bin, tmp_path_factory):
    """A file-JWKS server on a known port: default audience (its own URL), tenant from `org`, typ required."""
    srv = start_oauth_server(
        bulkhead_bin, tmp_path_factory.mktemp("oauth"),
        config_text('jwks_file = "jwks.json"', """
tenant_claim = "org"
scopes_supported = ["docs.read", "tickets.read"]
leeway_seconds = 60
required_typ = "at+jwt"
"""), metrics=True)
    yield srv
    srv.stop()


def good_token(srv, **over) -> str:
    return rs256(claims_for(over.pop("aud", srv.url), **over))


# ---------------------------------------------------------------- a good token, end to end


def sdk(url: str, mode: str, token: str) -> Client:
    return Client(
        streamable_http_client(url, http_client=create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})),
        mode=mode,
        read_timeout_seconds=30,
    )


@pytest.mark.parametrize("mode", MODES)
def test_valid_tokens_work_end_to_end_with_the_sdk(oauth_server, mode):
    """RS256 with `scope`, ES256 with an `scp` list: principal = sub, tenant = org, the token's scopes."""
    url = oauth_server.url
    rsa_token = rs256(claims_for(url, sub="carol", org="acme", scope="docs.read tickets.read"))
    ec_token = es256(claims_for(url, sub="dave", org="globex", scope=None, scp=["docs.read", "tickets.write"]))
    seen = {}

    async def main():
        async with sdk(url, mode, rsa_token) as client:
            assert client.protocol_version == EXPECTED_VERSION[mode]
            names = [t.name for t in (await client.list_tools()).tools]
            assert "echo__caller" in names, names
            res = await client.call_tool("echo__caller", {})
            assert not res.is_error, res
            seen["rsa"] = res.structured_content
        async with sdk(url, mode, ec_token) as client:
            res = await client.call_tool("echo__caller", {})
            assert not res.is_error, res
            seen["ec"] = res.structured_content

    anyio.run(main)
    assert seen["rsa"]["principal"] == "carol" and seen["rsa"]["tenant"] == "acme"
    assert seen["rsa"]["scopes"].split() == ["docs.read", "tickets.read"]
    assert seen["ec"]["principal"] == "dave" and seen["ec"]["tenant"] == "globex"
    assert seen["ec"]["scopes"].split() == ["docs.read", "tickets.write"]


def test_scheme_is_case_insensitive_and_aud_may_be_a_list(oauth_server):
    url = oauth_server.url
    assert call_caller(url, "bearer " + good_token(oauth_server))["principal"] == "carol"
    assert call_caller(url, "BEARER " + good_token(oauth_server))["principal"] == "carol"
    listed = rs256(claims_for(["https://elsewhere.example/api", url], sub="erin"))
    assert call_caller(url, "Bearer " + listed)["principal"] == "erin"
    # Every configured issuer is accepted; `scp` may also be a space-separated string.
    second = rs256(claims_for(url, iss=OTHER_ISSUER, sub="frank", scope=None, scp="a.b c.d"))
    who = call_caller(url, "Bearer " + second)
    assert who["principal"] == "frank" and who["scopes"].split() == ["a.b", "c.d"]
    # Clock skew within the leeway (60 s) is tolerated on exp and nbf.
    now = int(time.time())
    skewed = rs256(claims_for(url, exp=now - 20, nbf=now + 20, iat=now + 20))
    assert call_caller(url, "Bearer " + skewed)["principal"] == "carol"


# ---------------------------------------------------------------- attacks


def _attacks():
    """(id, function srv -> Authorization header value or None, expected metric label)."""
    now = int(time.time())

    def tampered(srv):
        h, _, s = good_token(srv).split(".")
        forged = b64url(json.dumps(claims_for(srv.url, sub="admin", org="victim")).encode())
        t = f"{h}.{forged}.{s}"
        MINTED.append(t)
        return "Bearer " + t

    def flipped_signature(srv):
        h, p, s = es256(claims_for(srv.url)).split(".")
        raw = bytearray(base64.urlsafe_b64decode(s + "=="))
        raw[10] ^= 1
        t = f"{h}.{p}.{b64url(bytes(raw))}"
        MINTED.append(t)
        return "Bearer " + t

    return [
        ("no token", lambda srv: None, "missing"),
        ("basic scheme", lambda srv: "Basic " + base64.b64encode(b"carol:secret").decode(), "malformed"),
        ("basic x", lambda srv: "Basic x", "malformed"),
        ("bearer alone", lambda srv: "Bearer", "malformed"),
        ("two tokens", lambda srv: "Bearer " + good_token(srv) + "  " + good_token(srv), "malformed"),
        ("not a b64token", lambda srv: "Bearer " + good_token(srv) + ",x", "malformed"),
        ("not a jwt", lambda srv: "Bearer abc.def.ghi", "malformed_jwt"),
        ("expired", lambda srv: "Bearer " + good_token(srv, iat=now - 7200, nbf=now - 7200, exp=now - 3600), "expired"),
        ("expired past leeway", lambda srv: "Bearer " + good_token(srv, exp=now - 90), "expired"),
        ("not yet valid", lambda srv: "Bearer " + good_token(srv, nbf=now + 3600), "not_yet_valid"),
        ("issued in the future", lambda srv: "Bearer " + good_token(srv, iat=now + 3600), "issued_in_future"),
        ("wrong issuer", lambda srv: "Bearer " + good_token(srv, iss="https://evil.test/"), "wrong_issuer"),
        ("issuer not exact", lambda srv: "Bearer " + good_token(srv, iss=ISSUER.rstrip("/")), "wrong_issuer"),
        ("no issuer", lambda srv: "Bearer " + good_token(srv, iss=None), "wrong_issuer"),
        ("wrong audience", lambda srv: "Bearer " + good_token(srv, aud="https://api.other.example/"), "wrong_audience"),
        ("token for another resource", lambda srv: "Bearer " + good_token(
            srv, aud=srv.url.replace(srv.url.split("/")[2], f"127.0.0.1:{free_port()}")), "wrong_audience"),
        ("audience list without us", lambda srv: "Bearer " + good_token(
            srv, aud=["https://a.example/", srv.url + "/other"]), "wrong_audience"),
        ("no audience", lambda srv: "Bearer " + good_token(srv, aud=None), "wrong_audience"),
        ("tampered payload", tampered, "bad_signature"),
        ("flipped signature bit", flipped_signature, "bad_signature"),
        ("signed by another key under our kid", lambda srv: "Bearer " + rs256(
            claims_for(srv.url), kid="rsa-1", key=ATTACKER_RSA), "bad_signature"),
        ("embedded jwk of the attacker", lambda srv: "Bearer " + rs256(
            claims_for(srv.url), kid="rsa-1", key=ATTACKER_RSA, jwk=jwk(ATTACKER_RSA, "rsa-1")), "bad_signature"),
        ("EC token naming the RSA kid", lambda srv: "Bearer " + es256(claims_for(srv.url), kid="rsa-1"), "bad_signature"),
        ("attacker EC key under our kid", lambda srv: "Bearer " + es256(
            claims_for(srv.url), kid="ec-1", key=ATTACKER_EC), "bad_signature"),
        ("alg none", lambda srv: "Bearer " + sign({"alg": "none", "typ": "at+jwt", "kid": "rsa-1"},
                                                  claims_for(srv.url)), "bad_algorithm"),
        ("alg None", lambda srv: "Bearer " + sign({"alg": "None", "typ": "at+jwt", "kid": "rsa-1"},
                                                  claims_for(srv.url)) + "AAAA", "bad_algorithm"),
        ("HS256 with the RSA public key PEM", lambda srv: "Bearer " + sign(
            {"alg": "HS256", "typ": "at+jwt", "kid": "rsa-1"}, claims_for(srv.url), secret=rsa_public_pem()),
         "bad_algorithm"),
        ("missing kid", lambda srv: "Bearer " + rs256(claims_for(srv.url), kid=None), "no_kid"),
        ("unknown kid", lambda srv: "Bearer " + rs256(claims_for(srv.url), kid="made-up-kid"), "unknown_kid"),
        ("unknown kid, attacker key", lambda srv: "Bearer " + rs256(
            claims_for(srv.url), kid="attacker", key=ATTACKER_RSA, jwk=jwk(ATTACKER_RSA, "attacker")), "unknown_kid"),
        ("missing exp", lambda srv: "Bearer " + good_token(srv, exp=None), "no_expiry"),
        ("wrong typ", lambda srv: "Bearer " + rs256(claims_for(srv.url), typ="JWT"), "bad_type"),
        ("no sub", lambda srv: "Bearer " + good_token(srv, sub=None), "no_principal"),
        ("no tenant claim", lambda srv: "Bearer " + good_token(srv, org=None), "no_tenant"),
    ]


ATTACKS = _attacks()


@pytest.mark.parametrize("make,label", [(a[1], a[2]) for a in ATTACKS], ids=[a[0] for a in ATTACKS])
def test_attack_is_refused_with_a_challenge(oauth_server, make, label):
    srv = oauth_server
    before = auth_failures(srv, label)
    authorization = make(srv)
    r = list_tools(srv.url, authorization)
    assert r.status_code == 401, (r.status_code, r.text[:300])
    assert "result" not in r.text and "echo__" not in r.text
    params = challenge(r)
    assert params["realm"] == "bulkhead"
    assert params["resource_metadata"] == prm_url(srv.url)
    if label == "missing":
        assert "error" not in params and "error_description" not in params, params
    else:
        assert params["error"] == "invalid_token", params
        assert params["error_description"], params
        if authorization and " " in authorization.strip():
            token = authorization.split(" ", 1)[1].strip()
            if len(token) > 8:
                assert token not in r.headers["www-authenticate"] and token not in r.text
    assert auth_failures(srv, label) == before + 1, f"expected one more refusal labelled {label!r}"
    # The same credentials on the other methods of the endpoint are refused just the same.
    headers = {"Authorization": authorization} if authorization is not None else {}
    assert HTTP.get(srv.url, headers={**headers, "Accept": "text/event-stream"}).status_code == 401
    assert HTTP.delete(srv.url, headers={**headers, "Mcp-Session-Id": "x"}).status_code == 401


def test_refused_calls_never_reach_a_plugin(oauth_server):
    srv = oauth_server
    n = echo_calls(srv)
    for _, make, label in ATTACKS:
        auth = make(srv)
        r = post(srv.url, "tools/call", {"name": "echo__echo", "arguments": {"x": 1}}, auth)
        assert r.status_code == 401, label
    assert echo_calls(srv) == n, "a refused request reached the plugin"


def echo_calls(srv) -> int:
    r = post(srv.url, "tools/call", {"name": "echo__count", "arguments": {}}, "Bearer " + good_token(srv))
    assert r.status_code == 200, r.text
    return r.json()["result"]["structuredContent"]["count"]


# ---------------------------------------------------------------- the metadata (RFC 9728)


def test_metadata_served_without_token_and_named_by_the_challenge(oauth_server):
    srv = oauth_server
    origin = srv.url.rsplit("/mcp", 1)[0]
    docs = []
    for path in ("/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp"):
        r = HTTP.get(origin + path)
        assert r.status_code == 200, (path, r.status_code)
        assert r.headers["content-type"].startswith("application/json")
        docs.append(r.json())
    assert docs[0] == docs[1]
    doc = docs[0]
    assert doc["resource"] == srv.url
    assert doc["authorization_servers"] == [ISSUER, OTHER_ISSUER]
    assert doc["scopes_supported"] == ["docs.read", "tickets.read"]
    assert doc["bearer_methods_supported"] == ["header"]
    # A client follows the challenge to the document, which names the very URL it used.
    pointed = challenge(list_tools(srv.url, None))["resource_metadata"]
    assert pointed == prm_url(srv.url)
    assert HTTP.get(pointed).json()["resource"] == srv.url
    # A token for the resource the document names is accepted: it is the default audience.
    assert call_caller(srv.url, "Bearer " + rs256(claims_for(doc["resource"])))["principal"] == "carol"


def test_public_url_is_the_resource_and_the_audience(bulkhead_bin, tmp_path):
    public = "https://mcp.example.com/team/mcp"
    srv = start_oauth_server(bulkhead_bin, tmp_path / "public", config_text('jwks_file = "jwks.json"', """
authorization_servers = ["https://login.example.com/"]
default_tenant = "public-tenant"
""", f"""
[http]
public_url = "{public}"
"""))
    try:
        assert srv.url == public
        local = "http://" + re.search(r"\(listening on ([^)\s]+)\)", srv.stderr).group(1)
        r = HTTP.get(local + "/.well-known/oauth-protected-resource/team/mcp")
        assert r.status_code == 200, r.status_code
        doc = r.json()
        assert doc["resource"] == public
        assert doc["authorization_servers"] == ["https://login.example.com/"]
        assert "scopes_supported" not in doc or doc["scopes_supported"] == []
        assert HTTP.get(local + "/.well-known/oauth-protected-resource").json() == doc

        local_mcp = local + "/mcp"
        params = challenge(list_tools(local_mcp, None))
        assert params["resource_metadata"] == "https://mcp.example.com/.well-known/oauth-protected-resource/team/mcp"
        # The audience is the public URL, not the address the listener happens to bind.
        who = call_caller(local_mcp, "Bearer " + rs256(claims_for(public, org=None)))
        assert who["principal"] == "carol" and who["tenant"] == "public-tenant"
        r = list_tools(local_mcp, "Bearer " + rs256(claims_for(local_mcp)))
        assert r.status_code == 401 and "aud" in challenge(r)["error_description"]
    finally:
        srv.stop()


def test_metadata_names_the_bound_port_when_listening_on_port_zero(bulkhead_bin, tmp_path):
    srv = start_oauth_server(bulkhead_bin, tmp_path / "zero", config_text('jwks_file = "jwks.json"'), port=0)
    try:
        origin = srv.url.rsplit("/mcp", 1)[0]
        doc = HTTP.get(origin + "/.well-known/oauth-protected-resource/mcp").json()
        assert doc["resource"] == srv.url
        assert challenge(list_tools(srv.url, None))["resource_metadata"] == prm_url(srv.url)
        assert call_caller(srv.url, "Bearer " + rs256(claims_for(srv.url)))["principal"] == "carol"
    finally:
        srv.stop()


# ---------------------------------------------------------------- keys fetched from a URL


class JWKSHost:
    """The issuer's JWKS on 127.0.0.1, counting the GETs; `doc` may be changed at any time."""

    def __init__(self, doc: dict):
        self.doc = doc
        self.gets = 0
        self.lock = threading.Lock()
        host = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                with host.lock:
                    host.gets += 1
                    body = json.dumps(host.doc).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/jwks.json"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def count(self) -> int:
        with self.lock:
            return self.gets

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_jwks_url_unknown_kids_are_rate_limited_rotation_is_followed_and_last_keys_survive(bulkhead_bin, tmp_path):
    host = JWKSHost(jwks(jwk(RSA_KEY, "rsa-1", "RS256")))
    srv = None
    try:
        srv = start_oauth_server(bulkhead_bin, tmp_path / "url", config_text(f'jwks_url = "{host.url}"', """
jwks_refresh_min_seconds = 1
"""), jwks_doc=None)
        url = srv.url
        assert host.count() == 1, "the keys are fetched once at start"
        assert call_caller(url, "Bearer " + rs256(claims_for(url)))["principal"] == "carol"
        assert host.count() == 1, "a known kid needs no fetch"

        # An attacker sprays made-up kids, one after another and all at once: at most one fetch per window.
        time.sleep(1.2)
        base = host.count()
        started = time.monotonic()
        for i in range(20):
            r = list_tools(url, "Bearer " + rs256(claims_for(url), kid=f"spray-{i}-{uuid.uuid4().hex[:6]}"))
            assert r.status_code == 401 and "kid" in challenge(r)["error_description"]
        threads = [threading.Thread(target=lambda i=i: list_tools(
            url, "Bearer " + rs256(claims_for(url), kid=f"burst-{i}"))) for i in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - started
        fetched = host.count() - base
        assert fetched >= 1, "an unknown kid must make the server look again"
        assert fetched <= 2, f"{fetched} JWKS fetches for 40 unknown kids in {elapsed:.2f}s"
        if elapsed < 0.9:
            assert fetched == 1

        # The issuer rotates: a new key appears; once the window has passed, its tokens are accepted.
        with host.lock:
            # ... next to keys Bulkhead cannot load, which must not hold the rotation up; no alg on the new key.
            host.doc = jwks(jwk(RSA_KEY, "rsa-1", "RS256"), *UNLOADABLE, jwk(RSA_KEY_2, "rsa-2"))
        time.sleep(1.2)
        before = host.count()
        rotated = rs256(claims_for(url, sub="rotated"), kid="rsa-2", key=RSA_KEY_2)
        assert call_caller(url, "Bearer " + rotated)["principal"] == "rotated"
        assert host.count() == before + 1
        assert call_caller(url, "Bearer " + rotated)["principal"] == "rotated"
        assert host.count() == before + 1, "the new key is cached"

        # The issuer goes away: the last good keys stay in use, unknown kids are still refused.
        host.stop()
        time.sleep(1.2)
        r = list_tools(url, "Bearer " + rs256(claims_for(url), kid="after-outage"))
        assert r.status_code == 401 and challenge(r)["error"] == "invalid_token"
        assert call_caller(url, "Bearer " + rs256(claims_for(url)))["principal"] == "carol"
        assert call_caller(url, "Bearer " + rotated)["principal"] == "rotated"
        deadline = time.monotonic() + 5
        while "could not refresh the signing keys" not in srv.stderr and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "could not refresh the signing keys" in srv.stderr
        assert srv.proc.poll() is None
    finally:
        if srv is not None:
            srv.stop()
        try:
            host.stop()
        except Exception:
            pass


def test_key_rotated_in_place_under_the_same_kid_is_followed(bulkhead_bin, tmp_path):
    host = JWKSHost(jwks(jwk(RSA_KEY, "main", "RS256")))
    srv = None
    try:
        srv = start_oauth_server(bulkhead_bin, tmp_path / "inplace", config_text(f'jwks_url = "{host.url}"', """
jwks_refresh_min_seconds = 1
"""), jwks_doc=None)
        url = srv.url
        assert call_caller(url, "Bearer " + rs256(claims_for(url), kid="main"))["principal"] == "carol"
        with host.lock:
            host.doc = jwks(jwk(RSA_KEY_2, "main", "RS256"))
        time.sleep(1.2)
        assert call_caller(url, "Bearer " + rs256(claims_for(url, sub="new"), kid="main", key=RSA_KEY_2))["principal"] == "new"
        # The retired key no longer verifies.
        r = list_tools(url, "Bearer " + rs256(claims_for(url), kid="main", key=RSA_KEY))
        assert r.status_code == 401 and challenge(r)["error"] == "invalid_token"
    finally:
        if srv is not None:
            srv.stop()
        host.stop()


def test_a_key_that_does_not_load_does_not_spoil_the_set(bulkhead_bin, tmp_path):
    doc = jwks(*UNLOADABLE[:1], jwk(RSA_KEY, "rsa-1", "RS256"), *UNLOADABLE[1:], jwk(EC_KEY, "ec-1"))
    srv = start_oauth_server(bulkhead_bin, tmp_path / "mixed", config_text('jwks_file = "jwks.json"'), jwks_doc=doc)
    try:
        assert call_caller(srv.url, "Bearer " + rs256(claims_for(srv.url)))["principal"] == "carol"
        assert call_caller(srv.url, "Bearer " + es256(claims_for(srv.url, sub="dave")))["principal"] == "dave"
        for key in UNLOADABLE:
            r = list_tools(srv.url, "Bearer " + rs256(claims_for(srv.url), kid=key["kid"]))
            assert r.status_code == 401 and "kid" in challenge(r)["error_description"], key["kid"]
        line = [x for x in srv.stderr.splitlines() if "do not load" in x]
        assert len(line) == 1 and all(k["kid"] in line[0] for k in UNLOADABLE), srv.stderr
    finally:
        srv.stop()


# ---------------------------------------------------------------- no token in the log or the audit trail


def test_tokens_never_reach_the_log_or_the_audit_trail(oauth_server):
    srv = oauth_server
    # Fresh traffic of every kind, so that this test stands alone too.
    assert call_caller(srv.url, "Bearer " + good_token(srv, sub="auditee"))["principal"] == "auditee"
    for _, make, _ in ATTACKS:
        list_tools(srv.url, make(srv))

    async def main():
        async with sdk(srv.url, "legacy", good_token(srv, sub="sdk-user")) as client:
            assert not (await client.call_tool("echo__caller", {})).is_error

    anyio.run(main)
    audit = srv.folder / "audit.jsonl"
    deadline = time.monotonic() + 5
    while (not audit.exists() or "sdk-user" not in audit.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    trail = audit.read_text()
    assert '"auditee"' in trail and '"sdk-user"' in trail, "the calls are audited under the token's principal"
    log = srv.stderr
    assert "refused a bearer token" in log, "refusals are logged (without the token)"
    leaks = []
    for token in set(MINTED):
        for where, text in (("log", log), ("audit", trail)):
            if token in text:
                leaks.append((where, token[:30]))
            for segment in token.split("."):
                if len(segment) >= 16 and segment in text:
                    leaks.append((where, "segment " + segment[:30]))
    assert not leaks, leaks


# ---------------------------------------------------------------- a bad [oauth] stops the start


def _bad_configs():
    no_usable = jwks({"kty": "oct", "kid": "h", "k": b64url(b"secret-secret-secret")},
                     {k: v for k, v in jwk(RSA_KEY, "x").items() if k != "kid"},
                     {**jwk(EC_KEY, "enc"), "use": "enc"},
                     {**jwk(RSA_KEY, "hs"), "alg": "HS256"})
    return [
        ("no issuers key", 'jwks_file = "jwks.json"', None, JWKS_DOC, "issuers"),
        ("empty issuers", 'issuers = []\njwks_file = "jwks.json"', None, JWKS_DOC, "issuers"),
        ("both jwks_file and jwks_url", f'issuers = ["{ISSUER}"]\njwks_file = "jwks.json"\n'
                                        'jwks_url = "http://127.0.0.1:9/jwks.json"', None, JWKS_DOC, "exactly one"),
        ("neither jwks_file nor jwks_url", f'issuers = ["{ISSUER}"]', None, JWKS_DOC, "exactly one"),
        ("unreadable jwks file", f'issuers = ["{ISSUER}"]\njwks_file = "missing.json"', None, JWKS_DOC, "missing.json"),
        ("jwks file not a JWKS", f'issuers = ["{ISSUER}"]\njwks_file = "jwks.json"', None, {"nope": []}, "JWKS"),
        ("jwks with no usable key", f'issuers = ["{ISSUER}"]\njwks_file = "jwks.json"', None, no_usable,
         "no usable signing key"),
        ("jwks whose keys do not load", f'issuers = ["{ISSUER}"]\njwks_file = "jwks.json"', None,
         jwks(*UNLOADABLE), "do not load"),
        ("jwks url unreachable", f'issuers = ["{ISSUER}"]\njwks_url = "http://127.0.0.1:{free_port()}/jwks.json"',
         None, None, "JWKS URL"),
        ("jwks url not http", f'issuers = ["{ISSUER}"]\njwks_url = "file:///etc/passwd"', None, None, "jwks_url"),
        ("unknown key (typo)", f'issuers = ["{ISSUER}"]\njwks_file = "jwks.json"\naudience = ["x"]', None,
         JWKS_DOC, "audience"),
        ("leeway out of range", f'issuers = ["{ISSUER}"]\njwks_file = "jwks.json"\nleeway_seconds = -5', None,
         JWKS_DOC, "leeway_seconds"),
    ]


BAD = _bad_configs()


@pytest.mark.parametrize("oauth,jwks_doc,needle", [(b[1], b[3], b[4]) for b in BAD], ids=[b[0] for b in BAD])
def test_bad_oauth_config_refuses_to_start(bulkhead_bin, tmp_path, oauth, jwks_doc, needle):
    if jwks_doc is not None:
        (tmp_path / "jwks.json").write_text(json.dumps(jwks_doc))
    cfg = tmp_path / "bulkhead.toml"
    cfg.write_text(f'default_principal = "nobody"\n[principals.nobody]\ntenant = "none"\nscopes = []\n\n[oauth]\n{oauth}\n')
    plugins = PluginDir(tmp_path / "plugins").add("echo")
    p = subprocess.run([str(bulkhead_bin), "serve", "--plugins", str(plugins.path), "--http", "127.0.0.1:0",
                        "--config", str(cfg)], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=30, cwd=str(REPO))
    assert p.returncode != 0, p.stderr
    assert "serving Streamable HTTP" not in p.stderr
    assert p.stdout == ""
    naming = [line for line in p.stderr.splitlines() if needle in line]
    assert len(naming) == 1, p.stderr
    assert "[oauth]" in naming[0] or "JWKS" in naming[0], naming[0]


def test_a_configuration_with_only_oauth_needs_no_principals_table(bulkhead_bin, tmp_path):
    """[oauth] alone is a whole configuration: no [principals], no default_principal."""
    srv = start_oauth_server(bulkhead_bin, tmp_path / "only", f"""
[oauth]
issuers = ["{ISSUER}"]
jwks_file = "jwks.json"
""")
    try:
        assert call_caller(srv.url, "Bearer " + good_token(srv))["principal"] == "carol"
        assert list_tools(srv.url, None).status_code == 401, "with [oauth] a request without a token is refused"
    finally:
        srv.stop()
