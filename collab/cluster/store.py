"""The durable page log on Redis (cluster mode): one Stream per page, compacted into a snapshot.

It implements :class:`collab.store.Store`, like the SQLite log of a single node. Keys (every key of one
page carries the hash tag ``{title}``, so a sharded Redis keeps a page on one shard and the Lua scripts may
touch a page's keys together; ``{`` and ``}`` never occur in a MediaWiki title)::

    collab:{T}:log        Stream, one entry per change in the order nodes logged them (kinds below)
    collab:{T}:page       Hash: snapshot, snapshot_id (the last entry the snapshot includes),
                          base_revid, base_text, base_state, base_ts, authors (JSON list),
                          intent_* (a save about to be made; see cluster.py)
    collab:{T}:revisions  Hash: revid -> JSON record of a save (co-authors, summary)
    collab:{T}:lease      "<node>#<fencing token>" with an expiry: the one node that may save the page
    collab:{T}:fence      counter of fencing tokens
    collab:{T}:seed       the node seeding a page the log does not know yet (expires)
    collab:{T}:aw         Pub/Sub channel: awareness (cursors, names) between the nodes holding the page
    collab:pending        Set of titles whose log holds unsaved work

Stream entry fields: ``k`` kind, ``n`` the node that logged it, and per kind:
``u`` update (``u`` bytes, ``a`` the editor who typed it, if one did), ``c`` page created,
``b`` base changed (``revid``, ``text``, ``state``, ``ts``), ``a`` co-authors reset by the committer
(``list``), ``r`` a save recorded (``rec``), ``t`` a status for the editors (``st``), ``s`` a save
requested from the lease holder (``req``), ``S`` its answer (``req``, ``revid``, ``err``).

Writes are queued in order and sent pipelined by one :class:`Writer` task; ``durable()`` waits for them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline
from redis.exceptions import RedisError

from ..room import Base, ClientOrigin, Origin, WikiOrigin
from ..store import RevisionRecord, StoredPage

log = logging.getLogger(__name__)

PREFIX = "collab"
PENDING_KEY = f"{PREFIX}:pending"
TRIM_GRACE_MS = 60_000  # compaction keeps an entry at least this long: a lagging node still reads it
SEED_LOCK_MS = 15_000
SEED_WAIT_BLOCK_MS = 1_000
MAX_BATCH = 512
BACKOFF_MIN_S = 0.1
BACKOFF_MAX_S = 5.0

Op = Callable[[Pipeline], object]  # queues commands on the pipeline
Arg = bytes | str | int | float
LeaseOf = Callable[[str], "str | None"]  # title -> this node's lease value, if it holds the page's lease


def key(title: str, part: str) -> str:
    return f"{PREFIX}:{{{title}}}:{part}"


def title_of(stream_key: bytes | str) -> str:
    """The title in a page key (``collab:{T}:log`` -> ``T``)."""
    k = stream_key.decode() if isinstance(stream_key, bytes) else stream_key
    return k[len(PREFIX) + 2 : k.rindex("}")]


def parse_id(entry_id: bytes | str) -> tuple[int, int]:
    raw = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    ms, _, seq = raw.partition("-")
    return int(ms), int(seq or 0)


def id_ge(a: str, b: str) -> bool:
    return parse_id(a) >= parse_id(b)


def _s(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else value


def _revid(value: bytes | str | None) -> int | None:
    text = _s(value)
    return int(text) if text else None


# ---- Lua: each is one atomic check-and-act ------------------------------------------------------------
CREATE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'snapshot', ARGV[4], 'snapshot_id', '0-0', 'base_revid', ARGV[2],
           'base_text', ARGV[3], 'base_state', ARGV[4], 'base_ts', ARGV[5], 'authors', '[]')
redis.call('XADD', KEYS[2], '*', 'k', 'c', 'n', ARGV[1])
redis.call('DEL', KEYS[3])
return 1
"""

# Never move the snapshot backwards (two nodes may compact concurrently); trim only entries the snapshot
# includes AND older than the grace period, so a node a little behind still reads every entry.
COMPACT = """
local function parse(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local cur = redis.call('HGET', KEYS[1], 'snapshot_id')
if not cur then return 0 end
local cms, cseq = parse(cur)
local tms, tseq = parse(ARGV[2])
if tms < cms or (tms == cms and tseq <= cseq) then return 0 end
redis.call('HSET', KEYS[1], 'snapshot', ARGV[1], 'snapshot_id', ARGV[2])
local now = redis.call('TIME')
local cutoff = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) - tonumber(ARGV[3])
local minid = ARGV[2]
if cutoff < tms then minid = string.format('%.0f-0', cutoff) end
redis.call('XTRIM', KEYS[2], 'MINID', minid)
return 1
"""

# Fenced: only the node holding the page's lease (value ARGV[1]) may move the base. Clears the save intent.
SET_BASE = """
if redis.call('GET', KEYS[3]) ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'base_revid', ARGV[3], 'base_text', ARGV[4], 'base_state', ARGV[5], 'base_ts', ARGV[6])
redis.call('HDEL', KEYS[1], 'intent_state', 'intent_text', 'intent_baserevid', 'intent_deadline_ms', 'intent_authors')
redis.call('XADD', KEYS[2], '*', 'k', 'b', 'n', ARGV[2], 'revid', ARGV[3], 'text', ARGV[4], 'state', ARGV[5],
           'ts', ARGV[6])
return 1
"""

# Fenced: the lease holder resets the co-authors after a save (and tells the other nodes).
SET_AUTHORS = """
if redis.call('GET', KEYS[3]) ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'authors', ARGV[3])
redis.call('XADD', KEYS[2], '*', 'k', 'a', 'n', ARGV[2], 'list', ARGV[3])
return 1
"""

# Any node adds the editors who typed on it (a union, in first-typed order).
ADD_AUTHORS = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local cur = redis.call('HGET', KEYS[1], 'authors')
local list = {}
if cur and cur ~= '[]' then list = cjson.decode(cur) end
local seen = {}
for _, a in ipairs(list) do seen[a] = true end
for _, a in ipairs(cjson.decode(ARGV[1])) do
  if not seen[a] then table.insert(list, a); seen[a] = true end
end
if #list == 0 then return 0 end
redis.call('HSET', KEYS[1], 'authors', cjson.encode(list))
return #list
"""


@dataclass
class Intent:
    """A save the lease holder was about to make (recorded atomically with the last lease check)."""

    state: bytes
    text: str
    baserevid: int | None
    deadline_ms: int
    authors: list[str]  # the co-authors the log held when the save was about to be made


class Writer:
    """Sends Redis commands in the order they were submitted, pipelined, retrying with capped backoff
    when Redis is unreachable (STYLE habit 8). ``durable()`` returns once everything submitted before
    the call is stored."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis
        self._ops: list[Op] = []
        self._submitted = 0
        self._done = 0
        self._wake = asyncio.Event()
        self._flushed = asyncio.Event()
        self.healthy = True
        self.batches = 0

    def submit(self, op: Op) -> None:
        self._ops.append(op)
        self._submitted += 1
        self._wake.set()

    @property
    def backlog(self) -> int:
        return self._submitted - self._done

    async def durable(self) -> None:
        target = self._submitted
        while self._done < target:
            await self._flushed.wait()

    async def run(self) -> None:
        """Send forever (cancel to stop)."""
        backoff = BACKOFF_MIN_S
        while True:
            if not self._ops:
                self._wake.clear()
                await self._wake.wait()
                continue
            batch = self._ops[:MAX_BATCH]
            pipe = self.redis.pipeline(transaction=False)
            for op in batch:
                op(pipe)
            try:
                results = await pipe.execute(raise_on_error=False)
            except (RedisError, OSError) as exc:
                if self.healthy:
                    log.warning("cannot write to Redis (%s); %d writes wait, retrying", exc, self.backlog)
                self.healthy = False
                await asyncio.sleep(backoff)  # capped exponential backoff while Redis is away
                backoff = min(BACKOFF_MAX_S, backoff * 2)
                continue
            if not self.healthy:
                log.warning("writing to Redis again")
            backoff = BACKOFF_MIN_S
            self.healthy = True
            self.batches += 1
            for result in results:
                if isinstance(result, Exception):
                    log.error("a Redis write was refused: %s", result)
            del self._ops[: len(batch)]
            self._done += len(batch)
            flushed, self._flushed = self._flushed, asyncio.Event()
            flushed.set()


class RedisStore:
    """The page log of a cluster node (implements :class:`collab.store.Store`).

    Reads that the protocol makes synchronous (``revisions``, ``pending_titles``) answer from what this
    node has learnt: the page's records when it loaded it, then the ``r`` entries of the stream.
    """

    def __init__(self, redis: aioredis.Redis, writer: Writer, node: str, lease_of: LeaseOf) -> None:
        self.redis = redis
        self.writer = writer
        self.node = node
        self.lease_of = lease_of
        self.applied: dict[str, str] = {}  # title -> id of the last stream entry this node has applied
        self._revisions: dict[str, dict[int, RevisionRecord]] = {}
        self._pending: list[str] = []

    async def start(self) -> None:
        """Learn which pages hold unsaved work (for ``pending_titles``)."""
        members = await self.redis.smembers(PENDING_KEY)
        self._pending = sorted(_s(m) for m in members)

    # ---- reading ---------------------------------------------------------------------------------
    async def fetch(self, title: str) -> StoredPage | None:
        """Snapshot + tail, read atomically. None only to the one node that may seed the page: the others
        wait until it has (so two nodes never seed different revisions of one page)."""
        while True:
            page, entries, revisions = await self._read_page(title)
            if page:
                return self._stored(title, page, entries, revisions)
            seeder = await self.redis.set(key(title, "seed"), self.node, nx=True, px=SEED_LOCK_MS)
            if seeder:
                return None
            log.info("page %r is being seeded by another node; waiting", title)
            await self.redis.xread({key(title, "log"): "0-0"}, count=1, block=SEED_WAIT_BLOCK_MS)

    async def reread(self, title: str) -> tuple[list[bytes], str] | None:
        """The page's snapshot and every update of its tail, and the id they reach (to catch up after this node
        lost touch with Redis for a while: compaction may have trimmed entries it had not read)."""
        page, entries, _ = await self._read_page(title)
        if not page:
            return None
        updates = [page[b"snapshot"]] if page.get(b"snapshot") else []
        updates += [fields[b"u"] for _, fields in entries if fields.get(b"k") == b"u"]
        return updates, _s(entries[-1][0]) if entries else _s(page.get(b"snapshot_id")) or "0-0"

    async def _read_page(self, title: str) -> tuple[dict[bytes, bytes], list[Any], dict[bytes, bytes]]:
        pipe = self.redis.pipeline(transaction=True)  # MULTI: the snapshot and the tail it does not include
        pipe.hgetall(key(title, "page"))
        pipe.xrange(key(title, "log"))
        pipe.hgetall(key(title, "revisions"))
        page, entries, revisions = await pipe.execute()
        return page, entries, revisions

    def _stored(
        self, title: str, page: dict[bytes, bytes], entries: list[Any], revisions: dict[bytes, bytes]
    ) -> StoredPage:
        snapshot_id = _s(page.get(b"snapshot_id")) or "0-0"
        updates = [page[b"snapshot"]] if page.get(b"snapshot") else []
        tail = 0
        for entry_id, fields in entries:
            if fields.get(b"k") == b"u" and not id_ge(snapshot_id, _s(entry_id)):
                updates.append(fields[b"u"])
                tail += 1
        base = Base(
            _revid(page.get(b"base_revid")),
            _s(page.get(b"base_text")),
            page.get(b"base_state", b""),
            _s(page.get(b"base_ts")) or None,
        )
        self.applied[title] = _s(entries[-1][0]) if entries else snapshot_id
        self._revisions[title] = {}
        for raw in revisions.values():
            self._learn_revision(title, raw)
        authors = json.loads(page.get(b"authors", b"[]"))
        return StoredPage(base, updates, authors, tail)

    async def read_intent(self, title: str) -> Intent | None:
        names = ["intent_state", "intent_text", "intent_baserevid", "intent_deadline_ms", "intent_authors"]
        state, text, baserevid, deadline, authors = await self.redis.hmget(key(title, "page"), names)
        if not isinstance(state, bytes):
            return None
        return Intent(state, _s(text), _revid(baserevid), int(_s(deadline) or 0), json.loads(_s(authors) or "[]"))

    async def read_base(self, title: str) -> Base | None:
        fields = await self.redis.hmget(key(title, "page"), ["base_revid", "base_text", "base_state", "base_ts"])
        revid, text, state, ts = fields
        if not isinstance(state, bytes):
            return None
        return Base(_revid(revid), _s(text), state, _s(ts) or None)

    async def last_id(self, title: str) -> str | None:
        """The id of the page's newest stream entry (None: no entry)."""
        newest = await self.redis.xrevrange(key(title, "log"), count=1)
        return _s(newest[0][0]) if newest else None

    def revisions(self, title: str) -> list[RevisionRecord]:
        return sorted(self._revisions.get(title, {}).values(), key=lambda r: r.revid, reverse=True)

    def pending_titles(self) -> list[str]:
        return list(self._pending)

    def writable(self) -> bool:
        return self.writer.healthy

    async def durable(self) -> None:
        await self.writer.durable()

    def close(self) -> None:
        """Nothing to close here: the cluster owns the connections (``Cluster.close``)."""

    # ---- writing (queued, in order) --------------------------------------------------------------
    def create(self, title: str, base: Base) -> None:
        args: list[Arg] = [self.node, _revid_arg(base.revid), base.text, base.state, base.timestamp or ""]
        keys = [key(title, "page"), key(title, "log"), key(title, "seed")]
        self.writer.submit(lambda pipe: pipe.eval(CREATE, len(keys), *keys, *args))
        self.applied.setdefault(title, "0-0")
        self._revisions.setdefault(title, {})

    def append(self, title: str, update: bytes, origin: Origin | None = None) -> None:
        fields: dict[str, bytes | str] = {"k": "u", "n": self.node, "u": update}
        if isinstance(origin, ClientOrigin):
            fields["a"] = origin.user
        elif isinstance(origin, WikiOrigin):
            fields["w"] = str(origin.revid or "")
        self.writer.submit(lambda pipe: pipe.xadd(key(title, "log"), fields))  # type: ignore[arg-type]

    def compact(self, title: str, full_state: bytes) -> None:
        through = self.applied.get(title)
        if through is None or through == "0-0":
            return
        keys = [key(title, "page"), key(title, "log")]
        self.writer.submit(lambda pipe: pipe.eval(COMPACT, len(keys), *keys, full_state, through, TRIM_GRACE_MS))

    def set_base(self, title: str, base: Base) -> None:
        lease = self.lease_of(title)
        if lease is None:
            log.warning("not storing the new base of %r: this node does not hold its commit lease", title)
            return
        keys = [key(title, "page"), key(title, "log"), key(title, "lease")]
        args: list[Arg] = [lease, self.node, _revid_arg(base.revid), base.text, base.state, base.timestamp or ""]
        self.writer.submit(lambda pipe: pipe.eval(SET_BASE, len(keys), *keys, *args))

    def set_authors(self, title: str, authors: list[str]) -> None:
        lease = self.lease_of(title)
        encoded = json.dumps(authors)
        if lease is not None:  # the committer: its list is the truth (it resets it after each save)
            keys = [key(title, "page"), key(title, "log"), key(title, "lease")]
            self.writer.submit(lambda pipe: pipe.eval(SET_AUTHORS, len(keys), *keys, lease, self.node, encoded))
            if authors:
                self.writer.submit(lambda pipe: pipe.sadd(PENDING_KEY, title))
            else:
                self.writer.submit(lambda pipe: pipe.srem(PENDING_KEY, title))
        elif authors:  # another node: add the editors who typed here
            self.writer.submit(lambda pipe: pipe.eval(ADD_AUTHORS, 1, key(title, "page"), encoded))
            self.writer.submit(lambda pipe: pipe.sadd(PENDING_KEY, title))

    def add_revision(self, title: str, record: RevisionRecord) -> None:
        fields = {"revid": record.revid, "timestamp": record.timestamp, "coauthors": record.coauthors}
        encoded = json.dumps({**fields, "summary": record.summary})
        self._learn_revision(title, encoded.encode())

        def op(pipe: Pipeline) -> None:
            pipe.hset(key(title, "revisions"), str(record.revid), encoded)
            pipe.xadd(key(title, "log"), {"k": "r", "n": self.node, "rec": encoded})

        self.writer.submit(op)

    def add_entry(self, title: str, kind: str, **fields: bytes | str) -> None:
        """Log a non-document entry (status, save request/answer) for the other nodes holding the page."""
        entry: dict[str, bytes | str] = {"k": kind, "n": self.node, **fields}
        self.writer.submit(lambda pipe: pipe.xadd(key(title, "log"), entry))  # type: ignore[arg-type]

    def _learn_revision(self, title: str, raw: bytes) -> None:
        data = json.loads(raw)
        record = RevisionRecord(int(data["revid"]), data.get("timestamp"), list(data["coauthors"]), data["summary"])
        self._revisions.setdefault(title, {})[record.revid] = record

    def learn_revision(self, title: str, raw: bytes) -> None:
        """A save recorded by another node (an ``r`` entry)."""
        self._learn_revision(title, raw)

    def forget(self, title: str) -> None:
        """The page was unloaded here."""
        self.applied.pop(title, None)
        self._revisions.pop(title, None)


def _revid_arg(revid: int | None) -> str:
    return "" if revid is None else str(revid)


def now_ms() -> int:
    return int(time.time() * 1000)
