"""How a node talks to Redis: one ordered, pipelined writer; capped backoff while Redis is away; its clock."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline
from redis.exceptions import RedisError

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


class Writer:
    """Sends Redis commands in the order they were submitted, pipelined, retrying with capped backoff
    when Redis is unreachable (STYLE habit 8). ``durable()`` returns once everything submitted before
    the call is stored."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis
        self._ops: list[Op] = []
        self._submitted = 0
        self._done = 0
        self._wake = asyncio.Event()
        self._flushed = asyncio.Event()
        self.healthy = True

    def submit(self, op: Op) -> None:
        """Queue commands (``op`` adds them to the pipeline of the batch that sends them)."""
        self._ops.append(op)
        self._submitted += 1
        self._wake.set()

    @property
    def backlog(self) -> int:
        return self._submitted - self._done

    async def durable(self) -> None:
        target = self._submitted
        while self._done < target:
            await self._flushed.wait()

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
            for op in batch:
                op(pipe)
            try:
                results = await pipe.execute(raise_on_error=False)
            except (RedisError, OSError) as exc:
                if self.healthy:
                    log.warning("cannot write to Redis (%s); %d writes wait, retrying", exc, self.backlog)
                self.healthy = False
                await backoff.wait()
                continue
            if not self.healthy:
                log.warning("writing to Redis again")
            backoff.reset()
            self.healthy = True
            for result in results:
                if isinstance(result, Exception):
                    log.error("a Redis write was refused: %s", result)
            del self._ops[: len(batch)]
            self._done += len(batch)
            flushed, self._flushed = self._flushed, asyncio.Event()
            flushed.set()
