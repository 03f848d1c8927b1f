"""The durable update log: the :class:`Store` protocol, and its SQLite implementation (embedded, one file).

Cluster mode implements the same protocol on Redis (``redis_store.RedisStore``): a Stream per page.

Invariant: an update is in the log before any other client sees it (the room's first listener appends
it; the relay awaits ``durable()`` before it sends anything). A page's log is a snapshot plus a tail of
updates; ``compact`` folds the tail into the snapshot so the log does not grow without bound. WAL mode with
``synchronous=NORMAL`` survives a killed process (every committed row is in the OS's hands); power loss
may lose the last few milliseconds, the documented trade-off (``synchronous=FULL`` would fsync each row).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sqlite3
import stat
import threading
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from .errors import MoveRefused, StoreUnavailable
from .lease import SaveIntent
from .room import Base, Origin

log = logging.getLogger(__name__)

CHECKPOINT_AFTER_ROWS = 1000  # appended rows between two WAL checkpoints
RETRY_S = 1.0  # while commits fail: at most one retry per this many seconds from accepting_writes()

_SCHEMA = """
CREATE TABLE IF NOT EXISTS pages (
    title TEXT PRIMARY KEY,
    snapshot BLOB,
    base_revid INTEGER,
    base_text TEXT NOT NULL,
    base_state BLOB NOT NULL,
    base_timestamp TEXT,
    authors TEXT NOT NULL DEFAULT '[]',
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS updates (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    title TEXT NOT NULL,
    data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS updates_title ON updates (title, seq);
CREATE TABLE IF NOT EXISTS revisions (
    title TEXT NOT NULL,
    revid INTEGER NOT NULL,
    timestamp TEXT,
    coauthors TEXT NOT NULL,
    summary TEXT NOT NULL,
    PRIMARY KEY (title, revid)
);
CREATE TABLE IF NOT EXISTS intents (
    title TEXT PRIMARY KEY,
    state BLOB NOT NULL,
    text TEXT NOT NULL,
    baserevid INTEGER,
    authors TEXT NOT NULL,
    summary TEXT NOT NULL,
    recorded_at REAL NOT NULL
);
"""


@dataclass(frozen=True)
class StoredPage:
    """What the log holds for a page: its base, snapshot and tail, and the unsaved contributors."""

    base: Base
    updates: list[bytes]  # snapshot first (if any), then the tail, in order
    authors: list[str]
    tail_length: int


@dataclass(frozen=True)
class RevisionRecord:
    revid: int
    timestamp: str | None
    coauthors: list[str]
    summary: str


class Store(Protocol):
    """The durable page log the registry, the commit policy and the admin view use (STYLE habit 8).

    Writes are plain calls, in order: SQLite commits each before returning; Redis queues them, in order,
    and :meth:`durable` waits until everything queued so far is stored. The relay awaits ``durable()``
    before showing anything to anyone, so an update is never seen before it is in the log.

    A write the log refuses (disk full; Redis out of memory or read-only) is a failure: it is kept, in order, and
    tried again, ``durable()`` raises meanwhile, ``accepting_writes()`` is False (clients' updates are refused)
    and the ``on_writable`` hooks run once writes go through again (the relay resynchronises the pages).
    """

    on_writable: list[Callable[[], None]]

    async def fetch(self, title: str) -> StoredPage | None:
        """The page as the log holds it, or None: then the caller seeds it and calls :meth:`create`."""
        ...

    async def durable(self) -> None:
        """Return once every write made so far is stored.

        Raises:
            StoreUnavailable: the log refuses writes now; they are kept and tried again.
        """
        ...

    def accepting_writes(self) -> bool:
        """False while the log refuses writes (cheap: no round trip; may retry the refused writes)."""
        ...

    def create(self, title: str, base: Base) -> None: ...
    def append(self, title: str, update: bytes, origin: Origin | None = None) -> None: ...
    def compact(self, title: str, full_state: bytes) -> None: ...
    def discard(self, title: str) -> bool:
        """Forget a page whose log holds its seed and nothing else (loaded, never changed): titles that were
        only looked at leave no permanent rows. Returns whether it was forgotten (a page with any update,
        unsaved author or other content is kept)."""
        ...

    def set_base(self, title: str, base: Base) -> None: ...
    def set_authors(self, title: str, authors: list[str]) -> None: ...
    def rename(self, old: str, new: str) -> None:
        """The page moved on the wiki: its log (snapshot, tail, base, unsaved authors, revision records) is the
        log of ``new`` from now on. Raises :class:`~collab.errors.MoveRefused` when it cannot follow."""
        ...

    def pending_titles(self) -> list[str]: ...
    def add_revision(self, title: str, record: RevisionRecord) -> None: ...
    def revisions(self, title: str) -> list[RevisionRecord]: ...
    def writable(self) -> bool: ...
    def close(self) -> None: ...


DIR_MODE = 0o700
FILE_MODE = 0o600
DB_NAME = "collab.sqlite3"


def secure_data_dir(data_dir: Path) -> list[str]:
    """Make ``data_dir`` (created if missing) 0700 and the database's files 0600: the log holds the text of
    pages the wiki may protect from reading. Returns what had to be tightened, for a warning.

    SQLite creates the WAL and shared-memory files with the database file's mode, so the database file is
    created 0600 before SQLite opens it. A mode that cannot be changed (another owner) is reported, not fatal.
    """
    fixed: list[str] = []
    existed = data_dir.is_dir()
    data_dir.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    db = data_dir / DB_NAME
    if not db.exists():
        os.close(os.open(db, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    for path, mode in (
        (data_dir, DIR_MODE),
        (db, FILE_MODE),
        (data_dir / f"{DB_NAME}-wal", FILE_MODE),
        (data_dir / f"{DB_NAME}-shm", FILE_MODE),
    ):
        try:
            current = stat.S_IMODE(path.stat().st_mode)
        except FileNotFoundError:
            continue
        if not current & ~mode:
            continue
        try:  # a bit beyond the owner's: tighten it (mkdir applies the umask to its mode, so check anyway)
            path.chmod(mode)
        except PermissionError as exc:
            fixed.append(f"{path} is {current:04o} and cannot be changed: {exc.strerror}")
            continue
        if existed or path != data_dir:
            fixed.append(f"{path} was {current:04o}, now {mode:04o}")
    return fixed


class SQLiteStore:
    """SQLite-backed page log. Synchronous by design: each call is a short local write.

    Appends made in one event-loop tick are committed together, in one transaction, at the end of the
    tick or at the relay's :meth:`durable`, whichever comes first (a commit costs ~50 us of write calls
    however few rows it holds). Waiting longer to batch more (group commit every 2 ms) was measured: no
    CPU saved in ``fanout``, and the median relay latency grew by 1-2 ms. Every other call commits queued
    appends first, so the log's order is the order of the calls.
    """

    def __init__(self, data_dir: Path) -> None:
        for problem in secure_data_dir(data_dir):
            log.warning("data directory too open: %s (it holds the text of read-protected pages)", problem)
        self.path = data_dir / DB_NAME
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        # Checkpoints (which fsync) run in a thread (_checkpoint), never on the event loop in a commit.
        self._db.execute("PRAGMA wal_autocheckpoint=0")
        self._db.executescript(_SCHEMA)
        self._queued: list[tuple[str, bytes]] = []
        self._flush_soon: asyncio.Handle | None = None
        self._since_checkpoint = 0
        self._checkpointing = False
        self._failing = False  # the last commit of queued appends failed (they are still queued)
        self._retry_at = 0.0
        self.on_writable: list[Callable[[], None]] = []

    def flush(self) -> None:
        """Commit the queued appends (one transaction).

        Raises:
            sqlite3.Error: the commit failed; the appends stay queued, in order, for the next try.
        """
        if self._flush_soon is not None:
            self._flush_soon.cancel()
            self._flush_soon = None
        if not self._queued:
            return
        queued, self._queued = self._queued, []
        try:
            with self._transaction():
                self._db.executemany("INSERT INTO updates (title, data) VALUES (?, ?)", queued)
        except sqlite3.Error as exc:
            self._queued[:0] = queued  # kept, in order, for the next try
            if not self._failing:
                log.warning("SQLite does not store writes (%s); %d updates wait, tried again", exc, len(self._queued))
            self._failing = True
            raise
        if self._failing:
            self._failing = False
            log.warning("SQLite stores writes again (%d updates waited)", len(queued))
            for hook in self.on_writable:
                hook()
        self._since_checkpoint += len(queued)
        if self._since_checkpoint >= CHECKPOINT_AFTER_ROWS and not self._checkpointing:
            self._since_checkpoint = 0
            self._checkpointing = True
            threading.Thread(target=self._checkpoint, name="sqlite checkpoint", daemon=True).start()

    def _checkpoint(self) -> None:
        """Copy the WAL into the database file (fsync included) on a connection of this thread's own."""
        try:
            with closing(sqlite3.connect(self.path, isolation_level=None)) as db:
                db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error as exc:  # the next one tries again; the WAL keeps everything meanwhile
            log.warning("SQLite checkpoint failed: %s", exc)
        finally:
            self._checkpointing = False

    def close(self) -> None:
        self.flush()
        self._db.close()

    def writable(self) -> bool:
        """Whether a write goes through (for /readyz)."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("ROLLBACK")
        except sqlite3.Error:
            return False
        return True

    def load(self, title: str) -> StoredPage | None:
        self.flush()
        row = self._db.execute(
            "SELECT snapshot, base_revid, base_text, base_state, base_timestamp, authors FROM pages WHERE title = ?",
            (title,),
        ).fetchone()
        if row is None:
            return None
        snapshot, revid, text, state, timestamp, authors = row
        tail = [r[0] for r in self._db.execute("SELECT data FROM updates WHERE title = ? ORDER BY seq", (title,))]
        updates = ([snapshot] if snapshot is not None else []) + tail
        return StoredPage(Base(revid, text, state, timestamp), updates, json.loads(authors), len(tail))

    async def fetch(self, title: str) -> StoredPage | None:
        return self.load(title)

    async def durable(self) -> None:
        """Commit the appends of this tick now (the caller is about to show them to someone).

        Raises:
            StoreUnavailable: the commit failed (the appends stay queued and are tried again).
        """
        try:
            self.flush()
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"SQLite does not store writes now ({exc})") from exc

    def accepting_writes(self) -> bool:
        """False while queued appends cannot be committed; retries the commit (at most once per ``RETRY_S``)."""
        if self._failing and time.monotonic() >= self._retry_at:
            self._retry_at = time.monotonic() + RETRY_S
            try:
                self.flush()
            except sqlite3.Error:  # (logged by flush when the failures began; still failing)
                return False
        return not self._failing

    def create(self, title: str, base: Base) -> None:
        """Record a freshly seeded page (its base state is also its first snapshot)."""
        self.flush()
        self._db.execute(
            "INSERT INTO pages (title, snapshot, base_revid, base_text, base_state, base_timestamp, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (title, base.state, base.revid, base.text, base.state, base.timestamp, time.time()),
        )

    def append(self, title: str, update: bytes, origin: Origin | None = None) -> None:
        """Append one update to the page's log (committed by the end of this tick; one node: who is not kept)."""
        self._queued.append((title, update))
        if self._flush_soon is not None:
            return
        try:
            self._flush_soon = asyncio.get_running_loop().call_soon(self.flush)
        except RuntimeError:  # no event loop (tools, tests): commit now
            self.flush()

    def compact(self, title: str, full_state: bytes) -> None:
        """Replace the snapshot and the whole tail by ``full_state`` (atomically)."""
        self.flush()
        with self._transaction():
            self._db.execute(
                "UPDATE pages SET snapshot = ?, updated_at = ? WHERE title = ?",
                (full_state, time.time(), title),
            )
            self._db.execute("DELETE FROM updates WHERE title = ?", (title,))

    def discard(self, title: str) -> bool:
        """Delete the page's row if it is exactly as :meth:`create` wrote it (no tail, no authors, the snapshot
        is the base); its revision records, if any, stay."""
        self.flush()
        with self._transaction():
            gone = self._db.execute(
                "DELETE FROM pages WHERE title = ? AND authors = '[]' AND snapshot = base_state"
                " AND NOT EXISTS (SELECT 1 FROM updates WHERE title = ?)",
                (title, title),
            ).rowcount
        return bool(gone)

    def set_base(self, title: str, base: Base) -> None:
        self.flush()
        self._db.execute(
            "UPDATE pages SET base_revid = ?, base_text = ?, base_state = ?, base_timestamp = ?, updated_at = ?"
            " WHERE title = ?",
            (base.revid, base.text, base.state, base.timestamp, time.time(), title),
        )

    def set_authors(self, title: str, authors: list[str]) -> None:
        self.flush()
        self._db.execute("UPDATE pages SET authors = ? WHERE title = ?", (json.dumps(authors), title))

    def rename(self, old: str, new: str) -> None:
        """Re-key the page's rows to ``new`` in one transaction. What the log held for ``new`` before (a page
        that was deleted or moved away for this move to happen) is dropped, unless it holds unsaved work: then
        nothing changes and :class:`MoveRefused` is raised."""
        self.flush()  # (the queued appends name the old title: they move with the rest)
        row = self._db.execute("SELECT authors FROM pages WHERE title = ?", (new,)).fetchone()
        if row is not None and row[0] != "[]":
            raise MoveRefused(f"the log holds unsaved work of {new!r}, the page {old!r} was moved onto")
        with self._transaction():
            self._db.execute("DELETE FROM pages WHERE title = ?", (new,))
            self._db.execute("DELETE FROM updates WHERE title = ?", (new,))
            self._db.execute("UPDATE pages SET title = ?, updated_at = ? WHERE title = ?", (new, time.time(), old))
            self._db.execute("UPDATE updates SET title = ? WHERE title = ?", (new, old))
            # Revision ids are unique across the wiki: the moved page's records join those of ``new``.
            self._db.execute("UPDATE OR REPLACE revisions SET title = ? WHERE title = ?", (new, old))

    def pending_titles(self) -> list[str]:
        """Pages whose log may hold changes not yet saved to the wiki: unsaved co-authors, a save not settled
        (an intent), or a tail of updates (the page was open when the process stopped: unloading compacts
        the tail away; whether its text differs from the base is decided once it is loaded)."""
        self.flush()
        rows = self._db.execute(
            "SELECT title FROM pages WHERE authors != '[]'"
            " OR EXISTS (SELECT 1 FROM intents WHERE intents.title = pages.title)"
            " OR EXISTS (SELECT 1 FROM updates WHERE updates.title = pages.title)"
            " ORDER BY title"
        )
        return [r[0] for r in rows]

    # ---- save intents (lease.IntentLog): one per page, committed before the wiki is called ---------
    def record_intent(self, title: str, intent: SaveIntent) -> None:
        self.flush()
        authors = json.dumps(intent.authors)
        self._db.execute(
            "INSERT OR REPLACE INTO intents (title, state, text, baserevid, authors, summary, recorded_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (title, intent.state, intent.text, intent.baserevid, authors, intent.summary, time.time()),
        )

    def read_intent(self, title: str) -> SaveIntent | None:
        self.flush()
        row = self._db.execute(
            "SELECT state, text, baserevid, authors, summary FROM intents WHERE title = ?", (title,)
        ).fetchone()
        if row is None:
            return None
        return SaveIntent(row[0], row[1], row[2], json.loads(row[3]), row[4])

    def drop_intent(self, title: str) -> None:
        self.flush()
        self._db.execute("DELETE FROM intents WHERE title = ?", (title,))

    def add_revision(self, title: str, record: RevisionRecord) -> None:
        self.flush()
        self._db.execute(
            "INSERT OR REPLACE INTO revisions (title, revid, timestamp, coauthors, summary) VALUES (?, ?, ?, ?, ?)",
            (title, record.revid, record.timestamp, json.dumps(record.coauthors), record.summary),
        )

    def revisions(self, title: str) -> list[RevisionRecord]:
        self.flush()
        rows = self._db.execute(
            "SELECT revid, timestamp, coauthors, summary FROM revisions WHERE title = ? ORDER BY revid DESC",
            (title,),
        )
        return [RevisionRecord(r[0], r[1], json.loads(r[2]), r[3]) for r in rows]

    def _transaction(self) -> _Tx:
        return _Tx(self._db)


class _Tx:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *_: object) -> None:
        self._db.execute("ROLLBACK" if exc_type else "COMMIT")
