"""Calls as the **bot** (read, save, poll, ask about a named user): mwclient, logged in with a bot password.

mwclient is synchronous: every call runs in a small pool of worker threads. Retry counts are small and
timeouts explicit (mwclient's defaults retry 25 times for hours).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from urllib.parse import urlsplit

import mwclient
import mwclient.errors
import requests

from ..errors import InvalidTitle, LoginFailed, SaveRefused, WikiError, WikiUnavailable
from ..wiki import Access, LogEntry, Revision, SiteInfo
from .access import named_access
from .errors import bad_answer, login_reason, no_answer, query_error, save_error

log = logging.getLogger(__name__)

T = TypeVar("T")


class Bot:
    """The bot's mwclient session. Every public method is a coroutine that runs the call in a worker thread
    and raises only :class:`collab.errors.WikiError` subclasses."""

    def __init__(
        self, api_url: str, user: str, password: str, *, timeout_s: float, user_agent: str, bot_flag: bool = False
    ) -> None:
        self._api_url = api_url
        # Off by default: Recent changes and watchlists hide bot edits, and patrollers must see what was written.
        self._bot_flag = bot_flag
        self._parts = urlsplit(api_url)
        self._user = user
        self._password = password
        self._timeout_s = timeout_s
        self._user_agent = user_agent
        self._site: Any = None
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="wiki")

    async def start(self) -> SiteInfo:
        """Log in and read the site's limits.

        Raises:
            WikiUnavailable: the wiki does not answer.
            LoginFailed: wrong bot credentials.
        """
        await self._run(self._login)
        return await self._run(self._read_site_info)

    def close(self) -> None:
        """Drop the calls not started yet; the running ones finish in their threads."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def read(self, title: str, revid: int | None) -> Revision | None:
        """Revision ``revid`` of ``title`` (the latest for None), or None when it does not exist.

        Raises:
            WikiUnavailable, InvalidTitle
        """
        return await self._run(self._read, title, revid)

    async def last_revids(self, titles: list[str]) -> dict[str, int | None]:
        """``lastrevid`` of each page (None when missing), 50 titles a request."""
        return await self._run(self._last_revids, titles)

    async def revision_title(self, revid: int) -> str | None:
        """The title of the page revision ``revid`` belongs to now, or None (missing or deleted).

        Raises:
            WikiUnavailable
        """
        return await self._run(self._revision_title, revid)

    async def last_log(self, title: str, kind: str) -> LogEntry | None:
        """The newest log entry of ``kind`` about ``title``, or None.

        Raises:
            WikiUnavailable, WikiError
        """
        return await self._run(self._last_log, title, kind)

    async def revisions_after(self, title: str, revid: int | None, limit: int) -> list[Revision]:
        """The first ``limit`` revisions of ``title`` newer than ``revid`` (from the first for None), oldest
        first; empty for a missing page.

        Raises:
            WikiUnavailable, InvalidTitle, WikiError
        """
        return await self._run(self._revisions_after, title, revid, limit)

    async def tags(self) -> frozenset[str]:
        """The change tags the wiki defines (Special:Tags).

        Raises:
            WikiUnavailable, WikiError
        """
        return await self._run(self._tags)

    async def save(
        self, title: str, text: str, baserevid: int | None, summary: str, tag: str | None, *, minor: bool = False
    ) -> int | None:
        """Save ``text`` on top of ``baserevid`` (None: create only) with change tag ``tag`` (None: no tag),
        marked minor or not, flagged as a bot edit only with ``bot_flag``. Returns the new revid, None for no
        change.

        Raises:
            EditConflict, SaveRefused, WikiUnavailable
        """
        return await self._run(self._save, title, text, baserevid, summary, tag, minor)

    async def access_of(self, title: str, user: str) -> Access:
        """What the named ``user`` may do with ``title`` (see :func:`.access.named_access`).

        Raises:
            InvalidTitle, WikiUnavailable, WikiError
        """
        return await self._run(self._access_of, title, user)

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn`` in a worker thread. The one choke point of the bot's calls: an answer that is not what
        the API answers (missing fields, wrong types) becomes :class:`WikiUnavailable` here, so every caller
        meets a domain error it knows how to retry, never a stray exception that skips its bookkeeping."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, _total, fn, *args)

    # ---- in a worker thread ----------------------------------------------------------------------
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
                clients_useragent=self._user_agent,
            )
            site.login(self._user, self._password)
        except mwclient.errors.LoginError as exc:
            raise LoginFailed(f"the wiki refused the bot login for {self._user!r}: {login_reason(exc)}") from None
        except (requests.RequestException, mwclient.errors.MaximumRetriesExceeded, ValueError) as exc:
            raise WikiUnavailable(f"cannot reach the wiki at {self._api_url}: {exc}") from None
        self._site = site

    def _read_site_info(self) -> SiteInfo:
        data = self._query(meta="siteinfo", siprop="general", list="tags", tglimit="max", tgprop="defined|active")
        general = data["query"]["general"]
        tags = frozenset(t["name"] for t in data["query"].get("tags", []) if t.get("defined"))
        return SiteInfo(
            server=str(general.get("server", "")),
            max_article_bytes=int(general.get("maxarticlesize", 2048 * 1024)),
            max_summary_chars=500,
            tags=tags,
        )

    def _call(self, action: str, method: str = "POST", **params: Any) -> dict[str, Any]:
        """One API call; re-logs in once when the session was lost."""
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
                raise no_answer(exc) from None
            except mwclient.errors.InvalidResponse as exc:  # not JSON: a proxy's error page, a PHP fatal error
                raise bad_answer(exc) from None
        raise AssertionError("unreachable")

    def _query(self, **params: Any) -> dict[str, Any]:
        """A ``query`` (GET) whose API errors become domain errors (:func:`.errors.query_error`)."""
        try:
            return self._call("query", "GET", **params)
        except mwclient.errors.APIError as exc:
            raise query_error(str(exc.code), str(exc.info)) from None

    def _tags(self) -> frozenset[str]:
        data = self._query(list="tags", tglimit="max", tgprop="defined")
        return frozenset(t["name"] for t in data["query"].get("tags", []) if t.get("defined"))

    def _revisions_after(self, title: str, revid: int | None, limit: int) -> list[Revision]:
        params: dict[str, Any] = {
            "prop": "revisions",
            "titles": title,
            "rvprop": "ids|timestamp|user|comment|content",
            "rvslots": "main",
            "rvdir": "newer",
            "rvlimit": limit + 1,  # rvstartid is inclusive
        }
        if revid is not None:
            params["rvstartid"] = revid
        data = self._query(**params)
        pages = data["query"].get("pages", [])
        if not pages or pages[0].get("missing"):
            return []
        if pages[0].get("invalid"):
            raise InvalidTitle(pages[0].get("invalidreason", f"invalid title {title!r}"))
        revisions = [_revision(rev) for rev in pages[0].get("revisions", [])]
        return [r for r in revisions if revid is None or r.revid > revid][:limit]

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
        data = self._query(**params)
        pages = data["query"].get("pages", [])
        if not pages:
            return None
        page = pages[0]
        if page.get("invalid"):
            raise InvalidTitle(page.get("invalidreason", f"invalid title {title!r}"))
        if page.get("missing") or not page.get("revisions"):
            return None
        return _revision(page["revisions"][0])

    def _last_revids(self, titles: list[str]) -> dict[str, int | None]:
        out: dict[str, int | None] = {}
        for i in range(0, len(titles), 50):
            data = self._query(prop="info", titles="|".join(titles[i : i + 50]))
            for page in data["query"].get("pages", []):
                out[page["title"]] = None if page.get("missing") else int(page.get("lastrevid", 0)) or None
        return out

    def _revision_title(self, revid: int) -> str | None:
        try:
            data = self._call("query", "GET", prop="info", revids=revid)
        except mwclient.errors.APIError as exc:
            raise query_error(str(exc.code), str(exc.info)) from None
        pages = data["query"].get("pages", [])
        if data["query"].get("badrevids") or not pages or pages[0].get("missing"):
            return None
        return str(pages[0]["title"])

    def _last_log(self, title: str, kind: str) -> LogEntry | None:
        props = "type|title|user|timestamp|comment|details"
        try:
            data = self._call("query", "GET", list="logevents", letype=kind, letitle=title, lelimit=1, leprop=props)
        except mwclient.errors.APIError as exc:
            raise query_error(str(exc.code), str(exc.info)) from None
        events = data["query"].get("logevents", [])
        if not events:
            return None
        event = events[0]
        params = event.get("params", {})
        return LogEntry(
            kind=str(event.get("type", kind)),
            action=str(event.get("action", "")),
            title=str(event.get("title", title)),
            user=str(event.get("user", "")),
            timestamp=str(event.get("timestamp", "")),
            comment=str(event.get("comment", "")),
            target=str(params["target_title"]) if "target_title" in params else None,
        )

    def _save(
        self, title: str, text: str, baserevid: int | None, summary: str, tag: str | None, minor: bool
    ) -> int | None:
        params: dict[str, Any] = {"title": title, "text": text, "summary": summary}
        # "notminor" too: the bot account's "mark all edits minor by default" preference must not decide.
        params["minor" if minor else "notminor"] = 1
        if self._bot_flag:
            params["bot"] = 1
        if baserevid is None:
            params["createonly"] = 1
        else:
            params["baserevid"] = baserevid
            params["nocreate"] = 1
        if tag:
            params["tags"] = tag
        try:
            params["token"] = self._site.get_token("csrf")
            data = self._call("edit", "POST", **params)
        except mwclient.errors.APIError as exc:
            raise save_error(exc) from None
        except (requests.RequestException, mwclient.errors.MaximumRetriesExceeded) as exc:
            raise no_answer(exc) from None
        edit = data.get("edit", {})
        if edit.get("result") != "Success":
            raise SaveRefused(f"the wiki did not save: {edit}", code=str(edit.get("code", "saveerror")))
        if edit.get("nochange"):
            return None
        return int(edit["newrevid"])

    def _access_of(self, title: str, user: str) -> Access:
        params = {"list": "users", "ususers": user, "usprop": "blockinfo|groups|rights"}
        # siteinfo's namespaces carry $wgNamespaceProtection; prop=info the page's namespace and content model.
        params.update(meta="siteinfo", siprop="namespaces")
        data = self._query(prop="info", inprop="protection", titles=title, **params)
        return named_access(data.get("query", {}), title)


def _revision(rev: dict[str, Any]) -> Revision:
    """A revision of a ``prop=revisions`` answer (``rvslots=main``, formatversion 2)."""
    return Revision(
        revid=int(rev["revid"]),
        text=rev["slots"]["main"].get("content", ""),
        timestamp=rev["timestamp"],
        user=rev.get("user", ""),
        comment=rev.get("comment", ""),
    )


def _total(fn: Callable[..., T], *args: Any) -> T:
    """Run ``fn`` so that it returns or raises a :class:`collab.errors.WikiError`, whatever the wiki answered.

    Each call maps the errors it expects; this catches the rest: an answer that is not JSON (mwclient's
    ``InvalidResponse``: a WAF's HTML page, an empty body), an HTTP error (``requests.HTTPError`` for a 403 or
    429), an API error no call expected, or a shape the API never sends (a missing key).
    """
    try:
        return fn(*args)
    except WikiError:
        raise
    except mwclient.errors.APIError as exc:
        raise query_error(str(exc.code), str(exc.info)) from None
    except (requests.RequestException, mwclient.errors.MaximumRetriesExceeded) as exc:
        raise no_answer(exc) from None
    except mwclient.errors.InvalidResponse:
        raise bad_answer("not JSON") from None
    except (mwclient.errors.MwClientError, KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
        # (an answer of an unexpected shape; logged with its traceback in case it is our bug, not the wiki's)
        log.warning("unexpected answer from the wiki in %s", getattr(fn, "__name__", fn), exc_info=True)
        raise bad_answer(type(exc).__name__) from None
