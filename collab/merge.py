"""Three-way merges into the live document."""

from __future__ import annotations

from typing import Any

from pycrdt import Doc

from . import textdiff
from .room import WikiOrigin, fork
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
