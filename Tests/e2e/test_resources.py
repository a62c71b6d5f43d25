"""Resources and prompts (ABI 1.1), with the official Python SDK and raw lines, in both eras.

The fixture plugin Tests/fixtures/plugins/test serves the conformance suite's
resource and prompt fixtures under their own names (test://static-text,
test://static-binary, test://template/{id}/data, test_simple_prompt,
test_prompt_with_arguments, test_prompt_with_embedded_resource; prompts are
served as test__<name>), a tenant-scoped template, 10,000 listed resources and
resources that answer wrongly on purpose. It runs in-process (its policy says
why); the tier test runs the same reads in a worker too.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from conftest import CONFIG, REPO, set_policy_config
from rawclient import LEGACY, MODERN, modern_meta

MODES = ["legacy", "auto", MODERN]
STATIC_TEXT = "This is the content of the static text resource."
PNG = bytes([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0x0D, 0x49, 0x48, 0x44, 0x52])
LISTED = 10_000 + 4  # the list function's items plus the four fixed resources


def sdk(tmp_path: Path, bulkhead_bin: Path, plugins: Path, mode: str, *extra: str) -> Client:
    params = StdioServerParameters(command=str(bulkhead_bin), args=["serve", "--plugins", str(plugins), *extra],
                                   cwd=str(REPO))
    return Client(stdio_client(params, errlog=open(tmp_path / f"sdk-{mode}.log", "w")), mode=mode,
                  read_timeout_seconds=30)


def dump(x) -> dict:
    return x.model_dump(by_alias=True, exclude_none=True)


def provenance(result: dict) -> dict:
    return (result.get("_meta") or {}).get("bulkhead/provenance") or {}


async def exercise(c: Client) -> None:
    """The conformance suite's resources, prompts and completion scenarios, through the SDK."""
    # resources-list: uri + name; every page, every cursor, no duplicates.
    uris, cursor, pages = [], None, 0
    while True:
        page = await c.list_resources(cursor=cursor)
        pages += 1
        uris += [str(r.uri) for r in page.resources]
        assert all(r.name for r in page.resources)
        cursor = page.next_cursor
        if not cursor:
            break
    assert len(uris) == LISTED and len(set(uris)) == LISTED and pages > 1
    assert uris == sorted(uris)
    assert "test://static-text" in uris and "test://item/09999" in uris
    assert not any(u.startswith("other:") or "undeclared" in u for u in uris)

    # resources-read-text / -binary / templates-read
    text = await c.read_resource("test://static-text")
    [content] = text.contents
    assert content.text == STATIC_TEXT and content.mime_type == "text/plain"
    binary = await c.read_resource("test://static-binary")
    assert base64.b64decode(binary.contents[0].blob) == PNG and binary.contents[0].mime_type == "image/png"
    templates = {t.uri_template for t in (await c.list_resource_templates()).resource_templates}
    assert {"test://template/{id}/data", "test://tenant/{tenant}/{doc}"} <= templates
    data = await c.read_resource("test://template/123/data")
    assert json.loads(data.contents[0].text) == {"id": "123", "templateTest": True, "data": "Data for ID: 123"}

    # prompts-list / -get-simple / -with-args / -embedded-resource
    prompts = {p.name: p for p in (await c.list_prompts()).prompts}
    assert set(prompts) == {"test__test_simple_prompt", "test__test_prompt_with_arguments",
                            "test__test_prompt_with_embedded_resource", "test__test_prompt_with_image"}
    assert [a.name for a in prompts["test__test_prompt_with_arguments"].arguments] == ["arg1", "arg2"]
    simple = await c.get_prompt("test__test_simple_prompt")
    assert simple.messages[0].role == "user" and simple.messages[0].content.text
    args = await c.get_prompt("test__test_prompt_with_arguments", {"arg1": "x", "arg2": "y"})
    assert "arg1='x'" in args.messages[0].content.text and "arg2='y'" in args.messages[0].content.text
    emb = await c.get_prompt("test__test_prompt_with_embedded_resource", {"resourceUri": "test://static-text"})
    kinds = [m.content.type for m in emb.messages]
    assert "resource" in kinds and "text" in kinds
    res = next(m.content.resource for m in emb.messages if m.content.type == "resource")
    assert str(res.uri) == "test://static-text"
    # prompts-get-with-image
    img = await c.get_prompt("test__test_prompt_with_image")
    assert [m.content.type for m in img.messages] == ["image", "text"]
    assert img.messages[0].content.mime_type == "image/png" and base64.b64decode(img.messages[0].content.data)[:4] == PNG[:4]
    # tools-call-image / -audio / -embedded-resource / -mixed-content
    im = await c.call_tool("test__test_image_content", {})
    assert [b.type for b in im.content] == ["image"] and im.content[0].mime_type == "image/png"
    au = await c.call_tool("test__test_audio_content", {})
    assert [b.type for b in au.content] == ["audio"] and base64.b64decode(au.content[0].data)[:4] == b"RIFF"
    em = await c.call_tool("test__test_embedded_resource", {})
    assert [b.type for b in em.content] == ["resource"] and str(em.content[0].resource.uri) == "test://embedded-resource"
    mixed = await c.call_tool("test__test_multiple_content_types", {})
    assert [b.type for b in mixed.content] == ["text", "image", "resource"]
    # completion-complete: the prompt's argument, completed by the plugin.
    from mcp_types import PromptReference
    r = await c.complete(PromptReference(type="ref/prompt", name="test__test_prompt_with_arguments"),
                         {"name": "arg1", "value": "pa"})
    assert r.completion.values == ["paris", "parma"]


@pytest.mark.parametrize("mode", MODES)
def test_sdk_lists_reads_and_gets_the_conformance_fixtures(tmp_path, bulkhead_bin, plugin_dir, mode):
    pd = plugin_dir("test")

    async def main():
        async with sdk(tmp_path, bulkhead_bin, pd.path, mode, "--config", str(CONFIG), "--principal", "alice") as c:
            await exercise(c)

    anyio.run(main)


@pytest.mark.parametrize("version", [LEGACY, MODERN])
def test_not_found_is_one_answer_whatever_the_reason(plugin_dir, serve, version):
    """Another tenant's document, a missing one, a variable that fails its pattern, a
    traversal, an unknown scheme: one error, differing only in the URI it echoes."""
    s = serve(plugin_dir("test"), principal="alice")
    meta = {}
    if version == LEGACY:
        s.initialize()
    else:
        meta = {"_meta": modern_meta()}
    own = s.result("resources/read", {"uri": "test://tenant/acme/plan", **meta})
    assert own["contents"][0]["text"] == "The plan of acme."
    expected_code = -32002 if version == LEGACY else -32602
    answers = set()
    for uri in ["test://tenant/globex/plan", "test://tenant/acme/nothing", "test://tenant/globex/nothing",
                "test://tenant/acme/..%2Fglobex%2Fplan", "test://tenant/Globex/plan", "test://tenant/acme/PLAN",
                "test://tenant/%61cme/plan%00", "test://nothing", "nope://x", "no scheme", "test://broken/missing"]:
        err = s.error("resources/read", {"uri": uri, **meta})
        assert err["code"] == expected_code and err["data"] == {"uri": uri}, (uri, err)
        answers.add(json.dumps(err, sort_keys=True).replace(json.dumps(uri)[1:-1], "URI"))
    assert len(answers) == 1, answers
    if version == MODERN:
        # SEP-2164: never a result with empty contents.
        assert "contents" not in json.dumps(answers.pop())


def test_a_principal_outside_the_rule_sees_no_tenant_template(plugin_dir, serve, tmp_path):
    cfg = tmp_path / "p.toml"
    cfg.write_text('default_principal = "carol"\n[principals.carol]\ntenant = "initech"\n')
    s = serve(plugin_dir("test"), config=cfg)
    s.initialize()
    templates = [t["uriTemplate"] for t in s.result("resources/templates/list")["resourceTemplates"]]
    assert "test://tenant/{tenant}/{doc}" not in templates and "test://item/{n}" in templates
    err = s.error("resources/read", {"uri": "test://tenant/initech/plan"})
    assert err == {"code": -32002, "message": "Resource not found", "data": {"uri": "test://tenant/initech/plan"}}


def test_pages_and_cursors_hold_on_raw_lines(plugin_dir, serve):
    s = serve(plugin_dir("test"), principal="alice")
    s.initialize()
    first = s.result("resources/list")
    assert len(first["resources"]) == 200 and first["nextCursor"]
    second = s.result("resources/list", {"cursor": first["nextCursor"]})
    assert second["resources"][0]["uri"] > first["resources"][-1]["uri"]
    for bad in ["bh1.zz.0000000000000000", "garbage", first["nextCursor"] + "x"]:
        assert s.error("resources/list", {"cursor": bad})["code"] == -32602
    assert s.error("resources/list", {"cursor": 5})["code"] == -32602


def test_modern_lists_and_reads_carry_cache_hints(plugin_dir, serve):
    s = serve(plugin_dir("test"), principal="alice")
    for method, params in [("resources/list", {}), ("resources/templates/list", {}), ("prompts/list", {}),
                           ("resources/read", {"uri": "test://static-text"})]:
        r = s.result(method, {**params, "_meta": modern_meta()})
        assert r["resultType"] == "complete" and r["ttlMs"] >= 0 and r["cacheScope"] == "private", (method, r)
        assert r["_meta"]["io.modelcontextprotocol/serverInfo"]["name"] == "bulkhead"
    d = s.result("server/discover", {"_meta": modern_meta()})
    assert "resources" in d["capabilities"] and "prompts" in d["capabilities"]


def test_malformed_contents_get_the_right_error_kinds(plugin_dir, serve):
    s = serve(plugin_dir("test"), principal="alice")
    s.initialize()
    empty = s.error("resources/read", {"uri": "test://broken/empty"})
    assert empty["code"] == -32603 and empty["data"]["kind"] == "internal" and "without contents" in empty["message"]
    foreign = s.error("resources/read", {"uri": "test://broken/foreign"})
    assert foreign["code"] == -32603 and foreign["data"]["kind"] == "internal"
    link = s.error("resources/read", {"uri": "test://broken/link"})
    assert link["code"] == -32603 and link["data"]["kind"] == "internal"
    bad = s.error("resources/read", {"uri": "test://broken/badutf8"})
    assert bad["code"] == -32603 and bad["data"]["kind"] == "internal"
    busy = s.error("resources/read", {"uri": "test://broken/busy"})
    assert busy == {"code": -32603, "message": "the store is down", "data": {"kind": "unavailable"}}
    # The server keeps serving.
    assert s.result("resources/read", {"uri": "test://static-text"})["contents"][0]["text"] == STATIC_TEXT


def test_prompt_argument_errors_are_invalid_params(plugin_dir, serve):
    s = serve(plugin_dir("test"), principal="alice")
    s.initialize()
    assert s.error("prompts/get", {"name": "test__nope"})["code"] == -32602
    missing = s.error("prompts/get", {"name": "test__test_prompt_with_arguments", "arguments": {"arg1": "x"}})
    assert missing["code"] == -32602
    assert s.error("prompts/get", {"name": "test__test_simple_prompt", "arguments": {"x": 1}})["code"] == -32602
    # Embedding a resource the plugin may not name (another scheme) is refused, not passed on.
    err = s.error("prompts/get", {"name": "test__test_prompt_with_embedded_resource",
                                  "arguments": {"resourceUri": "other://secret"}})
    assert err["code"] == -32602
    # A prompt may embed what the caller may read: alice's own tenant's document.
    ok = s.result("prompts/get", {"name": "test__test_prompt_with_embedded_resource",
                                  "arguments": {"resourceUri": "test://tenant/acme/plan"}})
    assert any(m["content"]["type"] == "resource" for m in ok["messages"])


@pytest.mark.parametrize("tier", ["worker", "in-process"])
def test_provenance_names_plugin_rule_and_sources_in_both_tiers(plugin_dir, serve, tmp_path, tier):
    pd = plugin_dir()
    folder = pd.copy("test")
    if tier == "worker":
        policy = (folder / "policy.toml").read_text()
        (folder / "policy.toml").write_text(policy.split("[runtime]")[0])
    log = tmp_path / "audit.jsonl"
    s = serve(pd, principal="alice", extra=["--audit", str(log)])
    s.initialize()
    r = s.result("resources/read", {"uri": "test://static-text"})
    p = provenance(r)
    assert p["plugin"] == "test" and p["principal"] == "alice" and p["tenant"] == "acme"
    assert p["resource"] == "test://static-text" and p["uri"] == "test://static-text"
    assert p["rule"] == "policy.toml [[allow]] #1"
    [src] = p["sources"]
    version = r["contents"][0]["_meta"]["bulkhead/version"]
    assert src["uri"] == "test://static-text" and src["version"] == version and version.startswith("sha256:")
    assert src["modified"] == r["contents"][0]["annotations"]["lastModified"] == "2026-01-01T00:00:00.000Z"
    t = s.result("resources/read", {"uri": "test://tenant/acme/plan"})
    assert [x["uri"] for x in provenance(t)["sources"]] == ["test://ledger"]
    assert provenance(t)["rule"] == "policy.toml [[allow]] #2"
    g = s.result("prompts/get", {"name": "test__test_prompt_with_embedded_resource",
                                 "arguments": {"resourceUri": "test://static-text"}})
    assert [m["content"]["type"] for m in g["messages"]] == ["resource", "text"]
    assert [x["uri"] for x in provenance(g)["sources"]] == ["test://static-text"]
    assert len(s.result("resources/list")["resources"]) == 200
    assert s.shutdown() == 0
    recs = [json.loads(l) for l in log.read_text().splitlines()]
    reads = [x for x in recs if "resource" in x]
    assert [x["resource"] for x in reads] == ["test://static-text", "test://tenant/{tenant}/{doc}", "(resource list)"]
    assert [x["prompt"] for x in recs if "prompt" in x] == ["test__test_prompt_with_embedded_resource"]
    assert reads[0]["sources"] == [{"uri": "test://static-text", "version": version}]
    # Template variables are arguments: only their digest is kept.
    assert "acme/plan" not in json.dumps(reads[1]) and reads[1]["args_sha256"]


def test_http_serves_resources_in_both_eras(tmp_path, bulkhead_bin, plugin_dir):
    from httpserver import start_http
    from mcp.client.streamable_http import streamable_http_client

    pd = plugin_dir("test")
    srv = start_http(bulkhead_bin, pd.path, tmp_path, config=CONFIG)
    try:
        for mode in MODES:
            async def main():
                async with Client(streamable_http_client(srv.url), mode=mode, read_timeout_seconds=30) as c:
                    await exercise(c)
                    with pytest.raises(Exception) as e:
                        await c.read_resource("test://nothing")
                    assert "not found" in str(e.value).lower()
            anyio.run(main)
    finally:
        srv.stop()


@pytest.mark.parametrize("mode", MODES)
def test_sdk_completes_prompt_arguments_and_template_variables(tmp_path, bulkhead_bin, plugin_dir, mode):
    from mcp_types import PromptReference, ResourceTemplateReference

    pd = plugin_dir("test")

    async def main():
        async with sdk(tmp_path, bulkhead_bin, pd.path, mode, "--config", str(CONFIG), "--principal", "alice") as c:
            # completion-complete: the plugin's function, filtered by the argument's pattern.
            r = await c.complete(PromptReference(type="ref/prompt", name="test__test_prompt_with_arguments"),
                                 {"name": "arg1", "value": "pa"})
            assert r.completion.values == ["paris", "parma"]
            # An enum completes itself, without the plugin.
            e = await c.complete(ResourceTemplateReference(type="ref/resource", uri="test://broken/{how}"),
                                 {"name": "how", "value": "b"})
            assert e.completion.values == ["badutf8", "busy"]
            # No function, no enum: nothing suggested.
            n = await c.complete(PromptReference(type="ref/prompt", name="test__test_prompt_with_arguments"),
                                 {"name": "arg2", "value": ""})
            assert n.completion.values == []

    anyio.run(main)


def test_completions_follow_the_gate(plugin_dir, serve, tmp_path):
    cfg = tmp_path / "p.toml"
    cfg.write_text('default_principal = "carol"\n[principals.carol]\ntenant = "initech"\n')
    s = serve(plugin_dir("test"), config=cfg)
    s.initialize()
    assert "completions" in s.result("initialize", {"protocolVersion": LEGACY, "capabilities": {},
                                                    "clientInfo": {"name": "t", "version": "1"}})["capabilities"]
    # carol's tenant has no rule for the tenant template: as if it did not exist.
    hidden = s.error("completion/complete", {"ref": {"type": "ref/resource", "uri": "test://tenant/{tenant}/{doc}"},
                                             "argument": {"name": "doc", "value": ""}})
    missing = s.error("completion/complete", {"ref": {"type": "ref/resource", "uri": "test://nope/{x}"},
                                              "argument": {"name": "x", "value": ""}})
    assert hidden["code"] == missing["code"] == -32602
    assert hidden["message"].replace("test://tenant/{tenant}/{doc}", "X") == missing["message"].replace("test://nope/{x}", "X")
    assert s.error("completion/complete", {"ref": {"type": "ref/prompt", "name": "test__test_simple_prompt"},
                                           "argument": {"name": "nope", "value": ""}})["code"] == -32602
    assert s.error("completion/complete", {"ref": {"type": "ref/nothing"}, "argument": {"name": "a", "value": ""}})["code"] == -32602
    r = s.result("completion/complete", {"ref": {"type": "ref/prompt", "name": "test__test_prompt_with_arguments"},
                                         "argument": {"name": "arg1", "value": ""}})
    assert r["completion"]["values"] == ["paris", "parma", "prague", "porto"] and r["completion"]["hasMore"] is False


# --------------------------------------------------------------------------- subscriptions


def all_messages(s) -> list[dict]:
    """Every line the server wrote, in order."""
    return [json.loads(line) for line in s.lines]


def test_legacy_subscribe_hears_only_what_it_may_read(plugin_dir, serve):
    s = serve(plugin_dir("test"), principal="alice")
    s.initialize()
    assert s.result("initialize", {"protocolVersion": LEGACY, "capabilities": {},
                                   "clientInfo": {"name": "t", "version": "1"}})["capabilities"]["resources"]["subscribe"]
    # Answered {} alike, whether alice may read it or not.
    assert s.result("resources/subscribe", {"uri": "test://static-text"}) == {}
    assert s.result("resources/subscribe", {"uri": "test://tenant/globex/plan"}) == {}
    assert s.result("resources/subscribe", {"uri": "test://nothing"}) == {}
    for uri in ["test://tenant/globex/plan", "test://static-text"]:
        s.call("test__touch", {"uri": uri})
    s.call("test__touch", {"uri": "test://static-binary"})   # not subscribed
    assert s.result("resources/unsubscribe", {"uri": "test://static-text"}) == {}
    s.call("test__touch", {"uri": "test://static-text"})     # unsubscribed: no second one
    s.call("test__touch", {"uri": "test://static-binary"})
    assert s.shutdown() == 0
    updates = [m["params"]["uri"] for m in all_messages(s) if m.get("method") == "notifications/resources/updated"]
    assert updates == ["test://static-text"], updates
    # 2026-07-28 has no resources/subscribe.
    s2 = serve(plugin_dir("test"), principal="alice")
    assert s2.error("resources/subscribe", {"uri": "test://static-text", "_meta": modern_meta()})["code"] == -32601


def test_listen_acknowledges_first_tags_every_notification_and_ends_gracefully(plugin_dir, serve):
    s = serve(plugin_dir("test"), principal="alice")
    rid = s.send_request("subscriptions/listen", {
        "notifications": {"resourceSubscriptions": ["test://static-text", "test://tenant/globex/plan", "test://nope",
                                                    "test://tenant/acme/plan"],
                          "toolsListChanged": True},
        "_meta": modern_meta()})
    import time
    time.sleep(0.5)
    for uri in ["test://tenant/globex/plan", "test://tenant/acme/plan", "test://static-binary", "test://static-text"]:
        s.call("test__touch", {"uri": uri}, meta=modern_meta())
    time.sleep(0.3)
    assert not s.has_response(rid), "a listen stays open until it is cancelled or the server stops"
    assert s.shutdown() == 0
    msgs = [m for m in all_messages(s) if (m.get("params") or {}).get("_meta", {}).get("io.modelcontextprotocol/subscriptionId") == rid
            or m.get("id") == rid]
    assert msgs[0]["method"] == "notifications/subscriptions/acknowledged"
    # Only what alice may read; list_changed is never sent, so it is not offered.
    assert msgs[0]["params"]["notifications"] == {"resourceSubscriptions": ["test://static-text", "test://tenant/acme/plan"]}
    updates = [m["params"]["uri"] for m in msgs if m.get("method") == "notifications/resources/updated"]
    assert updates == ["test://tenant/acme/plan", "test://static-text"]
    end = msgs[-1]
    assert end["id"] == rid and end["result"]["resultType"] == "complete"
    assert end["result"]["_meta"]["io.modelcontextprotocol/subscriptionId"] == rid


class StreamReader:
    """Reads one HTTP response stream on a thread of its own, until `until` shows in it."""

    def __init__(self, method: str, url: str, headers: dict, until: str, json_body: dict | None = None):
        import threading
        self.text = ""
        self.status = None
        self.content_type = ""
        self._thread = threading.Thread(target=self._run, args=(method, url, headers, until, json_body), daemon=True)
        self._thread.start()

    def _run(self, method, url, headers, until, json_body):
        import httpx2
        with httpx2.stream(method, url, headers=headers, json=json_body, timeout=20) as r:
            self.status, self.content_type = r.status_code, r.headers.get("content-type", "")
            for chunk in r.iter_text():
                self.text += chunk
                if until in self.text:
                    break

    def wait_for(self, needle: str, timeout: float = 10.0) -> None:
        import time
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and needle not in self.text:
            time.sleep(0.05)

    def messages(self) -> list[dict]:
        from httpserver import sse_messages
        self._thread.join(timeout=10)
        return sse_messages(self.text)


def test_listen_over_http_streams_its_notifications(tmp_path, bulkhead_bin, plugin_dir):
    import httpx2
    from httpserver import modern_headers, modern_meta as http_meta, start_http

    srv = start_http(bulkhead_bin, plugin_dir("test").path, tmp_path, config=CONFIG)
    try:
        body = {"jsonrpc": "2.0", "id": 7, "method": "subscriptions/listen",
                "params": {"notifications": {"resourceSubscriptions": ["test://static-text"]}, "_meta": http_meta()}}
        listen = StreamReader("POST", srv.url, modern_headers("subscriptions/listen"), "notifications/resources/updated",
                              json_body=body)
        listen.wait_for("acknowledged")
        body = {"jsonrpc": "2.0", "id": 8, "method": "tools/call",
                "params": {"name": "test__touch", "arguments": {"uri": "test://static-text"}, "_meta": http_meta()}}
        r = httpx2.post(srv.url, json=body, headers=modern_headers("tools/call", "test__touch"), timeout=10)
        assert r.status_code == 200
        listen.wait_for("resources/updated")
    finally:
        srv.stop()
    msgs = listen.messages()
    assert listen.content_type.startswith("text/event-stream")
    assert msgs[0]["method"] == "notifications/subscriptions/acknowledged"
    assert any(m.get("method") == "notifications/resources/updated" and m["params"]["uri"] == "test://static-text"
               and m["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"] == 7 for m in msgs), msgs


def test_legacy_subscription_over_http_notifies_on_the_sessions_get_stream(tmp_path, bulkhead_bin, plugin_dir):
    import time

    import httpx2
    from httpserver import messages, start_http

    srv = start_http(bulkhead_bin, plugin_dir("test").path, tmp_path, config=CONFIG)
    accept = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    try:
        with httpx2.Client(timeout=20) as http:
            init = http.post(srv.url, headers=accept, json={"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
                "protocolVersion": LEGACY, "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}})
            session = {"Mcp-Session-Id": init.headers["mcp-session-id"], "MCP-Protocol-Version": LEGACY}
            assert http.post(srv.url, headers={**accept, **session},
                             json={"jsonrpc": "2.0", "method": "notifications/initialized"}).status_code == 202

            def post(id, method, params):
                r = http.post(srv.url, headers={**accept, **session},
                              json={"jsonrpc": "2.0", "id": id, "method": method, "params": params})
                return [m for m in messages(r) if m.get("id") == id][0]

            stream = StreamReader("GET", srv.url, {**session, "Accept": "text/event-stream"}, "resources/updated")
            time.sleep(0.5)
            assert post(1, "resources/subscribe", {"uri": "test://static-text"})["result"] == {}
            post(2, "tools/call", {"name": "test__touch", "arguments": {"uri": "test://static-text"}})
            stream.wait_for("resources/updated")
    finally:
        srv.stop()
    msgs = stream.messages()
    assert stream.status == 200
    assert {"jsonrpc": "2.0", "method": "notifications/resources/updated", "params": {"uri": "test://static-text"}} in msgs


def test_reads_are_capped_by_result_bytes(plugin_dir, serve):
    pd = plugin_dir()
    folder = pd.copy("test")
    with open(folder / "policy.toml", "a") as f:
        f.write("\n[limits]\nresult_bytes = 20\n")
    s = serve(pd, principal="alice")
    s.initialize()
    err = s.error("resources/read", {"uri": "test://static-text"})   # 49 bytes
    assert err["code"] == -32603 and err["data"]["kind"] == "too_large" and "result_bytes" in err["message"]
    assert s.result("resources/read", {"uri": "test://item/00001"})["contents"][0]["text"] == "00001"
