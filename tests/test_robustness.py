"""Crashes and hostile input: nothing relayed is ever lost, nothing is duplicated, the server stays up."""

from __future__ import annotations

import asyncio
import random
import re
from typing import Any

import pytest
import socketio
from pycrdt import Doc, Text

from collab import protocol as p
from tests.clients import NodeClient, PyClient
from tests.plugins.server import ServerFactory

pytestmark = pytest.mark.asyncio

TOKEN = re.compile(r"t\d{4} ")


async def test_sigkill_during_typing_loses_no_relayed_update_and_duplicates_nothing(collab_server: ServerFactory):
    server = collab_server(commit_idle_s=600, commit_max_s=600)
    title = "Crash test"
    writer, observer = await NodeClient().start(), await NodeClient().start()
    fresh = await NodeClient().start()
    try:
        for n in (writer, observer):
            await n.call("connect", url=server.url)
            await n.call("join", title=title)

        async def type_forever() -> None:
            for i in range(10_000):
                await writer.call("insert", title=title, index=6 * i, text=f"t{i:04d} ")

        typing = asyncio.create_task(type_forever())
        await observer.wait_text(title, lambda t: len(TOKEN.findall(t)) >= 60, timeout=30)
        server.kill()  # SIGKILL: no shutdown handler runs, no save happens
        writer.proc.kill()  # the writer's own copy dies too: only the server's log can bring the text back
        typing.cancel()
        await asyncio.gather(typing, return_exceptions=True)
        relayed = await observer.text(title)
        tokens = TOKEN.findall(relayed)
        assert len(tokens) >= 60

        server.start()
        await fresh.call("connect", url=server.url)
        await fresh.call("join", title=title)
        recovered = await fresh.wait_text(title, lambda t: len(TOKEN.findall(t)) >= len(tokens), timeout=30)
        # The observer reconnects by itself and re-syncs its copy: still no duplicates anywhere.
        await observer.wait_text(title, lambda t: t == recovered or len(t) > len(recovered), timeout=30)
        final = await fresh.wait_text(title, lambda t: True)
        for text in (recovered, final, await observer.text(title)):
            found = TOKEN.findall(text)
            assert found == sorted(set(found)), "a token is duplicated or out of order"
            assert found[: len(tokens)] == tokens, "an update relayed before the crash is missing"
    finally:
        for n in (writer, observer, fresh):
            await n.close()


def _malformed_messages(rng: random.Random, valid_update: bytes) -> list[Any]:
    msgs: list[Any] = []
    full = p.sync_update(valid_update)
    for _ in range(600):
        msgs.append(bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 40))))
    for i in range(1, len(full)):
        msgs.append(full[:i])  # every truncation of a real update
    for _ in range(600):
        mutated = bytearray(full)
        for _ in range(rng.randint(1, 3)):
            mutated[rng.randrange(3, len(mutated))] = rng.getrandbits(8)
        msgs.append(bytes(mutated) + b"\x00")  # trailing garbage keeps it malformed
    for count in (2**28, 2**40, 10**6):
        msgs.append(p.sync_update(p.write_varuint(count) + b"\x01" * 18))
        msgs.append(p.sync_step1(p.write_varuint(count) + b"\x01" * 18))
        msgs.append(p.awareness_message(p.write_varuint(count) + b"\x01" * 18))
    msgs.append(p.awareness_message(b"\x01\x07\x01\x05[1,2]"))
    msgs += [b"\x00\x07\x00", b"\x09", b"", "a string", 42, [1, 2, 3], {"a": 1}, None, True]
    while len(msgs) < 2500:
        msgs.append(bytes([0, rng.choice([0, 1, 2])]) + bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 30))))
    rng.shuffle(msgs)
    return msgs


async def test_thousands_of_malformed_messages_leave_the_server_up_and_the_text_intact(collab_server: ServerFactory):
    server = collab_server(commit_idle_s=600, commit_max_s=600)
    title = "Fuzz target"
    owner = await PyClient(server.url).connect()
    page = await owner.join(title)
    owner.append(title, "Precious text é😀中\n")
    before = "Precious text é😀中\n"
    other: Doc[Any] = Doc()
    other.get("wikitext", type=Text).insert(0, "attack")
    messages = _malformed_messages(random.Random(2024), other.get_update())
    sent = connections = 0
    try:
        while sent < len(messages):
            attacker = socketio.AsyncClient(reconnection=False)
            gone = asyncio.Event()
            attacker.on("disconnect", lambda *_, gone=gone: gone.set())
            await attacker.connect(server.url, transports=["websocket"])
            connections += 1
            ack = await attacker.call("join", title, timeout=10)
            assert ack["ok"]
            while not gone.is_set() and sent < len(messages):
                await attacker.emit("y", (title, messages[sent]))
                sent += 1
                if sent % 10 == 0:  # a round trip, so we notice when the server has had enough
                    probe = asyncio.ensure_future(attacker.call("leave", "not joined", timeout=10))
                    await asyncio.wait([probe, asyncio.ensure_future(gone.wait())], return_when="FIRST_COMPLETED")
                    if not probe.done():
                        probe.cancel()
            if not gone.is_set():
                await attacker.disconnect()
        assert sent >= 2500
        assert connections > 1, "repeated abuse closes the connection"
        checker = await PyClient(server.url).connect()
        fresh = await checker.join(title)
        await checker.wait_until(lambda: fresh.synced)
        assert str(fresh) == before
        assert str(page) == before
        await checker.close()
    finally:
        await owner.close()
