"""The commit policy (collab/commit.py) in-process: the fake wiki and a fake clock, no real timers.

When a page is saved (idle, deadline, last leave, explicit, shutdown), what happens when the wiki fails or
refuses, and what the save cycle does with conflicts, read-backs, credits and outside edits. The same
behaviours against the real dev wiki: tests/test_commit.py.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from collab.commit import REFUSED_PAUSE_S, RETRY_MAX_S, CommitManager
from collab.errors import SaveRefused, WikiError, WikiUnavailable
from collab.events import Observer
from collab.lease import SoleCommitter
from collab.protocol import SaveOptions
from collab.registry import Registry
from collab.room import ClientOrigin, PageRoom
from collab.store import SQLiteStore
from collab.tasks import TaskSet
from tests.support.fakewiki import FakeClock, FakeWiki
from tests.support.ydoc import apply_typed

IDLE, MAX, UNLOAD = 5.0, 30.0, 60.0


class Editors:
    """The sessions as the commit policy sees them."""

    def __init__(self) -> None:
        self.present: set[str] = set()
        self.rechecks = 0

    def has_editors(self, title: str) -> bool:
        return title in self.present

    def cookie_for(self, user: str) -> str | None:
        return None

    async def recheck(self, title: str | None = None, *, writers_only: bool = False) -> None:
        self.rechecks += 1


class Statuses(Observer):
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, dict[str, Any]]] = []

    def status(self, title: str, state: str, message: str, extra: dict[str, Any]) -> None:
        self.seen.append((title, state, extra))

    def states(self) -> list[str]:
        return [state for _, state, _ in self.seen]


class Page:
    """A page open in a session: the room, plus typing into it as a named editor would."""

    def __init__(self, world: World, room: PageRoom) -> None:
        self.world, self.room = world, room

    def type(self, user: str, text: str, at: int | None = None) -> None:
        apply_typed(self.room, f"sid-{user}", user, text, at)

    @property
    def text(self) -> str:
        return self.room.current_text()


class World:
    """One server process: its log in ``tmp``; ``wiki`` passed on to a restarted one (:meth:`restart`)."""

    def __init__(self, tmp: Path, wiki: FakeWiki | None = None) -> None:
        self.tmp = tmp
        self.wiki = wiki or FakeWiki()
        self.clock = FakeClock()
        self.tasks = TaskSet()
        self.store = SQLiteStore(tmp)
        self.registry = Registry(self.store, self.wiki)
        self.editors = Editors()
        self.statuses = Statuses()
        self.commits = CommitManager(
            self.registry,
            self.wiki,
            self.tasks,
            self.editors,
            commit_idle_s=IDLE,
            commit_max_s=MAX,
            unload_idle_s=UNLOAD,
            observer=self.statuses,
            clock=self.clock,
            lease=SoleCommitter(self.store),
        )

    async def restart(self) -> World:
        """The process dies (nothing more runs, nothing is saved) and a new one starts on the same log; as
        the service does at start-up, it opens the pages whose log holds unsaved work."""
        await self.tasks.cancel_all()
        self.store.close()
        world = World(self.tmp, self.wiki)
        for title in world.store.pending_titles():
            await world.registry.open(title)
        return world

    async def open(self, title: str, text: str | None = "Intro.\n") -> Page:
        if text is not None and title not in self.wiki.pages:
            self.wiki.edit(title, text, "Creator")
        self.editors.present.add(title)
        return Page(self, await self.registry.open(title))

    async def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass, timer by timer, each save that falls due running to its end before the next
        timer (as it would in real time, where saves take milliseconds and timers seconds)."""
        end = self.clock.now() + seconds
        while (due := self.clock.next_due()) is not None and due <= end:
            self.clock.advance(due - self.clock.now())
            await self.settle()
        self.clock.advance(end - self.clock.now())
        await self.settle()

    async def settle(self) -> None:
        await asyncio.wait_for(self.tasks.idle(), timeout=5)

    def bot_saves(self, title: str) -> list[str]:
        return [r.text for r in self.wiki.pages.get(title, []) if r.user == self.wiki.bot]


@pytest.fixture
async def world(tmp_path: Path):
    worlds = [World(tmp_path)]
    yield worlds[0]
    await worlds[0].tasks.cancel_all()
    worlds[0].store.close()


@pytest.fixture
async def restarts():
    """Worlds made by :meth:`World.restart`, closed after the test."""
    made: list[World] = []
    yield made
    for w in made:
        await w.tasks.cancel_all()
        w.store.close()


async def test_a_pause_shorter_than_the_idle_time_saves_nothing(world: World):
    page = await world.open("Idle")
    page.type("Alice", "One.")
    await world.advance(IDLE - 1)
    assert world.wiki.saves == []


async def test_the_idle_time_after_the_last_keystroke_saves_once(world: World):
    page = await world.open("Idle")
    page.type("Alice", "One.")
    await world.advance(3)
    page.type("Alice", " Two.")  # the quiet period starts again
    await world.advance(IDLE - 1)
    assert world.wiki.saves == []
    await world.advance(1)
    assert world.bot_saves("Idle") == ["Intro.\nOne. Two."]
    assert "Alice" in world.wiki.saves[0].summary


async def test_typing_without_pause_is_saved_at_the_deadline(world: World):
    page = await world.open("Busy")
    for second in range(int(MAX) + 1):
        page.type("Alice", f"{second} ")
        await world.advance(1)
    assert len(world.bot_saves("Busy")) == 1


async def test_the_last_editor_leaving_saves_at_once_and_the_page_unloads_later(world: World):
    page = await world.open("Leave")
    page.type("Bob", "Bye.")
    world.editors.present.discard("Leave")
    world.commits.last_left(page.room)
    await world.settle()
    assert world.bot_saves("Leave") == ["Intro.\nBye."]
    assert "Leave" in world.registry.rooms
    await world.advance(UNLOAD)
    assert "Leave" not in world.registry.rooms


# ---- a page not yet on the wiki (issue 15) ------------------------------------------------------------


async def test_a_new_page_is_not_created_by_the_timers_however_long_the_typing_or_the_pauses(world: World):
    page = await world.open("Draft", text=None)
    assert page.room.base.revid is None
    for burst in range(3):
        for second in range(int(MAX)):  # typing on past the deadline...
            page.type("Alice", f"{burst}.{second} ")
            await world.advance(1)
        await world.advance(10 * MAX)  # ...then pauses far past the idle time
    assert world.wiki.saves == [] and "Draft" not in world.wiki.pages
    assert page.text.startswith("0.0 ")  # kept live (and in the log) meanwhile


async def test_a_new_page_is_created_by_save(world: World):
    page = await world.open("Saved draft", text=None)
    page.type("Alice", "First words.")
    await world.advance(2 * MAX)
    revid = await world.commits.save_now(page.room, SaveOptions("new page"), user="Alice")
    assert revid is not None and world.bot_saves("Saved draft") == ["First words."]
    assert world.wiki.saves[0].summary.startswith("new page")
    page.type("Alice", " More.")  # once it exists, the timers save it as any page
    await world.advance(IDLE)
    assert world.bot_saves("Saved draft") == ["First words.", "First words. More."]


async def test_a_new_page_is_created_when_the_last_editor_leaves(world: World):
    page = await world.open("Left draft", text=None)
    page.type("Alice", "Half.")
    await world.advance(2 * MAX)
    world.editors.present.discard("Left draft")
    world.commits.last_left(page.room)
    await world.settle()
    assert world.bot_saves("Left draft") == ["Half."]


async def test_a_new_page_resumed_after_a_restart_with_nobody_editing_is_created_by_the_idle_timer(
    world: World, restarts: list[World]
):
    # Its editors are gone (their leave happened while the process was down): nobody else would create it.
    page = await world.open("Orphan draft", text=None)
    page.type("Alice", "Kept.")
    restarted = await world.restart()
    restarts.append(restarted)
    await restarted.advance(IDLE)
    assert restarted.bot_saves("Orphan draft") == ["Kept."]


async def test_an_unreachable_wiki_is_retried_with_growing_delays_and_the_page_stays_loaded(world: World):
    page = await world.open("Down")
    page.type("Alice", "Kept.")
    world.wiki.fail_saves = [WikiUnavailable("down")] * 1000
    world.editors.present.discard("Down")
    world.commits.last_left(page.room)
    await world.settle()
    assert len(world.wiki.saves) == 1 and world.statuses.states()[-1] == "error"
    await world.advance(1)  # retry after 1 s
    assert len(world.wiki.saves) == 2
    await world.advance(1)  # the next one waits 2 s
    assert len(world.wiki.saves) == 2
    await world.advance(10 * UNLOAD)  # never unloaded while unsaved; delays capped at a minute
    assert "Down" in world.registry.rooms
    assert 10 <= len(world.wiki.saves) <= 20
    world.wiki.fail_saves.clear()
    await world.advance(RETRY_MAX_S)
    assert world.bot_saves("Down") == ["Intro.\nKept."]
    await world.advance(UNLOAD)
    assert "Down" not in world.registry.rooms


async def test_a_refusal_pauses_the_timers_but_an_explicit_save_goes_through(world: World):
    page = await world.open("Protected")
    page.type("Alice", "Text.")
    world.wiki.fail_saves = [SaveRefused("protected", code="protectedpage")]
    await world.advance(IDLE)
    assert len(world.wiki.saves) == 1 and world.statuses.seen[-1][2]["code"] == "saveerror"
    page.type("Alice", " More.")
    await world.advance(IDLE)
    assert len(world.wiki.saves) == 1  # no loop hammers the wiki
    assert await world.commits.save_now(page.room) is not None
    assert world.wiki.text("Protected") == "Intro.\nText. More."
    page.type("Alice", " After.")
    await world.advance(IDLE)  # the explicit save lifted the pause
    assert world.wiki.text("Protected") == "Intro.\nText. More. After."
    assert REFUSED_PAUSE_S > IDLE


async def test_an_edit_conflict_merges_the_outside_revision_and_saves_both(world: World):
    page = await world.open("Conflict", "First line.\n")
    page.type("Alice", "Alice's line.\n")
    world.wiki.edit("Conflict", "Outside line.\nFirst line.\n")
    revid = await world.commits.save_now(page.room)
    assert revid is not None
    assert world.wiki.text("Conflict") == "Outside line.\nFirst line.\nAlice's line.\n"
    assert page.text == world.wiki.text("Conflict")
    assert "merged" in world.statuses.states() and world.statuses.states()[-1] == "saved"


async def test_what_the_wiki_stored_differently_is_merged_back_into_the_live_text(world: World):
    world.wiki.normalise = lambda text: text.rstrip() + "\n"
    page = await world.open("Trim")
    page.type("Alice", "Trailing spaces   ")
    await world.commits.save_now(page.room)
    assert page.text == "Intro.\nTrailing spaces\n" == world.wiki.text("Trim")


def hold_saves(world: World) -> tuple[asyncio.Event, Any]:
    """Saves wait at the wiki until the returned event is set; also returns the wiki's own ``save``."""
    gate = asyncio.Event()
    original = world.wiki.save

    async def slow_save(*args: Any, **kwargs: Any) -> int | None:
        await gate.wait()
        return await original(*args, **kwargs)

    world.wiki.save = slow_save  # type: ignore[method-assign]
    return gate, original


async def test_text_typed_during_a_save_is_kept_and_credited_in_the_next_one(world: World):
    page = await world.open("During")
    page.type("Alice", "Before.")
    gate, original = hold_saves(world)
    saving = asyncio.ensure_future(world.commits.save_now(page.room))
    for _ in range(20):
        await asyncio.sleep(0)
    page.type("Bob", " During.")
    gate.set()
    await saving
    assert world.wiki.text("During") == "Intro.\nBefore."
    assert page.text == "Intro.\nBefore. During."
    assert list(page.room.contributions.authors) == ["Bob"]
    world.wiki.save = original  # type: ignore[method-assign]
    await world.advance(IDLE)
    assert world.wiki.text("During") == "Intro.\nBefore. During."
    assert "Bob" in world.wiki.saves[-1].summary and "Alice" not in world.wiki.saves[-1].summary


async def test_an_outside_revision_is_merged_three_way_into_unsaved_typing(world: World):
    page = await world.open("Outside", "alpha\nbeta\n")
    page.type("Alice", "gamma\n")
    revision = world.wiki.edit("Outside", "ALPHA\nbeta\n")
    await world.commits.check_outside(page.room, revision.revid)
    assert page.text == "ALPHA\nbeta\ngamma\n"
    assert page.room.base.revid == revision.revid
    assert world.statuses.seen[-1][1:] == ("merged", {"revid": revision.revid, "user": "Outsider"})


async def test_a_save_with_nothing_changed_writes_no_revision(world: World):
    page = await world.open("Same")
    assert await world.commits.save_now(page.room) is None
    assert world.wiki.saves == []


async def test_shutdown_saves_every_page_with_unsaved_work(world: World):
    a, b = await world.open("A"), await world.open("B")
    a.type("Alice", "a")
    b.type("Bob", "b")
    await world.commits.flush_all()
    assert world.bot_saves("A") == ["Intro.\na"] and world.bot_saves("B") == ["Intro.\nb"]


async def test_a_read_back_that_fails_keeps_the_text_and_reports_it(world: World):
    page = await world.open("Readback")
    page.type("Alice", "Saved.")
    world.wiki.fail_reads = [WikiUnavailable("gone during the read-back")]
    with pytest.raises(WikiError):
        await world.commits.save_now(page.room)
    assert page.text == "Intro.\nSaved." and world.statuses.states()[-1] == "error"


async def test_an_outside_revision_holding_the_unsaved_text_plus_a_line_saves_each_piece_once(world: World):
    # Alice left collaborative mode: her textarea held Bob's unsaved text; she added a line and saved.
    page = await world.open("Leave", "Intro.\n")
    page.type("Bob", "Bob's first words.\n")
    revision = world.wiki.edit("Leave", page.text + "Alice's line.\n", user="Alice")
    await world.commits.check_outside(page.room, revision.revid)
    assert page.text == "Intro.\nBob's first words.\nAlice's line.\n"
    page.type("Bob", "Bob keeps typing.\n")
    await world.advance(IDLE)
    saved = world.wiki.text("Leave")
    assert saved == page.text == "Intro.\nBob's first words.\nAlice's line.\nBob keeps typing.\n"
    assert world.wiki.saves[-1].baserevid == revision.revid


async def test_an_outside_revision_made_while_the_session_typed_on_keeps_both_once(world: World):
    page = await world.open("Later", "Intro.\n")
    page.type("Bob", "Bob's words")
    copied = page.text  # what Alice's textarea got
    page.type("Bob", ", and more of them.\n")  # typed after she left, before she saved
    revision = world.wiki.edit("Later", copied + "\nAlice's line.\n", user="Alice")
    await world.commits.check_outside(page.room, revision.revid)
    await world.advance(IDLE)
    saved = world.wiki.text("Later")
    assert saved is not None and saved == page.text
    for piece in ("Intro.", "Bob's words", ", and more of them", "Alice's line"):
        assert saved.count(piece) == 1, (piece, saved)
    assert saved.startswith("Intro.\nBob's words, and more of them")


async def test_an_outside_revision_deleting_what_the_session_deleted_deletes_once(world: World):
    page = await world.open("Delete", "one\ntwo\nthree\nfour\n")
    page.room.replace_text("one\nthree\nfour\n", ClientOrigin("sid-Bob", "Bob"))  # Bob deletes "two"
    revision = world.wiki.edit("Delete", "one\nthree\nfour\nfive\n", user="Alice")  # so did Alice, and more
    await world.commits.check_outside(page.room, revision.revid)
    assert page.text == "one\nthree\nfour\nfive\n"


class Crash(BaseException):
    """The process dies here: nothing after it runs (no bookkeeping, no status)."""


def die_after_the_wiki_accepts(world: World, gate: asyncio.Event | None = None) -> None:
    """The next save reaches the wiki (after ``gate``, if given), which stores it; then the process dies."""
    original = world.wiki.save

    async def save_then_die(*args: Any, **kwargs: Any) -> int | None:
        if gate is not None:
            await gate.wait()
        await original(*args, **kwargs)
        world.wiki.save = original  # type: ignore[method-assign]
        raise Crash

    world.wiki.save = save_then_die  # type: ignore[method-assign]


async def test_a_save_the_wiki_took_right_before_a_crash_is_adopted_once_after_the_restart(
    world: World, restarts: list[World]
):
    page = await world.open("Crash")
    page.type("Alice", "Typed once.")
    die_after_the_wiki_accepts(world)
    with pytest.raises(Crash):
        await world.commits.save_now(page.room)
    assert world.bot_saves("Crash") == ["Intro.\nTyped once."]
    restarted = await world.restart()
    restarts.append(restarted)
    room = restarted.registry.rooms["Crash"]  # resumed: its save was not settled
    await restarted.commits.check_outside(room, restarted.wiki.pages["Crash"][-1].revid)  # the poller sees it
    await restarted.advance(IDLE)
    assert room.current_text() == "Intro.\nTyped once." == restarted.wiki.text("Crash")
    assert restarted.bot_saves("Crash") == ["Intro.\nTyped once."]  # adopted, not saved again
    assert room.base.revid == restarted.wiki.pages["Crash"][-1].revid
    assert "merged" not in restarted.statuses.states()
    assert restarted.commits.describe("Crash").outside_merges == 0
    assert [r.coauthors for r in restarted.store.revisions("Crash")] == [["Alice"]]
    assert await restarted.commits.lease.intent("Crash") is None


async def test_a_save_that_never_reached_the_wiki_is_saved_after_the_restart_crediting_its_authors(
    world: World, restarts: list[World]
):
    page = await world.open("Lost call")
    page.type("Alice", "Typed.")
    original = world.wiki.save

    async def die_before_the_wiki(*args: Any, **kwargs: Any) -> int | None:
        raise Crash

    world.wiki.save = die_before_the_wiki  # type: ignore[method-assign]
    with pytest.raises(Crash):
        await world.commits.save_now(page.room)
    world.wiki.save = original  # type: ignore[method-assign]
    restarted = await world.restart()
    restarts.append(restarted)
    await restarted.advance(IDLE)
    assert restarted.bot_saves("Lost call") == ["Intro.\nTyped."]
    assert "Alice" in restarted.wiki.saves[-1].summary


async def test_an_unmapped_error_on_read_back_is_retried_and_reported_and_causes_no_duplicate(world: World):
    page = await world.open("Read-back")
    page.type("Alice", " Once.")
    world.wiki.fail_reads = [WikiError("a database query error", code="internal_api_error_DBQueryError")]
    with pytest.raises(WikiUnavailable):
        await world.commits.save_now(page.room)
    _title, state, extra = world.statuses.seen[-1]
    assert state == "error" and extra["code"] == "wikiunavailable"
    assert "reading it back failed" in world.commits.describe("Read-back").last_error  # type: ignore[operator]
    revid = world.wiki.pages["Read-back"][-1].revid
    await world.commits.check_outside(page.room, revid)  # the poller sees the bot's revision first
    await world.advance(RETRY_MAX_S)  # and the retry runs
    assert world.bot_saves("Read-back") == ["Intro.\n Once."]
    assert page.text == "Intro.\n Once." and page.room.base.revid == revid
    assert "merged" not in world.statuses.states() and world.statuses.states()[-1] == "saved"


async def test_every_failure_of_a_read_back_is_retried_until_adopted(world: World):
    page = await world.open("Flaky")
    page.type("Bob", "Bob's.")
    world.wiki.fail_reads = [WikiError("odd", code="whatever")] + [WikiUnavailable("down")] * 3
    with pytest.raises(WikiUnavailable):
        await world.commits.save_now(page.room)
    await world.advance(RETRY_MAX_S)
    assert world.bot_saves("Flaky") == ["Intro.\nBob's."]
    assert page.room.base.revid == world.wiki.pages["Flaky"][-1].revid
    assert world.commits.describe("Flaky").last_error is None


async def test_the_wiki_merging_another_edit_into_our_save_is_still_recognised_as_ours(world: World):
    page = await world.open("Merged save", "one\ntwo\nthree\n")
    page.type("Alice", "four\n")
    world.wiki.fail_reads = [WikiUnavailable("down")]
    original = world.wiki.save

    async def merged_by_the_wiki(title: str, text: str, **kwargs: Any) -> int | None:
        world.wiki.save = original  # type: ignore[method-assign]
        outside = world.wiki.edit(title, "ONE\ntwo\nthree\n")  # saved meanwhile; MediaWiki merges it (diff3)
        return await original(title, "ONE" + text[3:], **{**kwargs, "baserevid": outside.revid})

    world.wiki.save = merged_by_the_wiki  # type: ignore[method-assign]
    with pytest.raises(WikiUnavailable):
        await world.commits.save_now(page.room)
    await world.advance(RETRY_MAX_S)
    assert page.text == "ONE\ntwo\nthree\nfour\n" == world.wiki.text("Merged save")
    assert len(world.bot_saves("Merged save")) == 1


async def test_an_author_typing_before_and_during_a_save_is_credited_by_both_saves(world: World):
    page = await world.open("Both parts")
    page.type("Alice", "Before.")
    gate, original = hold_saves(world)
    saving = asyncio.ensure_future(world.commits.save_now(page.room))
    for _ in range(20):
        await asyncio.sleep(0)
    page.type("Alice", " During.")
    gate.set()
    await saving
    world.wiki.save = original  # type: ignore[method-assign]
    assert list(page.room.contributions.authors) == ["Alice"]
    await world.advance(IDLE)
    assert world.bot_saves("Both parts") == ["Intro.\nBefore.", "Intro.\nBefore. During."]
    assert all("Alice" in s.summary for s in world.wiki.saves)


async def test_text_typed_during_a_save_that_crashed_is_credited_after_the_restart(world: World, restarts: list[World]):
    page = await world.open("Crash during")
    page.type("Alice", "Before.")
    gate = asyncio.Event()
    die_after_the_wiki_accepts(world, gate)
    saving = asyncio.ensure_future(world.commits.save_now(page.room))
    for _ in range(20):
        await asyncio.sleep(0)
    page.type("Alice", " During.")
    gate.set()
    with pytest.raises(Crash):
        await saving
    restarted = await world.restart()
    restarts.append(restarted)
    await restarted.advance(IDLE)
    assert restarted.bot_saves("Crash during") == ["Intro.\nBefore.", "Intro.\nBefore. During."]
    assert "Alice" in restarted.wiki.saves[-1].summary


async def test_a_page_with_unsaved_text_but_no_coauthors_on_record_is_resumed_after_a_crash(
    world: World, restarts: list[World]
):
    page = await world.open("No record")
    page.type("Alice", "Unsaved.")
    world.store.set_authors("No record", [])  # (a record lost, as an older version could leave it)
    restarted = await world.restart()
    restarts.append(restarted)
    assert "No record" in restarted.registry.rooms
    await restarted.advance(IDLE)
    assert restarted.bot_saves("No record") == ["Intro.\nUnsaved."]


async def test_a_page_resumed_with_nothing_to_save_is_unloaded(world: World, restarts: list[World]):
    page = await world.open("Saved already")
    page.type("Alice", "Saved.")
    await world.commits.save_now(page.room)
    restarted = await world.restart()
    restarts.append(restarted)
    assert "Saved already" in restarted.registry.rooms  # (its tail says it was open)
    await restarted.advance(UNLOAD)
    assert "Saved already" not in restarted.registry.rooms
    assert len(restarted.bot_saves("Saved already")) == 1


async def test_a_page_loaded_that_never_gets_an_editor_unloads_after_the_idle_time(world: World):
    # A join abandoned while its page loaded: the page is loaded, nobody joined it, nobody will leave it.
    world.wiki.edit("Abandoned", "Intro.\n", "Creator")
    await world.registry.open("Abandoned")
    await world.advance(UNLOAD - 1)
    assert "Abandoned" in world.registry.rooms
    await world.advance(1)
    assert "Abandoned" not in world.registry.rooms and "Abandoned" not in world.commits.pages


async def test_the_unload_timer_armed_at_load_leaves_a_page_with_editors_alone(world: World):
    page = await world.open("Kept")
    await world.advance(2 * UNLOAD)
    assert "Kept" in world.registry.rooms
    world.editors.present.discard("Kept")
    world.commits.last_left(page.room)
    await world.advance(UNLOAD)
    assert "Kept" not in world.registry.rooms


# ---- the editor's summary and "minor edit" (issue 15) ----------------------------------------------
async def test_a_save_carries_the_editors_summary_and_credits_the_others_and_is_not_minor_with_two(world: World):
    page = await world.open("Summary", "== History ==\nOld.\n")
    page.type("Alice", "Alice's line.\n")
    page.type("Bob", "Bob's line.\n")
    await world.commits.save_now(page.room, SaveOptions("Fixed the dates", minor=True), user="Alice")
    [save] = world.wiki.saves
    assert save.summary == "Fixed the dates (collaborative edit by [[User:Alice|Alice]] with [[User:Bob|Bob]])"
    assert not save.minor  # Bob typed too: Alice cannot vouch for his part


async def test_a_minor_save_by_the_only_contributor_is_minor_and_the_next_timer_save_speaks_for_itself(
    world: World,
):
    page = await world.open("Alone")
    page.type("Alice", "Typo fixed.")
    await world.commits.save_now(page.room, SaveOptions("typo", minor=True), user="Alice")
    page.type("Alice", " More.")
    await world.advance(IDLE)
    first, second = world.wiki.saves
    assert first.minor and first.summary == "typo (collaborative edit by [[User:Alice|Alice]])"
    assert not second.minor and second.summary == "Collaborative edit by [[User:Alice|Alice]]"


async def test_someone_who_did_not_type_cannot_mark_the_others_text_minor(world: World):
    page = await world.open("Others")
    page.type("Bob", "Bob's text.")
    await world.commits.save_now(page.room, SaveOptions("", minor=True), user="Alice")
    [save] = world.wiki.saves
    assert not save.minor and save.summary == "Collaborative edit by [[User:Bob|Bob]]"


async def test_the_editors_summary_survives_a_retry_after_the_wiki_did_not_answer(world: World):
    page = await world.open("Retry")
    page.type("Alice", "Text.")
    world.wiki.fail_saves = [WikiUnavailable("down", code="wikiunavailable")]
    with pytest.raises(WikiUnavailable):
        await world.commits.save_now(page.room, SaveOptions("My words"), user="Alice")
    await world.advance(RETRY_MAX_S)
    assert world.wiki.saves[-1].summary.startswith("My words (collaborative edit by")
    assert world.wiki.text("Retry") == "Intro.\nText."
