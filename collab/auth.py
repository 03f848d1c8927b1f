"""Who may do what: identity, per-page authorization, origin checks and abuse limits.

The wiki is the authority. A connection's identity comes from the browser's own wiki session (its
Cookie header, forwarded to the wiki's ``meta=userinfo``), or from a signed token minted by the wiki
(``--token-secret``), or else it is the anonymous user of its IP address. Whether that identity may edit
a page is asked of the wiki per page, at join and again every ``--recheck-s`` (see ``server.py``):
``intestactions`` with the user's own session, or, for a token, the named user's rights and block and the
page's protection read by the bot.

Everything here is policy without I/O except :class:`Authorizer`, which talks to the wiki through the
small :class:`Gateway` protocol. Refusals are :class:`Refused`: ``code`` is what the client is told (one of
``protocol.ERROR_CODES``), ``reason`` is the metrics label (one of :data:`REJECTIONS`). No secret (cookie,
token, token secret) is ever put into a message, a log line or a ``repr``.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import ssl
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final, Literal, Protocol
from urllib.parse import urlsplit

import jwt

from .config import MIB
from .errors import CollabError
from .room import fork
from .wiki import Access, User

# Metrics labels of every refusal (a closed set: metrics may pre-register them).
REJECTIONS: Final = (
    "origin",  # handshake from an Origin not in --allowed-origin
    "token_disabled",  # a token was sent, but --token-secret is not set
    "token_invalid",  # bad signature, malformed, missing claims, wrong algorithm
    "token_expired",  # exp has passed (at connect, or noticed by a re-check)
    "token_title",  # the token does not name this page
    "anonymous",  # no session or token and --no-anonymous
    "session_ended",  # the wiki session behind a connection ended or changed user
    "connections_ip",  # --max-connections-per-ip
    "connections_user",  # --max-connections-per-user
    "joins_rate",  # --joins-per-min
    "pages_per_connection",  # --max-pages-per-connection
    "forbidden",  # the wiki says: may not read, or may not edit and read-only is off
    "readonly_update",  # a change from a read-only editor, dropped
    "rate_connection",  # --updates-per-s
    "rate_user",  # --user-updates-per-s
    "flood",  # kept sending far beyond the rate: disconnected
    "message_too_large",  # --max-message-bytes: disconnected
    "document_too_large",  # --max-document-bytes: the change was dropped
    "downgraded",  # a re-check switched an editor to read-only
    "removed",  # a re-check removed an editor from a page
)

# Seconds of sustained rate a token bucket holds: typing bursts and a paste never hit the limit.
BURST_S: Final = 5.0
# Seconds' worth of the rate in dropped messages (refilled at the rate) that disconnect a connection.
FLOOD_DROPS_S: Final = 1.0
FLOOD_MIN_DROPS: Final = 50.0  # (however low the rate)
# After a flood cut-off, new connections of that user (anonymous: that address) get no burst for this
# long, doubling (up to the maximum) for each repeat within the maximum.
FLOOD_PENALTY_S: Final = 30.0
FLOOD_PENALTY_MAX_S: Final = 600.0
# ... and each of those new connections is held this long before it is accepted (doubling with the
# penalty, up to the maximum), and cut off after this many seconds' worth of dropped messages.
RESTRAINED_CONNECT_DELAY_S: Final = 2.0
RESTRAINED_CONNECT_DELAY_MAX_S: Final = 16.0
RESTRAINED_DROPS_S: Final = 0.2
# How much of the message budget one explicit save costs (each may write to the wiki).
SAVE_COST: Final = 10.0
# Clock skew tolerated on a token's exp/nbf/iat.
TOKEN_LEEWAY_S: Final = 5.0
MAX_USER_NAME_CHARS: Final = 255


class Refused(CollabError):
    """A request refused by policy. ``code``: what the client is told; ``reason``: the metrics label."""

    def __init__(self, message: str, *, code: str, reason: str) -> None:
        super().__init__(message, code=code)
        self.reason = reason


# ---- client address ----------------------------------------------------------------------------------
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(values: Iterable[str]) -> tuple[Network, ...]:
    """``--trusted-proxy`` values (addresses or CIDR ranges) as networks.

    Raises:
        ValueError: a value is neither.
    """
    return tuple(ipaddress.ip_network(v.strip(), strict=False) for v in values if v.strip())


def _ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(value.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address, trusted: Sequence[Network]) -> bool:
    return any(address.version == net.version and address in net for net in trusted)


def client_ip(remote: str, forwarded_for: str | None, trusted: Sequence[Network]) -> str:
    """The client's address: ``remote``, unless ``remote`` is a trusted proxy.

    Then ``X-Forwarded-For`` is walked from the right (each proxy appends the address it saw) past every
    trusted proxy; the first address not trusted is the client. Anything left of it could be forged by
    the client and is ignored; a malformed entry stops the walk at the last trusted hop.
    """
    address = _ip(remote)
    if address is None or not trusted or not _trusted(address, trusted) or not forwarded_for:
        return str(address) if address is not None else remote
    hop = address
    for entry in reversed(forwarded_for.split(",")):
        candidate = _ip(entry)
        if candidate is None:
            break
        hop = candidate
        if not _trusted(candidate, trusted):
            break
    return str(hop)


# ---- origins -----------------------------------------------------------------------------------------
def origins_of(url: str) -> set[str]:
    """The browser origins a URL stands for (a protocol-relative ``//host`` means both schemes)."""
    if not url:
        return set()
    parts = urlsplit(url if "//" in url else "//" + url)
    if not parts.netloc:
        return set()
    host = parts.netloc.rsplit("@", 1)[-1].lower()
    schemes = [parts.scheme.lower()] if parts.scheme else ["http", "https"]
    out = set()
    for scheme in schemes:
        default_port = {"http": ":80", "https": ":443"}.get(scheme)
        out.add(f"{scheme}://{host.removesuffix(default_port) if default_port else host}")
    return out


_ORIGIN_VERDICT: Final = "collab.origin_allowed"


class OriginPolicy:
    """Which browser origins may open a connection (against cross-site WebSocket hijacking).

    A browser always sends ``Origin`` on a WebSocket handshake; a page on another site that opens a
    socket to us would ride on the user's wiki cookies. Allowed: the configured origins (always
    including the wiki's own), and this server itself (``Origin`` equal to the ``Host`` the browser
    connected to). A handshake without ``Origin`` comes from a non-browser client, which holds no
    victim's cookies: allowed. ``*`` allows every origin (never do this with cookie sessions).
    """

    def __init__(self, origins: Iterable[str] = (), on_refused: Callable[[str], None] | None = None) -> None:
        self.allowed: set[str] = set()
        self.any = False
        self.on_refused = on_refused
        self.add(*origins)

    def add(self, *urls: str) -> None:
        for url in urls:
            if url.strip() == "*":
                self.any = True
            else:
                self.allowed |= origins_of(url.strip().rstrip("/"))

    def allows(self, origin: str | None, environ: Mapping[str, Any] | None = None) -> bool:
        """The ``cors_allowed_origins`` callable of python-engineio: ``(origin, environ) -> bool``."""
        if not origin or self.any:
            return True
        environ = environ if environ is not None else {}
        if isinstance(cached := environ.get(_ORIGIN_VERDICT), bool):
            return cached  # python-engineio asks again for the response's CORS headers: count once
        normal = origin.strip().lower().rstrip("/")
        found = normal in self.allowed or normal in self._same_origin(environ)
        if isinstance(environ, dict):
            environ[_ORIGIN_VERDICT] = found
        if not found and self.on_refused is not None:
            self.on_refused(origin)
        return found

    @staticmethod
    def _same_origin(environ: Mapping[str, Any]) -> set[str]:
        host = str(environ.get("HTTP_HOST", "")).strip().lower()
        if not host or "/" in host or "@" in host:
            return set()
        return {f"http://{host}".removesuffix(":80"), f"https://{host}".removesuffix(":443")}


# ---- tokens ------------------------------------------------------------------------------------------
def normalise_title(title: str) -> str:
    """MediaWiki's basic title normalisation (underscores and runs of spaces, first letter upper case)."""
    title = " ".join(title.replace("_", " ").split())
    return title[:1].upper() + title[1:]


@lru_cache(maxsize=1024)
def _pattern(pattern: str) -> re.Pattern[str]:
    parts = normalise_title(pattern).split("*")
    return re.compile(".*".join(re.escape(p) for p in parts), re.DOTALL)


def title_matches(patterns: Iterable[str], title: str) -> bool:
    """Whether ``title`` is one of ``patterns`` (``*`` matches any run of characters, case-sensitive).

    Both sides are normalised like MediaWiki titles; write patterns in the wiki's canonical form
    (``Talk:Foo *``, not ``talk:foo_*``): the server compares them with the title the wiki returns.
    """
    normal = normalise_title(title)
    return any(_pattern(p).fullmatch(normal) is not None for p in patterns)


@dataclass(frozen=True)
class TokenClaims:
    """The verified claims of a signed token (the token itself is never kept)."""

    sub: str
    titles: tuple[str, ...]
    ro: bool
    exp: float

    def expired(self, now: float | None = None) -> bool:
        return (time.time() if now is None else now) > self.exp + TOKEN_LEEWAY_S


class TokenVerifier:
    """Verifies HS256 JWTs minted by the wiki with the shared ``--token-secret``."""

    def __init__(self, secret: str) -> None:
        if not secret:
            raise ValueError("a token secret is required")
        self._secret = secret

    def __repr__(self) -> str:
        return "TokenVerifier(secret=<hidden>)"

    def verify(self, token: object, now: float | None = None) -> TokenClaims:
        """The claims of a valid token.

        Raises:
            Refused: not a string, bad signature, other algorithm, malformed or missing claims
                (``token_invalid``), or expired (``token_expired``).
        """
        if not isinstance(token, str) or not token or len(token) > 16384:
            raise Refused("the token is not valid: not a JWT string", code="forbidden", reason="token_invalid")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._secret,
                algorithms=["HS256"],
                options={"require": ["exp", "sub"], "verify_exp": now is None},
                leeway=TOKEN_LEEWAY_S,
            )
        except jwt.ExpiredSignatureError:
            raise Refused("the token has expired", code="forbidden", reason="token_expired") from None
        except jwt.InvalidTokenError as exc:
            # PyJWT's messages name the problem ("Signature verification failed"), never the secret.
            raise Refused(f"the token is not valid: {exc}", code="forbidden", reason="token_invalid") from None
        sub, titles, ro, exp = claims.get("sub"), claims.get("titles"), claims.get("ro", False), claims.get("exp")
        problems = []
        if not isinstance(sub, str) or not sub.strip() or len(sub) > MAX_USER_NAME_CHARS or "|" in sub:
            problems.append("'sub' must be a user name")
        if not isinstance(titles, list) or not titles or not all(isinstance(t, str) and t.strip() for t in titles):
            problems.append("'titles' must be a non-empty list of titles")
        if not isinstance(ro, bool):
            problems.append("'ro' must be true or false")
        if not isinstance(exp, int | float) or isinstance(exp, bool):
            problems.append("'exp' must be a number")
        if problems:
            raise Refused(f"the token is not valid: {'; '.join(problems)}", code="forbidden", reason="token_invalid")
        assert isinstance(sub, str) and isinstance(titles, list) and isinstance(exp, int | float)
        result = TokenClaims(normalise_title(sub), tuple(titles), bool(ro), float(exp))
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
        self, wiki: Gateway, *, token_secret: str = "", anonymous: bool = True, allow_readonly: bool = True
    ) -> None:
        self.wiki = wiki
        self.tokens = TokenVerifier(token_secret) if token_secret else None
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

    async def authorize(self, identity: Identity, cookie: str | None, title: str) -> Grant:
        """May ``identity`` open ``title``, and edit it? Asked of the wiki every time (no cache).

        Raises:
            Refused: expired token, page not in the token, session ended, may not read, or may not
                edit while read-only access is off.
            InvalidTitle, WikiUnavailable: from the wiki.
        """
        claims = identity.claims
        if claims is not None:
            if claims.expired():
                message = "your token has expired; reconnect with a new one"
                raise Refused(message, code="forbidden", reason="token_expired")
            access = await self.wiki.access_of(title, identity.user)
            if not title_matches(claims.titles, access.title):
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
        reason = access.reason
        readonly = not access.can_edit
        if claims is not None and claims.ro:
            readonly, reason = True, reason or "your token is read-only"
        if readonly and not self.allow_readonly:
            raise Refused(
                f"you may not edit {access.title!r}: {reason or 'the wiki does not allow it'}",
                code="forbidden",
                reason="forbidden",
            )
        return Grant(access.title, identity.user, identity.anonymous, readonly, reason if readonly else None)


# ---- limits ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Limits:
    """Abuse limits (0 disables a limit). Rates are sustained; buckets hold ``BURST_S`` seconds of it."""

    max_message_bytes: int = 16 * MIB
    max_document_bytes: int = 0  # 0: the wiki's maxarticlesize
    updates_per_s: float = 100.0
    user_updates_per_s: float = 300.0
    joins_per_min: float = 300.0
    max_connections_per_ip: int = 500
    max_connections_per_user: int = 100
    max_pages_per_connection: int = 50

    @property
    def transport_bytes(self) -> int:
        """The WebSocket/HTTP limit: above the message limit, so the server sees an oversized message and
        can say why before it disconnects (a transport-level close makes clients reconnect and resend)."""
        return 2 * self.max_message_bytes

    def document_limit(self, wiki_max_bytes: int) -> int:
        return self.max_document_bytes or wiki_max_bytes


class TokenBucket:
    """``rate`` tokens a second, at most ``capacity`` held; starts full."""

    __slots__ = ("capacity", "rate", "stamp", "tokens")

    def __init__(self, rate: float, capacity: float, now: float) -> None:
        self.rate = rate
        self.capacity = capacity
        self.tokens = capacity
        self.stamp = now

    def take(self, now: float, cost: float = 1.0) -> bool:
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < cost:
            return False
        self.tokens -= cost
        return True

    def full(self, now: float) -> bool:
        return self.tokens + (now - self.stamp) * self.rate >= self.capacity


@dataclass
class Budget:
    """One connection's message budget, and what it has had dropped.

    ``drops`` is a second bucket, of dropped messages: it refills at the allowed rate and holds
    ``FLOOD_DROPS_S`` seconds of it, so a client that keeps sending well over twice its rate empties it
    (a blind flood right after its burst, a steady 3x within ~2 s) and is cut off, while one that only
    overshoots now and then, or by less than twice, is merely throttled.
    """

    bucket: TokenBucket | None
    drops: TokenBucket | None = None
    dropped: int = 0  # in a row, since the last accepted message
    dropped_total: int = 0
    flooded: bool = False
    hold_s: float = 0.0  # its user or address was recently cut off for flooding: hold it before accepting


Drop = Literal["first", "again", "flood"]


class Limiter:
    """Connection counts per IP and user, join and message token buckets. Pure bookkeeping, no I/O."""

    def __init__(self, limits: Limits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self.clock = clock
        self.per_ip: Counter[str] = Counter()
        self.per_user: Counter[str] = Counter()
        self._user_buckets: dict[str, TokenBucket] = {}
        self._join_buckets: dict[str, TokenBucket] = {}
        self._penalties: dict[str, tuple[float, float]] = {}  # join key -> (refused until, last duration)

    # connections
    def open(self, ip: str) -> Budget:
        """Admit a new connection from ``ip``. Raises Refused (``connections_ip``)."""
        cap = self.limits.max_connections_per_ip
        if cap and self.per_ip[ip] >= cap:
            raise Refused(
                f"too many connections from your address (limit {cap})", code="ratelimited", reason="connections_ip"
            )
        self.per_ip[ip] += 1
        rate, now = self.limits.updates_per_s or self.limits.user_updates_per_s, self.clock()
        if not rate:
            return Budget(None)
        bucket = TokenBucket(rate, rate * BURST_S, now) if self.limits.updates_per_s else None
        budget = Budget(bucket, TokenBucket(rate, max(FLOOD_MIN_DROPS, rate * FLOOD_DROPS_S), now))
        _restrain(budget, self.penalty(f"ip:{ip}"))
        return budget

    def identified(self, user_key: str | None, budget: Budget | None = None) -> None:
        """Count a connection of a (non-anonymous) user. Raises Refused (``connections_user``)."""
        if user_key is None:
            return
        if budget is not None:
            _restrain(budget, self.penalty(f"user:{user_key}"))
        cap = self.limits.max_connections_per_user
        if cap and self.per_user[user_key] >= cap:
            raise Refused(
                f"too many connections as {user_key} (limit {cap})", code="ratelimited", reason="connections_user"
            )
        self.per_user[user_key] += 1

    def close(self, ip: str | None, user_key: str | None) -> None:
        """Forget a connection (once per successful :meth:`open` and :meth:`identified`; None: not counted)."""
        if ip is not None:
            _decrement(self.per_ip, ip)
        if user_key is not None:
            _decrement(self.per_user, user_key)
            if user_key not in self.per_user:
                self._user_buckets.pop(user_key, None)

    # joins
    def join(self, key: str, pages_joined: int) -> None:
        """Admit a join. Raises Refused (``pages_per_connection``, ``joins_rate``)."""
        cap = self.limits.max_pages_per_connection
        if cap and pages_joined >= cap:
            raise Refused(
                f"a connection may have at most {cap} pages open; leave one first",
                code="ratelimited",
                reason="pages_per_connection",
            )
        rate = self.limits.joins_per_min
        if not rate:
            return
        now = self.clock()
        bucket = self._join_buckets.get(key)
        if bucket is None:
            if len(self._join_buckets) > 10_000:
                self._join_buckets = {k: b for k, b in self._join_buckets.items() if not b.full(now)}
            bucket = self._join_buckets[key] = TokenBucket(rate / 60.0, rate, now)
        if not bucket.take(now):
            raise Refused(
                f"too many joins (limit {rate:g} a minute); try again in a few seconds",
                code="ratelimited",
                reason="joins_rate",
            )

    # messages
    def message(self, budget: Budget, user_key: str | None, cost: float = 1.0) -> str | None:
        """Charge one message. Returns None when admitted, else the rejection reason."""
        now = self.clock()
        if budget.bucket is not None and not budget.bucket.take(now, cost):
            return "rate_connection"
        rate = self.limits.user_updates_per_s
        if user_key is not None and rate:
            bucket = self._user_buckets.get(user_key)
            if bucket is None:
                bucket = self._user_buckets[user_key] = TokenBucket(rate, rate * BURST_S, now)
            if not bucket.take(now, cost):
                if budget.bucket is not None:
                    budget.bucket.tokens += cost  # not sent after all: the connection keeps its share
                return "rate_user"
        budget.dropped = 0
        return None

    def drop(self, budget: Budget) -> Drop:
        """Record a dropped message: ``first`` of a run (tell the client), ``again``, or ``flood`` (cut it off)."""
        budget.dropped += 1
        budget.dropped_total += 1
        if budget.drops is not None and not budget.flooded and not budget.drops.take(self.clock()):
            budget.flooded = True
            return "flood"  # once: the connection is being cut off
        return "first" if budget.dropped == 1 else "again"

    # flooders
    def penalise(self, key: str) -> float:
        """A connection of ``key`` (an Identity.join_key) was cut off for flooding. For a while (twice as
        long each time it happens again soon), new connections of that user (anonymous: that address)
        start without a burst and are cut off after one second's worth of dropped messages. Without
        this, a flooder reconnects at once and gets a fresh burst each time; refusing the address
        instead would lock out a whole classroom behind one NAT. Returns the seconds."""
        now = self.clock()
        until, last = self._penalties.get(key, (0.0, 0.0))
        again = last and now - until < FLOOD_PENALTY_MAX_S
        duration = min(FLOOD_PENALTY_MAX_S, last * 2) if again else FLOOD_PENALTY_S
        self._penalties[key] = (now + duration, duration)
        if len(self._penalties) > 10_000:
            self._penalties = {k: v for k, v in self._penalties.items() if now - v[0] < FLOOD_PENALTY_MAX_S}
        return duration

    def penalty(self, key: str) -> float:
        """The current penalty of ``key`` in seconds (its whole length), 0 when none is running."""
        entry = self._penalties.get(key)
        return entry[1] if entry is not None and entry[0] > self.clock() else 0.0


def _restrain(budget: Budget, penalty_s: float) -> None:
    """No burst under a penalty: the message bucket starts empty, a short run of drops cuts the
    connection off, and the connection is held a while before it is accepted."""
    if not penalty_s:
        return
    hold = RESTRAINED_CONNECT_DELAY_S * penalty_s / FLOOD_PENALTY_S
    budget.hold_s = max(budget.hold_s, min(RESTRAINED_CONNECT_DELAY_MAX_S, hold))
    if budget.bucket is not None:
        budget.bucket.tokens = 0.0
    if budget.drops is not None:
        budget.drops.capacity = budget.drops.tokens = max(1.0, budget.drops.rate * RESTRAINED_DROPS_S)


def _decrement(counter: Counter[str], key: str) -> None:
    counter[key] -= 1
    if counter[key] <= 0:
        del counter[key]


def text_bytes_after(state: bytes, update: bytes) -> int:
    """The UTF-8 size of the page text after applying ``update`` to a copy of ``state`` (not to the room)."""
    doc, text = fork(state)
    doc.apply_update(update)
    return len(text)  # pycrdt measures text in UTF-8 bytes


class StaleMessageFilter(logging.Filter):
    """Drops python-socketio's traceback for each message a cut-off client still had in flight.

    After the server disconnects a client (a flood, an oversized message), python-engineio keeps reading
    what the client had already sent, and python-socketio raises for every binary message of the closed
    namespace. A flooder has thousands in flight: each would log a traceback, a flood of its own.
    """

    def __init__(self) -> None:
        super().__init__()
        self.dropped = 0

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, ValueError) and exc.__traceback__ is not None:
            frame = exc.__traceback__
            while frame.tb_next is not None:
                frame = frame.tb_next
            if f"{os.sep}socketio{os.sep}" in frame.tb_frame.f_code.co_filename:
                self.dropped += 1
                return False
        return True


# ---- TLS ---------------------------------------------------------------------------------------------
def tls_context(cert_file: str, key_file: str) -> ssl.SSLContext:
    """A server TLS context (TLS >= 1.2) for ``--tls-cert``/``--tls-key``.

    Raises:
        OSError: a file cannot be read.
        ssl.SSLError: the files are not a matching PEM certificate chain and key.
    """
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_file, key_file)
    return context
