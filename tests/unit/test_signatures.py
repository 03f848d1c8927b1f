"""Signatures typed in a session (collab/signatures.py): whose each tilde run is, read from the CRDT, and
each expanded as its typist."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from pycrdt import Doc, Text

from collab import protocol as p
from collab import signatures
from collab.room import Base, ClientOrigin, PageRoom, ServerOrigin, seed_update
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
    raw = text.encode()
    alice_at, bob_at = raw.index(b"~~~~\nAgreed"), raw.index(b"~~~\n", raw.index(b"Agreed"))
    assert signatures.owned_runs(room, text) == [  # the wiki's own run has no owner; offsets in UTF-8 bytes
        signatures.OwnedRun(alice_at, "~~~~", "Alice"),
        signatures.OwnedRun(bob_at, "~~~", "Bob"),
    ]
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


class SlowSigningWiki(SigningWiki):
    """A wiki whose pre-save transform takes a round trip, during which the next of ``meanwhile`` happens
    (someone types)."""

    def __init__(self, meanwhile: list[Callable[[], object]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.meanwhile = meanwhile
        self.asked: list[str | None] = []

    async def signatures(self, title: str, cookie: str | None) -> dict[str, str] | None:
        self.asked.append(self.sessions.get(cookie or ""))
        await asyncio.sleep(0)  # the request is on its way: every other task may run
        if self.meanwhile:
            self.meanwhile.pop(0)()
        return await super().signatures(title, cookie)


async def test_what_others_type_during_the_wikis_round_trip_stays_and_only_the_tildes_change():
    room = typed_room(("Alice", "Yés 😀 ~~~~ ok\n"))
    text = room.current_text()

    def bob_types_around_the_run() -> None:
        # from the end back (each position read before anything is typed): at the end, right after the
        # run, right before it, inside Alice's sentence before it, at the very start
        run = text.index("~~~~", text.index("Yés"))
        places = [(len(text), "Bob at the end.\n"), (run + 4, "[after]"), (run, "[before]")]
        for at, words in [*places, (text.index("😀"), "é"), (0, "Bob first. ")]:
            apply_typed(room, "sid-Bob", "Bob", words, at=at)

    wiki = SlowSigningWiki([bob_types_around_the_run], sessions={"alice-cookie": "Alice"})
    heard: list[object] = []
    room.listeners.append(lambda update, origin: heard.append(origin))
    await Signer(wiki, {"Alice": "alice-cookie"}.get).expand(room)
    assert wiki.asked == ["Alice"]
    assert room.current_text() == (
        "Bob first. Talk. ~~~~ from the wiki\nYés é😀 [before]sig+date[after] ok\nBob at the end.\n"
    )
    assert heard[-1] == ServerOrigin("signature") and heard.count(ServerOrigin("signature")) == 1  # one change


async def test_runs_typed_during_the_round_trip_are_their_typists_asked_once_more_then_the_default():
    room = typed_room(("Alice", "A ~~~~\n"))
    wiki = SlowSigningWiki(
        [
            lambda: apply_typed(room, "sid-Bob", "Bob", "B ~~~~\n"),  # while Alice's is asked: Bob's is asked next
            lambda: apply_typed(room, "sid-Carol", "Carol", "C ~~~\n"),  # while Bob's is asked: not asked
        ],
        sessions={"alice-cookie": "Alice", "bob-cookie": "Bob", "carol-cookie": "Carol"},
    )
    cookies = {"Alice": "alice-cookie", "Bob": "bob-cookie", "Carol": "carol-cookie"}
    await Signer(wiki, cookies.get).expand(room)
    assert wiki.asked == ["Alice", "Bob"]
    assert room.current_text() == (
        "Talk. ~~~~ from the wiki\nA sig+date\nB sig+date\nC [[User:Carol|Carol]] ([[User talk:Carol|talk]])\n"
    )


async def test_a_run_changed_during_the_round_trip_is_read_again_from_the_crdt():
    room = typed_room(("Alice", "A ~~~~ end\n"))
    at = room.current_text().index(" end")
    wiki = SlowSigningWiki(
        [lambda: apply_typed(room, "sid-Bob", "Bob", "~", at=at)], sessions={"alice-cookie": "Alice"}
    )
    await Signer(wiki, {"Alice": "alice-cookie"}.get).expand(room)
    # Bob's fifth tilde made it a ~~~~~ run whose last tilde is his: his date, not Alice's signature
    assert room.current_text().endswith("A " + signatures.default_signatures("Bob")["~~~~~"] + " end\n")
