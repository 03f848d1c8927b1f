"""The collaborative core against a real server and the real dev wiki, with Python and Node Yjs clients."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest
from pycrdt import Assoc, Doc, Text

from collab import protocol as p
from tests.clients import JoinRefused, NodeClient, PyClient
from tests.plugins.server import ServerFactory
from tests.wikiclient import WikiUser

pytestmark = pytest.mark.asyncio


async def test_join_acknowledges_the_normalised_title_and_base_revision(collab_server: ServerFactory, admin: WikiUser):
    revid = admin.edit("Join target", "Some text")
    server = collab_server()
    client = await PyClient(server.url).connect()
    try:
        page = await client.join("join_target")
        assert page.ack == {"ok": True, "title": "Join target", "revid": revid, "readonly": False}
        other = await PyClient(server.url).connect()
        same = await other.join("Join_target")
        assert same.title == page.title
        await other.close()
    finally:
        await client.close()


async def test_an_invalid_title_is_refused_with_a_clear_error(collab_server: ServerFactory):
    server = collab_server()
    client = await PyClient(server.url).connect()
    try:
        for bad in ["Foo[bar]", "", "   ", 42, "a" * 600]:
            ack = await client.join_raw(bad)  # type: ignore[arg-type]
            assert ack["ok"] is False and ack["error"]["code"] == "invalidtitle", (bad, ack)
            assert ack["error"]["message"]
    finally:
        await client.close()


async def test_a_missing_page_starts_empty(collab_server: ServerFactory):
    server = collab_server()
    client = await PyClient(server.url).connect()
    try:
        page = await client.join("Never created page")
        await client.wait_until(lambda: page.synced, what="sync")
        assert page.ack["revid"] is None and str(page) == ""
    finally:
        await client.close()


async def test_the_initial_text_equals_the_wikis_non_ascii_text(collab_server: ServerFactory, admin: WikiUser):
    text = "Ünïcödé: é 😀 中文 — «quotes»\n== Ἑλληνικά ==\nतमिल"
    admin.edit("Unicode page", text)
    wiki_text, _ = admin.read("Unicode page")
    server = collab_server()
    node = await NodeClient().start()
    py = await PyClient(server.url).connect()
    try:
        await node.call("connect", url=server.url)
        ack = await node.call("join", title="Unicode page")
        assert ack["ok"]
        assert await node.wait_text("Unicode page", lambda t: t != "") == wiki_text
        page = await py.join("Unicode page")
        await py.wait_until(lambda: page.synced)
        assert str(page) == wiki_text
    finally:
        await node.close()
        await py.close()


async def test_concurrent_random_edits_from_many_clients_converge(collab_server: ServerFactory):
    server = collab_server(commit_idle_s=60, commit_max_s=120)
    title = "Convergence"
    nodes = [await NodeClient().start() for _ in range(3)]
    py = await PyClient(server.url).connect()
    try:
        for i, node in enumerate(nodes):
            await node.call("connect", url=server.url)
            await node.call("join", title=title)
            await node.call("seed", seed=1000 + i)
        page = await py.join(title)
        rng = random.Random(7)
        for _round in range(20):
            await asyncio.gather(*(node.call("random_edits", title=title, count=15) for node in nodes))
            for _ in range(5):
                text = str(page)
                at = rng.randint(0, len(text))
                py.edit(title, at, rng.choice(["x", "é", "😀", "中", "\n"]))
        # A late joiner sees the same converged text as everyone.
        late = await NodeClient().start()
        nodes.append(late)
        await late.call("connect", url=server.url)
        await late.call("join", title=title)

        async def all_equal() -> bool:
            texts = [await n.text(title) for n in nodes] + [str(page)]
            return len(set(texts)) == 1 and texts[0] != ""

        for _ in range(200):
            if await all_equal():
                break
            await asyncio.sleep(0.05)
        texts = [await n.text(title) for n in nodes] + [str(page)]
        assert len(set(texts)) == 1, texts
        assert any(ch in texts[0] for ch in "é😀中文")
    finally:
        for node in nodes:
            await node.close()
        await py.close()


async def test_offline_edits_merge_after_reconnect(collab_server: ServerFactory):
    server = collab_server(commit_idle_s=60, commit_max_s=120)
    title = "Offline page"
    a, b = await NodeClient().start(), await NodeClient().start()
    try:
        for n in (a, b):
            await n.call("connect", url=server.url)
            await n.call("join", title=title)
        await a.call("insert", title=title, index=0, text="shared start\n")
        await b.wait_text(title, lambda t: t == "shared start\n")
        await a.call("offline")
        await a.call("insert", title=title, index=0, text="A offline\n")
        await b.call("insert", title=title, index=13, text="B online\n")
        await a.call("online")
        want = "A offline\nshared start\nB online\n"
        assert await a.wait_text(title, lambda t: t == want) == want
        assert await b.wait_text(title, lambda t: t == want) == want
    finally:
        await a.close()
        await b.close()


async def test_awareness_appears_and_is_removed_on_disconnect(collab_server: ServerFactory):
    server = collab_server()
    title = "Awareness page"
    a, b = await NodeClient().start(), await NodeClient().start()
    try:
        for n in (a, b):
            await n.call("connect", url=server.url)
            await n.call("join", title=title)
        await a.call("awareness", title=title, state={"user": {"name": "Alice", "color": "#f00"}})

        async def peers_of_b() -> list[Any]:
            return list((await b.call("peers", title=title))["states"])

        alice = [{"user": {"name": "Alice", "color": "#f00"}}]
        for _ in range(200):  # A's empty initial state may arrive first; wait for the named one
            if await peers_of_b() == alice:
                break
            await asyncio.sleep(0.05)
        assert await peers_of_b() == alice
        await a.close()
        for _ in range(200):
            if not await peers_of_b():
                break
            await asyncio.sleep(0.05)
        assert await peers_of_b() == []
    finally:
        await a.close()
        await b.close()


async def test_two_pages_on_one_connection_stay_isolated(collab_server: ServerFactory):
    server = collab_server(commit_idle_s=60, commit_max_s=120)
    one = await PyClient(server.url).connect()
    two = await PyClient(server.url).connect()
    try:
        a1, a2 = await one.join("Iso one"), await one.join("Iso two")
        b1, b2 = await two.join("Iso one"), await two.join("Iso two")
        one.append("Iso one", "first page")
        two.append("Iso two", "second page")
        await one.wait_until(lambda: str(a2) == "second page")
        await two.wait_until(lambda: str(b1) == "first page")
        assert str(a1) == "first page" and str(b2) == "second page"
    finally:
        await one.close()
        await two.close()


async def test_messages_for_a_page_not_joined_get_an_error(collab_server: ServerFactory):
    server = collab_server()
    client = await PyClient(server.url).connect()
    try:
        page = await client.join("Joined page")
        await client.emit_y("Other page", b"\x00\x02\x02\x00\x00")
        await client.wait_until(lambda: any(e[1].get("code") == "notjoined" for e in client.errors))
        assert not page.statuses or all(s.get("code") != "notjoined" for s in page.statuses)
    finally:
        await client.close()


async def test_join_refusal_is_typed(collab_server: ServerFactory):
    server = collab_server()
    client = await PyClient(server.url).connect()
    try:
        with pytest.raises(JoinRefused) as refused:
            await client.join("Bad|title")
        assert refused.value.code == "invalidtitle"
    finally:
        await client.close()


async def test_the_stock_python_socketio_transport_serves_the_same_protocol(collab_server: ServerFactory):
    """``--transport stock`` (python-socketio as shipped, for an untested library upgrade) relays, converges,
    answers acks and saves exactly like the lean transport."""
    server = collab_server(transport="stock", commit_idle_s=60, commit_max_s=120)
    title = "Stock transport"
    a, b = await NodeClient().start(), await NodeClient().start()
    py = await PyClient(server.url).connect()
    try:
        for n in (a, b):
            await n.call("connect", url=server.url)
            await n.call("join", title=title)
        page = await py.join(title)
        await a.call("insert", title=title, index=0, text="from node a\n")
        await b.wait_text(title, lambda t: t == "from node a\n")
        py.edit(title, len(str(page)), "from python 😀\n")
        want = "from node a\nfrom python 😀\n"
        assert await a.wait_text(title, lambda t: t == want) == want
        assert await b.wait_text(title, lambda t: t == want) == want
        assert (await py.save(title))["ok"] is True
    finally:
        await a.close()
        await b.close()
        await py.close()
    assert "python-socketio as shipped (--transport stock)" in server.log_path.read_text()


def forged(page: Any, client_id: int, words: str) -> bytes:
    """``words`` appended to what ``page`` holds by a document that took the Yjs client id ``client_id``
    (at that client's next clock): another editor's id, read off the items they typed."""
    doc: Doc[Any] = Doc(client_id=client_id)
    doc.apply_update(page.doc.get_update())
    sv = doc.get_state()
    text = doc.get(p.TEXT_NAME, type=Text)
    text.insert(len(str(text).encode()), words)
    return p.sync_update(doc.get_update(sv))


@pytest.mark.parametrize("victim_runs", ["yjs", "pycrdt"])
async def test_writing_with_another_editors_client_id_is_refused_and_the_victims_next_keystrokes_reach_everyone(
    collab_server: ServerFactory, alice: WikiUser, bob: WikiUser, victim_runs: str
):
    server = collab_server(commit_idle_s=60, commit_max_s=120)
    title = f"Forged client id {victim_runs}"
    node: NodeClient | None = None
    py_alice: PyClient | None = None
    b = await PyClient(server.url, cookie=bob.cookie_header()).connect()
    mallory = await PyClient(server.url).connect()  # anonymous: another user
    try:
        pb = await b.join(title)
        pm = await mallory.join(title)
        if victim_runs == "yjs":  # a real Yjs client, as in a browser
            node = await NodeClient().start()
            await node.call("connect", url=server.url, cookie=alice.cookie_header())
            await node.call("join", title=title)
            await node.call("append", title=title, text="Alice: hello.")
        else:
            py_alice = await PyClient(server.url, cookie=alice.cookie_header()).connect()
            pa = await py_alice.join(title)
            await py_alice.wait_until(lambda: pa.synced, what="initial sync")
            py_alice.append(title, "Alice: hello.")
        await mallory.wait_until(lambda: "Alice: hello." in str(pm), what="Alice's text at Mallory")
        alices_id = pm.text.sticky_index(0, Assoc.AFTER).to_json()["item"]["client"]
        await mallory.emit_y(title, forged(pm, alices_id, " FORGED"))
        refusal = await mallory.wait_status(title, "error")
        assert refusal["code"] == "badmessage" and f"Yjs client id {alices_id}" in refusal["message"]
        # Alice types on: her keystrokes reach everyone, Mallory's never did
        if node is not None:
            await node.call("append", title=title, text=" Still me.")
            await node.wait_text(title, lambda t: t == "Alice: hello. Still me.")
        else:
            assert py_alice is not None
            py_alice.append(title, " Still me.")
        await b.wait_until(lambda: str(pb) == "Alice: hello. Still me.", what="Alice's next keystrokes at Bob")
        await mallory.wait_until(lambda: str(pm) == "Alice: hello. Still me.", what="Alice's next keystrokes")
    finally:
        for client in (b, mallory, py_alice):
            if client is not None:
                await client.close()
        if node is not None:
            await node.close()


async def test_an_update_listing_a_client_twice_is_refused(collab_server: ServerFactory, bob: WikiUser):
    server = collab_server(commit_idle_s=60, commit_max_s=120)
    title = "Client listed twice"
    b = await PyClient(server.url, cookie=bob.cookie_header()).connect()
    mallory = await PyClient(server.url).connect()
    try:
        pb = await b.join(title)
        pm = await mallory.join(title)
        await mallory.wait_until(lambda: pm.synced, what="initial sync")
        doc: Doc[Any] = Doc(client_id=4242)
        text = doc.get(p.TEXT_NAME, type=Text)
        text.insert(0, "one ")
        first = doc.get_update()
        text.insert(4, "two ")
        sv = doc.get_state()
        text.insert(8, "three ")
        third = doc.get_update(sv)  # after a gap: "two " is not in it
        await mallory.emit_y(title, p.sync_update(p.write_varuint(2) + first[1:-1] + third[1:-1] + b"\x00"))
        refusal = await mallory.wait_status(title, "error")
        assert refusal["code"] == "badmessage" and "lists Yjs client 4242 twice" in refusal["message"]
        mallory.append(title, "fine")  # after the refused update, in order: nothing of it came before
        await b.wait_until(lambda: "fine" in str(pb), what="Mallory's next change")
        assert str(pb) == "fine"
    finally:
        await b.close()
        await mallory.close()
