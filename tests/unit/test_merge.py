"""Three-way merges of a wiki revision into the live document (collab/merge.py)."""

from __future__ import annotations

from typing import Any

from pycrdt import Doc, Text

from collab import merge
from collab.room import Base, ClientOrigin, PageRoom, WikiOrigin, seed_update
from collab.wiki import Revision


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


def test_merging_a_revision_with_the_text_the_room_has_changes_nothing():
    base_text = "one two three"
    room = PageRoom("T", Base(1, base_text, seed_update("T", 1, base_text)))
    heard: list[object] = []
    room.listeners.append(lambda update, origin: heard.append(origin))
    room.merge_fork(merge.fork_with_text(room.base.state, base_text, base_text), WikiOrigin(2, "Admin"))
    assert room.current_text() == base_text and heard == []


def test_a_merged_revision_is_credited_to_its_wiki_author_not_to_an_editor():
    revision = Revision(5, "new text", "2026-12-02T10:00:00Z", "Outsider")
    assert merge.wiki_origin(revision) == WikiOrigin(5, "Outsider")
    room = PageRoom("T", Base(1, "old text", seed_update("T", 1, "old text")))
    room.merge_fork(merge.fork_with_text(room.base.state, "old text", revision.text), merge.wiki_origin(revision))
    assert room.current_text() == "new text" and list(room.contributions.authors) == []
