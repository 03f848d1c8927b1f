"""The ordered relay: every change, awareness message and page-wide status reaches a page's other
connections in the order it happened, and never before it is durable.

Each page has one outbox; one drain task sends all pages' outboxes in turn. Before a batch leaves, the
drain awaits ``store.durable()`` (which commits the tick's appended updates in one transaction): an update
is never seen by anyone before it is logged, whichever order the room's listeners ran in. A ``merged`` or
``saved`` status never overtakes the change it announces. Consecutive updates of one sender still queued are
merged into one message (``pycrdt.merge_updates``).

When the log refuses writes (``StoreUnavailable``: Redis out of memory or read-only, SQLite disk full), the
updates of the batch are not sent (what is not stored is shown to no one), the page's editors are told (a
``status`` error ``notstored``; messages that are not logged, statuses and awareness, still leave) and the page
is resynchronised once the log stores writes again: every editor gets the server's sync step 1 (it answers
with what the server lacks: changes refused meanwhile) and its full state (what the editor missed).

The relay also knows each page's audience (the connections that joined it) and reaches them through the
:class:`Wire` port, which the Socket.IO adapter implements; nothing here knows Socket.IO.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection
from typing import Any, Protocol

from pycrdt import merge_updates

from . import protocol as p
from .errors import StoreUnavailable
from .events import Observer
from .registry import Registry
from .room import ClientOrigin, Origin, PageRoom
from .tasks import TaskSet

log = logging.getLogger(__name__)

NOT_STORED = (
    "the server cannot store changes now (its log refuses writes): changes are not shared until it can again; "
    "yours stay in your editor and are synchronised then"
)


class Wire(Protocol):
    """How the core reaches its connections (implemented by ``collab.sio.server``)."""

    async def send(self, sid: str, event: str, *args: Any) -> None:
        """Send one event to one connection (after whatever was sent to it before)."""
        ...

    async def broadcast(self, sids: Collection[str], event: str, args: tuple[Any, ...]) -> int:
        """Send one event to each of ``sids``, encoded once; returns how many it was handed to (a connection
        already closing is skipped)."""
        ...

    async def disconnect(self, sid: str, *, close_tcp: bool = False) -> None:
        """End a connection from the server's side (clients do not reconnect after that). ``close_tcp``:
        flush what is queued, then close the TCP connection too, so nothing more it sent is read."""
        ...


# A queued broadcast: event, arguments, sid to skip, when it was queued, and the update it carries (or None).
Outgoing = tuple[str, tuple[Any, ...], str | None, float, bytes | None]
Batch = tuple[str, tuple[Any, ...], str | None, list[float]]


def coalesce(title: str, box: list[Outgoing]) -> list[Batch]:
    """Merge each run of consecutive updates with the same sender into one (one message per run instead of
    one per keystroke when a client sends faster than the relay drains). Order is kept; statuses and other
    messages are never merged or moved."""
    out: list[Batch] = []
    run: list[bytes] = []
    times: list[float] = []
    skip: str | None = None

    def flush() -> None:
        if run:
            update = run[0] if len(run) == 1 else merge_updates(*run)
            out.append((p.EVENT_Y, (title, p.sync_update(update)), skip, list(times)))
            run.clear()
            times.clear()

    for event, args, sid, at, update in box:
        if update is not None and (not run or sid == skip):
            run.append(update)
            times.append(at)
            skip = sid
            continue
        flush()
        if update is not None:
            run.append(update)
            times.append(at)
            skip = sid
        else:
            out.append((event, args, sid, [at]))
    flush()
    return out


class Relay(Observer):
    """Each page's audience and ordered outbox. Subscribes to every room the registry loads.

    As an :class:`Observer` it turns the core's ``status`` announcements (saving, saved, merged, errors)
    into page-wide ``status`` events, in order with the changes they announce.
    """

    def __init__(self, registry: Registry, wire: Wire, tasks: TaskSet, observer: Observer | None = None) -> None:
        self.registry = registry
        self.wire = wire
        self.tasks = tasks
        self.observer = observer or Observer()
        self.audience: dict[str, set[str]] = {}  # title -> sids of the connections that joined it
        self._outbox: dict[str, list[Outgoing]] = {}  # per page, in order; sent by _drain
        self._draining = False
        # A page moved while the drain held its outbox: old title -> new, so that batch still finds its audience.
        self._moved: dict[str, str] = {}
        # While the log refuses writes: the pages to resynchronise once it stores again, and who was told.
        self._stale: dict[str, set[str | None]] = {}  # title -> sids told (None: the whole page)
        registry.on_change.append(self._changed)
        registry.store.on_writable.append(self._writable)

    # ---- audience ----------------------------------------------------------------------------------
    def add(self, title: str, sid: str) -> None:
        self.audience.setdefault(title, set()).add(sid)

    def remove(self, title: str, sid: str) -> None:
        sids = self.audience.get(title)
        if sids is not None:
            sids.discard(sid)
            if not sids:
                del self.audience[title]

    def rename(self, title: str, new: str) -> None:
        """The page moved on the wiki: its audience and its queued messages follow it. What was queued under the
        old title is framed now, with the old title, so it still leaves before anything named ``new`` (the
        ``moved`` status queued just before this call tells the clients to switch)."""
        sids = self.audience.pop(title, None)
        if sids is not None:
            self.audience.setdefault(new, set()).update(sids)
        box = self._outbox.pop(title, None)
        if box:
            framed: list[Outgoing] = [(e, args, skip, times[0], None) for e, args, skip, times in coalesce(title, box)]
            self._outbox[new] = framed + self._outbox.get(new, [])
        if self._draining:
            self._moved[title] = new

    # ---- what is relayed ---------------------------------------------------------------------------
    def _changed(self, room: PageRoom, update: bytes, origin: Origin) -> None:
        skip = origin.sid if isinstance(origin, ClientOrigin) else None
        self._enqueue(room.title, p.EVENT_Y, (), skip, time.perf_counter(), update)  # framed when sent (coalesce)

    def broadcast(self, title: str, msg: bytes, skip_sid: str | None = None) -> None:
        """Send a y-protocol message (awareness; cluster: one from another node) to the page's connections."""
        self._enqueue(title, p.EVENT_Y, (title, msg), skip_sid, time.perf_counter())

    def status(self, title: str, state: str, message: str, extra: dict[str, Any]) -> None:
        payload = {"state": state, "message": message, **extra}
        self._enqueue(title, p.EVENT_STATUS, (title, payload), None, time.perf_counter())

    # ---- when the log refuses writes --------------------------------------------------------------
    def not_stored(self, title: str, sid: str | None = None) -> bool:
        """Something of ``title`` (from ``sid``; None: page-wide) was not stored: the page is resynchronised once
        the log stores writes again. Returns whether to tell them (the first time only, until then)."""
        told = self._stale.setdefault(title, set())
        first = sid not in told and None not in told
        told.add(sid)
        return first

    def _writable(self) -> None:
        """The log stores writes again: every editor of the pages concerned gets the server's sync step 1 (it
        answers with the changes the server refused meanwhile) and the full state (the changes not relayed)."""
        stale, self._stale = self._stale, {}
        now = time.perf_counter()
        for title in stale:
            room = self.registry.rooms.get(title)
            if room is None or not self.audience.get(title):
                continue
            log.info("resynchronising the editors of %r: the log stores writes again", title)
            self._enqueue(title, p.EVENT_Y, (title, p.sync_step1(room.state_vector())), None, now)
            self._enqueue(title, p.EVENT_Y, (title, p.sync_step2(room.full_state())), None, now)

    def _unstored(self, boxes: dict[str, list[Outgoing]], exc: StoreUnavailable) -> dict[str, list[Outgoing]]:
        """The batch minus its updates (not stored: shown to no one), plus a ``notstored`` status for pages
        whose editors were not told yet."""
        now = time.perf_counter()
        kept: dict[str, list[Outgoing]] = {}
        dropped = 0
        for title, box in boxes.items():
            kept[title] = [entry for entry in box if entry[4] is None]
            dropped += len(box) - len(kept[title])
            if self.not_stored(title):
                payload = {"state": "error", "message": NOT_STORED, "code": "notstored"}
                kept[title].append((p.EVENT_STATUS, (title, payload), None, now, None))
        if dropped:
            log.warning("not relaying %d updates of %d pages: %s; the pages are resynchronised once it stores again",
                        dropped, len(boxes), exc.message)  # fmt: skip
        return kept

    # ---- sending -----------------------------------------------------------------------------------
    def _enqueue(
        self, title: str, event: str, args: tuple[Any, ...], skip: str | None, at: float, update: bytes | None = None
    ) -> None:
        """Queue a broadcast to a page's connections. ``update``: the CRDT update ``args`` carries, when it
        may be merged with its neighbours (framed when sent)."""
        box = self._outbox.get(title)
        if box is None:
            self._outbox[title] = box = []
        box.append((event, args, skip, at, update))
        if not self._draining:
            self._draining = True
            self.tasks.spawn(self._drain(), name="relay")

    async def _drain(self) -> None:
        try:
            while self._outbox:
                boxes, self._outbox = self._outbox, {}
                try:
                    await self.registry.store.durable()  # nothing is shown before it is logged
                except StoreUnavailable as exc:
                    boxes = self._unstored(boxes, exc)
                for title, box in boxes.items():
                    for event, args, skip, run in coalesce(title, box):
                        sids = self.audience.get(self._moved.get(title, title), ())
                        targets = [sid for sid in sids if sid != skip] if skip in sids else sids
                        recipients = await self.wire.broadcast(targets, event, args) if targets else 0
                        if event == p.EVENT_Y:
                            for at in run:
                                self.observer.relayed(title, recipients, time.perf_counter() - at)
        finally:
            self._draining = False  # (after an error, the next broadcast starts a new drain)
            self._moved.clear()  # every outbox taken before a move has been sent
