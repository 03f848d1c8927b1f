"""Pytest plugin: Debian's Chromium driven by Playwright (async API), and wiki users logged in through the
wiki's own login form, one browser context each.

Fixtures:

- ``chromium`` (module): a headless ``/usr/bin/chromium`` (never a downloaded browser).
- ``wiki_browser``: a factory ``await wiki_browser(account)`` -> :class:`WikiBrowser`, a page in a fresh
  context logged in as ``account`` (a :class:`collab.dev.devwiki.Account`) through ``Special:UserLogin``.
  Every page's uncaught script errors are collected; the fixture fails the test if there were any.
- ``artifacts``: the repository's ``test-artifacts/`` directory (git-ignored), created if missing.

Helpers for the collaborative editor on the wiki's edit page (client-js/src/wiki.js): :func:`editor_text`,
:func:`wait_editor_contains`, :func:`wait_editor_text`, :func:`wait_state`, :func:`wait_saved`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, Page, ViewportSize, async_playwright

from collab.dev import devwiki as dw

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT: ViewportSize = {"width": 1280, "height": 900}

# The shared text as the collaborative editor shows it (CodeMirror's document), or null.
EDITOR_TEXT_JS = """() => {
  const c = window.MediaWikiCollab && window.MediaWikiCollab.currentWikiEditor()
  const e = c && c.editor()
  return e ? e.view.state.doc.toString() : null
}"""

EDITOR_CONTAINS_JS = """(parts) => {
  const c = window.MediaWikiCollab && window.MediaWikiCollab.currentWikiEditor()
  const e = c && c.editor()
  if (!e) return false
  const text = e.view.state.doc.toString()
  return parts.every((p) => text.includes(p))
}"""


@dataclass
class WikiBrowser:
    """One user's browser context and page, logged in to the wiki."""

    account: dw.Account
    wiki: dw.DevWiki
    context: BrowserContext
    page: Page
    errors: list[str] = field(default_factory=list)

    def edit_url(self, title: str, **params: str) -> str:
        query = "".join(f"&{k}={v}" for k, v in params.items())
        return f"{self.wiki.url}/index.php?title={title.replace(' ', '_')}&action=edit{query}"

    async def open_edit(self, title: str, **params: str) -> None:
        """Open the page's edit page and wait until the loader put the "Edit together" button on it."""
        await self.page.goto(self.edit_url(title, **params))
        await self.page.wait_for_selector("#collab-start", state="attached", timeout=30_000)

    async def start_collab(self) -> None:
        """Click "Edit together" and wait until the shared text arrived (`live`)."""
        await self.page.click("#collab-start")
        await wait_state(self.page, "live")


async def editor_text(page: Page) -> str:
    """The collaborative editor's full text (CodeMirror's document)."""
    text = await page.evaluate(EDITOR_TEXT_JS)
    assert isinstance(text, str), "the collaborative editor is not open"
    return text


async def wait_editor_contains(page: Page, *parts: str, timeout: float = 20_000) -> str:
    """Wait until the collaborative editor's text contains every one of ``parts``; return the text."""
    await page.wait_for_function(EDITOR_CONTAINS_JS, arg=list(parts), timeout=timeout)
    return await editor_text(page)


async def wait_editor_text(page: Page, expected: str, timeout: float = 20_000) -> None:
    """Wait until the collaborative editor's text is exactly ``expected``."""
    await page.wait_for_function(f"(expected) => ({EDITOR_TEXT_JS})() === expected", arg=expected, timeout=timeout)


async def wait_state(page: Page, state: str, timeout: float = 30_000) -> None:
    """Wait for ``body[data-collab-state=<state>]`` (``off`` outside collaborative mode)."""
    await page.wait_for_selector(f"body[data-collab-state={state}]", state="attached", timeout=timeout)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="module")
async def chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, chromium_sandbox=False, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            await browser.close()


WikiBrowserFactory = Callable[[dw.Account], Awaitable[WikiBrowser]]


@pytest.fixture
async def wiki_browser(chromium: Browser, devwiki: dw.DevWiki) -> AsyncIterator[WikiBrowserFactory]:
    opened: list[WikiBrowser] = []

    async def login(account: dw.Account) -> WikiBrowser:
        context = await chromium.new_context(viewport=VIEWPORT)
        page = await context.new_page()
        user = WikiBrowser(account, devwiki, context, page)
        opened.append(user)
        page.on("pageerror", lambda err: user.errors.append(f"{account.name}: {err}"))
        await page.goto(f"{devwiki.url}/index.php?title=Special:UserLogin")
        await page.fill("#wpName1", account.name)
        await page.fill("#wpPassword1", account.password)
        async with page.expect_navigation():
            await page.click("#wpLoginAttempt")
        cookies = await context.cookies(devwiki.url)
        assert any(c["name"].endswith("UserName") and c["value"] == account.name for c in cookies), cookies
        return user

    yield login
    errors = [e for user in opened for e in user.errors]
    for user in opened:
        await user.context.close()
    assert not errors, f"uncaught script errors in the browser: {errors}"


async def wait_saved(page: Page, timeout: float = 30_000) -> None:
    """Wait until the server saved everything this editor typed (state `saved`, nothing unsaved)."""
    await page.wait_for_selector(
        'body[data-collab-state=saved][data-collab-unsaved="0"]', state="attached", timeout=timeout
    )
