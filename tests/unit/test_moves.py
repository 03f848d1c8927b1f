"""Page moves and deletions during a session (collab/moves.py), in-process: the sessions, relay, registry,
SQLite log and commit policy wired as ``collab.app`` wires them, the fake wiki and a fake clock. Against the
dev wiki: tests/test_moves.py."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from collab import protocol as p
from collab.commit import CommitManager
from collab.errors import MoveRefused, WikiUnavailable
from collab.events import Fanout
from collab.moves import PageMoves
from collab.room import PageRoom
from collab.watch import OutsideEditWatcher
from tests.support.fakewiki import FakeClock
from tests.support.sessions import Node
from tests.support.ydoc import typed

IDLE = 5.0


class World(Node):
    """A node whose commit policy is the real one, on a fake clock, with the move watcher."""

    def __init__(self, tmp: Path) -> None:
        super().__init__(tmp)
        self.clock = FakeClock()
        self.observer = Fanout(self.relay)
        self.commits = CommitManager(
            self.registry,
            self.wiki,
            self.tasks,
            self.sessions,
            commit_idle_s=IDLE,
            commit_max_s=30,
            unload_idle_s=60,
            observer=self.observer,
            clock=self.clock,
        )
        self.sessions.committer = self.commits
        self.moves = PageMoves(self.registry, self.wiki, self.sessions, self.relay, self.commits, self.observer)

    async def poll(self, title: str) -> bool:
        """What one poll of the watcher does for ``title``: whether it was a move or deletion."""
        room = self.registry.rooms[title]
        revids = await self.wiki.last_revids([title])
        handled = await self.moves.check(room, revids[title])
        if not handled:
            await self.commits.check_outside(room, revids[title])
        await self.drained()
        return handled

    async def type(self, sid: str, text: str, title: str = "Page") -> None:
        await self.update(sid, typed(self.registry.rooms[title], text), title)

    async def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        await self.drained()


@pytest.fixture
async def world(tmp_path: Path):
    w = World(tmp_path)
    yield w
    await w.close()


def sent(world: World, sid: str) -> list[tuple[str, str]]:
    """(event, title) of everything ``sid`` received, in order."""
    return [(event, args[0]) for event, args in world.wire.received.get(sid, [])]


async def test_a_move_re_keys_the_room_log_audience_connections_and_commit_bookkeeping(world: World):
    await world.join("a", cookie="alice-cookie")
    await world.join("b", cookie="bob-cookie")
    await world.type("a", " unsaved")
    world.wiki.move("Page", "New")
    assert await world.poll("Page") is True
    room = world.registry.rooms["New"]
    assert "Page" not in world.registry.rooms and room.title == "New"
    assert room.current_text() == "hello unsaved"  # the redirect left at "Page" was not merged
    stored = world.store.load("New")
    assert stored is not None and stored.authors == ["Alice"] and world.store.load("Page") is None
    assert world.relay.audience == {"New": {"a", "b"}}
    for sid in ("a", "b"):
        assert list(world.sessions.connections[sid].pages) == ["New"]
        [moved] = [s for s in world.wire.statuses(sid) if s["state"] == "moved"]
        assert moved["title"] == "New" and moved["from"] == "Page" and "Mover" in moved["message"]
    assert "Page" not in world.commits.pages and "New" in world.commits.pages
    # The move's null revision (the same text) is the new base: no "merged" for it, no outside merge.
    assert room.base.revid == world.wiki.pages["New"][-1].revid and room.base.text == "hello"
    assert not any(s["state"] == "merged" for s in world.wire.statuses("a"))


async def test_the_unsaved_work_is_saved_to_the_new_title_by_the_timers_armed_before_the_move(world: World):
    await world.join("a", cookie="alice-cookie")
    await world.type("a", " unsaved")
    world.wiki.move("Page", "New")
    await world.poll("Page")
    await world.advance(IDLE)
    [save] = world.wiki.saves
    assert save.title == "New" and save.text == "hello unsaved" and "Alice" in save.summary
    assert world.wiki.text("New") == "hello unsaved" and world.wiki.text("Page") == "#REDIRECT [[New]]"
    assert await world.poll("New") is False and world.registry.rooms["New"].current_text() == "hello unsaved"


async def test_what_was_queued_under_the_old_title_leaves_before_the_moved_status(world: World):
    await world.join("a", cookie="alice-cookie")
    await world.join("b", cookie="bob-cookie")
    world.wire.received.clear()
    room = world.registry.rooms["Page"]
    world.wiki.move("Page", "New")
    update = typed(room, " typed just before")
    await world.sessions.y("a", "Page", p.sync_update(update))  # queued in the relay, not sent yet
    await world.moves.check(room, (await world.wiki.last_revids(["Page"]))["Page"])
    await world.type("a", " and after", title="New")
    assert sent(world, "b") == [("y", "Page"), ("status", "Page"), ("y", "New")]


async def test_a_message_sent_under_the_old_title_after_the_move_still_reaches_the_page(world: World):
    await world.join("a", cookie="alice-cookie")
    world.wiki.move("Page", "New")
    await world.poll("Page")
    late = typed(world.registry.rooms["New"], " late")
    await world.update("a", late, title="Page")  # the client had not seen its "moved" status yet
    assert world.registry.rooms["New"].current_text() == "hello late"
    assert world.sessions.connections["a"].strikes == 0
    assert (await world.sessions.save("a", "Page"))["ok"] is True
    assert world.wiki.saves[-1].title == "New"
    assert (await world.sessions.leave("a", "Page"))["ok"] is True
    assert world.sessions.connections["a"].pages == {} and world.sessions.connections["a"].moved == {}


async def test_a_page_moved_without_a_redirect_is_followed_too(world: World):
    await world.join("a", cookie="alice-cookie")
    world.wiki.move("Page", "New", redirect=False)
    assert (await world.wiki.last_revids(["Page"])) == {"Page": None}
    assert await world.poll("Page") is True
    assert list(world.registry.rooms) == ["New"]


async def test_a_page_edited_after_its_move_merges_that_edit_as_an_outside_edit(world: World):
    await world.join("a", cookie="alice-cookie")
    await world.type("a", " unsaved")
    world.wiki.move("Page", "New")
    world.wiki.edit("New", "Carol was here. hello", "Carol")
    await world.poll("Page")
    room = world.registry.rooms["New"]
    assert room.current_text() == "Carol was here. hello unsaved"
    assert any(s["state"] == "merged" and s["user"] == "Carol" for s in world.wire.statuses("a"))


async def test_an_ordinary_outside_edit_is_not_taken_for_a_move(world: World):
    await world.join("a", cookie="alice-cookie")
    world.wiki.edit("Page", "hello there", "Carol")
    assert await world.poll("Page") is False
    assert world.registry.rooms["Page"].current_text() == "hello there"


async def test_a_deleted_page_ends_the_session_for_everyone_keeps_the_text_and_saves_nothing(world: World):
    await world.join("a", cookie="alice-cookie")
    await world.join("b", cookie="bob-cookie")
    await world.type("a", " unsaved")
    world.wiki.delete("Page")
    assert await world.poll("Page") is True
    for sid in ("a", "b"):
        removed = world.wire.statuses(sid)[-1]
        assert removed["state"] == "removed" and removed["code"] == "deleted"
        assert "deleted" in removed["message"] and "Deleter" in removed["message"] and "spam" in removed["message"]
        assert world.sessions.connections[sid].pages == {}
    assert world.registry.rooms == {} and world.relay.audience == {}
    await world.advance(3600)
    assert world.wiki.saves == [] and "Page" not in world.wiki.pages  # nothing re-created the page
    stored = world.store.load("Page")
    assert stored is not None and stored.authors == ["Alice"] and world.store.pending_titles() == ["Page"]
    reloaded = PageRoom("Page", stored.base)
    for update in stored.updates:
        reloaded.doc.apply_update(update)
    assert reloaded.current_text() == "hello unsaved"


async def test_a_page_missing_without_a_deletion_in_the_log_is_left_to_the_commit_policy(world: World):
    await world.join("a", cookie="alice-cookie")
    world.wiki.pages.pop("Page")
    assert await world.poll("Page") is False
    assert world.wire.statuses("a")[-1]["state"] == "error" and "Page" in world.registry.rooms


async def test_when_the_log_cannot_follow_a_move_the_session_ends_and_says_where_the_page_went(
    world: World, monkeypatch: pytest.MonkeyPatch
):
    def refuse(old: str, new: str) -> None:
        raise MoveRefused("cluster mode cannot follow a move yet")

    monkeypatch.setattr(world.store, "rename", refuse)
    await world.join("a", cookie="alice-cookie")
    await world.type("a", " unsaved")
    world.wiki.move("Page", "New")
    assert await world.poll("Page") is True
    removed = world.wire.statuses("a")[-1]
    assert removed["state"] == "removed" and removed["code"] == "deleted"
    assert "moved to New" in removed["message"] and "cluster mode" in removed["message"]
    assert world.registry.rooms == {} and world.wiki.saves == []
    assert world.store.load("Page") is not None  # the text stays in the log, under the old title


async def test_an_idle_saved_session_of_the_new_title_gives_way_to_the_moved_page(world: World):
    await world.registry.open("New")  # a page that did not exist, opened and left: nothing unsaved
    await world.join("a", cookie="alice-cookie")
    world.wiki.move("Page", "New")
    assert await world.poll("Page") is True
    assert list(world.registry.rooms) == ["New"] and world.registry.rooms["New"].current_text() == "hello"


async def test_the_watcher_never_merges_the_redirect_of_a_moved_page(world: World):
    await world.join("a", cookie="alice-cookie")
    world.wiki.move("Page", "New")
    followed = asyncio.Event()

    class Recording:
        async def check(self, room: PageRoom, lastrevid: int | None) -> bool:
            handled = await world.moves.check(room, lastrevid)
            if handled:
                followed.set()
            return handled

    watcher = OutsideEditWatcher(world.registry, world.wiki, world.commits, poll_s=0.01, moves=Recording())
    task = asyncio.create_task(watcher.run())
    try:
        await asyncio.wait_for(followed.wait(), timeout=5)
    finally:
        task.cancel()
    await world.drained()
    assert list(world.registry.rooms) == ["New"]
    assert "REDIRECT" not in world.registry.rooms["New"].current_text()


async def test_a_save_that_meets_the_move_never_merges_the_redirect_and_lands_under_the_new_title(world: World):
    await world.join("a", cookie="alice-cookie")
    await world.type("a", " unsaved")
    world.wiki.move("Page", "New")  # while the save below is on its way: the wiki answers "editconflict"
    with pytest.raises(WikiUnavailable):
        await world.commits.save_now(world.registry.rooms["Page"])
    assert world.registry.rooms["Page"].current_text() == "hello unsaved"
    assert await world.poll("Page") is True
    await world.advance(IDLE)
    assert world.wiki.saves[-1].title == "New" and world.wiki.text("New") == "hello unsaved"
    assert "REDIRECT" not in world.registry.rooms["New"].current_text()
