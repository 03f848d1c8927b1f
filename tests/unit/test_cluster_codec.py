"""The cluster's one stream-entry format: every entry a node logs reads back the same (no Redis needed)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from collab.cluster import codec
from collab.room import Base
from collab.store import RevisionRecord

ENTRIES: list[codec.Entry] = [
    codec.Update("host:1/a", b"\x01\x02\x00"),
    codec.Update("host:1/a", b"\x01", author="Alice"),
    codec.Update("host:1/a", b"\x01", wiki=True, revid=42),
    codec.Update("host:1/a", b"\x01", wiki=True),
    codec.Created("host:1/a"),
    codec.BaseChanged("host:2/b", Base(7, "Hello, wörld 😀\n", b"\x00\xff", "2024-01-02T03:04:05Z")),
    codec.BaseChanged("host:2/b", Base(None, "", b"")),
    codec.AuthorsReset("host:2/b", ["Alice", "Bob"]),
    codec.AuthorsReset("host:2/b", []),
    codec.Recorded("host:2/b", RevisionRecord(9, "2024-01-02T03:04:05Z", ["Alice"], "Alice, Bob: §Intro")),
    codec.Recorded("host:2/b", RevisionRecord(10, None, [], "")),
    codec.Status("host:3/c", "saved", "saved as revision 9", {"revid": 9, "coauthors": ["Alice"]}),
    codec.Status("host:3/c", "saving", "saving to the wiki"),
    codec.SaveRequest("host:3/c", "0123abcd"),
    codec.SaveAnswer("host:1/a", "0123abcd", 11),
    codec.SaveAnswer("host:1/a", "0123abcd"),
    codec.SaveAnswer("host:1/a", "0123abcd", None, "protectedpage", "This page is protected"),
]


def as_redis_returns(fields: codec.Fields) -> dict[bytes, bytes]:
    """What XRANGE/XREAD hand back for the fields XADD was given: bytes for names and values."""
    return {k.encode(): v.encode() if isinstance(v, str) else v for k, v in fields.items()}


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: type(e).__name__)
def test_every_kind_of_entry_reads_back_as_it_was_written(entry: codec.Entry):
    assert codec.decode(as_redis_returns(codec.encode(entry))) == entry


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: type(e).__name__)
def test_the_arguments_a_lua_script_logs_are_the_same_fields_in_the_same_order(entry: codec.Entry):
    args = codec.encode_args(entry)
    assert dict(zip(args[::2], args[1::2], strict=True)) == codec.encode(entry)
    assert list(codec.encode(entry))[:2] == ["k", "n"], "the kind and the node come first"


@given(st.text(), st.binary(), st.one_of(st.none(), st.text(min_size=1)))
def test_any_update_and_any_base_text_read_back_unchanged(text: str, data: bytes, author: str | None):
    update = codec.Update("n", data, author=author)
    assert codec.decode(as_redis_returns(codec.encode(update))) == update
    changed = codec.BaseChanged("n", Base(1, text, data, None))
    assert codec.decode(as_redis_returns(codec.encode(changed))) == changed


def test_only_update_entries_carry_a_document_update():
    assert codec.update_of(as_redis_returns(codec.encode(codec.Update("n", b"\x05")))) == b"\x05"
    assert codec.update_of(as_redis_returns(codec.encode(codec.Created("n")))) is None


def test_a_revision_record_reads_back_as_it_was_written():
    record = RevisionRecord(12, "2024-01-02T03:04:05Z", ["Alice", "Bob"], "Alice, Bob: §Intro")
    assert codec.decode_record(codec.encode_record(record)) == record
    assert codec.decode_record(codec.encode_record(record).encode()) == record


@pytest.mark.parametrize(
    "fields",
    [{b"k": b"x", b"n": b"a"}, {b"k": b"u", b"n": b"a"}, {b"k": b"b", b"n": b"a", b"revid": b"seven"}, {}],
    ids=["unknown kind", "update without its bytes", "unreadable revid", "empty"],
)
def test_an_entry_the_codec_cannot_read_is_refused_with_a_malformed_entry_error(fields: dict[bytes, bytes]):
    with pytest.raises(codec.MalformedEntry):
        codec.decode(fields)


def test_an_awareness_frame_reads_back_as_it_was_written():
    frame = codec.encode_frame("host:1/a", codec.AWARENESS_UPDATE, b"\x01\n\x02")
    assert codec.decode_frame(frame) == ("host:1/a", codec.AWARENESS_UPDATE, b"\x01\n\x02")
    assert codec.decode_frame(codec.encode_frame("host:1/a", codec.AWARENESS_QUERY)) == (
        "host:1/a",
        codec.AWARENESS_QUERY,
        b"",
    )
