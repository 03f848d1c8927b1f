"""Prometheus metrics: an :class:`~collab.events.Observer` that counts, and the ``/metrics`` handler.

The service owns its :class:`CollectorRegistry` (never prometheus_client's global one), so two services in
one process (tests) do not share or clash over series. Gauges of current state (connections, open pages,
log size) are read when scraped, from callables app.py passes in, not maintained by hand.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder

from ..errors import Refused
from ..events import Observer
from ..protocol import error
from .auth import Guesses, bearer_token, token_matches

# Relaying is an in-process fan-out (sub-millisecond when healthy); saving is a wiki round trip (seconds).
RELAY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
SAVE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class Metrics(Observer):
    """The service's metrics, fed by the core's hooks and by gauges read at scrape time."""

    def __init__(
        self,
        *,
        connections: Callable[[], float],
        pages_open: Callable[[], float],
        editors: Callable[[], float],
        log_bytes: Callable[[], float],
        token: str = "",
        guesses: Guesses | None = None,
        address_of: Callable[[str, str | None], str] = lambda remote, forwarded_for: remote,
    ) -> None:
        self.token = token
        self.guesses = guesses or Guesses()  # wrong tokens, per address (shared with the admin views by app.py)
        self.address_of = address_of
        self.registry = CollectorRegistry(auto_describe=True)

        def gauge(name: str, doc: str, read: Callable[[], float]) -> None:
            Gauge(name, doc, registry=self.registry).set_function(read)

        def counter(name: str, doc: str, *labels: str) -> Counter:
            return Counter(name, doc, labels, registry=self.registry)

        def histogram(name: str, doc: str, buckets: tuple[float, ...]) -> Histogram:
            return Histogram(name, doc, buckets=buckets, registry=self.registry)

        gauge("collab_connections", "Open Socket.IO connections of editors.", connections)
        gauge("collab_pages_open", "Pages whose live document is in memory.", pages_open)
        gauge("collab_editors", "Editor sessions: (connection, page) pairs joined.", editors)
        gauge("collab_log_bytes", "Size of the durable update log on disk (database and WAL).", log_bytes)
        self.joins = counter("collab_joins", "Pages joined by a connection.")
        self.updates_in = counter("collab_updates_in", "Editors' document changes applied.")
        self.updates_out = counter("collab_updates_out", "Document updates sent to connections (one per recipient).")
        self.relay_latency = histogram(
            "collab_relay_latency_seconds",
            "From applying an update to having handed it to every other editor of the page.",
            RELAY_BUCKETS,
        )
        self.saves = counter(
            "collab_saves", "Save cycles by result: ok (a new revision), noop (nothing new), failed.", "result"
        )
        self.save_failures = counter("collab_save_failures", "Failed saves by error code.", "code")
        self.save_latency = histogram(
            "collab_save_latency_seconds",
            "Duration of save cycles that reached the wiki (ok or failed), read-back and merge included.",
            SAVE_BUCKETS,
        )
        self.outside_merges = counter(
            "collab_outside_edits_merged", "Revisions saved outside a session merged into it."
        )
        self.conflicts = counter("collab_edit_conflicts", "Edit conflicts answered by the wiki.")
        self.rejected_messages = counter(
            "collab_messages_rejected", "Messages refused, by reason (protocol error code).", "reason"
        )
        self.connections_cut = counter(
            "collab_connections_cut",
            "Connections the transport cut off, by reason: bad_packet (a refused Socket.IO packet), "
            "send_buffer (over --max-send-buffer-bytes of unsent output).",
            "reason",
        )
        for reason in ("bad_packet", "send_buffer"):
            self.connections_cut.labels(reason)
        for result in ("ok", "noop", "failed"):
            self.saves.labels(result)  # present (at 0) before the first save

    # ---- observer hooks --------------------------------------------------------------------------
    def joined(self, title: str, user: str, sid: str, readonly: bool) -> None:
        self.joins.inc()

    def update_in(self, title: str, user: str) -> None:
        self.updates_in.inc()

    def relayed(self, title: str, recipients: int, seconds: float) -> None:
        self.updates_out.inc(recipients)
        self.relay_latency.observe(seconds)

    def rejected(self, title: str, user: str, reason: str) -> None:
        self.rejected_messages.labels(reason).inc()

    def connection_cut(self, reason: str) -> None:
        self.connections_cut.labels(reason).inc()

    def save_finished(self, title: str, revid: int | None, seconds: float, error: str | None) -> None:
        if error is not None:
            self.saves.labels("failed").inc()
            self.save_failures.labels(error).inc()
            self.save_latency.observe(seconds)
        elif revid is not None:
            self.saves.labels("ok").inc()
            self.save_latency.observe(seconds)
        else:
            self.saves.labels("noop").inc()

    def conflict(self, title: str) -> None:
        self.conflicts.inc()

    def outside_merged(self, title: str, revid: int, user: str) -> None:
        self.outside_merges.inc()

    # ---- HTTP ------------------------------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.Response:
        """``GET /metrics``: the Prometheus text format (or OpenMetrics when asked for).

        Open unless the service was given a metrics token; then ``Authorization: Bearer <token>`` is required
        (401 without a token, 403 with a wrong one, 429 after too many wrong ones from the address).
        """
        if self.token:
            given = bearer_token(request.headers.get("Authorization", ""))
            if given is None:
                return web.json_response(
                    error("unauthorized", "a bearer token is required"),
                    status=401,
                    headers={"WWW-Authenticate": 'Bearer realm="collab-metrics"'},
                )
            address = self.address_of(request.remote or "", request.headers.get("X-Forwarded-For"))
            try:
                self.guesses.check(address)
            except Refused as exc:
                return web.json_response(error(exc.code, exc.message), status=429)
            if not token_matches(given, self.token):
                self.guesses.failed(address)
                return web.json_response(error("forbidden", "wrong metrics token"), status=403)
        encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
        return web.Response(body=encoder(self.registry), headers={"Content-Type": content_type})


def sqlite_bytes(path: Path) -> float:
    """Size on disk of an SQLite database with its WAL and shared-memory files (0 for missing files)."""
    total = 0
    for candidate in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            total += candidate.stat().st_size
        except FileNotFoundError:
            continue
    return float(total)
