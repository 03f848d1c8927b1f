"""The only Socket.IO module: translates events into registry/room/commit calls and back.

Per connection: the cookie it arrived with (forwarded to the wiki to learn who it is), the pages it
joined and whether each is read-only, the awareness ids it announced, and a strike count for bad input.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import socketio

from . import protocol as p
from .errors import CollabError, InvalidTitle, ProtocolError, WikiUnavailable
from .registry import Registry
from .room import ClientOrigin, Origin, PageRoom
from .tasks import TaskSet
from .wiki import WikiGateway

log = logging.getLogger(__name__)

MAX_TITLE_CHARS = 512
# Characters MediaWiki never allows in a title; "|" would also split an API titles= list in two.
ILLEGAL_TITLE_CHARS = frozenset("#<>[]|{}") | frozenset(chr(c) for c in range(32)) | {"\x7f"}
MAX_STRIKES = 25


class Committer(Protocol):
    """What the server needs from the commit policy (implemented by commit.CommitManager)."""

    def changed(self, room: PageRoom) -> None: ...
    def last_left(self, room: PageRoom) -> None: ...
    async def save_now(self, room: PageRoom) -> int | None: ...


@dataclass
class Joined:
    readonly: bool
    reason: str | None
    joined_at: float = field(default_factory=time.time)
    last_active: float = field(default_factory=time.time)


@dataclass
class Connection:
    sid: str
    cookie: str | None
    ip: str
    user: str = ""
    anonymous: bool = True
    pages: dict[str, Joined] = field(default_factory=dict)
    strikes: int = 0
    connected_at: float = field(default_factory=time.time)


def room_key(title: str) -> str:
    return "page:" + title


class CollabServer:
    """Socket.IO event handlers for the default namespace."""

    def __init__(
        self,
        sio: socketio.AsyncServer,
        registry: Registry,
        wiki: WikiGateway,
        committer: Committer,
        tasks: TaskSet,
        *,
        max_message_bytes: int,
    ) -> None:
        self.sio = sio
        self.registry = registry
        self.wiki = wiki
        self.committer = committer
        self.tasks = tasks
        self.max_message_bytes = max_message_bytes
        self.connections: dict[str, Connection] = {}
        registry.on_loaded.append(self._attach_relay)
        sio.on("connect", self.on_connect)
        sio.on("disconnect", self.on_disconnect)
        sio.on(p.EVENT_JOIN, self.on_join)
        sio.on(p.EVENT_LEAVE, self.on_leave)
        sio.on(p.EVENT_Y, self.on_y)
        sio.on(p.EVENT_SAVE, self.on_save)

    # ---- connection lifecycle --------------------------------------------------------------------
    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> bool:
        ip = str(environ.get("REMOTE_ADDR", ""))
        self.connections[sid] = Connection(sid=sid, cookie=environ.get("HTTP_COOKIE"), ip=ip)
        log.debug("connect sid=%s ip=%s", sid, ip)
        return True

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        conn = self.connections.pop(sid, None)
        if conn is None:
            return
        for title in list(conn.pages):
            await self._leave(conn, title)
        log.debug("disconnect sid=%s user=%s (%s)", sid, conn.user, reason)

    # ---- join / leave ----------------------------------------------------------------------------
    async def on_join(self, sid: str, title: Any = None) -> dict[str, Any]:
        conn = self.connections.get(sid)
        if conn is None:
            return p.error("internal", "unknown connection")
        if not isinstance(title, str) or not title.strip() or len(title) > MAX_TITLE_CHARS:
            return p.error("invalidtitle", "join takes a page title (a non-empty string)")
        if bad := sorted(ILLEGAL_TITLE_CHARS.intersection(title)):
            return p.error("invalidtitle", f"a page title cannot contain {' '.join(map(repr, bad))}")
        try:
            access = await self.wiki.access(title, conn.cookie)
            room = await self.registry.open(access.title)
        except InvalidTitle as exc:
            return p.error("invalidtitle", exc.message)
        except WikiUnavailable as exc:
            return p.error("wikiunavailable", f"the wiki cannot be reached: {exc.message}")
        except CollabError as exc:
            return p.error(exc.code if exc.code in p.ERROR_CODES else "internal", exc.message)
        conn.user, conn.anonymous = access.user, access.anonymous
        readonly = not access.can_edit
        reason = access.reason if readonly else None
        conn.pages[room.title] = Joined(readonly, reason)
        await self.sio.enter_room(sid, room_key(room.title))
        log.info("join page=%r user=%s sid=%s readonly=%s", room.title, conn.user, sid, readonly)
        # The step 1 and awareness go out after the ack (the client routes them by the ack's title).
        self.tasks.spawn(self._greet(sid, room, readonly, reason), name=f"greet {sid}")
        return {"ok": True, "title": room.title, "revid": room.base.revid, "readonly": readonly}

    async def _greet(self, sid: str, room: PageRoom, readonly: bool, reason: str | None) -> None:
        await self._send_y(sid, room.title, p.sync_step1(room.state_vector()))
        snapshot = room.awareness_snapshot()
        if snapshot is not None:
            await self._send_y(sid, room.title, p.awareness_message(snapshot))
        if readonly:
            await self.status(sid, room.title, "readonly", f"read-only: {reason or 'you may not edit this page'}")

    async def on_leave(self, sid: str, title: Any = None) -> dict[str, Any]:
        conn = self.connections.get(sid)
        if conn is None or not isinstance(title, str) or title not in conn.pages:
            return p.error("notjoined", f"not joined to {title!r}")
        await self._leave(conn, title)
        return {"ok": True}

    async def _leave(self, conn: Connection, title: str) -> None:
        conn.pages.pop(title, None)
        await self.sio.leave_room(conn.sid, room_key(title))
        room = self.registry.rooms.get(title)
        if room is None:
            return
        removal = room.forget_connection(conn.sid)
        if removal is not None:
            await self._broadcast(room.title, p.awareness_message(removal), skip_sid=conn.sid)
        if not self.editors(title):
            self.committer.last_left(room)

    def editors(self, title: str) -> list[Connection]:
        return [c for c in self.connections.values() if title in c.pages]

    # ---- messages --------------------------------------------------------------------------------
    async def on_y(self, sid: str, title: Any = None, msg: Any = None) -> None:
        conn = self.connections.get(sid)
        if conn is None:
            return
        if not isinstance(title, str) or title not in conn.pages:
            await self._strike(conn, title if isinstance(title, str) else "", "notjoined", "join the page first")
            return
        room = self.registry.rooms.get(title)
        if room is None:
            await self._strike(conn, title, "notjoined", "the page is not open; join again")
            return
        joined = conn.pages[title]
        joined.last_active = time.time()
        try:
            if isinstance(msg, bytes | bytearray) and len(msg) > self.max_message_bytes:
                raise ProtocolError(f"message of {len(msg)} bytes exceeds the limit", code="toolarge")
            message = p.parse_message(msg)
            await self._handle(conn, joined, room, message)
        except ProtocolError as exc:
            await self._strike(conn, title, exc.code, exc.message)
        except Exception as exc:  # Yrs raises plain exceptions for bytes it cannot decode
            log.info("dropped a message from sid=%s on %r: %s: %s", sid, title, type(exc).__name__, exc)
            await self._strike(conn, title, "badmessage", f"the message could not be applied: {type(exc).__name__}")

    async def _handle(self, conn: Connection, joined: Joined, room: PageRoom, message: p.Message) -> None:
        kind = message.kind
        if kind == "step1":
            p.check_state_vector(message.payload)
            await self._send_y(conn.sid, room.title, p.sync_step2(room.update_since(message.payload)))
        elif kind in ("step2", "update"):
            if joined.readonly:
                await self.status(conn.sid, room.title, "readonly", f"your change was not applied: {joined.reason}")
                return
            info = p.check_update(message.payload)
            for client, start in info.starts.items():
                if start > room.known_clock(client):
                    # A gap: Yrs would integrate what Yjs holds pending (divergence). Ask for the history.
                    await self._send_y(conn.sid, room.title, p.sync_step1(room.state_vector()))
                    raise ProtocolError("update depends on changes the server has not seen; resyncing")
            room.apply_update(message.payload, ClientOrigin(conn.sid, conn.user))
        elif kind == "awareness":
            entries = p.check_awareness(message.payload)
            room.awareness_ids.setdefault(conn.sid, set()).update(e.client_id for e in entries)
            room.awareness.apply_awareness_update(message.payload, conn.sid)
            await self._broadcast(room.title, p.awareness_message(message.payload), skip_sid=conn.sid)
        elif kind == "query":
            snapshot = room.awareness_snapshot()
            if snapshot is not None:
                await self._send_y(conn.sid, room.title, p.awareness_message(snapshot))

    async def on_save(self, sid: str, title: Any = None) -> dict[str, Any]:
        conn = self.connections.get(sid)
        if conn is None or not isinstance(title, str) or title not in conn.pages:
            return p.error("notjoined", f"not joined to {title!r}")
        if conn.pages[title].readonly:
            return p.error("readonly", "read-only editors cannot save")
        room = self.registry.rooms.get(title)
        if room is None:
            return p.error("notjoined", "the page is not open")
        try:
            revid = await self.committer.save_now(room)
        except CollabError as exc:
            return p.error(exc.code if exc.code in p.ERROR_CODES else "saveerror", exc.message)
        return {"ok": True, "revid": revid}

    # ---- relay -----------------------------------------------------------------------------------
    def _attach_relay(self, room: PageRoom) -> None:
        title = room.title

        def relay(update: bytes, origin: Origin) -> None:
            skip = origin.sid if isinstance(origin, ClientOrigin) else None
            self.tasks.spawn(self._broadcast(title, p.sync_update(update), skip_sid=skip), name="relay")
            if isinstance(origin, ClientOrigin):
                self.committer.changed(room)

        room.listeners.append(relay)

    async def _broadcast(self, title: str, msg: bytes, skip_sid: str | None = None) -> None:
        await self.sio.emit(p.EVENT_Y, (title, msg), room=room_key(title), skip_sid=skip_sid)

    async def _send_y(self, sid: str, title: str, msg: bytes) -> None:
        await self.sio.emit(p.EVENT_Y, (title, msg), to=sid)

    async def status(self, sid: str, title: str, state: str, message: str, **extra: Any) -> None:
        await self.sio.emit(p.EVENT_STATUS, (title, {"state": state, "message": message, **extra}), to=sid)

    async def broadcast_status(self, title: str, state: str, message: str, **extra: Any) -> None:
        payload = {"state": state, "message": message, **extra}
        await self.sio.emit(p.EVENT_STATUS, (title, payload), room=room_key(title))

    async def remove(self, sid: str, title: str, reason: str) -> None:
        """End ``title`` for one connection (e.g. the user was blocked)."""
        conn = self.connections.get(sid)
        if conn is None or title not in conn.pages:
            return
        await self.status(sid, title, "removed", reason)
        await self._leave(conn, title)

    async def _strike(self, conn: Connection, title: str, code: str, message: str) -> None:
        conn.strikes += 1
        await self.status(conn.sid, title, "error", message, code=code)
        if conn.strikes >= MAX_STRIKES:
            log.warning("disconnecting sid=%s user=%s after %d bad messages", conn.sid, conn.user, conn.strikes)
            await self.sio.disconnect(conn.sid)
