"""One node's connection handling in-process: :class:`collab.session.Sessions` with a real registry, store
and relay, the fake wiki, a recording wire and a recording committer; no Socket.IO, no network."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from collab import protocol as p
from collab.auth import Authorizer
from collab.errors import CollabError
from collab.limits import Limits
from collab.registry import Registry
from collab.relay import Relay
from collab.room import PageRoom
from collab.session import Sessions
from collab.store import SQLiteStore
from collab.tasks import TaskSet
from tests.support.fakewiki import FakeWiki
from tests.support.wire import RecordingWire


class RecordingCommitter:
    """The commit policy as the sessions see it: records each last leave; ``save_now`` answers ``revid``
    (or raises ``error``)."""

    def __init__(self) -> None:
        self.last_left_rooms: list[PageRoom] = []
        self.saves: list[str] = []
        self.options: list[tuple[p.SaveOptions | None, str]] = []
        self.revid: int | None = 7
        self.error: CollabError | None = None

    def last_left(self, room: PageRoom) -> None:
        self.last_left_rooms.append(room)

    async def save_now(self, room: PageRoom, options: p.SaveOptions | None = None, *, user: str = "") -> int | None:
        self.saves.append(room.title)
        self.options.append((options, user))
        if self.error is not None:
            raise self.error
        return self.revid


class Node:
    """Sessions wired as ``collab.app`` wires them. The wiki knows ``alice-cookie`` (Alice) and
    ``bob-cookie`` (Bob) and holds ``Page`` ("hello", revision 1)."""

    def __init__(self, tmp: Path, *, limits: Limits | None = None, **authorizer: Any) -> None:
        self.wiki = FakeWiki(sessions={"alice-cookie": "Alice", "bob-cookie": "Bob"})
        self.wiki.edit("Page", "hello")
        self.store = SQLiteStore(tmp)
        self.registry = Registry(self.store, self.wiki)
        self.tasks = TaskSet()
        self.wire = RecordingWire()
        self.relay = Relay(self.registry, self.wire, self.tasks)
        self.sessions = Sessions(
            self.registry,
            self.wiki,
            self.relay,
            self.wire,
            self.tasks,
            authorizer=Authorizer(self.wiki, **authorizer),
            limits=limits or Limits(),
        )
        self.committer = RecordingCommitter()
        self.sessions.committer = self.committer

    async def connect(self, sid: str, cookie: str | None = None, *, ip: str = "10.0.0.1") -> bool:
        return await self.sessions.connect(sid, remote=ip, forwarded_for=None, cookie=cookie, auth=None)

    async def join(self, sid: str, title: str = "Page", cookie: str | None = None) -> dict[str, Any]:
        """Connect ``sid`` (unless it is) and join ``title``; the join's ack, once the greeting was sent."""
        if sid not in self.sessions.connections:
            assert await self.connect(sid, cookie)
        ack = await self.sessions.join(sid, title)
        await self.drained()
        return ack

    async def send(self, sid: str, msg: bytes, title: str = "Page") -> None:
        """One y-protocol message from ``sid``, and whatever it set off."""
        await self.sessions.y(sid, title, msg)
        await self.drained()

    async def update(self, sid: str, update: bytes, title: str = "Page") -> None:
        await self.send(sid, p.sync_update(update), title)

    def room(self, title: str = "Page") -> PageRoom:
        return self.registry.rooms[title]

    async def drained(self) -> None:
        """Wait until the greetings and the relay have sent everything."""
        await asyncio.wait_for(self.tasks.idle(), timeout=5)

    async def close(self) -> None:
        await self.tasks.cancel_all()
        self.store.close()
