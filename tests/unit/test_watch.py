"""Noticing outside edits (collab/watch.py): open pages polled for their last revision, the wiki's RC feed
waking the poller early, a failed poll not ending the polling. Merging them: tests/unit/test_commit.py."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path

import pytest

from collab.errors import WikiUnavailable
from collab.registry import Registry
from collab.room import PageRoom
from collab.store import SQLiteStore
from collab.tasks import TaskSet
from collab.watch import OutsideEditWatcher
from tests.support.fakewiki import FakeWiki
from tests.support.net import free_port


class FlakyWiki(FakeWiki):
    """Its first ``failures`` answers to ``last_revids`` are errors (``WikiUnavailable``, or ``error``)."""

    failures = 0
    error: Exception | None = None

    async def last_revids(self, titles: list[str]) -> dict[str, int | None]:
        if self.failures:
            self.failures -= 1
            raise self.error or WikiUnavailable("down")
        return await super().last_revids(titles)


class Checks:
    """The commit policy as the watcher sees it: records (title, lastrevid); ``seen`` is set at each call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int | None]] = []
        self.seen = asyncio.Event()

    async def check_outside(self, room: PageRoom, lastrevid: int | None) -> None:
        self.calls.append((room.title, lastrevid))
        self.seen.set()


@pytest.fixture
async def setup(tmp_path: Path):
    wiki = FlakyWiki()
    wiki.edit("Page", "hello")
    wiki.edit("Closed", "not open here")
    store = SQLiteStore(tmp_path)
    registry = Registry(store, wiki)
    await registry.open("Page")
    tasks = TaskSet()
    yield wiki, registry, tasks
    await tasks.cancel_all()
    store.close()


async def test_each_open_page_is_checked_with_the_wikis_last_revision(setup):
    wiki, registry, tasks = setup
    checks = Checks()
    tasks.spawn(OutsideEditWatcher(registry, wiki, checks, poll_s=0.01).run())
    outside = wiki.edit("Page", "hello from outside")
    while ("Page", outside.revid) not in checks.calls:
        checks.seen.clear()
        await asyncio.wait_for(checks.seen.wait(), timeout=5)
    assert {title for title, _ in checks.calls} == {"Page"}  # pages not open here are not asked about


async def test_a_failed_poll_does_not_end_the_polling(setup):
    wiki, registry, tasks = setup
    wiki.failures = 2
    checks = Checks()
    tasks.spawn(OutsideEditWatcher(registry, wiki, checks, poll_s=0.01).run())
    await asyncio.wait_for(checks.seen.wait(), timeout=5)
    assert wiki.failures == 0 and checks.calls[0] == ("Page", 1)


async def test_an_unexpected_error_of_a_poll_or_a_merge_is_logged_and_polling_goes_on(setup, caplog):
    wiki, registry, tasks = setup
    wiki.failures, wiki.error = 1, KeyError("query")  # a bug, or a wiki answer nobody mapped

    class Failing(Checks):
        async def check_outside(self, room: PageRoom, lastrevid: int | None) -> None:
            await super().check_outside(room, lastrevid)
            if len(self.calls) == 1:
                raise RuntimeError("merge bug")

    checks = Failing()
    tasks.spawn(OutsideEditWatcher(registry, wiki, checks, poll_s=0.01).run())
    while len(checks.calls) < 2:
        checks.seen.clear()
        await asyncio.wait_for(checks.seen.wait(), timeout=5)
    failures = [r.getMessage() for r in caplog.records if r.exc_info]
    assert any("polling goes on" in m for m in failures), failures
    assert any("the next poll tries again" in m for m in failures), failures


async def test_the_wikis_feed_naming_an_open_page_wakes_the_poller_at_once(setup):
    wiki, registry, tasks = setup
    checks = Checks()
    watcher = OutsideEditWatcher(registry, wiki, checks, poll_s=3600)
    port = free_port(socket.SOCK_DGRAM)
    await watcher.listen(port)
    try:
        tasks.spawn(watcher.run())
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            for change in (
                b"not json",
                json.dumps({"title": "Closed"}).encode(),
                json.dumps({"title": "Page"}).encode(),
            ):
                sender.sendto(change, ("127.0.0.1", port))
        await asyncio.wait_for(checks.seen.wait(), timeout=5)
        assert checks.calls == [("Page", 1)]
    finally:
        watcher.close()
