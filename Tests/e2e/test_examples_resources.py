"""The example plugins' resources and prompts, with provenance checked against the files and rows behind them."""

from __future__ import annotations

import json
import os
import re
from datetime import datetime, timezone

import pytest

from conftest import CONFIG, EXAMPLES
from rawclient import LEGACY, MODERN, modern_meta
from test_examples import create_ticket, preapproved_writes

CORPUS = EXAMPLES / "docs" / "corpus"


def front_matter_version(path) -> str | None:
    m = re.search(r"^version:\s*(\S+)", path.read_text(), re.M)
    return f"v{m.group(1)}" if m else None


def iso_ms(epoch_seconds: float) -> str:
    dt = datetime.fromtimestamp(epoch_seconds, tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(dt.microsecond / 1000):03d}Z"


def provenance(result: dict) -> dict:
    return result["_meta"]["bulkhead/provenance"]


@pytest.mark.parametrize("principal,own,other", [("alice", "acme", "globex"), ("bob", "globex", "acme")])
def test_docs_resources_match_their_files_and_hide_the_other_tenant(plugin_dir, serve, principal, own, other):
    s = serve(plugin_dir("docs"), principal=principal)
    s.initialize()
    listed = []
    cursor = None
    while True:
        page = s.result("resources/list", {"cursor": cursor} if cursor else {})
        listed += page["resources"]
        cursor = page.get("nextCursor")
        if not cursor:
            break
    uris = sorted(r["uri"] for r in listed)
    expected = sorted(f"docs://{own}/{p.stem}" for p in (CORPUS / own).glob("*.md")
                      if re.fullmatch(r"[a-z0-9][a-z0-9-]{0,127}", p.stem))
    assert uris == expected and expected
    for path in sorted((CORPUS / own).glob("*.md"))[:4]:
        uri = f"docs://{own}/{path.stem}"
        r = s.result("resources/read", {"uri": uri})
        [c] = r["contents"]
        assert c["uri"] == uri and c["mimeType"] == "text/markdown" and c["text"] == path.read_text()
        assert c["annotations"]["lastModified"] == iso_ms(os.stat(path).st_mtime)
        version = front_matter_version(path)
        if version:
            assert c["_meta"]["bulkhead/version"] == version
        [src] = provenance(r)["sources"]
        assert src["uri"] == uri and src["version"] == c["_meta"]["bulkhead/version"]
        assert src["modified"] == c["annotations"]["lastModified"]
        assert provenance(r)["tenant"] == own
    # The other tenant's documents answer exactly as missing ones do.
    answers = set()
    for path in sorted((CORPUS / other).glob("*.md"))[:3]:
        uri = f"docs://{other}/{path.stem}"
        err = s.error("resources/read", {"uri": uri})
        answers.add(json.dumps(err, sort_keys=True).replace(uri, "URI"))
    err = s.error("resources/read", {"uri": f"docs://{own}/no-such-document"})
    answers.add(json.dumps(err, sort_keys=True).replace(f"docs://{own}/no-such-document", "URI"))
    assert len(answers) == 1 and '"code": -32002' in answers.pop()


def test_docs_search_links_hits_and_counts_what_limit_cut(plugin_dir, serve):
    s = serve(plugin_dir("docs"), principal="alice")
    s.initialize()
    full = s.call("docs__search", {"query": "the", "limit": 20})
    total = len(full["structuredContent"]["hits"])
    assert total > 2, "the query must match more than the limit below"
    cut = s.call("docs__search", {"query": "the", "limit": 2})
    links = [b for b in cut["content"] if b["type"] == "resource_link"]
    assert len(links) == 2 and all(l["uri"].startswith("docs://acme/") for l in links)
    p = provenance(cut)
    assert {x["uri"] for x in p["sources"]} == {l["uri"] for l in links}
    excluded = p.get("excluded") or []
    if total < 20:  # the full search was not itself cut
        assert excluded == [{"reason": "truncated", "count": total - 2, "note": "limit"}]
    # bob's search never counts acme's documents: the same query, his own tenant's numbers.
    b = serve(plugin_dir("docs"), principal="bob")
    b.initialize()
    bob_full = len(b.call("docs__search", {"query": "the", "limit": 20})["structuredContent"]["hits"])
    bob_cut = provenance(b.call("docs__search", {"query": "the", "limit": 1})).get("excluded") or []
    assert bob_cut == ([{"reason": "truncated", "count": bob_full - 1, "note": "limit"}] if bob_full > 1 else [])


@pytest.mark.parametrize("version", [LEGACY, MODERN])
def test_tickets_resource_and_triage_prompt_embed_the_row(plugin_dir, serve, version):
    pd = preapproved_writes(plugin_dir("tickets"))
    s = serve(pd, config=CONFIG)  # alice, tenant acme
    meta = {"_meta": modern_meta()} if version == MODERN else {}
    if version == LEGACY:
        s.initialize()
    created = create_ticket(s, "Printer on fire", "It is on fire.", meta=meta.get("_meta"))
    tid = created["structuredContent"]["id"]
    r = s.result("resources/read", {"uri": f"tickets://acme/{tid}", **meta})
    [c] = r["contents"]
    body = json.loads(c["text"])
    assert body["title"] == "Printer on fire" and body["tenant"] == "acme"
    # The resource is the ticket as tickets__get sees it.
    got = s.call("tickets__get", {"id": tid}, meta=meta.get("_meta"))
    assert body == got["structuredContent"]
    assert c["annotations"]["lastModified"].endswith("Z")
    g = s.result("prompts/get", {"name": "tickets__triage", "arguments": {"id": str(tid)}, **meta})
    kinds = [m["content"]["type"] for m in g["messages"]]
    assert kinds == ["text", "resource"]
    embedded = g["messages"][1]["content"]["resource"]
    assert embedded["uri"] == f"tickets://acme/{tid}" and json.loads(embedded["text"])["title"] == "Printer on fire"
    assert [x["uri"] for x in provenance(g)["sources"]] == [f"tickets://acme/{tid}"]
    # bob (globex) cannot read acme's ticket, nor have it embedded.
    b = serve(pd, config=CONFIG, principal="bob")
    if version == LEGACY:
        b.initialize()
    err = b.error("resources/read", {"uri": f"tickets://acme/{tid}", **meta})
    assert err["code"] == (-32002 if version == LEGACY else -32602)
    assert b.error("prompts/get", {"name": "tickets__triage", "arguments": {"id": "999999"}, **meta})["code"] == -32602


def test_deployments_incident_prompt_names_its_rows(plugin_dir, serve):
    s = serve(plugin_dir("deployments"), principal="ops")
    s.initialize()
    prompts = [p["name"] for p in s.result("prompts/list")["prompts"]]
    assert prompts == ["deployments__incident_summary"]
    history = s.call("deployments__history", {"service": "checkout"})
    g = s.result("prompts/get", {"name": "deployments__incident_summary", "arguments": {"service": "checkout"}})
    text = g["messages"][0]["content"]["text"]
    assert "checkout" in text
    sources = provenance(g)["sources"]
    assert sources and all(x["uri"].startswith("deployments.tsv#") for x in sources)
    assert not history.get("isError")
    # alice may not read deployments: the prompt is not there for her.
    a = serve(plugin_dir("deployments"), principal="bob")
    a.initialize()
    assert a.result("prompts/list")["prompts"] == []
    assert a.error("prompts/get", {"name": "deployments__incident_summary", "arguments": {"service": "checkout"}})["code"] == -32602
