"""What nodes tell each other through Redis, and its one encoding: page stream entries, save records, and
awareness frames. Every writer encodes here and every reader decodes here (the Lua scripts that log an
entry get it encoded, as arguments); nothing else knows the field names.

Stream entry fields: ``k`` kind, ``n`` the node that logged it, and per kind:
``u`` update (``u`` bytes; ``a`` the editor who typed it, if one did; ``w`` the wiki revision it brings,
for a wiki merge), ``c`` page created, ``b`` base changed (``revid``, ``text``, ``state``, ``ts``),
``a`` co-authors reset by the committer (``list``), ``r`` a save recorded (``rec``), ``t`` a status for the
editors (``st``), ``s`` a save requested from the lease holder (``req``), ``S`` its answer (``req``,
``revid``, ``err``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..room import Base
from ..store import RevisionRecord
from .keys import text

Fields = dict[str, bytes | str]  # an entry as XADD takes it (field -> value, in order)


class MalformedEntry(ValueError):
    """A stream entry or frame this codec cannot read."""


@dataclass(frozen=True)
class Update:
    """A document update (an editor's keystrokes, or a wiki revision merged in)."""

    node: str
    update: bytes
    author: str | None = None  # the editor who typed it
    wiki: bool = False  # the update brings a wiki revision (read-back, outside edit)
    revid: int | None = None  # that revision, if known


@dataclass(frozen=True)
class Created:
    """The page entered the log (its base is its first snapshot)."""

    node: str


@dataclass(frozen=True)
class BaseChanged:
    """The lease holder reconciled the page with a wiki revision."""

    node: str
    base: Base


@dataclass(frozen=True)
class AuthorsReset:
    """The lease holder settled the co-authors after a save: these remain unsaved."""

    node: str
    authors: list[str]


@dataclass(frozen=True)
class Recorded:
    """A save of the page, recorded for its revision history."""

    node: str
    record: RevisionRecord


@dataclass(frozen=True)
class Status:
    """A status for the page's editors (saving, saved, merged, errors), in order with the updates."""

    node: str
    state: str
    message: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SaveRequest:
    """A node asks the lease holder to save the page now."""

    node: str
    request: str


@dataclass(frozen=True)
class SaveAnswer:
    """The lease holder's answer to a :class:`SaveRequest`: the revid saved, or the wiki's refusal."""

    node: str
    request: str
    revid: int | None = None
    error_code: str | None = None
    error_message: str = ""


Entry = Update | Created | BaseChanged | AuthorsReset | Recorded | Status | SaveRequest | SaveAnswer


def encode(entry: Entry) -> Fields:
    """The stream fields of an entry (for ``XADD``)."""
    match entry:
        case Update():
            fields: Fields = {"k": "u", "n": entry.node, "u": entry.update}
            if entry.author is not None:
                fields["a"] = entry.author
            elif entry.wiki:
                fields["w"] = int_arg(entry.revid)
            return fields
        case Created():
            return {"k": "c", "n": entry.node}
        case BaseChanged():
            base = entry.base
            return {
                "k": "b",
                "n": entry.node,
                "revid": int_arg(base.revid),
                "text": base.text,
                "state": base.state,
                "ts": base.timestamp or "",
            }
        case AuthorsReset():
            return {"k": "a", "n": entry.node, "list": json.dumps(entry.authors)}
        case Recorded():
            return {"k": "r", "n": entry.node, "rec": encode_record(entry.record)}
        case Status():
            return {
                "k": "t",
                "n": entry.node,
                "st": json.dumps({"state": entry.state, "message": entry.message, **entry.extra}),
            }
        case SaveRequest():
            return {"k": "s", "n": entry.node, "req": entry.request}
        case SaveAnswer():
            error = (
                ""
                if entry.error_code is None
                else json.dumps({"code": entry.error_code, "message": entry.error_message})
            )
            return {"k": "S", "n": entry.node, "req": entry.request, "revid": int_arg(entry.revid), "err": error}


def encode_args(entry: Entry) -> list[bytes | str]:
    """The entry as a flat field/value list, for a Lua script to log (``XADD key * unpack(ARGV, i)``)."""
    return [item for pair in encode(entry).items() for item in pair]


def decode(fields: Mapping[bytes, bytes]) -> Entry:
    """The entry of stream fields (as Redis returns them).

    Raises:
        MalformedEntry: an unknown kind or a field missing or unreadable.
    """
    kind, node = fields.get(b"k", b""), text(fields.get(b"n"))
    try:
        if kind == b"u":
            author = text(fields.get(b"a")) or None
            return Update(node, fields[b"u"], author, b"w" in fields, int_of(fields.get(b"w")))
        if kind == b"c":
            return Created(node)
        if kind == b"b":
            revid, ts = int_of(fields.get(b"revid")), text(fields.get(b"ts")) or None
            return BaseChanged(node, Base(revid, text(fields.get(b"text")), fields.get(b"state", b""), ts))
        if kind == b"a":
            return AuthorsReset(node, list(json.loads(fields.get(b"list", b"[]"))))
        if kind == b"r":
            return Recorded(node, decode_record(fields[b"rec"]))
        if kind == b"t":
            status = json.loads(fields.get(b"st", b"{}"))
            state, message = status.pop("state", "error"), status.pop("message", "")
            return Status(node, state, message, status)
        if kind == b"s":
            return SaveRequest(node, text(fields.get(b"req")))
        if kind == b"S":
            error = text(fields.get(b"err"))
            answer = SaveAnswer(node, text(fields.get(b"req")), int_of(fields.get(b"revid")))
            if error:
                data = json.loads(error)
                answer = SaveAnswer(answer.node, answer.request, answer.revid, data["code"], data["message"])
            return answer
    except (KeyError, ValueError, TypeError) as exc:
        raise MalformedEntry(f"unreadable {text(kind)!r} entry from {node!r}: {exc!r}") from exc
    raise MalformedEntry(f"unknown entry kind {text(kind)!r} from {node!r}")


def update_of(fields: Mapping[bytes, bytes]) -> bytes | None:
    """The document update an entry carries, without decoding the rest (None: another kind of entry)."""
    return fields.get(b"u") if fields.get(b"k") == b"u" else None


def encode_record(record: RevisionRecord) -> str:
    """A save's record as JSON (the ``r`` entry and the page's ``revisions`` hash hold this)."""
    fields = {"revid": record.revid, "timestamp": record.timestamp, "coauthors": record.coauthors}
    return json.dumps({**fields, "summary": record.summary})


def decode_record(raw: bytes | str) -> RevisionRecord:
    """The record of :func:`encode_record`."""
    data = json.loads(raw)
    return RevisionRecord(int(data["revid"]), data.get("timestamp"), list(data["coauthors"]), data["summary"])


# ---- awareness frames (Pub/Sub, one channel per page) ------------------------------------------------
AWARENESS_QUERY = b"q"  # who is there? (the others answer with their editors' states)
AWARENESS_UPDATE = b"u"  # an awareness update (y-protocols encoding)


def encode_frame(node: str, kind: bytes, payload: bytes = b"") -> bytes:
    """An awareness message: the sending node, the kind, the payload."""
    return node.encode() + b"\n" + kind + payload


def decode_frame(data: bytes) -> tuple[str, bytes, bytes]:
    """``(node, kind, payload)`` of :func:`encode_frame`."""
    node, _, rest = data.partition(b"\n")
    return node.decode(), rest[:1], rest[1:]


def int_arg(value: int | None) -> str:
    """An optional integer as a Redis value (None is the empty string)."""
    return "" if value is None else str(value)


def int_of(value: bytes | str | None) -> int | None:
    """The optional integer of :func:`int_arg` (empty or missing: None)."""
    raw = text(value)
    return int(raw) if raw else None
