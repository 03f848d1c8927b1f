"""The durable page log on Redis (cluster mode): one Stream per page, compacted into a snapshot.

:class:`RedisStore` implements :class:`collab.store.Store`, like the SQLite log of a single node, and the
few things the rest of the cluster adapter needs beyond it (:class:`ClusterStore`). The keys are listed in
``keys``, the entries in ``codec``. Writes are queued in order and sent pipelined by the node's
:class:`~collab.cluster.writer.Writer`; ``durable()`` waits for them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline

from ..errors import MoveRefused
from ..room import Base, ClientOrigin, Origin, WikiOrigin
from ..store import RevisionRecord, Store, StoredPage
from . import codec
from .keys import PENDING_KEY, id_ge, key, text
from .writer import Writer

log = logging.getLogger(__name__)

TRIM_GRACE_MS = 60_000  # compaction keeps an entry at least this long: a lagging node still reads it
SEED_LOCK_MS = 15_000
SEED_WAIT_BLOCK_MS = 1_000

Arg = bytes | str | int | float
LeaseOf = Callable[[str], "str | None"]  # title -> this node's lease value, if it holds the page's lease


# ---- Lua: each is one atomic check-and-act; the entry it logs comes encoded (codec.encode_args) ---------
CREATE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'snapshot', ARGV[3], 'snapshot_id', '0-0', 'base_revid', ARGV[1],
           'base_text', ARGV[2], 'base_state', ARGV[3], 'base_ts', ARGV[4], 'authors', '[]')
redis.call('XADD', KEYS[2], '*', unpack(ARGV, 5))
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

# Fenced: only the node holding the page's lease (value ARGV[1]) may move the base. Clears the save intent
# (lease.CONFIRM records it).
SET_BASE = """
if redis.call('GET', KEYS[3]) ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'base_revid', ARGV[2], 'base_text', ARGV[3], 'base_state', ARGV[4], 'base_ts', ARGV[5])
redis.call('HDEL', KEYS[1], 'intent_state', 'intent_text', 'intent_baserevid', 'intent_deadline_ms', 'intent_authors',
          'intent_summary')
redis.call('XADD', KEYS[2], '*', unpack(ARGV, 6))
return 1
"""

# Fenced: the lease holder resets the co-authors after a save (and tells the other nodes).
SET_AUTHORS = """
if redis.call('GET', KEYS[3]) ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'authors', ARGV[2])
redis.call('XADD', KEYS[2], '*', unpack(ARGV, 3))
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


class ClusterStore(Store, Protocol):
    """What the cluster adapter's other parts use of the page log beyond :class:`collab.store.Store`.

    The log tracks, per page this node holds, the position up to which the node has applied the page's
    stream (``replication`` advances it; compaction folds no further than it).
    """

    async def start(self) -> None:
        """Learn which pages hold unsaved work (for ``pending_titles``)."""
        ...

    def positions(self) -> Mapping[str, str]:
        """Title -> id of the last stream entry this node has applied, for every page it follows."""
        ...

    def position(self, title: str) -> str:
        """The id of the last entry of ``title`` this node has applied (``"0-0"``: none)."""
        ...

    def advance(self, title: str, entry_id: str) -> None:
        """This node has applied ``title``'s entries up to ``entry_id``."""
        ...

    async def reread(self, title: str) -> tuple[list[bytes], str] | None:
        """The page's snapshot and the updates of its tail, and the entry id they reach (None: no page)."""
        ...

    async def last_id(self, title: str) -> str | None:
        """The id of the page's newest stream entry (None: no entry)."""
        ...

    def log(self, title: str, entry: codec.Entry) -> None:
        """Queue an entry for the other nodes holding the page (statuses, save requests and answers)."""
        ...

    def learn_revision(self, title: str, record: RevisionRecord) -> None:
        """A save recorded by another node (for ``revisions``)."""
        ...

    def forget(self, title: str) -> None:
        """The page was unloaded here: stop following it."""
        ...


class RedisStore:
    """The page log of a cluster node (implements :class:`ClusterStore`).

    Reads that the protocol makes synchronous (``revisions``, ``pending_titles``) answer from what this
    node has learnt: the page's records when it loaded it, then the ``r`` entries of the stream.
    """

    def __init__(self, redis: aioredis.Redis, writer: Writer, node: str, lease_of: LeaseOf) -> None:
        self.redis = redis
        self.writer = writer
        self.node = node
        self.lease_of = lease_of
        self._applied: dict[str, str] = {}  # title -> id of the last stream entry this node has applied
        self._revisions: dict[str, dict[int, RevisionRecord]] = {}
        self._pending: list[str] = []
        self.on_writable = writer.on_writable  # (the writer runs them when Redis stores writes again)

    async def start(self) -> None:
        members = await self.redis.smembers(PENDING_KEY)
        self._pending = sorted(text(m) for m in members)

    # ---- positions -------------------------------------------------------------------------------
    def positions(self) -> Mapping[str, str]:
        return self._applied

    def position(self, title: str) -> str:
        return self._applied.get(title, "0-0")

    def advance(self, title: str, entry_id: str) -> None:
        self._applied[title] = entry_id

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
        updates += [u for _, fields in entries if (u := codec.update_of(fields)) is not None]
        return updates, text(entries[-1][0]) if entries else text(page.get(b"snapshot_id")) or "0-0"

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
        snapshot_id = text(page.get(b"snapshot_id")) or "0-0"
        updates = [page[b"snapshot"]] if page.get(b"snapshot") else []
        tail = 0
        for entry_id, fields in entries:
            update = codec.update_of(fields)
            if update is not None and not id_ge(snapshot_id, text(entry_id)):
                updates.append(update)
                tail += 1
        base = Base(
            codec.int_of(page.get(b"base_revid")),
            text(page.get(b"base_text")),
            page.get(b"base_state", b""),
            text(page.get(b"base_ts")) or None,
        )
        self._applied[title] = text(entries[-1][0]) if entries else snapshot_id
        self._revisions[title] = {}
        for raw in revisions.values():
            self.learn_revision(title, codec.decode_record(raw))
        authors = json.loads(page.get(b"authors", b"[]"))
        return StoredPage(base, updates, authors, tail)

    async def last_id(self, title: str) -> str | None:
        newest = await self.redis.xrevrange(key(title, "log"), count=1)
        return text(newest[0][0]) if newest else None

    def revisions(self, title: str) -> list[RevisionRecord]:
        return sorted(self._revisions.get(title, {}).values(), key=lambda r: r.revid, reverse=True)

    def pending_titles(self) -> list[str]:
        return list(self._pending)

    def writable(self) -> bool:
        return self.writer.healthy

    def accepting_writes(self) -> bool:
        return self.writer.healthy

    async def durable(self) -> None:
        await self.writer.durable()

    def close(self) -> None:
        """Nothing to close here: the cluster owns the connections (``Cluster.close``)."""

    # ---- writing (queued, in order) --------------------------------------------------------------
    def create(self, title: str, base: Base) -> None:
        args: list[Arg] = [codec.int_arg(base.revid), base.text, base.state, base.timestamp or ""]
        args += codec.encode_args(codec.Created(self.node))
        keys = [key(title, "page"), key(title, "log"), key(title, "seed")]
        self.writer.submit(lambda pipe: pipe.eval(CREATE, len(keys), *keys, *args))
        self._applied.setdefault(title, "0-0")
        self._revisions.setdefault(title, {})

    def append(self, title: str, update: bytes, origin: Origin | None = None) -> None:
        if isinstance(origin, ClientOrigin):
            entry = codec.Update(self.node, update, author=origin.user)
        elif isinstance(origin, WikiOrigin):
            entry = codec.Update(self.node, update, wiki=True, revid=origin.revid)
        else:
            entry = codec.Update(self.node, update)
        self.log(title, entry)

    def compact(self, title: str, full_state: bytes) -> None:
        through = self._applied.get(title)
        if through is None or through == "0-0":
            return
        keys = [key(title, "page"), key(title, "log")]
        self.writer.submit(lambda pipe: pipe.eval(COMPACT, len(keys), *keys, full_state, through, TRIM_GRACE_MS))

    def discard(self, title: str) -> bool:
        """Kept in cluster mode: another node may hold the page open on the same stream."""
        return False

    def set_base(self, title: str, base: Base) -> None:
        lease = self.lease_of(title)
        if lease is None:
            log.warning("not storing the new base of %r: this node does not hold its commit lease", title)
            return
        keys = [key(title, "page"), key(title, "log"), key(title, "lease")]
        args: list[Arg] = [lease, codec.int_arg(base.revid), base.text, base.state, base.timestamp or ""]
        args += codec.encode_args(codec.BaseChanged(self.node, base))
        self.writer.submit(lambda pipe: pipe.eval(SET_BASE, len(keys), *keys, *args))

    def set_authors(self, title: str, authors: list[str]) -> None:
        lease = self.lease_of(title)
        encoded = json.dumps(authors)
        if lease is not None:  # the committer: its list is the truth (it resets it after each save)
            keys = [key(title, "page"), key(title, "log"), key(title, "lease")]
            args: list[Arg] = [lease, encoded, *codec.encode_args(codec.AuthorsReset(self.node, authors))]
            self.writer.submit(lambda pipe: pipe.eval(SET_AUTHORS, len(keys), *keys, *args))
            if authors:
                self.writer.submit(lambda pipe: pipe.sadd(PENDING_KEY, title))
            else:
                self.writer.submit(lambda pipe: pipe.srem(PENDING_KEY, title))
        elif authors:  # another node: add the editors who typed here
            self.writer.submit(lambda pipe: pipe.eval(ADD_AUTHORS, 1, key(title, "page"), encoded))
            self.writer.submit(lambda pipe: pipe.sadd(PENDING_KEY, title))

    def add_revision(self, title: str, record: RevisionRecord) -> None:
        self.learn_revision(title, record)
        encoded = codec.encode_record(record)
        fields = codec.encode(codec.Recorded(self.node, record))

        def op(pipe: Pipeline) -> None:
            pipe.hset(key(title, "revisions"), str(record.revid), encoded)
            pipe.xadd(key(title, "log"), fields)  # type: ignore[arg-type]

        self.writer.submit(op)

    def log(self, title: str, entry: codec.Entry) -> None:
        fields = codec.encode(entry)
        self.writer.submit(lambda pipe: pipe.xadd(key(title, "log"), fields))  # type: ignore[arg-type]

    def learn_revision(self, title: str, record: RevisionRecord) -> None:
        self._revisions.setdefault(title, {})[record.revid] = record

    def rename(self, old: str, new: str) -> None:
        """Refused: every node of the cluster reads the page's stream by its title, and re-keying the stream, the
        lease and each node's room at once is not built yet. The session of the old title ends instead; its
        log stays under the old title (docs/scaling.md)."""
        raise MoveRefused(f"cluster mode cannot follow the move of {old!r} to {new!r} yet")

    def forget(self, title: str) -> None:
        self._applied.pop(title, None)
        self._revisions.pop(title, None)
