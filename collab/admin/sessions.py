"""The session list the admins see: one row per open page session, totals, and the last hour's activity.

Read from the registry (open rooms), the commit manager (:meth:`~collab.commit.CommitManager.describe`), the
store (the last save before this room was loaded) and the editors' connections. The snapshot (the same for
the dashboard, ``GET /api/sessions`` and ``collab sessions``)::

    {"generated_at": <epoch s>, "node": "host:port",
     "totals": {"pages", "editors", "users", "connections", "unsaved_changes", "unsaved_chars", "unsaved_pages",
                "saving",
                "errors", "outside_merges", "conflicts", "edits_last_hour", "saves_last_hour"},
     "history": {"step_s": 60, "start": <epoch s of the first minute>, "edits": [60 ints], "saves": [60 ints]},
     "sessions": [{"title", "node", "links": {"page", "history", "unsaved_diff"},
                   "editors": [{"sid", "user", "readonly", "connected_since", "last_active", "idle_s"}],
                   "unsaved": {"changes", "chars", "oldest_at", "oldest_age_s", "authors"},
                   "saving", "base_revid",
                   "last_save": {"revid", "diff", "timestamp", "coauthors"} | null,
                   "saves", "outside_merges", "conflicts", "last_error"}]}

``unsaved.changes`` counts the updates editors sent (about one per keystroke); ``unsaved.chars`` is what the
dashboard shows: the characters changed since the last revision, measured as the span between the texts'
common prefix and suffix (exact for one edit, an upper bound for edits far apart; linear time, no diff).
Pages are listed while someone edits them or they hold unsaved text: a page everybody left, saved, is
gone from the list at once, not when it is unloaded from memory a while later (``--unload-idle-s``).
"""

from __future__ import annotations

import difflib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import KW_ONLY, InitVar, dataclass, field
from typing import Any, Protocol
from urllib.parse import quote

from ..commit import CommitManager
from ..registry import Registry
from ..room import PageRoom
from ..store import Store
from ..textdiff import common_prefix, common_suffix

log = logging.getLogger(__name__)

HISTORY_MINUTES = 60


# ---- what the admin view needs from the Socket.IO server (structural: adapters do not import each other) ----
class JoinedLike(Protocol):
    """One connection's membership of one page (implemented by session.Joined); admin only reads it."""

    readonly: bool
    joined_at: float
    last_active: float


class ConnectionLike(Protocol):
    """One editor's connection (implemented by session.Connection); admin only reads it."""

    sid: str
    user: str

    @property
    def pages(self) -> Mapping[str, JoinedLike]: ...  # a property: Mapping is read-only, hence covariant


class Editors(Protocol):
    """The editors' connections (implemented by session.Sessions)."""

    @property
    def connections(self) -> Mapping[str, ConnectionLike]: ...

    async def remove(self, sid: str, title: str, reason: str, *, code: str) -> None: ...


# ---- the session list ------------------------------------------------------------------------------------
class RateSeries:
    """Events per wall-clock minute over the last hour (a small ring keyed by minute)."""

    def __init__(self, minutes: int = HISTORY_MINUTES) -> None:
        self.minutes = minutes
        self._counts: dict[int, int] = {}

    def add(self, n: int = 1, now: float | None = None) -> None:
        minute = int((time.time() if now is None else now) // 60)
        self._counts[minute] = self._counts.get(minute, 0) + n
        if len(self._counts) > self.minutes:
            for old in [m for m in self._counts if m <= minute - self.minutes]:
                del self._counts[old]

    def window(self, now: float | None = None) -> tuple[int, list[int]]:
        """(epoch seconds of the first minute, counts of the last ``minutes`` minutes, oldest first)."""
        last = int((time.time() if now is None else now) // 60)
        first = last - self.minutes + 1
        return first * 60, [self._counts.get(m, 0) for m in range(first, last + 1)]


def changed_chars(old: str, new: str) -> int:
    """Characters changed between two texts: the longer side of the span between their common prefix and suffix."""
    start = common_prefix(old, new)
    end = common_suffix(old[start:], new[start:])
    return max(len(old) - start - end, len(new) - start - end)


def unified_diff(title: str, revid: int | None, old: str, new: str) -> str:
    """The unified diff (3 lines of context) from the last revision's text to the live text."""
    lines = difflib.unified_diff(
        old.splitlines(),
        new.splitlines(),
        fromfile=f"{title} (revision {revid})" if revid is not None else f"{title} (not on the wiki yet)",
        tofile=f"{title} (live, unsaved)",
        n=3,
        lineterm="",
    )
    return "\n".join(lines)


def _totals(sessions: list[dict[str, Any]], connections: int, edits: int, saves: int) -> dict[str, int]:
    return {
        "pages": len({s["title"] for s in sessions}),
        "editors": sum(len(s["editors"]) for s in sessions),
        "users": len({e["user"] for s in sessions for e in s["editors"]}),
        "connections": connections,
        "unsaved_changes": sum(s["unsaved"]["changes"] for s in sessions),
        "unsaved_chars": sum(s["unsaved"]["chars"] for s in sessions),
        "unsaved_pages": sum(1 for s in sessions if s["unsaved"]["changes"]),
        "saving": sum(1 for s in sessions if s["saving"]),
        "errors": sum(1 for s in sessions if s["last_error"]),
        "outside_merges": sum(s["outside_merges"] for s in sessions),
        "conflicts": sum(s["conflicts"] for s in sessions),
        "edits_last_hour": edits,
        "saves_last_hour": saves,
    }


@dataclass(eq=False, repr=False)
class SessionView:
    """Builds the snapshot of every open page session from the registry, commit state and connections."""

    registry: Registry
    commits: CommitManager
    store: Store
    editors: Editors
    _: KW_ONLY
    wiki_api: InitVar[str]
    node: str
    index_url: str = field(init=False)  # the wiki's index.php: page, history and diff links
    edits: RateSeries = field(init=False, default_factory=RateSeries)
    saves: RateSeries = field(init=False, default_factory=RateSeries)
    # Cluster mode: the session rows other nodes published (their editors, their pages).
    peer_rows: Callable[[], Awaitable[list[dict[str, Any]]]] | None = field(init=False, default=None)

    def __post_init__(self, wiki_api: str) -> None:
        self.index_url = wiki_api[: -len("api.php")] + "index.php" if wiki_api.endswith("api.php") else wiki_api

    def page_url(self, title: str, **params: str) -> str:
        query = "&".join(f"{k}={quote(v)}" for k, v in params.items())
        return f"{self.index_url}?title={quote(title.replace(' ', '_'), safe='/:')}" + (f"&{query}" if query else "")

    def diff_url(self, revid: int) -> str:
        return f"{self.index_url}?diff={revid}"

    def snapshot(self) -> dict[str, Any]:
        now, mono = time.time(), time.monotonic()
        by_title: dict[str, list[dict[str, Any]]] = {}
        connections = self.editors.connections
        for conn in connections.values():
            for title, joined in conn.pages.items():
                by_title.setdefault(title, []).append(
                    {
                        "sid": conn.sid,
                        "user": conn.user,
                        "readonly": joined.readonly,
                        "connected_since": round(joined.joined_at, 3),
                        "last_active": round(joined.last_active, 3),
                        "idle_s": round(max(0.0, now - joined.last_active), 1),
                    }
                )
        sessions = [
            self._row(room, sorted(by_title.get(title, []), key=lambda e: (e["user"], e["connected_since"])), now, mono)
            for title, room in sorted(self.registry.rooms.items())
            if title in by_title or self.commits.pending(room)  # left and saved: waits to unload, nothing to do
        ]
        start, edits = self.edits.window(now)
        _, saves = self.saves.window(now)
        return {
            "generated_at": round(now, 3),
            "node": self.node,
            "totals": _totals(sessions, len(connections), sum(edits), sum(saves)),
            "history": {"step_s": 60, "start": start, "edits": edits, "saves": saves},
            "sessions": sessions,
        }

    def unsaved_text(self, title: str) -> tuple[int | None, str, str] | None:
        """(the last revision's id, its text, the live text) of an open page on this node; None if not open."""
        room = self.registry.rooms.get(title)
        if room is None:
            return None
        return room.base.revid, room.base.text, room.current_text()

    async def full_snapshot(self) -> dict[str, Any]:
        """The snapshot with every node's sessions (cluster mode), totals over all of them."""
        snap = self.snapshot()
        if self.peer_rows is not None:
            try:
                others = await self.peer_rows()
            except Exception:  # Redis unreachable: show this node's sessions, say why in the log
                log.warning("cannot read the other nodes' sessions", exc_info=True)
                others = []
            sessions = sorted([*snap["sessions"], *others], key=lambda row: (row["title"], row["node"]))
            totals = snap["totals"]
            snap["totals"] = _totals(
                sessions, totals["connections"], totals["edits_last_hour"], totals["saves_last_hour"]
            )
            snap["sessions"] = sessions
        return snap

    def _row(self, room: PageRoom, editors: list[dict[str, Any]], now: float, mono: float) -> dict[str, Any]:
        title = room.title
        report = self.commits.describe(title)
        contributions = room.contributions
        oldest_at = None
        if contributions.changes and contributions.first_change_at is not None:
            oldest_at = now - (mono - contributions.first_change_at)  # monotonic -> wall clock
        last_save: dict[str, Any] | None = None
        if report.last_revid is not None:
            last_save = {
                "revid": report.last_revid,
                "timestamp": report.last_timestamp,
                "coauthors": list(report.last_coauthors),
            }
        else:  # nothing saved since this room was loaded: the last save recorded in the log, if any
            records = self.store.revisions(title)
            if records:
                last_save = {"revid": records[0].revid, "timestamp": records[0].timestamp}
                last_save["coauthors"] = list(records[0].coauthors)
        if last_save is not None:
            last_save["diff"] = self.diff_url(int(last_save["revid"]))
        return {
            "title": title,
            "node": self.node,
            "links": {
                "page": self.page_url(title),
                "history": self.page_url(title, action="history"),
                "unsaved_diff": f"/admin/diff?title={quote(title)}",  # on this collab server (the node's own)
            },
            "editors": editors,
            "unsaved": {
                "changes": contributions.changes,
                "chars": changed_chars(room.base.text, room.current_text()),
                "oldest_at": None if oldest_at is None else round(oldest_at, 3),
                "oldest_age_s": None if oldest_at is None else round(max(0.0, now - oldest_at), 1),
                "authors": list(contributions.authors),
            },
            "saving": report.saving,
            "base_revid": room.base.revid,
            "last_save": last_save,
            "saves": report.saves,
            "outside_merges": report.outside_merges,
            "conflicts": report.conflicts,
            "last_error": report.last_error,
        }
