"""Who may do what: identity (wiki session, signed token or address) and per-page authorization.

The wiki is the authority. A connection's identity comes from the browser's own wiki session (its
Cookie header, forwarded to the wiki's ``meta=userinfo``), or from a signed token minted by the wiki
(``--token-secret``), or else it is the anonymous user of its IP address. Whether that identity may edit
a page is asked of the wiki per page, at join and again every ``--recheck-s`` (see ``server.py``):
``intestactions`` with the user's own session, or, for a token, the named user's rights and block and the
page's protection, namespace protection and content model read by the bot (never more than the wiki would
allow that user). A token's ``titles`` are literal titles; prefixes have their own claim, ``prefixes``.

Everything here is policy without I/O except :class:`Authorizer`, which asks the wiki through the
:class:`collab.wiki.Wiki` port. Refusals are :class:`Refused`: ``code`` is what the client is told (one of
``protocol.ERROR_CODES``), ``reason`` is the metrics label (one of :data:`REJECTIONS`). No secret (cookie,
token, token secret) is ever put into a message, a log line or a ``repr``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final, Literal, Protocol

import jwt

from .errors import Refused
from .titles import normalise_title
from .wiki import Access, User

# Clock skew tolerated on a token's exp/nbf/iat.
TOKEN_LEEWAY_S: Final = 5.0
MAX_USER_NAME_CHARS: Final = 255


# ---- tokens ------------------------------------------------------------------------------------------
def normalise_prefix(prefix: str) -> str:
    """A title prefix normalised like a title's start: underscores are spaces, runs of spaces one, leading
    spaces go and the first letter is upper case; a trailing space stays (``"Talk:Foo "`` does not open
    ``Talk:Foobar``)."""
    text = re.sub(" +", " ", prefix.replace("_", " ")).lstrip(" ")
    return text[:1].upper() + text[1:]


def title_matches(titles: Iterable[str], title: str, prefixes: Iterable[str] = ()) -> bool:
    """Whether ``title`` is one of ``titles`` or starts with one of ``prefixes``.

    ``titles`` are literal titles: every character, ``*`` included, stands for itself (``*`` is a legal
    title character, so a wildcard there would let the token of a page named ``*`` open every page).
    Prefixes come from their own claim, which no page title produces. Both sides are normalised like
    MediaWiki titles; write them in the wiki's canonical form (``Talk:Foo bar``, not ``talk:foo_bar``):
    the server compares them with the title the wiki returns.
    """
    normal = normalise_title(title)
    return any(normalise_title(t) == normal for t in titles) or any(
        normal.startswith(normalise_prefix(p)) for p in prefixes
    )


@dataclass(frozen=True)
class TokenClaims:
    """The verified claims of a signed token (the token itself is never kept)."""

    sub: str
    titles: tuple[str, ...]
    ro: bool
    exp: float
    prefixes: tuple[str, ...] = ()

    def expired(self, now: float | None = None) -> bool:
        return (time.time() if now is None else now) > self.exp + TOKEN_LEEWAY_S

    def opens(self, title: str) -> bool:
        """Whether this token names ``title`` (see :func:`title_matches`)."""
        return title_matches(self.titles, title, self.prefixes)


def _strings(value: object, *, blank: bool) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) and (blank or v.strip()) for v in value)


class TokenVerifier:
    """Verifies HS256 JWTs minted by the wiki with the shared ``--token-secret``; with an ``audience``
    (``--token-audience``) or ``issuer`` (``--token-issuer``), their ``aud`` and ``iss`` claims too."""

    def __init__(self, secret: str, *, audience: str = "", issuer: str = "") -> None:
        if not secret:
            raise ValueError("a token secret is required")
        self._secret = secret
        self.audience = audience
        self.issuer = issuer

    def __repr__(self) -> str:
        return f"TokenVerifier(secret=<hidden>, audience={self.audience!r}, issuer={self.issuer!r})"

    def verify(self, token: object, now: float | None = None) -> TokenClaims:
        """The claims of a valid token.

        Raises:
            Refused: not a string, bad signature, other algorithm, malformed or missing claims, another
                audience or issuer than configured (``token_invalid``), or expired (``token_expired``).
        """
        if not isinstance(token, str) or not token or len(token) > 16384:
            raise Refused("the token is not valid: not a JWT string", code="forbidden", reason="token_invalid")
        required = ["exp", "sub"] + ["aud"] * bool(self.audience) + ["iss"] * bool(self.issuer)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._secret,
                algorithms=["HS256"],
                # Without --token-audience an "aud" claim is not checked (PyJWT would refuse any).
                options={"require": required, "verify_exp": now is None, "verify_aud": bool(self.audience)},
                audience=self.audience or None,
                issuer=self.issuer or None,
                leeway=TOKEN_LEEWAY_S,
            )
        except jwt.ExpiredSignatureError:
            raise Refused("the token has expired", code="forbidden", reason="token_expired") from None
        except jwt.InvalidTokenError as exc:
            # PyJWT's messages name the problem ("Signature verification failed"), never the secret.
            raise Refused(f"the token is not valid: {exc}", code="forbidden", reason="token_invalid") from None
        sub, ro, exp = claims.get("sub"), claims.get("ro", False), claims.get("exp")
        titles, prefixes = claims.get("titles", []), claims.get("prefixes", [])
        problems = []
        if not isinstance(sub, str) or not sub.strip() or len(sub) > MAX_USER_NAME_CHARS or "|" in sub:
            problems.append("'sub' must be a user name")
        if not _strings(titles, blank=False):
            problems.append("'titles' must be a list of page titles")
        if not _strings(prefixes, blank=True):
            problems.append("'prefixes' must be a list of title prefixes")
        elif _strings(titles, blank=False) and not titles and not prefixes:
            problems.append("'titles' or 'prefixes' must name at least one page")
        if not isinstance(ro, bool):
            problems.append("'ro' must be true or false")
        if not isinstance(exp, int | float) or isinstance(exp, bool):
            problems.append("'exp' must be a number")
        if problems:
            raise Refused(f"the token is not valid: {'; '.join(problems)}", code="forbidden", reason="token_invalid")
        assert isinstance(sub, str) and isinstance(titles, list) and isinstance(prefixes, list)
        assert isinstance(exp, int | float)
        result = TokenClaims(normalise_title(sub), tuple(titles), bool(ro), float(exp), tuple(prefixes))
        if now is not None and result.expired(now):
            raise Refused("the token has expired", code="forbidden", reason="token_expired")
        return result


# ---- identity and per-page decisions -----------------------------------------------------------------
Source = Literal["session", "token", "anonymous"]


@dataclass(frozen=True)
class Identity:
    """Who a connection is. ``user`` is the wiki user name, or the client's IP address when anonymous."""

    user: str
    anonymous: bool
    source: Source
    ip: str
    claims: TokenClaims | None = None

    @property
    def user_key(self) -> str | None:
        """The key of per-user limits: the user name, None for anonymous (limited per connection and IP)."""
        return None if self.anonymous else self.user

    @property
    def join_key(self) -> str:
        return f"ip:{self.ip}" if self.anonymous else f"user:{self.user}"


@dataclass(frozen=True)
class Grant:
    """May ``user`` edit ``title`` (normalised by the wiki)? ``readonly`` with the ``reason`` why."""

    title: str
    user: str
    anonymous: bool
    readonly: bool
    reason: str | None


class Gateway(Protocol):
    """What the authorizer asks the wiki (implemented by wiki.Wiki)."""

    async def whoami(self, cookie: str | None) -> User: ...
    async def access(self, title: str, cookie: str | None, *, forwarded_for: str | None = None) -> Access: ...
    async def access_of(self, title: str, user: str) -> Access: ...


class Authorizer:
    """Identity at connect, a :class:`Grant` per page at join and at every re-check."""

    def __init__(
        self,
        wiki: Gateway,
        *,
        token_secret: str = "",
        token_audience: str = "",
        token_issuer: str = "",
        anonymous: bool = True,
        allow_readonly: bool = True,
    ) -> None:
        self.wiki = wiki
        self.tokens = (
            TokenVerifier(token_secret, audience=token_audience, issuer=token_issuer) if token_secret else None
        )
        self.anonymous = anonymous
        self.allow_readonly = allow_readonly

    async def identify(self, cookie: str | None, auth: object, ip: str) -> Identity:
        """Who a new connection is: its token if it sent one, else its wiki session, else its IP.

        An invalid or expired session is not an error: the wiki answers as the anonymous user, and so
        does this. Raises Refused (bad token, anonymous refused), WikiUnavailable.
        """
        token = auth.get("token") if isinstance(auth, dict) else None
        if token is not None:
            if self.tokens is None:
                raise Refused("this server does not accept tokens", code="forbidden", reason="token_disabled")
            claims = self.tokens.verify(token)
            return Identity(claims.sub, False, "token", ip, claims)
        if cookie:
            user = await self.wiki.whoami(cookie)
            if not user.anonymous and user.name:
                return Identity(user.name, False, "session", ip)
        if not self.anonymous:
            raise Refused(
                "this server requires a wiki login: log in to the wiki (or use a token) and reconnect",
                code="forbidden",
                reason="anonymous",
            )
        return Identity(ip, True, "anonymous", ip)

    async def readable(self, identity: Identity, cookie: str | None, title: str) -> Access:
        """What the wiki lets ``identity`` do with ``title``, when it may read it at all (asked every time).

        Raises:
            Refused: expired token, page not in the token, session ended, or may not read.
            InvalidTitle, WikiUnavailable: from the wiki.
        """
        claims = identity.claims
        if claims is not None:
            if claims.expired():
                message = "your token has expired; reconnect with a new one"
                raise Refused(message, code="forbidden", reason="token_expired")
            # The bot asks with the user's rights and the page's protections, namespace and content model:
            # a token never opens more than the wiki would let its user do (see mediawiki.access).
            access = await self.wiki.access_of(title, identity.user)
            if not claims.opens(access.title):
                raise Refused(
                    f"your token does not open the page {access.title!r}", code="forbidden", reason="token_title"
                )
        else:
            session = identity.source == "session"
            access = await self.wiki.access(title, cookie if session else None, forwarded_for=identity.ip)
            if session and (access.anonymous or access.user != identity.user):
                raise Refused(
                    "your wiki session has ended: log in to the wiki again and reconnect",
                    code="forbidden",
                    reason="session_ended",
                )
        if not access.can_read:
            raise Refused(
                f"you may not read {access.title!r}: {access.read_reason or 'the wiki does not allow it'}",
                code="forbidden",
                reason="forbidden",
            )
        return access

    async def authorize(self, identity: Identity, cookie: str | None, title: str) -> Grant:
        """May ``identity`` open ``title``, and edit it? Asked of the wiki every time (no cache).

        Raises:
            Refused: expired token, page not in the token, session ended, may not read, or may not
                edit while read-only access is off.
            InvalidTitle, WikiUnavailable: from the wiki.
        """
        access = await self.readable(identity, cookie, title)
        reason = access.reason
        readonly = not access.can_edit
        if identity.claims is not None and identity.claims.ro:
            readonly, reason = True, reason or "your token is read-only"
        if readonly and not self.allow_readonly:
            raise Refused(
                f"you may not edit {access.title!r}: {reason or 'the wiki does not allow it'}",
                code="forbidden",
                reason="forbidden",
            )
        return Grant(access.title, identity.user, identity.anonymous, readonly, reason if readonly else None)
