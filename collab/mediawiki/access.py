"""What the wiki's answers say a user may do with a page: :class:`collab.wiki.Access` from API data.

Two shapes: the editor's own session (``meta=userinfo`` + ``intestactions``: the wiki decides) and a
*named* user asked about by the bot (``list=users`` rights and block + ``inprop=protection``: we combine
them the way MediaWiki's permission checks do).
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import InvalidTitle
from ..wiki import Access

# The right each protection level requires (MediaWiki maps the two historical level names).
_LEVEL_RIGHTS = {"sysop": "editprotected", "autoconfirmed": "editsemiprotected"}


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


def named_access(query: dict[str, Any], title: str) -> Access:
    """An :class:`Access` from ``list=users`` (rights, block) and ``prop=info&inprop=protection`` data."""
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
