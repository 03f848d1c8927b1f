"""Which node may save a page, and the save it is about to make: the commit lease as the commit policy sees it.

One node always saves its pages itself (:class:`SoleCommitter`); in a cluster, the holder of the page's
lease in Redis saves it (``cluster.lease.ClusterLease``), so exactly one node writes each page to the wiki.
Both record a :class:`SaveIntent` durably right before the wiki is called, and keep it until the save is
settled (its revision read back and made the base, or known not to have landed): a process that dies in
between, or a read-back that fails, leaves the intent behind, and whoever saves the page next resolves it
against the wiki's history (``CommitManager.resolve_intent``) instead of merging the bot's own revision
back in as an outside edit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass
class SaveIntent:
    """A save about to be made: what was sent, on top of what, crediting whom."""

    state: bytes  # the CRDT state of the text as sent (the read-back merges through a fork of it)
    text: str
    baserevid: int | None
    authors: list[str] = field(default_factory=list)  # credited by this save (split off at the moment it is sent)
    summary: str = ""


class IntentLog(Protocol):
    """Where one node keeps its save intents (``store.SQLiteStore``): written and read synchronously."""

    def record_intent(self, title: str, intent: SaveIntent) -> None:
        """Keep ``intent`` durably (committed before this returns), replacing the page's previous one."""
        ...

    def read_intent(self, title: str) -> SaveIntent | None: ...

    def drop_intent(self, title: str) -> None: ...


class CommitLease(Protocol):
    """Which node may save a page. One node: always this one (:class:`SoleCommitter`); a cluster: the holder
    of the page's lease in Redis (``cluster.lease.ClusterLease``), so exactly one node saves each page."""

    async def acquire(self, title: str) -> bool:
        """Take or keep the page's commit lease; False while another live node holds it."""
        ...

    async def confirm(self, title: str, intent: SaveIntent) -> bool:
        """Right before calling the wiki: whether the lease is still ours (checked atomically; ``intent`` is
        recorded durably, so whoever saves the page next can tell whether this save landed)."""
        ...

    async def intent(self, title: str) -> SaveIntent | None:
        """The save recorded by :meth:`confirm` and not settled yet, if any."""
        ...

    async def drop_intent(self, title: str) -> None:
        """The recorded save is settled (adopted, read back, or known not to have landed): forget it.
        Called after the new base is stored, never before (else a crash in between loses both)."""
        ...

    async def delegate(self, title: str) -> int | None:
        """Ask the node holding the lease to save the page now; the revid it saved (None: nothing new)."""
        ...


class MemoryIntents:
    """Save intents in memory only (a process without a durable log: tools and tests)."""

    def __init__(self) -> None:
        self.intents: dict[str, SaveIntent] = {}

    def record_intent(self, title: str, intent: SaveIntent) -> None:
        self.intents[title] = intent

    def read_intent(self, title: str) -> SaveIntent | None:
        return self.intents.get(title)

    def drop_intent(self, title: str) -> None:
        self.intents.pop(title, None)


class SoleCommitter:
    """The single-node lease: this process always saves; its intents live in ``intents`` (the SQLite log)."""

    def __init__(self, intents: IntentLog | None = None) -> None:
        self.intents: IntentLog = intents if intents is not None else MemoryIntents()

    async def acquire(self, title: str) -> bool:
        return True

    async def confirm(self, title: str, intent: SaveIntent) -> bool:
        self.intents.record_intent(title, intent)
        return True

    async def intent(self, title: str) -> SaveIntent | None:
        return self.intents.read_intent(title)

    async def drop_intent(self, title: str) -> None:
        self.intents.drop_intent(title)

    async def delegate(self, title: str) -> int | None:  # pragma: no cover - acquire() never refuses
        return None
