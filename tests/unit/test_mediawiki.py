"""The MediaWiki adapter's pure part (collab/mediawiki.py): a named user's access to a page, read from the
bot's answer to one query (users' rights and blocks, the page's protection). Against the dev wiki:
tests/test_auth.py."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from collab.errors import InvalidTitle, SaveRefused, WikiError, WikiUnavailable
from collab.mediawiki import MediaWiki, named_access
from collab.mediawiki.errors import bad_answer, query_error, save_error


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


class _APIError:
    def __init__(self, code: str, info: str = "details") -> None:
        self.code, self.info = code, info


@pytest.mark.parametrize("code", ["internal_api_error_DBQueryError", "internal_api_error_Whatever", "maxlag"])
def test_an_internal_error_of_the_wiki_is_unavailability_to_retry_on_reads_and_saves(code: str):
    assert isinstance(query_error(code, "details"), WikiUnavailable)
    assert isinstance(save_error(_APIError(code)), WikiUnavailable)


def test_other_query_errors_keep_the_apis_code_and_bad_titles_are_invalid_titles():
    error = query_error("badvalue", "no such thing")
    assert type(error) is WikiError and error.code == "badvalue"
    assert isinstance(query_error("invalidtitle", None), InvalidTitle)
    assert isinstance(save_error(_APIError("protectedpage")), SaveRefused)


def test_an_answer_that_is_not_the_apis_is_unavailability_to_retry():
    error = bad_answer(ValueError("<html>502 Bad Gateway</html>"))
    assert isinstance(error, WikiUnavailable) and "502" in error.message


class _Bot:
    """The bot's calls as the adapter's tag logic sees them: the wiki's tags, and the saves made."""

    def __init__(self, tags: set[str], refuse: list[SaveRefused] | None = None) -> None:
        self.tags_now, self.refuse = tags, refuse or []
        self.saved_with: list[str | None] = []

    async def tags(self) -> frozenset[str]:
        return frozenset(self.tags_now)

    async def save(self, title: str, text: str, baserevid: int | None, summary: str, tag: str | None) -> int:
        self.saved_with.append(tag)
        if self.refuse:
            raise self.refuse.pop(0)
        return len(self.saved_with)


def _wiki(bot: _Bot, *, tag_check_s: float) -> MediaWiki:
    wiki = MediaWiki("http://wiki.test/w/api.php", "SyncBot@sync", "x", tag_check_s=tag_check_s)
    wiki._bot = bot  # type: ignore[assignment]
    return wiki


async def test_a_change_tag_created_while_the_server_runs_is_on_the_next_save():
    bot = _Bot(set())
    wiki = _wiki(bot, tag_check_s=0)
    await wiki.save("P", "one", baserevid=1, summary="", tag="collab-sync")
    bot.tags_now.add("collab-sync")  # an admin creates it on Special:Tags
    await wiki.save("P", "two", baserevid=2, summary="", tag="collab-sync")
    assert bot.saved_with == [None, "collab-sync"]


async def test_a_missing_tag_is_looked_for_at_most_every_tag_check_s():
    bot = _Bot(set())
    wiki = _wiki(bot, tag_check_s=3600)
    await wiki.save("P", "one", baserevid=1, summary="", tag="collab-sync")  # (looked for: never read before)
    bot.tags_now.add("collab-sync")
    await wiki.save("P", "two", baserevid=2, summary="", tag="collab-sync")
    assert bot.saved_with == [None, None]


async def test_a_save_refused_for_its_tag_reads_the_tags_again_and_saves_without_it():
    bot = _Bot(set(), refuse=[SaveRefused("not allowed", code="tags-apply-not-allowed-one")])
    wiki = _wiki(bot, tag_check_s=3600)
    wiki.site_info = dataclasses.replace(wiki.site_info, tags=frozenset({"collab-sync"}))  # deleted since
    assert await wiki.save("P", "one", baserevid=1, summary="", tag="collab-sync") == 2
    assert bot.saved_with == ["collab-sync", None]


def test_the_bot_name_is_the_user_name_of_the_bot_password():
    assert MediaWiki("http://wiki.test/w/api.php", "sync_bot@app", "x").bot_name == "Sync bot"
