"""The lean Socket.IO transport's hand-made parts (collab/sio/transport.py): frames equal to what
python-socketio would send, RFC 6455 frame lengths, and its one-consumer queue. Through a real server:
tests/test_sync.py and tests/test_robustness.py."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import socketio
from pycrdt import Doc, Text

from collab import protocol as p
from collab.sio.frames import _ws_frame, encoded, encoded_y
from collab.sio.lightqueue import LightQueue


def an_update() -> bytes:
    doc: Doc[Any] = Doc()
    doc.get("wikitext", type=Text).insert(0, "x")
    return doc.get_update()


def test_the_relays_hand_made_y_frames_equal_python_socketios():
    for title in ("Main Page", 'Café "quoted" 中文 😀', "A/b\\c"):
        msg = p.sync_update(an_update())
        generic = socketio.AsyncServer().packet_class(socketio.packet.EVENT, namespace="/", data=["y", title, msg])
        assert [x.encode() for x in encoded_y(title, msg).packets] == [x.encode() for x in encoded(generic).packets]


def test_broadcast_frames_follow_rfc_6455_lengths():
    assert _ws_frame("4x") == b"\x81\x024x"  # final text frame, 7-bit length, unmasked
    for n, head in ((125, b"\x82\x7d"), (126, b"\x82\x7e\x00\x7e"), (65535, b"\x82\x7e\xff\xff"),
                    (65536, b"\x82\x7f" + (65536).to_bytes(8, "big"))):  # fmt: skip
        frame = _ws_frame(b"a" * n)
        assert frame.startswith(head) and len(frame) == len(head) + n


async def test_the_light_queue_behaves_as_asyncio_queue_for_one_consumer():
    q = LightQueue()
    assert q.empty() and q.qsize() == 0
    with pytest.raises(asyncio.QueueEmpty):
        q.get_nowait()
    getter = asyncio.ensure_future(q.get())
    await asyncio.sleep(0)
    assert not getter.done()  # waits for a packet
    q.put_nowait("a")
    assert await getter == "a"
    for i in range(200):  # long enough to compact its list on the way
        await q.put(i)
    assert [q.get_nowait() for _ in range(200)] == list(range(200)) and q.empty()
    joined = asyncio.ensure_future(q.join())
    await asyncio.sleep(0)
    assert not joined.done()  # 201 packets taken, none marked done
    for _ in range(201):
        q.task_done()
    await asyncio.wait_for(joined, 1)


def test_binary_packets_announcing_other_than_one_attachment_or_a_huge_header_are_refused():
    from collab.sio.bounds import MAX_BINARY_HEADER_BYTES, refusal

    placeholder = '["y","Page",{"_placeholder":true,"num":0}]'
    assert refusal("51-" + placeholder) is None
    assert refusal('2["join","Page"]') is None  # text events carry nothing to buffer
    assert refusal("59999-" + placeholder) is not None
    assert refusal("51234567890-" + placeholder) is not None  # python-socketio accepts up to 10 digits
    assert refusal("50-" + placeholder) is not None
    assert refusal("5-" + placeholder) is not None and refusal("5" + placeholder) is not None
    assert refusal("61-[1]") is None and refusal("62-[1,2]") is not None  # binary acks alike
    assert refusal("51-" + '["y","' + "x" * MAX_BINARY_HEADER_BYTES + '",{}]') is not None


async def test_a_light_queue_over_its_limit_drops_everything_and_says_so_once():
    from engineio import packet as eio_packet

    overflows: list[int] = []
    queue = LightQueue(limit=1000)
    queue.on_overflow = overflows.append
    queue.put_nowait(eio_packet.Packet(eio_packet.MESSAGE, b"x" * 600))
    assert queue.nbytes == 600
    queue.put_nowait(eio_packet.Packet(eio_packet.MESSAGE, b"y" * 600))  # 1,200 > 1,000
    assert overflows == [1200] and queue.empty() and queue.nbytes == 0 and queue.overflowed
    queue.put_nowait(eio_packet.Packet(eio_packet.MESSAGE, b"z"))  # the connection is being cut off
    queue.put_nowait(None)  # ... but the writer's stop mark still gets through
    assert queue.qsize() == 1 and queue.get_nowait() is None and overflows == [1200]
    queue.task_done()
    await asyncio.wait_for(queue.join(), 1)  # whoever waited for the dropped packets is released


async def test_a_light_queue_counts_what_it_hands_out():
    from engineio import packet as eio_packet

    queue = LightQueue(limit=1000)
    for _ in range(3):
        queue.put_nowait(eio_packet.Packet(eio_packet.MESSAGE, "a" * 300))
    assert queue.nbytes == 900
    queue.get_nowait()
    queue.put_nowait(eio_packet.Packet(eio_packet.MESSAGE, "b" * 300))  # 900 again: fits
    assert queue.nbytes == 900 and not queue.overflowed


def test_the_start_up_check_names_what_each_transport_needs_from_the_libraries(monkeypatch):
    import engineio

    from collab.sio.transport import check_internals

    assert check_internals(stock=False) == [] and check_internals(stock=True) == []
    for cls in engineio.AsyncServer.__mro__:  # a release without it anywhere in the class hierarchy
        if "create_queue" in cls.__dict__:
            monkeypatch.delattr(cls, "create_queue")
    assert check_internals(stock=True) == ["engineio.async_server.AsyncServer.create_queue"]
    assert "engineio.async_server.AsyncServer.create_queue" in check_internals(stock=False)
