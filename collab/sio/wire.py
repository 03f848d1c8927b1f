"""The core's :class:`collab.relay.Wire` port on python-socketio's default namespace: sending to one connection,
broadcasting one event encoded once to many, and disconnecting (with the TCP connection closed too, for
clients cut off for flooding); and cutting off connections the transport refuses to hold more for
(``bounds.py``: a refused packet, a full send buffer)."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Collection
from typing import Any

import engineio
import socketio

from .. import protocol as p
from ..events import Observer
from .bounds import BoundedEngine
from .frames import encoded, encoded_y
from .lightqueue import LightQueue
from .transport import LeanServer

log = logging.getLogger(__name__)


class SocketIOWire:
    """The :class:`collab.relay.Wire` port over python-socketio's default namespace."""

    def __init__(self, sio: socketio.AsyncServer, observer: Observer | None = None) -> None:
        self.sio = sio
        self.lean = isinstance(sio, LeanServer)
        self.observer = observer or Observer()
        self._eio_sids: dict[str, str] = {}  # Socket.IO sid -> Engine.IO sid (lean delivery)
        self._tcp_close: dict[str, Any] = {}  # Socket.IO sid -> its TCP transport's close()
        self._tcp: dict[str, Any] = {}  # Engine.IO sid -> its TCP transport (cut-offs)
        self._closing: set[asyncio.Task[None]] = set()  # Engine.IO disconnects of cut-off polling clients
        if isinstance(sio.eio, BoundedEngine):
            sio.eio.on_cut = self.cut

    def opened(self, sid: str, environ: dict[str, Any]) -> None:
        eio_sid = self.sio.manager.eio_sid_from_sid(sid, "/")
        if eio_sid is not None:
            self._eio_sids[sid] = eio_sid
        transport = getattr(environ.get("aiohttp.request"), "transport", None)
        if transport is not None:
            self._tcp_close[sid] = transport.close
            if eio_sid is not None:
                self._tcp[eio_sid] = transport
        sock = self.sio.eio.sockets.get(eio_sid) if eio_sid is not None else None
        queue = getattr(sock, "queue", None)
        if isinstance(queue, LightQueue) and eio_sid is not None:
            queue.on_overflow = functools.partial(self._overflowed, sid, eio_sid)

    def closed(self, sid: str) -> None:
        eio_sid = self._eio_sids.pop(sid, None)
        self._tcp_close.pop(sid, None)
        if eio_sid is not None:
            self._tcp.pop(eio_sid, None)

    def _overflowed(self, sid: str, eio_sid: str, would_hold: int) -> None:
        limit = self.sio.eio.max_send_buffer_bytes
        self.cut(eio_sid, "send_buffer", f"{would_hold} bytes unsent, over --max-send-buffer-bytes {limit} (sid={sid})")

    def cut(self, eio_sid: str, reason: str, detail: str) -> None:
        """Cut a connection off at once, for a reason of the transport's (``bad_packet``, ``send_buffer``):
        logged, counted (``Observer.connection_cut``), its TCP connection aborted (nothing more is read from
        it or written to it; the read loop ends and the usual disconnect follows). A connection whose TCP
        transport is not known (long-polling) gets an Engine.IO disconnect instead."""
        log.warning("cutting off connection %s: %s", eio_sid, detail)
        self.observer.connection_cut(reason)
        transport = self._tcp.pop(eio_sid, None)
        if transport is None:
            sock = self.sio.eio.sockets.get(eio_sid)
            transport = getattr(sock, "_transport", None)  # a lean socket knows its own
        if transport is not None:
            transport.abort()
        else:
            task = asyncio.ensure_future(self.sio.eio.disconnect(eio_sid))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

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

    async def drop(self, sid: str) -> None:
        """Close the connection under Socket.IO (an Engine.IO close, no Socket.IO disconnect): the client sees
        a lost connection and reconnects, to this server once it is back or to another node. For shutdowns:
        a Socket.IO disconnect would tell clients the server ended their session for good."""
        eio_sid = self.sio.manager.eio_sid_from_sid(sid, "/")
        if eio_sid is not None:
            await self.sio.eio.disconnect(eio_sid)
