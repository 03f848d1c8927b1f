"""Three-way merges of a wiki revision into the live document (collab/merge.py)."""

from __future__ import annotations

from typing import Any

from pycrdt import Doc, Text

from collab import merge
from collab.room import Base, ClientOrigin, PageRoom, WikiOrigin, seed_update


def test_a_three_way_merge_keeps_both_sides():
    base_text = "one two three"
    room = PageRoom("T", Base(1, base_text, seed_update("T", 1, base_text)))
    editor: Doc[Any] = Doc()
    editor_text = editor.get("wikitext", type=Text)
    editor.apply_update(room.full_state())
    sv = editor.get_state()
    editor_text.insert(len("one "), "TWO-AND-A-HALF ")
    room.apply_update(editor.get_update(sv), ClientOrigin("sid", "Alice"))
    fork = merge.fork_with_text(room.base.state, base_text, "one two three four")
    room.merge_fork(fork, WikiOrigin(2, "Admin"))
    assert room.current_text() == "one TWO-AND-A-HALF two three four"
    assert list(room.contributions.authors) == ["Alice"]
