"""`collab serve` start-up and shutdown as an operator meets them."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

from collab.dev import devwiki as dw
from tests.clients import NodeClient
from tests.plugins.server import ServerFactory
from tests.support.net import free_port


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
