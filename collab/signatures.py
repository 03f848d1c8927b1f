"""Signatures typed in a session: ``~~~``, ``~~~~`` and ``~~~~~`` become **the typist's** signature.

The wiki's own pre-save transform is asked with the typist's session (so custom signatures and the wiki's
clock are right), falling back to the default format; the bot never signs for anyone. Whose tilde run it is
comes from the CRDT: each character's item carries the Yjs client that created it (``room.typist_at``).
Only the tilde runs are edited, at their live positions, so whatever anyone types during the wiki's round
trip stays.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Final, NamedTuple

from . import wikitext
from .errors import WikiError
from .room import PageRoom, ServerOrigin
from .wiki import Wiki

log = logging.getLogger(__name__)

# How many times the wiki is asked for signatures of typists whose runs appeared while it was being asked;
# a run that appears after the last round gets the default format (no further wait).
ASK_ROUNDS: Final = 2


class OwnedRun(NamedTuple):
    """A tilde run of the text and who typed it."""

    start: int  # UTF-8 byte offset (pycrdt's unit)
    tildes: str  # "~~~", "~~~~" or "~~~~~"
    user: str


def owned_runs(room: PageRoom, text: str) -> list[OwnedRun]:
    """The tilde runs of ``text`` (the room's current text) that someone typed in this session, ascending;
    each belongs to the typist of its last tilde. Runs nobody typed here (text from the wiki, or typed
    before a restart by someone who has not written since) are left out."""
    runs = wikitext.signature_runs(text)
    if not runs or not room.typists:
        return []
    owned = []
    byte, at = 0, 0
    for start, end in runs:
        byte += len(text[at:start].encode("utf-8"))  # incrementally: one pass over the text in all
        at = start
        user = room.typist_at(byte + end - start - 1)  # (tildes are one byte each)
        if user is not None:
            owned.append(OwnedRun(byte, text[start:end], user))
    return owned


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
        """Replace each ``~~~~`` typed in the session by its typist's own signature (not the bot's).

        Asking the wiki takes a round trip per typist, during which everyone keeps typing. So the text is
        read to learn whose signatures to ask for, and read again after the last answer: the runs are found,
        their owners read from the CRDT and only their characters replaced with nothing awaited between
        reading and editing, so the positions are the live ones and everything typed meanwhile stays. A run
        that appeared meanwhile is its typist's too: with their signature if it was asked for, else the
        default format. (Why not sticky indices kept across the round trip: docs/architecture.md.)
        """
        expansions: dict[str, dict[str, str]] = {}
        for _round in range(ASK_ROUNDS):
            users = {run.user for run in owned_runs(room, room.current_text())} - expansions.keys()
            if not users:
                break
            for user in sorted(users):
                expansions[user] = await self.signatures_of(room.title, user)
        # Nothing is awaited from here to the edit: the text read is the live text.
        edits = []
        for run in owned_runs(room, room.current_text()):
            if run.user not in expansions:  # appeared during the last round: no more waiting
                expansions[run.user] = default_signatures(run.user)
            edits.append((run.start, run.start + len(run.tildes), expansions[run.user][run.tildes]))
        room.splice(edits, ServerOrigin("signature"))

    async def signatures_of(self, title: str, user: str) -> dict[str, str]:
        """``user``'s signatures from the wiki's pre-save transform with one of their sessions, else the
        default format."""
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
