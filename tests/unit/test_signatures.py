"""Signatures typed in a session (collab/signatures.py): whose each tilde run is, read from the CRDT, and
each expanded as its typist."""

from __future__ import annotations

from typing import Any

from pycrdt import Doc, Text

from collab import protocol as p
from collab import signatures, wikitext
from collab.room import Base, ClientOrigin, PageRoom, seed_update
from collab.signatures import Signer
from tests.support.fakewiki import FakeWiki
from tests.support.ydoc import apply_typed


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


class SigningWiki(FakeWiki):
    """Answers the signature of whoever holds ``cookie``, as the wiki's pre-save transform would."""

    async def signatures(self, title: str, cookie: str | None) -> dict[str, str] | None:
        user = self.sessions.get(cookie or "")
        return {"~~~": f"[[User:{user}|{user} (custom)]]", "~~~~": "sig+date", "~~~~~": "date"} if user else None


def typed_room(*typing: tuple[str, str]) -> PageRoom:
    """A room of ``Talk. ~~~~ from the wiki``, then each (user, text) typed at the end in turn."""
    base_text = "Talk. ~~~~ from the wiki\n"
    room = PageRoom("T", Base(1, base_text, seed_update("T", 1, base_text)))
    for user, text in typing:
        apply_typed(room, "sid-" + user, user, text)
    return room


async def test_each_typed_signature_is_expanded_as_its_typist_and_the_wikis_own_is_left():
    wiki = SigningWiki(sessions={"alice-cookie": "Alice"})
    cookies = {"Alice": "alice-cookie"}
    room = typed_room(("Alice", "Yes ~~~\n"), ("Bob", "No ~~~\n"))
    await Signer(wiki, cookies.get).expand(room)
    assert room.current_text() == (
        "Talk. ~~~~ from the wiki\n"
        "Yes [[User:Alice|Alice (custom)]]\n"  # asked of the wiki with her session
        "No [[User:Bob|Bob]] ([[User talk:Bob|talk]])\n"  # no session of his: the default format
    )


async def test_a_signature_the_wiki_gives_for_someone_else_is_not_used():
    wiki = SigningWiki(sessions={"stolen-cookie": "Mallory"})
    answer = await Signer(wiki, lambda user: "stolen-cookie").signatures_of("T", "Alice")
    assert answer == signatures.default_signatures("Alice")


async def test_a_room_without_typed_tildes_is_left_alone():
    room = typed_room(("Alice", "no signature here\n"))
    heard: list[object] = []
    room.listeners.append(lambda update, origin: heard.append(origin))
    await Signer(SigningWiki(), lambda user: None).expand(room)
    assert heard == [] and room.current_text().endswith("no signature here\n")
