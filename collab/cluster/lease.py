"""One committer per page: the commit lease in Redis, its fencing, the save intent, and when to look again.

``collab:{T}:lease`` holds ``<node>#<token>`` with a TTL; the token comes from a per-page counter, so every
grant has a fresh value and every fenced write (base, co-authors, the pre-save check) compares the whole
value: a node that lost the lease cannot write with it any more. The last check before calling the wiki
(:meth:`ClusterLease.confirm`) is atomic and records the save about to be made (:class:`Intent`), so a
node taking over after a crash can tell whether that save landed (``takeover``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from ..errors import StoreUnavailable
from ..lease import SaveIntent
from .codec import int_arg, int_of
from .keys import key, text

log = logging.getLogger(__name__)

# How long a save may take at most (the wiki gateway's timeouts and retries). A node taking over a page whose
# last holder died mid-save waits this long for that save to show up before saving itself: MediaWiki has no
# fencing token, and a late save of older text would otherwise overwrite newer text.
SAVE_DEADLINE_MS = 180_000

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
           'intent_authors', ARGV[7], 'intent_summary', ARGV[8])
return 1
"""
RELEASE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])
"""
DROP_INTENT = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('HDEL', KEYS[2], 'intent_state', 'intent_text', 'intent_baserevid', 'intent_deadline_ms',
                  'intent_authors', 'intent_summary')
"""
INTENT_FIELDS = [
    "intent_state",
    "intent_text",
    "intent_baserevid",
    "intent_deadline_ms",
    "intent_authors",
    "intent_summary",
]


@dataclass
class Intent(SaveIntent):
    """A save the lease holder was about to make (recorded atomically with the last lease check), and by when
    it would have landed at the latest."""

    deadline_ms: int = 0


class LeaseOwner(Protocol):
    """What the lease asks of the node it belongs to (the :class:`~collab.cluster.Cluster`)."""

    async def take_over(self, title: str) -> int | None:
        """This node just got the page's lease: bring the page up to date before it saves anything.
        None when ready; else how many ms to wait before looking again (meanwhile nobody saves)."""
        ...

    async def request_save(self, title: str) -> int | None:
        """Ask the node holding the page's lease to save it now; the revid it saved."""
        ...

    def lease_expired(self, title: str) -> None:
        """The lease another node held would have expired by now (that node may have died)."""
        ...


class ClusterLease:
    """The commit lease of each page (implements :class:`collab.lease.CommitLease`)."""

    def __init__(
        self,
        redis: aioredis.Redis,
        owner: LeaseOwner,
        *,
        node: str,
        name: str,
        ttl_s: float,
        durable: Callable[[], Awaitable[None]],
    ) -> None:
        self.owner = owner
        self.node = node
        self.name = name
        self.ttl_ms = int(ttl_s * 1000)
        self.durable = durable  # the node's queued writes are stored (Writer.durable)
        self._redis = redis
        self._held: dict[str, tuple[str, float]] = {}  # title -> (value, local expiry, monotonic)
        self._retries: dict[str, asyncio.TimerHandle] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._settled: set[str] = set()  # held, and taken over: the page is up to date
        self._acquire = redis.register_script(ACQUIRE)
        self._renew = redis.register_script(RENEW)
        self._confirm = redis.register_script(CONFIRM)
        self._release = redis.register_script(RELEASE)
        self._drop_intent = redis.register_script(DROP_INTENT)

    def value_of(self, title: str) -> str | None:
        """This node's lease value of the page (for fenced writes), if it holds the lease."""
        held = self._held.get(title)
        return held[0] if held else None

    def holds(self, title: str) -> bool:
        """Whether this node holds the page's lease (and it has not expired by the local clock)."""
        held = self._held.get(title)
        return held is not None and time.monotonic() < held[1]

    def _fresh(self, title: str) -> bool:
        held = self._held.get(title)
        return held is not None and time.monotonic() < held[1] - self.ttl_ms / 3000

    async def acquire(self, title: str) -> bool:
        if self._fresh(title) and title in self._settled:
            return True  # held, far from expiring: the check that matters is confirm(), before the wiki
        lock = self._locks.setdefault(title, asyncio.Lock())
        async with lock:  # one taker at a time: a take-over (and its adoption of a save) must run once
            return await self._acquire_locked(title)

    async def _acquire_locked(self, title: str) -> bool:
        try:
            if not (self._fresh(title) or (title in self._held and await self.renew(title))):
                started = time.monotonic()
                got, value, pttl = await self._acquire(
                    keys=[key(title, "lease"), key(title, "fence")], args=[self.node, self.ttl_ms]
                )
                value = text(value)
                if not got and not value.startswith(self.node + "#"):
                    self._retry_later(title, int(pttl))
                    return False
                self._held[title] = (value, started + int(pttl) / 1000)
                self._settled.discard(title)
                log.info("node %s holds the commit lease of %r (%s)", self.name, title, value)
            if title not in self._settled:
                # Not before the page is up to date and the last holder's save is settled (it may take a
                # while: meanwhile this node keeps the lease, so nobody else saves either).
                wait_ms = await self.owner.take_over(title)
                if wait_ms is not None:
                    self._retry_later(title, wait_ms)
                    return False
                self._settled.add(title)
            return True
        except (RedisError, OSError) as exc:
            log.warning("cannot ask Redis for the commit lease of %r: %s", title, exc)
            self._retry_later(title, self.ttl_ms)
            return False

    async def renew(self, title: str) -> bool:
        """Extend the lease if still ours (False: lost)."""
        held = self._held.get(title)
        if held is None:
            return False
        started = time.monotonic()
        if await self._renew(keys=[key(title, "lease")], args=[held[0], self.ttl_ms]):
            self._held[title] = (held[0], started + self.ttl_ms / 1000)
            return True
        self._lost(title)
        return False

    async def confirm(self, title: str, intent: SaveIntent) -> bool:
        held = self._held.get(title)
        if held is None:
            return False
        try:
            # The previous save's base must be stored before this save's intent replaces it (fenced, in order).
            await self.durable()
            started = time.monotonic()
            ok = await self._confirm(
                keys=[key(title, "lease"), key(title, "page")],
                args=[
                    held[0],
                    self.ttl_ms,
                    intent.state,
                    intent.text,
                    int_arg(intent.baserevid),
                    SAVE_DEADLINE_MS,
                    json.dumps(intent.authors),
                    intent.summary,
                ],
            )
        except (RedisError, OSError, StoreUnavailable) as exc:
            log.warning("cannot confirm the commit lease of %r (%s): not saving now", title, exc)
            self._retry_later(title, self.ttl_ms)
            return False
        if ok:
            self._held[title] = (held[0], started + self.ttl_ms / 1000)
            return True
        self._lost(title)
        return False

    async def delegate(self, title: str) -> int | None:
        return await self.owner.request_save(title)

    async def release(self, title: str) -> None:
        """Hand the lease back (the page unloaded here, or the node is leaving)."""
        lock = self._locks.get(title)
        if lock is not None and not lock.locked():
            del self._locks[title]
        self._settled.discard(title)
        held = self._held.pop(title, None)
        if held is not None:
            await self._release(keys=[key(title, "lease")], args=[held[0]])
            log.info("node %s released the commit lease of %r", self.name, title)

    async def maintain(self, open_titles: set[str]) -> None:
        """Renew the leases of the pages open here, hand back the others (a heartbeat, every third of the TTL)."""
        for title in list(self._held):
            if title in open_titles:
                await self.renew(title)
            else:
                await self.release(title)

    async def release_all(self) -> None:
        """Hand back every lease (the node is leaving, after its last saves)."""
        for title in list(self._held):
            await self.release(title)

    # ---- the save intent ---------------------------------------------------------------------------
    async def intent(self, title: str) -> Intent | None:
        """The save the page's holder (this node, or the last one) was about to make, if not settled."""
        fields = await self._redis.hmget(key(title, "page"), INTENT_FIELDS)
        state, intent_text, baserevid, deadline, authors, summary = fields
        if not isinstance(state, bytes):
            return None
        authors_list = json.loads(text(authors) or "[]")
        deadline_ms = int(text(deadline) or 0)
        return Intent(state, text(intent_text), int_of(baserevid), authors_list, text(summary), deadline_ms=deadline_ms)

    async def drop_intent(self, title: str) -> None:
        """Forget the page's save (settled, or it never landed), fenced by this node's lease; after the writes
        queued so far (the new base) are stored, so a crash in between leaves the intent, never neither."""
        held = self._held.get(title)
        if held is not None:
            await self.durable()
            await self._drop_intent(keys=[key(title, "lease"), key(title, "page")], args=[held[0]])

    # ---- losing it, looking again ------------------------------------------------------------------
    def _lost(self, title: str) -> None:
        self._settled.discard(title)
        if self._held.pop(title, None) is not None:
            log.warning("node %s lost the commit lease of %r", self.name, title)

    def _retry_later(self, title: str, delay_ms: int) -> None:
        """Another node holds the lease (or the page is not ready): look again when it would have expired."""
        if title in self._retries:
            return
        loop = asyncio.get_running_loop()
        delay = max(0.05, delay_ms / 1000) + 0.05
        self._retries[title] = loop.call_later(delay, self._retry, title)

    def _retry(self, title: str) -> None:
        self._retries.pop(title, None)
        self.owner.lease_expired(title)

    def close(self) -> None:
        """Cancel the scheduled looks."""
        for handle in self._retries.values():
            handle.cancel()
        self._retries.clear()
