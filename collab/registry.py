"""Loads each page's room once, keeps it while needed, unloads it when idle and saved.

A page is loaded from the durable log when the log has it (never re-seeded from wikitext: that is how
Yjs deployments duplicate text), else seeded deterministically from the wiki's current revision.
Concurrent first joins of a cold page share one load (STYLE habit 2).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Final

from .room import Base, Origin, PageRoom, PeerOrigin, seed_update
from .store import Store
from .wiki import Revision, Wiki

log = logging.getLogger(__name__)

COMPACT_AFTER_UPDATES = 1000
# Pages forgotten by the log at unload (never changed) whose seed revision is remembered, newest first: a page
# reloaded soon is seeded from the same revision (~100 bytes each).
REMEMBERED_SEEDS: Final = 10_000

RoomHook = Callable[[PageRoom], None]
ChangeHook = Callable[[PageRoom, bytes, Origin], None]


class Registry:
    """The open rooms. Owns persistence of every update (the rooms' first listener)."""

    def __init__(self, store: Store, wiki: Wiki) -> None:
        self.store = store
        self.wiki = wiki
        self.rooms: dict[str, PageRoom] = {}
        self._loading: dict[str, asyncio.Task[PageRoom]] = {}
        self._tails: dict[str, int] = {}
        # Seeded by this process and not changed since: forgotten by the log when they unload.
        self._unchanged: set[str] = set()
        # Seed revision of each page forgotten that way (see _seed_revision).
        self._seeds: OrderedDict[str, int] = OrderedDict()
        self.on_loaded: list[RoomHook] = []  # called once per room, right after it is built
        # Called for every change of every room, in order, right after the change is appended to the log
        # (the relay, the commit policy, the sessions' metrics): persistence always comes first.
        self.on_change: list[ChangeHook] = []

    async def open(self, title: str) -> PageRoom:
        """The room of ``title`` (already normalised), loading it if needed; one load per page.

        Raises:
            WikiUnavailable: a page not in the log cannot be read from the wiki.
        """
        room = self.rooms.get(title)
        if room is not None:
            return room
        task = self._loading.get(title)
        if task is None:
            task = asyncio.create_task(self._load(title), name=f"load {title}")
            self._loading[title] = task
            task.add_done_callback(lambda _t: self._loading.pop(title, None))
        return await asyncio.shield(task)

    async def _load(self, title: str) -> PageRoom:
        stored = await self.store.fetch(title)
        if stored is not None:
            room = PageRoom(title, stored.base, state=stored.base.state)
            with room.doc.transaction():
                for update in stored.updates:
                    room.doc.apply_update(update)
            for author in stored.authors:
                room.contributions.authors.setdefault(author, None)
            if stored.authors:
                room.contributions.changes = max(1, stored.tail_length)
                room.contributions.first_change_at = room.contributions.last_change_at = time.monotonic()
            self._tails[title] = stored.tail_length
            log.info("page %r loaded from the log (%d updates in tail)", title, stored.tail_length)
        else:
            revision = await self._seed_revision(title)
            if title in self.rooms:  # pragma: no cover - the single-flight map makes this impossible
                return self.rooms[title]
            text = revision.text if revision else ""
            revid = revision.revid if revision else None
            base = Base(revid, text, seed_update(title, revid, text), revision.timestamp if revision else None)
            self.store.create(title, base)
            room = PageRoom(title, base)
            self._tails[title] = 0
            self._unchanged.add(title)
            log.info("page %r seeded from revision %s (%d chars)", title, revid, len(text))
        room.listeners.append(lambda update, origin: self._changed(room, update, origin))
        self.rooms[title] = room
        for hook in self.on_loaded:
            hook(room)
        return room

    async def _seed_revision(self, title: str) -> Revision | None:
        """The revision to seed a page the log does not hold: the wiki's latest, unless the log forgot the page
        at its last unload; then the revision it was seeded from, as long as the wiki still has it.

        Why: a browser that had the page open keeps its document while offline and sends it back when it
        rejoins. Seeded from another revision, the page would get a second seed (another Yjs client id) and
        the text twice. Seeded from the same one, the seed is byte-identical; the poller then merges the
        newer revisions on text, as for any page whose base is behind.
        """
        remembered = self._seeds.pop(title, None)
        if remembered is not None:
            revision = await self.wiki.read_revision(title, remembered)
            if revision is not None:
                return revision
        return await self.wiki.read(title)

    def _changed(self, room: PageRoom, update: bytes, origin: Origin) -> None:
        if not isinstance(origin, PeerOrigin):  # (a peer's change was logged by the node where it happened)
            self._persist(room, update, origin)
        for hook in self.on_change:
            hook(room, update, origin)

    def _persist(self, room: PageRoom, update: bytes, origin: Origin) -> None:
        title = room.title
        self._unchanged.discard(title)
        self.store.append(title, update, origin)
        tail = self._tails.get(title, 0) + 1
        if tail == COMPACT_AFTER_UPDATES:
            # Not here: this runs inside the document's transaction, where encoding the full state raises
            # "Already in a transaction" (and the listeners after this one, the relay, would not run).
            asyncio.get_running_loop().call_soon(self._compact, room)
        self._tails[title] = tail

    def _compact(self, room: PageRoom) -> None:
        """Fold the page's tail into its snapshot (the full state holds every update logged so far)."""
        if self.rooms.get(room.title) is not room:
            return  # unloaded meanwhile (unload compacts)
        self.store.compact(room.title, room.full_state())
        self._tails[room.title] = 0

    def persist_authors(self, room: PageRoom) -> None:
        self.store.set_authors(room.title, list(room.contributions.authors))

    def set_base(self, room: PageRoom, base: Base) -> None:
        self._unchanged.discard(room.title)
        room.base = base
        self.store.set_base(room.title, base)

    def rename(self, old: str, new: str) -> PageRoom:
        """The page ``old`` moved to ``new`` on the wiki: its log and its room are ``new``'s from now on.

        Raises:
            MoveRefused: the log cannot follow (nothing changed); see ``Store.rename``.
            KeyError: ``old`` is not loaded, or ``new`` is loaded or loading (the caller checks).
        """
        if new in self.rooms or new in self._loading:
            raise KeyError(new)
        room = self.rooms[old]
        self.store.rename(old, new)
        self._unchanged.discard(old)
        del self.rooms[old]
        room.title = new
        self.rooms[new] = room
        self._tails[new] = self._tails.pop(old, 0)
        log.info("page %r moved to %r", old, new)
        return room

    def unload(self, title: str) -> None:
        """Forget a room (its log stays). The caller checks that it has no editors and nothing unsaved."""
        room = self.rooms.pop(title, None)
        if room is None:
            return
        self._tails.pop(title, None)
        if title in self._unchanged:
            self._unchanged.discard(title)
            # Never changed: the log forgets it, so that titles merely opened (by anyone, any number of them)
            # leave no rows behind. The seed revision is remembered a while (see _seed_revision).
            if self.store.discard(title):
                if room.base.revid is not None:
                    self._seeds[title] = room.base.revid
                    self._seeds.move_to_end(title)
                    while len(self._seeds) > REMEMBERED_SEEDS:
                        self._seeds.popitem(last=False)
                log.info("page %r unloaded (never changed: not kept in the log)", title)
                return
        self.store.compact(title, room.full_state())
        log.info("page %r unloaded", title)
