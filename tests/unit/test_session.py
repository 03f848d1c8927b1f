"""The sessions (collab/session.py) without Socket.IO: who connects, joins, edits and saves, and the
y-protocol policy per message. A real registry, store and relay; the fake wiki; a recording wire. The same
behaviours through real processes: tests/test_sync.py, tests/test_auth.py, tests/test_limits.py."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Doc, Text

from collab import protocol as p
from collab.errors import CollabError, Refused, SaveRefused, WikiError
from collab.limits import Limits
from collab.session import Connection
from collab.sync import MAX_STRIKES
from tests.support.sessions import Node
from tests.support.ydoc import typed


@pytest.fixture
async def node(tmp_path: Path):
    node = Node(tmp_path)
    yield node
    await node.close()


# ---- connect -----------------------------------------------------------------------------------------
async def test_a_wiki_session_names_the_connection_and_keeps_its_cookie(node: Node):
    assert await node.connect("a", "alice-cookie")
    conn = node.sessions.connections["a"]
    assert (conn.user, conn.anonymous, conn.cookie) == ("Alice", False, "alice-cookie")


async def test_without_a_valid_session_the_connection_is_its_address_and_keeps_no_cookie(node: Node):
    assert await node.connect("a", "stale-cookie", ip="192.0.2.7")
    conn = node.sessions.connections["a"]
    assert (conn.user, conn.anonymous, conn.cookie) == ("192.0.2.7", True, None)


async def test_a_refused_connection_raises_with_the_clients_code_and_is_not_kept(tmp_path: Path):
    node = Node(tmp_path, anonymous=False)
    try:
        with pytest.raises(CollabError) as refused:
            await node.connect("a")
        assert refused.value.code == "forbidden" and "a" not in node.sessions.connections
        assert node.sessions.rejections["anonymous"] == 1
        assert node.sessions.limiter.per_ip.get("10.0.0.1", 0) == 0  # its place given back
    finally:
        await node.close()


async def test_connections_over_the_limit_per_address_are_refused_and_counted(tmp_path: Path):
    node = Node(tmp_path, limits=Limits(max_connections_per_ip=1))
    try:
        assert await node.connect("a")
        with pytest.raises(Refused) as refused:
            await node.connect("b")
        assert refused.value.code == "ratelimited" and node.sessions.rejections["connections_ip"] == 1
    finally:
        await node.close()


class Broken:
    """Makes the fake wiki's ``method`` raise ``error`` (after ``gate`` opens, when given)."""

    def __init__(self, node: Node, method: str, error: BaseException, gate: asyncio.Event | None = None) -> None:
        async def broken(*args: Any, **kwargs: Any) -> Any:
            if gate is not None:
                await gate.wait()
            raise error

        setattr(node.wiki, method, broken)


@pytest.mark.parametrize(
    "error",
    [WikiError("unmapped", code="someapierror"), ValueError("Expecting value: line 1 column 1"), KeyError("query")],
    ids=["unmapped API error", "not JSON", "unexpected shape"],
)
async def test_a_connect_the_wiki_cannot_answer_fails_with_wikiunavailable_and_gives_its_place_back(
    tmp_path: Path, error: Exception
):
    node = Node(tmp_path, limits=Limits(max_connections_per_ip=1))
    try:
        Broken(node, "whoami", error)
        for _ in range(3):  # more than the cap: nothing leaked
            with pytest.raises(CollabError) as refused:
                await node.connect("a", "alice-cookie")
            assert refused.value.code == "wikiunavailable" and "a" not in node.sessions.connections
        assert node.sessions.limiter.per_ip == {} and node.sessions.limiter.per_user == {}
    finally:
        await node.close()


async def test_a_connect_closed_while_the_wiki_fails_releases_its_address_once(tmp_path: Path):
    node = Node(tmp_path, limits=Limits(max_connections_per_ip=2))
    try:
        assert await node.connect("other")
        gate = asyncio.Event()
        Broken(node, "whoami", ValueError("not JSON"), gate)
        pending = asyncio.ensure_future(node.connect("a", "alice-cookie"))
        await asyncio.sleep(0)
        await node.sessions.disconnect("a")  # the client went away meanwhile: its address is released here
        gate.set()
        with pytest.raises(CollabError):
            await pending
        assert node.sessions.limiter.per_ip == {"10.0.0.1": 1}  # the other connection still counts
    finally:
        await node.close()


async def test_the_connection_never_shows_its_cookie():
    conn = Connection(sid="x", cookie="devwiki_session=abcdef123", ip="127.0.0.1")
    assert "abcdef123" not in repr(conn)


# ---- join ----------------------------------------------------------------------------------------------
async def test_joining_acks_the_page_then_greets_with_sync_step_1(node: Node):
    ack = await node.join("a", "Page", "alice-cookie")
    assert ack == {"ok": True, "title": "Page", "revid": 1, "readonly": False}
    [greeting] = node.wire.y_messages("a")
    assert greeting.kind == "step1" and greeting.payload == node.room().state_vector()
    assert node.relay.audience["Page"] == {"a"} and node.wire.statuses("a") == []


async def test_a_bad_title_or_an_unknown_connection_gets_an_error_ack(node: Node):
    await node.connect("a")
    assert (await node.sessions.join("a", "a|b"))["error"]["code"] == "invalidtitle"
    assert (await node.sessions.join("a", 42))["error"]["code"] == "invalidtitle"
    assert (await node.sessions.join("ghost", "Page"))["error"]["code"] == "internal"
    assert node.registry.rooms == {}


async def test_a_page_the_user_may_not_read_is_refused_at_join(node: Node):
    node.wiki.cannot_read["Alice"] = "private"
    ack = await node.join("a", "Page", "alice-cookie")
    assert ack["ok"] is False and ack["error"]["code"] == "forbidden"
    assert node.sessions.rejections["forbidden"] == 1 and "Page" not in node.relay.audience


@pytest.mark.parametrize(
    "error",
    [WikiError("unmapped", code="someapierror"), ValueError("not JSON"), RuntimeError("a bug")],
    ids=["unmapped API error", "not JSON", "anything"],
)
async def test_a_join_the_wiki_cannot_answer_is_acked_with_wikiunavailable_and_loads_nothing(
    node: Node, error: Exception
):
    await node.connect("a", "alice-cookie")
    Broken(node, "access", error)
    ack = await node.sessions.join("a", "Page")
    assert ack["ok"] is False and ack["error"]["code"] == "wikiunavailable"
    assert node.registry.rooms == {} and "Page" not in node.relay.audience


async def test_a_join_whose_client_left_while_the_wiki_was_asked_loads_nothing(node: Node):
    await node.connect("a", "alice-cookie")
    gate = asyncio.Event()
    answer = node.wiki.access

    async def slow_access(*args: Any, **kwargs: Any) -> Any:
        await gate.wait()
        return await answer(*args, **kwargs)

    node.wiki.access = slow_access  # type: ignore[method-assign]
    pending = asyncio.ensure_future(node.sessions.join("a", "Page"))
    await asyncio.sleep(0)
    await node.sessions.disconnect("a")
    gate.set()
    assert (await pending)["ok"] is False
    assert node.registry.rooms == {} and node.relay.audience.get("Page", set()) == set()


async def test_a_client_step_1_is_answered_with_what_it_lacks(node: Node):
    await node.join("a")
    await node.send("a", p.sync_step1(Doc().get_state()))
    answer = node.wire.y_messages("a")[-1]
    doc: Doc[Any] = Doc()
    doc.apply_update(answer.payload)
    assert answer.kind == "step2" and str(doc.get("wikitext", type=Text)) == "hello"


# ---- updates -------------------------------------------------------------------------------------------
async def test_an_update_is_applied_and_relayed_to_the_other_editors_only(node: Node):
    await node.join("a", cookie="alice-cookie")
    await node.join("b", cookie="bob-cookie")
    await node.update("a", typed(node.room(), " world"))
    assert node.room().current_text() == "hello world"
    assert [m.kind for m in node.wire.y_messages("b")] == ["step1", "update"]
    assert [m.kind for m in node.wire.y_messages("a")] == ["step1"]
    assert list(node.room().contributions.authors) == ["Alice"]


async def test_a_read_only_editors_update_is_dropped_with_a_readonly_status(node: Node):
    node.wiki.cannot_edit["Bob"] = "you are blocked"
    ack = await node.join("b", cookie="bob-cookie")
    assert ack["readonly"] is True
    assert node.wire.statuses("b") == [{"state": "readonly", "message": "read-only: you are blocked"}]
    await node.update("b", typed(node.room(), " vandalism"))
    assert node.room().current_text() == "hello"
    assert node.wire.statuses("b")[-1] == {
        "state": "readonly",
        "message": "your change was not applied: you are blocked",
    }
    assert node.sessions.rejections["readonly_update"] == 1
    assert (await node.sessions.save("b", "Page"))["error"]["code"] == "readonly"


async def test_an_update_after_a_gap_asks_for_the_history_and_counts_a_strike(node: Node):
    await node.join("a", cookie="alice-cookie")
    editor: Doc[Any] = Doc()
    text = editor.get("wikitext", type=Text)
    editor.apply_update(node.room().full_state())
    text.insert(5, "!")
    first = editor.get_update(node.room().state_vector())
    sv = editor.get_state()
    text.insert(6, "?")
    second = editor.get_update(sv)
    await node.update("a", second)
    assert node.room().current_text() == "hello"
    assert node.wire.y_messages("a")[-1].kind == "step1"  # "send me what I lack"
    assert node.wire.statuses("a")[-1]["code"] == "badmessage"
    assert node.sessions.connections["a"].strikes == 1
    await node.update("a", first)
    await node.update("a", second)
    assert node.room().current_text() == "hello!?"


def typed_as(node: Node, client_id: int, words: str) -> bytes:
    """``words`` typed at the end of the page by a Yjs document with ``client_id`` that holds the room."""
    doc: Doc[Any] = Doc(client_id=client_id)
    doc.apply_update(node.room().full_state())
    sv = doc.get_state()
    text = doc.get("wikitext", type=Text)
    text.insert(len(str(text).encode()), words)
    return doc.get_update(sv)


async def test_writing_with_another_editors_client_id_is_refused_and_their_next_keystrokes_get_through(
    node: Node,
):
    await node.join("a", cookie="alice-cookie")
    await node.join("b", cookie="bob-cookie")
    await node.join("m")  # Mallory: anonymous, her address is her name
    await node.update("a", typed_as(node, 11, " from Alice"))
    relayed_to_bob = len(node.wire.y_messages("b"))
    await node.update("m", typed_as(node, 11, " forged"))  # Alice's id, at her next clock
    assert node.room().current_text() == "hello from Alice"
    status = node.wire.statuses("m")[-1]
    assert status["code"] == "badmessage" and "Yjs client id 11" in status["message"]
    assert node.sessions.connections["m"].strikes == 1
    assert len(node.wire.y_messages("b")) == relayed_to_bob  # nothing of it reached anyone
    await node.update("a", typed_as(node, 11, " again"))
    assert node.room().current_text() == "hello from Alice again"
    assert node.wire.y_messages("b")[-1].kind == "update"
    await node.join("a2", cookie="alice-cookie")  # Alice's browser reconnected: same document, same id
    await node.update("a2", typed_as(node, 11, "!"))
    assert node.room().current_text() == "hello from Alice again!" and node.wire.statuses("a2") == []


async def test_a_client_id_announced_in_awareness_cannot_be_written_with_by_anyone_else(node: Node):
    await node.join("a", cookie="alice-cookie")
    await node.join("m")
    state = b'{"user":{"name":"Alice"}}'
    awareness = p.write_varuint(1) + p.write_varuint(44) + p.write_varuint(1) + p.write_varuint(len(state)) + state
    await node.send("a", p.awareness_message(awareness))  # Alice has joined, not typed yet
    await node.update("m", typed_as(node, 44, " forged"))  # Mallory saw the id relayed and writes first
    assert node.room().current_text() == "hello" and node.wire.statuses("m")[-1]["code"] == "badmessage"
    await node.update("a", typed_as(node, 44, " Alice's first word"))
    assert node.room().current_text() == "hello Alice's first word"
    many = b"".join(p.write_varuint(n) + p.write_varuint(1) + p.write_varuint(2) + b"{}" for n in range(100, 110))
    await node.send("m", p.awareness_message(p.write_varuint(10) + many))  # ids for later, in bulk
    assert set(node.room().typists) == {44}  # nothing claimed: what one connection can claim is bounded


async def test_an_update_listing_a_client_twice_is_refused_and_asked_for_again(node: Node):
    await node.join("a", cookie="alice-cookie")
    doc: Doc[Any] = Doc(client_id=55)
    doc.apply_update(node.room().full_state())
    text = doc.get("wikitext", type=Text)
    sv = doc.get_state()
    text.insert(5, " one")
    first = doc.get_update(sv)
    text.insert(9, " two")
    sv = doc.get_state()
    text.insert(13, " three")
    third = doc.get_update(sv)  # " three" after a gap: " two" is missing
    twice = p.write_varuint(2) + first[1:-1] + third[1:-1] + b"\x00"
    await node.update("a", twice)
    assert node.room().current_text() == "hello"  # nothing of it applied
    assert node.wire.y_messages("a")[-1].kind == "step1"  # "send me what I lack", encoded properly
    assert node.wire.statuses("a")[-1]["code"] == "badmessage"
    await node.update("a", doc.get_update(node.room().state_vector()))  # the client's answer
    assert node.room().current_text() == "hello one two three"


async def test_after_max_strikes_bad_messages_the_connection_is_disconnected(node: Node):
    await node.join("a")
    for _ in range(MAX_STRIKES - 1):
        await node.send("a", b"\xff\xff\xff")
    assert node.wire.disconnected == []
    assert {s["code"] for s in node.wire.statuses("a")} == {"badmessage"}
    await node.send("a", b"\xff\xff\xff")
    assert node.wire.disconnected == [("a", False)]


async def test_a_message_for_a_page_not_joined_is_a_strike(node: Node):
    await node.join("a")
    await node.send("a", p.sync_update(typed(node.room(), "!")), title="Elsewhere")
    assert node.wire.statuses("a")[-1]["code"] == "notjoined" and node.sessions.connections["a"].strikes == 1


async def test_an_oversized_message_says_why_then_disconnects_closing_tcp(tmp_path: Path):
    node = Node(tmp_path, limits=Limits(max_message_bytes=1024))
    try:
        await node.join("a")
        await node.send("a", p.sync_update(typed(node.room(), "x" * 2000)))
        assert node.room().current_text() == "hello"
        assert node.wire.statuses("a")[-1]["code"] == "toolarge"
        assert node.wire.disconnected == [("a", True)] and node.sessions.rejections["message_too_large"] == 1
    finally:
        await node.close()


async def test_a_change_that_would_make_the_page_too_large_is_not_applied(tmp_path: Path):
    node = Node(tmp_path, limits=Limits(max_document_bytes=10))
    try:
        await node.join("a")
        await node.update("a", typed(node.room(), " world!"))
        assert node.room().current_text() == "hello"
        assert node.wire.statuses("a")[-1]["code"] == "toolarge"
        assert node.sessions.rejections["document_too_large"] == 1 and node.wire.disconnected == []
    finally:
        await node.close()


async def test_awareness_reaches_the_others_and_is_withdrawn_when_its_editor_leaves(node: Node):
    await node.join("a", cookie="alice-cookie")
    await node.join("b", cookie="bob-cookie")
    state = b'{"user":{"name":"Alice"}}'
    awareness = p.write_varuint(1) + p.write_varuint(77) + p.write_varuint(1) + p.write_varuint(len(state)) + state
    await node.send("a", p.awareness_message(awareness))
    assert node.wire.y_messages("b")[-1].kind == "awareness"
    assert node.room().awareness_ids == {"a": {77}}
    assert await node.sessions.leave("a", "Page") == {"ok": True}
    await node.drained()
    [entry] = p.check_awareness(node.wire.y_messages("b")[-1].payload)
    assert entry.client_id == 77 and entry.state is None  # removed


# ---- save and leave ------------------------------------------------------------------------------------
async def test_save_acks_the_revision_the_committer_saved_or_its_error(node: Node):
    await node.join("a", cookie="alice-cookie")
    assert await node.sessions.save("a", "Page") == {"ok": True, "revid": 7}
    node.committer.error = SaveRefused("the page is protected", code="protectedpage")
    assert (await node.sessions.save("a", "Page"))["error"] == {
        "code": "saveerror",
        "message": "the page is protected",
    }
    assert (await node.sessions.save("a", "Other"))["error"]["code"] == "notjoined"
    assert node.committer.saves == ["Page", "Page"]


async def test_the_last_editor_leaving_tells_the_committer_once(node: Node):
    await node.join("a", cookie="alice-cookie")
    await node.join("b", cookie="bob-cookie")
    await node.sessions.leave("b", "Page")
    assert node.committer.last_left_rooms == []
    assert (await node.sessions.leave("b", "Page"))["error"]["code"] == "notjoined"
    await node.sessions.leave("a", "Page")
    assert node.committer.last_left_rooms == [node.room()] and "Page" not in node.relay.audience


async def test_a_disconnect_leaves_every_page_and_gives_back_its_places(node: Node):
    node.wiki.edit("Other", "text")
    await node.join("a", "Page", "alice-cookie")
    await node.join("a", "Other")
    await node.sessions.disconnect("a")
    assert node.sessions.connections == {} and node.relay.audience == {}
    assert {room.title for room in node.committer.last_left_rooms} == {"Page", "Other"}
    assert node.sessions.limiter.per_ip.get("10.0.0.1", 0) == 0
    assert node.sessions.limiter.per_user.get("Alice", 0) == 0


# ---- awareness: bounded, owned by the connection that introduced each id ---------------------------------
def awareness_of(*entries: tuple[int, int, bytes]) -> bytes:
    """An awareness message of (client id, clock, JSON state or b"" for a removal) entries."""
    body = b"".join(p.write_varuint(c) + p.write_varuint(k) + p.write_varuint(len(s)) + s for c, k, s in entries)
    return p.awareness_message(p.write_varuint(len(entries)) + body)


ALICE = b'{"user":{"name":"Alice"},"cursor":{"anchor":3}}'


async def test_an_awareness_message_of_many_empty_states_is_refused_before_any_is_applied(tmp_path: Path):
    node = Node(tmp_path)
    try:
        node.wiki.cannot_edit["10.0.0.1"] = "anonymous readers may not edit"
        await node.join("a", cookie="alice-cookie")
        await node.join("r")  # an anonymous reader
        bomb = awareness_of(*((n, 1, b"") for n in range(1000, 1000 + 50_000)))
        relayed = len(node.wire.y_messages("a"))
        await node.send("r", bomb)
        assert node.wire.statuses("r")[-1]["code"] == "badmessage"
        assert "at most 4" in node.wire.statuses("r")[-1]["message"]
        room = node.room()
        assert room.awareness.meta.keys() == {room.server_client} and room.awareness_ids == {}
        assert len(node.wire.y_messages("a")) == relayed and node.sessions.rejections["awareness"] == 1
    finally:
        await node.close()


async def test_a_read_only_reader_keeps_its_name_and_cursor(node: Node):
    node.wiki.cannot_edit["Bob"] = "you are blocked"
    await node.join("a", cookie="alice-cookie")
    await node.join("b", cookie="bob-cookie")
    await node.send("b", awareness_of((9, 1, b'{"user":{"name":"Bob"}}')))
    [entry] = p.check_awareness(node.wire.y_messages("a")[-1].payload)
    assert entry.client_id == 9 and entry.state == {"user": {"name": "Bob"}}


async def test_another_editors_awareness_id_is_refused_and_their_state_stays(node: Node):
    await node.join("a", cookie="alice-cookie")
    await node.join("b", cookie="bob-cookie")
    await node.join("c", cookie="carol-cookie")
    await node.send("a", awareness_of((44, 1, ALICE)))
    seen_by_carol = len(node.wire.y_messages("c"))
    await node.send("b", awareness_of((44, 2, b'{"user":{"name":"Alice (spoofed)"}}')))
    await node.send("b", awareness_of((44, 5, b"")))  # removing it
    await node.send("b", awareness_of((node.room().server_client, 9, b"{}")))  # the room's own id
    assert [s["code"] for s in node.wire.statuses("b")] == ["badmessage"] * 3
    assert "belongs to another editor" in node.wire.statuses("b")[0]["message"]
    assert node.room().awareness.states[44] == {"user": {"name": "Alice"}, "cursor": {"anchor": 3}}
    assert len(node.wire.y_messages("c")) == seen_by_carol  # nothing relayed
    await node.sessions.disconnect("b")  # and Bob leaving does not take Alice's state with him
    assert 44 in node.room().awareness.states


async def test_an_echo_of_another_editors_state_changes_nothing_and_costs_nothing(node: Node):
    await node.join("a", cookie="alice-cookie")
    await node.join("b", cookie="bob-cookie")
    await node.send("a", awareness_of((44, 3, ALICE)))
    await node.send("b", awareness_of((44, 3, ALICE), (45, 1, b'{"user":{"name":"Bob"}}')))  # an echoing client
    assert node.wire.statuses("b") == [] and node.room().awareness_ids == {"a": {44}, "b": {45}}
    await node.send("b", awareness_of((44, 2, b"")))  # older than what Alice sent: ignored by everyone
    assert node.wire.statuses("b") == [] and 44 in node.room().awareness.states
    await node.send("a", awareness_of((44, 4, b"")))  # Alice goes away
    await node.join("c", cookie="carol-cookie")  # Carol never saw Alice's clock
    await node.drained()
    greeted = len(node.wire.y_messages("c"))
    await node.send("b", awareness_of((44, 4, b'{"user":{"name":"Alice?"}}')))  # stale here, not for Carol
    assert node.wire.statuses("b") == [] and 44 not in node.room().awareness.states
    assert len(node.wire.y_messages("c")) == greeted  # not relayed to her
    await node.send("b", awareness_of((44, 4, b'{"user":{"name":"Alice?"}}'), (45, 2, b'{"user":{"name":"B"}}')))
    [entry] = p.check_awareness(node.wire.y_messages("c")[-1].payload)  # Bob's own state only
    assert (entry.client_id, entry.state) == (45, {"user": {"name": "B"}})


async def test_a_connection_introduces_at_most_four_awareness_ids_per_page(node: Node):
    await node.join("m")
    for cid in range(100, 104):
        await node.send("m", awareness_of((cid, 1, b"{}")))
    await node.send("m", awareness_of((104, 1, b"{}")))
    assert node.wire.statuses("m")[-1]["code"] == "badmessage"
    assert node.room().awareness_ids == {"m": {100, 101, 102, 103}} and 104 not in node.room().awareness.meta
    await node.send("m", awareness_of((101, 2, b"")))  # its own ids stay its own, removals included
    await node.send("m", awareness_of((101, 3, b"{}")))
    assert len(node.wire.statuses("m")) == 1


async def test_a_reconnecting_browser_takes_its_awareness_id_along(node: Node):
    await node.join("a", cookie="alice-cookie")
    await node.join("b", cookie="bob-cookie")
    await node.send("a", awareness_of((44, 1, ALICE)))
    await node.join("a2", cookie="alice-cookie")  # the same browser, before its old connection is noticed gone
    await node.send("a2", awareness_of((44, 2, ALICE)))
    assert node.wire.statuses("a2") == [] and node.room().awareness_ids == {"a": set(), "a2": {44}}
    await node.sessions.disconnect("a")
    assert 44 in node.room().awareness.states and node.room().awareness_holders[44] == ("a2", "Alice")


async def test_everything_about_an_awareness_id_is_freed_when_its_connection_leaves(node: Node):
    await node.join("a", cookie="alice-cookie")
    await node.join("m")
    await node.send("m", awareness_of((200, 1, b"{}"), (201, 1, b"{}"), (202, 1, b"{}")))
    await node.send("a", awareness_of((44, 1, ALICE)))
    await node.update("a", typed_as(node, 44, " typed"))
    await node.sessions.disconnect("m")
    await node.sessions.disconnect("a")
    room = node.room()
    assert room.awareness.states == {} and room.awareness.meta.keys() == {room.server_client}
    assert room.awareness_ids == {} and room.awareness_holders == {}
    assert room.typists == {44: "Alice"}  # written with: it stays Alice's (her tildes, her next clocks)


# ---- Yjs client ids: bounded per update and per connection, counted in the page size ----------------------
def gc_clients(first: int, count: int) -> bytes:
    """A text-free update: one GC struct of each of ``count`` fresh Yjs client ids."""
    structs = b"".join(p.write_varuint(1) + p.write_varuint(c) + b"\x00\x00\x01" for c in range(first, first + count))
    return p.write_varuint(count) + structs + b"\x00"


async def test_an_update_introducing_100k_client_ids_is_refused_and_the_state_does_not_grow(node: Node):
    await node.join("m")
    before = node.room().full_state()
    await node.update("m", gc_clients(1000, 100_000))
    status = node.wire.statuses("m")[-1]
    assert status["code"] == "badmessage" and "100000 Yjs client ids" in status["message"]
    assert node.room().full_state() == before and node.sessions.rejections["client_ids"] == 1


async def test_a_connection_brings_a_bounded_number_of_new_client_ids(tmp_path: Path):
    node = Node(tmp_path, limits=Limits(max_clients_per_update=10, max_new_clients_per_connection=25))
    try:
        await node.join("m")
        await node.update("m", gc_clients(1000, 10))
        await node.update("m", gc_clients(2000, 10))
        assert node.sessions.connections["m"].new_clients == 20 and node.wire.statuses("m") == []
        before = node.room().full_state()
        await node.update("m", gc_clients(3000, 10))
        assert node.room().full_state() == before
        assert "this connection may bring at most 25" in node.wire.statuses("m")[-1]["message"]
        await node.join("m2")  # (a new connection starts afresh; the page's own limit is below)
        await node.update("m2", gc_clients(3000, 5))
        assert node.wire.statuses("m2") == []
    finally:
        await node.close()


async def test_client_ids_count_in_the_page_size_limit(tmp_path: Path):
    node = Node(tmp_path, limits=Limits(max_document_bytes=1000))
    try:
        await node.join("m")
        await node.update("m", gc_clients(1000, 40))  # 5 bytes of text, 41 clients: 5 + 41 * 16 = 661
        before = node.room().full_state()
        await node.update("m", gc_clients(2000, 30))  # + 30 * 16 = 1141 > 1000
        assert node.room().full_state() == before
        status = node.wire.statuses("m")[-1]
        assert status["code"] == "toolarge" and "bytes of editing history" in status["message"]
        assert node.sessions.rejections["document_too_large"] == 1 and node.sessions.connections["m"].strikes == 0
    finally:
        await node.close()


async def test_a_delete_of_items_the_page_lacks_is_refused_and_asked_for_again(node: Node):
    await node.join("m")
    # 1000 ranges of a client the page has never seen: Yrs would keep them pending, in memory, for ever
    ranges = b"".join(p.write_varuint(2 * i) + b"\x01" for i in range(1000))
    await node.update("m", b"\x00\x01" + p.write_varuint(5555) + p.write_varuint(1000) + ranges)
    assert node.wire.statuses("m")[-1]["code"] == "badmessage"
    assert node.wire.y_messages("m")[-1].kind == "step1" and node.room().delete_ranges == 0


async def test_save_passes_the_editors_summary_and_minor_box_and_refuses_bad_ones(node: Node):
    await node.join("a", cookie="alice-cookie")
    assert (await node.sessions.save("a", "Page", {"summary": " Fixed\nthe dates ", "minor": True}))["ok"]
    assert node.committer.options[-1] == (p.SaveOptions("Fixed the dates", True), "Alice")
    assert (await node.sessions.save("a", "Page"))["ok"]
    assert node.committer.options[-1] == (p.SaveOptions(), "Alice")
    for bad in ("words", {"summary": 3}, {"summary": "x" * 501}, {"minor": "yes"}, {"summary": "", "bot": True}):
        ack = await node.sessions.save("a", "Page", bad)
        assert ack["error"]["code"] == "badmessage", bad
    ack = await node.sessions.save("a", "Page", {}, "extra")
    assert ack["error"]["code"] == "badmessage"
    assert len(node.committer.saves) == 2  # nothing refused reached the wiki
