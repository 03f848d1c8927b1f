"""Document updates between nodes: follow the page Streams and apply the other nodes' entries.

Each node logs its editors' updates to the page's Stream (``store``) and shows them to its own editors only
once logged. Every node holding the page reads the Stream (``XREAD BLOCK`` over all its open pages, on one
connection of its own) and applies the other nodes' entries with a :class:`~collab.room.PeerOrigin`, which
its listeners fan out to local editors only: never logged again, never sent back. Nodes never relay a change
they have not applied, so an editor is never shown an update its node's document lacks (which the server's
gap check would refuse). After losing touch with Redis, a node merges every open page back in (resync).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from .. import protocol as p
from ..registry import Registry
from ..room import Contributions, PageRoom, PeerOrigin
from ..tasks import TaskSet
from . import codec
from .keys import id_ge, key, text, title_of
from .store import ClusterStore
from .writer import Backoff

log = logging.getLogger(__name__)

READ_BLOCK_MS = 5_000
READ_COUNT = 1_000

# (title, entry) -> handled by the node: statuses, save requests and answers (awaited: in stream order)
OnMessage = Callable[[str, codec.Status | codec.SaveRequest | codec.SaveAnswer], Awaitable[None]]


def blocking_client(url: str) -> aioredis.Redis:
    """The connection the reader blocks on (its own, with no read timeout shorter than the block)."""
    return aioredis.Redis.from_url(
        url, single_connection_client=True, socket_connect_timeout=5, socket_timeout=READ_BLOCK_MS / 1000 + 10
    )


class Replication:
    """The Stream reader of one node. :meth:`start`, then run :meth:`run` as a task."""

    def __init__(
        self,
        store: ClusterStore,
        registry: Registry,
        tasks: TaskSet,
        *,
        redis: aioredis.Redis,
        blocking: aioredis.Redis,
        node: str,
        name: str,
        on_message: OnMessage,
    ) -> None:
        self.store = store
        self.registry = registry
        self.tasks = tasks
        self.node = node
        self.name = name
        self.on_message = on_message
        self._redis = redis  # to unblock the reader (its own connection is busy blocking)
        self._blocking = blocking
        self._reader_id: int | None = None
        self._reader_version = 0
        self._reading: int | None = None
        self._reader_wake = asyncio.Event()
        self._progress = asyncio.Event()

    async def start(self) -> None:
        """Learn the reader connection's id (to unblock it).

        Raises:
            RedisError, OSError: Redis cannot be reached.
        """
        self._reader_id = await self._blocking.client_id()

    def page_opened(self, room: PageRoom) -> None:
        """Follow the page's Stream too (from the position its load reached), at once."""
        self._reader_version += 1
        self._reader_wake.set()
        if self._reading is not None:
            self.tasks.spawn(self._unblock_reader(), name="wake the stream reader")

    async def caught_up(self, title: str, last: str, timeout_s: float) -> bool:
        """Wait until this node has applied the page's entries up to ``last`` (False: not within the time, or
        the page was unloaded meanwhile)."""
        deadline = time.monotonic() + timeout_s
        while not id_ge(self.store.position(title), last):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or title not in self.registry.rooms:
                return False
            try:
                await asyncio.wait_for(self._progress.wait(), timeout=remaining)
            except TimeoutError:
                return False
        return True

    async def run(self) -> None:
        """Read forever (cancel to stop)."""
        backoff = Backoff()
        while True:
            positions = self.store.positions()
            streams = {key(t, "log"): pos for t, pos in positions.items() if t in self.registry.rooms}
            if not streams:
                self._reader_wake.clear()
                await self._reader_wake.wait()
                continue
            self._reading = self._reader_version
            try:
                result: Any = await self._blocking.xread(streams, count=READ_COUNT, block=READ_BLOCK_MS)  # type: ignore[arg-type]
            except (RedisError, OSError) as exc:
                log.warning("reading the page streams failed (%s); retrying in %.1f s", exc, backoff.delay_s)
                self._reading = None
                await backoff.wait()
                try:
                    self._reader_id = await self._blocking.client_id()
                    await self._resync()
                except (RedisError, OSError) as again:  # still away; the next read retries (and resyncs again)
                    log.debug("Redis is still away: %s", again)
                continue
            finally:
                self._reading = None
            backoff.reset()
            batches = result.items() if isinstance(result, dict) else (result or [])
            for stream_key, entries in batches:
                title = title_of(stream_key)
                for entry_id, fields in entries:
                    await self._apply(title, text(entry_id), fields)
            progress, self._progress = self._progress, asyncio.Event()
            progress.set()

    async def _resync(self) -> None:
        """After losing touch with Redis: merge every open page's snapshot and tail back in (a CRDT merge is
        idempotent: only what this node missed changes, and only that is relayed to its editors)."""
        titles = list(self.store.positions())
        for title in titles:
            reread = await self.store.reread(title)
            room = self.registry.rooms.get(title)
            if reread is None or room is None:
                continue
            updates, last = reread
            for update in updates:
                room.apply_update(update, PeerOrigin("resync"))
            if id_ge(last, self.store.position(title)):
                self.store.advance(title, last)
        log.info("node %s caught up with %d pages after losing touch with Redis", self.name, len(titles))

    async def _unblock_reader(self) -> None:
        """Make the blocked XREAD return so it picks up a newly opened page at once."""
        version = self._reader_version
        for _ in range(200):
            reading = self._reading
            if reading is None or reading >= version or self._reader_id is None:
                return
            try:
                if await self._redis.client_unblock(self._reader_id):
                    return
            except (RedisError, OSError) as exc:
                log.debug("could not wake the stream reader (%s): it wakes within %d ms", exc, READ_BLOCK_MS)
                return
            await asyncio.sleep(0.005)  # the XREAD is still on its way to Redis: try again in a moment

    async def _apply(self, title: str, entry_id: str, fields: dict[bytes, bytes]) -> None:
        room = self.registry.rooms.get(title)
        if room is None:
            return
        self.store.advance(title, entry_id)
        try:
            entry = codec.decode(fields)
        except codec.MalformedEntry:  # a node logs only what it encoded; never let one entry stop the reader
            log.exception("could not read entry %s of %r", entry_id, title)
            return
        if isinstance(entry, codec.SaveAnswer):  # may answer this node's own request
            await self.on_message(title, entry)
            return
        if entry.node == self.node:
            return  # this node's own entry: already applied here
        match entry:
            case codec.Update():
                self._apply_update(room, entry_id, entry)
            case codec.BaseChanged():
                room.base = entry.base
            case codec.AuthorsReset():
                contributions = Contributions()
                for author in entry.authors:
                    contributions.authors.setdefault(author, None)
                if entry.authors:
                    contributions.changes = 1
                    contributions.first_change_at = contributions.last_change_at = time.monotonic()
                room.contributions = contributions
            case codec.Recorded():
                self.store.learn_revision(title, entry.record)
            case codec.Status() | codec.SaveRequest():
                await self.on_message(title, entry)
            case codec.Created():
                pass  # the page's load already brought its base

    def _apply_update(self, room: PageRoom, entry_id: str, entry: codec.Update) -> None:
        try:
            clients = p.check_update(entry.update).starts if entry.author is not None else ()  # whose tildes
            room.apply_update(entry.update, PeerOrigin(entry.node, entry.author), clients)
        except Exception:  # a node logged only validated updates; never let one stop the reader
            log.exception("could not apply entry %s of %r from %s", entry_id, room.title, entry.node)
