"""Editors' changes to a room, made the way a Yjs client makes them: on a copy of the room's document."""

from __future__ import annotations

from typing import Any

from pycrdt import Doc, Text

from collab import protocol as p
from collab.room import ClientOrigin, PageRoom


def typed(room: PageRoom, text: str, at: int | None = None) -> bytes:
    """The update of an editor who has the room's whole state and types ``text`` at code point ``at``
    (default: the end)."""
    doc: Doc[Any] = Doc()
    ytext = doc.get("wikitext", type=Text)
    doc.apply_update(room.full_state())
    sv = doc.get_state()
    current = str(ytext)
    ytext.insert(len((current if at is None else current[:at]).encode()), text)  # pycrdt counts UTF-8 bytes
    return doc.get_update(sv)


def apply_typed(room: PageRoom, sid: str, user: str, text: str, at: int | None = None) -> bytes:
    """Type ``text`` into ``room`` as connection ``sid`` of ``user`` (as the sessions apply it); the update."""
    update = typed(room, text, at)
    room.apply_client_update(update, p.check_update(update), ClientOrigin(sid, user))
    return update
