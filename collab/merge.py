"""Three-way merges into the live document.

Two kinds, for two different ancestors:

* :func:`merge_outside`: a revision saved outside the session (a classic edit, a bot, a script) is merged
  **textually**, diff3-style, from the last reconciled revision (``room.base.text``), the live text and the
  revision's text (:func:`diff3.three_way`). A change that both sides made identically (the revision already
  holds the session's unsaved text, as when someone left collaborative mode and saved the textarea) is
  applied once; the merged text reaches the CRDT as a minimal diff.
* :func:`merge_revision`: what the wiki stored for our own save is merged through a CRDT fork of the text
  as sent, whose state we hold exactly (the read-back).
"""

from __future__ import annotations

from typing import Any

from pycrdt import Doc

from . import diff3, textdiff
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
    """Bring ``revision`` into the live document through a CRDT fork and make it the page's new base.

    ``state``/``text``: the exact CRDT state of the ancestor (our save's read-back: the text as sent, where
    the wiki may have merged, normalised or expanded). A fork of the ancestor is edited minimally into the
    revision's text and merged into the live document, so everything typed since the ancestor survives next
    to the wiki's change; the fork's state is kept with the new base. Outside revisions go through
    :func:`merge_outside` instead: their text may already hold what the session typed since the base.
    """
    fork_doc = fork_with_text(state, text, revision.text)
    room.merge_fork(fork_doc, wiki_origin(revision))
    registry.set_base(room, Base(revision.revid, revision.text, fork_doc.get_update(), revision.timestamp))


def merge_outside(registry: Registry, room: PageRoom, revision: Revision) -> bool:
    """Merge a revision saved outside the session into the live text three-way (:func:`three_way` of the
    base text, the live text and the revision's text) and make the revision the page's new base.

    Synchronous from reading the live text to applying the result, so no keystroke slips in between. The
    new base's CRDT state is the live state after the merge: an ancestor of everything that follows, whose
    text is the revision's unless the session still holds changes of its own (which the next save sends).
    Returns whether the live text changed.
    """
    live = room.current_text()
    changed = room.edit_text(live, diff3.three_way_edits(room.base.text, live, revision.text), wiki_origin(revision))
    registry.set_base(room, Base(revision.revid, revision.text, room.full_state(), revision.timestamp))
    return changed
