"""Outside edits that already hold the session's unsaved text, against the real dev wiki (collab/merge.py).

Someone copies the live text into a classic edit (left collaborative mode, another tab, a script that
re-saves what it read), adds to it and saves: the session merges that revision three-way, so what both
sides hold is kept once, and the next bot revision has every piece of text exactly once.
"""

from __future__ import annotations

import pytest

from tests.clients import PyClient
from tests.plugins.server import ServerFactory
from tests.wikiclient import WikiUser

pytestmark = pytest.mark.asyncio


async def test_an_outside_revision_holding_the_unsaved_text_plus_a_line_is_saved_with_each_piece_once(
    collab_server: ServerFactory, admin: WikiUser, alice: WikiUser, bob: WikiUser
):
    title = "Merge leave and save"
    admin.edit(title, "Intro.\n\n== Notes ==\nFirst note.")  # (the wiki keeps no trailing line end)
    server = collab_server(commit_idle_s=60, commit_max_s=120, poll_s=1)
    b = await PyClient(server.url, cookie=bob.cookie_header()).connect()
    try:
        page = await b.join(title)
        await b.wait_until(lambda: page.synced, what="initial sync")
        b.edit(title, str(page).index("\n\n== Notes"), " Bob's unsaved words.")
        b.append(title, "\nBob's note.")
        await b.wait_until(lambda: "Bob's note." in str(page), what="Bob's typing")
        await b.flush()
        # Alice's classic edit starts from the live text (as the textarea does when she leaves the session).
        alice.edit(title, str(page) + "\nAlice's line.", summary="classic edit")
        merged = await b.wait_status(title, "merged", timeout=20)
        assert merged["user"] == "Alice"
        assert str(page) == "Intro. Bob's unsaved words.\n\n== Notes ==\nFirst note.\nBob's note.\nAlice's line."
        b.append(title, "\nBob keeps typing.")
        ack = await b.save(title)
        assert ack["ok"] and ack["revid"]
        saved, _ = admin.read(title)
        assert saved == str(page)
        for piece in (
            "Intro.",
            "Bob's unsaved words.",
            "First note.",
            "Bob's note.",
            "Alice's line.",
            "Bob keeps typing.",
        ):
            assert saved.count(piece) == 1, (piece, saved)
        assert admin.latest_revision(title)["user"] == "SyncBot"
    finally:
        await b.close()
