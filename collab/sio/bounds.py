"""What one connection may make the Socket.IO layer hold: incoming binary attachments and outgoing packets.

**Incoming.** python-socketio keeps every binary attachment a packet header announces (``45<n>-[...]``,
``n`` up to 10 digits) until the last one arrives, before any handler, rate limit or size check runs. Our
events carry at most one attachment (``y``: the y-protocol message), so a binary packet that announces any
other count, or whose header is larger than :data:`MAX_BINARY_HEADER_BYTES`, is refused before anything
is buffered and its connection is closed (:func:`refusal`). The lean loop checks each header as it reads
it (``transport.LeanSocket._frame``); every other path (``--transport stock``, long-polling) goes through
:func:`guard_packets`, which wraps python-engineio's public ``message`` handler. Either way a connection
holds at most one attachment that waits for its packet at a time. A complete event is handled at once: the
lean loop runs ``y`` inline; other events (``join``, ``leave``, ``save``; every event on the stock path)
get a task of their own that starts as soon as the read loop waits for the next frame, so what the reader
accepted is never queued behind a save waiting for the wiki.

**Outgoing.** Every connection's queue is a :class:`~collab.sio.lightqueue.LightQueue` that counts the bytes
it holds (:class:`BoundedEngine`: both transports use it). Over ``--max-send-buffer-bytes`` the connection
is cut off (``SocketIOWire`` aborts its TCP connection) instead of holding more: a client that asks for a
2 MB page again and again and never reads would otherwise pin memory until TCP gives up.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Final

import engineio
import socketio

from .lightqueue import LightQueue

log = logging.getLogger(__name__)

# A ``y`` header is ``451-["y",<title>,{"_placeholder":true,"num":0}]``: a title of 255 bytes of UTF-8,
# even written as JSON escapes (6 characters per UTF-16 unit), stays under 2 KB.
MAX_BINARY_HEADER_BYTES: Final = 8 * 1024

CutHandler = Callable[[str, str, str], None]  # (Engine.IO sid, reason, detail)


class PacketRefused(Exception):
    """A Socket.IO packet this server never accepts (see :func:`refusal`); its connection is closed."""


def refusal(packet: str) -> str | None:
    """Why the Socket.IO packet ``packet`` (the Engine.IO message's text, without its leading ``4``) is
    refused, or None. Only binary packets (``5``, ``6``) are judged: they must announce exactly one
    attachment and their header must be at most :data:`MAX_BINARY_HEADER_BYTES` long."""
    if not packet or packet[0] not in "56":
        return None
    if len(packet) > MAX_BINARY_HEADER_BYTES:
        return f"a binary packet header of {len(packet)} characters (limit {MAX_BINARY_HEADER_BYTES})"
    dash = packet.find("-", 1, 13)
    count = packet[1:dash] if dash > 0 else ""
    if count != "1":
        return f"a binary packet announcing {count or 'no'} attachments (exactly 1 is accepted)"
    return None


class BoundedEngine(engineio.AsyncServer):  # type: ignore[misc]
    """python-engineio's server whose connections queue their outgoing packets in a
    :class:`~collab.sio.lightqueue.LightQueue` holding at most ``max_send_buffer_bytes`` (0: unbounded).

    ``on_cut(eio_sid, reason, detail)`` is told when a connection is refused a packet (the Wire logs,
    counts and closes it)."""

    max_send_buffer_bytes: int = 0
    on_cut: CutHandler | None = None

    def create_queue(self, *args: Any, **kwargs: Any) -> LightQueue:
        return LightQueue(self.max_send_buffer_bytes)

    def cut(self, eio_sid: str, reason: str, detail: str) -> None:
        if self.on_cut is not None:
            self.on_cut(eio_sid, reason, detail)
        else:
            log.warning("closing Engine.IO connection %s: %s", eio_sid, detail)


class StockServer(socketio.AsyncServer):  # type: ignore[misc]
    """python-socketio as shipped, on a :class:`BoundedEngine` (bounded outgoing queues)."""

    def _engineio_server_class(self) -> type[BoundedEngine]:
        return BoundedEngine


def guard_packets(sio: socketio.AsyncServer) -> None:
    """Refuse packets :func:`refusal` refuses on every path that reaches python-socketio's ``message``
    handler, before python-socketio sees them (and buffers what they announce): the connection is cut.

    Raises:
        RuntimeError: python-socketio no longer registers a ``message`` handler with python-engineio.
    """
    eio: BoundedEngine = sio.eio
    inner: Callable[[str, Any], Awaitable[None]] | None = eio.handlers.get("message")
    if inner is None:
        raise RuntimeError("python-socketio registers no Engine.IO 'message' handler: cannot guard packets")

    async def guarded(eio_sid: str, data: Any) -> None:
        if isinstance(data, str) and (why := refusal(data)) is not None:
            eio.cut(eio_sid, "bad_packet", why)
            return
        await inner(eio_sid, data)

    eio.on("message", guarded)
