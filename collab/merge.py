"""Three-way merges into the live document, and the bookkeeping of whose signature is whose."""

from __future__ import annotations

import time
from typing import Any

from pycrdt import Doc

from . import textdiff
from .room import PageRoom, WikiOrigin, fork
from .wiki import Revision


def fork_with_text(state: bytes, old_text: str, new_text: str) -> Doc[Any]:
    """A fork of ``state`` (whose text is ``old_text``) edited minimally into ``new_text``.

    Merging the fork into the live document applies the wiki's change (base -> new) with CRDT semantics:
    the editors' concurrent unsaved changes survive next to it, nothing is duplicated.
    """
    doc, text = fork(state)
    current = str(text)
    if current != old_text:  # pragma: no cover - a broken invariant; converge to the wiki anyway
        old_text = current
    with doc.transaction():
        textdiff.apply_edits(text, old_text, textdiff.diff(old_text, new_text))
    return doc


def wiki_origin(rev: Revision) -> WikiOrigin:
    return WikiOrigin(rev.revid, rev.user)


def signature_owners(room: PageRoom, text: str, runs: list[tuple[int, int]]) -> dict[tuple[int, int], str]:
    """Who typed each tilde run (code point ranges of ``text``, the room's current text): the typist of
    its last tilde, read from the CRDT (each character's item carries the Yjs client that created it).

    Runs nobody typed in this session (text from the wiki, or typed before a restart) are left out.
    """
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
