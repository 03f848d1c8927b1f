"""Who may see the sessions: the admin token, else membership of the wiki's admin group.

Members of the wiki group ``--admin-group`` are recognised by their wiki session cookie, forwarded to the
wiki's ``meta=userinfo`` exactly like an editor's; scripts send ``--admin-token`` as
``Authorization: Bearer <token>`` (or as ``{"token": ...}`` in the Socket.IO ``auth`` payload). The bearer
and token helpers here also guard ``/metrics`` (:mod:`collab.admin.metrics`) and the revisions route
(``app.py``). Wrong bearer tokens are throttled per client address (:class:`Guesses`).
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Protocol

from ..errors import NotAuthorized, Refused, WikiUnavailable
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


# Wrong bearer tokens one address may send: a burst of this many, then one every GUESS_INTERVAL_S.
GUESS_BURST: Final = 10
GUESS_INTERVAL_S: Final = 6.0
MAX_GUESSERS: Final = 10_000


class Guesses:
    """Wrong bearer tokens per client address: a token bucket each (``burst`` wrong tokens, then one every
    ``interval_s``). An address whose bucket is empty has no token checked at all, right or wrong, until it
    refills: guessing costs time, not just a log line. At most ``max_keys`` addresses are remembered (full
    buckets are forgotten first, then the oldest), so the memory a flood of addresses costs is bounded.
    """

    def __init__(
        self,
        *,
        burst: int = GUESS_BURST,
        interval_s: float = GUESS_INTERVAL_S,
        max_keys: int = MAX_GUESSERS,
        clock: Callable[[], float] = time.monotonic,
        on_throttled: Callable[[], None] = lambda: None,
    ) -> None:
        self.burst, self.interval_s, self.max_keys, self.clock = burst, interval_s, max_keys, clock
        self.on_throttled = on_throttled  # counts each refusal (metrics label ``bearer_guesses``)
        self._left: dict[str, tuple[float, float]] = {}  # address -> (tokens left, when counted)

    def _tokens(self, address: str, now: float) -> float:
        left, at = self._left.get(address, (float(self.burst), now))
        return min(float(self.burst), left + (now - at) / self.interval_s)

    def check(self, address: str) -> None:
        """Raises :class:`Refused` (``ratelimited``) while ``address`` has used up its wrong guesses."""
        now = self.clock()
        if self._tokens(address, now) < 1:
            wait = (1 - self._tokens(address, now)) * self.interval_s
            self.on_throttled()
            raise Refused(
                f"too many wrong tokens from your address: try again in {wait:.0f} s",
                code="ratelimited",
                reason="bearer_guesses",
            )

    def failed(self, address: str) -> None:
        """One wrong token from ``address``."""
        now = self.clock()
        left = self._tokens(address, now) - 1
        self._left.pop(address, None)  # re-inserted last: the dict's order is the order of the last guess
        self._left[address] = (left, now)
        if len(self._left) > self.max_keys:
            full = [a for a in self._left if self._tokens(a, now) >= self.burst]
            for stale in full or [next(iter(self._left))]:
                del self._left[stale]

    def guessers(self) -> int:
        """How many addresses are remembered (for tests and the bound)."""
        return len(self._left)


class AdminAuth:
    """Decides who is an admin: the admin token, else the wiki session's groups."""

    def __init__(
        self,
        wiki: WhoAmI,
        *,
        group: str,
        token: str,
        guesses: Guesses | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.wiki = wiki
        self.group = group
        self.token = token
        self.guesses = guesses or Guesses()
        self.clock = clock
        self._checks = WIKI_CHECKS_BURST
        self._checked_at = clock()

    async def identify(
        self, *, authorization: str | None, cookie: str | None, token: str | None = None, address: str = ""
    ) -> Admin:
        """The admin behind these credentials. An explicit token wins over the cookie. ``address``: the
        client's, for throttling wrong tokens.

        Raises:
            NotAuthorized: no credentials, a wrong token, an anonymous session, or not in the group.
            Refused: too many wrong tokens from ``address`` lately (``ratelimited``).
            WikiError: the wiki could not be asked (WikiUnavailable when it does not answer, or when
                ``WIKI_CHECKS_PER_S`` cookie checks were asked this second).
        """
        given = token if token else bearer_token(authorization or "")
        if given is not None:
            self.guesses.check(address)
            if token_matches(given, self.token):
                return Admin("token", "token")
            self.guesses.failed(address)
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
