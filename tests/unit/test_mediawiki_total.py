"""Every call to the wiki is total (collab/mediawiki/editor.py, bot.py): whatever answers — a WAF's HTML 403
or 429, an empty body, a 5xx, JSON of another shape, an API error nobody mapped — ends as a
:class:`collab.errors.WikiError`; identities are cached per cookie. Against a small aiohttp server playing the
wiki. Through a real server and a proxy in front of the dev wiki: tests/test_robustness.py."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import mwclient.errors
import pytest
import requests
from aiohttp import web

from collab.errors import WikiError, WikiUnavailable
from collab.mediawiki.bot import _total
from collab.mediawiki.editor import Editor, IdentityCache
from collab.wiki import User
from tests.support.net import free_port

ALICE = {"query": {"userinfo": {"id": 2, "name": "Alice", "groups": ["*", "user"]}}}


class FakeApi:
    """An ``api.php`` answering ``status``, ``body`` and ``content_type``; counts requests."""

    def __init__(self) -> None:
        self.status, self.body, self.content_type = 200, json.dumps(ALICE), "application/json"
        self.requests = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        return web.Response(status=self.status, body=self.body.encode(), content_type=self.content_type)


@pytest.fixture
async def wiki() -> AsyncIterator[tuple[FakeApi, Editor]]:
    api = FakeApi()
    app = web.Application()
    app.router.add_get("/api.php", api.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    editor = Editor(f"http://127.0.0.1:{port}/api.php", timeout_s=5, user_agent="test")
    editor.open()
    yield api, editor
    await editor.close()
    await runner.cleanup()


ANSWERS = [
    (403, "<html><body>Access denied by the firewall</body></html>", "text/html"),
    (429, "<html>Too Many Requests</html>", "text/html"),
    (502, "<html>Bad gateway</html>", "text/html"),
    (200, "", "text/html"),
    (200, "<!DOCTYPE html><html>a login page</html>", "text/html"),
    (200, "[1, 2]", "application/json"),
    (200, '{"batchcomplete": true}', "application/json"),
    (200, '{"query": {"userinfo": "nobody"}}', "application/json"),
    (200, "[" * 100_000 + "]" * 100_000, "application/json"),
]


@pytest.mark.parametrize(("status", "body", "content_type"), ANSWERS)
async def test_whoami_and_access_turn_any_answer_into_wikiunavailable(
    wiki: tuple[FakeApi, Editor], status: int, body: str, content_type: str
):
    api, editor = wiki
    api.status, api.body, api.content_type = status, body, content_type
    with pytest.raises(WikiUnavailable):
        await editor.whoami("c=1")
    with pytest.raises(WikiUnavailable):
        await editor.access("Page", "c=1")


async def test_an_api_error_nobody_mapped_is_a_wiki_error_with_its_code(wiki: tuple[FakeApi, Editor]):
    api, editor = wiki
    api.body = json.dumps({"error": {"code": "mystery", "info": "an extension's own error"}})
    with pytest.raises(WikiError) as failed:
        await editor.whoami("c=1")
    assert failed.value.code == "mystery"
    api.body = json.dumps({"error": {"code": "maxlag", "info": "Waiting for a database server"}})
    with pytest.raises(WikiUnavailable):  # the wiki asks to be asked again later
        await editor.whoami("c=1")
    api.body = json.dumps({"error": "not an object"})
    with pytest.raises(WikiError):
        await editor.whoami("c=1")


async def test_an_answer_larger_than_the_limit_is_not_read_whole(wiki: tuple[FakeApi, Editor], monkeypatch):
    api, editor = wiki
    monkeypatch.setattr("collab.mediawiki.editor.MAX_ANSWER_BYTES", 1000)
    api.body = json.dumps({**ALICE, "padding": "x" * 5000})
    with pytest.raises(WikiUnavailable):
        await editor.whoami("c=1")


async def test_a_wiki_that_does_not_answer_in_time_is_unavailable():
    done = asyncio.Event()

    async def never(request: web.Request) -> web.Response:
        await done.wait()
        return web.Response(status=503)

    app = web.Application()
    app.router.add_get("/api.php", never)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    editor = Editor(f"http://127.0.0.1:{port}/api.php", timeout_s=0.2, user_agent="test")
    editor.open()
    try:
        with pytest.raises(WikiUnavailable):
            await editor.whoami("c=1")
    finally:
        done.set()
        await editor.close()
        await runner.cleanup()


async def test_identities_are_remembered_per_cookie_for_a_few_seconds(wiki: tuple[FakeApi, Editor]):
    api, editor = wiki
    now = [100.0]
    editor.identities = IdentityCache(5.0, clock=lambda: now[0])
    assert (await editor.whoami("c=1")).name == "Alice"
    assert (await editor.whoami("c=1")).name == "Alice" and api.requests == 1
    await editor.whoami("c=2")  # another cookie is asked about
    assert api.requests == 2
    now[0] += 5.0  # expired
    await editor.whoami("c=1")
    assert api.requests == 3
    api.status, api.body = 403, "<html>denied</html>"
    now[0] += 5.0
    for _ in range(2):  # failures are not remembered
        with pytest.raises(WikiUnavailable):
            await editor.whoami("c=1")
    assert api.requests == 5


async def test_concurrent_lookups_of_one_cookie_share_one_request_and_the_cache_is_bounded():
    asked: list[str] = []
    gate = asyncio.Event()

    async def ask() -> User:
        asked.append("x")
        await gate.wait()
        return User("Alice", False, ())

    cache = IdentityCache(5.0, max_entries=3)
    waiting = [asyncio.ensure_future(cache.get("c=1", ask)) for _ in range(5)]
    await asyncio.sleep(0)
    waiting[0].cancel()  # one connection going away does not cancel the others' lookup
    gate.set()
    results = await asyncio.gather(*waiting[1:])
    assert asked == ["x"] and {u.name for u in results} == {"Alice"}
    for i in range(10):
        await cache.get(f"c={i}", ask)
    assert len(cache) == 3
    assert all(isinstance(k, bytes) and b"c=" not in k for k in cache._answers)  # digests, never cookies


@pytest.mark.parametrize(
    "error",
    [
        mwclient.errors.InvalidResponse("<html>403</html>"),
        requests.HTTPError("429 Client Error"),
        mwclient.errors.MaximumRetriesExceeded(),
        mwclient.errors.APIError("maxlag", "lagged", {}),
        KeyError("query"),
        TypeError("'NoneType' object is not subscriptable"),
    ],
    ids=["HTML", "HTTP 429", "5xx retried", "unmapped API error", "missing key", "wrong shape"],
)
def test_every_bot_call_ends_in_a_wiki_error(error: Exception):
    def call(*args: Any) -> None:
        raise error

    with pytest.raises(WikiError):
        _total(call)
