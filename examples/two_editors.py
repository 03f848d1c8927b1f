#!/usr/bin/env python3
"""Two simulated editors type into one page through MediaWiki Collab; then the page history is printed.

Run against the demo (``make demo``)::

    .venv/bin/python examples/two_editors.py --title "Sandbox"

Alice and Bob log in to the wiki (their real wiki sessions identify them to the collab server), join
the page, type concurrently into different sections, ask the server to save, and the script prints the
page's latest revisions as the wiki records them and the co-authors the server recorded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import urllib.parse
import urllib.request
from typing import Any

import requests
import socketio
from pycrdt import Doc, Text

from collab import protocol as p


def login(api: str, user: str, password: str) -> str:
    """Log in through the Action API; return the Cookie header a browser would send."""
    session = requests.Session()
    token = session.get(api, params={"action": "query", "meta": "tokens", "type": "login", "format": "json"})
    login_token = token.json()["query"]["tokens"]["logintoken"]
    result = session.post(
        api,
        data={"action": "login", "lgname": user, "lgpassword": password, "lgtoken": login_token, "format": "json"},
    ).json()
    if result.get("login", {}).get("result") != "Success":
        raise SystemExit(f"login as {user} failed: {result}")
    return "; ".join(f"{c.name}={c.value}" for c in session.cookies)


class Editor:
    """A minimal collaborative editor: one pycrdt document kept in sync over the project's protocol."""

    def __init__(self, name: str, server: str, cookie: str) -> None:
        self.name = name
        self.server = server
        self.cookie = cookie
        self.sio = socketio.AsyncClient()
        self.doc: Doc[Any] = Doc()
        self.text = self.doc.get(p.TEXT_NAME, type=Text)
        self.title = ""
        self.synced = asyncio.Event()
        self._remote = False
        self._sends: set[asyncio.Task[None]] = set()
        self.sio.on("y", self._on_y)
        self.sio.on("status", self._on_status)

    async def open(self, title: str) -> None:
        await self.sio.connect(self.server, transports=["websocket"], headers={"Cookie": self.cookie})
        ack = await self.sio.call("join", title, timeout=30)
        if not ack["ok"]:
            raise SystemExit(f"{self.name} could not join: {ack['error']['message']}")
        self.title = ack["title"]
        self.doc.observe(self._on_local)
        await self.sio.emit("y", (self.title, p.sync_step1(self.doc.get_state())))
        await asyncio.wait_for(self.synced.wait(), 30)

    def _on_local(self, event: Any) -> None:
        if not self._remote:
            task = asyncio.ensure_future(self.sio.emit("y", (self.title, p.sync_update(event.update))))
            self._sends.add(task)
            task.add_done_callback(self._sends.discard)

    async def _on_y(self, title: str, msg: bytes) -> None:
        m = p.parse_message(msg)
        if m.kind == "step1":
            await self.sio.emit("y", (title, p.sync_step2(self.doc.get_update(m.payload))))
        elif m.kind in ("step2", "update"):
            self._remote = True
            try:
                self.doc.apply_update(m.payload)
            finally:
                self._remote = False
            if m.kind == "step2":
                self.synced.set()

    async def _on_status(self, title: str, status: dict[str, Any]) -> None:
        print(f"  [{self.name}] {status['state']}: {status.get('message', '')}")

    def type_after(self, anchor: str, words: str) -> None:
        """Insert ``words`` right after the first occurrence of ``anchor`` (appending if absent)."""
        s = str(self.text)
        at = s.find(anchor)
        at = len(s) if at < 0 else at + len(anchor)
        self.text.insert(len(s[:at].encode()), words)

    async def save(self) -> dict[str, Any]:
        while self._sends:
            await asyncio.gather(*list(self._sends))
        ack: dict[str, Any] = await self.sio.call("save", self.title, timeout=120)
        return ack

    async def close(self) -> None:
        await self.sio.disconnect()


async def run(args: argparse.Namespace) -> None:
    alice = Editor("Alice", args.server, login(args.wiki_api, "Alice", args.alice_password))
    bob = Editor("Bob", args.server, login(args.wiki_api, "Bob", args.bob_password))
    await alice.open(args.title)
    await bob.open(args.title)
    if "== Alice ==" not in str(alice.text):
        alice.type_after("", "== Alice ==\n\n== Bob ==\n")
    for _ in range(200):  # let the headings reach Bob before both start typing
        if "== Bob ==" in str(bob.text):
            break
        await asyncio.sleep(0.05)
    for i in range(args.words):  # both type at once, a word at a time, like people do
        alice.type_after("== Alice ==\n", f"a{i} ")
        bob.type_after("== Bob ==\n", f"b{i} ")
        await asyncio.sleep(0.05)
    ack = await alice.save()
    print(f"saved: {ack}")
    await alice.close()
    await bob.close()
    print_history(args)


def print_history(args: argparse.Namespace) -> None:
    """The page's latest revisions as the wiki records them, and the co-authors the server recorded."""
    query = urllib.parse.urlencode(
        {"action": "query", "prop": "revisions", "titles": args.title, "rvprop": "ids|user|comment|tags",
         "rvlimit": 5, "format": "json", "formatversion": 2}
    )  # fmt: skip
    with urllib.request.urlopen(f"{args.wiki_api}?{query}") as resp:
        page = json.load(resp)["query"]["pages"][0]
    print(f"\nHistory of {page['title']} (newest first):")
    for rev in page.get("revisions", []):
        print(f"  r{rev['revid']}  {rev['user']:<10} tags={','.join(rev['tags']) or '-':<12} {rev['comment']}")
    url = f"{args.server}/api/pages/{urllib.parse.quote(page['title'], safe='')}/revisions"
    with urllib.request.urlopen(url) as resp:
        recorded = json.load(resp)["revisions"]
    print("\nCo-authors recorded by the collab server:")
    for rec in recorded[:5]:
        print(f"  r{rec['revid']}  {', '.join(rec['coauthors'])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", default="http://127.0.0.1:8765", help="the collab server")
    parser.add_argument("--wiki-api", default="http://127.0.0.1:8181/api.php", help="the wiki's api.php")
    parser.add_argument("--title", default="Sandbox")
    parser.add_argument("--words", type=int, default=20, help="words each editor types")
    parser.add_argument("--alice-password", default="AlicePass-12345")
    parser.add_argument("--bob-password", default="BobPass-12345")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
