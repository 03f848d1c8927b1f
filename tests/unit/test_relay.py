"""The ordered relay (collab/relay.py) without Socket.IO: order, the durability barrier, coalescing, audience."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Doc, Text

from collab import protocol as p
from collab.registry import Registry
from collab.relay import Relay
from collab.room import ClientOrigin, PageRoom
from collab.store import SQLiteStore
from collab.tasks import TaskSet
from tests.support.fakewiki import FakeWiki
from tests.support.wire import RecordingWire
from tests.support.ydoc import typed


class GatedStore(SQLiteStore):
    """A store whose commits wait for the test to open the gate."""

    def __init__(self, data_dir: Path) -> None:
        super().__init__(data_dir)
        self.gate = asyncio.Event()
        self.gate.set()
        self.durable_calls = 0

    async def durable(self) -> None:
        self.durable_calls += 1
        await self.gate.wait()
        await super().durable()


@pytest.fixture
async def setup(tmp_path: Path):
    store = GatedStore(tmp_path)
    wiki = FakeWiki()
    wiki.edit("Page", "hello")
    registry = Registry(store, wiki)
    tasks = TaskSet()
    wire = RecordingWire()
    relay = Relay(registry, wire, tasks)
    room = await registry.open("Page")
    yield store, relay, wire, room, tasks
    await tasks.cancel_all()
    store.close()


def apply(room: PageRoom, sid: str, update: bytes) -> None:
    room.apply_client_update(update, p.check_update(update), ClientOrigin(sid, sid.upper()))


async def drained(tasks: TaskSet) -> None:
    await asyncio.wait_for(tasks.idle(), timeout=5)


async def test_a_change_reaches_the_other_connections_of_the_page_but_not_its_sender(setup):
    _, relay, wire, room, tasks = setup
    for sid in ("alice", "bob", "carol"):
        relay.add("Page", sid)
    relay.add("Other", "dave")
    apply(room, "alice", typed(room, " world"))
    await drained(tasks)
    assert "alice" not in wire.received and "dave" not in wire.received
    for sid in ("bob", "carol"):
        [(event, (title, message))] = wire.received[sid]
        assert (event, title) == (p.EVENT_Y, "Page") and p.parse_message(message).kind == "update"


async def test_nothing_is_relayed_before_the_store_says_it_is_durable(setup):
    store, relay, wire, room, tasks = setup
    relay.add("Page", "bob")
    store.gate.clear()
    apply(room, "alice", typed(room, "!"))
    for _ in range(50):
        await asyncio.sleep(0)
    assert store.durable_calls >= 1 and wire.received == {}
    store.gate.set()
    await drained(tasks)
    assert len(wire.received["bob"]) == 1


async def test_a_status_never_overtakes_the_change_it_announces_and_a_burst_is_coalesced(setup):
    store, relay, wire, room, tasks = setup
    relay.add("Page", "bob")
    store.gate.clear()
    apply(room, "alice", typed(room, " one"))
    apply(room, "alice", typed(room, " two"))
    relay.status("Page", "saved", "saved as revision 2", {"revid": 2})
    apply(room, "alice", typed(room, " three"))
    store.gate.set()
    await drained(tasks)
    events = [event for event, _ in wire.received["bob"]]
    assert events == [p.EVENT_Y, p.EVENT_STATUS, p.EVENT_Y]  # the first two updates went as one message
    doc: Doc[Any] = Doc()
    text = doc.get("wikitext", type=Text)
    doc.apply_update(room.base.state)
    for event, args in wire.received["bob"]:
        if event == p.EVENT_Y:
            doc.apply_update(p.parse_message(args[1]).payload)
    assert str(text) == room.current_text() == "hello one two three"


async def test_a_connection_that_left_gets_nothing_more(setup):
    _, relay, wire, room, tasks = setup
    relay.add("Page", "bob")
    relay.remove("Page", "bob")
    apply(room, "alice", typed(room, "!"))
    await drained(tasks)
    assert wire.received == {} and "Page" not in relay.audience


async def test_a_change_the_log_cannot_store_is_shown_to_no_one_and_the_page_resyncs_once_it_stores(setup):
    store, relay, wire, room, tasks = setup
    relay.add("Page", "bob")
    # A full disk, for real: SQLite may not grow the database by a single page.
    pages = store._db.execute("PRAGMA page_count").fetchone()[0]
    store._db.execute(f"PRAGMA max_page_count = {pages}")
    apply(room, "alice", typed(room, "x" * 20_000))
    await drained(tasks)
    assert [m.kind for m in wire.y_messages("bob")] == [], "not stored, not shown"
    assert [s.get("code") for s in wire.statuses("bob")] == ["notstored"]
    assert not store.accepting_writes()
    store._db.execute("PRAGMA max_page_count = 1000000")
    store._retry_at = 0.0  # (the next check may retry at once)
    assert store.accepting_writes()  # the kept append is committed now
    await drained(tasks)
    kinds = [m.kind for m in wire.y_messages("bob")]
    assert kinds == ["step1", "step2"], "asked for what it lacks, given what it missed"
    assert store.load("Page") is not None and "x" * 20_000 in rebuilt_text(store)


def rebuilt_text(store: SQLiteStore) -> str:
    stored = store.load("Page")
    assert stored is not None
    doc: Doc[Any] = Doc()
    text = doc.get("wikitext", type=Text)
    doc.apply_update(stored.base.state)
    for update in stored.updates:
        doc.apply_update(update)
    return str(text)
