"""Calls as the **editor** (who am I, may I edit this page, expand my signature): aiohttp with the editor's
own Cookie header forwarded, so the wiki itself decides with that user's rights and blocks.

Redirects are never followed: a redirect would carry the editor's cookie (and the client's address) to
wherever the answer points; it is a mapped error instead (``--wiki-api`` must be the final URL)."""

from __future__ import annotations

from typing import Any

import aiohttp

from ..errors import WikiUnavailable
from ..wiki import Access, User
from .access import is_anonymous, session_access
from .errors import no_answer, query_error


class Editor:
    """GET requests to ``api.php`` in the session of whoever's cookie is given. ``open()`` (inside the
    event loop), use, ``await close()``."""

    def __init__(self, api_url: str, *, timeout_s: float, user_agent: str) -> None:
        self._api_url = api_url
        self._timeout_s = timeout_s
        self._user_agent = user_agent
        self._http: aiohttp.ClientSession | None = None

    def open(self) -> None:
        """Create the HTTP client session (one for all editors: the cookie goes with each request)."""
        self._http = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self._timeout_s), headers={"User-Agent": self._user_agent}
        )

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()

    async def access(self, title: str, cookie: str | None, *, forwarded_for: str | None = None) -> Access:
        """Who the cookie's session is and whether they may read and edit ``title`` (the wiki decides).

        Raises InvalidTitle or WikiUnavailable.
        """
        data = await self._get(
            cookie,
            forwarded_for=forwarded_for,
            action="query",
            meta="userinfo",
            uiprop="groups|blockinfo",
            prop="info",
            titles=title,
            intestactions="edit|create|read",
            intestactionsdetail="full",
        )
        return session_access(data, title)

    async def signatures(self, title: str, cookie: str | None) -> dict[str, str] | None:
        """What ``~~~``, ``~~~~`` and ``~~~~~`` expand to for the cookie's user, now (the wiki's PST)."""
        data = await self._get(
            cookie,
            action="parse",
            title=title,
            text="~~~\n\n~~~~\n\n~~~~~",
            onlypst=1,
            contentmodel="wikitext",
        )
        expanded = str(data.get("parse", {}).get("text", "")).split("\n\n")
        if len(expanded) != 3:
            return None
        return {"~~~": expanded[0], "~~~~": expanded[1], "~~~~~": expanded[2]}

    async def whoami(self, cookie: str | None) -> User:
        """The cookie's user and groups (``meta=userinfo``); anonymous for a bad session. Raises WikiError."""
        data = await self._get(cookie, action="query", meta="userinfo", uiprop="groups")
        user = data["query"]["userinfo"]
        return User(
            name=str(user.get("name", "")),
            anonymous=is_anonymous(user),
            groups=tuple(user.get("groups", ())),
        )

    async def _get(self, cookie: str | None, *, forwarded_for: str | None = None, **params: Any) -> dict[str, Any]:
        """One GET with the editor's cookie (and the client's address as ``X-Forwarded-For``)."""
        assert self._http is not None, "start() first"
        params.update(format="json", formatversion=2)
        headers = {"Cookie": cookie} if cookie else {}
        if forwarded_for:
            headers["X-Forwarded-For"] = forwarded_for
        try:
            async with self._http.get(self._api_url, params=params, headers=headers, allow_redirects=False) as resp:
                if resp.status >= 500:
                    raise WikiUnavailable(f"the wiki answered HTTP {resp.status}")
                if 300 <= resp.status < 400:
                    where = resp.headers.get("Location", "?")[:200]
                    raise WikiUnavailable(
                        f"the wiki answered HTTP {resp.status} (a redirect to {where}), which is never followed "
                        "with an editor's cookie: set --wiki-api to the wiki's final api.php URL"
                    )
                data: dict[str, Any] = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise no_answer(exc) from None
        if "error" in data:
            err = data["error"]
            raise query_error(err.get("code", "wikierror"), err.get("info"))
        return data
