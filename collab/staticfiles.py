"""The browser client's files at ``/static/`` (collab/static/, built by client-js/build.mjs).

A content-hashed file (``collab.<16 hex digits>.js``, whose name changes whenever its bytes do) is sent with
``Cache-Control: public, max-age=31536000, immutable``; every other file with ``no-cache`` (revalidated on
each load, answered 304 when unchanged), so that a rebuilt loader names the new bundle at once. aiohttp's
``FileResponse`` sends the ``.br`` or ``.gz`` file built next to it when the browser's ``Accept-Encoding``
allows (brotli first), with ``Content-Encoding`` set.
"""

from __future__ import annotations

import re
from pathlib import Path

from aiohttp import hdrs, web

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
HASHED = re.compile(r"[a-z]+\.[0-9a-f]{16}\.js")


class StaticFiles:
    """Serves the files directly in ``directory`` (no subdirectories, no hidden files)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory.resolve()

    def add_routes(self, app: web.Application, prefix: str = "/static") -> None:
        """Serve ``GET`` (and ``HEAD``) ``<prefix>/<name>``."""
        app.router.add_get(prefix + "/{name}", self.handle)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """The file named in the URL, or 404 when there is none (or the name reaches outside)."""
        name = request.match_info["name"]
        path = self.directory / name
        if name.startswith(".") or path.parent != self.directory or not path.is_file():
            raise web.HTTPNotFound()
        if HASHED.fullmatch(name):
            # Vary also on the uncompressed answer: a shared cache must not give it to a browser that
            # accepts brotli (aiohttp adds Vary only when it sends a compressed file).
            headers = {hdrs.CACHE_CONTROL: IMMUTABLE, hdrs.VARY: hdrs.ACCEPT_ENCODING}
        else:
            headers = {hdrs.CACHE_CONTROL: REVALIDATE}
        return web.FileResponse(path, headers=headers)
