"""The admins' live view: the ``/admin`` Socket.IO namespace, the ``/admin`` page, ``GET /api/sessions``.

``GET /api/sessions/diff?title=<page>`` (JSON) and ``GET /admin/diff?title=<page>`` (a page, linked from
the dashboard's rows) show the unsaved text: the unified diff from the last revision to the live text of a
page open on this node.

Who may look is decided by :mod:`collab.admin.auth`; non-admins get 403 (JSON), a refused namespace
connection, or a clear HTML page. What they see is built by :mod:`collab.admin.sessions`.

Live updates are pushed, not polled: :class:`AdminHub` is an :class:`~collab.events.Observer`; every hook
marks the session list as changed, and a fresh snapshot goes to the connected admins at most once per
``push_interval_s`` (throttled, so a burst of keystrokes costs one push, not hundreds).

Admin actions (each logged with the admin's name, and announced to the other admins as ``action``):
``save_now``, ``end_session`` (save, then remove every editor from the page), ``disconnect_user``.
"""

from __future__ import annotations

import asyncio
import html
import logging
import time
from collections.abc import Callable
from typing import Any

import socketio
from aiohttp import web

from ..config import STATIC_DIR
from ..errors import CollabError, NotAuthorized, Refused, WikiError, WikiUnavailable
from ..events import Observer
from ..origins import same_origin
from ..protocol import error
from ..tasks import TaskSet
from .auth import Admin, AdminAuth, bearer_token
from .sessions import SessionView, changed_chars, unified_diff

log = logging.getLogger(__name__)

ADMIN_NAMESPACE = "/admin"
ADMINS_ROOM = "admins"
EVENT_SESSIONS = "sessions"  # server -> admin: a fresh snapshot; admin -> server (ack): the snapshot now
EVENT_ACTION = "action"  # server -> admins: an admin acted (who, what, on which page, result)
PUSH_INTERVAL_S = 0.25

# The dashboard loads nothing from elsewhere and may not be framed (its buttons act on live sessions).
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
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
        address_of: Callable[[str, str | None], str] = lambda remote, forwarded_for: remote,
    ) -> None:
        self.sio = sio
        self.address_of = address_of  # the client's address from the peer's and X-Forwarded-For (trusted proxies)
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

    def status(self, title: str, state: str, message: str, extra: dict[str, Any]) -> None:
        self.changed()  # saving, saved, merged, errors: the dashboard shows them

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
            return await self._done(admin, "save_now", title, None, error("notfound", f"no open session of {title!r}"))
        try:
            revid = await self.view.commits.save_now(room)
        except WikiError as exc:
            return await self._done(admin, "save_now", title, None, error(exc.code, exc.message))
        return await self._done(admin, "save_now", title, None, {"ok": True, "revid": revid})

    async def end_session(self, admin: Admin, title: str) -> dict[str, Any]:
        """Save the page, then remove every editor from it. When the save fails nobody is removed."""
        room = self.view.registry.rooms.get(title)
        if room is None:
            return await self._done(
                admin, "end_session", title, None, error("notfound", f"no open session of {title!r}")
            )
        revid = None
        if self.view.commits.pending(room):
            try:
                revid = await self.view.commits.save_now(room)
            except WikiError as exc:
                result = error(exc.code, f"the save failed, nobody was disconnected: {exc.message}")
                return await self._done(admin, "end_session", title, None, result)
        saved = f"; the text was saved as revision {revid}" if revid else "; the text was saved"
        removed = 0
        for conn in list(self.view.editors.connections.values()):
            if title in conn.pages:
                message = f"{admin.label} ended the session on this page{saved}"
                await self.view.editors.remove(conn.sid, title, message, code="kicked")
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
                admin, "disconnect_user", title, target, error("notfound", f"{target} is not editing {title!r}")
            )
        for conn in targets:
            message = f"{admin.label} disconnected you from this page"
            await self.view.editors.remove(conn.sid, title, message, code="kicked")
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
        app.router.add_get("/api/sessions/diff", self.api_diff)
        app.router.add_get("/admin/diff", self.diff_page)

    async def _identify(self, request: web.Request) -> Admin:
        return await self.auth.identify(
            authorization=request.headers.get("Authorization"),
            cookie=request.headers.get("Cookie"),
            address=self.address_of(request.remote or "", request.headers.get("X-Forwarded-For")),
        )

    async def api_sessions(self, request: web.Request) -> web.Response:
        """``GET /api/sessions``: the snapshot as JSON (403 for non-admins, 503 when the wiki cannot tell)."""
        try:
            admin = await self._identify(request)
        except NotAuthorized as exc:
            return web.json_response(error("forbidden", exc.message), status=403)
        except Refused as exc:
            return web.json_response(error(exc.code, exc.message), status=429)
        except WikiError as exc:
            return web.json_response(error("wikiunavailable", f"cannot ask the wiki: {exc.message}"), status=503)
        log.debug("admin api=sessions admin=%s via=%s", admin.name, admin.via)
        return web.json_response(await self.view.full_snapshot(), headers={"Cache-Control": "no-store"})

    async def _unsaved_diff(self, request: web.Request) -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON body) of the unsaved-text diff the request asks for, after checking it is an admin's."""
        try:
            admin = await self._identify(request)
        except NotAuthorized as exc:
            return 403, error("forbidden", exc.message)
        except Refused as exc:
            return 429, error(exc.code, exc.message)
        except WikiError as exc:
            return 503, error("wikiunavailable", f"cannot ask the wiki: {exc.message}")
        title = request.query.get("title", "")
        if not title:
            return 400, error("badrequest", "pass the page as ?title=<page title>")
        found = self.view.unsaved_text(title)
        if found is None:
            return 404, error("notfound", f"no open session of {title!r} on this node ({self.view.node})")
        revid, old, new = found
        log.info("admin diff page=%r admin=%s via=%s", title, admin.name, admin.via)
        # difflib is quadratic at worst on a large page: off the event loop (the texts were read on it).
        diff = await asyncio.to_thread(unified_diff, title, revid, old, new)
        return 200, {"title": title, "base_revid": revid, "chars": changed_chars(old, new), "diff": diff}

    async def api_diff(self, request: web.Request) -> web.Response:
        """``GET /api/sessions/diff?title=``: ``{"title", "base_revid", "chars", "diff"}`` (a unified diff)."""
        status, body = await self._unsaved_diff(request)
        return web.json_response(body, status=status, headers={"Cache-Control": "no-store"})

    async def diff_page(self, request: web.Request) -> web.Response:
        """``GET /admin/diff?title=``: the unsaved text's diff as a page (removed lines red, added green)."""
        status, body = await self._unsaved_diff(request)
        if status != 200:
            hint = status in (403, 429)  # the others (no such session, no title) are not about logging in
            return self._refusal(status, "Cannot show the unsaved text", body["error"]["message"], login_hint=hint)
        title = html.escape(body["title"])
        lines = []
        for line in body["diff"].splitlines():
            cls = (
                "add" if line.startswith("+") else "del" if line.startswith("-") else "hunk" if line[:2] == "@@" else ""
            )
            lines.append(f'<span class="{cls}">{html.escape(line)}</span>' if cls else html.escape(line))
        text = "\n".join(lines) if lines else "(no difference: everything is published)"
        page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Unsaved text of {title} · MediaWiki Collab</title>
<style>body{{font:15px/1.5 system-ui,sans-serif;margin:1.5rem;color:#202122}} h1{{font-size:1.2rem}}
pre{{font:13px/1.45 ui-monospace,monospace;background:#f8f9fa;border:1px solid #c8ccd1;padding:.75rem;
white-space:pre-wrap;word-break:break-word}} .add{{background:#d5fdf4}} .del{{background:#fee7e6}}
.hunk{{color:#72777d}}</style></head>
<body><h1>Unsaved text of {title}</h1>
<p>From revision {body["base_revid"] or "(none: a new page)"} to the live text:
{body["chars"]} character{"" if body["chars"] == 1 else "s"} changed.</p>
<pre id="diff">{text}</pre></body></html>"""
        return web.Response(text=page, content_type="text/html", headers=PAGE_HEADERS)

    async def dashboard(self, request: web.Request) -> web.StreamResponse:
        """``GET /admin``: the live dashboard for admins, a clear 403 page for everyone else."""
        try:
            admin = await self._identify(request)
        except NotAuthorized as exc:
            return self._refusal(403, "Admins only", exc.message)
        except Refused as exc:
            return self._refusal(429, "Too many wrong tokens", exc.message)
        except WikiError as exc:
            return self._refusal(503, "The wiki cannot be reached", f"Cannot check who you are: {exc.message}")
        log.info("admin dashboard opened admin=%s via=%s", admin.name, admin.via)
        return web.FileResponse(STATIC_DIR / "admin.html", headers=PAGE_HEADERS)

    async def script(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC_DIR / "admin.js", headers={"Cache-Control": "no-cache"})

    def _refusal(self, status: int, heading: str, message: str, *, login_hint: bool = True) -> web.Response:
        hint = self._login_hint()
        body = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(heading)} · MediaWiki Collab</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;color:#202122}}
h1{{font-size:1.4rem}} code{{background:#eaecf0;padding:0 .25rem}}</style></head>
<body><h1>{html.escape(heading)}</h1>
<p>{html.escape(message)}.</p>
{hint if login_hint else ""}</body></html>"""
        return web.Response(status=status, text=body, content_type="text/html", headers=PAGE_HEADERS)

    def _login_hint(self) -> str:
        login = self.view.page_url("Special:UserLogin")
        return f"""<p>The session dashboard is for wiki administrators (members of the group
<code>{html.escape(self.auth.group)}</code>). <a href="{html.escape(login)}">Log in to the wiki</a>
with such an account in this browser, then reload this page.</p>
<p>Scripts use the admin token instead: <code>Authorization: Bearer &lt;token&gt;</code>
(<code>collab sessions --token</code>).</p>"""


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
            if not same_origin(environ):
                log.warning("admin namespace refused: cross-origin cookie from %s", environ.get("HTTP_ORIGIN"))
                raise socketio.exceptions.ConnectionRefusedError(
                    "cross-origin admin connections must use the admin token", {"code": "forbidden"}
                )
        try:
            address = self.hub.address_of(str(environ.get("REMOTE_ADDR", "")), environ.get("HTTP_X_FORWARDED_FOR"))
            admin = await self.hub.auth.identify(
                authorization=environ.get("HTTP_AUTHORIZATION"), cookie=cookie, token=token, address=address
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
            return error("forbidden", "not an admin connection")
        return await self.hub.view.full_snapshot()

    async def on_whoami(self, sid: str, data: Any = None) -> dict[str, Any]:
        admin = self._admin(sid)
        if admin is None:
            return error("forbidden", "not an admin connection")
        return {"ok": True, "name": admin.name, "via": admin.via}

    async def on_save_now(self, sid: str, data: Any = None) -> dict[str, Any]:
        admin, title = self._admin(sid), _title(data)
        if admin is None or title is None:
            return error("forbidden" if admin is None else "badrequest", "save_now takes {'title': <page title>}")
        return await self.hub.save_now(admin, title)

    async def on_end_session(self, sid: str, data: Any = None) -> dict[str, Any]:
        admin, title = self._admin(sid), _title(data)
        if admin is None or title is None:
            return error("forbidden" if admin is None else "badrequest", "end_session takes {'title': <page title>}")
        return await self.hub.end_session(admin, title)

    async def on_disconnect_user(self, sid: str, data: Any = None) -> dict[str, Any]:
        admin, title = self._admin(sid), _title(data)
        target_sid = data.get("sid") if isinstance(data, dict) and isinstance(data.get("sid"), str) else None
        user = data.get("user") if isinstance(data, dict) and isinstance(data.get("user"), str) else None
        if admin is None or title is None or not (target_sid or user):
            message = "disconnect_user takes {'title': <page title>, 'sid': <connection> or 'user': <name>}"
            return error("forbidden" if admin is None else "badrequest", message)
        return await self.hub.disconnect_user(admin, title, target_sid, user)


def _title(data: Any) -> str | None:
    title = data.get("title") if isinstance(data, dict) else None
    return title if isinstance(title, str) and title else None
