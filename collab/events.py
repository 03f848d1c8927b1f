"""Observer hooks: what the core reports about itself, for metrics and the live admin dashboard.

The core (server, commit policy) calls these methods at the moments that matter; it never imports
prometheus_client or knows who is watching. Every method is a no-op here, so a component built without
observers (tests, tools) pays nothing. :class:`Fanout` forwards each call to several observers; app.py
wires the concrete ones (``relay.Relay``, ``admin.metrics.Metrics``, the admin hub, the cluster).

Hooks are synchronous, run on the event loop, and must not raise or block: they only count, record and
schedule.
"""

from __future__ import annotations

from typing import Any


class Observer:
    """Hooks the core calls when something observable happens (all no-ops by default)."""

    def page_opened(self, title: str) -> None:
        """A page's room was loaded (from the log or the wiki)."""

    def page_closed(self, title: str) -> None:
        """A page's room was unloaded (no editors, nothing unsaved)."""

    def joined(self, title: str, user: str, sid: str, readonly: bool) -> None:
        """A connection joined a page."""

    def left(self, title: str, user: str, sid: str) -> None:
        """A connection left a page (by itself, by disconnecting, or removed by the server)."""

    def update_in(self, title: str, user: str) -> None:
        """An editor's change was applied to the page's document."""

    def relayed(self, title: str, recipients: int, seconds: float) -> None:
        """A document update was sent to ``recipients`` connections, ``seconds`` after it was applied."""

    def rejected(self, title: str, user: str, reason: str) -> None:
        """A message from a connection was refused (``reason`` is a protocol error code)."""

    def connection_cut(self, reason: str) -> None:
        """The transport cut a connection off: ``bad_packet`` (a Socket.IO packet it never accepts) or
        ``send_buffer`` (more unsent output than ``--max-send-buffer-bytes``)."""

    def save_started(self, title: str) -> None:
        """A save cycle of the page began."""

    def save_finished(self, title: str, revid: int | None, seconds: float, error: str | None) -> None:
        """A save cycle ended: ``error`` is the error code of a failure, else None; ``revid`` None: nothing new."""

    def conflict(self, title: str) -> None:
        """The wiki answered a save with an edit conflict (it will be merged and retried)."""

    def outside_merged(self, title: str, revid: int, user: str) -> None:
        """A revision saved outside the session was merged into the live document."""

    def status(self, title: str, state: str, message: str, extra: dict[str, Any]) -> None:
        """A page-wide announcement for the page's editors (``saving``, ``saved``, ``merged``, ``error``):
        the relay sends it to this node's editors, the cluster to the other nodes', the dashboard refreshes."""


class Fanout(Observer):
    """Forwards every hook to each of ``observers``, in order."""

    def __init__(self, *observers: Observer) -> None:
        self.observers = list(observers)

    def page_opened(self, title: str) -> None:
        for o in self.observers:
            o.page_opened(title)

    def page_closed(self, title: str) -> None:
        for o in self.observers:
            o.page_closed(title)

    def joined(self, title: str, user: str, sid: str, readonly: bool) -> None:
        for o in self.observers:
            o.joined(title, user, sid, readonly)

    def left(self, title: str, user: str, sid: str) -> None:
        for o in self.observers:
            o.left(title, user, sid)

    def update_in(self, title: str, user: str) -> None:
        for o in self.observers:
            o.update_in(title, user)

    def relayed(self, title: str, recipients: int, seconds: float) -> None:
        for o in self.observers:
            o.relayed(title, recipients, seconds)

    def rejected(self, title: str, user: str, reason: str) -> None:
        for o in self.observers:
            o.rejected(title, user, reason)

    def connection_cut(self, reason: str) -> None:
        for o in self.observers:
            o.connection_cut(reason)

    def save_started(self, title: str) -> None:
        for o in self.observers:
            o.save_started(title)

    def save_finished(self, title: str, revid: int | None, seconds: float, error: str | None) -> None:
        for o in self.observers:
            o.save_finished(title, revid, seconds, error)

    def conflict(self, title: str) -> None:
        for o in self.observers:
            o.conflict(title)

    def outside_merged(self, title: str, revid: int, user: str) -> None:
        for o in self.observers:
            o.outside_merged(title, revid, user)

    def status(self, title: str, state: str, message: str, extra: dict[str, Any]) -> None:
        for o in self.observers:
            o.status(title, state, message, extra)
