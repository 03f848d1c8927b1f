"""Admins watch the sessions live: the /admin dashboard (a real Chromium), the JSON API, the /admin
namespace, the `collab sessions` CLI and the action log, against a real server and the real dev wiki."""

from __future__ import annotations

import asyncio
import os
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
import socketio
from playwright.async_api import Browser, Dialog, Page, expect

from collab.dev import devwiki as dw
from tests.clients import PyClient
from tests.plugins.browser import ARTIFACTS
from tests.plugins.server import CollabProcess, ServerFactory
from tests.support.net import free_port
from tests.wikiclient import WikiUser

pytestmark = pytest.mark.asyncio

TOKEN = "admin-token-for-tests-0123456789"
QUIET = {"commit_idle_s": 60, "commit_max_s": 120}  # saves only when a test asks for one


def http() -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    return session


def get_sessions(server: CollabProcess, **headers: str) -> requests.Response:
    return http().get(server.url + "/api/sessions", headers=headers, timeout=30)


def row(snapshot: dict[str, Any], title: str) -> dict[str, Any] | None:
    return next((s for s in snapshot["sessions"] if s["title"] == title), None)


def unsaved_changes(snapshot: dict[str, Any], title: str) -> int:
    found = row(snapshot, title)
    return int(found["unsaved"]["changes"]) if found else 0


def last_revid(snapshot: dict[str, Any], title: str) -> int | None:
    found = row(snapshot, title)
    return int(found["last_save"]["revid"]) if found and found["last_save"] else None


def editor_names(snapshot: dict[str, Any], title: str) -> list[str]:
    found = row(snapshot, title)
    return sorted(e["user"] for e in found["editors"]) if found else []


class AdminWatcher:
    """A Python client of the /admin namespace that keeps the snapshots the server pushes."""

    def __init__(self, url: str, *, token: str | None = None, cookie: str | None = None) -> None:
        self.url = url
        self.token = token
        self.cookie = cookie
        self.origin: str | None = None
        self.sio = socketio.AsyncClient(reconnection=False)
        self.latest: dict[str, Any] | None = None
        self.actions: list[dict[str, Any]] = []
        self.refusals: list[Any] = []
        self._changed = asyncio.Event()
        self.sio.on("sessions", self._on_sessions, namespace="/admin")
        self.sio.on("action", self._on_action, namespace="/admin")
        self.sio.on("connect_error", self.refusals.append, namespace="/admin")

    async def connect(self) -> AdminWatcher:
        headers = {"Cookie": self.cookie} if self.cookie else {}
        if self.origin:
            headers["Origin"] = self.origin
        auth = {"token": self.token} if self.token else None
        await self.sio.connect(
            self.url, namespaces=["/admin"], transports=["websocket"], headers=headers, auth=auth, wait_timeout=10
        )
        self.latest = await self.call("sessions")
        return self

    async def call(self, event: str, data: Any = None) -> dict[str, Any]:
        result: dict[str, Any] = await self.sio.call(event, data or {}, namespace="/admin", timeout=120)
        return result

    async def _on_sessions(self, snapshot: dict[str, Any]) -> None:
        self.latest = snapshot
        self._changed.set()

    async def _on_action(self, entry: dict[str, Any]) -> None:
        self.actions.append(entry)
        self._changed.set()

    async def wait_for(self, cond: Callable[[dict[str, Any]], bool], what: str, timeout: float = 30) -> dict[str, Any]:
        """Wait until a pushed snapshot satisfies ``cond`` (re-checked on every push; no polling)."""
        deadline = time.monotonic() + timeout
        while self.latest is None or not cond(self.latest):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out waiting for {what}; last snapshot: {self.latest}")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                pass
        return self.latest

    async def close(self) -> None:
        await self.sio.disconnect()


# ---- the browser dashboard ----------------------------------------------------------------------------------
@pytest.fixture
def browser(chromium: Browser) -> Browser:
    """The browser plugin's Chromium (tests/plugins/browser.py)."""
    return chromium


async def wiki_login(browser: Browser, devwiki: dw.DevWiki, account: dw.Account) -> Page:
    """A page of a fresh browser context logged in to the wiki through its login form.

    Uncaught script errors of the page are collected in ``page_errors(page)``.
    """
    context = await browser.new_context(viewport={"width": 1360, "height": 900})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    PAGE_ERRORS[page] = errors
    await page.goto(f"{devwiki.url}/index.php?title=Special:UserLogin")
    await page.fill("#wpName1", account.name)
    await page.fill("#wpPassword1", account.password)
    async with page.expect_navigation():
        await page.click("#wpLoginAttempt")
    cookies = await context.cookies(devwiki.url)
    assert any(c["name"].endswith("UserName") and c["value"] == account.name for c in cookies), cookies
    return page


PAGE_ERRORS: dict[Page, list[str]] = {}


def page_errors(page: Page) -> list[str]:
    return PAGE_ERRORS.get(page, [])


def accept_confirmations(page: Page) -> list[str]:
    """Accept every confirmation dialog; returns the list of questions asked (appended as they come)."""
    asked: list[str] = []

    async def accept(dialog: Dialog) -> None:
        asked.append(dialog.message)
        await dialog.accept()

    page.on("dialog", accept)
    return asked


async def test_the_dashboard_shows_sessions_live_and_its_actions_work(
    collab_server: ServerFactory, devwiki: dw.DevWiki, browser: Browser, alice: WikiUser, bob: WikiUser
):
    title = "Dashboard watched page"
    server = collab_server(**QUIET)
    page = await wiki_login(browser, devwiki, dw.ADMIN)
    asked = accept_confirmations(page)
    await page.goto(server.url + "/admin")
    await expect(page.locator("#conn")).to_have_text("live")
    await expect(page.locator("#whoami")).to_have_text("Admin")
    a = await PyClient(server.url, cookie=alice.cookie_header()).connect()
    b = await PyClient(server.url, cookie=bob.cookie_header()).connect()
    try:
        await a.join(title)
        await b.join(title)
        session = page.locator(f'tr.session[data-title="{title}"]')
        # The row appears live, with both editors.
        await expect(session.locator(".editor-name")).to_have_text(["Alice", "Bob"])
        await expect(session.locator(".unsaved-count")).to_have_text("0")
        # Typing shows up in the unsaved-change figures.
        a.append(title, "Alice was here. ")
        b.append(title, "Bob too. ")
        await expect(session.locator(".unsaved-count")).not_to_have_text("0")
        await expect(session.locator(".unsaved-age")).to_contain_text("oldest")
        await expect(session.locator(".unsaved-authors")).to_contain_text("Alice")
        await expect(session.locator(".unsaved-authors")).to_contain_text("Bob")
        # After a save the row shows the new revision and its co-authors.
        ack = await a.save(title)
        assert ack["ok"] and ack["revid"], ack
        await expect(session.locator(".last-revid")).to_have_text(f"r{ack['revid']}")
        await expect(session.locator(".coauthors")).to_have_text("Alice, Bob")
        await expect(session.locator(".unsaved-count")).to_have_text("0")
        assert await session.locator(".last-revid").get_attribute("href") == f"{devwiki.index}?diff={ack['revid']}"
        # "Save now" asks for confirmation, then saves what was typed since.
        b.append(title, "More from Bob.")
        await expect(session.locator(".unsaved-count")).not_to_have_text("0")
        await session.locator("button.save-now").click()
        await expect(page.locator("#notice")).to_contain_text("Saved as revision")
        latest = alice.latest_revision(title)
        assert latest["revid"] > ack["revid"] and latest["content"].endswith("More from Bob.")
        await expect(session.locator(".last-revid")).to_have_text(f"r{latest['revid']}")
        await expect(session.locator(".coauthors")).to_have_text("Bob")
        # The action is listed for the admins, with the admin's name.
        await expect(page.locator("#actions li").first).to_contain_text("Admin save now")
        # "Disconnect" removes one editor from the page; the other stays.
        await session.locator('li[data-user="Bob"] button.disconnect').click()
        removed = await b.wait_status(title, "removed")
        assert "Admin" in removed["message"]
        await expect(session.locator(".editor-name")).to_have_text(["Alice"])
        assert asked[0].startswith(f"Save “{title}”") and asked[1].startswith("Disconnect Bob")
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "admin-dashboard.png"), full_page=True)
        assert page_errors(page) == []
    finally:
        await a.close()
        await b.close()


async def test_the_dashboard_counts_characters_in_words_and_shows_the_unsaved_text(
    collab_server: ServerFactory, devwiki: dw.DevWiki, browser: Browser, alice: WikiUser, admin: WikiUser
):
    title = "Dashboard counted page"
    admin.edit(title, "Start.")
    server = collab_server(**QUIET)
    page = await wiki_login(browser, devwiki, dw.ADMIN)
    asked: list[str] = []

    async def dismiss(dialog: Dialog) -> None:
        asked.append(dialog.message)
        await dialog.dismiss()

    page.on("dialog", dismiss)
    await page.goto(server.url + "/admin")
    await expect(page.locator("#conn")).to_have_text("live")
    a = await PyClient(server.url, cookie=alice.cookie_header()).connect()
    try:
        await a.join(title)
        session = page.locator(f'tr.session[data-title="{title}"]')
        await expect(session.locator(".editor-name")).to_have_text(["Alice"])
        await expect(page.locator("#l-pages")).to_have_text("page open")
        await expect(page.locator("#l-editors")).to_have_text("editor")
        await expect(page.locator("#t-users")).to_have_text("1 person")
        a.append(title, " Alice.")  # one update per keystroke would be 1 update here; 7 characters either way
        a.append(title, "!")
        await expect(session.locator(".unsaved-count")).to_have_text("8")
        await expect(session.locator(".unsaved-word")).to_have_text(" characters changed")
        await expect(page.locator("#t-unsaved")).to_have_text("8")
        await expect(page.locator("#t-unsaved-pages")).to_have_text("on 1 page")
        await session.locator("button.end-session").click()
        for _ in range(200):  # the dialog handler runs as the click's event arrives
            if asked:
                break
            await asyncio.sleep(0.05)
        assert asked == [f"End the session on “{title}”? The text is saved first, then its one editor is disconnected."]
        # The unsaved text, from the dashboard's row: the diff from the last revision to the live text.
        async with page.context.expect_page() as opened:
            await session.locator("a.unsaved-diff").click()
        diff_page = await opened.value
        await expect(diff_page.locator("#diff .del")).to_contain_text(["-Start."])
        await expect(diff_page.locator("#diff .add")).to_contain_text(["+Start. Alice.!"])
        await expect(diff_page.locator("body")).to_contain_text("8 characters changed")
        assert page_errors(page) == []
    finally:
        await a.close()


async def test_the_dashboard_fits_a_phone_screen(
    collab_server: ServerFactory, devwiki: dw.DevWiki, browser: Browser, alice: WikiUser
):
    server = collab_server(**QUIET)
    page = await wiki_login(browser, devwiki, dw.ADMIN)
    await page.set_viewport_size({"width": 390, "height": 800})
    await page.goto(server.url + "/admin")
    client = await PyClient(server.url, cookie=alice.cookie_header()).connect()
    try:
        await client.join("Phone watched page")
        session = page.locator('tr.session[data-title="Phone watched page"]')
        await expect(session.locator(".editor-name")).to_have_text(["Alice"])
        scroll_width = await page.evaluate("document.documentElement.scrollWidth")
        assert scroll_width <= 390, f"the page scrolls sideways on a phone ({scroll_width}px)"
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "admin-dashboard-phone.png"), full_page=True)
        assert page_errors(page) == []
    finally:
        await client.close()


async def test_a_non_admin_gets_a_clear_page_instead_of_the_dashboard(
    collab_server: ServerFactory, devwiki: dw.DevWiki, browser: Browser
):
    server = collab_server()
    page = await wiki_login(browser, devwiki, dw.ALICE)
    response = await page.goto(server.url + "/admin")
    assert response is not None and response.status == 403
    await expect(page.locator("h1")).to_have_text("Admins only")
    await expect(page.locator("body")).to_contain_text("Alice is not a member of the wiki group 'sysop'")


# ---- access ------------------------------------------------------------------------------------------------
async def test_alice_gets_403_from_the_sessions_api(collab_server: ServerFactory, alice: WikiUser):
    server = collab_server()
    response = get_sessions(server, Cookie=alice.cookie_header())
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
    assert get_sessions(server).status_code == 403


async def test_a_sysop_cookie_opens_the_sessions_api(collab_server: ServerFactory, admin: WikiUser):
    server = collab_server()
    response = get_sessions(server, Cookie=admin.cookie_header())
    assert response.status_code == 200
    body = response.json()
    assert body["sessions"] == [] and body["totals"]["pages"] == 0
    assert body["node"].endswith(f":{server.port}")


async def test_the_admin_group_is_configurable(collab_server: ServerFactory, admin: WikiUser):
    server = collab_server(admin_group="bureaucrat-and-nobody-else")
    assert get_sessions(server, Cookie=admin.cookie_header()).status_code == 403


async def test_alice_cannot_open_the_admin_namespace(collab_server: ServerFactory, alice: WikiUser):
    server = collab_server(admin_token=TOKEN)
    watcher = AdminWatcher(server.url, cookie=alice.cookie_header())
    with pytest.raises(socketio.exceptions.ConnectionError):
        await watcher.connect()
    assert watcher.refusals == [
        {"message": "Alice is not a member of the wiki group 'sysop'", "data": {"code": "forbidden"}}
    ]
    anonymous = AdminWatcher(server.url)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await anonymous.connect()


async def test_an_admin_cookie_from_another_origin_cannot_open_the_admin_namespace(
    collab_server: ServerFactory, admin: WikiUser, devwiki: dw.DevWiki
):
    server = collab_server()
    watcher = AdminWatcher(server.url, cookie=admin.cookie_header())
    watcher.origin = devwiki.url  # e.g. a script on a wiki page, riding on the admin's cookies
    with pytest.raises(socketio.exceptions.ConnectionError):
        await watcher.connect()
    assert watcher.refusals[0]["message"] == "cross-origin admin connections must use the admin token"


async def test_the_admin_token_opens_the_api_and_the_namespace(collab_server: ServerFactory):
    server = collab_server(admin_token=TOKEN)
    assert get_sessions(server, Authorization=f"Bearer {TOKEN}").status_code == 200
    assert get_sessions(server, Authorization="Bearer wrong-token").status_code == 403
    watcher = await AdminWatcher(server.url, token=TOKEN).connect()
    try:
        assert await watcher.call("whoami") == {"ok": True, "name": "token", "via": "token"}
        assert watcher.latest is not None and watcher.latest["sessions"] == []
    finally:
        await watcher.close()
    with pytest.raises(socketio.exceptions.ConnectionError):
        await AdminWatcher(server.url, token="wrong-token").connect()


async def test_without_a_configured_token_no_token_is_accepted(collab_server: ServerFactory):
    server = collab_server()
    assert get_sessions(server, Authorization="Bearer ").status_code == 403
    assert get_sessions(server, Authorization="Bearer anything").status_code == 403


# ---- the session list ----------------------------------------------------------------------------------------
async def test_the_session_list_names_editors_unsaved_work_and_the_last_save(
    collab_server: ServerFactory, admin: WikiUser, alice: WikiUser, bob: WikiUser, devwiki: dw.DevWiki
):
    title = "Listed session page"
    admin.edit(title, "Start.")
    server = collab_server(admin_token=TOKEN, **QUIET)
    watcher = await AdminWatcher(server.url, token=TOKEN).connect()
    a = await PyClient(server.url, cookie=alice.cookie_header()).connect()
    b = await PyClient(server.url, cookie=bob.cookie_header()).connect()
    try:
        await a.join(title)
        await b.join(title)
        snap = await watcher.wait_for(lambda s: editor_names(s, title) == ["Alice", "Bob"], "both editors")
        session = row(snap, title)
        assert session is not None
        assert session["links"]["page"] == f"{devwiki.index}?title=Listed_session_page"
        assert session["links"]["history"] == f"{devwiki.index}?title=Listed_session_page&action=history"
        assert all(not e["readonly"] and e["connected_since"] <= snap["generated_at"] for e in session["editors"])
        assert session["unsaved"] == {"changes": 0, "chars": 0, "oldest_at": None, "oldest_age_s": None, "authors": []}
        a.append(title, " Alice.")
        snap = await watcher.wait_for(lambda s: unsaved_changes(s, title) > 0, "an unsaved change")
        session = row(snap, title)
        assert session is not None and session["unsaved"]["authors"] == ["Alice"]
        assert session["unsaved"]["chars"] == len(" Alice.")
        assert session["unsaved"]["oldest_at"] <= snap["generated_at"]
        ack = await b.save(title)
        snap = await watcher.wait_for(lambda s: last_revid(s, title) == ack["revid"], "the save")
        session = row(snap, title)
        assert session is not None
        assert session["last_save"]["coauthors"] == ["Alice"]
        assert session["last_save"]["diff"] == f"{devwiki.index}?diff={ack['revid']}"
        assert session["unsaved"]["changes"] == 0 and session["saves"] == 1 and session["last_error"] is None
        assert snap["totals"]["pages"] == 1 and snap["totals"]["editors"] == 2 and snap["totals"]["users"] == 2
        assert sum(snap["history"]["saves"]) >= 1 and sum(snap["history"]["edits"]) >= 1
        assert get_sessions(server, Authorization=f"Bearer {TOKEN}").json()["sessions"][0]["title"] == title
    finally:
        await a.close()
        await b.close()
        await watcher.close()


async def test_read_only_editors_are_marked(collab_server: ServerFactory, admin: WikiUser, alice: WikiUser):
    title = "Protected watched page"
    admin.edit(title, "Protected text.")
    admin.protect(title)
    server = collab_server(admin_token=TOKEN)
    watcher = await AdminWatcher(server.url, token=TOKEN).connect()
    client = await PyClient(server.url, cookie=alice.cookie_header()).connect()
    try:
        await client.join(title)
        snap = await watcher.wait_for(lambda s: editor_names(s, title) == ["Alice"], "Alice")
        session = row(snap, title)
        assert session is not None and session["editors"][0]["readonly"] is True
    finally:
        await client.close()
        await watcher.close()
        admin.unprotect(title)


async def test_outside_edits_merged_are_counted(collab_server: ServerFactory, admin: WikiUser, alice: WikiUser):
    title = "Outside edited watched page"
    admin.edit(title, "First line.\n")
    server = collab_server(admin_token=TOKEN, **QUIET)
    watcher = await AdminWatcher(server.url, token=TOKEN).connect()
    client = await PyClient(server.url, cookie=alice.cookie_header()).connect()
    try:
        await client.join(title)
        await watcher.wait_for(lambda s: editor_names(s, title) == ["Alice"], "Alice")
        admin.edit(title, "First line.\nAdded on the wiki.\n")
        snap = await watcher.wait_for(lambda s: (row(s, title) or {}).get("outside_merges") == 1, "the merge")
        assert snap["totals"]["outside_merges"] == 1
    finally:
        await client.close()
        await watcher.close()


async def test_the_row_disappears_when_the_page_is_unloaded(collab_server: ServerFactory, alice: WikiUser):
    title = "Briefly watched page"
    server = collab_server(admin_token=TOKEN, unload_idle_s=0.5)
    watcher = await AdminWatcher(server.url, token=TOKEN).connect()
    client = await PyClient(server.url, cookie=alice.cookie_header()).connect()
    try:
        await client.join(title)
        await watcher.wait_for(lambda s: editor_names(s, title) == ["Alice"], "Alice")
        await client.leave(title)
        await watcher.wait_for(lambda s: row(s, title) is None, "the row to go away")
    finally:
        await client.close()
        await watcher.close()


async def test_a_page_everybody_left_saved_leaves_the_list_before_it_unloads(
    collab_server: ServerFactory, alice: WikiUser
):
    title = "Left and saved watched page"
    server = collab_server(admin_token=TOKEN, unload_idle_s=600)
    watcher = await AdminWatcher(server.url, token=TOKEN).connect()
    client = await PyClient(server.url, cookie=alice.cookie_header()).connect()
    try:
        await client.join(title)
        await watcher.wait_for(lambda s: editor_names(s, title) == ["Alice"], "Alice")
        client.append(title, "Written.")
        await client.save(title)
        await client.leave(title)
        snap = await watcher.wait_for(lambda s: row(s, title) is None, "the row to go away")
        assert snap["totals"]["pages"] == 0
    finally:
        await client.close()
        await watcher.close()


async def test_the_unsaved_text_api_gives_the_diff_to_admins_only(
    collab_server: ServerFactory, admin: WikiUser, alice: WikiUser
):
    title = "Diffed session page"
    admin.edit(title, "Line one.\nLine two.")
    server = collab_server(admin_token=TOKEN, **QUIET)
    client = await PyClient(server.url, cookie=alice.cookie_header()).connect()
    auth = {"Authorization": f"Bearer {TOKEN}"}
    url = server.url + "/api/sessions/diff"
    try:
        await client.join(title)
        client.append(title, " And more.")
        await client.wait_until(lambda: str(client.pages[title]).endswith("more."), what="the text")
        for _ in range(100):  # the server applies the update a moment after the client sent it
            body = http().get(url, params={"title": title}, headers=auth, timeout=30).json()
            if body.get("chars"):
                break
            await asyncio.sleep(0.05)
        assert body["chars"] == len(" And more.") and body["title"] == title and body["base_revid"]
        assert body["diff"].splitlines()[2:] == ["@@ -1,2 +1,2 @@", " Line one.", "-Line two.", "+Line two. And more."]
        assert http().get(url, params={"title": title}, timeout=30).status_code == 403
        assert (
            http().get(url, params={"title": title}, headers={"Cookie": alice.cookie_header()}, timeout=30).status_code
            == 403
        )
        assert http().get(url, params={"title": "Not open here"}, headers=auth, timeout=30).status_code == 404
        assert http().get(url, headers=auth, timeout=30).status_code == 400
        page = http().get(server.url + "/admin/diff", params={"title": title}, headers=auth, timeout=30)
        assert page.status_code == 200 and '<span class="add">+Line two. And more.</span>' in page.text
        assert http().get(server.url + "/admin/diff", params={"title": title}, timeout=30).status_code == 403
    finally:
        await client.close()


# ---- actions ---------------------------------------------------------------------------------------------------
async def test_end_session_saves_then_disconnects_everyone(
    collab_server: ServerFactory, alice: WikiUser, bob: WikiUser, admin: WikiUser
):
    title = "Ended session page"
    server = collab_server(**QUIET)
    watcher = await AdminWatcher(server.url, cookie=admin.cookie_header()).connect()
    a = await PyClient(server.url, cookie=alice.cookie_header()).connect()
    b = await PyClient(server.url, cookie=bob.cookie_header()).connect()
    try:
        await a.join(title)
        await b.join(title)
        a.append(title, "Saved when the session ends.")
        await watcher.wait_for(lambda s: unsaved_changes(s, title) > 0, "the edit")
        result = await watcher.call("end_session", {"title": title})
        assert result["ok"] and result["disconnected"] == 2 and result["revid"], result
        assert alice.read(title) == ("Saved when the session ends.", result["revid"])
        for client in (a, b):
            status = await client.wait_status(title, "removed")
            assert "Admin" in status["message"] and str(result["revid"]) in status["message"]
            assert status["code"] == "kicked"
        # Everybody gone and the text saved: the page leaves the list (before it unloads from memory).
        await watcher.wait_for(lambda s: row(s, title) is None, "the row to go away")
        assert any(x["action"] == "end_session" and x["admin"] == "Admin" for x in watcher.actions)
    finally:
        await a.close()
        await b.close()
        await watcher.close()


async def test_actions_on_a_page_without_a_session_fail_clearly(collab_server: ServerFactory):
    server = collab_server(admin_token=TOKEN)
    watcher = await AdminWatcher(server.url, token=TOKEN).connect()
    try:
        for action, extra in (("save_now", {}), ("end_session", {}), ("disconnect_user", {"user": "Bob"})):
            result = await watcher.call(action, {"title": "Nobody edits this", **extra})
            assert result["ok"] is False and result["error"]["code"] == "notfound", (action, result)
        result = await watcher.call("save_now", {"title": 42})
        assert result["error"]["code"] == "badrequest"
    finally:
        await watcher.close()


async def test_admin_actions_are_logged_with_the_admins_name_and_never_secrets(
    collab_server: ServerFactory, admin: WikiUser, alice: WikiUser, bot_credentials: tuple[str, str]
):
    title = "Logged action page"
    server = collab_server(admin_token=TOKEN, **QUIET)
    watcher = await AdminWatcher(server.url, cookie=admin.cookie_header()).connect()
    client = await PyClient(server.url, cookie=alice.cookie_header()).connect()
    try:
        await client.join(title)
        await watcher.wait_for(lambda s: editor_names(s, title) == ["Alice"], "Alice")
        result = await watcher.call("disconnect_user", {"title": title, "user": "Alice"})
        assert result == {"ok": True, "disconnected": 1}
        told = await client.wait_status(title, "removed")
        assert (
            told["code"] == "kicked" and told["message"] == "an administrator (Admin) disconnected you from this page"
        )
    finally:
        await client.close()
        await watcher.close()
    get_sessions(server, Authorization=f"Bearer {TOKEN}")
    log = server.log()
    assert f"admin action=disconnect_user page={title!r} target=Alice admin=Admin via=wiki result=ok" in log
    assert f"join page={title!r} user=Alice" in log and f"leave page={title!r} user=Alice" in log
    session_cookies = [c.split("=", 1)[1] for c in admin.cookie_header().split("; ") if "_session=" in c]
    secrets = [TOKEN, bot_credentials[1], *session_cookies]
    assert len(secrets) == 3
    for secret in secrets:
        assert secret not in log


# ---- the CLI -----------------------------------------------------------------------------------------------------
def collab_cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "collab", *args]


CLI_ENV = dict(os.environ, COLUMNS="200", NO_COLOR="1")


async def test_collab_sessions_prints_the_table(collab_server: ServerFactory, alice: WikiUser, bob: WikiUser):
    title = "CLI listed page"
    server = collab_server(admin_token=TOKEN, **QUIET)
    a = await PyClient(server.url, cookie=alice.cookie_header()).connect()
    b = await PyClient(server.url, cookie=bob.cookie_header()).connect()
    try:
        await a.join(title)
        await b.join(title)
        a.append(title, "typed")
        await a.wait_until(lambda: str(b.pages[title]) == "typed", what="Bob sees the text")
        done = await asyncio.to_thread(
            subprocess.run,
            collab_cli("sessions", "--server", server.url, "--token", TOKEN),
            capture_output=True,
            text=True,
            env=CLI_ENV,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        out = done.stdout
        assert title in out and "Alice" in out and "Bob" in out
        assert "1 page ·" in out and "2 editors" in out and "5 characters unsaved (1 page)" in out, out
        assert "5 characters changed" in out
    finally:
        await a.close()
        await b.close()


async def test_collab_sessions_refuses_without_admin_rights(collab_server: ServerFactory):
    server = collab_server(admin_token=TOKEN)
    done = await asyncio.to_thread(
        subprocess.run,
        collab_cli("sessions", "--server", server.url, "--token", "wrong"),
        capture_output=True,
        text=True,
        env=CLI_ENV,
        timeout=60,
    )
    assert done.returncode == 1
    assert "403" in done.stderr and "wrong" in done.stderr


async def test_collab_sessions_watch_refreshes_when_an_editor_joins(collab_server: ServerFactory, alice: WikiUser):
    title = "CLI watched page"
    server = collab_server(admin_token=TOKEN)
    env = dict(CLI_ENV, COLLAB_ADMIN_TOKEN=TOKEN)
    proc = await asyncio.create_subprocess_exec(
        *collab_cli("sessions", "--server", server.url, "--watch"), stdout=asyncio.subprocess.PIPE, env=env
    )
    client = await PyClient(server.url, cookie=alice.cookie_header()).connect()
    try:
        assert proc.stdout is not None
        seen = ""

        async def read_until(text: str) -> None:
            nonlocal seen
            while text not in seen:
                line = await asyncio.wait_for(proc.stdout.readline(), 30)  # type: ignore[union-attr]
                assert line, f"collab sessions --watch ended; output so far:\n{seen}"
                seen += line.decode()

        await read_until("0 pages")
        await client.join(title)
        await read_until(title)
        assert "Alice" in seen.split("0 pages", 1)[1]
    finally:
        await client.close()
        proc.terminate()
        await proc.wait()


# ---- the demo ----------------------------------------------------------------------------------------------------
def _free_demo_port() -> int:
    """A TCP port whose next port is a free UDP port too (the demo's RC feed listens on port + 1)."""
    for _ in range(50):
        port = free_port()
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                udp.bind(("127.0.0.1", port + 1))
        except OSError:
            continue
        return port
    raise AssertionError("no free port pair for the demo")


def _run(command: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, env=CLI_ENV, timeout=timeout)


async def test_the_demo_prints_a_collab_sessions_command_that_works(tmp_path: Path) -> None:
    """`make demo`'s printed `collab sessions` command works against the demo, as printed."""
    demo = collab_cli("demo", "--dir", str(tmp_path / "demo"), "--wiki-port", str(free_port()))
    demo += ["--port", str(_free_demo_port())]
    started = await asyncio.to_thread(_run, demo, 600)
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        lines = [line.strip() for line in started.stdout.splitlines() if " sessions --server " in line]
        assert len(lines) == 1, started.stdout
        command = shlex.split(lines[0].split(":", 1)[1])  # "Live sessions (admins):  <command>"
        assert "--token" in command and len(command[command.index("--token") + 1].encode()) >= 32
        listed = await asyncio.to_thread(_run, command, 60)
        assert listed.returncode == 0, listed.stderr
        assert "0 pages" in listed.stdout and "0 editors" in listed.stdout, listed.stdout
    finally:
        stopped = await asyncio.to_thread(_run, [*demo, "--stop"], 120)
        assert stopped.returncode == 0, stopped.stderr
