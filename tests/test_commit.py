"""Saving back to the real dev wiki: attribution, policy, read-back, outside edits, failures."""

from __future__ import annotations

import asyncio
import json
import unicodedata
import urllib.parse
import urllib.request
from typing import Any

import pytest

from collab.dev import devwiki as dw
from tests.clients import PyClient
from tests.plugins.server import CollabProcess, ServerFactory
from tests.support.pages import unique_title
from tests.wikiclient import WikiUser

pytestmark = pytest.mark.asyncio

FAST = {"commit_idle_s": 1, "commit_max_s": 3, "poll_s": 1}


def revisions_api(server: CollabProcess, title: str) -> dict[str, Any]:
    url = f"{server.url}/api/pages/{urllib.parse.quote(title, safe='')}/revisions"
    with urllib.request.urlopen(url, timeout=10) as resp:
        return dict(json.load(resp))


async def joined(server: CollabProcess, user: WikiUser, title: str) -> tuple[PyClient, Any]:
    client = await PyClient(server.url, cookie=user.cookie_header()).connect()
    page = await client.join(title)
    await client.wait_until(lambda: page.synced, what="initial sync")
    return client, page


async def test_concurrent_typing_is_saved_by_the_bot_crediting_both_with_sections(
    collab_server: ServerFactory, admin: WikiUser, alice: WikiUser, bob: WikiUser
):
    title = "Commit credits"
    admin.edit(title, "Lead.\n\n== History ==\nOld history.\n\n== Geography ==\nHills.\n")
    server = collab_server(**FAST)
    a, pa = await joined(server, alice, title)
    b, pb = await joined(server, bob, title)
    try:
        a.edit(title, str(pa).index("Old history."), "Alice was here. ")
        b.edit(title, str(pb).index("Hills."), "Bob too. ")
        await a.wait_until(lambda: "Bob too." in str(pa) and "Alice was here." in str(pa))
        saved = await a.wait_status(title, "saved")
        latest = admin.latest_revision(title)
        assert latest["revid"] == saved["revid"]
        assert latest["content"] == str(pa) == str(pb)
        assert latest["user"] == "SyncBot"
        assert "collab-sync" in latest["tags"]
        assert "[[User:Alice|Alice]]" in latest["comment"] and "[[User:Bob|Bob]]" in latest["comment"]
        assert "/* History */" in latest["comment"] and "/* Geography */" in latest["comment"]
        history = revisions_api(server, title)
        assert history["title"] == title
        assert history["revisions"][0]["revid"] == saved["revid"]
        assert sorted(history["revisions"][0]["coauthors"]) == ["Alice", "Bob"]
        assert sorted(saved["coauthors"]) == ["Alice", "Bob"]
    finally:
        await a.close()
        await b.close()


async def test_connected_editors_who_typed_nothing_are_not_credited(
    collab_server: ServerFactory, admin: WikiUser, alice: WikiUser, bob: WikiUser
):
    title = "Only real contributors"
    admin.edit(title, "Start.")
    server = collab_server(**FAST)
    a, _pa = await joined(server, alice, title)
    b, _pb = await joined(server, bob, title)
    try:
        a.append(title, " More from Alice.")
        await a.wait_status(title, "saved")
        comment = admin.latest_revision(title)["comment"]
        assert "Alice" in comment and "Bob" not in comment
    finally:
        await a.close()
        await b.close()


async def test_continuous_typing_makes_intermediate_revisions_and_leaving_a_final_one(
    collab_server: ServerFactory, admin: WikiUser, alice: WikiUser
):
    title = "Long typing session"
    admin.edit(title, "Start.")
    server = collab_server(commit_idle_s=2, commit_max_s=3, poll_s=1)
    a, pa = await joined(server, alice, title)
    first_rev = admin.read(title)[1]
    try:
        # Type every 0.5 s (never idle for 2 s) for 8 s: only the 3 s deadline can save meanwhile.
        for i in range(16):
            a.append(title, f" w{i}")
            await asyncio.sleep(0.5)  # the typist's pace, not a synchronisation
        saved_while_typing = [s for s in pa.statuses if s["state"] == "saved"]
        assert len(saved_while_typing) >= 2
        a.append(title, " last words")
        await a.leave(title)
        watcher, wp = await joined(server, admin, title)
        await watcher.wait_until(lambda: admin.read(title)[0].endswith("last words"), timeout=20)
        assert admin.read(title)[0] == str(wp)
        await watcher.close()
        revs = admin.api(action="query", prop="revisions", titles=title, rvprop="ids|user", rvlimit=50)
        bot_revs = [r for r in revs["query"]["pages"][0]["revisions"] if r["user"] == "SyncBot"]
        assert len(bot_revs) >= 3 and admin.read(title)[1] != first_rev
    finally:
        await a.close()


async def test_a_new_page_is_not_created_by_the_timers_but_by_save(
    collab_server: ServerFactory, admin: WikiUser, alice: WikiUser
):
    draft, control = unique_title("Commit new draft"), unique_title("Commit existing page")
    admin.edit(control, "Start.")
    server = collab_server(**FAST)
    a, pd = await joined(server, alice, draft)
    pc = await a.join(control)
    await a.wait_until(lambda: pc.synced, what="initial sync")
    try:
        # Typing on both, past the deadline: the existing page is saved by the timers, the new one not.
        for i in range(8):
            a.append(draft, f" d{i}")
            await a.flush()  # (the draft's change reaches the server before the control's)
            a.append(control, f" c{i}")
            await asyncio.sleep(0.5)  # the typist's pace, not a synchronisation
        await a.flush()
        since = len(pc.statuses)
        await a.wait_status(control, "saved", since=since)  # its idle time is over, hence the draft's too
        assert admin.read(draft) == ("", None)
        assert not any(s["state"] in ("saving", "saved") for s in pd.statuses)
        saved = await a.save(draft)
        assert saved["ok"] and saved["revid"], saved
        assert admin.read(draft) == (str(pd), saved["revid"])
    finally:
        await a.close()


async def test_a_new_page_is_created_when_the_last_editor_leaves(
    collab_server: ServerFactory, admin: WikiUser, alice: WikiUser
):
    draft = unique_title("Commit draft left")
    server = collab_server(commit_idle_s=600, commit_max_s=600, poll_s=1)
    a, _pd = await joined(server, alice, draft)
    try:
        a.append(draft, "Half written.")
        await a.leave(draft)
        await a.wait_until(lambda: admin.read(draft)[1] is not None, what="the page created on leaving")
        assert admin.read(draft)[0] == "Half written."
    finally:
        await a.close()


async def test_an_outside_edit_of_another_section_merges_live_and_both_survive(
    collab_server: ServerFactory, admin: WikiUser, alice: WikiUser
):
    title = "Outside edit elsewhere"
    admin.edit(title, "== One ==\nAlpha.\n\n== Two ==\nBeta.\n")
    server = collab_server(commit_idle_s=30, commit_max_s=60, poll_s=1)
    a, pa = await joined(server, alice, title)
    try:
        a.edit(title, str(pa).index("Alpha."), "Unsaved by Alice. ")
        wiki_text, _ = admin.read(title)
        admin.edit(title, wiki_text.replace("Beta.", "Beta, edited by Admin."))
        merged = await a.wait_status(title, "merged", timeout=20)
        assert merged["user"] == "Admin"
        assert "Beta, edited by Admin." in str(pa) and "Unsaved by Alice." in str(pa)
        ack = await a.save(title)
        assert ack["ok"] and ack["revid"]
        final = admin.read(title)[0]
        assert final == "== One ==\nUnsaved by Alice. Alpha.\n\n== Two ==\nBeta, edited by Admin."
        assert final == str(pa)
    finally:
        await a.close()


async def test_an_overlapping_outside_edit_keeps_both_sides_without_duplication(
    collab_server: ServerFactory, admin: WikiUser, alice: WikiUser
):
    title = "Outside edit overlapping"
    admin.edit(title, "The quick brown fox jumps over the lazy dog.")
    server = collab_server(commit_idle_s=30, commit_max_s=60, poll_s=1)
    a, pa = await joined(server, alice, title)
    try:
        a.edit(title, str(pa).index("brown"), "very ")
        admin.edit(title, "The quick red fox jumps over the lazy cat.")
        await a.wait_status(title, "merged", timeout=20)
        text = str(pa)
        assert "very" in text and "red" in text and "cat" in text
        assert "brown" not in text and "dog" not in text
        assert text.count("fox") == 1 and text.count("quick") == 1
        ack = await a.save(title)
        assert ack["ok"]
        assert admin.read(title)[0] == str(pa)
    finally:
        await a.close()


async def test_an_edit_conflict_on_save_is_merged_and_retried(
    collab_server: ServerFactory, admin: WikiUser, alice: WikiUser
):
    title = "Conflict on save"
    admin.edit(title, "Line one.\nLine two.\n")
    server = collab_server(commit_idle_s=30, commit_max_s=60, poll_s=600)  # polling off: the save meets it
    a, pa = await joined(server, alice, title)
    try:
        a.edit(title, str(pa).index("Line two."), "Alice: ")
        admin.edit(title, "Line one, by Admin.\nLine two!\n")
        ack = await a.save(title)
        assert ack["ok"] and ack["revid"]
        final = admin.read(title)[0]
        assert "by Admin" in final and "Alice: " in final and final == str(pa)
    finally:
        await a.close()


async def test_four_tildes_typed_by_bob_become_bobs_signature(
    collab_server: ServerFactory, admin: WikiUser, bob: WikiUser
):
    title = "Talk:Signatures"
    admin.edit(title, "== Question ==\nWhat now?\n")
    server = collab_server(**FAST)
    b, pb = await joined(server, bob, title)
    try:
        for ch in "\n:Agreed. ~~~~":
            b.append(title, ch)
        await b.wait_status(title, "saved")
        saved = admin.read(title)[0]
        assert "[[User:Bob|Bob]]" in saved and "SyncBot" not in saved and "~~~~" not in saved
        assert saved == str(pb)
    finally:
        await b.close()


async def test_signatures_expanded_while_another_editor_types_lose_none_of_his_keystrokes(
    collab_server: ServerFactory, admin: WikiUser, alice: WikiUser, bob: WikiUser
):
    """Each save asks the wiki for Alice's signature (her session's pre-save transform: a round trip) while
    Bob types a token every ~30 ms: what he typed meanwhile stays, once, in order."""
    title = "Talk:Signatures while typing"
    admin.edit(title, "Bob:\nAlice:")
    server = collab_server(commit_idle_s=1, commit_max_s=2, poll_s=1)  # ~5 saves while Bob types
    a, pa = await joined(server, alice, title)
    b, pb = await joined(server, bob, title)
    tokens = [f"b{i:03d}" for i in range(330)]
    signed = 0
    try:

        async def bob_types() -> None:
            for token in tokens:
                b.edit(title, str(pb).index("\n"), " " + token)  # at the end of his line
                await asyncio.sleep(0.03)  # (pacing the typist, not waiting for anything)

        typing = asyncio.create_task(bob_types())
        while not typing.done():
            a.append(title, f"\n: Point {signed}. ~~~~")
            signed += 1
            await asyncio.wait([typing], timeout=1.3)
        await typing
        await a.wait_until(lambda: tokens[-1] in str(pa), what="Bob's last token at Alice")
        ack = await a.save(title)
        assert ack["ok"]
        final = admin.read(title)[0]
        await a.wait_until(lambda: str(pa) == final, what="the read-back")
        await b.wait_until(lambda: str(pb) == final, what="the read-back at Bob")
        saves = [s for s in pa.statuses if s["state"] == "saved"]
        assert len(saves) >= 2  # the expansions raced Bob's typing more than once
        for text in (str(pa), final):
            assert [text.count(token) for token in tokens] == [1] * len(tokens)
            at = [text.index(token) for token in tokens]
            assert at == sorted(at) and text.index("\nAlice:") > at[-1]  # in order, on his line
            assert "~~~" not in text and text.count("[[User:Alice|Alice]]") == signed
            assert "SyncBot" not in text and "User:Bob" not in text
    finally:
        await a.close()
        await b.close()


async def test_wiki_normalisation_converges_and_causes_no_spurious_second_save(
    collab_server: ServerFactory, admin: WikiUser, alice: WikiUser
):
    title = "Normalisation"
    admin.edit(title, "Start.")
    server = collab_server(**FAST)
    a, pa = await joined(server, alice, title)
    try:
        decomposed = unicodedata.normalize("NFD", "café")
        a.append(title, f"\r\nLine with CRLF\r\n{decomposed} trailing   \n\n")
        saved = await a.wait_status(title, "saved")
        await a.wait_until(lambda: str(pa) == admin.read(title)[0], what="convergence to the saved text")
        assert "\r" not in str(pa) and unicodedata.normalize("NFC", "café") in str(pa)
        n_statuses = len(pa.statuses)
        ack = await a.save(title)  # nothing changed since: no new revision
        assert ack == {"ok": True, "revid": None}
        assert admin.read(title)[1] == saved["revid"]
        assert not [s for s in pa.statuses[n_statuses:] if s["state"] == "saved"]
    finally:
        await a.close()


async def test_typing_continues_while_the_wiki_is_down_and_is_saved_when_it_returns(
    collab_server: ServerFactory, devwiki: dw.DevWiki, admin: WikiUser, alice: WikiUser
):
    title = "Wiki outage"
    admin.edit(title, "Before the outage.")
    server = collab_server(**FAST)
    a, _pa = await joined(server, alice, title)
    try:
        dw.stop_server(devwiki.dir)
        try:
            a.append(title, " Typed while the wiki was down.")
            status = await a.wait_status(title, "error", timeout=30)
            assert status["code"] == "wikiunavailable"
            a.append(title, " And more.")
        finally:
            dw.start_server(devwiki.dir, devwiki.port)
        await a.wait_until(lambda: admin.read(title)[0].endswith("And more."), timeout=60, what="the retry")
        assert admin.read(title)[0] == "Before the outage. Typed while the wiki was down. And more."
    finally:
        await a.close()


async def test_a_protected_page_gives_the_editors_the_wikis_reason(collab_server: ServerFactory, admin: WikiUser):
    title = "Protected from the bot"
    admin.edit(title, "Protected text.")
    server = collab_server(**FAST)
    a, pa = await joined(server, admin, title)  # Admin may edit; the bot may not (no editprotected)
    try:
        admin.protect(title)
        a.append(title, " Admin's addition.")
        status = await a.wait_status(title, "error", timeout=30)
        assert "protected" in status["message"]
        assert "Admin's addition." in str(pa)  # the session keeps its text
    finally:
        admin.unprotect(title)
        await a.close()


async def test_a_too_large_text_and_a_deleted_page_give_clear_messages(
    collab_server: ServerFactory, admin: WikiUser, alice: WikiUser
):
    server = collab_server(**FAST)
    big = "Too large"
    a, _pa = await joined(server, alice, big)
    try:
        a.append(big, "x" * (2048 * 1024 + 10))
        status = await a.wait_status(big, "error", timeout=30)
        assert "limit" in status["message"] and "2097152" in status["message"]
        assert admin.read(big) == ("", None)  # nothing half-saved
    finally:
        await a.close()
    gone = "Deleted meanwhile"
    admin.edit(gone, "Soon deleted.")
    b, pb = await joined(server, alice, gone)
    try:
        admin.delete(gone)
        b.append(gone, " Still typing.")
        status = await b.wait_status(gone, "removed", timeout=30)  # the session ends (tests/test_moves.py)
        assert status["code"] == "deleted" and "deleted" in status["message"]
        assert str(pb).endswith("Still typing.")
    finally:
        await b.close()
