"""The admins' view of the live sessions: ``/admin`` dashboard, ``GET /api/sessions``, the ``/admin`` namespace.

Who may look: members of the wiki group ``--admin-group`` (their wiki session cookie is forwarded to the
wiki's ``meta=userinfo``, exactly like an editor's), or whoever holds ``--admin-token`` (sent as
``Authorization: Bearer <token>``, or as ``{"token": ...}`` in the Socket.IO ``auth`` payload). Everyone
else gets 403 (JSON), a refused namespace connection, or a clear HTML page.

Live updates are pushed, not polled: :class:`AdminHub` is an :class:`~collab.events.Observer`; every hook
marks the session list as changed, and a fresh snapshot goes to the connected admins at most once per
``push_interval_s`` (throttled, so a burst of keystrokes costs one push, not hundreds).

The snapshot (the same for the dashboard, the API and ``collab sessions``)::

    {"generated_at": <epoch s>, "node": "host:port",
     "totals": {"pages", "editors", "users", "connections", "unsaved_changes", "unsaved_pages", "saving",
                "errors", "outside_merges", "conflicts", "edits_last_hour", "saves_last_hour"},
     "history": {"step_s": 60, "start": <epoch s of the first minute>, "edits": [60 ints], "saves": [60 ints]},
     "sessions": [{"title", "node", "links": {"page", "history"},
                   "editors": [{"sid", "user", "readonly", "connected_since", "last_active", "idle_s"}],
                   "unsaved": {"changes", "oldest_at", "oldest_age_s", "authors"},
                   "saving", "base_revid",
                   "last_save": {"revid", "diff", "timestamp", "coauthors"} | null,
                   "saves", "outside_merges", "conflicts", "last_error"}]}

Admin actions (each logged with the admin's name, and announced to the other admins as ``action``):
``save_now``, ``end_session`` (save, then remove every editor from the page), ``disconnect_user``.
"""

from __future__ import annotations

import asyncio
import hmac
import html
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

import socketio
from aiohttp import web

from ..commit import CommitManager
from ..errors import CollabError, NotAuthorized, WikiError, WikiUnavailable
from ..events import Observer
from ..registry import Registry
from ..room import PageRoom
from ..store import Store
from ..tasks import TaskSet
from .metrics import bearer_token

log = logging.getLogger(__name__)

ADMIN_NAMESPACE = "/admin"
ADMINS_ROOM = "admins"
EVENT_SESSIONS = "sessions"  # server -> admin: a fresh snapshot; admin -> server (ack): the snapshot now
EVENT_ACTION = "action"  # server -> admins: an admin acted (who, what, on which page, result)
PUSH_INTERVAL_S = 0.25
HISTORY_MINUTES = 60
STATIC_DIR = Path(__file__).parents[1] / "static"  # collab/static, beside this package

# The dashboard loads nothing from elsewhere and may not be framed (its buttons act on live sessions).
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
}


# ---- what the admin view needs from the Socket.IO server (structural: admin.py does not import server.py) --
class JoinedLike(Protocol):
    @property
    def readonly(self) -> bool: ...
    @property
    def joined_at(self) -> float: ...
    @property
    def last_active(self) -> float: ...


class ConnectionLike(Protocol):
    @property
    def sid(self) -> str: ...
    @property
    def user(self) -> str: ...
    @property
    def pages(self) -> Mapping[str, JoinedLike]: ...


class Editors(Protocol):
    """The editors' connections (implemented by server.CollabServer)."""

    @property
    def connections(self) -> Mapping[str, ConnectionLike]: ...

    async def remove(self, sid: str, title: str, reason: str) -> None: ...


class UserLike(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def anonymous(self) -> bool: ...
    @property
    def groups(self) -> tuple[str, ...]: ...


class WhoAmI(Protocol):
    """Asks the wiki who a session cookie belongs to (implemented by wiki.Wiki)."""

    async def whoami(self, cookie: str | None) -> UserLike: ...


# ---- access --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Admin:
    """An authenticated admin: a wiki user of the admin group, or the holder of the admin token."""

    name: str
    via: str  # "wiki" or "token"

    @property
    def label(self) -> str:
        return f"an administrator ({self.name})" if self.via == "wiki" else "an administrator"


class AdminAuth:
    """Decides who is an admin: the admin token, else the wiki session's groups."""

    def __init__(self, wiki: WhoAmI, *, group: str, token: str) -> None:
        self.wiki = wiki
        self.group = group
        self.token = token

    async def identify(self, *, authorization: str | None, cookie: str | None, token: str | None = None) -> Admin:
        """The admin behind these credentials. An explicit token wins over the cookie.

        Raises:
            NotAuthorized: no credentials, a wrong token, an anonymous session, or not in the group.
            WikiError: the wiki could not be asked (WikiUnavailable when it does not answer).
        """
        given = token if token else bearer_token(authorization or "")
        if given is not None:
            if self.token and hmac.compare_digest(given.encode(), self.token.encode()):
                return Admin("token", "token")
            raise NotAuthorized("the admin token is wrong" if self.token else "this server accepts no admin token")
        if not cookie:
            raise NotAuthorized(f"log in to the wiki as a member of the group {self.group!r}")
        user = await self.wiki.whoami(cookie)
        if user.anonymous:
            raise NotAuthorized(f"you are not logged in to the wiki (log in as a member of {self.group!r})")
        if self.group not in user.groups:
            raise NotAuthorized(f"{user.name} is not a member of the wiki group {self.group!r}")
        return Admin(user.name, "wiki")


# ---- the session list ------------------------------------------------------------------------------------
class RateSeries:
    """Events per wall-clock minute over the last hour (a small ring keyed by minute)."""

    def __init__(self, minutes: int = HISTORY_MINUTES) -> None:
        self.minutes = minutes
        self._counts: dict[int, int] = {}

    def add(self, n: int = 1, now: float | None = None) -> None:
        minute = int((time.time() if now is None else now) // 60)
        self._counts[minute] = self._counts.get(minute, 0) + n
        if len(self._counts) > self.minutes:
            for old in [m for m in self._counts if m <= minute - self.minutes]:
                del self._counts[old]

    def window(self, now: float | None = None) -> tuple[int, list[int]]:
        """(epoch seconds of the first minute, counts of the last ``minutes`` minutes, oldest first)."""
        last = int((time.time() if now is None else now) // 60)
        first = last - self.minutes + 1
        return first * 60, [self._counts.get(m, 0) for m in range(first, last + 1)]


def _totals(sessions: list[dict[str, Any]], connections: int, edits: int, saves: int) -> dict[str, int]:
    return {
        "pages": len({s["title"] for s in sessions}),
        "editors": sum(len(s["editors"]) for s in sessions),
        "users": len({e["user"] for s in sessions for e in s["editors"]}),
        "connections": connections,
        "unsaved_changes": sum(s["unsaved"]["changes"] for s in sessions),
        "unsaved_pages": sum(1 for s in sessions if s["unsaved"]["changes"]),
        "saving": sum(1 for s in sessions if s["saving"]),
        "errors": sum(1 for s in sessions if s["last_error"]),
        "outside_merges": sum(s["outside_merges"] for s in sessions),
        "conflicts": sum(s["conflicts"] for s in sessions),
        "edits_last_hour": edits,
        "saves_last_hour": saves,
    }


class SessionView:
    """Builds the snapshot of every open page session from the registry, commit state and connections."""

    def __init__(
        self,
        registry: Registry,
        commits: CommitManager,
        store: Store,
        editors: Editors,
        *,
        wiki_api: str,
        node: str,
    ) -> None:
        self.registry = registry
        self.commits = commits
        self.store = store
        self.editors = editors
        self.node = node
        self.index_url = wiki_api[: -len("api.php")] + "index.php" if wiki_api.endswith("api.php") else wiki_api
        self.edits = RateSeries()
        self.saves = RateSeries()
        # Cluster mode: the session rows other nodes published (their editors, their pages).
        self.peer_rows: Callable[[], Awaitable[list[dict[str, Any]]]] | None = None

    def page_url(self, title: str, **params: str) -> str:
        query = "&".join(f"{k}={quote(v)}" for k, v in params.items())
        return f"{self.index_url}?title={quote(title.replace(' ', '_'), safe='/:')}" + (f"&{query}" if query else "")

    def diff_url(self, revid: int) -> str:
        return f"{self.index_url}?diff={revid}"

    def snapshot(self) -> dict[str, Any]:
        now, mono = time.time(), time.monotonic()
        by_title: dict[str, list[dict[str, Any]]] = {}
        connections = self.editors.connections
        for conn in connections.values():
            for title, joined in conn.pages.items():
                by_title.setdefault(title, []).append(
                    {
                        "sid": conn.sid,
                        "user": conn.user,
                        "readonly": joined.readonly,
                        "connected_since": round(joined.joined_at, 3),
                        "last_active": round(joined.last_active, 3),
                        "idle_s": round(max(0.0, now - joined.last_active), 1),
                    }
                )
        sessions = [
            self._row(room, sorted(by_title.get(title, []), key=lambda e: (e["user"], e["connected_since"])), now, mono)
            for title, room in sorted(self.registry.rooms.items())
        ]
        start, edits = self.edits.window(now)
        _, saves = self.saves.window(now)
        return {
            "generated_at": round(now, 3),
            "node": self.node,
            "totals": _totals(sessions, len(connections), sum(edits), sum(saves)),
            "history": {"step_s": 60, "start": start, "edits": edits, "saves": saves},
            "sessions": sessions,
        }

    async def full_snapshot(self) -> dict[str, Any]:
        """The snapshot with every node's sessions (cluster mode), totals over all of them."""
        snap = self.snapshot()
        if self.peer_rows is not None:
            try:
                others = await self.peer_rows()
            except Exception:  # Redis unreachable: show this node's sessions, say why in the log
                log.warning("cannot read the other nodes' sessions", exc_info=True)
                others = []
            sessions = sorted([*snap["sessions"], *others], key=lambda row: (row["title"], row["node"]))
            totals = snap["totals"]
            snap["totals"] = _totals(
                sessions, totals["connections"], totals["edits_last_hour"], totals["saves_last_hour"]
            )
            snap["sessions"] = sessions
        return snap

    def _row(self, room: PageRoom, editors: list[dict[str, Any]], now: float, mono: float) -> dict[str, Any]:
        title = room.title
        state = self.commits.pages.get(title)  # not page(): looking must not create bookkeeping
        contributions = room.contributions
        oldest_at = None
        if contributions.changes and contributions.first_change_at is not None:
            oldest_at = now - (mono - contributions.first_change_at)  # monotonic -> wall clock
        last_save: dict[str, Any] | None = None
        saved = state.last_saved if state is not None else {}
        if saved:
            last_save = {
                "revid": saved["revid"],
                "timestamp": saved.get("timestamp"),
                "coauthors": list(saved.get("coauthors", [])),
            }
        else:  # nothing saved since this room was loaded: the last save recorded in the log, if any
            records = self.store.revisions(title)
            if records:
                last_save = {"revid": records[0].revid, "timestamp": records[0].timestamp}
                last_save["coauthors"] = list(records[0].coauthors)
        if last_save is not None:
            last_save["diff"] = self.diff_url(int(last_save["revid"]))
        in_flight = state.in_flight if state is not None else None
        return {
            "title": title,
            "node": self.node,
            "links": {"page": self.page_url(title), "history": self.page_url(title, action="history")},
            "editors": editors,
            "unsaved": {
                "changes": contributions.changes,
                "oldest_at": None if oldest_at is None else round(oldest_at, 3),
                "oldest_age_s": None if oldest_at is None else round(max(0.0, now - oldest_at), 1),
                "authors": list(contributions.authors),
            },
            "saving": in_flight is not None and not in_flight.done(),
            "base_revid": room.base.revid,
            "last_save": last_save,
            "saves": state.saves if state is not None else 0,
            "outside_merges": state.outside_merges if state is not None else 0,
            "conflicts": state.conflicts if state is not None else 0,
            "last_error": state.last_error if state is not None else None,
        }


# ---- the hub: live pushes, actions, HTTP -------------------------------------------------------------------
class AdminHub(Observer):
    """Pushes the session list to connected admins when it changes, runs their actions, serves the HTTP side."""

    def __init__(
        self,
        sio: socketio.AsyncServer,
        view: SessionView,
        auth: AdminAuth,
        tasks: TaskSet,
        *,
        push_interval_s: float = PUSH_INTERVAL_S,
    ) -> None:
        self.sio = sio
        self.view = view
        self.auth = auth
        self.tasks = tasks
        self.push_interval_s = push_interval_s
        self.admins: dict[str, Admin] = {}  # sid on the /admin namespace -> who
        self._timer: asyncio.TimerHandle | None = None
        self._last_push = 0.0
        self._closed = False
        sio.register_namespace(AdminNamespace(self))

    # ---- observer hooks: every change to what the dashboard shows schedules a push -------------------------
    def page_opened(self, title: str) -> None:
        self.changed()

    def page_closed(self, title: str) -> None:
        self.changed()

    def joined(self, title: str, user: str, sid: str, readonly: bool) -> None:
        self.changed()

    def left(self, title: str, user: str, sid: str) -> None:
        self.changed()

    def update_in(self, title: str, user: str) -> None:
        self.view.edits.add()
        self.changed()

    def save_started(self, title: str) -> None:
        self.changed()

    def save_finished(self, title: str, revid: int | None, seconds: float, error: str | None) -> None:
        if error is None and revid is not None:
            self.view.saves.add()
        self.changed()

    def conflict(self, title: str) -> None:
        self.changed()

    def outside_merged(self, title: str, revid: int, user: str) -> None:
        self.changed()

    def changed(self) -> None:
        """Something the dashboard shows changed: push a snapshot soon, at most once per push interval."""
        if self._closed or not self.admins or self._timer is not None:
            return
        delay = max(0.0, self._last_push + self.push_interval_s - time.monotonic())
        self._timer = asyncio.get_running_loop().call_later(delay, self._fire)

    def _fire(self) -> None:
        self._timer = None
        self._last_push = time.monotonic()
        self.tasks.spawn(self._push(), name="admin push")

    async def _push(self) -> None:
        if self.admins:
            snapshot = await self.view.full_snapshot()
            await self.sio.emit(EVENT_SESSIONS, snapshot, room=ADMINS_ROOM, namespace=ADMIN_NAMESPACE)

    def close(self) -> None:
        """Stop pushing (shutdown: the saves that follow must not schedule pushes)."""
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # ---- actions ---------------------------------------------------------------------------------------------
    async def save_now(self, admin: Admin, title: str) -> dict[str, Any]:
        """Save the page now. Returns ``{"ok": true, "revid": int | null}`` or an error."""
        room = self.view.registry.rooms.get(title)
        if room is None:
            return await self._done(admin, "save_now", title, None, _error("notfound", f"no open session of {title!r}"))
        try:
            revid = await self.view.commits.save_now(room)
        except WikiError as exc:
            return await self._done(admin, "save_now", title, None, _error(exc.code, exc.message))
        return await self._done(admin, "save_now", title, None, {"ok": True, "revid": revid})

    async def end_session(self, admin: Admin, title: str) -> dict[str, Any]:
        """Save the page, then remove every editor from it. When the save fails nobody is removed."""
        room = self.view.registry.rooms.get(title)
        if room is None:
            return await self._done(
                admin, "end_session", title, None, _error("notfound", f"no open session of {title!r}")
            )
        revid = None
        if self.view.commits.pending(room):
            try:
                revid = await self.view.commits.save_now(room)
            except WikiError as exc:
                result = _error(exc.code, f"the save failed, nobody was disconnected: {exc.message}")
                return await self._done(admin, "end_session", title, None, result)
        saved = f"; the text was saved as revision {revid}" if revid else "; the text was saved"
        removed = 0
        for conn in list(self.view.editors.connections.values()):
            if title in conn.pages:
                await self.view.editors.remove(conn.sid, title, f"{admin.label} ended the session on this page{saved}")
                removed += 1
        return await self._done(
            admin, "end_session", title, None, {"ok": True, "revid": revid, "disconnected": removed}
        )

    async def disconnect_user(self, admin: Admin, title: str, sid: str | None, user: str | None) -> dict[str, Any]:
        """Remove one connection (``sid``) or every connection of ``user`` from the page."""
        targets = [
            c
            for c in list(self.view.editors.connections.values())
            if title in c.pages and (c.sid == sid if sid else c.user == user)
        ]
        target = user or next((c.user for c in targets), sid or "?")
        if not targets:
            return await self._done(
                admin, "disconnect_user", title, target, _error("notfound", f"{target} is not editing {title!r}")
            )
        for conn in targets:
            await self.view.editors.remove(conn.sid, title, f"{admin.label} disconnected you from this page")
        return await self._done(admin, "disconnect_user", title, target, {"ok": True, "disconnected": len(targets)})

    async def _done(
        self, admin: Admin, action: str, title: str, target: str | None, result: dict[str, Any]
    ) -> dict[str, Any]:
        outcome = "ok" if result.get("ok") else result["error"]["code"]
        log.info(
            "admin action=%s page=%r target=%s admin=%s via=%s result=%s",
            action,
            title,
            target or "-",
            admin.name,
            admin.via,
            outcome,
        )
        entry = {"at": round(time.time(), 3), "admin": admin.name, "action": action, "title": title}
        entry.update(target=target, result=result)
        await self.sio.emit(EVENT_ACTION, entry, room=ADMINS_ROOM, namespace=ADMIN_NAMESPACE)
        self.changed()
        return result

    # ---- HTTP ------------------------------------------------------------------------------------------------
    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/admin", self.dashboard)
        app.router.add_get("/admin/admin.js", self.script)
        app.router.add_get("/api/sessions", self.api_sessions)

    async def _identify(self, request: web.Request) -> Admin:
        return await self.auth.identify(
            authorization=request.headers.get("Authorization"), cookie=request.headers.get("Cookie")
        )

    async def api_sessions(self, request: web.Request) -> web.Response:
        """``GET /api/sessions``: the snapshot as JSON (403 for non-admins, 503 when the wiki cannot tell)."""
        try:
            admin = await self._identify(request)
        except NotAuthorized as exc:
            return web.json_response(_error("forbidden", exc.message), status=403)
        except WikiError as exc:
            return web.json_response(_error("wikiunavailable", f"cannot ask the wiki: {exc.message}"), status=503)
        log.debug("admin api=sessions admin=%s via=%s", admin.name, admin.via)
        return web.json_response(await self.view.full_snapshot(), headers={"Cache-Control": "no-store"})

    async def dashboard(self, request: web.Request) -> web.StreamResponse:
        """``GET /admin``: the live dashboard for admins, a clear 403 page for everyone else."""
        try:
            admin = await self._identify(request)
        except NotAuthorized as exc:
            return self._refusal(403, "Admins only", exc.message)
        except WikiError as exc:
            return self._refusal(503, "The wiki cannot be reached", f"Cannot check who you are: {exc.message}")
        log.info("admin dashboard opened admin=%s via=%s", admin.name, admin.via)
        return web.FileResponse(STATIC_DIR / "admin.html", headers=PAGE_HEADERS)

    async def script(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC_DIR / "admin.js", headers={"Cache-Control": "no-cache"})

    def _refusal(self, status: int, heading: str, message: str) -> web.Response:
        login = self.view.page_url("Special:UserLogin")
        body = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(heading)} · MediaWiki Collab</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;color:#202122}}
h1{{font-size:1.4rem}} code{{background:#eaecf0;padding:0 .25rem}}</style></head>
<body><h1>{html.escape(heading)}</h1>
<p>{html.escape(message)}.</p>
<p>The session dashboard is for wiki administrators (members of the group
<code>{html.escape(self.auth.group)}</code>). <a href="{html.escape(login)}">Log in to the wiki</a>
with such an account in this browser, then reload this page.</p>
<p>Scripts use the admin token instead: <code>Authorization: Bearer &lt;token&gt;</code>
(<code>collab sessions --token</code>).</p></body></html>"""
        return web.Response(status=status, text=body, content_type="text/html", headers=PAGE_HEADERS)


def _error(code: str, message: str) -> dict[str, Any]:
    return {"ok": False, "error": {"code": code, "message": message}}


def _same_origin(environ: Mapping[str, Any]) -> bool:
    """A browser's ``Origin`` (when sent) names this server: the cookie may not be used cross-site."""
    origin = environ.get("HTTP_ORIGIN")
    if not origin:
        return True
    return urlsplit(str(origin)).netloc == str(environ.get("HTTP_HOST", ""))


class AdminNamespace(socketio.AsyncNamespace):  # type: ignore[misc]
    """The ``/admin`` Socket.IO namespace: admins only; pushes ``sessions`` and ``action``, takes actions.

    Client -> server events (all answered by an ack): ``sessions`` -> snapshot; ``whoami`` ->
    ``{"name", "via"}``; ``save_now`` ``{"title"}``; ``end_session`` ``{"title"}``;
    ``disconnect_user`` ``{"title", "sid"}`` or ``{"title", "user"}`` -> ``{"ok": true, ...}`` or
    ``{"ok": false, "error": {"code", "message"}}``.
    """

    def __init__(self, hub: AdminHub) -> None:
        super().__init__(ADMIN_NAMESPACE)
        self.hub = hub

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        token = auth.get("token") if isinstance(auth, dict) and isinstance(auth.get("token"), str) else None
        cookie = environ.get("HTTP_COOKIE")
        if token is None and bearer_token(str(environ.get("HTTP_AUTHORIZATION", ""))) is None:
            if not _same_origin(environ):
                log.warning("admin namespace refused: cross-origin cookie from %s", environ.get("HTTP_ORIGIN"))
                raise socketio.exceptions.ConnectionRefusedError(
                    "cross-origin admin connections must use the admin token", {"code": "forbidden"}
                )
        try:
            admin = await self.hub.auth.identify(
                authorization=environ.get("HTTP_AUTHORIZATION"), cookie=cookie, token=token
            )
        except NotAuthorized as exc:
            log.info("admin namespace refused sid=%s: %s", sid, exc.message)
            raise socketio.exceptions.ConnectionRefusedError(exc.message, {"code": "forbidden"}) from None
        except WikiUnavailable as exc:
            raise socketio.exceptions.ConnectionRefusedError(
                f"cannot ask the wiki: {exc.message}", {"code": "wikiunavailable"}
            ) from None
        except CollabError as exc:
            raise socketio.exceptions.ConnectionRefusedError(exc.message, {"code": exc.code}) from None
        self.hub.admins[sid] = admin
        await self.enter_room(sid, ADMINS_ROOM)
        log.info("admin connect admin=%s via=%s sid=%s", admin.name, admin.via, sid)

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        admin = self.hub.admins.pop(sid, None)
        if admin is not None:
            log.info("admin disconnect admin=%s sid=%s", admin.name, sid)

    def _admin(self, sid: str) -> Admin | None:
        return self.hub.admins.get(sid)

    async def on_sessions(self, sid: str, data: Any = None) -> dict[str, Any]:
        if self._admin(sid) is None:
            return _error("forbidden", "not an admin connection")
        return await self.hub.view.full_snapshot()

    async def on_whoami(self, sid: str, data: Any = None) -> dict[str, Any]:
        admin = self._admin(sid)
        if admin is None:
            return _error("forbidden", "not an admin connection")
        return {"ok": True, "name": admin.name, "via": admin.via}

    async def on_save_now(self, sid: str, data: Any = None) -> dict[str, Any]:
        admin, title = self._admin(sid), _title(data)
        if admin is None or title is None:
            return _error("forbidden" if admin is None else "badrequest", "save_now takes {'title': <page title>}")
        return await self.hub.save_now(admin, title)

    async def on_end_session(self, sid: str, data: Any = None) -> dict[str, Any]:
        admin, title = self._admin(sid), _title(data)
        if admin is None or title is None:
            return _error("forbidden" if admin is None else "badrequest", "end_session takes {'title': <page title>}")
        return await self.hub.end_session(admin, title)

    async def on_disconnect_user(self, sid: str, data: Any = None) -> dict[str, Any]:
        admin, title = self._admin(sid), _title(data)
        target_sid = data.get("sid") if isinstance(data, dict) and isinstance(data.get("sid"), str) else None
        user = data.get("user") if isinstance(data, dict) and isinstance(data.get("user"), str) else None
        if admin is None or title is None or not (target_sid or user):
            message = "disconnect_user takes {'title': <page title>, 'sid': <connection> or 'user': <name>}"
            return _error("forbidden" if admin is None else "badrequest", message)
        return await self.hub.disconnect_user(admin, title, target_sid, user)


def _title(data: Any) -> str | None:
    title = data.get("title") if isinstance(data, dict) else None
    return title if isinstance(title, str) and title else None
