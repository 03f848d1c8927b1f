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
    """Who typed each tilde run (code point ranges of ``text``): the last editor who typed a tilde in it.

    Runs nobody typed in this session (e.g. inside text merged from the wiki) are left out.
    """
    marks = [(mark.byte_index, mark.user) for mark in room.signature_marks]
    if not marks:
        return {}
    encoded_prefix = _byte_offsets(text, [p for run in runs for p in run])
    owners: dict[tuple[int, int], str] = {}
    for start, end in runs:
        b_start, b_end = encoded_prefix[start], encoded_prefix[end]
        for byte_index, user in marks:
            if b_start <= byte_index < b_end:
                owners[(start, end)] = user
    return owners


def _byte_offsets(text: str, points: list[int]) -> dict[int, int]:
    return {p: len(text[:p].encode("utf-8")) for p in points}


def default_signatures(user: str) -> dict[str, str]:
    """MediaWiki's default signature formats, for a user whose own session cannot be asked."""
    stamp = time.strftime("%H:%M, %-d %B %Y (UTC)", time.gmtime())
    sig = f"[[User:{user}|{user}]] ([[User talk:{user}|talk]])"
    return {"~~~": sig, "~~~~": f"{sig} {stamp}", "~~~~~": stamp}
