"""Composition root: the only place where the concrete pieces meet, and the service's lifecycle.

Build order: the store, the wiki adapter and the registry; the Socket.IO server and its wire; the relay and
the sessions (core); the commit policy, which subscribes to the rooms and reaches the editors through the
sessions; then the observers (relay, metrics, dashboard, cluster) and the HTTP routes. The aiohttp
application carries the service under :data:`SERVICE` and runs its start and stop in ``cleanup_ctx``;
graceful shutdown (save, then disconnect) runs in ``on_shutdown``, after the listening socket is closed.

Shutdown is bounded (systemd and Kubernetes wait about 10 s before SIGKILL): on SIGTERM or SIGINT the server
stops listening first, saves for at most ``SAVE_S`` (a wiki that does not answer cannot hold it: the unsaved
text stays in the log and is saved after the restart), drops every connection so clients reconnect elsewhere,
and exits; the whole takes at most ``SHUTDOWN_S``. A second signal exits at once (exit code 1).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import socket
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiohttp import web

from .admin import AdminAuth, AdminHub, Metrics, SessionView, sqlite_bytes
from .admin.auth import Guesses, bearer_token, token_matches
from .auth import Authorizer, Identity
from .cluster import Cluster
from .commit import CommitManager
from .config import STATIC_DIR, Settings
from .errors import CollabError, InvalidTitle, Refused, WikiError
from .events import Fanout, Observer
from .lease import CommitLease, SoleCommitter
from .limits import Limits
from .mediawiki import MediaWiki
from .moves import PageMoves
from .origins import OriginPolicy, origin_of, parse_networks
from .protocol import error
from .recheck import recheck_loop
from .registry import Registry
from .relay import Relay
from .session import Sessions
from .sio import SocketIOServer, SocketIOWire, StaleMessageFilter, check_internals, socketio_server
from .staticfiles import StaticFiles
from .store import SQLiteStore, Store
from .tasks import TaskSet
from .titles import check_title, normalise_title
from .watch import OutsideEditWatcher

log = logging.getLogger(__name__)

SHUTDOWN_S = 9.0  # from the signal to the exit, every step included (systemd's and Kubernetes' 10 s, less a margin)
SAVE_S = 5.0  # of which saving open pages (the rest: dropping connections, storing the cluster's queue, closing)
CLOSE_S = 1.0  # how long aiohttp waits for request handlers (WebSockets) to end once connections are dropped


class Service:
    """Everything one server process runs, wired together."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.tasks = TaskSet()
        self.cluster: Cluster | None = None
        self._saves_abandoned = False  # the shutdown stopped waiting for the wiki: no more saves
        self.sqlite_path: Path | None = None
        if settings.redis:  # cluster mode (docs/scaling.md): log, relay, leases and presence on Redis
            self.cluster = Cluster(settings.redis, port=settings.port, lease_s=settings.commit_lease_s)
            self.store: Store = self.cluster.store
            lease: CommitLease = self.cluster.lease  # save intents in Redis, recorded with the lease check
        else:
            sqlite = SQLiteStore(settings.data_dir)
            self.store, self.sqlite_path = sqlite, sqlite.path
            lease = SoleCommitter(sqlite)  # save intents in the SQLite log
        self.wiki = MediaWiki(
            settings.wiki_api,
            settings.bot_user,
            settings.bot_password,
            tag_check_s=settings.tag_check_s,
            identity_cache_s=settings.identity_cache_s,
            bot_flag=settings.bot_flag,
        )
        self.registry = Registry(self.store, self.wiki)
        self.limits = Limits.from_settings(settings)
        # The wiki's origin joins in start(), once siteinfo is known.
        self.origins = OriginPolicy(settings.allowed_origin, on_refused=self._origin_refused)
        self._refused_origins: set[str] = set()
        self.sio = socketio_server(
            stock=settings.transport == "stock",
            max_send_buffer_bytes=settings.max_send_buffer_bytes,
            async_mode="aiohttp",
            # Above the message limit, so that the server sees an oversized message and says why.
            max_http_buffer_size=self.limits.transport_bytes,
            cors_allowed_origins=self.origins.allows,
            logger=False,
            engineio_logger=False,
            # join, leave and save each run in their own task: one waiting for the wiki never holds up the
            # connection's keystrokes or pings. (``y`` events skip that on the lean transport: it runs them
            # inline, in arrival order.)
            async_handlers=True,
        )
        logging.getLogger("engineio.server").addFilter(StaleMessageFilter())  # no log flood from cut-off clients
        self.observer = Fanout()  # relay, metrics, the admin dashboard and the cluster join below
        self.registry.on_loaded.append(lambda room: self.observer.page_opened(room.title))
        self.wire = wire = SocketIOWire(self.sio, self.observer)
        self.relay = Relay(self.registry, wire, self.tasks, self.observer)
        self.authorizer = Authorizer(
            self.wiki,
            token_secret=settings.token_secret,
            token_audience=settings.token_audience,
            token_issuer=settings.token_issuer,
            anonymous=settings.anonymous,
            allow_readonly=settings.allow_readonly,
        )
        self.sessions = Sessions(
            self.registry,
            self.wiki,
            self.relay,
            wire,
            self.tasks,
            authorizer=self.authorizer,
            limits=self.limits,
            observer=self.observer,
            trusted_proxies=parse_networks(settings.trusted_proxy),
        )
        self.commits = CommitManager(
            self.registry,
            self.wiki,
            self.tasks,
            self.sessions,
            commit_idle_s=settings.commit_idle_s,
            commit_max_s=settings.commit_max_s,
            unload_idle_s=settings.unload_idle_s,
            observer=self.observer,
            lease=lease,
            change_tag=settings.change_tag,
        )
        self.sessions.committer = self.commits  # the one link back: last editor left, explicit saves
        SocketIOServer(self.sio, wire, self.sessions)
        # Wrong bearer tokens per address: admin views, /metrics, the revisions route.
        self.guesses = Guesses(on_throttled=lambda: self.sessions.rejected("bearer_guesses"))
        address_of = self.sessions.client_ip
        self.metrics = Metrics(
            connections=lambda: len(self.sessions.connections),
            pages_open=lambda: len(self.registry.rooms),
            editors=lambda: sum(len(c.pages) for c in self.sessions.connections.values()),
            log_bytes=self._log_bytes,
            token=settings.metrics_token,
            guesses=self.guesses,
            address_of=address_of,
        )
        sessions = SessionView(
            self.registry,
            self.commits,
            self.store,
            self.sessions,
            wiki_api=settings.wiki_api,
            node=f"{socket.gethostname()}:{settings.port}",
        )
        admin_auth = AdminAuth(self.wiki, group=settings.admin_group, token=settings.admin_token, guesses=self.guesses)
        self.admin = AdminHub(self.sio, sessions, admin_auth, self.tasks, address_of=address_of)
        self.observer.observers += [self.relay, self.metrics, self.admin]
        if self.cluster is not None:
            self._bind_cluster(self.cluster, sessions)
        moves = PageMoves(self.registry, self.wiki, self.sessions, self.relay, self.commits, self.observer)
        self.watcher = OutsideEditWatcher(self.registry, self.wiki, self.commits, poll_s=settings.poll_s, moves=moves)
        self.app = web.Application(client_max_size=self.limits.transport_bytes)
        self.app[SERVICE] = self
        self.app.cleanup_ctx.append(_lifespan)
        self.app.on_shutdown.append(_graceful)
        self.sio.attach(self.app)
        self._routes()

    def _bind_cluster(self, cluster: Cluster, sessions: SessionView) -> None:
        relay = self.relay

        async def to_editors(title: str, msg: bytes) -> None:
            relay.broadcast(title, msg)

        async def status_to_editors(title: str, state: str, message: str, **extra: Any) -> None:
            relay.status(title, state, message, extra)

        cluster.bind(
            self.registry,
            self.commits,
            self.wiki,
            relay=to_editors,
            status=status_to_editors,
            rows=lambda: list(sessions.snapshot()["sessions"]),
            bot_user=self.settings.bot_user,
        )
        self.observer.observers.append(_ToOtherNodes(cluster))

        async def other_nodes_rows() -> list[dict[str, Any]]:
            return [row for node in await cluster.nodes() if node["node"] != cluster.node for row in node["rows"]]

        sessions.peer_rows = other_nodes_rows

    def _origin_refused(self, origin: str) -> None:
        self.sessions.rejected("origin")
        if origin in self._refused_origins or len(self._refused_origins) >= 1000:  # no log flood
            log.debug("refused a connection from the foreign origin %r", origin[:200])
            return
        self._refused_origins.add(origin)
        log.warning("refused a connection from the foreign origin %r (see --allowed-origin)", origin[:200])

    def _log_bytes(self) -> float:
        if self.cluster is not None:
            return self.cluster.used_memory  # Redis' used_memory, refreshed every few seconds
        return sqlite_bytes(self.sqlite_path) if self.sqlite_path else 0.0

    def _routes(self) -> None:
        self.app.router.add_get("/healthz", self.healthz)
        self.app.router.add_get("/readyz", self.readyz)
        self.app.router.add_get("/metrics", self.metrics.handle)
        self.admin.add_routes(self.app)  # /admin, /admin/admin.js, /api/sessions
        self.app.router.add_get("/api/pages/{title:.+}/revisions", self.page_revisions)
        self.app.router.add_get("/", self.index)
        if STATIC_DIR.is_dir():
            StaticFiles(STATIC_DIR).add_routes(self.app)  # hashed bundle: compressed, cached for a year

    async def start(self) -> None:
        """Log in to the wiki and start background work.

        Raises:
            WikiError: the wiki is unreachable or the bot's credentials are wrong.
        """
        await self.wiki.start()
        if self.cluster is not None:
            await self.cluster.start()
        scheme = "https" if self.settings.tls_cert else "http"
        own = f"{scheme}://{self.settings.host}:{self.settings.port}"
        self.origins.add(self.wiki.site_info.server, origin_of(self.wiki.api_url), own)
        allowed = ", ".join(sorted(self.origins.allowed))
        log.info("browser origins allowed to connect: %s (and this server's own)", allowed)
        self.tasks.spawn(self.watcher.run(), name="outside-edit poller")
        self.tasks.spawn(recheck_loop(self.sessions, self.settings.recheck_s), name="rights re-check")
        if self.settings.rcfeed_port:
            await self.watcher.listen(self.settings.rcfeed_port)
        for title in self.store.pending_titles():
            await self.registry.open(title)  # resumes the commit of work saved in the log before a restart

    async def shutdown(self) -> None:
        """Graceful shutdown: save every page for at most ``SAVE_S`` (editors still see the result), then drop
        the connections so that clients reconnect (to this server once it is back, or to another node), never
        a Socket.IO disconnect, which clients take as the end of their session."""
        self.watcher.close()
        await self._save_all("at shutdown", SAVE_S)
        for sid in list(self.sessions.connections):
            await self.wire.drop(sid)
        await self.sio.shutdown()

    async def stop(self) -> None:
        """Close everything (after shutdown() has saved what it could); every wait is bounded."""
        self.watcher.close()
        self.admin.close()
        if not self._saves_abandoned:  # (what changed since shutdown(); nothing, usually)
            await self._save_all("when closing", CLOSE_S)
        if self.cluster is not None:
            try:  # after the last saves: stores what is queued, hands back the leases
                await asyncio.wait_for(self.cluster.close(), SHUTDOWN_S - SAVE_S - 2 * CLOSE_S)
            except TimeoutError:
                log.error("leaving the cluster took too long: stopped; the leases expire by themselves")
        await self.tasks.cancel_all()
        await self.wiki.close()
        self.store.close()

    async def _save_all(self, when: str, within_s: float) -> None:
        """Save every page with unsaved changes, for at most ``within_s``: what is not saved by then stays in the
        log, and the next start resumes its save."""
        try:
            await asyncio.wait_for(self.commits.flush_all(), within_s)
        except TimeoutError:
            self._saves_abandoned = True
            unsaved = ", ".join(repr(t) for t, room in self.registry.rooms.items() if self.commits.pending(room))
            log.error("saving %s took more than %.0f s (does the wiki answer?): stopped waiting; the unsaved text "
                      "stays in the log and is saved after the restart (unsaved: %s)",
                      when, within_s, unsaved or "none")  # fmt: skip

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
        """``GET /api/pages/{title}/revisions``: the co-authors of each revision saved here, for whoever may read
        the page as a join would decide (wiki session cookie, a signed token as ``Authorization: Bearer``, the
        anonymous user where allowed), or the admin token. 403 (429 when throttled, 400 for a bad title,
        503 when the wiki cannot tell) with the protocol's error shape otherwise."""
        address = self.sessions.client_ip(request.remote or "", request.headers.get("X-Forwarded-For"))
        try:
            title = normalise_title(check_title(request.match_info["title"]))
            title = await self._readable_title(request, title, address)
        except Refused as exc:
            log.info("revisions of %r refused ip=%s: %s", request.match_info["title"][:200], address, exc.message)
            return web.json_response(error(exc.code, exc.message), status=429 if exc.code == "ratelimited" else 403)
        except InvalidTitle as exc:
            return web.json_response(error("invalidtitle", exc.message), status=400)
        except WikiError as exc:
            return web.json_response(error("wikiunavailable", f"cannot ask the wiki: {exc.message}"), status=503)
        revisions = [
            {"revid": r.revid, "timestamp": r.timestamp, "coauthors": r.coauthors, "summary": r.summary}
            for r in self.store.revisions(title)
        ]
        return web.json_response({"title": title, "revisions": revisions})

    async def _readable_title(self, request: web.Request, title: str, address: str) -> str:
        """The wiki's title for ``title`` if the request's credentials may read it (the admin token: any).

        Raises Refused (forbidden, or ratelimited: wrong bearer tokens or requests per address), WikiError.
        """
        given = bearer_token(request.headers.get("Authorization", ""))
        cookie: str | None = None
        if given is not None:
            self.guesses.check(address)
            if token_matches(given, self.settings.admin_token):
                return title
            if self.authorizer.tokens is None:
                self.guesses.failed(address)
                raise Refused(
                    "the bearer token is not the admin token and this server accepts no signed tokens",
                    code="forbidden",
                    reason="token_disabled",
                )
            try:
                claims = self.authorizer.tokens.verify(given)
            except Refused:
                self.guesses.failed(address)
                raise
            identity = Identity(claims.sub, False, "token", address, claims)
        else:
            cookie = request.headers.get("Cookie")
            # Asking the wiki costs it a request: counted like a join of the address, before the wiki is asked.
            self.sessions.limiter.join(f"ip:{address}", 0)
            identity = await self.authorizer.identify(cookie, None, address)
        access = await self.authorizer.readable(identity, cookie if identity.source == "session" else None, title)
        return access.title

    async def index(self, request: web.Request) -> web.StreamResponse:
        page = STATIC_DIR / "index.html"
        if not page.is_file():
            return web.Response(text="MediaWiki Collab is running; the browser client is not built.")
        return web.FileResponse(page)


class _ToOtherNodes(Observer):
    """Page-wide announcements made here reach the page's editors on the other nodes too."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster

    def status(self, title: str, state: str, message: str, extra: dict[str, Any]) -> None:
        self.cluster.publish_status(title, state, message, extra)


SERVICE = web.AppKey("service", Service)


async def _lifespan(app: web.Application) -> AsyncIterator[None]:
    service = app[SERVICE]
    await service.start()
    yield
    await service.stop()


async def _graceful(app: web.Application) -> None:
    await app[SERVICE].shutdown()


def tls_context(cert_file: str, key_file: str) -> ssl.SSLContext:
    """A server TLS context (TLS >= 1.2) for ``--tls-cert``/``--tls-key``.

    Raises:
        OSError: a file cannot be read.
        ssl.SSLError: the files are not a matching PEM certificate chain and key.
    """
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_file, key_file)
    return context


async def serve(settings: Settings) -> int:
    """Run the service until SIGTERM/SIGINT. Returns the process exit code."""
    ssl_context = None
    if settings.tls_cert:
        try:
            ssl_context = tls_context(settings.tls_cert, settings.tls_key)
        except (OSError, ssl.SSLError) as exc:
            log.error("cannot use --tls-cert/--tls-key: %s", exc)
            return 2
    stock = settings.transport == "stock"
    if missing := check_internals(stock=stock):
        hint = "install the versions pinned in pyproject.toml" + ("" if stock else ", or run with --transport stock")
        log.error("python-socketio/python-engineio lack what --transport %s needs (%s): %s", settings.transport,
                  ", ".join(missing), hint)  # fmt: skip
        return 2
    if settings.transport == "stock":
        log.info("Socket.IO on python-socketio as shipped (--transport stock): slower; bounded queues only")
    service = Service(settings)
    # shutdown_timeout: how long aiohttp waits for handlers once the connections are dropped (its default, 60 s,
    # kept the process alive while WebSocket handlers wound down).
    runner = web.AppRunner(service.app, handle_signals=False, access_log=None, shutdown_timeout=CLOSE_S)
    try:
        await runner.setup()  # runs Service.start()
    except CollabError as exc:  # the wiki or (cluster mode) Redis cannot be reached
        log.error("cannot start: %s", exc.message)
        await service.wiki.close()
        if service.cluster is not None:
            await service.cluster.close()
        return 2
    site = web.TCPSite(runner, settings.host, settings.port, ssl_context=ssl_context)
    try:
        await site.start()
    except OSError as exc:
        log.error("cannot listen on %s:%d: %s", settings.host, settings.port, exc.strerror)
        await runner.cleanup()
        return 2
    # Everything built so far (modules, the wiki client, caches) lives as long as the process: keep it out of
    # the garbage collector's full passes, which otherwise stall the relay for tens of milliseconds.
    gc.collect()
    gc.freeze()
    scheme = "https" if ssl_context else "http"
    log.info("MediaWiki Collab listening on %s://%s:%d (wiki %s)", scheme, settings.host, settings.port,
             settings.wiki_api)  # fmt: skip
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, _on_signal, sig, stop)
    await stop.wait()
    log.info("shutting down: no new connections; saving open pages (at most %.0f s), then closing every "
             "connection (at most %.0f s in all; a second signal exits at once)", SAVE_S, SHUTDOWN_S)  # fmt: skip
    try:
        # Stops listening first, then saves and drops every connection (on_shutdown), then closes.
        await asyncio.wait_for(runner.cleanup(), SHUTDOWN_S)
    except TimeoutError:
        log.error("the shutdown took more than %.0f s: exiting anyway; unsaved text stays in the log", SHUTDOWN_S)
        return 1
    log.info("shut down")
    return 0


def _on_signal(sig: signal.Signals, stop: asyncio.Event) -> None:
    """The first SIGTERM/SIGINT starts the graceful shutdown; a second one exits at once."""
    if not stop.is_set():
        stop.set()
        return
    log.warning("%s again during the shutdown: exiting now; unsaved text stays in the log", sig.name)
    logging.shutdown()  # (flush the log: os._exit skips every handler)
    os._exit(1)
