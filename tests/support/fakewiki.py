"""An in-process wiki implementing the core's port (:class:`collab.wiki.Wiki`), and a fake clock.

For fast unit tests of pure policy (the commit policy, sessions, re-checks, merges, failure paths).
Everything that touches a real wiki is also tested against the dev wiki (tests/test_commit.py and the
end-to-end suites).
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from collab.errors import EditConflict, SaveRefused, WikiError, WikiUnavailable
from collab.wiki import Access, LogEntry, Revision, SiteInfo, User


@dataclass
class SaveCall:
    title: str
    text: str
    baserevid: int | None
    summary: str
    tag: str | None
    minor: bool = False


@dataclass
class FakeWiki:
    """Pages as lists of revisions. ``fail_saves``/``fail_reads``: errors raised by the next calls, in order.
    ``normalise``: what the wiki does to a saved text (MediaWiki strips trailing whitespace, for example).

    Who is who and who may do what (``whoami``, ``access``, ``access_of``): ``sessions`` maps a cookie to
    its logged-in user (any other cookie, or none, is the anonymous user of the client's address);
    ``cannot_edit``/``cannot_read`` map a user name, or ``"*"`` for everyone, to the wiki's reason why not
    (blocked, protected...); ``unreachable`` makes these three raise :class:`WikiUnavailable`. Every such
    question is recorded in ``asked``, in order."""

    bot: str = "CollabBot"
    site_info: SiteInfo = field(default_factory=lambda: SiteInfo("http://wiki.test", 2 * 1024 * 1024, 500, frozenset()))
    api_url: str = "http://wiki.test/w/api.php"
    pages: dict[str, list[Revision]] = field(default_factory=dict)
    saves: list[SaveCall] = field(default_factory=list)
    fail_saves: list[WikiError] = field(default_factory=list)
    fail_reads: list[WikiError] = field(default_factory=list)
    normalise: Callable[[str], str] = lambda text: text
    sessions: dict[str, str] = field(default_factory=dict)
    cannot_edit: dict[str, str] = field(default_factory=dict)
    cannot_read: dict[str, str] = field(default_factory=dict)
    unreachable: bool = False
    asked: list[tuple[str, ...]] = field(default_factory=list)
    log: list[LogEntry] = field(default_factory=list)  # moves and deletions, oldest first
    deleted: dict[str, list[Revision]] = field(default_factory=dict)  # archived histories
    _revids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    # ---- test controls ---------------------------------------------------------------------------
    def edit(self, title: str, text: str, user: str = "Outsider", comment: str = "") -> Revision:
        """A revision saved outside the session (a classic edit)."""
        revision = Revision(next(self._revids), text, f"2026-12-02T10:00:{len(self.saves):02d}Z", user, comment)
        self.pages.setdefault(title, []).append(revision)
        return revision

    def move(self, old: str, new: str, *, redirect: bool = True, user: str = "Mover") -> None:
        """Move a page as MediaWiki does: the history goes along, a null revision (same text) is added to it,
        and a redirect revision is left at the old title (unless ``redirect`` is off)."""
        history = self.pages.pop(old)
        latest = history[-1]
        comment = f"moved [[{old}]] to [[{new}]]"
        history.append(Revision(next(self._revids), latest.text, latest.timestamp, user, comment))
        self.pages[new] = history
        if redirect:
            self.edit(old, f"#REDIRECT [[{new}]]", user)
        action = "move_redir" if redirect else "move"
        self.log.append(LogEntry("move", action, old, user, latest.timestamp, "tidy", target=new))

    def delete(self, title: str, *, user: str = "Deleter") -> None:
        """Delete a page: its history is archived (invisible to revision queries)."""
        self.deleted[title] = self.pages.pop(title)
        self.log.append(LogEntry("delete", "delete", title, user, "2026-12-02T11:00:00Z", "spam"))

    def text(self, title: str) -> str | None:
        history = self.pages.get(title)
        return history[-1].text if history else None

    # ---- the port --------------------------------------------------------------------------------
    @property
    def bot_name(self) -> str:
        return self.bot

    async def read(self, title: str) -> Revision | None:
        if self.fail_reads:
            raise self.fail_reads.pop(0)
        history = self.pages.get(title)
        return history[-1] if history else None

    async def read_revision(self, title: str, revid: int) -> Revision | None:
        if self.fail_reads:
            raise self.fail_reads.pop(0)
        return next((r for r in self.pages.get(title, []) if r.revid == revid), None)

    async def revisions_after(self, title: str, revid: int | None, *, limit: int) -> list[Revision]:
        if self.fail_reads:
            raise self.fail_reads.pop(0)
        newer = [r for r in self.pages.get(title, []) if revid is None or r.revid > revid]
        return newer[:limit]

    async def last_revids(self, titles: list[str]) -> dict[str, int | None]:
        return {t: (self.pages[t][-1].revid if self.pages.get(t) else None) for t in titles}

    async def revision_title(self, revid: int) -> str | None:
        return next((t for t, history in self.pages.items() if any(r.revid == revid for r in history)), None)

    async def last_log(self, title: str, kind: str) -> LogEntry | None:
        return next((e for e in reversed(self.log) if e.kind == kind and e.title == title), None)

    async def save(
        self, title: str, text: str, *, baserevid: int | None, summary: str, tag: str | None, minor: bool = False
    ) -> int | None:
        self.saves.append(SaveCall(title, text, baserevid, summary, tag, minor))
        if self.fail_saves:
            raise self.fail_saves.pop(0)
        history = self.pages.get(title, [])
        latest = history[-1] if history else None
        if latest is None and baserevid is not None:
            raise SaveRefused("The page you specified doesn't exist.", code="missingtitle")  # (nocreate)
        if latest is not None and baserevid != latest.revid:
            raise EditConflict("edit conflict")
        stored = self.normalise(text)
        if latest is not None and latest.text == stored:
            return None  # MediaWiki's "nochange"
        return self.edit(title, stored, self.bot, summary).revid

    async def access(self, title: str, cookie: str | None, *, forwarded_for: str | None = None) -> Access:
        self._ask("access", title, str(cookie), str(forwarded_for))
        user = self.sessions.get(cookie or "")
        return self._access(title, user or forwarded_for or "127.0.0.1", anonymous=user is None)

    async def access_of(self, title: str, user: str) -> Access:
        self._ask("access_of", title, user)
        return self._access(title, user, anonymous=False)

    async def signatures(self, title: str, cookie: str | None) -> dict[str, str] | None:
        return None

    async def whoami(self, cookie: str | None) -> User:
        self._ask("whoami", str(cookie))
        user = self.sessions.get(cookie or "")
        return User(user, False, ("user",)) if user else User("127.0.0.1", True, ())

    # ---- rights ------------------------------------------------------------------------------------
    def _ask(self, *question: str) -> None:
        self.asked.append(question)
        if self.unreachable:
            raise WikiUnavailable("the fake wiki is unreachable")

    def _access(self, title: str, user: str, *, anonymous: bool) -> Access:
        history = self.pages.get(title)
        lastrevid = history[-1].revid if history else None
        no_edit = self.cannot_edit.get(user, self.cannot_edit.get("*"))
        no_read = self.cannot_read.get(user, self.cannot_read.get("*"))
        groups = () if anonymous else ("user",)
        return Access(
            title, bool(history), lastrevid, user, anonymous, groups, no_edit is None, no_edit, no_read is None, no_read
        )


class FakeTimer:
    def __init__(self, clock: FakeClock, at: float, callback: Callable[..., object], args: tuple[Any, ...]) -> None:
        self.at, self.callback, self.args = at, callback, args
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True

    def __lt__(self, other: FakeTimer) -> bool:
        return self.at < other.at


class FakeClock:
    """A clock whose time moves only when a test says so (:meth:`advance`), firing timers in order."""

    def __init__(self) -> None:
        self.time = 1000.0
        self._timers: list[tuple[float, int, FakeTimer]] = []
        self._seq = itertools.count()

    def now(self) -> float:
        return self.time

    def call_later(self, delay_s: float, callback: Callable[..., object], *args: Any) -> FakeTimer:
        timer = FakeTimer(self, self.time + delay_s, callback, args)
        heapq.heappush(self._timers, (timer.at, next(self._seq), timer))
        return timer

    def advance(self, seconds: float) -> None:
        """Move time forward, running every timer that falls due, each at its own time."""
        end = self.time + seconds
        while self._timers and self._timers[0][0] <= end:
            at, _, timer = heapq.heappop(self._timers)
            self.time = max(self.time, at)
            if not timer.cancelled:
                timer.callback(*timer.args)
        self.time = end

    def next_due(self) -> float | None:
        """When the next timer that is still armed falls due."""
        while self._timers and self._timers[0][2].cancelled:
            heapq.heappop(self._timers)
        return self._timers[0][0] if self._timers else None

    def pending(self) -> int:
        return sum(1 for _, _, t in self._timers if not t.cancelled)
