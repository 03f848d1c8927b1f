"""Commit policy and the save/merge cycle: what the editors write becomes ordinary wiki revisions.

Per page: save after ``commit_idle_s`` of quiet, at least every ``commit_max_s`` while typing goes on,
at once when the last editor leaves, and on shutdown. One save of a page at a time; a change that
arrives during a save schedules the next one. Every save carries ``baserevid``; what the wiki stores is
read back and merged into the live document (MediaWiki may have merged, normalised or expanded text),
so the document converges to the wiki while nothing typed meanwhile is lost.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from . import merge, wikitext
from .errors import EditConflict, SaveRefused, WikiError, WikiUnavailable
from .events import Observer
from .registry import Registry
from .room import Base, PageRoom, ServerOrigin
from .store import RevisionRecord
from .tasks import TaskSet
from .wiki import Revision, Wiki

log = logging.getLogger(__name__)

Notify = Callable[..., Awaitable[None]]  # (title, state, message, **extra)
CHANGE_TAG = "collab-sync"
MAX_CONFLICT_RETRIES = 5
RETRY_MAX_S = 60.0
REFUSED_PAUSE_S = 60.0


class CommitLease(Protocol):
    """Which node may save a page. One node: always this one (:class:`SoleCommitter`); a cluster: the holder
    of the page's lease in Redis (``cluster.ClusterLease``), so exactly one node saves each page."""

    async def acquire(self, title: str) -> bool:
        """Take or keep the page's commit lease; False while another live node holds it."""
        ...

    async def confirm(self, title: str, sent_state: bytes, text: str, baserevid: int | None) -> bool:
        """Right before calling the wiki: whether the lease is still ours (checked atomically; the save about
        to be made is recorded, so a node taking over after a crash can tell whether it landed)."""
        ...

    async def delegate(self, title: str) -> int | None:
        """Ask the node holding the lease to save the page now; the revid it saved (None: nothing new)."""
        ...


class SoleCommitter:
    """The single-node lease: this process always saves."""

    async def acquire(self, title: str) -> bool:
        return True

    async def confirm(self, title: str, sent_state: bytes, text: str, baserevid: int | None) -> bool:
        return True

    async def delegate(self, title: str) -> int | None:  # pragma: no cover - acquire() never refuses
        return None


@dataclass
class PageCommit:
    """Commit bookkeeping of one page."""

    idle: asyncio.TimerHandle | None = None
    deadline: asyncio.TimerHandle | None = None
    in_flight: asyncio.Task[int | None] | None = None
    again: bool = False
    failures: int = 0
    retry: asyncio.TimerHandle | None = None
    refused_at: float | None = None
    unload: asyncio.TimerHandle | None = None
    persisted_authors: int = 0
    last_change: float = 0.0  # event-loop time of the latest change
    saves: int = 0
    outside_merges: int = 0
    conflicts: int = 0
    last_error: str | None = None
    last_saved: dict[str, Any] = field(default_factory=dict)


class CommitManager:
    """Decides when to save each page and runs the save/read-back/merge cycle."""

    def __init__(
        self,
        registry: Registry,
        wiki: Wiki,
        tasks: TaskSet,
        *,
        notify: Notify,
        has_editors: Callable[[str], bool],
        cookie_for: Callable[[str], str | None],
        commit_idle_s: float,
        commit_max_s: float,
        unload_idle_s: float,
        observer: Observer | None = None,
        lease: CommitLease | None = None,
        before_save: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        self.registry = registry
        self.wiki = wiki
        self.tasks = tasks
        # Re-checks the editors' rights right before a save names them (server.CollabServer.recheck).
        self.before_save = before_save
        self.observer = observer or Observer()
        self.lease: CommitLease = lease or SoleCommitter()
        self.notify = notify
        self.has_editors = has_editors
        self.cookie_for = cookie_for
        self.commit_idle_s = commit_idle_s
        self.commit_max_s = commit_max_s
        self.unload_idle_s = unload_idle_s
        self.pages: dict[str, PageCommit] = {}
        self.closing = False
        registry.on_loaded.append(self._loaded)

    def page(self, title: str) -> PageCommit:
        return self.pages.setdefault(title, PageCommit())

    # ---- policy ----------------------------------------------------------------------------------
    def _loaded(self, room: PageRoom) -> None:
        state = self.page(room.title)
        state.persisted_authors = len(room.contributions.authors)
        if room.contributions.authors:  # unsaved work found in the log after a restart
            self.changed(room)

    def changed(self, room: PageRoom) -> None:
        """An editor changed the text: (re)arm the idle timer, arm the deadline if not armed."""
        state = self.page(room.title)
        if len(room.contributions.authors) != state.persisted_authors:
            self.registry.persist_authors(room)
            state.persisted_authors = len(room.contributions.authors)
        loop = asyncio.get_running_loop()
        # The idle timer is not re-armed on every keystroke (a timer per keystroke showed in profiles): it
        # fires as first armed, and re-arms itself for the rest of the quiet period if typing went on.
        state.last_change = loop.time()
        if state.idle is None:
            state.idle = loop.call_later(self.commit_idle_s, self._idle_over, room.title)
        if state.deadline is None:
            state.deadline = loop.call_later(self.commit_max_s, self._due, room.title)

    def _idle_over(self, title: str) -> None:
        state = self.page(title)
        loop = asyncio.get_running_loop()
        quiet_for = loop.time() - state.last_change
        if quiet_for < self.commit_idle_s:
            state.idle = loop.call_later(self.commit_idle_s - quiet_for, self._idle_over, title)
            return
        state.idle = None
        self._due(title)

    def last_left(self, room: PageRoom) -> None:
        """The last editor left: save now, then unload once idle."""
        if self.pending(room):
            self._due(room.title)
        self._arm_unload(room.title)

    def _due(self, title: str) -> None:
        state = self.page(title)
        if state.refused_at is not None and time.monotonic() - state.refused_at < REFUSED_PAUSE_S:
            return  # the wiki refused; the editors were told; an explicit save still goes through
        self.tasks.spawn(self._save_quietly(title), name=f"save {title}")

    async def _save_quietly(self, title: str) -> None:
        room = self.registry.rooms.get(title)
        if room is None:
            return
        if not await self.lease.acquire(title):
            # Another node holds the page's commit lease and saves it. Drop this round's timers; if that
            # node dies, the lease calls changed() here once this node has taken over.
            state = self.page(title)
            for handle in (state.idle, state.deadline):
                if handle is not None:
                    handle.cancel()
            state.idle = state.deadline = None
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
        state.unload = asyncio.get_running_loop().call_later(self.unload_idle_s, self._try_unload, title)

    def _try_unload(self, title: str) -> None:
        room = self.registry.rooms.get(title)
        state = self.page(title)
        state.unload = None
        if room is None or self.has_editors(title):
            return
        if self.pending(room):
            self._arm_unload(title)  # never unload unsaved work; try again later
            return
        self._cancel_timers(state)
        self.registry.unload(title)
        self.pages.pop(title, None)
        self.observer.page_closed(title)

    @staticmethod
    def _cancel_timers(state: PageCommit) -> None:
        for handle in (state.idle, state.deadline, state.retry, state.unload):
            if handle is not None:
                handle.cancel()
        state.idle = state.deadline = state.retry = state.unload = None

    # ---- saving ----------------------------------------------------------------------------------
    async def save_now(self, room: PageRoom) -> int | None:
        """Save the page now (after a save in flight, if any). Returns the new revid or None.

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
        state.in_flight = asyncio.get_running_loop().create_task(self._save(room), name=f"save {room.title}")
        return await asyncio.shield(state.in_flight)

    async def _save(self, room: PageRoom) -> int | None:
        state = self.page(room.title)
        for handle in (state.idle, state.deadline, state.retry):
            if handle is not None:
                handle.cancel()
        state.idle = state.deadline = state.retry = None
        state.again = False
        started = time.monotonic()
        self.observer.save_started(room.title)
        try:
            revid = await self._save_cycle(room, state)
        except WikiUnavailable as exc:
            self.observer.save_finished(room.title, None, time.monotonic() - started, exc.code)
            state.failures += 1
            delay = min(RETRY_MAX_S, 2.0 ** (state.failures - 1))
            state.last_error = exc.message
            log.warning("save of %r failed (%s); retrying in %.0f s", room.title, exc.message, delay)
            await self.notify(
                room.title, "error", f"the wiki is unreachable; retrying in {delay:.0f} s", code="wikiunavailable"
            )
            state.retry = asyncio.get_running_loop().call_later(delay, self._due, room.title)
            raise
        except WikiError as exc:
            self.observer.save_finished(room.title, None, time.monotonic() - started, exc.code)
            state.refused_at = time.monotonic()
            state.last_error = exc.message
            log.warning("the wiki refused to save %r: %s (%s)", room.title, exc.message, exc.code)
            await self.notify(room.title, "error", f"the wiki did not save: {exc.message}", code="saveerror")
            raise
        self.observer.save_finished(room.title, revid, time.monotonic() - started, None)
        state.failures = 0
        state.last_error = None
        if state.again and self.pending(room) and room.contributions.changes:
            self.changed(room)
        return revid

    async def _save_cycle(self, room: PageRoom, state: PageCommit) -> int | None:
        if self.before_save is not None and not self.closing:
            await self.before_save(room.title)  # a user blocked since the last re-check stops here
        await self._expand_signatures(room)
        for _attempt in range(MAX_CONFLICT_RETRIES):
            text = room.current_text()
            if text == room.base.text:
                room.contributions = type(room.contributions)()
                self.registry.persist_authors(room)
                state.persisted_authors = 0
                return None
            if len(text.encode()) > self.wiki.site_info.max_article_bytes:
                raise SaveRefused(
                    f"the text ({len(text.encode())} bytes) is larger than the wiki's limit of "
                    f"{self.wiki.site_info.max_article_bytes} bytes",
                    code="contenttoobig",
                )
            sent_state = room.full_state()
            contributions = room.contributions
            authors = list(contributions.authors)
            sections = wikitext.sections_touched(room.base.text, text)
            summary = wikitext.summary(authors, sections, limit=self.wiki.site_info.max_summary_chars)
            await self.notify(room.title, "saving", "saving to the wiki")
            if not await self.lease.confirm(room.title, sent_state, text, room.base.revid):
                return None  # cluster: this node lost the page's commit lease; the new holder saves
            try:
                revid = await self.wiki.save(
                    room.title, text, baserevid=room.base.revid, summary=summary, tag=CHANGE_TAG
                )
            except EditConflict:
                state.conflicts += 1
                self.observer.conflict(room.title)
                latest = await self.wiki.read(room.title)
                if latest is None:
                    raise SaveRefused("the page has been deleted", code="missingtitle") from None
                await self.merge_outside(room, latest)
                continue
            # Changes typed while the save was in flight stay counted for the next save.
            room.contributions = type(room.contributions)()
            for name in list(contributions.authors):
                if name not in authors:
                    room.contributions.authors.setdefault(name, None)
            saved = await (self.wiki.read_revision(room.title, revid) if revid else self.wiki.read(room.title))
            if saved is None:
                raise SaveRefused("the page has been deleted", code="missingtitle")
            self._reconcile(room, sent_state, text, saved)
            self.registry.persist_authors(room)
            state.persisted_authors = len(room.contributions.authors)
            if revid is None:
                return None
            state.saves += 1
            record = RevisionRecord(revid, saved.timestamp, authors, summary)
            self.registry.store.add_revision(room.title, record)
            state.last_saved = {"revid": revid, "timestamp": saved.timestamp, "coauthors": authors}
            log.info("saved %r as revision %d by %s", room.title, revid, ", ".join(authors) or "-")
            await self.notify(room.title, "saved", f"saved as revision {revid}", revid=revid, coauthors=authors)
            return revid
        raise SaveRefused("the page keeps changing on the wiki; will try again", code="editconflict")

    def _reconcile(self, room: PageRoom, sent_state: bytes, sent_text: str, saved: Revision) -> None:
        """Bring what the wiki stored (merged, normalised, expanded) into the live document."""
        fork_doc = merge.fork_with_text(sent_state, sent_text, saved.text)
        room.merge_fork(fork_doc, merge.wiki_origin(saved))
        self.registry.set_base(room, Base(saved.revid, saved.text, fork_doc.get_update(), saved.timestamp))

    async def merge_outside(self, room: PageRoom, latest: Revision) -> None:
        """Three-way merge of an outside revision: base -> latest replayed onto a fork of the base."""
        if latest.revid == room.base.revid:
            return
        fork_doc = merge.fork_with_text(room.base.state, room.base.text, latest.text)
        room.merge_fork(fork_doc, merge.wiki_origin(latest))
        self.registry.set_base(room, Base(latest.revid, latest.text, fork_doc.get_update(), latest.timestamp))
        self.page(room.title).outside_merges += 1
        self.observer.outside_merged(room.title, latest.revid, latest.user)
        log.info("merged outside revision %d of %r by %s", latest.revid, room.title, latest.user)
        await self.notify(
            room.title,
            "merged",
            f"{latest.user} saved revision {latest.revid} outside this session; merged",
            revid=latest.revid,
            user=latest.user,
        )

    async def check_outside(self, room: PageRoom, lastrevid: int | None) -> None:
        """React to the wiki's latest revision id of a page (from polling or the RC feed)."""
        state = self.page(room.title)
        if state.in_flight is not None and not state.in_flight.done():
            return  # our own save is landing; its read-back handles what the wiki did
        if lastrevid is None:
            if room.base.revid is not None:
                state.last_error = "the page has been deleted on the wiki"
                await self.notify(room.title, "error", state.last_error, code="saveerror")
            return
        if room.base.revid is not None and lastrevid <= room.base.revid:
            return
        if not await self.lease.acquire(room.title):
            return  # cluster: the node holding the page's commit lease merges it (exactly once)
        latest = await self.wiki.read(room.title)
        if latest is not None and (room.base.revid is None or latest.revid > room.base.revid):
            await self.merge_outside(room, latest)

    async def _expand_signatures(self, room: PageRoom) -> None:
        """Replace ``~~~~`` typed in the session by the typist's own signature (not the bot's)."""
        text = room.current_text()
        runs = wikitext.signature_runs(text)
        if not runs:
            return
        owners = merge.signature_owners(room, text, runs)
        if not owners:
            return
        expansions: dict[str, dict[str, str]] = {}
        for user in {u for u in owners.values()}:
            expansions[user] = await self._signatures_of(room.title, user)
        new_text = text
        for (start, end), user in sorted(owners.items(), reverse=True):
            new_text = new_text[:start] + expansions[user][new_text[start:end]] + new_text[end:]
        room.replace_text(new_text, ServerOrigin("signature"))

    async def _signatures_of(self, title: str, user: str) -> dict[str, str]:
        cookie = self.cookie_for(user)
        if cookie:
            try:
                found = await self.wiki.signatures(title, cookie)
            except WikiError as exc:
                log.info("could not ask the wiki for %s's signature: %s", user, exc.message)
                found = None
            if found and user in found["~~~"]:
                return found
        return merge.default_signatures(user)

    # ---- shutdown --------------------------------------------------------------------------------
    async def flush_all(self) -> None:
        """Save every page with unsaved changes (graceful shutdown)."""
        self.closing = True
        for room in list(self.registry.rooms.values()):
            state = self.page(room.title)
            self._cancel_timers(state)
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
            last_revid=saved.get("revid"),
            last_timestamp=saved.get("timestamp"),
            last_coauthors=tuple(saved.get("coauthors", ())),
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
