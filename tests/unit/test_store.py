"""The durable page log (collab/store.py, SQLite): a snapshot plus a tail per page, appends of one tick
committed together, everything there again after a restart. Killed mid-typing: tests/test_robustness.py."""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
from contextlib import closing
from pathlib import Path

import pytest

from collab.errors import MoveRefused
from collab.lease import SaveIntent
from collab.room import Base, ClientOrigin, seed_update
from collab.store import RevisionRecord, SQLiteStore

BASE = Base(3, "hello", seed_update("Page", 3, "hello"), "2026-12-02T10:00:00Z")


@pytest.fixture
def store(tmp_path: Path):
    store = SQLiteStore(tmp_path)
    yield store
    store.close()


def test_a_created_page_reads_back_with_its_base_and_an_empty_tail(store: SQLiteStore):
    assert store.load("Page") is None
    store.create("Page", BASE)
    stored = store.load("Page")
    assert stored is not None
    assert stored.base == BASE and stored.updates == [BASE.state] and stored.tail_length == 0
    assert stored.authors == []


def test_appends_are_kept_in_order_and_survive_a_restart(tmp_path: Path):
    store = SQLiteStore(tmp_path)
    store.create("Page", BASE)
    for update in (b"one", b"two", b"three"):
        store.append("Page", update, ClientOrigin("sid", "Alice"))
    store.close()
    again = SQLiteStore(tmp_path)
    try:
        stored = again.load("Page")
        assert stored is not None and stored.updates == [BASE.state, b"one", b"two", b"three"]
        assert stored.tail_length == 3
    finally:
        again.close()


async def test_the_appends_of_one_tick_are_committed_together_when_made_durable(store: SQLiteStore):
    store.create("Page", BASE)
    store.append("Page", b"one")
    store.append("Page", b"two")
    with closing(sqlite3.connect(store.path)) as reader:  # another connection sees only what is committed
        count = "SELECT count(*) FROM updates"
        assert reader.execute(count).fetchone() == (0,)
        await store.durable()
        assert reader.execute(count).fetchone() == (2,)


def test_compacting_replaces_the_snapshot_and_the_tail(store: SQLiteStore):
    store.create("Page", BASE)
    store.append("Page", b"one")
    store.compact("Page", b"full state")
    stored = store.load("Page")
    assert stored is not None and stored.updates == [b"full state"] and stored.tail_length == 0


def test_a_new_base_and_the_authors_are_kept_and_authors_mean_unsaved_changes(store: SQLiteStore):
    for title in ("A", "B"):
        store.create(title, BASE)
    new_base = Base(4, "hello!", b"state", None)
    store.set_base("A", new_base)
    store.set_authors("B", ["Alice", "Bob"])
    a, b = store.load("A"), store.load("B")
    assert a is not None and a.base == new_base
    assert b is not None and b.authors == ["Alice", "Bob"]
    assert store.pending_titles() == ["B"]
    store.set_authors("B", [])
    assert store.pending_titles() == []


def test_revisions_read_back_newest_first_and_a_repeat_replaces(store: SQLiteStore):
    store.add_revision("Page", RevisionRecord(4, "2026-12-02T10:00:00Z", ["Alice"], "first"))
    store.add_revision("Page", RevisionRecord(5, None, ["Alice", "Bob"], "second"))
    store.add_revision("Page", RevisionRecord(4, "2026-12-02T10:00:00Z", ["Alice"], "first, again"))
    assert [(r.revid, r.summary) for r in store.revisions("Page")] == [(5, "second"), (4, "first, again")]
    assert store.revisions("Other") == []


def test_an_open_store_is_writable(store: SQLiteStore):
    assert store.writable()


def test_the_sqlite_log_refuses_to_rename_onto_unsaved_work_and_keeps_revision_records(tmp_path: Path):
    store = SQLiteStore(tmp_path)
    try:
        for title in ("Old", "Busy"):
            store.create(title, Base(1, "x", seed_update(title, 1, "x")))
        store.append("Old", seed_update("Old", 2, "y"))
        store.add_revision("Old", RevisionRecord(5, None, ["Alice"], "s"))
        store.set_authors("Busy", ["Bob"])
        with pytest.raises(MoveRefused):
            store.rename("Old", "Busy")
        assert store.load("Old") is not None
        store.rename("Old", "New")
        moved = store.load("New")
        assert moved is not None and moved.tail_length == 1 and store.load("Old") is None
        assert [r.revid for r in store.revisions("New")] == [5]
    finally:
        store.close()


def test_a_save_intent_survives_a_restart_until_dropped_and_makes_its_page_pending(tmp_path: Path):
    store = SQLiteStore(tmp_path)
    store.create("Page", BASE)
    intent = SaveIntent(b"state", "hello world", 3, ["Alice"], "[[User:Alice|Alice]]")
    store.record_intent("Page", intent)
    store.close()
    store = SQLiteStore(tmp_path)
    try:
        assert store.read_intent("Page") == intent
        assert store.pending_titles() == ["Page"]
        store.record_intent("Page", SaveIntent(b"s2", "newer", 3))  # one per page: the newer replaces it
        assert store.read_intent("Page") == SaveIntent(b"s2", "newer", 3, [], "")
        store.drop_intent("Page")
        assert store.read_intent("Page") is None and store.pending_titles() == []
    finally:
        store.close()


def test_a_page_with_a_tail_is_pending_even_without_coauthors_until_compacted(store: SQLiteStore):
    store.create("Open", BASE)
    store.append("Open", b"an update")
    assert store.pending_titles() == ["Open"]  # it was open when the process stopped: look at it again
    store.compact("Open", b"full state")
    assert store.pending_titles() == []


def test_the_data_directory_is_private_and_so_are_the_database_files_sqlite_creates(tmp_path: Path):
    old = os.umask(0o022)  # the usual umask: without the store's care, 0755 and 0644
    try:
        store = SQLiteStore(tmp_path / "data")
        store.append("P", b"\x00")
        store.flush()
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "data").iterdir()}
        store.close()
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "data").stat().st_mode) == 0o700
    assert {"collab.sqlite3", "collab.sqlite3-wal"} <= set(modes) and set(modes.values()) == {0o600}, modes


def test_a_data_directory_left_open_is_tightened_at_start_with_a_warning(tmp_path: Path, caplog):
    data = tmp_path / "data"
    SQLiteStore(data).close()
    data.chmod(0o755)
    (data / "collab.sqlite3").chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="collab.store"):
        SQLiteStore(data).close()
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert stat.S_IMODE((data / "collab.sqlite3").stat().st_mode) == 0o600
    assert "0755" in caplog.text and "0644" in caplog.text and "too open" in caplog.text


def test_discard_forgets_a_page_only_as_created(store: SQLiteStore):
    base = Base(1, "hello", seed_update("P", 1, "hello"), None)
    for title in ("Unchanged", "Appended", "Authored", "Compacted"):
        store.create(title, base)
    store.append("Appended", b"\x00\x00")
    store.set_authors("Authored", ["Alice"])
    store.compact("Compacted", b"\x01")
    assert store.discard("Unchanged") and store.load("Unchanged") is None
    for kept in ("Appended", "Authored", "Compacted"):
        assert not store.discard(kept) and store.load(kept) is not None
    assert not store.discard("Never there")
