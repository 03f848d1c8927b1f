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
