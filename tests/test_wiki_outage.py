"""A wiki that answers garbage (issue 14, item 6): a proxy in front of the dev wiki answers the editor's calls
(``meta=userinfo``: who is this cookie, may they use this page) with a WAF's HTML 403 for a while. Connects
and joins fail with ``wikiunavailable`` at once, nothing leaks (connection counts per address), and once the
wiki answers again the same address connects and joins as before."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import socketio

from collab.dev.devwiki import DevWiki
from tests.clients import PyClient, refusal
from tests.plugins.server import CollabProcess, ServerFactory
from tests.support.wafproxy import WafProxy
from tests.wikiclient import WikiUser

pytestmark = pytest.mark.asyncio


@pytest.fixture
def proxy(devwiki: DevWiki) -> Iterator[WafProxy]:
    waf = WafProxy(devwiki.env()["DEVWIKI_API"])
    yield waf
    waf.close()


def gauge(server: CollabProcess, name: str) -> float:
    text = requests.get(server.url + "/metrics", timeout=30).text
    [value] = [line.split()[-1] for line in text.splitlines() if line.startswith(name + " ")]
    return float(value)


async def test_html_403_from_the_wiki_fails_connects_and_joins_with_wikiunavailable_and_nothing_leaks(
    collab_server: ServerFactory, proxy: WafProxy, alice: WikiUser
):
    cap = 3
    server = collab_server(wiki_api=proxy.url, max_connections_per_ip=cap, identity_cache_s=0)
    cookie = alice.cookie_header()
    title = "Outage test page"
    proxy.blocking = True
    for _ in range(2 * cap):  # more than the address may hold at once: a leak would lock it out
        refused = await refusal(server.url, headers={"Cookie": cookie})
        assert refused.get("data", {}).get("code") == "wikiunavailable", refused
    anonymous = await PyClient(server.url).connect()  # no cookie: nobody asks the wiki who it is
    try:
        ack: dict[str, Any] = await anonymous.sio.call("join", title, timeout=30)  # answered, never left hanging
        assert ack["ok"] is False and ack["error"]["code"] == "wikiunavailable", ack
    finally:
        await anonymous.close()
    assert proxy.blocked >= 2 * cap + 1  # the wiki (the proxy) was asked each time: its answer was the failure
    assert "Traceback" not in server.log()
    await _until(lambda: gauge(server, "collab_connections") == 0)
    assert gauge(server, "collab_pages_open") == 0

    proxy.blocking = False  # the wiki is back: the same address connects, up to its cap, and joins
    clients = [PyClient(server.url, cookie=cookie) for _ in range(cap)]
    try:
        for client in clients:
            await client.connect()
        page = await clients[0].join(title)
        assert page.title == title
        with pytest.raises(socketio.exceptions.ConnectionError):  # the cap itself still holds
            await PyClient(server.url, cookie=cookie).connect()
    finally:
        for client in clients:
            await client.close()


async def _until(condition: Any, timeout_s: float = 30) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.1)
