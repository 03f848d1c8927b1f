"""The only Socket.IO module: translates events into registry/room/commit calls and back.

Per connection: the cookie it arrived with (forwarded to the wiki to learn who it is), the pages it
joined and whether each is read-only, the awareness ids it announced, and a strike count for bad input.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import engineio
import socketio
from pycrdt import merge_updates

from .. import protocol as p
from ..auth import (
    SAVE_COST,
    Authorizer,
    Budget,
    Grant,
    Identity,
    Limiter,
    Limits,
    Network,
    Refused,
    client_ip,
)
from ..auth import text_bytes_after as _text_bytes_after
from ..errors import CollabError, InvalidTitle, ProtocolError, WikiError, WikiUnavailable
from ..events import Observer
from ..registry import Registry
from ..room import ClientOrigin, Origin, PageRoom
from ..tasks import TaskSet
from ..wiki import Wiki
from .transport import LeanServer, encoded, encoded_y

log = logging.getLogger(__name__)

MAX_TITLE_CHARS = 512
# Characters MediaWiki never allows in a title; "|" would also split an API titles= list in two.
ILLEGAL_TITLE_CHARS = frozenset("#<>[]|{}") | frozenset(chr(c) for c in range(32)) | {"\x7f"}
MAX_STRIKES = 25
RECHECK_CONCURRENCY = 8  # wiki requests in flight during a re-check sweep


# A queued broadcast: event, arguments, sid to skip, when it was queued, and the update it carries (or None).
Outgoing = tuple[str, tuple[Any, ...], str | None, float, bytes | None]


def _coalesce(title: str, box: list[Outgoing]) -> list[tuple[str, tuple[Any, ...], str | None, list[float]]]:
    """Merge each run of consecutive updates with the same sender into one (one message per run instead of
    one per keystroke when a client sends faster than the relay drains). Order is kept; statuses and other
    messages are never merged or moved."""
    out: list[tuple[str, tuple[Any, ...], str | None, list[float]]] = []
    run: list[bytes] = []
    times: list[float] = []
    skip: str | None = None

    def flush() -> None:
        if run:
            update = run[0] if len(run) == 1 else merge_updates(*run)
            out.append((p.EVENT_Y, (title, p.sync_update(update)), skip, list(times)))
            run.clear()
            times.clear()

    for event, args, sid, at, update in box:
        if update is not None and (not run or sid == skip):
            run.append(update)
            times.append(at)
            skip = sid
            continue
        flush()
        if update is not None:
            run.append(update)
            times.append(at)
            skip = sid
        else:
            out.append((event, args, sid, [at]))
    flush()
    return out


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
    resync: bool = False  # messages were dropped by the rate limit: ask the client for them again
    resend_state: bool = False  # ... and one was its sync step 1: send it our state too


@dataclass
class Connection:
    sid: str
    cookie: str | None = field(repr=False)  # a secret: forwarded to the wiki only, never logged or shown
    ip: str
    user: str = ""
    anonymous: bool = True
    pages: dict[str, Joined] = field(default_factory=dict)
    strikes: int = 0
    connected_at: float = field(default_factory=time.time)
    identity: Identity | None = None
    budget: Budget | None = None
    close_tcp: Callable[[], None] | None = field(default=None, repr=False)  # the WebSocket's own TCP connection
    origin: ClientOrigin | None = None  # the origin of this connection's changes (built once per user)


def room_key(title: str) -> str:
    return "page:" + title


class CollabServer:
    """Socket.IO event handlers for the default namespace."""

    def __init__(
        self,
        sio: LeanServer,
        registry: Registry,
        wiki: Wiki,
        committer: Committer,
        tasks: TaskSet,
        *,
        max_message_bytes: int,
        observer: Observer | None = None,
        authorizer: Authorizer | None = None,
        limits: Limits | None = None,
        trusted_proxies: Sequence[Network] = (),
    ) -> None:
        self.sio = sio
        self.registry = registry
        self.wiki = wiki
        self.committer = committer
        self.tasks = tasks
        self.max_message_bytes = max_message_bytes
        self.observer = observer or Observer()
        self.authorizer = authorizer or Authorizer(wiki)
        self.limits = limits or Limits(max_message_bytes=max_message_bytes)
        self.limiter = Limiter(self.limits)
        self.trusted_proxies = tuple(trusted_proxies)
        self.rejections: Counter[str] = Counter()  # by auth.REJECTIONS reason; also sent to the observer
        self._warned_xff = False
        self.connections: dict[str, Connection] = {}
        self._outbox: dict[str, list[Outgoing]] = {}  # per page, in order; sent by _drain
        self._draining = False
        registry.on_loaded.append(self._attach_relay)
        sio.on("connect", self.on_connect)
        sio.on("disconnect", self.on_disconnect)
        sio.on(p.EVENT_JOIN, self.on_join)
        sio.on(p.EVENT_LEAVE, self.on_leave)
        sio.on(p.EVENT_Y, self.on_y)
        sio.on_fast_y(self.on_y)  # the same handler, without python-socketio's per-message work
        sio.on(p.EVENT_SAVE, self.on_save)

    # ---- connection lifecycle --------------------------------------------------------------------
    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> bool:
        """Who is this (token, wiki session, or IP), and may they connect at all (limits, --no-anonymous)?

        A refusal reaches the client as ``connect_error`` with ``{"code", ...}``; Socket.IO clients do
        not retry a refused connection by themselves.
        """
        ip = self._client_ip(environ)
        cookie = environ.get("HTTP_COOKIE")
        counted_user: str | None = None
        try:
            budget = self.limiter.open(ip)
        except Refused as exc:
            self.rejected(exc.reason)
            raise socketio.exceptions.ConnectionRefusedError(exc.message, {"code": exc.code}) from None
        conn = self.connections[sid] = Connection(sid=sid, cookie=None, ip=ip, budget=budget)
        transport = getattr(environ.get("aiohttp.request"), "transport", None)
        conn.close_tcp = transport.close if transport is not None else None
        try:
            identity = await self.authorizer.identify(cookie, auth, ip)
            self.limiter.identified(identity.user_key, budget)
            counted_user = identity.user_key
        except (Refused, WikiError) as exc:
            self.connections.pop(sid, None)
            self.limiter.close(ip, None)
            code = exc.code if exc.code in p.ERROR_CODES else "wikiunavailable"
            if isinstance(exc, Refused):
                self.rejected(exc.reason)
            log.info("connect refused sid=%s ip=%s: %s", sid, ip, exc.message)
            raise socketio.exceptions.ConnectionRefusedError(exc.message, {"code": code}) from None
        if sid not in self.connections:  # disconnected while the wiki was asked: the IP is released already
            self.limiter.close(None, counted_user)
            return False
        conn.identity = identity  # from here on, on_disconnect releases both counts
        conn.user, conn.anonymous = identity.user, identity.anonymous
        conn.cookie = cookie if identity.source == "session" else None  # keep a secret only when it is used
        if budget.hold_s:
            # Its user or address was cut off for flooding a moment ago: a flooder reconnecting in a loop
            # gets one try every few seconds; a classmate behind the same NAT merely waits a little.
            await asyncio.sleep(budget.hold_s)
            if sid not in self.connections:
                return False
        log.debug("connect sid=%s ip=%s user=%s via=%s", sid, ip, identity.user, identity.source)
        return True

    def _client_ip(self, environ: dict[str, Any]) -> str:
        remote = str(environ.get("REMOTE_ADDR", ""))
        forwarded = environ.get("HTTP_X_FORWARDED_FOR")
        if forwarded and not self.trusted_proxies and not self._warned_xff:
            self._warned_xff = True
            log.warning(
                "ignoring X-Forwarded-For from %s: if it is your reverse proxy, pass --trusted-proxy %s",
                remote,
                remote,
            )
        return client_ip(remote, forwarded, self.trusted_proxies)

    def rejected(self, reason: str, title: str = "", user: str = "") -> None:
        """Count one refusal (``reason``: one of ``auth.REJECTIONS``) for tests, metrics and the admin view."""
        self.rejections[reason] += 1
        self.observer.rejected(title, user, reason)

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        conn = self.connections.pop(sid, None)
        if conn is None:
            return
        self.limiter.close(conn.ip, conn.identity.user_key if conn.identity else None)
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
        identity = conn.identity
        if identity is None:
            return p.error("internal", "the connection is not set up yet")
        try:
            self.limiter.join(identity.join_key, len(conn.pages))
            grant = await self.authorizer.authorize(identity, conn.cookie, title)
            room = await self.registry.open(grant.title)
        except Refused as exc:
            self.rejected(exc.reason, title, conn.user)
            log.info("join refused page=%r user=%s sid=%s: %s", title, conn.user, sid, exc.message)
            return p.error(exc.code, exc.message)
        except InvalidTitle as exc:
            return p.error("invalidtitle", exc.message)
        except WikiUnavailable as exc:
            return p.error("wikiunavailable", f"the wiki cannot be reached: {exc.message}")
        except CollabError as exc:
            return p.error(exc.code if exc.code in p.ERROR_CODES else "internal", exc.message)
        if sid not in self.connections:
            return p.error("internal", "disconnected")
        conn.user, conn.anonymous = grant.user, grant.anonymous
        readonly = grant.readonly
        reason = grant.reason
        conn.pages[room.title] = Joined(readonly, reason)
        await self.sio.enter_room(sid, room_key(room.title))
        log.info("join page=%r user=%s sid=%s readonly=%s", room.title, conn.user, sid, readonly)
        self.observer.joined(room.title, conn.user, sid, readonly)
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
        log.info("leave page=%r user=%s sid=%s", title, conn.user, conn.sid)
        self.observer.left(title, conn.user, conn.sid)
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
        if isinstance(msg, bytes | bytearray) and len(msg) > self.max_message_bytes:
            await self._too_large(conn, title if isinstance(title, str) else "", len(msg))
            return
        user_key = conn.identity.user_key if conn.identity is not None else None
        if conn.budget is not None and (verdict := self.limiter.message(conn.budget, user_key)):
            await self._throttled(conn, title if isinstance(title, str) else "", verdict, msg)
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
            message = p.parse_message(msg)
            if joined.resync:
                # The first message after a throttled run: ask the client for everything we lack. Its
                # step-2 answer carries this change too, and whatever the rate limit dropped before it.
                joined.resync = False
                await self._send_y(sid, title, p.sync_step1(room.state_vector()))
                if joined.resend_state and message.kind != "step1":
                    await self._send_y(sid, title, p.sync_step2(room.full_state()))
                joined.resend_state = False
                if message.kind in ("step2", "update"):
                    return
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
            await self.registry.store.durable()  # the answer may hold updates still being logged (cluster)
            await self._send_y(conn.sid, room.title, p.sync_step2(room.update_since(message.payload)))
        elif kind in ("step2", "update"):
            if joined.readonly:
                info = p.check_update(message.payload)
                if info.has_structs or info.has_deletes:  # (an empty step 2 answers our step 1 on every join)
                    self.rejected("readonly_update", room.title, conn.user)
                    message_text = f"your change was not applied: {joined.reason}"
                    await self.status(conn.sid, room.title, "readonly", message_text)
                return
            info = p.check_update(message.payload)
            if room.lacks(info):
                await self._send_y(conn.sid, room.title, p.sync_step1(room.state_vector()))  # ask for the history
                raise ProtocolError("update depends on changes the server has not seen; resyncing")
            limit = self.limits.document_limit(self.wiki.site_info.max_article_bytes)
            # Cheap bound first (the text cannot grow by more than the update's size), exact check near it.
            if room.size_bound() + len(message.payload) > limit and room.text_bytes() + len(message.payload) > limit:
                size = _text_bytes_after(room.full_state(), message.payload)
                if size > limit:
                    self.rejected("document_too_large", room.title, conn.user)
                    message_text = f"the page would be {size} bytes, more than the limit of {limit}: not applied"
                    await self.status(conn.sid, room.title, "error", message_text, code="toolarge")
                    return
            origin = conn.origin
            if origin is None or origin.user != conn.user:
                origin = conn.origin = ClientOrigin(conn.sid, conn.user)
            room.apply_client_update(message.payload, info, origin)
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
        user_key = conn.identity.user_key if conn.identity is not None else None
        if conn.budget is not None and (verdict := self.limiter.message(conn.budget, user_key, SAVE_COST)):
            self.rejected(verdict, title, conn.user)
            return p.error("ratelimited", "too many requests: wait a few seconds before saving again")
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
            self._enqueue(title, p.EVENT_Y, (), skip, time.perf_counter(), update)  # framed when sent (_coalesce)
            if isinstance(origin, ClientOrigin):
                self.observer.update_in(title, origin.user)
                self.committer.changed(room)

        room.listeners.append(relay)

    def _enqueue(
        self, title: str, event: str, args: tuple[Any, ...], skip: str | None, at: float, update: bytes | None = None
    ) -> None:
        """Queue a broadcast to a page's editors. One drain task sends every page's queue in turn, each in
        the order in which changes were applied: a ``merged``/``saved`` status never overtakes the update
        it announces. ``update``: the CRDT update ``args`` carries, when it may be merged with its
        neighbours."""
        box = self._outbox.get(title)
        if box is None:
            self._outbox[title] = box = []
        box.append((event, args, skip, at, update))
        if not self._draining:
            self._draining = True
            self.tasks.spawn(self._drain(), name="relay")

    async def _drain(self) -> None:
        try:
            while self._outbox:
                boxes, self._outbox = self._outbox, {}
                await self.registry.store.durable()  # nothing is shown before it is logged
                for title, box in boxes.items():
                    for event, args, skip, run in _coalesce(title, box):
                        recipients = await self._emit_to_page(title, event, args, skip)
                        if event == p.EVENT_Y:
                            for at in run:
                                self.observer.relayed(title, recipients, time.perf_counter() - at)
        finally:
            self._draining = False  # (after an error, the next broadcast starts a new drain)

    async def _emit_to_page(self, title: str, event: str, args: tuple[Any, ...], skip: str | None) -> int:
        """``sio.emit(event, args, room=...)`` without its per-recipient tasks: the packet is encoded once
        and queued on each recipient's Engine.IO socket directly (transport.py). Returns the number of
        recipients."""
        if event == p.EVENT_Y:
            frames = encoded_y(*args)
        else:
            frames = encoded(self.sio.packet_class(socketio.packet.EVENT, namespace="/", data=[event, *args]))
        targets = [eio_sid for sid, eio_sid in self.sio.manager.get_participants("/", room_key(title)) if sid != skip]
        deliver = self.sio.eio.deliver
        for eio_sid in targets:
            try:
                deliver(eio_sid, frames)
            except engineio.exceptions.SocketIsClosedError:
                continue  # disconnecting: its disconnect handler removes it from the room
        return len(targets)

    async def relay(self, title: str, msg: bytes) -> None:
        """Send a y-protocol message to this node's editors of ``title`` (cluster: one from another node)."""
        await self._broadcast(title, msg)

    async def _broadcast(self, title: str, msg: bytes, skip_sid: str | None = None) -> None:
        self._enqueue(title, p.EVENT_Y, (title, msg), skip_sid, time.perf_counter())

    async def _send_y(self, sid: str, title: str, msg: bytes) -> None:
        await self.sio.emit(p.EVENT_Y, (title, msg), to=sid)

    async def status(self, sid: str, title: str, state: str, message: str, **extra: Any) -> None:
        await self.sio.emit(p.EVENT_STATUS, (title, {"state": state, "message": message, **extra}), to=sid)

    async def broadcast_status(self, title: str, state: str, message: str, **extra: Any) -> None:
        payload = {"state": state, "message": message, **extra}
        self._enqueue(title, p.EVENT_STATUS, (title, payload), None, time.perf_counter())

    async def remove(self, sid: str, title: str, reason: str) -> None:
        """End ``title`` for one connection (e.g. the user was blocked)."""
        conn = self.connections.get(sid)
        if conn is None or title not in conn.pages:
            return
        await self.status(sid, title, "removed", reason)
        await self._leave(conn, title)

    async def _strike(self, conn: Connection, title: str, code: str, message: str) -> None:
        conn.strikes += 1
        self.observer.rejected(title, conn.user, code)
        await self.status(conn.sid, title, "error", message, code=code)
        if conn.strikes >= MAX_STRIKES:
            log.warning("disconnecting sid=%s user=%s after %d bad messages", conn.sid, conn.user, conn.strikes)
            await self.sio.disconnect(conn.sid)

    # ---- limits and re-checks (auth.py decides; this applies) -------------------------------------
    async def _too_large(self, conn: Connection, title: str, size: int) -> None:
        """Say why, then disconnect: a server-side disconnect is one Socket.IO clients do not retry, so
        the client does not reconnect and resend the same message forever."""
        self.rejected("message_too_large", title, conn.user)
        log.warning("disconnecting sid=%s user=%s: a message of %d bytes (limit %d)", conn.sid, conn.user, size,
                    self.max_message_bytes)  # fmt: skip
        message = (
            f"a message of {size} bytes is larger than this server accepts ({self.max_message_bytes} bytes): "
            "disconnected; reload the page to continue"
        )
        await self.status(conn.sid, title, "error", message, code="toolarge")
        await self._cut_off(conn)

    async def _cut_off(self, conn: Connection) -> None:
        """Disconnect, then close the TCP connection: python-engineio would otherwise go on reading (and
        python-socketio raising for) everything the client already sent, and a flooder has thousands of
        messages in flight. The status and the disconnect packet are flushed first."""
        eio_sid = self.sio.manager.eio_sid_from_sid(conn.sid, "/")
        await self.sio.disconnect(conn.sid)
        if eio_sid is not None:
            await self.sio.eio.disconnect(eio_sid)  # returns once the queued packets are written
        if conn.close_tcp is not None:
            conn.close_tcp()

    async def _throttled(self, conn: Connection, title: str, reason: str, msg: object) -> None:
        self.rejected(reason, title, conn.user)
        joined = conn.pages.get(title)
        if joined is not None:
            joined.resync = True
            if isinstance(msg, bytes | bytearray) and msg[:2] == b"\x00\x00":
                joined.resend_state = True  # its sync step 1 was dropped: it still lacks our state
        assert conn.budget is not None
        drop = self.limiter.drop(conn.budget)
        if drop == "first":
            who = "this connection sends" if reason == "rate_connection" else "your connections send"
            message = f"{who} too many messages: slow down (dropped changes are asked for again)"
            await self.status(conn.sid, title, "error", message, code="ratelimited")
        elif drop == "flood":
            self.rejected("flood", title, conn.user)
            penalty = self.limiter.penalise(conn.identity.join_key) if conn.identity is not None else 0.0
            log.warning("disconnecting sid=%s user=%s ip=%s: flooding (%d messages dropped); no bursts for %.0f s",
                        conn.sid, conn.user, conn.ip, conn.budget.dropped_total, penalty)  # fmt: skip
            await self.status(conn.sid, title, "error", "disconnected: far too many messages", code="ratelimited")
            await self._cut_off(conn)

    async def recheck_loop(self, interval_s: float) -> None:
        """Ask the wiki again about every editor of every page every ``interval_s`` (cancel to stop)."""
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.recheck()
            except Exception:  # one bad answer must not end the re-checks for good
                log.exception("re-checking the editors' rights failed")

    async def recheck(self, title: str | None = None, *, writers_only: bool = False) -> None:
        """Ask the wiki whether each connection may still use its pages (all, or those of ``title``).

        Blocked, or the page protected, since the join: switched to read-only (status ``readonly``), or
        removed (status ``removed``) when read-only access is off, the token expired, or the session
        ended. Rights given back: status ``live``. An unreachable wiki changes nothing. One wiki request
        per distinct (identity, session, page), a few at a time.
        """
        pairs = [
            (conn, t)
            for conn in list(self.connections.values())
            for t, joined in list(conn.pages.items())
            if (title is None or t == title) and conn.identity is not None and not (writers_only and joined.readonly)
        ]
        keys = list({(conn.identity, conn.cookie, t) for conn, t in pairs if conn.identity is not None})
        gate = asyncio.Semaphore(RECHECK_CONCURRENCY)

        async def decide(identity: Identity, cookie: str | None, page: str) -> Grant | CollabError:
            async with gate:
                try:
                    return await self.authorizer.authorize(identity, cookie, page)
                except (Refused, WikiError) as exc:
                    return exc

        answers = await asyncio.gather(*(decide(i, c, t) for i, c, t in keys))
        decided = dict(zip(keys, answers, strict=True))
        for conn, t in pairs:
            if conn.identity is not None:
                await self._apply_recheck(conn, t, decided[(conn.identity, conn.cookie, t)])

    async def _apply_recheck(self, conn: Connection, title: str, answer: Grant | CollabError) -> None:
        joined = conn.pages.get(title)
        if joined is None or self.connections.get(conn.sid) is not conn:
            return  # left or disconnected meanwhile
        if isinstance(answer, Refused):
            self.rejected("removed", title, conn.user)
            log.info("re-check: removing user=%s sid=%s from %r: %s", conn.user, conn.sid, title, answer.message)
            await self.remove(conn.sid, title, answer.message)
        elif isinstance(answer, CollabError):
            log.info("re-check of user=%s on %r postponed: %s", conn.user, title, answer.message)
        elif answer.readonly and not joined.readonly:
            joined.readonly, joined.reason = True, answer.reason
            self.rejected("downgraded", title, conn.user)
            log.info("re-check: user=%s sid=%s is read-only on %r: %s", conn.user, conn.sid, title, answer.reason)
            reason = answer.reason or "you may no longer edit this page"
            await self.status(conn.sid, title, "readonly", f"read-only from now on: {reason}")
        elif not answer.readonly and joined.readonly:
            joined.readonly, joined.reason = False, None
            log.info("re-check: user=%s sid=%s may edit %r again", conn.user, conn.sid, title)
            await self.status(conn.sid, title, "live", "you may edit this page again")
