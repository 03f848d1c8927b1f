"""The Socket.IO adapter's event map: each event of the default namespace goes to one method of
:class:`collab.session.Sessions` (the :class:`collab.relay.Wire` port is ``wire.py``).

Two ways to run (``--transport``): ``lean`` (the default) runs python-socketio on the lean WebSocket loop
of ``transport.py``, which reads ``y`` events inline and writes each broadcast encoded once; ``stock`` runs
python-socketio exactly as shipped, for when an upgrade of python-socketio/python-engineio changes the
internals the lean loop relies on (checked at start-up: :func:`transport.check_internals`).
"""

from __future__ import annotations

import logging
import os
from typing import Any

import socketio

from .. import protocol as p
from ..errors import CollabError
from ..session import Sessions
from .bounds import BoundedEngine, StockServer, guard_packets
from .transport import LeanServer
from .wire import SocketIOWire

log = logging.getLogger(__name__)


def socketio_server(*, stock: bool, max_send_buffer_bytes: int = 0, **kwargs: Any) -> socketio.AsyncServer:
    """python-socketio's server: on the lean transport, or as shipped (``stock``); either way on a
    :class:`~collab.sio.bounds.BoundedEngine` (at most ``max_send_buffer_bytes`` queued for each connection,
    0: no limit) with its binary packets guarded (:func:`~collab.sio.bounds.guard_packets`)."""
    sio = StockServer(**kwargs) if stock else LeanServer(**kwargs)
    if not isinstance(sio.eio, BoundedEngine):  # python-socketio no longer builds its engine the way we rely on
        raise RuntimeError("python-socketio did not build its Engine.IO server with our class: unsupported version")
    sio.eio.max_send_buffer_bytes = max_send_buffer_bytes
    guard_packets(sio)
    return sio


class SocketIOServer:
    """The default namespace's events, each mapped to one method of the sessions."""

    def __init__(self, sio: socketio.AsyncServer, wire: SocketIOWire, sessions: Sessions) -> None:
        self.sio = sio
        self.wire = wire
        self.sessions = sessions
        sio.on("connect", self.on_connect)
        sio.on("disconnect", self.on_disconnect)
        sio.on(p.EVENT_JOIN, sessions.join)
        sio.on(p.EVENT_LEAVE, sessions.leave)
        sio.on(p.EVENT_Y, sessions.y)
        sio.on(p.EVENT_SAVE, sessions.save)
        if isinstance(sio, LeanServer):
            sio.on_fast_y(sessions.y)  # the same handler, without python-socketio's per-message work

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> bool:
        """A refusal reaches the client as ``connect_error`` with ``{"code", ...}``; Socket.IO clients do not
        retry a refused connection by themselves."""
        self.wire.opened(sid, environ)
        try:
            accepted = await self.sessions.connect(
                sid,
                remote=str(environ.get("REMOTE_ADDR", "")),
                forwarded_for=environ.get("HTTP_X_FORWARDED_FOR"),
                cookie=environ.get("HTTP_COOKIE"),
                auth=auth,
            )
        except CollabError as exc:
            self.wire.closed(sid)
            raise socketio.exceptions.ConnectionRefusedError(exc.message, {"code": exc.code}) from None
        if not accepted:  # it went away while the wiki was asked
            self.wire.closed(sid)
        return accepted

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        self.wire.closed(sid)
        await self.sessions.disconnect(sid, reason)


class StaleMessageFilter(logging.Filter):
    """Drops python-socketio's traceback for each message a cut-off client still had in flight.

    After the server disconnects a client (a flood, an oversized message), python-engineio keeps reading
    what the client had already sent, and python-socketio raises for every binary message of the closed
    namespace. A flooder has thousands in flight: each would log a traceback, a flood of its own.
    """

    def __init__(self) -> None:
        super().__init__()
        self.dropped = 0

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, ValueError) and exc.__traceback__ is not None:
            frame = exc.__traceback__
            while frame.tb_next is not None:
                frame = frame.tb_next
            if f"{os.sep}socketio{os.sep}" in frame.tb_frame.f_code.co_filename:
                self.dropped += 1
                return False
        return True
