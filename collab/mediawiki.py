"""The MediaWiki adapter: the one module that talks to the wiki's Action API (mwclient, requests, aiohttp).

Two kinds of calls, two clients:

* as the **bot** (read, save, poll): mwclient, logged in with a bot password, run in worker threads,
  with small retry counts and explicit timeouts (mwclient's defaults retry 25 times for hours);
* as the **editor** (who am I, may I edit this page, expand my signature): aiohttp with the editor's
  own Cookie header forwarded, so the wiki itself decides with that user's rights and blocks.

API error codes become the domain exceptions of ``errors.py`` here and nowhere else.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import mwclient
import mwclient.errors
import requests

from .errors import (
    EditConflict,
    InvalidTitle,
    LoginFailed,
    SaveRefused,
    WikiError,
    WikiUnavailable,
)
from .wiki import Access, Revision, SiteInfo, User

log = logging.getLogger(__name__)

USER_AGENT = "MediaWikiCollab/0.1 (collaborative editing service)"


class MediaWiki:
    """The wiki port (:class:`collab.wiki.Wiki`) over the Action API.

    Create, ``await start()``, use, ``await close()``.
    """

    def __init__(self, api_url: str, bot_user: str, bot_password: str, *, timeout_s: float = 60.0) -> None:
        parts = urlsplit(api_url)
        if parts.scheme not in ("http", "https") or not parts.netloc or not parts.path.endswith("api.php"):
            raise WikiError(f"--wiki-api must be the URL of api.php, got {api_url!r}", code="config")
        self.api_url = api_url
        self._parts = parts
        self._bot_user = bot_user
        self._bot_password = bot_password
        self._timeout_s = timeout_s
        self._site: Any = None
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="wiki")
        self._http: aiohttp.ClientSession | None = None
        self.site_info = SiteInfo("", 2048 * 1024, 500, frozenset())

    # ---- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> None:
        """Log the bot in and read the site's limits.

        Raises:
            WikiUnavailable: the wiki does not answer.
            LoginFailed: wrong bot credentials.
        """
        self._http = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self._timeout_s), headers={"User-Agent": USER_AGENT}
        )
        await self._bot(self._login)
        self.site_info = await self._bot(self._read_site_info)

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _login(self) -> None:
        path = self._parts.path[: -len("api.php")]
        try:
            site = mwclient.Site(
                self._parts.netloc,
                path=path,
                scheme=self._parts.scheme,
                max_retries=2,
                retry_timeout=1,
                connection_options={"timeout": self._timeout_s},
                clients_useragent=USER_AGENT,
            )
            site.login(self._bot_user, self._bot_password)
        except mwclient.errors.LoginError as exc:
            raise LoginFailed(f"the wiki refused the bot login for {self._bot_user!r}: {_login_reason(exc)}") from None
        except (requests.RequestException, mwclient.errors.MaximumRetriesExceeded, ValueError) as exc:
            raise WikiUnavailable(f"cannot reach the wiki at {self.api_url}: {exc}") from None
        self._site = site

    def _read_site_info(self) -> SiteInfo:
        data = self._call(
            "query", "GET", meta="siteinfo", siprop="general", list="tags", tglimit="max", tgprop="defined|active"
        )
        general = data["query"]["general"]
        tags = frozenset(t["name"] for t in data["query"].get("tags", []) if t.get("defined"))
        return SiteInfo(
            server=str(general.get("server", "")),
            max_article_bytes=int(general.get("maxarticlesize", 2048 * 1024)),
            max_summary_chars=500,
            tags=tags,
        )

    # ---- bot calls -----------------------------------------------------------------------------
    async def _bot(self, fn: Any, *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, fn, *args)

    def _call(self, action: str, method: str = "POST", **params: Any) -> dict[str, Any]:
        """One API call as the bot; re-logs in once when the session was lost."""
        for attempt in (1, 2):
            try:
                result: dict[str, Any] = self._site.api(action, method, formatversion=2, **params)
                return result
            except mwclient.errors.APIError as exc:
                if exc.code in ("assertbotfailed", "assertuserfailed", "badtoken") and attempt == 1:
                    log.warning("bot session lost (%s); logging in again", exc.code)
                    self._login()
                    if "token" in params:
                        params["token"] = self._site.get_token("csrf", force=True)
                    continue
                raise
            except (requests.RequestException, mwclient.errors.MaximumRetriesExceeded) as exc:
                raise WikiUnavailable(f"the wiki did not answer: {type(exc).__name__}") from None
        raise AssertionError("unreachable")

    async def read(self, title: str) -> Revision | None:
        """The latest revision of ``title`` as the bot sees it, or None when the page does not exist.

        Raises:
            WikiUnavailable, InvalidTitle
        """
        return await self._bot(self._read, title, None)  # type: ignore[no-any-return]

    async def read_revision(self, title: str, revid: int) -> Revision | None:
        return await self._bot(self._read, title, revid)  # type: ignore[no-any-return]

    def _read(self, title: str, revid: int | None) -> Revision | None:
        params: dict[str, Any] = {
            "prop": "revisions",
            "rvprop": "ids|timestamp|user|comment|content",
            "rvslots": "main",
        }
        if revid is None:
            params["titles"] = title
        else:
            params["revids"] = revid
        data = self._call("query", "GET", **params)
        pages = data["query"].get("pages", [])
        if not pages:
            return None
        page = pages[0]
        if page.get("invalid"):
            raise InvalidTitle(page.get("invalidreason", f"invalid title {title!r}"))
        if page.get("missing") or not page.get("revisions"):
            return None
        rev = page["revisions"][0]
        return Revision(
            revid=int(rev["revid"]),
            text=rev["slots"]["main"].get("content", ""),
            timestamp=rev["timestamp"],
            user=rev.get("user", ""),
            comment=rev.get("comment", ""),
        )

    async def last_revids(self, titles: list[str]) -> dict[str, int | None]:
        """``lastrevid`` of each page (None when missing), 50 titles a request."""
        return await self._bot(self._last_revids, titles)  # type: ignore[no-any-return]

    def _last_revids(self, titles: list[str]) -> dict[str, int | None]:
        out: dict[str, int | None] = {}
        for i in range(0, len(titles), 50):
            data = self._call("query", "GET", prop="info", titles="|".join(titles[i : i + 50]))
            for page in data["query"].get("pages", []):
                out[page["title"]] = None if page.get("missing") else int(page.get("lastrevid", 0)) or None
        return out

    async def save(self, title: str, text: str, *, baserevid: int | None, summary: str, tag: str | None) -> int | None:
        """Save ``text`` as the bot on top of ``baserevid``. Returns the new revid, None for no change.

        Raises:
            EditConflict: the wiki could not merge a concurrent edit.
            SaveRefused: protection, size, filters, rate limits, deleted page, blocked bot...
            WikiUnavailable: no answer or a server error; retry later.
        """
        return await self._bot(self._save, title, text, baserevid, summary, tag)  # type: ignore[no-any-return]

    def _save(self, title: str, text: str, baserevid: int | None, summary: str, tag: str | None) -> int | None:
        params: dict[str, Any] = {"title": title, "text": text, "summary": summary, "bot": 1}
        if baserevid is None:
            params["createonly"] = 1
        else:
            params["baserevid"] = baserevid
            params["nocreate"] = 1
        if tag and tag in self.site_info.tags:
            params["tags"] = tag
        try:
            params["token"] = self._site.get_token("csrf")
            data = self._call("edit", "POST", **params)
        except mwclient.errors.APIError as exc:
            raise _save_error(exc) from None
        except (requests.RequestException, mwclient.errors.MaximumRetriesExceeded) as exc:
            raise WikiUnavailable(f"the wiki did not answer: {type(exc).__name__}") from None
        edit = data.get("edit", {})
        if edit.get("result") != "Success":
            raise SaveRefused(f"the wiki did not save: {edit}", code=str(edit.get("code", "saveerror")))
        if edit.get("nochange"):
            return None
        return int(edit["newrevid"])

    # ---- calls as the editor ---------------------------------------------------------------------
    async def access(self, title: str, cookie: str | None, *, forwarded_for: str | None = None) -> Access:
        """Who the cookie's session is and whether they may read and edit ``title`` (the wiki decides).

        An invalid or expired session is not an error to the wiki: it answers as the anonymous IP user,
        and so do we. ``forwarded_for`` (the client's address) goes out as ``X-Forwarded-For``: a wiki that
        lists this server in ``$wgCdnServersNoPurge`` then applies its IP blocks to anonymous editors.
        Raises InvalidTitle or WikiUnavailable.
        """
        data = await self._user_get(
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
        user = data["query"]["userinfo"]
        pages = data["query"].get("pages") or [{}]
        page = pages[0]
        if page.get("invalid") or not page.get("title"):
            raise InvalidTitle(page.get("invalidreason") or f"{title!r} is not a valid page title")
        exists = not page.get("missing")
        action = "edit" if exists else "create"
        actions = page.get("actions", {})
        problems = actions.get(action, [])
        if not isinstance(problems, list):  # intestactionsdetail=boolean shape
            problems = [] if problems else [{"text": f"you may not {action} this page"}]
        if action == "create" and not problems:
            problems = actions.get("edit", []) or []
        reason = "; ".join(_plain(p.get("text") or p.get("code", "")) for p in problems) or None
        unreadable = actions.get("read", [])
        if not isinstance(unreadable, list):
            unreadable = [] if unreadable else [{"text": "you may not read this page"}]
        return Access(
            title=page["title"],
            exists=exists,
            lastrevid=int(page["lastrevid"]) if exists and page.get("lastrevid") else None,
            user=str(user.get("name", "")),
            anonymous=bool(user.get("anon", False)) or int(user.get("id", 0)) == 0,
            groups=tuple(user.get("groups", ())),
            can_edit=not problems,
            reason=reason,
            can_read=not unreadable,
            read_reason="; ".join(_plain(p.get("text") or p.get("code", "")) for p in unreadable) or None,
        )

    async def access_of(self, title: str, user: str) -> Access:
        """What the wiki lets a *named* user do with ``title`` (a signed token's ``sub``), asked as the bot.

        The API tests actions only for the session's own user, so this combines the user's rights and
        block (``list=users``) with the page's protection (``inprop=protection``) the way MediaWiki's
        permission checks do: ``edit`` (``createpage``/``createtalk`` for a missing page), no block
        (a partial block counts as a block: its page list is not shown here), and the right each
        protection level requires. Raises InvalidTitle or WikiUnavailable.
        """
        return await self._bot(self._access_of, title, user)  # type: ignore[no-any-return]

    def _access_of(self, title: str, user: str) -> Access:
        params = {"list": "users", "ususers": user, "usprop": "blockinfo|groups|rights"}
        try:
            data = self._call("query", "GET", prop="info", inprop="protection", titles=title, **params)
        except mwclient.errors.APIError as exc:
            if exc.code in ("invalidtitle", "invalidtitle-unknown"):
                raise InvalidTitle(str(exc.info)) from None
            raise WikiError(str(exc.info), code=str(exc.code)) from None
        return named_access(data.get("query", {}), title)

    async def signatures(self, title: str, cookie: str | None) -> dict[str, str] | None:
        """What ``~~~``, ``~~~~`` and ``~~~~~`` expand to for the cookie's user, now (the wiki's PST)."""
        data = await self._user_get(
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
        data = await self._user_get(cookie, action="query", meta="userinfo", uiprop="groups")
        user = data["query"]["userinfo"]
        return User(
            name=str(user.get("name", "")),
            anonymous=bool(user.get("anon", False)) or int(user.get("id", 0)) == 0,
            groups=tuple(user.get("groups", ())),
        )

    async def _user_get(self, cookie: str | None, *, forwarded_for: str | None = None, **params: Any) -> dict[str, Any]:
        assert self._http is not None, "start() first"
        params.update(format="json", formatversion=2)
        headers = {"Cookie": cookie} if cookie else {}
        if forwarded_for:
            headers["X-Forwarded-For"] = forwarded_for
        try:
            async with self._http.get(self.api_url, params=params, headers=headers) as resp:
                if resp.status >= 500:
                    raise WikiUnavailable(f"the wiki answered HTTP {resp.status}")
                data: dict[str, Any] = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise WikiUnavailable(f"the wiki did not answer: {type(exc).__name__}") from None
        if "error" in data:
            err = data["error"]
            if err.get("code") in ("invalidtitle", "invalidtitle-unknown"):
                raise InvalidTitle(err.get("info", "invalid title"))
            raise WikiError(err.get("info", "wiki error"), code=err.get("code", "wikierror"))
        return data


_REFUSALS = {
    "protectedpage": "the page is protected",
    "cascadeprotected": "the page is protected by a cascading protection",
    "contenttoobig": "the text is larger than the wiki allows",
    "missingtitle": "the page has been deleted",
    "pagedeleted": "the page has been deleted",
    "articleexists": "the page was created meanwhile",
    "ratelimited": "the wiki's rate limit was hit",
    "blocked": "the bot account is blocked",
    "autoblocked": "the bot account is blocked",
    "readonly": "the wiki is in read-only mode",
    "spamblacklist": "the spam blacklist refused a link",
}


def _save_error(exc: Any) -> WikiError:
    code = str(exc.code)
    info = str(exc.info)
    if code == "editconflict":
        return EditConflict(info)
    if code.startswith(("abusefilter", "spam", "titleblacklist")) or code in _REFUSALS:
        what = _REFUSALS.get(code, "a wiki filter refused the save")
        return SaveRefused(f"{what}: {info}", code=code)
    if code in ("internal_api_error_DBQueryError", "maxlag") or code.startswith("internal_api_error"):
        return WikiUnavailable(f"the wiki had an internal error: {info}", code="wikiunavailable")
    return SaveRefused(info, code=code)


def _login_reason(exc: Any) -> str:
    args: tuple[Any, ...] = tuple(getattr(exc, "args", ()))
    info = args[1] if len(args) >= 2 else None
    if isinstance(info, dict):
        return str(info.get("reason") or info.get("result") or info)
    return str(exc)


def _plain(text: str) -> str:
    """Strip the wiki's HTML from a permission-error message."""
    import re

    return re.sub(r"<[^>]+>", "", text).strip()


# The right each protection level requires (MediaWiki maps the two historical level names).
_LEVEL_RIGHTS = {"sysop": "editprotected", "autoconfirmed": "editsemiprotected"}


def named_access(query: dict[str, Any], title: str) -> Access:
    """An :class:`Access` from ``list=users`` (rights, block) and ``prop=info&inprop=protection`` data."""
    page = (query.get("pages") or [{}])[0]
    if page.get("invalid") or not page.get("title"):
        raise InvalidTitle(page.get("invalidreason") or f"{title!r} is not a valid page title")
    entry = (query.get("users") or [{}])[0]
    exists = not page.get("missing")
    known = bool(entry.get("userid")) and not entry.get("missing") and not entry.get("invalid")
    rights = set(entry.get("rights", ())) if known else set()
    problems: list[str] = []
    if not known:
        problems.append(f"there is no user {entry.get('name') or '?'} on the wiki")
    elif entry.get("blockid"):
        by = entry.get("blockedby") or "an administrator"
        why = _plain(str(entry.get("blockreason") or "")) or "no reason given"
        problems.append(f"you have been blocked from editing by {by}: {why}")
    if known and "edit" not in rights:
        problems.append("you may not edit pages")
    action = "edit" if exists else "create"
    if known and not exists:
        needed = "createtalk" if int(page.get("ns", 0)) % 2 else "createpage"
        if needed not in rights:
            problems.append("you may not create this page")
    for protection in page.get("protection", ()):
        level = str(protection.get("level", ""))
        right = _LEVEL_RIGHTS.get(level, level)
        if protection.get("type") == action and right and right not in rights:
            source = f" (cascading from {protection['source']})" if protection.get("source") else ""
            problems.append(f"the page is protected{source}: only {level} users may {action} it")
    return Access(
        title=str(page["title"]),
        exists=exists,
        lastrevid=int(page["lastrevid"]) if exists and page.get("lastrevid") else None,
        user=str(entry.get("name", "")),
        anonymous=False,
        groups=tuple(entry.get("groups", ())),
        can_edit=not problems,
        reason="; ".join(problems) or None,
        can_read="read" in rights,
        read_reason=None if "read" in rights else (problems[0] if not known else "you may not read pages"),
    )
