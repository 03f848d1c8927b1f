"""Page moves and deletions on the wiki while a session is open.

The outside-edit watcher sees a new latest revision (or none) of an open page. Before anything is merged as an
outside edit, :meth:`PageMoves.check` asks where the session's base revision lives now. A move takes a page's
history along, so a base revision under another title means the page moved (the move log says who and why):
the session follows it (:meth:`PageMoves.follow`), and the redirect left at the old title is never merged. No
page any more, no base revision, and a deletion in the wiki's log: the page was deleted, and the session ends
for everyone with a ``removed`` status (code ``deleted``); its text stays in the log and nothing is saved.

Following a move re-keys, with no ``await`` in between, every piece of state named by the title: the log
(``Store.rename``), the room, the relay's audience and queued messages, each connection's joined page and
the commit bookkeeping (docs/architecture.md, *Page moves and deletions*).
"""

from __future__ import annotations

import logging

from .commit import CommitManager
from .errors import MoveRefused
from .events import Observer
from .registry import Registry
from .relay import Relay
from .room import Base, PageRoom
from .session import Sessions
from .wiki import LogEntry, Wiki

log = logging.getLogger(__name__)

KEPT = "your text is kept: copy it from the editor; the server's log keeps it too"


class PageMoves:
    """Notices that an open page was moved or deleted on the wiki, and makes its session follow or end."""

    def __init__(
        self,
        registry: Registry,
        wiki: Wiki,
        sessions: Sessions,
        relay: Relay,
        commits: CommitManager,
        observer: Observer,
    ) -> None:
        self.registry = registry
        self.wiki = wiki
        self.sessions = sessions
        self.relay = relay
        self.commits = commits
        self.observer = observer

    async def check(self, room: PageRoom, lastrevid: int | None) -> bool:
        """Whether the page was moved or deleted, given its title's latest revision id; if so the session has
        followed the move or ended, else (False) a newer revision is an ordinary outside edit.

        Raises:
            WikiError: the wiki could not tell (the next poll asks again).
        """
        base = room.base
        title = room.title
        if base.revid is None or lastrevid == base.revid or self.commits.saving(title):
            return False
        where = await self.wiki.revision_title(base.revid)
        if where == title:
            return False
        if where is None and lastrevid is not None:
            return False  # the base revision was hidden or the page re-created: an outside edit to merge
        kind = "move" if where is not None else "delete"
        entry = await self.wiki.last_log(title, kind)
        if self.registry.rooms.get(title) is not room or room.base.revid != base.revid or self.commits.saving(title):
            return True  # it changed while the wiki was asked (a save started, a leave unloaded it): ask again later
        if where is not None:
            await self.follow(room, where, entry if entry is not None and entry.target == where else None)
            return True
        if entry is None or entry.action != "delete":
            return False  # missing, but the log says nothing of a deletion: commit.check_outside reports it
        by = f" by {entry.user}" + (f" ({entry.comment})" if entry.comment else "")
        await self.end(room, f"the page was deleted on the wiki{by}; nothing more is saved. {KEPT}.")
        return True

    async def follow(self, room: PageRoom, new: str, entry: LogEntry | None) -> None:
        """The page moved to ``new``: the session goes on under ``new`` (every editor gets ``moved``), or ends
        when the log cannot follow (cluster mode; unsaved work of another session of ``new``)."""
        old = room.title
        by = f" by {entry.user}" + (f" ({entry.comment})" if entry.comment else "") if entry is not None else ""
        other = self.registry.rooms.get(new)
        if other is not None and not self.sessions.has_editors(new) and not self.commits.pending(other):
            self._close(new)  # an idle, saved room of the title the page was moved onto: stale, let it go
        try:
            self.registry.rename(old, new)
        except (MoveRefused, KeyError) as exc:
            reason = exc.args[0] if isinstance(exc, MoveRefused) else f"another session of {new!r} is open"
            log.warning("page %r moved to %r, but its session cannot follow: %s", old, new, reason)
            await self.end(room, f"the page was moved to {new}{by}; this session cannot follow ({reason}). {KEPT}.")
            return
        # The ``moved`` status is queued under the old title before the relay's outbox moves: the clients learn
        # the new title after everything queued under the old one, and before anything named ``new``.
        message = f"the page was moved to {new}{by}; the session goes on there"
        self.observer.status(old, "moved", message, {"title": new, "from": old})
        self.relay.rename(old, new)
        self.sessions.rename(old, new)
        self.commits.rename(old, new)
        self.observer.page_closed(old)
        self.observer.page_opened(new)
        # The new title's latest revision is normally the move's null revision: the base text under a new id.
        latest = await self.wiki.read(new)
        if latest is None or latest.revid == room.base.revid or self.commits.saving(new):
            return
        if latest.text == room.base.text:
            self.registry.set_base(room, Base(latest.revid, room.base.text, room.base.state, latest.timestamp))
        else:
            await self.commits.merge_outside(room, latest)  # edited after the move: an ordinary outside edit

    async def end(self, room: PageRoom, message: str) -> None:
        """End the page's session for every editor (``removed``, code ``deleted``) without saving anything: its
        timers are dropped and the room unloaded; the log keeps its text and unsaved co-authors."""
        title = room.title
        self._close(title)
        log.warning("page %r: session ended: %s", title, message)
        for conn in self.sessions.editors(title):
            await self.sessions.remove(conn.sid, title, message, code="deleted")

    def _close(self, title: str) -> None:
        self.commits.forget(title)
        self.registry.unload(title)
        self.observer.page_closed(title)
