"""The MediaWiki adapter: the one package that talks to the wiki's Action API (mwclient, requests, aiohttp).

Two kinds of calls, two clients:

* as the **bot** (read, save, poll): mwclient, logged in with a bot password, run in worker threads,
  with small retry counts and explicit timeouts (``bot.py``);
* as the **editor** (who am I, may I edit this page, expand my signature): aiohttp with the editor's
  own Cookie header forwarded, so the wiki itself decides with that user's rights and blocks (``editor.py``).

API error codes become the domain exceptions of ``collab/errors.py`` in ``errors.py`` and nowhere else;
``access.py`` reads what a user may do from the API's answers.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from urllib.parse import urlsplit

from ..errors import SaveRefused, WikiError
from ..wiki import Access, LogEntry, Revision, SiteInfo, User
from .access import named_access
from .bot import Bot
from .editor import Editor

__all__ = ["USER_AGENT", "MediaWiki", "named_access"]

log = logging.getLogger(__name__)

USER_AGENT = "MediaWikiCollab/0.1 (collaborative editing service)"


class MediaWiki:
    """The wiki port (:class:`collab.wiki.Wiki`) over the Action API.

    Create, ``await start()``, use, ``await close()``.
    """

    def __init__(
        self,
        api_url: str,
        bot_user: str,
        bot_password: str,
        *,
        timeout_s: float = 60.0,
        tag_check_s: float = 60.0,
        identity_cache_s: float = 0.0,
        bot_flag: bool = False,
    ) -> None:
        parts = urlsplit(api_url)
        if parts.scheme not in ("http", "https") or not parts.netloc or not parts.path.endswith("api.php"):
            raise WikiError(f"--wiki-api must be the URL of api.php, got {api_url!r}", code="config")
        self.api_url = api_url
        self.site_info = SiteInfo("", 2048 * 1024, 500, frozenset())
        # A bot password's user name is ``Name@AppId``; revisions carry ``Name`` as MediaWiki spells user names.
        name = bot_user.split("@", 1)[0].replace("_", " ").strip()
        self._bot_name = name[:1].upper() + name[1:]
        self.tag_check_s = tag_check_s  # how often a change tag the wiki lacks is looked for again
        self._tags_read_at = 0.0
        self._bot = Bot(api_url, bot_user, bot_password, timeout_s=timeout_s, user_agent=USER_AGENT, bot_flag=bot_flag)
        self._editor = Editor(api_url, timeout_s=timeout_s, user_agent=USER_AGENT, identity_cache_s=identity_cache_s)

    # ---- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> None:
        """Log the bot in and read the site's limits.

        Raises:
            WikiUnavailable: the wiki does not answer.
            LoginFailed: wrong bot credentials.
        """
        self._editor.open()
        self.site_info = await self._bot.start()
        self._tags_read_at = time.monotonic()

    async def close(self) -> None:
        await self._editor.close()
        self._bot.close()

    @property
    def bot_name(self) -> str:
        """The user name on the bot's revisions (the bot password's ``Name`` of ``Name@AppId``)."""
        return self._bot_name

    # ---- as the bot ----------------------------------------------------------------------------
    async def read(self, title: str) -> Revision | None:
        """The latest revision of ``title`` as the bot sees it, or None when the page does not exist.

        Raises:
            WikiUnavailable, InvalidTitle
        """
        return await self._bot.read(title, None)

    async def read_revision(self, title: str, revid: int) -> Revision | None:
        return await self._bot.read(title, revid)

    async def revisions_after(self, title: str, revid: int | None, *, limit: int) -> list[Revision]:
        """The first ``limit`` revisions newer than ``revid``, oldest first (text included).

        Raises:
            WikiUnavailable, InvalidTitle, WikiError
        """
        return await self._bot.revisions_after(title, revid, limit)

    async def last_revids(self, titles: list[str]) -> dict[str, int | None]:
        """``lastrevid`` of each page (None when missing), 50 titles a request."""
        return await self._bot.last_revids(titles)

    async def revision_title(self, revid: int) -> str | None:
        """The title revision ``revid`` belongs to now (None: no such visible revision). Raises WikiUnavailable."""
        return await self._bot.revision_title(revid)

    async def last_log(self, title: str, kind: str) -> LogEntry | None:
        """The newest ``kind`` (``move``/``delete``) log entry about ``title`` (``list=logevents``), as the bot.
        Raises WikiUnavailable."""
        return await self._bot.last_log(title, kind)

    async def save(
        self, title: str, text: str, *, baserevid: int | None, summary: str, tag: str | None, minor: bool = False
    ) -> int | None:
        """Save ``text`` as the bot on top of ``baserevid``, marked ``minor`` or not. Returns the new revid, None
        for no change.
        ``tag`` goes with the edit only if the wiki defines it.

        Raises:
            EditConflict: the wiki could not merge a concurrent edit.
            SaveRefused: protection, size, filters, rate limits, deleted page, blocked bot...
            WikiUnavailable: no answer or a server error; retry later.
        """
        defined = await self._defined(tag)
        try:
            return await self._bot.save(title, text, baserevid, summary, defined, minor=minor)
        except SaveRefused as exc:
            if defined is None or not (exc.code.startswith("tags-") or exc.code == "badtags"):
                raise
            # The tag went away (deleted, deactivated) since it was read: read the tags again, save without it.
            log.warning("the wiki refused the change tag %r (%s); reading its tags again", defined, exc.code)
            await self._read_tags()
            return await self._bot.save(title, text, baserevid, summary, await self._defined(tag), minor=minor)

    async def _defined(self, tag: str | None) -> str | None:
        """``tag`` if the wiki defines it. A tag it lacked is looked for again every ``tag_check_s``: admins
        create it on Special:Tags while the server runs, and the next save should carry it."""
        if not tag:
            return None
        if tag not in self.site_info.tags and time.monotonic() - self._tags_read_at >= self.tag_check_s:
            try:
                await self._read_tags()
            except WikiError as exc:  # saving matters more than tagging: save untagged, look again later
                log.warning("cannot read the wiki's change tags: %s", exc.message)
        return tag if tag in self.site_info.tags else None

    async def _read_tags(self) -> None:
        self._tags_read_at = time.monotonic()
        tags = await self._bot.tags()
        if tags != self.site_info.tags:
            log.info("the wiki's change tags are now: %s", ", ".join(sorted(tags)) or "-")
        self.site_info = dataclasses.replace(self.site_info, tags=tags)

    async def access_of(self, title: str, user: str) -> Access:
        """What the wiki lets a *named* user do with ``title`` (a signed token's ``sub``), asked as the bot.

        The API tests actions only for the session's own user, so this combines the user's rights and
        block (``list=users``) with the page's protection (``inprop=protection``) the way MediaWiki's
        permission checks do: ``edit`` (``createpage``/``createtalk`` for a missing page), no block
        (a partial block counts as a block: its page list is not shown here), and the right each
        protection level requires. Raises InvalidTitle or WikiUnavailable.
        """
        return await self._bot.access_of(title, user)

    # ---- as the editor ---------------------------------------------------------------------------
    async def access(self, title: str, cookie: str | None, *, forwarded_for: str | None = None) -> Access:
        """Who the cookie's session is and whether they may read and edit ``title`` (the wiki decides).

        An invalid or expired session is not an error to the wiki: it answers as the anonymous IP user,
        and so do we. ``forwarded_for`` (the client's address) goes out as ``X-Forwarded-For``: a wiki that
        lists this server in ``$wgCdnServersNoPurge`` then applies its IP blocks to anonymous editors.
        Raises InvalidTitle or WikiUnavailable.
        """
        return await self._editor.access(title, cookie, forwarded_for=forwarded_for)

    async def signatures(self, title: str, cookie: str | None) -> dict[str, str] | None:
        """What ``~~~``, ``~~~~`` and ``~~~~~`` expand to for the cookie's user, now (the wiki's PST)."""
        return await self._editor.signatures(title, cookie)

    async def whoami(self, cookie: str | None) -> User:
        """The cookie's user and groups (``meta=userinfo``); anonymous for a bad session. Raises WikiError.
        Remembered per cookie for ``identity_cache_s`` seconds."""
        return await self._editor.whoami(cookie)
