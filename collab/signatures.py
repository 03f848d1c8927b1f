"""Signatures typed in a session: ``~~~``, ``~~~~`` and ``~~~~~`` become **the typist's** signature.

The wiki's own pre-save transform is asked with the typist's session (so custom signatures and the wiki's
clock are right), falling back to the default format; the bot never signs for anyone. Whose tilde run it is
comes from the CRDT: each character's item carries the Yjs client that created it (``room.typist_at``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from . import wikitext
from .errors import WikiError
from .room import PageRoom, ServerOrigin
from .wiki import Wiki

log = logging.getLogger(__name__)


def signature_owners(room: PageRoom, text: str, runs: list[tuple[int, int]]) -> dict[tuple[int, int], str]:
    """Who typed each tilde run (code point ranges of ``text``, the room's current text): the typist of
    its last tilde. Runs nobody typed in this session (text from the wiki, or typed before a restart) are
    left out."""
    owners: dict[tuple[int, int], str] = {}
    if not room.typists:
        return owners
    for start, end in runs:
        user = room.typist_at(len(text[: end - 1].encode("utf-8")))
        if user is not None:
            owners[(start, end)] = user
    return owners


def default_signatures(user: str) -> dict[str, str]:
    """MediaWiki's default signature formats, for a user whose own session cannot be asked."""
    stamp = time.strftime("%H:%M, %-d %B %Y (UTC)", time.gmtime())
    sig = f"[[User:{user}|{user}]] ([[User talk:{user}|talk]])"
    return {"~~~": sig, "~~~~": f"{sig} {stamp}", "~~~~~": stamp}


class Signer:
    """Expands the signatures typed in a room, each as its typist."""

    def __init__(self, wiki: Wiki, cookie_for: Callable[[str], str | None]) -> None:
        self.wiki = wiki
        self.cookie_for = cookie_for  # the wiki session of one of the user's connections, if any

    async def expand(self, room: PageRoom) -> None:
        """Replace ``~~~~`` typed in the session by the typist's own signature (not the bot's)."""
        text = room.current_text()
        runs = wikitext.signature_runs(text)
        if not runs:
            return
        owners = signature_owners(room, text, runs)
        if not owners:
            return
        expansions: dict[str, dict[str, str]] = {}
        for user in set(owners.values()):
            expansions[user] = await self.signatures_of(room.title, user)
        new_text = text
        for (start, end), user in sorted(owners.items(), reverse=True):
            new_text = new_text[:start] + expansions[user][new_text[start:end]] + new_text[end:]
        room.replace_text(new_text, ServerOrigin("signature"))

    async def signatures_of(self, title: str, user: str) -> dict[str, str]:
        cookie = self.cookie_for(user)
        if cookie:
            try:
                found = await self.wiki.signatures(title, cookie)
            except WikiError as exc:
                log.info("could not ask the wiki for %s's signature: %s", user, exc.message)
                found = None
            if found and user in found["~~~"]:
                return found
        return default_signatures(user)
