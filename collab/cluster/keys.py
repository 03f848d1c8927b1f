"""Where the cluster keeps things in Redis: the key layout, stream entry ids, and decoding Redis' replies.

Every key of one page carries the hash tag ``{title}``, so a sharded Redis keeps a page on one shard and the
Lua scripts may touch a page's keys together (``{`` and ``}`` never occur in a MediaWiki title)::

    collab:{T}:log        Stream, one entry per change in the order nodes logged them (``codec``)
    collab:{T}:page       Hash: snapshot, snapshot_id (the last entry the snapshot includes),
                          base_revid, base_text, base_state, base_ts, authors (JSON list),
                          intent_* (a save about to be made; ``lease``)
    collab:{T}:revisions  Hash: revid -> JSON record of a save (co-authors, summary; ``codec``)
    collab:{T}:lease      "<node>#<fencing token>" with an expiry: the one node that may save the page
    collab:{T}:fence      counter of fencing tokens
    collab:{T}:seed       the node seeding a page the log does not know yet (expires)
    collab:{T}:aw         Pub/Sub channel: awareness (cursors, names) between the nodes holding the page
    collab:pending        Set of titles whose log holds unsaved work
    collab:node:<id>      Hash with an expiry: a live node's name and session rows (``presence``)
    collab:nodes          Sorted set: node id -> expiry (ms)
"""

from __future__ import annotations

PREFIX = "collab"
PENDING_KEY = f"{PREFIX}:pending"
NODES_KEY = f"{PREFIX}:nodes"


def key(title: str, part: str) -> str:
    """The key of one of a page's parts (``log``, ``page``, ``lease``...)."""
    return f"{PREFIX}:{{{title}}}:{part}"


def node_key(node: str) -> str:
    """The presence hash of a node (also the Pub/Sub channel that keeps its connection subscribed)."""
    return f"{PREFIX}:node:{node}"


def title_of(page_key: bytes | str) -> str:
    """The title in a page key (``collab:{T}:log`` -> ``T``)."""
    k = text(page_key)
    return k[len(PREFIX) + 2 : k.rindex("}")]


def parse_id(entry_id: bytes | str) -> tuple[int, int]:
    """A stream entry id (``"<ms>-<seq>"``) as a comparable pair."""
    ms, _, seq = text(entry_id).partition("-")
    return int(ms), int(seq or 0)


def id_ge(a: str, b: str) -> bool:
    """Whether stream entry id ``a`` is at or after ``b``."""
    return parse_id(a) >= parse_id(b)


def text(value: bytes | str | None) -> str:
    """A Redis reply as text (None, a missing field, is the empty string)."""
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else value
