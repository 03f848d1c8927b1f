"""How a node talks to Redis: one ordered, pipelined writer; capped backoff while Redis is away; its clock."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline
from redis.exceptions import (
    BusyLoadingError,
    ClusterDownError,
    MasterDownError,
    OutOfMemoryError,
    ReadOnlyError,
    RedisError,
    TryAgainError,
)

from ..errors import StoreUnavailable

log = logging.getLogger(__name__)

MAX_BATCH = 512
BACKOFF_MIN_S = 0.1
BACKOFF_MAX_S = 5.0

Op = Callable[[Pipeline], object]  # queues commands on the pipeline


class Backoff:
    """Capped exponential backoff while Redis is away (STYLE habit 8)."""

    def __init__(self) -> None:
        self.delay_s = BACKOFF_MIN_S

    async def wait(self) -> None:
        """Sleep the current delay, and double it for next time (up to the cap)."""
        await asyncio.sleep(self.delay_s)
        self.delay_s = min(BACKOFF_MAX_S, self.delay_s * 2)

    def reset(self) -> None:
        """Redis answered: start from the shortest delay again."""
        self.delay_s = BACKOFF_MIN_S


async def server_ms(redis: aioredis.Redis) -> int:
    """Redis' clock in epoch ms (the one clock every node shares)."""
    seconds, micros = await redis.time()
    return int(seconds) * 1000 + int(micros) // 1000


# Refusals that last only as long as a condition of the server (memory, a failover, loading, a busy script):
# the commands are kept and sent again. Any other refusal (a wrong type, a bug) would fail forever: dropped.
TRANSIENT = (OutOfMemoryError, ReadOnlyError, BusyLoadingError, MasterDownError, TryAgainError, ClusterDownError)
TRANSIENT_CODES = ("OOM", "READONLY", "LOADING", "BUSY", "MASTERDOWN", "MISCONF", "NOREPLICAS", "TRYAGAIN")


def transient(error: Exception) -> bool:
    """Whether a per-command refusal may go away by itself (then the command is sent again)."""
    return isinstance(error, TRANSIENT) or str(error).startswith(TRANSIENT_CODES)


class Writer:
    """Sends Redis commands in the order they were submitted, pipelined, retrying with capped backoff
    when Redis is unreachable or refuses a write for a while (STYLE habit 8).

    A refused write is a failure, never counted as stored: Redis answers each command of a pipeline on its own,
    so a command refused with ``OOM`` (``maxmemory`` under ``noeviction``) or ``READONLY`` (a replica after a
    failover) is kept, with everything submitted after it, in order, and sent again after a backoff; while that
    lasts the writer is not ``healthy`` and :meth:`durable` raises. Sending again may store a command twice
    (the ones after the refused one that went through): every write here tolerates it (updates are idempotent,
    the scripts check before they act). ``on_writable`` hooks run when writes go through again.
    """

    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis
        self._ops: list[Op] = []
        self._submitted = 0
        self._done = 0
        self._last_dropped = 0  # the sequence number of the last command refused for good
        self._progress = asyncio.Event()  # set after each attempt to send a batch
        self._wake = asyncio.Event()
        self.healthy = True
        self.refusal: str | None = None  # why the last attempt failed, while not healthy
        self.on_writable: list[Callable[[], None]] = []

    def submit(self, op: Op) -> None:
        """Queue commands (``op`` adds them to the pipeline of the batch that sends them)."""
        self._ops.append(op)
        self._submitted += 1
        self._wake.set()

    @property
    def backlog(self) -> int:
        return self._submitted - self._done

    async def durable(self) -> None:
        """Return once everything submitted before the call is stored.

        Raises:
            StoreUnavailable: Redis refuses writes (or cannot be reached) now; what was submitted stays queued
                and is sent again, but the caller must not count on it (nor show it to anyone) yet.
        """
        start, target = self._done, self._submitted
        while self._done < target:
            if not self.healthy:
                raise StoreUnavailable(f"Redis does not store writes now ({self.refusal})")
            await self._progress.wait()  # (a new event per attempt: every waiter wakes, then checks again)
        if self._last_dropped > start:
            raise StoreUnavailable("Redis refused a write for good (see the log)")

    async def run(self) -> None:
        """Send forever (cancel to stop)."""
        backoff = Backoff()
        while True:
            if not self._ops:
                self._wake.clear()
                await self._wake.wait()
                continue
            batch = self._ops[:MAX_BATCH]
            pipe = self.redis.pipeline(transaction=False)
            ends: list[int] = []  # how many commands the pipeline holds after each op
            for op in batch:
                op(pipe)
                ends.append(len(pipe.command_stack))
            try:
                results = await pipe.execute(raise_on_error=False)
            except (RedisError, OSError) as exc:
                self._refused(f"cannot reach Redis: {exc}")
                self._attempted()
                await backoff.wait()
                continue
            stored, refusal = self._settle(batch, ends, results)
            del self._ops[:stored]
            self._done += stored
            if refusal is not None:
                self._refused(refusal)
                self._attempted()
                await backoff.wait()
                continue
            backoff.reset()
            if not self.healthy:
                log.warning("Redis stores writes again (%d waited)", stored)
                self.healthy, self.refusal = True, None
                self._attempted()
                for hook in self.on_writable:
                    hook()
            else:
                self._attempted()

    def _settle(self, batch: list[Op], ends: list[int], results: list[object]) -> tuple[int, str | None]:
        """How many ops of ``batch``, from its start, are done (stored, or refused for good and dropped), and
        why the next one was refused for now (None: all of them are done)."""
        begin = 0
        for n, end in enumerate(ends):
            errors = [r for r in results[begin:end] if isinstance(r, Exception)]
            begin = end
            if any(transient(e) for e in errors):
                return n, f"a write was refused: {errors[0]}"
            if errors:
                log.error("Redis refused a write for good, dropped: %s", "; ".join(map(str, errors)))
                self._last_dropped = self._done + n + 1
        return len(batch), None

    def _refused(self, why: str) -> None:
        if self.healthy:
            log.warning("Redis does not store writes (%s); %d writes wait, sent again until it does", why,
                        self.backlog)  # fmt: skip
        else:
            log.debug("Redis still does not store writes (%s)", why)
        self.healthy, self.refusal = False, why

    def _attempted(self) -> None:
        progress, self._progress = self._progress, asyncio.Event()
        progress.set()
