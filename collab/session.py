"""Connections and their pages: who is connected, what each may do, and the y-protocol policy per message.

Per connection: the cookie it arrived with (forwarded to the wiki to learn who it is), the pages it joined
and whether each is read-only, its message budget and a strike count for bad input. The Socket.IO adapter
(``collab.sio.server``) only maps events to the methods here; the connections are reached back through
the :class:`collab.relay.Wire` port. Rights re-checks live in ``recheck.py``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from . import protocol as p
from . import sync
from .auth import Authorizer, Identity
from .errors import CollabError, InvalidTitle, ProtocolError, Refused, WikiError
from .events import Observer
from .limits import SAVE_COST, Budget, Limiter, Limits
from .origins import Network, client_ip
from .recheck import recheck
from .registry import Registry
from .relay import Relay, Wire
from .room import ClientOrigin, Origin, PageRoom
from .tasks import TaskSet
from .titles import check_title
from .wiki import Wiki

log = logging.getLogger(__name__)


class Committer(Protocol):
    """What the sessions need from the commit policy (``commit.CommitManager``)."""

    def last_left(self, room: PageRoom) -> None: ...
    async def save_now(self, room: PageRoom, options: p.SaveOptions | None = None, *, user: str = "") -> int | None: ...


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
    origin: ClientOrigin | None = None  # the origin of this connection's changes (built once per user)
    new_clients: int = 0  # Yjs client ids new to their page that its updates brought (sync._check_new_clients)
    # Pages moved on the wiki while joined: old title -> new. What the client sent under the old title before
    # it learnt of the move (its ``moved`` status) still reaches the page; an entry ends when the page is left.
    moved: dict[str, str] = field(default_factory=dict)

    def current(self, title: Any) -> Any:
        """``title``, or the page's new title when it moved while this connection was joined to it."""
        if self.moved and isinstance(title, str) and title not in self.pages:
            return self.moved.get(title, title)
        return title


class Sessions:
    """Every connection of this node, and what each message of theirs does."""

    def __init__(
        self,
        registry: Registry,
        wiki: Wiki,
        relay: Relay,
        wire: Wire,
        tasks: TaskSet,
        *,
        authorizer: Authorizer,
        limits: Limits,
        observer: Observer | None = None,
        trusted_proxies: Sequence[Network] = (),
    ) -> None:
        self.registry = registry
        self.wiki = wiki
        self.relay = relay
        self.wire = wire
        self.tasks = tasks
        self.authorizer = authorizer
        self.limits = limits
        self.limiter = Limiter(limits)
        self.observer = observer or Observer()
        self.trusted_proxies = tuple(trusted_proxies)
        # Set once by the composition root (the commit policy is built with these sessions as its editors).
        self.committer: Committer | None = None
        self.connections: dict[str, Connection] = {}
        self.rejections: Counter[str] = Counter()  # by errors.REJECTIONS reason; also sent to the observer
        self._warned_xff = False
        registry.on_change.append(self._changed)

    # ---- connection lifecycle --------------------------------------------------------------------
    async def connect(
        self, sid: str, *, remote: str, forwarded_for: str | None, cookie: str | None, auth: object
    ) -> bool:
        """Who is this (token, wiki session, or address), and may they connect at all (limits, --no-anonymous)?

        Returns False when the connection went away meanwhile.

        Raises:
            CollabError: refused; ``code`` (one of ``protocol.ERROR_CODES``) and ``message`` are the client's.
        """
        ip = self.client_ip(remote, forwarded_for)
        counted_user: str | None = None
        try:
            budget = self.limiter.open(ip)
        except Refused as exc:
            self.rejected(exc.reason)
            raise
        conn = self.connections[sid] = Connection(sid=sid, cookie=None, ip=ip, budget=budget)
        try:
            identity = await self.authorizer.identify(cookie, auth, ip)
            self.limiter.identified(identity.user_key, budget)
            counted_user = identity.user_key
        except (Refused, WikiError) as exc:
            self._release(sid, ip)
            if isinstance(exc, Refused):
                self.rejected(exc.reason)
            log.info("connect refused sid=%s ip=%s: %s", sid, ip, exc.message)
            code = exc.code if exc.code in p.ERROR_CODES else "wikiunavailable"
            raise CollabError(exc.message, code=code) from None
        except Exception:
            # Whatever went wrong, the address's count is given back: a leak here locks out everyone behind
            # that address once --max-connections-per-ip is reached.
            self._release(sid, ip)
            log.exception("connect failed sid=%s ip=%s", sid, ip)
            raise CollabError("the wiki could not tell who you are; try again", code="wikiunavailable") from None
        except BaseException:  # cancelled (the server is stopping): release, and let the cancellation go on
            self._release(sid, ip)
            raise
        if sid not in self.connections:  # disconnected while the wiki was asked: the IP is released already
            self.limiter.close(None, counted_user)
            return False
        conn.identity = identity  # from here on, disconnect() releases both counts
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

    def _release(self, sid: str, ip: str) -> None:
        """Undo a connect that failed before its identity was counted (its address count only). A disconnect
        during the wait has popped the connection and released the address already."""
        if self.connections.pop(sid, None) is not None:
            self.limiter.close(ip, None)

    def client_ip(self, remote: str, forwarded_for: str | None) -> str:
        if forwarded_for and not self.trusted_proxies and not self._warned_xff:
            self._warned_xff = True
            log.warning(
                "ignoring X-Forwarded-For from %s: if it is your reverse proxy, pass --trusted-proxy %s",
                remote,
                remote,
            )
        return client_ip(remote, forwarded_for, self.trusted_proxies)

    def rejected(self, reason: str, title: str = "", user: str = "") -> None:
        """Count one refusal (``reason``: one of ``errors.REJECTIONS``) for tests, metrics and the admin view."""
        self.rejections[reason] += 1
        self.observer.rejected(title, user, reason)

    async def disconnect(self, sid: str, reason: Any = None) -> None:
        """The connection is gone (either side ended it)."""
        conn = self.connections.pop(sid, None)
        if conn is None:
            return
        self.limiter.close(conn.ip, conn.identity.user_key if conn.identity else None)
        for title in list(conn.pages):
            await self._leave(conn, title)
        log.debug("disconnect sid=%s user=%s (%s)", sid, conn.user, reason)

    # ---- join / leave / save ---------------------------------------------------------------------
    async def join(self, sid: str, title: Any) -> dict[str, Any]:
        """Join a page: the ack is ``{ok, title, revid, readonly}`` or an error; the sync follows it."""
        conn = self.connections.get(sid)
        if conn is None:
            return p.error("internal", "unknown connection")
        try:
            title = check_title(title)
        except InvalidTitle as exc:
            return p.error("invalidtitle", exc.message)
        identity = conn.identity
        if identity is None:
            return p.error("internal", "the connection is not set up yet")
        try:
            self.limiter.join(identity.join_key, len(conn.pages))
            grant = await self.authorizer.authorize(identity, conn.cookie, title)
            if sid not in self.connections:  # gone while the wiki was asked: load nothing for nobody
                return p.error("internal", "disconnected")
            # A room loaded for a connection that is gone by the time the load ends is unloaded by the commit
            # policy's idle timer, armed at every load (``commit.CommitManager._loaded``).
            room = await self.registry.open(grant.title)
        except Refused as exc:
            self.rejected(exc.reason, title, conn.user)
            log.info("join refused page=%r user=%s sid=%s: %s", title, conn.user, sid, exc.message)
            return p.error(exc.code, exc.message)
        except InvalidTitle as exc:
            return p.error("invalidtitle", exc.message)
        except WikiError as exc:  # unreachable, or an answer no call expected: try again later
            return p.error("wikiunavailable", f"the wiki cannot be reached: {exc.message}")
        except CollabError as exc:
            return p.error(exc.code if exc.code in p.ERROR_CODES else "internal", exc.message)
        except Exception:
            # Never an ack-less join (the client would wait for its timeout): the failure is logged and told.
            log.exception("join failed page=%r user=%s sid=%s", title, conn.user, sid)
            return p.error("wikiunavailable", "the page could not be opened; try again")
        if sid not in self.connections:
            return p.error("internal", "disconnected")
        conn.user, conn.anonymous = grant.user, grant.anonymous
        conn.moved.pop(room.title, None)  # joined again under the old title: it is that page now
        conn.pages[room.title] = Joined(grant.readonly, grant.reason)
        self.relay.add(room.title, sid)
        log.info("join page=%r user=%s sid=%s readonly=%s", room.title, conn.user, sid, grant.readonly)
        self.observer.joined(room.title, conn.user, sid, grant.readonly)
        # The step 1 and awareness go out after the ack (the client routes them by the ack's title).
        self.tasks.spawn(self._greet(sid, room, grant.readonly, grant.reason), name=f"greet {sid}")
        return {"ok": True, "title": room.title, "revid": room.base.revid, "readonly": grant.readonly}

    async def _greet(self, sid: str, room: PageRoom, readonly: bool, reason: str | None) -> None:
        await self.send_y(sid, room.title, p.sync_step1(room.state_vector()))
        snapshot = room.awareness_snapshot()
        if snapshot is not None:
            await self.send_y(sid, room.title, p.awareness_message(snapshot))
        if readonly:
            await self.status(sid, room.title, "readonly", f"read-only: {reason or 'you may not edit this page'}")

    async def leave(self, sid: str, title: Any) -> dict[str, Any]:
        conn = self.connections.get(sid)
        if conn is not None:
            title = conn.current(title)
        if conn is None or not isinstance(title, str) or title not in conn.pages:
            return p.error("notjoined", f"not joined to {title!r}")
        await self._leave(conn, title)
        return {"ok": True}

    async def _leave(self, conn: Connection, title: str) -> None:
        conn.pages.pop(title, None)
        if conn.moved:
            conn.moved = {old: new for old, new in conn.moved.items() if new != title}
        log.info("leave page=%r user=%s sid=%s", title, conn.user, conn.sid)
        self.observer.left(title, conn.user, conn.sid)
        self.relay.remove(title, conn.sid)
        room = self.registry.rooms.get(title)
        if room is None:
            return
        removal = room.forget_connection(conn.sid)
        if removal is not None:
            self.relay.broadcast(room.title, p.awareness_message(removal), skip_sid=conn.sid)
        if not self.has_editors(title) and self.committer is not None:
            self.committer.last_left(room)

    async def save(self, sid: str, title: Any, options: Any = None, *_extra: Any) -> dict[str, Any]:
        """Save the page now with the editor's ``{summary, minor}`` (optional): the ack is ``{ok, revid}`` or an
        error (``badmessage`` for options that are not that)."""
        if _extra:
            return p.error("badmessage", "save takes a title and at most one options object {summary, minor}")
        try:
            parsed = p.parse_save_options(options)
        except ProtocolError as exc:
            return p.error(exc.code, exc.message)
        conn = self.connections.get(sid)
        if conn is not None:
            title = conn.current(title)
        if conn is None or not isinstance(title, str) or title not in conn.pages:
            return p.error("notjoined", f"not joined to {title!r}")
        if conn.pages[title].readonly:
            return p.error("readonly", "read-only editors cannot save")
        user_key = conn.identity.user_key if conn.identity is not None else None
        if conn.budget is not None and (verdict := self.limiter.message(conn.budget, user_key, SAVE_COST)):
            self.rejected(verdict, title, conn.user)
            return p.error("ratelimited", "too many requests: wait a few seconds before saving again")
        room = self.registry.rooms.get(title)
        if room is None or self.committer is None:
            return p.error("notjoined", "the page is not open")
        try:
            revid = await self.committer.save_now(room, parsed, user=conn.user)
        except CollabError as exc:
            return p.error(exc.code if exc.code in p.ERROR_CODES else "saveerror", exc.message)
        return {"ok": True, "revid": revid}

    def rename(self, title: str, new: str) -> None:
        """The page moved on the wiki: every connection joined to ``title`` is joined to ``new`` from now on
        (the caller has queued their ``moved`` status), and what they still send under ``title`` reaches it."""
        for conn in self.connections.values():
            joined = conn.pages.pop(title, None)
            if joined is None:
                continue
            conn.pages[new] = joined
            conn.moved = {old: (new if to == title else to) for old, to in conn.moved.items()}
            conn.moved[title] = new

    # ---- who edits what (the commit policy's view: commit.Editors) --------------------------------
    def editors(self, title: str) -> list[Connection]:
        return [c for c in self.connections.values() if title in c.pages]

    def has_editors(self, title: str) -> bool:
        return bool(self.relay.audience.get(title))

    def cookie_for(self, user: str) -> str | None:
        """The wiki session of one of ``user``'s connections (to expand their signature as them)."""
        for conn in self.connections.values():
            if conn.user == user and conn.cookie:
                return conn.cookie
        return None

    async def recheck(self, title: str | None = None, *, writers_only: bool = False) -> None:
        """Ask the wiki again whether each connection may still use its pages (see ``recheck.py``)."""
        await recheck(self, title, writers_only=writers_only)

    # ---- messages (what each one does: sync.py) ------------------------------------------------------
    async def y(self, sid: str, title: Any, msg: Any) -> None:
        """One y-protocol message (sync step 1/2, update, awareness, query) from a connection."""
        conn = self.connections.get(sid)
        if conn is not None and conn.moved:
            title = conn.current(title)
        await sync.receive(self, sid, title, msg)

    def _changed(self, room: PageRoom, update: bytes, origin: Origin) -> None:
        if isinstance(origin, ClientOrigin):
            self.observer.update_in(room.title, origin.user)

    # ---- answers to one connection -----------------------------------------------------------------
    async def send_y(self, sid: str, title: str, msg: bytes) -> None:
        await self.wire.send(sid, p.EVENT_Y, title, msg)

    async def status(self, sid: str, title: str, state: str, message: str, **extra: Any) -> None:
        await self.wire.send(sid, p.EVENT_STATUS, title, {"state": state, "message": message, **extra})

    async def remove(self, sid: str, title: str, reason: str, *, code: str) -> None:
        """End ``title`` for one connection: it gets ``status`` ``removed`` with ``code`` (one of
        ``protocol.REMOVED_CODES``: the page was deleted, an admin acted, the user may no longer use the page)
        and ``reason``, then counts as not joined (``protocol.md``)."""
        conn = self.connections.get(sid)
        if conn is None or title not in conn.pages:
            return
        await self.status(sid, title, "removed", reason, code=code)
        await self._leave(conn, title)
