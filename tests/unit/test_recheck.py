"""Rights re-checks (collab/recheck.py): the wiki asked again while people edit. Downgraded to read-only,
removed, or given back their rights; an unreachable wiki changes nothing. Against the dev wiki:
tests/test_auth.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from collab.limits import Limits
from tests.support.sessions import Node
from tests.support.ydoc import typed


@pytest.fixture
async def node(tmp_path: Path):
    node = Node(tmp_path)
    yield node
    await node.close()


def access_questions(node: Node) -> list[tuple[str, ...]]:
    return [q for q in node.wiki.asked if q[0] in ("access", "access_of")]


async def test_an_editor_blocked_since_the_join_becomes_read_only_and_is_told(node: Node):
    await node.join("a", cookie="alice-cookie")
    node.wiki.cannot_edit["Alice"] = "you are blocked"
    await node.sessions.recheck()
    assert node.sessions.connections["a"].pages["Page"].readonly
    assert node.wire.statuses("a")[-1] == {"state": "readonly", "message": "read-only from now on: you are blocked"}
    assert node.sessions.rejections["downgraded"] == 1
    await node.update("a", typed(node.room(), " more"))
    assert node.room().current_text() == "hello"  # from now on her changes are dropped


async def test_rights_given_back_make_the_editor_live_again(node: Node):
    node.wiki.cannot_edit["Alice"] = "you are blocked"
    await node.join("a", cookie="alice-cookie")
    del node.wiki.cannot_edit["Alice"]
    await node.sessions.recheck()
    assert not node.sessions.connections["a"].pages["Page"].readonly
    assert node.wire.statuses("a")[-1] == {"state": "live", "message": "you may edit this page again"}
    await node.update("a", typed(node.room(), " more"))
    assert node.room().current_text() == "hello more"


async def test_an_editor_who_may_no_longer_read_is_removed_from_the_page(node: Node):
    await node.join("a", cookie="alice-cookie")
    node.wiki.cannot_read["Alice"] = "the page is now private"
    await node.sessions.recheck()
    assert node.wire.statuses("a")[-1]["state"] == "removed" and node.wire.statuses("a")[-1]["code"] == "forbidden"
    assert node.sessions.connections["a"].pages == {} and "Page" not in node.relay.audience
    assert node.sessions.rejections["removed"] == 1 and node.committer.last_left_rooms == [node.room()]


async def test_a_wiki_session_that_ended_removes_its_editor(node: Node):
    await node.join("a", cookie="alice-cookie")
    del node.wiki.sessions["alice-cookie"]  # logged out in another tab
    await node.sessions.recheck()
    [*_, removed] = node.wire.statuses("a")
    assert removed["state"] == "removed" and "session has ended" in removed["message"]


async def test_without_read_only_access_a_blocked_editor_is_removed_not_downgraded(tmp_path: Path):
    node = Node(tmp_path, allow_readonly=False)
    try:
        await node.join("a", cookie="alice-cookie")
        node.wiki.cannot_edit["Alice"] = "you are blocked"
        await node.sessions.recheck()
        assert node.wire.statuses("a")[-1]["state"] == "removed" and node.sessions.connections["a"].pages == {}
    finally:
        await node.close()


async def test_an_unreachable_wiki_changes_nothing(node: Node):
    await node.join("a", cookie="alice-cookie")
    node.wiki.cannot_read["Alice"] = "private"
    node.wiki.unreachable = True
    await node.sessions.recheck()
    assert node.wire.statuses("a") == [] and not node.sessions.connections["a"].pages["Page"].readonly


async def test_one_question_per_identity_session_and_page(tmp_path: Path):
    node = Node(tmp_path, limits=Limits(max_connections_per_user=0))
    try:
        for sid in ("a1", "a2", "a3"):
            await node.join(sid, cookie="alice-cookie")
        await node.join("b", cookie="bob-cookie")
        node.wiki.asked.clear()
        await node.sessions.recheck()
        assert sorted(access_questions(node)) == [
            ("access", "Page", "alice-cookie", "10.0.0.1"),
            ("access", "Page", "bob-cookie", "10.0.0.1"),
        ]
    finally:
        await node.close()


async def test_writers_only_skips_the_read_only_and_a_title_limits_the_sweep(node: Node):
    node.wiki.edit("Other", "text")
    node.wiki.cannot_edit["Bob"] = "you are blocked"
    await node.join("a", cookie="alice-cookie")
    await node.join("a", "Other")
    await node.join("b", cookie="bob-cookie")
    node.wiki.asked.clear()
    await node.sessions.recheck("Page", writers_only=True)
    assert access_questions(node) == [("access", "Page", "alice-cookie", "10.0.0.1")]
