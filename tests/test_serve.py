"""`collab serve` start-up and shutdown as an operator meets them."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from collab.dev import devwiki as dw
from tests.clients import NodeClient
from tests.plugins.server import CollabProcess, ServerFactory
from tests.support.net import free_port
from tests.support.proxy import HangingProxy
from tests.wikiclient import WikiUser

TOKEN = re.compile(r"\bc\d{2}t\d{4}\b")


def serve(*args: str, password: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, COLLAB_BOT_PASSWORD=password, **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "collab", "serve", "--port", str(free_port()), *args],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_wrong_bot_credentials_exit_with_a_clear_message(devwiki: dw.DevWiki, tmp_path):
    env = devwiki.env()
    done = serve("--wiki-api", env["DEVWIKI_API"], "--bot-user", env["DEVWIKI_BOT_USER"],
                 "--data-dir", str(tmp_path), password="0123456789abcdefghijklmnopqrstuw")  # fmt: skip
    assert done.returncode == 2
    assert "refused the bot login" in done.stderr and "0123456789abcdefghijklmnopqrstuw" not in done.stderr


def test_an_unreachable_wiki_exits_with_a_clear_message(tmp_path):
    done = serve("--wiki-api", f"http://127.0.0.1:{free_port()}/api.php", "--bot-user", "Bot@app",
                 "--data-dir", str(tmp_path), password="x" * 32)  # fmt: skip
    assert done.returncode == 2
    assert "cannot reach the wiki" in done.stderr


def test_missing_options_are_named(tmp_path):
    done = serve("--data-dir", str(tmp_path), password="")
    assert done.returncode == 2
    assert "--wiki-api" in done.stderr and "--bot-user" in done.stderr and "COLLAB_BOT_PASSWORD" in done.stderr


def test_a_python_engineio_without_the_lean_transports_hooks_stops_the_start_with_a_clear_message(tmp_path):
    env = {"PYTHONPATH": str(Path(__file__).parent / "fault"), "COLLAB_TEST_HIDE_ENGINEIO_HOOK": "1"}
    done = serve("--wiki-api", f"http://127.0.0.1:{free_port()}/api.php", "--bot-user", "Bot@app",
                 "--data-dir", str(tmp_path), password="x" * 32, env=env)  # fmt: skip
    assert done.returncode == 2
    assert "AsyncSocket._websocket_handler" in done.stderr and "--transport stock" in done.stderr


def test_sigterm_shuts_down_cleanly(collab_server: ServerFactory):
    server = collab_server()
    assert server.stop(signal.SIGTERM) == 0
    assert "shutting down" in server.log()


async def test_sigterm_drops_connections_so_that_clients_reconnect_rather_than_end_their_session(
    collab_server: ServerFactory,
):
    server = collab_server()
    node = await NodeClient().start()  # socket.io-client, as in the browser
    try:
        await node.call("connect", url=server.url)
        assert server.stop(signal.SIGTERM) == 0
        for _ in range(300):
            disconnects = [e for e in node.events if e.get("event") == "disconnect"]
            if disconnects:
                break
            await asyncio.sleep(0.05)
        # "io server disconnect" would make browsers stop for good (read-only, "the server ended this session");
        # a dropped transport makes them reconnect.
        assert disconnects and disconnects[0]["reason"] == "transport close", node.events
    finally:
        await node.close()


def test_admin_and_metrics_tokens_shorter_than_32_bytes_stop_the_start_with_a_clear_message(tmp_path):
    short = "short-admin-token"
    (tmp_path / "metrics-token").write_text("short-metrics-token\n")
    base = ["--wiki-api", f"http://127.0.0.1:{free_port()}/api.php", "--bot-user", "Bot@app", "--data-dir",
            str(tmp_path / "data")]  # fmt: skip
    by_flag = serve(*base, "--admin-token", short, password="x" * 32)
    assert by_flag.returncode == 2 and "--admin-token must be at least 32 bytes" in by_flag.stderr
    assert short not in by_flag.stderr
    by_env = serve(*base, password="x" * 32, env={"COLLAB_ADMIN_TOKEN": short})
    assert by_env.returncode == 2 and "--admin-token must be at least 32 bytes" in by_env.stderr
    by_file = serve(*base, "--metrics-token-file", str(tmp_path / "metrics-token"), password="x" * 32)
    assert by_file.returncode == 2 and "--metrics-token must be at least 32 bytes" in by_file.stderr
    assert not (tmp_path / "data").exists()  # refused before anything started


async def keep_typing(client: NodeClient, title: str, name: str) -> None:
    """Append `` <name>t<n>`` tokens until cancelled; a call refused while the server is away is skipped (the
    client keeps the change and sends it when it is back, like a browser)."""
    for n in range(10_000):
        with contextlib.suppress(RuntimeError, TimeoutError):
            await client.call("append", title=title, text=f" {name}t{n:04d}", timeout=5)
        await asyncio.sleep(0.05)  # the typist's pace


def exit_code(server: CollabProcess, within_s: float) -> int | None:
    """The process's exit code once it has exited (None: it has not exited within ``within_s``, a generous
    failure detector: no timing figure is asserted beyond "it exits")."""
    assert server.proc is not None
    try:
        return server.proc.wait(within_s)
    except subprocess.TimeoutExpired:
        return None


async def test_sigterm_with_ten_reconnecting_clients_exits_and_loses_nothing_acknowledged(
    collab_server: ServerFactory, admin: WikiUser, alice: WikiUser
):
    title = "Shutdown with reconnecting clients"
    admin.edit(title, "Start.")
    server = collab_server(commit_idle_s=600, commit_max_s=600)  # only the shutdown saves
    clients = [await NodeClient().start() for _ in range(10)]
    typing: list[asyncio.Task[None]] = []
    try:
        for client in clients:
            await client.call("connect", url=server.url, cookie=alice.cookie_header())
            await client.call("join", title=title)
            await client.wait_text(title, lambda t: t.startswith("Start."))
        typing = [asyncio.create_task(keep_typing(c, title, f"c{n:02d}")) for n, c in enumerate(clients)]
        # Acknowledged: relayed to another client, which the server does only once the change is in its log.
        watcher = clients[0]
        seen = await watcher.wait_text(title, lambda t: len({m[:3] for m in TOKEN.findall(t)}) == 10, timeout=60)
        assert server.proc is not None
        server.proc.send_signal(signal.SIGTERM)
        # The clients keep typing and reconnecting (every 0.1-1 s) all through the shutdown.
        code = await asyncio.to_thread(exit_code, server, 30)
        assert code == 0, f"still running 30 s after SIGTERM:\n{server.log()[-3000:]}"
        server.proc = None
        for task in typing:
            task.cancel()
        assert "shutting down" in server.log()
        acknowledged = set(TOKEN.findall(seen))
        saved = admin.read(title)[0]
        assert acknowledged <= set(TOKEN.findall(saved)), "the shutdown saved everything acknowledged"
        # And the log: a restarted server gives a newcomer what was acknowledged, nothing twice.
        server.start()
        fresh = await NodeClient().start()
        clients.append(fresh)
        await fresh.call("connect", url=server.url, cookie=alice.cookie_header())
        await fresh.call("join", title=title)
        text = await fresh.wait_text(title, lambda t: acknowledged <= set(TOKEN.findall(t)), timeout=60)
        found = TOKEN.findall(text)
        assert len(found) == len(set(found)), f"duplicated: {text!r}"
    finally:
        for task in typing:
            task.cancel()
        await asyncio.gather(*typing, return_exceptions=True)
        for client in clients:
            await client.close()


async def typed_and_acknowledged(
    server: CollabProcess, user: WikiUser, title: str
) -> tuple[list[NodeClient], set[str]]:
    """Two clients on ``title``: one types, the other sees it (so the server logged it). The tokens seen."""
    typist, watcher = clients = [await NodeClient().start() for _ in range(2)]
    for client in clients:
        await client.call("connect", url=server.url, cookie=user.cookie_header())
        await client.call("join", title=title)
        await client.wait_text(title, lambda t: t.startswith("Start."))
    await typist.call("append", title=title, text=" c00t0000 c00t0001")
    seen = await watcher.wait_text(title, lambda t: "c00t0001" in t)
    return clients, set(TOKEN.findall(seen))


async def test_sigterm_while_the_wiki_does_not_answer_exits_and_the_text_is_saved_after_the_restart(
    collab_server: ServerFactory, devwiki: dw.DevWiki, admin: WikiUser, alice: WikiUser
):
    title = "Shutdown while the wiki does not answer"
    admin.edit(title, "Start.")
    clients: list[NodeClient] = []
    with HangingProxy("127.0.0.1", devwiki.port) as wiki:
        api = f"http://127.0.0.1:{wiki.port}/api.php"
        server = collab_server(wiki_api=api, commit_idle_s=600, commit_max_s=600)  # only the shutdown saves
        try:
            clients, acknowledged = await typed_and_acknowledged(server, alice, title)
            wiki.hang()  # the shutdown's save never gets an answer
            assert server.proc is not None
            server.proc.send_signal(signal.SIGTERM)
            code = await asyncio.to_thread(exit_code, server, 30)  # (the wiki client's own timeout is 60 s)
            assert code == 0, f"still running 30 s after SIGTERM:\n{server.log()[-3000:]}"
            server.proc = None
            assert "the unsaved text stays in the log" in server.log()
            assert not acknowledged & set(TOKEN.findall(admin.read(title)[0])), "the wiki got nothing"
            wiki.resume()
            server.options["commit_idle_s"] = 1
            server.start()  # the log holds unsaved work: the restarted server saves it
            for _ in range(600):
                if acknowledged <= set(TOKEN.findall(admin.read(title)[0])):
                    break
                await asyncio.sleep(0.1)  # polling the wiki: no event to wait on
            assert acknowledged <= set(TOKEN.findall(admin.read(title)[0])), "saved after the restart"
        finally:
            for client in clients:
                await client.close()
            server.stop()


async def test_a_second_sigterm_during_the_shutdown_exits_at_once(
    collab_server: ServerFactory, devwiki: dw.DevWiki, admin: WikiUser, alice: WikiUser
):
    title = "Shutdown cut short"
    admin.edit(title, "Start.")
    clients: list[NodeClient] = []
    with HangingProxy("127.0.0.1", devwiki.port) as wiki:
        server = collab_server(wiki_api=f"http://127.0.0.1:{wiki.port}/api.php", commit_idle_s=600, commit_max_s=600)
        try:
            clients, _ = await typed_and_acknowledged(server, alice, title)
            wiki.hang()  # the shutdown waits for the save
            assert server.proc is not None
            server.proc.send_signal(signal.SIGTERM)
            for _ in range(300):
                if "shutting down" in server.log():
                    break
                await asyncio.sleep(0.05)  # polling a log file: no event to wait on
            server.proc.send_signal(signal.SIGTERM)
            assert await asyncio.to_thread(exit_code, server, 30) == 1, server.log()[-3000:]
            server.proc = None
            assert "SIGTERM again during the shutdown: exiting now" in server.log()
        finally:
            for client in clients:
                await client.close()
            server.stop()
