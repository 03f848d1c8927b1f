"""Saves as wiki editors expect them, against the real dev wiki (issue 15): the editor's summary and "minor
edit" box on Save, and revisions patrollers see in Recent changes. The policy in process: tests/unit/test_commit.py
and tests/unit/test_wikitext.py."""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from collab.dev import devwiki as dw
from tests.clients import PyClient
from tests.plugins.browser import WikiBrowserFactory
from tests.plugins.server import CollabProcess, ServerFactory
from tests.wikiclient import WikiUser

pytestmark = pytest.mark.asyncio

QUIET = 600  # no timer saves during a test: only the explicit Save does


async def joined(server: CollabProcess, user: WikiUser, title: str) -> tuple[PyClient, Any]:
    client = await PyClient(server.url, cookie=user.cookie_header()).connect()
    page = await client.join(title)
    await client.wait_until(lambda: page.synced, what="initial sync")
    return client, page


def latest(admin: WikiUser, title: str) -> dict[str, Any]:
    data = admin.api(action="query", prop="revisions", titles=title, rvprop="ids|user|comment|flags", rvlimit=1)
    revision: dict[str, Any] = data["query"]["pages"][0]["revisions"][0]
    return revision


def recent_changes(admin: WikiUser, title: str, show: str) -> list[dict[str, Any]]:
    data = admin.api(action="query", list="recentchanges", rctitle=title, rcshow=show, rcprop="ids|user|comment")
    changes: list[dict[str, Any]] = data["query"]["recentchanges"]
    return changes


async def test_the_editors_summary_and_minor_box_with_a_coauthor_and_alone(
    collab_server: ServerFactory, admin: WikiUser, alice: WikiUser, bob: WikiUser
):
    title = f"Summary {secrets.token_hex(3)}"
    admin.edit(title, "== Dates ==\nStart.")
    server = collab_server(commit_idle_s=QUIET, commit_max_s=QUIET)
    a, pa = await joined(server, alice, title)
    b, _pb = await joined(server, bob, title)
    try:
        a.append(title, " Alice's words.")
        b.append(title, " Bob's words.")
        await b.flush()
        await a.wait_until(lambda: "Bob's words." in str(pa), what="Bob's text at Alice's")
        ack = await a.save(title, {"summary": "Fixed the dates", "minor": True})
        assert ack["ok"] and ack["revid"]
        revision = latest(admin, title)
        assert revision["revid"] == ack["revid"] and revision["user"] == "SyncBot"
        assert revision["comment"] == (
            "Fixed the dates (collaborative edit by [[User:Alice|Alice]] with [[User:Bob|Bob]])"
        )
        assert not revision["minor"]  # Bob typed too

        a.append(title, " Alone.")
        ack = await a.save(title, {"summary": "typo", "minor": True})
        revision = latest(admin, title)
        assert revision["revid"] == ack["revid"] and revision["minor"]
        assert revision["comment"] == "typo (collaborative edit by [[User:Alice|Alice]])"

        bad = await a.save(title, {"summary": 42})
        assert bad["error"]["code"] == "badmessage"
    finally:
        await a.close()
        await b.close()


async def test_the_bots_revision_is_listed_by_recent_changes_default_filters_unless_bot_flag(
    collab_server: ServerFactory, admin: WikiUser, alice: WikiUser
):
    title = f"Patrolled {secrets.token_hex(3)}"
    admin.edit(title, "Start.")
    server = collab_server(commit_idle_s=QUIET, commit_max_s=QUIET)
    a, _pa = await joined(server, alice, title)
    try:
        a.append(title, " Seen by patrollers.")
        revid = (await a.save(title))["revid"]
    finally:
        await a.close()
    [change] = [c for c in recent_changes(admin, title, "!bot") if c["revid"] == revid]
    assert change["user"] == "SyncBot" and "[[User:Alice|Alice]]" in change["comment"]
    server.stop()

    flagged = collab_server(commit_idle_s=QUIET, commit_max_s=QUIET, bot_flag=True)
    a, _pa = await joined(flagged, alice, title)
    try:
        a.append(title, " Hidden.")
        revid = (await a.save(title))["revid"]
    finally:
        await a.close()
    assert revid not in [c["revid"] for c in recent_changes(admin, title, "!bot")]
    assert revid in [c["revid"] for c in recent_changes(admin, title, "bot")]


async def test_the_edit_forms_summary_and_minor_box_go_with_the_collaborative_save_in_the_browser(
    collab_server: ServerFactory, devwiki: dw.DevWiki, wiki_browser: WikiBrowserFactory, admin: WikiUser
):
    title = f"Browser summary {secrets.token_hex(3)}"
    admin.edit(title, "First line.")
    server = collab_server(commit_idle_s=QUIET, commit_max_s=QUIET)
    dw.install_loader(devwiki, server.url)
    alice = await wiki_browser(dw.ALICE)
    await alice.open_edit(title)
    await alice.start_collab()
    await alice.page.locator(".collab-editor .cm-line", has_text="First line.").click()
    await alice.page.keyboard.press("End")
    await alice.page.keyboard.type(" Alone.")
    await alice.page.fill("#wpSummary", "Tidied the first line")
    await alice.page.check("#wpMinoredit")
    await alice.page.click("#wpSave")
    await alice.page.wait_for_url(lambda url: "action=edit" not in url, timeout=60_000)
    revision = latest(admin, title)
    assert revision["user"] == "SyncBot" and revision["minor"]
    assert revision["comment"] == "Tidied the first line (collaborative edit by [[User:Alice|Alice]])"
