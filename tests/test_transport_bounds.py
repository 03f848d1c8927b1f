"""What one hostile connection can make the transport hold, against a real server and the dev wiki: binary
packets announcing many attachments, and a client that asks for a large page again and again and never
reads (docs/security.md, "Transport bounds").

The hostile clients speak WebSocket over a raw TCP socket, so that nothing reads what the server sends
them (a WebSocket library would read it into its own buffers) and they send exactly what they mean to.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import struct
from typing import Any

import pytest
import socketio
from pycrdt import Doc, Text

from collab import protocol as p
from tests.clients import PyClient
from tests.plugins.server import ServerFactory
from tests.support.pages import unique_title

MB = 1024 * 1024


def rss_bytes(pid: int) -> int:
    """The resident set of process ``pid`` (Linux ``/proc``)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/<pid>/status")


class RawSocket:
    """A WebSocket client on a bare TCP connection: it reads only when told to."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, url: str) -> RawSocket:
        host, port = url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            (
                "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
                f"Host: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert head.startswith(b"HTTP/1.1 101"), head
        return cls(reader, writer)

    def frame(self, data: str | bytes) -> bytes:
        payload, opcode = (data.encode(), 0x1) if isinstance(data, str) else (data, 0x2)
        n, mask = len(payload), os.urandom(4)
        if n < 126:
            head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
        elif n < 65536:
            head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload)) if n < 4096 else _mask(payload, mask)
        return head + mask + masked

    async def send(self, data: str | bytes) -> None:
        self.writer.write(self.frame(data))
        await self.writer.drain()

    async def receive(self) -> str | bytes:
        """The next data frame (PINGs of Engine.IO are answered)."""
        while True:
            first, second = await asyncio.wait_for(self.reader.readexactly(2), 10)
            n = second & 0x7F
            if n == 126:
                (n,) = struct.unpack("!H", await self.reader.readexactly(2))
            elif n == 127:
                (n,) = struct.unpack("!Q", await self.reader.readexactly(8))
            payload = await self.reader.readexactly(n)
            if first & 0x0F == 0x8:
                raise ConnectionResetError("closed by the server")
            data: str | bytes = payload.decode() if first & 0x0F == 0x1 else payload
            if data == "2":
                await self.send("3")
                continue
            return data

    async def closed(self, timeout: float = 30) -> bool:
        """Whether the server ends the connection (EOF or reset) within ``timeout`` seconds, reading and
        discarding whatever it still sends."""
        try:
            async with asyncio.timeout(timeout):
                while await self.reader.read(1 << 20):
                    pass
        except TimeoutError:
            return False
        except ConnectionError:
            pass
        return True

    async def connect_namespace(self) -> None:
        opening = await self.receive()
        assert isinstance(opening, str) and opening.startswith("0{")
        await self.send("40")
        answer = await self.receive()
        assert isinstance(answer, str) and answer.startswith("40{"), answer

    def close(self) -> None:
        self.writer.transport.abort()


def _mask(payload: bytes, mask: bytes) -> bytes:
    n = len(payload)
    key = int.from_bytes((mask * (n // 4 + 1))[:n], "big")
    return (int.from_bytes(payload, "big") ^ key).to_bytes(n, "big")


def large_state(text_bytes: int) -> bytes:
    """A Yjs update of a page of ``text_bytes`` bytes in many small items, as typing leaves it."""
    doc: Doc[Any] = Doc()
    text = doc.get(p.TEXT_NAME, type=Text)
    with doc.transaction():
        for _ in range(text_bytes // 11):
            text.insert(0, "abcdefghij\n")
    return doc.get_update()


def y_header(title: str, attachments: int = 1) -> str:
    return f'45{attachments}-["y",{json.dumps(title)},{{"_placeholder":true,"num":0}}]'


@pytest.mark.parametrize("transport", ["lean", "stock"])
async def test_a_packet_announcing_9999_attachments_is_refused_and_its_connection_closed(
    collab_server: ServerFactory, transport: str
):
    server = collab_server(transport=transport)
    assert server.proc is not None
    bystander = await PyClient(server.url).connect()
    hostile = await RawSocket.open(server.url)
    try:
        await hostile.connect_namespace()
        baseline = rss_bytes(server.proc.pid)
        await hostile.send(y_header("Anything", 9999))
        chunk, sent, peak = os.urandom(4 * MB), 0, baseline
        try:
            for _ in range(100):  # 400 MB if the server buffered them
                await hostile.send(chunk)
                sent += 1
                peak = max(peak, rss_bytes(server.proc.pid))
        except ConnectionError:
            pass  # cut off while sending: the point
        assert await hostile.closed(), "the connection stays open"
        assert sent < 100, "the server read all 400 MB"
        print(f"{transport}: RSS grew by {(peak - baseline) // MB} MB, {sent} frames of 4 MB sent")
        assert peak - baseline < 100 * MB, f"RSS grew by {(peak - baseline) // MB} MB"
        assert "cutting off connection" in server.log() and "9999 attachments" in server.log()
        title = unique_title("Transport bounds bystander")  # the others are unaffected
        page = await bystander.join(title)
        bystander.append(title, "still here")
        await bystander.flush()
        assert "still here" in str(page)
    finally:
        hostile.close()
        await bystander.close()


async def test_a_binary_packet_with_no_attachment_count_is_refused(collab_server: ServerFactory):
    server = collab_server()
    hostile = await RawSocket.open(server.url)
    try:
        await hostile.connect_namespace()
        await hostile.send('45-["y","Anything",{"_placeholder":true,"num":0}]')
        assert await hostile.closed()
        assert "no attachments" in server.log()
    finally:
        hostile.close()


@pytest.mark.parametrize("transport", ["lean", "stock"])
async def test_a_client_that_asks_for_a_2mb_page_again_and_again_and_never_reads_is_cut_off(
    collab_server: ServerFactory, transport: str
):
    """The rate limit is off here, so that only the send buffer can stop it (the rate limit's share is
    tested in tests/unit/test_limits.py)."""
    title = unique_title("Transport bounds two megabytes")
    server = collab_server(
        transport=transport, updates_per_s=0, user_updates_per_s=0, commit_idle_s=600, commit_max_s=1200
    )
    assert server.proc is not None
    writer = await PyClient(server.url).connect()
    reader = PyClient(server.url)
    reader.sio = socketio.AsyncClient(reconnection=False, websocket_extra_options={"max_msg_size": 64 * MB})
    reader.sio.on("y", reader._on_y)
    reader.sio.on("status", reader._on_status)
    reader.sio.on("disconnect", reader._poke)
    await reader.connect()
    hostile = await RawSocket.open(server.url)
    try:
        await writer.join(title)
        state = large_state(2_000_000)
        await writer.emit_y(title, p.sync_step2(state))
        page = await reader.join(title)
        await reader.wait_until(lambda: len(page.text) >= 2_000_000 // 11 * 11, timeout=60, what="the 2 MB page")
        await hostile.connect_namespace()
        await hostile.send(f'420["join",{json.dumps(title)}]')
        while not (isinstance(ack := await hostile.receive(), str) and ack.startswith("430")):
            pass
        assert '"ok":true' in ack, ack
        baseline = peak = rss_bytes(server.proc.pid)
        header, step1 = hostile.frame(y_header(title)), hostile.frame(p.sync_step1(b"\x00"))
        asked = 0
        try:
            while asked < 300:  # ~1 GB of answers if the server kept them
                hostile.writer.write(header + step1)
                asked += 1
                await asyncio.wait_for(hostile.writer.drain(), 30)
                peak = max(peak, rss_bytes(server.proc.pid))
        except (ConnectionError, TimeoutError):
            pass
        # Still reading nothing: wait for the server to give up on it, watching its memory meanwhile.
        async with asyncio.timeout(120):
            while "over --max-send-buffer-bytes" not in server.log():
                peak = max(peak, rss_bytes(server.proc.pid))
                await asyncio.sleep(0.2)
        assert await hostile.closed(), "the connection stays open"
        peak = max(peak, rss_bytes(server.proc.pid))
        print(f"{transport}: RSS grew by {(peak - baseline) // MB} MB over {asked} requests")
        assert peak - baseline < 200 * MB, f"RSS grew by {(peak - baseline) // MB} MB after {asked} requests"
        writer.append(title, "after the cut-off")  # the other editors are unaffected
        await reader.wait_until(lambda: "after the cut-off" in str(page), timeout=30, what="the relay")
        assert not writer.errors and not reader.errors
    finally:
        hostile.close()
        await writer.close()
        await reader.close()
