"""The wiki port: what the core needs from a wiki, and the values it speaks in.

Standard library only. :class:`collab.mediawiki.MediaWiki` implements :class:`Wiki` over the Action API;
``tests/fakewiki.py`` implements it in memory for fast tests of the commit policy and merges.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Protocol

CHANGE_TAG: Final = "collab-sync"
"""The change tag on every revision the server saves when the wiki defines it (Special:Tags; the dev wiki
does, docs/wiki-integration.md): recent changes and histories can then tell collaborative saves apart."""


@dataclass(frozen=True)
class Revision:
    revid: int
    text: str
    timestamp: str
    user: str
    comment: str = ""


@dataclass(frozen=True)
class LogEntry:
    """The latest entry of one kind in the wiki's log about a page (``list=logevents``): a move or a deletion."""

    kind: str  # "move" or "delete"
    action: str  # move: "move" or "move_redir"; delete: "delete", "restore", "revision", ...
    title: str  # the page the entry is about (a move's old title)
    user: str
    timestamp: str
    comment: str = ""
    target: str | None = None  # a move's new title


@dataclass(frozen=True)
class Access:
    """What the wiki says about one user and one page (one request, with the user's own session)."""

    title: str  # normalised by the wiki
    exists: bool
    lastrevid: int | None
    user: str
    anonymous: bool
    groups: tuple[str, ...]
    can_edit: bool
    reason: str | None  # why not, in the wiki's words
    can_read: bool = True
    read_reason: str | None = None


@dataclass(frozen=True)
class User:
    """Who a wiki session is (``anonymous`` when the cookie is missing, invalid or expired)."""

    name: str
    anonymous: bool
    groups: tuple[str, ...]


@dataclass(frozen=True)
class SiteInfo:
    server: str  # e.g. http://127.0.0.1:8181
    max_article_bytes: int
    max_summary_chars: int
    tags: frozenset[str]


class Wiki(Protocol):
    """A wiki, as the core sees it. Every method raises :class:`collab.errors.WikiError` subclasses only:
    ``WikiUnavailable`` (try again later), ``EditConflict``, ``SaveRefused``, ``InvalidTitle``."""

    api_url: str
    site_info: SiteInfo

    @property
    def bot_name(self) -> str:
        """The user name the bot's revisions carry (how the server recognises its own saves)."""
        ...

    async def read(self, title: str) -> Revision | None:
        """The page's latest revision; None when the page does not exist."""
        ...

    async def read_revision(self, title: str, revid: int) -> Revision | None:
        """One revision of the page; None when it does not exist (deleted)."""
        ...

    async def revisions_after(self, title: str, revid: int | None, *, limit: int) -> list[Revision]:
        """The page's first ``limit`` revisions newer than ``revid`` (all of them for None), oldest first;
        empty when the page does not exist."""
        ...

    async def last_revids(self, titles: list[str]) -> dict[str, int | None]:
        """The latest revision id of each page (None: missing), by title as given."""
        ...

    async def revision_title(self, revid: int) -> str | None:
        """The title of the page revision ``revid`` belongs to now (a move takes the history along); None when
        the revision does not exist or is deleted."""
        ...

    async def last_log(self, title: str, kind: str) -> LogEntry | None:
        """The newest entry of ``kind`` (``move``, ``delete``) in the wiki's log about ``title``, if any."""
        ...

    async def save(
        self, title: str, text: str, *, baserevid: int | None, summary: str, tag: str | None, minor: bool = False
    ) -> int | None:
        """Save ``text`` as the bot on top of ``baserevid``, marked minor or not; the new revid, or None when
        nothing changed."""
        ...

    async def access(self, title: str, cookie: str | None, *, forwarded_for: str | None = None) -> Access:
        """What the wiki session behind ``cookie`` may do on ``title`` (asked with that session)."""
        ...

    async def access_of(self, title: str, user: str) -> Access:
        """What the named ``user`` may do on ``title`` (asked as the bot; for tokens and re-checks)."""
        ...

    async def signatures(self, title: str, cookie: str | None) -> dict[str, str] | None:
        """``~~~``, ``~~~~`` and ``~~~~~`` expanded by the wiki for the session behind ``cookie``."""
        ...

    async def whoami(self, cookie: str | None) -> User:
        """Who the wiki session behind ``cookie`` is."""
        ...
