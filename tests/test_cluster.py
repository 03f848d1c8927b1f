"""Cluster mode: several real nodes on one real Redis, against the real dev wiki (docs/scaling.md)."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.clients import NodeClient, PyClient
from tests.plugins.redis import RedisFactory, RedisProcess
from tests.plugins.server import CollabProcess, ServerFactory
from tests.support.net import free_port
from tests.wikiclient import WikiUser

pytestmark = pytest.mark.asyncio

ADMIN_TOKEN = "cluster-test-admin-token-0123456789"
NGINX_EXAMPLE = Path(__file__).parents[1] / "examples" / "nginx-cluster.conf"
TOKEN = re.compile(r"\b[ab]\d{4}\b")


@dataclass
class NginxProcess:
    dir: Path
    port: int
    proc: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[Callable[[list[CollabProcess]], NginxProcess]]:
    """Debian's nginx running examples/nginx-cluster.conf unchanged but for the ports."""
    if shutil.which("nginx") is None:
        pytest.skip("nginx is not installed (make deps installs nginx-light)")
    started: list[NginxProcess] = []

    def start(nodes: list[CollabProcess]) -> NginxProcess:
        directory = tmp_path / "nginx"
        (directory / "logs").mkdir(parents=True)
        (directory / "tmp").mkdir()
        port = free_port()
        conf = NGINX_EXAMPLE.read_text()
        for example_port, node in zip(("8801", "8802", "8803"), nodes, strict=True):
            conf = conf.replace(f"127.0.0.1:{example_port}", f"127.0.0.1:{node.port}")
        conf = conf.replace("listen 127.0.0.1:8800;", f"listen 127.0.0.1:{port};")
        (directory / "nginx.conf").write_text(conf)
        cmd = ["nginx", "-p", str(directory), "-e", "logs/error.log", "-c", str(directory / "nginx.conf")]
        proc = subprocess.Popen([*cmd, "-g", "daemon off;"], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        server = NginxProcess(directory, port, proc)
        started.append(server)
        deadline = time.monotonic() + 20
        while True:
            assert proc.poll() is None, (directory / "logs" / "error.log").read_text()
            try:
                with urllib.request.urlopen(server.url + "/healthz", timeout=2) as resp:
                    if resp.status == 200:
                        return server
            except OSError:
                assert time.monotonic() < deadline, "nginx did not come up"
                time.sleep(0.05)  # polling a process that is starting: nothing to wait on

    yield start
    for server in started:
        server.proc.terminate()
        server.proc.wait(10)


def start_cluster(collab_server: ServerFactory, redis: RedisProcess, n: int = 3, **options: Any) -> list[CollabProcess]:
    return [collab_server(redis=redis.url, admin_token=ADMIN_TOKEN, **options) for _ in range(n)]


def bot_revisions(admin: WikiUser, title: str) -> list[dict[str, Any]]:
    data = admin.api(action="query", prop="revisions", titles=title, rvprop="ids|user|comment|content",
                     rvslots="main", rvlimit=50)  # fmt: skip
    revisions = data["query"]["pages"][0].get("revisions", [])
    return [r for r in revisions if r["user"] == "SyncBot"]


def sessions_of(node: CollabProcess) -> list[dict[str, Any]]:
    request = urllib.request.Request(node.url + "/api/sessions", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    with urllib.request.urlopen(request, timeout=10) as resp:
        return list(json.load(resp)["sessions"])


def lease_holder(redis: RedisProcess, title: str) -> str | None:
    value = redis.client().get(f"collab:{{{title}}}:lease")
    return value.decode() if value else None


def node_of(nodes: list[CollabProcess], holder: str) -> CollabProcess:
    """The node process behind a lease value ``host:port/incarnation#token``."""
    port = int(holder.split("/", 1)[0].rsplit(":", 1)[1])
    return next(n for n in nodes if n.port == port)


async def wait_for(cond: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll a condition on state outside this process (subprocess events, Redis, the wiki)."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def saved_revids(client: NodeClient, title: str) -> list[int]:
    return [
        int(e["status"]["revid"])
        for e in client.events
        if e.get("event") == "status" and e["title"] == title and e["status"]["state"] == "saved"
        and e["status"].get("revid")
    ]  # fmt: skip


async def type_tokens(client: NodeClient, title: str, prefix: str, numbers: range, pace_s: float) -> None:
    """Append `` <prefix><n>`` tokens at the end of the client's text, one every ``pace_s`` (``append`` reads the
    length and inserts in one step: an index read in a separate call may be stale by a concurrent insert)."""
    for n in numbers:
        await client.call("append", title=title, text=f" {prefix}{n:04d}")
        await asyncio.sleep(pace_s)  # the typist's pace


def tokens(text: str, prefix: str) -> list[str]:
    return [t for t in TOKEN.findall(text) if t.startswith(prefix)]


async def joined(url: str, user: WikiUser, title: str) -> tuple[PyClient, Any]:
    client = await PyClient(url, cookie=user.cookie_header()).connect()
    page = await client.join(title)
    await client.wait_until(lambda: page.synced, what="initial sync")
    return client, page


async def test_editors_on_three_nodes_converge_and_each_interval_makes_one_revision_crediting_all(
    redis_server: RedisFactory, collab_server: ServerFactory, admin: WikiUser, alice: WikiUser, bob: WikiUser
):
    title = "Cluster typing"
    admin.edit(title, "Alice:\nBob:\nAdmin:\nEnd.")
    redis = redis_server()
    nodes = start_cluster(collab_server, redis, commit_idle_s=2, commit_max_s=60, poll_s=1)
    users = {"Alice": alice, "Bob": bob, "Admin": admin}
    # A cold page joined on three nodes at the same moment: one of them seeds it, the others wait for it.
    editors = await asyncio.gather(
        *(joined(node.url, user, title) for node, user in zip(nodes, users.values(), strict=True))
    )
    clients = [c for c, _ in editors]
    pages = [pg for _, pg in editors]
    try:
        for round_no in (1, 2):

            async def type_line(i: int, name: str, round_no: int = round_no) -> None:
                for k in range(25):
                    text = str(pages[i])
                    line_end = text.index(f"{name}:") + text[text.index(f"{name}:") :].index("\n")
                    clients[i].edit(title, line_end, f" {name[:2].lower()}{round_no}{k:02d}")
                    await asyncio.sleep(0.02)  # a fast typist's pace; the three type at the same time

            before = len(bot_revisions(admin, title))
            await asyncio.gather(*(type_line(i, name) for i, name in enumerate(users)))
            expected = {f"{name[:2].lower()}{round_no}{k:02d}" for name in users for k in range(25)}
            for client, page in editors:
                await client.wait_until(
                    lambda page=page, expected=expected: (
                        expected <= set(str(page).split()) and str(page) == str(pages[0])
                    ),
                    timeout=30,
                    what="every editor sees every token",
                )
            # The save comes once the page is quiet for commit_idle_s; every node's editors hear about it.
            for client, page in editors:
                await client.wait_until(
                    lambda page=page: any(s["state"] == "saved" and s.get("revid") for s in page.statuses),
                    timeout=60,
                    what="the saved status",
                )
            for page in pages:
                page.statuses.clear()
            revisions = bot_revisions(admin, title)
            assert len(revisions) == before + 1, "exactly one bot revision for the interval"
            latest = revisions[0]
            assert latest["slots"]["main"]["content"] == str(pages[0]).rstrip()
            for name in users:
                assert f"[[User:{name}|{name}]]" in latest["comment"], latest["comment"]
        for text in (str(page) for page in pages):
            words = text.split()
            assert len(words) == len(set(words)), f"no token is duplicated: {text!r}"
        # An explicit save on a node that does not hold the lease is forwarded to the holder.
        holder = lease_holder(redis, title)
        assert holder is not None
        i = next(i for i, node in enumerate(nodes) if node is not node_of(nodes, holder))
        clients[i].append(title, " explicit")
        ack = await clients[i].save(title)
        assert ack["ok"] and ack["revid"] == bot_revisions(admin, title)[0]["revid"]
        assert admin.read(title)[0].endswith(" explicit")
        assert lease_holder(redis, title) == holder, "the holder saved it"
    finally:
        for client in clients:
            await client.close()


async def test_killing_the_lease_holder_during_typing_loses_nothing_and_another_node_saves(
    redis_server: RedisFactory,
    collab_server: ServerFactory,
    nginx: Callable[[list[CollabProcess]], NginxProcess],
    admin: WikiUser,
    alice: WikiUser,
    bob: WikiUser,
):
    title = "Cluster crash"
    admin.edit(title, "Start.")
    redis = redis_server()
    nodes = start_cluster(collab_server, redis, commit_idle_s=1, commit_max_s=600, commit_lease_s=3, poll_s=1)
    proxy = nginx(nodes)
    writer_a, writer_b, observer = clients = [await NodeClient().start() for _ in range(3)]
    try:
        for client, user in zip(clients, (alice, bob, admin), strict=True):
            await client.call("connect", url=proxy.url, cookie=user.cookie_header())
            await client.call("join", title=title)
            await client.wait_text(title, lambda t: t.startswith("Start."))
        # A little typing, then quiet: one node saves, and holds the page's commit lease from then on.
        await asyncio.gather(
            type_tokens(writer_a, title, "a", range(0, 5), 0.05), type_tokens(writer_b, title, "b", range(0, 5), 0.05)
        )
        await wait_for(lambda: bool(saved_revids(observer, title)), 30, "the first save")
        holder = lease_holder(redis, title)
        assert holder is not None
        victim = node_of(nodes, holder)
        # Now type without pause (no idle save, the deadline is far) and kill the holder in the middle.
        typing = [
            asyncio.create_task(type_tokens(writer_a, title, "a", range(5, 80), 0.1)),
            asyncio.create_task(type_tokens(writer_b, title, "b", range(5, 80), 0.1)),
        ]
        await observer.wait_text(title, lambda t: len(TOKEN.findall(t)) >= 40, timeout=30)
        victim.kill()  # SIGKILL: no shutdown handler, no lease hand-over
        relayed = await observer.text(title)  # everything the observer was shown before the kill
        await asyncio.gather(*typing)
        # The editors of the dead node reconnected through nginx to the others; everyone converges.
        final = await writer_a.wait_text(
            title, lambda t: len(tokens(t, "a")) == 80 and len(tokens(t, "b")) == 80, timeout=60
        )
        for client in clients:
            await client.wait_text(title, lambda t: t == final, timeout=30)
        for prefix in ("a", "b"):
            found = tokens(final, prefix)
            assert found == [f"{prefix}{n:04d}" for n in range(80)], f"lost, duplicated or out of order: {final!r}"
        assert set(TOKEN.findall(relayed)) <= set(TOKEN.findall(final)), "an update relayed before the kill is lost"
        survivors = [n for n in nodes if n is not victim]
        users = {
            e["user"] for node in survivors for s in sessions_of(node) if s["title"] == title for e in s["editors"]
        }
        assert users == {"Alice", "Bob", "Admin"}, "every editor is served by a surviving node"
        # Another node takes the lease once it expires, and saves what the dead holder had not.
        await wait_for(lambda: admin.read(title)[0] == final.rstrip(), 90, "the new holder's save")
        new_holder = lease_holder(redis, title)
        assert new_holder is not None and node_of(nodes, new_holder) is not victim
        saved = admin.read(title)[0]
        assert TOKEN.findall(saved) == TOKEN.findall(final), "the saved text has each token exactly once"
        contents = [r["slots"]["main"]["content"] for r in bot_revisions(admin, title)]
        assert len(contents) == len(set(contents)), "no revision saved twice"
    finally:
        for client in clients:
            await client.close()


async def test_restarting_every_node_and_redis_mid_session_loses_nothing_relayed(
    redis_server: RedisFactory, collab_server: ServerFactory, admin: WikiUser, alice: WikiUser, bob: WikiUser
):
    title = "Cluster restart"
    admin.edit(title, "Start.")
    redis = redis_server(appendfsync="everysec")
    nodes = start_cluster(collab_server, redis, commit_idle_s=1, commit_max_s=600, commit_lease_s=3, poll_s=1)
    writer_a, writer_b, observer, fresh = clients = [await NodeClient().start() for _ in range(4)]
    try:
        for client, user, node in zip((writer_a, writer_b, observer), (alice, bob, admin), nodes, strict=True):
            await client.call("connect", url=node.url, cookie=user.cookie_header())
            await client.call("join", title=title)
            await client.wait_text(title, lambda t: t.startswith("Start."))
        typing = [
            asyncio.create_task(type_tokens(writer_a, title, "a", range(0, 10_000), 0.05)),
            asyncio.create_task(type_tokens(writer_b, title, "b", range(0, 10_000), 0.05)),
        ]
        await observer.wait_text(title, lambda t: len(TOKEN.findall(t)) >= 60, timeout=60)
        for node in nodes:
            node.kill()  # SIGKILL: nothing is saved to the wiki, nothing handed over
        # The writers die too: what they typed can only come back from Redis's append-only file.
        for writer in (writer_a, writer_b):
            assert writer.proc is not None
            writer.proc.kill()
        for task in typing:
            task.cancel()
        await asyncio.gather(*typing, return_exceptions=True)
        relayed = await observer.text(title)
        shown = TOKEN.findall(relayed)
        assert len(shown) >= 60
        redis.kill()  # and Redis crashes too (appendfsync everysec: see docs/scaling.md)
        redis.start()
        for node in nodes:
            node.start()
        await fresh.call("connect", url=nodes[1].url, cookie=alice.cookie_header())
        await fresh.call("join", title=title)
        recovered = await fresh.wait_text(title, lambda t: set(shown) <= set(TOKEN.findall(t)), timeout=60)
        # The observer reconnects by itself (same URL) and re-syncs its copy: no duplicates anywhere.
        await observer.wait_text(title, lambda t: t == recovered, timeout=60)
        for prefix in ("a", "b"):
            found = tokens(recovered, prefix)
            assert found == [f"{prefix}{n:04d}" for n in range(len(found))], f"lost or duplicated: {recovered!r}"
        # The restarted cluster saves the page: its log held unsaved work.
        await wait_for(lambda: admin.read(title)[0] == recovered.rstrip(), 90, "the save after the restart")
    finally:
        for client in clients:
            await client.close()


async def test_editors_on_different_nodes_see_each_others_presence_and_a_late_joiner_sees_everyone(
    redis_server: RedisFactory, collab_server: ServerFactory, admin: WikiUser, alice: WikiUser, bob: WikiUser
):
    title = "Cluster presence"
    admin.edit(title, "Hello.")
    redis = redis_server()
    nodes = start_cluster(collab_server, redis)
    first, second, late = clients = [await NodeClient().start() for _ in range(3)]

    async def names(client: NodeClient) -> set[str]:
        peers = await client.call("peers", title=title)
        return {s["user"]["name"] for s in peers["states"] if s and "user" in s}

    async def until(client: NodeClient, expected: set[str]) -> None:
        deadline = time.monotonic() + 20
        while (found := await names(client)) != expected:
            assert time.monotonic() < deadline, f"peers {found}, expected {expected}"
            await asyncio.sleep(0.05)  # polling a subprocess: no event to wait on across the pipe

    try:
        for client, user, node in zip(clients, (alice, bob, admin), nodes, strict=True):
            await client.call("connect", url=node.url, cookie=user.cookie_header())
        for client, name in ((first, "Alice"), (second, "Bob")):
            await client.call("join", title=title)
            await client.call("awareness", title=title, state={"user": {"name": name}, "cursor": None})
        await until(first, {"Bob"})
        await until(second, {"Alice"})
        # A node that opens the page later learns the others' states at once (not after their 15 s renewal).
        await late.call("join", title=title)
        await until(late, {"Alice", "Bob"})
        await first.call("leave", title=title)
        await until(second, set())
        await until(late, {"Bob"})
    finally:
        for client in clients:
            await client.close()


async def test_every_node_publishes_its_session_rows_for_the_admin_view(redis_server: RedisFactory):
    from collab.cluster import Cluster

    redis = redis_server()
    one = Cluster(redis.url, port=1001, lease_s=5)
    two = Cluster(redis.url, port=1002, lease_s=5)
    one.presence.rows = lambda: [{"title": "Page A", "node": one.name, "editors": [{"user": "Alice"}]}]
    two.presence.rows = lambda: [{"title": "Page B", "node": two.name, "editors": [{"user": "Bob"}]}]

    async def every_row(cluster: Cluster) -> list[dict[str, Any]]:
        return [row for node in await cluster.nodes() for row in node["rows"]]

    try:
        await one.presence.publish()
        await two.presence.publish()
        rows = await every_row(one)
        assert sorted((r["title"], r["editors"][0]["user"]) for r in rows) == [("Page A", "Alice"), ("Page B", "Bob")]
        assert {n["name"] for n in await two.nodes()} == {one.name, two.name}
    finally:
        await two.close()  # leaving removes its rows at once
        assert [r["title"] for r in await every_row(one)] == ["Page A"]
        await one.close()


async def test_a_holder_dying_right_after_the_wiki_took_its_save_is_adopted_not_merged_twice(
    redis_server: RedisFactory,
    collab_server: ServerFactory,
    admin: WikiUser,
    alice: WikiUser,
    bob: WikiUser,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
):
    title = "Cluster crash after save"
    admin.edit(title, "Alice:\nBob:\nEnd.")
    marker = tmp_path / "crash-after-next-save"
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parent / "fault"))
    monkeypatch.setenv("COLLAB_TEST_CRASH_AFTER_SAVE", str(marker))
    redis = redis_server()
    nodes = start_cluster(collab_server, redis, n=3, commit_idle_s=1, commit_max_s=600, commit_lease_s=3)
    watcher, wpage = await joined(nodes[2].url, admin, title)
    typists = [await joined(nodes[i].url, user, title) for i, user in enumerate((alice, bob))]
    try:
        marker.touch()  # the next node to save dies the moment the wiki has accepted the revision
        for k in range(10):
            for (client, _), name in zip(typists, ("Alice:", "Bob:"), strict=True):
                text = str(client.pages[title])
                client.edit(title, text.index(name) + len(name), f" {name[0].lower()}{k}")
            await asyncio.sleep(0.02)  # typing pace
        await wait_for(lambda: any(n.proc is not None and n.proc.poll() is not None for n in nodes), 30, "a death")
        dead = next(n for n in nodes if n.proc is not None and n.proc.poll() is not None)
        assert not marker.exists(), "it died saving"
        # Another node takes the lease when it expires, finds the dead holder's save on the wiki and adopts it.
        await wait_for(lambda: "adopted revision" in "".join(n.log() for n in nodes if n is not dead), 60, "adoption")
        survivors = [(c, pg) for c, pg in [*typists, (watcher, wpage)] if c.url != dead.url]
        client, page = survivors[0]
        client.append(title, " after")
        await wait_for(lambda: admin.read(title)[0].endswith(" after"), 60, "the next save")
        typist = {alice.cookie_header(): "Alice", bob.cookie_header(): "Bob", admin.cookie_header(): "Admin"}[
            str(client.cookie)
        ]
        comment = bot_revisions(admin, title)[0]["comment"]
        others = {"Alice", "Bob", "Admin"} - {typist}
        assert typist in comment and not any(f"User:{o}|" in comment for o in others), (
            f"the adopted save's co-authors are settled: {comment}"
        )
        for c, pg in survivors:
            await c.wait_until(lambda pg=pg: str(pg) == str(page), what="convergence")
        text = str(page)
        words = [w for w in text.split() if w not in ("Alice:", "Bob:", "End.")]
        assert len(words) == len(set(words)) == 21, f"each token exactly once: {text!r}"
        assert admin.read(title)[0] == text
        assert "merged outside revision" not in "".join(n.log() for n in nodes), "the bot's own save is not merged"
    finally:
        for c, _ in [*typists, (watcher, wpage)]:
            await c.close()


async def test_the_redis_log_compacts_into_a_snapshot_never_backwards_and_keeps_recent_entries(
    redis_server: RedisFactory, monkeypatch: pytest.MonkeyPatch
):
    import redis.asyncio as aioredis

    from collab.cluster import store as rs
    from collab.cluster.keys import key
    from collab.cluster.writer import Writer
    from collab.room import Base, ClientOrigin, PageRoom, seed_update

    redis = redis_server()
    client = aioredis.Redis.from_url(redis.url)
    writer = Writer(client)
    running = asyncio.create_task(writer.run())
    store = rs.RedisStore(client, writer, "node-a/1", lambda title: None)
    log_key = key("Page", "log")
    try:
        assert await store.fetch("Page") is None  # not in the log: this node seeds it
        base = Base(None, "", seed_update("Page", None, ""))
        store.create("Page", base)
        room = PageRoom("Page", base)
        room.listeners.append(lambda update, origin: store.append("Page", update, origin))
        for i in range(50):
            room.replace_text(room.current_text() + f"w{i} ", ClientOrigin("sid", "Alice"))
        await store.durable()
        store.advance("Page", str(await store.last_id("Page")))  # as if this node's reader had read it all
        store.compact("Page", room.full_state())
        await store.durable()
        assert await client.xlen(log_key) == 51, "entries younger than the grace period stay"
        monkeypatch.setattr(rs, "TRIM_GRACE_MS", 0)
        through = store.position("Page")
        for i in range(50, 60):
            room.replace_text(room.current_text() + f"w{i} ", ClientOrigin("sid", "Alice"))
        await store.durable()
        store.advance("Page", str(await store.last_id("Page")))
        store.compact("Page", room.full_state())
        await store.durable()
        assert await client.xlen(log_key) == 1, "only the entry the snapshot ends with remains"
        stored = await store.fetch("Page")
        assert stored is not None and stored.tail_length == 0
        rebuilt = PageRoom("Page", stored.base)
        for update in stored.updates:
            rebuilt.apply_update(update, ClientOrigin("load", "-"))
        assert rebuilt.current_text() == room.current_text()
        # A node behind the others compacts with an older position: the snapshot does not move back.
        snapshot = await client.hget(key("Page", "page"), "snapshot")
        store.advance("Page", through)
        store.compact("Page", b"stale")
        room.replace_text(room.current_text() + "tail", ClientOrigin("sid", "Bob"))
        await store.durable()
        assert await client.hget(key("Page", "page"), "snapshot") == snapshot
        stored = await store.fetch("Page")
        assert stored is not None and stored.tail_length == 1
        rebuilt = PageRoom("Page", stored.base)
        for update in stored.updates:
            rebuilt.apply_update(update, ClientOrigin("load", "-"))
        assert rebuilt.current_text() == room.current_text()
    finally:
        running.cancel()
        await client.aclose()


async def test_the_admin_session_list_of_any_node_shows_every_nodes_editors(
    redis_server: RedisFactory, collab_server: ServerFactory, alice: WikiUser, bob: WikiUser
):
    redis = redis_server()
    nodes = start_cluster(collab_server, redis, n=2, commit_idle_s=600, commit_max_s=600)
    a, _ = await joined(nodes[0].url, alice, "Cluster admin view A")
    b, _ = await joined(nodes[1].url, bob, "Cluster admin view B")
    try:

        def seen_from_first() -> set[tuple[str, str]]:
            return {(row["title"], e["user"]) for row in sessions_of(nodes[0]) for e in row["editors"]}

        want = {("Cluster admin view A", "Alice"), ("Cluster admin view B", "Bob")}
        await wait_for(lambda: seen_from_first() >= want, 20, "node 1's admin view to list node 2's editor")
        rows = {row["title"]: row for row in sessions_of(nodes[0])}
        assert rows["Cluster admin view A"]["node"] != rows["Cluster admin view B"]["node"]
    finally:
        await a.close()
        await b.close()


def statuses(client: NodeClient, title: str, code: str) -> list[dict[str, Any]]:
    return [
        e["status"] for e in client.events
        if e.get("event") == "status" and e["title"] == title and e["status"].get("code") == code
    ]  # fmt: skip


def refuse_writes(redis: RedisProcess, how: str) -> None:
    """Make Redis refuse every write command on its own, as in production: out of memory under ``noeviction``,
    or read-only as a replica after a failover (its master here is a port nobody listens on)."""
    client = redis.client()
    if how == "oom":
        client.config_set("maxmemory-policy", "noeviction")
        client.config_set("maxmemory", 1)
    else:
        client.replicaof("127.0.0.1", free_port())


def accept_writes(redis: RedisProcess, how: str) -> None:
    client = redis.client()
    if how == "oom":
        client.config_set("maxmemory", 0)
    else:
        client.replicaof("NO", "ONE")


@pytest.mark.parametrize("how", ["oom", "readonly"])
async def test_a_write_redis_refuses_is_not_relayed_the_typist_is_told_and_everything_arrives_once_it_stores_again(
    redis_server: RedisFactory, collab_server: ServerFactory, admin: WikiUser, alice: WikiUser, bob: WikiUser, how: str
):
    title = f"Cluster refused writes {how}"
    admin.edit(title, "Start.")
    redis = redis_server()
    one, two = start_cluster(collab_server, redis, n=2, commit_idle_s=600, commit_max_s=600)
    writer, same_node, other_node, fresh = clients = [await NodeClient().start() for _ in range(4)]
    try:
        for client, user, node in ((writer, alice, one), (same_node, bob, one), (other_node, admin, two)):
            await client.call("connect", url=node.url, cookie=user.cookie_header())
            await client.call("join", title=title)
            await client.wait_text(title, lambda t: t.startswith("Start."))
        await type_tokens(writer, title, "a", range(0, 5), 0.05)
        await other_node.wait_text(title, lambda t: len(tokens(t, "a")) == 5)
        refuse_writes(redis, how)
        await type_tokens(writer, title, "b", range(0, 5), 0.05)
        # The typist is told; so is the other editor of the node whose relay held the first refused change.
        await wait_for(lambda: bool(statuses(writer, title, "notstored")), 30, "the typist told")
        await wait_for(lambda: bool(statuses(same_node, title, "notstored")), 30, "the page's editors told")
        # The relay shows nothing Redis did not store (before the fix: relayed at once, lost on a restart).
        for client in (same_node, other_node):
            assert tokens(await client.text(title), "b") == [], "a change Redis refused was shown"
        assert "does not store writes" in one.log()
        # Redis stores again: the node sends the refused writes, resynchronises the page, and everyone converges.
        accept_writes(redis, how)
        expected = [f"b{n:04d}" for n in range(5)]
        for client in (writer, same_node, other_node):
            await client.wait_text(title, lambda t: tokens(t, "b") == expected, timeout=60)
        assert "stores writes again" in one.log()
        # And it is in Redis: both nodes die, a restarted one gives a newcomer every change, nothing twice.
        one.kill()
        two.kill()
        two.start()
        await fresh.call("connect", url=two.url, cookie=bob.cookie_header())
        await fresh.call("join", title=title)
        text = await fresh.wait_text(title, lambda t: tokens(t, "b") == expected, timeout=60)
        assert tokens(text, "a") == [f"a{n:04d}" for n in range(5)]
    finally:
        for client in clients:
            await client.close()
