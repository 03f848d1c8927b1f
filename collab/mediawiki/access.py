"""What the wiki's answers say a user may do with a page: :class:`collab.wiki.Access` from API data.

Two shapes: the editor's own session (``meta=userinfo`` + ``intestactions``: the wiki decides) and a
*named* user asked about by the bot (``list=users`` rights and block + ``inprop=protection`` + the page's
namespace and content model + ``siprop=namespaces``: we combine them the way MediaWiki's permission checks
do, so that a token never gives more than the wiki would give its user).
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import InvalidTitle
from ..wiki import Access

# The right each protection level requires (MediaWiki maps the two historical level names).
_LEVEL_RIGHTS = {"sysop": "editprotected", "autoconfirmed": "editsemiprotected"}
NS_USER, NS_MEDIAWIKI = 2, 8
# $wgNamespaceProtection as MediaWiki ships it, for an answer without siteinfo's namespaces.
_DEFAULT_NAMESPACE_PROTECTION = {str(NS_MEDIAWIKI): "editinterface"}
# Config pages (PermissionManager::checkSiteConfigPermissions/checkUserConfigPermissions): content model,
# title suffix (site pages only: MediaWiki checks both), and the right they need, in MediaWiki's order.
_CONFIG_KINDS = (("css", ".css"), ("json", ".json"), ("javascript", ".js"))
_KIND_NAMES = {"css": "CSS", "json": "JSON", "javascript": "JavaScript"}
_RIGHT_SUFFIX = {"css": "css", "json": "json", "javascript": "js"}


def plain(text: str) -> str:
    """Strip the wiki's HTML from a permission-error message."""
    return re.sub(r"<[^>]+>", "", text).strip()


def is_anonymous(userinfo: dict[str, Any]) -> bool:
    """Whether ``meta=userinfo`` describes the anonymous (IP) user: what an invalid session gets too."""
    return bool(userinfo.get("anon", False)) or int(userinfo.get("id", 0)) == 0


def _reasons(problems: list[dict[str, Any]]) -> str | None:
    """The ``intestactionsdetail=full`` problems of an action as one plain sentence, or None."""
    return "; ".join(plain(p.get("text") or p.get("code", "")) for p in problems) or None


def session_access(data: dict[str, Any], title: str) -> Access:
    """An :class:`Access` from ``meta=userinfo&prop=info&intestactions=edit|create|read`` data.

    Raises:
        InvalidTitle: the wiki found ``title`` invalid.
    """
    user = data["query"]["userinfo"]
    pages = data["query"].get("pages") or [{}]
    page = pages[0]
    if page.get("invalid") or not page.get("title"):
        raise InvalidTitle(page.get("invalidreason") or f"{title!r} is not a valid page title")
    exists = not page.get("missing")
    action = "edit" if exists else "create"
    actions = page.get("actions", {})
    problems = actions.get(action, [])
    if not isinstance(problems, list):  # intestactionsdetail=boolean shape
        problems = [] if problems else [{"text": f"you may not {action} this page"}]
    if action == "create" and not problems:
        problems = actions.get("edit", []) or []
    unreadable = actions.get("read", [])
    if not isinstance(unreadable, list):
        unreadable = [] if unreadable else [{"text": "you may not read this page"}]
    return Access(
        title=page["title"],
        exists=exists,
        lastrevid=int(page["lastrevid"]) if exists and page.get("lastrevid") else None,
        user=str(user.get("name", "")),
        anonymous=is_anonymous(user),
        groups=tuple(user.get("groups", ())),
        can_edit=not problems,
        reason=_reasons(problems),
        can_read=not unreadable,
        read_reason=_reasons(unreadable),
    )


def namespace_problems(query: dict[str, Any], page: dict[str, Any], user: str, rights: set[str]) -> list[str]:
    """Why ``user`` (with ``rights``) may not edit ``page`` because of its namespace or content model.

    MediaWiki's checks beyond rights, blocks and page protection (PermissionManager): special pages are never
    edited; ``$wgNamespaceProtection`` (siteinfo's ``namespaceprotection``: ``editinterface`` for
    ``MediaWiki:``) needs every right it lists; site CSS/JSON/JS (``MediaWiki:*.css``...) needs
    ``editsitecss``/``editsitejson``/``editsitejs``; a user's CSS/JSON/JS subpage needs ``editmyuser*`` (their
    own) or ``edituser*`` (anyone's). Not seen here: hooks and extensions (Lockdown...) and
    ``$wgRawHtmlMessages``, which the API does not report.
    """
    ns = int(page.get("ns", 0))
    if ns < 0:
        return ["special pages cannot be edited"]
    problems: list[str] = []
    namespaces = query.get("namespaces")
    info = namespaces.get(str(ns), {}) if isinstance(namespaces, dict) else {}
    protection = (
        info.get("namespaceprotection") if isinstance(namespaces, dict) else _DEFAULT_NAMESPACE_PROTECTION.get(str(ns))
    )
    needed = [r for r in str(protection or "").split("|") if r]
    if missing := [r for r in needed if r not in rights]:
        problems.append(f"editing this namespace needs the right {', '.join(missing)}")
    model, title = str(page.get("contentmodel", "")), str(page.get("title", ""))
    if ns == NS_MEDIAWIKI:
        for kind, suffix in _CONFIG_KINDS:
            if model == kind or title.endswith(suffix):
                right = f"editsite{_RIGHT_SUFFIX[kind]}"
                if right not in rights:
                    problems.append(f"this is a site {_KIND_NAMES[kind]} page: editing it needs the right {right}")
                break
    elif ns == NS_USER and model in _RIGHT_SUFFIX:
        name = str(info.get("name") or "User")
        text = title[len(name) + 1 :] if title.startswith(name + ":") else title.partition(":")[2]
        if "/" in text:  # a subpage: a user's config page
            suffix = _RIGHT_SUFFIX[model]
            own = text.startswith(user + "/")
            allowed = {f"editmyuser{suffix}", f"edituser{suffix}"} if own else {f"edituser{suffix}"}
            if not allowed & rights:
                whose = "your own" if own else "another user's"
                problems.append(
                    f"this is {whose} {_KIND_NAMES[model]} page: editing it needs the right "
                    f"{' or '.join(sorted(allowed))}"
                )
    return problems


def named_access(query: dict[str, Any], title: str) -> Access:
    """An :class:`Access` from ``list=users`` (rights, block), ``prop=info&inprop=protection`` and
    ``meta=siteinfo&siprop=namespaces`` data (see :func:`namespace_problems`)."""
    page = (query.get("pages") or [{}])[0]
    if page.get("invalid") or not page.get("title"):
        raise InvalidTitle(page.get("invalidreason") or f"{title!r} is not a valid page title")
    entry = (query.get("users") or [{}])[0]
    exists = not page.get("missing")
    known = bool(entry.get("userid")) and not entry.get("missing") and not entry.get("invalid")
    rights = set(entry.get("rights", ())) if known else set()
    problems: list[str] = []
    if not known:
        problems.append(f"there is no user {entry.get('name') or '?'} on the wiki")
    elif entry.get("blockid"):
        by = entry.get("blockedby") or "an administrator"
        why = plain(str(entry.get("blockreason") or "")) or "no reason given"
        problems.append(f"you have been blocked from editing by {by}: {why}")
    if known and "edit" not in rights:
        problems.append("you may not edit pages")
    if known:
        problems += namespace_problems(query, page, str(entry.get("name", "")), rights)
    action = "edit" if exists else "create"
    if known and not exists:
        needed = "createtalk" if int(page.get("ns", 0)) % 2 else "createpage"
        if needed not in rights:
            problems.append("you may not create this page")
    for protection in page.get("protection", ()):
        level = str(protection.get("level", ""))
        right = _LEVEL_RIGHTS.get(level, level)
        if protection.get("type") == action and right and right not in rights:
            source = f" (cascading from {protection['source']})" if protection.get("source") else ""
            problems.append(f"the page is protected{source}: only {level} users may {action} it")
    return Access(
        title=str(page["title"]),
        exists=exists,
        lastrevid=int(page["lastrevid"]) if exists and page.get("lastrevid") else None,
        user=str(entry.get("name", "")),
        anonymous=False,
        groups=tuple(entry.get("groups", ())),
        can_edit=not problems,
        reason="; ".join(problems) or None,
        can_read="read" in rights,
        read_reason=None if "read" in rights else (problems[0] if not known else "you may not read pages"),
    )
