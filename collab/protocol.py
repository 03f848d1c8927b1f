"""The wire protocol: event names, status states, error codes, and strict parsing of y-protocols frames.

Every ``y`` message a client sends is parsed here before anything touches a document. The parser walks
the whole Yjs v1 update structure with bounds checks, so a 20-byte message that claims 2^28 clients (which
makes Yrs allocate half a gigabyte) is refused in microseconds, and anything that is not plain text in
the ``wikitext`` root (nested types, JSON, binary, other roots) is refused before it can grow a document
that the wiki cannot store. ``client-js/src/protocol.js`` mirrors the constants; a test keeps them equal.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Final, NamedTuple

from .errors import DuplicateClient, ProtocolError, TooManyClients

EVENT_JOIN: Final = "join"
EVENT_LEAVE: Final = "leave"
EVENT_Y: Final = "y"
EVENT_STATUS: Final = "status"
EVENT_SAVE: Final = "save"

STATES: Final = ("live", "saving", "saved", "merged", "moved", "readonly", "removed", "error")
REMOVED_CODES: Final = ("deleted", "kicked", "forbidden")
"""Why a ``removed`` status ended a page for a connection: the page was deleted on the wiki; an admin ended
the session or disconnected the user; a rights re-check found the user may no longer use the page."""
ERROR_CODES: Final = (
    "invalidtitle",
    "notjoined",
    "badmessage",
    "toolarge",
    "readonly",
    "forbidden",
    "ratelimited",
    "wikiunavailable",
    "notstored",
    "saveerror",
    "internal",
)

TEXT_NAME: Final = "wikitext"

MAX_SAVE_SUMMARY_CHARS: Final = 500
"""The longest edit summary a ``save`` may carry (MediaWiki's own limit, ``CommentStore::COMMENT_CHARACTER_LIMIT``)."""

MSG_SYNC: Final = 0
MSG_AWARENESS: Final = 1
MSG_QUERY_AWARENESS: Final = 3
SYNC_STEP1: Final = 0
SYNC_STEP2: Final = 1
SYNC_UPDATE: Final = 2

MAX_AWARENESS_STATE_BYTES: Final = 64 * 1024
# A browser's awareness message carries one state, its own; a few more allow for a client that re-created
# its Y.Doc. Counted before anything is parsed: a 4 MiB message of empty states costs nothing.
MAX_AWARENESS_ENTRIES: Final = 4

# Item content kinds (low 5 bits of a struct's info byte) accepted inside Y.Text "wikitext".
_GC, _DELETED, _STRING, _FORMAT, _EMBED, _SKIP = 0, 1, 4, 6, 5, 10
_ALLOWED_CONTENT: Final = frozenset({_DELETED, _STRING})


class Reader:
    """A bounds-checked lib0 decoder over one message."""

    __slots__ = ("buf", "pos")

    def __init__(self, buf: bytes, pos: int = 0) -> None:
        self.buf = buf
        self.pos = pos

    @property
    def remaining(self) -> int:
        return len(self.buf) - self.pos

    def varuint(self) -> int:
        try:
            num, self.pos = _varuint(self.buf, self.pos)
        except IndexError:
            raise ProtocolError("message truncated") from None
        return num

    def count(self, min_bytes_each: int = 1) -> int:
        """A length prefix that must fit in what is left of the message (the allocation trap)."""
        n = self.varuint()
        if n * min_bytes_each > self.remaining:
            raise ProtocolError(f"implausible count {n} for {self.remaining} remaining bytes")
        return n

    def raw(self, n: int) -> bytes:
        if n > self.remaining:
            raise ProtocolError("message truncated")
        out = self.buf[self.pos : self.pos + n]
        self.pos += n
        return out

    def varbytes(self) -> bytes:
        return self.raw(self.count())


class UpdateInfo(NamedTuple):
    """What a validated update touches.

    ``starts``/``ends``: per client (each listed once: see :class:`DuplicateClient`), the first clock of its
    structs and the clock after its last one.
    ``refs``: the (client, clock) of every item its structs are placed next to that is not in the update
    itself: all must already be in the document, or Yrs would hold the structs pending where Yjs does too.
    ``deletes``: per client of its delete set, the clock after the last item it deletes: all must be in the
    document or the update (Yrs keeps a delete of items it lacks pending, in memory, invisible in the state).
    ``delete_ranges``: how many ranges its delete set lists (what deletions can add to the page's metadata).
    """

    starts: dict[int, int]
    ends: dict[int, int]
    refs: dict[int, int]  # client -> highest clock referred to
    has_structs: bool
    has_deletes: bool
    deletes: dict[int, int]  # client -> clock after its last deleted item
    delete_ranges: int


def _varuint(buf: bytes, pos: int) -> tuple[int, int]:
    """(value, position after it); IndexError when the buffer ends first."""
    b = buf[pos]
    if b < 0x80:
        return b, pos + 1
    num = b & 0x7F
    shift = 7
    pos += 1
    while True:
        b = buf[pos]
        pos += 1
        num |= (b & 0x7F) << shift
        if b < 0x80:
            return num, pos
        shift += 7
        if shift > 53:
            raise ProtocolError("integer too large")


def _string(buf: bytes, pos: int) -> tuple[str, int]:
    n, pos = _varuint(buf, pos)
    end = pos + n
    if end > len(buf):
        raise ProtocolError("message truncated")
    try:
        return buf[pos:end].decode("utf-8"), end
    except UnicodeDecodeError:
        raise ProtocolError("invalid UTF-8 in string") from None


def check_update(update: bytes, max_clients: int = 0) -> UpdateInfo:
    """Walk a Yjs v1 update completely; refuse anything but text in the ``wikitext`` root.

    The hottest function of the server (every keystroke of every editor): hand-inlined, one pass, no
    objects per struct. Counts are checked against the bytes left before anything loops on them.
    ``max_clients`` (0: any): refuse an update that lists more Yjs clients than this, before walking it
    (a browser's update lists one; each new client id is metadata the page keeps for ever).

    Raises:
        DuplicateClient: a client is listed twice.
        TooManyClients: more clients than ``max_clients``.
        ProtocolError: malformed, truncated, implausible, or not plain text.
    """
    try:
        return _walk_update(update, max_clients)
    except IndexError:
        raise ProtocolError("message truncated") from None


def _walk_update(buf: bytes, max_clients: int) -> UpdateInfo:
    size = len(buf)
    starts: dict[int, int] = {}
    ends: dict[int, int] = {}
    refs: list[tuple[int, int]] = []
    skipped: list[tuple[int, int]] = []
    n_clients, pos = _varuint(buf, 0)
    if n_clients * 3 > size - pos:
        raise ProtocolError(f"implausible count {n_clients} for {size - pos} remaining bytes")
    if max_clients and n_clients > max_clients:
        raise TooManyClients(
            f"the update writes with {n_clients} Yjs client ids, more than the {max_clients} this server "
            "accepts in one update"
        )
    for _ in range(n_clients):
        n_structs, pos = _varuint(buf, pos)
        if n_structs > size - pos:
            raise ProtocolError(f"implausible count {n_structs} for {size - pos} remaining bytes")
        client, pos = _varuint(buf, pos)
        clock, pos = _varuint(buf, pos)
        if not n_structs:
            continue
        if client in starts:
            # Yjs and Yrs write each client once. Listed twice, with a gap between the two runs, the
            # client's start and end would span a hole that Yrs holds pending: the room's cached clocks
            # would run ahead of its real state and let later updates skip the gap check (room.lacks).
            raise DuplicateClient(f"the update lists Yjs client {client} twice")
        starts[client] = clock
        for _ in range(n_structs):
            info = buf[pos]
            pos += 1
            kind = info & 0x1F
            if kind == _GC or kind == _SKIP:
                length, pos = _varuint(buf, pos)
                if kind == _SKIP and length:  # a hole in the update: the document must hold it already
                    skipped.append((client, clock + length - 1))
                clock += length
                continue
            if info & 0x80:  # origin: the item to the left when it was inserted
                ref_client, pos = _varuint(buf, pos)
                ref_clock, pos = _varuint(buf, pos)
                refs.append((ref_client, ref_clock))
            if info & 0x40:  # right origin
                ref_client, pos = _varuint(buf, pos)
                ref_clock, pos = _varuint(buf, pos)
                refs.append((ref_client, ref_clock))
            if not info & 0xC0:  # no origins: the parent is written out
                parent_info, pos = _varuint(buf, pos)
                if parent_info == 1:
                    name, pos = _string(buf, pos)
                    if name != TEXT_NAME:
                        raise ProtocolError(f"only the root text {TEXT_NAME!r} may be edited")
                else:
                    raise ProtocolError("only the root text may be edited (no nested types)")
                if info & 0x20:
                    raise ProtocolError("map entries are not allowed")
            if kind == _STRING:
                text, pos = _string(buf, pos)
                # Yjs counts UTF-16 code units
                clock += len(text) if text.isascii() else len(text.encode("utf-16-le")) // 2
            elif kind == _DELETED:
                length, pos = _varuint(buf, pos)
                clock += length
            else:
                raise ProtocolError(f"content kind {kind} is not plain text")
        ends[client] = clock
    deletes: dict[int, int] = {}
    delete_ranges = 0
    n_ds, pos = _varuint(buf, pos)
    if n_ds * 2 > size - pos:
        raise ProtocolError(f"implausible count {n_ds} for {size - pos} remaining bytes")
    for _ in range(n_ds):
        ds_client, pos = _varuint(buf, pos)
        n_deletes, pos = _varuint(buf, pos)
        if n_deletes * 2 > size - pos:
            raise ProtocolError(f"implausible count {n_deletes} for {size - pos} remaining bytes")
        if not n_deletes:
            continue
        delete_ranges += n_deletes
        last = 0
        for _ in range(n_deletes):
            start, pos = _varuint(buf, pos)
            length, pos = _varuint(buf, pos)
            if start + length > last:
                last = start + length
        if last > deletes.get(ds_client, 0):
            deletes[ds_client] = last
    if pos != size:
        raise ProtocolError("trailing bytes after update")
    outside: dict[int, int] = {}
    for ref_client, ref_clock in refs:
        if starts.get(ref_client, -1) <= ref_clock < ends.get(ref_client, -1):
            continue  # an item of this same update
        if ref_clock > outside.get(ref_client, -1):
            outside[ref_client] = ref_clock
    for ref_client, ref_clock in skipped:
        if ref_clock > outside.get(ref_client, -1):
            outside[ref_client] = ref_clock
    return UpdateInfo(starts, ends, outside, bool(starts), bool(delete_ranges), deletes, delete_ranges)


def check_state_vector(sv: bytes) -> dict[int, int]:
    """Parse a state vector (sync step 1 payload), refusing implausible counts."""
    try:
        size = len(sv)
        n, pos = _varuint(sv, 0)
        if n * 2 > size - pos:
            raise ProtocolError(f"implausible count {n} for {size - pos} remaining bytes")
        out = {}
        for _ in range(n):
            client, pos = _varuint(sv, pos)
            out[client], pos = _varuint(sv, pos)
    except IndexError:
        raise ProtocolError("message truncated") from None
    if pos != size:
        raise ProtocolError("trailing bytes after state vector")
    return out


@dataclass(frozen=True)
class AwarenessEntry:
    client_id: int
    clock: int
    state: dict[str, object] | None


def check_awareness(update: bytes, max_entries: int = 0) -> list[AwarenessEntry]:
    """Parse an awareness update; every state must be a JSON object (or null) of bounded size.

    ``max_entries`` (0: any): refuse an update of more states than this before parsing any (a client's
    messages carry its own state only: ``MAX_AWARENESS_ENTRIES``; other nodes' may carry many).
    """
    r = Reader(update)
    entries = []
    count = r.count(3)
    if max_entries and count > max_entries:
        raise ProtocolError(f"an awareness message of {count} states: at most {max_entries} are accepted")
    for _ in range(count):
        client_id = r.varuint()
        clock = r.varuint()
        raw = r.varbytes()
        if len(raw) > MAX_AWARENESS_STATE_BYTES:
            raise ProtocolError("awareness state too large")
        try:
            state = json.loads(raw) if raw else None
        except ValueError:
            raise ProtocolError("awareness state is not JSON") from None
        if state is not None and not isinstance(state, dict):
            raise ProtocolError("awareness state must be an object")
        entries.append(AwarenessEntry(client_id, clock, state))
    if r.remaining:
        raise ProtocolError("trailing bytes after awareness update")
    return entries


class Message(NamedTuple):
    """One parsed ``y`` frame. ``kind`` is step1, step2, update, awareness or query."""

    kind: str
    payload: bytes


_SYNC_KINDS: Final = {SYNC_STEP1: "step1", SYNC_STEP2: "step2", SYNC_UPDATE: "update"}


def parse_message(msg: object) -> Message:
    """Split a ``y`` event's binary argument into its kind and payload (payload not yet validated).

    Raises:
        ProtocolError: not bytes, unknown type, or framing that does not add up.
    """
    if not isinstance(msg, bytes | bytearray):
        raise ProtocolError("the y event takes binary data")
    buf = bytes(msg)
    try:
        msg_type, pos = _varuint(buf, 0)
        if msg_type == MSG_SYNC:
            sub, pos = _varuint(buf, pos)
            kind = _SYNC_KINDS.get(sub)
            if kind is None:
                raise ProtocolError(f"unknown sync message type {sub}")
        elif msg_type == MSG_AWARENESS:
            kind = "awareness"
        elif msg_type == MSG_QUERY_AWARENESS:
            if pos != len(buf):
                raise ProtocolError("trailing bytes after message")
            return Message("query", b"")
        else:
            raise ProtocolError(f"unknown message type {msg_type}")
        size, pos = _varuint(buf, pos)
    except IndexError:
        raise ProtocolError("message truncated") from None
    if pos + size < len(buf):
        raise ProtocolError("trailing bytes after message")
    if pos + size > len(buf):
        raise ProtocolError("message truncated")
    return Message(kind, buf[pos:])


_SMALL: Final = [bytes((n,)) for n in range(0x80)]


def write_varuint(num: int) -> bytes:
    if num < 0x80:
        return _SMALL[num]
    out = bytearray()
    while num > 0x7F:
        out.append(0x80 | (num & 0x7F))
        num >>= 7
    out.append(num)
    return bytes(out)


def _frame(*parts: int, payload: bytes | None = None) -> bytes:
    head = b"".join(write_varuint(p) for p in parts)
    if payload is None:
        return head
    return head + write_varuint(len(payload)) + payload


def sync_step1(state_vector: bytes) -> bytes:
    return _frame(MSG_SYNC, SYNC_STEP1, payload=state_vector)


def sync_step2(update: bytes) -> bytes:
    return _frame(MSG_SYNC, SYNC_STEP2, payload=update)


_UPDATE_HEAD: Final = bytes((MSG_SYNC, SYNC_UPDATE))


def sync_update(update: bytes) -> bytes:
    return _UPDATE_HEAD + write_varuint(len(update)) + update  # the relay's every message: no _frame


def awareness_message(update: bytes) -> bytes:
    return _frame(MSG_AWARENESS, payload=update)


def error(code: str, message: str) -> dict[str, object]:
    """The ``{"ok": false, ...}`` shape of every refused request."""
    return {"ok": False, "error": {"code": code, "message": message}}


@dataclass(frozen=True)
class SaveOptions:
    """The optional second argument of ``save``: the editor's summary and "minor edit" box, as typed."""

    summary: str = ""
    minor: bool = False


def parse_save_options(value: object) -> SaveOptions:
    """``{summary, minor}`` (both optional; None or absent: no options), checked.

    Line breaks become spaces and the ends are trimmed (MediaWiki keeps a summary on one line).

    Raises:
        ProtocolError: not an object, an unknown key, a summary that is not a string or is longer than
            :data:`MAX_SAVE_SUMMARY_CHARS`, ``minor`` not a boolean.
    """
    if value is None:
        return SaveOptions()
    if not isinstance(value, dict):
        raise ProtocolError("the save options must be an object {summary, minor}")
    unknown = sorted(str(k) for k in value if k not in ("summary", "minor"))
    if unknown:
        raise ProtocolError(f"unknown save option(s): {', '.join(unknown)[:100]}")
    summary = value.get("summary", "")
    if summary is None:
        summary = ""
    if not isinstance(summary, str):
        raise ProtocolError("the save summary must be a string")
    if len(summary) > MAX_SAVE_SUMMARY_CHARS:
        raise ProtocolError(f"the save summary is longer than {MAX_SAVE_SUMMARY_CHARS} characters")
    minor = value.get("minor", False)
    if minor is None:
        minor = False
    if not isinstance(minor, bool):
        raise ProtocolError("the save option minor must be true or false")
    return SaveOptions(" ".join(summary.split()), minor)
