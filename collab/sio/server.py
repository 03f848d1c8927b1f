"""The Socket.IO adapter: maps the default namespace's events to :class:`collab.session.Sessions`, and
implements the core's :class:`collab.relay.Wire` port on python-socketio.

Two ways to run (``--transport``): ``lean`` (the default) runs python-socketio on the lean WebSocket loop
of ``transport.py``, which reads ``y`` events inline and writes each broadcast encoded once; ``stock`` runs
python-socketio exactly as shipped, for when an upgrade of python-socketio/python-engineio changes the
internals the lean loop relies on (checked at start-up: :func:`transport.check_internals`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Collection
from typing import Any

import engineio
import socketio

from .. import protocol as p
from ..errors import CollabError
from ..session import Sessions
from .frames import encoded, encoded_y
from .transport import LeanServer

log = logging.getLogger(__name__)


def socketio_server(*, stock: bool, **kwargs: Any) -> socketio.AsyncServer:
    """python-socketio's server: on the lean transport, or as shipped (``stock``)."""
    return socketio.AsyncServer(**kwargs) if stock else LeanServer(**kwargs)


class SocketIOWire:
    """The :class:`collab.relay.Wire` port over python-socketio's default namespace."""

    def __init__(self, sio: socketio.AsyncServer) -> None:
        self.sio = sio
        self.lean = isinstance(sio, LeanServer)
        self._eio_sids: dict[str, str] = {}  # Socket.IO sid -> Engine.IO sid (lean delivery)
        self._tcp_close: dict[str, Any] = {}  # Socket.IO sid -> its TCP transport's close()

    def opened(self, sid: str, environ: dict[str, Any]) -> None:
        eio_sid = self.sio.manager.eio_sid_from_sid(sid, "/")
        if eio_sid is not None:
            self._eio_sids[sid] = eio_sid
        transport = getattr(environ.get("aiohttp.request"), "transport", None)
        if transport is not None:
            self._tcp_close[sid] = transport.close

    def closed(self, sid: str) -> None:
        self._eio_sids.pop(sid, None)
        self._tcp_close.pop(sid, None)

    async def send(self, sid: str, event: str, *args: Any) -> None:
        await self.sio.emit(event, args, to=sid)

    async def broadcast(self, sids: Collection[str], event: str, args: tuple[Any, ...]) -> int:
        if not self.lean:
            await self.sio.emit(event, args, to=list(sids))
            return len(sids)
        # ``sio.emit(event, args, room=...)`` without its per-recipient tasks: the packet is encoded once and
        # handed to each recipient's Engine.IO socket directly (transport.py).
        if event == p.EVENT_Y:
            frames = encoded_y(*args)
        else:
            frames = encoded(self.sio.packet_class(socketio.packet.EVENT, namespace="/", data=[event, *args]))
        deliver = self.sio.eio.deliver
        sent = 0
        for sid in sids:
            eio_sid = self._eio_sids.get(sid)
            if eio_sid is None:
                continue
            try:
                deliver(eio_sid, frames)
            except engineio.exceptions.SocketIsClosedError:
                continue  # disconnecting: its disconnect handler removes it from the page
            sent += 1
        return sent

    async def disconnect(self, sid: str, *, close_tcp: bool = False) -> None:
        if not close_tcp:
            await self.sio.disconnect(sid)
            return
        # Disconnect, then close the TCP connection: python-engineio would otherwise go on reading (and
        # python-socketio raising for) everything the client already sent, and a flooder has thousands of
        # messages in flight. The status and the disconnect packet are flushed first.
        eio_sid = self.sio.manager.eio_sid_from_sid(sid, "/")
        close = self._tcp_close.get(sid)
        await self.sio.disconnect(sid)
        if eio_sid is not None:
            await self.sio.eio.disconnect(eio_sid)  # returns once the queued packets are written
        if close is not None:
            close()


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
            return await self.sessions.connect(
                sid,
                remote=str(environ.get("REMOTE_ADDR", "")),
                forwarded_for=environ.get("HTTP_X_FORWARDED_FOR"),
                cookie=environ.get("HTTP_COOKIE"),
                auth=auth,
            )
        except CollabError as exc:
            self.wire.closed(sid)
            raise socketio.exceptions.ConnectionRefusedError(exc.message, {"code": exc.code}) from None

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
