"""Joins abandoned at any point leave nothing behind (issue 14, item 7): the client goes away while the wiki
is asked, while the page loads, or right after the ack; after ``--unload-idle-s`` no page is loaded, and the
titles nobody edited leave no rows in the log. (python-socketio handles a disconnect after the join handler
it is running, so the windows inside a join are reached at unit level: tests/unit/test_session.py,
tests/unit/test_commit.py.)"""

from __future__ import annotations

import asyncio
import random
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from typing import Any

import pytest
import requests
import socketio

from collab.dev.devwiki import DevWiki
from tests.plugins.server import CollabProcess, ServerFactory
from tests.support.wafproxy import WafProxy

pytestmark = pytest.mark.asyncio

LOOPS = 200
WIKI_DELAY_S = 0.05


def gauge(server: CollabProcess, name: str) -> float:
    text = requests.get(server.url + "/metrics", timeout=30).text
    [value] = [line.split()[-1] for line in text.splitlines() if line.startswith(name + " ")]
    return float(value)


def logged_titles(server: CollabProcess) -> set[str]:
    with closing(sqlite3.connect(f"file:{server.data_dir / 'collab.sqlite3'}?mode=ro", uri=True)) as db:
        return {row[0] for row in db.execute("SELECT title FROM pages")}


async def connect_join_close(url: str, title: str, when: int, rng: random.Random) -> None:
    """One loop: connect, join ``title``, and go away: 0 at once (the wiki is being asked), 1 a moment later
    (the page may be loading), 2 right after the ack."""
    sio = socketio.AsyncClient(reconnection=False)
    await sio.connect(url, transports=["websocket"], wait_timeout=10)
    try:
        if when == 2:
            ack: dict[str, Any] = await sio.call("join", title, timeout=30)
            assert ack["ok"], ack
        else:
            await sio.emit("join", title)
            if when == 1:  # the rights check takes WIKI_DELAY_S, then the page's read as long
                await asyncio.sleep(WIKI_DELAY_S + rng.random() * 2 * WIKI_DELAY_S)
    finally:
        await sio.disconnect()


@pytest.fixture
def slow_wiki(devwiki: DevWiki) -> Iterator[WafProxy]:
    """The dev wiki answering each request after WIKI_DELAY_S, so that clients leave in the middle of it."""
    proxy = WafProxy(devwiki.env()["DEVWIKI_API"])
    yield proxy
    proxy.close()


async def test_connect_join_close_loops_leave_no_page_loaded_and_no_rows(
    collab_server: ServerFactory, slow_wiki: WafProxy
):
    server = collab_server(wiki_api=slow_wiki.url, unload_idle_s=2, connects_per_min=0, joins_per_min=0)
    slow_wiki.delay_s = WIKI_DELAY_S  # (after the bot's login: the join's rights check and the page's read)
    rng = random.Random(14)
    for batch in range(0, LOOPS, 8):  # a few at once, as browsers would
        await asyncio.gather(
            # A title each: an abandoned join's page is not unloaded by someone else's leaving it.
            *(connect_join_close(server.url, f"Lifecycle {i}", i % 3, rng) for i in range(batch, batch + 8))
        )
    deadline = asyncio.get_running_loop().time() + 60
    while gauge(server, "collab_pages_open") or gauge(server, "collab_connections"):
        assert asyncio.get_running_loop().time() < deadline, "pages are still loaded long after --unload-idle-s"
        await asyncio.sleep(0.2)
    assert "page 'Lifecycle" in server.log()  # they were loaded (and unloaded), not refused
    assert not {t for t in logged_titles(server) if t.startswith("Lifecycle")}  # nobody edited them
