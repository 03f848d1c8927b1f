"""The MediaWiki adapter's pure part (collab/mediawiki.py): a named user's access to a page, read from the
bot's answer to one query (users' rights and blocks, the page's protection). Against the dev wiki:
tests/test_auth.py."""

from __future__ import annotations

from typing import Any

from collab.mediawiki import named_access


def _query(user: dict[str, Any], page: dict[str, Any]) -> dict[str, Any]:
    return {"users": [user], "pages": [{"ns": 0, "title": "P", "lastrevid": 3, **page}]}


RIGHTS = ["read", "edit", "createpage", "createtalk", "editsemiprotected", "autoconfirmed"]


def test_a_normal_user_may_edit_an_unprotected_page():
    access = named_access(_query({"userid": 2, "name": "Alice", "rights": RIGHTS}, {}), "P")
    assert access.can_edit and access.can_read and access.reason is None


def test_a_blocked_user_may_not_edit():
    user = {"userid": 2, "name": "Bob", "rights": RIGHTS, "blockid": 1, "blockedby": "Admin", "blockreason": "spam"}
    access = named_access(_query(user, {}), "P")
    assert not access.can_edit and access.can_read and "blocked" in (access.reason or "")


def test_protection_needs_the_levels_right():
    page = {"protection": [{"type": "edit", "level": "sysop"}, {"type": "move", "level": "sysop"}]}
    access = named_access(_query({"userid": 2, "name": "Alice", "rights": RIGHTS}, page), "P")
    assert not access.can_edit and "protected" in (access.reason or "")
    admin = named_access(_query({"userid": 1, "name": "Admin", "rights": [*RIGHTS, "editprotected"]}, page), "P")
    assert admin.can_edit
    semi = {"protection": [{"type": "edit", "level": "autoconfirmed"}]}
    assert named_access(_query({"userid": 2, "name": "Alice", "rights": RIGHTS}, semi), "P").can_edit


def test_a_missing_page_needs_create_rights_and_create_protection_counts():
    page = {"missing": True, "protection": [{"type": "create", "level": "sysop"}]}
    access = named_access(_query({"userid": 2, "name": "Alice", "rights": RIGHTS}, page), "P")
    assert not access.exists and not access.can_edit
    no_create = named_access(_query({"userid": 2, "name": "A", "rights": ["read", "edit"]}, {"missing": True}), "P")
    assert not no_create.can_edit


def test_an_unknown_user_may_do_nothing():
    access = named_access(_query({"name": "Ghost", "missing": True}, {}), "P")
    assert not access.can_edit and not access.can_read and "no user" in (access.read_reason or "")
