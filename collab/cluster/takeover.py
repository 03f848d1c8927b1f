"""Taking over a page: what a node does when it gets a page's commit lease, before it saves anything.

It catches up with the Stream (the base and co-authors the last holder stored arrive with it), then settles
a save the last holder had started (the intent ``lease.confirm`` recorded): if the wiki holds it (found as a
single node finds its own, :meth:`collab.commit.CommitManager.find_landed`), the save landed and is adopted,
exactly as the holder would have finished it (:meth:`collab.commit.CommitManager.adopt`), instead of being
merged back in as an "outside" edit; else it waits for that save until its deadline, then forgets it (and its
authors are credited by the next save, :meth:`collab.commit.CommitManager.resolve_intent`).
"""

from __future__ import annotations

import logging

import redis.asyncio as aioredis

from ..commit import CommitManager
from ..errors import WikiError
from ..registry import Registry
from ..wiki import Wiki
from .lease import ClusterLease
from .replication import Replication
from .store import ClusterStore
from .writer import server_ms

log = logging.getLogger(__name__)

CATCH_UP_S = 10.0


class TakeOver:
    """Settles the pages whose lease this node just got (see the module's docstring)."""

    def __init__(
        self,
        *,
        redis: aioredis.Redis,
        registry: Registry,
        commits: CommitManager,
        wiki: Wiki,
        store: ClusterStore,
        lease: ClusterLease,
        replication: Replication,
        bot_user: str,
        name: str,
    ) -> None:
        self.redis = redis
        self.registry = registry
        self.commits = commits
        self.wiki = wiki
        self.store = store
        self.lease = lease
        self.replication = replication
        self.bot_name = bot_user.split("@", 1)[0]  # a bot password's user name: the revisions' author
        self.name = name

    async def settle(self, title: str) -> int | None:
        """Bring the page up to date before this node saves it. None when ready; else how many ms to wait
        before looking again (the lease stays held meanwhile, so nobody else saves either).

        Raises:
            RedisError, OSError: Redis cannot be reached (the lease looks again later).
        """
        room = self.registry.rooms.get(title)
        if room is None:
            return None
        last = await self.store.last_id(title)
        if last is not None and not await self.replication.caught_up(title, last, CATCH_UP_S):
            log.warning("node %s could not catch up with %r in %.0f s", self.name, title, CATCH_UP_S)
            return self.lease.ttl_ms
        intent = await self.lease.intent(title)
        if intent is None:
            return None
        try:
            landed = await self.commits.find_landed(title, intent)
        except WikiError as exc:
            log.warning("cannot check the last holder's save of %r: %s", title, exc.message)
            return self.lease.ttl_ms
        room = self.registry.rooms.get(title)
        if room is None:
            return None
        if landed is not None:
            await self.commits.adopt(room, intent, landed)
            log.info(
                "adopted revision %d of %r by %s, saved by the previous lease holder",
                landed.revid,
                title,
                ", ".join(intent.authors) or "-",
            )
            return None
        remaining = intent.deadline_ms - await server_ms(self.redis)
        if remaining > 0:
            log.info("the previous holder of %r was saving; waiting %.0f s for that save", title, remaining / 1000)
            return remaining
        await self.commits.resolve_intent(room, saving=True)  # not found: forgotten, its authors credited next
        return None
