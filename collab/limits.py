"""Abuse limits: connection counts per address and user, join and message token buckets, flood cut-offs.

Pure bookkeeping, no I/O: :class:`Limiter` decides, the session applies. Refusals are
:class:`collab.errors.Refused` (``code`` for the client, ``reason`` the metrics label).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal

from .config import Settings, default
from .errors import Refused

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
# A large answer (sync step 2 to a step 1, every awareness state to a query) costs one message of the
# budget per this many bytes: asking for a 2 MB page again and again is a flood like any other.
ANSWER_BYTES_PER_MESSAGE: Final = 16 * 1024
# Seconds of --connects-per-min one address may use at once (a classroom, a test suite on 127.0.0.1).
CONNECT_BURST_S: Final = 60.0
# Buckets kept before the full (idle) ones are dropped: bounds the memory many addresses can take.
MAX_BUCKETS: Final = 10_000


@dataclass(frozen=True)
class Limits:
    """Abuse limits (0 disables a limit). Rates are sustained; buckets hold ``BURST_S`` seconds of it."""

    max_message_bytes: int = default("max_message_bytes", int)
    max_document_bytes: int = default("max_document_bytes", int)  # 0: the wiki's maxarticlesize
    max_clients_per_update: int = default("max_clients_per_update", int)
    max_new_clients_per_connection: int = default("max_new_clients_per_connection", int)
    updates_per_s: float = default("updates_per_s", float)
    user_updates_per_s: float = default("user_updates_per_s", float)
    joins_per_min: float = default("joins_per_min", float)
    connects_per_min: float = default("connects_per_min", float)
    max_connections_per_ip: int = default("max_connections_per_ip", int)
    max_connections_per_user: int = default("max_connections_per_user", int)
    max_pages_per_connection: int = default("max_pages_per_connection", int)

    @property
    def transport_bytes(self) -> int:
        """The WebSocket/HTTP limit: above the message limit, so the server sees an oversized message and
        can say why before it disconnects (a transport-level close makes clients reconnect and resend)."""
        return 2 * self.max_message_bytes

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            max_message_bytes=settings.max_message_bytes,
            max_document_bytes=settings.max_document_bytes,
            max_clients_per_update=settings.max_clients_per_update,
            max_new_clients_per_connection=settings.max_new_clients_per_connection,
            updates_per_s=settings.updates_per_s,
            user_updates_per_s=settings.user_updates_per_s,
            joins_per_min=settings.joins_per_min,
            connects_per_min=settings.connects_per_min,
            max_connections_per_ip=settings.max_connections_per_ip,
            max_connections_per_user=settings.max_connections_per_user,
            max_pages_per_connection=settings.max_pages_per_connection,
        )

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

    def charge(self, now: float, cost: float) -> None:
        """Take ``cost`` tokens even when fewer are held: the bucket goes into debt (at most one full
        bucket's worth, so a debt is always repaid within ``capacity / rate`` seconds)."""
        self.tokens = max(-self.capacity, min(self.capacity, self.tokens + (now - self.stamp) * self.rate) - cost)
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
        self._connect_buckets: dict[str, TokenBucket] = {}
        self._penalties: dict[str, tuple[float, float]] = {}  # join key -> (refused until, last duration)

    # connections
    def open(self, ip: str) -> Budget:
        """Admit a new connection from ``ip``, before anything asks the wiki who it is.

        Raises Refused (``connections_ip``, ``connects_rate``)."""
        cap = self.limits.max_connections_per_ip
        if cap and self.per_ip[ip] >= cap:
            raise Refused(
                f"too many connections from your address (limit {cap})", code="ratelimited", reason="connections_ip"
            )
        now = self.clock()
        if (per_min := self.limits.connects_per_min) and not self._connect_bucket(ip, per_min, now).take(now):
            raise Refused(
                f"too many new connections from your address (limit {per_min:g} a minute); retry in a few seconds",
                code="ratelimited",
                reason="connects_rate",
            )
        self.per_ip[ip] += 1
        rate = self.limits.updates_per_s or self.limits.user_updates_per_s
        if not rate:
            return Budget(None)
        bucket = TokenBucket(rate, rate * BURST_S, now) if self.limits.updates_per_s else None
        budget = Budget(bucket, TokenBucket(rate, max(FLOOD_MIN_DROPS, rate * FLOOD_DROPS_S), now))
        _restrain(budget, self.penalty(f"ip:{ip}"))
        return budget

    def _connect_bucket(self, ip: str, per_min: float, now: float) -> TokenBucket:
        bucket = self._connect_buckets.get(ip)
        if bucket is None:
            if len(self._connect_buckets) >= MAX_BUCKETS:
                self._connect_buckets = {k: b for k, b in self._connect_buckets.items() if not b.full(now)}
            capacity = max(1.0, per_min * CONNECT_BURST_S / 60.0)
            bucket = self._connect_buckets[ip] = TokenBucket(per_min / 60.0, capacity, now)
        return bucket

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

    def answer(self, budget: Budget, user_key: str | None, nbytes: int) -> None:
        """Charge the answer of ``nbytes`` a request produced (``ANSWER_BYTES_PER_MESSAGE`` bytes cost one
        message), after the request itself was admitted: the answer is sent (the client needs it), and the
        budget goes into debt, so the messages that follow a run of large answers are throttled."""
        cost = nbytes / ANSWER_BYTES_PER_MESSAGE
        now = self.clock()
        if budget.bucket is not None:
            budget.bucket.charge(now, cost)
        rate = self.limits.user_updates_per_s
        if user_key is not None and rate:
            bucket = self._user_buckets.get(user_key)
            if bucket is None:
                bucket = self._user_buckets[user_key] = TokenBucket(rate, rate * BURST_S, now)
            bucket.charge(now, cost)

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
