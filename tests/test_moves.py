"""Pages moved or deleted on the real dev wiki while editors type (collab/moves.py), with real clients.

A move: the session follows the new title (``moved``), the next revision lands there, and the redirect left
at the old title never enters the text. A deletion: every editor gets ``removed`` with code ``deleted``, keeps
the text, and nothing re-creates the page. In-process: tests/unit/test_moves.py.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.clients import Page, PyClient
from tests.plugins.server import CollabProcess, ServerFactory
from tests.wikiclient import WikiUser

pytestmark = pytest.mark.asyncio


async def joined(server: CollabProcess, user: WikiUser, title: str) -> tuple[PyClient, Page]:
    client = await PyClient(server.url, cookie=user.cookie_header()).connect()
    page = await client.join(title)
    await client.wait_until(lambda: page.synced, what="initial sync")
    return client, page


def status(page: Page, state: str) -> dict[str, Any] | None:
    return next((s for s in page.statuses if s["state"] == state), None)


async def test_a_page_moved_while_two_editors_type_goes_on_under_the_new_title_without_the_redirect(
    collab_server: ServerFactory, admin: WikiUser, alice: WikiUser, bob: WikiUser
):
    old, new = "Move during typing", "Moved during typing"
    admin.edit(old, "Lead.\n")
    server = collab_server(commit_idle_s=2, commit_max_s=30, poll_s=1)
    a, pa = await joined(server, alice, old)
    b, pb = await joined(server, bob, old)
    try:
        a.append(old, " A0")
        b.append(old, " B0")
        await a.wait_until(lambda: "B0" in str(pa) and "A0" in str(pb), what="both edits everywhere")
        admin.move(old, new)
        # Both go on typing until both have been told; what they send meanwhile still names the old title.
        i = 1
        while status(pa, "moved") is None or status(pb, "moved") is None:
            a.append(pa.title, f" A{i}")
            b.append(pb.title, f" B{i}")
            i += 1
            await asyncio.sleep(0.1)  # the typists' pace, not a synchronisation
            assert i < 200, "no moved status"
        for page in (pa, pb):
            moved = status(page, "moved")
            assert moved is not None and moved["title"] == new and moved["from"] == old and "Admin" in moved["message"]
            assert page.title == new
        a.append(new, " A-after")
        b.append(new, " B-after")
        tokens = [f"A{n}" for n in range(i)] + [f"B{n}" for n in range(i)] + ["A-after", "B-after"]
        await a.wait_until(lambda: all(t in str(pa) and t in str(pb) for t in tokens), what="every token everywhere")
        text = str(pa)
        assert str(pb) == text and "REDIRECT" not in text and text.startswith("Lead.")
        words = text.split()
        assert all(words.count(t) == 1 for t in tokens), text
        await a.wait_until(lambda: admin.read(new)[0] == str(pa), timeout=30, what="saved to the new title")
        latest = admin.latest_revision(new)
        assert latest["user"] == "SyncBot" and "Alice" in latest["comment"] and "Bob" in latest["comment"]
        assert admin.read(old)[0] == f"#REDIRECT [[{new}]]"  # the old title keeps only the redirect
    finally:
        await a.close()
        await b.close()


async def test_a_page_deleted_during_a_session_removes_every_editor_who_keeps_the_text(
    collab_server: ServerFactory, admin: WikiUser, alice: WikiUser, bob: WikiUser
):
    title = "Deleted during typing"
    admin.edit(title, "Soon deleted.")
    server = collab_server(commit_idle_s=60, commit_max_s=120, poll_s=1)
    a, pa = await joined(server, alice, title)
    b, pb = await joined(server, bob, title)
    try:
        a.append(title, " Alice's unsaved words.")
        await b.wait_until(lambda: "unsaved words" in str(pb), what="Alice's words at Bob's")
        admin.delete(title)
        for client, page in ((a, pa), (b, pb)):
            await client.wait_until(lambda page=page: status(page, "removed") is not None, timeout=30, what="removed")
            removed = status(page, "removed")
            assert removed is not None and removed["code"] == "deleted" and "Admin" in removed["message"]
            assert str(page) == "Soon deleted. Alice's unsaved words."  # the client still has the text
        # Leaving saves nothing: the page is not re-created (the session's room is gone, no timer is left).
        assert (await a.leave(title))["ok"] is False  # not joined any more
        # Rejoining shows the text kept in the log, and is told again that the page was deleted.
        c, pc = await joined(server, admin, title)
        try:
            assert str(pc) == "Soon deleted. Alice's unsaved words."
            await c.wait_until(lambda: status(pc, "removed") is not None, timeout=30, what="removed again")
        finally:
            await c.close()
        assert admin.read(title) == ("", None)
        assert "session ended: the page was deleted" in server.log()
    finally:
        await a.close()
        await b.close()


async def test_a_page_moved_without_a_redirect_is_followed_and_saved_there(
    collab_server: ServerFactory, admin: WikiUser, alice: WikiUser
):
    old, new = "Move without redirect", "Moved without redirect"
    admin.edit(old, "Text.")
    server = collab_server(commit_idle_s=1, commit_max_s=30, poll_s=1)
    a, pa = await joined(server, alice, old)
    try:
        a.append(old, " Unsaved.")
        await a.wait_until(lambda: "Unsaved" in str(pa))
        admin.move(old, new, redirect=False)
        await a.wait_until(lambda: status(pa, "moved") is not None, timeout=30, what="moved")
        await a.wait_until(lambda: admin.read(new)[0] == "Text. Unsaved.", timeout=30, what="saved to the new title")
        assert admin.read(old) == ("", None)  # nothing re-created the old title
    finally:
        await a.close()
