"""Rights re-checks: the wiki is asked again, while people edit, whether each may still use each page.

Blocked, or the page protected, since the join: switched to read-only (status ``readonly``), or removed
(status ``removed``) when read-only access is off, the token expired, or the session ended. Rights given
back: status ``live``. An unreachable wiki changes nothing. One wiki request per distinct (identity,
session, page), a few at a time; every ``--recheck-s`` and right before a save names its co-authors.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from .auth import Grant, Identity
from .errors import CollabError, Refused, WikiError

if TYPE_CHECKING:
    from .session import Connection, Sessions

log = logging.getLogger(__name__)

RECHECK_CONCURRENCY = 8  # wiki requests in flight during a re-check sweep


async def recheck_loop(sessions: Sessions, interval_s: float) -> None:
    """Re-check every editor of every page every ``interval_s`` (cancel to stop)."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            await recheck(sessions)
        except Exception:  # one bad answer must not end the re-checks for good
            log.exception("re-checking the editors' rights failed")


async def recheck(sessions: Sessions, title: str | None = None, *, writers_only: bool = False) -> None:
    """Ask the wiki whether each connection may still use its pages (all, or those of ``title``)."""
    pairs = [
        (conn, t)
        for conn in list(sessions.connections.values())
        for t, joined in list(conn.pages.items())
        if (title is None or t == title) and conn.identity is not None and not (writers_only and joined.readonly)
    ]
    keys = list({(conn.identity, conn.cookie, t) for conn, t in pairs if conn.identity is not None})
    gate = asyncio.Semaphore(RECHECK_CONCURRENCY)

    async def decide(identity: Identity, cookie: str | None, page: str) -> Grant | CollabError:
        async with gate:
            try:
                return await sessions.authorizer.authorize(identity, cookie, page)
            except (Refused, WikiError) as exc:
                return exc

    answers = await asyncio.gather(*(decide(i, c, t) for i, c, t in keys))
    decided = dict(zip(keys, answers, strict=True))
    for conn, t in pairs:
        if conn.identity is not None:
            await _apply(sessions, conn, t, decided[(conn.identity, conn.cookie, t)])


async def _apply(sessions: Sessions, conn: Connection, title: str, answer: Grant | CollabError) -> None:
    joined = conn.pages.get(title)
    if joined is None or sessions.connections.get(conn.sid) is not conn:
        return  # left or disconnected meanwhile
    if isinstance(answer, Refused):
        sessions.rejected("removed", title, conn.user)
        log.info("re-check: removing user=%s sid=%s from %r: %s", conn.user, conn.sid, title, answer.message)
        await sessions.remove(conn.sid, title, answer.message, code="forbidden")
    elif isinstance(answer, CollabError):
        log.info("re-check of user=%s on %r postponed: %s", conn.user, title, answer.message)
    elif answer.readonly and not joined.readonly:
        joined.readonly, joined.reason = True, answer.reason
        sessions.rejected("downgraded", title, conn.user)
        log.info("re-check: user=%s sid=%s is read-only on %r: %s", conn.user, conn.sid, title, answer.reason)
        reason = answer.reason or "you may no longer edit this page"
        await sessions.status(conn.sid, title, "readonly", f"read-only from now on: {reason}")
    elif not answer.readonly and joined.readonly:
        joined.readonly, joined.reason = False, None
        log.info("re-check: user=%s sid=%s may edit %r again", conn.user, conn.sid, title)
        await sessions.status(conn.sid, title, "live", "you may edit this page again")
