"""Cluster mode: several nodes share pages through one Redis (``--redis URL``). See docs/scaling.md.

What a node does with the others, all through Redis (STYLE habit 8: local first, then publish; ignore
your own messages; reconnect with capped backoff):

* **Document updates**: each node logs its editors' updates to the page's Stream (``redis_store``), and
  shows them to its own editors only once logged. Every node holding the page reads the Stream
  (``XREAD BLOCK`` over all its open pages, on one connection) and applies the other nodes' entries with
  a :class:`~collab.room.PeerOrigin`, which its listeners fan out to local editors only: never logged
  again, never sent back. Nodes never relay a change they have not applied, so an editor is never shown
  an update its node's document lacks (which the server's gap check would refuse).
* **Awareness** (cursors, names): Pub/Sub, one channel per page; each node applies the others' states to
  its own room, so a joiner's snapshot shows everyone. A node opening a page asks the others for theirs.
* **Statuses** (saving, saved, merged, errors) travel in the Stream, so they never overtake the update
  they announce.
* **One committer per page**: :class:`ClusterLease`, ``SET NX PX`` with a fencing token, renewed while
  held; the last check before calling the wiki is atomic (Lua) and records the save about to be made, so
  a node taking over after a crash can tell whether that save landed (and adopt it) instead of merging the
  bot's own revision back in as an "outside" edit.
* **Presence**: each node publishes its session rows to ``collab:node:<id>`` (expiring);
  :meth:`Cluster.sessions` returns every live node's rows (for the admin view).
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from .. import merge
from .. import protocol as p
from ..commit import CommitManager
from ..errors import CollabError, WikiError
from ..registry import Registry
from ..room import Base, Contributions, PageRoom, PeerOrigin, WikiOrigin
from ..store import RevisionRecord
from ..tasks import TaskSet
from ..wiki import Wiki
from .store import (
    PREFIX,
    RedisStore,
    Writer,
    id_ge,
    key,
    title_of,
)

log = logging.getLogger(__name__)

NODES_KEY = f"{PREFIX}:nodes"  # sorted set: node id -> expiry (ms)
READ_BLOCK_MS = 5_000
READ_COUNT = 1_000
PRESENCE_S = 2.0
CATCH_UP_S = 10.0
DELEGATE_TIMEOUT_S = 90.0
# How long a save may take at most (the wiki gateway's timeouts and retries). A node taking over a page whose
# last holder died mid-save waits this long for that save to show up before saving itself: MediaWiki has no
# fencing token, and a late save of older text would otherwise overwrite newer text.
SAVE_DEADLINE_MS = 180_000
BACKOFF_MIN_S = 0.1
BACKOFF_MAX_S = 5.0

Relay = Callable[[str, bytes], Awaitable[None]]  # (title, y message) -> to this node's editors
LocalStatus = Callable[..., Awaitable[None]]  # (title, state, message, **extra) -> to this node's editors
Rows = Callable[[], list[dict[str, Any]]]

ACQUIRE = """
local cur = redis.call('GET', KEYS[1])
if cur then return {0, cur, redis.call('PTTL', KEYS[1])} end
local token = redis.call('INCR', KEYS[2])
local value = ARGV[1] .. '#' .. token
redis.call('SET', KEYS[1], value, 'PX', ARGV[2])
return {1, value, tonumber(ARGV[2])}
"""
RENEW = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 1
"""
# The fence before the wiki call: still ours? Then keep it (extend) and record the save about to be made.
CONFIRM = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[2], 'intent_state', ARGV[3], 'intent_text', ARGV[4], 'intent_baserevid', ARGV[5],
           'intent_deadline_ms', string.format('%.0f', now + tonumber(ARGV[6])),
           'intent_authors', redis.call('HGET', KEYS[2], 'authors') or '[]')
return 1
"""
RELEASE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])
"""
DROP_INTENT = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('HDEL', KEYS[2], 'intent_state', 'intent_text', 'intent_baserevid', 'intent_deadline_ms',
                  'intent_authors')
"""


def _s(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else value


def _frame(node: str, kind: bytes, payload: bytes = b"") -> bytes:
    return node.encode() + b"\n" + kind + payload


def _unframe(data: bytes) -> tuple[str, bytes, bytes]:
    node, _, rest = data.partition(b"\n")
    return node.decode(), rest[:1], rest[1:]


class RedisUnavailable(CollabError):
    """Redis cannot be reached (at start; later, nodes retry with backoff)."""

    code = "redisunavailable"


class ClusterLease:
    """The commit lease of each page (implements :class:`collab.commit.CommitLease`).

    ``collab:{T}:lease`` holds ``<node>#<token>`` with a TTL of ``ttl_s``; the token comes from a per-page
    counter, so every grant has a fresh value and every fenced write (base, co-authors, the pre-save check)
    compares the whole value: a node that lost the lease cannot write with it any more.
    """

    def __init__(self, cluster: Cluster, ttl_s: float) -> None:
        self.cluster = cluster
        self.ttl_ms = int(ttl_s * 1000)
        self.held: dict[str, tuple[str, float]] = {}  # title -> (value, local expiry, monotonic)
        self._retries: dict[str, asyncio.TimerHandle] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._settled: set[str] = set()  # held, and taken over: the page is up to date
        r = cluster.redis
        self._acquire = r.register_script(ACQUIRE)
        self._renew = r.register_script(RENEW)
        self._confirm = r.register_script(CONFIRM)
        self._release = r.register_script(RELEASE)
        self._drop_intent = r.register_script(DROP_INTENT)

    def value_of(self, title: str) -> str | None:
        held = self.held.get(title)
        return held[0] if held else None

    def holds(self, title: str) -> bool:
        held = self.held.get(title)
        return held is not None and time.monotonic() < held[1]

    def _fresh(self, title: str) -> bool:
        held = self.held.get(title)
        return held is not None and time.monotonic() < held[1] - self.ttl_ms / 3000

    async def acquire(self, title: str) -> bool:
        if self._fresh(title) and title in self._settled:
            return True  # held, far from expiring: the check that matters is confirm(), before the wiki
        lock = self._locks.setdefault(title, asyncio.Lock())
        async with lock:  # one taker at a time: a take-over (and its adoption of a save) must run once
            return await self._acquire_locked(title)

    async def _acquire_locked(self, title: str) -> bool:
        try:
            if not (self._fresh(title) or (title in self.held and await self.renew(title))):
                started = time.monotonic()
                got, value, pttl = await self._acquire(
                    keys=[key(title, "lease"), key(title, "fence")], args=[self.cluster.node, self.ttl_ms]
                )
                value = _s(value)
                if not got and not value.startswith(self.cluster.node + "#"):
                    self._retry_later(title, int(pttl))
                    return False
                self.held[title] = (value, started + int(pttl) / 1000)
                self._settled.discard(title)
                log.info("node %s holds the commit lease of %r (%s)", self.cluster.name, title, value)
            if title not in self._settled:
                # Not before the page is up to date and the last holder's save is settled (it may take a
                # while: meanwhile this node keeps the lease, so nobody else saves either).
                if not await self.cluster.take_over(title):
                    return False
                self._settled.add(title)
            return True
        except (RedisError, OSError) as exc:
            log.warning("cannot ask Redis for the commit lease of %r: %s", title, exc)
            self._retry_later(title, self.ttl_ms)
            return False

    async def renew(self, title: str) -> bool:
        held = self.held.get(title)
        if held is None:
            return False
        started = time.monotonic()
        if await self._renew(keys=[key(title, "lease")], args=[held[0], self.ttl_ms]):
            self.held[title] = (held[0], started + self.ttl_ms / 1000)
            return True
        self._lost(title)
        return False

    async def confirm(self, title: str, sent_state: bytes, text: str, baserevid: int | None) -> bool:
        held = self.held.get(title)
        if held is None:
            return False
        try:
            # The previous save's base must be stored before this save's intent replaces it (fenced, in order).
            await self.cluster.writer.durable()
            started = time.monotonic()
            ok = await self._confirm(
                keys=[key(title, "lease"), key(title, "page")],
                args=[held[0], self.ttl_ms, sent_state, text, "" if baserevid is None else baserevid, SAVE_DEADLINE_MS],
            )
        except (RedisError, OSError) as exc:
            log.warning("cannot confirm the commit lease of %r (%s): not saving now", title, exc)
            self._retry_later(title, self.ttl_ms)
            return False
        if ok:
            self.held[title] = (held[0], started + self.ttl_ms / 1000)
            return True
        self._lost(title)
        return False

    async def delegate(self, title: str) -> int | None:
        return await self.cluster.request_save(title)

    async def release(self, title: str) -> None:
        lock = self._locks.get(title)
        if lock is not None and not lock.locked():
            del self._locks[title]
        self._settled.discard(title)
        held = self.held.pop(title, None)
        if held is not None:
            await self._release(keys=[key(title, "lease")], args=[held[0]])
            log.info("node %s released the commit lease of %r", self.cluster.name, title)

    async def drop_intent(self, title: str) -> None:
        held = self.held.get(title)
        if held is not None:
            await self._drop_intent(keys=[key(title, "lease"), key(title, "page")], args=[held[0]])

    def _lost(self, title: str) -> None:
        self._settled.discard(title)
        if self.held.pop(title, None) is not None:
            log.warning("node %s lost the commit lease of %r", self.cluster.name, title)

    def _retry_later(self, title: str, delay_ms: int) -> None:
        """Another node holds the lease: look again when it would have expired (it may have died)."""
        if title in self._retries:
            return
        loop = asyncio.get_running_loop()
        delay = max(0.05, delay_ms / 1000) + 0.05
        self._retries[title] = loop.call_later(delay, self._retry, title)

    def _retry(self, title: str) -> None:
        self._retries.pop(title, None)
        self.cluster.lease_expired(title)

    def close(self) -> None:
        for handle in self._retries.values():
            handle.cancel()
        self._retries.clear()


class Cluster:
    """Everything one node does with the other nodes. Build, :meth:`bind`, ``await start()``, ``close()``."""

    def __init__(self, url: str, *, port: int, lease_s: float) -> None:
        self.name = f"{socket.gethostname()}:{port}"
        self.node = f"{self.name}/{uuid.uuid4().hex[:8]}"  # one incarnation: a restarted node is a new one
        self.url = url
        self.redis = aioredis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=15)
        # Blocking reads get their own connection (and no read timeout shorter than the block).
        self.blocking = aioredis.Redis.from_url(
            url, single_connection_client=True, socket_connect_timeout=5, socket_timeout=READ_BLOCK_MS / 1000 + 10
        )
        self.writer = Writer(self.redis)
        self.lease = ClusterLease(self, lease_s)
        self.store = RedisStore(self.redis, self.writer, self.node, self.lease.value_of)
        self.tasks = TaskSet()
        self.pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        self._registry: Registry | None = None
        self._commits: CommitManager | None = None
        self._wiki: Wiki | None = None
        self._relay: Relay | None = None
        self._status: LocalStatus | None = None
        self._rows: Rows = list
        self._bot_name = ""
        self._reader_id: int | None = None
        self._reader_version = 0
        self._reading: int | None = None
        self._reader_wake = asyncio.Event()
        self._progress = asyncio.Event()
        self._channels: set[str] = set()
        self._requests: dict[str, asyncio.Future[int | None]] = {}
        self._remote_awareness: dict[str, dict[str, set[int]]] = {}  # title -> node -> awareness ids
        self.used_memory = 0.0
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
        self._registry = registry
        self._commits = commits
        self._wiki = wiki
        self._relay = relay
        self._status = status
        self._rows = rows
        self._bot_name = bot_user.split("@", 1)[0]
        registry.on_loaded.append(self._loaded)

    @property
    def registry(self) -> Registry:
        assert self._registry is not None, "bind() first"
        return self._registry

    @property
    def commits(self) -> CommitManager:
        assert self._commits is not None, "bind() first"
        return self._commits

    async def start(self) -> None:
        """Connect and start the background work.

        Raises:
            RedisUnavailable: Redis cannot be reached.
        """
        try:
            self._reader_id = await self.blocking.client_id()
            await self.store.start()
            await self.pubsub.subscribe(f"{PREFIX}:node:{self.node}")  # keeps the Pub/Sub connection subscribed
        except (RedisError, OSError) as exc:
            raise RedisUnavailable(f"cannot reach Redis at {_redacted(self.url)}: {exc}") from None
        self.tasks.spawn(self.writer.run(), name="redis writer")
        self.tasks.spawn(self._read_loop(), name="redis stream reader")
        self.tasks.spawn(self._listen_loop(), name="redis pubsub listener")
        self.tasks.spawn(self._maintain_loop(), name="cluster presence and leases")
        self.started = True
        log.info("cluster node %s on %s", self.node, _redacted(self.url))

    async def close(self) -> None:
        """Store what is queued, hand back the leases, leave the cluster (after the final saves)."""
        self.lease.close()
        try:
            if self.started:
                await asyncio.wait_for(self.writer.durable(), timeout=10)
                for title in list(self.lease.held):
                    await self.lease.release(title)
            pipe = self.redis.pipeline(transaction=False)
            pipe.delete(f"{PREFIX}:node:{self.node}")
            pipe.zrem(NODES_KEY, self.node)
            await pipe.execute()
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("leaving the cluster uncleanly (%s): leases expire by themselves", exc)
        await self.tasks.cancel_all()
        await self._close_connections()

    async def _close_connections(self) -> None:
        await self.pubsub.aclose()  # type: ignore[no-untyped-call]
        await self.blocking.aclose()
        await self.redis.aclose()

    # ---- pages ---------------------------------------------------------------------------------------
    def _loaded(self, room: PageRoom) -> None:
        title = room.title
        room.listeners.append(lambda update, origin: self._on_update(room, origin))
        room.awareness.observe(lambda topic, event: self._on_awareness(room, topic, event))
        self._reader_version += 1
        self._reader_wake.set()
        if self._reading is not None:
            self.tasks.spawn(self._unblock_reader(), name="wake the stream reader")
        self.tasks.spawn(self._subscribe(title), name=f"subscribe {title}")

    def _on_update(self, room: PageRoom, origin: object) -> None:
        if isinstance(origin, PeerOrigin) and origin.user:
            self.commits.changed(room)  # any node may have to save it (the lease decides which)

    def lease_expired(self, title: str) -> None:
        """The lease another node held would have expired: if the page still holds unsaved work here, try
        to take over (through the commit policy's own path)."""
        room = self.registry.rooms.get(title)
        if room is not None and self.commits.pending(room) and not self.commits.closing:
            self.commits.changed(room)

    async def take_over(self, title: str) -> bool:
        """This node just got the page's lease: bring the page up to date before it saves anything.

        Catches up with the Stream (the base and co-authors the last holder stored arrive with it), then
        settles a save the last holder had started: adopted when the wiki has it, else waited for until its
        deadline. Returns False when the page is not ready to be saved yet (a retry is scheduled).
        """
        room = self.registry.rooms.get(title)
        if room is None:
            return True
        last = await self.store.last_id(title)
        if last is not None and not await self._caught_up(title, last):
            log.warning("node %s could not catch up with %r in %.0f s", self.name, title, CATCH_UP_S)
            self.lease._retry_later(title, self.lease.ttl_ms)
            return False
        intent = await self.store.read_intent(title)
        if intent is None:
            return True
        assert self._wiki is not None
        try:
            latest = await self._wiki.read(title)
        except WikiError as exc:
            log.warning("cannot check the last holder's save of %r: %s", title, exc.message)
            self.lease._retry_later(title, self.lease.ttl_ms)
            return False
        landed = (
            latest is not None
            and latest.user == self._bot_name
            and (intent.baserevid is None or latest.revid > intent.baserevid)
        )
        room = self.registry.rooms.get(title)
        if room is None:
            return True
        if landed and latest is not None:
            # Exactly what the dead holder would have done after its save: the read-back merge
            # (commit._reconcile), the new base, the credited co-authors settled, the record, the status.
            fork_doc = merge.fork_with_text(intent.state, intent.text, latest.text)
            room.merge_fork(fork_doc, WikiOrigin(latest.revid, latest.user))
            self.registry.set_base(room, Base(latest.revid, latest.text, fork_doc.get_update(), latest.timestamp))
            kept = Contributions()
            for name in room.contributions.authors:
                if name not in intent.authors:
                    kept.record(name)
            room.contributions = kept
            self.registry.persist_authors(room)
            self.store.add_revision(
                title, RevisionRecord(latest.revid, latest.timestamp, intent.authors, latest.comment)
            )
            log.info(
                "adopted revision %d of %r by %s, saved by the previous lease holder",
                latest.revid,
                title,
                ", ".join(intent.authors) or "-",
            )
            message, extra = f"saved as revision {latest.revid}", {"revid": latest.revid, "coauthors": intent.authors}
            self.publish_status(title, "saved", message, extra)
            if self._status is not None:
                await self._status(title, "saved", message, **extra)
            return True
        remaining = intent.deadline_ms - await self._redis_ms()
        if remaining > 0:
            log.info("the previous holder of %r was saving; waiting %.0f s for that save", title, remaining / 1000)
            self.lease._retry_later(title, remaining)
            return False
        await self.lease.drop_intent(title)
        return True

    async def _caught_up(self, title: str, last: str) -> bool:
        deadline = time.monotonic() + CATCH_UP_S
        while not id_ge(self.store.applied.get(title, "0-0"), last):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or title not in self.registry.rooms:
                return False
            try:
                await asyncio.wait_for(self._progress.wait(), timeout=remaining)
            except TimeoutError:
                return False
        return True

    async def _redis_ms(self) -> int:
        seconds, micros = await self.redis.time()
        return int(seconds) * 1000 + int(micros) // 1000

    # ---- statuses and save requests ----------------------------------------------------------------------
    def publish_status(self, title: str, state: str, message: str, extra: dict[str, Any]) -> None:
        """Tell the other nodes' editors of ``title`` (in order with the page's updates)."""
        self.store.add_entry(title, "t", st=json.dumps({"state": state, "message": message, **extra}))

    async def request_save(self, title: str) -> int | None:
        """Ask the node holding the page's lease to save it now; its answer (bounded wait)."""
        request = uuid.uuid4().hex
        future: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self._requests[request] = future
        self.store.add_entry(title, "s", req=request)
        try:
            return await asyncio.wait_for(future, DELEGATE_TIMEOUT_S)
        except TimeoutError:
            log.warning("no node answered the save request for %r", title)
            return None
        finally:
            self._requests.pop(request, None)

    async def _answer_save(self, title: str, request: str) -> None:
        room = self.registry.rooms.get(title)
        revid: int | None = None
        error = ""
        if room is not None:
            try:
                revid = await self.commits.save_now(room)
            except WikiError as exc:
                error = json.dumps({"code": exc.code, "message": exc.message})
        self.store.add_entry(title, "S", req=request, revid="" if revid is None else str(revid), err=error)

    # ---- the Stream reader ---------------------------------------------------------------------------
    async def _read_loop(self) -> None:
        backoff = BACKOFF_MIN_S
        while True:
            streams = {key(t, "log"): pos for t, pos in self.store.applied.items() if t in self.registry.rooms}
            if not streams:
                self._reader_wake.clear()
                await self._reader_wake.wait()
                continue
            self._reading = self._reader_version
            try:
                result: Any = await self.blocking.xread(streams, count=READ_COUNT, block=READ_BLOCK_MS)  # type: ignore[arg-type]
            except (RedisError, OSError) as exc:
                log.warning("reading the page streams failed (%s); retrying in %.1f s", exc, backoff)
                self._reading = None
                await asyncio.sleep(backoff)  # capped exponential backoff while Redis is away
                backoff = min(BACKOFF_MAX_S, backoff * 2)
                try:
                    self._reader_id = await self.blocking.client_id()
                    await self._resync()
                except (RedisError, OSError):
                    pass  # still away; the next read reports it (and resyncs again)
                continue
            finally:
                self._reading = None
            backoff = BACKOFF_MIN_S
            batches = result.items() if isinstance(result, dict) else (result or [])
            for stream_key, entries in batches:
                title = title_of(stream_key)
                for entry_id, fields in entries:
                    await self._apply(title, _s(entry_id), fields)
            progress, self._progress = self._progress, asyncio.Event()
            progress.set()

    async def _resync(self) -> None:
        """After losing touch with Redis: merge every open page's snapshot and tail back in (a CRDT merge is
        idempotent: only what this node missed changes, and only that is relayed to its editors)."""
        for title in list(self.store.applied):
            reread = await self.store.reread(title)
            room = self.registry.rooms.get(title)
            if reread is None or room is None:
                continue
            updates, last = reread
            for update in updates:
                room.apply_update(update, PeerOrigin("resync"))
            if id_ge(last, self.store.applied.get(title, "0-0")):
                self.store.applied[title] = last
        log.info("node %s caught up with %d pages after losing touch with Redis", self.name, len(self.store.applied))

    async def _unblock_reader(self) -> None:
        """Make the blocked XREAD return so it picks up a newly opened page at once."""
        version = self._reader_version
        for _ in range(200):
            reading = self._reading
            if reading is None or reading >= version or self._reader_id is None:
                return
            try:
                if await self.redis.client_unblock(self._reader_id):
                    return
            except (RedisError, OSError):
                return
            await asyncio.sleep(0.005)  # the XREAD is still on its way to Redis: try again in a moment

    async def _apply(self, title: str, entry_id: str, fields: dict[bytes, bytes]) -> None:
        room = self.registry.rooms.get(title)
        if room is None:
            return
        self.store.applied[title] = entry_id
        node = _s(fields.get(b"n"))
        kind = fields.get(b"k", b"")
        if kind == b"S":
            self._answered(fields)
            return
        if node == self.node:
            return  # this node's own entry: already applied here
        if kind == b"u":
            user = _s(fields.get(b"a")) or None
            try:
                update = fields[b"u"]
                clients = p.check_update(update).starts if user is not None else ()  # whose tildes are whose
                room.apply_update(update, PeerOrigin(node, user), clients)
            except Exception:  # a node logged only validated updates; never let one stop the reader
                log.exception("could not apply entry %s of %r from %s", entry_id, title, node)
        elif kind == b"b":
            room.base = Base(
                int(fields[b"revid"]) if fields.get(b"revid") else None,
                _s(fields.get(b"text")),
                fields.get(b"state", b""),
                _s(fields.get(b"ts")) or None,
            )
        elif kind == b"a":
            authors = json.loads(fields.get(b"list", b"[]"))
            contributions = Contributions()
            for author in authors:
                contributions.authors.setdefault(author, None)
            if authors:
                contributions.changes = 1
                contributions.first_change_at = contributions.last_change_at = time.monotonic()
            room.contributions = contributions
        elif kind == b"r":
            self.store.learn_revision(title, fields.get(b"rec", b"{}"))
        elif kind == b"t" and self._status is not None:
            status = json.loads(fields.get(b"st", b"{}"))
            state, message = status.pop("state", "error"), status.pop("message", "")
            await self._status(title, state, message, **status)
        elif kind == b"s" and self.lease.holds(title):
            self.tasks.spawn(self._answer_save(title, _s(fields.get(b"req"))), name=f"save {title} for a peer")

    def _answered(self, fields: dict[bytes, bytes]) -> None:
        future = self._requests.get(_s(fields.get(b"req")))
        if future is None or future.done():
            return
        error = _s(fields.get(b"err"))
        if error:
            data = json.loads(error)
            future.set_exception(WikiError(data["message"], code=data["code"]))
        else:
            revid = _s(fields.get(b"revid"))
            future.set_result(int(revid) if revid else None)

    # ---- awareness over Pub/Sub -------------------------------------------------------------------------
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
        payload = _frame(self.node, b"q")  # who is there? (the others answer with their editors' states)
        self.writer.submit(lambda pipe: pipe.publish(channel, payload))

    def _on_awareness(self, room: PageRoom, topic: str, event: tuple[dict[str, Any], Any]) -> None:
        changes, origin = event
        if topic != "update" or isinstance(origin, PeerOrigin) or origin == "local":
            return
        ids = [*changes["added"], *changes["updated"], *changes["removed"]]
        if ids:
            self._publish_awareness(room.title, room.awareness.encode_awareness_update(ids))

    def _publish_awareness(self, title: str, update: bytes) -> None:
        channel, payload = key(title, "aw"), _frame(self.node, b"u", update)
        self.writer.submit(lambda pipe: pipe.publish(channel, payload))

    async def _listen_loop(self) -> None:
        backoff = BACKOFF_MIN_S
        while True:
            try:
                message = await self.pubsub.get_message(ignore_subscribe_messages=True, timeout=None)
            except (RedisError, OSError) as exc:
                log.warning("listening to Redis failed (%s); retrying in %.1f s", exc, backoff)
                await asyncio.sleep(backoff)  # capped exponential backoff while Redis is away
                backoff = min(BACKOFF_MAX_S, backoff * 2)
                continue
            backoff = BACKOFF_MIN_S
            if message is None or message.get("type") != "message":
                continue
            channel = _s(message["channel"])
            if not channel.endswith(":aw"):
                continue
            await self._on_peer_awareness(title_of(channel), message["data"])

    async def _on_peer_awareness(self, title: str, data: bytes) -> None:
        node, kind, payload = _unframe(data)
        room = self.registry.rooms.get(title)
        if node == self.node or room is None:
            return
        if kind == b"q":
            mine = [cid for ids in room.awareness_ids.values() for cid in ids if cid in room.awareness.states]
            if mine:
                self._publish_awareness(title, room.awareness.encode_awareness_update(mine))
            return
        if kind != b"u":
            return
        try:
            entries = p.check_awareness(payload)
            room.awareness.apply_awareness_update(payload, PeerOrigin(node))
        except Exception:  # a peer sends only what it validated; never let one message stop the listener
            log.exception("could not apply awareness of %r from %s", title, node)
            return
        self._remote_awareness.setdefault(title, {}).setdefault(node, set()).update(e.client_id for e in entries)
        if self._relay is not None:
            await self._relay(title, p.awareness_message(payload))

    async def _forget_node(self, node: str) -> None:
        """A node left (or died): remove the cursors of its editors everywhere here."""
        for title, by_node in self._remote_awareness.items():
            ids = by_node.pop(node, set())
            room = self.registry.rooms.get(title)
            present = [cid for cid in ids if room is not None and cid in room.awareness.states]
            if room is None or not present:
                continue
            room.awareness.remove_awareness_states(present, PeerOrigin(node))
            if self._relay is not None:
                await self._relay(title, p.awareness_message(room.awareness.encode_awareness_update(present)))

    # ---- presence, lease renewal, housekeeping ------------------------------------------------------------
    async def _maintain_loop(self) -> None:
        while True:
            try:
                await self._maintain()
            except (RedisError, OSError) as exc:
                log.warning("cluster housekeeping failed: %s", exc)
            await asyncio.sleep(min(PRESENCE_S, self.lease.ttl_ms / 3000))  # a heartbeat: periodic by nature

    async def _maintain(self) -> None:
        open_titles = set(self.registry.rooms)
        for title in list(self.lease.held):
            if title not in open_titles:
                await self.lease.release(title)
            else:
                await self.lease.renew(title)
        for title in [t for t in self.store.applied if t not in open_titles]:
            self.store.forget(title)
            self._remote_awareness.pop(title, None)
            channel = key(title, "aw")
            if channel in self._channels:
                self._channels.discard(channel)
                await self.pubsub.unsubscribe(channel)
        live = await self.publish_presence()
        for node in {n for by_node in self._remote_awareness.values() for n in by_node} - live:
            await self._forget_node(node)

    async def publish_presence(self) -> set[str]:
        """Publish this node's session rows (they expire unless refreshed); returns the live nodes' ids."""
        now = await self._redis_ms()
        ttl_ms = int(PRESENCE_S * 3000)
        rows = json.dumps(self._rows(), default=str)
        pipe = self.redis.pipeline(transaction=False)
        pipe.hset(f"{PREFIX}:node:{self.node}", mapping={"name": self.name, "rows": rows, "at": now})
        pipe.pexpire(f"{PREFIX}:node:{self.node}", ttl_ms)
        pipe.zadd(NODES_KEY, {self.node: now + ttl_ms})
        pipe.zremrangebyscore(NODES_KEY, "-inf", now)
        pipe.zrange(NODES_KEY, 0, -1)
        pipe.info("memory")
        results: list[Any] = await pipe.execute()
        self.used_memory = float(results[5].get("used_memory", 0))
        return {_s(n) for n in results[4]}

    # ---- for the admin view ----------------------------------------------------------------------------
    async def nodes(self) -> list[dict[str, Any]]:
        """Every live node: ``{"node": id, "name": "host:port", "at": epoch ms, "rows": [...]}``."""
        now = await self._redis_ms()
        found: list[Any] = await self.redis.zrangebyscore(NODES_KEY, now, "+inf")
        ids = [_s(n) for n in found]
        if not ids:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for node in ids:
            pipe.hgetall(f"{PREFIX}:node:{node}")
        out = []
        for node, fields in zip(ids, await pipe.execute(), strict=True):
            if fields:
                rows = json.loads(fields.get(b"rows", b"[]"))
                name, at = _s(fields.get(b"name")), int(fields.get(b"at", 0))
                out.append({"node": node, "name": name, "at": at, "rows": rows})
        return out

    async def sessions(self) -> list[dict[str, Any]]:
        """The session rows of every live node (each row names its node), as their nodes last published
        them (at most ~2 s old). The rows are whatever ``rows`` (see :meth:`bind`) returns on each node."""
        return [row for node in await self.nodes() for row in node["rows"]]


def _redacted(url: str) -> str:
    if "@" not in url:
        return url
    scheme, _, rest = url.partition("://")
    return f"{scheme}://***@{rest.rpartition('@')[2]}"
