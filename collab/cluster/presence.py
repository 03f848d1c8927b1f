"""Who is where: awareness (cursors, names) between nodes over Pub/Sub, and each live node's session rows.

* **Awareness**: one Pub/Sub channel per page; each node applies the others' states to its own room, so a
  joiner's snapshot shows everyone. A node opening a page asks the others for theirs; when a node vanishes
  from the presence set, the others remove its editors' cursors.
* **Presence**: each node publishes its session rows to ``collab:node:<id>`` (expiring) and registers in
  ``collab:nodes``; :meth:`Presence.nodes` lists every live node with its rows (for the admin view).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from .. import protocol as p
from ..registry import Registry
from ..room import PageRoom, PeerOrigin
from ..tasks import TaskSet
from .codec import AWARENESS_QUERY, AWARENESS_UPDATE, decode_frame, encode_frame
from .keys import NODES_KEY, key, node_key, text, title_of
from .writer import Backoff, Writer, server_ms

log = logging.getLogger(__name__)

PRESENCE_S = 2.0  # the heartbeat: rows expire after three missed ones

Relay = Callable[[str, bytes], Awaitable[None]]  # (title, y message) -> to this node's editors
Rows = Callable[[], list[dict[str, Any]]]


class Presence:
    """This node's entry in the list of live nodes, and that list."""

    def __init__(self, redis: aioredis.Redis, *, node: str, name: str) -> None:
        self.redis = redis
        self.node = node
        self.name = name
        self.rows: Rows = list  # this node's session rows (set by Cluster.bind)
        self.used_memory = 0.0  # Redis' used_memory, as of the last heartbeat

    async def publish(self) -> set[str]:
        """Publish this node's session rows (they expire unless refreshed); returns the live nodes' ids."""
        now = await server_ms(self.redis)
        ttl_ms = int(PRESENCE_S * 3000)
        rows = json.dumps(self.rows(), default=str)
        pipe = self.redis.pipeline(transaction=False)
        pipe.hset(node_key(self.node), mapping={"name": self.name, "rows": rows, "at": now})
        pipe.pexpire(node_key(self.node), ttl_ms)
        pipe.zadd(NODES_KEY, {self.node: now + ttl_ms})
        pipe.zremrangebyscore(NODES_KEY, "-inf", now)
        pipe.zrange(NODES_KEY, 0, -1)
        pipe.info("memory")
        results: list[Any] = await pipe.execute()
        self.used_memory = float(results[5].get("used_memory", 0))
        return {text(n) for n in results[4]}

    async def nodes(self) -> list[dict[str, Any]]:
        """Every live node: ``{"node": id, "name": "host:port", "at": epoch ms, "rows": [...]}``."""
        now = await server_ms(self.redis)
        found: list[Any] = await self.redis.zrangebyscore(NODES_KEY, now, "+inf")
        ids = [text(n) for n in found]
        if not ids:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for node in ids:
            pipe.hgetall(node_key(node))
        out = []
        for node, fields in zip(ids, await pipe.execute(), strict=True):
            if fields:
                rows = json.loads(fields.get(b"rows", b"[]"))
                name, at = text(fields.get(b"name")), int(fields.get(b"at", 0))
                out.append({"node": node, "name": name, "at": at, "rows": rows})
        return out

    async def leave(self) -> None:
        """Leave the list at once (rather than when the rows expire)."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.delete(node_key(self.node))
        pipe.zrem(NODES_KEY, self.node)
        await pipe.execute()


class AwarenessRelay:
    """Awareness between the nodes holding a page. :meth:`start`, then run :meth:`run` as a task."""

    def __init__(
        self,
        pubsub: PubSub,
        writer: Writer,
        registry: Registry,
        tasks: TaskSet,
        *,
        node: str,
        relay: Relay,
    ) -> None:
        self.pubsub = pubsub
        self.writer = writer  # publishes go through the node's ordered, pipelined writer
        self.registry = registry
        self.tasks = tasks
        self.node = node
        self.relay = relay
        self._channels: set[str] = set()
        self._remote: dict[str, dict[str, set[int]]] = {}  # title -> node -> awareness ids

    async def start(self) -> None:
        """Subscribe (to this node's own channel: it keeps the Pub/Sub connection subscribed).

        Raises:
            RedisError, OSError: Redis cannot be reached.
        """
        await self.pubsub.subscribe(node_key(self.node))

    def page_opened(self, room: PageRoom) -> None:
        """Publish the page's local awareness changes, and follow the other nodes'."""
        room.awareness.observe(lambda topic, event: self._on_awareness(room, topic, event))
        self.tasks.spawn(self._subscribe(room.title), name=f"subscribe {room.title}")

    async def forget_page(self, title: str) -> None:
        """The page was unloaded here."""
        self._remote.pop(title, None)
        channel = key(title, "aw")
        if channel in self._channels:
            self._channels.discard(channel)
            await self.pubsub.unsubscribe(channel)

    async def forget_nodes(self, live: set[str]) -> None:
        """Remove the cursors of every node that is no longer live (it left, or died)."""
        for node in {n for by_node in self._remote.values() for n in by_node} - live:
            await self._forget_node(node)

    async def _subscribe(self, title: str) -> None:
        channel = key(title, "aw")
        if channel in self._channels:
            return
        self._channels.add(channel)
        try:
            await self.pubsub.subscribe(channel)
        except (RedisError, OSError) as exc:
            self._channels.discard(channel)
            log.warning("cannot subscribe to the awareness of %r: %s", title, exc)
            return
        payload = encode_frame(self.node, AWARENESS_QUERY)  # the others answer with their editors' states
        self.writer.submit(lambda pipe: pipe.publish(channel, payload))

    def _on_awareness(self, room: PageRoom, topic: str, event: tuple[dict[str, Any], Any]) -> None:
        changes, origin = event
        if topic != "update" or isinstance(origin, PeerOrigin) or origin == "local":
            return
        ids = [*changes["added"], *changes["updated"], *changes["removed"]]
        if ids:
            self._publish(room.title, room.awareness.encode_awareness_update(ids))

    def _publish(self, title: str, update: bytes) -> None:
        channel, payload = key(title, "aw"), encode_frame(self.node, AWARENESS_UPDATE, update)
        self.writer.submit(lambda pipe: pipe.publish(channel, payload))

    async def run(self) -> None:
        """Listen forever (cancel to stop)."""
        backoff = Backoff()
        while True:
            try:
                message = await self.pubsub.get_message(ignore_subscribe_messages=True, timeout=None)
            except (RedisError, OSError) as exc:
                log.warning("listening to Redis failed (%s); retrying in %.1f s", exc, backoff.delay_s)
                await backoff.wait()
                continue
            backoff.reset()
            if message is None or message.get("type") != "message":
                continue
            channel = text(message["channel"])
            if not channel.endswith(":aw"):
                continue
            await self._on_peer_awareness(title_of(channel), message["data"])

    async def _on_peer_awareness(self, title: str, data: bytes) -> None:
        node, kind, payload = decode_frame(data)
        room = self.registry.rooms.get(title)
        if node == self.node or room is None:
            return
        if kind == AWARENESS_QUERY:
            mine = [cid for ids in room.awareness_ids.values() for cid in ids if cid in room.awareness.states]
            if mine:
                self._publish(title, room.awareness.encode_awareness_update(mine))
            return
        if kind != AWARENESS_UPDATE:
            return
        try:
            entries = p.check_awareness(payload)
            room.awareness.apply_awareness_update(payload, PeerOrigin(node))
        except Exception:  # a peer sends only what it validated; never let one message stop the listener
            log.exception("could not apply awareness of %r from %s", title, node)
            return
        self._remote.setdefault(title, {}).setdefault(node, set()).update(e.client_id for e in entries)
        await self.relay(title, p.awareness_message(payload))

    async def _forget_node(self, node: str) -> None:
        """A node left (or died): remove the cursors of its editors everywhere here."""
        for title, by_node in self._remote.items():
            ids = by_node.pop(node, set())
            room = self.registry.rooms.get(title)
            present = [cid for cid in ids if room is not None and cid in room.awareness.states]
            if room is None or not present:
                continue
            room.awareness.remove_awareness_states(present, PeerOrigin(node))
            await self.relay(title, p.awareness_message(room.awareness.encode_awareness_update(present)))
