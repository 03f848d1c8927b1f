"""Which node may save a page: the commit lease as the commit policy sees it.

One node always saves its pages itself (:class:`SoleCommitter`); in a cluster, the holder of the page's
lease in Redis saves it (``cluster.lease.ClusterLease``), so exactly one node writes each page to the wiki.
"""

from __future__ import annotations

from typing import Protocol


class CommitLease(Protocol):
    """Which node may save a page. One node: always this one (:class:`SoleCommitter`); a cluster: the holder
    of the page's lease in Redis (``cluster.lease.ClusterLease``), so exactly one node saves each page."""

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
