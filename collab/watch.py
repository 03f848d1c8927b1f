"""Noticing edits made outside the session: the wiki's RC feed (UDP push) and polling as the safety net."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Protocol

from .errors import WikiError
from .registry import Registry
from .room import PageRoom
from .wiki import Wiki

log = logging.getLogger(__name__)


class OutsideMerger(Protocol):
    """Who reacts to a page's latest revision id (``commit.CommitManager``)."""

    async def check_outside(self, room: PageRoom, lastrevid: int | None) -> None: ...


class MoveWatcher(Protocol):
    """Who tells moves and deletions apart from outside edits (``moves.PageMoves``)."""

    async def check(self, room: PageRoom, lastrevid: int | None) -> bool:
        """Whether the page was moved or deleted (and its session followed or ended)."""
        ...


class OutsideEditWatcher:
    """Polls ``lastrevid`` of every open page; also wakes up on the wiki's ``$wgRCFeeds`` datagrams (edits, and
    log events such as moves and deletions: their ``title`` is the page they happened to)."""

    def __init__(
        self, registry: Registry, wiki: Wiki, merger: OutsideMerger, *, poll_s: float, moves: MoveWatcher | None = None
    ) -> None:
        self.registry = registry
        self.wiki = wiki
        self.merger = merger
        self.moves = moves
        self.poll_s = poll_s
        self._wake = asyncio.Event()
        self._transport: asyncio.DatagramTransport | None = None

    async def run(self) -> None:
        """Poll forever (cancel to stop). Nothing the wiki answers, and no bug in a merge, ends the loop: each
        failure is logged and the next poll tries again."""
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_s)
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                await self.poll()
            except Exception:
                log.exception("polling the wiki for outside edits failed; polling goes on")

    async def poll(self) -> None:
        """One round: the latest revision of every open page, and what each new one means."""
        titles = list(self.registry.rooms)
        if not titles:
            return
        try:
            revids = await self.wiki.last_revids(titles)
        except WikiError as exc:
            log.info("polling the wiki failed: %s", exc.message)
            return
        for title in titles:
            room = self.registry.rooms.get(title)
            if title in revids and room is not None:
                try:
                    # A move leaves a redirect revision at the old title: it must never be merged as an edit.
                    if self.moves is not None and await self.moves.check(room, revids[title]):
                        continue
                    await self.merger.check_outside(room, revids[title])
                except WikiError as exc:
                    log.info("could not merge the outside edit of %r: %s", title, exc.message)
                except Exception:  # one page's failure must not starve the others of their merges
                    log.exception("could not merge the outside edit of %r; the next poll tries again", title)

    async def listen(self, port: int) -> None:
        """Receive the wiki's JSON RC feed on 127.0.0.1:``port``; any change to an open page wakes the poller."""
        loop = asyncio.get_running_loop()
        watcher = self

        class FeedProtocol(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: tuple[str | bytes, int]) -> None:
                try:
                    change = json.loads(data)
                except ValueError:
                    return
                if isinstance(change, dict) and change.get("title") in watcher.registry.rooms:
                    watcher._wake.set()

        transport, _ = await loop.create_datagram_endpoint(FeedProtocol, local_addr=("127.0.0.1", port))
        self._transport = transport
        log.info("listening for the wiki's RC feed on udp://127.0.0.1:%d", port)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
