"""Signatures typed in a session (collab/signatures.py): whose each tilde run is, read from the CRDT, and
each expanded as its typist."""

from __future__ import annotations

from typing import Any

from pycrdt import Doc, Text

from collab import protocol as p
from collab import signatures, wikitext
from collab.room import Base, ClientOrigin, PageRoom, seed_update


def _edit(room: PageRoom, doc: Doc[Any], change: Any, user: str) -> None:
    sv = doc.get_state()
    change(doc.get("wikitext", type=Text))
    update = doc.get_update(sv)
    room.apply_client_update(update, p.check_update(update), ClientOrigin("sid-" + user, user))


def test_each_tilde_run_belongs_to_whoever_typed_it_read_from_the_crdt():
    base_text = "Talk. ~~~~ from the wiki\n"
    room = PageRoom("T", Base(1, base_text, seed_update("T", 1, base_text)))
    alice: Doc[Any] = Doc(client_id=11)
    bob: Doc[Any] = Doc(client_id=22)
    for doc in (alice, bob):
        doc.apply_update(room.full_state())
    _edit(room, alice, lambda t: t.insert(len(str(t).encode()), "Yes 😀 ~~~~\n"), "Alice")
    bob.apply_update(room.full_state())
    _edit(room, bob, lambda t: t.insert(len(str(t).encode()), "Agreed. ~~~\n"), "Bob")
    text = room.current_text()
    runs = wikitext.signature_runs(text)
    owners = {text[a:b] + "@" + str(a): user for (a, b), user in signatures.signature_owners(room, text, runs).items()}
    alice_at, bob_at = text.index("~~~~\nAgreed"), text.index("~~~\n", text.index("Agreed"))
    assert owners == {f"~~~~@{alice_at}": "Alice", f"~~~@{bob_at}": "Bob"}  # the wiki's own run has no owner
    assert list(room.contributions.authors) == ["Alice", "Bob"]
