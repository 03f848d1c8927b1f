"""Cluster mode: several nodes share pages through one Redis (``--redis URL``). See docs/scaling.md.

:class:`Cluster` is what app.py sees of it: it owns the connections and the background tasks, and wires the
parts, each one concern (STYLE habit 8: local first, then publish; ignore your own messages; reconnect
with capped backoff):

* ``store``: the page log in Streams (:class:`~collab.cluster.store.RedisStore`, a :class:`collab.store.Store`);
* ``replication``: following the Streams, applying the other nodes' updates, resync;
* ``presence``: awareness over Pub/Sub, session rows, the list of live nodes;
* ``lease`` and ``takeover``: one committer per page, and settling a dead holder's save;
* ``codec`` and ``keys``: what the nodes write to Redis, and where.

**Statuses** (saving, saved, merged, errors) and **save requests** (an explicit save on a node that does
not hold the page's lease) travel in the page's Stream, so they never overtake the update they announce;
this module sends and answers them.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from ..commit import CommitManager
from ..errors import CollabError, StoreUnavailable, WikiError
from ..registry import Registry
from ..room import PageRoom, PeerOrigin
from ..tasks import TaskSet
from ..wiki import Wiki
from . import codec
from .lease import ClusterLease
from .presence import PRESENCE_S, AwarenessRelay, Presence, Relay, Rows
from .replication import Replication, blocking_client
from .store import RedisStore
from .takeover import TakeOver
from .writer import Writer

log = logging.getLogger(__name__)

DELEGATE_TIMEOUT_S = 90.0

LocalStatus = Callable[..., Awaitable[None]]  # (title, state, message, **extra) -> to this node's editors


class RedisUnavailable(CollabError):
    """Redis cannot be reached (at start; later, nodes retry with backoff)."""

    code = "redisunavailable"


@dataclass
class _Bound:
    """The parts that need the node's registry, commit policy and wiki (built by :meth:`Cluster.bind`)."""

    registry: Registry
    commits: CommitManager
    status: LocalStatus
    replication: Replication
    awareness: AwarenessRelay
    takeover: TakeOver


class Cluster:
    """Everything one node does with the other nodes. Build, :meth:`bind`, ``await start()``, ``close()``.

    app.py uses :attr:`store` (the page log), :attr:`lease` (the commit policy's lease), :meth:`publish_status`,
    :meth:`nodes` and :attr:`used_memory`; the lease calls back :meth:`take_over`, :meth:`request_save` and
    :meth:`lease_expired` (:class:`~collab.cluster.lease.LeaseOwner`).
    """

    def __init__(self, url: str, *, port: int, lease_s: float) -> None:
        self.name = f"{socket.gethostname()}:{port}"
        self.node = f"{self.name}/{uuid.uuid4().hex[:8]}"  # one incarnation: a restarted node is a new one
        self.url = url
        self.redis = aioredis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=15)
        self.blocking = blocking_client(url)  # the Stream reader's own connection
        self.pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        self.writer = Writer(self.redis)
        self.lease = ClusterLease(
            self.redis, self, node=self.node, name=self.name, ttl_s=lease_s, durable=self.writer.durable
        )
        self.store = RedisStore(self.redis, self.writer, self.node, self.lease.value_of)
        self.presence = Presence(self.redis, node=self.node, name=self.name)
        self.tasks = TaskSet()
        self._bound: _Bound | None = None
        self._requests: dict[str, asyncio.Future[int | None]] = {}
        self.started = False

    # ---- wiring ------------------------------------------------------------------------------------
    def bind(
        self,
        registry: Registry,
        commits: CommitManager,
        wiki: Wiki,
        *,
        relay: Relay,
        status: LocalStatus,
        rows: Rows,
        bot_user: str,
    ) -> None:
        """Connect the node's pieces (called once by app.py, before :meth:`start`)."""
        replication = Replication(
            self.store,
            registry,
            self.tasks,
            redis=self.redis,
            blocking=self.blocking,
            node=self.node,
            name=self.name,
            on_message=self._on_message,
        )
        self._bound = _Bound(
            registry,
            commits,
            status,
            replication,
            AwarenessRelay(self.pubsub, self.writer, registry, self.tasks, node=self.node, relay=relay),
            TakeOver(
                redis=self.redis,
                registry=registry,
                commits=commits,
                wiki=wiki,
                store=self.store,
                lease=self.lease,
                replication=replication,
                bot_user=bot_user,
                name=self.name,
            ),
        )
        self.presence.rows = rows
        registry.on_loaded.append(self._loaded)

    @property
    def _parts(self) -> _Bound:
        assert self._bound is not None, "bind() first"
        return self._bound

    @property
    def used_memory(self) -> float:
        """Redis' used_memory, refreshed every few seconds."""
        return self.presence.used_memory

    async def start(self) -> None:
        """Connect and start the background work.

        Raises:
            RedisUnavailable: Redis cannot be reached.
        """
        bound = self._parts
        try:
            await bound.replication.start()
            await self.store.start()
            await bound.awareness.start()
        except (RedisError, OSError) as exc:
            raise RedisUnavailable(f"cannot reach Redis at {_redacted(self.url)}: {exc}") from None
        self.tasks.spawn(self.writer.run(), name="redis writer")
        self.tasks.spawn(bound.replication.run(), name="redis stream reader")
        self.tasks.spawn(bound.awareness.run(), name="redis pubsub listener")
        self.tasks.spawn(self._maintain_loop(), name="cluster presence and leases")
        self.started = True
        log.info("cluster node %s on %s", self.node, _redacted(self.url))

    async def close(self) -> None:
        """Store what is queued, hand back the leases, leave the cluster (after the final saves)."""
        self.lease.close()
        try:
            if self.started:
                await asyncio.wait_for(self.writer.durable(), timeout=10)
                await self.lease.release_all()
            await self.presence.leave()
        except (RedisError, OSError, TimeoutError, StoreUnavailable) as exc:
            log.warning("leaving the cluster uncleanly (%s): leases expire by themselves", exc)
        await self.tasks.cancel_all()
        await self.pubsub.aclose()  # type: ignore[no-untyped-call]
        await self.blocking.aclose()
        await self.redis.aclose()

    # ---- pages ---------------------------------------------------------------------------------------
    def _loaded(self, room: PageRoom) -> None:
        bound = self._parts
        room.listeners.append(lambda update, origin: self._on_update(room, origin))
        bound.replication.page_opened(room)
        bound.awareness.page_opened(room)

    def _on_update(self, room: PageRoom, origin: object) -> None:
        if isinstance(origin, PeerOrigin) and origin.user:
            self._parts.commits.changed(room)  # any node may have to save it (the lease decides which)

    # ---- the lease's owner (lease.LeaseOwner) ---------------------------------------------------------
    async def take_over(self, title: str) -> int | None:
        """This node just got the page's lease: catch up and settle the last holder's save first
        (``takeover``). None when ready to save; else how many ms to wait before looking again."""
        return await self._parts.takeover.settle(title)

    def lease_expired(self, title: str) -> None:
        """The lease another node held would have expired: if the page still holds unsaved work here, try
        to take over (through the commit policy's own path)."""
        commits = self._parts.commits
        room = self._parts.registry.rooms.get(title)
        if room is not None and commits.pending(room) and not commits.closing:
            commits.changed(room)

    # ---- statuses and save requests ----------------------------------------------------------------------
    def publish_status(self, title: str, state: str, message: str, extra: dict[str, Any]) -> None:
        """Tell the other nodes' editors of ``title`` (in order with the page's updates)."""
        self.store.log(title, codec.Status(self.node, state, message, extra))

    async def request_save(self, title: str) -> int | None:
        """Ask the node holding the page's lease to save it now; its answer (bounded wait).

        Raises:
            WikiError: that node's save failed.
        """
        request = uuid.uuid4().hex
        future: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self._requests[request] = future
        self.store.log(title, codec.SaveRequest(self.node, request))
        try:
            return await asyncio.wait_for(future, DELEGATE_TIMEOUT_S)
        except TimeoutError:
            log.warning("no node answered the save request for %r", title)
            return None
        finally:
            self._requests.pop(request, None)

    async def _on_message(self, title: str, entry: codec.Status | codec.SaveRequest | codec.SaveAnswer) -> None:
        """A status, save request or answer another node logged in the page's Stream (``replication``)."""
        match entry:
            case codec.Status():
                await self._parts.status(title, entry.state, entry.message, **entry.extra)
            case codec.SaveRequest():
                if self.lease.holds(title):
                    self.tasks.spawn(self._answer_save(title, entry.request), name=f"save {title} for a peer")
            case codec.SaveAnswer():
                future = self._requests.get(entry.request)
                if future is None or future.done():
                    return
                if entry.error_code is not None:
                    future.set_exception(WikiError(entry.error_message, code=entry.error_code))
                else:
                    future.set_result(entry.revid)

    async def _answer_save(self, title: str, request: str) -> None:
        room = self._parts.registry.rooms.get(title)
        answer = codec.SaveAnswer(self.node, request)
        if room is not None:
            try:
                answer = codec.SaveAnswer(self.node, request, await self._parts.commits.save_now(room))
            except WikiError as exc:
                answer = codec.SaveAnswer(self.node, request, None, exc.code, exc.message)
        self.store.log(title, answer)

    # ---- presence, lease renewal, housekeeping ------------------------------------------------------------
    async def _maintain_loop(self) -> None:
        while True:
            try:
                await self._maintain()
            except (RedisError, OSError) as exc:
                log.warning("cluster housekeeping failed: %s", exc)
            except Exception:  # never let one failure end the heartbeat (the node would lose its leases)
                log.exception("cluster housekeeping failed; it goes on")
            await asyncio.sleep(min(PRESENCE_S, self.lease.ttl_ms / 3000))  # a heartbeat: periodic by nature

    async def _maintain(self) -> None:
        bound = self._parts
        open_titles = set(bound.registry.rooms)
        await self.lease.maintain(open_titles)
        for title in [t for t in self.store.positions() if t not in open_titles]:
            self.store.forget(title)
            await bound.awareness.forget_page(title)
        await bound.awareness.forget_nodes(await self.presence.publish())

    async def nodes(self) -> list[dict[str, Any]]:
        """Every live node: ``{"node": id, "name": "host:port", "at": epoch ms, "rows": [...]}`` (the admin view)."""
        return await self.presence.nodes()


def _redacted(url: str) -> str:
    if "@" not in url:
        return url
    scheme, _, rest = url.partition("://")
    return f"{scheme}://***@{rest.rpartition('@')[2]}"
