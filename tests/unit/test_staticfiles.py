"""The client's static files (collab/staticfiles.py), in process with aiohttp's test server: the hashed
bundle compressed as the browser accepts and cached for a year, everything else revalidated, nothing outside
the directory. Against the real built bundle and a real `collab serve`: tests/test_browser.py."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from collab.staticfiles import IMMUTABLE, REVALIDATE, StaticFiles

BUNDLE = "collab.0123456789abcdef.js"
CODE = b"window.MediaWikiCollab = {};\n" * 200
BROTLI = b"built by client-js/build.mjs"
GZIP = gzip.compress(CODE, mtime=0)


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    (tmp_path / BUNDLE).write_bytes(CODE)
    (tmp_path / f"{BUNDLE}.gz").write_bytes(GZIP)
    (tmp_path / f"{BUNDLE}.br").write_bytes(BROTLI)  # served as built: its bytes need not be real brotli here
    (tmp_path / "loader.js").write_text("/* loader */\n")
    (tmp_path / ".hidden").write_text("secret")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "inner.js").write_text("inner")
    (tmp_path.parent / "outside.js").write_text("outside")
    app = web.Application()
    StaticFiles(tmp_path).add_routes(app)
    async with TestClient(TestServer(app)) as c:
        yield c


@pytest.mark.parametrize(
    ("accept", "encoding", "sent"), [("gzip, deflate, br", "br", BROTLI), ("gzip, deflate", "gzip", GZIP)]
)
async def test_the_hashed_bundle_is_sent_compressed_with_a_year_long_immutable_cache_header(
    client: TestClient[web.Request, web.Application], accept: str, encoding: str, sent: bytes
):
    resp = await client.get(f"/static/{BUNDLE}", headers={"Accept-Encoding": accept}, auto_decompress=False)
    assert resp.status == 200
    assert resp.headers["Cache-Control"] == IMMUTABLE == "public, max-age=31536000, immutable"
    assert resp.headers["Content-Encoding"] == encoding
    assert resp.headers["Vary"] == "Accept-Encoding"
    assert resp.headers["Content-Type"].startswith(("application/javascript", "text/javascript"))
    body = await resp.read()
    assert body == sent
    if encoding == "gzip":
        assert gzip.decompress(body) == CODE


async def test_a_browser_accepting_no_compression_gets_the_plain_bundle_still_immutable(
    client: TestClient[web.Request, web.Application],
):
    resp = await client.get(f"/static/{BUNDLE}", headers={"Accept-Encoding": "identity"}, auto_decompress=False)
    assert resp.status == 200 and "Content-Encoding" not in resp.headers
    assert resp.headers["Cache-Control"] == IMMUTABLE and resp.headers["Vary"] == "Accept-Encoding"
    assert await resp.read() == CODE


async def test_unhashed_files_are_revalidated_on_every_load(client: TestClient[web.Request, web.Application]):
    resp = await client.get("/static/loader.js")
    assert resp.status == 200 and resp.headers["Cache-Control"] == REVALIDATE == "no-cache"
    again = await client.get("/static/loader.js", headers={"If-Modified-Since": resp.headers["Last-Modified"]})
    assert again.status == 304


@pytest.mark.parametrize("path", [".hidden", "sub/inner.js", "..%2Foutside.js", "%2E%2E/outside.js", "missing.js"])
async def test_nothing_but_the_directorys_own_visible_files_is_served(
    client: TestClient[web.Request, web.Application], path: str
):
    resp = await client.get(f"/static/{path}")
    assert resp.status == 404
