"""A page's room (collab/room.py): deterministic seeds, updates the room lacks the history of, sizes."""

from __future__ import annotations

from typing import Any

from pycrdt import Doc, Text

from collab import protocol as p
from collab.room import Base, ClientOrigin, PageRoom, ServerOrigin, WikiOrigin, seed_update, text_bytes_after
from tests.support.ydoc import apply_typed


def test_the_same_revision_always_seeds_the_same_bytes():
    assert seed_update("T", 5, "text") == seed_update("T", 5, "text")
    assert seed_update("T", 5, "text") != seed_update("T", 6, "text")


def test_an_update_after_a_gap_or_next_to_an_unknown_item_is_lacking():
    room = PageRoom("T", Base(1, "abc", seed_update("T", 1, "abc")))
    editor: Doc[Any] = Doc(client_id=5)
    editor.apply_update(room.full_state())
    text = editor.get("wikitext", type=Text)
    text.insert(3, "d")
    first = editor.get_update(room.state_vector())
    sv = editor.get_state()
    text.insert(4, "e")
    second = editor.get_update(sv)
    assert room.lacks(p.check_update(second))  # "e" comes after "d", which the room does not have
    room.apply_client_update(first, p.check_update(first), ClientOrigin("s", "Alice"))
    assert not room.lacks(p.check_update(second))
    assert room.known_clock(5) == 1  # moved forward without a reparse
    room.apply_client_update(second, p.check_update(second), ClientOrigin("s", "Alice"))
    assert room.current_text() == "abcde" and room.known_clock(5) == 2


def test_the_document_size_is_measured_after_an_update_without_changing_the_room():
    base = seed_update("T", 1, "hello")
    doc: Doc[Any] = Doc()
    text = doc.get("wikitext", type=Text)
    doc.apply_update(base)
    sv = doc.get_state()
    text.insert(5, " wörld")
    update = doc.get_update(sv)
    assert text_bytes_after(base, update) == len("hello wörld".encode())


def test_each_change_reaches_the_listeners_with_its_origin_and_credits_editors_only():
    page = PageRoom("T", Base(1, "abc", seed_update("T", 1, "abc")))
    heard: list[object] = []
    page.listeners.append(lambda update, origin: heard.append(origin))
    apply_typed(page, "s1", "Alice", "d")
    assert page.replace_text("abcd!", ServerOrigin("signature"))
    assert not page.replace_text("abcd!", ServerOrigin("signature"))  # nothing to change: nothing heard
    page.apply_update(seed_update("T", 1, "abc"), WikiOrigin(1))  # already held: nothing heard
    assert heard == [ClientOrigin("s1", "Alice"), ServerOrigin("signature")]
    assert list(page.contributions.authors) == ["Alice"] and page.contributions.changes == 1


def test_the_typist_of_each_character_is_known_from_the_crdt():
    page = PageRoom("T", Base(1, "abc", seed_update("T", 1, "abc")))
    apply_typed(page, "s1", "Alice", "dé")
    apply_typed(page, "s2", "Bob", "f", at=0)
    assert page.current_text() == "fabcdé"
    assert [page.typist_at(i) for i in (0, 1, 4, 5)] == ["Bob", None, "Alice", "Alice"]  # (UTF-8 offsets)


def test_an_editors_awareness_is_forgotten_when_it_leaves():
    page = PageRoom("T", Base(1, "abc", seed_update("T", 1, "abc")))
    state = b'{"user":{"name":"Alice"}}'
    message = p.write_varuint(1) + p.write_varuint(7) + p.write_varuint(1) + p.write_varuint(len(state)) + state
    page.awareness.apply_awareness_update(message, "s1")
    page.awareness_ids["s1"] = {7}
    assert page.awareness_snapshot() is not None
    removal = page.forget_connection("s1")
    assert removal is not None and p.check_awareness(removal)[0].state is None
    assert page.awareness_snapshot() is None and page.forget_connection("s1") is None
