"""A leaner WebSocket loop under python-socketio: the same Engine.IO 4 / Socket.IO 5 wire protocol, less work
per message.

python-engineio's own WebSocket loop spends more CPU per message than applying the CRDT update: for every
frame it starts a task and a ``wait_for`` timer, tries to parse the frame as JSON (and catches the
failure: Socket.IO frames are not JSON), starts another task to run the handler, and python-socketio then
decodes the event's header and reassembles the binary attachment. The ``y`` event, nearly all the traffic,
is two frames: ``451-["y","<title>",{"_placeholder":true,"num":0}]`` and the binary attachment.

:class:`LeanSocket` replaces only the WebSocket loop of python-engineio's socket (connections that start
on the WebSocket transport, as every client of ours does; a polling client that upgrades keeps the
library's loop):

- reading: one ``receive()`` per frame, no task, no timer (a dead peer is found by python-engineio's own
  ping check, which closes the socket; the writer then closes the WebSocket, which ends the read);
- a ``y`` event without an ack goes straight to the registered handler, inline, in arrival order; every
  other message takes the library's path (its own task, as before: a join or a save that waits for the
  wiki never holds up the connection's other messages);
- writing: a broadcast is encoded once (``frames.py``) and written to each recipient's WebSocket at
  once (:meth:`LeanSocket.deliver`) when nothing is queued before it and the peer keeps up; otherwise it
  joins python-engineio's queue, which one writer per connection drains, so everything sent to a
  connection keeps one order.

Connections queue their packets in a :class:`~collab.sio.lightqueue.LightQueue`, and the WebSocket itself
declines permessage-deflate (:class:`LeanWebSocket`).

Everything else (handshake, namespaces, acks, rooms, disconnects, the admin namespace) is python-socketio's.
``tests/`` run every client through this path; ``bench/`` measures it (docs/performance.md).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import engineio
import socketio
from aiohttp import WSMsgType
from aiohttp.web import WebSocketResponse
from engineio import packet as eio_packet
from engineio.async_drivers import aiohttp as aiohttp_driver
from engineio.async_socket import AsyncSocket

from .bounds import MAX_BINARY_HEADER_BYTES, BoundedEngine, PacketRefused, refusal
from .frames import NOT_Y, Y_HEADER, Frames, y_title

log = logging.getLogger(__name__)

# Above this much unsent output a connection's packets wait in its queue for its writer, so that one slow
# reader never holds up the relay of a page to the others.
BACKLOG_BYTES = 64 * 1024
FastHandler = Callable[[str, Any, bytes], Awaitable[None]]  # (sid, title, binary)


class LeanSocket(AsyncSocket):  # type: ignore[misc]
    """python-engineio's socket with a leaner WebSocket loop (see the module's docstring)."""

    connected: bool  # python-engineio's own attributes
    upgraded: bool
    last_ping: float | None
    _ws: Any = None  # aiohttp's WebSocketResponse, once the lean loop runs
    _writer: asyncio.Future[None] | None = None  # the writer task, while packets wait
    _lock: asyncio.Lock | None = None  # held while a packet is being written
    _transport: asyncio.Transport | None = None
    fast_pending: tuple[str, Any] | None = None  # (sid, title) of a ``y`` header; the next frame is its attachment
    last_header: str = ""  # the latest ``y`` header with a string title, and that title
    last_title: str = ""

    async def _websocket_handler(self, ws: Any) -> None:
        if self.connected:  # an upgrade from long-polling: the library's loop handles its handshake
            await super()._websocket_handler(ws)
            return
        self.connected = True
        self.upgraded = True
        server: LeanEngine = self.server
        sock = ws._sock  # aiohttp's WebSocketResponse (python-engineio's aiohttp driver)
        limit = server.max_http_buffer_size
        self._ws, self._lock = sock, asyncio.Lock()
        self._transport = getattr(ws.environ.get("aiohttp.request"), "transport", None)
        self._wake_writer()  # the OPEN packet is queued already
        try:
            while True:
                msg = await sock.receive()
                if msg.type is not WSMsgType.TEXT and msg.type is not WSMsgType.BINARY:
                    break  # CLOSE, CLOSING, CLOSED, ERROR
                if len(msg.data) > limit:
                    break
                await self._frame(msg.data)
        except engineio.exceptions.SocketIsClosedError:
            pass
        except PacketRefused as exc:  # before python-socketio buffers what it announces
            server.cut(self.sid, "bad_packet", str(exc))
        except (ValueError, engineio.exceptions.UnknownPacketError) as exc:  # not Engine.IO: hang up
            log.info("closing the WebSocket of %s: a frame that is not Engine.IO (%s)", self.sid, exc)
        except Exception:  # same as the library: log, then end the connection properly
            log.exception("unexpected error on the WebSocket of %s", self.sid)
        finally:
            self.queue.put_nowait(None)  # what is queued still goes out, then the writer stops
            self._wake_writer()
            if self._writer is not None:
                await self._writer
            await self.close(wait=False, abort=True, reason=server.reason.TRANSPORT_CLOSE)

    async def _frame(self, data: str | bytes) -> None:
        """One frame: the attachment of a ``y`` header, a ``y`` header, another Socket.IO packet, or an
        Engine.IO control packet (PONG, CLOSE, ...)."""
        if isinstance(data, bytes):
            pending, self.fast_pending = self.fast_pending, None
            if pending is not None:
                await self.server.fast_y(*pending, data)
            else:
                await self._message(data)
        elif not data:
            return
        elif data[0] != "4":  # not an Engine.IO MESSAGE
            await self.receive(eio_packet.Packet(encoded_packet=data))
        elif self.fast_pending is None and data.startswith(Y_HEADER):
            sid = self.server.fast_sid(self.sid)
            title = self._y_title(data) if sid is not None else NOT_Y
            if title is NOT_Y:
                await self._packet(data[1:])
            else:
                self.fast_pending = (sid, title)  # the attachment is the next frame
        else:
            await self._packet(data[1:])

    async def _packet(self, packet: str) -> None:
        """A Socket.IO packet other than an ack-less ``y`` header: refused (:func:`bounds.refusal`) or
        handed to python-socketio."""
        if (why := refusal(packet)) is not None:
            raise PacketRefused(why)
        await self._message(packet)

    def _y_title(self, header: str) -> Any:
        if header == self.last_header:  # an editor sends the same header with every keystroke
            return self.last_title
        if len(header) > MAX_BINARY_HEADER_BYTES:
            raise PacketRefused(f"a y header of {len(header)} characters (limit {MAX_BINARY_HEADER_BYTES})")
        title = y_title(header)
        if isinstance(title, str):
            self.last_header, self.last_title = header, title
        return title

    async def _message(self, data: str | bytes) -> None:
        """Any other message: python-socketio's own path, in its own task as python-engineio runs it."""
        await self.server._trigger_event("message", self.sid, data, run_async=self.server.async_handlers)

    def _wake_writer(self) -> None:
        """Start the writer if packets wait and none runs: a writer task exists only while there is
        something to write (an idle connection holds no task of its own besides its read loop)."""
        if self._writer is None and self._ws is not None and not self.queue.empty():
            self._writer = asyncio.ensure_future(self._write(self._ws))

    async def _write(self, sock: Any) -> None:
        """Send the queued packets in order until the queue is empty, None (the read loop ended) or CLOSE."""
        queue = self.queue
        lock = self._lock
        assert lock is not None
        try:
            while not queue.empty():
                pkt = queue.get_nowait()
                queue.task_done()
                if pkt is None:
                    return
                async with lock:  # after a direct delivery (deliver) still being written, if any
                    await _send(sock, pkt)
                if pkt.packet_type == eio_packet.CLOSE:
                    await sock.close()  # a server-side disconnect: this also ends the read loop
                    return
        except Exception:  # the peer is gone: the read loop ends on its own
            while not queue.empty():  # nothing more can be sent: release whoever waits on queue.join()
                queue.get_nowait()
                queue.task_done()
        finally:
            self._writer = None

    async def send(self, pkt: eio_packet.Packet) -> None:
        """python-engineio's ``send`` (acks, events, pings, CLOSE), waking the writer on demand."""
        if self._ws is None:  # before the lean loop runs (the OPEN packet)
            await super().send(pkt)
            return
        if not await self.check_ping_timeout():
            return
        self.queue.put_nowait(pkt)
        self._wake_writer()

    def schedule_ping(self) -> None:
        """The next PING in ``ping_interval``, as a timer rather than python-engineio's sleeping task."""
        if self.last_ping:
            self.last_ping = None
            asyncio.get_running_loop().call_later(self.server.ping_interval, self._ping)

    def _ping(self) -> None:
        if not self.closing and not self.closed:
            self.last_ping = time.time()
            self.queue.put_nowait(eio_packet.Packet(eio_packet.PING))
            self._wake_writer()

    def deliver(self, frames: Frames) -> None:
        """Send a broadcast to this connection: its WebSocket frames, built once for all recipients, go
        to the TCP transport in one write when nothing is queued before them and the peer keeps up (the
        relay's common case: no task, no await); else its packets join the queue for the writer.

        Raises:
            SocketIsClosedError: the connection is closing.
        """
        if self.closed or self.closing:
            raise engineio.exceptions.SocketIsClosedError()
        lock, transport, ws = self._lock, self._transport, self._ws
        if (
            lock is None
            or lock.locked()
            or not self.queue.empty()
            or transport is None
            or transport.is_closing()
            or ws.closed
            or transport.get_write_buffer_size() > BACKLOG_BYTES
        ):
            for pkt in frames.packets:
                self.queue.put_nowait(pkt)
            self._wake_writer()
            return
        # aiohttp writes uncompressed frames straight to the transport too (no buffer of its own), so
        # frames written here and by the writer keep the order of the calls.
        transport.write(frames.wire)


async def _send(sock: Any, pkt: eio_packet.Packet) -> None:
    data = pkt.encode()
    if isinstance(data, bytes):
        await sock.send_bytes(data)
    else:
        await sock.send_str(data)


class LeanWebSocket(aiohttp_driver.WebSocket):  # type: ignore[misc]
    """python-engineio's aiohttp WebSocket without permessage-deflate.

    Almost every frame is a keystroke of a few dozen bytes: compressing each costs more CPU than it saves
    bytes, and every connection would hold a zlib context (~300 KB) for nothing (docs/performance.md).
    python-engineio has no option for it; aiohttp's ``compress=False`` declines what browsers offer."""

    async def __call__(self, environ: dict[str, Any]) -> Any:
        self._sock = WebSocketResponse(max_msg_size=self.server.max_http_buffer_size, compress=False)
        await self._sock.prepare(environ["aiohttp.request"])
        self.environ = environ
        await self.handler(self)
        return self._sock


class LeanEngine(BoundedEngine):
    """python-engineio's server, handing out :class:`LeanSocket` sockets with light, bounded queues
    (:class:`~collab.sio.bounds.BoundedEngine`), on WebSockets that decline compression."""

    fast_handler: FastHandler | None = None
    sio: socketio.AsyncServer | None = None
    _async: dict[str, Any]  # python-engineio's table of its async driver's parts

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._async = {**self._async, "websocket": LeanWebSocket}

    async def _trigger_event(self, event: str, *args: Any, **kwargs: Any) -> Any:
        if event == "connect":
            sock = self.sockets.get(args[0])
            if sock is not None and type(sock) is AsyncSocket:
                # python-engineio builds its socket class by name in _handle_connect; the socket has
                # no state of its own yet, so it takes our subclass here, right before it starts its loop.
                sock.__class__ = LeanSocket
        return await super()._trigger_event(event, *args, **kwargs)

    def fast_sid(self, eio_sid: str) -> str | None:
        """The Socket.IO sid under which this connection's ``y`` events can skip python-socketio (it is
        connected to ``/``), or None."""
        if self.fast_handler is None:
            return None
        assert self.sio is not None
        sid: str | None = self.sio.manager.sid_from_eio_sid(eio_sid, "/")
        return sid

    async def fast_y(self, sid: str, title: Any, data: bytes) -> None:
        assert self.fast_handler is not None
        try:
            await self.fast_handler(sid, title, data)
        except Exception:
            log.exception("y handler error")

    def deliver(self, eio_sid: str, frames: Frames) -> None:
        """Send a broadcast to one connection (raises SocketIsClosedError when it is gone)."""
        sock = self.sockets.get(eio_sid)
        if sock is None:
            raise engineio.exceptions.SocketIsClosedError()
        if isinstance(sock, LeanSocket) and sock._ws is not None:
            sock.deliver(frames)
        else:  # a long-polling client: the library's queue
            if sock.closed or sock.closing:
                raise engineio.exceptions.SocketIsClosedError()
            for pkt in frames.packets:
                sock.queue.put_nowait(pkt)


class LeanServer(socketio.AsyncServer):  # type: ignore[misc]
    """python-socketio's server on :class:`LeanEngine`."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.eio.sio = self

    def _engineio_server_class(self) -> type[LeanEngine]:
        return LeanEngine

    def on_fast_y(self, handler: FastHandler) -> None:
        """Run ``handler(sid, title, binary)`` for every ack-less ``y`` event of the default namespace
        (it must also be registered as the ``y`` handler: other shapes of the event still reach that)."""
        self.eio.fast_handler = handler


def check_internals(*, stock: bool = False) -> list[str]:
    """What the chosen transport needs from python-engineio/python-socketio's internals and does not find.

    Both transports build python-socketio's Engine.IO server from our class (bounded send queues,
    ``bounds.BoundedEngine``); the lean one also subclasses python-engineio's socket and WebSocket loop
    (``pyproject.toml`` pins the versions this is tested with). ``collab serve`` checks them at start-up and
    exits 2 with this list rather than failing on the first message.
    """
    needs = [
        (socketio.AsyncServer, "_engineio_server_class"),
        (engineio.AsyncServer, "create_queue"),
        (socketio.AsyncManager, "eio_sid_from_sid"),
    ]
    if not stock:
        needs += [
            (AsyncSocket, "_websocket_handler"),
            (AsyncSocket, "receive"),
            (AsyncSocket, "close"),
            (engineio.AsyncServer, "_trigger_event"),
            (socketio.AsyncManager, "sid_from_eio_sid"),
            (aiohttp_driver.WebSocket, "__call__"),
        ]
    missing = [f"{cls.__module__}.{cls.__qualname__}.{name}" for cls, name in needs if not hasattr(cls, name)]
    if not stock and "websocket" not in getattr(aiohttp_driver, "_async", {}):
        missing.append("engineio.async_drivers.aiohttp._async['websocket']")
    return missing
