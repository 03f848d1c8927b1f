"""Calls as the **editor** (who am I, may I edit this page, expand my signature): aiohttp with the editor's
own Cookie header forwarded, so the wiki itself decides with that user's rights and blocks.

Redirects are never followed: a redirect would carry the editor's cookie (and the client's address) to
wherever the answer points; it is a mapped error instead (``--wiki-api`` must be the final URL).

Every call is total: whatever comes back (the API's JSON, a WAF's HTML 403 or 429, an empty body, a 5xx,
nothing within the timeout, an API error) ends as a value or a :class:`collab.errors.WikiError`.
``whoami`` answers are cached per cookie for a few seconds (:class:`IdentityCache`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, Final

import aiohttp

from ..errors import WikiUnavailable
from ..wiki import Access, User
from .access import is_anonymous, session_access
from .errors import bad_answer, no_answer, query_error

# The largest answer read from the wiki as the editor (the answers asked for are a few KB; a proxy's error
# page or a misbehaving wiki could send anything).
MAX_ANSWER_BYTES: Final = 1024 * 1024
# Cookies whose identity is remembered at once (~200 bytes each): a flood of fresh cookies only evicts.
IDENTITY_CACHE_ENTRIES: Final = 10_000


class IdentityCache:
    """``whoami`` answers by cookie for ``ttl_s`` seconds (0: no cache), at most ``max_entries`` of them,
    and one lookup in flight per cookie (concurrent connects of one browser share it).

    Keys are SHA-256 digests: the cache never holds a session cookie. Failures are not cached.
    """

    def __init__(
        self, ttl_s: float, *, max_entries: int = IDENTITY_CACHE_ENTRIES, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self.clock = clock
        self._answers: OrderedDict[bytes, tuple[float, User]] = OrderedDict()
        self._asking: dict[bytes, asyncio.Future[User]] = {}

    def __len__(self) -> int:
        return len(self._answers)

    async def get(self, cookie: str, ask: Callable[[], Awaitable[User]]) -> User:
        """The cached answer for ``cookie``, else ``await ask()`` (shared with concurrent callers)."""
        if self.ttl_s <= 0:
            return await ask()
        key = hashlib.sha256(cookie.encode()).digest()
        now = self.clock()
        entry = self._answers.get(key)
        if entry is not None:
            if entry[0] > now:
                return entry[1]
            del self._answers[key]
        pending = self._asking.get(key)
        if pending is None:
            pending = asyncio.ensure_future(ask())
            self._asking[key] = pending
            pending.add_done_callback(lambda done: self._settle(key, done))
        # (shielded: one caller going away, a connection closing, must not cancel the others' lookup)
        return await asyncio.shield(pending)

    def _settle(self, key: bytes, done: asyncio.Future[User]) -> None:
        self._asking.pop(key, None)
        if done.cancelled() or done.exception() is not None:
            return
        self._answers[key] = (self.clock() + self.ttl_s, done.result())
        self._answers.move_to_end(key)
        while len(self._answers) > self.max_entries:
            self._answers.popitem(last=False)


class Editor:
    """GET requests to ``api.php`` in the session of whoever's cookie is given. ``open()`` (inside the
    event loop), use, ``await close()``."""

    def __init__(self, api_url: str, *, timeout_s: float, user_agent: str, identity_cache_s: float = 0.0) -> None:
        self._api_url = api_url
        self._timeout_s = timeout_s
        self._user_agent = user_agent
        self._http: aiohttp.ClientSession | None = None
        self.identities = IdentityCache(identity_cache_s)

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

        Raises InvalidTitle or WikiUnavailable (WikiError for an API error).
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
        query = data.get("query")
        if not isinstance(query, dict) or not isinstance(query.get("userinfo"), dict) or not query.get("pages"):
            raise bad_answer("meta=userinfo and prop=info missing")
        try:
            return session_access(data, title)
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
            raise bad_answer(f"meta=userinfo without {exc!r}") from None

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
        parsed = data.get("parse")
        expanded = str(parsed.get("text", "") if isinstance(parsed, dict) else "").split("\n\n")
        if len(expanded) != 3:
            return None
        return {"~~~": expanded[0], "~~~~": expanded[1], "~~~~~": expanded[2]}

    async def whoami(self, cookie: str | None) -> User:
        """The cookie's user and groups (``meta=userinfo``); anonymous for a bad session. Raises WikiError.

        Answers are remembered per cookie for ``identity_cache_s`` (docs/security.md: why that is safe)."""
        if not cookie:
            return await self._whoami(cookie)
        return await self.identities.get(cookie, lambda: self._whoami(cookie))

    async def _whoami(self, cookie: str | None) -> User:
        data = await self._get(cookie, action="query", meta="userinfo", uiprop="groups")
        try:
            user = data["query"]["userinfo"]
            return User(
                name=str(user.get("name", "")),
                anonymous=is_anonymous(user),
                groups=tuple(str(g) for g in user.get("groups", ())),
            )
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
            raise bad_answer(f"meta=userinfo without {exc!r}") from None

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
                if resp.status != 200:  # a proxy's or WAF's refusal (403, 429...): the API answers errors with 200
                    raise bad_answer(f"HTTP {resp.status} {resp.content_type}")
                body = await _read_bounded(resp.content, MAX_ANSWER_BYTES)
        except (aiohttp.ClientError, TimeoutError, asyncio.IncompleteReadError) as exc:
            raise no_answer(exc) from None
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):
            raise bad_answer("not JSON" if body.strip() else "an empty body") from None
        if not isinstance(data, dict):
            raise bad_answer("JSON that is not an object")
        if "error" in data:
            err = data["error"] if isinstance(data["error"], dict) else {}
            code = err.get("code")
            info = err.get("info")
            raise query_error(
                code if isinstance(code, str) and code else "wikierror", info if isinstance(info, str) else None
            )
        return data


async def _read_bounded(stream: aiohttp.StreamReader, limit: int) -> bytes:
    """The whole body, or WikiUnavailable when it is larger than ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in stream.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise bad_answer(f"an answer larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
