"""Collaborative mode on the wiki's real edit page, end to end in Debian's Chromium (issue 4's acceptance):
users log in through the wiki's login form, the loader installed in MediaWiki:Common.js puts "Edit
together" on the edit page, and everything goes through a real `collab serve` and the real dev wiki."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import socketio
from playwright.async_api import Dialog, Locator, Page, expect

from collab.dev import devwiki as dw
from tests.clients import PyClient
from tests.plugins.browser import (
    WikiBrowser,
    WikiBrowserFactory,
    editor_text,
    wait_editor_contains,
    wait_editor_text,
    wait_saved,
    wait_state,
)
from tests.plugins.server import CollabProcess, ServerFactory
from tests.wikiclient import WikiUser

pytestmark = pytest.mark.asyncio

QUIET = {"commit_idle_s": 60, "commit_max_s": 120}  # saves only when asked (or after everyone left)
ADMIN_TOKEN = "admin-token-for-browser-tests-0123456789"
TYPING_DELAY_MS = 15  # between key presses: a fast typist, so that the two users' keys really interleave

WikiServerFactory = Callable[..., CollabProcess]


@pytest.fixture
def wiki_server(collab_server: ServerFactory, devwiki: dw.DevWiki) -> WikiServerFactory:
    """Start a collab server and point the wiki's loader (MediaWiki:Common.js) at it."""

    def start(**options: object) -> CollabProcess:
        server = collab_server(**options)
        dw.install_loader(devwiki, server.url)
        return server

    return start


async def type_at_end_of(page: Page, line_text: str, text: str) -> None:
    """Click into the editor's line containing ``line_text``, go to its end, and type ``text``."""
    await page.locator(".collab-editor .cm-line", has_text=line_text).click()
    await page.keyboard.press("End")
    await page.keyboard.type(text, delay=TYPING_DELAY_MS)


async def type_at_start_of(page: Page, line_text: str, text: str) -> None:
    await page.locator(".collab-editor .cm-line", has_text=line_text).click()
    await page.keyboard.press("Home")
    await page.keyboard.type(text, delay=TYPING_DELAY_MS)


def status_line(user: WikiBrowser) -> Locator:
    return user.page.locator(".collab-status")


async def record_status_texts(page: Page) -> None:
    """Keep every text the status line shows in ``window.__statusTexts`` (in order, no repeats)."""
    await page.evaluate(
        """() => {
          const el = document.querySelector('.collab-status')
          const seen = window.__statusTexts = [el.textContent]
          new MutationObserver(() => {
            if (seen[seen.length - 1] !== el.textContent) seen.push(el.textContent)
          }).observe(el, {childList: true, characterData: true, subtree: true})
        }"""
    )


async def test_two_users_type_together_on_the_edit_page_and_the_save_credits_both(
    wiki_server: WikiServerFactory, wiki_browser: WikiBrowserFactory, admin: WikiUser, artifacts: Path
):
    title = "Browser typing together"
    admin.edit(title, "Intro for everyone.\n\nFirst paragraph.\n\nSecond paragraph.\n\nShared paragraph.")
    wiki_server(**QUIET)
    alice, bob = await asyncio.gather(wiki_browser(dw.ALICE), wiki_browser(dw.BOB))
    for user in (alice, bob):
        await user.open_edit(title)
        await user.start_collab()
        await expect(user.page.locator("#wpTextbox1")).to_be_hidden()
    for user in (alice, bob):
        await expect(user.page.locator(".collab-participant")).to_have_count(2)

    # Different paragraphs, at the same time.
    await asyncio.gather(
        type_at_end_of(alice.page, "First paragraph.", " Alice wrote this."),
        type_at_end_of(bob.page, "Second paragraph.", " Bob wrote that."),
    )
    # The same paragraph, at the same time: Alice appends, Bob prepends.
    await asyncio.gather(
        type_at_end_of(alice.page, "Shared paragraph.", " Alice's ending."),
        type_at_start_of(bob.page, "Shared paragraph.", "Bob's opening. "),
    )
    converged = (
        "Intro for everyone.\n\nFirst paragraph. Alice wrote this.\n\nSecond paragraph. Bob wrote that.\n\n"
        "Bob's opening. Shared paragraph. Alice's ending."
    )
    await wait_editor_text(alice.page, converged)
    await wait_editor_text(bob.page, converged)

    # Each sees the other's cursor, labelled with the other's name, and the other in the participants.
    for user, other in ((alice, "Bob"), (bob, "Alice")):
        label = user.page.locator(".collab-editor .cm-ySelectionInfo")
        await expect(label).to_have_text(other)
        await expect(label).to_have_css("opacity", "1")  # shown, not only while the mouse is over it
        await expect(user.page.locator(f".collab-participant[data-name={other}]")).to_have_count(1)
        await user.page.screenshot(path=str(artifacts / f"browser-together-{user.account.name.lower()}.png"))

    # The form's Save saves through the server, then shows the page.
    await alice.page.click("#wpSave")
    await alice.page.wait_for_url(lambda url: "action=edit" not in url, timeout=60_000)
    await expect(alice.page.locator("#mw-content-text")).to_contain_text("Bob's opening. Shared paragraph.")
    latest = admin.latest_revision(title)
    assert latest["content"] == converged
    assert latest["user"] == "SyncBot"
    assert "[[User:Alice|Alice]]" in latest["comment"] and "[[User:Bob|Bob]]" in latest["comment"]
    # Bob, still editing, is told.
    await expect(status_line(bob)).to_contain_text(f"saved as revision {latest['revid']}")


async def test_typing_offline_survives_and_the_status_line_shows_offline_then_saved(
    wiki_server: WikiServerFactory, wiki_browser: WikiBrowserFactory, admin: WikiUser, artifacts: Path
):
    title = "Browser offline typing"
    admin.edit(title, "Alice's line.\n\nBob's line.")
    wiki_server(commit_idle_s=1, commit_max_s=5)
    alice, bob = await asyncio.gather(wiki_browser(dw.ALICE), wiki_browser(dw.BOB))
    for user in (alice, bob):
        await user.open_edit(title)
        await user.start_collab()
    await expect(alice.page.locator(".collab-participant")).to_have_count(2)
    await record_status_texts(alice.page)

    await type_at_end_of(alice.page, "Alice's line.", " Online.")
    await alice.context.set_offline(True)
    await wait_state(alice.page, "offline")
    offline_words = " Typed offline."
    await alice.page.keyboard.type(offline_words, delay=TYPING_DELAY_MS)
    await expect(status_line(alice)).to_have_text(re.compile(r"^offline — \d+ unsaved changes"))
    unsaved = int(re.findall(r"\d+", await status_line(alice).inner_text())[0])
    assert unsaved >= len(offline_words)  # one per key press (and " Online." unless saved before)
    await type_at_end_of(bob.page, "Bob's line.", " Bob stayed online.")
    await expect(bob.page.locator(".collab-participant")).to_have_count(1)  # Alice has gone away
    await wait_saved(bob.page)  # meanwhile the server saved Bob's text (and what Alice typed online)
    await alice.page.screenshot(path=str(artifacts / "browser-offline-alice.png"))
    assert "Typed offline." not in await editor_text(bob.page)
    assert "Typed offline." not in admin.latest_revision(title)["content"]

    await alice.context.set_offline(False)
    everything = ("Online. Typed offline.", "Bob stayed online.")
    text = await wait_editor_contains(alice.page, *everything)
    await wait_editor_contains(bob.page, *everything)
    await wait_saved(alice.page)
    await expect(status_line(alice)).to_have_text(re.compile(r"^saved as revision \d+"))
    revid = int(re.findall(r"\d+", await status_line(alice).inner_text())[0])
    latest = admin.latest_revision(title)
    assert latest["revid"] == revid
    assert latest["content"] == text.rstrip() == (await editor_text(bob.page)).rstrip()
    await expect(alice.page.locator(".collab-participant")).to_have_count(2)

    seen: list[str] = await alice.page.evaluate("() => window.__statusTexts")
    offline = [i for i, s in enumerate(seen) if re.match(r"offline — [1-9]\d* unsaved change", s)]
    saved = [i for i, s in enumerate(seen) if s.startswith(f"saved as revision {revid}")]
    assert offline and saved and offline[0] < saved[-1], seen


async def test_a_classic_edit_while_the_session_is_open_appears_live_in_both_editors(
    wiki_server: WikiServerFactory, wiki_browser: WikiBrowserFactory, admin: WikiUser
):
    title = "Browser outside edit"
    admin.edit(title, "== Top ==\nShared top.\n\n== Bottom ==\nClassic bottom.")
    wiki_server(**QUIET)
    alice, bob, boss = await asyncio.gather(wiki_browser(dw.ALICE), wiki_browser(dw.BOB), wiki_browser(dw.ADMIN))
    for user in (alice, bob):
        await user.open_edit(title)
        await user.start_collab()
    await type_at_end_of(alice.page, "Shared top.", " Alice, unsaved.")
    await wait_editor_contains(bob.page, "Alice, unsaved.")

    # The classic editor: Admin never switches to collaborative mode.
    await boss.open_edit(title)
    textarea = boss.page.locator("#wpTextbox1")
    classic = (await textarea.input_value()).replace("Classic bottom.", "Classic bottom, edited by Admin.")
    await textarea.fill(classic)
    await boss.page.fill("#wpSummary", "classic edit")
    await boss.page.click("#wpSave")
    await boss.page.wait_for_url(lambda url: "action=edit" not in url)
    outside = admin.latest_revision(title)
    assert outside["user"] == "Admin" and "Alice, unsaved." not in outside["content"]

    for user in (alice, bob):
        text = await wait_editor_contains(user.page, "Classic bottom, edited by Admin.", "Shared top. Alice, unsaved.")
        assert text.count("Classic bottom") == 1 and text.count("Shared top.") == 1
        await expect(user.page.locator(".collab-announcement").first).to_contain_text("Admin edited the page")


async def test_collab_1_opens_collaborative_mode_and_leaving_returns_the_current_text(
    wiki_server: WikiServerFactory, wiki_browser: WikiBrowserFactory, admin: WikiUser, bob: WikiUser, artifacts: Path
):
    title = "Browser direct link"
    admin.edit(title, "Linked text.")
    server = wiki_server(**QUIET)
    alice = await wiki_browser(dw.ALICE)
    await alice.page.goto(alice.edit_url(title, collab="1"))
    await wait_state(alice.page, "live")
    await expect(alice.page.locator("#wpTextbox1")).to_be_hidden()
    await expect(alice.page.locator("#collab-start")).to_be_hidden()
    await expect(alice.page.locator("#collab-leave")).to_be_visible()
    assert await editor_text(alice.page) == "Linked text."
    await alice.page.screenshot(path=str(artifacts / "browser-collab-1.png"))

    # Alice types; Bob (another client) too; leaving hands the whole current text to the textarea.
    await type_at_end_of(alice.page, "Linked text.", " Alice.")
    client = await PyClient(server.url, cookie=bob.cookie_header()).connect()
    try:
        page = await client.join(title)
        await client.wait_until(lambda: "Alice." in str(page), what="Alice's text")
        client.append(title, " Bob.")
        current = await wait_editor_contains(alice.page, "Bob.")
    finally:
        await client.close()
    assert current == "Linked text. Alice. Bob."
    await alice.page.click("#collab-leave")
    await wait_state(alice.page, "off")
    await expect(alice.page.locator("#wpTextbox1")).to_be_visible()
    await expect(alice.page.locator("#wpTextbox1")).to_have_value(current)
    await expect(alice.page.locator(".collab-editor")).to_have_count(0)
    await expect(alice.page.locator("#collab-start")).to_be_visible()


async def test_the_classic_edit_page_never_fetches_the_bundle_and_edit_together_gets_it_compressed_and_immutable(
    wiki_server: WikiServerFactory, wiki_browser: WikiBrowserFactory, admin: WikiUser
):
    title = "Browser load cost"
    admin.edit(title, "Classic text.")
    server = wiki_server(**QUIET)
    alice = await wiki_browser(dw.ALICE)
    requested: list[str] = []
    alice.page.on("request", lambda request: requested.append(request.url))

    # The plain edit page: the tiny loader and its "Edit together" button, never the bundle.
    await alice.open_edit(title)
    await alice.page.wait_for_load_state("networkidle")
    loaders = [url for url in requested if url.startswith(f"{server.url}/static/loader.js")]
    assert loaders, requested
    assert not [url for url in requested if "/static/collab" in url], requested
    await alice.page.fill("#wpTextbox1", "Classic text, classic editor.")
    assert not [url for url in requested if "/static/collab" in url], requested

    # The click fetches it once, by its content-hashed name, compressed, cached for a year.
    async with alice.page.expect_response(re.compile(r"/static/collab\.[0-9a-f]{16}\.js$")) as bundle:
        await alice.start_collab()
    response = await bundle.value
    headers = await response.all_headers()
    assert response.status == 200
    assert headers["cache-control"] == "public, max-age=31536000, immutable"
    assert headers["content-encoding"] in ("br", "gzip")  # Chromium offers brotli over https only
    assert len([url for url in requested if "/static/collab" in url]) == 1, requested
    assert await editor_text(alice.page) == "Classic text."


async def test_leaving_collaborative_mode_saves_first_so_a_classic_save_holds_every_text_once(
    wiki_server: WikiServerFactory, wiki_browser: WikiBrowserFactory, admin: WikiUser
):
    title = "Browser leave and save"
    admin.edit(title, "Intro.\n\nBob's paragraph.")
    wiki_server(**QUIET)
    alice, bob = await asyncio.gather(wiki_browser(dw.ALICE), wiki_browser(dw.BOB))
    for user in (alice, bob):
        await user.open_edit(title)
        await user.start_collab()
    await type_at_end_of(bob.page, "Bob's paragraph.", " Bob one.")
    await wait_editor_contains(alice.page, "Bob one.")

    # Leaving saves, then hands the ordinary form that revision: its text and its id/timestamp as the base.
    await alice.page.click("#collab-leave")
    await wait_state(alice.page, "off")
    saved = admin.latest_revision(title)
    assert saved["user"] == "SyncBot" and saved["content"] == "Intro.\n\nBob's paragraph. Bob one."
    textarea = alice.page.locator("#wpTextbox1")
    await expect(textarea).to_have_value(saved["content"])
    assert await alice.page.input_value("#editform input[name=editRevId]") == str(saved["revid"])
    await expect(alice.page.locator("#collab-notice")).to_contain_text(f"Saved as revision {saved['revid']}")

    # Bob keeps typing while Alice adds a line in the textarea and saves classically: an ordinary edit.
    await type_at_end_of(bob.page, "Bob one.", " Bob two.")
    await textarea.fill(saved["content"] + "\n\nAlice's classic line.")
    await alice.page.fill("#wpSummary", "classic edit after leaving")
    await alice.page.click("#wpSave")
    await alice.page.wait_for_url(lambda url: "action=" not in url)  # no edit conflict page (action=submit)
    classic = admin.latest_revision(title)
    assert classic["user"] == "Alice" and classic["content"] == saved["content"] + "\n\nAlice's classic line."

    await wait_editor_contains(bob.page, "Alice's classic line.")
    await type_at_end_of(bob.page, "Bob two.", " Bob three.")
    live = await wait_editor_contains(bob.page, "Bob three.")
    await bob.page.click("#wpSave")
    await bob.page.wait_for_url(lambda url: "action=edit" not in url, timeout=60_000)
    final = admin.latest_revision(title)
    assert final["user"] == "SyncBot" and final["revid"] > classic["revid"]
    assert final["content"] == live.rstrip()
    for part in ("Bob one.", "Bob two.", "Bob three.", "Alice's classic line."):
        assert live.count(part) == 1 and final["content"].count(part) == 1, (part, final["content"])


async def record_readonly_when_told(page: Page, words: str) -> None:
    """Keep in ``window.__editableWhenTold`` whether the editor was editable when the status line first
    showed ``words``: both change in the same status update, or this records "true"."""
    await page.evaluate(
        """(words) => {
          const status = document.querySelector('.collab-status')
          const content = document.querySelector('.collab-editor .cm-content')
          new MutationObserver((_, observer) => {
            if (!status.textContent.includes(words)) return
            window.__editableWhenTold = content.getAttribute('contenteditable')
            observer.disconnect()
          }).observe(status, {childList: true, characterData: true, subtree: true})
        }""",
        words,
    )


async def assert_read_only_with_the_text_to_copy(user: WikiBrowser, text: str) -> None:
    """The editor took no more typing from the moment it said why, and offers the local text to copy."""
    page = user.page
    assert await page.evaluate("() => window.__editableWhenTold") == "false"
    await expect(page.locator(".collab-editor .cm-content")).to_have_attribute("contenteditable", "false")
    await page.locator(".collab-editor .cm-content").click()
    await page.keyboard.type("lost?")
    assert await editor_text(page) == text
    await expect(page.locator(".collab-closed")).to_be_visible()
    await expect(page.locator(".collab-copy-text")).to_have_value(text)


async def assert_leaving_the_page_does_not_warn(user: WikiBrowser) -> None:
    """Navigating away shows no beforeunload dialog (the server has everything this editor typed)."""
    page = user.page
    dialogs: list[str] = []

    async def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.type)
        await dialog.accept()

    page.on("dialog", on_dialog)
    await page.goto(f"{user.wiki.url}/index.php?title=Main_Page")
    assert dialogs == [], "the server has everything Bob typed: no unload warning"


async def admin_call(url: str, event: str, data: dict[str, object]) -> dict[str, object]:
    """One action of the /admin namespace, with the admin token."""
    sio = socketio.AsyncClient(reconnection=False)
    await sio.connect(
        url, namespaces=["/admin"], transports=["websocket"], auth={"token": ADMIN_TOKEN}, wait_timeout=10
    )
    try:
        result: dict[str, object] = await sio.call(event, data, namespace="/admin", timeout=60)
        return result
    finally:
        await sio.disconnect()


async def test_an_admin_disconnecting_bob_turns_his_editor_read_only_at_once_and_says_why(
    wiki_server: WikiServerFactory, wiki_browser: WikiBrowserFactory, admin: WikiUser
):
    title = "Browser disconnected editor"
    admin.edit(title, "Text before.")
    server = wiki_server(admin_token=ADMIN_TOKEN, **QUIET)
    bob = await wiki_browser(dw.BOB)
    await bob.open_edit(title)
    await bob.start_collab()
    await type_at_end_of(bob.page, "Text before.", " Bob typed.")
    await record_readonly_when_told(bob.page, "closed by the server")

    result = await admin_call(server.url, "disconnect_user", {"title": title, "user": "Bob"})
    assert result == {"ok": True, "disconnected": 1}
    await expect(status_line(bob)).to_contain_text("closed by the server: an administrator disconnected you")
    await expect(bob.page.locator(".collab-closed")).to_contain_text("disconnected you")
    await assert_read_only_with_the_text_to_copy(bob, "Text before. Bob typed.")
    await assert_leaving_the_page_does_not_warn(bob)


async def test_a_connection_the_server_closes_leaves_the_editor_read_only_with_the_reason(
    wiki_server: WikiServerFactory, wiki_browser: WikiBrowserFactory, admin: WikiUser
):
    title = "Browser closed connection"
    admin.edit(title, "Text before.")
    wiki_server(**QUIET)
    bob = await wiki_browser(dw.BOB)
    await bob.open_edit(title)
    await bob.start_collab()
    await type_at_end_of(bob.page, "Text before.", " Bob typed.")
    await record_readonly_when_told(bob.page, "closed the connection")

    # Messages for a page it never joined, until the server closes the connection (its strike limit).
    await bob.page.evaluate(
        """() => {
          const socket = window.MediaWikiCollab.currentWikiEditor().provider().connection.socket
          for (let i = 0; i < 30; i++) socket.emit('y', 'Never joined', new Uint8Array([0, 2, 0]))
        }"""
    )
    await expect(status_line(bob)).to_contain_text(
        "closed by the server: the collaboration server closed the connection"
    )
    await assert_read_only_with_the_text_to_copy(bob, "Text before. Bob typed.")

    # Leaving collaborative mode now hands the local text to the ordinary form, saying it is not saved.
    await bob.page.click("#collab-leave")
    await wait_state(bob.page, "off")
    await expect(bob.page.locator("#wpTextbox1")).to_have_value("Text before. Bob typed.")
    await expect(bob.page.locator("#collab-notice")).to_contain_text("NOT saved")


def watched(user: WikiUser, title: str) -> bool:
    """Whether ``title`` is on ``user``'s watchlist (``list=watchlistraw`` with their own session)."""
    result = user.call(action="query", list="watchlistraw", wrfromtitle=title, wrtotitle=title, wrlimit=1)
    return any(entry["title"] == title for entry in result.get("watchlistraw", []))


def unwatch(user: WikiUser, title: str) -> None:
    """Take ``title`` off ``user``'s watchlist (a rerun of a test starts from the same state)."""
    user.call(action="watch", unwatch=True, titles=title, token=user.token("watch"))


async def set_watch_box(user: WikiBrowser, ticked: bool) -> None:
    """Tick or untick the edit form's "Watch this page" (pre-ticked by some users' preferences)."""
    await user.page.locator("#wpWatchthis").set_checked(ticked)


async def test_alice_ticks_watch_this_page_and_after_her_save_the_page_is_on_her_watchlist(
    wiki_server: WikiServerFactory, wiki_browser: WikiBrowserFactory, admin: WikiUser, alice: WikiUser
):
    title = "Browser watch on save"
    admin.edit(title, "A page to watch.")
    unwatch(alice, title)
    assert not watched(alice, title)
    wiki_server(**QUIET)
    browser = await wiki_browser(dw.ALICE)
    await browser.open_edit(title)
    await browser.start_collab()
    await set_watch_box(browser, True)
    await type_at_end_of(browser.page, "A page to watch.", " Alice was here.")
    await browser.page.click("#wpSave")
    await browser.page.wait_for_url(lambda url: "action=edit" not in url, timeout=60_000)
    assert admin.latest_revision(title)["content"] == "A page to watch. Alice was here."
    assert watched(alice, title)


async def test_a_save_by_bob_crediting_alice_watches_the_page_for_alice_who_ticked_the_box_not_for_bob(
    wiki_server: WikiServerFactory, wiki_browser: WikiBrowserFactory, admin: WikiUser, alice: WikiUser, bob: WikiUser
):
    title = "Browser watch on a colleague's save"
    admin.edit(title, "First line.\n\nSecond line.")
    for user in (alice, bob):
        unwatch(user, title)
    wiki_server(**QUIET)
    alice_browser, bob_browser = await asyncio.gather(wiki_browser(dw.ALICE), wiki_browser(dw.BOB))
    for browser, ticked in ((alice_browser, True), (bob_browser, False)):
        await browser.open_edit(title)
        await browser.start_collab()
        await set_watch_box(browser, ticked)
    await type_at_end_of(alice_browser.page, "First line.", " Alice's words.")
    await type_at_end_of(bob_browser.page, "Second line.", " Bob's words.")
    await wait_editor_text(bob_browser.page, "First line. Alice's words.\n\nSecond line. Bob's words.")
    await bob_browser.page.click("#wpSave")
    await bob_browser.page.wait_for_url(lambda url: "action=edit" not in url, timeout=60_000)
    # Alice, still editing, hears of the save and watches with her own session.
    await expect(alice_browser.page.locator("body")).to_have_attribute("data-collab-watch", "watched", timeout=30_000)
    assert watched(alice, title)
    assert not watched(bob, title)
