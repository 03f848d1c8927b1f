"""Abuse limits against a real server: message and page sizes, floods, connections, joins, proxies.

Functional checks only (throttled, refused with a reason, the others unaffected); how fast the server
stays under a flood is measured by ``bench/flood.py``, which prints a table.
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import socketio
from pycrdt import Doc, Text

from collab import protocol as p
from tests.clients import HeaderClient, JoinRefused, NodeClient, PyClient, refusal
from tests.plugins.server import CollabProcess, ServerFactory
from tests.support.pages import revisions, unique_title
from tests.wikiclient import WikiUser


def healthy(url: str) -> bool:
    with urllib.request.urlopen(url + "/healthz", timeout=10) as resp:
        return bool(resp.status == 200)


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return str(resp.read().decode())


def roomy_client(url: str) -> PyClient:
    """A PyClient that accepts large messages (python-engineio's client stops at aiohttp's 4 MiB default;
    browsers and Node's ws have no such low limit)."""
    client = PyClient(url)
    client.sio = socketio.AsyncClient(reconnection=False, websocket_extra_options={"max_msg_size": 64 * 1024 * 1024})
    client.sio.on("y", client._on_y)
    client.sio.on("status", client._on_status)
    client.sio.on("disconnect", client._poke)
    return client


def fragmented_state(text_bytes: int, chunk: str = "abcdefghij\n") -> tuple[bytes, str]:
    """A Yjs update whose text is ``text_bytes`` long and whose state is about twice that: many small
    items, as many editors typing over time leave behind (each chunk inserted at the front stays its own
    item, pointing at its right neighbour with a random 32-bit client id, as browsers have)."""
    doc: Doc[Any] = Doc()
    text = doc.get(p.TEXT_NAME, type=Text)
    with doc.transaction():
        for _ in range(text_bytes // len(chunk)):
            text.insert(0, chunk)
    return doc.get_update(), str(text)


# ---- sizes -------------------------------------------------------------------------------------------
async def test_a_3mb_state_of_a_legal_2mb_page_syncs_both_ways(collab_server: ServerFactory):
    state, text = fragmented_state(2_000_000)
    assert len(state) > 3_000_000 and len(text.encode()) < 2048 * 1024  # the wiki's maxarticlesize
    print(f"2 MB page: text {len(text.encode())} bytes, state {len(state)} bytes")
    title = unique_title("Limits two megabytes")
    server = collab_server(commit_idle_s=600, commit_max_s=1200)
    writer, reader = await PyClient(server.url).connect(), await roomy_client(server.url).connect()
    try:
        await writer.join(title)
        await writer.emit_y(title, p.sync_step2(state))  # client -> server: 3 MB in one message
        page = await reader.join(title)
        await reader.wait_until(lambda: len(page.text) == len(text.encode()), timeout=60, what="3 MB state")
        assert str(page) == text  # server -> client: 3 MB in one message
        assert not writer.errors and not reader.errors
    finally:
        await writer.close()
        await reader.close()


async def test_a_20mb_message_is_refused_with_a_reason_and_no_reconnect_loop(collab_server: ServerFactory):
    title = unique_title("Limits twenty megabytes")
    server = collab_server()
    node = await NodeClient().start()  # socket.io-client with reconnection on, like a browser
    try:
        assert (await node.call("connect", url=server.url))["ok"]
        assert (await node.call("join", title=title))["ok"]
        huge = p.sync_update(b"\x01" + bytes(20 * 1024 * 1024))
        await node.call("raw", title=title, hex=huge.hex(), timeout=120)

        def event(kind: str) -> dict[str, Any] | None:
            return next((e for e in node.events if e.get("event") == kind), None)

        for _ in range(600):
            if event("disconnect"):
                break
            await asyncio.sleep(0.05)  # polling the Node process's event list (no event crosses the pipe)
        status = next(e["status"] for e in node.events if e.get("event") == "status")
        assert status["state"] == "error" and status["code"] == "toolarge"
        assert "larger than this server accepts" in status["message"]
        # Socket.IO clients never reconnect by themselves after a server-side disconnect.
        assert event("disconnect") == {"event": "disconnect", "reason": "io server disconnect"}
        # The server is fine, and a new client gets in; the refused one stayed away.
        other = await PyClient(server.url).connect()
        assert (await other.join(title)).ack["ok"]
        await other.close()
        assert [e for e in node.events if e.get("event") == "connected"] == [{"event": "connected"}]
        assert healthy(server.url)
    finally:
        await node.close()


async def test_a_change_that_would_grow_the_page_beyond_the_limit_is_refused(collab_server: ServerFactory):
    title = unique_title("Limits document limit")
    server = collab_server(max_document_bytes=1000)
    writer = await PyClient(server.url).connect()
    try:
        page = await writer.join(title)
        await writer.wait_until(lambda: page.synced)
        writer.append(title, "small start. ")
        writer.append(title, "x" * 1500)
        await writer.wait_until(lambda: any(e[1].get("code") == "toolarge" for e in writer.errors), what="toolarge")
        message = next(e[1]["message"] for e in writer.errors if e[1].get("code") == "toolarge")
        assert "limit of 1000" in message
        fresh = await PyClient(server.url).connect()
        view = await fresh.join(title)
        await fresh.wait_until(lambda: view.synced)
        assert str(view) == "small start. "
        await fresh.close()
    finally:
        await writer.close()


# ---- message rate ------------------------------------------------------------------------------------
async def test_a_flood_is_throttled_and_cut_off_while_another_editor_keeps_receiving_everything(
    collab_server: ServerFactory,
):
    title = unique_title("Limits flood")
    server = collab_server(updates_per_s=20, commit_idle_s=600, commit_max_s=1200)  # bursts of 100
    typist, watcher = await NodeClient().start(), await NodeClient().start()
    flooder = await PyClient(server.url).connect()
    try:
        for node in (typist, watcher):
            await node.call("connect", url=server.url)
            await node.call("join", title=title)
        page = await flooder.join(title)
        await flooder.wait_until(lambda: page.synced)

        async def flood() -> None:
            for i in range(1500):  # bounded: 1500 one-character updates, as fast as the loop sends them
                flooder.append(title, "f")
                if i % 100 == 0:
                    await asyncio.sleep(0)

        flooding = asyncio.create_task(flood())
        typed = ""
        for ch in "the other editor types on":
            await typist.call("insert", title=title, index=len(typed), text=ch)
            typed += ch
        await flooding
        got = await watcher.wait_text(title, lambda t: t.replace("f", "").startswith(typed), timeout=60)
        assert got.replace("f", "") == typed  # every keystroke of the other editor arrived, in order
        assert got.count("f") < 1500  # throttled: most of the flood never reached the document
        # Cut off (the flooder may miss the reason: its own unread flood makes the close a reset).
        await flooder.wait_until(lambda: not flooder.sio.connected, timeout=60, what="the flooder cut off")
        assert healthy(server.url)
        log = server.log()
        assert "flooding" in log and "Traceback" not in log
        metrics = fetch(server.url + "/metrics")
        assert 'reason="rate_connection"' in metrics and 'reason="flood"' in metrics
    finally:
        await typist.close()
        await watcher.close()
        await flooder.close()


async def test_changes_dropped_by_the_rate_limit_are_recovered_afterwards(collab_server: ServerFactory):
    title = unique_title("Limits recovered")
    server = collab_server(updates_per_s=5)  # bursts of 25; cut off only after some 50 more dropped
    writer, watcher = await PyClient(server.url).connect(), await PyClient(server.url).connect()
    try:
        mine = await writer.join(title)
        seen = await watcher.join(title)
        await writer.wait_until(lambda: mine.synced)
        for _ in range(40):
            writer.append(title, "r")
        await writer.wait_until(lambda: any(e[1].get("code") == "ratelimited" for e in writer.errors))
        # The next message the budget lets through makes the server ask for what it lacks.
        for _ in range(100):
            if str(seen) == "r" * 40:
                break
            await writer.emit_y(title, bytes([p.MSG_QUERY_AWARENESS]))
            try:
                await watcher.wait_until(lambda: str(seen) == "r" * 40, timeout=0.5)
            except AssertionError:
                continue
        assert str(seen) == "r" * 40 == str(mine)
    finally:
        await writer.close()
        await watcher.close()


async def test_a_join_whose_sync_request_was_throttled_still_gets_the_page(
    collab_server: ServerFactory, admin: WikiUser
):
    busy, title = unique_title("Limits busy"), unique_title("Limits throttled join")
    admin.edit(title, "Text already on the wiki")
    server = collab_server(updates_per_s=1)  # bursts of 5 messages
    client = await PyClient(server.url).connect()
    try:
        first = await client.join(busy)  # its step 1 and step 2: 2 of the 5
        await client.wait_until(lambda: first.synced)
        for _ in range(3):
            await client.emit_y(busy, bytes([p.MSG_QUERY_AWARENESS]))
        page = await client.join(title)  # its sync step 1 is dropped: the bucket is empty
        await client.wait_until(lambda: any(e[1].get("code") == "ratelimited" for e in client.errors))
        for _ in range(100):  # the next message that gets through brings the page's state back
            if page.synced:
                break
            await client.emit_y(title, bytes([p.MSG_QUERY_AWARENESS]))
            try:
                await client.wait_until(lambda: page.synced, timeout=0.5)
            except AssertionError:
                continue
        assert str(page) == "Text already on the wiki"
    finally:
        await client.close()


# ---- connections and joins ---------------------------------------------------------------------------
async def test_a_classroom_behind_one_address_works_with_the_defaults(collab_server: ServerFactory):
    title = unique_title("Limits classroom")
    server = collab_server(commit_idle_s=600, commit_max_s=1200)
    pupils = [await PyClient(server.url).connect() for _ in range(40)]
    try:
        pages = [await pupil.join(title) for pupil in pupils]
        for i, pupil in enumerate(pupils):
            pupil.append(title, f"<{i}>")
        for pupil, page in zip(pupils, pages, strict=True):
            await pupil.wait_until(lambda page=page: all(f"<{i}>" in str(page) for i in range(40)), timeout=60)
        assert not any(pupil.errors for pupil in pupils)
    finally:
        for pupil in pupils:
            await pupil.close()


async def test_connections_per_address_are_capped_and_freed_on_disconnect(collab_server: ServerFactory):
    server = collab_server(max_connections_per_ip=3)
    clients = [await PyClient(server.url).connect() for _ in range(3)]
    try:
        refused = await refusal(server.url)
        assert refused["data"]["code"] == "ratelimited" and "too many connections" in refused["message"]
        await clients.pop().close()
        for _ in range(100):  # the server learns of the close a moment later
            try:
                clients.append(await PyClient(server.url).connect())
                break
            except Exception:
                await asyncio.sleep(0.05)
        assert len(clients) == 3
    finally:
        for client in clients:
            await client.close()


async def test_joins_per_minute_are_capped(collab_server: ServerFactory):
    server = collab_server(joins_per_min=5)
    client = await PyClient(server.url).connect()
    try:
        for i in range(5):
            await client.join(unique_title(f"Limits join {i}"))
        with pytest.raises(JoinRefused) as refused:
            await client.join(unique_title("Limits one too many"))
        assert refused.value.code == "ratelimited" and "joins" in refused.value.message
    finally:
        await client.close()


async def test_pages_per_connection_are_capped(collab_server: ServerFactory):
    server = collab_server(max_pages_per_connection=2)
    client = await PyClient(server.url).connect()
    try:
        first = await client.join(unique_title("Limits page one"))
        await client.join(unique_title("Limits page two"))
        with pytest.raises(JoinRefused) as refused:
            await client.join(unique_title("Limits page three"))
        assert refused.value.code == "ratelimited"
        await client.leave(first.title)
        await client.join(unique_title("Limits page three again"))
    finally:
        await client.close()


async def test_x_forwarded_for_is_believed_only_from_a_trusted_proxy(collab_server: ServerFactory):
    proxied = collab_server(trusted_proxy=["127.0.0.1"], max_connections_per_ip=1, commit_idle_s=60, commit_max_s=120)
    one = await HeaderClient(proxied.url, {"X-Forwarded-For": "203.0.113.1"}).connect()
    two = await HeaderClient(proxied.url, {"X-Forwarded-For": "6.6.6.6, 203.0.113.2"}).connect()
    try:
        refused = await refusal(proxied.url, headers={"X-Forwarded-For": "203.0.113.1"})
        assert refused["data"]["code"] == "ratelimited"
        title = unique_title("Limits proxied")
        page = await one.join(title)
        await one.wait_until(lambda: page.synced)
        one.append(title, "typed behind a proxy")
        await one.wait_until(lambda: not one._sends)
        assert (await one.save(title))["ok"]
        assert revisions(proxied, title)[-1]["coauthors"] == ["203.0.113.1"]
    finally:
        await one.close()
        await two.close()

    direct = collab_server(max_connections_per_ip=1)
    first = await HeaderClient(direct.url, {"X-Forwarded-For": "203.0.113.1"}).connect()
    try:
        refused = await refusal(direct.url, headers={"X-Forwarded-For": "203.0.113.2"})  # both are 127.0.0.1
        assert refused["data"]["code"] == "ratelimited"
        assert "--trusted-proxy 127.0.0.1" in direct.log()
    finally:
        await first.close()


async def test_the_websocket_declines_permessage_deflate_that_browsers_offer(collab_server: ServerFactory):
    """Compressing keystroke-sized frames costs more than it saves, and a zlib context per connection
    costs ~300 KB of memory (docs/performance.md): the server answers the offer without the extension."""
    import aiohttp

    server = collab_server()
    offer = {"Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits"}
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(server.url + "/socket.io/?EIO=4&transport=websocket", headers=offer) as ws,
    ):
        assert "Sec-WebSocket-Extensions" not in ws._response.headers
        opening = await ws.receive_str(timeout=10)
        assert opening.startswith("0{") and '"sid"' in opening  # Engine.IO still opens normally


async def test_a_websocket_peer_that_does_not_speak_engine_io_is_hung_up_on(collab_server: ServerFactory):
    import aiohttp

    server = collab_server()
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(server.url + "/socket.io/?EIO=4&transport=websocket") as ws:
            assert (await ws.receive_str(timeout=10)).startswith("0{")
            await ws.send_str("")  # empty frames are skipped
            await ws.send_str("hello, is this IRC?")
            closing = await ws.receive(timeout=10)
            assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING)
        assert healthy(server.url)  # the server goes on; well-behaved clients still connect
        client = PyClient(server.url)
        await client.connect()
        await client.close()


# ---- awareness and Yjs client ids (issue 14) --------------------------------------------------------------
def rss_mb(server: CollabProcess) -> float:
    """The server process's resident memory (Linux /proc), in MB: a failure detector, not a measurement
    (``bench/flood.py --attack awareness`` measures)."""
    assert server.proc is not None
    for line in Path(f"/proc/{server.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def awareness_entries(*entries: tuple[int, int, bytes]) -> bytes:
    """An awareness message of (client id, clock, JSON state or b"" for a removal) entries."""
    body = b"".join(p.write_varuint(c) + p.write_varuint(k) + p.write_varuint(len(s)) + s for c, k, s in entries)
    return p.awareness_message(p.write_varuint(len(entries)) + body)


async def test_an_anonymous_readers_4mib_awareness_bomb_is_refused_and_others_see_no_change(
    collab_server: ServerFactory, admin: WikiUser
):
    title = unique_title("Limits awareness bomb")
    admin.edit(title, "Protected text")
    admin.protect(title)  # anonymous users read it only
    server = collab_server(commit_idle_s=600, commit_max_s=1200)
    alice = await NodeClient().start()
    reader = await PyClient(server.url).connect()
    try:
        assert (await alice.call("connect", url=server.url, cookie=admin.cookie_header()))["ok"]
        assert (await alice.call("join", title=title))["ok"]
        await alice.call("awareness", title=title, state={"user": {"name": "Admin"}})
        page = await reader.join(title)
        assert page.ack["readonly"] is True
        await reader.wait_until(lambda: any(s for s in page.awareness.states.values()), what="the admin's state")
        before = rss_mb(server)
        bomb = b"".join(p.write_varuint(n) + b"\x01\x00" for n in range(1 << 14, (1 << 14) + 840_000))
        message = p.awareness_message(p.write_varuint(840_000) + bomb)
        assert len(message) > 4 * 1024 * 1024
        await reader.emit_y(title, message)
        await reader.wait_until(lambda: any(s.get("code") == "badmessage" for s in page.statuses), what="refusal")
        assert "at most 4" in next(s["message"] for s in page.statuses if s.get("code") == "badmessage")
        # The reader keeps its presence within the bounds, and the others see it; nothing else arrived.
        await reader.emit_y(title, awareness_entries((777, 1, b'{"user":{"name":"Reader"}}')))
        for _ in range(200):
            if (await alice.call("peers", title=title))["states"]:
                break
            await asyncio.sleep(0.05)  # polling the Node process (no event crosses the pipe)
        assert (await alice.call("peers", title=title))["states"] == [{"user": {"name": "Reader"}}]
        assert rss_mb(server) - before < 50
        assert healthy(server.url)
    finally:
        await alice.close()
        await reader.close()


async def test_bob_sending_alices_awareness_client_id_leaves_her_name_and_cursor_to_the_others(
    collab_server: ServerFactory, alice: WikiUser, bob: WikiUser
):
    title = unique_title("Limits awareness spoof")
    server = collab_server(commit_idle_s=600, commit_max_s=1200)
    a, carol = await NodeClient().start(), await NodeClient().start()
    mallory = await PyClient(server.url, cookie=bob.cookie_header()).connect()
    alices = {"user": {"name": "Alice", "color": "#f00"}, "cursor": {"anchor": 1, "head": 2}}
    try:
        for client, cookie in ((a, alice.cookie_header()), (carol, None)):
            assert (await client.call("connect", url=server.url, cookie=cookie))["ok"]
            assert (await client.call("join", title=title))["ok"]
        await a.call("awareness", title=title, state=alices)
        alice_id = (await a.call("me", title=title))["clientID"]
        page = await mallory.join(title)
        await mallory.wait_until(lambda: page.awareness.states.get(alice_id) == alices, what="Alice's state")
        clock = page.awareness.meta[alice_id]["clock"]
        forged = json.dumps({"user": {"name": "Alice (not)"}, "cursor": None}).encode()
        await mallory.emit_y(title, awareness_entries((alice_id, clock + 1, forged)))
        await mallory.emit_y(title, awareness_entries((alice_id, clock + 2, b"")))  # "Alice left"
        await mallory.wait_until(lambda: len(mallory.errors) == 2, what="two refusals")
        assert {e[1]["code"] for e in mallory.errors} == {"badmessage"}
        assert "belongs to another editor" in mallory.errors[0][1]["message"]
        await mallory.close()  # and Bob's leaving does not take Alice's presence along
        await a.call("awareness", title=title, state={**alices, "cursor": {"anchor": 3, "head": 3}})
        for _ in range(200):
            if (await carol.call("peers", title=title))["states"] == [{**alices, "cursor": {"anchor": 3, "head": 3}}]:
                break
            await asyncio.sleep(0.05)  # polling the Node process (no event crosses the pipe)
        assert (await carol.call("peers", title=title))["states"] == [{**alices, "cursor": {"anchor": 3, "head": 3}}]
    finally:
        await a.close()
        await carol.close()
        await mallory.close()


async def test_an_update_introducing_100k_client_ids_is_refused_and_the_page_state_does_not_grow(
    collab_server: ServerFactory,
):
    title = unique_title("Limits client ids")
    server = collab_server(commit_idle_s=600, commit_max_s=1200)
    writer, attacker = await PyClient(server.url).connect(), await PyClient(server.url).connect()
    try:
        page = await writer.join(title)
        await writer.wait_until(lambda: page.synced)
        writer.append(title, "real text")
        target = await attacker.join(title)
        await attacker.wait_until(lambda: str(target) == "real text", what="the text")
        structs = b"".join(b"\x01" + p.write_varuint(c) + b"\x00\x00\x01" for c in range(1 << 20, (1 << 20) + 100_000))
        await attacker.emit_y(title, p.sync_update(p.write_varuint(100_000) + structs + b"\x00"))
        await attacker.wait_until(lambda: bool(attacker.errors), what="the refusal")
        assert (
            attacker.errors[0][1]["code"] == "badmessage"
            and "100000 Yjs client ids" in attacker.errors[0][1]["message"]
        )
        fresh = await PyClient(server.url).connect()
        view = await fresh.join(title)
        await fresh.wait_until(lambda: str(view) == "real text", what="the page")
        assert p.check_state_vector(view.doc.get_state()) == p.check_state_vector(page.doc.get_state())
        await fresh.close()
    finally:
        await writer.close()
        await attacker.close()
