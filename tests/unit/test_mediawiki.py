"""The MediaWiki adapter (collab/mediawiki/): a named user's access to a page, read from the bot's answer to one
query (users' rights and blocks, the page's protection, its namespace and content model); the editor's calls
never follow a redirect with the editor's cookie (a local aiohttp server). Against the dev wiki:
tests/test_auth.py."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from aiohttp import web

from collab.errors import InvalidTitle, SaveRefused, WikiError, WikiUnavailable
from collab.mediawiki import MediaWiki, named_access
from collab.mediawiki.editor import Editor
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

    async def save(
        self, title: str, text: str, baserevid: int | None, summary: str, tag: str | None, *, minor: bool = False
    ) -> int:
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


# Namespaces as siteinfo (formatversion=2) reports them: $wgNamespaceProtection as shipped, plus one of a wiki's own.
NAMESPACES = {
    "-1": {"id": -1, "name": "Special"},
    "0": {"id": 0, "name": ""},
    "2": {"id": 2, "name": "User"},
    "8": {"id": 8, "name": "MediaWiki", "namespaceprotection": "editinterface"},
    "100": {"id": 100, "name": "Staff", "namespaceprotection": "editstaff|editinterface"},
}


def _in(title: str, ns: int, user: str = "Alice", rights: tuple[str, ...] = (), model: str = "wikitext") -> Any:
    page = {"ns": ns, "title": title, "lastrevid": 3, "contentmodel": model}
    entry = {"userid": 2, "name": user, "rights": [*RIGHTS, *rights]}
    return named_access({"users": [entry], "pages": [page], "namespaces": NAMESPACES}, title)


def test_the_mediawiki_namespace_needs_editinterface_like_the_wiki_says():
    refused = _in("MediaWiki:Sitenotice", 8)
    assert not refused.can_edit and "editinterface" in (refused.reason or "") and refused.can_read
    assert _in("MediaWiki:Sitenotice", 8, rights=("editinterface",)).can_edit


def test_a_namespace_protected_by_the_wiki_needs_every_right_it_lists():
    assert "editstaff" in (_in("Staff:Plan", 100, rights=("editinterface",)).reason or "")
    assert _in("Staff:Plan", 100, rights=("editinterface", "editstaff")).can_edit


def test_without_siteinfo_namespaces_the_mediawiki_namespace_still_needs_editinterface():
    page = {"ns": 8, "title": "MediaWiki:X", "contentmodel": "wikitext"}
    access = named_access({"users": [{"userid": 2, "name": "Alice", "rights": RIGHTS}], "pages": [page]}, "X")
    assert not access.can_edit


def test_site_css_and_js_need_their_own_right_beyond_editinterface():
    css = _in("MediaWiki:Common.css", 8, rights=("editinterface",), model="css")
    assert not css.can_edit and "editsitecss" in (css.reason or "")
    js_by_suffix = _in("MediaWiki:Odd.js", 8, rights=("editinterface",), model="wikitext")
    assert not js_by_suffix.can_edit and "editsitejs" in (js_by_suffix.reason or "")
    assert _in("MediaWiki:Common.js", 8, rights=("editinterface", "editsitejs"), model="javascript").can_edit


def test_user_css_and_js_are_editable_by_their_owner_with_editmyuser_rights_and_by_others_with_edituser():
    own = _in("User:Alice/common.js", 2, rights=("editmyuserjs",), model="javascript")
    assert own.can_edit
    assert not _in("User:Alice/common.js", 2, model="javascript").can_edit
    other = _in("User:Bob/common.js", 2, rights=("editmyuserjs",), model="javascript")
    assert not other.can_edit and "edituserjs" in (other.reason or "")
    assert _in("User:Bob/common.css", 2, rights=("editusercss",), model="css").can_edit
    assert _in("User:Bob/notes", 2).can_edit  # a wikitext subpage is an ordinary page
    assert _in("User:Bob", 2, model="javascript").can_edit  # not a subpage: not a config page


def test_special_pages_are_never_editable():
    assert not _in("Special:Version", -1).can_edit


async def test_the_editors_calls_never_follow_a_redirect_with_the_cookie():
    followed: list[str | None] = []

    async def api(request: web.Request) -> web.Response:
        raise web.HTTPFound("/elsewhere/api.php")

    async def elsewhere(request: web.Request) -> web.Response:
        followed.append(request.headers.get("Cookie"))
        return web.json_response({"query": {"userinfo": {"id": 2, "name": "Alice"}}})

    app = web.Application()
    app.router.add_get("/w/api.php", api)
    app.router.add_get("/elsewhere/api.php", elsewhere)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    editor = Editor(f"http://{host}:{port}/w/api.php", timeout_s=5, user_agent="test")
    editor.open()
    try:
        with pytest.raises(WikiUnavailable) as raised:
            await editor.whoami("wiki_session=secret")
        assert "redirect" in raised.value.message and "/elsewhere/api.php" in raised.value.message
        assert followed == []  # the cookie never went anywhere else
    finally:
        await editor.close()
        await runner.cleanup()
