"""Browser smoke check of the built bundle against a running demo (`collab demo`): not part of CI.

    .venv/bin/collab demo --dir /tmp/demo --wiki-port 8391 --port 8795
    .venv/bin/python client-js/testing/browser_smoke.py --wiki http://127.0.0.1:8391 --collab http://127.0.0.1:8795

Two standalone editors converge and see each other; the wiki's edit page gets "Edit together", saves
through the server, and "Leave collaborative mode" hands the text back to the textarea; a non-edit page
is left alone. Screenshots go to --out.
"""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

from playwright.sync_api import Page, expect, sync_playwright

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


# Opens a page on the server's own page (/) with the bundle's API, keeping handles in window.__t.
OPEN = """([title, name]) => {
  window.__t = MediaWikiCollab.openPage({
    title, parent: document.getElementById('editor'), serverUrl: location.origin, user: {name}})
  window.__t.provider.on('status', (s) => { document.body.dataset.collabState = s.state })
}"""


def wait_state(page: Page, state: str) -> None:
    page.wait_for_selector(f"body[data-collab-state={state}]", timeout=15000)


def login(page: Page, wiki: str, user: str, password: str) -> None:
    page.goto(f"{wiki}/index.php?title=Special:UserLogin")
    page.fill("#wpName1", user)
    page.fill("#wpPassword1", password)
    page.click("#wpLoginAttempt")
    page.wait_for_load_state("load")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--wiki", default="http://127.0.0.1:8391")
    ap.add_argument("--collab", default="http://127.0.0.1:8795")
    ap.add_argument("--out", type=Path, default=Path("/tmp/collab-smoke"))
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    title = f"Smoke {int(time.time())}"
    errors: list[str] = []

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True, chromium_sandbox=False, args=ARGS)

        # --- standalone page: two people, one text ---
        a = browser.new_context().new_page()
        b = browser.new_context().new_page()
        for p in (a, b):
            p.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
        a.goto(f"{args.collab}/?title={title}&name=Alice")
        b.goto(f"{args.collab}/?title={title}&name=Bob")
        wait_state(a, "live")
        wait_state(b, "live")
        a.click(".collab-editor .cm-content")
        a.keyboard.type("== Hello ==\n'''Bold''' [[Link|label]] {{Template|x=1}}\n")
        expect(b.locator(".collab-editor .cm-content")).to_contain_text("Template|x=1", timeout=10000)
        b.click(".collab-editor .cm-content")
        b.keyboard.press("Control+End")
        b.keyboard.type("Bob was here.")
        expect(a.locator(".collab-editor .cm-content")).to_contain_text("Bob was here.", timeout=10000)
        expect(a.locator(".collab-participant")).to_have_count(2)
        expect(a.locator(".cm-ySelectionInfo")).to_have_text("Bob")
        # Undo only undoes one's own typing.
        a.click(".collab-editor .cm-content")
        a.keyboard.press("Control+z")
        expect(a.locator(".collab-editor .cm-content")).to_contain_text("Bob was here.")
        a.screenshot(path=str(args.out / "standalone.png"))
        print("standalone: converged; participants:", a.locator(".collab-participants").inner_text().replace("\n", ", "))
        print("standalone status:", a.locator(".collab-status").inner_text())

        b.close()
        a.close()

        # --- offline and back: edits made offline arrive, presence returns at once ---
        title2 = f"Reconnect {int(time.time())}"
        a = browser.new_context().new_page()
        b = browser.new_context().new_page()
        for p, name in ((a, "Alice"), (b, "Bob")):
            p.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
            p.goto(f"{args.collab}/")
            p.evaluate(OPEN, [title2, name])
            wait_state(p, "live")
        expect(b.locator(".collab-participant")).to_have_count(2)
        a.evaluate("() => { const s = window.__t.connection.socket; s.io.reconnection(false); s.io.engine.close() }")
        wait_state(a, "offline")
        expect(b.locator(".collab-participant")).to_have_count(1, timeout=10000)
        a.click(".collab-editor .cm-content")
        a.keyboard.type("typed offline")
        expect(a.locator(".collab-status")).to_contain_text("offline — ")
        print("offline status:", a.locator(".collab-status").inner_text())
        b.click(".collab-editor .cm-content")
        b.keyboard.type("Bob online. ")
        a.evaluate("() => { const s = window.__t.connection.socket; s.io.reconnection(true); s.connect() }")
        wait_state(a, "live")
        expect(b.locator(".collab-editor .cm-content")).to_contain_text("typed offline", timeout=10000)
        expect(a.locator(".collab-editor .cm-content")).to_contain_text("Bob online.", timeout=10000)
        expect(b.locator(".collab-participant")).to_have_count(2, timeout=3000)
        ack = a.evaluate("() => window.__t.provider.save()")
        assert ack["ok"], ack
        expect(b.locator(".collab-announcement").first).to_contain_text("Saved as revision", timeout=10000)
        print("reconnect: offline edits merged, presence back, save ack", ack)
        a.close()
        b.close()

        # --- wiki edit page ---
        ctx = browser.new_context()
        w = ctx.new_page()
        w.on("pageerror", lambda e: errors.append(f"wiki pageerror: {e}"))
        w.on("response", lambda r: r.status >= 400 and errors.append(f"wiki HTTP {r.status}: {r.url}"))
        login(w, args.wiki, "Alice", "AlicePass-12345")
        w.goto(f"{args.wiki}/index.php?title=Main_Page")
        w.wait_for_load_state("networkidle")
        assert w.locator("#collab-start").count() == 0, "no button outside the edit page"
        page_title = f"Collab smoke {int(time.time())}"
        w.goto(f"{args.wiki}/index.php?title={page_title.replace(' ', '_')}&action=edit")
        w.wait_for_selector("#collab-start", timeout=15000)
        w.click("#collab-start")
        wait_state(w, "live")
        assert not w.locator("#wpTextbox1").is_visible()
        w.click(".collab-editor .cm-content")
        w.keyboard.type("Written together. '''Bold'''")
        w.screenshot(path=str(args.out / "wiki-edit.png"))
        w.click("#collab-leave")
        expect(w.locator("#wpTextbox1")).to_be_visible()
        expect(w.locator("#wpTextbox1")).to_have_value("Written together. '''Bold'''")
        w.click("#collab-start")
        wait_state(w, "live")
        expect(w.locator(".collab-editor .cm-content")).to_contain_text("Written together.")
        w.click("#wpSave")
        w.wait_for_url(lambda url: "action=edit" not in url, timeout=30000)
        w.wait_for_load_state("load")
        content = w.locator("#mw-content-text").inner_text()
        print("wiki: after save at", w.url, "content:", content.strip()[:80])
        assert "Written together." in content
        w.screenshot(path=str(args.out / "wiki-saved.png"))

        # collab=1 opens collaborative mode directly.
        w.goto(f"{args.wiki}/index.php?title={page_title.replace(' ', '_')}&action=edit&collab=1")
        wait_state(w, "live")
        expect(w.locator(".collab-editor .cm-content")).to_contain_text("Written together.")
        w.screenshot(path=str(args.out / "wiki-collab1.png"))
        # Preview hands the shared text to the ordinary form.
        w.click(".collab-editor .cm-content")
        w.keyboard.press("Control+End")
        w.keyboard.type(" More.")
        w.click("#wpPreview")
        w.wait_for_selector("#wikiPreview", timeout=15000)
        # (MediaWiki appends a newline to the textarea of a preview.)
        expect(w.locator("#wpTextbox1")).to_have_value(re.compile(r"^Written together\. '''Bold''' More\.\n?$"))
        expect(w.locator("#wikiPreview")).to_contain_text("More.")
        print("wiki: preview from collaborative mode shows the shared text")
        browser.close()

    if errors:
        print("ERRORS:", *errors, sep="\n  ")
        raise SystemExit(1)
    print("browser smoke: OK")


if __name__ == "__main__":
    main()
