"""Composition root: the only place where the concrete pieces meet, and the service's lifecycle."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import socketio
from aiohttp import web

from .commit import CommitManager
from .config import Settings
from .errors import WikiError
from .registry import Registry
from .server import CollabServer
from .store import Store
from .tasks import TaskSet
from .watch import OutsideEditWatcher
from .wiki import WikiGateway

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"


class Service:
    """Everything one server process runs, wired together."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.tasks = TaskSet()
        self.store = Store(settings.data_dir)
        self.wiki = WikiGateway(settings.wiki_api, settings.bot_user, settings.bot_password)
        self.registry = Registry(self.store, self.wiki)
        self.sio = socketio.AsyncServer(
            async_mode="aiohttp",
            max_http_buffer_size=settings.max_message_bytes,
            cors_allowed_origins=[],  # set in start(), once the wiki's origin is known
            logger=False,
            engineio_logger=False,
        )
        self.commits = CommitManager(
            self.registry,
            self.wiki,
            self.tasks,
            notify=self._notify,
            has_editors=lambda title: bool(self.server.editors(title)),
            cookie_for=self._cookie_for,
            commit_idle_s=settings.commit_idle_s,
            commit_max_s=settings.commit_max_s,
            unload_idle_s=settings.unload_idle_s,
        )
        self.server = CollabServer(
            self.sio,
            self.registry,
            self.wiki,
            self.commits,
            self.tasks,
            max_message_bytes=settings.max_message_bytes,
        )
        self.watcher = OutsideEditWatcher(self.registry, self.wiki, self._check_outside, poll_s=settings.poll_s)
        self.app = web.Application(client_max_size=settings.max_message_bytes)
        self.sio.attach(self.app)
        self._routes()

    async def _notify(self, title: str, state: str, message: str, **extra: Any) -> None:
        await self.server.broadcast_status(title, state, message, **extra)

    def _cookie_for(self, user: str) -> str | None:
        for conn in self.server.connections.values():
            if conn.user == user and conn.cookie:
                return conn.cookie
        return None

    async def _check_outside(self, title: str, lastrevid: int | None) -> None:
        room = self.registry.rooms.get(title)
        if room is not None:
            await self.commits.check_outside(room, lastrevid)

    def _routes(self) -> None:
        self.app.router.add_get("/healthz", self.healthz)
        self.app.router.add_get("/readyz", self.readyz)
        self.app.router.add_get("/api/pages/{title:.+}/revisions", self.page_revisions)
        self.app.router.add_get("/", self.index)
        if STATIC_DIR.is_dir():
            self.app.router.add_static("/static/", STATIC_DIR, append_version=False)

    async def start(self) -> None:
        """Log in to the wiki and start background work.

        Raises:
            WikiError: the wiki is unreachable or the bot's credentials are wrong.
        """
        await self.wiki.start()
        origins = {_origin(self.wiki.site_info.server), _origin(self.wiki.api_url)}
        origins.add(f"http://{self.settings.host}:{self.settings.port}")
        self.sio.eio.cors_allowed_origins = sorted(o for o in origins if o)
        self.tasks.spawn(self.watcher.run(), name="outside-edit poller")
        if self.settings.rcfeed_port:
            await self.watcher.listen(self.settings.rcfeed_port)
        for title in self.store.pending_titles():
            await self.registry.open(title)  # resumes the commit of work saved in the log before a restart

    async def stop(self) -> None:
        """Graceful shutdown: save every page with unsaved changes, then close everything."""
        self.watcher.close()
        await self.commits.flush_all()
        await self.tasks.cancel_all()
        await self.wiki.close()
        self.store.close()

    # ---- HTTP ------------------------------------------------------------------------------------
    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def readyz(self, request: web.Request) -> web.Response:
        checks = {"store": self.store.writable()}
        try:
            await self.wiki.last_revids(["Main Page"])
            checks["wiki"] = True
        except WikiError:
            checks["wiki"] = False
        ok = all(checks.values())
        return web.json_response({"ok": ok, **checks}, status=200 if ok else 503)

    async def page_revisions(self, request: web.Request) -> web.Response:
        title = normalise_title(request.match_info["title"])
        revisions = [
            {"revid": r.revid, "timestamp": r.timestamp, "coauthors": r.coauthors, "summary": r.summary}
            for r in self.store.revisions(title)
        ]
        return web.json_response({"title": title, "revisions": revisions})

    async def index(self, request: web.Request) -> web.StreamResponse:
        page = STATIC_DIR / "index.html"
        if not page.is_file():
            return web.Response(text="MediaWiki Collab is running; the browser client is not built.")
        return web.FileResponse(page)


def normalise_title(title: str) -> str:
    """MediaWiki's basic title normalisation (underscores, outer spaces, first letter upper case)."""
    title = " ".join(title.replace("_", " ").split())
    return title[:1].upper() + title[1:]


def _origin(url: str) -> str:
    parts = urlsplit(url if "//" in url else "//" + url)
    if not parts.netloc:
        return ""
    return f"{parts.scheme or 'http'}://{parts.netloc}"


async def serve(settings: Settings) -> int:
    """Run the service until SIGTERM/SIGINT. Returns the process exit code."""
    service = Service(settings)
    try:
        await service.start()
    except WikiError as exc:
        log.error("cannot start: %s", exc.message)
        await service.wiki.close()
        return 2
    runner = web.AppRunner(service.app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port)
    try:
        await site.start()
    except OSError as exc:
        log.error("cannot listen on %s:%d: %s", settings.host, settings.port, exc.strerror)
        await service.stop()
        return 2
    log.info("MediaWiki Collab listening on http://%s:%d (wiki %s)", settings.host, settings.port, settings.wiki_api)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("shutting down: saving open pages")
    await service.sio.shutdown()
    await service.stop()
    await runner.cleanup()
    return 0
