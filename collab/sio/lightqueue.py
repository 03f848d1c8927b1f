"""A one-consumer queue for python-engineio's sockets, light enough to keep one per idle connection, that
counts the bytes it holds and refuses to hold more than a limit."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any


def _size(item: Any) -> int:
    """The bytes an Engine.IO packet holds (its payload; ``None``, the writer's stop mark, holds none)."""
    data = getattr(item, "data", None)
    return len(data) if isinstance(data, str | bytes | bytearray) else 0


class LightQueue:
    """``asyncio.Queue`` as python-engineio uses it (one consumer), in a list: an idle connection's queue
    costs ~100 bytes instead of ~2.4 KB (asyncio.Queue holds four deques of ~600 bytes each).

    With a ``limit`` (bytes, 0: none), a packet that would take the bytes held past it **overflows** the
    queue instead: everything queued is dropped, ``on_overflow(bytes it would have held)`` is called once,
    and from then on only ``None`` (the writer's stop mark) is queued: the connection is being cut off,
    and whatever it was sent it would never read.
    """

    __slots__ = ("_done", "_getter", "_head", "_items", "_unfinished", "limit", "nbytes", "on_overflow", "overflowed")

    def __init__(self, limit: int = 0) -> None:
        self._items: list[Any] = []
        self._head = 0
        self._getter: asyncio.Future[None] | None = None
        self._unfinished = 0
        self._done: asyncio.Event | None = None
        self.limit = limit
        self.nbytes = 0
        self.overflowed = False
        self.on_overflow: Callable[[int], None] | None = None

    def empty(self) -> bool:
        return self._head >= len(self._items)

    def qsize(self) -> int:
        return len(self._items) - self._head

    def put_nowait(self, item: Any) -> None:
        if item is not None:
            if self.overflowed:
                return
            size = _size(item)
            if self.limit and self.nbytes + size > self.limit:
                self._overflow(self.nbytes + size)
                return
            self.nbytes += size
        self._items.append(item)
        self._unfinished += 1
        getter = self._getter
        if getter is not None and not getter.done():
            getter.set_result(None)

    async def put(self, item: Any) -> None:
        self.put_nowait(item)

    def get_nowait(self) -> Any:
        if self.empty():
            raise asyncio.QueueEmpty()
        item = self._items[self._head]
        self._head += 1
        if item is not None:
            self.nbytes -= _size(item)
        if self._head == len(self._items):
            self._items.clear()
            self._head = 0
        elif self._head > 64 and self._head * 2 > len(self._items):
            del self._items[: self._head]
            self._head = 0
        return item

    async def get(self) -> Any:
        while self.empty():
            self._getter = asyncio.get_running_loop().create_future()
            try:
                await self._getter
            finally:
                self._getter = None
        return self.get_nowait()

    def task_done(self) -> None:
        self._unfinished -= 1
        if self._unfinished <= 0 and self._done is not None:
            self._done.set()

    async def join(self) -> None:
        if self._unfinished > 0:
            if self._done is None or self._done.is_set():
                self._done = asyncio.Event()
            await self._done.wait()

    def _overflow(self, would_hold: int) -> None:
        """Drop everything queued (nobody will ``task_done`` it: whoever waits on :meth:`join` is released)."""
        self.overflowed = True
        self._unfinished -= len(self._items) - self._head
        self._items.clear()
        self._head = 0
        self.nbytes = 0
        if self._unfinished <= 0 and self._done is not None:
            self._done.set()
        if self.on_overflow is not None:
            self.on_overflow(would_hold)
