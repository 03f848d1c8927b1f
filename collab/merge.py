"""Three-way merges into the live document."""

from __future__ import annotations

from typing import Any

from pycrdt import Doc

from . import textdiff
from .registry import Registry
from .room import Base, PageRoom, WikiOrigin, fork
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


def merge_revision(registry: Registry, room: PageRoom, state: bytes, text: str, revision: Revision) -> None:
    """Bring ``revision`` into the live document three-way and make it the page's new base.

    ``state``/``text``: the common ancestor (the base before an outside edit; the text as sent for our own
    save's read-back, where the wiki may have merged, normalised or expanded). A fork of the ancestor is
    edited minimally into the revision's text and merged into the live document, so everything typed since
    the ancestor survives next to the wiki's change; the fork's state is kept with the new base.
    """
    fork_doc = fork_with_text(state, text, revision.text)
    room.merge_fork(fork_doc, wiki_origin(revision))
    registry.set_base(room, Base(revision.revid, revision.text, fork_doc.get_update(), revision.timestamp))
