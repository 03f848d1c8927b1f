"""The wire format the lean transport reads and writes itself: the ``y`` event's header and broadcasts
encoded once, as Engine.IO packets and as RFC 6455 WebSocket frames.

The ``y`` event, nearly all the traffic, is two frames: ``451-["y","<title>",{"_placeholder":true,"num":0}]``
and the binary attachment. A broadcast is encoded once however many connections it goes to
(:func:`encoded`, :func:`encoded_y`), and ``transport.LeanSocket.deliver`` writes its frames to each
recipient's TCP transport as they are.
"""

from __future__ import annotations

import functools
import json
from typing import Any

import socketio
from engineio import packet as eio_packet

# ``42``/``45`` + ``1-``: a Socket.IO EVENT/BINARY_EVENT in the default namespace with one attachment
# and no ack id (an ack id would follow the ``-``, a namespace would start with ``/``).
Y_HEADER = '451-["y",'
_Y_PLACEHOLDER = ',{"_placeholder":true,"num":0}]'

NOT_Y = object()
"""What :func:`y_title` returns for a frame that is not a ``y`` header of the expected shape."""


def y_title(text: str) -> Any:
    """The title argument of a ``451-["y", <title>, <placeholder>]`` header, or ``NOT_Y`` when the frame
    is anything else (then it takes the library's path and its errors)."""
    try:
        args = json.loads(text[4:])
    except ValueError:
        return NOT_Y
    if (
        isinstance(args, list)
        and len(args) == 3
        and isinstance(args[2], dict)
        and args[2].get("_placeholder") is True
        and args[2].get("num") == 0
    ):
        return args[1]
    return NOT_Y


class Frames:
    """One broadcast: its Engine.IO packets (for queues) and, built on first use, the same packets as
    RFC 6455 frames, ready for the wire (a server's frames are unmasked; compression is declined)."""

    __slots__ = ("_wire", "packets")

    def __init__(self, packets: list[eio_packet.Packet], wire: bytes | None = None) -> None:
        self.packets = packets
        self._wire = wire

    @property
    def wire(self) -> bytes:
        if self._wire is None:
            self._wire = b"".join(_ws_frame(pkt.encode()) for pkt in self.packets)
        return self._wire


def _ws_frame(data: str | bytes) -> bytes:
    """A final, unmasked WebSocket frame: text for a str, binary for bytes."""
    if isinstance(data, str):
        payload, first = data.encode("utf-8"), 0x81
    else:
        payload, first = data, 0x82
    n = len(payload)
    if n < 126:
        head = bytes((first, n))
    elif n < 65536:
        head = bytes((first, 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((first, 127)) + n.to_bytes(8, "big")
    return head + payload


def encoded(packet: socketio.packet.Packet) -> Frames:
    """The Engine.IO packets of a Socket.IO packet, each encoded once however many sockets send it."""
    parts = packet.encode()
    out = []
    for part in parts if isinstance(parts, list) else [parts]:
        pkt = eio_packet.Packet(eio_packet.MESSAGE, part)
        pkt.encode()  # cached in the packet: every recipient's writer reuses it
        out.append(pkt)
    return Frames(out)


def encoded_y(title: str, message: bytes) -> Frames:
    """:func:`encoded` of the ``y`` event ``(title, message)``, without python-socketio's generic encoder
    (which walks the arguments looking for binary data): the relay's every message. A page's header
    frame is the same for every message: built once."""
    header, header_frame = _y_header(title)
    attachment = eio_packet.Packet(eio_packet.MESSAGE, message)
    attachment.encode()
    return Frames([header, attachment], header_frame + _ws_frame(message))


@functools.lru_cache(maxsize=4096)
def _y_header(title: str) -> tuple[eio_packet.Packet, bytes]:
    """The header packet of a page's ``y`` events, and its WebSocket frame."""
    header = eio_packet.Packet(eio_packet.MESSAGE, Y_HEADER[1:] + json.dumps(title) + _Y_PLACEHOLDER)
    return header, _ws_frame(header.encode())  # (the packet caches its encoding too)
