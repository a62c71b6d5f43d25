"""Behaviour of the example plugins (plugins/), through the raw client."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest

from conftest import CONFIG, EXAMPLES
from rawclient import error_kind, modern_meta, tool_text

CORPUS = EXAMPLES / "docs" / "corpus"
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)$")


def sc(res: dict) -> dict:
    return res.get("structuredContent") or {}


def ok(res: dict) -> dict:
    assert not res.get("isError"), res
    return res


# --------------------------------------------------------------------------- docs


@pytest.fixture
def docs(plugin_dir, serve):
    s = serve(plugin_dir("docs"), config=CONFIG)  # alice, tenant acme
    s.initialize()
    return s


def test_docs_search_hits_carry_provenance(docs):
    res = ok(docs.call("docs__search", {"query": "deploy rollback"}))
    hits = sc(res)["hits"]
    assert hits
    for h in hits:
        assert h["source"].startswith("acme/") and h["source"].endswith(".md")
        assert (CORPUS / h["source"]).is_file()
        assert "version" in h
        assert h["version"] is None or isinstance(h["version"], int)
        assert ISO.match(h["modified"]), h["modified"]
        assert h["source"] in tool_text(res)
    assert len(hits) <= 5  # the default limit
    # best match first
    scores = [h.get("score", 0) for h in hits]
    assert scores == sorted(scores, reverse=True)


def test_docs_search_version_from_front_matter(docs):
    res = ok(docs.call("docs__search", {"query": "nobody deploys from a laptop"}))
    hit = next(h for h in sc(res)["hits"] if h["source"] == "acme/runbook-deploys.md")
    assert hit["version"] == 3


def test_docs_search_limit_clamped_and_reported(docs):
    res = docs.call("docs__search", {"query": "the", "limit": 500})
    ok(res)
    assert len(sc(res)["hits"]) == 20 or len(sc(res)["hits"]) == sc(res)["matched"]
    # The policy marks limit as a clamp: the core clamps it to the schema's maximum
    # before the plugin sees it, and says so in the provenance and in the text.
    assert res["_meta"]["bulkhead/provenance"]["clamped"] == [{"field": "limit", "requested": 500, "applied": 20}], res
    assert "clamped by policy: limit 500 → 20" in tool_text(res)
    res = ok(docs.call("docs__search", {"query": "the", "limit": 2}))
    assert len(sc(res)["hits"]) == 2
    assert "clamp" not in json.dumps(res).lower()


def test_docs_search_bad_arguments(docs):
    assert error_kind(docs.call("docs__search", {})) == "invalid_argument"
    assert error_kind(docs.call("docs__search", {"query": 42})) == "invalid_argument"
    assert error_kind(docs.call("docs__search", {"query": "   "})) == "invalid_argument"
    assert error_kind(docs.call("docs__search", {"query": "x" * 300})) == "invalid_argument"


def test_docs_fetch(docs):
    res = ok(docs.call("docs__fetch", {"path": "acme/runbook-deploys.md"}))
    body = (CORPUS / "acme" / "runbook-deploys.md").read_text()
    assert body.strip() in tool_text(res)
    assert sc(res)["source"] == "acme/runbook-deploys.md"
    assert sc(res)["version"] == 3
    assert ISO.match(sc(res)["modified"])


@pytest.mark.parametrize(
    "path",
    ["../acme/runbook-deploys.md", "acme/../globex/runbook-deploys.md", "../../../../etc/passwd",
     "/etc/passwd", "acme/..", ".."],
)
def test_docs_fetch_traversal_refused(docs, path):
    res = docs.call("docs__fetch", {"path": path})
    assert error_kind(res) == "invalid_argument", res
    assert "root:" not in tool_text(res)


def test_docs_fetch_other_tenant_is_not_found(docs):
    res = docs.call("docs__fetch", {"path": "globex/runbook-deploys.md"})
    assert error_kind(res) == "not_found"
    missing = docs.call("docs__fetch", {"path": "acme/no-such-doc.md"})
    assert error_kind(missing) == "not_found"
    # Indistinguishable from a missing document, apart from the name asked for.
    assert sc(res)["message"].replace("globex/runbook-deploys.md", "X") == \
        sc(missing)["message"].replace("acme/no-such-doc.md", "X")


def test_docs_tenant_by_principal(plugin_dir, serve):
    s = serve(plugin_dir("docs"), config=CONFIG, principal="bob")
    res = ok(s.call("docs__search", {"query": "deploy", "limit": 20}, meta=modern_meta()))
    assert sc(res)["hits"]
    assert all(h["source"].startswith("globex/") for h in sc(res)["hits"])
    # Without a config the caller is "local", who holds no docs.read: docs is not there for it.
    s2 = serve(plugin_dir("docs"), config=False)
    err = s2.error("tools/call", {"name": "docs__search", "arguments": {"query": "deploy"}, "_meta": modern_meta()})
    assert err["code"] == -32602 and err["message"] == "Unknown tool: docs__search"


# --------------------------------------------------------------------------- tickets


def preapproved_writes(pd):
    """These tests are about the ticket system, not consent (test_consent.py is):
    the copied tickets policy pre-approves every write for alice and bob."""
    policy = pd.path / "tickets" / "policy.toml"
    policy.write_text(policy.read_text()
                      + '\n[[preapprove]]\ntools = ["create", "comment", "close"]\nprincipals = ["alice", "bob"]\n')
    return pd


@pytest.fixture
def tickets(plugin_dir, serve):
    pd = preapproved_writes(plugin_dir("tickets"))
    s = serve(pd, config=CONFIG)  # alice, tenant acme
    s.initialize()
    s.data_dir = pd.data_dirs["tickets"]
    return s


def ticket_db(data_dir: Path) -> Path:
    db = data_dir / "tickets.db"
    assert db.is_file(), f"no tickets.db in {data_dir}: {list(data_dir.rglob('*'))}"
    return db


def db_rows(db: Path, sql: str, args=()) -> list[sqlite3.Row]:
    # Read-only, but not immutable: the plugin keeps the database open in WAL mode.
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    con.row_factory = sqlite3.Row
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


def create_ticket(s, title: str, body: str = "body text", meta=None) -> dict:
    res = s.call("tickets__create", {"title": title, "body": body}, meta=meta)
    ok(res)
    assert isinstance(sc(res).get("id"), int), res
    return res


def test_tickets_round_trip_and_database(tickets):
    s = tickets
    created = create_ticket(s, "Printer on fire", "Smoke from the third floor printer.")
    tid = sc(created)["id"]
    assert sc(created)["status"] == "open"
    assert sc(created)["tenant"] == "acme"
    assert sc(created)["author"] == "alice"

    got = sc(ok(s.call("tickets__get", {"id": tid})))
    assert got["id"] == tid
    assert got["title"] == "Printer on fire"
    assert got["body"] == "Smoke from the third floor printer."
    assert got["status"] == "open"
    assert got["comments"] == []

    listed = sc(ok(s.call("tickets__list", {})))
    assert tid in [x["id"] for x in listed["tickets"]]

    commented = sc(ok(s.call("tickets__comment", {"id": tid, "body": "Extinguisher applied."})))
    assert [c["body"] for c in commented["comments"]] == ["Extinguisher applied."]
    got = sc(ok(s.call("tickets__get", {"id": tid})))
    assert [c["body"] for c in got["comments"]] == ["Extinguisher applied."]
    assert got["comments"][0]["author"] == "alice"

    closed = sc(ok(s.call("tickets__close", {"id": tid, "resolution": "Replaced the printer."})))
    assert closed["status"] == "closed"
    got = sc(ok(s.call("tickets__get", {"id": tid})))
    assert got["status"] == "closed"
    assert got["closed_by"] == "alice"
    assert got["resolution"] == "Replaced the printer."
    # closing twice is refused
    assert error_kind(s.call("tickets__close", {"id": tid})) == "invalid_argument"

    open_only = sc(ok(s.call("tickets__list", {"status": "open"})))
    assert tid not in [x["id"] for x in open_only["tickets"]]
    closed_only = sc(ok(s.call("tickets__list", {"status": "closed"})))
    assert tid in [x["id"] for x in closed_only["tickets"]]

    # The real database, read directly.
    db = ticket_db(s.data_dir)
    (row,) = db_rows(db, "select * from tickets where tenant = 'acme' and number = ?", (tid,))
    assert row["tenant"] == "acme"
    assert row["title"] == "Printer on fire"
    assert row["body"] == "Smoke from the third floor printer."
    assert row["author"] == "alice"
    assert row["status"] == "closed"
    assert row["closed_by"] == "alice"
    assert row["resolution"] == "Replaced the printer."
    comments = db_rows(db, "select * from comments where ticket_id = ? order by id", (row["id"],))
    assert [(c["author"], c["body"]) for c in comments] == [("alice", "Extinguisher applied.")]


def test_tickets_list_newest_first_and_limit(tickets):
    ids = [sc(create_ticket(tickets, f"t{i}"))["id"] for i in range(5)]
    listed = sc(ok(tickets.call("tickets__list", {})))["tickets"]
    got = [t["id"] for t in listed]
    assert got == sorted(got, reverse=True)
    assert got[:5] == list(reversed(ids))
    two = sc(ok(tickets.call("tickets__list", {"limit": 2})))["tickets"]
    assert [t["id"] for t in two] == list(reversed(ids))[:2]
    (n,) = db_rows(ticket_db(tickets.data_dir), "select count(*) as n from tickets where tenant = 'acme'")
    assert n["n"] == 5


def test_tickets_survive_restart(plugin_dir, serve):
    pd = preapproved_writes(plugin_dir("tickets"))
    s = serve(pd, config=CONFIG)
    tid = sc(create_ticket(s, "Persistent", meta=modern_meta()))["id"]
    assert s.shutdown() == 0
    s2 = serve(pd, config=CONFIG)
    got = sc(ok(s2.call("tickets__get", {"id": tid}, meta=modern_meta())))
    assert got["title"] == "Persistent"


def test_tickets_tenants_are_isolated(plugin_dir, serve):
    pd = preapproved_writes(plugin_dir("tickets"))
    alice = serve(pd, config=CONFIG)
    assert sc(create_ticket(alice, "acme first", meta=modern_meta()))["id"] == 1
    a_id = sc(create_ticket(alice, "acme secret", meta=modern_meta()))["id"]
    assert a_id == 2
    assert alice.shutdown() == 0

    bob = serve(pd, config=CONFIG, principal="bob")
    meta = modern_meta()
    b_id = sc(create_ticket(bob, "globex secret", meta=meta))["id"]
    assert b_id == 1, "numbers are per tenant: bob's first ticket is his #1"
    listed = ok(bob.call("tickets__list", {}, meta=meta))
    assert [x["id"] for x in sc(listed)["tickets"]] == [b_id]
    assert "acme" not in json.dumps(listed)
    # Bob's #1 is his own ticket, never alice's #1.
    assert sc(ok(bob.call("tickets__get", {"id": 1}, meta=meta)))["title"] == "globex secret"
    assert error_kind(bob.call("tickets__get", {"id": a_id}, meta=meta)) == "not_found"
    assert error_kind(bob.call("tickets__comment", {"id": a_id, "body": "x"}, meta=meta)) == "not_found"
    assert error_kind(bob.call("tickets__close", {"id": a_id}, meta=meta)) == "not_found"
    # "another tenant's" reads exactly like "absent"
    absent = bob.call("tickets__get", {"id": 999_999}, meta=meta)
    foreign = bob.call("tickets__get", {"id": a_id}, meta=meta)
    assert sc(absent)["message"].replace("999999", "N") == sc(foreign)["message"].replace(str(a_id), "N")
    assert bob.shutdown() == 0

    # alice's ticket is untouched in the database, bob's is in his tenant
    db = ticket_db(pd.data_dirs["tickets"])
    (row,) = db_rows(db, "select * from tickets where tenant = 'acme' and number = ?", (a_id,))
    assert row["status"] == "open" and row["title"] == "acme secret"
    assert db_rows(db, "select count(*) as n from comments where ticket_id = ?", (row["id"],))[0]["n"] == 0
    (row,) = db_rows(db, "select * from tickets where tenant = 'globex' and number = ?", (b_id,))
    assert row["author"] == "bob" and row["title"] == "globex secret"


def test_ticket_numbers_reveal_nothing_of_another_tenant(plugin_dir, serve):
    # Two servers on one database, as two tenants: interleaved creates.
    pd = preapproved_writes(plugin_dir("tickets"))
    alice = serve(pd, config=CONFIG)
    bob = serve(pd, config=CONFIG, principal="bob")
    meta = modern_meta()
    got: dict[str, list[int]] = {"alice": [], "bob": []}
    for who, s in [("alice", alice), ("bob", bob), ("bob", bob), ("alice", alice), ("bob", bob),
                   ("alice", alice), ("alice", alice)]:
        got[who].append(sc(create_ticket(s, f"{who}'s", meta=meta))["id"])
    # Each tenant counts 1, 2, 3... with no gap where the other one created tickets.
    assert got == {"alice": [1, 2, 3, 4], "bob": [1, 2, 3]}
    assert [t["id"] for t in sc(ok(bob.call("tickets__list", {}, meta=meta)))["tickets"]] == [3, 2, 1]
    assert "#3" in tool_text(bob.call("tickets__get", {"id": 3}, meta=meta))
    (dup,) = db_rows(ticket_db(pd.data_dirs["tickets"]),
                     "select count(*) as n from (select tenant, number from tickets group by 1, 2 having count(*) > 1)")
    assert dup["n"] == 0


# The schema of tickets 1.0, whose ids came from one counter shared by every tenant.
OLD_SCHEMA = """
CREATE TABLE tickets (id INTEGER PRIMARY KEY AUTOINCREMENT, tenant TEXT NOT NULL, title TEXT NOT NULL,
  body TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
  author TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL, closed_by TEXT,
  closed_at TEXT, resolution TEXT);
CREATE INDEX tickets_by_tenant ON tickets (tenant, status, id);
CREATE TABLE comments (id INTEGER PRIMARY KEY AUTOINCREMENT, ticket_id INTEGER NOT NULL REFERENCES tickets (id),
  author TEXT NOT NULL, body TEXT NOT NULL, created_at TEXT NOT NULL);
"""


def test_an_old_database_keeps_every_id_it_handed_out(plugin_dir, serve):
    pd = preapproved_writes(plugin_dir("tickets"))
    data = pd.data_dirs["tickets"]
    data.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(data / "tickets.db")
    con.executescript(OLD_SCHEMA)
    for tenant, title in [("acme", "old one"), ("globex", "old two"), ("acme", "old three")]:
        con.execute("insert into tickets (tenant, title, body, author, created_at, updated_at)"
                    " values (?, ?, '', 'x', 't', 't')", (tenant, title))
    con.execute("insert into comments (ticket_id, author, body, created_at) values (3, 'x', 'kept', 't')")
    con.commit()
    con.close()

    alice = serve(pd, config=CONFIG)
    meta = modern_meta()
    assert [t["id"] for t in sc(ok(alice.call("tickets__list", {}, meta=meta)))["tickets"]] == [3, 1]
    old = sc(ok(alice.call("tickets__get", {"id": 3}, meta=meta)))
    assert old["title"] == "old three" and [c["body"] for c in old["comments"]] == ["kept"]
    assert sc(create_ticket(alice, "new", meta=meta))["id"] == 4
    bob = serve(pd, config=CONFIG, principal="bob")
    assert sc(ok(bob.call("tickets__get", {"id": 2}, meta=meta)))["title"] == "old two"
    assert sc(create_ticket(bob, "new", meta=meta))["id"] == 3


def test_tickets_bad_arguments(tickets):
    assert error_kind(tickets.call("tickets__get", {"id": 999999})) == "not_found"
    assert error_kind(tickets.call("tickets__create", {})) == "invalid_argument"
    assert error_kind(tickets.call("tickets__create", {"title": "no body"})) == "invalid_argument"
    assert error_kind(tickets.call("tickets__get", {})) == "invalid_argument"
    assert error_kind(tickets.call("tickets__get", {"id": "one"})) == "invalid_argument"
    assert error_kind(tickets.call("tickets__list", {"status": "pending"})) == "invalid_argument"


# --------------------------------------------------------------------------- deployments


@pytest.fixture
def deployments(plugin_dir, serve):
    s = serve(plugin_dir("deployments"), config=CONFIG)
    s.initialize()
    return s


DEPLOY_TSV = EXAMPLES / "deployments" / "data" / "deployments.tsv"


def deploy_rows() -> list[dict]:
    lines = DEPLOY_TSV.read_text().splitlines()
    head = lines[0].split("\t")
    return [dict(zip(head, l.split("\t"))) for l in lines[1:] if l.strip()]


def test_deployments_status(deployments):
    res = ok(deployments.call("deployments__status", {}))
    got = sc(res)["deployments"]
    pairs = [(d["service"], d["environment"]) for d in got]
    rows = deploy_rows()
    assert pairs == sorted(set((r["service"], r["environment"]) for r in rows))
    for d in got:  # the latest deployment of each service+environment
        mine = [r for r in rows if (r["service"], r["environment"]) == (d["service"], d["environment"])]
        latest = max(mine, key=lambda r: r["started_at"])
        assert str(d["id"]) == latest["id"] and d["version"] == latest["version"]
    assert sc(res)["source"]["file"]  # provenance: where the answer came from
    assert ISO.match(sc(res)["source"]["modified"])
    one = sc(ok(deployments.call("deployments__status", {"service": "orders", "environment": "production"})))
    assert [(d["service"], d["environment"]) for d in one["deployments"]] == [("orders", "production")]
    assert error_kind(deployments.call("deployments__status", {"service": "no-such-service"})) == "not_found"


def test_deployments_history_order_and_limit(deployments):
    res = ok(deployments.call("deployments__history", {"service": "orders"}))
    entries = sc(res)["deployments"]
    expected = sorted((r for r in deploy_rows() if r["service"] == "orders"),
                      key=lambda r: r["started_at"], reverse=True)
    assert sc(res)["matched"] == len(expected)
    assert len(entries) == min(10, len(expected))  # the default limit
    assert [str(e["id"]) for e in entries] == [r["id"] for r in expected][: len(entries)]
    stamps = [e["started_at"] for e in entries]
    assert stamps == sorted(stamps, reverse=True), "history is not newest first"
    assert all(e["service"] == "orders" for e in entries)

    two = sc(ok(deployments.call("deployments__history", {"service": "orders", "limit": 2})))["deployments"]
    assert two == entries[:2]
    prod = sc(ok(deployments.call("deployments__history", {"service": "orders", "environment": "production"})))
    assert {e["environment"] for e in prod["deployments"]} == {"production"}

    clamped = ok(deployments.call("deployments__history", {"service": "orders", "limit": 1000}))
    assert clamped["_meta"]["bulkhead/provenance"]["clamped"] == [{"field": "limit", "requested": 1000, "applied": 50}]
    assert len(sc(clamped)["deployments"]) == len(expected)


def test_deployments_history_needs_service(deployments):
    assert error_kind(deployments.call("deployments__history", {})) == "invalid_argument"
    assert error_kind(deployments.call("deployments__history", {"service": "nope"})) == "not_found"


# --------------------------------------------------------------------------- bench and admin


@pytest.mark.parametrize("a,b", [(0, 0), (1, 2), (-5, 3), (2**40, 2**40), (-(2**31), -(2**31))])
def test_bench_add(plugin_dir, serve, a, b):
    s = serve(plugin_dir("bench"))
    s.initialize()
    res = ok(s.call("bench__add", {"a": a, "b": b}))
    assert res["content"] == [{"type": "text", "text": str(a + b)}]


def test_bench_add_bad_arguments(plugin_dir, serve):
    s = serve(plugin_dir("bench"))
    s.initialize()
    assert error_kind(s.call("bench__add", {"a": 1})) == "invalid_argument"
    assert error_kind(s.call("bench__add", {"a": "1", "b": 2})) == "invalid_argument"


def test_admin_status_lists_plugins(plugin_dir, serve):
    s = serve(plugin_dir("admin", "bench", "docs", "echo", "wrong_abi"), config=CONFIG, principal="ops")
    s.initialize()
    s.call("bench__add", {"a": 1, "b": 1})
    res = ok(s.call("admin__status", {}))
    blob = json.dumps(sc(res)) + tool_text(res)
    for name in ("admin", "bench", "docs", "echo"):
        assert name in blob, name
    assert "wrong_abi" in blob, "refused folders are part of the core's status"
