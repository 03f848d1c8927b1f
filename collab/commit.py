"""Commit policy: when what the editors write becomes ordinary wiki revisions.

Per page: save after ``commit_idle_s`` of quiet, at least every ``commit_max_s`` while typing goes on,
at once when an editor clicks Save or the last editor leaves, and on shutdown. A page not yet on the wiki is
created only by a Save or the last leave, never by the idle or deadline timer while someone edits it (the log
keeps its text meanwhile). One save of a page at a time; a change that
arrives during a save schedules the next one. Every save carries ``baserevid``; what the wiki stores is
read back and merged into the live document (MediaWiki may have merged, normalised or expanded text),
so the document converges to the wiki while nothing typed meanwhile is lost.

The save cycle itself, the settling of a save whose outcome is unknown and outside revisions are in
``saving.py``.

The policy subscribes to the registry's rooms itself, reaches the editors through the small
:class:`Editors` interface, announces through the observer's ``status`` hook, and keeps time through a
:class:`Clock` (tests drive it with a fake one).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any, Protocol

from . import saving as cycle
from .errors import WikiError, WikiUnavailable
from .events import Observer
from .lease import CommitLease, SaveIntent, SoleCommitter
from .protocol import SaveOptions
from .registry import Registry
from .room import ClientOrigin, Origin, PageRoom
from .signatures import Signer
from .tasks import Clock, LoopClock, TaskSet, Timer
from .wiki import CHANGE_TAG, Revision, Wiki

log = logging.getLogger(__name__)

RETRY_MAX_S = 60.0
REFUSED_PAUSE_S = 60.0


class Editors(Protocol):
    """What the commit policy needs to know about the people editing (``session.Sessions``)."""

    def has_editors(self, title: str) -> bool: ...

    def cookie_for(self, user: str) -> str | None:
        """The wiki session of one of ``user``'s connections (to sign as them), if any."""
        ...

    async def recheck(self, title: str | None = None, *, writers_only: bool = False) -> None:
        """Ask the wiki again whether the page's editors may still edit (a blocked user stops here)."""
        ...


@dataclass(frozen=True)
class SaveRequest:
    """An editor clicked Save with these options (their Summary and "minor edit" boxes)."""

    options: SaveOptions
    user: str


@dataclass
class PageCommit:
    """Commit bookkeeping of one page."""

    idle: Timer | None = None
    deadline: Timer | None = None
    in_flight: asyncio.Task[int | None] | None = None
    again: bool = False
    failures: int = 0
    retry: Timer | None = None
    refused_at: float | None = None
    unload: Timer | None = None
    persisted: tuple[str, ...] = ()  # the co-authors the log holds for the page
    last_change: float = 0.0  # clock time of the latest change
    saves: int = 0
    outside_merges: int = 0
    conflicts: int = 0
    last_error: str | None = None
    last_saved: Revision | None = None  # the last revision this node saved (or adopted) of the page
    last_coauthors: tuple[str, ...] = ()
    # The latest Save clicked with options: its summary goes with the next revision that lands (a retry too).
    request: SaveRequest | None = None
    settling: asyncio.Lock = field(default_factory=asyncio.Lock)  # one resolution of a save intent at a time

    def cancel(self, *, unload: bool = False) -> None:
        """Cancel the save timers (and the unload timer too)."""
        for handle in (self.idle, self.deadline, self.retry):
            if handle is not None:
                handle.cancel()
        self.idle = self.deadline = self.retry = None
        if unload and self.unload is not None:
            self.unload.cancel()
            self.unload = None


class CommitManager:
    """Decides when to save each page and runs the save/read-back/merge cycle."""

    def __init__(
        self,
        registry: Registry,
        wiki: Wiki,
        tasks: TaskSet,
        editors: Editors,
        *,
        commit_idle_s: float,
        commit_max_s: float,
        unload_idle_s: float,
        observer: Observer | None = None,
        lease: CommitLease | None = None,
        clock: Clock | None = None,
        change_tag: str = CHANGE_TAG,
    ) -> None:
        self.registry = registry
        self.wiki = wiki
        self.tasks = tasks
        self.editors = editors
        self.observer = observer or Observer()
        self.lease: CommitLease = lease or SoleCommitter()
        self.clock: Clock = clock or LoopClock()
        self.signer = Signer(wiki, editors.cookie_for)
        self.commit_idle_s = commit_idle_s
        self.commit_max_s = commit_max_s
        self.unload_idle_s = unload_idle_s
        self.change_tag = change_tag or None  # "" : no tag
        self.pages: dict[str, PageCommit] = {}
        self.closing = False
        registry.on_loaded.append(self._loaded)
        registry.on_change.append(self._on_change)

    def page(self, title: str) -> PageCommit:
        return self.pages.setdefault(title, PageCommit())

    def _announce(self, title: str, state: str, message: str, **extra: Any) -> None:
        self.observer.status(title, state, message, extra)

    # ---- policy ----------------------------------------------------------------------------------
    def _loaded(self, room: PageRoom) -> None:
        state = self.page(room.title)
        state.persisted = tuple(room.contributions.authors)
        # Unsaved work found in the log after a restart: co-authors on record, or text the base lacks (also
        # with an empty co-author record). A save not settled also leaves the text apart from the base; the
        # save cycle resolves its intent first.
        if room.contributions.authors or room.current_text() != room.base.text:
            self.changed(room)
        # Armed at every load, not only when the last editor leaves: a join abandoned while its page loaded
        # never gets an editor, so nobody would leave it (the timer does nothing while the page has editors).
        self._arm_unload(room.title)

    def _on_change(self, room: PageRoom, update: bytes, origin: Origin) -> None:
        if isinstance(origin, ClientOrigin):  # (wiki changes are never re-committed as someone's work)
            self.changed(room)

    def changed(self, room: PageRoom) -> None:
        """An editor changed the text: (re)arm the idle timer, arm the deadline if not armed."""
        self._persist_authors(room)
        state = self.page(room.title)
        # The idle timer is not re-armed on every keystroke (a timer per keystroke showed in profiles): it
        # fires as first armed, and re-arms itself for the rest of the quiet period if typing went on.
        state.last_change = self.clock.now()
        if state.idle is None:
            state.idle = self.clock.call_later(self.commit_idle_s, self._idle_over, room.title)
        if state.deadline is None:
            state.deadline = self.clock.call_later(self.commit_max_s, self._deadline_over, room.title)

    def _persist_authors(self, room: PageRoom) -> None:
        """Store the page's co-authors if they changed (a restart then credits them; it also resumes the page)."""
        state = self.page(room.title)
        authors = tuple(room.contributions.authors)
        if authors != state.persisted:
            self.registry.persist_authors(room)
            state.persisted = authors

    def _idle_over(self, title: str) -> None:
        state = self.page(title)
        quiet_for = self.clock.now() - state.last_change
        if quiet_for < self.commit_idle_s:
            state.idle = self.clock.call_later(self.commit_idle_s - quiet_for, self._idle_over, title)
            return
        state.idle = None
        self._timer_due(title)

    def _deadline_over(self, title: str) -> None:
        self.page(title).deadline = None  # the next change arms it again if this round saves nothing
        self._timer_due(title)

    def _timer_due(self, title: str) -> None:
        """The idle time or the deadline is over: save, unless that would create the page while it is edited."""
        room = self.registry.rooms.get(title)
        if room is not None and room.base.revid is None and self.editors.has_editors(title):
            # A half-written new page must not go public on a pause: the editors create it with Save or by
            # leaving. Without editors (a page resumed from the log after a restart) nobody is left to do so.
            return
        self._due(title)

    def last_left(self, room: PageRoom) -> None:
        """The last editor left: save now, then unload once idle."""
        if self.pending(room):
            self._due(room.title)
        self._arm_unload(room.title)

    def _due(self, title: str) -> None:
        state = self.page(title)
        if state.refused_at is not None and self.clock.now() - state.refused_at < REFUSED_PAUSE_S:
            return  # the wiki refused; the editors were told; an explicit save still goes through
        self.tasks.spawn(self._save_quietly(title), name=f"save {title}")

    async def _save_quietly(self, title: str) -> None:
        room = self.registry.rooms.get(title)
        if room is None:
            return
        if not await self.lease.acquire(title):
            # Another node holds the page's commit lease and saves it. Drop this round's timers; if that
            # node dies, the lease calls changed() here once this node has taken over.
            self.page(title).cancel()
            return
        try:
            await self.save_now(room)
        except WikiError:
            pass  # already reported to the editors and logged by _save

    def pending(self, room: PageRoom) -> bool:
        """Unsaved changes or a save in flight."""
        state = self.page(room.title)
        busy = state.in_flight is not None and not state.in_flight.done()
        return busy or bool(room.contributions.changes) or room.current_text() != room.base.text

    def _arm_unload(self, title: str) -> None:
        state = self.page(title)
        if state.unload is not None:
            state.unload.cancel()
        state.unload = self.clock.call_later(self.unload_idle_s, self._try_unload, title)

    def _try_unload(self, title: str) -> None:
        room = self.registry.rooms.get(title)
        state = self.page(title)
        state.unload = None
        if room is None or self.editors.has_editors(title):
            return
        if self.pending(room):
            self._arm_unload(title)  # never unload unsaved work; try again later
            return
        state.cancel(unload=True)
        self.registry.unload(title)
        self.pages.pop(title, None)
        self.observer.page_closed(title)

    def saving(self, title: str) -> bool:
        """Whether a save of the page is in flight."""
        state = self.pages.get(title)
        return state is not None and state.in_flight is not None and not state.in_flight.done()

    def rename(self, title: str, new: str) -> None:
        """The page moved on the wiki (``moves.py``; never during a save): its bookkeeping is ``new``'s, and its
        timers, which name the old title, are armed again under the new one."""
        state = self.pages.pop(title, None)
        room = self.registry.rooms.get(new)
        if state is None or room is None:
            return
        state.cancel(unload=True)
        self.pages[new] = state
        if self.pending(room):
            self.changed(room)
        if not self.editors.has_editors(new):
            self._arm_unload(new)

    def forget(self, title: str) -> None:
        """The page was deleted on the wiki (``moves.py``): no timer saves it any more; its log is kept."""
        state = self.pages.pop(title, None)
        if state is not None:
            state.cancel(unload=True)

    # ---- saving ----------------------------------------------------------------------------------
    async def save_now(self, room: PageRoom, options: SaveOptions | None = None, *, user: str = "") -> int | None:
        """Save the page now (after a save in flight, if any). Returns the new revid or None.

        ``options``: the Summary and "minor edit" boxes of ``user``, who clicked Save; the revision carries
        them (``saving.save_cycle`` decides whether it may be minor).

        Raises:
            WikiError: the save failed; the editors have been told, the text is kept.
        """
        if not await self.lease.acquire(room.title):
            # Cluster: another node holds the page's commit lease; it saves (when shutting down, on its own).
            return None if self.closing else await self.lease.delegate(room.title)
        state = self.page(room.title)
        state.refused_at = None
        while state.in_flight is not None and not state.in_flight.done():
            state.again = True
            await asyncio.wait([state.in_flight])
        if options is not None:
            state.request = SaveRequest(options, user)
        state.in_flight = asyncio.get_running_loop().create_task(self._save(room), name=f"save {room.title}")
        return await asyncio.shield(state.in_flight)

    async def _save(self, room: PageRoom) -> int | None:
        state = self.page(room.title)
        state.cancel()
        state.again = False
        started = self.clock.now()
        self.observer.save_started(room.title)
        try:
            revid = await cycle.save_cycle(self, room, state)
        except WikiUnavailable as exc:
            self.observer.save_finished(room.title, None, self.clock.now() - started, exc.code)
            state.failures += 1
            delay = min(RETRY_MAX_S, 2.0 ** (state.failures - 1))
            state.last_error = exc.message
            log.warning("save of %r failed (%s); retrying in %.0f s", room.title, exc.message, delay)
            message = f"{exc.message}; retrying in {delay:.0f} s"
            self._announce(room.title, "error", message, code="wikiunavailable")
            state.retry = self.clock.call_later(delay, self._due, room.title)
            raise
        except WikiError as exc:
            self.observer.save_finished(room.title, None, self.clock.now() - started, exc.code)
            state.refused_at = self.clock.now()
            state.last_error = exc.message
            log.warning("the wiki refused to save %r: %s (%s)", room.title, exc.message, exc.code)
            self._announce(room.title, "error", f"the wiki did not save: {exc.message}", code="saveerror")
            raise
        self.observer.save_finished(room.title, revid, self.clock.now() - started, None)
        state.failures = 0
        state.last_error = None
        if state.again and self.pending(room) and room.contributions.changes:
            self.changed(room)
        return revid

    async def resolve_intent(self, room: PageRoom, *, saving: bool = False) -> None:
        """Settle the page's recorded save, if one is pending (``saving.resolve_intent``).

        Raises:
            WikiUnavailable: the wiki's history cannot be read (the intent stays; the caller retries).
        """
        await cycle.resolve_intent(self, room, saving=saving)

    async def find_landed(self, title: str, intent: SaveIntent) -> Revision | None:
        """The revision in which the wiki stored the save ``intent`` describes, if it landed (``saving``)."""
        return await cycle.find_landed(self, title, intent)

    async def adopt(self, room: PageRoom, intent: SaveIntent, saved: Revision) -> None:
        """A save of ours landed as ``saved`` though its read-back never happened (this process or the node
        that made it died, the read-back failed): finish it exactly as the save would have."""
        await cycle.landed(self, room, intent, saved, record=True)

    async def merge_outside(self, room: PageRoom, latest: Revision) -> None:
        """Three-way merge of an outside revision into the live text (``saving.merge_outside``)."""
        await cycle.merge_outside(self, room, latest)

    async def check_outside(self, room: PageRoom, lastrevid: int | None) -> None:
        """React to the wiki's latest revision id of a page (from polling or the RC feed)."""
        await cycle.check_outside(self, room, lastrevid)

    # ---- shutdown --------------------------------------------------------------------------------
    async def flush_all(self) -> None:
        """Save every page with unsaved changes (graceful shutdown)."""
        self.closing = True
        for room in list(self.registry.rooms.values()):
            self.page(room.title).cancel(unload=True)
            if self.pending(room):
                try:
                    await self.save_now(room)
                except WikiError as exc:
                    log.error("could not save %r at shutdown (%s); it stays in the log", room.title, exc.message)

    # ---- reading (the admin view) ----------------------------------------------------------------
    def describe(self, title: str) -> PageReport:
        """What the admin view shows of a page's commit state (all zeros for a page without bookkeeping).

        Read-only: unlike :meth:`page`, looking creates no bookkeeping.
        """
        state = self.pages.get(title)
        if state is None:
            return PageReport()
        saved = state.last_saved
        return PageReport(
            saving=state.in_flight is not None and not state.in_flight.done(),
            saves=state.saves,
            outside_merges=state.outside_merges,
            conflicts=state.conflicts,
            last_error=state.last_error,
            last_revid=saved.revid if saved else None,
            last_timestamp=saved.timestamp if saved else None,
            last_coauthors=state.last_coauthors,
        )


@dataclass(frozen=True)
class PageReport:
    """A snapshot of one page's commit state, for the admin view (:meth:`CommitManager.describe`)."""

    saving: bool = False  # a save is in flight
    saves: int = 0  # revisions saved since the page was loaded
    outside_merges: int = 0
    conflicts: int = 0
    last_error: str | None = None  # the last save's failure, None once a save succeeds
    last_revid: int | None = None  # the last revision saved since the page was loaded (None: none yet)
    last_timestamp: str | None = None
    last_coauthors: tuple[str, ...] = ()
