"""The docs plugin watches its corpus: a document changed on disk reaches its subscribers.

Each test copies plugins/docs with its own corpus (the policy grants "corpus",
relative to the plugin's folder), serves it as alice (tenant acme), subscribes
to one acme document and one globex document, and then changes both files
on disk: first written to a hidden temporary file and renamed over the
document (as editors and deploy tools save), then rewritten in place. The
plugin's watcher (inotify, debounced) reads the corpus again and calls
resource_changed for what changed; the core tells alice of the acme document
only, since she may not read globex's (her subscription to it was dropped),
and a resources/read after the notification returns the new text, version
and lastModified.

Both eras (2025-11-25 resources/subscribe, 2026-07-28 subscriptions/listen)
run in both tiers: the worker the docs policy defaults to (Landlock, seccomp:
the watcher's inotify, eventfd, poll and thread are allowed there) and
in-process, by a [runtime] table appended to the copied policy.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest

from rawclient import modern_meta

ACME = "docs://acme/faq-billing"  # corpus/acme/faq-billing.md, version 3
GLOBEX = "docs://globex/faq-accounts"  # corpus/globex/faq-accounts.md: not alice's tenant
SUBSCRIPTION_ID = "io.modelcontextprotocol/subscriptionId"
UPDATED = "notifications/resources/updated"
WATCHING = "watching the corpus folder for changes"
NOT_WATCHING = "not watching the corpus folder for changes"
TIERS = ["worker", "in-process"]


def all_messages(s) -> list[dict]:
    """Every line the server wrote, in order."""
    return [json.loads(line) for line in list(s.lines)]


def updates(s, uri: str, listen_id=None) -> list[dict]:
    """The notifications/resources/updated for `uri` so far (of one subscriptions/listen, when given)."""
    return [m for m in all_messages(s)
            if m.get("method") == UPDATED and m["params"]["uri"] == uri
            and (listen_id is None or m["params"].get("_meta", {}).get(SUBSCRIPTION_ID) == listen_id)]


def wait_until(predicate, what: str, s, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {timeout}s; stderr:\n{s.stderr_tail()}")
        time.sleep(0.05)


def docs_copy(plugin_dir, tier: str):
    """A plugin directory holding a copy of docs (its corpus included), run in `tier`."""
    pd = plugin_dir()
    folder = pd.copy("docs")
    assert (folder / "corpus" / "acme" / "faq-billing.md").exists()
    if tier == "in-process":
        with open(folder / "policy.toml", "a") as f:
            f.write('\n[runtime]\nisolation = "in-process"\n')
    return pd, folder / "corpus"


def assert_watching(s, tier: str) -> None:
    """The plugin runs in the tier asked for, and its watcher started (no fallback notice)."""
    wait_until(lambda: WATCHING in s.stderr_text(), "the docs plugin never said it watches its corpus", s)
    log = s.stderr_text()
    assert NOT_WATCHING not in log, log
    assert ("plugin 'docs' worker (pid" in log) == (tier == "worker"), log


def edited(path: Path, version: int, line: str) -> str:
    """The document's text with a new front-matter version and one more line."""
    text, n = re.subn(r"(?m)^version: \d+$", f"version: {version}", path.read_text(), count=1)
    assert n == 1, path
    return text + f"\n{line}\n"


def replace_by_rename(path: Path, text: str) -> None:
    """Written beside it under a hidden name (not a document), then renamed over it: one IN_MOVED_TO."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def rewrite_in_place(path: Path, text: str) -> None:
    """Truncated, written and closed: one IN_CLOSE_WRITE."""
    with open(path, "w") as f:
        f.write(text)


def content(read: dict) -> tuple[str, str, str]:
    """A resources/read answer's text, version and lastModified."""
    [c] = read["contents"]
    return c["text"], c["_meta"]["bulkhead/version"], c["annotations"]["lastModified"]


def change_and_check(s, corpus: Path, read, heard) -> None:
    """Both files changed twice (rename, then in place); after each change alice hears of acme's, and reads it new."""
    acme_file, globex_file = corpus / "acme" / "faq-billing.md", corpus / "globex" / "faq-accounts.md"
    text, version, modified = content(read())
    assert version == "v3" and "renamed into place" not in text

    # globex's first: when acme's notification arrives, globex's change was read too (same reload or an earlier one).
    replace_by_rename(globex_file, edited(globex_file, 3, "Globex: renamed into place."))
    replace_by_rename(acme_file, edited(acme_file, 4, "Acme: renamed into place."))
    wait_until(lambda: len(heard()) >= 1, f"no {UPDATED} for {ACME} after a rename", s)
    text, version2, modified2 = content(read())
    assert "Acme: renamed into place." in text and version2 == "v4" and modified2 != modified, (version2, modified2)

    seen = len(heard())
    rewrite_in_place(globex_file, edited(globex_file, 4, "Globex: rewritten in place."))
    rewrite_in_place(acme_file, edited(acme_file, 5, "Acme: rewritten in place."))
    wait_until(lambda: len(heard()) > seen, f"no {UPDATED} for {ACME} after an in-place rewrite", s)
    text, version3, modified3 = content(read())
    assert "Acme: rewritten in place." in text and version3 == "v5" and modified3 not in (modified, modified2)
    time.sleep(0.5)  # time for a stray notification to show


@pytest.mark.parametrize("tier", TIERS)
def test_legacy_subscribers_hear_a_changed_document_of_their_own_tenant(plugin_dir, serve, tier):
    pd, corpus = docs_copy(plugin_dir, tier)
    alice = serve(pd, principal="alice")
    alice.initialize()
    assert_watching(alice, tier)
    # Both answered {} alike; the core keeps only what alice may read.
    assert alice.result("resources/subscribe", {"uri": ACME}) == {}
    assert alice.result("resources/subscribe", {"uri": GLOBEX}) == {}
    # bob (tenant globex), serving the same folder, shows the globex change is noticed and announced:
    # alice hears nothing of it because the core dropped her subscription, not because nobody told it.
    bob = serve(pd, principal="bob")
    bob.initialize()
    assert_watching(bob, tier)
    assert bob.result("resources/subscribe", {"uri": GLOBEX}) == {}
    assert bob.result("resources/subscribe", {"uri": ACME}) == {}

    change_and_check(alice, corpus, lambda: alice.result("resources/read", {"uri": ACME}),
                     lambda: updates(alice, ACME))
    wait_until(lambda: len(updates(bob, GLOBEX)) >= 2, f"bob never heard of {GLOBEX} twice", bob)
    assert updates(alice, GLOBEX) == [], "alice may not read globex's documents"
    assert updates(bob, ACME) == [], "bob may not read acme's documents"
    assert alice.shutdown() == 0 and bob.shutdown() == 0


@pytest.mark.parametrize("tier", TIERS)
def test_listen_hears_a_changed_document_of_its_own_tenant(plugin_dir, serve, tier):
    pd, corpus = docs_copy(plugin_dir, tier)
    s = serve(pd, principal="alice")
    rid = s.send_request("subscriptions/listen", {
        "notifications": {"resourceSubscriptions": [ACME, GLOBEX]}, "_meta": modern_meta()})
    acked = lambda: [m for m in all_messages(s) if m.get("method") == "notifications/subscriptions/acknowledged"
                     and m["params"].get("_meta", {}).get(SUBSCRIPTION_ID) == rid]
    wait_until(lambda: acked(), "no notifications/subscriptions/acknowledged", s)
    assert acked()[0]["params"]["notifications"] == {"resourceSubscriptions": [ACME]}
    assert_watching(s, tier)

    change_and_check(s, corpus, lambda: s.result("resources/read", {"uri": ACME, "_meta": modern_meta()}),
                     lambda: updates(s, ACME, rid))
    assert updates(s, GLOBEX) == [], "alice may not read globex's documents"
    assert not s.has_response(rid), "a listen stays open until it is cancelled or the server stops"
    assert s.shutdown() == 0
    end = s.wait(rid, timeout=1)
    assert end["result"]["resultType"] == "complete"
