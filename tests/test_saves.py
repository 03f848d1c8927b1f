"""The save window against the real dev wiki: a crash right after the wiki took a save, a failed read-back,
credits across a save and a ``kill -9``, the change tag created while the server runs. The policy itself, in
process with the fake wiki: tests/unit/test_commit.py."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.clients import PyClient
from tests.plugins.server import CollabProcess, ServerFactory
from tests.wikiclient import WikiUser

pytestmark = pytest.mark.asyncio

FAULTS = Path(__file__).parent / "fault"


async def joined(server: CollabProcess, user: WikiUser, title: str) -> tuple[PyClient, Any]:
    client = await PyClient(server.url, cookie=user.cookie_header()).connect()
    page = await client.join(title)
    await client.wait_until(lambda: page.synced, what="initial sync")
    return client, page


async def wait_for(cond: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll a condition on state outside this process (a server's exit or log, the wiki)."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def bot_revisions(admin: WikiUser, title: str) -> list[dict[str, Any]]:
    """The bot's revisions of ``title``, newest first (comment, content, tags)."""
    data = admin.api(action="query", prop="revisions", titles=title, rvprop="ids|user|comment|content|tags",
                     rvslots="main", rvlimit=50)  # fmt: skip
    revisions = data["query"]["pages"][0].get("revisions", [])
    return [r for r in revisions if r["user"] == "SyncBot"]


async def test_a_crash_right_after_the_wiki_took_a_save_leaves_the_text_in_the_page_exactly_once(
    collab_server: ServerFactory, admin: WikiUser, alice: WikiUser, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    title = "Crash after save"
    admin.edit(title, "Start.")
    marker = tmp_path / "crash-after-next-save"
    monkeypatch.setenv("PYTHONPATH", str(FAULTS))
    monkeypatch.setenv("COLLAB_TEST_CRASH_AFTER_SAVE", str(marker))
    server = collab_server(commit_idle_s=1, commit_max_s=3, poll_s=1)
    a, _pa = await joined(server, alice, title)
    try:
        marker.touch()  # the server dies the moment the wiki has accepted its next save
        a.append(title, " Typed once.")
        await wait_for(lambda: server.proc is not None and server.proc.poll() is not None, 30, "the crash")
        assert not marker.exists(), "it died saving"
        assert admin.read(title)[0] == "Start. Typed once."  # the wiki has it; the server never read it back
    finally:
        await a.close()
    server.stop()
    server.start()  # same data dir: the save's intent is in the log
    await wait_for(lambda: "adopted revision" in server.log(), 30, "the adoption of the landed save")
    b, pb = await joined(server, alice, title)
    try:
        assert str(pb) == "Start. Typed once." == admin.read(title)[0]
        b.append(title, " After.")
        await b.wait_status(title, "saved")
        assert admin.read(title)[0] == "Start. Typed once. After." == str(pb)
        assert len(bot_revisions(admin, title)) == 2
        assert "merged outside revision" not in server.log(), "the bot's own save is never merged back"
    finally:
        await b.close()


async def test_an_unmapped_api_error_on_read_back_is_retried_and_reported_and_causes_no_duplicate(
    collab_server: ServerFactory, admin: WikiUser, alice: WikiUser, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    title = "Read-back error"
    admin.edit(title, "Start.")
    marker = tmp_path / "fail-next-read-back"
    monkeypatch.setenv("PYTHONPATH", str(FAULTS))
    monkeypatch.setenv("COLLAB_TEST_READBACK_ERROR", str(marker))
    server = collab_server(commit_idle_s=1, commit_max_s=3, poll_s=1)
    a, pa = await joined(server, alice, title)
    try:
        marker.touch()  # the next read-back gets internal_api_error_DBQueryError
        a.append(title, " Once.")
        error = await a.wait_status(title, "error")
        assert error["code"] == "wikiunavailable" and "reading it back failed" in error["message"]
        assert "internal_api_error_DBQueryError" in error["message"]
        await a.wait_status(title, "saved", timeout=60)
        await a.wait_until(lambda: "adopted revision" in server.log(), what="the adoption")
        assert admin.read(title)[0] == "Start. Once." == str(pa)
        assert len(bot_revisions(admin, title)) == 1
        assert "merged outside revision" not in server.log()
        a.append(title, " Twice.")
        n = len(pa.statuses)
        await a.wait_status(title, "saved", since=n)
        assert admin.read(title)[0] == "Start. Once. Twice." == str(pa)
    finally:
        await a.close()


async def test_an_author_typing_before_and_during_a_save_is_credited_by_both_and_after_a_kill(
    collab_server: ServerFactory, admin: WikiUser, alice: WikiUser, bob: WikiUser, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
):  # fmt: skip
    title = "Credit across a save"
    admin.edit(title, "Start.")
    hold = tmp_path / "hold-saves"
    monkeypatch.setenv("PYTHONPATH", str(FAULTS))
    monkeypatch.setenv("COLLAB_TEST_HOLD_SAVES", str(hold))
    server = collab_server(commit_idle_s=30, commit_max_s=60, poll_s=1)
    a, pa = await joined(server, alice, title)
    watcher, pw = await joined(server, bob, title)
    try:
        hold.touch()
        a.append(title, " Before.")
        saving = asyncio.ensure_future(a.save(title))  # held before the wiki call
        await a.wait_status(title, "saving")
        a.append(title, " During.")  # on the same connection: its own save in flight holds up nothing
        await watcher.wait_until(lambda: str(pw).endswith("During."), what="the server has the text")
        hold.unlink()
        ack = await saving
        assert ack["ok"] and ack["revid"]
        first = bot_revisions(admin, title)[0]
        assert first["slots"]["main"]["content"] == "Start. Before."
        assert "[[User:Alice|Alice]]" in first["comment"]
        assert str(pa).endswith("Before. During.")
    finally:
        await a.close()
        await watcher.close()
    server.kill()  # kill -9: " During." is only in the log
    server.options.update(commit_idle_s=1, commit_max_s=3)
    server.start()  # resumes the page at start-up and saves it; nobody joins
    await wait_for(lambda: admin.read(title)[0] == "Start. Before. During.", 30, "the resumed save")
    second = bot_revisions(admin, title)[0]
    assert "[[User:Alice|Alice]]" in second["comment"] and "Bob" not in second["comment"]


async def test_a_change_tag_created_after_the_server_started_is_on_the_next_revision(
    collab_server: ServerFactory, admin: WikiUser, alice: WikiUser
):
    title = "Tag created later"
    tag = f"collab-test-{secrets.token_hex(4)}"  # (not collab-sync: other tests rely on it being there)
    admin.edit(title, "Start.")
    server = collab_server(commit_idle_s=1, commit_max_s=3, poll_s=1, change_tag=tag, tag_check_s=0)
    a, pa = await joined(server, alice, title)
    try:
        a.append(title, " Untagged.")
        await a.wait_status(title, "saved")
        assert tag not in bot_revisions(admin, title)[0]["tags"]
        admin.call(action="managetags", operation="create", tag=tag, reason="created while the server runs",
                   token=admin.token())  # fmt: skip
        n = len(pa.statuses)
        a.append(title, " Tagged.")
        await a.wait_status(title, "saved", since=n)
        latest = bot_revisions(admin, title)[0]
        assert latest["slots"]["main"]["content"] == "Start. Untagged. Tagged."
        assert tag in latest["tags"]
    finally:
        await a.close()
