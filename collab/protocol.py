"""The wire protocol: event names, status states, error codes, and strict parsing of y-protocols frames.

Every ``y`` message a client sends is parsed here before anything touches a document. The parser walks
the whole Yjs v1 update structure with bounds checks, so a 20-byte message that claims 2^28 clients (which
makes Yrs allocate half a gigabyte) is refused in microseconds, and anything that is not plain text in
the ``wikitext`` root (nested types, JSON, binary, other roots) is refused before it can grow a document
that the wiki cannot store. ``client-js/src/protocol.js`` mirrors the constants; a test keeps them equal.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Final

from .errors import ProtocolError

EVENT_JOIN: Final = "join"
EVENT_LEAVE: Final = "leave"
EVENT_Y: Final = "y"
EVENT_STATUS: Final = "status"
EVENT_SAVE: Final = "save"

STATES: Final = ("live", "saving", "saved", "merged", "readonly", "removed", "error")
ERROR_CODES: Final = (
    "invalidtitle",
    "notjoined",
    "badmessage",
    "toolarge",
    "readonly",
    "forbidden",
    "ratelimited",
    "wikiunavailable",
    "saveerror",
    "internal",
)

TEXT_NAME: Final = "wikitext"

MSG_SYNC: Final = 0
MSG_AWARENESS: Final = 1
MSG_QUERY_AWARENESS: Final = 3
SYNC_STEP1: Final = 0
SYNC_STEP2: Final = 1
SYNC_UPDATE: Final = 2

MAX_AWARENESS_STATE_BYTES: Final = 64 * 1024

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

    def uint8(self) -> int:
        if self.pos >= len(self.buf):
            raise ProtocolError("message truncated")
        b = self.buf[self.pos]
        self.pos += 1
        return b

    def varuint(self) -> int:
        num = 0
        shift = 0
        while True:
            b = self.uint8()
            num |= (b & 0x7F) << shift
            if b < 0x80:
                return num
            shift += 7
            if shift > 53:
                raise ProtocolError("integer too large")

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

    def varstring(self) -> str:
        try:
            return self.varbytes().decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError("invalid UTF-8 in string") from None


@dataclass(frozen=True)
class UpdateInfo:
    """What a validated update touches: start clock per client, and whether it inserts text."""

    starts: dict[int, int] = field(default_factory=dict)
    has_structs: bool = False
    has_deletes: bool = False


def check_update(update: bytes) -> UpdateInfo:
    """Walk a Yjs v1 update completely; refuse anything but text in the ``wikitext`` root.

    Raises:
        ProtocolError: malformed, truncated, implausible, or not plain text.
    """
    r = Reader(update)
    starts: dict[int, int] = {}
    has_structs = False
    for _ in range(r.count(3)):
        n_structs = r.count()
        client = r.varuint()
        clock = r.varuint()
        if n_structs:
            has_structs = True
            starts[client] = min(clock, starts.get(client, clock))
        for _ in range(n_structs):
            _skip_struct(r)
    has_deletes = False
    for _ in range(r.count(2)):
        r.varuint()  # client
        n_deletes = r.count(2)
        has_deletes = has_deletes or n_deletes > 0
        for _ in range(n_deletes):
            r.varuint()
            r.varuint()
    if r.remaining:
        raise ProtocolError("trailing bytes after update")
    return UpdateInfo(starts, has_structs, has_deletes)


def _skip_struct(r: Reader) -> None:
    info = r.uint8()
    kind = info & 0x1F
    if kind in (_GC, _SKIP):
        r.varuint()
        return
    has_origin = info & 0x80
    has_right = info & 0x40
    if has_origin:
        r.varuint()
        r.varuint()
    if has_right:
        r.varuint()
        r.varuint()
    if not has_origin and not has_right:
        if r.varuint() == 1:
            if r.varstring() != TEXT_NAME:
                raise ProtocolError(f"only the root text {TEXT_NAME!r} may be edited")
        else:
            r.varuint()
            r.varuint()
        if info & 0x20:
            raise ProtocolError("map entries are not allowed")
    if kind not in _ALLOWED_CONTENT:
        raise ProtocolError(f"content kind {kind} is not plain text")
    if kind == _DELETED:
        r.varuint()
    else:
        r.varstring()


def check_state_vector(sv: bytes) -> dict[int, int]:
    """Parse a state vector (sync step 1 payload), refusing implausible counts."""
    r = Reader(sv)
    out = {}
    for _ in range(r.count(2)):
        client = r.varuint()
        out[client] = r.varuint()
    if r.remaining:
        raise ProtocolError("trailing bytes after state vector")
    return out


@dataclass(frozen=True)
class AwarenessEntry:
    client_id: int
    clock: int
    state: dict[str, object] | None


def check_awareness(update: bytes) -> list[AwarenessEntry]:
    """Parse an awareness update; every state must be a JSON object (or null) of bounded size."""
    r = Reader(update)
    entries = []
    for _ in range(r.count(3)):
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


@dataclass(frozen=True)
class Message:
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
    r = Reader(bytes(msg))
    msg_type = r.varuint()
    if msg_type == MSG_SYNC:
        sub = r.varuint()
        if sub not in _SYNC_KINDS:
            raise ProtocolError(f"unknown sync message type {sub}")
        payload = r.varbytes()
        kind = _SYNC_KINDS[sub]
    elif msg_type == MSG_AWARENESS:
        payload = r.varbytes()
        kind = "awareness"
    elif msg_type == MSG_QUERY_AWARENESS:
        payload = b""
        kind = "query"
    else:
        raise ProtocolError(f"unknown message type {msg_type}")
    if r.remaining:
        raise ProtocolError("trailing bytes after message")
    return Message(kind, payload)


def write_varuint(num: int) -> bytes:
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


def sync_update(update: bytes) -> bytes:
    return _frame(MSG_SYNC, SYNC_UPDATE, payload=update)


def awareness_message(update: bytes) -> bytes:
    return _frame(MSG_AWARENESS, payload=update)


def error(code: str, message: str) -> dict[str, object]:
    """The ``{"ok": false, ...}`` shape of every refused request."""
    return {"ok": False, "error": {"code": code, "message": message}}
