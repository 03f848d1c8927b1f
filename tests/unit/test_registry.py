"""The registry (collab/registry.py): each page loaded once, from the log when the log has it (never
re-seeded from the wiki), seeded deterministically otherwise; every change logged before anyone hears of it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from collab import registry as registry_module
from collab.errors import WikiUnavailable
from collab.registry import Registry
from collab.room import Origin, PageRoom, PeerOrigin, seed_update
from collab.store import SQLiteStore
from collab.wiki import Revision
from tests.support.fakewiki import FakeWiki
from tests.support.ydoc import apply_typed, typed


class CountingWiki(FakeWiki):
    """Counts reads; while ``gate`` is clear, reads wait for it (a slow wiki)."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0
        self.gate = asyncio.Event()
        self.gate.set()

    async def read(self, title: str) -> Revision | None:
        self.reads += 1
        await self.gate.wait()
        return await super().read(title)


@pytest.fixture
def store(tmp_path: Path):
    store = SQLiteStore(tmp_path)
    yield store
    store.close()


async def test_concurrent_first_joins_of_a_cold_page_share_one_load(store: SQLiteStore):
    wiki = CountingWiki()
    wiki.edit("Page", "hello")
    registry = Registry(store, wiki)
    loaded: list[PageRoom] = []
    registry.on_loaded.append(loaded.append)
    wiki.gate.clear()
    opens = [asyncio.ensure_future(registry.open("Page")) for _ in range(10)]
    await asyncio.sleep(0)
    wiki.gate.set()
    rooms = await asyncio.gather(*opens)
    assert wiki.reads == 1 and len({id(room) for room in rooms}) == 1 and loaded == [rooms[0]]
    assert await registry.open("Page") is rooms[0] and wiki.reads == 1


async def test_a_failed_load_is_not_remembered_and_the_next_join_tries_again(store: SQLiteStore):
    wiki = FakeWiki(fail_reads=[WikiUnavailable("down")])
    wiki.edit("Page", "hello")
    registry = Registry(store, wiki)
    with pytest.raises(WikiUnavailable):
        await registry.open("Page")
    assert registry.rooms == {}
    assert (await registry.open("Page")).current_text() == "hello"


async def test_a_new_page_is_seeded_from_the_wikis_revision_the_same_way_every_time(tmp_path: Path):
    wiki = FakeWiki()
    revision = wiki.edit("Page", "hello")
    stores = [SQLiteStore(tmp_path / name) for name in ("one", "two")]
    try:
        one, two = [await Registry(store, wiki).open("Page") for store in stores]
        assert one.base.revid == revision.revid and one.base.timestamp == revision.timestamp
        assert one.base.state == two.base.state == seed_update("Page", revision.revid, "hello")
        missing = await Registry(stores[0], wiki).open("Nothing here")
        assert (missing.base.revid, missing.current_text()) == (None, "")
    finally:
        for store in stores:
            store.close()


async def test_a_page_in_the_log_is_never_reseeded_from_the_wiki(store: SQLiteStore):
    wiki = CountingWiki()
    wiki.edit("Page", "hello")
    room = await Registry(store, wiki).open("Page")
    apply_typed(room, "sid", "Alice", " world")
    await store.durable()
    wiki.edit("Page", "changed on the wiki meanwhile")
    reloaded = await Registry(store, wiki).open("Page")  # a restart: a new registry over the same log
    assert wiki.reads == 1 and reloaded.current_text() == "hello world"
    assert list(reloaded.contributions.authors) == []  # authors are persisted by the commit policy
    assert reloaded.full_state() == room.full_state()


async def test_authors_persisted_come_back_with_the_page(store: SQLiteStore):
    wiki = FakeWiki()
    wiki.edit("Page", "hello")
    registry = Registry(store, wiki)
    room = await registry.open("Page")
    apply_typed(room, "sid", "Alice", "!")
    registry.persist_authors(room)
    reloaded = await Registry(store, wiki).open("Page")
    assert list(reloaded.contributions.authors) == ["Alice"] and reloaded.contributions.changes >= 1


async def test_every_change_is_in_the_log_before_any_subscriber_hears_of_it(store: SQLiteStore):
    wiki = FakeWiki()
    wiki.edit("Page", "hello")
    registry = Registry(store, wiki)
    logged_when_heard: list[bool] = []

    def subscriber(room: PageRoom, update: bytes, origin: Origin) -> None:
        stored = store.load(room.title)
        logged_when_heard.append(stored is not None and update in stored.updates)

    registry.on_change.append(subscriber)
    room = await registry.open("Page")
    apply_typed(room, "sid", "Alice", " one")
    apply_typed(room, "sid", "Alice", " two")
    assert logged_when_heard == [True, True]


async def test_a_peers_change_is_heard_but_not_logged_again(store: SQLiteStore):
    wiki = FakeWiki()
    wiki.edit("Page", "hello")
    registry = Registry(store, wiki)
    heard: list[Origin] = []
    registry.on_change.append(lambda room, update, origin: heard.append(origin))
    room = await registry.open("Page")
    room.apply_update(typed(room, "!"), PeerOrigin("node-2", "Bob"))
    stored = store.load("Page")
    assert heard == [PeerOrigin("node-2", "Bob")] and stored is not None and stored.tail_length == 0


async def test_the_tail_is_folded_into_the_snapshot_after_many_updates(
    store: SQLiteStore, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(registry_module, "COMPACT_AFTER_UPDATES", 3)
    wiki = FakeWiki()
    wiki.edit("Page", "hello")
    room = await Registry(store, wiki).open("Page")
    for letter in "abc":
        apply_typed(room, "sid", "Alice", letter)
    await asyncio.sleep(0)  # the compaction runs right after the change's transaction
    stored = store.load("Page")
    assert stored is not None and stored.tail_length == 0
    assert (await Registry(store, wiki).open("Page")).current_text() == "helloabc"


async def test_unloading_keeps_the_log_and_the_next_join_reads_it(store: SQLiteStore):
    wiki = CountingWiki()
    wiki.edit("Page", "hello")
    registry = Registry(store, wiki)
    apply_typed(await registry.open("Page"), "sid", "Alice", "!")
    registry.unload("Page")
    assert registry.rooms == {}
    assert (await registry.open("Page")).current_text() == "hello!" and wiki.reads == 1


async def test_a_page_never_changed_leaves_no_row_when_it_unloads(store: SQLiteStore):
    wiki = CountingWiki()
    wiki.edit("Looked at", "hello")
    registry = Registry(store, wiki)
    await registry.open("Looked at")
    await registry.open("Missing page")  # not on the wiki either
    assert store.load("Looked at") is not None
    registry.unload("Looked at")
    registry.unload("Missing page")
    assert store.load("Looked at") is None and store.load("Missing page") is None


async def test_a_page_changed_by_anyone_keeps_its_rows_when_it_unloads(store: SQLiteStore):
    wiki = CountingWiki()
    wiki.edit("Page", "hello")
    registry = Registry(store, wiki)
    apply_typed(await registry.open("Page"), "sid", "Alice", "!")
    registry.unload("Page")
    assert store.load("Page") is not None


async def test_a_forgotten_page_is_seeded_again_from_the_same_revision_so_an_old_copy_merges_without_duplicates(
    store: SQLiteStore,
):
    wiki = CountingWiki()
    wiki.edit("Page", "hello")
    registry = Registry(store, wiki)
    first = await registry.open("Page")
    browser_copy = first.full_state()  # a browser had the page open and keeps its document while offline
    registry.unload("Page")
    wiki.edit("Page", "hello world")  # the wiki moves on meanwhile
    again = await registry.open("Page")
    assert again.base.revid == first.base.revid and again.base.state == first.base.state
    again.doc.apply_update(browser_copy)  # the browser rejoins: its step 2
    assert again.current_text() == "hello"  # once (the poller then merges revision 2 on text)
