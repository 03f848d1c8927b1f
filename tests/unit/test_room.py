"""A page's room (collab/room.py): deterministic seeds, updates the room lacks the history of, sizes."""

from __future__ import annotations

from typing import Any

from pycrdt import Doc, Text

from collab import protocol as p
from collab.room import (
    Base,
    ClientOrigin,
    PageRoom,
    ServerOrigin,
    WikiOrigin,
    count_delete_ranges,
    seed_update,
    weight_after,
)
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
    assert weight_after(base, update)[0] == len("hello wörld".encode())


def test_the_metadata_weight_counts_clients_and_delete_ranges_exactly_after_an_update():
    room = PageRoom("T", Base(1, "abcdefgh", seed_update("T", 1, "abcdefgh")))
    editor: Doc[Any] = Doc(client_id=5)
    editor.apply_update(room.full_state())
    text = editor.get("wikitext", type=Text)
    sv = editor.get_state()
    text.insert(8, "!")
    del text[6:7]
    del text[1:3]
    update = editor.get_update(sv)
    info = p.check_update(update)
    assert room.metadata_bytes(room.new_clients(info), info.delete_ranges) == 2 * 16 + 2 * 16
    assert weight_after(room.full_state(), update) == (len("adef!h"), 2 * 16 + 2 * 16)
    room.apply_client_update(update, info, ClientOrigin("s", "Alice"))
    assert room.metadata_bytes() == 2 * 16 + 2 * 16 == room.metadata_bytes(0, count_delete_ranges(room.doc) - 2)


def test_a_delete_of_items_the_room_does_not_hold_lacks_them():
    room = PageRoom("T", Base(1, "abc", seed_update("T", 1, "abc")))
    editor: Doc[Any] = Doc(client_id=5)
    editor.apply_update(room.full_state())
    text = editor.get("wikitext", type=Text)
    text.insert(3, "def")
    typed = p.check_update(editor.get_update(room.state_vector()))
    sv = editor.get_state()
    del text[4:5]
    deleted_only = editor.get_update(sv)
    assert not room.lacks(typed) and room.lacks(p.check_update(deleted_only))  # "e" never reached the room
    both = editor.get_update(room.state_vector())  # the insert and the delete together: nothing missing
    assert not room.lacks(p.check_update(both))


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


class Editor:
    """A Yjs client with its own client id, kept in step with the room."""

    def __init__(self, room: PageRoom, client_id: int) -> None:
        self.room = room
        self.doc: Doc[Any] = Doc(client_id=client_id)
        self.text = self.doc.get("wikitext", type=Text)
        self.doc.apply_update(room.full_state())

    def types(self, words: str) -> tuple[bytes, p.UpdateInfo]:
        """The update of ``words`` typed at the end, and what it touches."""
        self.doc.apply_update(self.room.full_state())  # (everything the room holds, as the relay brings it)
        sv = self.doc.get_state()
        self.text.insert(len(str(self.text).encode()), words)
        update = self.doc.get_update(sv)
        return update, p.check_update(update)


def test_a_client_id_belongs_to_the_user_who_first_wrote_with_it_also_on_another_connection():
    room = PageRoom("T", Base(1, "abc", seed_update("T", 1, "abc")))
    alice = Editor(room, 11)
    update, info = alice.types("d")
    assert room.foreign_client(info, "Alice") is None  # nobody's yet
    room.apply_client_update(update, info, ClientOrigin("s1", "Alice"))
    assert room.typists == {11: "Alice"}
    update, info = Editor(room, 11).types("!")  # someone else's document that took Alice's id
    assert room.foreign_client(info, "Mallory") == 11
    assert room.foreign_client(info, "Alice") is None  # Alice again, e.g. reconnected (a new connection)
    room.apply_client_update(update, info, ClientOrigin("s2", "Alice"))
    assert room.current_text() == "abcd!"


def test_structs_the_room_holds_already_are_not_writing_with_their_client_id():
    room = PageRoom("T", Base(1, "abc", seed_update("T", 1, "abc")))
    alice, bob = Editor(room, 11), Editor(room, 22)
    room.apply_client_update(*alice.types("d"), ClientOrigin("s1", "Alice"))
    sv = bob.doc.get_state()  # Bob's step 2 answers a step 1 sent before he received Alice's "d" ...
    _update, info = bob.types("e")
    step2 = bob.doc.get_update(sv)  # ... so it carries Alice's "d" too, which the room holds
    assert set(info.ends) == {22} and set(p.check_update(step2).ends) == {11, 22}
    assert room.foreign_client(p.check_update(step2), "Bob") is None
    room.apply_client_update(step2, p.check_update(step2), ClientOrigin("s2", "Bob"))
    assert room.typists == {11: "Alice", 22: "Bob"}  # forwarding Alice's item did not make it Bob's


def test_a_client_id_announced_in_awareness_is_claimed_before_anyone_can_write_with_it():
    room = PageRoom("T", Base(1, "abc", seed_update("T", 1, "abc")))
    room.claim(33, "Alice")
    _update, info = Editor(room, 33).types("x")
    assert room.foreign_client(info, "Mallory") == 33
    room.claim(33, "Mallory")  # an announcement does not take an id that belongs to someone
    assert room.typists == {33: "Alice"}


def test_nobody_may_write_with_the_rooms_own_client_id():
    room = PageRoom("T", Base(1, "abc", seed_update("T", 1, "abc")))
    _update, info = Editor(room, room.server_client).types("x")
    assert room.foreign_client(info, "Mallory") == room.server_client
    room.claim(room.server_client, "Mallory")
    assert room.typists == {}


def test_a_client_id_from_before_a_reload_is_nobodys_until_its_first_writer():
    room = PageRoom("T", Base(1, "abc", seed_update("T", 1, "abc")))
    alice = Editor(room, 11)
    room.apply_client_update(*alice.types("d"), ClientOrigin("s1", "Alice"))
    reloaded = PageRoom("T", room.base, state=room.full_state())  # the ownership is not in the log
    alice.room = reloaded
    update, info = alice.types("e")
    assert reloaded.foreign_client(info, "Alice") is None
    reloaded.apply_client_update(update, info, ClientOrigin("s9", "Alice"))
    assert reloaded.typists == {11: "Alice"} and reloaded.typist_at(3) == "Alice"
