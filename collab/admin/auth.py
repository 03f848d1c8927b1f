"""Who may see the sessions: the admin token, else membership of the wiki's admin group.

Members of the wiki group ``--admin-group`` are recognised by their wiki session cookie, forwarded to the
wiki's ``meta=userinfo`` exactly like an editor's; scripts send ``--admin-token`` as
``Authorization: Bearer <token>`` (or as ``{"token": ...}`` in the Socket.IO ``auth`` payload). The bearer
and token helpers here also guard ``/metrics`` (:mod:`collab.admin.metrics`).
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Protocol

from ..errors import NotAuthorized, WikiUnavailable
from ..wiki import User

# Cookie checks (``meta=userinfo``) the admin pages and namespace may ask of the wiki a second, all requests
# together, with a burst of twice that: requests nobody has authenticated yet cannot load the wiki. Answers
# the wiki adapter remembers (``--identity-cache-s``) count too: an admin reloading the dashboard stays far
# below it.
WIKI_CHECKS_PER_S: Final = 5.0
WIKI_CHECKS_BURST: Final = 10.0


class WhoAmI(Protocol):
    """Asks the wiki who a session cookie belongs to (implemented by mediawiki.MediaWiki)."""

    async def whoami(self, cookie: str | None) -> User: ...


@dataclass(frozen=True)
class Admin:
    """An authenticated admin: a wiki user of the admin group, or the holder of the admin token."""

    name: str
    via: str  # "wiki" or "token"

    @property
    def label(self) -> str:
        return f"an administrator ({self.name})" if self.via == "wiki" else "an administrator"


class AdminAuth:
    """Decides who is an admin: the admin token, else the wiki session's groups."""

    def __init__(self, wiki: WhoAmI, *, group: str, token: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.wiki = wiki
        self.group = group
        self.token = token
        self.clock = clock
        self._checks = WIKI_CHECKS_BURST
        self._checked_at = clock()

    async def identify(self, *, authorization: str | None, cookie: str | None, token: str | None = None) -> Admin:
        """The admin behind these credentials. An explicit token wins over the cookie.

        Raises:
            NotAuthorized: no credentials, a wrong token, an anonymous session, or not in the group.
            WikiError: the wiki could not be asked (WikiUnavailable when it does not answer, or when
                ``WIKI_CHECKS_PER_S`` cookie checks were asked this second).
        """
        given = token if token else bearer_token(authorization or "")
        if given is not None:
            if token_matches(given, self.token):
                return Admin("token", "token")
            raise NotAuthorized("the admin token is wrong" if self.token else "this server accepts no admin token")
        if not cookie:
            raise NotAuthorized(f"log in to the wiki as a member of the group {self.group!r}")
        self._take_check()
        user = await self.wiki.whoami(cookie)
        if user.anonymous:
            raise NotAuthorized(f"you are not logged in to the wiki (log in as a member of {self.group!r})")
        if self.group not in user.groups:
            raise NotAuthorized(f"{user.name} is not a member of the wiki group {self.group!r}")
        return Admin(user.name, "wiki")

    def _take_check(self) -> None:
        """One token of the wiki-check bucket, or WikiUnavailable (answered 503: try again in a moment)."""
        now = self.clock()
        self._checks = min(WIKI_CHECKS_BURST, self._checks + (now - self._checked_at) * WIKI_CHECKS_PER_S)
        self._checked_at = now
        if self._checks < 1.0:
            raise WikiUnavailable("too many admin sign-ins are being checked right now; try again in a second")
        self._checks -= 1.0


def bearer_token(header: str) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header value, else None."""
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def token_matches(given: str, secret: str) -> bool:
    """Whether ``given`` is the configured ``secret`` (never when none is configured), in constant time."""
    return bool(secret) and hmac.compare_digest(given.encode(), secret.encode())
